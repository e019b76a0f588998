//! Where images come from: an OCI image layout directory or a `docker save`
//! archive. Every blob is checked against its digest and size before use.

use super::digest::{Digest, Hashing};
use super::{Error, Result};
use oci_spec::image::{Descriptor, ImageConfiguration, ImageIndex, ImageManifest};
use std::collections::HashMap;
use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Largest JSON document read (index, manifest, config): 4 MiB.
const MAX_JSON: u64 = 4 << 20;
const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// An OCI image layout directory or a `docker save` archive, opened.
///
/// # References
/// - [OCI image layout](https://github.com/opencontainers/image-spec/blob/main/image-layout.md)
/// - docker's `image save` archive (`manifest.json`, `repositories`):
///   moby `image/tarexport`.
#[derive(Debug, Clone)]
pub struct ImageSource {
    path: PathBuf,
    kind: Arc<Kind>,
}

#[derive(Debug)]
enum Kind {
    Layout(OwnedFd),
    Archive {
        file: File,
        /// Entry path (normalised) → (data offset, size, symlink target).
        entries: HashMap<String, (u64, u64, Option<String>)>,
        manifest: Vec<DockerManifest>,
        repositories: HashMap<String, HashMap<String, String>>,
    },
}

#[derive(Debug, Clone, serde::Deserialize)]
struct DockerManifest {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers")]
    layers: Vec<String>,
}

/// Where a blob is.
#[derive(Debug, Clone)]
enum Loc {
    Layout(Digest),
    Archive(String),
}

/// One layer of an image.
#[derive(Debug, Clone)]
pub struct LayerDescriptor {
    /// The blob's digest (`None` for a legacy docker archive's
    /// `<id>/layer.tar`, checked by its `diff_id` only).
    pub digest: Option<Digest>,
    /// The digest of the uncompressed tar (the config's `rootfs.diff_ids`).
    pub diff_id: Digest,
    /// The blob's size in bytes.
    pub size: u64,
    loc: Loc,
}

impl LayerDescriptor {
    /// The name errors give this layer: its blob digest, else its diff_id.
    pub fn name(&self) -> String {
        self.digest.as_ref().unwrap_or(&self.diff_id).to_string()
    }
}

/// An image found in a source: its verified config and layer list.
#[derive(Debug, Clone)]
pub struct Image {
    source: ImageSource,
    reference: String,
    config: ImageConfiguration,
    config_digest: Digest,
    layers: Vec<LayerDescriptor>,
}

fn normalise(p: &str) -> String {
    p.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

fn current_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        a => a,
    }
}

impl ImageSource {
    /// Opens an OCI image layout directory (it must hold `oci-layout`) or a
    /// `docker save` archive (an uncompressed tar file).
    ///
    /// # Errors
    /// [`Error::Io`] when the path cannot be read, [`Error::Format`] when it
    /// is neither.
    pub fn open(path: impl AsRef<Path>) -> Result<ImageSource> {
        let path = path.as_ref().to_path_buf();
        let md = std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?;
        let kind = if md.is_dir() {
            let fd = OwnedFd::from(File::open(&path).map_err(|e| Error::io(&path, e))?);
            let layout = read_limited(
                open_in(&fd, "oci-layout").map_err(|e| Error::io(path.join("oci-layout"), e))?,
                MAX_JSON,
            )
            .map_err(|e| Error::io(path.join("oci-layout"), e))?;
            let v: serde_json::Value =
                serde_json::from_slice(&layout).map_err(|e| Error::format("oci-layout", e))?;
            if v.get("imageLayoutVersion")
                .and_then(|v| v.as_str())
                .is_none()
            {
                return Err(Error::format("oci-layout", "no imageLayoutVersion"));
            }
            Kind::Layout(fd)
        } else {
            open_archive(&path)?
        };
        Ok(ImageSource {
            path,
            kind: Arc::new(kind),
        })
    }

