//! Images (issue 13): the start of a container from an already unpacked
//! image beside the same container from a plain directory root, and the
//! unpack throughput of a ~100 MB layer beside `tar -x` of the same
//! archive. Every method runs once per round, in a new random order each
//! round (the machine is shared and noisy); the ratios are read within one
//! run: of the medians, and the median of the per-round ratios.
//!
//! Start methods (each spawns busybox `echo x` in new mount, PID, UTS and
//! IPC namespaces with the root changed by pivot_root, its stdout a pipe;
//! two times per start, from the same spawn: **to run**, from the first
//! step of the method until the program's byte arrives on the pipe (the
//! program runs: what "start" means in issue 13), and **to end**, until
//! it has been waited for and everything the method made for it is gone
//! (the container's exit, its mount namespace's teardown, a writable
//! layer's removal)):
//! - `dir`: a busybox tree as a plain directory root (the baseline);
//! - `dir-layer`: the image's unpacked layer itself as a directory root
//!   (the same files, so the same page cache, as the image methods);
//! - `dir-pty-own`, `dir-pty-own-io`: `dir` with a pty from the
//!   container's own devpts (the minimal `/dev`'s): on stdin and stderr
//!   (the byte still on the pipe), or on every stream (the byte read from
//!   the pty's primary);
//! - `dir-keep`: `dir` with the root's own `/dev` kept (no devpts mounted),
//!   the baseline of
//! - `dir-pty-host`, `dir-pty-host-io`: as the `dir-pty-own` pair, the pty
//!   from the host's `/dev/ptmx`;
//! - `image`: the same tree as a one-layer OCI image, already in the
//!   store: open the layout, resolve the tag, `Store::unpack` (every layer
//!   already there), the config's defaults, a fresh writable layer
//!   (`container_root`), the spawn, and the writable layer's removal;
//! - `image-root`: only the fresh writable layer, the spawn and its removal;
//! - `image-kept`: one writable layer made before the rounds: the spawn
//!   over an overlay alone;
//! - `image-ephemeral`: as `image`, but the writable layer on a tmpfs of
//!   the container (`UnpackedImage::ephemeral_rootfs`): nothing per start
//!   on the store's filesystem;
//! - `ephemeral-only`: that root alone, the spawn;
//! - `image-open`: the part of `image-ephemeral` before the spawn alone
//!   (no container: its two times are the same);
//! - `image-prepared`: the root of `ephemeral-only` prepared ahead
//!   (`UnpackedImage::prepare`, untimed, before the start): the spawn of a
//!   container whose child only attaches the detached overlay;
//! - `prepare+start`: the same with the prepare timed;
//! - `prepare-only`: the prepare alone (to run) and its drop unused (to
//!   end), no container.
//!
//! `cargo bench --bench image --features image` (`CONTAINMENT_BENCH_ROUNDS`,
//! default 200 start rounds; `CONTAINMENT_BENCH_UNPACK_ROUNDS`, default 5, 0
//! skips the unpack part; `CONTAINMENT_BENCH_ONLY=dir,image-kept`: those
//! start methods only, the first the baseline of the ratios).
//! Under `cargo test --benches` it runs 2 rounds of each as a smoke test.

use containment::image::{ImageSource, Store, StoreOptions, UnpackOptions};
use containment::mount::{DevSpec, Rootfs};
use containment::{Container, Namespaces};
use sha2::Digest as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// xorshift: an order per round, and incompressible file contents.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

fn sh(cmd: &mut Command) {
    let st = cmd.status().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(st.success(), "{cmd:?}: {st}");
}

fn hex(b: &[u8]) -> String {
    sha2::Sha256::digest(b)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn put_blob(dir: &Path, b: &[u8], media: &str) -> serde_json::Value {
    let h = hex(b);
    std::fs::write(dir.join("blobs/sha256").join(&h), b).unwrap();
    serde_json::json!({"mediaType": media, "digest": format!("sha256:{h}"), "size": b.len()})
}

/// An OCI layout holding one image `bench` of the one uncompressed layer.
fn layout(dir: &Path, layer: &[u8]) {
    std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let config = serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/true"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", hex(layer))]},
    }))
    .unwrap();
    let c = put_blob(dir, &config, "application/vnd.oci.image.config.v1+json");
    let l = put_blob(dir, layer, "application/vnd.oci.image.layer.v1.tar");
    let manifest = serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": c, "layers": [l],
    }))
    .unwrap();
    let mut m = put_blob(dir, &manifest, "application/vnd.oci.image.manifest.v1+json");
    m["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "bench"});
    std::fs::write(
        dir.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [m]})).unwrap(),
    )
    .unwrap();
}

