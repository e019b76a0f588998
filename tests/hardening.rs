//! Hardening of the spawn path: descriptors, capabilities, no_new_privs,
//! rlimits, parent death (root).

#[macro_use]
mod common;

use containment::process::Rlimit;
use containment::{CapSet, Capabilities, Capability, Container, Namespaces, Stdio};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

fn status_field(pid: u32, key: &str) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in status"))
        .trim()
        .to_string()
}

fn fds_of(pid: u32) -> Vec<i32> {
    let mut v: Vec<i32> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().parse().unwrap())
        .collect();
    v.sort();
    v
}

#[test]
fn only_stdio_and_passed_fds_reach_the_program() {
    require_root!();
    // Descriptors that would leak with plain fork+exec: not close-on-exec.
    let mut leaky = Vec::new();
    for _ in 0..40 {
        // SAFETY: open without O_CLOEXEC on purpose; owned below.
        let fd = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDONLY) };
        assert!(fd >= 0);
        // SAFETY: fresh descriptor.
        leaky.push(unsafe { OwnedFd::from_raw_fd(fd) });
    }
    // A directory fd like a rootfs or cgroup fd (the Leaky Vessels shape).
    // SAFETY: as above.
    let dirfd = unsafe { libc::open(c"/".as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
    assert!(dirfd >= 0);
    // SAFETY: fresh descriptor.
    leaky.push(unsafe { OwnedFd::from_raw_fd(dirfd) });
    let passed = std::fs::File::open("/proc/self/status").unwrap();
    let passed_raw = passed.as_raw_fd();
    // The spawn itself opens a rootfs descriptor and a cgroup directory.
    require!(
        std::path::Path::new("/bin/busybox").exists(),
        "busybox-static is not installed (cargo xtask test installs it)"
    );
    let root = std::env::temp_dir().join(common::unique("containment-fds-root"));
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", root.join("bin/sleep")).unwrap();
    let cgroup = common::TestCgroup::new("containment-fds");
    require!(cgroup.is_some(), "no cgroup2 mount");
    let cgroup = cgroup.unwrap();
    let parent = &cgroup.0;
    let mut child = Container::new()
        .unshare(Namespaces::PID | Namespaces::MOUNT)
        .root(&root)
        .cgroup(containment::cgroup::CgroupSpec::new().parent(parent))
        .command("/bin/sleep")
        .args(["30"])
        .pass_fd(passed, 7)
        .pass_fd(std::fs::File::open("/dev/zero").unwrap(), 12)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    assert_eq!(fds_of(child.id()), [0, 1, 2, 7, 12]);
    // The passed descriptor is the file we opened.
    let target = std::fs::read_link(format!("/proc/{}/fd/12", child.id())).unwrap();
    assert_eq!(target.to_str(), Some("/dev/zero"));
    let _ = passed_raw;
    child.kill().unwrap();
    child.wait().unwrap();
    drop(leaky);
    // Empty again: the container's cgroup went with it.
    std::fs::remove_dir(parent).unwrap();
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn pass_fd_onto_stdio_is_refused() {
    let e = Container::new()
        .command("/bin/true")
        .pass_fd(std::fs::File::open("/dev/null").unwrap(), 1)
        .spawn()
        .unwrap_err();
    assert_eq!(e.field(), Some("pass_fd"), "{e}");
}

#[test]
fn docker_default_capabilities_are_what_the_kernel_shows() {
    require_root!();
    let mut child = Container::new()
        .unshare(Namespaces::UTS)
        .capabilities(Capabilities::docker_default())
        .command("/bin/sleep")
        .args(["30"])
        .spawn()
        .unwrap();
    let pid = child.id();
    for key in ["CapEff:", "CapPrm:", "CapBnd:"] {
        assert_eq!(status_field(pid, key), "00000000a80425fb", "{key}");
    }
    assert_eq!(status_field(pid, "CapInh:"), "0000000000000000");
    assert_eq!(status_field(pid, "CapAmb:"), "0000000000000000");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn dropped_capability_makes_the_operation_fail_with_eperm() {
    require_root!();
    // Root inside a UTS namespace may set the hostname, unless
    // CAP_SYS_ADMIN was dropped.
    let ok = Container::new()
        .unshare(Namespaces::UTS)
        .command("/bin/hostname")
        .args(["allowed"])
        .status()
        .unwrap();
    assert!(ok.success());
    let out = Container::new()
        .unshare(Namespaces::UTS)
        .capabilities(Capabilities::docker_default())
        .command("python3")
        .args(["-c", "import socket\ntry:\n socket.sethostname('denied')\nexcept OSError as e:\n print('errno', e.errno)"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text, format!("errno {}\n", libc::EPERM), "{out:?}");
}

#[test]
fn ambient_capabilities_for_a_non_root_user() {
    require_root!();
    let mut set = CapSet::empty();
    set.insert(Capability::NetBindService);
    let caps = Capabilities {
        bounding: set,
        permitted: set,
        effective: set,
        inheritable: set,
        ambient: set,
    };
    let mut child = Container::new()
        .capabilities(caps)
        .command("/bin/sleep")
        .args(["30"])
        .uid(65534)
        .gid(65534)
        .spawn()
        .unwrap();
    let pid = child.id();
    let bit = format!("{:016x}", 1u64 << 10);
    assert_eq!(status_field(pid, "CapAmb:"), bit);
    assert_eq!(status_field(pid, "CapEff:"), bit);
    assert!(status_field(pid, "Uid:").starts_with("65534"));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn no_new_privs_and_rlimits() {
    require_root!();
    let mut child = Container::new()
        .no_new_privs(true)
        .rlimit(Rlimit::Nofile, 100, 200)
        .rlimit(Rlimit::Core, 0, 0)
        .command("/bin/sleep")
        .args(["30"])
        .spawn()
        .unwrap();
    let pid = child.id();
    assert_eq!(status_field(pid, "NoNewPrivs:"), "1");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert_eq!(
        line.split_whitespace().collect::<Vec<_>>()[3..5],
        ["100", "200"]
    );
    child.kill().unwrap();
    child.wait().unwrap();
    let e = Container::new()
        .rlimit(Rlimit::Nofile, 10, 5)
        .command("/bin/true")
        .spawn()
        .unwrap_err();
    assert_eq!(e.field(), Some("rlimit"));
}

#[test]
fn dies_with_the_spawning_thread() {
    require_root!();
    let child = std::thread::spawn(|| {
        Container::new()
            .unshare(Namespaces::PID)
            .die_with_parent(true)
            .command("/bin/sleep")
            .args(["30"])
            .spawn()
            .unwrap()
    })
    .join()
    .unwrap();
    // The thread has exited: the kernel sent SIGKILL.
    let mut child = child;
    use std::os::unix::process::ExitStatusExt;
    let st = child.wait().unwrap();
    assert_eq!(st.signal(), Some(libc::SIGKILL));
}
