//! The container's root: a directory or an overlay of image layers, how the
//! root is changed (`pivot_root` or `chroot`), and what `/dev` holds.

use std::path::{Path, PathBuf};

/// The paths docker masks by default (`/dev/null` is bound over files, an
/// empty read-only tmpfs over directories). From moby's
/// `oci/defaults.go` (`DefaultSpec().Linux.MaskedPaths`).
pub const DOCKER_MASKED_PATHS: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// The paths docker makes read-only by default (moby's
/// `DefaultSpec().Linux.ReadonlyPaths`).
pub const DOCKER_READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// An overlay filesystem of image layers: Docker overlay2's `LowerDir`,
/// `UpperDir`, `WorkDir` and `MergedDir`.
///
/// Lower layers are read-only and may be shared by any number of
/// containers; **`lowers[0]` is the top-most layer** (the overlayfs and
/// Docker order). The upper layer receives the container's changes. The
/// overlay is mounted inside the child's private mount namespace only, so
/// nothing is left mounted on the host when the container ends.
///
/// # References
/// - [overlayfs](https://docs.kernel.org/filesystems/overlayfs.html)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overlay {
    pub(crate) lowers: Vec<PathBuf>,
    pub(crate) upper: Option<(PathBuf, PathBuf)>,
    pub(crate) merged: Option<PathBuf>,
    /// `userxattr` (image additions).
    pub(crate) user_xattr: bool,
    /// `volatile` (image additions).
    pub(crate) volatile: bool,
}

impl Overlay {
    /// Layers `lowers` (top-most first) under a kept upper layer: `upper`
    /// receives the writes and is left in place after the container ends
    /// (remove it yourself to discard the changes); `work` is overlayfs'
    /// scratch directory on the same filesystem as `upper`. Both must exist.
    pub fn new<L, P>(lowers: L, upper: impl Into<PathBuf>, work: impl Into<PathBuf>) -> Overlay
    where
        L: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        Overlay {
            lowers: lowers.into_iter().map(Into::into).collect(),
            upper: Some((upper.into(), work.into())),
            merged: None,
            user_xattr: false,
            volatile: false,
        }
    }

    /// Layers `lowers` (top-most first) under an upper layer that lives on
    /// a tmpfs private to the container: writes work, and are gone when the
    /// container's mount namespace ends (the "removed" choice). The tmpfs is
    /// made with `fsopen`/`fsmount` and attached on the merged directory
    /// under the overlay; the layers are named to overlayfs by descriptor
    /// (`/proc/self/fd/N`), so at most 128 lower layers. Checked on Linux
    /// 6.1 and 6.18.
    pub fn ephemeral<L, P>(lowers: L) -> Overlay
    where
        L: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        Overlay {
            lowers: lowers.into_iter().map(Into::into).collect(),
            upper: None,
            merged: None,
            user_xattr: false,
            volatile: false,
        }
    }

    /// A read-only overlay of `lowers` only (top-most first), no upper layer.
    pub fn read_only<L, P>(lowers: L) -> Overlay
    where
        L: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        Overlay {
            lowers: lowers.into_iter().map(Into::into).collect(),
            upper: Some((PathBuf::new(), PathBuf::new())),
            merged: None,
            user_xattr: false,
            volatile: false,
        }
    }

    /// The host directory the overlay is mounted on (Docker's `MergedDir`).
    /// By default the overlay is mounted over the top-most lower layer: it is
    /// only visible in the container's mount namespace, so the layer itself
    /// is not changed.
    pub fn merged(mut self, dir: impl Into<PathBuf>) -> Overlay {
        self.merged = Some(dir.into());
        self
    }

    /// The lower layers, top-most first.
    pub fn lowers(&self) -> &[PathBuf] {
        &self.lowers
    }

    /// The upper layer, when it is a kept directory.
    pub fn upper(&self) -> Option<&Path> {
        self.upper
            .as_ref()
            .map(|(u, _)| u.as_path())
            .filter(|u| !u.as_os_str().is_empty())
    }

    pub(crate) fn is_read_only(&self) -> bool {
        matches!(&self.upper, Some((u, _)) if u.as_os_str().is_empty())
    }
}

