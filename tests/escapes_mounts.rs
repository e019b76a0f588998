//! The mount path against the 2025–2026 runc / crun / bubblewrap advisories
//! whose shape this crate shares (issue 11, item 9), each as an attack by a
//! hostile root filesystem: symlinks planted ahead, or swapped by a racing
//! thread (standing for a process of another container that shares the
//! root). Every target is a canary the test owns; nothing of the host's is
//! aimed at.
//!
//! - runc CVE-2025-31133 (GHSA-9493-h29p-rfm2): files were masked with the
//!   *container's* `/dev/null`, which a symlink could replace;
//! - runc CVE-2025-52565 (GHSA-qw9x-cqr3-wc7r) and the "masked path" races:
//!   a mount target swapped between resolution and use, so masks and
//!   read-only binds land beside the filesystem they were meant for;
//! - runc CVE-2025-52881 (GHSA-cgrx-mc8f-2prm): writes to `/proc` redirected
//!   to another file;
//! - crun GHSA-7vwr-4279-7gq5 / runc CVE-2026-41579 and crun CVE-2026-88264
//!   (crun#2249): `/dev` or `/dev/console` a symlink out of the root;
//! - bubblewrap CVE-2026-87766 (GHSA-pxhw-h44j-8pfx): a parent symlink of a
//!   mount point followed onto the host while creating it.
//!
//! The user-namespace overlay hint of item 7 is here too.

#[macro_use]
mod common;

use containment::mount::{DevSpec, Mount, Overlay, Rootfs};
use containment::{Container, IdMap, Namespaces, SpawnError, Step, TimeOffsets};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

const NS: Namespaces = Namespaces::MOUNT.union(Namespaces::PID);

use common::TempDir;

/// A busybox root (every applet) under `dir/root`.
fn busybox_root(dir: &Path) -> PathBuf {
    common::busybox::root(dir)
}

fn mountinfo() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap()
}

/// Names in a directory, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn output(b: &mut containment::Container, script: &str) -> String {
    common::sh(b, script)
}

/// Swaps `link` between symlinks to `a` and to `b` (atomic renames) until
/// stopped: a process of another container sharing the root.
struct Racer {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<u64>>,
}

