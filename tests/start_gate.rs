//! The start gate (`Container::start_gate`): the child is set up and
//! waits; the program runs only once a byte arrives on the gate.

#[macro_use]
mod common;

use containment::{Container, Namespaces, SpawnError, Stdio, Step};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;

/// The tests here look at this process's children: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn pipe() -> (std::fs::File, std::fs::File) {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
    (std::fs::File::from(r), std::fs::File::from(w))
}

fn exe_of(pid: u32) -> String {
    std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[test]
fn program_runs_only_after_the_start_byte() {
    require_root!();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (gate_r, mut gate_w) = pipe();
    let mut child = Container::new()
        .unshare(Namespaces::PID | Namespaces::MOUNT | Namespaces::UTS)
        .hostname("gated")
        .command("/bin/sh")
        .args(["-c", "hostname; echo started"])
        .stdout(Stdio::Piped)
        .start_gate(OwnedFd::from(gate_r))
        .spawn()
        .unwrap();
    // Set up (its UTS namespace has the name already) but not exec'd: its
    // executable is still this test binary, not the shell.
    let pid = child.id();
    let me = std::fs::read_link("/proc/self/exe").unwrap();
    assert_eq!(exe_of(pid), me.to_string_lossy());
    assert_ne!(
        std::fs::read_link(format!("/proc/{pid}/ns/uts")).unwrap(),
        std::fs::read_link("/proc/self/ns/uts").unwrap()
    );
    assert_eq!(child.try_wait().unwrap(), None);
    gate_w.write_all(b"1").unwrap();
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert_eq!(out, "gated\nstarted\n");
}

#[test]
fn eof_on_the_gate_exits_without_running_the_program() {
    require_root!();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (gate_r, gate_w) = pipe();
    let dir = std::env::temp_dir().join(format!("gate-eof-{}", std::process::id()));
    let _ = std::fs::remove_file(&dir);
    let mut child = Container::new()
        .command("/bin/touch")
        .args([&dir])
        .start_gate(OwnedFd::from(gate_r))
        .spawn()
        .unwrap();
    drop(gate_w);
    let st = child.wait().unwrap();
    assert_eq!(st.code(), Some(0));
    assert!(!dir.exists(), "the program ran without a start byte");
}

#[test]
fn a_missing_program_fails_the_spawn_and_leaves_no_process() {
    require_root!();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (gate_r, _gate_w) = pipe();
    let err = Container::new()
        .unshare(Namespaces::PID | Namespaces::MOUNT)
        .command("/no/such/program")
        .start_gate(OwnedFd::from(gate_r))
        .spawn()
        .unwrap_err();
    match err {
        SpawnError::Child(c) => {
            assert_eq!(c.step(), Step::Exec);
            assert_eq!(c.errno(), libc::ENOENT);
        }
        e => panic!("unexpected error {e}"),
    }
    assert!(common::children().is_empty(), "{:?}", common::children());
}

/// A `/bin/true` with its own PID and mount namespaces, in a cgroup under
/// `parent`, waiting at the start gate `gate`.
fn gated_true(parent: &common::v1parent::Parent, gate: std::fs::File) -> containment::Command {
    let mut c = Container::new()
        .unshare(Namespaces::PID | Namespaces::MOUNT)
        .cgroup(parent.spec())
        .command("/bin/true");
    c.start_gate(OwnedFd::from(gate));
    c
}

/// After a failed `spawn_with`: the child (`pid`) is reaped and every
/// directory of the cgroup the spawn made (`dirs`) is gone.
fn assert_undone((pid, dirs): (u32, Vec<std::path::PathBuf>)) {
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the child {pid} was left (or not reaped)"
    );
    assert!(!dirs.is_empty());
    let left: Vec<_> = dirs.iter().filter(|d| d.exists()).collect();
    assert!(left.is_empty(), "the spawn's cgroup was left: {left:?}");
}

/// `Command::spawn_with`: the caller's work runs once the child is cloned
/// and before it is set up (its executable is still ours, it already sits
/// in the cgroup the spawn made); an error there kills and reaps the child
/// and removes that cgroup.
#[test]
fn spawn_with_runs_during_the_setup_and_its_error_undoes_the_spawn() {
    require_root!();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let parent = common::v1parent::Parent::new("spawn-with");
    let me = std::fs::read_link("/proc/self/exe").unwrap();
    let (gate_r, mut gate_w) = pipe();
    let mut seen = None;
    let mut child = gated_true(&parent, gate_r)
        .spawn_with(|pid, cg| {
            let cg = cg.expect("the spawn made a cgroup");
            let procs = std::fs::read_to_string(cg.path().join("cgroup.procs")).unwrap();
            seen = Some((
                pid,
                exe_of(pid),
                procs.lines().any(|l| l == pid.to_string()),
            ));
            Ok(())
        })
        .unwrap();
    let (pid, exe, in_cgroup) = seen.expect("spawn_with did not call its closure");
    assert_eq!(pid, child.id());
    assert_eq!(exe, me.to_string_lossy(), "the closure ran after the exec");
    assert!(in_cgroup, "the child was not in its cgroup2 directory yet");
    gate_w.write_all(b"1").unwrap();
    assert!(child.wait().unwrap().success());
    drop(child);

    let (gate_r, _gate_w) = pipe();
    let mut got = None;
    let r = gated_true(&parent, gate_r).spawn_with(|pid, cg| {
        got = Some((pid, cg.map(|c| c.dirs()).unwrap_or_default()));
        Err(std::io::Error::other("refused by the caller"))
    });
    match r {
        Err(SpawnError::Setup { op, source, .. }) => {
            assert_eq!(op, "the caller's work during the spawn");
            assert_eq!(source.to_string(), "refused by the caller");
        }
        other => panic!("expected the closure's error, got {other:?}"),
    }
    assert_undone(got.expect("spawn_with did not call its closure"));
}

/// A `during` that panics: the panic reaches the caller, and the spawn is
/// undone as for an error (the child killed and reaped, the cgroup the
/// spawn made removed).
#[test]
fn spawn_with_a_panicking_closure_leaves_no_process_and_no_cgroup() {
    require_root!();
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let parent = common::v1parent::Parent::new("spawn-with-panic");
    let (gate_r, _gate_w) = pipe();
    let mut got = None;
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        gated_true(&parent, gate_r).spawn_with(|pid, cg| {
            got = Some((pid, cg.map(|c| c.dirs()).unwrap_or_default()));
            panic!("the caller's work panicked");
        })
    }));
    assert!(r.is_err(), "the panic did not reach the caller");
    assert_undone(got.expect("spawn_with did not call its closure"));
}
