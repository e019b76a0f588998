//! Usage, events and pressure of a cgroup, and blocking waits for events.
//!
//! Every figure is an `Option`: a file that does not exist (a controller not
//! enabled, a kernel older than the file, e.g. `memory.peak` before 5.19 or
//! `pids.peak` before 6.1+) is `None`, not an error.
//!
//! # References
//!
//! Documentation/admin-guide/cgroup-v2.rst ("Interface Files" of each
//! controller), Documentation/accounting/psi.rst.

use std::collections::BTreeMap;
use std::time::Duration;

use super::resources::Device;
use super::{Cgroup, Error};

/// Everything [`Cgroup::stats`] reads.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stats {
    /// The memory controller's figures.
    pub memory: MemoryStats,
    /// `cpu.stat`.
    pub cpu: CpuStats,
    /// The pids controller's figures.
    pub pids: PidsStats,
    /// `io.stat`, one entry per device.
    pub io: Vec<IoDeviceStats>,
    /// `cpu.pressure`.
    pub cpu_pressure: Option<Pressure>,
    /// `memory.pressure`.
    pub memory_pressure: Option<Pressure>,
    /// `io.pressure`.
    pub io_pressure: Option<Pressure>,
}

/// Memory usage and events.
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryStats {
    /// `memory.current`: bytes in use now.
    pub current: Option<u64>,
    /// `memory.peak`: the highest usage (Linux 5.19+).
    pub peak: Option<u64>,
    /// `memory.swap.current`: swap in use.
    pub swap_current: Option<u64>,
    /// `memory.stat`: the breakdown (`anon`, `file`, `pgfault` …).
    pub stat: BTreeMap<String, u64>,
    /// `memory.events`.
    pub events: Option<MemoryEvents>,
}

/// `memory.events` (counts over the cgroup's life, hierarchical).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryEvents {
    /// Reclaimed despite being under `memory.low`.
    pub low: u64,
    /// Throttled above `memory.high`.
    pub high: u64,
    /// Usage reached `memory.max`.
    pub max: u64,
    /// The OOM killer was invoked.
    pub oom: u64,
    /// Processes killed by the OOM killer.
    pub oom_kill: u64,
}

/// `cpu.stat`.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuStats {
    /// Total CPU time, µs.
    pub usage_usec: Option<u64>,
    /// User CPU time, µs.
    pub user_usec: Option<u64>,
    /// System CPU time, µs.
    pub system_usec: Option<u64>,
    /// Enforcement periods that elapsed (cpu controller only).
    pub nr_periods: Option<u64>,
    /// Periods in which the cgroup was throttled (cpu controller only).
    pub nr_throttled: Option<u64>,
    /// Time spent throttled, µs (cpu controller only).
    pub throttled_usec: Option<u64>,
}

/// The pids controller's figures.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PidsStats {
    /// `pids.current`: tasks now.
    pub current: Option<u64>,
    /// `pids.peak`: the highest count (newer kernels).
    pub peak: Option<u64>,
    /// `max` of `pids.events`: forks refused because of `pids.max`.
    pub max_events: Option<u64>,
}

/// One device's line of `io.stat`.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IoDeviceStats {
    /// The device.
    pub device: Device,
    /// Bytes read.
    pub rbytes: u64,
    /// Bytes written.
    pub wbytes: u64,
    /// Read operations.
    pub rios: u64,
    /// Write operations.
    pub wios: u64,
    /// Bytes discarded.
    pub dbytes: u64,
    /// Discard operations.
    pub dios: u64,
}

/// A `*.pressure` file (PSI).
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Pressure {
    /// Some task was stalled.
    pub some: PressureLine,
    /// All non-idle tasks were stalled (absent for cpu on older kernels).
    pub full: Option<PressureLine>,
}

