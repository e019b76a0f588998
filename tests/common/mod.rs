//! Shared helpers of the integration tests.
//!
//! Every test that needs root or a kernel feature goes through [`skip`] (or
//! the `require!` macro), which prints why it skipped. With
//! `CONTAINMENT_NO_SKIP=1` (CI sets it) a skip is a failure, so nothing
//! silently stops being tested.
#![allow(dead_code, unused_macros)]

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

/// Zombie children of this process (state Z in /proc/<pid>/stat with our ppid).
pub fn zombie_children() -> Vec<i32> {
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
        if ppid == me && state == "Z" {
            z.push(pid);
        }
    }
    z
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
