//! UTS namespace names.

/// Longest host or domain name the kernel accepts (`__NEW_UTS_LEN`).
pub(crate) const MAX_UTS_LEN: usize = 64;

/// Checks a hostname or domain name: at most 64 bytes, no NUL.
pub(crate) fn validate_uts_name(name: &str) -> Result<(), String> {
    if name.len() > MAX_UTS_LEN {
        return Err(format!(
            "{} bytes; the kernel accepts at most {MAX_UTS_LEN}",
            name.len()
        ));
    }
    if name.as_bytes().contains(&0) {
        return Err("contains a NUL byte".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn limits() {
        assert!(super::validate_uts_name(&"a".repeat(64)).is_ok());
        assert!(super::validate_uts_name(&"a".repeat(65)).is_err());
        assert!(super::validate_uts_name("a\0b").is_err());
    }
}
