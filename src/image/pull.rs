//! Images from a registry (feature `pull`): the OCI distribution API through
//! `oci-client`, blobs kept in the store's content cache
//! (`<store>/blobs/sha256/<hex>`), each fetched once and checked against
//! its digest and size before it is kept.

use super::digest::Digest;
use super::source::{Image, ImageSource};
use super::store::{LayerProgress, Store};
use super::{Error, Result};
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use oci_spec::image::{DescriptorBuilder, ImageIndex, ImageManifest, MediaType};
use std::io::Read;
use std::path::PathBuf;
use std::str::FromStr;

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const MAX_MANIFEST: usize = 4 << 20;

/// How to reach a registry.
#[derive(Debug, Clone, Default)]
#[cfg_attr(all(docsrs, containment_nightly), doc(cfg(feature = "pull")))]
pub struct PullOptions {
    http: Vec<String>,
    auth: Option<(String, String)>,
}

impl PullOptions {
    /// HTTPS to every registry, anonymously.
    pub fn new() -> PullOptions {
        PullOptions::default()
    }

    /// Talks plain HTTP to `registry` (`host:port`, as the reference names
    /// it): a local test registry.
    pub fn insecure_registry(mut self, registry: impl Into<String>) -> PullOptions {
        self.http.push(registry.into());
        self
    }

    /// HTTP basic credentials (exchanged for a token when the registry asks).
    pub fn basic_auth(
        mut self,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> PullOptions {
        self.auth = Some((user.into(), password.into()));
        self
    }
}

fn net(what: &str, e: impl std::fmt::Display) -> Error {
    Error::format(format!("registry: {what}"), e)
}

fn current_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    }
}