fn busybox_root(root: &Path) {
    let bb = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox-static is not installed");
    for d in ["bin", "etc", "tmp", "proc", "dev", "sys"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(bb, root.join("bin/busybox")).unwrap();
    for a in ["true", "sh", "echo"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(a)).unwrap();
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
}

/// Two times of one start: to the program's first byte, to the end.
type Times = (Duration, Duration);

/// The one builder call site: busybox `echo x` in the root, its stdout a
/// pipe; returns the time from `t` until its byte arrives, and the time
/// from `t` until it has been waited for.
fn start_at(t: Instant, root: Rootfs) -> Times {
    start_with(t, root, DevSpec::Minimal, Term::None)
}

/// Where the program's streams go in [`start_with`].
#[derive(Clone, Copy, PartialEq)]
enum Term {
    /// No terminal: the byte comes on a pipe.
    None,
    /// A pty on stdin and stderr; the byte still on the pipe (stdout).
    Beside,
    /// A pty on every stream: the byte is read from the pty's primary.
    Through,
}

/// [`start_at`] with a `/dev` and a terminal as `term` says.
fn start_with(t: Instant, root: Rootfs, dev: DevSpec, term: Term) -> Times {
    use std::io::Read as _;
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both descriptors were just made and are owned only here.
    let (mut r, w) = unsafe {
        use std::os::fd::FromRawFd as _;
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    };
    let mut b = Container::new()
        .unshare(Namespaces::MOUNT | Namespaces::PID | Namespaces::UTS | Namespaces::IPC)
        .rootfs(root)
        .dev(dev)
        .command("/bin/echo");
    b.arg("x").env_clear();
    if term != Term::Through {
        b.stdout(w);
    }
    if term != Term::None {
        b.pty(None);
    }
    let mut child = b.spawn().expect("spawn");
    drop(b);
    let mut byte = [0u8; 1];
    let mut pty = child.take_pty();
    match pty.as_mut() {
        Some(p) if term == Term::Through => {
            p.read_exact(&mut byte).expect("the program's byte (pty)")
        }
        _ => r.read_exact(&mut byte).expect("the program's byte"),
    }
    let run = t.elapsed();
    let st = child.wait().expect("wait");
    assert!(st.success(), "{st:?}");
    drop(pty);
    drop(child);
    (run, t.elapsed())
}

fn start(root: Rootfs) -> Times {
    start_at(Instant::now(), root)
}

/// A ~100 MiB tree: 384 files of 256 KiB (incompressible), and 4096 small
/// files in 64 directories.
fn big_tree(root: &Path) {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    for d in 0..64 {
        let dir = root.join(format!("d{d:02}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..64 {
            std::fs::write(dir.join(format!("small{f:02}")), format!("{d} {f}\n")).unwrap();
        }
        for f in 0..6 {
            let data: Vec<u8> = (0..256 * 1024 / 8)
                .flat_map(|_| rng.next().to_le_bytes())
                .collect();
            std::fs::write(dir.join(format!("big{f}")), data).unwrap();
        }
    }
}

fn main() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("benches/image: SKIPPED, needs root (namespaces, overlay)");
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let test_mode = !std::env::args().any(|a| a == "--bench");
    let env = |k: &str, d: usize| {
        std::env::var(k)
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(d)
    };
    let rounds = if test_mode {
        2
    } else {
        env("CONTAINMENT_BENCH_ROUNDS", 200)
    };
    let unpack_rounds = if test_mode {
        1
    } else {
        env("CONTAINMENT_BENCH_UNPACK_ROUNDS", 5)
    };
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("bench-image-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    struct Cleanup(PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _cleanup = Cleanup(tmp.clone());

    // --- start ---
    let dir = tmp.join("dir");
    busybox_root(&dir);
    sh(Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-cf")
        .arg(tmp.join("layer.tar"))
        .args(["--numeric-owner", "."]));
    let oci = tmp.join("oci");
    layout(&oci, &std::fs::read(tmp.join("layer.tar")).unwrap());
    let store = Store::open(tmp.join("store"), StoreOptions::new()).unwrap();
    let image = ImageSource::open(&oci).unwrap().image("bench").unwrap();
    let layers = store.unpack(&image, &mut |_| {}).unwrap();
    let kept = store.container_root(&layers).unwrap();

    type Method<'a> = (&'static str, Box<dyn FnMut() -> Times + 'a>);
    let mut methods: Vec<Method> = vec![
        ("dir", Box::new(|| start(Rootfs::dir(&dir)))),
        (
            "dir-layer",
            Box::new(|| start(Rootfs::dir(&layers.lowers()[0]))),
        ),
        // Terminals (issue 13, B): a pty from the container's own devpts
        // (the minimal /dev's, opened by the child) and from the host's
        // /dev/ptmx (no devpts in the container: its /dev kept as is).
        (
            "dir-pty-own",
            Box::new(|| {
                start_with(
                    Instant::now(),
                    Rootfs::dir(&dir),
                    DevSpec::Minimal,
                    Term::Beside,
                )
            }),
        ),
        (
            "dir-pty-own-io",
            Box::new(|| {
                start_with(
                    Instant::now(),
                    Rootfs::dir(&dir),
                    DevSpec::Minimal,
                    Term::Through,
                )
            }),
        ),
        (
            "dir-keep",
            Box::new(|| start_with(Instant::now(), Rootfs::dir(&dir), DevSpec::Keep, Term::None)),
        ),
        (
            "dir-pty-host",
            Box::new(|| {
                start_with(
                    Instant::now(),
                    Rootfs::dir(&dir),
                    DevSpec::Keep,
                    Term::Beside,
                )
            }),
        ),
        (
            "dir-pty-host-io",
            Box::new(|| {
                start_with(
                    Instant::now(),
                    Rootfs::dir(&dir),
                    DevSpec::Keep,
                    Term::Through,
                )
            }),
        ),
        (
            "image",
            Box::new(|| {
                let t = Instant::now();
                let image = ImageSource::open(&oci).unwrap().image("bench").unwrap();
                let layers = store.unpack(&image, &mut |_| {}).unwrap();
                let _defaults = image.defaults(&layers).unwrap();
                let root = store.container_root(&layers).unwrap();
                let (run, _) = start_at(t, root.rootfs());
                drop(root);
                (run, t.elapsed())
            }),
        ),
        (
            "image-root",
            Box::new(|| {
                let t = Instant::now();
                let root = store.container_root(&layers).unwrap();
                let (run, _) = start_at(t, root.rootfs());
                drop(root);
                (run, t.elapsed())
            }),
        ),
        ("image-kept", Box::new(|| start(kept.rootfs()))),
        (
            "image-ephemeral",
            Box::new(|| {
                let t = Instant::now();
                let image = ImageSource::open(&oci).unwrap().image("bench").unwrap();
                let layers = store.unpack(&image, &mut |_| {}).unwrap();
                let _defaults = image.defaults(&layers).unwrap();
                start_at(t, layers.ephemeral_rootfs())
            }),
        ),
        (
            "image-open",
            Box::new(|| {
                let t = Instant::now();
                let image = ImageSource::open(&oci).unwrap().image("bench").unwrap();
                let layers = store.unpack(&image, &mut |_| {}).unwrap();
                let _defaults = image.defaults(&layers).unwrap();
                let _root = layers.ephemeral_rootfs();
                (t.elapsed(), t.elapsed())
            }),
        ),
        (
            "ephemeral-only",
            Box::new(|| start(layers.ephemeral_rootfs())),
        ),
        // A prepared root (the overlay mounted detached by the caller
        // ahead, the child only attaches it): the prepare untimed, before
        // the start, as a runtime's create does it ...
        (
            "image-prepared",
            Box::new(|| {
                let p = layers.prepare().expect("prepare");
                start(Rootfs::from(p))
            }),
        ),
        // ... and timed with it.
        (
            "prepare+start",
            Box::new(|| {
                let t = Instant::now();
                let p = layers.prepare().expect("prepare");
                start_at(t, Rootfs::from(p))
            }),
        ),
        // The prepare alone (to run), and its drop unused (to end).
        (
            "prepare-only",
            Box::new(|| {
                let t = Instant::now();
                let p = layers.prepare().expect("prepare");
                let made = t.elapsed();
                drop(p);
                (made, t.elapsed())
            }),
        ),
    ];
    // CONTAINMENT_BENCH_ONLY=dir,image-kept: those methods (the first is
    // the baseline of the ratios).
    if let Ok(only) = std::env::var("CONTAINMENT_BENCH_ONLY") {
        let want: Vec<&str> = only.split(',').collect();
        methods.retain(|m| want.contains(&m.0));
        methods.sort_by_key(|m| want.iter().position(|w| *w == m.0));
    }
    let n = methods.len();
    for (_, m) in methods.iter_mut() {
        m();
    }
    let mut run = vec![Vec::with_capacity(rounds); n];
    let mut end = vec![Vec::with_capacity(rounds); n];
    let mut order: Vec<usize> = (0..n).collect();
    let mut rng = Rng(0x5eed ^ rounds as u64);
    for _ in 0..rounds {
        rng.shuffle(&mut order);
        for &i in &order {
            let (r, e) = (methods[i].1)();
            run[i].push(r.as_secs_f64() * 1e6);
            end[i].push(e.as_secs_f64() * 1e6);
        }
    }
    println!(
        "image/start ({rounds} rounds, µs; x {} = ratio of medians / median of per-round ratios)",
        methods[0].0
    );
    println!(
        "  {:<16} {:>8} {:>17}  {:>8} {:>17}",
        "", "to run", "x", "to end", "x"
    );
    let ratios = |samples: &[Vec<f64>], i: usize| {
        let mut rr: Vec<f64> = samples[i]
            .iter()
            .zip(&samples[0])
            .map(|(a, b)| a / b)
            .collect();
        let med = median(&mut samples[i].clone());
        let base = median(&mut samples[0].clone());
        (med, med / base, median(&mut rr))
    };
    for (i, (name, _)) in methods.iter().enumerate() {
        let (r, rm, rr) = ratios(&run, i);
        let (e, em, er) = ratios(&end, i);
        println!("  {name:<16} {r:8.0}  x{rm:.3} / x{rr:.3}  {e:8.0}  x{em:.3} / x{er:.3}");
    }
    drop(methods);
    drop(kept);

    // --- unpack throughput ---
    if unpack_rounds == 0 {
        return;
    }
    let big = tmp.join("big");
    big_tree(&big);
    let big_tar = tmp.join("big.tar");
    sh(Command::new("tar")
        .arg("-C")
        .arg(&big)
        .arg("-cf")
        .arg(&big_tar)
        .args(["--numeric-owner", "."]));
    sh(Command::new("gzip").args(["-k", "-1", "-f"]).arg(&big_tar));
    let big_gz = tmp.join("big.tar.gz");
    std::fs::remove_dir_all(&big).unwrap();
    let size = std::fs::metadata(&big_tar).unwrap().len();
    let out = tmp.join("out");
    type Unpack<'a> = (&'static str, Box<dyn Fn(&Path) + 'a>);
    let unpacks: Vec<Unpack> = vec![
        (
            "tar -x",
            Box::new(|d: &Path| {
                sh(Command::new("tar")
                    .arg("-C")
                    .arg(d)
                    .arg("-xf")
                    .arg(&big_tar))
            }),
        ),
        (
            "unpack_layer",
            Box::new(|d: &Path| {
                let f = std::fs::File::open(&big_tar).unwrap();
                containment::image::unpack_layer(f, d, &[], &UnpackOptions::new()).unwrap();
            }),
        ),
        (
            "tar -xzf",
            Box::new(|d: &Path| {
                sh(Command::new("tar")
                    .arg("-C")
                    .arg(d)
                    .arg("-xzf")
                    .arg(&big_gz))
            }),
        ),
        (
            "unpack_layer gz",
            Box::new(|d: &Path| {
                let f = std::fs::File::open(&big_gz).unwrap();
                containment::image::unpack_layer(f, d, &[], &UnpackOptions::new()).unwrap();
            }),
        ),
    ];
    let mut us = vec![Vec::new(); unpacks.len()];
    let mut order: Vec<usize> = (0..unpacks.len()).collect();
    for _ in 0..unpack_rounds {
        rng.shuffle(&mut order);
        for &i in &order {
            let _ = std::fs::remove_dir_all(&out);
            std::fs::create_dir_all(&out).unwrap();
            let t = Instant::now();
            (unpacks[i].1)(&out);
            us[i].push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    let _ = std::fs::remove_dir_all(&out);
    println!(
        "image/unpack ({unpack_rounds} rounds, a {:.0} MiB tar, 4,480 files; µs, MiB/s; x tar -x)",
        size as f64 / (1 << 20) as f64
    );
    for (i, (name, _)) in unpacks.iter().enumerate() {
        let med = median(&mut us[i].clone());
        let base = median(&mut us[0].clone());
        let mut rr: Vec<f64> = us[i].iter().zip(&us[0]).map(|(a, b)| a / b).collect();
        println!(
            "  {name:<16} {med:10.0}  {:7.1} MiB/s  x{:.2} / x{:.2}",
            size as f64 / (1 << 20) as f64 / (med / 1e6),
            med / base,
            median(&mut rr)
        );
    }
}
