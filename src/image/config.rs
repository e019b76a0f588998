//! The container defaults an image config gives: Entrypoint + Cmd, Env,
//! WorkingDir, User, StopSignal.

use super::source::Image;
use super::store::UnpackedImage;
use super::{Error, Result};
use crate::{Command, Container};
use nix::sys::signal::Signal;
use std::path::PathBuf;
use std::str::FromStr;

/// Largest `/etc/passwd` or `/etc/group` read from an image: 4 MiB.
const MAX_DB: u64 = 4 << 20;

/// The image config's `User`, resolved in the image's `/etc/passwd` and
/// `/etc/group`. Ids are the container's (inside its user namespace).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImageUser {
    /// The `User` value as the config gives it (`name`, `uid`, `name:group`,
    /// `uid:gid` …).
    pub spec: String,
    /// The user id.
    pub uid: u32,
    /// The group id: the named group, else the user's primary group from
    /// `/etc/passwd`, else 0.
    pub gid: u32,
    /// The user's home directory from `/etc/passwd`, if the user is there.
    pub home: Option<String>,
}

/// What an image config gives a container by default (docker's rules:
/// the command's explicit settings win).
///
/// # References
/// - [OCI image config `config`](https://github.com/opencontainers/image-spec/blob/main/config.md#properties)
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ImageDefaults {
    /// `Entrypoint`.
    pub entrypoint: Vec<String>,
    /// `Cmd`: the entrypoint's arguments, or the program without one.
    pub cmd: Vec<String>,
    /// `Env`, in order (`KEY=VALUE` split at the first `=`).
    pub env: Vec<(String, String)>,
    /// `WorkingDir`, when set.
    pub working_dir: Option<PathBuf>,
    /// `User`, resolved; `None` when unset (root).
    pub user: Option<ImageUser>,
    /// `StopSignal` (`SIGTERM`, `TERM` or `15`), when set: what a runtime
    /// sends to stop the container (the caller's job; the container has no
    /// such setting).
    pub stop_signal: Option<Signal>,
}

impl ImageDefaults {
    /// The program and arguments: `Entrypoint` followed by `args` when
    /// `args` is not empty (docker's `run IMAGE args…` replaces `Cmd`),
    /// else by `Cmd`.
    pub fn argv<S: AsRef<str>>(&self, args: &[S]) -> Vec<String> {
        let mut v = self.entrypoint.clone();
        if args.is_empty() {
            v.extend(self.cmd.iter().cloned());
        } else {
            v.extend(args.iter().map(|s| s.as_ref().to_string()));
        }
        v
    }

    /// A [`Command`] of `container` running this image's program: `argv`
    /// of `args` (`Entrypoint` followed by `args`, or by `Cmd` when `args`
    /// is empty) with the other defaults [`apply`](Self::apply) sets.
    /// `None` when the image names no program and `args` is empty.
    pub fn command<S: AsRef<str>>(&self, container: &Container, args: &[S]) -> Option<Command> {
        let argv = self.argv(args);
        let (prog, rest) = argv.split_first()?;
        let mut cmd = container.command(prog);
        cmd.args(rest);
        self.apply(&mut cmd);
        Some(cmd)
    }

    /// Sets these defaults on `cmd`: each `Env` variable (and `HOME` from
    /// `/etc/passwd` when `Env` has none), `WorkingDir` and `User`'s uid and
    /// gid (the program is [`command`](Self::command)'s).
    ///
    /// Call it **before** your own settings: the command's setters replace
    /// (working directory, ids) or override (one variable), so what you set
    /// afterwards wins.
    pub fn apply<'b>(&self, cmd: &'b mut Command) -> &'b mut Command {
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        if let Some(u) = &self.user {
            if let Some(home) = &u.home {
                if !self.env.iter().any(|(k, _)| k == "HOME") {
                    cmd.env("HOME", home);
                }
            }
            cmd.uid(u.uid).gid(u.gid);
        } else if !self.env.iter().any(|(k, _)| k == "HOME") {
            cmd.env("HOME", "/root");
        }
        if let Some(d) = &self.working_dir {
            cmd.current_dir(d);
        }
        cmd
    }
}

