//! A small `docker run`: the crate used as a tool would use it, on the public
//! API only.
//!
//! ```text
//! run [-i] [-t] [--name NAME] [--rootfs DIR | --image PATH[:REF]|REGISTRY/REPO:TAG [--store DIR]]
//!     [--hostname H] [-e KEY=VALUE]… [--net none|host] [--init] [--rm] [--cgroup-parent DIR]
//!     [--memory 64m] [--pids-limit N] [--cpus X] [any docker resource flag]
//!     -- CMD [ARGS…]
//! ```
//!
//! With `--image` (feature `image`), PATH is an OCI image layout directory
//! or a `docker save` archive and REF the tag in it (`latest`, or
//! `name:tag` in an archive; none picks the only image); with the `pull`
//! feature, a reference that names no file is pulled from its registry
//! (`registry/repository:tag` or `…@sha256:…`; plain HTTP to a registry
//! on `127.0.0.0/8` or `localhost`, as docker does). Its layers are
//! unpacked once into the layer store (`--store`, default
//! `/var/tmp/containment-run-store`; `indicatif` progress bars for the
//! pull and the unpack when stderr is a terminal, nothing otherwise) and
//! stacked by overlayfs under a fresh writable layer; the image config
//! gives the program (`Entrypoint` + `Cmd`; CMD ARGS replace `Cmd`), `Env`,
//! `WorkingDir` and `User`, and `-e` wins. The writable layer is removed
//! with `--rm`, else kept and its path printed (docker's container layer).
//!
//! `-t` gives the program a terminal (a pty from the container's own
//! devpts, so `tty` inside names `/dev/pts/0`), at the size of `run`'s
//! terminal; `-i` keeps its standard input open (without it, it reads
//! `/dev/null`). With both (`-it`) and `run` on a terminal, that terminal is
//! put in raw mode (restored at the end): every key, Ctrl-C included, goes
//! to the program, and a resize of the window (`SIGWINCH`) is passed on to
//! the pty. `run -it --rootfs /srv/busybox sh` is an interactive shell with
//! job control. `--name` names the container (its cgroup is
//! `containment-run-NAME`; a second container of the same name is refused
//! while the first runs).
//!
//! The container gets new UTS, PID, mount and IPC namespaces, plus a network
//! namespace with only `lo` (up) unless `--net host`; with `--rootfs` it
//! `pivot_root`s into DIR with a fresh `/proc` and a minimal `/dev`. It
//! always runs in a new cgroup (`<cgroup2 mount>/containment-run-<id>`,
//! or under `--cgroup-parent`), entered with `clone3(CLONE_INTO_CGROUP)` and
//! removed when the program ends; limits are applied there when given. On a
//! hybrid or cgroup v1 host the limits go into the same path in each v1
//! hierarchy (`/sys/fs/cgroup/memory/containment-run-<id>` …), which the
//! program joins before it starts. Resource flags are parsed by
//! [`Resources::docker_flag`], so `--memory-swap`, `--cpuset-cpus`,
//! `--cpu-shares`, `--oom-score-adj` … work as well, as `--flag VALUE` or
//! `--flag=VALUE`.
//!
//! The exit status is the program's (128 + N when it was killed by signal
//! N); like docker, 125 when the container could not be set up, 126 when the
//! program could not be executed, 127 when it was not found. SIGINT,
//! SIGTERM, SIGHUP and SIGQUIT sent to `run` are forwarded to the program
//! (blocked from before the spawn, so one sent early is forwarded too), and
//! the container is killed if `run` dies (`die_with_parent`, like bwrap's
//! `--die-with-parent`).
//! `--rm` is accepted for docker's sake: nothing outlives the container
//! anyway (the cgroup is removed, no state is kept).
//!
//! Rootless (`--rootless`, any user with `/etc/subuid` and `/etc/subgid`
//! lines): a new user namespace whose root is the caller and whose ids
//! 1..=65536 are the caller's subordinate ids (written by `newuidmap` and
//! `newgidmap`), no cgroup unless `--cgroup-parent` names a delegated one,
//! and `--net pasta` for a network (`pasta`, with `-p ADDR:HOSTPORT:PORT`
//! publishing ports). `-v SRC:DST` bind-mounts a host directory,
//! `-v SRC:DST:idmap` as an idmapped mount of the container's user
//! namespace (root only: the kernel wants `CAP_SYS_ADMIN` over the host
//! filesystem), `--userns INSIDE:OUTSIDE:COUNT` gives root an explicit map.
//!
//! ```text
//! run --rootless --rootfs ~/busybox --net pasta -p 127.0.0.1:8080:80 -- sh
//! ```
//!
//! Run as root, e.g. with a busybox root (`cargo run --example
//! rootfs_busybox` shows how to make one):
//!
//! ```text
//! cargo build --example run
//! sudo target/debug/examples/run --rootfs /srv/busybox --hostname box -- sh -c 'hostname; echo $$'
//! ```

