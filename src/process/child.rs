//! The code that runs in the child between `clone3` and `execve`.
//!
//! Everything here reads data the parent prepared ([`ChildPlan`]) and makes
//! only async-signal-safe system calls: no allocation, no locks, no panics,
//! no `std::process::exit`. A failing step returns a [`ChildFailure`], which
//! [`run`] writes to the error pipe before `_exit(127)`.

use crate::error::{ChildFailure, Step};
use crate::mount::MountPlan;
use crate::namespace::loopback_up;
use crate::sys;
use std::convert::Infallible;
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, RawFd};

/// Ids the program runs as, set last before exec.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdsPlan {
    pub uid: u32,
    pub gid: u32,
    /// Call `setgroups(0, NULL)` (drop supplementary groups) first.
    pub clear_groups: bool,
}

/// Capabilities as the child applies them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CapsPlan {
    /// Capabilities 0..=last_cap to drop from the bounding set.
    pub drop_bounding: u64,
    pub last_cap: u8,
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
    pub ambient: u64,
}

/// Everything the child needs, prepared by the parent.
#[derive(Debug)]
pub(crate) struct ChildPlan {
    /// Write end of the error pipe (close-on-exec), above every dup2 target.
    pub err_fd: RawFd,
    /// Read end of the id-map pipe, when a user namespace is new.
    pub sync_fd: Option<RawFd>,
    /// Our copy of that pipe's write end, closed first so that the parent's
    /// death (its copy closing) reads as EOF instead of blocking forever.
    pub sync_close: Option<RawFd>,
    /// The sync channel is a socket carrying the idmapped mount trees
    /// (`SCM_RIGHTS`), which the child puts on the mount plan's slots.
    pub sync_fds: bool,
    /// `tasks` files of cgroup v1 directories (write-only, close-on-exec,
    /// opened by the parent): the child writes `0` to each, which moves
    /// it (a single thread) in without the kernel's global threadgroup
    /// lock, then closes it. First thing after the sync wait, before the
    /// cgroup namespace and before any path is resolved.
    pub cgroup_tasks: Vec<RawFd>,
    /// `unshare(CLONE_NEWCGROUP)` right after the parent releases the child
    /// (set by the spawn path, which then leaves `CLONE_NEWCGROUP` out of
    /// clone, when the parent moves the child into cgroup v1 directories:
    /// the namespace must be rooted in those, not the caller's).
    pub unshare_cgroup: bool,
    /// Become uid/gid 0 inside the new user namespace right after the maps.
    pub become_root: bool,
    /// Final ids, set just before exec.
    pub ids: Option<IdsPlan>,
    /// Supplementary groups set with the final ids (empty: cleared, as
    /// `ids.clear_groups` says).
    pub groups: Vec<libc::gid_t>,
    /// Capability sets.
    pub caps: Option<CapsPlan>,
    /// Resource limits: (resource, soft, hard).
    pub rlimits: Vec<(i32, u64, u64)>,
    /// `PR_SET_NO_NEW_PRIVS`.
    pub no_new_privs: bool,
    /// Signal on parent death, and a pidfd of the parent to close the race
    /// where the parent died before the child asked.
    pub pdeathsig: Option<(i32, RawFd)>,
    /// Descriptors >= 3 the child still needs after its first steps,
    /// besides `err_fd`, sorted: pass_fd sources, namespaces to join, the
    /// join root and cwd, the parent's pidfd, the Landlock ruleset. The
    /// child closes every other descriptor >= 3 before it resolves any path
    /// (a `/proc/self/fd/N` must never reach a descriptor of the caller),
    /// and each of these as soon as it is done with it. Every one of them
    /// (and `err_fd`) is above every dup2 target (the parent made sure).
    pub keep_fds: Vec<RawFd>,
    /// One above the highest number the child dup2s onto (2 and every
    /// pass_fd target): every descriptor in `keep_fds`, `err_fd` included,
    /// is at least this.
    pub fd_floor: RawFd,
    /// Namespaces to join with setns: (descriptor, CLONE_NEW* type), user
    /// first and mount last.
    pub join: Vec<(RawFd, i32)>,
    /// After joining a mount namespace: the target's root and working
    /// directory (O_PATH descriptors of /proc/<pid>/root and cwd).
    pub join_root: Option<(RawFd, RawFd)>,
    /// Write end of a pipe: after the joins, fork the program into the
    /// joined PID namespace as the caller's child (`CLONE_PARENT`), report
    /// its pid here, and exit.
    pub join_fork: Option<RawFd>,
    /// Whether the program is exec'd through the sealed helper
    /// ([`super::helper`]), and how (`Init`: a minimal init as PID 1 that
    /// forks the program, forwards signals to it, reaps every zombie and
    /// exits with its status); decided by the parent.
    pub helper_mode: Option<super::helper::Mode>,
    /// The exec of the helper, prepared by the parent once the error pipe
    /// exists. Landlock and seccomp are then applied by the helper.
    pub helper: Option<super::helper::HelperExec>,
    /// `PR_SET_DUMPABLE 0` before anything else (after the id maps): a
    /// child with its own memory (the fork shape), which may be born in a
    /// joined PID namespace, so that no process of the container can open
    /// its `/proc/<pid>/exe` (the caller's binary) or memory. The vfork
    /// shape cannot: the flag lives in the memory it shares with the
    /// caller.
    pub nondumpable: bool,
    /// With `nondumpable`: before anything else, even the wait for the id
    /// maps (the caller is host root, who may still write our /proc files;
    /// decided by the parent: our own euid reads 65534 until the maps).
    pub nondumpable_first: bool,
    /// Bytes for `/proc/self/oom_score_adj` (docker's `--oom-score-adj`).
    pub oom_score_adj: Option<Vec<u8>>,
    /// A Landlock ruleset descriptor to restrict the program with.
    pub landlock: Option<RawFd>,
    /// A seccomp BPF program installed just before exec.
    pub seccomp: Option<Vec<libc::sock_filter>>,
    /// Install it before capabilities and ids change instead, without
    /// no_new_privs (it needs CAP_SYS_ADMIN then).
    pub seccomp_early: bool,
    /// Descriptors passed to the program: (source, number in the program).
    /// Sources are above every target (the parent made sure).
    pub pass_fds: Vec<(RawFd, RawFd)>,
    /// A new time namespace: `Some(offsets text)` (possibly empty).
    pub time: Option<Vec<u8>>,
    /// clone3 created the time namespace (`CLONE_NEWTIME`, no offsets): the
    /// child does not unshare it. Set before the clone, never after (a child
    /// of the vfork shape reads the plan while the parent runs).
    pub time_at_clone: bool,
    pub hostname: Option<Vec<u8>>,
    pub domainname: Option<Vec<u8>>,
    pub mounts: Option<MountPlan>,
    pub loopback: bool,
    pub cwd: Option<CString>,
    /// Descriptors to dup2 onto 0, 1, 2 (`-1`: inherit).
    pub stdio: [RawFd; 3],
    /// `setsid(2)` after the mounts (`Command::setsid`; always with a
    /// pty).
    pub setsid: bool,
    /// The program's terminal: opened here from the container's devpts
    /// (then dup2'd onto the streams and the primary sent to the parent),
    /// or the parent's (already on the streams); made the controlling
    /// terminal of the new session.
    pub pty: Option<crate::tty::PtyPlan>,
    /// Reset every handled signal to SIG_DFL (when clone3's
    /// CLONE_CLEAR_SIGHAND was not available).
    pub reset_handlers: bool,
    /// Keep signals the caller ignores ignored in the program (the
    /// `Container::keep_ignored_signals`; by default they are reset to SIG_DFL).
    pub keep_ignored_signals: bool,
    /// `setpgid(0, pgid)` just before exec (`Command::process_group`).
    pub process_group: Option<i32>,
    /// `umask(2)` just before exec.
    pub umask: Option<u32>,
    /// Wait at a start gate before the last steps and exec (see `gate.rs`).
    pub gate: Option<super::GatePlan>,
    /// Candidate paths of the program, tried in order (a PATH search).
    pub exec_paths: Vec<CString>,
    /// Null-terminated argv and envp pointer arrays (into `_strings`).
    pub argv: Vec<*const libc::c_char>,
    pub envp: Vec<*const libc::c_char>,
    /// Owns the strings `argv` and `envp` point into.
    pub _strings: Vec<CString>,
}

