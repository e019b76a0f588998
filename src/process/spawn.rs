//! The parent's side of a spawn: pipes, `clone3`, id maps, the error pipe.

use super::child::{self, ChildPlan};
use super::gate;
use super::handle::Child;
use super::stdio::{pipe_cloexec, PreparedStdio};
use crate::error::{ChildError, ChildFailure, SpawnError, Step};
use crate::namespace::{self, Namespaces};
use crate::sys::{self, CloneArgs, CloneFlags};
use std::ffi::OsString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// The uid/gid maps the parent writes after clone.
#[derive(Debug)]
pub(crate) struct IdMapsPlan {
    pub uid_map: Vec<u8>,
    pub gid_map: Vec<u8>,
    /// Write `deny` to `/proc/<pid>/setgroups` first.
    pub deny_setgroups: bool,
    /// Write uid_map through this `newuidmap` instead.
    pub uid_helper: Option<(std::path::PathBuf, Vec<crate::namespace::IdMap>)>,
    /// Write gid_map through this `newgidmap` instead.
    pub gid_helper: Option<(std::path::PathBuf, Vec<crate::namespace::IdMap>)>,
}

/// The caller's side of a pty (`Command::pty`).
#[derive(Debug)]
pub(crate) enum ParentPty {
    /// Opened here from the host's `/dev/ptmx`.
    Host(crate::tty::Pty),
    /// The child opens it from the container's devpts and sends the
    /// primary on this socket before its exec.
    Socket(std::os::unix::net::UnixStream),
}

/// A validated spawn, ready to clone.
#[derive(Debug)]
pub(crate) struct Prepared {
    pub plan: ChildPlan,
    pub namespaces: Namespaces,
    pub id_maps: Option<IdMapsPlan>,
    /// User-mode networking started while the child waits.
    pub user_net: Option<crate::usernet::UserNetPlan>,
    pub stdio: [PreparedStdio; 3],
    /// The caller's side of the program's terminal.
    pub pty: Option<ParentPty>,
    /// The cgroup the spawn created, and whether to remove it when the
    /// child is reaped (removed at once when the spawn fails).
    pub cgroup: Option<(crate::cgroup::Cgroup, bool)>,
    /// Start the child in this cgroup (`CLONE_INTO_CGROUP`).
    pub cgroup_fd: Option<OwnedFd>,
    /// cgroup v1 directories of a joined process for the child to move
    /// into (exec into a container on a hybrid/v1 host).
    pub join_cgroup_v1: crate::cgroup::v1::V1Dirs,
    /// The `tasks` files the child writes (`ChildPlan::cgroup_tasks`), in
    /// the same order, for naming the one that refused it.
    pub cgroup_task_paths: Vec<std::path::PathBuf>,
    /// Enter this PID namespace on the spawning thread around the clone,
    /// then restore the second descriptor (the thread's pid_for_children).
    pub join_pid_ns: Option<(OwnedFd, OwnedFd)>,
    /// The child joins a PID namespace itself (after a user namespace) and
    /// forks the program: the spawn adopts that grandchild.
    pub join_pid_in_child: bool,
    /// Descriptors the child uses that the parent closes after clone.
    pub keep: Vec<OwnedFd>,
    /// A set of pooled namespaces the child joins instead of creating those
    /// kinds (kept open until the child has exec'd).
    pub pooled: Option<crate::pool::PooledNamespaces>,
    /// Use the legacy clone(2) path (testing the fallback).
    pub force_legacy: bool,
    /// Experimental: the vfork shape (`CLONE_VM | CLONE_VFORK` on a stack of
    /// our own) when it applies (no new user namespace, no cgroup fd).
    pub vfork: bool,
    /// For error messages.
    pub program: OsString,
    /// The read end of the start gate's ready pipe: the spawn returns when
    /// the child reports ready there, not at its exec (see `gate.rs`).
    pub gate_ready: Option<OwnedFd>,
}

/// Kills and reaps the child unless disarmed: a failed spawn leaves no
/// process. Holds the stack of a child sharing our memory: fields drop after
/// `drop` has reaped it, and a disarmed guard is dropped only once the child
/// has exec'd.
struct KillGuard {
    pidfd: Option<OwnedFd>,
    _stack: Option<ChildStack>,
    _signals: Option<crate::sys::SignalBlock>,
}

impl KillGuard {
    fn disarm(mut self) -> Option<OwnedFd> {
        self.pidfd.take()
    }
}

impl Drop for KillGuard {
    fn drop(&mut self) {
        if let Some(fd) = &self.pidfd {
            let _ = sys::pidfd_send_signal(fd.as_fd(), libc::SIGKILL);
            let _ = sys::pidfd_wait(fd.as_fd(), sys::WaitFlags::empty());
        }
    }
}

/// The spawning thread inside another PID namespace (for its children only)
/// until dropped.
struct PidNsSwitch<'a> {
    restore: BorrowedFd<'a>,
}

impl<'a> PidNsSwitch<'a> {
    fn enter(target: BorrowedFd<'_>, restore: BorrowedFd<'a>) -> Result<Self, SpawnError> {
        namespace::setns(target, Some(namespace::Namespace::Pid))?;
        Ok(PidNsSwitch { restore })
    }
}

impl Drop for PidNsSwitch<'_> {
    fn drop(&mut self) {
        // Back to our own namespace for later children; this cannot fail
        // for the namespace the thread was in.
        let _ = namespace::setns(self.restore, Some(namespace::Namespace::Pid));
    }
}

/// What `clone_child` made.
struct Cloned {
    pid: i32,
    pidfd: OwnedFd,
    /// The stack of a child that shares our memory and may still run on it
    /// (the vfork shape without `CLONE_VFORK`): unmapped only once it has
    /// exec'd or been reaped.
    stack: Option<ChildStack>,
    /// Every signal stays blocked on this thread while such a child runs:
    /// a handler here would share its errno.
    signals: Option<crate::sys::SignalBlock>,
    vfork_shape: bool,
}

