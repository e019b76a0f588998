//! Errors of the spawn path: what the parent refused before any process
//! existed, and what the child reported from between clone and exec.
//!
//! Subsystems that can be used on their own have their own error enums
//! ([`crate::namespace::Error`], [`crate::cgroup::Error`],
//! [`crate::mount::Error`]); [`SpawnError`] wraps the ones a spawn can meet.

use std::fmt;
use std::io;

/// One step of the fixed sequence the child runs between `clone3` and
/// `execve`.
///
/// A step that fails reports itself, the errno, and for list-driven steps
/// (mounts, masked paths) the index into the list; the parent turns that into
/// a [`ChildError`].
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Step {
    /// Waiting for the parent to write the uid/gid maps.
    WaitIdMaps = 1,
    /// `setgroups(2)`: dropping supplementary groups.
    SetGroups,
    /// `setresgid(2)`.
    SetGid,
    /// `setresuid(2)`.
    SetUid,
    /// `unshare(CLONE_NEWTIME)` (index 0), then entering the new namespace
    /// with `setns` once its offsets are written (index 1).
    UnshareTime,
    /// Writing `/proc/self/timens_offsets`.
    TimeOffsets,
    /// `sethostname(2)`.
    Hostname,
    /// `setdomainname(2)`.
    Domainname,
    /// Making the mount tree private (or slave/shared) in the new mount namespace.
    MountPropagation,
    /// Mounting a fresh `/proc` for the new PID namespace.
    MountProc,
    /// One entry of the mount list (the index names which).
    Mount,
    /// Creating a mount point (directory or file) inside the new root.
    MountTarget,
    /// Bind-mounting the new root onto itself so that it is a mount point.
    RootBind,
    /// Assembling an overlay root from its layers.
    RootOverlay,
    /// `pivot_root(2)`.
    PivotRoot,
    /// `chroot(2)` (the explicit fallback to pivot_root); detail 4: moving
    /// the root onto `/` first (`MS_MOVE`).
    Chroot,
    /// Unmounting the old root after pivot_root.
    OldRootUnmount,
    /// Building the minimal `/dev`.
    Dev,
    /// Remounting the new root read-only.
    RootReadonly,
    /// Masking a path (bind of `/dev/null` or an empty tmpfs over it).
    MaskPath,
    /// Making a path read-only.
    ReadOnlyPath,
    /// Bringing the loopback interface up.
    Loopback,
    /// Setting the oom score adjustment.
    OomScoreAdj,
    /// Applying a resource limit (`setrlimit`).
    Rlimit,
    /// Dropping capabilities.
    Capabilities,
    /// `prctl(PR_SET_NO_NEW_PRIVS)`.
    NoNewPrivs,
    /// `prctl(PR_SET_PDEATHSIG)`.
    ParentDeathSignal,
    /// Installing a seccomp filter.
    Seccomp,
    /// Restricting the program with a Landlock ruleset.
    Landlock,
    /// Setting up stdin/stdout/stderr and passed descriptors.
    Stdio,
    /// Closing descriptors that must not reach the program.
    CloseFds,
    /// Resetting signal dispositions and the signal mask.
    Signals,
    /// `chdir(2)` into the working directory; index 1: the directory it
    /// reached lies outside the container's root (`getcwd(2)` check).
    Chdir,
    /// `execve(2)`.
    Exec,
    /// The start gate ([`Command::start_gate`](crate::Command::start_gate)):
    /// reporting ready (index 0) or reading the start byte (index 1).
    StartGate,
    /// A new process could not be forked inside the new PID namespace
    /// (used by joins and the init).
    Fork,
    /// Joining an existing namespace with `setns(2)`.
    Setns,
    /// `unshare(CLONE_NEWCGROUP)` once the parent has moved the child into
    /// its cgroup v1 directories (so that the namespace is rooted there).
    UnshareCgroup,
    /// `execveat(2)` of the crate's sealed exec helper (a memfd), which
    /// execs the program (or stays as its init) so that the caller's binary
    /// never crosses into the container. Index 1: keeping the error pipe
    /// across that exec.
    ExecHelper,
    /// `setpgid(2)`: putting the program in the process group asked for
    /// with [`process_group`](crate::Command::process_group).
    ProcessGroup,
    /// `setsid(2)`: a new session (`Command::setsid`, or a pty).
    Setsid,
    /// The program's terminal (`Command::pty`): the index names the
    /// item: 0 opening the container's `ptmx`, 1 it is not on a devpts,
    /// 2 unlocking it, 3 its window size, 4 opening the replica, 5 dup2
    /// onto the standard streams, 6 sending the primary to the parent,
    /// 7 `TIOCSCTTY` (making it the controlling terminal), 8 moving a
    /// descriptor above 0..=2, 9 `fchown` of the replica to the program's
    /// user.
    Terminal,
    /// Moving itself into a cgroup v1 directory: a write of `0` to the
    /// directory's `tasks` file (opened by the parent before clone); the
    /// index counts the cgroup's v1 directories, then those of a joined
    /// process.
    CgroupJoin,
}

