//! Scaling: spawn latency as the mount table grows, and a thousand
//! containers alive at once.
//!
//! 1. **Mount table.** The bench first moves itself into a private mount
//!    namespace (`unshare(CLONE_NEWNS)`, `/` recursively private), so every
//!    mount it makes is invisible to the host and dies with it. It mounts a
//!    tmpfs on a temporary directory and, in steps, more tmpfs below it,
//!    until `/proc/self/mountinfo` has about 20 (the host's own), 120 and
//!    1 000 lines. At each size it measures, round-robin, the six-namespace
//!    spawn *to exec* of `floor`, `floor_work`, `containment` and `pool`
//!    (as in `benches/interleaved.rs`, a random order each round): a new mount namespace copies the
//!    whole table, and the builder's `/` rprivate walks it.
//! 2. **1 000 containers.** Mounts removed again, it starts N containers
//!    (uts, pid, mount, ipc, net; `/bin/sleep 3600`, `lo` up, a fresh /proc)
//!    one after the other and keeps them: time to start them all; memory per
//!    container from `/proc/meminfo` (MemAvailable and Slab deltas: the
//!    kernel's objects plus the sleeping processes) and from this process's
//!    RSS (ours: the `Child` handles); then time to kill and reap them all
//!    (network namespaces are then freed asynchronously by the kernel, so
//!    the table also gives how long MemAvailable took to come back).
//!
//! `cargo bench --bench scaling`; knobs: `CONTAINMENT_BENCH_QUICK=1` (20
//! rounds, 100 containers), `CONTAINMENT_BENCH_ROUNDS` (default 100),
//! `CONTAINMENT_SCALING_CONTAINERS` (default 1000),
//! `CONTAINMENT_SCALING_MOUNTS` (default `20,120,1000`). Under
//! `cargo test --benches`: 3 rounds at 2 sizes and 10 containers. Writes
//! `target/scaling.json`. Needs root.

mod support;

use containment::{Container, Namespaces};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use support::{Extra, Variant, SIX};

fn env_num(name: &str) -> Option<usize> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn check(r: libc::c_int, what: &str) {
    assert!(r == 0, "{what}: {}", std::io::Error::last_os_error());
}

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("no NUL")
}

fn mount_count() -> usize {
    std::fs::read_to_string("/proc/self/mountinfo")
        .expect("mountinfo")
        .lines()
        .count()
}

/// A directory with a tmpfs on it, in our private mount namespace; more
/// tmpfs are mounted below it. Dropping detaches them all and removes the
/// (host-visible, empty) directory.
struct MountFarm {
    dir: PathBuf,
    n: usize,
}

impl MountFarm {
    fn new() -> MountFarm {
        let dir = std::env::temp_dir().join(format!("containment-scaling-{}", std::process::id()));
        std::fs::create_dir(&dir).expect("mkdir");
        let d = cstr(&dir);
        // SAFETY: NUL-terminated strings; a tmpfs in our own mount namespace.
        check(
            unsafe {
                libc::mount(
                    c"containment-scaling".as_ptr(),
                    d.as_ptr(),
                    c"tmpfs".as_ptr(),
                    0,
                    c"size=1m".as_ptr().cast(),
                )
            },
            "mount the farm",
        );
        MountFarm { dir, n: 0 }
    }

    /// Adds tmpfs mounts until the table has `total` lines.
    fn grow_to(&mut self, total: usize) {
        while mount_count() < total {
            let p = self.dir.join(format!("m{}", self.n));
            self.n += 1;
            std::fs::create_dir(&p).expect("mkdir");
            let c = cstr(&p);
            // SAFETY: NUL-terminated strings; a tmpfs in our own namespace.
            check(
                unsafe {
                    libc::mount(
                        c"cs".as_ptr(),
                        c.as_ptr(),
                        c"tmpfs".as_ptr(),
                        0,
                        c"size=4k".as_ptr().cast(),
                    )
                },
                "mount",
            );
        }
    }
}

