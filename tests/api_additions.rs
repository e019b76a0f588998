//! The additions beside std's `CommandExt` (`arg0`, `process_group`,
//! `umask`), the `Child` stop/timeout methods, `Signal` and
//! `Namespace: FromStr`, checked against what the kernel shows.

#[macro_use]
mod common;

use containment::mount::Mount;
use containment::{Command, Container, Namespace, Namespaces, Signal, SpawnError, Stdio, Step};
use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

/// Field `n` (1-based, as proc(5) counts) of `/proc/<pid>/stat`.
fn stat_field(pid: u32, n: usize) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name (in parentheses, may hold spaces).
    let rest = &s[s.rfind(')').unwrap() + 2..];
    rest.split(' ').nth(n - 3).unwrap().to_string()
}

fn status_line(pid: u32, key: &str) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix(key).map(|v| v.trim().to_string()))
        .unwrap()
}

/// A `sleep` that has exec'd (spawn returns after exec).
fn sleeper(c: &Container) -> containment::Child {
    sleeper_with(c, |cmd| cmd)
}

/// A `sleep` with per-process settings made by `set`.
fn sleeper_with(
    c: &Container,
    set: impl FnOnce(&mut Command) -> &mut Command,
) -> containment::Child {
    set(c.command("/bin/sleep").arg("1000")).spawn().unwrap()
}

#[test]
fn umask_is_what_proc_status_shows() {
    // SAFETY: umask(2) always succeeds.
    let before = unsafe { libc::umask(0o022) };
    unsafe { libc::umask(before) };
    let child = sleeper_with(&Container::new(), |cmd| cmd.umask(0o027));
    assert_eq!(status_line(child.id(), "Umask:"), "0027");
    child.kill().unwrap();
    // The caller's own mask is untouched.
    // SAFETY: as above.
    let after = unsafe { libc::umask(before) };
    assert_eq!(after, before);
}

#[test]
fn umask_reaches_the_program_through_the_exec_helper_and_a_user_namespace() {
    let b = Container::new()
        .unshare(Namespaces::USER)
        .uid_map([containment::IdMap::new(0, 100000, 65536)])
        .gid_map([containment::IdMap::new(0, 100000, 65536)])
        .force_exec_helper(true);
    let child = match b.command("/bin/sleep").arg("1000").umask(0o077).spawn() {
        Ok(c) => c,
        Err(e) => {
            require!(false, "cannot create a user namespace here: {e}");
            unreachable!()
        }
    };
    assert_eq!(status_line(child.id(), "Umask:"), "0077");
}

#[test]
fn umask_outside_the_permission_bits_is_refused() {
    let e = Container::new()
        .command("/bin/true")
        .umask(0o4022)
        .spawn()
        .unwrap_err();
    assert_eq!(e.field(), Some("umask"), "{e}");
}

#[test]
fn process_group_zero_makes_a_new_group() {
    let child = sleeper_with(&Container::new(), |cmd| cmd.process_group(0));
    let pid = child.id();
    assert_eq!(stat_field(pid, 5), pid.to_string(), "pgrp");
    // The session stays the caller's (setpgid, not setsid).
    let me = std::process::id();
    assert_eq!(stat_field(pid, 6), stat_field(me, 6), "session");
    // Without process_group the child is in the caller's group.
    let plain = sleeper(&Container::new());
    assert_eq!(stat_field(plain.id(), 5), stat_field(me, 5));
}

#[test]
fn process_group_zero_in_a_new_pid_namespace() {
    require_root!();
    let child = sleeper_with(&Container::new().unshare(Namespaces::PID), |cmd| {
        cmd.process_group(0)
    });
    // The host sees the group under the child's host pid.
    assert_eq!(stat_field(child.id(), 5), child.id().to_string());
}

