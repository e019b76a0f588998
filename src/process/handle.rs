//! [`Child`]: a running container process, held by a pidfd.

use crate::namespace::{self, Namespace, Namespaces, NsFd};
use crate::sys::{self, WaitFlags};
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{ChildStderr, ChildStdin, ChildStdout, ExitStatus, Output};
use std::time::{Duration, Instant};

use super::Signal;

/// A spawned container process.
///
/// Holds a pidfd, so signals never reach a recycled pid and waiting needs no
/// `SIGCHLD` handler.
///
/// # Dropping
///
/// Dropping a `Child` that has not been waited for **kills it (`SIGKILL`) and
/// reaps it**: a container never outlives its handle silently and no zombie is
/// left behind. With a PID namespace, killing its PID 1 ends every process in
/// it. Call [`Child::wait`] to let it finish instead.
#[derive(Debug)]
pub struct Child {
    pid: i32,
    pidfd: OwnedFd,
    namespaces: Namespaces,
    status: Option<ExitStatus>,
    cgroup: Option<crate::cgroup::Cgroup>,
    remove_cgroup: bool,
    #[cfg_attr(not(feature = "testing"), allow(dead_code))]
    vfork_shape: bool,
    /// pidfds of helper daemons the container owns (pasta), killed when
    /// it is reaped or dropped.
    helpers: Vec<OwnedFd>,
    pty: Option<crate::tty::Pty>,
    /// The parent's end of the child's stdin, when it was [`crate::Stdio::Piped`].
    pub stdin: Option<ChildStdin>,
    /// The parent's end of the child's stdout, when it was [`crate::Stdio::Piped`].
    pub stdout: Option<ChildStdout>,
    /// The parent's end of the child's stderr, when it was [`crate::Stdio::Piped`].
    pub stderr: Option<ChildStderr>,
}

impl Child {
    pub(crate) fn new(
        pid: i32,
        pidfd: OwnedFd,
        namespaces: Namespaces,
        stdin: Option<OwnedFd>,
        stdout: Option<OwnedFd>,
        stderr: Option<OwnedFd>,
    ) -> Child {
        Child {
            pid,
            pidfd,
            namespaces,
            status: None,
            cgroup: None,
            remove_cgroup: false,
            vfork_shape: false,
            helpers: Vec::new(),
            pty: None,
            stdin: stdin.map(ChildStdin::from),
            stdout: stdout.map(ChildStdout::from),
            stderr: stderr.map(ChildStderr::from),
        }
    }

    pub(crate) fn set_vfork_shape(&mut self, yes: bool) {
        self.vfork_shape = yes;
    }

    pub(crate) fn set_pty(&mut self, pty: Option<crate::tty::Pty>) {
        self.pty = pty;
    }

    /// The primary side of the program's terminal, when it was spawned
    /// with [`Command::pty`](crate::Command::pty) (and
    /// not taken with [`take_pty`](Self::take_pty)).
    pub fn pty(&self) -> Option<&crate::tty::Pty> {
        self.pty.as_ref()
    }

    /// Takes the primary side of the program's terminal out of the handle
    /// (to hand it to threads, or send it with [`crate::tty::send_fd`]).
    pub fn take_pty(&mut self) -> Option<crate::tty::Pty> {
        self.pty.take()
    }

    /// Whether the spawn took the vfork shape (see
    /// `Container::vfork_spawn`). For tests and benches that pin the fast
    /// path (feature `testing`, not covered by semver).
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn spawned_in_vfork_shape(&self) -> bool {
        self.vfork_shape
    }

    pub(crate) fn set_cgroup(&mut self, cg: crate::cgroup::Cgroup, remove: bool) {
        self.cgroup = Some(cg);
        self.remove_cgroup = remove;
    }

    /// The cgroup the container was started in (with
    /// [`crate::Container::cgroup`]): for stats, updates
    /// (`docker update`), freeze/thaw and kill. `None` after it was removed.
    pub fn cgroup(&self) -> Option<&crate::cgroup::Cgroup> {
        self.cgroup.as_ref()
    }

    /// Takes the cgroup out of the handle: it is then yours to read after
    /// the child is gone, and to remove (nothing removes it any more).
    pub fn take_cgroup(&mut self) -> Option<crate::cgroup::Cgroup> {
        self.remove_cgroup = false;
        self.cgroup.take()
    }