impl Step {
    const ALL: &'static [Step] = &[
        Step::WaitIdMaps,
        Step::SetGroups,
        Step::SetGid,
        Step::SetUid,
        Step::UnshareTime,
        Step::TimeOffsets,
        Step::Hostname,
        Step::Domainname,
        Step::MountPropagation,
        Step::MountProc,
        Step::Mount,
        Step::MountTarget,
        Step::RootBind,
        Step::RootOverlay,
        Step::PivotRoot,
        Step::Chroot,
        Step::OldRootUnmount,
        Step::Dev,
        Step::RootReadonly,
        Step::MaskPath,
        Step::ReadOnlyPath,
        Step::Loopback,
        Step::OomScoreAdj,
        Step::Rlimit,
        Step::Capabilities,
        Step::NoNewPrivs,
        Step::ParentDeathSignal,
        Step::Seccomp,
        Step::Landlock,
        Step::Stdio,
        Step::CloseFds,
        Step::Signals,
        Step::Chdir,
        Step::Exec,
        Step::StartGate,
        Step::Fork,
        Step::UnshareCgroup,
        Step::Setns,
        Step::ExecHelper,
        Step::ProcessGroup,
        Step::Setsid,
        Step::Terminal,
        Step::CgroupJoin,
    ];

    /// A short, stable name of the step (`"pivot_root"`, `"exec"`, …).
    pub fn name(self) -> &'static str {
        match self {
            Step::WaitIdMaps => "wait_id_maps",
            Step::SetGroups => "setgroups",
            Step::SetGid => "setresgid",
            Step::SetUid => "setresuid",
            Step::UnshareTime => "unshare_time",
            Step::TimeOffsets => "timens_offsets",
            Step::Hostname => "sethostname",
            Step::Domainname => "setdomainname",
            Step::MountPropagation => "mount_propagation",
            Step::MountProc => "mount_proc",
            Step::Mount => "mount",
            Step::MountTarget => "mount_target",
            Step::RootBind => "root_bind",
            Step::RootOverlay => "root_overlay",
            Step::PivotRoot => "pivot_root",
            Step::Chroot => "chroot",
            Step::OldRootUnmount => "old_root_unmount",
            Step::Dev => "dev",
            Step::RootReadonly => "root_readonly",
            Step::MaskPath => "mask_path",
            Step::ReadOnlyPath => "read_only_path",
            Step::Loopback => "loopback_up",
            Step::OomScoreAdj => "oom_score_adj",
            Step::Rlimit => "setrlimit",
            Step::Capabilities => "capabilities",
            Step::NoNewPrivs => "no_new_privs",
            Step::ParentDeathSignal => "pdeathsig",
            Step::Seccomp => "seccomp",
            Step::Landlock => "landlock_restrict_self",
            Step::Stdio => "stdio",
            Step::CloseFds => "close_fds",
            Step::Signals => "signals",
            Step::Chdir => "chdir",
            Step::Exec => "exec",
            Step::StartGate => "start_gate",
            Step::Fork => "fork",
            Step::UnshareCgroup => "unshare_cgroup",
            Step::Setns => "setns",
            Step::ExecHelper => "exec_helper",
            Step::ProcessGroup => "setpgid",
            Step::Setsid => "setsid",
            Step::Terminal => "terminal",
            Step::CgroupJoin => "cgroup_join",
        }
    }

    pub(crate) fn from_u32(v: u32) -> Option<Step> {
        Step::ALL.iter().copied().find(|s| *s as u32 == v)
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the child writes to the error pipe when a step fails: fixed size,
/// no allocation. `index` is the position in a list (mount list, masked
/// paths) or 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChildFailure {
    pub step: Step,
    pub index: u32,
    pub errno: i32,
}