use containment::cgroup::{CgroupSpec, Hierarchy, Resources};
use containment::tty::WindowSize;
use containment::{Command, Container, Namespaces, SpawnError, Stdio, Step};
use std::ffi::OsString;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::ffi::OsStringExt;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};

const USAGE: &str = "usage: run [-i] [-t] [--name NAME] [--rootfs DIR | --image PATH[:REF]|REGISTRY/REPO:TAG [--store DIR]] [--hostname H] [-e KEY=VALUE]... \
[--rootless] [--userns IN:OUT:COUNT] [-v SRC:DST[:idmap]]... [--net none|host|pasta] [-p ADDR:HOST:PORT]... [--init] [--rm] [--cgroup-parent DIR] [--memory 64m] [--pids-limit N] \
[--cpus X] [other docker resource flags] -- CMD [ARGS...]";

/// The parsed command line.
struct Options {
    interactive: bool,
    tty: bool,
    name: Option<String>,
    rootfs: Option<PathBuf>,
    image: Option<String>,
    store: Option<PathBuf>,
    rm: bool,
    hostname: Option<String>,
    env: Vec<(OsString, OsString)>,
    net_host: bool,
    net_pasta: bool,
    publish: Vec<containment::usernet::PublishedPort>,
    rootless: bool,
    userns: Option<containment::IdMap>,
    volumes: Vec<(PathBuf, PathBuf, bool)>,
    init: bool,
    cgroup_parent: Option<PathBuf>,
    resources: Resources,
    command: Vec<OsString>,
}

