//! The cgroup v1 backend: one directory per v1 hierarchy, driven behind the
//! same [`Cgroup`](super::Cgroup) API as cgroup v2.
//!
//! On a legacy host ([`HierarchyKind::Legacy`](super::HierarchyKind::Legacy))
//! or when [`Backend::V1`](super::Backend::V1) is forced, a cgroup is a
//! directory of the same name in each v1 hierarchy it drives (`cpuset`,
//! `cpu`, `cpuacct`, `memory`, `blkio`, `pids`, `freezer`, like docker),
//! and the freezer's (else the first) is its main directory. On a hybrid
//! host ([`Backend::Hybrid`](super::Backend::Hybrid)) the main directory is
//! in the cgroup2, which tracks the processes (`CLONE_INTO_CGROUP`,
//! `cgroup.freeze`, `cgroup.kill`), and a v1 directory is added for each
//! controller the limits need that is bound to a v1 hierarchy.
//!
//! v1 has no `CLONE_INTO_CGROUP`: the spawned child moves itself into each
//! v1 directory first thing, by writing `0` to the directory's `tasks` file
//! (opened by the parent before clone), so the program starts with every
//! limit in force. A thread moving itself skips the kernel's global
//! threadgroup lock, whose RCU grace period a `cgroup.procs` write of the
//! child's pid by the parent waits for (8–12 ms per spawn on this project's
//! 2-core VM, against ~30 µs).
//!
//! Differences from v2 that callers see:
//! - a new `cpuset` cgroup has empty `cpuset.cpus`/`cpuset.mems` and takes
//!   no task (`ENOSPC`) until both are set: they are copied from the parent
//!   at creation (the parents this layer creates too);
//! - `memory.memsw.limit_in_bytes` (memory plus swap) can never be below
//!   `memory.limit_in_bytes` (`EINVAL`): the two are written in the order
//!   that keeps it so;
//! - `cpu.rt_runtime_us` needs the same budget in the parent: the default
//!   parent has none (it would have to be taken from the root, which this
//!   layer never writes), so give a parent of your own a budget first;
//! - freezing uses `freezer.state`, and frozen tasks die of `SIGKILL` only
//!   once thawed: [`Cgroup::kill`](super::Cgroup::kill) freezes, signals
//!   every task, thaws.
//!
//! # References
//!
//! Documentation/admin-guide/cgroup-v1/{cgroups,memory,cpusets,freezer-subsystem,blkio-controller,pids}.rst,
//! Documentation/scheduler/sched-rt-group.rst.

use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

use super::hierarchy::{Hierarchy, V1Mount};
use super::Error;

pub(crate) mod stats;
pub(crate) mod writes;

/// The v1 controllers the [`Backend::V1`](super::Backend::V1) backend puts
/// every cgroup in (where mounted), as docker and runc do: enough for every
/// limit, the stats, freeze and kill.
pub const V1_CONTROLLERS: [&str; 7] = [
    "cpuset", "cpu", "cpuacct", "memory", "blkio", "pids", "freezer",
];

/// The v1 controllers a cgroup gets a directory in only when a limit
/// needs them (device rules, huge pages, network class and priority); a
/// process joining a container joins these too.
pub(crate) const ON_DEMAND: [&str; 4] = ["devices", "hugetlb", "net_cls", "net_prio"];

/// The v1 name of a controller named as in v2 (`io` is v1's `blkio`).
pub(crate) fn v1_name(v2: &str) -> &str {
    match v2 {
        "io" => "blkio",
        c => c,
    }
}

/// One directory of a cgroup in one v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct V1Dir {
    /// The controllers of its hierarchy.
    pub controllers: Vec<String>,
    /// The cgroup directory.
    pub path: PathBuf,
    /// The hierarchy's mount point.
    pub mount: PathBuf,
}

impl V1Dir {
    pub(crate) fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

/// A cgroup's directories in the v1 hierarchies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct V1Dirs {
    pub dirs: Vec<V1Dir>,
}

fn write_err(path: &Path, value: &str, source: io::Error) -> Error {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    Error::Write {
        path: path.to_path_buf(),
        value: value.to_string(),
        hint: write_hint(name, &source),
        source,
    }
}

