//! `uid_map`/`gid_map` text: `parse_id_map`, `IdMap::parse_line`, and the
//! kernel's rules (`validate_id_maps`); format → parse round-trips.
#![no_main]

use containment::fuzzing::{format_id_map, parse_id_map, validate_id_maps};
use containment::IdMap;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    if let Some(first) = s.lines().next() {
        if let Ok(m) = IdMap::parse_line(first) {
            let line = format!("{} {} {}", m.inside, m.outside, m.count);
            assert_eq!(IdMap::parse_line(&line).ok(), Some(m));
        }
    }
    if let Ok(maps) = parse_id_map(s) {
        let text = format_id_map(&maps);
        let text = std::str::from_utf8(&text).expect("formatted maps are ASCII");
        assert_eq!(parse_id_map(text).ok().as_ref(), Some(&maps), "{s:?}");
        if validate_id_maps(&maps).is_ok() {
            assert!(!maps.is_empty() && maps.iter().all(|m| m.count > 0));
        }
    }
});
