//! A warm pool of fresh namespaces: created in the background, each set
//! handed to exactly one container and never reused.
//!
//! Creating a network namespace is most of the cost of a container's spawn
//! (~300–400 µs of the six usual kinds on a small host, plus bringing `lo`
//! up, which contends on `rtnl_lock` with the teardown of earlier network
//! namespaces), while `setns(2)` into an existing namespace costs 2–10 µs. A
//! [`NamespacePool`] moves the creation off the spawn path: a background
//! thread keeps up to `capacity` sets of fresh namespaces ready, and a
//! container given the pool ([`crate::Container::namespace_pool`])
//! joins one set with `setns` in the child instead of creating those kinds.
//!
//! # How a set is made
//!
//! The filler thread `clone3`s a tiny *holder* process with
//! `CLONE_NEW{NET,IPC,UTS,NS}` (the kinds asked) and `exit_signal` 0, so that
//! a `waitpid(-1)` elsewhere in the program never reaps it. The holder is a
//! copy of the caller (no exec), so it first drops what it holds of the
//! caller: it asks for `SIGKILL` when the filler thread dies
//! (`PR_SET_PDEATHSIG`, checked against a pidfd of that thread for a death
//! before the prctl), closes every descriptor but its two pipe ends (the
//! caller's files, other pooled sets, the hold pipe's write end) and makes
//! itself non-dumpable. Then it brings `lo` up (network), reports over a
//! pipe and blocks until the pool kills it or its pipe reads EOF (the owner
//! is gone): a pool's owner that is SIGKILLed or exits in the middle of a
//! refill leaves no holder behind. The thread takes one
//! descriptor per namespace through the holder's pidfd
//! (`PIDFD_GET_*_NAMESPACE`, or `/proc/<pid>/ns/*` on older kernels), then
//! kills and reaps the holder: from then on the namespaces live only through
//! those close-on-exec descriptors. No process is left behind; dropping an
//! unused set closes its descriptors and the kernel frees the namespaces.
//!
//! # What can be pooled
//!
//! Network, IPC, UTS and mount namespaces. Not these, which the spawn keeps
//! creating with `clone3`:
//! - PID: a PID namespace dies with its first process, so it cannot be made
//!   ahead of the container's own PID 1 (and creating one costs 3–10 µs);
//! - cgroup: its root is the creator's cgroup at creation time, which would
//!   not be the container's cgroup with `CLONE_INTO_CGROUP` (1–5 µs anyway);
//! - user: joining a pooled namespace from inside a new user namespace is
//!   refused (the pooled ones are owned by the caller's user namespace);
//! - time: taken by the child with `unshare` (1–5 µs).
//!
//! A pooled mount namespace is a copy of the caller's mount table *when the
//! set was made*; mounts the host adds later are not in it (the same holds for
//! a container created at that moment). The child still makes `/` private and
//! mounts its own `/proc`.
//!
//! # Refill
//!
//! The filler (a thread at nice 10) makes a new set when a taken one is
//! *dropped* (a spawn drops its set once the child has exec'd), not when it
//! is taken, so the refill never competes with the spawn it serves. A set
//! that a caller of [`NamespacePool::take`] keeps is refilled when it is
//! dropped.
//!
//! # Isolation
//!
//! Each set is handed out once ([`NamespacePool::take`] removes it) and is
//! never returned to the pool, so two containers never share a namespace
//! through the pool; `tests/pool.rs` checks the inodes the kernel shows.

