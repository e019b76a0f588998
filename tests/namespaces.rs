//! Integration tests of the spawn core against the real kernel (root).

#[macro_use]
mod common;

use containment::{Container, IdMap, Namespace, Namespaces, NsFd, SpawnError, Step, TimeOffsets};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;

fn ns_ino(pid: u32, kind: Namespace) -> u64 {
    std::fs::metadata(format!("/proc/{pid}/ns/{}", kind.proc_name()))
        .unwrap()
        .ino()
}

fn self_ino(kind: Namespace) -> u64 {
    std::fs::metadata(format!("/proc/self/ns/{}", kind.proc_name()))
        .unwrap()
        .ino()
}

fn sh(ns: Namespaces, script: &str) -> std::process::Output {
    Container::new()
        .unshare(ns)
        .command("/bin/sh")
        .args(["-c", script])
        .output()
        .unwrap()
}

fn stdout(o: &std::process::Output) -> String {
    assert!(
        o.status.success(),
        "status {:?}, stderr {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn each_kind_alone_changes_only_that_kind() {
    require_root!();
    for kind in Namespace::ALL {
        let mut b = Container::new();
        if kind == Namespace::User {
            // Root must give the maps (host root is not mapped by default).
            b = b
                .uid_map([IdMap::new(0, 100_000, 65_536)])
                .gid_map([IdMap::new(0, 100_000, 65_536)]);
        }
        let mut child = b
            .unshare(kind.flag())
            .command("/bin/sleep")
            .args(["30"])
            .spawn()
            .unwrap_or_else(|e| panic!("{kind}: {e}"));
        for other in Namespace::ALL {
            let (theirs, ours) = (ns_ino(child.id(), other), self_ino(other));
            if other == kind {
                assert_ne!(
                    theirs, ours,
                    "{kind}: the child's {other} namespace is not new"
                );
                // The handle from the pidfd names the same namespace.
                let fd = child.open_namespace(other).unwrap();
                assert_eq!(fd.id().unwrap().ino, theirs);
            } else {
                assert_eq!(
                    theirs, ours,
                    "{kind}: the child's {other} namespace changed"
                );
            }
        }
        child.kill().unwrap();
        assert!(!child.wait().unwrap().success());
    }
}

#[test]
fn all_eight_at_once() {
    require_root!();
    let mut child = Container::new()
        .unshare(Namespaces::all())
        .uid_map([IdMap::new(0, 100_000, 65_536)])
        .gid_map([IdMap::new(0, 100_000, 65_536)])
        .command("/bin/sleep")
        .args(["30"])
        .spawn()
        .unwrap();
    for k in Namespace::ALL {
        assert_ne!(ns_ino(child.id(), k), self_ino(k), "{k} not new");
    }
    assert_eq!(
        std::fs::read_to_string(format!("/proc/{}/uid_map", child.id()))
            .unwrap()
            .split_whitespace()
            .collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn hostname_and_domainname_inside_host_unchanged() {
    require_root!();
    let before = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let out = Container::new()
        .unshare(Namespaces::UTS)
        .hostname("box-1")
        .domainname("example.test")
        .command("/bin/sh")
        .args([
            "-c",
            "cat /proc/sys/kernel/hostname /proc/sys/kernel/domainname",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "box-1\nexample.test\n");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap(),
        before
    );
}

#[test]
fn user_namespace_maps_and_ids() {
    require_root!();
    let mut child = Container::new()
        .unshare(Namespaces::USER)
        .uid_map([IdMap::new(0, 200_000, 1000), IdMap::new(1000, 300_000, 10)])
        .gid_map([IdMap::new(0, 200_000, 1000)])
        .command("/bin/sh")
        .args(["-c", "id -u; id -g; sleep 30"])
        .stdout(containment::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let uid_map = containment::namespace::read_id_map(pid as i32, false).unwrap();
    assert_eq!(
        uid_map,
        [IdMap::new(0, 200_000, 1000), IdMap::new(1000, 300_000, 10)]
    );
    let gid_map = containment::namespace::read_id_map(pid as i32, true).unwrap();
    assert_eq!(gid_map, [IdMap::new(0, 200_000, 1000)]);
    // Outside, the child runs as the mapped uid 200000.
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert_eq!(
        uid_line.split_whitespace().nth(1),
        Some("200000"),
        "{uid_line}"
    );
    use std::io::Read;
    let mut out = child.stdout.take().unwrap();
    let mut buf = [0u8; 16];
    let mut got = Vec::new();
    while got.iter().filter(|b| **b == b'\n').count() < 2 {
        let n = out.read(&mut buf).unwrap();
        assert!(n > 0);
        got.extend_from_slice(&buf[..n]);
    }
    assert_eq!(String::from_utf8_lossy(&got), "0\n0\n");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn user_option_runs_as_that_uid_inside() {
    require_root!();
    let out = Container::new()
        .unshare(Namespaces::USER | Namespaces::UTS)
        .uid_map([IdMap::new(0, 100_000, 2000)])
        .gid_map([IdMap::new(0, 100_000, 2000)])
        .hostname("as-user")
        .command("/bin/sh")
        .args(["-c", "id -u; id -g; hostname"])
        .uid(1000)
        .gid(1000)
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "1000\n1000\nas-user\n");
}

#[test]
fn time_offsets_applied() {
    require_root!();
    require!(
        containment::probe::host().time_namespaces(),
        "kernel without time namespaces"
    );
    let day = 86_400;
    let mut child = Container::new()
        .unshare(Namespaces::TIME)
        .time_offsets(
            TimeOffsets::new()
                .boottime_secs(day)
                .monotonic_secs(2 * day),
        )
        .command("/bin/sh")
        .args(["-c", "cat /proc/uptime; sleep 30"])
        .stdout(containment::Stdio::piped())
        .spawn()
        .unwrap();
    let offsets = std::fs::read_to_string(format!("/proc/{}/timens_offsets", child.id())).unwrap();
    let mut lines: Vec<Vec<String>> = offsets
        .lines()
        .map(|l| l.split_whitespace().map(String::from).collect())
        .collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            vec!["boottime".to_string(), day.to_string(), "0".into()],
            vec!["monotonic".to_string(), (2 * day).to_string(), "0".into()],
        ]
    );
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let inside: f64 = line.split_whitespace().next().unwrap().parse().unwrap();
    let host: f64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let shift = inside - host;
    assert!(
        (day as f64 - 5.0..=day as f64 + 1.0).contains(&shift),
        "uptime shifted by {shift}s"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

fn iface_flags(name: &str) -> i32 {
    // SAFETY: a plain socket; ifreq is plain data filled by the ioctl.
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        assert!(s >= 0);
        let mut req: libc::ifreq = std::mem::zeroed();
        for (d, c) in req.ifr_name.iter_mut().zip(name.bytes()) {
            *d = c as libc::c_char;
        }
        assert_eq!(libc::ioctl(s, libc::SIOCGIFFLAGS as _, &mut req), 0);
        libc::close(s);
        req.ifr_ifru.ifru_flags as i32
    }
}

#[test]
fn net_namespace_has_only_lo_and_it_is_up() {
    require_root!();
    let mut child = Container::new()
        .unshare(Namespaces::NET)
        .command("/bin/sleep")
        .args(["30"])
        .spawn()
        .unwrap();
    let ns = child.open_namespace(Namespace::Net).unwrap();
    // Look from inside, in a thread that joins the namespace (a network
    // namespace may be joined by one thread of a multi-threaded program).
    let (ifaces, flags) = std::thread::spawn(move || {
        ns.join().unwrap();
        let dev = std::fs::read_to_string("/proc/thread-self/net/dev").unwrap();
        let ifaces: Vec<String> = dev
            .lines()
            .skip(2)
            .map(|l| l.split(':').next().unwrap().trim().to_string())
            .collect();
        (ifaces, iface_flags("lo"))
    })
    .join()
    .unwrap();
    assert_eq!(ifaces, ["lo"]);
    assert_ne!(flags & libc::IFF_UP, 0, "lo is down");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn pid_namespace_child_is_pid_1_with_fresh_proc() {
    require_root!();
    let out = sh(
        Namespaces::PID | Namespaces::MOUNT,
        "echo $$; ls /proc | grep -c '^[0-9]'; cat /proc/1/comm",
    );
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "1");
    let n: u32 = lines[1].parse().unwrap();
    assert!(n <= 4, "/proc inside lists {n} processes");
    assert_eq!(lines[2], "sh");
    // The host's /proc is untouched (no proc mount leaked out).
    assert!(std::path::Path::new(&format!("/proc/{}", std::process::id())).exists());
}

#[test]
fn setns_into_running_child_lands_in_same_inodes() {
    require_root!();
    let ns = Namespaces::UTS
        | Namespaces::IPC
        | Namespaces::NET
        | Namespaces::CGROUP
        | Namespaces::MOUNT;
    let mut child = Container::new()
        .unshare(ns)
        .hostname("joined")
        .command("/bin/sleep")
        .args(["30"])
        .spawn()
        .unwrap();
    let fds: Vec<NsFd> = ns
        .kinds()
        .map(|k| child.open_namespace(k).unwrap())
        .collect();
    // Join in a forked, single-threaded process (a mount namespace cannot be
    // joined by a thread that shares its filesystem attributes).
    let mut cmd = std::process::Command::new("/bin/sh");
    cmd.args(["-c", "hostname; sleep 30"])
        .stdout(std::process::Stdio::piped());
    // SAFETY: the closure only calls setns (async-signal-safe) on open fds.
    unsafe {
        cmd.pre_exec(move || {
            for fd in &fds {
                fd.join().map_err(std::io::Error::other)?;
            }
            Ok(())
        });
    }
    let mut joined = cmd.spawn().unwrap();
    use std::io::BufRead;
    let mut line = String::new();
    std::io::BufReader::new(joined.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "joined\n");
    for k in ns.kinds() {
        assert_eq!(ns_ino(joined.id(), k), ns_ino(child.id(), k), "{k}");
    }
    joined.kill().unwrap();
    joined.wait().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
}

fn invalid_field(r: Result<containment::Child, SpawnError>) -> &'static str {
    match r {
        Err(e @ SpawnError::InvalidConfig { .. }) => {
            let f = e.field().unwrap();
            // The message names the field too.
            assert!(e.to_string().contains(f), "{e}");
            f
        }
        Err(e) => panic!("expected InvalidConfig, got {e}"),
        Ok(_) => panic!("expected InvalidConfig, got a process"),
    }
}

#[test]
fn bad_input_is_refused_before_any_process() {
    // These fail in the parent; no root needed. (That no process is left
    // is checked in tests/bad_input.rs, whose tests run one at a time.)
    let base = Container::new;
    assert_eq!(
        invalid_field(
            base()
                .unshare(Namespaces::UTS)
                .hostname("h".repeat(65))
                .command("/bin/true")
                .spawn()
        ),
        "hostname"
    );
    assert_eq!(
        invalid_field(
            base()
                .unshare(Namespaces::UTS)
                .hostname("a\0b")
                .command("/bin/true")
                .spawn()
        ),
        "hostname"
    );
    assert_eq!(
        invalid_field(base().hostname("box").command("/bin/true").spawn()),
        "hostname"
    );
    assert_eq!(
        invalid_field(
            base()
                .unshare(Namespaces::UTS)
                .domainname("d".repeat(65))
                .command("/bin/true")
                .spawn()
        ),
        "domainname"
    );
    assert_eq!(
        invalid_field(
            base()
                .unshare(Namespaces::USER)
                .uid_map([IdMap::new(0, 1000, 10), IdMap::new(5, 2000, 10)])
                .command("/bin/true")
                .spawn()
        ),
        "uid_map"
    );
    assert_eq!(
        invalid_field(
            base()
                .unshare(Namespaces::USER)
                .gid_map([IdMap::new(0, 1000, 0)])
                .command("/bin/true")
                .spawn()
        ),
        "gid_map"
    );
    assert_eq!(
        invalid_field(
            base()
                .unshare(Namespaces::USER)
                .gid_map([])
                .command("/bin/true")
                .spawn()
        ),
        "gid_map"
    );
    assert_eq!(
        invalid_field(
            base()
                .uid_map([IdMap::single(0, 0)])
                .command("/bin/true")
                .spawn()
        ),
        "uid_map"
    );
    assert_eq!(
        invalid_field(base().command("/bin/true").arg("a\0b").spawn()),
        "arg"
    );
    assert_eq!(
        invalid_field(base().command("/bin/true").env("K", "v\0").spawn()),
        "env"
    );
    assert_eq!(
        invalid_field(base().command("/bin/true").env("K=V", "v").spawn()),
        "env"
    );
    assert_eq!(
        invalid_field(
            base()
                .time_offsets(TimeOffsets::new().boottime_secs(5))
                .command("/bin/true")
                .spawn()
        ),
        "time_offsets"
    );
    assert_eq!(
        invalid_field(Container::new().command("").spawn()),
        "program"
    );
    assert_eq!(invalid_field(base().command("a\0").spawn()), "program");
}

#[test]
fn missing_program_is_exec_enoent() {
    require_root!();
    let e = Container::new()
        .unshare(Namespaces::UTS | Namespaces::PID)
        .command("/nonexistent/program")
        .args(["x"])
        .spawn()
        .unwrap_err();
    let c = e.child_error().unwrap_or_else(|| panic!("{e}"));
    assert_eq!(c.step(), Step::Exec);
    assert_eq!(c.errno(), libc::ENOENT);
    assert!(c.hint().is_some());
    let msg = e.to_string();
    assert!(
        msg.contains("exec") && msg.contains("ENOENT") && msg.contains("/nonexistent/program"),
        "{msg}"
    );
    // A PATH search that finds nothing is ENOENT too, and no process is left.
    let e = Container::new()
        .command("no-such-program-anywhere")
        .spawn()
        .unwrap_err();
    assert_eq!(e.child_error().unwrap().errno(), libc::ENOENT);
    assert!(common::lasting_zombies().is_empty());
}

#[test]
fn path_search_env_cwd_and_status() {
    let out = Container::new()
        .command("sh")
        .args(["-c", "pwd; echo $FOO; echo ${HOME:-unset}"])
        .env_clear()
        .env("PATH", "/nonexistent:/usr/bin:/bin")
        .env("FOO", "bar")
        .current_dir("/tmp")
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "/tmp\nbar\nunset\n");
    let st = Container::new()
        .command("/bin/sh")
        .args(["-c", "exit 7"])
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(7));
}

