//! A user namespace: root inside, an unprivileged id outside.
//!
//! As root it maps 0..65536 inside to 100000.. outside; as an unprivileged
//! user (rootless) it maps your own uid to 0 inside.
//!
//! Run: `cargo run --example user_namespace` (as root or as any user)

use containment::{Container, IdMap, Namespaces};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    println!("outside: euid {euid}");
    let mut container = Container::new()
        .unshare(Namespaces::USER | Namespaces::UTS)
        .hostname("userns");
    if euid == 0 {
        // Root gives the maps: host root is not mapped unless asked.
        container = container
            .uid_map([IdMap::new(0, 100_000, 65_536)])
            .gid_map([IdMap::new(0, 100_000, 65_536)]);
    }
    let child = container
        .command("/bin/sh")
        .args([
            "-c",
            "echo \"inside:  uid $(id -u) gid $(id -g) on $(hostname)\"; sleep 1",
        ])
        .stdout(containment::Stdio::piped())
        .spawn()?;
    let pid = child.id();
    let uid_map = std::fs::read_to_string(format!("/proc/{pid}/uid_map"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let outside_uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap_or("");
    println!("uid_map: {}", uid_map.trim());
    println!("the same process seen from outside: {outside_uid}");
    let out = child.wait_with_output()?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    Ok(())
}
