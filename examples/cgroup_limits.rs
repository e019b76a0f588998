//! Runs a command in a fresh cgroup under docker-style limits and prints its
//! stats (root). On a pure cgroup v2 host the child starts in its cgroup
//! with `CLONE_INTO_CGROUP`; on a hybrid or cgroup v1 host the limits are
//! written in the v1 hierarchies and the child joins them (`cgroup.procs`)
//! before its program runs. `--cgroup-backend v1|v2|hybrid` forces one.
//!
//! ```text
//! cargo run --example cgroup_limits -- --memory 64m --cpus 0.5 --pids-limit 32 -- sh -c 'echo hi'
//! cargo run --example cgroup_limits -- --memory 32m --oom-kill-disable true -- sh -c 'echo hi'
//! ```

use containment::cgroup::{Backend, CgroupSpec, Resources};
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
    let mut spec = CgroupSpec::new();
    for pair in flags.chunks(2) {
        if pair[0] == "--cgroup-backend" {
            spec = spec.backend(match pair[1].as_str() {
                "v1" => Backend::V1,
                "v2" => Backend::V2,
                "hybrid" => Backend::Hybrid,
                other => return Err(format!("unknown backend {other:?}").into()),
            });
            continue;
        }
        r = r.docker_flag(&pair[0], &pair[1])?;
    }
    println!("limits: {r:?}");
    // Kept on exit so that its stats can be read after the program ends.
    let mut child = Container::new()
        .unshare(Namespaces::PID | Namespaces::MOUNT | Namespaces::CGROUP)
        .cgroup(spec.resources(r).remove_on_exit(false))
        .command(&cmd[0])
        .args(&cmd[1..])
        .spawn()?;
    let cg = child.take_cgroup().ok_or("no cgroup")?;
    println!("cgroup {} ({:?})", cg.path().display(), cg.backend());
    for c in ["memory", "cpu", "cpuset", "pids", "blkio", "freezer"] {
        if let Some(p) = cg.v1_path(c) {
            println!("  v1 {c}: {}", p.display());
        }
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
    cg.destroy()?;
    Ok(())
}
