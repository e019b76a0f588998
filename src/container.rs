//! [`Container`], the reusable configuration of the isolation, and
//! [`Command`], one program run in it: everything is validated in the
//! parent before any process exists.

use crate::caps::Capabilities;
use crate::error::SpawnError;
use crate::mount::FsConfig;
use crate::namespace::{
    format_id_map, validate_id_maps, validate_offsets, validate_uts_name, IdMap, Namespace,
    Namespaces, NsFd, TimeOffsets,
};
use crate::process::helper::Mode as HelperMode;
use crate::process::Rlimit;
use crate::process::{
    self, CapsPlan, Child, ChildPlan, IdMapsPlan, IdsPlan, Output, Prepared, PreparedStdio, Stdio,
};
use std::ffi::{CString, OsStr, OsString};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::Arc;

/// A container: the isolation a program runs in, as a reusable configuration.
///
/// A `Container` holds what every process started in it shares: the
/// namespaces to create ([`unshare`](Self::unshare)) or join
/// ([`join`](Self::join)), names, id maps, time offsets, the root and mounts,
/// capabilities, seccomp, Landlock, resource limits, a cgroup, an init. Its
/// setters take and return it by value, so a configuration is built in one
/// expression and kept:
///
/// ```no_run
/// use containment::{Container, Namespace};
/// let sandbox = Container::new()
///     .unshare(Namespace::Pid)
///     .unshare(Namespace::Mount)
///     .hostname("box");
/// let status = sandbox.command("/bin/true").status()?;
/// let out = sandbox.command("/bin/echo").arg("hi").output()?;
/// # Ok::<(), containment::SpawnError>(())
/// ```
///
/// [`command`](Self::command) starts a [`Command`], shaped like
/// [`std::process::Command`], for one program: its arguments, environment,
/// working directory, standard streams, ids and descriptors. Each
/// [`Command::spawn`] makes a new container process from the configuration;
/// nothing is created before. Every field is checked at spawn, before any
/// process exists, and a bad one gives [`SpawnError::InvalidConfig`] naming
/// the method that set it.
///
/// A `Container` is cheap to clone (the configuration is shared until a
/// clone is changed), owns everything it refers to (a joined process's
/// pidfd, a pool handle), and is `Send + Sync`.
#[derive(Clone, Debug, Default)]
pub struct Container {
    cfg: Arc<Config>,
}

/// What a [`Container`] holds (shared by its clones until one changes).
#[derive(Clone, Debug, Default)]
pub(crate) struct Config {
    namespaces: Namespaces,
    hostname: Option<String>,
    domainname: Option<String>,
    uid_map: Option<Vec<IdMap>>,
    gid_map: Option<Vec<IdMap>>,
    deny_setgroups: Option<bool>,
    id_map_writer: IdMapWriter,
    user_net: Option<crate::usernet::UserNet>,
    time_offsets: Option<TimeOffsets>,
    loopback: Option<bool>,
    force_legacy_clone: bool,
    force_exec_helper: bool,
    caps: Option<CapsChoice>,
    rlimits: Vec<(Rlimit, u64, u64)>,
    no_new_privs: bool,
    pdeathsig: Option<i32>,
    keep_ignored_signals: bool,
    join: Option<(JoinTarget, Namespaces)>,
    init: bool,
    #[cfg(feature = "seccomp")]
    seccomp: Option<crate::seccomp::Filter>,
    #[cfg(feature = "seccomp")]
    seccomp_privileged: bool,
    #[cfg(feature = "landlock")]
    landlock: Option<crate::landlock::Landlock>,
    vfork: Option<bool>,
    pool: Option<crate::pool::PoolHandle>,
    cgroup: crate::cgroup::spec::CgroupConfig,
    pub(crate) fs: FsConfig,
    /// Single namespaces joined by descriptor (ocicfg additions).
    join_ns: Vec<(Namespace, Arc<OwnedFd>)>,
}

/// One program to run in a [`Container`]: made by [`Container::command`],
/// shaped like [`std::process::Command`] (`&mut self` setters, then
/// [`spawn`](Self::spawn), [`status`](Self::status) or
/// [`output`](Self::output), any number of times).
///
/// It holds what belongs to one process: the program and its arguments
/// ([`arg`](Self::arg), [`args`](Self::args), [`arg0`](Self::arg0)), the
/// environment, the working directory, the standard streams, the ids
/// ([`uid`](Self::uid), [`gid`](Self::gid), [`groups`](Self::groups)), the
/// process group, session and terminal, the umask, descriptors to pass and
/// a start gate. Everything else is the container's.
///
/// ```no_run
/// use containment::{Container, Namespace, Stdio};
/// let c = Container::new().unshare(Namespace::Uts).hostname("box");
/// let out = c
///     .command("/bin/sh")
///     .args(["-c", "hostname"])
///     .env("LANG", "C")
///     .stdin(Stdio::null())
///     .output()?;
/// assert_eq!(out.stdout, b"box\n");
/// # Ok::<(), containment::SpawnError>(())
/// ```
#[derive(Debug)]
pub struct Command {
    container: Container,
    program: OsString,
    args: Vec<OsString>,
    env_clear: bool,
    env: Vec<(OsString, Option<OsString>)>,
    cwd: Option<PathBuf>,
    stdin: Option<Stdio>,
    stdout: Option<Stdio>,
    stderr: Option<Stdio>,
    uid: Option<u32>,
    gid: Option<u32>,
    groups: Vec<u32>,
    arg0: Option<OsString>,
    process_group: Option<i32>,
    umask: Option<u32>,
    pass_fds: Vec<(OwnedFd, i32)>,
    pty: Option<Option<crate::tty::WindowSize>>,
    setsid: bool,
    start_gate: Option<OwnedFd>,
}

/// The capability setting of the container (`None`: the
/// default, which depends on whether the container has its own root).
#[derive(Debug, Clone, Copy)]
enum CapsChoice {
    /// Exactly these sets.
    Sets(Capabilities),
    /// Whatever the caller's thread (or the new user namespace) has: the
    /// explicit opt-out of the contained default.
    KeepAll,
}

/// Who writes the uid and gid maps of a new user namespace
/// ([`Container::id_map_writer`]).
///
/// The kernel lets an unprivileged process write only one line mapping its
/// own uid (gid, after `setgroups` = `deny`); more ranges need
/// `CAP_SETUID`/`CAP_SETGID` over the parent namespace, which the setuid
/// helpers `newuidmap(1)`/`newgidmap(1)` have and use within the ranges
/// `/etc/subuid`/`/etc/subgid` give the caller.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdMapWriter {
    /// The parent writes a map itself when it can (root, or a map of only
    /// the caller's own id) and runs the helper for any other map.
    #[default]
    Auto,
    /// The parent always writes `/proc/<pid>/uid_map` and `gid_map` itself.
    Direct,
    /// `newuidmap` and `newgidmap` write both maps.
    Helpers,
}

/// Finds a setuid id-map helper: in `PATH`, then `/usr/bin` and `/bin`.
pub(crate) fn find_helper(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/bin".into(), "/bin".into()])
        .filter(|d| d.is_absolute())
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// The `pasta` a [`crate::usernet::UserNet`] runs by default, if installed
/// (re-exported as [`crate::usernet::find_pasta`]).
pub(crate) fn find_pasta() -> Option<PathBuf> {
    find_helper("pasta")
}

/// Whether this process is in the initial user namespace: its uid map is
/// the identity over every id (`0 0 4294967295`).
fn in_initial_user_namespace() -> bool {
    std::fs::read_to_string("/proc/self/uid_map").map_or(true, |m| {
        m.split_whitespace().collect::<Vec<_>>() == ["0", "0", "4294967295"]
    })
}

/// What joining needs, prepared in the parent.
#[derive(Debug, Default)]
struct JoinPlan {
    fds: Vec<(OwnedFd, i32)>,
    root: Option<(OwnedFd, OwnedFd)>,
    /// (target PID namespace, this thread's pid_for_children to restore).
    pid_ns: Option<(OwnedFd, OwnedFd)>,
    /// The target's cgroup v2 directory, when it differs from ours.
    cgroup_fd: Option<OwnedFd>,
    /// The target's cgroup v1 directories that differ from ours.
    cgroup_v1: crate::cgroup::v1::V1Dirs,
    become_root: bool,
    pidfd: Option<OwnedFd>,
    /// The PID namespace is in `fds` (joined by the child after the user
    /// namespace, from inside it); the child forks once more so that the
    /// program is in it.
    pid_in_child: bool,
    /// The target's bounding set (`CapBnd` of `/proc/<pid>/status`), read
    /// when its mount namespace is joined: the default capabilities of the
    /// program never exceed what the container's own processes could hold.
    target_bounding: Option<u64>,
}

/// The cgroup v2 directory of `pid` when it differs from ours (None on a
/// host without cgroup2, or when it cannot be opened: joining then keeps the
/// caller's cgroup).
fn target_cgroup_fd(pid: i32) -> Option<OwnedFd> {
    let line = |p: &str| -> Option<String> {
        std::fs::read_to_string(p)
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("0::").map(str::to_string))
    };
    let theirs = line(&format!("/proc/{pid}/cgroup"))?;
    if line("/proc/self/cgroup")? == theirs {
        return None;
    }
    let h = crate::cgroup::Hierarchy::detect().ok()?;
    // `dir_of`, not a bare join: a cgroup above our cgroup namespace shows as
    // `/../x` and must not resolve outside the mount.
    let cg = crate::cgroup::Cgroup::open(h.dir_of(Path::new(&theirs))?).ok()?;
    cg.try_clone_fd().ok()
}

