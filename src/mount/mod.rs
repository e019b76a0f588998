//! Mounts and the container's root (stub: extended by the rootfs work).
//!
//! The builder collects a `FsConfig`; before clone the parent turns it into
//! a `MountPlan` whose every path is a `CString`, and the child applies the
//! plan with async-signal-safe calls only.

use crate::error::{ChildFailure, Step};
use crate::namespace::Namespaces;
use std::ffi::CString;

/// Errors of the mount layer found in the parent.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A mount or root setting holds a value that cannot work.
    #[error("invalid {field} {value:?}: {reason}")]
    Invalid {
        /// The setting (`"root"`, `"mount target"` …).
        field: &'static str,
        /// The offending value.
        value: String,
        /// Why it was refused.
        reason: String,
    },
}

/// What the builder collected about the container's filesystem view.
#[derive(Debug, Default, Clone)]
pub(crate) struct FsConfig {
    /// Mount a fresh proc on /proc when PID and mount namespaces are both new
    /// (`None`: the default, yes).
    pub(crate) mount_proc: Option<bool>,
}

/// The filesystem steps, ready for the child.
#[derive(Debug)]
pub(crate) struct MountPlan {
    make_private: bool,
    proc_target: Option<CString>,
}

impl FsConfig {
    /// Validates and prepares the plan in the parent. `ns` are the namespaces
    /// the child will be in.
    pub(crate) fn plan(&self, ns: Namespaces) -> Result<Option<MountPlan>, crate::SpawnError> {
        if !ns.contains(Namespaces::MOUNT) {
            if self.mount_proc == Some(true) {
                return Err(crate::SpawnError::invalid(
                    "mount_proc",
                    true,
                    "mounting a fresh /proc needs a mount namespace (Namespaces::MOUNT)",
                ));
            }
            return Ok(None);
        }
        let proc = self.mount_proc.unwrap_or(ns.contains(Namespaces::PID));
        Ok(Some(MountPlan {
            make_private: true,
            proc_target: proc.then(|| CString::new("/proc").expect("no NUL")),
        }))
    }
}

impl MountPlan {
    /// Runs in the child, between clone and exec: no allocation, no panic.
    pub(crate) fn apply(&self) -> Result<(), ChildFailure> {
        if self.make_private {
            // SAFETY: static NUL-terminated strings; null fstype/data are allowed
            // for a propagation change.
            let r = unsafe {
                libc::mount(
                    std::ptr::null(),
                    c"/".as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                )
            };
            if r != 0 {
                return Err(ChildFailure::last(Step::MountPropagation));
            }
        }
        if let Some(target) = &self.proc_target {
            // SAFETY: all strings are NUL-terminated and live.
            let r = unsafe {
                libc::mount(
                    c"proc".as_ptr(),
                    target.as_ptr(),
                    c"proc".as_ptr(),
                    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    std::ptr::null(),
                )
            };
            if r != 0 {
                return Err(ChildFailure::last(Step::MountProc));
            }
        }
        Ok(())
    }

    /// Describes what item `index` of `step` was working on (parent side).
    pub(crate) fn describe(&self, step: Step, _index: u32) -> Option<String> {
        match step {
            Step::MountProc => Some("proc on /proc".into()),
            Step::MountPropagation => Some("/ recursively private".into()),
            _ => None,
        }
    }

    /// The usual causes of `errno` at item `index` of `step` (parent side).
    pub(crate) fn hint(&self, step: Step, _index: u32, errno: i32) -> Option<String> {
        match (step, errno) {
            (Step::MountProc, libc::EPERM) => Some(
                "mounting proc needs CAP_SYS_ADMIN over the PID namespace's owning user namespace, \
                 and inside a user namespace a fully visible /proc on the host (no masked paths \
                 over it)"
                    .into(),
            ),
            _ => None,
        }
    }
}