impl Racer {
    fn start(link: PathBuf, a: PathBuf, b: PathBuf) -> Racer {
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let tmp = link.with_extension("racer-tmp");
            let mut n = 0u64;
            while !s.load(Ordering::Relaxed) {
                for t in [&a, &b] {
                    let _ = std::fs::remove_file(&tmp);
                    symlink(t, &tmp).unwrap();
                    std::fs::rename(&tmp, &link).unwrap();
                    n += 1;
                }
            }
            n
        });
        Racer {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Racer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// CVE-2025-31133: the root's `/dev/null` is a symlink to a host canary
/// (reachable inside through a bind), the root's `/dev` is kept, and a
/// file is masked. The mask must be the host's null device, never the
/// root's `/dev/null`; the canary must stay as it was.
#[test]
fn mask_is_the_hosts_null_device_not_the_roots_dev_null() {
    require_root!();
    let dir = TempDir::new("null");
    let root = busybox_root(dir.path());
    let share = dir.path().join("share");
    std::fs::create_dir(&share).unwrap();
    std::fs::write(share.join("canary"), b"canary\n").unwrap();
    symlink("/data/canary", root.join("dev/null")).unwrap();
    std::fs::write(root.join("etc/secret"), b"secret\n").unwrap();
    let out = output(
        &mut Container::new()
            .unshare(NS)
            .root(&root)
            .dev(DevSpec::Keep)
            .mount(Mount::bind(&share, "/data"))
            .masked_paths(["/etc/secret"]),
        "stat -c '%F %t:%T' /etc/secret; echo pwned > /etc/secret; cat /etc/secret; echo end",
    );
    assert_eq!(out, "character special file 1:3\nend\n");
    assert_eq!(std::fs::read(share.join("canary")).unwrap(), b"canary\n");
}

/// The "masked path" race of CVE-2025-31133 / CVE-2025-52565: a process of
/// another container sharing the root swaps `/proc` between two
/// directories while containers spawn. The masks and read-only binds must
/// land on the procfs that was mounted, wherever it went: for every proc
/// mount the kernel shows in the container, `keys` is masked and `sys` is
/// read-only.
#[test]
fn masks_follow_the_proc_mount_under_a_racing_root() {
    require_root!();
    let dir = TempDir::new("procrace");
    let root = busybox_root(dir.path());
    std::fs::remove_dir(root.join("proc")).unwrap();
    for d in ["realproc", "fakeproc", "fakeproc/sys"] {
        std::fs::create_dir(root.join(d)).unwrap();
    }
    std::fs::write(root.join("fakeproc/keys"), b"").unwrap();
    let _racer = Racer::start(
        root.join("proc"),
        PathBuf::from("/realproc"),
        PathBuf::from("/fakeproc"),
    );
    const SPAWNS: usize = 100;
    let mut missed = Vec::new();
    for i in 0..SPAWNS {
        let mut child = match Container::new()
            .unshare(NS)
            .root(&root)
            // Widen the window between the proc mount and the masks.
            .mounts((0..30).map(|j| Mount::tmpfs(format!("/mnt/t{j}")).size(4096)))
            .masked_paths(["/proc/keys"])
            .read_only_paths(["/proc/sys"])
            .command("/bin/cat")
            .stdin(containment::Stdio::Piped)
            .spawn()
        {
            Ok(c) => c,
            Err(e) => panic!("spawn {i}: {e}"),
        };
        let info = std::fs::read_to_string(format!("/proc/{}/mountinfo", child.id())).unwrap();
        drop(child.stdin.take());
        child.wait().unwrap();
        let points: Vec<(&str, &str, &str)> = info
            .lines()
            .filter_map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                let fstype = l.split_once(" - ")?.1.split(' ').next()?;
                // A proc mount of the whole procfs (not a bind of a part).
                let fstype = if fstype == "proc" && f[3] != "/" {
                    "proc-part"
                } else {
                    fstype
                };
                Some((f[4], f[5], fstype))
            })
            .collect();
        for (p, _, _) in points.iter().filter(|(_, _, t)| *t == "proc") {
            let kcore = format!("{p}/keys");
            let sys = format!("{p}/sys");
            if !points.iter().any(|(q, _, _)| *q == kcore)
                || !points
                    .iter()
                    .any(|(q, o, _)| *q == sys && o.split(',').next() == Some("ro"))
            {
                missed.push(format!("spawn {i}: proc on {p} unmasked:\n{info}"));
            }
        }
    }
    assert!(
        missed.is_empty(),
        "{} of {SPAWNS} spawns left a proc unmasked; first:\n{}",
        missed.len(),
        missed[0]
    );
}

/// crun GHSA-7vwr-4279-7gq5 / runc CVE-2026-41579: the root's `/dev` is a
/// symlink to a host directory (absolute, and through `..`). The minimal
/// `/dev` must be made inside the root; the host directory keeps exactly
/// what it had (no `ptmx` removed, no `fd`/`stdin` links, no `null`).
#[test]
fn dev_symlink_to_a_host_directory_stays_in_the_root() {
    require_root!();
    for (n, relative) in [(0, false), (1, true)] {
        let dir = TempDir::new(&format!("devlink{n}"));
        let root = busybox_root(dir.path());
        let host = dir.path().join("hostdev");
        std::fs::create_dir(&host).unwrap();
        std::fs::write(host.join("ptmx"), b"host ptmx\n").unwrap();
        std::fs::remove_dir(root.join("dev")).unwrap();
        let target = if relative {
            PathBuf::from(format!("../../../../../../../..{}", host.display()))
        } else {
            host.clone()
        };
        symlink(&target, root.join("dev")).unwrap();
        let before = mountinfo();
        // The symlink resolves inside the root to a missing path: refused
        // (typed, naming /dev) or, were it created, made inside the root.
        match Container::new()
            .unshare(NS)
            .root(&root)
            .command("/bin/sh")
            .args(["-c", "stat -c '%F %t:%T' /dev/null"])
            .output()
        {
            Ok(o) => assert_eq!(o.stdout, b"character special file 1:3\n", "{o:?}"),
            Err(SpawnError::Child(c)) => {
                assert_eq!(c.step(), Step::Dev, "{c}");
                assert!(c.detail().unwrap().contains("/dev"), "{c}");
            }
            Err(e) => panic!("{e}"),
        }
        assert_eq!(entries(&host), ["ptmx"], "host directory changed");
        assert_eq!(std::fs::read(host.join("ptmx")).unwrap(), b"host ptmx\n");
        assert_eq!(mountinfo(), before);
    }
}

