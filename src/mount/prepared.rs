//! A root made ahead of the start: an ephemeral overlay mounted by the
//! caller as a detached mount (the new mount API), which the container's
//! child only attaches.

use std::ffi::CString;
use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::rootfs::{Overlay, RootKind, Rootfs};
use super::Error;
use crate::sys::mount_api as m;

/// An ephemeral overlay root made ahead of the start, off its critical path
/// (as containerd's runc shim mounts a snapshot's rootfs at `create`,
/// before the start): the image's layers under a writable layer on a new
/// tmpfs, mounted by the caller with the new
/// mount API (`fsopen`/`fsconfig`/`fsmount`: a tmpfs with `upper` and
/// `work`, then an overlay whose layers are given by descriptor, each
/// through a detached clone of its own so that the options the container
/// reads in `/proc/self/mountinfo` name no host path: `lowerdir+=/`) into a
/// **detached** mount, attached nowhere and seen by no mount namespace.
///
/// Give it to one container as its root ([`Rootfs::from`],
/// [`Container::rootfs`](crate::Container::rootfs)): the container's child
/// attaches it on the merged directory with one `move_mount(2)` instead of
/// making the tmpfs and mounting the overlay, then continues as with
/// [`Overlay::ephemeral`] (`pivot_root`, `/proc`, `/dev` …). The caller's
/// copy is closed once the child exists, so the overlay then lives only in
/// the container's mount namespace and goes with it, writes included;
/// nothing of it is ever mounted in the caller's namespace.
///
/// **One container per prepared root**: the first spawn that uses it
/// consumes it (also when that spawn fails); a second spawn from the same
/// configuration (a cloned [`Container`](crate::Container)) is refused with
/// [`SpawnError::InvalidConfig`](crate::SpawnError::InvalidConfig) (field
/// `root`). Dropping it, and every [`Rootfs`] made from it, unused frees
/// the overlay and its tmpfs.
///
/// # Credentials and user namespaces
///
/// overlayfs accesses the layers (lookups, copy-up, whiteouts) with the
/// credentials of whoever *mounted* it. A prepared overlay is mounted by the
/// caller, with the caller's credentials, in the caller's user namespace;
/// the ordinary ephemeral overlay is mounted by the container's child. Both
/// are the same when the container has no user namespace of its own. With
/// a new or joined user namespace ([`Namespaces::USER`](crate::Namespaces))
/// they are not (the superblock would belong to the caller's user
/// namespace, copy-up would run with the caller's privileges on behalf of
/// the container's root, and `trusted.*` marks would be read where the
/// container's own mount reads none), so that combination is refused at
/// spawn (field `root`).
///
/// # Kernel
///
/// Linux 6.13 or later (overlayfs layers given by descriptor,
/// `fsconfig(FSCONFIG_SET_FD)` of `lowerdir+`, `upperdir`, `workdir`; a
/// detached tmpfs as the upper layer); before, [`PreparedRoot::new`]
/// returns [`Error::Unsupported`]. Needs `CAP_SYS_ADMIN` in the caller's
/// user namespace (`fsopen(2)`).
///
/// # References
/// - [`fsopen(2)`](https://man7.org/linux/man-pages/man2/fsopen.2.html),
///   [`fsconfig(2)`](https://man7.org/linux/man-pages/man2/fsconfig.2.html),
///   [`fsmount(2)`](https://man7.org/linux/man-pages/man2/fsmount.2.html),
///   [`move_mount(2)`](https://man7.org/linux/man-pages/man2/move_mount.2.html)
/// - [overlayfs](https://docs.kernel.org/filesystems/overlayfs.html)
pub struct PreparedRoot {
    pub(crate) inner: Arc<PreparedInner>,
}

/// Shared by every [`Rootfs`] made from one [`PreparedRoot`].
pub(crate) struct PreparedInner {
    /// The detached overlay (`None` once a spawn took it).
    pub(crate) tree: Mutex<Option<OwnedFd>>,
    /// Where the child attaches it (canonical host path).
    pub(crate) merged: PathBuf,
    /// The layers, for errors.
    pub(crate) shown: String,
}

impl fmt::Debug for PreparedRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

impl fmt::Debug for PreparedInner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let used = self.tree.lock().map_or(true, |t| t.is_none());
        f.debug_struct("PreparedRoot")
            .field("merged", &self.merged)
            .field("layers", &self.shown)
            .field("used", &used)
            .finish()
    }
}

