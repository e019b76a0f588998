//! The usual causes of an errno at each step of the child, shown in
//! [`crate::ChildError`]'s Display. Mount steps add their own, more precise
//! hints (see `mount::MountPlan::hint`); these are the general ones.

use crate::error::Step;

const USERNS_CAP: &str = "inside a user namespace this needs the capability in the user \
    namespace that owns the target namespace; dropped capabilities (capabilities(...)) or a \
    non-root user(...) also remove it";

/// The common causes of `errno` at `step`, when known.
pub(crate) fn step_hint(step: Step, errno: i32) -> Option<&'static str> {
    use Step::*;
    Some(match (step, errno) {
        (WaitIdMaps, _) => "the parent could not write the id maps and gave up",
        (SetGroups, libc::EPERM) => {
            "setgroups is refused after setgroups=deny, which unprivileged id maps require"
        }
        (SetUid | SetGid, libc::EINVAL) => {
            "the id is not mapped in the user namespace's uid_map/gid_map"
        }
        (SetUid | SetGid, libc::EPERM) => {
            "changing ids needs CAP_SETUID/CAP_SETGID (dropped, or the caller is unprivileged \
             without a user namespace)"
        }
        (UnshareTime, libc::EINVAL) => "time namespaces need Linux 5.6 with CONFIG_TIME_NS",
        (UnshareTime, libc::EPERM) => "creating a time namespace needs CAP_SYS_ADMIN",
        (UnshareTime, libc::ENOSPC) => {
            "the per-user limit /proc/sys/user/max_time_namespaces is reached"
        }
        (TimeOffsets, libc::EACCES) => {
            "timens_offsets can only be written before any process entered the namespace, \
             by a dumpable process (no change of ids before)"
        }
        (TimeOffsets, libc::EPERM) => {
            "writing offsets needs CAP_SYS_TIME in the time namespace's owning user namespace"
        }
        (TimeOffsets, libc::EINVAL | libc::ERANGE) => {
            "an offset would move the clock below zero or past KTIME_SEC_MAX/2"
        }
        (Hostname | Domainname, libc::EPERM) => {
            "needs CAP_SYS_ADMIN in the UTS namespace's owning user namespace"
        }
        (Hostname | Domainname, libc::EINVAL) => "the name is longer than 64 bytes",
        (Loopback, libc::EPERM | libc::EACCES) => {
            "bringing lo up needs CAP_NET_ADMIN in the network namespace's owning user namespace"
        }
        (Loopback, libc::ENODEV) => "the network namespace has no lo (a kernel without loopback?)",
        (OomScoreAdj, libc::EACCES | libc::EPERM) => {
            "lowering oom_score_adj needs CAP_SYS_RESOURCE in the initial user namespace"
        }
        (OomScoreAdj, libc::EINVAL) => "oom_score_adj must be within -1000..=1000",
        (Rlimit, libc::EPERM) => {
            "raising a hard limit above the parent's needs CAP_SYS_RESOURCE in the initial user \
             namespace"
        }
        (Rlimit, libc::EINVAL) => {
            "the soft limit exceeds the hard limit, or the resource is unknown"
        }
        (Capabilities, libc::EPERM) => {
            "capabilities can only be kept if they are in the permitted and bounding sets; \
             ambient ones must also be inheritable; dropping from the bounding set needs \
             CAP_SETPCAP"
        }
        (Capabilities, libc::EINVAL) => "a capability number the kernel does not know",
        (NoNewPrivs, _) => "prctl(PR_SET_NO_NEW_PRIVS) failed",
        (ParentDeathSignal, _) => "prctl(PR_SET_PDEATHSIG) failed",
        (Seccomp, libc::EACCES) => "installing a filter needs no_new_privs or CAP_SYS_ADMIN",
        (Seccomp, libc::EINVAL) => "the kernel rejected the BPF program (too long or invalid)",
        (Seccomp, libc::ENOMEM) => "the filters of the process exceed the kernel's limit",
        (Landlock, libc::EPERM) => "restricting needs no_new_privs or CAP_SYS_ADMIN",
        (Landlock, libc::E2BIG) => "the process has reached the Landlock nesting limit (16 layers)",
        (Stdio, libc::EBADF) => "a descriptor given as stdio or pass_fd was closed",
        (Stdio, libc::EMFILE) => "RLIMIT_NOFILE is lower than a passed descriptor's number",
        (Setsid, libc::EPERM) => "the process already leads a process group",
        (Terminal, libc::ENOENT) => {
            "the container's devpts has no ptmx (a devpts mounted without newinstance, or the \
             path covered by a later mount)"
        }
        (Terminal, libc::ELOOP) => "a symlink on the way to the container's /dev/pts/ptmx",
        (Terminal, libc::ENOSPC) => {
            "the devpts instance's max ptys or /proc/sys/kernel/pty/max is reached"
        }
        (Terminal, libc::EPERM) => {
            "the pty is already another session's controlling terminal (TIOCSCTTY)"
        }
        (CloseFds, _) => "close_range and /proc/self/fd both failed (no /proc?)",
        (Signals, _) => "resetting the signal mask or dispositions failed",
        (Chdir, libc::ENOENT) => "the working directory does not exist inside the container's root",
        (Chdir, libc::ENOTDIR) => {
            "the working directory, or a component of its path, is not a directory (a file or a \
             symlink to one)"
        }
        (Chdir, libc::EACCES) => "the working directory is not searchable by the program's user",
        (Fork, libc::EAGAIN) => "the pids limit of the cgroup or RLIMIT_NPROC is reached",
        (Fork, libc::ENOMEM) => "out of memory (or the PID namespace's init has exited)",
        (ExecHelper, libc::EACCES) => {
            "a security module or the memfd exec policy (vm.memfd_noexec) refused to execute \
             the crate's sealed helper"
        }
        (ExecHelper, libc::ENOSYS) => "execveat(2) is missing (Linux 3.19)",
        (ExecHelper, libc::EPERM) => "a seccomp filter of the caller refuses execveat(2)",
        (Setns, libc::EPERM) => USERNS_CAP,
        (Setns, libc::EINVAL) => {
            "the descriptor is not a namespace of the expected kind, or the namespace cannot be \
             joined from here (a user namespace that is an ancestor of ours)"
        }
        (Setns, libc::EUSERS) => "a time namespace cannot be joined by a multi-threaded process",
        (_, libc::ENOSPC) => {
            "a per-user namespace limit is reached (see /proc/sys/user/max_*_namespaces)"
        }
        (_, libc::EPERM) => USERNS_CAP,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_common_errno_of_the_general_steps_has_a_hint() {
        use Step::*;
        for step in [
            SetGroups,
            SetGid,
            SetUid,
            UnshareTime,
            TimeOffsets,
            Hostname,
            Domainname,
            Loopback,
            OomScoreAdj,
            Rlimit,
            Capabilities,
            NoNewPrivs,
            ParentDeathSignal,
            Seccomp,
            Landlock,
            Setns,
        ] {
            assert!(step_hint(step, libc::EPERM).is_some(), "{step} EPERM");
        }
        for (step, errno) in [
            (SetUid, libc::EINVAL),
            (TimeOffsets, libc::EACCES),
            (Hostname, libc::EINVAL),
            (Chdir, libc::ENOENT),
            (Chdir, libc::ENOTDIR),
            (Chdir, libc::EACCES),
            (Seccomp, libc::EACCES),
            (Fork, libc::EAGAIN),
            (Mount, libc::ENOSPC),
        ] {
            assert!(step_hint(step, errno).is_some(), "{step} {errno}");
        }
    }
}
