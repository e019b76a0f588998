//! `contrun`: an OCI runtime with runc's command line, on the containment
//! crate's public API.

mod cli;
mod config;
mod console;
mod error;
mod hooks;
mod log;
mod seccomp;
mod state;

use clap::Parser;
use cli::{Cli, Command, CreateArgs, ExecArgs, UpdateArgs};
use containment::{Child, Container, Namespaces};
use error::{Error, Result};
use oci_spec::runtime::Spec;
use state::{Dir, Saved, Status};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The runtime-spec version this runtime implements.
pub const SPEC_VERSION: &str = "1.2.0";

fn main() {
    let cli = Cli::parse();
    log::init(cli.log.clone(), cli.log_format, cli.debug);
    if cli.version {
        // Not println!: it panics when the reader has gone (`contrun
        // --version | head -1`, SIGPIPE being ignored by Rust programs).
        use std::io::Write;
        let _ = write!(
            std::io::stdout().lock(),
            "contrun version {}\nspec: {SPEC_VERSION}\n",
            env!("CARGO_PKG_VERSION")
        );
        return;
    }
    let code = match dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            let msg = e.to_string();
            log::log("error", &msg);
            if cli.log.is_some() {
                eprintln!("contrun: {msg}");
            }
            1
        }
    };
    std::process::exit(code);
}

fn dispatch(cli: &Cli) -> Result<i32> {
    if cli.systemd_cgroup {
        return Err(Error::msg(
            "--systemd-cgroup: no systemd cgroup driver yet (use the cgroupfs driver)",
        ));
    }
    if cli.rootless.as_deref() == Some("true") {
        return Err(Error::msg(
            "--rootless=true: rootless mode is not supported yet",
        ));
    }
    let root = &cli.root;
    let Some(cmd) = &cli.command else {
        return Err(Error::msg("no command given (see --help)"));
    };
    log::debug(&format!("{cmd:?}"));
    match cmd {
        Command::Create(a) => {
            let c = create(root, a, true)?;
            // The container outlives us: leave its process running.
            std::mem::forget(c.child);
            Ok(0)
        }
        Command::Start { id } => {
            let dir = Dir::open(root, id)?;
            start(&dir)?;
            Ok(0)
        }
        Command::Run(a) => run(root, a),
        Command::State { id } => {
            let dir = Dir::peek(root, id)?;
            let s = dir.load()?;
            let st = s.status(&dir);
            println!(
                "{}",
                serde_json::to_string_pretty(&s.state_json(st)).unwrap_or_default()
            );
            Ok(0)
        }
        Command::Kill { all, id, signal } => {
            let sig = parse_signal(signal.as_deref().unwrap_or("SIGTERM"))?;
            let dir = Dir::open(root, id)?;
            kill(&dir, sig, *all)?;
            Ok(0)
        }
        Command::Delete { force, id } => {
            let dir = match Dir::open(root, id) {
                Ok(d) => d,
                // runc: deleting a missing container with --force succeeds.
                Err(_) if *force && !root.join(id).exists() => return Ok(0),
                // A create killed before it wrote the state: its directory
                // goes (else the id stays taken for good), and the empty
                // cgroup directories it may have made. Its child exits
                // when it cannot report ready (the reader died); one that
                // reported ready just before the kill is left waiting at
                // its gate, its cgroup populated (not removed: nothing
                // proves that cgroup was this create's own).
                Err(e) if *force => match Dir::open_stateless(root, id) {
                    Ok(Some(d)) => {
                        remove_planned_cgroup(&d);
                        d.remove()?;
                        return Ok(0);
                    }
                    Ok(None) => Dir::open(root, id)?,
                    Err(_) if !root.join(id).exists() => return Ok(0),
                    Err(_) => return Err(e),
                },
                Err(e) => return Err(e),
            };
            delete(dir, *force)?;
            Ok(0)
        }
        Command::List { format, quiet } => list(root, format, *quiet),
        Command::Exec(a) => exec(root, a),
        Command::Ps {
            format,
            id,
            ps_args,
        } => ps(root, id, format, ps_args),
        Command::Pause { id } => freeze(root, id, true),
        Command::Resume { id } => freeze(root, id, false),
        Command::Update(a) => update(root, a),
        Command::Events {
            stats,
            interval,
            id,
        } => events(root, id, *stats, *interval),
        Command::Features => {
            println!(
                "{}",
                serde_json::to_string_pretty(&features()).unwrap_or_default()
            );
            Ok(0)
        }
        Command::Spec { bundle } => {
            let p = bundle.join("config.json");
            if p.exists() {
                return Err(Error::msg(format!("{} exists already", p.display())));
            }
            let text = serde_json::to_string_pretty(&default_spec()).unwrap_or_default();
            std::fs::write(&p, text).map_err(|e| Error::io(p.display(), e))?;
            Ok(0)
        }
    }
}

/// `Spec::load` with the same messages, read whole and parsed from the
/// slice (`Spec::load` parses from a reader, which serde_json does about
/// twice as slowly: ~40 µs of each `create`).
fn load_spec(path: &Path) -> Result<Spec> {
    std::fs::read(path)
        .map_err(oci_spec::OciSpecError::from)
        .and_then(|b| serde_json::from_slice(&b).map_err(oci_spec::OciSpecError::from))
        .map_err(|e| Error::msg(format!("{}: {e}", path.display())))
}

fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let tmp = path.with_extension("contrun-tmp");
    std::fs::write(&tmp, pid.to_string()).map_err(|e| Error::io(tmp.display(), e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path.display(), e))
}

/// Kills a container's processes and waits until its first one is gone.
fn kill_and_wait(pid: i32, pid_start: u64, cgroup: Option<&Path>) {
    let cg = cgroup.and_then(|p| containment::cgroup::Cgroup::open(p).ok());
    if let Some(cg) = &cg {
        let _ = cg.kill();
    }
    if let Some(fd) = pidfd_of(pid, pid_start) {
        // SAFETY: pidfd_send_signal on our pidfd.
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                fd.as_raw_fd(),
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
        let mut p = libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; a pidfd is readable once the process
        // has exited.
        unsafe { libc::poll(&mut p, 1, 10_000) };
    }
    if let Some(cg) = &cg {
        let _ = cg.wait_until_empty(Duration::from_secs(10));
    }
}

/// The filesystem type of `dir` (`statfs(2)` `f_type`), if it exists.
fn fs_type(dir: &Path) -> Option<libc::c_long> {
    let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: an all-zero statfs is a valid value to be overwritten.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a statfs to fill.
    (unsafe { libc::statfs(c.as_ptr(), &mut st) } == 0).then_some(st.f_type as libc::c_long)
}

/// Whether `dir` is on a cgroup2 filesystem.
fn is_cgroup2(dir: &Path) -> bool {
    fs_type(dir) == Some(libc::CGROUP2_SUPER_MAGIC)
}

/// The cgroup a killed `create` recorded before its spawn
/// ([`Dir::planned_cgroup`]): each hierarchy's directory at that relative
/// path is removed if it is an empty cgroup (`rmdir` refuses one with a
/// process or a child cgroup: then it is not touched, whoever's it is).
/// A directory that was there before the create would have failed it
/// (`EEXIST`), so an empty one is the create's own, or one made at that
/// path since, which nothing uses. Not proven: a create killed after it
/// recorded the path but before its spawn's `mkdir` leaves the record of
/// a cgroup it never made, and an empty one already there (another's,
/// not populated yet) is removed. The record is read only whole (see
/// [`Dir::plan_cgroup`]): a torn one named a prefix, another cgroup.
fn remove_planned_cgroup(d: &Dir) {
    let Ok(rel) = std::fs::read(d.planned_cgroup()) else {
        return;
    };
    use std::os::unix::ffi::OsStrExt;
    let rel = Path::new(std::ffi::OsStr::from_bytes(&rel));
    // What translate accepts: a plain relative path.
    if rel.as_os_str().is_empty()
        || !rel
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)))
    {
        return;
    }
    let Ok(h) = containment::cgroup::Hierarchy::detect() else {
        return;
    };
    let mounts = h
        .v1_mounts()
        .iter()
        .map(|m| m.mount_point.clone())
        .chain(h.mount_point().map(Path::to_path_buf));
    for m in mounts {
        let dir = m.join(rel);
        if dir.is_dir() {
            rmdir_cgroup(&dir);
        }
    }
}

