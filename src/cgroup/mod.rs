//! cgroup v2: create a cgroup, put processes in it, limit, pause, kill,
//! measure and remove it.
//!
//! - [`hierarchy`]: where the cgroup2 is mounted (from
//!   `/proc/self/mountinfo`, never hard-coded), unified / hybrid / legacy
//!   hosts, available controllers, the caller's own cgroup.
//! - [`Cgroup`]: a handle over an open directory fd: [`create`](Cgroup::create),
//!   [`attach`](Cgroup::attach), [`procs`](Cgroup::procs),
//!   [`freeze`](Cgroup::freeze)/[`thaw`](Cgroup::thaw), [`kill`](Cgroup::kill),
//!   [`remove`](Cgroup::remove), [`apply`](Cgroup::apply) (also for
//!   `docker update`), and [`as_fd`](std::os::fd::AsFd::as_fd) for
//!   `clone3(CLONE_INTO_CGROUP)`.
//! - [`resources`]: typed limits covering every `docker run` resource flag.
//! - [`stats`]: usage, events, pressure, and blocking waits for events.
//!
//! # The default parent and the no-internal-processes rule
//!
//! In cgroup v2 a non-root cgroup that contains processes cannot enable
//! controllers for its children (`cgroup.subtree_control` write fails with
//! `EBUSY`). A process's own cgroup therefore usually cannot be the parent of
//! limited cgroups. [`Cgroup::create`] uses `<cgroup2 mount>/containment`
//! (see [`Hierarchy::default_parent`]), a cgroup that only ever holds child
//! cgroups, like docker's `/docker`. Pass another parent with
//! [`Cgroup::create_under`] (docker's `--cgroup-parent`), e.g. a delegated
//! subtree under systemd.
//!
//! # Hybrid hosts
//!
//! On a hybrid host (v1 controllers plus a cgroup2 such as
//! `/sys/fs/cgroup/unified`) the cgroup2 tracks processes and supports
//! freeze, kill, events and `CLONE_INTO_CGROUP`, but controllers bound to a
//! v1 hierarchy are not available on it: applying a limit that needs one
//! returns [`Error::ControllerUnavailable`] naming the controller and the
//! `cgroup.controllers` file that lacks it.
//!
//! # Spawn integration contract
//!
//! The builder holds a `CgroupConfig` (crate-private, `Default` = no cgroup)
//! filled from a public [`CgroupSpec`] by a `.cgroup(spec)` method. Before
//! `clone3`, in the parent, the spawn path calls `CgroupConfig::prepare()`,
//! which creates the cgroup (under `spec.parent` or the default parent, with
//! `spec.name` or a generated unique name), enables the controllers the
//! limits need and applies them, returning `Ok(Some(cgroup))` (or `Ok(None)`
//! when no cgroup was asked for). Every validation error surfaces there,
//! before any process exists. The spawn path then passes the directory fd
//! (`cgroup.as_fd()`, or an owned duplicate from [`Cgroup::try_clone_fd`]
//! for a plan's `cgroup_fd: Option<OwnedFd>`) as `clone_args.cgroup` with
//! `CLONE_INTO_CGROUP`; writes `spec.resources.child_oom_score_adj()` (if
//! any, formatted in the parent: no allocation in the child) to
//! `/proc/self/oom_score_adj` in the child (step `OomScoreAdj`); keeps the [`Cgroup`] in
//! the `Child`/`Container` for stats, update, freeze and kill, and, when
//! `spec.remove_on_exit` is set, calls [`Cgroup::remove`] after reaping the
//! child (after [`Cgroup::kill`] if other processes are left). If the spawn
//! fails after `prepare`, it removes the cgroup.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{self, OFlag};
use nix::sys::stat::Mode;

pub mod hierarchy;
pub mod resources;
pub(crate) mod spec;
pub mod stats;

