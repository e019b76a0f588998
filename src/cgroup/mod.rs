//! cgroups: create a cgroup, put processes in it, limit, pause, kill,
//! measure and remove it, on cgroup v2, hybrid and cgroup v1 hosts behind
//! one API ([`Backend`], chosen from the host or forced).
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
//! - [`v1`]: the cgroup v1 backend (one directory per v1 hierarchy).
//! - [`systemd`]: the systemd driver (each container a transient scope
//!   made over D-Bus, [`CgroupSpec::systemd`]; the `systemd` feature).
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
//! v1 hierarchy are not available on it. The default backend there,
//! [`Backend::Hybrid`], drives each controller where it is bound: a limit
//! whose controller the cgroup2 lacks is written in a directory of the same
//! relative path in its v1 hierarchy (`/sys/fs/cgroup/memory/containment/web`
//! beside `/sys/fs/cgroup/unified/containment/web`), and the processes join
//! it too. [`Backend::V2`] keeps to the cgroup2: such a limit is then
//! refused with [`Error::ControllerUnavailable`] naming the controller and
//! the `cgroup.controllers` file that lacks it. On a legacy (v1-only) host
//! [`Backend::V1`] uses the v1 hierarchies alone (see [`v1`]).
//!
//! Interface files are read and written by name through the handle
//! ([`read`](Cgroup::read), [`write`](Cgroup::write)): a file of a
//! controller driven in v1 (`memory.limit_in_bytes`) is opened in that
//! controller's directory.
//!
//! # Spawn integration contract
//!
//! A `Container` holds a `CgroupConfig` (crate-private, `Default` = no cgroup)
//! filled from a public [`CgroupSpec`] by a `.cgroup(spec)` method. Before
//! `clone3`, in the parent, the spawn path calls `CgroupConfig::prepare()`,
//! which creates the cgroup (under `spec.parent` or the default parent, with
//! `spec.name` or a generated unique name), enables the controllers the
//! limits need and applies them, returning `Ok(Some(cgroup))` (or `Ok(None)`
//! when no cgroup was asked for). Every validation error surfaces there,
//! before any process exists. The spawn path then passes the cgroup2
//! directory fd (`clone_into_fd()`: `None` for a [`Backend::V1`] cgroup) as
//! `clone_args.cgroup` with `CLONE_INTO_CGROUP`; when the cgroup has v1
//! directories (`needs_v1_attach()`), the child moves itself into each
//! first thing, writing `0` to their `tasks` files (`open_v1_tasks()`,
//! opened by the parent before clone), and a new cgroup namespace is
//! unshared by the child only then (rooted in those directories, not the
//! caller's); writes `spec.resources.child_oom_score_adj()` (if
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

pub mod devices;
pub mod hierarchy;
pub mod resources;
pub(crate) mod spec;
pub mod stats;
pub mod systemd;
pub mod v1;

pub use devices::{DeviceAccess, DeviceRule, DeviceType};
pub use hierarchy::{Hierarchy, HierarchyKind, V1Mount};
pub use resources::{
    CpuMax, CpuSet, Device, HostInfo, HugePageSize, IoLimit, IoLimitKind, MemoryLimit, OomScoreAdj,
    PidsLimit, Resources,
};
#[allow(unused_imports)]
pub(crate) use spec::CgroupConfig;
pub use spec::CgroupSpec;
pub use stats::{
    CpuStats, IoDeviceStats, MemoryEvents, MemoryStats, PidsStats, Pressure, PressureLine, Stats,
};
pub use systemd::{Manager, SystemdFailure, SystemdOptions};
pub use v1::{FreezerState, OomControl};

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
    /// A setting that cgroup v1 has no equivalent for (applied where a v1
    /// hierarchy drives its controller).
    #[error("{setting} has no cgroup v1 equivalent: {reason}")]
    NoV1Equivalent {
        /// The setting (`"memory_high"`).
        setting: &'static str,
        /// Why.
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
    /// A request to the systemd manager failed (the [`systemd`] driver).
    #[error("systemd {method} for {unit}: {failure}")]
    Systemd {
        /// The unit (`containment-web.scope`).
        unit: String,
        /// The request (`"StartTransientUnit"`, `"StopUnit"`).
        method: &'static str,
        /// What went wrong.
        failure: SystemdFailure,
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

/// Which cgroup version a [`Cgroup`] is driven through.
///
/// Chosen from the host by default ([`Backend::for_host`]); forced with
/// [`CgroupSpec::backend`] or [`Cgroup::create_with`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// cgroup v2 only: every controller must be available on the cgroup2
    /// (a pure v2 host; on a hybrid host limits are refused with
    /// [`Error::ControllerUnavailable`]).
    V2,
    /// The cgroup2 tracks the processes (`CLONE_INTO_CGROUP`, freeze,
    /// kill, events) and each controller is driven where it is bound: on
    /// the cgroup2 when it offers it, else in its v1 hierarchy (a directory
    /// there is made when a limit first needs it).
    Hybrid,
    /// cgroup v1 only: a directory in each v1 hierarchy of
    /// [`v1::V1_CONTROLLERS`] that is mounted (docker's layout), the
    /// freezer's the main one; processes join with `cgroup.procs` writes.
    V1,
}

impl Backend {
    /// The backend for a host: [`V2`](Backend::V2) on a unified host,
    /// [`Hybrid`](Backend::Hybrid) on a hybrid one, [`V1`](Backend::V1) on
    /// a legacy one.
    pub fn for_host(kind: HierarchyKind) -> Backend {
        match kind {
            HierarchyKind::Unified => Backend::V2,
            HierarchyKind::Hybrid => Backend::Hybrid,
            HierarchyKind::Legacy => Backend::V1,
        }
    }
}

/// The v1 side of a cgroup: its directories, and what is needed to add one
/// later (a hybrid cgroup gets a v1 directory when a limit first needs it).
#[derive(Debug)]
struct V1State {
    dirs: std::sync::RwLock<v1::V1Dirs>,
    hierarchy: Hierarchy,
    rel_parent: PathBuf,
    name: String,
}

/// A cgroup, held open: a cgroup v2 directory, and (on a hybrid or legacy
/// host) its directories in the cgroup v1 hierarchies.
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
    /// Whether `dir` is a cgroup2 directory (else the main v1 directory).
    main_v2: bool,
    /// The v1 directories (`Backend::Hybrid`, `Backend::V1`).
    v1: Option<Box<V1State>>,
    /// The transient scope that owns this cgroup (the systemd driver).
    #[cfg(feature = "systemd")]
    scope: Option<Box<systemd::Scope>>,
}

