//! What this host supports: namespace kinds, clone3, pidfd, user namespace
//! sysctls, per-kind limits.
//!
//! Run: `cargo run --example probe`

fn main() {
    let h = containment::probe::host();
    println!("kernel:            {}", h.kernel_release);
    println!("clone3:            {}", h.clone3);
    println!("pidfd:             {}", h.pidfd);
    println!("time namespaces:   {}", h.time_namespaces());
    println!("running as root:   {}", h.is_root);
    println!(
        "unprivileged userns: {} (unprivileged_userns_clone={:?}, apparmor_restrict_unprivileged_userns={:?})",
        h.unprivileged_user_namespaces(),
        h.unprivileged_userns_clone,
        h.apparmor_restrict_unprivileged_userns
    );
    println!("{:<8} {:<10} {:>12}  problem", "kind", "available", "max");
    for (k, max) in &h.max_namespaces {
        println!(
            "{:<8} {:<10} {:>12}  {}",
            k.proc_name(),
            h.namespaces.contains(k.flag()),
            max.map(|m| m.to_string()).unwrap_or_else(|| "-".into()),
            h.why_not(*k).unwrap_or_default()
        );
    }
}
