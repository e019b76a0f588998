//! Subordinate id ranges (`/etc/subuid`, `/etc/subgid`): the ids an
//! unprivileged user may map into its user namespaces through the setuid
//! helpers `newuidmap(1)` and `newgidmap(1)` (Debian's `uidmap` package).

use super::{Error, IdMap};
use std::path::{Path, PathBuf};

/// The file of subordinate uids.
pub const SUBUID_FILE: &str = "/etc/subuid";
/// The file of subordinate gids.
pub const SUBGID_FILE: &str = "/etc/subgid";

/// One line of `/etc/subuid` or `/etc/subgid` that belongs to a user: ids
/// `start..start+count` (in the parent namespace) are the user's to map.
///
/// # References
/// - [`subuid(5)`](https://man7.org/linux/man-pages/man5/subuid.5.html)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SubIdRange {
    /// First subordinate id.
    pub start: u32,
    /// Number of ids.
    pub count: u32,
}

/// Parses the text of a subordinate id file and returns the ranges of the
/// user named `name` or numbered `id` (the file may name a user either
/// way), in file order. Comments (`#`) and blank lines are skipped.
///
/// # Errors
/// [`Error::Parse`] for a line of that user that is not `owner:start:count`
/// with numbers, an empty range, or one past `u32::MAX`. Lines of other
/// users are not checked (shadow's tools skip them too).
pub fn parse_subids(text: &str, name: &str, id: u32) -> Result<Vec<SubIdRange>, Error> {
    let id_text = id.to_string();
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut it = line.split(':');
        let owner = it.next().unwrap_or("");
        if owner != name && owner != id_text {
            continue;
        }
        let bad = |reason: &str| Error::Parse {
            what: "subordinate id line",
            input: line.to_string(),
            reason: reason.to_string(),
        };
        let mut num = |field: &str| -> Result<u32, Error> {
            it.next()
                .ok_or_else(|| bad(&format!("missing {field}")))?
                .trim()
                .parse::<u32>()
                .map_err(|e| bad(&format!("{field}: {e}")))
        };
        let (start, count) = (num("start")?, num("count")?);
        if it.next().is_some() {
            return Err(bad("more than three fields"));
        }
        if count == 0 {
            return Err(bad("empty range (count 0)"));
        }
        if start as u64 + count as u64 > u32::MAX as u64 {
            return Err(bad("the range passes 4294967294"));
        }
        out.push(SubIdRange { start, count });
    }
    Ok(out)
}

