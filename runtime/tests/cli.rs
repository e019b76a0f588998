//! The runtime binary as engines drive it: a busybox bundle made here, the
//! runc command line, and what the kernel shows afterwards (processes,
//! cgroup directories, state directories). Needs root; skips (through
//! `skip`, which `CONTAINMENT_NO_SKIP=1` turns into a failure) otherwise.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

const BIN: &str = env!("CARGO_BIN_EXE_contrun");

fn skip(test: &str, reason: &str) {
    if std::env::var_os("CONTAINMENT_NO_SKIP").is_some_and(|v| v != "0") {
        panic!("{test}: would be skipped, but CONTAINMENT_NO_SKIP is set: {reason}");
    }
    eprintln!("SKIPPED {test}: {reason}");
}

fn busybox() -> Option<PathBuf> {
    ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Returns a bundle, or None (after `skip`) when the host cannot run one.
fn require(test: &str) -> Option<Bundle> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        skip(test, "needs root (run the tests as root)");
        return None;
    }
    let Some(bb) = busybox() else {
        skip(
            test,
            "busybox-static is not installed (cargo xtask test installs it)",
        );
        return None;
    };
    Some(Bundle::new(test, &bb))
}

static N: AtomicU32 = AtomicU32::new(0);

/// A bundle and a state root of this test's own; everything is removed
/// (containers deleted with --force, directories removed) on drop.
struct Bundle {
    dir: PathBuf,
    root: PathBuf,
    ids: std::cell::RefCell<Vec<String>>,
    tag: String,
}

impl Bundle {
    fn new(test: &str, busybox: &Path) -> Bundle {
        let tag = format!(
            "ct{}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            test.len()
        );
        let dir = std::env::temp_dir().join(format!("contrun-{tag}"));
        let _ = std::fs::remove_dir_all(&dir);
        let bin = dir.join("rootfs/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::copy(busybox, bin.join("busybox")).unwrap();
        for l in ["sh", "echo", "cat", "sleep", "true", "hostname", "id", "ls"] {
            std::os::unix::fs::symlink("busybox", bin.join(l)).unwrap();
        }
        for d in ["proc", "dev", "sys", "tmp"] {
            std::fs::create_dir_all(dir.join("rootfs").join(d)).unwrap();
        }
        let root = dir.join("state");
        let b = Bundle {
            dir,
            root,
            ids: Default::default(),
            tag,
        };
        let out = Command::new(BIN)
            .args(["spec", "--bundle"])
            .arg(&b.dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        b
    }

    fn id(&self, name: &str) -> String {
        let id = format!("{}-{name}", self.tag);
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// Edits config.json.
    fn config(&self, f: impl FnOnce(&mut serde_json::Value)) {
        let p = self.dir.join("config.json");
        let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        f(&mut v);
        std::fs::write(&p, v.to_string()).unwrap();
    }

    fn args(&self, args: &[&str]) -> serde_json::Value {
        let a: Vec<serde_json::Value> = args.iter().map(|s| (*s).into()).collect();
        serde_json::Value::Array(a)
    }

    /// Runs contrun with stdout and stderr in files: a container created
    /// by it inherits them, so pipes would stay open as long as it lives.
    fn run(&self, args: &[&str]) -> Output {
        let n = N.fetch_add(1, Ordering::Relaxed);
        let (o, e) = (
            self.dir.join(format!("out{n}")),
            self.dir.join(format!("err{n}")),
        );
        let status = Command::new(BIN)
            .arg("--root")
            .arg(&self.root)
            .args(args)
            .stdin(std::process::Stdio::null())
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

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "contrun {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn state(&self, id: &str) -> serde_json::Value {
        serde_json::from_str(&self.ok(&["state", id])).unwrap()
    }

    fn cgroup_dir(&self, id: &str) -> PathBuf {
        let mount = containment::cgroup::Hierarchy::detect()
            .unwrap()
            .mount_point()
            .unwrap()
            .to_path_buf();
        mount.join(format!("contrun-{id}"))
    }
}

impl Drop for Bundle {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            let _ = self.run(&["delete", "--force", id]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| {
            let st = s[s.rfind(')').unwrap() + 2..].chars().next().unwrap();
            st != 'Z' && st != 'X'
        })
        .unwrap_or(false)
}

/// Processes whose root directory is `rootfs` (a container's, seen from
/// the host).
fn processes_in(rootfs: &Path) -> Vec<i32> {
    let want = rootfs.canonicalize().unwrap();
    let mut v = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if std::fs::read_link(format!("/proc/{pid}/root"))
            .ok()
            .as_deref()
            == Some(&want)
        {
            v.push(pid);
        }
    }
    v
}

#[test]
fn create_start_state_kill_delete() {
    let Some(b) = require("create_start_state_kill_delete") else {
        return;
    };
    let marker = b.dir.join("rootfs/tmp/started");
    b.config(|c| {
        c["root"]["readonly"] = false.into();
        c["process"]["args"] = b.args(&["sh", "-c", "echo yes > /tmp/started; exec sleep 1000"]);
    });
    let id = b.id("life");
    let pidfile = b.dir.join("pid");
    b.ok(&[
        "create",
        "--bundle",
        b.dir.to_str().unwrap(),
        "--pid-file",
        pidfile.to_str().unwrap(),
        &id,
    ]);
    let st = b.state(&id);
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], id.as_str());
    let pid = st["pid"].as_i64().unwrap() as i32;
    assert_eq!(std::fs::read_to_string(&pidfile).unwrap(), pid.to_string());
    assert!(alive(pid));
    // Created, not started: the program has not run.
    assert!(!marker.exists(), "the program ran before start");
    assert!(b.cgroup_dir(&id).join("cgroup.procs").exists());
    let procs = std::fs::read_to_string(b.cgroup_dir(&id).join("cgroup.procs")).unwrap();
    assert_eq!(procs.trim(), pid.to_string());

