//! Terminals: a pseudo-terminal for the container's program, its window
//! size, and the descriptor passing an OCI runtime's `--console-socket`
//! needs.
//!
//! [`Command::pty`](crate::Command::pty) gives the
//! program a new session (`setsid(2)`) whose controlling terminal is the
//! replica side of a new pty, connected to every standard stream the
//! command leaves unset; the caller gets the primary side as a [`Pty`]
//! from [`Child::pty`](crate::Child::pty) / [`Child::take_pty`](crate::Child::take_pty).
//!
//! Where the pty comes from:
//! - when the container mounts a devpts instance of its own (the minimal
//!   `/dev` of [`Rootfs`](crate::mount::Rootfs), or
//!   [`Mount::devpts`](crate::mount::Mount::devpts)), the child opens that
//!   instance's `ptmx` after the mounts, so that `tty` inside names a
//!   device of the container (`/dev/pts/0`), and sends the primary back
//!   over a socket pair (`SCM_RIGHTS`), as runc and crun do with their
//!   console socket;
//! - otherwise the parent opens the host's `/dev/ptmx`.
//!
//! # References
//! - [`pty(7)`](https://man7.org/linux/man-pages/man7/pty.7.html),
//!   [`ioctl_tty(2)`](https://man7.org/linux/man-pages/man2/ioctl_tty.2.html)
//!   (`TIOCSWINSZ`, `TIOCSCTTY`, `TIOCGPTPEER`, `TIOCSPTLCK`),
//!   [`unix(7)`](https://man7.org/linux/man-pages/man7/unix.7.html) (`SCM_RIGHTS`)
//! - Linux `Documentation/filesystems/devpts.rst` (`newinstance`, `ptmxmode`)

use std::ffi::CString;
use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;

/// A terminal's window size in character cells (`struct winsize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WindowSize {
    /// Rows (lines).
    pub rows: u16,
    /// Columns.
    pub cols: u16,
}

impl WindowSize {
    /// `rows` × `cols` cells.
    pub fn new(rows: u16, cols: u16) -> WindowSize {
        WindowSize { rows, cols }
    }

    pub(crate) fn to_raw(self) -> libc::winsize {
        libc::winsize {
            ws_row: self.rows,
            ws_col: self.cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        }
    }

    /// The window size of the terminal on `fd` (`TIOCGWINSZ`), e.g. the
    /// caller's own terminal, to start a container's pty at the same size.
    ///
    /// # Errors
    /// The `ioctl(2)` errno: `ENOTTY` when `fd` is not a terminal.
    ///
    /// # References
    /// - [`ioctl_tty(2)`](https://man7.org/linux/man-pages/man2/ioctl_tty.2.html)
    pub fn of(fd: BorrowedFd<'_>) -> io::Result<WindowSize> {
        // SAFETY: a zeroed winsize is valid; TIOCGWINSZ writes one.
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: ws is a live winsize, the size TIOCGWINSZ writes.
        if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(WindowSize {
            rows: ws.ws_row,
            cols: ws.ws_col,
        })
    }