use crate::namespace::{self, Namespace, Namespaces, NsFd};
use crate::sys::{self, CloneArgs, CloneFlags};
use std::collections::VecDeque;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Errors of the pool.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kinds asked cannot be pooled.
    #[error("cannot pool {kinds:?}: {reason}")]
    Kinds {
        /// The kinds asked.
        kinds: Namespaces,
        /// Why.
        reason: &'static str,
    },
    /// Making a set of namespaces failed.
    #[error("making pooled namespaces: {op}: {source}")]
    Create {
        /// The operation that failed.
        op: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// Taking a descriptor of a holder's namespace failed.
    #[error(transparent)]
    Namespace(#[from] namespace::Error),
    /// Starting the filler thread failed.
    #[error("starting the pool's filler thread: {0}")]
    Thread(#[source] io::Error),
}

/// The kinds a pool can hold.
pub const POOLABLE: Namespaces = Namespaces::NET
    .union(Namespaces::IPC)
    .union(Namespaces::UTS)
    .union(Namespaces::MOUNT);

/// One set of fresh namespaces, for exactly one container.
///
/// Holds a close-on-exec descriptor per namespace; dropping it frees the
/// namespaces (unless a process has joined them).
#[derive(Debug)]
pub struct PooledNamespaces {
    kinds: Namespaces,
    fds: Vec<NsFd>,
    /// The pool it came from: told to refill when this set is dropped (after
    /// the spawn that took it), so the refill never competes with that spawn.
    refill: Option<Arc<Shared>>,
}

impl Drop for PooledNamespaces {
    fn drop(&mut self) {
        self.fds.clear();
        if let Some(pool) = self.refill.take() {
            pool.want.notify_one();
        }
    }
}

impl PooledNamespaces {
    /// Makes a set now, in the calling thread (what the pool's filler does).
    /// `kinds` must be a subset of [`POOLABLE`]; with a network namespace,
    /// `lo` is brought up.
    ///
    /// # Errors
    ///
    /// [`Error::Kinds`] for `kinds` empty or outside [`POOLABLE`];
    /// [`Error::Create`] or [`Error::Namespace`] when creating the
    /// namespaces or bringing `lo` up failed.
    pub fn create(kinds: Namespaces) -> Result<PooledNamespaces, Error> {
        check_kinds(kinds)?;
        make_set(kinds)
    }

    /// The kinds in this set.
    pub fn kinds(&self) -> Namespaces {
        self.kinds
    }

    /// The descriptor of the namespace of `kind`, if the set has one.
    pub fn get(&self, kind: Namespace) -> Option<&NsFd> {
        self.fds.iter().find(|f| f.kind() == kind)
    }

    /// The (descriptor, `CLONE_NEW*` type) pairs the child passes to `setns`.
    pub(crate) fn setns_list(&self) -> Vec<(i32, i32)> {
        self.fds
            .iter()
            .map(|f| (f.as_fd().as_raw_fd(), f.kind().clone_flag() as i32))
            .collect()
    }
}

fn check_kinds(kinds: Namespaces) -> Result<(), Error> {
    if kinds.is_empty() {
        return Err(Error::Kinds {
            kinds,
            reason: "no kind asked",
        });
    }
    if !POOLABLE.contains(kinds) {
        return Err(Error::Kinds {
            kinds,
            reason: "only network, IPC, UTS and mount namespaces can be pooled (PID namespaces \
                     die with their first process, a cgroup namespace's root is fixed at \
                     creation, pooled namespaces cannot be joined from a new user namespace, \
                     time namespaces are taken by the child)",
        });
    }
    Ok(())
}

/// Closes every descriptor but `keep` (the holder's two pipe ends):
/// `close_range(2)` around them (Linux 5.9), else `close` up to the soft
/// `RLIMIT_NOFILE`. Async-signal-safe, no allocation.
fn close_all_but(keep: [i32; 2]) {
    let (lo, hi) = (keep[0].min(keep[1]) as i64, keep[0].max(keep[1]) as i64);
    let ranges = [(0, lo - 1), (lo + 1, hi - 1), (hi + 1, u32::MAX as i64)];
    for (first, last) in ranges {
        if first > last {
            continue;
        }
        // SAFETY: plain system call with integer arguments.
        let r = unsafe { libc::syscall(libc::SYS_close_range, first as u32, last as u32, 0u32) };
        if r != 0 {
            let mut lim = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit fills a live struct; close on any number is
            // harmless (EBADF for closed ones).
            unsafe {
                if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
                    lim.rlim_cur = 1024;
                }
                let top = (lim.rlim_cur as i64).min(last + 1);
                for fd in first..top {
                    libc::close(fd as i32);
                }
            }
        }
    }
}

/// The holder: holds nothing of its owner's, brings `lo` up, reports, blocks
/// until killed or until its owner is gone. Never returns.
///
/// It is a copy of the owner (clone without exec): first it asks to be
/// killed with the thread that cloned it (`PR_SET_PDEATHSIG`), exits if that
/// thread is already gone (`poll` on its pidfd: the death came before the
/// prctl), closes every descriptor but its two pipe ends (the owner's files,
/// pooled namespaces, the hold pipe's write end, which would keep it blocked
/// forever after its owner's death) and makes itself non-dumpable (no
/// `/proc/<pid>/{mem,fd,exe,…}` for anyone but root in the owner's user
/// namespace).
fn holder(net: bool, report: i32, hold: i32, owner: i32) -> ! {
    // SAFETY: prctl with integer arguments.
    if unsafe {
        libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        )
    } != 0
        || sys::pidfd_exited(owner)
    {
        sys::exit_immediately(1);
    }
    close_all_but([report, hold]);
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    let status: u8 = if net && namespace::loopback_up().is_err() {
        1
    } else {
        0
    };
    let _ = sys::write_all_fd(report, &[status]);
    let mut b = 0u8;
    // SAFETY: reads one byte into a live stack variable; returns at EOF (the
    // pool, the only holder of the other end, closed it or is gone) unless
    // the pool killed us first.
    unsafe { libc::read(hold, (&mut b as *mut u8).cast(), 1) };
    sys::exit_immediately(0)
}

