//! The systemd cgroup driver: on a host run by systemd, each container's
//! cgroup is a transient scope unit made over D-Bus, as docker's and runc's
//! `--cgroup-driver=systemd` do (`/sys/fs/cgroup/system.slice/docker-<id>.scope`).
//!
//! Chosen with [`CgroupSpec::systemd`](super::CgroupSpec::systemd). The
//! parent is then a slice (docker's `--cgroup-parent=user1.slice`; default
//! `system.slice`, `user.slice` for the user manager), the unit is
//! `<prefix>-<name>.scope` ([`unit_name`]). Before the container is cloned,
//! the parent:
//!
//! 1. forks a *placeholder* process (it holds nothing of the caller's: all
//!    descriptors closed, not dumpable, killed when its parent dies) because
//!    systemd refuses a scope without a process;
//! 2. calls `StartTransientUnit(unit, "fail", properties, [])` on
//!    `org.freedesktop.systemd1.Manager` with `Slice`, `Delegate=yes`,
//!    `PIDs=[placeholder]`, `DefaultDependencies=no`,
//!    `CollectMode=inactive-or-failed`, a description, and the limits
//!    systemd knows (`MemoryMax`, `MemoryHigh`, `MemoryLow`,
//!    `MemorySwapMax`, `CPUWeight`, `CPUQuotaPerSecUSec`,
//!    `CPUQuotaPeriodUSec`, `TasksMax`, `AllowedCPUs`, `AllowedMemoryNodes`,
//!    `IOWeight`), and waits for the job's `JobRemoved` signal (result
//!    `done`);
//! 3. asks the manager for the scope's `ControlGroup`, opens that directory
//!    and writes the remaining limits into it (the delegated cgroup:
//!    `io.max`, per-device `io.weight`, `memory.oom.group`);
//! 4. starts the child there with `clone3(CLONE_INTO_CGROUP)`, as for any
//!    v2 cgroup, then kills the placeholder.
//!
//! When the container ends (or the spawn fails), the scope is stopped with
//! `StopUnit(unit, "replace")` (systemd kills what is left and removes the
//! cgroup); a scope systemd already collected is not an error.
//!
//! Why a placeholder rather than the child's own pid in `PIDs`: the child
//! then never runs outside its cgroup (limits hold from its first
//! instruction, a new cgroup namespace is rooted at the scope at clone, no
//! extra wait step in the child), and the spawn path is the v2 path
//! unchanged. The cost is one `fork` of the caller and its reaping.
//!
//! The manager: [`Manager::System`] (the system bus; root), [`Manager::User`]
//! (the caller's session bus, its `systemd --user`: the only way an
//! unprivileged user gets a delegated cgroup on a modern distribution), or
//! [`Manager::Private`], a peer serving the Manager interface on a socket
//! (no bus daemon; the tests' mock manager).
//!
//! The D-Bus side needs the crate's `systemd` feature (zbus, blocking);
//! without it [`CgroupSpec::systemd`](super::CgroupSpec::systemd) is refused
//! at spawn with [`Error::Invalid`].
//!
//! # References
//!
//! `org.freedesktop.systemd1(5)`, `systemd.resource-control(5)`,
//! `systemd.scope(5)`; systemd's `docs/CGROUP_DELEGATION.md`.

use std::path::PathBuf;

use super::Error;

#[cfg(feature = "systemd")]
mod bus;
#[cfg(feature = "systemd")]
pub(crate) use bus::Scope;
#[cfg(all(test, feature = "systemd"))]
mod tests;

/// Which systemd manager makes the scope.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Manager {
    /// PID 1, over the system bus (`/run/dbus/system_bus_socket`): root.
    #[default]
    System,
    /// The caller's own `systemd --user`, over its session bus
    /// (`$DBUS_SESSION_BUS_ADDRESS`, else `$XDG_RUNTIME_DIR/bus`): rootless
    /// cgroups.
    User,
    /// A peer that serves the Manager interface directly on this socket
    /// (peer-to-peer, no bus daemon), e.g. a test double.
    ///
    /// Not systemd's own `/run/systemd/private`: systemd 252 puts its
    /// well-known name in the sender field of what it sends there, which
    /// zbus 5.19 refuses (its connection thread panics on the message and
    /// the call times out, [`SystemdFailure::Timeout`]).
    Private(PathBuf),
}

