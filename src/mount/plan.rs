//! The parent prepares a [`MountPlan`] from the [`FsConfig`]; the child
//! applies it between clone and exec.
//!
//! Child-side rules (see `DESIGN.md`): no allocation, no locks, no panics;
//! every string is a `CString` made in the parent; fds are `OwnedFd`s (their
//! `Drop` is a bare `close(2)`); errors are `{step, index, errno}`.
//!
//! Order in the child:
//! 1. propagation of `/` (private by default);
//! 2. the root: an overlay mounted on its merged directory, or the root
//!    directory bind-mounted onto itself (`MS_BIND | MS_REC`); then an
//!    `O_PATH` descriptor of it that every later lookup is relative to;
//! 3. `/proc`, `/dev`, the user's mounts in order, masked paths, read-only
//!    paths, the read-only root, all **before** the pivot, with every
//!    target resolved by `openat2(root, path, RESOLVE_IN_ROOT)` so a
//!    symlink in the rootfs (`etc -> /etc`, `../../x`) stays inside it;
//!    mounts go onto the resolved descriptor (`move_mount` with
//!    `MOVE_MOUNT_T_EMPTY_PATH`, or `mount(2)` on `/proc/self/fd/N` as runc's
//!    `mountViaFds` does, formatted into a stack buffer); a masked or
//!    read-only path under a mount of the plan is looked up beneath that
//!    mount's root (its descriptor kept in `MountPlan::anchors`), so a root
//!    changed meanwhile cannot move the mask beside the mount;
//! 4. `pivot_root(".", ".")` after `fchdir(root)`, then the old root made
//!    private and detached with `umount2(".", MNT_DETACH)` (the trick runc
//!    and lxc use: no directory for the old root is needed, so a read-only
//!    root works), or `chroot(".")` when asked.

use super::device::DeviceNode;
use super::rootfs::{host_root_is_initramfs, DevSpec, Overlay, RootKind, RootMode, Rootfs};
use super::spec::{Mount, MountKind, Propagation};
use crate::error::{ChildFailure, Step};
use crate::namespace::Namespaces;
use crate::sys::mount_api as m;
use crate::SpawnError;
use std::ffi::{CStr, CString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};

/// What the container collected about the container's filesystem view.
#[derive(Debug, Default, Clone)]
pub(crate) struct FsConfig {
    /// Mount a fresh proc on /proc (`None`: yes when the PID namespace is
    /// new or a root is set).
    pub(crate) mount_proc: Option<bool>,
    /// The new root.
    pub(crate) root: Option<Rootfs>,
    /// pivot_root or chroot.
    pub(crate) root_mode: RootMode,
    /// The user's mounts, in order.
    pub(crate) mounts: Vec<Mount>,
    /// Remount the root read-only after setup.
    pub(crate) readonly_root: bool,
    /// Paths hidden behind /dev/null or an empty read-only tmpfs.
    pub(crate) masked_paths: Vec<PathBuf>,
    /// Paths bind-mounted read-only onto themselves.
    pub(crate) readonly_paths: Vec<PathBuf>,
    /// Propagation of the container's mounts.
    pub(crate) propagation: Propagation,
    /// What /dev holds (`None`: minimal with a root, untouched without).
    pub(crate) dev: Option<DevSpec>,
    /// Size of /dev/shm in the minimal /dev.
    pub(crate) shm_size: Option<u64>,
    /// The root as an idmapped mount of the container's user namespace.
    pub(crate) idmapped_root: bool,
    /// Device nodes made inside the root (ocicfg additions).
    pub(crate) devices: Vec<DeviceNode>,
}

/// A path inside the container, split for a lookup inside the root.
#[derive(Debug)]
struct Target {
    /// As the user wrote it, normalised (`/a/b`).
    shown: String,
    /// Relative to the root (`a/b`).
    rel: CString,
    /// `a`, `a/b`: each prefix, to open and create what is missing.
    prefixes: Vec<CString>,
    /// `a`, `b`: each component name.
    names: Vec<CString>,
    /// Create a file (not a directory) when the last component is missing.
    file: bool,
}

#[derive(Debug)]
enum OverlayData {
    /// The whole option string.
    Fixed(CString),
    /// The lower layers: the child opens them, puts a tmpfs on the target
    /// for the upper and work directories, and names everything to
    /// overlayfs as `/proc/self/fd/N`.
    Ephemeral(Vec<CString>),
}

#[derive(Debug)]
enum Action {
    Bind {
        source: CString,
        recursive: bool,
        attr: u64,
    },
    /// An idmapped bind: the parent makes the tree, the child attaches it
    /// from `MountPlan::idmaps[n]`'s slot.
    IdmappedBind(usize),
    Fs {
        fstype: &'static CStr,
        /// The source name (`None`: the type).
        source: Option<CString>,
        flags: libc::c_ulong,
        data: Option<CString>,
    },
    Overlay {
        flags: libc::c_ulong,
        data: OverlayData,
    },
}

#[derive(Debug)]
struct MountOp {
    target: Target,
    action: Action,
    desc: String,
    /// Slot in [`MountPlan::anchors`] that keeps a descriptor of this
    /// mount's root, when a masked or read-only path lies under it.
    anchor: Option<usize>,
    /// `MS_*` propagation set once attached (0: none), and whether with
    /// `AT_RECURSIVE`.
    propagation: (u64, bool),
}

/// A masked or read-only path, and where it is looked up in the child.
#[derive(Debug)]
struct Hidden {
    target: Target,
    /// `(slot, rest)`: the path lies under a mount this plan makes; `rest`
    /// is looked up beneath that mount's root (`RESOLVE_BENEATH`), so the
    /// mask lands on the filesystem that was mounted even when the root's
    /// symlinks changed meanwhile (a racing container sharing the root).
    /// `None`: looked up in the root (`RESOLVE_IN_ROOT`).
    anchored: Option<(usize, CString)>,
}

#[derive(Debug)]
enum RootSetup {
    Bind,
    Overlay {
        data: OverlayData,
        desc: String,
    },
    /// A detached overlay the caller made ([`super::PreparedRoot`]),
    /// attached by the child from descriptor `fd` (-1 until
    /// [`MountPlan::take_prepared`] put it above the dup2 targets).
    Prepared {
        fd: i32,
        desc: String,
    },
}

#[derive(Debug)]
struct RootPlan {
    /// Host path of the root (the merged directory for an overlay).
    host: CString,
    /// Index in `MountPlan::idmaps` when the root is idmapped.
    idmap: Option<usize>,
    shown: String,
    setup: RootSetup,
    chroot: bool,
}

/// A device node to make in the child (see [`DeviceNode`]).
#[derive(Debug)]
struct DeviceOp {
    /// The parent directory inside the root (`None`: the root itself).
    parent: Option<Target>,
    /// The last component.
    name: CString,
    /// `S_IF*` type and permission bits.
    mode: libc::mode_t,
    /// `makedev(major, minor)`.
    dev: libc::dev_t,
    /// Owner (`u32::MAX`: unchanged).
    uid: u32,
    gid: u32,
    /// In a user namespace: the host's node to bind instead of `mknod`.
    host: Option<CString>,
    shown: String,
}

#[derive(Debug)]
enum DevPlan {
    Minimal { target: Target, shm_data: CString },
    Host { target: Target },
}

/// The filesystem steps, ready for the child.
#[derive(Debug)]
pub(crate) struct MountPlan {
    propagation: libc::c_ulong,
    post_propagation: Option<libc::c_ulong>,
    root: Option<RootPlan>,
    proc_target: Option<Target>,
    /// Slot of the proc mount in `anchors`.
    proc_anchor: Option<usize>,
    /// Slot of the /dev mount in `anchors`.
    dev_anchor: Option<usize>,
    dev: Option<DevPlan>,
    mounts: Vec<MountOp>,
    devices: Vec<DeviceOp>,
    masked: Vec<Hidden>,
    readonly_paths: Vec<Hidden>,
    /// Descriptors of mount roots kept from their mount to the masks (-1:
    /// none), allocated in the parent; the child only stores and closes.
    anchors: Box<[AtomicI32]>,
    readonly_root: bool,
    user_ns: bool,
    /// The idmapped trees the parent makes after clone and sends to the
    /// child, which receives them onto the slots.
    idmaps: Vec<IdmapReq>,
    /// No mount namespace: only `chroot` into the root, no mount at all
    /// (see `FsConfig::chroot_only_plan`).
    chroot_only: bool,
    /// Parent only: the prepared root's detached overlay, taken from its
    /// [`super::PreparedRoot`] until [`MountPlan::take_prepared`] moves it
    /// into the spawn's kept descriptors (closed with the plan otherwise).
    prepared: Option<OwnedFd>,
}

/// Most idmapped mounts in one container (one `SCM_RIGHTS` message).
pub(crate) const MAX_IDMAPS: usize = 16;

/// An idmapped tree: made by the parent once the child's user namespace has
/// its maps, attached by the child.
#[derive(Debug)]
struct IdmapReq {
    /// Host path (absolute, canonical).
    source: CString,
    recursive: bool,
    /// `MOUNT_ATTR_*` set beside `MOUNT_ATTR_IDMAP`.
    attr: u64,
    /// The descriptor number the child puts the received tree at (a
    /// placeholder the parent opened above the dup2 targets; -1 until
    /// allocated).
    slot: i32,
}

fn invalid(
    field: &'static str,
    value: impl std::fmt::Debug,
    reason: impl Into<String>,
) -> SpawnError {
    SpawnError::invalid(field, value, reason)
}

fn cstring(field: &'static str, bytes: &[u8]) -> Result<CString, SpawnError> {
    CString::new(bytes)
        .map_err(|_| invalid(field, String::from_utf8_lossy(bytes), "contains a NUL byte"))
}

/// Validates a path inside the container: absolute, no `..`, not `/`.
fn container_path(field: &'static str, p: &Path, file: bool) -> Result<Target, SpawnError> {
    if !p.is_absolute() {
        return Err(invalid(
            field,
            p,
            "must be an absolute path inside the container",
        ));
    }
    let mut names = Vec::new();
    for c in p.components() {
        match c {
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                return Err(invalid(field, p, "`..` components are not allowed"))
            }
            Component::Normal(n) => names.push(n.as_bytes().to_vec()),
            Component::Prefix(_) => return Err(invalid(field, p, "not a Linux path")),
        }
    }
    if names.is_empty() {
        return Err(invalid(
            field,
            p,
            "the container's `/` itself cannot be a target (set the root instead)",
        ));
    }
    let rel = names.join(&b'/');
    let mut prefixes = Vec::with_capacity(names.len());
    for i in 1..=names.len() {
        prefixes.push(cstring(field, &names[..i].join(&b'/'))?);
    }
    Ok(Target {
        shown: format!("/{}", String::from_utf8_lossy(&rel)),
        rel: cstring(field, &rel)?,
        prefixes,
        names: names
            .iter()
            .map(|n| cstring(field, n))
            .collect::<Result<_, _>>()?,
        file,
    })
}

/// [`container_path`] for the fuzz targets: `(shown, rel, names)`.
#[cfg(fuzzing)]
pub(crate) fn container_path_parts(p: &Path) -> Result<crate::fuzzing::PathParts, SpawnError> {
    let t = container_path("mount target", p, false)?;
    if t.prefixes.len() != t.names.len() {
        return Err(invalid("mount target", p, "prefixes and names disagree"));
    }
    Ok((
        t.shown,
        t.rel.into_bytes(),
        t.names.into_iter().map(CString::into_bytes).collect(),
    ))
}

/// A host path that must exist: made absolute and canonical.
fn host_path(field: &'static str, p: &Path, want_dir: Option<bool>) -> Result<PathBuf, SpawnError> {
    if !p.is_absolute() {
        return Err(invalid(field, p, "must be an absolute path"));
    }
    let c = std::fs::canonicalize(p)
        .map_err(|e| invalid(field, p, format!("cannot be resolved: {e}")))?;
    if let Some(dir) = want_dir {
        let md = std::fs::metadata(&c).map_err(|e| invalid(field, p, e.to_string()))?;
        if dir && !md.is_dir() {
            return Err(invalid(field, p, "is not a directory"));
        }
    }
    Ok(c)
}

/// [`host_root_is_initramfs`], remembered per mount: the answer for the
/// mount at the calling thread's `/`, keyed by its unique mount id
/// (`statx(2)` `STATX_MNT_ID_UNIQUE`, Linux 6.8: never reused, unlike the
/// 32-bit id), so that a spawn with a root does not generate
/// `/proc/self/mountinfo` each time (~80 µs here with 28 mounts). A new
/// root (chroot, pivot_root, a joined mount namespace) is another mount, so
/// it is read again; without the unique id nothing is remembered.
fn root_is_initramfs_cached() -> bool {
    use std::sync::atomic::{AtomicU64, Ordering};
    // The mount id and its answer, packed: id << 1 | answer (0: none yet;
    // unique ids are far below 2^63).
    static CACHE: AtomicU64 = AtomicU64::new(0);
    let id = root_mount_unique_id();
    if let Some(id) = id.filter(|id| *id < 1 << 62) {
        let c = CACHE.load(Ordering::Relaxed);
        if c != 0 && c >> 1 == id {
            return c & 1 == 1;
        }
    }
    let answer = host_root_is_initramfs();
    if let Some(id) = id.filter(|id| *id < 1 << 62) {
        CACHE.store(id << 1 | answer as u64, Ordering::Relaxed);
    }
    answer
}