/// The process whose namespaces a spawn joins.
#[derive(Debug, Clone)]
enum JoinTarget {
    Pidfd(Arc<OwnedFd>),
    Pid(i32),
}

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl Container {
    /// A configuration that creates no namespace and changes nothing: a
    /// [`command`](Self::command) of it runs like
    /// [`std::process::Command`]. Add isolation with the setters.
    pub fn new() -> Container {
        Container::default()
    }

    /// A [`Command`] running `program` in this container (a clone of the
    /// configuration: later changes to `self` do not reach it). A program
    /// without `/` is searched in the child's `PATH` (the `PATH` of the
    /// command's environment, else a default).
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        Command {
            container: self.clone(),
            program: program.as_ref().to_owned(),
            args: Vec::new(),
            env_clear: false,
            env: Vec::new(),
            cwd: None,
            stdin: None,
            stdout: None,
            stderr: None,
            uid: None,
            gid: None,
            groups: Vec::new(),
            arg0: None,
            process_group: None,
            umask: None,
            pass_fds: Vec::new(),
            pty: None,
            setsid: false,
            start_gate: None,
        }
    }

    /// The namespace kinds this configuration creates.
    pub fn namespaces(&self) -> Namespaces {
        self.cfg.namespaces
    }

    pub(crate) fn cfg_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.cfg)
    }

    /// Adds namespace kinds to create new for each process, like
    /// `unshare(1)` and `unshare(2)`: one [`Namespace`] or a set of
    /// [`Namespaces`] (`Namespaces::PID | Namespaces::MOUNT`,
    /// [`Namespaces::all()`]). Calls add up; kinds never named are shared
    /// with the caller. [`namespaces`](Self::namespaces) returns the set.
    ///
    /// # References
    /// - [`namespaces(7)`](https://man7.org/linux/man-pages/man7/namespaces.7.html),
    ///   [`clone3(2)`](https://man7.org/linux/man-pages/man2/clone3.2.html)
    pub fn unshare(mut self, kinds: impl Into<Namespaces>) -> Self {
        self.cfg_mut().namespaces |= kinds.into();
        self
    }

    /// The hostname inside (needs [`Namespaces::UTS`]; at most 64 bytes).
    pub fn hostname(mut self, name: impl Into<String>) -> Self {
        self.cfg_mut().hostname = Some(name.into());
        self
    }

    /// The NIS domain name inside (needs [`Namespaces::UTS`]; at most 64 bytes).
    pub fn domainname(mut self, name: impl Into<String>) -> Self {
        self.cfg_mut().domainname = Some(name.into());
        self
    }

    /// The uid map of the new user namespace (needs [`Namespaces::USER`]).
    ///
    /// Default, for a caller other than root: its effective uid appears as
    /// 0 inside (rootless). Root of the initial user namespace has no
    /// default: the spawn is refused ([`SpawnError::InvalidConfig`] naming
    /// `uid_map`) rather than map host root to the container's root. Give
    /// an unprivileged range (`IdMap::new(0, 100000, 65536)`), or opt in to
    /// host root with `IdMap::single(0, 0)`. More than one range, or ids
    /// other than your own, need root in the parent namespace or
    /// `newuidmap` (see [`id_map_writer`](Self::id_map_writer) and
    /// [`crate::namespace::rootless_maps`]).
    pub fn uid_map(mut self, maps: impl IntoIterator<Item = IdMap>) -> Self {
        self.cfg_mut().uid_map = Some(maps.into_iter().collect());
        self
    }

    /// The gid map of the new user namespace (needs [`Namespaces::USER`]).
    /// Default: the caller's effective gid appears as 0 inside, except for
    /// root of the initial user namespace, which must give it (as for
    /// [`uid_map`](Self::uid_map)).
    pub fn gid_map(mut self, maps: impl IntoIterator<Item = IdMap>) -> Self {
        self.cfg_mut().gid_map = Some(maps.into_iter().collect());
        self
    }

    /// Whether to write `deny` to the child's `setgroups` file before its
    /// gid map. Default: deny when the caller is not root (the kernel then
    /// requires it), allow when root.
    pub fn deny_setgroups(mut self, deny: bool) -> Self {
        self.cfg_mut().deny_setgroups = Some(deny);
        self
    }

    /// Who writes the id maps: the parent itself or `newuidmap`/`newgidmap`
    /// (see [`IdMapWriter`]). Default [`IdMapWriter::Auto`]: an unprivileged
    /// caller's maps of more than its own id go through the helpers, which
    /// check them against `/etc/subuid` and `/etc/subgid`
    /// ([`crate::namespace::rootless_maps`] builds such maps).
    ///
    /// With a helper writing `gid_map`, `setgroups` is left to `newgidmap`
    /// (it allows `setgroups(2)` when a subordinate range is mapped) unless
    /// [`deny_setgroups`](Self::deny_setgroups) is given.
    ///
    /// # Errors
    /// The spawn fails with [`SpawnError::IdMapHelperMissing`] when a helper
    /// is needed and not installed, and [`SpawnError::IdMapHelper`] (its
    /// stderr) when it refuses the map.
    pub fn id_map_writer(mut self, writer: IdMapWriter) -> Self {
        self.cfg_mut().id_map_writer = writer;
        self
    }

    /// Connects the container's network namespace to the host's network
    /// through `pasta` (user-mode networking, for a rootless caller; see
    /// [`crate::usernet`]): outbound connections, and ports published on
    /// the host. Needs [`Namespaces::USER`] and [`Namespaces::NET`].
    ///
    /// # Errors
    /// The spawn fails with [`SpawnError::UserNetHelperMissing`] when
    /// `pasta` is not installed, [`SpawnError::UserNetHelper`] (its stderr
    /// and a hint) when it fails.
    pub fn user_network(mut self, net: crate::usernet::UserNet) -> Self {
        self.cfg_mut().user_net = Some(net);
        self
    }

    /// Clock offsets of the new time namespace (needs [`Namespaces::TIME`]).
    pub fn time_offsets(mut self, offsets: TimeOffsets) -> Self {
        self.cfg_mut().time_offsets = Some(offsets);
        self
    }

    /// Whether to bring `lo` up in a new network namespace (default: yes).
    pub fn loopback(mut self, up: bool) -> Self {
        self.cfg_mut().loopback = Some(up);
        self
    }

    /// The capability sets the program starts with. See
    /// [`Capabilities::docker_default`] and [`Capabilities::none`].
    ///
    /// Default, with a root filesystem ([`root`](Self::root) or
    /// [`rootfs`](Self::rootfs)) or a joined mount namespace
    /// ([`join`](Self::join) with [`Namespaces::MOUNT`] of a process in
    /// another one, or [`join_namespace`](Self::join_namespace) of a mount
    /// namespace other than the caller's: the program is then the
    /// container's, like `docker exec`, and within the bounding set of the
    /// joined process): docker's
    /// default set
    /// ([`Capabilities::docker_default`], 14 capabilities; no
    /// `CAP_SYS_ADMIN`, `CAP_SYS_PTRACE`, `CAP_SYS_MODULE`, `CAP_NET_ADMIN`
    /// …) less `CAP_MKNOD` outside a user namespace unless the container's
    /// cgroup has device rules that deny by default (docker's set relies on
    /// them: without, a node of any host device made in the root opens),
    /// and less
    /// `CAP_SYS_CHROOT` when the root is entered with `chroot(2)`
    /// ([`RootMode::Chroot`](crate::mount::RootMode::Chroot): no boundary
    /// for it), in the bounding, permitted and effective sets, within what the
    /// caller's thread holds (in a joined or new user namespace, within
    /// that namespace), as docker and podman do (bubblewrap keeps none).
    /// Otherwise: unchanged (a process in a few new namespaces, which sees
    /// the caller's filesystem anyway), so root keeps every capability it
    /// has, and root of a new user namespace every capability of that
    /// namespace. To keep every capability in a container with its own
    /// root or in a joined one, say so with
    /// [`keep_all_capabilities`](Self::keep_all_capabilities).
    pub fn capabilities(mut self, caps: Capabilities) -> Self {
        self.cfg_mut().caps = Some(CapsChoice::Sets(caps));
        self
    }

    /// Leaves the capability sets as they are (the caller's thread's, or
    /// every capability of a new user namespace): the explicit opt-in to
    /// the unsafe choice for a container with its own root, whose root
    /// would then keep `CAP_SYS_ADMIN`, `CAP_SYS_MODULE`, `CAP_SYS_PTRACE`
    /// and the rest. Replaces an earlier [`capabilities`](Self::capabilities).
    pub fn keep_all_capabilities(mut self) -> Self {
        self.cfg_mut().caps = Some(CapsChoice::KeepAll);
        self
    }

    /// Sets a resource limit of the program (`setrlimit(2)`; use
    /// [`crate::process::RLIM_INFINITY`] for no limit). Raising a hard limit
    /// above the parent's needs `CAP_SYS_RESOURCE`.
    pub fn rlimit(mut self, resource: Rlimit, soft: u64, hard: u64) -> Self {
        self.cfg_mut().rlimits.retain(|(r, _, _)| *r != resource);
        self.cfg_mut().rlimits.push((resource, soft, hard));
        self
    }

    /// Sets `PR_SET_NO_NEW_PRIVS` (default: off): after it, set-user-ID
    /// programs and file capabilities no longer raise privileges.
    pub fn no_new_privs(mut self, on: bool) -> Self {
        self.cfg_mut().no_new_privs = on;
        self
    }

    /// Installs a seccomp filter as the last step before exec (feature
    /// `seccomp`). Sets `no_new_privs`, which an unprivileged filter needs.
    #[cfg(feature = "seccomp")]
    #[cfg_attr(all(docsrs, containment_nightly), doc(cfg(feature = "seccomp")))]
    pub fn seccomp(mut self, filter: crate::seccomp::Filter) -> Self {
        self.cfg_mut().seccomp = Some(filter);
        self
    }

    /// Installs the [`seccomp`](Self::seccomp) filter without setting
    /// `no_new_privs` (default: off), as runc does when `config.json` has
    /// `noNewPrivileges: false`: the kernel then requires `CAP_SYS_ADMIN`,
    /// so the filter is installed while the child still holds its
    /// capabilities, before they and the ids are changed. The filter then
    /// also sees the child's last steps (`capset`, `setresuid`, `prctl`,
    /// `chdir`, `dup2`, `rt_sigaction`, `read`/`write` of a
    /// [`start_gate`](Command::start_gate), `execve`): a filter that denies one
    /// of them fails the spawn at that step. `no_new_privs(true)` still
    /// sets it (after the filter).
    ///
    /// # References
    /// - [`seccomp(2)`](https://man7.org/linux/man-pages/man2/seccomp.2.html)
    #[cfg(feature = "seccomp")]
    pub fn seccomp_privileged(mut self, on: bool) -> Self {
        self.cfg_mut().seccomp_privileged = on;
        self
    }

    /// Restricts the program's filesystem access with Landlock (feature
    /// `landlock`). Sets `no_new_privs`, which an unprivileged ruleset
    /// needs. See [`crate::landlock::Landlock::status`] for what is enforced.
    #[cfg(feature = "landlock")]
    #[cfg_attr(all(docsrs, containment_nightly), doc(cfg(feature = "landlock")))]
    pub fn landlock(mut self, rules: crate::landlock::Landlock) -> Self {
        self.cfg_mut().landlock = Some(rules);
        self
    }

    /// Kill the container (`SIGKILL`) when the thread that spawned it exits
    /// (`PR_SET_PDEATHSIG`; default: off).
    ///
    /// The kernel ties this to the spawning **thread**, not the process: a
    /// container spawned from a short-lived thread (a thread pool's worker)
    /// dies when that thread exits. The race where the parent dies before the
    /// child asks is closed by `poll(2)` on a pidfd of the spawning thread
    /// (`PIDFD_THREAD`, Linux 6.9; of the process on older kernels), which
    /// reports a dead or zombie parent from inside any PID namespace: the
    /// child then exits (127) instead of running on as an orphan.
    ///
    /// The kernel clears the setting at the exec of a set-user-ID,
    /// set-group-ID or file-capability program (`prctl(2)`,
    /// `PR_SET_PDEATHSIG`): such a program run directly survives the
    /// caller. With [`init(true)`](Self::init) and a PID namespace, PID 1 is
    /// the crate's init, which is never such a program and keeps the
    /// setting; its death ends every process of the namespace.
    pub fn die_with_parent(mut self, on: bool) -> Self {
        self.cfg_mut().pdeathsig = on.then_some(libc::SIGKILL);
        self
    }

    /// Keep the signals the caller ignores (`SIG_IGN`) ignored in the
    /// program (default: off).
    ///
    /// A container is a fresh system: by default its program starts with
    /// every signal (1 to `SIGRTMAX`) at its default disposition and an
    /// empty signal mask, whatever the caller did, in every shape of spawn
    /// (clone3, the vfork shape, the legacy `clone(2)`, under an
    /// [`init`](Self::init)). Handlers never survive (`execve(2)` would reset
    /// them anyway); ignored signals do survive `execve`, so a caller that
    /// ignores `SIGINT` would otherwise give a container whose traps on it
    /// never fire. With `true`, ignored signals stay ignored, as with
    /// `std::process::Command` or `nohup`, except `SIGPIPE`, which is always
    /// reset (Rust ignores it in every program).
    ///
    /// # References
    /// - [`signal(7)`](https://man7.org/linux/man-pages/man7/signal.7.html)
    ///   ("Signal dispositions … during an execve(2), the dispositions of
    ///   handled signals are reset to the default; the dispositions of
    ///   ignored signals are left unchanged")
    pub fn keep_ignored_signals(mut self, keep: bool) -> Self {
        self.cfg_mut().keep_ignored_signals = keep;
        self
    }

    /// Runs the program inside namespaces of an existing process (like
    /// `docker exec` or `nsenter`), given its pidfd. `kinds` says which (use
    /// [`Namespaces::all()`] for all of them; kinds the target shares with
    /// the caller are skipped).
    ///
    /// The user namespace is joined first and the mount namespace last;
    /// with the mount namespace, the program also gets the target's root and
    /// working directory (unless [`current_dir`](Command::current_dir) is set).
    /// The PID namespace is entered by the spawning thread for the duration
    /// of the clone (`setns` on a PID namespace only affects children), so
    /// no extra fork is needed; when the user namespace is joined too, the
    /// PID namespace is entered by the child from inside it (an
    /// unprivileged caller has no right to enter it from outside), which
    /// then forks the program as a child of the caller (`CLONE_PARENT`) and
    /// exits, as `nsenter -U -p` does: the returned [`Child`] is the program. A kind cannot be both joined and created;
    /// joining a user namespace excludes creating any namespace.
    ///
    /// The program also starts in the target's cgroups, as `docker exec`
    /// does: its cgroup2 directory and, on hybrid and v1 hosts, the v1
    /// directories it is in (read from `/proc/<pid>/cgroup` at spawn). With
    /// a cgroup of its own ([`cgroup`](Self::cgroup)), the program is in
    /// that one instead, in cgroup2 and in each v1 hierarchy where it has a
    /// directory (in the target's in the others). A target whose v1
    /// freezer cgroup is frozen (paused) is refused at spawn
    /// ([`SpawnError::Cgroup`] naming its `freezer.state`): the program
    /// would stop before its exec.
    ///
    /// The pidfd is duplicated (`F_DUPFD_CLOEXEC`): the configuration owns
    /// its copy.
    pub fn join(mut self, pidfd: std::os::fd::BorrowedFd<'_>, kinds: Namespaces) -> Self {
        match pidfd.try_clone_to_owned() {
            Ok(fd) => self.cfg_mut().join = Some((JoinTarget::Pidfd(Arc::new(fd)), kinds)),
            // Reported at spawn: the pid -1 never exists.
            Err(_) => self.cfg_mut().join = Some((JoinTarget::Pid(-1), kinds)),
        }
        self
    }

    /// [`join`](Self::join) a running [`Child`]'s namespaces.
    pub fn join_child(self, child: &Child, kinds: Namespaces) -> Self {
        self.join(child.pidfd(), kinds)
    }

    /// [`join`](Self::join) the namespaces of process `pid` (a pidfd is
    /// opened at spawn, so a recycled pid is caught then at the latest).
    /// `pid` is a [`Child::id`] or [`std::process::Child::id`]; one that
    /// does not fit a `pid_t` is refused at spawn.
    pub fn join_pid(mut self, pid: u32, kinds: Namespaces) -> Self {
        let pid = i32::try_from(pid).unwrap_or(-1);
        self.cfg_mut().join = Some((JoinTarget::Pid(pid), kinds));
        self
    }

    /// Runs a minimal init as PID 1 (like `docker run --init` or tini): it
    /// starts the program as its child, forwards SIGHUP, SIGINT, SIGQUIT,
    /// SIGUSR1/2, SIGPIPE, SIGALRM, SIGTERM, SIGWINCH, SIGCONT and the
    /// terminal stop signals to it, reaps every orphan, and exits with the
    /// program's status (128 + N when the program was killed by signal N).
    ///
    /// The init is a tiny static program of the crate's, exec'd from a
    /// sealed memfd (see the crate docs' safety story): not a copy of the
    /// caller. It is not dumpable, keeps no descriptor (not the standard
    /// streams, not the passed ones), and a Landlock ruleset or seccomp
    /// filter applies to the program only. Its `/proc/1/cmdline` starts with
    /// `containment-helper/1 init`. A spawn with an init fails with
    /// [`SpawnError::Unsupported`] where the kernel refuses executable
    /// memfds (`vm.memfd_noexec = 2`) or on targets without the helper
    /// (other than x86_64 and aarch64).
    ///
    /// Without it (the default) the program itself is PID 1 of a new PID
    /// namespace: it receives only signals it handles, orphans are
    /// re-parented to it (zombies stay unless it reaps them), and when it
    /// exits the kernel kills every other process in the namespace.
    pub fn init(mut self, on: bool) -> Self {
        self.cfg_mut().init = on;
        self
    }

    /// Joins a set of fresh namespaces from a warm pool instead of creating
    /// the pool's kinds (see [`crate::pool`]). Each spawn takes its own set,
    /// never shared and never reused; when the pool is empty the spawn
    /// creates the namespaces itself as usual. The pool's kinds must all be
    /// in [`unshare`](Self::unshare), and a new user namespace cannot
    /// be combined with a pool. The pool brings `lo` up in pooled network
    /// namespaces. The configuration holds a handle of the pool (the pool
    /// itself stays the caller's).
    pub fn namespace_pool(mut self, pool: &crate::pool::NamespacePool) -> Self {
        self.cfg_mut().pool = Some(pool.handle());
        self
    }

    /// Whether to spawn in the vfork shape (default: yes, where it applies):
    /// `clone3(CLONE_VM | CLONE_VFORK)` with the child on a stack of our own,
    /// as `posix_spawn` does, instead of a fork-like `clone3`. No page tables
    /// are copied and the parent takes no copy-on-write faults, which makes
    /// the spawn 20–70 % faster (the crate's benches). It carries every namespace
    /// and `CLONE_INTO_CGROUP`; a new user namespace is cloned without
    /// `CLONE_VFORK`, so the spawning thread can write the id maps while the
    /// child waits (it then waits for the exec, every signal blocked). It
    /// does not apply (the fork shape is used) with time offsets (the child
    /// must enter the time namespace with `setns`, which a child sharing our
    /// memory cannot), when the child drops capabilities before its exec
    /// (the default with a root of its own; a process holding only the
    /// dropped set could otherwise open the child's `/proc/<pid>/mem`,
    /// which is the caller's memory), when host root makes a new user
    /// namespace or a user namespace is joined (whoever owns it holds
    /// `CAP_SYS_PTRACE` in it), when joining a running container's PID or
    /// time namespace, on
    /// architectures other than x86_64 (the child needs a few lines of
    /// assembly to start on its own stack), or when clone3 is unavailable.
    /// Whether a spawn took it does not change what the child does or sees,
    /// only the cost. The child keeps to the same
    /// rules either way (no allocation, async-signal-safe calls only), so
    /// `false` is only for comparison (feature `testing`, not covered by
    /// semver).
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn vfork_spawn(mut self, yes: bool) -> Self {
        self.cfg_mut().vfork = Some(yes);
        self
    }

    /// Runs the container in a new cgroup v2 with these limits, started
    /// there directly with `clone3(CLONE_INTO_CGROUP)` (no `cgroup.procs`
    /// write, which costs ~13 ms on an idle host). Takes a
    /// [`crate::cgroup::Resources`] or a full [`crate::cgroup::CgroupSpec`]
    /// (parent, name, removal on exit — default: removed when the child is
    /// reaped). Limits are validated and the cgroup is created after every
    /// other field was checked; a failed spawn removes it again. The
    /// `oom_score_adj` of the resources is set in the child. The cgroup2
    /// mount and the host's online CPUs and memory nodes (what the limits
    /// are validated against) are read at the first spawn and reused by
    /// later spawns of this configuration and its clones. With a new cgroup
    /// namespace ([`Namespaces::CGROUP`]) on a hybrid or v1 host, the
    /// cgroup gets a directory in every v1 controller hierarchy, not only
    /// those its limits need (as runc does): the namespace is rooted where
    /// the child is when it unshares, which would otherwise be the caller's
    /// cgroup there (a mount of that hierarchy inside would show the
    /// caller's whole tree).
    pub fn cgroup(mut self, spec: impl Into<crate::cgroup::CgroupSpec>) -> Self {
        self.cfg_mut().cgroup = crate::cgroup::spec::CgroupConfig::new(spec.into());
        self
    }

    /// Use the legacy `clone(2)` path instead of `clone3` (for testing the
    /// fallback that kernels without clone3 take; feature `testing`).
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn force_legacy_clone(mut self, yes: bool) -> Self {
        self.cfg_mut().force_legacy_clone = yes;
        self
    }

    /// Exec the program through the crate's sealed helper even where it is
    /// not needed (no changed root, no joined mount namespace): for
    /// measuring what the extra exec costs, and for tests (feature
    /// `testing`).
    #[cfg(feature = "testing")]
    #[doc(hidden)]
    pub fn force_exec_helper(mut self, yes: bool) -> Self {
        self.cfg_mut().force_exec_helper = yes;
        self
    }
}

