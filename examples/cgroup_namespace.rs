//! A cgroup namespace: `/proc/self/cgroup` inside shows `/` for the
//! container's own cgroup: every line that shows a path on the host (for
//! example a v1 `memory:` line under a parent's cgroup) shows `/` inside.
//!
//! Run as root: `cargo run --example cgroup_namespace`

use containment::{Container, Namespaces};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let host = std::fs::read_to_string("/proc/self/cgroup")?;
    println!("host /proc/self/cgroup:\n{host}");
    let out = Container::new()
        .unshare(Namespaces::CGROUP)
        .command("/bin/cat")
        .args(["/proc/self/cgroup"])
        .output()?;
    println!(
        "container /proc/self/cgroup:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    Ok(())
}
