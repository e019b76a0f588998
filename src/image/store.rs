//! The content-addressed layer store and the per-container writable layer.

use super::digest::{Digest, Hashing, OVER_LIMIT};
use super::source::{check_blob, Image};
use super::unpack::{unpack_named, UnpackOptions};
use super::{Error, Result};
use crate::mount::{Overlay, PreparedRoot, Rootfs};
use crate::namespace::IdMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Options of a [`Store`]: how its layers are unpacked.
#[derive(Debug, Clone, Default)]
pub struct StoreOptions {
    unpack: UnpackOptions,
}

impl StoreOptions {
    /// A privileged store (see [`UnpackOptions::new`]).
    pub fn new() -> StoreOptions {
        StoreOptions::default()
    }

    /// A store for containers in a user namespace with these id maps (see
    /// [`UnpackOptions::rootless`]). Keep one store per id map: layers are
    /// stored with shifted owners.
    pub fn rootless(uid_map: Vec<IdMap>, gid_map: Vec<IdMap>) -> StoreOptions {
        StoreOptions {
            unpack: UnpackOptions::rootless(uid_map, gid_map),
        }
    }

    /// Replaces the unpack options.
    pub fn unpack(mut self, opts: UnpackOptions) -> StoreOptions {
        self.unpack = opts;
        self
    }
}

/// Progress of one layer's unpack, given to the callback of
/// [`Store::unpack`] every MiB of the blob and at the layer's end.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LayerProgress {
    /// The layer's position, 0 = bottom-most.
    pub index: usize,
    /// The image's number of layers.
    pub count: usize,
    /// The layer's blob digest (or diff_id).
    pub layer: String,
    /// Bytes of the blob read so far.
    pub done: u64,
    /// The blob's size in bytes.
    pub total: u64,
    /// The layer was already in the store (nothing was read).
    pub cached: bool,
}

/// A layer in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnpackedLayer {
    /// Its key: the OCI `ChainID` of it and the layers below it.
    pub chain_id: Digest,
    /// The digest of its uncompressed tar.
    pub diff_id: Digest,
    /// Its directory (an overlayfs lower dir).
    pub path: PathBuf,
    /// This call unpacked it (false: it was in the store already, or
    /// another thread or process unpacked it while this one waited).
    pub fresh: bool,
}

/// An image's layers in the store, bottom-most first.
#[derive(Debug, Clone)]
pub struct UnpackedImage {
    layers: Vec<UnpackedLayer>,
    user_xattrs: bool,
    uid_root: u32,
    gid_root: u32,
}

impl UnpackedImage {
    /// The layers, bottom-most first.
    pub fn layers(&self) -> &[UnpackedLayer] {
        &self.layers
    }

    /// The layer directories as overlayfs lower dirs: **top-most first**.
    pub fn lowers(&self) -> Vec<PathBuf> {
        self.layers.iter().rev().map(|l| l.path.clone()).collect()
    }

    /// Reads a file of the image as the overlay shows it (whiteouts and
    /// opaque directories applied; a symlink is followed inside its own
    /// layer only), at most `limit` bytes.
    ///
    /// # Errors
    /// [`Error::Io`] when a layer cannot be read.
    pub fn read_file(&self, path: &str, limit: u64) -> Result<Option<Vec<u8>>> {
        let lowers = self.lowers();
        let refs: Vec<&Path> = lowers.iter().map(PathBuf::as_path).collect();
        super::unpack::read_layered(&refs, path, limit, self.user_xattrs)
            .map_err(|e| Error::io(path, e))
    }
}

// image additions (branch `image`): a root with nothing per container on
// the store's filesystem.
impl UnpackedImage {
    /// The image's layers under a writable layer on a tmpfs private to the
    /// container ([`Overlay::ephemeral`]): nothing is made, synced or
    /// removed on the store's filesystem per container, so a start costs
    /// about what a plain directory root costs (see BENCHMARKS.md: each
    /// directory operation on a busy host filesystem waits on its journal).
    /// The container's writes live in memory and are gone when it ends
    /// (docker's `--rm`); use [`Store::container_root`] to keep or inspect
    /// them. At most 128 layers; not for a rootless store (the ephemeral
    /// shape has no `userxattr`: refused at spawn).
    pub fn ephemeral_rootfs(&self) -> Rootfs {
        Rootfs::from(Overlay::ephemeral(self.lowers()).user_xattr(self.user_xattrs))
    }