impl Drop for MountFarm {
    fn drop(&mut self) {
        let d = cstr(&self.dir);
        // SAFETY: detaches our own tmpfs (and everything below it).
        unsafe { libc::umount2(d.as_ptr(), libc::MNT_DETACH) };
        let _ = std::fs::remove_dir(&self.dir);
    }
}

fn meminfo(key: &str) -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .expect("meminfo")
        .lines()
        .find_map(|l| {
            l.strip_prefix(key)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .expect("status")
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmRSS:")?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

fn mount_scaling(sizes: &[usize], rounds: usize, json: &mut Vec<String>) {
    let mut farm = MountFarm::new();
    println!("scaling/mounts: six namespaces, to exec, µs, medians of {rounds} rounds (x floor = ratio of medians)");
    println!(
        "  {:>7}  {:>10} {:>10} {:>10} {:>10}   containment x floor",
        "mounts", "floor", "floor_work", "containment", "pool"
    );
    for &size in sizes {
        farm.grow_to(size);
        let have = mount_count();
        let v = Variant {
            name: "six",
            ns: SIX,
            extra: Extra::None,
        };
        let want = ["floor", "floor_work", "containment", "pool"];
        let mut methods: Vec<_> = support::methods(v)
            .into_iter()
            .filter(|(n, _)| want.contains(n))
            .collect();
        let n = methods.len();
        let mut samples = vec![Vec::with_capacity(rounds); n];
        for (_, m) in methods.iter_mut() {
            m(true);
        }
        let mut order: Vec<usize> = (0..n).collect();
        let mut rng = support::Shuffle::new(0x5eed ^ size as u64);
        for _ in 0..rounds {
            rng.shuffle(&mut order);
            for &i in &order {
                samples[i].push((methods[i].1)(true).as_secs_f64() * 1e6);
            }
        }
        let meds: Vec<f64> = samples.iter_mut().map(|s| median(s)).collect();
        let get = |name: &str| {
            methods
                .iter()
                .position(|(n, _)| *n == name)
                .map_or(f64::NAN, |i| meds[i])
        };
        println!(
            "  {have:>7}  {:>10.0} {:>10.0} {:>10.0} {:>10.0}   {:.2}",
            get("floor"),
            get("floor_work"),
            get("containment"),
            get("pool"),
            get("containment") / get("floor")
        );
        json.push(format!(
            "{{\"mounts\": {have}, \"floor_us\": {:.1}, \"floor_work_us\": {:.1}, \"containment_us\": {:.1}, \"pool_us\": {:.1}}}",
            get("floor"),
            get("floor_work"),
            get("containment"),
            get("pool")
        ));
    }
}

fn many_containers(n: usize) -> String {
    let ns =
        Namespaces::UTS | Namespaces::PID | Namespaces::MOUNT | Namespaces::IPC | Namespaces::NET;
    let mut b = Container::new().unshare(ns).command("/bin/sleep");
    b.args(["3600"]);
    // Settle, then the baseline.
    std::thread::sleep(Duration::from_millis(500));
    let (avail0, slab0, rss0) = (meminfo("MemAvailable:"), meminfo("Slab:"), rss_kb());
    let mut children = Vec::with_capacity(n);
    let t = Instant::now();
    let mut first_100 = Duration::ZERO;
    for i in 0..n {
        children.push(b.spawn().unwrap_or_else(|e| panic!("container {i}: {e}")));
        if i + 1 == n.min(100) {
            first_100 = t.elapsed();
        }
    }
    let start = t.elapsed();
    std::thread::sleep(Duration::from_millis(500));
    let (avail1, slab1, rss1) = (meminfo("MemAvailable:"), meminfo("Slab:"), rss_kb());
    let t = Instant::now();
    for c in children.iter_mut() {
        let _ = c.kill();
    }
    for c in children.iter_mut() {
        let _ = c.wait();
    }
    let down = t.elapsed();
    drop(children);
    // The kernel frees network namespaces asynchronously (cleanup_net):
    // wait until MemAvailable is back within 10 % of what was taken.
    let t = Instant::now();
    let taken = avail0.saturating_sub(avail1);
    while meminfo("MemAvailable:") + taken / 10 < avail0 && t.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(20));
    }
    let freed = t.elapsed();
    let per = |a: u64, b: u64| (a as f64 - b as f64) / n as f64;
    println!("scaling/containers: {n} containers (uts pid mnt ipc net, /bin/sleep), started one after the other");
    println!(
        "  start all: {:.2} s ({:.2} ms each; first {}: {:.2} ms each)",
        start.as_secs_f64(),
        start.as_secs_f64() * 1e3 / n as f64,
        n.min(100),
        first_100.as_secs_f64() * 1e3 / n.min(100) as f64
    );
    println!(
        "  memory per container: MemAvailable taken {:.0} KiB, Slab {:+.0} KiB (kernel), our RSS {:+.1} KiB",
        per(avail0, avail1),
        per(slab1, slab0),
        per(rss1, rss0)
    );
    println!(
        "  kill + reap all: {:.2} s ({:.2} ms each); MemAvailable back within 10 % after {:.2} s more",
        down.as_secs_f64(),
        down.as_secs_f64() * 1e3 / n as f64,
        freed.as_secs_f64()
    );
    format!(
        "{{\"containers\": {n}, \"start_s\": {:.3}, \"first100_ms_each\": {:.3}, \"memavailable_kib_each\": {:.1}, \"slab_kib_each\": {:.1}, \"rss_kib_each\": {:.2}, \"teardown_s\": {:.3}, \"memavailable_back_s\": {:.3}}}",
        start.as_secs_f64(),
        first_100.as_secs_f64() * 1e3 / n.min(100) as f64,
        per(avail0, avail1),
        per(slab1, slab0),
        per(rss1, rss0),
        down.as_secs_f64(),
        freed.as_secs_f64()
    )
}

