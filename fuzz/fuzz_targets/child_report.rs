//! The `{step, index, errno}` report a failing child writes to the error
//! pipe (bytes from another process): `ChildFailure::from_bytes`, then the
//! parent's rendering of it (`describe`, `hint`, `ChildError`'s Display)
//! against plans with and without mounts, masked paths and a root.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|b: [u8; 12]| {
    if let Some(texts) = containment::fuzzing::child_report(&b) {
        assert!(texts
            .iter()
            .all(|t| t.starts_with("container setup failed at step")));
    }
    let _ = containment::error::errno_name(i32::from_ne_bytes([b[8], b[9], b[10], b[11]]));
});
