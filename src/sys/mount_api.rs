//! The mount system calls `nix` lacks: `openat2(2)` with `RESOLVE_IN_ROOT`,
//! the new mount API (`open_tree`, `move_mount`, `mount_setattr`, `fsopen`,
//! `fsconfig`, `fsmount`) and `pivot_root(2)`, plus a plain `mount(2)` on
//! `CStr`s.
//!
//! Every function here is a single system call: async-signal-safe, no
//! allocation (an [`io::Error`] built from an errno does not allocate), so
//! the child may call them between clone and exec.

use std::ffi::CStr;
use std::io;
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// `open_tree(2)` flag: clone the tree (a detached bind mount) instead of
/// opening the mount itself.
pub const OPEN_TREE_CLONE: u32 = 1;
/// `open_tree(2)` flag: close-on-exec descriptor.
pub const OPEN_TREE_CLOEXEC: u32 = libc::O_CLOEXEC as u32;
/// `move_mount(2)` flag: the source is the descriptor itself (empty path).
pub const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;
/// `move_mount(2)` flag: the target is the descriptor itself (empty path).
pub const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;
/// `mount_setattr(2)` attribute: read-only.
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
/// `mount_setattr(2)` attribute: ignore set-user-id bits.
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
/// `mount_setattr(2)` attribute: no device files.
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
/// `mount_setattr(2)` attribute: no execution.
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
/// `fsopen(2)` flag: close-on-exec descriptor.
pub const FSOPEN_CLOEXEC: u32 = 1;
/// `fsmount(2)` flag: close-on-exec descriptor.
pub const FSMOUNT_CLOEXEC: u32 = 1;
/// `fsconfig(2)` command: set a string option.
pub const FSCONFIG_SET_STRING: u32 = 1;
/// `fsconfig(2)` command: set an option to an open file (`aux`).
pub const FSCONFIG_SET_FD: u32 = 5;
/// `fsconfig(2)` command: create the superblock.
pub const FSCONFIG_CMD_CREATE: u32 = 6;

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct MountAttr {
    /// Attributes to set (`MOUNT_ATTR_*`).
    pub attr_set: u64,
    /// Attributes to clear.
    pub attr_clr: u64,
    /// Propagation type (`MS_PRIVATE` …) or 0.
    pub propagation: u64,
    /// User namespace fd for id-mapped mounts (with `MOUNT_ATTR_IDMAP`).
    pub userns_fd: u64,
}

/// `struct open_how` of `openat2(2)` (libc's is `#[non_exhaustive]`).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

fn fd_result(r: libc::c_long) -> io::Result<OwnedFd> {
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

fn unit_result(r: libc::c_long) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

fn raw(dirfd: Option<BorrowedFd<'_>>) -> RawFd {
    use std::os::fd::AsRawFd;
    dirfd.map_or(libc::AT_FDCWD, |d| d.as_raw_fd())
}

/// `openat2(dirfd, path, &{flags | O_CLOEXEC, mode: 0, resolve}, sizeof)`.
///
/// With `resolve = RESOLVE_IN_ROOT`, `dirfd` acts as the root directory for
/// the whole lookup: `..` and absolute symlinks cannot leave it. Linux 5.6.
/// `dirfd` `None` means `AT_FDCWD`.
///
/// With `RESOLVE_IN_ROOT` or `RESOLVE_BENEATH` the kernel answers `EAGAIN`
/// when a rename or mount elsewhere on the system raced the lookup; the call
/// is then retried (at most 64 times) before `EAGAIN` is returned.
///
/// # Errors
/// The `openat2(2)` errno as an [`io::Error`], e.g. `ENOENT`, `ELOOP` (a
/// symlink or magic link the `resolve` flags forbid), `EXDEV` (the path
/// leaves `dirfd`), `ENOSYS` (Linux before 5.6).
///
/// # References
/// - [`openat2(2)`](https://man7.org/linux/man-pages/man2/openat2.2.html)
pub fn openat2(
    dirfd: Option<BorrowedFd<'_>>,
    path: &CStr,
    flags: i32,
    resolve: u64,
) -> io::Result<OwnedFd> {
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve,
    };
    let mut tries = 0;
    loop {
        // SAFETY: path is NUL-terminated, `how` is a live struct of the size
        // we pass.
        let r = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                raw(dirfd),
                path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        // EAGAIN: a concurrent rename or mount invalidated a scoped lookup
        // (RESOLVE_IN_ROOT/BENEATH); the kernel asks the caller to retry.
        if r < 0 && crate::sys::errno() == libc::EAGAIN && tries < 64 {
            tries += 1;
            continue;
        }
        return fd_result(r);
    }
}

