//! Raw system calls that `nix` does not offer: `clone3`, pidfds,
//! `setdomainname`, the new mount API and `openat2` ([`mount_api`]), and the few async-signal-safe helpers the child uses.
//!
//! This is the only layer that knows system call numbers. Everything here is
//! a thin wrapper: it does not allocate (except where documented), and the
//! functions marked for the child are async-signal-safe.

pub mod clone3;
pub mod fdpass;
pub mod mount_api;
pub mod pidfd;

pub use clone3::{
    clone3, clone3_on_stack, clone_legacy, CloneArgs, CloneFlags, HAS_CLONE3_ON_STACK,
};
pub(crate) use pidfd::pidfd_exited;
pub use pidfd::{
    pidfd_exit_status, pidfd_namespace, pidfd_open, pidfd_open_thread, pidfd_send_signal,
    pidfd_wait, WaitFlags,
};

use std::io;

/// The calling thread's `errno`.
#[inline]
pub fn errno() -> i32 {
    // SAFETY: __errno_location always returns a valid pointer to this
    // thread's errno.
    unsafe { *libc::__errno_location() }
}

/// `setdomainname(2)`: sets the NIS domain name of the caller's UTS namespace.
///
/// Async-signal-safe; does not allocate.
///
/// # Errors
///
/// The `setdomainname(2)` errno (`EPERM`, `EINVAL` over 64 bytes).
///
/// # References
/// - [`setdomainname(2)`](https://man7.org/linux/man-pages/man2/setdomainname.2.html)
pub fn setdomainname(name: &[u8]) -> io::Result<()> {
    // SAFETY: the pointer and length describe a live byte slice; the kernel
    // copies at most `len` bytes.
    let r = unsafe { libc::syscall(libc::SYS_setdomainname, name.as_ptr(), name.len()) };
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// `sethostname(2)` on raw bytes (async-signal-safe, no allocation).
///
/// # Errors
///
/// The `sethostname(2)` errno (`EPERM`, `EINVAL` over 64 bytes).
pub fn sethostname(name: &[u8]) -> io::Result<()> {
    // SAFETY: pointer and length describe a live byte slice.
    let r = unsafe { libc::sethostname(name.as_ptr().cast(), name.len()) };
    if r == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Writes all of `buf` to `fd`, retrying on `EINTR` and short writes.
/// Async-signal-safe; returns the errno on failure.
///
/// # Errors
///
/// The `write(2)` errno other than `EINTR`; `EIO` if `write` returns 0.
pub fn write_all_fd(fd: i32, mut buf: &[u8]) -> Result<(), i32> {
    while !buf.is_empty() {
        // SAFETY: buf is a live slice; write reads at most buf.len() bytes.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(libc::EIO);
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// `_exit(2)`: ends the calling process without running destructors or
/// atexit handlers. The only way the child may leave.
pub fn exit_immediately(code: i32) -> ! {
    // SAFETY: _exit never returns and is async-signal-safe.
    unsafe { libc::_exit(code) }
}

/// All signals blocked in the calling thread while alive; the previous mask
/// is restored on drop. Used around `clone` so that no handler of the
/// caller's runs in a child before the child has reset them.
pub(crate) struct SignalBlock {
    old: libc::sigset_t,
}

impl SignalBlock {
    /// Blocks every signal in the calling thread.
    pub(crate) fn new() -> SignalBlock {
        // SAFETY: sigset_t values are initialised by sigfillset/sigprocmask.
        unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
            SignalBlock { old }
        }
    }
}

impl Drop for SignalBlock {
    fn drop(&mut self) {
        // SAFETY: restores the mask saved in new().
        unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &self.old, std::ptr::null_mut()) };
    }
}

/// `/proc/self/mountinfo` in one `read` for a usual table: procfs reports
/// size 0, so `fs::read_to_string` would start with a 32-byte probe and grow
/// (~8 reads for 20 lines). Room for ~300 lines up front.
pub(crate) fn read_mountinfo() -> io::Result<String> {
    use std::io::Read;
    let mut text = String::with_capacity(64 << 10);
    std::fs::File::open("/proc/self/mountinfo")?.read_to_string(&mut text)?;
    Ok(text)
}

/// A pipe with both ends close-on-exec: (read, write).
pub(crate) fn pipe_cloexec() -> io::Result<(std::os::fd::OwnedFd, std::os::fd::OwnedFd)> {
    use std::os::fd::FromRawFd;
    let mut fds = [0i32; 2];
    // SAFETY: fds is a valid out-array of two ints.
    let r = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned two new descriptors that nobody else owns.
    Ok(unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    })
}
