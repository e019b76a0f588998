//! Attacks on the cgroup v1 self-join (the child writes `0` to the `tasks`
//! file of each v1 directory, opened by the parent before clone): no
//! `tasks` descriptor reaches the program in any spawn shape, the child
//! lands in the cgroups the caller asked for, limits hold from the first
//! instruction, and a refused or impossible join fails cleanly. Each test
//! works under a parent cgroup of its own (`cgj-<pid>-<n>`), killed and
//! removed on drop. Needs root and a hybrid (or v1) host.

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use containment::cgroup::{Backend, Resources};
use containment::{Container, Namespaces, Stdio};

use common::v1parent::Parent;

macro_rules! setup {
    ($tag:expr) => {
        v1_setup!($tag)
    };
}

fn read(p: impl AsRef<Path>) -> String {
    let p = p.as_ref();
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{p:?}: {e}"))
}

/// `/proc/<pid>/cgroup` line of a v1 controller (`4:memory:/x/y` -> `/x/y`).
fn cgroup_of(text: &str, controller: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let mut it = l.splitn(3, ':');
        let (_, c, p) = (it.next()?, it.next()?, it.next()?);
        c.split(',').any(|x| x == controller).then(|| p.to_string())
    })
}

/// Prints where each descriptor of the program points.
const LIST_FDS: &str = "for f in /proc/self/fd/*; do echo \"$f $(readlink $f)\"; done";

/// Makes the container of one spawn shape.
type Shape = Box<dyn Fn() -> Container>;

fn limits() -> Resources {
    Resources::new().memory_max(64u64 << 20).pids_max(16)
}

fn no_tasks_fd(shape: &str, out: &str) {
    for l in out.lines() {
        assert!(
            !l.contains("/tasks") && !l.contains("cgroup"),
            "{shape}: a cgroup descriptor reached the program: {l} (all: {out})"
        );
    }
    assert!(out.contains("/proc/self/fd/0"), "{shape}: {out}");
}

#[test]
fn no_tasks_descriptor_reaches_the_program_in_any_shape() {
    let p = setup!("cgj-fds");
    let shapes: Vec<(&str, Shape)> = vec![
        ("default", Box::new(Container::new)),
        ("fork", Box::new(|| Container::new().vfork_spawn(false))),
        (
            "userns",
            Box::new(|| {
                Container::new()
                    .unshare(Namespaces::USER | Namespaces::CGROUP)
                    .uid_map([containment::IdMap::new(0, 100_000, 65_536)])
                    .gid_map([containment::IdMap::new(0, 100_000, 65_536)])
            }),
        ),
        (
            "init",
            Box::new(|| Container::new().unshare(Namespaces::PID).init(true)),
        ),
    ];
    // The child moves itself with a write of `0` (the writing thread): in
    // the shapes sharing our memory too, our own thread stays put.
    let ours = read("/proc/thread-self/cgroup");
    for (shape, make) in shapes {
        for backend in [Backend::Hybrid, Backend::V1] {
            let out = make()
                .cgroup(p.spec().backend(backend).resources(limits()))
                .command("/bin/sh")
                .args(["-c", LIST_FDS])
                .stdout(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("{shape}: {e}"))
                .wait_with_output()
                .unwrap();
            no_tasks_fd(shape, &String::from_utf8_lossy(&out.stdout));
            assert_eq!(read("/proc/thread-self/cgroup"), ours, "{shape}: we moved");
        }
    }
}

#[test]
fn a_gated_child_holds_no_tasks_descriptor() {
    // contrun create/start: the child waits at the gate after its setup;
    // it must have closed its `tasks` descriptors by then.
    let p = setup!("cgj-gate");
    let (r, w) = pipe();
    let mut child = Container::new()
        .unshare(Namespaces::PID | Namespaces::MOUNT)
        .cgroup(p.spec().backend(Backend::V1).resources(limits()))
        .command("/bin/true")
        .start_gate(r)
        .spawn()
        .unwrap();
    let held: Vec<String> = std::fs::read_dir(format!("/proc/{}/fd", child.id()))
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|l| l.display().to_string())
        .collect();
    drop(w);
    child.wait().unwrap();
    assert!(
        !held
            .iter()
            .any(|l| l.contains("/tasks") || l.contains("cgroup")),
        "{held:?}"
    );
}