impl Config {
    /// Opens what joining the target needs (in the parent, at spawn).
    fn prepare_join(&self, new: Namespaces, cwd_set: bool) -> Result<JoinPlan, SpawnError> {
        let mut plan = JoinPlan::default();
        let Some((target, kinds)) = &self.join else {
            return Ok(plan);
        };
        let pidfd = match target {
            JoinTarget::Pidfd(fd) => fd
                .try_clone()
                .map_err(|e| SpawnError::setup("duplicating the target's pidfd", e))?,
            JoinTarget::Pid(pid) => {
                crate::sys::pidfd_open(*pid).map_err(|e| SpawnError::Setup {
                    op: "pidfd_open of the process to join",
                    hint: Some(format!("process {pid} does not exist or cannot be seen")),
                    source: e,
                })?
            }
        };
        let both = new & *kinds;
        if !both.is_empty() {
            return Err(SpawnError::invalid(
                "join",
                both,
                "a namespace kind cannot be both created and joined",
            ));
        }
        let pid = crate::namespace::pidfd_pid(pidfd.as_fd())?;
        for k in kinds.kinds() {
            let fd = NsFd::from_pidfd(pidfd.as_fd(), k)?;
            let own = NsFd::open_self(k)?;
            if fd.id()? == own.id()? {
                continue;
            }
            match k {
                // With a user namespace joined (before this one: user comes
                // first), the PID namespace is owned by it and, for an
                // unprivileged caller, can only be entered from inside it
                // (setns needs CAP_SYS_ADMIN in its owner): the child joins
                // it after the user namespace and forks, as nsenter does.
                Namespace::Pid if plan.fds.iter().any(|(_, t)| *t == libc::CLONE_NEWUSER) => {
                    plan.fds.push((fd.into(), k.clone_flag() as i32));
                    plan.pid_in_child = true;
                }
                Namespace::Pid => {
                    plan.pid_ns = Some((
                        fd.into(),
                        NsFd::open_path("/proc/thread-self/ns/pid_for_children", None)?.into(),
                    ));
                }
                Namespace::User => {
                    if !new.is_empty() {
                        return Err(SpawnError::invalid(
                            "join",
                            kinds,
                            "joining a user namespace cannot be combined with creating namespaces",
                        ));
                    }
                    let maps = crate::namespace::read_id_map(pid, false)?;
                    let gmaps = crate::namespace::read_id_map(pid, true)?;
                    plan.become_root =
                        maps.iter().any(|m| m.inside == 0) && gmaps.iter().any(|m| m.inside == 0);
                    plan.fds.push((fd.into(), k.clone_flag() as i32));
                }
                _ => plan.fds.push((fd.into(), k.clone_flag() as i32)),
            }
            if k == Namespace::Mount {
                let open_dir = |what: &str| -> Result<OwnedFd, SpawnError> {
                    let path = format!("/proc/{pid}/{what}");
                    let c = CString::new(path.clone())
                        .map_err(|_| SpawnError::invalid("join", &path, "contains a NUL byte"))?;
                    // SAFETY: NUL-terminated path; O_PATH descriptor owned below.
                    let r = unsafe {
                        libc::open(
                            c.as_ptr(),
                            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
                        )
                    };
                    if r < 0 {
                        return Err(SpawnError::setup(
                            "opening the target's root or cwd",
                            std::io::Error::last_os_error(),
                        ));
                    }
                    // SAFETY: a new descriptor nobody else owns.
                    Ok(unsafe { OwnedFd::from_raw_fd(r) })
                };
                let root = open_dir("root")?;
                let cwd = if cwd_set {
                    open_dir("root")?
                } else {
                    open_dir("cwd")?
                };
                plan.root = Some((root, cwd));
                plan.target_bounding = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .ok()
                    .and_then(|s| {
                        s.lines()
                            .find_map(|l| l.strip_prefix("CapBnd:"))
                            .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
                    });
            }
        }
        // Start in the target's cgroup v2 too (like `docker exec`).
        plan.cgroup_fd = target_cgroup_fd(pid);
        // And its cgroup v1 directories (hybrid and v1 hosts).
        if let Ok(h) = crate::cgroup::Hierarchy::detect() {
            plan.cgroup_v1 = crate::cgroup::v1::of_process(&h, pid);
        }
        // The /proc/<pid> files were opened for the process behind the pidfd.
        crate::sys::pidfd_send_signal(pidfd.as_fd(), 0).map_err(|e| SpawnError::Setup {
            op: "checking the process to join is alive",
            source: e,
            hint: Some("the target exited while its namespaces were being opened".into()),
        })?;
        plan.pidfd = Some(pidfd);
        Ok(plan)
    }
}

