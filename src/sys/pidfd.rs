//! Process file descriptors: `pidfd_open`, `pidfd_send_signal`,
//! `waitid(P_PIDFD)` and the `PIDFD_GET_*_NAMESPACE` ioctls.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

const P_PIDFD: libc::idtype_t = 3;

/// `pidfd_open(2)`: a pidfd (close-on-exec) for an existing process.
///
/// # References
/// - [`pidfd_open(2)`](https://man7.org/linux/man-pages/man2/pidfd_open.2.html)
pub fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: plain system call with integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r as i32) })
}

/// `pidfd_send_signal(2)`: sends `sig` to the process the pidfd refers to.
/// Never reaches a recycled pid. `sig` 0 only checks that the process exists.
///
/// # References
/// - [`pidfd_send_signal(2)`](https://man7.org/linux/man-pages/man2/pidfd_send_signal.2.html)
pub fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: i32) -> io::Result<()> {
    // SAFETY: null siginfo is allowed (the kernel fills one like kill(2)).
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

bitflags::bitflags! {
    /// Extra flags for [`pidfd_wait`] (`WEXITED` is always set).
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub struct WaitFlags: i32 {
        /// Return at once if the child has not changed state.
        const NOHANG = libc::WNOHANG;
        /// Leave the child waitable (peek at its state).
        const NOWAIT = libc::WNOWAIT;
    }
}

/// `waitid(P_PIDFD, pidfd, …, WEXITED)`: waits for the process and returns
/// its wait status (the `int` that `waitpid` would give), or `None` with
/// [`WaitFlags::NOHANG`] when it is still running. Retries on `EINTR`.
///
/// # References
/// - [`waitid(2)`](https://man7.org/linux/man-pages/man2/waitid.2.html)
pub fn pidfd_wait(pidfd: BorrowedFd<'_>, flags: WaitFlags) -> io::Result<Option<i32>> {
    loop {
        // SAFETY: siginfo_t is plain data; zeroed is a valid value.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: info is a valid out-pointer; the id is a pidfd.
        let r = unsafe {
            libc::waitid(
                P_PIDFD,
                pidfd.as_raw_fd() as libc::id_t,
                &mut info,
                libc::WEXITED | flags.bits(),
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        // SAFETY: waitid filled a SIGCHLD siginfo; the accessors read its
        // union fields.
        let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
        if pid == 0 {
            return Ok(None);
        }
        let raw = match info.si_code {
            libc::CLD_EXITED => (status & 0xff) << 8,
            libc::CLD_KILLED => status & 0x7f,
            libc::CLD_DUMPED => (status & 0x7f) | 0x80,
            libc::CLD_STOPPED | libc::CLD_TRAPPED => ((status & 0xff) << 8) | 0x7f,
            libc::CLD_CONTINUED => 0xffff,
            _ => status,
        };
        return Ok(Some(raw));
    }
}

/// The namespace kinds the `PIDFD_GET_*_NAMESPACE` ioctls know (Linux 6.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum PidfdNs {
    Cgroup = 1,
    Ipc = 2,
    Mnt = 3,
    Net = 4,
    Pid = 5,
    PidForChildren = 6,
    Time = 7,
    TimeForChildren = 8,
    User = 9,
    Uts = 10,
}

/// `ioctl(pidfd, PIDFD_GET_<kind>_NAMESPACE)`: a descriptor of the process's
/// namespace (Linux 6.11+; `ENOTTY` or `EINVAL` before).
pub fn pidfd_namespace(pidfd: BorrowedFd<'_>, kind: PidfdNs) -> io::Result<OwnedFd> {
    let req = (0xFFu64 << 8) | kind as u64; // _IO(PIDFS_IOCTL_MAGIC, nr)
                                            // SAFETY: these ioctls take no argument and return a new descriptor.
    let r = unsafe { libc::ioctl(pidfd.as_raw_fd(), req as _, 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor (O_CLOEXEC) nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}
