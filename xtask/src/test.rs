//! `cargo xtask test`: the project's whole test suite, as the README and CI
//! run it.
//!
//! 1. Installs the Debian packages the host tests need when missing (as
//!    root): `busybox-static` (rootfs fixtures), `util-linux` (`lsns`, to
//!    compare the listing against), `iproute2`, `python3`, `tmux` (the
//!    terminal test of `run -it`), and for the
//!    `pull` feature `docker-registry`, `libssl-dev`, `pkg-config`; `podman`,
//!    `docker.io` and `containerd` for contrun's engine tests; for the
//!    real images of tests/image_real.rs `debootstrap`, `umoci`, `skopeo`
//!    and `docker.io` (no daemon is started by the packages: the tests
//!    start their own).
//! 2. Runs the host suite: `cargo test --workspace --features full,testing`.
//! 3. Runs the VM suite: `cargo xtask vm-test --require-tests` (pure cgroup v2
//!    kernel under QEMU), then `cargo xtask vm-test --systemd
//!    --require-tests` (the same kernel with systemd as PID 1, ~25 s).
//!
//! `--host-only` and `--vm-only` run one half; arguments after `--` go to
//! the host test binaries.

use crate::{log, run_cmd, Result};
use std::path::Path;
use std::process::Command;

/// Help text of `cargo xtask test`.
pub const HELP: &str = "\
cargo xtask test [--host-only | --vm-only] [-- TEST-ARGS]

Runs the whole suite as CI does: installs the Debian packages the host tests
need (as root, when missing), runs `cargo test --workspace --features full,testing`,
then the VM suites (`cargo xtask vm-test --require-tests`, and with
`--systemd`: systemd as PID 1).
Set CONTAINMENT_NO_SKIP=1 to turn every skipped test into a failure.
";

/// Debian packages the host tests use, with a file that shows each is there.
const PACKAGES: &[(&str, &str)] = &[
    ("busybox-static", "/bin/busybox"),
    ("util-linux", "/usr/bin/lsns"),
    ("iproute2", "/usr/sbin/ip"),
    ("python3", "/usr/bin/python3"),
    // tests/run_tty.rs drives `run -it` in a tmux pane.
    ("tmux", "/usr/bin/tmux"),
    // `pull` (in `full`): the registry its test starts on 127.0.0.1, and
    // OpenSSL's headers for native-tls.
    ("docker-registry", "/usr/bin/docker-registry"),
    ("libssl-dev", "/usr/include/openssl/ssl.h"),
    ("pkg-config", "/usr/bin/pkg-config"),
    // tests/rootless.rs: newuidmap/newgidmap for subordinate ranges, pasta
    // for user-mode networking.
    ("uidmap", "/usr/bin/newuidmap"),
    ("passt", "/usr/bin/pasta"),
    // runtime/tests/engines.rs: the engines that drive contrun (podman
    // brings conmon; docker.io brings containerd and runc). Their
    // services are not started by the install where policy-rc.d says so
    // (as in our machines' images); the test starts its own daemons.
    ("podman", "/usr/bin/podman"),
    ("docker.io", "/usr/sbin/dockerd"),
    ("containerd", "/usr/bin/ctr"),
    // tests/image_real.rs: real images made by the tools themselves once
    // per run (a Debian root, an OCI layout, a `docker build` image with
    // whiteouts, a registry push).
    ("debootstrap", "/usr/sbin/debootstrap"),
    ("umoci", "/usr/bin/umoci"),
    ("skopeo", "/usr/bin/skopeo"),
];

fn ensure_packages() -> Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|(_, f)| !Path::new(f).exists())
        .map(|(p, _)| *p)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    log(&format!("installing {}", missing.join(" ")));
    // The engines' packages start their daemons on install (dockerd would
    // make a docker0 bridge and iptables rules) unless policy-rc.d says
    // no: say so for the install when the host has no policy of its own.
    let policy = Path::new("/usr/sbin/policy-rc.d");
    let own_policy = !policy.exists();
    if own_policy {
        std::fs::write(policy, "#!/bin/sh\nexit 101\n")
            .map_err(|e| format!("{}: {e}", policy.display()))?;
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(policy, std::fs::Permissions::from_mode(0o755));
    }
    let r = run_cmd(Command::new("apt-get").args(["update", "-qq"])).and_then(|()| {
        run_cmd(
            Command::new("apt-get")
                .args(["install", "-y", "-qq", "--no-install-recommends"])
                .args(&missing)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    });
    if own_policy {
        let _ = std::fs::remove_file(policy);
    }
    r
}

/// Runs `cargo xtask test` with the arguments after `test`.
pub fn run(args: impl Iterator<Item = String>) -> Result<()> {
    let (mut host, mut vm) = (true, true);
    let mut rest = Vec::new();
    let mut args = args.peekable();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--host-only" => vm = false,
            "--vm-only" => host = false,
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(());
            }
            "--" => {
                rest.extend(args.by_ref());
            }
            other => return Err(format!("unknown argument `{other}`\n\n{HELP}")),
        }
    }
    if host {
        ensure_packages()?;
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut c = Command::new(cargo);
        c.args(["test", "--workspace", "--features", "full,testing"]);
        if !rest.is_empty() {
            c.arg("--").args(&rest);
        }
        run_cmd(&mut c)?;
    }
    if vm {
        let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
        run_cmd(Command::new(&exe).args(["vm-test", "--require-tests"]))?;
        run_cmd(Command::new(&exe).args(["vm-test", "--systemd", "--require-tests"]))?;
    }
    Ok(())
}
