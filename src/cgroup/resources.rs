//! Typed resource limits, the one place that parses human strings, and the
//! mapping of every `docker run` resource flag onto cgroup v2 files (and,
//! through [`super::v1`], onto cgroup v1 files).
//!
//! | docker flag | [`Resources`] setter | cgroup v2 file | cgroup v1 file |
//! |---|---|---|---|
//! | `-m/--memory` | [`memory_max`](Resources::memory_max) | `memory.max` | `memory.limit_in_bytes` |
//! | `--memory-swap` (total, `-1` unlimited) | [`memory_swap`](Resources::memory_swap) | `memory.swap.max` = total − memory | `memory.memsw.limit_in_bytes` = total |
//! | `--memory-reservation` | [`memory_reservation`](Resources::memory_reservation) | `memory.low` | `memory.soft_limit_in_bytes` |
//! | (v2 only) | [`memory_high`](Resources::memory_high), [`memory_oom_group`](Resources::memory_oom_group) | `memory.high`, `memory.oom.group` | none ([`Error::NoV1Equivalent`]) |
//! | `--kernel-memory` | [`kernel_memory`](Resources::kernel_memory) | none ([`Error::NoV2Equivalent`]) | `memory.kmem.limit_in_bytes` (refused by kernels since 6.1) |
//! | (OCI `memory.kernelTCP`) | [`kernel_tcp_memory`](Resources::kernel_tcp_memory) | none ([`Error::NoV2Equivalent`]) | `memory.kmem.tcp.limit_in_bytes` |
//! | `--memory-swappiness` | [`memory_swappiness`](Resources::memory_swappiness) | none | `memory.swappiness` |
//! | `--oom-kill-disable` | [`oom_kill_disable`](Resources::oom_kill_disable) | none | `memory.oom_control` |
//! | `-c/--cpu-shares` | [`cpu_shares`](Resources::cpu_shares) | `cpu.weight` (converted, see [`shares_to_weight`]) | `cpu.shares` |
//! | `--cpus`, `--cpu-period`, `--cpu-quota` | [`cpus`](Resources::cpus), [`cpu_period`](Resources::cpu_period), [`cpu_quota`](Resources::cpu_quota) | `cpu.max` | `cpu.cfs_period_us`, `cpu.cfs_quota_us` |
//! | `--cpu-rt-period`, `--cpu-rt-runtime` | [`cpu_rt_period`](Resources::cpu_rt_period), [`cpu_rt_runtime`](Resources::cpu_rt_runtime) | none | `cpu.rt_period_us`, `cpu.rt_runtime_us` |
//! | `--cpuset-cpus`, `--cpuset-mems` | [`cpuset_cpus`](Resources::cpuset_cpus), [`cpuset_mems`](Resources::cpuset_mems) | `cpuset.cpus`, `cpuset.mems` | the same |
//! | `--pids-limit` | [`pids_max`](Resources::pids_max) | `pids.max` | the same |
//! | `--blkio-weight`, `--blkio-weight-device` | [`blkio_weight`](Resources::blkio_weight), [`blkio_weight_device`](Resources::blkio_weight_device) | `io.weight` (converted, see [`blkio_to_io_weight`]) | `blkio.weight`/`blkio.weight_device` (CFQ) or `blkio.bfq.weight`/`blkio.bfq.weight_device` (BFQ), whichever the scheduler offers |
//! | `--device-{read,write}-{bps,iops}` | [`io_limit`](Resources::io_limit) | `io.max` | `blkio.throttle.{read,write}_{bps,iops}_device` |
//! | `--oom-score-adj` | [`oom_score_adj`](Resources::oom_score_adj) | `/proc/<pid>/oom_score_adj`, written **in the child** by the spawn path | the same |
//! | `--device-cgroup-rule` | [`device_rule`](Resources::device_rule) ([`DeviceRule`]) | a `BPF_PROG_TYPE_CGROUP_DEVICE` program (see [`devices`](super::devices)) | `devices.deny`/`devices.allow` |
//! | (OCI `hugepageLimits`) | [`hugetlb_limit`](Resources::hugetlb_limit) ([`HugePageSize`]) | `hugetlb.<size>.max` | `hugetlb.<size>.limit_in_bytes` |
//! | (OCI `network.classID`) | [`net_cls_classid`](Resources::net_cls_classid) | none ([`Error::NoV2Equivalent`]) | `net_cls.classid` |
//! | (OCI `network.priorities`) | [`net_prio_ifpriomap`](Resources::net_prio_ifpriomap) | none ([`Error::NoV2Equivalent`]) | `net_prio.ifpriomap` |
//!
//! Human strings (`"512m"`, `"1.5"`, `"0-3,7"`, `"8:0 1mb"`) are parsed by
//! [`parse_bytes`], [`parse_cpus`], [`CpuSet`]'s `FromStr`, [`IoLimit::parse`]
//! and, flag by flag, [`Resources::docker_flag`].

use std::collections::BTreeSet;
use std::fmt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::devices::DeviceRule;
use super::Error;

fn invalid(field: &'static str, value: impl fmt::Display, reason: impl Into<String>) -> Error {
    Error::Invalid {
        field,
        value: value.to_string(),
        reason: reason.into(),
    }
}

// ------------------------------------------------------------------ parsing

/// Parses a byte size the way docker does (`RAMInBytes`): a number with an
/// optional fraction and an optional binary unit `b`, `k`, `m`, `g`, `t`,
/// `p` (case-insensitive, optionally followed by `i` and/or `b`:
/// `512m`, `1.5G`, `64KiB`, `4096`).
///
/// # Errors
///
/// [`Error::Invalid`] naming the field `"bytes"` for an empty, negative,
/// malformed or overflowing value.
pub fn parse_bytes(s: &str) -> Result<u64, Error> {
    let t = s.trim();
    let bad = |why: &str| invalid("bytes", s, why.to_string());
    let num_end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(num_end);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') || num.matches('.').count() > 1
    {
        return Err(bad(
            "expected a number with an optional unit (b, k, m, g, t, p)",
        ));
    }
    let unit = unit.trim_start().to_ascii_lowercase();
    let mut u = unit.as_str();
    let shift = match u.chars().next() {
        Some('k') => 10,
        Some('m') => 20,
        Some('g') => 30,
        Some('t') => 40,
        Some('p') => 50,
        _ => 0,
    };
    if shift > 0 {
        u = &u[1..];
        u = u.strip_prefix('i').unwrap_or(u);
    }
    if !(u.is_empty() || u == "b") {
        return Err(bad("unknown unit (expected b, k, m, g, t or p)"));
    }
    if let Some((int, frac)) = num.split_once('.') {
        let v: f64 = format!("{int}.{frac}")
            .parse()
            .map_err(|_| bad("not a number"))?;
        let bytes = v * (1u64 << shift) as f64;
        if !bytes.is_finite() || bytes >= u64::MAX as f64 {
            return Err(bad("too large"));
        }
        Ok(bytes as u64)
    } else {
        let v: u64 = num.parse().map_err(|_| bad("too large"))?;
        v.checked_mul(1u64 << shift).ok_or_else(|| bad("too large"))
    }
}

/// Parses a number of CPUs (`"1.5"`, `"0.25"`, `"2"`), as `docker --cpus`.
///
/// # Errors
///
/// [`Error::Invalid`] naming `"cpus"` for garbage, zero, negative or
/// non-finite values.
pub fn parse_cpus(s: &str) -> Result<f64, Error> {
    let v: f64 = s
        .trim()
        .parse()
        .map_err(|_| invalid("cpus", s, "expected a decimal number of CPUs such as 1.5"))?;
    if !v.is_finite() || v <= 0.0 {
        return Err(invalid("cpus", s, "must be a positive number"));
    }
    Ok(v)
}

fn parse_i64(field: &'static str, s: &str) -> Result<i64, Error> {
    s.trim()
        .parse()
        .map_err(|_| invalid(field, s, "expected an integer"))
}

fn parse_u64(field: &'static str, s: &str) -> Result<u64, Error> {
    s.trim()
        .parse()
        .map_err(|_| invalid(field, s, "expected a non-negative integer"))
}

// ------------------------------------------------------------------ values

/// A memory limit: a number of bytes, or no limit (`max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemoryLimit {
    /// A limit in bytes.
    Bytes(u64),
    /// No limit (`max` in the file, `-1` for docker).
    Max,
}

impl From<u64> for MemoryLimit {
    fn from(v: u64) -> MemoryLimit {
        MemoryLimit::Bytes(v)
    }
}

impl fmt::Display for MemoryLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemoryLimit::Bytes(b) => write!(f, "{b}"),
            MemoryLimit::Max => f.write_str("max"),
        }
    }
}

impl FromStr for MemoryLimit {
    type Err = Error;
    /// `"max"` or `"-1"` for no limit, else [`parse_bytes`].
    fn from_str(s: &str) -> Result<MemoryLimit, Error> {
        match s.trim() {
            "max" | "-1" => Ok(MemoryLimit::Max),
            _ => parse_bytes(s).map(MemoryLimit::Bytes),
        }
    }
}

/// A limit on the number of tasks (`pids.max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PidsLimit {
    /// At most this many tasks.
    Count(u64),
    /// No limit.
    Max,
}

impl From<u64> for PidsLimit {
    fn from(v: u64) -> PidsLimit {
        PidsLimit::Count(v)
    }
}

impl fmt::Display for PidsLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PidsLimit::Count(n) => write!(f, "{n}"),
            PidsLimit::Max => f.write_str("max"),
        }
    }
}