/// The child's entry point after clone. Never returns.
pub(crate) fn run(plan: &ChildPlan) -> ! {
    let failure = match steps(plan) {
        Ok(never) => match never {},
        Err(f) => f,
    };
    // Nothing useful can be done if the parent stopped listening.
    let _ = sys::write_all_fd(plan.err_fd, &failure.to_bytes());
    sys::exit_immediately(127)
}

#[inline]
fn check(r: libc::c_long, step: Step) -> Result<(), ChildFailure> {
    if r < 0 {
        Err(ChildFailure::last(step))
    } else {
        Ok(())
    }
}

fn set_ids(uid: u32, gid: u32, clear_groups: bool) -> Result<(), ChildFailure> {
    // Raw system calls: glibc's set*id wrappers synchronise with the threads
    // it believes exist, and its thread list is stale after a raw clone.
    if clear_groups {
        // SAFETY: setgroups(0, NULL) clears the supplementary groups.
        check(
            unsafe { libc::syscall(libc::SYS_setgroups, 0, std::ptr::null::<libc::gid_t>()) },
            Step::SetGroups,
        )?;
    }
    // SAFETY: plain system calls with integer arguments.
    check(
        unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) },
        Step::SetGid,
    )?;
    // SAFETY: as above.
    check(
        unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) },
        Step::SetUid,
    )
}

// Relative to our own /proc/self (`sys::mount_api::open_proc_self`).
const TIMENS_OFFSETS: &CStr = c"timens_offsets";
const TIME_FOR_CHILDREN: &CStr = c"ns/time_for_children";

fn set_pdeathsig(sig: i32, parent: RawFd) -> Result<(), ChildFailure> {
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, sig as libc::c_ulong, 0, 0, 0) } != 0 {
        return Err(ChildFailure::last(Step::ParentDeathSignal));
    }
    // The parent may have died before the prctl: then no signal will come.
    // `poll` on its pidfd reports a dead parent (exited or a zombie) from
    // any PID namespace; `pidfd_send_signal(parent, 0)` did not (EINVAL from
    // inside a new PID namespace, 0 for a zombie).
    if sys::pidfd_exited(parent) {
        sys::exit_immediately(127);
    }
    Ok(())
}

