//! `clone3(2)` with our own argument struct and 64-bit flags.
//!
//! `libc::CLONE_INTO_CGROUP` is 0 on targets where `c_int` is 32 bits (the
//! real value, `0x200000000`, overflows), and `libc::clone_args` exists only on
//! some targets, so both are defined here.

use std::io;
use std::os::fd::RawFd;

bitflags::bitflags! {
    /// Flags of `clone3(2)`, as the 64-bit word the kernel takes.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct CloneFlags: u64 {
        /// New time namespace (`CLONE_NEWTIME`).
        const NEWTIME = 0x0000_0080;
        /// Share the virtual memory.
        const VM = 0x0000_0100;
        /// Share filesystem information (root, cwd, umask).
        const FS = 0x0000_0200;
        /// Share the file descriptor table.
        const FILES = 0x0000_0400;
        /// Share signal handlers.
        const SIGHAND = 0x0000_0800;
        /// Return a pidfd for the child (`CLONE_PIDFD`, Linux 5.2).
        const PIDFD = 0x0000_1000;
        /// Suspend the parent until the child execs or exits.
        const VFORK = 0x0000_4000;
        /// Same parent as the caller.
        const PARENT = 0x0000_8000;
        /// New mount namespace (`CLONE_NEWNS`).
        const NEWNS = 0x0002_0000;
        /// New cgroup namespace.
        const NEWCGROUP = 0x0200_0000;
        /// New UTS namespace.
        const NEWUTS = 0x0400_0000;
        /// New IPC namespace.
        const NEWIPC = 0x0800_0000;
        /// New user namespace.
        const NEWUSER = 0x1000_0000;
        /// New PID namespace.
        const NEWPID = 0x2000_0000;
        /// New network namespace.
        const NEWNET = 0x4000_0000;
        /// Reset all handled signals to their default in the child (Linux 5.5).
        const CLEAR_SIGHAND = 0x1_0000_0000;
        /// Start the child in the cgroup given by `CloneArgs::cgroup` (Linux 5.7).
        const INTO_CGROUP = 0x2_0000_0000;
    }
}

/// `struct clone_args` (version 2, 88 bytes) of `clone3(2)`.
#[repr(C, align(8))]
#[derive(Debug, Clone, Copy, Default)]
pub struct CloneArgs {
    /// The clone flags ([`CloneFlags`] bits).
    pub flags: u64,
    /// Where the kernel stores the pidfd (`CLONE_PIDFD`): a pointer to an `int`.
    pub pidfd: u64,
    /// Where to store the child's TID in the child's memory.
    pub child_tid: u64,
    /// Where to store the child's TID in the parent's memory.
    pub parent_tid: u64,
    /// The signal sent to the parent when the child ends (usually `SIGCHLD`).
    pub exit_signal: u64,
    /// Lowest address of the child's stack (0: share a copy of ours, like fork).
    pub stack: u64,
    /// Size of the child's stack.
    pub stack_size: u64,
    /// TLS descriptor (`CLONE_SETTLS`).
    pub tls: u64,
    /// Pointer to an array of TIDs to request.
    pub set_tid: u64,
    /// Number of elements in `set_tid`.
    pub set_tid_size: u64,
    /// File descriptor of the target cgroup directory (`CLONE_INTO_CGROUP`).
    pub cgroup: u64,
}

/// `clone3(2)`: creates a child process like `fork` when `args.stack` is 0.
///
/// Returns the child's pid in the parent and 0 in the child.
///
/// # Errors
///
/// The `clone3(2)` errno: `ENOSYS` (kernel before 5.3 or filtered),
/// `EPERM`, `ENOSPC` (namespace limits), `EAGAIN` (process limits),
/// `EINVAL` (flag combination).
///
/// # Safety
///
/// The child runs on a copy of the caller's address space with only the
/// calling thread. Until it calls `execve` or `_exit`, it must only make
/// async-signal-safe calls: no allocation, no locks, no panics, no
/// destructors that touch shared state. Pointers in `args` must be valid.
///
/// # References
/// - [`clone3(2)`](https://man7.org/linux/man-pages/man2/clone.2.html)
pub unsafe fn clone3(args: &mut CloneArgs) -> io::Result<libc::pid_t> {
    // SAFETY: args points to a properly sized and aligned clone_args; the
    // caller upholds the post-fork contract.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as libc::pid_t)
    }
}

