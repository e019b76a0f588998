//! `Child::wait_async` (feature `tokio`): many containers awaited at once
//! from one runtime thread, each exit status right.

#[macro_use]
mod common;

use containment::{Container, Namespaces};
use std::future::Future;
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::time::{Duration, Instant};

const N: usize = 1000;

/// Raises the soft descriptor limit to the hard one (each child holds a
/// pidfd open until it is reaped).
fn raise_nofile(need: u64) -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: lim is a valid out-pointer.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    if lim.rlim_cur < need {
        lim.rlim_cur = lim.rlim_max.min(need.max(lim.rlim_cur));
        // SAFETY: lim is a valid rlimit.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    }
    lim.rlim_cur
}

/// A pipe with both ends close-on-exec: (read, write).
fn pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0i32; 2];
    // SAFETY: fds is a valid array of two ints.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: pipe2 returned two new descriptors that we own.
    unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) }
}

fn threads() -> usize {
    std::fs::read_dir("/proc/self/task").unwrap().count()
}

#[test]
fn thousand_containers_awaited_on_one_thread() {
    require_root!();
    let limit = raise_nofile(N as u64 + 512);
    require!(
        limit >= N as u64 + 256,
        "RLIMIT_NOFILE hard limit {limit} is below {}",
        N + 256
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let threads_before = threads();
    let fds_before = common::open_fds();

    // A gate: every container first reads one line from a shared pipe, then
    // sleeps 1 s and exits. Nothing exits before all 1,000 futures are
    // pending on the runtime thread and the gate opens.
    let (gate_r, gate_w) = pipe();
    let started = Instant::now();
    let mut children = Vec::with_capacity(N);
    for i in 0..N {
        let code = if i % 2 == 0 { 0 } else { 3 };
        let child = Container::new()
            .unshare(Namespaces::UTS)
            .command("/bin/sh")
            .args(["-c", &format!("read go; sleep 1; exit {code}")])
            .stdin(gate_r.try_clone().unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {i}: {e}"));
        children.push((i, code, child));
    }
    drop(gate_r);
    eprintln!("spawned {N} containers in {:?}", started.elapsed());

    let (results, threads_during, pending) = rt.block_on(async {
        let local = tokio::task::LocalSet::new();
        local
            .run_until(async move {
                let mut handles = Vec::with_capacity(N);
                for (i, code, mut child) in children {
                    handles.push(tokio::task::spawn_local(async move {
                        let st = child.wait_async().await.unwrap();
                        // A second call returns the cached status.
                        assert_eq!(child.wait_async().await.unwrap(), st);
                        (i, code, st, child.id())
                    }));
                }
                // Let every task start waiting; none can have finished.
                for _ in 0..3 {
                    tokio::task::yield_now().await;
                }
                let pending = handles.iter().filter(|h| !h.is_finished()).count();
                let during = threads();
                // Open the gate: one line per container.
                let mut w = std::fs::File::from(gate_w);
                w.write_all(&b"go\n".repeat(N)).unwrap();
                drop(w);
                let mut out = Vec::with_capacity(N);
                for h in handles {
                    out.push(h.await.unwrap());
                }
                (out, during, pending)
            })
            .await
    });
    let total = started.elapsed();
    eprintln!("all {N} reaped after {total:?}");

    assert_eq!(pending, N, "every wait was pending before the gate opened");
    assert_eq!(results.len(), N);
    let mut ok = 0;
    for (i, code, st, pid) in &results {
        assert_eq!(st.code(), Some(*code), "child {i} (pid {pid}): {st:?}");
        assert_eq!(st.signal(), None);
        ok += 1;
        // Reaped: the pid is gone (or reused by someone else, not a zombie of ours).
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        assert!(
            !stat.contains(&format!(" Z {}", std::process::id())),
            "child {i} is a zombie"
        );
    }
    assert_eq!(ok, N);
    assert_eq!(
        results.iter().filter(|r| r.2.code() == Some(3)).count(),
        N / 2
    );
    assert!(
        threads_during <= threads_before,
        "the wait started threads: {threads_before} -> {threads_during}"
    );
    // None of ours lingers as a zombie (other tests of this binary run
    // beside this one: a sibling's child may be a zombie for a while, e.g.
    // while a caught panic prints its backtrace).
    let ours: Vec<i32> = results.iter().map(|r| r.3 as i32).collect();
    let lasting = common::lasting_zombies();
    assert!(
        !lasting.iter().any(|z| ours.contains(z)),
        "zombies of ours: {lasting:?}"
    );
    // Every pidfd was closed with its Child.
    assert!(common::open_fds() <= fds_before + 1);
    // Concurrent, not one after another: far less than N × 1 s.
    assert!(total < Duration::from_secs(60), "took {total:?}");
}

#[test]
fn killed_child_reports_the_signal() {
    require_root!();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let mut child = Container::new()
        .command("/bin/sleep")
        .args(["30"])
        .spawn()
        .unwrap();
    rt.block_on(async {
        child.signal(libc::SIGTERM).unwrap();
        let st = child.wait_async().await.unwrap();
        assert_eq!(st.signal(), Some(libc::SIGTERM));
    });
    // The sync API sees the same cached status.
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGTERM));
}

#[test]
fn without_io_driver_panics_not_hangs() {
    require_root!();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut child = Container::new().command("/bin/true").spawn().unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(child.wait_async())
    }));
    // Documented: tokio panics without an IO driver (no hang), and the
    // child can still be waited for synchronously.
    assert!(r.is_err(), "expected a panic, got {r:?}");
    assert!(child.wait().unwrap().success());
}

#[test]
fn dropping_the_future_leaves_the_child_waitable() {
    require_root!();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    let mut child = Container::new()
        .command("/bin/sleep")
        .args(["30"])
        .spawn()
        .unwrap();
    rt.block_on(async {
        let mut fut = std::pin::pin!(child.wait_async());
        // Poll once: registered with the reactor, still pending.
        let polled =
            std::future::poll_fn(|cx| std::task::Poll::Ready(fut.as_mut().poll(cx).is_pending()))
                .await;
        assert!(polled, "a sleeping child's wait completed");
    }); // the future is dropped here
    assert_eq!(
        child.try_wait().unwrap(),
        None,
        "the child was reaped or lost"
    );
    child.kill().unwrap();
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));
}
