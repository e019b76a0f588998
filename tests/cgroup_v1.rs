//! The cgroup v1 backend on this host's real v1 controllers (hybrid
//! machines: memory, cpu, cpuset, pids, blkio, freezer under
//! `/sys/fs/cgroup/<controller>`). Each test works under a parent of its own
//! (`cgv1-<pid>-<n>`, the same relative path in every hierarchy) that a
//! guard kills and removes even when the test fails; no other cgroup of the
//! machine is written. Needs root.

#[macro_use]
mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use containment::cgroup::{Backend, Cgroup, CgroupSpec, Error, FreezerState, Hierarchy, Resources};
use containment::{Child, Container, SpawnError};

macro_rules! setup {
    ($tag:expr) => {
        v1_setup!($tag)
    };
}

/// A memory hog (`tail` keeps a line that never ends), with a 512 MiB
/// address-space backstop: were the limit ever missing, it would fail
/// there instead of exhausting the host.
const HOG: &str = "ulimit -v 524288; exec tail /dev/zero";

fn sh(spec: CgroupSpec, cmd: &str) -> Result<Child, SpawnError> {
    Container::new()
        .cgroup(spec)
        .command("/bin/sh")
        .args(["-c", cmd])
        .spawn()
}

fn read(p: impl AsRef<Path>) -> String {
    let p = p.as_ref();
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{p:?}: {e}"))
}

/// The line `key` of a flat-keyed file.
fn key(text: &str, k: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(k)?.trim().parse().ok())
}

/// `/proc/<pid>/cgroup` line of a v1 controller (`4:memory:/x/y` → `/x/y`).
fn proc_cgroup(pid: u32, controller: &str) -> String {
    read(format!("/proc/{pid}/cgroup"))
        .lines()
        .find_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_, c, p) = (it.next()?, it.next()?, it.next()?);
            c.split(',').any(|x| x == controller).then(|| p.to_string())
        })
        .unwrap()
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn memory_limit_oom_kills_a_hog_and_counts_it() {
    let p = setup!("cgv1-oom");
    let spec = p.spec().resources(Resources::new().memory_max(32u64 << 20));
    let mut child = sh(spec, HOG).unwrap();
    let cg = child.cgroup().unwrap();
    assert_eq!(
        cg.backend(),
        Backend::Hybrid,
        "the default on a hybrid host"
    );
    let mem = cg.v1_path("memory").unwrap();
    // Joined before its program ran.
    assert_eq!(
        proc_cgroup(child.id(), "memory"),
        format!("/{}/{}", p.rel, mem.file_name().unwrap().to_string_lossy())
    );
    assert_eq!(read(mem.join("memory.limit_in_bytes")).trim(), "33554432");
    let n = cg.wait_for_oom_kill(Duration::from_secs(60)).unwrap();
    assert!(n.is_some_and(|n| n >= 1), "{n:?}");
    // The kernel's own count, and the same through stats.
    assert!(key(&read(mem.join("memory.oom_control")), "oom_kill ").unwrap() >= 1);
    let ev = cg.memory_events().unwrap().unwrap();
    assert!(ev.oom_kill >= 1, "{ev:?}");
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "{status:?}");
    // (Removed on exit: nothing left to read; the guard checks the dirs.)
    assert!(!mem.exists(), "removed on exit");
}

#[test]
fn memsw_limit_is_enforced_on_memory_plus_swap() {
    let p = setup!("cgv1-memsw");
    // This machine has no swap: memory+swap accounting then equals memory
    // (and v1 never lets memsw go below memory), so what is asserted is
    // that the limit is in memsw, that its counter reached exactly the
    // limit, and that the hog was OOM-killed there with no swap used.
    // (memory.memsw.failcnt stays 0 on 6.18, as memory.failcnt does: the
    // kernel no longer counts failures of these counters.)
    let spec = p
        .spec()
        .resources(
            Resources::new()
                .memory_max(32u64 << 20)
                .memory_swap(32u64 << 20),
        )
        .remove_on_exit(false);
    let mut child = sh(spec, HOG).unwrap();
    let cg = child.take_cgroup().unwrap();
    let mem = cg.v1_path("memory").unwrap();
    assert_eq!(
        read(mem.join("memory.memsw.limit_in_bytes")).trim(),
        "33554432"
    );
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    let peak: u64 = read(mem.join("memory.memsw.max_usage_in_bytes"))
        .trim()
        .parse()
        .unwrap();
    assert_eq!(peak, 32 << 20, "memory+swap peaked at its limit");
    assert!(cg.memory_events().unwrap().unwrap().oom_kill >= 1);
    let failcnt = read(mem.join("memory.memsw.failcnt"));
    let swaps = read("/proc/swaps");
    let s = cg.memory_stats().unwrap();
    assert_eq!(s.swap_current, Some(0));
    eprintln!(
        "memsw failcnt {failcnt}; swap devices: {}",
        swaps.lines().count().saturating_sub(1)
    );
    // A swap limit below the memory limit: a typed error before anything
    // is made, naming the field.
    let e = sh(
        p.spec().resources(
            Resources::new()
                .memory_max(64u64 << 20)
                .memory_swap(32u64 << 20),
        ),
        "true",
    )
    .unwrap_err();
    assert_eq!(e.field(), Some("memory_swap"), "{e}");
    // And the kernel itself refuses it when written directly (what the
    // ordering of apply avoids).
    let w = cg
        .write("memory.memsw.limit_in_bytes", "16777216")
        .unwrap_err();
    match &w {
        Error::Write { source, hint, .. } => {
            assert_eq!(source.raw_os_error(), Some(libc::EINVAL));
            assert!(hint.is_some());
        }
        other => panic!("{other:?}"),
    }
    // Raising both at once: memsw must go first, apply orders it.
    cg.apply(
        &Resources::new()
            .memory_max(128u64 << 20)
            .memory_swap(128u64 << 20),
    )
    .unwrap();
    assert_eq!(read(mem.join("memory.limit_in_bytes")).trim(), "134217728");
    cg.remove().unwrap();
}

