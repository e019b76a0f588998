//! Runs a command in a fresh cgroup under docker-style limits, started there
//! directly with `CLONE_INTO_CGROUP`, and prints its stats (root; limits
//! need a pure cgroup v2 host — `cargo xtask vm-test` boots one).
//!
//! ```text
//! cargo run --example cgroup_limits -- --memory 64m --cpus 0.5 --pids-limit 32 -- sh -c 'echo hi'
//! ```

use containment::cgroup::{CgroupSpec, Resources};
use containment::{Container, Namespaces};
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let split = args.iter().position(|a| a == "--").unwrap_or(args.len());
    let (flags, cmd) = args.split_at(split);
    let cmd = cmd.get(1..).unwrap_or_default();
    if cmd.is_empty() || flags.len() % 2 != 0 {
        eprintln!("usage: cgroup_limits [--flag value]... -- program [args]...");
        std::process::exit(2);
    }
    let mut r = Resources::new();
    for pair in flags.chunks(2) {
        r = r.docker_flag(&pair[0], &pair[1])?;
    }
    println!("limits: {:?}", r.writes());
    // Kept on exit so that its stats can be read after the program ends.
    let mut child = Container::builder()
        .namespaces(Namespaces::PID | Namespaces::MOUNT | Namespaces::CGROUP)
        .cgroup(CgroupSpec::new().resources(r).remove_on_exit(false))
        .command(&cmd[0], &cmd[1..])
        .spawn()?;
    let cg = child.take_cgroup().ok_or("no cgroup")?;
    println!("cgroup {}", cg.path().display());
    let status = child.wait()?;
    cg.wait_until_empty(Duration::from_secs(5))?;
    let s = cg.stats()?;
    println!("exit: {status}");
    println!("cpu: {:?}", s.cpu);
    println!(
        "memory: current {:?} peak {:?} events {:?}",
        s.memory.current, s.memory.peak, s.memory.events
    );
    println!("pids: {:?}", s.pids);
    cg.destroy()?;
    Ok(())
}
