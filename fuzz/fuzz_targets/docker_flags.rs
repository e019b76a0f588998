//! `Resources::docker_flag`, several flags in a row on one `Resources`, then
//! everything that turns the result into cgroup writes: `validate` against
//! a fixed host, `writes`, `controllers`, `cpu_max_value`.
//!
//! Input: one flag per line, its first byte choosing the flag, the rest is
//! the value. Values with a `/` (device paths) are skipped so the target
//! never stats the fuzzer's own filesystem.
#![no_main]

use containment::cgroup::{CpuSet, HostInfo, Resources};
use libfuzzer_sys::fuzz_target;

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
    "--oom-score-adj",
    "--kernel-memory",
    "--memory-swappiness",
    "--cpu-rt-runtime",
    "--cpu-rt-period",
    "--oom-kill-disable",
    "--not-a-flag",
];

fuzz_target!(|s: &str| {
    let host = HostInfo {
        online_cpus: (0..4).collect(),
        online_mems: [0].into_iter().collect(),
        sys: "/nonexistent-containment-fuzz-sys".into(),
    };
    let mut r = Resources::new();
    for line in s.lines().take(32) {
        let Some(first) = line.bytes().next() else {
            continue;
        };
        let flag = FLAGS[first as usize % FLAGS.len()];
        let value = &line[line.char_indices().nth(1).map_or(line.len(), |(i, _)| i)..];
        if value.contains('/') {
            continue;
        }
        if let Ok(next) = r.clone().docker_flag(flag, value) {
            r = next;
        }
    }
    let _ = r.validate(&host);
    let _ = r.controllers();
    let _ = r.is_empty();
    if let Some(m) = r.cpu_max_value() {
        let _ = m.to_string();
    }
    for w in r.writes() {
        assert!(!w.value.contains('\n'), "{w:?}");
        if w.file == "cpuset.cpus" || w.file == "cpuset.mems" {
            assert!(w.value.parse::<CpuSet>().is_ok(), "{w:?}");
        }
    }
});
