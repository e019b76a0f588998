//! Seccomp filters (feature `seccomp`): compiled to classic BPF in the
//! parent with [`seccompiler`](https://docs.rs/seccompiler) (pure Rust, no
//! libseccomp), installed in the child with `seccomp(2)` as the last step
//! before `execve`, without allocation.
//!
//! Installing a filter needs `no_new_privs` (or `CAP_SYS_ADMIN`); the
//! container sets `no_new_privs` whenever a filter is given.
//!
//! # References
//! - [`seccomp(2)`](https://man7.org/linux/man-pages/man2/seccomp.2.html)

use std::collections::BTreeMap;

/// What the filter does with a system call.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Let it run.
    Allow,
    /// Fail it with this errno (e.g. `libc::EPERM`).
    Errno(i32),
    /// Kill the whole process (`SECCOMP_RET_KILL_PROCESS`).
    KillProcess,
    /// Kill the thread.
    KillThread,
    /// Send `SIGSYS`.
    Trap,
    /// Let it run and log it.
    Log,
}

impl Action {
    fn to_seccompiler(self) -> Result<seccompiler::SeccompAction, Error> {
        use seccompiler::SeccompAction as S;
        Ok(match self {
            Action::Allow => S::Allow,
            Action::Errno(e) if (0..=4095).contains(&e) => S::Errno(e as u32),
            Action::Errno(e) => {
                return Err(Error::Invalid(format!("errno {e} is outside 0..=4095")))
            }
            Action::KillProcess => S::KillProcess,
            Action::KillThread => S::KillThread,
            Action::Trap => S::Trap,
            Action::Log => S::Log,
        })
    }
}

/// Errors building a filter.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The rules cannot be compiled (the compiler's message).
    #[error("invalid seccomp filter: {0}")]
    Invalid(String),
}

/// A compiled seccomp filter (classic BPF for this architecture).
#[derive(Clone)]
pub struct Filter {
    program: Vec<libc::sock_filter>,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Filter({} instructions)", self.program.len())
    }
}

impl Filter {
    /// `on_match` for the listed system calls (numbers such as
    /// `libc::SYS_mount`), `otherwise` for every other one.
    ///
    /// # Errors
    ///
    /// [`Error`] when the filter cannot be compiled (an action seccompiler
    /// refuses, a number that is no system call of this architecture).
    pub fn new(
        syscalls: impl IntoIterator<Item = i64>,
        on_match: Action,
        otherwise: Action,
    ) -> Result<Filter, Error> {
        let rules: BTreeMap<i64, Vec<seccompiler::SeccompRule>> =
            syscalls.into_iter().map(|n| (n, Vec::new())).collect();
        if rules.is_empty() {
            return Err(Error::Invalid("no system call listed".into()));
        }
        let arch = std::env::consts::ARCH
            .try_into()
            .map_err(|e: seccompiler::BackendError| Error::Invalid(e.to_string()))?;
        let filter = seccompiler::SeccompFilter::new(
            rules,
            otherwise.to_seccompiler()?,
            on_match.to_seccompiler()?,
            arch,
        )
        .map_err(|e| Error::Invalid(e.to_string()))?;
        let bpf: seccompiler::BpfProgram = filter
            .try_into()
            .map_err(|e: seccompiler::BackendError| Error::Invalid(e.to_string()))?;
        Ok(Filter {
            program: bpf
                .into_iter()
                .map(|i| libc::sock_filter {
                    code: i.code,
                    jt: i.jt,
                    jf: i.jf,
                    k: i.k,
                })
                .collect(),
        })
    }

    /// Fails the listed system calls with `errno`, allows the rest (a deny
    /// list, the shape of docker's default profile).
    ///
    /// # Errors
    ///
    /// As [`Filter::new`].
    pub fn deny(syscalls: impl IntoIterator<Item = i64>, errno: i32) -> Result<Filter, Error> {
        Filter::new(syscalls, Action::Errno(errno), Action::Allow)
    }

    /// A filter from a classic BPF program compiled elsewhere (an OCI
    /// runtime compiles the profile of `config.json`, with argument
    /// conditions, and hands the program over). The kernel checks the
    /// program when the child installs it: a program it refuses fails the
    /// spawn at [`Step::Seccomp`](crate::Step::Seccomp) with `EINVAL`.
    ///
    /// # Errors
    /// [`Error::Invalid`] when the program is empty or longer than the
    /// kernel's `BPF_MAXINSNS` (4096 instructions).
    ///
    /// # References
    /// - [`seccomp(2)`](https://man7.org/linux/man-pages/man2/seccomp.2.html),
    ///   `SECCOMP_SET_MODE_FILTER`
    pub fn from_bpf(program: Vec<libc::sock_filter>) -> Result<Filter, Error> {
        if program.is_empty() || program.len() > 4096 {
            return Err(Error::Invalid(format!(
                "a BPF program has 1 to 4096 instructions, this one {}",
                program.len()
            )));
        }
        Ok(Filter { program })
    }

    /// Number of BPF instructions.
    pub fn len(&self) -> usize {
        self.program.len()
    }

    /// Whether the program is empty (never, for a built filter).
    pub fn is_empty(&self) -> bool {
        self.program.is_empty()
    }

    pub(crate) fn into_program(self) -> Vec<libc::sock_filter> {
        self.program
    }
}