/// Whether the vfork shape applies: asked for, available on this
/// architecture, and no step that a child sharing our memory cannot do
/// (an init is the sealed helper, exec'd like a program): entering a
/// time namespace with setns (EUSERS), which joining one and time offsets
/// need (the offsets go into a namespace nobody is in yet, which the child
/// then enters itself; only kernels with the exec-time switch would move a
/// vfork-shaped child in, and 6.1 does not). Exec-into (a PID namespace
/// entered on the spawning thread) keeps the fork shape.
///
/// A child of this shape runs on the caller's memory, and dumpability is
/// the memory's: once it has dropped capabilities (or sits in a user
/// namespace that host root owns), a root process holding only the dropped
/// set (another container's root in this PID namespace) passes the
/// credentials check on `/proc/<child>/mem`, which is the caller's memory.
/// A root caller is therefore not dumpable while any of its spawns is in
/// flight ([`NotDumpable`]), which the fork shape's copy inherits from
/// birth. Joining a user namespace keeps the fork shape.
fn vfork_applies(p: &Prepared) -> bool {
    p.vfork
        && !p.plan.join.iter().any(|(_, t)| *t == libc::CLONE_NEWUSER)
        && sys::HAS_CLONE3_ON_STACK
        && !p.force_legacy
        && p.join_pid_ns.is_none()
        && !p.join_pid_in_child
        && p.plan.gate.is_none()
        && !p.plan.join.iter().any(|(_, t)| *t == libc::CLONE_NEWTIME)
        && !p.plan.time.as_ref().is_some_and(|t| !t.is_empty())
}

/// Whether joining the v1 cpuset directory `dir` would change the memory
/// policy or placement of the joining process's memory: its
/// `cpuset.memory_migrate` is on, or its `cpuset.mems` differ from ours
/// (`Mems_allowed_list` of /proc/thread-self/status). A directory that is
/// not a cpuset answers no; an unreadable answer counts as yes.
fn cpuset_would_touch_our_memory(dir: &std::path::Path) -> bool {
    let mems = match std::fs::read_to_string(dir.join("cpuset.mems")) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return false,
        Err(_) => return true,
    };
    if std::fs::read_to_string(dir.join("cpuset.memory_migrate")).map_or(true, |m| m.trim() != "0")
    {
        return true;
    }
    let ours = std::fs::read_to_string("/proc/thread-self/status").ok();
    let ours = ours
        .as_deref()
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("Mems_allowed_list:")))
        .map(str::trim);
    ours != Some(mems.trim())
}

fn clone_child(p: &mut Prepared) -> Result<Cloned, SpawnError> {
    let pooled = p.pooled.as_ref().map_or(Namespaces::empty(), |s| s.kinds());
    let mut create = p.namespaces - Namespaces::TIME - pooled;
    if p.plan.unshare_cgroup {
        // The child unshares it once in its cgroup v1 directories.
        create -= Namespaces::CGROUP;
    }
    let mut flags = CloneFlags::from_bits_retain(create.bits() as u64)
        | CloneFlags::PIDFD
        | CloneFlags::CLEAR_SIGHAND;
    if p.cgroup_fd.is_some() {
        flags |= CloneFlags::INTO_CGROUP;
    }
    let mut pidfd: i32 = -1;
    let mut block = Some(crate::sys::SignalBlock::new());
    if vfork_applies(p) {
        if let Some(c) = clone_vfork(p, flags, &mut block)? {
            return Ok(c);
        }
        // clone3 missing or refused: the fork shape below falls back further.
    }
    // A child with memory of its own turns non-dumpable first thing.
    p.plan.nondumpable = true;
    // SAFETY: geteuid has no preconditions.
    p.plan.nondumpable_first = unsafe { libc::geteuid() } == 0;
    let _pidns = match &p.join_pid_ns {
        Some((target, restore)) => Some(PidNsSwitch::enter(target.as_fd(), restore.as_fd())?),
        None => None,
    };
    // The child forks the program into the joined PID namespace and tells
    // us its pid here.
    let report = if p.join_pid_in_child {
        let (r, w) = pipe_cloexec().map_err(|e| SpawnError::setup("pipe2", e))?;
        // Above every dup2 target, and kept by the child's first close.
        let w = super::lift_fd(w, p.plan.fd_floor)
            .map_err(|e| SpawnError::setup("fcntl(F_DUPFD_CLOEXEC)", e))?;
        let raw = w.as_raw_fd();
        p.plan.join_fork = Some(raw);
        let at = p.plan.keep_fds.partition_point(|f| *f < raw);
        p.plan.keep_fds.insert(at, raw);
        Some((r, w))
    } else {
        None
    };
    let mut result = Err(io::Error::from_raw_os_error(libc::ENOSYS));
    if !p.force_legacy {
        // A new time namespace without offsets: let clone3 create it (the
        // child is in it from the start) instead of the child's unshare.
        // With offsets the child must unshare, write them, then exec.
        p.plan.time_at_clone = time_at_clone(p);
        let clone3_flags = if p.plan.time_at_clone {
            flags | CloneFlags::NEWTIME
        } else {
            flags
        };
        let mut args = CloneArgs {
            flags: clone3_flags.bits(),
            pidfd: &mut pidfd as *mut i32 as u64,
            exit_signal: libc::SIGCHLD as u64,
            cgroup: p.cgroup_fd.as_ref().map_or(0, |f| f.as_raw_fd() as u64),
            ..CloneArgs::default()
        };
        // SAFETY: the child only runs child::run, which makes
        // async-signal-safe calls on the prepared plan and never returns.
        result = unsafe { sys::clone3(&mut args) };
        if let Ok(0) = result {
            child::run(&p.plan);
        }
        // The legacy fallback below cannot pass CLONE_NEWTIME: the child
        // unshares it there (the fork-shaped child has its own copy of the
        // plan, so this does not change what it sees).
        p.plan.time_at_clone = false;
    }
    // clone3 missing (or hidden by an old seccomp profile that answers
    // EPERM): the legacy clone(2) gives the same result, except it cannot
    // start the child in a cgroup, so never fall back silently then.
    let fallback = match &result {
        Err(e) => clone3_missing(e) && !p.force_legacy,
        Ok(_) => false,
    };
    if fallback || p.force_legacy {
        if p.cgroup_fd.is_some() {
            return Err(SpawnError::Unsupported {
                feature: "CLONE_INTO_CGROUP",
                reason: "clone3 is not available (ENOSYS or refused by a seccomp profile), and \
                         starting the child directly in a cgroup needs it"
                    .into(),
            });
        }
        p.plan.reset_handlers = true;
        let legacy = flags - CloneFlags::CLEAR_SIGHAND;
        // SAFETY: as above.
        result = unsafe { sys::clone_legacy(legacy, libc::SIGCHLD, Some(&mut pidfd)) };
        if let Ok(0) = result {
            child::run(&p.plan);
        }
    }
    match result {
        Ok(pid) => {
            // SAFETY: CLONE_PIDFD stored a new descriptor owned by us.
            let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
            let (pid, pidfd) = match report {
                Some((r, w)) => {
                    drop(w);
                    adopt_grandchild(pid, pidfd, r)?
                }
                None => (pid, pidfd),
            };
            Ok(Cloned {
                pid,
                pidfd,
                stack: None,
                signals: None,
                vfork_shape: false,
            })
        }
        Err(source) => Err(clone_error(p, "clone3", source)),
    }
}

