//! User-mode networking for a rootless container: its network namespace
//! connected to the host's network by `pasta(1)` (Debian's `passt`
//! package), as podman does.
//!
//! An unprivileged caller cannot create a veth pair into the host's network
//! namespace. `pasta` can: it runs as the caller in the host's network
//! namespace, joins the container's user and network namespaces to create a
//! `tap` device there, copies the host's addresses and routes onto it, and
//! then carries the traffic through ordinary sockets of the host. So
//! outbound connections of the container are connections of the caller's
//! uid on the host, and a published port is a socket `pasta` listens on on
//! the host (`-p 127.0.0.1:8080:80`). Connections inside to the gateway's
//! address reach the host's loopback (`127.0.0.1`), unless
//! [`UserNet::map_gateway`] turns that off.
//!
//! The spawn starts `pasta` while the child waits for its id maps (the
//! network is configured before the program runs), waits for it to
//! daemonize (its foreground process exits 0 once the namespace is
//! configured), and takes a pidfd of the daemon: the [`Child`](crate::Child)
//! kills it when the container is reaped or dropped.
//!
//! # What it needs
//!
//! - `pasta` in `PATH`, `/usr/bin` or `/bin` ([`crate::SpawnError::UserNetHelperMissing`]);
//! - [`Namespaces::USER`](crate::Namespaces::USER) and
//!   [`Namespaces::NET`](crate::Namespaces::NET);
//! - `/dev/net/tun` readable and writable by the caller (mode 0666, the
//!   distributions' default): `pasta` opens it inside the container's
//!   namespaces, where the host's root-owned 0600 node is out of reach
//!   ([`crate::SpawnError::UserNetHelper`] with a hint);
//! - a caller that is not root: `pasta` refuses to keep root's privileges
//!   and cannot enter the namespaces as `nobody`.
//!
//! # Lifetime
//!
//! The daemon is killed by the [`Child`](crate::Child) that owns the
//! container (at `wait`, `try_wait` once exited, or drop). If the caller is
//! killed with `SIGKILL` before that, the daemon is left serving an empty
//! network namespace until killed (this `pasta` does not quit when the
//! namespace's last process exits).
//!
//! # References
//! - [`pasta(1)`](https://passt.top/builds/latest/web/passt.1.html)

use std::net::IpAddr;
use std::path::PathBuf;

/// A published port: connections to `host_addr:host_port` on the host are
/// forwarded to `container_port` inside (TCP).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishedPort {
    /// Address on the host to listen on (`127.0.0.1` keeps it local).
    pub host_addr: IpAddr,
    /// Port on the host.
    pub host_port: u16,
    /// Port inside the container.
    pub container_port: u16,
}

impl PublishedPort {
    /// Parses docker's `-p` form `ADDR:HOSTPORT:CONTAINERPORT` (an IPv6
    /// address in brackets: `[::1]:8080:80`).
    ///
    /// # Errors
    /// [`crate::namespace::Error::Parse`]-like text in a [`ParseError`].
    pub fn parse(spec: &str) -> Result<PublishedPort, ParseError> {
        let bad = |reason: &str| ParseError {
            input: spec.to_string(),
            reason: reason.to_string(),
        };
        let (addr, rest) = if let Some(r) = spec.strip_prefix('[') {
            let (a, rest) = r.split_once("]:").ok_or_else(|| bad("missing ]:"))?;
            (a, rest)
        } else {
            spec.split_once(':')
                .ok_or_else(|| bad("expected ADDR:HOSTPORT:CONTAINERPORT"))?
        };
        let host_addr: IpAddr = addr.parse().map_err(|e| bad(&format!("address: {e}")))?;
        let (hp, cp) = rest
            .split_once(':')
            .ok_or_else(|| bad("expected HOSTPORT:CONTAINERPORT"))?;
        let port = |s: &str, what: &str| -> Result<u16, ParseError> {
            match s.parse::<u16>() {
                Ok(0) => Err(bad(&format!("{what} 0"))),
                Ok(p) => Ok(p),
                Err(e) => Err(bad(&format!("{what}: {e}"))),
            }
        };
        Ok(PublishedPort {
            host_addr,
            host_port: port(hp, "host port")?,
            container_port: port(cp, "container port")?,
        })
    }

    /// The `pasta -t` argument (`127.0.0.1/8080:80`).
    pub(crate) fn pasta_spec(&self) -> String {
        format!(
            "{}/{}:{}",
            self.host_addr, self.host_port, self.container_port
        )
    }
}

/// A port specification that could not be parsed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot parse published port {input:?}: {reason}")]
pub struct ParseError {
    /// The input.
    pub input: String,
    /// Why.
    pub reason: String,
}

/// User-mode networking by `pasta` ([`crate::Container::user_network`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserNet {
    pub(crate) publish: Vec<PublishedPort>,
    pub(crate) no_map_gateway: bool,
    pub(crate) program: Option<PathBuf>,
}

impl UserNet {
    /// `pasta` with its defaults: the host's addresses and routes copied,
    /// outbound TCP/UDP/ICMP, the gateway's address mapped to the host's
    /// loopback, no published port.
    pub fn pasta() -> UserNet {
        UserNet::default()
    }

    /// Publishes a port (`pasta -t ADDR/HOSTPORT:CONTAINERPORT`).
    pub fn publish(mut self, port: PublishedPort) -> UserNet {
        self.publish.push(port);
        self
    }

