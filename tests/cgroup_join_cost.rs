//! The cost of joining a cgroup at spawn, on this host (hybrid: v1
//! controllers plus a cgroup2 without controllers), v1 and v2 in the same
//! run, interleaved round-robin: `Backend::V1` (the child moves itself into
//! each v1 hierarchy's directory, writing `0` to its `tasks` file) vs `Backend::V2` (`clone3(CLONE_INTO_CGROUP)` into the
//! cgroup2). No limits: the join alone. A benchmark printed for
//! BENCHMARKS.md, asserting nothing about time; `#[ignore]`d (run it with
//! `cargo test --features full --test cgroup_join_cost -- --ignored
//! --nocapture`). The systemd driver exists only in the VM: see
//! `tests/vm_systemd.rs`'s `join_cost_v1_v2_systemd`.

#[macro_use]
mod common;

use std::time::{Duration, Instant};

use containment::cgroup::{Backend, CgroupSpec, Hierarchy};
use containment::Container;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// (to spawned, with wait and removal) of one `/bin/true` in a new cgroup.
fn once(spec: CgroupSpec) -> (Duration, Duration) {
    let t = Instant::now();
    let mut c = Container::new()
        .cgroup(spec)
        .command("/bin/true")
        .spawn()
        .unwrap();
    let spawned = t.elapsed();
    c.wait().unwrap();
    (spawned, t.elapsed())
}

#[test]
#[ignore = "a benchmark: run with --ignored --nocapture"]
fn join_cost_v1_vs_v2_on_this_host() {
    require_root!();
    let h = Hierarchy::detect().unwrap();
    require!(
        h.mount_point().is_some() && !h.v1_mounts().is_empty(),
        "needs a hybrid host (cgroup2 and v1 hierarchies)"
    );
    let Some(base) = common::TestCgroup::new("joincost") else {
        panic!("cannot make a test cgroup");
    };
    const N: usize = 30;
    let (mut v1, mut v1_all, mut v2, mut v2_all, mut none) =
        (vec![], vec![], vec![], vec![], vec![]);
    for i in 0..N + 3 {
        let a = once(CgroupSpec::new().parent(&base.0).backend(Backend::V1));
        let b = once(CgroupSpec::new().parent(&base.0).backend(Backend::V2));
        let t = Instant::now();
        Container::new()
            .command("/bin/true")
            .spawn()
            .unwrap()
            .wait()
            .unwrap();
        let c = t.elapsed();
        // The first rounds warm the caches.
        if i >= 3 {
            v1.push(a.0);
            v1_all.push(a.1);
            v2.push(b.0);
            v2_all.push(b.1);
            none.push(c);
        }
    }
    let v1_dirs = h
        .v1_mounts()
        .iter()
        .filter(|m| {
            m.controllers
                .iter()
                .any(|c| containment::cgroup::v1::V1_CONTROLLERS.contains(&c.as_str()))
        })
        .count();
    println!(
        "join cost (median of {N}, interleaved): v1 ({v1_dirs} hierarchies, `tasks` writes by the child) \
         {:?} to spawned, {:?} with wait+removal; v2 (CLONE_INTO_CGROUP) {:?} to spawned, {:?} \
         with wait+removal; no cgroup {:?} spawn+wait",
        median(v1),
        median(v1_all),
        median(v2),
        median(v2_all),
        median(none)
    );
}

/// What the child's own `tasks` write saves on a host between spawns (a
/// container runtime's `create` is one spawn in a fresh process): each
/// round waits 150 ms first, so that the kernel's threadgroup lock has
/// left its fast path (its `rcu_sync` returns to idle one grace period
/// after the last writer), then times a spawn into new v1 cgroups (the
/// child moves itself), and, after another pause, a write of that child's
/// pid to `cgroup.procs` of its own v1 memory directory by this process
/// (what the spawn did before: the write takes the lock whatever the
/// target).
#[test]
#[ignore = "a benchmark: run with --ignored --nocapture"]
fn join_cost_after_idle_self_move_vs_parent_write() {
    require_root!();
    let h = Hierarchy::detect().unwrap();
    require!(
        h.v1_mount_of("memory").is_some(),
        "needs a v1 memory hierarchy"
    );
    let Some(base) = common::TestCgroup::new("joinidle") else {
        panic!("cannot make a test cgroup");
    };
    const N: usize = 12;
    let (mut spawn_v1, mut spawn_none, mut parent_write) = (vec![], vec![], vec![]);
    for _ in 0..N {
        std::thread::sleep(Duration::from_millis(150));
        let t = Instant::now();
        let mut c = Container::new()
            .cgroup(CgroupSpec::new().parent(&base.0).backend(Backend::V1))
            .command("/bin/sleep")
            .arg("5")
            .spawn()
            .unwrap();
        spawn_v1.push(t.elapsed());
        let mem = c.cgroup().unwrap().v1_path("memory").unwrap();
        std::thread::sleep(Duration::from_millis(150));
        let t = Instant::now();
        std::fs::write(mem.join("cgroup.procs"), c.id().to_string()).unwrap();
        parent_write.push(t.elapsed());
        c.kill().unwrap();
        c.wait().unwrap();
        std::thread::sleep(Duration::from_millis(150));
        let t = Instant::now();
        let mut c = Container::new()
            .command("/bin/sleep")
            .arg("5")
            .spawn()
            .unwrap();
        spawn_none.push(t.elapsed());
        c.kill().unwrap();
        c.wait().unwrap();
    }
    println!(
        "after 150 ms idle (median of {N}): spawn into new v1 cgroups (child's `tasks` writes) \
         {:?}; spawn without a cgroup {:?}; one cgroup.procs write by the parent {:?}",
        median(spawn_v1),
        median(spawn_none),
        median(parent_write)
    );
}
