//! The state directory: `<root>/<id>/state.json`, the exec FIFO, and a lock
//! (`flock` on the directory) that serializes commands on one container.

use crate::error::{Error, Result};
use oci_spec::runtime::Hooks;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// What `create` records.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Saved {
    pub id: String,
    pub pid: i32,
    /// `starttime` of the pid (field 22 of /proc/PID/stat): a recycled pid
    /// does not pass for the container.
    pub pid_start: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// The container's cgroup directory (absolute), if it has one.
    pub cgroup: Option<PathBuf>,
    /// Every directory of the cgroup (the cgroup2 one last, after the v1
    /// ones), as made at create: delete `rmdir`s them directly when the
    /// container is stopped, without reading mountinfo to open the cgroup
    /// (empty in the state of an older contrun).
    #[serde(default)]
    pub cgroup_dirs: Vec<PathBuf>,
    /// The hooks as they were at create (config.json may change since).
    pub hooks: Option<Hooks>,
    /// Whether the container has its own PID namespace (then killing the
    /// init kills everything).
    pub own_pid_ns: bool,
    /// config.json had no `process` (`start` must fail); `None` in the
    /// state of an older contrun, where `start` reads the saved config.
    #[serde(default)]
    pub process_unset: Option<bool>,
}

/// The status a container is in (runtime-spec `status`, plus paused).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Its `create` has not finished: seen by `state`/`list` (which take
    /// no lock) while it runs (from its hooks), or once it died midway,
    /// the state written while the child set itself up. Not startable;
    /// `delete --force` removes it.
    Creating,
    Created,
    Running,
    Paused,
    Stopped,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        }
    }
}

/// One container's state directory, locked while this lives (unless
/// opened with [`Dir::peek`], for reading only).
pub struct Dir {
    pub path: PathBuf,
    _lock: Option<File>,
}

/// Container ids: what runc accepts (`^[\w+-\.]+$`), never `.` or `..`.
pub fn check_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'-' | b'.'));
    if ok {
        Ok(())
    } else {
        Err(Error::msg(format!(
            "invalid container id {id:?}: letters, digits, '_', '+', '-' and '.' only"
        )))
    }
}

fn lock(path: &Path) -> Result<File> {
    let f = File::open(path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    // SAFETY: flock on a descriptor we own.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(Error::io(
            format!("locking {}", path.display()),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(f)
}

impl Dir {
    /// Makes and locks the directory of a new container (fails when it
    /// exists).
    pub fn create(root: &Path, id: &str) -> Result<Dir> {
        check_id(id)?;
        std::fs::create_dir_all(root)
            .map_err(|e| Error::io(format!("creating {}", root.display()), e))?;
        let path = root.join(id);
        match std::fs::create_dir(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::msg(format!("container {id:?} already exists")))
            }
            Err(e) => return Err(Error::io(format!("creating {}", path.display()), e)),
        }
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700));
        let lock = lock(&path)?;
        Ok(Dir {
            path,
            _lock: Some(lock),
        })
    }

    /// Locks the directory of an existing container.
    pub fn open(root: &Path, id: &str) -> Result<Dir> {
        let dir = Dir::lock_existing(root, id)?;
        // Deleted while we waited for the lock (or not created yet).
        if !dir.path.join("state.json").exists() {
            return Err(Error::msg(format!("container {id:?} does not exist")));
        }
        Ok(dir)
    }

    /// The directory of an existing container, *not* locked: for `state`
    /// and `list`, which only read (runc's take no lock either). A hook of
    /// `create` (which holds the lock while its hooks run) may then ask
    /// for the state, and sees `creating`. state.json is replaced whole
    /// (written aside, then renamed), so a reader sees the old one or the
    /// new one; the status comes from the live process and the gate.
    pub fn peek(root: &Path, id: &str) -> Result<Dir> {
        check_id(id)?;
        let path = root.join(id);
        if !path.join("state.json").exists() {
            return Err(Error::msg(format!("container {id:?} does not exist")));
        }
        Ok(Dir { path, _lock: None })
    }

    /// Locks the directory of a container whose `create` died before it
    /// wrote its state (killed between making the directory and the
    /// clone): none holds its lock and it has no state.json. `None` when
    /// it has a state after all (a `create` finished meanwhile).
    pub fn open_stateless(root: &Path, id: &str) -> Result<Option<Dir>> {
        let dir = Dir::lock_existing(root, id)?;
        Ok((!dir.path.join("state.json").exists()).then_some(dir))
    }

    /// Locks `root/id`, the directory that is there once the lock is ours.
    fn lock_existing(root: &Path, id: &str) -> Result<Dir> {
        use std::os::unix::fs::MetadataExt;
        check_id(id)?;
        let path = root.join(id);
        let gone = || Error::msg(format!("container {id:?} does not exist"));
        loop {
            let lock = match lock(&path) {
                Ok(l) => l,
                Err(_) if !path.exists() => return Err(gone()),
                Err(e) => return Err(e),
            };
            // The directory we locked must still be the one at `path`:
            // removed while we waited (a failed create, a delete), a new
            // container of the same id may have made another there, whose
            // own command holds *its* lock (its state is written while its
            // child sets up). Lock that one instead, or find none.
            let locked = lock
                .metadata()
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            match std::fs::metadata(&path) {
                Ok(m) if m.dev() == locked.dev() && m.ino() == locked.ino() => {}
                Ok(_) => continue,
                Err(_) => return Err(gone()),
            }
            return Ok(Dir {
                path,
                _lock: Some(lock),
            });
        }
    }

    pub fn fifo(&self) -> PathBuf {
        self.path.join("exec.fifo")
    }

    /// The gate's FIFO while `create` runs: renamed to [`fifo`](Self::fifo)
    /// once the container is created (after its hooks, sysctls, console and
    /// pid file), so that a `create` killed midway leaves a container that
    /// `start` cannot open and `state` shows as "creating".
    pub fn creating_fifo(&self) -> PathBuf {
        self.path.join("creating.fifo")
    }

    /// Where `create` records the cgroup it is about to make (relative to
    /// each hierarchy's root) before the spawn makes it: a `create` killed
    /// before it wrote its state leaves only this to find it by.
    pub fn planned_cgroup(&self) -> PathBuf {
        self.path.join("cgroup.planned")
    }

    /// Records `rel` as [`planned_cgroup`](Self::planned_cgroup), whole:
    /// written aside, then renamed (a `create` killed mid-write, e.g. by
    /// SIGXFSZ, must not leave a prefix of the path: another cgroup's).
    pub fn plan_cgroup(&self, rel: &Path) -> Result<()> {
        let p = self.planned_cgroup();
        let tmp = self.path.join("cgroup.planned.tmp");
        std::fs::write(&tmp, rel.as_os_str().as_encoded_bytes())
            .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
        std::fs::rename(&tmp, &p).map_err(|e| Error::io(format!("writing {}", p.display()), e))
    }

    pub fn load(&self) -> Result<Saved> {
        let p = self.path.join("state.json");
        let text =
            std::fs::read(&p).map_err(|e| Error::io(format!("reading {}", p.display()), e))?;
        serde_json::from_slice(&text)
            .map_err(|e| Error::msg(format!("reading {}: {e}", p.display())))
    }

    pub fn save(&self, s: &Saved) -> Result<()> {
        let p = self.path.join("state.json");
        let tmp = self.path.join("state.json.tmp");
        let text = serde_json::to_vec(s).map_err(|e| Error::msg(e.to_string()))?;
        std::fs::write(&tmp, text)
            .map_err(|e| Error::io(format!("writing {}", tmp.display()), e))?;
        std::fs::rename(&tmp, &p).map_err(|e| Error::io(format!("writing {}", p.display()), e))
    }

    /// Removes the directory (the lock goes with the last descriptor).
    pub fn remove(self) -> Result<()> {
        std::fs::remove_dir_all(&self.path)
            .map_err(|e| Error::io(format!("removing {}", self.path.display()), e))
    }
}

