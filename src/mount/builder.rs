//! The builder methods of the filesystem view: a separate `impl` block of
//! [`ContainerBuilder`] so the mount layer owns its user-facing surface.

use super::{
    DevSpec, Mount, Propagation, RootMode, Rootfs, DOCKER_MASKED_PATHS, DOCKER_READONLY_PATHS,
};
use crate::container::ContainerBuilder;
use std::path::PathBuf;

impl ContainerBuilder {
    /// Makes the host directory `path` the container's `/` (needs
    /// [`Namespaces::MOUNT`](crate::Namespaces::MOUNT)). The directory is
    /// bind-mounted onto itself in the container's mount namespace, the
    /// mounts are made inside it, then the child `pivot_root`s into it (see
    /// [`root_mode`](Self::root_mode)). A root also turns on, by default, a
    /// fresh `/proc` and a minimal `/dev` ([`DevSpec::Minimal`]).
    ///
    /// ```no_run
    /// use containment::{Container, Namespaces};
    /// let out = Container::builder()
    ///     .namespaces(Namespaces::MOUNT | Namespaces::PID)
    ///     .root("/srv/busybox")
    ///     .command("/bin/sh", ["-c", "ls /"])
    ///     .output()?;
    /// # Ok::<(), containment::SpawnError>(())
    /// ```
    ///
    /// # References
    /// - [`pivot_root(2)`](https://man7.org/linux/man-pages/man2/pivot_root.2.html)
    pub fn root(&mut self, path: impl Into<PathBuf>) -> &mut Self {
        self.fs.root = Some(Rootfs::dir(path));
        self
    }

    /// Sets the container's root: a directory ([`Rootfs::dir`]) or an overlay
    /// of image layers ([`Rootfs::overlay`], [`Overlay`](super::Overlay)).
    pub fn rootfs(&mut self, root: impl Into<Rootfs>) -> &mut Self {
        self.fs.root = Some(root.into());
        self
    }

    /// Makes the root an idmapped mount of the container's user namespace
    /// (see [`Mount::idmapped`](super::Mount::idmapped)): a root directory
    /// owned by host root appears owned by the container's root. Needs
    /// [`Namespaces::USER`](crate::Namespaces::USER) and a directory root
    /// ([`Rootfs::dir`]), not an overlay.
    ///
    /// # Errors
    /// As [`Mount::idmapped`](super::Mount::idmapped).
    pub fn idmapped_root(&mut self, yes: bool) -> &mut Self {
        self.fs.idmapped_root = yes;
        self
    }

    /// How the root is changed: `pivot_root` (default, with an initramfs
    /// detection that falls back to `chroot`), or `chroot` explicitly.
    ///
    /// Without a mount namespace (neither [`Namespaces::MOUNT`](crate::Namespaces::MOUNT)
    /// nor a joined one), a directory root with [`RootMode::Chroot`] and
    /// nothing else of the filesystem view (no mount, [`mount_proc`](Self::mount_proc)
    /// `false`, [`DevSpec::Keep`], no mask, device or propagation) is a bare
    /// `chroot(2)` in the caller's mount namespace, which makes no mount
    /// (the OCI case of a container inheriting the runtime's mount
    /// namespace). Any other filesystem setting then fails the spawn with
    /// [`SpawnError::InvalidConfig`](crate::SpawnError::InvalidConfig).
    pub fn root_mode(&mut self, mode: RootMode) -> &mut Self {
        self.fs.root_mode = mode;
        self
    }

    /// Adds a mount, applied after `/proc` and `/dev`, in the order added.
    pub fn mount(&mut self, mount: Mount) -> &mut Self {
        self.fs.mounts.push(mount);
        self
    }

    /// Adds mounts, in order.
    pub fn mounts(&mut self, mounts: impl IntoIterator<Item = Mount>) -> &mut Self {
        self.fs.mounts.extend(mounts);
        self
    }

    /// Makes the root mount read-only once everything is mounted
    /// (`mount_setattr(MOUNT_ATTR_RDONLY)` on the root mount only: `/proc`,
    /// `/dev`, tmpfs and read-write binds stay writable).
    ///
    /// # References
    /// - [`mount_setattr(2)`](https://man7.org/linux/man-pages/man2/mount_setattr.2.html)
    pub fn readonly_root(&mut self, yes: bool) -> &mut Self {
        self.fs.readonly_root = yes;
        self
    }

    /// Adds paths (inside the container) to hide: the host's `/dev/null`
    /// (checked to be the character device 1:3) is bound over a file, an
    /// empty read-only tmpfs over a directory. Paths that do not exist are
    /// skipped. A path under a mount of this container (`/proc`, a bind, a
    /// sysfs …) is looked up beneath that mount, so a symlink of the root
    /// swapped meanwhile cannot move the mask beside it.
    ///
    /// # Errors
    /// At spawn, a [`ChildError`](crate::ChildError) at
    /// [`Step::MaskPath`](crate::Step::MaskPath): `ENODEV` when the host's
    /// `/dev/null` is not the null device, else the mount's errno.
    pub fn masked_paths<I, P>(&mut self, paths: I) -> &mut Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        self.fs
            .masked_paths
            .extend(paths.into_iter().map(Into::into));
        self
    }

    /// Adds paths (inside the container) to bind read-only onto themselves
    /// (recursively). Paths that do not exist are skipped; a path under a
    /// mount of this container is looked up beneath that mount, as for
    /// [`masked_paths`](Self::masked_paths).
    pub fn readonly_paths<I, P>(&mut self, paths: I) -> &mut Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        self.fs
            .readonly_paths
            .extend(paths.into_iter().map(Into::into));
        self
    }

    /// Adds docker's default masked paths ([`DOCKER_MASKED_PATHS`]:
    /// `/proc/kcore`, `/proc/keys`, `/sys/firmware` …) and read-only paths
    /// ([`DOCKER_READONLY_PATHS`]: `/proc/sys`, `/proc/sysrq-trigger` …).
    pub fn docker_default_paths(&mut self) -> &mut Self {
        self.masked_paths(DOCKER_MASKED_PATHS.iter().copied())
            .readonly_paths(DOCKER_READONLY_PATHS.iter().copied())
    }

    /// How mount events propagate between the container and the host
    /// (default [`Propagation::Private`]).
    pub fn propagation(&mut self, p: Propagation) -> &mut Self {
        self.fs.propagation = p;
        self
    }

    /// Whether to mount a fresh `/proc` (default: yes when the PID namespace
    /// is new or a root is set). Needs a mount namespace.
    pub fn mount_proc(&mut self, yes: bool) -> &mut Self {
        self.fs.mount_proc = Some(yes);
        self
    }

    /// What `/dev` holds (default: [`DevSpec::Minimal`] with a root, the
    /// host's `/dev` untouched without one).
    pub fn dev(&mut self, dev: DevSpec) -> &mut Self {
        self.fs.dev = Some(dev);
        self
    }

    /// The size of `/dev/shm` in the minimal `/dev`, in bytes (docker's
    /// `--shm-size`; default [`DEFAULT_SHM_SIZE`](super::DEFAULT_SHM_SIZE),
    /// 64 MiB). See [`parse_size`](super::parse_size) for `"64m"`.
    pub fn shm_size(&mut self, bytes: u64) -> &mut Self {
        self.fs.shm_size = Some(bytes);
        self
    }
}
