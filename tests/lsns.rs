//! The namespace listing agrees with util-linux `lsns` run at the same
//! moment, for the namespaces of the processes this test created.

#[macro_use]
mod common;

use containment::namespace::{list_namespaces, NsListing};
use containment::{Child, Container, Namespace, Namespaces};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::{Duration, Instant};

/// One row of `lsns -r -n -o NS,TYPE,NPROCS,PID,ONS`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Row {
    nprocs: usize,
    pid: i32,
    owner: u64,
}

fn lsns() -> Option<BTreeMap<(u64, String), Row>> {
    let out = Command::new("lsns")
        .args(["-r", "-n", "-o", "NS,TYPE,NPROCS,PID,ONS"])
        .output()
        .ok()?;
    assert!(out.status.success(), "lsns: {out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let mut rows = BTreeMap::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 5, "lsns line {line:?}");
        rows.insert(
            (f[0].parse().unwrap(), f[1].to_string()),
            Row {
                nprocs: f[2].parse().unwrap(),
                pid: f[3].parse().unwrap(),
                owner: f[4].parse().unwrap(),
            },
        );
    }
    Some(rows)
}

fn spawn(ns: Namespaces, script: &str) -> Child {
    Container::new()
        .unshare(ns)
        .command("/bin/sh")
        .args(["-c", script])
        .spawn()
        .unwrap()
}

