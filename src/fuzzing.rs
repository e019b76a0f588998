//! Entry points for the `cargo fuzz` targets in `fuzz/`: thin wrappers over
//! crate-private parsers of outside input, so the targets can reach them
//! without widening the real API.
//!
//! Compiled only with `--cfg fuzzing`, which `cargo fuzz` sets for every
//! crate it builds; a normal build (and the documentation) never has this
//! module. Not part of the API: anything here may change at any time.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::cgroup::{CpuStats, IoDeviceStats, MemoryEvents, Pressure};
use crate::error::{ChildError, ChildFailure};
use crate::mount::{FsConfig, Mount, MountPlan, Rootfs, DOCKER_MASKED_PATHS};
use crate::namespace::{IdMap, Namespaces};

/// `cgroup.events`, `memory.stat`, … (`key value` lines).
pub fn flat_keyed(text: &str) -> Vec<(String, u64)> {
    crate::cgroup::stats::parse_flat_keyed(text)
}

/// `memory.events`.
pub fn memory_events(text: &str) -> MemoryEvents {
    crate::cgroup::stats::parse_memory_events(text)
}

/// `cpu.stat`.
pub fn cpu_stat(text: &str) -> CpuStats {
    crate::cgroup::stats::parse_cpu_stat(text)
}

/// `io.stat`.
pub fn io_stat(text: &str) -> Vec<IoDeviceStats> {
    crate::cgroup::stats::parse_io_stat(text)
}

/// `cpu.pressure`, `memory.pressure`, `io.pressure`.
pub fn pressure(text: &str) -> Option<Pressure> {
    crate::cgroup::stats::parse_pressure(text)
}

/// The filesystem type of the visible `/` in a mountinfo text (initramfs
/// detection).
pub fn root_fstype(mountinfo: &str) -> Option<&str> {
    crate::mount::root_fstype(mountinfo)
}

/// The text of a `uid_map`/`gid_map` file (`namespace::read_id_map`
/// without the read).
pub fn parse_id_map(text: &str) -> Result<Vec<IdMap>, crate::namespace::Error> {
    crate::namespace::parse_id_map(text)
}

/// The kernel's rules for a set of id maps.
pub fn validate_id_maps(maps: &[IdMap]) -> Result<(), String> {
    crate::namespace::validate_id_maps(maps)
}

/// The bytes written to `uid_map`/`gid_map`.
pub fn format_id_map(maps: &[IdMap]) -> Vec<u8> {
    crate::namespace::format_id_map(maps)
}

/// A container path as the mount plan splits it: `(shown, relative path,
/// component names)`.
pub type PathParts = (String, Vec<u8>, Vec<Vec<u8>>);

/// A validated path inside the container, or the error's text.
pub fn container_path(path: &[u8]) -> Result<PathParts, String> {
    let p = Path::new(OsStr::from_bytes(path));
    crate::mount::container_path_parts(p).map_err(|e| e.to_string())
}

/// Plans the parent side can describe a child failure against: none, a
/// minimal one and one with every list the child indexes (mounts, masked and
/// read-only paths, a root and a minimal /dev).
fn plans() -> Vec<Option<MountPlan>> {
    let ns = Namespaces::MOUNT | Namespaces::PID | Namespaces::USER;
    let configs = [
        FsConfig::default(),
        FsConfig {
            mounts: vec![Mount::tmpfs("/tmp").size(1 << 20).mode(0o1777)],
            ..Default::default()
        },
        FsConfig {
            root: Some(Rootfs::dir("/")),
            mounts: vec![
                Mount::tmpfs("/tmp"),
                Mount::proc("/proc2"),
                Mount::bind("/", "/mnt/host").read_only(true),
                Mount::sysfs("/sys"),
                Mount::cgroup2("/sys/fs/cgroup"),
            ],
            masked_paths: DOCKER_MASKED_PATHS.iter().map(Into::into).collect(),
            readonly_paths: vec!["/proc/sys".into()],
            readonly_root: true,
            ..Default::default()
        },
    ];
    configs.iter().map(|c| c.plan(ns).ok().flatten()).collect()
}

/// Decodes a report read from the child's error pipe as the parent does,
/// then renders it against a few mount plans (`describe`, `hint`, the
/// `ChildError` Display). `None` for a report the parent refuses.
pub fn child_report(bytes: &[u8; 12]) -> Option<Vec<String>> {
    let f = ChildFailure::from_bytes(bytes)?;
    assert_eq!(&f.to_bytes(), bytes, "report does not round-trip");
    let mut out = Vec::new();
    for plan in plans() {
        let (detail, hint) = match &plan {
            Some(p) => (
                p.describe(f.step, f.index),
                p.hint(f.step, f.index, f.errno),
            ),
            None => (None, None),
        };
        out.push(ChildError::new(f.step, f.index, f.errno, detail, hint).to_string());
    }
    Some(out)
}
