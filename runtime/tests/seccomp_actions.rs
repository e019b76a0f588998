//! A seccomp profile with several actions (as docker's and podman's
//! default profiles have: allow, errno EPERM, errno ENOSYS for clone3):
//! each listed syscall gets its own action, the rest the default. Needs
//! root and busybox-static.

mod common;

use common::*;
use std::process::{Command, Stdio};

#[test]
fn each_syscall_gets_its_own_action() {
    let test = "each_syscall_gets_its_own_action";
    if !root(test) {
        return;
    }
    let Some(bb) = busybox(test) else { return };
    let dir = TempDir::new("contrun-seccomp");
    busybox_root(&bb, &dir.path().join("rootfs"));
    let st = Command::new(BIN)
        .args(["spec", "--bundle"])
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(st.success());
    let p = dir.path().join("config.json");
    let mut c: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    c["root"]["readonly"] = false.into();
    c["process"]["args"] = serde_json::json!([
        "sh", "-c",
        "mkdir /tmp/a; echo mkdir=$?; chmod 600 /tmp; echo chmod=$?; rmdir /tmp/none 2>/dev/null; echo rmdir=$?; echo alive"
    ]);
    c["linux"]["seccomp"] = serde_json::json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
            {"names": ["chmod", "fchmodat", "fchmodat2"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
            {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
        ],
    });
    std::fs::write(&p, c.to_string()).unwrap();
    let out = dir.path().join("out");
    let err = dir.path().join("err");
    let id = unique("seccomp");
    let status = Command::new(BIN)
        .arg("--root")
        .arg(dir.path().join("state"))
        .args(["run", "--bundle"])
        .arg(dir.path())
        .arg(&id)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .status()
        .unwrap();
    let out = std::fs::read_to_string(&out).unwrap();
    let err = std::fs::read_to_string(&err).unwrap();
    assert!(status.success(), "{out}\n{err}");
    // busybox prints strerror of what the kernel returned.
    assert!(err.contains("Function not implemented"), "mkdir: {err}");
    assert!(err.contains("Operation not permitted"), "chmod: {err}");
    assert!(out.contains("mkdir=1") && out.contains("chmod=1"), "{out}");
    // rmdir (not listed) takes the default (allow): ENOENT, not blocked.
    assert!(out.contains("rmdir=1") && out.contains("alive"), "{out}");
    assert!(!dir.path().join("rootfs/tmp/a").exists());
}