/// `open_tree(dirfd, path, flags | OPEN_TREE_CLOEXEC)`: with
/// [`OPEN_TREE_CLONE`] a detached copy of the mount at `path` (add
/// `AT_RECURSIVE` for its submounts too), ready for [`move_mount`]. Linux 5.2.
///
/// # Errors
///
/// The `open_tree(2)` errno (`ENOSYS` before Linux 5.2, `ENOENT`,
/// `EPERM`).
///
/// # References
/// - [`open_tree(2)`](https://man7.org/linux/man-pages/man2/open_tree.2.html)
pub fn open_tree(dirfd: Option<BorrowedFd<'_>>, path: &CStr, flags: u32) -> io::Result<OwnedFd> {
    // SAFETY: path is NUL-terminated; integer arguments.
    let r = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            raw(dirfd),
            path.as_ptr(),
            flags | OPEN_TREE_CLOEXEC,
        )
    };
    fd_result(r)
}

/// `move_mount(from_dirfd, from_path, to_dirfd, to_path, flags)`: attaches a
/// detached mount (from [`open_tree`] or [`fsmount`]) at a target, which may
/// be a descriptor itself with [`MOVE_MOUNT_T_EMPTY_PATH`]. Linux 5.2.
///
/// # Errors
///
/// The `move_mount(2)` errno (`ENOSYS` before Linux 5.2, `EPERM`,
/// `EINVAL`).
///
/// # References
/// - [`move_mount(2)`](https://man7.org/linux/man-pages/man2/move_mount.2.html)
pub fn move_mount(
    from_dirfd: Option<BorrowedFd<'_>>,
    from_path: &CStr,
    to_dirfd: Option<BorrowedFd<'_>>,
    to_path: &CStr,
    flags: u32,
) -> io::Result<()> {
    // SAFETY: both paths are NUL-terminated; integer arguments.
    let r = unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            raw(from_dirfd),
            from_path.as_ptr(),
            raw(to_dirfd),
            to_path.as_ptr(),
            flags,
        )
    };
    unit_result(r)
}

/// `mount_setattr(dirfd, path, flags, &attr, sizeof attr)`: changes mount
/// attributes (read-only …) of one mount, or of a tree with `AT_RECURSIVE`,
/// touching only the attributes named. Linux 5.12.
///
/// # Errors
///
/// The `mount_setattr(2)` errno (`ENOSYS` before Linux 5.12, `EPERM`,
/// `EINVAL`).
///
/// # References
/// - [`mount_setattr(2)`](https://man7.org/linux/man-pages/man2/mount_setattr.2.html)
pub fn mount_setattr(
    dirfd: Option<BorrowedFd<'_>>,
    path: &CStr,
    flags: i32,
    attr: &MountAttr,
) -> io::Result<()> {
    // SAFETY: path NUL-terminated, attr a live repr(C) struct of the given size.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            raw(dirfd),
            path.as_ptr(),
            flags as libc::c_uint,
            attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    unit_result(r)
}

/// `fsopen(fstype, FSOPEN_CLOEXEC)`: a filesystem context to configure with
/// [`fsconfig_set_string`] and [`fsconfig_create`]. Linux 5.2.
///
/// # Errors
///
/// The `fsopen(2)` errno (`ENOSYS` before Linux 5.2, `ENODEV`: unknown
/// file system type, `EPERM`).
///
/// # References
/// - [`fsopen(2)`](https://man7.org/linux/man-pages/man2/fsopen.2.html)
pub fn fsopen(fstype: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: fstype NUL-terminated.
    let r = unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) };
    fd_result(r)
}

