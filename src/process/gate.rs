//! The start gate: a container created now, its program exec'd later (the
//! `create` / `start` split of an OCI runtime, which runc makes with an exec
//! FIFO).
//!
//! With [`Command::start_gate`](crate::Command::start_gate)
//! the child runs every setup step, checks that the program can be found,
//! reports "ready" over a pipe of its own and blocks reading one byte from
//! the gate descriptor; the spawn returns on "ready" (or with the step that
//! failed). Whoever writes a byte to the gate's other end later lets it
//! finish (no-new-privileges, Landlock, seccomp) and exec.
//!
//! The child side ([`wait`]) follows the rules of `child.rs`: no
//! allocation, no panic, `{step, errno}` on failure.

use crate::error::{ChildFailure, Step};
use crate::sys;
use std::ffi::CString;
use std::os::fd::RawFd;

/// The gate as the child sees it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GatePlan {
    /// Write end of the ready pipe (close-on-exec): one byte means "set up,
    /// waiting at the gate".
    pub ready: RawFd,
    /// The descriptor the child reads the start byte from (close-on-exec).
    pub gate: RawFd,
}

/// Child side: fails like exec would when no candidate path is executable
/// (so that `create` reports a missing program, as runc's LookPath does),
/// then reports ready and blocks until one byte arrives on the gate. EOF on
/// the gate (nobody can start it any more) exits with status 0 without
/// running the program.
pub(crate) fn wait(g: GatePlan, exec_paths: &[CString]) -> Result<(), ChildFailure> {
    let mut found = false;
    let mut failure = ChildFailure {
        step: Step::Exec,
        index: 0,
        errno: libc::ENOENT,
    };
    for (i, path) in exec_paths.iter().enumerate() {
        // SAFETY: NUL-terminated path; faccessat with integer arguments.
        let r = unsafe {
            libc::syscall(
                libc::SYS_faccessat,
                libc::AT_FDCWD,
                path.as_ptr(),
                libc::X_OK,
            )
        };
        if r == 0 {
            found = true;
            break;
        }
        let e = sys::errno();
        if !matches!(e, libc::ENOENT | libc::ENOTDIR) {
            failure = ChildFailure {
                step: Step::Exec,
                index: i as u32,
                errno: e,
            };
            if e != libc::EACCES {
                break;
            }
        }
    }
    if !found {
        return Err(failure);
    }
    sys::write_all_fd(g.ready, b"r").map_err(|errno| ChildFailure {
        step: Step::StartGate,
        index: 0,
        errno,
    })?;
    // SAFETY: our copy of a descriptor the parent made for this child.
    unsafe { libc::close(g.ready) };
    let mut b = 0u8;
    loop {
        // SAFETY: reads one byte into a live stack variable.
        let n = unsafe { libc::read(g.gate, (&mut b as *mut u8).cast(), 1) };
        if n == 1 {
            break;
        }
        if n == 0 {
            sys::exit_immediately(0);
        }
        if sys::errno() != libc::EINTR {
            return Err(ChildFailure::last_at(Step::StartGate, 1));
        }
    }
    // SAFETY: as above.
    unsafe { libc::close(g.gate) };
    Ok(())
}

/// Parent side: `Ok(true)` when the child reported ready, `Ok(false)` when
/// the ready pipe closed empty (the child failed or died: its report is on
/// the error pipe).
pub(crate) fn read_ready(fd: std::os::fd::BorrowedFd<'_>) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    let mut b = 0u8;
    loop {
        // SAFETY: reads one byte into a live stack variable.
        let n = unsafe { libc::read(fd.as_raw_fd(), (&mut b as *mut u8).cast(), 1) };
        if n >= 0 {
            return Ok(n == 1);
        }
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}