/// The content of `cpu.max`: `quota` microseconds of CPU time per `period`
/// microseconds (`None` quota = no limit, written `max`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CpuMax {
    /// Microseconds per period, `None` for no limit.
    pub quota: Option<u64>,
    /// Period length in microseconds (kernel default 100000).
    pub period: u64,
}

/// The default `cpu.max` period, 100 ms (kernel and docker default).
pub const DEFAULT_CPU_PERIOD: u64 = 100_000;

impl fmt::Display for CpuMax {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.quota {
            Some(q) => write!(f, "{q} {}", self.period),
            None => write!(f, "max {}", self.period),
        }
    }
}

impl FromStr for CpuMax {
    type Err = Error;
    /// Parses the file format, `"max 100000"` or `"20000 100000"`.
    fn from_str(s: &str) -> Result<CpuMax, Error> {
        let mut it = s.split_whitespace();
        let q = it.next().ok_or_else(|| invalid("cpu.max", s, "empty"))?;
        let period = match it.next() {
            Some(p) => parse_u64("cpu.max", p)?,
            None => DEFAULT_CPU_PERIOD,
        };
        let quota = if q == "max" {
            None
        } else {
            Some(parse_u64("cpu.max", q)?)
        };
        Ok(CpuMax { quota, period })
    }
}

/// The most members a parsed [`CpuSet`] may have: far above any kernel's
/// `NR_CPUS` (at most 8192) or node count, low enough that a hostile list
/// cannot make the parser allocate without bound.
pub const MAX_CPUSET_MEMBERS: usize = 1 << 17;

/// A set of CPU (or memory node) numbers, written `"0-3,7"`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct CpuSet(BTreeSet<u32>);

impl CpuSet {
    /// The numbers in the set, ascending.
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().copied()
    }
    /// Whether `n` is in the set.
    pub fn contains(&self, n: u32) -> bool {
        self.0.contains(&n)
    }
    /// Number of members.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<u32> for CpuSet {
    fn from_iter<I: IntoIterator<Item = u32>>(iter: I) -> CpuSet {
        CpuSet(iter.into_iter().collect())
    }
}

impl FromStr for CpuSet {
    type Err = Error;
    /// Parses the kernel's list format (`"0-3,7"`, `"1"`, `""` for empty).
    /// A range spans at most 65536 numbers and the whole set holds at most
    /// [`MAX_CPUSET_MEMBERS`].
    fn from_str(s: &str) -> Result<CpuSet, Error> {
        let mut set = BTreeSet::new();
        let t = s.trim();
        if t.is_empty() {
            return Ok(CpuSet(set));
        }
        let bad = |why: &str| invalid("cpuset", s, why.to_string());
        for part in t.split(',') {
            let part = part.trim();
            let num = |x: &str| -> Result<u32, Error> {
                if x.is_empty() || !x.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(bad("expected numbers and ranges such as 0-3,7"));
                }
                x.parse().map_err(|_| bad("number too large"))
            };
            match part.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (num(a)?, num(b)?);
                    if a > b {
                        return Err(bad("range start above its end"));
                    }
                    if b - a > 65_536 {
                        return Err(bad("range too large"));
                    }
                    set.extend(a..=b);
                }
                None => {
                    set.insert(num(part)?);
                }
            }
            // Many distinct ranges would otherwise grow the set without
            // bound (a 4 KiB list held 16 million members).
            if set.len() > MAX_CPUSET_MEMBERS {
                return Err(bad("too many members (at most 131072)"));
            }
        }
        Ok(CpuSet(set))
    }
}

impl fmt::Display for CpuSet {
    /// The canonical list format (`"0-3,7"`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        let mut it = self.0.iter().copied().peekable();
        while let Some(start) = it.next() {
            let mut end = start;
            // `u32::MAX` is a valid member: no `end + 1` past it.
            while let Some(next) = end.checked_add(1).filter(|n| it.peek() == Some(n)) {
                end = next;
                it.next();
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if start == end {
                write!(f, "{start}")?;
            } else {
                write!(f, "{start}-{end}")?;
            }
        }
        Ok(())
    }
}

/// A block device, by number (`MAJ:MIN`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Device {
    /// Major number.
    pub major: u32,
    /// Minor number.
    pub minor: u32,
}

impl Device {
    /// The block device at `path` (`/dev/sda`, `/dev/nullb0`).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the path cannot be stat'ed, [`Error::Invalid`]
    /// (field `"device"`) when it is not a block device.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Device, Error> {
        let path = path.as_ref();
        let md = std::fs::metadata(path).map_err(|e| Error::io("stat", path, e))?;
        if !md.file_type().is_block_device() {
            return Err(invalid("device", path.display(), "is not a block device"));
        }
        let rdev = md.rdev();
        Ok(Device {
            major: libc::major(rdev),
            minor: libc::minor(rdev),
        })
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.major, self.minor)
    }
}

impl FromStr for Device {
    type Err = Error;
    /// `"8:0"`, or a path to a block device (`"/dev/sda"`).
    fn from_str(s: &str) -> Result<Device, Error> {
        let t = s.trim();
        if t.starts_with('/') {
            return Device::from_path(t);
        }
        let (a, b) = t
            .split_once(':')
            .ok_or_else(|| invalid("device", s, "expected MAJ:MIN or a /dev path"))?;
        let n = |x: &str| {
            x.parse::<u32>()
                .map_err(|_| invalid("device", s, "expected MAJ:MIN or a /dev path"))
        };
        Ok(Device {
            major: n(a)?,
            minor: n(b)?,
        })
    }
}

/// Which `io.max` key an [`IoLimit`] sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IoLimitKind {
    /// Read bytes per second (`rbps`, `--device-read-bps`).
    ReadBps,
    /// Write bytes per second (`wbps`, `--device-write-bps`).
    WriteBps,
    /// Read operations per second (`riops`, `--device-read-iops`).
    ReadIops,
    /// Write operations per second (`wiops`, `--device-write-iops`).
    WriteIops,
}

impl IoLimitKind {
    /// The key in `io.max` (`"rbps"` …).
    pub fn key(self) -> &'static str {
        match self {
            IoLimitKind::ReadBps => "rbps",
            IoLimitKind::WriteBps => "wbps",
            IoLimitKind::ReadIops => "riops",
            IoLimitKind::WriteIops => "wiops",
        }
    }
}

/// One throttle of one block device: a line fragment of `io.max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IoLimit {
    /// The device.
    pub device: Device,
    /// What is limited.
    pub kind: IoLimitKind,
    /// Bytes or operations per second.
    pub per_second: u64,
}

impl IoLimit {
    /// Parses `"8:0 1mb"`, `"8:0=1mb"` or docker's `"/dev/sda:1mb"`. Rates
    /// of `*Bps` kinds take byte units ([`parse_bytes`]); iops are plain
    /// integers.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] for malformed text or a path that is not a block
    /// device.
    pub fn parse(kind: IoLimitKind, s: &str) -> Result<IoLimit, Error> {
        let t = s.trim();
        let (dev, rate) = if t.starts_with('/') {
            t.rsplit_once(':')
        } else {
            t.split_once(|c: char| c.is_whitespace() || c == '=')
        }
        .ok_or_else(|| invalid("io limit", s, "expected `MAJ:MIN RATE` or `/dev/PATH:RATE`"))?;
        let device: Device = dev.parse()?;
        let per_second = match kind {
            IoLimitKind::ReadBps | IoLimitKind::WriteBps => parse_bytes(rate)?,
            IoLimitKind::ReadIops | IoLimitKind::WriteIops => parse_u64("iops", rate)?,
        };
        Ok(IoLimit {
            device,
            kind,
            per_second,
        })
    }
}

/// An `oom_score_adj` value (-1000..=1000). Per process, not a cgroup file:
/// the spawn path writes it to `/proc/self/oom_score_adj` in the child.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OomScoreAdj(i16);

impl OomScoreAdj {
    /// Validates the range -1000..=1000.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] naming `"oom_score_adj"` when out of range.
    pub fn new(v: i32) -> Result<OomScoreAdj, Error> {
        if !(-1000..=1000).contains(&v) {
            return Err(invalid("oom_score_adj", v, "must be within -1000..=1000"));
        }
        Ok(OomScoreAdj(v as i16))
    }
    /// The value.
    pub fn get(self) -> i16 {
        self.0
    }
}

/// How the CPU weight was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum CpuWeightSetting {
    Shares(u64),
    Weight(u64),
}

// ------------------------------------------------------------- conversions

/// Converts cgroup v1 `cpu.shares` (docker's `--cpu-shares`, 2..=262144,
/// default 1024) to cgroup v2 `cpu.weight` (1..=10000, default 100).
///
/// Uses the log-quadratic mapping crun adopted in `convert_shares_to_weight`
/// (containers/crun PR #1767, src/libcrun/cgroup-internal.h), which maps the
/// v1 default 1024 onto the v2 default 100 and the ends of the range onto
/// each other: `weight = ceil(10^((l² + 125·l)/612 − 7/34))` with
/// `l = log2(shares)`. (runc and older crun used the linear
/// `1 + (shares − 2)·9999/262142`, which maps 1024 to 39.) Own code.
/// 0 means "not set" and returns 0.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    if shares <= 2 {
        return 1;
    }
    if shares >= 262_144 {
        return 10_000;
    }
    let l = (shares as f64).log2();
    let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
    // Round away float noise before the ceiling (1024 gives exactly 2.0).
    let w = (10f64.powf(exponent) * 1e6).round() / 1e6;
    (w.ceil() as u64).clamp(1, 10_000)
}

