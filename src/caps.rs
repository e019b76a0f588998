//! Linux capabilities: a typed [`Capability`], a [`CapSet`], and the five
//! sets of a process ([`Capabilities`]) that a container's program gets.
//!
//! # References
//! - [`capabilities(7)`](https://man7.org/linux/man-pages/man7/capabilities.7.html)

use std::fmt;

macro_rules! caps {
    ($($(#[$doc:meta])* $name:ident = $n:expr, $s:expr;)*) => {
        /// One Linux capability (`CAP_*`).
        #[non_exhaustive]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Capability {
            $($(#[$doc])* $name = $n,)*
        }

        impl Capability {
            /// Every capability this crate knows, in number order.
            pub const ALL: &'static [Capability] = &[$(Capability::$name,)*];

            /// The kernel's name (`"CAP_SYS_ADMIN"`).
            pub fn name(self) -> &'static str {
                match self { $(Capability::$name => $s,)* }
            }
        }
    };
}

caps! {
    /// `CAP_CHOWN`.
    Chown = 0, "CAP_CHOWN";
    /// `CAP_DAC_OVERRIDE`.
    DacOverride = 1, "CAP_DAC_OVERRIDE";
    /// `CAP_DAC_READ_SEARCH`.
    DacReadSearch = 2, "CAP_DAC_READ_SEARCH";
    /// `CAP_FOWNER`.
    Fowner = 3, "CAP_FOWNER";
    /// `CAP_FSETID`.
    Fsetid = 4, "CAP_FSETID";
    /// `CAP_KILL`.
    Kill = 5, "CAP_KILL";
    /// `CAP_SETGID`.
    Setgid = 6, "CAP_SETGID";
    /// `CAP_SETUID`.
    Setuid = 7, "CAP_SETUID";
    /// `CAP_SETPCAP`.
    Setpcap = 8, "CAP_SETPCAP";
    /// `CAP_LINUX_IMMUTABLE`.
    LinuxImmutable = 9, "CAP_LINUX_IMMUTABLE";
    /// `CAP_NET_BIND_SERVICE`.
    NetBindService = 10, "CAP_NET_BIND_SERVICE";
    /// `CAP_NET_BROADCAST`.
    NetBroadcast = 11, "CAP_NET_BROADCAST";
    /// `CAP_NET_ADMIN`.
    NetAdmin = 12, "CAP_NET_ADMIN";
    /// `CAP_NET_RAW`.
    NetRaw = 13, "CAP_NET_RAW";
    /// `CAP_IPC_LOCK`.
    IpcLock = 14, "CAP_IPC_LOCK";
    /// `CAP_IPC_OWNER`.
    IpcOwner = 15, "CAP_IPC_OWNER";
    /// `CAP_SYS_MODULE`.
    SysModule = 16, "CAP_SYS_MODULE";
    /// `CAP_SYS_RAWIO`.
    SysRawio = 17, "CAP_SYS_RAWIO";
    /// `CAP_SYS_CHROOT`.
    SysChroot = 18, "CAP_SYS_CHROOT";
    /// `CAP_SYS_PTRACE`.
    SysPtrace = 19, "CAP_SYS_PTRACE";
    /// `CAP_SYS_PACCT`.
    SysPacct = 20, "CAP_SYS_PACCT";
    /// `CAP_SYS_ADMIN`.
    SysAdmin = 21, "CAP_SYS_ADMIN";
    /// `CAP_SYS_BOOT`.
    SysBoot = 22, "CAP_SYS_BOOT";
    /// `CAP_SYS_NICE`.
    SysNice = 23, "CAP_SYS_NICE";
    /// `CAP_SYS_RESOURCE`.
    SysResource = 24, "CAP_SYS_RESOURCE";
    /// `CAP_SYS_TIME`.
    SysTime = 25, "CAP_SYS_TIME";
    /// `CAP_SYS_TTY_CONFIG`.
    SysTtyConfig = 26, "CAP_SYS_TTY_CONFIG";
    /// `CAP_MKNOD`.
    Mknod = 27, "CAP_MKNOD";
    /// `CAP_LEASE`.
    Lease = 28, "CAP_LEASE";
    /// `CAP_AUDIT_WRITE`.
    AuditWrite = 29, "CAP_AUDIT_WRITE";
    /// `CAP_AUDIT_CONTROL`.
    AuditControl = 30, "CAP_AUDIT_CONTROL";
    /// `CAP_SETFCAP`.
    Setfcap = 31, "CAP_SETFCAP";
    /// `CAP_MAC_OVERRIDE`.
    MacOverride = 32, "CAP_MAC_OVERRIDE";
    /// `CAP_MAC_ADMIN`.
    MacAdmin = 33, "CAP_MAC_ADMIN";
    /// `CAP_SYSLOG`.
    Syslog = 34, "CAP_SYSLOG";
    /// `CAP_WAKE_ALARM`.
    WakeAlarm = 35, "CAP_WAKE_ALARM";
    /// `CAP_BLOCK_SUSPEND`.
    BlockSuspend = 36, "CAP_BLOCK_SUSPEND";
    /// `CAP_AUDIT_READ`.
    AuditRead = 37, "CAP_AUDIT_READ";
    /// `CAP_PERFMON` (Linux 5.8).
    Perfmon = 38, "CAP_PERFMON";
    /// `CAP_BPF` (Linux 5.8).
    Bpf = 39, "CAP_BPF";
    /// `CAP_CHECKPOINT_RESTORE` (Linux 5.9).
    CheckpointRestore = 40, "CAP_CHECKPOINT_RESTORE";
}

impl Capability {
    /// The capability's number.
    pub fn number(self) -> u8 {
        self as u8
    }

    /// The capability with this number.
    pub fn from_number(n: u8) -> Option<Capability> {
        Capability::ALL.get(n as usize).copied()
    }

    /// Parses `"CAP_NET_ADMIN"`, `"net_admin"` or `"NET_ADMIN"`.
    pub fn parse(s: &str) -> Option<Capability> {
        let up = s.trim().to_ascii_uppercase();
        let full = if up.starts_with("CAP_") {
            up
        } else {
            format!("CAP_{up}")
        };
        Capability::ALL.iter().copied().find(|c| c.name() == full)
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of capabilities (a 64-bit mask, bit N = capability N).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CapSet(u64);

impl CapSet {
    /// No capability.
    pub const fn empty() -> CapSet {
        CapSet(0)
    }

    /// Every capability this crate knows.
    pub fn all() -> CapSet {
        Capability::ALL.iter().copied().collect()
    }

    /// The raw mask.
    pub const fn bits(self) -> u64 {
        self.0
    }

    /// A set from a raw mask (as in `/proc/<pid>/status` `CapEff:` …).
    pub const fn from_bits(bits: u64) -> CapSet {
        CapSet(bits)
    }

    /// Whether `c` is in the set.
    pub fn contains(self, c: Capability) -> bool {
        self.0 & (1 << c.number()) != 0
    }

    /// Adds `c`.
    pub fn insert(&mut self, c: Capability) {
        self.0 |= 1 << c.number();
    }

    /// Removes `c`.
    pub fn remove(&mut self, c: Capability) {
        self.0 &= !(1 << c.number());
    }

    /// The capabilities in the set.
    pub fn iter(self) -> impl Iterator<Item = Capability> {
        Capability::ALL
            .iter()
            .copied()
            .filter(move |c| self.contains(*c))
    }

    /// Whether this set is a subset of `other`.
    pub fn is_subset(self, other: CapSet) -> bool {
        self.0 & !other.0 == 0
    }

    /// Docker's default capability set (14 capabilities): CHOWN,
    /// DAC_OVERRIDE, FSETID, FOWNER, MKNOD, NET_RAW, SETGID, SETUID,
    /// SETFCAP, SETPCAP, NET_BIND_SERVICE, SYS_CHROOT, KILL, AUDIT_WRITE.
    pub fn docker_default() -> CapSet {
        use Capability::*;
        [
            Chown,
            DacOverride,
            Fsetid,
            Fowner,
            Mknod,
            NetRaw,
            Setgid,
            Setuid,
            Setfcap,
            Setpcap,
            NetBindService,
            SysChroot,
            Kill,
            AuditWrite,
        ]
        .into_iter()
        .collect()
    }
}

impl FromIterator<Capability> for CapSet {
    fn from_iter<I: IntoIterator<Item = Capability>>(it: I) -> CapSet {
        let mut s = CapSet::empty();
        for c in it {
            s.insert(c);
        }
        s
    }
}

impl fmt::Debug for CapSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(|c| c.name()))
            .finish()
    }
}

/// The five capability sets the program starts with.
///
/// Applied in the child after the mounts, in runc's order: drop from the
/// bounding set, keep capabilities across the change of ids, set the ids,
/// `capset(2)` the effective, permitted and inheritable sets, then the
/// ambient set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// The bounding set: no capability outside it can ever be gained again.
    pub bounding: CapSet,
    /// The permitted set.
    pub permitted: CapSet,
    /// The effective set.
    pub effective: CapSet,
    /// The inheritable set.
    pub inheritable: CapSet,
    /// The ambient set (kept across `execve` of non-privileged programs; must
    /// be in both permitted and inheritable).
    pub ambient: CapSet,
}