fn open_dir(path: &Path) -> Result<OwnedFd, Error> {
    fcntl::open(
        path,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| Error::io("open", path, e.into()))
}

/// The host path of a directory met by [`walk_tree`] (`top` and the names
/// on the way down), for error messages only: it may be longer than
/// `PATH_MAX`, and nothing opens it.
fn walked_path(top: &Path, names: &[std::ffi::CString]) -> PathBuf {
    let mut p = top.to_path_buf();
    p.extend(
        names
            .iter()
            .map(|n| <OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(n.as_bytes())),
    );
    p
}

/// How many times [`walk_tree`] looks a renamed child up again (by inode
/// number) before it gives up with `EAGAIN`: a directory renamed without
/// end must not hide it, nor keep the walk going forever.
const WALK_RELOOKUPS: u32 = 1000;

/// Walks the cgroup directory `top` and every child cgroup under it by
/// descriptor (`openat(2)` of each name, `..` back up; a cgroup directory
/// never moves to another parent): a container with a cgroup mount of its
/// own can nest child cgroups deeper than `PATH_MAX` bytes from `/`, where
/// a path can be neither opened nor removed (`ENAMETOOLONG`). One directory
/// is open at a time; each is listed once. `enter(dir, names)` runs on each
/// directory before its children (`names`: the path below `top`); `leave
/// (parent, name, names)` after a child and everything under it were
/// walked, with the parent's descriptor. A child removed meanwhile is
/// skipped; a child renamed meanwhile (cgroup v1 allows `rename(2)` within
/// the parent: a container with a cgroup mount of its own could otherwise
/// hide a directory, and the processes in it, from the walk) is found again
/// by its inode number, up to [`WALK_RELOOKUPS`] times, then
/// `EAGAIN`. Returns `false` when `top` does not exist.
pub(crate) fn walk_tree(
    top: &Path,
    mut enter: impl FnMut(&OwnedFd, &[std::ffi::CString]) -> Result<(), Error>,
    mut leave: impl FnMut(&OwnedFd, &std::ffi::CStr, &[std::ffi::CString]) -> Result<(), Error>,
) -> Result<bool, Error> {
    use std::ffi::CString;
    let dir_flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
    // The child directories of `dir` (listed once each) and their inode
    // numbers; `only`: stop at the one with that inode number.
    let subdirs = |dir: &OwnedFd,
                   names: &[CString],
                   only: Option<u64>|
     -> Result<Vec<(CString, u64)>, Error> {
        let mut list = nix::dir::Dir::openat(dir, ".", dir_flags, Mode::empty())
            .map_err(|e| Error::io("read_dir", walked_path(top, names), e.into()))?;
        let mut v = Vec::new();
        for e in list.iter() {
            let e = e.map_err(|e| Error::io("read_dir", walked_path(top, names), e.into()))?;
            let n = e.file_name();
            if n.to_bytes() == b"." || n.to_bytes() == b".." {
                continue;
            }
            let is_dir = match e.file_type() {
                Some(t) => t == nix::dir::Type::Directory,
                None => nix::sys::stat::fstatat(dir, n, nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW)
                    .is_ok_and(|st| st.st_mode & libc::S_IFMT == libc::S_IFDIR),
            };
            if is_dir && only.map_or(true, |i| i == e.ino()) {
                v.push((n.to_owned(), e.ino()));
                if only.is_some() {
                    break;
                }
            }
        }
        Ok(v)
    };
    let mut cur = match open_dir(top) {
        Ok(fd) => fd,
        Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            return Ok(false)
        }
        Err(e) => return Err(e),
    };
    // The names on the way down, and the children left to walk at each
    // level (the last one: the current directory's).
    let mut names: Vec<CString> = Vec::new();
    enter(&cur, &names)?;
    let mut todo: Vec<Vec<(CString, u64)>> = vec![subdirs(&cur, &names, None)?];
    loop {
        if let Some((mut n, ino)) = todo.last_mut().and_then(Vec::pop) {
            let mut relookups = 0;
            let fd = loop {
                match fcntl::openat(&cur, n.as_c_str(), dir_flags, Mode::empty()) {
                    Ok(fd) if nix::sys::stat::fstat(&fd).is_ok_and(|st| st.st_ino == ino) => {
                        break Some(fd)
                    }
                    // Renamed (another directory may have its name now)
                    // or removed since the listing.
                    Ok(_) | Err(Errno::ENOENT) => {}
                    Err(e) => {
                        names.push(n);
                        return Err(Error::io("open", walked_path(top, &names), e.into()));
                    }
                }
                relookups += 1;
                if relookups > WALK_RELOOKUPS {
                    names.push(n);
                    return Err(Error::io(
                        "open",
                        walked_path(top, &names),
                        io::Error::from_raw_os_error(libc::EAGAIN),
                    ));
                }
                match subdirs(&cur, &names, Some(ino))?.pop() {
                    Some((again, _)) => n = again,
                    // Removed meanwhile.
                    None => break None,
                }
            };
            if let Some(fd) = fd {
                cur = fd;
                names.push(n);
                enter(&cur, &names)?;
                todo.push(subdirs(&cur, &names, None)?);
            }
            continue;
        }
        // No child left: back up to the parent.
        todo.pop();
        let Some(n) = names.pop() else { break };
        let parent = fcntl::openat(&cur, "..", dir_flags, Mode::empty())
            .map_err(|e| Error::io("open", walked_path(top, &names), e.into()))?;
        drop(std::mem::replace(&mut cur, parent));
        leave(&cur, n.as_c_str(), &names)?;
    }
    Ok(true)
}

