//! A terminal for the program (`Container::pty`): what the kernel
//! shows of it (`/proc/<pid>/stat` session, tty_nr and foreground group,
//! the device behind fd 0), in every spawn shape, with an init, in a user
//! namespace and with the container's own devpts (root).

#[macro_use]
mod common;

use containment::tty::{recv_fd, send_fd, Pty, WindowSize};
use containment::{Child, Container, IdMap, Namespaces, Stdio};
use std::io::{Read, Write};
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};

use common::TempDir;

/// A busybox root (every applet) under `dir/root`, world-readable for the
/// user namespace's mapped root.
fn busybox_root(dir: &Path) -> PathBuf {
    let root = common::busybox::root(dir);
    std::process::Command::new("chmod")
        .args(["-R", "a+rX"])
        .arg(dir)
        .status()
        .unwrap();
    root
}

/// Reads from the primary until `want` has been seen (or EIO: the
/// replica's last descriptor closed).
fn read_until(pty: &Pty, out: &mut String, want: &str) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        if out.contains(want) {
            return true;
        }
        match (&*pty).read(&mut buf) {
            Ok(0) | Err(_) => return out.contains(want),
            Ok(n) => out.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
}

fn read_to_end(pty: &Pty, out: &mut String) {
    read_until(pty, out, "\u{0}never");
}

/// Fields of `/proc/<pid>/stat` after the command name: (pgrp, session,
/// tty_nr, tpgid).
fn stat(pid: i32) -> (i32, i32, u64, i32) {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest: Vec<&str> = s.rsplit_once(") ").unwrap().1.split(' ').collect();
    (
        rest[2].parse().unwrap(),
        rest[3].parse().unwrap(),
        rest[4].parse().unwrap(),
        rest[5].parse().unwrap(),
    )
}

/// The program's pid: the child itself, or the init's only child.
fn program_pid(child: &Child, init: bool) -> i32 {
    let pid = child.id() as i32;
    if !init {
        return pid;
    }
    let kids = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
    let kids: Vec<i32> = kids
        .split_whitespace()
        .map(|k| k.parse().unwrap())
        .collect();
    assert_eq!(kids.len(), 1, "the init's children: {kids:?}");
    kids[0]
}

#[derive(Clone, Copy, Debug)]
struct Case {
    root: bool,
    init: bool,
    userns: bool,
    vfork: bool,
}

/// The whole story in one program: `tty`, `stty size`, a line of input,
/// a resize, the exit status; and from the host: the session, the
/// controlling terminal and its foreground group.
fn session_story(case: Case) {
    let dir = TempDir::new("story");
    let mut b = Container::new();
    let mut ns = Namespaces::PID;
    if case.root {
        ns |= Namespaces::MOUNT;
        b = b.root(busybox_root(&dir.0));
    }
    if case.userns {
        ns |= Namespaces::USER;
        b = b
            .uid_map([IdMap::new(0, 200_000, 65_536)])
            .gid_map([IdMap::new(0, 200_000, 65_536)]);
    }
    let mut b = b
        .unshare(ns)
        .init(case.init)
        .vfork_spawn(case.vfork)
        .command("/bin/sh");
    b.args([
        "-c",
        "tty; stty size; echo ready; read x; echo got:$x; stty size; exit 7",
    ])
    .pty(Some(WindowSize::new(33, 111)));
    let mut child = b.spawn().unwrap_or_else(|e| panic!("{case:?}: {e}"));
    let pty = child.take_pty().expect("a pty");
    let mut out = String::new();
    assert!(read_until(&pty, &mut out, "ready"), "{case:?}: {out}");
    let lines: Vec<&str> = out.lines().map(str::trim_end).collect();
    assert_eq!(lines[1], "33 111", "{case:?}: {out}");
    if case.root {
        // The container's own devpts instance: its first pty.
        assert_eq!(lines[0], "/dev/pts/0", "{case:?}: {out}");
    } else {
        assert!(lines[0].starts_with("/dev/pts/"), "{case:?}: {out}");
    }

    // What the kernel shows, from the host.
    let init_pid = child.id() as i32;
    let pid = program_pid(&child, case.init);
    let (pgrp, session, tty_nr, tpgid) = stat(pid);
    let fd0 = std::fs::metadata(format!("/proc/{pid}/fd/0")).unwrap();
    assert_eq!(tty_nr, fd0.rdev(), "{case:?}: controlling tty is fd 0's");
    assert!(
        (136..=143).contains(&libc::major(fd0.rdev())),
        "{case:?}: fd 0 is not a pty replica: {}",
        fd0.rdev()
    );
    let host_pts = std::fs::metadata("/dev/pts/ptmx").unwrap().dev();
    if case.root {
        assert_ne!(fd0.dev(), host_pts, "{case:?}: the host's devpts");
    } else {
        assert_eq!(fd0.dev(), host_pts, "{case:?}");
    }
    for fd in 1..=2 {
        let m = std::fs::metadata(format!("/proc/{pid}/fd/{fd}")).unwrap();
        assert_eq!((m.dev(), m.rdev()), (fd0.dev(), fd0.rdev()), "{case:?}");
    }
    // The session: led by the program, or by the init with the program
    // in a foreground group of its own.
    assert_eq!(tpgid, pgrp, "{case:?}: the program is the foreground group");
    if case.init {
        assert_eq!(session, init_pid, "{case:?}");
        assert_eq!(pgrp, pid, "{case:?}");
        let (ipgrp, isession, itty, _) = stat(init_pid);
        assert_eq!((ipgrp, isession, itty), (init_pid, init_pid, tty_nr));
    } else {
        assert_eq!((session, pgrp), (pid, pid), "{case:?}");
    }

    pty.resize(WindowSize::new(10, 40)).unwrap();
    (&pty).write_all(b"hello\n").unwrap();
    read_to_end(&pty, &mut out);
    assert!(out.contains("got:hello"), "{case:?}: {out}");
    assert_eq!(
        out.lines().last().map(str::trim_end),
        Some("10 40"),
        "{case:?}: {out}"
    );
    assert_eq!(child.wait().unwrap().code(), Some(7), "{case:?}");
}

