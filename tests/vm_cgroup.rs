//! Enforcement of every cgroup v2 limit, checked through the kernel. Needs a
//! pure cgroup v2 host with the controllers enabled at the root (the VM of
//! `cargo xtask vm-test`; built only with `--features vm-tests`).
//!
//! Processes are the test binary itself re-executed as a helper (the test
//! `helper`, driven by `CG_HELPER`): it waits for a line on stdin (so the
//! parent can attach it to the cgroup first), then spins, allocates, forks
//! or reports its affinity. The guest kernel is 6.1: files newer than that
//! (`pids.peak`, …) are optional here.

#[macro_use]
mod common;

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use containment::cgroup::{
    Cgroup, CpuSet, Device, Hierarchy, HierarchyKind, IoLimit, IoLimitKind, PidsLimit, Resources,
};

// ------------------------------------------------------------------ helper

/// The helper process (runs only when `CG_HELPER` is set).
#[test]
fn helper() {
    let Ok(mode) = std::env::var("CG_HELPER") else {
        return;
    };
    let mut args = mode.split_whitespace();
    let cmd = args.next().unwrap_or("");
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    let stdin = std::io::stdin();
    let mut gate = String::new();
    let mut wait_gate = || {
        gate.clear();
        stdin.read_line(&mut gate).unwrap() > 0
    };
    let say = |s: String| {
        let mut o = std::io::stdout().lock();
        writeln!(o, "HELPER {s}").unwrap();
        o.flush().unwrap();
    };
    match cmd {
        "spin" => {
            wait_gate();
            let mut x: u64 = 0;
            loop {
                x = std::hint::black_box(x.wrapping_add(1));
            }
        }
        "alloc" => {
            wait_gate();
            // Zeroed pages from calloc are not resident until written.
            let mut v = vec![0u8; n << 20];
            for i in (0..v.len()).step_by(4096) {
                v[i] = 1;
            }
            std::hint::black_box(&v);
            say("allocated".into());
            std::thread::sleep(Duration::from_secs(60));
        }
        "fork" => {
            // One round of n forks per line on stdin; children pause().
            while wait_gate() {
                let mut ok = 0;
                for _ in 0..n {
                    // SAFETY: the child only calls pause() and _exit(),
                    // both async-signal-safe.
                    let pid = unsafe { libc::fork() };
                    if pid == 0 {
                        // SAFETY: async-signal-safe calls only.
                        unsafe {
                            libc::pause();
                            libc::_exit(0);
                        }
                    }
                    if pid > 0 {
                        ok += 1;
                    }
                }
                say(format!("forked {ok}"));
            }
        }
        "affinity" => {
            wait_gate();
            let set = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)).unwrap();
            let cpus: Vec<String> = (0..nix::sched::CpuSet::count())
                .filter(|c| set.is_set(*c).unwrap_or(false))
                .map(|c| c.to_string())
                .collect();
            say(format!("affinity {}", cpus.join(",")));
        }
        other => panic!("unknown helper mode {other}"),
    }
}

struct Helper {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Helper {
    fn spawn(mode: &str) -> Helper {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "helper", "--nocapture", "--test-threads=1", "-q"])
            .env("CG_HELPER", mode)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Helper {
            child,
            stdin,
            stdout,
        }
    }
    fn pid(&self) -> u32 {
        self.child.id()
    }
    fn go(&mut self) {
        self.stdin.write_all(b"go\n").unwrap();
        self.stdin.flush().unwrap();
    }
    /// The next `HELPER ...` line (without the prefix), `None` at EOF.
    fn line(&mut self) -> Option<String> {
        let mut l = String::new();
        loop {
            l.clear();
            if self.stdout.read_line(&mut l).unwrap() == 0 {
                return None;
            }
            if let Some(rest) = l.trim_end().strip_prefix("HELPER ") {
                return Some(rest.to_string());
            }
        }
    }
}

// ------------------------------------------------------------------ setup

/// Kills and removes a test's cgroup even when the test panics.
struct Guard(PathBuf);

impl Drop for Guard {
    fn drop(&mut self) {
        if self.0.exists() {
            let _ = std::fs::write(self.0.join("cgroup.kill"), "1");
            if let Ok(cg) = Cgroup::open(&self.0) {
                let _ = cg.with_timeout(Duration::from_secs(10)).remove();
            }
        }
    }
}

fn pure_v2() -> Option<PathBuf> {
    let h = Hierarchy::detect().ok()?;
    if h.kind() != HierarchyKind::Unified {
        return None;
    }
    let root = h.root_controllers().ok()?;
    ["cpuset", "cpu", "io", "memory", "pids"]
        .iter()
        .all(|c| root.iter().any(|x| x == c))
        .then(|| h.mount_point().map(PathBuf::from))
        .flatten()
}

