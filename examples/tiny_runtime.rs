//! A tiny container runtime: a root filesystem, mounts, a cgroup with
//! limits, and an init as PID 1 that reaps orphans and forwards signals.
//!
//! ```text
//! tiny_runtime ROOTFS [CMD [ARGS…]]        (default CMD: /bin/sh)
//! sudo target/debug/examples/tiny_runtime /srv/busybox sh -c 'ps; cat /proc/self/cgroup'
//! ```
//!
//! `cargo run --example rootfs_busybox` shows how to make a busybox root.

use containment::cgroup::{CgroupSpec, Resources};
use containment::mount::Mount;
use containment::{Container, Namespaces};
use std::os::unix::process::ExitStatusExt;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let rootfs = args
        .next()
        .ok_or("usage: tiny_runtime ROOTFS [CMD [ARGS…]]")?;
    let mut cmd: Vec<String> = args.collect();
    if cmd.is_empty() {
        cmd.push("/bin/sh".into());
    }
    let id = std::process::id();

    let mut child = Container::new()
        .unshare(
            Namespaces::PID
                | Namespaces::MOUNT
                | Namespaces::UTS
                | Namespaces::IPC
                | Namespaces::NET
                | Namespaces::CGROUP,
        )
        .hostname(format!("tiny-{id}"))
        // pivot_root into ROOTFS, with a fresh /proc, a minimal /dev and
        // docker's masked and read-only paths.
        .root(&rootfs)
        .docker_default_paths()
        .mount(Mount::tmpfs("/tmp").size(64 << 20))
        .mount(Mount::tmpfs("/run"))
        .cgroup(
            CgroupSpec::new()
                .name(format!("tiny-runtime-{id}"))
                .resources(Resources::new().memory_max(256 << 20).pids_max(128)),
        )
        // A tini-like PID 1 (the crate's sealed helper): the program runs as
        // its child, orphans are reaped, SIGTERM/SIGINT reach the program.
        .init(true)
        .command(&cmd[0])
        .args(&cmd[1..])
        .env_clear()
        .env(
            "PATH",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        )
        .env("HOME", "/root")
        .current_dir("/")
        .spawn()?;

    if let Some(cg) = child.cgroup() {
        eprintln!(
            "tiny_runtime: pid {} in cgroup {}",
            child.id(),
            cg.path().display()
        );
    }
    let status = child.wait()?;
    std::process::exit(
        status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
    );
}
