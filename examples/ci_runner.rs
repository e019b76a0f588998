//! A CI runner: one job in a fresh container, with limits and a timeout;
//! on timeout it is stopped with a grace period (SIGTERM, then SIGKILL).
//!
//! ```text
//! ci_runner [--timeout SECS] [--grace SECS] [--memory 512m] [--pids-limit N] -- CMD [ARGS…]
//! sudo target/debug/examples/ci_runner --timeout 2 -- sh -c 'echo building; sleep 10'
//! ```
//!
//! The job gets new PID, mount, IPC, UTS and network namespaces (only `lo`),
//! a cgroup of its own (removed when it ends) with the limits, and a clean
//! environment. The exit status is the job's; 124 on timeout (as
//! `timeout(1)`), 125 when the container could not be set up.

use containment::cgroup::Resources;
use containment::{Container, Namespaces};
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

fn main() {
    std::process::exit(match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ci_runner: {e}");
            125
        }
    })
}

fn run() -> Result<i32, Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (mut timeout, mut grace) = (Duration::from_secs(600), Duration::from_secs(10));
    let mut limits = Resources::new();
    let mut cmd = Vec::new();
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--timeout" => timeout = Duration::from_secs(value()?.parse()?),
            "--grace" => grace = Duration::from_secs(value()?.parse()?),
            "--memory" | "--pids-limit" | "--cpus" => limits = limits.docker_flag(&a, &value()?)?,
            "--" => {
                cmd.extend(args.by_ref());
                break;
            }
            _ => return Err(format!("unknown option {a}").into()),
        }
    }
    let (program, job_args) = cmd.split_first().ok_or("no command given")?;

    let mut job = Container::new()
        .unshare(
            Namespaces::PID
                | Namespaces::MOUNT
                | Namespaces::IPC
                | Namespaces::UTS
                | Namespaces::NET,
        )
        .hostname("ci")
        .cgroup(limits)
        .die_with_parent(true)
        .command(program)
        .args(job_args)
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env("CI", "true")
        // The runner's terminal signals (Ctrl-C) do not reach the job: the
        // runner decides when it stops.
        .process_group(0)
        .spawn()?;

    let status = match job.wait_timeout(timeout)? {
        Some(s) => s,
        None => {
            eprintln!("ci_runner: timed out after {timeout:?}, stopping (grace {grace:?})");
            let s = job.stop(grace)?;
            eprintln!("ci_runner: job ended by {:?}", s.signal());
            return Ok(124);
        }
    };
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}
