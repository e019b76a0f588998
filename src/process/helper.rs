//! The sealed exec helper: nothing of the caller's binary crosses into a
//! container (the CVE-2019-5736 kind).
//!
//! The child of a spawn is a clone of the caller: until its first `execve`,
//! `/proc/self/exe` names the caller's binary. The kernel resolves a
//! `#!/proc/self/exe` script (or an ELF whose `PT_INTERP` is
//! `/proc/self/exe`, or the path `/proc/self/exe` itself) at that exec, so a
//! program chosen by the container would run the *caller's* binary inside
//! it, and a process of the container holding `/proc/<pid>/exe` could
//! rewrite that binary once the caller exits. runc answered with a sealed
//! memfd copy of its own binary, then (1.2.0) a small `runc-dmz` program
//! exec'd from a memfd, then (1.2.1) a read-only overlayfs over its binary
//! (opencontainers/runc#3987, #4448, #4482: the overlay needs privileges for
//! `fsopen`, and falls back to the memfd copy).
//!
//! A library cannot copy the caller's binary (it may be hundreds of MB) on
//! each spawn, and needs no privileges to work. So the crate embeds a tiny
//! static program (`helper/helper.c`, built by `build.rs`, ~2.5 KB, one segment, no libc),
//! writes it once per process into a memfd sealed against every change
//! (`F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE`, and
//! `F_SEAL_EXEC` where the kernel has it), and the child execs it with
//! `execveat(memfd, "", AT_EMPTY_PATH)` instead of the program:
//!
//! - **exec** (the trampoline): the helper execs the program, so at the
//!   program's exec `/proc/self/exe` names the sealed memfd. Used whenever
//!   the container's filesystem is not the caller's: a root of its own
//!   (`root`/`rootfs`), a read-only root or masked/read-only paths, or a
//!   joined mount namespace. Without those, the caller's binary is
//!   reachable (and as writable) by its path anyway, and the plain spawn
//!   skips the extra exec.
//! - **init**: PID 1 *is* the helper (`Container::init`): it forks,
//!   the fork execs the program, PID 1 forwards signals, reaps every child
//!   and exits with the program's status; it keeps no descriptor at all.
//!
//! Landlock and seccomp are applied by the helper just before the program's
//! exec (the filter sees only the program, as before; an init is never
//! filtered). The helper makes itself non-dumpable, and treats its argv as
//! hostile: a container can run it through `#!/proc/self/exe`, and anything
//! but the exact protocol (see `helper.c`) exits [`EXIT_PROTOCOL`] at once.

use crate::error::{ChildFailure, SpawnError, Step};
use std::ffi::{CStr, CString};
use std::fmt::Write as _;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Mutex;

/// The status the helper exits with when run without the crate's protocol
/// (for example as the interpreter of a `#!/proc/self/exe` script).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const EXIT_PROTOCOL: i32 = 126;

/// The most PATH candidates and BPF instructions the helper takes (its
/// buffers); more is refused here, never left to the helper's refusal
/// (which would look like an exec'd program exiting 126).
const MAX_CANDIDATES: usize = 65536;
const MAX_INSNS: usize = 4096;

/// `argv[0]` of the protocol.
const MAGIC: &CStr = c"containment-helper/1";

/// The helper program, built by `build.rs` (empty on targets without one).
static ELF: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/containment-helper"));

/// What the helper does after the child's steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Exec the program (the trampoline).
    Exec,
    /// Stay as PID 1, fork the program.
    Init,
    /// As `Init`, with a controlling terminal (`Command::pty`): the
    /// forked program gets a process group of its own and makes it the
    /// terminal's foreground group (`setpgid`, `TIOCSPGRP`, as tini does),
    /// so that Ctrl-C and `SIGWINCH` from the terminal reach the program
    /// (and its job-control shell) and not the init.
    InitTty,
}

/// The child's exec of the helper, prepared by the parent.
#[derive(Debug)]
pub(crate) struct HelperExec {
    /// The sealed memfd (close-on-exec: the helper does not keep it),
    /// above every dup2 target of the child.
    pub fd: RawFd,
    /// A copy of the memfd above the child's dup2 targets, when the
    /// process-wide one is below them (closed after the spawn).
    pub _lifted: Option<OwnedFd>,
    /// Null-terminated argv of the protocol (into `_strings` and the
    /// plan's program strings).
    pub argv: Vec<*const libc::c_char>,
    pub _strings: Vec<CString>,
}