/// `rmdir` of a directory of a container's cgroup (a cgroup2 or v1 one,
/// nothing else): true when it is gone (removed, or absent already).
fn rmdir_cgroup(dir: &Path) -> bool {
    if !matches!(
        fs_type(dir),
        Some(libc::CGROUP2_SUPER_MAGIC | libc::CGROUP_SUPER_MAGIC)
    ) {
        return !dir.exists();
    }
    match std::fs::remove_dir(dir) {
        Ok(()) => true,
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// A pidfd of `pid` if it is still the process that started at `start`.
fn pidfd_of(pid: i32, start: u64) -> Option<OwnedFd> {
    // SAFETY: pidfd_open with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return None;
    }
    // SAFETY: a new descriptor we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // Checked after the open: the pidfd pins the process from here on.
    match state::proc_stat(pid) {
        Some((s, _)) if s == start => Some(fd),
        _ => None,
    }
}

/// Writes the sysctls from inside the container's namespaces: a thread
/// enters the namespace (net, ipc and uts can be entered by one thread of
/// a multi-threaded process) and writes /proc/sys, which shows the
/// namespace of the writer.
fn apply_sysctls(pid: i32, list: &[(containment::Namespace, PathBuf, String)]) -> Result<()> {
    if list.is_empty() {
        return Ok(());
    }
    let list = list.to_vec();
    std::thread::spawn(move || -> Result<()> {
        for (kind, path, value) in &list {
            let ns = containment::namespace::NsFd::open_pid(pid, *kind)
                .map_err(|e| Error::msg(format!("sysctl {}: {e}", path.display())))?;
            ns.join()
                .map_err(|e| Error::msg(format!("sysctl {}: {e}", path.display())))?;
            std::fs::write(path, value).map_err(|e| {
                Error::io(
                    format!("config.json: linux.sysctl: writing {}", path.display()),
                    e,
                )
            })?;
        }
        Ok(())
    })
    .join()
    .map_err(|_| Error::msg("the sysctl thread panicked"))?
}

/// The spec's default links in the container's /dev (`fd`, `stdin`,
/// `stdout`, `stderr`, and `ptmx` with a devpts), made from here while the
/// container waits at its gate: /dev is opened inside the container's root
/// (`openat2` with `RESOLVE_IN_ROOT`, no symlinks followed). A link that
/// exists is kept; a read-only /dev is left as it is.
fn dev_links(pid: i32, ptmx: bool, owner: (u32, u32)) {
    // SAFETY: geteuid/getegid cannot fail. No thread of ours has changed
    // its filesystem ids, so they are the effective ones.
    let me = unsafe { (libc::geteuid(), libc::getegid()) };
    if owner == me {
        // The links are created with our own ids already (no user
        // namespace, or one that maps the container's root to us): no
        // thread (its start costs more than the links on a loaded host).
        dev_links_here(pid, ptmx);
        return;
    }
    // In a user namespace the container's tmpfs accepts only ids mapped
    // there (else EOVERFLOW): a thread takes the host ids of the
    // container's root as its filesystem ids (setfsuid is per thread).
    let _ = std::thread::spawn(move || {
        // SAFETY: setfsgid/setfsuid with integer arguments, on this
        // thread only (raw system calls).
        unsafe {
            libc::syscall(libc::SYS_setfsgid, owner.1);
            libc::syscall(libc::SYS_setfsuid, owner.0);
        }
        dev_links_here(pid, ptmx);
    })
    .join();
}

fn dev_links_here(pid: i32, ptmx: bool) {
    let open = |dir: i32, path: &std::ffi::CStr, resolve: u64| -> Option<OwnedFd> {
        let mut how: libc::open_how = unsafe { std::mem::zeroed() };
        how.flags = (libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC) as u64;
        how.resolve = resolve;
        // SAFETY: openat2 with a valid path and open_how of the given size.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dir,
                path.as_ptr(),
                &how as *const libc::open_how,
                std::mem::size_of::<libc::open_how>(),
            )
        };
        // SAFETY: a new descriptor we own.
        (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
    };
    let Ok(root) = std::ffi::CString::new(format!("/proc/{pid}/root")) else {
        return;
    };
    let Some(root) = open(libc::AT_FDCWD, &root, 0) else {
        return;
    };
    let Some(dev) = open(
        root.as_raw_fd(),
        c"dev",
        libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS,
    ) else {
        return;
    };
    let mut links = vec![
        (c"/proc/self/fd", c"fd"),
        (c"/proc/self/fd/0", c"stdin"),
        (c"/proc/self/fd/1", c"stdout"),
        (c"/proc/self/fd/2", c"stderr"),
    ];
    if ptmx {
        links.push((c"pts/ptmx", c"ptmx"));
    }
    for (target, name) in links {
        // SAFETY: NUL-terminated strings and a directory descriptor.
        unsafe { libc::symlinkat(target.as_ptr(), dev.as_raw_fd(), name.as_ptr()) };
    }
}

/// A container `create` made: its process (waiting at the gate), its
/// locked state directory, the terminal kept for a foreground `run`, and
/// what was saved (so that `run` does not read it back).
struct Created {
    child: Child,
    dir: Dir,
    pty: Option<containment::tty::Pty>,
    saved: Saved,
}

/// `detach`: the caller returns once the container is created or started
/// (`create`, `run -d`), which decides what a terminal needs.
fn create(root: &Path, a: &CreateArgs, detach: bool) -> Result<Created> {
    if a.pidfd_socket.is_some() {
        return Err(Error::msg("--pidfd-socket: not supported yet"));
    }
    let bundle = a
        .bundle
        .canonicalize()
        .map_err(|e| Error::io(format!("bundle {}", a.bundle.display()), e))?;
    let spec = load_spec(&bundle.join("config.json"))?;
    state::check_id(&a.id)?;
    let terminal = spec.process().as_ref().and_then(|p| p.terminal()) == Some(true);
    console::check(terminal, detach, a.console_socket.as_deref())?;
    let mut plan = config::translate(&spec, &bundle, &a.id, a.no_pivot)?;
    let dir = Dir::create(root, &a.id)?;
    match create_in(&dir, a, &spec, &bundle, &mut plan) {
        Ok((child, pty, saved)) => Ok(Created {
            child,
            dir,
            pty,
            saved,
        }),
        Err(e) => {
            let _ = dir.remove();
            Err(e)
        }
    }
}