// image additions (branch `image`): overlayfs' `userxattr` option.
impl Overlay {
    /// Mounts the overlay with `userxattr` (Linux 5.11): overlayfs reads
    /// and writes its marks as `user.overlay.*` xattrs (`opaque`,
    /// `redirect` …) instead of `trusted.overlay.*`, which a process in a
    /// user namespace can neither read nor set. Layers unpacked for a user
    /// namespace (`image::UnpackOptions::rootless`, feature `image`) carry
    /// those marks; an overlay over them
    /// mounted without this option in a user namespace ignores their opaque
    /// directories. Whiteouts (0/0 character devices) work either way.
    /// For the kept-upper and read-only shapes: an [`ephemeral`](Self::ephemeral)
    /// overlay with it is refused at spawn.
    ///
    /// # References
    /// - [overlayfs: user xattr](https://docs.kernel.org/filesystems/overlayfs.html#user-xattr)
    pub fn user_xattr(mut self, yes: bool) -> Overlay {
        self.user_xattr = yes;
        self
    }

    /// Mounts the overlay with `volatile` (Linux 5.10): overlayfs never
    /// syncs the upper layer's filesystem, so the unmount at the end of the
    /// container (when its mount namespace goes) does not wait for a
    /// `syncfs` of the whole host filesystem that holds `upper` (measured
    /// here: 9–69 ms on a busy disk, 0.2 ms with `volatile`). For a
    /// writable layer that is thrown away with the container (docker's and
    /// podman's `--rm`): after a host crash its content is undefined.
    /// overlayfs leaves `WORK/work/incompat/volatile` behind and refuses to
    /// mount that work directory again until it is removed: the spawn
    /// removes it before each mount, so one [`Container`](crate::Container)
    /// can spawn many processes on the same layer (one at a time: two live
    /// overlays must not share an upper or work directory). Only for the
    /// kept-upper shape: refused at spawn on the others.
    ///
    /// # References
    /// - [overlayfs: volatile mount](https://docs.kernel.org/filesystems/overlayfs.html#volatile-mount)
    pub fn volatile(mut self, yes: bool) -> Overlay {
        self.volatile = yes;
        self
    }
}

/// The directory tree that becomes the container's `/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rootfs {
    pub(crate) kind: RootKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RootKind {
    Dir(PathBuf),
    Overlay(Overlay),
    /// A detached overlay made ahead ([`super::PreparedRoot`]), shared by
    /// the clones of one configuration, taken by the first spawn.
    Prepared(std::sync::Arc<super::prepared::PreparedInner>),
}

impl Rootfs {
    /// A host directory (an unpacked image, a busybox tree …). It is
    /// bind-mounted onto itself (recursively) in the container's mount
    /// namespace, so it need not be a mount point.
    pub fn dir(path: impl Into<PathBuf>) -> Rootfs {
        Rootfs {
            kind: RootKind::Dir(path.into()),
        }
    }

    /// An overlay of image layers as the root (Docker's overlay2 model):
    /// `lowers` top-most first, `upper` kept after the container ends.
    /// See [`Overlay`] for the ephemeral and read-only variants.
    pub fn overlay<L, P>(lowers: L, upper: impl Into<PathBuf>, work: impl Into<PathBuf>) -> Rootfs
    where
        L: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        Rootfs::from(Overlay::new(lowers, upper, work))
    }

    /// The host path of the root directory, or of the overlay's merged
    /// directory when one was given (always, for a [`PreparedRoot`](super::PreparedRoot)).
    pub fn path(&self) -> Option<&Path> {
        match &self.kind {
            RootKind::Dir(p) => Some(p),
            RootKind::Overlay(o) => o.merged.as_deref(),
            RootKind::Prepared(p) => Some(&p.merged),
        }
    }
}

impl From<Overlay> for Rootfs {
    fn from(o: Overlay) -> Rootfs {
        Rootfs {
            kind: RootKind::Overlay(o),
        }
    }
}

