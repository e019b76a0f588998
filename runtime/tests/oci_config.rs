//! contrun on the config.json fields of branch ocicfg: linux.devices,
//! namespaces joined by path, no mount namespace, per-mount propagation,
//! rootfsPropagation unbindable, a seccomp profile denying getcwd,
//! memory.kernel, and create without a process. Each asserts what the
//! kernel shows. Needs root and busybox-static; skips otherwise (a failure
//! with `CONTAINMENT_NO_SKIP=1`).

mod common;
use common::BIN;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

static N: AtomicU32 = AtomicU32::new(0);

use common::bundle::Bundle;

fn bundle(test: &str) -> Option<Bundle> {
    common::bundle::bundle(test, "ocicfg")
}

fn text(o: &Output) -> String {
    assert!(
        o.status.success(),
        "{:?}: {}",
        o.status,
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn devices_are_made_with_their_type_mode_and_owner() {
    let Some(b) = bundle("devices") else { return };
    b.config(|c| {
        c["linux"]["devices"] = serde_json::json!([
            {"path": "/dev/ocicfg-c", "type": "c", "major": 1, "minor": 3,
             "fileMode": 0o640, "uid": 1000, "gid": 1001},
            {"path": "/dev/ocicfg-b", "type": "b", "major": 7, "minor": 200, "fileMode": 0o600},
            {"path": "/dev/ocicfg-p", "type": "p", "fileMode": 0o620},
            {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o666}
        ]);
    });
    let out = text(&b.script(
        "devices",
        "stat -c '%F %t:%T %a %u:%g' /dev/ocicfg-c /dev/ocicfg-b /dev/ocicfg-p /dev/null",
    ));
    assert_eq!(
        out,
        "character special file 1:3 640 1000:1001\n\
         block special file 7:c8 600 0:0\n\
         fifo 0:0 620 0:0\n\
         character special file 1:3 666 0:0\n"
    );
    // The host's /dev/null kept its mode (the listed one is a new node).
    let host = std::fs::metadata("/dev/null").unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(host.permissions().mode() & 0o7777, 0o666);
}

/// `unshare` with `flags` running `sleep`, killed on drop.
struct Target(std::process::Child);

impl Target {
    fn ns(&self, name: &str) -> String {
        let own = std::fs::read_link(format!("/proc/self/ns/{name}")).unwrap();
        for _ in 0..1000 {
            let l = std::fs::read_link(format!("/proc/{}/ns/{name}", self.0.id())).unwrap();
            if l != own {
                return l.display().to_string();
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("unshare never entered a new {name} namespace");
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn namespaces_joined_by_path_are_the_targets() {
    let Some(b) = bundle("nspath") else { return };
    let t = Target(
        Command::new("unshare")
            .args(["--uts", "--net", "--fork", "--kill-child", "sleep", "1000"])
            .spawn()
            .unwrap(),
    );
    let (uts, net) = (t.ns("uts"), t.ns("net"));
    let pid = t.0.id();
    b.config(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        for n in ns.iter_mut() {
            match n["type"].as_str() {
                Some("uts") => n["path"] = format!("/proc/{pid}/ns/uts").into(),
                Some("network") => n["path"] = format!("/proc/{pid}/ns/net").into(),
                _ => {}
            }
        }
    });
    let out = text(&b.script(
        "nspath",
        "readlink /proc/self/ns/uts; readlink /proc/self/ns/net; hostname",
    ));
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[..2], [uts.as_str(), net.as_str()], "{out}");
    // The spec's hostname is set in the joined namespace.
    let h = Command::new("nsenter")
        .args(["-t", &pid.to_string(), "-u", "hostname"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&h.stdout).trim(), l[2]);

    // A path of the wrong kind is an error naming the field.
    b.config(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        for n in ns.iter_mut() {
            if n["type"] == "uts" {
                n["path"] = format!("/proc/{pid}/ns/net").into();
            }
        }
    });
    let o = b.script("nspath-wrong", "true");
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("linux.namespaces[") && err.contains("].path"),
        "{err}"
    );
}

#[test]
fn no_mount_namespace_shares_the_runtimes() {
    let Some(b) = bundle("nomnt") else { return };
    b.config(|c| {
        c["linux"]["namespaces"] = serde_json::json!([]);
        c["hostname"] = serde_json::Value::Null;
        c["process"]["args"] = serde_json::json!(["sleep", "1000"]);
    });
    let before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let id = b.id("nomnt");
    let out = b.run(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Each field not applied is named in a warning.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("mounts") && err.contains("linux.maskedPaths"),
        "{err}"
    );
    let st: serde_json::Value = serde_json::from_str(&b.ok(&["state", &id])).unwrap();
    let pid = st["pid"].as_i64().unwrap();
    for ns in ["mnt", "pid", "net", "uts", "ipc"] {
        assert_eq!(
            std::fs::read_link(format!("/proc/{pid}/ns/{ns}")).unwrap(),
            std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap(),
            "{ns}"
        );
    }
    // Its root is the bundle's rootfs (chroot), and no mount was made.
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/root")).unwrap(),
        b.dir.join("rootfs").canonicalize().unwrap()
    );
    assert_eq!(
        std::fs::read_to_string("/proc/self/mountinfo").unwrap(),
        before
    );
    assert_eq!(
        std::fs::read_dir(b.dir.join("rootfs/dev")).unwrap().count(),
        0
    );
    b.ok(&["delete", "--force", &id]);
}

#[test]
fn propagation_shows_in_mountinfo() {
    let Some(b) = bundle("prop") else { return };
    b.config(|c| {
        let m = c["mounts"].as_array_mut().unwrap();
        for (dest, opt) in [
            ("/mnt/s", "shared"),
            ("/mnt/u", "unbindable"),
            ("/mnt/p", "private"),
        ] {
            m.push(serde_json::json!({
                "destination": dest, "type": "tmpfs", "source": "tmpfs",
                "options": ["nosuid", opt]
            }));
        }
        c["linux"]["rootfsPropagation"] = "unbindable".into();
    });
    let out = text(&b.script(
        "prop",
        "awk '$5 == \"/\" || $5 ~ /^\\/mnt\\// { o = \"\"; for (i = 7; $i != \"-\"; i++) o = o \" \" $i; print $5 o }' /proc/self/mountinfo",
    ));
    let line = |m: &str| {
        out.lines()
            .find(|l| l.split(' ').next() == Some(m))
            .unwrap_or_else(|| panic!("{m}: {out}"))
    };
    assert!(line("/mnt/s").starts_with("/mnt/s shared:"), "{out}");
    assert_eq!(line("/mnt/u"), "/mnt/u unbindable", "{out}");
    assert_eq!(line("/mnt/p"), "/mnt/p", "{out}");
    assert_eq!(line("/"), "/ unbindable", "{out}");
}

#[test]
fn a_profile_denying_getcwd_applies_to_the_program() {
    let Some(b) = bundle("getcwd") else { return };
    b.config(|c| {
        c["process"]["noNewPrivileges"] = false.into();
        c["linux"]["seccomp"] = serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["getcwd"], "action": "SCMP_ACT_ERRNO"}]
        });
    });
    let out = text(&b.script("getcwd", "busybox pwd -P 2>&1; echo status $?"));
    assert!(out.ends_with("status 1\n"), "{out}");
}

