//! Landlock filesystem rules (feature `landlock`): the ruleset is built in
//! the parent with the [`landlock`](https://docs.rs/landlock) crate
//! (rust-landlock), and the child only calls `landlock_restrict_self(2)` on
//! its descriptor as one of its last steps, without allocation.
//!
//! The kernel may lack Landlock or know an older ABI: in
//! [`Compat::BestEffort`] mode the rules are applied as far as the kernel
//! supports them, in [`Compat::Required`] mode the spawn fails instead. In
//! both, [`Landlock::status`] says what is actually enforced, and nothing is
//! silently left open in required mode.
//!
//! # References
//! - [`landlock(7)`](https://man7.org/linux/man-pages/man7/landlock.7.html)

use landlock::{
    Access, AccessFs, CompatLevel, Compatible, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, ABI,
};
use std::os::fd::OwnedFd;
use std::path::PathBuf;

/// How to treat a kernel that cannot enforce everything asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compat {
    /// Enforce what the kernel supports (nothing, without Landlock).
    #[default]
    BestEffort,
    /// Fail the spawn unless every rule is enforced.
    Required,
}

/// Errors building the ruleset.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A path of a rule cannot be opened.
    #[error("landlock rule path {path}: {reason}")]
    Path {
        /// The path.
        path: PathBuf,
        /// The error.
        reason: String,
    },
    /// The kernel cannot enforce the ruleset and [`Compat::Required`] was asked.
    #[error("landlock ruleset cannot be enforced: {0}")]
    Unsupported(String),
}

/// What the kernel enforces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Status {
    /// The kernel's Landlock ABI version (0: no Landlock).
    pub kernel_abi: u32,
    /// Whether a ruleset is applied at all.
    pub enforced: bool,
}

/// Filesystem access rules: everything outside the listed trees is denied.
#[derive(Debug, Clone, Default)]
pub struct Landlock {
    read: Vec<PathBuf>,
    read_write: Vec<PathBuf>,
    compat: Compat,
}

/// `landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION)`.
pub fn kernel_abi() -> u32 {
    // SAFETY: the version query takes no ruleset and returns an integer.
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32,
        )
    };
    if r < 0 {
        0
    } else {
        r as u32
    }
}

impl Landlock {
    /// No tree allowed yet: the program could touch no file at all.
    pub fn new() -> Landlock {
        Landlock::default()
    }

    /// Allows reading and executing below `path`.
    pub fn allow_read(mut self, path: impl Into<PathBuf>) -> Landlock {
        self.read.push(path.into());
        self
    }

    /// Allows every filesystem access below `path`.
    pub fn allow_read_write(mut self, path: impl Into<PathBuf>) -> Landlock {
        self.read_write.push(path.into());
        self
    }

    /// Best effort (default) or required.
    pub fn compat(mut self, c: Compat) -> Landlock {
        self.compat = c;
        self
    }

    /// What would be enforced on this kernel.
    pub fn status(&self) -> Status {
        let abi = kernel_abi();
        Status {
            kernel_abi: abi,
            enforced: abi > 0,
        }
    }

    /// Builds the ruleset in the parent: `None` when there is nothing to
    /// enforce (best effort on a kernel without Landlock).
    pub(crate) fn build(&self) -> Result<Option<OwnedFd>, Error> {
        let abi = ABI::V5;
        let level = match self.compat {
            Compat::BestEffort => CompatLevel::BestEffort,
            Compat::Required => CompatLevel::HardRequirement,
        };
        let unsupported = |e: &dyn std::fmt::Display| Error::Unsupported(e.to_string());
        let mut rs = Ruleset::default()
            .set_compatibility(level)
            .handle_access(AccessFs::from_all(abi))
            .map_err(|e| unsupported(&e))?
            .create()
            .map_err(|e| unsupported(&e))?;
        for (paths, access) in [
            (&self.read, AccessFs::from_read(abi)),
            (&self.read_write, AccessFs::from_all(abi)),
        ] {
            for p in paths {
                let fd = PathFd::new(p).map_err(|e| Error::Path {
                    path: p.clone(),
                    reason: e.to_string(),
                })?;
                rs = rs
                    .add_rule(PathBeneath::new(fd, access))
                    .map_err(|e| unsupported(&e))?;
            }
        }
        let fd: Option<OwnedFd> = rs.into();
        if fd.is_none() && self.compat == Compat::Required {
            return Err(Error::Unsupported(format!(
                "kernel Landlock ABI {}",
                kernel_abi()
            )));
        }
        Ok(fd)
    }
}