impl Command {
    /// The container this command runs in.
    pub fn container(&self) -> &Container {
        &self.container
    }

    /// The program, as given to [`Container::command`].
    pub fn get_program(&self) -> &OsStr {
        &self.program
    }

    /// Adds an argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Self {
        self.args.push(arg.as_ref().to_owned());
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_owned()));
        self
    }

    /// Sets an environment variable of the program.
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Self {
        self.env
            .push((key.as_ref().to_owned(), Some(value.as_ref().to_owned())));
        self
    }

    /// Sets several environment variables.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (k, v) in vars {
            self.env(k, v);
        }
        self
    }

    /// Removes an environment variable (inherited or set earlier).
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Self {
        self.env.push((key.as_ref().to_owned(), None));
        self
    }

    /// Starts the program with an empty environment plus what `env` adds.
    pub fn env_clear(&mut self) -> &mut Self {
        self.env_clear = true;
        self.env.clear();
        self
    }

    /// The working directory of the program (inside the container's root,
    /// when one is set).
    ///
    /// It is resolved after the root change, with none of the caller's
    /// descriptors open (so `/proc/self/fd/N` cannot reach a directory the
    /// caller holds), and must lie inside the root afterwards (`getcwd(2)`,
    /// as runc checks against CVE-2024-21626): otherwise
    /// [`SpawnError::Child`] at [`Step::Chdir`](crate::Step::Chdir) with
    /// index 1 and `ENOENT`.
    pub fn current_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Self {
        self.cwd = Some(dir.into());
        self
    }

    /// Sets `argv[0]` of the program (default: the program as given),
    /// as [`CommandExt::arg0`](std::os::unix::process::CommandExt::arg0):
    /// the program executed is still the one set with
    /// [`Container::command`]. A login
    /// shell is `.arg0("-sh")`; `/proc/<pid>/cmdline` shows it.
    ///
    /// # References
    /// - [`execve(2)`](https://man7.org/linux/man-pages/man2/execve.2.html)
    pub fn arg0(&mut self, arg0: impl AsRef<OsStr>) -> &mut Self {
        self.arg0 = Some(arg0.as_ref().to_owned());
        self
    }

    /// Puts the program in process group `pgid` (`setpgid(0, pgid)` in the
    /// child), as
    /// [`CommandExt::process_group`](std::os::unix::process::CommandExt::process_group):
    /// `0` makes it the leader of a new group whose id is its pid, so that a
    /// terminal's `SIGINT` sent to the caller's group does not reach it and
    /// `kill(-pgid, sig)` reaches it and its children.
    ///
    /// A non-zero `pgid` names a group of the caller's session, as seen from
    /// the caller's PID namespace: it cannot be combined with a new PID
    /// namespace, where that group does not exist (refused at spawn with
    /// [`SpawnError::InvalidConfig`] naming `process_group`).
    ///
    /// # References
    /// - [`setpgid(2)`](https://man7.org/linux/man-pages/man2/setpgid.2.html):
    ///   at spawn, `EPERM` (a group of another session) arrives as
    ///   [`SpawnError::Child`] at [`Step::ProcessGroup`](crate::Step::ProcessGroup)
    pub fn process_group(&mut self, pgid: i32) -> &mut Self {
        self.process_group = Some(pgid);
        self
    }

    /// Sets the program's file mode creation mask (`umask(2)` in the child,
    /// just before exec; the caller's own mask is untouched). Only the
    /// permission bits (`0o777`) count; others are refused at spawn with
    /// [`SpawnError::InvalidConfig`] naming `umask`. Default: the caller's
    /// mask is inherited. `/proc/<pid>/status` shows it as `Umask:`.
    ///
    /// # References
    /// - [`umask(2)`](https://man7.org/linux/man-pages/man2/umask.2.html)
    pub fn umask(&mut self, mode: u32) -> &mut Self {
        self.umask = Some(mode);
        self
    }

    /// The program's standard input (default: inherited).
    pub fn stdin(&mut self, s: impl Into<Stdio>) -> &mut Self {
        self.stdin = Some(s.into());
        self
    }

    /// The program's standard output (default: inherited).
    pub fn stdout(&mut self, s: impl Into<Stdio>) -> &mut Self {
        self.stdout = Some(s.into());
        self
    }

    /// The program's standard error (default: inherited).
    pub fn stderr(&mut self, s: impl Into<Stdio>) -> &mut Self {
        self.stderr = Some(s.into());
        self
    }

    /// Gives the program a terminal: a new pseudo-terminal whose replica
    /// is connected to every standard stream left unset
    /// ([`stdin`](Self::stdin)/[`stdout`](Self::stdout)/[`stderr`](Self::stderr)
    /// set explicitly win) and is the controlling terminal of a new session
    /// the program leads (`setsid(2)`, `TIOCSCTTY`), at `size` when given
    /// (`TIOCSWINSZ`). The caller gets the primary side from
    /// [`Child::pty`]/[`Child::take_pty`]: the program's output is read
    /// there, its input written there, [`Pty::resize`](crate::tty::Pty::resize)
    /// changes the size later. With [`output`](Self::output), set
    /// `stdout`/`stderr` explicitly to capture them: unset, they are the
    /// terminal too. The container never gets the caller's own terminal
    /// (no `TIOCSTI` into it): only the new pty.
    ///
    /// When the container mounts a devpts instance of its own (the minimal
    /// `/dev` of a [`Rootfs`](crate::mount::Rootfs), or
    /// [`Mount::devpts`](crate::mount::Mount::devpts)) or joins a mount
    /// namespace, the pty is opened from the container's `/dev/pts/ptmx`
    /// by the child after its mounts (so `tty` inside names
    /// `/dev/pts/0` of the container) and its primary sent back over a
    /// socket pair; otherwise from the host's `/dev/ptmx` by the parent.
    /// With [`init`](Container::init) the init leads the session and the program
    /// it forks gets its own process group, the terminal's foreground one
    /// (Ctrl-C reaches the program, a shell's job control works).
    ///
    /// # Errors
    /// Reported by [`spawn`](Self::spawn): [`SpawnError::Setup`] when the
    /// host pty cannot be opened, [`SpawnError::Child`] at
    /// [`Step::Terminal`](crate::Step::Terminal) (the index names the item)
    /// or [`Step::Setsid`](crate::Step::Setsid).
    ///
    /// # References
    /// - [`pty(7)`](https://man7.org/linux/man-pages/man7/pty.7.html),
    ///   [`setsid(2)`](https://man7.org/linux/man-pages/man2/setsid.2.html),
    ///   [`ioctl_tty(2)`](https://man7.org/linux/man-pages/man2/ioctl_tty.2.html)
    pub fn pty(&mut self, size: Option<crate::tty::WindowSize>) -> &mut Self {
        self.pty = Some(size);
        self
    }

    /// Runs the program in a new session (`setsid(2)` in the child, after
    /// the mounts): it leads the session and its process group, and has
    /// no controlling terminal (unless [`pty`](Self::pty), which implies
    /// this). Default: off (the caller's session and process group).
    ///
    /// On a host with scheduler autogroups
    /// (`kernel.sched_autogroup_enabled=1`, `sched(7)`), a new session is
    /// a new scheduling group: while the CPUs are busy, the child may wait
    /// a scheduler slice (1–4 ms measured on a loaded 2-core VM) right
    /// after `setsid`. A container in a cpu cgroup of its own is not
    /// subject to autogroups.
    ///
    /// # Errors
    /// Reported by [`spawn`](Self::spawn): [`SpawnError::Child`] at
    /// [`Step::Setsid`](crate::Step::Setsid).
    ///
    /// # References
    /// - [`setsid(2)`](https://man7.org/linux/man-pages/man2/setsid.2.html)
    pub fn setsid(&mut self, on: bool) -> &mut Self {
        self.setsid = on;
        self
    }

    /// The user id the program runs as (`setresuid(2)` in the child; inside
    /// the user namespace when one is new), as
    /// [`CommandExt::uid`](std::os::unix::process::CommandExt::uid).
    /// Default: 0 inside a new user namespace whose maps contain 0 (else
    /// the first mapped id); otherwise unchanged. When only one of
    /// `uid`/[`gid`](Self::gid) is set, the other takes that default
    /// (without a new user namespace: the caller's effective id).
    /// Supplementary groups are cleared when the kernel allows it.
    ///
    /// # Errors
    /// [`SpawnError::InvalidConfig`] naming `uid` at spawn when the id is
    /// not in the container's `uid_map`.
    pub fn uid(&mut self, uid: u32) -> &mut Self {
        self.uid = Some(uid);
        self
    }

    /// The group id the program runs as (`setresgid(2)`), as
    /// [`CommandExt::gid`](std::os::unix::process::CommandExt::gid); see
    /// [`uid`](Self::uid) for the defaults.
    ///
    /// # Errors
    /// [`SpawnError::InvalidConfig`] naming `gid` at spawn when the id is
    /// not in the container's `gid_map`.
    pub fn gid(&mut self, gid: u32) -> &mut Self {
        self.gid = Some(gid);
        self
    }

    /// Supplementary groups of the program (`setgroups(2)` with the final
    /// ids; default: none, the caller's are dropped). Needs
    /// [`uid`](Self::uid) or [`gid`](Self::gid); in a new user namespace every gid must be in
    /// `gid_map` and setgroups must be allowed (not
    /// [`deny_setgroups`](Container::deny_setgroups)).
    ///
    /// # Errors
    /// [`SpawnError::InvalidConfig`] (field `groups`) at spawn when the
    /// rules above are broken; `Step::SetGroups` when the kernel refuses.
    ///
    /// # References
    /// - [`setgroups(2)`](https://man7.org/linux/man-pages/man2/setgroups.2.html)
    pub fn groups(&mut self, gids: impl IntoIterator<Item = u32>) -> &mut Self {
        self.groups = gids.into_iter().collect();
        self
    }

    /// Passes a descriptor to the program as number `target` (>= 3). Every
    /// other descriptor of the parent except stdio is closed in the child
    /// before it resolves any path (its setup cannot reach them through
    /// `/proc/self/fd`), and the program gets exactly these at exec.
    pub fn pass_fd(&mut self, fd: impl Into<OwnedFd>, target: i32) -> &mut Self {
        self.pass_fds.push((fd.into(), target));
        self
    }

    /// Holds the program back until it is started: the `create` / `start`
    /// split of an OCI runtime (runc makes it with an exec FIFO).
    ///
    /// The child runs every setup step (namespaces, ids, mounts and root,
    /// limits, capabilities, working directory, descriptors, signals),
    /// checks that the program exists and is executable (else the spawn
    /// fails with [`Step::Exec`](crate::Step::Exec), as an exec would),
    /// then blocks reading one byte from `gate`. [`spawn`](Self::spawn)
    /// returns as soon as the child waits there, with the pid of the
    /// process that will become the program. Writing one byte to the
    /// gate's other end (a pipe's write end, or a FIFO the gate was opened
    /// from) starts it: the child then sets no-new-privileges, Landlock and
    /// seccomp and execs. End of file on the gate (every writer gone) makes
    /// the child exit with status 0 without running the program; so does
    /// a kill. An exec that fails after the gate can no longer be
    /// reported: the child exits (status 127, or `SIGPIPE` when the
    /// spawning process is gone).
    ///
    /// Every spawn of the command gets a copy of `gate`. The spawn never
    /// takes the vfork shape with a gate (the parent does not wait for the
    /// exec). [`status`](Self::status) and [`output`](Self::output) would
    /// wait for a program nobody starts: use `spawn`.
    ///
    /// # Errors
    /// [`SpawnError::Setup`] when the descriptor cannot be duplicated or the
    /// ready pipe cannot be made; a failed step of the child is reported as
    /// usual ([`SpawnError::Child`]).
    ///
    /// # References
    /// - [OCI runtime spec, lifecycle](https://github.com/opencontainers/runtime-spec/blob/main/runtime.md#lifecycle)
    pub fn start_gate(&mut self, gate: impl Into<OwnedFd>) -> &mut Self {
        self.start_gate = Some(gate.into());
        self
    }

    /// Spawns the container and returns once the program has been exec'd
    /// (or a step failed: then the error says which, and no process is left).
    ///
    /// # Errors
    ///
    /// [`SpawnError`]: a field that cannot work ([`SpawnError::InvalidConfig`],
    /// naming it, before any process exists); a namespace kind, mount or
    /// cgroup the host refuses; a step in the child that failed
    /// ([`SpawnError::Child`], with the step, errno and a hint). No process,
    /// cgroup or mount is left behind.
    pub fn spawn(&mut self) -> Result<Child, SpawnError> {
        let p = self.prepare(None)?;
        process::spawn(p, None)
    }

    /// As [`spawn`](Self::spawn), and runs `during(pid, cgroup)` in the
    /// calling thread once the child is cloned (`cgroup`: the one the spawn
    /// made for it, if any), while it sets itself up (its
    /// namespaces, mounts and root): the caller's own work overlaps the
    /// child's instead of following it. An OCI runtime writes its state
    /// file there (the pid and the cgroup are all it needs), and its `create` returns that
    /// much sooner. `during` runs after everything the child waits for from
    /// the caller (id maps, the release byte), before the wait for its exec
    /// or its start gate; with the vfork shape (the caller's thread
    /// suspended until the child's exec) it runs after the exec. The child
    /// may fail meanwhile: `during` must not assume that it will start.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn); an error of `during` kills and reaps the
    /// child, removes the cgroup the spawn made, and is returned as
    /// [`SpawnError::Setup`] (op "the caller's work during the spawn", the
    /// error as its source). A panic of `during` undoes the spawn the same
    /// way, then goes on to the caller. A failed step of the child after
    /// `during` has run is reported as usual: undoing what `during` did is
    /// the caller's.
    pub fn spawn_with<F>(&mut self, during: F) -> Result<Child, SpawnError>
    where
        F: FnOnce(u32, Option<&crate::cgroup::Cgroup>) -> std::io::Result<()>,
    {
        let p = self.prepare(None)?;
        let mut during = Some(during);
        let mut once = |pid: u32, cg: Option<&crate::cgroup::Cgroup>| match during.take() {
            Some(f) => f(pid, cg),
            None => Ok(()),
        };
        process::spawn(p, Some(&mut once))
    }

    /// Spawns, waits, and returns the exit status (streams inherited unless set).
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn); waiting failed
    /// ([`SpawnError::Setup`], op "waiting for the child").
    pub fn status(&mut self) -> Result<ExitStatus, SpawnError> {
        let mut c = self.spawn()?;
        c.wait()
            .map_err(|e| SpawnError::setup("waiting for the child", e))
    }

    /// Spawns with stdout and stderr piped (unless set) and stdin null
    /// (unless set), waits, and returns everything the program wrote.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn); reading the pipes or waiting failed
    /// ([`SpawnError::Setup`], op "collecting the child's output").
    pub fn output(&mut self) -> Result<Output, SpawnError> {
        let p = self.prepare(Some(()))?;
        let c = process::spawn(p, None)?;
        c.wait_with_output()
            .map_err(|e| SpawnError::setup("collecting the child's output", e))
    }

    fn prepare(&self, output: Option<()>) -> Result<Prepared, SpawnError> {
        let c = &*self.container.cfg;
        let ns = c.namespaces;
        // SAFETY: geteuid/getegid have no preconditions.
        let (euid, egid) = unsafe { (libc::geteuid(), libc::getegid()) };

        // Program, arguments, environment.
        let program = self.program.clone();
        if program.is_empty() {
            return Err(SpawnError::invalid("program", "", "the program is empty"));
        }
        let cstr = |field: &'static str, s: &OsStr| {
            CString::new(s.as_bytes())
                .map_err(|_| SpawnError::invalid(field, s.to_string_lossy(), "contains a NUL byte"))
        };
        let mut strings = vec![cstr("program", self.arg0.as_ref().unwrap_or(&program))?];
        for a in &self.args {
            strings.push(cstr("arg", a)?);
        }
        let argc = strings.len();
        let mut env: Vec<(OsString, OsString)> = if self.env_clear {
            Vec::new()
        } else {
            std::env::vars_os().collect()
        };
        for (k, v) in &self.env {
            if k.is_empty() || k.as_bytes().contains(&b'=') {
                return Err(SpawnError::invalid(
                    "env",
                    k.to_string_lossy(),
                    "a variable name must be non-empty and contain no '='",
                ));
            }
            env.retain(|(ek, _)| ek != k);
            if let Some(v) = v {
                env.push((k.clone(), v.clone()));
            }
        }
        strings.reserve(env.len());
        for (k, v) in &env {
            // One allocation per variable (`CString::new` reuses the buffer).
            let mut kv = Vec::with_capacity(k.len() + v.len() + 2);
            kv.extend_from_slice(k.as_bytes());
            kv.push(b'=');
            kv.extend_from_slice(v.as_bytes());
            strings.push(CString::new(kv).map_err(|e| {
                SpawnError::invalid(
                    "env",
                    String::from_utf8_lossy(&e.into_vec()),
                    "contains a NUL byte",
                )
            })?);
        }
        // The PATH search happens in the child over candidates made here.
        let exec_paths = if program.as_bytes().contains(&b'/') {
            vec![cstr("program", &program)?]
        } else {
            let path = env
                .iter()
                .find(|(k, _)| k == "PATH")
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| DEFAULT_PATH.into());
            let mut c = Vec::new();
            for dir in path.as_bytes().split(|b| *b == b':') {
                let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
                let mut full = dir.to_vec();
                full.push(b'/');
                full.extend_from_slice(program.as_bytes());
                c.push(cstr("program", OsStr::from_bytes(&full))?);
            }
            c
        };
        let mut argv: Vec<*const libc::c_char> =
            strings[..argc].iter().map(|s| s.as_ptr()).collect();
        argv.push(std::ptr::null());
        let mut envp: Vec<*const libc::c_char> =
            strings[argc..].iter().map(|s| s.as_ptr()).collect();
        envp.push(std::ptr::null());

        // Namespaces the host cannot create are named when the clone fails
        // (`spawn::clone_error`): probing the host up front reads a dozen
        // /proc files, which a one-shot spawn pays in full.

        // UTS names.
        let uts = |field: &'static str,
                   v: &Option<String>|
         -> Result<Option<Vec<u8>>, SpawnError> {
            let Some(v) = v else { return Ok(None) };
            // A joined UTS namespace (join_namespace) is the container's too.
            if !(ns | c.joined_kinds()).contains(Namespaces::UTS) {
                return Err(SpawnError::invalid(
                    field,
                    v,
                    "needs a new UTS namespace (add Namespaces::UTS), or it would change the host's",
                ));
            }
            validate_uts_name(v).map_err(|r| SpawnError::invalid(field, v, r))?;
            Ok(Some(v.as_bytes().to_vec()))
        };
        let user_net = match &c.user_net {
            None => None,
            Some(n) => {
                if !ns.contains(Namespaces::NET | Namespaces::USER) {
                    return Err(SpawnError::invalid(
                        "user_network",
                        "pasta",
                        "needs new user and network namespaces (Namespaces::USER | Namespaces::NET)",
                    ));
                }
                let program = match &n.program {
                    Some(p) => p.clone(),
                    None => find_helper("pasta").ok_or(SpawnError::UserNetHelperMissing)?,
                };
                Some(crate::usernet::UserNetPlan {
                    program,
                    args: n.args(),
                })
            }
        };
        let hostname = uts("hostname", &c.hostname)?;
        let domainname = uts("domainname", &c.domainname)?;

        // User namespace and ids.
        let userns = ns.contains(Namespaces::USER);
        let (id_maps, become_root, ids, user) = if userns {
            // Root of the initial user namespace gets no default map: the
            // caller's own id as root inside would be `0 0 1`, host root as
            // the container's root, which the namespace then does not
            // contain (crate docs, "Safety").
            let default_map = |field: &'static str, id: u32| {
                if id == 0 && euid == 0 && in_initial_user_namespace() {
                    Err(SpawnError::invalid(
                        field,
                        "(not set)",
                        format!(
                            "root creating a user namespace must give {field}: the default \
                             (the caller's own id as root inside) would map host root to the \
                             container's root, which the user namespace then does not contain; \
                             map an unprivileged range (IdMap::new(0, 100000, 65536)), or opt \
                             in to host root explicitly with IdMap::single(0, 0)"
                        ),
                    ))
                } else {
                    Ok(vec![IdMap::single(0, id)])
                }
            };
            // The maps given are checked first, then the missing ones filled.
            for (field, m) in [("uid_map", &c.uid_map), ("gid_map", &c.gid_map)] {
                if let Some(m) = m {
                    validate_id_maps(m).map_err(|r| SpawnError::invalid(field, m, r))?;
                }
            }
            let uid_map = match &c.uid_map {
                Some(m) => m.clone(),
                None => default_map("uid_map", euid)?,
            };
            let gid_map = match &c.gid_map {
                Some(m) => m.clone(),
                None => default_map("gid_map", egid)?,
            };
            let (ub, gb) = (format_id_map(&uid_map), format_id_map(&gid_map));
            for (field, m, b) in [("uid_map", &uid_map, &ub), ("gid_map", &gid_map, &gb)] {
                if b.len() >= 4096 {
                    return Err(SpawnError::invalid(
                        field,
                        m,
                        "the map text exceeds one page (4095 bytes), which the kernel refuses",
                    ));
                }
            }
            // Which maps go through newuidmap/newgidmap.
            let own_only = |m: &[IdMap], id: u32| m == [IdMap::single(m[0].inside, id)];
            let (uid_helper, gid_helper) = match c.id_map_writer {
                IdMapWriter::Direct => (false, false),
                IdMapWriter::Helpers => (true, true),
                IdMapWriter::Auto => (
                    euid != 0 && !own_only(&uid_map, euid),
                    euid != 0 && !own_only(&gid_map, egid),
                ),
            };
            let helper = |use_it: bool, name: &'static str, map: &'static str| {
                if !use_it {
                    return Ok(None);
                }
                find_helper(name)
                    .map(Some)
                    .ok_or(SpawnError::IdMapHelperMissing { helper: name, map })
            };
            let uid_helper =
                helper(uid_helper, "newuidmap", "uid_map")?.map(|h| (h, uid_map.clone()));
            let gid_helper =
                helper(gid_helper, "newgidmap", "gid_map")?.map(|h| (h, gid_map.clone()));
            // newgidmap decides setgroups itself (allow when a subordinate
            // range is mapped); a direct unprivileged write needs deny.
            let deny = c
                .deny_setgroups
                .unwrap_or(euid != 0 && gid_helper.is_none());
            let maps_zero = |m: &[IdMap]| m.iter().any(|r| r.inside == 0);
            let become_root = maps_zero(&uid_map) && maps_zero(&gid_map);
            let mapped = |m: &[IdMap], id: u32| {
                m.iter()
                    .any(|r| id >= r.inside && (id as u64) < r.inside as u64 + r.count as u64)
            };
            // An id not given is the one the program would get otherwise.
            let user = match (self.uid, self.gid) {
                (None, None) => None,
                (u, g) => {
                    let (du, dg) = if become_root {
                        (0, 0)
                    } else {
                        (uid_map[0].inside, gid_map[0].inside)
                    };
                    Some((u.unwrap_or(du), g.unwrap_or(dg)))
                }
            };
            let ids = match user {
                Some((u, g)) => {
                    if !mapped(&uid_map, u) {
                        return Err(SpawnError::invalid("uid", u, "this uid is not in uid_map"));
                    }
                    if !mapped(&gid_map, g) {
                        return Err(SpawnError::invalid("gid", g, "this gid is not in gid_map"));
                    }
                    (!(become_root && u == 0 && g == 0)).then_some(IdsPlan {
                        uid: u,
                        gid: g,
                        clear_groups: !deny,
                    })
                }
                None if become_root => None,
                None => Some(IdsPlan {
                    uid: uid_map[0].inside,
                    gid: gid_map[0].inside,
                    clear_groups: !deny,
                }),
            };
            (
                Some(IdMapsPlan {
                    uid_map: ub,
                    gid_map: gb,
                    deny_setgroups: deny,
                    uid_helper,
                    gid_helper,
                }),
                become_root,
                ids,
                user,
            )
        } else {
            for (field, m) in [("uid_map", &c.uid_map), ("gid_map", &c.gid_map)] {
                if let Some(m) = m {
                    return Err(SpawnError::invalid(
                        field,
                        m,
                        "id maps need a new user namespace (add Namespaces::USER)",
                    ));
                }
            }
            if c.deny_setgroups.is_some() {
                return Err(SpawnError::invalid(
                    "deny_setgroups",
                    c.deny_setgroups,
                    "needs a new user namespace (add Namespaces::USER)",
                ));
            }
            let user = match (self.uid, self.gid) {
                (None, None) => None,
                (u, g) => Some((u.unwrap_or(euid), g.unwrap_or(egid))),
            };
            let ids = user.map(|(uid, gid)| IdsPlan {
                uid,
                gid,
                clear_groups: euid == 0,
            });
            (None, false, ids, user)
        };

        if !self.groups.is_empty() {
            if user.is_none() {
                return Err(SpawnError::invalid(
                    "groups",
                    format!("{:?}", self.groups),
                    "supplementary groups need uid or gid",
                ));
            }
            if let Some(m) = id_maps.as_ref() {
                if m.deny_setgroups {
                    return Err(SpawnError::invalid(
                        "groups",
                        format!("{:?}", self.groups),
                        "setgroups is denied in this user namespace (deny_setgroups)",
                    ));
                }
                let map = c.gid_map.clone().unwrap_or_default();
                for g in &self.groups {
                    let mapped = map
                        .iter()
                        .any(|r| *g >= r.inside && (*g as u64) < r.inside as u64 + r.count as u64);
                    if !mapped {
                        return Err(SpawnError::invalid(
                            "groups",
                            g,
                            "this gid is not in gid_map",
                        ));
                    }
                }
            }
        }

        // Groups are set with the ids: make sure there is an ids step.
        let ids = match (ids, user) {
            (None, Some((uid, gid))) if !self.groups.is_empty() => Some(IdsPlan {
                uid,
                gid,
                clear_groups: false,
            }),
            (ids, _) => ids,
        };

        // Time namespace.
        let time = if ns.contains(Namespaces::TIME) {
            let o = c.time_offsets.unwrap_or_default();
            validate_offsets(&o).map_err(|r| SpawnError::invalid("time_offsets", o, r))?;
            Some(if o == TimeOffsets::default() {
                Vec::new()
            } else {
                o.to_bytes()
            })
        } else {
            if let Some(o) = c.time_offsets {
                return Err(SpawnError::invalid(
                    "time_offsets",
                    o,
                    "clock offsets need a new time namespace (add Namespaces::TIME)",
                ));
            }
            None
        };

        if c.loopback == Some(true) && !ns.contains(Namespaces::NET) {
            return Err(SpawnError::invalid(
                "loopback",
                true,
                "bringing lo up needs a new network namespace (add Namespaces::NET)",
            ));
        }
        let mut loopback = ns.contains(Namespaces::NET) && c.loopback != Some(false);

        // A warm pool: take a set now (none ready: create as usual).
        let pooled = match &c.pool {
            None => None,
            Some(pool) => {
                let kinds = pool.kinds();
                if !ns.contains(kinds) {
                    return Err(SpawnError::invalid(
                        "namespace_pool",
                        format!("{kinds:?}"),
                        "the pool holds kinds that are not in unshare()",
                    ));
                }
                if ns.contains(Namespaces::USER) {
                    return Err(SpawnError::invalid(
                        "namespace_pool",
                        format!("{kinds:?}"),
                        "pooled namespaces belong to the caller's user namespace and cannot be \
                         joined from a new one",
                    ));
                }
                if kinds.contains(Namespaces::NET) && c.loopback == Some(false) {
                    return Err(SpawnError::invalid(
                        "namespace_pool",
                        format!("{kinds:?}"),
                        "the pool brings lo up in its network namespaces, but loopback(false) \
                         was asked",
                    ));
                }
                pool.take()
            }
        };
        let pool_join = pooled.as_ref().map_or_else(Vec::new, |s| s.setns_list());
        if pooled
            .as_ref()
            .is_some_and(|s| s.kinds().contains(Namespaces::NET))
        {
            loopback = false; // the pool's holder did it
        }

        // A joined mount (user) namespace is the container's as much as a
        // new one: the mounts and the root are made in it.
        let mut mounts = c.fs.plan(ns | c.joined_kinds())?;
        if let Some(pg) = self.process_group {
            if pg < 0 {
                return Err(SpawnError::invalid(
                    "process_group",
                    pg,
                    "a process group id is not negative",
                ));
            }
            if pg != 0 && ns.contains(Namespaces::PID) {
                return Err(SpawnError::invalid(
                    "process_group",
                    pg,
                    "a group of the caller's PID namespace cannot be joined from a new PID \
                     namespace (use 0: a new group)",
                ));
            }
            if self.setsid || self.pty.is_some() {
                return Err(SpawnError::invalid(
                    "process_group",
                    pg,
                    "a new session (setsid or pty) already puts the program in a new group it \
                     leads, and a session leader cannot change groups",
                ));
            }
        }
        if let Some(m) = self.umask.filter(|m| *m & !0o777 != 0) {
            return Err(SpawnError::invalid(
                "umask",
                format!("{m:#o}"),
                "only the permission bits (0o777) make a file mode creation mask",
            ));
        }
        let cwd = match &self.cwd {
            Some(d) => Some(cstr("current_dir", d.as_os_str())?),
            None => None,
        };

        // Privileges and descriptors.
        let mut rlimits = Vec::new();
        for (r, soft, hard) in &c.rlimits {
            if soft > hard {
                return Err(SpawnError::invalid(
                    "rlimit",
                    (r, soft, hard),
                    "the soft limit exceeds the hard limit",
                ));
            }
            rlimits.push((r.resource(), *soft, *hard));
        }
        // Every descriptor the child needs lies above every number it dup2s
        // onto (0, 1, 2 and the pass_fd targets), so that no dup2 replaces
        // one it still needs (the error pipe included, see spawn).
        let max_target = self.pass_fds.iter().map(|(_, t)| *t).max().unwrap_or(2);
        let floor = max_target.max(2) + 1;
        let lift = |fd: OwnedFd| {
            crate::process::lift_fd(fd, floor)
                .map_err(|e| SpawnError::setup("moving a descriptor above the dup2 targets", e))
        };
        let mut keep = Vec::new();
        // Placeholders for the idmapped trees the parent sends after clone.
        if let Some(m) = mounts.as_mut() {
            keep.extend(
                m.allocate_idmap_slots(floor)
                    .map_err(|e| SpawnError::setup("opening /dev/null for idmapped mounts", e))?,
            );
        }
        // A prepared root's detached overlay: the child attaches it, the
        // parent's copy closes with `keep` after the clone.
        if let Some(m) = mounts.as_mut() {
            keep.extend(
                m.take_prepared(floor)
                    .map_err(|e| SpawnError::setup("moving the prepared root's descriptor", e))?,
            );
        }
        let pdeathsig = match c.pdeathsig {
            Some(sig) => {
                // The signal follows the spawning thread: a pidfd of that
                // thread (PIDFD_THREAD, Linux 6.9), else of the process.
                let me = crate::sys::pidfd_open_thread()
                    .or_else(|_| crate::sys::pidfd_open(std::process::id() as i32))
                    .map_err(|e| SpawnError::setup("pidfd_open of the parent", e))?;
                let me = lift(me)?;
                let raw = me.as_raw_fd();
                keep.push(me);
                Some((sig, raw))
            }
            None => None,
        };
        let mut pass_fds = Vec::new();
        for (i, (fd, target)) in self.pass_fds.iter().enumerate() {
            if *target < 3 {
                return Err(SpawnError::invalid(
                    "pass_fd",
                    target,
                    "descriptors 0, 1 and 2 are stdio: use stdin/stdout/stderr",
                ));
            }
            if self.pass_fds[..i].iter().any(|(_, t)| t == target) {
                return Err(SpawnError::invalid(
                    "pass_fd",
                    target,
                    "two descriptors are passed as the same number",
                ));
            }
            // A copy above every target, so no dup2 clobbers a later source.
            // SAFETY: F_DUPFD_CLOEXEC on a live descriptor.
            let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, max_target + 1) };
            if r < 0 {
                return Err(SpawnError::setup(
                    "duplicating a passed descriptor",
                    std::io::Error::last_os_error(),
                ));
            }
            // SAFETY: a new descriptor nobody else owns.
            let copy = unsafe { OwnedFd::from_raw_fd(r) };
            pass_fds.push((copy.as_raw_fd(), *target));
            keep.push(copy);
        }

        #[cfg(feature = "seccomp")]
        let seccomp = c.seccomp.clone().map(|f| f.into_program());
        #[cfg(not(feature = "seccomp"))]
        let seccomp: Option<Vec<libc::sock_filter>> = None;
        #[cfg(feature = "seccomp")]
        let seccomp_early = seccomp.is_some() && c.seccomp_privileged;
        #[cfg(not(feature = "seccomp"))]
        let seccomp_early = false;

        #[cfg(feature = "landlock")]
        let landlock = match &c.landlock {
            Some(l) => l.build()?,
            None => None,
        };
        #[cfg(not(feature = "landlock"))]
        let landlock: Option<OwnedFd> = None;
        let landlock = landlock.map(lift).transpose()?;

        // Joining a running container.
        let mut join = c.prepare_join(ns, self.cwd.is_some())?;
        c.add_namespace_fds(ns, &mut join)?;
        join.fds = std::mem::take(&mut join.fds)
            .into_iter()
            .map(|(f, t)| Ok((lift(f)?, t)))
            .collect::<Result<_, SpawnError>>()?;
        join.root = match join.root.take() {
            Some((r, c)) => Some((lift(r)?, lift(c)?)),
            None => None,
        };
        // A pooled set's descriptors belong to the pool: copies above the
        // floor when they are below it.
        let mut pool_join = pool_join;
        for (fd, _) in pool_join.iter_mut() {
            if *fd < floor {
                // SAFETY: the pool keeps the descriptor open while `pooled`
                // lives; F_DUPFD_CLOEXEC returns a new one owned below.
                let r = unsafe { libc::fcntl(*fd, libc::F_DUPFD_CLOEXEC, floor) };
                if r < 0 {
                    return Err(SpawnError::setup(
                        "moving a descriptor above the dup2 targets",
                        std::io::Error::last_os_error(),
                    ));
                }
                // SAFETY: a new descriptor nobody else owns.
                keep.push(unsafe { OwnedFd::from_raw_fd(r) });
                *fd = r;
            }
        }
        let become_root = become_root || join.become_root;
        // A mount namespace joined by descriptor that is not the caller's
        // own: the program and everything it runs are that namespace's
        // (setns makes its root ours), as with a joined process's.
        let joins_other_mount_ns = c
            .join_ns
            .iter()
            .any(|(k, fd)| *k == Namespace::Mount && !is_own_mount_ns(fd.as_fd()));

        // Capabilities (after the joins: a joined mount namespace is a
        // container's filesystem too).
        let chosen = match c.caps {
            Some(CapsChoice::Sets(c)) => Some(c),
            Some(CapsChoice::KeepAll) => None,
            // A container with its own root, or a program run in a joined
            // mount namespace (the container's filesystem and programs, like
            // `docker exec`), does not keep every capability unless asked
            // (crate docs, "Safety"). Within a joined user namespace the
            // caller's own sets say nothing.
            None if c.fs.root.is_some() || join.root.is_some() || joins_other_mount_ns => {
                let joins_user = join.fds.iter().any(|(_, t)| *t == libc::CLONE_NEWUSER);
                let devices_denied = c.cgroup.spec.as_ref().is_some_and(|s| {
                    let rules = s.resources.device_rule_list();
                    !rules.is_empty() && !crate::cgroup::devices::emulate(rules).default_allow
                });
                let mut c = crate::caps::contained_default(userns || joins_user);
                if !(devices_denied || userns || joins_user) {
                    // Docker keeps CAP_MKNOD because its device cgroup
                    // refuses every device it did not list. Without such
                    // rules a node of any host device (a disk, a console)
                    // made inside the root opens like the host's own. (In
                    // a user namespace nobody can make a device node.)
                    let mut set = c.bounding;
                    set.remove(crate::caps::Capability::Mknod);
                    c = crate::caps::Capabilities::only(set);
                }
                if mounts.as_ref().is_some_and(|m| m.chroots()) {
                    // A chroot is no boundary for CAP_SYS_CHROOT (chroot
                    // into a subdirectory, `..` past the root, chroot
                    // there): the caller's filesystem is above this root
                    // (the same mount namespace, or a copy of it).
                    let mut set = c.bounding;
                    set.remove(crate::caps::Capability::SysChroot);
                    c = crate::caps::Capabilities::only(set);
                }
                Some(match join.target_bounding {
                    Some(b) => crate::caps::Capabilities::only(crate::caps::CapSet::from_bits(
                        c.bounding.bits() & b,
                    )),
                    None => c,
                })
            }
            None => None,
        };
        let caps = match chosen {
            Some(c) => {
                c.validate()
                    .map_err(|r| SpawnError::invalid("capabilities", c, r))?;
                let last_cap = crate::caps::last_cap().min(63);
                let known = if last_cap == 63 {
                    u64::MAX
                } else {
                    (1u64 << (last_cap + 1)) - 1
                };
                Some(CapsPlan {
                    drop_bounding: known & !c.bounding.bits(),
                    last_cap,
                    effective: c.effective.bits(),
                    permitted: c.permitted.bits(),
                    inheritable: c.inheritable.bits(),
                    ambient: c.ambient.bits(),
                })
            }
            None => None,
        };

        // The start gate: our copy of the gate and a ready pipe, above the
        // floor (see `process/gate.rs`).
        let (gate, gate_ready) = match &self.start_gate {
            Some(g) => {
                let g = g
                    .try_clone()
                    .map_err(|e| SpawnError::setup("duplicating the start gate", e))?;
                let (ready_r, ready_w) = crate::sys::pipe_cloexec()
                    .map_err(|e| SpawnError::setup("pipe2 (start gate)", e))?;
                let (g, ready_w) = (lift(g)?, lift(ready_w)?);
                let plan = crate::process::GatePlan {
                    ready: ready_w.as_raw_fd(),
                    gate: g.as_raw_fd(),
                };
                keep.push(g);
                keep.push(ready_w);
                (Some(plan), Some(ready_r))
            }
            None => (None, None),
        };

        // Standard streams.
        let piped_if_unset = |s: &Option<Stdio>, dflt: Stdio| match s {
            Some(_) => None,
            None => output.map(|_| dflt),
        };
        let mut stdio: [PreparedStdio; 3] = Default::default();
        let pty_streams = [
            self.stdin.is_none(),
            self.stdout.is_none(),
            self.stderr.is_none(),
        ]
        .map(|unset| unset && self.pty.is_some());
        for (i, (set, dflt)) in [
            (&self.stdin, piped_if_unset(&self.stdin, Stdio::Null)),
            (&self.stdout, piped_if_unset(&self.stdout, Stdio::Piped)),
            (&self.stderr, piped_if_unset(&self.stderr, Stdio::Piped)),
        ]
        .into_iter()
        .enumerate()
        {
            let s = set.as_ref().or(dflt.as_ref());
            if let Some(s) = s.filter(|_| !pty_streams[i]) {
                stdio[i] = s
                    .prepare(i as i32)
                    .map_err(|e| SpawnError::setup("preparing stdio", e))?;
            }
        }

        // The sealed helper (process/helper.rs): always for an init; as an
        // exec trampoline whenever the program's filesystem is not the
        // caller's (a root of its own, a read-only or masked view, a joined
        // mount namespace), where the caller's binary is otherwise out of
        // the container's reach.
        let helper_mode = if c.init && self.pty.is_some() {
            Some(HelperMode::InitTty)
        } else if c.init {
            Some(HelperMode::Init)
        } else if c.force_exec_helper
            || mounts.as_ref().is_some_and(|m| m.hides_host())
            || join.root.is_some()
            || joins_other_mount_ns
        {
            Some(HelperMode::Exec)
        } else {
            None
        };

        // The terminal: from the container's own devpts (opened by the
        // child after its mounts, the primary sent back on a socket pair),
        // else from the host's /dev/ptmx.
        let mut pty_plan = None;
        let mut parent_pty = None;
        if let Some(size) = self.pty {
            let ptmx = mounts
                .as_ref()
                .and_then(|m| m.devpts_ptmx())
                .or_else(|| join.root.is_some().then(|| c"/dev/pts/ptmx".to_owned()));
            let setup = |op: &'static str| move |e| SpawnError::setup(op, e);
            match ptmx {
                Some(ptmx) => {
                    let (ours, theirs) = std::os::unix::net::UnixStream::pair()
                        .map_err(setup("socketpair (pty)"))?;
                    let theirs = lift(OwnedFd::from(theirs))?;
                    pty_plan = Some(crate::tty::PtyPlan {
                        streams: pty_streams,
                        replica: -1,
                        open: Some(crate::tty::PtyOpen {
                            ptmx,
                            sock: theirs.as_raw_fd(),
                            size: size.map(|s| s.to_raw()),
                        }),
                    });
                    keep.push(theirs);
                    parent_pty = Some(crate::process::ParentPty::Socket(ours));
                }
                None => {
                    let (primary, replica) =
                        crate::tty::Pty::open(size).map_err(setup("opening /dev/ptmx"))?;
                    for (i, on) in pty_streams.iter().enumerate() {
                        if *on {
                            stdio[i] = PreparedStdio {
                                child: Some(
                                    crate::process::lift_fd(
                                        replica.try_clone().map_err(setup("dup (pty)"))?,
                                        3,
                                    )
                                    .map_err(setup("dup (pty)"))?,
                                ),
                                parent: None,
                            };
                        }
                    }
                    let replica = lift(replica)?;
                    pty_plan = Some(crate::tty::PtyPlan {
                        streams: pty_streams,
                        replica: replica.as_raw_fd(),
                        open: None,
                    });
                    keep.push(replica);
                    parent_pty = Some(crate::process::ParentPty::Host(primary));
                }
            }
        }

        // The cgroup last: nothing after this can fail, so a refused field
        // never leaves a cgroup behind.
        let oom_score_adj = c
            .cgroup
            .spec
            .as_ref()
            .and_then(|s| s.resources.child_oom_score_adj())
            .map(|v| v.get().to_string().into_bytes());
        let cgroup = c.cgroup.prepare()?;
        // A new cgroup namespace is rooted where the child is when it
        // unshares: in each v1 hierarchy, a directory of the container's
        // own, not the caller's cgroup.
        if ns.contains(Namespaces::CGROUP) {
            if let Some(cg) = &cgroup {
                if let Err(e) = cg.add_every_v1() {
                    if let Some(c) = cgroup {
                        let _ = c.destroy();
                    }
                    return Err(e.into());
                }
            }
        }
        // A cgroup v1 cgroup has no cgroup2 directory to start in: the
        // child moves itself with `tasks` writes instead (spawn path).
        let cgroup_fd = match cgroup.as_ref().map(|c| c.clone_into_fd()).transpose() {
            Ok(fd) => fd.map_or(join.cgroup_fd, |fd| fd),
            Err(e) => {
                if let Some(c) = cgroup {
                    let _ = c.destroy();
                }
                return Err(e.into());
            }
        };
        let join_list: Vec<(i32, i32)> = pool_join
            .into_iter()
            .chain(join.fds.iter().map(|(f, t)| (f.as_raw_fd(), *t)))
            .collect();
        let join_root = join
            .root
            .as_ref()
            .map(|(r, c)| (r.as_raw_fd(), c.as_raw_fd()));
        // What the child keeps past its first steps (see ChildPlan::keep_fds).
        let mut keep_fds: Vec<i32> = pass_fds
            .iter()
            .map(|(src, _)| *src)
            .chain(join_list.iter().map(|(f, _)| *f))
            .chain(join_root.into_iter().flat_map(|(r, c)| [r, c]))
            .chain(pdeathsig.map(|(_, fd)| fd))
            .chain(landlock.as_ref().map(|f| f.as_raw_fd()))
            .chain(gate.iter().flat_map(|g| [g.ready, g.gate]))
            .chain(mounts.iter().flat_map(|m| m.idmap_slots()))
            .chain(mounts.iter().filter_map(|m| m.prepared_fd()))
            .chain(pty_plan.as_ref().map(|p| match &p.open {
                Some(o) => o.sock,
                None => p.replica,
            }))
            .collect();
        keep_fds.sort_unstable();
        Ok(Prepared {
            cgroup: cgroup.map(|cg| (cg, c.cgroup.remove_on_exit())),
            plan: ChildPlan {
                oom_score_adj,
                err_fd: -1,
                sync_fd: None,
                sync_close: None,
                sync_fds: false,
                unshare_cgroup: false,
                cgroup_tasks: Vec::new(),
                time_at_clone: false,
                become_root,
                ids,
                groups: self.groups.clone(),
                caps,
                rlimits,
                no_new_privs: c.no_new_privs
                    || (seccomp.is_some() && !seccomp_early)
                    || landlock.is_some(),
                seccomp_early,
                landlock: landlock.as_ref().map(|f| f.as_raw_fd()),
                seccomp,
                pdeathsig,
                keep_fds,
                fd_floor: floor,
                pass_fds,
                join: join_list,
                join_root,
                join_fork: None,
                helper_mode,
                helper: None,
                nondumpable: false,
                nondumpable_first: false,
                time,
                hostname,
                domainname,
                mounts,
                loopback,
                cwd,
                stdio: [-1; 3],
                setsid: self.setsid || pty_plan.is_some(),
                pty: pty_plan,
                reset_handlers: false,
                keep_ignored_signals: c.keep_ignored_signals,
                process_group: self.process_group,
                umask: self.umask,
                gate,
                exec_paths,
                argv,
                envp,
                _strings: strings,
            },
            namespaces: ns,
            id_maps,
            user_net,
            stdio,
            pty: parent_pty,
            cgroup_fd,
            join_pid_ns: join.pid_ns,
            join_cgroup_v1: join.cgroup_v1,
            cgroup_task_paths: Vec::new(),
            join_pid_in_child: join.pid_in_child,
            keep: {
                let mut keep = keep;
                keep.extend(join.fds.into_iter().map(|(f, _)| f));
                if let Some((r, c)) = join.root {
                    keep.push(r);
                    keep.push(c);
                }
                keep.extend(join.pidfd);
                keep.extend(landlock);
                keep
            },
            pooled,
            force_legacy: c.force_legacy_clone,
            vfork: c.vfork.unwrap_or(true),
            program,
            gate_ready,
        })
    }
}

