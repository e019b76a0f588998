//! Typed mount specifications: what the user asks for, before validation.

use std::path::{Path, PathBuf};

/// 64 MiB: the default size of `/dev/shm`, as docker's `--shm-size`.
pub const DEFAULT_SHM_SIZE: u64 = 64 << 20;

/// One mount the container gets, applied in the order given, after `/proc`
/// and `/dev` and before the root is changed.
///
/// The target is a path **inside the container** (absolute, no `..`); it is
/// resolved inside the new root without following symlinks out of it, and
/// missing directories (or an empty file, for a bind of a file) are created.
/// Without a root, targets are paths of the host's tree (seen from the
/// container's private mount namespace): the mounts stay private, but a
/// missing mount point is created on the host's filesystem.
///
/// ```
/// use containment::mount::Mount;
/// let m = Mount::bind("/srv/data", "/data").read_only(true);
/// let t = Mount::tmpfs("/tmp").size(64 << 20).mode(0o1777);
/// # let _ = (m, t);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub(crate) kind: MountKind,
    pub(crate) target: PathBuf,
    pub(crate) read_only: bool,
    pub(crate) nosuid: bool,
    pub(crate) nodev: bool,
    pub(crate) noexec: bool,
    /// The source shown in mountinfo for a filesystem mount.
    pub(crate) source_name: Option<String>,
    pub(crate) idmapped: bool,
    /// Propagation set on the mount once it is attached, and whether on
    /// the mounts below it too.
    pub(crate) propagation: Option<(Propagation, bool)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MountKind {
    Bind {
        source: PathBuf,
        recursive: bool,
    },
    Tmpfs {
        size: Option<u64>,
        mode: Option<u32>,
    },
    Proc,
    Sysfs,
    Devpts,
    Mqueue,
    Cgroup2,
    Overlay(super::Overlay),
}

impl MountKind {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            MountKind::Bind { .. } => "bind",
            MountKind::Tmpfs { .. } => "tmpfs",
            MountKind::Proc => "proc",
            MountKind::Sysfs => "sysfs",
            MountKind::Devpts => "devpts",
            MountKind::Mqueue => "mqueue",
            MountKind::Cgroup2 => "cgroup2",
            MountKind::Overlay(_) => "overlay",
        }
    }
}

impl Mount {
    fn new(kind: MountKind, target: impl Into<PathBuf>) -> Mount {
        Mount {
            kind,
            target: target.into(),
            read_only: false,
            nosuid: true,
            nodev: true,
            noexec: false,
            source_name: None,
            idmapped: false,
            propagation: None,
        }
    }

    /// A bind mount of the host path `source` on `target` (`mount --rbind`):
    /// recursive and read-write by default; see [`Mount::recursive`] and
    /// [`Mount::read_only`]. Made with `open_tree(OPEN_TREE_CLONE)` and
    /// `move_mount`, so a read-only bind is never writable, not even for an
    /// instant. Binds keep the source's nosuid/nodev flags unless set here.
    ///
    /// # References
    /// - [`open_tree(2)`](https://man7.org/linux/man-pages/man2/open_tree.2.html)
    pub fn bind(source: impl Into<PathBuf>, target: impl Into<PathBuf>) -> Mount {
        let mut m = Mount::new(
            MountKind::Bind {
                source: source.into(),
                recursive: true,
            },
            target,
        );
        m.nosuid = false;
        m.nodev = false;
        m
    }

    /// A tmpfs on `target` (nosuid, nodev; the kernel's default size of
    /// half the RAM unless [`Mount::size`] is set).
    pub fn tmpfs(target: impl Into<PathBuf>) -> Mount {
        Mount::new(
            MountKind::Tmpfs {
                size: None,
                mode: None,
            },
            target,
        )
    }

    /// A fresh procfs on `target` (nosuid, nodev, noexec): it shows the
    /// processes of the child's PID namespace.
    pub fn proc(target: impl Into<PathBuf>) -> Mount {
        Mount::new(MountKind::Proc, target).noexec(true)
    }