    b.ok(&["start", &id]);
    // The program writes its marker once it runs (the shell creates the
    // file before it writes: wait for the content, not the file).
    for _ in 0..2000 {
        if std::fs::read_to_string(&marker).is_ok_and(|s| s == "yes\n") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert_eq!(std::fs::read_to_string(&marker).unwrap(), "yes\n");
    assert_eq!(b.state(&id)["status"], "running");
    // A second start is refused.
    assert!(!b.run(&["start", &id]).status.success());
    // Deleting a running container needs --force.
    assert!(!b.run(&["delete", &id]).status.success());

    b.ok(&["kill", &id, "KILL"]);
    for _ in 0..2000 {
        if !alive(pid) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    assert!(!alive(pid));
    assert_eq!(b.state(&id)["status"], "stopped");
    b.ok(&["delete", &id]);
    assert!(!b.root.join(&id).exists(), "state left behind");
    assert!(!b.cgroup_dir(&id).exists(), "cgroup left behind");
    assert!(!b.run(&["state", &id]).status.success());
}

#[test]
fn run_propagates_the_exit_status_and_output() {
    let Some(b) = require("run_propagates_the_exit_status_and_output") else {
        return;
    };
    b.config(|c| {
        c["hostname"] = "box".into();
        c["process"]["args"] = b.args(&["sh", "-c", "hostname; exit 7"]);
    });
    let id = b.id("run");
    let out = b.run(&["run", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert_eq!(out.status.code(), Some(7), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "box\n");
    assert!(!b.root.join(&id).exists(), "state left behind");
    assert!(!b.cgroup_dir(&id).exists(), "cgroup left behind");
}

#[test]
fn exec_runs_in_the_container() {
    let Some(b) = require("exec_runs_in_the_container") else {
        return;
    };
    b.config(|c| {
        c["hostname"] = "inside".into();
        c["process"]["args"] = b.args(&["sleep", "1000"]);
    });
    let id = b.id("exec");
    b.ok(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    b.ok(&["start", &id]);
    let pid = b.state(&id)["pid"].as_i64().unwrap();
    let out = b.run(&["exec", &id, "sh", "-c", "hostname; echo $$; exit 3"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("inside"));
    // Its own pid in the container's PID namespace (1 is the sleep).
    let inner: i64 = lines.next().unwrap().parse().unwrap();
    assert!(inner > 1, "{inner}");
    // ps lists the container's process.
    let ps: Vec<i64> = serde_json::from_str(&b.ok(&["ps", "--format", "json", &id])).unwrap();
    assert!(ps.contains(&pid), "{ps:?}");
    b.ok(&["delete", "--force", &id]);
    assert!(!alive(pid as i32));
    assert!(!b.cgroup_dir(&id).exists(), "cgroup left behind");
}

#[test]
fn a_failed_create_leaves_nothing_behind() {
    let Some(b) = require("a_failed_create_leaves_nothing_behind") else {
        return;
    };
    // 1. The child fails (no such program).
    b.config(|c| c["process"]["args"] = b.args(&["/no/such/program"]));
    let id = b.id("noprog");
    let out = b.run(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("/no/such/program"),
        "{out:?}"
    );
    assert!(!b.root.join(&id).exists(), "state left behind");
    assert!(!b.cgroup_dir(&id).exists(), "cgroup left behind");
    // 2. The container is up and waiting, then a createRuntime hook fails:
    //    its process, cgroup and state go again.
    b.config(|c| {
        c["process"]["args"] = b.args(&["sleep", "1000"]);
        c["hooks"] = serde_json::json!({"createRuntime": [{"path": "/bin/false"}]});
    });
    let id = b.id("hook");
    let out = b.run(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("createRuntime"),
        "{out:?}"
    );
    assert!(!b.root.join(&id).exists(), "state left behind");
    assert!(!b.cgroup_dir(&id).exists(), "cgroup left behind");
    assert_eq!(processes_in(&b.dir.join("rootfs")), Vec::<i32>::new());
    // 3. A field the runtime cannot honour is named, and nothing is made.
    b.config(|c| {
        c["hooks"] = serde_json::Value::Null;
        c["process"]["terminal"] = true.into();
    });
    let id = b.id("tty");
    let out = b.run(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("process.terminal"),
        "{out:?}"
    );
    assert!(!b.root.join(&id).exists(), "state left behind");
    assert!(!b.cgroup_dir(&id).exists(), "cgroup left behind");
}

#[test]
fn json_log_has_rfc3339_time() {
    let Some(b) = require("json_log_has_rfc3339_time") else {
        return;
    };
    let log = b.dir.join("log.json");
    let out = b.run(&[
        "--log",
        log.to_str().unwrap(),
        "--log-format",
        "json",
        "state",
        "no-such-container",
    ]);
    assert!(!out.status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    let v: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(v["level"], "error");
    assert!(v["msg"].as_str().unwrap().contains("does not exist"), "{v}");
    let t = v["time"].as_str().unwrap();
    // 2026-11-30T05:05:25.123456789Z
    assert_eq!(t.len(), 30, "{t}");
    assert_eq!(&t[4..5], "-");
    assert_eq!(&t[10..11], "T");
    assert!(t.ends_with('Z'));
}

/// `contrun --version | head -1` (benches/contrun.sh does it): the reader
/// is gone before the second line, and println! panicked on the EPIPE.
/// Here stdout is a pipe whose reading end is closed before contrun runs.
#[test]
fn version_into_a_closed_pipe_exits_0_without_a_panic() {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two descriptors we then own.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: both are ours; the reading end is closed at once.
    let (r, w) = unsafe {
        use std::os::fd::FromRawFd;
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    };
    drop(r);
    let out = Command::new(BIN)
        .arg("--version")
        .stdout(std::process::Stdio::from(w))
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{out:?}");
}

/// What `run` costs in the caller (issue 14, part 3), as strace shows it:
/// /proc/self/mountinfo generated at most twice (the cgroup hierarchy at
/// spawn, the cgroup open at delete; translate leaves the cgroup path
/// relative, the initramfs check answers from statfs, delete opens the
/// cgroup once) and no thread started for the /dev links when the
/// container's root is the caller. Skips without strace.
#[test]
fn run_reads_mountinfo_once_and_starts_no_thread() {
    let test = "run_reads_mountinfo_once_and_starts_no_thread";
    let Some(b) = require(test) else {
        return;
    };
    let Some(strace) = ["/usr/bin/strace", "/bin/strace"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
    else {
        skip(test, "strace is not installed");
        return;
    };
    b.config(|c| c["process"]["args"] = b.args(&["true"]));
    let id = b.id("sys");
    let log = b.dir.join("strace.log");
    let out = Command::new(strace)
        .args(["-f", "-qq", "-e", "trace=openat,clone,clone3", "-o"])
        .arg(&log)
        .arg(BIN)
        .arg("--root")
        .arg(&b.root)
        .args(["run", "--bundle", b.dir.to_str().unwrap(), &id])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&log).unwrap();
    // The first line is contrun's own pid.
    let me = text.split_whitespace().next().unwrap().to_string();
    let mine = |l: &&str| l.split_whitespace().next() == Some(me.as_str());
    let reads = text
        .lines()
        .filter(mine)
        .filter(|l| l.contains("\"/proc/self/mountinfo\""))
        .count();
    // Once, for the cgroup's creation: delete removes the directories
    // recorded at create (`rmdir` each) without opening the cgroup.
    assert!(reads <= 1, "{reads} reads of mountinfo:\n{text}");
    let threads = text
        .lines()
        .filter(mine)
        .filter(|l| l.contains("CLONE_THREAD"))
        .count();
    assert_eq!(threads, 0, "{text}");
    assert!(!b.root.join(&id).exists(), "state left behind");
    assert!(!b.cgroup_dir(&id).exists(), "cgroup left behind");
}

/// `contrun create` killed (SIGKILL) once the container's state is written
/// but before its create finished (here by its createRuntime hook, which
/// kills its parent): the container is not "created" (a `start` would run
/// its program without the rest of create: hooks, sysctls, console, pid
/// file), `start` refuses it, and `delete --force` removes its process,
/// cgroup and state.
#[test]
fn a_create_killed_midway_is_not_startable_and_delete_force_cleans_it() {
    let Some(b) = require("a_create_killed_midway_is_not_startable") else {
        return;
    };
    let marker = b.dir.join("rootfs/tmp/started");
    b.config(|c| {
        c["root"]["readonly"] = false.into();
        c["process"]["args"] = b.args(&["sh", "-c", "echo yes > /tmp/started; exec sleep 1000"]);
        c["hooks"] = serde_json::json!({"createRuntime": [
            {"path": "/bin/sh", "args": ["sh", "-c", "kill -9 $PPID"]}
        ]});
    });
    let id = b.id("crash");
    let out = b.run(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGKILL), "{out:?}");
    let st = b.state(&id);
    let pid = st["pid"].as_i64().unwrap() as i32;
    assert!(alive(pid), "the container's process died with its create");
    assert_eq!(st["status"], "creating", "{st}");
    let out = b.run(&["start", &id]);
    assert!(!out.status.success(), "a half-created container started");
    assert!(!marker.exists(), "the program ran");
    // Not deletable without --force (it has a process), then all of it goes.
    assert!(!b.run(&["delete", &id]).status.success());
    b.ok(&["delete", "--force", &id]);
    assert!(!alive(pid));
    assert!(!marker.exists(), "the program ran");
    assert!(!b.root.join(&id).exists(), "state left behind");
    assert!(!b.cgroup_dir(&id).exists(), "cgroup left behind");
    assert_eq!(processes_in(&b.dir.join("rootfs")), Vec::<i32>::new());
}

/// `--help` tells that the global options go before the subcommand (an
/// option after it is refused), and shows users no notes on clap's
/// internals or timings.
#[test]
fn help_says_where_global_options_go_and_nothing_internal() {
    let out = Command::new(BIN).arg("--help").output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("before the subcommand"), "{text}");
    for internal in ["global = true", "µs", "BENCHMARKS"] {
        assert!(
            !text.contains(internal),
            "--help shows {internal:?}: {text}"
        );
    }
    let out = Command::new(BIN)
        .args(["list", "--root", "/nonexistent"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
}

/// `state` takes no lock (runc's does not either): a `createRuntime` hook
/// that asks for the container's state gets it, `creating`, instead of
/// waiting on the lock its own `create` holds until the hook's timeout.
#[test]
fn a_create_hook_can_ask_for_the_state() {
    let Some(b) = require("a_create_hook_can_ask_for_the_state") else {
        return;
    };
    let seen = b.dir.join("hook-state.json");
    let id = b.id("hookstate");
    let cmd = format!(
        "{BIN} --root {} state {id} > {}",
        b.root.display(),
        seen.display()
    );
    b.config(|c| {
        c["process"]["args"] = b.args(&["true"]);
        c["hooks"] = serde_json::json!({"createRuntime": [
            {"path": "/bin/sh", "args": ["sh", "-c", cmd], "timeout": 20}
        ]});
    });
    let t = std::time::Instant::now();
    b.ok(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&seen).unwrap_or_default()).unwrap_or_default();
    assert_eq!(
        v["status"],
        "creating",
        "the hook saw {v} ({:?})",
        t.elapsed()
    );
    assert_eq!(v["id"], id.as_str());
    assert_eq!(b.state(&id)["pid"], v["pid"]);
    b.ok(&["delete", "--force", &id]);
    assert!(!b.root.join(&id).exists(), "state left behind");
}
