//! Spawn latency, per namespace variant, against baselines measured in the
//! same run.
//!
//! Every group `spawn/<variant>` holds:
//! - `floor/{to_exec,to_exit}`: raw `clone3` + execve + wait on the system
//!   calls with the same flags (`benches/support`);
//! - `floor_work/…` (only where the builder does more than clone by default:
//!   mount, net): the floor plus the same child steps the builder makes;
//! - `containment/…`: `Container::new()…spawn()` / `.status()`;
//! - `pool/…` (where a poolable kind is asked, without a user namespace):
//!   the builder joining a set from a warm [`containment::pool`], waited
//!   for until full outside the timing;
//! - `std/…`: `std::process::Command` (with `pre_exec(unshare)` for
//!   namespaces).
//!
//! *to exec*: the call returns once the program has been exec'd; killing and
//! reaping stay outside the timing (`iter_custom`). *to exit*: spawn and wait
//! for `/bin/true`.
//!
//! Knobs: `CONTAINMENT_BENCH_QUICK=1` (shorter measurement),
//! `CONTAINMENT_BENCH_VARIANTS=none,six` (a subset), and criterion's own
//! filter argument. `benches/report.py` prints the table with ratios.
//! Needs root (namespaces); without it the bench prints why and does nothing.

mod support;

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};
use std::time::Duration;
use support::{methods, selected_variants};

fn quick() -> bool {
    std::env::var_os("CONTAINMENT_BENCH_QUICK").is_some_and(|v| v != "0")
}

fn config(g: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>) {
    g.sample_size(10);
    if quick() {
        g.warm_up_time(Duration::from_millis(100))
            .measurement_time(Duration::from_millis(300));
    } else {
        g.warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_millis(1200));
    }
}

fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn spawn(c: &mut Criterion) {
    if !root() {
        eprintln!("benches/spawn: SKIPPED, needs root (namespaces, id maps)");
        return;
    }
    for v in selected_variants() {
        let mut g = c.benchmark_group(format!("spawn/{}", v.name));
        config(&mut g);
        for (name, mut m) in methods(v) {
            g.bench_function(format!("{name}/to_exec"), |b| {
                b.iter_custom(|iters| (0..iters).map(|_| m(true)).sum::<Duration>())
            });
            g.bench_function(format!("{name}/to_exit"), |b| {
                b.iter_custom(|iters| (0..iters).map(|_| m(false)).sum::<Duration>())
            });
        }
        g.finish();
    }
}

criterion_group!(benches, spawn);
criterion_main!(benches);