/// crun CVE-2026-88264 (crun#2249): a file mount point (`/dev/console` in
/// crun) is a dangling symlink to a host path. Nothing may be created on
/// the host; the spawn is refused with the mount target named.
#[test]
fn file_mount_point_dangling_symlink_creates_nothing_on_the_host() {
    require_root!();
    let dir = TempDir::new("console");
    let root = busybox_root(dir.path());
    let host = dir.path().join("host");
    std::fs::create_dir(&host).unwrap();
    let src = dir.path().join("pty");
    std::fs::write(&src, b"pty\n").unwrap();
    symlink(host.join("created"), root.join("etc/console")).unwrap();
    let e = Container::new()
        .unshare(NS)
        .root(&root)
        .mount(Mount::bind(&src, "/etc/console"))
        .command("/bin/true")
        .status()
        .expect_err("a dangling symlink mount point was accepted");
    match &e {
        SpawnError::Child(c) => {
            assert_eq!(c.step(), Step::MountTarget, "{e}");
            assert_eq!(c.errno(), libc::EEXIST, "{e}");
            assert!(c.detail().unwrap().contains("/etc/console"), "{e}");
        }
        other => panic!("{other}"),
    }
    assert!(entries(&host).is_empty(), "a file was created on the host");
}

/// bubblewrap CVE-2026-87766: a parent directory of a mount point that does
/// not exist yet is swapped between a directory and a symlink to a host
/// directory while containers spawn (and create the missing components).
/// Nothing may ever be created in the host directory.
#[test]
fn racing_parent_symlink_of_a_mount_point_creates_nothing_on_the_host() {
    require_root!();
    let dir = TempDir::new("parent");
    let root = busybox_root(dir.path());
    let host = dir.path().join("host");
    std::fs::create_dir(&host).unwrap();
    std::fs::create_dir(root.join("mnt/real")).unwrap();
    let before = mountinfo();
    {
        let _racer = Racer::start(root.join("mnt/a"), PathBuf::from("real"), host.clone());
        for i in 0..40 {
            let r = Container::new()
                .unshare(NS)
                .root(&root)
                .mount(Mount::tmpfs(format!("/mnt/a/n{i}/deep")))
                .command("/bin/true")
                .status();
            // Either it worked inside the root, or the target was refused.
            if let Err(e) = r {
                assert!(matches!(e, SpawnError::Child(_)), "{e}");
            }
        }
    }
    assert!(
        entries(&host).is_empty(),
        "created on the host: {:?}",
        entries(&host)
    );
    assert_eq!(mountinfo(), before);
}

