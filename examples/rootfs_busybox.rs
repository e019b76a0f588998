//! A container in a busybox root: `pivot_root` into it with a fresh /proc, a
//! minimal /dev and a tmpfs /tmp, then `ls /`, `mount` and `ps` from inside.
//!
//! Run as root: `cargo run --example rootfs_busybox [ROOT]`
//!
//! Without ROOT, a root is built in a temporary directory from the host's
//! busybox-static (`apt-get install busybox-static`) and removed afterwards.

use containment::mount::Mount;
use containment::{Container, Namespaces};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

/// Removes the directory it names when dropped (also on an early return).
struct Cleanup(Option<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(d) = &self.0 {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn build_root(root: &Path) -> std::io::Result<()> {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .ok_or_else(|| {
            std::io::Error::other(
                "busybox-static is not installed (apt-get install busybox-static)",
            )
        })?;
    for d in ["bin", "etc", "proc", "dev", "sys", "tmp"] {
        std::fs::create_dir_all(root.join(d))?;
    }
    std::fs::copy(busybox, root.join("bin/busybox"))?;
    let list = std::process::Command::new(busybox).arg("--list").output()?;
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let link = root.join("bin").join(applet);
        if !link.exists() {
            symlink("busybox", link)?;
        }
    }
    std::fs::write(root.join("etc/hostname"), "busybox\n")?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let (root, _cleanup) = match std::env::args_os().nth(1) {
        Some(r) => (PathBuf::from(r), Cleanup(None)),
        None => {
            let dir =
                std::env::temp_dir().join(format!("containment-busybox-{}", std::process::id()));
            let cleanup = Cleanup(Some(dir.clone()));
            let root = dir.join("root");
            build_root(&root)?;
            (root, cleanup)
        }
    };
    let out = Container::new()
        .unshare(Namespaces::MOUNT | Namespaces::PID | Namespaces::UTS | Namespaces::IPC)
        .hostname("busybox")
        .root(&root)
        .mount(Mount::tmpfs("/tmp").size(16 << 20).mode(0o1777))
        .command("/bin/sh")
        .args([
            "-c",
            "echo '$ ls /'; ls /; echo; echo '$ mount'; mount; echo; echo '$ ps'; ps",
        ])
        .env_clear()
        .env("PATH", "/bin")
        .output()?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        return Err(format!("the container exited with {}", out.status).into());
    }
    Ok(())
}
