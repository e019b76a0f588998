//! Resource limits (`setrlimit(2)`) of the container's program.

/// A resource whose limit can be set ([`crate::Container::rlimit`]).
///
/// # References
/// - [`getrlimit(2)`](https://man7.org/linux/man-pages/man2/getrlimit.2.html)
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Rlimit {
    /// `RLIMIT_AS`: address space size, bytes.
    As,
    /// `RLIMIT_CORE`: core file size, bytes.
    Core,
    /// `RLIMIT_CPU`: CPU time, seconds.
    Cpu,
    /// `RLIMIT_DATA`: data segment size, bytes.
    Data,
    /// `RLIMIT_FSIZE`: largest file the process may create, bytes.
    Fsize,
    /// `RLIMIT_LOCKS`: file locks.
    Locks,
    /// `RLIMIT_MEMLOCK`: locked memory, bytes.
    Memlock,
    /// `RLIMIT_MSGQUEUE`: POSIX message queue bytes.
    Msgqueue,
    /// `RLIMIT_NICE`: ceiling of the nice value (20 - limit).
    Nice,
    /// `RLIMIT_NOFILE`: one more than the highest descriptor number.
    Nofile,
    /// `RLIMIT_NPROC`: processes of the real user id.
    Nproc,
    /// `RLIMIT_RTPRIO`: real-time priority ceiling.
    Rtprio,
    /// `RLIMIT_RTTIME`: real-time CPU time without blocking, microseconds.
    Rttime,
    /// `RLIMIT_SIGPENDING`: queued signals.
    Sigpending,
    /// `RLIMIT_STACK`: stack size, bytes.
    Stack,
}

impl Rlimit {
    pub(crate) fn resource(self) -> i32 {
        (match self {
            Rlimit::As => libc::RLIMIT_AS,
            Rlimit::Core => libc::RLIMIT_CORE,
            Rlimit::Cpu => libc::RLIMIT_CPU,
            Rlimit::Data => libc::RLIMIT_DATA,
            Rlimit::Fsize => libc::RLIMIT_FSIZE,
            Rlimit::Locks => libc::RLIMIT_LOCKS,
            Rlimit::Memlock => libc::RLIMIT_MEMLOCK,
            Rlimit::Msgqueue => libc::RLIMIT_MSGQUEUE,
            Rlimit::Nice => libc::RLIMIT_NICE,
            Rlimit::Nofile => libc::RLIMIT_NOFILE,
            Rlimit::Nproc => libc::RLIMIT_NPROC,
            Rlimit::Rtprio => libc::RLIMIT_RTPRIO,
            Rlimit::Rttime => libc::RLIMIT_RTTIME,
            Rlimit::Sigpending => libc::RLIMIT_SIGPENDING,
            Rlimit::Stack => libc::RLIMIT_STACK,
        }) as i32
    }
}

/// "No limit" (`RLIM_INFINITY`).
pub const RLIM_INFINITY: u64 = libc::RLIM_INFINITY;
