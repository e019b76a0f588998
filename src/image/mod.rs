//! Container images: OCI image layouts and `docker save` archives, unpacked
//! into a content-addressed layer store and stacked by overlayfs as a
//! container's root (feature `image`).
//!
//! ```no_run
//! use containment::image::{ImageSource, Store, StoreOptions};
//! use containment::{Container, Namespaces};
//!
//! let image = ImageSource::open("/srv/alpine-oci")?.image("latest")?;
//! let store = Store::open("/var/lib/containment", StoreOptions::new())?;
//! let layers = store.unpack(&image, &mut |p| eprintln!("{p:?}"))?;
//! let root = store.container_root(&layers)?; // fresh upper/work, removed on drop
//! let c = Container::new()
//!     .unshare(Namespaces::MOUNT | Namespaces::PID)
//!     .rootfs(root.rootfs());
//! // Entrypoint + Cmd, Env, WorkingDir, User
//! let status = image.defaults(&layers)?.command::<&str>(&c, &[]).ok_or("no program")?.status()?;
//! drop(root); // the container's writable layer goes with it
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! What is trusted: nothing in an image. Every blob is checked against its
//! sha256 (and size) before it is used: the JSON blobs before they are
//! parsed, a layer while it streams into a temporary directory that only
//! becomes a store layer after both its blob digest and its uncompressed
//! `diff_id` matched. Every file of a layer is written through a directory
//! descriptor resolved with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
//! | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV)` and created with
//! `O_CREAT | O_EXCL | O_NOFOLLOW` (or `mknodat`/`symlinkat`/`linkat` on a
//! single name): entries with `..` or an absolute path, writes through a
//! symlink, hard links leaving the layer, device nodes in a rootless store,
//! overlayfs' own xattrs and sizes over the store's limit are refused with
//! [`Error::UnsafeEntry`] / [`Error::TooLarge`]. The archive is read with
//! the `tar` crate's reader only (its unpacker is not used), in raw mode so
//! that long names and PAX headers are read under our own size limits.
//!
//! # References
//! - [OCI image layout](https://github.com/opencontainers/image-spec/blob/main/image-layout.md)
//! - [OCI layer changesets](https://github.com/opencontainers/image-spec/blob/main/layer.md)
//! - [OCI image config](https://github.com/opencontainers/image-spec/blob/main/config.md)
//! - [overlayfs whiteouts and opaque directories](https://docs.kernel.org/filesystems/overlayfs.html)

mod config;
mod digest;
#[cfg(feature = "pull")]
mod pull;
mod source;
mod store;
mod unpack;

pub use config::{ImageDefaults, ImageUser};
pub use digest::Digest;
#[cfg(feature = "pull")]
pub use pull::PullOptions;
pub use source::{Image, ImageSource, LayerDescriptor};
pub use store::{ContainerRoot, LayerProgress, Store, StoreOptions, UnpackedImage, UnpackedLayer};
pub use unpack::{unpack_layer, DeviceNodes, UnpackOptions, UnpackStats, DEFAULT_MAX_LAYER_BYTES};

use std::io;
use std::path::PathBuf;

/// Errors of the image subsystem.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file of the image, the layout or the store could not be read or written.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The system error.
        #[source]
        source: io::Error,
    },
    /// A blob's content does not hash to its digest: it is not used.
    #[error("blob {blob}: content has digest {actual}, expected by {what}")]
    DigestMismatch {
        /// The blob (its expected digest, or its name in a docker archive).
        blob: String,
        /// What named the expected digest (`manifest`, `config diff_ids` …).
        what: &'static str,
        /// The digest of the bytes read.
        actual: String,
    },
    /// A blob's length differs from the size its descriptor gives.
    #[error("blob {blob}: {actual} bytes, the descriptor says {expected}")]
    SizeMismatch {
        /// The blob's digest.
        blob: String,
        /// The descriptor's size.
        expected: u64,
        /// The bytes read (stops one past `expected`).
        actual: u64,
    },
    /// A JSON document of the image is malformed or lacks a field.
    #[error("{what}: {reason}")]
    Format {
        /// The document (`index.json`, `manifest.json`, a config blob …).
        what: String,
        /// What is wrong.
        reason: String,
    },
    /// The reference names no image of the source.
    #[error("no image {reference:?} in {}; it has {available:?}", location.display())]
    NotFound {
        /// The tag or `name:tag` asked for.
        reference: String,
        /// The layout directory or archive.
        location: PathBuf,
        /// The references it has.
        available: Vec<String>,
    },
    /// A layer entry is refused: it would write outside the layer, through
    /// a link, or make something the store does not allow.
    #[error("layer {layer}: entry {entry:?} refused: {reason}")]
    UnsafeEntry {
        /// The layer's digest.
        layer: String,
        /// The entry's path as the archive gives it (lossy UTF-8).
        entry: String,
        /// Why.
        reason: &'static str,
    },
    /// Writing one entry of a layer failed.
    #[error("layer {layer}: entry {entry:?}: {source}")]
    Entry {
        /// The layer's digest.
        layer: String,
        /// The entry's path.
        entry: String,
        /// The system error.
        #[source]
        source: io::Error,
    },
    /// A layer or one of its headers is larger than the store allows.
    #[error("layer {layer}: {what} over the limit of {limit} bytes")]
    TooLarge {
        /// The layer's digest.
        layer: String,
        /// What was too large (`layer`, `PAX header`, `long name` …).
        what: &'static str,
        /// The limit in bytes.
        limit: u64,
    },
    /// The image uses something this module does not implement.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// The config's `User` names a user or group the image's `/etc/passwd`
    /// or `/etc/group` lacks.
    #[error("user {user:?}: {reason}")]
    User {
        /// The `User` value.
        user: String,
        /// What could not be resolved.
        reason: String,
    },
    /// An id of a layer entry has no mapping in the store's id map.
    #[error("layer {layer}: entry {entry:?}: id {id} is not in the store's id map")]
    UnmappedId {
        /// The layer's digest.
        layer: String,
        /// The entry's path.
        entry: String,
        /// The uid or gid inside the image.
        id: u64,
    },
    /// Preparing the image's root ([`UnpackedImage::prepare`]) failed.
    #[error(transparent)]
    Mount(#[from] crate::mount::Error),
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn format(what: impl Into<String>, reason: impl std::fmt::Display) -> Error {
        Error::Format {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}

/// Result of the image subsystem.
pub type Result<T, E = Error> = std::result::Result<T, E>;
