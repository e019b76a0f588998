//! config.json → the containment builder. Every field the runtime cannot
//! honour is an error naming the field; nothing is silently ignored.

use crate::error::{Error, Result};
use containment::caps::{CapSet, Capabilities, Capability};
use containment::cgroup::{
    CgroupSpec, CpuSet, Device, DeviceAccess, DeviceRule, DeviceType, HugePageSize, IoLimit,
    IoLimitKind, MemoryLimit, Resources,
};
use containment::mount::{DevSpec, Mount, Propagation};
use containment::process::Rlimit;
use containment::{Command, Container, IdMap, Namespace, Namespaces, TimeOffsets};
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::path::{Path, PathBuf};

/// What `create` does besides spawning the builder.
pub struct Plan {
    pub command: Command,
    /// (namespace to enter, /proc/sys path, value).
    pub sysctls: Vec<(Namespace, PathBuf, String)>,
    pub rootfs: PathBuf,
    /// The cgroup the builder creates, relative to the hierarchy's root
    /// (main.rs takes its absolute directory from the spawned child).
    pub cgroup: PathBuf,
    pub own_pid_ns: bool,
    /// Make /dev/ptmx a link to pts/ptmx (a devpts is mounted there).
    pub ptmx_link: bool,
    /// Make the /dev links at all (not without a mount namespace: the
    /// root's /dev is then the image's own directory).
    pub dev_links: bool,
    /// The host uid and gid of the container's root (its user namespace's
    /// id 0; 0 without one).
    pub root_owner: (u32, u32),
}

fn cap_set(field: &str, caps: &Option<oci_spec::runtime::Capabilities>) -> Result<CapSet> {
    let mut set = CapSet::empty();
    for c in caps.iter().flatten() {
        // The spec's spelling ("CAP_CHOWN") is the serde form.
        let name = serde_json::to_value(c)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let cap = Capability::parse(&name).ok_or_else(|| {
            Error::field(
                format!("process.capabilities.{field}"),
                format!("{name}: unknown to this runtime"),
            )
        })?;
        set.insert(cap);
    }
    Ok(set)
}

fn rlimit(name: &str) -> Option<Rlimit> {
    Some(match name {
        "RLIMIT_AS" => Rlimit::As,
        "RLIMIT_CORE" => Rlimit::Core,
        "RLIMIT_CPU" => Rlimit::Cpu,
        "RLIMIT_DATA" => Rlimit::Data,
        "RLIMIT_FSIZE" => Rlimit::Fsize,
        "RLIMIT_LOCKS" => Rlimit::Locks,
        "RLIMIT_MEMLOCK" => Rlimit::Memlock,
        "RLIMIT_MSGQUEUE" => Rlimit::Msgqueue,
        "RLIMIT_NICE" => Rlimit::Nice,
        "RLIMIT_NOFILE" => Rlimit::Nofile,
        "RLIMIT_NPROC" => Rlimit::Nproc,
        "RLIMIT_RTPRIO" => Rlimit::Rtprio,
        "RLIMIT_RTTIME" => Rlimit::Rttime,
        "RLIMIT_SIGPENDING" => Rlimit::Sigpending,
        "RLIMIT_STACK" => Rlimit::Stack,
        _ => return None,
    })
}

fn ns_kind(t: LinuxNamespaceType) -> Namespace {
    match t {
        LinuxNamespaceType::Mount => Namespace::Mount,
        LinuxNamespaceType::Cgroup => Namespace::Cgroup,
        LinuxNamespaceType::Uts => Namespace::Uts,
        LinuxNamespaceType::Ipc => Namespace::Ipc,
        LinuxNamespaceType::User => Namespace::User,
        LinuxNamespaceType::Pid => Namespace::Pid,
        LinuxNamespaceType::Network => Namespace::Net,
        LinuxNamespaceType::Time => Namespace::Time,
    }
}

/// The namespace a sysctl belongs to (runc's list of namespaced sysctls).
fn sysctl_ns(key: &str) -> Option<Namespace> {
    if key.starts_with("net.") {
        return Some(Namespace::Net);
    }
    if key.starts_with("fs.mqueue.")
        || matches!(
            key,
            "kernel.msgmax"
                | "kernel.msgmnb"
                | "kernel.msgmni"
                | "kernel.sem"
                | "kernel.shmall"
                | "kernel.shmmax"
                | "kernel.shmmni"
                | "kernel.shm_rmid_forced"
        )
    {
        return Some(Namespace::Ipc);
    }
    if matches!(key, "kernel.hostname" | "kernel.domainname") {
        return Some(Namespace::Uts);
    }
    None
}

fn resolve(bundle: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        bundle.join(p)
    }
}

/// Options of a mount entry, split.
struct MountOpts {
    ro: bool,
    nosuid: bool,
    nodev: bool,
    noexec: bool,
    bind: Option<bool>,
    size: Option<u64>,
    mode: Option<u32>,
    /// Propagation of the mount once attached (recursive or not).
    prop: Option<(Propagation, bool)>,
    rest: Vec<String>,
}

