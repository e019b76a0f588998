//! What this host's kernel supports, asked once and cached.
//!
//! [`host()`] answers without side effects visible outside the calling
//! process: it reads `/proc` and `/sys` and makes harmless system calls
//! (`clone3` with an invalid size, `pidfd_open` of itself). Its answer is
//! cached for the life of the process, and the sysctls in it can change
//! meanwhile (`max_*_namespaces` are per user namespace and writable by its
//! owner): [`host_now()`] probes again, and a failed spawn always explains
//! itself from a fresh probe, never from the cache.

use crate::namespace::{Namespace, Namespaces};
use std::sync::OnceLock;

/// The host's support for what this crate uses.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HostSupport {
    /// The running kernel (`uname -r`).
    pub kernel_release: String,
    /// Namespace kinds this kernel has (`/proc/self/ns/<kind>` exists).
    pub namespaces: Namespaces,
    /// `clone3(2)` is available (Linux 5.3), not hidden by seccomp.
    pub clone3: bool,
    /// `pidfd_open(2)` works (Linux 5.3).
    pub pidfd: bool,
    /// `/proc/sys/user/max_<kind>_namespaces` for each kind (None: unreadable),
    /// as read when probed.
    pub max_namespaces: Vec<(Namespace, Option<u64>)>,
    /// `/proc/sys/kernel/unprivileged_userns_clone` (Debian's switch; None: absent).
    pub unprivileged_userns_clone: Option<u64>,
    /// `/proc/sys/kernel/apparmor_restrict_unprivileged_userns` (Ubuntu; None: absent).
    pub apparmor_restrict_unprivileged_userns: Option<u64>,
    /// Whether this process ran as root (euid 0) when probed.
    pub is_root: bool,
}

impl HostSupport {
    /// Whether a user namespace can be created by an unprivileged user,
    /// judging by the sysctls (seccomp or LSM policies can still refuse).
    pub fn unprivileged_user_namespaces(&self) -> bool {
        self.user_namespace_limit() != Some(0)
            && self.unprivileged_userns_clone != Some(0)
            && self.apparmor_restrict_unprivileged_userns != Some(1)
    }

    /// `max_user_namespaces`.
    pub fn user_namespace_limit(&self) -> Option<u64> {
        self.namespace_limit(Namespace::User)
    }

    /// `/proc/sys/user/max_<kind>_namespaces` as read when probed (None:
    /// unreadable).
    pub fn namespace_limit(&self, kind: Namespace) -> Option<u64> {
        self.max_namespaces
            .iter()
            .find(|(k, _)| *k == kind)
            .and_then(|(_, v)| *v)
    }

    /// Time namespaces (Linux 5.6, `CONFIG_TIME_NS`).
    pub fn time_namespaces(&self) -> bool {
        self.namespaces.contains(Namespaces::TIME)
    }

    /// Why namespaces of kind `k` cannot be created here, if a reason is known.
    pub fn why_not(&self, k: Namespace) -> Option<String> {
        if !self.namespaces.contains(k.flag()) {
            return Some(format!(
                "/proc/self/ns/{} is absent: kernel {} lacks this namespace kind",
                k.proc_name(),
                self.kernel_release
            ));
        }
        if self.namespace_limit(k) == Some(0) {
            return Some(format!("{} is 0", k.max_sysctl()));
        }
        // SAFETY: geteuid has no preconditions (asked live: the caller may have
        // changed ids since the probe).
        let root = unsafe { libc::geteuid() } == 0;
        if k == Namespace::User && !root && !self.unprivileged_user_namespaces() {
            return Some(format!(
                "unprivileged user namespaces are disabled (unprivileged_userns_clone={:?}, \
                 apparmor_restrict_unprivileged_userns={:?}, max_user_namespaces={:?})",
                self.unprivileged_userns_clone,
                self.apparmor_restrict_unprivileged_userns,
                self.user_namespace_limit()
            ));
        }
        None
    }
}

fn read_u64(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn detect() -> HostSupport {
    let mut namespaces = Namespaces::empty();
    for k in Namespace::ALL {
        if std::path::Path::new(&format!("/proc/self/ns/{}", k.proc_name())).exists() {
            namespaces |= k.flag();
        }
    }
    let clone3 = clone3_usable();
    let pidfd = crate::sys::pidfd_open(std::process::id() as i32).is_ok();
    let kernel_release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    HostSupport {
        kernel_release,
        namespaces,
        clone3,
        pidfd,
        max_namespaces: Namespace::ALL
            .into_iter()
            .map(|k| (k, read_u64(k.max_sysctl())))
            .collect(),
        unprivileged_userns_clone: read_u64("/proc/sys/kernel/unprivileged_userns_clone"),
        apparmor_restrict_unprivileged_userns: read_u64(
            "/proc/sys/kernel/apparmor_restrict_unprivileged_userns",
        ),
        // SAFETY: geteuid has no preconditions.
        is_root: unsafe { libc::geteuid() } == 0,
    }
}

/// Whether `clone3(2)` can be called here, asked now: with size 0 it fails
/// with `EINVAL` when the call exists and is not filtered, `ENOSYS` when the
/// kernel lacks it, and whatever a seccomp profile returns (`EPERM` in old
/// ones) when it is filtered. A seccomp filter cannot read the arguments
/// behind the pointer, so this answer holds for every flag.
pub(crate) fn clone3_usable() -> bool {
    // SAFETY: a null pointer with size 0 is rejected before any use.
    let r = unsafe { libc::syscall(libc::SYS_clone3, std::ptr::null::<u8>(), 0usize) };
    r < 0 && crate::sys::errno() == libc::EINVAL
}

/// The host's support, probed on first call and cached for the process.
///
/// The sysctls in it may have changed since (see [`host_now`]).
pub fn host() -> &'static HostSupport {
    static CACHE: OnceLock<HostSupport> = OnceLock::new();
    CACHE.get_or_init(detect)
}

/// The host's support, probed now (not cached): what a caller that changed
/// its user namespace, its ids or a `max_*_namespaces` sysctl since the
/// first [`host`] call sees. Reads about a dozen `/proc` files.
pub fn host_now() -> HostSupport {
    detect()
}
