//! Unit tests of plan preparation (no root) and, as root, of the child side
//! through a small clone3-based harness (the spawn core's own tests drive it
//! through the builder).

use super::*;
use crate::mount::{Overlay, DOCKER_MASKED_PATHS, DOCKER_READONLY_PATHS};
use crate::sys::{clone3, CloneArgs, CloneFlags};
use std::io::Read;
use std::os::unix::fs::symlink;

fn ns() -> Namespaces {
    Namespaces::MOUNT | Namespaces::PID
}

#[test]
fn container_paths_are_validated() {
    let t = container_path("mount target", Path::new("/a//b/./c/"), false).unwrap();
    assert_eq!(t.rel.as_bytes(), b"a/b/c");
    assert_eq!(t.shown, "/a/b/c");
    let p: Vec<_> = t.prefixes.iter().map(|c| c.to_str().unwrap()).collect();
    assert_eq!(p, ["a", "a/b", "a/b/c"]);
    let n: Vec<_> = t.names.iter().map(|c| c.to_str().unwrap()).collect();
    assert_eq!(n, ["a", "b", "c"]);

    for (bad, why) in [
        ("a/b", "absolute"),
        ("/a/../b", "`..`"),
        ("/..", "`..`"),
        ("/", "cannot be a target"),
        ("", "absolute"),
    ] {
        let e = container_path("mount target", Path::new(bad), false)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains(why), "{bad}: {e}");
        assert!(e.contains("mount target"), "{bad}: {e}");
    }
}

#[test]
fn needs_a_mount_namespace() {
    let c = FsConfig {
        mounts: vec![Mount::tmpfs("/tmp")],
        ..Default::default()
    };
    let e = c.plan(Namespaces::PID).err().unwrap();
    assert_eq!(e.field(), Some("mount"));
    assert!(FsConfig::default().plan(Namespaces::PID).unwrap().is_none());
    let c = FsConfig {
        mount_proc: Some(true),
        ..Default::default()
    };
    assert_eq!(
        c.plan(Namespaces::UTS).err().unwrap().field(),
        Some("mount_proc")
    );
}

#[test]
fn stub_contract_kept() {
    // Mount namespace alone: / private, no proc.
    let p = FsConfig::default()
        .plan(Namespaces::MOUNT)
        .unwrap()
        .unwrap();
    assert_eq!(p.propagation, libc::MS_REC | libc::MS_PRIVATE);
    assert!(p.proc_target.is_none() && p.root.is_none() && p.dev.is_none());
    // With a PID namespace: proc on /proc, unless turned off.
    let p = FsConfig::default().plan(ns()).unwrap().unwrap();
    assert_eq!(p.proc_target.as_ref().unwrap().shown, "/proc");
    let c = FsConfig {
        mount_proc: Some(false),
        ..Default::default()
    };
    assert!(c.plan(ns()).unwrap().unwrap().proc_target.is_none());
}