/// After `setns` into a PID namespace (which only affects children): forks
/// the process that goes on to exec, as a child of our parent
/// (`CLONE_PARENT`, so nothing of ours stays to wait for it), writes its pid
/// (as the parent sees it) to `report` and exits; returns in the new child.
fn fork_into_joined_pid_ns(report: RawFd) -> Result<(), ChildFailure> {
    // SAFETY: raw clone with fork semantics (no shared memory, no stack
    // argument); both sides continue with async-signal-safe calls only.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_PARENT | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    if pid < 0 {
        return Err(ChildFailure::last(Step::Fork));
    }
    if pid == 0 {
        // SAFETY: our copy of the report pipe; the parent reads to EOF.
        unsafe { libc::close(report) };
        return Ok(());
    }
    let _ = sys::write_all_fd(report, &(pid as i32).to_ne_bytes());
    sys::exit_immediately(0)
}

fn apply_caps_before_ids(c: &CapsPlan) -> Result<(), ChildFailure> {
    for cap in 0..=c.last_cap {
        if c.drop_bounding & (1u64 << cap) != 0 {
            // SAFETY: prctl with integer arguments.
            let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
            if r != 0 && sys::errno() != libc::EINVAL {
                return Err(ChildFailure {
                    step: Step::Capabilities,
                    index: cap as u32,
                    errno: sys::errno(),
                });
            }
        }
    }
    // Keep the permitted set across a change to a non-zero uid.
    // SAFETY: prctl with integer arguments.
    check(
        unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0) } as libc::c_long,
        Step::Capabilities,
    )
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn apply_caps_after_ids(c: &CapsPlan) -> Result<(), ChildFailure> {
    const V3: u32 = 0x2008_0522; // _LINUX_CAPABILITY_VERSION_3
    let mut h = CapHeader {
        version: V3,
        pid: 0,
    };
    let word = |m: u64, i: usize| (m >> (32 * i)) as u32;
    let d = [0, 1].map(|i| CapData {
        effective: word(c.effective, i),
        permitted: word(c.permitted, i),
        inheritable: word(c.inheritable, i),
    });
    // SAFETY: header and two data words, as capset(2) version 3 expects.
    check(
        unsafe { libc::syscall(libc::SYS_capset, &mut h as *mut CapHeader, d.as_ptr()) },
        Step::Capabilities,
    )?;
    // SAFETY: prctl with integer arguments.
    unsafe {
        check(
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL,
                0,
                0,
                0,
            ) as libc::c_long,
            Step::Capabilities,
        )?;
        for cap in 0..=c.last_cap {
            if c.ambient & (1u64 << cap) != 0 {
                let r = libc::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE,
                    cap as libc::c_ulong,
                    0,
                    0,
                );
                if r != 0 {
                    return Err(ChildFailure::last_at(Step::Capabilities, cap as u32));
                }
            }
        }
        check(
            libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0) as libc::c_long,
            Step::Capabilities,
        )
    }
}

/// Closes every descriptor >= 3 except `err_fd` and those in `keep`
/// (sorted): `close_range(2)` over each gap (Linux 5.9), else a walk of
/// `/proc/self/fd` with `getdents64` into a stack buffer. Nothing here
/// resolves a path through a descriptor: the fallback opens an absolute
/// path of the host's (or the caller's) /proc.
fn close_except(keep: &[RawFd], err_fd: RawFd) -> Result<(), ChildFailure> {
    let mut lo: i64 = 3;
    let mut i = 0;
    let mut err_done = false;
    loop {
        // The next kept descriptor: a merge of err_fd into the sorted list.
        let next = match (err_done, keep.get(i).copied()) {
            (false, Some(k)) if k <= err_fd => {
                i += 1;
                err_done = k == err_fd;
                Some(k)
            }
            (false, _) => {
                err_done = true;
                Some(err_fd)
            }
            (true, Some(k)) => {
                i += 1;
                Some(k)
            }
            (true, None) => None,
        };
        let hi = match next {
            Some(k) if (k as i64) < lo => continue,
            Some(k) => k as i64 - 1,
            None => u32::MAX as i64,
        };
        if hi >= lo && !close_range(lo as u32, hi as u32) {
            return close_except_walk(keep, err_fd);
        }
        match next {
            Some(k) => lo = k as i64 + 1,
            None => return Ok(()),
        }
    }
}

/// `close_range(lo, hi, 0)`; false when the kernel lacks it.
fn close_range(lo: u32, hi: u32) -> bool {
    // SAFETY: plain system call with integer arguments; it only closes
    // descriptors of this (unshared) table.
    unsafe { libc::syscall(libc::SYS_close_range, lo, hi, 0u32) == 0 }
}

