//! User namespace id maps.

use super::Error;

/// One line of a `uid_map` or `gid_map`: ids `inside..inside+count` in the
/// namespace are ids `outside..outside+count` in the parent namespace.
///
/// # References
/// - [`user_namespaces(7)`](https://man7.org/linux/man-pages/man7/user_namespaces.7.html), "User and group ID mappings"
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdMap {
    /// First id inside the namespace.
    pub inside: u32,
    /// First id in the parent namespace.
    pub outside: u32,
    /// Number of ids in the range (at least 1).
    pub count: u32,
}

impl IdMap {
    /// A map of `count` ids starting at `inside` (in the namespace) and
    /// `outside` (in the parent).
    pub const fn new(inside: u32, outside: u32, count: u32) -> IdMap {
        IdMap {
            inside,
            outside,
            count,
        }
    }

    /// Maps a single id: `outside` in the parent appears as `inside`.
    pub const fn single(inside: u32, outside: u32) -> IdMap {
        IdMap::new(inside, outside, 1)
    }

    /// Parses one line as the kernel prints it (`"0 1000 1"`).
    ///
    /// # Errors
    ///
    /// [`Error::Parse`] unless the line is three unsigned integers.
    pub fn parse_line(line: &str) -> Result<IdMap, Error> {
        let bad = |reason: &str| Error::Parse {
            what: "id map line",
            input: line.to_string(),
            reason: reason.into(),
        };
        let mut it = line.split_ascii_whitespace();
        let mut next = |name: &str| -> Result<u32, Error> {
            it.next()
                .ok_or_else(|| bad(&format!("missing {name}")))?
                .parse::<u32>()
                .map_err(|e| bad(&format!("{name}: {e}")))
        };
        let m = IdMap::new(next("inside")?, next("outside")?, next("count")?);
        if it.next().is_some() {
            return Err(bad("more than three fields"));
        }
        Ok(m)
    }
}

/// Largest number of lines the kernel accepts in a map (Linux 4.15+).
pub(crate) const MAX_LINES: usize = 340;

/// Checks a set of maps against the kernel's rules; returns the reason on
/// failure.
pub(crate) fn validate_id_maps(maps: &[IdMap]) -> Result<(), String> {
    if maps.is_empty() {
        return Err("an id map needs at least one range".into());
    }
    if maps.len() > MAX_LINES {
        return Err(format!(
            "{} ranges; the kernel accepts at most {MAX_LINES}",
            maps.len()
        ));
    }
    for m in maps {
        if m.count == 0 {
            return Err(format!("range {m:?} is empty (count 0)"));
        }
        for (start, what) in [(m.inside, "inside"), (m.outside, "outside")] {
            // The last id of the range must not exceed u32::MAX - 1 (-1 is invalid).
            if (start as u64) + (m.count as u64) > u32::MAX as u64 {
                return Err(format!(
                    "range {m:?} overflows: {what} + count exceeds 4294967295"
                ));
            }
        }
    }
    for (i, a) in maps.iter().enumerate() {
        for b in &maps[i + 1..] {
            let overlap = |x: u32, y: u32| {
                let (x, y) = (x as u64, y as u64);
                x < y + b.count as u64 && y < x + a.count as u64
            };
            if overlap(a.inside, b.inside) {
                return Err(format!(
                    "ranges {a:?} and {b:?} overlap inside the namespace"
                ));
            }
            if overlap(a.outside, b.outside) {
                return Err(format!(
                    "ranges {a:?} and {b:?} overlap outside the namespace"
                ));
            }
        }
    }
    Ok(())
}

/// The bytes written to `uid_map`/`gid_map` (one write, as the kernel requires).
pub(crate) fn format_id_map(maps: &[IdMap]) -> Vec<u8> {
    let mut s = String::new();
    for m in maps {
        s.push_str(&format!("{} {} {}\n", m.inside, m.outside, m.count));
    }
    s.into_bytes()
}

/// Reads `/proc/<pid>/uid_map` (`gid = false`) or `gid_map`.
///
/// # Errors
///
/// [`Error::Open`] when the file cannot be read (no such process);
/// [`Error::Parse`] for a line that is not a map.
pub fn read_id_map(pid: i32, gid: bool) -> Result<Vec<IdMap>, Error> {
    let path = format!("/proc/{pid}/{}", if gid { "gid_map" } else { "uid_map" });
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Open {
        path: path.into(),
        source,
    })?;
    parse_id_map(&text)
}

/// Parses the text of a `uid_map`/`gid_map` file.
pub fn parse_id_map(text: &str) -> Result<Vec<IdMap>, Error> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(IdMap::parse_line)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert!(validate_id_maps(&[]).is_err());
        assert!(validate_id_maps(&[IdMap::new(0, 1000, 0)]).is_err());
        assert!(validate_id_maps(&[IdMap::new(0, 100000, 65536)]).is_ok());
        // Overlap inside.
        let e = validate_id_maps(&[IdMap::new(0, 1000, 10), IdMap::new(5, 5000, 10)]).unwrap_err();
        assert!(e.contains("inside"), "{e}");
        // Overlap outside.
        let e =
            validate_id_maps(&[IdMap::new(0, 1000, 10), IdMap::new(100, 1009, 10)]).unwrap_err();
        assert!(e.contains("outside"), "{e}");
        // Adjacent is fine.
        assert!(validate_id_maps(&[IdMap::new(0, 1000, 10), IdMap::new(10, 1010, 10)]).is_ok());
        assert!(validate_id_maps(&[IdMap::new(u32::MAX, 0, 1)]).is_err());
    }

    #[test]
    fn format_and_parse() {
        let maps = [IdMap::new(0, 1000, 1), IdMap::new(1, 100000, 65536)];
        let bytes = format_id_map(&maps);
        assert_eq!(bytes, b"0 1000 1\n1 100000 65536\n");
        let text = "         0       1000          1\n         1     100000      65536\n";
        assert_eq!(parse_id_map(text).unwrap(), maps);
        assert!(IdMap::parse_line("0 1").is_err());
        assert!(IdMap::parse_line("0 1 2 3").is_err());
        assert!(IdMap::parse_line("a 1 2").is_err());
    }
}