/// Reads the ranges of user `name` (or numbered `id`) from a subordinate id
/// file (see [`parse_subids`]). A missing file reads as no ranges.
///
/// # Errors
/// [`Error::Open`] when the file exists but cannot be read; [`Error::Parse`]
/// as [`parse_subids`].
pub fn read_subids(path: &Path, name: &str, id: u32) -> Result<Vec<SubIdRange>, Error> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_subids(&text, name, id),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(Error::Open {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Builds the map "root inside = `own`, ids `1..=count` inside = the first
/// `count` subordinate ids": the ranges are used in order, split across
/// lines when the user has several. Ranges that contain `own` are refused
/// by the kernel (overlap), so they are skipped.
///
/// # Errors
/// [`Error::SubIdsTooSmall`] when the ranges hold fewer than `count` ids
/// ([`Error::NoSubIds`] when there are none); `file` and `user` name them.
pub fn rootless_map(
    own: u32,
    ranges: &[SubIdRange],
    count: u32,
    file: &Path,
    user: &str,
) -> Result<Vec<IdMap>, Error> {
    let mut maps = vec![IdMap::single(0, own)];
    let mut need = count;
    let mut inside: u32 = 1;
    for r in ranges {
        if need == 0 {
            break;
        }
        if (r.start..r.start.saturating_add(r.count)).contains(&own) {
            continue;
        }
        let take = r.count.min(need);
        maps.push(IdMap::new(inside, r.start, take));
        inside += take;
        need -= take;
    }
    if ranges.is_empty() {
        return Err(Error::NoSubIds {
            file: file.to_owned(),
            user: user.to_string(),
        });
    }
    if need > 0 {
        return Err(Error::SubIdsTooSmall {
            file: file.to_owned(),
            user: user.to_string(),
            available: count - need,
            needed: count,
        });
    }
    Ok(maps)
}

/// The uid and gid maps of a rootless container for the calling user, as
/// podman builds them: the caller's effective uid (gid) is root inside, and
/// ids `1..=count` inside are the first `count` ids of its ranges in
/// `/etc/subuid` (`/etc/subgid`). The caller's user name is looked up in
/// the passwd database (`getpwuid_r(3)`); the files may name it or its uid.
///
/// Spawn with these maps through [`Container::uid_map`] and
/// [`gid_map`]; an unprivileged caller's maps are then written by
/// `newuidmap`/`newgidmap` (see [`IdMapWriter`]). `count = 65536` gives the
/// usual ids of an image (0..=65536).
///
/// [`Container::uid_map`]: crate::Container::uid_map
/// [`gid_map`]: crate::Container::gid_map
/// [`IdMapWriter`]: crate::container::IdMapWriter
///
/// # Errors
/// [`Error::NoSubIds`] / [`Error::SubIdsTooSmall`] naming the file and the
/// user; [`Error::Io`] when the caller's uid has no passwd entry;
/// [`Error::Open`] or [`Error::Parse`] for an unreadable or malformed line.
pub fn rootless_maps(count: u32) -> Result<(Vec<IdMap>, Vec<IdMap>), Error> {
    // SAFETY: geteuid/getegid have no preconditions.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let name = user_name(uid)?;
    let (uf, gf) = (PathBuf::from(SUBUID_FILE), PathBuf::from(SUBGID_FILE));
    // Both files are keyed by the user (name or uid), not by the group.
    let u = rootless_map(uid, &read_subids(&uf, &name, uid)?, count, &uf, &name)?;
    let g = rootless_map(gid, &read_subids(&gf, &name, uid)?, count, &gf, &name)?;
    Ok((u, g))
}

/// The login name of `uid` (`getpwuid_r(3)`).
pub(crate) fn user_name(uid: u32) -> Result<String, Error> {
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: a zeroed passwd is a valid out-parameter.
        let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
        let mut res: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call; buf's length is given.
        let r =
            unsafe { libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut res) };
        if r == libc::ERANGE && buf.len() < 1 << 20 {
            buf.resize(buf.len() * 2, 0);
            continue;
        }
        if r != 0 || res.is_null() {
            return Err(Error::Io {
                op: "looking up the caller's user name (getpwuid_r)",
                source: if r != 0 {
                    std::io::Error::from_raw_os_error(r)
                } else {
                    std::io::Error::new(std::io::ErrorKind::NotFound, format!("no user {uid}"))
                },
            });
        }
        // SAFETY: on success pw_name points to a NUL-terminated string in buf.
        let name = unsafe { std::ffi::CStr::from_ptr(pw.pw_name) };
        return Ok(name.to_string_lossy().into_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "# comment\n\
        alice:100000:65536\n\
        bob:165536:65536\n\
        \n\
        1001:231072:1000\n\
        alice:300000:10\n";

    #[test]
    fn parse_by_name_and_uid() {
        let a = parse_subids(TEXT, "alice", 1000).unwrap();
        assert_eq!(
            a,
            [
                SubIdRange {
                    start: 100000,
                    count: 65536
                },
                SubIdRange {
                    start: 300000,
                    count: 10
                }
            ]
        );
        // Named by its uid.
        let c = parse_subids(TEXT, "carol", 1001).unwrap();
        assert_eq!(
            c,
            [SubIdRange {
                start: 231072,
                count: 1000
            }]
        );
        assert!(parse_subids(TEXT, "dave", 1002).unwrap().is_empty());
        // A prefix of a name is not the name.
        assert!(parse_subids(TEXT, "ali", 7).unwrap().is_empty());
    }

    #[test]
    fn parse_errors() {
        for bad in [
            "alice:1",
            "alice:x:1",
            "alice:1:0",
            "alice:1:2:3",
            "alice:4294967295:1",
            "alice:-1:5",
        ] {
            assert!(parse_subids(bad, "alice", 1).is_err(), "{bad}");
        }
        // Other users' malformed lines do not matter.
        assert!(parse_subids("bob:x\nalice:1:2", "alice", 1).is_ok());
    }

    #[test]
    fn read_temp_files() {
        let dir = std::env::temp_dir().join(format!("ctm-subid-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("subuid");
        std::fs::write(&f, TEXT).unwrap();
        let r = read_subids(&f, "bob", 5);
        let missing = read_subids(&dir.join("absent"), "bob", 5);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            r.unwrap(),
            [SubIdRange {
                start: 165536,
                count: 65536
            }]
        );
        assert!(missing.unwrap().is_empty());
    }

    #[test]
    fn maps_from_ranges() {
        let f = Path::new("/etc/subuid");
        let ranges = parse_subids(TEXT, "alice", 1000).unwrap();
        let m = rootless_map(1000, &ranges, 65536, f, "alice").unwrap();
        assert_eq!(m, [IdMap::single(0, 1000), IdMap::new(1, 100000, 65536)]);
        // Split across two ranges.
        let m = rootless_map(1000, &ranges, 65540, f, "alice").unwrap();
        assert_eq!(
            m,
            [
                IdMap::single(0, 1000),
                IdMap::new(1, 100000, 65536),
                IdMap::new(65537, 300000, 4)
            ]
        );
        assert!(crate::namespace::validate_id_maps(&m).is_ok());
        match rootless_map(1000, &ranges, 70000, f, "alice") {
            Err(Error::SubIdsTooSmall {
                available, needed, ..
            }) => assert_eq!((available, needed), (65546, 70000)),
            other => panic!("{other:?}"),
        }
        match rootless_map(1000, &[], 1, f, "dave") {
            Err(Error::NoSubIds { user, .. }) => assert_eq!(user, "dave"),
            other => panic!("{other:?}"),
        }
        // A range holding the caller's own id is skipped (it would overlap).
        let own = [SubIdRange {
            start: 900,
            count: 200,
        }];
        assert!(matches!(
            rootless_map(1000, &own, 1, f, "x"),
            Err(Error::SubIdsTooSmall { .. })
        ));
    }
}