#[test]
fn plan_prepares_mounts_and_describes_them() {
    let dir = TempDir::new("plan");
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(dir.path().join("file"), b"x").unwrap();
    let c = FsConfig {
        root: Some(Rootfs::dir(dir.path())),
        mounts: vec![
            Mount::tmpfs("/tmp").size(64 << 20).mode(0o1777),
            Mount::bind(&src, "/data").read_only(true),
            Mount::bind(dir.path().join("file"), "/etc/file"),
            Mount::sysfs("/sys"),
        ],
        masked_paths: DOCKER_MASKED_PATHS.iter().map(PathBuf::from).collect(),
        readonly_paths: DOCKER_READONLY_PATHS.iter().map(PathBuf::from).collect(),
        shm_size: Some(1 << 20),
        ..Default::default()
    };
    let p = c.plan(Namespaces::MOUNT).unwrap().unwrap();
    // A root means proc and a minimal /dev by default.
    assert!(p.proc_target.is_some());
    assert!(
        matches!(&p.dev, Some(DevPlan::Minimal { shm_data, .. }) if shm_data.as_bytes() == b"mode=1777,size=1048576")
    );
    assert_eq!(
        p.describe(Step::Mount, 0).unwrap(),
        "mount 0: tmpfs on /tmp (MS_NOSUID|MS_NODEV, size=67108864,mode=1777)"
    );
    let d1 = p.describe(Step::Mount, 1).unwrap();
    assert!(
        d1.starts_with("mount 1: bind /")
            && d1.contains("/src on /data (MS_RDONLY|MS_BIND|MS_REC)"),
        "{d1}"
    );
    assert!(
        p.mounts[2].target.file,
        "a file bind gets a file mount point"
    );
    assert!(!p.mounts[1].target.file);
    assert!(p
        .describe(Step::Mount, 3)
        .unwrap()
        .contains("sysfs on /sys (MS_RDONLY|"));
    assert!(p.describe(Step::Mount, 9).is_none());
    assert!(p
        .describe(Step::MaskPath, 3)
        .unwrap()
        .contains("/proc/kcore"));
    assert!(p
        .describe(Step::Dev, DEV_NODE0)
        .unwrap()
        .contains("/dev/null"));
    assert!(p
        .describe(Step::Dev, DEV_SHM)
        .unwrap()
        .contains("size=1048576"));
    let h = p.hint(Step::PivotRoot, 2, libc::EINVAL).unwrap();
    for cause in ["not a mount point", "shared", "old root", "initramfs"] {
        assert!(h.contains(cause), "{h}");
    }
    assert!(p
        .hint(Step::Mount, 3, libc::EPERM)
        .unwrap()
        .contains("network namespace"));
    assert!(p
        .hint(Step::MountProc, 1, libc::EPERM)
        .unwrap()
        .contains("mnt_too_revealing"));
}

#[test]
fn plan_refuses_bad_values_naming_the_field() {
    let dir = TempDir::new("bad");
    let cases: Vec<(FsConfig, &str)> = vec![
        (
            FsConfig {
                root: Some(Rootfs::dir(dir.path().join("missing"))),
                ..Default::default()
            },
            "root",
        ),
        (
            FsConfig {
                mounts: vec![Mount::bind(dir.path().join("missing"), "/x")],
                ..Default::default()
            },
            "bind source",
        ),
        (
            FsConfig {
                mounts: vec![Mount::tmpfs("relative")],
                ..Default::default()
            },
            "mount target",
        ),
        (
            FsConfig {
                mounts: vec![Mount::tmpfs("/x").mode(0o17777)],
                ..Default::default()
            },
            "tmpfs mode",
        ),
        (
            FsConfig {
                shm_size: Some(1),
                dev: Some(DevSpec::Keep),
                ..Default::default()
            },
            "shm_size",
        ),
        (
            FsConfig {
                root: Some(Rootfs::from(Overlay::ephemeral(Vec::<PathBuf>::new()))),
                ..Default::default()
            },
            "root overlay",
        ),
        (
            FsConfig {
                masked_paths: vec!["/proc/../etc".into()],
                ..Default::default()
            },
            "masked path",
        ),
    ];
    for (c, field) in cases {
        let e = c.plan(Namespaces::MOUNT).err().unwrap();
        assert_eq!(e.field(), Some(field), "{e}");
    }
    let comma = dir.path().join("a,b");
    std::fs::create_dir(&comma).unwrap();
    let c = FsConfig {
        root: Some(Rootfs::from(Overlay::ephemeral([&comma]))),
        ..Default::default()
    };
    let e = c.plan(Namespaces::MOUNT).err().unwrap().to_string();
    assert!(e.contains("cannot contain"), "{e}");
}

