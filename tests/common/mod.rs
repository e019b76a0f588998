//! Shared helpers of the integration tests.
//!
//! Every test that needs root or a kernel feature goes through [`skip`] (or
//! the `require!` macro), which prints why it skipped. With
//! `CONTAINMENT_NO_SKIP=1` (CI sets it) a skip is a failure, so nothing
//! silently stops being tested.
#![allow(dead_code, unused_macros)]

pub mod alloc;
pub mod busybox;
pub mod example;
pub mod v1parent;

/// Records a skipped test; panics instead when `CONTAINMENT_NO_SKIP` is set.
pub fn skip(test: &str, reason: &str) {
    if std::env::var_os("CONTAINMENT_NO_SKIP").is_some_and(|v| v != "0") {
        panic!("{test}: would be skipped, but CONTAINMENT_NO_SKIP is set: {reason}");
    }
    eprintln!("SKIPPED {test}: {reason}");
}

/// Whether we run as root (euid 0).
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// `require!(cond, "reason")`: returns from the test (through [`skip`]) when
/// `cond` is false.
macro_rules! require {
    ($cond:expr, $($why:tt)+) => {
        if !$cond {
            $crate::common::skip(module_path!(), &format!($($why)+));
            return;
        }
    };
}

/// `require_root!()`: skips unless running as root.
macro_rules! require_root {
    () => {
        require!(
            $crate::common::is_root(),
            "needs root (run the tests as root)"
        )
    };
}

/// Number of open descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Runs this test binary's test `name` as the unused uid/gid `uid` (no
/// supplementary groups), with `env` set, from `/`; returns its output.
pub fn run_test_as(uid: u32, name: &str, env: (&str, &str)) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    let mut cmd = std::process::Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(env.0, env.1)
        .current_dir("/");
    // SAFETY: only async-signal-safe calls in the forked child.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setresgid(uid, uid, uid) != 0
                || libc::setresuid(uid, uid, uid) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().unwrap()
}

/// Direct children of this process, in any state: (pid, state letter).
pub fn children() -> Vec<(i32, char)> {
    let me = std::process::id() as i32;
    let mut z = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let Some(rest) = stat.rsplit_once(')').map(|x| x.1) else {
            continue;
        };
        let mut it = rest.split_whitespace();
        let state = it.next().unwrap_or("");
        let ppid: i32 = it.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        if ppid == me {
            z.push((pid, state.chars().next().unwrap_or('?')));
        }
    }
    z
}

/// Zombie children of this process (state Z in /proc/<pid>/stat with our ppid).
pub fn zombie_children() -> Vec<i32> {
    children()
        .into_iter()
        .filter(|(_, s)| *s == 'Z')
        .map(|(p, _)| p)
        .collect()
}

/// Zombie children that stay: present in two looks 300 ms apart. In a
/// test binary whose other tests spawn concurrently, their children are
/// zombies for a moment only; a leaked one stays.
pub fn lasting_zombies() -> Vec<i32> {
    let first = zombie_children();
    if first.is_empty() {
        return first;
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let second = zombie_children();
    first.into_iter().filter(|p| second.contains(p)).collect()
}

/// Runs `cmd` to its end and returns its stdout, asserting that it
/// succeeded (the status, stdout and stderr in the message if not).
pub fn output_of(cmd: &mut containment::Command) -> String {
    let o = cmd.output().unwrap_or_else(|e| panic!("spawn: {e}"));
    assert!(
        o.status.success(),
        "status {:?}\nstdout {}\nstderr {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `/bin/sh -c script` in a container of `c`, through [`output_of`].
pub fn sh(c: &containment::Container, script: &str) -> String {
    output_of(c.command("/bin/sh").args(["-c", script]))
}

/// A unique name for things a test creates (cgroups, directories).
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A cgroup of the test's own directly under the cgroup2 mount
/// (`<prefix>-<pid>-<n>`), removed on drop with the cgroups left below it,
/// also when the test fails. Waits up to 5 s for a cgroup whose last task
/// just exited (rmdir says EBUSY for a moment).
pub struct TestCgroup(pub std::path::PathBuf);

impl TestCgroup {
    /// `None` when the host has no cgroup2 mount (or it cannot be written).
    pub fn new(prefix: &str) -> Option<TestCgroup> {
        let h = containment::cgroup::Hierarchy::detect().ok()?;
        let p = h.mount_point()?.join(unique(prefix));
        std::fs::create_dir(&p).ok()?;
        Some(TestCgroup(p))
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let remove = |p: &std::path::Path| {
            while std::fs::remove_dir(p).is_err_and(|e| e.raw_os_error() == Some(libc::EBUSY))
                && std::time::Instant::now() < deadline
            {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        };
        // The same relative path in the cgroup v1 hierarchies (a hybrid
        // host's default backend makes v1 directories there for limits).
        let mut dirs = vec![self.0.clone()];
        if let Ok(h) = containment::cgroup::Hierarchy::detect() {
            if let Some(rel) = h.mount_point().and_then(|m| self.0.strip_prefix(m).ok()) {
                dirs.extend(h.v1_mounts().iter().map(|m| m.mount_point.join(rel)));
            }
        }
        for d in dirs.iter().filter(|d| d.exists()) {
            if let Ok(rd) = std::fs::read_dir(d) {
                for e in rd
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                {
                    remove(&e.path());
                }
            }
            remove(d);
        }
    }
}

/// A directory of the test's own under the temp dir (a unique name),
/// removed with everything in it when dropped (also when the test fails).
pub struct TempDir(pub std::path::PathBuf);

impl TempDir {
    /// Creates `<tmp>/containment-<tag>-<unique>`.
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(unique(&format!("containment-{tag}")));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    /// The directory.
    pub fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Sets this thread's scheduling policy (`sched_setscheduler(2)`) with
/// `priority`; the `sched_param` is zeroed first (musl's has more fields
/// than glibc's).
#[allow(dead_code)]
pub fn set_scheduler(policy: libc::c_int, priority: libc::c_int) -> std::io::Result<()> {
    // SAFETY: an all-zero sched_param is a valid value.
    let mut param: libc::sched_param = unsafe { std::mem::zeroed() };
    param.sched_priority = priority;
    // SAFETY: sched_setscheduler(2) on this thread with a valid parameter.
    if unsafe { libc::sched_setscheduler(0, policy, &param) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