fn pipe() -> (std::os::fd::OwnedFd, std::os::fd::OwnedFd) {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: pipe2 into a live array.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: two new descriptors we own.
    unsafe {
        (
            std::os::fd::OwnedFd::from_raw_fd(fds[0]),
            std::os::fd::OwnedFd::from_raw_fd(fds[1]),
        )
    }
}

#[test]
fn pass_fd_and_pty_shapes_get_no_tasks_descriptor() {
    let p = setup!("cgj-passfd");
    let dir = std::env::temp_dir().join(common::unique("cgj-out"));
    std::fs::create_dir(&dir).unwrap();
    let out = dir.join("fds");
    // pass_fd onto a run of low numbers (the tasks descriptors are lifted
    // above every target), with a pty for stdio.
    let mut cmd = Container::new()
        .cgroup(p.spec().backend(Backend::V1).resources(limits()))
        .command("/bin/sh");
    cmd.args(["-c", &format!("{LIST_FDS} > {}", out.display())]);
    for t in 3..12 {
        cmd.pass_fd(std::fs::File::open("/dev/null").unwrap(), t);
    }
    cmd.pty(None);
    let status = cmd.spawn().unwrap().wait().unwrap();
    let text = read(&out);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(status.success(), "{status:?} {text}");
    no_tasks_fd("pass_fd+pty", &text);
    assert_eq!(text.matches("/dev/null").count(), 9, "{text}");
}

#[test]
fn exec_into_a_container_gets_no_tasks_descriptor() {
    let p = setup!("cgj-join");
    let mut target = Container::new()
        .unshare(Namespaces::MOUNT | Namespaces::PID)
        .cgroup(p.spec().backend(Backend::V1).resources(limits()))
        .command("/bin/sleep")
        .args(["30"])
        .spawn()
        .unwrap();
    for vfork in [true, false] {
        let out = Container::new()
            .vfork_spawn(vfork)
            .join_child(&target, Namespaces::MOUNT | Namespaces::PID)
            .command("/bin/sh")
            .args(["-c", &format!("{LIST_FDS}; cat /proc/self/cgroup")])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
            .wait_with_output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (fds, cg): (Vec<&str>, Vec<&str>) = text.lines().partition(|l| l.starts_with("/proc"));
        no_tasks_fd("join", &fds.join("\n"));
        let theirs = read(format!("/proc/{}/cgroup", target.id()));
        for c in ["memory", "pids"] {
            assert_eq!(
                cgroup_of(&cg.join("\n"), c),
                cgroup_of(&theirs, c),
                "{c}: {text}"
            );
        }
    }
    target.kill().unwrap();
    target.wait().unwrap();
}

