//! The experimental vfork-shaped spawn (`vfork_spawn(true)`): same results
//! as the clone3 path, as the kernel shows them.

#[macro_use]
mod common;

use containment::{Container, Namespace, Namespaces, SpawnError, Step};

const SIX: Namespaces = Namespaces::UTS
    .union(Namespaces::PID)
    .union(Namespaces::MOUNT)
    .union(Namespaces::IPC)
    .union(Namespaces::NET)
    .union(Namespaces::CGROUP);

#[test]
fn runs_in_new_namespaces_with_output() {
    require_root!();
    let out = Container::builder()
        .namespaces(SIX)
        .hostname("vf")
        .vfork_spawn(true)
        .command(
            "/bin/sh",
            [
                "-c",
                "hostname; echo $$; cat /sys/class/net/lo/operstate 2>/dev/null || true",
            ],
        )
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
    let mut c = Container::builder()
        .namespaces(SIX)
        .vfork_spawn(true)
        .command("/bin/sleep", ["10"])
        .spawn()
        .unwrap();
    for kind in [
        Namespace::Net,
        Namespace::Uts,
        Namespace::Pid,
        Namespace::Mount,
    ] {
        let host = containment::NsFd::open_self(kind).unwrap().id().unwrap();
        let child = c.namespace(kind).unwrap().id().unwrap();
        assert_ne!(host, child, "{kind}");
    }
    c.kill().unwrap();
    c.wait().unwrap();
}

#[test]
fn child_errors_are_reported() {
    require_root!();
    let err = Container::builder()
        .namespaces(Namespaces::UTS)
        .vfork_spawn(true)
        .command("/nonexistent/program", [] as [&str; 0])
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

#[test]
fn user_namespace_takes_the_clone3_path() {
    require_root!();
    let st = Container::builder()
        .namespaces(Namespaces::USER | Namespaces::UTS)
        .vfork_spawn(true)
        .command("/bin/true", [] as [&str; 0])
        .status()
        .unwrap();
    assert!(st.success());
}