/// Removes the cgroup directory `top` and every child cgroup under it,
/// depth first, by descriptor ([`walk_tree`]; `unlinkat(2)` with
/// `AT_REMOVEDIR`). `EBUSY` (a cgroup whose last task just exited) is
/// retried until `timeout`. Nothing to do when `top` is gone already.
pub(crate) fn rmdir_tree(top: &Path, timeout: Duration) -> Result<(), Error> {
    use nix::unistd::{unlinkat, UnlinkatFlags};
    let start = Instant::now();
    let existed = walk_tree(
        top,
        |_, _| Ok(()),
        |parent, n, names| loop {
            match unlinkat(parent, n, UnlinkatFlags::RemoveDir) {
                Ok(()) | Err(Errno::ENOENT) => return Ok(()),
                Err(Errno::EBUSY) if start.elapsed() < timeout => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => {
                    let mut p = walked_path(top, names);
                    p.push(<OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(
                        n.to_bytes(),
                    ));
                    return Err(Error::io("rmdir", p, e.into()));
                }
            }
        },
    )?;
    if !existed {
        return Ok(());
    }
    loop {
        match std::fs::remove_dir(top) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && start.elapsed() < timeout => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(Error::io("rmdir", top, e)),
        }
    }
}

/// The pids in `cgroup.procs` of `top` and of every child cgroup under it,
/// read by descriptor ([`walk_tree`]: the tree may lie deeper than
/// `PATH_MAX`), appended to `out`. A directory without `cgroup.procs` (or
/// `top` missing) adds nothing.
pub(crate) fn procs_tree(top: &Path, out: &mut Vec<u32>) -> Result<(), Error> {
    walk_tree(
        top,
        |dir, names| {
            let f = match fcntl::openat(
                dir,
                "cgroup.procs",
                OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => fd,
                Err(Errno::ENOENT) => return Ok(()),
                Err(e) => {
                    return Err(Error::io(
                        "open",
                        walked_path(top, names).join("cgroup.procs"),
                        e.into(),
                    ))
                }
            };
            let mut text = String::new();
            File::from(f)
                .read_to_string(&mut text)
                .map_err(|e| Error::io("read", walked_path(top, names).join("cgroup.procs"), e))?;
            for l in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                out.push(l.parse().map_err(|_| Error::Malformed {
                    path: walked_path(top, names).join("cgroup.procs"),
                    content: l.to_string(),
                })?);
            }
            Ok(())
        },
        |_, _, _| Ok(()),
    )
    .map(drop)
}

/// `SIGKILL` to each pid; one that has exited meanwhile (`ESRCH`) is fine.
fn sigkill_all(pids: Vec<u32>) -> Result<(), Error> {
    use nix::sys::signal::{kill, Signal};
    for pid in pids {
        match kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGKILL) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(e) => return Err(Error::io("kill", format!("/proc/{pid}"), e.into())),
        }
    }
    Ok(())
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

/// The parent as a path relative to the hierarchies' roots: `None` is the
/// default parent; an absolute path must lie inside the cgroup2 mount or a
/// v1 hierarchy; a relative one is taken as is. No `..`.
fn relative_parent(h: &Hierarchy, parent: Option<&Path>) -> Result<PathBuf, Error> {
    let Some(p) = parent else {
        return Ok(PathBuf::from(hierarchy::DEFAULT_PARENT_NAME));
    };
    let outside = || Error::NotInHierarchy {
        path: p.to_path_buf(),
        mount: h
            .mount_point()
            .map(Path::to_path_buf)
            .or_else(|| h.v1_mounts().first().map(|m| m.mount_point.clone()))
            .unwrap_or_default(),
    };
    let rel = if p.is_relative() {
        p.to_path_buf()
    } else {
        h.mount_point()
            .into_iter()
            .chain(h.v1_mounts().iter().map(|m| m.mount_point.as_path()))
            .find_map(|m| p.strip_prefix(m).ok())
            .ok_or_else(outside)?
            .to_path_buf()
    };
    if !rel
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)))
    {
        return Err(outside());
    }
    Ok(rel)
}

/// How many times a cgroup's creation starts over when one of its parents
/// vanished between its `mkdir` and the next one (a concurrent removal of
/// an empty parent: `contrun delete` removes its default parent when empty).
pub(crate) const MKDIR_ATTEMPTS: u32 = 16;

/// `mkdir -p mount/rel` (never above `mount`), then `mkdir mount/rel/name`;
/// starts over (at most [`MKDIR_ATTEMPTS`] times) when a parent vanished
/// meanwhile (`ENOENT`: another process removed it while empty).
fn mkdir_under(mount: &Path, rel: &Path, name: &str) -> Result<PathBuf, Error> {
    let mut attempt = 1;
    loop {
        match mkdir_under_once(mount, rel, name) {
            Err(Error::Io { ref source, .. })
                if source.kind() == io::ErrorKind::NotFound && attempt < MKDIR_ATTEMPTS =>
            {
                attempt += 1;
            }
            r => return r,
        }
    }
}

fn mkdir_under_once(mount: &Path, rel: &Path, name: &str) -> Result<PathBuf, Error> {
    let mut dir = mount.to_path_buf();
    for c in rel.components() {
        dir.push(c);
        match std::fs::create_dir(&dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(Error::io("mkdir", &dir, e)),
        }
    }
    let path = dir.join(name);
    std::fs::create_dir(&path).map_err(|e| Error::io("mkdir", &path, e))?;
    Ok(path)
}

