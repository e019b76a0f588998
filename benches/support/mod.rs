//! Shared by the spawn benches: the raw floor, the `std::process::Command`
//! baseline and the list of variants.
#![allow(dead_code)]

use containment::testing::{self as sys, CloneArgs, CloneFlags};
use containment::Namespaces;
use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;

/// The program every bench runs.
pub const TRUE: &CStr = c"/bin/true";

/// One row of the table: a name and the namespaces to create new.
#[derive(Clone, Copy)]
pub struct Variant {
    /// The name used as the criterion group (`spawn/<name>`).
    pub name: &'static str,
    /// Namespaces created new.
    pub ns: Namespaces,
    /// What the variant adds to its namespaces (a cgroup, a new root).
    pub extra: Extra,
}

/// A small deterministic shuffler (xorshift64, Fisher-Yates) for the
/// order of the methods in each round of the interleaved runners.
pub struct Shuffle(u64);

impl Shuffle {
    /// Seeded (never 0).
    pub fn new(seed: u64) -> Shuffle {
        Shuffle(seed | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Puts `v` in a new random order.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

/// What a variant adds to its namespaces.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Extra {
    /// Nothing.
    None,
    /// A new cgroup per spawn (under a parent of the bench's own on the
    /// cgroup2 mount), entered with `clone3(CLONE_INTO_CGROUP)`; removed
    /// when the child is gone.
    CgroupClone,
    /// The same, entered by writing the child's pid to `cgroup.procs` from
    /// the parent before the child is released to exec (what runtimes do
    /// without `CLONE_INTO_CGROUP`).
    CgroupProcs,
    /// `pivot_root` into a busybox root with a fresh proc and a minimal
    /// /dev (tmpfs, six device binds, five links, devpts, shm).
    PivotRoot,
}

/// The six namespaces a container usually gets.
pub const SIX: Namespaces = Namespaces::UTS
    .union(Namespaces::PID)
    .union(Namespaces::MOUNT)
    .union(Namespaces::IPC)
    .union(Namespaces::NET)
    .union(Namespaces::CGROUP);

/// Every variant, in table order.
pub const VARIANTS: &[Variant] = &[
    Variant {
        name: "none",
        ns: Namespaces::empty(),
        extra: Extra::None,
    },
    Variant {
        name: "cgroup",
        ns: Namespaces::CGROUP,
        extra: Extra::None,
    },
    Variant {
        name: "ipc",
        ns: Namespaces::IPC,
        extra: Extra::None,
    },
    Variant {
        name: "mount",
        ns: Namespaces::MOUNT,
        extra: Extra::None,
    },
    Variant {
        name: "net",
        ns: Namespaces::NET,
        extra: Extra::None,
    },
    Variant {
        name: "pid",
        ns: Namespaces::PID,
        extra: Extra::None,
    },
    Variant {
        name: "time",
        ns: Namespaces::TIME,
        extra: Extra::None,
    },
    Variant {
        name: "user",
        ns: Namespaces::USER,
        extra: Extra::None,
    },
    Variant {
        name: "uts",
        ns: Namespaces::UTS,
        extra: Extra::None,
    },
    Variant {
        name: "six",
        ns: SIX,
        extra: Extra::None,
    },
    Variant {
        name: "all8+maps",
        ns: Namespaces::all(),
        extra: Extra::None,
    },
    Variant {
        name: "six+cgroup-clone",
        ns: SIX,
        extra: Extra::CgroupClone,
    },
    Variant {
        name: "six+cgroup-procs",
        ns: SIX,
        extra: Extra::CgroupProcs,
    },
    Variant {
        name: "six+pivot_root",
        ns: SIX,
        extra: Extra::PivotRoot,
    },
];

/// The variants selected by `CONTAINMENT_BENCH_VARIANTS` (comma-separated
/// names; all when unset).
pub fn selected_variants() -> Vec<Variant> {
    match std::env::var("CONTAINMENT_BENCH_VARIANTS") {
        Ok(list) if !list.is_empty() => {
            let want: Vec<&str> = list.split(',').map(str::trim).collect();
            VARIANTS
                .iter()
                .filter(|v| want.contains(&v.name))
                .copied()
                .collect()
        }
        _ => VARIANTS.to_vec(),
    }
}

/// What the floor's child does besides exec.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum FloorWork {
    /// Nothing: clone3 + (id maps) + execve. The kernel's price.
    Bare,
    /// Also the steps the builder does by default: mount `/` recursively
    /// private and a fresh proc (mount ns; proc when pid ns too), `lo` up
    /// (net ns). Separates the library's overhead from the price of the work.
    SameWork,
}

/// Which SameWork steps run (bits: 1 rprivate, 2 proc, 4 lo); for profiling.
pub static STEPS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(7);

/// A cgroup of the bench's own directly under the cgroup2 mount
/// (`containment-bench-<pid>-<n>`), removed with its children on drop.
pub struct CgroupParent {
    /// Its directory.
    pub path: std::path::PathBuf,
}

impl CgroupParent {
    /// Creates it; panics when the host has no cgroup2 mount.
    pub fn new() -> CgroupParent {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let h = containment::cgroup::Hierarchy::detect().expect("cgroup hierarchy");
        let mount = h.mount_point().expect("a cgroup2 mount");
        let path = mount.join(format!(
            "containment-bench-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir(&path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        CgroupParent { path }
    }
}

impl Drop for CgroupParent {
    fn drop(&mut self) {
        if let Ok(rd) = std::fs::read_dir(&self.path) {
            for e in rd.flatten() {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    let _ = std::fs::remove_dir(e.path());
                }
            }
        }
        let _ = std::fs::remove_dir(&self.path);
    }
}

/// A busybox root in a temporary directory: `/bin/busybox`, `/bin/true`
/// and `/bin/sh` linked to it, empty `/proc`, `/dev`, `/sys`, `/tmp`.
/// Removed on drop.
pub struct BusyboxRoot {
    dir: std::path::PathBuf,
    /// The root directory.
    pub root: std::path::PathBuf,
}

impl BusyboxRoot {
    /// Builds it; panics without busybox-static.
    pub fn new() -> BusyboxRoot {
        let busybox = ["/bin/busybox", "/usr/bin/busybox"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .expect("busybox-static is not installed (apt-get install busybox-static)");
        let dir =
            std::env::temp_dir().join(format!("containment-bench-root-{}", std::process::id()));
        let root = dir.join("root");
        for d in ["bin", "proc", "dev", "sys", "tmp"] {
            std::fs::create_dir_all(root.join(d)).expect("mkdir");
        }
        std::fs::copy(busybox, root.join("bin/busybox")).expect("copy busybox");
        for l in ["true", "sh"] {
            std::os::unix::fs::symlink("busybox", root.join("bin").join(l)).expect("symlink");
        }
        BusyboxRoot { dir, root }
    }
}

impl Drop for BusyboxRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The floor's cgroup: a new directory under `parent` per spawn.
struct FloorCgroup {
    parent: std::rc::Rc<CgroupParent>,
    /// Write `cgroup.procs` before release instead of `CLONE_INTO_CGROUP`.
    procs: bool,
    n: std::cell::Cell<u32>,
    /// The cgroup of the last spawn, removed once its child is reaped.
    pending: std::cell::RefCell<Option<std::path::PathBuf>>,
}

/// Everything the pivot_root floor's child needs, prepared in the parent.
struct PivotPaths {
    _root: std::rc::Rc<BusyboxRoot>,
    root: CString,
    proc_: CString,
    dev: CString,
    nodes: Vec<(CString, CString)>,
    links: Vec<(CString, CString)>,
    pts: CString,
    shm: CString,
}

const DEV_NODES: [&str; 6] = ["null", "zero", "full", "random", "urandom", "tty"];
const DEV_LINKS: [(&str, &str); 5] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

impl PivotPaths {
    fn new(root: std::rc::Rc<BusyboxRoot>) -> PivotPaths {
        let c = |p: &std::path::Path| CString::new(p.as_os_str().as_bytes()).expect("no NUL");
        let r = root.root.clone();
        PivotPaths {
            root: c(&r),
            proc_: c(&r.join("proc")),
            dev: c(&r.join("dev")),
            nodes: DEV_NODES
                .iter()
                .map(|n| {
                    (
                        c(&r.join("dev").join(n)),
                        c(&std::path::Path::new("/dev").join(n)),
                    )
                })
                .collect(),
            links: DEV_LINKS
                .iter()
                .map(|(n, to)| (c(&r.join("dev").join(n)), c(std::path::Path::new(to))))
                .collect(),
            pts: c(&r.join("dev/pts")),
            shm: c(&r.join("dev/shm")),
            _root: root,
        }
    }
}

/// In the floor's child: reports `step` on `err_w` (when given), exits 125.
fn fail_child(err_w: i32, step: u8) -> ! {
    // SAFETY: one byte from a live stack value; then _exit.
    unsafe {
        if err_w >= 0 {
            libc::write(err_w, (&step as *const u8).cast(), 1);
        }
        libc::_exit(125)
    }
}

/// The raw floor: `clone3(CLONE_PIDFD | CLONE_CLEAR_SIGHAND | ns)`, execve
/// and wait, written directly on the system calls. With a user namespace the
/// parent writes `uid_map`/`gid_map` ("0 0 1") and releases the child over a
/// pipe, and the child becomes 0/0 (as the builder does). With a cgroup
/// ([`Floor::with_cgroup`]) each spawn `mkdir`s a new cgroup and starts the
/// child in it (`CLONE_INTO_CGROUP`, or a `cgroup.procs` write before the
/// release), and removes it once the child is reaped. With a root
/// ([`Floor::with_root`], `SameWork` only) the child makes the same mounts
/// as the builder's default root (bind, proc, minimal /dev) and pivots.
pub struct Floor {
    flags: u64,
    userns: bool,
    work: FloorWork,
    ns: Namespaces,
    argv: [*const libc::c_char; 2],
    envp: Vec<*const libc::c_char>,
    _env: Vec<CString>,
    cgroup: Option<FloorCgroup>,
    pivot: Option<PivotPaths>,
    protect: Option<Protect>,
}

/// The protective work the builder does for a container with a root of its
/// own, on raw system calls (`floor_protect`, a second comparison beside
/// `floor_work`): the caller not dumpable around the spawn, every
/// descriptor but the error pipe closed before any path is resolved,
/// docker's default capabilities (bounding set, then capset and the
/// ambient set cleared), every signal disposition and the mask reset, and
/// the exec through the crate's own sealed helper (a copy of it in a memfd
/// of our own), which then execs the program.
struct Protect {
    helper: OwnedFd,
    last_cap: u32,
    /// The helper's argv (the error pipe's number is filled per spawn).
    strings: std::cell::RefCell<Vec<CString>>,
    argv: std::cell::RefCell<Vec<*const libc::c_char>>,
}

/// Docker's default capability set (as `containment::caps::CapSet::docker_default`).
const DOCKER_CAPS: u64 = 0xa80425fb;

impl Protect {
    /// Copies the crate's exec helper out of a running init (PID 1 of a
    /// container is the helper itself, run from the crate's sealed memfd).
    fn new() -> Protect {
        let mut c = containment::Container::new()
            .unshare(Namespaces::PID)
            .init(true)
            .command("/bin/sleep")
            .arg("10")
            .spawn()
            .expect("spawn an init to copy the helper from");
        let elf = std::fs::read(format!("/proc/{}/exe", c.id())).expect("read the helper");
        let _ = c.kill();
        let _ = c.wait();
        assert!(elf.starts_with(b"\x7fELF"), "the init is not the helper");
        // SAFETY: memfd_create with a NUL-terminated name; the new
        // descriptor is owned below.
        let fd = unsafe { libc::memfd_create(c"floor-helper".as_ptr(), libc::MFD_CLOEXEC) };
        assert!(fd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
        // SAFETY: a new descriptor nobody else owns.
        let helper = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: writes the live buffer to our descriptor.
        let n = unsafe { libc::write(fd, elf.as_ptr().cast(), elf.len()) };
        assert_eq!(n, elf.len() as isize);
        let last_cap = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(40);
        Protect {
            helper,
            last_cap,
            strings: std::cell::RefCell::new(Vec::new()),
            argv: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// The helper's protocol for this spawn (see src/process/helper/helper.c).
    fn prepare(&self, err_w: i32) {
        let strings: Vec<CString> = [
            "containment-helper/1".to_string(),
            "exec".into(),
            err_w.to_string(),
            "34,36,28,29".into(),
            "-1".into(),
            String::new(),
            "1".into(),
            "/bin/true".into(),
            "/bin/true".into(),
        ]
        .into_iter()
        .map(|s| CString::new(s).expect("no NUL"))
        .collect();
        let mut argv: Vec<*const libc::c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        argv.push(std::ptr::null());
        *self.strings.borrow_mut() = strings;
        *self.argv.borrow_mut() = argv;
    }

    /// In the child, after the root work: the protective steps, then the
    /// exec of the helper.
    ///
    /// # Safety
    /// Only in the child, before exec.
    unsafe fn run(&self, err_w: i32, envp: *const *const libc::c_char) -> ! {
        // SAFETY: raw system calls on prepared, live data; ends in exec or _exit.
        unsafe {
            const V3: u32 = 0x2008_0522;
            for cap in 0..=self.last_cap {
                if DOCKER_CAPS & (1u64 << cap) == 0 {
                    libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0);
                }
            }
            libc::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0);
            let hdr = [V3, 0u32];
            let lo = DOCKER_CAPS as u32;
            let data = [lo, lo, 0u32, 0, 0, 0];
            libc::syscall(libc::SYS_capset, hdr.as_ptr(), data.as_ptr());
            libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL,
                0,
                0,
                0,
            );
            libc::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0);
            // Signals: query each, reset the ignored ones, empty mask.
            let mut old = [0u64; 4];
            let dfl = [0u64; 4];
            for sig in 1..=64 {
                if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                    continue;
                }
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig,
                    std::ptr::null::<u64>(),
                    old.as_mut_ptr(),
                    8usize,
                );
                if old[0] == libc::SIG_IGN as u64 {
                    libc::syscall(
                        libc::SYS_rt_sigaction,
                        sig,
                        dfl.as_ptr(),
                        std::ptr::null_mut::<u64>(),
                        8usize,
                    );
                }
            }
            let empty = 0u64;
            libc::syscall(
                libc::SYS_rt_sigprocmask,
                libc::SIG_SETMASK,
                &empty as *const u64,
                std::ptr::null_mut::<u64>(),
                8usize,
            );
            libc::fcntl(err_w, libc::F_SETFD, 0);
            libc::syscall(
                libc::SYS_execveat,
                self.helper.as_raw_fd(),
                c"".as_ptr(),
                self.argv.borrow().as_ptr(),
                envp,
                libc::AT_EMPTY_PATH,
            );
            fail_child(err_w, 101)
        }
    }
}

fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0i32; 2];
    // SAFETY: fds is a valid out-array of two ints.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    assert_eq!(r, 0, "pipe2: {}", std::io::Error::last_os_error());
    // SAFETY: two new descriptors owned by nobody else.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

fn write_proc(pid: i32, file: &str, data: &[u8]) {
    let path = CString::new(format!("/proc/{pid}/{file}")).expect("no NUL");
    write_file(&path, data);
}

fn write_file(path: &CStr, data: &[u8]) {
    // SAFETY: NUL-terminated path; the descriptor is closed once below.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        assert!(
            fd >= 0,
            "open {path:?}: {}",
            std::io::Error::last_os_error()
        );
        let n = libc::write(fd, data.as_ptr().cast(), data.len());
        assert_eq!(
            n,
            data.len() as isize,
            "write {path:?}: {}",
            std::io::Error::last_os_error()
        );
        libc::close(fd);
    }
}

impl Floor {
    /// A floor for `ns`.
    pub fn new(ns: Namespaces, work: FloorWork) -> Floor {
        let env: Vec<CString> = std::env::vars_os()
            .map(|(k, v)| {
                let mut kv = k.as_bytes().to_vec();
                kv.push(b'=');
                kv.extend_from_slice(v.as_bytes());
                CString::new(kv).expect("no NUL in the environment")
            })
            .collect();
        let mut envp: Vec<*const libc::c_char> = env.iter().map(|s| s.as_ptr()).collect();
        envp.push(std::ptr::null());
        Floor {
            flags: (CloneFlags::PIDFD | CloneFlags::CLEAR_SIGHAND).bits() | ns.bits() as u64,
            userns: ns.contains(Namespaces::USER),
            work,
            ns,
            argv: [TRUE.as_ptr(), std::ptr::null()],
            envp,
            _env: env,
            cgroup: None,
            pivot: None,
            protect: None,
        }
    }