/// The unique id of the mount at the calling thread's `/`, when the kernel
/// reports one.
fn root_mount_unique_id() -> Option<u64> {
    // SAFETY: an all-zero statx is a valid value to be overwritten.
    let mut st: libc::statx = unsafe { std::mem::zeroed() };
    // SAFETY: a static NUL-terminated path and a live out buffer.
    let r = unsafe {
        libc::statx(
            libc::AT_FDCWD,
            c"/".as_ptr(),
            0,
            libc::STATX_MNT_ID_UNIQUE,
            &mut st,
        )
    };
    (r == 0 && st.stx_mask & libc::STATX_MNT_ID_UNIQUE != 0 && st.stx_mnt_id != 0)
        .then_some(st.stx_mnt_id)
}

fn flags_text(flags: libc::c_ulong) -> String {
    let names = [
        (libc::MS_RDONLY, "MS_RDONLY"),
        (libc::MS_NOSUID, "MS_NOSUID"),
        (libc::MS_NODEV, "MS_NODEV"),
        (libc::MS_NOEXEC, "MS_NOEXEC"),
        (libc::MS_BIND, "MS_BIND"),
        (libc::MS_REC, "MS_REC"),
    ];
    let v: Vec<&str> = names
        .iter()
        .filter(|(f, _)| flags & f != 0)
        .map(|(_, n)| *n)
        .collect();
    if v.is_empty() {
        "no flags".into()
    } else {
        v.join("|")
    }
}

fn mount_flags(m: &Mount) -> libc::c_ulong {
    let mut f = 0;
    if m.read_only {
        f |= libc::MS_RDONLY;
    }
    if m.nosuid {
        f |= libc::MS_NOSUID;
    }
    if m.nodev {
        f |= libc::MS_NODEV;
    }
    if m.noexec {
        f |= libc::MS_NOEXEC;
    }
    f
}

/// The largest mount(2) data string: one page, NUL included.
const MAX_DATA: usize = 4096;
/// At most this many lower layers in an ephemeral overlay: each is named as
/// `/proc/self/fd/N` (up to 24 bytes) in a one-page option string.
const MAX_EPHEMERAL_LOWERS: usize = 128;

/// The mount data of an overlay, how it is shown in errors, and the
/// resolved path of its top-most lower layer (the default merged directory,
/// so that the root's plan does not resolve it a second time).
fn overlay_data(
    field: &'static str,
    o: &Overlay,
) -> Result<(OverlayData, String, PathBuf), SpawnError> {
    if o.lowers.is_empty() {
        return Err(invalid(
            field,
            &o.lowers,
            "an overlay needs at least one lower layer",
        ));
    }
    let check = |what: &'static str, p: &Path| -> Result<PathBuf, SpawnError> {
        let c = host_path(what, p, Some(true))?;
        if c.as_os_str()
            .as_bytes()
            .iter()
            .any(|b| matches!(b, b',' | b':' | b'\\'))
        {
            return Err(invalid(
                what,
                p,
                "overlay layer paths cannot contain `,`, `:` or `\\`",
            ));
        }
        Ok(c)
    };
    let mut lowers = Vec::new();
    let mut top = None;
    for l in &o.lowers {
        let c = check("overlay lower layer", l)?;
        lowers.push(c.as_os_str().as_bytes().to_vec());
        top.get_or_insert(c);
    }
    let top = top.unwrap_or_default();
    let mut data = b"lowerdir=".to_vec();
    data.extend_from_slice(&lowers.join(&b':'));
    // image additions: the option goes first, the ephemeral shape's data is
    // built in the child from "lowerdir=" on.
    if o.user_xattr {
        if o.upper.is_none() {
            return Err(invalid(
                field,
                "userxattr",
                "an ephemeral overlay does not take `userxattr`: give a kept upper layer",
            ));
        }
        data.splice(0..0, b"userxattr,".iter().copied());
    }
    if o.volatile {
        if o.upper.is_none() || o.is_read_only() {
            return Err(invalid(
                field,
                "volatile",
                "`volatile` needs a kept upper layer (it is about syncing the upper)",
            ));
        }
        data.splice(0..0, b"volatile,".iter().copied());
        // overlayfs leaves WORK/work/incompat/volatile behind and refuses
        // that work directory until it is gone; a Container mounts its
        // overlay again for every process it spawns, so the marker of the
        // previous mount goes here, in the parent, before each one.
        // (`remove_dir_all` does not follow symlinks.)
        if let Some((_, work)) = &o.upper {
            let marker = work.join("work/incompat/volatile");
            if marker.symlink_metadata().is_ok() {
                std::fs::remove_dir_all(&marker).map_err(|e| {
                    invalid(
                        field,
                        "volatile",
                        format!("removing the previous mount's {}: {e}", marker.display()),
                    )
                })?;
            }
        }
    }
    let d = match &o.upper {
        Some(_) if o.is_read_only() => {
            let s = String::from_utf8_lossy(&data).into_owned();
            (OverlayData::Fixed(cstring(field, &data)?), s)
        }
        Some((upper, work)) => {
            let u = check("overlay upper", upper)?;
            let w = check("overlay work", work)?;
            data.extend_from_slice(b",upperdir=");
            data.extend_from_slice(u.as_os_str().as_bytes());
            data.extend_from_slice(b",workdir=");
            data.extend_from_slice(w.as_os_str().as_bytes());
            let s = String::from_utf8_lossy(&data).into_owned();
            (OverlayData::Fixed(cstring(field, &data)?), s)
        }
        None => {
            if lowers.len() > MAX_EPHEMERAL_LOWERS {
                return Err(invalid(
                    field,
                    o.lowers.len(),
                    format!(
                        "an ephemeral overlay takes at most {MAX_EPHEMERAL_LOWERS} lower layers"
                    ),
                ));
            }
            let s = format!(
                "{} (each layer as /proc/self/fd/N), upper and work on a container-private tmpfs",
                String::from_utf8_lossy(&data)
            );
            let lowers = lowers
                .iter()
                .map(|l| cstring(field, l))
                .collect::<Result<Vec<_>, _>>()?;
            (OverlayData::Ephemeral(lowers), s)
        }
    };
    if let OverlayData::Fixed(c) = &d.0 {
        if c.as_bytes_with_nul().len() > MAX_DATA {
            return Err(invalid(field, &d.1, "the overlay options exceed one page (4096 bytes): use fewer or shorter layer paths"));
        }
    }
    Ok((d.0, d.1, top))
}

fn prepare_mount(i: usize, mnt: &Mount, idmaps: &mut Vec<IdmapReq>) -> Result<MountOp, SpawnError> {
    let mut flags = mount_flags(mnt);
    if mnt.idmapped && !matches!(mnt.kind, MountKind::Bind { .. }) {
        return Err(invalid(
            "mount idmapped",
            mnt.kind.name(),
            "only a bind mount can be idmapped",
        ));
    }
    let (action, src, file) = match &mnt.kind {
        MountKind::Bind { source, recursive } => {
            let src = host_path("bind source", source, None)?;
            let is_dir = std::fs::metadata(&src)
                .map_err(|e| invalid("bind source", source, e.to_string()))?
                .is_dir();
            let mut attr = 0;
            if mnt.read_only {
                attr |= m::MOUNT_ATTR_RDONLY;
            }
            if mnt.nosuid {
                attr |= m::MOUNT_ATTR_NOSUID;
            }
            if mnt.nodev {
                attr |= m::MOUNT_ATTR_NODEV;
            }
            if mnt.noexec {
                attr |= m::MOUNT_ATTR_NOEXEC;
            }
            flags |= libc::MS_BIND | if *recursive { libc::MS_REC } else { 0 };
            let source = cstring("bind source", src.as_os_str().as_bytes())?;
            let action = if mnt.idmapped {
                idmaps.push(IdmapReq {
                    source,
                    recursive: *recursive,
                    attr,
                    slot: -1,
                });
                Action::IdmappedBind(idmaps.len() - 1)
            } else {
                Action::Bind {
                    source,
                    recursive: *recursive,
                    attr,
                }
            };
            (
                action,
                format!(
                    "{}{} ",
                    src.display(),
                    if mnt.idmapped { " (idmapped)" } else { "" }
                ),
                !is_dir,
            )
        }
        MountKind::Overlay(o) => {
            let (data, shown, _) = overlay_data("overlay", o)?;
            (
                Action::Overlay { flags, data },
                format!("[{shown}] "),
                false,
            )
        }
        kind => {
            let (fstype, data): (&'static CStr, Option<String>) = match kind {
                MountKind::Tmpfs { size, mode } => {
                    let mut d = Vec::new();
                    if let Some(s) = size {
                        d.push(format!("size={s}"));
                    }
                    if let Some(m) = mode {
                        if *m > 0o7777 {
                            return Err(invalid(
                                "tmpfs mode",
                                format!("{m:o}"),
                                "must be at most 07777",
                            ));
                        }
                        d.push(format!("mode={m:o}"));
                    }
                    (c"tmpfs", (!d.is_empty()).then(|| d.join(",")))
                }
                MountKind::Proc => (c"proc", None),
                MountKind::Sysfs => (c"sysfs", None),
                MountKind::Devpts => (
                    c"devpts",
                    Some("newinstance,ptmxmode=0666,mode=0620".to_string()),
                ),
                MountKind::Mqueue => (c"mqueue", None),
                MountKind::Cgroup2 => (c"cgroup2", None),
                MountKind::Bind { .. } | MountKind::Overlay(_) => unreachable_kind(),
            };
            let data = match data {
                Some(d) => Some(cstring("mount data", d.as_bytes())?),
                None => None,
            };
            let source = match &mnt.source_name {
                Some(n) => Some(cstring("mount source name", n.as_bytes())?),
                None => None,
            };
            (
                Action::Fs {
                    fstype,
                    source,
                    flags,
                    data,
                },
                String::new(),
                false,
            )
        }
    };
    let target = container_path("mount target", &mnt.target, file)?;
    let data_text = match &action {
        Action::Fs { data: Some(d), .. } => format!(", {}", d.to_string_lossy()),
        _ => String::new(),
    };
    let prop_text = match mnt.propagation {
        Some((p, rec)) => format!(
            ", then {}{}",
            if rec { "recursively " } else { "" },
            match p {
                Propagation::Private => "private",
                Propagation::Slave => "slave",
                Propagation::Shared => "shared",
                Propagation::Unbindable => "unbindable",
            }
        ),
        None => String::new(),
    };
    let desc = format!(
        "mount {i}: {} {src}on {} ({}{data_text}{prop_text})",
        mnt.kind.name(),
        target.shown,
        flags_text(flags)
    );
    Ok(MountOp {
        target,
        action,
        desc,
        anchor: None,
        propagation: mnt
            .propagation
            .map_or((0, false), |(p, rec)| (p.flag(), rec)),
    })
}

/// Checks a device node and prepares its step (parent side).
fn prepare_device(d: &DeviceNode, has_root: bool, user_ns: bool) -> Result<DeviceOp, SpawnError> {
    const FIELD: &str = "device";
    if !has_root {
        return Err(invalid(
            FIELD,
            &d.path,
            "device nodes are made inside a root of the container's own (root or rootfs): \
             without one they would be made on the host's filesystem",
        ));
    }
    if d.mode > 0o7777 {
        return Err(invalid(
            FIELD,
            format!("{} mode {:o}", d.path.display(), d.mode),
            "the mode must be at most 07777",
        ));
    }
    let t = container_path(FIELD, &d.path, true)?;
    let name = t
        .names
        .last()
        .cloned()
        .ok_or_else(|| invalid(FIELD, &d.path, "empty"))?;
    let parent = match t.names.len() {
        0 | 1 => None,
        n => {
            let rel: Vec<&[u8]> = t.names[..n - 1].iter().map(|c| c.as_bytes()).collect();
            let p = PathBuf::from(std::ffi::OsStr::from_bytes(
                &[b"/".as_slice(), &rel.join(&b'/')].concat(),
            ));
            Some(container_path(FIELD, &p, false)?)
        }
    };
    let dev = libc::makedev(d.major, d.minor);
    let kind = d.kind.mode_bits();
    let host = if user_ns && kind != libc::S_IFIFO {
        // No mknod of a device in a user namespace: the host's own node,
        // which must be this very device.
        let md = std::fs::symlink_metadata(&d.path).map_err(|e| {
            invalid(
                FIELD,
                &d.path,
                format!(
                    "in a user namespace a device is a bind of the host's node at the same path, \
                     which cannot be read: {e}"
                ),
            )
        })?;
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let same_type = match d.kind {
            super::DeviceKind::Char => md.file_type().is_char_device(),
            super::DeviceKind::Block => md.file_type().is_block_device(),
            super::DeviceKind::Fifo => md.file_type().is_fifo(),
        };
        if !same_type || md.rdev() != dev {
            return Err(invalid(
                FIELD,
                format!("{} {}:{}", d.path.display(), d.major, d.minor),
                "in a user namespace a device is a bind of the host's node at the same path, \
                 and the host has another file or device there",
            ));
        }
        Some(cstring(FIELD, d.path.as_os_str().as_bytes())?)
    } else {
        None
    };
    Ok(DeviceOp {
        shown: format!(
            "{} {}{}",
            t.shown,
            match d.kind {
                super::DeviceKind::Char => "c",
                super::DeviceKind::Block => "b",
                super::DeviceKind::Fifo => "p",
            },
            if kind == libc::S_IFIFO {
                String::new()
            } else {
                format!(" {}:{}", d.major, d.minor)
            }
        ),
        parent,
        name,
        mode: kind | d.mode as libc::mode_t,
        dev: if kind == libc::S_IFIFO { 0 } else { dev },
        uid: d.uid.unwrap_or(u32::MAX),
        gid: d.gid.unwrap_or(u32::MAX),
        host,
    })
}