/// Converts docker's `--blkio-weight` (v1 `blkio.weight`, 10..=1000) to
/// `io.weight` (1..=10000) linearly, as runc's `BlkioWeightToIOWeight`
/// (libcontainer/cgroups/utils.go) does: `1 + (w − 10)·9999/990`. Own code.
/// 0 means "not set" and returns 0; values outside 10..=1000 are clamped
/// to it (so at most 10000 comes out, never an overflow).
pub fn blkio_to_io_weight(w: u64) -> u64 {
    if w == 0 {
        return 0;
    }
    1 + (w.clamp(10, 1000) - 10) * 9999 / 990
}

// ------------------------------------------------------------- host facts

/// What validation needs to know about the host: online CPUs and memory
/// nodes, and where sysfs is (to check devices). [`HostInfo::detect`] reads
/// the real host; tests build one over a temporary directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostInfo {
    /// `/sys/devices/system/cpu/online`.
    pub online_cpus: CpuSet,
    /// `/sys/devices/system/node/online` (`0` when absent, i.e. no NUMA).
    pub online_mems: CpuSet,
    /// sysfs root used to check block devices (`/sys/dev/block/MAJ:MIN`).
    pub sys: PathBuf,
}

impl HostInfo {
    /// Reads `/sys`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when `/sys/devices/system/cpu/online` cannot be read.
    pub fn detect() -> Result<HostInfo, Error> {
        HostInfo::from_sys("/sys")
    }

    /// Reads the same files under another sysfs root.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when `<sys>/devices/system/cpu/online` cannot be read.
    pub fn from_sys(sys: impl Into<PathBuf>) -> Result<HostInfo, Error> {
        let sys = sys.into();
        let p = sys.join("devices/system/cpu/online");
        let cpus = std::fs::read_to_string(&p).map_err(|e| Error::io("read", &p, e))?;
        let mems = std::fs::read_to_string(sys.join("devices/system/node/online"))
            .unwrap_or_else(|_| "0".into());
        Ok(HostInfo {
            online_cpus: cpus.parse()?,
            online_mems: mems.parse()?,
            sys,
        })
    }
}

// ------------------------------------------------------------- Resources

/// A set of cgroup limits, built like `docker run`'s resource flags (the
/// module docs map each onto its cgroup v2 and v1 files).
///
/// ```
/// use containment::cgroup::Resources;
/// let r = Resources::new().memory_max(256 << 20).pids_max(64).cpus(1.5);
/// # let _ = r;
/// ```
///
/// Setters only record; [`Resources::validate`] (called by
/// [`Cgroup::apply`](super::Cgroup::apply)) checks every value against the
/// host and names the offending field. Applying to a running cgroup updates
/// it (`docker update`): only the fields that are set are written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    pub(crate) memory_max: Option<MemoryLimit>,
    pub(crate) memory_swap: Option<MemoryLimit>,
    pub(crate) memory_low: Option<MemoryLimit>,
    pub(crate) memory_high: Option<MemoryLimit>,
    pub(crate) memory_oom_group: Option<bool>,
    pub(crate) cpu_weight: Option<CpuWeightSetting>,
    pub(crate) cpus: Option<f64>,
    pub(crate) cpu_period: Option<u64>,
    pub(crate) cpu_quota: Option<i64>,
    pub(crate) cpuset_cpus: Option<CpuSet>,
    pub(crate) cpuset_mems: Option<CpuSet>,
    pub(crate) pids_max: Option<PidsLimit>,
    pub(crate) blkio_weight: Option<u64>,
    pub(crate) blkio_weight_device: Vec<(Device, u64)>,
    pub(crate) io_limits: Vec<IoLimit>,
    pub(crate) oom_score_adj: Option<OomScoreAdj>,
    // cgroup v1 only (refused with `NoV2Equivalent` where v2 drives the
    // controller).
    pub(crate) kernel_memory: Option<MemoryLimit>,
    pub(crate) kernel_tcp_memory: Option<MemoryLimit>,
    pub(crate) memory_swappiness: Option<u64>,
    pub(crate) oom_kill_disable: Option<bool>,
    pub(crate) cpu_rt_runtime: Option<i64>,
    pub(crate) cpu_rt_period: Option<u64>,
    // cgroups additions: devices, hugetlb, net_cls/net_prio.
    pub(crate) devices: Vec<DeviceRule>,
    pub(crate) hugetlb: Vec<(HugePageSize, MemoryLimit)>,
    pub(crate) net_cls_classid: Option<u32>,
    pub(crate) net_prio_ifpriomap: Vec<(String, u32)>,
}

/// Docker's minimum kernel memory limit (4 MiB, `linuxMinKernelMemory`).
pub const MIN_KERNEL_MEMORY: u64 = 4 << 20;

/// Docker's minimum memory limit (6 MiB, `linuxMinMemory` in moby's
/// daemon/daemon_unix.go): below it a container cannot start reliably.
pub const MIN_MEMORY: u64 = 6 << 20;

/// One write [`Cgroup::apply`](super::Cgroup::apply) performs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileWrite {
    /// The interface file, relative to the cgroup directory (`"memory.max"`).
    pub file: &'static str,
    /// The exact bytes written (`"268435456"`, `"150000 100000"`).
    pub value: String,
}

impl Resources {
    /// No limits.
    pub fn new() -> Resources {
        Resources::default()
    }

    /// `-m/--memory`: `memory.max`, the hard limit (OOM kill above it).
    ///
    /// Unlike the docker daemon, which also defaults `--memory-swap` to
    /// twice `--memory`, this leaves `memory.swap.max` alone unless
    /// [`memory_swap`](Self::memory_swap) is set.
    pub fn memory_max(mut self, v: impl Into<MemoryLimit>) -> Resources {
        self.memory_max = Some(v.into());
        self
    }

    /// `--memory-swap`: memory **plus** swap, as docker counts it
    /// ([`MemoryLimit::Max`] = `-1`, unlimited swap). Written as
    /// `memory.swap.max = total − memory`, because v2 counts swap
    /// separately (Documentation/admin-guide/cgroup-v2.rst, memory.swap.max;
    /// runc's `ConvertMemorySwapToCgroupV2Value`). Needs
    /// [`memory_max`](Self::memory_max); equal to it means no swap.
    pub fn memory_swap(mut self, total: impl Into<MemoryLimit>) -> Resources {
        self.memory_swap = Some(total.into());
        self
    }

    /// `--memory-reservation`: `memory.low`, best-effort protection from
    /// reclaim.
    pub fn memory_reservation(mut self, v: impl Into<MemoryLimit>) -> Resources {
        self.memory_low = Some(v.into());
        self
    }

    /// `memory.high`: the throttle limit (reclaim pressure, no OOM kill).
    pub fn memory_high(mut self, v: impl Into<MemoryLimit>) -> Resources {
        self.memory_high = Some(v.into());
        self
    }

    /// `memory.oom.group`: on OOM kill every process of the cgroup together.
    pub fn memory_oom_group(mut self, on: bool) -> Resources {
        self.memory_oom_group = Some(on);
        self
    }

    /// `-c/--cpu-shares`: relative CPU weight in v1 units (2..=262144,
    /// default 1024), written to `cpu.weight` through [`shares_to_weight`].
    /// 0 means unset, as for docker.
    pub fn cpu_shares(mut self, shares: u64) -> Resources {
        self.cpu_weight = (shares != 0).then_some(CpuWeightSetting::Shares(shares));
        self
    }

    /// `cpu.weight` directly (1..=10000, default 100).
    pub fn cpu_weight(mut self, weight: u64) -> Resources {
        self.cpu_weight = Some(CpuWeightSetting::Weight(weight));
        self
    }

    /// `--cpus`: how many CPUs' worth of time per period (`1.5`), written
    /// to `cpu.max` as `cpus × period` over the period.
    pub fn cpus(mut self, cpus: f64) -> Resources {
        self.cpus = Some(cpus);
        self
    }

    /// `--cpu-period`: the `cpu.max` period in µs (1000..=1000000).
    pub fn cpu_period(mut self, us: u64) -> Resources {
        self.cpu_period = Some(us);
        self
    }

    /// `--cpu-quota`: the `cpu.max` quota in µs per period (≥ 1000; -1
    /// for no limit). Conflicts with [`cpus`](Self::cpus), as in docker.
    pub fn cpu_quota(mut self, us: i64) -> Resources {
        self.cpu_quota = Some(us);
        self
    }

    /// `cpu.max` directly.
    pub fn cpu_max(mut self, max: CpuMax) -> Resources {
        self.cpus = None;
        self.cpu_period = Some(max.period);
        self.cpu_quota = Some(max.quota.map_or(-1, |q| q.min(i64::MAX as u64) as i64));
        self
    }

    /// `--cpuset-cpus`: `cpuset.cpus`.
    pub fn cpuset_cpus(mut self, cpus: CpuSet) -> Resources {
        self.cpuset_cpus = Some(cpus);
        self
    }

    /// `--cpuset-mems`: `cpuset.mems`.
    pub fn cpuset_mems(mut self, mems: CpuSet) -> Resources {
        self.cpuset_mems = Some(mems);
        self
    }

    /// `--pids-limit`: `pids.max`.
    pub fn pids_max(mut self, v: impl Into<PidsLimit>) -> Resources {
        self.pids_max = Some(v.into());
        self
    }

