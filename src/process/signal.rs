//! [`Signal`]: a signal number as a type, parsed from and shown as the
//! names `kill(1)`, docker's `--stop-signal` and the OCI `StopSignal` use.

use std::fmt;
use std::str::FromStr;

/// A signal number (`SIGTERM` is `Signal::TERM`, 15).
///
/// Any `i32` converts into a `Signal` ([`From<i32>`]), so code written for a
/// raw `libc::SIGTERM` keeps compiling where a `Signal` is taken; the kernel
/// refuses numbers it does not know (`EINVAL`) when the signal is sent.
/// Parsing accepts the forms `kill(1)` and docker's `--stop-signal` take:
/// `"TERM"`, `"SIGTERM"`, `"sigterm"`, `"15"`, and the real-time signals as
/// `"RTMIN+3"` / `"SIGRTMAX-1"`. [`Display`](fmt::Display) shows the `SIG`
/// name (`SIGTERM`, `SIGRTMIN+3`), or the number when it has none.
///
/// ```
/// use containment::Signal;
///
/// let s: Signal = "TERM".parse()?;
/// assert_eq!(s, Signal::TERM);
/// assert_eq!("15".parse::<Signal>()?, Signal::TERM);
/// assert_eq!(s.to_string(), "SIGTERM");
/// assert_eq!(i32::from(s), libc::SIGTERM);
/// # Ok::<(), containment::process::ParseSignalError>(())
/// ```
///
/// # References
/// - [`signal(7)`](https://man7.org/linux/man-pages/man7/signal.7.html)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Signal(i32);

/// The names of the standard signals, without `SIG`.
const NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGIOT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("POLL", libc::SIGPOLL),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

impl Signal {
    /// `SIGHUP` (1).
    pub const HUP: Signal = Signal(libc::SIGHUP);
    /// `SIGINT` (2).
    pub const INT: Signal = Signal(libc::SIGINT);
    /// `SIGQUIT` (3).
    pub const QUIT: Signal = Signal(libc::SIGQUIT);
    /// `SIGKILL` (9): cannot be caught or ignored (except by a PID 1, for
    /// signals sent from inside its own PID namespace).
    pub const KILL: Signal = Signal(libc::SIGKILL);
    /// `SIGUSR1` (10).
    pub const USR1: Signal = Signal(libc::SIGUSR1);
    /// `SIGUSR2` (12).
    pub const USR2: Signal = Signal(libc::SIGUSR2);
    /// `SIGTERM` (15): the polite stop, docker's default stop signal.
    pub const TERM: Signal = Signal(libc::SIGTERM);
    /// `SIGCONT` (18).
    pub const CONT: Signal = Signal(libc::SIGCONT);
    /// `SIGSTOP` (19): cannot be caught or ignored.
    pub const STOP: Signal = Signal(libc::SIGSTOP);
    /// `SIGWINCH` (28): the terminal's size changed.
    pub const WINCH: Signal = Signal(libc::SIGWINCH);

    /// The signal with number `n` (no check: the kernel checks when it is
    /// sent).
    pub const fn from_raw(n: i32) -> Signal {
        Signal(n)
    }

    /// The signal number.
    pub const fn as_raw(self) -> i32 {
        self.0
    }

    /// The name without `SIG` (`"TERM"`, `"RTMIN+3"`), `None` for a number
    /// that is no signal.
    fn name(self) -> Option<String> {
        if let Some((n, _)) = NAMES.iter().find(|(_, v)| *v == self.0) {
            return Some((*n).to_string());
        }
        let (min, max) = (libc::SIGRTMIN(), libc::SIGRTMAX());
        if (min..=max).contains(&self.0) {
            let off = self.0 - min;
            return Some(if off == 0 {
                "RTMIN".into()
            } else if self.0 == max {
                "RTMAX".into()
            } else {
                format!("RTMIN+{off}")
            });
        }
        None
    }
}

impl From<i32> for Signal {
    fn from(n: i32) -> Signal {
        Signal(n)
    }
}

impl From<Signal> for i32 {
    fn from(s: Signal) -> i32 {
        s.0
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "SIG{n}"),
            None => write!(f, "{}", self.0),
        }
    }
}

