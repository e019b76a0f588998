//! Time namespace offsets.

/// Offsets of the `CLOCK_MONOTONIC` and `CLOCK_BOOTTIME` clocks in a new time
/// namespace, written to `/proc/self/timens_offsets` before the first process
/// runs in it.
///
/// # References
/// - [`time_namespaces(7)`](https://man7.org/linux/man-pages/man7/time_namespaces.7.html)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TimeOffsets {
    /// Offset of `CLOCK_MONOTONIC`: (seconds, nanoseconds 0..1e9).
    pub monotonic: (i64, u32),
    /// Offset of `CLOCK_BOOTTIME` (what `uptime` shows): (seconds, nanoseconds).
    pub boottime: (i64, u32),
}

impl TimeOffsets {
    /// No offsets.
    pub const fn new() -> TimeOffsets {
        TimeOffsets {
            monotonic: (0, 0),
            boottime: (0, 0),
        }
    }

    /// Sets the monotonic clock's offset in whole seconds (may be negative).
    pub const fn monotonic_secs(mut self, secs: i64) -> TimeOffsets {
        self.monotonic = (secs, 0);
        self
    }

    /// Sets the boot-time clock's offset in whole seconds (may be negative).
    pub const fn boottime_secs(mut self, secs: i64) -> TimeOffsets {
        self.boottime = (secs, 0);
        self
    }

    /// Sets the monotonic clock's offset as a [`std::time::Duration`] forward.
    ///
    /// A duration beyond `i64::MAX` seconds saturates there (it never wraps
    /// into a negative offset), and the spawn then refuses it: the kernel
    /// takes at most `KTIME_SEC_MAX / 2` seconds (about 146 years).
    pub fn monotonic(mut self, d: std::time::Duration) -> TimeOffsets {
        self.monotonic = forward(d);
        self
    }

    /// Sets the boot-time clock's offset as a [`std::time::Duration`]
    /// forward (saturating as [`monotonic`](Self::monotonic) does).
    pub fn boottime(mut self, d: std::time::Duration) -> TimeOffsets {
        self.boottime = forward(d);
        self
    }

    /// The text written to `timens_offsets` (one write, both lines).
    pub(crate) fn to_bytes(self) -> Vec<u8> {
        format!(
            "monotonic {} {}\nboottime {} {}\n",
            self.monotonic.0, self.monotonic.1, self.boottime.0, self.boottime.1
        )
        .into_bytes()
    }
}

/// A forward offset: seconds saturated at `i64::MAX` (refused later by
/// [`validate_offsets`]), never wrapped.
fn forward(d: std::time::Duration) -> (i64, u32) {
    (
        i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        d.subsec_nanos(),
    )
}

fn clock_secs(clock: libc::clockid_t) -> i64 {
    // SAFETY: ts is a valid out-pointer.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: valid clock id and out-pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec
}

/// Checks offsets the way the kernel will: nanoseconds below 1e9, and the
/// clock not moved below zero or past half of `KTIME_SEC_MAX`.
pub(crate) fn validate_offsets(o: &TimeOffsets) -> Result<(), String> {
    const KTIME_SEC_MAX: i64 = i64::MAX / 1_000_000_000;
    for (name, (secs, nanos), clock) in [
        ("monotonic", o.monotonic, libc::CLOCK_MONOTONIC),
        ("boottime", o.boottime, libc::CLOCK_BOOTTIME),
    ] {
        if nanos >= 1_000_000_000 {
            return Err(format!(
                "{name} nanoseconds {nanos} must be below 1000000000"
            ));
        }
        let now = clock_secs(clock);
        if now.saturating_add(secs) < 0 {
            return Err(format!(
                "{name} offset {secs}s would move the clock below zero (it reads {now}s now)"
            ));
        }
        if secs > KTIME_SEC_MAX / 2 {
            return Err(format!("{name} offset {secs}s exceeds KTIME_SEC_MAX/2"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_and_validation() {
        let o = TimeOffsets::new().boottime_secs(86400).monotonic_secs(-1);
        assert_eq!(o.to_bytes(), b"monotonic -1 0\nboottime 86400 0\n");
        assert!(validate_offsets(&o).is_ok());
        assert!(validate_offsets(&TimeOffsets::new().boottime_secs(-(1 << 40))).is_err());
        let bad = TimeOffsets {
            monotonic: (0, 1_000_000_000),
            boottime: (0, 0),
        };
        assert!(validate_offsets(&bad).is_err());
        // u64 seconds beyond i64 saturate (not wrap to -1) and are refused.
        let huge = TimeOffsets::new().monotonic(std::time::Duration::from_secs(u64::MAX));
        assert_eq!(huge.monotonic.0, i64::MAX);
        assert!(validate_offsets(&huge).is_err());
        let huge = TimeOffsets::new().boottime(std::time::Duration::from_secs(1 << 63));
        assert_eq!(huge.boottime.0, i64::MAX);
        assert!(validate_offsets(&huge).is_err());
    }
}