    /// `--blkio-weight` (10..=1000): the default `io.weight`, converted by
    /// [`blkio_to_io_weight`]. 0 means unset.
    pub fn blkio_weight(mut self, w: u64) -> Resources {
        self.blkio_weight = (w != 0).then_some(w);
        self
    }

    /// `--blkio-weight-device` (10..=1000): `io.weight` for one device.
    pub fn blkio_weight_device(mut self, device: Device, w: u64) -> Resources {
        self.blkio_weight_device.retain(|(d, _)| *d != device);
        self.blkio_weight_device.push((device, w));
        self
    }

    /// `--device-read-bps`, `--device-write-bps`, `--device-read-iops`,
    /// `--device-write-iops`: one `io.max` throttle (a later limit of the
    /// same device and kind replaces an earlier one).
    pub fn io_limit(mut self, limit: IoLimit) -> Resources {
        self.io_limits
            .retain(|l| !(l.device == limit.device && l.kind == limit.kind));
        self.io_limits.push(limit);
        self
    }

    /// `--oom-score-adj`: recorded for the spawn path, which writes it to
    /// `/proc/self/oom_score_adj` in the child (it is per process, not a
    /// cgroup file); [`Cgroup::apply`](super::Cgroup::apply) does not write
    /// it. Read it back with [`child_oom_score_adj`](Self::child_oom_score_adj).
    pub fn oom_score_adj(mut self, v: OomScoreAdj) -> Resources {
        self.oom_score_adj = Some(v);
        self
    }

    /// The `oom_score_adj` the spawn path must apply in the child.
    pub fn child_oom_score_adj(&self) -> Option<OomScoreAdj> {
        self.oom_score_adj
    }

    /// `--kernel-memory`: `memory.kmem.limit_in_bytes` (cgroup v1 only).
    ///
    /// cgroup v2 accounts kernel memory inside `memory.max` and has no
    /// separate limit: applying this where v2 drives the memory controller
    /// returns [`Error::NoV2Equivalent`]. Kernels since 6.1 refuse the
    /// write on v1 too (`EOPNOTSUPP`, the limit was removed): the
    /// [`Error::Write`] then names the kernel release.
    pub fn kernel_memory(mut self, v: impl Into<MemoryLimit>) -> Resources {
        self.kernel_memory = Some(v.into());
        self
    }

    /// The OCI `linux.resources.memory.kernelTCP` limit:
    /// `memory.kmem.tcp.limit_in_bytes`, the memory the cgroup's TCP
    /// sockets may use (cgroup v1 only; Linux 6.x still enforces it).
    ///
    /// cgroup v2 accounts socket memory inside `memory.max` and has no
    /// separate limit: applying this where v2 drives the memory controller
    /// returns [`Error::NoV2Equivalent`].
    pub fn kernel_tcp_memory(mut self, v: impl Into<MemoryLimit>) -> Resources {
        self.kernel_tcp_memory = Some(v.into());
        self
    }

    /// `--memory-swappiness` (0..=100): `memory.swappiness` (cgroup v1
    /// only; v2 has only the global `vm.swappiness`).
    pub fn memory_swappiness(mut self, swappiness: u64) -> Resources {
        self.memory_swappiness = Some(swappiness);
        self
    }

    /// `--cpu-rt-runtime`: `cpu.rt_runtime_us`, realtime µs per
    /// [`cpu_rt_period`](Self::cpu_rt_period) (`-1` for no limit; cgroup v1
    /// with `CONFIG_RT_GROUP_SCHED` only). The parent cgroup must have at
    /// least this much realtime budget itself (`cpu.rt_runtime_us` of the
    /// parent), or the kernel refuses the write (`EINVAL`).
    pub fn cpu_rt_runtime(mut self, us: i64) -> Resources {
        self.cpu_rt_runtime = Some(us);
        self
    }

    /// `--cpu-rt-period`: `cpu.rt_period_us` (cgroup v1 only).
    pub fn cpu_rt_period(mut self, us: u64) -> Resources {
        self.cpu_rt_period = Some(us);
        self
    }

    /// `--oom-kill-disable`: `1` in `memory.oom_control` (cgroup v1 only):
    /// at its memory limit the cgroup's tasks are paused (`under_oom 1`)
    /// instead of killed, until the limit is raised or memory is freed.
    pub fn oom_kill_disable(mut self, disable: bool) -> Resources {
        self.oom_kill_disable = Some(disable);
        self
    }

    /// `--device-cgroup-rule` / OCI `linux.resources.devices`: one device
    /// rule, read in order after the ones set before (see
    /// [`devices`](super::devices) for the semantics; start the list with
    /// [`DeviceRule::deny_all`] to allow only what follows).
    pub fn device_rule(mut self, rule: DeviceRule) -> Resources {
        self.devices.push(rule);
        self
    }

    /// Several [`device_rule`](Self::device_rule)s, in order.
    pub fn device_rules(mut self, rules: impl IntoIterator<Item = DeviceRule>) -> Resources {
        self.devices.extend(rules);
        self
    }

    /// The device rules, in order.
    pub fn device_rule_list(&self) -> &[DeviceRule] {
        &self.devices
    }

    /// OCI `hugepageLimits`: at most `limit` bytes of huge pages of
    /// `size` (`hugetlb.<size>.max`, v1 `hugetlb.<size>.limit_in_bytes`;
    /// a later limit of the same size replaces an earlier one).
    pub fn hugetlb_limit(mut self, size: HugePageSize, limit: impl Into<MemoryLimit>) -> Resources {
        self.hugetlb.retain(|(s, _)| *s != size);
        self.hugetlb.push((size, limit.into()));
        self
    }

    /// OCI `network.classID`: `net_cls.classid`, the class id the
    /// cgroup's packets carry (tc, iptables `-m cgroup`; cgroup v1 only).
    pub fn net_cls_classid(mut self, classid: u32) -> Resources {
        self.net_cls_classid = Some(classid);
        self
    }

    /// OCI `network.priorities`: one `net_prio.ifpriomap` entry, the
    /// priority of the cgroup's traffic on interface `ifname` (cgroup v1
    /// only; a later entry for the same interface replaces an earlier).
    pub fn net_prio_ifpriomap(mut self, ifname: impl Into<String>, priority: u32) -> Resources {
        let ifname = ifname.into();
        self.net_prio_ifpriomap.retain(|(n, _)| *n != ifname);
        self.net_prio_ifpriomap.push((ifname, priority));
        self
    }

    /// The cgroup-v1-only settings that are set, as `(docker flag,
    /// controller, why v2 has none)`.
    pub(crate) fn v1_only(&self) -> Vec<(&'static str, &'static str, &'static str)> {
        let mut v = Vec::new();
        if self.net_cls_classid.is_some() {
            v.push((
                "net_cls_classid",
                "net_cls",
                "cgroup v2 has no net_cls controller: match the cgroup path instead \
                 (iptables -m cgroup --path, a cgroup BPF program)",
            ));
        }
        if !self.net_prio_ifpriomap.is_empty() {
            v.push((
                "net_prio_ifpriomap",
                "net_prio",
                "cgroup v2 has no net_prio controller: set priorities with a cgroup BPF program \
                 or SO_PRIORITY",
            ));
        }
        if self.kernel_memory.is_some() {
            v.push((
                "--kernel-memory",
                "memory",
                "cgroup v2 accounts kernel memory inside memory.max; there is no separate limit",
            ));
        }
        if self.kernel_tcp_memory.is_some() {
            v.push((
                "kernel_tcp_memory",
                "memory",
                "cgroup v2 accounts socket memory inside memory.max; there is no separate limit",
            ));
        }
        if self.memory_swappiness.is_some() {
            v.push((
                "--memory-swappiness",
                "memory",
                "cgroup v2 has no per-cgroup swappiness (only the global vm.swappiness)",
            ));
        }
        if self.oom_kill_disable.is_some() {
            v.push(("--oom-kill-disable", "memory",
                "cgroup v2 cannot disable the OOM killer (memory.oom_control is v1 only); use memory.high to throttle instead"));
        }
        if self.cpu_rt_runtime.is_some() {
            v.push(("--cpu-rt-runtime", "cpu",
                "the cgroup v2 cpu controller does not support realtime bandwidth (cpu.rt_runtime_us is v1 only)"));
        }
        if self.cpu_rt_period.is_some() {
            v.push(("--cpu-rt-period", "cpu",
                "the cgroup v2 cpu controller does not support realtime bandwidth (cpu.rt_period_us is v1 only)"));
        }
        v
    }

    /// The cgroup-v2-only settings that are set, as `(setting, controller,
    /// why v1 has none)`.
    pub(crate) fn v2_only(&self) -> Vec<(&'static str, &'static str, &'static str)> {
        let mut v = Vec::new();
        if self.memory_high.is_some() {
            v.push((
                "memory_high",
                "memory",
                "cgroup v1 has no throttling limit (memory.high is v2 only)",
            ));
        }
        if self.memory_oom_group.is_some() {
            v.push((
                "memory_oom_group",
                "memory",
                "cgroup v1 cannot OOM-kill a group together (memory.oom.group is v2 only)",
            ));
        }
        v
    }