impl ChildFailure {
    pub(crate) const SIZE: usize = 12;

    /// A failure of `step` with the current `errno`.
    #[inline]
    pub(crate) fn last(step: Step) -> ChildFailure {
        ChildFailure {
            step,
            index: 0,
            errno: crate::sys::errno(),
        }
    }

    /// A failure of `step` at list position `index` with the current `errno`.
    #[allow(dead_code)] // used by the mount steps
    #[inline]
    pub(crate) fn last_at(step: Step, index: u32) -> ChildFailure {
        ChildFailure {
            step,
            index,
            errno: crate::sys::errno(),
        }
    }

    pub(crate) fn to_bytes(self) -> [u8; Self::SIZE] {
        let mut b = [0u8; Self::SIZE];
        b[0..4].copy_from_slice(&(self.step as u32).to_ne_bytes());
        b[4..8].copy_from_slice(&self.index.to_ne_bytes());
        b[8..12].copy_from_slice(&self.errno.to_ne_bytes());
        b
    }

    pub(crate) fn from_bytes(b: &[u8; Self::SIZE]) -> Option<ChildFailure> {
        let step = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
        let index = u32::from_ne_bytes([b[4], b[5], b[6], b[7]]);
        let errno = i32::from_ne_bytes([b[8], b[9], b[10], b[11]]);
        Some(ChildFailure {
            step: Step::from_u32(step)?,
            index,
            errno,
        })
    }
}

/// A step of the child's setup failed: which step, with which errno, on
/// which item, and what usually causes that.
///
/// Its `Debug` form (what `main() -> Result<(), Box<dyn Error>>` prints)
/// names the errno (`errno: EROFS`), as [`Display`](fmt::Display) does.
#[derive(Clone, PartialEq, Eq)]
pub struct ChildError {
    step: Step,
    index: u32,
    errno: i32,
    detail: Option<String>,
    hint: Option<String>,
}

impl ChildError {
    pub(crate) fn new(
        step: Step,
        index: u32,
        errno: i32,
        detail: Option<String>,
        hint: Option<String>,
    ) -> ChildError {
        ChildError {
            step,
            index,
            errno,
            detail,
            hint,
        }
    }

    /// The step that failed.
    pub fn step(&self) -> Step {
        self.step
    }
    /// The raw errno the failing system call returned.
    pub fn errno(&self) -> i32 {
        self.errno
    }
    /// The errno as an [`io::Error`] (its `kind()` is often what callers match on).
    pub fn io_error(&self) -> io::Error {
        io::Error::from_raw_os_error(self.errno)
    }
    /// For list-driven steps (mounts, masked paths), the index in the list.
    pub fn index(&self) -> u32 {
        self.index
    }
    /// What the step was working on (a mount's source, target and flags; a path).
    pub fn detail(&self) -> Option<&str> {
        self.detail.as_deref()
    }
    /// The usual causes of this errno at this step, when known.
    pub fn hint(&self) -> Option<&str> {
        self.hint.as_deref()
    }
}

impl fmt::Display for ChildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "container setup failed at step `{}`", self.step)?;
        if let Some(d) = &self.detail {
            write!(f, " ({d})")?;
        }
        write!(
            f,
            ": {} ({})",
            errno_name(self.errno),
            io::Error::from_raw_os_error(self.errno)
        )?;
        if let Some(h) = &self.hint {
            write!(f, "; hint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ChildError {}

impl fmt::Debug for ChildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildError")
            .field("step", &self.step)
            .field("index", &self.index)
            .field("errno", &format_args!("{}", errno_name(self.errno)))
            .field("detail", &self.detail)
            .field("hint", &self.hint)
            .finish()
    }
}