#[test]
fn process_group_of_an_existing_group() {
    // A leader in a group of its own, then a second process joining it.
    let leader = sleeper_with(&Container::new(), |cmd| cmd.process_group(0));
    let member = sleeper_with(&Container::new(), |cmd| {
        cmd.process_group(leader.id() as i32)
    });
    assert_eq!(stat_field(member.id(), 5), leader.id().to_string());
}

#[test]
fn process_group_of_another_session_fails_at_setpgid() {
    // A leader of a session of its own: its group belongs to another
    // session than ours, so joining it is EPERM (setpgid(2)). The test makes
    // that session itself rather than relying on PID 1's being another one
    // (CI may run inside PID 1's session).
    let other = sleeper_with(&Container::new(), |cmd| cmd.setsid(true));
    assert_eq!(stat_field(other.id(), 6), other.id().to_string());
    assert_ne!(stat_field(other.id(), 6), stat_field(std::process::id(), 6));
    let e = Container::new()
        .command("/bin/true")
        .process_group(other.id() as i32)
        .spawn()
        .unwrap_err();
    let c = e.child_error().unwrap_or_else(|| panic!("{e}"));
    assert_eq!(c.step(), Step::ProcessGroup);
    assert_eq!(c.errno(), libc::EPERM);
    assert!(format!("{e:?}").contains("EPERM"), "{e:?}");
    other.kill().unwrap();
}

#[test]
fn process_group_checks_at_spawn() {
    let e = Container::new()
        .unshare(Namespaces::PID)
        .command("/bin/true")
        .process_group(7)
        .spawn()
        .unwrap_err();
    assert_eq!(e.field(), Some("process_group"), "{e}");
    let e = Container::new()
        .command("/bin/true")
        .process_group(-1)
        .spawn()
        .unwrap_err();
    assert_eq!(e.field(), Some("process_group"), "{e}");
}

#[test]
fn arg0_is_argv0_in_proc_cmdline() {
    // spawn returns once the exec is under way (the error pipe closes at
    // exec), which can be before the new image's argv is set up: the
    // program says when it runs.
    let script = "echo ready; while :; do sleep 1; done";
    for helper in [false, true] {
        let child = ready_with(&Container::new().force_exec_helper(helper), script, |cmd| {
            cmd.arg0("renamed")
        });
        let cmdline = std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap();
        assert_eq!(
            cmdline,
            format!("renamed\0-c\0{script}\0").as_bytes(),
            "helper {helper}"
        );
        // The program run is still /bin/sh.
        let exe = std::fs::read_link(format!("/proc/{}/exe", child.id())).unwrap();
        let sh = std::fs::canonicalize("/bin/sh").unwrap();
        assert_eq!(exe, sh);
    }
    // A PATH search uses the program, not arg0.
    let out = Container::new()
        .command("sh")
        .args(["-c", "echo $0"])
        .arg0("not-a-program")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"not-a-program\n");
}

#[test]
fn wait_timeout_returns_none_while_running_then_the_status() {
    let mut child = sleeper(&Container::new());
    assert_eq!(child.wait_timeout(Duration::from_millis(20)).unwrap(), None);
    assert_eq!(child.wait_timeout(Duration::ZERO).unwrap(), None);
    // Still running: /proc shows it.
    assert!(std::path::Path::new(&format!("/proc/{}", child.id())).exists());
    child.kill().unwrap();
    let s = child
        .wait_timeout(Duration::from_secs(600))
        .unwrap()
        .unwrap();
    assert_eq!(s.signal(), Some(libc::SIGKILL));
    // Reaped: no longer our child.
    assert!(!common::children()
        .iter()
        .any(|(p, _)| *p == child.id() as i32));
    let mut t = Container::new().command("/bin/true").spawn().unwrap();
    let s = t.wait_timeout(Duration::from_secs(600)).unwrap().unwrap();
    assert!(s.success());
}

/// A child that printed `ready` (its traps are installed).
fn ready(b: &Container, script: &str) -> containment::Child {
    ready_with(b, script, |cmd| cmd)
}

