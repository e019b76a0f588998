//! The vfork-shaped spawn (`clone3(CLONE_VM | CLONE_VFORK)`, the default):
//! same results as the fork shape, as the kernel shows them; taken for every
//! kind of namespace (a new user namespace with id maps too), not with time
//! offsets.

#[macro_use]
mod common;

use containment::namespace::TimeOffsets;
use containment::{Container, IdMap, Namespace, Namespaces, SpawnError, Stdio, Step};

const SIX: Namespaces = Namespaces::UTS
    .union(Namespaces::PID)
    .union(Namespaces::MOUNT)
    .union(Namespaces::IPC)
    .union(Namespaces::NET)
    .union(Namespaces::CGROUP);

#[test]
fn runs_in_new_namespaces_with_output() {
    require_root!();
    let out = Container::new()
        .unshare(SIX)
        .hostname("vf")
        .vfork_spawn(true)
        .command("/bin/sh")
        .args([
            "-c",
            "hostname; echo $$; cat /sys/class/net/lo/operstate 2>/dev/null || true",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("vf"));
    assert_eq!(lines.next(), Some("1"));
}

#[test]
fn namespaces_differ_from_the_host() {
    require_root!();
    let mut c = Container::new()
        .unshare(SIX)
        .vfork_spawn(true)
        .command("/bin/sleep")
        .args(["10"])
        .spawn()
        .unwrap();
    for kind in [
        Namespace::Net,
        Namespace::Uts,
        Namespace::Pid,
        Namespace::Mount,
    ] {
        let host = containment::NsFd::open_self(kind).unwrap().id().unwrap();
        let child = c.open_namespace(kind).unwrap().id().unwrap();
        assert_ne!(host, child, "{kind}");
    }
    c.kill().unwrap();
    c.wait().unwrap();
}

#[test]
fn child_errors_are_reported() {
    require_root!();
    let err = Container::new()
        .unshare(Namespaces::UTS)
        .vfork_spawn(true)
        .command("/nonexistent/program")
        .spawn()
        .unwrap_err();
    match err {
        SpawnError::Child(e) => {
            assert_eq!(e.step(), Step::Exec);
            assert_eq!(e.errno(), libc::ENOENT);
        }
        e => panic!("unexpected {e}"),
    }
    assert!(common::lasting_zombies().is_empty());
}

/// Spawns with `vfork_spawn(vfork)`, checks which shape the spawn took
/// (the vfork shape where it applies and its x86_64 trampoline exists) and
/// returns the program's stdout.
fn run_in_shape(c: Container, argv: &[&str], vfork: bool, applies: bool) -> String {
    let child = c
        .vfork_spawn(vfork)
        .command(argv[0])
        .args(&argv[1..])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let expected = vfork && applies && containment::testing::HAS_CLONE3_ON_STACK;
    assert_eq!(
        child.spawned_in_vfork_shape(),
        expected,
        "vfork_spawn({vfork})"
    );
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "vfork_spawn({vfork}): {out:?}");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn user_namespace_maps_in_both_shapes() {
    require_root!();
    // Two ranges: the kernel accepts them from a privileged writer only
    // (the parent, which writes them while the child, sharing its memory in
    // the vfork shape, waits), not from the child itself.
    for vfork in [true, false] {
        let text = run_in_shape(
            Container::new()
                .unshare(Namespaces::USER | Namespaces::UTS | Namespaces::PID)
                .uid_map([IdMap::new(0, 100_000, 1000), IdMap::new(1000, 300_000, 10)])
                .gid_map([IdMap::new(0, 200_000, 1000)]),
            &[
                "/bin/sh",
                "-c",
                "id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map",
            ],
            vfork,
            true,
        );
        let fields: Vec<Vec<&str>> = text
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        assert_eq!(
            fields,
            [
                vec!["0"],
                vec!["0"],
                vec!["0", "100000", "1000"],
                vec!["1000", "300000", "10"],
                vec!["0", "200000", "1000"],
            ],
            "vfork_spawn({vfork})"
        );
    }
    assert!(common::lasting_zombies().is_empty());
}

#[test]
fn time_namespaces_in_both_shapes() {
    require_root!();
    let host = containment::NsFd::open_self(Namespace::Time)
        .unwrap()
        .id()
        .unwrap();
    for vfork in [true, false] {
        // Offsets: the child unshares, writes them and enters the namespace
        // itself (setns), which a child sharing our memory cannot do: the
        // fork shape, whatever was asked.
        let text = run_in_shape(
            Container::new()
                .unshare(Namespaces::TIME | Namespaces::USER)
                .uid_map([IdMap::new(0, 100_000, 65_536)])
                .gid_map([IdMap::new(0, 100_000, 65_536)])
                .time_offsets(TimeOffsets::new().boottime_secs(2_000_000)),
            &["/bin/cat", "/proc/uptime", "/proc/self/timens_offsets"],
            vfork,
            false,
        );
        let uptime: f64 = text.split_whitespace().next().unwrap().parse().unwrap();
        assert!(uptime > 2_000_000.0, "vfork_spawn({vfork}): {text}");
        assert!(
            text.lines()
                .any(|l| l.split_whitespace().eq(["boottime", "2000000", "0"])),
            "{text}"
        );
        // None: clone3 creates the namespace (CLONE_NEWTIME), in either shape.
        let text = run_in_shape(
            Container::new().unshare(Namespaces::TIME),
            &["/bin/readlink", "/proc/self/ns/time"],
            vfork,
            true,
        );
        assert!(text.starts_with("time:["), "{text}");
        assert!(
            !text.contains(&format!("[{}]", host.ino)),
            "{text} vs {host:?}"
        );
    }
}

#[test]
fn user_namespace_child_errors_are_reported_in_both_shapes() {
    require_root!();
    // The shared-memory shape without CLONE_VFORK: the parent writes the
    // maps, then reads the child's report; the child's stack stays mapped
    // until it is reaped. No process is left behind either way (descriptors:
    // tests/stress.rs, with user namespaces in this shape, counts them alone).
    for vfork in [true, false] {
        let err = Container::new()
            .unshare(Namespaces::USER | Namespaces::UTS | Namespaces::MOUNT)
            .uid_map([IdMap::new(0, 100_000, 65_536)])
            .gid_map([IdMap::new(0, 100_000, 65_536)])
            .hostname("vf-user")
            .vfork_spawn(vfork)
            .command("/nonexistent/program")
            .spawn()
            .unwrap_err();
        match err {
            SpawnError::Child(e) => {
                assert_eq!(e.step(), Step::Exec, "vfork_spawn({vfork})");
                assert_eq!(e.errno(), libc::ENOENT);
            }
            e => panic!("vfork_spawn({vfork}): unexpected {e}"),
        }
    }
    assert!(common::lasting_zombies().is_empty());
}