impl PreparedRoot {
    /// Mounts `overlay` (an [`Overlay::ephemeral`] one: layers only, the
    /// writable layer on a new tmpfs) as a detached mount, to be attached
    /// by one container's child on the overlay's merged directory (by
    /// default its top-most lower layer, see [`Overlay::merged`]).
    ///
    /// # Errors
    ///
    /// - [`Error::Invalid`]: not an ephemeral overlay (a kept upper layer,
    ///   read-only, `userxattr`, `volatile`), no layer, a layer or the
    ///   merged directory that is not an absolute path to a directory.
    /// - [`Error::Unsupported`]: `fsopen(2)` is missing (`ENOSYS`) or
    ///   overlayfs does not take layers by descriptor (before Linux 6.13:
    ///   `EINVAL`, or `EOPNOTSUPP` before 6.5, seen on 6.1).
    /// - [`Error::Prepare`]: the kernel refused a step (`EPERM` without
    ///   `CAP_SYS_ADMIN`; overlayfs' reason in `log`).
    pub fn new(overlay: &Overlay) -> Result<PreparedRoot, Error> {
        let invalid =
            |field: &'static str, value: &dyn fmt::Debug, reason: String| Error::Invalid {
                field,
                value: format!("{value:?}"),
                reason,
            };
        if overlay.upper.is_some() {
            return Err(invalid(
                "overlay",
                &overlay.upper(),
                "only an ephemeral overlay (Overlay::ephemeral) can be prepared".into(),
            ));
        }
        if overlay.user_xattr || overlay.volatile {
            return Err(invalid(
                "overlay",
                &"userxattr/volatile",
                "an ephemeral overlay takes neither `userxattr` nor `volatile`".into(),
            ));
        }
        if overlay.lowers.is_empty() {
            return Err(invalid(
                "overlay lower layer",
                &overlay.lowers,
                "an overlay needs at least one lower layer".into(),
            ));
        }
        let abs = |field: &'static str, p: &Path| -> Result<PathBuf, Error> {
            if !p.is_absolute() {
                return Err(invalid(field, &p, "must be an absolute path".into()));
            }
            let c = std::fs::canonicalize(p)
                .map_err(|e| invalid(field, &p, format!("cannot be resolved: {e}")))?;
            Ok(c)
        };
        // The layers, opened as directories (overlayfs takes no O_PATH
        // descriptor), top-most first: `lowerdir+` appends below. Each
        // through a detached clone of its own (`open_tree(OPEN_TREE_CLONE)`)
        // whose root it is: overlayfs names a layer given by descriptor with
        // its path (`d_path`) in the mount options that the container reads
        // in /proc/self/mountinfo, and a detached clone's path is `/`, where
        // the caller's would name the host's directories. The clones stay
        // open until the overlay holds its own private ones (fsmount).
        let mut lowers = Vec::with_capacity(overlay.lowers.len());
        let mut clones = Vec::with_capacity(overlay.lowers.len());
        let mut top = None;
        for l in &overlay.lowers {
            let c = abs("overlay lower layer", l)?;
            let fd = open_dir(None, &c).map_err(|e| {
                invalid("overlay lower layer", &l, format!("cannot be opened: {e}"))
            })?;
            let clone = m::open_tree(
                Some(fd.as_fd()),
                c"",
                m::OPEN_TREE_CLONE | libc::AT_EMPTY_PATH as u32,
            )
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ENOSYS) => Error::Unsupported {
                    feature: "the new mount API (open_tree)",
                    source: e,
                },
                _ => Error::Prepare {
                    step: "open_tree(OPEN_TREE_CLONE) of a lower layer",
                    source: e,
                    log: String::new(),
                },
            })?;
            let fd = open_dir(Some(clone.as_fd()), Path::new(".")).map_err(|e| Error::Prepare {
                step: "opening a lower layer's clone",
                source: e,
                log: String::new(),
            })?;
            clones.push(clone);
            lowers.push(fd);
            top.get_or_insert(c);
        }
        let merged = match &overlay.merged {
            Some(d) => abs("overlay merged", d)?,
            None => top.unwrap_or_default(),
        };
        if !merged.is_dir() {
            return Err(invalid(
                "overlay merged",
                &merged,
                "is not a directory".into(),
            ));
        }

        let fail = |step: &'static str| {
            move |source: io::Error| Error::Prepare {
                step,
                source,
                log: String::new(),
            }
        };
        // The writable layer: a detached tmpfs with upper/ and work/.
        let fs = m::fsopen(c"tmpfs").map_err(|e| match e.raw_os_error() {
            Some(libc::ENOSYS) => Error::Unsupported {
                feature: "the new mount API (fsopen)",
                source: e,
            },
            _ => fail("fsopen(tmpfs)")(e),
        })?;
        m::fsconfig_set_string(fs.as_fd(), c"mode", c"0755").map_err(fail("fsconfig tmpfs"))?;
        m::fsconfig_create(fs.as_fd()).map_err(fail("fsconfig tmpfs create"))?;
        let tmp = m::fsmount(fs.as_fd(), 0).map_err(fail("fsmount(tmpfs)"))?;
        drop(fs);
        let mut dirs = [None, None];
        for (slot, name) in dirs.iter_mut().zip([c"upper", c"work"]) {
            // SAFETY: tmp is a live directory descriptor, name NUL-terminated.
            if unsafe { libc::mkdirat(tmp.as_raw_fd(), name.as_ptr(), 0o755) } != 0 {
                return Err(fail("mkdirat upper/work")(io::Error::last_os_error()));
            }
            *slot = Some(
                open_dir(Some(tmp.as_fd()), Path::new(name.to_str().unwrap_or("")))
                    .map_err(fail("opening upper/work"))?,
            );
        }
        let [Some(upper), Some(work)] = dirs else {
            return Err(fail("opening upper/work")(io::Error::from_raw_os_error(
                libc::EBADF,
            )));
        };

        // The overlay, every layer by descriptor.
        let ovl = m::fsopen(c"overlay").map_err(fail("fsopen(overlay)"))?;
        let logged = |step: &'static str, source: io::Error| Error::Prepare {
            step,
            source,
            log: read_log(ovl.as_fd()),
        };
        for (i, l) in lowers.iter().enumerate() {
            if let Err(e) = m::fsconfig_set_fd(ovl.as_fd(), c"lowerdir+", l.as_fd()) {
                // Before 6.13 overlayfs refuses a descriptor there:
                // EINVAL (6.5-6.12, the new mount API's parser), or
                // EOPNOTSUPP (6.1-6.4: the legacy parser takes strings only).
                if i == 0 && matches!(e.raw_os_error(), Some(libc::EINVAL | libc::EOPNOTSUPP)) {
                    return Err(Error::Unsupported {
                        feature: "overlayfs layers given by descriptor (Linux 6.13)",
                        source: e,
                    });
                }
                return Err(logged("fsconfig lowerdir+", e));
            }
        }
        m::fsconfig_set_fd(ovl.as_fd(), c"upperdir", upper.as_fd())
            .map_err(|e| logged("fsconfig upperdir", e))?;
        m::fsconfig_set_fd(ovl.as_fd(), c"workdir", work.as_fd())
            .map_err(|e| logged("fsconfig workdir", e))?;
        m::fsconfig_create(ovl.as_fd()).map_err(|e| logged("fsconfig overlay create", e))?;
        let tree = m::fsmount(ovl.as_fd(), 0).map_err(|e| logged("fsmount(overlay)", e))?;
        // overlayfs holds its own private clones of the layers and of the
        // tmpfs: every other descriptor goes here.
        drop((ovl, lowers, clones, upper, work, tmp));
        let shown = format!(
            "lowerdir={} (by descriptor), upper and work on a tmpfs",
            overlay
                .lowers
                .iter()
                .map(|l| l.display().to_string())
                .collect::<Vec<_>>()
                .join(":")
        );
        Ok(PreparedRoot {
            inner: Arc::new(PreparedInner {
                tree: Mutex::new(Some(tree)),
                merged,
                shown,
            }),
        })
    }

    /// The host directory the container's child attaches the overlay on
    /// (canonical): the overlay's merged directory, by default its top-most
    /// lower layer. Only the container's mount namespace sees the overlay
    /// there.
    pub fn merged(&self) -> &Path {
        &self.inner.merged
    }

    /// Whether a spawn took it already (it cannot be used again).
    pub fn is_used(&self) -> bool {
        self.inner.tree.lock().map_or(true, |t| t.is_none())
    }
}