    /// A sysfs on `target`, read-only by default (as docker does). Inside a
    /// user namespace this needs a new network namespace too.
    pub fn sysfs(target: impl Into<PathBuf>) -> Mount {
        Mount::new(MountKind::Sysfs, target)
            .noexec(true)
            .read_only(true)
    }

    /// A new devpts instance on `target` (`newinstance,ptmxmode=0666,mode=0620`).
    pub fn devpts(target: impl Into<PathBuf>) -> Mount {
        let mut m = Mount::new(MountKind::Devpts, target).noexec(true);
        m.nodev = false;
        m
    }

    /// A POSIX message queue filesystem on `target` (usually `/dev/mqueue`);
    /// it shows the queues of the child's IPC namespace.
    pub fn mqueue(target: impl Into<PathBuf>) -> Mount {
        Mount::new(MountKind::Mqueue, target).noexec(true)
    }

    /// `/dev/shm` as a tmpfs of `size` bytes, mode 1777, nosuid, nodev,
    /// noexec (docker's `--shm-size`; [`DEFAULT_SHM_SIZE`] is 64 MiB).
    pub fn shm(size: u64) -> Mount {
        Mount::tmpfs("/dev/shm")
            .size(size)
            .mode(0o1777)
            .noexec(true)
    }

    /// A cgroup2 filesystem on `target` (usually `/sys/fs/cgroup`); with a
    /// new cgroup namespace it shows the container's cgroup as its root.
    pub fn cgroup2(target: impl Into<PathBuf>) -> Mount {
        Mount::new(MountKind::Cgroup2, target).noexec(true)
    }

    /// An overlay of `overlay`'s layers on `target`. For an overlay that is
    /// the container's root, use [`super::Rootfs::overlay`] instead.
    pub fn overlay(overlay: super::Overlay, target: impl Into<PathBuf>) -> Mount {
        let mut m = Mount::new(MountKind::Overlay(overlay), target);
        m.nodev = false;
        m.nosuid = false;
        m
    }

    /// Makes the mount read-only (`MS_RDONLY`, or `MOUNT_ATTR_RDONLY` on a
    /// bind, recursively for a recursive bind).
    pub fn read_only(mut self, yes: bool) -> Mount {
        self.read_only = yes;
        self
    }

    /// For a bind: make it an idmapped mount (`mount_setattr(2)` with
    /// `MOUNT_ATTR_IDMAP`, Linux 5.12) carrying the container's user
    /// namespace, so that files owned by host uid/gid N appear inside as
    /// owned by N (and files made inside as N are N on the host), whatever
    /// the container's id maps: a tree unpacked or shared as host root
    /// shows as root's inside a userns container, without a chown-ed copy.
    /// Needs [`Namespaces::USER`](crate::Namespaces::USER). Ignored by
    /// other kinds (refused in the spawn).
    ///
    /// The parent makes the idmapped tree once the child's user namespace
    /// exists and its maps are written (`open_tree(OPEN_TREE_CLONE)`, then
    /// `mount_setattr` with `/proc/<child>/ns/user`) and hands it to the
    /// child over the sync socket (`SCM_RIGHTS`), which attaches it with
    /// `move_mount` (as runc does).
    ///
    /// # Errors
    /// The spawn fails with [`Error::IdmapRefused`](super::Error::IdmapRefused)
    /// when the kernel refuses: the source's filesystem cannot be idmapped
    /// (`EINVAL`: its type is named), or the caller lacks `CAP_SYS_ADMIN`
    /// over that filesystem's user namespace (`EPERM`: a rootless caller
    /// cannot idmap a host filesystem).
    ///
    /// # References
    /// - [`mount_setattr(2)`](https://man7.org/linux/man-pages/man2/mount_setattr.2.html), "Idmapped mounts"
    pub fn idmapped(mut self, yes: bool) -> Mount {
        self.idmapped = yes;
        self
    }