/// Parses `args` (without the program name). `Err` holds the message.
fn parse(args: Vec<OsString>) -> Result<Options, String> {
    let mut o = Options {
        interactive: false,
        tty: false,
        name: None,
        rootfs: None,
        image: None,
        store: None,
        rm: false,
        hostname: None,
        env: Vec::new(),
        net_host: false,
        net_pasta: false,
        publish: Vec::new(),
        rootless: false,
        userns: None,
        volumes: Vec::new(),
        init: false,
        cgroup_parent: None,
        resources: Resources::new(),
        command: Vec::new(),
    };
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        let Some(text) = arg.to_str() else {
            return Err(format!("not valid UTF-8: {arg:?}"));
        };
        if text == "--" {
            o.command = it.collect();
            break;
        }
        if !text.starts_with('-') {
            // The command starts at the first word that is not an option.
            o.command = std::iter::once(arg.clone()).chain(it).collect();
            break;
        }
        let (flag, inline) = match text.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(OsString::from(v))),
            _ => (text.to_string(), None),
        };
        // Short flags without a value, alone or together (`-it`).
        if flag.len() > 1
            && !flag.starts_with("--")
            && flag[1..].chars().all(|c| c == 'i' || c == 't')
        {
            for c in flag[1..].chars() {
                match c {
                    'i' => o.interactive = true,
                    _ => o.tty = true,
                }
            }
            continue;
        }
        // Flags without a value.
        match flag.as_str() {
            "--interactive" => {
                o.interactive = true;
                continue;
            }
            "--tty" => {
                o.tty = true;
                continue;
            }
            "--init" => {
                o.init = true;
                continue;
            }
            "--rm" => {
                o.rm = true;
                continue;
            }
            "--rootless" => {
                o.rootless = true;
                continue;
            }
            "--help" => return Err(String::new()),
            _ => {}
        }
        let mut value = || -> Result<OsString, String> {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--rootfs" => o.rootfs = Some(value()?.into()),
            "--name" => {
                let n = utf8(&flag, value()?)?;
                if n.is_empty()
                    || !n
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
                {
                    return Err(format!("--name {n:?}: letters, digits, _ . - only"));
                }
                o.name = Some(n);
            }
            "--image" => o.image = Some(utf8(&flag, value()?)?),
            "--store" => o.store = Some(value()?.into()),
            "--hostname" | "-h" => o.hostname = Some(utf8(&flag, value()?)?),
            "-e" | "--env" => {
                let kv = value()?.into_vec();
                let kv = match kv.iter().position(|&b| b == b'=') {
                    Some(i) => (
                        OsString::from_vec(kv[..i].to_vec()),
                        OsString::from_vec(kv[i + 1..].to_vec()),
                    ),
                    // docker: `-e KEY` copies the variable from our environment.
                    None => {
                        let k = OsString::from_vec(kv);
                        let v = std::env::var_os(&k).unwrap_or_default();
                        (k, v)
                    }
                };
                o.env.push(kv);
            }
            "--net" | "--network" => match utf8(&flag, value()?)?.as_str() {
                "none" => o.net_host = false,
                "host" => o.net_host = true,
                "pasta" => o.net_pasta = true,
                other => {
                    return Err(format!(
                        "--net {other}: only none, host and pasta are supported"
                    ))
                }
            },
            "-p" | "--publish" => {
                let v = utf8(&flag, value()?)?;
                o.publish.push(
                    containment::usernet::PublishedPort::parse(&v).map_err(|e| e.to_string())?,
                );
            }
            "--userns" => {
                let v = utf8(&flag, value()?)?;
                o.userns = Some(
                    containment::IdMap::parse_line(&v.replace(':', " "))
                        .map_err(|e| format!("--userns {v}: {e}"))?,
                );
            }
            "-v" | "--volume" => {
                let v = utf8(&flag, value()?)?;
                let parts: Vec<&str> = v.split(':').collect();
                match parts[..] {
                    [src, dst] => o.volumes.push((src.into(), dst.into(), false)),
                    [src, dst, "idmap"] => o.volumes.push((src.into(), dst.into(), true)),
                    _ => return Err(format!("-v {v}: expected SRC:DST or SRC:DST:idmap")),
                }
            }
            "--cgroup-parent" => o.cgroup_parent = Some(value()?.into()),
            _ => {
                // Everything else must be a docker resource flag.
                let v = utf8(&flag, value()?)?;
                o.resources = std::mem::take(&mut o.resources)
                    .docker_flag(&flag, &v)
                    .map_err(|e| format!("{flag} {v}: {e}"))?;
            }
        }
    }
    if o.image.is_some() && o.rootfs.is_some() {
        return Err("--image and --rootfs exclude each other".into());
    }
    if o.command.is_empty() && o.image.is_none() {
        return Err("no command given".into());
    }
    Ok(o)
}

fn utf8(flag: &str, v: OsString) -> Result<String, String> {
    v.into_string()
        .map_err(|v| format!("{flag}: not valid UTF-8: {v:?}"))
}

/// A short id for the container (hostname and cgroup name): docker-like
/// hex, unique per process and time.
fn container_id() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let x = t ^ (u64::from(std::process::id()) << 40);
    format!("{:012x}", x & 0xffff_ffff_ffff)
}

/// docker's exit codes for a container that never ran its program.
fn setup_exit_code(e: &SpawnError) -> i32 {
    match e.child_error() {
        Some(c) if c.step() == Step::Exec && c.errno() == libc::ENOENT => 127,
        Some(c) if c.step() == Step::Exec => 126,
        _ => 125,
    }
}

/// The container's pidfd, for the signal handler below.
static PIDFD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn forward(sig: libc::c_int) {
    // SAFETY: async-signal-safe: an atomic load, one system call (whose
    // error needs no allocation), errno saved and restored around it. The
    // descriptor is open while PIDFD holds it (reset before the Child goes).
    unsafe {
        let saved = *libc::__errno_location();
        let fd = PIDFD.load(Ordering::Relaxed);
        if fd >= 0 {
            // pidfd_send_signal(2) (Linux 5.1), straight: no allocation.
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                fd,
                sig,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            );
        }
        *libc::__errno_location() = saved;
    }
}

