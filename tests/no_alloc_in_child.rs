//! Proves that the child allocates nothing between clone and exec: a global
//! allocator writes a byte to a pipe whenever it is called in a process other
//! than the test's own (the child after clone, before exec). The pipe is
//! close-on-exec, so only pre-exec allocations can reach it.

#[macro_use]
mod common;

use containment::process::Rlimit;
use containment::{Capabilities, Container, IdMap, Namespaces, Stdio, TimeOffsets};

#[global_allocator]
static GLOBAL: common::alloc::Recording = common::alloc::Recording;

#[test]
fn the_whole_spawn_path_allocates_nothing_in_the_child() {
    require_root!();
    let detector = common::alloc::Detector::start();

    // Positive control: a pre_exec hook that allocates is seen.
    {
        use std::os::unix::process::CommandExt;
        let mut c = std::process::Command::new("/bin/true");
        // SAFETY: deliberately allocates in the child to prove the detector.
        unsafe {
            c.pre_exec(|| {
                let v = vec![1u8; 64];
                std::hint::black_box(v);
                Ok(())
            });
        }
        c.status().unwrap();
        assert!(
            detector.drain() > 0,
            "the detector does not see allocations"
        );
    }

    // Every option on.
    for (i, legacy) in [false, true].into_iter().enumerate() {
        let b = Container::new()
            .unshare(Namespaces::all())
            .uid_map([IdMap::new(0, 100_000, 65_536)])
            .gid_map([IdMap::new(0, 100_000, 65_536)])
            .hostname("noalloc")
            .domainname("noalloc.test")
            .time_offsets(TimeOffsets::new().boottime_secs(1000))
            .capabilities(Capabilities::docker_default())
            .rlimit(Rlimit::Nofile, 256, 256)
            .no_new_privs(true)
            .die_with_parent(true)
            .init(true)
            .force_legacy_clone(legacy);
        #[cfg(feature = "landlock")]
        let b = b.landlock(containment::landlock::Landlock::new().allow_read("/"));
        #[cfg(feature = "seccomp")]
        let b =
            b.seccomp(containment::seccomp::Filter::deny([libc::SYS_reboot], libc::EPERM).unwrap());
        let out = b
            .command("sh")
            .args(["-c", "echo ok"])
            .pass_fd(std::fs::File::open("/dev/null").unwrap(), 5)
            .env("A", "b")
            .current_dir("/")
            .arg0("noalloc-sh")
            .process_group(0)
            .umask(0o027)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"ok\n", "run {i}: {:?}", out);
        // A failing step reports without allocating too.
        let e = Container::new()
            .unshare(Namespaces::UTS | Namespaces::PID)
            .force_legacy_clone(legacy)
            .command("/nonexistent")
            .spawn()
            .unwrap_err();
        assert!(e.child_error().is_some());
    }
    // The vfork shape (the default where it applies: no init): the child
    // shares our memory, so an allocation there would even corrupt the
    // parent's heap. With a user namespace (the parent writes the maps while
    // the child, sharing its memory, waits).
    let child = Container::new()
        .unshare(Namespaces::all())
        .uid_map([IdMap::new(0, 100_000, 65_536)])
        .gid_map([IdMap::new(0, 100_000, 65_536)])
        .hostname("noalloc-vfork-user")
        .capabilities(Capabilities::docker_default())
        .command("sh")
        .args(["-c", "echo ok"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(
        child.spawned_in_vfork_shape(),
        containment::testing::HAS_CLONE3_ON_STACK
    );
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.stdout, b"ok\n", "{out:?}");
    let b = Container::new()
        .unshare(
            Namespaces::UTS
                | Namespaces::PID
                | Namespaces::MOUNT
                | Namespaces::NET
                | Namespaces::IPC,
        )
        .hostname("noalloc-vfork")
        .capabilities(Capabilities::docker_default())
        .rlimit(Rlimit::Nofile, 256, 256)
        .no_new_privs(true)
        .die_with_parent(true);
    #[cfg(feature = "seccomp")]
    let b = b.seccomp(containment::seccomp::Filter::deny([libc::SYS_reboot], libc::EPERM).unwrap());
    let out = b
        .command("sh")
        .args(["-c", "echo ok"])
        .pass_fd(std::fs::File::open("/dev/null").unwrap(), 5)
        .stdout(Stdio::piped())
        // A host pty (no devpts of the container's) on stdin and stderr: a
        // new session and its controlling terminal.
        .pty(None)
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"ok\n");
    let e = Container::new()
        .unshare(Namespaces::UTS)
        .command("/nonexistent")
        .spawn()
        .unwrap_err();
    assert!(e.child_error().is_some());
    let seen = detector.finish();
    assert_eq!(
        seen, 0,
        "{seen} allocations in the child between clone and exec"
    );
}