    /// Sets one `docker run` resource flag from its command-line text:
    /// the one place human strings become typed values.
    ///
    /// Flags: `-m`/`--memory`, `--memory-swap`, `--memory-reservation`,
    /// `--memory-high`, `--oom-group`, `-c`/`--cpu-shares`, `--cpu-weight`,
    /// `--cpus`, `--cpu-period`, `--cpu-quota`, `--cpuset-cpus`,
    /// `--cpuset-mems`, `--pids-limit` (`0`/`-1` unlimited),
    /// `--blkio-weight`, `--blkio-weight-device` (`/dev/sda:300` or
    /// `8:0 300`), `--device-read-bps`, `--device-write-bps`,
    /// `--device-read-iops`, `--device-write-iops`, `--device-cgroup-rule`
    /// (`c 1:3 rwm`, see [`DeviceRule`]), `--oom-score-adj`, and the
    /// cgroup-v1-only `--kernel-memory`, `--memory-swappiness` (`-1`: the
    /// parent's), `--cpu-rt-runtime`, `--cpu-rt-period`, `--oom-kill-disable`
    /// (refused with [`Error::NoV2Equivalent`] when applied where v2 drives
    /// their controller).
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] naming the flag for unknown flags and malformed
    /// values.
    pub fn docker_flag(self, flag: &str, value: &str) -> Result<Resources, Error> {
        // A malformed value names the flag, not the value's kind ("bytes").
        const FLAGS: &[&str] = &[
            "-m",
            "--memory",
            "--memory-swap",
            "--memory-reservation",
            "--memory-high",
            "--oom-group",
            "-c",
            "--cpu-shares",
            "--cpu-weight",
            "--cpus",
            "--cpu-period",
            "--cpu-quota",
            "--cpuset-cpus",
            "--cpuset-mems",
            "--pids-limit",
            "--blkio-weight",
            "--blkio-weight-device",
            "--device-read-bps",
            "--device-write-bps",
            "--device-read-iops",
            "--device-write-iops",
            "--device-cgroup-rule",
            "--oom-score-adj",
            "--kernel-memory",
            "--memory-swappiness",
            "--cpu-rt-runtime",
            "--cpu-rt-period",
            "--oom-kill-disable",
        ];
        self.parse_docker_flag(flag, value).map_err(|e| match e {
            Error::Invalid {
                field,
                value,
                reason,
            } => Error::Invalid {
                field: FLAGS.iter().find(|f| **f == flag).copied().unwrap_or(field),
                value,
                reason,
            },
            e => e,
        })
    }

    fn parse_docker_flag(self, flag: &str, value: &str) -> Result<Resources, Error> {
        let v = value.trim();
        Ok(match flag {
            "-m" | "--memory" => self.memory_max(v.parse::<MemoryLimit>()?),
            "--memory-swap" => self.memory_swap(v.parse::<MemoryLimit>()?),
            "--memory-reservation" => self.memory_reservation(v.parse::<MemoryLimit>()?),
            "--memory-high" => self.memory_high(v.parse::<MemoryLimit>()?),
            "--oom-group" => self.memory_oom_group(parse_bool("--oom-group", v)?),
            "-c" | "--cpu-shares" => self.cpu_shares(parse_u64("--cpu-shares", v)?),
            "--cpu-weight" => self.cpu_weight(parse_u64("--cpu-weight", v)?),
            "--cpus" => self.cpus(parse_cpus(v)?),
            "--cpu-period" => self.cpu_period(parse_u64("--cpu-period", v)?),
            "--cpu-quota" => self.cpu_quota(parse_i64("--cpu-quota", v)?),
            "--cpuset-cpus" => self.cpuset_cpus(v.parse()?),
            "--cpuset-mems" => self.cpuset_mems(v.parse()?),
            "--pids-limit" => match parse_i64("--pids-limit", v)? {
                n if n <= 0 => self.pids_max(PidsLimit::Max),
                n => self.pids_max(n as u64),
            },
            "--blkio-weight" => self.blkio_weight(parse_u64("--blkio-weight", v)?),
            "--blkio-weight-device" => {
                let (dev, w) = if v.starts_with('/') {
                    v.rsplit_once(':')
                } else {
                    v.split_once(|c: char| c.is_whitespace() || c == '=')
                }
                .ok_or_else(|| {
                    invalid(
                        "--blkio-weight-device",
                        v,
                        "expected /dev/PATH:WEIGHT or MAJ:MIN WEIGHT",
                    )
                })?;
                self.blkio_weight_device(dev.parse()?, parse_u64("--blkio-weight-device", w)?)
            }
            "--device-read-bps" => self.io_limit(IoLimit::parse(IoLimitKind::ReadBps, v)?),
            "--device-write-bps" => self.io_limit(IoLimit::parse(IoLimitKind::WriteBps, v)?),
            "--device-read-iops" => self.io_limit(IoLimit::parse(IoLimitKind::ReadIops, v)?),
            "--device-write-iops" => self.io_limit(IoLimit::parse(IoLimitKind::WriteIops, v)?),
            "--device-cgroup-rule" => self.device_rule(v.parse()?),
            "--oom-score-adj" => {
                let n = parse_i64("--oom-score-adj", v)?;
                let n = i32::try_from(n)
                    .map_err(|_| invalid("oom_score_adj", n, "must be within -1000..=1000"))?;
                self.oom_score_adj(OomScoreAdj::new(n)?)
            }
            "--kernel-memory" => self.kernel_memory(v.parse::<MemoryLimit>()?),
            "--memory-swappiness" => match parse_i64("--memory-swappiness", v)? {
                // docker's default, -1: inherit the parent's.
                -1 => self,
                n => self.memory_swappiness(
                    u64::try_from(n)
                        .map_err(|_| invalid("memory_swappiness", n, "must be within 0..=100"))?,
                ),
            },
            "--cpu-rt-runtime" => self.cpu_rt_runtime(parse_i64("--cpu-rt-runtime", v)?),
            "--cpu-rt-period" => self.cpu_rt_period(parse_u64("--cpu-rt-period", v)?),
            "--oom-kill-disable" => self.oom_kill_disable(match v {
                // A bare `--oom-kill-disable` (empty value) means true.
                "" => true,
                _ => parse_bool("--oom-kill-disable", v)?,
            }),
            other => {
                return Err(invalid(
                    "flag",
                    other,
                    "not a docker resource flag known here",
                ))
            }
        })
    }

    /// Whether no limit at all is set (the cgroup is then only used for
    /// tracking, which works on a hybrid host too).
    pub fn is_empty(&self) -> bool {
        self.controllers().is_empty()
    }

    /// The v2 controllers these limits need, in the order the kernel lists
    /// them.
    pub fn controllers(&self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.cpuset_cpus.is_some() || self.cpuset_mems.is_some() {
            v.push("cpuset");
        }
        if self.cpu_weight.is_some()
            || self.cpus.is_some()
            || self.cpu_period.is_some()
            || self.cpu_quota.is_some()
            || self.cpu_rt_runtime.is_some()
            || self.cpu_rt_period.is_some()
        {
            v.push("cpu");
        }
        if self.blkio_weight.is_some()
            || !self.blkio_weight_device.is_empty()
            || !self.io_limits.is_empty()
        {
            v.push("io");
        }
        if self.memory_max.is_some()
            || self.memory_swap.is_some()
            || self.memory_low.is_some()
            || self.memory_high.is_some()
            || self.memory_oom_group.is_some()
            || self.kernel_memory.is_some()
            || self.kernel_tcp_memory.is_some()
            || self.memory_swappiness.is_some()
            || self.oom_kill_disable.is_some()
        {
            v.push("memory");
        }
        if self.pids_max.is_some() {
            v.push("pids");
        }
        if !self.hugetlb.is_empty() {
            v.push("hugetlb");
        }
        if self.net_cls_classid.is_some() {
            v.push("net_cls");
        }
        if !self.net_prio_ifpriomap.is_empty() {
            v.push("net_prio");
        }
        if !self.devices.is_empty() {
            // Not a cgroup v2 controller: a BPF program there.
            v.push("devices");
        }
        v
    }

    /// Checks every value against the kernel's ranges and the host (online
    /// CPUs and memory nodes, block devices); the error names the field and
    /// the value.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] for the first offending field.
    pub fn validate(&self, host: &HostInfo) -> Result<(), Error> {
        if let Some(MemoryLimit::Bytes(b)) = self.memory_max {
            if b < MIN_MEMORY {
                return Err(invalid(
                    "memory",
                    b,
                    format!("below the minimum memory limit of {MIN_MEMORY} bytes (6 MiB)"),
                ));
            }
        }
        if let Some(MemoryLimit::Bytes(b)) = self.memory_high {
            if b < MIN_MEMORY {
                return Err(invalid(
                    "memory_high",
                    b,
                    format!("below the minimum memory limit of {MIN_MEMORY} bytes (6 MiB)"),
                ));
            }
        }
        if let Some(total) = self.memory_swap {
            match (self.memory_max, total) {
                (None, _) => {
                    return Err(invalid(
                        "memory_swap",
                        total,
                        "memory-swap (memory plus swap) needs a memory limit as well",
                    ))
                }
                (Some(MemoryLimit::Bytes(m)), MemoryLimit::Bytes(t)) if t < m => {
                    return Err(invalid(
                        "memory_swap",
                        t,
                        format!("memory plus swap must not be below the memory limit ({m})"),
                    ))
                }
                (Some(MemoryLimit::Max), MemoryLimit::Bytes(_)) => {
                    return Err(invalid(
                        "memory_swap",
                        total,
                        "a limited memory-swap total needs a limited memory",
                    ))
                }
                _ => {}
            }
        }
        if let (Some(MemoryLimit::Bytes(low)), Some(MemoryLimit::Bytes(max))) =
            (self.memory_low, self.memory_max)
        {
            if low > max {
                return Err(invalid(
                    "memory_reservation",
                    low,
                    format!("must not be above the memory limit ({max})"),
                ));
            }
        }
        match self.cpu_weight {
            Some(CpuWeightSetting::Shares(s)) if !(2..=262_144).contains(&s) => {
                return Err(invalid("cpu_shares", s, "must be within 2..=262144"))
            }
            Some(CpuWeightSetting::Weight(w)) if !(1..=10_000).contains(&w) => {
                return Err(invalid("cpu_weight", w, "must be within 1..=10000"))
            }
            _ => {}
        }
        if let Some(c) = self.cpus {
            let n = host.online_cpus.len().max(1);
            if !c.is_finite() || c < 0.01 {
                return Err(invalid("cpus", c, "must be at least 0.01"));
            }
            if c > n as f64 {
                return Err(invalid(
                    "cpus",
                    c,
                    format!("above the {n} CPUs online on this host"),
                ));
            }
            if self.cpu_quota.is_some() {
                return Err(invalid(
                    "cpus",
                    c,
                    "conflicts with cpu_quota; set one or the other",
                ));
            }
        }
        if let Some(p) = self.cpu_period {
            if !(1000..=1_000_000).contains(&p) {
                return Err(invalid("cpu_period", p, "must be within 1000..=1000000 µs"));
            }
        }
        if let Some(q) = self.cpu_quota {
            if q != -1 && q < 1000 {
                return Err(invalid(
                    "cpu_quota",
                    q,
                    "must be -1 (no limit) or at least 1000 µs",
                ));
            }
        }
        if let Some(set) = &self.cpuset_cpus {
            if set.is_empty() {
                return Err(invalid("cpuset_cpus", set, "must name at least one CPU"));
            }
            if let Some(bad) = set.iter().find(|c| !host.online_cpus.contains(*c)) {
                return Err(invalid(
                    "cpuset_cpus",
                    set,
                    format!("CPU {bad} is not online (online: {})", host.online_cpus),
                ));
            }
        }
        if let Some(set) = &self.cpuset_mems {
            if set.is_empty() {
                return Err(invalid(
                    "cpuset_mems",
                    set,
                    "must name at least one memory node",
                ));
            }
            if let Some(bad) = set.iter().find(|c| !host.online_mems.contains(*c)) {
                return Err(invalid(
                    "cpuset_mems",
                    set,
                    format!(
                        "memory node {bad} is not online (online: {})",
                        host.online_mems
                    ),
                ));
            }
        }
        if let Some(PidsLimit::Count(0)) = self.pids_max {
            return Err(invalid(
                "pids_max",
                0,
                "0 would forbid every process, including the first one; use PidsLimit::Max for no limit",
            ));
        }
        if let Some(w) = self.blkio_weight {
            if !(10..=1000).contains(&w) {
                return Err(invalid("blkio_weight", w, "must be within 10..=1000"));
            }
        }
        for (d, w) in &self.blkio_weight_device {
            if !(10..=1000).contains(w) {
                return Err(invalid(
                    "blkio_weight_device",
                    format!("{d} {w}"),
                    "weight must be within 10..=1000",
                ));
            }
            check_block_device(host, "blkio_weight_device", *d)?;
        }
        for l in &self.io_limits {
            check_block_device(host, "io_limit", l.device)?;
        }
        if let Some(MemoryLimit::Bytes(b)) = self.kernel_memory {
            if b < MIN_KERNEL_MEMORY {
                return Err(invalid(
                    "kernel_memory",
                    b,
                    format!("below the minimum kernel memory limit of {MIN_KERNEL_MEMORY} bytes (4 MiB)"),
                ));
            }
        }
        for (size, _) in &self.hugetlb {
            let p = host
                .sys
                .join(format!("kernel/mm/hugepages/hugepages-{}kB", size.0 >> 10));
            if !p.exists() {
                return Err(invalid(
                    "hugetlb_limit",
                    size,
                    format!(
                        "this host has no huge pages of that size ({} does not exist)",
                        p.display()
                    ),
                ));
            }
        }
        for (ifname, _) in &self.net_prio_ifpriomap {
            if ifname.is_empty()
                || ifname.len() > 15
                || ifname.contains(|c: char| c.is_whitespace() || c == '/' || c == '\0')
            {
                return Err(invalid(
                    "net_prio_ifpriomap",
                    ifname,
                    "not an interface name (1 to 15 bytes, no whitespace or '/')",
                ));
            }
        }
        if let Some(s) = self.memory_swappiness {
            if s > 100 {
                return Err(invalid("memory_swappiness", s, "must be within 0..=100"));
            }
        }
        if let Some(p) = self.cpu_rt_period {
            if !(1..=1_000_000).contains(&p) {
                return Err(invalid("cpu_rt_period", p, "must be within 1..=1000000 µs"));
            }
        }
        // The v1 devices controller stores `*` as ~0: a rule for device
        // number 4294967295 would match every device there (and only that
        // number in the cgroup2 program).
        if let Some(r) = self
            .devices
            .iter()
            .find(|r| r.major == Some(u32::MAX) || r.minor == Some(u32::MAX))
        {
            return Err(invalid(
                "device_rule",
                r,
                "4294967295 is the kernel's `*` (any device) in the v1 devices controller: \
                 give no number (None, `*`) for any",
            ));
        }
        if let Some(r) = self.cpu_rt_runtime {
            let period = self.cpu_rt_period.unwrap_or(1_000_000);
            if r < -1 || r > period as i64 {
                return Err(invalid(
                    "cpu_rt_runtime",
                    r,
                    format!("must be -1 (no limit) or within 0..={period} µs (the rt period)"),
                ));
            }
        }
        Ok(())
    }

    /// The exact writes [`Cgroup::apply`](super::Cgroup::apply) performs,
    /// in order (no validation; see [`validate`](Self::validate)).
    pub fn writes(&self) -> Vec<FileWrite> {
        let mut w = Vec::new();
        let mut put = |file: &'static str, value: String| w.push(FileWrite { file, value });
        if let Some(set) = &self.cpuset_cpus {
            put("cpuset.cpus", set.to_string());
        }
        if let Some(set) = &self.cpuset_mems {
            put("cpuset.mems", set.to_string());
        }
        match self.cpu_weight {
            Some(CpuWeightSetting::Shares(s)) => put("cpu.weight", shares_to_weight(s).to_string()),
            Some(CpuWeightSetting::Weight(v)) => put("cpu.weight", v.to_string()),
            None => {}
        }
        if let Some(max) = self.cpu_max_value() {
            put("cpu.max", max.to_string());
        }
        if let Some(bw) = self.blkio_weight {
            put("io.weight", format!("default {}", blkio_to_io_weight(bw)));
        }
        for (d, bw) in &self.blkio_weight_device {
            put("io.weight", format!("{d} {}", blkio_to_io_weight(*bw)));
        }
        let mut devices: Vec<Device> = self.io_limits.iter().map(|l| l.device).collect();
        devices.sort();
        devices.dedup();
        for d in devices {
            let mut line = d.to_string();
            let mut ls: Vec<&IoLimit> = self.io_limits.iter().filter(|l| l.device == d).collect();
            ls.sort_by_key(|l| l.kind);
            for l in ls {
                line.push_str(&format!(" {}={}", l.kind.key(), l.per_second));
            }
            put("io.max", line);
        }
        // memory.low/high before memory.max so that lowering everything at
        // once never leaves high above max for long; swap last (needs max).
        if let Some(v) = self.memory_low {
            put("memory.low", v.to_string());
        }
        if let Some(v) = self.memory_high {
            put("memory.high", v.to_string());
        }
        if let Some(v) = self.memory_max {
            put("memory.max", v.to_string());
        }
        if let Some(total) = self.memory_swap {
            let swap = match (total, self.memory_max) {
                (MemoryLimit::Max, _) => MemoryLimit::Max,
                (MemoryLimit::Bytes(t), Some(MemoryLimit::Bytes(m))) => {
                    MemoryLimit::Bytes(t.saturating_sub(m))
                }
                (MemoryLimit::Bytes(t), _) => MemoryLimit::Bytes(t),
            };
            put("memory.swap.max", swap.to_string());
        }
        if let Some(on) = self.memory_oom_group {
            put("memory.oom.group", if on { "1" } else { "0" }.to_string());
        }
        if let Some(p) = self.pids_max {
            put("pids.max", p.to_string());
        }
        for (size, limit) in &self.hugetlb {
            put(intern(format!("hugetlb.{size}.max")), limit.to_string());
        }
        w
    }

    /// The `cpu.max` value implied by `cpus`, `cpu_period` and `cpu_quota`.
    pub fn cpu_max_value(&self) -> Option<CpuMax> {
        let period = self.cpu_period.unwrap_or(DEFAULT_CPU_PERIOD);
        if let Some(c) = self.cpus {
            let q = (c * period as f64).round() as u64;
            return Some(CpuMax {
                quota: Some(q.max(1000)),
                period,
            });
        }
        match self.cpu_quota {
            Some(q) if q > 0 => Some(CpuMax {
                quota: Some(q as u64),
                period,
            }),
            Some(_) => Some(CpuMax {
                quota: None,
                period,
            }),
            None if self.cpu_period.is_some() => Some(CpuMax {
                quota: None,
                period,
            }),
            None => None,
        }
    }
}

