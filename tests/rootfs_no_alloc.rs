//! Proves that the mount layer's child side allocates nothing: the same
//! detector as `no_alloc_in_child.rs` (a global allocator that reports calls
//! made in a process other than the test's own, through a close-on-exec
//! pipe), driven with a busybox root, an ephemeral overlay, a prepared root, a minimal /dev,
//! every mount kind that works here, masked paths and a failing mount.

#[macro_use]
mod common;

use containment::mount::{Mount, Overlay};
use containment::{Container, IdMap, Namespaces};
use std::os::unix::fs::symlink;
use std::path::Path;

#[global_allocator]
static GLOBAL: common::alloc::Recording = common::alloc::Recording;

#[test]
fn mounts_and_pivot_root_allocate_nothing_in_the_child() {
    require_root!();
    let dir = std::env::temp_dir().join(common::unique("containment-noalloc-rootfs"));
    let root = dir.join("root");
    for d in ["bin", "etc", "proc", "dev", "sys", "tmp"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let bb = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox-static is not installed");
    std::fs::copy(bb, root.join("bin/busybox")).unwrap();
    symlink("busybox", root.join("bin/sh")).unwrap();
    let top = dir.join("top");
    std::fs::create_dir_all(&top).unwrap();

    let detector = common::alloc::Detector::start();

    for user in [false, true] {
        let mut b = Container::new();
        let mut ns = Namespaces::MOUNT | Namespaces::PID | Namespaces::IPC | Namespaces::NET;
        if user {
            ns |= Namespaces::USER;
            b = b
                .uid_map([IdMap::new(0, 100_000, 65_536)])
                .gid_map([IdMap::new(0, 100_000, 65_536)]);
        }
        let mut cmd = b
            .unshare(ns)
            .rootfs(Overlay::ephemeral([&top, &root]))
            .mount(Mount::tmpfs("/tmp").size(1 << 20).mode(0o1777))
            .mount(Mount::bind(&top, "/mnt/top").read_only(true))
            .mount(Mount::mqueue("/dev/mqueue"))
            .mount(Mount::sysfs("/sys"))
            .docker_default_paths()
            .read_only_root(true)
            .command("/bin/sh");
        cmd.args(["-c", "echo ok"])
            // A pty from the container's devpts (opened in the child, the
            // primary sent back), on stdin and stderr.
            .pty(Some(containment::tty::WindowSize::new(24, 80)))
            .stdout(containment::Stdio::piped());
        let out = cmd.output().unwrap();
        assert_eq!(out.stdout, b"ok\n", "user ns {user}: {out:?}");
        // A failing mount reports without allocating too.
        let e = Container::new()
            .unshare(Namespaces::MOUNT | Namespaces::PID)
            .root(&root)
            .mount(Mount::bind(&top, "/bin/sh/below-a-file"))
            .command("/bin/sh")
            .args(["-c", "true"])
            .spawn()
            .unwrap_err();
        assert!(e.child_error().is_some(), "{e}");
        if user {
            // Idmapped root and bind: trees received over the sync socket.
            let out = Container::new()
                .unshare(ns)
                .uid_map([IdMap::new(0, 100_000, 65_536)])
                .gid_map([IdMap::new(0, 100_000, 65_536)])
                .root(&root)
                .idmapped_root(true)
                .mount(Mount::bind(&top, "/tmp").idmapped(true))
                .command("/bin/sh")
                .args(["-c", "echo ok"])
                .output()
                .unwrap();
            assert_eq!(out.stdout, b"ok\n", "idmapped: {out:?}");
        }
    }
    // A prepared root (made by the parent): the child only attaches it.
    let prepared = Overlay::ephemeral([&top, &root]).prepare().unwrap();
    let out = Container::new()
        .unshare(Namespaces::MOUNT | Namespaces::PID)
        .rootfs(prepared)
        .docker_default_paths()
        .command("/bin/sh")
        .args(["-c", "echo ok"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"ok\n", "prepared: {out:?}");
    let seen = detector.finish();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        seen, 0,
        "{seen} allocations in the child between clone and exec"
    );
}