    /// The layout directory or archive.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The references the source names: `org.opencontainers.image.ref.name`
    /// of `index.json`'s manifests, or a docker archive's `RepoTags` and
    /// `repositories`.
    ///
    /// # Errors
    /// As [`ImageSource::image`] for `index.json`.
    pub fn references(&self) -> Result<Vec<String>> {
        match &*self.kind {
            Kind::Layout(_) => Ok(self
                .index()?
                .manifests()
                .iter()
                .filter_map(|d| d.annotations().as_ref()?.get(REF_NAME).cloned())
                .collect()),
            Kind::Archive {
                manifest,
                repositories,
                ..
            } => {
                let mut v: Vec<String> = manifest
                    .iter()
                    .flat_map(|m| m.repo_tags.clone().unwrap_or_default())
                    .collect();
                for (repo, tags) in repositories {
                    for tag in tags.keys() {
                        let r = format!("{repo}:{tag}");
                        if !v.contains(&r) {
                            v.push(r);
                        }
                    }
                }
                Ok(v)
            }
        }
    }

    fn index(&self) -> Result<ImageIndex> {
        let Kind::Layout(fd) = &*self.kind else {
            unreachable!("layout only")
        };
        let p = self.path.join("index.json");
        let bytes = open_in(fd, "index.json")
            .and_then(|f| read_limited(f, MAX_JSON))
            .map_err(|e| Error::io(&p, e))?;
        ImageIndex::from_reader(&bytes[..]).map_err(|e| Error::format("index.json", e))
    }

    /// The image `reference` names: in a layout, the manifest whose
    /// `org.opencontainers.image.ref.name` is `reference` (a nested index
    /// is resolved to this machine's platform); in a docker archive, the
    /// entry whose `RepoTags` has `reference` (`name` alone means
    /// `name:latest`). An empty reference picks the only image of a source
    /// that has one. Its manifest and config are read and verified.
    ///
    /// # Errors
    /// [`Error::NotFound`], [`Error::DigestMismatch`] / [`Error::SizeMismatch`]
    /// for a blob that is not what its descriptor says, [`Error::Format`]
    /// for malformed JSON, [`Error::Unsupported`] for encrypted or foreign
    /// layers.
    pub fn image(&self, reference: &str) -> Result<Image> {
        match &*self.kind {
            Kind::Layout(_) => self.layout_image(reference),
            Kind::Archive { .. } => self.archive_image(reference),
        }
    }

    fn not_found(&self, reference: &str) -> Error {
        Error::NotFound {
            reference: reference.to_string(),
            location: self.path.clone(),
            available: self.references().unwrap_or_default(),
        }
    }

    fn layout_image(&self, reference: &str) -> Result<Image> {
        let index = self.index()?;
        let m = index.manifests();
        let found = m.iter().find(|d| {
            d.annotations()
                .as_ref()
                .and_then(|a| a.get(REF_NAME))
                .is_some_and(|r| r == reference)
        });
        let desc = match found {
            Some(d) => d.clone(),
            None if reference.is_empty() && m.len() == 1 => m[0].clone(),
            None => return Err(self.not_found(reference)),
        };
        self.resolve(desc, reference)
    }

    /// A directory whose `blobs/sha256/` holds the blobs (the store's
    /// content cache of pulled images): a layout without `index.json`.
    #[cfg(feature = "pull")]
    pub(crate) fn blob_dir(path: &Path) -> Result<ImageSource> {
        let fd = OwnedFd::from(File::open(path).map_err(|e| Error::io(path, e))?);
        Ok(ImageSource {
            path: path.to_path_buf(),
            kind: Arc::new(Kind::Layout(fd)),
        })
    }

