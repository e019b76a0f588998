//! One layer tar (plain, gzip or zstd) unpacked into a directory in
//! overlayfs' form, every write through a directory descriptor.

use super::digest::{Digest, Hashing, OVER_LIMIT};
use super::{Error, Result};
use crate::namespace::IdMap;
use crate::sys::mount_api::openat2;
use std::ffi::CString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::Path;

/// What to do with block and character device nodes of a layer (other than
/// the whiteouts this module makes itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeviceNodes {
    /// Create them (`mknodat`; needs `CAP_MKNOD`). The default of a
    /// privileged store.
    Create,
    /// Leave them out of the layer silently (what rootless docker does).
    Skip,
    /// Refuse the layer with [`Error::UnsafeEntry`]. The default of a
    /// rootless store: a device node made by the store's owner would be
    /// usable by whoever can reach the layer.
    Refuse,
}

/// How layers are unpacked: ownership shift, the overlay xattr namespace,
/// device nodes and the size limit.
#[derive(Debug, Clone)]
pub struct UnpackOptions {
    pub(crate) uid_map: Option<Vec<IdMap>>,
    pub(crate) gid_map: Option<Vec<IdMap>>,
    pub(crate) user_xattrs: bool,
    pub(crate) devices: DeviceNodes,
    pub(crate) max_bytes: u64,
}

/// Default limit of one layer's uncompressed tar stream: 64 GiB.
pub const DEFAULT_MAX_LAYER_BYTES: u64 = 64 << 30;
const MAX_NAME_HEADER: u64 = 4097;
const MAX_PAX_HEADER: u64 = 1 << 20;
const PATH_MAX: usize = 4096;

impl Default for UnpackOptions {
    fn default() -> Self {
        UnpackOptions::new()
    }
}

impl UnpackOptions {
    /// A privileged store: ids as the image gives them, `trusted.overlay.*`
    /// xattrs, device nodes created, layers up to
    /// [`DEFAULT_MAX_LAYER_BYTES`].
    pub fn new() -> UnpackOptions {
        UnpackOptions {
            uid_map: None,
            gid_map: None,
            user_xattrs: false,
            devices: DeviceNodes::Create,
            max_bytes: DEFAULT_MAX_LAYER_BYTES,
        }
    }

    /// A store for containers in a user namespace with these id maps (the
    /// ones the container gets, `inside` = image ids, `outside` = host ids):
    /// every owner is shifted through them (an unmapped id refuses the
    /// layer with [`Error::UnmappedId`]), opaque directories get
    /// `user.overlay.opaque` (mount the overlay with `userxattr`), device
    /// nodes are refused, `trusted.*` xattrs of the image are left out and
    /// file capabilities (`security.capability`) become namespaced ones
    /// (revision 3) whose root is the image root's host id.
    pub fn rootless(uid_map: Vec<IdMap>, gid_map: Vec<IdMap>) -> UnpackOptions {
        UnpackOptions {
            uid_map: Some(uid_map),
            gid_map: Some(gid_map),
            user_xattrs: true,
            devices: DeviceNodes::Refuse,
            max_bytes: DEFAULT_MAX_LAYER_BYTES,
        }
    }

    /// `user.overlay.*` (true) or `trusted.overlay.*` (false) xattrs for
    /// opaque directories.
    pub fn user_xattrs(mut self, yes: bool) -> Self {
        self.user_xattrs = yes;
        self
    }

    /// What to do with device nodes.
    pub fn devices(mut self, d: DeviceNodes) -> Self {
        self.devices = d;
        self
    }

    /// The largest uncompressed tar stream of one layer, in bytes (headers
    /// included): past it the layer is refused with [`Error::TooLarge`].
    pub fn max_layer_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes;
        self
    }

    fn overlay_xattr(&self, what: &str) -> String {
        let ns = if self.user_xattrs { "user" } else { "trusted" };
        format!("{ns}.overlay.{what}")
    }
}

/// What one unpack wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnpackStats {
    /// The sha256 of the uncompressed tar stream (the layer's `diff_id`).
    pub diff_id: Digest,
    /// Bytes of the uncompressed tar stream.
    pub tar_bytes: u64,
    /// Entries of the archive (headers of long names and PAX not counted).
    pub entries: u64,
}

/// Unpacks one layer (a tar stream, plain or compressed with gzip or zstd:
/// recognised by its magic bytes) into the existing directory `dest`, in
/// overlayfs' form: `.wh.NAME` becomes a 0/0 character device `NAME`,
/// `.wh..wh..opq` the `overlay.opaque` xattr on its directory.
///
/// `lowers` are the unpacked layers below this one, top-most first: a hard
/// link to a file that is not in this layer is a copy of that file from the
/// highest lower that has it. The whole stream is read (so
/// [`UnpackStats::diff_id`] is its digest) even when the tar ends early.
/// On error `dest` holds a partial layer: remove it (the [`Store`] unpacks
/// into a temporary directory for this reason).
///
/// # Errors
/// [`Error::UnsafeEntry`] for an entry the rules refuse (see the module
/// docs), [`Error::TooLarge`] past the size limit, [`Error::Entry`] when
/// writing an entry fails, [`Error::Format`] for a malformed tar or
/// compressed stream, [`Error::UnmappedId`] with an id map.
///
/// [`Store`]: super::Store
pub fn unpack_layer<R: Read>(
    reader: R,
    dest: &Path,
    lowers: &[&Path],
    opts: &UnpackOptions,
) -> Result<UnpackStats> {
    let name = dest.display().to_string();
    unpack_named(reader, dest, lowers, opts, &name)
}