impl Capabilities {
    /// Exactly `set` in bounding, permitted and effective; nothing
    /// inheritable or ambient (what docker gives a root process).
    pub fn only(set: CapSet) -> Capabilities {
        Capabilities {
            bounding: set,
            permitted: set,
            effective: set,
            inheritable: CapSet::empty(),
            ambient: CapSet::empty(),
        }
    }

    /// No capability at all, in every set (even root inside has none).
    pub fn none() -> Capabilities {
        Capabilities::only(CapSet::empty())
    }

    /// Docker's default set ([`CapSet::docker_default`]).
    pub fn docker_default() -> Capabilities {
        Capabilities::only(CapSet::docker_default())
    }

    /// Checks the kernel's rules: ambient ⊆ permitted ∩ inheritable,
    /// effective ⊆ permitted, permitted ⊆ bounding.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !self.effective.is_subset(self.permitted) {
            return Err("effective must be a subset of permitted".into());
        }
        if !self.permitted.is_subset(self.bounding) {
            return Err("permitted must be a subset of bounding".into());
        }
        if !self.ambient.is_subset(self.permitted) || !self.ambient.is_subset(self.inheritable) {
            return Err("ambient must be a subset of both permitted and inheritable".into());
        }
        Ok(())
    }
}

/// What a program with its own root gets when no capability setting was
/// given: docker's default set ([`CapSet::docker_default`]), within what the
/// spawning thread can hand on: its bounding set and, without a new user
/// namespace (in which the child holds every capability of it), its
/// permitted set. A caller already confined (inside docker, say) therefore
/// gets the intersection instead of a failed `capset(2)`.
///
/// Asked of the kernel with `prctl(PR_CAPBSET_READ)` for each capability of
/// the set and one `capget(2)`: the same values as the `CapBnd:` and
/// `CapPrm:` lines of `/proc/thread-self/status`, without generating that
/// file (~25 µs here, on every spawn with a root).
pub(crate) fn contained_default(new_user_namespace: bool) -> Capabilities {
    let mut set = CapSet::docker_default().bits();
    for cap in 0..64u32 {
        if set & (1u64 << cap) == 0 {
            continue;
        }
        // SAFETY: prctl with integer arguments; reads the calling thread's
        // bounding set (EINVAL for a number this kernel does not know).
        let r = unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) };
        if r == 0 || (r < 0 && crate::sys::errno() == libc::EINVAL) {
            set &= !(1u64 << cap);
        }
    }
    if !new_user_namespace {
        if let Some(p) = permitted_of_this_thread() {
            set &= p;
        }
    }
    Capabilities::only(CapSet::from_bits(set))
}