// A configuration is shared between threads and kept in `'static` places;
// a command moves to the thread that spawns it.
const _: () = {
    const fn shared<T: Send + Sync + Clone + 'static>() {}
    const fn movable<T: Send + 'static>() {}
    shared::<Container>();
    movable::<Command>();
};

// ocicfg additions: single namespaces joined by descriptor, device nodes.
impl Container {
    /// Joins the existing namespace `fd` (a `/proc/<pid>/ns/<kind>` file or
    /// a bind mount of one, opened by the caller) instead of creating a new
    /// namespace of `kind`, as the OCI `linux.namespaces[].path` asks:
    /// `setns(2)` on that descriptor, in the child, before any other step.
    /// Kinds may be mixed freely with new ones of other kinds
    /// ([`unshare`](Self::unshare)) and with the joins of
    /// [`join`](Self::join) (of other kinds).
    ///
    /// Order and rules (those of `setns(2)`): a user namespace is joined
    /// first, the mount namespace last; the new namespaces of the clone are
    /// owned by the caller's user namespace, so joining a user namespace
    /// cannot be combined with creating namespaces, nor with id maps (the
    /// joined namespace has its own); the child then becomes uid and gid 0
    /// there (or the [`Command::uid`]/[`Command::gid`] ids), which must be mapped. A
    /// joined PID namespace is entered by the spawning thread for the
    /// clone (`/proc/thread-self/ns/pid_for_children`), so the program is
    /// in it; with a joined user namespace, by the child, which forks once
    /// more. A joined mount namespace gets the root, the mounts and the
    /// `/dev` of the builder as a new one would: they change that
    /// namespace, as runc does (its `/` is made private first, and
    /// `pivot_root` moves every process of it whose root or working
    /// directory is the old root to the new one): join only a mount
    /// namespace made for the container.
    ///
    /// # Errors
    /// At spawn, [`SpawnError::InvalidConfig`] with the field
    /// `join_namespace` when `fd` is not a namespace of `kind` (the value
    /// names both kinds) or no namespace at all, when `kind` is also created or
    /// joined twice, and for the user namespace combinations above;
    /// [`SpawnError::Child`] with [`Step::Setns`](crate::Step::Setns) when
    /// the kernel refuses the join (`EPERM`: no `CAP_SYS_ADMIN` over the
    /// namespace's owner).
    ///
    /// # References
    /// - [`setns(2)`](https://man7.org/linux/man-pages/man2/setns.2.html)
    /// - [OCI runtime spec, namespaces](https://github.com/opencontainers/runtime-spec/blob/main/config-linux.md#namespaces)
    pub fn join_namespace(mut self, kind: Namespace, fd: impl Into<OwnedFd>) -> Self {
        self.cfg_mut().join_ns.push((kind, Arc::new(fd.into())));
        self
    }