fn create_in(
    dir: &Dir,
    a: &CreateArgs,
    spec: &Spec,
    bundle: &Path,
    plan: &mut config::Plan,
) -> Result<(Child, Option<containment::tty::Pty>, Saved)> {
    // The gate: a FIFO in the state dir that `start` writes one byte to
    // (under its final name once the container is created).
    let fifo = dir.creating_fifo();
    let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::msg("state path contains a NUL byte"))?;
    // SAFETY: NUL-terminated path.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(Error::io(
            format!("mkfifo {}", fifo.display()),
            std::io::Error::last_os_error(),
        ));
    }
    let gate = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .map_err(|e| Error::io(fifo.display(), e))?;
    plan.command.start_gate(OwnedFd::from(gate));
    // Recorded before the spawn makes it (see `remove_planned_cgroup`).
    dir.plan_cgroup(&plan.cgroup)?;
    for fd in 3..3 + a.preserve_fds as i32 {
        // SAFETY: F_DUPFD_CLOEXEC on a descriptor number the caller passed
        // (fails with EBADF when it is not open).
        let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
        if copy < 0 {
            return Err(Error::io(
                format!("--preserve-fds: descriptor {fd}"),
                std::io::Error::last_os_error(),
            ));
        }
        // SAFETY: a new descriptor we own.
        plan.command
            .pass_fd(unsafe { OwnedFd::from_raw_fd(copy) }, fd);
    }
    // The state files are written while the child sets itself up (the pid
    // and the cgroup are all they need): `create` returns that much sooner.
    let mut saved: Option<Saved> = None;
    let mut failed: Option<Error> = None;
    let spawned = plan.command.spawn_with(|pid, cg| {
        let r = (|| -> Result<Saved> {
            // The cgroup's absolute directory (the plan has it relative to
            // the hierarchy). It must be a cgroup2 one: the other commands
            // open it with `Cgroup::open`.
            let cg = cg
                .filter(|c| is_cgroup2(c.path()))
                .ok_or_else(|| Error::msg("no cgroup2 hierarchy on this host"))?;
            // The v1 directories first, the cgroup2 one last: the order of
            // removal (the library's too).
            let mut cgroup_dirs = cg.dirs();
            cgroup_dirs.rotate_left(1);
            let pid = pid as i32;
            let Some((pid_start, _)) = state::proc_stat(pid) else {
                return Err(Error::msg("the container's process vanished"));
            };
            let s = Saved {
                id: a.id.clone(),
                pid,
                pid_start,
                bundle: bundle.to_path_buf(),
                rootfs: plan.rootfs.clone(),
                created: log::rfc3339(SystemTime::now()),
                annotations: spec.annotations().clone().unwrap_or_default(),
                cgroup: Some(cg.path().to_path_buf()),
                cgroup_dirs,
                hooks: spec.hooks().clone(),
                own_pid_ns: plan.own_pid_ns,
                process_unset: Some(spec.process().is_none()),
            };
            dir.save(&s)?;
            // A copy of the config as created (exec reads the process
            // defaults).
            spec.save(dir.path.join("config.json"))
                .map_err(|e| Error::msg(format!("saving the config: {e}")))?;
            Ok(s)
        })();
        match r {
            Ok(s) => {
                saved = Some(s);
                Ok(())
            }
            Err(e) => {
                let io = std::io::Error::other(e.to_string());
                failed = Some(e);
                Err(io)
            }
        }
    });
    let mut child = match spawned {
        Ok(c) => c,
        // Our own error, as we said it (the spawn only carried it).
        Err(e) => return Err(failed.unwrap_or_else(|| e.into())),
    };
    let pid = child.id() as i32;
    let Some(saved) = saved else {
        return Err(Error::msg("the state was not written during the spawn"));
    };
    plan.cgroup = saved.cgroup.clone().unwrap_or_default();
    let pty = child.take_pty();
    let mut console = None;
    let undo = |child: Child, e: Error| -> Error {
        kill_and_wait(pid, saved.pid_start, Some(&plan.cgroup));
        drop(child);
        if let Ok(cg) = containment::cgroup::Cgroup::open(&plan.cgroup) {
            let _ = cg.remove();
        }
        e
    };
    // The terminal goes to the console socket now (runc sends it during
    // create); without a socket (a foreground run) it stays in the handle.
    if let Some(pty) = pty {
        match &a.console_socket {
            Some(sock) => {
                if let Err(e) = console::send(sock, pty) {
                    return Err(undo(child, e));
                }
            }
            None => console = Some(pty),
        }
    }
    if let Err(e) = apply_sysctls(pid, &plan.sysctls) {
        return Err(undo(child, e));
    }
    if plan.dev_links {
        dev_links(pid, plan.ptmx_link, plan.root_owner);
    }
    let st = serde_json::to_vec(&saved.state_json(Status::Created)).unwrap_or_default();
    if let Some(h) = spec.hooks() {
        let r = hooks::run_all("prestart", h.prestart(), &st, hooks::Place::Runtime)
            .and_then(|_| {
                hooks::run_all(
                    "createRuntime",
                    h.create_runtime(),
                    &st,
                    hooks::Place::Runtime,
                )
            })
            .and_then(|_| {
                hooks::run_all(
                    "createContainer",
                    h.create_container(),
                    &st,
                    hooks::Place::Runtime,
                )
            });
        if let Err(e) = r {
            return Err(undo(child, e));
        }
    }
    if let Some(p) = &a.pid_file {
        if let Err(e) = write_pid_file(p, pid) {
            return Err(undo(child, e));
        }
    }
    // Created: `start` may open the gate now.
    if let Err(e) = std::fs::rename(dir.creating_fifo(), dir.fifo()) {
        return Err(undo(
            child,
            Error::io(format!("renaming {}", fifo.display()), e),
        ));
    }
    Ok((child, console, saved))
}

fn start(dir: &Dir) -> Result<()> {
    let s = dir.load()?;
    // Created without a process (config.json as saved at create): the
    // spec wants an error; the container is stopped, nothing ran in it.
    // (Recorded at create; a state of an older contrun lacks it.)
    let unset = || {
        s.process_unset.unwrap_or_else(|| {
            Spec::load(dir.path.join("config.json")).is_ok_and(|c| c.process().is_none())
        })
    };
    start_loaded(dir, &s, unset)
}

