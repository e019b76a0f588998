//! Device nodes made inside the container's root (OCI `linux.devices`).

use std::path::{Path, PathBuf};

/// The type of a device node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceKind {
    /// A character device (`S_IFCHR`; OCI `c` and `u`).
    Char,
    /// A block device (`S_IFBLK`; OCI `b`).
    Block,
    /// A named pipe (`S_IFIFO`; OCI `p`): no device numbers.
    Fifo,
}

impl DeviceKind {
    /// The `S_IF*` bits of the type.
    pub(crate) fn mode_bits(self) -> libc::mode_t {
        match self {
            DeviceKind::Char => libc::S_IFCHR,
            DeviceKind::Block => libc::S_IFBLK,
            DeviceKind::Fifo => libc::S_IFIFO,
        }
    }
}

/// A device node the container gets
/// ([`ContainerBuilder::device`](crate::ContainerBuilder::device)).
///
/// Made in the child after the mounts and before the root is changed, with
/// `mknodat(2)` relative to its parent directory, which is opened (and
/// created when missing) inside the new root with
/// `openat2(RESOLVE_IN_ROOT)`: a symlink in the image (`dev -> /dev`) cannot
/// put the node outside the root. The permission bits are exactly
/// [`mode`](Self::mode) (the umask is 0 for the call), the owner is set with
/// `fchownat` on a descriptor of the new node. An entry already at the
/// path is never changed (it may be a bind of a host file): the same device
/// with the same mode (and owner, when one is asked) is accepted, anything
/// else fails the spawn with `EEXIST`.
///
/// In a user namespace (which cannot `mknod` a device: `EPERM`) a device
/// is a bind mount of the host's node at the same path, as runc does for
/// rootless containers: the host must have that very device there (checked
/// in the parent and again in the child), and the container gets no access
/// the host's node does not give; mode and owner are then the host's.
/// A FIFO is always made with `mknodat`.
///
/// ```
/// use containment::mount::DeviceNode;
/// let fuse = DeviceNode::char("/dev/fuse", 10, 229).mode(0o666);
/// let loop0 = DeviceNode::block("/dev/loop0", 7, 0).mode(0o660).owner(0, 6);
/// # let _ = (fuse, loop0);
/// ```
///
/// # References
/// - [`mknod(2)`](https://man7.org/linux/man-pages/man2/mknod.2.html)
/// - [OCI runtime spec, devices](https://github.com/opencontainers/runtime-spec/blob/main/config-linux.md#devices)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceNode {
    pub(crate) path: PathBuf,
    pub(crate) kind: DeviceKind,
    pub(crate) major: u32,
    pub(crate) minor: u32,
    pub(crate) mode: u32,
    pub(crate) uid: Option<u32>,
    pub(crate) gid: Option<u32>,
}

impl DeviceNode {
    /// A node of `kind` at `path` (inside the container), numbers
    /// `major:minor`, mode 0666, owned by the container's root.
    pub fn new(path: impl Into<PathBuf>, kind: DeviceKind, major: u32, minor: u32) -> DeviceNode {
        DeviceNode {
            path: path.into(),
            kind,
            major,
            minor,
            mode: 0o666,
            uid: None,
            gid: None,
        }
    }

    /// A character device `major:minor` at `path`.
    pub fn char(path: impl Into<PathBuf>, major: u32, minor: u32) -> DeviceNode {
        DeviceNode::new(path, DeviceKind::Char, major, minor)
    }

    /// A block device `major:minor` at `path`.
    pub fn block(path: impl Into<PathBuf>, major: u32, minor: u32) -> DeviceNode {
        DeviceNode::new(path, DeviceKind::Block, major, minor)
    }

    /// A named pipe at `path`.
    pub fn fifo(path: impl Into<PathBuf>) -> DeviceNode {
        DeviceNode::new(path, DeviceKind::Fifo, 0, 0)
    }

    /// The permission bits (default 0666; at most 07777, checked at spawn).
    pub fn mode(mut self, bits: u32) -> DeviceNode {
        self.mode = bits;
        self
    }

    /// The owner, as ids of the container (default: whoever makes it, the
    /// container's root).
    pub fn owner(mut self, uid: u32, gid: u32) -> DeviceNode {
        self.uid = Some(uid);
        self.gid = Some(gid);
        self
    }

    /// The path inside the container.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The type of the node.
    pub fn kind(&self) -> DeviceKind {
        self.kind
    }
}
