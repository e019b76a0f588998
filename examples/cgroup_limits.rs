//! Runs a command in a fresh cgroup under docker-style limits and prints
//! its stats (root; limits need a pure cgroup v2 host).
//!
//! ```text
//! cargo run --example cgroup_limits -- --memory 64m --cpus 0.5 --pids-limit 32 -- sh -c 'echo hi'
//! ```
//!
//! Until the builder's `.cgroup(...)` starts the child directly inside with
//! `CLONE_INTO_CGROUP`, this uses `std::process::Command` and
//! `Cgroup::attach` (the child waits on its stdin until it is attached).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use containment::cgroup::{Cgroup, Resources};

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

    let cg = Cgroup::create(&format!("example-{}", std::process::id()))?;
    let result = run(&cg, &r, cmd);
    // Whatever happened, leave nothing behind.
    cg.kill()?;
    cg.remove()?;
    result
}

fn run(cg: &Cgroup, r: &Resources, cmd: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    cg.apply(r)?;
    println!("cgroup {} with {:?}", cg.path().display(), r.writes());
    // `read _` holds the program back until it is inside the cgroup.
    let script = r#"read _; exec "$@""#;
    let mut child = Command::new("/bin/sh")
        .args(["-c", script, "sh"])
        .args(cmd)
        .stdin(Stdio::piped())
        .spawn()?;
    cg.attach(child.id())?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(b"\n")?;
    }
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
    Ok(())
}