    /// The image a manifest (or index) descriptor of this layout names.
    pub(crate) fn resolve(&self, desc: Descriptor, reference: &str) -> Result<Image> {
        let mut desc = desc;
        for _ in 0..4 {
            let mt = desc.media_type().to_string();
            if mt == "application/vnd.oci.image.index.v1+json"
                || mt == "application/vnd.docker.distribution.manifest.list.v2+json"
            {
                let bytes = self.json_blob(&desc)?;
                let idx = ImageIndex::from_reader(&bytes[..])
                    .map_err(|e| Error::format(desc.digest().to_string(), e))?;
                desc = idx
                    .manifests()
                    .iter()
                    .find(|d| {
                        d.platform().as_ref().is_some_and(|p| {
                            p.os().to_string() == "linux"
                                && p.architecture().to_string() == current_arch()
                        })
                    })
                    .cloned()
                    .ok_or_else(|| {
                        Error::Unsupported(format!(
                            "no linux/{} image in index {}",
                            current_arch(),
                            desc.digest()
                        ))
                    })?;
                continue;
            }
            let bytes = self.json_blob(&desc)?;
            let manifest = ImageManifest::from_reader(&bytes[..])
                .map_err(|e| Error::format(desc.digest().to_string(), e))?;
            let cdesc = manifest.config();
            let cbytes = self.json_blob(cdesc)?;
            let config = ImageConfiguration::from_reader(&cbytes[..])
                .map_err(|e| Error::format(cdesc.digest().to_string(), e))?;
            let diff_ids = diff_ids(&config, cdesc.digest().as_ref())?;
            if diff_ids.len() != manifest.layers().len() {
                return Err(Error::format(
                    desc.digest().to_string(),
                    format!(
                        "{} layers but {} diff_ids",
                        manifest.layers().len(),
                        diff_ids.len()
                    ),
                ));
            }
            let mut layers = Vec::new();
            for (l, diff_id) in manifest.layers().iter().zip(diff_ids) {
                let mt = l.media_type().to_string();
                if mt.contains("encrypted")
                    || mt.contains("foreign")
                    || mt.contains("nondistributable") && l.urls().is_some()
                {
                    return Err(Error::Unsupported(format!(
                        "layer {} of media type {mt}",
                        l.digest()
                    )));
                }
                let digest = Digest::parse(l.digest().as_ref())?;
                layers.push(LayerDescriptor {
                    digest: Some(digest.clone()),
                    diff_id,
                    size: l.size(),
                    loc: Loc::Layout(digest),
                });
            }
            return Ok(Image {
                source: self.clone(),
                reference: reference.to_string(),
                config,
                config_digest: Digest::parse(cdesc.digest().as_ref())?,
                layers,
            });
        }
        Err(Error::format(
            "index.json",
            "indexes nested more than 4 deep",
        ))
    }

    /// A JSON blob of a layout, verified against its descriptor.
    fn json_blob(&self, d: &Descriptor) -> Result<Vec<u8>> {
        let digest = Digest::parse(d.digest().as_ref())?;
        if d.size() > MAX_JSON {
            return Err(Error::TooLarge {
                layer: digest.to_string(),
                what: "JSON blob",
                limit: MAX_JSON,
            });
        }
        let r = self.open_loc(&Loc::Layout(digest.clone()))?;
        verified(
            r,
            &digest.to_string(),
            Some(&digest),
            Some(d.size()),
            "its descriptor",
        )
    }

    fn open_loc(&self, loc: &Loc) -> Result<Box<dyn Read + Send>> {
        match (&*self.kind, loc) {
            (Kind::Layout(fd), Loc::Layout(d)) => {
                let rel = format!("blobs/sha256/{}", d.hex());
                let f = open_in(fd, &rel).map_err(|e| Error::io(self.path.join(&rel), e))?;
                Ok(Box::new(f))
            }
            (Kind::Archive { file, entries, .. }, Loc::Archive(name)) => {
                let (off, size) = archive_entry(entries, name).ok_or_else(|| {
                    Error::format(
                        self.path.display().to_string(),
                        format!("no entry {name:?}"),
                    )
                })?;
                let file = file.try_clone().map_err(|e| Error::io(&self.path, e))?;
                Ok(Box::new(ReadAt {
                    file,
                    pos: off,
                    end: off + size,
                }))
            }
            _ => unreachable!("locations match their source"),
        }
    }

