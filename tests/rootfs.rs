//! A changed root through the builder (root): a busybox root made by the
//! fixture, proc, a minimal /dev, binds, overlays, symlink escapes, and no
//! mount left behind on the host.

#[macro_use]
mod common;

use containment::mount::{DevSpec, Mount, Overlay, Rootfs};
use containment::{Container, IdMap, Namespaces, SpawnError, Step};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use common::TempDir;

/// A busybox root (every applet) under `dir/root`, with `/etc/marker`.
fn busybox_root(dir: &Path) -> PathBuf {
    let root = common::busybox::root(dir);
    std::fs::write(root.join("etc/marker"), b"inside\n").unwrap();
    root
}

fn mountinfo() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap()
}

fn run(b: &mut containment::Container, script: &str) -> String {
    common::sh(b, script)
}

const NS: Namespaces = Namespaces::MOUNT.union(Namespaces::PID);

#[test]
fn busybox_root_is_the_whole_world() {
    require_root!();
    let before = mountinfo();
    let dir = TempDir::new("world");
    let root = busybox_root(dir.path());
    // A host file the container must not reach.
    let host_secret = dir.path().join("secret");
    std::fs::write(&host_secret, b"host\n").unwrap();
    let out = run(
        &mut Container::new()
            .unshare(NS)
            .root(&root)
            .mount(Mount::tmpfs("/tmp").size(1 << 20)),
        &format!(
            "ls /; echo ---; cat /etc/marker; test -e {0} || echo nosecret; test -e /usr/bin/busybox || echo nohostusr; \
             echo $$; ps -o pid,comm | grep -vc PID; echo ---; cat /proc/self/mountinfo",
            host_secret.display()
        ),
    );
    let mut parts = out.split("---\n");
    let ls: Vec<&str> = parts.next().unwrap().split_whitespace().collect();
    assert_eq!(ls, ["bin", "dev", "etc", "mnt", "proc", "sys", "tmp"]);
    let facts = parts.next().unwrap();
    // sh is pid 1; ps sees sh, ps and (if already started) grep: only the
    // container's processes.
    let (head, count) = facts.trim_end().rsplit_once('\n').unwrap();
    assert_eq!(head, "inside\nnosecret\nnohostusr\n1", "{out}");
    let n: u32 = count.parse().unwrap();
    assert!((2..=3).contains(&n), "ps saw {n} processes: {out}");
    let inner = parts.next().unwrap();
    let points: Vec<&str> = inner.lines().filter_map(|l| l.split(' ').nth(4)).collect();
    let allowed = [
        "/",
        "/proc",
        "/dev",
        "/dev/null",
        "/dev/zero",
        "/dev/full",
        "/dev/random",
        "/dev/urandom",
        "/dev/tty",
        "/dev/pts",
        "/dev/shm",
        "/tmp",
    ];
    for p in &points {
        assert!(
            allowed.contains(p),
            "old root or host mount {p} visible inside:\n{inner}"
        );
    }
    assert_eq!(points.len(), allowed.len(), "{inner}");
    assert_eq!(
        mountinfo(),
        before,
        "a mount was left in the parent's table"
    );
    let d = dir.path().to_path_buf();
    drop(dir);
    assert!(!d.exists(), "temporary directory removed");
}

#[test]
fn dev_is_minimal_and_works() {
    require_root!();
    let dir = TempDir::new("dev");
    let root = busybox_root(dir.path());
    let out = run(
        &mut Container::new().unshare(NS).root(&root).shm_size(2 << 20),
        "echo hi > /dev/null && head -c 3 /dev/zero | wc -c && head -c 5 /dev/urandom | wc -c; \
         test -e /dev/sda || echo nosda; ls /dev | tr '\\n' ' '; echo; readlink /dev/fd; readlink /dev/ptmx; \
         grep ' /dev/shm ' /proc/self/mountinfo | grep -o 'size=[0-9]*k'; \
         echo x > /dev/shm/x && echo shmok",
    );
    assert_eq!(
        out,
        "3\n5\nnosda\nfd full null ptmx pts random shm stderr stdin stdout tty urandom zero \n\
         /proc/self/fd\npts/ptmx\nsize=2048k\nshmok\n"
    );
}

