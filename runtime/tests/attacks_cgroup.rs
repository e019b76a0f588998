//! Attacks on contrun's cgroup removal (branch brk6): `delete` of a
//! stopped container whose processes outlived its init in a child cgroup
//! the container made itself (a cgroup2 mount of its own, in its cgroup
//! namespace). Each test asserts what the kernel shows (the process, the
//! cgroup directories). Needs root and busybox-static.

mod common;

use common::*;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::io::AsRawFd;

use common::setup::Setup;

fn setup(test: &str) -> Option<Setup> {
    common::setup::setup(test, "contrun-attacks-cgroup")
}

/// A pidfd of `pid` (a process of the test's container, not our child).
fn pidfd(pid: i32) -> OwnedFd {
    // SAFETY: pidfd_open with no flags returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    assert!(
        fd >= 0,
        "pidfd_open {pid}: {}",
        std::io::Error::last_os_error()
    );
    // SAFETY: a descriptor just returned to us, owned by nothing else.
    unsafe { OwnedFd::from_raw_fd(fd as i32) }
}

/// Whether the process of `fd` has exited (its pidfd is readable).
fn exited(fd: &OwnedFd) -> bool {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no wait.
    unsafe { libc::poll(&mut p, 1, 0) == 1 }
}

/// Kills the process of the pidfd when the test ends (the straggler must
/// not outlive a failed run).
struct KillOnDrop(OwnedFd);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        // SAFETY: pidfd_send_signal on our pidfd; an exited process is
        // not signalled (ESRCH).
        unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.0.as_raw_fd(),
                libc::SIGKILL,
                std::ptr::null::<libc::siginfo_t>(),
                0,
            )
        };
    }
}

/// The container's cgroup2 directory and init pid, from `contrun state`
/// and its state.json.
fn cgroup_and_pid(s: &Setup, id: &str) -> (std::path::PathBuf, i32) {
    let st: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.state_file(id)).unwrap()).unwrap();
    (
        st["cgroup"].as_str().unwrap().into(),
        st["pid"].as_i64().unwrap() as i32,
    )
}

