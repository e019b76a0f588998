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
        // SAFETY: geteuid has no preconditions (asked live: the caller may have
        // changed ids since the probe).
        self.why_not_as(k, unsafe { libc::geteuid() } == 0)
    }

    /// [`why_not`](Self::why_not) for a caller that is root or not.
    pub(crate) fn why_not_as(&self, k: Namespace, root: bool) -> Option<String> {
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
        if k == Namespace::User && !root {
            let r = self.user_namespace_restrictions();
            if !r.is_empty() {
                let text: Vec<String> = r.iter().map(|r| r.to_string()).collect();
                return Some(format!(
                    "unprivileged user namespaces are restricted on this host: {}",
                    text.join("; and ")
                ));
            }
        }
        None
    }

    /// The host settings in force that keep an unprivileged process from
    /// creating (or using) a user namespace, in the order the kernel checks
    /// them. Empty when none is in force (seccomp profiles and other LSM
    /// policies can still refuse).
    pub fn user_namespace_restrictions(&self) -> Vec<UsernsRestriction> {
        let mut out = Vec::new();
        if self.user_namespace_limit() == Some(0) {
            out.push(UsernsRestriction::MaxUserNamespaces);
        }
        if self.unprivileged_userns_clone == Some(0) {
            out.push(UsernsRestriction::UnprivilegedUsernsClone);
        }
        if self.apparmor_restrict_unprivileged_userns == Some(1) {
            out.push(UsernsRestriction::AppArmorRestrict);
        }
        out
    }
}

/// A host setting that restricts unprivileged user namespaces
/// ([`HostSupport::user_namespace_restrictions`]); its `Display` names the
/// sysctl, its value and what it does. This crate never changes them.
///
/// # References
/// - [`namespaces(7)`](https://man7.org/linux/man-pages/man7/namespaces.7.html), "/proc/sys/user"
/// - Ubuntu 23.10+: "Restricted unprivileged user namespaces" (AppArmor)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UsernsRestriction {
    /// `user.max_user_namespaces = 0` (`/proc/sys/user/max_user_namespaces`):
    /// no user namespace can be created (`ENOSPC`), by root neither; it is
    /// per user namespace, set by its owner.
    MaxUserNamespaces,
    /// `kernel.unprivileged_userns_clone = 0` (Debian's kernels before 6.x,
    /// `/proc/sys/kernel/unprivileged_userns_clone`): only a process with
    /// `CAP_SYS_ADMIN` may create one (`EPERM`).
    UnprivilegedUsernsClone,
    /// `kernel.apparmor_restrict_unprivileged_userns = 1` (Ubuntu 23.10+):
    /// an unconfined process without an AppArmor profile that allows
    /// `userns` gets a user namespace without capabilities, so writing its
    /// id maps and mounting fail with `EPERM`.
    AppArmorRestrict,
}

impl std::fmt::Display for UsernsRestriction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            UsernsRestriction::MaxUserNamespaces => {
                "user.max_user_namespaces = 0 (/proc/sys/user/max_user_namespaces): no user \
                 namespace can be created; the owner of the user namespace (root on the host) \
                 can raise it"
            }
            UsernsRestriction::UnprivilegedUsernsClone => {
                "kernel.unprivileged_userns_clone = 0 (Debian): only CAP_SYS_ADMIN may create a \
                 user namespace; root can set it to 1"
            }
            UsernsRestriction::AppArmorRestrict => {
                "kernel.apparmor_restrict_unprivileged_userns = 1 (Ubuntu): an unconfined \
                 program gets a user namespace without capabilities unless an AppArmor profile \
                 grants it `userns,` (a profile in /etc/apparmor.d for this program, or root \
                 sets the sysctl to 0)"
            }
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn fake(max_user: Option<u64>, clone: Option<u64>, apparmor: Option<u64>) -> HostSupport {
        HostSupport {
            kernel_release: "6.18.0-test".into(),
            namespaces: Namespaces::all(),
            clone3: true,
            pidfd: true,
            max_namespaces: Namespace::ALL
                .into_iter()
                .map(|k| {
                    (
                        k,
                        Some(if k == Namespace::User {
                            max_user.unwrap_or(1000)
                        } else {
                            1000
                        }),
                    )
                })
                .collect(),
            unprivileged_userns_clone: clone,
            apparmor_restrict_unprivileged_userns: apparmor,
            is_root: false,
        }
    }

    #[test]
    fn restrictions_named_one_by_one() {
        assert!(fake(None, None, None)
            .user_namespace_restrictions()
            .is_empty());
        assert!(fake(None, Some(1), Some(0)).unprivileged_user_namespaces());
        let cases = [
            (
                fake(Some(0), None, None),
                UsernsRestriction::MaxUserNamespaces,
                "max_user_namespaces",
            ),
            (
                fake(None, Some(0), None),
                UsernsRestriction::UnprivilegedUsernsClone,
                "unprivileged_userns_clone",
            ),
            (
                fake(None, Some(1), Some(1)),
                UsernsRestriction::AppArmorRestrict,
                "apparmor_restrict_unprivileged_userns",
            ),
        ];
        for (host, want, sysctl) in cases {
            assert_eq!(host.user_namespace_restrictions(), [want]);
            assert!(!host.unprivileged_user_namespaces());
            assert!(want.to_string().contains(sysctl));
            // The hint of a refused clone names that sysctl and no other.
            let why = host.why_not_as(Namespace::User, false).unwrap();
            assert!(why.contains(sysctl), "{why}");
            for other in [
                "max_user_namespaces",
                "unprivileged_userns_clone",
                "apparmor_restrict",
            ] {
                if !sysctl.contains(other) {
                    assert!(!why.contains(other), "{why} names {other}");
                }
            }
            // Root is held back only by max_user_namespaces.
            let root = host.why_not_as(Namespace::User, true);
            assert_eq!(
                root.is_some(),
                want == UsernsRestriction::MaxUserNamespaces,
                "{root:?}"
            );
        }
        let all = fake(Some(0), Some(0), Some(1)).user_namespace_restrictions();
        assert_eq!(all.len(), 3);
    }
}
