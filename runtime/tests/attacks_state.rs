//! Attacks on contrun's state (branch brk4): concurrent commands on one
//! id, a state.json that is stale (its pid recycled) or from an older
//! contrun (no `process_unset`). Each test asserts what the kernel shows.
//! Needs root and busybox-static.

mod common;

use common::*;
use std::process::Command;

use common::setup::Setup;

fn setup(test: &str) -> Option<Setup> {
    common::setup::setup(test, "contrun-attacks-state")
}

/// Field 22 of /proc/PID/stat.
fn starttime(pid: i32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &s[s.rfind(')').unwrap() + 2..];
    rest.split_whitespace().nth(19).unwrap().parse().unwrap()
}

fn set_args(c: &mut serde_json::Value, args: &[&str]) {
    c["process"]["args"] = serde_json::json!(args);
    c["process"]["terminal"] = false.into();
    // The marker is written into the root filesystem.
    c["root"]["readonly"] = false.into();
}

#[test]
fn concurrent_starts_of_one_container_start_it_once() {
    // Four `start`s at once: the directory lock serializes them, the first
    // opens the exec FIFO, the others find it running.
    let Some(mut s) = setup("concurrent_starts_of_one_container_start_it_once") else {
        return;
    };
    s.config(|c| set_args(c, &["sh", "-c", "echo x >> /tmp/started; exec sleep 60"]));
    let id = s.id("cstart");
    ok(&s.root, &["create", "--bundle", &s.bundle(), &id]);
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let (root, id) = (s.root.clone(), id.clone());
            std::thread::spawn(move || contrun(&root, &["start", &id]).status.success())
        })
        .collect();
    let wins = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .filter(|w| *w)
        .count();
    assert_eq!(wins, 1, "exactly one start succeeds");
    let marker = s.dir.path().join("rootfs/tmp/started");
    let text = wait_for("the program's marker", || {
        std::fs::read_to_string(&marker)
            .ok()
            .filter(|t| !t.is_empty())
    });
    assert_eq!(text, "x\n");
    let st: serde_json::Value = serde_json::from_str(&ok(&s.root, &["state", &id])).unwrap();
    assert_eq!(st["status"], "running");
}

#[test]
fn a_stale_state_never_signals_a_recycled_pid() {
    // state.json naming a live process that is not the container (the
    // container's pid recycled: same pid, another start time): kill and
    // delete --force leave it alone, state says stopped.
    let Some(mut s) = setup("a_stale_state_never_signals_a_recycled_pid") else {
        return;
    };
    s.config(|c| set_args(c, &["sleep", "60"]));
    let id = s.id("stale");
    ok(&s.root, &["create", "--bundle", &s.bundle(), &id]);
    let real: i64 = serde_json::from_str::<serde_json::Value>(&ok(&s.root, &["state", &id]))
        .unwrap()["pid"]
        .as_i64()
        .unwrap();
    // A bystander started in another clock tick than the container (the
    // start time is counted in ticks: a process started in the same tick
    // would pass for it, as it does for runc; a pid cannot be recycled
    // that fast).
    let mut bystander = loop {
        let mut c = Command::new("sleep").arg("60").spawn().unwrap();
        if starttime(c.id() as i32) != starttime(real as i32) {
            break c;
        }
        let _ = c.kill();
        let _ = c.wait();
    };
    let pid = bystander.id() as i32;
    // The container's process gone, its pid now someone else's.
    ok(&s.root, &["kill", &id, "KILL"]);
    wait_for("the container's process to end", || {
        (!alive(real as i32)).then_some(())
    });
    s.edit_state(&id, |st| {
        st["pid"] = pid.into();
        st["cgroup"] = serde_json::Value::Null;
    });
    let st: serde_json::Value = serde_json::from_str(&ok(&s.root, &["state", &id])).unwrap();
    let k = contrun(&s.root, &["kill", &id, "KILL"]);
    let d = contrun(&s.root, &["delete", "--force", &id]);
    let still = alive(pid);
    let _ = bystander.kill();
    let _ = bystander.wait();
    // The edited state named no cgroup, so delete left the container's:
    // ours to remove (its process is gone), in every hierarchy.
    let mut left = Vec::new();
    for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let d = h.path().join(format!("contrun-{id}"));
        if d.is_dir() && std::fs::remove_dir(&d).is_err() {
            left.push(d);
        }
    }
    assert_eq!(st["status"], "stopped", "{st}");
    assert!(!k.status.success(), "kill of a stopped container");
    assert!(d.status.success(), "{}", String::from_utf8_lossy(&d.stderr));
    assert!(still, "the bystander was killed");
    assert!(left.is_empty(), "cgroup directories left: {left:?}");
}