fn main() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("benches/scaling: SKIPPED, needs root (namespaces, mounts)");
        return;
    }
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let test_mode = !std::env::args().any(|a| a == "--bench");
    let quick = std::env::var_os("CONTAINMENT_BENCH_QUICK").is_some_and(|v| v != "0");
    let (rounds, containers, mut sizes) = if test_mode {
        (3, 10, vec![20, 60])
    } else if quick {
        (20, 100, vec![20, 120, 1000])
    } else {
        (100, 1000, vec![20, 120, 1000])
    };
    let rounds = if test_mode {
        rounds
    } else {
        env_num("CONTAINMENT_BENCH_ROUNDS").unwrap_or(rounds)
    };
    let containers = env_num("CONTAINMENT_SCALING_CONTAINERS").unwrap_or(containers);
    if let Ok(s) = std::env::var("CONTAINMENT_SCALING_MOUNTS") {
        sizes = s.split(',').filter_map(|x| x.trim().parse().ok()).collect();
    }
    // A private mount namespace of our own, before any thread exists
    // (unshare(CLONE_NEWNS) is refused to a multi-threaded process).
    // SAFETY: plain system calls; only this process's namespace changes.
    unsafe {
        check(libc::unshare(libc::CLONE_NEWNS), "unshare(CLONE_NEWNS)");
        check(
            libc::mount(
                std::ptr::null(),
                c"/".as_ptr(),
                std::ptr::null(),
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ),
            "make / rprivate",
        );
        // 1 000 pidfds and more.
        let mut rl: libc::rlimit = std::mem::zeroed();
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl);
        rl.rlim_cur = rl.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &rl);
    }
    println!(
        "machine: nproc {}, kernel {}, host mounts {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim(),
        mount_count()
    );
    let mut mounts_json = Vec::new();
    mount_scaling(&sizes, rounds, &mut mounts_json);
    let containers_json = many_containers(containers);
    if !test_mode {
        let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
        let path = format!("{dir}/scaling.json");
        let json = format!(
            "{{\n \"rounds\": {rounds},\n \"mounts\": [\n  {}\n ],\n \"containers\": {containers_json}\n}}\n",
            mounts_json.join(",\n  ")
        );
        match std::fs::write(&path, json) {
            Ok(()) => eprintln!("wrote {path}"),
            Err(e) => eprintln!("could not write {path}: {e}"),
        }
    }
}
