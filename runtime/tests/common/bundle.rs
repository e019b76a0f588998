//! A busybox OCI bundle with a state root of the test's own, removed on
//! drop (the OCI config and cgroup join tests).

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use super::BIN;

static N: AtomicU32 = AtomicU32::new(0);

/// A busybox bundle and a state root of this test's own, removed on drop
/// (containers deleted with --force first).
pub struct Bundle {
    /// The bundle directory (config.json, rootfs/, state/).
    pub dir: PathBuf,
    /// The id prefix of this test file.
    tag: &'static str,
    ids: std::cell::RefCell<Vec<String>>,
}

/// A bundle from `contrun spec` with a busybox root, for `test`; ids
/// start with `tag`. `None` (skipped, with the reason) without root or
/// busybox-static.
pub fn bundle(test: &str, tag: &'static str) -> Option<Bundle> {
    let skip = |why: &str| {
        if std::env::var_os("CONTAINMENT_NO_SKIP").is_some_and(|v| v != "0") {
            panic!("{test}: would be skipped, but CONTAINMENT_NO_SKIP is set: {why}");
        }
        eprintln!("SKIPPED {test}: {why}");
    };
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        skip("needs root");
        return None;
    }
    let Some(bb) = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
    else {
        skip("busybox-static is not installed");
        return None;
    };
    let dir = std::env::temp_dir().join(format!(
        "contrun-{tag}-{}-{}-{test}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let bin = dir.join("rootfs/bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(&bb, bin.join("busybox")).unwrap();
    let list = Command::new(&bb).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        let _ = std::os::unix::fs::symlink("busybox", bin.join(applet));
    }
    for d in ["proc", "dev", "sys", "tmp", "mnt"] {
        std::fs::create_dir_all(dir.join("rootfs").join(d)).unwrap();
    }
    let b = Bundle {
        dir,
        tag,
        ids: Default::default(),
    };
    b.ok(&["spec", "--bundle", b.dir.to_str().unwrap()]);
    Some(b)
}

impl Bundle {
    /// A container id of this bundle, deleted on drop.
    pub fn id(&self, name: &str) -> String {
        let id = format!("{}-{}-{name}", self.tag, std::process::id());
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// Edits config.json.
    pub fn config(&self, f: impl FnOnce(&mut serde_json::Value)) {
        let p = self.dir.join("config.json");
        let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        f(&mut v);
        std::fs::write(&p, v.to_string()).unwrap();
    }

    /// Runs contrun with its output in files (a container inherits them).
    pub fn run(&self, args: &[&str]) -> Output {
        let n = N.fetch_add(1, Ordering::Relaxed);
        let (o, e) = (
            self.dir.join(format!("out{n}")),
            self.dir.join(format!("err{n}")),
        );
        let status = Command::new(BIN)
            .arg("--root")
            .arg(self.dir.join("state"))
            .args(args)
            .current_dir(&self.dir)
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

    /// `run`, asserting success: its stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "contrun {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `run` of the bundle with `script` as the process: its output.
    pub fn script(&self, name: &str, script: &str) -> Output {
        self.config(|c| c["process"]["args"] = serde_json::json!(["sh", "-c", script]));
        let id = self.id(name);
        self.run(&["run", "--bundle", self.dir.to_str().unwrap(), &id])
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
