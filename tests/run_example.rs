//! The `docker run`-like example (`examples/run.rs`) as a user runs it: the
//! built binary in a busybox root; checks the hostname, PID 1, the root, the
//! network namespace, the cgroup (made and removed), and the exit statuses.

#[macro_use]
mod common;

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A temporary directory removed on drop (also when the test panics).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(common::unique(&format!("containment-run-{tag}")));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A busybox root: /bin/busybox with every applet linked, /etc/marker, and
/// empty /proc, /dev, /sys, /tmp.
fn busybox_root(dir: &Path) -> PathBuf {
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("busybox-static is not installed (apt-get install busybox-static)");
    let root = dir.join("root");
    for d in ["bin", "etc", "tmp", "proc", "dev", "sys"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(&busybox, root.join("bin/busybox")).unwrap();
    let list = Command::new(&busybox).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            let _ = symlink("busybox", root.join("bin").join(applet));
        }
    }
    std::fs::write(root.join("etc/marker"), b"inside\n").unwrap();
    root
}

/// The example's binary, built (or found up to date) by the cargo that runs
/// this test, in the same target directory and profile and with the same
/// features: cargo has released its lock by the time tests run, so the nested
/// build is a no-op after `cargo test` and a short build after `cargo test
/// --test run_example`. Done once per test binary.
fn example() -> PathBuf {
    static PATH: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    PATH.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        // <target>/<profile>/deps/run_example-<hash>
        let profile_dir = exe.parent().and_then(Path::parent).unwrap();
        let target = profile_dir.parent().unwrap();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut c = Command::new(cargo);
        c.args(["build", "--quiet", "--example", "run", "--manifest-path"])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .arg("--target-dir")
            .arg(target);
        if !cfg!(debug_assertions) {
            c.arg("--release");
        }
        let mut features = Vec::new();
        if cfg!(feature = "seccomp") {
            features.push("seccomp");
        }
        if cfg!(feature = "landlock") {
            features.push("landlock");
        }
        if cfg!(feature = "netlink") {
            features.push("netlink");
        }
        if cfg!(feature = "tokio") {
            features.push("tokio");
        }
        if cfg!(feature = "vm-tests") {
            features.push("vm-tests");
        }
        c.arg("--no-default-features");
        if !features.is_empty() {
            c.arg("--features").arg(features.join(","));
        }
        let st = c.status().expect("running cargo build --example run");
        assert!(st.success(), "cargo build --example run failed: {st}");
        let p = profile_dir.join("examples/run");
        assert!(p.exists(), "{} missing after the build", p.display());
        p
    })
    .clone()
}

fn run(args: &[&str]) -> Output {
    Command::new(example())
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
    let c = Command::new(example())
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
    let mut c = Command::new(example())
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
