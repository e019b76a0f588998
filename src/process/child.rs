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
use std::os::fd::RawFd;

/// Ids the program runs as, set last before exec.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IdsPlan {
    pub uid: u32,
    pub gid: u32,
    /// Call `setgroups(0, NULL)` (drop supplementary groups) first.
    pub clear_groups: bool,
}

/// Everything the child needs, prepared by the parent.
#[derive(Debug)]
pub(crate) struct ChildPlan {
    /// Write end of the error pipe (close-on-exec).
    pub err_fd: RawFd,
    /// Namespaces to join first, with `setns(fd, CLONE_NEW*)`: a set taken
    /// from a [`crate::pool::NamespacePool`] (descriptors, close-on-exec).
    pub join: Vec<(RawFd, i32)>,
    /// Read end of the id-map pipe, when a user namespace is new.
    pub sync_fd: Option<RawFd>,
    /// Become uid/gid 0 inside the new user namespace right after the maps.
    pub become_root: bool,
    /// Final ids, set just before exec.
    pub ids: Option<IdsPlan>,
    /// A new time namespace: `Some(offsets text)` (possibly empty).
    pub time: Option<Vec<u8>>,
    pub hostname: Option<Vec<u8>>,
    pub domainname: Option<Vec<u8>>,
    pub mounts: Option<MountPlan>,
    pub loopback: bool,
    pub cwd: Option<CString>,
    /// Descriptors to dup2 onto 0, 1, 2 (`-1`: inherit).
    pub stdio: [RawFd; 3],
    /// Reset every handled signal to SIG_DFL (when clone3's
    /// CLONE_CLEAR_SIGHAND was not available).
    pub reset_handlers: bool,
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

const TIMENS_OFFSETS: &CStr = c"/proc/self/timens_offsets";

fn steps(plan: &ChildPlan) -> Result<Infallible, ChildFailure> {
    // 0. Join pooled namespaces (made in the background, never reused).
    for (i, &(fd, nstype)) in plan.join.iter().enumerate() {
        // SAFETY: plain system call on a descriptor the parent keeps open.
        if unsafe { libc::setns(fd, nstype) } != 0 {
            return Err(ChildFailure {
                step: Step::Setns,
                index: i as u32,
                errno: sys::errno(),
            });
        }
    }
    // 1. Wait until the parent has written the uid/gid maps.
    if let Some(fd) = plan.sync_fd {
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
    }
    // 2. Root inside the new user namespace, for the privileged steps below.
    if plan.become_root {
        set_ids(0, 0, false)?;
    }
    // 3. Time namespace: unshare now, offsets before the first process runs
    //    in it; execve moves us in.
    if let Some(offsets) = &plan.time {
        // SAFETY: plain system call.
        check(
            unsafe { libc::unshare(libc::CLONE_NEWTIME) } as libc::c_long,
            Step::UnshareTime,
        )?;
        if !offsets.is_empty() {
            sys::write_file_raw(TIMENS_OFFSETS, offsets).map_err(|errno| ChildFailure {
                step: Step::TimeOffsets,
                index: 0,
                errno,
            })?;
        }
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
    // 7. Final ids.
    if let Some(ids) = plan.ids {
        set_ids(ids.uid, ids.gid, ids.clear_groups)?;
    }
    // 8. Working directory.
    if let Some(cwd) = &plan.cwd {
        // SAFETY: NUL-terminated path.
        check(
            unsafe { libc::chdir(cwd.as_ptr()) } as libc::c_long,
            Step::Chdir,
        )?;
    }
    // 9. Standard streams. Sources are >= 3 (the parent made sure), so no
    //    dup2 clobbers a later source; dup2 clears close-on-exec on the copy.
    for (target, src) in plan.stdio.iter().enumerate() {
        if *src >= 0 {
            // SAFETY: both are valid descriptor numbers.
            check(
                unsafe { libc::dup2(*src, target as i32) } as libc::c_long,
                Step::Stdio,
            )?;
        }
    }
    // 10. Signals: default dispositions, empty mask.
    reset_signals(plan.reset_handlers)?;
    // 11. Exec, trying each candidate of the PATH search.
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

fn reset_signals(all_handlers: bool) -> Result<(), ChildFailure> {
    // SAFETY: sigaction/sigprocmask on a zeroed (valid) sigaction and sigset;
    // all async-signal-safe.
    unsafe {
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        libc::sigemptyset(&mut dfl.sa_mask);
        if all_handlers {
            for sig in 1..libc::SIGRTMAX() {
                if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                    continue;
                }
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                    && old.sa_sigaction != libc::SIG_DFL
                    && old.sa_sigaction != libc::SIG_IGN
                {
                    libc::sigaction(sig, &dfl, std::ptr::null_mut());
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
