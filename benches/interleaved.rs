//! The same measurements as `benches/spawn.rs`, but interleaved round-robin
//! (every method once per round, in a new random order each round), so a
//! burst of load on this shared machine hits every method alike, and the
//! asynchronous teardown of one method's child (a network namespace's
//! `cleanup_net`, a cgroup's release) does not always land in the same
//! next method, as it did with a fixed rotation. Prints per variant
//! the median of each method and two ratios to the floor: of the medians,
//! and the median of the per-round ratios. Writes the samples' summary to
//! `target/spawn-interleaved.json` for `benches/report.py --interleaved`.
//!
//! `cargo bench --bench interleaved` (`CONTAINMENT_BENCH_ROUNDS=N`, default
//! 200; `CONTAINMENT_BENCH_VARIANTS=none,six`). Under `cargo test --benches`
//! it runs 3 rounds of each as a smoke test.

mod support;

use support::selected_variants;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn main() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("benches/interleaved: SKIPPED, needs root (namespaces, id maps)");
        return;
    }
    // `cargo bench` passes --bench; `cargo test --benches` does not.
    let test_mode = !std::env::args().any(|a| a == "--bench");
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let rounds: usize = if test_mode {
        3
    } else {
        std::env::var("CONTAINMENT_BENCH_ROUNDS")
            .ok()
            .and_then(|r| r.parse().ok())
            .unwrap_or(200)
    };
    let mut json = String::from("{\n");
    let mut first_variant = true;
    for v in selected_variants() {
        let mut methods = support::methods(v);
        let n = methods.len();
        // samples[figure][method][round], µs
        let mut samples = vec![vec![Vec::with_capacity(rounds); n]; 2];
        // warm-up: one of each
        for (_, m) in methods.iter_mut() {
            m(true);
            m(false);
        }
        let mut order: Vec<usize> = (0..n).collect();
        let mut rng = support::Shuffle::new(0x5eed ^ rounds as u64);
        for _ in 0..rounds {
            for (fig, exec) in [(0usize, true), (1, false)] {
                rng.shuffle(&mut order);
                for &i in &order {
                    let d = (methods[i].1)(exec);
                    samples[fig][i].push(d.as_secs_f64() * 1e6);
                }
            }
        }
        println!(
            "spawn/{} ({} rounds, µs, medians; x floor = ratio of medians / median of per-round ratios)",
            v.name, rounds
        );
        if !first_variant {
            json.push_str(",\n");
        }
        first_variant = false;
        json.push_str(&format!("  \"{}\": {{", v.name));
        // The same-work floors, where the variant has them: ratios to them
        // too (per round: the drift of this shared machine cancels).
        let same_work: Vec<(&str, usize)> = ["floor_work", "floor_protect"]
            .into_iter()
            .filter_map(|f| methods.iter().position(|(n, _)| *n == f).map(|i| (f, i)))
            .collect();
        for (i, (name, _)) in methods.iter().enumerate() {
            let mut cells = Vec::new();
            let mut js = Vec::new();
            for (fig, label) in [(0usize, "to_exec"), (1, "to_exit")] {
                let mut per_round: Vec<f64> = samples[fig][i]
                    .iter()
                    .zip(&samples[fig][0])
                    .map(|(a, f)| a / f)
                    .collect();
                let med = median(&mut samples[fig][i].clone());
                let fmed = median(&mut samples[fig][0].clone());
                let rr = median(&mut per_round);
                cells.push(format!("{label} {med:8.0} x{:.2} / x{rr:.2}", med / fmed));
                let mut vs = String::new();
                for (f, j) in &same_work {
                    let mut pr: Vec<f64> = samples[fig][i]
                        .iter()
                        .zip(&samples[fig][*j])
                        .map(|(a, b)| a / b)
                        .collect();
                    let wmed = median(&mut samples[fig][*j].clone());
                    let wr = median(&mut pr);
                    cells.push(format!("x{f} {:.2} / {wr:.2}", med / wmed));
                    vs.push_str(&format!(
                        ", \"vs_{f}\": {{\"ratio_of_medians\": {:.3}, \"median_round_ratio\": {wr:.3}}}",
                        med / wmed
                    ));
                }
                js.push(format!(
                    "\"{label}\": {{\"median_us\": {med:.1}, \"ratio_of_medians\": {:.3}, \"median_round_ratio\": {rr:.3}{vs}}}",
                    med / fmed
                ));
            }
            println!("  {name:<12} {}", cells.join("   "));
            json.push_str(&format!(
                "{}\"{name}\": {{{}}}",
                if i == 0 { "" } else { ", " },
                js.join(", ")
            ));
        }
        json.push('}');
    }
    json.push_str("\n}\n");
    if !test_mode {
        let dir = std::env::var("CARGO_TARGET_DIR").unwrap_or_else(|_| "target".into());
        let path = format!("{dir}/spawn-interleaved.json");
        if let Err(e) = std::fs::write(&path, json) {
            eprintln!("could not write {path}: {e}");
        } else {
            eprintln!("wrote {path}");
        }
    }
}