#[test]
fn own_cgroup_wins_over_the_joined_containers() {
    // join_child with a cgroup of the caller's own (limits for the exec'd
    // process): the process must land in the cgroup asked for, under its
    // limits, not in the target's v1 directories.
    let p = setup!("cgj-own");
    let mut target = Container::new()
        .unshare(Namespaces::MOUNT | Namespaces::PID)
        .cgroup(p.spec().backend(Backend::V1).resources(limits()))
        .command("/bin/sleep")
        .args(["30"])
        .spawn()
        .unwrap();
    for backend in [Backend::V1, Backend::Hybrid] {
        let out = Container::new()
            .join_child(&target, Namespaces::MOUNT | Namespaces::PID)
            .cgroup(
                p.spec()
                    .backend(backend)
                    .resources(Resources::new().pids_max(1).memory_max(32u64 << 20)),
            )
            .command("/bin/sh")
            .args(["-c", "cat /proc/self/cgroup; /bin/true && echo FORKED"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
            .wait_with_output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let theirs = read(format!("/proc/{}/cgroup", target.id()));
        for c in ["memory", "pids"] {
            assert_ne!(
                cgroup_of(&text, c),
                cgroup_of(&theirs, c),
                "{backend:?} {c}: in the target's cgroup, not its own: {text}"
            );
        }
        assert!(
            !text.contains("FORKED"),
            "{backend:?}: pids_max 1 not in force: {text}"
        );
    }
    target.kill().unwrap();
    target.wait().unwrap();
}

#[test]
fn pids_limit_is_in_force_at_the_first_instruction() {
    // pids_max 1: the program is the only task, any fork fails, in every
    // shape (the child moved itself before its exec).
    let p = setup!("cgj-pids");
    let shapes: Vec<(&str, Shape)> = vec![
        ("default", Box::new(Container::new)),
        ("fork", Box::new(|| Container::new().vfork_spawn(false))),
        (
            "userns",
            Box::new(|| {
                Container::new()
                    .unshare(Namespaces::USER)
                    .uid_map([containment::IdMap::new(0, 100_000, 65_536)])
                    .gid_map([containment::IdMap::new(0, 100_000, 65_536)])
            }),
        ),
    ];
    for (shape, make) in shapes {
        let out = make()
            .cgroup(
                p.spec()
                    .backend(Backend::V1)
                    .resources(Resources::new().pids_max(1)),
            )
            .command("/bin/sh")
            .args(["-c", "/bin/true && echo FORKED; exit 0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
            .wait_with_output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(!text.contains("FORKED"), "{shape}: {text} {out:?}");
    }
}

#[test]
fn exec_into_a_frozen_container_fails_and_does_not_hang() {
    let p = setup!("cgj-frozen");
    let mut target = Container::new()
        .unshare(Namespaces::MOUNT | Namespaces::PID)
        .cgroup(p.spec().backend(Backend::V1).resources(limits()))
        .command("/bin/sleep")
        .args(["30"])
        .spawn()
        .unwrap();
    let freezer: PathBuf = {
        let t = read(format!("/proc/{}/cgroup", target.id()));
        let rel = cgroup_of(&t, "freezer").unwrap();
        Path::new("/sys/fs/cgroup/freezer").join(rel.trim_start_matches('/'))
    };
    assert!(freezer.starts_with(p.v1("freezer")), "{freezer:?}");
    std::fs::write(freezer.join("freezer.state"), "FROZEN").unwrap();
    let pidfd = target.pidfd().try_clone_to_owned().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = Container::new()
            .join(
                std::os::fd::AsFd::as_fd(&pidfd),
                Namespaces::MOUNT | Namespaces::PID,
            )
            .command("/bin/true")
            .status();
        let _ = tx.send(format!("{r:?}"));
    });
    let got = rx.recv_timeout(Duration::from_secs(20));
    std::fs::write(freezer.join("freezer.state"), "THAWED").unwrap();
    let got = got.unwrap_or_else(|_| {
        rx.recv_timeout(Duration::from_secs(20)).ok();
        panic!("the exec into a frozen container hung")
    });
    target.kill().unwrap();
    target.wait().unwrap();
    assert!(got.contains("Err"), "{got}");
    assert!(got.contains(&freezer.display().to_string()), "{got}");
    assert!(got.contains("FROZEN") && got.contains("Cgroup("), "{got}");
    let leaked = our_fds_into(&p);
    assert!(leaked.is_empty(), "{leaked:?}");
}

#[test]
fn a_new_cgroup_under_a_frozen_parent_fails_and_does_not_hang() {
    // The caller's parent cgroup is paused: the new cgroup below it reads
    // FROZEN too, and a child moving itself in would stop before its exec.
    let p = setup!("cgj-frozen-parent");
    let parent = p.v1("freezer");
    std::fs::create_dir(&parent).unwrap();
    std::fs::write(parent.join("freezer.state"), "FROZEN").unwrap();
    let spec = p.spec().backend(Backend::V1).resources(limits());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = Container::new().cgroup(spec).command("/bin/true").status();
        let _ = tx.send(format!("{r:?}"));
    });
    let got = rx.recv_timeout(Duration::from_secs(20));
    std::fs::write(parent.join("freezer.state"), "THAWED").unwrap();
    let got = got.unwrap_or_else(|_| {
        rx.recv_timeout(Duration::from_secs(20)).ok();
        panic!("a spawn under a frozen parent hung")
    });
    assert!(got.contains("Err") && got.contains("FROZEN"), "{got}");
    assert!(got.contains(&parent.display().to_string()), "{got}");
    // No cgroup of the failed spawn is left below our parent.
    for d in p.dirs() {
        if let Ok(rd) = std::fs::read_dir(&d) {
            let subdirs: Vec<_> = rd
                .flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect();
            assert!(subdirs.is_empty(), "left behind: {subdirs:?}");
        }
    }
}

/// Every v1 line of `/proc/self/cgroup` of `text` for memory and pids is `/`.
fn rooted(shape: &str, text: &str) {
    for c in ["memory", "pids"] {
        assert_eq!(
            cgroup_of(text, c).as_deref(),
            Some("/"),
            "{shape}: {c} not rooted at the container's cgroup: {text}"
        );
    }
}