pub(crate) fn unpack_named<R: Read>(
    reader: R,
    dest: &Path,
    lowers: &[&Path],
    opts: &UnpackOptions,
    layer: &str,
) -> Result<UnpackStats> {
    let open = |p: &Path| {
        File::open(p)
            .map(OwnedFd::from)
            .map_err(|e| Error::io(p, e))
    };
    let root = open(dest)?;
    let lowers = lowers.iter().map(|p| open(p)).collect::<Result<Vec<_>>>()?;
    let stream = decompress(reader).map_err(|e| Error::format(layer, e))?;
    let mut hashing = Hashing::new(stream, opts.max_bytes);
    let mut u = Unpacker {
        root: root.as_fd(),
        lowers: &lowers,
        opts,
        layer,
        cache: None,
        dirs: Vec::new(),
        entries: 0,
        buf: Vec::new(),
    };
    let res = u.run(&mut hashing);
    let res = res.and_then(|()| u.finish());
    let over = |e: &io::Error| e.kind() == io::ErrorKind::Other && e.to_string() == OVER_LIMIT;
    let res = res.map_err(|e| match e {
        Error::Format { ref reason, .. } if reason == OVER_LIMIT => too_large(layer, opts),
        Error::Entry { ref source, .. } if over(source) => too_large(layer, opts),
        e => e,
    });
    res?;
    let entries = u.entries;
    let (diff_id, tar_bytes) = hashing.finish().map_err(|e| {
        if over(&e) {
            too_large(layer, opts)
        } else {
            Error::format(layer, e)
        }
    })?;
    Ok(UnpackStats {
        diff_id,
        tar_bytes,
        entries,
    })
}

fn too_large(layer: &str, opts: &UnpackOptions) -> Error {
    Error::TooLarge {
        layer: layer.to_string(),
        what: "uncompressed layer",
        limit: opts.max_bytes,
    }
}

/// Plain, gzip (`1f 8b`) or zstd (`28 b5 2f fd`), by the magic bytes.
pub(crate) fn decompress<'a, R: Read + 'a>(r: R) -> io::Result<Box<dyn Read + 'a>> {
    let mut b = BufReader::with_capacity(64 << 10, r);
    let head = b.fill_buf()?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::read::MultiGzDecoder::new(b)))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Ok(Box::new(zstd::stream::read::Decoder::with_buffer(b)?))
    } else {
        Ok(Box::new(b))
    }
}

const RESOLVE: u64 = libc::RESOLVE_IN_ROOT
    | libc::RESOLVE_NO_MAGICLINKS
    | libc::RESOLVE_NO_SYMLINKS
    | libc::RESOLVE_NO_XDEV;

/// Pending long name, long link name and PAX records for the next entry.
#[derive(Default)]
struct Pending {
    name: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    pax: Option<Vec<u8>>,
}

struct Unpacker<'a> {
    root: BorrowedFd<'a>,
    lowers: &'a [OwnedFd],
    opts: &'a UnpackOptions,
    layer: &'a str,
    /// The last parent directory opened: (its relative path, fd).
    cache: Option<(Vec<u8>, OwnedFd)>,
    /// Directories whose mtime is set at the end (writing into a directory
    /// changes it): (relative path, mtime).
    dirs: Vec<(Vec<u8>, libc::timespec)>,
    entries: u64,
    /// The copy buffer of file contents ([`COPY_CHUNK`] bytes once a file
    /// needs it).
    buf: Vec<u8>,
}

/// File contents are written in chunks of this size (the last one
/// shorter), at offsets that are multiples of it. A buffered write makes
/// page-cache folios of the write's size (Linux 6.x, filesystems with
/// large folios: ext4 since 6.16, xfs, btrfs, tmpfs with `huge=`): with
/// `io::copy`'s 8 KiB writes an unpacked binary sits in the page cache as
/// 8 KiB folios, and every `exec`/`mmap` page fault of it then maps those
/// one by one (`filemap_map_pages`, measured: a static busybox ran 7%
/// slower from a copy written in 8 KiB chunks than from one written in
/// 1 MiB chunks, until its pages are evicted and read back).
const COPY_CHUNK: usize = 1 << 20;