/// One line of a pressure file.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PressureLine {
    /// Share of time stalled over 10 s, percent.
    pub avg10: f64,
    /// Over 60 s, percent.
    pub avg60: f64,
    /// Over 300 s, percent.
    pub avg300: f64,
    /// Total stall time, µs.
    pub total: u64,
}

/// Parses a flat-keyed file (`key value` per line: `cgroup.events`,
/// `memory.events`, `cpu.stat`, `memory.stat`); lines that do not parse are
/// skipped.
pub(crate) fn parse_flat_keyed(text: &str) -> Vec<(String, u64)> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.trim().split_once(char::is_whitespace)?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

fn get(kv: &[(String, u64)], key: &str) -> Option<u64> {
    kv.iter().find(|(k, _)| k == key).map(|(_, v)| *v)
}

fn parse_u64_file(path: &std::path::Path, text: &str) -> Result<u64, Error> {
    text.trim().parse().map_err(|_| Error::Malformed {
        path: path.to_path_buf(),
        content: text.to_string(),
    })
}

/// Parses `memory.events`.
pub(crate) fn parse_memory_events(text: &str) -> MemoryEvents {
    let kv = parse_flat_keyed(text);
    MemoryEvents {
        low: get(&kv, "low").unwrap_or(0),
        high: get(&kv, "high").unwrap_or(0),
        max: get(&kv, "max").unwrap_or(0),
        oom: get(&kv, "oom").unwrap_or(0),
        oom_kill: get(&kv, "oom_kill").unwrap_or(0),
    }
}

/// Parses `cpu.stat`.
pub(crate) fn parse_cpu_stat(text: &str) -> CpuStats {
    let kv = parse_flat_keyed(text);
    CpuStats {
        usage_usec: get(&kv, "usage_usec"),
        user_usec: get(&kv, "user_usec"),
        system_usec: get(&kv, "system_usec"),
        nr_periods: get(&kv, "nr_periods"),
        nr_throttled: get(&kv, "nr_throttled"),
        throttled_usec: get(&kv, "throttled_usec"),
    }
}

/// Parses `io.stat` (`8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0`).
pub(crate) fn parse_io_stat(text: &str) -> Vec<IoDeviceStats> {
    let mut v = Vec::new();
    for line in text.lines() {
        let mut it = line.split_whitespace();
        let Some(dev) = it.next().and_then(|d| {
            let (a, b) = d.split_once(':')?;
            Some(Device {
                major: a.parse().ok()?,
                minor: b.parse().ok()?,
            })
        }) else {
            continue;
        };
        let mut s = IoDeviceStats {
            device: dev,
            ..IoDeviceStats::default()
        };
        for kv in it {
            let Some((k, val)) = kv.split_once('=') else {
                continue;
            };
            let Ok(n) = val.parse::<u64>() else { continue };
            match k {
                "rbytes" => s.rbytes = n,
                "wbytes" => s.wbytes = n,
                "rios" => s.rios = n,
                "wios" => s.wios = n,
                "dbytes" => s.dbytes = n,
                "dios" => s.dios = n,
                _ => {}
            }
        }
        v.push(s);
    }
    v
}

/// Parses a PSI file; `None` when it has no `some` line.
pub(crate) fn parse_pressure(text: &str) -> Option<Pressure> {
    let line = |kind: &str| -> Option<PressureLine> {
        let l = text.lines().find(|l| l.starts_with(kind))?;
        let mut p = PressureLine::default();
        for kv in l.split_whitespace().skip(1) {
            let (k, v) = kv.split_once('=')?;
            match k {
                "avg10" => p.avg10 = v.parse().ok()?,
                "avg60" => p.avg60 = v.parse().ok()?,
                "avg300" => p.avg300 = v.parse().ok()?,
                "total" => p.total = v.parse().ok()?,
                _ => {}
            }
        }
        Some(p)
    };
    Some(Pressure {
        some: line("some ")?,
        full: line("full "),
    })
}

