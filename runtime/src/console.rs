//! Terminals (branch engines): the primary side of a container's pty goes
//! to the `--console-socket` of `create`/`run -d`/`exec -d` as runc sends
//! it (one `SCM_RIGHTS` message on a connected unix stream socket), or, for
//! a `run`/`exec` in the foreground without a socket, is relayed to this
//! process's own standard streams.

use crate::error::{Error, Result};
use containment::tty::Pty;
use std::os::fd::AsFd;
use std::path::Path;

/// runc's rules for `--console-socket` (utils_linux.go): a detached
/// process with a terminal needs a socket; a socket needs a detached
/// process with a terminal.
pub fn check(terminal: bool, detach: bool, socket: Option<&Path>) -> Result<()> {
    match (terminal, detach, socket.is_some()) {
        (true, true, false) => Err(Error::msg(
            "process.terminal: cannot allocate a terminal for a detached process \
             without --console-socket",
        )),
        (false, _, true) | (_, false, true) => Err(Error::msg(
            "--console-socket: only for a detached process with process.terminal",
        )),
        _ => Ok(()),
    }
}

/// Connects to `socket` and sends `pty`'s primary over it; our own copy is
/// closed when this returns.
pub fn send(socket: &Path, pty: Pty) -> Result<()> {
    let s = std::os::unix::net::UnixStream::connect(socket)
        .map_err(|e| Error::io(format!("--console-socket {}", socket.display()), e))?;
    containment::tty::send_fd(&s, pty.as_fd())
        .map_err(|e| Error::io(format!("sending the console to {}", socket.display()), e))
}

/// Copies between our standard streams and `pty` until the program's side
/// closes (runc's foreground terminal): stdin is put in raw mode when it is
/// a terminal (restored by the returned guard), its window size copied.
pub fn relay(pty: Pty) -> Result<RawGuard> {
    let guard = RawGuard::new();
    if let Ok(ws) = containment::tty::WindowSize::of(std::io::stdin().as_fd()) {
        let _ = pty.resize(ws);
    }
    let mut input = pty
        .try_clone()
        .map_err(|e| Error::io("duplicating the console", e))?;
    // Input: a detached thread (a read on our stdin cannot be interrupted;
    // it ends with the process).
    std::thread::spawn(move || {
        let _ = std::io::copy(&mut std::io::stdin().lock(), &mut input);
    });
    let mut output = pty;
    // Output until EIO (every replica descriptor closed).
    let _ = std::io::copy(&mut output, &mut std::io::stdout().lock());
    Ok(guard)
}

/// Restores the terminal modes of stdin on drop.
pub struct RawGuard(Option<libc::termios>);

impl RawGuard {
    fn new() -> RawGuard {
        // SAFETY: tcgetattr/cfmakeraw/tcsetattr on fd 0 with a termios we own.
        unsafe {
            let mut t: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(0, &mut t) != 0 {
                return RawGuard(None);
            }
            let saved = t;
            libc::cfmakeraw(&mut t);
            libc::tcsetattr(0, libc::TCSANOW, &t);
            RawGuard(Some(saved))
        }
    }
}

impl Drop for RawGuard {
    fn drop(&mut self) {
        if let Some(t) = &self.0 {
            // SAFETY: tcsetattr on fd 0 with the termios saved before.
            unsafe { libc::tcsetattr(0, libc::TCSANOW, t) };
        }
    }
}
