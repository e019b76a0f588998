//! Process file descriptors: `pidfd_open`, `pidfd_send_signal`,
//! `waitid(P_PIDFD)` and the `PIDFD_GET_*_NAMESPACE` ioctls.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

const P_PIDFD: libc::idtype_t = 3;

/// `pidfd_open(2)`: a pidfd (close-on-exec) for an existing process.
///
/// # Errors
///
/// The `pidfd_open(2)` errno (`ESRCH`: no such process; `ENOSYS` before
/// Linux 5.3).
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
/// # Errors
///
/// The `pidfd_send_signal(2)` errno (`ESRCH`: exited; `EPERM`; `EINVAL`).
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
/// # Errors
///
/// The `waitid(2)` errno (`ECHILD`: not our child, or reaped already).
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
#[allow(missing_docs, dead_code)]
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
///
/// # Errors
///
/// The `ioctl(2)` errno (`ENOTTY`/`EINVAL` before Linux 6.11, `ESRCH`:
/// exited, `EOPNOTSUPP`: the kind is not supported).
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

/// `pidfd_open(gettid(), PIDFD_THREAD)`: a pidfd (close-on-exec) of the
/// calling **thread** (Linux 6.9; `EINVAL` before). `poll(2)` on it reports
/// when that thread exits, which is when a `PR_SET_PDEATHSIG` of a child it
/// cloned fires.
///
/// # Errors
///
/// The `pidfd_open(2)` errno (`EINVAL` before Linux 6.9, where
/// `PIDFD_THREAD` is unknown).
///
/// # References
/// - [`pidfd_open(2)`](https://man7.org/linux/man-pages/man2/pidfd_open.2.html)
pub fn pidfd_open_thread() -> io::Result<OwnedFd> {
    const PIDFD_THREAD: libc::c_long = libc::O_EXCL as libc::c_long;
    // SAFETY: plain system calls with integer arguments.
    let r = unsafe {
        let tid = libc::syscall(libc::SYS_gettid);
        libc::syscall(libc::SYS_pidfd_open, tid, PIDFD_THREAD)
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r as i32) })
}

/// Whether the process (or thread, for a `PIDFD_THREAD` descriptor) behind
/// `pidfd` has exited: `poll(2)` with a zero timeout, `POLLIN` meaning
/// exited (a zombie counts), from any PID namespace. Any other answer of
/// poll (an error, `POLLNVAL`) counts as exited: the conservative answer
/// for a process that must not outlive another. Async-signal-safe, for use
/// between clone and exec.
pub(crate) fn pidfd_exited(pidfd: std::os::fd::RawFd) -> bool {
    let mut p = libc::pollfd {
        fd: pidfd,
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        // SAFETY: one valid pollfd on the stack; zero timeout.
        let r = unsafe { libc::poll(&mut p, 1, 0) };
        if r < 0 && crate::sys::errno() == libc::EINTR {
            continue;
        }
        return r != 0;
    }
}

/// `struct pidfd_info` up to `exit_code` (`PIDFD_INFO_SIZE_VER0`, 64 bytes,
/// `include/uapi/linux/pidfd.h` of Linux 6.15).
#[repr(C)]
#[derive(Default)]
struct PidfdInfo {
    mask: u64,
    cgroupid: u64,
    pid: u32,
    tgid: u32,
    ppid: u32,
    ruid: u32,
    rgid: u32,
    euid: u32,
    egid: u32,
    suid: u32,
    sgid: u32,
    fsuid: u32,
    fsgid: u32,
    exit_code: i32,
}

const PIDFD_INFO_EXIT: u64 = 1 << 3;
/// `_IOWR(PIDFS_IOCTL_MAGIC, 11, struct pidfd_info)` with the 64-byte size.
const PIDFD_GET_INFO: u64 =
    (3 << 30) | ((std::mem::size_of::<PidfdInfo>() as u64) << 16) | (0xFF << 8) | 11;

/// `ioctl(pidfd, PIDFD_GET_INFO)` with `PIDFD_INFO_EXIT` (Linux 6.15): the
/// wait status of a process that has exited **and been reaped**, also when
/// someone else reaped it (a `waitpid(-1)` elsewhere, or `SIGCHLD` set to
/// `SIG_IGN`, which reaps at once). `Ok(None)`: the kernel has no exit
/// information (yet) for it; `Err` with `ENOTTY`/`EINVAL`: a kernel before
/// 6.13 (no `PIDFD_GET_INFO`); a 6.13/6.14 kernel answers without the
/// `PIDFD_INFO_EXIT` bit, which is `Ok(None)` too.
///
/// # Errors
///
/// The `ioctl(2)` errno other than "not supported" (which is `Ok(None)`).
///
/// # References
/// - [`pidfd_open(2)`](https://man7.org/linux/man-pages/man2/pidfd_open.2.html),
///   `include/uapi/linux/pidfd.h`
pub fn pidfd_exit_status(pidfd: BorrowedFd<'_>) -> io::Result<Option<i32>> {
    let mut info = PidfdInfo {
        mask: PIDFD_INFO_EXIT,
        ..PidfdInfo::default()
    };
    // SAFETY: the ioctl writes at most size_of::<PidfdInfo>() bytes (encoded
    // in the request) into a live struct.
    let r = unsafe { libc::ioctl(pidfd.as_raw_fd(), PIDFD_GET_INFO as _, &mut info) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok((info.mask & PIDFD_INFO_EXIT != 0).then_some(info.exit_code))
}

#[cfg(test)]
mod tests {
    #[test]
    fn pidfd_info_is_ver0() {
        assert_eq!(std::mem::size_of::<super::PidfdInfo>(), 64);
        assert_eq!(super::PIDFD_GET_INFO, 0xc040_ff0b);
    }
}
