//! A rootless image store used by an unprivileged user (feature `image`):
//! the layers unpacked by the user (owners mapped to the user's own id,
//! whiteouts as 0/0 character devices, opaque directories as
//! `user.overlay.opaque`), stacked by an overlay mounted with `userxattr`
//! inside the container's user namespace. As root the test runs itself
//! again as an unused uid (no subordinate ids needed: the user's own id is
//! the container's root); in the rootless CI suite (.ci/rootless) it runs
//! as that user directly.

#[macro_use]
mod common;

use containment::image::{ImageSource, Store, StoreOptions};
use containment::{Container, IdMap, Namespaces};
use sha2::{Digest as _, Sha256};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

const ROLE: &str = "CONTAINMENT_IMAGE_ROOTLESS_ROLE";
const UID: u32 = 54_610;

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn sha(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A layer of (path, kind, data): kind `d` directory, `f` file, `x`
/// executable, `l` symlink to data. Every entry owned by 0:0.
fn layer(entries: &[(&str, char, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, kind, data) in entries {
        let mut h = tar::Header::new_ustar();
        let (t, mode, size) = match kind {
            'd' => (tar::EntryType::Directory, 0o755, 0),
            'l' => (tar::EntryType::Symlink, 0o777, 0),
            'x' => (tar::EntryType::Regular, 0o755, data.len()),
            _ => (tar::EntryType::Regular, 0o644, data.len()),
        };
        h.set_entry_type(t);
        h.set_path(path).unwrap();
        if *kind == 'l' {
            h.set_link_name(std::str::from_utf8(data).unwrap()).unwrap();
        }
        h.set_mode(mode);
        h.set_size(size as u64);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_600_000_000);
        h.set_cksum();
        let body: &[u8] = if *kind == 'l' || *kind == 'd' {
            &[]
        } else {
            data
        };
        b.append(&h, body).unwrap();
    }
    b.into_inner().unwrap()
}

fn put_blob(dir: &Path, b: &[u8], media: &str) -> serde_json::Value {
    let h = sha(b);
    std::fs::write(dir.join("blobs/sha256").join(&h), b).unwrap();
    serde_json::json!({"mediaType": media, "digest": format!("sha256:{h}"), "size": b.len()})
}

fn layout(dir: &Path, layers: &[Vec<u8>]) {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", sha(l)))
        .collect();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap();
    let c = put_blob(dir, &config, "application/vnd.oci.image.config.v1+json");
    let ls: Vec<_> = layers
        .iter()
        .map(|l| put_blob(dir, l, "application/vnd.oci.image.layer.v1.tar"))
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": c, "layers": ls,
    }))
    .unwrap();
    let mut m = put_blob(dir, &manifest, "application/vnd.oci.image.manifest.v1+json");
    m["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "r"});
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [m]})).unwrap(),
    )
    .unwrap();
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let p = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    let mut buf = [0u8; 64];
    // SAFETY: valid C strings and buffer.
    let r = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (r >= 0).then(|| buf[..r as usize].to_vec())
}

fn case() {
    let Some(busybox) = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .find(|p| Path::new(p).exists())
    else {
        panic!("busybox-static is not installed (apt-get install busybox-static)");
    };
    // SAFETY: getuid/getgid have no preconditions.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    assert_ne!(uid, 0, "the case runs unprivileged");
    let t = TempDir(std::env::temp_dir().join(common::unique("containment-image-rootless")));
    std::fs::create_dir_all(&t.0).unwrap();
    let bb = std::fs::read(busybox).unwrap();
    let mut base: Vec<(&str, char, &[u8])> = vec![("bin", 'd', b""), ("bin/busybox", 'x', &bb)];
    for applet in ["bin/sh", "bin/ls", "bin/id", "bin/rm", "bin/test"] {
        base.push((applet, 'l', b"busybox"));
    }
    base.extend([
        ("opaque", 'd', &b""[..]),
        ("opaque/old", 'f', b"old\n"),
        ("gone", 'f', b"gone\n"),
        ("proc", 'd', b""),
        ("dev", 'd', b""),
    ]);
    let top = layer(&[
        ("opaque", 'd', b""),
        ("opaque/.wh..wh..opq", 'f', b""),
        ("opaque/new", 'f', b"new\n"),
        (".wh.gone", 'f', b""),
    ]);
    layout(&t.0.join("oci"), &[layer(&base), top]);
    let (um, gm) = (IdMap::new(0, uid, 1), IdMap::new(0, gid, 1));
    let store = Store::open(
        t.0.join("store"),
        StoreOptions::rootless(vec![um], vec![gm]),
    )
    .unwrap();
    let image = ImageSource::open(t.0.join("oci"))
        .unwrap()
        .image("r")
        .unwrap();
    let layers = store.unpack(&image, &mut |_| {}).unwrap();
    let l2 = &layers.layers()[1].path;
    assert_eq!(
        xattr(&l2.join("opaque"), "user.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    let wh = std::fs::symlink_metadata(l2.join("gone")).unwrap();
    assert!(wh.file_type().is_char_device() && wh.rdev() == 0);
    assert_eq!(wh.uid(), uid);

    let root = store.container_root(&layers).unwrap();
    let mut b = Container::new()
        .unshare(Namespaces::USER | Namespaces::MOUNT | Namespaces::PID)
        .uid_map([um])
        .gid_map([gm])
        .rootfs(root.rootfs())
        .command("/bin/sh");
    b.args([
        "-c",
        "ls /opaque; test -e /gone && echo GONE; echo w > /opaque/w; rm /opaque/new; id -u",
    ])
    .env_clear()
    .env("PATH", "/bin");
    let o = b.output().unwrap_or_else(|e| panic!("spawn: {e}"));
    assert!(
        o.status.success(),
        "{:?}: {}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout), "new\n0\n");
    let w = std::fs::metadata(root.upper().join("opaque/w")).unwrap();
    assert_eq!((w.uid(), w.gid()), (uid, gid));
    let new = std::fs::symlink_metadata(root.upper().join("opaque/new")).unwrap();
    assert!(new.file_type().is_char_device() && new.rdev() == 0);
    // The writable layer goes with its guard, overlayfs' mode-0 scratch
    // directory (work/work) included, though its owner has no
    // CAP_DAC_OVERRIDE.
    let dir = root.upper().parent().unwrap().to_path_buf();
    drop(root);
    assert!(!dir.exists(), "the writable layer {dir:?} was left");
}

#[test]
fn rootless_image_store_and_overlay_as_an_unprivileged_user() {
    if std::env::var_os(ROLE).is_some() || !common::is_root() {
        require!(
            containment::probe::host().unprivileged_user_namespaces(),
            "unprivileged user namespaces are disabled on this host"
        );
        case();
        println!("ROLE-OK");
        return;
    }
    require!(
        containment::probe::host().unprivileged_user_namespaces(),
        "unprivileged user namespaces are disabled on this host"
    );
    let out = common::run_test_as(
        UID,
        "rootless_image_store_and_overlay_as_an_unprivileged_user",
        (ROLE, "1"),
    );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("ROLE-OK"),
        "as uid {UID}: {text}"
    );
}
