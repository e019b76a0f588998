//! The caller's binary, memory and descriptors never cross into a container
//! (issue 11, items 2 and 3: the CVE-2019-5736 kind). A `#!/proc/self/exe`
//! script runs whatever `/proc/self/exe` names at its exec: before the
//! sealed exec helper, that was the caller's own binary, inside the
//! container, where a process holding its `/proc/<pid>/exe` could rewrite it
//! once the caller exited. The init was a fork of the caller that never
//! exec'd: its binary, its memory and every descriptor it had. (root)

#[macro_use]
mod common;

use containment::caps::Capabilities;
use containment::{Container, Namespaces, Stdio};
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const NS: Namespaces = Namespaces::MOUNT.union(Namespaces::PID);

/// What the helper exits with when run outside its protocol (as the
/// interpreter of a `#!/proc/self/exe` script).
const HELPER_REFUSED: i32 = 126;

use common::TempDir;

fn busybox() -> Option<PathBuf> {
    common::busybox::find()
}

/// A busybox root that also holds the shared libraries of this test binary
/// (so that, were the caller's binary exec'd in it, it would run: the
/// attack must not fail merely for a missing loader).
fn root_with_libs(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    for d in ["bin", "etc", "tmp", "proc", "dev", "sys"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let bb = busybox().unwrap();
    std::fs::copy(&bb, root.join("bin/busybox")).unwrap();
    let list = std::process::Command::new(&bb)
        .arg("--list")
        .output()
        .unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let _ = symlink("busybox", root.join("bin").join(applet));
    }
    let ldd = std::process::Command::new("ldd")
        .arg(std::env::current_exe().unwrap())
        .output()
        .unwrap();
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        let path = line
            .split_whitespace()
            .find(|w| w.starts_with('/'))
            .map(PathBuf::from);
        if let Some(p) = path {
            let to = root.join(p.strip_prefix("/").unwrap());
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(&p, &to).unwrap();
        }
    }
    root
}

