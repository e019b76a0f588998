//! Attacks on the layer unpacker (branch brk2): an image whose layers use
//! the root entry `/` that umoci writes, to slip other absolute names,
//! whiteouts or hard links through; layers that decompress far past the
//! size limit. Each case asserts what is on disk afterwards.

#[macro_use]
mod common;

use common::TempDir;
use containment::image::{unpack_layer, Error, UnpackOptions};
use std::io::Write;
use std::path::Path;

fn header(kind: tar::EntryType, path: &str, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    let name = &mut h.as_old_mut().name;
    name.fill(0);
    name[..path.len()].copy_from_slice(path.as_bytes());
    h.set_mode(mode);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_600_000_000);
    h.set_size(size);
    h.set_cksum();
    h
}

fn with_link(kind: tar::EntryType, path: &str, target: &str) -> tar::Header {
    let mut h = header(kind, path, 0o777, 0);
    let l = &mut h.as_old_mut().linkname;
    l.fill(0);
    l[..target.len()].copy_from_slice(target.as_bytes());
    h.set_cksum();
    h
}

fn tar_of(entries: &[(tar::Header, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (h, d) in entries {
        b.append(h, *d).unwrap();
    }
    b.into_inner().unwrap()
}

/// Every name under `dir` (relative), sorted.
fn listing(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            out.push(p.strip_prefix(base).unwrap().display().to_string());
            if e.file_type().unwrap().is_dir() {
                walk(base, &p, out);
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
    v.sort();
    v
}

/// A layer directory inside a sandbox directory whose other entries are
/// canaries: anything written beside the layer is an escape.
struct Sandbox {
    tmp: TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        let tmp = TempDir::new("escapes-images");
        std::fs::create_dir(tmp.path().join("layer")).unwrap();
        std::fs::create_dir(tmp.path().join("outside")).unwrap();
        Sandbox { tmp }
    }
    fn layer(&self) -> std::path::PathBuf {
        self.tmp.path().join("layer")
    }
    fn unpack(&self, tar: &[u8]) -> Result<(), Error> {
        unpack_layer(tar, &self.layer(), &[], &UnpackOptions::new()).map(|_| ())
    }
    fn assert_outside_untouched(&self, case: &str) {
        let mut top: Vec<String> = std::fs::read_dir(self.tmp.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        top.sort();
        assert_eq!(
            top,
            ["layer", "outside"],
            "{case}: written beside the layer"
        );
        assert!(
            listing(&self.tmp.path().join("outside")).is_empty(),
            "{case}: written into outside/"
        );
        let md = std::fs::symlink_metadata(self.layer()).unwrap();
        assert!(
            md.is_dir(),
            "{case}: the layer root is no longer a directory"
        );
    }
}

#[test]
fn absolute_names_beside_the_root_entry_are_refused() {
    require_root!();
    let outside = |s: &Sandbox| s.tmp.path().join("outside").display().to_string();
    let names = |s: &Sandbox| {
        let o = outside(s);
        vec![
            "/.".to_string(),
            "/..".to_string(),
            "/./..".to_string(),
            "//..".to_string(),
            "/../outside/x".to_string(),
            "//x".to_string(),
            "/./x".to_string(),
            format!("/{o}/x"),
            format!("{o}/x"),
            "./../outside/x".to_string(),
            "/.wh.outside".to_string(),
            "/.wh..wh..opq".to_string(),
        ]
    };
    let s0 = Sandbox::new();
    for name in names(&s0) {
        let s = Sandbox::new();
        let tar = tar_of(&[
            (header(tar::EntryType::Directory, "/", 0o755, 0), &[]),
            (header(tar::EntryType::Regular, &name, 0o644, 5), b"pwned"),
        ]);
        let r = s.unpack(&tar);
        assert!(
            matches!(r, Err(Error::UnsafeEntry { .. })),
            "{name:?}: {r:?}"
        );
        s.assert_outside_untouched(&name);
        assert!(
            listing(&s.layer()).is_empty(),
            "{name:?}: {:?}",
            listing(&s.layer())
        );
    }
}

/// The root entry itself as a symlink, a file or a hard link (`/`, `//`,
/// `./`): never replaces the layer's root, whose later entries stay in it.
#[test]
fn a_root_entry_of_another_type_changes_nothing() {
    require_root!();
    for (i, root) in ["/", "//", "./", ".", "///"].iter().enumerate() {
        let s = Sandbox::new();
        let out = s.tmp.path().join("outside").display().to_string();
        let kinds = [
            with_link(tar::EntryType::Symlink, root, &out),
            with_link(tar::EntryType::Link, root, "etc"),
            header(tar::EntryType::Regular, root, 0o644, 0),
            header(tar::EntryType::Fifo, root, 0o644, 0),
        ];
        for (j, h) in kinds.into_iter().enumerate() {
            let tar = tar_of(&[
                (header(tar::EntryType::Directory, "etc", 0o755, 0), &[]),
                (h, &[]),
                (header(tar::EntryType::Regular, "x", 0o644, 5), b"inner"),
            ]);
            let case = format!("root entry {root:?} kind #{j} (#{i})");
            let _ = s.unpack(&tar);
            s.assert_outside_untouched(&case);
        }
    }
}

/// Hard links whose target is the layer's root under any spelling.
#[test]
fn hard_links_to_the_root_are_refused() {
    require_root!();
    for target in ["/", "//", ".", "./", "/.", "./.", "/./", "..", "/.."] {
        let s = Sandbox::new();
        let tar = tar_of(&[(with_link(tar::EntryType::Link, "l", target), &[])]);
        let r = s.unpack(&tar);
        assert!(r.is_err(), "hard link to {target:?} accepted");
        assert!(
            std::fs::symlink_metadata(s.layer().join("l")).is_err(),
            "{target:?}: something made at l"
        );
        s.assert_outside_untouched(target);
    }
}

/// Whiteouts that name nothing or the parent: refused.
#[test]
fn whiteouts_of_no_name_are_refused() {
    require_root!();
    for name in [".wh.", ".wh./", "a/.wh..", "a/.wh..."] {
        let s = Sandbox::new();
        let tar = tar_of(&[
            (header(tar::EntryType::Directory, "a", 0o755, 0), &[]),
            (header(tar::EntryType::Regular, name, 0o644, 0), &[]),
        ]);
        let r = s.unpack(&tar);
        s.assert_outside_untouched(name);
        if name == "a/.wh..." {
            // ".." is a name here (three dots): a whiteout of "..".
            assert!(r.is_err(), "{name:?}: {r:?}");
        } else {
            assert!(r.is_err(), "{name:?}: {r:?}");
        }
    }
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// Compressed layers that expand far past the limit: inside an entry,
/// after the end of the archive, and as many concatenated gzip members.
/// Each stops with TooLarge having read little more than the limit.
#[test]
fn decompression_bombs_stop_at_the_limit() {
    require_root!();
    const LIMIT: u64 = 1 << 20;
    let big = vec![0u8; 64 << 20];
    let one_entry = {
        let mut b = tar::Builder::new(Vec::new());
        b.append(
            &header(tar::EntryType::Regular, "zeros", 0o644, big.len() as u64),
            &big[..],
        )
        .unwrap();
        b.into_inner().unwrap()
    };
    let trailing = {
        let mut t = tar_of(&[(header(tar::EntryType::Regular, "small", 0o644, 2), b"ok")]);
        t.extend_from_slice(&big);
        t
    };
    let members = {
        let m = gzip(&vec![0u8; 8 << 20]);
        let mut v = gzip(&tar_of(&[(
            header(tar::EntryType::Regular, "small", 0o644, 2),
            b"ok",
        )]));
        for _ in 0..8 {
            v.extend_from_slice(&m);
        }
        v
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("gzip, one entry", gzip(&one_entry)),
        (
            "zstd, one entry",
            zstd::stream::encode_all(&one_entry[..], 19).unwrap(),
        ),
        ("gzip, after the archive's end", gzip(&trailing)),
        (
            "zstd, after the archive's end",
            zstd::stream::encode_all(&trailing[..], 19).unwrap(),
        ),
        ("gzip, concatenated members", members),
    ];
    for (case, blob) in cases {
        assert!(blob.len() < 2 << 20, "{case}: fixture too big");
        let s = Sandbox::new();
        let opts = UnpackOptions::new().max_layer_bytes(LIMIT);
        let r = unpack_layer(&blob[..], &s.layer(), &[], &opts);
        assert!(
            matches!(r, Err(Error::TooLarge { .. })),
            "{case}: {:?}",
            r.map(|st| st.tar_bytes)
        );
        let used: u64 = listing(&s.layer())
            .iter()
            .filter_map(|p| std::fs::metadata(s.layer().join(p)).ok())
            .map(|m| m.len())
            .sum();
        assert!(used <= LIMIT, "{case}: {used} bytes written");
        s.assert_outside_untouched(case);
    }
}