#[test]
fn overlay_option_strings() {
    let dir = TempDir::new("ovl");
    for d in ["l1", "l2", "u", "w"] {
        std::fs::create_dir(dir.path().join(d)).unwrap();
    }
    let p = |n: &str| dir.path().join(n);
    let (d, _, top) = overlay_data("o", &Overlay::new([p("l1"), p("l2")], p("u"), p("w"))).unwrap();
    // The top-most lower, resolved: the default merged directory.
    assert_eq!(top, p("l1").canonicalize().unwrap());
    let OverlayData::Fixed(s) = d else { panic!() };
    let want = format!(
        "lowerdir={}:{},upperdir={},workdir={}",
        p("l1").canonicalize().unwrap().display(),
        p("l2").canonicalize().unwrap().display(),
        p("u").canonicalize().unwrap().display(),
        p("w").canonicalize().unwrap().display()
    );
    assert_eq!(s.to_str().unwrap(), want);
    let (d, _, _) = overlay_data("o", &Overlay::ephemeral([p("l1")])).unwrap();
    let OverlayData::Ephemeral(l) = d else {
        panic!()
    };
    assert_eq!(
        l,
        [CString::new(p("l1").canonicalize().unwrap().as_os_str().as_bytes()).unwrap()]
    );
    let (d, _, _) = overlay_data("o", &Overlay::read_only([p("l1"), p("l2")])).unwrap();
    assert!(matches!(d, OverlayData::Fixed(s) if !s.to_bytes().windows(5).any(|w| w == b"upper")));
}

#[test]
fn decimal_and_procfd_formatting() {
    let mut buf = [0u8; 32];
    // SAFETY: 2 is stderr, borrowed only for the call.
    let fd = unsafe { BorrowedFd::borrow_raw(2) };
    assert_eq!(procfd(fd, &mut buf).to_bytes(), b"/proc/self/fd/2");
    let mut b = [0u8; 12];
    let end = put_decimal(&mut b, 0, 1_234_567_890).unwrap();
    assert_eq!(&b[..end], b"1234567890");
    assert_eq!(put_decimal(&mut b, 5, 1_234_567_890), None);
    assert_eq!(put_bytes(&mut b, 10, b"abc"), None);
}

// ---------------------------------------------------------------------------
// Root tests: a busybox root and a clone3 harness.

pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(tag: &str) -> TempDir {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "containment-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn is_root() -> bool {
    // SAFETY: no preconditions.
    unsafe { libc::geteuid() == 0 }
}

macro_rules! need_root {
    () => {
        if !is_root() {
            if std::env::var_os("CONTAINMENT_NO_SKIP").is_some_and(|v| v != "0") {
                panic!("needs root, and CONTAINMENT_NO_SKIP is set");
            }
            eprintln!("SKIPPED: needs root");
            return;
        }
    };
}

fn busybox() -> PathBuf {
    for p in ["/bin/busybox", "/usr/bin/busybox"] {
        if Path::new(p).exists() {
            return p.into();
        }
    }
    panic!("busybox-static is not installed (apt-get install busybox-static)");
}

/// A busybox root: /bin/busybox and its applets, /etc, /tmp.
fn busybox_root(dir: &Path) -> PathBuf {
    let root = dir.join("root");
    for d in ["bin", "etc", "tmp", "proc", "dev", "sys"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(busybox(), root.join("bin/busybox")).unwrap();
    let out = std::process::Command::new(busybox())
        .arg("--list")
        .output()
        .unwrap();
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        let _ = symlink("busybox", root.join("bin").join(applet));
    }
    std::fs::write(root.join("etc/hostname-marker"), b"inside\n").unwrap();
    root
}

fn mountinfo() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap()
}

struct Outcome {
    status: i32,
    out: String,
    failure: Option<ChildFailure>,
}