const FORWARDED: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// Blocks the forwarded signals in this (the main, spawning) thread: one
/// that arrives during the spawn stays pending until [`forward_signals`].
/// The container's program starts with an empty mask (the spawn resets it).
fn hold_signals() -> libc::sigset_t {
    // SAFETY: sigset operations on a local, zeroed set; pthread_sigmask
    // changes this thread's mask only.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in FORWARDED {
            libc::sigaddset(&mut set, s);
        }
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    }
}

/// Forwards the held signals to the container's program (a handler that
/// sends them on through the pidfd: no thread, which would cost as much as
/// the clone here), then unblocks them, which delivers any pending one.
fn forward_signals(pidfd: i32, held: libc::sigset_t) {
    PIDFD.store(pidfd, Ordering::Relaxed);
    for s in FORWARDED {
        // SAFETY: installs a handler that only makes async-signal-safe
        // calls; SA_RESTART keeps the wait going.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = forward as extern "C" fn(libc::c_int) as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(s, &sa, std::ptr::null_mut());
        }
    }
    // SAFETY: unblocks the set blocked by hold_signals.
    unsafe { libc::pthread_sigmask(libc::SIG_UNBLOCK, &held, std::ptr::null_mut()) };
}

/// The command line's program in `c`.
fn program(c: &Container, command: &[std::ffi::OsString]) -> Result<Command, (i32, String)> {
    let (program, args) = command
        .split_first()
        .ok_or_else(|| (125, "no command given".to_string()))?;
    let mut cmd = c.command(program);
    cmd.args(args);
    Ok(cmd)
}

fn run(o: Options) -> Result<i32, (i32, String)> {
    let setup = |e: String| (125, e);
    let id = container_id();
    let mut ns = Namespaces::UTS | Namespaces::PID | Namespaces::MOUNT | Namespaces::IPC;
    if !o.net_host {
        ns |= Namespaces::NET;
    }
    if o.rootless || o.userns.is_some() || o.net_pasta {
        ns |= Namespaces::USER;
    }
    let mut b = Container::new();
    // A rootless caller has no cgroup of its own unless one was delegated.
    if !o.rootless || o.cgroup_parent.is_some() {
        let parent = match o.cgroup_parent {
            Some(p) => p,
            None => Hierarchy::detect()
                .and_then(|h| h.require_mount().map(|p| p.to_path_buf()))
                .map_err(|e| setup(format!("no cgroup v2 hierarchy: {e}")))?,
        };
        b = b.cgroup(
            CgroupSpec::new()
                .parent(parent)
                .name(format!(
                    "containment-run-{}",
                    o.name.as_deref().unwrap_or(&id)
                ))
                .resources(o.resources)
                .remove_on_exit(true),
        );
    }
    if o.rootless {
        let (uids, gids) = containment::namespace::rootless_maps(65536)
            .map_err(|e| setup(format!("--rootless: {e}")))?;
        b = b.uid_map(uids).gid_map(gids);
    } else if let Some(m) = o.userns {
        b = b.uid_map([m]).gid_map([m]);
    }
    if o.net_pasta {
        let mut net = containment::usernet::UserNet::pasta();
        for p in o.publish {
            net = net.publish(p);
        }
        b = b.user_network(net);
    } else if !o.publish.is_empty() {
        return Err(setup("-p needs --net pasta".into()));
    }
    for (src, dst, idmap) in o.volumes {
        b = b.mount(containment::mount::Mount::bind(src, dst).idmapped(idmap));
    }
    b = b
        .unshare(ns)
        .hostname(o.hostname.unwrap_or_else(|| id.clone()))
        .init(o.init)
        .die_with_parent(true);
    if let Some(root) = &o.rootfs {
        // pivot_root into it; proc and a minimal /dev are the defaults.
        b = b.root(root);
    }
    #[cfg(feature = "image")]
    let (mut cmd, _layer) = match &o.image {
        Some(reference) => {
            let (cmd, layer) = image::prepare(b, reference, o.store.as_deref(), o.rm, &o.command)?;
            (cmd, Some(layer))
        }
        None => (program(&b, &o.command)?, None),
    };
    #[cfg(not(feature = "image"))]
    let mut cmd = match &o.image {
        Some(_) => {
            return Err(setup(
                "--image: this example was built without the `image` feature".into(),
            ))
        }
        None => program(&b, &o.command)?,
    };
    if o.rootfs.is_some() {
        cmd.env_clear()
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("HOME", "/root");
        if let Some(term) = std::env::var_os("TERM") {
            cmd.env("TERM", term);
        }
    }
    cmd.envs(o.env);
    if o.tty {
        // The size of our terminal (stdout's, else stdin's), when we are on one.
        let size = [1, 0]
            .into_iter()
            // SAFETY: descriptors 0 and 1 stay open for the process's life.
            .find_map(|fd| WindowSize::of(unsafe { BorrowedFd::borrow_raw(fd) }).ok());
        cmd.pty(size);
    }
    if !o.interactive {
        cmd.stdin(Stdio::null());
    }
    let held = hold_signals();
    let mut child = cmd
        .spawn()
        .map_err(|e| (setup_exit_code(&e), e.to_string()))?;
    forward_signals(child.pidfd().as_raw_fd(), held);
    let terminal = child
        .take_pty()
        .map(|pty| terminal::attach(pty, o.interactive));
    let status = child.wait();
    PIDFD.store(-1, Ordering::Relaxed);
    if let Some(t) = terminal {
        t.detach();
    }
    let status = status.map_err(|e| setup(format!("waiting for the container: {e}")))?;
    Ok(match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        _ => 125,
    })
}

