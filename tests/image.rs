//! Images (feature `image`, root): OCI layouts and docker archives made by
//! the test with the `tar` crate's builder, unpacked into a layer store,
//! run as containers; hostile layers refused with the host untouched.

#[macro_use]
mod common;

use containment::image::{
    unpack_layer, DeviceNodes, Error, ImageSource, LayerProgress, Store, StoreOptions,
    UnpackOptions,
};
use containment::{Container, IdMap, Namespaces};
use sha2::{Digest as _, Sha256};
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use common::TempDir;

fn sha(b: &[u8]) -> String {
    Sha256::digest(b)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A layer tar made with the `tar` crate's builder. Hostile names are
/// written into the header bytes directly (its `set_path` refuses them).
struct Layer(tar::Builder<Vec<u8>>);

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

impl Layer {
    fn new() -> Layer {
        Layer(tar::Builder::new(Vec::new()))
    }
    fn raw(mut self, h: tar::Header, data: &[u8]) -> Layer {
        self.0.append(&h, data).unwrap();
        self
    }
    fn dir(self, path: &str, mode: u32) -> Layer {
        self.raw(header(tar::EntryType::Directory, path, mode, 0), &[])
    }
    fn file(self, path: &str, data: &[u8]) -> Layer {
        self.file_mode(path, data, 0o644)
    }
    fn file_mode(self, path: &str, data: &[u8], mode: u32) -> Layer {
        self.raw(
            header(tar::EntryType::Regular, path, mode, data.len() as u64),
            data,
        )
    }
    fn owned(self, path: &str, data: &[u8], uid: u64, gid: u64) -> Layer {
        let mut h = header(tar::EntryType::Regular, path, 0o640, data.len() as u64);
        h.set_uid(uid);
        h.set_gid(gid);
        h.set_cksum();
        self.raw(h, data)
    }
    fn link(self, kind: tar::EntryType, path: &str, target: &str) -> Layer {
        let mut h = header(kind, path, 0o777, 0);
        let l = &mut h.as_old_mut().linkname;
        l.fill(0);
        l[..target.len()].copy_from_slice(target.as_bytes());
        h.set_cksum();
        self.raw(h, &[])
    }
    fn symlink(self, path: &str, target: &str) -> Layer {
        self.link(tar::EntryType::Symlink, path, target)
    }
    fn hardlink(self, path: &str, target: &str) -> Layer {
        self.link(tar::EntryType::Link, path, target)
    }
    fn device(self, path: &str, major: u32, minor: u32) -> Layer {
        let mut h = header(tar::EntryType::Char, path, 0o666, 0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        h.set_cksum();
        self.raw(h, &[])
    }
    fn pax(mut self, records: &[(&str, &[u8])], then: tar::Header, data: &[u8]) -> Layer {
        self.0
            .append_pax_extensions(records.iter().copied())
            .unwrap();
        self.0.append(&then, data).unwrap();
        self
    }
    fn tar(self) -> Vec<u8> {
        self.0.into_inner().unwrap()
    }
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn zstd(b: &[u8]) -> Vec<u8> {
    zstd::stream::encode_all(b, 1).unwrap()
}

/// A layer blob and the tar inside it.
struct Blob {
    blob: Vec<u8>,
    tar: Vec<u8>,
}

fn blob(tar: Vec<u8>, compress: fn(&[u8]) -> Vec<u8>) -> Blob {
    Blob {
        blob: compress(&tar),
        tar,
    }
}

fn plain(b: &[u8]) -> Vec<u8> {
    b.to_vec()
}

fn config_json(layers: &[Blob], config: serde_json::Value) -> Vec<u8> {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", sha(&l.tar)))
        .collect();
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap()
}

fn put_blob(dir: &Path, b: &[u8]) -> serde_json::Value {
    let h = sha(b);
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("blobs/sha256").join(&h), b).unwrap();
    serde_json::json!({"digest": format!("sha256:{h}"), "size": b.len()})
}

/// An OCI image layout with one image tagged `tag`.
fn layout(dir: &Path, tag: &str, layers: &[Blob], config: serde_json::Value) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let mut c = put_blob(dir, &config_json(layers, config));
    c["mediaType"] = "application/vnd.oci.image.config.v1+json".into();
    let ls: Vec<serde_json::Value> = layers
        .iter()
        .map(|l| {
            let mut d = put_blob(dir, &l.blob);
            d["mediaType"] = "application/vnd.oci.image.layer.v1.tar+gzip".into();
            d
        })
        .collect();
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": c,
        "layers": ls,
    }))
    .unwrap();
    let mut m = put_blob(dir, &manifest);
    m["mediaType"] = "application/vnd.oci.image.manifest.v1+json".into();
    m["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": tag});
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [m]})).unwrap(),
    )
    .unwrap();
    dir.to_path_buf()
}

/// A `docker save` archive (legacy form: `<id>/layer.tar`, `<hex>.json`).
fn docker_archive(path: &Path, repo_tag: &str, layers: &[Blob], config: serde_json::Value) {
    let mut ar = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_path(name).unwrap();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        ar.append(&h, data).unwrap();
    };
    let cfg = config_json(layers, config);
    let cname = format!("{}.json", sha(&cfg));
    add(&cname, &cfg);
    let mut names = Vec::new();
    for (i, l) in layers.iter().enumerate() {
        let id = sha(format!("layer{i}").as_bytes());
        add(&format!("{id}/layer.tar"), &l.blob);
        names.push(format!("{id}/layer.tar"));
    }
    let (repo, tag) = repo_tag.rsplit_once(':').unwrap();
    let top = names.last().unwrap().split('/').next().unwrap().to_string();
    add(
        "manifest.json",
        &serde_json::to_vec(
            &serde_json::json!([{"Config": cname, "RepoTags": [repo_tag], "Layers": names}]),
        )
        .unwrap(),
    );
    add(
        "repositories",
        &serde_json::to_vec(&serde_json::json!({repo: {tag: top}})).unwrap(),
    );
    std::fs::write(path, ar.into_inner().unwrap()).unwrap();
}

fn busybox() -> PathBuf {
    common::busybox::path()
}

