//! Nothing of the caller's descriptors reaches a container before exec
//! (the CVE-2024-21626 kind), and no dup2 of the child replaces a
//! descriptor the crate needs (issue #11, items 1 and 4).

#[macro_use]
mod common;

use containment::cgroup::CgroupSpec;
use containment::mount::Mount;
use containment::{Container, IdMap, Namespaces, SpawnError, Stdio, Step};
use std::os::fd::AsRawFd;
use std::os::unix::fs::symlink;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};

use common::TempDir;

fn busybox() -> PathBuf {
    common::busybox::path()
}

/// A busybox root under `dir`, and a host file `dir/HOST-SECRET` beside it
/// that the container must never read.
fn busybox_root(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    for d in ["bin", "etc", "tmp", "proc", "dev", "sys", "mnt"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(busybox(), root.join("bin/busybox")).unwrap();
    for applet in ["sh", "ls", "cat", "echo", "true", "readlink"] {
        symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    std::fs::write(dir.join("HOST-SECRET"), b"host-secret\n").unwrap();
    root
}

const NS: Namespaces = Namespaces::MOUNT.union(Namespaces::PID);

/// Runs the builder; `Ok(stdout)` when the program ran, else the error.
fn output(b: &mut containment::Command) -> Result<String, SpawnError> {
    let o = b.output()?;
    Ok(format!(
        "status {:?}\nstdout {}\nstderr {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    ))
}

fn step_of(e: &SpawnError) -> Option<(Step, i32)> {
    match e {
        SpawnError::Child(c) => Some((c.step(), c.errno())),
        _ => None,
    }
}

/// The input: the caller holds a directory open; the working
/// directory `/proc/self/fd/N` went through it to the host.
#[test]
fn cwd_through_a_directory_of_the_caller_is_refused() {
    require_root!();
    let dir = TempDir::new("cwd");
    let root = busybox_root(dir.path());
    let held = std::fs::File::open(dir.path()).unwrap();
    let n = held.as_raw_fd();
    let r = output(
        Container::new()
            .unshare(NS)
            .root(&root)
            .command("/bin/sh")
            .args(["-c", "ls; cat HOST-SECRET; ls ../../../.."])
            .current_dir(format!("/proc/self/fd/{n}")),
    );
    match r {
        Ok(out) => panic!("the container reached the caller's directory:\n{out}"),
        Err(e) => {
            let (step, errno) = step_of(&e).unwrap_or_else(|| panic!("{e}"));
            assert_eq!(step, Step::Chdir, "{e}");
            assert_eq!(errno, libc::ENOENT, "{e}");
        }
    }
}

/// No descriptor number at all leads anywhere as a working directory: the
/// caller's directory, the cgroup directory of CLONE_INTO_CGROUP, the pipes
/// and the parent's ends are all closed before the child resolves a path.
#[test]
fn no_descriptor_number_is_a_way_out_as_the_working_directory() {
    require_root!();
    let Some(parent) = common::TestCgroup::new("containment-fds") else {
        common::skip("no_descriptor_number", "no cgroup2 mount on this host");
        return;
    };
    let dir = TempDir::new("every");
    let root = busybox_root(dir.path());
    let _held = std::fs::File::open(dir.path()).unwrap();
    let high = common::open_fds() as i32 + 16;
    for (k, with_cgroup) in (3..high).flat_map(|k| [(k, false), (k, true)]) {
        let mut b = Container::new().unshare(NS).root(&root);
        if with_cgroup {
            b = b.cgroup(CgroupSpec::new().parent(&parent.0).name(format!("c{k}")));
        }
        let mut cmd = b.command("/bin/sh");
        cmd.args(["-c", "ls"])
            .stdin(Stdio::piped())
            .current_dir(format!("/proc/self/fd/{k}"));
        match output(&mut cmd) {
            Ok(out) => panic!("fd {k} (cgroup: {with_cgroup}) was a way out:\n{out}"),
            Err(e) => {
                assert_eq!(step_of(&e).map(|s| s.0), Some(Step::Chdir), "fd {k}: {e}")
            }
        }
    }
}

/// The same without a new root or mount namespace: /proc/self/fd/N of the
/// host's /proc still finds no descriptor of the caller.
#[test]
fn no_caller_descriptor_as_the_working_directory_without_a_root() {
    let dir = TempDir::new("noroot");
    let held = std::fs::File::open(dir.path()).unwrap();
    let n = held.as_raw_fd();
    let e = output(
        Container::new()
            .command("/bin/true")
            .current_dir(format!("/proc/self/fd/{n}")),
    )
    .expect_err("the caller's directory was reachable");
    assert_eq!(step_of(&e), Some((Step::Chdir, libc::ENOENT)), "{e}");
}

/// The program path is resolved with nothing of the caller's open either.
#[test]
fn program_through_a_directory_of_the_caller_is_refused() {
    require_root!();
    let dir = TempDir::new("prog");
    let root = busybox_root(dir.path());
    // The host's / : its (static) busybox is not the container's.
    let held = std::fs::File::open("/").unwrap();
    let n = held.as_raw_fd();
    let host_prog = format!("/proc/self/fd/{n}{}", busybox().display());
    let r = output(
        Container::new()
            .unshare(NS)
            .root(&root)
            .command(&host_prog)
            .args(["echo", "escaped"]),
    );
    match r {
        Ok(out) => panic!("the container ran the host's program:\n{out}"),
        Err(e) => assert_eq!(step_of(&e), Some((Step::Exec, libc::ENOENT)), "{e}"),
    }
}

/// After chdir the working directory must lie inside the root (runc's
/// getcwd check): a directory passed with `pass_fd` is open in the child
/// (its source copy, above every target) while it changes directory, and a
/// path through it lands outside the root: a typed `chdir` error, index 1.
#[test]
fn working_directory_outside_the_root_is_refused() {
    require_root!();
    let dir = TempDir::new("outside");
    let root = busybox_root(dir.path());
    let mut refused_outside = 0;
    // The source copy is the lowest free number above the target (20).
    for k in 21..40 {
        let r = output(
            Container::new()
                .unshare(NS)
                .root(&root)
                .command("/bin/sh")
                .args(["-c", "cat HOST-SECRET"])
                .pass_fd(std::fs::File::open(dir.path()).unwrap(), 20)
                .current_dir(format!("/proc/self/fd/{k}")),
        );
        match r {
            Ok(out) => panic!("fd {k}: the working directory left the root:\n{out}"),
            Err(SpawnError::Child(c)) if c.step() == Step::Chdir => {
                if c.index() == 1 {
                    assert_eq!(c.errno(), libc::ENOENT);
                    assert!(c.hint().unwrap_or_default().contains("outside"), "{c}");
                    refused_outside += 1;
                }
            }
            Err(e) => panic!("fd {k}: {e}"),
        }
    }
    assert_eq!(refused_outside, 1, "the passed directory was never reached");
    // Inside the root is fine.
    let out = output(
        Container::new()
            .unshare(NS)
            .root(&root)
            .command("/bin/sh")
            .args(["-c", "pwd"])
            .current_dir("/tmp"),
    )
    .unwrap();
    assert!(out.contains("stdout /tmp\n"), "{out}");
}

/// A file as the working directory: ENOTDIR with a hint that says so.
#[test]
fn cwd_onto_a_file_hints_not_a_directory() {
    let e = output(
        Container::new()
            .command("/bin/true")
            .current_dir("/etc/hostname"),
    )
    .expect_err("chdir onto a file");
    let SpawnError::Child(c) = &e else {
        panic!("{e}")
    };
    assert_eq!((c.step(), c.errno()), (Step::Chdir, libc::ENOTDIR), "{e}");
    let hint = c.hint().unwrap_or_default();
    assert!(hint.contains("not a directory"), "{hint}");
    assert!(!hint.contains("does not exist"), "{hint}");
}

/// Lowest descriptor numbers the crate could take during a spawn.
fn low_numbers() -> std::ops::Range<i32> {
    3..(common::open_fds() as i32 + 24)
}

/// `pass_fd` onto each low number: a failed exec is an error (never `Ok`
/// then exit 127), the passed descriptor is what the program gets, and the
/// failure record is never written into the user's file.
/// A builder in `ns`; with a new user namespace, root gives the maps (it
/// has no default map: host root is not mapped unless asked).
fn builder_in(ns: Namespaces) -> Container {
    let mut b = Container::new();
    b = b.unshare(ns);
    if ns.contains(Namespaces::USER) && common::is_root() {
        b = b
            .uid_map([IdMap::new(0, 100_000, 65_536)])
            .gid_map([IdMap::new(0, 100_000, 65_536)]);
    }
    b
}

fn pass_fd_onto_every_low_number(ns: Namespaces) {
    let dir = TempDir::new("pass");
    // Descriptors held open while spawning shift the numbers the crate
    // takes, so that each lands on a target at some point.
    for extra in 0..4 {
        let _held: Vec<std::fs::File> = (0..extra)
            .map(|_| std::fs::File::open("/dev/null").unwrap())
            .collect();
        pass_fd_onto_low_numbers(ns, dir.path());
    }
}

fn pass_fd_onto_low_numbers(ns: Namespaces, dir: &Path) {
    for target in low_numbers() {
        let file = dir.join(format!("f{target}"));
        std::fs::write(&file, b"").unwrap();
        let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
        let r = builder_in(ns)
            .command("/nonexistent")
            .pass_fd(f, target)
            .spawn();
        match r {
            Ok(mut c) => panic!(
                "pass_fd onto {target}: a failed exec returned Ok (status {:?})",
                c.wait()
            ),
            Err(e) => assert_eq!(
                step_of(&e),
                Some((Step::Exec, libc::ENOENT)),
                "{target}: {e}"
            ),
        }
        let written = std::fs::read(&file).unwrap();
        assert!(
            written.is_empty(),
            "{target}: {written:?} in the user's file"
        );
        // The program gets the user's descriptor at that number.
        let f = std::fs::OpenOptions::new().write(true).open(&file).unwrap();
        let o = builder_in(ns)
            .command("/bin/sh")
            .pass_fd(f, target)
            .args(["-c".to_string(), format!("readlink /proc/self/fd/{target}")])
            .output()
            .unwrap();
        assert!(o.status.success(), "{target}: {o:?}");
        assert_eq!(
            String::from_utf8_lossy(&o.stdout).trim(),
            file.to_str().unwrap(),
            "{target}"
        );
    }
}

#[test]
fn pass_fd_onto_every_low_number_plain() {
    pass_fd_onto_every_low_number(Namespaces::empty());
}

#[test]
fn pass_fd_onto_every_low_number_user_namespace() {
    require!(
        containment::probe::host()
            .why_not(containment::Namespace::User)
            .is_none(),
        "no user namespaces"
    );
    pass_fd_onto_every_low_number(Namespaces::USER);
}

/// 300 spawns of the user-namespace shape (CLONE_VM without CLONE_VFORK)
/// with a pass_fd onto the numbers the pipes take: not one child dies of
/// SIGSEGV (its stack unmapped while it ran), every one runs the program.
#[test]
fn user_namespace_spawns_with_colliding_pass_fd_never_crash() {
    require!(
        containment::probe::host()
            .why_not(containment::Namespace::User)
            .is_none(),
        "no user namespaces"
    );
    let base = common::open_fds() as i32;
    let mut failures = Vec::new();
    for i in 0..300 {
        let target = 3 + (i % (base + 6 - 3).max(1));
        let r = builder_in(Namespaces::USER)
            .command("/bin/true")
            .pass_fd(std::fs::File::open("/dev/null").unwrap(), target)
            .spawn()
            .map(|mut c| {
                // The shape this test is about, where it exists.
                assert_eq!(
                    c.spawned_in_vfork_shape(),
                    containment::testing::HAS_CLONE3_ON_STACK
                );
                c.wait().unwrap()
            });
        match r {
            Ok(s) if s.success() => {}
            Ok(s) => failures.push(format!("{target}: {s:?} (signal {:?})", s.signal())),
            Err(e) => failures.push(format!("{target}: {e}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of 300: {failures:?}",
        failures.len()
    );
    assert!(common::lasting_zombies().is_empty());
}

/// Env var that turns [`closed_stdio_helper`] into the real test.
const CLOSED_STDIO: &str = "CONTAINMENT_TEST_CLOSED_STDIO";

/// Runs in a re-executed copy of this binary (never in the harness): closes
/// 0, 1 and 2, then spawns with stdio set; reports through its exit code.
#[test]
fn closed_stdio_helper() {
    if std::env::var_os(CLOSED_STDIO).is_none() {
        return;
    }
    // SAFETY: closing our own standard descriptors in a process of our own.
    unsafe {
        libc::close(0);
        libc::close(1);
        libc::close(2);
    }
    let code = (|| {
        for ns in [Namespaces::empty(), Namespaces::USER] {
            // A failed exec must be an error.
            let r = builder_in(ns)
                .command("/nonexistent")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            match r {
                Ok(mut c) => {
                    let _ = c.wait();
                    return 10;
                }
                Err(e) if step_of(&e) != Some((Step::Exec, libc::ENOENT)) => return 11,
                Err(_) => {}
            }
            // And a good one runs with its streams.
            let o = builder_in(ns)
                .command("/bin/sh")
                .stdin(Stdio::null())
                .args(["-c", "echo out; echo err >&2"])
                .output();
            match o {
                Ok(o) if o.status.success() && o.stdout == b"out\n" && o.stderr == b"err\n" => {}
                Ok(_) => return 12,
                Err(_) => return 13,
            }
        }
        // A directory of the caller's (close-on-exec) now at 0, stdin
        // inherited: not reachable before exec either.
        let Ok(held) = std::fs::File::open("/") else {
            return 14;
        };
        if held.as_raw_fd() != 0 {
            return 15;
        }
        let r = Container::new()
            .command("/bin/true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .current_dir("/proc/self/fd/0")
            .status();
        match r {
            Ok(_) => 16,
            Err(e) if step_of(&e) == Some((Step::Chdir, libc::ENOENT)) => 0,
            Err(_) => 17,
        }
    })();
    std::process::exit(code);
}

#[test]
fn spawn_with_the_callers_stdio_closed() {
    let st = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "closed_stdio_helper", "--test-threads=1"])
        .env(CLOSED_STDIO, "1")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    // 10: a failed exec returned Ok; 11: the wrong error; 12/13: a good
    // spawn misbehaved; 16/17: the caller's directory at 0 was reachable.
    assert_eq!(st.code(), Some(0), "{st:?}");
}

/// An init (PID 1, which never execs) keeps no descriptor >= 3.
#[test]
fn init_keeps_no_descriptor_above_stdio() {
    require_root!();
    let o = Container::new()
        .unshare(NS)
        .init(true)
        .command("/bin/sh")
        .args(["-c", "ls /proc/1/fd"])
        .pass_fd(std::fs::File::open("/dev/null").unwrap(), 9)
        .output()
        .unwrap();
    assert!(o.status.success(), "{o:?}");
    let fds: Vec<i32> = String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .map(|s| s.parse().unwrap())
        .collect();
    assert!(fds.iter().all(|&f| f <= 2), "PID 1 holds {fds:?}");
}

/// Joining a running container (MOUNT|PID, into its root): the caller's
/// directory is out of reach of the joined process's setup too.
#[test]
fn join_cannot_reach_a_directory_of_the_caller() {
    require_root!();
    let dir = TempDir::new("join");
    let root = busybox_root(dir.path());
    let mut target = Container::new()
        .unshare(NS)
        .root(&root)
        .command("/bin/sh")
        .args(["-c", "read x"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let held = std::fs::File::open(dir.path()).unwrap();
    let n = held.as_raw_fd();
    let r = output(
        Container::new()
            .join_child(&target, NS)
            .command("/bin/sh")
            .args(["-c", "cat HOST-SECRET"])
            .current_dir(format!("/proc/self/fd/{n}")),
    );
    drop(target.stdin.take());
    let _ = target.wait();
    match r {
        Ok(out) => panic!("the joined process reached the caller's directory:\n{out}"),
        Err(e) => assert_eq!(step_of(&e).map(|s| s.0), Some(Step::Chdir), "{e}"),
    }
}

/// With a root, mounts, a cgroup and die_with_parent (every descriptor the
/// crate opens for a spawn), the program holds exactly its stdio and the
/// passed descriptors, at their numbers, as the kernel shows them.
#[test]
fn the_program_holds_exactly_stdio_and_the_passed_descriptors() {
    require_root!();
    let Some(parent) = common::TestCgroup::new("containment-fds") else {
        common::skip("the_program_holds_exactly", "no cgroup2 mount on this host");
        return;
    };
    let dir = TempDir::new("exact");
    let root = busybox_root(dir.path());
    let _held = std::fs::File::open(dir.path()).unwrap();
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::write(&a, b"").unwrap();
    std::fs::write(&b, b"").unwrap();
    let mut c = Container::new()
        .unshare(NS)
        .root(&root)
        .mount(Mount::tmpfs("/tmp"))
        .cgroup(CgroupSpec::new().parent(&parent.0).name("exact"))
        .die_with_parent(true)
        .command("/bin/sh")
        .args(["-c", "read x"])
        .pass_fd(std::fs::File::open(&a).unwrap(), 4)
        .pass_fd(std::fs::File::open(&b).unwrap(), 9)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let pid = c.id();
    let mut fds: Vec<(i32, PathBuf)> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let n = e.file_name().to_string_lossy().parse().unwrap();
            (n, std::fs::read_link(e.path()).unwrap())
        })
        .collect();
    fds.sort();
    drop(c.stdin.take());
    let _ = c.wait();
    let numbers: Vec<i32> = fds.iter().map(|f| f.0).collect();
    assert_eq!(numbers, [0, 1, 2, 4, 9], "{fds:?}");
    assert_eq!(fds[3].1, a, "{fds:?}");
    assert_eq!(fds[4].1, b, "{fds:?}");
}
