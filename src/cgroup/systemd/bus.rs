//! The D-Bus side of the systemd driver (zbus, blocking).

use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures_lite::StreamExt;
use zbus::blocking::{Connection, MessageIterator};
use zbus::message::Type;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};
use zbus::MatchRule;

use super::{Manager, PropValue, SystemdFailure, SystemdOptions};
use crate::cgroup::Error;

const DEST: &str = "org.freedesktop.systemd1";
const PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";

fn err(unit: &str, method: &'static str, failure: SystemdFailure) -> Error {
    Error::Systemd {
        unit: unit.to_string(),
        method,
        failure,
    }
}

fn bus_err(unit: &str, method: &'static str, e: zbus::Error) -> Error {
    let failure = match e {
        zbus::Error::MethodError(name, message, _) => SystemdFailure::Bus {
            name: name.to_string(),
            message: message.unwrap_or_default(),
        },
        zbus::Error::InputOutput(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            SystemdFailure::Timeout(0)
        }
        zbus::Error::InputOutput(e) => SystemdFailure::Connect(e.to_string()),
        zbus::Error::Handshake(m) | zbus::Error::Address(m) => SystemdFailure::Connect(m),
        e => SystemdFailure::Protocol(e.to_string()),
    };
    err(unit, method, failure)
}

/// A process systemd can put in the new scope until the container's child
/// is there (a scope cannot start empty). It closes every descriptor,
/// becomes non-dumpable, dies with its parent and sleeps.
///
/// Made with `clone3(CLONE_PIDFD)` and exit signal 0: killed and reaped
/// through its pidfd (never a pid that may have been reused), and a
/// caller's own `waitpid(-1)` (a SIGCHLD reaper) does not take it (a child
/// with no exit signal is waited for only with `__WALL`/`__WCLONE`).
#[derive(Debug)]
struct Placeholder {
    pid: libc::pid_t,
    pidfd: std::os::fd::OwnedFd,
}

impl Placeholder {
    fn spawn() -> std::io::Result<Placeholder> {
        use std::os::fd::FromRawFd;
        let parent = std::process::id() as libc::pid_t;
        let mut pidfd: libc::c_int = -1;
        let mut args = crate::sys::CloneArgs {
            flags: crate::sys::CloneFlags::PIDFD.bits(),
            pidfd: &mut pidfd as *mut libc::c_int as u64,
            exit_signal: 0,
            ..Default::default()
        };
        // SAFETY: fork-like (no stack given); the child runs only
        // async-signal-safe calls (prctl, getppid, close_range, pause,
        // _exit) and never returns into Rust code.
        let pid = unsafe { crate::sys::clone3(&mut args)? };
        if pid == 0 {
            // SAFETY: plain syscalls on no memory of ours.
            unsafe {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
                if libc::getppid() != parent {
                    libc::_exit(0);
                }
                libc::prctl(libc::PR_SET_DUMPABLE, 0 as libc::c_ulong);
                libc::syscall(libc::SYS_close_range, 0u32, u32::MAX, 0u32);
                loop {
                    libc::pause();
                }
            }
        }
        // SAFETY: CLONE_PIDFD stored a descriptor that is ours alone.
        let pidfd = unsafe { std::os::fd::OwnedFd::from_raw_fd(pidfd) };
        Ok(Placeholder { pid, pidfd })
    }
}

impl Drop for Placeholder {
    fn drop(&mut self) {
        use std::os::fd::AsFd;
        let _ = crate::sys::pidfd_send_signal(self.pidfd.as_fd(), libc::SIGKILL);
        // SAFETY: siginfo_t is plain data; waitid reaps exactly the process
        // of our pidfd (`__WALL`: it has no exit signal).
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            while libc::waitid(
                libc::P_PIDFD,
                std::os::fd::AsRawFd::as_raw_fd(&self.pidfd) as libc::id_t,
                &mut info,
                libc::WEXITED | libc::__WALL,
            ) < 0
                && std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR)
            {}
        }
    }
}

/// A transient scope made by a systemd manager, held for stopping.
#[derive(Debug)]
pub(crate) struct Scope {
    conn: Connection,
    /// Whether `conn` is a bus (messages name `org.freedesktop.systemd1`)
    /// or a private peer-to-peer socket.
    bus: bool,
    unit: String,
    timeout: Duration,
    placeholder: Mutex<Option<Placeholder>>,
}