/// A base layer: busybox with its applets, /etc/passwd and /etc/group
/// naming `app` (1000:1001), a world-writable /tmp, and files the next
/// layer deletes.
fn busybox_layer() -> Layer {
    let bb = std::fs::read(busybox()).unwrap();
    let mut l = Layer::new()
        .dir("bin", 0o755)
        .file_mode("bin/busybox", &bb, 0o755);
    let list = std::process::Command::new(busybox())
        .arg("--list")
        .output()
        .unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            l = l.symlink(&format!("bin/{applet}"), "busybox");
        }
    }
    l.dir("etc", 0o755)
        .file(
            "etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001:app:/home/app:/bin/sh\n",
        )
        .file("etc/group", b"root:x:0:\napp:x:1001:\nstaff:x:50:app\n")
        .dir("tmp", 0o1777)
        .dir("proc", 0o755)
        .dir("dev", 0o755)
        .dir("work", 0o777)
        .file("gone-file", b"deleted by layer 2\n")
        .dir("gone-dir", 0o755)
        .file("gone-dir/inner", b"x\n")
        .dir("opaque", 0o755)
        .file("opaque/old", b"hidden by the opaque dir\n")
        .file("hl/orig", b"linked\n")
        .hardlink("hl/same-layer", "hl/orig")
}

/// Layer 2: deletes a file and a directory, makes a directory opaque, links
/// a file of layer 1.
fn delete_layer() -> Layer {
    Layer::new()
        .file(".wh.gone-file", b"")
        .file(".wh.gone-dir", b"")
        .dir("opaque", 0o755)
        .file("opaque/.wh..wh..opq", b"")
        .file("opaque/new", b"from layer 2\n")
        .hardlink("hl/upper-layer", "hl/orig")
}

fn no_progress(_: LayerProgress) {}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let p = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    let mut buf = [0u8; 64];
    // SAFETY: valid strings and buffer.
    let r = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (r >= 0).then(|| buf[..r as usize].to_vec())
}

fn is_whiteout(p: &Path) -> bool {
    let m = std::fs::symlink_metadata(p).unwrap();
    m.file_type().is_char_device() && m.rdev() == 0
}

