//! The `run` example's binary and a tmux server of the test's own, for the
//! tests that drive the example (on a terminal too).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The example's binary, built (or found up to date) by the cargo that runs
/// this test, in the same target directory and profile and with the same
/// features: cargo has released its lock by the time tests run, so the nested
/// build is a no-op after `cargo test` and a short build after `cargo test
/// --test run_example`. Done once per test binary.
pub fn run_binary() -> PathBuf {
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
        if cfg!(feature = "image") {
            features.push("image");
        }
        if cfg!(feature = "pull") {
            features.push("pull");
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

/// A tmux server of our own (`-L` socket name), killed on drop.
pub struct Tmux {
    /// The `-L` socket name (make it unique).
    pub socket: String,
}

impl Tmux {
    /// Runs a tmux command on our server; its stdout (asserting success).
    pub fn cmd(&self, args: &[&str]) -> String {
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

    /// The pane `t`, as text.
    pub fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-t", "t"])
    }

    /// `send-keys` to the pane `t`.
    pub fn keys(&self, keys: &[&str]) {
        let mut a = vec!["send-keys", "-t", "t"];
        a.extend_from_slice(keys);
        self.cmd(&a);
    }

    /// Polls the pane until `pred` holds (the generous deadline only stops
    /// a broken run; nothing here waits for a fixed time).
    pub fn wait_for(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + Duration::from_secs(300);
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(Instant::now() < end, "waiting for {what}; the pane:\n{s}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `line` in the shell and returns the pane's lines after it,
    /// up to the marker `line` echoes last.
    pub fn run(&self, line: &str, marker: &str) -> Vec<String> {
        self.keys(&[&format!("{line}; echo {marker}"), "Enter"]);
        let s = self.wait_for(marker, |s| s.lines().any(|l| l.trim_end() == marker));
        let lines: Vec<String> = s.lines().map(|l| l.trim_end().to_string()).collect();
        let end = lines.iter().rposition(|l| l == marker).unwrap();
        let start = lines[..end]
            .iter()
            .rposition(|l| l.contains(&format!("echo {marker}")))
            .unwrap();
        lines[start + 1..end].to_vec()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}