    /// Whether connections to the gateway's address reach the host's
    /// loopback (default `true`; `false` is `pasta --no-map-gw`).
    pub fn map_gateway(mut self, yes: bool) -> UserNet {
        self.no_map_gateway = !yes;
        self
    }

    /// Runs this `pasta` binary instead of the one found in `PATH`.
    pub fn program(mut self, path: impl Into<PathBuf>) -> UserNet {
        self.program = Some(path.into());
        self
    }

    /// The arguments before the target pid.
    pub(crate) fn args(&self) -> Vec<String> {
        let mut a = vec!["--config-net".to_string(), "--quiet".to_string()];
        if self.no_map_gateway {
            a.push("--no-map-gw".into());
        }
        for p in &self.publish {
            a.push("-t".into());
            a.push(p.pasta_spec());
        }
        a
    }
}

/// What the spawn path runs (validated in the parent).
#[derive(Debug)]
pub(crate) struct UserNetPlan {
    pub program: PathBuf,
    pub args: Vec<String>,
}

/// Starts `pasta` for the child `pid` (waiting on its sync pipe, maps
/// written) and returns a pidfd of the daemon once it has configured the
/// namespace.
pub(crate) fn start(
    plan: &UserNetPlan,
    pid: i32,
) -> Result<std::os::fd::OwnedFd, crate::SpawnError> {
    use crate::SpawnError;
    // The pid file goes in a directory of our own (mode 0700, created
    // new: an existing name fails), never a name in /tmp that another user
    // could have made a symlink.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let dir = std::env::temp_dir().join(format!(
        "containment-pasta-{}-{pid}-{nanos}",
        std::process::id()
    ));
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|source| SpawnError::Setup {
                op: "creating pasta's pid file directory",
                source,
                hint: None,
            })?;
    }
    let pidfile = dir.join("pasta.pid");
    let out = std::process::Command::new(&plan.program)
        .args(&plan.args)
        .arg("--pid")
        .arg(&pidfile)
        .arg(pid.to_string())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output();
    let text = std::fs::read_to_string(&pidfile);
    let _ = std::fs::remove_dir_all(&dir);
    let out = out.map_err(|source| SpawnError::Setup {
        op: "starting pasta",
        source,
        hint: None,
    })?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let hint = hint_for(&stderr);
        return Err(SpawnError::UserNetHelper {
            helper: plan.program.clone(),
            status: out.status.code(),
            stderr,
            hint,
        });
    }
    let daemon: i32 = text
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| SpawnError::UserNetHelper {
            helper: plan.program.clone(),
            status: Some(0),
            stderr: "no pid file written".into(),
            hint: None,
        })?;
    let gone = |source| SpawnError::Setup {
        op: "pidfd_open of the pasta daemon",
        source,
        hint: Some("the pasta daemon exited right after configuring the namespace".into()),
    };
    let fd = crate::sys::pidfd_open(daemon).map_err(gone)?;
    // The pidfd now pins that process: check it is pasta (its pid was not
    // reused after a crash), so that the Child never kills another process.
    let stat = std::fs::read_to_string(format!("/proc/{daemon}/stat")).unwrap_or_default();
    if !(stat.contains(" (pasta") || stat.contains(" (passt")) {
        return Err(gone(std::io::Error::from_raw_os_error(libc::ESRCH)));
    }
    Ok(fd)
}

/// The usual cause of a failure `pasta` printed.
fn hint_for(stderr: &str) -> Option<String> {
    if stderr.contains("tun") {
        return Some(
            "pasta opens /dev/net/tun inside the container's namespaces: the caller needs read \
             and write access to it (mode 0666, the distributions' default; `ls -l \
             /dev/net/tun`)"
                .into(),
        );
    }
    if stderr.contains("Don't run as root") || stderr.contains("user namespace") {
        return Some(
            "pasta, started by root, drops to nobody and then cannot enter the container's \
             namespaces: use it from an unprivileged caller, or a veth pair as root"
                .into(),
        );
    }
    None
}

/// The `pasta` binary a [`UserNet`] runs by default: the first executable
/// `pasta` in `PATH`, `/usr/bin` or `/bin`; `None` when it is not installed
/// (Debian's `passt` package), in which case a spawn with a [`UserNet`]
/// fails with [`crate::SpawnError::UserNetHelperMissing`].
pub fn find_pasta() -> Option<std::path::PathBuf> {
    crate::container::find_pasta()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_published_ports() {
        let p = PublishedPort::parse("127.0.0.1:8080:80").unwrap();
        assert_eq!(p.host_port, 8080);
        assert_eq!(p.container_port, 80);
        assert_eq!(p.pasta_spec(), "127.0.0.1/8080:80");
        let v6 = PublishedPort::parse("[::1]:8443:443").unwrap();
        assert_eq!(v6.pasta_spec(), "::1/8443:443");
        for bad in [
            "8080:80",
            "x:1:2",
            "127.0.0.1:0:80",
            "127.0.0.1:1:70000",
            "[::1:1:2",
        ] {
            assert!(PublishedPort::parse(bad).is_err(), "{bad}");
        }
        let n = UserNet::pasta().publish(p).map_gateway(false);
        assert_eq!(
            n.args(),
            [
                "--config-net",
                "--quiet",
                "--no-map-gw",
                "-t",
                "127.0.0.1/8080:80"
            ]
        );
    }
}
