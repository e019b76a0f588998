//! A parent cgroup of a test's own in every hierarchy (cgroup2 and every
//! v1 one), for the tests of the cgroup v1 backend on the host's real
//! controllers; `v1_setup!` makes one after checking root and the v1
//! hierarchies the tests use.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use containment::cgroup::{CgroupSpec, Hierarchy};

/// A parent cgroup of the test's own in every hierarchy (cgroup2 and v1),
/// removed with everything below it on drop: tasks are killed (thawed
/// first), directories removed depth-first.
pub struct Parent {
    /// Its path relative to the root of each hierarchy.
    pub rel: String,
    roots: Vec<PathBuf>,
}

impl Parent {
    /// The parent named `rel` (another process of the test made it).
    pub fn named(rel: &str) -> Parent {
        let mut p = Parent::new("unused");
        p.rel = rel.to_string();
        p
    }

    /// A unique name from `tag`; nothing is made until a cgroup under it is.
    pub fn new(tag: &str) -> Parent {
        let h = Hierarchy::detect().unwrap();
        let roots = h
            .mount_point()
            .map(Path::to_path_buf)
            .into_iter()
            .chain(h.v1_mounts().iter().map(|m| m.mount_point.clone()))
            .collect();
        Parent {
            rel: super::unique(tag),
            roots,
        }
    }

    /// A spec of a cgroup under this parent.
    pub fn spec(&self) -> CgroupSpec {
        CgroupSpec::new().parent(&self.rel)
    }

    /// Its directory in every hierarchy.
    pub fn dirs(&self) -> Vec<PathBuf> {
        self.roots.iter().map(|r| r.join(&self.rel)).collect()
    }

    /// Our parent in the v1 hierarchy of `controller`.
    pub fn v1(&self, controller: &str) -> PathBuf {
        let h = Hierarchy::detect().unwrap();
        h.v1_mount_of(controller)
            .unwrap()
            .mount_point
            .join(&self.rel)
    }
}

/// Kills every task below `d` (thawed first).
pub fn kill_tree(d: &Path) {
    if let Ok(s) = std::fs::read_to_string(d.join("freezer.state")) {
        if s.trim() != "THAWED" {
            let _ = std::fs::write(d.join("freezer.state"), "THAWED");
        }
    }
    if let Ok(p) = std::fs::read_to_string(d.join("cgroup.procs")) {
        for pid in p.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            // SAFETY: plain kill(2) of a pid found in our own cgroup.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    }
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        {
            kill_tree(&e.path());
        }
    }
}

/// Removes `d` and everything below it, depth first.
pub fn rmdir_tree(d: &Path, deadline: Instant) {
    if let Ok(rd) = std::fs::read_dir(d) {
        for e in rd
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        {
            rmdir_tree(&e.path(), deadline);
        }
    }
    // Give realtime budget back before the directory goes.
    if d.join("cpu.rt_runtime_us").exists() {
        let _ = std::fs::write(d.join("cpu.rt_runtime_us"), "0");
    }
    while std::fs::remove_dir(d).is_err_and(|e| e.raw_os_error() == Some(libc::EBUSY))
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Drop for Parent {
    fn drop(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        for d in self.dirs() {
            if d.exists() {
                kill_tree(&d);
            }
        }
        for d in self.dirs() {
            if d.exists() {
                rmdir_tree(&d, deadline);
            }
        }
        for d in self.dirs() {
            assert!(!d.exists(), "{d:?} left behind");
        }
    }
}

/// Root, the v1 hierarchies the tests use, then a [`Parent`] named from
/// `$tag`.
#[macro_export]
macro_rules! v1_setup {
    ($tag:expr) => {{
        require_root!();
        let h = containment::cgroup::Hierarchy::detect().unwrap();
        for c in ["memory", "cpu", "cpuset", "pids", "freezer", "blkio"] {
            require!(h.v1_mount_of(c).is_some(), "no cgroup v1 {c} hierarchy");
        }
        common::v1parent::Parent::new($tag)
    }};
}