/// The fallback of [`close_except`]: read `/proc/self/fd`, close what is
/// not kept, and read again from the start until a pass closes nothing (as
/// glibc's `closefrom` fallback does: closing while reading may skip
/// entries).
fn close_except_walk(keep: &[RawFd], err_fd: RawFd) -> Result<(), ChildFailure> {
    // SAFETY: NUL-terminated absolute path.
    let dir = unsafe {
        libc::open(
            c"/proc/self/fd".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if dir < 0 {
        return Err(ChildFailure::last(Step::CloseFds));
    }
    let mut buf = [0u8; 2048];
    let mut closed_any = false;
    loop {
        // SAFETY: buf is a live buffer of the given length.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, dir, buf.as_mut_ptr(), buf.len()) };
        if n < 0 {
            let f = ChildFailure::last(Step::CloseFds);
            // SAFETY: dir was opened above.
            unsafe { libc::close(dir) };
            return Err(f);
        }
        if n == 0 {
            if !closed_any {
                break;
            }
            closed_any = false;
            // SAFETY: rewinds the directory opened above.
            unsafe { libc::lseek(dir, 0, libc::SEEK_SET) };
            continue;
        }
        let mut off = 0usize;
        while off + 19 < n as usize {
            // linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, name...
            let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
            let mut fd: i32 = 0;
            let mut digits = 0;
            // `get`: a malformed record (reclen < 19) yields nothing, never
            // a panic.
            let name = buf
                .get(off + 19..(off + reclen).min(buf.len()))
                .unwrap_or(&[]);
            for &b in name {
                if !b.is_ascii_digit() {
                    break;
                }
                fd = fd.saturating_mul(10).saturating_add((b - b'0') as i32);
                digits += 1;
            }
            if digits > 0
                && fd >= 3
                && fd != dir
                && fd != err_fd
                && keep.binary_search(&fd).is_err()
            {
                // SAFETY: closes a descriptor number of our own table.
                unsafe { libc::close(fd) };
                closed_any = true;
            }
            if reclen == 0 {
                break;
            }
            off += reclen;
        }
    }
    // SAFETY: dir was opened above.
    unsafe { libc::close(dir) };
    Ok(())
}

/// Closes a descriptor of the plan the child no longer needs.
#[inline]
fn close_fd(fd: RawFd) {
    // SAFETY: a descriptor the parent opened for this child; closing our
    // copy touches nothing else.
    unsafe { libc::close(fd) };
}

/// Fails unless the working directory is reachable from the root: a cwd
/// reached through a descriptor or mount outside the root reads as
/// `(unreachable)/...` (runc's check against CVE-2024-21626). `getcwd(2)`
/// into a stack buffer of PATH_MAX bytes (the kernel never returns more).
fn check_cwd_inside_root() -> Result<(), ChildFailure> {
    let mut buf = [0u8; libc::PATH_MAX as usize];
    // SAFETY: buf is a live buffer of the given length.
    let r = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    if r < 0 {
        return Err(ChildFailure::last_at(Step::Chdir, 1));
    }
    if buf[0] != b'/' {
        return Err(ChildFailure {
            step: Step::Chdir,
            index: 1,
            errno: libc::ENOENT,
        });
    }
    Ok(())
}

/// `PR_SET_DUMPABLE 0` (for a child with memory of its own; see
/// [`ChildPlan::nondumpable`]).
fn set_nondumpable() {
    // SAFETY: prctl with integer arguments; with 0 it cannot fail.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
}

fn install_seccomp(prog: &[libc::sock_filter]) -> Result<(), ChildFailure> {
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: fprog points to the plan's instructions, alive until exec.
    check(
        unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &fprog as *const libc::sock_fprog,
            )
        },
        Step::Seccomp,
    )
}

/// Waits for the release byte with the idmapped trees, and puts each on its
/// slot (`dup3` over the placeholder, close-on-exec).
fn receive_idmaps(plan: &ChildPlan, fd: RawFd) -> Result<(), ChildFailure> {
    let fail = |errno| ChildFailure {
        step: Step::WaitIdMaps,
        index: 1,
        errno,
    };
    let mut got = [-1; sys::fdpass::MAX_FDS];
    let n = sys::fdpass::recv_byte_with_fds(fd, &mut got).map_err(fail)?;
    let mut slots = plan.mounts.iter().flat_map(|m| m.idmap_slots());
    let mut placed = 0;
    for tree in got.iter().take(n) {
        match slots.next() {
            Some(slot) => {
                // SAFETY: both are descriptors of this (unshared) table.
                let r = unsafe { libc::dup3(*tree, slot, libc::O_CLOEXEC) };
                close_fd(*tree);
                if r < 0 {
                    return Err(ChildFailure::last(Step::WaitIdMaps));
                }
                placed += 1;
            }
            None => close_fd(*tree),
        }
    }
    if slots.next().is_some() || placed != n {
        return Err(fail(libc::EBADMSG));
    }
    Ok(())
}

