//! An `unshare(1)`-like tool: the namespaces to create come from the command
//! line, by the names `/proc/<pid>/ns/` uses (parsed with
//! `Namespace::from_str`).
//!
//! ```text
//! unshare [--ns KIND[,KIND…]]… [--map-root-user] [--hostname NAME] [-- CMD [ARGS…]]
//! sudo target/debug/examples/unshare --ns uts,pid,mnt --hostname box -- sh -c 'hostname; echo $$'
//! target/debug/examples/unshare --ns user,net --map-root-user -- id   (as any user)
//! ```
//!
//! KIND is one of cgroup, ipc, mnt (or mount), net (or network), pid, time,
//! user, uts. With a new PID namespace a fresh `/proc` is mounted when the
//! mount namespace is new too. The default command is `$SHELL` (or
//! `/bin/sh`).

use containment::{Container, IdMap, Namespace, Namespaces};

fn main() {
    match run() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("unshare: {e}");
            std::process::exit(1);
        }
    }
}

fn run() -> Result<i32, Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut kinds = Namespaces::empty();
    let mut map_root = false;
    let mut hostname = None;
    let mut cmd = Vec::new();
    while let Some(a) = args.next() {
        match a.as_str() {
            "--ns" => {
                let list = args.next().ok_or("--ns needs a list of kinds")?;
                for name in list.split(',') {
                    let kind: Namespace = name.parse()?;
                    kinds |= kind.flag();
                }
            }
            "--map-root-user" | "-r" => map_root = true,
            "--hostname" => hostname = Some(args.next().ok_or("--hostname needs a name")?),
            "--" => {
                cmd.extend(args.by_ref());
                break;
            }
            _ => return Err(format!("unknown option {a}").into()),
        }
    }
    if cmd.is_empty() {
        cmd.push(std::env::var("SHELL").unwrap_or_else(|_| "/bin/sh".into()));
    }

    let mut container = Container::new().unshare(kinds);
    if let Some(h) = hostname {
        container = container.hostname(h);
    }
    if map_root {
        // unshare -r: the caller's ids are root inside (for root, an
        // explicit choice to map host root, which the crate asks for).
        // SAFETY: geteuid/getegid have no preconditions.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        container = container
            .uid_map([IdMap::single(0, uid)])
            .gid_map([IdMap::single(0, gid)]);
    }
    let status = container.command(&cmd[0]).args(&cmd[1..]).status()?;
    Ok(status.code().unwrap_or(1))
}