/// `-t`: the pty's output copied to our stdout, our stdin to the pty
/// (`-i`), our terminal in raw mode, `SIGWINCH` passed on.
mod terminal {
    use containment::tty::{Pty, WindowSize};
    use nix::sys::termios::{self, SetArg, Termios};
    use std::io::{Read, Write};
    use std::os::fd::{AsRawFd, BorrowedFd};
    use std::sync::atomic::{AtomicI32, Ordering};
    use std::thread::JoinHandle;

    /// The primary, for the SIGWINCH handler.
    static PRIMARY: AtomicI32 = AtomicI32::new(-1);

    extern "C" fn winch(_: libc::c_int) {
        // SAFETY: async-signal-safe: an atomic load and ioctls on
        // descriptors that stay open while PRIMARY holds one; errno saved
        // and restored.
        unsafe {
            let saved = *libc::__errno_location();
            let fd = PRIMARY.load(Ordering::Relaxed);
            let mut ws: libc::winsize = std::mem::zeroed();
            if fd >= 0
                && (libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) == 0
                    || libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0)
            {
                libc::ioctl(fd, libc::TIOCSWINSZ, &ws);
            }
            *libc::__errno_location() = saved;
        }
    }

    pub struct Attached {
        output: JoinHandle<()>,
        restore: Option<Termios>,
        _pty: Pty,
    }

    pub fn attach(pty: Pty, interactive: bool) -> Attached {
        // SAFETY: descriptor 0 stays open for the process's life.
        let stdin = unsafe { BorrowedFd::borrow_raw(0) };
        // Raw mode when our input is a terminal we forward: Ctrl-C and
        // friends become bytes for the program's terminal.
        let restore = if interactive {
            termios::tcgetattr(stdin).ok().inspect(|old| {
                let mut raw = old.clone();
                termios::cfmakeraw(&mut raw);
                let _ = termios::tcsetattr(stdin, SetArg::TCSANOW, &raw);
            })
        } else {
            None
        };
        PRIMARY.store(pty.as_raw_fd(), Ordering::Relaxed);
        // SAFETY: a handler making only async-signal-safe calls.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = winch as extern "C" fn(libc::c_int) as usize;
            sa.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(libc::SIGWINCH, &sa, std::ptr::null_mut());
        }
        // A resize between our size query and the handler: catch up.
        if let Ok(s) = [1, 0]
            .into_iter()
            // SAFETY: descriptors 0 and 1 stay open.
            .find_map(|fd| WindowSize::of(unsafe { BorrowedFd::borrow_raw(fd) }).ok())
            .ok_or(())
        {
            let _ = pty.resize(s);
        }
        let mut from = pty.try_clone().expect("dup of the pty");
        let output = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            let mut out = std::io::stdout().lock();
            // EIO once the program and everything holding its terminal
            // are gone.
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 || out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
                    break;
                }
            }
        });
        if interactive {
            let mut to = pty.try_clone().expect("dup of the pty");
            // Never joined: it blocks in read(0) until input comes; the
            // process exits without it.
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                let mut input = std::io::stdin().lock();
                while let Ok(n) = input.read(&mut buf) {
                    if n == 0 {
                        // EOF on our input: EOF (Ctrl-D) on the terminal.
                        let _ = to.write_all(&[4]);
                        break;
                    }
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
        Attached {
            output,
            restore,
            _pty: pty,
        }
    }

    impl Attached {
        /// After the program exited: the rest of its output, then our
        /// terminal as it was.
        pub fn detach(self) {
            let _ = self.output.join();
            PRIMARY.store(-1, Ordering::Relaxed);
            if let Some(old) = &self.restore {
                // SAFETY: descriptor 0 stays open.
                let stdin = unsafe { BorrowedFd::borrow_raw(0) };
                let _ = termios::tcsetattr(stdin, SetArg::TCSANOW, old);
            }
        }
    }
}