/// `start` on a state already read: `run` has it (and the config) from
/// its `create`, and does not read them back. `process_unset` is asked only
/// once the container is known to be created.
fn start_loaded(dir: &Dir, s: &Saved, process_unset: impl FnOnce() -> bool) -> Result<()> {
    let status = s.status(dir);
    if status != Status::Created {
        return Err(Error::msg(format!(
            "cannot start a container that is {}",
            status.as_str()
        )));
    }
    if process_unset() {
        kill_and_wait(s.pid, s.pid_start, s.cgroup.as_deref());
        let _ = std::fs::remove_file(dir.fifo());
        return Err(Error::field(
            "process",
            "not set in config.json: nothing to start (the container is stopped)",
        ));
    }
    let st = serde_json::to_vec(&s.state_json(Status::Created)).unwrap_or_default();
    if let Some(h) = &s.hooks {
        hooks::run_all(
            "startContainer",
            h.start_container(),
            &st,
            hooks::Place::Container(s.pid),
        )?;
    }
    let fifo = dir.fifo();
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&fifo)
        .map_err(|e| Error::io(format!("opening {}", fifo.display()), e))?;
    use std::io::Write;
    f.write_all(b"0")
        .map_err(|e| Error::io(format!("writing {}", fifo.display()), e))?;
    let _ = std::fs::remove_file(&fifo);
    let st = serde_json::to_vec(&s.state_json(Status::Running)).unwrap_or_default();
    if let Some(h) = &s.hooks {
        if let Err(e) = hooks::run_all("poststart", h.poststart(), &st, hooks::Place::Runtime) {
            log::warn(&e.to_string());
        }
    }
    Ok(())
}

use std::os::unix::fs::OpenOptionsExt;

fn run(root: &Path, a: &cli::RunArgs) -> Result<i32> {
    let Created {
        mut child,
        dir,
        pty: console,
        saved,
    } = create(root, &a.create, a.detach)?;
    if let Err(e) = start_loaded(&dir, &saved, || saved.process_unset == Some(true)) {
        let s = dir.load().ok();
        if let Some(s) = s {
            kill_and_wait(s.pid, s.pid_start, s.cgroup.as_deref());
        }
        drop(child);
        let _ = delete(dir, true);
        return Err(e);
    }
    if a.detach {
        std::mem::forget(child);
        return Ok(0);
    }
    // Others may query or kill it meanwhile: release the lock.
    let id = a.create.id.clone();
    drop(dir);
    let _raw = console.map(console::relay).transpose()?;
    let status = child
        .wait()
        .map_err(|e| Error::io("waiting for the container", e))?;
    let dir = Dir::open(root, &id)?;
    delete(dir, true)?;
    use std::os::unix::process::ExitStatusExt;
    Ok(status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)))
}

fn parse_signal(s: &str) -> Result<i32> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    let n = match name {
        "HUP" => libc::SIGHUP,
        "INT" => libc::SIGINT,
        "QUIT" => libc::SIGQUIT,
        "ILL" => libc::SIGILL,
        "TRAP" => libc::SIGTRAP,
        "ABRT" | "IOT" => libc::SIGABRT,
        "BUS" => libc::SIGBUS,
        "FPE" => libc::SIGFPE,
        "KILL" => libc::SIGKILL,
        "USR1" => libc::SIGUSR1,
        "SEGV" => libc::SIGSEGV,
        "USR2" => libc::SIGUSR2,
        "PIPE" => libc::SIGPIPE,
        "ALRM" => libc::SIGALRM,
        "TERM" => libc::SIGTERM,
        "STKFLT" => libc::SIGSTKFLT,
        "CHLD" | "CLD" => libc::SIGCHLD,
        "CONT" => libc::SIGCONT,
        "STOP" => libc::SIGSTOP,
        "TSTP" => libc::SIGTSTP,
        "TTIN" => libc::SIGTTIN,
        "TTOU" => libc::SIGTTOU,
        "URG" => libc::SIGURG,
        "XCPU" => libc::SIGXCPU,
        "XFSZ" => libc::SIGXFSZ,
        "VTALRM" => libc::SIGVTALRM,
        "PROF" => libc::SIGPROF,
        "WINCH" => libc::SIGWINCH,
        "IO" | "POLL" => libc::SIGIO,
        "PWR" => libc::SIGPWR,
        "SYS" => libc::SIGSYS,
        _ => return Err(Error::msg(format!("unknown signal {s:?}"))),
    };
    Ok(n)
}

fn kill(dir: &Dir, sig: i32, all: bool) -> Result<()> {
    let s = dir.load()?;
    let status = s.status(dir);
    if status == Status::Stopped {
        return Err(Error::msg(format!("container {:?} is not running", s.id)));
    }
    if all {
        if let Some(cg) = s
            .cgroup
            .as_ref()
            .and_then(|p| containment::cgroup::Cgroup::open(p).ok())
        {
            for p in cg.procs()? {
                // SAFETY: kill with integer arguments; these are the
                // container's processes (its cgroup lists them).
                unsafe { libc::kill(p as i32, sig) };
            }
            return Ok(());
        }
    }
    let fd = pidfd_of(s.pid, s.pid_start)
        .ok_or_else(|| Error::msg(format!("container {:?} is not running", s.id)))?;
    // SAFETY: pidfd_send_signal on our pidfd.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            fd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r != 0 {
        return Err(Error::io(
            format!("sending signal {sig}"),
            std::io::Error::last_os_error(),
        ));
    }
    Ok(())
}