/// `starttime` (clock ticks since boot) and state letter of a process.
pub fn proc_stat(pid: i32) -> Option<(u64, char)> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: split after the
    // last ')'.
    let rest = &s[s.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // Field 22 overall is index 19 after the state (field 3).
    let start = fields.get(19)?.parse().ok()?;
    Some((start, state))
}

impl Saved {
    /// Whether the container's process is alive (and is still the one
    /// that was created: same start time; a zombie is not alive).
    pub fn alive(&self) -> bool {
        matches!(proc_stat(self.pid), Some((start, st)) if start == self.pid_start && st != 'Z' && st != 'X')
    }

    pub fn status(&self, dir: &Dir) -> Status {
        self.status_with(dir, |p| p.exists())
    }

    /// [`status`](Self::status), `exists` telling whether a gate FIFO is
    /// there. The gate is `creating.fifo`, renamed to `exec.fifo` at the
    /// end of `create`, removed by `start`: asked in that order, a reader
    /// that takes no lock (`state`, `list`) and races the rename sees one
    /// of them (asked the other way round, it saw neither and reported a
    /// container still being created as running).
    fn status_with(&self, dir: &Dir, mut exists: impl FnMut(&Path) -> bool) -> Status {
        if !self.alive() {
            return Status::Stopped;
        }
        if exists(&dir.creating_fifo()) {
            return Status::Creating;
        }
        if exists(&dir.fifo()) {
            return Status::Created;
        }
        if let Some(cg) = &self.cgroup {
            if let Ok(c) = containment::cgroup::Cgroup::open(cg) {
                if c.is_frozen().unwrap_or(false) {
                    return Status::Paused;
                }
            }
        }
        Status::Running
    }

    /// The runtime-spec state document.
    pub fn state_json(&self, status: Status) -> serde_json::Value {
        let mut v = serde_json::json!({
            "ociVersion": crate::SPEC_VERSION,
            "id": self.id,
            "status": status.as_str(),
            "bundle": self.bundle,
        });
        if status != Status::Stopped {
            v["pid"] = self.pid.into();
        }
        if !self.annotations.is_empty() {
            v["annotations"] = serde_json::to_value(&self.annotations).unwrap_or_default();
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A lockless `state` whose two looks at the gate straddle `create`'s
    /// rename of `creating.fifo` to `exec.fifo` (simulated: the first look
    /// sees the directory before the rename, the next ones after it) sees
    /// `creating` or `created`, never `running`.
    #[test]
    fn a_reader_racing_the_gates_rename_never_sees_running() {
        let me = std::process::id() as i32;
        let saved = Saved {
            id: "x".into(),
            pid: me,
            pid_start: proc_stat(me).unwrap().0,
            bundle: PathBuf::new(),
            rootfs: PathBuf::new(),
            created: String::new(),
            annotations: HashMap::new(),
            cgroup: None,
            cgroup_dirs: Vec::new(),
            hooks: None,
            own_pid_ns: false,
            process_unset: None,
        };
        let dir = Dir {
            path: PathBuf::from("/nonexistent"),
            _lock: None,
        };
        let (creating, exec) = (dir.creating_fifo(), dir.fifo());
        let mut looks = 0;
        let status = saved.status_with(&dir, |p| {
            looks += 1;
            let renamed = looks > 1;
            (p == creating && !renamed) || (p == exec && renamed)
        });
        assert_ne!(status, Status::Running);
    }
}