/// Whether a failed clone3 means clone3 itself is unusable: `ENOSYS`, or
/// the `EPERM` of an old seccomp profile. The kernel's own `EPERM` (a
/// namespace the caller may not create, a cgroup it may not enter) is told
/// apart by asking clone3 again with an invalid size, which a filter
/// refuses the same way and the kernel answers with `EINVAL`.
fn clone3_missing(e: &io::Error) -> bool {
    match e.raw_os_error() {
        Some(libc::ENOSYS) => true,
        Some(libc::EPERM) => !crate::probe::clone3_usable(),
        _ => false,
    }
}

/// The child that joined a PID namespace itself has forked the program as
/// our child (`CLONE_PARENT`) and exits: reads the program's pid from
/// `report`, reaps the intermediate child and opens a pidfd of the program
/// (our own unreaped child: its pid cannot be recycled meanwhile, unless
/// `SIGCHLD` is ignored and it has already exited). When the intermediate
/// failed before the fork (EOF without a pid), returns it as is: its
/// failure is on the error pipe.
fn adopt_grandchild(
    pid: i32,
    pidfd: OwnedFd,
    report: OwnedFd,
) -> Result<(i32, OwnedFd), SpawnError> {
    let mut buf = [0u8; 4];
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: reads into the unfilled tail of a live buffer.
        let n = unsafe {
            libc::read(
                report.as_raw_fd(),
                buf[got..].as_mut_ptr().cast(),
                buf.len() - got,
            )
        };
        if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
            continue;
        }
        if n <= 0 {
            break;
        }
        got += n as usize;
    }
    // The intermediate exits right after the report (or after a failure).
    let _ = sys::pidfd_wait(pidfd.as_fd(), sys::WaitFlags::empty());
    if got < buf.len() {
        return Ok((pid, pidfd));
    }
    let program = i32::from_ne_bytes(buf);
    let fd = sys::pidfd_open(program).map_err(|e| {
        // SAFETY: kill(2) and waitpid(2) of our own child (CLONE_PARENT),
        // not yet reaped.
        unsafe {
            libc::kill(program, libc::SIGKILL);
            libc::waitpid(program, std::ptr::null_mut(), 0);
        }
        SpawnError::setup("pidfd_open of the program forked into the PID namespace", e)
    })?;
    Ok((program, fd))
}

/// The error of a failed clone: `Unsupported` naming the namespace kind
/// when the host cannot create it (absent kind, a `max_*_namespaces` of 0,
/// unprivileged user namespaces disabled), `NamespaceLimit` for `ENOSPC`,
/// otherwise `Setup` with a hint. The host is probed now, on failure, not
/// from the cache: the limits are per user namespace and change while a
/// process runs.
fn clone_error(p: &Prepared, op: &'static str, source: io::Error) -> SpawnError {
    let errno = source.raw_os_error().unwrap_or(0);
    // The kinds this clone created (pooled ones are joined, not made).
    let pooled = p.pooled.as_ref().map_or(Namespaces::empty(), |s| s.kinds());
    let created = p.namespaces - pooled;
    let kinds: Vec<_> = created.kinds().collect();
    let pid_nesting = errno == libc::ENOSPC
        && created.contains(Namespaces::PID)
        && pid_namespace_level().is_some_and(|l| l >= MAX_PID_NS_LEVEL);
    if !kinds.is_empty()
        && !pid_nesting
        && matches!(
            errno,
            libc::EINVAL | libc::ENOSPC | libc::EPERM | libc::ENOSYS | libc::EUSERS
        )
    {
        let host = crate::probe::host_now();
        for &k in &kinds {
            if let Some(reason) = host.why_not(k) {
                return SpawnError::Unsupported {
                    feature: k.feature_name(),
                    reason,
                };
            }
        }
        if errno == libc::ENOSPC {
            return SpawnError::NamespaceLimit {
                limits: kinds
                    .iter()
                    .map(|&k| (k, host.namespace_limit(k)))
                    .collect(),
            };
        }
    }
    let mut hints: Vec<String> = Vec::new();
    if pid_nesting {
        hints.push(format!(
            "PID namespaces nest at most {MAX_PID_NS_LEVEL} levels deep below the initial one, \
             and this process is at that depth"
        ));
    } else if !kinds.is_empty() {
        hints.extend(namespace::create_hint(created, errno));
    }
    if p.cgroup_fd.is_some() {
        hints.extend(cgroup_hint(errno).map(str::to_string));
    }
    if errno == libc::EAGAIN {
        hints.push(
            "a process limit is reached: RLIMIT_NPROC of the caller's real uid (it counts every \
             process and thread of that uid on the host; root and holders of \
             CAP_SYS_RESOURCE or CAP_SYS_ADMIN are exempt), the pids.max of the target cgroup \
             or an ancestor, or /proc/sys/kernel/threads-max or pid_max"
                .to_string(),
        );
    }
    let hint = (!hints.is_empty()).then(|| hints.join("; or "));
    SpawnError::Setup { op, source, hint }
}

/// `MAX_PID_NS_LEVEL` of the kernel: a new PID namespace below this level
/// fails with `ENOSPC`.
const MAX_PID_NS_LEVEL: usize = 32;

/// The nesting level of our PID namespace (0: the initial one), from the
/// number of ids on the `NSpid:` line of `/proc/self/status`.
fn pid_namespace_level() -> Option<usize> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find_map(|l| l.strip_prefix("NSpid:"))?;
    line.split_whitespace().count().checked_sub(1)
}

/// Why `clone3(CLONE_INTO_CGROUP)` failed with this errno, when known.
fn cgroup_hint(errno: i32) -> Option<&'static str> {
    Some(match errno {
        libc::EACCES | libc::EPERM => {
            "CLONE_INTO_CGROUP moves the child as a write to cgroup.procs would, with the \
             caller's credentials: it needs write access to the target cgroup's cgroup.procs \
             and to the cgroup.procs of the common ancestor of the caller's own cgroup and the \
             target (a delegated subtree works only when the caller already runs inside it)"
        }
        libc::EBUSY => {
            "CLONE_INTO_CGROUP into a cgroup that has controllers enabled in its \
             cgroup.subtree_control (the no-internal-processes rule)"
        }
        libc::ENOENT => {
            "the caller's or the target cgroup is outside the caller's cgroup namespace \
             (nsdelegate), or the target was removed"
        }
        libc::EOPNOTSUPP => "the target is a threaded cgroup, not a domain one",
        _ => return None,
    })
}

