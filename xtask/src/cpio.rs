//! A writer of `newc` cpio archives, the format the kernel unpacks as an
//! initramfs (`Documentation/driver-api/early-userspace/buffer-format.rst`).
//!
//! The archive is described as a tree in memory (paths → entries) and
//! streamed out in path order, so parents always precede their children.
//! Every entry is owned by root; file contents are read from the host at
//! write time.

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// One archive member.
#[derive(Debug, Clone)]
pub enum Entry {
    Dir {
        mode: u32,
    },
    /// Contents copied from a host file at write time.
    HostFile {
        src: PathBuf,
        mode: u32,
    },
    File {
        data: Vec<u8>,
        mode: u32,
    },
    Symlink {
        target: String,
    },
    CharDev {
        mode: u32,
        major: u32,
        minor: u32,
    },
}

/// A cpio archive under construction.
#[derive(Debug, Default)]
pub struct Archive {
    entries: BTreeMap<String, Entry>,
}

fn norm(path: &str) -> String {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

impl Archive {
    pub fn new() -> Self {
        Self::default()
    }

    /// Whether `path` is already in the archive.
    pub fn contains(&self, path: &str) -> bool {
        self.entries.contains_key(&norm(path))
    }

    /// Adds `path` (and any missing parent directories, mode 0755).
    pub fn add(&mut self, path: &str, entry: Entry) {
        let path = norm(path);
        let mut parent = String::new();
        for comp in path
            .split('/')
            .collect::<Vec<_>>()
            .iter()
            .rev()
            .skip(1)
            .rev()
        {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(comp);
            self.entries
                .entry(parent.clone())
                .or_insert(Entry::Dir { mode: 0o755 });
        }
        if !path.is_empty() {
            self.entries.insert(path, entry);
        }
    }

    pub fn dir(&mut self, path: &str) {
        self.add(path, Entry::Dir { mode: 0o755 });
    }

    pub fn bytes(&mut self, path: &str, data: impl Into<Vec<u8>>, mode: u32) {
        self.add(
            path,
            Entry::File {
                data: data.into(),
                mode,
            },
        );
    }

    /// Adds a host file (following symlinks), keeping its permission bits.
    pub fn host_file(&mut self, path: &str, src: &Path) -> io::Result<()> {
        let meta = fs::metadata(src).map_err(|e| annotate(e, src))?;
        self.add(
            path,
            Entry::HostFile {
                src: src.to_owned(),
                mode: meta.permissions().mode() & 0o7777,
            },
        );
        Ok(())
    }

    /// Adds a host file or, recursively, a host directory at `path`.
    /// Symlinks inside a directory are kept as symlinks.
    pub fn host_tree(&mut self, path: &str, src: &Path) -> io::Result<()> {
        let meta = fs::metadata(src).map_err(|e| annotate(e, src))?;
        if !meta.is_dir() {
            return self.host_file(path, src);
        }
        self.add(
            path,
            Entry::Dir {
                mode: meta.permissions().mode() & 0o7777,
            },
        );
        for e in fs::read_dir(src).map_err(|e| annotate(e, src))? {
            let e = e?;
            let name = e.file_name().to_string_lossy().into_owned();
            let child = format!("{path}/{name}");
            let ft = e.file_type()?;
            if ft.is_symlink() {
                let target = fs::read_link(e.path())?;
                self.add(
                    &child,
                    Entry::Symlink {
                        target: target.to_string_lossy().into_owned(),
                    },
                );
            } else {
                self.host_tree(&child, &e.path())?;
            }
        }
        Ok(())
    }

    /// Streams the archive (with its `TRAILER!!!`) to `out`; returns the
    /// number of bytes written.
    pub fn write_to(&self, out: &mut impl Write) -> io::Result<u64> {
        let mut w = Counter { inner: out, n: 0 };
        for (ino, (path, entry)) in self.entries.iter().enumerate() {
            let ino = ino as u32 + 1;
            match entry {
                Entry::Dir { mode } => header(&mut w, path, ino, 0o040000 | mode, 2, 0, (0, 0))?,
                Entry::File { data, mode } => {
                    header(
                        &mut w,
                        path,
                        ino,
                        0o100000 | mode,
                        1,
                        data.len() as u64,
                        (0, 0),
                    )?;
                    w.write_all(data)?;
                    pad(&mut w)?;
                }
                Entry::HostFile { src, mode } => {
                    let mut f = fs::File::open(src).map_err(|e| annotate(e, src))?;
                    let len = f.metadata()?.len();
                    header(&mut w, path, ino, 0o100000 | mode, 1, len, (0, 0))?;
                    let copied = io::copy(&mut f, &mut w)?;
                    if copied != len {
                        return Err(io::Error::other(format!(
                            "{}: changed size while archiving",
                            src.display()
                        )));
                    }
                    pad(&mut w)?;
                }
                Entry::Symlink { target } => {
                    header(&mut w, path, ino, 0o120777, 1, target.len() as u64, (0, 0))?;
                    w.write_all(target.as_bytes())?;
                    pad(&mut w)?;
                }
                Entry::CharDev { mode, major, minor } => {
                    header(&mut w, path, ino, 0o020000 | mode, 1, 0, (*major, *minor))?
                }
            }
        }
        header(&mut w, "TRAILER!!!", 0, 0, 1, 0, (0, 0))?;
        Ok(w.n)
    }
}

fn annotate(e: io::Error, p: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", p.display()))
}

struct Counter<'a, W: Write> {
    inner: &'a mut W,
    n: u64,
}

