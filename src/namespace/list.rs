//! Every namespace on the host, like util-linux `lsns`.
//!
//! [`list_namespaces`] walks `/proc` (with the `procfs` crate), stats
//! `/proc/<pid>/ns/<kind>` of every process, groups processes by namespace,
//! and asks the kernel for each namespace's owning user namespace
//! (`NS_GET_USERNS`) and, for PID and user namespaces, its parent
//! (`NS_GET_PARENT`).
//!
//! Nothing the caller cannot see is dropped silently: a process whose
//! namespace links cannot be read (without `CAP_SYS_PTRACE` over it, which an
//! unprivileged caller lacks for other users' processes and which even root
//! may lack under an LSM) is returned in [`NsListing::unreadable`] with the
//! error, so a caller knows its view is partial. Processes that exit while
//! the listing runs are only counted ([`NsListing::vanished`]).

use super::{Error, Namespace, NsId};
use std::collections::BTreeMap;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

const NS_GET_USERNS: u64 = 0xb701; // _IO(0xb7, 0x1)
const NS_GET_PARENT: u64 = 0xb702; // _IO(0xb7, 0x2)

/// One namespace as the listing saw it: a row of `lsns`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct NsInfo {
    /// Its identity (`NS` in `lsns`: the inode).
    pub id: NsId,
    /// Its kind (`TYPE`).
    pub kind: Namespace,
    /// The processes in it (thread-group leaders, as `lsns` counts them),
    /// ascending. `pids.len()` is `NPROCS`, `pids[0]` is `PID`.
    pub pids: Vec<i32>,
    /// Owner uid of the lowest pid (`USER`), when it could be read.
    pub uid: Option<u32>,
    /// Command line of the lowest pid, or its `comm` when the command line
    /// is empty (kernel threads) (`COMMAND`).
    pub command: String,
    /// The user namespace that owns this namespace (`ONS`), from
    /// `ioctl(fd, NS_GET_USERNS)`. For a user namespace that is its parent.
    /// `None` when the owner lies outside the caller's user namespace
    /// (`EPERM`: the initial user namespace has no owner), or could not be
    /// opened.
    pub owner: Option<NsId>,
    /// For PID and user namespaces, the parent namespace (`PNS`), from
    /// `ioctl(fd, NS_GET_PARENT)`; `None` at the top of the caller's view
    /// and for the other kinds.
    pub parent: Option<NsId>,
}

impl NsInfo {
    /// Number of processes in the namespace (`NPROCS`).
    pub fn nprocs(&self) -> usize {
        self.pids.len()
    }

    /// The lowest pid in the namespace (`PID`).
    pub fn pid(&self) -> i32 {
        self.pids.first().copied().unwrap_or(0)
    }
}

/// One process and its namespaces (`/proc/<pid>/ns/*`).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessNs {
    /// Its pid, in the caller's PID namespace.
    pub pid: i32,
    /// Its parent's pid.
    pub ppid: i32,
    /// Owner uid of `/proc/<pid>`, when it could be read.
    pub uid: Option<u32>,
    /// Command line, or `comm` when the command line is empty.
    pub command: String,
    /// Whether it is a zombie (it then has no namespaces left).
    pub zombie: bool,
    /// Its namespace of each kind this kernel has, user namespace first.
    /// Empty for a zombie, and for a process the caller may not inspect
    /// (that one is also in [`NsListing::unreadable`]).
    pub namespaces: Vec<(Namespace, NsId)>,
}

impl ProcessNs {
    /// Its namespace of `kind`, if the listing could read it.
    pub fn namespace(&self, kind: Namespace) -> Option<NsId> {
        self.namespaces
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, id)| *id)
    }
}

/// A process whose namespaces the caller may not see.
#[derive(Debug)]
#[non_exhaustive]
pub struct Unreadable {
    /// Its pid (0 when even that could not be read).
    pub pid: i32,
    /// The first kind whose link could not be read (`None`: the process
    /// itself could not be read).
    pub kind: Option<Namespace>,
    /// What the kernel said (usually `EACCES`).
    pub error: io::Error,
}

/// The result of [`list_namespaces`].
#[derive(Debug)]
#[non_exhaustive]
pub struct NsListing {
    /// Every namespace seen, sorted by inode like `lsns`.
    pub namespaces: Vec<NsInfo>,
    /// Every process seen, ascending by pid.
    pub processes: Vec<ProcessNs>,
    /// Processes whose namespaces could not be read: the listing is partial
    /// when this is not empty.
    pub unreadable: Vec<Unreadable>,
    /// Processes that exited while the listing ran.
    pub vanished: usize,
}

impl NsListing {
    /// The namespace of `kind` with inode `ino`, if seen.
    pub fn get(&self, kind: Namespace, ino: u64) -> Option<&NsInfo> {
        self.namespaces
            .iter()
            .find(|n| n.kind == kind && n.id.ino == ino)
    }

