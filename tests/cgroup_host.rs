//! cgroup v2 on this host's own cgroup2 mount (found in mountinfo; on hybrid
//! machines `/sys/fs/cgroup/unified`): lifecycle, events, kill, remove,
//! `CLONE_INTO_CGROUP`, and the typed error for a missing controller. Needs
//! root; does not need any resource controller, so it runs on hybrid hosts.
//! Every test removes what it created (a Drop guard) and asserts it is gone.

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use containment::cgroup::{Backend, Cgroup, Error, Hierarchy, HierarchyKind, Resources};

/// Kills and removes a test's cgroup tree even when the test panics.
struct Guard(PathBuf);

impl Drop for Guard {
    fn drop(&mut self) {
        if !self.0.exists() {
            return;
        }
        // Best effort cleanup on a failed test: kill, then rmdir depth-first.
        let _ = std::fs::write(self.0.join("cgroup.kill"), "1");
        if let Ok(cg) = Cgroup::open(&self.0) {
            let _ = cg.with_timeout(Duration::from_secs(5)).remove();
        }
    }
}

/// A fresh cgroup directly under the cgroup2 mount, with its guard.
fn fresh(tag: &str) -> Option<(Cgroup, Guard)> {
    let h = Hierarchy::detect().unwrap();
    let mount = h.mount_point()?.to_path_buf();
    let cg = Cgroup::create_under(&mount, &common::unique(tag)).unwrap();
    let g = Guard(cg.path().to_path_buf());
    Some((cg, g))
}

macro_rules! setup {
    ($tag:expr) => {{
        require_root!();
        let h = Hierarchy::detect().unwrap();
        require!(h.mount_point().is_some(), "no cgroup2 mount on this host");
        fresh($tag).unwrap()
    }};
}

/// `sh -c CMD`, for commands that never fork (shell builtins only).
fn spawn(cmd: &str) -> Child {
    Command::new("/bin/sh").arg("-c").arg(cmd).spawn().unwrap()
}

/// `sleep 100` as one process. (Not through `sh -c`: dash forks for it, and
/// a fork before `attach` would leave the sleep outside the cgroup.)
fn sleep_100() -> Child {
    Command::new("sleep").arg("100").spawn().unwrap()
}

/// Spawns `sh -c "read _; CMD"`: it waits on its stdin, so the test can
/// attach it before it forks or runs; [`release`] lets it go.
fn spawn_gated(cmd: &str) -> Child {
    Command::new("/bin/sh")
        .arg("-c")
        .arg(format!("read _; {cmd}"))
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn release(child: &mut Child) {
    use std::io::Write;
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"go\n").unwrap();
}

/// utime + stime of a process in clock ticks, from /proc/<pid>/stat.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = stat.rsplit_once(')').unwrap().1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // After "(comm)": state is field 3, utime 14, stime 15 (1-based).
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

fn proc_state(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("State:"))
        .unwrap_or("")
        .to_string()
}

fn events(path: &Path) -> String {
    std::fs::read_to_string(path.join("cgroup.events")).unwrap()
}

#[test]
fn hierarchy_is_found_from_mountinfo() {
    let h = Hierarchy::detect().unwrap();
    require!(
        h.kind() != HierarchyKind::Legacy,
        "legacy host: no cgroup2 mount"
    );
    let mount = h.mount_point().unwrap();
    assert!(mount.join("cgroup.controllers").exists(), "{mount:?}");
    // Our own cgroup is a directory of that mount and lists our pid.
    let own = h.own_cgroup().unwrap();
    let procs = std::fs::read_to_string(own.join("cgroup.procs")).unwrap();
    assert!(
        procs
            .lines()
            .any(|l| l.trim() == std::process::id().to_string()),
        "{own:?}: {procs}"
    );
    // open() accepts only directories of the cgroup2 mount.
    assert!(matches!(
        Cgroup::open("/tmp"),
        Err(Error::NotInHierarchy { .. })
    ));
    let me = Cgroup::open(&own).unwrap();
    assert!(me.procs().unwrap().contains(&std::process::id()));
    eprintln!(
        "host: {:?}, cgroup2 at {mount:?}, root controllers {:?}, v1 {:?}",
        h.kind(),
        h.root_controllers().unwrap(),
        h.v1_controllers()
    );
}

