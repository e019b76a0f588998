//! A prepared root (root): an ephemeral overlay mounted by the caller as a
//! detached mount ahead of the start, attached by the container's child.
//! What the kernel shows: the container's `/` and its writes, the caller's
//! mount table and descriptors, the container's descriptors, and when the
//! overlay's superblock goes (inotify's `IN_UNMOUNT` on a layer's own
//! filesystem, sent when that filesystem's last user — the overlay — is
//! gone).
//!
//! The tests of this file run one at a time (`LOCK`): they compare the
//! caller's descriptors before and after.

#[macro_use]
mod common;

use containment::mount::{self, Overlay, PreparedRoot, Rootfs};
use containment::{Container, IdMap, Namespaces, SpawnError, Stdio};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use common::TempDir;

static LOCK: Mutex<()> = Mutex::new(());

const NS: Namespaces = Namespaces::MOUNT.union(Namespaces::PID);

fn mountinfo() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap()
}

/// This process's descriptors: number -> what they name (but the crate's
/// exec helper memfd, made once per process at the first spawn that needs
/// it).
fn fds() -> BTreeSet<(String, String)> {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            let l = std::fs::read_link(e.path()).ok()?;
            Some((
                e.file_name().to_string_lossy().into_owned(),
                l.display().to_string(),
            ))
        })
        .filter(|(_, l)| !l.starts_with("/memfd:containment-helper"))
        .collect()
}

/// Two layers: `top` (`/layer`) over a busybox root with `/etc/marker`.
fn layers(dir: &Path) -> (PathBuf, PathBuf) {
    let base = common::busybox::root(dir);
    std::fs::write(base.join("etc/marker"), b"inside\n").unwrap();
    let top = dir.join("top");
    std::fs::create_dir_all(&top).unwrap();
    std::fs::write(top.join("layer"), b"top\n").unwrap();
    (top, base)
}

fn run(b: Container, script: &str) -> String {
    common::sh(&b, script)
}

#[test]
fn a_prepared_root_is_the_containers_writable_root_and_leaves_nothing() {
    require_root!();
    let _l = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("prepared");
    let (top, base) = layers(dir.path());
    let before = mountinfo();
    let fds_before = fds();

    let p = Overlay::ephemeral([&top, &base]).prepare().unwrap();
    assert_eq!(p.merged(), std::fs::canonicalize(&top).unwrap());
    assert!(!p.is_used());
    // Detached: in no mount table of the caller.
    assert_eq!(mountinfo(), before);
    let c = Container::new().unshare(NS).rootfs(p);
    let out = run(
        c.clone(),
        "cat /layer /etc/marker; echo w > /w; echo x >> /etc/marker; cat /w /etc/marker; \
         grep ' / / ' /proc/self/mountinfo | sed 's/.* - //' | cut -d' ' -f1; \
         ls /proc/self/fd",
    );
    // The layers' files, writable; an overlay as `/`; only stdio (and ls's
    // own directory descriptor, 3) open in the container.
    assert_eq!(
        out, "top\ninside\nw\ninside\nx\noverlay\n0\n1\n2\n3\n",
        "{out}"
    );
    // Nothing reached the layers or the caller's mounts.
    assert!(!top.join("w").exists() && !base.join("w").exists());
    assert_eq!(std::fs::read(base.join("etc/marker")).unwrap(), b"inside\n");
    assert_eq!(mountinfo(), before);

    // One container per prepared root: the clone's spawn is refused.
    let e = c
        .clone()
        .command("/bin/true")
        .output()
        .expect_err("a second spawn from one prepared root");
    assert!(
        matches!(&e, SpawnError::InvalidConfig { field: "root", .. }),
        "{e:?}"
    );
    drop(c);
    assert_eq!(fds(), fds_before);
}