/// The systemd driver's options ([`CgroupSpec::systemd`](super::CgroupSpec::systemd)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemdOptions {
    /// The manager to ask.
    pub manager: Manager,
    /// The unit name's prefix: `<prefix>-<name>.scope` (docker: `docker`).
    /// Default `containment`.
    pub prefix: String,
    /// How long to wait for each answer and job of the manager (default
    /// [`DEFAULT_TIMEOUT`](super::DEFAULT_TIMEOUT)); then
    /// [`SystemdFailure::Timeout`].
    pub timeout: std::time::Duration,
}

impl Default for SystemdOptions {
    fn default() -> SystemdOptions {
        SystemdOptions {
            manager: Manager::System,
            prefix: "containment".into(),
            timeout: super::DEFAULT_TIMEOUT,
        }
    }
}

impl SystemdOptions {
    /// The system manager, prefix `containment`.
    pub fn new() -> SystemdOptions {
        SystemdOptions::default()
    }
    /// Sets [`manager`](Self::manager).
    pub fn manager(mut self, manager: Manager) -> SystemdOptions {
        self.manager = manager;
        self
    }
    /// Sets [`prefix`](Self::prefix).
    pub fn prefix(mut self, prefix: impl Into<String>) -> SystemdOptions {
        self.prefix = prefix.into();
        self
    }
    /// Sets [`timeout`](Self::timeout).
    pub fn timeout(mut self, timeout: std::time::Duration) -> SystemdOptions {
        self.timeout = timeout;
        self
    }
    /// The default slice: `system.slice` for the system manager,
    /// `user.slice` for a user manager (runc's rootless default).
    pub fn default_slice(&self) -> &'static str {
        match self.manager {
            Manager::User => "user.slice",
            _ => "system.slice",
        }
    }
}

/// Why a request to the systemd manager failed ([`Error::Systemd`]).
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SystemdFailure {
    /// No connection to the manager (no bus, no socket, refused).
    Connect(String),
    /// The manager answered with a D-Bus error.
    Bus {
        /// The error name (`org.freedesktop.systemd1.UnitExists`).
        name: String,
        /// Its message.
        message: String,
    },
    /// The job ended with another result than `done` (`failed`,
    /// `canceled`, `timeout`, `dependency`, `skipped`).
    Job(String),
    /// No answer to a call, or no `JobRemoved` for the job, within this
    /// many milliseconds ([`SystemdOptions::timeout`]).
    Timeout(u64),
    /// An answer of an unexpected shape.
    Protocol(String),
}

impl std::fmt::Display for SystemdFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SystemdFailure::Connect(m) => write!(f, "cannot reach the manager: {m}"),
            SystemdFailure::Bus { name, message } => write!(f, "{name}: {message}"),
            SystemdFailure::Job(r) => write!(f, "the job ended with result {r:?}"),
            SystemdFailure::Timeout(ms) => write!(f, "no JobRemoved signal within {ms} ms"),
            SystemdFailure::Protocol(m) => write!(f, "unexpected answer: {m}"),
        }
    }
}

/// The characters systemd accepts in a unit name besides its type suffix
/// (`unit_name_is_valid`: ASCII letters, digits, `:-_.\`), at most 255 bytes.
fn valid_unit_chars(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b":-_.\\".contains(&b))
}

