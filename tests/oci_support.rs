//! Builder features an OCI runtime needs: supplementary groups, the source
//! name of a filesystem mount, a seccomp filter installed without
//! no_new_privs, a filter from a ready BPF program.

#[macro_use]
mod common;

use containment::mount::Mount;
use containment::{Container, Namespaces};

fn status_line(out: &str, key: &str) -> String {
    out.lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
fn supplementary_groups_are_set_with_the_ids() {
    require_root!();
    let out = Container::new()
        .command("/bin/cat")
        .args(["/proc/self/status"])
        .uid(1)
        .gid(2)
        .groups([5, 6, 7])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(status_line(&text, "Groups:"), "5 6 7");
    assert_eq!(status_line(&text, "Gid:"), "2 2 2 2");
    // Without groups the caller's are dropped, as before.
    let out = Container::new()
        .command("/bin/cat")
        .args(["/proc/self/status"])
        .uid(1)
        .gid(2)
        .output()
        .unwrap();
    assert_eq!(
        status_line(&String::from_utf8_lossy(&out.stdout), "Groups:"),
        ""
    );
}

#[test]
fn groups_without_user_are_refused() {
    let err = Container::new()
        .command("/bin/true")
        .groups([5])
        .spawn()
        .unwrap_err();
    assert!(err.to_string().contains("groups"), "{err}");
}

#[test]
fn a_filesystem_mount_shows_its_source_name() {
    require_root!();
    let dir = std::env::temp_dir().join(format!("oci-src-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Container::new()
        .unshare(Namespaces::MOUNT)
        .mount(Mount::tmpfs(&dir).source_name("shm"))
        .command("/bin/cat")
        .args(["/proc/self/mountinfo"])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir(&dir);
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.split_whitespace().nth(4) == dir.to_str())
        .unwrap_or_else(|| panic!("no mount on {}: {text}", dir.display()));
    // "... - tmpfs shm rw,..."
    let after = line.split(" - ").nth(1).unwrap();
    let mut f = after.split_whitespace();
    assert_eq!(f.next(), Some("tmpfs"));
    assert_eq!(f.next(), Some("shm"), "{line}");
}

#[cfg(feature = "seccomp")]
#[test]
fn a_privileged_filter_leaves_no_new_privs_off() {
    use containment::caps::{CapSet, Capabilities};
    use containment::seccomp::Filter;
    require_root!();
    let filter = Filter::deny([libc::SYS_getpriority], libc::EPERM).unwrap();
    // Dropped capabilities: the filter must be in before they go.
    let out = Container::new()
        .capabilities(Capabilities::only(CapSet::empty()))
        .seccomp(filter.clone())
        .seccomp_privileged(true)
        .command("/bin/cat")
        .args(["/proc/self/status"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(status_line(&text, "NoNewPrivs:"), "0");
    assert_eq!(status_line(&text, "Seccomp:"), "2");
    // The default keeps setting no_new_privs.
    let out = Container::new()
        .seccomp(filter)
        .command("/bin/cat")
        .args(["/proc/self/status"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(status_line(&text, "NoNewPrivs:"), "1");
    assert_eq!(status_line(&text, "Seccomp:"), "2");
}

#[cfg(feature = "seccomp")]
#[test]
fn a_filter_from_bpf_is_installed() {
    use containment::seccomp::Filter;
    require_root!();
    assert!(Filter::from_bpf(Vec::new()).is_err());
    // The instructions of a deny filter, handed over as a program.
    let f = Filter::deny([libc::SYS_getpriority], libc::EPERM).unwrap();
    assert!(!f.is_empty());
    // RET ALLOW: a one-instruction program that allows everything.
    let allow = libc::sock_filter {
        code: (libc::BPF_RET | libc::BPF_K) as u16,
        jt: 0,
        jf: 0,
        k: libc::SECCOMP_RET_ALLOW,
    };
    let out = Container::new()
        .seccomp(Filter::from_bpf(vec![allow]).unwrap())
        .command("/bin/cat")
        .args(["/proc/self/status"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        status_line(&String::from_utf8_lossy(&out.stdout), "Seccomp:"),
        "2"
    );
}
