//! The list and number formats of cgroup files: `CpuSet` (`"0-3,7"`),
//! `CpuMax` (`"max 100000"`), `Device` (`"8:0"`) and `IoLimit::parse`
//! (`"8:0 1mb"`, `"8:0=300"`). Paths (`/dev/sda`) are skipped: they would
//! stat the fuzzer's own filesystem. The same bytes, read as native-endian
//! u32s, also build a `CpuSet` directly, whose display must parse back.
#![no_main]

use containment::cgroup::{CpuMax, CpuSet, Device, IoLimit, IoLimitKind};
use libfuzzer_sys::fuzz_target;

fn round_trip(set: &CpuSet, input: &dyn std::fmt::Debug) {
    // parse → display → parse is stable, and the display is canonical.
    let shown = set.to_string();
    let again: CpuSet = shown.parse().expect("canonical cpu list reparses");
    assert_eq!(&again, set, "{input:?} -> {shown:?}");
    assert_eq!(again.to_string(), shown);
    assert_eq!(set.len(), set.iter().count());
    assert!(set.iter().all(|c| set.contains(c)));
}

fn text(s: &str) {
    if let Ok(set) = s.parse::<CpuSet>() {
        round_trip(&set, &s);
    }
    if let Ok(m) = s.parse::<CpuMax>() {
        assert_eq!(m.to_string().parse::<CpuMax>().ok(), Some(m), "{s:?}");
    }
    if s.contains('/') {
        return;
    }
    if let Ok(d) = s.parse::<Device>() {
        assert_eq!(d.to_string().parse::<Device>().ok(), Some(d));
    }
    for kind in [
        IoLimitKind::ReadBps,
        IoLimitKind::WriteBps,
        IoLimitKind::ReadIops,
        IoLimitKind::WriteIops,
    ] {
        if let Ok(l) = IoLimit::parse(kind, s) {
            let again = IoLimit::parse(kind, &format!("{} {}", l.device, l.per_second));
            assert_eq!(again.ok(), Some(l), "{s:?}");
        }
    }
}

fuzz_target!(|b: &[u8]| {
    if let Ok(s) = std::str::from_utf8(b) {
        text(s);
    }
    let members: Vec<u32> = b
        .chunks_exact(4)
        .take(64)
        .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    // Ranges of up to 256 after each member, so runs and their ends occur.
    let set: CpuSet = members
        .iter()
        .flat_map(|&m| m..=m.saturating_add(m % 256))
        .collect();
    round_trip(&set, &members);
});
