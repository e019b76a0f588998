//! An IPC namespace: a System V message queue made inside is not visible
//! outside.
//!
//! Run as root: `cargo run --example ipc_namespace`

use containment::{Container, Namespaces};

fn queues() -> usize {
    std::fs::read_to_string("/proc/sysvipc/msg")
        .map(|s| s.lines().count().saturating_sub(1))
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("host: {} SysV message queues", queues());
    // The child creates a queue (ipcmk from util-linux, or python as fallback)
    // and lists what it sees; the queue dies with the namespace.
    let out = Container::new()
        .unshare(Namespaces::IPC)
        .command("/bin/sh")
        .args(["-c", "ipcmk -Q >/dev/null && echo \"container: $(($(wc -l < /proc/sysvipc/msg) - 1)) SysV message queue(s)\""])
        .output()?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    println!(
        "host: {} SysV message queues (the container's is not here)",
        queues()
    );
    Ok(())
}