#[test]
fn start_obeys_process_unset_and_an_older_state_reads_the_config() {
    // `start` takes process_unset from state.json (recorded at create); a
    // state of an older contrun (no field) falls back to the saved
    // config.json: with `process` there, the program runs.
    let Some(mut s) = setup("start_obeys_process_unset_and_an_older_state_reads_the_config") else {
        return;
    };
    s.config(|c| set_args(c, &["sh", "-c", "echo y > /tmp/ran; exec sleep 60"]));
    // process_unset: true in state.json: start refuses and stops it.
    let id = s.id("unset");
    ok(&s.root, &["create", "--bundle", &s.bundle(), &id]);
    s.edit_state(&id, |st| st["process_unset"] = true.into());
    let o = contrun(&s.root, &["start", &id]);
    assert!(!o.status.success());
    let st: serde_json::Value = serde_json::from_str(&ok(&s.root, &["state", &id])).unwrap();
    assert_eq!(st["status"], "stopped", "{st}");
    assert!(!s.dir.path().join("rootfs/tmp/ran").exists());
    // No field (an older contrun): the config is read, the program runs.
    let id = s.id("older");
    ok(&s.root, &["create", "--bundle", &s.bundle(), &id]);
    s.edit_state(&id, |st| {
        st.as_object_mut().unwrap().remove("process_unset");
    });
    ok(&s.root, &["start", &id]);
    wait_for("the program's marker", || {
        s.dir.path().join("rootfs/tmp/ran").exists().then_some(())
    });
}

/// Whether `pid` waits (blocked) in /proc/locks for a lock on inode `ino`.
fn blocked_on(pid: u32, ino: u64) -> bool {
    let locks = std::fs::read_to_string("/proc/locks").unwrap();
    locks.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // "N: -> FLOCK ADVISORY WRITE PID MAJ:MIN:INO START END"
        f.get(1) == Some(&"->")
            && f.get(5) == Some(&pid.to_string().as_str())
            && f.get(6)
                .and_then(|d| d.rsplit(':').next())
                .is_some_and(|i| i == ino.to_string())
    })
}