#[test]
fn a_host_pty_in_both_shapes() {
    require_root!();
    for vfork in [false, true] {
        for init in [false, true] {
            session_story(Case {
                root: false,
                init,
                userns: false,
                vfork,
            });
        }
    }
}

#[test]
fn the_containers_own_devpts_in_both_shapes() {
    require_root!();
    for vfork in [false, true] {
        for init in [false, true] {
            session_story(Case {
                root: true,
                init,
                userns: false,
                vfork,
            });
        }
    }
}

#[test]
fn a_user_namespace_with_and_without_a_root() {
    require_root!();
    for root in [false, true] {
        for init in [false, true] {
            session_story(Case {
                root,
                init,
                userns: true,
                vfork: true,
            });
        }
    }
}

/// Ctrl-C written to the primary is SIGINT to the foreground program: a
/// trap sees it (and the init, which is not in that group, keeps running
/// and returns the program's status).
#[test]
fn ctrl_c_reaches_the_foreground_program() {
    require_root!();
    for init in [false, true] {
        let dir = TempDir::new("intr");
        let mut child = Container::new()
            .unshare(Namespaces::PID | Namespaces::MOUNT)
            .root(busybox_root(&dir.0))
            .init(init)
            .command("/bin/sh")
            .args([
                "-c",
                "trap 'echo caught; exit 9' INT; echo ready; while :; do sleep 1; done",
            ])
            .pty(None)
            .spawn()
            .unwrap();
        let pty = child.take_pty().unwrap();
        let mut out = String::new();
        assert!(read_until(&pty, &mut out, "ready"), "{out}");
        (&pty).write_all(b"\x03").unwrap();
        read_to_end(&pty, &mut out);
        assert!(out.contains("caught"), "init {init}: {out}");
        assert_eq!(child.wait().unwrap().code(), Some(9), "init {init}: {out}");
    }
    // Without a handler: killed by SIGINT (not as PID 1 of a PID
    // namespace, which the kernel sends only signals it handles).
    let mut child = Container::new()
        .unshare(Namespaces::UTS)
        .command("sleep")
        .args(["100"])
        .pty(None)
        .spawn()
        .unwrap();
    (child.pty().unwrap()).write_all(b"\x03").unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGINT));
}

