//! Attacks on the spawn-path changes of the 2026-11-30 session (spare child
//! stacks, capabilities from capget, the initramfs answer per root mount,
//! device nodes, joined namespaces, chroot without a mount namespace,
//! per-mount propagation, the Container/Command reshape), as someone
//! controlling the container's root filesystem, program or configuration.
//! Each test asserts the safe outcome: a failing test is a hole. (root)

#[macro_use]
mod common;

use common::TempDir;
use containment::mount::{DevSpec, RootMode};
use containment::{Container, Namespaces};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

fn busybox() -> Option<PathBuf> {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

macro_rules! require_busybox {
    () => {
        require!(
            busybox().is_some(),
            "busybox-static is not installed (cargo xtask test installs it)"
        );
    };
}

/// A busybox root (every applet) under `dir/root`.
fn busybox_root(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    for d in ["bin", "etc", "tmp", "proc", "dev", "sys", "mnt"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let bb = busybox().unwrap();
    std::fs::copy(&bb, root.join("bin/busybox")).unwrap();
    let list = std::process::Command::new(&bb)
        .arg("--list")
        .output()
        .unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let _ = symlink("busybox", root.join("bin").join(applet));
    }
    root
}

/// Compiles `src` (C) into a static binary at `out`; false without gcc or
/// a static libc.
fn compile_static(src: &str, out: &Path) -> bool {
    let c = out.with_extension("c");
    std::fs::write(&c, src).unwrap();
    let ok = std::process::Command::new("gcc")
        .args(["-O2", "-static", "-o"])
        .arg(out)
        .arg(&c)
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    ok
}

/// The classic chroot break-out: chroot into a subdirectory (the working
/// directory stays outside it), walk up past the real root, chroot there,
/// then print the host file named by argv[1].
const CHROOT_BREAKOUT: &str = r#"
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/stat.h>
int main(int argc, char **argv) {
    mkdir("/esc", 0700);
    if (chroot("/esc") != 0) { perror("chroot"); return 2; }
    for (int i = 0; i < 256; i++) chdir("..");
    if (chroot(".") != 0) { perror("chroot ."); return 3; }
    int f = open(argv[1], O_RDONLY);
    if (f < 0) { perror("open"); return 4; }
    char b[128];
    int n = read(f, b, sizeof b);
    if (n > 0) write(1, b, n);
    return 0;
}
"#;

/// `RootMode::Chroot` (explicit, or `Auto` on an initramfs host), with and
/// without a mount namespace: the container's root must not be able to
/// leave its root with the default capabilities (docker's set has
/// CAP_SYS_CHROOT, with which a chroot is no boundary).
#[test]
fn chroot_root_cannot_be_left_with_the_default_capabilities() {
    require_root!();
    require_busybox!();
    let dir = TempDir::new("chrootesc");
    let root = busybox_root(&dir.0);
    require!(
        compile_static(CHROOT_BREAKOUT, &root.join("breakout")),
        "gcc with a static libc is needed to build the attacker"
    );
    let secret = dir.0.join("HOST-SECRET");
    std::fs::write(&secret, "host-secret-contents").unwrap();
    for (shape, ns) in [
        ("chroot without a mount namespace", Namespaces::PID),
        (
            "chroot in a mount namespace",
            Namespaces::MOUNT | Namespaces::PID,
        ),
    ] {
        let mut c = Container::new()
            .unshare(ns)
            .root(&root)
            .root_mode(RootMode::Chroot);
        if !ns.contains(Namespaces::MOUNT) {
            c = c.dev(DevSpec::Keep).mount_proc(false);
        }
        let out = c
            .command("/breakout")
            .arg(&secret)
            .output()
            .unwrap_or_else(|e| panic!("{shape}: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        eprintln!(
            "{shape}: {:?} {stdout:?} {:?}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !stdout.contains("host-secret-contents"),
            "{shape}: the container left its root and read the host's {}: {stdout:?} ({:?})",
            secret.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Device nodes (OCI `linux.devices`) under an image that plants links:
/// `/dev` a symlink to a host directory (absolute, and through `..`), to
/// `/proc/self/cwd` (the child's working directory is the caller's until
/// the root changes), and the node's own name a symlink to a host file.
/// Nothing may appear in, or change, the host's files.
#[test]
fn device_nodes_stay_inside_the_root_whatever_the_image_plants() {
    require_root!();
    require_busybox!();
    let dir = TempDir::new("devlinks");
    let host = dir.0.join("host");
    std::fs::create_dir_all(&host).unwrap();
    let host_file = host.join("file");
    std::fs::write(&host_file, "untouched").unwrap();
    // The caller's working directory during the spawn: the host dir.
    let cases: [(&str, Box<dyn Fn(&Path)>, &str); 4] = [
        (
            "/dev -> host dir (absolute)",
            Box::new(|r: &Path| {
                std::fs::remove_dir(r.join("dev")).unwrap();
                symlink(&host, r.join("dev")).unwrap();
            }),
            "/dev/evil",
        ),
        (
            "/dev -> ../../.. host dir",
            Box::new(|r: &Path| {
                std::fs::remove_dir(r.join("dev")).unwrap();
                let up = "../".repeat(r.components().count() + 2);
                symlink(format!("{up}{}", host.display()), r.join("dev")).unwrap();
            }),
            "/dev/evil",
        ),
        (
            "/dev -> /proc/self/cwd",
            Box::new(|r: &Path| {
                std::fs::remove_dir(r.join("dev")).unwrap();
                symlink("/proc/self/cwd", r.join("dev")).unwrap();
            }),
            "/dev/evil",
        ),
        (
            "/dev/file -> host file",
            Box::new(|r: &Path| {
                symlink(&host_file, r.join("dev/file")).unwrap();
            }),
            "/dev/file",
        ),
    ];
    let cwd = std::env::current_dir().unwrap();
    for (i, (shape, plant, node)) in cases.iter().enumerate() {
        let case = dir.0.join(format!("case{i}"));
        std::fs::create_dir_all(&case).unwrap();
        let root = busybox_root(&case);
        plant(&root);
        std::env::set_current_dir(&host).unwrap();
        let r = Container::new()
            .unshare(Namespaces::MOUNT | Namespaces::PID)
            .root(&root)
            .dev(DevSpec::Keep)
            .device(containment::mount::DeviceNode::char(*node, 1, 3))
            .command("/bin/true")
            .status();
        std::env::set_current_dir(&cwd).unwrap();
        let listing: Vec<_> = std::fs::read_dir(&host)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            listing,
            vec![std::ffi::OsString::from("file")],
            "{shape}: a node was made on the host ({r:?})"
        );
        let md = std::fs::symlink_metadata(&host_file).unwrap();
        assert!(md.is_file(), "{shape}: the host file was replaced ({r:?})");
        assert_eq!(std::fs::read_to_string(&host_file).unwrap(), "untouched");
        eprintln!("{shape}: {r:?}");
    }
}