macro_rules! setup {
    ($tag:expr) => {{
        require_root!();
        let mount = pure_v2();
        require!(
            mount.is_some(),
            "needs a pure cgroup v2 host with cpuset cpu io memory pids (run `cargo xtask vm-test`)"
        );
        let cg = Cgroup::create_under(mount.unwrap(), &common::unique($tag)).unwrap();
        let g = Guard(cg.path().to_path_buf());
        (cg, g)
    }};
}

fn finish(cg: Cgroup, mut helpers: Vec<Helper>) {
    let path = cg.path().to_path_buf();
    cg.kill().unwrap();
    assert!(cg.wait_until_empty(Duration::from_secs(10)).unwrap());
    for h in &mut helpers {
        h.child.wait().unwrap();
    }
    cg.remove().unwrap();
    assert!(!path.exists(), "{path:?} left behind");
}

fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let f: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

// ------------------------------------------------------------------ tests

#[test]
fn pids_max_stops_a_fork_loop() {
    let (cg, _g) = setup!("vm-pids");
    cg.apply(&Resources::new().pids_max(16)).unwrap();
    assert_eq!(cg.read("pids.max").unwrap().trim(), "16");
    let mut h = Helper::spawn("fork 64");
    cg.attach(h.pid()).unwrap();
    h.go();
    let forked: u32 = h.line().unwrap()["forked ".len()..].parse().unwrap();
    let s = cg.pids_stats().unwrap();
    eprintln!("pids: forked {forked} of 64, {s:?}");
    assert!(forked < 16, "forked {forked} with pids.max 16");
    assert!(s.current.unwrap() <= 16);
    assert!(s.max_events.unwrap() > 0, "pids.events max not counted");
    finish(cg, vec![h]);
}

#[test]
fn memory_max_oom_kills_and_memory_events_count_it() {
    let (cg, _g) = setup!("vm-oom");
    cg.apply(
        &Resources::new()
            .memory_max(32u64 << 20)
            .memory_swap(32u64 << 20)
            .memory_oom_group(false),
    )
    .unwrap();
    assert_eq!(cg.read("memory.max").unwrap().trim(), "33554432");
    assert_eq!(cg.read("memory.swap.max").unwrap().trim(), "0");
    let mut h = Helper::spawn("alloc 64");
    cg.attach(h.pid()).unwrap();
    h.go();
    let killed = cg.wait_for_oom_kill(Duration::from_secs(60)).unwrap();
    let status = h.child.wait().unwrap();
    let m = cg.memory_stats().unwrap();
    eprintln!("oom: {killed:?}, status {status:?}, {:?}", m.events);
    assert!(killed.unwrap() >= 1);
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    let ev = m.events.unwrap();
    assert!(ev.oom_kill >= 1 && ev.max >= 1);
    if let Some(peak) = m.peak {
        assert!(peak <= 33_554_432 + (1 << 20), "peak {peak}");
    }
    finish(cg, vec![]);
}

#[test]
fn cpu_max_20_percent_throttles() {
    let (cg, _g) = setup!("vm-cpu");
    cg.apply(&Resources::new().cpus(0.2).cpu_shares(512))
        .unwrap();
    assert_eq!(cg.read("cpu.max").unwrap().trim(), "20000 100000");
    assert_eq!(cg.read("cpu.weight").unwrap().trim(), "59");
    let mut h = Helper::spawn("spin");
    cg.attach(h.pid()).unwrap();
    let before = cg.cpu_stats().unwrap();
    let t = Instant::now();
    h.go();
    std::thread::sleep(Duration::from_millis(1500));
    let after = cg.cpu_stats().unwrap();
    let wall = t.elapsed().as_micros() as f64;
    let used = (after.usage_usec.unwrap() - before.usage_usec.unwrap()) as f64;
    eprintln!(
        "cpu.max 20%: used {:.0}% of one CPU, {after:?}",
        100.0 * used / wall
    );
    assert!(after.nr_throttled.unwrap() > 0, "{after:?}");
    assert!(after.throttled_usec.unwrap() > 0);
    assert!(used / wall < 0.35, "used {used} µs in {wall} µs");
    finish(cg, vec![h]);
}

