//! Errors that point the right way, and defaults that contain (issue #11,
//! items 7 and 8): each case is checked on what the kernel shows
//! (`/proc/<pid>/timens_offsets`, `uid_map`, `status`), or on the errno and
//! hint of a failure the kernel really produced.

#[macro_use]
mod common;

use containment::cgroup::CgroupSpec;
use containment::namespace::Namespace;
use containment::{Capabilities, Container, IdMap, Namespaces, SpawnError, TimeOffsets};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One test at a time: a copy of busybox made while another thread forks
/// would fail to exec with ETXTBSY (the forked child holds the written
/// descriptor until its own exec).
static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn status_field(pid: u32, key: &str) -> String {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in status"))
        .trim()
        .to_string()
}

/// Runs this binary's test `name` as `uid` with `env` set and expects it to
/// print INNER-OK.
fn inner_ok(uid: u32, name: &str, env: &str) {
    let out = common::run_test_as(uid, name, (env, "1"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("INNER-OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn is_inner(env: &str) -> bool {
    std::env::var_os(env).is_some()
}

// ------------------------------------------------------------ 7. errors

#[test]
fn a_time_offset_beyond_i64_is_refused_not_wrapped() {
    let _serial = serial();
    require_root!();
    require!(
        Path::new("/proc/self/ns/time").exists(),
        "no time namespaces"
    );
    for offsets in [
        TimeOffsets::new().monotonic(Duration::from_secs(u64::MAX)),
        TimeOffsets::new().boottime(Duration::from_secs(u64::MAX)),
        TimeOffsets::new().monotonic(Duration::from_secs(1 << 63)),
    ] {
        let r = Container::new()
            .unshare(Namespaces::TIME)
            .time_offsets(offsets)
            .command("/bin/sleep")
            .args(["30"])
            .spawn();
        match r {
            Err(e) => assert_eq!(e.field(), Some("time_offsets"), "{e}"),
            Ok(mut c) => {
                let shown =
                    std::fs::read_to_string(format!("/proc/{}/timens_offsets", c.id())).unwrap();
                let _ = c.kill();
                let _ = c.wait();
                panic!("{offsets:?} ran; the kernel shows:\n{shown}");
            }
        }
    }
    // A large offset that fits is still taken as given.
    let mut c = Container::new()
        .unshare(Namespaces::TIME)
        .time_offsets(TimeOffsets::new().monotonic(Duration::from_secs(86_400 * 365)))
        .command("/bin/sleep")
        .args(["30"])
        .spawn()
        .unwrap();
    let shown = std::fs::read_to_string(format!("/proc/{}/timens_offsets", c.id())).unwrap();
    c.kill().unwrap();
    c.wait().unwrap();
    assert!(
        shown
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["monotonic", "31536000", "0"]),
        "{shown}"
    );
}

const INTO_CGROUP_ENV: &str = "CONTAINMENT_ERRS_INTO_CGROUP";

#[test]
fn inner_clone_into_a_cgroup_we_may_not_write() {
    if !is_inner(INTO_CGROUP_ENV) {
        return;
    }
    let parent = PathBuf::from(std::env::var_os(INTO_CGROUP_ENV).unwrap());
    for vfork in [true, false] {
        let e = Container::new()
            .cgroup(CgroupSpec::new().parent(&parent))
            .vfork_spawn(vfork)
            .command("/bin/true")
            .spawn()
            .map(|_| ())
            .unwrap_err();
        match &e {
            SpawnError::Setup { source, hint, .. } => {
                let errno = source.raw_os_error();
                assert!(
                    matches!(errno, Some(libc::EACCES | libc::EPERM)),
                    "vfork {vfork}: {e}"
                );
                let hint = hint.as_deref().unwrap_or("");
                assert!(
                    hint.contains("cgroup.procs") && hint.contains("common ancestor"),
                    "vfork {vfork}: {e}"
                );
            }
            _ => panic!("vfork {vfork}: not a Setup error: {e}"),
        }
        // The cgroup made for the spawn was removed again.
        let left: Vec<_> = std::fs::read_dir(&parent)
            .unwrap()
            .flatten()
            .filter(|e| e.file_type().unwrap().is_dir())
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }
    println!("INNER-OK");
}

#[test]
fn clone_into_an_unwritable_cgroup_is_not_reported_as_missing_clone3() {
    let _serial = serial();
    require_root!();
    let cg = common::TestCgroup::new("containment-errs-into");
    require!(cg.is_some(), "no cgroup2 mount");
    let cg = cg.unwrap();
    let uid = 54_412;
    // The caller may create cgroups below this one (it owns the directory),
    // but not move a process out of its own cgroup: the common ancestor is
    // the root cgroup, whose cgroup.procs belongs to root.
    std::os::unix::fs::chown(&cg.0, Some(uid), Some(uid)).unwrap();
    let out = common::run_test_as(
        uid,
        "inner_clone_into_a_cgroup_we_may_not_write",
        (INTO_CGROUP_ENV, cg.0.to_str().unwrap()),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("INNER-OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const NETLIMIT_ENV: &str = "CONTAINMENT_ERRS_NETLIMIT";

fn set_limit(n: u64) {
    std::fs::write("/proc/sys/user/max_net_namespaces", format!("{n}\n")).unwrap();
    assert_eq!(
        std::fs::read_to_string("/proc/sys/user/max_net_namespaces")
            .unwrap()
            .trim(),
        n.to_string()
    );
}

#[test]
fn inner_net_namespace_limit() {
    if !is_inner(NETLIMIT_ENV) {
        return;
    }
    // Root of a user namespace of our own: its max_net_namespaces is ours.
    let probed = containment::probe::host();
    assert_ne!(
        probed
            .max_namespaces
            .iter()
            .find(|(k, _)| *k == Namespace::Net)
            .unwrap()
            .1,
        Some(0)
    );
    set_limit(0);
    let e = Container::new()
        .unshare(Namespaces::NET)
        .command("/bin/true")
        .spawn()
        .map(|_| ())
        .unwrap_err();
    match &e {
        SpawnError::Unsupported { feature, reason } => {
            assert_eq!(*feature, "network namespace", "{e}");
            assert!(reason.contains("max_net_namespaces is 0"), "{e}");
        }
        _ => panic!("limit 0: {e}"),
    }
    // A limit of 1, reached by a first container: the second is told which
    // limit and its value now.
    set_limit(1);
    let mut first = Container::new()
        .unshare(Namespaces::NET)
        .command("/bin/sleep")
        .args(["30"])
        .spawn()
        .unwrap();
    let e = Container::new()
        .unshare(Namespaces::NET | Namespaces::UTS)
        .command("/bin/true")
        .spawn()
        .map(|_| ())
        .unwrap_err();
    first.kill().unwrap();
    first.wait().unwrap();
    match &e {
        SpawnError::NamespaceLimit { limits, .. } => {
            assert!(limits.contains(&(Namespace::Net, Some(1))), "{e}");
            assert!(e.to_string().contains("max_net_namespaces"), "{e}");
        }
        _ => panic!("limit 1 reached: {e}"),
    }
    // Root of a nested user namespace keeps the default map (its own uid 0
    // is an unprivileged id of the host, as in the rootless case).
    let mut c = Container::new()
        .unshare(Namespaces::USER)
        .command("/bin/sleep")
        .args(["30"])
        .spawn()
        .unwrap();
    let uid_map = std::fs::read_to_string(format!("/proc/{}/uid_map", c.id())).unwrap();
    c.kill().unwrap();
    c.wait().unwrap();
    assert_eq!(
        uid_map.split_whitespace().collect::<Vec<_>>(),
        ["0", "0", "1"]
    );
    println!("INNER-OK");
}

#[test]
fn an_exhausted_namespace_limit_is_read_when_the_clone_fails() {
    let _serial = serial();
    require_root!();
    // The limit is changed only inside a user namespace made for this test
    // (ucount limits are per user namespace), never the host's sysctl.
    let exe = std::env::current_exe().unwrap();
    let out = Container::new()
        .unshare(Namespaces::USER)
        .uid_map([IdMap::single(0, 0)])
        .gid_map([IdMap::single(0, 0)])
        .command(&exe)
        .args([
            "--exact",
            "inner_net_namespace_limit",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(NETLIMIT_ENV, "1")
        .current_dir("/")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("INNER-OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const NPROC_ENV: &str = "CONTAINMENT_ERRS_NPROC";

#[test]
fn inner_nproc() {
    if !is_inner(NPROC_ENV) {
        return;
    }
    let lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid rlimit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NPROC, &lim) }, 0);
    for vfork in [true, false] {
        let e = Container::new()
            .vfork_spawn(vfork)
            .command("/bin/true")
            .spawn()
            .map(|_| ())
            .unwrap_err();
        match &e {
            SpawnError::Setup { source, hint, .. } => {
                assert_eq!(source.raw_os_error(), Some(libc::EAGAIN), "{e}");
                assert!(
                    hint.as_deref().unwrap_or("").contains("RLIMIT_NPROC"),
                    "vfork {vfork}: {e}"
                );
            }
            _ => panic!("vfork {vfork}: {e}"),
        }
    }
    println!("INNER-OK");
}

#[test]
fn clone_eagain_from_rlimit_nproc_has_a_hint() {
    let _serial = serial();
    require_root!();
    inner_ok(54_413, "inner_nproc", NPROC_ENV);
}

const NONDUMPABLE_ENV: &str = "CONTAINMENT_ERRS_NONDUMPABLE";

#[test]
fn inner_nondumpable() {
    if !is_inner(NONDUMPABLE_ENV) {
        return;
    }
    // A privilege drop as a daemon does it: the process is no longer
    // dumpable, so its children's /proc files belong to root.
    let uid = 54_414;
    // SAFETY: plain syscalls; glibc applies them to every thread.
    unsafe {
        assert_eq!(libc::setgroups(0, std::ptr::null()), 0);
        assert_eq!(libc::setresgid(uid, uid, uid), 0);
        assert_eq!(libc::setresuid(uid, uid, uid), 0);
        assert_eq!(libc::prctl(libc::PR_GET_DUMPABLE), 0);
    }
    for vfork in [true, false] {
        let e = Container::new()
            .unshare(Namespaces::USER)
            .vfork_spawn(vfork)
            .command("/bin/true")
            .spawn()
            .map(|_| ())
            .unwrap_err();
        match &e {
            SpawnError::Setup { source, hint, .. } => {
                assert_eq!(source.raw_os_error(), Some(libc::EACCES), "{e}");
                let hint = hint.as_deref().unwrap_or("");
                assert!(
                    hint.contains("dumpable") && hint.contains("PR_SET_DUMPABLE"),
                    "vfork {vfork}: {e}"
                );
            }
            _ => panic!("vfork {vfork}: {e}"),
        }
        assert!(common::lasting_zombies().is_empty());
    }
    println!("INNER-OK");
}

#[test]
fn uid_map_eacces_after_a_privilege_drop_has_a_hint() {
    let _serial = serial();
    require_root!();
    // Root re-executes itself, then drops to an unused uid in the test.
    inner_ok(0, "inner_nondumpable", NONDUMPABLE_ENV);
}

// ---------------------------------------------------------- 8. defaults

#[test]
fn root_without_id_maps_is_not_mapped_to_host_root() {
    let _serial = serial();
    require_root!();
    let r = Container::new()
        .unshare(Namespaces::USER)
        .command("/bin/sleep")
        .args(["30"])
        .spawn();
    match r {
        Err(e) => {
            assert_eq!(e.field(), Some("uid_map"), "{e}");
            assert!(e.to_string().contains("IdMap::single(0, 0)"), "{e}");
        }
        Ok(mut c) => {
            let shown = std::fs::read_to_string(format!("/proc/{}/uid_map", c.id())).unwrap();
            let _ = c.kill();
            let _ = c.wait();
            panic!("spawned with uid_map {shown:?}");
        }
    }
    // Only the gid map given: still refused, naming gid_map.
    let e = Container::new()
        .unshare(Namespaces::USER)
        .uid_map([IdMap::new(0, 100_000, 65_536)])
        .command("/bin/true")
        .spawn()
        .map(|_| ())
        .unwrap_err();
    assert_eq!(e.field(), Some("gid_map"), "{e}");
    // Host root as root inside: the explicit opt-in, and what the kernel shows.
    let mut c = Container::new()
        .unshare(Namespaces::USER)
        .uid_map([IdMap::single(0, 0)])
        .gid_map([IdMap::single(0, 0)])
        .command("/bin/sleep")
        .args(["30"])
        .spawn()
        .unwrap();
    let uid_map = std::fs::read_to_string(format!("/proc/{}/uid_map", c.id())).unwrap();
    c.kill().unwrap();
    c.wait().unwrap();
    assert_eq!(
        uid_map.split_whitespace().collect::<Vec<_>>(),
        ["0", "0", "1"]
    );
    // An unprivileged range: root inside is 100000 outside.
    let mut c = Container::new()
        .unshare(Namespaces::USER)
        .uid_map([IdMap::new(0, 100_000, 65_536)])
        .gid_map([IdMap::new(0, 100_000, 65_536)])
        .command("/bin/sleep")
        .args(["30"])
        .spawn()
        .unwrap();
    let uid_map = std::fs::read_to_string(format!("/proc/{}/uid_map", c.id())).unwrap();
    let uid = status_field(c.id(), "Uid:");
    c.kill().unwrap();
    c.wait().unwrap();
    assert_eq!(
        uid_map.split_whitespace().collect::<Vec<_>>(),
        ["0", "100000", "65536"]
    );
    assert!(uid.starts_with("100000"), "{uid}");
}

const ROOTLESS_ENV: &str = "CONTAINMENT_ERRS_ROOTLESS";

#[test]
fn inner_rootless_default_map() {
    if !is_inner(ROOTLESS_ENV) {
        return;
    }
    let mut c = Container::new()
        .unshare(Namespaces::USER)
        .command("/bin/sleep")
        .args(["30"])
        .spawn()
        .unwrap();
    let uid_map = std::fs::read_to_string(format!("/proc/{}/uid_map", c.id())).unwrap();
    c.kill().unwrap();
    c.wait().unwrap();
    assert_eq!(
        uid_map.split_whitespace().collect::<Vec<_>>(),
        ["0", "54415", "1"]
    );
    println!("INNER-OK");
}

#[test]
fn an_unprivileged_caller_still_gets_its_own_id_as_root() {
    let _serial = serial();
    require_root!();
    require!(
        containment::probe::host().unprivileged_user_namespaces(),
        "unprivileged user namespaces are disabled"
    );
    inner_ok(54_415, "inner_rootless_default_map", ROOTLESS_ENV);
}

/// A temporary root with busybox's sleep, removed on drop.
struct Root(PathBuf);

impl Root {
    fn new() -> Root {
        let p = std::env::temp_dir().join(common::unique("containment-errs-root"));
        std::fs::create_dir_all(p.join("bin")).unwrap();
        std::fs::create_dir_all(p.join("proc")).unwrap();
        std::fs::create_dir_all(p.join("dev")).unwrap();
        std::fs::copy("/bin/busybox", p.join("bin/busybox")).unwrap();
        std::os::unix::fs::symlink("busybox", p.join("bin/sleep")).unwrap();
        Root(p)
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn caps_of(b: &mut containment::Container) -> (String, String, String) {
    let mut c = b.command("/bin/sleep").args(["30"]).spawn().unwrap();
    let pid = c.id();
    let caps = (
        status_field(pid, "CapEff:"),
        status_field(pid, "CapPrm:"),
        status_field(pid, "CapBnd:"),
    );
    c.kill().unwrap();
    c.wait().unwrap();
    caps
}

#[test]
fn a_container_with_a_root_does_not_keep_every_capability() {
    let _serial = serial();
    require_root!();
    require!(
        Path::new("/bin/busybox").exists(),
        "busybox-static is not installed (cargo xtask test installs it)"
    );
    let root = Root::new();
    // Docker's set less CAP_MKNOD (no device rules, no user namespace).
    let docker = "00000000a00425fb".to_string();
    let (eff, prm, bnd) = caps_of(
        &mut Container::new()
            .unshare(Namespaces::MOUNT | Namespaces::PID)
            .root(&root.0),
    );
    assert_eq!((eff, prm, bnd), (docker.clone(), docker.clone(), docker));
    // In a user namespace too (root there holds every capability of it).
    let (eff, _, bnd) = caps_of(
        &mut Container::new()
            .unshare(Namespaces::USER | Namespaces::MOUNT | Namespaces::PID)
            .uid_map([IdMap::single(0, 0)])
            .gid_map([IdMap::single(0, 0)])
            .root(&root.0),
    );
    assert_eq!(
        (eff.as_str(), bnd.as_str()),
        ("00000000a80425fb", "00000000a80425fb")
    );
    // The opt-in keeps what the caller has.
    let mine = status_field(std::process::id(), "CapBnd:");
    let (eff, _, bnd) = caps_of(
        &mut Container::new()
            .unshare(Namespaces::MOUNT | Namespaces::PID)
            .keep_all_capabilities()
            .root(&root.0),
    );
    assert_eq!((eff, bnd), (mine.clone(), mine.clone()));
    // An explicit choice is taken as given.
    let (eff, _, bnd) = caps_of(
        &mut Container::new()
            .unshare(Namespaces::MOUNT | Namespaces::PID)
            .capabilities(Capabilities::none())
            .root(&root.0),
    );
    assert_eq!(
        (eff.as_str(), bnd.as_str()),
        ("0000000000000000", "0000000000000000")
    );
    // Without a root nothing changes (a process in a few namespaces, not a
    // container with its own filesystem).
    let (eff, _, _) = caps_of(&mut Container::new().unshare(Namespaces::UTS));
    assert_eq!(eff, mine);
}

/// Installs on the calling thread only (no TSYNC) a seccomp filter that
/// fails clone3 with EPERM, as old container profiles did.
#[cfg(target_arch = "x86_64")]
fn filter_clone3_on_this_thread() {
    const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
    const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
    let stmt = |code: u32, k: u32| libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    };
    let jeq = |k: u32, jt: u8, jf: u8| libc::sock_filter {
        code: (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16,
        jt,
        jf,
        k,
    };
    let ld = libc::BPF_LD | libc::BPF_W | libc::BPF_ABS;
    let ret = libc::BPF_RET | libc::BPF_K;
    let mut prog = [
        stmt(ld, 4),            // seccomp_data.arch
        jeq(0xc000_003e, 1, 0), // AUDIT_ARCH_X86_64
        stmt(ret, SECCOMP_RET_ALLOW),
        stmt(ld, 0), // seccomp_data.nr
        jeq(libc::SYS_clone3 as u32, 0, 1),
        stmt(ret, SECCOMP_RET_ERRNO | libc::EPERM as u32),
        stmt(ret, SECCOMP_RET_ALLOW),
    ];
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_mut_ptr(),
    };
    // SAFETY: a valid program for this thread; no_new_privs first.
    unsafe {
        assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
        assert_eq!(
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0,
                &fprog as *const libc::sock_fprog
            ),
            0
        );
    }
}

#[cfg(target_arch = "x86_64")]
#[test]
fn clone3_filtered_with_eperm_still_falls_back() {
    let _serial = serial();
    require_root!();
    let cg = common::TestCgroup::new("containment-errs-seccomp");
    require!(cg.is_some(), "no cgroup2 mount");
    let cg = cg.unwrap();
    // On a thread of its own, which ends with the filter.
    let parent = cg.0.clone();
    std::thread::spawn(move || {
        filter_clone3_on_this_thread();
        // SAFETY: a null pointer with size 0 is rejected before any use.
        let r = unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize) };
        assert_eq!(
            (r, std::io::Error::last_os_error().raw_os_error()),
            (-1, Some(libc::EPERM))
        );
        for vfork in [true, false] {
            // Without a cgroup: the legacy clone(2) gives the same container.
            let out = Container::new()
                .unshare(Namespaces::UTS)
                .hostname("legacy")
                .vfork_spawn(vfork)
                .command("/bin/hostname")
                .output()
                .unwrap();
            assert_eq!(out.stdout, b"legacy\n");
            // With a cgroup it cannot: said so, never silently without it.
            let e = Container::new()
                .cgroup(CgroupSpec::new().parent(&parent))
                .vfork_spawn(vfork)
                .command("/bin/true")
                .spawn()
                .map(|_| ())
                .unwrap_err();
            match &e {
                SpawnError::Unsupported { feature, .. } => {
                    assert_eq!(*feature, "CLONE_INTO_CGROUP")
                }
                _ => panic!("{e}"),
            }
        }
    })
    .join()
    .unwrap();
}