fn split_options(opts: &[String]) -> MountOpts {
    let mut o = MountOpts {
        ro: false,
        nosuid: false,
        nodev: false,
        noexec: false,
        bind: None,
        size: None,
        mode: None,
        prop: None,
        rest: Vec::new(),
    };
    for opt in opts {
        match opt.as_str() {
            "ro" => o.ro = true,
            "rw" => o.ro = false,
            "nosuid" => o.nosuid = true,
            "suid" => o.nosuid = false,
            "nodev" => o.nodev = true,
            "dev" => o.nodev = false,
            "noexec" => o.noexec = true,
            "exec" => o.noexec = false,
            "bind" => o.bind = Some(false),
            "rbind" => o.bind = Some(true),
            "private" => o.prop = Some((Propagation::Private, false)),
            "rprivate" => o.prop = Some((Propagation::Private, true)),
            "slave" => o.prop = Some((Propagation::Slave, false)),
            "rslave" => o.prop = Some((Propagation::Slave, true)),
            "shared" => o.prop = Some((Propagation::Shared, false)),
            "rshared" => o.prop = Some((Propagation::Shared, true)),
            "unbindable" => o.prop = Some((Propagation::Unbindable, false)),
            "runbindable" => o.prop = Some((Propagation::Unbindable, true)),
            s => {
                if let Some(v) = s.strip_prefix("size=") {
                    if let Ok(b) = containment::mount::parse_size(v) {
                        o.size = Some(b);
                        continue;
                    }
                }
                if let Some(v) = s.strip_prefix("mode=") {
                    if let Ok(m) = u32::from_str_radix(v, 8) {
                        o.mode = Some(m);
                        continue;
                    }
                }
                o.rest.push(s.to_string());
            }
        }
    }
    o
}

/// The runtime-spec's default devices (null, zero, full, random, urandom,
/// tty), bound from the host's nodes (what the library's minimal /dev
/// does).
fn default_devices() -> Vec<Mount> {
    ["null", "zero", "full", "random", "urandom", "tty"]
        .iter()
        .map(|d| Mount::bind(Path::new("/dev").join(d), Path::new("/dev").join(d)).nosuid(true))
        .collect()
}

/// `process.consoleSize` as a window size (rows = height, columns =
/// width; values past 65535 are clamped).
pub fn console_size(process: &oci_spec::runtime::Process) -> Option<containment::tty::WindowSize> {
    process.console_size().as_ref().map(|b| {
        let clamp = |v: u64| v.min(u64::from(u16::MAX)) as u16;
        containment::tty::WindowSize::new(clamp(b.height()), clamp(b.width()))
    })
}

