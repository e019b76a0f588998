//! sha256 digests and readers that compute them while data streams.

use sha2::{Digest as _, Sha256};
use std::fmt;
use std::io::{self, Read};

/// A `sha256:<64 lower-case hex digits>` content digest (the only algorithm
/// accepted: the OCI spec's registered `sha512` is refused as unsupported,
/// nothing else is a digest).
///
/// # References
/// - [OCI descriptor digests](https://github.com/opencontainers/image-spec/blob/main/descriptor.md#digests)
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

impl Digest {
    /// Parses `sha256:<hex>`.
    ///
    /// # Errors
    /// [`super::Error::Format`] for anything else (upper-case hex, other
    /// lengths, other algorithms).
    pub fn parse(s: &str) -> super::Result<Digest> {
        let bad = || super::Error::format("digest", format!("{s:?} is not sha256:<64 hex digits>"));
        let hex = s.strip_prefix("sha256:").ok_or_else(bad)?;
        Digest::from_hex(hex).ok_or_else(bad)
    }

    /// From 64 lower-case hex digits.
    pub fn from_hex(hex: &str) -> Option<Digest> {
        let b = hex.as_bytes();
        if b.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in b.chunks(2).enumerate() {
            let v = |c: u8| match c {
                b'0'..=b'9' => Some(c - b'0'),
                b'a'..=b'f' => Some(c - b'a' + 10),
                _ => None,
            };
            out[i] = v(pair[0])? << 4 | v(pair[1])?;
        }
        Some(Digest(out))
    }

    /// The sha256 of `data`.
    pub fn of(data: &[u8]) -> Digest {
        Digest(Sha256::digest(data).into())
    }

    /// The 64 hex digits, without the algorithm.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The layer store's key of a layer stack: the OCI `ChainID`
    /// (`chain(n) = sha256(chain(n-1) + " " + diff_id(n))`, the first is its
    /// diff_id). A layer's unpacked form depends on the layers below it only
    /// through hard links to lower files, so layers are stored per chain.
    ///
    /// # References
    /// - [OCI ChainID](https://github.com/opencontainers/image-spec/blob/main/config.md#layer-chainid)
    pub fn chain(parent: Option<&Digest>, diff_id: &Digest) -> Digest {
        match parent {
            None => diff_id.clone(),
            Some(p) => Digest::of(format!("{p} {diff_id}").as_bytes()),
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A reader that hashes and counts what passes through it, and fails once
/// more than `limit` bytes went through.
pub(crate) struct Hashing<R> {
    inner: R,
    hasher: Sha256,
    pub(crate) count: u64,
    limit: u64,
}

impl<R: Read> Hashing<R> {
    pub(crate) fn new(inner: R, limit: u64) -> Hashing<R> {
        Hashing {
            inner,
            hasher: Sha256::new(),
            count: 0,
            limit,
        }
    }

    /// Reads to the end (hashing it), then gives the digest and byte count.
    pub(crate) fn finish(mut self) -> io::Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        Ok((Digest(self.hasher.finalize().into()), self.count))
    }

    pub(crate) fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }
}

/// The error kind a [`Hashing`] reader gives past its limit.
pub(crate) const OVER_LIMIT: &str = "containment: stream over its size limit";

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        if self.count > self.limit {
            return Err(io::Error::other(OVER_LIMIT));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        let d = Digest::of(b"");
        let s = d.to_string();
        assert_eq!(
            s,
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(Digest::parse(&s).unwrap(), d);
        assert!(Digest::parse(&s.to_uppercase()).is_err());
        assert!(Digest::parse("sha256:../../etc").is_err());
        assert!(Digest::parse("sha512:00").is_err());
    }
}