/// The calling thread's permitted set (`capget(2)`, version 3).
fn permitted_of_this_thread() -> Option<u64> {
    #[repr(C)]
    struct Header {
        version: u32,
        pid: i32,
    }
    #[repr(C)]
    #[derive(Clone, Copy, Default)]
    struct Data {
        effective: u32,
        permitted: u32,
        inheritable: u32,
    }
    let mut h = Header {
        version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
        pid: 0,
    };
    let mut d = [Data::default(); 2];
    // SAFETY: a version-3 header and the two data words capget(2) fills.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut h as *mut Header, d.as_mut_ptr()) };
    (r == 0).then(|| d[0].permitted as u64 | (d[1].permitted as u64) << 32)
}

/// The highest capability number this kernel knows: read once per process
/// (it is a constant of the running kernel) from
/// `/proc/sys/kernel/cap_last_cap`, else found with `prctl(PR_CAPBSET_READ)`
/// (`EINVAL` above it), else 40.
pub(crate) fn last_cap() -> u8 {
    use std::sync::atomic::{AtomicU8, Ordering};
    // 0: not known yet (CAP_CHOWN is never the last one).
    static LAST: AtomicU8 = AtomicU8::new(0);
    let known = LAST.load(Ordering::Relaxed);
    if known != 0 {
        return known;
    }
    let read = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse::<u8>().ok())
        .filter(|n| (1..=63).contains(n));
    let probed = || {
        // SAFETY: prctl with integer arguments; only reads the bounding set.
        let valid = |cap: u8| unsafe {
            libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) >= 0
        };
        (1..=63u8).rev().find(|&c| valid(c))
    };
    match read.or_else(probed) {
        Some(n) => {
            LAST.store(n, Ordering::Relaxed);
            n
        }
        None => 40,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_names_and_sets() {
        for (i, c) in Capability::ALL.iter().enumerate() {
            assert_eq!(c.number() as usize, i);
            assert_eq!(Capability::parse(c.name()), Some(*c));
        }
        assert_eq!(Capability::SysAdmin.number(), 21);
        assert_eq!(Capability::parse("net_admin"), Some(Capability::NetAdmin));
        assert_eq!(Capability::parse("nope"), None);
        assert_eq!(CapSet::docker_default().iter().count(), 14);
        // Docker's default as a mask, as `capsh --decode` shows it.
        assert_eq!(CapSet::docker_default().bits(), 0xa80425fb);
        assert!(Capabilities::docker_default().validate().is_ok());
        let mut bad = Capabilities::none();
        bad.ambient.insert(Capability::Kill);
        assert!(bad.validate().is_err());
        // The default never exceeds docker's set, whatever the caller holds.
        let d = contained_default(false);
        assert!(d.validate().is_ok());
        assert!(d.bounding.is_subset(CapSet::docker_default()));
    }

    /// The syscall answers agree with what the kernel shows in
    /// `/proc/thread-self/status` (the source used before).
    #[test]
    fn the_default_matches_the_status_file() {
        let status = std::fs::read_to_string("/proc/thread-self/status").unwrap();
        let field = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
                .unwrap()
        };
        let docker = CapSet::docker_default().bits();
        let bnd = field("CapBnd:");
        let prm = field("CapPrm:");
        assert_eq!(contained_default(true).bounding.bits(), docker & bnd);
        assert_eq!(contained_default(false).bounding.bits(), docker & bnd & prm);
        assert_eq!(permitted_of_this_thread(), Some(prm));
        let text = std::fs::read_to_string("/proc/sys/kernel/cap_last_cap").unwrap();
        assert_eq!(last_cap(), text.trim().parse::<u8>().unwrap());
        assert_eq!(last_cap(), last_cap());
        // CapBnd has exactly the bits 0..=cap_last_cap for a full set.
        assert!(bnd < (1u64 << (last_cap() as u32 + 1)) || last_cap() == 63);
    }
}