/// The symbolic name of an errno (`"EINVAL"`), or `"errno N"`.
pub fn errno_name(errno: i32) -> String {
    let e = nix::errno::Errno::from_raw(errno);
    if e == nix::errno::Errno::UnknownErrno {
        format!("errno {errno}")
    } else {
        format!("{e:?}")
    }
}

/// Why a spawn failed.
///
/// Errors the caller can cause are reported as [`SpawnError::InvalidConfig`]
/// before any process exists. Failures inside the child arrive as
/// [`SpawnError::Child`] with the step and errno.
///
/// The `Debug` form (what `main() -> Result<(), Box<dyn Error>>` prints)
/// names errnos (`EROFS (Read-only file system)`), not their numbers.
#[non_exhaustive]
#[derive(thiserror::Error)]
pub enum SpawnError {
    /// A setting of the container or command holds a value that cannot work.
    #[error("invalid {field} {value:?}: {reason}")]
    InvalidConfig {
        /// The method that set it (`"hostname"`, `"uid_map"`, `"arg"`, `"uid"` …).
        field: &'static str,
        /// The offending value, as given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// The host lacks a feature the configuration needs.
    #[error("{feature} is not available on this host: {reason}")]
    Unsupported {
        /// The feature (`"time namespace"`, `"clone3"` …).
        feature: &'static str,
        /// What the probe found.
        reason: String,
    },
    /// Creating the namespaces was refused with `ENOSPC`: a per-user limit
    /// on namespaces of one of the kinds asked for is reached. The limits
    /// are read when the clone failed (not from the cached probe). They
    /// count every namespace of that kind the caller's uid owns in its user
    /// namespace and each ancestor one, including namespaces whose last
    /// process has exited but which the kernel has not freed yet (network
    /// namespaces are freed asynchronously, seconds later).
    ///
    /// # References
    /// - [`namespaces(7)`](https://man7.org/linux/man-pages/man7/namespaces.7.html),
    ///   "The /proc/sys/user directory"
    #[error("{}", namespace_limit_text(.limits))]
    NamespaceLimit {
        /// Each namespace kind asked for, with its
        /// `/proc/sys/user/max_<kind>_namespaces` read at the failure
        /// (`None`: unreadable).
        limits: Vec<(crate::namespace::Namespace, Option<u64>)>,
    },
    /// A system call in the parent failed (creating pipes, `clone3`, writing id maps).
    #[error("{op} failed: {source}{}", hint_suffix(.hint))]
    Setup {
        /// What the parent was doing.
        op: &'static str,
        /// The error.
        #[source]
        source: io::Error,
        /// The usual causes, when known.
        hint: Option<String>,
    },
    /// An id map needs `newuidmap`/`newgidmap` (an unprivileged caller
    /// mapping more than its own id, see
    /// [`IdMapWriter`](crate::container::IdMapWriter)), and the helper is
    /// not installed. Found before any process exists.
    #[error("{helper} is needed to write this {map} and was not found in PATH, /usr/bin or /bin: install it (Debian and Ubuntu: apt install uidmap; Fedora: shadow-utils)")]
    IdMapHelperMissing {
        /// `"newuidmap"` or `"newgidmap"`.
        helper: &'static str,
        /// `"uid_map"` or `"gid_map"`.
        map: &'static str,
    },
    /// `newuidmap`/`newgidmap` refused the map (the ranges are not the
    /// caller's in `/etc/subuid`/`/etc/subgid`, the helper is not setuid,
    /// …): its exit status and what it printed.
    ///
    /// # References
    /// - [`newuidmap(1)`](https://man7.org/linux/man-pages/man1/newuidmap.1.html)
    #[error("{} refused the {map} (exit status {}): {}", .helper.display(), .status.map_or("killed by a signal".to_string(), |s| s.to_string()), .stderr.trim_end())]
    IdMapHelper {
        /// The helper run.
        helper: std::path::PathBuf,
        /// `"uid_map"` or `"gid_map"`.
        map: &'static str,
        /// Its exit code (`None`: killed by a signal).
        status: Option<i32>,
        /// Its standard error.
        stderr: String,
    },
    /// User-mode networking was asked for
    /// ([`crate::Container::user_network`]) and `pasta` is not
    /// installed. Found before any process exists.
    #[error("pasta is needed for user-mode networking and was not found in PATH, /usr/bin or /bin: install it (Debian and Ubuntu: apt install passt)")]
    UserNetHelperMissing,
    /// `pasta` failed to connect the container's network namespace: its
    /// exit status, what it printed and, when known, the usual cause.
    #[error("{} failed (exit status {}): {}{}", .helper.display(), .status.map_or("killed by a signal".to_string(), |s| s.to_string()), .stderr.trim_end(), hint_suffix(.hint))]
    UserNetHelper {
        /// The helper run.
        helper: std::path::PathBuf,
        /// Its exit code (`None`: killed by a signal).
        status: Option<i32>,
        /// Its standard error.
        stderr: String,
        /// The usual cause.
        hint: Option<String>,
    },
    /// A step in the child failed.
    #[error(transparent)]
    Child(#[from] ChildError),
    /// Opening or checking a namespace to join failed.
    #[error(transparent)]
    Namespace(#[from] crate::namespace::Error),
    /// Setting up the container's mounts or root failed in the parent.
    #[error(transparent)]
    Mount(#[from] crate::mount::Error),
    /// The Landlock ruleset cannot be built or enforced.
    #[cfg(feature = "landlock")]
    #[cfg_attr(all(docsrs, containment_nightly), doc(cfg(feature = "landlock")))]
    #[error(transparent)]
    Landlock(#[from] crate::landlock::Error),
    /// Creating or configuring the container's cgroup failed.
    #[error(transparent)]
    Cgroup(#[from] crate::cgroup::Error),
}

impl fmt::Debug for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::InvalidConfig {
                field,
                value,
                reason,
            } => f
                .debug_struct("InvalidConfig")
                .field("field", field)
                .field("value", value)
                .field("reason", reason)
                .finish(),
            SpawnError::Unsupported { feature, reason } => f
                .debug_struct("Unsupported")
                .field("feature", feature)
                .field("reason", reason)
                .finish(),
            SpawnError::NamespaceLimit { limits } => f
                .debug_struct("NamespaceLimit")
                .field("limits", limits)
                .finish(),
            SpawnError::Setup { op, source, hint } => f
                .debug_struct("Setup")
                .field("op", op)
                .field("source", &IoErrorDebug(source))
                .field("hint", hint)
                .finish(),
            SpawnError::IdMapHelperMissing { helper, map } => f
                .debug_struct("IdMapHelperMissing")
                .field("helper", helper)
                .field("map", map)
                .finish(),
            SpawnError::IdMapHelper {
                helper,
                map,
                status,
                stderr,
            } => f
                .debug_struct("IdMapHelper")
                .field("helper", helper)
                .field("map", map)
                .field("status", status)
                .field("stderr", stderr)
                .finish(),
            SpawnError::UserNetHelperMissing => f.write_str("UserNetHelperMissing"),
            SpawnError::UserNetHelper {
                helper,
                status,
                stderr,
                hint,
            } => f
                .debug_struct("UserNetHelper")
                .field("helper", helper)
                .field("status", status)
                .field("stderr", stderr)
                .field("hint", hint)
                .finish(),
            SpawnError::Child(e) => f.debug_tuple("Child").field(e).finish(),
            SpawnError::Namespace(e) => f.debug_tuple("Namespace").field(e).finish(),
            SpawnError::Mount(e) => f.debug_tuple("Mount").field(e).finish(),
            #[cfg(feature = "landlock")]
            SpawnError::Landlock(e) => f.debug_tuple("Landlock").field(e).finish(),
            SpawnError::Cgroup(e) => f.debug_tuple("Cgroup").field(e).finish(),
        }
    }
}

/// An [`io::Error`] in a `Debug` form that names its errno
/// (`EROFS (Read-only file system)`); others as std shows them.
struct IoErrorDebug<'a>(&'a io::Error);

impl fmt::Debug for IoErrorDebug<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.raw_os_error() {
            Some(n) => write!(
                f,
                "{} ({})",
                errno_name(n),
                nix::errno::Errno::from_raw(n).desc()
            ),
            None => fmt::Debug::fmt(self.0, f),
        }
    }
}

