//! Real engines drive contrun (Debian's podman, dockerd, containerd + ctr),
//! each started here with private state under a temp dir, offline, on no
//! network (loopback only / `--network none`), with an image made here
//! from busybox-static (`podman import`, `docker import`, `ctr images
//! import` of an OCI archive written by the test). For each engine:
//!
//! 1. a run with output and its exit status propagated;
//! 2. a detached run, an exec in it (output and status), ps, kill, rm;
//! 3. an interactive `-it` shell in a tmux pane (send-keys /
//!    capture-pane): `tty`, the window size, a command, the exit status;
//! 4. afterwards nothing left: no process, no cgroup with the test's tag,
//!    no mount under the temp dir, no state directory; the daemons are
//!    stopped by pid.
//!
//! contrun is called through a wrapper that logs every command line, so
//! the test also shows that the engine ran contrun (not runc) and how.
//! Needs root; skips (a failure under `CONTAINMENT_NO_SKIP=1`) when an
//! engine's package is missing (`cargo xtask test` installs them).

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// One engine's world: the temp dir, the tag in every cgroup and name, the
/// contrun wrapper, and what to undo.
struct World {
    /// One engine at a time: they share host paths (/run/containerd/s
    /// holds every runc shim's socket, docker's too), and "did it exist
    /// before" must be answered while no other engine test runs.
    _serial: std::sync::MutexGuard<'static, ()>,
    dir: TempDir,
    tag: String,
    wrapper: PathBuf,
    /// Daemons to stop (SIGTERM, then SIGKILL), in this order.
    daemons: Vec<i32>,
    /// Host paths the engine creates when missing: removed afterwards if
    /// they did not exist before (files, or directories when empty).
    host_paths: Vec<(PathBuf, bool)>,
}

impl World {
    fn new(engine: &str, host_paths: &[&str]) -> World {
        static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        let tag = unique(&format!("ctreng{engine}"));
        let dir = TempDir::new(&tag);
        let wrapper = dir.path().join("contrun");
        let log = dir.path().join("calls.log");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\n{BIN} \"$@\"\nrc=$?\necho \"$* => $rc\" >> {log}\nexit $rc\n",
                log = log.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
        let host_paths = host_paths
            .iter()
            .map(|p| (PathBuf::from(p), Path::new(p).exists()))
            .collect();
        World {
            _serial: serial,
            dir,
            tag,
            wrapper,
            daemons: Vec::new(),
            host_paths,
        }
    }

    fn path(&self, p: &str) -> PathBuf {
        self.dir.path().join(p)
    }

    /// The command lines contrun was called with.
    fn calls(&self) -> String {
        std::fs::read_to_string(self.path("calls.log")).unwrap_or_default()
    }

    /// A busybox root as a tar (rootfs/ and rootfs.tar in the temp dir).
    fn rootfs_tar(&self, busybox: &Path) -> PathBuf {
        let root = self.path("rootfs");
        busybox_root(busybox, &root);
        let tar = self.path("rootfs.tar");
        let st = Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(st.success());
        tar
    }

