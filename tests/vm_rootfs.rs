//! The changed root on another kernel: Debian's 6.1 cloud kernel in the VM
//! of `cargo xtask vm-test`, whose `/` is a tmpfs (moved off the initramfs),
//! so `RootMode::Auto` picks `pivot_root`.
//!
//! Only built with `--features vm-tests`; meant to run in the VM, where
//! `CONTAINMENT_IN_VM` is set.

use containment::mount::{Mount, Overlay};
use containment::{Container, IdMap, Namespaces};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

fn in_vm() {
    assert!(
        std::env::var_os("CONTAINMENT_IN_VM").is_some(),
        "CONTAINMENT_IN_VM is not set: run this through `cargo xtask vm-test`"
    );
}

fn busybox_root(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vm-rootfs-{name}-{}", std::process::id()));
    let root = dir.join("root");
    for d in ["bin", "etc", "proc", "dev", "sys", "tmp"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    for a in ["sh", "cat", "ls", "echo", "ps", "wc", "grep", "id", "head"] {
        symlink("busybox", root.join("bin").join(a)).unwrap();
    }
    std::fs::write(root.join("etc/marker"), b"inside\n").unwrap();
    dir
}

fn sh(b: &mut containment::Container, script: &str) -> String {
    let o = b.command("/bin/sh").args(["-c", script]).output().unwrap();
    assert!(
        o.status.success(),
        "{:?}: {}{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const NS: Namespaces = Namespaces::MOUNT.union(Namespaces::PID);

#[test]
fn vm_pivot_root_into_a_busybox_root() {
    in_vm();
    assert!(!containment::mount::host_root_is_initramfs());
    let dir = busybox_root("pivot");
    let before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let out = sh(
        &mut Container::new()
            .unshare(NS)
            .root(dir.join("root"))
            .mount(Mount::tmpfs("/tmp"))
            .read_only_root(true)
            .docker_default_paths(),
        "cat /etc/marker; ls /; echo $$; echo x > /dev/null && echo devok; \
         grep -c . /proc/self/mountinfo",
    );
    assert!(
        out.starts_with("inside\nbin\ndev\netc\nproc\nsys\ntmp\n1\ndevok\n"),
        "{out}"
    );
    assert_eq!(
        std::fs::read_to_string("/proc/self/mountinfo").unwrap(),
        before
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn vm_overlay_roots_kept_and_ephemeral() {
    in_vm();
    let dir = busybox_root("overlay");
    let (top, upper, work) = (dir.join("top"), dir.join("upper"), dir.join("work"));
    for d in [&top, &upper, &work] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(top.join("layer"), b"top\n").unwrap();
    let out = sh(
        &mut Container::new().unshare(NS).rootfs(Overlay::new(
            [&top, &dir.join("root")],
            &upper,
            &work,
        )),
        "cat /layer; echo w > /written",
    );
    assert_eq!(out, "top\n");
    assert_eq!(std::fs::read(upper.join("written")).unwrap(), b"w\n");
    // The upper layer on a detached tmpfs: needs overlayfs to accept a
    // detached mount as a layer.
    let o = Container::new()
        .unshare(NS)
        .rootfs(Overlay::ephemeral([&top, &dir.join("root")]))
        .command("/bin/sh")
        .args(["-c", "echo e > /e && cat /e /layer"])
        .output();
    match o {
        Ok(o) => assert_eq!(String::from_utf8_lossy(&o.stdout), "e\ntop\n"),
        Err(e) => panic!("ephemeral overlay on this kernel: {e}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A prepared root needs overlayfs layers given by descriptor (Linux
/// 6.13): on 6.1 a typed `Unsupported` (was an opaque `Prepare` error
/// before the EOPNOTSUPP of 6.1's legacy parser was mapped), and the ordinary ephemeral root
/// still works (above).
#[test]
fn vm_prepared_root_is_unsupported_before_6_13() {
    in_vm();
    let dir = busybox_root("prepared");
    match Overlay::ephemeral([dir.join("root")]).prepare() {
        Err(containment::mount::Error::Unsupported { source, .. }) => {
            // 6.1's overlayfs has the legacy parser: strings only.
            assert_eq!(source.raw_os_error(), Some(libc::EOPNOTSUPP), "{source}")
        }
        other => panic!("prepared root on 6.1: {other:?}"),
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn vm_user_namespace_root() {
    in_vm();
    let dir = busybox_root("userns");
    // Readable by the mapped root (uid 100000 outside).
    let out = sh(
        &mut Container::new()
            .unshare(NS | Namespaces::USER)
            .uid_map([IdMap::new(0, 100_000, 65_536)])
            .gid_map([IdMap::new(0, 100_000, 65_536)])
            .root(dir.join("root"))
            .mount(Mount::tmpfs("/tmp")),
        "id -u; echo t > /tmp/t && cat /tmp/t; head -c 1 /dev/zero | wc -c",
    );
    assert_eq!(out, "0\nt\n1\n");
    assert!(Path::new(&dir).exists());
    std::fs::remove_dir_all(&dir).unwrap();
}
