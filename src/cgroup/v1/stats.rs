//! cgroup v1 figures mapped onto the [`Stats`](crate::cgroup::Stats) types.
//!
//! | field | v1 file |
//! |---|---|
//! | memory `current`, `peak` | `memory.usage_in_bytes`, `memory.max_usage_in_bytes` |
//! | memory `swap_current` | `memory.memsw.usage_in_bytes` − `memory.usage_in_bytes` |
//! | memory `stat` | `memory.stat` |
//! | memory `events.max`, `events.oom`, `events.oom_kill` | `memory.failcnt` (0 on kernels that no longer count failures: 6.18 does not), `oom_kill` of `memory.oom_control` (both) |
//! | cpu `usage_usec`, `user_usec`, `system_usec` | `cpuacct.usage`, `cpuacct.usage_user`, `cpuacct.usage_sys` (ns ÷ 1000) |
//! | cpu `nr_periods`, `nr_throttled`, `throttled_usec` | `cpu.stat` (`throttled_time` ns ÷ 1000) |
//! | pids | `pids.current`, `pids.peak`, `pids.events` (the same files as v2) |
//! | io | `blkio.throttle.io_service_bytes_recursive`, `blkio.throttle.io_serviced_recursive` |

use std::path::Path;

use super::super::resources::Device;
use super::super::stats::{parse_flat_keyed, CpuStats, IoDeviceStats, MemoryEvents, MemoryStats};
use super::{parse_oom_control, read_optional, Error};

fn u64_file(p: &Path) -> Result<Option<u64>, Error> {
    match read_optional(p)? {
        Some(t) => t.trim().parse().map(Some).map_err(|_| Error::Malformed {
            path: p.to_path_buf(),
            content: t,
        }),
        None => Ok(None),
    }
}

/// The memory figures of the v1 memory cgroup `dir`.
pub(crate) fn memory(dir: &Path) -> Result<MemoryStats, Error> {
    let current = u64_file(&dir.join("memory.usage_in_bytes"))?;
    let memsw = u64_file(&dir.join("memory.memsw.usage_in_bytes"))?;
    let oom = read_optional(&dir.join("memory.oom_control"))?.map(|t| parse_oom_control(&t));
    let failcnt = u64_file(&dir.join("memory.failcnt"))?;
    Ok(MemoryStats {
        current,
        peak: u64_file(&dir.join("memory.max_usage_in_bytes"))?,
        swap_current: match (memsw, current) {
            (Some(a), Some(m)) => Some(a.saturating_sub(m)),
            _ => None,
        },
        stat: read_optional(&dir.join("memory.stat"))?
            .map(|t| parse_flat_keyed(&t).into_iter().collect())
            .unwrap_or_default(),
        events: oom.map(|o| MemoryEvents {
            max: failcnt.unwrap_or(0),
            oom: o.oom_kill,
            oom_kill: o.oom_kill,
            ..MemoryEvents::default()
        }),
    })
}

/// CPU figures from the v1 `cpu` and `cpuacct` cgroups (either may be
/// absent).
pub(crate) fn cpu(cpu: Option<&Path>, cpuacct: Option<&Path>) -> Result<CpuStats, Error> {
    let mut s = CpuStats::default();
    if let Some(d) = cpuacct {
        let us = |v: Option<u64>| v.map(|ns| ns / 1000);
        s.usage_usec = us(u64_file(&d.join("cpuacct.usage"))?);
        s.user_usec = us(u64_file(&d.join("cpuacct.usage_user"))?);
        s.system_usec = us(u64_file(&d.join("cpuacct.usage_sys"))?);
    }
    if let Some(d) = cpu {
        if let Some(t) = read_optional(&d.join("cpu.stat"))? {
            let kv = parse_flat_keyed(&t);
            let get = |k: &str| kv.iter().find(|(x, _)| x == k).map(|(_, v)| *v);
            s.nr_periods = get("nr_periods");
            s.nr_throttled = get("nr_throttled");
            s.throttled_usec = get("throttled_time").map(|ns| ns / 1000);
        }
    }
    Ok(s)
}

/// Parses `blkio.throttle.io_service_bytes*` / `io_serviced*` lines
/// (`8:0 Read 4096`) into `(device, read, write, discard)`.
pub(crate) fn parse_blkio(text: &str) -> Vec<(Device, u64, u64, u64)> {
    let mut v: Vec<(Device, u64, u64, u64)> = Vec::new();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let (Some(dev), Some(op), Some(n)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        let Some(device) = dev.split_once(':').and_then(|(a, b)| {
            Some(Device {
                major: a.parse().ok()?,
                minor: b.parse().ok()?,
            })
        }) else {
            continue;
        };
        let Ok(n) = n.parse::<u64>() else { continue };
        let i = match v.iter().position(|e| e.0 == device) {
            Some(i) => i,
            None => {
                v.push((device, 0, 0, 0));
                v.len() - 1
            }
        };
        match op {
            "Read" => v[i].1 = n,
            "Write" => v[i].2 = n,
            "Discard" => v[i].3 = n,
            _ => {}
        }
    }
    v
}

/// Per-device I/O of the v1 blkio cgroup `dir` (the throttle layer's
/// counts, which every device has, whatever its scheduler).
pub(crate) fn blkio(dir: &Path) -> Result<Vec<IoDeviceStats>, Error> {
    let bytes = read_optional(&dir.join("blkio.throttle.io_service_bytes_recursive"))?
        .map(|t| parse_blkio(&t))
        .unwrap_or_default();
    let ios = read_optional(&dir.join("blkio.throttle.io_serviced_recursive"))?
        .map(|t| parse_blkio(&t))
        .unwrap_or_default();
    let mut out: Vec<IoDeviceStats> = Vec::new();
    for (device, r, w, d) in bytes {
        out.push(IoDeviceStats {
            device,
            rbytes: r,
            wbytes: w,
            dbytes: d,
            ..IoDeviceStats::default()
        });
    }
    for (device, r, w, d) in ios {
        let i = match out.iter().position(|s| s.device == device) {
            Some(i) => i,
            None => {
                out.push(IoDeviceStats {
                    device,
                    ..IoDeviceStats::default()
                });
                out.len() - 1
            }
        };
        out[i].rios = r;
        out[i].wios = w;
        out[i].dios = d;
    }
    Ok(out)
}
