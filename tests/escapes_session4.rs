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

/// A small deterministic generator (xorshift), so that a failure repeats.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.next(v.len() as u64) as usize]
    }

    /// A random rule list over a few numbers, wildcards and partial
    /// accesses; starting with a deny-all rule or not.
    fn rules(&mut self) -> Vec<String> {
        let mut v = Vec::new();
        match self.next(3) {
            0 => v.push("deny a *:* rwm".to_string()),
            1 => v.push("a *:* rwm".to_string()),
            _ => {}
        }
        for _ in 0..self.next(6) {
            let deny = if self.next(3) == 0 { "deny " } else { "" };
            let kind = self.pick(&["c", "c", "b", "a"]);
            let major = self.pick(&["1", "5", "*"]);
            let minor = self.pick(&["3", "5", "*"]);
            let access = self.pick(&["r", "w", "m", "rw", "rm", "wm", "rwm"]);
            v.push(format!("{deny}{kind} {major}:{minor} {access}"));
        }
        v
    }
}

fn sorted_list(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_to_string(dir.join("devices.list"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

#[test]
fn v1_device_updates_end_where_a_fresh_cgroup_starts() {
    // Property test on the real kernel: for random rule lists A and B, a
    // v1 cgroup given A then updated to B lists exactly what a fresh
    // cgroup given B lists (the difference path from deny to deny, the
    // reset path otherwise); a sub-cgroup made after A (a container's
    // own) never lists more than its parent after the update.
    require_root!();
    let h = Hierarchy::detect().unwrap();
    require!(
        h.v1_mount_of("devices").is_some(),
        "no cgroup v1 devices hierarchy"
    );
    let Some(base) = common::TestCgroup::new("brk4-prop") else {
        panic!("cannot make a test cgroup");
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let res = |r: &[String]| {
        Resources::new().device_rules(r.iter().map(|s| s.parse::<DeviceRule>().unwrap()))
    };
    let rounds: u32 = std::env::var("BRK4_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150);
    let (mut same, mut refused, mut with_sub) = (0, 0, 0);
    for i in 0..rounds {
        let (a, b) = (rng.rules(), rng.rules());
        if b.is_empty() {
            continue;
        }
        let sub_too = rng.next(2) == 0;
        let upd = Cgroup::create_with(&h, Backend::V1, Some(&base.0), &format!("u{i}")).unwrap();
        let fresh = Cgroup::create_with(&h, Backend::V1, Some(&base.0), &format!("f{i}")).unwrap();
        // The default state of a new devices directory, when A is empty.
        let a = if a.is_empty() {
            vec!["a *:* rwm".to_string()]
        } else {
            a
        };
        upd.apply(&res(&a)).unwrap();
        let ud = upd.v1_path("devices").unwrap();
        let sub = ud.join("inner");
        if sub_too {
            std::fs::create_dir(&sub).unwrap();
        }
        let r = upd.apply(&res(&b));
        fresh.apply(&res(&b)).unwrap();
        let fd = fresh.v1_path("devices").unwrap();
        let (got, want) = (sorted_list(&ud), sorted_list(&fd));
        let inner = sub_too.then(|| sorted_list(&sub));
        if sub_too {
            std::fs::remove_dir(&sub).unwrap();
        }
        upd.remove().unwrap();
        fresh.remove().unwrap();
        match r {
            Ok(()) => {
                same += 1;
                with_sub += u32::from(inner.is_some());
                assert_eq!(got, want, "A={a:?} B={b:?} sub={sub_too}");
                if let Some(inner) = inner {
                    // The kernel checks a sub-cgroup's own list alone: each
                    // of its lines must be one of its parent's (or the
                    // parent allows every device).
                    let parent_all = got == ["a *:* rwm"];
                    for l in &inner {
                        assert!(
                            parent_all || got.contains(l) || got_covers(&got, l),
                            "sub-cgroup keeps {l} beyond {got:?}: A={a:?} B={b:?}"
                        );
                    }
                }
            }
            // The kernel refuses a reset of a cgroup with children (EINVAL):
            // the update fails; nothing more may be allowed than before.
            Err(e) => {
                refused += 1;
                assert!(sub_too, "A={a:?} B={b:?}: {e}")
            }
        }
    }
    eprintln!("{same} updates as a fresh cgroup ({with_sub} with a sub-cgroup), {refused} refused");
}

/// Whether a line of `list` (a default-deny parent) covers `line`, as the
/// kernel's `match_exception` checks a child's exception.
fn got_covers(list: &[String], line: &str) -> bool {
    let parse = |l: &str| -> (String, String, String, String) {
        let mut it = l.split_whitespace();
        let kind = it.next().unwrap().to_string();
        let (maj, min) = it.next().unwrap().split_once(':').unwrap();
        (kind, maj.into(), min.into(), it.next().unwrap().into())
    };
    let (k, ma, mi, acc) = parse(line);
    list.iter().any(|p| {
        let (pk, pma, pmi, pacc) = parse(p);
        (pk == "a" || pk == k)
            && (pma == "*" || pma == ma)
            && (pmi == "*" || pmi == mi)
            && acc.chars().all(|c| pacc.contains(c))
    })
}