/// clone3 with `flags` (NEWNS at least), apply `plan`, exec `sh -c script`
/// (the root's busybox when the plan has a root, the host's otherwise).
fn run(plan: &MountPlan, flags: CloneFlags, script: &str) -> Outcome {
    let (bin, arg0) = if plan.root.is_some() {
        (
            CString::new("/bin/busybox").unwrap(),
            CString::new("sh").unwrap(),
        )
    } else {
        (
            CString::new(busybox().as_os_str().as_bytes()).unwrap(),
            CString::new("sh").unwrap(),
        )
    };
    let dash_c = CString::new("-c").unwrap();
    let script = CString::new(script).unwrap();
    let argv = [
        arg0.as_ptr(),
        dash_c.as_ptr(),
        script.as_ptr(),
        std::ptr::null(),
    ];
    let path = CString::new("PATH=/bin:/usr/bin:/sbin:/usr/sbin").unwrap();
    let envp = [path.as_ptr(), std::ptr::null()];
    let mut out_p = [0; 2];
    let mut err_p = [0; 2];
    // SAFETY: valid arrays of two ints.
    unsafe {
        assert_eq!(libc::pipe2(out_p.as_mut_ptr(), libc::O_CLOEXEC), 0);
        assert_eq!(libc::pipe2(err_p.as_mut_ptr(), libc::O_CLOEXEC), 0);
    }
    let mut args = CloneArgs {
        flags: flags.bits(),
        exit_signal: libc::SIGCHLD as u64,
        ..Default::default()
    };
    // SAFETY: the child only makes async-signal-safe calls on data prepared
    // above, then execs or _exits.
    let pid = unsafe { clone3(&mut args) }.unwrap();
    if pid == 0 {
        // SAFETY: raw async-signal-safe calls on live descriptors and strings.
        unsafe {
            libc::dup2(out_p[1], 1);
            libc::dup2(out_p[1], 2);
            if let Err(f) = plan.apply() {
                let _ = crate::sys::write_all_fd(err_p[1], &f.to_bytes());
                libc::_exit(111);
            }
            libc::execve(bin.as_ptr(), argv.as_ptr(), envp.as_ptr());
            let f = ChildFailure::last(Step::Exec);
            let _ = crate::sys::write_all_fd(err_p[1], &f.to_bytes());
            libc::_exit(112);
        }
    }
    // SAFETY: closing our copies of the write ends, once.
    unsafe {
        libc::close(out_p[1]);
        libc::close(err_p[1]);
    }
    // SAFETY: the read ends are owned here.
    let mut out_f = unsafe { std::fs::File::from_raw_fd(out_p[0]) };
    // SAFETY: as above.
    let mut err_f = unsafe { std::fs::File::from_raw_fd(err_p[0]) };
    let mut out = String::new();
    out_f.read_to_string(&mut out).unwrap();
    let mut eb = Vec::new();
    err_f.read_to_end(&mut eb).unwrap();
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    let failure = (eb.len() == ChildFailure::SIZE)
        .then(|| ChildFailure::from_bytes(eb[..].try_into().unwrap()))
        .flatten();
    Outcome {
        status: libc::WEXITSTATUS(status),
        out,
        failure,
    }
}

fn ok(plan: &MountPlan, flags: CloneFlags, script: &str) -> String {
    let o = run(plan, flags, script);
    if let Some(f) = o.failure {
        panic!(
            "child failed: {:?} errno {} ({:?}; hint {:?})\n{}",
            f.step,
            crate::error::errno_name(f.errno),
            plan.describe(f.step, f.index),
            plan.hint(f.step, f.index, f.errno),
            o.out
        );
    }
    assert_eq!(o.status, 0, "script failed: {}", o.out);
    o.out
}

const NS_PID: CloneFlags = CloneFlags::NEWNS.union(CloneFlags::NEWPID);