/// [`ready`] with per-process settings made by `set`.
fn ready_with(
    b: &Container,
    script: &str,
    set: impl FnOnce(&mut Command) -> &mut Command,
) -> containment::Child {
    let mut cmd = b.command("/bin/sh");
    cmd.args(["-c", script]).stdout(Stdio::Piped);
    let mut c = set(&mut cmd).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(c.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n");
    c
}

#[test]
fn stop_sends_term_first() {
    let mut c = ready(&Container::new(), "echo ready; exec sleep 1000");
    let s = c.stop(Duration::from_secs(600)).unwrap();
    assert_eq!(s.signal(), Some(libc::SIGTERM));
    // Stopping again returns the same status.
    assert_eq!(c.stop(Duration::ZERO).unwrap(), s);
}

#[test]
fn stop_kills_after_the_grace_when_term_is_ignored() {
    let mut c = ready(
        &Container::new(),
        "trap '' TERM; echo ready; while :; do sleep 1; done",
    );
    let s = c.stop(Duration::from_millis(100)).unwrap();
    assert_eq!(s.signal(), Some(libc::SIGKILL));
}

#[test]
fn stop_with_the_images_stop_signal() {
    let mut c = ready(
        &Container::new(),
        "trap 'exit 42' USR1; echo ready; while :; do sleep 1; done",
    );
    let s = c.stop_with(
        "SIGUSR1".parse::<Signal>().unwrap(),
        Duration::from_secs(600),
    );
    assert_eq!(s.unwrap().code(), Some(42));
}

#[test]
fn stop_a_pid_1_without_handlers() {
    require_root!();
    // PID 1 of a new PID namespace gets no SIGTERM it has no handler for.
    let mut c = ready(
        &Container::new().unshare(Namespaces::PID | Namespaces::MOUNT),
        "echo ready; while :; do sleep 1; done",
    );
    let pid = c.id();
    let s = c.stop(Duration::from_millis(100)).unwrap();
    assert_eq!(s.signal(), Some(libc::SIGKILL));
    assert!(!common::children().iter().any(|(p, _)| *p == pid as i32));
}

#[test]
fn signal_takes_a_signal_or_a_number() {
    let mut c = sleeper(&Container::new());
    c.signal(0).unwrap(); // a raw number still compiles (From<i32>)
    c.signal(Signal::CONT).unwrap();
    c.signal(libc::SIGTERM).unwrap();
    assert_eq!(c.wait().unwrap().signal(), Some(libc::SIGTERM));
    assert!(c.signal(Signal::TERM).is_err(), "reaped");
}

#[test]
fn namespace_parses_what_it_displays() {
    for k in Namespace::ALL {
        assert_eq!(k.to_string().parse::<Namespace>().unwrap(), k);
        // The name is the file under /proc/<pid>/ns.
        assert!(
            std::path::Path::new("/proc/self/ns")
                .join(k.to_string())
                .exists()
                || k == Namespace::Time
        );
    }
    assert_eq!("mount".parse::<Namespace>().unwrap(), Namespace::Mount);
    assert_eq!("network".parse::<Namespace>().unwrap(), Namespace::Net);
    let e = "netns".parse::<Namespace>().unwrap_err();
    assert!(
        matches!(e, containment::namespace::Error::Parse { .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("netns"), "{e}");
}

#[test]
fn mount_without_a_mount_namespace_reads_plainly() {
    let e = Container::new()
        .mount(Mount::tmpfs("/tmp/x"))
        .command("/bin/true")
        .spawn()
        .unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, SpawnError::InvalidConfig { .. }), "{e:?}");
    assert_eq!(e.field(), Some("mount"));
    assert!(msg.contains("\"tmpfs on /tmp/x\""), "{msg}");
    assert!(!msg.contains('\\') && !msg.contains("Mount {"), "{msg}");
    let e = Container::new()
        .root("/srv/some root")
        .command("/bin/true")
        .spawn()
        .unwrap_err();
    assert!(
        e.to_string().contains("invalid root \"/srv/some root\""),
        "{e}"
    );
}