#[test]
fn create_attach_freeze_thaw_kill_remove() {
    let (cg, _g) = setup!("cg-life");
    let path = cg.path().to_path_buf();
    assert!(!cg.is_populated().unwrap());

    let mut child = spawn("while :; do :; done");
    let pid = child.id();
    cg.attach(pid).unwrap();
    // The kernel shows it: cgroup.procs and /proc/<pid>/cgroup.
    assert_eq!(cg.procs().unwrap(), [pid]);
    let pc = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let want = format!("0::{}", cg.hierarchy_path().display());
    assert!(pc.lines().any(|l| l == want), "{pc} lacks {want}");
    assert!(events(&path).contains("populated 1"));
    assert!(cg.is_populated().unwrap());

    // Freeze: cgroup.events says frozen 1 and the busy loop stops burning CPU.
    let t = Instant::now();
    cg.freeze().unwrap();
    let freeze_time = t.elapsed();
    assert!(events(&path).contains("frozen 1"), "{}", events(&path));
    assert!(cg.is_frozen().unwrap());
    eprintln!("frozen task {}", proc_state(pid));
    let a = cpu_ticks(pid);
    std::thread::sleep(Duration::from_millis(300));
    let b = cpu_ticks(pid);
    assert_eq!(a, b, "a frozen task used CPU");

    // Thaw: frozen 0 and it runs again.
    cg.thaw().unwrap();
    assert!(events(&path).contains("frozen 0"));
    let a = cpu_ticks(pid);
    std::thread::sleep(Duration::from_millis(300));
    let b = cpu_ticks(pid);
    assert!(b > a, "a thawed task made no progress ({a} -> {b})");

    // Kill: SIGKILL, the cgroup empties (populated 0), the child died of 9.
    let t = Instant::now();
    cg.kill().unwrap();
    assert!(cg.wait_until_empty(Duration::from_secs(5)).unwrap());
    let kill_time = t.elapsed();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
    assert!(events(&path).contains("populated 0"));
    assert!(cg.procs().unwrap().is_empty());

    cg.remove().unwrap();
    assert!(!path.exists(), "{path:?} left behind");
    eprintln!("freeze {freeze_time:?}, kill until empty {kill_time:?}");
}

#[test]
fn wait_until_empty_wakes_when_the_last_process_exits() {
    let (cg, _g) = setup!("cg-empty");
    let mut child = spawn_gated("sleep 0.3");
    cg.attach(child.id()).unwrap();
    release(&mut child);
    assert!(cg.is_populated().unwrap());
    // Not empty within 50 ms, empty soon after the sleep ends.
    assert!(!cg.wait_until_empty(Duration::from_millis(50)).unwrap());
    let t = Instant::now();
    assert!(cg.wait_until_empty(Duration::from_secs(5)).unwrap());
    let waited = t.elapsed();
    assert!(child.wait().unwrap().success());
    assert!(!cg.is_populated().unwrap());
    eprintln!("woke {waited:?} after the wait began (sleep 0.3 s)");
    let path = cg.path().to_path_buf();
    cg.remove().unwrap();
    assert!(!path.exists());
}

#[test]
fn kill_fallback_kills_forked_processes_in_nested_cgroups() {
    let (cg, _g) = setup!("cg-killfb");
    let path = cg.path().to_path_buf();
    // A nested cgroup holding a shell that forks two more sleeps.
    let inner = Cgroup::create_under(&path, "inner").unwrap();
    let mut child = spawn_gated("sleep 100 & sleep 100 & wait");
    inner.attach(child.id()).unwrap();
    release(&mut child);
    // Let the shell fork (its children inherit the cgroup).
    let t = Instant::now();
    while inner.procs().unwrap().len() < 3 && t.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(inner.procs().unwrap().len(), 3);
    assert!(cg.is_populated().unwrap());

    // The pre-5.14 fallback, used explicitly: signal every pid, repeatedly.
    cg.kill_each().unwrap();
    assert!(cg.wait_until_empty(Duration::from_secs(5)).unwrap());
    child.wait().unwrap();
    assert!(!cg.is_frozen().unwrap(), "fallback must thaw after killing");

    // remove() takes the child cgroup away first (depth-first).
    drop(inner);
    cg.remove().unwrap();
    assert!(!path.exists(), "{path:?} left behind");
}

#[test]
fn remove_refuses_while_populated_then_succeeds() {
    let (cg, _g) = setup!("cg-busy");
    let path = cg.path().to_path_buf();
    let mut child = sleep_100();
    cg.attach(child.id()).unwrap();
    let cg = cg.with_timeout(Duration::from_millis(100));
    // remove consumes the handle; reopen to retry.
    match cg.remove() {
        Err(Error::Timeout { what, .. }) => assert_eq!(what, "populated 0"),
        other => panic!("{other:?}"),
    }
    assert!(path.exists());
    // destroy = kill + remove (docker rm -f).
    let cg = Cgroup::open(&path).unwrap();
    assert_eq!(cg.procs().unwrap(), [child.id()]);
    cg.destroy().unwrap();
    child.wait().unwrap();
    assert!(!path.exists());
}