    /// Creates the device node `node` inside the container's root, after
    /// the mounts (so on the container's `/dev` when one is mounted) and
    /// before the masked paths and the change of root, as the OCI
    /// `linux.devices` asks. See [`crate::mount::DeviceNode`] for how it
    /// is made (`mknodat(2)` inside the root; a bind of the host's node in
    /// a user namespace, which cannot `mknod`).
    ///
    /// # Errors
    /// At spawn, [`SpawnError::InvalidConfig`] (field `device`) for a path
    /// that is not absolute, has `..` or is `/`, for a device without a
    /// root, and, in a user namespace, when the host has no node of the
    /// same type and number at that path. In the child,
    /// [`Step::Dev`](crate::Step::Dev) (index 100 + the device's position)
    /// with the errno: `EEXIST` when something else than the same device
    /// is there already, `EPERM` without `CAP_MKNOD`, `ENOENT`/`ELOOP`
    /// when a parent directory leads out of the root.
    ///
    /// # References
    /// - [`mknod(2)`](https://man7.org/linux/man-pages/man2/mknod.2.html)
    /// - [OCI runtime spec, devices](https://github.com/opencontainers/runtime-spec/blob/main/config-linux.md#devices)
    pub fn device(mut self, node: crate::mount::DeviceNode) -> Self {
        self.cfg_mut().fs.devices.push(node);
        self
    }
}

