//! OCI hooks: a program run with the state JSON on its stdin, killed at its
//! timeout.

use crate::error::{Error, Result};
use containment::{Container, Namespaces, Stdio};
use oci_spec::runtime::Hook;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

/// Where a hook runs.
#[derive(Debug, Clone, Copy)]
pub enum Place {
    /// In the runtime's namespaces (createRuntime, createContainer,
    /// prestart, poststart, poststop).
    Runtime,
    /// In the namespaces of the container's process (startContainer).
    Container(i32),
}

fn wait_timeout(
    mut try_wait: impl FnMut() -> std::io::Result<Option<std::process::ExitStatus>>,
    mut kill: impl FnMut(),
    timeout: Option<Duration>,
) -> std::io::Result<Option<std::process::ExitStatus>> {
    let start = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(st) = try_wait()? {
            return Ok(Some(st));
        }
        if timeout.is_some_and(|t| start.elapsed() >= t) {
            kill();
            return Ok(None);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Runs one hook; an error names the hook kind, index and path.
pub fn run(kind: &str, i: usize, hook: &Hook, state: &[u8], place: Place) -> Result<()> {
    let what = format!("{kind} hook [{i}] {}", hook.path().display());
    let timeout = match hook.timeout() {
        Some(t) if t <= 0 => {
            return Err(Error::msg(format!(
                "{what}: timeout must be positive, got {t}"
            )))
        }
        Some(t) => Some(Duration::from_secs(t as u64)),
        None => None,
    };
    let args = hook.args().clone().unwrap_or_default();
    let env: Vec<(String, String)> = hook
        .env()
        .iter()
        .flatten()
        .filter_map(|kv| kv.split_once('=').map(|(k, v)| (k.into(), v.into())))
        .collect();
    let status = match place {
        Place::Runtime => {
            let mut cmd = std::process::Command::new(hook.path());
            if let Some(a0) = args.first() {
                cmd.arg0(a0);
            }
            cmd.args(args.iter().skip(1))
                .env_clear()
                .envs(env)
                .stdin(std::process::Stdio::piped());
            let mut child = cmd.spawn().map_err(|e| Error::io(&what, e))?;
            if let Some(mut stdin) = child.stdin.take() {
                // A hook that does not read its stdin is not an error.
                let _ = stdin.write_all(state);
            }
            let pid = child.id() as i32;
            let st = wait_timeout(
                || child.try_wait(),
                // SAFETY: kill of our own unreaped child.
                || unsafe {
                    libc::kill(pid, libc::SIGKILL);
                },
                timeout,
            )
            .map_err(|e| Error::io(&what, e))?;
            if st.is_none() {
                let _ = child.wait();
            }
            st
        }
        Place::Container(pid) => {
            let pid = u32::try_from(pid).map_err(|_| Error::msg("a negative pid"))?;
            let mut b = Container::new()
                .join_pid(pid, Namespaces::all())
                .command(hook.path());
            b.args(args.iter().skip(1))
                .env_clear()
                .envs(env)
                .stdin(Stdio::Piped);
            let mut child = b.spawn()?;
            if let Some(mut stdin) = child.stdin.take() {
                let _ = stdin.write_all(state);
            }
            let mut killed = false;
            let st = {
                let c = std::cell::RefCell::new(&mut child);
                wait_timeout(
                    || c.borrow_mut().try_wait(),
                    || {
                        killed = true;
                        let _ = c.borrow_mut().kill();
                    },
                    timeout,
                )
            }
            .map_err(|e| Error::io(&what, e))?;
            if killed {
                let _ = child.wait();
            }
            st
        }
    };
    match status {
        None => Err(Error::msg(format!(
            "{what}: timed out after {}s",
            timeout.map_or(0, |t| t.as_secs())
        ))),
        Some(st) if st.success() => Ok(()),
        Some(st) => Err(Error::msg(format!("{what}: {st}"))),
    }
}

/// Runs every hook of a list in order, stopping at the first failure.
pub fn run_all(kind: &str, hooks: &Option<Vec<Hook>>, state: &[u8], place: Place) -> Result<()> {
    for (i, h) in hooks.iter().flatten().enumerate() {
        run(kind, i, h, state, place)?;
    }
    Ok(())
}
