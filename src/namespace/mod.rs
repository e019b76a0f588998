//! Linux namespaces: the eight kinds, creating them (`unshare`), joining them
//! (`setns`), and handles on existing ones ([`NsFd`]).
//!
//! Usable on its own: a program that only wants to join a container's network
//! namespace needs nothing else from this crate.

mod list;
mod net;
mod subid;
mod time;
mod user;
mod uts;

pub use list::{list_namespaces, NsInfo, NsListing, ProcessNs, Unreadable};
pub use net::loopback_up;
pub use subid::{
    parse_subids, read_subids, rootless_map, rootless_maps, SubIdRange, SUBGID_FILE, SUBUID_FILE,
};
pub(crate) use time::validate_offsets;
pub use time::TimeOffsets;
#[cfg(fuzzing)]
pub(crate) use user::parse_id_map;
pub(crate) use user::{format_id_map, validate_id_maps};
pub use user::{read_id_map, IdMap};
pub(crate) use uts::validate_uts_name;

use crate::sys;
use std::fmt;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The eight kinds of Linux namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Namespace {
    /// Cgroup root directory (`CLONE_NEWCGROUP`, Linux 4.6).
    Cgroup,
    /// System V IPC and POSIX message queues (`CLONE_NEWIPC`).
    Ipc,
    /// Mount points (`CLONE_NEWNS`).
    Mount,
    /// Network devices, stacks, ports (`CLONE_NEWNET`).
    Net,
    /// Process IDs (`CLONE_NEWPID`).
    Pid,
    /// Boot and monotonic clocks (`CLONE_NEWTIME`, Linux 5.6).
    Time,
    /// User and group IDs, capabilities (`CLONE_NEWUSER`).
    User,
    /// Hostname and NIS domain name (`CLONE_NEWUTS`).
    Uts,
}

impl Namespace {
    /// All eight kinds, in the order `setns` should join them when a user
    /// namespace is involved: user first, then the rest.
    pub const ALL: [Namespace; 8] = [
        Namespace::User,
        Namespace::Cgroup,
        Namespace::Ipc,
        Namespace::Uts,
        Namespace::Net,
        Namespace::Pid,
        Namespace::Time,
        Namespace::Mount,
    ];

    /// The file name under `/proc/<pid>/ns/` (`"mnt"` for [`Namespace::Mount`]).
    pub fn proc_name(self) -> &'static str {
        match self {
            Namespace::Cgroup => "cgroup",
            Namespace::Ipc => "ipc",
            Namespace::Mount => "mnt",
            Namespace::Net => "net",
            Namespace::Pid => "pid",
            Namespace::Time => "time",
            Namespace::User => "user",
            Namespace::Uts => "uts",
        }
    }

    /// The `CLONE_NEW*` flag of this kind.
    pub fn clone_flag(self) -> u64 {
        self.flag().bits() as u64
    }

    /// This kind as a one-element [`Namespaces`] set.
    pub fn flag(self) -> Namespaces {
        match self {
            Namespace::Cgroup => Namespaces::CGROUP,
            Namespace::Ipc => Namespaces::IPC,
            Namespace::Mount => Namespaces::MOUNT,
            Namespace::Net => Namespaces::NET,
            Namespace::Pid => Namespaces::PID,
            Namespace::Time => Namespaces::TIME,
            Namespace::User => Namespaces::USER,
            Namespace::Uts => Namespaces::UTS,
        }
    }

    /// The kind whose `CLONE_NEW*` flag is `flag`.
    pub fn from_clone_flag(flag: u64) -> Option<Namespace> {
        Namespace::ALL.into_iter().find(|k| k.clone_flag() == flag)
    }

    /// The kind as an error names it ("network namespace").
    pub(crate) fn feature_name(self) -> &'static str {
        match self {
            Namespace::Cgroup => "cgroup namespace",
            Namespace::Ipc => "IPC namespace",
            Namespace::Mount => "mount namespace",
            Namespace::Net => "network namespace",
            Namespace::Pid => "PID namespace",
            Namespace::Time => "time namespace",
            Namespace::User => "user namespace",
            Namespace::Uts => "UTS namespace",
        }
    }

    /// The sysctl that limits how many namespaces of this kind a user may create.
    pub fn max_sysctl(self) -> &'static str {
        match self {
            Namespace::Cgroup => "/proc/sys/user/max_cgroup_namespaces",
            Namespace::Ipc => "/proc/sys/user/max_ipc_namespaces",
            Namespace::Mount => "/proc/sys/user/max_mnt_namespaces",
            Namespace::Net => "/proc/sys/user/max_net_namespaces",
            Namespace::Pid => "/proc/sys/user/max_pid_namespaces",
            Namespace::Time => "/proc/sys/user/max_time_namespaces",
            Namespace::User => "/proc/sys/user/max_user_namespaces",
            Namespace::Uts => "/proc/sys/user/max_uts_namespaces",
        }
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.proc_name())
    }
}

