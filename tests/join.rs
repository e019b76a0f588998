//! Joining a running container (docker exec / nsenter) (root).

#[macro_use]
mod common;

use containment::{Container, IdMap, Namespace, Namespaces, Stdio};
use std::io::BufRead;
use std::os::unix::fs::MetadataExt;

fn ino(pid: u32, k: Namespace) -> u64 {
    std::fs::metadata(format!("/proc/{pid}/ns/{}", k.proc_name()))
        .unwrap()
        .ino()
}

fn first_lines(child: &mut containment::Child, n: usize) -> Vec<String> {
    std::io::BufReader::new(child.stdout.take().unwrap())
        .lines()
        .take(n)
        .map(|l| l.unwrap())
        .collect()
}

fn check_joined(userns: bool) {
    let mut ns = Namespaces::UTS
        | Namespaces::PID
        | Namespaces::MOUNT
        | Namespaces::NET
        | Namespaces::IPC
        | Namespaces::CGROUP
        | Namespaces::TIME;
    let mut b = Container::new();
    if userns {
        ns |= Namespaces::USER;
        b = b
            .uid_map([IdMap::new(0, 100_000, 65_536)])
            .gid_map([IdMap::new(0, 100_000, 65_536)]);
    }
    let dir = std::env::temp_dir().join(common::unique("containment-join"));
    std::fs::create_dir_all(&dir).unwrap();
    let d = dir.display().to_string();
    let mut target = b
        .unshare(ns)
        .hostname("target")
        .command("/bin/sh")
        .args([
            "-c",
            &format!(
                "mount -t tmpfs marker {d} && touch {d}/inside && echo ready && exec sleep 30"
            ),
        ])
        .stdout(Stdio::piped())
        .current_dir("/tmp")
        .spawn()
        .unwrap();
    assert_eq!(first_lines(&mut target, 1), ["ready"]);

    let mut joined = Container::new()
        .join_child(&target, Namespaces::all())
        .command("/bin/sh")
        .args([
            "-c",
            &format!(
                "hostname; echo $$; ls /proc | grep -c '^[0-9]'; ls {d}; pwd; id -u; exec sleep 30"
            ),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = first_lines(&mut joined, 6);
    for k in Namespace::ALL {
        if ns.contains(k.flag()) {
            assert_eq!(ino(joined.id(), k), ino(target.id(), k), "{k}");
        }
    }
    assert_eq!(lines[0], "target", "hostname");
    // In the container's PID namespace: not PID 1, and its /proc shows only
    // the container's processes (sleep, sh, ls, grep).
    let pid: u32 = lines[1].parse().unwrap();
    assert!(pid > 1, "pid {pid}");
    let n: u32 = lines[2].parse().unwrap();
    assert!(n <= 5, "{n} processes visible");
    assert_eq!(lines[3], "inside", "the container's mount is visible");
    assert_eq!(lines[4], "/tmp", "the container's working directory");
    assert_eq!(lines[5], "0", "uid inside");
    if userns {
        let status = std::fs::read_to_string(format!("/proc/{}/status", joined.id())).unwrap();
        assert!(
            status.lines().any(|l| l.starts_with("Uid:\t100000")),
            "outside uid: {status}"
        );
    }
    // The host never saw the container's mount.
    assert!(!dir.join("inside").exists());
    joined.kill().unwrap();
    joined.wait().unwrap();
    target.kill().unwrap();
    target.wait().unwrap();
    std::fs::remove_dir(&dir).unwrap();
}

#[test]
fn exec_into_all_namespaces() {
    require_root!();
    check_joined(false);
}

#[test]
fn exec_into_all_namespaces_with_a_user_namespace() {
    require_root!();
    check_joined(true);
}

#[test]
fn join_some_and_create_others_like_a_pod() {
    require_root!();
    // Two containers sharing one network namespace, each with its own UTS.
    let mut first = Container::new()
        .unshare(Namespaces::NET | Namespaces::UTS)
        .hostname("a")
        .command("/bin/sleep")
        .args(["30"])
        .spawn()
        .unwrap();
    let mut second = Container::new()
        .unshare(Namespaces::UTS)
        .join_child(&first, Namespaces::NET)
        .hostname("b")
        .command("/bin/sleep")
        .args(["30"])
        .spawn()
        .unwrap();
    assert_eq!(
        ino(first.id(), Namespace::Net),
        ino(second.id(), Namespace::Net)
    );
    assert_ne!(
        ino(first.id(), Namespace::Uts),
        ino(second.id(), Namespace::Uts)
    );
    // Creating and joining the same kind is refused.
    let e = Container::new()
        .unshare(Namespaces::NET)
        .join_child(&first, Namespaces::NET)
        .command("/bin/true")
        .spawn()
        .unwrap_err();
    assert_eq!(e.field(), Some("join"));
    for c in [&mut first, &mut second] {
        c.kill().unwrap();
        c.wait().unwrap();
    }
}

#[test]
fn join_by_pid_of_an_exited_process_fails_cleanly() {
    require_root!();
    let mut c = Container::new()
        .unshare(Namespaces::UTS)
        .command("/bin/true")
        .spawn()
        .unwrap();
    let pid = c.id();
    c.wait().unwrap();
    let e = Container::new()
        .join_pid(pid, Namespaces::all())
        .command("/bin/true")
        .spawn()
        .unwrap_err();
    assert!(e.to_string().contains("pidfd_open"), "{e}");
}
