//! Attacks on contrun (branch brk2): a container's program or a bundle's
//! config.json trying to reach the caller's terminal, descriptors or the
//! host. Each test asserts what the kernel shows. Needs root and
//! busybox-static (and perl on the host for the TIOCSTI attack).

mod common;

use common::*;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::setup::Setup;

fn setup(test: &str) -> Option<Setup> {
    common::setup::setup(test, "contrun-attacks")
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
    spawn_at_terminal(root, replica, args).wait().unwrap()
}

fn spawn_at_terminal(root: &Path, replica: &OwnedFd, args: &[&str]) -> std::process::Child {
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
    c.spawn().unwrap()
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

/// The descriptors of `pid` as (number, target), from /proc.
fn fds_of(pid: i32) -> Vec<(i32, String)> {
    let mut v: Vec<(i32, String)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let n = e.file_name().to_str()?.parse().ok()?;
            let t = std::fs::read_link(e.path()).ok()?;
            Some((n, t.to_string_lossy().into_owned()))
        })
        .collect();
    v.sort();
    v
}

fn state_pid(s: &Setup, id: &str) -> i32 {
    let v: serde_json::Value = serde_json::from_str(&ok(&s.root, &["state", id])).unwrap();
    v["pid"].as_i64().unwrap() as i32
}

/// Receives one descriptor on a new socket at `sock` (in a thread).
fn receiver(sock: &Path) -> std::thread::JoinHandle<OwnedFd> {
    let l = std::os::unix::net::UnixListener::bind(sock).unwrap();
    std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        containment::tty::recv_fd(&s).unwrap()
    })
}

fn assert_only_replica(what: &str, fds: &[(i32, String)]) {
    assert_eq!(
        fds.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        vec![0, 1, 2],
        "{what}: descriptors other than the terminal's 0, 1, 2: {fds:?}"
    );
    for (_, t) in fds {
        assert!(
            t.starts_with("/dev/pts/") && !t.ends_with("ptmx"),
            "{what}: not the replica: {fds:?}"
        );
    }
}

/// The pty's primary goes to the console socket only: the container's
/// process holds the replica on 0, 1, 2 and nothing else (a primary in
/// the container could read and type on its own terminal's other side).
#[test]
fn console_socket_primary_does_not_leak_into_the_container() {
    let test = "console_socket_primary_does_not_leak_into_the_container";
    let Some(mut s) = setup(test) else { return };
    s.config(|c| {
        c["process"]["terminal"] = true.into();
        c["process"]["args"] = serde_json::json!(["sleep", "1000"]);
    });
    let id = s.id("fds");
    let sock = s.dir.path().join("c.sock");
    let rx = receiver(&sock);
    let bundle = s.bundle();
    ok(
        &s.root,
        &[
            "create",
            "--bundle",
            &bundle,
            "--console-socket",
            sock.to_str().unwrap(),
            &id,
        ],
    );
    let _primary = rx.join().unwrap();
    ok(&s.root, &["start", &id]);
    let pid = state_pid(&s, &id);
    wait_for("sleep to run", || {
        std::fs::read_link(format!("/proc/{pid}/exe"))
            .ok()
            .filter(|e| e.ends_with("busybox"))
    });
    assert_only_replica("create --console-socket", &fds_of(pid));

    // exec --tty --detach --console-socket into it.
    let sock2 = s.dir.path().join("e.sock");
    let rx2 = receiver(&sock2);
    let pidfile = s.dir.path().join("exec.pid");
    ok(
        &s.root,
        &[
            "exec",
            "--detach",
            "--tty",
            "--console-socket",
            sock2.to_str().unwrap(),
            "--pid-file",
            pidfile.to_str().unwrap(),
            &id,
            "sleep",
            "999",
        ],
    );
    let _p2 = rx2.join().unwrap();
    let epid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_for("exec'd sleep to run", || {
        std::fs::read_link(format!("/proc/{epid}/exe"))
            .ok()
            .filter(|e| e.ends_with("busybox"))
    });
    assert_only_replica("exec --tty --console-socket", &fds_of(epid));
}

/// `run` in the foreground with process.terminal: contrun relays the
/// primary; the program holds only the replica.
#[test]
fn foreground_terminal_primary_does_not_leak_into_the_container() {
    let test = "foreground_terminal_primary_does_not_leak_into_the_container";
    let Some(mut s) = setup(test) else { return };
    s.config(|c| {
        c["process"]["terminal"] = true.into();
        c["process"]["args"] = serde_json::json!(["sleep", "1000"]);
    });
    let id = s.id("fgfds");
    let (primary, replica) = openpty();
    let mut run = spawn_at_terminal(&s.root, &replica, &["run", "--bundle", &s.bundle(), &id]);
    let pid = wait_for("the container to run sleep", || {
        let o = contrun(&s.root, &["state", &id]);
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).ok()?;
        let pid = v["pid"].as_i64()? as i32;
        std::fs::read_link(format!("/proc/{pid}/exe"))
            .ok()
            .filter(|e| e.ends_with("busybox"))
            .map(|_| pid)
    });
    let fds = fds_of(pid);
    ok(&s.root, &["kill", &id, "KILL"]);
    let _ = run.wait();
    drop(primary);
    assert_only_replica("run with a terminal", &fds);
}

