//! A test harness: many isolated processes at once, each in its own
//! namespaces (its hostname, PID 1, a private network with only `lo`), their
//! output collected and reported.
//!
//! ```text
//! sudo target/debug/examples/test_harness [N]
//! ```
//!
//! Spawning is safe from any thread (the child runs no allocator or lock
//! between clone and exec), so each case runs on a scoped thread.

use containment::{Container, Namespaces};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args().nth(1).map_or(Ok(16), |a| a.parse())?;
    let started = Instant::now();
    let results: Vec<_> = std::thread::scope(|s| {
        let cases: Vec<_> = (0..n)
            .map(|i| {
                s.spawn(move || {
                    Container::new()
                        .unshare(
                            Namespaces::UTS | Namespaces::PID | Namespaces::NET | Namespaces::IPC,
                        )
                        .hostname(format!("case-{i}"))
                        .command("/bin/sh")
                        .args(["-c", r#"echo "$(hostname) pid $$ case $CASE"; test $$ = 1"#])
                        .env("CASE", i.to_string())
                        // Output is piped and collected (stdin is null).
                        .output()
                })
            })
            .collect();
        cases
            .into_iter()
            .map(|c| c.join().expect("no panic"))
            .collect()
    });
    let mut failed = 0;
    for (i, r) in results.iter().enumerate() {
        match r {
            Ok(out) if out.status.success() => {
                print!("ok   {i:3}  {}", String::from_utf8_lossy(&out.stdout))
            }
            Ok(out) => {
                failed += 1;
                println!(
                    "FAIL {i:3}  {} {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            Err(e) => {
                failed += 1;
                println!("FAIL {i:3}  {e}");
            }
        }
    }
    println!(
        "{} passed, {failed} failed in {:?}",
        n - failed,
        started.elapsed()
    );
    std::process::exit(i32::from(failed > 0));
}