impl Store {
    /// Pulls `reference` (`registry/repository:tag` or `…@sha256:…`) into
    /// the store's blob cache and gives the image, ready for
    /// [`Store::unpack`]. Blobs already in the cache are not fetched again
    /// (`progress` reports them `cached`); each fetched blob is checked
    /// against its digest and size before it is kept. An index is resolved
    /// to this machine's platform (`linux/<arch>`).
    ///
    /// # Errors
    /// [`Error::Format`] for the registry's errors and malformed
    /// manifests, [`Error::DigestMismatch`] / [`Error::SizeMismatch`] for a
    /// blob that is not what its descriptor says, [`Error::TooLarge`] for a
    /// descriptor whose size is over the store's layer limit
    /// ([`UnpackOptions::max_layer_bytes`](super::UnpackOptions::max_layer_bytes)),
    /// [`Error::Io`] for the store.
    #[cfg_attr(all(docsrs, containment_nightly), doc(cfg(feature = "pull")))]
    pub fn pull(
        &self,
        reference: &str,
        opts: &PullOptions,
        progress: &mut dyn FnMut(LayerProgress),
    ) -> Result<Image> {
        let r = Reference::from_str(reference).map_err(|e| net("reference", e))?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::io("tokio runtime", e))?;
        let client = Client::new(ClientConfig {
            protocol: ClientProtocol::HttpsExcept(opts.http.clone()),
            ..Default::default()
        });
        let auth = match &opts.auth {
            None => RegistryAuth::Anonymous,
            Some((u, p)) => RegistryAuth::Basic(u.clone(), p.clone()),
        };
        let blobs = self.path().join("blobs/sha256");
        std::fs::create_dir_all(&blobs).map_err(|e| Error::io(&blobs, e))?;
        rt.block_on(async {
            // The manifest, through an index when the reference names one.
            let accept = [OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_LIST];
            let mut r = r;
            let (bytes, digest, media_type) = loop {
                let (bytes, _) = client
                    .pull_manifest_raw(&r, &auth, &accept)
                    .await
                    .map_err(|e| net("manifest", e))?;
                if bytes.len() > MAX_MANIFEST {
                    return Err(net("manifest", "over 4 MiB"));
                }
                let digest = Digest::of(&bytes);
                if let Some(want) = r.digest() {
                    if want != digest.to_string() {
                        return Err(Error::DigestMismatch {
                            blob: want.to_string(),
                            what: "the reference",
                            actual: digest.to_string(),
                        });
                    }
                }
                self.keep_blob(&digest, &bytes)?;
                let v: serde_json::Value =
                    serde_json::from_slice(&bytes).map_err(|e| net("manifest", e))?;
                let mt = v
                    .get("mediaType")
                    .and_then(|m| m.as_str())
                    .unwrap_or(OCI_MANIFEST)
                    .to_string();
                if mt == OCI_INDEX || mt == DOCKER_LIST {
                    let idx = ImageIndex::from_reader(&bytes[..]).map_err(|e| net("index", e))?;
                    let m = idx
                        .manifests()
                        .iter()
                        .find(|d| {
                            d.platform().as_ref().is_some_and(|p| {
                                p.os().to_string() == "linux"
                                    && p.architecture().to_string() == current_arch()
                            })
                        })
                        .ok_or_else(|| {
                            Error::Unsupported(format!(
                                "no linux/{} image in {reference}",
                                current_arch()
                            ))
                        })?;
                    r = r.clone_with_digest(m.digest().to_string());
                    continue;
                }
                break (bytes, digest, mt);
            };
            let manifest =
                ImageManifest::from_reader(&bytes[..]).map_err(|e| net("manifest", e))?;
            let descs = std::iter::once(manifest.config()).chain(manifest.layers().iter());
            let count = manifest.layers().len();
            for (i, d) in descs.enumerate() {
                let digest = Digest::parse(d.digest().as_ref())?;
                let path = blobs.join(digest.hex());
                let layer = i.checked_sub(1);
                let report = |cached: bool| LayerProgress {
                    index: layer.unwrap_or(0),
                    count,
                    layer: digest.to_string(),
                    done: d.size(),
                    total: d.size(),
                    cached,
                };
                if path.exists() {
                    if layer.is_some() {
                        progress(report(true));
                    }
                    continue;
                }
                // (branch brk2) A descriptor is the registry's word: a
                // blob announced larger than the store's layer limit
                // (compressed data is not larger than what it expands to)
                // is refused before a byte of it is fetched, else a
                // registry lying about sizes fills the store's disk.
                let limit = self.opts.max_bytes;
                if d.size() > limit {
                    return Err(Error::TooLarge {
                        layer: digest.to_string(),
                        what: if layer.is_some() {
                            "layer blob (its descriptor's size)"
                        } else {
                            "config blob (its descriptor's size)"
                        },
                        limit,
                    });
                }
                let tmp = self.tmp_path(&digest);
                let file = tokio::fs::File::create(&tmp)
                    .await
                    .map_err(|e| Error::io(&tmp, e))?;
                let (index, total) = (layer.unwrap_or(0), d.size());
                let mut report_bytes = |done: u64| {
                    if layer.is_some() {
                        progress(LayerProgress {
                            index,
                            count,
                            layer: digest.to_string(),
                            done,
                            total,
                            cached: false,
                        })
                    }
                };
                let out = Counting {
                    inner: file,
                    count: 0,
                    last: 0,
                    limit: total,
                    cb: &mut report_bytes,
                };
                let res = client
                    .pull_blob(&r, digest.to_string().as_str(), out)
                    .await
                    .map_err(|e| net(&format!("blob {digest}"), e));
                let res = res.and_then(|()| self.check_and_keep(&tmp, &digest, d.size()));
                if res.is_err() {
                    let _ = std::fs::remove_file(&tmp);
                }
                res?;
                if layer.is_some() {
                    progress(report(false));
                }
            }
            let mt = match media_type.as_str() {
                OCI_MANIFEST => MediaType::ImageManifest,
                other => MediaType::Other(other.to_string()),
            };
            let desc = DescriptorBuilder::default()
                .media_type(mt)
                .digest(
                    oci_spec::image::Digest::from_str(&digest.to_string())
                        .map_err(|e| net("digest", e))?,
                )
                .size(bytes.len() as u64)
                .build()
                .map_err(|e| net("descriptor", e))?;
            ImageSource::blob_dir(self.path())?.resolve(desc, reference)
        })
    }

    fn tmp_path(&self, digest: &Digest) -> PathBuf {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.path()
            .join("tmp")
            .join(format!("blob-{}-{}-{n}", digest.hex(), std::process::id()))
    }

    /// Small blobs (manifests) fetched whole: checked, then kept.
    fn keep_blob(&self, digest: &Digest, bytes: &[u8]) -> Result<()> {
        let path = self.path().join("blobs/sha256").join(digest.hex());
        if path.exists() {
            return Ok(());
        }
        let tmp = self.tmp_path(digest);
        std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))
    }

    /// Hashes a downloaded blob; renames it into the cache when it is what
    /// its descriptor says.
    fn check_and_keep(&self, tmp: &std::path::Path, digest: &Digest, size: u64) -> Result<()> {
        let f = std::fs::File::open(tmp).map_err(|e| Error::io(tmp, e))?;
        let mut h = super::digest::Hashing::new(f, u64::MAX);
        std::io::copy(&mut (&mut h).take(u64::MAX), &mut std::io::sink())
            .map_err(|e| Error::io(tmp, e))?;
        let (actual, n) = h.finish().map_err(|e| Error::io(tmp, e))?;
        if n != size {
            return Err(Error::SizeMismatch {
                blob: digest.to_string(),
                expected: size,
                actual: n,
            });
        }
        if actual != *digest {
            return Err(Error::DigestMismatch {
                blob: digest.to_string(),
                what: "the manifest",
                actual: actual.to_string(),
            });
        }
        let path = self.path().join("blobs/sha256").join(digest.hex());
        std::fs::rename(tmp, &path).map_err(|e| Error::io(&path, e))
    }
}

// image additions (branch `image`): a blob's bytes counted as they arrive
// (progress every MiB) and cut off one byte past the descriptor's size, so
// a registry cannot fill the disk with an endless blob.
struct Counting<'a, W> {
    inner: W,
    count: u64,
    last: u64,
    limit: u64,
    cb: &'a mut dyn FnMut(u64),
}

impl<W: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for Counting<'_, W> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.count.saturating_add(buf.len() as u64) > this.limit {
            return std::task::Poll::Ready(Err(std::io::Error::other(format!(
                "the blob is larger than its descriptor's {} bytes",
                this.limit
            ))));
        }
        let res = std::pin::Pin::new(&mut this.inner).poll_write(cx, buf);
        if let std::task::Poll::Ready(Ok(n)) = &res {
            this.count += *n as u64;
            if this.count - this.last >= 1 << 20 {
                this.last = this.count;
                (this.cb)(this.count);
            }
        }
        res
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