    /// Sets the window size of the terminal on `fd` (`TIOCSWINSZ`); the
    /// kernel sends `SIGWINCH` to its foreground process group when it
    /// changes.
    ///
    /// # Errors
    /// The `ioctl(2)` errno: `ENOTTY` when `fd` is not a terminal.
    ///
    /// # References
    /// - [`ioctl_tty(2)`](https://man7.org/linux/man-pages/man2/ioctl_tty.2.html)
    pub fn apply(self, fd: BorrowedFd<'_>) -> io::Result<()> {
        let ws = self.to_raw();
        // SAFETY: ws is a live winsize, the size TIOCSWINSZ reads.
        if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

/// The primary ("master") side of a pseudo-terminal: what the program
/// writes to its terminal is read here, what is written here is its
/// keyboard input (`\x03` is Ctrl-C: `SIGINT` to its foreground process
/// group, with the default line discipline).
///
/// Reading returns `EIO` (an [`io::Error`]) once every descriptor of the
/// replica side is closed (the program and all it started have exited).
#[derive(Debug)]
pub struct Pty {
    primary: File,
}

impl Pty {
    /// Opens a new pty on the host's `/dev/ptmx` (unlocked, at `size`):
    /// the primary and a descriptor of the replica (`TIOCGPTPEER`, which
    /// opens no path), both close-on-exec and without making either the
    /// caller's controlling terminal (`O_NOCTTY`).
    ///
    /// # Errors
    /// The errno of `open(2)` or `ioctl(2)` (`ENOSPC`: the devpts instance's
    /// `max` or `/proc/sys/kernel/pty/max` is reached; `ENOTTY`/`EINVAL`
    /// on kernels before 4.13, which lack `TIOCGPTPEER`).
    ///
    /// # References
    /// - [`pty(7)`](https://man7.org/linux/man-pages/man7/pty.7.html),
    ///   [`ioctl_tty(2)`](https://man7.org/linux/man-pages/man2/ioctl_tty.2.html)
    pub fn open(size: Option<WindowSize>) -> io::Result<(Pty, OwnedFd)> {
        let primary = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open("/dev/ptmx")?;
        let fd = primary.as_raw_fd();
        unlock(fd).map_err(io::Error::from_raw_os_error)?;
        if let Some(s) = size {
            s.apply(primary.as_fd())?;
        }
        let replica = peer(fd).map_err(io::Error::from_raw_os_error)?;
        // SAFETY: a new descriptor owned by nobody else.
        let replica = unsafe { OwnedFd::from_raw_fd(replica) };
        Ok((Pty { primary }, replica))
    }

    /// A [`Pty`] on a primary descriptor received from elsewhere (for
    /// example with [`recv_fd`] from an OCI runtime's console socket).
    pub fn from_primary(fd: OwnedFd) -> Pty {
        Pty {
            primary: File::from(fd),
        }
    }

    /// Sets the window size (`TIOCSWINSZ` on the primary): the program's
    /// foreground process group gets `SIGWINCH` when it changes.
    ///
    /// # Errors
    /// The `ioctl(2)` errno.
    ///
    /// # References
    /// - [`ioctl_tty(2)`](https://man7.org/linux/man-pages/man2/ioctl_tty.2.html)
    pub fn resize(&self, size: WindowSize) -> io::Result<()> {
        size.apply(self.primary.as_fd())
    }

    /// The current window size (`TIOCGWINSZ`).
    ///
    /// # Errors
    /// The `ioctl(2)` errno.
    pub fn size(&self) -> io::Result<WindowSize> {
        WindowSize::of(self.primary.as_fd())
    }

    /// Another descriptor of the same primary (`F_DUPFD_CLOEXEC`), e.g. one
    /// for a thread that copies input while another copies output.
    ///
    /// # Errors
    /// The `fcntl(2)` errno (`EMFILE`).
    pub fn try_clone(&self) -> io::Result<Pty> {
        Ok(Pty {
            primary: self.primary.try_clone()?,
        })
    }

    /// The primary descriptor.
    pub fn into_fd(self) -> OwnedFd {
        self.primary.into()
    }
}

use std::os::unix::fs::OpenOptionsExt;

impl AsFd for Pty {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.primary.as_fd()
    }
}

impl AsRawFd for Pty {
    fn as_raw_fd(&self) -> RawFd {
        self.primary.as_raw_fd()
    }
}

impl IntoRawFd for Pty {
    fn into_raw_fd(self) -> RawFd {
        self.primary.into_raw_fd()
    }
}

impl From<Pty> for OwnedFd {
    fn from(p: Pty) -> OwnedFd {
        p.into_fd()
    }
}

impl Read for Pty {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.primary.read(buf)
    }
}

impl Read for &Pty {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.primary).read(buf)
    }
}

