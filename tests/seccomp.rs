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
    // Directly, through the sealed exec helper (which installs the filter
    // just before the program's exec), and under the helper's init.
    for (helper, init) in [(false, false), (true, false), (false, true)] {
        let out = Container::new()
            .seccomp(filter.clone())
            .force_exec_helper(helper)
            .init(init)
            .command("python3")
            .args(["-c", MKDIR, arg])
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("errno {}\n", libc::EPERM),
            "helper {helper} init {init}"
        );
        assert!(!dir.exists());
    }
    // The same program without the filter makes the directory.
    let out = Container::new()
        .command("python3")
        .args(["-c", MKDIR, arg])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "made\n");
    std::fs::remove_dir(&dir).unwrap();
}

#[test]
fn the_kernel_shows_the_filter_and_no_new_privs() {
    let mut child = Container::new()
        .seccomp(Filter::deny([libc::SYS_reboot], libc::EPERM).unwrap())
        .command("/bin/sleep")
        .args(["30"])
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

/// The init is not filtered (a filter that forbids clone would keep it
/// from starting the program); the program is.
#[test]
fn the_filter_applies_to_the_program_not_the_init() {
    require_root!();
    let filter = Filter::deny(
        [
            libc::SYS_clone,
            libc::SYS_clone3,
            libc::SYS_fork,
            libc::SYS_vfork,
        ],
        libc::EPERM,
    )
    .unwrap();
    let out = Container::new()
        .unshare(containment::Namespaces::PID | containment::Namespaces::MOUNT)
        .init(true)
        .seccomp(filter)
        .command("/bin/sh")
        .args([
                "-c",
                // Builtins only: the program itself cannot fork.
                "while read k v; do [ \"$k\" = Seccomp: ] && echo \"init $v\"; done </proc/1/status; \
                 while read k v; do [ \"$k\" = Seccomp: ] && echo \"self $v\"; done </proc/$$/status;",
            ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("init 0\n"), "{text}");
    assert!(text.contains("self 2\n"), "{text}");
}

#[test]
fn bad_filters_are_refused() {
    assert!(Filter::deny([], libc::EPERM).is_err());
    assert!(Filter::deny([libc::SYS_reboot], 5000).is_err());
}