/// `fsconfig(fd, FSCONFIG_SET_STRING, key, value, 0)`.
///
/// # Errors
///
/// The `fsconfig(2)` errno (`EINVAL`: a key the file system does not
/// take).
///
/// # References
/// - [`fsconfig(2)`](https://man7.org/linux/man-pages/man2/fsconfig.2.html)
pub fn fsconfig_set_string(fs: BorrowedFd<'_>, key: &CStr, value: &CStr) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: key and value NUL-terminated.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_SET_STRING,
            key.as_ptr(),
            value.as_ptr(),
            0,
        )
    };
    unit_result(r)
}

/// `fsconfig(fd, FSCONFIG_SET_FD, key, NULL, file)`: sets `key` to an open
/// file (overlayfs takes its `lowerdir+`, `upperdir` and `workdir` so
/// since Linux 6.13; the descriptor must not be `O_PATH`).
///
/// # Errors
///
/// The `fsconfig(2)` errno (`EINVAL`: a key the file system does not take
/// as a descriptor, e.g. overlayfs before 6.13; `EBADF`).
///
/// # References
/// - [`fsconfig(2)`](https://man7.org/linux/man-pages/man2/fsconfig.2.html)
pub fn fsconfig_set_fd(fs: BorrowedFd<'_>, key: &CStr, file: BorrowedFd<'_>) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: key NUL-terminated; the value pointer must be null for this
    // command; file is a live descriptor.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_SET_FD,
            key.as_ptr(),
            std::ptr::null::<libc::c_void>(),
            file.as_raw_fd(),
        )
    };
    unit_result(r)
}

/// `fsconfig(fd, FSCONFIG_CMD_CREATE, NULL, NULL, 0)`: creates the superblock.
///
/// # Errors
///
/// The `fsconfig(2)` errno: the file system refused its configuration
/// (details in the descriptor's message log).
///
/// # References
/// - [`fsconfig(2)`](https://man7.org/linux/man-pages/man2/fsconfig.2.html)
pub fn fsconfig_create(fs: BorrowedFd<'_>) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: null key/value are what this command takes.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsconfig,
            fs.as_raw_fd(),
            FSCONFIG_CMD_CREATE,
            std::ptr::null::<libc::c_char>(),
            std::ptr::null::<libc::c_void>(),
            0,
        )
    };
    unit_result(r)
}

/// `fsmount(fs, FSMOUNT_CLOEXEC, attr_flags)`: a detached mount of the
/// configured filesystem. Its descriptor is a directory one may `mkdirat`
/// in, and attach with [`move_mount`]. Linux 5.2.
///
/// # Errors
///
/// The `fsmount(2)` errno (`EINVAL`, `EPERM`).
///
/// # References
/// - [`fsmount(2)`](https://man7.org/linux/man-pages/man2/fsmount.2.html)
pub fn fsmount(fs: BorrowedFd<'_>, attr_flags: u32) -> io::Result<OwnedFd> {
    use std::os::fd::AsRawFd;
    // SAFETY: integer arguments.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fsmount,
            fs.as_raw_fd(),
            FSMOUNT_CLOEXEC,
            attr_flags,
        )
    };
    fd_result(r)
}

/// `pivot_root(new_root, put_old)`: moves the caller's mount namespace root
/// to `new_root` and the old root to `put_old`. `pivot_root(".", ".")` after
/// `fchdir(new_root)` stacks the old root on top of the new one, so it can be
/// unmounted with `umount2(".", MNT_DETACH)` without a directory for it.
///
/// # Errors
///
/// The `pivot_root(2)` errno (`EINVAL`: `new_root` is not a mount point
/// or the current root is shared; `EBUSY`; `EPERM`).
///
/// # References
/// - [`pivot_root(2)`](https://man7.org/linux/man-pages/man2/pivot_root.2.html)
pub fn pivot_root(new_root: &CStr, put_old: &CStr) -> io::Result<()> {
    // SAFETY: both paths NUL-terminated.
    let r = unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) };
    unit_result(r)
}

