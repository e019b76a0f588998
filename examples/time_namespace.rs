//! A time namespace: the boot-time clock (what `uptime` shows) is shifted by
//! the offset, set before the program runs.
//!
//! Run as root: `cargo run --example time_namespace`

use containment::{Container, Namespaces, TimeOffsets};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let host = std::fs::read_to_string("/proc/uptime")?;
    println!(
        "host uptime:      {} s",
        host.split_whitespace().next().unwrap_or("?")
    );
    let out = Container::new()
        .unshare(Namespaces::TIME)
        .time_offsets(
            TimeOffsets::new()
                .boottime_secs(10 * 86_400)
                .monotonic_secs(86_400),
        )
        .command("/bin/cat")
        .args(["/proc/uptime"])
        .output()?;
    let inside = String::from_utf8_lossy(&out.stdout);
    println!(
        "container uptime: {} s (boottime offset: 10 days)",
        inside.split_whitespace().next().unwrap_or("?")
    );
    Ok(())
}
