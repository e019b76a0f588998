//! [`Resources`] onto cgroup v1 files: the exact writes, in order.

use std::io;
use std::path::Path;

use super::super::resources::{CpuWeightSetting, IoLimitKind, MemoryLimit, PidsLimit, Resources};
use super::super::Error;

/// One write the v1 backend performs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct V1Write {
    /// The controller whose hierarchy holds the file.
    pub controller: &'static str,
    /// The file, or alternatives: the first that exists is written (the
    /// blkio weight files depend on the device's I/O scheduler).
    pub files: &'static [&'static str],
    /// The exact bytes written.
    pub value: String,
}

/// v1 writes `-1` for "no limit".
fn limit(v: MemoryLimit) -> String {
    match v {
        MemoryLimit::Bytes(b) => b.to_string(),
        MemoryLimit::Max => "-1".into(),
    }
}

/// `cpu.weight` (1..=10000) back to `cpu.shares` (2..=262144): the
/// largest shares that [`shares_to_weight`] maps to at most `w`, so that
/// the two conversions agree (100, the v2 default, gives 1024, the v1
/// default).
///
/// [`shares_to_weight`]: super::super::resources::shares_to_weight
pub(crate) fn weight_to_shares(w: u64) -> u64 {
    use super::super::resources::shares_to_weight;
    let w = w.clamp(1, 10_000);
    // shares_to_weight is monotonic: binary search for the last share
    // count whose weight does not exceed w.
    let (mut lo, mut hi) = (2u64, 262_144u64);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if shares_to_weight(mid) <= w {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

/// The v1 writes of `r` (no validation), in order: cpuset, cpu, blkio,
/// memory (soft limit, limit, memory+swap, kernel memory, swappiness, OOM
/// control), pids. The v2-only settings (`memory_high`,
/// `memory_oom_group`) have none.
pub(crate) fn writes(r: &Resources) -> Vec<V1Write> {
    let mut w = Vec::new();
    let mut put = |controller, files, value: String| {
        w.push(V1Write {
            controller,
            files,
            value,
        })
    };
    if let Some(s) = &r.cpuset_cpus {
        put("cpuset", &["cpuset.cpus"][..], s.to_string());
    }
    if let Some(s) = &r.cpuset_mems {
        put("cpuset", &["cpuset.mems"], s.to_string());
    }
    match r.cpu_weight {
        Some(CpuWeightSetting::Shares(s)) => put("cpu", &["cpu.shares"], s.to_string()),
        Some(CpuWeightSetting::Weight(v)) => {
            put("cpu", &["cpu.shares"], weight_to_shares(v).to_string())
        }
        None => {}
    }
    if let Some(max) = r.cpu_max_value() {
        put("cpu", &["cpu.cfs_period_us"], max.period.to_string());
        put(
            "cpu",
            &["cpu.cfs_quota_us"],
            max.quota.map_or("-1".into(), |q| q.to_string()),
        );
    }
    if let Some(p) = r.cpu_rt_period {
        put("cpu", &["cpu.rt_period_us"], p.to_string());
    }
    if let Some(rt) = r.cpu_rt_runtime {
        put("cpu", &["cpu.rt_runtime_us"], rt.to_string());
    }
    if let Some(bw) = r.blkio_weight {
        put(
            "blkio",
            &["blkio.weight", "blkio.bfq.weight"],
            bw.to_string(),
        );
    }
    for (d, bw) in &r.blkio_weight_device {
        put(
            "blkio",
            &[
                "blkio.weight_device",
                "blkio.bfq.weight_device",
                "blkio.bfq.weight",
            ],
            format!("{d} {bw}"),
        );
    }
    for l in &r.io_limits {
        let file: &'static [&'static str] = match l.kind {
            IoLimitKind::ReadBps => &["blkio.throttle.read_bps_device"],
            IoLimitKind::WriteBps => &["blkio.throttle.write_bps_device"],
            IoLimitKind::ReadIops => &["blkio.throttle.read_iops_device"],
            IoLimitKind::WriteIops => &["blkio.throttle.write_iops_device"],
        };
        put("blkio", file, format!("{} {}", l.device, l.per_second));
    }
    if let Some(v) = r.memory_low {
        put("memory", &["memory.soft_limit_in_bytes"], limit(v));
    }
    // The applier swaps these two when the order would put the memory
    // limit above the current memory+swap limit (EINVAL).
    if let Some(v) = r.memory_max {
        put("memory", &["memory.limit_in_bytes"], limit(v));
    }
    if let Some(v) = r.memory_swap {
        put("memory", &["memory.memsw.limit_in_bytes"], limit(v));
    }
    if let Some(v) = r.kernel_memory {
        put("memory", &["memory.kmem.limit_in_bytes"], limit(v));
    }
    if let Some(v) = r.kernel_tcp_memory {
        put("memory", &["memory.kmem.tcp.limit_in_bytes"], limit(v));
    }
    if let Some(s) = r.memory_swappiness {
        put("memory", &["memory.swappiness"], s.to_string());
    }
    if let Some(d) = r.oom_kill_disable {
        put("memory", &["memory.oom_control"], u8::from(d).to_string());
    }
    if let Some(p) = r.pids_max {
        put(
            "pids",
            &["pids.max"],
            match p {
                PidsLimit::Count(n) => n.to_string(),
                PidsLimit::Max => "max".into(),
            },
        );
    }
    for (size, l) in &r.hugetlb {
        put(
            "hugetlb",
            intern_files(format!("hugetlb.{size}.limit_in_bytes")),
            limit(*l),
        );
    }
    if let Some(c) = r.net_cls_classid {
        put("net_cls", &["net_cls.classid"], c.to_string());
    }
    for (ifname, prio) in &r.net_prio_ifpriomap {
        put(
            "net_prio",
            &["net_prio.ifpriomap"],
            format!("{ifname} {prio}"),
        );
    }
    if !r.devices.is_empty() {
        for (file, line) in super::super::devices::emulate(&r.devices).v1_lines() {
            let files: &'static [&'static str] = if file == "devices.allow" {
                &["devices.allow"]
            } else {
                &["devices.deny"]
            };
            put("devices", files, line);
        }
    }
    w
}