    /// The root of [`ephemeral_rootfs`](Self::ephemeral_rootfs) made now,
    /// ahead of the start: the overlay and its tmpfs mounted by the caller
    /// as a detached mount ([`PreparedRoot`]), which one container's child
    /// only attaches (`Rootfs::from(prepared)`). A start from it costs
    /// about what a directory root's does (BENCHMARKS.md). Not for a
    /// container with a user namespace (refused at spawn) nor a rootless
    /// store.
    ///
    /// # Errors
    ///
    /// [`Error::Mount`] with [`mount::Error::Unsupported`](crate::mount::Error::Unsupported)
    /// before Linux 6.13, [`mount::Error::Prepare`](crate::mount::Error::Prepare)
    /// when the kernel refuses a step (`EPERM` without `CAP_SYS_ADMIN`),
    /// [`mount::Error::Invalid`](crate::mount::Error::Invalid) for a
    /// rootless store (its layers need `userxattr`).
    pub fn prepare(&self) -> Result<PreparedRoot> {
        Ok(Overlay::ephemeral(self.lowers())
            .user_xattr(self.user_xattrs)
            .prepare()?)
    }
}

/// A content-addressed layer store: a directory the caller chooses.
///
/// Layout: `layers/<chain id hex>/` (complete layers only: each is
/// unpacked in `tmp/<hex>/` and renamed into place after its digests
/// matched and `syncfs`), `locks/<hex>.lock` (`flock`ed by the one
/// unpacking it, so concurrent threads and processes unpack each layer
/// once), `containers/<id>/{upper,work}` (writable layers). A layer is
/// unpacked once and shared by every image and container stacked on the
/// same layers below it.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    pub(crate) opts: UnpackOptions,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl Store {
    /// Opens (creating it, mode 0700) the store at `root`.
    ///
    /// # Errors
    /// [`Error::Io`] when a directory cannot be made.
    pub fn open(root: impl Into<PathBuf>, opts: StoreOptions) -> Result<Store> {
        let root = root.into();
        for d in ["", "layers", "tmp", "locks", "containers"] {
            let p = root.join(d);
            match fs::DirBuilder::new().mode(0o700).create(&p) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(Error::io(p, e)),
                _ => {}
            }
        }
        let store = Store {
            root,
            opts: opts.unpack,
        };
        for d in ["", "layers", "containers"] {
            store.own(&store.root.join(d))?;
        }
        Ok(store)
    }

    // image additions (branch `image`): a rootless store's directories on
    // the way to a layer or a writable layer belong to the id map's root,
    // so that a container's root (that id on the host) can reach them when
    // it mounts its overlay inside its user namespace. Nothing for a
    // privileged store.
    fn own(&self, p: &Path) -> Result<()> {
        if self.opts.uid_map.is_none() && self.opts.gid_map.is_none() {
            return Ok(());
        }
        let (u, g) = (
            super::unpack::map_root(&self.opts.uid_map),
            super::unpack::map_root(&self.opts.gid_map),
        );
        std::os::unix::fs::lchown(p, Some(u), Some(g)).map_err(|e| Error::io(p, e))
    }

    /// The store's directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// Unpacks the image's layers that the store lacks (bottom-most first)
    /// and gives all of them. `progress` is called as each layer's blob is
    /// read (and once for a layer already stored).
    ///
    /// Each blob is streamed through sha256 while it unpacks; the layer
    /// becomes visible in the store only when its blob digest and size
    /// match the manifest and its uncompressed digest the config's
    /// `diff_id`. A failure removes the temporary directory.
    ///
    /// # Errors
    /// [`Error::DigestMismatch`] / [`Error::SizeMismatch`] naming the blob,
    /// the unpack errors of [`unpack_layer`](super::unpack_layer),
    /// [`Error::Io`] for the store.
    pub fn unpack(
        &self,
        image: &Image,
        progress: &mut dyn FnMut(LayerProgress),
    ) -> Result<UnpackedImage> {
        let mut done: Vec<UnpackedLayer> = Vec::new();
        let count = image.layers().len();
        for (index, l) in image.layers().iter().enumerate() {
            let chain = Digest::chain(done.last().map(|d| &d.chain_id), &l.diff_id);
            let dir = self.root.join("layers").join(chain.hex());
            let mut fresh = false;
            if !dir.exists() {
                let lock_path = self
                    .root
                    .join("locks")
                    .join(format!("{}.lock", chain.hex()));
                let lock = OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .mode(0o600)
                    .open(&lock_path)
                    .map_err(|e| Error::io(&lock_path, e))?;
                // SAFETY: valid fd; flock blocks until the other unpacker is done.
                if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX) } < 0 {
                    return Err(Error::io(&lock_path, io::Error::last_os_error()));
                }
                if !dir.exists() {
                    let lowers: Vec<PathBuf> = done.iter().rev().map(|d| d.path.clone()).collect();
                    self.unpack_one(image, index, count, &chain, &lowers, &dir, progress)?;
                    fresh = true;
                }
                drop(lock);
            }
            if !fresh {
                progress(LayerProgress {
                    index,
                    count,
                    layer: l.name(),
                    done: l.size,
                    total: l.size,
                    cached: true,
                });
            }
            done.push(UnpackedLayer {
                chain_id: chain,
                diff_id: l.diff_id.clone(),
                path: dir.join("root"),
                fresh,
            });
        }
        Ok(UnpackedImage {
            layers: done,
            user_xattrs: self.opts.user_xattrs,
            uid_root: super::unpack::map_root(&self.opts.uid_map),
            gid_root: super::unpack::map_root(&self.opts.gid_map),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn unpack_one(
        &self,
        image: &Image,
        index: usize,
        count: usize,
        chain: &Digest,
        lowers: &[PathBuf],
        dir: &Path,
        progress: &mut dyn FnMut(LayerProgress),
    ) -> Result<()> {
        let tmp = self.root.join("tmp").join(chain.hex());
        if tmp.symlink_metadata().is_ok() {
            // An interrupted unpack: never renamed, never used.
            fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
        }
        let root = tmp.join("root");
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&tmp)
            .and_then(|()| fs::DirBuilder::new().mode(0o755).create(&root))
            .map_err(|e| Error::io(&tmp, e))?;
        let res = (|| -> Result<()> {
            let (blob, l) = image.open_layer(index)?;
            let name = l.name();
            let limit = if l.digest.is_some() { l.size } else { u64::MAX };
            let mut hashing = Hashing::new(
                Progress {
                    inner: blob,
                    cb: progress,
                    p: LayerProgress {
                        index,
                        count,
                        layer: name.clone(),
                        done: 0,
                        total: l.size,
                        cached: false,
                    },
                    last: 0,
                },
                limit,
            );
            let lower_refs: Vec<&Path> = lowers.iter().map(PathBuf::as_path).collect();
            let over = |e: &Error| matches!(e, Error::Format { reason, .. } if reason.contains(OVER_LIMIT));
            let stats = match unpack_named(&mut hashing, &root, &lower_refs, &self.opts, &name) {
                Err(e) if over(&e) || hashing.count > limit => {
                    return Err(Error::SizeMismatch {
                        blob: name,
                        expected: l.size,
                        actual: hashing.count,
                    })
                }
                // A blob that is not what the manifest names: say so
                // rather than what its bytes broke.
                Err(e) => {
                    return Err(match check_blob(hashing, l) {
                        Err(m @ (Error::DigestMismatch { .. } | Error::SizeMismatch { .. })) => m,
                        _ => e,
                    })
                }
                Ok(s) => s,
            };
            let (cb_done, total) = (hashing.count, l.size);
            let cb = &mut hashing.get_mut().cb;
            cb(LayerProgress {
                index,
                count,
                layer: name.clone(),
                done: cb_done,
                total,
                cached: false,
            });
            check_blob(hashing, l)?;
            if stats.diff_id != l.diff_id {
                return Err(Error::DigestMismatch {
                    blob: format!("{name} (uncompressed, diff_id {})", l.diff_id),
                    what: "the config's diff_ids",
                    actual: stats.diff_id.to_string(),
                });
            }
            self.own(&tmp)?;
            let f = File::open(&tmp).map_err(|e| Error::io(&tmp, e))?;
            // SAFETY: valid fd. The layer's data reaches the disk before the
            // rename that makes it a store layer.
            if unsafe { libc::syncfs(f.as_raw_fd()) } < 0 {
                return Err(Error::io(&tmp, io::Error::last_os_error()));
            }
            fs::rename(&tmp, dir).map_err(|e| Error::io(dir, e))
        })();
        if res.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        res
    }

    /// A fresh writable layer (`containers/<id>/{upper,work}`) over the
    /// image's layers: docker's container layer. It is removed when the
    /// returned guard drops unless [`ContainerRoot::keep`] is called.
    ///
    /// # Errors
    /// [`Error::Io`] when the directories cannot be made.
    pub fn container_root(&self, image: &UnpackedImage) -> Result<ContainerRoot> {
        let base = self.root.join("containers");
        loop {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let id = format!(
                "{}-{nanos:x}-{}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed)
            );
            let dir = base.join(id);
            match fs::DirBuilder::new().mode(0o700).create(&dir) {
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io(dir, e)),
                Ok(()) => {}
            }
            let guard = ContainerRoot {
                dir: dir.clone(),
                lowers: image.lowers(),
                keep: false,
                user_xattrs: image.user_xattrs,
            };
            self.own(&dir)?;
            for d in ["upper", "work"] {
                let p = dir.join(d);
                fs::DirBuilder::new()
                    .mode(0o755)
                    .create(&p)
                    .map_err(|e| Error::io(&p, e))?;
                std::os::unix::fs::chown(&p, Some(image.uid_root), Some(image.gid_root))
                    .map_err(|e| Error::io(&p, e))?;
            }
            return Ok(guard);
        }
    }
}