/// The memfd, with its identity: a caller that closed our descriptor (and
/// reused the number) must not make us exec something else.
struct Sealed {
    fd: OwnedFd,
    dev: u64,
    ino: u64,
}

static SEALED: Mutex<Option<Sealed>> = Mutex::new(None);

fn identity(fd: RawFd) -> Option<(u64, u64)> {
    // SAFETY: fstat into a zeroed stat buffer on a descriptor number.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    (unsafe { libc::fstat(fd, &mut st) } == 0).then_some((st.st_dev, st.st_ino))
}

fn unsupported(reason: String) -> SpawnError {
    SpawnError::Unsupported {
        feature: "exec helper",
        reason,
    }
}

/// The sealed memfd holding the helper, made on first use (once per
/// process; a failure is not cached). The descriptor stays open for the
/// process's life, close-on-exec.
///
/// # Errors
/// [`SpawnError::Unsupported`] when this target has no helper, or when the
/// kernel refuses an executable memfd (`vm.memfd_noexec = 2`): the spawn
/// fails closed rather than exec the program from a copy of the caller.
/// [`SpawnError::Setup`] when creating, writing or sealing it fails.
pub(crate) fn sealed_fd() -> Result<RawFd, SpawnError> {
    if cfg!(containment_no_helper) || ELF.is_empty() {
        return Err(unsupported(format!(
            "the crate has no exec helper for this target ({}): an init, a changed root or \
             a joined mount namespace needs it (x86_64 and aarch64 Linux)",
            std::env::consts::ARCH
        )));
    }
    let mut cell = SEALED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(s) = cell.as_ref() {
        if identity(s.fd.as_raw_fd()) == Some((s.dev, s.ino)) {
            return Ok(s.fd.as_raw_fd());
        }
        // Our number now names something else: forget it without closing
        // (it is not ours any more), and make a new one.
        if let Some(old) = cell.take() {
            std::mem::forget(old.fd);
        }
    }
    let fd = create()?;
    let (dev, ino) = identity(fd.as_raw_fd()).ok_or_else(|| {
        SpawnError::setup("fstat of the exec helper memfd", io::Error::last_os_error())
    })?;
    let raw = fd.as_raw_fd();
    *cell = Some(Sealed { fd, dev, ino });
    Ok(raw)
}

const MFD_EXEC: libc::c_uint = 0x10;
const F_SEAL_EXEC: libc::c_int = 0x20;

fn create() -> Result<OwnedFd, SpawnError> {
    let name = c"containment-helper";
    let base = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // SAFETY: memfd_create with a NUL-terminated name and flags.
    let mut r = unsafe { libc::memfd_create(name.as_ptr(), base | MFD_EXEC) };
    if r < 0 && crate::sys::errno() == libc::EINVAL {
        // Before Linux 6.3 there is no MFD_EXEC: memfds are executable.
        // SAFETY: as above.
        r = unsafe { libc::memfd_create(name.as_ptr(), base) };
    }
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EACCES) {
            let policy = std::fs::read_to_string("/proc/sys/vm/memfd_noexec")
                .map(|s| s.trim().to_string())
                .unwrap_or_else(|_| "?".into());
            return Err(unsupported(format!(
                "the kernel refuses executable memfds (vm.memfd_noexec = {policy}); the crate \
                 runs an init, and programs in a changed root or a joined mount namespace, \
                 through a sealed in-memory helper so that the caller's binary never crosses \
                 into the container, and does not fall back to exposing it"
            )));
        }
        return Err(SpawnError::setup("memfd_create (exec helper)", e));
    }
    // SAFETY: a new descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(r) };
    crate::sys::write_all_fd(fd.as_raw_fd(), ELF).map_err(|e| {
        SpawnError::setup(
            "writing the exec helper memfd",
            io::Error::from_raw_os_error(e),
        )
    })?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    // SAFETY: fcntl on our descriptor with integer arguments.
    let mut r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals | F_SEAL_EXEC) };
    if r < 0 && crate::sys::errno() == libc::EINVAL {
        // F_SEAL_EXEC is Linux 6.3.
        // SAFETY: as above.
        r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) };
    }
    if r < 0 {
        return Err(SpawnError::setup(
            "sealing the exec helper memfd",
            io::Error::last_os_error(),
        ));
    }
    Ok(fd)
}