// The kinds handled above never reach the generic arm; keep the match total
// without a panic path.
#[inline]
fn unreachable_kind() -> (&'static CStr, Option<String>) {
    (c"none", None)
}

/// The host directories of an overlay's layers (lower, upper, work).
fn layer_paths(d: &OverlayData) -> Vec<String> {
    match d {
        OverlayData::Ephemeral(lowers) => lowers
            .iter()
            .map(|l| l.to_string_lossy().into_owned())
            .collect(),
        OverlayData::Fixed(c) => c
            .to_string_lossy()
            .split(',')
            .flat_map(|opt| match opt.split_once('=') {
                Some(("lowerdir", v)) => v.split(':').map(str::to_string).collect(),
                Some(("upperdir" | "workdir", v)) => vec![v.to_string()],
                _ => Vec::new(),
            })
            .collect(),
    }
}

/// The mount points of a mountinfo text that lie strictly below one of
/// `dirs` (at most 5).
fn mounts_below(mountinfo: &str, dirs: &[String]) -> Vec<String> {
    let mut v: Vec<String> = mountinfo
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| {
            dirs.iter().any(|d| {
                let d = d.trim_end_matches('/');
                p.len() > d.len() + 1 && p.starts_with(d) && p.as_bytes()[d.len()] == b'/'
            })
        })
        .map(str::to_string)
        .collect();
    v.dedup();
    v.truncate(5);
    v
}

/// Whether `prefix` is `names` or a leading part of it, component-wise.
fn is_prefix(prefix: &[CString], names: &[CString]) -> bool {
    prefix.len() <= names.len() && prefix.iter().zip(names).all(|(a, b)| a == b)
}

/// Where a masked or read-only path is looked up in the child: under the
/// last mount of this plan whose target is a leading part of it (that
/// mount covers every earlier one on the way), when the child can keep a
/// descriptor of that mount's root (proc, the data-less filesystems, binds).
fn anchor_for(
    t: &Target,
    early: [(Option<&Target>, &mut Option<usize>); 2],
    mounts: &mut [MountOp],
    slots: &mut usize,
) -> Result<Option<(usize, CString)>, SpawnError> {
    let mut slot = |s: &mut Option<usize>| {
        *s.get_or_insert_with(|| {
            *slots += 1;
            *slots - 1
        })
    };
    let over = |m: &Target| is_prefix(&m.names, &t.names);
    let (s, depth) = match mounts.iter().rposition(|op| over(&op.target)) {
        Some(i) => {
            let op = &mut mounts[i];
            let anchorable = match &op.action {
                Action::Bind { .. } | Action::IdmappedBind(_) => true,
                Action::Fs { data, .. } => data.is_none(),
                Action::Overlay { .. } => false,
            };
            if !anchorable {
                return Ok(None);
            }
            (slot(&mut op.anchor), op.target.names.len())
        }
        // /proc, then /dev: the later one wins.
        None => match early
            .into_iter()
            .rev()
            .find_map(|(t, s)| t.filter(|t| over(t)).map(|t| (t, s)))
        {
            Some((t, s)) => (slot(s), t.names.len()),
            None => return Ok(None),
        },
    };
    let rest: Vec<&[u8]> = t.names[depth..].iter().map(|n| n.as_bytes()).collect();
    let rest = if rest.is_empty() {
        b".".to_vec()
    } else {
        rest.join(&b'/')
    };
    Ok(Some((s, cstring("masked path", &rest)?)))
}

impl FsConfig {
    /// Without a mount namespace, a directory root with
    /// [`RootMode::Chroot`] and nothing else of the filesystem view (no
    /// mount, no /proc, no /dev, no mask, no device, default propagation):
    /// a `chroot(2)` in the caller's mount namespace, which changes no
    /// mount (the OCI case of a container that inherits the runtime's mount
    /// namespace). `None` when the configuration is anything else.
    fn chroot_only_plan(&self) -> Result<Option<MountPlan>, SpawnError> {
        let Some(Rootfs {
            kind: RootKind::Dir(dir),
            ..
        }) = &self.root
        else {
            return Ok(None);
        };
        let only_root = self.root_mode == RootMode::Chroot
            && self.mounts.is_empty()
            && self.devices.is_empty()
            && !self.readonly_root
            && self.masked_paths.is_empty()
            && self.readonly_paths.is_empty()
            && self.propagation == Propagation::Private
            && matches!(self.dev, None | Some(DevSpec::Keep))
            && self.mount_proc != Some(true)
            && self.shm_size.is_none()
            && !self.idmapped_root;
        if !only_root {
            return Ok(None);
        }
        let c = host_path("root", dir, Some(true))?;
        Ok(Some(MountPlan {
            propagation: 0,
            post_propagation: None,
            root: Some(RootPlan {
                host: cstring("root", c.as_os_str().as_bytes())?,
                idmap: None,
                shown: c.display().to_string(),
                setup: RootSetup::Bind,
                chroot: true,
            }),
            proc_target: None,
            proc_anchor: None,
            dev_anchor: None,
            dev: None,
            mounts: Vec::new(),
            devices: Vec::new(),
            masked: Vec::new(),
            readonly_paths: Vec::new(),
            anchors: Box::new([]),
            readonly_root: false,
            user_ns: false,
            idmaps: Vec::new(),
            chroot_only: true,
            prepared: None,
        }))
    }

    /// The first setting that needs a mount namespace, with its value.
    fn is_default(&self) -> Option<(&'static str, String)> {
        // Plain text: the error quotes the value once (a Debug dump here
        // was quoted again, escapes and all).
        let v = |x: &dyn std::fmt::Debug| format!("{x:?}");
        let paths = |p: &[PathBuf]| {
            p.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Some(r) = &self.root {
            Some((
                "root",
                match &r.kind {
                    RootKind::Dir(d) => d.display().to_string(),
                    RootKind::Overlay(_) => "an overlay".into(),
                    RootKind::Prepared(p) => format!("a prepared root on {}", p.merged.display()),
                },
            ))
        } else if let Some(m) = self.mounts.first() {
            Some((
                "mount",
                format!("{} on {}", m.kind.name(), m.target.display()),
            ))
        } else if let Some(d) = self.devices.first() {
            Some(("device", d.path.display().to_string()))
        } else if self.readonly_root {
            Some(("read_only_root", "true".into()))
        } else if !self.masked_paths.is_empty() {
            Some(("masked_paths", paths(&self.masked_paths)))
        } else if !self.readonly_paths.is_empty() {
            Some(("read_only_paths", paths(&self.readonly_paths)))
        } else if self.propagation != Propagation::Private {
            Some(("propagation", v(&self.propagation)))
        } else if let Some(d) = &self.dev {
            Some(("dev", v(d)))
        } else if let Some(s) = &self.shm_size {
            Some(("shm_size", v(s)))
        } else if self.mount_proc == Some(true) {
            Some(("mount_proc", "true".into()))
        } else {
            None
        }
    }

    /// Validates and prepares the plan in the parent. `ns` are the new
    /// namespaces the child gets (`Namespaces::USER` in it means a new user
    /// namespace: no `mknod`, and proc/sysfs mounts have extra conditions).
    pub(crate) fn plan(&self, ns: Namespaces) -> Result<Option<MountPlan>, SpawnError> {
        if !ns.contains(Namespaces::MOUNT) {
            if let Some(p) = self.chroot_only_plan()? {
                return Ok(Some(p));
            }
            if let Some((field, value)) = self.is_default() {
                return Err(invalid(
                    field,
                    value,
                    "mounts and a changed root need a new mount namespace (Namespaces::MOUNT)",
                ));
            }
            return Ok(None);
        }
        let user_ns = ns.contains(Namespaces::USER);
        let (propagation, post_propagation) = match (self.propagation, self.root.is_some()) {
            (Propagation::Private, _) => (libc::MS_REC | libc::MS_PRIVATE, None),
            (Propagation::Slave, _) => (libc::MS_REC | libc::MS_SLAVE, None),
            (Propagation::Shared, false) => (libc::MS_REC | libc::MS_SHARED, None),
            (Propagation::Shared, true) => (
                libc::MS_REC | libc::MS_SLAVE,
                Some(libc::MS_REC | libc::MS_SHARED),
            ),
            (Propagation::Unbindable, false) => (libc::MS_REC | libc::MS_UNBINDABLE, None),
            (Propagation::Unbindable, true) => (
                libc::MS_REC | libc::MS_SLAVE,
                Some(libc::MS_REC | libc::MS_UNBINDABLE),
            ),
        };

        let mut idmaps = Vec::new();
        if self.idmapped_root && !user_ns {
            return Err(invalid(
                "idmapped_root",
                true,
                "an idmapped mount carries the container's user namespace: add Namespaces::USER",
            ));
        }
        if self.mounts.iter().any(|m| m.idmapped) && !user_ns {
            return Err(invalid(
                "mount idmapped",
                true,
                "an idmapped mount carries the container's user namespace: add Namespaces::USER",
            ));
        }
        let mut prepared = None;
        let root = match &self.root {
            None if self.idmapped_root => {
                return Err(invalid(
                    "idmapped_root",
                    true,
                    "needs a root directory (root or rootfs)",
                ))
            }
            None => None,
            Some(r) => {
                let chroot = match self.root_mode {
                    RootMode::Chroot => true,
                    RootMode::PivotRoot => false,
                    RootMode::Auto => root_is_initramfs_cached(),
                };
                Some(match &r.kind {
                    RootKind::Dir(p) => {
                        let c = host_path("root", p, Some(true))?;
                        let host = cstring("root", c.as_os_str().as_bytes())?;
                        let idmap = self.idmapped_root.then(|| {
                            idmaps.push(IdmapReq {
                                source: host.clone(),
                                recursive: true,
                                attr: 0,
                                slot: -1,
                            });
                            idmaps.len() - 1
                        });
                        RootPlan {
                            host,
                            idmap,
                            shown: c.display().to_string(),
                            setup: RootSetup::Bind,
                            chroot,
                        }
                    }
                    RootKind::Prepared(_) if self.idmapped_root => {
                        return Err(invalid(
                            "idmapped_root",
                            true,
                            "a prepared root cannot be idmapped",
                        ))
                    }
                    RootKind::Prepared(p) => {
                        if user_ns {
                            return Err(invalid(
                                "root",
                                format!("a prepared root on {}", p.merged.display()),
                                "a prepared root is mounted with the caller's credentials in the \
                                 caller's user namespace, and overlayfs uses the mounter's \
                                 credentials for the layers: not the same as an overlay the \
                                 container's root mounts in its user namespace (Namespaces::USER); \
                                 use Overlay::ephemeral there",
                            ));
                        }
                        let tree = p.tree.lock().ok().and_then(|mut t| t.take());
                        let Some(tree) = tree else {
                            return Err(invalid(
                                "root",
                                format!("a prepared root on {}", p.merged.display()),
                                "this prepared root was taken by an earlier spawn (one container \
                                 per prepared root): prepare one for each container",
                            ));
                        };
                        prepared = Some(tree);
                        RootPlan {
                            host: cstring("overlay merged", p.merged.as_os_str().as_bytes())?,
                            idmap: None,
                            shown: p.merged.display().to_string(),
                            setup: RootSetup::Prepared {
                                fd: -1,
                                desc: format!(
                                    "prepared overlay on {} ({})",
                                    p.merged.display(),
                                    p.shown
                                ),
                            },
                            chroot,
                        }
                    }
                    RootKind::Overlay(_) if self.idmapped_root => {
                        return Err(invalid(
                            "idmapped_root",
                            true,
                            "an overlay root cannot be idmapped here; idmap its layers' \
                             directory root (Rootfs::dir) instead",
                        ))
                    }
                    RootKind::Overlay(o) => {
                        let (data, shown, top) = overlay_data("root overlay", o)?;
                        let merged = match &o.merged {
                            Some(m) => host_path("overlay merged", m, Some(true))?,
                            None => top,
                        };
                        RootPlan {
                            host: cstring("overlay merged", merged.as_os_str().as_bytes())?,
                            idmap: None,
                            shown: merged.display().to_string(),
                            setup: RootSetup::Overlay {
                                desc: format!("overlay on {} ({shown})", merged.display()),
                                data,
                            },
                            chroot,
                        }
                    }
                })
            }
        };

        let proc = self
            .mount_proc
            .unwrap_or(ns.contains(Namespaces::PID) || root.is_some());
        let proc_target = if proc {
            Some(container_path("mount_proc", Path::new("/proc"), false)?)
        } else {
            None
        };

        let dev_spec = self.dev.or(if root.is_some() {
            Some(DevSpec::Minimal)
        } else {
            None
        });
        if self.shm_size.is_some() && dev_spec != Some(DevSpec::Minimal) {
            return Err(invalid(
                "shm_size",
                self.shm_size,
                "/dev/shm is made by the minimal /dev (DevSpec::Minimal); add Mount::shm(size) instead",
            ));
        }
        let dev = match dev_spec {
            None | Some(DevSpec::Keep) => None,
            Some(DevSpec::Host) => Some(DevPlan::Host {
                target: container_path("dev", Path::new("/dev"), false)?,
            }),
            Some(DevSpec::Minimal) => {
                let size = self.shm_size.unwrap_or(super::DEFAULT_SHM_SIZE);
                Some(DevPlan::Minimal {
                    target: container_path("dev", Path::new("/dev"), false)?,
                    shm_data: cstring("shm_size", format!("mode=1777,size={size}").as_bytes())?,
                })
            }
        };

        let mut mounts = self
            .mounts
            .iter()
            .enumerate()
            .map(|(i, m)| prepare_mount(i, m, &mut idmaps))
            .collect::<Result<Vec<_>, _>>()?;
        if idmaps.len() > MAX_IDMAPS {
            return Err(invalid(
                "mount idmapped",
                idmaps.len(),
                format!("at most {MAX_IDMAPS} idmapped mounts"),
            ));
        }
        let mut anchors = 0usize;
        let mut proc_anchor = None;
        let mut dev_anchor = None;
        let dev_target = match &dev {
            Some(DevPlan::Minimal { target, .. } | DevPlan::Host { target }) => Some(target),
            None => None,
        };
        let mut hidden = |field: &'static str, paths: &[PathBuf]| {
            paths
                .iter()
                .map(|p| {
                    let target = container_path(field, p, false)?;
                    let anchored = anchor_for(
                        &target,
                        [
                            (proc_target.as_ref(), &mut proc_anchor),
                            (dev_target, &mut dev_anchor),
                        ],
                        &mut mounts,
                        &mut anchors,
                    )?;
                    Ok(Hidden { target, anchored })
                })
                .collect::<Result<Vec<_>, SpawnError>>()
        };
        let devices = self
            .devices
            .iter()
            .map(|d| prepare_device(d, root.is_some(), user_ns))
            .collect::<Result<Vec<_>, _>>()?;
        let masked = hidden("masked path", &self.masked_paths)?;
        let readonly_paths = hidden("readonly path", &self.readonly_paths)?;

        Ok(Some(MountPlan {
            propagation,
            post_propagation,
            root,
            proc_target,
            proc_anchor,
            dev_anchor,
            dev,
            mounts,
            devices,
            masked,
            readonly_paths,
            anchors: (0..anchors).map(|_| AtomicI32::new(-1)).collect(),
            readonly_root: self.readonly_root,
            user_ns,
            idmaps,
            chroot_only: false,
            prepared,
        }))
    }
}