/// CVE-2025-52881: a write the crate makes to `/proc` redirected by the
/// container. Joining a container's mount namespace with a new time
/// namespace makes the child write `/proc/self/timens_offsets` after it
/// entered the container; the container's `/proc` is its own directory with
/// `self/timens_offsets` a symlink to a host canary bound inside. The
/// offsets must go to the joining process's own procfs file, never to the
/// canary.
#[test]
fn joiner_procfs_write_is_not_redirected_by_the_container() {
    require_root!();
    require!(
        Path::new("/proc/self/ns/time").exists(),
        "no time namespaces"
    );
    let dir = TempDir::new("procwrite");
    let root = busybox_root(dir.path());
    let share = dir.path().join("share");
    std::fs::create_dir(&share).unwrap();
    std::fs::write(share.join("canary"), b"canary\n").unwrap();
    std::fs::create_dir_all(root.join("proc/self/ns")).unwrap();
    symlink("/data/canary", root.join("proc/self/timens_offsets")).unwrap();
    symlink("/data/canary", root.join("proc/self/oom_score_adj")).unwrap();
    let mut target = Container::new()
        .unshare(Namespaces::MOUNT)
        .root(&root)
        .mount_proc(false)
        .mount(Mount::bind(&share, "/data"))
        .command("/bin/cat")
        .stdin(containment::Stdio::Piped)
        .spawn()
        .unwrap();
    let r = Container::new()
        .join_child(&target, Namespaces::MOUNT)
        .unshare(Namespaces::TIME)
        .time_offsets(TimeOffsets::new().monotonic_secs(86_400))
        .command("/bin/true")
        .status();
    drop(target.stdin.take());
    target.wait().unwrap();
    assert_eq!(
        std::fs::read(share.join("canary")).unwrap(),
        b"canary\n",
        "the offsets were written into the host canary ({r:?})"
    );
    let st = r.unwrap_or_else(|e| panic!("join with a time namespace: {e}"));
    assert!(st.success());
}

/// The same redirect for `oom_score_adj` (written by the child when a
/// cgroup spec asks for it): the joined process gets the score, the
/// container's fake `/proc/self/oom_score_adj` (a symlink to a host canary)
/// is not written.
#[test]
fn joiner_oom_score_adj_is_not_redirected_by_the_container() {
    require_root!();
    let Some(parent) = common::TestCgroup::new("containment-esc") else {
        common::skip("joiner_oom_score_adj", "no writable cgroup2");
        return;
    };
    let dir = TempDir::new("oomwrite");
    let root = busybox_root(dir.path());
    let share = dir.path().join("share");
    std::fs::create_dir(&share).unwrap();
    std::fs::write(share.join("canary"), b"canary\n").unwrap();
    std::fs::create_dir_all(root.join("proc/self")).unwrap();
    symlink("/data/canary", root.join("proc/self/oom_score_adj")).unwrap();
    let mut target = Container::new()
        .unshare(Namespaces::MOUNT)
        .root(&root)
        .mount_proc(false)
        .mount(Mount::bind(&share, "/data"))
        .command("/bin/cat")
        .stdin(containment::Stdio::Piped)
        .spawn()
        .unwrap();
    let r = Container::new()
        .join_child(&target, Namespaces::MOUNT)
        .cgroup(
            containment::cgroup::CgroupSpec::new()
                .parent(&parent.0)
                .resources(
                    containment::cgroup::Resources::new()
                        .oom_score_adj(containment::cgroup::OomScoreAdj::new(321).unwrap()),
                ),
        )
        .command("/bin/cat")
        .stdin(containment::Stdio::Piped)
        .spawn();
    let score = r
        .as_ref()
        .ok()
        .map(|c| std::fs::read_to_string(format!("/proc/{}/oom_score_adj", c.id())).unwrap());
    if let Ok(mut c) = r {
        drop(c.stdin.take());
        c.wait().unwrap();
    }
    drop(target.stdin.take());
    target.wait().unwrap();
    assert_eq!(
        std::fs::read(share.join("canary")).unwrap(),
        b"canary\n",
        "oom_score_adj was written into the host canary"
    );
    assert_eq!(score.as_deref().map(str::trim), Some("321"));
}

