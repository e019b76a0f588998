//! Where the cgroup2 hierarchy is mounted, what kind of host this is, and
//! which controllers are available where.
//!
//! Nothing here hard-codes `/sys/fs/cgroup`: the cgroup2 mount is read from
//! `/proc/self/mountinfo`, and the caller's own cgroup from the `0::` line of
//! `/proc/self/cgroup`.
//!
//! # References
//!
//! - `proc(5)` (`/proc/<pid>/mountinfo`, `/proc/<pid>/cgroup`)
//! - Documentation/admin-guide/cgroup-v2.rst ("Mounting", "Controlling
//!   Controllers", "No Internal Process Constraint")

use std::fs;
use std::path::{Component, Path, PathBuf};

use super::Error;

/// How the host mounts its cgroup hierarchies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HierarchyKind {
    /// Only cgroup v2 is mounted (typically at `/sys/fs/cgroup`): every
    /// controller the kernel has can be enabled on it.
    Unified,
    /// cgroup v1 controllers are mounted and a cgroup2 is mounted beside them
    /// (e.g. `/sys/fs/cgroup/unified`). Process tracking, freezing, killing and
    /// `CLONE_INTO_CGROUP` work on the cgroup2; resource controllers bound to
    /// a v1 hierarchy are not available on it: the [`Backend::Hybrid`]
    /// backend drives those in their v1 hierarchy.
    ///
    /// [`Backend::Hybrid`]: super::Backend::Hybrid
    Hybrid,
    /// Only cgroup v1 hierarchies are mounted: the [`Backend::V1`] backend.
    ///
    /// [`Backend::V1`]: super::Backend::V1
    Legacy,
}

/// A mounted cgroup hierarchy seen from this process: the cgroup2 mount (when
/// there is one), the host kind, and the v1 controllers mounted beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    mount: Option<PathBuf>,
    mount_root: PathBuf,
    kind: HierarchyKind,
    v1_controllers: Vec<String>,
    v1_mounts: Vec<V1Mount>,
}

/// A cgroup v1 hierarchy mounted on this host: its controllers and where it
/// is mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Mount {
    /// The controllers bound to it (`["cpu", "cpuacct"]` for a co-mounted
    /// `cpu,cpuacct`).
    pub controllers: Vec<String>,
    /// Where it is mounted (`/sys/fs/cgroup/memory`).
    pub mount_point: PathBuf,
    /// The cgroup the mount shows as its root (field 4 of mountinfo).
    pub root: PathBuf,
}

/// One cgroup mount found in `mountinfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CgroupMount {
    /// The path of the cgroup that is mounted (field 4 of mountinfo).
    root: PathBuf,
    /// Where it is mounted (field 5).
    mount_point: PathBuf,
    /// `cgroup2` or `cgroup`.
    fstype: String,
    /// Super options (the v1 controllers are listed there).
    super_options: String,
}

