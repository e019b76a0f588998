//! The `docker run`-like example (`examples/run.rs`) as a user runs it: the
//! built binary in a busybox root; checks the hostname, PID 1, the root, the
//! network namespace, the cgroup (made and removed), and the exit statuses.

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::TempDir;

/// A busybox root (every applet) under `dir/root`, with `/etc/marker`.
fn busybox_root(dir: &Path) -> PathBuf {
    let root = common::busybox::root(dir);
    std::fs::write(root.join("etc/marker"), b"inside\n").unwrap();
    root
}

fn run(args: &[&str]) -> Output {
    Command::new(common::example::run_binary())
        .args(args)
        .output()
        .expect("running the example")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn run_example_in_busybox_root() {
    require_root!();
    let tmp = TempDir::new("fixture");
    let root = busybox_root(&tmp.0);
    let root = root.to_str().unwrap();
    let mounts_before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let o = run(&[
        "--rootfs",
        root,
        "--hostname",
        "box",
        "--rm",
        "--",
        "/bin/sh",
        "-c",
        "hostname; echo $$; cat /etc/marker; ls /proc/1/exe >/dev/null && echo proc; \
         test -c /dev/null && echo dev; \
         tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '; \
         grep '^0::' /proc/self/cgroup; exit 7",
    ]);
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        o.status.code(),
        Some(7),
        "the exit status is the program's\nstdout {out}\nstderr {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(lines.first(), Some(&"box"), "hostname: {out}");
    assert_eq!(lines.get(1), Some(&"1"), "the program is PID 1: {out}");
    assert_eq!(
        lines.get(2),
        Some(&"inside"),
        "the root is the fixture: {out}"
    );
    assert_eq!(lines.get(3), Some(&"proc"), "a fresh /proc: {out}");
    assert_eq!(lines.get(4), Some(&"dev"), "a minimal /dev: {out}");
    assert_eq!(lines.get(5), Some(&"lo"), "only lo in a new netns: {out}");
    let cg = lines
        .get(6)
        .and_then(|l| l.strip_prefix("0::"))
        .unwrap_or_else(|| panic!("cgroup line: {out}"));
    assert!(cg.contains("containment-run-"), "own cgroup: {out}");
    // The cgroup is gone, and no mount was left on the host.
    if let Ok(h) = containment::cgroup::Hierarchy::detect() {
        if let Some(m) = h.mount_point() {
            let p = m.join(cg.trim_start_matches('/'));
            assert!(!p.exists(), "{} left behind", p.display());
        }
    }
    assert_eq!(
        std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .count(),
        mounts_before.lines().count(),
        "a mount was left on the host"
    );
}

#[test]
fn run_example_statuses_and_init() {
    require_root!();
    let tmp = TempDir::new("status");
    let root = busybox_root(&tmp.0);
    let root = root.to_str().unwrap();
    // --init: the program is PID 2 under the init, its status passes through.
    let o = run(&[
        "--rootfs",
        root,
        "--init",
        "--",
        "sh",
        "-c",
        "echo $$; exit 3",
    ]);
    assert_eq!(o.status.code(), Some(3), "{o:?}");
    assert_eq!(stdout(&o).trim(), "2", "{o:?}");
    // Killed by a signal: 128 + N (the shell is PID 2 under the init, so a
    // SIGKILL to itself is not ignored as it would be for a PID 1).
    let o = run(&["--rootfs", root, "--init", "--", "sh", "-c", "kill -9 $$"]);
    assert_eq!(o.status.code(), Some(128 + 9), "{o:?}");
    // Not found: 127; a setup error (bad flag value): 125.
    let o = run(&["--rootfs", root, "--", "no-such-program"]);
    assert_eq!(o.status.code(), Some(127), "{o:?}");
    let o = run(&["--rootfs", root, "--memory", "lots", "--", "true"]);
    assert_eq!(o.status.code(), Some(125), "{o:?}");
    // --net host keeps the host's interfaces; the environment is passed.
    let o = run(&[
        "--rootfs",
        root,
        "--net",
        "host",
        "-e",
        "FOO=bar",
        "--",
        "sh",
        "-c",
        "echo $FOO; tail -n +3 /proc/net/dev | wc -l",
    ]);
    assert!(o.status.success(), "{o:?}");
    let out = stdout(&o);
    let mut l = out.lines();
    assert_eq!(l.next(), Some("bar"));
    let host_ifaces = std::fs::read_to_string("/proc/net/dev")
        .unwrap()
        .lines()
        .count()
        - 2;
    assert_eq!(l.next(), Some(host_ifaces.to_string().as_str()), "{out}");
}

#[test]
fn run_example_forwards_sigterm_to_the_program() {
    require_root!();
    use std::io::BufRead;
    let Some(parent) = common::TestCgroup::new("containment-test-run") else {
        return common::skip(
            "run_example_forwards_sigterm_to_the_program",
            "no cgroup2 mount",
        );
    };
    let tmp = TempDir::new("signal");
    let root = busybox_root(&tmp.0);
    /// Kills `run` (and with it the container: die_with_parent) if the
    /// test fails before it ended.
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    // --init: PID 1 forwards to the shell (PID 2), which traps SIGTERM. Its
    // own cgroup parent: a `run` killed by the guard cannot remove its cgroup.
    let c = Command::new(common::example::run_binary())
        .args([
            "--rootfs",
            root.to_str().unwrap(),
            "--cgroup-parent",
            parent.0.to_str().unwrap(),
            "--init",
            "--",
            "sh",
            "-c",
            "trap 'exit 42' TERM; echo ready; while :; do sleep 0.05; done",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut c = Reap(c);
    let mut line = String::new();
    std::io::BufReader::new(c.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "ready\n");
    // The program is running, `run` may still be finishing its spawn: the
    // signal is held until the handler is in place, then forwarded.
    // SAFETY: a signal to our own child, not yet reaped.
    assert_eq!(unsafe { libc::kill(c.0.id() as i32, libc::SIGTERM) }, 0);
    let st = c.0.wait().unwrap();
    assert_eq!(st.code(), Some(42), "{st:?}");
}

#[test]
fn run_example_container_dies_with_run() {
    require_root!();
    use std::io::BufRead;
    let Some(parent) = common::TestCgroup::new("containment-test-run") else {
        return common::skip("run_example_container_dies_with_run", "no cgroup2 mount");
    };
    let tmp = TempDir::new("parent-death");
    let root = busybox_root(&tmp.0);
    let mut c = Command::new(common::example::run_binary())
        .args([
            "--rootfs",
            root.to_str().unwrap(),
            "--cgroup-parent",
            parent.0.to_str().unwrap(),
            "--",
            "sh",
            "-c",
            "echo ready; exec sleep 600",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    let mut out = std::io::BufReader::new(c.stdout.take().unwrap());
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    c.kill().unwrap();
    c.wait().unwrap();
    // The container's only process got SIGKILL from its parent's death:
    // its stdout closes.
    line.clear();
    assert_eq!(out.read_line(&mut line).unwrap(), 0, "{line}");
}

/// An OCI image layout of one layer (the busybox root, packed by the `tar`
/// crate) whose config says what to run.
#[cfg(feature = "image")]
fn busybox_layout(dir: &Path) -> PathBuf {
    use sha2::{Digest, Sha256};
    let root = busybox_root(dir);
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("srv")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root.join("srv"), std::fs::Permissions::from_mode(0o777)).unwrap();
    let mut tb = tar::Builder::new(Vec::new());
    tb.follow_symlinks(false);
    tb.append_dir_all(".", &root).unwrap();
    let layer = tb.into_inner().unwrap();
    let hex = |b: &[u8]| -> String {
        Sha256::digest(b)
            .iter()
            .map(|x| format!("{x:02x}"))
            .collect()
    };
    let layout = dir.join("oci");
    std::fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    let put = |b: &[u8], mt: &str| {
        std::fs::write(layout.join("blobs/sha256").join(hex(b)), b).unwrap();
        serde_json::json!({"mediaType": mt, "digest": format!("sha256:{}", hex(b)), "size": b.len()})
    };
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": ["/bin/sh", "-c"], "Cmd": ["echo \"default $(id -u) $(pwd) $MSG\""],
                   "Env": ["MSG=from-image"], "WorkingDir": "/srv", "User": "app"},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{}", hex(&layer))]},
    });
    let c = put(
        &serde_json::to_vec(&config).unwrap(),
        "application/vnd.oci.image.config.v1+json",
    );
    let l = put(&layer, "application/vnd.oci.image.layer.v1.tar");
    let m = serde_json::to_vec(
        &serde_json::json!({"schemaVersion": 2, "config": c, "layers": [l],
        "mediaType": "application/vnd.oci.image.manifest.v1+json"}),
    )
    .unwrap();
    let mut m = put(&m, "application/vnd.oci.image.manifest.v1+json");
    m["annotations"] = serde_json::json!({"org.opencontainers.image.ref.name": "latest"});
    std::fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&serde_json::json!({"schemaVersion": 2, "manifests": [m]})).unwrap(),
    )
    .unwrap();
    std::fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    layout
}