/// linux.devices with paths that leave /dev or the root: refused, and
/// nothing made on the host or elsewhere in the root.
#[test]
fn device_paths_cannot_escape() {
    let test = "device_paths_cannot_escape";
    let Some(mut s) = setup(test) else { return };
    let rootfs = s.dir.path().join("rootfs");
    std::fs::write(rootfs.join("etc/passwd"), "root:x:0:0::/:/bin/sh\n").unwrap();
    let outside = s.dir.path().join("outside-node");
    for path in [
        "/dev/../etc/passwd".to_string(),
        "/../../../../../..".to_string() + outside.to_str().unwrap(),
        "dev/relative".to_string(),
        "/".to_string(),
        "/dev/./..".to_string(),
    ] {
        s.config(|c| {
            c["process"]["args"] = serde_json::json!(["true"]);
            c["linux"]["devices"] = serde_json::json!([
                {"path": path, "type": "c", "major": 1, "minor": 3, "fileMode": 0o6777}]);
        });
        let id = s.id("dev");
        let o = contrun(&s.root, &["run", "--bundle", &s.bundle(), &id]);
        assert!(
            !o.status.success(),
            "device at {path:?} accepted: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let md = std::fs::symlink_metadata(rootfs.join("etc/passwd")).unwrap();
        assert!(
            md.is_file(),
            "{path:?}: the root's /etc/passwd was replaced"
        );
        assert!(!outside.exists(), "{path:?}: a node outside the root");
    }
    // A symlink in the image: dev -> /tmp/... of the host.
    let host_dir = s.dir.path().join("hostdir");
    std::fs::create_dir(&host_dir).unwrap();
    std::fs::remove_dir(rootfs.join("dev")).unwrap();
    std::os::unix::fs::symlink(&host_dir, rootfs.join("dev")).unwrap();
    s.config(|c| {
        c["linux"]["devices"] =
            serde_json::json!([{"path": "/dev/evil", "type": "c", "major": 1, "minor": 3}]);
        // No /dev mount from the list: the node goes on the image's /dev.
        let m = c["mounts"].as_array_mut().unwrap();
        m.retain(|m| !m["destination"].as_str().unwrap().starts_with("/dev"));
    });
    let id = s.id("devlink");
    let _ = contrun(&s.root, &["run", "--bundle", &s.bundle(), &id]);
    assert!(
        !host_dir.join("evil").exists(),
        "a device node made through the image's dev symlink on the host"
    );
}

/// linux.namespaces[].path naming a file that is not a namespace (a FIFO
/// would block an open for reading forever): refused, quickly, nothing
/// left running.
#[test]
fn namespace_paths_that_are_not_namespaces() {
    let test = "namespace_paths_that_are_not_namespaces";
    let Some(mut s) = setup(test) else { return };
    let file = s.dir.path().join("file");
    std::fs::write(&file, "x").unwrap();
    let fifo = s.dir.path().join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let paths = [
        file.to_str().unwrap().to_string(),
        fifo.to_str().unwrap().to_string(),
        "/proc/self/ns/user".to_string(), // the runtime's own: a user ns for net
        "/proc/self/ns/net/..".to_string(),
    ];
    for path in paths {
        s.config(|c| {
            c["process"]["args"] = serde_json::json!(["true"]);
            let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
            ns.retain(|n| n["type"] != "network");
            ns.push(serde_json::json!({"type": "network", "path": path}));
        });
        let id = s.id("nspath");
        let o = contrun(&s.root, &["create", "--bundle", &s.bundle(), &id]);
        assert!(
            !o.status.success(),
            "namespaces path {path:?} accepted: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!s.root.join(&id).exists(), "{path:?}: state left behind");
    }
}

/// Container ids that would put the state directory outside --root.
#[test]
fn ids_cannot_leave_the_state_root() {
    let test = "ids_cannot_leave_the_state_root";
    let Some(s) = setup(test) else { return };
    s.config(|c| c["process"]["args"] = serde_json::json!(["true"]));
    std::fs::create_dir_all(&s.root).unwrap();
    for id in ["..", ".", "../escaped", "a/b", "/abs", "", "-"] {
        let o = contrun(&s.root, &["create", "--bundle", &s.bundle(), id]);
        if id == "-" {
            // runc accepts '-'; it stays under the root.
            if o.status.success() {
                ok(&s.root, &["delete", "--force", id]);
            }
            continue;
        }
        assert!(!o.status.success(), "id {id:?} accepted");
    }
    assert!(!s.dir.path().join("escaped").exists());
    assert!(!Path::new("/abs").exists());
}

/// A static helper compiled here from C (None, after `skip`, without cc
/// or a static libc).
fn static_helper(test: &str, dir: &Path, name: &str, src: &str) -> Option<PathBuf> {
    let c = dir.join(format!("{name}.c"));
    std::fs::write(&c, src).unwrap();
    let out = dir.join(name);
    let st = Command::new("cc")
        .args(["-static", "-O1", "-o"])
        .arg(&out)
        .arg(&c)
        .status();
    if !st.is_ok_and(|s| s.success()) {
        skip(test, "cannot build a static C helper (cc, libc.a)");
        return None;
    }
    Some(out)
}

/// chroot(2) into a subdirectory while the working directory stays
/// outside it, then `..` up to the real root and chroot there: the
/// classic escape from a chroot, which needs CAP_SYS_CHROOT.
const CHROOT_ESCAPE: &str = r#"
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>
int main(int argc, char **argv) {
    mkdir("/tmp/esc", 0755);
    if (chroot("/tmp/esc") != 0) { printf("chroot: %s\n", strerror(errno)); return 3; }
    for (int i = 0; i < 64; i++) chdir("..");
    if (chroot(".") != 0) { printf("chroot .: %s\n", strerror(errno)); return 3; }
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) { printf("open %s: %s\n", argv[1], strerror(errno)); return 2; }
    char b[256]; int n = read(fd, b, 255);
    if (n < 0) n = 0;
    b[n] = 0;
    printf("ESCAPED:%s\n", b);
    return 0;
}
"#;

/// Runs the chroot escape in a container of `s` with `caps` (added to the
/// spec's defaults), mount namespace or not; returns what it printed.
fn chroot_escape(
    s: &mut Setup,
    test: &str,
    caps: &[&str],
    mount_ns: bool,
    no_pivot: bool,
) -> Option<String> {
    let helper = static_helper(test, s.dir.path(), "escape", CHROOT_ESCAPE)?;
    std::fs::copy(&helper, s.dir.path().join("rootfs/bin/escape")).unwrap();
    let secret = s.dir.path().join("host-secret");
    std::fs::write(&secret, "host-only").unwrap();
    let secret = secret.to_str().unwrap().to_string();
    s.config(|c| {
        c["process"]["args"] = serde_json::json!(["/bin/escape", secret]);
        c["root"]["readonly"] = false.into();
        for set in ["bounding", "effective", "permitted"] {
            let l = c["process"]["capabilities"][set].as_array_mut().unwrap();
            for cap in caps {
                l.push((*cap).into());
            }
        }
        if !mount_ns {
            let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
            ns.retain(|n| n["type"] != "mount");
            c["mounts"] = serde_json::json!([]);
            c["linux"].as_object_mut().unwrap().remove("maskedPaths");
            c["linux"].as_object_mut().unwrap().remove("readonlyPaths");
        }
    });
    let id = s.id("chroot");
    let mut args = vec!["run", "--bundle"];
    let bundle = s.bundle();
    args.push(&bundle);
    if no_pivot {
        args.push("--no-pivot");
    }
    args.push(&id);
    let o = contrun(&s.root, &args);
    Some(format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    ))
}