    /// Called once the status is known: removes the cgroup when asked
    /// (killing whatever is left in it first).
    pub(crate) fn add_helper(&mut self, pidfd: OwnedFd) {
        self.helpers.push(pidfd);
    }

    pub(crate) fn finish(&mut self) -> io::Result<()> {
        for h in self.helpers.drain(..) {
            let _ = sys::pidfd_send_signal(h.as_fd(), libc::SIGKILL);
        }
        if self.remove_cgroup {
            if let Some(cg) = self.cgroup.take() {
                cg.destroy().map_err(|e| {
                    io::Error::other(format!("removing the container's cgroup: {e}"))
                })?;
            }
        }
        Ok(())
    }

    /// The process id, as seen from the parent's PID namespace.
    pub fn id(&self) -> u32 {
        self.pid as u32
    }

    /// The process's pidfd.
    pub fn pidfd(&self) -> BorrowedFd<'_> {
        self.pidfd.as_fd()
    }

    /// The namespaces that were created new for this child.
    pub fn namespaces(&self) -> Namespaces {
        self.namespaces
    }

    /// Opens the child's namespace of `kind` (new or inherited) through its
    /// pidfd (`ioctl(PIDFD_GET_*_NAMESPACE)`, else `/proc/<pid>/ns/*`): a
    /// handle to join or compare. Fails once the child has exited.
    /// [`namespaces`](Self::namespaces) says which kinds are new.
    ///
    /// # Errors
    ///
    /// [`namespace::Error`] once the child has exited (`ESRCH`) or when the
    /// namespace cannot be opened.
    pub fn open_namespace(&self, kind: Namespace) -> Result<NsFd, namespace::Error> {
        NsFd::from_pidfd(self.pidfd.as_fd(), kind)
    }

    /// The slot of the cached exit status, for the async wait
    /// (`async_wait.rs`), which lives outside this file.
    #[cfg(feature = "tokio")]
    pub(crate) fn status_slot(&mut self) -> &mut Option<ExitStatus> {
        &mut self.status
    }

    /// Sends `sig` with `pidfd_send_signal(2)`: never to a recycled pid.
    ///
    /// Takes a [`Signal`] or a raw number (`libc::SIGTERM`, through
    /// `From<i32>`). A PID 1 in a new PID namespace receives only the
    /// signals it has a handler for (`pid_namespaces(7)`); with
    /// [`init`](crate::Container::init) the crate's init forwards
    /// them to the program.
    ///
    /// # Errors
    ///
    /// `InvalidInput` once the child has been reaped; `ESRCH` when it has
    /// exited but is not reaped yet; `EINVAL` for a number that is no signal;
    /// `EPERM` when the caller may not signal it.
    ///
    /// # References
    /// - [`pidfd_send_signal(2)`](https://man7.org/linux/man-pages/man2/pidfd_send_signal.2.html)
    pub fn signal(&self, sig: impl Into<Signal>) -> io::Result<()> {
        if self.status.is_some() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the child has already been reaped",
            ));
        }
        sys::pidfd_send_signal(self.pidfd.as_fd(), sig.into().as_raw())
    }

    /// Sends `SIGKILL`. Succeeds if the child has already exited.
    ///
    /// Takes `&self` (like [`signal`](Self::signal)): it only reads the
    /// cached status and sends through the pidfd, so another thread may
    /// kill a child that one thread is waiting for.
    ///
    /// # Errors
    ///
    /// The `pidfd_send_signal(2)` error other than `ESRCH` (`EPERM`).
    pub fn kill(&self) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        match sys::pidfd_send_signal(self.pidfd.as_fd(), libc::SIGKILL) {
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            r => r,
        }
    }

    /// Waits at most `timeout` for the child to exit: `Ok(Some(status))`
    /// once it has (and is reaped), `Ok(None)` when the time ran out and it
    /// still runs. Polls the pidfd (readable when the process exits): no
    /// thread, no `SIGCHLD` handler. Unlike [`wait`](Self::wait) it leaves
    /// the child's stdin open. `Duration::ZERO` is [`try_wait`](Self::try_wait).
    ///
    /// # Errors
    ///
    /// The `poll(2)` error, or what [`try_wait`](Self::try_wait) returns
    /// (`waitid(2)`; removing the container's cgroup).
    ///
    /// # References
    /// - [`pidfd_open(2)`](https://man7.org/linux/man-pages/man2/pidfd_open.2.html)
    ///   ("the file descriptor becomes readable when the process terminates")
    pub fn wait_timeout(&mut self, timeout: Duration) -> io::Result<Option<ExitStatus>> {
        let deadline = Instant::now().checked_add(timeout);
        loop {
            if let Some(s) = self.try_wait()? {
                return Ok(Some(s));
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::MAX,
            };
            if left.is_zero() {
                return Ok(None);
            }
            // Round up so that a sub-millisecond rest does not spin.
            let ms = left
                .as_nanos()
                .div_ceil(1_000_000)
                .min(libc::c_int::MAX as u128) as libc::c_int;
            let mut p = libc::pollfd {
                fd: self.pidfd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd on the stack.
            let r = unsafe { libc::poll(&mut p, 1, ms) };
            if r < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }

    /// Stops the child as `docker stop` does: `SIGTERM`, up to `grace` for
    /// it to exit, then `SIGKILL`; reaps it and returns its status. An
    /// exited child's status is returned as is. See
    /// [`stop_with`](Self::stop_with) for another first signal (an image's
    /// `StopSignal`).
    ///
    /// A PID 1 in a new PID namespace without a `SIGTERM` handler ignores
    /// it (`pid_namespaces(7)`): such a child is killed after `grace`.
    ///
    /// # Errors
    ///
    /// Sending a signal failed other than with `ESRCH` (`EPERM`), or
    /// waiting failed (see [`wait`](Self::wait)).
    pub fn stop(&mut self, grace: Duration) -> io::Result<ExitStatus> {
        self.stop_with(Signal::TERM, grace)
    }

    /// [`stop`](Self::stop) with `signal` as the first signal (the image's
    /// `StopSignal`, docker's `--stop-signal`).
    ///
    /// # Errors
    ///
    /// As [`stop`](Self::stop); `EINVAL` for a number that is no signal.
    pub fn stop_with(
        &mut self,
        signal: impl Into<Signal>,
        grace: Duration,
    ) -> io::Result<ExitStatus> {
        if let Some(s) = self.try_wait()? {
            return Ok(s);
        }
        match self.signal(signal) {
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
            r => r?,
        }
        if let Some(s) = self.wait_timeout(grace)? {
            return Ok(s);
        }
        self.kill()?;
        self.wait()
    }

    /// Waits for the child to exit and returns its status. Closes the
    /// child's stdin first (so a program reading it sees EOF).
    ///
    /// # Reaped elsewhere
    ///
    /// When the caller sets `SIGCHLD` to `SIG_IGN` (the kernel then reaps
    /// children at once) or another part of the program reaps with
    /// `waitpid(-1)`, `waitid` on the pidfd finds nothing (`ECHILD`). The
    /// status is then taken from the pidfd with `PIDFD_GET_INFO` and
    /// `PIDFD_INFO_EXIT` (Linux 6.15), which keeps it after the reap. On
    /// older kernels it is lost: `wait` returns the `ECHILD` error (and
    /// [`wait_with_output`](Self::wait_with_output) returns that error too,
    /// after reading the output).
    ///
    /// # Errors
    ///
    /// The `waitid(2)` error, `ECHILD` as above, or removing the container's
    /// cgroup failed.
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        if let Some(s) = self.status {
            return Ok(s);
        }
        let raw = reap(self.pidfd.as_fd(), true)?
            .ok_or_else(|| io::Error::other("waitid returned no status"))?;
        let s = ExitStatus::from_raw(raw);
        self.status = Some(s);
        self.finish()?;
        Ok(s)
    }

    /// Returns the status if the child has exited, without blocking.
    ///
    /// # Errors
    ///
    /// The `waitid(2)` error (`ECHILD` when reaped elsewhere and the kernel
    /// keeps no status, see [`wait`](Self::wait)), or removing the
    /// container's cgroup failed.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(s) = self.status {
            return Ok(Some(s));
        }
        match reap(self.pidfd.as_fd(), false)? {
            Some(raw) => {
                let s = ExitStatus::from_raw(raw);
                self.status = Some(s);
                self.finish()?;
                Ok(Some(s))
            }
            None => Ok(None),
        }
    }

    /// Waits for the child and collects its stdout and stderr (those that
    /// were piped).
    ///
    /// # Errors
    ///
    /// Reading a pipe failed, or [`wait`](Self::wait) failed.
    pub fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let (stdout, stderr) = read2(self.stdout.take(), self.stderr.take())?;
        let status = self.wait()?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.status.is_none() {
            let _ = sys::pidfd_send_signal(self.pidfd.as_fd(), libc::SIGKILL);
            let _ = sys::pidfd_wait(self.pidfd.as_fd(), WaitFlags::empty());
        }
        let _ = self.finish();
    }
}

