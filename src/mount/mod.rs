//! Mounts and the container's root: typed mount specs, `pivot_root` (or
//! `chroot`) into a directory or an overlay of image layers, a minimal
//! `/dev`, `/proc`, masked and read-only paths.
//!
//! A `Container` collects an `FsConfig`; before clone the parent validates it
//! and turns it into a `MountPlan` whose every path is a `CString`; the child
//! applies the plan with async-signal-safe calls only, in its own mount
//! namespace, so nothing it mounts is ever seen by (or left on) the host.
//!
//! # Safety against escapes
//!
//! Every target inside the new root is resolved with
//! `openat2(root, path, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)` (Linux
//! 5.6): a rootfs that contains `etc -> /etc` or `x -> ../../..` gets the
//! symlink resolved as if the root were `/`, so a mount meant for
//! `/etc/foo` lands on `<root>/etc/foo`, never on the host's `/etc/foo`.
//! Missing mount points are created one component at a time relative to a
//! descriptor of their (in-root) parent. The mount is then made on the
//! resolved descriptor (`move_mount(…, MOVE_MOUNT_T_EMPTY_PATH)`, or
//! `mount(2)` on `/proc/self/fd/N`), never on a path string that could be
//! swapped. User paths must be absolute inside the container; `..` is
//! refused in the parent. This is the approach of runc's
//! `securejoin`/`mountViaFds` and crun's `safe_openat`, written anew.
//!
//! A root shared with a running container can change under the child (a
//! process of that container swaps `proc` for a symlink between the proc
//! mount and the masks). So a masked or read-only path that lies under a
//! mount of the plan (the proc mount, a bind, proc/sysfs/mqueue/cgroup2) is
//! looked up *beneath that mount's root*, from the descriptor the mount was
//! made with (`fsopen`/`fsmount`, `open_tree`), never again through the
//! root's symlinks: the mask lands on the filesystem that was mounted. Files
//! are masked with the host's `/dev/null`, opened before any mount and
//! checked to be the character device 1:3, never the root's own (runc
//! CVE-2025-31133). The child's own `/proc/self` writes (`timens_offsets`,
//! `oom_score_adj`) go through a procfs directory it opened before joining
//! anything, with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV`
//! and an `fstatfs` check, so a container's `/proc` cannot redirect them
//! (runc CVE-2025-52881). `tests/escapes_mounts.rs` has each attack.
//!
//! # References
//! - [`mount_namespaces(7)`](https://man7.org/linux/man-pages/man7/mount_namespaces.7.html)
//! - [`pivot_root(2)`](https://man7.org/linux/man-pages/man2/pivot_root.2.html)
//! - [`openat2(2)`](https://man7.org/linux/man-pages/man2/openat2.2.html)

mod builder;
mod device;
mod plan;
mod prepared;
mod rootfs;
mod spec;

pub(crate) use plan::{FsConfig, MountPlan};
// Hooks for the fuzz targets (`src/fuzzing.rs`), only under `--cfg fuzzing`.
pub use device::{DeviceKind, DeviceNode};
#[cfg(fuzzing)]
pub(crate) use plan::container_path_parts;
pub use prepared::PreparedRoot;
#[cfg(fuzzing)]
pub(crate) use rootfs::root_fstype;
pub use rootfs::{
    host_root_is_initramfs, DevSpec, Overlay, RootMode, Rootfs, DOCKER_MASKED_PATHS,
    DOCKER_READONLY_PATHS,
};
pub use spec::{parse_size, Mount, Propagation, DEFAULT_SHM_SIZE};

/// Errors of the mount layer found in the parent.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A mount or root setting holds a value that cannot work.
    #[error("invalid {field} {value:?}: {reason}")]
    Invalid {
        /// The setting (`"root"`, `"mount target"`, `"size"` …).
        field: &'static str,
        /// The offending value.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// The kernel refused to make an idmapped mount of `path`
    /// ([`Mount::idmapped`], the idmapped root).
    #[error("idmapped mount of {} (a {fstype} filesystem) refused: {source}; {reason}", .path.display())]
    IdmapRefused {
        /// The host path being idmapped.
        path: std::path::PathBuf,
        /// Its filesystem type, as `statfs(2)` names it (`ext4`, `nfs`, `0x…`).
        fstype: String,
        /// The kernel's error.
        #[source]
        source: std::io::Error,
        /// What the errno means here.
        reason: String,
    },
    /// Preparing a root ([`PreparedRoot`]) failed in the caller: the
    /// kernel refused `step` (an overlayfs refusal carries the reason it
    /// logged on the filesystem context, when it gave one).
    #[error("preparing the root overlay: {step} failed: {source}{}", if .log.is_empty() { String::new() } else { format!(" ({})", .log) })]
    Prepare {
        /// The step (`"fsopen(overlay)"`, `"fsconfig lowerdir+"` …).
        step: &'static str,
        /// The kernel's error.
        #[source]
        source: std::io::Error,
        /// The filesystem context's messages (`e overlayfs: …`), joined.
        log: String,
    },
    /// This kernel lacks what preparing a root needs: the new mount API
    /// (`fsopen(2)`, Linux 5.2, `ENOSYS` before) and overlayfs layers given
    /// by descriptor (`fsconfig(FSCONFIG_SET_FD)` of `lowerdir+`, Linux
    /// 6.13; `EINVAL` before, `EOPNOTSUPP` on 6.1). The ordinary [`Overlay::ephemeral`] root
    /// works there.
    #[error("{feature} is not available on this kernel ({source}): use Overlay::ephemeral as the root instead of a prepared root")]
    Unsupported {
        /// The missing feature.
        feature: &'static str,
        /// The kernel's error (`ENOSYS`, `EINVAL`, `EOPNOTSUPP`).
        #[source]
        source: std::io::Error,
    },
}
