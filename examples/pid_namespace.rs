//! A PID namespace (with a mount namespace for a fresh /proc): the program is
//! PID 1 and sees only its own processes.
//!
//! Run as root: `cargo run --example pid_namespace`

use containment::{Container, Namespaces};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let host_procs = std::fs::read_dir("/proc")?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
        .count();
    println!("host: {host_procs} processes in /proc");
    let status = Container::new()
        .unshare(Namespaces::PID | Namespaces::MOUNT)
        .command("/bin/sh")
        .args(["-c", "echo \"container: my pid is $$\"; echo \"container: ps sees:\"; ps -eo pid,comm 2>/dev/null || ls /proc | grep '^[0-9]'"])
        .status()?;
    println!("exit: {status}");
    Ok(())
}