#[test]
fn legacy_clone_fallback_works() {
    require_root!();
    let out = Container::new()
        .force_legacy_clone(true)
        .unshare(Namespaces::UTS | Namespaces::PID | Namespaces::MOUNT | Namespaces::IPC)
        .hostname("legacy")
        .command("/bin/sh")
        .args(["-c", "hostname; echo $$"])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "legacy\n1\n");
}

#[test]
fn dropping_a_child_kills_and_reaps_it() {
    require_root!();
    let child = Container::new()
        .unshare(Namespaces::PID)
        .command("/bin/sleep")
        .args(["60"])
        .spawn()
        .unwrap();
    let pid = child.id();
    drop(child);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
}

/// Driver for the unprivileged test: when run as an unprivileged uid by
/// `user_namespace_as_unprivileged_user`, spawns a rootless container and
/// checks it. Outside that driver (no env var) there is nothing to do.
#[test]
fn inner_unprivileged_helper() {
    let Ok(uid) = std::env::var("CONTAINMENT_INNER_UID") else {
        return;
    };
    // SAFETY: geteuid has no preconditions.
    assert_eq!(unsafe { libc::geteuid() }.to_string(), uid);
    let mut child = Container::new()
        .unshare(
            Namespaces::USER
                | Namespaces::UTS
                | Namespaces::PID
                | Namespaces::MOUNT
                | Namespaces::NET
                | Namespaces::IPC,
        )
        .hostname("rootless")
        .command("/bin/sh")
        .args(["-c", "id -u; hostname; echo $$; sleep 30"])
        .stdout(containment::Stdio::piped())
        .spawn()
        .unwrap();
    let map = std::fs::read_to_string(format!("/proc/{}/uid_map", child.id())).unwrap();
    assert_eq!(
        map.split_whitespace().collect::<Vec<_>>(),
        ["0", uid.as_str(), "1"]
    );
    use std::io::BufRead;
    let lines: Vec<String> = std::io::BufReader::new(child.stdout.take().unwrap())
        .lines()
        .take(3)
        .map(|l| l.unwrap())
        .collect();
    assert_eq!(lines, ["0", "rootless", "1"]);
    child.kill().unwrap();
    child.wait().unwrap();
    println!("INNER-OK");
}

#[test]
fn user_namespace_as_unprivileged_user() {
    require_root!();
    require!(
        containment::probe::host().unprivileged_user_namespaces(),
        "unprivileged user namespaces are disabled on this host"
    );
    // An id nobody uses.
    let uid: u32 = 54_321;
    let out = common::run_test_as(
        uid,
        "inner_unprivileged_helper",
        ("CONTAINMENT_INNER_UID", &uid.to_string()),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("INNER-OK"),
        "inner test failed: {text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn time_offsets_with_user_namespace() {
    require_root!();
    // Regression: offsets are written before the child changes its ids
    // (after setresuid the process is non-dumpable and its /proc files are
    // root-owned, so the write failed with EACCES).
    let out = Container::new()
        .unshare(Namespaces::USER | Namespaces::TIME)
        .uid_map([IdMap::new(0, 100_000, 65_536)])
        .gid_map([IdMap::new(0, 100_000, 65_536)])
        .time_offsets(TimeOffsets::new().boottime_secs(1_000_000))
        .command("/bin/cat")
        .args(["/proc/uptime"])
        .output()
        .unwrap();
    let inside: f64 = stdout(&out)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(inside > 1_000_000.0, "uptime inside {inside}");
}