fn write_script(path: &Path, text: &str) {
    let _ = std::fs::remove_file(path);
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// libtest's `--list` output of *this* binary names this test.
fn ran_the_caller(stdout: &[u8]) -> bool {
    let s = String::from_utf8_lossy(stdout);
    s.contains(": test") || s.contains("running ")
}

macro_rules! require_busybox {
    () => {
        require!(
            busybox().is_some(),
            "busybox-static is not installed (cargo xtask test installs it)"
        );
    };
}

#[test]
fn shebang_proc_self_exe_as_the_command_does_not_run_the_caller() {
    require_root!();
    require_busybox!();
    let dir = TempDir::new("esc-shebang");
    let root = root_with_libs(&dir.0);
    write_script(&root.join("evil"), "#!/proc/self/exe\n");
    for (init, program) in [
        (false, "/evil"),
        (true, "/evil"),
        // /proc/self/exe itself, through the container's fresh /proc.
        (false, "/proc/self/exe"),
    ] {
        let out = Container::new()
            .root(&root)
            .unshare(NS)
            .init(init)
            .command(program)
            .args(["--list"])
            .output()
            .unwrap();
        assert!(
            !ran_the_caller(&out.stdout),
            "init {init}, {program}: the caller's binary ran in the container:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert_eq!(
            out.status.code(),
            Some(HELPER_REFUSED),
            "init {init}, {program}: {:?} {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A container (busybox root with this binary's libraries) running `sleep`.
fn sleeping_container(root: &Path) -> containment::Child {
    Container::new()
        .root(root)
        .unshare(NS)
        .command("/bin/sleep")
        .args(["60"])
        .spawn()
        .unwrap()
}

#[test]
fn shebang_in_a_joined_container_does_not_run_the_caller() {
    require_root!();
    require_busybox!();
    let dir = TempDir::new("esc-join");
    let root = root_with_libs(&dir.0);
    let mut target = sleeping_container(&root);
    // The container replaces its /bin/sh with the script.
    write_script(&root.join("bin/sh"), "#!/proc/self/exe\n");
    let out = Container::new()
        .join_pid(target.id(), NS)
        .command("/bin/sh")
        .args(["--list"])
        .output();
    target.kill().unwrap();
    target.wait().unwrap();
    let out = out.unwrap();
    assert!(
        !ran_the_caller(&out.stdout),
        "the caller's binary ran in the joined container:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(out.status.code(), Some(HELPER_REFUSED), "{:?}", out.status);
}

/// Run inside the container by the attack (as the program the
/// `#!/proc/self/exe` /bin/sh turned into): waits until the container's
/// watcher holds our `/proc/<pid>/exe`, then exits.
#[test]
#[ignore = "run inside a container by a_container_cannot_rewrite_the_callers_binary"]
fn holder_waits() {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let held = std::fs::read_dir("/tmp")
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().starts_with("held."))
            })
            .unwrap_or(false);
        if held {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Run by a_container_cannot_rewrite_the_callers_binary from a *copy* of
/// this binary: joins the container and runs its /bin/sh.
#[test]
#[ignore = "run as the caller by a_container_cannot_rewrite_the_callers_binary"]
fn join_as_caller() {
    let Some(pid) = std::env::var("ESCAPES_JOIN_PID")
        .ok()
        .and_then(|p| p.parse::<u32>().ok())
    else {
        return;
    };
    // The capabilities of the container's processes (a process with more
    // capabilities than the reader is not readable through /proc).
    let out = Container::new()
        .join_pid(pid, NS)
        .capabilities(Capabilities::docker_default())
        .command("/bin/sh")
        .args(["--exact", "holder_waits", "--ignored", "--nocapture"])
        .output()
        .unwrap();
    println!("joined program: {:?}", out.status);
}

/// The CVE-2019-5736 attack end to end: a watcher in the container holds
/// `/proc/<pid>/exe` of every new process it can open, and once the caller
/// has exited writes through it. The caller is a copy of this test binary
/// that joins the container and runs its /bin/sh, a `#!/proc/self/exe`
/// script. The copy must be unchanged, and no held exe writable.
#[test]
fn a_container_cannot_rewrite_the_callers_binary() {
    require_root!();
    require_busybox!();
    let dir = TempDir::new("esc-rewrite");
    let root = root_with_libs(&dir.0);
    let caller = dir.0.join("caller");
    std::fs::copy(std::env::current_exe().unwrap(), &caller).unwrap();
    let before = std::fs::read(&caller).unwrap();
    // Held descriptors are written once /tmp/stop exists (the caller has
    // exited by then); busybox itself is skipped (ETXTBSY while it runs).
    let watcher = r#"
        while [ ! -e /tmp/stop ]; do
          for d in /proc/[0-9]*; do
            p=${d#/proc/}
            [ -e /tmp/seen.$p ] && continue
            touch /tmp/seen.$p
            t=$(readlink /proc/$p/exe 2>/dev/null) || continue
            [ "$t" = /bin/busybox ] && continue
            ( exec 3</proc/$p/exe || exit 0
              echo "$p $t" > /tmp/held.$p
              while [ ! -e /tmp/stop ]; do usleep 20000; done
              if echo PWNED 2>/dev/null >/proc/self/fd/3; then echo "wrote $p $t" >> /tmp/log; fi
            ) 2>/dev/null &
          done
        done
        wait
    "#;
    let mut target = Container::new()
        .root(&root)
        .unshare(NS)
        .capabilities(Capabilities::docker_default())
        .command("/bin/sh")
        .args(["-c", watcher])
        .spawn()
        .unwrap();
    // The watcher's shell is running: swap the container's /bin/sh.
    std::thread::sleep(Duration::from_millis(200));
    write_script(&root.join("bin/sh"), "#!/proc/self/exe\n");
    let out = std::process::Command::new(&caller)
        .args(["--exact", "join_as_caller", "--ignored", "--nocapture"])
        .env("ESCAPES_JOIN_PID", target.id().to_string())
        .output()
        .unwrap();
    std::fs::write(root.join("tmp/stop"), b"").unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while target.try_wait().unwrap().is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    if target.try_wait().unwrap().is_none() {
        target.kill().unwrap();
        target.wait().unwrap();
    }
    let after = std::fs::read(&caller).unwrap();
    let log = std::fs::read_to_string(root.join("tmp/log")).unwrap_or_default();
    let mut held = Vec::new();
    for e in std::fs::read_dir(root.join("tmp")).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with("held.") {
            held.push(std::fs::read_to_string(e.path()).unwrap_or_default());
        }
    }
    assert!(
        after == before,
        "the caller's binary was rewritten from the container (held {held:?}, log {log:?}, \
         caller said {})",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        log.is_empty(),
        "a held exe was written: {log}; held {held:?}"
    );
    for h in &held {
        assert!(
            !h.contains(caller.to_str().unwrap()),
            "the container held the caller's binary: {h}"
        );
    }
}

#[test]
fn the_init_is_not_the_caller_and_holds_nothing_of_it() {
    require_root!();
    require_busybox!();
    let dir = TempDir::new("esc-init");
    let root = root_with_libs(&dir.0);
    let host = TempDir::new("esc-init-host");
    std::fs::write(host.0.join("HOST-SECRET"), b"host-secret-text\n").unwrap();
    // The caller holds a directory open (close-on-exec, as std opens it).
    let held = std::fs::File::open(&host.0).unwrap();
    let n = held.as_raw_fd();
    // Every capability kept (not the default): the program may look at
    // PID 1 through /proc as the original report did.
    let script = format!(
        "cat /proc/1/fd/{n}/HOST-SECRET 2>/dev/null; ls /proc/1/fd/{n}/../../.. 2>/dev/null; \
         echo fds=$(ls /proc/1/fd | wc -l); echo ready; exec sleep 30"
    );
    let mut child = Container::new()
        .root(&root)
        .unshare(NS)
        .init(true)
        .keep_all_capabilities()
        .command("/bin/sh")
        .args(["-c", &script])
        .stdout(Stdio::Piped)
        .spawn()
        .unwrap();
    let mut text = String::new();
    {
        use std::io::BufRead;
        let mut r = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        while r.read_line(&mut line).unwrap() > 0 {
            text.push_str(&line);
            if line == "ready\n" {
                break;
            }
            line.clear();
        }
    }
    // What the kernel shows of PID 1 (child.id()), from the host.
    let exe = std::fs::read_link(format!("/proc/{}/exe", child.id())).unwrap();
    let fds: Vec<_> = std::fs::read_dir(format!("/proc/{}/fd", child.id()))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", child.id())).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let me = std::fs::read_link("/proc/self/exe").unwrap();
    assert_ne!(exe, me, "PID 1 is the caller's binary");
    assert!(
        exe.to_string_lossy()
            .starts_with("/memfd:containment-helper"),
        "PID 1 is not the sealed helper: {exe:?}"
    );
    assert!(fds.is_empty(), "PID 1 holds descriptors: {fds:?}");
    assert!(cmdline.starts_with(b"containment-helper/1\0init\0"));
    assert!(text.contains("fds=0\n"), "{text}");
    assert!(!text.contains("host-secret-text"), "{text}");
    drop(held);

    // Not dumpable: a program of the same (unprivileged) user cannot read
    // PID 1's environment or descriptors.
    let out = Container::new()
        .root(&root)
        .unshare(NS)
        .init(true)
        .command("/bin/sh")
        .args([
            "-c",
            "cat /proc/1/environ >/dev/null 2>&1 && echo READABLE || echo DENIED",
        ])
        .uid(1000)
        .gid(1000)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.trim(), "DENIED", "{:?}", out.status);
}

#[test]
fn stdin_eof_reaches_the_program_under_the_init() {
    require_root!();
    let mut child = Container::new()
        .unshare(NS)
        .init(true)
        .command("/bin/sh")
        .args(["-c", "wc -c; echo eof-seen"])
        .stdin(Stdio::Piped)
        .stdout(Stdio::Piped)
        .spawn()
        .unwrap();
    let pid = child.id();
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    // Bounded: if the init held the pipe's write end, EOF would never come.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(o) => o.unwrap(),
        Err(_) => {
            // SAFETY: kill of our own child's pid (not yet reaped).
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            panic!("wait_with_output did not return: the init holds the stdin pipe");
        }
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("6\n") && text.contains("eof-seen"), "{text}");
}

#[test]
fn the_init_does_not_keep_the_callers_pipes() {
    require_root!();
    // A close-on-exec pipe of the caller's (like another spawn's error
    // pipe) while an init container starts.
    let mut fds = [0; 2];
    // SAFETY: pipe2 into a live array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: two new descriptors owned here.
    let (mut r, w) = unsafe {
        use std::os::fd::FromRawFd;
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    };
    let mut init = Container::new()
        .unshare(NS)
        .init(true)
        .command("/bin/sleep")
        .args(["30"])
        .spawn()
        .unwrap();
    drop(w);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = tx.send(r.read_to_end(&mut b).map(|_| b));
    });
    let eof = rx.recv_timeout(Duration::from_secs(20));
    let alive = init.try_wait().unwrap().is_none();
    init.kill().unwrap();
    init.wait().unwrap();
    assert!(
        eof.is_ok(),
        "no EOF on the caller's pipe while the init lives"
    );
    assert!(alive);
}