impl Write for Pty {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.primary.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Write for &Pty {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&self.primary).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Sends one descriptor over a unix socket (`sendmsg(2)` with an
/// `SCM_RIGHTS` control message and one data byte), as an OCI runtime
/// sends a console's primary to the `--console-socket` of
/// `runc create`/`crun create`. The receiver gets its own descriptor of the
/// same open file.
///
/// # Errors
/// The `sendmsg(2)` errno (`EPIPE` when the peer is gone).
///
/// # References
/// - [`unix(7)`](https://man7.org/linux/man-pages/man7/unix.7.html),
///   [`cmsg(3)`](https://man7.org/linux/man-pages/man3/cmsg.3.html)
/// - runtime-spec `runtime.md` / runc `docs/terminals.md` (the console socket)
pub fn send_fd(sock: &UnixStream, fd: BorrowedFd<'_>) -> io::Result<()> {
    send_fd_raw(sock.as_raw_fd(), fd.as_raw_fd()).map_err(io::Error::from_raw_os_error)
}

/// Receives one descriptor sent with [`send_fd`] (or by runc/crun on a
/// console socket): `recvmsg(2)` with room for one `SCM_RIGHTS` descriptor,
/// received close-on-exec (`MSG_CMSG_CLOEXEC`). Blocks until a message
/// arrives (unless the socket is non-blocking).
///
/// # Errors
/// The `recvmsg(2)` errno; `UnexpectedEof` when the peer closed without
/// sending; `InvalidData` when the message carried no descriptor (any
/// extra descriptors are closed).
///
/// # References
/// - [`unix(7)`](https://man7.org/linux/man-pages/man7/unix.7.html),
///   [`cmsg(3)`](https://man7.org/linux/man-pages/man3/cmsg.3.html)
pub fn recv_fd(sock: &UnixStream) -> io::Result<OwnedFd> {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let mut byte = [0u8; 64];
    let mut iov = [IoSliceMut::new(&mut byte)];
    let mut space = nix::cmsg_space!([RawFd; 4]);
    let msg = loop {
        match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Err(nix::errno::Errno::EINTR) => continue,
            r => break r.map_err(io::Error::from)?,
        }
    };
    let mut got: Option<OwnedFd> = None;
    let mut any = false;
    for c in msg.cmsgs().map_err(io::Error::from)? {
        if let ControlMessageOwned::ScmRights(fds) = c {
            for fd in fds {
                any = true;
                // SAFETY: the kernel installed these descriptors for us.
                let owned = unsafe { OwnedFd::from_raw_fd(fd) };
                if got.is_none() {
                    got = Some(owned);
                }
            }
        }
    }
    match got {
        Some(fd) => Ok(fd),
        None if msg.bytes == 0 && !any => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "the peer closed the socket without sending a descriptor",
        )),
        None => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "the message carried no descriptor",
        )),
    }
}

// ---- Pieces shared with the child (no allocation, raw system calls). ----

/// `TIOCSPTLCK` 0: unlock the replica of a new primary.
fn unlock(primary: RawFd) -> Result<(), i32> {
    let zero: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads one int from a live local.
    if unsafe { libc::ioctl(primary, libc::TIOCSPTLCK, &zero) } != 0 {
        return Err(crate::sys::errno());
    }
    Ok(())
}