    fn archive_image(&self, reference: &str) -> Result<Image> {
        let Kind::Archive {
            manifest,
            repositories,
            ..
        } = &*self.kind
        else {
            unreachable!()
        };
        let full = if reference.is_empty()
            || reference
                .rsplit('/')
                .next()
                .is_some_and(|l| l.contains(':'))
        {
            reference.to_string()
        } else {
            format!("{reference}:latest")
        };
        let by_tag = manifest
            .iter()
            .find(|m| m.repo_tags.as_ref().is_some_and(|t| t.contains(&full)));
        // Legacy `repositories`: name → tag → top layer id.
        let by_repo = || {
            let (name, tag) = full.rsplit_once(':')?;
            let id = repositories.get(name)?.get(tag)?;
            manifest.iter().find(|m| {
                m.layers
                    .last()
                    .is_some_and(|l| normalise(l).starts_with(&format!("{id}/")))
            })
        };
        let m = match by_tag.or_else(by_repo) {
            Some(m) => m,
            None if reference.is_empty() && manifest.len() == 1 => &manifest[0],
            None => return Err(self.not_found(reference)),
        };
        // The config's name is its digest (`<hex>.json` or `blobs/sha256/<hex>`).
        let cname = normalise(&m.config);
        let chex = cname
            .rsplit('/')
            .next()
            .unwrap_or("")
            .trim_end_matches(".json");
        let cdigest = Digest::from_hex(chex).ok_or_else(|| {
            Error::format(
                "manifest.json",
                format!("config {cname:?} is not named by its digest"),
            )
        })?;
        let r = self.open_loc(&Loc::Archive(cname.clone()))?;
        let cbytes = verified(r, &cname, Some(&cdigest), None, "its name")?;
        let config = ImageConfiguration::from_reader(&cbytes[..])
            .map_err(|e| Error::format(cname.clone(), e))?;
        let diff_ids = diff_ids(&config, &cname)?;
        if diff_ids.len() != m.layers.len() {
            return Err(Error::format(
                "manifest.json",
                "layer count differs from the config's diff_ids",
            ));
        }
        let Kind::Archive { entries, .. } = &*self.kind else {
            unreachable!()
        };
        let mut layers = Vec::new();
        for (l, diff_id) in m.layers.iter().zip(diff_ids) {
            let name = normalise(l);
            let digest = name
                .strip_prefix("blobs/sha256/")
                .and_then(Digest::from_hex);
            let (_, size) = archive_entry(entries, &name).ok_or_else(|| {
                Error::format("manifest.json", format!("no layer entry {name:?}"))
            })?;
            layers.push(LayerDescriptor {
                digest,
                diff_id,
                size,
                loc: Loc::Archive(name),
            });
        }
        Ok(Image {
            source: self.clone(),
            reference: reference.to_string(),
            config,
            config_digest: cdigest,
            layers,
        })
    }
}

fn diff_ids(config: &ImageConfiguration, what: &str) -> Result<Vec<Digest>> {
    config
        .rootfs()
        .diff_ids()
        .iter()
        .map(|d| Digest::parse(d).map_err(|_| Error::format(what, format!("diff_id {d:?}"))))
        .collect()
}