/// Waits until the namespace of `kind` of `pid` holds `n` processes.
fn settle(pid: i32, kind: Namespace, n: usize) -> NsListing {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let l = list_namespaces().unwrap();
        let id = l.process(pid).and_then(|p| p.namespace(kind)).unwrap();
        if l.get(kind, id.ino).unwrap().nprocs() == n || Instant::now() > deadline {
            return l;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn listing_agrees_with_lsns() {
    require_root!();
    require!(
        Command::new("lsns").arg("--version").output().is_ok(),
        "util-linux lsns is not installed"
    );
    let five =
        Namespaces::UTS | Namespaces::IPC | Namespaces::NET | Namespaces::PID | Namespaces::MOUNT;
    let a = spawn(five, "exec sleep 60");
    let b = spawn(five | Namespaces::CGROUP, "exec sleep 60");
    // Three processes in one set of new namespaces: sh and two sleeps. A
    // PID namespace makes sh its PID 1, so killing sh (dropping `c`) ends
    // the sleeps too instead of orphaning them.
    let three = Namespaces::UTS | Namespaces::NET | Namespaces::IPC | Namespaces::PID;
    let c = spawn(three, "sleep 60 & sleep 60 & wait");
    let ours = [(&a, five), (&b, five | Namespaces::CGROUP), (&c, three)];
    settle(c.id() as i32, Namespace::Uts, 3);

    // The same moment: our listing, then lsns, then ours again; compare when
    // the two listings of ours agree on our namespaces (nothing moved).
    let mut compared = 0;
    let mut checked = false;
    for _attempt in 0..5 {
        let before = list_namespaces().unwrap();
        let theirs = lsns().unwrap();
        let after = list_namespaces().unwrap();
        compared = 0;
        let mut stable = true;
        let mut mismatches = Vec::new();
        for (child, created) in ours {
            let pid = child.id() as i32;
            let p = before.process(pid).expect("our process is listed");
            for kind in created.kinds() {
                let id = p.namespace(kind).expect("its namespace was read");
                // Ground truth for the id: what the kernel shows.
                let ino = std::os::unix::fs::MetadataExt::ino(
                    &std::fs::metadata(format!("/proc/{pid}/ns/{}", kind.proc_name())).unwrap(),
                );
                assert_eq!(id.ino, ino, "{kind} of {pid}");
                let mine = before.get(kind, id.ino).unwrap();
                if after.get(kind, id.ino) != Some(mine) {
                    stable = false;
                }
                match theirs.get(&(id.ino, kind.proc_name().to_string())) {
                    None => mismatches.push(format!("lsns lacks {kind} {}", id.ino)),
                    Some(row) => {
                        if row.nprocs != mine.nprocs() || row.pid != mine.pid() {
                            mismatches.push(format!(
                                "{kind} {}: lsns nprocs {} pid {}, ours {} {}",
                                id.ino,
                                row.nprocs,
                                row.pid,
                                mine.nprocs(),
                                mine.pid()
                            ));
                        }
                        if Some(row.owner) != mine.owner.map(|o| o.ino) {
                            mismatches.push(format!(
                                "{kind} {}: lsns owner {}, ours {:?}",
                                id.ino, row.owner, mine.owner
                            ));
                        }
                    }
                }
                compared += 1;
            }
        }
        if !stable {
            continue;
        }
        assert!(mismatches.is_empty(), "{mismatches:#?}");
        checked = true;
        break;
    }
    assert!(checked, "the namespaces kept changing during 5 comparisons");
    assert_eq!(compared, 5 + 6 + 4, "not every namespace was compared");

    // The counts are what we built: 1, 1 and 3 processes.
    let l = list_namespaces().unwrap();
    for (child, n) in [(&a, 1), (&b, 1), (&c, 3)] {
        let id = l
            .process(child.id() as i32)
            .unwrap()
            .namespace(Namespace::Net)
            .unwrap();
        let info = l.get(Namespace::Net, id.ino).unwrap();
        assert_eq!(info.nprocs(), n, "{info:?}");
        assert_eq!(info.pid(), child.id() as i32);
        assert!(
            info.command
                .starts_with(if n == 1 { "sleep" } else { "/bin/sh" }),
            "{info:?}"
        );
    }
    // A PID namespace's parent is ours.
    let pidns = l
        .process(a.id() as i32)
        .unwrap()
        .namespace(Namespace::Pid)
        .unwrap();
    let me = l
        .process(std::process::id() as i32)
        .unwrap()
        .namespace(Namespace::Pid)
        .unwrap();
    assert_eq!(l.get(Namespace::Pid, pidns.ino).unwrap().parent, Some(me));
}

/// Run by `non_root_view_is_partial_and_says_so` as uid 65534: prints what it
/// could not see. Ignored in normal runs.
#[test]
#[ignore = "helper: run as another user by non_root_view_is_partial_and_says_so"]
fn helper_list_as_current_user() {
    let l = list_namespaces().unwrap();
    for u in &l.unreadable {
        println!(
            "UNREADABLE {} {}",
            u.pid,
            u.error.raw_os_error().unwrap_or(0)
        );
    }
    println!(
        "SEEN {}",
        l.processes
            .iter()
            .filter(|p| !p.namespaces.is_empty())
            .count()
    );
}

/// A temporary directory, removed on drop (even when the test fails).
struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempdir() -> TempDir {
    let p = std::env::temp_dir().join(common::unique("containment-lsns"));
    std::fs::create_dir(&p).unwrap();
    TempDir(p)
}

#[test]
fn non_root_view_is_partial_and_says_so() {
    require_root!();
    let a = spawn(Namespaces::UTS | Namespaces::NET, "exec sleep 60");
    // The test binary may sit in a directory uid 65534 cannot enter (a
    // clone under /root): run a world-executable copy from a temp dir.
    let dir = tempdir();
    let exe = dir.0.join("lsns-helper");
    std::fs::copy(std::env::current_exe().unwrap(), &exe).unwrap();
    std::fs::set_permissions(&dir.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The copy's write descriptor can still be open in a child another
    // test thread forks at this moment (until that child's exec closes
    // it): exec then fails with ETXTBSY. Retry for a while.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let out = loop {
        match Command::new(&exe)
            .args([
                "--exact",
                "helper_list_as_current_user",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .current_dir("/")
            .uid(65534)
            .gid(65534)
            .output()
        {
            Err(e)
                if e.raw_os_error() == Some(libc::ETXTBSY)
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            r => break r.unwrap(),
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hidden: Vec<(i32, i32)> = text
        .lines()
        .filter_map(|l| l.strip_prefix("UNREADABLE "))
        .map(|l| {
            let (p, e) = l.split_once(' ').unwrap();
            (p.parse().unwrap(), e.parse().unwrap())
        })
        .collect();
    // Our root-owned container is not visible to uid 65534, and is reported
    // as such (EACCES), not silently missing.
    assert!(
        hidden.contains(&(a.id() as i32, libc::EACCES)),
        "pid {} not reported: {hidden:?}\n{text}",
        a.id()
    );
}