/// The scope unit for container `name`: `<prefix>-<name>.scope` (docker's
/// `docker-<id>.scope`).
///
/// # Errors
///
/// [`Error::Invalid`] (field `"systemd unit"`) when the prefix or the name
/// holds a character systemd refuses in a unit name (only ASCII letters,
/// digits and `:-_.\`), or the unit name exceeds 255 bytes.
pub fn unit_name(prefix: &str, name: &str) -> Result<String, Error> {
    let unit = format!("{prefix}-{name}.scope");
    if !valid_unit_chars(prefix) || !valid_unit_chars(name) || unit.len() > 255 {
        return Err(Error::Invalid {
            field: "systemd unit",
            value: unit,
            reason: "a unit name holds only ASCII letters, digits and \":-_.\\\", at most 255 \
                     bytes (systemd.unit(5))"
                .into(),
        });
    }
    Ok(unit)
}

/// The cgroup path of a slice below its manager's root: `a-b.slice` is
/// `a.slice/a-b.slice`, `-.slice` the root itself (systemd's
/// `slice_build_subslice`, runc's `ExpandSlice`).
///
/// # Errors
///
/// [`Error::Invalid`] (field `"slice"`) for a name that is not a slice
/// (`.slice` suffix, no `/`, valid unit characters, no leading, trailing
/// or doubled `-`).
pub fn slice_path(slice: &str) -> Result<PathBuf, Error> {
    let bad = |why: &str| Error::Invalid {
        field: "slice",
        value: slice.to_string(),
        reason: why.to_string(),
    };
    let Some(base) = slice.strip_suffix(".slice") else {
        return Err(bad("a slice name ends in \".slice\" (systemd.slice(5))"));
    };
    if base == "-" {
        return Ok(PathBuf::new());
    }
    if !valid_unit_chars(base) || base.contains('.') {
        return Err(bad(
            "a slice name holds only ASCII letters, digits and \":-_\\\" before \".slice\"",
        ));
    }
    if base.starts_with('-') || base.ends_with('-') || base.contains("--") {
        return Err(bad(
            "a slice name has no leading, trailing or doubled '-' (each '-' separates a parent)",
        ));
    }
    let mut path = PathBuf::new();
    let mut prefix = String::new();
    for part in base.split('-') {
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        path.push(format!("{prefix}.slice"));
    }
    Ok(path)
}

/// One property of `StartTransientUnit` (name and typed value).
#[cfg_attr(not(feature = "systemd"), allow(dead_code))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PropValue {
    /// `s`
    Str(String),
    /// `b`
    Bool(bool),
    /// `t`
    U64(u64),
    /// `au`
    Pids(Vec<u32>),
    /// `ay` (a CPU or NUMA node bit mask, lowest first)
    Bytes(Vec<u8>),
    /// `a(ss)` (`DeviceAllow`: device and access)
    Devices(Vec<(String, String)>),
}

/// Whether the device rules of `resources` need the crate's own BPF
/// program in the scope's cgroup: systemd cannot express them
/// (`DevicePolicy`/`DeviceAllow` only allow-list; a default of allow with
/// deny exceptions, or a driver-less major, is not expressible).
#[cfg_attr(not(feature = "systemd"), allow(dead_code))]
pub(crate) fn devices_need_program(resources: &super::Resources) -> bool {
    !resources.devices.is_empty() && device_properties(resources).is_none()
}

/// `DevicePolicy` and `DeviceAllow` for the device rules (empty without
/// rules), `None` when systemd cannot express them.
fn device_properties(resources: &super::Resources) -> Option<Vec<(&'static str, PropValue)>> {
    if resources.devices.is_empty() {
        return Some(Vec::new());
    }
    let proc_devices = std::fs::read_to_string("/proc/devices").unwrap_or_default();
    let (policy, allow) = super::devices::emulate(&resources.devices).systemd(&proc_devices)?;
    Some(vec![
        ("DevicePolicy", PropValue::Str(policy.to_string())),
        ("DeviceAllow", PropValue::Devices(allow)),
    ])
}

