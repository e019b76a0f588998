//! The table of bad inputs (crate docs, "Bad input"): each gives a typed
//! error that names the field and the value, and a failed spawn leaves
//! nothing behind (no process, no mount).

#[macro_use]
mod common;

use containment::mount::Mount;
use containment::{Command, Container, IdMap, Namespaces, SpawnError, Step};
use std::os::unix::fs::PermissionsExt;

/// The checks for leftovers look at the whole process: one test at a time.
static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn mountinfo() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap()
}

/// Spawns, expects an error, and checks nothing was left behind.
fn fails(b: &mut containment::Command) -> SpawnError {
    let before = mountinfo();
    let e = match b.spawn() {
        Ok(c) => {
            let _ = c.kill();
            panic!("spawn succeeded")
        }
        Err(e) => e,
    };
    assert_eq!(mountinfo(), before, "a mount was left behind by: {e}");
    assert!(
        common::zombie_children().is_empty(),
        "a process was left behind by: {e}"
    );
    e
}

fn names(e: &SpawnError, field: &str, value: &str) {
    assert_eq!(e.field(), Some(field), "{e}");
    let msg = e.to_string();
    assert!(msg.contains(field) && msg.contains(value), "{msg}");
}

fn rootfs_builder(root: &str) -> Command {
    Container::new()
        .unshare(Namespaces::MOUNT | Namespaces::PID)
        .root(root)
        .command("/bin/true")
}

#[test]
fn nonexistent_relative_and_file_roots() {
    let _serial = serial();
    require_root!();
    names(
        &fails(&mut rootfs_builder("/nonexistent/root")),
        "root",
        "/nonexistent/root",
    );
    let e = fails(&mut rootfs_builder("relative/root"));
    names(&e, "root", "relative/root");
    assert!(e.to_string().contains("absolute"), "{e}");
    let e = fails(&mut rootfs_builder("/etc/passwd"));
    names(&e, "root", "/etc/passwd");
    assert!(e.to_string().contains("not a directory"), "{e}");
}

#[test]
fn mount_target_through_a_symlink_leaving_the_root() {
    let _serial = serial();
    require_root!();
    require!(
        std::path::Path::new("/bin/busybox").exists(),
        "busybox-static is not installed (cargo xtask test installs it)"
    );
    let root = std::env::temp_dir().join(common::unique("containment-bad-root"));
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/true")).unwrap();
    // etc -> /etc: a tmpfs "on /etc/x" must not land on the host's /etc.
    std::os::unix::fs::symlink("/etc", root.join("etc")).unwrap();
    std::os::unix::fs::symlink("../../../../../../tmp", root.join("up")).unwrap();
    let host_etc = std::fs::read_dir("/etc").unwrap().count();
    for target in ["/etc/containment-escape", "/up/containment-escape"] {
        let r = Container::new()
            .unshare(Namespaces::MOUNT | Namespaces::PID)
            .root(&root)
            .mount(Mount::tmpfs(target))
            .command("/bin/true")
            .status();
        // Either refused, or contained inside the root: never on the host.
        if let Err(e) = &r {
            assert!(
                e.to_string().contains("containment-escape") || e.child_error().is_some(),
                "{e}"
            );
        }
        assert!(!std::path::Path::new("/etc/containment-escape").exists());
        assert!(!std::path::Path::new("/tmp/containment-escape").exists());
    }
    assert_eq!(std::fs::read_dir("/etc").unwrap().count(), host_etc);
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn relative_mount_target_is_refused() {
    let _serial = serial();
    require_root!();
    let e = fails(
        &mut Container::new()
            .unshare(Namespaces::MOUNT)
            .mount(Mount::tmpfs("../etc"))
            .command("/bin/true"),
    );
    names(&e, "mount target", "../etc");
}

#[test]
fn program_that_is_not_executable() {
    let _serial = serial();
    require_root!();
    let f = std::env::temp_dir().join(common::unique("containment-noexec"));
    std::fs::write(&f, "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = fails(&mut Container::new().command(&f));
    let c = e.child_error().unwrap();
    assert_eq!((c.step(), c.errno()), (Step::Exec, libc::EACCES));
    assert!(e.to_string().contains(f.to_str().unwrap()), "{e}");
    std::fs::remove_file(&f).unwrap();
}

#[test]
fn fd_number_that_clashes_with_stdio() {
    let _serial = serial();
    let e = fails(
        Container::new()
            .command("/bin/true")
            .pass_fd(std::fs::File::open("/dev/null").unwrap(), 2),
    );
    names(&e, "pass_fd", "2");
}

fn cgroup_builder(r: containment::cgroup::Resources, parent: &std::path::Path) -> Command {
    Container::new()
        .cgroup(
            containment::cgroup::CgroupSpec::new()
                .parent(parent)
                .resources(r),
        )
        .command("/bin/true")
}

#[test]
fn limit_below_the_kernel_minimum_and_cpus_that_do_not_exist() {
    let _serial = serial();
    require_root!();
    use containment::cgroup::{CpuSet, Hierarchy, Resources};
    let Some(mount) = Hierarchy::detect()
        .ok()
        .and_then(|h| h.mount_point().map(|p| p.to_path_buf()))
    else {
        return common::skip("cgroup rows", "no cgroup2 mount on this host");
    };
    let parent = mount.join(common::unique("containment-bad"));
    let cpus = std::thread::available_parallelism().unwrap().get();
    let e = fails(&mut cgroup_builder(
        Resources::new().memory_max(1024),
        &parent,
    ));
    names(&e, "memory", "1024");
    let missing = format!("0-{}", cpus + 7);
    let set: CpuSet = missing.parse().unwrap();
    let e = fails(&mut cgroup_builder(
        Resources::new().cpuset_cpus(set),
        &parent,
    ));
    names(&e, "cpuset_cpus", &missing);
    let e = fails(&mut cgroup_builder(
        Resources::new().cpus(cpus as f64 * 4.0),
        &parent,
    ));
    names(&e, "cpus", &(cpus * 4).to_string());
    // Validation comes before any directory is made.
    assert!(!parent.exists(), "{parent:?} was created");
}

/// Runs as an unprivileged uid (see `id_map_the_kernel_refuses`).
#[test]
fn inner_refused_map_helper() {
    if std::env::var_os("CONTAINMENT_INNER_REFUSED_MAP").is_none() {
        return;
    }
    // Unprivileged, only our own uid may be mapped: the kernel refuses 0->0.
    // In the vfork shape too (the child shares our memory while it waits for
    // the maps): the refusal is reported, the child killed and reaped.
    for vfork in [true, false] {
        let e = fails(
            &mut Container::new()
                .unshare(Namespaces::USER)
                .uid_map([IdMap::single(0, 0)])
                // The kernel's refusal (Auto would run newuidmap, which
                // refuses too: tests/rootless.rs).
                .id_map_writer(containment::IdMapWriter::Direct)
                .vfork_spawn(vfork)
                .command("/bin/true"),
        );
        let msg = e.to_string();
        assert!(msg.contains("uid_map") && msg.contains("hint"), "{msg}");
        assert!(common::lasting_zombies().is_empty(), "vfork_spawn({vfork})");
    }
    println!("INNER-OK");
}

#[test]
fn id_map_the_kernel_refuses() {
    let _serial = serial();
    require_root!();
    let out = common::run_test_as(
        54_322,
        "inner_refused_map_helper",
        ("CONTAINMENT_INNER_REFUSED_MAP", "1"),
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("INNER-OK"),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
