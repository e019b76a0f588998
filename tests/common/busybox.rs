//! busybox-static roots and static test programs, shared by the tests that
//! need a small root filesystem of their own.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

/// The host's busybox-static binary, if installed.
pub fn find() -> Option<PathBuf> {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// The host's busybox-static binary; panics naming the package when absent
/// (`cargo xtask test` installs it).
pub fn path() -> PathBuf {
    find().expect("busybox-static is not installed (apt-get install busybox-static)")
}

/// A busybox root under `dir/root`: `bin` (busybox and a link per applet),
/// `etc`, `tmp`, `proc`, `dev`, `sys`, `mnt`.
pub fn root(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    for d in ["bin", "etc", "tmp", "proc", "dev", "sys", "mnt"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let bb = path();
    std::fs::copy(&bb, root.join("bin/busybox")).unwrap();
    let list = std::process::Command::new(&bb)
        .arg("--list")
        .output()
        .unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            let _ = symlink("busybox", root.join("bin").join(applet));
        }
    }
    root
}

/// Compiles `src` (C) into a static binary at `out`; false without gcc or
/// a static libc.
pub fn compile_static(src: &str, out: &Path) -> bool {
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