#[test]
fn pids_max_stops_a_fork_bomb() {
    let p = setup!("cgv1-pids");
    let spec = p
        .spec()
        .resources(Resources::new().pids_max(8))
        .remove_on_exit(false);
    // A bounded bomb: 50 background sleeps; the shell reports the failures.
    let mut child = sh(
        spec,
        "i=0; while [ $i -lt 50 ]; do sleep 30 & i=$((i+1)); done 2>/dev/null; exit 0",
    )
    .unwrap();
    let cg = child.take_cgroup().unwrap();
    let pids = cg.v1_path("pids").unwrap();
    wait_until("forks refused", Duration::from_secs(30), || {
        key(&read(pids.join("pids.events")), "max ").unwrap_or(0) > 0
    });
    let current: u64 = read(pids.join("pids.current")).trim().parse().unwrap();
    assert!(current <= 8, "pids.current {current}");
    assert_eq!(read(pids.join("pids.max")).trim(), "8");
    let s = cg.pids_stats().unwrap();
    assert!(s.max_events.is_some_and(|m| m > 0), "{s:?}");
    child.wait().unwrap();
    cg.destroy().unwrap();
}

#[test]
fn cpu_quota_throttles() {
    let p = setup!("cgv1-cpu");
    let spec = p
        .spec()
        .resources(Resources::new().cpus(0.1))
        .remove_on_exit(false);
    let mut child = sh(spec, "while :; do :; done").unwrap();
    let cg = child.take_cgroup().unwrap();
    let cpu = cg.v1_path("cpu").unwrap();
    assert_eq!(read(cpu.join("cpu.cfs_quota_us")).trim(), "10000");
    assert_eq!(read(cpu.join("cpu.cfs_period_us")).trim(), "100000");
    wait_until("nr_throttled > 0", Duration::from_secs(30), || {
        key(&read(cpu.join("cpu.stat")), "nr_throttled ").unwrap_or(0) > 0
    });
    let s = cg.cpu_stats().unwrap();
    assert!(s.nr_throttled.is_some_and(|n| n > 0), "{s:?}");
    assert!(s.throttled_usec.is_some_and(|n| n > 0), "{s:?}");
    cg.kill().unwrap();
    child.wait().unwrap();
    cg.remove().unwrap();
}