impl std::str::FromStr for Namespace {
    type Err = Error;

    /// Parses the name [`Display`](fmt::Display) shows: the file name under
    /// `/proc/<pid>/ns/` (`"cgroup"`, `"ipc"`, `"mnt"`, `"net"`, `"pid"`,
    /// `"time"`, `"user"`, `"uts"`). `"mount"` and `"network"` (the words
    /// `unshare(1)` uses in `--mount`, `--net`) are accepted too; case
    /// matters, as in `/proc`.
    ///
    /// ```
    /// use containment::Namespace;
    ///
    /// assert_eq!("net".parse::<Namespace>()?, Namespace::Net);
    /// assert_eq!("mnt".parse::<Namespace>()?, Namespace::Mount);
    /// assert_eq!(Namespace::Mount.to_string().parse::<Namespace>()?, Namespace::Mount);
    /// # Ok::<(), containment::namespace::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::Parse`] (what: `"namespace kind"`) for any other string.
    ///
    /// # References
    /// - [`namespaces(7)`](https://man7.org/linux/man-pages/man7/namespaces.7.html),
    ///   "The /proc/pid/ns/ directory"
    fn from_str(s: &str) -> Result<Namespace, Error> {
        let k = match s {
            "mount" => Namespace::Mount,
            "network" => Namespace::Net,
            _ => match Namespace::ALL.into_iter().find(|k| k.proc_name() == s) {
                Some(k) => k,
                None => {
                    return Err(Error::Parse {
                        what: "namespace kind",
                        input: s.to_string(),
                        reason: "expected one of cgroup, ipc, mnt, net, pid, time, user, uts"
                            .into(),
                    })
                }
            },
        };
        Ok(k)
    }
}

bitflags::bitflags! {
    /// A set of namespace kinds. The bits are the kernel's `CLONE_NEW*` flags.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
    pub struct Namespaces: u32 {
        /// New time namespace.
        const TIME = 0x0000_0080;
        /// New mount namespace.
        const MOUNT = 0x0002_0000;
        /// New cgroup namespace.
        const CGROUP = 0x0200_0000;
        /// New UTS namespace.
        const UTS = 0x0400_0000;
        /// New IPC namespace.
        const IPC = 0x0800_0000;
        /// New user namespace.
        const USER = 0x1000_0000;
        /// New PID namespace.
        const PID = 0x2000_0000;
        /// New network namespace.
        const NET = 0x4000_0000;
    }
}

impl Namespaces {
    /// The kinds in this set, user namespace first.
    pub fn kinds(self) -> impl Iterator<Item = Namespace> {
        Namespace::ALL
            .into_iter()
            .filter(move |k| self.contains(k.flag()))
    }
}

impl From<Namespace> for Namespaces {
    fn from(k: Namespace) -> Namespaces {
        k.flag()
    }
}