impl MountPlan {
    /// Opens a placeholder descriptor (a copy of `/dev/null`, close-on-exec,
    /// at or above `floor`) for each idmapped tree: the child dup3s the tree
    /// it receives onto it. The parent keeps them open until clone.
    pub(crate) fn allocate_idmap_slots(&mut self, floor: i32) -> std::io::Result<Vec<OwnedFd>> {
        let mut out = Vec::new();
        for r in &mut self.idmaps {
            let null = std::fs::File::open("/dev/null")?;
            // SAFETY: F_DUPFD_CLOEXEC on a live descriptor returns a new one.
            let fd = unsafe { libc::fcntl(null.as_raw_fd(), libc::F_DUPFD_CLOEXEC, floor) };
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: a new descriptor nobody else owns.
            out.push(unsafe { OwnedFd::from_raw_fd(fd) });
            r.slot = fd;
        }
        Ok(out)
    }

    /// Moves the prepared root's detached overlay (if any) above `floor`
    /// (close-on-exec), records its number for the child and returns it:
    /// the parent keeps it open until the clone, then closes its copy.
    pub(crate) fn take_prepared(&mut self, floor: i32) -> std::io::Result<Option<OwnedFd>> {
        let Some(tree) = self.prepared.take() else {
            return Ok(None);
        };
        let tree = crate::process::lift_fd(tree, floor)?;
        if let Some(RootPlan {
            setup: RootSetup::Prepared { fd, .. },
            ..
        }) = &mut self.root
        {
            *fd = tree.as_raw_fd();
        }
        Ok(Some(tree))
    }

    /// The prepared root's descriptor the child attaches (after
    /// [`Self::take_prepared`]).
    pub(crate) fn prepared_fd(&self) -> Option<i32> {
        match &self.root {
            Some(RootPlan {
                setup: RootSetup::Prepared { fd, .. },
                ..
            }) if *fd >= 0 => Some(*fd),
            _ => None,
        }
    }

    /// The placeholder descriptors of the idmapped trees, in order.
    pub(crate) fn idmap_slots(&self) -> impl Iterator<Item = i32> + '_ {
        self.idmaps.iter().map(|r| r.slot)
    }

    /// Whether the child enters its root with `chroot(2)` (not
    /// `pivot_root`): the caller's filesystem is still above that root.
    pub(crate) fn chroots(&self) -> bool {
        self.root.as_ref().is_some_and(|r| r.chroot)
    }

    /// Whether the parent has idmapped trees to send.
    pub(crate) fn has_idmaps(&self) -> bool {
        !self.idmaps.is_empty()
    }

    /// Parent, after the child's maps are written: makes each idmapped tree
    /// (`open_tree(OPEN_TREE_CLONE)`, then `mount_setattr` with
    /// `MOUNT_ATTR_IDMAP` and the child's user namespace), in slot order.
    pub(crate) fn make_idmaps(&self, userns: BorrowedFd<'_>) -> Result<Vec<OwnedFd>, SpawnError> {
        self.idmaps
            .iter()
            .map(|r| make_idmapped_tree(r, userns))
            .collect()
    }
}

/// `MOUNT_ATTR_IDMAP` (Linux 5.12).
const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

fn make_idmapped_tree(r: &IdmapReq, userns: BorrowedFd<'_>) -> Result<OwnedFd, SpawnError> {
    let path = std::path::PathBuf::from(std::ffi::OsStr::from_bytes(r.source.as_bytes()));
    let rec = if r.recursive { libc::AT_RECURSIVE } else { 0 };
    let refused = |source: std::io::Error, tree: Option<BorrowedFd<'_>>| {
        let fstype = tree
            .and_then(|t| fs_type_name(t))
            .unwrap_or_else(|| "(unknown)".into());
        let reason = match source.raw_os_error() {
            Some(libc::EINVAL) => format!(
                "the kernel cannot idmap this mount: {fstype} does not support idmapped mounts \
                 (FS_ALLOW_IDMAP; ext4, xfs, btrfs, tmpfs (6.3), overlayfs (5.19) do), or the \
                 user namespace is the filesystem's own"
            ),
            Some(libc::EPERM) => "idmapping needs CAP_SYS_ADMIN over the user namespace the \
                 filesystem was mounted in (the host's for a host filesystem): a rootless \
                 caller cannot idmap a host directory; an already idmapped mount cannot be \
                 idmapped again"
                .into(),
            Some(libc::ENOSYS) => "mount_setattr(2) needs Linux 5.12".into(),
            _ => "open_tree(OPEN_TREE_CLONE) or mount_setattr(MOUNT_ATTR_IDMAP) failed".into(),
        };
        SpawnError::Mount(super::Error::IdmapRefused {
            path: path.clone(),
            fstype,
            source,
            reason,
        })
    };
    let tree = m::open_tree(
        None,
        &r.source,
        m::OPEN_TREE_CLONE | m::OPEN_TREE_CLOEXEC | rec as u32,
    )
    .map_err(|e| refused(e, None))?;
    let a = m::MountAttr {
        attr_set: MOUNT_ATTR_IDMAP | r.attr,
        userns_fd: userns.as_raw_fd() as u64,
        ..Default::default()
    };
    m::mount_setattr(Some(tree.as_fd()), c"", libc::AT_EMPTY_PATH | rec, &a)
        .map_err(|e| refused(e, Some(tree.as_fd())))?;
    Ok(tree)
}

/// The name of the filesystem type of `fd` (`fstatfs(2)`'s magic).
fn fs_type_name(fd: BorrowedFd<'_>) -> Option<String> {
    // SAFETY: a zeroed statfs is a valid out-parameter.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: live descriptor, live out-parameter.
    if unsafe { libc::fstatfs(fd.as_raw_fd(), &mut st) } != 0 {
        return None;
    }
    let magic = st.f_type as u64;
    Some(
        match magic {
            0xef53 => "ext4",
            0x5846_5342 => "xfs",
            0x9123_683e => "btrfs",
            0x0102_1994 => "tmpfs",
            0x794c_7630 => "overlay",
            0x6969 => "nfs",
            0x6573_5546 => "fuse",
            0x9fa0 => "proc",
            0x6265_6572 => "sysfs",
            0x0102_1997 => "9p",
            0xff53_4d42 => "cifs",
            0x2fc1_2fc1 => "zfs",
            0x858458f6 => "ramfs",
            0x4d44 => "vfat",
            _ => return Some(format!("0x{magic:x}")),
        }
        .to_string(),
    )
}

// ---------------------------------------------------------------------------
// Child side: no allocation, no panics, no locks.

const RESOLVE: u64 = libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS;

fn errno_of(e: std::io::Error) -> i32 {
    e.raw_os_error().unwrap_or(libc::EIO)
}

fn fail(step: Step, index: u32) -> impl Fn(std::io::Error) -> ChildFailure {
    move |e| ChildFailure {
        step,
        index,
        errno: errno_of(e),
    }
}

fn fail_errno(step: Step, index: u32, errno: i32) -> ChildFailure {
    ChildFailure { step, index, errno }
}

fn check(r: libc::c_int) -> std::io::Result<()> {
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Writes the decimal `n` into `buf` from `at`; returns the new end.
fn put_decimal(buf: &mut [u8], mut at: usize, n: i32) -> Option<usize> {
    let mut digits = [0u8; 12];
    let mut len = 0;
    let mut v = n.unsigned_abs();
    loop {
        digits[len] = b'0' + (v % 10) as u8;
        len += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if at + len > buf.len() {
        return None;
    }
    for i in 0..len {
        buf[at] = digits[len - 1 - i];
        at += 1;
    }
    Some(at)
}

fn put_bytes(buf: &mut [u8], at: usize, s: &[u8]) -> Option<usize> {
    let end = at.checked_add(s.len())?;
    buf.get_mut(at..end)?.copy_from_slice(s);
    Some(end)
}

/// `"/proc/self/fd/N"` in `buf` (the runc `mountViaFds` target form).
fn procfd<'b>(fd: BorrowedFd<'_>, buf: &'b mut [u8; 32]) -> &'b CStr {
    let at = put_bytes(buf, 0, b"/proc/self/fd/").unwrap_or(0);
    let end = put_decimal(buf, at, fd.as_raw_fd()).unwrap_or(at);
    if let Some(b) = buf.get_mut(end) {
        *b = 0;
    }
    CStr::from_bytes_until_nul(&buf[..]).unwrap_or(c"")
}

/// Opens `rel` inside `root` as an `O_PATH` descriptor, symlinks resolved
/// as if `root` were `/` (`RESOLVE_IN_ROOT`, Linux 5.6), magic links refused.
fn open_in(root: BorrowedFd<'_>, rel: &CStr) -> std::io::Result<OwnedFd> {
    m::openat2(Some(root), rel, libc::O_PATH, RESOLVE)
}

/// Opens the target inside `root`, creating missing directories (or, for a
/// file target, an empty file as its last component) one component at a
/// time: each parent is opened with `RESOLVE_IN_ROOT` and the new entry is
/// made with `mkdirat`/`openat(O_CREAT|O_EXCL|O_NOFOLLOW)` relative to it,
/// so nothing is ever created outside the root (cf. filepath-securejoin's
/// `MkdirAll`, used by runc, and crun's `safe_openat`).
fn ensure_target(root: BorrowedFd<'_>, t: &Target) -> Result<OwnedFd, i32> {
    match open_in(root, &t.rel) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
        Err(e) => return Err(errno_of(e)),
    }
    let mut parent: Option<OwnedFd> = None;
    let last = t.names.len().saturating_sub(1);
    for (i, (prefix, name)) in t.prefixes.iter().zip(t.names.iter()).enumerate() {
        match open_in(root, prefix) {
            Ok(fd) => {
                parent = Some(fd);
                continue;
            }
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(errno_of(e)),
        }
        let dir = parent.as_ref().map_or(root, |p| p.as_fd());
        if i == last && t.file {
            // SAFETY: dir is a live descriptor, name NUL-terminated; the new
            // descriptor is closed right away.
            let fd = unsafe {
                libc::openat(
                    dir.as_raw_fd(),
                    name.as_ptr(),
                    libc::O_CREAT
                        | libc::O_EXCL
                        | libc::O_WRONLY
                        | libc::O_NOFOLLOW
                        | libc::O_CLOEXEC,
                    0o644 as libc::c_uint,
                )
            };
            if fd < 0 && crate::sys::errno() != libc::EEXIST {
                return Err(crate::sys::errno());
            }
            if fd >= 0 {
                // SAFETY: fd was just returned by openat and is closed once.
                unsafe { libc::close(fd) };
            }
        } else {
            // SAFETY: dir is live, name NUL-terminated (a single component).
            let r = unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), 0o755) };
            if r < 0 && crate::sys::errno() != libc::EEXIST {
                return Err(crate::sys::errno());
            }
        }
        // EEXIST above: another container sharing this root made the entry
        // at the same moment (then it opens now), or a dangling symlink is
        // in the way (then it still does not resolve: refused as EEXIST).
        parent = Some(open_in(root, prefix).map_err(|e| match errno_of(e) {
            libc::ENOENT => libc::EEXIST,
            other => other,
        })?);
    }
    parent.ok_or(libc::ENOENT)
}