impl Cgroup {
    fn read_u64_optional(&self, name: &str) -> Result<Option<u64>, Error> {
        match self.read_optional(name)? {
            Some(t) => parse_u64_file(&self.path().join(name), &t).map(Some),
            None => Ok(None),
        }
    }

    /// `memory.current`, `memory.peak`, `memory.swap.current`,
    /// `memory.stat` and `memory.events`; absent files give `None`/empty.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] or [`Error::Malformed`] naming the file.
    pub fn memory_stats(&self) -> Result<MemoryStats, Error> {
        if let Some(d) = self.v1_path("memory") {
            return super::v1::stats::memory(&d);
        }
        Ok(MemoryStats {
            current: self.read_u64_optional("memory.current")?,
            peak: self.read_u64_optional("memory.peak")?,
            swap_current: self.read_u64_optional("memory.swap.current")?,
            stat: self
                .read_optional("memory.stat")?
                .map(|t| parse_flat_keyed(&t).into_iter().collect())
                .unwrap_or_default(),
            events: self.memory_events()?,
        })
    }

    /// `memory.events`, `None` without the memory controller.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file.
    pub fn memory_events(&self) -> Result<Option<MemoryEvents>, Error> {
        if let Some(d) = self.v1_path("memory") {
            return Ok(super::v1::stats::memory(&d)?.events);
        }
        Ok(self
            .read_optional("memory.events")?
            .map(|t| parse_memory_events(&t)))
    }

    /// `cpu.stat` (usage is always there in v2; throttling figures only
    /// with the cpu controller).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file.
    pub fn cpu_stats(&self) -> Result<CpuStats, Error> {
        let (cpu, cpuacct) = (self.v1_path("cpu"), self.v1_path("cpuacct"));
        if cpu.is_none() && cpuacct.is_none() {
            return Ok(self
                .read_optional("cpu.stat")?
                .map(|t| parse_cpu_stat(&t))
                .unwrap_or_default());
        }
        let mut s = super::v1::stats::cpu(cpu.as_deref(), cpuacct.as_deref())?;
        if s.usage_usec.is_none() && self.backend() == super::Backend::Hybrid {
            // Usage without cpuacct: the cgroup2's core cpu.stat.
            if let Some(t) = super::v1::read_optional(&self.path().join("cpu.stat"))? {
                let v2 = parse_cpu_stat(&t);
                (s.usage_usec, s.user_usec, s.system_usec) =
                    (v2.usage_usec, v2.user_usec, v2.system_usec);
            }
        }
        Ok(s)
    }

    /// `pids.current`, `pids.peak` and `pids.events`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] or [`Error::Malformed`] naming the file.
    pub fn pids_stats(&self) -> Result<PidsStats, Error> {
        Ok(PidsStats {
            current: self.read_u64_optional("pids.current")?,
            peak: self.read_u64_optional("pids.peak")?,
            max_events: self
                .read_optional("pids.events")?
                .and_then(|t| get(&parse_flat_keyed(&t), "max")),
        })
    }

    /// `io.stat`, empty without the io controller.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file.
    pub fn io_stats(&self) -> Result<Vec<IoDeviceStats>, Error> {
        if let Some(d) = self.v1_path("blkio") {
            return super::v1::stats::blkio(&d);
        }
        Ok(self
            .read_optional("io.stat")?
            .map(|t| parse_io_stat(&t))
            .unwrap_or_default())
    }

