//! Profiling helper (not a benchmark): runs one method of one variant in a
//! loop, for `strace -c -f` or `perf`.
//!
//! `cargo bench --bench probe_steps -- METHOD VARIANT [N]`, e.g.
//! `strace -f -c target/release/deps/probe_steps-* pool six 300`.
mod support;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if args.len() < 2 {
        eprintln!("usage: probe_steps METHOD VARIANT [N] [exec|exit]");
        return;
    }
    if let Some(mask) = std::env::var("FLOOR_STEPS")
        .ok()
        .and_then(|m| m.parse().ok())
    {
        support::STEPS.store(mask, std::sync::atomic::Ordering::Relaxed);
    }
    let n: usize = args.get(2).and_then(|n| n.parse().ok()).unwrap_or(200);
    let exec = args.get(3).map_or(true, |f| f != "exit");
    let v = support::VARIANTS
        .iter()
        .find(|v| v.name == args[1])
        .expect("variant");
    let (_, mut m) = support::methods(*v)
        .into_iter()
        .find(|(name, _)| *name == args[0])
        .expect("method");
    let mut s: Vec<f64> = (0..n).map(|_| m(exec).as_secs_f64() * 1e6).collect();
    s.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    println!(
        "{} {} {}: median {:.0} µs, p10 {:.0}, p90 {:.0}",
        args[0],
        args[1],
        if exec { "to_exec" } else { "to_exit" },
        s[n / 2],
        s[n / 10],
        s[n * 9 / 10]
    );
}