fn delete(dir: Dir, force: bool) -> Result<()> {
    let s = dir.load()?;
    let status = s.status(&dir);
    match status {
        Status::Creating | Status::Created | Status::Running | Status::Paused if !force => {
            return Err(Error::msg(format!(
                "cannot delete container {:?} that is {} (use --force)",
                s.id,
                status.as_str()
            )))
        }
        Status::Stopped => {}
        _ => kill_and_wait(s.pid, s.pid_start, s.cgroup.as_deref()),
    }
    // A stopped container whose init had its own PID namespace has no
    // process left (or is about to have none): its directories go with one
    // `rmdir` each, which the kernel refuses (`EBUSY`) while a task or a
    // child cgroup is left; only then is the cgroup opened (mountinfo) and
    // removed the long way, waiting and walking.
    let fast = status == Status::Stopped
        && s.own_pid_ns
        && !s.cgroup_dirs.is_empty()
        && s.cgroup_dirs.last().map(PathBuf::as_path) == s.cgroup.as_deref()
        && s.cgroup_dirs.iter().all(|d| rmdir_cgroup(d));
    // Opened once (each open reads and parses /proc/self/mountinfo).
    let cg = s
        .cgroup
        .as_ref()
        .filter(|_| !fast)
        .and_then(|p| containment::cgroup::Cgroup::open(p).ok());
    // Stragglers of a container without its own PID namespace, in its
    // cgroup or in a child cgroup it made (`populated` counts the whole
    // subtree; `cgroup.procs` of the top one would not show them, and the
    // removal would wait for them in vain). With its own PID namespace
    // none is left: what populates the cgroup is another's (a container
    // whose cgroupsPath lies inside), which is not killed.
    if status == Status::Stopped && !s.own_pid_ns {
        if let Some(c) = &cg {
            if c.is_populated().unwrap_or(true) {
                kill_and_wait(s.pid, s.pid_start, s.cgroup.as_deref());
            }
        }
    }
    if let Some(cg) = cg {
        if cg.is_frozen().unwrap_or(false) {
            let _ = cg.thaw();
        }
        cg.remove()?;
    }
    let st = serde_json::to_vec(&s.state_json(Status::Stopped)).unwrap_or_default();
    if let Some(h) = &s.hooks {
        if let Err(e) = hooks::run_all("poststop", h.poststop(), &st, hooks::Place::Runtime) {
            log::warn(&e.to_string());
        }
    }
    dir.remove()
}

fn list(root: &Path, format: &str, quiet: bool) -> Result<i32> {
    let mut rows = Vec::new();
    if let Ok(rd) = std::fs::read_dir(root) {
        for e in rd.flatten() {
            let id = e.file_name().to_string_lossy().into_owned();
            let Ok(dir) = Dir::peek(root, &id) else {
                continue;
            };
            let Ok(s) = dir.load() else { continue };
            let st = s.status(&dir);
            rows.push((s, st));
        }
    }
    rows.sort_by(|a, b| a.0.id.cmp(&b.0.id));
    if quiet {
        for (s, _) in &rows {
            println!("{}", s.id);
        }
        return Ok(0);
    }
    match format {
        "json" => {
            let v: Vec<_> = rows
                .iter()
                .map(|(s, st)| {
                    serde_json::json!({
                        "ociVersion": SPEC_VERSION,
                        "id": s.id,
                        "pid": if *st == Status::Stopped { 0 } else { s.pid },
                        "status": st.as_str(),
                        "bundle": s.bundle,
                        "rootfs": s.rootfs,
                        "created": s.created,
                        "owner": "root",
                        "annotations": s.annotations,
                    })
                })
                .collect();
            println!("{}", serde_json::Value::Array(v));
        }
        "table" => {
            println!("ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER");
            for (s, st) in &rows {
                let pid = if *st == Status::Stopped { 0 } else { s.pid };
                println!(
                    "{}\t{pid}\t{}\t{}\t{}\troot",
                    s.id,
                    st.as_str(),
                    s.bundle.display(),
                    s.created
                );
            }
        }
        f => return Err(Error::msg(format!("unknown format {f:?} (table or json)"))),
    }
    Ok(0)
}

