//! File formats against a temporary directory (no root needed), in the
//! style of youki's libcgroups: the hierarchy root is a plain directory
//! filled with the interface files a test needs.

use super::*;
use std::fs;

struct TempTree(PathBuf);

impl TempTree {
    fn new(tag: &str) -> TempTree {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "cg-unit-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        fs::create_dir_all(&p).unwrap();
        TempTree(p)
    }
}

impl Drop for TempTree {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

const ALL: &str = "cpuset cpu io memory pids\n";

/// Fills `dir` with the core interface files and the given controllers.
fn fake_cgroup(dir: &Path, controllers: &str, subtree: &str) {
    fs::create_dir_all(dir).unwrap();
    for (f, v) in [
        ("cgroup.controllers", controllers),
        ("cgroup.subtree_control", subtree),
        ("cgroup.procs", ""),
        ("cgroup.events", "populated 0\nfrozen 0\n"),
        ("cgroup.freeze", "0\n"),
        ("cgroup.kill", ""),
    ] {
        fs::write(dir.join(f), v).unwrap();
    }
}

fn host(t: &TempTree) -> HostInfo {
    let sys = t.0.join("sys");
    fs::create_dir_all(sys.join("devices/system/cpu")).unwrap();
    fs::create_dir_all(sys.join("dev/block/8:0")).unwrap();
    fs::write(sys.join("devices/system/cpu/online"), "0-1\n").unwrap();
    HostInfo::from_sys(sys).unwrap()
}

#[test]
fn create_validates_names_and_stays_in_the_hierarchy() {
    let t = TempTree::new("names");
    let root = t.0.join("cg");
    fake_cgroup(&root, ALL, "");
    let h = Hierarchy::at(&root);
    for bad in ["", ".", "..", "a/b", "a\nb"] {
        assert_eq!(
            Cgroup::create_in(&h, None, bad).unwrap_err().field(),
            Some("cgroup name"),
            "{bad:?}"
        );
    }
    assert!(matches!(
        Cgroup::create_in(&h, Some(Path::new("/tmp")), "x"),
        Err(Error::NotInHierarchy { .. })
    ));
    assert!(matches!(
        Cgroup::create_in(&h, Some(&root.join("../escape")), "x"),
        Err(Error::NotInHierarchy { .. })
    ));
    // Default parent is created on the way; an existing cgroup is an error.
    let cg = Cgroup::create_in(&h, None, "web").unwrap();
    assert_eq!(cg.path(), root.join("containment/web"));
    assert_eq!(cg.hierarchy_path(), Path::new("/containment/web"));
    match Cgroup::create_in(&h, None, "web") {
        Err(Error::Io {
            op: "mkdir",
            source,
            ..
        }) => {
            assert_eq!(source.kind(), io::ErrorKind::AlreadyExists)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn apply_enables_controllers_down_the_tree_and_writes_files() {
    let t = TempTree::new("apply");
    let root = t.0.join("cg");
    fake_cgroup(&root, ALL, "");
    fake_cgroup(&root.join("parent"), ALL, "memory");
    let h = Hierarchy::at(&root);
    let cg = Cgroup::create_in(&h, Some(&root.join("parent")), "c").unwrap();
    fake_cgroup(cg.path(), ALL, "");
    for f in ["memory.max", "pids.max", "cpu.max"] {
        fs::write(cg.path().join(f), "max\n").unwrap();
    }
    let r = Resources::new()
        .memory_max(64u64 << 20)
        .pids_max(32)
        .cpus(0.5);
    cg.apply_with_host(&r, &host(&t)).unwrap();
    // Root got the last enabled controller written (files are plain here,
    // so each write replaces the previous one); the parent already had
    // memory and got the others.
    assert_eq!(
        fs::read_to_string(root.join("cgroup.subtree_control")).unwrap(),
        "+pids"
    );
    assert_eq!(
        fs::read_to_string(root.join("parent/cgroup.subtree_control")).unwrap(),
        "+pids"
    );
    assert_eq!(cg.read("memory.max").unwrap(), "67108864");
    assert_eq!(cg.read("pids.max").unwrap(), "32");
    assert_eq!(cg.read("cpu.max").unwrap(), "50000 100000");
    // The cgroup's own subtree_control is untouched.
    assert_eq!(cg.read("cgroup.subtree_control").unwrap(), "");

    // Update (docker update): only what is set is written.
    cg.apply_with_host(&Resources::new().pids_max(PidsLimit::Max), &host(&t))
        .unwrap();
    assert_eq!(cg.read("pids.max").unwrap(), "max");
    assert_eq!(cg.read("memory.max").unwrap(), "67108864");
}

#[test]
fn missing_controller_is_a_typed_error_naming_controller_and_file() {
    let t = TempTree::new("hybrid");
    let root = t.0.join("unified");
    fake_cgroup(&root, "hugetlb\n", "");
    let h = Hierarchy::at(&root);
    let cg = Cgroup::create_in(&h, Some(&root), "c").unwrap();
    fake_cgroup(cg.path(), "", "");
    let e = cg
        .apply_with_host(&Resources::new().memory_max(64u64 << 20), &host(&t))
        .unwrap_err();
    match &e {
        Error::ControllerUnavailable {
            controller, file, ..
        } => {
            assert_eq!(controller, "memory");
            assert_eq!(file, &root.join("cgroup.controllers"));
        }
        other => panic!("{other:?}"),
    }
    let msg = e.to_string();
    assert!(
        msg.contains("memory") && msg.contains("cgroup.controllers"),
        "{msg}"
    );
    // Nothing was written.
    assert!(cg.read_optional("memory.max").unwrap().is_none());
}

#[test]
fn validation_happens_before_any_write() {
    let t = TempTree::new("validate");
    let root = t.0.join("cg");
    fake_cgroup(&root, ALL, "");
    let cg = Cgroup::create_in(&Hierarchy::at(&root), Some(&root), "c").unwrap();
    fake_cgroup(cg.path(), ALL, "");
    let e = cg
        .apply_with_host(
            &Resources::new()
                .pids_max(5)
                .cpuset_cpus("0-3".parse().unwrap()),
            &host(&t),
        )
        .unwrap_err();
    assert_eq!(e.field(), Some("cpuset_cpus"));
    assert!(cg.read_optional("pids.max").unwrap().is_none());
}

#[test]
fn write_errors_name_file_and_value() {
    let t = TempTree::new("write");
    let cg = Cgroup::open_in(&t.0, &t.0).unwrap();
    let e = cg.write("memory.max", "123").unwrap_err();
    match &e {
        Error::Write {
            path, value, hint, ..
        } => {
            assert_eq!(path, &t.0.join("memory.max"));
            assert_eq!(value, "123");
            assert!(hint.is_some());
        }
        other => panic!("{other:?}"),
    }
    assert!(e.to_string().contains("memory.max"));
}

#[test]
fn procs_events_and_stats_formats() {
    let t = TempTree::new("procs");
    fake_cgroup(&t.0, ALL, "");
    let cg = Cgroup::open_in(&t.0, &t.0).unwrap();
    fs::write(t.0.join("cgroup.procs"), "12\n345\n").unwrap();
    assert_eq!(cg.procs().unwrap(), [12, 345]);
    fs::write(t.0.join("cgroup.procs"), "12\nx\n").unwrap();
    assert!(matches!(cg.procs(), Err(Error::Malformed { .. })));
    cg.attach(77).unwrap();
    assert_eq!(cg.read("cgroup.procs").unwrap(), "77");

    assert!(!cg.is_populated().unwrap());
    assert!(cg.wait_until_empty(Duration::from_millis(10)).unwrap());
    fs::write(t.0.join("cgroup.events"), "populated 1\nfrozen 1\n").unwrap();
    assert!(cg.is_populated().unwrap());
    assert!(cg.is_frozen().unwrap());
    assert!(!cg.wait_until_empty(Duration::from_millis(60)).unwrap());

    // Stats: absent files are None, not errors.
    let s = cg.stats().unwrap();
    assert_eq!(s.memory.current, None);
    assert_eq!(s.memory.events, None);
    assert_eq!(s.pids.current, None);
    assert!(s.io.is_empty());
    assert!(s.cpu_pressure.is_none());
    fs::write(t.0.join("memory.current"), "4096\n").unwrap();
    fs::write(t.0.join("memory.stat"), "anon 1\nfile 2\n").unwrap();
    fs::write(
        t.0.join("memory.events"),
        "low 0\nhigh 0\nmax 2\noom 1\noom_kill 1\n",
    )
    .unwrap();
    fs::write(t.0.join("pids.current"), "3\n").unwrap();
    fs::write(t.0.join("pids.events"), "max 4\n").unwrap();
    fs::write(t.0.join("cpu.pressure"), "some avg10=0.00 avg60=0.00 avg300=0.00 total=5\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=1\n").unwrap();
    let s = cg.stats().unwrap();
    assert_eq!(s.memory.current, Some(4096));
    assert_eq!(s.memory.stat.get("file"), Some(&2));
    assert_eq!(s.memory.events.unwrap().oom_kill, 1);
    assert_eq!((s.pids.current, s.pids.max_events), (Some(3), Some(4)));
    assert_eq!(s.cpu_pressure.unwrap().some.total, 5);
    assert_eq!(
        cg.wait_for_oom_kill(Duration::from_millis(10)).unwrap(),
        Some(1)
    );
    assert_eq!(
        cg.wait_for_oom_kill_after(1, Duration::from_millis(10))
            .unwrap(),
        None
    );
    fs::write(t.0.join("memory.current"), "lots\n").unwrap();
    assert!(matches!(cg.memory_stats(), Err(Error::Malformed { .. })));
}

#[test]
fn prepare_creates_and_applies_or_cleans_up() {
    let t = TempTree::new("prepare");
    let root = t.0.join("cg");
    fake_cgroup(&root, ALL, "");
    let h = Hierarchy::at(&root);
    let hi = host(&t);
    assert!(CgroupConfig::default()
        .prepare_in(&h, Some(&hi))
        .unwrap()
        .is_none());

    // Invalid limits: nothing is created.
    let bad = CgroupConfig::new(
        CgroupSpec::new()
            .parent(&root)
            .name("bad")
            .resources(Resources::new().cpus(64.0)),
    );
    assert_eq!(
        bad.prepare_in(&h, Some(&hi)).unwrap_err().field(),
        Some("cpus")
    );
    assert!(!root.join("bad").exists());

    // A limit whose controller is missing in the (empty) new directory: the
    // directory is removed again.
    let cfg = CgroupConfig::new(
        CgroupSpec::new()
            .parent(&root)
            .name("web")
            .resources(Resources::new().pids_max(10))
            .remove_on_exit(true),
    );
    assert!(cfg.remove_on_exit());
    assert!(matches!(
        cfg.prepare_in(&h, Some(&hi)),
        Err(Error::Io { .. })
    ));
    assert!(!root.join("web").exists());

    // No limits: created under the default parent with a generated name.
    let cg = CgroupConfig::new(CgroupSpec::new())
        .prepare_in(&h, Some(&hi))
        .unwrap()
        .unwrap();
    assert!(cg.path().starts_with(root.join("containment")));
    let name = cg
        .path()
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(
        name.starts_with(&format!("ctr-{}-", std::process::id())),
        "{name}"
    );
    assert!(!CgroupConfig::default().remove_on_exit());
}

#[test]
fn cloned_fd_is_cloexec_and_names_the_same_directory() {
    use std::os::fd::AsRawFd;
    let t = TempTree::new("fd");
    let cg = Cgroup::open_in(&t.0, &t.0).unwrap();
    let fd = cg.try_clone_fd().unwrap();
    assert_ne!(fd.as_raw_fd(), cg.as_fd().as_raw_fd());
    let flags = nix::fcntl::fcntl(&fd, nix::fcntl::FcntlArg::F_GETFD).unwrap();
    assert!(flags & libc::FD_CLOEXEC != 0);
    let link = fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
    assert_eq!(link, t.0);
}

#[test]
fn a_malformed_docker_flag_value_names_the_flag() {
    for (flag, value) in [
        ("--memory", "lots"),
        ("-m", "12q"),
        ("--cpus", "many"),
        ("--pids-limit", "x"),
    ] {
        let e = Resources::new().docker_flag(flag, value).unwrap_err();
        assert_eq!(e.field(), Some(flag), "{e}");
        assert!(e.to_string().contains(flag), "{e}");
        assert!(e.to_string().contains(value), "{e}");
    }
}

/// Creates `par/c<i>` and removes it (and `par` when empty, as `contrun
/// delete` does) `rounds` times while another thread tries to remove `par`
/// (at most once a round, like one concurrent delete): the creation must
/// start over when `par` vanishes between its `mkdir` and the child's (it
/// failed with `ENOENT` before).
fn race_parent_removal(h: &Hierarchy, backend: Backend, roots: &[PathBuf], rounds: u32) {
    use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
    let stop = std::sync::Arc::new(AtomicBool::new(false));
    // One removal allowed per round.
    let tokens = std::sync::Arc::new(AtomicU32::new(0));
    let remover = {
        let (stop, tokens) = (stop.clone(), tokens.clone());
        let parents: Vec<PathBuf> = roots.iter().map(|r| r.join("par")).collect();
        std::thread::spawn(move || {
            let mut removed = 0u64;
            while !stop.load(Ordering::Relaxed) {
                if tokens.load(Ordering::Acquire) == 0 {
                    std::hint::spin_loop();
                    continue;
                }
                for p in &parents {
                    if fs::remove_dir(p).is_ok() {
                        removed += 1;
                        tokens.fetch_sub(1, Ordering::AcqRel);
                        break;
                    }
                }
            }
            removed
        })
    };
    let mut failure = None;
    for i in 0..rounds {
        tokens.store(1, Ordering::Release);
        match Cgroup::create_with(h, backend, Some(Path::new("par")), &format!("c{i}")) {
            Ok(cg) => cg.discard(),
            Err(e) => {
                failure = Some((i, e));
                break;
            }
        }
        for r in roots {
            let _ = fs::remove_dir(r.join("par"));
        }
    }
    stop.store(true, Ordering::Relaxed);
    let removed = remover.join().unwrap();
    if let Some((i, e)) = failure {
        panic!("round {i}: {e} (the other thread removed the parent {removed} times)");
    }
}

#[test]
fn creation_starts_over_when_a_parent_vanishes_v2() {
    let t = TempTree::new("race2");
    let h = Hierarchy::at(&t.0);
    race_parent_removal(&h, Backend::V2, std::slice::from_ref(&t.0), 2_000);
}

#[test]
fn creation_starts_over_when_a_parent_vanishes_v1() {
    let t = TempTree::new("race1");
    let (m, p) = (t.0.join("memory"), t.0.join("pids"));
    for d in [&m, &p] {
        fs::create_dir_all(d).unwrap();
    }
    let h = Hierarchy::v1_at(
        None,
        &[(&["memory"][..], m.clone()), (&["pids"], p.clone())],
    );
    race_parent_removal(&h, Backend::V1, &[m, p], 2_000);
}

#[test]
fn the_walk_finds_a_directory_renamed_under_it() {
    // cgroup v1 lets a container with a cgroup mount of its own rename its
    // child cgroups within their parent. The walk listed a directory and
    // opened each child by name later: a child renamed meanwhile was gone
    // (ENOENT) and skipped with the pids in it, so is_populated, kill and
    // the wait of a v1 cgroup could be made to see no process. A renamer
    // thread and many siblings (a wide window) stand in for the container.
    use std::sync::atomic::{AtomicBool, Ordering};
    let t = TempTree::new("rename");
    let top = t.0.join("top");
    for i in 0..200 {
        fake_cgroup(&top.join(format!("s{i}")), "", "");
    }
    fake_cgroup(&top.join("h0"), "", "");
    fs::write(top.join("h0/cgroup.procs"), "4242\n").unwrap();
    let stop = AtomicBool::new(false);
    let walks: Vec<_> = std::thread::scope(|s| {
        s.spawn(|| {
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                fs::rename(top.join(format!("h{i}")), top.join(format!("h{}", i + 1))).unwrap();
                i += 1;
            }
        });
        let walks = (0..50)
            .map(|_| {
                let mut v = Vec::new();
                procs_tree(&top, &mut v).map(|()| v)
            })
            .collect();
        stop.store(true, Ordering::Relaxed);
        walks
    });
    let missed = walks
        .iter()
        .filter(|w| w.as_ref().is_ok_and(|v| !v.contains(&4242)))
        .count();
    assert_eq!(
        missed,
        0,
        "{missed} of {} walks missed the renamed child",
        walks.len()
    );
    for w in walks {
        assert_eq!(w.unwrap(), vec![4242]);
    }
}