/// A one-file list for a name made at run time (each leaked once).
fn intern_files(name: String) -> &'static [&'static str] {
    static FILES: std::sync::Mutex<Vec<&'static [&'static str]>> =
        std::sync::Mutex::new(Vec::new());
    let name = super::super::resources::intern(name);
    let mut files = FILES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(f) = files.iter().find(|f| f[0] == name) {
        return f;
    }
    let f: &'static [&'static str] = Box::leak(Box::new([name]));
    files.push(f);
    f
}

/// Reads a v1 file back after writing `value` and checks that the kernel
/// holds it (some files accept a write and ignore it: kernels since 6.1
/// take `memory.kmem.limit_in_bytes` writes and keep the old value).
/// Memory limits are compared after the kernel's rounding down to whole
/// pages (`-1` reads back as the largest page count); files whose read-back
/// format differs from the written one (cpuset lists, blkio, `pids.max`)
/// are not checked.
///
/// # Errors
///
/// [`Error::Io`] reading it; [`Error::Write`] naming the file and value
/// when the kernel holds something else.
pub(crate) fn verify(path: &Path, value: &str) -> Result<(), Error> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let got = match name {
        "memory.limit_in_bytes"
        | "memory.memsw.limit_in_bytes"
        | "memory.kmem.limit_in_bytes"
        | "memory.kmem.tcp.limit_in_bytes"
        | "memory.soft_limit_in_bytes"
        | "memory.swappiness"
        | "memory.oom_control"
        | "cpu.shares"
        | "cpu.cfs_period_us"
        | "cpu.cfs_quota_us"
        | "cpu.rt_period_us"
        | "cpu.rt_runtime_us" => super::read(path)?,
        _ => return Ok(()),
    };
    let ok = if name == "memory.oom_control" {
        super::parse_oom_control(&got).oom_kill_disable == (value == "1")
    } else if name.ends_with("limit_in_bytes") {
        // SAFETY: sysconf has no memory-safety preconditions.
        let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
            n if n > 0 => n as u64,
            _ => 4096,
        };
        // The kernel keeps at most `LONG_MAX / PAGE_SIZE` pages (larger
        // values, up to u64::MAX, are that: no limit).
        let cap = i64::MAX as u64 / page;
        match (value.parse::<i128>(), got.trim().parse::<u64>()) {
            (Ok(-1), Ok(g)) => g >= 1 << 62,
            (Ok(v), Ok(g)) => u64::try_from(v).is_ok_and(|v| g == (v / page).min(cap) * page),
            _ => false,
        }
    } else {
        got.trim() == value
    };
    if ok {
        return Ok(());
    }
    Err(Error::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        source: io::Error::other(format!(
            "the kernel accepted the write but holds {:?}",
            got.trim()
        )),
        hint: Some("the kernel ignored the value: this v1 setting is not supported here"),
    })
}
