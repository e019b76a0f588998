//! Paths inside the container (mount targets, masked and read-only paths),
//! as the mount plan validates and splits them: absolute, no `..`, no NUL.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|b: &[u8]| {
    if let Ok((shown, rel, names)) = containment::fuzzing::container_path(b) {
        assert!(shown.starts_with('/') && !shown.ends_with('/'), "{shown:?}");
        assert!(!rel.starts_with(b"/") && !rel.contains(&0));
        assert!(!names.is_empty());
        for n in &names {
            assert!(
                !n.is_empty() && !n.contains(&b'/') && !n.contains(&0),
                "{n:?}"
            );
            assert!(n != b".." && n != b".", "{n:?}");
        }
        assert_eq!(rel, names.join(&b'/'));
    }
});