#[test]
fn two_prepared_roots_of_one_image_see_only_their_own_writes() {
    require_root!();
    let _l = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("prepared-two");
    let (top, base) = layers(dir.path());
    let o = Overlay::ephemeral([&top, &base]);
    let (a, b) = (o.prepare().unwrap(), o.prepare().unwrap());
    // Both live at once: each writes, says so, waits for a line, then
    // reports what it sees.
    let script = "echo $0 > /mine; echo $0 > /only-$0; echo ready; read x; \
                  cat /mine; ls / | grep only-";
    let mut kids = Vec::new();
    for (name, p) in [("a", a), ("b", b)] {
        let mut cmd = Container::new().unshare(NS).rootfs(p).command("/bin/sh");
        cmd.args(["-c", script, name])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        assert_eq!(line, "ready\n");
        kids.push((name, child, out));
    }
    for (name, mut child, mut out) in kids {
        child.stdin.take().unwrap().write_all(b"go\n").unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
        assert!(child.wait().unwrap().success());
        assert_eq!(rest, format!("{name}\nonly-{name}\n"), "container {name}");
    }
    for d in [&top, &base] {
        assert!(!d.join("mine").exists());
    }
}

/// An inotify watch on `dir`; `unmounted` tells whether `IN_UNMOUNT`
/// arrived (the filesystem holding `dir` was shut down).
struct Watch(OwnedFd);

