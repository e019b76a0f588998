//! Waiting for a [`Child`] as a future (feature `tokio`).
//!
//! A pidfd becomes readable when its process exits. The future registers the
//! pidfd with tokio's reactor ([`tokio::io::unix::AsyncFd`], i.e. epoll) and,
//! each time it is woken, reaps with `waitid(P_PIDFD, WNOHANG)`. No thread
//! is started per child and no `SIGCHLD` handler is installed, so one
//! runtime thread can supervise thousands of containers.

use super::Child;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

/// A borrowed pidfd that tokio can register (it needs `AsRawFd`; the borrow
/// keeps the `Child` — and so the descriptor — alive while registered).
struct PidfdRef<'a>(BorrowedFd<'a>);

impl AsRawFd for PidfdRef<'_> {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

impl Child {
    /// Waits for the child to exit without blocking the runtime thread, and
    /// returns its status. Closes the child's stdin first, like
    /// [`Child::wait`].
    ///
    /// Registers the pidfd with the tokio reactor
    /// (`epoll_ctl(EPOLL_CTL_ADD, pidfd, EPOLLIN)`); when it becomes readable
    /// the child has exited and is reaped with
    /// `waitid(P_PIDFD, pidfd, WEXITED | WNOHANG)`.
    ///
    /// # Panics
    ///
    /// Like every tokio IO resource, panics when polled outside a tokio
    /// runtime, or in one built without its IO driver (`enable_io()` or
    /// `enable_all()`). The child is left running and unreaped then.
    ///
    /// ```no_run
    /// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
    /// let mut child = containment::Container::new()
    ///     .command("/bin/sleep")
    ///     .args(["1"])
    ///     .spawn()?;
    /// let status = child.wait_async().await?;
    /// assert!(status.success());
    /// # Ok(()) }
    /// ```
    ///
    /// Cancel-safe: dropping the future before it completes leaves the child
    /// running and unreaped, and a later `wait_async`, [`Child::wait`] or
    /// [`Child::try_wait`] still returns its status.
    ///
    /// # Errors
    ///
    /// Registering the pidfd with the tokio reactor failed (no runtime with
    /// I/O enabled); the `waitid(2)` error; removing the container's cgroup
    /// failed.
    ///
    /// # References
    /// - [`pidfd_open(2)`](https://man7.org/linux/man-pages/man2/pidfd_open.2.html)
    ///   ("the file descriptor becomes readable when the process terminates")
    /// - [`waitid(2)`](https://man7.org/linux/man-pages/man2/waitid.2.html) (`P_PIDFD`)
    /// - [`epoll(7)`](https://man7.org/linux/man-pages/man7/epoll.7.html)
    #[cfg_attr(all(docsrs, containment_nightly), doc(cfg(feature = "tokio")))]
    pub async fn wait_async(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        if let Some(s) = *self.status_slot() {
            return Ok(s);
        }
        let raw = {
            // SAFETY: the descriptor is borrowed from `self` for the whole
            // life of `afd` (dropped at the end of this block), so it stays
            // open and names the same pidfd; `PidfdRef::as_raw_fd` always
            // returns that one descriptor.
            let afd = unsafe {
                AsyncFd::register_with_interest(PidfdRef(self.pidfd()), Interest::READABLE)
            }
            .map_err(io::Error::from)?;
            loop {
                let mut guard = afd.readable().await?;
                match super::handle::reap(afd.get_ref().0, false)? {
                    Some(raw) => break raw,
                    // Woken without an exit (spurious or stale readiness):
                    // forget the readiness and wait for the next edge.
                    None => guard.clear_ready(),
                }
            }
        };
        let s = ExitStatus::from_raw(raw);
        *self.status_slot() = Some(s);
        self.finish()?;
        Ok(s)
    }
}