/// Undoes the octal escapes (`\040` for a space …) that the kernel uses in
/// mountinfo paths.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let oct = &b[i + 1..i + 4];
            if oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
                let v = (oct[0] - b'0') as u32 * 64
                    + (oct[1] - b'0') as u32 * 8
                    + (oct[2] - b'0') as u32;
                if let Ok(v) = u8::try_from(v) {
                    out.push(v);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_mountinfo(text: &str) -> Vec<CgroupMount> {
    let mut v = Vec::new();
    for line in text.lines() {
        // id parent maj:min root mount-point options [optional...] - fstype source super-options
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 5 || r.is_empty() {
            continue;
        }
        let fstype = r[0];
        if fstype != "cgroup2" && fstype != "cgroup" {
            continue;
        }
        // Both paths are absolute in a well-formed line; an empty or
        // relative one (a doubled space) would make `dir_of` join an
        // absolute path onto the mount, replacing it.
        let (root, mount_point) = (unescape_mountinfo(l[3]), unescape_mountinfo(l[4]));
        if !root.starts_with('/') || !mount_point.starts_with('/') {
            continue;
        }
        v.push(CgroupMount {
            root: PathBuf::from(root),
            mount_point: PathBuf::from(mount_point),
            fstype: fstype.to_string(),
            super_options: r.get(2).copied().unwrap_or("").to_string(),
        });
    }
    v
}

/// v1 controller names found in the super options of a v1 mount (`rw,cpu,cpuacct`).
fn v1_controllers_of(super_options: &str) -> impl Iterator<Item = &str> {
    super_options.split(',').filter(|o| {
        !matches!(
            *o,
            "rw" | "ro" | "noprefix" | "xattr" | "clone_children" | "cpuset_v2_mode"
        ) && !o.contains('=')
    })
}

impl Hierarchy {
    /// Reads `/proc/self/mountinfo` and classifies the host.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when mountinfo cannot be read.
    pub fn detect() -> Result<Hierarchy, Error> {
        let text = crate::sys::read_mountinfo()
            .map_err(|e| Error::io("read", Path::new("/proc/self/mountinfo"), e))?;
        Ok(Hierarchy::from_mountinfo(&text))
    }

    /// Classifies a host from the text of a `mountinfo` file (for tests and
    /// for reading another process's view).
    pub fn from_mountinfo(text: &str) -> Hierarchy {
        let mounts = parse_mountinfo(text);
        // When several cgroup2 mounts exist (bind mounts, containers), take
        // the one that shows the most of the tree: shortest root, then the
        // first in mount order.
        let v2 = mounts
            .iter()
            .filter(|m| m.fstype == "cgroup2")
            .min_by_key(|m| m.root.as_os_str().len());
        let mut v1: Vec<String> = mounts
            .iter()
            .filter(|m| m.fstype == "cgroup")
            .flat_map(|m| v1_controllers_of(&m.super_options).map(str::to_string))
            .collect();
        v1.sort();
        v1.dedup();
        let mut v1_mounts: Vec<V1Mount> = Vec::new();
        for m in mounts.iter().filter(|m| m.fstype == "cgroup") {
            let controllers: Vec<String> = v1_controllers_of(&m.super_options)
                .map(str::to_string)
                .collect();
            // A named hierarchy without controllers (`name=systemd`) and a
            // second mount of the same hierarchy add nothing.
            if controllers.is_empty() || v1_mounts.iter().any(|x| x.controllers == controllers) {
                continue;
            }
            v1_mounts.push(V1Mount {
                controllers,
                mount_point: m.mount_point.clone(),
                root: m.root.clone(),
            });
        }
        let kind = match (v2.is_some(), v1.is_empty()) {
            (true, true) => HierarchyKind::Unified,
            (true, false) => HierarchyKind::Hybrid,
            (false, _) => HierarchyKind::Legacy,
        };
        Hierarchy {
            mount: v2.map(|m| m.mount_point.clone()),
            mount_root: v2.map(|m| m.root.clone()).unwrap_or_else(|| "/".into()),
            kind,
            v1_controllers: v1,
            v1_mounts,
        }
    }

    /// A hierarchy rooted at `mount`, which need not be a real cgroup2 mount:
    /// tests point it at a temporary directory filled with the files they
    /// need.
    pub fn at(mount: impl Into<PathBuf>) -> Hierarchy {
        Hierarchy {
            mount: Some(mount.into()),
            mount_root: "/".into(),
            kind: HierarchyKind::Unified,
            v1_controllers: Vec::new(),
            v1_mounts: Vec::new(),
        }
    }

    /// A hierarchy of cgroup v1 mounts only (and the cgroup2 at `unified`,
    /// when given), which need not be real: tests point the mount points at
    /// temporary directories. Each entry is `(controllers, mount point)`.
    pub fn v1_at(unified: Option<PathBuf>, mounts: &[(&[&str], PathBuf)]) -> Hierarchy {
        let v1_mounts: Vec<V1Mount> = mounts
            .iter()
            .map(|(c, p)| V1Mount {
                controllers: c.iter().map(|c| c.to_string()).collect(),
                mount_point: p.clone(),
                root: "/".into(),
            })
            .collect();
        let mut v1: Vec<String> = v1_mounts
            .iter()
            .flat_map(|m| m.controllers.clone())
            .collect();
        v1.sort();
        v1.dedup();
        Hierarchy {
            kind: if unified.is_some() {
                HierarchyKind::Hybrid
            } else {
                HierarchyKind::Legacy
            },
            mount: unified,
            mount_root: "/".into(),
            v1_controllers: v1,
            v1_mounts,
        }
    }

    /// The cgroup v1 hierarchies mounted on this host (empty on a unified
    /// host), named `name=…` hierarchies without controllers left out.
    pub fn v1_mounts(&self) -> &[V1Mount] {
        &self.v1_mounts
    }

    /// The v1 hierarchy `controller` is bound to, if any.
    pub fn v1_mount_of(&self, controller: &str) -> Option<&V1Mount> {
        self.v1_mounts
            .iter()
            .find(|m| m.controllers.iter().any(|c| c == controller))
    }

    /// Unified, hybrid or legacy.
    pub fn kind(&self) -> HierarchyKind {
        self.kind
    }

    /// Where the cgroup2 hierarchy is mounted (`/sys/fs/cgroup`,
    /// `/sys/fs/cgroup/unified` …), `None` on a legacy host.
    pub fn mount_point(&self) -> Option<&Path> {
        self.mount.as_deref()
    }

    /// The cgroup2 mount, or [`Error::NoCgroup2`].
    ///
    /// # Errors
    ///
    /// [`Error::NoCgroup2`] on a legacy host.
    pub fn require_mount(&self) -> Result<&Path, Error> {
        self.mount.as_deref().ok_or(Error::NoCgroup2)
    }

    /// The cgroup the mount shows as its root (field 4 of mountinfo): `/`
    /// unless only a subtree is mounted (inside a cgroup namespace or a
    /// container).
    pub fn mount_root(&self) -> &Path {
        &self.mount_root
    }

    /// The v1 controllers mounted on this host (empty on a unified host).
    /// A controller bound to a v1 hierarchy cannot be enabled on the cgroup2.
    pub fn v1_controllers(&self) -> &[String] {
        &self.v1_controllers
    }

    /// The controllers available at the root of the cgroup2 mount (its
    /// `cgroup.controllers`).
    ///
    /// # Errors
    ///
    /// [`Error::NoCgroup2`] on a legacy host, [`Error::Io`] when the file
    /// cannot be read.
    pub fn root_controllers(&self) -> Result<Vec<String>, Error> {
        controllers_at(self.require_mount()?)
    }

    /// The directory of a cgroup given as a path inside the hierarchy (as in
    /// `/proc/<pid>/cgroup`), or `None` when it lies outside the mounted part
    /// (a path with `..`, as the kernel shows a cgroup above the reader's
    /// cgroup namespace root, is outside).
    pub fn dir_of(&self, cgroup_path: &Path) -> Option<PathBuf> {
        let mount = self.mount.as_deref()?;
        let rel = cgroup_path.strip_prefix(&self.mount_root).ok()?;
        if !rel
            .components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return None;
        }
        Some(mount.join(rel))
    }

    /// The directory of this process's own cgroup (from the `0::` line of
    /// `/proc/self/cgroup`).
    ///
    /// # Errors
    ///
    /// [`Error::NoCgroup2`] when there is no cgroup2 mount or no `0::` line,
    /// [`Error::Io`] when `/proc/self/cgroup` cannot be read.
    pub fn own_cgroup(&self) -> Result<PathBuf, Error> {
        let p = Path::new("/proc/self/cgroup");
        let text = fs::read_to_string(p).map_err(|e| Error::io("read", p, e))?;
        let path = own_cgroup_path(&text).ok_or(Error::NoCgroup2)?;
        self.dir_of(&path).ok_or(Error::NoCgroup2)
    }

    /// The default parent of new cgroups: `<cgroup2 mount>/containment`.
    ///
    /// A separate parent (like docker's `/docker` or systemd's
    /// `system.slice`) is needed because of cgroup v2's *no internal
    /// processes* rule: a non-root cgroup that holds processes cannot enable
    /// controllers for its children, so the caller's own cgroup is usually
    /// not a usable parent. The root of the mount is exempt from that rule,
    /// and so is a parent that only ever holds child cgroups.
    ///
    /// # Errors
    ///
    /// [`Error::NoCgroup2`] on a legacy host.
    pub fn default_parent(&self) -> Result<PathBuf, Error> {
        Ok(self.require_mount()?.join(DEFAULT_PARENT_NAME))
    }
}