/// `(property, value)` pairs systemd knows for `resources`, and the file
/// writes left for the delegated cgroup.
#[cfg_attr(not(feature = "systemd"), allow(dead_code))]
pub(crate) fn properties(
    resources: &super::Resources,
) -> (
    Vec<(&'static str, PropValue)>,
    Vec<super::resources::FileWrite>,
) {
    use PropValue::*;
    let limit = |v: &str| -> Option<u64> {
        if v == "max" {
            Some(u64::MAX)
        } else {
            v.parse().ok()
        }
    };
    let mask = |v: &str| -> Option<Vec<u8>> {
        let set: super::CpuSet = v.parse().ok()?;
        let top = set.iter().max()?;
        let mut bytes = vec![0u8; top as usize / 8 + 1];
        for n in set.iter() {
            bytes[n as usize / 8] |= 1 << (n % 8);
        }
        Some(bytes)
    };
    let mut props = Vec::new();
    let mut rest = Vec::new();
    for w in resources.writes() {
        let known = match w.file {
            "memory.max" => limit(&w.value).map(|v| vec![("MemoryMax", U64(v))]),
            "memory.high" => limit(&w.value).map(|v| vec![("MemoryHigh", U64(v))]),
            "memory.low" => limit(&w.value).map(|v| vec![("MemoryLow", U64(v))]),
            "memory.swap.max" => limit(&w.value).map(|v| vec![("MemorySwapMax", U64(v))]),
            "pids.max" => limit(&w.value).map(|v| vec![("TasksMax", U64(v))]),
            "cpu.weight" => w.value.parse().ok().map(|v| vec![("CPUWeight", U64(v))]),
            "cpu.max" => {
                let mut it = w.value.split(' ');
                match (it.next(), it.next().and_then(|p| p.parse::<u64>().ok())) {
                    (Some(q), Some(period)) if period > 0 => {
                        let per_sec = match q {
                            "max" => Some(u64::MAX),
                            q => q
                                .parse::<u64>()
                                .ok()
                                .map(|q| q.saturating_mul(1_000_000) / period),
                        };
                        per_sec.map(|s| {
                            vec![
                                ("CPUQuotaPerSecUSec", U64(s)),
                                ("CPUQuotaPeriodUSec", U64(period)),
                            ]
                        })
                    }
                    _ => None,
                }
            }
            "cpuset.cpus" => mask(&w.value).map(|m| vec![("AllowedCPUs", Bytes(m))]),
            "cpuset.mems" => mask(&w.value).map(|m| vec![("AllowedMemoryNodes", Bytes(m))]),
            "io.weight" => w
                .value
                .strip_prefix("default ")
                .and_then(|v| v.parse().ok())
                .map(|v| vec![("IOWeight", U64(v))]),
            _ => None,
        };
        match known {
            Some(p) => props.extend(p),
            None => rest.push(w),
        }
    }
    let mut acct: Vec<(&'static str, PropValue)> = Vec::new();
    for (name, _) in &props {
        let a = match *name {
            n if n.starts_with("Memory") => "MemoryAccounting",
            n if n.starts_with("CPU") => "CPUAccounting",
            "TasksMax" => "TasksAccounting",
            "IOWeight" => "IOAccounting",
            _ => continue,
        };
        if !acct.iter().any(|(x, _)| *x == a) {
            acct.push((a, Bool(true)));
        }
    }
    props.extend(acct);
    if let Some(d) = device_properties(resources) {
        props.extend(d);
    }
    (props, rest)
}

#[cfg(all(test, not(feature = "systemd")))]
mod without_the_feature {
    use crate::cgroup::{CgroupConfig, CgroupSpec, Hierarchy, SystemdOptions};

    #[test]
    fn the_driver_is_refused_naming_the_feature() {
        let cfg = CgroupConfig::new(CgroupSpec::new().systemd(SystemdOptions::new()).name("x"));
        let e = cfg
            .prepare_in(&Hierarchy::at("/nonexistent"), None)
            .unwrap_err();
        assert_eq!(e.field(), Some("cgroup driver"), "{e}");
        assert!(e.to_string().contains("containment-x.scope"), "{e}");
    }
}