fn namespace_limit_text(limits: &[(crate::namespace::Namespace, Option<u64>)]) -> String {
    let shown: Vec<String> = limits
        .iter()
        .map(|(k, v)| match v {
            Some(v) => format!("{} = {v}", k.max_sysctl()),
            None => format!("{} unreadable", k.max_sysctl()),
        })
        .collect();
    format!(
        "creating the namespaces failed with ENOSPC: a per-user namespace limit is reached \
         ({}); the count includes namespaces not freed yet (network namespaces are freed \
         asynchronously) and those owned by the same uid in ancestor user namespaces",
        shown.join(", ")
    )
}

fn hint_suffix(h: &Option<String>) -> String {
    match h {
        Some(h) => format!("; hint: {h}"),
        None => String::new(),
    }
}

impl SpawnError {
    pub(crate) fn invalid(
        field: &'static str,
        value: impl fmt::Debug,
        reason: impl Into<String>,
    ) -> SpawnError {
        let mut v = format!("{value:?}");
        // Keep values readable: strings are shown without Debug's quotes.
        if v.starts_with('"') && v.ends_with('"') && v.len() >= 2 {
            v = v[1..v.len() - 1].to_string();
        }
        SpawnError::InvalidConfig {
            field,
            value: v,
            reason: reason.into(),
        }
    }