/// Kills and reaps a holder (a clone child with exit_signal 0: needs __WALL).
fn kill_reap(pidfd: BorrowedFd<'_>) {
    let _ = sys::pidfd_send_signal(pidfd, libc::SIGKILL);
    loop {
        // SAFETY: siginfo_t is plain data; waitid fills it.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: P_PIDFD (3) on a live pidfd, valid out-pointer.
        let r = unsafe {
            libc::waitid(
                3,
                pidfd.as_raw_fd() as libc::id_t,
                &mut info,
                libc::WEXITED | libc::__WALL,
            )
        };
        if r == 0 || io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return;
        }
    }
}

fn make_set(kinds: Namespaces) -> Result<PooledNamespaces, Error> {
    let create = |op, source| Error::Create { op, source };
    let (report_r, report_w) = crate::sys::pipe_cloexec().map_err(|e| create("pipe2", e))?;
    let (hold_r, hold_w) = crate::sys::pipe_cloexec().map_err(|e| create("pipe2", e))?;
    let net = kinds.contains(Namespaces::NET);
    let mut pidfd: i32 = -1;
    let mut args = CloneArgs {
        flags: (CloneFlags::PIDFD | CloneFlags::CLEAR_SIGHAND).bits() | kinds.bits() as u64,
        pidfd: &mut pidfd as *mut i32 as u64,
        exit_signal: 0,
        ..CloneArgs::default()
    };
    // The thread that clones the holder: its exit kills the holder.
    let owner = sys::pidfd_open_thread()
        .or_else(|_| sys::pidfd_open(std::process::id() as i32))
        .map_err(|e| create("pidfd_open of the filler", e))?;
    let (rw, hr, ow) = (report_w.as_raw_fd(), hold_r.as_raw_fd(), owner.as_raw_fd());
    let pid = {
        let _block = crate::sys::SignalBlock::new();
        // SAFETY: the holder only makes async-signal-safe system calls on
        // stack data and descriptors, then _exits.
        let r = unsafe { sys::clone3(&mut args) };
        if let Ok(0) = r {
            holder(net, rw, hr, ow);
        }
        r.map_err(|e| create("clone3", e))?
    };
    debug_assert!(pid > 0);
    // SAFETY: CLONE_PIDFD stored a new descriptor owned by us.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    drop(report_w);
    drop(hold_r);
    drop(owner);
    let result = (|| {
        let mut status = [1u8];
        // SAFETY: reads one byte into a live buffer.
        let n = unsafe { libc::read(report_r.as_raw_fd(), status.as_mut_ptr().cast(), 1) };
        if n != 1 || status[0] != 0 {
            return Err(create(
                "bringing lo up in the holder",
                io::Error::from_raw_os_error(libc::EIO),
            ));
        }
        let mut fds = Vec::with_capacity(4);
        for k in kinds.kinds() {
            fds.push(NsFd::from_pidfd(pidfd.as_fd(), k)?);
        }
        Ok(PooledNamespaces {
            kinds,
            fds,
            refill: None,
        })
    })();
    drop(hold_w);
    kill_reap(pidfd.as_fd());
    result
}

#[derive(Debug)]
struct State {
    ready: VecDeque<PooledNamespaces>,
    shutdown: bool,
    made: u64,
    taken: u64,
    last_error: Option<String>,
}

#[derive(Debug)]
struct Shared {
    kinds: Namespaces,
    capacity: usize,
    state: Mutex<State>,
    /// Signalled when a taken set is dropped (the filler refills) or on
    /// shutdown.
    want: Condvar,
    /// Signalled when a set is added.
    added: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A handle that a container configuration keeps on a [`NamespacePool`].
#[derive(Debug, Clone)]
pub struct PoolHandle(Arc<Shared>);

impl PoolHandle {
    /// The kinds the pool holds.
    pub fn kinds(&self) -> Namespaces {
        self.0.kinds
    }

