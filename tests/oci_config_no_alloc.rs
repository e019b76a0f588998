//! The child steps of branch ocicfg (device nodes, per-mount and root
//! propagation, namespaces joined by descriptor, a chroot without a mount
//! namespace, the working directory checked before an early seccomp
//! filter) allocate nothing between clone and exec: the recording
//! allocator of `tests/common/alloc.rs` counts allocations made by any
//! process other than the test's own.

#[macro_use]
mod common;

use containment::mount::{DevSpec, DeviceNode, Mount, Propagation, RootMode};
use containment::{Container, IdMap, Namespace, Namespaces, NsFd};
use std::os::fd::AsFd;
use std::os::unix::fs::symlink;
use std::path::Path;

#[global_allocator]
static GLOBAL: common::alloc::Recording = common::alloc::Recording;

#[test]
fn oci_config_steps_allocate_nothing_in_the_child() {
    require_root!();
    let dir = std::env::temp_dir().join(common::unique("containment-noalloc-ocicfg"));
    let root = dir.join("root");
    for d in ["bin", "etc", "proc", "dev", "sys", "tmp", "work"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let bb = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox-static is not installed");
    std::fs::copy(bb, root.join("bin/busybox")).unwrap();
    symlink("busybox", root.join("bin/sh")).unwrap();
    // Namespaces to join: our own UTS and IPC, by descriptor.
    let uts = NsFd::open_self(Namespace::Uts).unwrap();
    let ipc = NsFd::open_self(Namespace::Ipc).unwrap();

    let detector = common::alloc::Detector::start();
    for user in [false, true] {
        let mut b = Container::builder();
        let mut ns = Namespaces::MOUNT | Namespaces::PID | Namespaces::NET;
        if user {
            ns |= Namespaces::USER;
            b.uid_map([IdMap::new(0, 100_000, 65_536)])
                .gid_map([IdMap::new(0, 100_000, 65_536)]);
        } else {
            b.join_namespace(Namespace::Uts, uts.as_fd().try_clone_to_owned().unwrap())
                .join_namespace(Namespace::Ipc, ipc.as_fd().try_clone_to_owned().unwrap());
        }
        b.namespaces(ns)
            .root(&root)
            .propagation(Propagation::Unbindable)
            .mount(Mount::tmpfs("/tmp").propagation(Propagation::Shared))
            .mount(Mount::tmpfs("/work").recursive_propagation(Propagation::Private))
            .device(DeviceNode::char("/dev/kmsg", 1, 11).mode(0o600))
            .device(DeviceNode::fifo("/dev/sub/fifo").owner(0, 0))
            .current_dir("/work")
            .command("/bin/sh", ["-c", "echo ok"]);
        #[cfg(feature = "seccomp")]
        b.seccomp(containment::seccomp::Filter::deny([libc::SYS_getcwd], libc::EPERM).unwrap())
            .seccomp_privileged(true);
        let out = b.output().unwrap();
        assert_eq!(out.stdout, b"ok\n", "user ns {user}: {out:?}");
    }
    // A chroot without a mount namespace.
    let out = Container::builder()
        .root(&root)
        .root_mode(RootMode::Chroot)
        .mount_proc(false)
        .dev(DevSpec::Keep)
        .command("/bin/sh", ["-c", "echo ok"])
        .output()
        .unwrap();
    assert_eq!(out.stdout, b"ok\n", "chroot: {out:?}");
    let seen = detector.finish();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        seen, 0,
        "{seen} allocations in the child between clone and exec"
    );
}
