//! Attacks on the spawn-path changes of the 2026-11-30 session (spare child
//! stacks, capabilities from capget, the initramfs answer per root mount,
//! device nodes, joined namespaces, chroot without a mount namespace,
//! per-mount propagation, the Container/Command reshape), as someone
//! controlling the container's root filesystem, program or configuration.
//! Each test asserts the safe outcome: a failing test is a hole. (root)

#[macro_use]
mod common;

use common::TempDir;
use containment::mount::{DevSpec, RootMode};
use containment::{Container, Namespaces};
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};

fn busybox() -> Option<PathBuf> {
    common::busybox::find()
}

macro_rules! require_busybox {
    () => {
        require!(
            busybox().is_some(),
            "busybox-static is not installed (cargo xtask test installs it)"
        );
    };
}

/// A busybox root (every applet) under `dir/root`.
fn busybox_root(dir: &Path) -> PathBuf {
    common::busybox::root(dir)
}

use common::busybox::compile_static;

/// The classic chroot break-out: chroot into a subdirectory (the working
/// directory stays outside it), walk up past the real root, chroot there,
/// then print the host file named by argv[1].
const CHROOT_BREAKOUT: &str = r#"
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
#include <sys/stat.h>
int main(int argc, char **argv) {
    mkdir("/esc", 0700);
    if (chroot("/esc") != 0) { perror("chroot"); return 2; }
    for (int i = 0; i < 256; i++) chdir("..");
    if (chroot(".") != 0) { perror("chroot ."); return 3; }
    int f = open(argv[1], O_RDONLY);
    if (f < 0) { perror("open"); return 4; }
    char b[128];
    int n = read(f, b, sizeof b);
    if (n > 0) write(1, b, n);
    return 0;
}
"#;

