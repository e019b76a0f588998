//! A `contrun spec` bundle with a busybox root and a state root of the
//! test's own; the containers it named are deleted (`--force`) on drop,
//! the directory removed with its `TempDir`.

use std::path::PathBuf;
use std::process::Command;

use super::{busybox, busybox_root, contrun, root, unique, TempDir, BIN};

/// The bundle (`dir`), its state root (`root`) and the ids made.
pub struct Setup {
    /// The bundle directory: config.json and rootfs/.
    pub dir: TempDir,
    /// contrun's `--root`.
    pub root: PathBuf,
    ids: Vec<String>,
}

impl Setup {
    /// The bundle's path, for `--bundle`.
    pub fn bundle(&self) -> String {
        self.dir.path().to_str().unwrap().to_string()
    }

    /// Edits config.json.
    pub fn config(&self, f: impl FnOnce(&mut serde_json::Value)) {
        let p = self.dir.path().join("config.json");
        let mut c: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        f(&mut c);
        std::fs::write(&p, c.to_string()).unwrap();
    }

    /// A unique container id from `tag`, deleted on drop.
    pub fn id(&mut self, tag: &str) -> String {
        let id = unique(tag);
        self.ids.push(id.clone());
        id
    }

    /// The container's state.json.
    pub fn state_file(&self, id: &str) -> PathBuf {
        self.root.join(id).join("state.json")
    }

    /// Edits the container's state.json (as a tampering attacker would).
    pub fn edit_state(&self, id: &str, f: impl FnOnce(&mut serde_json::Value)) {
        let p = self.state_file(id);
        let mut s: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        f(&mut s);
        std::fs::write(&p, s.to_string()).unwrap();
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        for id in &self.ids {
            let _ = contrun(&self.root, &["delete", "--force", id]);
        }
    }
}

/// A [`Setup`] for `test` in a temporary directory named from `tag`;
/// `None` (skipped, with the reason) without root or busybox-static.
pub fn setup(test: &str, tag: &str) -> Option<Setup> {
    if !root(test) {
        return None;
    }
    let bb = busybox(test)?;
    let dir = TempDir::new(tag);
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