/// Translates `spec` (from the bundle `bundle`) for container `id`.
pub fn translate(spec: &Spec, bundle: &Path, id: &str, no_pivot: bool) -> Result<Plan> {
    let v = spec.version();
    if !v.starts_with("1.") {
        return Err(Error::field(
            "ociVersion",
            format!("{v:?}: only 1.x is supported"),
        ));
    }
    let mut b = Container::new();

    // process: without one (the spec allows it at create; start must then
    // fail), a placeholder that never runs: `start` stops the container
    // instead of opening its gate. "/" passes the gate's executable check
    // (a directory is searchable) and could never be exec'd (EACCES); it
    // holds no capability and no privilege.
    let placeholder;
    let process = match spec.process() {
        Some(p) => p,
        None => {
            let mut p = oci_spec::runtime::Process::default();
            p.set_args(Some(vec!["/".to_string()]));
            p.set_env(None);
            p.set_rlimits(None);
            p.set_no_new_privileges(Some(true));
            let mut caps = oci_spec::runtime::LinuxCapabilities::default();
            caps.set_bounding(Some(Default::default()));
            caps.set_effective(Some(Default::default()));
            caps.set_inheritable(Some(Default::default()));
            caps.set_permitted(Some(Default::default()));
            caps.set_ambient(Some(Default::default()));
            p.set_capabilities(Some(caps));
            placeholder = p;
            &placeholder
        }
    };
    if process.command_line().is_some() {
        return Err(Error::field("process.commandLine", "Windows only"));
    }
    let args = process
        .args()
        .as_ref()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| Error::field("process.args", "missing or empty"))?;
    let mut env = Vec::new();
    for kv in process.env().iter().flatten() {
        let (k, v) = kv.split_once('=').ok_or_else(|| {
            Error::field(
                "process.env",
                format!("{kv:?} is not of the form KEY=VALUE"),
            )
        })?;
        env.push((k, v));
    }
    let cwd = process.cwd();
    if !cwd.is_absolute() {
        return Err(Error::field(
            "process.cwd",
            format!("{} is not absolute", cwd.display()),
        ));
    }
    let user = process.user();
    if user.username().is_some() {
        return Err(Error::field("process.user.username", "Windows only"));
    }
    let umask = user.umask().unwrap_or(0o022);
    if umask > 0o777 {
        return Err(Error::field(
            "process.user.umask",
            format!("{umask:o} is not a mode"),
        ));
    }
    // Applied below, once the way into the root is known.
    let mut caps = if let Some(c) = process.capabilities() {
        let caps = Capabilities {
            bounding: cap_set("bounding", c.bounding())?,
            permitted: cap_set("permitted", c.permitted())?,
            effective: cap_set("effective", c.effective())?,
            inheritable: cap_set("inheritable", c.inheritable())?,
            ambient: cap_set("ambient", c.ambient())?,
        };
        caps
    } else {
        // runc keeps every capability when the field is absent: every one
        // this process may hold (its bounding set).
        let bnd = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("CapBnd:"))
                    .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
            })
            .unwrap_or(0);
        let mut all = CapSet::empty();
        for n in 0..64u8 {
            if bnd & (1 << n) != 0 {
                if let Some(c) = Capability::from_number(n) {
                    all.insert(c);
                }
            }
        }
        Capabilities::only(all)
    };
    for (i, r) in process.rlimits().iter().flatten().enumerate() {
        let name = serde_json::to_value(r.typ())
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let res = rlimit(&name).ok_or_else(|| {
            Error::field(
                format!("process.rlimits[{i}].type"),
                format!("{name}: unknown"),
            )
        })?;
        if r.soft() > r.hard() {
            return Err(Error::field(
                format!("process.rlimits[{i}]"),
                "soft is above hard",
            ));
        }
        b = b.rlimit(res, r.soft(), r.hard());
    }
    if process.no_new_privileges() == Some(true) {
        b = b.no_new_privs(true);
    }
    if let Some(p) = process
        .apparmor_profile()
        .as_ref()
        .filter(|p| !p.is_empty())
    {
        return Err(Error::field(
            "process.apparmorProfile",
            format!("{p:?}: AppArmor is not supported by this runtime"),
        ));
    }
    if let Some(p) = process.selinux_label().as_ref().filter(|p| !p.is_empty()) {
        return Err(Error::field(
            "process.selinuxLabel",
            format!("{p:?}: SELinux is not supported by this runtime"),
        ));
    }
    if process.io_priority().is_some() {
        return Err(Error::field("process.ioPriority", "not supported yet"));
    }
    if process.scheduler().is_some() {
        return Err(Error::field("process.scheduler", "not supported yet"));
    }
    if process.exec_cpu_affinity().is_some() {
        return Err(Error::field("process.execCPUAffinity", "not supported yet"));
    }

    // root
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| Error::field("root", "missing"))?;
    let rootfs = resolve(bundle, root.path());
    let rootfs = rootfs
        .canonicalize()
        .map_err(|e| Error::field("root.path", format!("{}: {e}", rootfs.display())))?;
    b = b.root(&rootfs);
    if root.readonly() == Some(true) {
        b = b.read_only_root(true);
    }
    if no_pivot {
        b = b.root_mode(containment::mount::RootMode::Chroot);
    }

    // linux
    let linux = spec
        .linux()
        .as_ref()
        .ok_or_else(|| Error::field("linux", "missing (this is a Linux runtime)"))?;
    let mut ns = Namespaces::empty();
    let mut joined = Namespaces::empty();
    for (i, n) in linux.namespaces().iter().flatten().enumerate() {
        let kind = ns_kind(n.typ());
        if ns.contains(kind.flag()) || joined.contains(kind.flag()) {
            return Err(Error::field(
                format!("linux.namespaces[{i}]"),
                format!("the {} namespace is listed twice", kind.proc_name()),
            ));
        }
        match n.path() {
            Some(path) => {
                let field = format!("linux.namespaces[{i}].path");
                let fd = containment::namespace::NsFd::open_path(path, Some(kind))
                    .map_err(|e| Error::field(field, e))?;
                b = b.join_namespace(kind, fd);
                joined |= kind.flag();
            }
            None => ns |= kind.flag(),
        }
    }
    b = b.unshare(ns);
    // Without a mount namespace of its own (new or joined) the container
    // shares the runtime's: no mount can be made without changing the
    // host's tree, so the root is entered with chroot(2) alone and the
    // filesystem fields are not applied (runc does no rootfs setup at all
    // then, and runs the program in the runtime's root).
    let shares_mounts = !(ns | joined).contains(Namespaces::MOUNT);
    if shares_mounts {
        let mut skipped = Vec::new();
        if spec.mounts().as_ref().is_some_and(|m| !m.is_empty()) {
            skipped.push("mounts");
        }
        if linux.masked_paths().as_ref().is_some_and(|m| !m.is_empty()) {
            skipped.push("linux.maskedPaths");
        }
        if linux
            .readonly_paths()
            .as_ref()
            .is_some_and(|m| !m.is_empty())
        {
            skipped.push("linux.readonlyPaths");
        }
        if linux.rootfs_propagation().is_some() {
            skipped.push("linux.rootfsPropagation");
        }
        if root.readonly() == Some(true) {
            skipped.push("root.readonly");
        }
        if !skipped.is_empty() {
            crate::log::warn(&format!(
                "{} not applied: the container has no mount namespace of its own \
                 (it shares the runtime's; the root is entered with chroot only)",
                skipped.join(", ")
            ));
        }
        if linux.devices().as_ref().is_some_and(|d| !d.is_empty()) {
            return Err(Error::field(
                "linux.devices",
                "device nodes need a mount namespace (they are made in the container's root)",
            ));
        }
        b = b.root_mode(containment::mount::RootMode::Chroot);
        b = b.read_only_root(false);
        b = b.mount_proc(false);
        b = b.dev(DevSpec::Keep);
    }
    // A root entered with chroot(2) alone (--no-pivot, or no mount
    // namespace of its own) is left with CAP_SYS_CHROOT: chroot into a
    // subdirectory, then `..` past the old root. The capability goes, with
    // a warning naming it, as the library's own default does.
    if no_pivot || shares_mounts {
        let chroot = Capability::SysChroot;
        let had = [
            caps.bounding,
            caps.permitted,
            caps.effective,
            caps.inheritable,
            caps.ambient,
        ]
        .iter()
        .any(|s| s.contains(chroot));
        for set in [
            &mut caps.bounding,
            &mut caps.permitted,
            &mut caps.effective,
            &mut caps.inheritable,
            &mut caps.ambient,
        ] {
            set.remove(chroot);
        }
        if had {
            crate::log::warn(
                "process.capabilities: CAP_SYS_CHROOT dropped: the root is entered with chroot \
                 alone (--no-pivot or no mount namespace), which that capability can leave",
            );
        }
    }
    b = b.capabilities(caps);
    let own = ns | joined;
    if let Some(h) = spec.hostname() {
        if !own.contains(Namespaces::UTS) {
            return Err(Error::field(
                "hostname",
                "needs a uts namespace of its own (new or joined)",
            ));
        }
        b = b.hostname(h);
    }
    if let Some(d) = spec.domainname() {
        if !own.contains(Namespaces::UTS) {
            return Err(Error::field(
                "domainname",
                "needs a uts namespace of its own (new or joined)",
            ));
        }
        b = b.domainname(d);
    }
    let idmap = |field: &str, m: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| {
        m.as_ref()
            .map(|v| {
                v.iter()
                    .map(|m| IdMap {
                        inside: m.container_id(),
                        outside: m.host_id(),
                        count: m.size(),
                    })
                    .collect::<Vec<_>>()
            })
            .filter(|v| !v.is_empty())
            .map(|v| (field.to_string(), v))
    };
    let uid = idmap("linux.uidMappings", linux.uid_mappings());
    let gid = idmap("linux.gidMappings", linux.gid_mappings());
    for (field, m) in [&uid, &gid].into_iter().flatten() {
        if !ns.contains(Namespaces::USER) {
            return Err(Error::field(field, "needs a new user namespace"));
        }
        let _ = m;
    }
    let host_of = |m: &Option<(String, Vec<IdMap>)>| {
        m.as_ref().map_or(0, |(_, v)| {
            v.iter().find(|r| r.inside == 0).map_or(0, |r| r.outside)
        })
    };
    let root_owner = (host_of(&uid), host_of(&gid));
    if let Some((_, m)) = uid {
        b = b.uid_map(m);
    }
    if let Some((_, m)) = gid {
        b = b.gid_map(m);
    }
    if let Some(offsets) = linux.time_offsets() {
        if !ns.contains(Namespaces::TIME) {
            return Err(Error::field(
                "linux.timeOffsets",
                "needs a new time namespace",
            ));
        }
        let mut t = TimeOffsets::default();
        for (clock, o) in offsets {
            let secs = o.secs().unwrap_or(0);
            let d = std::time::Duration::new(
                u64::try_from(secs).map_err(|_| {
                    Error::field(
                        format!("linux.timeOffsets.{clock}.secs"),
                        "negative offsets are not supported",
                    )
                })?,
                o.nanosecs().unwrap_or(0),
            );
            t = match clock.as_str() {
                "monotonic" => t.monotonic(d),
                "boottime" => t.boottime(d),
                c => {
                    return Err(Error::field(
                        format!("linux.timeOffsets.{c}"),
                        "unknown clock (monotonic or boottime)",
                    ))
                }
            };
        }
        b = b.time_offsets(t);
    }
    let mut sysctls = Vec::new();
    for (k, val) in linux.sysctl().iter().flatten() {
        let kind = sysctl_ns(k).ok_or_else(|| {
            Error::field(
                format!("linux.sysctl.{k}"),
                "not a namespaced sysctl (it would change the host)",
            )
        })?;
        if !own.contains(kind.flag()) {
            return Err(Error::field(
                format!("linux.sysctl.{k}"),
                format!(
                    "needs a {} namespace of its own (new or joined)",
                    kind.proc_name()
                ),
            ));
        }
        if k.contains("..") || k.contains('/') {
            return Err(Error::field(format!("linux.sysctl.{k}"), "invalid name"));
        }
        let path = PathBuf::from("/proc/sys").join(k.replace('.', "/"));
        sysctls.push((kind, path, val.clone()));
    }
    if let Some(p) = linux
        .rootfs_propagation()
        .as_ref()
        .filter(|_| !shares_mounts)
    {
        let prop = match p.as_str() {
            "private" | "rprivate" | "" => Propagation::Private,
            "slave" | "rslave" => Propagation::Slave,
            "shared" | "rshared" => Propagation::Shared,
            "unbindable" | "runbindable" => Propagation::Unbindable,
            other => {
                return Err(Error::field(
                    "linux.rootfsPropagation",
                    format!("{other:?} is not supported"),
                ))
            }
        };
        b = b.propagation(prop);
    }
    if !shares_mounts {
        b = b.masked_paths(linux.masked_paths().iter().flatten());
        b = b.read_only_paths(linux.readonly_paths().iter().flatten());
    }
    let mut device_paths = Vec::new();
    for (i, d) in linux.devices().iter().flatten().enumerate() {
        use containment::mount::{DeviceKind, DeviceNode};
        use oci_spec::runtime::LinuxDeviceType;
        let field = format!("linux.devices[{i}]");
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => DeviceKind::Char,
            LinuxDeviceType::B => DeviceKind::Block,
            LinuxDeviceType::P => DeviceKind::Fifo,
            other => {
                return Err(Error::field(
                    format!("{field}.type"),
                    format!("{other:?} is not a device type (c, b, u or p)"),
                ))
            }
        };
        let (major, minor) = (d.major(), d.minor());
        let (major, minor) = match (u32::try_from(major), u32::try_from(minor)) {
            (Ok(a), Ok(b)) => (a, b),
            _ => {
                return Err(Error::field(
                    format!("{field}.major"),
                    format!("{major}:{minor} is not a device number"),
                ))
            }
        };
        let mut node = DeviceNode::new(d.path(), kind, major, minor);
        if let Some(m) = d.file_mode() {
            if m > 0o7777 {
                return Err(Error::field(
                    format!("{field}.fileMode"),
                    format!("{m:o} is not a permission mode"),
                ));
            }
            node = node.mode(m);
        }
        if d.uid().is_some() || d.gid().is_some() {
            node = node.owner(d.uid().unwrap_or(0), d.gid().unwrap_or(0));
        }
        device_paths.push(d.path().clone());
        b = b.device(node);
    }
    if let Some(s) = linux.seccomp() {
        b = b.seccomp(crate::seccomp::compile(s)?);
        // Without noNewPrivileges the filter is installed with
        // CAP_SYS_ADMIN, as runc does, and no_new_privs stays off.
        b = b.seccomp_privileged(process.no_new_privileges() != Some(true));
    }
    if linux.mount_label().as_ref().is_some_and(|l| !l.is_empty()) {
        return Err(Error::field("linux.mountLabel", "SELinux is not supported"));
    }
    if linux.intel_rdt().is_some() {
        return Err(Error::field("linux.intelRdt", "Intel RDT is not supported"));
    }
    if linux.personality().is_some() {
        return Err(Error::field("linux.personality", "not supported yet"));
    }
    if linux.memory_policy().is_some() {
        return Err(Error::field("linux.memoryPolicy", "not supported yet"));
    }
    if linux.net_devices().as_ref().is_some_and(|d| !d.is_empty()) {
        return Err(Error::field("linux.netDevices", "not supported yet"));
    }

    // mounts: /proc and /dev come from the list, not the library's defaults.
    b = b.mount_proc(false);
    b = b.dev(DevSpec::Keep);
    let mut dev_done = shares_mounts;
    // The spec's default devices, unless linux.devices lists the path.
    let default_devices = || {
        default_devices()
            .into_iter()
            .filter(|m| !device_paths.iter().any(|p| p == m.target()))
            .collect::<Vec<_>>()
    };
    let mounts_at = spec.mounts().iter().flatten().count();
    for (i, m) in spec
        .mounts()
        .iter()
        .flatten()
        .enumerate()
        .filter(|_| !shares_mounts)
    {
        let field = format!("mounts[{i}]");
        let dest = m.destination();
        if !dest.is_absolute() {
            return Err(Error::field(
                format!("{field}.destination"),
                format!("{} is not absolute", dest.display()),
            ));
        }
        let o = split_options(m.options().as_deref().unwrap_or(&[]));
        let typ = m.typ().as_deref().unwrap_or("");
        let unsupported = |o: &MountOpts| -> Result<()> {
            if o.rest.is_empty() {
                Ok(())
            } else {
                Err(Error::field(
                    format!("{field}.options"),
                    format!("{:?} not supported for a {typ} mount", o.rest),
                ))
            }
        };
        let source_name = m
            .source()
            .as_ref()
            .map(|p| p.to_string_lossy().into_owned());
        let flags = |mut mount: Mount, o: &MountOpts| {
            mount = mount.read_only(o.ro);
            // Shown in mountinfo (ignored by binds).
            if let Some(n) = &source_name {
                mount = mount.source_name(n.clone());
            }
            if o.nosuid {
                mount = mount.nosuid(true);
            }
            if o.nodev {
                mount = mount.nodev(true);
            }
            if o.noexec {
                mount = mount.noexec(true);
            }
            match o.prop {
                Some((p, false)) => mount.propagation(p),
                Some((p, true)) => mount.recursive_propagation(p),
                None => mount,
            }
        };
        if typ == "bind" || o.bind.is_some() {
            let src = m.source().as_ref().ok_or_else(|| {
                Error::field(format!("{field}.source"), "a bind mount needs a source")
            })?;
            let mut o = o;
            // As for a tmpfs: the atime default (relatime) stays. `size=`
            // and `mode=` are filesystem data, which the kernel ignores for
            // a bind (runc passes them and they have no effect either).
            o.rest.retain(|s| s != "strictatime");
            unsupported(&o)?;
            let mount = Mount::bind(resolve(bundle, src), dest).recursive(o.bind != Some(false));
            b = b.mount(flags(mount, &o));
            continue;
        }
        let mut o = o;
        match typ {
            "proc" => {
                unsupported(&o)?;
                b = b.mount(flags(Mount::proc(dest), &o));
            }
            "tmpfs" => {
                o.rest.retain(|s| s != "strictatime");
                unsupported(&o)?;
                let mut t = Mount::tmpfs(dest);
                if let Some(s) = o.size {
                    t = t.size(s);
                }
                if let Some(md) = o.mode {
                    t = t.mode(md);
                }
                if !o.nosuid {
                    t = t.nosuid(false);
                }
                if !o.nodev {
                    t = t.nodev(false);
                }
                b = b.mount(flags(t, &o));
                if dest == Path::new("/dev") {
                    // The spec's default devices, on the new /dev.
                    b = b.mounts(default_devices());
                    dev_done = true;
                }
            }
            "sysfs" => {
                unsupported(&o)?;
                let mut s = Mount::sysfs(dest);
                if !o.ro {
                    s = s.read_only(false);
                }
                b = b.mount(flags(s, &o));
            }
            "devpts" => {
                // What the library mounts: newinstance,ptmxmode=0666,mode=0620.
                o.rest.retain(|s| {
                    !matches!(
                        s.as_str(),
                        "newinstance" | "ptmxmode=0666" | "mode=0620" | "mode=620" | "gid=5"
                    )
                });
                if o.mode == Some(0o620) {
                    o.mode = None;
                }
                unsupported(&o)?;
                b = b.mount(flags(Mount::devpts(dest), &o));
            }
            "mqueue" => {
                unsupported(&o)?;
                b = b.mount(flags(Mount::mqueue(dest), &o));
            }
            "cgroup" | "cgroup2" => {
                // (branch engines) podman asks for `relatime`, the default
                // of a new mount.
                o.rest.retain(|s| s != "relatime");
                unsupported(&o)?;
                b = b.mount(flags(Mount::cgroup2(dest), &o));
            }
            other => {
                return Err(Error::field(
                    format!("{field}.type"),
                    format!("{other:?} is not supported"),
                ))
            }
        }
    }
    if !dev_done {
        // No /dev mount: the default devices go on the root's /dev.
        let _ = mounts_at;
        b = b.mounts(default_devices());
    }

    // cgroup: always one (ps, pause, kill --all need it), on the cgroup2
    // hierarchy; resources the host cannot honour fail with the library's
    // error naming the controller. The parent is relative: the library
    // resolves it in each hierarchy from its own read of mountinfo (one
    // read per create, not two).
    let cg_rel = match linux.cgroups_path() {
        Some(p) => {
            let rel = p.strip_prefix("/").unwrap_or(p).to_path_buf();
            if rel
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return Err(Error::field(
                    "linux.cgroupsPath",
                    format!("{}: no '..' or empty path", p.display()),
                ));
            }
            if p.to_string_lossy().contains(':') {
                return Err(Error::field(
                    "linux.cgroupsPath",
                    "the systemd form slice:prefix:name needs --systemd-cgroup, which is not available",
                ));
            }
            rel
        }
        None => PathBuf::from(format!("contrun-{id}")),
    };
    let name = cg_rel
        .file_name()
        .ok_or_else(|| Error::field("linux.cgroupsPath", "empty"))?
        .to_string_lossy()
        .into_owned();
    let parent = cg_rel.parent().unwrap_or(Path::new("")).to_path_buf();
    let mut res = Resources::new();
    if let Some(r) = linux.resources() {
        res = resources(&without_kernel_memory(r))?;
    }
    if let Some(adj) = process.oom_score_adj() {
        let v = containment::cgroup::OomScoreAdj::new(adj)
            .map_err(|e| Error::field("process.oomScoreAdj", e))?;
        res = res.oom_score_adj(v);
    }
    b = b.cgroup(
        CgroupSpec::new()
            .parent(&parent)
            .name(&name)
            .resources(res)
            .remove_on_exit(false),
    );
    // The process, in the container configured above.
    let mut command = b.command(&args[0]);
    command
        .args(&args[1..])
        .env_clear()
        .envs(env)
        .current_dir(cwd)
        .uid(user.uid())
        .gid(user.gid())
        .umask(umask)
        // (branch brk2) Always a session of its own, as runc's init does:
        // else, without process.terminal, the program shares the caller's
        // session and its controlling terminal, and TIOCSTI on the stdin
        // it inherits types commands into the caller's shell
        // (CVE-2017-5226 in bubblewrap).
        .setsid(true);
    if let Some(g) = user.additional_gids() {
        command.groups(g.iter().copied());
    }
    if process.terminal() == Some(true) {
        // A pty from the container's devpts; main.rs sends its primary to
        // --console-socket.
        command.pty(console_size(process));
    }
    Ok(Plan {
        command,
        sysctls,
        rootfs,
        cgroup: cg_rel.clone(),
        own_pid_ns: ns.contains(Namespaces::PID),
        root_owner,
        dev_links: !shares_mounts,
        ptmx_link: spec
            .mounts()
            .iter()
            .flatten()
            .any(|m| m.destination() == Path::new("/dev/pts")),
    })
}

