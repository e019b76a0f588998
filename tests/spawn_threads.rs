//! Spawning from many threads at once: no zombie, no leaked descriptor.
//! Alone in its own test binary, so that no other test opens descriptors
//! while it counts them.

#[macro_use]
mod common;

use containment::{Container, Namespaces};

#[test]
fn spawning_from_8_threads_leaves_no_zombie_and_no_fd() {
    require_root!();
    // Warm up lazily opened descriptors (the probe's cache) first.
    Container::new()
        .unshare(Namespaces::UTS)
        .command("/bin/true")
        .status()
        .unwrap();
    let fds_before = common::open_fds();
    let threads: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..100 {
                    let st = Container::new()
                        .unshare(Namespaces::UTS | Namespaces::PID | Namespaces::IPC)
                        .hostname(format!("t{t}-{i}"))
                        .command("/bin/true")
                        .status()
                        .unwrap();
                    assert!(st.success());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(common::open_fds(), fds_before, "descriptors leaked");
    assert!(common::zombie_children().is_empty(), "zombies left");
}