/// Errors of the namespace layer.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Opening a namespace file failed.
    #[error("opening namespace file {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A namespace file or descriptor is not of the expected kind.
    #[error("{what} is a {found} namespace, not {expected}")]
    WrongKind {
        /// What was opened.
        what: String,
        /// Expected kind.
        expected: Namespace,
        /// Kind found.
        found: Namespace,
    },
    /// `unshare(2)` failed.
    #[error("unshare({namespaces:?}): {source}{}", hint.as_deref().map(|h| format!("; hint: {h}")).unwrap_or_default())]
    Unshare {
        /// The namespaces asked for.
        namespaces: Namespaces,
        /// The error.
        #[source]
        source: io::Error,
        /// The usual causes.
        hint: Option<String>,
    },
    /// `setns(2)` failed.
    #[error("setns into {kind:?} namespace: {source}{}", hint.as_deref().map(|h| format!("; hint: {h}")).unwrap_or_default())]
    Setns {
        /// The kind being joined (None: several via a pidfd).
        kind: Option<Namespace>,
        /// The error.
        #[source]
        source: io::Error,
        /// The usual causes.
        hint: Option<String>,
    },
    /// Another system call failed.
    #[error("{op}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The user has no subordinate ids in the file (see
    /// [`rootless_maps`]): root must add a line such as
    /// `name:100000:65536` (`usermod --add-subuids`, `--add-subgids`).
    #[error("{user} has no subordinate ids in {file}: add a line {user}:<start>:<count> (usermod --add-subuids/--add-subgids)")]
    NoSubIds {
        /// `/etc/subuid` or `/etc/subgid`.
        file: PathBuf,
        /// The user name looked up.
        user: String,
    },
    /// The user's subordinate ids are fewer than asked for.
    #[error("{user}'s subordinate ids in {file} hold {available} ids, {needed} are needed")]
    SubIdsTooSmall {
        /// `/etc/subuid` or `/etc/subgid`.
        file: PathBuf,
        /// The user name looked up.
        user: String,
        /// Ids usable (ranges holding the caller's own id are not).
        available: u32,
        /// Ids asked for.
        needed: u32,
    },
    /// A value could not be parsed.
    #[error("cannot parse {what} from {input:?}: {reason}")]
    Parse {
        /// What was being parsed.
        what: &'static str,
        /// The input.
        input: String,
        /// Why.
        reason: String,
    },
}

/// The identity of a namespace: the device and inode of its nsfs file, as
/// `lsns` and `stat -L /proc/<pid>/ns/<kind>` show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NsId {
    /// Device number of the nsfs.
    pub dev: u64,
    /// Inode number (the number `lsns` prints as NS).
    pub ino: u64,
}

impl fmt::Display for NsId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.ino)
    }
}

/// An open handle on a namespace (a descriptor of its nsfs file).
///
/// Holding it keeps the namespace alive even after every process in it has
/// exited. [`NsFd::join`] moves the calling thread into it.
#[derive(Debug)]
pub struct NsFd {
    fd: OwnedFd,
    kind: Namespace,
}

const NS_GET_NSTYPE: u64 = 0xb703; // _IO(0xb7, 0x3)

impl NsFd {
    /// Opens `/proc/<pid>/ns/<kind>`.
    ///
    /// # Errors
    ///
    /// [`Error::Open`]: no such process (`ENOENT`), not allowed (`EACCES`);
    /// [`Error::WrongKind`] cannot happen here.
    pub fn open_pid(pid: i32, kind: Namespace) -> Result<NsFd, Error> {
        Self::open_path(format!("/proc/{pid}/ns/{}", kind.proc_name()), Some(kind))
    }

    /// Opens the calling process's namespace of `kind` (`/proc/self/ns/<kind>`).
    ///
    /// # Errors
    ///
    /// [`Error::Open`] when `/proc` is not mounted or the kind is not
    /// supported by the kernel (`ENOENT`).
    pub fn open_self(kind: Namespace) -> Result<NsFd, Error> {
        Self::open_path(format!("/proc/self/ns/{}", kind.proc_name()), Some(kind))
    }