    /// For a bind: whether the mounts below `source` come along
    /// (`AT_RECURSIVE`, default `true`). Ignored by other kinds. Inside a
    /// user namespace a non-recursive bind of a tree with locked submounts
    /// fails with `EINVAL`.
    pub fn recursive(mut self, yes: bool) -> Mount {
        if let MountKind::Bind { recursive, .. } = &mut self.kind {
            *recursive = yes;
        }
        self
    }

    /// For a tmpfs: its size limit in bytes (`size=`). See [`parse_size`]
    /// for `"64m"`-style input.
    pub fn size(mut self, bytes: u64) -> Mount {
        if let MountKind::Tmpfs { size, .. } = &mut self.kind {
            *size = Some(bytes);
        }
        self
    }

    /// For a tmpfs: the permission bits of its root directory (`mode=`).
    pub fn mode(mut self, bits: u32) -> Mount {
        if let MountKind::Tmpfs { mode, .. } = &mut self.kind {
            *mode = Some(bits);
        }
        self
    }

    /// Set-user-id bits are ignored (`MS_NOSUID`).
    pub fn nosuid(mut self, yes: bool) -> Mount {
        self.nosuid = yes;
        self
    }

    /// Device files do not work (`MS_NODEV`).
    pub fn nodev(mut self, yes: bool) -> Mount {
        self.nodev = yes;
        self
    }

    /// Programs cannot be executed (`MS_NOEXEC`).
    pub fn noexec(mut self, yes: bool) -> Mount {
        self.noexec = yes;
        self
    }

    /// For a filesystem mount (tmpfs, proc, sysfs, devpts, mqueue,
    /// cgroup2): the source name the kernel records, shown in the fifth
    /// column of `/proc/self/mountinfo` and by `mount(8)` (default: the
    /// filesystem type, e.g. `tmpfs`; an OCI `config.json` gives `shm` for
    /// `/dev/shm`). Ignored by binds and overlays. A name containing a NUL
    /// byte fails the spawn with [`SpawnError::InvalidConfig`](crate::SpawnError::InvalidConfig).
    ///
    /// # References
    /// - [`mount(2)`](https://man7.org/linux/man-pages/man2/mount.2.html), `source`
    pub fn source_name(mut self, name: impl Into<String>) -> Mount {
        self.source_name = Some(name.into());
        self
    }

    /// The propagation type of this mount alone (`MS_SHARED`,
    /// `MS_SLAVE`, `MS_PRIVATE` or `MS_UNBINDABLE`), set with
    /// `mount_setattr(2)` right after the mount is attached, before the
    /// root is changed. Default: whatever the mount gets from where it is
    /// attached (private, in the container's private tree). A shared mount
    /// forms a new peer group of the container's own (for mount namespaces
    /// made inside the container): the container's tree was made private
    /// (or a slave of the host's, with the builder's
    /// [`propagation`](crate::ContainerBuilder::propagation)) before any
    /// mount, so nothing of it reaches the host.
    ///
    /// # References
    /// - [`mount_namespaces(7)`](https://man7.org/linux/man-pages/man7/mount_namespaces.7.html)
    /// - [OCI runtime spec, mount options](https://github.com/opencontainers/runtime-spec/blob/main/config.md#mounts) (`shared`, `slave`, `private`, `unbindable`)
    pub fn propagation(mut self, p: Propagation) -> Mount {
        self.propagation = Some((p, false));
        self
    }

    /// [`propagation`](Self::propagation) on the mount and every mount
    /// below it (`AT_RECURSIVE`; the OCI `rshared`, `rslave`, `rprivate`,
    /// `runbindable`).
    pub fn recursive_propagation(mut self, p: Propagation) -> Mount {
        self.propagation = Some((p, true));
        self
    }

    /// The target path inside the container.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// The kind of mount: `"bind"`, `"tmpfs"`, `"proc"`, `"sysfs"`,
    /// `"devpts"`, `"mqueue"`, `"cgroup2"` or `"overlay"`.
    pub fn kind(&self) -> &'static str {
        self.kind.name()
    }
}