fn steps(plan: &ChildPlan) -> Result<Infallible, ChildFailure> {
    // 0. Wait until the parent has written the uid/gid maps. First of all:
    //    in the shared-memory shape without CLONE_VFORK (a new user
    //    namespace) the parent runs beside us until it releases us, and
    //    then waits for our exec; doing nothing but this close (which cannot
    //    fail) and read meanwhile keeps the two from making failing system
    //    calls at the same time (they share the thread-local errno).
    if let Some(fd) = plan.sync_close {
        // SAFETY: closes our copy of a descriptor the parent made for this.
        unsafe { libc::close(fd) };
    }
    // 0-0. A child with memory of its own, cloned by host root: not
    //     dumpable before anything else, and above all before the wait for
    //     the id maps. In a new user namespace that host root owns, any
    //     process of euid 0 (another container's root, whatever its
    //     capabilities) holds CAP_SYS_PTRACE over us, and we hold every
    //     descriptor and a copy of the memory of the caller. Root may still
    //     write our id maps and /proc/self files (they belong to root once
    //     we are not dumpable); a caller of another uid may not, so its
    //     child stays dumpable until its /proc writes are done (below), as
    //     the caller itself is to processes of its uid.
    if plan.nondumpable && plan.nondumpable_first {
        set_nondumpable();
    }
    if let (Some(fd), true) = (plan.sync_fd, plan.sync_fds) {
        receive_idmaps(plan, fd)?;
        close_fd(fd);
    } else if let Some(fd) = plan.sync_fd {
        let mut b = 0u8;
        loop {
            // SAFETY: reads one byte into a live stack variable.
            let n = unsafe { libc::read(fd, (&mut b as *mut u8).cast(), 1) };
            if n == 1 {
                break;
            }
            if n < 0 && sys::errno() == libc::EINTR {
                continue;
            }
            // EOF: the parent gave up (it reports its own error).
            return Err(ChildFailure {
                step: Step::WaitIdMaps,
                index: 0,
                errno: if n == 0 { libc::EPIPE } else { sys::errno() },
            });
        }
        close_fd(fd);
    }
    // 0-'. Our cgroup v1 directories: we move ourselves (one thread: no
    //     global threadgroup lock, no RCU grace period), then close the
    //     descriptors, before anything else.
    for (i, fd) in plan.cgroup_tasks.iter().enumerate() {
        // SAFETY: writes one byte from a static buffer to a descriptor the
        // parent opened for this.
        let n = unsafe { libc::write(*fd, b"0".as_ptr().cast(), 1) };
        if n != 1 {
            return Err(ChildFailure {
                step: Step::CgroupJoin,
                index: i as u32,
                errno: if n < 0 { sys::errno() } else { libc::EIO },
            });
        }
        close_fd(*fd);
    }
    // 0-. The cgroup namespace, now that we are in our cgroup v1
    //     directories.
    if plan.unshare_cgroup {
        // SAFETY: unshare(2) with a namespace flag touches no memory of ours.
        if unsafe { libc::unshare(libc::CLONE_NEWCGROUP) } != 0 {
            return Err(ChildFailure::last(Step::UnshareCgroup));
        }
    }
    // 0'. Standard streams: sources are >= 3 (the parent made sure), so no
    //     dup2 clobbers a later source; dup2 clears close-on-exec on the
    //     copy. Before anything resolves a path: a replaced 0/1/2 of the
    //     caller's is then out of reach too.
    for (target, src) in plan.stdio.iter().enumerate() {
        if *src >= 0 {
            // SAFETY: both are valid descriptor numbers.
            check(
                unsafe { libc::dup2(*src, target as i32) } as libc::c_long,
                Step::Stdio,
            )?;
        } else {
            // Inherited: a close-on-exec descriptor there (the caller's
            // 0/1/2 were closed and something else took the number, the
            // crate's own included) would be gone at exec anyway; close it
            // now so that nothing resolves a path through it before.
            // SAFETY: fcntl/close on a descriptor number of our own table.
            unsafe {
                let flags = libc::fcntl(target as i32, libc::F_GETFD);
                if flags >= 0 && flags & libc::FD_CLOEXEC != 0 {
                    libc::close(target as i32);
                }
            }
        }
    }
    // 0''. Nothing of the caller's stays reachable (CVE-2024-21626): close
    //     every descriptor >= 3 but the error pipe and the plan's own, so
    //     that no path resolved from here on (setns targets, /proc files,
    //     mount sources and targets, the working directory, the program)
    //     can go through /proc/self/fd/N to a directory the caller holds.
    close_except(&plan.keep_fds, plan.err_fd)?;
    // 0a. Die with the parent, if asked (again after the ids change below,
    //    which clears the setting).
    if let Some((sig, parent)) = plan.pdeathsig {
        set_pdeathsig(sig, parent)?;
    }
    // 0a'. Our own procfs directory, for the /proc/self writes of steps 2
    //     and 2b: opened while the mount namespace is still the caller's,
    //     since after a join `/proc` is the container's (CVE-2025-52881).
    let proc_self = if plan.time.is_some() || plan.oom_score_adj.is_some() {
        let step = if plan.time.is_some() {
            Step::TimeOffsets
        } else {
            Step::OomScoreAdj
        };
        Some(sys::mount_api::open_proc_self().map_err(|e| ChildFailure {
            step,
            index: 1,
            errno: e.raw_os_error().unwrap_or(libc::EIO),
        })?)
    } else {
        None
    };
    // 0a''. Non-dumpable from here until the exec (which resets it): a
    //     process of a joined container cannot open our /proc/<pid>/exe
    //     (the caller's binary) or read our memory, even as the same user.
    //     When /proc/self files are written below (time offsets, the OOM
    //     score), only after those writes: a non-dumpable process's
    //     /proc/self/* are owned by root, which a rootless caller is not.
    let proc_writes = plan.time.is_some() || plan.oom_score_adj.is_some();
    if plan.nondumpable && !proc_writes {
        set_nondumpable();
    }
    // 0b. Join existing namespaces (user first, mount last), then the
    //     target's root and working directory.
    for (i, (fd, nstype)) in plan.join.iter().enumerate() {
        // SAFETY: plain system call on a descriptor the parent opened.
        if unsafe { libc::setns(*fd, *nstype) } != 0 {
            return Err(ChildFailure::last_at(Step::Setns, i as u32));
        }
        close_fd(*fd);
    }
    if let Some((root, cwd)) = plan.join_root {
        // SAFETY: fchdir/chroot/fchdir on descriptors the parent opened.
        unsafe {
            if libc::fchdir(root) != 0 || libc::chroot(c".".as_ptr()) != 0 {
                return Err(ChildFailure::last_at(Step::Chroot, 0));
            }
            if libc::fchdir(cwd) != 0 {
                return Err(ChildFailure::last(Step::Chdir));
            }
        }
        close_fd(root);
        close_fd(cwd);
    }
    if let Some(fd) = plan.join_fork {
        fork_into_joined_pid_ns(fd)?;
    }
    // 2. Time namespace: unshare now, offsets before the first process runs
    //    in it; execve moves us in. Before any change of ids: a change of
    //    ids makes the process non-dumpable, which turns /proc/self/* into
    //    root-owned files and the offsets write into EACCES.
    if let Some(offsets) = plan.time.as_ref().filter(|_| !plan.time_at_clone) {
        // SAFETY: plain system call.
        check(
            unsafe { libc::unshare(libc::CLONE_NEWTIME) } as libc::c_long,
            Step::UnshareTime,
        )?;
        if let (false, Some(dir)) = (offsets.is_empty(), &proc_self) {
            sys::mount_api::write_proc_file(dir.as_fd(), TIMENS_OFFSETS, offsets).map_err(
                |errno| ChildFailure {
                    step: Step::TimeOffsets,
                    index: 0,
                    errno,
                },
            )?;
        }
        // Enter it now: kernels before the exec-time switch (6.1 does not
        // have it) would exec the program outside it, silently without the
        // offsets. Only the fork shape gets here (a child sharing our
        // memory cannot setns into a time namespace: EUSERS).
        // SAFETY: open/setns/close on a NUL-terminated path and the
        // descriptor just opened.
        unsafe {
            let fd = libc::openat(
                proc_self.as_ref().map_or(libc::AT_FDCWD, |d| d.as_raw_fd()),
                TIME_FOR_CHILDREN.as_ptr(),
                libc::O_RDONLY | libc::O_CLOEXEC,
            );
            if fd < 0 {
                return Err(ChildFailure::last_at(Step::UnshareTime, 1));
            }
            let r = libc::setns(fd, libc::CLONE_NEWTIME);
            let failure = (r != 0).then(|| ChildFailure::last_at(Step::UnshareTime, 1));
            libc::close(fd);
            if let Some(f) = failure {
                return Err(f);
            }
        }
    }
    // 2b. The OOM score, also before any change of ids (same reason).
    if let (Some(v), Some(dir)) = (&plan.oom_score_adj, &proc_self) {
        sys::mount_api::write_proc_file(dir.as_fd(), c"oom_score_adj", v).map_err(|errno| {
            ChildFailure {
                step: Step::OomScoreAdj,
                index: 0,
                errno,
            }
        })?;
    }
    drop(proc_self);
    if plan.nondumpable && proc_writes {
        set_nondumpable();
    }
    // 3. Root inside the new user namespace, for the privileged steps below.
    if plan.become_root {
        set_ids(0, 0, false)?;
    }
    // 4. UTS names.
    if let Some(h) = &plan.hostname {
        sys::sethostname(h).map_err(|_| ChildFailure::last(Step::Hostname))?;
    }
    if let Some(d) = &plan.domainname {
        sys::setdomainname(d).map_err(|_| ChildFailure::last(Step::Domainname))?;
    }
    // 5. Mounts and the root.
    if let Some(m) = &plan.mounts {
        m.apply()?;
    }
    // 6. Network: loopback up.
    if plan.loopback {
        loopback_up().map_err(|errno| ChildFailure {
            step: Step::Loopback,
            index: 0,
            errno,
        })?;
    }
    // 6b. A new session, and the terminal as its controlling terminal:
    //     after the mounts (the container's own devpts is mounted now, and
    //     after a join the program's process is the one here).
    if plan.setsid {
        // SAFETY: plain system call.
        check(unsafe { libc::setsid() } as libc::c_long, Step::Setsid)?;
    }
    if let Some(t) = &plan.pty {
        let term = |(index, errno): (u32, i32)| ChildFailure {
            step: Step::Terminal,
            index,
            errno,
        };
        let replica = match &t.open {
            Some(o) => crate::tty::open_in_child(o, t.streams).map_err(term)?,
            None => t.replica,
        };
        // A terminal opened here belongs to the container's root; the
        // program's user gets it (runc's fixStdioPermissions).
        if let (Some(ids), Some(_)) = (plan.ids, &t.open) {
            // SAFETY: fchown on the replica descriptor; -1 keeps the group.
            if unsafe { libc::fchown(replica, ids.uid, u32::MAX) } != 0 {
                let f = ChildFailure::last_at(Step::Terminal, 9);
                close_fd(replica);
                return Err(f);
            }
        }
        crate::tty::make_controlling(replica).map_err(term)?;
    }
    // 7. Resource limits (raising a hard limit needs CAP_SYS_RESOURCE, so
    //    before capabilities and ids are dropped).
    for (i, (res, soft, hard)) in plan.rlimits.iter().enumerate() {
        let lim = libc::rlimit {
            rlim_cur: *soft,
            rlim_max: *hard,
        };
        // SAFETY: lim is a valid rlimit.
        if unsafe { libc::setrlimit(*res as _, &lim) } != 0 {
            return Err(ChildFailure::last_at(Step::Rlimit, i as u32));
        }
    }
    // 7b. A filter installed without no_new_privs needs CAP_SYS_ADMIN:
    //     before the capabilities and ids change (runc's order). The
    //     working directory first (as runc does it: with the privileges
    //     still held; after the ids only if that was refused), and checked
    //     inside the root while getcwd is still ours to call: a filter may
    //     deny getcwd to the program (ocicfg; CVE-2024-21626 check kept).
    let mut cwd_done = false;
    if plan.seccomp_early {
        if let (Some(cwd), Some(_)) = (&plan.cwd, &plan.seccomp) {
            // SAFETY: NUL-terminated path.
            if unsafe { libc::chdir(cwd.as_ptr()) } == 0 {
                check_cwd_inside_root()?;
                cwd_done = true;
            } else if !matches!(sys::errno(), libc::EACCES | libc::EPERM) {
                return Err(ChildFailure::last(Step::Chdir));
            }
        } else if plan.seccomp.is_some() && plan.join_root.is_some() {
            check_cwd_inside_root()?;
            cwd_done = true;
        }
        if let Some(prog) = &plan.seccomp {
            install_seccomp(prog)?;
        }
    }
    // 8. Capabilities and final ids, in runc's order.
    if let Some(c) = &plan.caps {
        apply_caps_before_ids(c)?;
    }
    if let Some(ids) = plan.ids {
        // Supplementary groups replace the cleared list.
        if !plan.groups.is_empty() {
            // SAFETY: a pointer to the plan's gids and their count.
            check(
                unsafe {
                    libc::syscall(libc::SYS_setgroups, plan.groups.len(), plan.groups.as_ptr())
                },
                Step::SetGroups,
            )?;
        }
        set_ids(ids.uid, ids.gid, ids.clear_groups && plan.groups.is_empty())?;
    }
    if let Some(c) = &plan.caps {
        apply_caps_after_ids(c)?;
    }
    if let Some((sig, parent)) = plan.pdeathsig {
        set_pdeathsig(sig, parent)?;
        close_fd(parent);
    }
    // 9. Working directory, which must lie inside the root (a path through
    //    a descriptor or a mount can leave it).
    if let Some(cwd) = plan.cwd.as_ref().filter(|_| !cwd_done) {
        // SAFETY: NUL-terminated path.
        check(
            unsafe { libc::chdir(cwd.as_ptr()) } as libc::c_long,
            Step::Chdir,
        )?;
    }
    if (plan.cwd.is_some() || plan.join_root.is_some()) && !cwd_done {
        check_cwd_inside_root()?;
    }
    // 11. Descriptors: the passed ones, above every target (so no dup2
    //     clobbers a later source or the error pipe). Everything else the
    //     parent left is closed already or close-on-exec.
    for (i, (src, target)) in plan.pass_fds.iter().enumerate() {
        // SAFETY: valid descriptor numbers; dup2 clears close-on-exec.
        if unsafe { libc::dup2(*src, *target) } < 0 {
            return Err(ChildFailure::last_at(Step::Stdio, 3 + i as u32));
        }
    }
    // 11b. Process group and file mode creation mask (std's CommandExt
    //     `process_group` and a umask): attributes of the process that exec
    //     and the helper keep.
    if let Some(pg) = plan.process_group {
        // SAFETY: plain system call with integer arguments.
        check(
            unsafe { libc::setpgid(0, pg) } as libc::c_long,
            Step::ProcessGroup,
        )?;
    }
    if let Some(mask) = plan.umask {
        // SAFETY: umask(2) always succeeds and touches nothing but the mask.
        unsafe { libc::umask(mask as libc::mode_t) };
    }
    // 12. Signals: default dispositions, empty mask.
    reset_signals(plan.reset_handlers, plan.keep_ignored_signals)?;
    // 12b. The start gate: report ready, wait for the start byte.
    if let Some(g) = plan.gate {
        super::gate::wait(g, &plan.exec_paths)?;
    }
    // 13. No new privileges (after this, setuid binaries do not elevate).
    if plan.no_new_privs {
        // SAFETY: prctl with integer arguments.
        check(
            unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) } as libc::c_long,
            Step::NoNewPrivs,
        )?;
    }
    // 13b. Landlock (needs no_new_privs, set above). Through the helper,
    //     the helper applies it (and seccomp) just before the program's exec.
    if let Some(fd) = plan.landlock.filter(|_| plan.helper.is_none()) {
        // SAFETY: plain system call on the ruleset descriptor.
        check(
            unsafe { libc::syscall(libc::SYS_landlock_restrict_self, fd, 0u32) },
            Step::Landlock,
        )?;
        close_fd(fd);
    }
    // 13c. Seccomp: last, so that the filter sees only the program.
    if let Some(prog) = plan
        .seccomp
        .as_ref()
        .filter(|_| plan.helper.is_none() && !plan.seccomp_early)
    {
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: fprog points to the plan's instructions, alive until exec.
        check(
            unsafe {
                libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    0,
                    &fprog as *const libc::sock_fprog,
                )
            },
            Step::Seccomp,
        )?;
    }
    // 14. Exec, trying each candidate of the PATH search; or exec the sealed
    //     helper, which does that (or stays as the init), so that
    //     /proc/self/exe at the program's exec is the helper, never the
    //     caller's binary.
    if let Some(h) = &plan.helper {
        return Err(super::helper::exec(
            h,
            plan.err_fd,
            plan.landlock,
            &plan.envp,
        ));
    }
    let mut errno = libc::ENOENT;
    let mut index = 0;
    for (i, path) in plan.exec_paths.iter().enumerate() {
        // SAFETY: path, argv and envp are NUL-terminated strings and
        // null-terminated pointer arrays owned by the plan.
        unsafe { libc::execve(path.as_ptr(), plan.argv.as_ptr(), plan.envp.as_ptr()) };
        let e = sys::errno();
        match e {
            libc::ENOENT | libc::ENOTDIR => {}
            libc::EACCES => {
                errno = e;
                index = i as u32;
            }
            _ => {
                return Err(ChildFailure {
                    step: Step::Exec,
                    index: i as u32,
                    errno: e,
                })
            }
        }
    }
    Err(ChildFailure {
        step: Step::Exec,
        index,
        errno,
    })
}

