//! A mount namespace: a tmpfs mounted inside is invisible outside.
//!
//! Run as root: `cargo run --example mount_namespace`

use containment::{Container, Namespaces};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("containment-mntns-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let d = dir.display();
    let out = Container::new()
        .unshare(Namespaces::MOUNT)
        .command("/bin/sh")
        .args([
                "-c",
                &format!("mount -t tmpfs demo {d} && echo hello > {d}/inside && echo \"container: $(grep -c ' {d} ' /proc/self/mountinfo) mount at {d}, file: $(cat {d}/inside)\""),
            ])
        .output()?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    let host_mounts = std::fs::read_to_string("/proc/self/mountinfo")?
        .lines()
        .filter(|l| l.contains(&format!(" {d} ")))
        .count();
    println!(
        "host:      {host_mounts} mount at {d}, file exists: {}",
        dir.join("inside").exists()
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
