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