fn mount_fs_on(
    fd: BorrowedFd<'_>,
    fstype: &CStr,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> std::io::Result<()> {
    mount_fs_named_on(fd, fstype, fstype, flags, data)
}

/// [`mount_fs_on`] with a source name other than the type.
fn mount_fs_named_on(
    fd: BorrowedFd<'_>,
    fstype: &CStr,
    source: &CStr,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> std::io::Result<()> {
    let mut buf = [0u8; 32];
    let target = procfd(fd, &mut buf);
    m::mount(Some(source), target, Some(fstype), flags, data)
}

/// `MS_*` mount flags as `MOUNT_ATTR_*` attributes of `fsmount(2)`.
fn mount_attrs(flags: libc::c_ulong) -> u64 {
    let mut a = 0;
    for (f, m) in [
        (libc::MS_RDONLY, m::MOUNT_ATTR_RDONLY),
        (libc::MS_NOSUID, m::MOUNT_ATTR_NOSUID),
        (libc::MS_NODEV, m::MOUNT_ATTR_NODEV),
        (libc::MS_NOEXEC, m::MOUNT_ATTR_NOEXEC),
    ] {
        if flags & f != 0 {
            a |= m;
        }
    }
    a
}

/// A new `fstype` (no options) made with `fsopen`/`fsmount` and attached on
/// `target`; returns the descriptor of the mount's root, which keeps naming
/// this very mount whatever happens to the path it was attached on.
fn new_mount_on(
    target: BorrowedFd<'_>,
    fstype: &CStr,
    flags: libc::c_ulong,
) -> std::io::Result<OwnedFd> {
    new_mount_named_on(target, fstype, fstype, flags)
}

/// [`new_mount_on`] with a source name other than the type.
fn new_mount_named_on(
    target: BorrowedFd<'_>,
    fstype: &CStr,
    source: &CStr,
    flags: libc::c_ulong,
) -> std::io::Result<OwnedFd> {
    let fs = m::fsopen(fstype)?;
    m::fsconfig_set_string(fs.as_fd(), c"source", source)?;
    m::fsconfig_create(fs.as_fd())?;
    let mnt = m::fsmount(fs.as_fd(), mount_attrs(flags) as u32)?;
    m::move_mount(
        Some(mnt.as_fd()),
        c"",
        Some(target),
        c"",
        m::MOVE_MOUNT_F_EMPTY_PATH | m::MOVE_MOUNT_T_EMPTY_PATH,
    )?;
    Ok(mnt)
}

/// Closes the kept mount roots when the mounts are done (or failed).
struct Anchors<'a>(&'a [AtomicI32]);

impl Anchors<'_> {
    fn keep(&self, slot: Option<usize>, fd: OwnedFd) {
        if let Some(a) = slot.and_then(|s| self.0.get(s)) {
            let old = a.swap(fd.into_raw_fd(), Ordering::Relaxed);
            if old >= 0 {
                // SAFETY: a descriptor this guard owned, closed once.
                unsafe { libc::close(old) };
            }
        }
    }
    fn get(&self, slot: usize) -> Option<BorrowedFd<'_>> {
        let fd = self.0.get(slot)?.load(Ordering::Relaxed);
        // SAFETY: the guard owns fd until its drop.
        (fd >= 0).then(|| unsafe { BorrowedFd::borrow_raw(fd) })
    }
}

impl Drop for Anchors<'_> {
    fn drop(&mut self) {
        for a in self.0 {
            let fd = a.swap(-1, Ordering::Relaxed);
            if fd >= 0 {
                // SAFETY: a descriptor this guard owned, closed once.
                unsafe { libc::close(fd) };
            }
        }
    }
}

/// An `O_PATH` descriptor of the host's null device, checked to be the
/// character device 1:3 (runc's fix of CVE-2025-31133 checks the same): a
/// mask is never anything else. Opened before any mount of the plan, so a
/// `/dev` mounted by the plan itself (the minimal one without a root)
/// cannot stand in for the host's.
fn open_host_null() -> std::io::Result<OwnedFd> {
    let fd = m::openat2(
        None,
        c"/dev/null",
        libc::O_PATH,
        libc::RESOLVE_NO_MAGICLINKS,
    )?;
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is live, st a valid out pointer (fstat accepts O_PATH).
    check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })?;
    if st.st_mode & libc::S_IFMT != libc::S_IFCHR || st.st_rdev != libc::makedev(1, 3) {
        return Err(std::io::Error::from_raw_os_error(libc::ENODEV));
    }
    Ok(fd)
}

/// A detached copy of `source` (a bind mount not yet attached anywhere),
/// with `attr` set on it, attached on `target`.
fn bind_onto(
    src_dir: Option<BorrowedFd<'_>>,
    source: &CStr,
    recursive: bool,
    attr: u64,
    target: BorrowedFd<'_>,
) -> std::io::Result<()> {
    bind_tree_onto(src_dir, source, recursive, attr, target).map(drop)
}

/// [`bind_onto`], returning the attached mount's descriptor.
fn bind_tree_onto(
    src_dir: Option<BorrowedFd<'_>>,
    source: &CStr,
    recursive: bool,
    attr: u64,
    target: BorrowedFd<'_>,
) -> std::io::Result<OwnedFd> {
    let rec = if recursive {
        libc::AT_RECURSIVE as u32
    } else {
        0
    };
    let empty = if src_dir.is_some() && source.is_empty() {
        libc::AT_EMPTY_PATH as u32
    } else {
        0
    };
    let tree = m::open_tree(src_dir, source, m::OPEN_TREE_CLONE | rec | empty)?;
    if attr != 0 {
        let a = m::MountAttr {
            attr_set: attr,
            ..Default::default()
        };
        m::mount_setattr(
            Some(tree.as_fd()),
            c"",
            libc::AT_EMPTY_PATH | if recursive { libc::AT_RECURSIVE } else { 0 },
            &a,
        )?;
    }
    m::move_mount(
        Some(tree.as_fd()),
        c"",
        Some(target),
        c"",
        m::MOVE_MOUNT_F_EMPTY_PATH | m::MOVE_MOUNT_T_EMPTY_PATH,
    )?;
    Ok(tree)
}