#[test]
fn busybox_root_pivot_proc_dev() {
    need_root!();
    let before = mountinfo();
    let dir = TempDir::new("pivot");
    let root = busybox_root(dir.path());
    let c = FsConfig {
        root: Some(Rootfs::dir(&root)),
        mounts: vec![Mount::tmpfs("/tmp").size(1 << 20)],
        ..Default::default()
    };
    let plan = c.plan(ns()).unwrap().unwrap();
    let out = ok(
        &plan,
        NS_PID,
        "ls /; echo ---; cat /etc/hostname-marker; echo $$; ps -o pid,comm | wc -l; \
         echo hi > /dev/null && test -c /dev/null && test -c /dev/urandom && test -L /dev/stdout && \
         test ! -e /dev/sda && echo devok; echo ---; cat /proc/self/mountinfo; \
         head -c 4 /dev/zero | wc -c; echo x > /tmp/x && echo tmpok; test -d /dev/pts && test -c /dev/pts/ptmx && echo ptsok; \
         grep -c ' /dev/shm .*size=65536k' /proc/self/mountinfo",
    );
    let (ls, rest) = out.split_once("---\n").unwrap();
    let ls: Vec<&str> = ls.split_whitespace().collect();
    assert_eq!(ls, ["bin", "dev", "etc", "proc", "sys", "tmp"], "{out}");
    assert!(rest.starts_with("inside\n1\n"), "{out}");
    // ps header + sh (pid 1) + ps + wc.
    assert!(
        rest.contains("\n4\n"),
        "only the container's processes: {out}"
    );
    assert!(
        rest.contains("devok") && rest.contains("tmpok") && rest.contains("ptsok"),
        "{out}"
    );
    let (_, inner) = rest.split_once("---\n").unwrap();
    // The old root is gone: only our mounts are left.
    let points: Vec<&str> = inner.lines().filter_map(|l| l.split(' ').nth(4)).collect();
    for p in &points {
        assert!(
            [
                "/",
                "/proc",
                "/dev",
                "/dev/null",
                "/dev/zero",
                "/dev/full",
                "/dev/random",
                "/dev/urandom",
                "/dev/tty",
                "/dev/pts",
                "/dev/shm",
                "/tmp"
            ]
            .contains(p),
            "unexpected mount {p} inside:\n{inner}"
        );
    }
    assert!(
        points.contains(&"/") && points.contains(&"/proc"),
        "{inner}"
    );
    assert!(!inner.contains("/sys/fs/cgroup"), "{inner}");
    assert_eq!(mountinfo(), before, "no mount left in the parent's table");
    drop(dir);
}

#[test]
fn readonly_bind_and_root_and_masks() {
    need_root!();
    let before = mountinfo();
    let dir = TempDir::new("ro");
    let root = busybox_root(dir.path());
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::write(data.join("f"), b"host\n").unwrap();
    let c = FsConfig {
        root: Some(Rootfs::dir(&root)),
        mounts: vec![
            Mount::tmpfs("/tmp"),
            Mount::bind(&data, "/mnt/data").read_only(true),
            Mount::bind(&data, "/mnt/rw"),
        ],
        readonly_root: true,
        masked_paths: DOCKER_MASKED_PATHS.iter().map(PathBuf::from).collect(),
        readonly_paths: DOCKER_READONLY_PATHS.iter().map(PathBuf::from).collect(),
        ..Default::default()
    };
    let plan = c.plan(ns()).unwrap().unwrap();
    let out = ok(
        &plan,
        NS_PID,
        "cat /mnt/data/f; echo x > /mnt/data/f 2>&1; touch /newfile 2>&1; echo y > /tmp/y && echo tmpok; \
         echo rw > /mnt/rw/g && echo rwok; wc -c < /proc/interrupts; echo 1 > /proc/sys/kernel/panic 2>&1; \
         ls /proc/acpi 2>&1 | wc -l; true",
    );
    assert!(out.starts_with("host\n"), "{out}");
    assert_eq!(
        out.matches("Read-only file system").count(),
        3,
        "ro bind, ro root, /proc/sys: {out}"
    );
    assert!(out.contains("tmpok") && out.contains("rwok"), "{out}");
    assert!(
        out.contains("rwok\n0\n"),
        "masked /proc/interrupts is empty: {out}"
    );
    assert!(out.ends_with("\n0\n"), "masked /proc/acpi is empty: {out}");
    assert_eq!(std::fs::read(data.join("f")).unwrap(), b"host\n");
    assert_eq!(std::fs::read(data.join("g")).unwrap(), b"rw\n");
    assert!(!root.join("newfile").exists());
    assert_eq!(mountinfo(), before);
}