/// `TIOCGPTPEER`: a descriptor of the replica, opened through the primary
/// (no path lookup, so it is the replica of *this* devpts instance).
fn peer(primary: RawFd) -> Result<RawFd, i32> {
    // SAFETY: TIOCGPTPEER takes open flags as an integer argument.
    let r = unsafe {
        libc::ioctl(
            primary,
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if r < 0 {
        return Err(crate::sys::errno());
    }
    Ok(r)
}

/// `sendmsg(2)` of one descriptor with one data byte; the control buffer
/// on the stack (the child calls this between clone and exec).
pub(crate) fn send_fd_raw(sock: RawFd, fd: RawFd) -> Result<(), i32> {
    #[repr(C, align(8))]
    struct Cmsg([u8; 64]);
    let mut buf = Cmsg([0; 64]);
    let byte = [0u8; 1];
    let iov = [IoSlice::new(&byte)];
    // SAFETY: CMSG_SPACE/CMSG_LEN are arithmetic.
    let (space, len) = unsafe {
        (
            libc::CMSG_SPACE(std::mem::size_of::<RawFd>() as u32) as usize,
            libc::CMSG_LEN(std::mem::size_of::<RawFd>() as u32) as usize,
        )
    };
    // SAFETY: a zeroed msghdr is valid; the pointers set below point to
    // live locals (iov, buf) of the lengths given; CMSG_FIRSTHDR returns a
    // pointer into buf (space <= 64 bytes), aligned by Cmsg's alignment.
    unsafe {
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
        msg.msg_iovlen = 1;
        msg.msg_control = buf.0.as_mut_ptr().cast();
        msg.msg_controllen = space as _;
        let c = libc::CMSG_FIRSTHDR(&msg);
        if c.is_null() {
            return Err(libc::EINVAL);
        }
        (*c).cmsg_level = libc::SOL_SOCKET;
        (*c).cmsg_type = libc::SCM_RIGHTS;
        (*c).cmsg_len = len as _;
        std::ptr::write_unaligned(libc::CMSG_DATA(c) as *mut RawFd, fd);
        loop {
            let r = libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL);
            if r >= 0 {
                return Ok(());
            }
            let e = crate::sys::errno();
            if e != libc::EINTR {
                return Err(e);
            }
        }
    }
}

/// A pty the child opens from the container's devpts, after the mounts.
#[derive(Debug)]
pub(crate) struct PtyOpen {
    /// The instance's `ptmx` inside the container (`/dev/pts/ptmx`).
    pub ptmx: CString,
    /// The child's end of the socket pair the primary goes back on.
    pub sock: RawFd,
    pub size: Option<libc::winsize>,
}

/// The terminal the child sets up (see [`crate::process`]'s steps).
#[derive(Debug)]
pub(crate) struct PtyPlan {
    /// Which of 0, 1, 2 are the replica.
    pub streams: [bool; 3],
    /// The replica the parent opened (host pty), above the child's dup2
    /// targets; `-1` when the child opens the pty itself.
    pub replica: RawFd,
    /// The child opens the pty itself.
    pub open: Option<PtyOpen>,
}

/// `DEVPTS_SUPER_MAGIC` (`statfs(2)`).
const DEVPTS_SUPER_MAGIC: i64 = 0x1cd1;

/// Item numbers of [`crate::Step::Terminal`].
pub(crate) mod item {
    pub const OPEN: u32 = 0;
    pub const NOT_DEVPTS: u32 = 1;
    pub const UNLOCK: u32 = 2;
    pub const WINSIZE: u32 = 3;
    pub const PEER: u32 = 4;
    pub const STDIO: u32 = 5;
    pub const SEND: u32 = 6;
    pub const CTTY: u32 = 7;
    pub const LIFT: u32 = 8;
}

/// Closes `fd` (the child's own descriptors).
fn close(fd: RawFd) {
    // SAFETY: a descriptor this code opened.
    unsafe { libc::close(fd) };
}

/// Moves a descriptor out of 0..=2 (which the child dup2s the replica onto).
fn above_stdio(fd: RawFd) -> Result<RawFd, (u32, i32)> {
    if fd > 2 {
        return Ok(fd);
    }
    // SAFETY: F_DUPFD_CLOEXEC on a live descriptor.
    let r = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
    let e = crate::sys::errno();
    close(fd);
    if r < 0 {
        return Err((item::LIFT, e));
    }
    Ok(r)
}

/// In the child, after the mounts: opens the container's `ptmx` (no
/// symlink followed; it must be on a devpts), unlocks it, sets the size,
/// opens the replica through it, dup2s the replica onto the chosen
/// streams, sends the primary over the socket and closes it. Returns the
/// replica (for `TIOCSCTTY`). Errors: (item, errno).
pub(crate) fn open_in_child(o: &PtyOpen, streams: [bool; 3]) -> Result<RawFd, (u32, i32)> {
    let fail = |i: u32| (i, crate::sys::errno());
    let m = crate::sys::mount_api::openat2(
        None,
        &o.ptmx,
        libc::O_RDWR | libc::O_NOCTTY,
        libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS,
    )
    .map_err(|e| (item::OPEN, e.raw_os_error().unwrap_or(libc::EIO)))?
    .into_raw_fd();
    let m = above_stdio(m)?;
    // SAFETY: a zeroed statfs is valid; fstatfs fills it.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: st is a live statfs.
    if unsafe { libc::fstatfs(m, &mut st) } != 0 {
        let e = fail(item::NOT_DEVPTS);
        close(m);
        return Err(e);
    }
    if st.f_type as i64 != DEVPTS_SUPER_MAGIC {
        close(m);
        return Err((item::NOT_DEVPTS, libc::ENOTTY));
    }
    let r = (|| {
        unlock(m).map_err(|e| (item::UNLOCK, e))?;
        if let Some(ws) = &o.size {
            // SAFETY: ws is a live winsize.
            if unsafe { libc::ioctl(m, libc::TIOCSWINSZ, ws as *const libc::winsize) } != 0 {
                return Err(fail(item::WINSIZE));
            }
        }
        let r = peer(m).map_err(|e| (item::PEER, e))?;
        let r = above_stdio(r)?;
        for (target, on) in streams.iter().enumerate() {
            // SAFETY: valid descriptor numbers.
            if *on && unsafe { libc::dup2(r, target as i32) } < 0 {
                let e = fail(item::STDIO);
                close(r);
                return Err(e);
            }
        }
        if let Err(e) = send_fd_raw(o.sock, m) {
            close(r);
            return Err((item::SEND, e));
        }
        Ok(r)
    })();
    close(m);
    close(o.sock);
    r
}

/// In the child: `TIOCSCTTY` on the replica (the caller is a session
/// leader without a controlling terminal), then closes that descriptor.
pub(crate) fn make_controlling(replica: RawFd) -> Result<(), (u32, i32)> {
    // SAFETY: TIOCSCTTY takes an integer (0: do not steal).
    let r = unsafe { libc::ioctl(replica, libc::TIOCSCTTY, 0) };
    let e = crate::sys::errno();
    close(replica);
    if r != 0 {
        return Err((item::CTTY, e));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_descriptor_crosses_a_socket_pair() {
        let (a, b) = UnixStream::pair().unwrap();
        let f = File::open("/dev/null").unwrap();
        send_fd(&a, f.as_fd()).unwrap();
        let got = recv_fd(&b).unwrap();
        let ino = |fd: RawFd| {
            // SAFETY: zeroed stat, fstat fills it.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            // SAFETY: as above.
            assert_eq!(unsafe { libc::fstat(fd, &mut st) }, 0);
            (st.st_dev, st.st_ino)
        };
        assert_eq!(ino(got.as_raw_fd()), ino(f.as_raw_fd()));
        assert_ne!(got.as_raw_fd(), f.as_raw_fd());
        // SAFETY: F_GETFD on a live descriptor.
        let flags = unsafe { libc::fcntl(got.as_raw_fd(), libc::F_GETFD) };
        assert_eq!(flags & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
        drop(a);
        assert_eq!(
            recv_fd(&b).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    }

    #[test]
    fn a_host_pty_has_the_size_it_was_given() {
        let (p, r) = Pty::open(Some(WindowSize::new(33, 111))).unwrap();
        assert_eq!(p.size().unwrap(), WindowSize::new(33, 111));
        assert_eq!(WindowSize::of(r.as_fd()).unwrap(), WindowSize::new(33, 111));
        p.resize(WindowSize::new(10, 20)).unwrap();
        assert_eq!(WindowSize::of(r.as_fd()).unwrap(), WindowSize::new(10, 20));
        let mut w = File::from(r);
        w.write_all(b"hi").unwrap();
        let mut b = [0u8; 8];
        let n = (&p).read(&mut b).unwrap();
        assert_eq!(&b[..n], b"hi");
    }
}