#[test]
fn kernel_memory_is_ignored_with_a_warning() {
    let Some(b) = bundle("kmem") else { return };
    b.config(|c| {
        c["linux"]["resources"] = serde_json::json!({"memory": {"kernel": 1_073_741_824_i64}});
    });
    let out = b.script("kmem", "echo ran");
    assert_eq!(text(&out), "ran\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("linux.resources.memory.kernel"), "{err}");
}

#[test]
fn kernel_tcp_is_set_on_a_v1_memory_controller() {
    // crun and youki write memory.kernelTCP to
    // memory.kmem.tcp.limit_in_bytes, which cgroup v1 still enforces on
    // Linux 6.x (runtime-tools linux_cgroups_memory); it used to be dropped
    // with a warning.
    let Some(b) = bundle("kmemtcp") else { return };
    if !Path::new("/sys/fs/cgroup/memory/memory.kmem.tcp.limit_in_bytes").exists() {
        if std::env::var_os("CONTAINMENT_NO_SKIP").is_some_and(|v| v != "0") {
            panic!("kernel_tcp: no v1 memory hierarchy (CONTAINMENT_NO_SKIP is set)");
        }
        eprintln!("SKIPPED kernel_tcp: no v1 memory hierarchy");
        return;
    }
    let limit: i64 = 48 << 20;
    b.config(|c| {
        c["process"]["args"] = serde_json::json!(["sleep", "1000"]);
        c["linux"]["resources"] =
            serde_json::json!({"memory": {"limit": 64 << 20, "kernelTCP": limit}});
    });
    let id = b.id("kmemtcp");
    let out = b.run(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains("kernelTCP"), "a warning: {err}");
    let st: serde_json::Value = serde_json::from_str(&b.ok(&["state", &id])).unwrap();
    let pid = st["pid"].as_i64().unwrap();
    let mem = v1_dir(pid, "memory");
    assert_eq!(
        std::fs::read_to_string(mem.join("memory.kmem.tcp.limit_in_bytes")).unwrap(),
        format!("{limit}\n"),
        "{mem:?}"
    );
    b.ok(&["delete", "--force", &id]);

    // A negative value other than -1 is an error naming the field.
    b.config(|c| c["linux"]["resources"]["memory"]["kernelTCP"] = serde_json::json!(-2));
    let id = b.id("kmemtcp-bad");
    let out = b.run(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("linux.resources.memory.kernelTCP"), "{err}");
}

#[test]
fn without_a_process_create_succeeds_and_start_fails() {
    let Some(b) = bundle("noproc") else { return };
    let marker = b.dir.join("rootfs/tmp/ran");
    b.config(|c| {
        c.as_object_mut().unwrap().remove("process");
    });
    let id = b.id("noproc");
    b.ok(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    let st: serde_json::Value = serde_json::from_str(&b.ok(&["state", &id])).unwrap();
    assert_eq!(st["status"], "created");
    let pid = st["pid"].as_i64().unwrap();
    let out = b.run(&["start", &id]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("process"),
        "{out:?}"
    );
    // Stopped, with nothing run and no process left.
    let st: serde_json::Value = serde_json::from_str(&b.ok(&["state", &id])).unwrap();
    assert_eq!(st["status"], "stopped");
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists() || {
            let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            s.is_empty() || s.contains(") Z")
        }
    );
    assert!(!marker.exists());
    b.ok(&["delete", &id]);
}

/// The capability sets of `pid` as /proc shows them (CapBnd, CapEff).
fn cap_masks(pid: i64) -> (u64, u64) {
    let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let get = |k: &str| {
        st.lines()
            .find_map(|l| l.strip_prefix(k))
            .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
            .unwrap()
    };
    (get("CapBnd:"), get("CapEff:"))
}

#[test]
fn a_chroot_only_root_loses_cap_sys_chroot() {
    // With CAP_SYS_CHROOT a root entered by chroot(2) alone can be left
    // (chroot into a subdirectory, then `..`): contrun drops it, naming it,
    // for --no-pivot and for a container without a mount namespace, and
    // keeps it where the root is pivot_root'ed.
    let Some(b) = bundle("chrootcap") else { return };
    const SYS_CHROOT: u64 = 1 << 18;
    let caps = serde_json::json!(["CAP_SYS_CHROOT", "CAP_KILL"]);
    for (name, no_pivot, no_mnt) in [
        ("pivot", false, false),
        ("nopivot", true, false),
        ("nomnt", false, true),
    ] {
        b.config(|c| {
            for set in ["bounding", "effective", "permitted"] {
                c["process"]["capabilities"][set] = caps.clone();
            }
            c["process"]["args"] = serde_json::json!(["sleep", "1000"]);
            if no_mnt {
                c["linux"]["namespaces"] = serde_json::json!([]);
                c["hostname"] = serde_json::Value::Null;
            }
        });
        let id = b.id(name);
        let bundle = b.dir.to_str().unwrap().to_string();
        let mut args = vec!["create", "--bundle", &bundle];
        if no_pivot {
            args.push("--no-pivot");
        }
        args.push(&id);
        let out = b.run(&args);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let st: serde_json::Value = serde_json::from_str(&b.ok(&["state", &id])).unwrap();
        let (bnd, eff) = cap_masks(st["pid"].as_i64().unwrap());
        let warned = String::from_utf8_lossy(&out.stderr).contains("CAP_SYS_CHROOT");
        if no_pivot || no_mnt {
            assert_eq!(bnd & SYS_CHROOT, 0, "{name}: CapBnd {bnd:x}");
            assert_eq!(eff & SYS_CHROOT, 0, "{name}: CapEff {eff:x}");
            assert!(warned, "{name}: no warning");
        } else {
            assert_ne!(eff & SYS_CHROOT, 0, "{name}: CapEff {eff:x}");
            assert!(!warned, "{name}: a warning");
        }
        b.ok(&["delete", "--force", &id]);
    }
}

/// The directory of `pid`'s cgroup in the v1 hierarchy of `controller`.
fn v1_dir(pid: i64, controller: &str) -> PathBuf {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let path = text
        .lines()
        .find_map(|l| {
            let mut f = l.splitn(3, ':');
            let (_, ctl, p) = (f.next()?, f.next()?, f.next()?);
            ctl.split(',')
                .any(|c| c == controller)
                .then(|| p.to_string())
        })
        .unwrap_or_else(|| panic!("no {controller} line in {text}"));
    Path::new("/sys/fs/cgroup")
        .join(controller)
        .join(path.trim_start_matches('/'))
}

#[test]
fn update_and_events_on_a_running_container() {
    // runc's `update` (a linux.resources document on stdin, and docker's
    // flags) changes the limits the kernel shows; `events --stats` prints
    // runc's stats event.
    let Some(b) = bundle("update") else { return };
    if !Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists()
        || !Path::new("/sys/fs/cgroup/pids").exists()
    {
        // The v2 path is covered by the library's own VM tests.
        if std::env::var_os("CONTAINMENT_NO_SKIP").is_some_and(|v| v != "0") {
            panic!("update_and_events: no v1 memory/pids hierarchy (CONTAINMENT_NO_SKIP is set)");
        }
        eprintln!("SKIPPED update_and_events: no v1 memory/pids hierarchy");
        return;
    }
    b.config(|c| {
        c["process"]["args"] = serde_json::json!(["sleep", "1000"]);
        c["linux"]["resources"] = serde_json::json!({"pids": {"limit": 100}});
    });
    let id = b.id("update");
    b.ok(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    b.ok(&["start", &id]);
    let st: serde_json::Value = serde_json::from_str(&b.ok(&["state", &id])).unwrap();
    let pid = st["pid"].as_i64().unwrap();
    let pids = v1_dir(pid, "pids");
    assert_eq!(
        std::fs::read_to_string(pids.join("pids.max")).unwrap(),
        "100\n"
    );

    // A controller the container had no limit on is joined by the update.
    b.ok(&["update", "--memory", "64m", "--pids-limit", "50", &id]);
    let mem = v1_dir(pid, "memory");
    assert!(
        mem.ends_with(pids.strip_prefix("/sys/fs/cgroup/pids").unwrap()),
        "{mem:?}"
    );
    assert_eq!(
        std::fs::read_to_string(mem.join("memory.limit_in_bytes")).unwrap(),
        format!("{}\n", 64 << 20)
    );
    assert_eq!(
        std::fs::read_to_string(pids.join("pids.max")).unwrap(),
        "50\n"
    );

    // A resources document on stdin.
    let n = N.fetch_add(1, Ordering::Relaxed);
    let doc = b.dir.join(format!("res{n}.json"));
    std::fs::write(&doc, r#"{"pids":{"limit":40}}"#).unwrap();
    let out = Command::new(BIN)
        .arg("--root")
        .arg(b.dir.join("state"))
        .args(["update", "--resources", "-", &id])
        .stdin(std::fs::File::open(&doc).unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(pids.join("pids.max")).unwrap(),
        "40\n"
    );

    // A bad value is an error naming the flag, and changes nothing.
    let out = b.run(&["update", "--memory", "lots", &id]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("memory") && err.contains("lots"), "{err}");

    let ev: serde_json::Value =
        serde_json::from_str(b.ok(&["events", "--stats", &id]).trim()).unwrap();
    assert_eq!(ev["type"], "stats");
    assert_eq!(ev["id"], id.as_str());
    assert!(ev["data"]["pids"]["current"].as_u64().unwrap() >= 1, "{ev}");
    assert!(
        ev["data"]["memory"]["usage"]["usage"].as_u64().is_some(),
        "{ev}"
    );
    b.ok(&["delete", "--force", &id]);
    let out = b.run(&["update", "--memory", "64m", &id]);
    assert!(!out.status.success(), "update of a deleted container");
}

#[test]
fn events_reports_an_oom_kill() {
    // `events` (streaming, as runc's) prints `{"type":"oom","id":…}` when
    // the OOM killer kills in the container's cgroup, then ends with the
    // container.
    let Some(b) = bundle("events_oom") else {
        return;
    };
    if !Path::new("/sys/fs/cgroup/memory/memory.oom_control").exists() {
        if std::env::var_os("CONTAINMENT_NO_SKIP").is_some_and(|v| v != "0") {
            panic!("events_oom: no v1 memory hierarchy (CONTAINMENT_NO_SKIP is set)");
        }
        eprintln!("SKIPPED events_oom: no v1 memory hierarchy");
        return;
    }
    // A hog that starts once `events` watches (the start gate of `start`
    // is ours: the program waits for a file the test makes), with a
    // 512 MiB address-space backstop.
    b.config(|c| {
        c["process"]["args"] = serde_json::json!([
            "sh",
            "-c",
            "while [ ! -e /tmp/go ]; do sleep 0.05; done; ulimit -v 524288; exec tail /dev/zero"
        ]);
        c["root"]["readonly"] = serde_json::json!(false);
        c["linux"]["resources"] = serde_json::json!({"memory": {"limit": 33554432}});
    });
    let id = b.id("oom");
    b.ok(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    b.ok(&["start", &id]);
    let mut ev = Command::new(BIN)
        .arg("--root")
        .arg(b.dir.join("state"))
        .args(["events", "--interval", "1", &id])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let out = ev.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The first stats event: `events` is watching.
    let first = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert!(first.contains("\"stats\""), "{first}");
    std::fs::write(b.dir.join("rootfs/tmp/go"), b"").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let mut oom = None;
    while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(l) if l.contains("\"oom\"") => {
                oom = Some(l);
                break;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let oom = oom.expect("no oom event within 60 s");
    let v: serde_json::Value = serde_json::from_str(&oom).unwrap();
    assert_eq!(v["type"], "oom");
    assert_eq!(v["id"], id.as_str());
    // The container ended with its program: `events` ends too.
    let mut ended = false;
    for _ in 0..300 {
        if ev.try_wait().unwrap().is_some() {
            ended = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if !ended {
        let _ = ev.kill();
        let _ = ev.wait();
    }
    b.ok(&["delete", "--force", &id]);
    assert!(ended, "events did not end with the container");
}