#[test]
fn symlinks_out_of_the_root_are_contained() {
    need_root!();
    let before = mountinfo();
    let dir = TempDir::new("escape");
    let root = busybox_root(dir.path());
    // A host directory the rootfs tries to reach.
    let host = dir.path().join("host");
    std::fs::create_dir(&host).unwrap();
    std::fs::write(host.join("marker"), b"host file\n").unwrap();
    // Absolute symlink pointing at the host dir, and a ../ chain to it.
    symlink(&host, root.join("abs")).unwrap();
    let depth = root.components().count();
    let dotdots = "../".repeat(depth + 3);
    symlink(
        format!("{dotdots}{}", host.strip_prefix("/").unwrap().display()),
        root.join("rel"),
    )
    .unwrap();
    // `etc2 -> /etc` (absolute, missing inside the root).
    symlink("/etc", root.join("etc2")).unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("payload"), b"payload\n").unwrap();
    let in_root = root.join(host.strip_prefix("/").unwrap());

    // While the symlinks' targets do not exist inside the root, the mount
    // point cannot be made: refused.
    for target in ["/abs", "/rel", "/rel/marker"] {
        let c = FsConfig {
            root: Some(Rootfs::dir(&root)),
            mounts: vec![Mount::tmpfs(target)],
            ..Default::default()
        };
        let plan = c.plan(ns()).unwrap().unwrap();
        let o = run(&plan, NS_PID, "true");
        let f = o.failure.expect("refused");
        assert_eq!(
            (f.step, f.index, f.errno),
            (Step::MountTarget, 0, libc::EEXIST),
            "{target}"
        );
        assert!(!in_root.exists());
    }

    // Once they exist inside the root, the mounts land there.
    std::fs::create_dir_all(&in_root).unwrap();
    let c = FsConfig {
        root: Some(Rootfs::dir(&root)),
        mounts: vec![Mount::bind(&src, "/abs")],
        ..Default::default()
    };
    let plan = c.plan(ns()).unwrap().unwrap();
    let out = ok(&plan, NS_PID, "echo w > /abs/written; ls /abs");
    assert_eq!(out, "payload\nwritten\n");
    assert!(
        src.join("written").exists(),
        "the bind went to the in-root path"
    );
    let c = FsConfig {
        root: Some(Rootfs::dir(&root)),
        mounts: vec![
            Mount::tmpfs("/rel"),
            Mount::bind(src.join("payload"), "/rel/marker"),
        ],
        ..Default::default()
    };
    let plan = c.plan(ns()).unwrap().unwrap();
    let out = ok(&plan, NS_PID, "cat /rel/marker; ls /rel");
    assert_eq!(out, "payload\nmarker\n");
    // The host directory the symlinks point at is untouched.
    assert_eq!(std::fs::read(host.join("marker")).unwrap(), b"host file\n");
    assert_eq!(
        std::fs::read_dir(&host).unwrap().count(),
        1,
        "host dir untouched"
    );
    assert!(
        src.join("written").exists(),
        "the bind went to the in-root path"
    );

    // etc2 -> /etc: /etc does not exist in the root... it does (busybox root
    // has /etc): a mount on /etc2/escape lands in <root>/etc/escape.
    let c = FsConfig {
        root: Some(Rootfs::dir(&root)),
        mounts: vec![Mount::tmpfs("/etc2/containment-escape-test")],
        ..Default::default()
    };
    let plan = c.plan(ns()).unwrap().unwrap();
    ok(&plan, NS_PID, "test -d /etc/containment-escape-test");
    assert!(
        !Path::new("/etc/containment-escape-test").exists(),
        "host /etc untouched"
    );
    assert!(root.join("etc/containment-escape-test").is_dir());

    // A dangling symlink out of the root as a target is refused.
    symlink("/nonexistent-containment/x", root.join("dangling")).unwrap();
    let c = FsConfig {
        root: Some(Rootfs::dir(&root)),
        mounts: vec![Mount::tmpfs("/dangling")],
        ..Default::default()
    };
    let plan = c.plan(ns()).unwrap().unwrap();
    let o = run(&plan, NS_PID, "true");
    let f = o.failure.expect("refused");
    assert_eq!((f.step, f.index), (Step::MountTarget, 0));
    assert!(!Path::new("/nonexistent-containment").exists());
    assert!(plan.hint(f.step, f.index, f.errno).is_some(), "{f:?}");
    assert_eq!(mountinfo(), before);
}