/// Without a mount namespace the root is entered with chroot(2) alone:
/// with the spec's default capabilities (no CAP_SYS_CHROOT) the program
/// cannot leave it.
#[test]
fn no_mount_namespace_default_caps_cannot_leave_the_chroot() {
    let test = "no_mount_namespace_default_caps_cannot_leave_the_chroot";
    let Some(mut s) = setup(test) else { return };
    let Some(out) = chroot_escape(&mut s, test, &[], false, false) else {
        return;
    };
    assert!(!out.contains("ESCAPED"), "{out}");
    assert!(out.contains("chroot: Operation not permitted"), "{out}");
}

/// --no-pivot (MS_MOVE and chroot, in a mount namespace of its own) with
/// CAP_SYS_CHROOT: `..` past the chroot must not reach the host's files.
#[test]
fn no_pivot_with_cap_sys_chroot_cannot_reach_the_host() {
    let test = "no_pivot_with_cap_sys_chroot_cannot_reach_the_host";
    let Some(mut s) = setup(test) else { return };
    let Some(out) = chroot_escape(&mut s, test, &["CAP_SYS_CHROOT"], true, true) else {
        return;
    };
    assert!(!out.contains("ESCAPED:host-only"), "{out}");
}

/// Pivoted root, CAP_SYS_CHROOT: the same escape finds nothing.
#[test]
fn pivot_root_with_cap_sys_chroot_cannot_reach_the_host() {
    let test = "pivot_root_with_cap_sys_chroot_cannot_reach_the_host";
    let Some(mut s) = setup(test) else { return };
    let Some(out) = chroot_escape(&mut s, test, &["CAP_SYS_CHROOT"], true, false) else {
        return;
    };
    assert!(!out.contains("ESCAPED:host-only"), "{out}");
}