fn exec(root: &Path, a: &ExecArgs) -> Result<i32> {
    if a.pidfd_socket.is_some() {
        return Err(Error::msg("--pidfd-socket: not supported yet"));
    }
    let dir = Dir::open(root, &a.id)?;
    let s = dir.load()?;
    let status = s.status(&dir);
    if !matches!(status, Status::Running | Status::Created) {
        return Err(Error::msg(format!(
            "cannot exec in a container that is {}",
            status.as_str()
        )));
    }
    let spec = load_spec(&dir.path.join("config.json"))?;
    let base = spec
        .process()
        .clone()
        .ok_or_else(|| Error::msg("the saved config has no process"))?;
    let process = match &a.process {
        Some(p) => {
            let text = std::fs::read(p).map_err(|e| Error::io(p.display(), e))?;
            serde_json::from_slice::<oci_spec::runtime::Process>(&text)
                .map_err(|e| Error::msg(format!("{}: {e}", p.display())))?
        }
        None => {
            if a.args.is_empty() {
                return Err(Error::msg("exec: no program given (ARGS or --process)"));
            }
            let mut p = base.clone();
            p.set_args(Some(a.args.clone()));
            p.set_terminal(Some(a.tty));
            let mut env = p.env().clone().unwrap_or_default();
            env.extend(a.env.iter().cloned());
            p.set_env(Some(env));
            if let Some(c) = &a.cwd {
                p.set_cwd(c.clone());
            }
            if let Some(u) = &a.user {
                let (uid, gid) = u.split_once(':').unwrap_or((u, "0"));
                let mut user = p.user().clone();
                user.set_uid(
                    uid.parse()
                        .map_err(|_| Error::msg(format!("--user {u:?}: not uid[:gid]")))?,
                );
                user.set_gid(
                    gid.parse()
                        .map_err(|_| Error::msg(format!("--user {u:?}: not uid[:gid]")))?,
                );
                p.set_user(user);
            }
            p
        }
    };
    let args = process
        .args()
        .as_ref()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| Error::msg("process.args: missing or empty"))?;
    let terminal = process.terminal() == Some(true);
    console::check(terminal, a.detach, a.console_socket.as_deref())?;
    let pid = u32::try_from(s.pid).map_err(|_| Error::msg("state: a negative pid"))?;
    let mut c = Container::new().join_pid(pid, Namespaces::all());
    if process.no_new_privileges() == Some(true) {
        c = c.no_new_privs(true);
    }
    if let Some(pc) = process.capabilities() {
        let set = |v: &Option<oci_spec::runtime::Capabilities>| {
            let mut s = containment::caps::CapSet::empty();
            for c in v.iter().flatten() {
                if let Some(c) = serde_json::to_value(c)
                    .ok()
                    .and_then(|v| v.as_str().and_then(containment::caps::Capability::parse))
                {
                    s.insert(c);
                }
            }
            s
        };
        c = c.capabilities(containment::caps::Capabilities {
            bounding: set(pc.bounding()),
            permitted: set(pc.permitted()),
            effective: set(pc.effective()),
            inheritable: set(pc.inheritable()),
            ambient: set(pc.ambient()),
        });
    }
    let mut b = c.command(&args[0]);
    b.args(&args[1..])
        .env_clear()
        .current_dir(process.cwd())
        .uid(process.user().uid())
        .gid(process.user().gid())
        // (branch brk2) A session of its own, as for create: no TIOCSTI
        // into the caller's terminal.
        .setsid(true);
    if terminal {
        b.pty(config::console_size(&process));
    }
    for kv in process.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            b.env(k, v);
        }
    }
    for fd in 3..3 + a.preserve_fds as i32 {
        // SAFETY: as in create.
        let copy = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 3) };
        if copy < 0 {
            return Err(Error::io(
                format!("--preserve-fds: descriptor {fd}"),
                std::io::Error::last_os_error(),
            ));
        }
        // SAFETY: a new descriptor we own.
        b.pass_fd(unsafe { OwnedFd::from_raw_fd(copy) }, fd);
    }
    let mut child = b.spawn()?;
    let pty = child.take_pty();
    if let (Some(pty), Some(sock)) = (&pty, &a.console_socket) {
        let pty = pty
            .try_clone()
            .map_err(|e| Error::io("duplicating the console", e))?;
        if let Err(e) = console::send(sock, pty) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(e);
        }
    }
    if let Some(p) = &a.pid_file {
        write_pid_file(p, child.id() as i32)?;
    }
    drop(dir);
    if a.detach {
        drop(pty);
        std::mem::forget(child);
        return Ok(0);
    }
    let _raw = pty.map(console::relay).transpose()?;
    let st = child
        .wait()
        .map_err(|e| Error::io("waiting for the process", e))?;
    use std::os::unix::process::ExitStatusExt;
    Ok(st.code().unwrap_or_else(|| 128 + st.signal().unwrap_or(0)))
}

fn ps(root: &Path, id: &str, format: &str, ps_args: &[String]) -> Result<i32> {
    let dir = Dir::open(root, id)?;
    let s = dir.load()?;
    let pids = match s
        .cgroup
        .as_ref()
        .and_then(|p| containment::cgroup::Cgroup::open(p).ok())
    {
        Some(cg) => cg.procs()?,
        None => Vec::new(),
    };
    match format {
        "json" => println!("{}", serde_json::to_string(&pids).unwrap_or_default()),
        "table" => {
            let args: Vec<String> = if ps_args.is_empty() {
                vec!["-ef".into()]
            } else {
                ps_args.to_vec()
            };
            let out = std::process::Command::new("ps")
                .args(&args)
                .output()
                .map_err(|e| Error::io("running ps", e))?;
            let text = String::from_utf8_lossy(&out.stdout);
            let mut lines = text.lines();
            let header = lines.next().unwrap_or("");
            let col = header
                .split_whitespace()
                .position(|h| h == "PID")
                .ok_or_else(|| Error::msg("ps printed no PID column"))?;
            println!("{header}");
            for l in lines {
                let hit = l
                    .split_whitespace()
                    .nth(col)
                    .and_then(|p| p.parse::<u32>().ok())
                    .is_some_and(|p| pids.contains(&p));
                if hit {
                    println!("{l}");
                }
            }
        }
        f => return Err(Error::msg(format!("unknown format {f:?} (table or json)"))),
    }
    Ok(0)
}

fn freeze(root: &Path, id: &str, on: bool) -> Result<i32> {
    let dir = Dir::open(root, id)?;
    let s = dir.load()?;
    let status = s.status(&dir);
    let want = if on { Status::Running } else { Status::Paused };
    if status != want {
        return Err(Error::msg(format!(
            "cannot {} a container that is {}",
            if on { "pause" } else { "resume" },
            status.as_str()
        )));
    }
    let cg = containment::cgroup::Cgroup::open(
        s.cgroup
            .as_ref()
            .ok_or_else(|| Error::msg("the container has no cgroup"))?,
    )?;
    if on {
        cg.freeze()?;
    } else {
        cg.thaw()?;
    }
    Ok(0)
}

