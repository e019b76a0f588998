//! contrun and the cgroup v1 self-join (the child writes `0` to each v1
//! directory's `tasks` file, opened by contrun before clone) on a hybrid
//! host: with the cgroup namespace of `contrun spec`, every v1 line of
//! `/proc/self/cgroup` is `/` for the program, for a process `exec`'d
//! later and across create/start; no `tasks` descriptor reaches either; an
//! exec into a paused container fails instead of hanging. Needs root,
//! busybox-static and the v1 memory and pids hierarchies; skips otherwise
//! (a failure with `CONTAINMENT_NO_SKIP=1`).

mod common;

use std::path::Path;
use std::process::Output;

use common::bundle::Bundle;

fn bundle(test: &str) -> Option<Bundle> {
    common::bundle::bundle(test, "cgjoin")
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

fn v1_host() -> bool {
    let ok = Path::new("/sys/fs/cgroup/memory/memory.limit_in_bytes").exists()
        && Path::new("/sys/fs/cgroup/pids/pids.max").exists()
        || Path::new("/sys/fs/cgroup/pids/tasks").exists();
    if !ok {
        if std::env::var_os("CONTAINMENT_NO_SKIP").is_some_and(|v| v != "0") {
            panic!("no v1 memory/pids hierarchy (CONTAINMENT_NO_SKIP is set)");
        }
        eprintln!("SKIPPED: no v1 memory/pids hierarchy");
    }
    ok
}

/// Every line of a `/proc/self/cgroup` is rooted (`N:ctl:/`), and the
/// memory and pids lines are there.
fn all_rooted(what: &str, text: &str) {
    for c in ["memory", "pids"] {
        assert!(
            text.lines().any(|l| l
                .split(':')
                .nth(1)
                .is_some_and(|x| x.split(',').any(|y| y == c))),
            "{what}: no {c} line: {text}"
        );
    }
    for l in text.lines() {
        assert!(l.ends_with(":/"), "{what}: not rooted: {l} (all: {text})");
    }
}

/// `/proc/<pid>/cgroup` path of a v1 controller.
fn cgroup_of(text: &str, controller: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let mut it = l.splitn(3, ':');
        let (_, c, p) = (it.next()?, it.next()?, it.next()?);
        c.split(',').any(|x| x == controller).then(|| p.to_string())
    })
}

const LIST_FDS: &str = "for f in /proc/self/fd/*; do echo \"$f $(readlink $f)\"; done";

fn resources(c: &mut serde_json::Value) {
    c["linux"]["resources"]["pids"] = serde_json::json!({"limit": 64});
    c["linux"]["resources"]["memory"] = serde_json::json!({"limit": 64u64 << 20});
}

#[test]
fn run_exec_and_create_start_are_rooted_at_the_v1_cgroups() {
    let Some(b) = bundle("rooted") else { return };
    if !v1_host() {
        return;
    }
    b.config(|c| {
        resources(c);
        assert!(
            c["linux"]["namespaces"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["type"] == "cgroup"),
            "contrun spec has no cgroup namespace"
        );
    });
    // run: the program's view, and its descriptors.
    let out = b.script(
        "run",
        &format!("cat /proc/self/cgroup; echo FDS; {LIST_FDS}"),
    );
    let t = text(&out);
    let (cg, fds) = t.split_once("FDS").unwrap();
    all_rooted("run", cg);
    assert!(
        !fds.contains("/tasks") && !fds.contains("cgroup"),
        "run: {fds}"
    );

    // create/start, then exec.
    b.config(|c| c["process"]["args"] = serde_json::json!(["sleep", "1000"]));
    let id = b.id("exec");
    b.ok(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    b.ok(&["start", &id]);
    let st: serde_json::Value = serde_json::from_str(&b.ok(&["state", &id])).unwrap();
    let pid = st["pid"].as_i64().unwrap();
    let inside = b.ok(&["exec", &id, "cat", "/proc/self/cgroup"]);
    all_rooted("exec", &inside);
    let inside = b.ok(&["exec", &id, "cat", "/proc/1/cgroup"]);
    all_rooted("exec: the init", &inside);
    let fds = b.ok(&["exec", &id, "sh", "-c", LIST_FDS]);
    assert!(
        !fds.contains("/tasks") && !fds.contains("cgroup"),
        "exec: {fds}"
    );
    // Both at the root of the same cgroup namespace: the exec'd process
    // is in the init's v1 cgroups (and the host sees the init in ours).
    let theirs = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(
        cgroup_of(&theirs, "pids").is_some_and(|p| p.contains(&id)),
        "{theirs}"
    );
    b.ok(&["delete", "--force", &id]);
}

#[test]
fn exec_into_a_paused_container_fails_and_does_not_hang() {
    let Some(b) = bundle("paused") else { return };
    if !v1_host() {
        return;
    }
    b.config(|c| {
        resources(c);
        c["process"]["args"] = serde_json::json!(["sleep", "1000"]);
    });
    let id = b.id("paused");
    b.ok(&["create", "--bundle", b.dir.to_str().unwrap(), &id]);
    b.ok(&["start", &id]);
    b.ok(&["pause", &id]);
    let out = b.run(&["exec", &id, "true"]);
    b.ok(&["resume", &id]);
    assert!(
        !out.status.success(),
        "exec into a paused container succeeded"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("paused"), "{err}");
    b.ok(&["delete", "--force", &id]);
}

/// The cgroup hierarchies mounted under /sys/fs/cgroup (the cgroup2 one and
/// each v1 one; not the symlinks such as `cpu` → `cpu,cpuacct`).
fn hierarchies() -> Vec<std::path::PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|p| p.join("cgroup.procs").exists())
        .collect();
    // A pure cgroup2 host has its mount at /sys/fs/cgroup itself.
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        v.push("/sys/fs/cgroup".into());
    }
    v
}

#[test]
fn the_default_cgroup_is_flat_and_removed_by_delete() {
    let Some(b) = bundle("flat") else { return };
    b.config(|c| {
        c["linux"].as_object_mut().unwrap().remove("cgroupsPath");
        c["process"]["args"] = serde_json::json!(["true"]);
    });
    let all = hierarchies();
    let id = b.id("c");
    let bundle_dir = b.dir.to_str().unwrap().to_string();
    b.ok(&["create", "--bundle", &bundle_dir, &id]);
    // `contrun-<id>` in each hierarchy's root: no parent directory that
    // would outlive the container (or race with another one's delete).
    let mine: Vec<_> = all
        .iter()
        .map(|h| h.join(format!("contrun-{id}")))
        .filter(|d| d.is_dir())
        .collect();
    assert!(
        mine.iter()
            .any(|d| std::fs::metadata(d.join("cgroup.controllers")).is_ok()),
        "no cgroup2 directory contrun-{id} in {all:?}"
    );
    let state = b.ok(&["state", &id]);
    assert!(
        !all.iter().any(|h| h.join("contrun").join(&id).exists()),
        "a contrun/{id} directory was made: {state}"
    );
    b.ok(&["start", &id]);
    b.ok(&["delete", "--force", &id]);
    for d in &mine {
        assert!(!d.exists(), "{} left behind", d.display());
    }
}