/// A new time namespace without offsets: clone3 creates it (the child is in
/// it from the start, or from its exec in the vfork shape) instead of the
/// child's unshare. With offsets the child must unshare, write them, then
/// exec.
fn time_at_clone(p: &Prepared) -> bool {
    p.namespaces.contains(Namespaces::TIME) && p.plan.time.as_ref().is_some_and(|t| t.is_empty())
}

/// A child stack of our own for the vfork shape: mmap'd, with a guard page
/// at its low end. Dropped (after the child has exec'd or exited), it goes
/// back to a small process-wide store of spare stacks for the next spawn
/// (unmapped when the store is full): a fresh mapping per spawn cost an
/// `mmap`, an `mprotect`, page faults on every stack page the child touched
/// and an `munmap` whose TLB flush reaches the CPU the child ran on (~20 µs
/// per spawn here). A stack only ever holds the caller's own data (the
/// child's frames before its exec), and one stack serves one child at a
/// time.
struct ChildStack {
    base: *mut libc::c_void,
    len: usize,
}

// SAFETY: the mapping belongs to the ChildStack that owns it, whichever
// thread holds it; nothing else points into it once its child has exec'd or
// exited, which is when a stack is dropped (moved to the spare store).
unsafe impl Send for ChildStack {}

/// Spare stacks, reused by the next vfork-shaped spawns (at most
/// [`ChildStack::SPARES`]).
static SPARE_STACKS: std::sync::Mutex<Vec<ChildStack>> = std::sync::Mutex::new(Vec::new());

impl ChildStack {
    const SIZE: usize = 256 * 1024;
    const GUARD: usize = 4096;
    /// Spare stacks kept: one per thread spawning at the same time, up to
    /// this many.
    const SPARES: usize = 4;

    /// A spare stack, or a new one.
    fn take() -> io::Result<ChildStack> {
        let spare = SPARE_STACKS.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match spare {
            Some(s) => Ok(s),
            None => Self::new(),
        }
    }

    fn new() -> io::Result<ChildStack> {
        let len = Self::SIZE + Self::GUARD;
        // SAFETY: a fresh private anonymous mapping; no existing memory is
        // touched.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_STACK,
                -1,
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: the lowest page of the mapping made above.
        if unsafe { libc::mprotect(base, Self::GUARD, libc::PROT_NONE) } != 0 {
            let e = io::Error::last_os_error();
            // SAFETY: the mapping made above, never handed out (a stack
            // without its guard page never reaches the spare store).
            unsafe { libc::munmap(base, len) };
            return Err(e);
        }
        Ok(ChildStack { base, len })
    }
}

impl Drop for ChildStack {
    fn drop(&mut self) {
        if self.base.is_null() {
            return;
        }
        let mut spare = SPARE_STACKS.lock().unwrap_or_else(|e| e.into_inner());
        if spare.len() < Self::SPARES {
            spare.push(ChildStack {
                base: std::mem::replace(&mut self.base, std::ptr::null_mut()),
                len: self.len,
            });
            return;
        }
        drop(spare);
        // SAFETY: unmaps exactly the mapping made in new(), which no child
        // runs on any more.
        unsafe { libc::munmap(self.base, self.len) };
    }
}

extern "C" fn vfork_entry(arg: *mut libc::c_void) -> libc::c_int {
    // SAFETY: arg is &ChildPlan in the parent's memory, which we share
    // (CLONE_VM) and which stays alive and unwritten until we exec or _exit:
    // the parent thread is suspended (CLONE_VFORK), or (a new user
    // namespace) waits for our exec or reaps us before it drops the plan.
    let plan = unsafe { &*(arg as *const ChildPlan) };
    child::run(plan)
}

/// The vfork shape (what `posix_spawn` does) on clone3, with the same
/// namespace flags: no page tables are copied and the parent takes no
/// copy-on-write faults afterwards. The child keeps to the usual rules (no
/// allocation, no locks, async-signal-safe calls only) and, sharing our
/// memory, writes nothing but its own stack. clone3 lets the shape carry
/// `CLONE_INTO_CGROUP`, `CLONE_NEWTIME` and `CLONE_CLEAR_SIGHAND` (glibc's
/// `clone()` cannot).
///
/// With `CLONE_VFORK` the calling thread is suspended until the child has
/// exec'd or exited. A new user namespace needs its maps written from
/// outside while the child waits, so it goes without `CLONE_VFORK`: the
/// child's first step is to block on the sync pipe, this thread writes the
/// maps and releases it, then blocks reading the error pipe until the exec
/// closes it. So while one of the two makes system calls the other sits in
/// a blocking `read` (they share this thread's thread-local storage, errno
/// included; every signal stays blocked on this thread until the exec, so
/// no handler runs either), and the stack is kept (in [`Cloned::stack`])
/// until the child has exec'd or exited. A helper thread writing the maps
/// while this one stays suspended would cost ~50 µs here, as much as the
/// whole clone.
///
/// `Ok(None)`: clone3 is missing or refused (ENOSYS, or EPERM from an old
/// seccomp profile): the caller takes the fork shape and its fallbacks.
fn clone_vfork(
    p: &mut Prepared,
    flags: CloneFlags,
    block: &mut Option<crate::sys::SignalBlock>,
) -> Result<Option<Cloned>, SpawnError> {
    let stack = ChildStack::take().map_err(|e| SpawnError::setup("mmap (child stack)", e))?;
    // No offsets here (see vfork_applies): a new time namespace is made by
    // clone3.
    p.plan.time_at_clone = time_at_clone(p);
    let waits_for_maps = p.plan.sync_fd.is_some();
    let mut clone_flags = flags | CloneFlags::VM;
    if !waits_for_maps {
        clone_flags |= CloneFlags::VFORK;
    }
    if p.plan.time_at_clone {
        clone_flags |= CloneFlags::NEWTIME;
    }
    let mut pidfd: i32 = -1;
    let mut args = CloneArgs {
        flags: clone_flags.bits(),
        pidfd: &mut pidfd as *mut i32 as u64,
        exit_signal: libc::SIGCHLD as u64,
        stack: stack.base as u64,
        stack_size: stack.len as u64,
        cgroup: p.cgroup_fd.as_ref().map_or(0, |f| f.as_raw_fd() as u64),
        ..CloneArgs::default()
    };
    let plan = &p.plan as *const ChildPlan as *mut libc::c_void;
    // SAFETY: the stack is ours and stays mapped until the child has exec'd
    // or exited (CLONE_VFORK suspends this thread until then; without it
    // the caller keeps the stack until the error pipe closes or the child is
    // reaped); the plan lives in `p`, which outlives the child's use and is
    // not written meanwhile; the child runs child::run, which keeps to the
    // post-fork rules; the kernel stores the pidfd into a live local.
    let r = unsafe { sys::clone3_on_stack(&mut args, vfork_entry, plan) };
    match r {
        Ok(pid) => Ok(Some(Cloned {
            pid,
            // SAFETY: CLONE_PIDFD stored a new descriptor owned by us.
            pidfd: unsafe { OwnedFd::from_raw_fd(pidfd) },
            stack: waits_for_maps.then_some(stack),
            signals: if waits_for_maps { block.take() } else { None },
            vfork_shape: true,
        })),
        Err(e) if clone3_missing(&e) => Ok(None),
        Err(source) => Err(clone_error(p, "clone3 (vfork shape)", source)),
    }
}