/// The usual causes of a refused v1 write.
pub(crate) fn write_hint(name: &str, e: &io::Error) -> Option<&'static str> {
    match (name, e.raw_os_error()) {
        ("cgroup.procs", Some(libc::ENOSPC)) => Some(
            "a cgroup v1 cpuset cgroup takes tasks only once cpuset.cpus and cpuset.mems are \
             both set (a cpuset with no mems, or no cpus, refuses them)",
        ),
        ("cgroup.procs", Some(libc::EINVAL)) => Some(
            "a realtime task (SCHED_FIFO, SCHED_RR) joins a cgroup v1 cpu cgroup only when the \
             cgroup has a realtime budget (cpu.rt_runtime_us > 0, which a new cgroup lacks): \
             give it one (Resources::cpu_rt_runtime) or spawn from a thread of normal policy",
        ),
        ("memory.limit_in_bytes" | "memory.memsw.limit_in_bytes", Some(libc::EINVAL)) => Some(
            "cgroup v1 requires memory.memsw.limit_in_bytes (memory plus swap) to be at least \
             memory.limit_in_bytes",
        ),
        (
            "blkio.weight_device" | "blkio.bfq.weight_device" | "blkio.bfq.weight",
            Some(libc::EOPNOTSUPP | libc::EINVAL),
        ) => Some(
            "the device's I/O scheduler offers no per-device weight: select bfq for it \
             (/sys/block/<dev>/queue/scheduler, a host-wide setting)",
        ),
        ("memory.limit_in_bytes", Some(libc::EBUSY)) => {
            Some("the cgroup already uses more memory than the new limit and could not reclaim it")
        }
        ("memory.kmem.limit_in_bytes", Some(libc::EOPNOTSUPP | libc::EINVAL)) => Some(
            "this kernel refuses kernel memory limits: they were deprecated in Linux 5.4 and \
             removed in 6.1 (memory.kmem.limit_in_bytes stays, read-only in effect); kernel \
             memory is charged to memory.limit_in_bytes instead",
        ),
        ("cpu.rt_runtime_us" | "cpu.rt_period_us", Some(libc::EINVAL | libc::EBUSY)) => Some(
            "realtime runtime must fit the parent's: the parent's cpu.rt_runtime_us must be at \
             least the sum of its children's (the root has 950000 of 1000000 µs by default; \
             new cgroups have 0), and runtime may not exceed the period",
        ),
        ("freezer.state", Some(libc::ENOENT)) => Some("the freezer controller is not mounted"),
        (_, Some(libc::ENOENT)) => Some(
            "the file does not exist: the kernel lacks this v1 feature (e.g. \
             memory.memsw.* needs swap accounting, cpu.rt_* needs CONFIG_RT_GROUP_SCHED, \
             blkio.weight needs the CFQ or BFQ scheduler on the device)",
        ),
        (_, Some(libc::EINVAL)) => Some("the kernel refused the value"),
        _ => None,
    }
}

pub(crate) fn read(path: &Path) -> Result<String, Error> {
    fs::read_to_string(path).map_err(|e| Error::io("read", path, e))
}

pub(crate) fn read_optional(path: &Path) -> Result<Option<String>, Error> {
    match fs::read_to_string(path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io("read", path, e)),
    }
}

pub(crate) fn write_raw(path: &Path, value: &str) -> io::Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .truncate(true)
        // Unit tests run on plain directories: files appear on first write.
        .create(cfg!(test))
        .open(path)?;
    let n = f.write(value.as_bytes())?;
    if n != value.len() {
        return Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("short write: {n} of {} bytes", value.len()),
        ));
    }
    Ok(())
}

/// Writes `value` to `path` in one `write(2)`; errors name file and value.
pub(crate) fn write(path: &Path, value: &str) -> Result<(), Error> {
    write_raw(path, value).map_err(|e| write_err(path, value, e))
}

