//! Issue #11, items 2 (pool holders), 5 and 6: what the crate leaves
//! running dies with its owner, and every shape of spawn behaves alike.
//!
//! Several tests re-execute this test binary in a *role* (the `role_*`
//! functions, which do nothing unless `LIFE_ROLE` names them): a process
//! that owns a pool or spawns containers and is SIGKILLed at random
//! moments, or one that changes process-wide signal dispositions. Each such
//! process is started in a cgroup of the test's own, so what it leaves
//! behind is found there (and killed with `cgroup.kill` at the end).

#[macro_use]
mod common;

use containment::pool::NamespacePool;
use containment::{Container, IdMap, Namespaces, Stdio};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const ROLE: &str = "LIFE_ROLE";

fn role() -> Option<String> {
    std::env::var(ROLE).ok()
}

/// A small xorshift generator (no dependency): random kill moments.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as u64;
        Rng(t ^ (std::process::id() as u64) << 32 | 1)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A command running this binary's test `name` in role `role`, started in
/// the cgroup `cg` (written from the forked child before exec).
fn role_command(name: &str, role: &str, cg: &Path, env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let procs = std::ffi::CString::new(
        cg.join("cgroup.procs")
            .into_os_string()
            .into_encoded_bytes(),
    )
    .unwrap();
    // SAFETY: open/write/close on a prepared string: async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                return Err(std::io::Error::last_os_error());
            }
            libc::close(fd);
            Ok(())
        });
    }
    cmd
}

/// The pids in our test cgroup `cg` (and its children).
fn procs_in(cg: &Path) -> Vec<i32> {
    let mut v = Vec::new();
    let mut dirs = vec![cg.to_path_buf()];
    while let Some(d) = dirs.pop() {
        if let Ok(s) = std::fs::read_to_string(d.join("cgroup.procs")) {
            v.extend(s.lines().filter_map(|l| l.parse::<i32>().ok()));
        }
        if let Ok(rd) = std::fs::read_dir(&d) {
            dirs.extend(
                rd.flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path()),
            );
        }
    }
    v
}