/// `--image`: the image's layers in the store, a fresh writable layer over
/// them, the config's defaults on the builder.
#[cfg(feature = "image")]
mod image {
    use containment::image::{ContainerRoot, ImageSource, LayerProgress, Store, StoreOptions};
    use containment::{Command, Container};
    use std::ffi::OsString;
    use std::path::{Path, PathBuf};

    /// The guard of the container's writable layer: removed with `--rm`,
    /// else kept (and its path printed) when `run` ends.
    pub struct Layer {
        root: Option<ContainerRoot>,
        rm: bool,
    }

    impl Drop for Layer {
        fn drop(&mut self) {
            if let Some(r) = self.root.take() {
                if !self.rm {
                    eprintln!("run: container layer kept in {}", r.keep().display());
                }
            }
        }
    }

    /// `PATH[:REF]`: the longest prefix that exists is the path.
    fn split(reference: &str) -> Option<(PathBuf, String)> {
        if Path::new(reference).exists() {
            return Some((reference.into(), String::new()));
        }
        for (i, _) in reference.match_indices(':') {
            if Path::new(&reference[..i]).exists() {
                return Some((reference[..i].into(), reference[i + 1..].to_string()));
            }
        }
        None
    }

    /// Progress bars on a terminal (stderr, `indicatif`), one per layer,
    /// left on the screen with `past` when the layer is done; nothing when
    /// stderr is not a terminal.
    fn progress(verb: &'static str, past: &'static str) -> impl FnMut(LayerProgress) {
        use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
        // SAFETY: isatty on a descriptor number has no preconditions.
        let tty = unsafe { libc::isatty(2) } == 1;
        let multi = MultiProgress::with_draw_target(if tty {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        });
        let mut bars: Vec<Option<ProgressBar>> = Vec::new();
        let running = ProgressStyle::with_template(
            "{prefix} {wide_bar} {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec}",
        )
        .expect("a valid template");
        let finished = ProgressStyle::with_template("{prefix} {msg}").expect("a valid template");
        move |p: LayerProgress| {
            if !tty {
                return;
            }
            if bars.len() < p.count {
                bars.resize(p.count, None);
            }
            let Some(slot) = bars.get_mut(p.index) else {
                return;
            };
            let bar = slot.get_or_insert_with(|| {
                let short = p.layer.split(':').nth(1).unwrap_or(&p.layer);
                let b = multi.add(ProgressBar::new(p.total).with_style(running.clone()));
                b.set_prefix(format!(
                    "layer {}/{} {}",
                    p.index + 1,
                    p.count,
                    &short[..short.len().min(12)]
                ));
                b
            });
            if bar.is_finished() {
                return;
            }
            bar.set_position(p.done);
            if p.cached || p.done >= p.total {
                bar.set_style(finished.clone());
                let mib = p.total as f64 / (1 << 20) as f64;
                bar.finish_with_message(if p.cached {
                    format!("already there ({verb} skipped)")
                } else {
                    format!("{past}, {mib:.1} MiB")
                });
            }
        }
    }

    /// A registry on this machine (`127.0.0.0/8`, `localhost`, `[::1]`) is
    /// talked to over plain HTTP, as docker does by default.
    #[cfg(feature = "pull")]
    fn pull(store: &Store, reference: &str) -> Result<containment::image::Image, String> {
        use containment::image::PullOptions;
        let registry = reference.split('/').next().unwrap_or("");
        let mut opts = PullOptions::new();
        if loopback_registry(registry) {
            opts = opts.insecure_registry(registry);
        }
        store
            .pull(reference, &opts, &mut progress("pull", "pulled"))
            .map_err(|e| e.to_string())
    }