/// How mount events propagate between the container and the host.
///
/// Applied recursively to `/` in the new mount namespace before anything
/// else is mounted.
///
/// # References
/// - [`mount_namespaces(7)`](https://man7.org/linux/man-pages/man7/mount_namespaces.7.html)
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Propagation {
    /// `MS_REC | MS_PRIVATE` (default): nothing propagates either way.
    #[default]
    Private,
    /// `MS_REC | MS_SLAVE`: host mounts and unmounts reach the container,
    /// nothing goes back.
    Slave,
    /// `MS_REC | MS_SHARED`: without a new root, the container's mount
    /// events reach the host's peer groups and back. With a new root,
    /// `pivot_root` cannot work on shared mounts, so the tree is made slave
    /// before the pivot and shared after it: the container's mounts form
    /// their own peer group (for nested mount namespaces), a slave of the host.
    Shared,
    /// `MS_REC | MS_UNBINDABLE`: private, and no bind mount can be made of
    /// the tree (`mount --bind` of it fails with `EINVAL`). With a new root,
    /// the tree is made slave before the pivot (a bind of the root needs a
    /// bindable source) and unbindable after it.
    Unbindable,
}

impl Propagation {
    /// The `MS_*` flag (without `MS_REC`).
    pub(crate) fn flag(self) -> libc::c_ulong {
        match self {
            Propagation::Private => libc::MS_PRIVATE,
            Propagation::Slave => libc::MS_SLAVE,
            Propagation::Shared => libc::MS_SHARED,
            Propagation::Unbindable => libc::MS_UNBINDABLE,
        }
    }
}

/// Parses a human size: a number of bytes with an optional `k`, `m`, `g`
/// or `t` suffix (powers of 1024, upper or lower case, an optional `b` or
/// `ib` after it): `"64m"`, `"1G"`, `"512KiB"`, `"4096"`.
///
/// ```
/// assert_eq!(containment::mount::parse_size("64m").unwrap(), 64 << 20);
/// ```
///
/// # Errors
///
/// [`Error::Invalid`](super::Error::Invalid) (field `size`) for an empty
/// string, an unknown suffix, or a size that overflows `u64`.
pub fn parse_size(s: &str) -> Result<u64, super::Error> {
    let invalid = |reason: &str| super::Error::Invalid {
        field: "size",
        value: s.to_string(),
        reason: reason.to_string(),
    };
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    if digits == 0 {
        return Err(invalid("expected a number with an optional k/m/g/t suffix"));
    }
    let n: u64 = t[..digits]
        .parse()
        .map_err(|_| invalid("the number is too large"))?;
    let suffix = t[digits..].to_ascii_lowercase();
    let shift = match suffix.as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(invalid("unknown suffix (use k, m, g or t)")),
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| invalid("the size overflows 64 bits"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096").unwrap(), 4096);
        assert_eq!(parse_size("64m").unwrap(), 64 << 20);
        assert_eq!(parse_size("1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("512KiB").unwrap(), 512 << 10);
        assert_eq!(parse_size(" 2t ").unwrap(), 2 << 40);
        for bad in ["", "m", "12x", "-1", "99999999999999999999", "16777216t"] {
            let e = parse_size(bad).unwrap_err().to_string();
            assert!(e.contains("size"), "{bad}: {e}");
        }
    }

    #[test]
    fn defaults_per_kind() {
        let b = Mount::bind("/a", "/b");
        assert!(!b.nosuid && !b.nodev && !b.read_only);
        assert_eq!(
            b.kind,
            MountKind::Bind {
                source: "/a".into(),
                recursive: true
            }
        );
        assert!(Mount::sysfs("/sys").read_only);
        let s = Mount::shm(DEFAULT_SHM_SIZE);
        assert_eq!(s.target(), Path::new("/dev/shm"));
        assert_eq!(
            s.kind,
            MountKind::Tmpfs {
                size: Some(64 << 20),
                mode: Some(0o1777)
            }
        );
        assert_eq!(Mount::proc("/proc").kind(), "proc");
    }
}