/// Issue 11 item 7: an overlay root in a user namespace whose lower layer
/// has a submount is refused by the kernel (the submount is locked); the
/// hint must say so instead of listing upper/work causes.
#[test]
fn overlay_root_in_user_namespace_hint_names_the_locked_submount() {
    require_root!();
    let dir = TempDir::new("ovlsub");
    let lower = busybox_root(dir.path());
    let sub = lower.join("mnt");
    // Our own mount, in our own temp dir; removed below (and on panic).
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let c = std::ffi::CString::new(self.0.as_os_str().as_encoded_bytes()).unwrap();
            // SAFETY: NUL-terminated path of a mount this test made.
            unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
        }
    }
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=64k", "containment-test"])
        .arg(&sub)
        .status()
        .unwrap();
    assert!(st.success());
    let _guard = Unmount(sub.clone());
    let e = Container::new()
        .unshare(Namespaces::USER | NS)
        .uid_map([IdMap::new(0, 100_000, 65_536)])
        .gid_map([IdMap::new(0, 100_000, 65_536)])
        .rootfs(Rootfs::from(Overlay::ephemeral([&lower])))
        .command("/bin/true")
        .status();
    let e = match e {
        Err(e) => e,
        Ok(s) => panic!("an overlay on a lower with a submount worked in a user namespace: {s:?}"),
    };
    let SpawnError::Child(c) = &e else {
        panic!("{e}")
    };
    assert_eq!(c.step(), Step::RootOverlay, "{e}");
    let hint = c.hint().unwrap_or_else(|| panic!("no hint: {e}"));
    assert!(hint.contains("submount") && hint.contains("locked"), "{e}");
    assert!(
        hint.contains(&*sub.to_string_lossy()),
        "the hint does not name {sub:?}: {e}"
    );
    assert!(
        !hint.contains("work dir"),
        "hint lists causes that do not apply: {e}"
    );
}

/// Without a root, the minimal `/dev` is mounted over the host's `/dev` in
/// the container's mount namespace: its nodes must still be the host's
/// devices (not the empty files made as mount points), and masks with it.
#[test]
fn minimal_dev_without_a_root_binds_real_devices() {
    require_root!();
    let dir = TempDir::new("devnoroot");
    let secret = dir.path().join("secret");
    std::fs::write(&secret, b"secret\n").unwrap();
    let out = output(
        &mut Container::new()
            .unshare(NS)
            .dev(DevSpec::Minimal)
            .masked_paths([&secret]),
        &format!(
            "stat -c '%F %t:%T' /dev/null /dev/zero {0}; cat {0}; echo end",
            secret.display()
        ),
    );
    assert_eq!(
        out,
        "character special file 1:3\ncharacter special file 1:5\ncharacter special file 1:3\nend\n"
    );
}

/// A user-namespace container with docker's masked and read-only paths:
/// the proc mount made with fsopen/fsmount (to keep its root for the masks)
/// passes the same checks as mount(2) did.
#[test]
fn user_namespace_masks_land_on_its_proc() {
    require_root!();
    let dir = TempDir::new("userns-mask");
    let root = busybox_root(dir.path());
    let out = output(
        &mut Container::new()
            .unshare(Namespaces::USER | NS)
            .uid_map([IdMap::new(0, 100_000, 65_536)])
            .gid_map([IdMap::new(0, 100_000, 65_536)])
            .root(&root)
            .docker_default_paths(),
        "stat -c '%F %t:%T' /proc/keys; grep -c ' /proc/sys ro,' /proc/self/mountinfo",
    );
    assert_eq!(out, "character special file 1:3\n1\n");
}