#[test]
fn readonly_bind_refuses_writes_with_erofs() {
    require_root!();
    let before = mountinfo();
    let dir = TempDir::new("robind");
    let root = busybox_root(dir.path());
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("f"), b"host\n").unwrap();
    let out = run(
        &mut Container::new()
            .unshare(NS)
            .root(&root)
            .mount(Mount::bind(&data, "/data").read_only(true))
            .mount(Mount::bind(data.join("f"), "/etc/f-rw"))
            .mount(Mount::tmpfs("/tmp"))
            .read_only_root(true)
            .docker_default_paths(),
        "exec 2>&1; cat /data/f; echo x > /data/f; touch /rootfile; echo rw >> /etc/f-rw && echo rwok; \
         echo t > /tmp/t && echo tmpok; wc -c < /proc/interrupts; ls /proc/acpi | wc -l; echo 1 > /proc/sys/kernel/panic; true",
    );
    assert!(out.starts_with("host\n"), "{out}");
    // The kernel's own word: EROFS, three times (bind, root, /proc/sys).
    assert_eq!(out.matches("Read-only file system").count(), 3, "{out}");
    assert!(
        out.contains("rwok") && out.contains("tmpok") && out.contains("\n0\n0\n"),
        "masked: {out}"
    );
    assert_eq!(std::fs::read(data.join("f")).unwrap(), b"host\nrw\n");
    assert!(!root.join("rootfile").exists());
    assert!(
        root.join("etc/f-rw").is_file(),
        "the file mount point was created inside the root"
    );
    assert_eq!(mountinfo(), before);
}

#[test]
fn overlay_upper_receives_the_writes() {
    require_root!();
    let before = mountinfo();
    let dir = TempDir::new("overlay");
    let base = busybox_root(dir.path());
    let top = dir.path().join("top");
    let upper = dir.path().join("upper");
    let work = dir.path().join("work");
    let merged = dir.path().join("merged");
    for d in [&top, &upper, &work, &merged] {
        std::fs::create_dir(d).unwrap();
    }
    std::fs::write(top.join("layer"), b"top\n").unwrap();
    let out = run(
        &mut Container::new()
            .unshare(NS)
            .rootfs(Overlay::new([&top, &base], &upper, &work).merged(&merged)),
        "cat /layer /etc/marker; echo new > /written; echo changed > /etc/marker; rm /layer; ls /",
    );
    assert!(out.starts_with("top\ninside\n"), "{out}");
    assert!(!out.contains("layer"), "{out}");
    assert_eq!(std::fs::read(upper.join("written")).unwrap(), b"new\n");
    assert_eq!(
        std::fs::read(upper.join("etc/marker")).unwrap(),
        b"changed\n"
    );
    // Lower layers untouched, merged dir empty on the host.
    assert_eq!(std::fs::read(top.join("layer")).unwrap(), b"top\n");
    assert_eq!(std::fs::read(base.join("etc/marker")).unwrap(), b"inside\n");
    assert_eq!(std::fs::read_dir(&merged).unwrap().count(), 0);
    assert_eq!(mountinfo(), before);

    // The ephemeral upper: writes work, nothing lands anywhere on the host.
    let out = run(
        &mut Container::new()
            .unshare(NS)
            .rootfs(Overlay::ephemeral([&top, &base])),
        "echo e > /eph && cat /eph /layer",
    );
    assert_eq!(out, "e\ntop\n");
    for d in [&top, &base, &upper] {
        assert!(!d.join("eph").exists());
    }
    assert_eq!(mountinfo(), before);
}