    /// Opens a namespace file (a `/proc/<pid>/ns/*` file or a bind mount of
    /// one). With `expect` set, checks the kind (`NS_GET_NSTYPE`).
    ///
    /// # Errors
    ///
    /// [`Error::Open`] when the file cannot be opened; [`Error::WrongKind`]
    /// when it is a namespace of another kind; [`Error::Io`] when
    /// `NS_GET_NSTYPE` fails; [`Error::Open`] with `ENOTTY` when the path
    /// is not on nsfs (it is then never opened for reading: a FIFO or a
    /// device node there is not touched).
    pub fn open_path(path: impl AsRef<Path>, expect: Option<Namespace>) -> Result<NsFd, Error> {
        let path = path.as_ref();
        let open_err = |source| Error::Open {
            path: path.to_owned(),
            source,
        };
        // (branch brk2) Checked to be a namespace file before it is opened
        // for reading: an open of a FIFO blocks forever, and the open of a
        // device node has its own effects (a watchdog, a tape). O_PATH
        // opens nothing; the nsfs descriptor is then reopened through
        // /proc/self/fd (the same inode, never the path again).
        use std::os::unix::fs::OpenOptionsExt;
        let probe = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH)
            .open(path)
            .map_err(open_err)?;
        // SAFETY: a zeroed statfs is valid; fstatfs fills it.
        let mut st: libc::statfs = unsafe { std::mem::zeroed() };
        // SAFETY: a live descriptor and a statfs we own.
        if unsafe { libc::fstatfs(probe.as_raw_fd(), &mut st) } != 0 {
            return Err(open_err(io::Error::last_os_error()));
        }
        if st.f_type as i64 != libc::NSFS_MAGIC {
            return Err(open_err(io::Error::from_raw_os_error(libc::ENOTTY)));
        }
        let file = File::open(format!("/proc/self/fd/{}", probe.as_raw_fd())).map_err(open_err)?;
        let fd = OwnedFd::from(file);
        let kind = nstype(fd.as_fd()).map_err(|source| Error::Open {
            path: path.to_owned(),
            source,
        })?;
        if let Some(expected) = expect {
            if expected != kind {
                return Err(Error::WrongKind {
                    what: path.display().to_string(),
                    expected,
                    found: kind,
                });
            }
        }
        Ok(NsFd { fd, kind })
    }

    /// The namespace of `kind` of the process behind `pidfd`.
    ///
    /// Uses the `PIDFD_GET_*_NAMESPACE` ioctls (Linux 6.11); on older
    /// kernels opens `/proc/<pid>/ns/<kind>` and then checks with the pidfd
    /// that the process is still the same one (so a recycled pid is never
    /// opened by mistake).
    ///
    /// # Errors
    ///
    /// [`Error::Open`] or [`Error::Io`] when the process has exited (`ESRCH`)
    /// or its namespaces cannot be opened (`EACCES`, `EPERM`).
    pub fn from_pidfd(pidfd: BorrowedFd<'_>, kind: Namespace) -> Result<NsFd, Error> {
        use sys::pidfd::PidfdNs;
        let which = match kind {
            Namespace::Cgroup => PidfdNs::Cgroup,
            Namespace::Ipc => PidfdNs::Ipc,
            Namespace::Mount => PidfdNs::Mnt,
            Namespace::Net => PidfdNs::Net,
            Namespace::Pid => PidfdNs::Pid,
            Namespace::Time => PidfdNs::Time,
            Namespace::User => PidfdNs::User,
            Namespace::Uts => PidfdNs::Uts,
        };
        match sys::pidfd_namespace(pidfd, which) {
            Ok(fd) => Ok(NsFd { fd, kind }),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTTY | libc::EINVAL)) => {
                let pid = pidfd_pid(pidfd)?;
                let ns = Self::open_pid(pid, kind)?;
                sys::pidfd_send_signal(pidfd, 0).map_err(|source| Error::Io {
                    op: "checking the process is still alive (pidfd_send_signal 0)",
                    source,
                })?;
                Ok(ns)
            }
            Err(source) => Err(Error::Io {
                op: "PIDFD_GET_*_NAMESPACE ioctl",
                source,
            }),
        }
    }

    /// Which kind of namespace this is.
    pub fn kind(&self) -> Namespace {
        self.kind
    }

    /// Its identity (device and inode).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] when `fstat(2)` on the descriptor fails.
    pub fn id(&self) -> Result<NsId, Error> {
        let f = File::from(
            self.fd
                .try_clone()
                .map_err(|source| Error::Io { op: "dup", source })?,
        );
        let m = f.metadata().map_err(|source| Error::Io {
            op: "fstat of a namespace descriptor",
            source,
        })?;
        Ok(NsId {
            dev: m.dev(),
            ino: m.ino(),
        })
    }

    /// Moves the calling thread into this namespace (`setns(2)`).
    ///
    /// Joining a PID namespace affects only children created afterwards;
    /// joining a user namespace requires a single-threaded process; joining a
    /// mount namespace requires that the thread does not share its filesystem
    /// attributes (`CLONE_FS`) with others, so it fails in a multi-threaded
    /// program's thread.
    ///
    /// # Errors
    ///
    /// [`Error::Setns`] with the `setns(2)` errno and a hint (`EPERM`: no
    /// `CAP_SYS_ADMIN` over the namespace; `EINVAL`: a multi-threaded caller
    /// joining a user or mount namespace).
    pub fn join(&self) -> Result<(), Error> {
        setns(self.fd.as_fd(), Some(self.kind))
    }
}