    /// With a root: the builder's protective work on top (`floor_protect`).
    pub fn with_protection(mut self) -> Floor {
        assert!(self.pivot.is_some());
        self.protect = Some(Protect::new());
        self
    }

    /// Each spawn in a new cgroup under `parent`: `CLONE_INTO_CGROUP`, or
    /// (`procs`) a `cgroup.procs` write before the child is released.
    pub fn with_cgroup(mut self, parent: std::rc::Rc<CgroupParent>, procs: bool) -> Floor {
        self.cgroup = Some(FloorCgroup {
            parent,
            procs,
            n: std::cell::Cell::new(0),
            pending: std::cell::RefCell::new(None),
        });
        self
    }

    /// With `SameWork`: the child pivots into `root` after the builder's
    /// default mounts (needs a mount namespace).
    pub fn with_root(mut self, root: std::rc::Rc<BusyboxRoot>) -> Floor {
        assert!(self.ns.contains(Namespaces::MOUNT));
        self.pivot = Some(PivotPaths::new(root));
        self
    }

    /// Removes the cgroup of the last spawn (its child must be reaped).
    pub fn cleanup(&self) {
        if let Some(cg) = &self.cgroup {
            if let Some(p) = cg.pending.borrow_mut().take() {
                std::fs::remove_dir(&p).unwrap_or_else(|e| panic!("rmdir {}: {e}", p.display()));
            }
        }
    }