fn write_proc(pid: i32, file: &str, data: &[u8]) -> io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(format!("/proc/{pid}/{file}"))?;
    // One write: the kernel accepts a map only in a single write(2).
    let n = f.write(data)?;
    if n != data.len() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    Ok(())
}

const MAP_HINT: &str =
    "the kernel refused the id map: ranges must not overlap and need count >= 1; \
    an unprivileged writer may map only its own uid/gid as a single line (more ranges need \
    root or newuidmap/newgidmap), and gid_map then needs setgroups=deny first; every outside \
    id must be mapped in the parent's user namespace";

const NON_DUMPABLE_MAP_HINT: &str =
    "this process is not dumpable (it changed its uid or gid, e.g. dropped privileges, or \
    started set-user-ID), and so neither is the child it cloned: the child's /proc files, \
    uid_map and gid_map among them, belong to root; spawn before dropping privileges, or \
    make the process dumpable again with prctl(PR_SET_DUMPABLE, 1) if nothing in its memory \
    must stay hidden from other processes of its uid";

const MAP_EACCES_HINT: &str =
    "the child's uid_map/gid_map could not be opened for writing: they belong to the child's \
    owner, and only root or the same uid may write them (an LSM may also refuse)";

/// The hint of a failed write to the child's id map files.
fn id_map_hint(errno: Option<i32>) -> Option<String> {
    match errno? {
        libc::EPERM => {
            // An AppArmor-restricted user namespace has no capabilities:
            // even a map of the caller's own id is refused.
            let host = crate::probe::host_now();
            let aa = crate::probe::UsernsRestriction::AppArmorRestrict;
            Some(
                if !host.is_root && host.user_namespace_restrictions().contains(&aa) {
                    format!("{aa}; or {MAP_HINT}")
                } else {
                    MAP_HINT.to_string()
                },
            )
        }
        libc::EINVAL => Some(MAP_HINT.to_string()),
        libc::EACCES => {
            // SAFETY: PR_GET_DUMPABLE takes no pointer and has no side effect.
            let dumpable = unsafe { libc::prctl(libc::PR_GET_DUMPABLE) };
            Some(
                if dumpable == 1 {
                    MAP_EACCES_HINT
                } else {
                    NON_DUMPABLE_MAP_HINT
                }
                .to_string(),
            )
        }
        _ => None,
    }
}

fn write_id_maps(pid: i32, m: &IdMapsPlan) -> Result<(), SpawnError> {
    let fail = |op: &'static str, source: io::Error| SpawnError::Setup {
        op,
        hint: id_map_hint(source.raw_os_error()),
        source,
    };
    match &m.uid_helper {
        Some((helper, maps)) => run_map_helper(helper, "uid_map", pid, maps)?,
        None => write_proc(pid, "uid_map", &m.uid_map).map_err(|e| fail("writing uid_map", e))?,
    }
    if m.deny_setgroups {
        write_proc(pid, "setgroups", b"deny").map_err(|e| fail("writing setgroups", e))?;
    }
    match &m.gid_helper {
        Some((helper, maps)) => run_map_helper(helper, "gid_map", pid, maps),
        None => write_proc(pid, "gid_map", &m.gid_map).map_err(|e| fail("writing gid_map", e)),
    }
}

/// Runs `newuidmap`/`newgidmap <pid> <inside> <outside> <count>...` (the
/// child waits on the sync pipe meanwhile). Its stdin and stdout are
/// `/dev/null`; its stderr is kept for the error.
fn run_map_helper(
    helper: &std::path::Path,
    map: &'static str,
    pid: i32,
    maps: &[crate::namespace::IdMap],
) -> Result<(), SpawnError> {
    let mut cmd = std::process::Command::new(helper);
    cmd.arg(pid.to_string());
    for m in maps {
        cmd.args([
            m.inside.to_string(),
            m.outside.to_string(),
            m.count.to_string(),
        ]);
    }
    let out = cmd
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output()
        .map_err(|source| SpawnError::Setup {
            op: "running the id map helper",
            hint: Some(format!("{} could not be started", helper.display())),
            source,
        })?;
    if out.status.success() {
        return Ok(());
    }
    Err(SpawnError::IdMapHelper {
        helper: helper.to_owned(),
        map,
        status: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    })
}

/// Reads the child's report: `None` when the pipe closed empty (exec happened).
fn read_report(fd: BorrowedFd<'_>) -> io::Result<Option<ChildFailure>> {
    let mut buf = [0u8; ChildFailure::SIZE];
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: reads into the unfilled tail of a live buffer.
        let n = unsafe {
            libc::read(
                fd.as_raw_fd(),
                buf[got..].as_mut_ptr().cast(),
                buf.len() - got,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            break;
        }
        got += n as usize;
    }
    match got {
        0 => Ok(None),
        ChildFailure::SIZE => ChildFailure::from_bytes(&buf)
            .map(Some)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unknown step in report")),
        _ => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "short report on the error pipe",
        )),
    }
}

/// The caller's work while the child sets itself up
/// ([`Command::spawn_with`](crate::Command::spawn_with)): called once with
/// the child's pid and the cgroup the spawn made for it.
pub(crate) type During<'a> =
    &'a mut dyn FnMut(u32, Option<&crate::cgroup::Cgroup>) -> io::Result<()>;