impl Overlay {
    /// This overlay as a [`PreparedRoot`]: mounted now by the caller,
    /// detached, for one container to attach. See [`PreparedRoot::new`].
    ///
    /// # Errors
    ///
    /// As [`PreparedRoot::new`].
    pub fn prepare(&self) -> Result<PreparedRoot, Error> {
        PreparedRoot::new(self)
    }
}

impl From<PreparedRoot> for Rootfs {
    fn from(p: PreparedRoot) -> Rootfs {
        Rootfs {
            kind: RootKind::Prepared(p.inner),
        }
    }
}

impl PartialEq for PreparedInner {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl Eq for PreparedInner {}

/// Opens a directory for overlayfs (`O_RDONLY`, not `O_PATH`, which
/// `fsconfig(FSCONFIG_SET_FD)` refuses), relative to `dir` when given.
fn open_dir(dir: Option<BorrowedFd<'_>>, p: &Path) -> io::Result<OwnedFd> {
    let c = CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let at = dir.map_or(libc::AT_FDCWD, |d| d.as_raw_fd());
    // SAFETY: c NUL-terminated; the descriptor is owned below.
    let fd = unsafe {
        libc::openat(
            at,
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The messages a filesystem context logged (`read(2)` of its descriptor),
/// joined with `; `.
fn read_log(fs: BorrowedFd<'_>) -> String {
    let mut out = Vec::new();
    for _ in 0..8 {
        let mut buf = [0u8; 512];
        // SAFETY: reads into a live stack buffer of its length.
        let n = unsafe { libc::read(fs.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        out.push(String::from_utf8_lossy(&buf[..n as usize]).into_owned());
    }
    out.join("; ")
}
