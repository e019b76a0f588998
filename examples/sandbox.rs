//! A sandbox for an untrusted program: no network, the host's files
//! read-only (a fresh scratch directory as its `/tmp`, removed afterwards),
//! no capabilities, no new privileges, and with the `seccomp` and `landlock`
//! features a system-call deny list and a Landlock ruleset.
//!
//! Landlock rules name the host's paths (the ruleset is built in the parent
//! before any mount), so the scratch space is a host directory bind-mounted
//! on `/tmp`, which one rule can allow; a tmpfs made in the container would
//! be out of every rule's reach.
//!
//! ```text
//! sandbox -- CMD [ARGS…]
//! sudo target/debug/examples/sandbox -- sh -c 'touch /etc/x; ping -c1 1.1.1.1; echo ok > /tmp/y'
//! cargo run --features seccomp,landlock --example sandbox -- -- unshare -r true
//! ```

use containment::mount::Mount;
use containment::{Capabilities, Container, Namespaces};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let cmd: Vec<String> = std::env::args().skip_while(|a| a != "--").skip(1).collect();
    let (program, args) = cmd.split_first().ok_or("usage: sandbox -- CMD [ARGS…]")?;

    let scratch = std::env::temp_dir().join(format!("sandbox-{}", std::process::id()));
    std::fs::create_dir(&scratch)?;
    let status = run(program, args, &scratch);
    std::fs::remove_dir_all(&scratch)?;
    std::process::exit(status?.code().unwrap_or(128 + 9));
}

fn run(
    program: &str,
    args: &[String],
    scratch: &std::path::Path,
) -> Result<std::process::ExitStatus, Box<dyn std::error::Error>> {
    let sandbox = Container::new()
        .unshare(
            Namespaces::NET
                | Namespaces::MOUNT
                | Namespaces::PID
                | Namespaces::IPC
                | Namespaces::UTS,
        )
        .hostname("sandbox")
        // The host's root, read-only in the sandbox's mount namespace; the
        // sandbox's own /proc (new PID namespace) and a scratch /tmp.
        .read_only_root(true)
        .mount(Mount::bind(scratch, "/tmp"))
        .capabilities(Capabilities::none())
        .no_new_privs(true)
        .die_with_parent(true);

    #[cfg(feature = "seccomp")]
    let sandbox = sandbox.seccomp(containment::seccomp::Filter::deny(
        [
            libc::SYS_ptrace,
            libc::SYS_mount,
            libc::SYS_unshare,
            libc::SYS_setns,
            libc::SYS_bpf,
            libc::SYS_keyctl,
        ],
        libc::EPERM,
    )?);
    #[cfg(feature = "landlock")]
    let sandbox = sandbox.landlock(
        containment::landlock::Landlock::new()
            .allow_read("/")
            .allow_read_write(scratch)
            .allow_read_write("/dev/null"),
    );

    let status = sandbox
        .command(program)
        .args(args)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .status()?;
    Ok(status)
}