/// The wait status of the process behind `pidfd` once it has exited
/// (`None`: still running, with `block` false). `waitid(P_PIDFD)` first;
/// when the process was reaped elsewhere (`ECHILD`), waits for the pidfd to
/// report the exit (`poll`) and reads the status the kernel kept
/// (`PIDFD_GET_INFO`, Linux 6.15); the `ECHILD` error stands on kernels
/// without it.
pub(crate) fn reap(pidfd: BorrowedFd<'_>, block: bool) -> io::Result<Option<i32>> {
    let flags = if block {
        WaitFlags::empty()
    } else {
        WaitFlags::NOHANG
    };
    let echild = match sys::pidfd_wait(pidfd, flags) {
        Err(e) if e.raw_os_error() == Some(libc::ECHILD) => e,
        r => return r,
    };
    // The exit information is stored when the reaper releases the process,
    // just after the pidfd turns readable: a reap by another thread's
    // waitpid(-1) may still be under way. A bounded number of short waits.
    let mut tries = 0;
    loop {
        let mut p = libc::pollfd {
            fd: pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd on the stack.
        let r = unsafe { libc::poll(&mut p, 1, if block { -1 } else { 0 }) };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if r == 0 {
            return Ok(None);
        }
        match sys::pidfd_exit_status(pidfd) {
            Ok(Some(raw)) => return Ok(Some(raw)),
            Ok(None) if tries < 100 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            Ok(None) if !block => return Ok(None),
            _ => return Err(echild),
        }
    }
}

/// Reads two pipes to EOF at once (poll), so neither can fill and block the
/// child.
fn read2(out: Option<ChildStdout>, err: Option<ChildStderr>) -> io::Result<(Vec<u8>, Vec<u8>)> {
    let (mut ob, mut eb) = (Vec::new(), Vec::new());
    match (out, err) {
        (None, None) => {}
        (Some(mut o), None) => {
            o.read_to_end(&mut ob)?;
        }
        (None, Some(mut e)) => {
            e.read_to_end(&mut eb)?;
        }
        (Some(mut o), Some(mut e)) => {
            let mut open = [true, true];
            let mut buf = [0u8; 8192];
            while open[0] || open[1] {
                let mut fds = [
                    libc::pollfd {
                        fd: if open[0] { o.as_raw_fd() } else { -1 },
                        events: libc::POLLIN,
                        revents: 0,
                    },
                    libc::pollfd {
                        fd: if open[1] { e.as_raw_fd() } else { -1 },
                        events: libc::POLLIN,
                        revents: 0,
                    },
                ];
                // SAFETY: fds is a valid array of two pollfd.
                let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
                if r < 0 {
                    let er = io::Error::last_os_error();
                    if er.kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    return Err(er);
                }
                for (i, pfd) in fds.iter().enumerate() {
                    if !open[i] || pfd.revents == 0 {
                        continue;
                    }
                    let n = if i == 0 {
                        o.read(&mut buf)
                    } else {
                        e.read(&mut buf)
                    };
                    match n {
                        Ok(0) => open[i] = false,
                        Ok(n) => {
                            if i == 0 {
                                ob.extend_from_slice(&buf[..n]);
                            } else {
                                eb.extend_from_slice(&buf[..n]);
                            }
                        }
                        Err(er) if er.kind() == io::ErrorKind::Interrupted => {}
                        Err(er) => return Err(er),
                    }
                }
            }
        }
    }
    Ok((ob, eb))
}
