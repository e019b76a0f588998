//! The list and number formats of cgroup files: `CpuSet` (`"0-3,7"`),
//! `CpuMax` (`"max 100000"`), `Device` (`"8:0"`) and `IoLimit::parse`
//! (`"8:0 1mb"`, `"8:0=300"`). Paths (`/dev/sda`) are skipped: they would
//! stat the fuzzer's own filesystem.
#![no_main]

use containment::cgroup::{CpuMax, CpuSet, Device, IoLimit, IoLimitKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    if let Ok(set) = s.parse::<CpuSet>() {
        // parse → display → parse is stable, and the display is canonical.
        let shown = set.to_string();
        let again: CpuSet = shown.parse().expect("canonical cpu list reparses");
        assert_eq!(again, set, "{s:?} -> {shown:?}");
        assert_eq!(again.to_string(), shown);
        assert_eq!(set.len(), set.iter().count());
        assert!(set.iter().all(|c| set.contains(c)));
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
});