    /// Clones and returns (pid, pidfd); with `exec_pipe`, returns only once
    /// the child's exec closed the close-on-exec pipe (EOF).
    fn clone(&self, exec_pipe: bool) -> (i32, OwnedFd) {
        // The protective floor's helper reports on an error pipe, as the
        // builder's does, also when only the exit is waited for.
        let err = (exec_pipe || self.protect.is_some()).then(pipe);
        let err_w = err.as_ref().map_or(-1, |(_, w)| w.as_raw_fd());
        let procs = self.cgroup.as_ref().is_some_and(|c| c.procs);
        let sync = (self.userns || procs).then(pipe);
        let sync_r = sync.as_ref().map_or(-1, |(r, _)| r.as_raw_fd());
        let mut flags = self.flags;
        let mut cg_dir: Option<OwnedFd> = None;
        let mut cg_path = None;
        if let Some(cg) = &self.cgroup {
            let n = cg.n.get();
            cg.n.set(n + 1);
            let p = cg.parent.path.join(format!("f{n}"));
            std::fs::create_dir(&p).unwrap_or_else(|e| panic!("mkdir {}: {e}", p.display()));
            if !cg.procs {
                let f = std::fs::File::open(&p).expect("open the cgroup");
                cg_dir = Some(f.into());
                flags |= CloneFlags::INTO_CGROUP.bits();
            }
            cg_path = Some(p);
        }
        if let Some(p) = &self.protect {
            p.prepare(err_w);
            // SAFETY: prctl with integer arguments (the builder's NotDumpable).
            unsafe {
                libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0);
                libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
            }
        }
        let mut pidfd: i32 = -1;
        let mut args = CloneArgs {
            flags,
            pidfd: &mut pidfd as *mut i32 as u64,
            exit_signal: libc::SIGCHLD as u64,
            cgroup: cg_dir.as_ref().map_or(0, |d| d.as_raw_fd() as u64),
            ..CloneArgs::default()
        };
        // SAFETY: the child only makes raw system calls on prepared data and
        // ends in execve or _exit.
        let pid = unsafe { sys::clone3(&mut args) }.expect("clone3");
        if pid == 0 {
            // SAFETY: async-signal-safe calls on live, prepared data only.
            unsafe { self.child(sync_r, err_w) }
        }
        drop(cg_dir);
        // SAFETY: CLONE_PIDFD stored a new descriptor owned by us.
        let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
        if let Some(p) = cg_path {
            if procs {
                let procs_file =
                    CString::new(p.join("cgroup.procs").as_os_str().as_bytes()).expect("no NUL");
                write_file(&procs_file, pid.to_string().as_bytes());
            }
            *self.cgroup.as_ref().expect("cgroup").pending.borrow_mut() = Some(p);
        }
        if let Some((r, w)) = sync {
            drop(r);
            if self.userns {
                write_proc(pid, "uid_map", b"0 0 1");
                write_proc(pid, "gid_map", b"0 0 1");
            }
            // SAFETY: one byte from a live stack value to a live descriptor.
            unsafe { libc::write(w.as_raw_fd(), b"1".as_ptr().cast(), 1) };
        }
        if let Some((r, w)) = err.filter(|_| exec_pipe) {
            drop(w);
            let mut b = [0u8; 1];
            // SAFETY: reads into a live buffer; EOF means exec happened.
            let n = unsafe { libc::read(r.as_raw_fd(), b.as_mut_ptr().cast(), 1) };
            assert_eq!(n, 0, "the floor's child failed before exec (step {})", b[0]);
        }
        if self.protect.is_some() {
            // SAFETY: prctl with integer arguments.
            unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) };
        }
        (pid, pidfd)
    }

    /// The child's side. Never returns. A failing step writes its number to
    /// `err_w` (when given) and exits 125.
    ///
    /// # Safety
    /// Only in the child right after clone3.
    unsafe fn child(&self, sync_r: i32, err_w: i32) -> ! {
        let fail = |step: u8| fail_child(err_w, step);
        // SAFETY: raw system calls on prepared, live data; ends in _exit.
        unsafe {
            if sync_r >= 0 {
                let mut b = 0u8;
                if libc::read(sync_r, (&mut b as *mut u8).cast(), 1) != 1 {
                    libc::_exit(126);
                }
                if self.userns {
                    libc::syscall(libc::SYS_setresgid, 0, 0, 0);
                    libc::syscall(libc::SYS_setresuid, 0, 0, 0);
                }
            }
            if let Some(p) = &self.protect {
                // Every descriptor but 0-2, the error pipe and the helper.
                let mut keep = [err_w, p.helper.as_raw_fd()];
                keep.sort_unstable();
                let mut lo = 3u32;
                for k in keep {
                    if k as u32 > lo {
                        libc::syscall(libc::SYS_close_range, lo, k as u32 - 1, 0u32);
                    }
                    lo = lo.max(k as u32 + 1);
                }
                libc::syscall(libc::SYS_close_range, lo, u32::MAX, 0u32);
            }
            if self.work == FloorWork::SameWork {
                let steps = STEPS.load(std::sync::atomic::Ordering::Relaxed);
                if self.ns.contains(Namespaces::MOUNT) && steps & 1 != 0 {
                    libc::mount(
                        std::ptr::null(),
                        c"/".as_ptr(),
                        std::ptr::null(),
                        libc::MS_REC | libc::MS_PRIVATE,
                        std::ptr::null(),
                    );
                }
                if let Some(p) = &self.pivot {
                    self.pivot_child(p, err_w);
                } else if self.ns.contains(Namespaces::MOUNT | Namespaces::PID) && steps & 2 != 0 {
                    libc::mount(
                        c"proc".as_ptr(),
                        c"/proc".as_ptr(),
                        c"proc".as_ptr(),
                        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                        std::ptr::null(),
                    );
                }
                if self.ns.contains(Namespaces::NET) && steps & 4 != 0 {
                    let _ = containment::namespace::loopback_up();
                }
                if let Some(p) = &self.protect {
                    p.run(err_w, self.envp.as_ptr())
                }
            }
            libc::execve(TRUE.as_ptr(), self.argv.as_ptr(), self.envp.as_ptr());
            fail(100)
        }
    }

    /// The builder's default root on raw `mount(2)`: bind the root onto
    /// itself, proc, a minimal /dev, pivot_root, detach the old root.
    ///
    /// # Safety
    /// Only in the child, on the prepared paths.
    unsafe fn pivot_child(&self, p: &PivotPaths, err_w: i32) {
        let fail = |step: u8| fail_child(err_w, step);
        let null = std::ptr::null::<libc::c_char>();
        let ok = |r: libc::c_int, step: u8| {
            if r != 0 {
                fail(step)
            }
        };
        // SAFETY: NUL-terminated strings prepared in the parent.
        unsafe {
            let bind = libc::MS_BIND | libc::MS_REC;
            ok(
                libc::mount(p.root.as_ptr(), p.root.as_ptr(), null, bind, null.cast()),
                1,
            );
            ok(
                libc::mount(
                    c"proc".as_ptr(),
                    p.proc_.as_ptr(),
                    c"proc".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    null.cast(),
                ),
                2,
            );
            ok(
                libc::mount(
                    c"tmpfs".as_ptr(),
                    p.dev.as_ptr(),
                    c"tmpfs".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NOEXEC,
                    c"mode=755,size=65536k".as_ptr().cast(),
                ),
                3,
            );
            for (node, host) in &p.nodes {
                let fd = libc::open(
                    node.as_ptr(),
                    libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC,
                    0o666,
                );
                if fd < 0 {
                    fail(4)
                }
                libc::close(fd);
                ok(
                    libc::mount(
                        host.as_ptr(),
                        node.as_ptr(),
                        null,
                        libc::MS_BIND,
                        null.cast(),
                    ),
                    5,
                );
            }
            for (link, to) in &p.links {
                ok(libc::symlink(to.as_ptr(), link.as_ptr()), 6);
            }
            ok(libc::mkdir(p.pts.as_ptr(), 0o755), 7);
            ok(
                libc::mount(
                    c"devpts".as_ptr(),
                    p.pts.as_ptr(),
                    c"devpts".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NOEXEC,
                    c"newinstance,ptmxmode=0666,mode=0620".as_ptr().cast(),
                ),
                8,
            );
            ok(libc::mkdir(p.shm.as_ptr(), 0o1777), 9);
            ok(
                libc::mount(
                    c"shm".as_ptr(),
                    p.shm.as_ptr(),
                    c"tmpfs".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    c"mode=1777,size=67108864".as_ptr().cast(),
                ),
                10,
            );
            ok(libc::chdir(p.root.as_ptr()), 11);
            ok(
                libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) as libc::c_int,
                12,
            );
            ok(libc::umount2(c".".as_ptr(), libc::MNT_DETACH), 13);
            ok(libc::chdir(c"/".as_ptr()), 14);
        }
    }

    /// The vfork shape (what `posix_spawn` and std do, here with the same
    /// namespace flags): `clone3(CLONE_VM | CLONE_VFORK | CLONE_PIDFD |
    /// CLONE_CLEAR_SIGHAND | ns)` on a separate stack through
    /// `containment::testing::clone3_on_stack` (glibc's `clone()` cannot pass
    /// `CLONE_NEWTIME`: it lies in the exit-signal byte), so no page table is
    /// copied and the parent takes no copy-on-write faults; the parent
    /// resumes once the child has exec'd (or exited). Not for a new user
    /// namespace (the parent must write the maps while the child waits).
    /// Returns the pidfd.
    pub fn vfork_to_exec(&self) -> OwnedFd {
        assert!(!self.userns, "vfork floor: no user namespace");
        extern "C" fn run(arg: *mut libc::c_void) -> libc::c_int {
            // SAFETY: arg is the &VforkArgs below, alive while the parent is
            // suspended (CLONE_VFORK); only raw system calls follow.
            unsafe {
                let a = &*(arg as *const VforkArgs);
                libc::pthread_sigmask(libc::SIG_SETMASK, &a.mask, std::ptr::null_mut());
                libc::execve(
                    TRUE.as_ptr(),
                    (*a.floor).argv.as_ptr(),
                    (*a.floor).envp.as_ptr(),
                );
                libc::_exit(127)
            }
        }
        struct VforkArgs {
            floor: *const Floor,
            mask: libc::sigset_t,
        }
        thread_local! {
            static STACK: std::cell::RefCell<Vec<u64>> = std::cell::RefCell::new(vec![0u64; 32 * 1024]);
        }
        let mut pidfd: i32 = -1;
        STACK.with(|st| {
            let mut st = st.borrow_mut();
            // SAFETY: all signals blocked around the clone (no handler may run
            // on the shared memory in the child); the child restores the mask
            // just before execve. The stack is ours (8-byte aligned, its size
            // a multiple of 16) and outlives the child's use of it (the parent
            // is suspended until exec).
            unsafe {
                let mut all: libc::sigset_t = std::mem::zeroed();
                let mut old: libc::sigset_t = std::mem::zeroed();
                libc::sigfillset(&mut all);
                libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
                let args = VforkArgs {
                    floor: self,
                    mask: old,
                };
                let base = st.as_mut_ptr() as u64;
                let aligned = (base + 15) & !15;
                let size = ((st.len() as u64 * 8) - (aligned - base)) & !15;
                let mut cargs = CloneArgs {
                    flags: self.flags | (CloneFlags::VM | CloneFlags::VFORK).bits(),
                    pidfd: &mut pidfd as *mut i32 as u64,
                    exit_signal: libc::SIGCHLD as u64,
                    stack: aligned,
                    stack_size: size,
                    ..CloneArgs::default()
                };
                let pid = sys::clone3_on_stack(
                    &mut cargs,
                    run,
                    &args as *const VforkArgs as *mut libc::c_void,
                );
                libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
                pid.expect("clone3 (vfork shape)");
            }
        });
        // SAFETY: CLONE_PIDFD stored a new descriptor owned by us.
        unsafe { OwnedFd::from_raw_fd(pidfd) }
    }

    /// Spawns and returns once exec has happened (pid, pidfd). The caller
    /// kills and reaps it outside the timing ([`kill_reap`]).
    pub fn to_exec(&self) -> OwnedFd {
        self.clone(true).1
    }

    /// Spawns and waits for the exit, then removes the spawn's cgroup (if
    /// any); returns the wait status.
    pub fn to_exit(&self) -> i32 {
        let (_, pidfd) = self.clone(false);
        let st = sys::pidfd_wait(borrow(&pidfd), sys::WaitFlags::empty())
            .expect("waitid")
            .expect("status");
        self.cleanup();
        st
    }
}

