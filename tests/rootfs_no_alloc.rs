//! Proves that the mount layer's child side allocates nothing: the same
//! detector as `no_alloc_in_child.rs` (a global allocator that reports calls
//! made in a process other than the test's own, through a close-on-exec
//! pipe), driven with a busybox root, an ephemeral overlay, a minimal /dev,
//! every mount kind that works here, masked paths and a failing mount.

#[macro_use]
mod common;

use containment::mount::{Mount, Overlay};
use containment::{Container, IdMap, Namespaces};
use std::alloc::{GlobalAlloc, Layout, System};
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};

static PARENT: AtomicI32 = AtomicI32::new(0);
static REPORT: AtomicI32 = AtomicI32::new(-1);

struct Recording;

impl Recording {
    fn note(&self) {
        let parent = PARENT.load(Ordering::Relaxed);
        // SAFETY: getpid and write are async-signal-safe system calls.
        unsafe {
            if parent != 0 && libc::getpid() != parent {
                let fd = REPORT.load(Ordering::Relaxed);
                if fd >= 0 {
                    libc::write(fd, b"A".as_ptr().cast(), 1);
                }
            }
        }
    }
}

// SAFETY: forwards to the system allocator.
unsafe impl GlobalAlloc for Recording {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        self.note();
        // SAFETY: forwarded contract.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        self.note();
        // SAFETY: forwarded contract.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        self.note();
        // SAFETY: forwarded contract.
        unsafe { System.realloc(p, l, n) }
    }
}

#[global_allocator]
static GLOBAL: Recording = Recording;

fn drain(fd: i32) -> usize {
    let mut total = 0;
    let mut buf = [0u8; 256];
    loop {
        // SAFETY: non-blocking read into a live buffer.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            return total;
        }
        total += n as usize;
    }
}

#[test]
fn mounts_and_pivot_root_allocate_nothing_in_the_child() {
    require_root!();
    let dir = std::env::temp_dir().join(common::unique("containment-noalloc-rootfs"));
    let root = dir.join("root");
    for d in ["bin", "etc", "proc", "dev", "sys", "tmp"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    let bb = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .expect("busybox-static is not installed");
    std::fs::copy(bb, root.join("bin/busybox")).unwrap();
    symlink("busybox", root.join("bin/sh")).unwrap();
    let top = dir.join("top");
    std::fs::create_dir_all(&top).unwrap();

    let mut fds = [0; 2];
    // SAFETY: valid out-array.
    assert_eq!(
        unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) },
        0
    );
    REPORT.store(fds[1], Ordering::Relaxed);
    // SAFETY: getpid has no preconditions.
    PARENT.store(unsafe { libc::getpid() }, Ordering::Relaxed);

    for user in [false, true] {
        let mut b = Container::builder();
        let mut ns = Namespaces::MOUNT | Namespaces::PID | Namespaces::IPC | Namespaces::NET;
        if user {
            ns |= Namespaces::USER;
            b.uid_map([IdMap::new(0, 100_000, 65_536)])
                .gid_map([IdMap::new(0, 100_000, 65_536)]);
        }
        b.namespaces(ns)
            .rootfs(Overlay::ephemeral([&top, &root]))
            .mount(Mount::tmpfs("/tmp").size(1 << 20).mode(0o1777))
            .mount(Mount::bind(&top, "/mnt/top").read_only(true))
            .mount(Mount::mqueue("/dev/mqueue"))
            .mount(Mount::sysfs("/sys"))
            .docker_default_paths()
            .readonly_root(true)
            .command("/bin/sh", ["-c", "echo ok"]);
        let out = b.output().unwrap();
        assert_eq!(out.stdout, b"ok\n", "user ns {user}: {out:?}");
        // A failing mount reports without allocating too.
        let e = Container::builder()
            .namespaces(Namespaces::MOUNT | Namespaces::PID)
            .root(&root)
            .mount(Mount::bind(&top, "/bin/sh/below-a-file"))
            .command("/bin/sh", ["-c", "true"])
            .spawn()
            .unwrap_err();
        assert!(e.child_error().is_some(), "{e}");
    }
    let seen = drain(fds[0]);
    PARENT.store(0, Ordering::Relaxed);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        seen, 0,
        "{seen} allocations in the child between clone and exec"
    );
}
