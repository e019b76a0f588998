//! Every namespace on the host, printed like util-linux `lsns`.
//!
//! Run: `cargo run --example lsns` (as root to see every process; as
//! another user, the processes you may not inspect are counted at the end
//! instead of being silently left out).

use containment::namespace::list_namespaces;
use std::collections::HashMap;

fn user_name(uid: Option<u32>, cache: &mut HashMap<u32, String>) -> String {
    let Some(uid) = uid else {
        return "?".into();
    };
    cache
        .entry(uid)
        .or_insert_with(|| {
            nix::unistd::User::from_uid(uid.into())
                .ok()
                .flatten()
                .map(|u| u.name)
                .unwrap_or_else(|| uid.to_string())
        })
        .clone()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listing = list_namespaces()?;
    let mut names = HashMap::new();
    println!(
        "{:>10} {:<6} {:>6} {:>6} {:<8} COMMAND",
        "NS", "TYPE", "NPROCS", "PID", "USER"
    );
    for ns in &listing.namespaces {
        let mut command = ns.command.clone();
        command.truncate(60);
        println!(
            "{:>10} {:<6} {:>6} {:>6} {:<8} {}",
            ns.id.ino,
            ns.kind.proc_name(),
            ns.nprocs(),
            ns.pid(),
            user_name(ns.uid, &mut names),
            command
        );
    }
    if !listing.is_complete() {
        eprintln!(
            "\nnot visible to this caller ({} processes):",
            listing.unreadable.len()
        );
        for u in &listing.unreadable {
            let kind = u.kind.map(|k| k.proc_name()).unwrap_or("-");
            eprintln!("  pid {:>6} ns/{kind}: {}", u.pid, u.error);
        }
    }
    Ok(())
}
