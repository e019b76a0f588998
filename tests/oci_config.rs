//! The builder steps an OCI config needs (branch ocicfg): device nodes made
//! inside the root, single namespaces joined by descriptor, per-mount and
//! unbindable propagation, a root without a mount namespace, and a seccomp
//! filter that denies getcwd. Each asserts what the kernel shows, with the
//! attacks on each (a device through a symlink out of the root, a device
//! for a user namespace, a namespace descriptor of the wrong kind).

#[macro_use]
mod common;

use containment::mount::{DevSpec, DeviceNode, Mount, Propagation, RootMode};
use containment::namespace::NsFd;
use containment::{Container, IdMap, Namespace, Namespaces, SpawnError, Step};
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

/// A busybox root (every applet) under `dir/root`, with `/etc/marker`.
fn busybox_root(dir: &Path) -> PathBuf {
    let root = common::busybox::root(dir);
    std::fs::write(root.join("etc/marker"), b"inside\n").unwrap();
    root
}

/// A temporary directory removed on drop (also when the test panics).
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let p = std::env::temp_dir().join(common::unique(&format!("containment-ocicfg-{tag}")));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The one place this file makes a builder: a container in new mount and
/// PID namespaces with `root`.
fn builder(root: &Path) -> Container {
    Container::new()
        .unshare(Namespaces::MOUNT | Namespaces::PID)
        .root(root)
}

fn run(b: &Container, script: &str) -> String {
    run_command(&mut b.command("/bin/sh"), script)
}

fn run_command(cmd: &mut containment::Command, script: &str) -> String {
    common::output_of(cmd.args(["-c", script]))
}

fn mountinfo() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap()
}

/// The optional fields (propagation) of the mountinfo line of `target`.
fn propagation_of<'a>(info: &'a str, target: &str) -> &'a str {
    // id parent major:minor root mountpoint options [optional...] - ...
    let line = info
        .lines()
        .rfind(|l| l.split(' ').nth(4) == Some(target))
        .unwrap_or_else(|| panic!("{target} not in\n{info}"));
    let head = &line[..line.find(" - ").unwrap()];
    let mut at = 0;
    for _ in 0..6 {
        at += head[at..].find(' ').map_or(head.len() - at, |i| i + 1);
    }
    head[at.min(head.len())..].trim()
}

#[test]
fn device_nodes_have_their_type_numbers_mode_and_owner() {
    require_root!();
    let before = mountinfo();
    let dir = TempDir::new("dev");
    let root = busybox_root(&dir.0);
    let out = run(
        &builder(&root)
            .device(
                DeviceNode::char("/dev/ocicfg-c", 1, 3)
                    .mode(0o640)
                    .owner(1000, 1001),
            )
            .device(DeviceNode::block("/dev/sub/ocicfg-b", 7, 200).mode(0o600))
            .device(DeviceNode::fifo("/dev/ocicfg-p").mode(0o620).owner(5, 6)),
        "stat -c '%F %t:%T %a %u:%g' /dev/ocicfg-c /dev/sub/ocicfg-b /dev/ocicfg-p; \
         echo x > /dev/ocicfg-c && echo written",
    );
    assert_eq!(
        out,
        "character special file 1:3 640 1000:1001\n\
         block special file 7:c8 600 0:0\n\
         fifo 0:0 620 5:6\n\
         written\n"
    );
    // Made on the container's /dev tmpfs: nothing in the image.
    assert_eq!(std::fs::read_dir(root.join("dev")).unwrap().count(), 0);
    assert_eq!(mountinfo(), before);
}