/// Spawns the prepared child and returns its handle once it has exec'd. A
/// failed spawn removes the cgroup the spawn created for it.
pub(crate) fn spawn(mut p: Prepared, during: Option<During<'_>>) -> Result<Child, SpawnError> {
    let cgroup = p.cgroup.take();
    // A panic (the caller's `during`) unwinds through spawn_inner, whose
    // guard kills and reaps the child; the cgroup goes as for an error,
    // then the panic goes on to the caller.
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        spawn_inner(p, cgroup.as_ref().map(|(c, _)| c), during)
    }));
    let r = match r {
        Ok(r) => r,
        Err(panic) => {
            if let Some((cg, _)) = cgroup {
                let _ = cg.destroy();
            }
            std::panic::resume_unwind(panic)
        }
    };
    match r {
        Ok(mut child) => {
            if let Some((cg, remove)) = cgroup {
                cg.started();
                child.set_cgroup(cg, remove);
            }
            Ok(child)
        }
        Err(e) => {
            if let Some((cg, _)) = cgroup {
                let _ = cg.destroy();
            }
            Err(e)
        }
    }
}

/// While alive, a root caller is not dumpable (`PR_SET_DUMPABLE` 0): a
/// child between clone and exec runs on the caller's memory (vfork shape)
/// or on a copy of it holding the caller's descriptors (fork shape, which
/// inherits the flag at clone), and once it drops capabilities, or sits in
/// a user namespace host root owns, another root process without
/// `CAP_SYS_PTRACE` (another container's root in this PID namespace) would
/// pass the credentials check on `/proc/<child>/mem`; the dumpable check
/// stops it. Spawns from several threads share one count: the caller's
/// flag is restored when the last one has exec'd (a uid change in a
/// vfork-shaped child used to leave the caller non-dumpable for good). Not
/// for other callers: their child's id maps and /proc files would turn
/// root-owned, and a process of their uid can reach the caller anyway.
struct NotDumpable {
    active: bool,
}

/// (spawns in flight, the caller's flag before the first of them).
static NOT_DUMPABLE: std::sync::Mutex<(usize, libc::c_int)> = std::sync::Mutex::new((0, 1));

impl NotDumpable {
    fn enter() -> NotDumpable {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return NotDumpable { active: false };
        }
        let mut g = NOT_DUMPABLE.lock().unwrap_or_else(|e| e.into_inner());
        if g.0 == 0 {
            // SAFETY: prctl with integer arguments.
            g.1 = unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0) };
            // SAFETY: as above.
            unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
        }
        g.0 += 1;
        NotDumpable { active: true }
    }
}

impl Drop for NotDumpable {
    fn drop(&mut self) {
        if !self.active {
            return;
        }
        let mut g = NOT_DUMPABLE.lock().unwrap_or_else(|e| e.into_inner());
        g.0 -= 1;
        // PR_SET_DUMPABLE takes 0 or 1 (2, set by the kernel for suid_dumpable,
        // cannot be restored and stays 0).
        if g.0 == 0 && g.1 == 1 {
            // SAFETY: prctl with integer arguments.
            unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 1, 0, 0, 0) };
        }
    }
}