#[test]
fn cpuset_restricts_affinity() {
    let (cg, _g) = setup!("vm-cpuset");
    let online: CpuSet = std::fs::read_to_string("/sys/devices/system/cpu/online")
        .unwrap()
        .parse()
        .unwrap();
    let last = online.iter().last().unwrap();
    cg.apply(
        &Resources::new()
            .cpuset_cpus(std::iter::once(last).collect())
            .cpuset_mems("0".parse().unwrap()),
    )
    .unwrap();
    assert_eq!(
        cg.read("cpuset.cpus.effective").unwrap().trim(),
        last.to_string()
    );
    let mut h = Helper::spawn("affinity");
    cg.attach(h.pid()).unwrap();
    h.go();
    assert_eq!(h.line().unwrap(), format!("affinity {last}"));
    // A CPU that does not exist is refused before any write.
    let e = cg
        .apply(&Resources::new().cpuset_cpus("0-63".parse().unwrap()))
        .unwrap_err();
    assert_eq!(e.field(), Some("cpuset_cpus"));
    finish(cg, vec![h]);
}

#[test]
fn io_max_and_io_weight_on_null_blk() {
    let (cg, _g) = setup!("vm-io");
    require!(
        std::path::Path::new("/dev/nullb0").exists(),
        "no /dev/nullb0 (load null_blk)"
    );
    let dev = Device::from_path("/dev/nullb0").unwrap();
    // A per-device io.weight needs the iocost controller active on the
    // device (root's io.cost.qos) — a host-wide choice the library leaves to
    // the administrator; this throw-away VM makes it here. Without it the
    // kernel answers EOPNOTSUPP, which apply reports with a hint.
    let no_iocost = Resources::new().blkio_weight_device(dev, 1000);
    let root = std::path::Path::new(cg.path())
        .parent()
        .unwrap()
        .to_path_buf();
    let qos = std::fs::read_to_string(root.join("io.cost.qos")).unwrap_or_default();
    if !qos
        .lines()
        .any(|l| l.starts_with(&format!("{dev} enable=1")))
    {
        let e = cg.apply(&no_iocost).unwrap_err().to_string();
        assert!(e.contains("io.weight") && e.contains("io.cost.qos"), "{e}");
        std::fs::write(root.join("io.cost.qos"), format!("{dev} enable=1")).unwrap();
    }
    let r = Resources::new()
        .io_limit(IoLimit::parse(IoLimitKind::ReadBps, "/dev/nullb0:1mb").unwrap())
        .io_limit(IoLimit {
            device: dev,
            kind: IoLimitKind::WriteIops,
            per_second: 100,
        })
        .blkio_weight(500)
        .blkio_weight_device(dev, 1000);
    cg.apply(&r).unwrap();
    let max = cg.read("io.max").unwrap();
    eprintln!("io.max: {max:?}");
    assert!(
        max.lines().any(|l| l.starts_with(&format!("{dev} "))
            && l.contains("rbps=1048576")
            && l.contains("wiops=100")
            && l.contains("wbps=max")),
        "{max}"
    );
    match cg.read_optional("io.weight").unwrap() {
        Some(w) => {
            eprintln!("io.weight: {w:?}");
            assert!(w.lines().any(|l| l == "default 4950"), "{w}");
            assert!(w.lines().any(|l| l == format!("{dev} 10000")), "{w}");
        }
        None => panic!("io.weight absent (kernel without blk-iocost?)"),
    }
    // Update: lift the read limit.
    cg.apply(&Resources::new().io_limit(IoLimit {
        device: dev,
        kind: IoLimitKind::ReadBps,
        per_second: 2 << 20,
    }))
    .unwrap();
    assert!(cg.read("io.max").unwrap().contains("rbps=2097152"));
    // /dev/null is not a block device: refused, naming the field.
    assert!(IoLimit::parse(IoLimitKind::ReadBps, "/dev/null:1mb").is_err());
    finish(cg, vec![]);
}

#[test]
fn update_while_running_takes_effect() {
    let (cg, _g) = setup!("vm-update");
    cg.apply(&Resources::new().pids_max(4)).unwrap();
    let mut h = Helper::spawn("fork 10");
    cg.attach(h.pid()).unwrap();
    h.go();
    let first: u32 = h.line().unwrap()["forked ".len()..].parse().unwrap();
    // docker update --pids-limit 64 while it runs.
    cg.apply(&Resources::new().pids_max(64)).unwrap();
    assert_eq!(cg.read("pids.max").unwrap().trim(), "64");
    h.go();
    let second: u32 = h.line().unwrap()["forked ".len()..].parse().unwrap();
    eprintln!("update: forked {first} under pids.max 4, {second} under 64");
    assert!(first < 4);
    assert_eq!(second, 10);
    // And lift it entirely.
    cg.apply(&Resources::new().pids_max(PidsLimit::Max))
        .unwrap();
    assert_eq!(cg.read("pids.max").unwrap().trim(), "max");
    // memory.high / memory.low / memory.max update on a live cgroup.
    cg.apply(
        &Resources::new()
            .memory_max(128u64 << 20)
            .memory_high(96u64 << 20)
            .memory_reservation(16u64 << 20),
    )
    .unwrap();
    assert_eq!(cg.read("memory.high").unwrap().trim(), "100663296");
    assert_eq!(cg.read("memory.low").unwrap().trim(), "16777216");
    finish(cg, vec![h]);
}