/// The devices every container may use whatever its rules say, appended
/// after the spec's rules as runc does (`specconv.AllowedDevices`): mknod
/// of any node, the runtime-spec's default devices, the pty master and
/// slaves, tun/tap.
const ALWAYS_ALLOWED: [&str; 11] = [
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:8 rwm",
    "c 1:7 rwm",
    "c 5:0 rwm",
    "c 1:5 rwm",
    "c 1:9 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
    "c 10:200 rwm",
];

/// `linux.resources.devices[i]` as a library rule.
fn device_rule(i: usize, d: &oci_spec::runtime::LinuxDeviceCgroup) -> Result<DeviceRule> {
    use oci_spec::runtime::LinuxDeviceType as T;
    let field = || format!("linux.resources.devices[{i}]");
    let kind = match d.typ() {
        None | Some(T::A) => DeviceType::All,
        Some(T::C) | Some(T::U) => DeviceType::Char,
        Some(T::B) => DeviceType::Block,
        Some(T::P) => {
            return Err(Error::field(
                field(),
                "type p (FIFO) is not a device the device cgroup controls",
            ))
        }
    };
    let num = |what: &str, v: Option<i64>| -> Result<Option<u32>> {
        match v {
            None => Ok(None),
            Some(n) if n < 0 => Ok(None),
            Some(n) => u32::try_from(n)
                .map(Some)
                .map_err(|_| Error::field(field(), format!("{what} {n} is out of range"))),
        }
    };
    let access: DeviceAccess = match d.access().as_deref() {
        None | Some("") => DeviceAccess::all(),
        Some(a) => a.parse().map_err(|e| Error::field(field(), e))?,
    };
    Ok(DeviceRule {
        allow: d.allow(),
        kind,
        major: num("major", d.major())?,
        minor: num("minor", d.minor())?,
        access,
    })
}

