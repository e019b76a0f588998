//! The spawn itself and the handle on the running process.
//!
//! [`crate::container::Container`] validates and prepares; this module
//! clones the child, runs its fixed steps between clone and exec
//! (`child.rs`, no allocation), reads the error pipe, and returns a
//! [`Child`] on a pidfd.

#[cfg(feature = "tokio")]
mod async_wait;
mod child;
mod gate;
mod handle;
pub(crate) mod helper;
mod hints;
mod limits;
mod signal;
mod spawn;
mod stdio;

pub use handle::Child;
pub use limits::{Rlimit, RLIM_INFINITY};
pub use signal::{ParseSignalError, Signal};
pub use std::process::Output;
pub use stdio::Stdio;

pub(crate) use child::{CapsPlan, ChildPlan, IdsPlan};
pub(crate) use gate::GatePlan;
pub(crate) use spawn::{spawn, IdMapsPlan, ParentPty, Prepared};
pub(crate) use stdio::{lift_fd, PreparedStdio};