/// Signals the kernel knows (`_NSIG`): 1..=64.
const KERNEL_NSIG: i32 = 64;

/// The kernel's `struct sigaction` for `rt_sigaction(2)` (handler, flags,
/// restorer, mask); all zero is `SIG_DFL` with no flags and an empty mask.
#[repr(C)]
#[derive(Default)]
struct KSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

/// `rt_sigaction(2)` as a raw system call (async-signal-safe).
fn rt_sigaction(sig: i32, new: Option<&KSigaction>, old: Option<&mut KSigaction>) -> libc::c_long {
    // SAFETY: the pointers are null or point to live structs of the size
    // passed (8 bytes of mask).
    unsafe {
        libc::syscall(
            libc::SYS_rt_sigaction,
            sig,
            new.map_or(std::ptr::null(), |n| n as *const KSigaction),
            old.map_or(std::ptr::null_mut(), |o| o as *mut KSigaction),
            8usize,
        )
    }
}

/// Step 12, the one rule for every shape (clone3, the vfork shape, the
/// legacy clone, an init's program): the program starts with every
/// signal's default disposition and an empty mask, like a process of a
/// fresh system. Handlers are reset by `CLONE_CLEAR_SIGHAND` (clone3) or
/// here (`all_handlers`, the legacy clone); ignored signals (`SIG_IGN`
/// survives both the flag and exec) are reset here too unless
/// `keep_ignored` (`Container::keep_ignored_signals`); `SIGPIPE` is always reset (Rust
/// programs ignore it). Signals 1..=64 (the kernel's `_NSIG`, glibc's
/// reserved 32 and 33 included) except SIGKILL and SIGSTOP.
fn reset_signals(all_handlers: bool, keep_ignored: bool) -> Result<(), ChildFailure> {
    // SAFETY: sigaction/sigprocmask on a zeroed (valid) sigaction and sigset;
    // all async-signal-safe.
    unsafe {
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut dfl.sa_mask);
        if all_handlers || !keep_ignored {
            // The raw system call: glibc's sigaction refuses 32 and 33 (its
            // own), which a caller's parent may have left ignored.
            for sig in 1..=KERNEL_NSIG {
                if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                    continue;
                }
                let mut old = KSigaction::default();
                if rt_sigaction(sig, None, Some(&mut old)) != 0 {
                    continue;
                }
                let reset = match old.handler {
                    libc::SIG_DFL => false,
                    libc::SIG_IGN => !keep_ignored,
                    _ => all_handlers,
                };
                if reset && rt_sigaction(sig, Some(&KSigaction::default()), None) != 0 {
                    return Err(ChildFailure::last_at(Step::Signals, sig as u32));
                }
            }
        }
        // Rust programs ignore SIGPIPE; ignored dispositions survive exec.
        if libc::sigaction(libc::SIGPIPE, &dfl, std::ptr::null_mut()) != 0 {
            return Err(ChildFailure::last(Step::Signals));
        }
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        if libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut()) != 0 {
            return Err(ChildFailure::last(Step::Signals));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsRawFd, OwnedFd};

    /// Runs `close` in a forked child and returns the descriptors >= 3 left
    /// open there (below 256), or None when it failed. The child reports
    /// through shared memory (a pipe would be closed too).
    fn left_open(
        close: fn(&[RawFd], RawFd) -> Result<(), ChildFailure>,
        keep: &[RawFd],
        err: RawFd,
    ) -> Option<Vec<RawFd>> {
        // SAFETY: a fresh shared anonymous mapping of 4 KiB, unmapped
        // below; the forked child makes only async-signal-safe calls
        // (close, fcntl, _exit) and writes only into the mapping.
        unsafe {
            let m = libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            assert_ne!(m, libc::MAP_FAILED);
            let bits = std::slice::from_raw_parts_mut(m as *mut u8, 33);
            let pid = libc::fork();
            assert!(pid >= 0);
            if pid == 0 {
                let ok = close(keep, err).is_ok();
                for fd in 3..256 {
                    if libc::fcntl(fd, libc::F_GETFD) >= 0 {
                        bits[(fd / 8) as usize] |= 1 << (fd % 8);
                    }
                }
                bits[32] = ok as u8;
                libc::_exit(0);
            }
            let mut st = 0;
            libc::waitpid(pid, &mut st, 0);
            let r = (bits[32] == 1).then(|| {
                (3..256)
                    .filter(|fd| bits[(fd / 8) as usize] & (1 << (fd % 8)) != 0)
                    .collect()
            });
            libc::munmap(m, 4096);
            r
        }
    }

    #[test]
    fn only_the_kept_descriptors_and_the_error_pipe_stay() {
        let fds: Vec<OwnedFd> = (0..8)
            .map(|_| std::fs::File::open("/dev/null").unwrap().into())
            .collect();
        let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
        // err_fd before, between, after and equal to kept ones.
        for (keep, err) in [
            (vec![raw[2], raw[5]], raw[0]),
            (vec![raw[1], raw[6]], raw[3]),
            (vec![raw[0], raw[4]], raw[7]),
            (vec![raw[3]], raw[3]),
            (vec![], raw[1]),
        ] {
            // Sorted, as the spawn passes them (`keep_fds`): other tests of
            // this binary open and close descriptors at the same time, so
            // `raw` need not be increasing.
            let mut keep = keep;
            keep.sort_unstable();
            let mut want: Vec<RawFd> = keep.iter().copied().chain([err]).collect();
            want.sort_unstable();
            want.dedup();
            for close in [close_except, close_except_walk] {
                assert_eq!(
                    left_open(close, &keep, err),
                    Some(want.clone()),
                    "{keep:?} {err}"
                );
            }
        }
    }
}