/// Whether `fd` is the calling thread's own mount namespace (same nsfs
/// inode as `/proc/thread-self/ns/mnt`); `false` when unknown.
fn is_own_mount_ns(fd: std::os::fd::BorrowedFd<'_>) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(own) = std::fs::metadata("/proc/thread-self/ns/mnt") else {
        return false;
    };
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is live for the call, st a valid out pointer.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return false;
    }
    st.st_dev == own.dev() && st.st_ino == own.ino()
}

impl Config {
    /// The kinds joined with [`join_namespace`](Container::join_namespace).
    fn joined_kinds(&self) -> Namespaces {
        self.join_ns
            .iter()
            .fold(Namespaces::empty(), |acc, (k, _)| acc | k.flag())
    }

    /// Checks the descriptors of [`join_namespace`](Container::join_namespace)
    /// and adds them to `plan` (user first, mount last).
    fn add_namespace_fds(&self, new: Namespaces, plan: &mut JoinPlan) -> Result<(), SpawnError> {
        let mut seen = Namespaces::empty();
        for (kind, fd) in &self.join_ns {
            let kind = *kind;
            match crate::namespace::nstype(fd.as_fd()) {
                Ok(found) if found == kind => {}
                Ok(found) => {
                    return Err(SpawnError::invalid(
                        "join_namespace",
                        kind,
                        format!("the descriptor is a {found} namespace, not a {kind} namespace"),
                    ))
                }
                Err(e) => {
                    return Err(SpawnError::invalid(
                        "join_namespace",
                        kind,
                        format!("the descriptor is not a namespace (NS_GET_NSTYPE: {e})"),
                    ))
                }
            }
            if new.contains(kind.flag()) {
                return Err(SpawnError::invalid(
                    "join_namespace",
                    kind,
                    "a namespace kind cannot be both created and joined",
                ));
            }
            let joined_already = seen.contains(kind.flag())
                || plan.fds.iter().any(|(_, t)| *t as u64 == kind.clone_flag())
                || (kind == Namespace::Pid && plan.pid_ns.is_some());
            if joined_already {
                return Err(SpawnError::invalid(
                    "join_namespace",
                    kind,
                    "this kind is joined twice",
                ));
            }
            seen |= kind.flag();
        }
        let joins_user = seen.contains(Namespaces::USER)
            || plan.fds.iter().any(|(_, t)| *t == libc::CLONE_NEWUSER);
        if seen.contains(Namespaces::USER) && !new.is_empty() {
            return Err(SpawnError::invalid(
                "join_namespace",
                Namespace::User,
                "joining a user namespace cannot be combined with creating namespaces \
                 (they would belong to the caller's user namespace)",
            ));
        }
        let dup = |fd: &OwnedFd| {
            fd.try_clone()
                .map_err(|e| SpawnError::setup("duplicating a namespace descriptor", e))
        };
        for (kind, fd) in &self.join_ns {
            let flag = kind.clone_flag() as i32;
            match kind {
                Namespace::User => {
                    plan.fds.insert(0, (dup(fd)?, flag));
                    plan.become_root = true;
                }
                Namespace::Pid if !joins_user => {
                    plan.pid_ns = Some((
                        dup(fd)?,
                        NsFd::open_path("/proc/thread-self/ns/pid_for_children", None)?.into(),
                    ));
                }
                Namespace::Mount => plan.fds.push((dup(fd)?, flag)),
                _ => {
                    if *kind == Namespace::Pid {
                        plan.pid_in_child = true;
                    }
                    // Before a mount namespace already in the list.
                    let at = plan
                        .fds
                        .iter()
                        .position(|(_, t)| *t == libc::CLONE_NEWNS)
                        .unwrap_or(plan.fds.len());
                    plan.fds.insert(at, (dup(fd)?, flag));
                }
            }
        }
        Ok(())
    }
}