#[test]
fn the_cgroup_namespace_is_rooted_at_the_v1_cgroups_in_every_shape() {
    let p = setup!("cgj-cgns");
    let mut target = Container::new()
        .unshare(Namespaces::MOUNT | Namespaces::PID)
        .cgroup(p.spec().backend(Backend::V1).resources(limits()))
        .command("/bin/sleep")
        .args(["30"])
        .spawn()
        .unwrap();
    let own = || p.spec().backend(Backend::V1).resources(limits());
    let shapes: Vec<(&str, Container)> = vec![
        (
            "fork",
            Container::new()
                .vfork_spawn(false)
                .unshare(Namespaces::CGROUP)
                .cgroup(own()),
        ),
        (
            "init",
            Container::new()
                .unshare(Namespaces::CGROUP | Namespaces::PID)
                .init(true)
                .cgroup(own()),
        ),
        (
            "join+cgns",
            Container::new()
                .join_child(&target, Namespaces::MOUNT | Namespaces::PID)
                .unshare(Namespaces::CGROUP),
        ),
        (
            "join+own+cgns",
            Container::new()
                .join_child(&target, Namespaces::MOUNT | Namespaces::PID)
                .unshare(Namespaces::CGROUP)
                .cgroup(own()),
        ),
    ];
    for (shape, c) in shapes {
        let out = c
            .command("/bin/cat")
            .args(["/proc/self/cgroup"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{shape}: {e}"))
            .wait_with_output()
            .unwrap();
        rooted(shape, &String::from_utf8_lossy(&out.stdout));
    }
    // The start gate: the namespace is made before the child waits there.
    let (r, w) = pipe();
    let mut cmd = Container::new()
        .unshare(Namespaces::CGROUP | Namespaces::PID | Namespaces::MOUNT)
        .cgroup(own())
        .command("/bin/cat");
    cmd.args(["/proc/self/cgroup"])
        .stdout(Stdio::piped())
        .start_gate(r);
    let child = cmd.spawn().unwrap();
    let ns_text = read(format!("/proc/{}/cgroup", child.id()));
    assert!(!ns_text.is_empty());
    // SAFETY: one byte from a live buffer to our pipe.
    assert_eq!(
        unsafe { libc::write(std::os::fd::AsRawFd::as_raw_fd(&w), b"1".as_ptr().cast(), 1) },
        1
    );
    let out = child.wait_with_output().unwrap();
    rooted("gate", &String::from_utf8_lossy(&out.stdout));
    target.kill().unwrap();
    target.wait().unwrap();
}

#[test]
fn a_cgroupfs_mounted_inside_reaches_only_the_containers_cgroup() {
    // Root of a user namespace of its own, in a cgroup namespace: it may
    // mount the v1 pids hierarchy, whose root must be its own cgroup (not
    // our parent, where a sibling container sits, nor the host's).
    let p = setup!("cgj-mount");
    let mut sibling = Container::new()
        .cgroup(p.spec().backend(Backend::V1).resources(limits()))
        .command("/bin/sleep")
        .args(["30"])
        .spawn()
        .unwrap();
    let script = "mkdir -p /tmp/cgj-$$ && mount -t cgroup -o pids cgj /tmp/cgj-$$ \
                  && ls /tmp/cgj-$$ && (echo max > /tmp/cgj-$$/pids.max && echo RAISED; \
                  echo 1 > /tmp/cgj-$$/tasks && echo MOVED1); \
                  echo PROCS && cat /tmp/cgj-$$/cgroup.procs; \
                  umount /tmp/cgj-$$; rmdir /tmp/cgj-$$";
    let out = Container::new()
        .unshare(Namespaces::USER | Namespaces::CGROUP | Namespaces::MOUNT | Namespaces::PID)
        .uid_map([containment::IdMap::new(0, 100_000, 65_536)])
        .gid_map([containment::IdMap::new(0, 100_000, 65_536)])
        .cgroup(p.spec().backend(Backend::V1).resources(limits()))
        .command("/bin/sh")
        .args(["-c", script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
        .wait_with_output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    sibling.kill().unwrap();
    sibling.wait().unwrap();
    assert!(text.contains("PROCS"), "the mount failed: {out:?}");
    // No cgroup directory below the mount's root (the sibling's would be
    // there if it were our parent), and only the container's own tasks.
    assert!(!text.contains("ctr-"), "{text}");
    // Its files are host root's: no limit raised, no task moved.
    assert!(
        !text.contains("RAISED") && !text.contains("MOVED1"),
        "{text}"
    );
    let procs: Vec<&str> = text
        .split("PROCS")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .collect();
    assert!(!procs.is_empty() && procs.len() <= 3, "{procs:?} {text}");
    assert!(
        !procs.contains(&sibling.id().to_string().as_str()),
        "{text}"
    );
}

/// Our descriptors of `tasks` files in the test's parent cgroup (the
/// `Cgroup` of a running child holds directories of its own).
fn our_fds_into(p: &Parent) -> Vec<String> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|l| l.display().to_string())
        .filter(|l| l.contains(&p.rel) && l.ends_with("/tasks"))
        .collect()
}

#[test]
fn a_refused_join_into_a_running_container_names_its_directory() {
    // A realtime caller thread joining a container whose v1 cpu cgroup has
    // no realtime budget: the kernel refuses the child's write (EINVAL).
    let p = setup!("cgj-rt-join");
    require!(
        Path::new("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists(),
        "no realtime group scheduling (CONFIG_RT_GROUP_SCHED)"
    );
    let mut target = Container::new()
        .unshare(Namespaces::MOUNT | Namespaces::PID)
        .cgroup(
            p.spec()
                .backend(Backend::V1)
                .resources(Resources::new().cpus(1.0).pids_max(16)),
        )
        .command("/bin/sleep")
        .args(["30"])
        .spawn()
        .unwrap();
    let cpu_dir = target.cgroup().unwrap().v1_path("cpu").unwrap();
    common::set_scheduler(libc::SCHED_FIFO, 1).unwrap();
    let r = Container::new()
        .join_child(&target, Namespaces::MOUNT | Namespaces::PID)
        .command("/bin/true")
        .spawn();
    // Back to the normal policy.
    let _ = common::set_scheduler(libc::SCHED_OTHER, 0);
    let procs = read(cpu_dir.join("cgroup.procs"));
    let leaked = our_fds_into(&p);
    target.kill().unwrap();
    target.wait().unwrap();
    let e = r.map(|c| c.id()).unwrap_err();
    let containment::SpawnError::Child(c) = &e else {
        panic!("not a child error: {e:?}");
    };
    assert_eq!(c.step(), containment::Step::CgroupJoin, "{e}");
    assert_eq!(c.errno(), libc::EINVAL, "{e}");
    assert_eq!(
        c.detail(),
        Some(format!("cgroup v1 {}", cpu_dir.join("tasks").display()).as_str()),
        "{e}"
    );
    // Only the target is in its cgroup; none of our descriptors is left.
    assert_eq!(procs.trim(), target.id().to_string(), "{procs}");
    assert!(leaked.is_empty(), "{leaked:?}");
}

#[test]
fn a_cgroup_removed_before_the_childs_write_fails_cleanly() {
    // The child writes to `tasks` files the parent opened before clone; in
    // between, with a new user namespace, the parent runs the id-map
    // helpers while the child waits. A newuidmap of ours removes the (still
    // empty) pids directory there: the child's write must fail (ENODEV) at
    // its own step naming that directory, and nothing be left behind.
    const INNER: &str = "CGJ_REMOVED_INNER";
    let test = "a_cgroup_removed_before_the_childs_write_fails_cleanly";
    if let Some(rel) = std::env::var_os(INNER) {
        let p = Parent::named(&rel.to_string_lossy());
        let r = Container::new()
            .unshare(Namespaces::USER)
            .uid_map([containment::IdMap::new(0, 100_000, 65_536)])
            .gid_map([containment::IdMap::new(0, 100_000, 65_536)])
            .id_map_writer(containment::IdMapWriter::Helpers)
            .cgroup(p.spec().backend(Backend::V1).resources(limits()))
            .command("/bin/true")
            .spawn();
        let e = r.map(|c| c.id()).unwrap_err();
        let containment::SpawnError::Child(c) = &e else {
            panic!("not a child error: {e:?}");
        };
        assert_eq!(c.step(), containment::Step::CgroupJoin, "{e}");
        assert_eq!(c.errno(), libc::ENODEV, "{e}");
        let detail = c.detail().unwrap_or_default();
        assert!(
            detail.starts_with(&format!("cgroup v1 {}/", p.v1("pids").display()))
                && detail.ends_with("/tasks"),
            "{detail}"
        );
        let leaked = our_fds_into(&p);
        assert!(leaked.is_empty(), "{leaked:?}");
        for d in p.dirs() {
            if let Ok(rd) = std::fs::read_dir(&d) {
                let subdirs: Vec<_> = rd
                    .flatten()
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path())
                    .collect();
                assert!(subdirs.is_empty(), "left behind: {subdirs:?}");
            }
        }
        return;
    }
    let p = setup!("cgj-removed");
    let bin = std::env::temp_dir().join(common::unique("cgj-helpers"));
    std::fs::create_dir(&bin).unwrap();
    let pids = p.v1("pids");
    for (name, file) in [("newuidmap", "uid_map"), ("newgidmap", "gid_map")] {
        let script = format!(
            "#!/bin/sh\nfor d in {}/*/; do rmdir \"$d\"; done\n\
             printf '%s %s %s\\n' \"$2\" \"$3\" \"$4\" > /proc/$1/{file}\n",
            pids.display()
        );
        let path = bin.join(name);
        std::fs::write(&path, script).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(INNER, &p.rel)
        .env("PATH", path)
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&bin);
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "{text}");
}

#[test]
fn a_new_cgroup_namespace_has_a_directory_of_its_own_in_every_v1_hierarchy() {
    // The cgroup namespace's root in a hierarchy is the cgroup the process
    // is in when it unshares. Where the container had no directory of its
    // own (Backend::Hybrid: every v1 controller its limits do not need),
    // that was the caller's cgroup (the host root for a caller at `/`):
    // /proc/self/cgroup inside said `/`, yet root of a user namespace
    // mounting that hierarchy saw the caller's whole tree (other
    // containers' cgroups, `release_agent`), read-only. The container now
    // gets a directory in every v1 controller hierarchy, as with runc.
    // (Named hierarchies without controllers, `name=systemd`, are not
    // driven by the crate and stay the caller's.)
    let p = setup!("cgj-allv1");
    let mut c = Container::new()
        .unshare(Namespaces::USER | Namespaces::CGROUP | Namespaces::MOUNT | Namespaces::PID)
        .uid_map([containment::IdMap::new(0, 100_000, 65_536)])
        .gid_map([containment::IdMap::new(0, 100_000, 65_536)])
        .cgroup(
            p.spec()
                .backend(Backend::Hybrid)
                .resources(Resources::new().pids_max(16)),
        )
        .command("/bin/sleep")
        .args(["30"])
        .spawn()
        .unwrap();
    let text = read(format!("/proc/{}/cgroup", c.id()));
    c.kill().unwrap();
    c.wait().unwrap();
    for l in text
        .lines()
        .filter(|l| !l.starts_with("0::") && !l.contains(":name="))
    {
        assert!(
            l.contains(&p.rel),
            "rooted outside a directory of its own: {l} (all: {text})"
        );
    }
}

#[test]
fn a_cpuset_that_would_move_our_memory_gets_a_child_with_memory_of_its_own() {
    // In the vfork shape the child shares the caller's memory. A v1 cpuset
    // with memory_migrate on (or other memory nodes) rebinds and migrates
    // the memory of the task that joins it (cpuset_attach: the leader's
    // mm), which would be the caller's: such a join is made from the fork
    // shape instead. (One NUMA node here: memory_migrate is the trigger
    // this host can show.)
    let p = setup!("cgj-mems");
    let mut target = Container::new()
        .unshare(Namespaces::MOUNT)
        .cgroup(p.spec().backend(Backend::V1))
        .command("/bin/sleep")
        .args(["30"])
        .spawn()
        .unwrap();
    let cpuset = target.cgroup().unwrap().v1_path("cpuset").unwrap();
    let join = |target: &containment::Child| {
        let mut c = Container::new()
            .vfork_spawn(true)
            .join_child(target, Namespaces::MOUNT)
            .command("/bin/true")
            .spawn()
            .unwrap();
        let shape = c.spawned_in_vfork_shape();
        assert!(c.wait().unwrap().success());
        shape
    };
    assert!(
        join(&target),
        "same memory nodes, no migration: the vfork shape"
    );
    std::fs::write(cpuset.join("cpuset.memory_migrate"), "1").unwrap();
    assert!(!join(&target), "memory_migrate: memory of its own");
    std::fs::write(cpuset.join("cpuset.memory_migrate"), "0").unwrap();
    target.kill().unwrap();
    target.wait().unwrap();
}