impl AsFd for NsFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl From<NsFd> for OwnedFd {
    fn from(n: NsFd) -> OwnedFd {
        n.fd
    }
}

pub(crate) fn nstype(fd: BorrowedFd<'_>) -> io::Result<Namespace> {
    // SAFETY: NS_GET_NSTYPE takes no argument and returns a CLONE_NEW* value.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE as _) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Namespace::from_clone_flag(r as u64).ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))
}

/// The pid (in our PID namespace) of the process behind a pidfd, from
/// `/proc/self/fdinfo`.
pub(crate) fn pidfd_pid(pidfd: BorrowedFd<'_>) -> Result<i32, Error> {
    let path = format!("/proc/self/fdinfo/{}", pidfd.as_raw_fd());
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Open {
        path: path.clone().into(),
        source,
    })?;
    text.lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|v| v.trim().parse::<i32>().ok())
        .filter(|p| *p > 0)
        .ok_or_else(|| Error::Parse {
            what: "pid of a pidfd",
            input: text.clone(),
            reason: "no positive Pid: line (not a pidfd, or the process has exited)".into(),
        })
}

/// Hint for an errno from namespace creation.
pub(crate) fn create_hint(ns: Namespaces, errno: i32) -> Option<String> {
    match errno {
        libc::ENOSPC => {
            let files: Vec<&str> = ns.kinds().map(|k| k.max_sysctl()).collect();
            Some(format!(
                "a per-user namespace limit is reached: check {} (0 disables the kind) and how many namespaces of that kind exist",
                files.join(", ")
            ))
        }
        libc::EPERM if ns.contains(Namespaces::USER) => Some(
            "creating a user namespace was refused: check /proc/sys/user/max_user_namespaces, \
             /proc/sys/kernel/unprivileged_userns_clone (Debian), \
             /proc/sys/kernel/apparmor_restrict_unprivileged_userns (Ubuntu), a seccomp profile \
             of the caller, and that the caller is not in a chroot"
                .into(),
        ),
        libc::EPERM => Some(
            "creating namespaces other than a user namespace needs CAP_SYS_ADMIN: run as root, \
             or add Namespaces::USER so the new namespaces are owned by a new user namespace"
                .into(),
        ),
        libc::EINVAL if ns.contains(Namespaces::TIME) => {
            Some("time namespaces need Linux 5.6 (CONFIG_TIME_NS)".into())
        }
        libc::EINVAL => Some(
            "a namespace kind may be compiled out of this kernel (CONFIG_*_NS), or a user \
             namespace was asked for from a multi-threaded process via unshare"
                .into(),
        ),
        libc::EUSERS => Some("the nesting depth of user or PID namespaces (32) is reached".into()),
        _ => None,
    }
}

/// `unshare(2)`: moves the calling thread into new namespaces of the given
/// kinds.
///
/// A new PID namespace applies to children created afterwards; a new time
/// namespace likewise (and to the caller after its next `execve`). A new user
/// namespace needs a single-threaded caller.
///
/// # Errors
///
/// [`Error::Unshare`] with the `unshare(2)` errno and a hint (`EPERM`,
/// `ENOSPC`: a `max_*_namespaces` limit, `EINVAL`: a user namespace from
/// a multi-threaded process).
///
/// # References
/// - [`unshare(2)`](https://man7.org/linux/man-pages/man2/unshare.2.html)
pub fn unshare(namespaces: Namespaces) -> Result<(), Error> {
    // SAFETY: plain system call with an integer argument.
    let r = unsafe { libc::unshare(namespaces.bits() as libc::c_int) };
    if r != 0 {
        let source = io::Error::last_os_error();
        let hint = create_hint(namespaces, source.raw_os_error().unwrap_or(0));
        return Err(Error::Unshare {
            namespaces,
            source,
            hint,
        });
    }
    Ok(())
}