/// The race of `masks_follow_the_proc_mount_under_a_racing_root` for a
/// user's mounts: a bind and a sysfs whose mount points a racing container
/// swaps between two directories. The masks under them must land on them.
#[test]
fn masks_follow_user_mounts_under_a_racing_root() {
    require_root!();
    let dir = TempDir::new("bindrace");
    let root = busybox_root(dir.path());
    let share = dir.path().join("share");
    std::fs::create_dir(&share).unwrap();
    std::fs::write(share.join("secret"), b"secret\n").unwrap();
    for d in ["real", "fake", "realsys", "fakesys/firmware"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("fake/secret"), b"").unwrap();
    std::fs::remove_dir(root.join("sys")).unwrap();
    let _r1 = Racer::start(root.join("data"), "/real".into(), "/fake".into());
    let _r2 = Racer::start(root.join("sys"), "/realsys".into(), "/fakesys".into());
    const SPAWNS: usize = 100;
    let mut missed = Vec::new();
    for i in 0..SPAWNS {
        let mut child = Container::new()
            .unshare(NS | Namespaces::NET)
            .root(&root)
            .mount(Mount::bind(&share, "/data"))
            .mount(Mount::sysfs("/sys"))
            // Widen the window between the mounts and the masks.
            .mounts((0..30).map(|j| Mount::tmpfs(format!("/mnt/t{j}")).size(4096)))
            .masked_paths(["/data/secret", "/sys/firmware"])
            .command("/bin/cat")
            .stdin(containment::Stdio::Piped)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {i}: {e}"));
        let info = std::fs::read_to_string(format!("/proc/{}/mountinfo", child.id())).unwrap();
        drop(child.stdin.take());
        child.wait().unwrap();
        let lines: Vec<Vec<&str>> = info.lines().map(|l| l.split(' ').collect()).collect();
        let has = |p: &str| lines.iter().any(|f| f[4] == p);
        for f in &lines {
            let fstype = f.iter().skip_while(|x| **x != "-").nth(1).copied();
            let want = if f[3].ends_with("/share") {
                format!("{}/secret", f[4])
            } else if fstype == Some("sysfs") && f[3] == "/" {
                format!("{}/firmware", f[4])
            } else {
                continue;
            };
            if !has(&want) {
                missed.push(format!("spawn {i}: {want} unmasked:\n{info}"));
            }
        }
    }
    assert!(
        missed.is_empty(),
        "{} unmasked in {SPAWNS} spawns; first:\n{}",
        missed.len(),
        missed[0]
    );
}

/// A racing container swaps `/dev` between two directories while
/// containers spawn. The minimal `/dev` must be filled in the tmpfs that
/// was mounted (never in a directory of the root on disk: no `null` file
/// made there), and with `DevSpec::Host` a mask under `/dev` must land on
/// the host's `/dev` that was bound.
#[test]
fn dev_setup_and_masks_follow_the_dev_mount_under_a_racing_root() {
    require_root!();
    let dir = TempDir::new("devrace");
    let root = busybox_root(dir.path());
    std::fs::remove_dir(root.join("dev")).unwrap();
    for d in ["realdev", "fakedev"] {
        std::fs::create_dir(root.join(d)).unwrap();
    }
    std::fs::write(root.join("fakedev/kmsg"), b"").unwrap();
    let _racer = Racer::start(root.join("dev"), "/realdev".into(), "/fakedev".into());
    const SPAWNS: usize = 200;
    let mut missed = Vec::new();
    for i in 0..SPAWNS {
        let host = i % 4 != 0;
        let mut b = Container::new()
            .unshare(NS)
            .root(&root)
            .mounts((0..30).map(|j| Mount::tmpfs(format!("/mnt/t{j}")).size(4096)));
        if host {
            b = b.dev(DevSpec::Host).masked_paths(["/dev/kmsg"]);
        }
        let mut child = b
            .command("/bin/cat")
            .stdin(containment::Stdio::Piped)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {i}: {e}"));
        let info = std::fs::read_to_string(format!("/proc/{}/mountinfo", child.id())).unwrap();
        drop(child.stdin.take());
        child.wait().unwrap();
        if host {
            let lines: Vec<Vec<&str>> = info.lines().map(|l| l.split(' ').collect()).collect();
            for f in lines.iter().filter(|f| {
                f[3] == "/" && f.iter().skip_while(|x| **x != "-").nth(1) == Some(&"devtmpfs")
            }) {
                let want = format!("{}/kmsg", f[4]);
                if !lines.iter().any(|g| g[4] == want) {
                    missed.push(format!("spawn {i}: {want} unmasked:\n{info}"));
                }
            }
        }
    }
    assert!(
        missed.is_empty(),
        "{} unmasked in {SPAWNS} spawns; first:\n{}",
        missed.len(),
        missed[0]
    );
    for d in ["realdev", "fakedev"] {
        let e = entries(&root.join(d));
        assert!(
            e.is_empty() || e == ["kmsg"],
            "the minimal /dev was filled in the root's {d} on disk: {e:?}"
        );
    }
}