pub use hierarchy::{Hierarchy, HierarchyKind};
pub use resources::{
    CpuMax, CpuSet, Device, HostInfo, IoLimit, IoLimitKind, MemoryLimit, OomScoreAdj, PidsLimit,
    Resources,
};
#[allow(unused_imports)]
pub(crate) use spec::CgroupConfig;
pub use spec::CgroupSpec;
pub use stats::{
    CpuStats, IoDeviceStats, MemoryEvents, MemoryStats, PidsStats, Pressure, PressureLine, Stats,
};

/// Errors of the cgroup layer. Each carries the path or value involved.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file operation on a cgroup failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// Writing a value into a cgroup interface file failed.
    #[error("writing {value:?} to {path}: {source}{}", hint_suffix(.hint))]
    Write {
        /// The file.
        path: PathBuf,
        /// The exact value written.
        value: String,
        /// The error.
        #[source]
        source: io::Error,
        /// The usual cause, when known.
        hint: Option<&'static str>,
    },
    /// A value is out of range, malformed, or does not fit this host.
    #[error("invalid {field} {value:?}: {reason}")]
    Invalid {
        /// The field or flag (`"memory"`, `"cpuset_cpus"`, `"--cpus"` …).
        field: &'static str,
        /// The value as given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// A `docker run` flag that cgroup v2 has no equivalent for.
    #[error("{flag} has no cgroup v2 equivalent: {reason}")]
    NoV2Equivalent {
        /// The docker flag.
        flag: &'static str,
        /// What v2 does instead.
        reason: &'static str,
    },
    /// A limit needs a controller that the hierarchy does not offer here.
    #[error("the {controller} controller is not available: {file} lists only {available:?}{}", hint_suffix(.hint))]
    ControllerUnavailable {
        /// The controller (`"memory"`).
        controller: String,
        /// The `cgroup.controllers` file that lacks it.
        file: PathBuf,
        /// What that file lists.
        available: String,
        /// Why, when known (bound to a v1 hierarchy on a hybrid host).
        hint: Option<&'static str>,
    },
    /// No cgroup2 hierarchy is mounted (a legacy, v1-only host).
    #[error("no cgroup2 hierarchy is mounted (see /proc/self/mountinfo)")]
    NoCgroup2,
    /// A path that should be inside the cgroup2 hierarchy is not.
    #[error("{path} is not inside the cgroup2 hierarchy mounted at {mount}")]
    NotInHierarchy {
        /// The path.
        path: PathBuf,
        /// The cgroup2 mount point.
        mount: PathBuf,
    },
    /// A cgroup interface file holds text that cannot be parsed.
    #[error("unexpected content in {path}: {content:?}")]
    Malformed {
        /// The file.
        path: PathBuf,
        /// The offending text.
        content: String,
    },
    /// A wait for a cgroup state (frozen, empty) timed out.
    #[error("timed out after {waited:?} waiting for {what} in {path}")]
    Timeout {
        /// What was awaited (`"frozen 1"`, `"populated 0"`).
        what: &'static str,
        /// The cgroup directory.
        path: PathBuf,
        /// How long we waited.
        waited: Duration,
    },
}

fn hint_suffix(h: &Option<&'static str>) -> String {
    match h {
        Some(h) => format!("; hint: {h}"),
        None => String::new(),
    }
}

impl Error {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Error {
        Error::Io {
            op,
            path: path.into(),
            source,
        }
    }

