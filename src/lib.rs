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
//! A container with a root, a cgroup with limits, and five namespaces:
//!
//! ```no_run
//! use containment::cgroup::Resources;
//! use containment::{Container, Namespaces};
//!
//! let mut child = Container::builder()
//!     .namespaces(Namespaces::UTS | Namespaces::PID | Namespaces::MOUNT | Namespaces::NET)
//!     .hostname("box")
//!     .root("/srv/rootfs")
//!     .cgroup(Resources::new().memory_max(256 << 20).pids_max(64))
//!     .command("/bin/sh", ["-c", "hostname"])
//!     .spawn()?;
//! let status = child.wait()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
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
//! - `image` (feature `image`): OCI image layouts and `docker save`
//!   archives, verified and unpacked into a content-addressed layer store,
//!   stacked by overlayfs as a container's root with the image config's
//!   defaults.
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
//! - `image`: the `image` module: OCI image layouts and `docker save`
//!   archives unpacked into a content-addressed layer store and stacked by
//!   overlayfs as a container's root (`tar`, `flate2`, `zstd`, `sha2`,
//!   `serde_json`, `oci-spec`).
//! - `pull` (not in `full`: its test needs Debian's `docker-registry`):
//!   `image::Store::pull`, images from a registry through `oci-client`.
//! - `full`: every optional feature whose tests run on the host (what
//!   `cargo xtask test` builds).
//!
//! ## Bad input and the errors it gives
//!
//! Everything a caller can get wrong is refused before any process exists,
//! with the field and the value in the error ([`SpawnError::field`]); a
//! failed spawn leaves no process, cgroup or mount behind. Each row is a test
//! in `tests/bad_input.rs`.
//!
//! | input | error |
//! |---|---|
//! | nonexistent root `/nonexistent/root` | `SpawnError::Mount(Invalid)` field `root`: cannot be resolved |
//! | relative root `relative/root` | field `root`: must be an absolute path |
//! | a root that is a file | field `root`: is not a directory |
//! | mount target `../etc` | field `mount target`: must be an absolute path inside the container |
//! | mount target through a symlink out of the root (`etc -> /etc`) | resolved inside the root (`openat2(RESOLVE_IN_ROOT)`): refused or contained, the host is untouched |
//! | an id map the kernel refuses (unprivileged, another uid) | `SpawnError::Setup` "writing uid_map" with the map rules as hint |
//! | overlapping or empty id ranges, more than 340 lines | `InvalidConfig` field `uid_map`/`gid_map` |
//! | hostname over 64 bytes or with a NUL; hostname without a UTS namespace | `InvalidConfig` field `hostname` |
//! | NUL in program, argument or environment | `InvalidConfig` field `program`/`arg`/`env` |
//! | time offsets without a time namespace | `InvalidConfig` field `time_offsets` |
//! | memory limit below 6 MiB | `SpawnError::Cgroup(Invalid)` field `memory` |
//! | `cpuset_cpus` naming CPUs that are not online | field `cpuset_cpus` |
//! | `cpus` above the online CPUs | field `cpus` |
//! | a limit whose controller the host lacks (hybrid host) | `SpawnError::Cgroup(ControllerUnavailable)` naming the controller and file |
//! | a program that is not executable | `SpawnError::Child`: step `exec`, `EACCES`, with the path |
//! | a program that does not exist | step `exec`, `ENOENT` |
//! | `pass_fd` onto 0, 1 or 2, or twice to one number | `InvalidConfig` field `pass_fd` |
//! | soft rlimit above the hard one | `InvalidConfig` field `rlimit` |
//!
//! ## Safety story
//!
//! Between `clone3` and `execve` the child runs a fixed list of small steps
//! that only make async-signal-safe system calls on data the parent prepared:
//! no allocation, no locks, no panics. A failing step writes
//! `{step, index, errno}` to a close-on-exec pipe and calls `_exit`; the
//! parent turns that into a [`SpawnError::Child`]. Spawning is therefore safe
//! from any thread of a multi-threaded program.
//!
//! By default the child is cloned in the vfork shape, as `posix_spawn` does:
//! `clone3(CLONE_VM | CLONE_VFORK)` with the child on a stack of its own
//! (on x86_64; see [`ContainerBuilder::vfork_spawn`]), so no page tables are
//! copied. The child then shares the caller's memory, which the rules above
//! already keep it from writing (and a test with a recording allocator
//! proves it never allocates). The spawning thread waits, with every signal
//! blocked, until the child has exec'd; a new user namespace is cloned
//! without `CLONE_VFORK` so that thread can write the id maps meanwhile.

#![deny(unsafe_op_in_unsafe_fn)]

pub mod caps;
pub mod cgroup;
pub mod container;
pub mod error;
// Entry points for `cargo fuzz` (which sets `--cfg fuzzing`); not API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "image")]
pub mod image;
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
