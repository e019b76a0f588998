//! cgroup v2 stat files: flat-keyed (`memory.stat`, `cgroup.events`),
//! `memory.events`, `cpu.stat`, `io.stat` and PSI `*.pressure`.
#![no_main]

use containment::fuzzing::{cpu_stat, flat_keyed, io_stat, memory_events, pressure};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    let kv = flat_keyed(s);
    assert!(kv.len() <= s.lines().count());
    assert!(kv
        .iter()
        .all(|(k, _)| !k.is_empty() && !k.contains(char::is_whitespace)));
    let _ = memory_events(s);
    let _ = cpu_stat(s);
    let io = io_stat(s);
    assert!(io.len() <= s.lines().count());
    if let Some(p) = pressure(s) {
        let _ = (p.some, p.full);
    }
});
