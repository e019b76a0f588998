//! A network namespace: only `lo`, brought up by the crate (no `ip` tool).
//!
//! Run as root: `cargo run --example net_namespace`

use containment::{Container, Namespaces};

fn ifaces(dev: &str) -> Vec<String> {
    dev.lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(|s| s.trim().to_string())
        .collect()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "host interfaces:      {:?}",
        ifaces(&std::fs::read_to_string("/proc/net/dev")?)
    );
    let out = Container::new()
        .unshare(Namespaces::NET)
        .command("/bin/cat")
        .args(["/proc/net/dev"])
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    println!("container interfaces: {:?}", ifaces(&text));
    // lo's flags as the kernel reports them in the namespace (IFF_UP = 0x1).
    let out = Container::new()
        .unshare(Namespaces::NET)
        .command("/bin/sh")
        .args(["-c", "cat /proc/net/if_inet6 2>/dev/null | grep -q ' lo$' && echo 'lo: up (has ::1)' || (ping -c1 -W1 127.0.0.1 >/dev/null 2>&1 && echo 'lo: up (ping 127.0.0.1 ok)' || echo 'lo: down?')"])
        .output()?;
    print!("container {}", String::from_utf8_lossy(&out.stdout));
    Ok(())
}