    /// Whether `registry` (`host[:port]`, `[v6]:port`) is on this machine:
    /// `localhost` or a loopback address, parsed as one (branch brk2: a
    /// name such as `127.0.0.1.example.com` only starts like one, and was
    /// talked to over plain HTTP).
    #[cfg(any(feature = "pull", test))]
    pub(crate) fn loopback_registry(registry: &str) -> bool {
        let host = match registry.strip_prefix('[') {
            Some(rest) => match rest.split_once(']') {
                Some((h, port)) if port.is_empty() || port.starts_with(':') => h,
                _ => "",
            },
            None => registry.rsplit_once(':').map_or(registry, |(h, _)| h),
        };
        host == "localhost"
            || host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }

    #[cfg(not(feature = "pull"))]
    fn pull(_: &Store, _: &str) -> Result<containment::image::Image, String> {
        Err("no such layout or archive (a registry reference needs the `pull` feature)".into())
    }

    pub fn prepare(
        c: Container,
        reference: &str,
        store: Option<&Path>,
        rm: bool,
        command: &[OsString],
    ) -> Result<(Command, Layer), (i32, String)> {
        let setup = |e: String| (125, e);
        let store_dir = store
            .map(Path::to_path_buf)
            .unwrap_or_else(|| "/var/tmp/containment-run-store".into());
        let store = Store::open(&store_dir, StoreOptions::new())
            .map_err(|e| setup(format!("--store {}: {e}", store_dir.display())))?;
        // A layout directory or archive (plus tag), else a registry reference.
        let image = match split(reference) {
            Some((path, tag)) => ImageSource::open(&path)
                .and_then(|s| s.image(&tag))
                .map_err(|e| e.to_string()),
            None => pull(&store, reference),
        }
        .map_err(|e| setup(format!("--image {reference}: {e}")))?;
        let layers = store
            .unpack(&image, &mut progress("unpack", "unpacked"))
            .map_err(|e| setup(format!("--image {reference}: {e}")))?;
        let defaults = image
            .defaults(&layers)
            .map_err(|e| setup(format!("--image {reference}: {e}")))?;
        let root = store
            .container_root(&layers)
            .map_err(|e| setup(format!("--store {}: {e}", store_dir.display())))?;
        let c = c.rootfs(root.rootfs());
        let args: Vec<String> = command
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let argv = defaults.argv(&args);
        let Some((program, rest)) = argv.split_first() else {
            return Err(setup(format!(
                "--image {reference}: no command given and the image has none"
            )));
        };
        let mut cmd = c.command(program);
        cmd.args(rest).env_clear();
        defaults.apply(&mut cmd);
        if !defaults.env.iter().any(|(k, _)| k == "PATH") {
            cmd.env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            );
        }
        if let Some(term) = std::env::var_os("TERM") {
            cmd.env("TERM", term);
        }
        Ok((
            cmd,
            Layer {
                root: Some(root),
                rm,
            },
        ))
    }
}

fn main() {
    let o = match parse(std::env::args_os().skip(1).collect()) {
        Ok(o) => o,
        Err(e) => {
            if e.is_empty() {
                println!("{USAGE}");
                std::process::exit(0);
            }
            eprintln!("run: {e}\n{USAGE}");
            std::process::exit(125);
        }
    };
    let code = match run(o) {
        Ok(c) => c,
        Err((c, e)) => {
            eprintln!("run: {e}");
            c
        }
    };
    std::process::exit(code);
}

#[cfg(all(test, feature = "image"))]
mod tests {
    /// (branch brk2) Plain HTTP only to a registry on this machine: a
    /// name that merely starts like a loopback address gets TLS.
    #[test]
    fn plain_http_only_for_loopback_registries() {
        use super::image::loopback_registry as lo;
        for r in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:5000",
            "127.9.9.9",
            "[::1]:5000",
        ] {
            assert!(lo(r), "{r}");
        }
        for r in [
            "127.0.0.1.example.com:5000",
            "127.evil.example",
            "localhost.example.com",
            "[::1].example.com:80",
            "docker.io",
            "10.0.0.1:5000",
            "[::ffff:10.0.0.1]:5000",
            "",
        ] {
            assert!(!lo(r), "{r}");
        }
    }
}
