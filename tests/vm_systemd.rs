//! The systemd cgroup driver against the real systemd: only in the guest of
//! `cargo xtask vm-test --systemd` (systemd as PID 1 on a pure cgroup v2
//! kernel); elsewhere each test skips (and fails under
//! `CONTAINMENT_NO_SKIP`, so run it only through the VM runner).

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use containment::cgroup::{CgroupSpec, Manager, Resources, SystemdOptions};
use containment::Container;

fn under_systemd() -> bool {
    std::env::var_os("CONTAINMENT_IN_VM").is_some()
        && std::fs::read_to_string("/proc/1/comm").is_ok_and(|c| c.trim() == "systemd")
}

/// The uid whose user manager the rootless test uses.
const USER: u32 = 1000;

fn user_mode() -> bool {
    std::env::var_os("VM_SYSTEMD_USER_SIDE").is_some()
}

fn systemctl(args: &[&str]) -> String {
    let mut c = Command::new("systemctl");
    if user_mode() {
        c.arg("--user");
    }
    let out = c.args(args).output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn show(unit: &str, prop: &str) -> String {
    systemctl(&["show", "-p", prop, "--value", unit])
        .trim()
        .to_string()
}

fn cgroup_line(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_string))
        .unwrap()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .trim()
        .to_string()
}

