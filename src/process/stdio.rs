//! Standard streams of the spawned program.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// What a standard stream of the container's program is connected to.
///
/// The same choices as [`std::process::Stdio`]: inherit the parent's, connect
/// to `/dev/null`, a new pipe, or a descriptor you own. Use
/// [`Stdio::null()`], [`Stdio::piped()`] and [`Stdio::inherit()`] where you
/// would write `std::process::Stdio::null()` and so on: std's `Stdio` is
/// opaque (no way to read which it is), so it cannot be converted.
///
/// A descriptor converts: an [`OwnedFd`], a [`File`], or a pipe end of
/// another child, [`std::process::ChildStdout`] and the like (the types of
/// [`Child::stdout`](crate::Child::stdout) and
/// [`std::process::Child::stdout`]), so a pipeline connects two spawns:
///
/// ```no_run
/// use containment::{Container, Stdio};
/// let c = Container::new();
/// let mut producer = c.command("/bin/echo").arg("hello").stdout(Stdio::piped()).spawn()?;
/// let out = c
///     .command("/usr/bin/tr")
///     .args(["a-z", "A-Z"])
///     .stdin(producer.stdout.take().unwrap())
///     .output()?;
/// assert_eq!(out.stdout, b"HELLO\n");
/// # Ok::<(), containment::SpawnError>(())
/// ```
#[derive(Debug)]
pub enum Stdio {
    /// The parent's descriptor (the default).
    Inherit,
    /// `/dev/null` (opened in the parent).
    Null,
    /// A new pipe; the parent's end is in [`crate::Child`]'s `stdin`/`stdout`/`stderr`.
    Piped,
    /// A descriptor you own (a file, a socket, one end of your own pipe).
    Fd(OwnedFd),
}

impl Stdio {
    /// Inherit the parent's stream.
    pub fn inherit() -> Stdio {
        Stdio::Inherit
    }
    /// Connect the stream to `/dev/null`.
    pub fn null() -> Stdio {
        Stdio::Null
    }
    /// A new pipe.
    pub fn piped() -> Stdio {
        Stdio::Piped
    }
}

impl From<OwnedFd> for Stdio {
    fn from(fd: OwnedFd) -> Stdio {
        Stdio::Fd(fd)
    }
}

impl From<File> for Stdio {
    fn from(f: File) -> Stdio {
        Stdio::Fd(f.into())
    }
}

impl From<std::process::ChildStdin> for Stdio {
    /// The write end of another child's stdin pipe.
    fn from(p: std::process::ChildStdin) -> Stdio {
        Stdio::Fd(p.into())
    }
}

impl From<std::process::ChildStdout> for Stdio {
    /// The read end of another child's stdout pipe.
    fn from(p: std::process::ChildStdout) -> Stdio {
        Stdio::Fd(p.into())
    }
}

impl From<std::process::ChildStderr> for Stdio {
    /// The read end of another child's stderr pipe.
    fn from(p: std::process::ChildStderr) -> Stdio {
        Stdio::Fd(p.into())
    }
}

/// The two ends of one prepared stream: the descriptor the child dup2s onto
/// 0/1/2 (`None`: inherit), and the parent's end of a pipe.
#[derive(Debug, Default)]
pub(crate) struct PreparedStdio {
    pub child: Option<OwnedFd>,
    pub parent: Option<OwnedFd>,
}

pub(crate) use crate::sys::pipe_cloexec;

/// Moves a descriptor to a number >= `floor` (close-on-exec), as glibc's
/// `posix_spawn` does with its own: the child dup2s onto 0, 1, 2 and the
/// `pass_fd` targets, and must never clobber a descriptor it still needs.
/// No system call when it is there already.
pub(crate) fn lift_fd(fd: OwnedFd, floor: RawFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() >= floor {
        return Ok(fd);
    }
    // SAFETY: F_DUPFD_CLOEXEC on a live descriptor returns a new one.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, floor) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: new descriptor owned by nobody else; the old one closes on drop.
    Ok(unsafe { OwnedFd::from_raw_fd(r) })
}

impl Stdio {
    /// Prepares the stream `target` (0, 1 or 2) in the parent.
    pub(crate) fn prepare(&self, target: i32) -> io::Result<PreparedStdio> {
        let p = match self {
            Stdio::Inherit => PreparedStdio::default(),
            Stdio::Null => {
                let f = std::fs::OpenOptions::new()
                    .read(target == 0)
                    .write(target != 0)
                    .open("/dev/null")?;
                PreparedStdio {
                    child: Some(f.into()),
                    parent: None,
                }
            }
            Stdio::Piped => {
                let (r, w) = pipe_cloexec()?;
                if target == 0 {
                    PreparedStdio {
                        child: Some(r),
                        parent: Some(w),
                    }
                } else {
                    PreparedStdio {
                        child: Some(w),
                        parent: Some(r),
                    }
                }
            }
            // A copy per spawn, so the command can spawn again.
            Stdio::Fd(fd) => PreparedStdio {
                child: Some(fd.try_clone()?),
                parent: None,
            },
        };
        Ok(PreparedStdio {
            child: p.child.map(|f| lift_fd(f, 3)).transpose()?,
            parent: p.parent,
        })
    }
}