/// Counts the bytes of a blob and reports them every MiB.
struct Progress<'a, R> {
    inner: R,
    cb: &'a mut dyn FnMut(LayerProgress),
    p: LayerProgress,
    last: u64,
}

impl<R: Read> Read for Progress<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.p.done += n as u64;
        if self.p.done - self.last >= 1 << 20 {
            self.last = self.p.done;
            (self.cb)(self.p.clone());
        }
        Ok(n)
    }
}

/// A container's writable layer over an image: `upper` and `work`
/// directories of its own. Removed on drop (docker's `run --rm`) unless
/// [`keep`](Self::keep) is called. Drop it after the container has exited.
#[derive(Debug)]
pub struct ContainerRoot {
    dir: PathBuf,
    lowers: Vec<PathBuf>,
    keep: bool,
    user_xattrs: bool,
}

impl ContainerRoot {
    /// The overlay: the image's layers (top-most first) under this
    /// container's upper layer; for a rootless store mounted with
    /// `userxattr` (see [`Overlay::user_xattr`]), so that the layers'
    /// `user.overlay.opaque` marks are read inside a user namespace.
    ///
    /// The overlay is `volatile` (see [`Overlay::volatile`]): the upper
    /// layer is never synced, so a container's end does not wait for a
    /// `syncfs` of the store's filesystem. The marker overlayfs leaves
    /// (`work/work/incompat/volatile`) is removed here, so the layer can be
    /// mounted again for a next container: only this guard's process uses
    /// it, and no host crash can have happened while it lives. A layer
    /// [`keep`](Self::keep)ed is as durable as the page cache made it.
    pub fn overlay(&self) -> Overlay {
        open_overlay_work(&self.work());
        let marker = self.work().join("work/incompat/volatile");
        if marker.symlink_metadata().is_ok() {
            let _ = fs::remove_dir_all(&marker);
        }
        Overlay::new(self.lowers.clone(), self.upper(), self.work())
            .user_xattr(self.user_xattrs)
            .volatile(true)
    }

