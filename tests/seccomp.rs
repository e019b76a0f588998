//! Seccomp filters (feature `seccomp`) (root for the namespaces; the filter
//! itself works unprivileged thanks to no_new_privs).

#[macro_use]
mod common;

use containment::seccomp::Filter;
use containment::Container;

const MKDIR: &str = "import os, sys\ntry:\n os.mkdir(sys.argv[1])\n print('made')\nexcept OSError as e:\n print('errno', e.errno)";

#[test]
fn a_filter_blocks_the_syscall_it_names() {
    let dir = std::env::temp_dir().join(common::unique("containment-seccomp"));
    let arg = dir.to_str().unwrap();
    let filter = Filter::deny([libc::SYS_mkdir, libc::SYS_mkdirat], libc::EPERM).unwrap();
    assert!(!filter.is_empty());
    let out = Container::builder()
        .seccomp(filter)
        .command("python3", ["-c", MKDIR, arg])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("errno {}\n", libc::EPERM)
    );
    assert!(!dir.exists());
    // The same program without the filter makes the directory.
    let out = Container::builder()
        .command("python3", ["-c", MKDIR, arg])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "made\n");
    std::fs::remove_dir(&dir).unwrap();
}

#[test]
fn the_kernel_shows_the_filter_and_no_new_privs() {
    let mut child = Container::builder()
        .seccomp(Filter::deny([libc::SYS_reboot], libc::EPERM).unwrap())
        .command("/bin/sleep", ["30"])
        .spawn()
        .unwrap();
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    let field = |k: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| v.trim().to_string())
    };
    assert_eq!(field("Seccomp:").as_deref(), Some("2"), "filter mode");
    assert_eq!(field("NoNewPrivs:").as_deref(), Some("1"));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn bad_filters_are_refused() {
    assert!(Filter::deny([], libc::EPERM).is_err());
    assert!(Filter::deny([libc::SYS_reboot], 5000).is_err());
}