/// A command waiting for the lock of a container whose directory goes
/// (a failed create removes it) while a new container of the same id is
/// made (its state written during its spawn, its directory locked by its
/// create): the command must not act on the new one while its create holds
/// the lock (it had locked the old, removed, directory and read the new
/// one's state.json by path).
#[test]
fn a_command_waiting_on_a_removed_directory_does_not_act_on_its_successor() {
    if !root("a_command_waiting_on_a_removed_directory") {
        return;
    }
    use std::os::unix::fs::MetadataExt;
    let t = TempDir::new("contrun-relock");
    let root = t.path().join("state");
    let id = unique("relock");
    let path = root.join(&id);
    std::fs::create_dir_all(&path).unwrap();
    // The first create, holding its directory's lock.
    let lock = |p: &std::path::Path| {
        let f = std::fs::File::open(p).unwrap();
        // SAFETY: flock on a descriptor we own.
        assert_eq!(
            unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&f), libc::LOCK_EX) },
            0
        );
        f
    };
    let old = lock(&path);
    let old_ino = std::fs::metadata(&path).unwrap().ino();
    let mut del = Command::new(BIN)
        .arg("--root")
        .arg(&root)
        .args(["delete", "--force", &id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("delete to wait for the lock", || {
        blocked_on(del.id(), old_ino).then_some(())
    });
    // The first create fails: its directory goes. A second create of the
    // same id makes and locks a new one, and writes its state.
    std::fs::remove_dir(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    let new = lock(&path);
    let new_ino = std::fs::metadata(&path).unwrap().ino();
    let state = serde_json::json!({
        "id": id, "pid": 0, "pid_start": 0, "bundle": "/nonexistent",
        "rootfs": "/nonexistent", "created": "2026-01-01T00:00:00Z",
        "cgroup": null, "hooks": null, "own_pid_ns": true,
    });
    std::fs::write(path.join("state.json"), state.to_string()).unwrap();
    drop(old);
    // delete must now wait for the new directory's lock, not go on.
    let exited = wait_for("delete to exit or to wait again", || {
        if let Some(st) = del.try_wait().unwrap() {
            return Some(Some(st));
        }
        blocked_on(del.id(), new_ino).then_some(None)
    });
    assert!(
        exited.is_none(),
        "delete acted while the new container's create held its lock ({exited:?}); its directory exists: {}",
        path.exists()
    );
    assert!(path.join("state.json").exists());
    drop(new);
    assert!(del.wait().unwrap().success());
    assert!(!path.exists(), "delete --force left the state directory");
}

/// A `create` killed before it wrote the state leaves its directory (the
/// gate FIFO, no state.json): `delete --force` removes it, so that the id
/// can be created again; `delete` without --force still says the
/// container does not exist.
#[test]
fn delete_force_removes_the_directory_of_a_create_killed_before_its_state() {
    if !root("delete_force_removes_the_directory_of_a_create_killed") {
        return;
    }
    let t = TempDir::new("contrun-stateless");
    let root = t.path().join("state");
    let id = unique("stateless");
    let path = root.join(&id);
    std::fs::create_dir_all(&path).unwrap();
    let fifo = std::ffi::CString::new(
        path.join("creating.fifo")
            .into_os_string()
            .into_encoded_bytes(),
    )
    .unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let out = contrun(&root, &["delete", &id]);
    assert!(!out.status.success(), "{out:?}");
    assert!(path.exists());
    let out = contrun(&root, &["delete", "--force", &id]);
    assert!(out.status.success(), "{out:?}");
    assert!(
        !path.exists(),
        "the state directory of the dead create was left"
    );
}

/// The cgroup directories of one relative path in every hierarchy, made
/// by the test and removed on drop (a process put in one is killed).
struct Cgroups(Vec<std::path::PathBuf>);

impl Cgroups {
    fn make(rel: &str) -> Cgroups {
        let h = containment::cgroup::Hierarchy::detect().unwrap();
        let dirs: Vec<_> = h
            .v1_mounts()
            .iter()
            .map(|m| m.mount_point.join(rel))
            .chain(h.mount_point().map(|m| m.join(rel)))
            .collect();
        let c = Cgroups(dirs);
        for d in &c.0 {
            std::fs::create_dir(d).unwrap();
        }
        c
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        for d in &self.0 {
            if let Ok(p) = std::fs::read_to_string(d.join("cgroup.procs")) {
                for pid in p.lines().filter_map(|l| l.parse::<i32>().ok()) {
                    // SAFETY: kill(2) of a process the test put there.
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
        for d in &self.0 {
            for _ in 0..100 {
                match std::fs::remove_dir(d) {
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                        std::thread::sleep(std::time::Duration::from_millis(20))
                    }
                    _ => break,
                }
            }
        }
    }
}

/// A `create` killed after its spawn made the cgroup but before it wrote
/// its state (the directory then holds the gate FIFO and the recorded
/// `cgroup.planned`): `delete --force` removes the empty cgroup
/// directories in every hierarchy with the state directory. A populated
/// one at the recorded path is not touched (nothing proves it was the
/// create's): its process lives on.
#[test]
fn delete_force_removes_the_empty_cgroup_of_a_create_killed_before_its_state() {
    if !root("delete_force_removes_the_empty_cgroup_of_a_create_killed") {
        return;
    }
    let t = TempDir::new("contrun-planned");
    let state = t.path().join("state");
    let stateless = |id: &str, rel: &str| {
        let path = state.join(id);
        std::fs::create_dir_all(&path).unwrap();
        std::fs::write(path.join("cgroup.planned"), rel).unwrap();
        path
    };
    let rel = unique("ctm-planned");
    let made = Cgroups::make(&rel);
    let id = unique("planned");
    let path = stateless(&id, &rel);
    let out = contrun(&state, &["delete", "--force", &id]);
    assert!(out.status.success(), "{out:?}");
    assert!(!path.exists(), "the state directory was left");
    for d in &made.0 {
        assert!(!d.exists(), "the killed create's cgroup {d:?} was left");
    }
    drop(made);

    // Populated: left as it is, its process alive.
    let rel = unique("ctm-planned-busy");
    let busy = Cgroups::make(&rel);
    let mut sleeper = Command::new("sleep").arg("600").spawn().unwrap();
    let v2 = busy.0.last().unwrap().clone();
    std::fs::write(v2.join("cgroup.procs"), sleeper.id().to_string()).unwrap();
    let id = unique("planned-busy");
    let path = stateless(&id, &rel);
    let out = contrun(&state, &["delete", "--force", &id]);
    assert!(out.status.success(), "{out:?}");
    assert!(!path.exists(), "the state directory was left");
    assert!(v2.exists(), "a populated cgroup was removed");
    assert!(
        sleeper.try_wait().unwrap().is_none(),
        "its process was killed"
    );
    drop(busy);
    let _ = sleeper.wait();
}

/// A `create` killed *while* it writes `cgroup.planned` (here by
/// RLIMIT_FSIZE: the first write(2) stops at the limit, the next raises
/// SIGXFSZ, whose default action kills) leaves a truncated path there, a
/// prefix of its cgroup's: another cgroup (here one named like its first
/// bytes). `delete --force` must not remove that one: the record is
/// replaced whole (written aside, then renamed), so a torn one is never
/// read.
#[test]
fn delete_force_never_reads_a_torn_planned_cgroup() {
    let Some(mut s) = setup("delete_force_never_reads_a_torn_planned_cgroup") else {
        return;
    };
    s.config(|c| set_args(c, &["true"]));
    let victim = unique("ctm-torn");
    // The container's cgroup: the victim's name and more (never made:
    // the create dies before its spawn).
    let rel = format!("{victim}-container-cgroup");
    s.config(|c| c["linux"]["cgroupsPath"] = rel.clone().into());
    let made = Cgroups::make(&victim);
    let id = s.id("torn");
    let limit = victim.len() as libc::rlim_t;
    let mut cmd = Command::new(BIN);
    cmd.arg("--root")
        .arg(&s.root)
        .args(["create", "--bundle", &s.bundle(), &id])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    use std::os::unix::process::CommandExt;
    // SAFETY: setrlimit and signal are async-signal-safe; no allocation.
    unsafe {
        cmd.pre_exec(move || {
            let l = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            libc::setrlimit(libc::RLIMIT_FSIZE, &l);
            libc::signal(libc::SIGXFSZ, libc::SIG_DFL);
            Ok(())
        })
    };
    let st = cmd.status().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(
        st.signal(),
        Some(libc::SIGXFSZ),
        "the create was not killed: {st:?}"
    );
    let out = contrun(&s.root, &["delete", "--force", &id]);
    assert!(out.status.success(), "{out:?}");
    assert!(!s.root.join(&id).exists(), "the state directory was left");
    for d in &made.0 {
        assert!(d.exists(), "{d:?}, not the create's, was removed");
    }
}