#[test]
fn layer_rules_in_the_store() {
    require_root!();
    let t = TempDir::new("rules");
    let img = layout(
        &t.path().join("oci"),
        "v1",
        &[
            blob(busybox_layer().tar(), gzip),
            blob(delete_layer().tar(), zstd),
        ],
        serde_json::json!({}),
    );
    let image = ImageSource::open(&img).unwrap().image("v1").unwrap();
    let store = Store::open(t.path().join("store"), StoreOptions::new()).unwrap();
    let mut seen = Vec::new();
    let layers = store.unpack(&image, &mut |p| seen.push(p)).unwrap();
    assert_eq!(layers.layers().len(), 2);
    let (l1, l2) = (&layers.layers()[0].path, &layers.layers()[1].path);
    // Whiteouts are overlay's 0/0 character devices, the `.wh.` names gone.
    assert!(is_whiteout(&l2.join("gone-file")));
    assert!(is_whiteout(&l2.join("gone-dir")));
    assert!(!l2.join(".wh.gone-file").exists());
    // The opaque directory carries the xattr, not the marker file.
    assert_eq!(
        xattr(&l2.join("opaque"), "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert!(!l2.join("opaque/.wh..wh..opq").exists());
    // Hard links: one inode in a layer, a copy across layers.
    let (a, b) = (
        std::fs::metadata(l1.join("hl/orig")).unwrap(),
        std::fs::metadata(l1.join("hl/same-layer")).unwrap(),
    );
    assert_eq!((a.ino(), a.nlink()), (b.ino(), 2));
    assert_eq!(
        std::fs::read(l2.join("hl/upper-layer")).unwrap(),
        b"linked\n"
    );
    assert_ne!(
        std::fs::metadata(l2.join("hl/upper-layer")).unwrap().ino(),
        a.ino()
    );
    // Modes, times, symlinks.
    assert_eq!(
        std::fs::metadata(l1.join("tmp"))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777,
        0o1777
    );
    assert_eq!(
        std::fs::metadata(l1.join("bin/busybox")).unwrap().mtime(),
        1_600_000_000
    );
    assert_eq!(
        std::fs::metadata(l1.join("etc")).unwrap().mtime(),
        1_600_000_000
    );
    assert_eq!(
        std::fs::read_link(l1.join("bin/sh")).unwrap(),
        Path::new("busybox")
    );
    // Progress ends with done == total for each layer.
    for i in 0..2 {
        let last = seen.iter().rev().find(|p| p.index == i).unwrap();
        assert_eq!(last.done, last.total);
        assert!(!last.cached);
    }
    // A second unpack reads nothing.
    let again = store.unpack(&image, &mut no_progress).unwrap();
    assert!(again.layers().iter().all(|l| !l.fresh));
    assert_eq!(again.lowers(), layers.lowers());
    assert_eq!(layers.lowers()[0], *l2, "lowers are top-most first");
}

fn sh_out(b: &mut containment::Command) -> String {
    common::output_of(b)
}

#[test]
fn containers_from_an_image() {
    require_root!();
    let t = TempDir::new("run");
    let config = serde_json::json!({
        "Entrypoint": ["/bin/sh", "-c"],
        "Cmd": ["echo \"$(id -u):$(id -g) $(pwd) $GREETING $HOME\""],
        "Env": ["PATH=/bin", "GREETING=hello"],
        "WorkingDir": "/work",
        "User": "app",
        "StopSignal": "SIGQUIT",
    });
    let path = t.path().join("docker.tar");
    docker_archive(
        &path,
        "busy:1",
        &[
            blob(busybox_layer().tar(), plain),
            blob(delete_layer().tar(), plain),
        ],
        config,
    );
    let src = ImageSource::open(&path).unwrap();
    assert!(src.references().unwrap().contains(&"busy:1".to_string()));
    let image = src.image("busy:1").unwrap();
    let store = Store::open(t.path().join("store"), StoreOptions::new()).unwrap();
    let layers = store.unpack(&image, &mut no_progress).unwrap();
    let defaults = image.defaults(&layers).unwrap();
    assert_eq!(
        defaults.stop_signal,
        Some(nix::sys::signal::Signal::SIGQUIT)
    );

    // The config's defaults, as the kernel shows them in the container.
    let root = store.container_root(&layers).unwrap();
    let c = Container::new()
        .unshare(Namespaces::MOUNT | Namespaces::PID)
        .rootfs(root.rootfs());
    let mut cmd = defaults.command::<&str>(&c, &[]).unwrap();
    assert_eq!(sh_out(&mut cmd), "1000:1001 /work hello /home/app\n");
    // The command's explicit settings win over the image's.
    let mut cmd = c.command("/bin/sh");
    cmd.args(["-c", "echo \"$(id -u) $(pwd) $GREETING\""]);
    defaults.apply(&mut cmd);
    cmd.uid(0)
        .gid(0)
        .current_dir("/tmp")
        .env("GREETING", "mine");
    assert_eq!(sh_out(&mut cmd), "0 /tmp mine\n");
    drop(root);

    // Deleted files are gone, the opaque dir shows only its new content,
    // and two containers of one image see only their own writes.
    let script = "test -e /gone-file && echo FILE; test -e /gone-dir && echo DIR; ls /opaque; \
                  cat /hl/upper-layer; cat /tmp/other 2>/dev/null && echo SAW-OTHER; echo $0 > /tmp/mine; \
                  echo $0 > /tmp/other; rm /etc/group; cat /tmp/mine";
    let (r1, r2) = (
        store.container_root(&layers).unwrap(),
        store.container_root(&layers).unwrap(),
    );
    let run = |r: &containment::image::ContainerRoot, name: &str| {
        sh_out(
            Container::new()
                .unshare(Namespaces::MOUNT | Namespaces::PID)
                .rootfs(r.rootfs())
                .command("/bin/sh")
                .args(["-c", script, name]),
        )
    };
    let first = run(&r1, "one");
    assert_eq!(first, "new\nlinked\none\n");
    assert_eq!(run(&r2, "two"), "new\nlinked\ntwo\n");
    // Each container's writes are in its own upper, the layers untouched.
    assert_eq!(
        std::fs::read(r1.upper().join("tmp/mine")).unwrap(),
        b"one\n"
    );
    assert_eq!(
        std::fs::read(r2.upper().join("tmp/mine")).unwrap(),
        b"two\n"
    );
    assert!(is_whiteout(&r1.upper().join("etc/group")));
    assert!(layers.layers()[0].path.join("etc/group").exists());
    assert!(!layers.layers()[0].path.join("tmp/mine").exists());
    // Dropping the guard removes the writable layer; keep() keeps it.
    let d1 = r1.upper();
    drop(r1);
    assert!(!d1.exists());
    let kept = r2.keep();
    assert!(kept.join("upper/tmp/mine").exists());
    std::fs::remove_dir_all(kept).unwrap();
}

/// Canaries around a destination: a file beside it and a directory
/// outside, both checked after a hostile unpack.
struct Canaries {
    t: TempDir,
}

impl Canaries {
    fn new(tag: &str) -> Canaries {
        let t = TempDir::new(tag);
        std::fs::write(t.path().join("canary"), b"untouched").unwrap();
        std::fs::create_dir(t.path().join("outside")).unwrap();
        std::fs::create_dir(t.path().join("dest")).unwrap();
        Canaries { t }
    }
    fn dest(&self) -> PathBuf {
        self.t.path().join("dest")
    }
    fn canary(&self) -> PathBuf {
        self.t.path().join("canary")
    }
    fn outside(&self) -> PathBuf {
        self.t.path().join("outside")
    }
    fn assert_untouched(&self, case: &str) {
        assert_eq!(
            std::fs::read(self.canary()).unwrap(),
            b"untouched",
            "{case}"
        );
        let m = std::fs::symlink_metadata(self.canary()).unwrap();
        assert_eq!(m.nlink(), 1, "{case}: a hard link to the canary was made");
        assert_eq!(
            std::fs::read_dir(self.outside()).unwrap().count(),
            0,
            "{case}"
        );
        let mut top: Vec<_> = std::fs::read_dir(self.t.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        top.sort();
        assert_eq!(top, ["canary", "dest", "outside"], "{case}");
    }
}

#[test]
fn hostile_layers_are_refused_and_the_host_untouched() {
    require_root!();
    type Case = (&'static str, Box<dyn Fn(&Canaries) -> Layer>, UnpackOptions);
    let opts = UnpackOptions::new();
    let rootless = UnpackOptions::rootless(
        vec![IdMap {
            inside: 0,
            outside: 100000,
            count: 65536,
        }],
        vec![IdMap {
            inside: 0,
            outside: 100000,
            count: 65536,
        }],
    );
    let cases: Vec<Case> = vec![
        (
            "dot-dot path",
            Box::new(|_| Layer::new().file("../canary", b"pwned")),
            opts.clone(),
        ),
        (
            "dot-dot deep",
            Box::new(|_| Layer::new().file("a/../../outside/x", b"pwned")),
            opts.clone(),
        ),
        (
            "absolute path",
            Box::new(|c| Layer::new().file(c.canary().to_str().unwrap(), b"pwned")),
            opts.clone(),
        ),
        (
            "write through an absolute symlink",
            Box::new(|c| {
                Layer::new()
                    .symlink("ln", c.outside().to_str().unwrap())
                    .file("ln/x", b"pwned")
            }),
            opts.clone(),
        ),
        (
            "write through a relative symlink",
            Box::new(|_| {
                Layer::new()
                    .symlink("ln", "../outside")
                    .file("ln/x", b"pwned")
            }),
            opts.clone(),
        ),
        (
            "write through a symlink chain",
            Box::new(|_| {
                Layer::new()
                    .dir("d", 0o755)
                    .symlink("d/up", "..")
                    .symlink("esc", "d/up/d/up/../outside")
                    .file("esc/x", b"pwned")
            }),
            opts.clone(),
        ),
        (
            "hard link out with ..",
            Box::new(|_| Layer::new().hardlink("h", "../canary")),
            opts.clone(),
        ),
        (
            "hard link to an absolute path",
            Box::new(|c| Layer::new().hardlink("h", c.canary().to_str().unwrap())),
            opts.clone(),
        ),
        (
            "hard link through a symlink",
            Box::new(|c| {
                Layer::new()
                    .symlink("s", c.t.path().to_str().unwrap())
                    .hardlink("h", "s/canary")
            }),
            opts.clone(),
        ),
        (
            "hard link to a missing file",
            Box::new(|_| Layer::new().hardlink("h", "nowhere")),
            opts.clone(),
        ),
        (
            "device node in a rootless store",
            Box::new(|_| Layer::new().device("null", 1, 3)),
            rootless.clone(),
        ),
        (
            "whiteout of ..",
            Box::new(|_| Layer::new().file("a/.wh..", b"")),
            opts.clone(),
        ),
        (
            "absurd entry size",
            Box::new(|_| {
                let mut h = header(tar::EntryType::Regular, "big", 0o644, 0);
                h.set_size(1 << 60);
                h.set_cksum();
                Layer::new().raw(h, &[])
            }),
            opts.clone().max_layer_bytes(1 << 30),
        ),
        (
            "absurd PAX header",
            Box::new(|_| {
                let mut h = header(tar::EntryType::XHeader, "pax", 0o644, 0);
                h.set_size(1 << 40);
                h.set_cksum();
                Layer::new().raw(h, &[])
            }),
            opts.clone(),
        ),
        (
            "overlay xattr in the archive",
            Box::new(|_| {
                Layer::new().pax(
                    &[("SCHILY.xattr.trusted.overlay.redirect", b"/outside")],
                    header(tar::EntryType::Directory, "d", 0o755, 0),
                    &[],
                )
            }),
            opts.clone(),
        ),
        (
            "PAX path with ..",
            Box::new(|_| {
                Layer::new().pax(
                    &[("path", b"x/../../canary")],
                    header(tar::EntryType::Regular, "innocent", 0o644, 5),
                    b"pwned",
                )
            }),
            opts.clone(),
        ),
        (
            "GNU long name with ..",
            Box::new(|_| {
                // The builder refuses `..`: the long-name entry by hand.
                let name = format!("{}/../../../canary", "d".repeat(120));
                let mut data = name.into_bytes();
                data.push(0);
                let lh = header(
                    tar::EntryType::GNULongName,
                    "././@LongLink",
                    0o644,
                    data.len() as u64,
                );
                Layer::new().raw(lh, &data).file("short", b"pwned")
            }),
            opts.clone(),
        ),
        (
            "uid outside the store's id map",
            Box::new(|_| Layer::new().owned("f", b"x", 70000, 0)),
            rootless.clone(),
        ),
    ];
    for (name, make, opts) in &cases {
        let c = Canaries::new("hostile");
        let tar = make(&c).tar();
        let r = unpack_layer(&tar[..], &c.dest(), &[], opts);
        c.assert_untouched(name);
        match &r {
            Err(Error::UnsafeEntry { .. } | Error::TooLarge { .. } | Error::UnmappedId { .. }) => {}
            Err(Error::Entry { source, .. }) if source.raw_os_error() == Some(libc::ELOOP) => {}
            other => panic!("{name}: not refused: {other:?}"),
        }
        c.assert_untouched(name);
    }

    // Contained rather than refused: a file replacing a symlink replaces
    // the link, a symlink's target is only data, `./` is the layer itself.
    let c = Canaries::new("contained");
    let canary = c.canary();
    let tar = Layer::new()
        .symlink("f", canary.to_str().unwrap())
        .file("f", b"replaced")
        .symlink("g", "../../../canary")
        .dir("./", 0o700)
        .tar();
    unpack_layer(&tar[..], &c.dest(), &[], &UnpackOptions::new()).unwrap();
    assert_eq!(std::fs::read(c.dest().join("f")).unwrap(), b"replaced");
    assert_eq!(
        std::fs::read_link(c.dest().join("g")).unwrap(),
        Path::new("../../../canary")
    );
    c.assert_untouched("contained");

    // A gzip bomb past the layer limit.
    let c = Canaries::new("bomb");
    let zeros = vec![0u8; 8 << 20];
    let bomb = gzip(&Layer::new().file("zeros", &zeros).tar());
    let r = unpack_layer(
        &bomb[..],
        &c.dest(),
        &[],
        &UnpackOptions::new().max_layer_bytes(1 << 20),
    );
    assert!(matches!(r, Err(Error::TooLarge { .. })), "{r:?}");
    c.assert_untouched("gzip bomb");

    // Skip instead of refuse; created in a privileged store.
    let c = Canaries::new("dev");
    let tar = Layer::new().device("null", 1, 3).file("after", b"ok").tar();
    unpack_layer(
        &tar[..],
        &c.dest(),
        &[],
        &UnpackOptions::new().devices(DeviceNodes::Skip),
    )
    .unwrap();
    assert!(!c.dest().join("null").exists() && c.dest().join("after").exists());
    let c = Canaries::new("dev2");
    unpack_layer(&tar[..], &c.dest(), &[], &UnpackOptions::new()).unwrap();
    assert_eq!(
        std::fs::metadata(c.dest().join("null")).unwrap().rdev(),
        libc::makedev(1, 3)
    );
}

#[test]
fn rootless_store_shifts_owners_and_uses_user_xattrs() {
    require_root!();
    let t = TempDir::new("rootless");
    let map = vec![IdMap {
        inside: 0,
        outside: 200000,
        count: 65536,
    }];
    // cap_net_raw (bit 13) permitted and effective, revision 2.
    let mut caps = 0x0200_0001u32.to_le_bytes().to_vec();
    caps.extend_from_slice(&(1u32 << 13).to_le_bytes());
    caps.extend_from_slice(&[0; 12]);
    let tar = Layer::new()
        .owned("f", b"x", 1000, 1001)
        .dir("d", 0o755)
        .file("d/.wh..wh..opq", b"")
        .pax(
            &[
                ("SCHILY.xattr.security.capability", &caps),
                ("SCHILY.xattr.trusted.x", b"1"),
            ],
            header(tar::EntryType::Regular, "ping", 0o755, 0),
            &[],
        )
        .tar();
    let dest = t.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    unpack_layer(
        &tar[..],
        &dest,
        &[],
        &UnpackOptions::rootless(map.clone(), map),
    )
    .unwrap();
    let m = std::fs::metadata(dest.join("f")).unwrap();
    assert_eq!((m.uid(), m.gid()), (201000, 201001));
    assert_eq!(std::fs::metadata(dest.join("d")).unwrap().uid(), 200000);
    assert_eq!(
        xattr(&dest.join("d"), "user.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert_eq!(xattr(&dest.join("d"), "trusted.overlay.opaque"), None);
    // The file capability is namespaced: revision 3, root id 200000 (the
    // host's root reads it back as v3: its root is not that id).
    let got = xattr(&dest.join("ping"), "security.capability").unwrap();
    assert_eq!(got.len(), 24, "{got:?}");
    assert_eq!(&got[..4], &0x0300_0001u32.to_le_bytes());
    assert_eq!(&got[4..20], &caps[4..20]);
    assert_eq!(&got[20..], &200000u32.to_le_bytes());
    assert_eq!(xattr(&dest.join("ping"), "trusted.x"), None);
}

#[test]
fn digest_mismatch_is_named_and_nothing_is_stored() {
    require_root!();
    let t = TempDir::new("digest");
    let layers = [blob(Layer::new().file("a", b"original").tar(), gzip)];
    let dir = layout(&t.path().join("oci"), "v1", &layers, serde_json::json!({}));
    let image = ImageSource::open(&dir).unwrap().image("v1").unwrap();
    let digest = image.layers()[0].digest.clone().unwrap();
    // Same size, other bytes.
    let evil = blob(Layer::new().file("a", b"tampered").tar(), gzip);
    let p = dir.join("blobs/sha256").join(digest.hex());
    let mut bytes = evil.blob.clone();
    bytes.resize(layers[0].blob.len(), 0);
    std::fs::write(&p, &bytes).unwrap();
    let store = Store::open(t.path().join("store"), StoreOptions::new()).unwrap();
    match store.unpack(&image, &mut no_progress) {
        Err(Error::DigestMismatch { blob, .. }) => assert_eq!(blob, digest.to_string()),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        std::fs::read_dir(t.path().join("store/layers"))
            .unwrap()
            .count(),
        0
    );
    assert_eq!(
        std::fs::read_dir(t.path().join("store/tmp"))
            .unwrap()
            .count(),
        0
    );

    // Same size, same uncompressed tar (so the diff_id matches), one byte
    // of the gzip header (its OS field) changed: only the blob digest
    // tells.
    let mut same = layers[0].blob.clone();
    same[9] ^= 0xff;
    std::fs::write(&p, &same).unwrap();
    match store.unpack(&image, &mut no_progress) {
        Err(Error::DigestMismatch { blob, what, .. }) => {
            assert_eq!((blob, what), (digest.to_string(), "the manifest"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        std::fs::read_dir(t.path().join("store/layers"))
            .unwrap()
            .count(),
        0
    );

    // A longer blob is a size mismatch.
    let mut longer = layers[0].blob.clone();
    longer.extend_from_slice(b"trailing");
    std::fs::write(&p, &longer).unwrap();
    assert!(matches!(
        store.unpack(&image, &mut no_progress),
        Err(Error::SizeMismatch { .. })
    ));

    // A tampered config is refused before it is parsed.
    std::fs::write(&p, &layers[0].blob).unwrap();
    let cfg = image.id().hex();
    let cp = dir.join("blobs/sha256").join(&cfg);
    let mut c = std::fs::read(&cp).unwrap();
    c[0] = b' ';
    std::fs::write(&cp, &c).unwrap();
    match ImageSource::open(&dir).unwrap().image("v1") {
        Err(Error::DigestMismatch { blob, .. }) => assert_eq!(blob, format!("sha256:{cfg}")),
        other => panic!("{other:?}"),
    }

    // A docker archive's layer.tar that is not its diff_id.
    let path = t.path().join("d.tar");
    let good = [blob(Layer::new().file("a", b"original").tar(), plain)];
    docker_archive(&path, "x:1", &good, serde_json::json!({}));
    let mut raw = std::fs::read(&path).unwrap();
    let at = raw.windows(8).position(|w| w == b"original").unwrap();
    raw[at..at + 8].copy_from_slice(b"tampered");
    std::fs::write(&path, raw).unwrap();
    let image = ImageSource::open(&path).unwrap().image("x:1").unwrap();
    match store.unpack(&image, &mut no_progress) {
        Err(Error::DigestMismatch { what, .. }) => assert_eq!(what, "the config's diff_ids"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        std::fs::read_dir(t.path().join("store/layers"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn concurrent_unpack_of_one_layer_happens_once() {
    require_root!();
    let t = TempDir::new("concurrent");
    // Big enough (a few MiB, many entries) for the two threads to overlap.
    let mut l = Layer::new();
    let chunk = vec![7u8; 64 << 10];
    for i in 0..64 {
        l = l.file(&format!("d{}/f{i}", i % 8), &chunk);
    }
    let dir = layout(
        &t.path().join("oci"),
        "v1",
        &[blob(l.tar(), gzip)],
        serde_json::json!({}),
    );
    let image = ImageSource::open(&dir).unwrap().image("v1").unwrap();
    // A stale temporary directory of an interrupted unpack is not used.
    Store::open(t.path().join("store"), StoreOptions::new()).unwrap();
    let stale = t
        .path()
        .join("store/tmp")
        .join(image.layers()[0].diff_id.hex());
    std::fs::create_dir_all(stale.join("root")).unwrap();
    std::fs::write(stale.join("root/junk"), b"half").unwrap();
    let barrier = std::sync::Barrier::new(2);
    let results: Vec<_> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    let store = Store::open(t.path().join("store"), StoreOptions::new()).unwrap();
                    barrier.wait();
                    store.unpack(&image, &mut no_progress).unwrap()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let fresh: usize = results
        .iter()
        .map(|r| r.layers().iter().filter(|l| l.fresh).count())
        .sum();
    assert_eq!(fresh, 1, "one layer unpacked by exactly one thread");
    let p = &results[0].layers()[0].path;
    assert_eq!(*p, results[1].layers()[0].path);
    assert_eq!(std::fs::read_dir(p.join("d0")).unwrap().count(), 8);
    assert!(!p.join("junk").exists());
    assert_eq!(
        std::fs::read_dir(t.path().join("store/layers"))
            .unwrap()
            .count(),
        1
    );
    assert_eq!(
        std::fs::read_dir(t.path().join("store/tmp"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn references_and_lookups() {
    require_root!();
    let t = TempDir::new("refs");
    let dir = layout(
        &t.path().join("oci"),
        "latest",
        &[blob(Layer::new().file("a", b"1").tar(), plain)],
        serde_json::json!({}),
    );
    let src = ImageSource::open(&dir).unwrap();
    assert_eq!(src.references().unwrap(), ["latest"]);
    assert!(src.image("").is_ok());
    match src.image("nope") {
        Err(Error::NotFound { available, .. }) => assert_eq!(available, ["latest"]),
        other => panic!("{other:?}"),
    }
    // A symlinked blob pointing out of the layout is resolved inside it.
    let d = src.image("latest").unwrap().layers()[0]
        .digest
        .clone()
        .unwrap();
    let p = dir.join("blobs/sha256").join(d.hex());
    let saved = std::fs::read(&p).unwrap();
    std::fs::remove_file(&p).unwrap();
    std::fs::write(t.path().join("elsewhere"), &saved).unwrap();
    std::os::unix::fs::symlink(t.path().join("elsewhere"), &p).unwrap();
    let store = Store::open(t.path().join("store"), StoreOptions::new()).unwrap();
    let image = src.image("latest").unwrap();
    assert!(matches!(
        store.unpack(&image, &mut no_progress),
        Err(Error::Io { .. })
    ));
}

#[test]
fn special_files_in_lower_layers_are_never_opened() {
    require_root!();
    let t = TempDir::new("fifo");
    // Layer 1: /etc/passwd is a FIFO (opening it for reading would block
    // until a writer came), /tmp is 1777.
    let mut fifo = header(tar::EntryType::Fifo, "etc/passwd", 0o644, 0);
    fifo.set_cksum();
    let l1 = Layer::new()
        .dir("etc", 0o755)
        .raw(fifo, &[])
        .dir("tmp", 0o1777)
        .tar();
    // Layer 2: a hard link to the FIFO, and a file in /tmp without a /tmp entry.
    let l2 = Layer::new().file("tmp/new", b"x").tar();
    let l3 = Layer::new().hardlink("copy", "etc/passwd").tar();
    let config = serde_json::json!({"User": "app"});
    let dir = layout(
        &t.path().join("oci"),
        "v1",
        &[blob(l1, plain), blob(l2, plain)],
        config.clone(),
    );
    let image = ImageSource::open(&dir).unwrap().image("v1").unwrap();
    let store = Store::open(t.path().join("store"), StoreOptions::new()).unwrap();
    let layers = store.unpack(&image, &mut no_progress).unwrap();
    // The image's /etc/passwd is not a file: no user, and no hang.
    assert!(matches!(image.defaults(&layers), Err(Error::User { .. })));
    // The implicit /tmp of layer 2 keeps layer 1's mode, owner and mtime.
    let md = std::fs::metadata(layers.layers()[1].path.join("tmp")).unwrap();
    assert_eq!(
        (md.permissions().mode() & 0o7777, md.mtime()),
        (0o1777, 1_600_000_000)
    );
    // A hard link to a lower FIFO is refused, not opened.
    let dest = t.path().join("l3");
    std::fs::create_dir(&dest).unwrap();
    let lowers: Vec<PathBuf> = layers.lowers();
    let lowers: Vec<&Path> = lowers.iter().map(PathBuf::as_path).collect();
    let r = unpack_layer(&l3[..], &dest, &lowers, &UnpackOptions::new());
    assert!(matches!(r, Err(Error::UnsafeEntry { .. })), "{r:?}");
}

/// A `docker save` archive of docker 25+ (layers and config under
/// `blobs/sha256/`), with a repeated layer written as a symlink to the
/// first copy, as docker writes it.
#[test]
fn docker_archive_with_blobs_and_a_linked_layer() {
    require_root!();
    let t = TempDir::new("docker25");
    let l0 = Layer::new().file("a", b"base\n").tar();
    let l1 = Layer::new().file("b", b"top\n").tar();
    let layers = [blob(l0.clone(), plain), blob(l1, plain), blob(l0, plain)];
    let cfg = config_json(&layers, serde_json::json!({"Cmd": ["/b"]}));
    let mut ar = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_path(name).unwrap();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        ar.append(&h, data).unwrap();
    };
    let cname = format!("blobs/sha256/{}", sha(&cfg));
    add(&cname, &cfg);
    let names: Vec<String> = layers
        .iter()
        .map(|l| format!("blobs/sha256/{}", sha(&l.blob)))
        .collect();
    add(&names[0], &layers[0].blob);
    add(&names[1], &layers[1].blob);
    // The third layer is the first again: a symlink entry, once.
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_path("dup/layer.tar").unwrap();
    h.set_link_name(format!("../{}", names[0])).unwrap();
    h.set_size(0);
    h.set_cksum();
    ar.append(&h, &[][..]).unwrap();
    let manifest = serde_json::json!([{"Config": cname, "RepoTags": ["busy:2"],
        "Layers": [names[0], names[1], "dup/layer.tar"]}]);
    let mut add = |name: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_path(name).unwrap();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        ar.append(&h, data).unwrap();
    };
    add("manifest.json", &serde_json::to_vec(&manifest).unwrap());
    let path = t.path().join("d.tar");
    std::fs::write(&path, ar.into_inner().unwrap()).unwrap();

    let src = ImageSource::open(&path).unwrap();
    let image = src.image("busy:2").unwrap();
    assert_eq!(
        image.layers()[0].digest.as_ref().unwrap().hex(),
        sha(&layers[0].blob)
    );
    assert_eq!(
        image.layers()[2].digest,
        None,
        "the link is checked by its diff_id"
    );
    let store = Store::open(t.path().join("store"), StoreOptions::new()).unwrap();
    let u = store.unpack(&image, &mut no_progress).unwrap();
    // Same diff_id, other place in the stack: another chain, another layer.
    assert_eq!(u.layers()[0].diff_id, u.layers()[2].diff_id);
    assert_ne!(u.layers()[0].chain_id, u.layers()[2].chain_id);
    assert_eq!(
        std::fs::read(u.layers()[2].path.join("a")).unwrap(),
        b"base\n"
    );
    assert_eq!(image.defaults(&u).unwrap().cmd, ["/b"]);
}

/// An unpack interrupted half way (here: the progress callback panics after
/// the first MiB) leaves nothing that looks like a layer; the next unpack
/// starts over and completes.
#[test]
fn an_interrupted_unpack_never_looks_complete() {
    require_root!();
    let t = TempDir::new("interrupt");
    let mut l = Layer::new();
    let chunk = vec![1u8; 256 << 10];
    for i in 0..16 {
        l = l.file(&format!("f{i}"), &chunk);
    }
    let dir = layout(
        &t.path().join("oci"),
        "v1",
        &[blob(l.tar(), plain)],
        serde_json::json!({}),
    );
    let image = ImageSource::open(&dir).unwrap().image("v1").unwrap();
    let store = Store::open(t.path().join("store"), StoreOptions::new()).unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        store.unpack(&image, &mut |p| {
            if !p.cached && p.done > 0 && p.done < p.total {
                panic!("interrupted at {} of {}", p.done, p.total);
            }
        })
    }));
    assert!(r.is_err(), "the callback was called mid-layer");
    assert_eq!(
        std::fs::read_dir(t.path().join("store/layers"))
            .unwrap()
            .count(),
        0
    );
    let u = store.unpack(&image, &mut no_progress).unwrap();
    assert!(u.layers()[0].fresh);
    assert_eq!(std::fs::read_dir(&u.layers()[0].path).unwrap().count(), 16);
    assert_eq!(
        std::fs::read_dir(t.path().join("store/tmp"))
            .unwrap()
            .count(),
        0
    );
}

/// A rootless store's layers (owners shifted, `user.overlay.opaque`) as the
/// root of a container in a user namespace: the overlay is mounted there
/// with `userxattr`, so the opaque directory hides the lower layer's files
/// (without it the kernel reads `trusted.overlay.opaque`, which a user
/// namespace cannot see, and the lower files show through).
#[test]
fn rootless_store_as_the_root_of_a_user_namespace() {
    require_root!();
    let t = TempDir::new("rootless-run");
    let map = IdMap::new(0, 200_000, 65_536);
    let oci = layout(
        &t.path().join("oci"),
        "r",
        &[
            blob(busybox_layer().tar(), plain),
            blob(delete_layer().tar(), plain),
        ],
        serde_json::json!({"Env": ["PATH=/bin"]}),
    );
    let image = ImageSource::open(&oci).unwrap().image("r").unwrap();
    let store = Store::open(
        t.path().join("store"),
        StoreOptions::rootless(vec![map], vec![map]),
    )
    .unwrap();
    let layers = store.unpack(&image, &mut no_progress).unwrap();
    let opaque = layers.layers()[1].path.join("opaque");
    assert_eq!(
        xattr(&opaque, "user.overlay.opaque").as_deref(),
        Some(&b"y"[..])
    );
    assert!(
        layers.layers()[0]
            .path
            .join("opaque")
            .read_dir()
            .unwrap()
            .count()
            > 0
    );
    let root = store.container_root(&layers).unwrap();
    let mut b = Container::new()
        .unshare(Namespaces::USER | Namespaces::MOUNT | Namespaces::PID)
        .uid_map([map])
        .gid_map([map])
        .rootfs(root.rootfs())
        .command("/bin/sh");
    b.args([
        "-c",
        "ls /opaque; test -e /gone-file && echo FILE; test -e /gone-dir && echo DIR; \
                 echo w > /opaque/w; rm /opaque/new; id -u",
    ]);
    assert_eq!(sh_out(&mut b), "new\n0\n");
    // The container's writes, as the host sees them: owned by the mapped
    // root, the deleted file a whiteout in the upper layer.
    let w = std::fs::metadata(root.upper().join("opaque/w")).unwrap();
    assert_eq!((w.uid(), w.gid()), (200_000, 200_000));
    assert!(is_whiteout(&root.upper().join("opaque/new")));
}

/// A container's writable layer is mounted `volatile` (its end does not
/// wait for a sync of the store's filesystem), and the same layer serves a
/// next container (the marker overlayfs leaves is removed in between).
#[test]
fn the_writable_layer_is_volatile_and_reusable() {
    require_root!();
    let t = TempDir::new("reuse");
    let oci = layout(
        &t.path().join("oci"),
        "v",
        &[blob(busybox_layer().tar(), plain)],
        serde_json::json!({"Env": ["PATH=/bin"]}),
    );
    let image = ImageSource::open(&oci).unwrap().image("v").unwrap();
    let store = Store::open(t.path().join("store"), StoreOptions::new()).unwrap();
    let layers = store.unpack(&image, &mut no_progress).unwrap();
    let root = store.container_root(&layers).unwrap();
    for round in 0..2 {
        let mut b = Container::new()
            .unshare(Namespaces::MOUNT | Namespaces::PID)
            .rootfs(root.rootfs())
            .command("/bin/sh");
        b.args([
            "-c",
            "grep ' / / ' /proc/self/mountinfo; echo $0 >> /seen",
            "r",
        ]);
        let out = sh_out(&mut b);
        let root_line = out.lines().next().unwrap_or_default();
        assert!(
            root_line.contains(" overlay ")
                && root_line
                    .split([',', ' '])
                    // 6.18 shows it as `fsync=volatile`.
                    .any(|option| option == "volatile" || option == "fsync=volatile"),
            "round {round}: {out}"
        );
    }
    assert_eq!(std::fs::read(root.upper().join("seen")).unwrap(), b"r\nr\n");
}

/// The busybox layer under the deleting one, as an OCI layout in `t`,
/// unpacked into a store in `t`.
fn busybox_and_deletions(t: &TempDir) -> containment::image::UnpackedImage {
    let oci = layout(
        &t.path().join("oci"),
        "r",
        &[
            blob(busybox_layer().tar(), plain),
            blob(delete_layer().tar(), plain),
        ],
        serde_json::json!({"Env": ["PATH=/bin"]}),
    );
    let image = ImageSource::open(&oci).unwrap().image("r").unwrap();
    let store = Store::open(t.path().join("store"), StoreOptions::new()).unwrap();
    store.unpack(&image, &mut no_progress).unwrap()
}

/// `UnpackedImage::ephemeral_rootfs`: the layers under a writable layer on
/// a tmpfs of the container: whiteouts and opaque dirs applied, writes
/// work, and nothing of the container is left in the store or the layers.
#[test]
fn an_ephemeral_root_of_an_image_leaves_nothing() {
    require_root!();
    let t = TempDir::new("ephemeral");
    let layers = busybox_and_deletions(&t);
    let mut b = Container::new()
        .unshare(Namespaces::MOUNT | Namespaces::PID)
        .rootfs(layers.ephemeral_rootfs())
        .command("/bin/sh");
    b
        .args([
                "-c",
                "ls /opaque; test -e /gone-file && echo FILE; echo w > /opaque/w; rm /opaque/new; ls /opaque",
            ]);
    assert_eq!(sh_out(&mut b), "new\nw\n");
    assert_store_and_layers_untouched(&t, &layers);
}

/// After a container wrote to the root of `busybox_and_deletions`: no
/// writable layer left in the store, the image's layer as it was.
fn assert_store_and_layers_untouched(t: &TempDir, layers: &containment::image::UnpackedImage) {
    assert_eq!(
        std::fs::read_dir(t.path().join("store/containers"))
            .unwrap()
            .count(),
        0
    );
    assert!(layers.layers()[1].path.join("opaque/new").exists());
    assert!(!layers.layers()[1].path.join("opaque/w").exists());
}

/// `UnpackedImage::prepare`: the same root as `ephemeral_rootfs`, mounted
/// ahead by the caller (detached) and attached by the child: whiteouts and
/// opaque dirs applied, writes work, nothing left in the store, the layers
/// or the caller's mount table; one container per prepared root.
#[test]
fn a_prepared_root_of_an_image_leaves_nothing() {
    require_root!();
    let t = TempDir::new("prepared");
    let layers = busybox_and_deletions(&t);
    let before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let prepared = layers.prepare().unwrap();
    let c = Container::new()
        .unshare(Namespaces::MOUNT | Namespaces::PID)
        .rootfs(prepared);
    let mut b = c.clone().command("/bin/sh");
    b.args([
        "-c",
        "ls /opaque; test -e /gone-file && echo FILE; echo w > /opaque/w; rm /opaque/new; ls /opaque",
    ]);
    assert_eq!(sh_out(&mut b), "new\nw\n");
    let e = c.command("/bin/true").output().unwrap_err();
    assert!(
        matches!(
            e,
            containment::SpawnError::InvalidConfig { field: "root", .. }
        ),
        "{e:?}"
    );
    assert_store_and_layers_untouched(&t, &layers);
    assert_eq!(
        std::fs::read_to_string("/proc/self/mountinfo").unwrap(),
        before
    );
}

/// The page-cache folios of a file, in pages, as the kernel shows them:
/// every page of the file mapped and touched, its frame from
/// `/proc/self/pagemap`, its compound head/tail flags from
/// `/proc/kpageflags` (`Documentation/admin-guide/mm/pagemap.rst`; root).
fn folio_pages(path: &Path) -> Vec<u64> {
    use std::io::{Read, Seek, SeekFrom};
    let f = std::fs::File::open(path).unwrap();
    let len = f.metadata().unwrap().len() as usize;
    let page = 4096usize;
    // SAFETY: a private read-only mapping of a regular file of `len` bytes,
    // unmapped below; only read through `p`.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE,
            std::os::fd::AsRawFd::as_raw_fd(&f),
            0,
        )
    };
    assert_ne!(p, libc::MAP_FAILED);
    let mut pagemap = std::fs::File::open("/proc/self/pagemap").unwrap();
    let mut kflags = std::fs::File::open("/proc/kpageflags").unwrap();
    let mut folios = Vec::new();
    for i in 0..len.div_ceil(page) {
        // SAFETY: inside the mapping; a volatile read faults the page in.
        unsafe { std::ptr::read_volatile((p as *const u8).add(i * page)) };
        let mut e = [0u8; 8];
        let vpn = (p as usize + i * page) / page;
        pagemap.seek(SeekFrom::Start(vpn as u64 * 8)).unwrap();
        pagemap.read_exact(&mut e).unwrap();
        let e = u64::from_le_bytes(e);
        assert!(e >> 63 == 1, "page {i} is not present");
        let pfn = e & ((1 << 55) - 1);
        let mut fl = [0u8; 8];
        kflags.seek(SeekFrom::Start(pfn * 8)).unwrap();
        kflags.read_exact(&mut fl).unwrap();
        let fl = u64::from_le_bytes(fl);
        // KPF_COMPOUND_TAIL (16): a page of the folio begun before it.
        match folios.last_mut() {
            Some(n) if fl & (1 << 16) != 0 => *n += 1,
            _ => folios.push(1),
        }
    }
    // SAFETY: the mapping made above.
    unsafe { libc::munmap(p, len) };
    folios
}

/// A file unpacked from a layer is written in large chunks, so that the
/// page cache holds it in large folios (as `cp` leaves a file), not in the
/// 8 KiB folios of `io::copy`'s writes that made `exec` of an image's
/// binaries slower than of the same binaries in a directory tree.
#[test]
fn unpacked_files_are_written_in_large_chunks() {
    require_root!();
    let t = TempDir::new("folios");
    // 4 MiB of bytes that do not compress, never in the page cache before.
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let data: Vec<u8> = (0..(4 << 20) / 8)
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .collect();
    // The control: the same bytes written in 1 MiB chunks. Without large
    // folios in this filesystem's page cache there is nothing to compare.
    let control = t.path().join("control");
    {
        let mut f = std::fs::File::create(&control).unwrap();
        for c in data.chunks(1 << 20) {
            f.write_all(c).unwrap();
        }
    }
    let largest = |v: &[u64]| v.iter().copied().max().unwrap_or(0);
    let c = folio_pages(&control);
    require!(
        largest(&c) >= 16,
        "{} keeps no large folios in the page cache (largest: {} pages)",
        t.path().display(),
        largest(&c)
    );
    let layer = Layer::new().file("big", &data).tar();
    let dest = t.path().join("layer");
    std::fs::create_dir(&dest).unwrap();
    unpack_layer(&layer[..], &dest, &[], &UnpackOptions::new()).unwrap();
    assert_eq!(std::fs::read(dest.join("big")).unwrap(), data);
    let u = folio_pages(&dest.join("big"));
    let pages: u64 = u.iter().sum();
    // Most of the file in folios of 16 pages (64 KiB) or more.
    let in_large: u64 = u.iter().filter(|n| **n >= 16).sum();
    assert!(
        in_large * 2 >= pages,
        "unpacked: {} of {pages} pages in folios of 16+ pages (folios: {:?}); control: {:?}",
        in_large,
        &u[..u.len().min(40)],
        &c[..c.len().min(40)]
    );
}