/// Connects to the manager; every method call then fails after `timeout`
/// without an answer.
fn connect(manager: &Manager, timeout: Duration) -> zbus::Result<(Connection, bool)> {
    use zbus::blocking::connection::Builder;
    match manager {
        Manager::System => Ok((Builder::system()?.method_timeout(timeout).build()?, true)),
        Manager::User => Ok((Builder::session()?.method_timeout(timeout).build()?, true)),
        Manager::Private(path) => {
            let s = UnixStream::connect(path).map_err(|e| {
                zbus::Error::InputOutput(
                    std::io::Error::new(e.kind(), format!("{}: {e}", path.display())).into(),
                )
            })?;
            Ok((
                Builder::async_io_unix_stream(s)
                    .p2p()
                    .method_timeout(timeout)
                    .build()?,
                false,
            ))
        }
    }
}

fn to_value(v: &PropValue) -> Value<'_> {
    match v {
        PropValue::Str(s) => Value::from(s.as_str()),
        PropValue::Bool(b) => Value::from(*b),
        PropValue::U64(n) => Value::from(*n),
        PropValue::Pids(p) => Value::from(p.clone()),
        PropValue::Bytes(b) => Value::from(b.clone()),
        PropValue::Devices(d) => Value::from(d.clone()),
    }
}

