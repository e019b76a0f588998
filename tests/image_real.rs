//! Real images made by tools nobody here wrote (see tests/image_fixtures):
//! a debootstrap root packed by umoci, a `docker build` image with real
//! whiteouts and an opaque directory exported by `docker save`, the same
//! image pushed to a local registry by skopeo and pulled back by the `pull`
//! feature; each run through the library and the `run` example (root,
//! Debian's archive reachable, the packages `cargo xtask test` installs).

#[macro_use]
mod common;

use common::example::Tmux;
#[path = "image_fixtures/mod.rs"]
mod fixtures;

use containment::image::{ContainerRoot, Image, ImageSource, Store, StoreOptions, UnpackedImage};
use containment::{Container, Namespaces};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(common::unique(&format!("containment-real-{tag}")));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Skips (through `common::skip`) when a tool is missing; any other
/// failure of a fixture fails the test.
macro_rules! tools {
    ($($p:expr),+) => {
        if let Err(e) = fixtures::have(&[$($p),+]) {
            common::skip(module_path!(), &e);
            return;
        }
    };
}

/// The one builder call site of this file: `sh -c script` in a container
/// of the image (its config's defaults applied), stdout on success.
fn sh_in(image: &Image, layers: &UnpackedImage, root: &ContainerRoot, script: &str) -> String {
    let defaults = image.defaults(layers).unwrap();
    let c = Container::new()
        .unshare(Namespaces::MOUNT | Namespaces::PID | Namespaces::UTS | Namespaces::IPC)
        .rootfs(root.rootfs());
    let mut b = c.command("/bin/sh");
    b.env_clear();
    defaults.apply(&mut b);
    b.args(["-c", script]);
    let o = b.output().unwrap_or_else(|e| panic!("spawn: {e}"));
    assert!(
        o.status.success(),
        "{script}: {:?}\nstdout {}\nstderr {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `run --rm --image REF --store STORE ARGS…`, its stdout (asserting success).
fn run_example(reference: &str, store: &Path, args: &[&str]) -> String {
    let o = Command::new(common::example::run_binary())
        .args(["--rm", "--image", reference, "--store"])
        .arg(store)
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "run --image {reference} {args:?}: {:?}\nstdout {}\nstderr {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn apt_line(out: &str) -> &str {
    out.lines()
        .find(|l| l.starts_with("apt "))
        .unwrap_or_else(|| panic!("no `apt VERSION` line in {out:?}"))
}

#[test]
fn debootstrap_root_packed_by_umoci() {
    require_root!();
    tools!("debootstrap", "umoci");
    let layout = fixtures::umoci_layout().unwrap();
    let t = TempDir::new("umoci");
    let src = ImageSource::open(&layout).unwrap();
    assert!(src
        .references()
        .unwrap()
        .contains(&fixtures::UMOCI_TAG.to_string()));
    let image = src.image(fixtures::UMOCI_TAG).unwrap();
    assert_eq!(image.layers().len(), 1);
    let store = Store::open(t.0.join("store"), StoreOptions::new()).unwrap();
    let mut seen = Vec::new();
    let layers = store.unpack(&image, &mut |p| seen.push(p)).unwrap();
    assert!(layers.layers()[0].fresh);
    let last = seen.last().unwrap();
    assert_eq!((last.done, last.cached), (last.total, false));
    assert!(last.total > 20 << 20, "a compressed Debian root: {last:?}");

    let root = store.container_root(&layers).unwrap();
    let out = sh_in(
        &image,
        &layers,
        &root,
        "apt-get --version | head -1; cat /etc/debian_version; perl -e 'print 6*7, qq(\\n)'; \
         id -un; echo $PATH",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("apt 2.6"), "{out}");
    assert!(lines[1].starts_with("12."), "{out}");
    assert_eq!(
        lines[2..],
        [
            "42",
            "root",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        ]
    );
    drop(root);

    // The `run` example on the same store: the layer is not unpacked again.
    let reference = format!("{}:{}", layout.display(), fixtures::UMOCI_TAG);
    let out = run_example(&reference, &t.0.join("store"), &["apt-get", "--version"]);
    assert!(apt_line(&out).starts_with("apt 2.6"), "{out}");
    assert_eq!(
        std::fs::read_dir(t.0.join("store/layers")).unwrap().count(),
        1
    );
    assert_eq!(
        std::fs::read_dir(t.0.join("store/containers"))
            .unwrap()
            .count(),
        0,
        "--rm removed the container's layer"
    );
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let p = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    let n = std::ffi::CString::new(name).unwrap();
    let mut buf = [0u8; 64];
    // SAFETY: valid C strings and buffer.
    let r = unsafe { libc::lgetxattr(p.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    (r >= 0).then(|| buf[..r as usize].to_vec())
}

fn is_whiteout(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_char_device() && m.rdev() == 0)
}

#[test]
fn docker_build_with_whiteouts_from_docker_save() {
    require_root!();
    tools!("debootstrap", "dockerd", "containerd", "runc");
    let archive = fixtures::docker_archive().unwrap();
    let t = TempDir::new("docker");
    let image = ImageSource::open(&archive)
        .unwrap()
        .image(fixtures::DOCKER_TAG)
        .unwrap();
    assert_eq!(image.layers().len(), 3, "ADD, RUN rm, RUN ln");
    let store = Store::open(t.0.join("store"), StoreOptions::new()).unwrap();
    let layers = store.unpack(&image, &mut |_| {}).unwrap();
    let [base, deletes, link] = layers.layers() else {
        panic!("{:?}", layers.layers());
    };

    // What docker's layer tars held, in overlay's form in the store.
    assert!(base.path.join("usr/share/doc/apt").is_dir());
    assert!(base.path.join("usr/bin/apt-cache").is_file());
    for gone in [
        "usr/share/doc",
        "usr/bin/apt-cache",
        "etc/debian_version",
        "var/lib/apt/lists",
    ] {
        assert!(is_whiteout(&deletes.path.join(gone)), "{gone}: no whiteout");
    }
    let opaque = deletes.path.join("etc/apt/apt.conf.d");
    assert_eq!(
        xattr(&opaque, "trusted.overlay.opaque").as_deref(),
        Some(&b"y"[..]),
        "docker's diff of a removed and remade directory is an opaque dir"
    );
    let linked = std::fs::metadata(link.path.join("etc/containment-hardlink")).unwrap();
    assert_eq!(
        linked.ino(),
        std::fs::metadata(link.path.join("etc/containment-layer"))
            .unwrap()
            .ino(),
        "the hard link's layer holds both names of one inode"
    );

    // Inside: the deleted paths are gone, the opaque dir shows only its new
    // content, the lower layer's files of it are hidden, apt runs.
    let root = store.container_root(&layers).unwrap();
    let out = sh_in(
        &image,
        &layers,
        &root,
        "for p in /usr/share/doc /usr/bin/apt-cache /etc/debian_version /var/lib/apt/lists; do \
           test -e $p && echo PRESENT $p; done; ls -A /etc/apt/apt.conf.d; \
         cat /etc/containment-hardlink; stat -c %h /etc/containment-layer; \
         apt-get --version | head -1; echo $CONTAINMENT_IMAGE",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[..3], ["99only-this", "layer3", "2"], "{out}");
    assert!(lines[3].starts_with("apt 2.6"), "{out}");
    assert_eq!(lines[4], "docker-build");
    drop(root);

    // Two containers of the image see their own writes only.
    let (r1, r2) = (
        store.container_root(&layers).unwrap(),
        store.container_root(&layers).unwrap(),
    );
    let script = |me: &str| {
        format!(
            "cat /root/written 2>/dev/null && echo SAW; echo {me} > /root/written; \
             rm /etc/containment-layer; cat /root/written"
        )
    };
    assert_eq!(sh_in(&image, &layers, &r1, &script("one")), "one\n");
    assert_eq!(sh_in(&image, &layers, &r2, &script("two")), "two\n");
    assert_eq!(
        std::fs::read(r1.upper().join("root/written")).unwrap(),
        b"one\n"
    );
    assert_eq!(
        std::fs::read(r2.upper().join("root/written")).unwrap(),
        b"two\n"
    );
    assert!(is_whiteout(&r1.upper().join("etc/containment-layer")));
    assert_eq!(
        std::fs::read(link.path.join("etc/containment-layer")).unwrap(),
        b"layer3\n",
        "the image's layer is untouched"
    );
    let upper = r1.upper();
    drop(r1);
    assert!(!upper.exists());

    // The `run` example on the archive.
    let reference = format!("{}:{}", archive.display(), fixtures::DOCKER_TAG);
    let out = run_example(
        &reference,
        &t.0.join("store"),
        &[
            "sh",
            "-c",
            "apt-get --version; test -e /usr/share/doc || echo no-doc",
        ],
    );
    assert!(apt_line(&out).starts_with("apt 2.6"), "{out}");
    assert!(out.ends_with("no-doc\n"), "{out}");
}

#[cfg(feature = "pull")]
#[test]
fn docker_build_image_through_a_registry() {
    use containment::image::PullOptions;
    require_root!();
    tools!(
        "debootstrap",
        "dockerd",
        "containerd",
        "runc",
        "docker-registry",
        "skopeo"
    );
    let archive = fixtures::docker_archive().unwrap();
    let t = TempDir::new("registry");
    let reg = fixtures::Registry::start(t.0.join("registry")).unwrap();
    let reference = reg
        .push_archive(&archive, fixtures::DOCKER_TAG, "containment/bookworm:real")
        .unwrap();
    let store = Store::open(t.0.join("store"), StoreOptions::new()).unwrap();
    let opts = PullOptions::new().insecure_registry(reg.addr.clone());
    let pulled = store.pull(&reference, &opts, &mut |_| {}).unwrap();
    let saved = ImageSource::open(&archive)
        .unwrap()
        .image(fixtures::DOCKER_TAG)
        .unwrap();
    let diff_ids = |i: &Image| {
        i.layers()
            .iter()
            .map(|l| l.diff_id.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(diff_ids(&pulled), diff_ids(&saved), "the same layers");
    let layers = store.unpack(&pulled, &mut |_| {}).unwrap();
    assert!(layers.layers().iter().all(|l| l.fresh));
    // The saved archive's image is the same stack: nothing to unpack.
    let again = store.unpack(&saved, &mut |_| {}).unwrap();
    assert!(again.layers().iter().all(|l| !l.fresh));
    assert_eq!(again.lowers(), layers.lowers());

    let root = store.container_root(&layers).unwrap();
    let out = sh_in(
        &pulled,
        &layers,
        &root,
        "apt-get --version | head -1; test -e /usr/bin/apt-cache || echo gone; ls /etc/apt/apt.conf.d",
    );
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("apt 2.6"), "{out}");
    assert_eq!(lines[1..], ["gone", "99only-this"]);
    drop(root);

    // `run --image` with the registry reference (loopback: plain HTTP).
    let store2 = t.0.join("store2");
    let out = run_example(&reference, &store2, &["apt-get", "--version"]);
    assert!(apt_line(&out).starts_with("apt 2.6"), "{out}");
    assert_eq!(std::fs::read_dir(store2.join("layers")).unwrap().count(), 3);
}

#[test]
fn run_it_bash_in_the_umoci_image() {
    require_root!();
    tools!("debootstrap", "umoci", "tmux");
    let layout = fixtures::umoci_layout().unwrap();
    let run = common::example::run_binary();
    let t = TempDir::new("tty");
    let status = t.0.join("status");
    let tmux = Tmux {
        socket: common::unique("containment-real-tty"),
    };
    let command = format!(
        "{} -it --rm --image {}:{} --store {} bash --norc; echo $? > {}",
        run.display(),
        layout.display(),
        fixtures::UMOCI_TAG,
        t.0.join("store").display(),
        status.display()
    );
    tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        "100",
        "-y",
        "30",
        &command,
    ]);
    tmux.cmd(&["set-option", "-t", "t", "status", "off"]);
    // The progress bar of the unpack, left on the screen, then bash.
    let s = tmux.wait_for("the prompt", |s| s.contains("bash-5.2#"));
    assert!(s.contains("unpacked"), "no progress line:\n{s}");
    assert_eq!(tmux.run("tty", "M1"), ["/dev/pts/0"]);
    assert_eq!(tmux.run("stty size", "M2"), ["30 100"]);
    tmux.cmd(&["resize-window", "-t", "t", "-x", "80", "-y", "24"]);
    assert_eq!(tmux.run("stty size", "M3"), ["24 80"]);
    assert_eq!(
        tmux.run("apt-get --version | head -1 | cut -c1-7", "M4"),
        ["apt 2.6"]
    );
    tmux.cmd(&["send-keys", "-t", "t", "exit 7", "Enter"]);
    let end = Instant::now() + Duration::from_secs(60);
    while !status.exists() || std::fs::read_to_string(&status).unwrap().is_empty() {
        assert!(Instant::now() < end, "run did not end:\n{}", tmux.screen());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(std::fs::read_to_string(&status).unwrap().trim(), "7");
}