#[test]
fn freeze_stops_progress_and_thaw_resumes() {
    let (cg, _g) = setup!("vm-freeze");
    let mut h = Helper::spawn("spin");
    cg.attach(h.pid()).unwrap();
    h.go();
    std::thread::sleep(Duration::from_millis(200));
    cg.freeze().unwrap();
    assert!(cg.read("cgroup.events").unwrap().contains("frozen 1"));
    let (a, ua) = (cpu_ticks(h.pid()), cg.cpu_stats().unwrap().usage_usec);
    std::thread::sleep(Duration::from_millis(500));
    let (b, ub) = (cpu_ticks(h.pid()), cg.cpu_stats().unwrap().usage_usec);
    assert_eq!(a, b, "frozen task progressed");
    assert_eq!(ua, ub, "frozen cgroup used CPU");
    cg.thaw().unwrap();
    assert!(cg.read("cgroup.events").unwrap().contains("frozen 0"));
    std::thread::sleep(Duration::from_millis(500));
    assert!(cpu_ticks(h.pid()) > b, "thawed task made no progress");
    finish(cg, vec![h]);
}

#[test]
fn kill_leaves_the_cgroup_empty_and_removable() {
    let (cg, _g) = setup!("vm-kill");
    let path = cg.path().to_path_buf();
    let mut h = Helper::spawn("fork 5");
    cg.attach(h.pid()).unwrap();
    h.go();
    assert_eq!(h.line().unwrap(), "forked 5");
    assert_eq!(cg.procs().unwrap().len(), 6);
    cg.kill().unwrap();
    assert!(cg.wait_until_empty(Duration::from_secs(10)).unwrap());
    assert_eq!(h.child.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert!(cg.procs().unwrap().is_empty());
    assert!(!cg.is_populated().unwrap());
    cg.remove().unwrap();
    assert!(!path.exists());
}

#[test]
fn stats_report_usage_and_pressure() {
    let (cg, _g) = setup!("vm-stats");
    cg.apply(&Resources::new().memory_max(64u64 << 20).pids_max(32))
        .unwrap();
    let mut h = Helper::spawn("alloc 8");
    cg.attach(h.pid()).unwrap();
    h.go();
    assert_eq!(h.line().unwrap(), "allocated");
    let s = cg.stats().unwrap();
    eprintln!(
        "stats: memory.current {:?} peak {:?} anon {:?}, pids {:?}, cpu {:?}, memory.pressure {:?}",
        s.memory.current,
        s.memory.peak,
        s.memory.stat.get("anon"),
        s.pids,
        s.cpu,
        s.memory_pressure
    );
    assert!(s.memory.current.unwrap() >= 8 << 20);
    assert!(s.memory.stat.get("anon").copied().unwrap_or(0) >= 8 << 20);
    assert!(s.memory.events.is_some());
    assert!(s.pids.current.unwrap() >= 1);
    assert!(s.cpu.usage_usec.is_some() && s.cpu.nr_periods.is_some());
    assert!(s.memory_pressure.is_some() && s.cpu_pressure.is_some());
    finish(cg, vec![h]);
}

/// The builder's `.cgroup(...)`: the child starts in its cgroup with the
/// limits applied before its first instruction, and the cgroup is removed
/// when the child is reaped.
#[test]
fn builder_cgroup_limits_are_enforced_from_the_start() {
    require_root!();
    let mount = pure_v2();
    require!(
        mount.is_some(),
        "needs a pure cgroup v2 host (run `cargo xtask vm-test`)"
    );
    let parent = mount.unwrap().join(common::unique("builder"));
    std::fs::create_dir(&parent).unwrap();
    let _g = Guard(parent.clone());
    // A fork loop (busybox sh gives up at the first failed fork).
    let mut child = containment::Container::builder()
        .namespaces(containment::Namespaces::PID | containment::Namespaces::MOUNT)
        .cgroup(
            containment::cgroup::CgroupSpec::new()
                .parent(&parent)
                .name("limited")
                .resources(Resources::new().pids_max(8).memory_max(48 << 20)),
        )
        .command(
            "/bin/sh",
            ["-c", "for i in $(seq 1 20); do sleep 30 & done; wait"],
        )
        .spawn()
        .unwrap();
    let cg = child.cgroup().unwrap();
    assert_eq!(
        cg.read("memory.max").unwrap().trim(),
        (48u64 << 20).to_string()
    );
    assert_eq!(cg.read("pids.max").unwrap().trim(), "8");
    let deadline = Instant::now() + Duration::from_secs(10);
    let events = loop {
        let e = cg.read("pids.events").unwrap();
        let max: u64 = e.split_whitespace().nth(1).unwrap().parse().unwrap();
        if max > 0 || Instant::now() > deadline {
            break e;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_ne!(events.trim(), "max 0", "no fork was refused");
    let current: u64 = cg.read("pids.current").unwrap().trim().parse().unwrap();
    assert!(current <= 8, "pids.current {current} above pids.max 8");
    let path = cg.path().to_path_buf();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!path.exists(), "the builder's cgroup was not removed");
}

/// Device rules on a pure v2 host: a `BPF_PROG_TYPE_CGROUP_DEVICE`
/// program (there is no devices controller), checked by opening a node
/// made with mknod (`c 1:3`, the null device) in a directory of the
/// test's own; a live update replaces the program.
#[test]
fn device_rules_are_a_bpf_program_on_v2() {
    use containment::cgroup::{CgroupSpec, DeviceRule};
    require_root!();
    let mount = pure_v2();
    require!(
        mount.is_some(),
        "needs a pure cgroup v2 host (run `cargo xtask vm-test`)"
    );
    let parent = mount.unwrap().join(common::unique("devices"));
    std::fs::create_dir(&parent).unwrap();
    let _g = Guard(parent.clone());
    let dir = std::env::temp_dir().join(common::unique("devnodes"));
    std::fs::create_dir(&dir).unwrap();
    let node = dir.join("null");
    nix::sys::stat::mknod(
        &node,
        nix::sys::stat::SFlag::S_IFCHR,
        nix::sys::stat::Mode::from_bits_truncate(0o666),
        nix::sys::stat::makedev(1, 3),
    )
    .unwrap();
    let rules = |l: &[&str]| -> Vec<DeviceRule> { l.iter().map(|s| s.parse().unwrap()).collect() };
    let run = |r: Vec<DeviceRule>, cmd: String| {
        containment::Container::builder()
            .cgroup(
                CgroupSpec::new()
                    .parent(&parent)
                    .resources(Resources::new().device_rules(r)),
            )
            .command("/bin/sh", ["-c", cmd.as_str()])
            .spawn()
            .unwrap()
            .wait()
            .unwrap()
    };
    let open = format!("exec 3<>{}", node.display());
    assert!(run(vec![], open.clone()).success());
    assert!(!run(rules(&["deny a *:* rwm", "c 1:5 rwm"]), open.clone()).success());
    assert!(run(rules(&["deny a *:* rwm", "c 1:3 rw"]), open.clone()).success());
    assert!(!run(rules(&["deny c 1:3 w"]), open.clone()).success());
    // Live: a running container refused, then allowed by an update.
    let flag = dir.join("denied");
    let script = format!(
        "first=1; while :; do if (exec 3<>{n}) 2>/dev/null; then exit 0; fi; \
         if [ -n \"$first\" ]; then echo x > {f}; first=; fi; sleep 0.05; done",
        n = node.display(),
        f = flag.display()
    );
    let mut child = containment::Container::builder()
        .cgroup(
            CgroupSpec::new()
                .parent(&parent)
                .resources(Resources::new().device_rules(rules(&["deny a *:* rwm", "c 1:5 rwm"]))),
        )
        .command("/bin/sh", ["-c", script.as_str()])
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !flag.exists() {
        assert!(Instant::now() < deadline, "never refused");
        std::thread::sleep(Duration::from_millis(20));
    }
    let cg = child.cgroup().unwrap();
    assert_eq!(cg.device_programs().unwrap(), 1);
    cg.apply(&Resources::new().device_rules(rules(&["deny a *:* rwm", "c 1:3 rwm"])))
        .unwrap();
    assert_eq!(cg.device_programs().unwrap(), 1, "replaced, not stacked");
    let st = child.wait_timeout(Duration::from_secs(60)).unwrap();
    assert!(st.is_some_and(|s| s.success()), "{st:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