/// The controller whose directory is a v1 cgroup's main one.
fn main_controller(dirs: &v1::V1Dirs) -> &str {
    if dirs.freezer().is_some() {
        "freezer"
    } else {
        dirs.dirs
            .first()
            .and_then(|d| d.controllers.first())
            .map_or("", String::as_str)
    }
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

    /// Creates the cgroup `name` under `parent` (created with its missing
    /// ancestors, like docker's `--cgroup-parent`): a directory inside the
    /// cgroup2 mount or a v1 hierarchy, or a path relative to the
    /// hierarchies' roots; on a hybrid or legacy host the same relative
    /// path is used in every v1 hierarchy.
    ///
    /// # Errors
    ///
    /// [`Error::NotInHierarchy`] when `parent` is outside the cgroup mounts;
    /// [`Error::Io`] (`mkdir`) when the cgroup exists already or cannot be
    /// created.
    pub fn create_under(parent: impl AsRef<Path>, name: &str) -> Result<Cgroup, Error> {
        Cgroup::create_in(&Hierarchy::detect()?, Some(parent.as_ref()), name)
    }

    /// Creates `name` under `parent` (or the hierarchy's default parent) of
    /// an explicit hierarchy, with the backend of its host kind
    /// ([`Backend::for_host`]); with [`Hierarchy::at`] this works on a
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
        Cgroup::create_with(hierarchy, Backend::for_host(hierarchy.kind()), parent, name)
    }

    /// [`create_in`](Self::create_in) with a forced backend (e.g.
    /// [`Backend::V1`] on a hybrid host, or [`Backend::V2`] to refuse
    /// limits that the cgroup2 cannot enforce).
    ///
    /// # Errors
    ///
    /// As [`Cgroup::create_under`]; [`Error::NoCgroup2`] for
    /// [`Backend::V2`]/[`Backend::Hybrid`] on a legacy host;
    /// [`Error::ControllerUnavailable`] for [`Backend::V1`] on a host
    /// without v1 hierarchies.
    pub fn create_with(
        hierarchy: &Hierarchy,
        backend: Backend,
        parent: Option<&Path>,
        name: &str,
    ) -> Result<Cgroup, Error> {
        check_name(name)?;
        let rel = relative_parent(hierarchy, parent)?;
        match backend {
            Backend::V2 | Backend::Hybrid => {
                let mount = hierarchy.require_mount()?.to_path_buf();
                let path = mkdir_under(&mount, &rel, name)?;
                let dir = open_dir(&path)?;
                Ok(Cgroup {
                    dir,
                    path,
                    root: mount,
                    root_cgroup: hierarchy.mount_root().to_path_buf(),
                    timeout: DEFAULT_TIMEOUT,
                    main_v2: true,
                    v1: (backend == Backend::Hybrid).then(|| {
                        Box::new(V1State {
                            dirs: Default::default(),
                            hierarchy: hierarchy.clone(),
                            rel_parent: rel.clone(),
                            name: name.to_string(),
                        })
                    }),
                    #[cfg(feature = "systemd")]
                    scope: None,
                })
            }
            Backend::V1 => {
                let want: Vec<&str> = v1::V1_CONTROLLERS
                    .iter()
                    .copied()
                    .filter(|c| hierarchy.v1_mount_of(c).is_some())
                    .collect();
                if want.is_empty() {
                    return Err(Error::ControllerUnavailable {
                        controller: "freezer".into(),
                        file: PathBuf::from("/proc/self/mountinfo"),
                        available: hierarchy.v1_controllers().join(" "),
                        hint: Some("no cgroup v1 hierarchy is mounted on this host"),
                    });
                }
                let dirs = v1::V1Dirs::create(hierarchy, &want, &rel, name)?;
                let main = dirs.freezer().map(Path::to_path_buf).unwrap_or_else(|| {
                    // `want` is not empty, so neither is `dirs`.
                    dirs.dirs[0].path.clone()
                });
                let main_dir = dirs.dir_of(main_controller(&dirs)).cloned();
                let dir = match open_dir(&main) {
                    Ok(d) => d,
                    Err(e) => {
                        dirs.rmdir_all();
                        return Err(e);
                    }
                };
                let (root, root_cgroup) = match main_dir.as_ref().and_then(|d| {
                    hierarchy
                        .v1_mounts()
                        .iter()
                        .find(|m| m.mount_point == d.mount)
                }) {
                    Some(m) => (m.mount_point.clone(), m.root.clone()),
                    None => (main.parent().unwrap_or(&main).to_path_buf(), "/".into()),
                };
                Ok(Cgroup {
                    dir,
                    path: main,
                    root,
                    root_cgroup,
                    timeout: DEFAULT_TIMEOUT,
                    main_v2: false,
                    v1: Some(Box::new(V1State {
                        dirs: std::sync::RwLock::new(dirs),
                        hierarchy: hierarchy.clone(),
                        rel_parent: rel,
                        name: name.to_string(),
                    })),
                    #[cfg(feature = "systemd")]
                    scope: None,
                })
            }
        }
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
        // On a hybrid host, the same cgroup's directories in the v1
        // hierarchies (as this layer creates them) come along.
        if h.kind() == HierarchyKind::Hybrid {
            // Only a plain relative path (`a/b`, no `..`) is looked up in
            // the v1 hierarchies.
            if let Some(rel) = path.strip_prefix(mount).ok().filter(|r| {
                r.components()
                    .all(|c| matches!(c, std::path::Component::Normal(_)))
            }) {
                let mut dirs = v1::V1Dirs::default();
                for m in h.v1_mounts() {
                    let d = m.mount_point.join(rel);
                    if !rel.as_os_str().is_empty() && d.is_dir() {
                        dirs.dirs.push(v1::V1Dir {
                            controllers: m.controllers.clone(),
                            path: d,
                            mount: m.mount_point.clone(),
                        });
                    }
                }
                let (parent, name) = (
                    rel.parent().unwrap_or(Path::new("")).to_path_buf(),
                    rel.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default(),
                );
                cg.v1 = Some(Box::new(V1State {
                    dirs: std::sync::RwLock::new(dirs),
                    hierarchy: h.clone(),
                    rel_parent: parent,
                    name,
                }));
            }
        }
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
            main_v2: true,
            v1: None,
            #[cfg(feature = "systemd")]
            scope: None,
        })
    }

    /// The systemd unit that owns this cgroup (`containment-web.scope`),
    /// when it was made by the [`systemd`] driver.
    pub fn systemd_unit(&self) -> Option<&str> {
        #[cfg(feature = "systemd")]
        if let Some(s) = &self.scope {
            return Some(s.unit());
        }
        None
    }

    /// Called once the container's first process is in the cgroup: a
    /// systemd scope's placeholder process goes.
    pub(crate) fn started(&self) {
        #[cfg(feature = "systemd")]
        if let Some(s) = &self.scope {
            s.release_placeholder();
        }
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
        match self.route(name) {
            Some(d) => d.join(name),
            None => self.path.join(name),
        }
    }

    /// The v1 directory holding `name` (`memory.limit_in_bytes` → the
    /// memory hierarchy's), when the file's controller is driven in v1 and
    /// that is not the main directory.
    fn route(&self, name: &str) -> Option<PathBuf> {
        let v1 = self.v1.as_ref()?;
        let controller = name.split('.').next()?;
        // The cgroup2's core files (`cgroup.*`, PSI `*.pressure`) stay in
        // the main directory.
        if controller == "cgroup" || name.ends_with(".pressure") {
            return None;
        }
        let dirs = v1.dirs.read().unwrap_or_else(|e| e.into_inner());
        let d = dirs.dir_of(controller)?;
        (d.path != self.path).then(|| d.path.clone())
    }

    fn open_file(&self, name: &str, flags: OFlag) -> io::Result<File> {
        if let Some(d) = self.route(name) {
            let fd = fcntl::open(&d.join(name), flags | OFlag::O_CLOEXEC, Mode::empty())
                .map_err(io::Error::from)?;
            return Ok(File::from(fd));
        }
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

    /// Moves a process into this cgroup (writes its pid to `cgroup.procs`,
    /// of the cgroup2 directory and of each v1 directory).
    ///
    /// Costs a `synchronize_rcu` in the kernel (~13 ms on an idle host);
    /// starting the child there with `CLONE_INTO_CGROUP` costs ~40 µs (v1
    /// has no such flag: one write per v1 hierarchy).
    ///
    /// # Errors
    ///
    /// [`Error::Write`] naming `cgroup.procs` and the pid.
    pub fn attach(&self, pid: u32) -> Result<(), Error> {
        if self.main_v2 {
            self.write("cgroup.procs", &pid.to_string())?;
        }
        self.attach_v1(pid)
    }

    /// Writes `pid` into `cgroup.procs` of each v1 directory (what the
    /// spawn path does between clone and releasing the child; the cgroup2
    /// directory was joined by `CLONE_INTO_CGROUP`).
    pub(crate) fn attach_v1(&self, pid: u32) -> Result<(), Error> {
        match &self.v1 {
            Some(v1) => v1
                .dirs
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .attach(pid),
            None => Ok(()),
        }
    }

    /// `tasks` of every v1 directory, opened for a child that moves itself
    /// in (see [`v1::V1Dirs::open_tasks`]); empty without v1 directories.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the `tasks` file that could not be opened.
    pub(crate) fn open_v1_tasks(&self) -> Result<Vec<(OwnedFd, PathBuf)>, Error> {
        match &self.v1 {
            Some(v1) => v1
                .dirs
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .open_tasks(),
            None => Ok(Vec::new()),
        }
    }

    /// Adds a directory in every mounted v1 controller hierarchy the cgroup
    /// has none in yet (a cgroup without v1 state, [`Backend::V2`], is left
    /// alone). For a new cgroup namespace: its root in each hierarchy is
    /// the cgroup the child is in when it unshares, which would otherwise
    /// be the caller's there (the host root for a caller at `/`), and root
    /// of a user namespace mounting that hierarchy would see the caller's
    /// whole tree. runc likewise makes a directory in every hierarchy.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming a directory that could not be made (the ones
    /// made are removed again).
    pub(crate) fn add_every_v1(&self) -> Result<(), Error> {
        let Some(v1) = &self.v1 else {
            return Ok(());
        };
        let want: Vec<&str> = v1::V1_CONTROLLERS
            .iter()
            .chain(v1::ON_DEMAND.iter())
            .copied()
            .filter(|c| v1.hierarchy.v1_mount_of(c).is_some())
            .collect();
        let mut dirs = v1.dirs.write().unwrap_or_else(|e| e.into_inner());
        let before = dirs.dirs.len();
        let r = dirs.add(&v1.hierarchy, &want, &v1.rel_parent, &v1.name);
        if r.is_err() {
            for d in dirs.dirs.drain(before..) {
                let _ = std::fs::remove_dir(&d.path);
            }
        }
        r.map(|_| ())
    }

    /// Mount points of the v1 hierarchies the cgroup has a directory in.
    pub(crate) fn v1_mounts(&self) -> Vec<PathBuf> {
        self.v1_dirs()
            .map(|d| d.dirs.into_iter().map(|d| d.mount).collect())
            .unwrap_or_default()
    }

    /// Whether a new process must be moved into v1 directories after
    /// clone (it cannot start there).
    pub(crate) fn needs_v1_attach(&self) -> bool {
        self.v1.as_ref().is_some_and(|v| {
            !v.dirs
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .dirs
                .is_empty()
        })
    }

    /// A descriptor for `clone3(CLONE_INTO_CGROUP)`: the cgroup2 directory,
    /// `None` for a cgroup v1 ([`Backend::V1`]) cgroup.
    ///
    /// # Errors
    ///
    /// As [`try_clone_fd`](Self::try_clone_fd).
    pub(crate) fn clone_into_fd(&self) -> Result<Option<OwnedFd>, Error> {
        if self.main_v2 {
            self.try_clone_fd().map(Some)
        } else {
            Ok(None)
        }
    }

    /// Best-effort `rmdir` of every directory of a cgroup that no process
    /// has joined (a spawn that failed before clone).
    pub(crate) fn discard(self) {
        if let Some(d) = self.v1_dirs() {
            d.rmdir_all();
        }
        if self.main_v2 {
            let _ = std::fs::remove_dir(&self.path);
        }
    }

    /// How this cgroup is driven.
    pub fn backend(&self) -> Backend {
        match (self.main_v2, self.v1.is_some()) {
            (true, false) => Backend::V2,
            (true, true) => Backend::Hybrid,
            (false, _) => Backend::V1,
        }
    }

    /// The cgroup's directory in the v1 hierarchy of `controller`, if it
    /// has one (`/sys/fs/cgroup/memory/containment/web`).
    pub fn v1_path(&self, controller: &str) -> Option<PathBuf> {
        let v1 = self.v1.as_ref()?;
        let dirs = v1.dirs.read().unwrap_or_else(|e| e.into_inner());
        dirs.dir_of(controller).map(|d| d.path.clone())
    }

    /// Every directory of this cgroup, each once: the main one
    /// ([`path`](Self::path)) first, then its v1 ones (a hybrid or v1
    /// cgroup, `/sys/fs/cgroup/memory/containment/web`). Their parents are
    /// what a caller removes when it made them and they are left empty.
    pub fn dirs(&self) -> Vec<PathBuf> {
        let mut all = vec![self.path.clone()];
        for d in self.v1_dirs().map(|d| d.dirs).unwrap_or_default() {
            if !all.contains(&d.path) {
                all.push(d.path);
            }
        }
        all
    }

    fn v1_dirs(&self) -> Option<v1::V1Dirs> {
        self.v1
            .as_ref()
            .map(|v| v.dirs.read().unwrap_or_else(|e| e.into_inner()).clone())
    }

    /// The v1 freezer directory used for freezing: only when the cgroup2
    /// cannot (a [`Backend::V1`] cgroup).
    fn v1_freezer(&self) -> Option<PathBuf> {
        if self.main_v2 {
            return None;
        }
        self.v1_path("freezer")
    }

    /// `freezer.state` of the v1 freezer directory that [`freeze`](Self::freeze)
    /// drives, `None` when the cgroup freezes through the cgroup2
    /// (`cgroup.freeze`, see [`is_frozen`](Self::is_frozen)), even if it has
    /// a v1 freezer directory (a hybrid cgroup with a cgroup namespace gets
    /// one that is never frozen).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] or [`Error::Malformed`] naming `freezer.state`.
    pub fn freezer_state(&self) -> Result<Option<FreezerState>, Error> {
        self.v1_freezer().map(|d| v1::freezer_state(&d)).transpose()
    }

    /// Whether a freeze was asked for, done or not yet (`freezer.state`
    /// not `THAWED`, or `cgroup.freeze` 1), in the freezer
    /// [`freeze`](Self::freeze) drives.
    fn freeze_requested(&self) -> Result<bool, Error> {
        match self.freezer_state()? {
            Some(st) => Ok(st != FreezerState::Thawed),
            None => Ok(self.read("cgroup.freeze")?.trim() == "1"),
        }
    }

    /// `memory.oom_control` of the v1 memory directory, `None` without one.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming the file.
    pub fn oom_control(&self) -> Result<Option<OomControl>, Error> {
        match self.v1_path("memory") {
            Some(d) => Ok(Some(v1::parse_oom_control(&v1::read(
                &d.join("memory.oom_control"),
            )?))),
            None => Ok(None),
        }
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
        if !self.main_v2 {
            return Ok(!self.v1_dirs().unwrap_or_default().all_procs()?.is_empty());
        }
        Ok(self.event("populated")? == Some(1))
    }

    /// Whether the cgroup is frozen (`frozen` of `cgroup.events`).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] naming `cgroup.events`.
    pub fn is_frozen(&self) -> Result<bool, Error> {
        if let Some(d) = self.v1_freezer() {
            return Ok(v1::freezer_state(&d)? == FreezerState::Frozen);
        }
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
        if let Some(d) = self.v1_freezer() {
            if !v1::freeze(&d, self.timeout)? {
                return Err(self.timeout_error("freezer.state FROZEN"));
            }
            return Ok(());
        }
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
        if let Some(d) = self.v1_freezer() {
            if !v1::thaw(&d, self.timeout)? {
                return Err(self.timeout_error("freezer.state THAWED"));
            }
            return Ok(());
        }
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
        if !self.main_v2 {
            return self.kill_v1();
        }
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

    /// cgroup v1 has no `cgroup.kill`: freeze (so that nothing forks
    /// meanwhile), `SIGKILL` every task of every directory, thaw (frozen
    /// tasks die only once thawed); without a freezer, signal until empty.
    fn kill_v1(&self) -> Result<(), Error> {
        let dirs = self.v1_dirs().unwrap_or_default();
        let Some(fz) = self.v1_freezer() else {
            return self.kill_loop();
        };
        // The listing comes after the freeze: running tasks can race a
        // walk of the tree (moving between child cgroups, renaming them)
        // into showing none of them. Only under a frozen parent, whose
        // tasks cannot, is nothing to kill (a failed spawn's cgroup) seen
        // before: no freeze and thaw then, which would wait the whole
        // timeout for a THAWED state that cannot come.
        let parent_frozen = v1::read_optional(&fz.join("freezer.parent_freezing"))?
            .is_some_and(|v| v.trim() == "1");
        if parent_frozen && dirs.all_procs()?.is_empty() {
            return Ok(());
        }
        let frozen = v1::freeze(&fz, self.timeout)?;
        // Thawed even when the listing fails.
        let result = dirs.all_procs().and_then(sigkill_all);
        v1::thaw(&fz, self.timeout)?;
        result?;
        if !frozen {
            // Some task was stuck in FREEZING: fall back to signalling
            // until none is left.
            return self.kill_loop();
        }
        Ok(())
    }

    fn kill_loop(&self) -> Result<(), Error> {
        let start = Instant::now();
        loop {
            let pids = self.all_procs()?;
            if pids.is_empty() {
                return Ok(());
            }
            sigkill_all(pids)?;
            if start.elapsed() > self.timeout {
                return Err(self.timeout_error("cgroup.procs to become empty"));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Pids of this cgroup and all its descendants.
    fn all_procs(&self) -> Result<Vec<u32>, Error> {
        if !self.main_v2 {
            return self.v1_dirs().unwrap_or_default().all_procs();
        }
        // By descriptor: child cgroups may lie deeper than PATH_MAX.
        let mut v = Vec::new();
        procs_tree(&self.path, &mut v)?;
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
        if !self.main_v2 {
            return self.v1_dirs().unwrap_or_default().wait_until_empty(timeout);
        }
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
    /// would not exit by themselves. A systemd scope ([`systemd`]) is
    /// stopped instead (`StopUnit`): systemd kills what is left and removes
    /// the cgroup.
    ///
    /// # Errors
    ///
    /// [`Error::Timeout`] when processes remain; [`Error::Io`] (`rmdir`)
    /// naming the directory; [`Error::Systemd`] naming the unit.
    pub fn remove(self) -> Result<(), Error> {
        #[cfg(feature = "systemd")]
        if let Some(scope) = &self.scope {
            return scope.stop();
        }
        if let Some(dirs) = self.v1_dirs().filter(|d| !d.dirs.is_empty()) {
            if !self.wait_until_empty(self.timeout)? {
                return Err(self.timeout_error(if self.main_v2 {
                    "populated 0"
                } else {
                    "no process left in any v1 directory"
                }));
            }
            // The v1 directories (the main one too for a v1 cgroup), then
            // the cgroup2 one.
            dirs.remove(self.timeout)?;
            if !self.main_v2 {
                return Ok(());
            }
        }
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
        #[cfg(feature = "systemd")]
        if let Some(scope) = &self.scope {
            return scope.stop();
        }
        self.kill()?;
        self.remove()
    }

    fn remove_tree(&self) -> Result<(), Error> {
        // The usual case first: the kernel removes only a cgroup with no
        // process and no child (`EBUSY` otherwise: then wait and walk).
        if std::fs::remove_dir(&self.path).is_ok() {
            return Ok(());
        }
        if !self.wait_until_empty(self.timeout)? {
            return Err(self.timeout_error("populated 0"));
        }
        // Child cgroups depth first, by descriptor (they may lie deeper
        // than PATH_MAX); `EBUSY` of a cgroup whose last task just exited
        // is retried.
        rmdir_tree(&self.path, self.timeout)
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
                             hierarchy: Backend::Hybrid drives it there",
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
        #[cfg(feature = "systemd")]
        if let Some(scope) = &self.scope {
            // A systemd scope: the manager owns the limits it knows
            // (SetUnitProperties on the running unit), the rest is written
            // into the delegated cgroup.
            if let Some((flag, _, reason)) = resources.v1_only().first() {
                return Err(Error::NoV2Equivalent { flag, reason });
            }
            let (props, rest) = systemd::properties(resources);
            scope.set_properties(&props)?;
            return self.apply_unit_rest(&rest, resources);
        }
        let Some(v1) = &self.v1 else {
            if let Some((flag, _, reason)) = resources.v1_only().first() {
                return Err(Error::NoV2Equivalent { flag, reason });
            }
            let cs: Vec<&str> = resources
                .controllers()
                .into_iter()
                .filter(|c| *c != "devices")
                .collect();
            self.enable_controllers(&cs)?;
            for w in resources.writes() {
                self.write(w.file, &w.value)?;
            }
            if !resources.devices.is_empty() {
                self.apply_device_program(&resources.devices)?;
            }
            return Ok(());
        };
        // Where each controller is driven: the cgroup2 when it offers it
        // (hybrid), else its v1 hierarchy.
        let on_v2: Vec<String> = if self.main_v2 {
            v1.hierarchy.root_controllers().unwrap_or_default()
        } else {
            Vec::new()
        };
        let (mut v2c, mut v1c) = (Vec::new(), Vec::new());
        let mut device_program = false;
        for c in resources.controllers() {
            if on_v2.iter().any(|x| x == c) {
                v2c.push(c);
            } else if v1.hierarchy.v1_mount_of(v1::v1_name(c)).is_some() {
                v1c.push(v1::v1_name(c));
            } else if c == "devices" && self.main_v2 {
                // No v1 devices hierarchy: a BPF program on the cgroup2.
                device_program = true;
            } else {
                return Err(Error::ControllerUnavailable {
                    controller: c.to_string(),
                    file: if self.main_v2 {
                        self.root.join("cgroup.controllers")
                    } else {
                        PathBuf::from("/proc/self/mountinfo")
                    },
                    available: if self.main_v2 {
                        on_v2.join(" ")
                    } else {
                        v1.hierarchy.v1_controllers().join(" ")
                    },
                    hint: Some(
                        "neither the cgroup2 nor any cgroup v1 hierarchy offers this controller",
                    ),
                });
            }
        }
        if let Some((flag, c, reason)) =
            resources.v1_only().into_iter().find(|x| v2c.contains(&x.1))
        {
            let _ = c;
            return Err(Error::NoV2Equivalent { flag, reason });
        }
        if let Some((setting, _, reason)) =
            resources.v2_only().into_iter().find(|x| v1c.contains(&x.1))
        {
            return Err(Error::NoV1Equivalent { setting, reason });
        }
        // The cgroup2 part.
        if !v2c.is_empty() {
            self.enable_controllers(&v2c)?;
            for w in resources.writes() {
                let c = w.file.split('.').next().unwrap_or("");
                if v2c.contains(&c) {
                    self.write(w.file, &w.value)?;
                }
            }
        }
        if device_program {
            self.apply_device_program(&resources.devices)?;
        }
        if v1c.is_empty() {
            return Ok(());
        }
        // v1 directories a hybrid cgroup does not have yet: make them, and
        // move the cgroup's processes in (frozen, so that none forks past).
        let added = {
            let mut dirs = v1.dirs.write().unwrap_or_else(|e| e.into_inner());
            let before = dirs.dirs.len();
            let r = dirs.add(&v1.hierarchy, &v1c, &v1.rel_parent, &v1.name);
            if r.is_err() {
                for d in dirs.dirs.drain(before..) {
                    let _ = std::fs::remove_dir(&d.path);
                }
            }
            r?;
            v1::V1Dirs {
                dirs: dirs.dirs[before..].to_vec(),
            }
        };
        if !added.dirs.is_empty() && self.main_v2 {
            self.move_into(&added)?;
        }
        let dirs = self.v1_dirs().unwrap_or_default();
        let writes = v1::writes::writes(resources);
        let mut i = 0;
        while i < writes.len() {
            let w = &writes[i];
            // Device rules: a transition from what is in force (below).
            if !v1c.contains(&w.controller) || w.controller == "devices" {
                i += 1;
                continue;
            }
            let Some(d) = dirs.dir_of(w.controller) else {
                i += 1;
                continue;
            };
            let file = w
                .files
                .iter()
                .map(|f| d.path.join(f))
                .find(|p| p.exists())
                .unwrap_or_else(|| d.path.join(w.files[0]));
            match v1::write(&file, &w.value) {
                // memory+swap may not go below memory: raising both, the
                // memsw limit goes first.
                Err(Error::Write { source, .. })
                    if source.raw_os_error() == Some(libc::EINVAL)
                        && w.files == ["memory.limit_in_bytes"]
                        && writes
                            .get(i + 1)
                            .is_some_and(|n| n.files == ["memory.memsw.limit_in_bytes"]) =>
                {
                    let n = &writes[i + 1];
                    v1::write(&d.path.join(n.files[0]), &n.value)?;
                    v1::write(&file, &w.value)?;
                    i += 2;
                    continue;
                }
                Err(Error::Write {
                    path,
                    value,
                    source,
                    ..
                }) if w.files == ["memory.kmem.limit_in_bytes"] => {
                    return Err(Error::Write {
                        hint: Some(kmem_hint()),
                        path,
                        value,
                        source,
                    })
                }
                r => r?,
            }
            v1::writes::verify(&file, &w.value).map_err(|e| match e {
                Error::Write {
                    path,
                    value,
                    source,
                    ..
                } if w.files == ["memory.kmem.limit_in_bytes"] => Error::Write {
                    hint: Some(kmem_hint()),
                    path,
                    value,
                    source,
                },
                e => e,
            })?;
            i += 1;
        }
        if !resources.devices.is_empty() && v1c.contains(&"devices") {
            if let Some(d) = dirs.dir_of("devices") {
                self.apply_v1_devices(&d.path, &devices::emulate(&resources.devices))?;
            }
        }
        Ok(())
    }

    /// Brings the v1 devices directory `dir` to `target`
    /// ([`devices::DeviceState::v1_transition`]): the difference only
    /// where `devices.list` shows what is in force, and with this cgroup's
    /// tasks frozen (and thawed again unless they were frozen before) when
    /// the writes must allow every device for a moment.
    fn apply_v1_devices(&self, dir: &Path, target: &devices::DeviceState) -> Result<(), Error> {
        let list = std::fs::read_to_string(dir.join("devices.list")).ok();
        let t = target.v1_transition(list.as_deref());
        let thaw_after = if t.freeze {
            let was_frozen = self.freeze_requested()?;
            if !was_frozen {
                self.freeze()?;
            }
            !was_frozen
        } else {
            false
        };
        let r = v1::write_each(dir, &t.writes);
        if r.is_err() && t.freeze {
            // A default-allow rewrite that failed after its first write
            // would leave every device allowed but the denies written so
            // far: fail closed (every device refused) before the tasks run.
            let _ = v1::write(&dir.join("devices.deny"), "a");
        }
        if thaw_after {
            // Thawed even when a write failed: the error is the write's.
            let thawed = self.thaw();
            r?;
            return thawed;
        }
        r
    }

    /// The writes of a systemd scope's limits that systemd has no property
    /// for, and the device program when `DeviceAllow` cannot express the
    /// rules.
    #[cfg(feature = "systemd")]
    pub(crate) fn apply_unit_rest(
        &self,
        rest: &[resources::FileWrite],
        resources: &Resources,
    ) -> Result<(), Error> {
        for w in rest {
            self.write(w.file, &w.value)?;
        }
        if systemd::devices_need_program(resources) {
            self.apply_device_program(&resources.devices)?;
        }
        Ok(())
    }

    /// Loads the BPF device program of `rules` and attaches it to the
    /// cgroup2 directory, replacing the one this crate attached before.
    fn apply_device_program(&self, rules: &[devices::DeviceRule]) -> Result<(), Error> {
        let prog = devices::program(&devices::emulate(rules));
        let fd = devices::bpf::load(&prog)
            .map_err(|e| Error::io("loading the BPF device program for", &self.path, e))?;
        devices::bpf::attach_replacing(self.dir.as_fd(), fd.as_fd())
            .map_err(|e| Error::io("attaching the BPF device program to", &self.path, e))
    }

    /// How many BPF device programs of this crate are attached to the
    /// cgroup2 directory itself (0 or 1; for tests and diagnostics).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when the kernel refuses the query (`bpf(2)`
    /// `BPF_PROG_QUERY`, which needs `CAP_SYS_ADMIN` or `CAP_BPF`).
    pub fn device_programs(&self) -> Result<usize, Error> {
        devices::bpf::attached(self.dir.as_fd())
            .map_err(|e| Error::io("querying the BPF device programs of", &self.path, e))
    }

    /// Moves every process of the cgroup2 directory (and its descendants)
    /// into the new v1 directories `added`, with the cgroup frozen.
    fn move_into(&self, added: &v1::V1Dirs) -> Result<(), Error> {
        // A cgroup being prepared for a spawn holds nothing yet
        // (`populated 0`: one read, no listing of the directory).
        if !self.is_populated()? {
            return Ok(());
        }
        // A cgroup its owner froze stays frozen (no thaw after).
        let frozen = match self.read_optional("cgroup.freeze")? {
            Some(v) if v.trim() != "1" => self.freeze().is_ok(),
            _ => false,
        };
        let r = (|| {
            for pid in self.all_procs()? {
                match added.attach(pid) {
                    Ok(()) => {}
                    // Exited meanwhile.
                    Err(Error::Write { source, .. })
                        if source.raw_os_error() == Some(libc::ESRCH) => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        })();
        if frozen {
            self.thaw()?;
        }
        r
    }
}

/// The hint for a refused `memory.kmem.limit_in_bytes`, naming this kernel.
fn kmem_hint() -> &'static str {
    static HINT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HINT.get_or_init(|| {
        let release = nix::sys::utsname::uname()
            .map(|u| u.release().to_string_lossy().into_owned())
            .unwrap_or_else(|_| "this kernel".into());
        format!(
            "kernel {release} does not enforce kernel memory limits: they were deprecated in \
             Linux 5.4 and removed in 6.1 (the file stays; a write is refused or ignored); \
             kernel memory is charged to memory.limit_in_bytes instead"
        )
    })
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