impl Scope {
    /// Starts `unit` in `slice` with these properties (the placeholder's
    /// pid and the fixed ones are added) and waits for its job; returns the
    /// scope and its `ControlGroup` (as the manager names it, from the root
    /// of the cgroup2 hierarchy).
    pub(crate) fn start(
        opts: &SystemdOptions,
        slice: &str,
        unit: &str,
        limits: &[(&'static str, PropValue)],
        timeout: Duration,
    ) -> Result<(Scope, PathBuf), Error> {
        let (conn, bus) = connect(&opts.manager, timeout)
            .map_err(|e| bus_err(unit, "connecting to the manager", e))?;
        let placeholder = Placeholder::spawn().map_err(|e| {
            err(
                unit,
                "StartTransientUnit",
                SystemdFailure::Connect(format!("fork of the placeholder process: {e}")),
            )
        })?;
        let mut props: Vec<(&str, PropValue)> = vec![
            (
                "Description",
                PropValue::Str(format!("containment container {unit}")),
            ),
            ("Slice", PropValue::Str(slice.to_string())),
            ("Delegate", PropValue::Bool(true)),
            ("PIDs", PropValue::Pids(vec![placeholder.pid as u32])),
            ("DefaultDependencies", PropValue::Bool(false)),
            (
                "CollectMode",
                PropValue::Str("inactive-or-failed".to_string()),
            ),
        ];
        props.extend(limits.iter().cloned());
        let scope = Scope {
            conn,
            bus,
            unit: unit.to_string(),
            timeout,
            placeholder: Mutex::new(Some(placeholder)),
        };
        let body: Vec<(&str, Value<'_>)> = props.iter().map(|(k, v)| (*k, to_value(v))).collect();
        let aux: Vec<(&str, Vec<(&str, Value<'_>)>)> = Vec::new();
        scope.job("StartTransientUnit", &(unit, "fail", body, aux))?;
        let path = scope.control_group()?;
        Ok((scope, path))
    }

    fn dest(&self) -> Option<&'static str> {
        self.bus.then_some(DEST)
    }

    fn call<B>(&self, method: &'static str, body: &B) -> Result<zbus::Message, Error>
    where
        B: zbus::export::serde::Serialize + zbus::zvariant::DynamicType,
    {
        self.conn
            .call_method(self.dest(), PATH, Some(MANAGER), method, body)
            .map_err(|e| self.timed(bus_err(&self.unit, method, e)))
    }

    /// A method call's own timeout, with the time waited.
    fn timed(&self, e: Error) -> Error {
        match e {
            Error::Systemd {
                unit,
                method,
                failure: SystemdFailure::Timeout(_),
            } => Error::Systemd {
                unit,
                method,
                failure: SystemdFailure::Timeout(self.timeout.as_millis() as u64),
            },
            e => e,
        }
    }

    /// Calls a Manager method that returns a job and waits for its
    /// `JobRemoved`: Ok when the result is `done`.
    fn job<B>(&self, method: &'static str, body: &B) -> Result<(), Error>
    where
        B: zbus::export::serde::Serialize + zbus::zvariant::DynamicType,
    {
        // Listen before asking, or the signal may come first.
        let rule = MatchRule::builder()
            .msg_type(Type::Signal)
            .interface(MANAGER)
            .and_then(|r| r.member("JobRemoved"))
            .and_then(|r| r.path(PATH))
            .map(|r| r.build())
            .map_err(|e| bus_err(&self.unit, method, e))?;
        let signals = MessageIterator::for_match_rule(rule, &self.conn, Some(256))
            .map_err(|e| bus_err(&self.unit, method, e))?;
        // systemd sends its signals only to subscribed clients; an error
        // (already subscribed) changes nothing.
        let _ = self.call("Subscribe", &());
        let reply = self.call(method, body)?;
        let job: OwnedObjectPath = reply.body().deserialize().map_err(|e| {
            err(
                &self.unit,
                method,
                SystemdFailure::Protocol(format!("reply is not a job path: {e}")),
            )
        })?;
        let mut stream = signals.into_inner();
        let deadline = Instant::now() + self.timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let next = async_io::block_on(futures_lite::future::or(
                async { Some(stream.next().await) },
                async {
                    async_io::Timer::after(left).await;
                    None
                },
            ));
            let msg = match next {
                None => {
                    return Err(err(
                        &self.unit,
                        method,
                        SystemdFailure::Timeout(self.timeout.as_millis() as u64),
                    ))
                }
                Some(None) => {
                    return Err(err(
                        &self.unit,
                        method,
                        SystemdFailure::Connect("the connection closed".into()),
                    ))
                }
                Some(Some(Err(e))) => return Err(bus_err(&self.unit, method, e)),
                Some(Some(Ok(m))) => m,
            };
            let Ok((_, path, _, result)) = msg
                .body()
                .deserialize::<(u32, OwnedObjectPath, String, String)>()
            else {
                continue;
            };
            if path == job {
                return if result == "done" {
                    Ok(())
                } else {
                    Err(err(&self.unit, method, SystemdFailure::Job(result)))
                };
            }
        }
    }

    /// The scope's `ControlGroup` property.
    fn control_group(&self) -> Result<PathBuf, Error> {
        let reply = self.call("GetUnit", &(self.unit.as_str()))?;
        let unit_path: OwnedObjectPath = reply.body().deserialize().map_err(|e| {
            err(
                &self.unit,
                "GetUnit",
                SystemdFailure::Protocol(e.to_string()),
            )
        })?;
        let reply = self
            .conn
            .call_method(
                self.dest(),
                unit_path.as_str(),
                Some("org.freedesktop.DBus.Properties"),
                "Get",
                &("org.freedesktop.systemd1.Scope", "ControlGroup"),
            )
            .map_err(|e| bus_err(&self.unit, "Get ControlGroup", e))?;
        let v: OwnedValue = reply.body().deserialize().map_err(|e| {
            err(
                &self.unit,
                "Get ControlGroup",
                SystemdFailure::Protocol(e.to_string()),
            )
        })?;
        let s: String = v.try_into().map_err(|e: zbus::zvariant::Error| {
            err(
                &self.unit,
                "Get ControlGroup",
                SystemdFailure::Protocol(e.to_string()),
            )
        })?;
        if !s.starts_with('/') {
            return Err(err(
                &self.unit,
                "Get ControlGroup",
                SystemdFailure::Protocol(format!("not an absolute cgroup path: {s:?}")),
            ));
        }
        Ok(PathBuf::from(s))
    }

    /// `SetUnitProperties(unit, runtime = true, properties)`: changes the
    /// limits of the running scope (systemd writes the cgroup files and
    /// keeps the values for its own later writes, `systemctl
    /// set-property --runtime`).
    pub(crate) fn set_properties(&self, props: &[(&'static str, PropValue)]) -> Result<(), Error> {
        if props.is_empty() {
            return Ok(());
        }
        let body: Vec<(&str, Value<'_>)> = props.iter().map(|(k, v)| (*k, to_value(v))).collect();
        self.call("SetUnitProperties", &(self.unit.as_str(), true, body))?;
        Ok(())
    }

    /// The unit's name (`containment-web.scope`).
    pub(crate) fn unit(&self) -> &str {
        &self.unit
    }

    /// Kills and reaps the placeholder (once the container's child is in
    /// the scope).
    pub(crate) fn release_placeholder(&self) {
        let p = self
            .placeholder
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        drop(p);
    }

    /// `StopUnit(unit, "replace")` and waits for the job; a unit systemd
    /// already collected (`NoSuchUnit`) is not an error.
    pub(crate) fn stop(&self) -> Result<(), Error> {
        self.release_placeholder();
        match self.job("StopUnit", &(self.unit.as_str(), "replace")) {
            Err(Error::Systemd {
                failure: SystemdFailure::Bus { name, .. },
                ..
            }) if name == "org.freedesktop.systemd1.NoSuchUnit" => Ok(()),
            r => r,
        }
    }
}