fn spawn_inner(
    mut p: Prepared,
    cgroup: Option<&crate::cgroup::Cgroup>,
    during: Option<During<'_>>,
) -> Result<Child, SpawnError> {
    // Declared first, dropped last: after the child has exec'd, or has
    // been reaped by the guard below.
    let _not_dumpable = NotDumpable::enter();
    let (err_r, err_w) = pipe_cloexec().map_err(|e| SpawnError::setup("pipe2", e))?;
    // The error pipe stays above every dup2 target of the child (0, 1, 2,
    // the pass_fd targets): a dup2 onto it would turn a failed step into an
    // EOF, a success. The id-map pipe needs no move: the child closes both
    // ends before its first dup2.
    debug_assert!(p.plan.keep_fds.iter().all(|f| *f >= p.plan.fd_floor));
    let err_w = super::lift_fd(err_w, p.plan.fd_floor)
        .map_err(|e| SpawnError::setup("fcntl(F_DUPFD_CLOEXEC)", e))?;
    // cgroup v1 directories cannot be entered at clone: the child moves
    // itself in first thing, writing `0` to their `tasks` files (a thread
    // moving itself skips the kernel's global threadgroup lock and its RCU
    // grace period, which a write of its pid by us would wait for). Opened
    // here, above every dup2 target, close-on-exec; closed by the child
    // after its write, and by us once it is cloned.
    let mut cgroup_tasks: Vec<OwnedFd> = Vec::new();
    let own = cgroup.filter(|c| c.needs_v1_attach());
    let mut task_files = match own {
        Some(cg) => cg.open_v1_tasks()?,
        None => Vec::new(),
    };
    // A cgroup of the caller's own wins over a joined process's in every
    // v1 hierarchy it has a directory in, as its cgroup2 directory wins at
    // clone: the joined process's `tasks`, written after ours, would move
    // the child out of the cgroup asked for and out of its limits.
    let mut join_v1 = std::mem::take(&mut p.join_cgroup_v1);
    if let Some(cg) = own {
        let mounts = cg.v1_mounts();
        join_v1.dirs.retain(|d| !mounts.contains(&d.mount));
    }
    task_files.extend(join_v1.open_tasks()?);
    let any_v1 = !task_files.is_empty();
    // A child that shares our memory (the vfork shape) and joins a v1
    // cpuset whose memory nodes differ from ours, or that migrates memory,
    // would rebind or move *our* memory (cpuset_attach: mpol_rebind_mm,
    // cpuset_migrate_mm of the leader's mm): it gets memory of its own.
    // (Only when the vfork shape will be taken: its checks read three files
    // for each v1 directory.)
    if vfork_applies(&p)
        && task_files
            .iter()
            .any(|(_, t)| t.parent().is_some_and(cpuset_would_touch_our_memory))
    {
        p.vfork = false;
    }
    for (fd, path) in task_files {
        let fd = super::lift_fd(fd, p.plan.fd_floor)
            .map_err(|e| SpawnError::setup("fcntl(F_DUPFD_CLOEXEC)", e))?;
        p.plan.cgroup_tasks.push(fd.as_raw_fd());
        p.cgroup_task_paths.push(path);
        cgroup_tasks.push(fd);
    }
    // Idmapped trees travel to the child with the release byte
    // (SCM_RIGHTS): the sync channel is then a socket pair.
    let idmaps = p.plan.mounts.as_ref().is_some_and(|m| m.has_idmaps());
    let sync = if idmaps {
        Some(sys::fdpass::socketpair_cloexec().map_err(|e| SpawnError::setup("socketpair", e))?)
    } else if p.id_maps.is_some() {
        Some(pipe_cloexec().map_err(|e| SpawnError::setup("pipe2", e))?)
    } else {
        None
    };
    p.plan.sync_fds = idmaps;
    p.plan.err_fd = err_w.as_raw_fd();
    p.plan.sync_fd = sync.as_ref().map(|(r, _)| r.as_raw_fd());
    p.plan.sync_close = sync.as_ref().map(|(_, w)| w.as_raw_fd());
    let pooled = p.pooled.as_ref().map_or(Namespaces::empty(), |s| s.kinds());
    p.plan.unshare_cgroup =
        any_v1 && p.namespaces.contains(Namespaces::CGROUP) && !pooled.contains(Namespaces::CGROUP);
    for (i, s) in p.stdio.iter().enumerate() {
        p.plan.stdio[i] = s.child.as_ref().map_or(-1, |f| f.as_raw_fd());
    }
    if let Some(mode) = p.plan.helper_mode {
        let h = super::helper::prepare(
            mode,
            p.plan.fd_floor,
            p.plan.err_fd,
            p.plan.landlock,
            // An early filter is in already (Container::seccomp_privileged).
            p.plan.seccomp.as_deref().filter(|_| !p.plan.seccomp_early),
            &p.plan.exec_paths,
            &p.plan.argv,
        )?;
        // The child keeps it past its first steps (it closes the others).
        if let Err(at) = p.plan.keep_fds.binary_search(&h.fd) {
            p.plan.keep_fds.insert(at, h.fd);
        }
        p.plan.helper = Some(h);
    }

    let cloned = clone_child(&mut p)?;
    let pid = cloned.pid;
    let vfork_shape = cloned.vfork_shape;
    let guard = KillGuard {
        pidfd: Some(cloned.pidfd),
        _stack: cloned.stack,
        _signals: cloned.signals,
    };
    // Close the child's ends here, or EOF never comes.
    drop(err_w);
    let sync_w = sync.map(|(r, w)| {
        drop(r);
        w
    });
    let mut parents: [Option<OwnedFd>; 3] = [None, None, None];
    for (i, s) in std::mem::take(&mut p.stdio).into_iter().enumerate() {
        drop(s.child);
        parents[i] = s.parent;
    }
    drop(p.cgroup_fd.take());
    drop(cgroup_tasks);
    p.keep.clear();

    // Helper daemons (pasta) the child owns; killed if the spawn fails.
    let mut helpers: Vec<OwnedFd> = Vec::new();
    let helpers_guard = HelperGuard(&mut helpers);
    if let Some(w) = sync_w {
        let helpers = &mut *helpers_guard.0;
        if let Some(m) = &p.id_maps {
            write_id_maps(pid, m)?;
        }
        if let Some(n) = &p.user_net {
            helpers.push(crate::usernet::start(n, pid)?);
        }
        match p.plan.mounts.as_ref().filter(|m| m.has_idmaps()) {
            Some(m) => {
                // The container's own user namespace, maps written: the
                // trees are idmapped with it, then sent.
                let userns = namespace::NsFd::open_pid(pid, namespace::Namespace::User)?;
                let trees = m.make_idmaps(userns.as_fd())?;
                let fds: Vec<BorrowedFd<'_>> = trees.iter().map(|t| t.as_fd()).collect();
                sys::fdpass::send_byte_with_fds(w.as_fd(), b'1', &fds)
                    .map_err(|e| SpawnError::setup("sending the idmapped mounts", e))?;
            }
            None => sys::write_all_fd(w.as_raw_fd(), b"1").map_err(|e| {
                SpawnError::setup("releasing the child", io::Error::from_raw_os_error(e))
            })?,
        }
    }

    // The caller's own work, while the child sets itself up (after
    // everything the child waits for from us).
    if let Some(f) = during {
        if let Err(e) = f(pid as u32, cgroup) {
            drop(guard);
            return Err(SpawnError::setup("the caller's work during the spawn", e));
        }
    }

    // A start gate: "ready" means set up and waiting; an empty close means
    // the child failed (its report follows on the error pipe) or died.
    let gated = match &p.gate_ready {
        Some(r) => gate::read_ready(r.as_fd())
            .map_err(|e| SpawnError::setup("reading the start gate's ready pipe", e))?,
        None => false,
    };
    match if gated {
        Ok(None)
    } else {
        read_report(err_r.as_fd())
    } {
        Ok(None) if p.gate_ready.is_some() && !gated => {
            drop(guard);
            return Err(SpawnError::setup(
                "reading the child's error pipe",
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the child ended before it reached the start gate",
                ),
            ));
        }
        Ok(None) if guard._stack.is_some() && shares_our_memory(pid) => {
            // EOF while the child still runs on our memory: it has not
            // exec'd (nothing but exec or exit closes its error pipe; this
            // is a defence against a bug). Kill and reap it before its
            // stack and plan go.
            drop(guard);
            return Err(SpawnError::setup(
                "reading the child's error pipe",
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the error pipe closed before the child exec'd",
                ),
            ));
        }
        Ok(None) => {}
        Ok(Some(f)) => {
            // The child has _exit'ed (or will): reap it through the guard.
            drop(guard);
            return Err(SpawnError::Child(describe_failure(&p, f)));
        }
        Err(e) => return Err(SpawnError::setup("reading the child's error pipe", e)),
    }
    // The terminal: the child sent the primary before its exec (so it is
    // queued on the socket by now; never wait for it).
    let pty = match p.pty.take() {
        None => None,
        Some(ParentPty::Host(p)) => Some(p),
        Some(ParentPty::Socket(sock)) => {
            let got = sock
                .set_nonblocking(true)
                .and_then(|()| crate::tty::recv_fd(&sock));
            match got {
                Ok(fd) => Some(crate::tty::Pty::from_primary(fd)),
                Err(e) => {
                    drop(guard);
                    return Err(SpawnError::setup("receiving the pty from the child", e));
                }
            }
        }
    };
    let Some(pidfd) = guard.disarm() else {
        return Err(SpawnError::setup(
            "keeping the pidfd",
            io::Error::from_raw_os_error(libc::EBADF),
        ));
    };
    let [stdin, stdout, stderr] = parents;
    let mut child = Child::new(pid, pidfd, p.namespaces, stdin, stdout, stderr);
    child.set_vfork_shape(vfork_shape);
    for h in std::mem::take(&mut *helpers_guard.0) {
        child.add_helper(h);
    }
    child.set_pty(pty);
    Ok(child)
}

/// Kills the helper daemons (by pidfd) unless they were handed to the Child.
struct HelperGuard<'a>(&'a mut Vec<OwnedFd>);