#[test]
fn plain_spawns_beside_init_spawns_are_not_held() {
    require_root!();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = stop.clone();
    let inits = std::thread::spawn(move || {
        let mut v = Vec::new();
        while !s2.load(std::sync::atomic::Ordering::Relaxed) && v.len() < 40 {
            v.push(
                Container::new()
                    .unshare(NS)
                    .init(true)
                    .command("/bin/sleep")
                    .args(["60"])
                    .spawn()
                    .unwrap(),
            );
        }
        v
    });
    for _ in 0..100 {
        let mut c = Container::new().command("/bin/true").spawn().unwrap();
        c.wait().unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut v = inits.join().unwrap();
    // Every init container still sleeps: no plain spawn waited for one to
    // exit (an init holding its error pipe made it wait 60 s).
    let mut alive = 0;
    for c in &mut v {
        if c.try_wait().unwrap().is_none() {
            alive += 1;
        }
    }
    let n = v.len();
    for c in &mut v {
        let _ = c.kill();
        let _ = c.wait();
    }
    assert_eq!(alive, n, "an init container exited before the plain spawns");
}

#[test]
fn exec_failures_through_the_helper_are_typed() {
    require_root!();
    require_busybox!();
    let dir = TempDir::new("esc-enoent");
    let root = root_with_libs(&dir.0);
    for (init, program) in [
        (false, "/nonexistent"),
        (true, "/nonexistent"),
        (false, "no-such-program"),
        (true, "no-such-program"),
    ] {
        let e = Container::new()
            .root(&root)
            .unshare(NS)
            .init(init)
            .command(program)
            .spawn()
            .unwrap_err();
        match &e {
            containment::SpawnError::Child(c) => {
                assert_eq!(c.step(), containment::Step::Exec, "{e}");
                assert_eq!(c.errno(), libc::ENOENT, "{e}");
            }
            other => panic!("init {init}, {program}: {other}"),
        }
        assert!(
            common::lasting_zombies().is_empty(),
            "init {init}, {program}"
        );
    }
}

const ROOTLESS_ENV: &str = "CONTAINMENT_ESCAPES_EXE_ROOTLESS";

#[test]
fn rootless_init_and_trampoline() {
    require_root!();
    let out = common::run_test_as(
        1000,
        "inner_rootless_init_and_trampoline",
        (ROOTLESS_ENV, "1"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("INNER-OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn inner_rootless_init_and_trampoline() {
    if std::env::var_os(ROOTLESS_ENV).is_none() {
        return;
    }
    let ns = Namespaces::USER | Namespaces::MOUNT | Namespaces::PID;
    for (init, helper) in [(true, false), (false, true)] {
        let out = Container::new()
            .unshare(ns)
            .init(init)
            .force_exec_helper(helper)
            .command("/bin/sh")
            .args(["-c", "echo $$; readlink /proc/$$/exe"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{:?} {text}", out.status);
        let pid = if init { "2\n" } else { "1\n" };
        assert!(text.starts_with(pid), "init {init}: {text}");
        assert!(text.contains("/bin/dash") || text.contains("/bin/bash") || text.contains("sh"));
    }
    println!("INNER-OK");
}

const NOEXEC_ENV: &str = "CONTAINMENT_ESCAPES_EXE_NOEXEC";

/// `vm.memfd_noexec = 2` (per PID namespace: set only in a container's)
/// forbids executable memfds: a spawn that needs the helper fails closed,
/// with a typed error naming the setting; a plain spawn still works.
#[test]
fn memfd_noexec_fails_closed() {
    require_root!();
    require!(
        Path::new("/proc/sys/vm/memfd_noexec").exists(),
        "no vm.memfd_noexec (Linux 6.3)"
    );
    let out = Container::new()
        .unshare(NS)
        .command(std::env::current_exe().unwrap())
        .args(["--exact", "inner_memfd_noexec", "--nocapture"])
        .env(NOEXEC_ENV, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("INNER-OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn inner_memfd_noexec() {
    if std::env::var_os(NOEXEC_ENV).is_none() {
        return;
    }
    std::fs::write("/proc/sys/vm/memfd_noexec", "2").unwrap();
    let e = Container::new()
        .init(true)
        .command("/bin/true")
        .spawn()
        .unwrap_err();
    match &e {
        containment::SpawnError::Unsupported { reason, .. } => {
            assert!(reason.contains("memfd_noexec = 2"), "{e}")
        }
        other => panic!("{other}"),
    }
    let e = Container::new()
        .force_exec_helper(true)
        .command("/bin/true")
        .spawn()
        .unwrap_err();
    assert!(
        matches!(e, containment::SpawnError::Unsupported { .. }),
        "{e}"
    );
    // Without a changed root the plain spawn needs no helper.
    let st = Container::new().command("/bin/true").status().unwrap();
    assert!(st.success());
    println!("INNER-OK");
}