/// Child: attaches the idmapped tree the parent sent (at descriptor `slot`),
/// or the prepared root's detached overlay, on `target`, and returns it
/// (closed when dropped).
fn attach_tree(slot: i32, target: BorrowedFd<'_>) -> std::io::Result<OwnedFd> {
    if slot < 0 {
        return Err(std::io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: the slot is ours: the child put the received tree there, and
    // nothing else owns it.
    let tree = unsafe { OwnedFd::from_raw_fd(slot) };
    m::move_mount(
        Some(tree.as_fd()),
        c"",
        Some(target),
        c"",
        m::MOVE_MOUNT_F_EMPTY_PATH | m::MOVE_MOUNT_T_EMPTY_PATH,
    )?;
    Ok(tree)
}

/// Descriptors closed on drop, in a fixed array (no allocation).
struct FdArray {
    fds: [libc::c_int; MAX_EPHEMERAL_LOWERS],
    n: usize,
}

impl Drop for FdArray {
    fn drop(&mut self) {
        for fd in &self.fds[..self.n] {
            // SAFETY: each descriptor was opened by us and is closed once.
            unsafe { libc::close(*fd) };
        }
    }
}

/// Mounts an overlay on the directory `target`.
///
/// For an ephemeral upper: the lower layers are opened first (`O_PATH`),
/// then a new tmpfs (`fsopen`/`fsmount`) is attached on the target and gets
/// `upper` and `work`, and the overlay is mounted on top of it, with every
/// layer named as `/proc/self/fd/N` (formatted into a stack buffer). The
/// descriptors still name the layers under the tmpfs, so the target may be
/// the top-most lower layer itself. (A detached tmpfs as the upper layer
/// works on 6.18 but is refused with `EINVAL` by 6.1, hence the attach.)
fn mount_overlay(
    target: BorrowedFd<'_>,
    flags: libc::c_ulong,
    data: &OverlayData,
) -> Result<(), (u32, i32)> {
    let e = |i: u32| move |err: std::io::Error| (i, errno_of(err));
    let mut tbuf = [0u8; 32];
    let target_path = procfd(target, &mut tbuf);
    match data {
        OverlayData::Fixed(d) => m::mount(
            Some(c"overlay"),
            target_path,
            Some(c"overlay"),
            flags,
            Some(d),
        )
        .map_err(e(0)),
        OverlayData::Ephemeral(lowers) => {
            let mut buf = [0u8; MAX_DATA];
            let mut at = put_bytes(&mut buf, 0, b"lowerdir=").ok_or((3, libc::E2BIG))?;
            let mut open = FdArray {
                fds: [-1; MAX_EPHEMERAL_LOWERS],
                n: 0,
            };
            for (i, l) in lowers.iter().enumerate() {
                // SAFETY: l is NUL-terminated; the descriptor is owned by `open`.
                let fd = unsafe {
                    libc::open(
                        l.as_ptr(),
                        libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
                    )
                };
                if fd < 0 {
                    return Err((4, crate::sys::errno()));
                }
                let slot = open.fds.get_mut(open.n).ok_or((3, libc::E2BIG))?;
                *slot = fd;
                open.n += 1;
                let sep: &[u8] = if i == 0 {
                    b"/proc/self/fd/"
                } else {
                    b":/proc/self/fd/"
                };
                at = put_bytes(&mut buf, at, sep)
                    .and_then(|a| put_decimal(&mut buf, a, fd))
                    .ok_or((3, libc::E2BIG))?;
            }
            let fs = m::fsopen(c"tmpfs").map_err(e(1))?;
            m::fsconfig_set_string(fs.as_fd(), c"mode", c"0755").map_err(e(1))?;
            m::fsconfig_create(fs.as_fd()).map_err(e(1))?;
            let mnt = m::fsmount(fs.as_fd(), 0).map_err(e(1))?;
            m::move_mount(
                Some(mnt.as_fd()),
                c"",
                Some(target),
                c"",
                m::MOVE_MOUNT_F_EMPTY_PATH | m::MOVE_MOUNT_T_EMPTY_PATH,
            )
            .map_err(e(5))?;
            for d in [c"upper", c"work"] {
                // SAFETY: mnt is a live directory descriptor, d NUL-terminated.
                let r = unsafe { libc::mkdirat(mnt.as_raw_fd(), d.as_ptr(), 0o755) };
                if r < 0 {
                    return Err((2, crate::sys::errno()));
                }
            }
            let fd = mnt.as_raw_fd();
            let end = put_bytes(&mut buf, at, b",upperdir=/proc/self/fd/")
                .and_then(|at| put_decimal(&mut buf, at, fd))
                .and_then(|at| put_bytes(&mut buf, at, b"/upper,workdir=/proc/self/fd/"))
                .and_then(|at| put_decimal(&mut buf, at, fd))
                .and_then(|at| put_bytes(&mut buf, at, b"/work\0"))
                .ok_or((3, libc::E2BIG))?;
            let d = CStr::from_bytes_with_nul(&buf[..end]).map_err(|_| (3, libc::EINVAL))?;
            // The mount goes on top of the stack at the target: the tmpfs.
            m::mount(
                Some(c"overlay"),
                target_path,
                Some(c"overlay"),
                flags,
                Some(d),
            )
            .map_err(e(0))
        }
    }
}

const DEV_NODES: [(&CStr, &CStr); 6] = [
    (c"null", c"/dev/null"),
    (c"zero", c"/dev/zero"),
    (c"full", c"/dev/full"),
    (c"random", c"/dev/random"),
    (c"urandom", c"/dev/urandom"),
    (c"tty", c"/dev/tty"),
];
const DEV_LINKS: [(&CStr, &CStr); 5] = [
    (c"fd", c"/proc/self/fd"),
    (c"stdin", c"/proc/self/fd/0"),
    (c"stdout", c"/proc/self/fd/1"),
    (c"stderr", c"/proc/self/fd/2"),
    (c"ptmx", c"pts/ptmx"),
];
// Item numbers of Step::Dev.
const DEV_RESOLVE: u32 = 0;
const DEV_TMPFS: u32 = 1;
const DEV_ATTACH: u32 = 2;
const DEV_NODE0: u32 = 3;
const DEV_LINK0: u32 = DEV_NODE0 + DEV_NODES.len() as u32;
const DEV_PTS_DIR: u32 = DEV_LINK0 + DEV_LINKS.len() as u32;
const DEV_PTS: u32 = DEV_PTS_DIR + 1;
const DEV_SHM_DIR: u32 = DEV_PTS + 1;
const DEV_SHM: u32 = DEV_SHM_DIR + 1;
const DEV_HOST_BIND: u32 = 1;
/// Item number of the first device node of [`DeviceNode`]s.
const DEV_DEVICE0: u32 = 100;

/// `fstat` of a descriptor.
fn fstat(fd: BorrowedFd<'_>) -> Result<libc::stat, i32> {
    // SAFETY: an all-zero stat is a valid value to be overwritten.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: fd is live, st a valid out pointer (fstat accepts O_PATH).
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(crate::sys::errno());
    }
    Ok(st)
}

/// `fstat` of a descriptor: `(type bits, rdev)`.
fn stat_type(fd: BorrowedFd<'_>) -> Result<(libc::mode_t, libc::dev_t), i32> {
    fstat(fd).map(|st| (st.st_mode & libc::S_IFMT, st.st_rdev))
}

/// Opens `name` in `dir` without following any symlink (`O_PATH`).
fn open_entry(dir: BorrowedFd<'_>, name: &CStr) -> Result<OwnedFd, i32> {
    m::openat2(
        Some(dir),
        name,
        libc::O_PATH,
        libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_MAGICLINKS,
    )
    .map_err(errno_of)
}

/// Child: `mknodat` of the node in `dir` (umask 0, so the mode is exact),
/// then its owner, set through a descriptor checked to be that device
/// (never through a symlink). An entry found there is never changed (it
/// may be a bind of a host file): accepted when it is the same device with
/// the same mode (and owner, when one is asked), else `EEXIST`.
fn make_device_node(dir: BorrowedFd<'_>, d: &DeviceOp) -> Result<(), i32> {
    // SAFETY: umask(2) always succeeds; restored right after.
    let old = unsafe { libc::umask(0) };
    // SAFETY: dir is live, name a NUL-terminated single component.
    let r = unsafe { libc::mknodat(dir.as_raw_fd(), d.name.as_ptr(), d.mode, d.dev) };
    let errno = crate::sys::errno();
    // SAFETY: as above.
    unsafe { libc::umask(old) };
    if r != 0 && errno != libc::EEXIST {
        return Err(errno);
    }
    let fd = open_entry(dir, &d.name).map_err(|e| match e {
        // A symlink is there (it stays, never followed).
        libc::ELOOP => libc::EEXIST,
        e => e,
    })?;
    let st = fstat(fd.as_fd())?;
    let kind = st.st_mode & libc::S_IFMT;
    if kind != d.mode & libc::S_IFMT || (kind != libc::S_IFIFO && st.st_rdev != d.dev) {
        return Err(libc::EEXIST);
    }
    if r != 0 {
        let same = st.st_mode & 0o7777 == d.mode & 0o7777
            && (d.uid == u32::MAX || st.st_uid == d.uid)
            && (d.gid == u32::MAX || st.st_gid == d.gid);
        return if same { Ok(()) } else { Err(libc::EEXIST) };
    }
    if d.uid != u32::MAX || d.gid != u32::MAX {
        // SAFETY: fd is live; the empty path with AT_EMPTY_PATH names it.
        let r = unsafe {
            libc::fchownat(
                fd.as_raw_fd(),
                c"".as_ptr(),
                d.uid,
                d.gid,
                libc::AT_EMPTY_PATH,
            )
        };
        if r != 0 {
            return Err(crate::sys::errno());
        }
    }
    Ok(())
}

/// Child, in a user namespace: the host's node (checked to be the device
/// asked for) bound onto an empty file made in `dir`.
fn make_bound_device(dir: BorrowedFd<'_>, d: &DeviceOp, host: &CStr) -> Result<(), i32> {
    let src =
        m::openat2(None, host, libc::O_PATH, libc::RESOLVE_NO_MAGICLINKS).map_err(errno_of)?;
    let (kind, rdev) = stat_type(src.as_fd())?;
    if kind != d.mode & libc::S_IFMT || rdev != d.dev {
        return Err(libc::ENODEV);
    }
    // SAFETY: dir is live, name NUL-terminated; the new descriptor is
    // closed right away.
    let nfd = unsafe {
        libc::openat(
            dir.as_raw_fd(),
            d.name.as_ptr(),
            libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
            0o600 as libc::c_uint,
        )
    };
    if nfd < 0 && crate::sys::errno() != libc::EEXIST {
        return Err(crate::sys::errno());
    }
    if nfd >= 0 {
        // SAFETY: nfd was just opened and is closed once.
        unsafe { libc::close(nfd) };
    }
    let target = open_entry(dir, &d.name).map_err(|e| match e {
        libc::ELOOP => libc::EEXIST,
        e => e,
    })?;
    if stat_type(target.as_fd())?.0 == libc::S_IFDIR {
        return Err(libc::EEXIST);
    }
    bind_onto(Some(src.as_fd()), c"", false, 0, target.as_fd()).map_err(errno_of)
}

fn subdir(dev: BorrowedFd<'_>, name: &CStr, mode: libc::mode_t) -> std::io::Result<OwnedFd> {
    // SAFETY: dev is live, name a NUL-terminated single component.
    check(unsafe { libc::mkdirat(dev.as_raw_fd(), name.as_ptr(), mode) })?;
    m::openat2(
        Some(dev),
        name,
        libc::O_PATH | libc::O_DIRECTORY,
        libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS,
    )
}

impl MountPlan {
    fn apply_dev(&self, root: BorrowedFd<'_>, anchors: &Anchors<'_>) -> Result<(), ChildFailure> {
        let Some(dev) = &self.dev else {
            return Ok(());
        };
        let f = |i: u32| fail(Step::Dev, i);
        match dev {
            DevPlan::Host { target } => {
                let fd = ensure_target(root, target)
                    .map_err(|e| fail_errno(Step::Dev, DEV_RESOLVE, e))?;
                let mnt =
                    bind_tree_onto(None, c"/dev", true, 0, fd.as_fd()).map_err(f(DEV_HOST_BIND))?;
                anchors.keep(self.dev_anchor, mnt);
                Ok(())
            }
            DevPlan::Minimal { target, shm_data } => {
                let fd = ensure_target(root, target)
                    .map_err(|e| fail_errno(Step::Dev, DEV_RESOLVE, e))?;
                // The host's nodes, opened before the tmpfs goes on: without
                // a root the target is the host's /dev itself, and after the
                // mount "/dev/null" would name the empty file made below.
                let mut hosts: [Option<OwnedFd>; DEV_NODES.len()] = Default::default();
                for (i, (_, host)) in DEV_NODES.iter().enumerate() {
                    hosts[i] = Some(
                        m::openat2(None, host, libc::O_PATH, libc::RESOLVE_NO_MAGICLINKS)
                            .map_err(f(DEV_NODE0 + i as u32))?,
                    );
                }
                // The tmpfs is made with fsopen/fsmount, attached, and filled
                // through the descriptor of its root: never looked up again
                // through the root's `dev`, which a racing container may
                // have swapped meanwhile.
                let dev = (|| {
                    let fs = m::fsopen(c"tmpfs")?;
                    m::fsconfig_set_string(fs.as_fd(), c"source", c"tmpfs")?;
                    m::fsconfig_set_string(fs.as_fd(), c"mode", c"755")?;
                    m::fsconfig_set_string(fs.as_fd(), c"size", c"65536k")?;
                    m::fsconfig_create(fs.as_fd())?;
                    m::fsmount(
                        fs.as_fd(),
                        (m::MOUNT_ATTR_NOSUID | m::MOUNT_ATTR_NOEXEC) as u32,
                    )
                })()
                .map_err(f(DEV_TMPFS))?;
                let d = dev.as_fd();
                m::move_mount(
                    Some(d),
                    c"",
                    Some(fd.as_fd()),
                    c"",
                    m::MOVE_MOUNT_F_EMPTY_PATH | m::MOVE_MOUNT_T_EMPTY_PATH,
                )
                .map_err(f(DEV_ATTACH))?;
                drop(fd);
                for (i, (name, _)) in DEV_NODES.iter().enumerate() {
                    let idx = DEV_NODE0 + i as u32;
                    // SAFETY: d is live, name NUL-terminated; the new
                    // descriptor is closed right away.
                    let nfd = unsafe {
                        libc::openat(
                            d.as_raw_fd(),
                            name.as_ptr(),
                            libc::O_CREAT
                                | libc::O_EXCL
                                | libc::O_WRONLY
                                | libc::O_NOFOLLOW
                                | libc::O_CLOEXEC,
                            0o666 as libc::c_uint,
                        )
                    };
                    if nfd < 0 {
                        return Err(ChildFailure::last_at(Step::Dev, idx));
                    }
                    // SAFETY: nfd was just opened and is closed once.
                    unsafe { libc::close(nfd) };
                    let src = hosts[i].as_ref().map(|h| h.as_fd());
                    let tree =
                        m::open_tree(src, c"", m::OPEN_TREE_CLONE | libc::AT_EMPTY_PATH as u32)
                            .map_err(f(idx))?;
                    m::move_mount(
                        Some(tree.as_fd()),
                        c"",
                        Some(d),
                        name,
                        m::MOVE_MOUNT_F_EMPTY_PATH,
                    )
                    .map_err(f(idx))?;
                }
                for (i, (name, to)) in DEV_LINKS.iter().enumerate() {
                    // SAFETY: both strings NUL-terminated, d live.
                    let r = unsafe { libc::symlinkat(to.as_ptr(), d.as_raw_fd(), name.as_ptr()) };
                    check(r).map_err(f(DEV_LINK0 + i as u32))?;
                }
                let pts = subdir(d, c"pts", 0o755).map_err(f(DEV_PTS_DIR))?;
                mount_fs_on(
                    pts.as_fd(),
                    c"devpts",
                    libc::MS_NOSUID | libc::MS_NOEXEC,
                    Some(c"newinstance,ptmxmode=0666,mode=0620"),
                )
                .map_err(f(DEV_PTS))?;
                let shm = subdir(d, c"shm", 0o1777).map_err(f(DEV_SHM_DIR))?;
                mount_fs_on(
                    shm.as_fd(),
                    c"tmpfs",
                    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    Some(shm_data),
                )
                .map_err(f(DEV_SHM))?;
                drop((pts, shm));
                anchors.keep(self.dev_anchor, dev);
                Ok(())
            }
        }
    }

    fn apply_mounts(
        &self,
        root: BorrowedFd<'_>,
        anchors: &Anchors<'_>,
    ) -> Result<(), ChildFailure> {
        for (i, op) in self.mounts.iter().enumerate() {
            let i = i as u32;
            let fd =
                ensure_target(root, &op.target).map_err(|e| fail_errno(Step::MountTarget, i, e))?;
            let keep = |mnt: OwnedFd| anchors.keep(op.anchor, mnt);
            let r = match &op.action {
                Action::Bind {
                    source,
                    recursive,
                    attr,
                } => bind_tree_onto(None, source, *recursive, *attr, fd.as_fd()).map(keep),
                Action::IdmappedBind(n) => {
                    attach_tree(self.idmaps.get(*n).map_or(-1, |r| r.slot), fd.as_fd()).map(keep)
                }
                Action::Fs {
                    fstype,
                    source,
                    flags,
                    data: None,
                } if op.anchor.is_some() => new_mount_named_on(
                    fd.as_fd(),
                    fstype,
                    source.as_deref().unwrap_or(fstype),
                    *flags,
                )
                .map(keep),
                Action::Fs {
                    fstype,
                    source,
                    flags,
                    data,
                } => mount_fs_named_on(
                    fd.as_fd(),
                    fstype,
                    source.as_deref().unwrap_or(fstype),
                    *flags,
                    data.as_deref(),
                ),
                Action::Overlay { flags, data } => mount_overlay(fd.as_fd(), *flags, data)
                    .map_err(|(_, e)| std::io::Error::from_raw_os_error(e)),
            };
            r.map_err(fail(Step::Mount, i))?;
            Self::set_mount_propagation(root, i, op)?;
        }
        Ok(())
    }

    /// Sets the propagation of mount `op` (if it has one), looked up again
    /// inside `root` (the target's descriptor names the directory beneath
    /// the mount).
    fn set_mount_propagation(
        root: BorrowedFd<'_>,
        i: u32,
        op: &MountOp,
    ) -> Result<(), ChildFailure> {
        if op.propagation.0 == 0 {
            return Ok(());
        }
        let top = open_in(root, &op.target.rel).map_err(fail(Step::Mount, i))?;
        let a = m::MountAttr {
            propagation: op.propagation.0,
            ..Default::default()
        };
        let rec = if op.propagation.1 {
            libc::AT_RECURSIVE
        } else {
            0
        };
        m::mount_setattr(Some(top.as_fd()), c"", libc::AT_EMPTY_PATH | rec, &a)
            .map_err(fail(Step::Mount, i))
    }

    /// Makes the device nodes (child side). Item numbers of `Step::Dev`
    /// from [`DEV_DEVICE0`].
    fn apply_devices(&self, root: BorrowedFd<'_>) -> Result<(), ChildFailure> {
        for (i, d) in self.devices.iter().enumerate() {
            let idx = DEV_DEVICE0 + i as u32;
            let parent = match &d.parent {
                Some(t) => Some(ensure_target(root, t).map_err(|e| fail_errno(Step::Dev, idx, e))?),
                None => None,
            };
            let dir = parent.as_ref().map_or(root, |p| p.as_fd());
            match &d.host {
                Some(host) => make_bound_device(dir, d, host),
                None => make_device_node(dir, d),
            }
            .map_err(|e| fail_errno(Step::Dev, idx, e))?;
        }
        Ok(())
    }

    /// Opens a masked or read-only path: beneath the root of the mount it
    /// lies under when the plan kept one, else inside the root.
    fn open_hidden(
        root: BorrowedFd<'_>,
        anchors: &Anchors<'_>,
        h: &Hidden,
    ) -> std::io::Result<OwnedFd> {
        match &h.anchored {
            Some((slot, rest)) => match anchors.get(*slot) {
                Some(mnt) => m::openat2(
                    Some(mnt),
                    rest,
                    libc::O_PATH,
                    libc::RESOLVE_BENEATH | libc::RESOLVE_NO_MAGICLINKS,
                ),
                None => Err(std::io::Error::from_raw_os_error(libc::EBADF)),
            },
            None => open_in(root, &h.target.rel),
        }
    }

    fn apply_masks(
        &self,
        root: BorrowedFd<'_>,
        anchors: &Anchors<'_>,
        null: Option<BorrowedFd<'_>>,
    ) -> Result<(), ChildFailure> {
        for (i, t) in self.masked.iter().enumerate() {
            let i = i as u32;
            let fd = match Self::open_hidden(root, anchors, t) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(fail(Step::MaskPath, i)(e)),
            };
            // SAFETY: an all-zero stat is a valid value to be overwritten.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            // SAFETY: fd is live, st a valid out pointer (fstat accepts O_PATH fds).
            check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) })
                .map_err(fail(Step::MaskPath, i))?;
            let r = if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                mount_fs_on(
                    fd.as_fd(),
                    c"tmpfs",
                    libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    Some(c"size=4k,nr_inodes=1"),
                )
            } else {
                // The host's /dev/null, checked: the rootfs's own may be
                // anything (CVE-2025-31133).
                match null {
                    Some(n) => bind_onto(Some(n), c"", false, 0, fd.as_fd()),
                    None => Err(std::io::Error::from_raw_os_error(libc::EBADF)),
                }
            };
            r.map_err(fail(Step::MaskPath, i))?;
        }
        for (i, t) in self.readonly_paths.iter().enumerate() {
            let i = i as u32;
            let fd = match Self::open_hidden(root, anchors, t) {
                Ok(fd) => fd,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
                Err(e) => return Err(fail(Step::ReadOnlyPath, i)(e)),
            };
            bind_onto(
                Some(fd.as_fd()),
                c"",
                true,
                m::MOUNT_ATTR_RDONLY,
                fd.as_fd(),
            )
            .map_err(fail(Step::ReadOnlyPath, i))?;
        }
        Ok(())
    }

    /// `move_root` (branch brk2): with `chroot`, in a mount namespace of
    /// the container's own, the root's mount is first moved onto `/`
    /// (`MS_MOVE`, runc's msMoveRoot): the host's tree is then under it,
    /// and a program with `CAP_SYS_CHROOT` that leaves the chroot (a
    /// chroot into a subdirectory, `..` past it) steps back into the moved
    /// root at the namespace's root instead of into the host's files.
    fn change_root(
        root: BorrowedFd<'_>,
        chroot: bool,
        move_root: bool,
    ) -> Result<(), ChildFailure> {
        // SAFETY: root is a live directory descriptor (O_PATH is enough for fchdir).
        check(unsafe { libc::fchdir(root.as_raw_fd()) }).map_err(fail(
            if chroot {
                Step::Chroot
            } else {
                Step::PivotRoot
            },
            1,
        ))?;
        if chroot {
            if move_root {
                m::mount(Some(c"."), c"/", None, libc::MS_MOVE, None)
                    .map_err(fail(Step::Chroot, 4))?;
            }
            // SAFETY: static NUL-terminated strings.
            check(unsafe { libc::chroot(c".".as_ptr()) }).map_err(fail(Step::Chroot, 2))?;
            // SAFETY: as above.
            return check(unsafe { libc::chdir(c"/".as_ptr()) }).map_err(fail(Step::Chroot, 3));
        }
        // SAFETY: static NUL-terminated string; the descriptor is owned below.
        let old = unsafe {
            libc::open(
                c"/".as_ptr(),
                libc::O_DIRECTORY | libc::O_RDONLY | libc::O_CLOEXEC,
            )
        };
        if old < 0 {
            return Err(ChildFailure::last_at(Step::PivotRoot, 0));
        }
        // SAFETY: old was just opened and is owned only here.
        let old = unsafe { OwnedFd::from_raw_fd(old) };
        m::pivot_root(c".", c".").map_err(fail(Step::PivotRoot, 2))?;
        // The old root is now stacked on ".": go there, cut its propagation
        // so the unmount cannot reach the host, and detach it.
        // SAFETY: old is a live directory descriptor.
        check(unsafe { libc::fchdir(old.as_raw_fd()) }).map_err(fail(Step::OldRootUnmount, 0))?;
        m::mount(None, c".", None, libc::MS_REC | libc::MS_PRIVATE, None)
            .map_err(fail(Step::OldRootUnmount, 1))?;
        m::umount2(c".", libc::MNT_DETACH).map_err(fail(Step::OldRootUnmount, 2))?;
        drop(old);
        // SAFETY: static NUL-terminated string.
        check(unsafe { libc::chdir(c"/".as_ptr()) }).map_err(fail(Step::OldRootUnmount, 3))
    }

    /// Runs in the child, between clone and exec: no allocation, no panic,
    /// no locks. Must run after the ids, the time namespace and the hostname
    /// are set, and before the loopback, `chdir(cwd)` and exec (the program
    /// path and cwd are then looked up inside the new root).
    /// Whether the container's view of the filesystem differs from the
    /// caller's in a way that hides or protects the caller's files: a root
    /// of its own, a read-only root, masked or read-only paths. Then the
    /// program is exec'd through the sealed helper (process/helper.rs).
    /// The `ptmx` of the devpts instance this plan mounts for the
    /// container, as the child opens it once the mounts are done: an
    /// explicit devpts on `/dev/pts` or the minimal `/dev`'s (both
    /// `/dev/pts/ptmx`), else the last explicit devpts mount. `None`: the
    /// plan mounts no devpts (a pty then comes from the host).
    pub(crate) fn devpts_ptmx(&self) -> Option<CString> {
        let devpts =
            |m: &&MountOp| matches!(m.action, Action::Fs { fstype, .. } if fstype == c"devpts");
        let path = if self.dev.is_some()
            || self
                .mounts
                .iter()
                .filter(devpts)
                .any(|m| m.target.shown == "/dev/pts")
        {
            "/dev/pts".to_string()
        } else {
            self.mounts.iter().rfind(devpts)?.target.shown.clone()
        };
        CString::new(format!("{path}/ptmx")).ok()
    }

    pub(crate) fn hides_host(&self) -> bool {
        self.root.is_some()
            || self.readonly_root
            || !self.masked.is_empty()
            || !self.readonly_paths.is_empty()
    }

    pub(crate) fn apply(&self) -> Result<(), ChildFailure> {
        if self.chroot_only {
            let Some(r) = &self.root else {
                return Ok(());
            };
            let root = m::openat2(None, &r.host, libc::O_PATH | libc::O_DIRECTORY, 0)
                .map_err(fail(Step::RootBind, 1))?;
            return Self::change_root(root.as_fd(), true, false);
        }
        m::mount(None, c"/", None, self.propagation, None)
            .map_err(fail(Step::MountPropagation, 0))?;
        let null = if self.masked.is_empty() {
            None
        } else {
            Some(open_host_null().map_err(fail(Step::MaskPath, 0))?)
        };

        if let Some(r) = &self.root {
            match &r.setup {
                RootSetup::Bind if r.idmap.is_some() => {
                    let slot = r
                        .idmap
                        .and_then(|n| self.idmaps.get(n))
                        .map_or(-1, |r| r.slot);
                    let at = m::openat2(None, &r.host, libc::O_PATH | libc::O_DIRECTORY, 0)
                        .map_err(fail(Step::RootBind, 0))?;
                    attach_tree(slot, at.as_fd()).map_err(fail(Step::RootBind, 0))?;
                }
                RootSetup::Bind => m::mount(
                    Some(&r.host),
                    &r.host,
                    None,
                    libc::MS_BIND | libc::MS_REC,
                    None,
                )
                .map_err(fail(Step::RootBind, 0))?,
                RootSetup::Overlay { data, .. } => {
                    let merged = m::openat2(None, &r.host, libc::O_PATH | libc::O_DIRECTORY, 0)
                        .map_err(fail(Step::RootOverlay, 6))?;
                    mount_overlay(merged.as_fd(), 0, data)
                        .map_err(|(i, e)| fail_errno(Step::RootOverlay, i, e))?
                }
                RootSetup::Prepared { fd, .. } => {
                    let merged = m::openat2(None, &r.host, libc::O_PATH | libc::O_DIRECTORY, 0)
                        .map_err(fail(Step::RootOverlay, 6))?;
                    // Attached, then our copy closed (the drop): the
                    // overlay now lives in this mount namespace only.
                    attach_tree(*fd, merged.as_fd()).map_err(fail(Step::RootOverlay, 7))?;
                }
            }
        }
        let root_path = self.root.as_ref().map_or(c"/", |r| r.host.as_c_str());
        // SAFETY: NUL-terminated path; the descriptor is owned below.
        let root = unsafe {
            libc::open(
                root_path.as_ptr(),
                libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if root < 0 {
            return Err(ChildFailure::last_at(Step::RootBind, 1));
        }
        // SAFETY: root was just opened and is owned only here.
        let root = unsafe { OwnedFd::from_raw_fd(root) };
        let rfd = root.as_fd();
        let anchors = Anchors(&self.anchors);

        if let Some(t) = &self.proc_target {
            let fd = ensure_target(rfd, t).map_err(|e| fail_errno(Step::MountProc, 0, e))?;
            let flags = libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC;
            if self.proc_anchor.is_some() {
                let mnt =
                    new_mount_on(fd.as_fd(), c"proc", flags).map_err(fail(Step::MountProc, 1))?;
                anchors.keep(self.proc_anchor, mnt);
            } else {
                mount_fs_on(fd.as_fd(), c"proc", flags, None).map_err(fail(Step::MountProc, 1))?;
            }
        }
        self.apply_dev(rfd, &anchors)?;
        self.apply_mounts(rfd, &anchors)?;
        self.apply_devices(rfd)?;
        self.apply_masks(rfd, &anchors, null.as_ref().map(|n| n.as_fd()))?;
        drop(null);
        drop(anchors);
        if self.readonly_root {
            let a = m::MountAttr {
                attr_set: m::MOUNT_ATTR_RDONLY,
                ..Default::default()
            };
            m::mount_setattr(Some(rfd), c"", libc::AT_EMPTY_PATH, &a)
                .map_err(fail(Step::RootReadonly, 0))?;
        }
        if let Some(r) = &self.root {
            Self::change_root(rfd, r.chroot, true)?;
            if let Some(p) = self.post_propagation {
                m::mount(None, c"/", None, p, None).map_err(fail(Step::MountPropagation, 1))?;
                // The recursive change above reached the mounts with a
                // propagation of their own: set theirs again, from the new
                // root (inside which every lookup now stays).
                if self.mounts.iter().any(|op| op.propagation.0 != 0) {
                    let new_root = m::openat2(None, c"/", libc::O_PATH | libc::O_DIRECTORY, 0)
                        .map_err(fail(Step::MountPropagation, 1))?;
                    for (i, op) in self.mounts.iter().enumerate() {
                        Self::set_mount_propagation(new_root.as_fd(), i as u32, op)?;
                    }
                }
            }
        }
        Ok(())
    }

    // -----------------------------------------------------------------------
    // Parent side, after a failure.

    /// Describes what item `index` of `step` was working on (parent side).
    pub(crate) fn describe(&self, step: Step, index: u32) -> Option<String> {
        let root_shown = || {
            self.root
                .as_ref()
                .map_or("/".to_string(), |r| r.shown.clone())
        };
        match step {
            Step::MountPropagation => Some(format!(
                "{} recursively {}",
                if index == 0 { "/" } else { "the new /" },
                match if index == 0 {
                    self.propagation
                } else {
                    self.post_propagation.unwrap_or(0)
                } & !libc::MS_REC
                {
                    libc::MS_PRIVATE => "private",
                    libc::MS_SLAVE => "slave",
                    libc::MS_SHARED => "shared",
                    libc::MS_UNBINDABLE => "unbindable",
                    _ => "changed",
                }
            )),
            Step::MountProc => Some(format!(
                "proc on {}/proc ({})",
                root_shown().trim_end_matches('/'),
                if index == 0 {
                    "creating the mount point"
                } else {
                    "MS_NOSUID|MS_NODEV|MS_NOEXEC"
                }
            )),
            Step::RootBind => Some(match index {
                0 => format!("bind {} onto itself (MS_BIND|MS_REC)", root_shown()),
                _ => format!("opening the root {}", root_shown()),
            }),
            Step::RootOverlay => match self.root.as_ref().map(|r| &r.setup) {
                Some(RootSetup::Overlay { desc, .. }) => Some(match index {
                    0 => desc.clone(),
                    1 => format!("{desc}: creating the tmpfs for the upper layer"),
                    2 => format!("{desc}: creating upper/work in the tmpfs"),
                    3 => format!("{desc}: the options do not fit one page"),
                    4 => format!("{desc}: opening a lower layer"),
                    5 => format!("{desc}: attaching the tmpfs on the merged directory"),
                    _ => format!("{desc}: opening the merged directory"),
                }),
                Some(RootSetup::Prepared { desc, .. }) => Some(match index {
                    7 => format!("{desc}: attaching it on the merged directory (move_mount)"),
                    _ => format!("{desc}: opening the merged directory"),
                }),
                _ => None,
            },
            Step::Mount | Step::MountTarget => {
                let op = self.mounts.get(index as usize)?;
                Some(if step == Step::MountTarget {
                    format!(
                        "{} (resolving or creating the target {} inside the root)",
                        op.desc, op.target.shown
                    )
                } else {
                    op.desc.clone()
                })
            }
            Step::Dev => Some(match index {
                DEV_RESOLVE => "resolving or creating /dev inside the root".into(),
                DEV_TMPFS => "tmpfs on /dev (MS_NOSUID|MS_NOEXEC, mode=755,size=65536k)".into(),
                DEV_ATTACH => "attaching the new /dev tmpfs on /dev".into(),
                i if (DEV_NODE0..DEV_LINK0).contains(&i) => {
                    let (n, h) = DEV_NODES[(i - DEV_NODE0) as usize];
                    format!(
                        "bind {} onto /dev/{}",
                        h.to_string_lossy(),
                        n.to_string_lossy()
                    )
                }
                i if (DEV_LINK0..DEV_PTS_DIR).contains(&i) => {
                    let (n, t) = DEV_LINKS[(i - DEV_LINK0) as usize];
                    format!(
                        "symlink /dev/{} -> {}",
                        n.to_string_lossy(),
                        t.to_string_lossy()
                    )
                }
                i if i >= DEV_DEVICE0 => match self.devices.get((i - DEV_DEVICE0) as usize) {
                    Some(d) if d.host.is_some() => {
                        format!("device {} (a bind of the host's node)", d.shown)
                    }
                    Some(d) => format!("device {} (mknod, mode {:o})", d.shown, d.mode & 0o7777),
                    None => return None,
                },
                DEV_PTS_DIR => "mkdir /dev/pts".into(),
                DEV_PTS => "devpts on /dev/pts (newinstance,ptmxmode=0666,mode=0620)".into(),
                DEV_SHM_DIR => "mkdir /dev/shm".into(),
                DEV_SHM => match &self.dev {
                    Some(DevPlan::Minimal { shm_data, .. }) => format!(
                        "tmpfs on /dev/shm (MS_NOSUID|MS_NODEV|MS_NOEXEC, {})",
                        shm_data.to_string_lossy()
                    ),
                    _ => "tmpfs on /dev/shm".into(),
                },
                _ => return None,
            })
            .map(|s: String| {
                if matches!(self.dev, Some(DevPlan::Host { .. })) && index == DEV_HOST_BIND {
                    "bind the host's /dev onto /dev (MS_BIND|MS_REC)".to_string()
                } else {
                    s
                }
            }),
            Step::MaskPath => self.masked.get(index as usize).map(|t| {
                format!(
                    "masking {} (the host's /dev/null or an empty read-only tmpfs)",
                    t.target.shown
                )
            }),
            Step::ReadOnlyPath => self
                .readonly_paths
                .get(index as usize)
                .map(|t| format!("bind {} read-only onto itself", t.target.shown)),
            Step::RootReadonly => Some(format!("remounting the root {} read-only", root_shown())),
            Step::PivotRoot => Some(match index {
                0 => "opening the old root /".into(),
                1 => format!("fchdir into the new root {}", root_shown()),
                _ => format!("pivot_root(\".\", \".\") into {}", root_shown()),
            }),
            Step::OldRootUnmount => Some(match index {
                0 => "fchdir into the old root".into(),
                1 => "making the old root recursively private".into(),
                2 => "umount2(old root, MNT_DETACH)".into(),
                _ => "chdir(\"/\") in the new root".into(),
            }),
            Step::Chroot => Some(format!("chroot into {}", root_shown())),
            _ => None,
        }
    }

    /// The usual causes of `errno` at item `index` of `step` (parent side).
    pub(crate) fn hint(&self, step: Step, index: u32, errno: i32) -> Option<String> {
        let op = self.mounts.get(index as usize);
        let kind = |k: &str| {
            op.is_some_and(|o| match &o.action {
                Action::Fs { fstype, .. } => fstype.to_bytes() == k.as_bytes(),
                Action::Bind { .. } | Action::IdmappedBind(_) => k == "bind",
                Action::Overlay { .. } => k == "overlay",
            })
        };
        let s = |x: &str| Some(x.to_string());
        match (step, errno) {
            (Step::PivotRoot, libc::EINVAL) if index == 2 => s(
                "pivot_root fails with EINVAL when: the new root is not a mount point (it is bind-mounted \
                 onto itself first, so check that the bind happened); the new root or its parent mount \
                 has shared propagation (use Propagation::Private or Slave); the old root is not under \
                 the new root; or the host runs from an initramfs (rootfs), where pivot_root never works: \
                 use RootMode::Chroot",
            ),
            (Step::PivotRoot, libc::EPERM) => s("pivot_root needs CAP_SYS_ADMIN in the mount namespace's user namespace"),
            (Step::MountProc, libc::EPERM) => s(
                "mounting proc needs CAP_SYS_ADMIN over the PID namespace's owning user namespace (with a \
                 new user namespace, add Namespaces::PID), and inside a user namespace a fully visible \
                 /proc in the mount namespace (mnt_too_revealing: no masked or over-mounted paths on the \
                 host's /proc, as inside docker)",
            ),
            (Step::Mount, libc::EPERM) if kind("proc") => self.hint(Step::MountProc, 0, libc::EPERM),
            (Step::Mount, libc::EPERM) if kind("sysfs") => s(
                "mounting sysfs inside a user namespace needs a new network namespace (Namespaces::NET) \
                 and a fully visible /sys (mnt_too_revealing)",
            ),
            (Step::Mount, libc::EPERM) if kind("mqueue") => s("mounting mqueue inside a user namespace needs a new IPC namespace (Namespaces::IPC)"),
            (Step::Mount, libc::EPERM) if kind("cgroup2") => s("mounting cgroup2 inside a user namespace needs a new cgroup namespace (Namespaces::CGROUP)"),
            (Step::Mount, libc::EPERM) if self.user_ns => s(
                "inside a user namespace, only filesystems marked FS_USERNS_MOUNT can be mounted, and \
                 flags locked by the host (nosuid, nodev, noexec, ro) cannot be cleared on a bind",
            ),
            (Step::Mount, libc::ENOENT) if kind("bind") => s("the bind source does not exist (anymore)"),
            (Step::Mount, libc::EINVAL) if kind("bind") => s(
                "a non-recursive bind of a tree with locked submounts is refused inside a user namespace \
                 (use .recursive(true)); a file cannot be bound onto a directory or the reverse",
            ),
            (Step::Mount | Step::RootOverlay, libc::EINVAL)
                if self.user_ns && (step == Step::RootOverlay || kind("overlay")) =>
            {
                let data = match (step, &self.root, op) {
                    (Step::RootOverlay, Some(r), _) => match &r.setup {
                        RootSetup::Overlay { data, .. } => Some(data),
                        RootSetup::Bind | RootSetup::Prepared { .. } => None,
                    },
                    (_, _, Some(o)) => match &o.action {
                        Action::Overlay { data, .. } => Some(data),
                        _ => None,
                    },
                    _ => None,
                };
                let below = data
                    .map(|d| {
                        crate::sys::read_mountinfo()
                            .map(|info| mounts_below(&info, &layer_paths(d)))
                            .unwrap_or_default()
                    })
                    .unwrap_or_default();
                let found = if below.is_empty() {
                    "a layer directory has mounts below it".to_string()
                } else {
                    format!("mounted below a layer: {}", below.join(", "))
                };
                Some(format!(
                    "inside a user namespace, overlayfs refuses a layer directory with submounts: the \
                     host's mounts below it are locked in the user namespace (clone_private_mount fails, \
                     dmesg: \"failed to clone lowerpath\"); {found}; use layer directories without \
                     submounts, or mount the overlay outside the user namespace"
                ))
            }
            (Step::Mount | Step::RootOverlay, libc::EINVAL) if step == Step::RootOverlay || kind("overlay") => s(
                "overlayfs refuses: upper and work on different filesystems, a work dir that is not empty \
                 or in use by another overlay, an upper layer on a filesystem without d_type/xattrs (or on \
                 overlayfs), too many layers; the kernel log (dmesg) names the reason",
            ),
            (Step::Mount | Step::RootOverlay, libc::ENOENT) if step == Step::RootOverlay || kind("overlay") => {
                s("a layer directory does not exist")
            }
            (Step::Mount | Step::MountProc | Step::Dev, libc::EBUSY) => s(
                "the target is busy: a mount of the same filesystem instance is already there, or the \
                 target is in use",
            ),
            (Step::MountTarget | Step::MountProc | Step::Dev, libc::EEXIST) => s(
                "the target path holds a symlink that points to a missing path (resolved inside the \
                 root), so the mount point cannot be created",
            ),
            (Step::MountTarget | Step::MountProc | Step::Dev, libc::EROFS) => s(
                "the mount point does not exist and the root is read-only: create it in the image",
            ),
            (Step::MountTarget, libc::ENOTDIR) => s("a component of the target path is not a directory"),
            (Step::MountTarget, libc::EXDEV) | (Step::MountTarget, libc::ELOOP) => s(
                "the target path resolves through a magic link or a symlink loop inside the root",
            ),
            (Step::MaskPath | Step::ReadOnlyPath, libc::EXDEV | libc::ELOOP) => s(
                "the path lies under a mount of this container and is looked up beneath it: a \
                 symlink on the way leaves that mount (an absolute link, `..`) or is a magic link",
            ),
            (Step::MaskPath, libc::ENODEV) => s(
                "the host's /dev/null is not the null character device (1:3): refusing to mask with it",
            ),
            (Step::RootBind, libc::ENOENT) => s("the root directory does not exist (anymore)"),
            (Step::Dev, libc::EPERM) => s("binding host device nodes needs CAP_SYS_ADMIN in the mount namespace's user namespace"),
            (Step::RootReadonly, libc::EPERM) => s("a read-only remount of a mount locked by the host is refused inside a user namespace"),
            (Step::OldRootUnmount, libc::EINVAL) => s("the old root is not a mount point (pivot_root did not stack it on the new root)"),
            (Step::Chroot, libc::EPERM) => s("chroot needs CAP_SYS_CHROOT"),
            (Step::Chroot, libc::EINVAL) => s("moving the root onto / before the chroot needs a parent mount that is not shared (propagation shared)"),
            (_, libc::ENOSYS) => s(
                "the kernel lacks a system call used here (openat2 needs Linux 5.6, mount_setattr 5.12, \
                 open_tree/move_mount/fsopen 5.2)",
            ),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