/// `r` without `memory.kernel`, with a warning naming it: kernel memory
/// limits no longer exist (cgroup v2 never had them, cgroup v1 lost
/// `memory.kmem.limit_in_bytes` in Linux 6.1; runc, crun and youki ignore it
/// the same way). `memory.kernelTCP` is kept where cgroup v1 drives the
/// memory controller (`memory.kmem.tcp.limit_in_bytes` still exists and is
/// enforced; crun and youki set it), and dropped with a warning naming it
/// where cgroup v2 does (socket memory is inside `memory.max` there, as runc
/// does).
pub(crate) fn without_kernel_memory(
    r: &oci_spec::runtime::LinuxResources,
) -> std::borrow::Cow<'_, oci_spec::runtime::LinuxResources> {
    let Some(m) = r.memory() else {
        return std::borrow::Cow::Borrowed(r);
    };
    // Only looked up when the field is set (no mountinfo read otherwise).
    let keep_tcp = m.kernel_tcp().is_some()
        && containment::cgroup::Hierarchy::detect()
            .is_ok_and(|h| h.v1_mount_of("memory").is_some());
    if m.kernel().is_none() && (m.kernel_tcp().is_none() || keep_tcp) {
        return std::borrow::Cow::Borrowed(r);
    }
    if let Some(v) = m.kernel() {
        crate::log::warn(&format!(
            "linux.resources.memory.kernel ({v}) ignored: kernel memory limits do not exist \
             on this kernel (as runc, crun and youki do)"
        ));
    }
    let mut m = *m;
    m.set_kernel(None);
    if !keep_tcp {
        if let Some(v) = m.kernel_tcp() {
            crate::log::warn(&format!(
                "linux.resources.memory.kernelTCP ({v}) ignored: cgroup v2 drives the memory \
                 controller here and has no separate TCP memory limit (as runc does)"
            ));
        }
        m.set_kernel_tcp(None);
    }
    let mut r = r.clone();
    r.set_memory(Some(m));
    std::borrow::Cow::Owned(r)
}

