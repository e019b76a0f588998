//! Byte sizes and CPU counts: `mount::parse_size`, `cgroup::parse_bytes`,
//! `MemoryLimit::from_str`, `cgroup::parse_cpus`.
#![no_main]

use containment::cgroup::resources::{parse_bytes, parse_cpus};
use containment::cgroup::MemoryLimit;
use containment::mount::parse_size;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    if let Ok(n) = parse_size(s) {
        // A number's display parses back to it, with or without a `b`.
        assert_eq!(parse_size(&n.to_string()).ok(), Some(n));
        assert_eq!(parse_size(&format!("{n}b")).ok(), Some(n));
        // Every size `parse_size` accepts, `parse_bytes` reads the same.
        assert_eq!(parse_bytes(s).ok(), Some(n), "{s:?}");
    }
    if let Ok(n) = parse_bytes(s) {
        assert_eq!(parse_bytes(&n.to_string()).ok(), Some(n));
        assert_eq!(
            s.parse::<MemoryLimit>().ok(),
            Some(MemoryLimit::Bytes(n)),
            "{s:?}"
        );
    }
    if let Ok(m) = s.parse::<MemoryLimit>() {
        assert_eq!(m.to_string().parse::<MemoryLimit>().ok(), Some(m));
    }
    if let Ok(c) = parse_cpus(s) {
        assert!(c.is_finite() && c > 0.0, "{s:?} gave {c}");
    }
});