fn borrow(fd: &OwnedFd) -> BorrowedFd<'_> {
    use std::os::fd::AsFd;
    fd.as_fd()
}

/// Kills and reaps the process behind `pidfd`, then [`settle`]s.
pub fn kill_reap(pidfd: OwnedFd) {
    let _ = sys::pidfd_send_signal(borrow(&pidfd), libc::SIGKILL);
    let _ = sys::pidfd_wait(borrow(&pidfd), sys::WaitFlags::empty());
    settle();
}

/// Sleeps `CONTAINMENT_BENCH_SETTLE_US` microseconds (default 0), outside
/// the timing, after each child is gone: the kernel tears namespaces down
/// asynchronously (a network namespace's `cleanup_net` runs in a kworker for
/// hundreds of µs), and on 2 cores that work otherwise lands in the next
/// measurement. 0 measures back-to-back spawns; a few ms measures a spawn on
/// a settled host.
pub fn settle() {
    use std::sync::OnceLock;
    static US: OnceLock<u64> = OnceLock::new();
    let us = *US.get_or_init(|| {
        std::env::var("CONTAINMENT_BENCH_SETTLE_US")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    });
    if us > 0 {
        std::thread::sleep(std::time::Duration::from_micros(us));
    }
}

/// The `std::process::Command` baseline. Without namespaces a plain
/// `Command` (posix_spawn/vfork inside std); with namespaces a `pre_exec`
/// that calls `unshare(ns)` (and, for a user namespace, writes its own
/// one-line maps like `unshare -r`), which makes std fork. Note: after
/// `unshare(CLONE_NEWPID)` only the children of the process are in the new
/// PID namespace, so the exec'd program itself is not: the std shape of a
/// PID namespace needs one more fork, which this baseline does not pay.
pub fn std_command(ns: Namespaces) -> std::process::Command {
    let mut c = std::process::Command::new("/bin/true");
    if !ns.is_empty() {
        let bits = ns.bits() as libc::c_int;
        let userns = ns.contains(Namespaces::USER);
        // SAFETY: the closure makes raw system calls only (no allocation).
        unsafe {
            c.pre_exec(move || {
                if libc::unshare(bits) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if userns {
                    for (path, data) in [
                        (c"/proc/self/setgroups", &b"deny"[..]),
                        (c"/proc/self/uid_map", &b"0 0 1"[..]),
                        (c"/proc/self/gid_map", &b"0 0 1"[..]),
                    ] {
                        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                        if fd < 0 || libc::write(fd, data.as_ptr().cast(), data.len()) < 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                        libc::close(fd);
                    }
                }
                Ok(())
            });
        }
    }
    c
}