#[cfg(feature = "image")]
#[test]
fn run_example_with_an_image() {
    require_root!();
    let tmp = TempDir::new("image");
    let layout = busybox_layout(&tmp.0);
    let image = format!("{}:latest", layout.display());
    let store = tmp.0.join("store");
    let store_arg = store.to_str().unwrap();
    let check = |o: &Output, want: &str| {
        assert_eq!(
            (o.status.code(), stdout(o).as_str()),
            (Some(0), want),
            "stderr {}",
            String::from_utf8_lossy(&o.stderr)
        );
    };
    // The config's Entrypoint + Cmd, Env, WorkingDir and User.
    let o = run(&["--rm", "--image", &image, "--store", store_arg]);
    check(&o, "default 1000 /srv from-image\n");
    // Arguments replace Cmd; -e wins over Env; a write stays in this
    // container's layer, which --rm removes.
    let o = run(&[
        "--rm",
        "--image",
        &image,
        "--store",
        store_arg,
        "-e",
        "MSG=mine",
        "--",
        "echo $MSG > /srv/w; cat /srv/w",
    ]);
    check(&o, "mine\n");
    let o = run(&[
        "--rm",
        "--image",
        &image,
        "--store",
        store_arg,
        "--",
        "test -e /srv/w || echo clean",
    ]);
    check(&o, "clean\n");
    assert_eq!(
        std::fs::read_dir(store.join("layers")).unwrap().count(),
        1,
        "one layer, unpacked once"
    );
    assert_eq!(
        std::fs::read_dir(store.join("containers")).unwrap().count(),
        0,
        "--rm removed the layers"
    );
    // Without --rm the writable layer is kept, as docker keeps the container.
    let o = run(&[
        "--image",
        &image,
        "--store",
        store_arg,
        "--",
        "echo kept > /srv/k",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let kept: Vec<_> = std::fs::read_dir(store.join("containers"))
        .unwrap()
        .collect();
    assert_eq!(kept.len(), 1);
    let dir = kept[0].as_ref().unwrap().path();
    assert_eq!(std::fs::read(dir.join("upper/srv/k")).unwrap(), b"kept\n");
    assert!(String::from_utf8_lossy(&o.stderr).contains("container layer kept in"));
    // A reference the layout lacks: docker's 125.
    let o = run(&[
        "--rm",
        "--image",
        &format!("{}:nope", layout.display()),
        "--store",
        store_arg,
    ]);
    assert_eq!(o.status.code(), Some(125));
}