/// A string that names no signal (see [`Signal`]'s `FromStr`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a signal name (TERM, SIGTERM, RTMIN+3) or number (1 to {max})")]
pub struct ParseSignalError {
    input: String,
    max: i32,
}

impl ParseSignalError {
    /// The string that was given.
    pub fn input(&self) -> &str {
        &self.input
    }
}

impl FromStr for Signal {
    type Err = ParseSignalError;

    /// Parses `"TERM"`, `"SIGTERM"` (any case), `"15"`, `"RTMIN"`,
    /// `"RTMIN+3"`, `"SIGRTMAX-1"`.
    ///
    /// # Errors
    ///
    /// [`ParseSignalError`] for an unknown name, or a number outside
    /// `1..=SIGRTMAX` (64).
    fn from_str(s: &str) -> Result<Signal, ParseSignalError> {
        let max = libc::SIGRTMAX();
        let err = || ParseSignalError {
            input: s.to_string(),
            max,
        };
        let t = s.trim();
        if let Ok(n) = t.parse::<i32>() {
            return if (1..=max).contains(&n) {
                Ok(Signal(n))
            } else {
                Err(err())
            };
        }
        let up = t.to_ascii_uppercase();
        let name = up.strip_prefix("SIG").unwrap_or(&up);
        if let Some((_, v)) = NAMES.iter().find(|(n, _)| *n == name) {
            return Ok(Signal(*v));
        }
        let min = libc::SIGRTMIN();
        let rt = |base: i32, rest: &str, sign: i32| -> Option<Signal> {
            let off = match rest {
                "" => 0,
                r => {
                    let (op, n) = r.split_at(1);
                    let want = if sign > 0 { "+" } else { "-" };
                    if op != want {
                        return None;
                    }
                    n.parse::<i32>().ok()?
                }
            };
            let v = base + sign * off;
            (min..=max).contains(&v).then_some(Signal(v))
        };
        if let Some(rest) = name.strip_prefix("RTMIN") {
            return rt(min, rest, 1).ok_or_else(err);
        }
        if let Some(rest) = name.strip_prefix("RTMAX") {
            return rt(max, rest, -1).ok_or_else(err);
        }
        Err(err())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_numbers_and_realtime() {
        for s in ["TERM", "SIGTERM", "sigterm", "Term", "15", " 15 "] {
            assert_eq!(s.parse::<Signal>(), Ok(Signal::TERM), "{s}");
        }
        assert_eq!("KILL".parse::<Signal>(), Ok(Signal::KILL));
        assert_eq!("SIGWINCH".parse::<Signal>(), Ok(Signal::WINCH));
        let min = libc::SIGRTMIN();
        let max = libc::SIGRTMAX();
        assert_eq!("RTMIN".parse::<Signal>(), Ok(Signal(min)));
        assert_eq!("SIGRTMIN+3".parse::<Signal>(), Ok(Signal(min + 3)));
        assert_eq!("RTMAX-1".parse::<Signal>(), Ok(Signal(max - 1)));
        for bad in [
            "",
            "0",
            "65",
            "-1",
            "TERMINATE",
            "RTMIN-1",
            "RTMAX+1",
            "RTMIN+99",
        ] {
            let e = bad.parse::<Signal>().unwrap_err();
            assert_eq!(e.input(), bad);
            assert!(e.to_string().contains("not a signal"), "{e}");
        }
    }

    #[test]
    fn display_round_trips() {
        for n in 1..=libc::SIGRTMAX() {
            let s = Signal::from(n);
            let shown = s.to_string();
            // 32 and 33 are the real-time signals glibc keeps for itself:
            // no name, shown as numbers (which parse back too).
            assert_eq!(shown.parse::<Signal>(), Ok(s), "{n} shown as {shown}");
        }
        assert_eq!(Signal::TERM.to_string(), "SIGTERM");
        assert_eq!(Signal::from(libc::SIGRTMIN() + 2).to_string(), "SIGRTMIN+2");
        assert_eq!(Signal::from(1000).to_string(), "1000");
        assert_eq!(i32::from(Signal::KILL), 9);
    }
}