/// The builder for a variant, as a user would write it (defaults: `lo` up
/// with a network namespace, `/` private and a fresh /proc with mount + pid).
pub fn builder(ns: Namespaces) -> containment::Container {
    let b = containment::Container::new().unshare(ns);
    if ns.contains(Namespaces::USER) {
        b.uid_map([containment::IdMap::single(0, 0)])
            .gid_map([containment::IdMap::single(0, 0)])
    } else {
        b
    }
}

/// A method measured beside the baselines: called with `true` for *to exec*
/// (kill and reap outside the returned time), `false` for *to exit*.
pub type MethodFn = Box<dyn FnMut(bool) -> std::time::Duration>;

fn floor_method(f: Floor) -> MethodFn {
    Box::new(move |exec| {
        let t = std::time::Instant::now();
        if exec {
            let pidfd = f.to_exec();
            let d = t.elapsed();
            let _ = sys::pidfd_send_signal(borrow(&pidfd), libc::SIGKILL);
            let _ = sys::pidfd_wait(borrow(&pidfd), sys::WaitFlags::empty());
            f.cleanup();
            settle();
            d
        } else {
            assert_eq!(f.to_exit(), 0);
            let d = t.elapsed();
            settle();
            d
        }
    })
}

fn builder_method(c: containment::Container) -> MethodFn {
    // The command is made once: a spawn is what is measured.
    let mut cb = c.command("/bin/true");
    Box::new(move |exec| {
        let t = std::time::Instant::now();
        if exec {
            let c = cb.spawn().expect("spawn");
            let d = t.elapsed();
            drop(c); // kills and reaps
            settle();
            d
        } else {
            assert!(cb.status().expect("status").success());
            let d = t.elapsed();
            settle();
            d
        }
    })
}