#[test]
fn cpuset_pins_the_process() {
    let p = setup!("cgv1-cpuset");
    let online = read("/sys/devices/system/cpu/online");
    let last: u32 = online
        .trim()
        .rsplit(['-', ','])
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let spec = p.spec().resources(
        Resources::new()
            .cpuset_cpus(last.to_string().parse().unwrap())
            .cpuset_mems("0".parse().unwrap()),
    );
    let mut child = sh(spec, "exec sleep 30").unwrap();
    let status = read(format!("/proc/{}/status", child.id()));
    let allowed = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim()
        .to_string();
    assert_eq!(allowed, last.to_string());
    let cg = child.cgroup().unwrap();
    let cs = cg.v1_path("cpuset").unwrap();
    assert_eq!(read(cs.join("cpuset.cpus")).trim(), last.to_string());
    // Our parent got the host's lists copied in (else no task could join).
    assert_eq!(
        read(p.v1("cpuset").join("cpuset.mems")).trim(),
        read("/sys/fs/cgroup/cpuset/cpuset.mems").trim()
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn oom_kill_disable_pauses_instead_of_killing() {
    let p = setup!("cgv1-oomoff");
    let spec = p
        .spec()
        .resources(
            Resources::new()
                .memory_max(32u64 << 20)
                .oom_kill_disable(true),
        )
        .remove_on_exit(false);
    let mut child = sh(spec, HOG).unwrap();
    let cg = child.take_cgroup().unwrap();
    wait_until("under_oom 1", Duration::from_secs(60), || {
        cg.oom_control().unwrap().unwrap().under_oom
    });
    let oc = cg.oom_control().unwrap().unwrap();
    assert!(oc.oom_kill_disable);
    assert_eq!(oc.oom_kill, 0);
    // Paused, not killed: still there, still in the cgroup.
    assert!(child.try_wait().unwrap().is_none());
    assert!(cg.procs().unwrap().contains(&child.id()));
    // Killable while paused.
    cg.kill().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    assert_eq!(cg.oom_control().unwrap().unwrap().oom_kill, 0);
    cg.remove().unwrap();
}

#[test]
fn live_update_and_a_controller_added_later() {
    let p = setup!("cgv1-update");
    let spec = p
        .spec()
        .resources(Resources::new().memory_max(64u64 << 20).pids_max(16))
        .remove_on_exit(false);
    let mut child = sh(spec, "exec sleep 60").unwrap();
    let cg = child.take_cgroup().unwrap();
    assert!(cg.v1_path("cpu").is_none());
    cg.apply(
        &Resources::new()
            .memory_max(128u64 << 20)
            .pids_max(32)
            .cpus(0.5)
            .memory_swappiness(7),
    )
    .unwrap();
    let mem = cg.v1_path("memory").unwrap();
    assert_eq!(read(mem.join("memory.limit_in_bytes")).trim(), "134217728");
    assert_eq!(read(mem.join("memory.swappiness")).trim(), "7");
    assert_eq!(
        read(cg.v1_path("pids").unwrap().join("pids.max")).trim(),
        "32"
    );
    // The cpu hierarchy was joined by the running process on the way.
    let cpu = cg.v1_path("cpu").unwrap();
    assert_eq!(read(cpu.join("cpu.cfs_quota_us")).trim(), "50000");
    // Opening the cgroup2 directory again finds its v1 directories.
    let again = Cgroup::open(cg.path()).unwrap();
    assert_eq!(again.backend(), Backend::Hybrid);
    assert_eq!(again.v1_path("cpu"), Some(cpu.clone()));
    assert!(read(cpu.join("cgroup.procs"))
        .lines()
        .any(|l| l.trim() == child.id().to_string()));
    // Realtime runtime needs budget in the parent, which has none: a typed
    // write error with the hint.
    match cg.apply(&Resources::new().cpu_rt_runtime(1000)) {
        Err(Error::Write { path, hint, .. }) => {
            assert!(path.ends_with("cpu.rt_runtime_us"), "{path:?}");
            assert!(hint.is_some_and(|h| h.contains("parent")));
        }
        other => panic!("{other:?}"),
    }
    // Kernel memory: this kernel takes the write and ignores it (or refuses
    // it): either way an error naming the kernel release.
    let release = nix::sys::utsname::uname().unwrap();
    let release = release.release().to_string_lossy().into_owned();
    match cg.apply(&Resources::new().kernel_memory(64u64 << 20)) {
        Err(e @ Error::Write { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains(&release), "{msg}");
            eprintln!("kernel memory: {msg}");
        }
        Ok(()) => assert_eq!(
            read(mem.join("memory.kmem.limit_in_bytes")).trim(),
            "67108864"
        ),
        Err(e) => panic!("{e}"),
    }
    // cpu-shares is v1's own unit: written as given.
    cg.apply(&Resources::new().cpu_shares(512)).unwrap();
    assert_eq!(read(cpu.join("cpu.shares")).trim(), "512");
    // A blkio weight needs a scheduler that offers one (CFQ's blkio.weight
    // or BFQ's blkio.bfq.weight); with none (`none`/mq-deadline) the error
    // names the file and says so.
    match cg.apply(&Resources::new().blkio_weight(500)) {
        Ok(()) => {
            let b = cg.v1_path("blkio").unwrap();
            let w = ["blkio.weight", "blkio.bfq.weight"]
                .iter()
                .find_map(|f| std::fs::read_to_string(b.join(f)).ok())
                .unwrap();
            assert!(w.contains("500"), "{w}");
        }
        Err(Error::Write {
            path, source, hint, ..
        }) => {
            assert_eq!(source.raw_os_error(), Some(libc::ENOENT), "{path:?}");
            assert!(path.ends_with("blkio.weight"), "{path:?}");
            assert!(hint.is_some_and(|h| h.contains("scheduler")));
        }
        Err(e) => panic!("{e}"),
    }
    // Throttles (blkio.throttle.*) on the root disk, read back.
    let dev = containment::cgroup::Device::from_path("/dev/vda")
        .or_else(|_| containment::cgroup::Device::from_path("/dev/sda"));
    if let Ok(dev) = dev {
        cg.apply(&Resources::new().io_limit(containment::cgroup::IoLimit {
            device: dev,
            kind: containment::cgroup::IoLimitKind::ReadBps,
            per_second: 1 << 20,
        }))
        .unwrap();
        let b = cg.v1_path("blkio").unwrap();
        assert_eq!(
            read(b.join("blkio.throttle.read_bps_device")).trim(),
            format!("{dev} 1048576")
        );
    }
    cg.kill().unwrap();
    child.wait().unwrap();
    cg.remove().unwrap();
}

#[test]
fn realtime_runtime_with_a_parent_budget() {
    let p = setup!("cgv1-rt");
    let root_rt = "/sys/fs/cgroup/cpu/cpu.rt_runtime_us";
    require!(Path::new(root_rt).exists(), "no CONFIG_RT_GROUP_SCHED");
    // Our own parent gets 20 ms per second from the root's 950 ms (the
    // guard gives it back); the root itself is never written.
    let parent = p.v1("cpu");
    std::fs::create_dir(&parent).unwrap();
    std::fs::write(parent.join("cpu.rt_runtime_us"), "20000").unwrap();
    let spec = p.spec().resources(
        Resources::new()
            .cpu_rt_period(1_000_000)
            .cpu_rt_runtime(10_000),
    );
    // With a budget a FIFO policy can be set.
    let mut child = sh(spec, "exec chrt -f 1 true").unwrap();
    assert!(child.wait().unwrap().success());
    // Without one (a cgroup with no realtime runtime) the kernel refuses it.
    let spec = p.spec().resources(Resources::new().cpus(1.0));
    let mut child = sh(spec, "exec chrt -f 1 true 2>/dev/null").unwrap();
    assert!(!child.wait().unwrap().success());
}

#[test]
fn freeze_thaw_through_the_v1_freezer() {
    let p = setup!("cgv1-freeze");
    let spec = p
        .spec()
        .backend(Backend::V1)
        .resources(Resources::new().pids_max(8))
        .remove_on_exit(false);
    let mut child = sh(spec, "while :; do :; done").unwrap();
    let cg = child.take_cgroup().unwrap();
    assert_eq!(cg.backend(), Backend::V1);
    // No cgroup2 directory: the main one is the freezer's.
    assert_eq!(cg.path(), cg.v1_path("freezer").unwrap());
    assert_eq!(
        proc_cgroup(child.id(), "freezer"),
        format!(
            "/{}/{}",
            p.rel,
            cg.path().file_name().unwrap().to_string_lossy()
        )
    );
    cg.freeze().unwrap();
    assert_eq!(read(cg.path().join("freezer.state")).trim(), "FROZEN");
    assert_eq!(cg.freezer_state().unwrap(), Some(FreezerState::Frozen));
    assert!(cg.is_frozen().unwrap());
    let state = || {
        read(format!("/proc/{}/stat", child.id()))
            .rsplit(')')
            .next()
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    // A frozen task sleeps (D in the freezer's wait, or S): it does not run.
    let frozen_state = state();
    assert_ne!(frozen_state, "R", "running while frozen");
    cg.thaw().unwrap();
    assert_eq!(read(cg.path().join("freezer.state")).trim(), "THAWED");
    wait_until("running again", Duration::from_secs(10), || state() == "R");
    eprintln!("task state frozen {frozen_state}, thawed R");
    cg.kill().unwrap();
    child.wait().unwrap();
    cg.remove().unwrap();
}

#[test]
fn kill_freezes_signals_every_task_and_thaws() {
    let p = setup!("cgv1-kill");
    let spec = p
        .spec()
        .backend(Backend::V1)
        .resources(Resources::new().pids_max(32))
        .remove_on_exit(false);
    let mut child = sh(spec, "sleep 60 & sleep 60 & sleep 60 & wait").unwrap();
    let cg = child.take_cgroup().unwrap();
    wait_until("4 tasks", Duration::from_secs(10), || {
        cg.procs().unwrap().len() == 4
    });
    let pids = cg.procs().unwrap();
    cg.kill().unwrap();
    assert!(cg.wait_until_empty(Duration::from_secs(10)).unwrap());
    assert_eq!(read(cg.path().join("freezer.state")).trim(), "THAWED");
    for pid in pids {
        let gone = !Path::new(&format!("/proc/{pid}")).exists()
            || read(format!("/proc/{pid}/stat")).contains(") Z");
        assert!(gone, "{pid} survived");
    }
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    let dirs: Vec<PathBuf> = ["memory", "cpu", "pids", "freezer", "cpuset", "blkio"]
        .iter()
        .map(|c| cg.v1_path(c).unwrap())
        .collect();
    cg.remove().unwrap();
    for d in dirs {
        assert!(!d.exists(), "{d:?}");
    }
}

#[test]
fn stats_and_removal_after_exit() {
    let p = setup!("cgv1-stats");
    let spec = p.spec().backend(Backend::V1).resources(
        Resources::new()
            .memory_max(64u64 << 20)
            .pids_max(16)
            .cpus(1.0),
    );
    let mut child = sh(
        spec,
        "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done; x=$(head -c 4000000 /dev/zero | tr '\\0' a); sleep 1",
    )
    .unwrap();
    let cg = child.cgroup().unwrap();
    let dirs: Vec<PathBuf> = [
        "memory", "cpu", "cpuacct", "pids", "freezer", "cpuset", "blkio",
    ]
    .iter()
    .map(|c| cg.v1_path(c).unwrap())
    .collect();
    wait_until("cpu used", Duration::from_secs(30), || {
        cg.cpu_stats().unwrap().usage_usec.unwrap_or(0) > 10_000
    });
    let s = cg.stats().unwrap();
    assert!(s.memory.current.is_some_and(|m| m > 0), "{:?}", s.memory);
    assert!(s.memory.peak.is_some_and(|m| m > 0));
    assert!(s.memory.stat.contains_key("rss") || s.memory.stat.contains_key("cache"));
    assert_eq!(s.memory.events.map(|e| e.oom_kill), Some(0));
    assert!(s.cpu.usage_usec.is_some_and(|u| u > 10_000), "{:?}", s.cpu);
    assert!(s.cpu.user_usec.is_some());
    assert!(s.cpu.nr_periods.is_some());
    assert!(s.pids.current.is_some_and(|n| n >= 1), "{:?}", s.pids);
    eprintln!("v1 stats: {:?} {:?} io {:?}", s.cpu, s.pids, s.io);
    assert!(child.wait().unwrap().success());
    // remove_on_exit: every directory in every hierarchy is gone.
    for d in dirs {
        assert!(!d.exists(), "{d:?} left after exit");
    }
}

#[test]
fn forced_v2_on_a_hybrid_host_still_refuses() {
    let p = setup!("cgv1-forcev2");
    let h = Hierarchy::detect().unwrap();
    require!(
        !h.root_controllers().unwrap().iter().any(|c| c == "memory"),
        "the cgroup2 offers memory here"
    );
    let e = sh(
        p.spec()
            .backend(Backend::V2)
            .resources(Resources::new().memory_max(64u64 << 20)),
        "true",
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            SpawnError::Cgroup(Error::ControllerUnavailable { ref controller, .. }) if controller == "memory"
        ),
        "{e}"
    );
    let e = sh(
        p.spec()
            .backend(Backend::V2)
            .resources(Resources::new().oom_kill_disable(true)),
        "true",
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            SpawnError::Cgroup(Error::NoV2Equivalent {
                flag: "--oom-kill-disable",
                ..
            })
        ),
        "{e}"
    );
    // Nothing was created under our parent in any hierarchy.
    for d in p.dirs() {
        assert!(
            !d.exists()
                || std::fs::read_dir(&d)
                    .unwrap()
                    .flatten()
                    .all(|e| !e.path().is_dir()),
            "{d:?}"
        );
    }
}

#[test]
fn a_new_cgroup_namespace_is_rooted_at_the_joined_v1_cgroups() {
    // v1 joins happen after clone: a cgroup namespace made at clone would
    // be rooted at the caller's cgroups, and the container would see (and,
    // mounting cgroupfs, reach) them: `4:memory:/../../containment/x`.
    let p = setup!("cgv1-cgns");
    // With a new user namespace too: the parent then writes the id maps and
    // moves the child before the one release.
    for (backend, ns) in [
        (Backend::Hybrid, containment::Namespaces::CGROUP),
        (Backend::V1, containment::Namespaces::CGROUP),
        (
            Backend::V1,
            containment::Namespaces::CGROUP | containment::Namespaces::USER,
        ),
        (
            Backend::Hybrid,
            containment::Namespaces::CGROUP | containment::Namespaces::USER,
        ),
    ] {
        let mut b = Container::new();
        if ns.contains(containment::Namespaces::USER) {
            // An unprivileged range: root may not default to host root.
            b = b
                .uid_map([containment::IdMap::new(0, 100_000, 65_536)])
                .gid_map([containment::IdMap::new(0, 100_000, 65_536)]);
        }
        let out = b
            .unshare(ns)
            .cgroup(
                p.spec()
                    .backend(backend)
                    .resources(Resources::new().memory_max(64u64 << 20).pids_max(16)),
            )
            .command("/bin/cat")
            .args(["/proc/self/cgroup"])
            .stdout(containment::Stdio::piped())
            .spawn()
            .unwrap()
            .wait_with_output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        for c in ["memory", "pids"] {
            let line = text
                .lines()
                .find(|l| {
                    l.split(':')
                        .nth(1)
                        .is_some_and(|x| x.split(',').any(|y| y == c))
                })
                .unwrap_or_else(|| panic!("{c} in {text}"));
            assert!(
                line.ends_with(":/"),
                "{backend:?} {ns:?}: {line} (all: {text})"
            );
        }
    }
}

#[test]
fn exec_into_a_container_joins_its_v1_cgroups() {
    // `docker exec`: the new process is under the container's limits too,
    // not only in its cgroup2 directory.
    let p = setup!("cgv1-exec");
    for backend in [Backend::Hybrid, Backend::V1] {
        let mut target = Container::new()
            .unshare(containment::Namespaces::MOUNT | containment::Namespaces::PID)
            .cgroup(
                p.spec()
                    .backend(backend)
                    .resources(Resources::new().memory_max(64u64 << 20).pids_max(16)),
            )
            .command("/bin/sleep")
            .args(["30"])
            .spawn()
            .unwrap();
        let out = Container::new()
            .join_child(
                &target,
                containment::Namespaces::MOUNT | containment::Namespaces::PID,
            )
            .command("/bin/cat")
            .args(["/proc/self/cgroup"])
            .stdout(containment::Stdio::piped())
            .spawn()
            .unwrap()
            .wait_with_output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        for c in ["memory", "pids"] {
            let want = proc_cgroup(target.id(), c);
            let got = text
                .lines()
                .find_map(|l| {
                    let mut it = l.splitn(3, ':');
                    let (_, cs, p) = (it.next()?, it.next()?, it.next()?);
                    cs.split(',').any(|x| x == c).then(|| p.to_string())
                })
                .unwrap_or_else(|| panic!("{c} in {text:?} {out:?}"));
            assert_eq!(got, want, "{backend:?} {c}: {text}");
        }
        target.kill().unwrap();
        target.wait().unwrap();
    }
}

#[test]
fn a_refused_v1_join_names_the_step_and_the_directory() {
    // The child moves itself into its v1 directories (a write of `0` to
    // each `tasks` file, which skips the kernel's global threadgroup lock
    // that a `cgroup.procs` write by the parent waits on). A directory that
    // refuses it is a child error at its own step, naming that directory,
    // and the spawn leaves no process and no cgroup behind. The refusal:
    // a realtime task joins a v1 cpu cgroup only with a realtime budget,
    // which a new cgroup lacks (EINVAL, sched_rt_can_attach), and the child
    // inherits this thread's SCHED_FIFO.
    let p = setup!("cgv1-refused");
    require!(
        Path::new("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists(),
        "the v1 cpu controller has no realtime group scheduling (CONFIG_RT_GROUP_SCHED)"
    );
    common::set_scheduler(libc::SCHED_FIFO, 1).unwrap();
    let r = Container::new()
        .cgroup(p.spec().backend(Backend::V1))
        .command("/bin/true")
        .spawn();
    // Back to the normal policy.
    let _ = common::set_scheduler(libc::SCHED_OTHER, 0);
    let e = r.unwrap_err();
    let SpawnError::Child(c) = &e else {
        panic!("not a child error: {e:?}");
    };
    assert_eq!(c.step(), containment::Step::CgroupJoin, "{e}");
    assert_eq!(c.errno(), libc::EINVAL, "{e}");
    let detail = c.detail().unwrap_or_default();
    assert!(
        detail.contains(&format!("/cpu/{}/", p.rel)) && detail.ends_with("/tasks"),
        "{detail}"
    );
    assert!(c.hint().is_some_and(|h| h.contains("rt_runtime_us")), "{e}");
    // Nothing of the failed spawn is left in our parent: no directory.
    for d in p.dirs() {
        if let Ok(rd) = std::fs::read_dir(&d) {
            let subdirs: Vec<_> = rd
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect();
            assert!(subdirs.is_empty(), "left behind: {subdirs:?}");
        }
    }
}

/// Nests `depth` child directories named `name` under `dir`, by descriptor
/// (`mkdirat`, then `openat` into it): deeper than a path can name.
fn nest_by_fd(dir: &Path, name: &str, depth: usize) -> std::os::fd::OwnedFd {
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let c = std::ffi::CString::new(name).unwrap();
    let mut cur = std::fs::File::open(dir).map(OwnedFd::from).unwrap();
    for i in 0..depth {
        // SAFETY: mkdirat/openat on a descriptor we own and a C string.
        let fd = unsafe {
            assert_eq!(
                libc::mkdirat(cur.as_raw_fd(), c.as_ptr(), 0o755),
                0,
                "level {i}"
            );
            libc::openat(
                cur.as_raw_fd(),
                c.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        assert!(fd >= 0, "level {i}: {}", std::io::Error::last_os_error());
        // SAFETY: a descriptor just returned to us.
        cur = unsafe { OwnedFd::from_raw_fd(fd) };
    }
    cur
}

/// Removes what [`nest_by_fd`] made under `dir` (by descriptor, `..` back
/// up), and `dir`: the cleanup when the code under test failed to.
struct Nested(Vec<PathBuf>);

impl Drop for Nested {
    fn drop(&mut self) {
        use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
        use std::os::unix::ffi::OsStrExt;
        let open = |at: i32, n: &std::ffi::CStr| {
            // SAFETY: openat of a C string relative to an open directory.
            let fd = unsafe {
                libc::openat(
                    at,
                    n.as_ptr(),
                    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
                )
            };
            // SAFETY: a descriptor just returned to us.
            (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
        };
        for top in &self.0 {
            let Ok(f) = std::fs::File::open(top) else {
                continue;
            };
            let mut cur = OwnedFd::from(f);
            let mut names: Vec<std::ffi::CString> = Vec::new();
            loop {
                let here = format!("/proc/self/fd/{}", cur.as_raw_fd());
                let sub = std::fs::read_dir(&here).ok().and_then(|rd| {
                    rd.flatten()
                        .find(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                        .map(|e| std::ffi::CString::new(e.file_name().as_bytes()).unwrap())
                });
                if let Some(n) = sub {
                    let Some(fd) = open(cur.as_raw_fd(), &n) else {
                        break;
                    };
                    cur = fd;
                    names.push(n);
                    continue;
                }
                let Some(n) = names.pop() else { break };
                let Some(up) = open(cur.as_raw_fd(), c"..") else {
                    break;
                };
                cur = up;
                // SAFETY: unlinkat of a C string relative to an open directory.
                unsafe { libc::unlinkat(cur.as_raw_fd(), n.as_ptr(), libc::AT_REMOVEDIR) };
            }
            let _ = std::fs::remove_dir(top);
        }
    }
}

#[test]
fn removal_walks_child_cgroups_deeper_than_path_max() {
    // A container with a cgroup mount of its own can nest child cgroups
    // past PATH_MAX bytes from /: the removal walked them by path, failed
    // with ENAMETOOLONG and left the whole tree (and, in contrun, the
    // container's state: every delete failed).
    let p = setup!("cgv1-deep");
    let h = Hierarchy::detect().unwrap();
    let cg = Cgroup::create_with(&h, Backend::Hybrid, Some(Path::new(&p.rel)), "deep").unwrap();
    cg.apply(&Resources::new().memory_max(64u64 << 20)).unwrap();
    let dirs = vec![cg.v1_path("memory").unwrap(), cg.path().to_path_buf()];
    let _guard = Nested(dirs.clone());
    let name = "n".repeat(200);
    for d in &dirs {
        let _ = nest_by_fd(d, &name, 25);
        // Siblings too, some with children of their own.
        for w in ["w1/x/y", "w2", "w3/x"] {
            std::fs::create_dir_all(d.join(w)).unwrap();
        }
    }
    assert!(dirs[0].as_os_str().len() + 25 * 201 > 4096);
    let r = cg.remove();
    for d in &dirs {
        assert!(!d.exists(), "{d:?} left behind ({r:?})");
    }
    r.unwrap();
}

#[test]
fn a_process_deeper_than_path_max_is_seen_and_killed() {
    // The other walks of a cgroup's tree (is_populated, kill and the wait
    // of a v1 cgroup; the process listing of any) went by path too: a
    // process in a child cgroup nested past PATH_MAX made them fail with
    // ENAMETOOLONG, so the cgroup could be neither asked nor killed.
    use std::io::Write;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let p = setup!("cgv1-deep-procs");
    let h = Hierarchy::detect().unwrap();
    let cg = Cgroup::create_with(&h, Backend::V1, Some(Path::new(&p.rel)), "deep").unwrap();
    cg.apply(&Resources::new().memory_max(64u64 << 20)).unwrap();
    let mem = cg.v1_path("memory").unwrap();
    let _guard = Nested(vec![mem.clone()]);
    let cur = nest_by_fd(&mem, &"n".repeat(200), 25);
    assert!(mem.as_os_str().len() + 25 * 201 > 4096);
    let mut sleeper = std::process::Command::new("sleep")
        .arg("300")
        .spawn()
        .unwrap();
    // SAFETY: openat of a C string relative to the deepest directory.
    let procs = unsafe {
        libc::openat(
            cur.as_raw_fd(),
            c"cgroup.procs".as_ptr(),
            libc::O_WRONLY | libc::O_CLOEXEC,
        )
    };
    assert!(procs >= 0, "{}", std::io::Error::last_os_error());
    // SAFETY: a descriptor just returned to us.
    let mut procs = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(procs) });
    procs
        .write_all(sleeper.id().to_string().as_bytes())
        .unwrap();
    drop(procs);
    drop(cur);
    let populated = cg.is_populated();
    let killed = cg.kill();
    let _ = sleeper.kill();
    let status = sleeper.wait().unwrap();
    assert!(
        populated.as_ref().is_ok_and(|p| *p),
        "is_populated: {populated:?}"
    );
    killed.unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL));
    cg.remove().unwrap();
    assert!(!mem.exists());
}

#[test]
fn a_process_in_a_renamed_cgroup_is_still_seen_and_killed() {
    // cgroup v1 lets a container with a cgroup mount of its own rename its
    // child cgroups (within the same parent). The walks listed a directory
    // and opened each child by name later: a child renamed meanwhile was
    // gone (ENOENT) and skipped, with the processes in it. A process whose
    // directories keep being renamed (many siblings widen the window) was
    // unseen: is_populated said false and kill (whose first listing found
    // nothing) returned Ok leaving it alive. The renames here come from
    // threads of the test (in a container: from its own processes).
    use std::sync::atomic::{AtomicBool, Ordering};
    let p = setup!("cgv1-rename");
    let h = Hierarchy::detect().unwrap();
    let cg = Cgroup::create_with(&h, Backend::V1, Some(Path::new(&p.rel)), "hide").unwrap();
    let dirs: Vec<PathBuf> = cg.dirs();
    for d in &dirs {
        for i in 0..200 {
            std::fs::create_dir(d.join(format!("s{i}"))).unwrap();
        }
    }
    // Names the kernel lists before every sibling (kernfs orders a
    // directory by a hash of the names; the same in every hierarchy): the
    // walk opens such a child last, after walking the 200 siblings.
    let first_dir = |d: &Path| {
        std::fs::read_dir(d)
            .unwrap()
            .flatten()
            .find(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name())
    };
    let mut names = Vec::new();
    let mut probe = dirs[0].join("probe");
    std::fs::create_dir(&probe).unwrap();
    for i in 0.. {
        let n = format!("h{i}");
        std::fs::rename(&probe, dirs[0].join(&n)).unwrap();
        probe = dirs[0].join(&n);
        if first_dir(&dirs[0]).is_some_and(|f| f == n.as_str()) {
            names.push(n);
            if names.len() == 8 {
                break;
            }
        }
    }
    std::fs::remove_dir(&probe).unwrap();
    let mut victim = std::process::Command::new("sleep")
        .arg("300")
        .spawn()
        .unwrap();
    for d in &dirs {
        let h0 = d.join(&names[0]);
        std::fs::create_dir(&h0).unwrap();
        for k in ["cpuset.cpus", "cpuset.mems"] {
            if let Ok(v) = std::fs::read_to_string(d.join(k)) {
                std::fs::write(h0.join(k), v).unwrap();
            }
        }
        std::fs::write(h0.join("cgroup.procs"), victim.id().to_string()).unwrap();
    }
    // Renamed through those names in every hierarchy until told to stop.
    let stop = AtomicBool::new(false);
    let (populated, killed) = std::thread::scope(|s| {
        for d in &dirs {
            let (stop, names) = (&stop, &names);
            s.spawn(move || {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let (from, to) = (&names[i % 8], &names[(i + 1) % 8]);
                    std::fs::rename(d.join(from), d.join(to)).unwrap();
                    i += 1;
                }
            });
        }
        let populated: Vec<_> = (0..20).map(|_| cg.is_populated()).collect();
        let killed = cg.kill();
        stop.store(true, Ordering::Relaxed);
        (populated, killed)
    });
    // SAFETY: kill(2) of our own child, not yet waited for.
    unsafe { libc::kill(victim.id() as i32, libc::SIGTERM) };
    let status = victim.wait().unwrap();
    let removed = cg.remove();
    let missed = populated.iter().filter(|r| matches!(r, Ok(false))).count();
    assert_eq!(missed, 0, "is_populated: {populated:?}");
    killed.unwrap();
    assert_eq!(status.signal(), Some(libc::SIGKILL), "kill missed it");
    removed.unwrap();
}
