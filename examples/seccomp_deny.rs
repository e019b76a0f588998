//! A deny list in the spirit of docker's default seccomp profile: system
//! calls a container should not make fail with EPERM (feature `seccomp`).
//!
//! Run: `cargo run --features seccomp --example seccomp_deny`

use containment::seccomp::Filter;
use containment::{Capabilities, Container, Namespaces};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Docker's profile is an allow list of ~350 calls; its effect is mostly
    // to refuse these (kernel modules, reboot, clocks, keyrings, mounts,
    // namespaces, tracing, BPF …).
    let denied = [
        libc::SYS_acct,
        libc::SYS_add_key,
        libc::SYS_bpf,
        libc::SYS_clock_adjtime,
        libc::SYS_clock_settime,
        libc::SYS_delete_module,
        libc::SYS_finit_module,
        libc::SYS_init_module,
        libc::SYS_kexec_file_load,
        libc::SYS_kexec_load,
        libc::SYS_keyctl,
        libc::SYS_mount,
        libc::SYS_open_by_handle_at,
        libc::SYS_perf_event_open,
        libc::SYS_pivot_root,
        libc::SYS_ptrace,
        libc::SYS_quotactl,
        libc::SYS_reboot,
        libc::SYS_request_key,
        libc::SYS_setns,
        libc::SYS_settimeofday,
        libc::SYS_swapoff,
        libc::SYS_swapon,
        libc::SYS_umount2,
        libc::SYS_unshare,
        libc::SYS_userfaultfd,
    ];
    let filter = Filter::deny(denied, libc::EPERM)?;
    println!(
        "filter: {} BPF instructions for {} denied calls",
        filter.len(),
        denied.len()
    );
    let out = Container::new()
        .unshare(Namespaces::MOUNT | Namespaces::UTS)
        .capabilities(Capabilities::docker_default())
        .seccomp(filter)
        .command("/bin/sh")
        .args(["-c", "grep -E 'Seccomp|NoNewPrivs' /proc/self/status; unshare --uts true 2>&1 || true; mount -t tmpfs x /mnt 2>&1 || true"])
        .output()?;
    print!("{}", String::from_utf8_lossy(&out.stdout));
    Ok(())
}