/// How the root is changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RootMode {
    /// `pivot_root`, unless the host itself runs from an initramfs (the
    /// mount on `/` in `/proc/self/mountinfo` has the type `rootfs`), where
    /// `pivot_root` always fails with `EINVAL`; then `chroot`. The
    /// detection happens in the parent, before the spawn.
    #[default]
    Auto,
    /// `pivot_root(".", ".")` then `umount2(".", MNT_DETACH)`: the old root
    /// is gone from the container's mount table.
    PivotRoot,
    /// The root's mount moved onto `/` (`MS_MOVE`), then `chroot(2)` into
    /// it (runc's `--no-pivot`). The host's mounts stay in the container's
    /// mount namespace (visible in `/proc/self/mountinfo`) under the moved
    /// root, out of reach of a path (a process with `CAP_SYS_CHROOT` that
    /// leaves the chroot walks back into the root); without a mount
    /// namespace of its own only the `chroot(2)` is done, and such a
    /// process escapes it. The default capabilities of a chroot'ed
    /// container therefore lack `CAP_SYS_CHROOT`; capabilities set
    /// explicitly with it (or all of them kept) let a container without a
    /// mount namespace reach the caller's filesystem. Use it only where
    /// `pivot_root` cannot work (an initramfs root). The parent of the root
    /// must not be a shared mount (`EINVAL`).
    Chroot,
}

/// What the container's `/dev` holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DevSpec {
    /// A tmpfs with `null`, `zero`, `full`, `random`, `urandom` and `tty`
    /// bind-mounted from the host (which also works inside a user
    /// namespace, where `mknod` is refused), the symlinks `fd`, `stdin`,
    /// `stdout`, `stderr`, `ptmx`, a new devpts on `/dev/pts` and a tmpfs on
    /// `/dev/shm` (default, as bubblewrap's `--dev` and docker).
    #[default]
    Minimal,
    /// The host's `/dev`, bind-mounted recursively (`--privileged` style).
    Host,
    /// Leave the root's own `/dev` as it is.
    Keep,
}

/// Whether the host's `/` is the initial ramfs (`rootfs` in mountinfo),
/// where `pivot_root` fails with `EINVAL`.
pub fn host_root_is_initramfs() -> bool {
    // The initramfs (`rootfs`) is a ramfs or a tmpfs: any other filesystem
    // at `/` answers without generating mountinfo (~0.1-0.2 ms with 30
    // mounts, on every spawn with a root in a fresh process).
    use nix::sys::statfs::{statfs, FsType, TMPFS_MAGIC};
    // linux/magic.h (nix has no constant for it).
    const RAMFS_MAGIC: FsType = FsType(0x8584_58f6);
    if let Ok(fs) = statfs("/") {
        if fs.filesystem_type() != RAMFS_MAGIC && fs.filesystem_type() != TMPFS_MAGIC {
            return false;
        }
    }
    crate::sys::read_mountinfo()
        .map(|info| root_fstype(&info) == Some("rootfs"))
        .unwrap_or(false)
}

/// The filesystem type of the visible (last) mount on `/` in a mountinfo text.
pub(crate) fn root_fstype(mountinfo: &str) -> Option<&str> {
    let mut fstype = None;
    for line in mountinfo.lines() {
        if line.split(' ').nth(4) != Some("/") {
            continue;
        }
        fstype = line
            .split_once(" - ")
            .and_then(|(_, r)| r.split(' ').next());
    }
    fstype
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initramfs_detection_reads_the_last_root_mount() {
        let initramfs = "1 1 0:2 / / rw - rootfs rootfs rw\n\
                         20 1 0:20 / /proc rw - proc proc rw\n";
        assert_eq!(root_fstype(initramfs), Some("rootfs"));
        let normal = "1 1 0:2 / / rw - rootfs rootfs rw\n\
                      25 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n";
        assert_eq!(root_fstype(normal), Some("ext4"));
        assert_eq!(root_fstype(""), None);
        // This host runs from a real root filesystem.
        assert!(!host_root_is_initramfs());
        // The statfs shortcut gives mountinfo's answer.
        let info = crate::sys::read_mountinfo().unwrap();
        assert_eq!(
            host_root_is_initramfs(),
            root_fstype(&info) == Some("rootfs")
        );
    }
}
