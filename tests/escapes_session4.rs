//! Attacks on the changes of the 2026-11-30 session (brk4): cgroup v1
//! device rule updates (the difference, the freeze around a default-allow
//! rewrite) on this host's real controllers. Every cgroup lives under a
//! test cgroup removed on drop.

#[macro_use]
mod common;

use containment::cgroup::{Backend, Cgroup, CgroupSpec, DeviceRule, Hierarchy, Resources};
use containment::{Child, Container, Namespaces};

fn rules(list: &[&str]) -> Vec<DeviceRule> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

fn sh(c: Container, spec: CgroupSpec, cmd: &str) -> Child {
    c.cgroup(spec)
        .command("/bin/sh")
        .args(["-c", cmd])
        .spawn()
        .unwrap()
}

/// Whether the owner's freeze is in force, read the way `freeze` writes it
/// (the cgroup2 `cgroup.freeze` unless the cgroup is a v1 one).
fn frozen_v2(cg: &Cgroup) -> bool {
    cg.read("cgroup.freeze").unwrap().trim() == "1"
}

#[test]
fn hybrid_cgroupns_default_allow_update_keeps_the_owners_freeze() {
    // A hybrid cgroup with a new cgroup namespace gets a directory in
    // every v1 hierarchy, the freezer's too, while freeze/thaw use the
    // cgroup2's `cgroup.freeze`. A default-allow device update asked
    // the (never used) v1 freezer whether the owner had frozen the
    // container: THAWED, so it thawed the paused container after its
    // writes.
    require_root!();
    let h = Hierarchy::detect().unwrap();
    require!(
        h.mount_point().is_some()
            && h.v1_mount_of("devices").is_some()
            && h.v1_mount_of("freezer").is_some(),
        "no hybrid host with v1 devices and freezer hierarchies"
    );
    let Some(base) = common::TestCgroup::new("brk4-frz") else {
        panic!("cannot make a test cgroup");
    };
    let spec = CgroupSpec::new()
        .parent(&base.0)
        .backend(Backend::Hybrid)
        .resources(Resources::new().device_rules(rules(&["deny a *:* rwm", "c 1:3 rw"])));
    let mut child = sh(
        Container::new().unshare(Namespaces::CGROUP),
        spec,
        "exec sleep 30",
    );
    let cg = child.cgroup().unwrap();
    assert!(cg.v1_path("freezer").is_some(), "a v1 freezer directory");
    cg.freeze().unwrap();
    assert!(frozen_v2(cg));
    let r = cg.apply(&Resources::new().device_rules(rules(&["deny c 1:5 w"])));
    let still = frozen_v2(cg);
    let _ = cg.thaw();
    child.kill().unwrap();
    child.wait().unwrap();
    r.unwrap();
    assert!(still, "the owner's freeze was undone by a device update");
}

#[test]
fn hybrid_update_adding_a_v1_directory_keeps_the_owners_freeze() {
    // A hybrid cgroup without device rules has no v1 devices directory:
    // an update with rules makes one and moves the tasks into it with the
    // cgroup frozen, then thawed it even when its owner had paused it.
    require_root!();
    let h = Hierarchy::detect().unwrap();
    require!(
        h.mount_point().is_some() && h.v1_mount_of("devices").is_some(),
        "no hybrid host with a v1 devices hierarchy"
    );
    let Some(base) = common::TestCgroup::new("brk4-mv") else {
        panic!("cannot make a test cgroup");
    };
    let spec = CgroupSpec::new().parent(&base.0).backend(Backend::Hybrid);
    let mut child = sh(Container::new(), spec, "exec sleep 30");
    let cg = child.cgroup().unwrap();
    assert!(
        cg.v1_path("devices").is_none(),
        "no v1 devices directory yet"
    );
    cg.freeze().unwrap();
    let r = cg.apply(&Resources::new().device_rules(rules(&["deny a *:* rwm", "c 1:3 rw"])));
    let still = frozen_v2(cg);
    let dev = cg.v1_path("devices");
    let _ = cg.thaw();
    child.kill().unwrap();
    child.wait().unwrap();
    r.unwrap();
    assert!(dev.is_some(), "a v1 devices directory made");
    assert!(still, "the owner's freeze was undone by an update");
}
