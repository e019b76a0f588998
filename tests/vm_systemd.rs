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

fn systemctl(args: &[&str]) -> String {
    let out = Command::new("systemctl").args(args).output().unwrap();
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

fn scope_under(manager: Manager, tag: &str) {
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
    let cg_rel = format!("/ctest.slice/ctest-a.slice/{unit}");
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
    scope_under(Manager::System, "bus");
}