/// `setns(2)`: joins the namespace behind `fd`. With `kind` set, the kernel
/// checks that the descriptor is of that kind.
///
/// # Errors
///
/// [`Error::Setns`] with the `setns(2)` errno (`EINVAL`: not of `kind`;
/// `EPERM`: not allowed).
///
/// # References
/// - [`setns(2)`](https://man7.org/linux/man-pages/man2/setns.2.html)
pub fn setns(fd: BorrowedFd<'_>, kind: Option<Namespace>) -> Result<(), Error> {
    let nstype = kind.map(|k| k.clone_flag() as libc::c_int).unwrap_or(0);
    // SAFETY: plain system call; fd is a live descriptor.
    let r = unsafe { libc::setns(fd.as_raw_fd(), nstype) };
    if r != 0 {
        let source = io::Error::last_os_error();
        let hint = setns_hint(source.raw_os_error().unwrap_or(0));
        return Err(Error::Setns { kind, source, hint });
    }
    Ok(())
}

/// `setns(pidfd, flags)` (Linux 5.8): joins several namespaces of the process
/// behind a pidfd at once, atomically.
///
/// # Errors
///
/// [`Error::Setns`] with the `setns(2)` errno (`EINVAL`: a kernel before
/// 5.8 or an unknown flag; `ESRCH`: the process has exited; `EPERM`).
pub fn setns_pidfd(pidfd: BorrowedFd<'_>, namespaces: Namespaces) -> Result<(), Error> {
    // SAFETY: plain system call; pidfd is a live descriptor.
    let r = unsafe { libc::setns(pidfd.as_raw_fd(), namespaces.bits() as libc::c_int) };
    if r != 0 {
        let source = io::Error::last_os_error();
        let hint = setns_hint(source.raw_os_error().unwrap_or(0));
        return Err(Error::Setns {
            kind: None,
            source,
            hint,
        });
    }
    Ok(())
}

fn setns_hint(errno: i32) -> Option<String> {
    match errno {
        libc::EPERM => Some("joining needs CAP_SYS_ADMIN in the namespace's owning user namespace (join the user namespace first)".into()),
        libc::EINVAL => Some("joining a user namespace needs a single-threaded caller; joining a mount namespace needs a caller that does not share CLONE_FS (a thread of a multi-threaded program); or the descriptor is not of the kind asked".into()),
        libc::ESRCH => Some("the process behind the pidfd has exited".into()),
        _ => None,
    }
}

/// Ids of all eight namespaces of a process (`None` for kinds this kernel
/// lacks or that cannot be read).
pub fn ids_of(pid: i32) -> Vec<(Namespace, Option<NsId>)> {
    Namespace::ALL
        .into_iter()
        .map(|k| {
            let p = format!("/proc/{pid}/ns/{}", k.proc_name());
            let id = std::fs::metadata(p).ok().map(|m| NsId {
                dev: m.dev(),
                ino: m.ino(),
            });
            (k, id)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_clone_flags() {
        assert_eq!(Namespace::Mount.clone_flag(), libc::CLONE_NEWNS as u64);
        assert_eq!(Namespace::Time.clone_flag(), 0x80);
        assert_eq!(Namespace::Cgroup.clone_flag(), libc::CLONE_NEWCGROUP as u64);
        assert_eq!(Namespaces::all().kinds().count(), 8);
        assert_eq!(Namespaces::all().kinds().next(), Some(Namespace::User));
        for k in Namespace::ALL {
            assert_eq!(Namespace::from_clone_flag(k.clone_flag()), Some(k));
        }
    }

    #[test]
    fn own_namespaces_open() {
        for k in Namespace::ALL {
            let fd = NsFd::open_self(k).unwrap();
            assert_eq!(fd.kind(), k);
            let m = std::fs::metadata(format!("/proc/self/ns/{}", k.proc_name())).unwrap();
            assert_eq!(fd.id().unwrap().ino, m.ino());
        }
    }

    #[test]
    fn wrong_kind_is_refused() {
        let e = NsFd::open_path("/proc/self/ns/net", Some(Namespace::Uts)).unwrap_err();
        assert!(matches!(e, Error::WrongKind { .. }), "{e}");
    }
}
