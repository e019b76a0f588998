//! # containment
//!
//! Linux container primitives in one typed API: all eight namespace kinds,
//! user namespaces with id maps, a changed root with mounts, cgroup v2 limits,
//! a [`Child`] handle on a pidfd, and errors that name the step that failed.
//!
//! ```no_run
//! use containment::{Container, Namespaces};
//!
//! let out = Container::builder()
//!     .namespaces(Namespaces::UTS | Namespaces::PID | Namespaces::MOUNT | Namespaces::NET)
//!     .hostname("box")
//!     .command("/bin/sh", ["-c", "hostname; echo pid $$"])
//!     .output()?;
//! assert_eq!(out.stdout, b"box\npid 1\n");
//! # Ok::<(), containment::SpawnError>(())
//! ```
//!
//! ## Layers
//!
//! - [`container`]: the builder users see first; it validates every field
//!   and turns it into a spawn plan before any process exists.
//! - [`process`]: the spawn itself (`clone3`, the child's fixed steps, the
//!   error pipe) and the [`Child`] handle.
//! - [`namespace`], [`mount`], [`cgroup`]: safe wrappers, one kernel concept
//!   each, usable on their own.
//! - [`pool`]: an opt-in warm pool of fresh namespaces made in the
//!   background, each set joined by exactly one container with `setns`.
//! - [`sys`]: the raw system calls `nix` lacks (`clone3`, pidfds,
//!   `setdomainname`).
//! - `net` (feature `netlink`, on by default): veth pairs between network
//!   namespaces, configured over rtnetlink in-process.
//!
//! ## Living with running containers
//!
//! - [`namespace::list_namespaces`]: every namespace on the host, like
//!   `lsns`, and what the caller could not see.
//! - `Child::wait_async` (feature `tokio`): waiting as a future driven by
//!   the pidfd, no thread per child and no `SIGCHLD` handler.
//!
//! ## Features
//!
//! - `netlink` (default): the `net` module (`netlink-packet-route`,
//!   `netlink-sys`).
//! - `tokio`: `Child::wait_async`. Needs tokio 1.54 (its sound
//!   `AsyncFd::register_with_interest`), hence Rust 1.85 with this feature;
//!   the crate without it keeps its own `rust-version`.
//! - `seccomp`, `landlock`: seccomp filters and Landlock rules built in the
//!   parent.
//! - `full`: every optional feature whose tests run on the host (what
//!   `cargo xtask test` builds).
//!
//! ## Safety story
//!
//! Between `clone3` and `execve` the child runs a fixed list of small steps
//! that only make async-signal-safe system calls on data the parent prepared:
//! no allocation, no locks, no panics. A failing step writes
//! `{step, index, errno}` to a close-on-exec pipe and calls `_exit`; the
//! parent turns that into a [`SpawnError::Child`]. Spawning is therefore safe
//! from any thread of a multi-threaded program.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod caps;
pub mod cgroup;
pub mod container;
pub mod error;
// Entry points for `cargo fuzz` (which sets `--cfg fuzzing`); not API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "landlock")]
pub mod landlock;
pub mod mount;
pub mod namespace;
#[cfg(feature = "netlink")]
pub mod net;
pub mod pool;
pub mod probe;
pub mod process;
#[cfg(feature = "seccomp")]
pub mod seccomp;
pub mod sys;

pub use caps::{CapSet, Capabilities, Capability};
pub use container::{Container, ContainerBuilder};
pub use error::{ChildError, SpawnError, Step};
pub use namespace::{IdMap, Namespace, Namespaces, NsFd, TimeOffsets};
pub use process::{Child, Stdio};