#[test]
fn delete_of_a_stopped_container_kills_what_is_left_in_its_child_cgroups() {
    // No PID namespace of its own: killing the init leaves the other
    // processes running. One of them moved itself into a child cgroup
    // (`cgroup.procs` of the top one lists no process then): delete must
    // still kill it and remove every directory, not wait 10 s for the
    // cgroup to empty itself and fail with the process still running.
    let test = "delete_of_a_stopped_container_kills_what_is_left_in_its_child_cgroups";
    let Some(mut s) = setup(test) else {
        return;
    };
    s.config(|c| {
        let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
        ns.retain(|n| n["type"] != "pid");
        // A cgroup namespace (contrun spec has one): the mount shows the
        // container's own cgroup as its root.
        assert!(ns.iter().any(|n| n["type"] == "cgroup"));
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": "/mnt",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["rw", "nosuid", "noexec", "nodev"],
        }));
        c["process"]["args"] = serde_json::json!([
            "sh",
            "-c",
            "mkdir /mnt/sub && sh -c 'echo $$ > /mnt/sub/cgroup.procs && exec sleep 1000' & exec sleep 1000",
        ]);
        c["process"]["terminal"] = false.into();
    });
    let id = s.id("straggler");
    ok(&s.root, &["run", "--detach", "--bundle", &s.bundle(), &id]);
    let (cg, init) = cgroup_and_pid(&s, &id);
    let sub = cg.join("sub");
    let pid: i32 = wait_for("a process in the child cgroup", || {
        std::fs::read_to_string(sub.join("cgroup.procs"))
            .ok()?
            .lines()
            .next()?
            .trim()
            .parse()
            .ok()
    });
    let straggler = KillOnDrop(pidfd(pid));
    assert!(
        std::fs::read_to_string(cg.join("cgroup.procs"))
            .unwrap()
            .lines()
            .all(|l| l.trim() != pid.to_string()),
        "{pid} is in the top cgroup"
    );
    // Only the init goes.
    // SAFETY: kill(2) of the container's init, a process of this test.
    assert_eq!(unsafe { libc::kill(init, libc::SIGKILL) }, 0);
    wait_for("the container to be stopped", || {
        let st: serde_json::Value = serde_json::from_str(&ok(&s.root, &["state", &id])).unwrap();
        (st["status"] == "stopped").then_some(())
    });
    assert!(!exited(&straggler.0), "{pid} died with the init");
    let out = contrun(&s.root, &["delete", &id]);
    let left = cgroups_named(&id);
    let alive_after = !exited(&straggler.0);
    assert!(
        out.status.success(),
        "delete failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!alive_after, "{pid} (in {}) survived delete", sub.display());
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn delete_removes_child_cgroups_nested_past_path_max() {
    // The container nests child cgroups (relative mkdir and cd in its own
    // cgroup2 mount) until its shell's path is too long: on the host the
    // deepest ones are more than PATH_MAX bytes from /, which a walk by
    // path cannot open or rmdir (ENAMETOOLONG): delete, even --force,
    // failed every time and the tree and the state stayed.
    let test = "delete_removes_child_cgroups_nested_past_path_max";
    let Some(mut s) = setup(test) else {
        return;
    };
    s.config(|c| {
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": "/mnt",
            "type": "cgroup",
            "source": "cgroup",
            "options": ["rw", "nosuid", "noexec", "nodev"],
        }));
        c["process"]["args"] = serde_json::json!([
            "sh",
            "-c",
            "cd /mnt; while mkdir aaaaaaaaaaaaaaa && cd aaaaaaaaaaaaaaa; do :; done; \
             pwd > /tmp/depth; exec sleep 1000",
        ]);
        c["process"]["terminal"] = false.into();
        c["root"]["readonly"] = false.into();
    });
    let id = s.id("deep");
    ok(&s.root, &["run", "--detach", "--bundle", &s.bundle(), &id]);
    let marker = s.dir.path().join("rootfs/tmp/depth");
    let inside = wait_for("the nesting to end", || {
        std::fs::read_to_string(&marker)
            .ok()
            .filter(|t| !t.is_empty())
    });
    let (cg, _) = cgroup_and_pid(&s, &id);
    // The deepest directory as the host names it.
    let host = cg.as_os_str().len() + inside.trim().len() - "/mnt".len();
    assert!(host > 4096, "only {host} bytes deep: {inside}");
    let out = contrun(&s.root, &["delete", "--force", &id]);
    let left = cgroups_named(&id);
    assert!(
        out.status.success(),
        "delete --force failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn a_device_number_of_all_ones_is_not_every_device() {
    // 4294967295 (u32::MAX) is a number the kernel's v1 devices controller
    // stores as its wildcard (~0): `c 4294967295:4294967295 rwm`, a rule
    // for no existing device, was written as is and allowed every
    // character device (devices.list: `c *:* rwm`). The container then
    // opened /dev/fuse (c 10:229), which no rule allows. It must be
    // refused before the container runs, or at least not open the device.
    let test = "a_device_number_of_all_ones_is_not_every_device";
    let Some(mut s) = setup(test) else {
        return;
    };
    if !std::path::Path::new("/dev/fuse").exists() {
        skip(test, "no /dev/fuse");
        return;
    }
    s.config(|c| {
        c["mounts"].as_array_mut().unwrap().push(serde_json::json!({
            "destination": "/mnt/dev",
            "type": "bind",
            "source": "/dev/fuse",
            "options": ["bind"],
        }));
        c["linux"]["resources"]["devices"] = serde_json::json!([
            {"allow": false, "access": "rwm"},
            {"allow": true, "type": "c", "major": 4294967295u64, "minor": 4294967295u64, "access": "rwm"},
        ]);
        c["process"]["args"] =
            serde_json::json!(["sh", "-c", "(exec 3</mnt/dev) && echo OPENED; true"]);
        c["process"]["terminal"] = false.into();
    });
    let mnt = s.dir.path().join("rootfs/mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    std::fs::write(mnt.join("dev"), "").unwrap();
    let id = s.id("allones");
    let out = contrun(&s.root, &["run", "--bundle", &s.bundle(), &id]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(
        !stdout.contains("OPENED"),
        "the container opened /dev/fuse: {stdout} {stderr}"
    );
    // Refused with the field named, before any process ran.
    assert!(!out.status.success(), "{stdout} {stderr}");
    assert!(stderr.contains("4294967295"), "{stderr}");
}

#[test]
fn delete_of_a_stopped_container_with_its_own_pid_namespace_kills_nothing() {
    // A stopped container with its own PID namespace has no process left
    // (the kernel killed them all with its init): whatever populates its
    // cgroup is another's, here a second container whose bundle put its
    // cgroup inside the first one's (`cgroupsPath` /contrun-<a>/b). Deleting
    // the first must not kill the second (runc does not either); the
    // removal is refused instead (EBUSY) and its state stays.
    let test = "delete_of_a_stopped_container_with_its_own_pid_namespace_kills_nothing";
    let Some(mut s) = setup(test) else {
        return;
    };
    s.config(|c| {
        c["process"]["args"] = serde_json::json!(["sleep", "1000"]);
        c["process"]["terminal"] = false.into();
        c["linux"].as_object_mut().unwrap().remove("cgroupsPath");
    });
    let a = s.id("owner");
    ok(&s.root, &["run", "--detach", "--bundle", &s.bundle(), &a]);
    let (cg_a, init_a) = cgroup_and_pid(&s, &a);
    let b = s.id("nested");
    let inside = format!("/{}/b", cg_a.file_name().unwrap().to_str().unwrap());
    s.config(|c| c["linux"]["cgroupsPath"] = inside.clone().into());
    ok(&s.root, &["run", "--detach", "--bundle", &s.bundle(), &b]);
    let (cg_b, init_b) = cgroup_and_pid(&s, &b);
    assert!(cg_b.starts_with(&cg_a), "{cg_b:?} not in {cg_a:?}");
    let b_proc = KillOnDrop(pidfd(init_b));
    // SAFETY: kill(2) of the first container's init, a process of this test.
    assert_eq!(unsafe { libc::kill(init_a, libc::SIGKILL) }, 0);
    wait_for("the first container to be stopped", || {
        let st: serde_json::Value = serde_json::from_str(&ok(&s.root, &["state", &a])).unwrap();
        (st["status"] == "stopped").then_some(())
    });
    let out = contrun(&s.root, &["delete", &a]);
    let b_alive = !exited(&b_proc.0);
    assert!(b_alive, "deleting {a} killed {b} (its cgroup is inside)");
    assert!(
        !out.status.success(),
        "deleting {a} removed the cgroup of a running container"
    );
    assert!(cg_b.is_dir());
    // The second goes first, then the first.
    ok(&s.root, &["delete", "--force", &b]);
    ok(&s.root, &["delete", &a]);
    let left = cgroups_named(&a);
    assert!(left.is_empty(), "left behind: {left:?}");
}
