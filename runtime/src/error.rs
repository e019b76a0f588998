//! The runtime's error: a message that names what failed (the field of
//! config.json, the file, the step), printed to stderr and the log.

use std::fmt;

/// An error of a command.
#[derive(Debug)]
pub struct Error(String);

/// Result of a command.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An error with this message.
    pub fn msg(m: impl Into<String>) -> Error {
        Error(m.into())
    }

    /// `what: source`.
    pub fn io(what: impl fmt::Display, e: std::io::Error) -> Error {
        Error(format!("{what}: {e}"))
    }

    /// A field of config.json the runtime cannot honour.
    pub fn field(field: impl fmt::Display, why: impl fmt::Display) -> Error {
        Error(format!("config.json: {field}: {why}"))
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<containment::SpawnError> for Error {
    fn from(e: containment::SpawnError) -> Error {
        Error(format!("creating the container: {e}"))
    }
}

impl From<containment::cgroup::Error> for Error {
    fn from(e: containment::cgroup::Error) -> Error {
        Error(format!("cgroup: {e}"))
    }
}