    /// Takes a ready set without waiting (`None` when the pool is empty or
    /// shut down).
    pub fn take(&self) -> Option<PooledNamespaces> {
        let mut s = self.0.lock();
        let mut set = s.ready.pop_front();
        if let Some(set) = &mut set {
            s.taken += 1;
            // The filler is woken when the set is dropped, not now.
            set.refill = Some(self.0.clone());
        }
        set
    }
}

/// An opt-in warm pool of fresh namespaces (see the [module docs](self)).
///
/// Dropping the pool stops its thread and closes every unused set.
#[derive(Debug)]
pub struct NamespacePool {
    handle: PoolHandle,
    filler: Option<JoinHandle<()>>,
}

impl NamespacePool {
    /// Starts a pool that keeps up to `capacity` sets of `kinds` (a subset
    /// of [`POOLABLE`]) ready, made by a background thread.
    ///
    /// # Errors
    ///
    /// [`Error::Kinds`] for `kinds` empty or outside [`POOLABLE`];
    /// [`Error::Thread`] when the filler thread could not be started.
    /// (`capacity` 0 counts as 1.)
    pub fn new(kinds: Namespaces, capacity: usize) -> Result<NamespacePool, Error> {
        check_kinds(kinds)?;
        let capacity = capacity.max(1);
        let shared = Arc::new(Shared {
            kinds,
            capacity,
            state: Mutex::new(State {
                ready: VecDeque::with_capacity(capacity),
                shutdown: false,
                made: 0,
                taken: 0,
                last_error: None,
            }),
            want: Condvar::new(),
            added: Condvar::new(),
        });
        let s = shared.clone();
        let filler = std::thread::Builder::new()
            .name("containment-pool".into())
            .spawn(move || fill(&s))
            .map_err(Error::Thread)?;
        Ok(NamespacePool {
            handle: PoolHandle(shared),
            filler: Some(filler),
        })
    }

    /// The kinds the pool holds.
    pub fn kinds(&self) -> Namespaces {
        self.handle.kinds()
    }

    /// The number of sets ready now.
    pub fn ready(&self) -> usize {
        self.handle.0.lock().ready.len()
    }

    /// Sets made and sets taken so far.
    pub fn counts(&self) -> (u64, u64) {
        let s = self.handle.0.lock();
        (s.made, s.taken)
    }

    /// The last error of the filler thread, if any (it retries after 50 ms).
    pub fn last_error(&self) -> Option<String> {
        self.handle.0.lock().last_error.clone()
    }

    /// Takes a ready set without waiting.
    pub fn take(&self) -> Option<PooledNamespaces> {
        self.handle.take()
    }

    /// Waits until at least `n` sets (at most the capacity) are ready, up to
    /// `timeout`. Returns whether they are.
    pub fn wait_ready(&self, n: usize, timeout: Duration) -> bool {
        let n = n.min(self.handle.0.capacity);
        let deadline = Instant::now() + timeout;
        let mut s = self.handle.0.lock();
        while s.ready.len() < n {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            s = self
                .handle
                .0
                .added
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }

    /// A cloneable handle (what [`crate::Container::namespace_pool`]
    /// keeps).
    pub fn handle(&self) -> PoolHandle {
        self.handle.clone()
    }
}

impl Drop for NamespacePool {
    fn drop(&mut self) {
        {
            let mut s = self.handle.0.lock();
            s.shutdown = true;
            s.ready.clear();
        }
        self.handle.0.want.notify_all();
        if let Some(t) = self.filler.take() {
            let _ = t.join();
        }
        // A set made while shutting down.
        self.handle.0.lock().ready.clear();
    }
}

fn fill(shared: &Shared) {
    // Background work: nice 10 for this thread (and the holders it clones),
    // so a refill yields to the spawns it serves.
    // SAFETY: plain system calls; PRIO_PROCESS with a thread id sets that
    // thread's nice value on Linux.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
    loop {
        {
            let mut s = shared.lock();
            while !s.shutdown && s.ready.len() >= shared.capacity {
                s = shared.want.wait(s).unwrap_or_else(|p| p.into_inner());
            }
            if s.shutdown {
                return;
            }
        }
        match make_set(shared.kinds) {
            Ok(set) => {
                let mut s = shared.lock();
                if s.shutdown {
                    return;
                }
                s.ready.push_back(set);
                s.made += 1;
                shared.added.notify_all();
            }
            Err(e) => {
                let mut s = shared.lock();
                s.last_error = Some(e.to_string());
                if s.shutdown {
                    return;
                }
                let _ = shared
                    .want
                    .wait_timeout(s, Duration::from_millis(50))
                    .unwrap_or_else(|p| p.into_inner());
            }
        }
    }
}