impl Watch {
    fn new(dir: &Path) -> Watch {
        // SAFETY: plain system call; the descriptor is owned below.
        let fd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
        assert!(fd >= 0);
        // SAFETY: a new descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: c NUL-terminated, fd live.
        let w = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), libc::IN_DELETE) };
        assert!(w >= 0, "{}", std::io::Error::last_os_error());
        Watch(fd)
    }

    /// Whether `IN_UNMOUNT` arrives within `ms` milliseconds (0: already).
    fn unmounted(&self, ms: i32) -> bool {
        let mut pfd = libc::pollfd {
            fd: self.0.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one live pollfd.
        if unsafe { libc::poll(&mut pfd, 1, ms) } <= 0 {
            return false;
        }
        let mut buf = [0u8; 4096];
        // SAFETY: reads into a live buffer of its length.
        let n = unsafe { libc::read(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        let mut at = 0usize;
        while n > 0 && at + 16 <= n as usize {
            let mask = u32::from_ne_bytes(buf[at + 4..at + 8].try_into().unwrap());
            let len = u32::from_ne_bytes(buf[at + 12..at + 16].try_into().unwrap()) as usize;
            if mask & libc::IN_UNMOUNT != 0 {
                return true;
            }
            at += 16 + len;
        }
        false
    }
}

/// A tmpfs of the test's own, mounted on `dir` (lazily unmounted on drop).
struct TestTmpfs(PathBuf);

impl TestTmpfs {
    fn new(dir: &Path) -> TestTmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: NUL-terminated strings.
        let r = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                c.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                c"size=16m".as_ptr().cast(),
            )
        };
        assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
        TestTmpfs(dir.to_path_buf())
    }

    /// Detaches it from the tree: the filesystem lives on while a mount
    /// of it (the overlay's private clone of its layer) holds it.
    fn detach(&self) {
        let c = std::ffi::CString::new(self.0.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: NUL-terminated path.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

impl Drop for TestTmpfs {
    fn drop(&mut self) {
        self.detach();
    }
}

/// A layer on a tmpfs of the test's, the tmpfs then detached: only a
/// prepared overlay over that layer keeps the tmpfs alive.
fn layer_on_own_tmpfs(dir: &Path) -> (TestTmpfs, Watch, Overlay) {
    let fs = TestTmpfs::new(&dir.join("fs"));
    let top = dir.join("fs/top");
    std::fs::create_dir(&top).unwrap();
    std::fs::write(top.join("layer"), b"top\n").unwrap();
    let base = common::busybox::root(dir);
    let merged = dir.join("merged");
    std::fs::create_dir(&merged).unwrap();
    let w = Watch::new(&top);
    (fs, w, Overlay::ephemeral([&top, &base]).merged(&merged))
}

#[test]
fn a_prepared_root_is_freed_when_dropped_or_when_its_container_ends() {
    require_root!();
    let _l = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let before = mountinfo();
    let fds_before = fds();

    // Dropped unused (with the Rootfs made from it).
    let dir = TempDir::new("prepared-drop");
    let (fs, w, o) = layer_on_own_tmpfs(dir.path());
    let root = Rootfs::from(o.prepare().unwrap());
    fs.detach();
    assert!(!w.unmounted(0), "the overlay holds its layer's filesystem");
    drop(root);
    assert!(w.unmounted(10_000), "the overlay was not freed on drop");
    drop((w, fs));

    // Used by a container: gone when the container has been waited for.
    let dir = TempDir::new("prepared-end");
    let (fs, w, o) = layer_on_own_tmpfs(dir.path());
    let p = o.prepare().unwrap();
    fs.detach();
    let c = Container::new().unshare(NS).rootfs(p);
    assert_eq!(run(c.clone(), "cat /layer; echo x > /layer"), "top\n");
    assert!(w.unmounted(10_000), "the overlay outlived its container");
    drop((w, fs, c));
    assert_eq!(mountinfo(), before);
    assert_eq!(fds(), fds_before);
}

#[test]
fn refusals_are_typed_and_name_the_field() {
    require_root!();
    let _l = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("prepared-refused");
    let (top, base) = layers(dir.path());
    let field = |e: &SpawnError| match e {
        SpawnError::InvalidConfig { field, .. } => *field,
        SpawnError::Mount(mount::Error::Invalid { field, .. }) => field,
        other => panic!("{other:?}"),
    };
    let prep = || Overlay::ephemeral([&top, &base]).prepare().unwrap();

    // A user namespace: the overlay would carry the caller's credentials.
    let e = Container::new()
        .unshare(NS | Namespaces::USER)
        .uid_map([IdMap::new(0, 100_000, 65_536)])
        .gid_map([IdMap::new(0, 100_000, 65_536)])
        .rootfs(prep())
        .command("/bin/true")
        .output()
        .unwrap_err();
    assert_eq!(field(&e), "root", "{e}");
    assert!(e.to_string().contains("user namespace"), "{e}");
    // No mount namespace to attach it in.
    let e = Container::new()
        .unshare(Namespaces::PID)
        .rootfs(prep())
        .command("/bin/true")
        .output()
        .unwrap_err();
    assert_eq!(field(&e), "root", "{e}");
    // An idmapped root.
    let e = Container::new()
        .unshare(NS | Namespaces::USER)
        .uid_map([IdMap::new(0, 100_000, 65_536)])
        .gid_map([IdMap::new(0, 100_000, 65_536)])
        .rootfs(prep())
        .idmapped_root(true)
        .command("/bin/true")
        .output()
        .unwrap_err();
    assert_eq!(field(&e), "idmapped_root", "{e}");

    // Only the ephemeral shape is prepared.
    let upper = dir.path().join("upper");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&upper).unwrap();
    std::fs::create_dir_all(&work).unwrap();
    for o in [
        Overlay::new([&top], &upper, &work),
        Overlay::read_only([&top]),
        Overlay::ephemeral([&top]).user_xattr(true),
        Overlay::ephemeral(Vec::<PathBuf>::new()),
        Overlay::ephemeral(["relative/layer"]),
        Overlay::ephemeral([dir.path().join("missing")]),
        Overlay::ephemeral([&top]).merged(dir.path().join("missing")),
    ] {
        match PreparedRoot::new(&o) {
            Err(mount::Error::Invalid { .. }) => {}
            other => panic!("{o:?}: {other:?}"),
        }
    }
    // A file as a layer: refused by the kernel's view too (not a directory).
    std::fs::write(dir.path().join("file"), b"").unwrap();
    assert!(matches!(
        PreparedRoot::new(&Overlay::ephemeral([dir.path().join("file")])),
        Err(mount::Error::Invalid { .. })
    ));
}

/// The container's mount table names no host path of the layers: the
/// ordinary ephemeral overlay shows `/proc/self/fd/N` there; a prepared
/// one's layers, given by descriptor, are named by overlayfs with the
/// descriptor's path as the caller saw it (`d_path`), so they go through a
/// detached clone of each layer, whose path is `/`.
#[test]
fn the_containers_mount_table_names_no_host_path_of_the_layers() {
    require_root!();
    let _l = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let dir = TempDir::new("prepared-paths");
    let (top, base) = layers(dir.path());
    let host = dir.path().display().to_string();
    let o = Overlay::ephemeral([&top, &base]);
    let script = "grep ' / / ' /proc/self/mountinfo; cat /layer";
    for (shape, root) in [
        ("ordinary", Rootfs::from(o.clone())),
        ("prepared", Rootfs::from(o.prepare().unwrap())),
    ] {
        let out = run(Container::new().unshare(NS).rootfs(root), script);
        assert!(
            out.contains(" - overlay ") && out.ends_with("top\n"),
            "{shape}: {out}"
        );
        assert!(
            !out.contains(&host),
            "{shape}: the host path {host} in {out}"
        );
    }
}