    /// The root for [`Container::rootfs`](crate::Container::rootfs).
    pub fn rootfs(&self) -> Rootfs {
        Rootfs::from(self.overlay())
    }

    /// The upper directory: the container's changes (deleted files as
    /// whiteouts).
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }

    /// overlayfs' work directory.
    pub fn work(&self) -> PathBuf {
        self.dir.join("work")
    }

    /// Keeps the writable layer after the guard (docker without `--rm`):
    /// gives its directory, which holds `upper` and `work`.
    pub fn keep(mut self) -> PathBuf {
        self.keep = true;
        self.dir.clone()
    }
}

impl Drop for ContainerRoot {
    fn drop(&mut self) {
        if !self.keep {
            open_overlay_work(&self.work());
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// overlayfs makes the directories of its scratch directory (`WORK/work`,
/// `incompat`, `incompat/volatile` …) with mode 0: the mounter's root reads
/// them anyway, but the owner of a rootless store (the same uid, without
/// `CAP_DAC_OVERRIDE`) could neither list nor remove them, so the writable
/// layer was never removed and a kept one's `volatile` marker never found.
/// Gives every directory under `work` back to its owner (`0700`), at most
/// a few levels deep (overlayfs makes no more; `work` is the library's and
/// the kernel's, never the container's). Each is opened `O_PATH |
/// O_NOFOLLOW` and changed through its descriptor (`/proc/self/fd/N`),
/// never through a symlink; errors are ignored (not ours, or gone: the
/// removal then says what it can).
fn open_overlay_work(work: &Path) {
    fn walk(dir: &Path, depth: u32) {
        use std::os::unix::fs::PermissionsExt;
        if depth == 0 {
            return;
        }
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let p = e.path();
            let Ok(fd) = nix::fcntl::open(
                &p,
                nix::fcntl::OFlag::O_PATH
                    | nix::fcntl::OFlag::O_NOFOLLOW
                    | nix::fcntl::OFlag::O_DIRECTORY
                    | nix::fcntl::OFlag::O_CLOEXEC,
                nix::sys::stat::Mode::empty(),
            ) else {
                continue;
            };
            let _ = fs::set_permissions(
                format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&fd)),
                fs::Permissions::from_mode(0o700),
            );
            walk(&p, depth - 1);
        }
    }
    walk(work, 4);
}
