//! The warm namespace pool: isolation as the kernel shows it.

#[macro_use]
mod common;

use containment::pool::{NamespacePool, PooledNamespaces, POOLABLE};
use containment::{Container, Namespace, Namespaces, NsFd, Stdio};
use std::os::fd::{AsFd, AsRawFd};
use std::time::Duration;

/// The tests of this file run one at a time: they count our children and
/// descriptors.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

const SIX: Namespaces = Namespaces::UTS
    .union(Namespaces::PID)
    .union(Namespaces::MOUNT)
    .union(Namespaces::IPC)
    .union(Namespaces::NET)
    .union(Namespaces::CGROUP);

/// Inode of /proc/<pid>/ns/<kind>, as the kernel shows it.
fn ns_inode(pid: u32, kind: Namespace) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/{pid}/ns/{}", kind.proc_name()))
        .unwrap()
        .ino()
}

/// Our direct children (any state).
fn children() -> Vec<i32> {
    common::children().into_iter().map(|(p, _)| p).collect()
}

/// Whether `lo` is up in the network namespace behind `fd`, asked from a
/// thread that joins it (setns(CLONE_NEWNET) is per thread).
fn lo_is_up(fd: &NsFd) -> bool {
    let raw = fd.as_fd().as_raw_fd();
    std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: joins the namespace in this thread only; the ioctls
            // read a zeroed ifreq naming "lo".
            unsafe {
                assert_eq!(libc::setns(raw, libc::CLONE_NEWNET), 0);
                let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
                assert!(sock >= 0);
                let mut req: libc::ifreq = std::mem::zeroed();
                for (d, c) in req.ifr_name.iter_mut().zip(b"lo\0") {
                    *d = *c as libc::c_char;
                }
                assert_eq!(libc::ioctl(sock, libc::SIOCGIFFLAGS as _, &mut req), 0);
                libc::close(sock);
                req.ifr_ifru.ifru_flags as i32 & libc::IFF_UP != 0
            }
        })
        .join()
        .unwrap()
    })
}

#[test]
fn refuses_kinds_that_cannot_be_pooled() {
    assert!(NamespacePool::new(Namespaces::PID, 1).is_err());
    assert!(NamespacePool::new(Namespaces::USER | Namespaces::NET, 1).is_err());
    assert!(NamespacePool::new(Namespaces::empty(), 1).is_err());
}

#[test]
fn containers_never_share_a_pooled_namespace() {
    require_root!();
    let _serial = serial();
    let pool = NamespacePool::new(POOLABLE, 2).unwrap();
    assert!(
        pool.wait_ready(2, Duration::from_secs(10)),
        "{:?}",
        pool.last_error()
    );
    let mut b = Container::new()
        .unshare(SIX)
        .namespace_pool(&pool)
        .command("/bin/sleep");
    b.arg("10").stdout(Stdio::Null);
    let mut kids = Vec::new();
    for _ in 0..3 {
        // Each takes a set (the third may find the pool refilling or empty,
        // then it creates its own: either way nothing is shared).
        pool.wait_ready(1, Duration::from_secs(10));
        kids.push(b.spawn().unwrap());
    }
    let (made, taken) = pool.counts();
    assert!(
        taken >= 2,
        "the pool was not used: made {made} taken {taken}"
    );
    let me = std::process::id();
    for kind in [
        Namespace::Net,
        Namespace::Ipc,
        Namespace::Uts,
        Namespace::Mount,
        Namespace::Pid,
        Namespace::Cgroup,
    ] {
        let host = ns_inode(me, kind);
        let mut seen: Vec<u64> = kids.iter().map(|c| ns_inode(c.id(), kind)).collect();
        assert!(
            seen.iter().all(|i| *i != host),
            "{kind}: a child is in the host's"
        );
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), kids.len(), "{kind}: two containers share one");
    }
    // lo is up in each container's network namespace.
    for c in &kids {
        assert!(lo_is_up(&c.open_namespace(Namespace::Net).unwrap()));
    }
}

#[test]
fn a_set_is_never_handed_out_twice() {
    require_root!();
    let _serial = serial();
    let pool = NamespacePool::new(Namespaces::NET | Namespaces::UTS, 3).unwrap();
    assert!(
        pool.wait_ready(3, Duration::from_secs(10)),
        "{:?}",
        pool.last_error()
    );
    let mut inodes = Vec::new();
    for _ in 0..6 {
        pool.wait_ready(1, Duration::from_secs(10));
        let set = pool.take().unwrap();
        let id = set.get(Namespace::Net).unwrap().id().unwrap();
        assert!(lo_is_up(set.get(Namespace::Net).unwrap()));
        inodes.push(format!("{id}"));
        // The set is dropped here: it is never returned to the pool.
    }
    let n = inodes.len();
    inodes.sort();
    inodes.dedup();
    assert_eq!(inodes.len(), n);
}

#[test]
fn nothing_is_left_after_teardown() {
    require_root!();
    let _serial = serial();
    // Let other tests' children settle out of the count: only ours matter,
    // and a holder is ours. Compare before and after within this test.
    let fds_before = common::open_fds();
    {
        let pool = NamespacePool::new(POOLABLE, 4).unwrap();
        assert!(
            pool.wait_ready(4, Duration::from_secs(10)),
            "{:?}",
            pool.last_error()
        );
        let set: PooledNamespaces = pool.take().unwrap();
        assert_eq!(set.kinds(), POOLABLE);
        let c = Container::new().unshare(SIX).namespace_pool(&pool);
        assert!(c.command("/bin/true").status().unwrap().success());
        drop(set); // a taken set is refilled once it is dropped
                   // While the pool is full, no holder process is alive: the holders
                   // are killed as soon as their namespaces' descriptors are taken.
        assert!(pool.wait_ready(4, Duration::from_secs(10)));
        std::thread::sleep(Duration::from_millis(20));
        let holders: Vec<i32> = children()
            .into_iter()
            .filter(|p| {
                std::fs::read_to_string(format!("/proc/{p}/comm"))
                    .is_ok_and(|c| c.trim() == "containment-poo")
            })
            .collect();
        assert!(holders.is_empty(), "holders alive: {holders:?}");
    }
    assert_eq!(common::open_fds(), fds_before, "descriptors leaked");
    assert!(common::lasting_zombies().is_empty());
}

#[test]
fn pool_and_new_user_namespace_are_refused() {
    require_root!();
    let _serial = serial();
    let pool = NamespacePool::new(Namespaces::UTS, 1).unwrap();
    let err = Container::new()
        .unshare(Namespaces::UTS | Namespaces::USER)
        .uid_map([containment::IdMap::new(0, 100_000, 65_536)])
        .gid_map([containment::IdMap::new(0, 100_000, 65_536)])
        .namespace_pool(&pool)
        .command("/bin/true")
        .spawn()
        .unwrap_err();
    assert!(err.to_string().contains("namespace_pool"), "{err}");
}