/// Opens `rel` inside the layout directory, never leaving it.
fn open_in(dir: &OwnedFd, rel: &str) -> io::Result<File> {
    let c = CString::new(rel).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let resolve = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;
    // O_PATH first: a FIFO or device named like a blob is never opened.
    let (f, md) = super::unpack::lookup(dir.as_fd(), &c, 0, resolve)?;
    if !md.is_file() {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    super::unpack::reopen_file(&f)
}

fn read_limited(r: impl Read, limit: u64) -> io::Result<Vec<u8>> {
    // Room for a usual manifest, config or index up front: read_to_end
    // then reads it in one read(2) (and one more for the end), where an
    // empty Vec starts with 32-byte reads and grows (6 reads for 400 bytes).
    let mut v = Vec::with_capacity(8 << 10);
    r.take(limit + 1).read_to_end(&mut v)?;
    if v.len() as u64 > limit {
        return Err(io::Error::other("over 4 MiB"));
    }
    Ok(v)
}

/// Reads a small blob whole and checks its digest and size.
fn verified(
    r: impl Read,
    blob: &str,
    digest: Option<&Digest>,
    size: Option<u64>,
    what: &'static str,
) -> Result<Vec<u8>> {
    let bytes = read_limited(r, MAX_JSON).map_err(|e| Error::io(blob, e))?;
    if let Some(size) = size {
        if bytes.len() as u64 != size {
            return Err(Error::SizeMismatch {
                blob: blob.to_string(),
                expected: size,
                actual: bytes.len() as u64,
            });
        }
    }
    let actual = Digest::of(&bytes);
    if let Some(d) = digest {
        if *d != actual {
            return Err(Error::DigestMismatch {
                blob: blob.to_string(),
                what,
                actual: actual.to_string(),
            });
        }
    }
    Ok(bytes)
}

/// An archive entry's data (offset, size), following symlinks inside the
/// archive (docker writes repeated layers as links), at most 8.
fn archive_entry(
    entries: &HashMap<String, (u64, u64, Option<String>)>,
    name: &str,
) -> Option<(u64, u64)> {
    let mut name = normalise(name);
    for _ in 0..8 {
        let (off, size, link) = entries.get(&name)?;
        match link {
            None => return Some((*off, *size)),
            Some(target) => {
                // Relative to the link's directory, lexically, inside the archive.
                let mut parts: Vec<&str> = name.split('/').collect();
                parts.pop();
                for c in target.split('/') {
                    match c {
                        "" | "." => {}
                        ".." => {
                            parts.pop()?;
                        }
                        c => parts.push(c),
                    }
                }
                name = parts.join("/");
            }
        }
    }
    None
}

fn open_archive(path: &Path) -> Result<Kind> {
    let err = |e: io::Error| Error::io(path, e);
    let file = File::open(path).map_err(err)?;
    let mut entries = HashMap::new();
    {
        let mut ar = tar::Archive::new(&file);
        for e in ar.entries_with_seek().map_err(err)? {
            let e = e.map_err(err)?;
            let name = normalise(&String::from_utf8_lossy(&e.path_bytes()));
            let kind = e.header().entry_type();
            let link = if kind.is_symlink() || kind.is_hard_link() {
                e.link_name_bytes()
                    .map(|l| String::from_utf8_lossy(&l).into_owned())
            } else if kind.is_file() {
                None
            } else {
                continue;
            };
            // A hard link's name is relative to the archive's root: make it
            // relative to the entry's directory like a symlink's.
            let link = match (kind.is_hard_link(), link) {
                (true, Some(l)) => Some(format!(
                    "{}{}",
                    "../".repeat(name.matches('/').count()),
                    normalise(&l)
                )),
                (_, l) => l,
            };
            entries.insert(name, (e.raw_file_position(), e.size(), link));
        }
    }
    let read_json = |name: &str| -> Result<Option<Vec<u8>>> {
        let Some((off, size)) = archive_entry(&entries, name) else {
            return Ok(None);
        };
        if size > MAX_JSON {
            return Err(Error::format(name, "over 4 MiB"));
        }
        let mut f = file.try_clone().map_err(err)?;
        f.seek(SeekFrom::Start(off)).map_err(err)?;
        read_limited(f.take(size), MAX_JSON).map(Some).map_err(err)
    };
    let manifest: Vec<DockerManifest> = match read_json("manifest.json")? {
        Some(b) => serde_json::from_slice(&b).map_err(|e| Error::format("manifest.json", e))?,
        None => {
            return Err(Error::format(
                path.display().to_string(),
                "neither an OCI layout directory nor a docker archive with manifest.json",
            ))
        }
    };
    let repositories = match read_json("repositories")? {
        Some(b) => serde_json::from_slice(&b).map_err(|e| Error::format("repositories", e))?,
        None => HashMap::new(),
    };
    Ok(Kind::Archive {
        file,
        entries,
        manifest,
        repositories,
    })
}

impl Image {
    /// The reference it was found by.
    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// The image config (verified), as `oci-spec` parses it.
    pub fn config(&self) -> &ImageConfiguration {
        &self.config
    }

    /// The config blob's digest: the image id (`docker images --no-trunc`).
    pub fn id(&self) -> &Digest {
        &self.config_digest
    }

    /// The layers, bottom-most first (the manifest's order).
    pub fn layers(&self) -> &[LayerDescriptor] {
        &self.layers
    }

    /// The source it came from.
    pub fn source(&self) -> &ImageSource {
        &self.source
    }

    /// The raw (possibly compressed) blob of layer `i`, unverified: the
    /// [`Store`](super::Store) checks it while it unpacks.
    pub(crate) fn open_layer(&self, i: usize) -> Result<(Box<dyn Read + Send>, &LayerDescriptor)> {
        let l = &self.layers[i];
        Ok((self.source.open_loc(&l.loc)?, l))
    }
}

/// A reader of one range of a file by `pread` (clones of one file share an
/// offset; this does not use it).
struct ReadAt {
    file: File,
    pos: u64,
    end: u64,
}

impl Read for ReadAt {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let left = self.end.saturating_sub(self.pos);
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if n == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..n], self.pos)?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.pos += n as u64;
        Ok(n)
    }
}

/// Checks a streamed blob's digest and size after it was read to the end.
pub(crate) fn check_blob<R: Read>(h: Hashing<R>, l: &LayerDescriptor) -> Result<()> {
    let (actual, n) = h.finish().map_err(|e| Error::io(l.name(), e))?;
    if let Some(d) = &l.digest {
        if n != l.size {
            return Err(Error::SizeMismatch {
                blob: d.to_string(),
                expected: l.size,
                actual: n,
            });
        }
        if actual != *d {
            return Err(Error::DigestMismatch {
                blob: d.to_string(),
                what: "the manifest",
                actual: actual.to_string(),
            });
        }
    }
    Ok(())
}
