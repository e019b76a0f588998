//! A root assembled from image layers (Docker overlay2's LowerDir, UpperDir,
//! WorkDir, MergedDir): two read-only lower layers, an upper layer that
//! receives the container's writes.
//!
//! Run as root: `cargo run --example overlay_layers`
//!
//! The base layer is a busybox root built from the host's busybox-static
//! (`apt-get install busybox-static`); the "app" layer adds one file. All of
//! it lives in a temporary directory removed afterwards.

use containment::mount::Overlay;
use containment::{Container, Namespaces};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn list(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("containment-layers-{}", std::process::id()));
    let _cleanup = Cleanup(dir.clone());
    let (base, app, upper, work, merged) = (
        dir.join("base"),
        dir.join("app"),
        dir.join("upper"),
        dir.join("work"),
        dir.join("merged"),
    );
    for d in [&app, &upper, &work, &merged] {
        std::fs::create_dir_all(d)?;
    }
    // Layer 1 (bottom): busybox.
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .ok_or("busybox-static is not installed (apt-get install busybox-static)")?;
    for d in ["bin", "etc", "proc", "dev", "tmp"] {
        std::fs::create_dir_all(base.join(d))?;
    }
    std::fs::copy(busybox, base.join("bin/busybox"))?;
    for applet in ["sh", "cat", "ls", "echo", "rm"] {
        symlink("busybox", base.join("bin").join(applet))?;
    }
    std::fs::write(base.join("etc/os-release"), "NAME=base layer\n")?;
    // Layer 2 (top): the application.
    std::fs::write(app.join("app.txt"), "from the app layer\n")?;

    let out = Container::new()
        .unshare(Namespaces::MOUNT | Namespaces::PID)
        // Lower layers top-most first, as overlayfs and Docker list them.
        .rootfs(Overlay::new([&app, &base], &upper, &work).merged(&merged))
        .command("/bin/sh")
        .args([
            "-c",
            "cat /app.txt /etc/os-release; echo written inside > /new.txt; \
                 echo NAME=changed > /etc/os-release; rm /app.txt; ls /",
        ])
        .output()?;
    print!("container:\n{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    println!("\nhost, after the container:");
    println!(
        "  upper  {:?} (new.txt, the changed etc/, a whiteout for app.txt)",
        list(&upper)
    );
    println!(
        "  upper/new.txt: {:?}",
        std::fs::read_to_string(upper.join("new.txt"))?
    );
    println!("  app    {:?} (untouched)", list(&app));
    println!(
        "  base/etc/os-release: {:?} (untouched)",
        std::fs::read_to_string(base.join("etc/os-release"))?
    );
    println!("  merged {:?} (nothing mounted on the host)", list(&merged));
    Ok(())
}