/// Whether [`clone3_on_stack`] exists on this architecture.
pub const HAS_CLONE3_ON_STACK: bool = cfg!(target_arch = "x86_64");

/// `clone3(2)` whose child starts on the stack given in `args.stack` /
/// `args.stack_size`, calls `entry(arg)` there and exits with its return
/// value (`exit(2)`, not `exit_group`). The parent gets the child's pid.
///
/// This is the shape `posix_spawn` uses (glibc's internal `__clone3`), with
/// clone3's 64-bit flags: `CLONE_VM | CLONE_VFORK` together with
/// `CLONE_INTO_CGROUP`, `CLONE_NEWTIME` and `CLONE_CLEAR_SIGHAND`, which
/// glibc's `clone()` wrapper cannot pass. The child cannot simply return
/// from the system call (its stack is empty), hence this small piece of
/// assembly; x86_64 only for now ([`HAS_CLONE3_ON_STACK`]); elsewhere it
/// returns `ENOSYS` and callers take the fork shape.
///
/// # Errors
///
/// As [`clone3`].
///
/// # Safety
///
/// - `args.stack` must point to `args.stack_size` writable bytes that stay
///   mapped until the child has exec'd or exited, 16-byte aligned at the top;
/// - with `CLONE_VM` the child shares the caller's memory and (without
///   `CLONE_SETTLS`) its thread-local storage, errno included: `entry` keeps
///   to the post-fork rules (no allocation, no locks, no unwinding,
///   async-signal-safe calls only), and the calling thread must not use that
///   storage while the child runs: either it is suspended (`CLONE_VFORK`),
///   or, as the crate's spawn does for user namespaces, it keeps every
///   signal blocked and the two take turns (one waits in a blocking system
///   call while the other works) until the child has exec'd or exited;
/// - the other pointers in `args` must be valid.
///
/// # References
/// - glibc `sysdeps/unix/sysv/linux/x86_64/clone3.S` (the same shape)
/// - [`clone3(2)`](https://man7.org/linux/man-pages/man2/clone.2.html)
pub unsafe fn clone3_on_stack(
    args: &mut CloneArgs,
    entry: extern "C" fn(*mut libc::c_void) -> libc::c_int,
    arg: *mut libc::c_void,
) -> io::Result<libc::pid_t> {
    #[cfg(target_arch = "x86_64")]
    {
        let ret: i64;
        // SAFETY: the caller upholds the contract above. In the parent this
        // is a plain system call (rcx and r11 clobbered by `syscall`). In the
        // child (rax == 0) the stack pointer is the top of the new stack:
        // clear the frame pointer (end of backtraces), call entry(arg) with
        // the stack 16-byte aligned, then exit(2) with its result; the child
        // never comes back into compiled code.
        unsafe {
            core::arch::asm!(
                "syscall",
                "test rax, rax",
                "jnz 2f",
                "xor ebp, ebp",
                "mov rdi, r12",
                "call r13",
                "mov edi, eax",
                "mov eax, 60", // SYS_exit
                "syscall",
                "ud2",
                "2:",
                inlateout("rax") libc::SYS_clone3 => ret,
                in("rdi") args as *mut CloneArgs,
                in("rsi") std::mem::size_of::<CloneArgs>(),
                in("r12") arg,
                in("r13") entry,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        if ret < 0 {
            Err(io::Error::from_raw_os_error(-ret as i32))
        } else {
            Ok(ret as libc::pid_t)
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = (args, entry, arg);
        Err(io::Error::from_raw_os_error(libc::ENOSYS))
    }
}

/// The legacy `clone(2)` system call with a null stack (fork-like), for
/// kernels without `clone3`. Supports `CLONE_PIDFD` (the pidfd is stored in
/// `*pidfd`) but neither `CLONE_INTO_CGROUP`, `CLONE_NEWTIME` nor
/// `CLONE_CLEAR_SIGHAND`.
///
/// # Errors
///
/// The `clone(2)` errno, as for [`clone3`].
///
/// # Safety
///
/// As for [`clone3`].
pub unsafe fn clone_legacy(
    flags: CloneFlags,
    exit_signal: i32,
    pidfd: Option<&mut RawFd>,
) -> io::Result<libc::pid_t> {
    let unsupported = CloneFlags::INTO_CGROUP | CloneFlags::NEWTIME | CloneFlags::CLEAR_SIGHAND;
    if flags.intersects(unsupported) {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let word = flags.bits() | (exit_signal as u64 & 0xff);
    let ptid: *mut RawFd = match pidfd {
        Some(p) => p,
        None => std::ptr::null_mut(),
    };
    // SAFETY: x86_64/aarch64 order: flags, newsp, parent_tid, child_tid, tls.
    // A null stack gives fork semantics; ptid is null or a valid int pointer.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            word as libc::c_ulong,
            0usize,
            ptid,
            std::ptr::null_mut::<libc::c_int>(),
            0usize,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r as libc::pid_t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_args_layout() {
        assert_eq!(std::mem::size_of::<CloneArgs>(), 88); // CLONE_ARGS_SIZE_VER2
        assert_eq!(std::mem::align_of::<CloneArgs>(), 8);
        assert_eq!(std::mem::offset_of!(CloneArgs, cgroup), 80);
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn clone3_on_stack_runs_entry_and_exits_with_its_value() {
        extern "C" fn entry(arg: *mut libc::c_void) -> libc::c_int {
            // SAFETY: arg points to the parent's u32, alive while the parent
            // is suspended (CLONE_VFORK); reading it is all we do.
            unsafe { *(arg as *const u32) as libc::c_int }
        }
        let mut stack = vec![0u128; 4096]; // 64 KiB, 16-byte aligned
        let value: u32 = 42;
        let mut pidfd: i32 = -1;
        let mut args = CloneArgs {
            flags: (CloneFlags::VM | CloneFlags::VFORK | CloneFlags::PIDFD).bits(),
            pidfd: &mut pidfd as *mut i32 as u64,
            exit_signal: libc::SIGCHLD as u64,
            stack: stack.as_mut_ptr() as u64,
            stack_size: (stack.len() * 16) as u64,
            ..CloneArgs::default()
        };
        // SAFETY: the stack outlives the child (we are suspended until it
        // exits); entry only reads the value and returns.
        let pid =
            unsafe { clone3_on_stack(&mut args, entry, &value as *const u32 as *mut libc::c_void) }
                .unwrap();
        let mut status = 0;
        // SAFETY: waits for our own child.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert!(libc::WIFEXITED(status));
        assert_eq!(libc::WEXITSTATUS(status), 42);
        // SAFETY: CLONE_PIDFD stored a descriptor we own.
        unsafe { libc::close(pidfd) };
        // An invalid flag combination is an error, not a crash.
        let mut bad = CloneArgs {
            flags: (CloneFlags::VM | CloneFlags::SIGHAND | CloneFlags::CLEAR_SIGHAND).bits(),
            stack: stack.as_mut_ptr() as u64,
            stack_size: (stack.len() * 16) as u64,
            ..CloneArgs::default()
        };
        // SAFETY: the kernel refuses these flags before creating a child.
        let e =
            unsafe { clone3_on_stack(&mut bad, entry, &value as *const u32 as *mut libc::c_void) }
                .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    }

    #[test]
    fn flags_match_kernel_values() {
        assert_eq!(CloneFlags::INTO_CGROUP.bits(), 0x200000000);
        assert_eq!(CloneFlags::NEWNS.bits(), libc::CLONE_NEWNS as u64);
        assert_eq!(CloneFlags::NEWUSER.bits(), libc::CLONE_NEWUSER as u64);
        assert_eq!(CloneFlags::NEWNET.bits(), libc::CLONE_NEWNET as u64);
        assert_eq!(CloneFlags::PIDFD.bits(), libc::CLONE_PIDFD as u64);
    }
}