#[test]
fn symlinks_out_of_the_root_cannot_reach_the_host() {
    require_root!();
    let before = mountinfo();
    let dir = TempDir::new("escape");
    let root = busybox_root(dir.path());
    // The host directory the malicious rootfs aims at, with a file in it.
    let host = dir.path().join("host-etc");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("passwd"), b"host passwd\n").unwrap();
    let payload = dir.path().join("payload");
    std::fs::write(&payload, b"payload\n").unwrap();
    // `etc2 -> <host>` (absolute) and `up -> ../../../../<host>` (relative).
    symlink(&host, root.join("etc2")).unwrap();
    let dotdots = "../".repeat(root.components().count() + 2);
    let rel = host.strip_prefix("/").unwrap();
    symlink(format!("{dotdots}{}", rel.display()), root.join("up")).unwrap();

    // Inside the root the symlinks point to a missing path: refused.
    for target in ["/etc2/passwd", "/up/passwd"] {
        let e = Container::new()
            .unshare(NS)
            .root(&root)
            .mount(Mount::bind(&payload, target))
            .command("/bin/true")
            .output()
            .unwrap_err();
        let c = e.child_error().unwrap_or_else(|| panic!("{e}"));
        assert_eq!(c.step(), Step::MountTarget, "{e}");
        assert!(e.to_string().contains(target), "{e}");
    }
    // When the path exists inside the root, the mount is contained in it.
    let in_root = root.join(rel);
    std::fs::create_dir_all(&in_root).unwrap();
    let out = run(
        &mut Container::new()
            .unshare(NS)
            .root(&root)
            .mount(Mount::bind(&payload, "/etc2/passwd"))
            .mount(Mount::tmpfs("/up/dir")),
        "cat /etc2/passwd; ls /up",
    );
    assert_eq!(out, "payload\ndir\npasswd\n");
    // The host file is untouched and nothing was created next to it.
    assert_eq!(
        std::fs::read(host.join("passwd")).unwrap(),
        b"host passwd\n"
    );
    assert_eq!(std::fs::read_dir(&host).unwrap().count(), 1);
    assert!(in_root.join("passwd").is_file() && in_root.join("dir").is_dir());
    assert_eq!(mountinfo(), before);
}

#[test]
fn user_namespace_root_binds_devices_from_the_host() {
    require_root!();
    let before = mountinfo();
    let dir = TempDir::new("userns");
    let root = busybox_root(dir.path());
    let out = run(
        &mut Container::new()
            .unshare(NS | Namespaces::USER)
            .uid_map([IdMap::new(0, 100_000, 65_536)])
            .gid_map([IdMap::new(0, 100_000, 65_536)])
            .root(&root)
            .mount(Mount::tmpfs("/tmp"))
            .docker_default_paths(),
        "id -u; echo hi > /dev/null && head -c 2 /dev/zero | wc -c; echo $$; echo t > /tmp/t && cat /tmp/t; \
         wc -c < /proc/interrupts",
    );
    assert_eq!(out, "0\n2\n1\nt\n0\n");
    assert_eq!(mountinfo(), before);
}

#[test]
fn errors_name_the_field_or_the_mount() {
    require_root!();
    let dir = TempDir::new("errors");
    let root = busybox_root(dir.path());
    // Parent-side: `..` in a target, before any process exists.
    let e = Container::new()
        .unshare(NS)
        .root(&root)
        .mount(Mount::tmpfs("/tmp/../../etc"))
        .command("/bin/true")
        .spawn()
        .unwrap_err();
    assert!(
        matches!(
            e,
            SpawnError::InvalidConfig {
                field: "mount target",
                ..
            }
        ),
        "{e}"
    );
    // A root without a mount namespace.
    let e = Container::new()
        .unshare(Namespaces::PID)
        .root(&root)
        .command("/bin/true")
        .spawn()
        .unwrap_err();
    assert_eq!(e.field(), Some("root"), "{e}");
    // Child-side: sysfs in a user namespace without a network namespace.
    let e = Container::new()
        .unshare(NS | Namespaces::USER)
        .uid_map([IdMap::new(0, 100_000, 65_536)])
        .gid_map([IdMap::new(0, 100_000, 65_536)])
        .root(&root)
        .dev(DevSpec::Minimal)
        .mount(Mount::tmpfs("/tmp"))
        .mount(Mount::sysfs("/sys"))
        .command("/bin/true")
        .spawn()
        .unwrap_err();
    let c = e.child_error().unwrap_or_else(|| panic!("{e}"));
    assert_eq!(
        (c.step(), c.index(), c.errno()),
        (Step::Mount, 1, libc::EPERM),
        "{e}"
    );
    let s = e.to_string();
    assert!(s.contains("mount 1: sysfs on /sys (MS_RDONLY|"), "{s}");
    assert!(s.contains("network namespace"), "{s}");
}

#[test]
fn chroot_mode_and_keep_dev() {
    require_root!();
    let before = mountinfo();
    let dir = TempDir::new("chroot");
    let root = busybox_root(dir.path());
    std::fs::write(root.join("dev/own"), b"").unwrap();
    let out = run(
        &mut Container::new()
            .unshare(NS)
            .rootfs(Rootfs::dir(&root))
            .root_mode(containment::mount::RootMode::Chroot)
            .dev(DevSpec::Keep),
        "cat /etc/marker; ls /dev",
    );
    assert_eq!(out, "inside\nown\n");
    assert_eq!(mountinfo(), before);
}

