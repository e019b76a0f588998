//! What the container builder holds: a public [`CgroupSpec`] and the
//! crate-private `CgroupConfig` whose `prepare` runs in the parent before
//! `clone3` (see the contract in the [module docs](super)).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use super::{Backend, Cgroup, Error, Hierarchy, Resources};

/// The cgroup a container should run in: where, under which name, with
/// which limits, and whether to remove it when the container ends.
///
/// ```
/// use containment::cgroup::{CgroupSpec, Resources};
/// let spec = CgroupSpec::new()
///     .name("web")
///     .resources(Resources::new().memory_max(256 << 20).pids_max(64))
///     .remove_on_exit(true);
/// # let _ = spec;
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CgroupSpec {
    /// The parent (docker's `--cgroup-parent`): a directory inside the
    /// cgroup2 mount or a v1 hierarchy, or a path relative to their roots
    /// (the same relative path is used in every hierarchy); `None` for
    /// `containment` at the root of each.
    pub parent: Option<PathBuf>,
    /// The cgroup's name; `None` for a generated unique one
    /// (`ctr-<pid>-<n>`).
    pub name: Option<String>,
    /// The limits applied before the child starts.
    pub resources: Resources,
    /// Remove the cgroup when the container ends (as docker removes its
    /// scope when the container is killed). Default: yes.
    pub remove_on_exit: bool,
    /// The cgroup version to drive it through; `None` for the host's
    /// ([`Backend::for_host`]).
    pub backend: Option<Backend>,
    /// Make the cgroup a transient systemd scope (the [`systemd`](super::systemd)
    /// driver, docker's `--cgroup-driver=systemd`): `parent` is then a
    /// slice name (`user1.slice`; default `system.slice`) and the unit
    /// `<prefix>-<name>.scope`. `None`: write `/sys/fs/cgroup` directly.
    pub systemd: Option<super::SystemdOptions>,
}

impl Default for CgroupSpec {
    fn default() -> CgroupSpec {
        CgroupSpec {
            parent: None,
            name: None,
            resources: Resources::default(),
            remove_on_exit: true,
            backend: None,
            systemd: None,
        }
    }
}

impl From<Resources> for CgroupSpec {
    /// A spec with these limits, the default parent, a generated name, and
    /// removal when the container ends.
    fn from(resources: Resources) -> CgroupSpec {
        CgroupSpec::new().resources(resources)
    }
}

impl CgroupSpec {
    /// Default parent, generated name, no limits, removed on exit.
    pub fn new() -> CgroupSpec {
        CgroupSpec::default()
    }
    /// Sets [`parent`](Self::parent).
    pub fn parent(mut self, parent: impl Into<PathBuf>) -> CgroupSpec {
        self.parent = Some(parent.into());
        self
    }
    /// Sets [`name`](Self::name).
    pub fn name(mut self, name: impl Into<String>) -> CgroupSpec {
        self.name = Some(name.into());
        self
    }
    /// Sets [`resources`](Self::resources).
    pub fn resources(mut self, resources: Resources) -> CgroupSpec {
        self.resources = resources;
        self
    }
    /// Sets [`remove_on_exit`](Self::remove_on_exit).
    pub fn remove_on_exit(mut self, on: bool) -> CgroupSpec {
        self.remove_on_exit = on;
        self
    }

    /// Sets [`backend`](Self::backend): e.g. [`Backend::V1`] to use only
    /// the v1 hierarchies of a hybrid host.
    pub fn backend(mut self, backend: Backend) -> CgroupSpec {
        self.backend = Some(backend);
        self
    }

    /// Sets [`systemd`](Self::systemd): the cgroup becomes a transient
    /// systemd scope made over D-Bus (needs the `systemd` feature; without
    /// it the spawn is refused with [`Error::Invalid`]).
    pub fn systemd(mut self, options: super::SystemdOptions) -> CgroupSpec {
        self.systemd = Some(options);
        self
    }

    /// The name to create: the given one or `ctr-<pid>-<n>`.
    fn effective_name(&self) -> String {
        static N: AtomicU32 = AtomicU32::new(0);
        self.name.clone().unwrap_or_else(|| {
            format!(
                "ctr-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            )
        })
    }
}

/// The builder's cgroup field: `None` = the child stays in the caller's
/// cgroup.
///
/// The hierarchy (a parse of `/proc/self/mountinfo`) and the host facts
/// (online CPUs and memory nodes) are read at the first spawn and kept for
/// the next spawns of the same configuration (clones share them): ~70 µs a
/// spawn here, more with a large mount table.
#[derive(Debug, Clone, Default)]
pub(crate) struct CgroupConfig {
    pub(crate) spec: Option<CgroupSpec>,
    detected: std::sync::Arc<std::sync::OnceLock<(Hierarchy, super::HostInfo)>>,
}

// `new`, `prepare` and `remove_on_exit` are called by the container builder.
#[allow(dead_code)]
impl CgroupConfig {
    /// A config that creates `spec`.
    pub(crate) fn new(spec: CgroupSpec) -> CgroupConfig {
        CgroupConfig {
            spec: Some(spec),
            detected: Default::default(),
        }
    }

    /// Whether the cgroup should be removed when the container ends.
    pub(crate) fn remove_on_exit(&self) -> bool {
        self.spec.as_ref().is_some_and(|s| s.remove_on_exit)
    }