    /// The namespaces of process `pid`, if seen.
    pub fn process(&self, pid: i32) -> Option<&ProcessNs> {
        self.processes
            .binary_search_by_key(&pid, |p| p.pid)
            .ok()
            .map(|i| &self.processes[i])
    }

    /// Whether the caller saw every process's namespaces.
    pub fn is_complete(&self) -> bool {
        self.unreadable.is_empty()
    }
}

fn proc_error(e: procfs::ProcError) -> io::Error {
    use procfs::ProcError;
    match e {
        ProcError::PermissionDenied(_) => io::Error::from_raw_os_error(libc::EACCES),
        ProcError::NotFound(_) => io::Error::from_raw_os_error(libc::ENOENT),
        ProcError::Io(e, _) => e,
        other => io::Error::other(other.to_string()),
    }
}

/// The pid named by the path of a procfs error (`/proc/<pid>/…`), or 0.
fn pid_in_error(e: &procfs::ProcError) -> i32 {
    use procfs::ProcError;
    let path = match e {
        ProcError::PermissionDenied(p) | ProcError::NotFound(p) | ProcError::Incomplete(p) => {
            p.as_ref()
        }
        ProcError::Io(_, p) => p.as_ref(),
        _ => None,
    };
    path.and_then(|p| p.strip_prefix("/proc").ok())
        .and_then(|p| p.iter().next())
        .and_then(|c| c.to_str()?.parse().ok())
        .unwrap_or(0)
}

fn gone(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ESRCH))
}

/// Lists every namespace on the host and every process's namespaces, like
/// `lsns`.
///
/// Reads `/proc/<pid>/stat`, `/proc/<pid>/cmdline` and `stat(2)`s
/// `/proc/<pid>/ns/<kind>` for every process; then, for each namespace,
/// opens the link of its lowest pid and calls `ioctl(NS_GET_USERNS)` (and
/// `ioctl(NS_GET_PARENT)` for PID and user namespaces) to find its owner
/// and parent.
///
/// Threads are not visited: like `lsns`, a namespace joined by one thread
/// only (a `setns` in a thread) is not seen. Namespaces kept alive only by a
/// bind mount or an open descriptor, with no process in them, are not seen
/// either.
///
/// Processes whose links cannot be read are returned in
/// [`NsListing::unreadable`] rather than skipped.
///
/// ```
/// let listing = containment::namespace::list_namespaces()?;
/// for ns in &listing.namespaces {
///     println!("{} {} {} {}", ns.id, ns.kind, ns.nprocs(), ns.pid());
/// }
/// if !listing.is_complete() {
///     eprintln!("{} processes could not be inspected", listing.unreadable.len());
/// }
/// # Ok::<(), containment::namespace::Error>(())
/// ```
///
/// # Errors
/// [`Error::Open`] when `/proc` itself cannot be read.
///
/// # References
/// - [`lsns(8)`](https://man7.org/linux/man-pages/man8/lsns.8.html)
/// - [`namespaces(7)`](https://man7.org/linux/man-pages/man7/namespaces.7.html)
///   (`/proc/<pid>/ns`)
/// - [`ioctl_ns(2)`](https://man7.org/linux/man-pages/man2/ioctl_ns.2.html)
///   (`NS_GET_USERNS`, `NS_GET_PARENT`)
pub fn list_namespaces() -> Result<NsListing, Error> {
    // Kinds this kernel has (an old kernel lacks `time`, for example): a
    // missing link of those is not a visibility problem.
    let kinds: Vec<Namespace> = Namespace::ALL
        .into_iter()
        .filter(|k| std::fs::symlink_metadata(format!("/proc/self/ns/{}", k.proc_name())).is_ok())
        .collect();

    let all = procfs::process::all_processes().map_err(|e| Error::Open {
        path: PathBuf::from("/proc"),
        source: proc_error(e),
    })?;

    let mut processes = Vec::new();
    let mut unreadable = Vec::new();
    let mut vanished = 0;
    for p in all {
        let p = match p {
            Ok(p) => p,
            Err(e) => {
                let pid = pid_in_error(&e);
                let e = proc_error(e);
                if gone(&e) {
                    vanished += 1;
                } else {
                    unreadable.push(Unreadable {
                        pid,
                        kind: None,
                        error: e,
                    });
                }
                continue;
            }
        };
        let pid = p.pid();
        let stat = match p.stat() {
            Ok(s) => s,
            Err(e) => {
                let e = proc_error(e);
                if gone(&e) {
                    vanished += 1;
                } else {
                    unreadable.push(Unreadable {
                        pid,
                        kind: None,
                        error: e,
                    });
                }
                continue;
            }
        };
        let zombie = stat.state == 'Z';
        let command = match p.cmdline() {
            Ok(args) if !args.is_empty() => args.join(" "),
            _ => stat.comm.clone(),
        };
        let mut entry = ProcessNs {
            pid,
            ppid: stat.ppid,
            uid: p.uid().ok(),
            command,
            zombie,
            namespaces: Vec::with_capacity(kinds.len()),
        };
        let mut failed = None;
        if !zombie {
            for &k in &kinds {
                match std::fs::metadata(format!("/proc/{pid}/ns/{}", k.proc_name())) {
                    Ok(m) => entry.namespaces.push((
                        k,
                        NsId {
                            dev: m.dev(),
                            ino: m.ino(),
                        },
                    )),
                    Err(e) => {
                        failed = Some((k, e));
                        break;
                    }
                }
            }
        }
        match failed {
            None => processes.push(entry),
            Some((_, e)) if gone(&e) && !p.is_alive() => vanished += 1,
            Some((k, e)) => {
                unreadable.push(Unreadable {
                    pid,
                    kind: Some(k),
                    error: e,
                });
                // Keep what could be read about it (its command), without
                // a partial set of namespaces.
                entry.namespaces.clear();
                processes.push(entry);
            }
        }
    }
    processes.sort_by_key(|p| p.pid);

    // Group by namespace.
    let mut groups: BTreeMap<(Namespace, NsId), Vec<usize>> = BTreeMap::new();
    for (i, p) in processes.iter().enumerate() {
        for &(k, id) in &p.namespaces {
            groups.entry((k, id)).or_default().push(i);
        }
    }
    let mut namespaces: Vec<NsInfo> = groups
        .into_iter()
        .map(|((kind, id), idx)| {
            let first = &processes[idx[0]];
            let (owner, parent) = relations(kind, id, idx.iter().map(|&i| processes[i].pid));
            NsInfo {
                id,
                kind,
                pids: idx.iter().map(|&i| processes[i].pid).collect(),
                uid: first.uid,
                command: first.command.clone(),
                owner,
                parent,
            }
        })
        .collect();
    let order = |k: Namespace| Namespace::ALL.iter().position(|x| *x == k);
    namespaces.sort_by_key(|n| (n.id.ino, order(n.kind)));
    Ok(NsListing {
        namespaces,
        processes,
        unreadable,
        vanished,
    })
}