/// A `&'static str` for a file name made at run time (`hugetlb.2MB.max`):
/// each distinct name is leaked once (there are a handful of huge page
/// sizes), so [`FileWrite::file`] stays `&'static str`.
pub(crate) fn intern(s: String) -> &'static str {
    static NAMES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(n) = names.iter().find(|n| **n == s) {
        return n;
    }
    let n: &'static str = Box::leak(s.into_boxed_str());
    names.push(n);
    n
}

/// A huge page size, in bytes (`2MB`, `1GB`), as the hugetlb controller
/// names its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HugePageSize(pub u64);

impl fmt::Display for HugePageSize {
    /// The kernel's name (`mm/hugetlb_cgroup.c`): `1GB`, `2MB`, `64KB`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        if b >= 1 << 30 {
            write!(f, "{}GB", b >> 30)
        } else if b >= 1 << 20 {
            write!(f, "{}MB", b >> 20)
        } else {
            write!(f, "{}KB", b >> 10)
        }
    }
}

impl FromStr for HugePageSize {
    type Err = Error;

    /// OCI's `pageSize`: a number and `KB`, `MB` or `GB` (`2MB`, `1GB`),
    /// a power of two of at least 4 KiB.
    fn from_str(s: &str) -> Result<HugePageSize, Error> {
        let t = s.trim();
        let bad = || {
            invalid(
                "hugetlb_limit",
                s,
                "expected a page size such as 2MB or 1GB",
            )
        };
        let (num, shift) = if let Some(n) = t.strip_suffix("KB") {
            (n, 10)
        } else if let Some(n) = t.strip_suffix("MB") {
            (n, 20)
        } else if let Some(n) = t.strip_suffix("GB") {
            (n, 30)
        } else {
            return Err(bad());
        };
        let n: u64 = num.parse().map_err(|_| bad())?;
        let b = n
            .checked_shl(shift)
            .filter(|b| b >> shift == n)
            .ok_or_else(bad)?;
        if b < 4096 || !b.is_power_of_two() {
            return Err(invalid(
                "hugetlb_limit",
                s,
                "not a power of two of at least 4KB",
            ));
        }
        Ok(HugePageSize(b))
    }
}