/// The warm pool: the builder joins a set of pre-made namespaces (the
/// poolable kinds of `ns`) instead of creating them. Before and after each
/// spawn the pool is waited for until full, outside the timing, so its
/// background refill never overlaps a measurement (of this or another
/// method): the figure is the latency of a spawn from a warm pool, not a
/// throughput (the refill costs what creating costs, in the background).
fn pool_method(ns: Namespaces, vfork: bool) -> Option<MethodFn> {
    use containment::pool::{NamespacePool, POOLABLE};
    let kinds = ns & POOLABLE;
    if kinds.is_empty() || ns.contains(Namespaces::USER) {
        return None;
    }
    let pool = NamespacePool::new(kinds, 2).expect("pool");
    let mut cb = builder(ns);
    cb = cb.namespace_pool(&pool).vfork_spawn(vfork);
    let mut inner = builder_method(cb);
    let full = move |pool: &NamespacePool| {
        assert!(
            pool.wait_ready(2, std::time::Duration::from_secs(10)),
            "pool: {:?}",
            pool.last_error()
        )
    };
    Some(Box::new(move |exec| {
        full(&pool);
        let d = inner(exec);
        full(&pool); // the refill must not overlap the next measurement
        d
    }))
}

fn std_method(ns: Namespaces) -> MethodFn {
    let mut sc = std_command(ns);
    Box::new(move |exec| {
        let t = std::time::Instant::now();
        if exec {
            let mut c = sc.spawn().expect("spawn");
            let d = t.elapsed();
            let _ = c.kill();
            let _ = c.wait();
            settle();
            d
        } else {
            assert!(sc.status().expect("status").success());
            let d = t.elapsed();
            settle();
            d
        }
    })
}