/// `root`: the manager's own cgroup (`""` for PID 1).
fn scope_under(manager: Manager, tag: &str, root: &str) {
    let id = common::unique(tag);
    let unit = format!("containment-{id}.scope");
    // 12 background sleeps against a pids.max of 8: some forks fail.
    let mut child = Container::builder()
        .cgroup(
            CgroupSpec::new()
                .systemd(SystemdOptions::new().manager(manager))
                .parent("ctest-a.slice")
                .name(&id)
                .resources(
                    Resources::new()
                        .pids_max(8)
                        .memory_max(32u64 << 20)
                        .memory_oom_group(true),
                ),
        )
        .command(
            "/bin/sh",
            [
                "-c",
                "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 60 & done; exec sleep 60",
            ],
        )
        .spawn()
        .unwrap();
    let cg_rel = format!("{root}/ctest.slice/ctest-a.slice/{unit}");
    let dir = PathBuf::from("/sys/fs/cgroup").join(&cg_rel[1..]);
    // The scope: its name, slice and cgroup as systemd shows them.
    assert_eq!(show(&unit, "ActiveState"), "active");
    assert_eq!(show(&unit, "Slice"), "ctest-a.slice");
    assert_eq!(show(&unit, "ControlGroup"), cg_rel);
    assert_eq!(show(&unit, "Delegate"), "yes");
    let status = systemctl(&["status", "--no-pager", &unit]);
    assert!(
        status.contains(&unit) && status.contains("active (running)"),
        "{status}"
    );
    // The program is there; the limits systemd set are in the kernel's
    // files, the one it has no property for was written into the
    // delegated cgroup.
    assert_eq!(cgroup_line(child.id()), cg_rel);
    assert_eq!(read(&dir.join("pids.max")), "8");
    assert_eq!(read(&dir.join("memory.max")), (32u64 << 20).to_string());
    assert_eq!(read(&dir.join("memory.oom.group")), "1");
    // pids.max is enforced: the kernel counts refused forks.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ev = read(&dir.join("pids.events"));
        let max: u64 = ev
            .lines()
            .find_map(|l| l.strip_prefix("max "))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if max > 0 {
            break;
        }
        assert!(Instant::now() < deadline, "no fork refused: {ev}");
        std::thread::sleep(Duration::from_millis(20));
    }
    let current: u64 = read(&dir.join("pids.current")).parse().unwrap();
    assert!(current <= 8, "{current}");
    // When the container ends the scope goes.
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(!dir.exists(), "{} is left", dir.display());
    let deadline = Instant::now() + Duration::from_secs(30);
    while !matches!(show(&unit, "LoadState").as_str(), "not-found" | "") {
        assert!(
            Instant::now() < deadline,
            "{}",
            systemctl(&["status", "--no-pager", &unit])
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_scope_from_the_system_manager_over_the_bus() {
    if !under_systemd() {
        return common::skip(
            "a_scope_from_the_system_manager_over_the_bus",
            "not in the systemd guest (cargo xtask vm-test --systemd)",
        );
    }
    scope_under(Manager::System, "bus", "");
}

/// The user side of [`a_scope_from_the_user_manager`]: runs only as its
/// child (uid 1000, in the user manager's cgroup tree); a no-op otherwise.
#[test]
fn user_side_of_the_user_manager_test() {
    if !user_mode() {
        return;
    }
    // SAFETY: getuid has no preconditions.
    assert_eq!(unsafe { libc::getuid() }, USER);
    scope_under(
        Manager::User,
        "user",
        &format!("/user.slice/user-{USER}.slice/user@{USER}.service"),
    );
}

#[test]
fn a_scope_from_the_user_manager() {
    if !under_systemd() {
        return common::skip(
            "a_scope_from_the_user_manager",
            "not in the systemd guest (cargo xtask vm-test --systemd)",
        );
    }
    if user_mode() {
        return;
    }
    require_root!();
    // The user's manager and its session bus.
    let out = Command::new("systemctl")
        .args(["start", &format!("user@{USER}.service")])
        .output()
        .unwrap();
    if !out.status.success() {
        let st = Command::new("sh")
            .args(["-c", &format!("systemctl status --no-pager user@{USER}.service user-runtime-dir@{USER}.service; journalctl --no-pager -n 40")])
            .output()
            .unwrap();
        panic!("{out:?}\n{}", String::from_utf8_lossy(&st.stdout));
    }
    let runtime = format!("/run/user/{USER}");
    let bus = format!("{runtime}/bus");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !Path::new(&bus).exists() {
        assert!(Instant::now() < deadline, "no {bus}");
        std::thread::sleep(Duration::from_millis(50));
    }
    // A leaf of our own in the user manager's delegated tree, owned by the
    // user (as `systemd-run --user --scope` would give): the user manager
    // can move a process from there (the common ancestor is its own).
    let base = format!("/sys/fs/cgroup/user.slice/user-{USER}.slice/user@{USER}.service");
    let leaf = PathBuf::from(&base).join(common::unique("vmtest-user"));
    std::fs::create_dir(&leaf).unwrap();
    std::os::unix::fs::chown(&leaf, Some(USER), Some(USER)).unwrap();
    std::os::unix::fs::chown(leaf.join("cgroup.procs"), Some(USER), Some(USER)).unwrap();
    let procs = std::ffi::CString::new(
        leaf.join("cgroup.procs")
            .into_os_string()
            .into_encoded_bytes(),
    )
    .unwrap();
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "--exact",
        "user_side_of_the_user_manager_test",
        "--nocapture",
        "--test-threads=1",
    ])
    .env("VM_SYSTEMD_USER_SIDE", "1")
    .env("XDG_RUNTIME_DIR", &runtime)
    .env("DBUS_SESSION_BUS_ADDRESS", format!("unix:path={bus}"))
    .current_dir("/");
    // SAFETY: only async-signal-safe calls in the forked child.
    unsafe {
        cmd.pre_exec(move || {
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0
                || libc::write(fd, b"0".as_ptr().cast(), 1) != 1
                || libc::close(fd) != 0
                || libc::setgroups(0, std::ptr::null()) != 0
                || libc::setresgid(USER, USER, USER) != 0
                || libc::setresuid(USER, USER, USER) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let _ = std::fs::remove_dir(&leaf);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("1 passed"),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Spawn with limits, `/bin/true`, reaped with its cgroup removed: through
/// the systemd driver vs a v2 cgroup written directly (`CLONE_INTO_CGROUP`
/// both), in the same run. Printed for BENCHMARKS.md; asserts nothing about
/// time.
#[test]
fn spawn_cost_systemd_vs_v2() {
    if !under_systemd() || user_mode() {
        return common::skip(
            "spawn_cost_systemd_vs_v2",
            "not in the systemd guest (cargo xtask vm-test --systemd)",
        );
    }
    const N: usize = 10;
    let limits = || Resources::new().pids_max(64).memory_max(64u64 << 20);
    let run = |spec: CgroupSpec| {
        let t = Instant::now();
        let mut c = Container::builder()
            .cgroup(spec)
            .command("/bin/true", [] as [&str; 0])
            .spawn()
            .unwrap();
        let spawned = t.elapsed();
        c.wait().unwrap();
        (spawned, t.elapsed())
    };
    let (mut sd, mut sd_all, mut v2, mut v2_all, mut fork) =
        (vec![], vec![], vec![], vec![], vec![]);
    for i in 0..N {
        let (a, b) = run(CgroupSpec::new()
            .systemd(SystemdOptions::new())
            .name(format!("bench-{}-{i}", std::process::id()))
            .resources(limits()));
        sd.push(a);
        sd_all.push(b);
        let (a, b) = run(CgroupSpec::new().resources(limits()));
        v2.push(a);
        v2_all.push(b);
        // What the placeholder costs: a fork of this process, kill, reap.
        let t = Instant::now();
        // SAFETY: the child only calls pause/_exit; the parent kills and
        // reaps exactly it.
        unsafe {
            let pid = libc::fork();
            if pid == 0 {
                libc::pause();
                libc::_exit(0);
            }
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        fork.push(t.elapsed());
    }
    println!(
        "spawn with limits (median of {N}, TCG guest): systemd scope {:?} to spawned, {:?} with \
         removal; v2 cgroup {:?} to spawned, {:?} with removal; placeholder fork+kill+reap {:?}",
        median(sd),
        median(sd_all),
        median(v2),
        median(v2_all),
        median(fork)
    );
}

/// A live update of a running scope goes through `SetUnitProperties`:
/// systemd shows the new values and the kernel holds them; device rules
/// become `DevicePolicy=strict` + `DeviceAllow`, enforced (a node made
/// with mknod: `c 1:3` allowed, `c 1:5` refused).
#[test]
fn live_update_and_device_rules_through_systemd() {
    use containment::cgroup::DeviceRule;
    if !under_systemd() || user_mode() {
        return common::skip(
            "live_update_and_device_rules_through_systemd",
            "not in the systemd guest (cargo xtask vm-test --systemd)",
        );
    }
    let dir = std::env::temp_dir().join(common::unique("sdnodes"));
    std::fs::create_dir(&dir).unwrap();
    for (name, minor) in [("null", 3), ("zero", 5)] {
        nix::sys::stat::mknod(
            &dir.join(name),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o666),
            nix::sys::stat::makedev(1, minor),
        )
        .unwrap();
    }
    let id = common::unique("live");
    let unit = format!("containment-{id}.scope");
    let rules = |l: &[&str]| -> Vec<DeviceRule> { l.iter().map(|s| s.parse().unwrap()).collect() };
    let script = format!(
        "exec 3<>{d}/null || exit 3; if (exec 4<>{d}/zero) 2>/dev/null; then exit 4; fi; exec sleep 60",
        d = dir.display()
    );
    let mut child = Container::builder()
        .cgroup(
            CgroupSpec::new()
                .systemd(SystemdOptions::new())
                .name(&id)
                .resources(
                    Resources::new()
                        .pids_max(32)
                        .device_rules(rules(&["deny a *:* rwm", "c 1:3 rwm"])),
                ),
        )
        .command("/bin/sh", ["-c", script.as_str()])
        .spawn()
        .unwrap();
    assert_eq!(show(&unit, "DevicePolicy"), "strict");
    assert!(
        show(&unit, "DeviceAllow").contains("/dev/char/1:3 rwm"),
        "{}",
        show(&unit, "DeviceAllow")
    );
    // The script got past both opens (it would have exited 3 or 4).
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(child.try_wait().unwrap(), None, "the device checks failed");
    let cg = child.cgroup().unwrap();
    let path = cg.path().to_path_buf();
    cg.apply(
        &Resources::new()
            .memory_max(96u64 << 20)
            .cpus(0.5)
            .cpu_weight(200)
            .pids_max(16)
            .cpuset_cpus("0".parse().unwrap())
            .blkio_weight(500),
    )
    .unwrap();
    assert_eq!(show(&unit, "MemoryMax"), (96u64 << 20).to_string());
    assert_eq!(show(&unit, "CPUQuotaPerSecUSec"), "500ms");
    assert_eq!(show(&unit, "CPUWeight"), "200");
    assert_eq!(show(&unit, "TasksMax"), "16");
    assert_eq!(show(&unit, "AllowedCPUs"), "0");
    assert_ne!(show(&unit, "IOWeight"), "[not set]");
    assert_eq!(read(&path.join("memory.max")), (96u64 << 20).to_string());
    assert_eq!(read(&path.join("cpu.max")), "50000 100000");
    assert_eq!(read(&path.join("cpu.weight")), "200");
    assert_eq!(read(&path.join("pids.max")), "16");
    assert_eq!(read(&path.join("cpuset.cpus")), "0");
    child.kill().unwrap();
    child.wait().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

/// The join cost of the three ways into a cgroup, in ONE run, interleaved
/// round-robin: v1 (`Backend::V1`: the child waits until its pid is in
/// `cgroup.procs`), v2 (`CLONE_INTO_CGROUP`) and systemd
/// (`StartTransientUnit`, then `CLONE_INTO_CGROUP` into the scope). The
/// guest is pure v2; a cgroup v1 hierarchy of the `freezer` controller
/// (which v2 never binds: it has no v2 interface) is mounted in a mount
/// namespace of a re-executed copy of this test, so that the other tests
/// never see it. No limits: the join alone. Printed for BENCHMARKS.md.
#[test]
fn join_cost_v1_v2_systemd() {
    use containment::cgroup::Backend;
    use std::os::unix::process::CommandExt;
    if !under_systemd() || user_mode() {
        return common::skip(
            "join_cost_v1_v2_systemd",
            "not in the systemd guest (cargo xtask vm-test --systemd)",
        );
    }
    if std::env::var_os("JOIN_COST_INNER").is_none() {
        let mut c = Command::new(std::env::current_exe().unwrap());
        c.args([
            "--exact",
            "join_cost_v1_v2_systemd",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("JOIN_COST_INNER", "1");
        // SAFETY: unshare is async-signal-safe; no allocation.
        unsafe {
            c.pre_exec(|| {
                if libc::unshare(libc::CLONE_NEWNS) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let out = c.output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        // (libtest may print the test's name on the same line.)
        for l in text
            .lines()
            .filter_map(|l| l.find("join cost").map(|i| &l[i..]))
        {
            println!("{l}");
        }
        assert!(
            out.status.success() && text.contains("join cost"),
            "{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    // Inside our own mount namespace: nothing propagates out.
    use nix::mount::{mount, umount2, MntFlags, MsFlags};
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .unwrap();
    let v1 = PathBuf::from("/run/containment-v1bench");
    std::fs::create_dir_all(&v1).unwrap();
    mount(
        Some("cgroup"),
        &v1,
        Some("cgroup"),
        MsFlags::empty(),
        Some("freezer"),
    )
    .unwrap_or_else(|e| panic!("mount -t cgroup -o freezer: {e} (the v1 freezer is unavailable)"));
    let h = containment::cgroup::Hierarchy::detect().unwrap();
    assert!(h.v1_mount_of("freezer").is_some(), "{h:?}");
    const N: usize = 10;
    let once = |spec: CgroupSpec| {
        let t = Instant::now();
        let mut c = Container::builder()
            .cgroup(spec)
            .command("/bin/true", [] as [&str; 0])
            .spawn()
            .unwrap();
        let spawned = t.elapsed();
        c.wait().unwrap();
        (spawned, t.elapsed())
    };
    let mut r: [Vec<(Duration, Duration)>; 4] = Default::default();
    for i in 0..N + 1 {
        let a = once(CgroupSpec::new().backend(Backend::V1));
        let b = once(CgroupSpec::new().backend(Backend::V2));
        let c = once(
            CgroupSpec::new()
                .systemd(SystemdOptions::new())
                .name(format!("join-{}-{i}", std::process::id())),
        );
        let t = Instant::now();
        Container::builder()
            .command("/bin/true", [] as [&str; 0])
            .spawn()
            .unwrap()
            .wait()
            .unwrap();
        let d = (t.elapsed(), t.elapsed());
        if i > 0 {
            for (k, x) in [a, b, c, d].into_iter().enumerate() {
                r[k].push(x);
            }
        }
    }
    let m =
        |k: usize, f: fn(&(Duration, Duration)) -> Duration| median(r[k].iter().map(f).collect());
    println!(
        "join cost (median of {N}, interleaved, TCG guest, one run): v1 freezer hierarchy \
         (cgroup.procs write) {:?} to spawned, {:?} with wait+removal; v2 (CLONE_INTO_CGROUP) \
         {:?} / {:?}; systemd scope (StartTransientUnit) {:?} / {:?}; no cgroup {:?}",
        m(0, |x| x.0),
        m(0, |x| x.1),
        m(1, |x| x.0),
        m(1, |x| x.1),
        m(2, |x| x.0),
        m(2, |x| x.1),
        m(3, |x| x.0),
    );
    let _ = std::fs::remove_dir(v1.join("containment"));
    let _ = umount2(&v1, MntFlags::MNT_DETACH);
}