#[test]
fn clone_into_cgroup_places_the_child() {
    use containment::testing::{clone3, CloneArgs, CloneFlags};
    use std::os::fd::{AsFd, AsRawFd};
    let (cg, _g) = setup!("cg-into");
    let path = cg.path().to_path_buf();
    let mut args = CloneArgs {
        flags: CloneFlags::INTO_CGROUP.bits(),
        exit_signal: libc::SIGCHLD as u64,
        cgroup: cg.as_fd().as_raw_fd() as u64,
        ..CloneArgs::default()
    };
    let t = Instant::now();
    // SAFETY: the child only calls pause() and _exit(), both
    // async-signal-safe, and never returns into Rust code.
    let pid = unsafe { clone3(&mut args) }.unwrap();
    if pid == 0 {
        // SAFETY: async-signal-safe calls only.
        unsafe {
            libc::pause();
            libc::_exit(0);
        }
    }
    let clone_time = t.elapsed();
    let pid = pid as u32;
    // Started inside: cgroup.procs and /proc/<pid>/cgroup show it.
    assert_eq!(cg.procs().unwrap(), [pid]);
    let pc = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let want = format!("0::{}", cg.hierarchy_path().display());
    assert!(pc.lines().any(|l| l == want), "{pc} lacks {want}");

    // For comparison: moving a running process with cgroup.procs.
    let other = Cgroup::create_under(&path, "moved").unwrap();
    let mut sleeper = sleep_100();
    let t = Instant::now();
    other.attach(sleeper.id()).unwrap();
    let attach_time = t.elapsed();
    eprintln!("clone3(CLONE_INTO_CGROUP) {clone_time:?}, cgroup.procs write {attach_time:?}");

    cg.kill().unwrap();
    let mut status = 0;
    // SAFETY: waiting for our own child; status is a valid out pointer.
    let r = unsafe { libc::waitpid(pid as i32, &mut status, 0) };
    assert_eq!(r, pid as i32);
    assert!(libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL);
    sleeper.wait().unwrap();
    drop(other);
    cg.remove().unwrap();
    assert!(!path.exists());
}

#[test]
fn a_limit_needing_a_missing_controller_is_a_typed_error() {
    let (cg, _g) = setup!("cg-noctl");
    let h = Hierarchy::detect().unwrap();
    // Forced onto the cgroup2 alone (a hybrid host would otherwise drive
    // these controllers in their v1 hierarchies: tests/cgroup_v1.rs).
    let name = cg
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    cg.remove().unwrap();
    let cg = Cgroup::create_with(&h, Backend::V2, h.mount_point(), &name).unwrap();
    let path = cg.path().to_path_buf();
    let root = h.root_controllers().unwrap();
    let r = Resources::new().memory_max(64u64 << 20).pids_max(16);
    let missing: Vec<&str> = r
        .controllers()
        .into_iter()
        .filter(|c| !root.iter().any(|x| x == c))
        .collect();
    match cg.apply(&r) {
        Err(Error::ControllerUnavailable {
            controller, file, ..
        }) => {
            assert_eq!(controller, missing[0]);
            assert_eq!(file, h.mount_point().unwrap().join("cgroup.controllers"));
            eprintln!("typed error as expected: {}", cg.apply(&r).unwrap_err());
            // Nothing was written or enabled.
            assert!(cg.read_optional("memory.max").unwrap().is_none());
        }
        Ok(()) => {
            // A pure v2 host offers both: then the limits must be in place.
            assert!(
                missing.is_empty(),
                "apply succeeded though {missing:?} are missing"
            );
            assert_eq!(cg.read("pids.max").unwrap().trim(), "16");
        }
        Err(e) => panic!("unexpected error: {e}"),
    }
    // Validation errors name the field even before controllers are looked at.
    assert_eq!(
        cg.apply(&Resources::new().cpus(100_000.0))
            .unwrap_err()
            .field(),
        Some("cpus")
    );
    cg.remove().unwrap();
    assert!(!path.exists());
}

#[test]
fn stats_on_a_tracking_only_cgroup() {
    let (cg, _g) = setup!("cg-stats");
    let path = cg.path().to_path_buf();
    let mut child = spawn_gated("i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done");
    cg.attach(child.id()).unwrap();
    release(&mut child);
    child.wait().unwrap();
    // cpu.stat usage is core v2 (no controller needed); absent files are None.
    let s = cg.stats().unwrap();
    assert!(s.cpu.usage_usec.is_some_and(|u| u > 0), "{s:?}");
    let h = Hierarchy::detect().unwrap();
    if !h.root_controllers().unwrap().iter().any(|c| c == "memory") {
        assert_eq!(s.memory.current, None);
        assert_eq!(s.memory.events, None);
    }
    eprintln!("stats: {:?}", s.cpu);
    cg.remove().unwrap();
    assert!(!path.exists());
}
