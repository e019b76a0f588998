//! # containment
//!
//! Linux container primitives in one typed API: all eight namespace kinds,
//! user namespaces with id maps, a changed root with mounts, cgroup v2 limits,
//! a [`Child`] handle on a pidfd, and errors that name the step that failed.
//!
//! ```no_run
//! use containment::{Container, Namespaces};
//!
//! let out = Container::new()
//!     .unshare(Namespaces::UTS | Namespaces::PID | Namespaces::MOUNT | Namespaces::NET)
//!     .hostname("box")
//!     .command("/bin/sh")
//!     .args(["-c", "hostname; echo pid $$"])
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
//! let mut child = Container::new()
//!     .unshare(Namespaces::UTS | Namespaces::PID | Namespaces::MOUNT | Namespaces::NET)
//!     .hostname("box")
//!     .root("/srv/rootfs")
//!     .cgroup(Resources::new().memory_max(256 << 20).pids_max(64))
//!     .command("/bin/sh")
//!     .args(["-c", "hostname"])
//!     .spawn()?;
//! let status = child.wait()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Layers
//!
//! - [`container`]: what users see first: [`Container`], a reusable,
//!   cloneable configuration of the isolation, and [`Command`], one program
//!   run in it (shaped like [`std::process::Command`]); every field is
//!   validated and turned into a spawn plan before any process exists.
//! - [`process`]: the spawn itself (`clone3`, the child's fixed steps, the
//!   error pipe) and the [`Child`] handle.
//! - [`namespace`], [`mount`], [`cgroup`]: safe wrappers, one kernel concept
//!   each, usable on their own.
//! - [`pool`]: an opt-in warm pool of fresh namespaces made in the
//!   background, each set joined by exactly one container with `setns`.
//! - [`tty`]: a pseudo-terminal for the program
//!   ([`Command::pty`]: a new session, the replica as controlling
//!   terminal and stdio, from the container's own devpts when it has one),
//!   its window size, and descriptor passing over a unix socket (an OCI
//!   runtime's console socket).
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
//! - `full`: every optional feature whose tests run on the host.
//! - `testing`: hooks for the crate's own tests and benches (a forced
//!   spawn shape, raw `clone3` and pidfd calls). **Not covered by semver**
//!   and not in `full`; `cargo xtask test` builds with `full,testing`.
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
//! | a time offset beyond what the kernel takes (`Duration::from_secs(u64::MAX)` saturates, never wraps negative) | `InvalidConfig` field `time_offsets` (test in `tests/escapes_errs.rs`) |
//! | root (of the initial user namespace) asking for a user namespace without `uid_map`/`gid_map` | `InvalidConfig` field `uid_map`/`gid_map` (see "Defaults that contain"; test in `tests/escapes_errs.rs`) |
//! | memory limit below 6 MiB | `SpawnError::Cgroup(Invalid)` field `memory` |
//! | `cpuset_cpus` naming CPUs that are not online | field `cpuset_cpus` |
//! | `cpus` above the online CPUs | field `cpus` |
//! | a limit whose controller neither the cgroup2 nor a v1 hierarchy offers (or the cgroup2 lacks, with `Backend::V2` forced on a hybrid host) | `SpawnError::Cgroup(ControllerUnavailable)` naming the controller and file |
//! | `memory_swap` below `memory_max` (cgroup v1 refuses `memory.memsw.limit_in_bytes` < `memory.limit_in_bytes` with `EINVAL`) | field `memory_swap`, before anything is created |
//! | a v1 cpuset with no mems (or no cpus): v1 refuses tasks with `ENOSPC` | `cpuset_cpus`/`cpuset_mems` empty: field named; parents' lists are copied into new v1 cpusets, so a join can fail only if the parent has none: `SpawnError::Child` at [`Step::CgroupJoin`] naming the directory's `tasks` file, with the hint |
//! | a v1-only flag (`--kernel-memory`, `--memory-swappiness`, `--oom-kill-disable`, `--cpu-rt-*`) where v2 drives the controller; `memory_high`/`memory_oom_group` where v1 does | `NoV2Equivalent` / `NoV1Equivalent` naming the flag |
//! | `--kernel-memory` on a kernel that ignores or refuses it (6.1+) | `SpawnError::Cgroup(Write)` naming `memory.kmem.limit_in_bytes` and the kernel release (the value is read back) |
//! | `--cpu-rt-runtime` above what the parent cgroup has | `SpawnError::Cgroup(Write)` naming `cpu.rt_runtime_us`, hint: the parent's budget |
//! | with the systemd driver: a parent that is a path, a malformed slice (`a--b.slice`), a unit name systemd refuses (`a b`) | field `cgroup parent` / `slice` / `systemd unit`, before any request (tests in `tests/systemd_mock.rs`) |
//! | with the systemd driver: the unit exists, its job fails, no answer in time, no manager | `SpawnError::Cgroup(Systemd)` naming the unit, the method and the D-Bus error name, job result, timeout or connection error |
//! | a program that is not executable | `SpawnError::Child`: step `exec`, `EACCES`, with the path |
//! | a program that does not exist | step `exec`, `ENOENT` |
//! | `pass_fd` onto 0, 1 or 2, or twice to one number | `InvalidConfig` field `pass_fd` |
//! | soft rlimit above the hard one | `InvalidConfig` field `rlimit` |
//!
//! ## Rootless
//!
//! An unprivileged caller gets containers by asking for
//! [`Namespaces::USER`]: the other new namespaces are then owned by the new
//! user namespace, where the caller is root. What works, and what it needs:
//!
//! | What | Needs | When it is missing |
//! |---|---|---|
//! | UTS, IPC, PID, mount, cgroup, time, network (`lo` only) namespaces; hostname; `/proc`; tmpfs; binds; a busybox or image root with `pivot_root`; capabilities, seccomp, Landlock, rlimits | a kernel and host that allow unprivileged user namespaces | [`SpawnError::Unsupported`] naming the one setting in force ([`probe::UsernsRestriction`]): `user.max_user_namespaces = 0`, `kernel.unprivileged_userns_clone = 0` (Debian), `kernel.apparmor_restrict_unprivileged_userns = 1` (Ubuntu; the id map write then fails with `EPERM` and a hint naming it). [`probe::host()`] reports each |
//! | one id inside: the caller's uid and gid as root (the default map) | nothing more | — |
//! | many ids inside (an image whose files belong to many users, `chown`, `apt` dropping to `_apt`) | lines in `/etc/subuid` and `/etc/subgid` for the caller, and the setuid `newuidmap`/`newgidmap` (Debian: `uidmap`): [`namespace::rootless_maps`] builds "root inside = me, 1..=N inside = my subordinate ids", and [`IdMapWriter::Auto`] runs the helpers for any map beyond the caller's own id | [`namespace::Error::NoSubIds`], [`namespace::Error::SubIdsTooSmall`] (file and user named); [`SpawnError::IdMapHelperMissing`]; [`SpawnError::IdMapHelper`] with the helper's stderr when it refuses a range |
//! | a network beyond `lo`: outbound connections and published ports | `pasta` (Debian: `passt`) and a `/dev/net/tun` the caller may open (mode 0666): [`Container::user_network`] ([`usernet`]) | [`SpawnError::UserNetHelperMissing`]; [`SpawnError::UserNetHelper`] with pasta's stderr and a hint |
//! | a cgroup with limits | a cgroup v2 subtree delegated to the caller (systemd `Delegate=yes`), given as the parent | [`cgroup::Error`] (`EACCES` writing `cgroup.procs` or creating the directory) |
//! | idmapped mounts ([`mount::Mount::idmapped`], [`Container::idmapped_root`]) | **root**: the kernel wants `CAP_SYS_ADMIN` over the filesystem's user namespace (the host's for a host filesystem) | [`mount::Error::IdmapRefused`] with `EPERM`; with `EINVAL` and the filesystem type named when that filesystem cannot be idmapped |
//! | a prepared root ([`mount::PreparedRoot`], `UnpackedImage::prepare`) | `CAP_SYS_ADMIN` in the caller's user namespace (it mounts the overlay itself), and a container **without** a user namespace of its own (refused otherwise: field `root`) | [`mount::Error::Prepare`] with `EPERM`; [`mount::Error::Unsupported`] before Linux 6.13 |
//! | veth pairs, `CLONE_INTO_CGROUP` into a cgroup the caller does not own, mapping ids it was not given | root | the kernel's `EPERM`, with the step named |
//!
//! ```no_run
//! use containment::{Container, Namespaces};
//! use containment::usernet::{PublishedPort, UserNet};
//! // Root inside is the caller; 1..=65536 inside are its subordinate ids.
//! let (uids, gids) = containment::namespace::rootless_maps(65536)?;
//! let status = Container::new()
//!     .unshare(Namespaces::USER | Namespaces::MOUNT | Namespaces::PID | Namespaces::NET)
//!     .uid_map(uids)
//!     .gid_map(gids)
//!     .root("/home/me/busybox")
//!     .user_network(UserNet::pasta().publish(PublishedPort::parse("127.0.0.1:8080:80")?))
//!     .command("/bin/sh")
//!     .args(["-c", "chown 1000 /tmp/f && ls -ln /tmp/f"])
//!     .status()?;
//! # let _ = status;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! CI runs the whole test suite a second time as an unprivileged user with
//! subordinate ids (`.ci/rootless`): root-only tests skip, and the skips are
//! counted and printed by reason.
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
//! (on x86_64; see `Container::vfork_spawn` (feature `testing`)), so no page tables are
//! copied. The child then shares the caller's memory, which the rules above
//! already keep it from writing (and a test with a recording allocator
//! proves it never allocates). The spawning thread waits, with every signal
//! blocked, until the child has exec'd; a new user namespace is cloned
//! without `CLONE_VFORK` so that thread can write the id maps meanwhile.
//!
//! ### Defaults that contain
//!
//! What a container gets without asking is what a careful user would call
//! contained; the unsafe choice is always spelled out in the caller's code.
//!
//! - **User namespaces.** A caller other than root gets its own uid and gid
//!   as root inside (rootless: the namespace holds nothing the caller did
//!   not). Root of the initial user namespace gets no default: its own id
//!   would map host root to the container's root (`0 0 1`), and the
//!   namespace would then contain nothing, so the spawn is refused with
//!   [`SpawnError::InvalidConfig`] naming `uid_map` (or `gid_map`). Map an
//!   unprivileged range (`IdMap::new(0, 100000, 65536)`), or opt in to host
//!   root with `.uid_map([IdMap::single(0, 0)]).gid_map([IdMap::single(0, 0)])`.
//!   Root of a nested user namespace keeps the rootless default (its uid 0
//!   is already an unprivileged id of the host).
//! - **Capabilities.** A container with its own root filesystem
//!   ([`Container::root`], [`Container::rootfs`]) and no
//!   capability setting runs with docker's default set
//!   ([`Capabilities::docker_default`]: no `CAP_SYS_ADMIN`,
//!   `CAP_SYS_PTRACE`, `CAP_SYS_MODULE`, `CAP_NET_ADMIN`, `CAP_SYS_TIME` …;
//!   without `CAP_MKNOD` (outside a user namespace) unless its cgroup's
//!   device rules deny by default,
//!   without `CAP_SYS_CHROOT` when its root is entered with `chroot(2)`)
//!   as its bounding, permitted and effective sets, within what the caller
//!   holds; in a new user namespace too. Keeping every capability is
//!   [`Container::keep_all_capabilities`]; any other set is
//!   [`Container::capabilities`]. Without a root filesystem the
//!   capabilities are left as they are: that is a process in a few new
//!   namespaces that still sees the caller's files, not a container.
//!
//! ### Errors that point the right way
//!
//! A failed clone is explained from the host as it is at the failure, not
//! from the cached [`probe::host`]: a namespace kind the host cannot create
//! is [`SpawnError::Unsupported`], a reached `max_<kind>_namespaces` is
//! [`SpawnError::NamespaceLimit`] with the limits read then, and `EAGAIN`
//! (`RLIMIT_NPROC`, `pids.max`), `EACCES`/`EPERM` of `CLONE_INTO_CGROUP`
//! (the cgroup delegation rules) and `EACCES` on `uid_map` (a non-dumpable
//! caller, after a privilege drop) carry a hint. The fallback to `clone(2)`
//! is taken only when clone3 itself is missing or filtered, never for the
//! kernel's own `EPERM`.
//!
//! ### The caller's binary stays out
//!
//! Nothing of the caller's binary crosses into a container (the
//! CVE-2019-5736 kind). Until its first exec the child is a copy of the
//! caller, and the kernel resolves `/proc/self/exe` (a `#!/proc/self/exe`
//! script, an ELF whose interpreter is `/proc/self/exe`) at that exec: a
//! program chosen by the image would run the caller's own binary inside the
//! container, where a process holding its `/proc/<pid>/exe` could rewrite it
//! once the caller exits. So wherever the container's filesystem is not the
//! caller's (a root of its own, a read-only or masked view, a joined mount
//! namespace), and always for an [`init`](Container::init), the child
//! execs a tiny static helper program of the crate's (~2.5 KB, no libc),
//! written once per process (at the first spawn that needs it; the
//! close-on-exec descriptor then stays open for the process's life) into a
//! memfd sealed against writes, growth, shrinking and mode changes, with `execveat(memfd, "", AT_EMPTY_PATH)`;
//! the helper execs the program (or, as the init, forks it and stays as
//! PID 1, keeping no descriptor at all). `/proc/self/exe` at the program's
//! exec is then the sealed helper, which refuses any invocation but the
//! crate's own (exit status 126). The helper is not dumpable, and neither is
//! a child with memory of its own (the fork shape, which is how a joined
//! PID namespace is entered) from its first step: a process of the
//! container cannot open its `/proc/<pid>/exe` or read its memory. Landlock
//! and seccomp are applied by the helper right before the program's exec
//! (an init is not filtered). Without a changed root the caller's binary is
//! reachable by its path anyway, and the spawn skips the extra exec (its
//! cost is measured by the crate's benches). Where the kernel refuses executable memfds
//! (`vm.memfd_noexec = 2`) or the target has no helper (other than x86_64
//! and aarch64), those spawns fail with [`SpawnError::Unsupported`]: never
//! a fallback that exposes the caller.

