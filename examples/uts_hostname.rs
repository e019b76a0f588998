//! A UTS namespace: the container gets its own hostname and domain name; the
//! host's stay unchanged.
//!
//! Run as root: `cargo run --example uts_hostname`

use containment::{Container, Namespaces};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")?;
    println!("host hostname:      {}", host.trim());

    let out = Container::new()
        .unshare(Namespaces::UTS)
        .hostname("box")
        .domainname("example.internal")
        .command("/bin/sh")
        .args(["-c", "echo \"container hostname: $(hostname)\"; echo \"container domain:   $(cat /proc/sys/kernel/domainname)\""])
        .output()?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));

    let after = std::fs::read_to_string("/proc/sys/kernel/hostname")?;
    println!(
        "host hostname after: {} (unchanged: {})",
        after.trim(),
        after == host
    );
    if !out.status.success() {
        return Err(format!("container exited with {}", out.status).into());
    }
    Ok(())
}