fn parse_bool(field: &'static str, s: &str) -> Result<bool, Error> {
    match s {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(invalid(field, s, "expected true or false")),
    }
}

fn check_block_device(host: &HostInfo, field: &'static str, d: Device) -> Result<(), Error> {
    let p = host.sys.join(format!("dev/block/{d}"));
    if !p.exists() {
        return Err(invalid(
            field,
            d,
            format!(
                "is not a block device on this host ({} does not exist)",
                p.display()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> (HostInfo, PathBuf) {
        let d = std::env::temp_dir().join(format!(
            "cg-host-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        std::fs::create_dir_all(d.join("devices/system/cpu")).unwrap();
        std::fs::create_dir_all(d.join("devices/system/node")).unwrap();
        std::fs::create_dir_all(d.join("dev/block/8:0")).unwrap();
        std::fs::write(d.join("devices/system/cpu/online"), "0-3\n").unwrap();
        std::fs::write(d.join("devices/system/node/online"), "0\n").unwrap();
        (HostInfo::from_sys(&d).unwrap(), d)
    }

    fn field(e: Error) -> (&'static str, String) {
        match e {
            Error::Invalid { field, value, .. } => (field, value),
            other => panic!("not Invalid: {other:?}"),
        }
    }

    #[test]
    fn bytes() {
        assert_eq!(parse_bytes("512m").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("512M").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_bytes("64KiB").unwrap(), 64 << 10);
        assert_eq!(parse_bytes("64 kb").unwrap(), 64 << 10);
        assert_eq!(parse_bytes("4096").unwrap(), 4096);
        assert_eq!(parse_bytes("10b").unwrap(), 10);
        assert_eq!(parse_bytes("1mb").unwrap(), 1 << 20);
        for bad in [
            "",
            "m",
            "-1",
            "12x",
            "1.2.3",
            ".5g",
            "5.g",
            "1e3",
            "99999999999999999999",
            "16777216t",
            "512 mm",
        ] {
            assert!(parse_bytes(bad).is_err(), "{bad:?} accepted");
        }
        assert_eq!("max".parse::<MemoryLimit>().unwrap(), MemoryLimit::Max);
        assert_eq!("-1".parse::<MemoryLimit>().unwrap(), MemoryLimit::Max);
        assert_eq!(
            "1k".parse::<MemoryLimit>().unwrap(),
            MemoryLimit::Bytes(1024)
        );
    }

    #[test]
    fn cpus_and_cpusets() {
        assert_eq!(parse_cpus("1.5").unwrap(), 1.5);
        for bad in ["", "0", "-1", "abc", "inf", "NaN", "1,5"] {
            assert!(parse_cpus(bad).is_err(), "{bad:?} accepted");
        }
        let s: CpuSet = "0-3,7".parse().unwrap();
        assert_eq!(s.iter().collect::<Vec<_>>(), [0, 1, 2, 3, 7]);
        assert_eq!(s.to_string(), "0-3,7");
        assert_eq!("7,1,2,3".parse::<CpuSet>().unwrap().to_string(), "1-3,7");
        assert_eq!(" 0 \n".parse::<CpuSet>().unwrap().to_string(), "0");
        assert!("".parse::<CpuSet>().unwrap().is_empty());
        for bad in [
            "3-1",
            "a",
            "1-",
            "-1",
            "1,,2",
            "0-99999999",
            "1.5",
            "4294967296",
        ] {
            assert!(bad.parse::<CpuSet>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn cpuset_at_u32_max_displays() {
        // Found while writing the `cpu_lists` fuzz target: the display of a
        // set holding u32::MAX computed `end + 1` and overflowed (a panic
        // in debug builds).
        let s: CpuSet = "4294967295".parse().unwrap();
        assert_eq!(s.to_string(), "4294967295");
        let s: CpuSet = "4294967290-4294967295,0".parse().unwrap();
        assert_eq!(s.to_string(), "0,4294967290-4294967295");
        assert_eq!(s.to_string().parse::<CpuSet>().unwrap(), s);
        let s: CpuSet = [u32::MAX - 1, u32::MAX].into_iter().collect();
        assert_eq!(s.to_string(), "4294967294-4294967295");
    }

    #[test]
    fn cpuset_size_is_bounded() {
        // Found with the `cpu_lists` fuzz target: 242 distinct ranges in a
        // 4 KiB string made a 16-million-member set (500 MB, 13 s).
        let many: Vec<String> = (0..242u32)
            .map(|i| format!("{}-{}", i * 65_537, i * 65_537 + 65_536))
            .collect();
        let e = many.join(",").parse::<CpuSet>().unwrap_err();
        assert_eq!(field(e).0, "cpuset");
        // Overlapping ranges count once: still fine.
        let s: CpuSet = "0-65536,0-65536,0-65536".parse().unwrap();
        assert_eq!(s.len(), 65_537);
        let s: CpuSet = "0-65536,65537-131071".parse().unwrap();
        assert_eq!(s.len(), MAX_CPUSET_MEMBERS);
        assert!("0-65536,65537-131072".parse::<CpuSet>().is_err());
    }

    #[test]
    fn huge_blkio_weight_does_not_overflow() {
        // Found by the `docker_flags` fuzz target: `--blkio-weight
        // 5333333333333333` then `writes()` overflowed in
        // `blkio_to_io_weight` (a panic in debug builds).
        assert_eq!(blkio_to_io_weight(u64::MAX), 10_000);
        assert_eq!(blkio_to_io_weight(5_333_333_333_333_333), 10_000);
        assert_eq!(blkio_to_io_weight(1), 1);
        let r = Resources::new()
            .docker_flag("--blkio-weight", "5333333333333333")
            .unwrap()
            .blkio_weight_device(Device { major: 8, minor: 0 }, u64::MAX);
        let w = r.writes();
        assert_eq!(w[0].value, "default 10000");
        assert_eq!(w[1].value, "8:0 10000");
        // Validation still names the out-of-range value.
        let (h, d) = host();
        let e = r.validate(&h).unwrap_err();
        assert_eq!(field(e), ("blkio_weight", "5333333333333333".to_string()));
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_device_number_of_all_ones_is_refused() {
        // The v1 devices controller reads 4294967295 as `*`: such a rule
        // allowed every device there (contrun's test saw a container open
        // /dev/fuse).
        assert!("c 4294967295:1 rwm".parse::<DeviceRule>().is_err());
        assert!("b 8:4294967295 r".parse::<DeviceRule>().is_err());
        assert!("c 4294967294:1 rwm".parse::<DeviceRule>().is_ok());
        let (h, d) = host();
        for (major, minor) in [(Some(u32::MAX), Some(1)), (Some(1), Some(u32::MAX))] {
            let r = Resources::new().device_rule(DeviceRule::allow(
                super::super::devices::DeviceType::Char,
                major,
                minor,
                super::super::devices::DeviceAccess::all(),
            ));
            assert_eq!(field(r.validate(&h).unwrap_err()).0, "device_rule");
        }
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn devices_and_io_limits() {
        let l = IoLimit::parse(IoLimitKind::ReadBps, "8:0 1mb").unwrap();
        assert_eq!(l.device, Device { major: 8, minor: 0 });
        assert_eq!(l.per_second, 1 << 20);
        let l = IoLimit::parse(IoLimitKind::WriteIops, "253:1=300").unwrap();
        assert_eq!(
            (l.device.major, l.device.minor, l.per_second),
            (253, 1, 300)
        );
        assert!(IoLimit::parse(IoLimitKind::WriteIops, "8:0 1mb").is_err());
        assert!(IoLimit::parse(IoLimitKind::ReadBps, "8:0").is_err());
        assert!(IoLimit::parse(IoLimitKind::ReadBps, "sda 1mb").is_err());
        // A path that is not a block device is refused, naming the field.
        let e = IoLimit::parse(IoLimitKind::ReadBps, "/dev/null:1mb").unwrap_err();
        assert_eq!(field(e), ("device", "/dev/null".to_string()));
        assert!(matches!(
            Device::from_path("/nonexistent-dev"),
            Err(Error::Io { .. })
        ));
    }

    #[test]
    fn share_to_weight_table() {
        // (shares, weight): ends, defaults and points of crun's mapping.
        for (s, w) in [
            (0, 0),
            (1, 1),
            (2, 1),
            (3, 2),
            (128, 21),
            (512, 59),
            (1024, 100),
            (2048, 174),
            (10_000, 627),
            (262_143, 10_000),
            (262_144, 10_000),
            (1 << 20, 10_000),
        ] {
            assert_eq!(shares_to_weight(s), w, "shares {s}");
        }
        let mut last = 0;
        for s in (2..262_144).step_by(97) {
            let w = shares_to_weight(s);
            assert!(w >= last && (1..=10_000).contains(&w));
            last = w;
        }
        assert_eq!(blkio_to_io_weight(0), 0);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(500), 4950);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
    }

    #[test]
    fn writes_cover_every_docker_row() {
        let r = Resources::new()
            .docker_flag("-m", "256m")
            .unwrap()
            .docker_flag("--memory-swap", "384m")
            .unwrap()
            .docker_flag("--memory-reservation", "128m")
            .unwrap()
            .memory_high(200 << 20)
            .memory_oom_group(true)
            .docker_flag("--cpu-shares", "512")
            .unwrap()
            .docker_flag("--cpus", "1.5")
            .unwrap()
            .docker_flag("--cpuset-cpus", "0-1")
            .unwrap()
            .docker_flag("--cpuset-mems", "0")
            .unwrap()
            .docker_flag("--pids-limit", "64")
            .unwrap()
            .docker_flag("--blkio-weight", "500")
            .unwrap()
            .docker_flag("--blkio-weight-device", "8:0 1000")
            .unwrap()
            .docker_flag("--device-read-bps", "8:0 1mb")
            .unwrap()
            .docker_flag("--device-write-iops", "8:0 100")
            .unwrap()
            .docker_flag("--oom-score-adj", "-500")
            .unwrap();
        let (h, d) = host();
        r.validate(&h).unwrap();
        let writes = r.writes();
        let w: Vec<(&str, &str)> = writes.iter().map(|w| (w.file, w.value.as_str())).collect();
        assert_eq!(
            w,
            [
                ("cpuset.cpus", "0-1"),
                ("cpuset.mems", "0"),
                ("cpu.weight", "59"),
                ("cpu.max", "150000 100000"),
                ("io.weight", "default 4950"),
                ("io.weight", "8:0 10000"),
                ("io.max", "8:0 rbps=1048576 wiops=100"),
                ("memory.low", "134217728"),
                ("memory.high", "209715200"),
                ("memory.max", "268435456"),
                ("memory.swap.max", "134217728"),
                ("memory.oom.group", "1"),
                ("pids.max", "64"),
            ]
        );
        assert_eq!(r.controllers(), ["cpuset", "cpu", "io", "memory", "pids"]);
        assert_eq!(r.child_oom_score_adj().map(OomScoreAdj::get), Some(-500));
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn cpu_max_forms() {
        let r = Resources::new().cpu_quota(20_000).cpu_period(100_000);
        assert_eq!(r.cpu_max_value().unwrap().to_string(), "20000 100000");
        let r = Resources::new().cpu_quota(-1);
        assert_eq!(r.cpu_max_value().unwrap().to_string(), "max 100000");
        let r = Resources::new().cpus(0.2).cpu_period(50_000);
        assert_eq!(r.cpu_max_value().unwrap().to_string(), "10000 50000");
        assert_eq!("max 100000".parse::<CpuMax>().unwrap().quota, None);
        assert_eq!(
            "20000 100000".parse::<CpuMax>().unwrap(),
            CpuMax {
                quota: Some(20_000),
                period: 100_000
            }
        );
        let r = Resources::new()
            .memory_max(MemoryLimit::Bytes(64 << 20))
            .memory_swap(MemoryLimit::Max);
        assert!(r.writes().contains(&FileWrite {
            file: "memory.swap.max",
            value: "max".into()
        }));
        assert!(Resources::new().is_empty());
        assert_eq!(
            Resources::new()
                .docker_flag("--pids-limit", "-1")
                .unwrap()
                .writes()[0]
                .value,
            "max"
        );
    }

    #[test]
    fn validation_names_field_and_value() {
        let (h, d) = host();
        let cases: Vec<(Resources, &str, &str)> = vec![
            (Resources::new().memory_max(1 << 20), "memory", "1048576"),
            (
                Resources::new().memory_swap(64u64 << 20),
                "memory_swap",
                "67108864",
            ),
            (
                Resources::new()
                    .memory_max(64u64 << 20)
                    .memory_swap(32u64 << 20),
                "memory_swap",
                "33554432",
            ),
            (
                Resources::new()
                    .memory_max(64u64 << 20)
                    .memory_reservation(128u64 << 20),
                "memory_reservation",
                "134217728",
            ),
            (Resources::new().cpus(8.0), "cpus", "8"),
            (Resources::new().cpus(1.0).cpu_quota(50_000), "cpus", "1"),
            (Resources::new().cpu_period(10), "cpu_period", "10"),
            (Resources::new().cpu_quota(5), "cpu_quota", "5"),
            (Resources::new().cpu_weight(0), "cpu_weight", "0"),
            (Resources::new().cpu_weight(10_001), "cpu_weight", "10001"),
            (Resources::new().cpu_shares(1), "cpu_shares", "1"),
            (
                Resources::new().cpuset_cpus("0-3,7".parse().unwrap()),
                "cpuset_cpus",
                "0-3,7",
            ),
            (
                Resources::new().cpuset_mems("1".parse().unwrap()),
                "cpuset_mems",
                "1",
            ),
            (Resources::new().pids_max(0), "pids_max", "0"),
            (Resources::new().blkio_weight(5), "blkio_weight", "5"),
            (Resources::new().blkio_weight(1001), "blkio_weight", "1001"),
            (
                Resources::new().blkio_weight_device(Device { major: 8, minor: 0 }, 2000),
                "blkio_weight_device",
                "8:0 2000",
            ),
            (
                Resources::new().io_limit(IoLimit::parse(IoLimitKind::ReadBps, "9:9 1m").unwrap()),
                "io_limit",
                "9:9",
            ),
        ];
        for (r, f, v) in cases {
            let e = r.validate(&h).expect_err(f);
            let msg = e.to_string();
            assert_eq!(field(e), (f, v.to_string()), "{msg}");
            assert!(msg.contains(f) && msg.contains(v), "{msg}");
        }
        // The existing fake device passes.
        Resources::new()
            .io_limit(IoLimit::parse(IoLimitKind::ReadBps, "8:0 1m").unwrap())
            .validate(&h)
            .unwrap();
        assert!(OomScoreAdj::new(1001).is_err());
        assert!(OomScoreAdj::new(-1000).is_ok());
        assert!(Resources::new()
            .docker_flag("--oom-score-adj", "-1001")
            .is_err());
        std::fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn v1_only_flags_are_recorded_and_validated() {
        let r = Resources::new()
            .docker_flag("--kernel-memory", "8m")
            .unwrap()
            .docker_flag("--memory-swappiness", "10")
            .unwrap()
            .docker_flag("--cpu-rt-runtime", "5000")
            .unwrap()
            .docker_flag("--cpu-rt-period", "100000")
            .unwrap()
            .docker_flag("--oom-kill-disable", "")
            .unwrap();
        let flags: Vec<&str> = r.v1_only().iter().map(|(f, _, _)| *f).collect();
        assert_eq!(
            flags,
            [
                "--kernel-memory",
                "--memory-swappiness",
                "--oom-kill-disable",
                "--cpu-rt-runtime",
                "--cpu-rt-period"
            ]
        );
        assert_eq!(r.controllers(), ["cpu", "memory"]);
        // Neither do they appear among the v2 writes.
        assert!(r.writes().is_empty());
        let (h, d) = host();
        r.validate(&h).unwrap();
        for (r, f) in [
            (Resources::new().memory_swappiness(101), "memory_swappiness"),
            (Resources::new().cpu_rt_runtime(-2), "cpu_rt_runtime"),
            (
                Resources::new().cpu_rt_period(1000).cpu_rt_runtime(2000),
                "cpu_rt_runtime",
            ),
            (Resources::new().cpu_rt_period(0), "cpu_rt_period"),
            (Resources::new().kernel_memory(1u64 << 20), "kernel_memory"),
        ] {
            assert_eq!(r.validate(&h).unwrap_err().field(), Some(f));
        }
        assert!(Resources::new()
            .docker_flag("--memory-swappiness", "-1")
            .unwrap()
            .is_empty());
        assert!(Resources::new()
            .docker_flag("--memory-swappiness", "-5")
            .is_err());
        assert!(matches!(
            Resources::new().docker_flag("--memroy", "1"),
            Err(Error::Invalid { field: "flag", .. })
        ));
        assert!(Resources::new().docker_flag("-m", "lots").is_err());
        std::fs::remove_dir_all(d).unwrap();
    }
}