impl<W: Write> Write for Counter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let k = self.inner.write(buf)?;
        self.n += k as u64;
        Ok(k)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn pad<W: Write>(w: &mut Counter<'_, W>) -> io::Result<()> {
    let rem = (4 - (w.n % 4) as usize) % 4;
    w.write_all(&[0u8; 3][..rem])
}

fn header<W: Write>(
    w: &mut Counter<'_, W>,
    name: &str,
    ino: u32,
    mode: u32,
    nlink: u32,
    size: u64,
    rdev: (u32, u32),
) -> io::Result<()> {
    let size = u32::try_from(size).map_err(|_| {
        io::Error::other(format!(
            "{name}: larger than 4 GiB, cpio newc cannot hold it"
        ))
    })?;
    let fields = [
        ino,
        mode,
        0,
        0,
        nlink,
        0,
        size,
        0,
        0,
        rdev.0,
        rdev.1,
        name.len() as u32 + 1,
        0,
    ];
    let mut h = String::from("070701");
    for f in fields {
        h.push_str(&format!("{f:08X}"));
    }
    w.write_all(h.as_bytes())?;
    w.write_all(name.as_bytes())?;
    w.write_all(&[0])?;
    pad(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_newc() {
        let mut a = Archive::new();
        a.bytes("/etc/x", "hello", 0o644);
        a.add(
            "dev/console",
            Entry::CharDev {
                mode: 0o600,
                major: 5,
                minor: 1,
            },
        );
        let mut out = Vec::new();
        let n = a.write_to(&mut out).unwrap();
        assert_eq!(n as usize, out.len());
        assert_eq!(out.len() % 4, 0);
        // dev, dev/console, etc, etc/x, trailer
        let text = String::from_utf8_lossy(&out);
        assert_eq!(text.matches("070701").count(), 5);
        assert!(out.starts_with(b"070701"));
        let first_name = &out[110..113];
        assert_eq!(first_name, b"dev");
        assert!(text.contains("etc/x\0"));
        assert!(text.contains("hello"));
        assert!(text.contains("TRAILER!!!\0"));
        // The file entry: mode 0100644, size 5.
        let pos = text.find("etc/x\0").unwrap() - 110;
        assert_eq!(&text[pos + 14..pos + 22], "000081A4");
        assert_eq!(&text[pos + 54..pos + 62], "00000005");
    }
}