/// Copies exactly `size` bytes (fewer at the end of `data`: the count is
/// returned) from `data` to `out` in [`COPY_CHUNK`]-byte writes, each
/// filled completely before it is written.
fn copy_chunked<R: Read + ?Sized>(
    data: &mut R,
    out: &mut File,
    size: u64,
    buf: &mut Vec<u8>,
) -> io::Result<u64> {
    let chunk = usize::try_from(size).map_or(COPY_CHUNK, |s| s.min(COPY_CHUNK));
    if buf.len() < chunk {
        buf.resize(chunk, 0);
    }
    let mut done = 0u64;
    while done < size {
        let want = usize::try_from(size - done).map_or(chunk, |r| r.min(chunk));
        let mut got = 0;
        while got < want {
            match data.read(&mut buf[got..want]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        out.write_all(&buf[..got])?;
        done += got as u64;
        if got < want {
            break;
        }
    }
    Ok(done)
}

fn cstr(b: &[u8]) -> io::Result<CString> {
    CString::new(b).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

fn cvt(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Splits an archive path into its names, refusing what could leave the
/// layer or is not a name.
fn components(path: &[u8]) -> std::result::Result<Vec<&[u8]>, &'static str> {
    if path.is_empty() {
        return Err("empty path");
    }
    // The layer's root itself as `/` (umoci writes its root entry so):
    // the same as `./`. Any other absolute path is refused.
    if path.iter().all(|&b| b == b'/') {
        return Ok(Vec::new());
    }
    if path[0] == b'/' {
        return Err("absolute path");
    }
    if path.contains(&0) {
        return Err("NUL byte in path");
    }
    if path.len() >= PATH_MAX {
        return Err("path longer than PATH_MAX");
    }
    let mut out = Vec::new();
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("`..` component"),
            c if c.len() > 255 => return Err("name longer than 255 bytes"),
            c => out.push(c),
        }
    }
    Ok(out)
}

fn join(comps: &[&[u8]]) -> Vec<u8> {
    comps.join(&b'/')
}

fn stat_at(dir: BorrowedFd<'_>, name: &CString) -> io::Result<Option<libc::stat>> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: valid fd, NUL-terminated name, `st` is written by the kernel
    // before we read it (only on success).
    let r = unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    match cvt(r) {
        // SAFETY: fstatat succeeded, so `st` is initialised.
        Ok(()) => Ok(Some(unsafe { st.assume_init() })),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

fn is_dir(st: &libc::stat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

fn map_id(maps: &Option<Vec<IdMap>>, id: u64) -> Option<u32> {
    match maps {
        None => u32::try_from(id).ok(),
        Some(maps) => maps.iter().find_map(|m| {
            let off = id.checked_sub(u64::from(m.inside))?;
            (off < u64::from(m.count)).then(|| m.outside + off as u32)
        }),
    }
}

/// The host id of the image's root (0 without a map or when unmapped).
pub(crate) fn map_root(maps: &Option<Vec<IdMap>>) -> u32 {
    map_id(maps, 0).unwrap_or(0)
}

/// Header fields of one entry after long names and PAX records applied.
struct Meta {
    path: Vec<u8>,
    link: Option<Vec<u8>>,
    kind: tar::EntryType,
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: libc::timespec,
    dev: Option<(u32, u32)>,
    xattrs: Vec<(CString, Vec<u8>)>,
}

impl<'a> Unpacker<'a> {
    fn unsafe_entry(&self, entry: &[u8], reason: &'static str) -> Error {
        Error::UnsafeEntry {
            layer: self.layer.to_string(),
            entry: String::from_utf8_lossy(entry).into_owned(),
            reason,
        }
    }

    fn entry_err(&self, entry: &[u8], source: io::Error) -> Error {
        Error::Entry {
            layer: self.layer.to_string(),
            entry: String::from_utf8_lossy(entry).into_owned(),
            source,
        }
    }

    fn too_large(&self, what: &'static str, limit: u64) -> Error {
        Error::TooLarge {
            layer: self.layer.to_string(),
            what,
            limit,
        }
    }

    fn run<R: Read>(&mut self, stream: &mut R) -> Result<()> {
        let layer = self.layer.to_string();
        let tar_err = |e: io::Error| {
            if e.to_string() == OVER_LIMIT {
                Error::format(&layer, OVER_LIMIT)
            } else {
                Error::format(&layer, format!("tar: {e}"))
            }
        };
        let mut archive = tar::Archive::new(stream);
        let mut pending = Pending::default();
        for entry in archive.entries().map_err(&tar_err)?.raw(true) {
            let mut entry = entry.map_err(&tar_err)?;
            let kind = entry.header().entry_type();
            let size = entry.header().entry_size().map_err(&tar_err)?;
            let read_small = |e: &mut tar::Entry<'_, _>, limit: u64, what| -> Result<Vec<u8>> {
                if size > limit {
                    return Err(self.too_large(what, limit));
                }
                let mut v = Vec::with_capacity(size as usize);
                e.read_to_end(&mut v).map_err(&tar_err)?;
                Ok(v)
            };
            match kind {
                tar::EntryType::GNULongName => {
                    let mut v = read_small(&mut entry, MAX_NAME_HEADER, "GNU long name")?;
                    if v.last() == Some(&0) {
                        v.pop();
                    }
                    pending.name = Some(v);
                    continue;
                }
                tar::EntryType::GNULongLink => {
                    let mut v = read_small(&mut entry, MAX_NAME_HEADER, "GNU long link name")?;
                    if v.last() == Some(&0) {
                        v.pop();
                    }
                    pending.link = Some(v);
                    continue;
                }
                tar::EntryType::XHeader => {
                    pending.pax = Some(read_small(&mut entry, MAX_PAX_HEADER, "PAX header")?);
                    continue;
                }
                tar::EntryType::XGlobalHeader => {
                    read_small(&mut entry, MAX_PAX_HEADER, "PAX global header")?;
                    continue;
                }
                _ => {}
            }
            let p = std::mem::take(&mut pending);
            let meta = self.meta(&entry, p)?;
            self.entries += 1;
            if size > self.opts.max_bytes {
                return Err(self.too_large("entry", self.opts.max_bytes));
            }
            self.entry(meta, &mut entry, size)?;
        }
        Ok(())
    }

    fn meta<R: Read>(&self, entry: &tar::Entry<'_, R>, p: Pending) -> Result<Meta> {
        let h = entry.header();
        let hdr_err = |e: io::Error| Error::format(self.layer, format!("tar header: {e}"));
        let mut path = p.name.unwrap_or_else(|| h.path_bytes().into_owned());
        let mut link = p
            .link
            .or_else(|| h.link_name_bytes().map(|c| c.into_owned()));
        let mut uid = h.uid().map_err(hdr_err)?;
        let mut gid = h.gid().map_err(hdr_err)?;
        let mut mtime = libc::timespec {
            tv_sec: h.mtime().map_err(hdr_err)?.min(i64::MAX as u64) as i64,
            tv_nsec: 0,
        };
        let mut xattrs = Vec::new();
        if let Some(pax) = &p.pax {
            for ext in tar::PaxExtensions::new(pax) {
                let ext = ext.map_err(|e| Error::format(self.layer, format!("PAX: {e}")))?;
                let (k, v) = (ext.key_bytes(), ext.value_bytes());
                let num = || {
                    std::str::from_utf8(v)
                        .ok()
                        .and_then(|s| s.parse::<u64>().ok())
                };
                match k {
                    b"path" => path = v.to_vec(),
                    b"linkpath" => link = Some(v.to_vec()),
                    b"uid" => {
                        uid = num().ok_or_else(|| hdr_err(io::ErrorKind::InvalidData.into()))?
                    }
                    b"gid" => {
                        gid = num().ok_or_else(|| hdr_err(io::ErrorKind::InvalidData.into()))?
                    }
                    // The raw reader framed the data with the header's size;
                    // a different PAX size would desynchronise it.
                    b"size" if num() != Some(h.entry_size().map_err(hdr_err)?) => {
                        return Err(Error::Unsupported(format!(
                            "layer {}: PAX size records (entries over 8 GiB)",
                            self.layer
                        )));
                    }
                    b"mtime" => {
                        let s = std::str::from_utf8(v).unwrap_or("");
                        let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
                        if let Ok(secs) = secs.parse::<i64>() {
                            mtime.tv_sec = secs;
                            let digits: String = frac.chars().take(9).collect();
                            mtime.tv_nsec = format!("{digits:0<9}").parse().unwrap_or(0);
                            if !(0..1_000_000_000).contains(&mtime.tv_nsec) {
                                mtime.tv_nsec = 0;
                            }
                        }
                    }
                    k if k.starts_with(b"SCHILY.xattr.") => {
                        let name = &k[b"SCHILY.xattr.".len()..];
                        if let Some(x) = self.xattr(&path, name, v)? {
                            xattrs.push(x);
                        }
                    }
                    _ => {}
                }
            }
        }
        let dev = match h.device_major() {
            Ok(Some(maj)) => Some((maj, h.device_minor().ok().flatten().unwrap_or(0))),
            _ => None,
        };
        let map = |maps: &Option<Vec<IdMap>>, id: u64| {
            map_id(maps, id).ok_or_else(|| Error::UnmappedId {
                layer: self.layer.to_string(),
                entry: String::from_utf8_lossy(&path).into_owned(),
                id,
            })
        };
        Ok(Meta {
            uid: map(&self.opts.uid_map, uid)?,
            gid: map(&self.opts.gid_map, gid)?,
            mode: h.mode().map_err(hdr_err)? & 0o7777,
            kind: h.entry_type(),
            mtime,
            dev,
            xattrs,
            link,
            path,
        })
    }

    /// Which xattrs of the archive are kept.
    fn xattr(&self, path: &[u8], name: &[u8], value: &[u8]) -> Result<Option<(CString, Vec<u8>)>> {
        if name.starts_with(b"trusted.overlay.") || name.starts_with(b"user.overlay.") {
            return Err(self.unsafe_entry(path, "overlayfs xattr in a layer"));
        }
        if name.contains(&0) || value.len() > 65536 {
            return Ok(None);
        }
        let value = if name == b"security.capability" {
            match &self.opts.uid_map {
                None => value.to_vec(),
                Some(_) => match self.namespaced_caps(value) {
                    Some(v) => v,
                    None => return Ok(None),
                },
            }
        } else if name.starts_with(b"user.")
            || (self.opts.uid_map.is_none() && name.starts_with(b"trusted."))
        {
            value.to_vec()
        } else {
            return Ok(None);
        };
        Ok(Some((cstr(name).expect("no NUL"), value)))
    }

    /// A file capability xattr for a rootless store: revision 3, whose
    /// root id is the host id of the image's root (or of the image's v3
    /// root id), so the capabilities hold for the container's root only
    /// (`capabilities(7)`, "Namespaced file capabilities"). Revision 1 and
    /// malformed values are left out.
    fn namespaced_caps(&self, v: &[u8]) -> Option<Vec<u8>> {
        const V2: u32 = 0x0200_0000;
        const V3: u32 = 0x0300_0000;
        let magic = u32::from_le_bytes(v.get(..4)?.try_into().ok()?);
        let image_root = match (magic & 0xff00_0000, v.len()) {
            (V2, 20) => 0,
            (V3, 24) => u64::from(u32::from_le_bytes(v[20..24].try_into().ok()?)),
            _ => return None,
        };
        let rootid = map_id(&self.opts.uid_map, image_root)?;
        let mut out = Vec::with_capacity(24);
        out.extend_from_slice(&(V3 | (magic & 1)).to_le_bytes());
        out.extend_from_slice(&v[4..20]);
        out.extend_from_slice(&rootid.to_le_bytes());
        Some(out)
    }

    /// Opens the directory `comps` of the layer, creating missing ones
    /// (mode 0755, owned by the image's root).
    fn dir(&mut self, comps: &[&[u8]]) -> io::Result<OwnedFd> {
        let key = join(comps);
        if self.cache.as_ref().map(|(k, _)| k) != Some(&key) {
            let fd = self.open_dir(comps)?;
            self.cache = Some((key, fd));
        }
        self.cache.as_ref().expect("just set").1.try_clone()
    }

    fn open_dir(&mut self, comps: &[&[u8]]) -> io::Result<OwnedFd> {
        let flags = libc::O_RDONLY | libc::O_DIRECTORY;
        if comps.is_empty() {
            return openat2(Some(self.root), c".", flags, RESOLVE);
        }
        match openat2(Some(self.root), &cstr(&join(comps))?, flags, RESOLVE) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            r => return r,
        }
        let mut cur = openat2(Some(self.root), c".", flags, RESOLVE)?;
        for (i, c) in comps.iter().enumerate() {
            let name = cstr(c)?;
            match openat2(Some(cur.as_fd()), &name, flags, RESOLVE) {
                Ok(fd) => cur = fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    // SAFETY: valid fd and NUL-terminated single name.
                    cvt(unsafe { libc::mkdirat(cur.as_raw_fd(), name.as_ptr(), 0o755) })?;
                    let fd = openat2(Some(cur.as_fd()), &name, flags, RESOLVE)?;
                    if let Some(t) = self.implicit_dir_meta(fd.as_fd(), &comps[..=i])? {
                        self.dirs.push((join(&comps[..=i]), t));
                    }
                    cur = fd;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(cur)
    }

    /// A directory the archive did not list but a later entry needs: it
    /// takes the owner, mode and mtime of the same directory in the
    /// highest lower layer that has it (else 0755, the image's root), so
    /// the overlay does not show it changed.
    fn implicit_dir_meta(
        &self,
        fd: BorrowedFd<'_>,
        comps: &[&[u8]],
    ) -> io::Result<Option<libc::timespec>> {
        use std::os::unix::fs::MetadataExt;
        let rel = cstr(&join(comps))?;
        let lower = self.lowers.iter().find_map(|l| {
            lookup(l.as_fd(), &rel, libc::O_DIRECTORY, RESOLVE)
                .ok()
                .filter(|(_, md)| md.is_dir())
        });
        let (uid, gid, mode, mtime) = match lower {
            Some((_, md)) => (
                md.uid(),
                md.gid(),
                md.mode() & 0o7777,
                Some(libc::timespec {
                    tv_sec: md.mtime(),
                    tv_nsec: md.mtime_nsec(),
                }),
            ),
            None => (
                map_root(&self.opts.uid_map),
                map_root(&self.opts.gid_map),
                0o755,
                None,
            ),
        };
        // SAFETY: valid fd.
        cvt(unsafe { libc::fchown(fd.as_raw_fd(), uid, gid) })?;
        // SAFETY: valid fd.
        cvt(unsafe { libc::fchmod(fd.as_raw_fd(), mode) })?;
        Ok(mtime)
    }

    /// Removes what is at `name` unless both it and the new entry are
    /// directories (then returns true: the directory is kept).
    fn clear(&mut self, parent: BorrowedFd<'_>, name: &CString, new_dir: bool) -> io::Result<bool> {
        let Some(st) = stat_at(parent, name)? else {
            return Ok(false);
        };
        if is_dir(&st) {
            if new_dir {
                return Ok(true);
            }
            // SAFETY: valid fd and name.
            cvt(unsafe { libc::unlinkat(parent.as_raw_fd(), name.as_ptr(), libc::AT_REMOVEDIR) })?;
            // The cached parent may have been this directory.
            self.cache = None;
        } else {
            // SAFETY: valid fd and name.
            cvt(unsafe { libc::unlinkat(parent.as_raw_fd(), name.as_ptr(), 0) })?;
        }
        Ok(false)
    }

    fn entry<R: Read>(&mut self, m: Meta, data: &mut R, size: u64) -> Result<()> {
        let path = m.path.clone();
        let comps = components(&path).map_err(|r| self.unsafe_entry(&path, r))?;
        let Some((last, parents)) = comps.split_last() else {
            return Ok(()); // the layer's root itself ("./")
        };
        let name = cstr(last).map_err(|e| self.entry_err(&path, e))?;
        let e = |s: &Self, err: io::Error| s.entry_err(&path, err);
        use tar::EntryType as T;

        // Whiteouts.
        if let Some(target) = last.strip_prefix(b".wh.") {
            if *last == b".wh..wh..opq" {
                let key = self.opts.overlay_xattr("opaque");
                let dir = self.dir(parents);
                let dir = dir.map_err(|err| e(self, err))?;
                set_xattr(dir.as_fd(), &cstr(key.as_bytes()).expect("no NUL"), b"y")
                    .map_err(|err| e(self, err))?;
                return Ok(());
            }
            if target.starts_with(b".wh.") {
                return Ok(()); // AUFS metadata (.wh..wh.plnk …)
            }
            if target.is_empty() || target == b"." || target == b".." {
                return Err(self.unsafe_entry(&path, "whiteout of no name"));
            }
            let tname = cstr(target).map_err(|err| e(self, err))?;
            let dir = self.dir(parents);
            let dir = dir.map_err(|err| e(self, err))?;
            if stat_at(dir.as_fd(), &tname)
                .map_err(|err| e(self, err))?
                .is_some()
            {
                return Ok(()); // same-layer content is not hidden by its whiteout
            }
            // SAFETY: valid fd and name; a 0/0 character device.
            cvt(unsafe { libc::mknodat(dir.as_raw_fd(), tname.as_ptr(), libc::S_IFCHR, 0) })
                .map_err(|err| e(self, err))?;
            return Ok(());
        }

        // The new entry's parent directory.
        let dir = self.dir(parents);
        let dir = dir.map_err(|err| e(self, err))?;
        let d = dir.as_fd();
        match m.kind {
            T::Directory => {
                let kept = self.clear(d, &name, true).map_err(|err| e(self, err))?;
                if !kept {
                    // SAFETY: valid fd and name.
                    cvt(unsafe { libc::mkdirat(d.as_raw_fd(), name.as_ptr(), 0o700) })
                        .map_err(|err| e(self, err))?;
                }
                let fd = openat2(Some(d), &name, libc::O_RDONLY | libc::O_DIRECTORY, RESOLVE)
                    .map_err(|err| e(self, err))?;
                self.fd_meta(fd.as_fd(), &m, false)
                    .map_err(|err| e(self, err))?;
                self.dirs.push((join(&comps), m.mtime));
            }
            T::Regular | T::Continuous => {
                self.clear(d, &name, false).map_err(|err| e(self, err))?;
                let file = create_file(d, &name).map_err(|err| e(self, err))?;
                let mut f = File::from(file);
                let mut buf = std::mem::take(&mut self.buf);
                let n = copy_chunked(data, &mut f, size, &mut buf);
                self.buf = buf;
                let n = n.map_err(|err| e(self, err))?;
                if n != size {
                    return Err(e(self, io::ErrorKind::UnexpectedEof.into()));
                }
                self.fd_meta(f.as_fd(), &m, true)
                    .map_err(|err| e(self, err))?;
            }
            T::Symlink => {
                let target = m.link.clone().unwrap_or_default();
                if target.is_empty() || target.len() >= PATH_MAX {
                    return Err(self.unsafe_entry(&path, "symlink target empty or too long"));
                }
                let target = cstr(&target).map_err(|_| self.unsafe_entry(&path, "NUL in link"))?;
                self.clear(d, &name, false).map_err(|err| e(self, err))?;
                // SAFETY: valid fd, NUL-terminated strings. The target is
                // only data: nothing here ever follows it.
                cvt(unsafe { libc::symlinkat(target.as_ptr(), d.as_raw_fd(), name.as_ptr()) })
                    .map_err(|err| e(self, err))?;
                self.path_meta(d, &name, &m).map_err(|err| e(self, err))?;
            }
            T::Link => {
                let target = m.link.clone().unwrap_or_default();
                let tcomps = components(&target).map_err(|r| self.unsafe_entry(&path, r))?;
                if tcomps.is_empty() || tcomps == comps {
                    return Err(self.unsafe_entry(&path, "hard link to itself or the root"));
                }
                let (tlast, tparents) = tcomps.split_last().expect("not empty");
                let tname = cstr(tlast).map_err(|err| e(self, err))?;
                let tdir = match self.open_dir_existing(tparents) {
                    Ok(fd) => Some(fd),
                    Err(err) if err.raw_os_error() == Some(libc::ENOENT) => None,
                    Err(err) => return Err(e(self, err)),
                };
                let tst = match &tdir {
                    Some(t) => stat_at(t.as_fd(), &tname).map_err(|err| e(self, err))?,
                    None => None,
                };
                self.clear(d, &name, false).map_err(|err| e(self, err))?;
                match (tdir, tst) {
                    (Some(_), Some(st)) if is_dir(&st) => {
                        return Err(self.unsafe_entry(&path, "hard link to a directory"));
                    }
                    (Some(t), Some(_)) => {
                        // SAFETY: valid fds and names; flags 0: no symlink
                        // followed, the link is made to the name itself.
                        cvt(unsafe {
                            libc::linkat(
                                t.as_raw_fd(),
                                tname.as_ptr(),
                                d.as_raw_fd(),
                                name.as_ptr(),
                                0,
                            )
                        })
                        .map_err(|err| e(self, err))?;
                    }
                    _ => self.copy_up(d, &name, &target, &path)?,
                }
            }
            T::Char | T::Block | T::Fifo => {
                let is_fifo = m.kind == T::Fifo;
                if !is_fifo {
                    match self.opts.devices {
                        DeviceNodes::Create => {}
                        DeviceNodes::Skip => return Ok(()),
                        DeviceNodes::Refuse => {
                            return Err(
                                self.unsafe_entry(&path, "device node in a store without them")
                            );
                        }
                    }
                }
                let (maj, min) = m.dev.unwrap_or((0, 0));
                let fmt = match m.kind {
                    T::Char => libc::S_IFCHR,
                    T::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                self.clear(d, &name, false).map_err(|err| e(self, err))?;
                // SAFETY: valid fd and name.
                cvt(unsafe {
                    libc::mknodat(
                        d.as_raw_fd(),
                        name.as_ptr(),
                        fmt | 0o600,
                        libc::makedev(maj, min),
                    )
                })
                .map_err(|err| e(self, err))?;
                self.path_meta(d, &name, &m).map_err(|err| e(self, err))?;
            }
            _ => return Err(self.unsafe_entry(&path, "unsupported entry type")),
        }
        Ok(())
    }

    fn open_dir_existing(&self, comps: &[&[u8]]) -> io::Result<OwnedFd> {
        let flags = libc::O_RDONLY | libc::O_DIRECTORY;
        let p = if comps.is_empty() {
            c".".to_owned()
        } else {
            cstr(&join(comps))?
        };
        openat2(Some(self.root), &p, flags, RESOLVE)
    }

    /// A hard link to a file of a lower layer: a copy of it (layers never
    /// share inodes).
    fn copy_up(&self, d: BorrowedFd<'_>, name: &CString, target: &[u8], path: &[u8]) -> Result<()> {
        let e = |err: io::Error| self.entry_err(path, err);
        let t = cstr(target).map_err(e)?;
        for lower in self.lowers {
            let (src, st) = match lookup(lower.as_fd(), &t, libc::O_NOFOLLOW, RESOLVE) {
                Ok(x) => x,
                Err(err)
                    if matches!(
                        err.raw_os_error(),
                        Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP)
                    ) =>
                {
                    continue
                }
                Err(err) => return Err(e(err)),
            };
            use std::os::unix::fs::{FileTypeExt, MetadataExt};
            if st.file_type().is_char_device() && st.rdev() == 0 {
                break; // deleted by a whiteout
            }
            if !st.is_file() {
                return Err(self.unsafe_entry(path, "hard link to a lower layer's non-file"));
            }
            let src = reopen_file(&src).map_err(e)?;
            let out = File::from(create_file(d, name).map_err(e)?);
            io::copy(&mut (&src).take(st.len()), &mut (&out)).map_err(e)?;
            // SAFETY: valid fd; ids and mode of a file the store already holds.
            cvt(unsafe { libc::fchown(out.as_raw_fd(), st.uid(), st.gid()) }).map_err(e)?;
            // SAFETY: valid fd.
            cvt(unsafe { libc::fchmod(out.as_raw_fd(), st.mode() & 0o7777) }).map_err(e)?;
            let ts = libc::timespec {
                tv_sec: st.mtime(),
                tv_nsec: st.mtime_nsec(),
            };
            // SAFETY: valid fd and a two-element array.
            cvt(unsafe { libc::futimens(out.as_raw_fd(), [ts, ts].as_ptr()) }).map_err(e)?;
            return Ok(());
        }
        Err(self.unsafe_entry(path, "hard link to a file in no layer"))
    }

    /// Owner, mode, xattrs and times through an open descriptor.
    fn fd_meta(&self, fd: BorrowedFd<'_>, m: &Meta, times: bool) -> io::Result<()> {
        let raw = fd.as_raw_fd();
        // SAFETY: valid fd.
        cvt(unsafe { libc::fchown(raw, m.uid, m.gid) })?;
        // SAFETY: valid fd (after chown, which clears set-id bits).
        cvt(unsafe { libc::fchmod(raw, m.mode) })?;
        for (k, v) in &m.xattrs {
            match set_xattr(fd, k, v) {
                Err(e) if e.raw_os_error() == Some(libc::EOPNOTSUPP) => {}
                r => r?,
            }
        }
        if times {
            // SAFETY: valid fd and a two-element array.
            cvt(unsafe { libc::futimens(raw, [m.mtime, m.mtime].as_ptr()) })?;
        }
        Ok(())
    }

    /// Owner, mode and times of a symlink or device node, by name (no xattrs).
    fn path_meta(&self, d: BorrowedFd<'_>, name: &CString, m: &Meta) -> io::Result<()> {
        let nofollow = libc::AT_SYMLINK_NOFOLLOW;
        // SAFETY: valid fd and name; the name is not followed.
        cvt(unsafe { libc::fchownat(d.as_raw_fd(), name.as_ptr(), m.uid, m.gid, nofollow) })?;
        if m.kind != tar::EntryType::Symlink {
            // A device node or FIFO just made here (not a symlink: fchmodat
            // would follow one).
            // SAFETY: valid fd and name.
            cvt(unsafe { libc::fchmodat(d.as_raw_fd(), name.as_ptr(), m.mode, 0) })?;
        }
        let ts = [m.mtime, m.mtime];
        // SAFETY: valid fd, name and a two-element array.
        cvt(unsafe { libc::utimensat(d.as_raw_fd(), name.as_ptr(), ts.as_ptr(), nofollow) })
    }

    /// Directory times, last (writing entries changed them).
    fn finish(&mut self) -> Result<()> {
        self.cache = None;
        for (path, mtime) in std::mem::take(&mut self.dirs).iter().rev() {
            let comps = components(path).unwrap_or_default();
            let fd = self
                .open_dir_existing(&comps)
                .map_err(|e| self.entry_err(path, e))?;
            // SAFETY: valid fd and a two-element array.
            cvt(unsafe { libc::futimens(fd.as_raw_fd(), [*mtime, *mtime].as_ptr()) })
                .map_err(|e| self.entry_err(path, e))?;
        }
        Ok(())
    }
}

/// Looks `path` up under `dir` with `O_PATH` (opening a FIFO would block,
/// opening a device can act on it) and gives the descriptor and its
/// metadata; [`reopen_file`] then opens a regular file for reading.
pub(crate) fn lookup(
    dir: BorrowedFd<'_>,
    path: &std::ffi::CStr,
    flags: i32,
    resolve: u64,
) -> io::Result<(File, std::fs::Metadata)> {
    let f = File::from(openat2(Some(dir), path, libc::O_PATH | flags, resolve)?);
    let md = f.metadata()?;
    Ok((f, md))
}

/// Opens for reading the regular file an `O_PATH` descriptor names (the
/// same inode: through `/proc/self/fd`, our own descriptor).
pub(crate) fn reopen_file(f: &File) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOCTTY | libc::O_NONBLOCK)
        .open(format!("/proc/self/fd/{}", f.as_raw_fd()))?;
    if !f.metadata()?.is_file() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    Ok(f)
}

fn create_file(d: BorrowedFd<'_>, name: &CString) -> io::Result<OwnedFd> {
    // SAFETY: valid fd and name. O_EXCL|O_NOFOLLOW: a new file, never through
    // a link.
    let fd = unsafe {
        libc::openat(
            d.as_raw_fd(),
            name.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o600,
        )
    };
    cvt(fd)?;
    // SAFETY: a new descriptor only we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn set_xattr(fd: BorrowedFd<'_>, key: &CString, value: &[u8]) -> io::Result<()> {
    // SAFETY: valid fd, NUL-terminated key, value pointer and length.
    cvt(unsafe {
        libc::fsetxattr(
            fd.as_raw_fd(),
            key.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
}

/// Reads a file of a stack of unpacked layers (top-most first) as the
/// overlay would show it, at most `limit` bytes: a whiteout or an opaque
/// parent directory in a higher layer hides the lower ones. Each layer is
/// resolved with `RESOLVE_IN_ROOT` (a symlink is followed inside that
/// layer only). `Ok(None)` when no layer has it.
pub(crate) fn read_layered(
    layers: &[&Path],
    path: &str,
    limit: u64,
    user_xattrs: bool,
) -> io::Result<Option<Vec<u8>>> {
    let comps = components(path.trim_start_matches('/').as_bytes())
        .map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let rel = cstr(&join(&comps))?;
    let opaque = cstr(if user_xattrs {
        b"user.overlay.opaque"
    } else {
        b"trusted.overlay.opaque"
    })?;
    let resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS | libc::RESOLVE_NO_XDEV;
    for layer in layers {
        let root = File::open(layer)?;
        match lookup(root.as_fd(), &rel, 0, resolve) {
            Ok((f, md)) => {
                if !md.is_file() {
                    return Ok(None); // a whiteout, a directory, a device …
                }
                let f = reopen_file(&f)?;
                let mut v = Vec::new();
                (&f).take(limit).read_to_end(&mut v)?;
                return Ok(Some(v));
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                // An opaque parent directory in this layer hides the rest.
                for i in 1..comps.len() {
                    let p = cstr(&join(&comps[..i]))?;
                    let dir_flags = libc::O_RDONLY | libc::O_DIRECTORY;
                    if let Ok(d) = openat2(Some(root.as_fd()), &p, dir_flags, resolve) {
                        let mut buf = [0u8; 4];
                        // SAFETY: valid fd, key and buffer.
                        let n = unsafe {
                            libc::fgetxattr(
                                d.as_raw_fd(),
                                opaque.as_ptr(),
                                buf.as_mut_ptr().cast(),
                                buf.len(),
                            )
                        };
                        if n == 1 && buf[0] == b'y' {
                            return Ok(None);
                        }
                    } else if stat_at(root.as_fd(), &p)?.is_some() {
                        return Ok(None); // a whiteout of a parent
                    }
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => return Ok(None),
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_refuse_escapes() {
        assert_eq!(components(b"./a//b/.").unwrap(), vec![&b"a"[..], b"b"]);
        assert!(components(b"../a").is_err());
        assert!(components(b"a/../../b").is_err());
        assert!(components(b"/etc/passwd").is_err());
        assert!(components(b"").is_err());
        assert_eq!(components(b"./").unwrap(), Vec::<&[u8]>::new());
        // umoci's root entry.
        assert_eq!(components(b"/").unwrap(), Vec::<&[u8]>::new());
        assert_eq!(components(b"//").unwrap(), Vec::<&[u8]>::new());
        assert!(components(b"/.").is_err());
        assert!(components(b"/etc").is_err());
    }

    #[test]
    fn id_maps_shift() {
        let m = Some(vec![IdMap {
            inside: 0,
            outside: 100000,
            count: 65536,
        }]);
        assert_eq!(map_id(&m, 0), Some(100000));
        assert_eq!(map_id(&m, 65535), Some(165535));
        assert_eq!(map_id(&m, 65536), None);
        assert_eq!(map_id(&None, 1 << 40), None);
    }
}