/// Without a mount namespace and with CAP_SYS_CHROOT (docker's default
/// set has it) the chroot would be no boundary: contrun drops the
/// capability in this mode (with a warning naming it).
#[test]
fn no_mount_namespace_with_cap_sys_chroot_cannot_reach_the_host() {
    let test = "no_mount_namespace_with_cap_sys_chroot_cannot_reach_the_host";
    let Some(mut s) = setup(test) else { return };
    let Some(out) = chroot_escape(&mut s, test, &["CAP_SYS_CHROOT"], false, false) else {
        return;
    };
    assert!(!out.contains("ESCAPED:host-only"), "{out}");
}

/// A host mount point that is shared (a peer group of its own, made here):
/// a container binding it, with no propagation option or with `rshared`,
/// and mounting under it must not put a mount into the host's tree
/// (rootfsPropagation unset: the runtime-spec leaves the default to the
/// runtime, runc makes the tree rslave).
#[test]
fn mounts_made_in_a_shared_bind_do_not_reach_the_host() {
    let test = "mounts_made_in_a_shared_bind_do_not_reach_the_host";
    let Some(mut s) = setup(test) else { return };
    let host = s.dir.path().join("host-shared");
    std::fs::create_dir(&host).unwrap();
    let c = std::ffi::CString::new(host.to_str().unwrap()).unwrap();
    struct Unmount(std::ffi::CString);
    impl Drop for Unmount {
        fn drop(&mut self) {
            // Whatever leaked below it goes with it (MNT_DETACH is recursive).
            // SAFETY: NUL-terminated path.
            unsafe { libc::umount2(self.0.as_ptr(), libc::MNT_DETACH) };
        }
    }
    // SAFETY: NUL-terminated strings.
    let r = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            c.as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
    let _u = Unmount(c.clone());
    // SAFETY: as above.
    let r = unsafe {
        libc::mount(
            std::ptr::null(),
            c.as_ptr(),
            std::ptr::null(),
            libc::MS_SHARED,
            std::ptr::null(),
        )
    };
    assert_eq!(r, 0);
    std::fs::create_dir(host.join("sub")).unwrap();
    for opts in [
        serde_json::json!(["rbind"]),
        serde_json::json!(["rbind", "rshared"]),
        serde_json::json!(["bind", "shared"]),
    ] {
        s.config(|c| {
            c["process"]["args"] =
                serde_json::json!(["mount", "-t", "tmpfs", "leak", "/shared/sub"]);
            for set in ["bounding", "effective", "permitted"] {
                c["process"]["capabilities"][set]
                    .as_array_mut()
                    .unwrap()
                    .push("CAP_SYS_ADMIN".into());
            }
            let m = c["mounts"].as_array_mut().unwrap();
            m.retain(|m| m["destination"] != "/shared");
            m.push(serde_json::json!({"destination": "/shared", "type": "bind",
                "source": host.to_str().unwrap(), "options": opts}));
        });
        std::fs::create_dir_all(s.dir.path().join("rootfs/shared")).unwrap();
        let id = s.id("shared");
        let o = contrun(&s.root, &["run", "--bundle", &s.bundle(), &id]);
        assert!(
            o.status.success(),
            "{opts}: the mount in the container failed: {}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        let under = mounts_under(&host.join("sub"));
        assert!(
            under.is_empty(),
            "{opts}: mounts reached the host: {under:?}"
        );
    }
}

/// A config without `process` (the spec allows it at create): the
/// placeholder "/" never runs; `start` fails and leaves no process.
#[test]
fn start_without_process_runs_nothing() {
    let test = "start_without_process_runs_nothing";
    let Some(mut s) = setup(test) else { return };
    s.config(|c| {
        c.as_object_mut().unwrap().remove("process");
    });
    let id = s.id("noproc");
    let o = contrun(&s.root, &["create", "--bundle", &s.bundle(), &id]);
    if !o.status.success() {
        // Refusing it at create is fine too.
        return;
    }
    let pid = state_pid(&s, &id);
    let o = contrun(&s.root, &["start", &id]);
    assert!(!o.status.success(), "start ran a container without process");
    wait_for("the placeholder to be gone", || (!alive(pid)).then_some(()));
    let v: serde_json::Value = serde_json::from_str(&ok(&s.root, &["state", &id])).unwrap();
    assert_eq!(v["status"], "stopped", "{v}");
}