/// Name of the default parent cgroup created under the cgroup2 mount.
pub const DEFAULT_PARENT_NAME: &str = "containment";

/// The cgroup v2 path of the `0::` line of a `/proc/<pid>/cgroup` text.
pub fn own_cgroup_path(proc_cgroup: &str) -> Option<PathBuf> {
    proc_cgroup
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(|p| PathBuf::from(p.trim_end()))
}

/// The controllers listed in `<dir>/cgroup.controllers`.
///
/// # Errors
///
/// [`Error::Io`] when the file cannot be read.
pub fn controllers_at(dir: &Path) -> Result<Vec<String>, Error> {
    let p = dir.join("cgroup.controllers");
    let text = fs::read_to_string(&p).map_err(|e| Error::io("read", &p, e))?;
    Ok(text.split_whitespace().map(str::to_string).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const UNIFIED: &str = "\
25 30 0:23 / /sys rw,nosuid shared:7 - sysfs sysfs rw
28 25 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";
    const LEGACY: &str = "\
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
";

    #[test]
    fn classifies_hosts() {
        let h = Hierarchy::from_mountinfo(HYBRID);
        assert_eq!(h.kind(), HierarchyKind::Hybrid);
        assert_eq!(h.mount_point(), Some(Path::new("/sys/fs/cgroup/unified")));
        assert_eq!(h.v1_controllers(), ["cpu", "memory"]);
        // name=systemd has no controller: not a v1 mount we drive.
        assert_eq!(h.v1_mounts().len(), 2);
        assert_eq!(
            h.v1_mount_of("memory").map(|m| m.mount_point.as_path()),
            Some(Path::new("/sys/fs/cgroup/memory"))
        );
        assert!(h.v1_mount_of("pids").is_none());

        let u = Hierarchy::from_mountinfo(UNIFIED);
        assert_eq!(u.kind(), HierarchyKind::Unified);
        assert_eq!(u.mount_point(), Some(Path::new("/sys/fs/cgroup")));
        assert!(u.v1_controllers().is_empty());

        let l = Hierarchy::from_mountinfo(LEGACY);
        assert_eq!(l.kind(), HierarchyKind::Legacy);
        assert_eq!(l.mount_point(), None);
        assert_eq!(l.v1_controllers(), ["cpu", "cpuacct"]);
        let m = l.v1_mount_of("cpuacct").unwrap();
        assert_eq!(m.controllers, ["cpu", "cpuacct"]);
        assert_eq!(m.mount_point, Path::new("/sys/fs/cgroup/cpu,cpuacct"));
        assert!(matches!(l.require_mount(), Err(Error::NoCgroup2)));
    }

    #[test]
    fn own_cgroup_and_namespaced_mounts() {
        let text = "9:name=systemd:/\n4:memory:/x\n0::/user.slice/a b\n";
        assert_eq!(
            own_cgroup_path(text),
            Some(PathBuf::from("/user.slice/a b"))
        );
        assert_eq!(own_cgroup_path("4:memory:/x\n"), None);

        // A mount showing only a subtree (root field /user.slice).
        let h = Hierarchy::from_mountinfo(
            "28 25 0:26 /user.slice /mnt/cg\\040x rw - cgroup2 cgroup2 rw\n",
        );
        assert_eq!(h.mount_point(), Some(Path::new("/mnt/cg x")));
        assert_eq!(
            h.dir_of(Path::new("/user.slice/a")),
            Some(PathBuf::from("/mnt/cg x/a"))
        );
        assert_eq!(h.dir_of(Path::new("/system.slice")), None);
    }

    #[test]
    fn dir_of_refuses_paths_climbing_out_of_the_mount() {
        // Found by the `mountinfo` fuzz target's property: inside a cgroup
        // namespace the kernel shows cgroups above its root as `/../x`, and
        // joining that onto the mount left it (`/sys/fs/cgroup/../x`).
        let h = Hierarchy::from_mountinfo(UNIFIED);
        assert_eq!(h.dir_of(Path::new("/../x")), None);
        assert_eq!(h.dir_of(Path::new("/a/../../etc")), None);
        assert_eq!(
            h.dir_of(Path::new("/a/./b")),
            Some(PathBuf::from("/sys/fs/cgroup/a/b"))
        );
        let h =
            Hierarchy::from_mountinfo("28 25 0:26 /user.slice /mnt/cg rw - cgroup2 cgroup2 rw\n");
        assert_eq!(h.dir_of(Path::new("/user.slice/../system.slice")), None);
    }

    #[test]
    fn malformed_mount_paths_are_skipped() {
        // Found by the `mountinfo` fuzz target: a doubled space left the
        // root field empty, `strip_prefix("")` kept the cgroup path
        // absolute and `dir_of` returned it in place of the mount.
        let h = Hierarchy::from_mountinfo("28 25 0:26  /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n");
        assert_eq!(h.kind(), HierarchyKind::Legacy);
        assert_eq!(h.dir_of(Path::new("/a b")), None);
        let h = Hierarchy::from_mountinfo("28 25 0:26 / cg rw - cgroup2 cgroup2 rw\n");
        assert_eq!(h.mount_point(), None);
        // And `dir_of` itself never returns a path off the mount.
        let h = Hierarchy::at("/sys/fs/cgroup");
        assert_eq!(h.dir_of(Path::new("a/b")), None);
    }

    #[test]
    fn controllers_from_dir() {
        let d = std::env::temp_dir().join(format!("cg-ctl-{}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("cgroup.controllers"), "cpuset cpu io memory pids\n").unwrap();
        let h = Hierarchy::at(&d);
        assert_eq!(
            h.root_controllers().unwrap(),
            ["cpuset", "cpu", "io", "memory", "pids"]
        );
        assert_eq!(h.default_parent().unwrap(), d.join(DEFAULT_PARENT_NAME));
        fs::remove_dir_all(&d).unwrap();
    }
}