pub(crate) fn resources(r: &oci_spec::runtime::LinuxResources) -> Result<Resources> {
    let mut res = Resources::new();
    let rules = r
        .devices()
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, d)| device_rule(i, d))
        .collect::<Result<Vec<_>>>()?;
    if !rules.is_empty() {
        res = res.device_rules(rules);
        res = res.device_rules(ALWAYS_ALLOWED.iter().filter_map(|s| s.parse().ok()));
    }
    if let Some(m) = r.memory() {
        if let Some(l) = m.limit() {
            res = res.memory_max(u64::try_from(l).unwrap_or(u64::MAX));
        }
        if let Some(l) = m.reservation() {
            res = res.memory_reservation(u64::try_from(l).unwrap_or(u64::MAX));
        }
        if let Some(l) = m.swap() {
            res = res.memory_swap(u64::try_from(l).unwrap_or(u64::MAX));
        }
        // As runc on kernels without kernel memory accounting (removed in
        // Linux 6.1): ignored with a warning (callers filter it out first,
        // see without_kernel_memory).
        if m.kernel().is_some() {
            crate::log::warn(
                "linux.resources.memory.kernel is ignored: this kernel has no kernel memory limit",
            );
        }
        // cgroup v1: memory.kmem.tcp.limit_in_bytes (-1: no limit); the
        // library refuses it, naming it, where v2 drives memory.
        if let Some(l) = m.kernel_tcp() {
            res = res.kernel_tcp_memory(match (l, u64::try_from(l)) {
                (_, Ok(b)) => containment::cgroup::MemoryLimit::Bytes(b),
                (-1, _) => containment::cgroup::MemoryLimit::Max,
                _ => {
                    return Err(Error::field(
                        "linux.resources.memory.kernelTCP",
                        format!("{l}: bytes, or -1 for no limit"),
                    ))
                }
            });
        }
        if let Some(s) = m.swappiness() {
            res = res.memory_swappiness(s);
        }
        if let Some(d) = m.disable_oom_killer() {
            res = res.oom_kill_disable(d);
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(s) = c.shares() {
            res = res.cpu_shares(s);
        }
        if let Some(q) = c.quota() {
            res = res.cpu_quota(q);
        }
        if let Some(p) = c.period() {
            res = res.cpu_period(p);
        }
        if let Some(cpus) = c.cpus().as_ref().filter(|s| !s.is_empty()) {
            let set: CpuSet = cpus
                .parse()
                .map_err(|e| Error::field("linux.resources.cpu.cpus", e))?;
            res = res.cpuset_cpus(set);
        }
        if let Some(mems) = c.mems().as_ref().filter(|s| !s.is_empty()) {
            let set: CpuSet = mems
                .parse()
                .map_err(|e| Error::field("linux.resources.cpu.mems", e))?;
            res = res.cpuset_mems(set);
        }
        if c.realtime_runtime().is_some() || c.realtime_period().is_some() {
            return Err(Error::field(
                "linux.resources.cpu.realtimeRuntime",
                "real-time budgets are not supported yet",
            ));
        }
        if c.idle().is_some() || c.burst().is_some() {
            return Err(Error::field(
                "linux.resources.cpu.idle",
                "cpu idle and burst are not supported yet",
            ));
        }
    }
    if let Some(p) = r.pids() {
        let l = p.limit();
        res = res.pids_max(if l <= 0 { u64::MAX } else { l as u64 });
    }
    if let Some(io) = r.block_io() {
        let dev = |field: &str, major: i64, minor: i64| -> Result<Device> {
            match (u32::try_from(major), u32::try_from(minor)) {
                (Ok(major), Ok(minor)) => Ok(Device { major, minor }),
                _ => Err(Error::field(
                    format!("linux.resources.blockIO.{field}"),
                    format!("{major}:{minor} is not a device number"),
                )),
            }
        };
        if let Some(w) = io.weight() {
            res = res.blkio_weight(u64::from(w));
        }
        if io.leaf_weight().is_some() {
            return Err(Error::field(
                "linux.resources.blockIO.leafWeight",
                "leaf weights are not supported (CFQ only; no cgroup v2 equivalent)",
            ));
        }
        for w in io.weight_device().iter().flatten() {
            if w.leaf_weight().is_some() {
                return Err(Error::field(
                    "linux.resources.blockIO.weightDevice.leafWeight",
                    "leaf weights are not supported (CFQ only; no cgroup v2 equivalent)",
                ));
            }
            if let Some(weight) = w.weight() {
                res = res.blkio_weight_device(
                    dev("weightDevice", w.major(), w.minor())?,
                    u64::from(weight),
                );
            }
        }
        for (field, kind, list) in [
            (
                "throttleReadBpsDevice",
                IoLimitKind::ReadBps,
                io.throttle_read_bps_device(),
            ),
            (
                "throttleWriteBpsDevice",
                IoLimitKind::WriteBps,
                io.throttle_write_bps_device(),
            ),
            (
                "throttleReadIOPSDevice",
                IoLimitKind::ReadIops,
                io.throttle_read_iops_device(),
            ),
            (
                "throttleWriteIOPSDevice",
                IoLimitKind::WriteIops,
                io.throttle_write_iops_device(),
            ),
        ] {
            for t in list.iter().flatten() {
                res = res.io_limit(IoLimit {
                    device: dev(field, t.major(), t.minor())?,
                    kind,
                    per_second: t.rate(),
                });
            }
        }
    }
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        let size: HugePageSize = h.page_size().parse().map_err(|e| {
            Error::field(format!("linux.resources.hugepageLimits[{i}].pageSize"), e)
        })?;
        let limit = match u64::try_from(h.limit()) {
            Ok(b) => MemoryLimit::Bytes(b),
            Err(_) => MemoryLimit::Max,
        };
        res = res.hugetlb_limit(size, limit);
    }
    if let Some(n) = r.network() {
        if let Some(c) = n.class_id() {
            res = res.net_cls_classid(c);
        }
        for p in n.priorities().iter().flatten() {
            res = res.net_prio_ifpriomap(p.name(), p.priority());
        }
    }
    if r.rdma().as_ref().is_some_and(|v| !v.is_empty()) {
        return Err(Error::field("linux.resources.rdma", "not supported"));
    }
    if r.unified().as_ref().is_some_and(|v| !v.is_empty()) {
        return Err(Error::field("linux.resources.unified", "not supported yet"));
    }
    Ok(res)
}