/// Every method measured for a variant, the floor first.
///
/// - no extra: `floor`, `floor_work` (mount, net), `floor_vfork`,
///   `containment`, `containment_helper` (through the sealed exec helper),
///   `containment_vfork`, `pool`, `pool_vfork`, `std`;
/// - `CgroupClone`: `floor` and `floor_work` with a new cgroup per spawn
///   entered by `CLONE_INTO_CGROUP`, `containment` with
///   `.cgroup(CgroupSpec::new().parent(<unified mount>/<unique>))`;
/// - `CgroupProcs`: `floor` and `floor_work` writing `cgroup.procs` before
///   releasing the child, `floor_clone` (the `CLONE_INTO_CGROUP` floor, for
///   the difference), `containment` (the builder, `CLONE_INTO_CGROUP`: it has
///   no `cgroup.procs` path);
/// - `PivotRoot`: `floor` (bare six), `floor_work` (the builder's default
///   root work on raw `mount(2)`: rprivate, bind, proc, minimal /dev,
///   pivot_root, lo), `floor_protect` (`floor_work` plus the builder's
///   protective steps on raw system calls: not dumpable, descriptors
///   closed, docker's default capabilities, signals reset, the exec through
///   a copy of the crate's sealed helper), `containment` with
///   `.root(<busybox root>)` (which also drops to docker's default
///   capabilities, the default with a root, which `floor_work` does not).
pub fn methods(v: Variant) -> Vec<(&'static str, MethodFn)> {
    use containment::cgroup::CgroupSpec;
    use std::rc::Rc;
    let ns = v.ns;
    match v.extra {
        Extra::None => methods_plain(ns),
        Extra::CgroupClone | Extra::CgroupProcs => {
            let parent = Rc::new(CgroupParent::new());
            let procs = v.extra == Extra::CgroupProcs;
            let floor = |work| Floor::new(ns, work).with_cgroup(parent.clone(), procs);
            let mut m: Vec<(&'static str, MethodFn)> = vec![
                ("floor", floor_method(floor(FloorWork::Bare))),
                ("floor_work", floor_method(floor(FloorWork::SameWork))),
            ];
            if procs {
                m.push((
                    "floor_clone",
                    floor_method(
                        Floor::new(ns, FloorWork::Bare).with_cgroup(parent.clone(), false),
                    ),
                ));
            }
            let mut b = builder(ns);
            b = b.cgroup(CgroupSpec::new().parent(parent.path.clone()));
            let inner = builder_method(b);
            m.push(("containment", keep_alive(inner, parent)));
            m
        }
        Extra::PivotRoot => {
            let root = Rc::new(BusyboxRoot::new());
            let mut b = builder(ns);
            b = b.root(root.root.clone());
            let inner = builder_method(b);
            vec![
                ("floor", floor_method(Floor::new(ns, FloorWork::Bare))),
                (
                    "floor_work",
                    floor_method(Floor::new(ns, FloorWork::SameWork).with_root(root.clone())),
                ),
                (
                    "floor_protect",
                    floor_method(
                        Floor::new(ns, FloorWork::SameWork)
                            .with_root(root.clone())
                            .with_protection(),
                    ),
                ),
                ("containment", keep_alive(inner, root)),
            ]
        }
    }
}

/// Keeps `guard` (a fixture removed on drop) alive as long as the method.
fn keep_alive<G: 'static>(mut m: MethodFn, guard: G) -> MethodFn {
    Box::new(move |exec| {
        let _ = &guard;
        m(exec)
    })
}

/// The methods of a variant without extras, the floor first.
fn methods_plain(ns: Namespaces) -> Vec<(&'static str, MethodFn)> {
    let mut m: Vec<(&'static str, MethodFn)> =
        vec![("floor", floor_method(Floor::new(ns, FloorWork::Bare)))];
    if ns.intersects(Namespaces::MOUNT | Namespaces::NET) {
        m.push((
            "floor_work",
            floor_method(Floor::new(ns, FloorWork::SameWork)),
        ));
    }
    if !ns.contains(Namespaces::USER) {
        let f = Floor::new(ns, FloorWork::Bare);
        m.push((
            "floor_vfork",
            Box::new(move |exec| {
                let t = std::time::Instant::now();
                let pidfd = f.vfork_to_exec();
                if exec {
                    let d = t.elapsed();
                    kill_reap(pidfd);
                    d
                } else {
                    let _ = sys::pidfd_wait(borrow(&pidfd), sys::WaitFlags::empty());
                    let d = t.elapsed();
                    settle();
                    d
                }
            }),
        ));
    }
    m.push(("containment", builder_method(builder(ns))));
    {
        // The same spawn through the sealed exec helper (what a changed
        // root or a joined mount namespace costs on top: one more exec).
        let mut b = builder(ns);
        b = b.force_exec_helper(true);
        m.push(("containment_helper", builder_method(b)));
    }
    if !ns.contains(Namespaces::USER) {
        let mut b = builder(ns);
        b = b.vfork_spawn(true);
        m.push(("containment_vfork", builder_method(b)));
    }
    if let Some(p) = pool_method(ns, false) {
        m.push(("pool", p));
    }
    if let Some(p) = pool_method(ns, true) {
        m.push(("pool_vfork", p));
    }
    m.push(("std", std_method(ns)));
    m
}