fn cstring(s: String) -> CString {
    // Digits, commas and hex: never a NUL.
    CString::new(s).unwrap_or_default()
}

/// Builds the helper's protocol for this spawn: `argv` of the program and
/// its PATH candidates come from the plan, the error pipe from the parent.
///
/// # Errors
/// As [`sealed_fd`].
pub(crate) fn prepare(
    mode: Mode,
    fd_floor: RawFd,
    err_fd: RawFd,
    landlock: Option<RawFd>,
    seccomp: Option<&[libc::sock_filter]>,
    exec_paths: &[CString],
    program_argv: &[*const libc::c_char],
) -> Result<HelperExec, SpawnError> {
    if exec_paths.is_empty() || exec_paths.len() > MAX_CANDIDATES {
        return Err(SpawnError::invalid(
            "program",
            exec_paths.len(),
            "the PATH search has no candidate or more than 65536",
        ));
    }
    if let Some(f) = seccomp.filter(|f| f.len() > MAX_INSNS) {
        return Err(SpawnError::invalid(
            "seccomp",
            f.len(),
            "a filter longer than the kernel's BPF_MAXINSNS (4096 instructions)",
        ));
    }
    let mut fd = sealed_fd()?;
    // Never a dup2 target of the child (stdio, pass_fd): a dup2 onto it
    // would make the child exec whatever was put there.
    let lifted = if fd < fd_floor {
        // SAFETY: F_DUPFD_CLOEXEC on our live descriptor.
        let r = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, fd_floor) };
        if r < 0 {
            return Err(SpawnError::setup(
                "fcntl(F_DUPFD_CLOEXEC) of the exec helper",
                io::Error::last_os_error(),
            ));
        }
        fd = r;
        // SAFETY: a new descriptor nobody else owns.
        Some(unsafe { OwnedFd::from_raw_fd(r) })
    } else {
        None
    };
    let mut hex = String::new();
    for insn in seccomp.unwrap_or(&[]) {
        // The raw struct layout (u16 code, u8 jt, u8 jf, u32 k), native
        // endian, as the helper hands it to seccomp(2).
        let mut b = [0u8; 8];
        b[0..2].copy_from_slice(&insn.code.to_ne_bytes());
        b[2] = insn.jt;
        b[3] = insn.jf;
        b[4..8].copy_from_slice(&insn.k.to_ne_bytes());
        for x in b {
            let _ = write!(hex, "{x:02x}");
        }
    }
    let strings = vec![
        MAGIC.to_owned(),
        match mode {
            Mode::Exec => c"exec".to_owned(),
            Mode::Init => c"init".to_owned(),
            Mode::InitTty => c"init-tty".to_owned(),
        },
        cstring(err_fd.to_string()),
        cstring(format!(
            "{},{},{},{}",
            Step::Exec as u32,
            Step::Fork as u32,
            Step::Seccomp as u32,
            Step::Landlock as u32
        )),
        cstring(landlock.unwrap_or(-1).to_string()),
        cstring(hex),
        cstring(exec_paths.len().to_string()),
    ];
    let mut argv: Vec<*const libc::c_char> = strings.iter().map(|s| s.as_ptr()).collect();
    argv.extend(exec_paths.iter().map(|s| s.as_ptr()));
    // The program's argv, null-terminated already.
    argv.extend_from_slice(program_argv);
    if argv.last().is_some_and(|p| !p.is_null()) {
        argv.push(std::ptr::null());
    }
    Ok(HelperExec {
        fd,
        _lifted: lifted,
        argv,
        _strings: strings,
    })
}