#![deny(unsafe_op_in_unsafe_fn)]
// docs.rs (nightly, `--cfg docsrs`): mark what each feature adds.
#![cfg_attr(all(docsrs, containment_nightly), feature(doc_cfg))]

pub mod caps;
pub mod cgroup;
pub mod container;
pub mod error;
// Entry points for `cargo fuzz` (which sets `--cfg fuzzing`); not API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "image")]
#[cfg_attr(all(docsrs, containment_nightly), doc(cfg(feature = "image")))]
pub mod image;
#[cfg(feature = "landlock")]
#[cfg_attr(all(docsrs, containment_nightly), doc(cfg(feature = "landlock")))]
pub mod landlock;
pub mod mount;
pub mod namespace;
#[cfg(feature = "netlink")]
#[cfg_attr(all(docsrs, containment_nightly), doc(cfg(feature = "netlink")))]
pub mod net;
pub mod pool;
pub mod probe;
pub mod process;
#[cfg(feature = "seccomp")]
#[cfg_attr(all(docsrs, containment_nightly), doc(cfg(feature = "seccomp")))]
pub mod seccomp;
// Raw system calls: the crate's own layer, not API (a few are re-exported
// by `testing` for the crate's tests and benches).
#[cfg_attr(not(feature = "testing"), allow(dead_code))]
pub(crate) mod sys;
pub mod tty;
pub mod usernet;

// The README's code blocks, compiled as doctests (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

pub use caps::{CapSet, Capabilities, Capability};
pub use container::{Command, Container, IdMapWriter};
pub use error::{ChildError, SpawnError, Step};
pub use namespace::{IdMap, Namespace, Namespaces, NsFd, TimeOffsets};
pub use process::{Child, Signal, Stdio};

/// Hooks for the crate's own tests and benches (feature `testing`): NOT
/// covered by semver, may change or go in any release. A user of the crate
/// needs none of it.
///
/// Besides these re-exports, the feature adds `Container::vfork_spawn`,
/// `Container::force_legacy_clone`, `Container::force_exec_helper` and
/// `Child::spawned_in_vfork_shape`.
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod testing {
    pub use crate::sys::{
        clone3, clone3_on_stack, pidfd_exit_status, pidfd_open, pidfd_send_signal, pidfd_wait,
        CloneArgs, CloneFlags, WaitFlags, HAS_CLONE3_ON_STACK,
    };
}