    /// Runs `cmd` to the end with its output in files (a container it
    /// starts may inherit them), killing it after a generous deadline.
    fn run(&self, cmd: &mut Command) -> (i32, String, String) {
        let (o, e) = (self.path(&unique("out")), self.path(&unique("err")));
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&o).unwrap())
            .stderr(std::fs::File::create(&e).unwrap())
            .spawn()
            .unwrap_or_else(|err| panic!("{cmd:?}: {err}"));
        let end = Instant::now() + Duration::from_secs(180);
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > end {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "{cmd:?} did not finish; stderr: {}",
                    std::fs::read_to_string(&e).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let out = std::fs::read_to_string(&o).unwrap_or_default();
        let err = std::fs::read_to_string(&e).unwrap_or_default();
        let _ = std::fs::remove_file(&o);
        let _ = std::fs::remove_file(&e);
        (status.code().unwrap_or(-1), out, err)
    }

    /// `run`, asserting success; returns stdout.
    fn ok(&self, cmd: &mut Command) -> String {
        let what = format!("{cmd:?}");
        let (code, out, err) = self.run(cmd);
        assert_eq!(
            code,
            0,
            "{what}: exit {code}\nstdout: {out}\nstderr: {err}\ncontrun calls:\n{}",
            self.calls()
        );
        out
    }

    /// Starts a daemon (output to a log in the temp dir) and keeps its pid.
    fn daemon(&mut self, cmd: &mut Command, log: &str) -> i32 {
        let f = std::fs::File::create(self.path(log)).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(f.try_clone().unwrap())
            .stderr(f)
            .spawn()
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        let pid = child.id() as i32;
        // Reaped in stop() (waitpid on its pid); the handle is dropped.
        std::mem::forget(child);
        self.daemons.push(pid);
        pid
    }

    /// An interactive session in a tmux pane (100x30) running `script`.
    fn tmux(&self, script: &str) -> Tmux {
        let path = self.path(&unique("session.sh"));
        std::fs::write(
            &path,
            format!("#!/bin/sh\n{script}\necho EXITED=$?\nsleep 600\n"),
        )
        .unwrap();
        let t = Tmux {
            socket: unique("contrun-eng"),
        };
        t.cmd(&[
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            "100",
            "-y",
            "30",
            &format!("sh {}", path.display()),
        ]);
        t
    }

    /// Stops everything (daemons by pid, stray processes of our cgroups),
    /// unmounts what is left under the temp dir, removes our cgroups and
    /// the host paths the engine made. Returns what could not be removed.
    fn stop(&mut self) -> Vec<String> {
        for &pid in &self.daemons {
            // SAFETY: kill on a pid we started (and have not reaped yet,
            // so it cannot have been reused).
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        for &pid in &self.daemons {
            let end = Instant::now() + Duration::from_secs(30);
            loop {
                let mut st = 0;
                // SAFETY: waitpid on our own child.
                let r = unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
                if r != 0 {
                    break;
                }
                if Instant::now() > end {
                    // SAFETY: as above.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    // SAFETY: as above.
                    unsafe { libc::waitpid(pid, &mut st, 0) };
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        self.daemons.clear();
        let mut left = Vec::new();
        // Processes that still name our dir (shims, conmon: given a moment
        // to finish exiting) or sit in our cgroups (containers).
        let needle = self.dir.path().to_string_lossy().into_owned();
        let end = Instant::now() + Duration::from_secs(10);
        while !processes_mentioning(&needle).is_empty() && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(50));
        }
        for (pid, cmd) in processes_mentioning(&needle) {
            left.push(format!("process {pid}: {cmd}"));
            // SAFETY: kill with integer arguments; a process of ours.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let mut cgs = cgroups_named(&self.tag);
        cgs.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        for cg in &cgs {
            if let Ok(procs) = std::fs::read_to_string(cg.join("cgroup.procs")) {
                for p in procs.lines().filter_map(|l| l.parse::<i32>().ok()) {
                    left.push(format!("process {p} in {}", cg.display()));
                    // SAFETY: kill with integer arguments; a process in
                    // our own cgroup.
                    unsafe { libc::kill(p, libc::SIGKILL) };
                }
            }
        }
        for cg in &cgs {
            let end = Instant::now() + Duration::from_secs(10);
            while std::fs::remove_dir(cg).is_err() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let mut ms = mounts_under(self.dir.path());
        ms.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in ms {
            left.push(format!("mount {m}"));
            if let Ok(c) = std::ffi::CString::new(m) {
                // SAFETY: a NUL-terminated path under our own temp dir.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
        // The runtime state dir of our containerd namespace is ours
        // whatever is in it (a failed run leaves its containers there).
        for (p, existed) in &self.host_paths {
            if !existed && p.starts_with("/run/containerd/runc/") {
                let _ = std::fs::remove_dir_all(p);
            }
        }
        // Deepest first, so a parent is empty when its turn comes.
        for (p, existed) in self.host_paths.iter().rev() {
            if !existed {
                if p.is_dir() {
                    let _ = std::fs::remove_dir(p);
                } else {
                    let _ = std::fs::remove_file(p);
                }
            }
        }
        left
    }

    /// Stops everything and asserts nothing of ours is left.
    fn finish(mut self) {
        eprintln!("contrun was called as:\n{}", self.calls());
        let left = self.stop();
        assert!(
            left.is_empty(),
            "left behind after the engine stopped: {left:#?}"
        );
        let cgs = cgroups_named(&self.tag);
        assert!(cgs.is_empty(), "cgroups left: {cgs:?}");
        assert!(mounts_under(self.dir.path()).is_empty());
        let dir = self.dir.path().to_path_buf();
        let tag = self.tag.clone();
        drop(self);
        assert!(!dir.exists(), "{} left", dir.display());
        assert!(processes_mentioning(&tag).is_empty());
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.stop();
        // The dir may hold read-only or immutable-looking trees (vfs
        // layers): TempDir removes it; try once more after unmounting.
    }
}

/// A tmux server of our own (`-L` socket), killed on drop.
struct Tmux {
    socket: String,
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> String {
        let o = Command::new("tmux")
            .args(["-L", &self.socket, "-f", "/dev/null"])
            .args(args)
            .output()
            .expect("running tmux");
        assert!(
            o.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-t", "t"])
    }

    fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + Duration::from_secs(120);
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(Instant::now() < end, "waiting for {what}; the pane:\n{s}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The interactive checks: a prompt, `tty`, the pane's size, a
    /// command's output, and `exit 9` reported by the engine's client.
    fn session(&self) {
        self.wait_for("the shell's prompt", |s| s.contains("/ #"));
        self.cmd(&["send-keys", "-t", "t", "tty; echo $((6*7))x", "Enter"]);
        let s = self.wait_for("the command's output", |s| s.contains("42x"));
        assert!(
            s.contains("/dev/pts/"),
            "no terminal in the container:\n{s}"
        );
        // The pane's size: docker's client resizes the terminal through
        // the daemon after the start, so it may arrive a moment later.
        let mut sized = false;
        for i in 0..50 {
            let marker = format!("sz{}", 100 + i);
            self.cmd(&[
                "send-keys",
                "-t",
                "t",
                &format!("clear; stty size; echo sz$((100+{i}))"),
                "Enter",
            ]);
            let s = self.wait_for("stty size", |s| s.lines().any(|l| l.trim_end() == marker));
            if s.contains("30 100") {
                sized = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            sized,
            "the pane's size did not reach the container:\n{}",
            self.screen()
        );
        self.cmd(&["send-keys", "-t", "t", "exit 9", "Enter"]);
        self.wait_for("the exit status", |s| s.contains("EXITED=9"));
    }
}

/// Whether contrun was called with `command`.
fn called(w: &World, command: &str) -> bool {
    w.calls()
        .lines()
        .any(|l| l.split_whitespace().any(|a| a == command))
}

/// Root, busybox and tmux, or a skip.
fn basics(test: &str) -> Option<PathBuf> {
    if !root(test) {
        return None;
    }
    tool(test, &["/usr/bin/tmux"], "tmux")?;
    busybox(test)
}

#[test]
fn podman_runs_containers_with_contrun() {
    let test = "podman_runs_containers_with_contrun";
    let Some(bb) = basics(test) else { return };
    let Some(podman) = tool(test, &["/usr/bin/podman"], "podman") else {
        return;
    };
    let w = World::new("pm", &["/var/lib/containers", "/var/lib/containers/cache"]);
    let tar = w.rootfs_tar(&bb);
    let cgroup_parent = format!("/{}", w.tag);
    let base = |w: &World| -> Command {
        let mut c = Command::new(&podman);
        c.arg("--root")
            .arg(w.path("root"))
            .arg("--runroot")
            .arg(w.path("runroot"))
            .arg("--tmpdir")
            .arg(w.path("tmp"))
            .args(["--cgroup-manager", "cgroupfs", "--events-backend", "file"])
            .args(["--storage-driver", "vfs"])
            .arg("--runtime")
            .arg(&w.wrapper)
            // Keep podman off the host's containers.conf/registries.
            .env("CONTAINERS_CONF", w.path("containers.conf"))
            .env("CONTAINERS_REGISTRIES_CONF", w.path("registries.conf"));
        c
    };
    std::fs::write(w.path("containers.conf"), "").unwrap();
    std::fs::write(w.path("registries.conf"), "").unwrap();
    let run_flags = [
        "--network",
        "none",
        "--cgroup-parent",
        &cgroup_parent,
        // This machine refuses raising RLIMIT_NOFILE past the caller's
        // hard limit (podman's default is 1048576).
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
    ];
    w.ok(base(&w).arg("import").arg(&tar).arg("localhost/bb:1"));

    // 1. Output and exit status.
    let (code, out, err) = w.run(base(&w).args(["run", "--rm"]).args(run_flags).args([
        "localhost/bb:1",
        "sh",
        "-c",
        "echo hello from podman; exit 3",
    ]));
    assert_eq!(code, 3, "stdout {out}\nstderr {err}\ncalls:\n{}", w.calls());
    assert_eq!(out, "hello from podman\n");
    assert!(called(&w, "create"), "{}", w.calls());

    // 2. Detached, exec, ps, kill, rm.
    let name = format!("{}-d", w.tag);
    w.ok(base(&w)
        .args(["run", "-d", "--name", &name])
        .args(run_flags)
        .args(["localhost/bb:1", "sleep", "1000"]));
    let (code, out, _) = w.run(base(&w).args(["exec", &name, "sh", "-c", "echo in exec; exit 4"]));
    assert_eq!(
        (code, out.as_str()),
        (4, "in exec\n"),
        "calls:\n{}",
        w.calls()
    );
    let top = w.ok(base(&w).args(["top", &name]));
    assert!(top.contains("sleep 1000"), "{top}");
    w.ok(base(&w).args(["kill", &name]));
    let st = w.ok(base(&w).args(["wait", &name]));
    assert_eq!(st.trim(), "137");
    w.ok(base(&w).args(["rm", &name]));
    assert!(w.ok(base(&w).args(["ps", "-aq"])).trim().is_empty());

    // 3. Interactive.
    let script = format!(
        "CONTAINERS_CONF={conf} CONTAINERS_REGISTRIES_CONF={reg} {podman} --root {root} --runroot {runroot} \
         --tmpdir {tmp} --cgroup-manager cgroupfs --events-backend file --storage-driver vfs \
         --runtime {rt} run -it --rm {flags} localhost/bb:1 sh",
        conf = w.path("containers.conf").display(),
        reg = w.path("registries.conf").display(),
        podman = podman.display(),
        root = w.path("root").display(),
        runroot = w.path("runroot").display(),
        tmp = w.path("tmp").display(),
        rt = w.wrapper.display(),
        flags = run_flags.join(" "),
    );
    let t = w.tmux(&script);
    t.session();
    drop(t);
    assert!(w.ok(base(&w).args(["ps", "-aq"])).trim().is_empty());
    w.finish();
}

#[test]
fn containerd_runs_containers_with_contrun() {
    let test = "containerd_runs_containers_with_contrun";
    let Some(bb) = basics(test) else { return };
    let Some(containerd) = tool(test, &["/usr/bin/containerd"], "containerd") else {
        return;
    };
    let Some(ctr) = tool(test, &["/usr/bin/ctr"], "containerd") else {
        return;
    };
    let mut w = World::new("ctd", &[]);
    let ns = w.tag.clone();
    // The runc shim keeps the runtime's state in /run/containerd/runc/<ns>
    // and its sockets in /run/containerd/s (not configurable in 1.6).
    w.host_paths = [
        "/run/containerd".to_string(),
        "/run/containerd/s".to_string(),
        "/run/containerd/fifo".to_string(),
        "/run/containerd/runc".to_string(),
        format!("/run/containerd/runc/{ns}"),
    ]
    .iter()
    .map(|p| (PathBuf::from(p), Path::new(p).exists()))
    .collect();
    let tar = w.rootfs_tar(&bb);
    let sock = w.path("containerd.sock");
    std::fs::write(
        w.path("config.toml"),
        format!(
            "version = 2\nroot = \"{}\"\nstate = \"{}\"\n\
             disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n\
             [grpc]\n  address = \"{}\"\n[ttrpc]\n  address = \"{}.ttrpc\"\n\
             [debug]\n  address = \"\"\n[metrics]\n  address = \"\"\n",
            w.path("root").display(),
            w.path("state").display(),
            sock.display(),
            sock.display()
        ),
    )
    .unwrap();
    w.daemon(
        Command::new(&containerd)
            .arg("--config")
            .arg(w.path("config.toml")),
        "containerd.log",
    );
    let base = |_: &World| -> Command {
        let mut c = Command::new(&ctr);
        c.arg("--address").arg(&sock).args(["--namespace", &ns]);
        c
    };
    wait_for("containerd to answer", || {
        base(&w)
            .arg("version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()
            .filter(|s| s.success())
    });
    let archive = oci_archive(&w, &tar);
    w.ok(base(&w)
        .args(["images", "import", "--no-unpack=false"])
        .arg(&archive));
    let image = "localhost/bb:1";

    // 1. Output and exit status.
    let mut c = base(&w);
    c.args(["run", "--rm"]);
    add_rt(&mut c, &w);
    c.args([
        image,
        "c1",
        "sh",
        "-c",
        "echo hello from containerd; exit 3",
    ]);
    let (code, out, err) = w.run(&mut c);
    assert_eq!(code, 3, "stdout {out}\nstderr {err}\ncalls:\n{}", w.calls());
    assert_eq!(out, "hello from containerd\n");
    assert!(called(&w, "create"), "{}", w.calls());

    // 2. Detached, exec, ps, kill, rm.
    let mut c = base(&w);
    c.args(["run", "-d"]);
    add_rt(&mut c, &w);
    c.args([image, "d1", "sleep", "1000"]);
    w.ok(&mut c);
    let (code, out, _) = w.run(base(&w).args([
        "tasks",
        "exec",
        "--exec-id",
        "e1",
        "--fifo-dir",
        w.path("fifo").to_str().unwrap(),
        "d1",
        "sh",
        "-c",
        "echo in exec; exit 4",
    ]));
    assert_eq!(
        (code, out.as_str()),
        (4, "in exec\n"),
        "calls:\n{}",
        w.calls()
    );
    let ps = w.ok(base(&w).args(["tasks", "ps", "d1"]));
    assert_eq!(ps.lines().count(), 2, "{ps}");
    w.ok(base(&w).args(["tasks", "kill", "--signal", "KILL", "d1"]));
    wait_for("the task to stop", || {
        let ls = w.ok(base(&w).args(["tasks", "ls"]));
        ls.contains("STOPPED").then_some(())
    });
    w.ok(base(&w).args(["tasks", "rm", "d1"]));
    w.ok(base(&w).args(["containers", "rm", "d1"]));
    assert_eq!(w.ok(base(&w).args(["containers", "ls", "-q"])).trim(), "");

    // 3. Interactive.
    let mut script = format!(
        "{} --address {} --namespace {ns} run -t --rm --runtime io.containerd.runc.v2 \
         --runc-binary {} --fifo-dir {}",
        ctr.display(),
        sock.display(),
        w.wrapper.display(),
        w.path("fifo").display(),
    );
    script.push_str(&format!(" {image} i1 sh"));
    let t = w.tmux(&script);
    t.session();
    drop(t);
    assert_eq!(w.ok(base(&w).args(["containers", "ls", "-q"])).trim(), "");
    w.ok(base(&w).args(["images", "rm", image]));
    w.finish();
}

fn add_rt(c: &mut Command, w: &World) {
    c.args(["--runtime", "io.containerd.runc.v2", "--runc-binary"])
        .arg(&w.wrapper)
        .arg("--fifo-dir")
        .arg(w.path("fifo"));
    // The container's cgroup under a parent with our tag (ctr's default
    // is /<namespace>/<id>, which has the tag too).
}

/// An OCI image archive (oci-layout, index.json, blobs) of one
/// uncompressed layer, named `localhost/bb:1` for containerd.
fn oci_archive(w: &World, layer: &Path) -> PathBuf {
    let dir = w.path("oci");
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let blob = |bytes: &[u8]| -> (String, usize) {
        let tmp = w.path("blob.tmp");
        std::fs::write(&tmp, bytes).unwrap();
        let out = Command::new("sha256sum").arg(&tmp).output().unwrap();
        let hex = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        std::fs::rename(&tmp, blobs.join(&hex)).unwrap();
        (format!("sha256:{hex}"), bytes.len())
    };
    let (ld, ls) = blob(&std::fs::read(layer).unwrap());
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        a => a,
    };
    let config = serde_json::json!({
        "architecture": arch, "os": "linux",
        "config": {"Cmd": ["sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [ld]},
    });
    let (cd, cs) = blob(config.to_string().as_bytes());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cs},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": ld, "size": ls}],
    });
    let (md, ms) = blob(manifest.to_string().as_bytes());
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": ms,
            "annotations": {"io.containerd.image.name": "localhost/bb:1", "org.opencontainers.image.ref.name": "1"},
        }],
    });
    std::fs::write(dir.join("index.json"), index.to_string()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let archive = w.path("image.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&dir)
        .arg("-cf")
        .arg(&archive)
        .arg(".")
        .status()
        .unwrap();
    assert!(st.success());
    archive
}

#[test]
fn docker_runs_containers_with_contrun() {
    let test = "docker_runs_containers_with_contrun";
    let Some(bb) = basics(test) else { return };
    let Some(dockerd) = tool(
        test,
        &["/usr/sbin/dockerd", "/usr/bin/dockerd"],
        "docker.io",
    ) else {
        return;
    };
    // The package's client (another docker may be first on PATH).
    let Some(docker) = tool(test, &["/usr/bin/docker"], "docker.io") else {
        return;
    };
    let mut w = World::new(
        "dk",
        &[
            "/etc/docker",
            "/etc/docker/key.json",
            "/run/docker",
            "/run/docker/plugins",
            // Its containerd's runc shims put their sockets here.
            "/run/containerd",
            "/run/containerd/s",
        ],
    );
    let tar = w.rootfs_tar(&bb);
    let sock = w.path("docker.sock");
    // daemon.json registers the runtime (as a user would); nothing else
    // of the host's /etc/docker is read.
    std::fs::write(
        w.path("daemon.json"),
        serde_json::json!({"runtimes": {"contrun": {"path": w.wrapper}}}).to_string(),
    )
    .unwrap();
    w.daemon(
        Command::new(&dockerd)
            .arg("--config-file")
            .arg(w.path("daemon.json"))
            .arg("--data-root")
            .arg(w.path("data"))
            .arg("--exec-root")
            .arg(w.path("exec"))
            .arg("-H")
            .arg(format!("unix://{}", sock.display()))
            .arg("--pidfile")
            .arg(w.path("docker.pid"))
            .args(["--iptables=false", "--ip-forward=false", "--ip-masq=false"])
            .args(["--bridge=none", "--storage-driver=vfs"])
            .arg(format!("--cgroup-parent=/{}", w.tag)),
        "dockerd.log",
    );
    let base = |w: &World| -> Command {
        let mut c = Command::new(&docker);
        c.env("DOCKER_HOST", format!("unix://{}", sock.display()))
            .env("DOCKER_CONFIG", w.path("client"));
        c
    };
    wait_for("dockerd to answer", || {
        base(&w)
            .arg("version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()
            .filter(|s| s.success())
    });
    w.ok(base(&w).arg("import").arg(&tar).arg("bb:1"));
    let flags = ["--runtime", "contrun", "--network", "none"];

    // 1. Output and exit status.
    let (code, out, err) = w.run(base(&w).args(["run", "--rm"]).args(flags).args([
        "bb:1",
        "sh",
        "-c",
        "echo hello from docker; exit 3",
    ]));
    assert_eq!(code, 3, "stdout {out}\nstderr {err}\ncalls:\n{}", w.calls());
    assert_eq!(out, "hello from docker\n");
    assert!(called(&w, "create"), "{}", w.calls());

    // 2. Detached, exec, top, kill, rm.
    let name = format!("{}-d", w.tag);
    w.ok(base(&w)
        .args(["run", "-d", "--name", &name])
        .args(flags)
        .args(["bb:1", "sleep", "1000"]));
    let rt = w.ok(base(&w).args(["inspect", "-f", "{{.HostConfig.Runtime}}", &name]));
    assert_eq!(rt.trim(), "contrun");
    let (code, out, _) = w.run(base(&w).args(["exec", &name, "sh", "-c", "echo in exec; exit 4"]));
    assert_eq!(
        (code, out.as_str()),
        (4, "in exec\n"),
        "calls:\n{}",
        w.calls()
    );
    let top = w.ok(base(&w).args(["top", &name]));
    assert!(top.contains("sleep 1000"), "{top}");
    w.ok(base(&w).args(["kill", &name]));
    assert_eq!(w.ok(base(&w).args(["wait", &name])).trim(), "137");
    w.ok(base(&w).args(["rm", &name]));
    assert_eq!(w.ok(base(&w).args(["ps", "-aq"])).trim(), "");

    // 3. Interactive: `run -it`, then `exec -it` into a detached one.
    let script = format!(
        "DOCKER_HOST=unix://{} DOCKER_CONFIG={} {} run -it --rm {} bb:1 sh",
        sock.display(),
        w.path("client").display(),
        docker.display(),
        flags.join(" ")
    );
    let t = w.tmux(&script);
    t.session();
    drop(t);
    w.ok(base(&w)
        .args(["run", "-d", "--name", &name])
        .args(flags)
        .args(["bb:1", "sleep", "1000"]));
    let script = format!(
        "DOCKER_HOST=unix://{} DOCKER_CONFIG={} {} exec -it {name} sh",
        sock.display(),
        w.path("client").display(),
        docker.display(),
    );
    let t = w.tmux(&script);
    t.session();
    drop(t);
    w.ok(base(&w).args(["rm", "-f", &name]));
    assert_eq!(w.ok(base(&w).args(["ps", "-aq"])).trim(), "");
    w.ok(base(&w).args(["rmi", "bb:1"]));
    w.finish();
}