/// `mount(2)` on C strings: `source`, `fstype` and `data` may be absent.
///
/// # Errors
///
/// The `mount(2)` errno.
///
/// # References
/// - [`mount(2)`](https://man7.org/linux/man-pages/man2/mount.2.html)
pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    let p = |s: Option<&CStr>| s.map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: every non-null pointer is a live NUL-terminated string.
    let r = unsafe { libc::mount(p(source), target.as_ptr(), p(fstype), flags, p(data).cast()) };
    unit_result(r as libc::c_long)
}

/// `umount2(target, flags)`.
///
/// # Errors
///
/// The `umount2(2)` errno (`EBUSY`, `EINVAL`: not a mount point, `EPERM`).
///
/// # References
/// - [`umount2(2)`](https://man7.org/linux/man-pages/man2/umount2.2.html)
pub fn umount2(target: &CStr, flags: i32) -> io::Result<()> {
    // SAFETY: target NUL-terminated.
    let r = unsafe { libc::umount2(target.as_ptr(), flags) };
    unit_result(r as libc::c_long)
}

/// `f_type` of a procfs superblock (`statfs(2)`).
pub const PROC_SUPER_MAGIC: libc::c_long = 0x9fa0;

/// Whether `fd` lies on a procfs (`fstatfs(2)` `f_type`).
fn is_procfs(fd: BorrowedFd<'_>) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    // SAFETY: an all-zero statfs is a valid value to be overwritten.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: fd is live, st a valid out pointer.
    if unsafe { libc::fstatfs(fd.as_raw_fd(), &mut st) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_type as libc::c_long == PROC_SUPER_MAGIC)
}

/// `openat2(AT_FDCWD, "/proc/self", O_PATH | O_DIRECTORY)`, checked to be
/// on a procfs (`EXDEV` otherwise): the calling process's own procfs
/// directory, for writes that must reach it after the process has entered
/// another mount namespace or root, whose `/proc` may be anything (runc
/// CVE-2025-52881). Open it while the mount namespace is still the caller's.
///
/// # Errors
/// The `openat2`/`fstatfs` errno; `EXDEV` when `/proc` is not a procfs.
///
/// # References
/// - [`proc_pid(5)`](https://man7.org/linux/man-pages/man5/proc_pid.5.html)
pub fn open_proc_self() -> io::Result<OwnedFd> {
    use std::os::fd::AsFd;
    let fd = openat2(None, c"/proc/self", libc::O_PATH | libc::O_DIRECTORY, 0)?;
    if !is_procfs(fd.as_fd())? {
        return Err(io::Error::from_raw_os_error(libc::EXDEV));
    }
    Ok(fd)
}

/// Writes `data` to the procfs file `name` beneath the procfs directory
/// `dir` (from [`open_proc_self`]): looked up with `openat2(RESOLVE_BENEATH
/// | RESOLVE_NO_SYMLINKS | RESOLVE_NO_XDEV)`, so no symlink and no mount
/// (a bind over the file) can redirect it, and checked to be on a procfs.
/// No allocation: callable in the child.
///
/// # Errors
/// The errno of `openat2`, `fstatfs` or `write`; `EXDEV` when the file is
/// not on a procfs.
///
/// # References
/// - [`openat2(2)`](https://man7.org/linux/man-pages/man2/openat2.2.html)
pub fn write_proc_file(dir: BorrowedFd<'_>, name: &CStr, data: &[u8]) -> Result<(), i32> {
    use std::os::fd::{AsFd, AsRawFd};
    let errno = |e: io::Error| e.raw_os_error().unwrap_or(libc::EIO);
    let fd = openat2(
        Some(dir),
        name,
        libc::O_WRONLY,
        libc::RESOLVE_BENEATH | libc::RESOLVE_NO_SYMLINKS | libc::RESOLVE_NO_XDEV,
    )
    .map_err(errno)?;
    if !is_procfs(fd.as_fd()).map_err(errno)? {
        return Err(libc::EXDEV);
    }
    super::write_all_fd(fd.as_raw_fd(), data)
}