    pub(crate) fn setup(op: &'static str, source: io::Error) -> SpawnError {
        SpawnError::Setup {
            op,
            source,
            hint: None,
        }
    }

    /// The child's error, when the failure happened in the child.
    pub fn child_error(&self) -> Option<&ChildError> {
        match self {
            SpawnError::Child(c) => Some(c),
            _ => None,
        }
    }

    /// The field a validation error names: of [`SpawnError::InvalidConfig`],
    /// or of an invalid mount setting or cgroup limit.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            SpawnError::InvalidConfig { field, .. } => Some(field),
            SpawnError::Mount(crate::mount::Error::Invalid { field, .. }) => Some(field),
            SpawnError::Cgroup(crate::cgroup::Error::Invalid { field, .. }) => Some(field),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_roundtrip() {
        let f = ChildFailure {
            step: Step::PivotRoot,
            index: 7,
            errno: libc::EINVAL,
        };
        assert_eq!(ChildFailure::from_bytes(&f.to_bytes()), Some(f));
        for s in Step::ALL {
            assert_eq!(Step::from_u32(*s as u32), Some(*s));
        }
        assert_eq!(Step::from_u32(0), None);
    }

    #[test]
    fn display_names_step_errno_and_hint() {
        let e = ChildError::new(
            Step::Exec,
            0,
            libc::ENOENT,
            Some("/nonexistent".into()),
            Some("the program does not exist".into()),
        );
        let s = e.to_string();
        assert!(s.contains("`exec`"), "{s}");
        assert!(s.contains("ENOENT"), "{s}");
        assert!(s.contains("/nonexistent"), "{s}");
        assert!(s.contains("hint"), "{s}");
    }

    #[test]
    fn debug_names_the_errno() {
        let e = ChildError::new(Step::Mount, 2, libc::EROFS, None, None);
        let d = format!("{e:?}");
        assert!(d.contains("errno: EROFS"), "{d}");
        assert!(!d.contains("30"), "{d}");
        // Through SpawnError, as `main() -> Result<(), Box<dyn Error>>` shows it.
        let d = format!("{:?}", SpawnError::Child(e));
        assert!(d.contains("errno: EROFS"), "{d}");
        assert!(
            format!("{:?}", ChildError::new(Step::Exec, 0, 4095, None, None))
                .contains("errno 4095")
        );
    }

    #[test]
    fn debug_names_the_errno_of_a_parent_step() {
        let d = format!(
            "{:?}",
            SpawnError::setup("clone3", io::Error::from_raw_os_error(libc::ENOSPC))
        );
        assert!(
            d.contains("source: ENOSPC (No space left on device)"),
            "{d}"
        );
        assert!(!d.contains("28"), "{d}");
        let d = format!("{:?}", SpawnError::setup("x", io::Error::other("plain")));
        assert!(d.contains("plain"), "{d}");
    }
}