    /// The field an [`Error::Invalid`] names.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            Error::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// How long waits for a cgroup state (frozen, thawed, empty) last by default.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A cgroup v2 directory, held open.
///
/// The handle keeps an `O_DIRECTORY | O_CLOEXEC` descriptor of the cgroup
/// (interface files are opened relative to it with `openat`) and its path.
/// Dropping it closes the descriptor; it does not remove the cgroup (see
/// [`Cgroup::remove`]).
#[derive(Debug)]
pub struct Cgroup {
    dir: OwnedFd,
    path: PathBuf,
    root: PathBuf,
    /// The cgroup path the mount at `root` shows (mountinfo's root field).
    root_cgroup: PathBuf,
    timeout: Duration,
}

fn open_dir(path: &Path) -> Result<OwnedFd, Error> {
    fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open", path, e.into()))
}

fn check_name(name: &str) -> Result<(), Error> {
    if name.is_empty()
        || name == "."
        || name == ".."
        || name.contains('/')
        || name.contains('\0')
        || name.contains('\n')
    {
        return Err(Error::Invalid {
            field: "cgroup name",
            value: name.to_string(),
            reason: "must be one non-empty path component without '/', NUL or newline".into(),
        });
    }
    Ok(())
}

impl Cgroup {
    /// Creates the cgroup `name` under the default parent,
    /// `<cgroup2 mount>/containment` (created when absent; see the module
    /// docs for why).
    ///
    /// # Errors
    ///
    /// [`Error::NoCgroup2`] on a legacy host; [`Error::Io`] (`mkdir`) when
    /// the cgroup exists already or cannot be created.
    pub fn create(name: &str) -> Result<Cgroup, Error> {
        Cgroup::create_in(&Hierarchy::detect()?, None, name)
    }

    /// Creates the cgroup `name` under `parent`, a directory inside the
    /// cgroup2 mount (created with its missing ancestors, like docker's
    /// `--cgroup-parent`).
    ///
    /// # Errors
    ///
    /// [`Error::NotInHierarchy`] when `parent` is outside the cgroup2 mount;
    /// [`Error::Io`] (`mkdir`) when the cgroup exists already or cannot be
    /// created.
    pub fn create_under(parent: impl AsRef<Path>, name: &str) -> Result<Cgroup, Error> {
        Cgroup::create_in(&Hierarchy::detect()?, Some(parent.as_ref()), name)
    }