    /// In the parent, before `clone3`: creates the cgroup and applies the
    /// limits (validation errors name the field). `Ok(None)` when no cgroup
    /// was asked for. On an error after the directory was created, the
    /// directory is removed again.
    pub(crate) fn prepare(&self) -> Result<Option<Cgroup>, Error> {
        // No cgroup asked: do not read and parse /proc/self/mountinfo (which
        // every spawn did, ~3 ms per spawn at 1 000 mounts).
        if self.spec.is_none() {
            return Ok(None);
        }
        let (hierarchy, host) = match self.detected.get() {
            Some(d) => d,
            None => {
                let d = (Hierarchy::detect()?, super::HostInfo::detect()?);
                self.detected.get_or_init(|| d)
            }
        };
        self.prepare_in(hierarchy, Some(host))
    }

    /// [`prepare`](Self::prepare) on an explicit hierarchy and host (tests).
    pub(crate) fn prepare_in(
        &self,
        hierarchy: &Hierarchy,
        host: Option<&super::HostInfo>,
    ) -> Result<Option<Cgroup>, Error> {
        let Some(spec) = &self.spec else {
            return Ok(None);
        };
        // Validate before creating anything.
        let detected;
        let host = match host {
            Some(h) => h,
            None => {
                detected = super::HostInfo::detect()?;
                &detected
            }
        };
        spec.resources.validate(host)?;
        if let Some(opts) = &spec.systemd {
            if let Some((flag, _, reason)) = spec.resources.v1_only().first() {
                return Err(Error::NoV2Equivalent { flag, reason });
            }
            return prepare_scope(spec, opts, hierarchy);
        }
        let backend = spec
            .backend
            .unwrap_or_else(|| Backend::for_host(hierarchy.kind()));
        // A controller the hierarchy's root lacks can never be enabled
        // below it: say so before creating any directory.
        if let (Backend::V2, Ok(root), Some(mount)) = (
            backend,
            hierarchy.root_controllers(),
            hierarchy.mount_point(),
        ) {
            if let Some((flag, _, reason)) = spec.resources.v1_only().first() {
                return Err(Error::NoV2Equivalent { flag, reason });
            }
            for c in spec.resources.controllers() {
                // Device rules are a BPF program on v2, not a controller.
                if c != "devices" && !root.iter().any(|x| x == c) {
                    return Err(Error::ControllerUnavailable {
                        controller: c.to_string(),
                        file: mount.join("cgroup.controllers"),
                        available: root.join(" "),
                        hint: Some(
                            "on a hybrid host the controller is bound to a cgroup v1 hierarchy: \
                             use Backend::Hybrid (the default there) or Backend::V1",
                        ),
                    });
                }
            }
        }
        let cg = Cgroup::create_with(
            hierarchy,
            backend,
            spec.parent.as_deref(),
            &spec.effective_name(),
        )?;
        if let Err(e) = cg.apply_with_host(&spec.resources, host) {
            // Nothing joined it yet: remove every directory made.
            cg.discard();
            return Err(e);
        }
        Ok(Some(cg))
    }
}

/// The systemd driver's `prepare`: starts the scope, opens its cgroup and
/// writes the limits systemd has no property for.
#[cfg(feature = "systemd")]
fn prepare_scope(
    spec: &CgroupSpec,
    opts: &super::SystemdOptions,
    hierarchy: &Hierarchy,
) -> Result<Option<Cgroup>, Error> {
    let (slice, unit) = scope_names(spec, opts)?;
    let mount = hierarchy.require_mount()?.to_path_buf();
    let (props, rest) = super::systemd::properties(&spec.resources);
    let (scope, cgroup_path) =
        super::systemd::Scope::start(opts, &slice, &unit, &props, opts.timeout)?;
    let cg = (|| {
        let dir = hierarchy
            .dir_of(&cgroup_path)
            .ok_or_else(|| Error::NotInHierarchy {
                path: cgroup_path.clone(),
                mount: mount.clone(),
            })?;
        Cgroup::open_in(&mount, &dir)
    })();
    let mut cg = match cg {
        Ok(cg) => cg,
        Err(e) => {
            let _ = scope.stop();
            return Err(e);
        }
    };
    cg.root_cgroup = hierarchy.mount_root().to_path_buf();
    cg.scope = Some(Box::new(scope));
    if let Err(e) = cg.apply_unit_rest(&rest, &spec.resources) {
        let _ = cg.destroy();
        return Err(e);
    }
    Ok(Some(cg))
}

#[cfg(not(feature = "systemd"))]
fn prepare_scope(
    spec: &CgroupSpec,
    opts: &super::SystemdOptions,
    _: &Hierarchy,
) -> Result<Option<Cgroup>, Error> {
    let (_, unit) = scope_names(spec, opts)?;
    Err(Error::Invalid {
        field: "cgroup driver",
        value: unit,
        reason: "the systemd driver needs the crate's `systemd` feature".into(),
    })
}

/// The slice (`parent`, a slice name, or the manager's default) and the
/// unit name.
fn scope_names(spec: &CgroupSpec, opts: &super::SystemdOptions) -> Result<(String, String), Error> {
    let slice = match &spec.parent {
        None => opts.default_slice().to_string(),
        Some(p) => match p.to_str() {
            Some(s) if !s.contains('/') => s.to_string(),
            _ => {
                return Err(Error::Invalid {
                    field: "cgroup parent",
                    value: p.display().to_string(),
                    reason: "with the systemd driver the parent is a slice name \
                             (`user1.slice`), not a path"
                        .into(),
                })
            }
        },
    };
    super::systemd::slice_path(&slice)?;
    let unit = super::systemd::unit_name(&opts.prefix, &spec.effective_name())?;
    Ok((slice, unit))
}