fn comm(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Waits (up to `limit`) for our cgroup to empty; returns what stays. A
/// process that lives on forever (an orphan, a blocked holder) stays; the
/// limit only bounds the wait for ones that are still exiting.
fn leftovers(cg: &Path, limit: Duration) -> Vec<(i32, String)> {
    let deadline = Instant::now() + limit;
    loop {
        let p = procs_in(cg);
        if p.is_empty() || Instant::now() >= deadline {
            return p.into_iter().map(|p| (p, comm(p))).collect();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Kills whatever is left in our cgroup (our own processes only).
struct KillOnDrop(PathBuf);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = std::fs::write(self.0.join("cgroup.kill"), "1");
        let _ = leftovers(&self.0, Duration::from_secs(10));
    }
}

/// Runs `runs` processes in `role`, each SIGKILLed after a random delay
/// below `max_ms` (or left to exit by itself when `kill` is false), all in
/// one cgroup of ours; returns what is left in it afterwards.
fn run_and_kill(
    test: &str,
    role: &str,
    env: &[(&str, &str)],
    runs: usize,
    max_ms: u64,
    kill: bool,
) -> Vec<(i32, String)> {
    let cg = common::TestCgroup::new("life").expect("a cgroup of our own");
    let _kill = KillOnDrop(cg.0.clone());
    let mut rng = Rng::new();
    for _ in 0..runs {
        let mut c = role_command(test, role, &cg.0, env).spawn().unwrap();
        if kill {
            std::thread::sleep(Duration::from_micros(2000 + rng.below(max_ms * 1000)));
            // The role runs until killed: one that ended by itself failed
            // (and would make this test pass for nothing).
            if let Some(st) = c.try_wait().unwrap() {
                panic!("role {role} ended by itself ({st}) instead of running until killed");
            }
            let _ = c.kill();
            let _ = c.wait();
        } else {
            let st = c.wait().unwrap();
            assert!(st.success(), "role {role} failed: {st}");
        }
    }
    leftovers(&cg.0, Duration::from_secs(30))
}

// ------------------------------------------------------------ pool holders

const POOL_KINDS: Namespaces = Namespaces::NET
    .union(Namespaces::UTS)
    .union(Namespaces::IPC)
    .union(Namespaces::MOUNT);

/// Role: owns a pool and makes it refill without end (take and drop).
#[test]
fn role_pool_owner() {
    if role().as_deref() != Some("pool_owner") {
        return;
    }
    let pool = NamespacePool::new(POOL_KINDS, 4).unwrap();
    loop {
        if let Some(set) = pool.take() {
            drop(set);
        } else {
            std::thread::yield_now();
        }
    }
}

/// Role: exits cleanly (from main, while the filler is refilling).
#[test]
fn role_pool_clean_exit() {
    if role().as_deref() != Some("pool_clean_exit") {
        return;
    }
    let pool = NamespacePool::new(POOL_KINDS, 2).unwrap();
    assert!(pool.wait_ready(2, Duration::from_secs(30)));
    drop(pool.take());
    drop(pool.take());
    // Refills under way: exit the process without dropping the pool.
    std::process::exit(0);
}

#[test]
fn pool_holders_die_with_their_owner_killed_at_random() {
    require_root!();
    require!(
        common::TestCgroup::new("life-probe").is_some(),
        "needs a cgroup2 mount"
    );
    let left = run_and_kill("role_pool_owner", "pool_owner", &[], 100, 40, true);
    assert!(
        left.is_empty(),
        "left after 100 SIGKILLs of a pool's owner: {left:?}"
    );
}

#[test]
fn pool_holders_do_not_outlive_a_clean_exit_during_a_refill() {
    require_root!();
    require!(
        common::TestCgroup::new("life-probe").is_some(),
        "needs a cgroup2 mount"
    );
    let left = run_and_kill("role_pool_clean_exit", "pool_clean_exit", &[], 50, 0, false);
    assert!(
        left.is_empty(),
        "left after 50 clean exits during a refill: {left:?}"
    );
}

/// A holder holds nothing of its owner's: no descriptor but its two pipe
/// ends (what /proc/<pid>/fd shows for it).
#[test]
fn pool_holder_holds_no_descriptor_of_the_owner() {
    require_root!();
    // A holder lives only while a set is being made: catch one from another
    // thread by looking at our children whose comm is this thread's.
    let me = std::process::id();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let seen = std::thread::scope(|s| {
        let maker = s.spawn(|| {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                drop(containment::pool::PooledNamespaces::create(POOL_KINDS).unwrap());
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut seen = None;
        while seen.is_none() && Instant::now() < deadline {
            for (pid, _) in common::children() {
                // Our children that are not in our network namespace: a
                // holder (clone without exec).
                let ns = |p: &str| std::fs::read_link(format!("/proc/{p}/ns/net")).ok();
                let (Some(a), Some(b)) = (ns(&pid.to_string()), ns(&me.to_string())) else {
                    continue;
                };
                if a == b {
                    continue;
                }
                let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
                    continue;
                };
                let fds: Vec<_> = match std::fs::read_dir(format!("/proc/{pid}/fd")) {
                    Ok(rd) => rd.flatten().map(|e| e.file_name()).collect(),
                    Err(_) => continue,
                };
                // Asleep: blocked on its pipe (or in the netlink exchange
                // that brings lo up). From then on it holds its two pipe
                // ends (and the netlink socket for a moment) only.
                if status.contains("State:\tS") {
                    seen = Some((pid, fds));
                    break;
                }
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        maker.join().unwrap();
        seen
    });
    let (pid, fds) = seen.expect("saw a holder within 60 s");
    assert!(fds.len() <= 3, "holder {pid} holds descriptors {fds:?}");
}

// --------------------------------------------------------- die_with_parent

/// Role: spawns containers of the shape `LIFE_SHAPE` with
/// `die_with_parent(true)`, one after another, without end.
#[test]
fn role_dwp_spawner() {
    if role().as_deref() != Some("dwp_spawner") {
        return;
    }
    let ns = match std::env::var("LIFE_SHAPE").unwrap().as_str() {
        "user-net-mnt-pid" => {
            Namespaces::USER | Namespaces::NET | Namespaces::MOUNT | Namespaces::PID
        }
        "user-uts" => Namespaces::USER | Namespaces::UTS,
        "net-mnt-pid-uts-ipc" => {
            Namespaces::NET
                | Namespaces::MOUNT
                | Namespaces::PID
                | Namespaces::UTS
                | Namespaces::IPC
        }
        s => panic!("unknown shape {s}"),
    };
    let mut kept = Vec::with_capacity(1);
    loop {
        let mut b = Container::new();
        if ns.contains(Namespaces::USER) {
            b = b
                .uid_map([IdMap::new(0, 100_000, 65_536)])
                .gid_map([IdMap::new(0, 100_000, 65_536)]);
        }
        let c = b
            .unshare(ns)
            .die_with_parent(true)
            .command("/bin/sleep")
            .args(["1000"])
            .spawn()
            .unwrap();
        // Dropping the previous one kills and reaps it.
        kept.clear();
        kept.push(c);
    }
}

fn die_with_parent_leaves_no_orphan(shape: &str) {
    require_root!();
    require!(
        common::TestCgroup::new("life-probe").is_some(),
        "needs a cgroup2 mount"
    );
    let left = run_and_kill(
        "role_dwp_spawner",
        "dwp_spawner",
        &[("LIFE_SHAPE", shape)],
        200,
        30,
        true,
    );
    assert!(
        left.is_empty(),
        "{shape}: orphans after 200 SIGKILLs: {left:?}"
    );
}

#[test]
fn die_with_parent_no_orphans_user_net_mnt_pid() {
    die_with_parent_leaves_no_orphan("user-net-mnt-pid");
}

#[test]
fn die_with_parent_no_orphans_user_uts() {
    die_with_parent_leaves_no_orphan("user-uts");
}

#[test]
fn die_with_parent_no_orphans_net_mnt_pid_uts_ipc() {
    die_with_parent_leaves_no_orphan("net-mnt-pid-uts-ipc");
}

// ---------------------------------------------------------------- signals

/// Runs role `role` of this binary in a process of its own and asserts it
/// passed (process-wide signal dispositions stay out of the harness).
fn run_role(test: &str, role: &str) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(ROLE, role)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "role {role} failed:\n{text}");
    assert!(text.contains("ROLE-OK"), "role {role} did not run:\n{text}");
}

fn ignore(sig: i32) {
    // SAFETY: sets a process-wide disposition in a process of our own.
    unsafe { libc::signal(sig, libc::SIG_IGN) };
}

/// The program traps SIGINT and SIGUSR1 and sends them to itself, then
/// shows its ignored signals.
const TRAPS: &str = "trap 'echo INT' INT; trap 'echo USR1' USR1; kill -INT $$; kill -USR1 $$; \
                     grep SigIgn /proc/self/status";

/// Role: ignores SIGINT, SIGUSR1 and SIGRTMAX, then spawns in every shape.
#[test]
fn role_signals() {
    if role().as_deref() != Some("signals") {
        return;
    }
    ignore(libc::SIGINT);
    ignore(libc::SIGUSR1);
    ignore(libc::SIGRTMAX());
    type Shape = fn(Container) -> Container;
    let shapes: [(&str, Shape); 4] = [
        ("plain", |b| b.vfork_spawn(false)),
        ("vfork", |b| b.vfork_spawn(true)),
        ("init", |b| b.init(true)),
        ("legacy", |b| b.force_legacy_clone(true)),
    ];
    for (name, shape) in shapes {
        let b =
            shape(Container::new().unshare(Namespaces::UTS | Namespaces::PID | Namespaces::MOUNT));
        let out = b.command("/bin/sh").args(["-c", TRAPS]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{name}: {out:?}");
        assert!(
            text.contains("INT\nUSR1\n"),
            "{name}: the traps did not fire: {text:?}"
        );
        assert!(
            text.contains("SigIgn:\t0000000000000000"),
            "{name}: signals still ignored in the container: {text:?}"
        );
        // The opt-out keeps them ignored (the traps cannot be set).
        let b = shape(
            Container::new()
                .unshare(Namespaces::UTS | Namespaces::PID | Namespaces::MOUNT)
                .keep_ignored_signals(true),
        );
        let out = b.command("/bin/sh").args(["-c", TRAPS]).output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        // (Today's forked init installs handlers on the signals it
        // forwards, then resets them to the default in the program: those
        // are not kept. The exec'd init that replaces it keeps them.)
        if name != "init" {
            assert!(!text.contains("INT\n"), "{name}, kept: {text:?}");
        }
        assert!(
            !text.contains("SigIgn:\t0000000000000000"),
            "{name}, kept: {text:?}"
        );
    }
    println!("ROLE-OK");
}

#[test]
fn ignored_signals_are_reset_in_every_shape() {
    require_root!();
    run_role("role_signals", "signals");
}

// ------------------------------------------------------- reaped elsewhere

fn kernel_keeps_exit_info() -> bool {
    let mut c = Command::new("/bin/true").spawn().unwrap();
    let fd = containment::testing::pidfd_open(c.id() as i32).unwrap();
    c.wait().unwrap();
    use std::os::fd::AsFd;
    matches!(
        containment::testing::pidfd_exit_status(fd.as_fd()),
        Ok(Some(_))
    )
}

/// Role: SIGCHLD set to SIG_IGN (children reaped by the kernel at once),
/// then a reaper thread with waitpid(-1).
#[test]
fn role_reaped_elsewhere() {
    if role().as_deref() != Some("reaped_elsewhere") {
        return;
    }
    ignore(libc::SIGCHLD);
    let out = Container::new()
        .unshare(Namespaces::UTS)
        .command("/bin/sh")
        .args(["-c", "echo out; echo err >&2; exit 7"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(7), "SIG_IGN: {out:?}");
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    // SAFETY: back to the default disposition, in a process of our own.
    unsafe { libc::signal(libc::SIGCHLD, libc::SIG_DFL) };
    let mut c = Container::new()
        .unshare(Namespaces::UTS)
        .command("/bin/sh")
        .args(["-c", "read x; echo got $x; exit 3"])
        .stdout(Stdio::Piped)
        .stdin(Stdio::Piped)
        .spawn()
        .unwrap();
    let reaper = std::thread::spawn(|| {
        let mut st = 0;
        // SAFETY: reaps any child of ours (the container).
        unsafe { libc::waitpid(-1, &mut st, 0) }
    });
    use std::io::Write;
    c.stdin.as_mut().unwrap().write_all(b"it\n").unwrap();
    drop(c.stdin.take());
    let reaped = reaper.join().unwrap();
    assert_eq!(
        reaped,
        c.id() as i32,
        "the reaper thread took the container"
    );
    let out = c.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(3), "waitpid(-1): {out:?}");
    assert_eq!(out.stdout, b"got it\n");
    println!("ROLE-OK");
}

#[test]
fn status_and_output_kept_when_reaped_elsewhere() {
    require_root!();
    require!(
        kernel_keeps_exit_info(),
        "the kernel has no PIDFD_INFO_EXIT (Linux 6.15)"
    );
    run_role("role_reaped_elsewhere", "reaped_elsewhere");
}

// ------------------------------------------------------------ rootless join

/// Role, as an unprivileged uid: a USER+MOUNT+PID container, then a join of
/// all its namespaces (the PID namespace is owned by the container's user
/// namespace: it can only be entered from inside it).
#[test]
fn role_rootless_join() {
    if role().as_deref() != Some("rootless_join") {
        return;
    }
    // SAFETY: geteuid has no preconditions.
    assert_ne!(unsafe { libc::geteuid() }, 0);
    let mut target = Container::new()
        .unshare(Namespaces::USER | Namespaces::MOUNT | Namespaces::PID)
        .command("/bin/sh")
        .args(["-c", "echo ready; exec sleep 30"])
        .stdout(Stdio::Piped)
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let mut lines = std::io::BufReader::new(target.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "ready");
    let out = Container::new()
        .join_child(&target, Namespaces::all())
        .command("/bin/sh")
        .args([
            "-c",
            "echo $$; readlink /proc/self/ns/pid /proc/self/ns/user /proc/self/ns/mnt",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let got: Vec<&str> = text.lines().collect();
    let pid: u32 = got[0].parse().unwrap();
    assert!(pid > 1, "not in the container's PID namespace: pid {pid}");
    for (i, k) in ["pid", "user", "mnt"].into_iter().enumerate() {
        let theirs = std::fs::read_link(format!("/proc/{}/ns/{k}", target.id())).unwrap();
        assert_eq!(got[1 + i], theirs.to_string_lossy(), "{k}");
    }
    target.kill().unwrap();
    target.wait().unwrap();
    println!("ROLE-OK");
}

#[test]
fn rootless_join_of_user_mount_pid_container() {
    require_root!();
    require!(
        containment::probe::host().unprivileged_user_namespaces(),
        "unprivileged user namespaces are disabled on this host"
    );
    let out = common::run_test_as(54_322, "role_rootless_join", (ROLE, "rootless_join"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("ROLE-OK"),
        "rootless join failed:\n{text}"
    );
}
