//! The builder's cgroup: CLONE_INTO_CGROUP placement, removal, errors (root,
//! on this host's own cgroup2 mount).

#[macro_use]
mod common;

use containment::cgroup::{CgroupSpec, Hierarchy, OomScoreAdj, Resources};
use containment::{Container, Namespaces};

fn cgroup_line(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_string))
        .unwrap()
}

fn children(p: &common::TestCgroup) -> usize {
    std::fs::read_dir(&p.0)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_dir())
        .count()
}

#[test]
fn child_starts_in_its_cgroup_and_it_is_removed_when_reaped() {
    require_root!();
    let Some(parent) = common::TestCgroup::new("containment-test") else {
        return common::skip(
            "child_starts_in_its_cgroup",
            "no cgroup2 mount on this host",
        );
    };
    let mut child = Container::new()
        .unshare(Namespaces::PID | Namespaces::CGROUP)
        .cgroup(CgroupSpec::new().parent(&parent.0).name("c1"))
        .command("/bin/sh")
        .args(["-c", "cat /proc/self/cgroup; exec sleep 30"])
        .stdout(containment::Stdio::piped())
        .spawn()
        .unwrap();
    let cg = child.cgroup().unwrap();
    assert!(cg.path().ends_with("c1"));
    // The kernel shows the child there from its first instruction.
    let line = cgroup_line(child.id());
    assert!(
        line.ends_with(&format!(
            "{}/c1",
            parent.0.file_name().unwrap().to_string_lossy()
        )),
        "{line}"
    );
    assert!(cg.procs().unwrap().contains(&child.id()));
    // With a cgroup namespace, the child sees its cgroup as the root.
    use std::io::BufRead;
    let mut first = String::new();
    let out = child.stdout.take().unwrap();
    std::io::BufReader::new(out).read_line(&mut first).unwrap();
    assert_eq!(first.trim_end().rsplit(':').next(), Some("/"), "{first}");
    // Once `cat` is gone, the program is alone in its cgroup.
    let cg = child.cgroup().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while cg.procs().unwrap() != vec![child.id()] {
        assert!(std::time::Instant::now() < deadline, "{:?}", cg.procs());
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(child.cgroup().is_none());
    assert_eq!(children(&parent), 0, "the cgroup was not removed");
}

#[test]
fn both_spawn_shapes_start_in_the_cgroup() {
    require_root!();
    let Some(parent) = common::TestCgroup::new("containment-test") else {
        return common::skip(
            "both_spawn_shapes_start_in_the_cgroup",
            "no cgroup2 mount on this host",
        );
    };
    // CLONE_INTO_CGROUP in the vfork shape (clone3 on our own stack) and in
    // the fork shape, with a user namespace whose maps the parent writes
    // while the child waits.
    for vfork in [true, false] {
        let name = if vfork { "vfork" } else { "fork" };
        let mut child = Container::new()
            .unshare(Namespaces::USER | Namespaces::PID | Namespaces::MOUNT)
            .uid_map([containment::IdMap::new(0, 100_000, 65_536)])
            .gid_map([containment::IdMap::new(0, 100_000, 65_536)])
            .cgroup(CgroupSpec::new().parent(&parent.0).name(name))
            .vfork_spawn(vfork)
            .command("/bin/sleep")
            .args(["30"])
            .spawn()
            .unwrap();
        assert_eq!(
            child.spawned_in_vfork_shape(),
            vfork && containment::testing::HAS_CLONE3_ON_STACK
        );
        let line = cgroup_line(child.id());
        assert!(line.ends_with(&format!("/{name}")), "{line}");
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(children(&parent), 0, "the cgroup was not removed");
    }
}

#[test]
fn a_failed_spawn_leaves_no_cgroup() {
    require_root!();
    let Some(parent) = common::TestCgroup::new("containment-test") else {
        return common::skip("a_failed_spawn_leaves_no_cgroup", "no cgroup2 mount");
    };
    let e = Container::new()
        .cgroup(CgroupSpec::new().parent(&parent.0))
        .command("/nonexistent/program")
        .spawn()
        .unwrap_err();
    assert!(e.child_error().is_some(), "{e}");
    assert_eq!(children(&parent), 0);
    assert!(common::lasting_zombies().is_empty());
}

#[test]
fn a_limit_the_host_cannot_enforce_is_a_typed_error() {
    require_root!();
    let h = Hierarchy::detect().unwrap();
    let has_memory = h
        .root_controllers()
        .map(|c| c.iter().any(|x| x == "memory"))
        .unwrap_or(false);
    require!(
        !has_memory,
        "this host has the memory controller (pure cgroup v2); the VM suite covers enforcement"
    );
    let Some(parent) = common::TestCgroup::new("containment-test") else {
        return;
    };
    let e = Container::new()
        .cgroup(
            // Forced onto the cgroup2 alone: the default on a hybrid host
            // drives memory in its v1 hierarchy (tests/cgroup_v1.rs).
            CgroupSpec::new()
                .parent(&parent.0)
                .backend(containment::cgroup::Backend::V2)
                .resources(Resources::new().memory_max(64 << 20)),
        )
        .command("/bin/true")
        .spawn()
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("memory") && msg.contains("not available"),
        "{msg}"
    );
    assert_eq!(children(&parent), 0);
}

#[test]
fn oom_score_adj_is_set_in_the_child() {
    require_root!();
    let Some(parent) = common::TestCgroup::new("containment-test") else {
        return;
    };
    let mut child = Container::new()
        .cgroup(
            CgroupSpec::new()
                .parent(&parent.0)
                .resources(Resources::new().oom_score_adj(OomScoreAdj::new(321).unwrap())),
        )
        .command("/bin/sleep")
        .args(["30"])
        .spawn()
        .unwrap();
    let v = std::fs::read_to_string(format!("/proc/{}/oom_score_adj", child.id())).unwrap();
    assert_eq!(v.trim(), "321");
    drop(child.kill());
    child.wait().unwrap();
    assert_eq!(children(&parent), 0);
}

#[test]
fn exec_into_lands_in_the_containers_cgroup() {
    require_root!();
    let Some(parent) = common::TestCgroup::new("containment-test") else {
        return;
    };
    let mut target = Container::new()
        .unshare(Namespaces::PID | Namespaces::UTS)
        .cgroup(CgroupSpec::new().parent(&parent.0).name("target"))
        .command("/bin/sleep")
        .args(["30"])
        .spawn()
        .unwrap();
    let mut joined = Container::new()
        .join_child(&target, Namespaces::all())
        .command("/bin/sleep")
        .args(["30"])
        .spawn()
        .unwrap();
    assert_eq!(cgroup_line(joined.id()), cgroup_line(target.id()));
    let mut procs = target.cgroup().unwrap().procs().unwrap();
    procs.sort();
    let mut want = vec![target.id(), joined.id()];
    want.sort();
    assert_eq!(procs, want);
    joined.kill().unwrap();
    joined.wait().unwrap();
    target.kill().unwrap();
    target.wait().unwrap();
    assert_eq!(children(&parent), 0);
}
