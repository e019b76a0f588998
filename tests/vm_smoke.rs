//! Smoke test of the VM runner (`cargo xtask vm-test`): proves the tests run
//! as root on a pure cgroup v2 kernel with the resource controllers enabled.
//!
//! Only built with `--features vm-tests`; meant to run in the VM, where
//! `CONTAINMENT_IN_VM` is set.

use std::fs;

fn in_vm() {
    assert!(
        std::env::var_os("CONTAINMENT_IN_VM").is_some(),
        "CONTAINMENT_IN_VM is not set: run this through `cargo xtask vm-test`"
    );
}

#[test]
fn runs_in_the_vm_as_root() {
    in_vm();
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }, 0, "the VM tests run as root");
    assert_eq!(std::env::var("CONTAINMENT_NO_SKIP").as_deref(), Ok("1"));
}

#[test]
fn cgroup_v2_only_with_controllers() {
    in_vm();
    let controllers = fs::read_to_string("/sys/fs/cgroup/cgroup.controllers").unwrap();
    let have: Vec<&str> = controllers.split_whitespace().collect();
    for c in ["memory", "pids", "cpu", "cpuset", "io"] {
        assert!(
            have.contains(&c),
            "controller {c} missing from {controllers:?}"
        );
    }
    // Every controller is enabled for the root's children.
    let enabled = fs::read_to_string("/sys/fs/cgroup/cgroup.subtree_control").unwrap();
    for c in &have {
        assert!(
            enabled.split_whitespace().any(|e| e == *c),
            "{c} not in subtree_control {enabled:?}"
        );
    }
    // Pure v2: one hierarchy, one `0::` line, no v1 hierarchies mounted.
    let own = fs::read_to_string("/proc/self/cgroup").unwrap();
    let lines: Vec<&str> = own.lines().collect();
    assert_eq!(lines.len(), 1, "/proc/self/cgroup: {own:?}");
    assert!(lines[0].starts_with("0::"), "/proc/self/cgroup: {own:?}");
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.lines().any(|l| l.contains(" - cgroup ")),
        "a cgroup v1 hierarchy is mounted:\n{mounts}"
    );
    assert!(mounts
        .lines()
        .any(|l| l.contains(" /sys/fs/cgroup ") && l.contains(" - cgroup2 ")));
}

#[test]
fn kernel_modules_loaded() {
    in_vm();
    // null_blk gives a real block device for io.max tests, veth for netns.
    assert!(
        fs::metadata("/dev/nullb0").is_ok(),
        "/dev/nullb0 missing (null_blk)"
    );
    let modules = fs::read_to_string("/proc/modules").unwrap();
    for m in ["veth", "null_blk", "overlay"] {
        assert!(
            modules.lines().any(|l| l.starts_with(&format!("{m} "))),
            "module {m} not loaded:\n{modules}"
        );
    }
}

#[test]
fn pivot_root_works_in_a_new_mount_namespace() {
    in_vm();
    // The guest init moved off the initramfs rootfs (where pivot_root fails
    // with EINVAL) into a tmpfs: a rootfs test can pivot_root here. Checked
    // with the guest's busybox applets, in a child, to leave this process's
    // mount namespace alone.
    let script = "set -e; mount -t tmpfs t /mnt; mkdir /mnt/old /mnt/bin; \
                  cp /bin/busybox /mnt/bin/; cd /mnt; pivot_root . old; \
                  exec /bin/busybox test -d /old/proc";
    let st = std::process::Command::new("/bin/busybox")
        .args([
            "unshare",
            "-m",
            "--propagation",
            "private",
            "/bin/busybox",
            "sh",
            "-c",
            script,
        ])
        .status()
        .unwrap();
    assert!(
        st.success(),
        "pivot_root in a new mount namespace failed: {st}"
    );
}

#[test]
fn vfork_shape_carries_every_namespace_and_a_cgroup() {
    in_vm();
    // The oldest kernel we test (6.1): CLONE_NEWTIME, CLONE_NEWUSER (maps
    // written while the child shares our memory) and CLONE_INTO_CGROUP go
    // through clone3 on the child's own stack.
    use containment::cgroup::Resources;
    use containment::{Container, IdMap, Namespace, Namespaces, Stdio};
    let child = Container::new()
        .unshare(Namespaces::all())
        .uid_map([IdMap::new(0, 100_000, 65_536)])
        .gid_map([IdMap::new(0, 100_000, 65_536)])
        .cgroup(Resources::new().memory_max(64 << 20))
        .command("/bin/busybox")
        .args([
            "sh",
            "-c",
            "cat /proc/self/uid_map; readlink /proc/self/ns/time",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(child.spawned_in_vfork_shape());
    let limit = fs::read_to_string(child.cgroup().unwrap().path().join("memory.max")).unwrap();
    assert_eq!(limit.trim(), (64u64 << 20).to_string());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .is_some_and(|l| l.split_whitespace().eq(["0", "100000", "65536"])),
        "{text}"
    );
    let host = containment::NsFd::open_self(Namespace::Time)
        .unwrap()
        .id()
        .unwrap();
    let time = lines.next().unwrap_or_default();
    assert!(
        time.starts_with("time:[") && !time.contains(&format!("[{}]", host.ino)),
        "{time} vs the host's {host}"
    );
}

#[test]
fn time_offsets_apply_on_a_kernel_without_the_exec_time_switch() {
    in_vm();
    // Regression: on 6.1 a program exec'd after unshare(CLONE_NEWTIME) stays
    // outside the new namespace (no switch at exec there): the child now
    // enters it with setns after writing the offsets.
    use containment::namespace::TimeOffsets;
    use containment::{Container, Namespaces};
    for vfork in [true, false] {
        let out = Container::new()
            .unshare(Namespaces::TIME)
            .time_offsets(TimeOffsets::new().boottime_secs(3_000_000))
            .vfork_spawn(vfork)
            .command("/bin/busybox")
            .args(["cat", "/proc/uptime"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let uptime: f64 = text.split_whitespace().next().unwrap().parse().unwrap();
        assert!(uptime > 3_000_000.0, "vfork_spawn({vfork}): {text}");
    }
}
