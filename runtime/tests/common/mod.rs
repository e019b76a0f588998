//! Helpers of the terminal and engine tests (branch engines): skips, a
//! busybox root, contrun's path, polling with a generous deadline.
#![allow(dead_code)]

pub mod bundle;
pub mod setup;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// contrun, built by the cargo running the test.
pub const BIN: &str = env!("CARGO_BIN_EXE_contrun");

/// Prints why a test skips; panics instead under `CONTAINMENT_NO_SKIP=1`
/// (CI), so nothing silently stops being tested.
pub fn skip(test: &str, reason: &str) {
    if std::env::var_os("CONTAINMENT_NO_SKIP").is_some_and(|v| v != "0") {
        panic!("{test}: would be skipped, but CONTAINMENT_NO_SKIP is set: {reason}");
    }
    eprintln!("SKIPPED {test}: {reason}");
}

/// Whether we are root (else `skip`).
pub fn root(test: &str) -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        skip(test, "needs root (run the tests as root)");
        return false;
    }
    true
}

/// The first of `paths` that exists (else `skip` naming the package).
pub fn tool(test: &str, paths: &[&str], package: &str) -> Option<PathBuf> {
    let found = paths.iter().map(PathBuf::from).find(|p| p.exists());
    if found.is_none() {
        skip(
            test,
            &format!(
                "{} is missing (apt-get install {package}; cargo xtask test installs it)",
                paths[0]
            ),
        );
    }
    found
}

pub fn busybox(test: &str) -> Option<PathBuf> {
    tool(
        test,
        &["/bin/busybox", "/usr/bin/busybox"],
        "busybox-static",
    )
}

/// A name unique to this process and call.
pub fn unique(tag: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// A directory removed (with everything in it) on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(unique(tag));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A root filesystem of busybox with every applet linked, in `dir`.
pub fn busybox_root(busybox: &Path, dir: &Path) {
    for d in ["bin", "etc", "tmp", "proc", "dev", "sys", "root"] {
        std::fs::create_dir_all(dir.join(d)).unwrap();
    }
    std::fs::copy(busybox, dir.join("bin/busybox")).unwrap();
    let list = Command::new(busybox).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            let _ = std::os::unix::fs::symlink("busybox", dir.join("bin").join(applet));
        }
    }
    std::fs::write(dir.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(dir.join("etc/group"), "root:x:0:\n").unwrap();
}

/// Polls `f` until it returns Some (the generous deadline only stops a
/// broken run; nothing waits for a fixed time).
pub fn wait_for<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether `pid` is alive (not a zombie).
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let st = s[s.rfind(')').unwrap() + 2..].chars().next().unwrap();
            st != 'Z' && st != 'X'
        })
        .unwrap_or(false)
}

/// Mount points (field 5 of /proc/self/mountinfo) under `dir`.
pub fn mounts_under(dir: &Path) -> Vec<String> {
    let d = dir.to_string_lossy().into_owned();
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&d))
        .collect()
}

/// Processes whose command line mentions `needle` (ours: a unique temp
/// dir or name).
pub fn processes_mentioning(needle: &str) -> Vec<(i32, String)> {
    let me = std::process::id() as i32;
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Ok(c) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            let c = String::from_utf8_lossy(&c).replace('\0', " ");
            if c.contains(needle) {
                v.push((pid, c));
            }
        }
    }
    v
}

/// Every cgroup directory (in every hierarchy mounted under
/// /sys/fs/cgroup) whose name contains `needle`, and their descendants.
pub fn cgroups_named(needle: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, needle: &str, depth: u32, out: &mut Vec<PathBuf>) {
        if depth > 6 {
            return;
        }
        let Ok(rd) = std::fs::read_dir(dir) else {
            return;
        };
        for e in rd.flatten() {
            if !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                continue;
            }
            let p = e.path();
            if e.file_name().to_string_lossy().contains(needle) {
                // It and everything under it (an engine's own children
                // such as podman's `conmon`).
                out.push(p.clone());
                walk(&p, "", depth + 1, out);
            } else {
                walk(&p, needle, depth + 1, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(Path::new("/sys/fs/cgroup"), needle, 0, &mut out);
    out
}

/// Runs contrun with stdout and stderr in files: a container it starts
/// inherits them, and a pipe would stay open as long as that lives.
pub fn contrun(root: &Path, args: &[&str]) -> Output {
    let dir = root.parent().unwrap();
    let (o, e) = (dir.join(unique("out")), dir.join(unique("err")));
    let status = Command::new(BIN)
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&o).unwrap())
        .stderr(std::fs::File::create(&e).unwrap())
        .status()
        .unwrap();
    Output {
        status,
        stdout: std::fs::read(&o).unwrap(),
        stderr: std::fs::read(&e).unwrap(),
    }
}

/// [`contrun`], asserting success: its stdout.
pub fn ok(root: &Path, args: &[&str]) -> String {
    let o = contrun(root, args);
    assert!(
        o.status.success(),
        "contrun {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}
