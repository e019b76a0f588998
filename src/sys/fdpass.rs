//! Passing descriptors over a Unix socket (`SCM_RIGHTS`): the parent sends
//! the child the idmapped mount trees it made after clone, with the byte
//! that releases it.
//!
//! # References
//! - [`unix(7)`](https://man7.org/linux/man-pages/man7/unix.7.html), "Ancillary messages"
//! - [`cmsg(3)`](https://man7.org/linux/man-pages/man3/cmsg.3.html)

use std::io;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Most descriptors one message carries here.
pub const MAX_FDS: usize = 16;

/// Room for a control message of [`MAX_FDS`] descriptors, aligned for
/// `cmsghdr`.
#[repr(C, align(8))]
struct CmsgBuf([u8; 128]);

/// `socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC)`.
///
/// # Errors
/// The errno of `socketpair(2)`.
pub fn socketpair_cloexec() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds is a live array of two ints.
    let r = unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: two new descriptors owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// `sendmsg(2)` of one byte with `fds` attached (`SCM_RIGHTS`).
///
/// # Errors
/// `EINVAL` for more than [`MAX_FDS`] descriptors; the errno of `sendmsg`.
pub fn send_byte_with_fds(
    sock: BorrowedFd<'_>,
    byte: u8,
    fds: &[BorrowedFd<'_>],
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    if fds.len() > MAX_FDS {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let mut data = [byte];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut cbuf = CmsgBuf([0; 128]);
    // SAFETY: a zeroed msghdr is valid; the pointers set below are live.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    if !fds.is_empty() {
        let len = std::mem::size_of_val(fds) as u32;
        // SAFETY: CMSG_SPACE/CMSG_LEN are pure computations.
        let space = unsafe { libc::CMSG_SPACE(len) } as usize;
        msg.msg_control = cbuf.0.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        // SAFETY: the control buffer holds `space` bytes (<= 128 for
        // MAX_FDS ints); CMSG_FIRSTHDR points into it.
        unsafe {
            let c = libc::CMSG_FIRSTHDR(&msg);
            (*c).cmsg_level = libc::SOL_SOCKET;
            (*c).cmsg_type = libc::SCM_RIGHTS;
            (*c).cmsg_len = libc::CMSG_LEN(len) as _;
            let p = libc::CMSG_DATA(c).cast::<RawFd>();
            for (i, f) in fds.iter().enumerate() {
                p.add(i).write_unaligned(f.as_raw_fd());
            }
        }
    }
    loop {
        // SAFETY: msg points to live buffers for the call.
        let n = unsafe { libc::sendmsg(sock.as_raw_fd(), &msg, libc::MSG_NOSIGNAL) };
        if n == 1 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if n < 0 && e.raw_os_error() == Some(libc::EINTR) {
            continue;
        }
        return Err(if n < 0 {
            e
        } else {
            io::Error::from_raw_os_error(libc::EIO)
        });
    }
}

/// Child side: `recvmsg(2)` of one byte and up to [`MAX_FDS`] descriptors
/// (`MSG_CMSG_CLOEXEC`) into `out`; returns how many arrived. No
/// allocation; async-signal-safe.
///
/// # Errors
/// The errno; `EPIPE` at EOF (the parent gave up).
pub fn recv_byte_with_fds(sock: RawFd, out: &mut [RawFd; MAX_FDS]) -> Result<usize, i32> {
    let mut data = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: 1,
    };
    let mut cbuf = CmsgBuf([0; 128]);
    loop {
        // SAFETY: a zeroed msghdr is valid; the pointers set are live.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = cbuf.0.as_mut_ptr().cast();
        msg.msg_controllen = cbuf.0.len() as _;
        // SAFETY: msg points to live buffers for the call.
        let n = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n < 0 {
            let e = super::errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(libc::EPIPE);
        }
        let mut got = 0;
        // SAFETY: the CMSG_* walk stays inside msg_control as the kernel
        // filled it (msg_controllen); each SCM_RIGHTS payload holds ints.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                    let bytes = (*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                    let p = libc::CMSG_DATA(c).cast::<RawFd>();
                    for i in 0..bytes / std::mem::size_of::<RawFd>() {
                        let fd = p.add(i).read_unaligned();
                        if got < MAX_FDS {
                            out[got] = fd;
                            got += 1;
                        } else {
                            libc::close(fd);
                        }
                    }
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        if msg.msg_flags & libc::MSG_CTRUNC != 0 {
            return Err(libc::EMSGSIZE);
        }
        return Ok(got);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsFd, AsRawFd};

    #[test]
    fn fds_cross_a_socketpair() {
        let (a, b) = socketpair_cloexec().unwrap();
        let f = std::fs::File::open("/dev/null").unwrap();
        let g = std::fs::File::open("/proc/self/stat").unwrap();
        send_byte_with_fds(a.as_fd(), b'1', &[f.as_fd(), g.as_fd()]).unwrap();
        let mut out = [-1; MAX_FDS];
        assert_eq!(recv_byte_with_fds(b.as_raw_fd(), &mut out), Ok(2));
        for (fd, want) in out[..2].iter().zip(["/dev/null", "/proc/"]) {
            let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).unwrap();
            assert!(link.to_string_lossy().starts_with(want), "{link:?}");
            // SAFETY: received descriptors are ours.
            drop(unsafe { OwnedFd::from_raw_fd(*fd) });
        }
        send_byte_with_fds(a.as_fd(), b'1', &[]).unwrap();
        assert_eq!(recv_byte_with_fds(b.as_raw_fd(), &mut out), Ok(0));
        drop(a);
        assert_eq!(
            recv_byte_with_fds(b.as_raw_fd(), &mut out),
            Err(libc::EPIPE)
        );
    }
}