/// `sh -i` under the init has job control (busybox says "can't access
/// tty; job control turned off" otherwise), and EOF ends it.
#[test]
fn an_interactive_shell_under_the_init_has_job_control() {
    require_root!();
    let dir = TempDir::new("jobs");
    let mut child = Container::new()
        .unshare(Namespaces::PID | Namespaces::MOUNT)
        .root(busybox_root(&dir.0))
        .init(true)
        .command("/bin/sh")
        .args(["-i"])
        .env("PS1", "prompt$ ")
        .pty(Some(WindowSize::new(24, 80)))
        .spawn()
        .unwrap();
    let pty = child.take_pty().unwrap();
    let mut out = String::new();
    assert!(read_until(&pty, &mut out, "prompt$ "), "{out}");
    (&pty).write_all(b"sleep 50 &\n").unwrap();
    (&pty).write_all(b"jobs; echo J$((6*7))\n").unwrap();
    assert!(read_until(&pty, &mut out, "J42"), "{out}");
    (&pty).write_all(b"kill %1; exit 4\n").unwrap();
    read_to_end(&pty, &mut out);
    assert!(!out.contains("job control turned off"), "{out}");
    assert!(out.contains("sleep 50"), "jobs lists the job: {out}");
    assert_eq!(child.wait().unwrap().code(), Some(4), "{out}");
}

/// The primary sent over a unix socket (an OCI runtime's console socket)
/// is the terminal; streams set explicitly are not the pty.
#[test]
fn the_primary_crosses_a_unix_socket() {
    require_root!();
    let dir = TempDir::new("sock");
    let mut child = Container::new()
        .unshare(Namespaces::PID | Namespaces::MOUNT)
        .root(busybox_root(&dir.0))
        .command("/bin/sh")
        .args([
            "-c",
            "read x; echo got:$x; readlink /proc/self/fd/2; echo oops >&2",
        ])
        .pty(None)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pty = child.take_pty().unwrap();
    let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
    send_fd(&a, std::os::fd::AsFd::as_fd(&pty)).unwrap();
    drop(pty);
    let pty = Pty::from_primary(recv_fd(&b).unwrap());
    (&pty).write_all(b"over\n").unwrap();
    let mut out = String::new();
    read_to_end(&pty, &mut out);
    assert!(out.contains("got:over"), "{out}");
    assert!(out.contains("/dev/null"), "{out}");
    assert!(!out.contains("oops"), "{out}");
    assert!(child.wait().unwrap().success());
}

/// `setsid` alone: a new session without a controlling terminal.
#[test]
fn setsid_alone_gives_a_session_without_a_terminal() {
    require_root!();
    for setsid in [false, true] {
        let mut child = Container::new()
            .unshare(Namespaces::empty())
            .command("sleep")
            .args(["100"])
            .setsid(setsid)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let (pgrp, session, tty_nr, _) = stat(pid);
        let me = stat(std::process::id() as i32);
        if setsid {
            assert_eq!((pgrp, session, tty_nr), (pid, pid, 0));
        } else {
            assert_eq!((pgrp, session), (me.0, me.1));
        }
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

/// A builder with a pty spawns again: each spawn gets its own terminal.
#[test]
fn each_spawn_gets_its_own_terminal() {
    require_root!();
    let mut b = Container::new().unshare(Namespaces::PID).command("/bin/sh");
    b.args(["-c", "tty"]).pty(None);
    let mut seen = Vec::new();
    let mut keep = Vec::new();
    for _ in 0..2 {
        let mut child = b.spawn().unwrap();
        let pty = child.take_pty().unwrap();
        let mut out = String::new();
        read_to_end(&pty, &mut out);
        assert!(child.wait().unwrap().success());
        seen.push(out.trim().to_string());
        keep.push(pty);
    }
    assert_ne!(seen[0], seen[1], "{seen:?}");
}

/// A session leader cannot change groups: `process_group` beside `pty` or
/// `setsid` is refused before any process exists.
#[test]
fn process_group_with_a_new_session_is_refused() {
    for pty in [false, true] {
        let mut b = Container::new()
            .unshare(Namespaces::empty())
            .command("true");
        b.process_group(0);
        if pty {
            b.pty(None);
        } else {
            b.setsid(true);
        }
        match b.spawn() {
            Err(containment::SpawnError::InvalidConfig { field, .. }) => {
                assert_eq!(field, "process_group")
            }
            other => panic!("{other:?}"),
        }
    }
}
