//! Terminals as engines use them (runc's console socket): `create
//! --console-socket`, `exec --tty --detach --console-socket`; a receiver
//! here takes the pty's primary (SCM_RIGHTS), types commands into it and
//! reads what the container prints (`tty`, `stty size` = consoleSize, an
//! exit status). Needs root and busybox-static.

mod common;

use common::*;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Reads from the primary until `want` shows in what was read.
fn read_until(pty: &mut std::fs::File, seen: &mut String, want: &str) {
    let end = Instant::now() + Duration::from_secs(60);
    let mut buf = [0u8; 4096];
    while !seen.contains(want) {
        assert!(
            Instant::now() < end,
            "no {want:?} on the terminal; saw {seen:?}"
        );
        let mut p = libc::pollfd {
            fd: pty.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut p, 1, 500) };
        if p.revents & libc::POLLIN != 0 {
            match pty.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
            }
        } else if p.revents != 0 {
            break;
        }
    }
    assert!(
        seen.contains(want),
        "no {want:?} on the terminal; saw {seen:?}"
    );
}

struct Setup {
    dir: TempDir,
    root: std::path::PathBuf,
    ids: Vec<String>,
}

impl Drop for Setup {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = contrun(&self.root, &["delete", "--force", id]);
        }
    }
}

fn setup(test: &str, process: serde_json::Value) -> Option<Setup> {
    if !root(test) {
        return None;
    }
    let bb = busybox(test)?;
    let dir = TempDir::new("contrun-console");
    busybox_root(&bb, &dir.path().join("rootfs"));
    let st = Command::new(BIN)
        .args(["spec", "--bundle"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(st.success());
    let p = dir.path().join("config.json");
    let mut c: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    for (k, v) in process.as_object().unwrap() {
        c["process"][k] = v.clone();
    }
    std::fs::write(&p, c.to_string()).unwrap();
    let root = dir.path().join("state");
    Some(Setup {
        dir,
        root,
        ids: Vec::new(),
    })
}

/// Accepts one connection on `sock` in a thread and receives the fd.
fn receiver(sock: &Path) -> std::thread::JoinHandle<std::fs::File> {
    let l = UnixListener::bind(sock).unwrap();
    std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        std::fs::File::from(containment::tty::recv_fd(&s).unwrap())
    })
}

#[test]
fn create_sends_the_console_to_the_socket() {
    let Some(mut s) = setup(
        "create_sends_the_console_to_the_socket",
        serde_json::json!({
            "terminal": true,
            "consoleSize": {"height": 33, "width": 101},
            "args": ["sh"],
        }),
    ) else {
        return;
    };
    let sock = s.dir.path().join("console.sock");
    let rx = receiver(&sock);
    let id = unique("console");
    s.ids.push(id.clone());
    let bundle = s.dir.path().to_str().unwrap().to_string();
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
    let mut pty = rx.join().unwrap();
    // The primary we got is a pty primary (/dev/pts/ptmx of the
    // container's devpts).
    let link = std::fs::read_link(format!("/proc/self/fd/{}", pty.as_raw_fd())).unwrap();
    assert!(link.to_string_lossy().ends_with("ptmx"), "{link:?}");
    ok(&s.root, &["start", &id]);
    pty.write_all(b"tty; stty size; echo $((6*7))x\n").unwrap();
    let mut seen = String::new();
    read_until(&mut pty, &mut seen, "42x");
    assert!(seen.contains("/dev/pts/0"), "{seen:?}");
    assert!(seen.contains("33 101"), "consoleSize not applied: {seen:?}");
    // The pid before the exit (a stopped container's state has none).
    let pid = serde_json::from_str::<serde_json::Value>(&ok(&s.root, &["state", &id])).unwrap()
        ["pid"]
        .as_i64()
        .unwrap() as i32;
    pty.write_all(b"exit 5\n").unwrap();
    wait_for("the shell to exit", || (!alive(pid)).then_some(()));
    ok(&s.root, &["delete", &id]);
    assert!(!s.root.join(&id).exists());
}

#[test]
fn exec_tty_sends_the_console_to_the_socket() {
    let Some(mut s) = setup(
        "exec_tty_sends_the_console_to_the_socket",
        serde_json::json!({"terminal": false, "args": ["sleep", "1000"]}),
    ) else {
        return;
    };
    let id = unique("exectty");
    s.ids.push(id.clone());
    let bundle = s.dir.path().to_str().unwrap().to_string();
    ok(&s.root, &["run", "--detach", "--bundle", &bundle, &id]);
    // exec --tty with ARGS.
    let sock = s.dir.path().join("exec.sock");
    let rx = receiver(&sock);
    let pidfile = s.dir.path().join("exec.pid");
    ok(
        &s.root,
        &[
            "exec",
            "--detach",
            "--tty",
            "--console-socket",
            sock.to_str().unwrap(),
            "--pid-file",
            pidfile.to_str().unwrap(),
            &id,
            "sh",
        ],
    );
    let mut pty = rx.join().unwrap();
    pty.write_all(b"tty; echo $((7*6))y; exit 3\n").unwrap();
    let mut seen = String::new();
    read_until(&mut pty, &mut seen, "42y");
    assert!(seen.contains("/dev/pts/"), "{seen:?}");
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    wait_for("the exec'd shell to exit", || (!alive(pid)).then_some(()));
    // exec --process with terminal: true and a consoleSize.
    let sock2 = s.dir.path().join("exec2.sock");
    let rx = receiver(&sock2);
    let pj = s.dir.path().join("process.json");
    std::fs::write(
        &pj,
        serde_json::json!({
            "terminal": true, "consoleSize": {"height": 20, "width": 70},
            "user": {"uid": 0, "gid": 0}, "args": ["sh"], "cwd": "/",
            "env": ["PATH=/bin"],
        })
        .to_string(),
    )
    .unwrap();
    ok(
        &s.root,
        &[
            "exec",
            "--detach",
            "--process",
            pj.to_str().unwrap(),
            "--console-socket",
            sock2.to_str().unwrap(),
            &id,
        ],
    );
    let mut pty = rx.join().unwrap();
    pty.write_all(b"stty size; echo done$((1+1))\n").unwrap();
    let mut seen = String::new();
    read_until(&mut pty, &mut seen, "done2");
    assert!(seen.contains("20 70"), "{seen:?}");
    pty.write_all(b"exit\n").unwrap();
    ok(&s.root, &["delete", "--force", &id]);
}

#[test]
fn console_socket_rules_are_runcs() {
    let Some(mut s) = setup(
        "console_socket_rules_are_runcs",
        serde_json::json!({"terminal": false, "args": ["true"]}),
    ) else {
        return;
    };
    let id = unique("rules");
    s.ids.push(id.clone());
    let bundle = s.dir.path().to_str().unwrap().to_string();
    // A socket without a terminal is refused, and nothing is left.
    let o = contrun(
        &s.root,
        &[
            "create",
            "--bundle",
            &bundle,
            "--console-socket",
            "/nonexistent",
            &id,
        ],
    );
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--console-socket"),
        "{o:?}"
    );
    assert!(!s.root.join(&id).exists());
}