    /// Creates `name` under `parent` (or the hierarchy's default parent) of
    /// an explicit hierarchy; with [`Hierarchy::at`] this works on a
    /// temporary directory, which is how the file formats are unit-tested.
    ///
    /// # Errors
    ///
    /// As [`Cgroup::create_under`].
    pub fn create_in(
        hierarchy: &Hierarchy,
        parent: Option<&Path>,
        name: &str,
    ) -> Result<Cgroup, Error> {
        check_name(name)?;
        let mount = hierarchy.require_mount()?.to_path_buf();
        let parent = match parent {
            Some(p) => p.to_path_buf(),
            None => hierarchy.default_parent()?,
        };
        let rel = parent
            .strip_prefix(&mount)
            .map_err(|_| Error::NotInHierarchy {
                path: parent.clone(),
                mount: mount.clone(),
            })?;
        // mkdir -p below the mount, one component at a time (never above it).
        let mut dir = mount.clone();
        for c in rel.components() {
            let std::path::Component::Normal(c) = c else {
                return Err(Error::NotInHierarchy {
                    path: parent.clone(),
                    mount: mount.clone(),
                });
            };
            dir.push(c);
            match std::fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(Error::io("mkdir", &dir, e)),
            }
        }
        let path = parent.join(name);
        std::fs::create_dir(&path).map_err(|e| Error::io("mkdir", &path, e))?;
        let dir = open_dir(&path)?;
        Ok(Cgroup {
            dir,
            path,
            root: mount,
            root_cgroup: hierarchy.mount_root().to_path_buf(),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Opens an existing cgroup directory inside this host's cgroup2 mount.
    ///
    /// # Errors
    ///
    /// [`Error::NotInHierarchy`] when the path is outside the mount;
    /// [`Error::Io`] when it cannot be opened.
    pub fn open(path: impl AsRef<Path>) -> Result<Cgroup, Error> {
        let h = Hierarchy::detect()?;
        let mount = h.require_mount()?;
        let path = path.as_ref();
        let outside = || Error::NotInHierarchy {
            path: path.to_path_buf(),
            mount: mount.to_path_buf(),
        };
        if !path.starts_with(mount) {
            return Err(outside());
        }
        let mut cg = Cgroup::open_in(mount, path)?;
        let fs =
            nix::sys::statfs::fstatfs(&cg.dir).map_err(|e| Error::io("fstatfs", path, e.into()))?;
        if fs.filesystem_type() != nix::sys::statfs::CGROUP2_SUPER_MAGIC {
            return Err(outside());
        }
        cg.root_cgroup = h.mount_root().to_path_buf();
        Ok(cg)
    }

    /// Opens `path` treating `root` as the top of the hierarchy (whose
    /// `cgroup.subtree_control` is the first to enable controllers in). No
    /// check that either is a real cgroup2: tests point both at a temporary
    /// directory.
    ///
    /// # Errors
    ///
    /// [`Error::NotInHierarchy`] when `path` is not below `root`;
    /// [`Error::Io`] when it cannot be opened.
    pub fn open_in(root: impl AsRef<Path>, path: impl AsRef<Path>) -> Result<Cgroup, Error> {
        let (root, path) = (root.as_ref(), path.as_ref());
        if !path.starts_with(root) {
            return Err(Error::NotInHierarchy {
                path: path.to_path_buf(),
                mount: root.to_path_buf(),
            });
        }
        Ok(Cgroup {
            dir: open_dir(path)?,
            path: path.to_path_buf(),
            root: root.to_path_buf(),
            root_cgroup: PathBuf::from("/"),
            timeout: DEFAULT_TIMEOUT,
        })
    }

    /// Sets how long [`freeze`](Self::freeze), [`thaw`](Self::thaw),
    /// [`kill`](Self::kill)'s fallback and [`remove`](Self::remove) wait
    /// (default [`DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: Duration) -> Cgroup {
        self.timeout = timeout;
        self
    }

    /// The cgroup's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The cgroup's path inside the hierarchy, as the `0::` line of
    /// `/proc/<pid>/cgroup` shows it for a process in it (`/containment/web`;
    /// relative to the reader's cgroup namespace).
    pub fn hierarchy_path(&self) -> PathBuf {
        let rel = self.path.strip_prefix(&self.root).unwrap_or(&self.path);
        self.root_cgroup.join(rel)
    }

    // ------------------------------------------------------------ file I/O

    fn file_path(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    fn open_file(&self, name: &str, flags: OFlag) -> io::Result<File> {
        let fd = fcntl::openat(
            self.dir.as_fd(),
            name,
            flags | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(io::Error::from)?;
        Ok(File::from(fd))
    }

    /// Reads an interface file (`"memory.current"`) of this cgroup.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file.
    pub fn read(&self, name: &str) -> Result<String, Error> {
        let mut s = String::new();
        self.open_file(name, OFlag::O_RDONLY)
            .and_then(|mut f| f.read_to_string(&mut s))
            .map_err(|e| Error::io("read", self.file_path(name), e))?;
        Ok(s)
    }

    /// Reads an interface file, `None` when it does not exist (a controller
    /// not enabled, a file newer than the kernel).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file for errors other than absence.
    pub fn read_optional(&self, name: &str) -> Result<Option<String>, Error> {
        let mut s = String::new();
        match self
            .open_file(name, OFlag::O_RDONLY)
            .and_then(|mut f| f.read_to_string(&mut s))
        {
            Ok(_) => Ok(Some(s)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io("read", self.file_path(name), e)),
        }
    }

    /// Writes `value` to an interface file in one `write(2)`, as the kernel
    /// expects. Errors are never ignored.
    ///
    /// # Errors
    ///
    /// [`Error::Write`] naming the file and the value.
    pub fn write(&self, name: &str, value: &str) -> Result<(), Error> {
        self.write_raw(name, value).map_err(|e| Error::Write {
            path: self.file_path(name),
            value: value.to_string(),
            hint: write_hint(name, &e),
            source: e,
        })
    }

    fn write_raw(&self, name: &str, value: &str) -> io::Result<()> {
        let mut f = self.open_file(name, OFlag::O_WRONLY | OFlag::O_TRUNC)?;
        let n = f.write(value.as_bytes())?;
        if n != value.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short write: {n} of {} bytes", value.len()),
            ));
        }
        Ok(())
    }

