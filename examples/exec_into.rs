//! `docker exec` with the library: start a container, then run a second
//! command inside all of its namespaces, root and working directory.
//!
//! Run as root: `cargo run --example exec_into`

use containment::{Container, Namespace, Namespaces, Stdio};
use std::io::BufRead;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut container = Container::new()
        .unshare(
            Namespaces::UTS
                | Namespaces::PID
                | Namespaces::MOUNT
                | Namespaces::NET
                | Namespaces::IPC,
        )
        .hostname("web-1")
        .init(true)
        .command("/bin/sh")
        .args(["-c", "echo ready; exec sleep 60"])
        .stdout(Stdio::piped())
        .spawn()?;
    let mut lines = std::io::BufReader::new(container.stdout.take().ok_or("no stdout")?).lines();
    lines.next().transpose()?;
    println!("container: host pid {}", container.id());

    let out = Container::new()
        .join_child(&container, Namespaces::all())
        .command("/bin/sh")
        .args(["-c", "echo \"exec'd: hostname $(hostname), pid $$ inside\"; ps -o pid,comm 2>/dev/null || ls /proc | grep '^[0-9]'"])
        .output()?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    let net = container.open_namespace(Namespace::Net)?.id()?;
    println!("container network namespace: {net}");
    container.kill()?;
    container.wait()?;
    Ok(())
}