/// `RootMode::Chroot` (explicit, or `Auto` on an initramfs host), with and
/// without a mount namespace: the container's root must not be able to
/// leave its root with the default capabilities (docker's set has
/// CAP_SYS_CHROOT, with which a chroot is no boundary).
#[test]
fn chroot_root_cannot_be_left_with_the_default_capabilities() {
    require_root!();
    require_busybox!();
    let dir = TempDir::new("chrootesc");
    let root = busybox_root(&dir.0);
    require!(
        compile_static(CHROOT_BREAKOUT, &root.join("breakout")),
        "gcc with a static libc is needed to build the attacker"
    );
    let secret = dir.0.join("HOST-SECRET");
    std::fs::write(&secret, "host-secret-contents").unwrap();
    for (shape, ns) in [
        ("chroot without a mount namespace", Namespaces::PID),
        (
            "chroot in a mount namespace",
            Namespaces::MOUNT | Namespaces::PID,
        ),
    ] {
        let mut c = Container::new()
            .unshare(ns)
            .root(&root)
            .root_mode(RootMode::Chroot);
        if !ns.contains(Namespaces::MOUNT) {
            c = c.dev(DevSpec::Keep).mount_proc(false);
        }
        let out = c
            .command("/breakout")
            .arg(&secret)
            .output()
            .unwrap_or_else(|e| panic!("{shape}: {e}"));
        let stdout = String::from_utf8_lossy(&out.stdout);
        eprintln!(
            "{shape}: {:?} {stdout:?} {:?}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !stdout.contains("host-secret-contents"),
            "{shape}: the container left its root and read the host's {}: {stdout:?} ({:?})",
            secret.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Device nodes (OCI `linux.devices`) under an image that plants links:
/// `/dev` a symlink to a host directory (absolute, and through `..`), to
/// `/proc/self/cwd` (the child's working directory is the caller's until
/// the root changes), and the node's own name a symlink to a host file.
/// Nothing may appear in, or change, the host's files.
#[test]
fn device_nodes_stay_inside_the_root_whatever_the_image_plants() {
    require_root!();
    require_busybox!();
    let dir = TempDir::new("devlinks");
    let host = dir.0.join("host");
    std::fs::create_dir_all(&host).unwrap();
    let host_file = host.join("file");
    std::fs::write(&host_file, "untouched").unwrap();
    // The caller's working directory during the spawn: the host dir.
    type Plant<'a> = Box<dyn Fn(&Path) + 'a>;
    let cases: [(&str, Plant, &str); 4] = [
        (
            "/dev -> host dir (absolute)",
            Box::new(|r: &Path| {
                std::fs::remove_dir(r.join("dev")).unwrap();
                symlink(&host, r.join("dev")).unwrap();
            }),
            "/dev/evil",
        ),
        (
            "/dev -> ../../.. host dir",
            Box::new(|r: &Path| {
                std::fs::remove_dir(r.join("dev")).unwrap();
                let up = "../".repeat(r.components().count() + 2);
                symlink(format!("{up}{}", host.display()), r.join("dev")).unwrap();
            }),
            "/dev/evil",
        ),
        (
            "/dev -> /proc/self/cwd",
            Box::new(|r: &Path| {
                std::fs::remove_dir(r.join("dev")).unwrap();
                symlink("/proc/self/cwd", r.join("dev")).unwrap();
            }),
            "/dev/evil",
        ),
        (
            "/dev/file -> host file",
            Box::new(|r: &Path| {
                symlink(&host_file, r.join("dev/file")).unwrap();
            }),
            "/dev/file",
        ),
    ];
    let cwd = std::env::current_dir().unwrap();
    for (i, (shape, plant, node)) in cases.iter().enumerate() {
        let case = dir.0.join(format!("case{i}"));
        std::fs::create_dir_all(&case).unwrap();
        let root = busybox_root(&case);
        plant(&root);
        std::env::set_current_dir(&host).unwrap();
        let r = Container::new()
            .unshare(Namespaces::MOUNT | Namespaces::PID)
            .root(&root)
            .dev(DevSpec::Keep)
            .device(containment::mount::DeviceNode::char(*node, 1, 3))
            .command("/bin/true")
            .status();
        std::env::set_current_dir(&cwd).unwrap();
        let listing: Vec<_> = std::fs::read_dir(&host)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(
            listing,
            vec![std::ffi::OsString::from("file")],
            "{shape}: a node was made on the host ({r:?})"
        );
        let md = std::fs::symlink_metadata(&host_file).unwrap();
        assert!(md.is_file(), "{shape}: the host file was replaced ({r:?})");
        assert_eq!(std::fs::read_to_string(&host_file).unwrap(), "untouched");
        eprintln!("{shape}: {r:?}");
    }
}

/// Docker's capability set keeps CAP_MKNOD, which docker makes harmless
/// with a device cgroup that refuses every device it did not list. The
/// crate's default for a container with a root (docker's set) had no such
/// cgroup: the container made a node of any host device and opened it
/// (probed: the first virtual console 4:1, TIOCSTI keystrokes into a host
/// console; the kernel log 1:11; disks 253:0 (zram), 254:0 (virtio), 8:0
/// (sd): the whole host filesystem raw. Each counts only where the caller
/// itself opens it: this machine refuses root the virtio disk).
#[test]
fn default_container_cannot_open_host_devices_through_mknod() {
    require_root!();
    require_busybox!();
    let dir = TempDir::new("mknoddev");
    let root = busybox_root(&dir.0);
    // Only devices the caller itself can open count.
    let host_opens = |kind: &str, ma: u32, mi: u32| {
        let n = dir.0.join(format!("probe-{ma}-{mi}"));
        let ok = std::process::Command::new("mknod")
            .arg(&n)
            .args([kind, &ma.to_string(), &mi.to_string()])
            .status()
            .is_ok_and(|s| s.success())
            && std::fs::File::open(&n).is_ok();
        let _ = std::fs::remove_file(&n);
        ok
    };
    let devices: Vec<(&str, u32, u32)> = [
        ("c", 4, 1),
        ("c", 1, 11),
        ("b", 253, 0),
        ("b", 254, 0),
        ("b", 8, 0),
    ]
    .into_iter()
    .filter(|(k, ma, mi)| host_opens(k, *ma, *mi))
    .collect();
    require!(
        !devices.is_empty(),
        "the host opens none of the probe devices"
    );
    for (shape, c) in [
        (
            "pivot_root",
            Container::new()
                .unshare(Namespaces::MOUNT | Namespaces::PID)
                .root(&root),
        ),
        (
            "chroot, no mount namespace",
            Container::new()
                .unshare(Namespaces::PID)
                .root(&root)
                .root_mode(RootMode::Chroot)
                .dev(DevSpec::Keep)
                .mount_proc(false),
        ),
    ] {
        for (kind, ma, mi) in &devices {
            let script = format!(
                "rm -f /tmp/n; mknod /tmp/n {kind} {ma} {mi} && (exec 3</tmp/n) && echo OPENED; rm -f /tmp/n"
            );
            let out = c
                .clone()
                .command("/bin/sh")
                .args(["-c", &script])
                .output()
                .unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            eprintln!(
                "{shape} {kind} {ma}:{mi}: {stdout:?} {:?}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert!(
                !stdout.contains("OPENED"),
                "{shape}: the container made a node of the host's device {kind} {ma}:{mi} and \
                 opened it ({:?})",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// With device rules that deny by default (docker's list), the default
/// keeps CAP_MKNOD (docker's set, whose rules make it harmless): the node
/// is made (`m` allowed for it here), and the device cgroup refuses to open
/// it.
#[test]
fn default_keeps_mknod_under_deny_by_default_device_rules() {
    use containment::cgroup::{CgroupSpec, DeviceRule, Hierarchy, Resources};
    require_root!();
    require_busybox!();
    let h = Hierarchy::detect().unwrap();
    require!(
        h.v1_mount_of("devices").is_some(),
        "no cgroup v1 devices hierarchy (the default backend's device rules)"
    );
    let Some(base) = common::TestCgroup::new("brk2-mknod") else {
        panic!("cannot make a test cgroup");
    };
    let dir = TempDir::new("mknodrules");
    let root = busybox_root(&dir.0);
    let rules: Vec<DeviceRule> = ["deny a *:* rwm", "c 1:3 rwm", "c 1:11 m"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let out = Container::new()
        .unshare(Namespaces::MOUNT | Namespaces::PID)
        .root(&root)
        .cgroup(
            CgroupSpec::new()
                .parent(&base.0)
                .resources(Resources::new().device_rules(rules)),
        )
        .command("/bin/sh")
        .args([
            "-c",
            "grep CapEff /proc/self/status; mknod /tmp/n c 1 11 && echo MADE; \
             (exec 3</tmp/n) && echo OPENED",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let eff = stdout
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    assert_ne!(eff & (1 << 27), 0, "CAP_MKNOD dropped: {stdout:?}");
    assert!(stdout.contains("MADE"), "{stdout:?}");
    assert!(
        !stdout.contains("OPENED"),
        "the device cgroup let the node open: {stdout:?}"
    );
}

/// The spare child stacks (at most 4 kept) under threads spawning at the
/// same time, in the shape where the child runs on a stack of ours while
/// this thread is NOT suspended (a new user namespace made by an
/// unprivileged caller: CLONE_VM without CLONE_VFORK, the stack kept until
/// the exec). A stack handed to a second spawn while its first child still
/// ran on it would mix two children's frames: wrong output, crashes.
/// Also failed spawns (a program that does not exist) in between, whose
/// stacks go back to the store after the kill.
#[test]
fn inner_spare_stacks_under_threads() {
    if std::env::var_os("CONTAINMENT_INNER_SPARE_STACKS").is_none() {
        return;
    }
    use containment::namespace::IdMap;
    // SAFETY: geteuid/getegid have no preconditions.
    let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
    let threads: Vec<_> = (0..8)
        .map(|t| {
            std::thread::spawn(move || {
                let mut vforked = 0;
                for i in 0..150 {
                    let c = Container::new()
                        .unshare(Namespaces::USER | Namespaces::MOUNT)
                        .uid_map([IdMap::single(0, uid)])
                        .gid_map([IdMap::single(0, gid)])
                        .id_map_writer(containment::IdMapWriter::Direct)
                        .vfork_spawn(true);
                    if i % 5 == 4 {
                        assert!(c.command("/nonexistent-brk2").spawn().is_err());
                        continue;
                    }
                    let tag = format!("tag-{t}-{i}");
                    let child = c
                        .command("/bin/sh")
                        .args(["-c", "echo \"$0\"", &tag])
                        .stdout(containment::Stdio::Piped)
                        .spawn()
                        .unwrap_or_else(|e| panic!("{tag}: {e}"));
                    vforked += child.spawned_in_vfork_shape() as u32;
                    let out = child.wait_with_output().unwrap();
                    assert!(out.status.success(), "{tag}: {:?}", out.status);
                    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), tag);
                }
                vforked
            })
        })
        .collect();
    let vforked: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(common::lasting_zombies().is_empty());
    println!("vfork-shaped spawns: {vforked}");
    if containment::testing::HAS_CLONE3_ON_STACK {
        assert!(vforked > 0, "no spawn took the vfork shape");
    }
    println!("INNER-OK");
}

#[test]
fn spare_stacks_under_threads() {
    require_root!();
    let out = common::run_test_as(
        54_323,
        "inner_spare_stacks_under_threads",
        ("CONTAINMENT_INNER_SPARE_STACKS", "1"),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("{stdout}");
    assert!(
        stdout.contains("INNER-OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `join_namespace(Mount, fd)` of a running container's mount namespace
/// (OCI `linux.namespaces[].path`, `runc exec`-like): the program is the
/// container's (`setns` makes the namespace's root the joiner's root), so
/// (1) it must not run with every capability of the caller (here host
/// root: CAP_SYS_ADMIN mounts), and (2) a `#!/proc/self/exe` script of the
/// container must not run the caller's binary (CVE-2019-5736).
#[test]
fn joined_mount_namespace_by_descriptor_is_the_containers() {
    require_root!();
    require_busybox!();
    let dir = TempDir::new("joinfd");
    let root = busybox_root(&dir.0);
    std::fs::write(root.join("evil"), "#!/proc/self/exe\n").unwrap();
    std::fs::set_permissions(root.join("evil"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut target = Container::new()
        .unshare(Namespaces::MOUNT | Namespaces::PID)
        .root(&root)
        .command("/bin/sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let mnt = std::fs::File::open(format!("/proc/{}/ns/mnt", target.id())).unwrap();
    let caps = Container::new()
        .join_namespace(containment::Namespace::Mount, mnt.try_clone().unwrap())
        .command("/bin/sh")
        .args([
            "-c",
            "mount -t tmpfs brk2 /mnt && echo MOUNTED; umount /mnt 2>/dev/null; true",
        ])
        .output();
    // With the PID namespace too, so that the container's /proc/self is
    // the joiner.
    let pidns = std::fs::File::open(format!("/proc/{}/ns/pid", target.id())).unwrap();
    let exe = Container::new()
        .join_namespace(containment::Namespace::Pid, pidns)
        .join_namespace(containment::Namespace::Mount, mnt)
        .command("/evil")
        .output();
    eprintln!("{exe:?}");
    target.kill().unwrap();
    target.wait().unwrap();
    let mut holes = Vec::new();
    let caps = caps.unwrap();
    let stdout = String::from_utf8_lossy(&caps.stdout);
    if stdout.contains("MOUNTED") {
        holes.push(format!(
            "the container's /bin/sh, run in its joined mount namespace, kept CAP_SYS_ADMIN: \
             {stdout:?}"
        ));
    }
    if let Ok(out) = exe {
        let stdout = String::from_utf8_lossy(&out.stdout);
        if stdout.contains("test result") || stdout.contains("running 0 test") {
            holes.push(format!(
                "the container's #!/proc/self/exe ran the caller's binary: {stdout:?}"
            ));
        }
    }
    assert!(holes.is_empty(), "{holes:#?}");
}

/// Unmounts `p` (lazily) when dropped: the test's own host mount.
struct HostMount(PathBuf);

impl Drop for HostMount {
    fn drop(&mut self) {
        let c = std::ffi::CString::new(self.0.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path; MNT_DETACH of our own mount.
        unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    }
}

fn host_mounts_under(p: &Path) -> Vec<String> {
    let prefix = format!("{}/", p.display());
    std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
        .filter(|m| m.starts_with(&prefix))
        .collect()
}

/// Per-mount propagation `shared` (OCI mount option `shared`/`rshared`)
/// on a bind of a host directory that is itself a shared mount on the
/// host: a mount the container makes below it must not appear on the host
/// (the container's tree was made private or slave first), for every
/// builder-wide propagation and with or without a new root.
#[test]
fn shared_propagation_of_a_mount_does_not_reach_the_host() {
    use containment::mount::{Mount, Propagation};
    require_root!();
    require_busybox!();
    let dir = TempDir::new("sharedprop");
    let root = busybox_root(&dir.0);
    let shared = dir.0.join("shared");
    std::fs::create_dir_all(shared.join("sub")).unwrap();
    // Our own host mount: the directory bound onto itself, made shared.
    let c = std::ffi::CString::new(shared.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: NUL-terminated paths; a bind of our own directory.
    let r = unsafe {
        libc::mount(
            c.as_ptr(),
            c.as_ptr(),
            std::ptr::null(),
            libc::MS_BIND,
            std::ptr::null(),
        )
    };
    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
    let _guard = HostMount(shared.clone());
    // SAFETY: as above.
    let r = unsafe {
        libc::mount(
            std::ptr::null(),
            c.as_ptr(),
            std::ptr::null(),
            libc::MS_SHARED,
            std::ptr::null(),
        )
    };
    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
    for builder in [Propagation::Private, Propagation::Slave] {
        for recursive in [false, true] {
            for with_root in [true, false] {
                let m = Mount::bind(&shared, "/mnt");
                let m = if recursive {
                    m.recursive_propagation(Propagation::Shared)
                } else {
                    m.propagation(Propagation::Shared)
                };
                let mut c = Container::new()
                    .unshare(Namespaces::MOUNT | Namespaces::PID)
                    .propagation(builder)
                    .keep_all_capabilities()
                    .mount(m);
                if with_root {
                    c = c.root(&root);
                }
                let out = c
                    .command("/bin/busybox")
                    .args([
                        "sh",
                        "-c",
                        "busybox mount -t tmpfs brk2 /mnt/sub && echo MOUNTED",
                    ])
                    .output()
                    .unwrap();
                let leaked = host_mounts_under(&shared);
                let what = format!("{builder:?} recursive={recursive} root={with_root}");
                assert!(
                    leaked.is_empty(),
                    "{what}: the container's mount reached the host: {leaked:?} ({:?} {:?})",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                eprintln!("{what}: {:?}", String::from_utf8_lossy(&out.stdout));
            }
        }
    }
}

/// `docker exec` of a container whose device rules live in the v1
/// `devices` hierarchy: the joined program must sit in the container's
/// devices cgroup (else it opens every device the caller may), before it
/// runs a single instruction of the container's program.
#[test]
fn joined_program_is_in_the_containers_v1_devices_cgroup() {
    use containment::cgroup::{CgroupSpec, DeviceRule, Hierarchy, Resources};
    require_root!();
    require_busybox!();
    let h = Hierarchy::detect().unwrap();
    require!(
        h.v1_mount_of("devices").is_some(),
        "no cgroup v1 devices hierarchy"
    );
    let Some(base) = common::TestCgroup::new("brk2-joindev") else {
        panic!("cannot make a test cgroup");
    };
    let dir = TempDir::new("joindev");
    let root = busybox_root(&dir.0);
    let rules: Vec<DeviceRule> = ["deny a *:* rwm", "c 1:3 rwm", "c 1:5 rwm"]
        .iter()
        .map(|s| s.parse().unwrap())
        .collect();
    let ns = Namespaces::MOUNT | Namespaces::PID;
    let mut target = Container::new()
        .unshare(ns)
        .root(&root)
        .cgroup(
            CgroupSpec::new()
                .parent(&base.0)
                .resources(Resources::new().device_rules(rules)),
        )
        .command("/bin/sleep")
        .arg("60")
        .spawn()
        .unwrap();
    let theirs = std::fs::read_to_string(format!("/proc/{}/cgroup", target.id())).unwrap();
    // The joined program: its devices line, and whether a node of a
    // device outside the rules (the host's console 4:1, made here with
    // mknod as the caller may) opens. `m` is refused by the rules too.
    let out = Container::new()
        .join_child(&target, ns)
        .keep_all_capabilities()
        .command("/bin/sh")
        .args([
            "-c",
            "grep devices /proc/self/cgroup; mknod /tmp/c c 4 1 && echo MADE; \
             (exec 3</tmp/c) && echo OPENED; rm -f /tmp/c",
        ])
        .output();
    target.kill().unwrap();
    target.wait().unwrap();
    let out = out.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let want = theirs.lines().find(|l| l.contains(":devices:")).unwrap();
    assert!(
        stdout.lines().any(|l| l == want),
        "the joined program is not in the container's devices cgroup ({want}): {stdout:?}"
    );
    assert!(
        !stdout.contains("MADE") && !stdout.contains("OPENED"),
        "{stdout:?}"
    );
}