/// The cgroup of a running or paused container (`update`, `events`).
fn live_cgroup(root: &Path, id: &str, what: &str) -> Result<containment::cgroup::Cgroup> {
    let dir = Dir::open(root, id)?;
    let s = dir.load()?;
    let status = s.status(&dir);
    if status != Status::Running && status != Status::Paused {
        return Err(Error::msg(format!(
            "cannot {what} a container that is {}",
            status.as_str()
        )));
    }
    Ok(containment::cgroup::Cgroup::open(
        s.cgroup
            .as_ref()
            .ok_or_else(|| Error::msg("the container has no cgroup"))?,
    )?)
}

/// `update`: the resources document first, then the flags (a flag wins).
fn update(root: &Path, a: &UpdateArgs) -> Result<i32> {
    let cg = live_cgroup(root, &a.id, "update")?;
    let mut res = match &a.resources {
        Some(p) => {
            let text = if p.as_os_str() == "-" {
                let mut t = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut t)
                    .map_err(|e| Error::io("reading --resources from stdin", e))?;
                t
            } else {
                std::fs::read_to_string(p)
                    .map_err(|e| Error::io(format!("--resources {}", p.display()), e))?
            };
            let r: oci_spec::runtime::LinuxResources =
                serde_json::from_str(&text).map_err(|e| Error::msg(format!("--resources: {e}")))?;
            config::resources(&config::without_kernel_memory(&r))?
        }
        None => containment::cgroup::Resources::new(),
    };
    let flags = [
        ("--memory", &a.memory),
        ("--memory-swap", &a.memory_swap),
        ("--memory-reservation", &a.memory_reservation),
        ("--cpu-shares", &a.cpu_shares),
        ("--cpu-period", &a.cpu_period),
        ("--cpu-quota", &a.cpu_quota),
        ("--cpuset-cpus", &a.cpuset_cpus),
        ("--cpuset-mems", &a.cpuset_mems),
        ("--pids-limit", &a.pids_limit),
        ("--blkio-weight", &a.blkio_weight),
    ];
    for (flag, v) in flags {
        if let Some(v) = v {
            res = res.docker_flag(flag, v)?;
        }
    }
    cg.apply(&res)?;
    Ok(0)
}

/// One stats event in runc's `events` shape (`types.Event` with
/// `types.Stats`: cpu usage in nanoseconds, memory, pids).
fn stats_event(id: &str, cg: &containment::cgroup::Cgroup) -> Result<serde_json::Value> {
    let st = cg.stats()?;
    let ns = |us: Option<u64>| us.map(|v| v.saturating_mul(1000));
    Ok(serde_json::json!({
        "type": "stats",
        "id": id,
        "data": {
            "cpu": {
                "usage": {
                    "total": ns(st.cpu.usage_usec),
                    "user": ns(st.cpu.user_usec),
                    "kernel": ns(st.cpu.system_usec),
                },
                "throttling": {
                    "periods": st.cpu.nr_periods,
                    "throttledPeriods": st.cpu.nr_throttled,
                    "throttledTime": ns(st.cpu.throttled_usec),
                },
            },
            "memory": {
                "usage": { "usage": st.memory.current, "max": st.memory.peak },
                "swap": { "usage": st.memory.swap_current },
                "raw": st.memory.stat,
            },
            "pids": { "current": st.pids.current },
        },
    }))
}

/// `events`: one stats event (`--stats`), or one every `interval` seconds
/// until the container stops, and an `oom` event (runc's
/// `{"type":"oom","id":…}`) whenever the cgroup's OOM kill count grows
/// (`memory.events` `oom_kill` on v2, `memory.oom_control` on v1), looked
/// at every 100 ms.
fn events(root: &Path, id: &str, once: bool, interval: u64) -> Result<i32> {
    let cg = live_cgroup(root, id, "watch")?;
    println!("{}", stats_event(id, &cg)?);
    if once {
        return Ok(0);
    }
    const TICK: Duration = Duration::from_millis(100);
    let oom_kills = || cg.memory_events().ok().flatten().map(|e| e.oom_kill);
    let mut seen = oom_kills();
    let every = Duration::from_secs(interval.max(1));
    let mut next_stats = std::time::Instant::now() + every;
    loop {
        std::thread::sleep(TICK);
        let now = oom_kills();
        if let (Some(n), Some(before)) = (now, seen) {
            if n > before {
                println!("{}", serde_json::json!({"type": "oom", "id": id}));
            }
        }
        if now.is_some() {
            seen = now;
        }
        let dir = Dir::open(root, id)?;
        let s = dir.load()?;
        if !matches!(s.status(&dir), Status::Running | Status::Paused) {
            return Ok(0);
        }
        if std::time::Instant::now() >= next_stats {
            println!("{}", stats_event(id, &cg)?);
            next_stats += every;
        }
    }
}

/// The runtime-spec features document (features.md).
fn features() -> serde_json::Value {
    serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": SPEC_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": ["ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "bind", "rbind", "private", "rprivate", "size=", "mode="],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": containment::caps::CapSet::all().iter().map(|c| c.name()).collect::<Vec<_>>(),
            "cgroup": {"v1": false, "v2": true, "systemd": false, "systemdUser": false},
            "seccomp": {"enabled": false},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false},
            "mountExtensions": {"idmap": {"enabled": false}}
        },
        "annotations": {"org.opencontainers.runtime-spec.features": "contrun"}
    })
}

/// A default config.json (the shape of `runc spec`).
fn default_spec() -> serde_json::Value {
    serde_json::json!({
        "ociVersion": SPEC_VERSION,
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": true},
        "hostname": "contrun",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}],
            "maskedPaths": ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware", "/proc/scsi"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}