    /// A pressure file: `resource` is `"cpu"`, `"memory"` or `"io"`. `None`
    /// when absent or when PSI is disabled (`psi=0`, reads fail with
    /// `EOPNOTSUPP`).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file for other read errors.
    pub fn pressure(&self, resource: &str) -> Result<Option<Pressure>, Error> {
        let name = format!("{resource}.pressure");
        match self.read_optional(&name) {
            Ok(t) => Ok(t.and_then(|t| parse_pressure(&t))),
            Err(Error::Io { source, .. }) if source.raw_os_error() == Some(libc::EOPNOTSUPP) => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// All of the above.
    ///
    /// # Errors
    ///
    /// The first error of the readers.
    pub fn stats(&self) -> Result<Stats, Error> {
        Ok(Stats {
            memory: self.memory_stats()?,
            cpu: self.cpu_stats()?,
            pids: self.pids_stats()?,
            io: self.io_stats()?,
            cpu_pressure: self.pressure("cpu")?,
            memory_pressure: self.pressure("memory")?,
            io_pressure: self.pressure("io")?,
        })
    }

    /// Blocks until `memory.events` counts an `oom_kill` above `seen`, or
    /// the timeout passes. Returns the new count, `None` on timeout. Pass
    /// 0 to wait for the first, or the last returned count to wait for the
    /// next. Woken by `poll(POLLPRI)` on `memory.events`; on cgroup v1 by
    /// an eventfd registered in `cgroup.event_control` for
    /// `memory.oom_control`, whose `oom_kill` it counts.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming `memory.events` (absent without the memory
    /// controller).
    pub fn wait_for_oom_kill_after(
        &self,
        seen: u64,
        timeout: Duration,
    ) -> Result<Option<u64>, Error> {
        if let Some(d) = self.v1_path("memory") {
            return super::v1::wait_for_oom_kill_after(&d, seen, timeout);
        }
        let mut count = 0;
        let hit = self.wait_file("memory.events", timeout, |t| {
            count = parse_memory_events(t).oom_kill;
            count > seen
        })?;
        Ok(hit.then_some(count))
    }

    /// [`wait_for_oom_kill_after`](Self::wait_for_oom_kill_after)`(0, timeout)`:
    /// waits until at least one process of the cgroup was OOM-killed.
    ///
    /// # Errors
    ///
    /// As [`wait_for_oom_kill_after`](Self::wait_for_oom_kill_after).
    pub fn wait_for_oom_kill(&self, timeout: Duration) -> Result<Option<u64>, Error> {
        self.wait_for_oom_kill_after(0, timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_and_events() {
        let e = parse_memory_events("low 0\nhigh 3\nmax 7\noom 1\noom_kill 1\noom_group_kill 0\n");
        assert_eq!(
            e,
            MemoryEvents {
                low: 0,
                high: 3,
                max: 7,
                oom: 1,
                oom_kill: 1
            }
        );
        let c = parse_cpu_stat(
            "usage_usec 100\nuser_usec 60\nsystem_usec 40\nnr_periods 5\nnr_throttled 2\nthrottled_usec 900\n",
        );
        assert_eq!(c.usage_usec, Some(100));
        assert_eq!(c.nr_throttled, Some(2));
        assert_eq!(c.throttled_usec, Some(900));
        let c = parse_cpu_stat("usage_usec 1\nuser_usec 1\nsystem_usec 0\n");
        assert_eq!(c.nr_periods, None);
        assert_eq!(
            parse_flat_keyed("populated 1\nfrozen 0\ngarbage\nx y\n").len(),
            2
        );
    }

    #[test]
    fn io_and_pressure() {
        let io = parse_io_stat(
            "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n253:1 rbytes=1 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
        );
        assert_eq!(io.len(), 2);
        assert_eq!(io[0].device, Device { major: 8, minor: 0 });
        assert_eq!((io[0].rbytes, io[0].wbytes, io[0].wios), (4096, 8192, 2));
        assert_eq!(io[1].device.major, 253);

        let p = parse_pressure(
            "some avg10=1.50 avg60=0.20 avg300=0.00 total=12345\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=7\n",
        )
        .unwrap();
        assert_eq!(p.some.avg10, 1.5);
        assert_eq!(p.some.total, 12345);
        assert_eq!(p.full.unwrap().total, 7);
        let p = parse_pressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=0\n").unwrap();
        assert!(p.full.is_none());
        assert!(parse_pressure("").is_none());
    }
}
