//! The minimal init as PID 1, and what happens without it (root).

#[macro_use]
mod common;

use containment::{Container, Namespaces, Stdio};
use std::io::BufRead;

/// Zombies in the PID namespace of `pid`, seen from the host.
fn zombies_in_ns_of(pid: u32) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    let ns = |p: &str| std::fs::metadata(format!("/proc/{p}/ns/pid")).map(|m| m.ino());
    let target = ns(&pid.to_string()).unwrap();
    let mut z = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.parse::<u32>().is_err() || ns(&name).ok() != Some(target) {
            continue;
        }
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{name}/stat")) {
            let state = stat.rsplit_once(") ").map(|x| &x.1[..1]);
            if state == Some("Z") {
                z.push(stat);
            }
        }
    }
    z
}

fn orphan_then_no_reaping(init: bool) -> Vec<String> {
    // The program orphans a short sleep, then becomes a process that never
    // calls wait.
    let mut child = Container::new()
        .unshare(Namespaces::PID | Namespaces::MOUNT)
        .init(init)
        .command("/bin/sh")
        .args(["-c", "sh -c 'sleep 0.1 &'; exec sleep 30"])
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    let z = zombies_in_ns_of(child.id());
    child.kill().unwrap();
    child.wait().unwrap();
    z
}

fn run(init: bool, script: &str) -> std::process::Output {
    Container::new()
        .unshare(Namespaces::PID | Namespaces::MOUNT)
        .init(init)
        .command("/bin/sh")
        .args(["-c", script])
        .output()
        .unwrap()
}

#[test]
fn init_reaps_orphans_and_without_it_they_stay_zombies() {
    require_root!();
    let with = orphan_then_no_reaping(true);
    assert!(with.is_empty(), "zombies with the init: {with:?}");
    // Without the init, the orphan is re-parented to the program (PID 1),
    // which never reaps it.
    let without = orphan_then_no_reaping(false);
    assert!(
        without.iter().any(|s| s.contains("(sleep)")),
        "expected a zombie without the init: {without:?}"
    );
}

#[test]
fn init_exits_with_the_programs_status() {
    require_root!();
    assert_eq!(run(true, "exit 42").status.code(), Some(42));
    // The program killed by a signal: 128 + N, as docker reports it.
    assert_eq!(run(true, "kill -9 $$").status.code(), Some(128 + 9));
    // The program is PID 2 under the init.
    let out = run(true, "echo $$; cat /proc/1/cmdline | tr '\\0' ' '");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("2\n"), "{text}");
}

#[test]
fn sigterm_to_the_container_reaches_the_program() {
    require_root!();
    let mut child = Container::new()
        .unshare(Namespaces::PID | Namespaces::MOUNT)
        .init(true)
        .command("/bin/sh")
        .args([
            "-c",
            "trap 'echo got TERM; exit 7' TERM; echo ready; while :; do sleep 0.05; done",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    child.signal(libc::SIGTERM).unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "got TERM");
    assert_eq!(child.wait().unwrap().code(), Some(7));
}

#[test]
fn without_init_killing_pid_1_kills_the_rest() {
    require_root!();
    let mut child = Container::new()
        .unshare(Namespaces::PID | Namespaces::MOUNT)
        .command("/bin/sh")
        .args(["-c", "sleep 60 & echo started; wait"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "started");
    let kids = std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", child.id())).unwrap();
    let sleep_pid: u32 = kids.split_whitespace().next().unwrap().parse().unwrap();
    assert!(std::path::Path::new(&format!("/proc/{sleep_pid}")).exists());
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !std::path::Path::new(&format!("/proc/{sleep_pid}")).exists(),
        "the grandchild survived PID 1"
    );
}