#[test]
fn overlay_root_kept_and_ephemeral_upper() {
    need_root!();
    let before = mountinfo();
    let dir = TempDir::new("overlay");
    let base = busybox_root(dir.path());
    let top = dir.path().join("top");
    let upper = dir.path().join("upper");
    let work = dir.path().join("work");
    for d in [&top, &upper, &work] {
        std::fs::create_dir(d).unwrap();
    }
    std::fs::write(top.join("layer"), b"top\n").unwrap();
    let c = FsConfig {
        root: Some(Rootfs::overlay([&top, &base], &upper, &work)),
        ..Default::default()
    };
    let plan = c.plan(ns()).unwrap().unwrap();
    let out = ok(
        &plan,
        NS_PID,
        "cat /layer; cat /etc/hostname-marker; echo new > /written; rm /layer; ls /",
    );
    assert!(out.starts_with("top\ninside\n"), "{out}");
    assert_eq!(std::fs::read(upper.join("written")).unwrap(), b"new\n");
    assert_eq!(
        std::fs::read(top.join("layer")).unwrap(),
        b"top\n",
        "lower untouched"
    );
    assert!(!base.join("written").exists() && !top.join("written").exists());

    // Ephemeral upper: writes work inside, nothing lands on the host.
    let c = FsConfig {
        root: Some(Rootfs::from(Overlay::ephemeral([&top, &base]))),
        ..Default::default()
    };
    let plan = c.plan(ns()).unwrap().unwrap();
    let out = ok(&plan, NS_PID, "echo e > /eph && cat /eph && cat /layer");
    assert_eq!(out, "e\ntop\n");
    assert!(!top.join("eph").exists() && !base.join("eph").exists());
    assert_eq!(mountinfo(), before);
}

#[test]
fn no_root_private_namespace_and_chroot_mode() {
    need_root!();
    let before = mountinfo();
    let dir = TempDir::new("noroot");
    let existing = dir.path().join("mnt");
    std::fs::create_dir(&existing).unwrap();
    let c = FsConfig {
        mounts: vec![Mount::tmpfs(&existing)],
        ..Default::default()
    };
    let plan = c.plan(ns()).unwrap().unwrap();
    let out = ok(
        &plan,
        NS_PID,
        &format!(
            "echo x > {0}/f && cat {0}/f; set -- /proc/[0-9]*; echo $#",
            existing.display()
        ),
    );
    // The shell globs /proc itself: only it runs in the new PID namespace
    // (counting with `ps | wc` raced the pipeline's own start).
    assert_eq!(out, "x\n1\n");
    assert_eq!(std::fs::read_dir(&existing).unwrap().count(), 0);

    let root = busybox_root(dir.path());
    let c = FsConfig {
        root: Some(Rootfs::dir(&root)),
        root_mode: RootMode::Chroot,
        ..Default::default()
    };
    let plan = c.plan(ns()).unwrap().unwrap();
    let out = ok(&plan, NS_PID, "cat /etc/hostname-marker");
    assert_eq!(out, "inside\n");
    assert_eq!(mountinfo(), before);
}

#[test]
fn overlay_hint_finds_mounts_below_the_layers() {
    let fixed = OverlayData::Fixed(c"lowerdir=/l1:/l2,upperdir=/u/up,workdir=/u/wk".into());
    assert_eq!(layer_paths(&fixed), ["/l1", "/l2", "/u/up", "/u/wk"]);
    let eph = OverlayData::Ephemeral(vec![c"/img/a".into(), c"/img/b".into()]);
    assert_eq!(layer_paths(&eph), ["/img/a", "/img/b"]);
    let info = "1 0 8:1 / / rw - ext4 /dev/sda rw\n\
                2 1 0:5 / /img/a rw - tmpfs t rw\n\
                3 1 0:6 / /img/a/mnt rw - tmpfs t rw\n\
                4 1 0:7 / /img/ab/x rw - tmpfs t rw\n\
                5 1 0:8 / /u/up/deep/er rw - tmpfs t rw\n";
    assert_eq!(mounts_below(info, &layer_paths(&eph)), ["/img/a/mnt"]);
    assert_eq!(mounts_below(info, &layer_paths(&fixed)), ["/u/up/deep/er"]);
}