#[test]
fn propagation_choices_work_with_a_pivoted_root() {
    use containment::mount::Propagation;
    require_root!();
    let before = mountinfo();
    let dir = TempDir::new("propagation");
    let root = busybox_root(dir.path());
    // The root directory's mount on the host: a slave copy has a master only
    // when it is shared (these test machines share nothing).
    let host_shared = before
        .lines()
        .rfind(|l| {
            let mp = l.split(' ').nth(4).unwrap_or("");
            mp == "/" || root.starts_with(mp)
        })
        .is_some_and(|l| l.split(" - ").next().unwrap_or("").contains("shared:"));
    for (p, want) in [
        (Propagation::Private, None),
        (Propagation::Slave, host_shared.then_some("master:")),
        (Propagation::Shared, Some("shared:")),
    ] {
        let out = run(
            &mut Container::new().unshare(NS).root(&root).propagation(p),
            "grep '^[0-9]* [0-9]* [^ ]* [^ ]* / ' /proc/self/mountinfo",
        );
        let optional = out.split(" - ").next().unwrap_or("");
        match want {
            None => assert!(
                !optional.contains("shared:") && !optional.contains("master:"),
                "{p:?}: {out}"
            ),
            Some(tag) => assert!(optional.contains(tag), "{p:?}: {out}"),
        }
    }
    assert_eq!(mountinfo(), before);
}

#[test]
fn every_mount_kind_lands_where_asked() {
    require_root!();
    let before = mountinfo();
    let dir = TempDir::new("kinds");
    let root = busybox_root(dir.path());
    let (l1, l2, up, wk) = (
        dir.path().join("l1"),
        dir.path().join("l2"),
        dir.path().join("up"),
        dir.path().join("wk"),
    );
    for d in [&l1, &l2, &up, &wk] {
        std::fs::create_dir(d).unwrap();
    }
    std::fs::write(l1.join("one"), b"1").unwrap();
    std::fs::write(l2.join("two"), b"2").unwrap();
    let out = run(
        &mut Container::new()
            .unshare(NS | Namespaces::IPC | Namespaces::NET | Namespaces::CGROUP)
            .root(&root)
            .mount(Mount::tmpfs("/mnt/tmp").size(1 << 20).mode(0o700))
            .mount(Mount::proc("/mnt/proc"))
            .mount(Mount::sysfs("/sys"))
            .mount(Mount::devpts("/mnt/pts"))
            .mount(Mount::mqueue("/dev/mqueue"))
            .mount(Mount::cgroup2("/sys/fs/cgroup").read_only(false))
            .mount(Mount::overlay(Overlay::new([&l1, &l2], &up, &wk), "/mnt/ovl"))
            .mount(Mount::overlay(Overlay::read_only([&l1, &l2]), "/mnt/ro-ovl"))
            .mount(Mount::overlay(Overlay::ephemeral([&l1, &l2]), "/mnt/eph")),
        "exec 2>&1; for m in /mnt/tmp /mnt/proc /sys /mnt/pts /dev/mqueue /sys/fs/cgroup /mnt/ovl /mnt/ro-ovl /mnt/eph; do \
           grep \" $m \" /proc/self/mountinfo | tail -n 1 | sed 's/.* - \\([^ ]*\\) [^ ]* \\([^,]*\\).*/\\1 \\2/'; done; \
         stat -c %a /mnt/tmp; ls /mnt/ovl | tr '\\n' ' '; echo; echo w > /mnt/ovl/w; echo w > /mnt/ro-ovl/w; echo e > /mnt/eph/e; \
         test -e /sys/fs/cgroup/cgroup.procs && echo cg; true",
    );
    let want =
        "tmpfs rw\nproc rw\nsysfs ro\ndevpts rw\nmqueue rw\ncgroup2 rw\noverlay rw\noverlay ro\noverlay rw\n\
                700\none two \n";
    assert!(out.starts_with(want), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.ends_with("cg\n"), "{out}");
    assert_eq!(std::fs::read(up.join("w")).unwrap(), b"w\n");
    assert!(!l1.join("e").exists() && !l2.join("e").exists() && !up.join("e").exists());
    assert_eq!(mountinfo(), before);
}