/// Writes each `(file, value)` of `dir` in order, one `write(2)` a value,
/// through one open file for a run of values to the same file (the v1
/// devices rules: `a` to `devices.deny`, then a dozen `devices.allow`
/// lines in two opens instead of thirteen; a cgroup file takes each
/// `write(2)` as one value whatever the file offset). Errors name the file
/// and the value, as [`write`].
pub(crate) fn write_each(dir: &Path, writes: &[(&'static str, String)]) -> Result<(), Error> {
    let mut open: Option<(&str, PathBuf, fs::File)> = None;
    for (file, value) in writes {
        if !matches!(&open, Some((f, _, _)) if f == file) {
            let path = dir.join(file);
            if cfg!(test) {
                // Unit tests run on plain files, which keep every write:
                // one open each, so a file holds its last value.
                write(&path, value)?;
                continue;
            }
            let f = fs::OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(&path)
                .map_err(|e| write_err(&path, value, e))?;
            open = Some((file, path, f));
        }
        if let Some((_, path, f)) = &mut open {
            match f.write(value.as_bytes()) {
                Ok(n) if n == value.len() => {}
                Ok(n) => {
                    let e = io::Error::new(
                        io::ErrorKind::WriteZero,
                        format!("short write: {n} of {} bytes", value.len()),
                    );
                    return Err(write_err(path, value, e));
                }
                Err(e) => return Err(write_err(path, value, e)),
            }
        }
    }
    Ok(())
}

/// Copies `cpuset.cpus` and `cpuset.mems` from the parent where they are
/// empty (a new v1 cpuset cgroup starts with both empty).
fn init_cpuset(dir: &Path) -> Result<(), Error> {
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    for f in ["cpuset.cpus", "cpuset.mems"] {
        // (Absent only on the plain directories unit tests use.)
        let own = read_optional(&dir.join(f))?.unwrap_or_default();
        if own.trim().is_empty() {
            let theirs = read(&parent.join(f))?;
            write(&dir.join(f), theirs.trim())?;
        }
    }
    Ok(())
}

/// `mkdir -p` of `mount/rel` (never above `mount`), initialising each new
/// cpuset level.
fn mkdir_parents(m: &V1Mount, rel: &Path) -> Result<PathBuf, Error> {
    let cpuset = m.controllers.iter().any(|c| c == "cpuset");
    let mut dir = m.mount_point.clone();
    for c in rel.components() {
        let Component::Normal(c) = c else {
            return Err(Error::NotInHierarchy {
                path: m.mount_point.join(rel),
                mount: m.mount_point.clone(),
            });
        };
        dir.push(c);
        match fs::create_dir(&dir) {
            Ok(()) => {
                if cpuset {
                    init_cpuset(&dir)?;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                if cpuset {
                    init_cpuset(&dir)?;
                }
            }
            Err(e) => return Err(Error::io("mkdir", &dir, e)),
        }
    }
    Ok(dir)
}

/// `mkdir_parents`, then `mkdir` of `name` in the last one; starts over (at
/// most [`MKDIR_ATTEMPTS`](super::MKDIR_ATTEMPTS) times) when a parent
/// vanished meanwhile (`ENOENT`: another process removed it while empty).
fn mkdir_child(m: &V1Mount, rel: &Path, name: &str) -> Result<PathBuf, Error> {
    let mut attempt = 1;
    loop {
        let r = mkdir_parents(m, rel).and_then(|parent| {
            let path = parent.join(name);
            fs::create_dir(&path)
                .map(|()| path.clone())
                .map_err(|e| Error::io("mkdir", &path, e))
        });
        match r {
            Err(Error::Io { ref source, .. } | Error::Write { ref source, .. })
                if source.kind() == io::ErrorKind::NotFound && attempt < super::MKDIR_ATTEMPTS =>
            {
                attempt += 1;
            }
            r => return r,
        }
    }
}

impl V1Dirs {
    /// Creates `rel_parent/name` in every v1 hierarchy of `hierarchy` that
    /// binds one of `controllers` (each hierarchy once). On an error the
    /// directories made so far are removed again.
    ///
    /// # Errors
    ///
    /// [`Error::ControllerUnavailable`] when a controller has no v1
    /// hierarchy; [`Error::Io`] (`mkdir`) naming the directory (it exists
    /// already, or cannot be made); [`Error::Write`] initialising a cpuset.
    pub(crate) fn create(
        hierarchy: &Hierarchy,
        controllers: &[&str],
        rel_parent: &Path,
        name: &str,
    ) -> Result<V1Dirs, Error> {
        let mut dirs = V1Dirs::default();
        if let Err(e) = dirs.add(hierarchy, controllers, rel_parent, name) {
            dirs.rmdir_all();
            return Err(e);
        }
        Ok(dirs)
    }

    /// Adds the directories for `controllers` not present yet; returns the
    /// new ones' indexes.
    pub(crate) fn add(
        &mut self,
        hierarchy: &Hierarchy,
        controllers: &[&str],
        rel_parent: &Path,
        name: &str,
    ) -> Result<Vec<usize>, Error> {
        let mut added = Vec::new();
        for c in controllers {
            if self.dir_of(c).is_some() {
                continue;
            }
            let m = hierarchy
                .v1_mount_of(c)
                .ok_or_else(|| Error::ControllerUnavailable {
                    controller: c.to_string(),
                    file: PathBuf::from("/proc/self/mountinfo"),
                    available: hierarchy.v1_controllers().join(" "),
                    hint: Some("no cgroup v1 hierarchy binds this controller on this host"),
                })?;
            let path = mkdir_child(m, rel_parent, name)?;
            self.dirs.push(V1Dir {
                controllers: m.controllers.clone(),
                path: path.clone(),
                mount: m.mount_point.clone(),
            });
            added.push(self.dirs.len() - 1);
            if m.controllers.iter().any(|c| c == "cpuset") {
                init_cpuset(&path)?;
            }
        }
        Ok(added)
    }

    /// Best-effort `rmdir` of every directory (for rollbacks).
    pub(crate) fn rmdir_all(&self) {
        for d in &self.dirs {
            let _ = fs::remove_dir(&d.path);
        }
    }

    /// The directory of the hierarchy binding `controller`.
    pub(crate) fn dir_of(&self, controller: &str) -> Option<&V1Dir> {
        self.dirs.iter().find(|d| d.has(controller))
    }

    /// Writes `pid` into `cgroup.procs` of every directory.
    ///
    /// # Errors
    ///
    /// [`Error::Write`] naming the first `cgroup.procs` that refused it.
    pub(crate) fn attach(&self, pid: u32) -> Result<(), Error> {
        let v = pid.to_string();
        for d in &self.dirs {
            write(&d.path.join("cgroup.procs"), &v)?;
        }
        Ok(())
    }

    /// Opens `tasks` of every directory for writing (close-on-exec), for a
    /// new process that moves itself in ([`Self::attach`] moves another).
    ///
    /// A single-threaded process that writes `0` to a v1 `tasks` file
    /// moves itself without the kernel's global `cgroup_threadgroup_rwsem`
    /// write lock, which a `cgroup.procs` write (or a `tasks` write naming
    /// another pid) takes, and whose `percpu_down_write` waits for an RCU
    /// grace period: 8–12 ms per spawn on a 2-core VM, against ~30 µs
    /// (kernel/cgroup/cgroup.c, `cgroup_procs_write_start`: "If we migrate a
    /// single thread ... we can skip the global lock"). The kernel checks
    /// the writer against the credentials the file was opened with
    /// (`__cgroup1_procs_write`), so the child may already be in its own
    /// user namespace.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the `tasks` file that could not be opened.
    pub(crate) fn open_tasks(&self) -> Result<Vec<(OwnedFd, PathBuf)>, Error> {
        let mut v = Vec::with_capacity(self.dirs.len());
        for d in &self.dirs {
            // A process joining a frozen (or freezing) v1 freezer cgroup
            // stops in the kernel right after its write, before its exec,
            // and cannot even die until the cgroup is thawed: the spawn
            // would wait for ever. Refused before any process exists.
            if d.has("freezer") {
                let state = d.path.join("freezer.state");
                if let Ok(t) = fs::read_to_string(&state) {
                    if t.trim() != "THAWED" {
                        return Err(Error::io(
                            "joining",
                            &state,
                            io::Error::other(format!(
                                "the cgroup is {} (paused): a process joining it would stop \
                                     before its exec and the spawn would wait until it is \
                                     thawed; thaw it first",
                                t.trim()
                            )),
                        ));
                    }
                }
            }
            let path = d.path.join("tasks");
            let f = fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .map_err(|e| Error::io("open", &path, e))?;
            v.push((OwnedFd::from(f), path));
        }
        Ok(v)
    }

    /// Pids of every directory and their descendants (deduplicated).
    pub(crate) fn all_procs(&self) -> Result<Vec<u32>, Error> {
        let mut v = Vec::new();
        for d in &self.dirs {
            super::procs_tree(&d.path, &mut v)?;
        }
        v.sort_unstable();
        v.dedup();
        Ok(v)
    }

    /// The freezer directory, if the cgroup has one.
    pub(crate) fn freezer(&self) -> Option<&Path> {
        self.dir_of("freezer").map(|d| d.path.as_path())
    }

    /// Waits until no directory holds a process; `false` on timeout.
    pub(crate) fn wait_until_empty(&self, timeout: Duration) -> Result<bool, Error> {
        let start = Instant::now();
        loop {
            if self.all_procs()?.is_empty() {
                return Ok(true);
            }
            if start.elapsed() >= timeout {
                return Ok(false);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Removes every directory (child cgroups depth-first), retrying
    /// `EBUSY` (a cgroup whose last task just exited) until `timeout`.
    pub(crate) fn remove(&self, timeout: Duration) -> Result<(), Error> {
        let mut first = None;
        for d in &self.dirs {
            if let Err(e) = remove_tree(&d.path, timeout) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

fn remove_tree(dir: &Path, timeout: Duration) -> Result<(), Error> {
    // The usual case first: no child cgroup, no task, and `rmdir` is all
    // (the kernel refuses it with `EBUSY` otherwise, then the walk below
    // runs). Saves listing the directory's ~30 interface files.
    match fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    // Child cgroups depth first, by descriptor (they may lie deeper than
    // PATH_MAX), retrying `EBUSY` until `timeout`.
    super::rmdir_tree(dir, timeout)
}

/// The v1 cgroups of process `pid` (from `/proc/<pid>/cgroup`) that differ
/// from this process's, in the hierarchies of [`V1_CONTROLLERS`]: what a
/// process joining `pid`'s container must also join (`docker exec`).
/// Paths outside the mounted part (`/../x` above our cgroup namespace) are
/// left out.
pub(crate) fn of_process(hierarchy: &Hierarchy, pid: i32) -> V1Dirs {
    let read = |p: &str| fs::read_to_string(p).unwrap_or_default();
    let (theirs, ours) = (
        read(&format!("/proc/{pid}/cgroup")),
        read("/proc/self/cgroup"),
    );
    let path_of = |text: &str, m: &V1Mount| -> Option<String> {
        text.lines().find_map(|l| {
            let mut it = l.splitn(3, ':');
            let (_, cs, p) = (it.next()?, it.next()?, it.next()?);
            let cs: Vec<&str> = cs.split(',').collect();
            (cs.len() == m.controllers.len()
                && m.controllers.iter().all(|c| cs.contains(&c.as_str())))
            .then(|| p.to_string())
        })
    };
    let mut dirs = V1Dirs::default();
    for m in hierarchy.v1_mounts() {
        if !m
            .controllers
            .iter()
            .any(|c| V1_CONTROLLERS.contains(&c.as_str()) || ON_DEMAND.contains(&c.as_str()))
        {
            continue;
        }
        let Some(t) = path_of(&theirs, m) else {
            continue;
        };
        if path_of(&ours, m).as_deref() == Some(t.as_str()) {
            continue;
        }
        let Ok(rel) = Path::new(&t).strip_prefix(&m.root) else {
            continue;
        };
        if !rel.components().all(|c| matches!(c, Component::Normal(_))) {
            continue;
        }
        dirs.dirs.push(V1Dir {
            controllers: m.controllers.clone(),
            path: m.mount_point.join(rel),
            mount: m.mount_point.clone(),
        });
    }
    dirs
}

// ------------------------------------------------------------------ freezer

/// The v1 freezer state of a cgroup (`freezer.state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FreezerState {
    /// Running.
    Thawed,
    /// Some tasks are not frozen yet.
    Freezing,
    /// Every task is frozen.
    Frozen,
}

/// Reads `freezer.state` of `dir`.
pub(crate) fn freezer_state(dir: &Path) -> Result<FreezerState, Error> {
    let p = dir.join("freezer.state");
    let t = read(&p)?;
    match t.trim() {
        "THAWED" => Ok(FreezerState::Thawed),
        "FREEZING" => Ok(FreezerState::Freezing),
        "FROZEN" => Ok(FreezerState::Frozen),
        _ => Err(Error::Malformed {
            path: p,
            content: t,
        }),
    }
}

/// Writes `FROZEN` (again, as runc does, while tasks are caught in
/// `FREEZING`) until the state reads `FROZEN`; `false` on timeout (the
/// cgroup is then thawed again).
pub(crate) fn freeze(dir: &Path, timeout: Duration) -> Result<bool, Error> {
    let p = dir.join("freezer.state");
    let start = Instant::now();
    loop {
        write(&p, "FROZEN")?;
        if freezer_state(dir)? == FreezerState::Frozen {
            return Ok(true);
        }
        if start.elapsed() >= timeout {
            write(&p, "THAWED")?;
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Writes `THAWED` and waits until the state says so.
pub(crate) fn thaw(dir: &Path, timeout: Duration) -> Result<bool, Error> {
    let p = dir.join("freezer.state");
    let start = Instant::now();
    loop {
        write(&p, "THAWED")?;
        if freezer_state(dir)? == FreezerState::Thawed {
            return Ok(true);
        }
        if start.elapsed() >= timeout {
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

// ------------------------------------------------------------- OOM events

/// An eventfd registered for OOM notifications of a v1 memory cgroup
/// (`cgroup.event_control` with `memory.oom_control`): readable each time
/// the cgroup hits OOM. The registration ends when it is dropped (the
/// kernel removes the event when the eventfd is closed).
#[derive(Debug)]
pub(crate) struct OomEventFd {
    efd: OwnedFd,
}

impl OomEventFd {
    /// Registers on the memory cgroup directory `dir`.
    pub(crate) fn register(dir: &Path) -> Result<OomEventFd, Error> {
        let ctl = dir.join("memory.oom_control");
        // SAFETY: plain syscall; the result is checked.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
        if efd < 0 {
            return Err(Error::io("eventfd", &ctl, io::Error::last_os_error()));
        }
        // SAFETY: eventfd returned a new descriptor that we own.
        let efd = unsafe { OwnedFd::from_raw_fd(efd) };
        let ofd = fs::File::open(&ctl).map_err(|e| Error::io("open", &ctl, e))?;
        let line = format!("{} {}", efd.as_raw_fd(), ofd.as_raw_fd());
        write(&dir.join("cgroup.event_control"), &line)?;
        Ok(OomEventFd { efd })
    }

    /// Waits up to `timeout` for a notification; consumes it.
    pub(crate) fn wait(&self, timeout: Duration) -> Result<bool, Error> {
        use nix::poll::{poll, PollFd, PollFlags};
        use std::os::fd::AsFd;
        let ms = timeout.as_millis().min(u16::MAX as u128) as u16;
        let mut fds = [PollFd::new(self.efd.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, ms) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => return Ok(false),
            Ok(_) => {}
            Err(e) => return Err(Error::io("poll", "eventfd (memory.oom_control)", e.into())),
        }
        let mut b = [0u8; 8];
        let mut f = fs::File::from(
            self.efd
                .try_clone()
                .map_err(|e| Error::io("dup", "eventfd (memory.oom_control)", e))?,
        );
        match f.read(&mut b) {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(false),
            Err(e) => Err(Error::io("read", "eventfd (memory.oom_control)", e)),
        }
    }
}

/// Waits until `oom_kill` of `memory.oom_control` in the v1 memory cgroup
/// `dir` exceeds `seen`: an eventfd registered first (so that no OOM
/// between the read and the wait is missed), then read, wait, read again.
/// Waits are capped at 50 ms: a missed notification only delays.
pub(crate) fn wait_for_oom_kill_after(
    dir: &Path,
    seen: u64,
    timeout: Duration,
) -> Result<Option<u64>, Error> {
    let ev = OomEventFd::register(dir)?;
    let ctl = dir.join("memory.oom_control");
    let start = Instant::now();
    loop {
        let n = parse_oom_control(&read(&ctl)?).oom_kill;
        if n > seen {
            return Ok(Some(n));
        }
        let left = timeout.saturating_sub(start.elapsed());
        if left.is_zero() {
            return Ok(None);
        }
        ev.wait(left.min(Duration::from_millis(50)))?;
    }
}

/// `memory.oom_control` of a v1 memory cgroup.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OomControl {
    /// `oom_kill_disable`: the OOM killer is disabled for the cgroup.
    pub oom_kill_disable: bool,
    /// `under_oom`: its tasks are paused at the limit right now.
    pub under_oom: bool,
    /// `oom_kill`: tasks OOM-killed so far (Linux 4.13+).
    pub oom_kill: u64,
}

/// Parses `memory.oom_control`.
pub(crate) fn parse_oom_control(text: &str) -> OomControl {
    let kv = super::stats::parse_flat_keyed(text);
    let get = |k: &str| {
        kv.iter()
            .find(|(x, _)| x == k)
            .map(|(_, v)| *v)
            .unwrap_or(0)
    };
    OomControl {
        oom_kill_disable: get("oom_kill_disable") == 1,
        under_oom: get("under_oom") == 1,
        oom_kill: get("oom_kill"),
    }
}

#[cfg(test)]
mod tests;