#[test]
fn masks_are_anchored_on_the_mount_they_lie_under() {
    let cfg = FsConfig {
        root: Some(Rootfs::dir("/")),
        mounts: vec![
            Mount::bind("/tmp", "/data"),
            Mount::tmpfs("/data/t").size(4096),
            Mount::sysfs("/sys"),
        ],
        masked_paths: vec![
            "/proc/keys".into(),
            "/data/x/y".into(),
            "/data/t/z".into(),
            "/sys/firmware".into(),
            "/etc/shadow".into(),
            "/proc".into(),
        ],
        readonly_paths: vec!["/proc/sys".into()],
        ..Default::default()
    };
    let plan = cfg
        .plan(Namespaces::MOUNT | Namespaces::PID)
        .unwrap()
        .unwrap();
    let got: Vec<Option<(usize, &str)>> = plan
        .masked
        .iter()
        .chain(&plan.readonly_paths)
        .map(|h| h.anchored.as_ref().map(|(s, r)| (*s, r.to_str().unwrap())))
        .collect();
    // proc gets slot 0, the bind 1, sysfs 2; the tmpfs (with options) is
    // not kept, so paths under it are looked up in the root.
    assert_eq!(
        got,
        [
            Some((0, "keys")),
            Some((1, "x/y")),
            None,
            Some((2, "firmware")),
            None,
            Some((0, ".")),
            Some((0, "sys")),
        ]
    );
    assert_eq!(plan.anchors.len(), 3);
    assert_eq!(plan.proc_anchor, Some(0));
    assert_eq!(plan.mounts[0].anchor, Some(1));
    assert_eq!(plan.mounts[1].anchor, None);
    assert_eq!(plan.mounts[2].anchor, Some(2));
}

#[test]
fn masks_under_dev_are_anchored_on_the_dev_mount() {
    for dev in [DevSpec::Minimal, DevSpec::Host] {
        let cfg = FsConfig {
            root: Some(Rootfs::dir("/")),
            dev: Some(dev),
            masked_paths: vec!["/dev/kmsg".into(), "/proc/keys".into()],
            ..Default::default()
        };
        let plan = cfg.plan(Namespaces::MOUNT).unwrap().unwrap();
        let got: Vec<_> = plan
            .masked
            .iter()
            .map(|h| h.anchored.as_ref().map(|(s, r)| (*s, r.to_str().unwrap())))
            .collect();
        assert_eq!(got, [Some((0, "kmsg")), Some((1, "keys"))], "{dev:?}");
        assert_eq!((plan.dev_anchor, plan.proc_anchor), (Some(0), Some(1)));
    }
}

/// The remembered initramfs answer is the one mountinfo gives, and it is
/// keyed by the unique id of the mount at `/` (Linux 6.8; this host has it).
#[test]
fn the_initramfs_answer_is_remembered_per_root_mount() {
    let fresh = host_root_is_initramfs();
    assert_eq!(root_is_initramfs_cached(), fresh);
    assert_eq!(root_is_initramfs_cached(), fresh);
    let uname = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut v = uname
        .split(['.', '-'])
        .map(|x| x.parse::<u32>().unwrap_or(0));
    if (v.next().unwrap_or(0), v.next().unwrap_or(0)) >= (6, 8) {
        let id = root_mount_unique_id().expect("STATX_MNT_ID_UNIQUE on 6.8+");
        assert_eq!(root_mount_unique_id(), Some(id));
    }
}
