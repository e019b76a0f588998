//! Stress: 8 threads spawning 200 containers each, with namespaces, id
//! maps, a changed root and a cgroup, while another thread allocates and
//! frees in a loop. It must finish (a watchdog catches a hang), and leave
//! no zombie, no extra descriptor, no cgroup directory and no mount.
//! Alone in its own test binary because it counts process-wide resources.

#[macro_use]
mod common;

use containment::cgroup::{CgroupSpec, Hierarchy};
use containment::{Container, IdMap, Namespaces};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Removes what the test made, even when it fails.
struct Cleanup(std::path::PathBuf, std::path::PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Ok(rd) = std::fs::read_dir(&self.0) {
            for e in rd.flatten() {
                if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    let _ = std::fs::write(e.path().join("cgroup.kill"), "1");
                    let _ = std::fs::remove_dir(e.path());
                }
            }
        }
        let _ = std::fs::remove_dir(&self.0);
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

const THREADS: usize = 8;

/// The tests count process-wide resources: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
const PER_THREAD: usize = 200;

#[test]
fn eight_threads_spawning_200_full_containers_each() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    require_root!();
    require!(
        std::path::Path::new("/bin/busybox").exists(),
        "busybox-static is not installed (cargo xtask test installs it)"
    );
    let mount = Hierarchy::detect()
        .ok()
        .and_then(|h| h.mount_point().map(|p| p.to_path_buf()));
    require!(mount.is_some(), "no cgroup2 mount on this host");
    let parent = mount.unwrap().join(common::unique("containment-stress"));
    std::fs::create_dir(&parent).unwrap();

    // A busybox root shared read-only by every container.
    let root = std::env::temp_dir().join(common::unique("containment-stress-root"));
    let _cleanup = Cleanup(parent.clone(), root.clone());
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", root.join("bin/true")).unwrap();
    for d in ["proc", "dev", "tmp"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }

    // Warm lazily opened descriptors (the sealed exec helper's memfd, made
    // by the first spawn that needs it and kept), then count.
    Container::new()
        .unshare(Namespaces::UTS)
        .force_exec_helper(true)
        .command("/bin/true")
        .status()
        .unwrap();
    let fds_before = common::open_fds();
    let mounts_before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let v: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 64 + i * 37]).collect();
                n += v.iter().map(|x| x.len() as u64).sum::<u64>();
                drop(v);
            }
            n
        })
    };

    let (tx, rx) = std::sync::mpsc::channel();
    let start = Instant::now();
    for t in 0..THREADS {
        let tx = tx.clone();
        let root = root.clone();
        let parent = parent.clone();
        std::thread::spawn(move || {
            let mut failures = Vec::new();
            for i in 0..PER_THREAD {
                let r = Container::new()
                    .unshare(
                        Namespaces::USER
                            | Namespaces::UTS
                            | Namespaces::PID
                            | Namespaces::MOUNT
                            | Namespaces::IPC,
                    )
                    .uid_map([IdMap::new(0, 100_000, 65_536)])
                    .gid_map([IdMap::new(0, 100_000, 65_536)])
                    .hostname(format!("s{t}-{i}"))
                    .root(&root)
                    .cgroup(CgroupSpec::new().parent(&parent).name(format!("s{t}-{i}")))
                    .command("/bin/true")
                    .status();
                match r {
                    Ok(st) if st.success() => {}
                    Ok(st) => failures.push(format!("{t}/{i}: {st}")),
                    Err(e) => failures.push(format!("{t}/{i}: {e}")),
                }
            }
            let _ = tx.send(failures);
        });
    }
    drop(tx);
    let mut failures = Vec::new();
    for _ in 0..THREADS {
        // A watchdog against a hang (a deadlock after clone), not a speed
        // assertion: the run takes seconds.
        match rx.recv_timeout(Duration::from_secs(600)) {
            Ok(f) => failures.extend(f),
            Err(e) => panic!("spawning threads hung or died: {e}"),
        }
    }
    let elapsed = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let churned = churn.join().unwrap();
    eprintln!(
        "{} containers in {elapsed:?} while {churned} bytes were allocated and freed",
        THREADS * PER_THREAD
    );
    assert!(
        failures.is_empty(),
        "{} failures, first: {:?}",
        failures.len(),
        &failures[..failures.len().min(3)]
    );

    assert!(common::zombie_children().is_empty(), "zombies left");
    assert_eq!(common::open_fds(), fds_before, "descriptors leaked");
    assert_eq!(
        std::fs::read_to_string("/proc/self/mountinfo").unwrap(),
        mounts_before,
        "mounts left"
    );
    let left: Vec<_> = std::fs::read_dir(&parent)
        .unwrap()
        .flatten()
        .filter(|e| e.file_type().unwrap().is_dir())
        .map(|e| e.file_name())
        .collect();
    assert!(left.is_empty(), "cgroups left: {left:?}");
}

#[test]
fn eight_threads_spawning_in_the_vfork_shape() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // No user namespace and no cgroup: the default vfork shape is taken,
    // with the child sharing our memory while other threads allocate.
    require_root!();
    require!(
        std::path::Path::new("/bin/busybox").exists(),
        "busybox-static is not installed (cargo xtask test installs it)"
    );
    let root = std::env::temp_dir().join(common::unique("containment-vfork-root"));
    let _cleanup = Cleanup(
        std::path::PathBuf::from("/nonexistent-cgroup"),
        root.clone(),
    );
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let churn = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let v: Vec<String> = (0..128).map(|i| "x".repeat(i * 13)).collect();
                drop(v);
            }
        })
    };
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let root = root.clone();
            std::thread::spawn(move || {
                for i in 0..PER_THREAD / 2 {
                    let out = Container::new()
                        .unshare(
                            Namespaces::UTS | Namespaces::PID | Namespaces::MOUNT | Namespaces::IPC,
                        )
                        .hostname(format!("v{t}-{i}"))
                        .root(&root)
                        .command("/bin/sh")
                        .args(["-c", "hostname"])
                        .output()
                        .unwrap();
                    assert_eq!(out.stdout, format!("v{t}-{i}\n").into_bytes());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    churn.join().unwrap();
    assert!(common::zombie_children().is_empty(), "zombies left");
}
