//! Attacks on contrun (branch brk2): a container's program or a bundle's
//! config.json trying to reach the caller's terminal, descriptors or the
//! host. Each test asserts what the kernel shows. Needs root and
//! busybox-static (and perl on the host for the TIOCSTI attack).

mod common;

use common::*;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Runs contrun with stdout and stderr in files (a container inherits them).
fn contrun(root: &Path, args: &[&str]) -> Output {
    let dir = root.parent().unwrap();
    let (o, e) = (dir.join(unique("out")), dir.join(unique("err")));
    let status = Command::new(BIN)
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&o).unwrap())
        .stderr(std::fs::File::create(&e).unwrap())
        .status()
        .unwrap();
    Output {
        status,
        stdout: std::fs::read(&o).unwrap(),
        stderr: std::fs::read(&e).unwrap(),
    }
}

fn ok(root: &Path, args: &[&str]) -> String {
    let o = contrun(root, args);
    assert!(
        o.status.success(),
        "contrun {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

struct Setup {
    dir: TempDir,
    root: PathBuf,
    ids: Vec<String>,
}

impl Setup {
    fn bundle(&self) -> String {
        self.dir.path().to_str().unwrap().to_string()
    }
    fn config(&self, f: impl FnOnce(&mut serde_json::Value)) {
        let p = self.dir.path().join("config.json");
        let mut c: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        f(&mut c);
        std::fs::write(&p, c.to_string()).unwrap();
    }
    fn id(&mut self, tag: &str) -> String {
        let id = unique(tag);
        self.ids.push(id.clone());
        id
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = contrun(&self.root, &["delete", "--force", id]);
        }
    }
}

fn setup(test: &str) -> Option<Setup> {
    if !root(test) {
        return None;
    }
    let bb = busybox(test)?;
    let dir = TempDir::new("contrun-attacks");
    busybox_root(&bb, &dir.path().join("rootfs"));
    let st = Command::new(BIN)
        .args(["spec", "--bundle"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(st.success());
    let root = dir.path().join("state");
    Some(Setup {
        dir,
        root,
        ids: Vec::new(),
    })
}

/// A pty of the test's own: (primary, replica).
fn openpty() -> (OwnedFd, OwnedFd) {
    let (mut p, mut r) = (-1, -1);
    // SAFETY: out-pointers to two ints; no name, termios or size.
    let rc = unsafe {
        libc::openpty(
            &mut p,
            &mut r,
            std::ptr::null_mut(),
            std::ptr::null(),
            std::ptr::null(),
        )
    };
    assert_eq!(rc, 0, "openpty: {}", std::io::Error::last_os_error());
    // SAFETY: two new descriptors we own.
    unsafe { (OwnedFd::from_raw_fd(p), OwnedFd::from_raw_fd(r)) }
}

/// Runs contrun as a user at a terminal would: in a session of its own
/// whose controlling terminal is `replica`, with its stdin, stdout and
/// stderr on it. Returns contrun's exit status.
fn contrun_at_terminal(root: &Path, replica: &OwnedFd, args: &[&str]) -> std::process::ExitStatus {
    let fd = replica.as_raw_fd();
    let mut c = Command::new(BIN);
    c.arg("--root").arg(root).args(args);
    for s in 0..3 {
        // SAFETY: dup of a descriptor we own.
        let d = unsafe { libc::dup(fd) };
        // SAFETY: a new descriptor we own.
        let f = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(d) });
        match s {
            0 => c.stdin(f),
            1 => c.stdout(f),
            _ => c.stderr(f),
        };
    }
    // SAFETY: setsid and ioctl are async-signal-safe.
    unsafe {
        c.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c.status().unwrap()
}

/// Reads what is waiting on `fd` without blocking.
fn drain(fd: &OwnedFd) -> String {
    // SAFETY: fcntl on a descriptor we own.
    unsafe {
        let fl = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: a buffer of buf.len() bytes.
        let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            break;
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
    String::from_utf8_lossy(&out).into_owned()
}

const INJECT: &str = "echo INJECTED-BY-CONTAINER";

/// The host's perl, bound read-only into the bundle (its libraries too).
fn with_perl(s: &Setup, test: &str) -> bool {
    if !Path::new("/usr/bin/perl").exists() {
        skip(test, "perl is not installed on the host");
        return false;
    }
    let rootfs = s.dir.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("usr")).unwrap();
    for l in ["lib", "lib64"] {
        if Path::new("/").join(l).is_symlink() {
            std::os::unix::fs::symlink(format!("usr/{l}"), rootfs.join(l)).unwrap();
        } else {
            std::fs::create_dir_all(rootfs.join(l)).unwrap();
        }
    }
    s.config(|c| {
        let mounts = c["mounts"].as_array_mut().unwrap();
        for d in ["/usr", "/lib", "/lib64"] {
            if Path::new(d).is_symlink() || !Path::new(d).exists() {
                continue;
            }
            mounts.push(
                serde_json::json!({"destination": d, "type": "bind", "source": d,
                "options": ["rbind", "ro", "nosuid", "nodev"]}),
            );
        }
    });
    true
}

/// The container's program pushes a command into its standard input's
/// terminal with TIOCSTI (bubblewrap CVE-2017-5226, runc's setsid): when
/// that terminal is the caller's (a `run` without process.terminal), the
/// caller's shell would run the command once contrun exits. The program
/// must be in a session of its own, where TIOCSTI on a terminal that is
/// not its controlling terminal fails with EPERM.
#[test]
fn run_without_terminal_cannot_inject_into_the_callers_terminal() {
    let test = "run_without_terminal_cannot_inject_into_the_callers_terminal";
    let Some(mut s) = setup(test) else { return };
    if !with_perl(&s, test) {
        return;
    }
    let script = format!(
        "$r = 1; for (split //, \"{INJECT}\\n\") {{ $r = ioctl(STDIN, 0x5412, $_) && $r }} \
         print STDERR ($r ? \"tiocsti-ok\\n\" : \"tiocsti-failed: $!\\n\")"
    );
    s.config(|c| {
        c["process"]["terminal"] = false.into();
        c["process"]["args"] = serde_json::json!(["/usr/bin/perl", "-e", script]);
    });
    let id = s.id("tiocsti");
    let (primary, replica) = openpty();
    let st = contrun_at_terminal(&s.root, &replica, &["run", "--bundle", &s.bundle(), &id]);
    // What the container printed (echoed on the primary) and what is
    // waiting as input on the caller's terminal.
    let shown = drain(&primary);
    let queued = drain(&replica);
    assert!(
        st.success(),
        "contrun run: {st:?}; terminal showed {shown:?}"
    );
    assert!(
        shown.contains("tiocsti-"),
        "the program did not run: {shown:?}"
    );
    assert!(
        !queued.contains("INJECTED") && !shown.contains("tiocsti-ok"),
        "the container typed into the caller's terminal: input queued {queued:?}, shown {shown:?}"
    );
}

/// The same through `exec` (no --tty) into a running container.
#[test]
fn exec_without_tty_cannot_inject_into_the_callers_terminal() {
    let test = "exec_without_tty_cannot_inject_into_the_callers_terminal";
    let Some(mut s) = setup(test) else { return };
    if !with_perl(&s, test) {
        return;
    }
    s.config(|c| {
        c["process"]["terminal"] = false.into();
        c["process"]["args"] = serde_json::json!(["sleep", "1000"]);
    });
    let id = s.id("tiocsti-exec");
    ok(&s.root, &["run", "--detach", "--bundle", &s.bundle(), &id]);
    let script = format!(
        "$r = 1; for (split //, \"{INJECT}\\n\") {{ $r = ioctl(STDIN, 0x5412, $_) && $r }} \
         print STDERR ($r ? \"tiocsti-ok\\n\" : \"tiocsti-failed: $!\\n\")"
    );
    let (primary, replica) = openpty();
    let st = contrun_at_terminal(
        &s.root,
        &replica,
        &["exec", &id, "/usr/bin/perl", "-e", &script],
    );
    let shown = drain(&primary);
    let queued = drain(&replica);
    assert!(
        st.success(),
        "contrun exec: {st:?}; terminal showed {shown:?}"
    );
    assert!(
        shown.contains("tiocsti-"),
        "the program did not run: {shown:?}"
    );
    assert!(
        !queued.contains("INJECTED") && !shown.contains("tiocsti-ok"),
        "the exec'd program typed into the caller's terminal: input queued {queued:?}, shown {shown:?}"
    );
}