/// Owner and parent of namespace `id`, through the link of the first of
/// `pids` that still shows it.
fn relations(
    kind: Namespace,
    id: NsId,
    pids: impl Iterator<Item = i32>,
) -> (Option<NsId>, Option<NsId>) {
    for pid in pids {
        let Ok(f) = File::open(format!("/proc/{pid}/ns/{}", kind.proc_name())) else {
            continue;
        };
        // The pid may have been recycled, or moved: check it is still `id`.
        match f.metadata() {
            Ok(m) if m.dev() == id.dev && m.ino() == id.ino => {}
            _ => continue,
        }
        let owner = ns_ioctl(&f, NS_GET_USERNS);
        let parent = match kind {
            Namespace::Pid | Namespace::User => ns_ioctl(&f, NS_GET_PARENT),
            _ => None,
        };
        return (owner, parent);
    }
    (None, None)
}

/// `ioctl(fd, NS_GET_USERNS | NS_GET_PARENT)`: the identity of the related
/// namespace, or `None` (`EPERM` when it lies outside the caller's view).
fn ns_ioctl(f: &File, request: u64) -> Option<NsId> {
    // SAFETY: these ioctls take no argument and return a new descriptor.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), request as _) };
    if r < 0 {
        return None;
    }
    // SAFETY: the kernel returned a new descriptor that nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(r) };
    let m = File::from(fd).metadata().ok()?;
    Some(NsId {
        dev: m.dev(),
        ino: m.ino(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_listed_with_its_namespaces() {
        let l = list_namespaces().unwrap();
        let me = l.process(std::process::id() as i32).unwrap();
        for k in [Namespace::Net, Namespace::Uts, Namespace::Mount] {
            let m = std::fs::metadata(format!("/proc/self/ns/{}", k.proc_name())).unwrap();
            let id = me.namespace(k).unwrap();
            assert_eq!(id.ino, m.ino());
            let info = l.get(k, id.ino).unwrap();
            assert!(info.pids.contains(&me.pid));
            assert!(info.nprocs() >= 1);
            assert!(info.pid() <= me.pid);
        }
        // Our net namespace is owned by some user namespace we can see.
        let net = l.get(Namespace::Net, me.namespace(Namespace::Net).unwrap().ino);
        let owner = net.unwrap().owner.unwrap();
        assert_eq!(
            owner.ino,
            std::fs::metadata("/proc/self/ns/user").unwrap().ino()
        );
    }
}