impl Drop for HelperGuard<'_> {
    fn drop(&mut self) {
        for h in self.0.drain(..) {
            let _ = sys::pidfd_send_signal(h.as_fd(), libc::SIGKILL);
        }
    }
}

/// Whether process `pid` still shares this process's memory (`kcmp(2)`
/// `KCMP_VM`): a child of the vfork shape that has exec'd or exited does
/// not. An error (no `kcmp` in this kernel, EPERM) reads as "no": the error
/// pipe's EOF is then trusted, which the child's construction guarantees.
fn shares_our_memory(pid: i32) -> bool {
    const KCMP_VM: libc::c_int = 1;
    // SAFETY: kcmp with integer arguments only compares kernel objects.
    let r = unsafe { libc::syscall(libc::SYS_kcmp, libc::getpid(), pid, KCMP_VM, 0usize, 0usize) };
    r == 0
}

fn describe_failure(p: &Prepared, f: ChildFailure) -> ChildError {
    let plan = &p.plan;
    let text = |b: &Option<Vec<u8>>| b.as_ref().map(|v| String::from_utf8_lossy(v).into_owned());
    let (detail, hint) = match f.step {
        Step::Exec => {
            let path = plan
                .exec_paths
                .get(f.index as usize)
                .map(|c| c.to_string_lossy().into_owned());
            let detail = match (path, plan.exec_paths.len()) {
                (Some(path), 1) => format!("program {path}"),
                (Some(path), n) => format!(
                    "program {:?}, searched {n} PATH entries, failed at {path}",
                    p.program
                ),
                (None, _) => format!("program {:?}", p.program),
            };
            (Some(detail), exec_hint(f.errno, plan.mounts.is_some()))
        }
        Step::Hostname => (
            text(&plan.hostname).map(|h| format!("hostname {h:?}")),
            None,
        ),
        Step::Domainname => (
            text(&plan.domainname).map(|h| format!("domainname {h:?}")),
            None,
        ),
        Step::TimeOffsets | Step::UnshareTime => (
            text(&plan.time).map(|t| format!("offsets {:?}", t.trim_end())),
            None,
        ),
        Step::SetUid | Step::SetGid | Step::SetGroups => (
            plan.ids.map(|i| format!("uid {} gid {}", i.uid, i.gid)),
            None,
        ),
        Step::Chdir => (
            plan.cwd
                .as_ref()
                .map(|c| format!("directory {}", c.to_string_lossy())),
            (f.index == 1 && f.errno == libc::ENOENT).then(|| {
                "the working directory lies outside the container's root (reached through \
                 /proc/self/fd, /proc/self/cwd or a mount of the host), or was removed: \
                 refused, as runc does against CVE-2024-21626"
                    .to_string()
            }),
        ),
        Step::Loopback => (Some("lo".into()), None),
        Step::CgroupJoin => {
            let e = io::Error::from_raw_os_error(f.errno);
            (
                p.cgroup_task_paths
                    .get(f.index as usize)
                    .map(|t| format!("cgroup v1 {}", t.display())),
                crate::cgroup::v1::write_hint("cgroup.procs", &e).map(str::to_string),
            )
        }
        Step::OomScoreAdj => (
            text(&plan.oom_score_adj).map(|v| format!("oom_score_adj {v}")),
            None,
        ),
        Step::Rlimit => (
            plan.rlimits
                .get(f.index as usize)
                .map(|(r, s, h)| format!("resource {r}, soft {s}, hard {h}")),
            None,
        ),
        Step::Capabilities if f.index > 0 => (Some(format!("capability {}", f.index)), None),
        s => {
            let m = plan.mounts.as_ref();
            (
                m.and_then(|m| m.describe(s, f.index)),
                m.and_then(|m| m.hint(s, f.index, f.errno)),
            )
        }
    };
    // The step's general causes when the layer had nothing more precise.
    let hint = hint.or_else(|| super::hints::step_hint(f.step, f.errno).map(str::to_string));
    ChildError::new(f.step, f.index, f.errno, detail, hint)
}

fn exec_hint(errno: i32, has_mounts: bool) -> Option<String> {
    let where_ = if has_mounts {
        " (paths are resolved inside the container's mount namespace and root)"
    } else {
        ""
    };
    match errno {
        libc::ENOENT => Some(format!(
            "the program does not exist{where_}, or it is a script or dynamic binary whose \
             interpreter or loader is missing"
        )),
        libc::EACCES => Some(format!(
            "the file is not executable, is a directory, or lies on a noexec mount{where_}"
        )),
        libc::ENOEXEC => Some("the file is not in a format this kernel can execute".into()),
        libc::E2BIG => Some("the arguments and environment are too large".into()),
        libc::ETXTBSY => Some("the program file is open for writing".into()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The mapping of `/proc/self/maps` that starts at `addr`: its end and
    /// permissions.
    fn mapping_at(addr: usize) -> Option<(usize, String)> {
        let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
        maps.lines().find_map(|l| {
            let (range, rest) = l.split_once(' ')?;
            let (lo, hi) = range.split_once('-')?;
            (usize::from_str_radix(lo, 16).ok()? == addr).then(|| {
                (
                    usize::from_str_radix(hi, 16).unwrap_or(0),
                    rest.split(' ').next().unwrap_or("").to_string(),
                )
            })
        })
    }

    /// A dropped stack is handed out again (no new mapping per spawn), and
    /// still has its guard page, as the kernel shows in /proc/self/maps.
    #[test]
    fn spare_stacks_are_reused_with_their_guard_page() {
        let held: Vec<ChildStack> = (0..ChildStack::SPARES + 2)
            .map(|_| ChildStack::take().unwrap())
            .collect();
        let bases: Vec<usize> = held.iter().map(|s| s.base as usize).collect();
        drop(held);
        // At most SPARES are kept; the others are unmapped.
        let kept: Vec<usize> = bases
            .iter()
            .copied()
            .filter(|b| mapping_at(*b).is_some())
            .collect();
        assert!(kept.len() <= ChildStack::SPARES, "{kept:?}");
        let again = ChildStack::take().unwrap();
        let base = again.base as usize;
        assert!(
            bases.contains(&base),
            "a new mapping instead of a spare one"
        );
        let (end, perms) = mapping_at(base).expect("the guard page is mapped");
        assert_eq!(end - base, ChildStack::GUARD);
        assert_eq!(perms, "---p");
        let (_, perms) = mapping_at(base + ChildStack::GUARD).expect("the stack is mapped");
        assert!(perms.starts_with("rw"), "{perms}");
    }
}