impl Image {
    /// The container defaults of this image's config. `User` names are
    /// resolved in the unpacked image's `/etc/passwd` and `/etc/group`
    /// (read through the layers as the overlay shows them, inside each
    /// layer's root).
    ///
    /// # Errors
    /// [`Error::User`] for a name the image lacks or a malformed id,
    /// [`Error::Format`] for a bad `StopSignal`, [`Error::Io`] reading the
    /// layers.
    pub fn defaults(&self, layers: &UnpackedImage) -> Result<ImageDefaults> {
        let Some(c) = self.config().config() else {
            return Ok(ImageDefaults::default());
        };
        let env = c
            .env()
            .iter()
            .flatten()
            .map(|kv| match kv.split_once('=') {
                Some((k, v)) => (k.to_string(), v.to_string()),
                None => (kv.clone(), String::new()),
            })
            .collect();
        let user = match c.user().as_deref() {
            None | Some("") => None,
            Some(spec) => Some(resolve_user(spec, |p| layers.read_file(p, MAX_DB))?),
        };
        let stop_signal = c.stop_signal().as_deref().map(parse_signal).transpose()?;
        Ok(ImageDefaults {
            entrypoint: c.entrypoint().clone().unwrap_or_default(),
            cmd: c.cmd().clone().unwrap_or_default(),
            env,
            working_dir: c
                .working_dir()
                .as_deref()
                .filter(|d| !d.is_empty())
                .map(PathBuf::from),
            user,
            stop_signal,
        })
    }
}

/// `SIGTERM`, `TERM`, `sigterm` or `15`.
pub(crate) fn parse_signal(s: &str) -> Result<Signal> {
    let bad = || Error::format("StopSignal", format!("{s:?} is not a signal"));
    if let Ok(n) = s.parse::<i32>() {
        return Signal::try_from(n).map_err(|_| bad());
    }
    let up = s.to_ascii_uppercase();
    let name = if up.starts_with("SIG") {
        up
    } else {
        format!("SIG{up}")
    };
    Signal::from_str(&name).map_err(|_| bad())
}

/// Resolves a docker `User` value with `read` giving a file of the image.
pub(crate) fn resolve_user(
    spec: &str,
    read: impl Fn(&str) -> Result<Option<Vec<u8>>>,
) -> Result<ImageUser> {
    let err = |reason: String| Error::User {
        user: spec.to_string(),
        reason,
    };
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let passwd = read("/etc/passwd")?.unwrap_or_default();
    let passwd = String::from_utf8_lossy(&passwd);
    // name:x:uid:gid:gecos:home:shell
    let entries: Vec<Vec<&str>> = passwd
        .lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .filter(|f| f.len() >= 4)
        .collect();
    let (uid, entry) = match u.parse::<u32>() {
        Ok(uid) => (uid, entries.iter().find(|f| f[2].parse() == Ok(uid))),
        Err(_) => {
            let e = entries
                .iter()
                .find(|f| f[0] == u)
                .ok_or_else(|| err(format!("no user {u:?} in the image's /etc/passwd")))?;
            let uid = e[2]
                .parse()
                .map_err(|_| err(format!("/etc/passwd: bad uid {:?}", e[2])))?;
            (uid, Some(e))
        }
    };
    let gid = match g {
        Some(g) => match g.parse::<u32>() {
            Ok(gid) => gid,
            Err(_) => {
                let group = read("/etc/group")?.unwrap_or_default();
                let group = String::from_utf8_lossy(&group);
                group
                    .lines()
                    .map(|l| l.split(':').collect::<Vec<_>>())
                    .find(|f| f.len() >= 3 && f[0] == g)
                    .and_then(|f| f[2].parse().ok())
                    .ok_or_else(|| err(format!("no group {g:?} in the image's /etc/group")))?
            }
        },
        None => entry.and_then(|e| e[3].parse().ok()).unwrap_or(0),
    };
    Ok(ImageUser {
        spec: spec.to_string(),
        uid,
        gid,
        home: entry.and_then(|e| e.get(5)).map(|h| h.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(p: &str) -> Result<Option<Vec<u8>>> {
        Ok(match p {
            "/etc/passwd" => {
                Some(b"root:x:0:0:root:/root:/bin/sh\nweb:x:33:44::/srv:/bin/false\n".to_vec())
            }
            "/etc/group" => Some(b"root:x:0:\nstaff:x:50:web\n".to_vec()),
            _ => None,
        })
    }

    #[test]
    fn users_resolve_like_docker() {
        let u = resolve_user("web", files).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_deref()), (33, 44, Some("/srv")));
        let u = resolve_user("web:staff", files).unwrap();
        assert_eq!((u.uid, u.gid), (33, 50));
        let u = resolve_user("1000", files).unwrap();
        assert_eq!((u.uid, u.gid, u.home), (1000, 0, None));
        let u = resolve_user("33:7", files).unwrap();
        assert_eq!((u.uid, u.gid), (33, 7));
        assert!(matches!(
            resolve_user("nobody", files),
            Err(Error::User { .. })
        ));
        assert!(matches!(
            resolve_user("web:nogroup", files),
            Err(Error::User { .. })
        ));
    }

    #[test]
    fn signals_parse() {
        assert_eq!(parse_signal("SIGQUIT").unwrap(), Signal::SIGQUIT);
        assert_eq!(parse_signal("term").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert!(parse_signal("SIGNOPE").is_err());
    }
}
