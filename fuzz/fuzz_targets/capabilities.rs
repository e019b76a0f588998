//! Capability names (`"CAP_NET_ADMIN"`, `"net_admin"`): `Capability::parse`.
#![no_main]

use containment::Capability;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|s: &str| {
    if let Some(c) = Capability::parse(s) {
        assert_eq!(Capability::parse(c.name()), Some(c));
        assert_eq!(Capability::from_number(c.number()), Some(c));
        let short = c.name().trim_start_matches("CAP_").to_ascii_lowercase();
        assert_eq!(Capability::parse(&short), Some(c));
    }
});
