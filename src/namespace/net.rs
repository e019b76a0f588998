//! Network namespace helpers.

use crate::sys;

/// Brings the loopback interface `lo` up in the caller's network namespace,
/// with `SIOCGIFFLAGS`/`SIOCSIFFLAGS` on a datagram socket (no external tool,
/// no netlink). Async-signal-safe: the child calls it between clone and exec.
/// Returns the errno on failure.
///
/// # Errors
///
/// The errno of the failing `socket(2)` or `ioctl(2)` (`EPERM` without
/// `CAP_NET_ADMIN` in the network namespace's owner).
pub fn loopback_up() -> Result<(), i32> {
    // SAFETY: plain system call.
    let sock = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if sock < 0 {
        return Err(sys::errno());
    }
    // SAFETY: ifreq is plain data; zeroed is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, s) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *d = *s as libc::c_char;
    }
    // SAFETY: req is a valid ifreq naming "lo"; the ioctls read/write it.
    let r = unsafe {
        if libc::ioctl(sock, libc::SIOCGIFFLAGS as _, &mut req) < 0 {
            -1
        } else {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            libc::ioctl(sock, libc::SIOCSIFFLAGS as _, &req)
        }
    };
    let err = if r < 0 { Some(sys::errno()) } else { None };
    // SAFETY: sock was opened above and is closed once.
    unsafe { libc::close(sock) };
    match err {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
