//! Idmapped mounts (root): a bind and the root itself carry the
//! container's user namespace, so host-root-owned files are root's inside.

#[macro_use]
mod common;

use containment::mount::Mount;
use containment::{Container, IdMap, Namespaces, SpawnError};
use std::os::unix::fs::{symlink, MetadataExt};
use std::path::{Path, PathBuf};

const NS: Namespaces = Namespaces::USER.union(Namespaces::MOUNT);
const BASE: u32 = 300_000;

use common::TempDir;

fn builder() -> Container {
    Container::new()
        .unshare(NS)
        .uid_map([IdMap::new(0, BASE, 65536)])
        .gid_map([IdMap::new(0, BASE, 65536)])
}

fn run(b: Container, script: &str) -> String {
    common::sh(&b, script)
}

/// A data directory as host root and uid 1000 left it.
fn data_dir(dir: &Path) -> (PathBuf, PathBuf) {
    let data = dir.join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("root-file"), b"x").unwrap();
    std::fs::write(data.join("user-file"), b"y").unwrap();
    std::os::unix::fs::chown(data.join("user-file"), Some(1000), Some(1000)).unwrap();
    let mnt = dir.join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    (data, mnt)
}

#[test]
fn idmapped_bind_shows_host_owners_inside() {
    require_root!();
    let dir = TempDir::new("ctm-idmap");
    let (data, mnt) = data_dir(&dir.0);
    let m = mnt.display();
    let script = format!(
        "stat -c '%u %g' {m}/root-file {m}/user-file; touch {m}/made-inside; \
         chown 7:7 {m}/made-inside; cat /proc/self/uid_map"
    );
    // Without the idmap, host root's files are nobody's inside (65534).
    let plain = run(builder().mount(Mount::bind(&data, &mnt)), &script);
    assert!(plain.starts_with("65534 65534\n"), "{plain}");
    let _ = std::fs::remove_file(data.join("made-inside"));
    // With it: as on the host.
    let out = run(
        builder().mount(Mount::bind(&data, &mnt).idmapped(true)),
        &script,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0 0", "{out}");
    assert_eq!(lines[1], "1000 1000", "{out}");
    assert!(
        lines[2]
            .split_whitespace()
            .eq(["0", &BASE.to_string(), "65536"]),
        "{out}"
    );
    // A file made inside as uid 7 is uid 7 on the host, not BASE + 7.
    let made = std::fs::metadata(data.join("made-inside")).unwrap();
    assert_eq!((made.uid(), made.gid()), (7, 7));
    // The host's view of the source is unchanged.
    let meta = std::fs::metadata(data.join("user-file")).unwrap();
    assert_eq!(meta.uid(), 1000);
}

#[test]
fn idmapped_root_is_the_containers_roots() {
    require_root!();
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    require!(busybox.is_some(), "busybox is not installed");
    let dir = TempDir::new("ctm-idmap-root");
    let root = dir.0.join("root");
    for d in ["bin", "etc", "tmp", "proc", "dev"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(busybox.unwrap(), root.join("bin/busybox")).unwrap();
    for a in ["sh", "stat", "touch", "ls"] {
        symlink("busybox", root.join("bin").join(a)).unwrap();
    }
    std::fs::write(root.join("etc/owned"), b"x").unwrap();
    let script = "stat -c '%u' / /etc/owned; touch /tmp/new && echo wrote";
    // Without the idmap: nobody's, and root inside cannot write to /tmp.
    let plain = Container::new()
        .unshare(NS | Namespaces::PID)
        .uid_map([IdMap::new(0, BASE, 65536)])
        .gid_map([IdMap::new(0, BASE, 65536)])
        .root(&root)
        .command("/bin/sh")
        .args(["-c", script])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&plain.stdout);
    assert!(text.starts_with("65534\n65534\n"), "{text}");
    assert!(!text.contains("wrote"), "{text}");
    let out = run(
        builder()
            .unshare(NS | Namespaces::PID)
            .root(&root)
            .idmapped_root(true),
        script,
    );
    assert_eq!(out, "0\n0\nwrote\n");
    let made = std::fs::metadata(root.join("tmp/new")).unwrap();
    assert_eq!(made.uid(), 0, "made inside as root: host root on disk");
}

#[test]
fn idmap_refused_on_a_filesystem_without_support() {
    require_root!();
    let dir = TempDir::new("ctm-idmap-sysfs");
    let err = builder()
        .mount(Mount::bind("/sys/kernel", &dir.0).idmapped(true))
        .command("/bin/true")
        .status()
        .unwrap_err();
    match &err {
        SpawnError::Mount(containment::mount::Error::IdmapRefused {
            path,
            fstype,
            source,
            ..
        }) => {
            assert_eq!(path, Path::new("/sys/kernel"));
            assert_eq!(fstype, "sysfs", "{err}");
            assert_eq!(source.raw_os_error(), Some(libc::EINVAL), "{err}");
        }
        other => panic!("expected IdmapRefused, got {other:?}"),
    }
    // Refused before any process without a user namespace.
    let err = Container::new()
        .unshare(Namespaces::MOUNT)
        .mount(Mount::bind(&dir.0, &dir.0).idmapped(true))
        .command("/bin/true")
        .status()
        .unwrap_err();
    assert!(matches!(err, SpawnError::InvalidConfig { .. }), "{err:?}");
    assert!(common::zombie_children().is_empty());
}