#[test]
fn a_device_through_a_symlink_stays_inside_the_root() {
    require_root!();
    let dir = TempDir::new("devesc");
    let root = busybox_root(&dir.0);
    // The host directory the image aims at.
    let host = dir.0.join("host-dir");
    std::fs::create_dir(&host).unwrap();
    // An absolute link and a relative one with more `..` than the root has.
    symlink(&host, root.join("evil")).unwrap();
    let dotdots = "../".repeat(root.components().count() + 2);
    let rel = host.strip_prefix("/").unwrap();
    symlink(format!("{dotdots}{}", rel.display()), root.join("up")).unwrap();
    // The node's own name a link to a host path.
    symlink(host.join("node"), root.join("nodelink")).unwrap();
    for path in ["/evil/node", "/up/node", "/nodelink"] {
        let r = builder(&root)
            .dev(DevSpec::Keep)
            .device(DeviceNode::char(path, 1, 3))
            .command("/bin/true")
            .status();
        // Either refused (the link leads nowhere inside the root, or is in
        // the way) or made inside the root; never on the host.
        if let Err(e) = &r {
            let c = e.child_error().unwrap_or_else(|| panic!("{e}"));
            assert_eq!(c.step(), Step::Dev, "{e}");
            assert!(e.to_string().contains(path), "{e}");
        }
        assert_eq!(
            std::fs::read_dir(&host).unwrap().count(),
            0,
            "{path}: a node was made on the host"
        );
    }
    // The links are untouched.
    assert_eq!(std::fs::read_link(root.join("evil")).unwrap(), host);
    assert!(std::fs::symlink_metadata(root.join("nodelink"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn a_device_in_a_user_namespace_is_only_the_hosts_own_node() {
    require_root!();
    let before = mountinfo();
    let dir = TempDir::new("devuserns");
    let root = busybox_root(&dir.0);
    let userns = |b: Container| {
        b.unshare(Namespaces::MOUNT | Namespaces::PID | Namespaces::USER)
            .uid_map([IdMap::new(0, 100_000, 65_536)])
            .gid_map([IdMap::new(0, 100_000, 65_536)])
    };
    // A node the host does not have at that path: no mknod in a user
    // namespace, and no bind of something else.
    let b = userns(builder(&root));
    let e = b
        .device(DeviceNode::block("/dev/ocicfg-fake-sda", 8, 0))
        .command("/bin/true")
        .status()
        .unwrap_err();
    assert!(
        matches!(
            e,
            SpawnError::InvalidConfig {
                field: "device",
                ..
            }
        ),
        "{e}"
    );
    // The host's /dev/null under another number: refused too.
    let b = userns(builder(&root));
    let e = b
        .device(DeviceNode::char("/dev/null", 8, 0))
        .command("/bin/true")
        .status()
        .unwrap_err();
    assert!(
        matches!(
            e,
            SpawnError::InvalidConfig {
                field: "device",
                ..
            }
        ),
        "{e}"
    );
    // The host's own node: bound, with the host's numbers.
    let b = userns(builder(&root));
    let out = run(
        &b.device(DeviceNode::char("/dev/kmsg", 1, 11)),
        "stat -c '%F %t:%T' /dev/kmsg",
    );
    assert_eq!(out, "character special file 1:b\n");
    assert_eq!(mountinfo(), before);
}

#[test]
fn device_errors_name_the_field() {
    require_root!();
    let dir = TempDir::new("deverr");
    let root = busybox_root(&dir.0);
    for (node, why) in [
        (DeviceNode::char("dev/rel", 1, 3), "absolute"),
        (DeviceNode::char("/dev/../x", 1, 3), "`..`"),
        (DeviceNode::char("/dev/m", 1, 3).mode(0o17777), "07777"),
    ] {
        let e = builder(&root)
            .device(node)
            .command("/bin/true")
            .status()
            .unwrap_err();
        assert!(
            matches!(
                e,
                SpawnError::InvalidConfig {
                    field: "device",
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains(why), "{e}");
    }
    // Without a root of its own a device would land on the host.
    let e = Container::new()
        .unshare(Namespaces::MOUNT)
        .device(DeviceNode::char("/tmp/ocicfg-x", 1, 3))
        .command("/bin/true")
        .status()
        .unwrap_err();
    assert!(
        matches!(
            e,
            SpawnError::InvalidConfig {
                field: "device",
                ..
            }
        ),
        "{e}"
    );
    assert!(!Path::new("/tmp/ocicfg-x").exists());
}

/// A `sleep` in new namespaces of `kinds`, killed on drop.
struct Target(std::process::Child);

impl Target {
    fn new(flags: &[&str]) -> Target {
        let c = std::process::Command::new("unshare")
            .args(flags)
            .args(["--fork", "--kill-child", "sleep", "1000"])
            .spawn()
            .unwrap();
        Target(c)
    }
    /// The inode link of `/proc/<pid>/ns/<name>`, once unshare is in it.
    fn ns(&self, name: &str) -> String {
        let own = std::fs::read_link(format!("/proc/self/ns/{name}")).unwrap();
        for _ in 0..1000 {
            let l = std::fs::read_link(format!("/proc/{}/ns/{name}", self.0.id())).unwrap();
            if l != own {
                return l.display().to_string();
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        panic!("unshare never entered a new {name} namespace");
    }
    fn open(&self, kind: Namespace) -> NsFd {
        NsFd::open_pid(self.0.id() as i32, kind).unwrap()
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_joined_namespace_is_the_targets_and_others_are_new() {
    require_root!();
    let dir = TempDir::new("join");
    let root = busybox_root(&dir.0);
    let t = Target::new(&["--uts", "--ipc", "--net", "--pid", "--mount"]);
    let (uts, ipc, net) = (t.ns("uts"), t.ns("ipc"), t.ns("net"));
    let pid_children = t.ns("pid_for_children");
    let own_net = std::fs::read_link("/proc/self/ns/net").unwrap();
    // UTS and IPC joined, PID joined (the program is in it), a new net.
    let b = Container::new()
        .unshare(Namespaces::MOUNT | Namespaces::NET)
        .root(&root)
        .join_namespace(Namespace::Uts, t.open(Namespace::Uts))
        .join_namespace(Namespace::Ipc, t.open(Namespace::Ipc))
        .join_namespace(
            Namespace::Pid,
            NsFd::open_path(
                format!("/proc/{}/ns/pid_for_children", t.0.id()),
                Some(Namespace::Pid),
            )
            .unwrap(),
        )
        .hostname("joined");
    let out = run(
        &b,
        "for n in uts ipc pid net; do readlink /proc/self/ns/$n; done",
    );
    let l: Vec<&str> = out.lines().collect();
    assert_eq!(l[..3], [uts.as_str(), ipc.as_str(), pid_children.as_str()]);
    assert_ne!(l[3], net);
    assert_ne!(Path::new(l[3]), own_net);
    // The hostname went to the joined namespace: the target sees it.
    let seen = std::process::Command::new("nsenter")
        .args(["-t", &t.0.id().to_string(), "-u", "hostname"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&seen.stdout), "joined\n");
}

#[test]
fn a_joined_mount_namespace_gets_the_root() {
    require_root!();
    let before = mountinfo();
    let dir = TempDir::new("joinmnt");
    let root = busybox_root(&dir.0);
    let t = Target::new(&["--mount"]);
    let mnt = t.ns("mnt");
    let b = Container::new()
        .unshare(Namespaces::PID)
        .root(&root)
        .join_namespace(Namespace::Mount, t.open(Namespace::Mount));
    let out = run(&b, "readlink /proc/self/ns/mnt; cat /etc/marker");
    assert_eq!(out, format!("{mnt}\ninside\n"));
    // The host's mount table is untouched.
    assert_eq!(mountinfo(), before);
}

#[test]
fn a_namespace_descriptor_of_the_wrong_kind_is_refused() {
    require_root!();
    let dir = TempDir::new("joinwrong");
    let root = busybox_root(&dir.0);
    // A UTS namespace given as the network namespace.
    let e = builder(&root)
        .join_namespace(Namespace::Net, NsFd::open_self(Namespace::Uts).unwrap())
        .command("/bin/true")
        .status()
        .unwrap_err();
    assert!(
        matches!(
            e,
            SpawnError::InvalidConfig {
                field: "join_namespace",
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("uts namespace, not a net"), "{e}");
    // Not a namespace at all.
    let f = std::fs::File::open(root.join("etc/marker")).unwrap();
    let e = builder(&root)
        .join_namespace(Namespace::Uts, f)
        .command("/bin/true")
        .status()
        .unwrap_err();
    assert!(e.to_string().contains("not a namespace"), "{e}");
    // A kind both created and joined.
    let e = builder(&root)
        .join_namespace(Namespace::Pid, NsFd::open_self(Namespace::Pid).unwrap())
        .command("/bin/true")
        .status()
        .unwrap_err();
    assert!(e.to_string().contains("both created and joined"), "{e}");
    // A joined user namespace owns nothing the clone creates.
    let e = builder(&root)
        .join_namespace(Namespace::User, NsFd::open_self(Namespace::User).unwrap())
        .command("/bin/true")
        .status()
        .unwrap_err();
    assert!(e.to_string().contains("user namespace"), "{e}");
}

#[test]
fn per_mount_propagation_shows_in_mountinfo() {
    require_root!();
    let before = mountinfo();
    let dir = TempDir::new("prop");
    let root = busybox_root(&dir.0);
    let src = dir.0.join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    let out = run(
        &builder(&root)
            .mount(Mount::tmpfs("/mnt/shared").propagation(Propagation::Shared))
            .mount(Mount::tmpfs("/mnt/unbindable").propagation(Propagation::Unbindable))
            .mount(Mount::tmpfs("/mnt/private").propagation(Propagation::Private))
            .mount(Mount::bind(&src, "/mnt/rshared").recursive_propagation(Propagation::Shared))
            .mount(Mount::tmpfs("/mnt/plain")),
        "cat /proc/self/mountinfo",
    );
    assert!(
        propagation_of(&out, "/mnt/shared").starts_with("shared:"),
        "{out}"
    );
    assert_eq!(
        propagation_of(&out, "/mnt/unbindable"),
        "unbindable",
        "{out}"
    );
    assert_eq!(propagation_of(&out, "/mnt/private"), "", "{out}");
    assert!(
        propagation_of(&out, "/mnt/rshared").starts_with("shared:"),
        "{out}"
    );
    assert_eq!(propagation_of(&out, "/mnt/plain"), "", "{out}");
    assert_eq!(mountinfo(), before);
}

#[test]
fn an_unbindable_root_refuses_binds_of_it() {
    require_root!();
    let dir = TempDir::new("unbind");
    let root = busybox_root(&dir.0);
    let out = run(
        &builder(&root)
            .propagation(Propagation::Unbindable)
            .mount(Mount::tmpfs("/mnt/own").propagation(Propagation::Shared))
            .keep_all_capabilities(),
        "awk '$5 == \"/\"' /proc/self/mountinfo | grep -c unbindable; \
         awk '$5 == \"/mnt/own\"' /proc/self/mountinfo | grep -c shared:; \
         mount --bind / /tmp 2>&1 || echo refused",
    );
    // EINVAL: the source is unbindable (not EPERM: the caps are kept). The
    // mount's own propagation survives the root's recursive one.
    assert_eq!(
        out,
        "1\n1\nmount: mounting / on /tmp failed: Invalid argument\nrefused\n"
    );
}

#[test]
fn a_root_without_a_mount_namespace_is_a_chroot() {
    require_root!();
    let before = mountinfo();
    let dir = TempDir::new("chroot");
    let root = busybox_root(&dir.0);
    let mut b = Container::new();
    b = b
        .root(&root)
        .root_mode(RootMode::Chroot)
        .mount_proc(false)
        .dev(DevSpec::Keep);
    let mut child = b
        .command("/bin/sh")
        .args(["-c", "cat /etc/marker; sleep 1000"])
        .stdout(containment::Stdio::Piped)
        .spawn()
        .unwrap();
    let pid = child.id();
    let mut line = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line, "inside\n");
    // The caller's mount namespace, the image as root, no mount made.
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/ns/mnt")).unwrap(),
        std::fs::read_link("/proc/self/ns/mnt").unwrap()
    );
    assert_eq!(
        std::fs::read_link(format!("/proc/{pid}/root")).unwrap(),
        root.canonicalize().unwrap()
    );
    assert_eq!(mountinfo(), before);
    child.kill().unwrap();
    let _ = child.wait();
    // Anything needing a mount is still refused without the namespace.
    let e = Container::new()
        .root(&root)
        .command("/bin/true")
        .status()
        .unwrap_err();
    assert!(
        matches!(e, SpawnError::InvalidConfig { field: "root", .. }),
        "{e}"
    );
}

#[cfg(feature = "seccomp")]
#[test]
fn a_filter_denying_getcwd_applies_to_the_program_only() {
    require_root!();
    let dir = TempDir::new("getcwd");
    let root = busybox_root(&dir.0);
    std::fs::create_dir_all(root.join("work")).unwrap();
    let filter = containment::seccomp::Filter::deny([libc::SYS_getcwd], libc::EPERM).unwrap();
    // Installed with the privileges still held (no no_new_privs), as an
    // OCI config without noNewPrivileges asks: before the caps and ids
    // change, hence before the working directory step.
    let out = run_command(
        builder(&root)
            .seccomp(filter)
            .seccomp_privileged(true)
            .command("/bin/sh")
            .current_dir("/work"),
        "busybox pwd -P 2>&1; echo status $?",
    );
    assert!(out.ends_with("status 1\n"), "{out}");
}