    fn events(&self) -> Result<Vec<(String, u64)>, Error> {
        let text = self.read("cgroup.events")?;
        Ok(stats::parse_flat_keyed(&text))
    }

    fn event(&self, key: &str) -> Result<Option<u64>, Error> {
        Ok(self
            .events()?
            .into_iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v))
    }

    // ----------------------------------------------------------- processes

    /// Moves a process into this cgroup (writes its pid to `cgroup.procs`).
    ///
    /// Costs a `synchronize_rcu` in the kernel (~13 ms on an idle host);
    /// starting the child there with `CLONE_INTO_CGROUP` costs ~40 µs.
    ///
    /// # Errors
    ///
    /// [`Error::Write`] naming `cgroup.procs` and the pid.
    pub fn attach(&self, pid: u32) -> Result<(), Error> {
        self.write("cgroup.procs", &pid.to_string())
    }

    /// The processes in this cgroup (not its children), from `cgroup.procs`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] or [`Error::Malformed`] naming `cgroup.procs`.
    pub fn procs(&self) -> Result<Vec<u32>, Error> {
        let text = self.read("cgroup.procs")?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                l.trim().parse().map_err(|_| Error::Malformed {
                    path: self.file_path("cgroup.procs"),
                    content: l.to_string(),
                })
            })
            .collect()
    }

    /// Whether any process lives in this cgroup or its descendants
    /// (`populated` of `cgroup.events`).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming `cgroup.events`.
    pub fn is_populated(&self) -> Result<bool, Error> {
        Ok(self.event("populated")? == Some(1))
    }

    /// Whether the cgroup is frozen (`frozen` of `cgroup.events`).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming `cgroup.events`.
    pub fn is_frozen(&self) -> Result<bool, Error> {
        Ok(self.event("frozen")? == Some(1))
    }

    /// Freezes every process of the cgroup and its descendants (`docker
    /// pause`): writes `1` to `cgroup.freeze` and waits until
    /// `cgroup.events` says `frozen 1`.
    ///
    /// # Errors
    ///
    /// [`Error::Write`] naming `cgroup.freeze`; [`Error::Timeout`] when the
    /// cgroup is not frozen within the timeout.
    pub fn freeze(&self) -> Result<(), Error> {
        self.write("cgroup.freeze", "1")?;
        if !self.wait_event("frozen", 1, self.timeout)? {
            return Err(self.timeout_error("frozen 1"));
        }
        Ok(())
    }

    /// Thaws the cgroup (`docker unpause`): writes `0` to `cgroup.freeze` and
    /// waits until `cgroup.events` says `frozen 0`.
    ///
    /// # Errors
    ///
    /// As [`freeze`](Self::freeze).
    pub fn thaw(&self) -> Result<(), Error> {
        self.write("cgroup.freeze", "0")?;
        if !self.wait_event("frozen", 0, self.timeout)? {
            return Err(self.timeout_error("frozen 0"));
        }
        Ok(())
    }

    fn timeout_error(&self, what: &'static str) -> Error {
        Error::Timeout {
            what,
            path: self.path.clone(),
            waited: self.timeout,
        }
    }

    /// Sends `SIGKILL` to every process of the cgroup and its descendants.
    ///
    /// Writes `1` to `cgroup.kill` (Linux 5.14+), which the kernel applies
    /// atomically, so no fork can escape. On older kernels (no
    /// `cgroup.kill`) it falls back to [`kill_each`](Self::kill_each).
    /// Does not wait for the processes to be gone: use
    /// [`wait_until_empty`](Self::wait_until_empty) (or
    /// [`remove`](Self::remove), which waits).
    ///
    /// # Errors
    ///
    /// [`Error::Write`] naming `cgroup.kill`, or the fallback's errors.
    pub fn kill(&self) -> Result<(), Error> {
        match self.write_raw("cgroup.kill", "1") {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => self.kill_each(),
            Err(e) => Err(Error::Write {
                path: self.file_path("cgroup.kill"),
                value: "1".into(),
                hint: None,
                source: e,
            }),
        }
    }

    /// The fallback of [`kill`](Self::kill) for kernels before 5.14: freeze
    /// the cgroup when `cgroup.freeze` exists (5.2+, so that nothing forks
    /// meanwhile), then `kill(pid, SIGKILL)` every pid listed in
    /// `cgroup.procs` of the cgroup and its descendants, again and again
    /// until they are all gone or the timeout passes, then thaw.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] reading `cgroup.procs`; [`Error::Timeout`] when
    /// processes remain.
    pub fn kill_each(&self) -> Result<(), Error> {
        let freezable = self.read_optional("cgroup.freeze")?.is_some();
        if freezable {
            // Frozen tasks still die of SIGKILL in cgroup v2.
            self.write("cgroup.freeze", "1")?;
        }
        let result = self.kill_loop();
        if freezable {
            self.write("cgroup.freeze", "0")?;
        }
        result
    }

    fn kill_loop(&self) -> Result<(), Error> {
        use nix::sys::signal::{kill, Signal};
        let start = Instant::now();
        loop {
            let pids = self.all_procs()?;
            if pids.is_empty() {
                return Ok(());
            }
            for pid in pids {
                match kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGKILL) {
                    Ok(()) | Err(Errno::ESRCH) => {}
                    Err(e) => return Err(Error::io("kill", format!("/proc/{pid}"), e.into())),
                }
            }
            if start.elapsed() > self.timeout {
                return Err(self.timeout_error("cgroup.procs to become empty"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Pids of this cgroup and all its descendants.
    fn all_procs(&self) -> Result<Vec<u32>, Error> {
        let mut v = self.procs()?;
        for child in self.children()? {
            let c = Cgroup::open_in(&self.root, &child)?;
            v.extend(c.all_procs()?);
        }
        Ok(v)
    }

    /// Child cgroup directories.
    fn children(&self) -> Result<Vec<PathBuf>, Error> {
        let rd = std::fs::read_dir(&self.path).map_err(|e| Error::io("read_dir", &self.path, e))?;
        let mut v = Vec::new();
        for e in rd {
            let e = e.map_err(|e| Error::io("read_dir", &self.path, e))?;
            let ft = e
                .file_type()
                .map_err(|er| Error::io("stat", e.path(), er))?;
            if ft.is_dir() {
                v.push(e.path());
            }
        }
        Ok(v)
    }

    /// Waits until no process is left in the cgroup or its descendants
    /// (`populated 0` in `cgroup.events`), woken by the kernel's
    /// notification on that file. Returns whether it became empty within
    /// `timeout`.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming `cgroup.events`.
    pub fn wait_until_empty(&self, timeout: Duration) -> Result<bool, Error> {
        self.wait_event("populated", 0, timeout)
    }

    /// Waits until `key` in `cgroup.events` equals `want`.
    fn wait_event(&self, key: &str, want: u64, timeout: Duration) -> Result<bool, Error> {
        self.wait_file("cgroup.events", timeout, |text| {
            stats::parse_flat_keyed(text)
                .iter()
                .any(|(k, v)| k == key && *v == want)
        })
    }

    /// Reads `file` until `done(content)` or the timeout. Between reads it
    /// sleeps in `poll(POLLPRI)` on the file: the kernel signals
    /// `cgroup.events` and `memory.events` changes that way
    /// (cgroup-v2.rst, "cgroup.events … a value change in this file
    /// generates a file modified event"). Polls are capped at 50 ms so that
    /// a missed notification only delays, never hangs.
    pub(crate) fn wait_file(
        &self,
        file: &str,
        timeout: Duration,
        mut done: impl FnMut(&str) -> bool,
    ) -> Result<bool, Error> {
        use nix::poll::{poll, PollFd, PollFlags};
        let path = self.file_path(file);
        let mut f = self
            .open_file(file, OFlag::O_RDONLY)
            .map_err(|e| Error::io("open", &path, e))?;
        let start = Instant::now();
        let mut buf = String::new();
        loop {
            buf.clear();
            f.rewind()
                .and_then(|_| f.read_to_string(&mut buf))
                .map_err(|e| Error::io("read", &path, e))?;
            if done(&buf) {
                return Ok(true);
            }
            let left = timeout.saturating_sub(start.elapsed());
            if left.is_zero() {
                return Ok(false);
            }
            let ms = left.as_millis().clamp(1, 50) as u16;
            let mut fds = [PollFd::new(f.as_fd(), PollFlags::POLLPRI)];
            match poll(&mut fds, ms) {
                Ok(_) | Err(Errno::EINTR) => {}
                Err(e) => return Err(Error::io("poll", &path, e.into())),
            }
        }
    }

    /// Removes the cgroup: waits (up to the timeout) until no process is
    /// left (`populated 0`), removes child cgroups depth-first, then
    /// `rmdir`s it. Kill the processes first ([`kill`](Self::kill)) if they
    /// would not exit by themselves.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] when processes remain; [`Error::Io`] (`rmdir`)
    /// naming the directory.
    pub fn remove(self) -> Result<(), Error> {
        self.remove_tree()
    }

    /// Kills every process ([`kill`](Self::kill)) and then
    /// [`remove`](Self::remove)s the cgroup: `docker rm -f`, and what a
    /// container with "remove on exit" does when it ends.
    ///
    /// # Errors
    ///
    /// As [`kill`](Self::kill) and [`remove`](Self::remove).
    pub fn destroy(self) -> Result<(), Error> {
        self.kill()?;
        self.remove()
    }

    fn remove_tree(&self) -> Result<(), Error> {
        if !self.wait_until_empty(self.timeout)? {
            return Err(self.timeout_error("populated 0"));
        }
        for child in self.children()? {
            Cgroup::open_in(&self.root, &child)?
                .with_timeout(self.timeout)
                .remove_tree()?;
        }
        // A cgroup whose last task just exited can briefly report EBUSY.
        let start = Instant::now();
        loop {
            match std::fs::remove_dir(&self.path) {
                Ok(()) => return Ok(()),
                Err(e)
                    if e.raw_os_error() == Some(libc::EBUSY) && start.elapsed() < self.timeout =>
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => return Err(Error::io("rmdir", &self.path, e)),
            }
        }
    }

    // ----------------------------------------------------------- resources

    /// Enables `controllers` for this cgroup: in every ancestor from the
    /// hierarchy root down to the parent, checks `cgroup.controllers` lists
    /// each one and writes `+name` to `cgroup.subtree_control` where it is
    /// not enabled yet. Only what is asked for is enabled.
    ///
    /// # Errors
    ///
    /// [`Error::ControllerUnavailable`] naming the controller and the
    /// `cgroup.controllers` file lacking it; [`Error::Write`] naming
    /// `cgroup.subtree_control` (with a hint for `EBUSY`: the
    /// no-internal-processes rule).
    pub fn enable_controllers(&self, controllers: &[&str]) -> Result<(), Error> {
        if controllers.is_empty() {
            return Ok(());
        }
        let rel = self
            .path
            .strip_prefix(&self.root)
            .map_err(|_| Error::NotInHierarchy {
                path: self.path.clone(),
                mount: self.root.clone(),
            })?;
        let mut ancestors = vec![self.root.clone()];
        let comps: Vec<&OsStr> = rel.iter().collect();
        let mut p = self.root.clone();
        for c in comps.iter().take(comps.len().saturating_sub(1)) {
            p.push(c);
            ancestors.push(p.clone());
        }
        if comps.is_empty() {
            ancestors.clear();
        }
        for a in &ancestors {
            let ag = Cgroup::open_in(&self.root, a)?;
            let available = ag.read("cgroup.controllers")?;
            let enabled = ag.read("cgroup.subtree_control")?;
            for c in controllers {
                if !available.split_whitespace().any(|x| x == *c) {
                    return Err(Error::ControllerUnavailable {
                        controller: c.to_string(),
                        file: a.join("cgroup.controllers"),
                        available: available.trim().to_string(),
                        hint: Some(
                            "the controller is not enabled in the parent's cgroup.subtree_control \
                             above this point, or (on a hybrid host) it is bound to a cgroup v1 \
                             hierarchy; limits need a pure cgroup v2 host",
                        ),
                    });
                }
                if !enabled.split_whitespace().any(|x| x == *c) {
                    ag.write("cgroup.subtree_control", &format!("+{c}"))?;
                }
            }
        }
        // The cgroup itself must now list them.
        let own = self.read("cgroup.controllers")?;
        for c in controllers {
            if !own.split_whitespace().any(|x| x == *c) {
                return Err(Error::ControllerUnavailable {
                    controller: c.to_string(),
                    file: self.file_path("cgroup.controllers"),
                    available: own.trim().to_string(),
                    hint: None,
                });
            }
        }
        Ok(())
    }

    /// Validates `resources` against this host, enables the controllers
    /// they need, and writes each file (see [`Resources::writes`]). Works on
    /// a running cgroup too (`docker update`): only fields that are set are
    /// written. The `oom_score_adj` is not a cgroup file and is not written.
    ///
    /// # Errors
    ///
    /// [`Error::Invalid`] naming the field; [`Error::ControllerUnavailable`];
    /// [`Error::Write`] naming the file and value of the first write that
    /// failed (earlier writes stay applied).
    pub fn apply(&self, resources: &Resources) -> Result<(), Error> {
        self.apply_with_host(resources, &HostInfo::detect()?)
    }

    /// [`apply`](Self::apply) with explicit host facts (for tests).
    ///
    /// # Errors
    ///
    /// As [`apply`](Self::apply).
    pub fn apply_with_host(&self, resources: &Resources, host: &HostInfo) -> Result<(), Error> {
        resources.validate(host)?;
        self.enable_controllers(&resources.controllers())?;
        for w in resources.writes() {
            self.write(w.file, &w.value)?;
        }
        Ok(())
    }
}

fn write_hint(name: &str, e: &io::Error) -> Option<&'static str> {
    match (name, e.raw_os_error()) {
        ("cgroup.subtree_control", Some(libc::EBUSY)) => Some(
            "no internal processes: a non-root cgroup that holds processes cannot enable \
             controllers for its children; use a parent without processes",
        ),
        ("cgroup.subtree_control", Some(libc::ENOENT)) => {
            Some("the controller is not available in this cgroup's parent")
        }
        ("cgroup.procs", Some(libc::ESRCH)) => Some("no such process"),
        ("io.weight", Some(libc::EOPNOTSUPP)) => Some(
            "a per-device io.weight needs the iocost controller enabled on that device \
             (`MAJ:MIN enable=1` in the root cgroup's io.cost.qos), a host-wide setting",
        ),
        ("cgroup.procs", Some(libc::EBUSY)) => {
            Some("no internal processes: this cgroup has controllers enabled for its children")
        }
        (_, Some(libc::ENOENT)) => Some(
            "the file does not exist: its controller is not enabled here, or the kernel is too old",
        ),
        (_, Some(libc::EINVAL)) => Some("the kernel refused the value"),
        _ => None,
    }
}

impl Cgroup {
    /// A new close-on-exec descriptor of the cgroup directory
    /// (`F_DUPFD_CLOEXEC`), for a spawn plan that owns its fds (the
    /// `cgroup` field of `clone3` with `CLONE_INTO_CGROUP`).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] (`dup`) naming the directory.
    pub fn try_clone_fd(&self) -> Result<OwnedFd, Error> {
        self.dir
            .try_clone()
            .map_err(|e| Error::io("dup", &self.path, e))
    }
}

impl AsFd for Cgroup {
    /// The directory descriptor, for `clone3`'s `cgroup` field with
    /// `CLONE_INTO_CGROUP`.
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }
}

#[cfg(test)]
mod tests;