/// In the child: exec the helper. Keeps the error pipe and the Landlock
/// ruleset across this exec (the helper closes them), so returns only the
/// failure to report. Async-signal-safe, no allocation.
pub(crate) fn exec(
    h: &HelperExec,
    err_fd: RawFd,
    landlock: Option<RawFd>,
    envp: &[*const libc::c_char],
) -> ChildFailure {
    // SAFETY: fcntl on descriptors the plan owns; execveat with an empty
    // NUL-terminated path, and null-terminated argv/envp arrays that live in
    // the plan until this process has exec'd or exited.
    unsafe {
        if libc::fcntl(err_fd, libc::F_SETFD, 0) != 0 {
            return ChildFailure::last_at(Step::ExecHelper, 1);
        }
        if let Some(l) = landlock {
            if libc::fcntl(l, libc::F_SETFD, 0) != 0 {
                return ChildFailure::last_at(Step::ExecHelper, 1);
            }
        }
        libc::syscall(
            libc::SYS_execveat,
            h.fd,
            c"".as_ptr(),
            h.argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
    }
    ChildFailure::last(Step::ExecHelper)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_memfd_is_sealed_and_reused() {
        let fd = sealed_fd().unwrap();
        assert_eq!(sealed_fd().unwrap(), fd);
        // SAFETY: fcntl on our descriptor.
        let seals = unsafe { libc::fcntl(fd, libc::F_GET_SEALS) };
        for s in [
            libc::F_SEAL_SEAL,
            libc::F_SEAL_SHRINK,
            libc::F_SEAL_GROW,
            libc::F_SEAL_WRITE,
        ] {
            assert_ne!(seals & s, 0, "seal {s:#x} missing: {seals:#x}");
        }
        // SAFETY: a write of one byte from a live buffer.
        let r = unsafe { libc::pwrite(fd, b"x".as_ptr().cast(), 1, 0) };
        assert_eq!(r, -1);
        assert_eq!(crate::sys::errno(), libc::EPERM);
        // SAFETY: fcntl on our descriptor.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        assert_ne!(flags & libc::FD_CLOEXEC, 0);
    }

    /// Runs the helper with `argv0` and `args` (through an inherited dup of
    /// the memfd); returns its exit code.
    fn run(argv0: &str, args: &[&str]) -> Option<i32> {
        use std::os::unix::process::CommandExt;
        let fd = sealed_fd().unwrap();
        // SAFETY: dup of our descriptor (without close-on-exec).
        let d = unsafe { libc::dup(fd) };
        assert!(d >= 0);
        let st = std::process::Command::new(format!("/proc/self/fd/{d}"))
            .arg0(argv0)
            .args(args)
            .status()
            .unwrap();
        // SAFETY: closes the dup made above.
        unsafe { libc::close(d) };
        st.code()
    }

    #[test]
    fn the_helper_refuses_anything_but_its_protocol() {
        let magic = MAGIC.to_str().unwrap();
        let good = [
            "exec",
            "2",
            "34,35,28,29",
            "-1",
            "",
            "1",
            "/bin/true",
            "true",
        ];
        // The positive control: the protocol runs the program.
        assert_eq!(run(magic, &good), Some(0));
        // As an interpreter runs it (`#!/proc/self/exe`): argv[0] is a path.
        assert_eq!(run("/proc/self/exe", &["/evil"]), Some(EXIT_PROTOCOL));
        assert_eq!(run("/proc/self/exe", &good), Some(EXIT_PROTOCOL));
        let bad: &[&[&str]] = &[
            &[
                "run",
                "2",
                "34,35,28,29",
                "-1",
                "",
                "1",
                "/bin/true",
                "true",
            ],
            &[
                "exec",
                "x",
                "34,35,28,29",
                "-1",
                "",
                "1",
                "/bin/true",
                "true",
            ],
            &[
                "exec",
                "-2",
                "34,35,28,29",
                "-1",
                "",
                "1",
                "/bin/true",
                "true",
            ],
            &["exec", "2", "34,35,28", "-1", "", "1", "/bin/true", "true"],
            &[
                "exec",
                "2",
                "34,35,28,29",
                "-2",
                "",
                "1",
                "/bin/true",
                "true",
            ],
            &[
                "exec",
                "2",
                "34,35,28,29",
                "-1",
                "0g",
                "1",
                "/bin/true",
                "true",
            ],
            &[
                "exec",
                "2",
                "34,35,28,29",
                "-1",
                "00",
                "1",
                "/bin/true",
                "true",
            ],
            &[
                "exec",
                "2",
                "34,35,28,29",
                "-1",
                "",
                "0",
                "/bin/true",
                "true",
            ],
            &[
                "exec",
                "2",
                "34,35,28,29",
                "-1",
                "",
                "2",
                "/bin/true",
                "true",
            ],
            &[
                "exec",
                "2",
                "34,35,28,29",
                "-1",
                "",
                "99999999999",
                "/bin/true",
            ],
            &["exec", "2", "34,35,28,29", "-1", "", "1", "/bin/true"],
            &[],
        ];
        for args in bad {
            assert_eq!(run(magic, args), Some(EXIT_PROTOCOL), "{args:?}");
        }
    }
}
