//! Device rules (`--device-cgroup-rule`, OCI `linux.resources.devices`),
//! hugetlb limits, net_cls/net_prio and the blkio flags on this host's
//! real controllers: the v1 `devices` hierarchy (the default hybrid
//! backend) and a BPF device program on the cgroup2 (`Backend::V2`, which
//! is enforced on a hybrid host too: the kernel runs both checks). The
//! opened device is a node made with mknod in a directory of the test's
//! own (`c 1:3`, the null device), so nothing of the host's /dev is
//! involved. Every cgroup lives under a test cgroup removed on drop.

#[macro_use]
mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use containment::cgroup::{
    Backend, CgroupSpec, DeviceRule, Error, Hierarchy, HugePageSize, Resources,
};
use containment::{Child, Container};

/// A directory of the test's own with a `c 1:3` node (the null device).
struct Nodes(PathBuf);

impl Nodes {
    fn new() -> Nodes {
        let d = std::env::temp_dir().join(common::unique("cgdev"));
        std::fs::create_dir(&d).unwrap();
        nix::sys::stat::mknod(
            &d.join("null"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::from_bits_truncate(0o666),
            nix::sys::stat::makedev(1, 3),
        )
        .unwrap();
        Nodes(d)
    }

    fn null(&self) -> String {
        self.0.join("null").display().to_string()
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rules(list: &[&str]) -> Vec<DeviceRule> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

fn sh(spec: CgroupSpec, cmd: &str) -> Child {
    Container::new()
        .cgroup(spec)
        .command("/bin/sh")
        .args(["-c", cmd])
        .spawn()
        .unwrap()
}

/// Exit status of opening `node` read-write inside a cgroup with `rules`.
fn open_in(base: &Path, backend: Option<Backend>, r: &[DeviceRule], node: &str) -> ExitStatus {
    let mut spec = CgroupSpec::new()
        .parent(base)
        .resources(Resources::new().device_rules(r.iter().copied()));
    if let Some(b) = backend {
        spec = spec.backend(b);
    }
    sh(spec, &format!("exec 3<>{node}")).wait().unwrap()
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A shell loop that records its first refusal in `out`, then retries
/// until the node opens and exits 0.
fn retry_script(node: &str, out: &Path) -> String {
    format!(
        "first=1; while :; do if (exec 3<>{node}) 2>/dev/null; then exit 0; fi; \
         if [ -n \"$first\" ]; then echo denied > {out}; first=; fi; sleep 0.02; done",
        out = out.display()
    )
}

#[test]
fn v1_devices_deny_then_allow_list() {
    require_root!();
    let h = Hierarchy::detect().unwrap();
    require!(
        h.v1_mount_of("devices").is_some(),
        "no cgroup v1 devices hierarchy"
    );
    let Some(base) = common::TestCgroup::new("cgdev-v1") else {
        panic!("cannot make a test cgroup");
    };
    let n = Nodes::new();
    // Without rules the node opens (the baseline of the comparison).
    assert!(open_in(&base.0, None, &[], &n.null()).success());
    // Denied: only /dev/zero (1:5) allowed.
    let denied = open_in(
        &base.0,
        None,
        &rules(&["deny a *:* rwm", "c 1:5 rwm"]),
        &n.null(),
    );
    assert!(!denied.success(), "{denied:?}");
    // Allowed: 1:3.
    let allowed = open_in(
        &base.0,
        None,
        &rules(&["deny a *:* rwm", "c 1:3 rw"]),
        &n.null(),
    );
    assert!(allowed.success(), "{allowed:?}");
    // A deny of exactly that device in an allow-all cgroup.
    let st = open_in(&base.0, None, &rules(&["deny c 1:3 w"]), &n.null());
    assert!(!st.success(), "{st:?}");

    // What the kernel holds, and a live update of a running container.
    let out = n.0.join("out");
    let spec = CgroupSpec::new()
        .parent(&base.0)
        .resources(Resources::new().device_rules(rules(&["deny a *:* rwm", "c 1:5 rwm"])));
    let mut child = sh(spec, &retry_script(&n.null(), &out));
    let cg = child.cgroup().unwrap();
    let dev = cg.v1_path("devices").expect("a v1 devices directory");
    let list = std::fs::read_to_string(dev.join("devices.list")).unwrap();
    assert_eq!(list.trim(), "c 1:5 rwm", "devices.list");
    wait_until("the first refusal", Duration::from_secs(30), || {
        out.exists()
    });
    cg.apply(&Resources::new().device_rules(rules(&["deny a *:* rwm", "c 1:3 rwm"])))
        .unwrap();
    let list = std::fs::read_to_string(dev.join("devices.list")).unwrap();
    assert_eq!(list.trim(), "c 1:3 rwm", "devices.list after the update");
    let st = child.wait_timeout(Duration::from_secs(30)).unwrap();
    assert!(st.is_some_and(|s| s.success()), "{st:?}");
}

#[test]
fn v2_bpf_device_program() {
    require_root!();
    let Some(base) = common::TestCgroup::new("cgdev-v2") else {
        panic!("cannot make a test cgroup");
    };
    let n = Nodes::new();
    let v2 = Some(Backend::V2);
    assert!(open_in(&base.0, v2, &[], &n.null()).success());
    let denied = open_in(
        &base.0,
        v2,
        &rules(&["deny a *:* rwm", "c 1:5 rwm"]),
        &n.null(),
    );
    assert!(!denied.success(), "{denied:?}");
    assert_eq!(denied.signal(), None, "refused, not killed: {denied:?}");
    let allowed = open_in(
        &base.0,
        v2,
        &rules(&["deny a *:* rwm", "c 1:3 rw"]),
        &n.null(),
    );
    assert!(allowed.success(), "{allowed:?}");
    // Read allowed, write not: opening read-write is refused, read-only
    // works (the access bits of the program).
    let spec = CgroupSpec::new()
        .parent(&base.0)
        .backend(Backend::V2)
        .resources(Resources::new().device_rules(rules(&["deny a *:* rwm", "c 1:3 r"])));
    let st = sh(spec, &format!("exec 3<{0} && ! (exec 4>{0})", n.null()))
        .wait()
        .unwrap();
    assert!(st.success(), "read allowed, write refused: {st:?}");
    // mknod is checked too.
    let spec = CgroupSpec::new()
        .parent(&base.0)
        .backend(Backend::V2)
        .resources(Resources::new().device_rules(rules(&["deny a *:* rwm", "c 1:3 rw"])));
    let st = sh(
        spec,
        &format!("! mknod {} c 1:3", n.0.join("made").display()),
    )
    .wait()
    .unwrap();
    assert!(st.success(), "mknod refused: {st:?}");
    assert!(!n.0.join("made").exists());

    // A live update replaces the program (one of ours attached, not two).
    let out = n.0.join("out");
    let spec = CgroupSpec::new()
        .parent(&base.0)
        .backend(Backend::V2)
        .resources(Resources::new().device_rules(rules(&["deny a *:* rwm", "c 1:5 rwm"])));
    let mut child = sh(spec, &retry_script(&n.null(), &out));
    let cg = child.cgroup().unwrap();
    assert_eq!(cg.backend(), Backend::V2);
    assert_eq!(cg.device_programs().unwrap(), 1);
    wait_until("the first refusal", Duration::from_secs(30), || {
        out.exists()
    });
    cg.apply(&Resources::new().device_rules(rules(&["deny a *:* rwm", "c 1:3 rwm"])))
        .unwrap();
    assert_eq!(cg.device_programs().unwrap(), 1, "replaced, not stacked");
    let st = child.wait_timeout(Duration::from_secs(30)).unwrap();
    assert!(st.is_some_and(|s| s.success()), "{st:?}");
}

#[test]
fn hugetlb_limit_on_the_hosts_controller() {
    require_root!();
    let h = Hierarchy::detect().unwrap();
    let on_v2 = h
        .root_controllers()
        .unwrap_or_default()
        .iter()
        .any(|c| c == "hugetlb");
    require!(
        on_v2 || h.v1_mount_of("hugetlb").is_some(),
        "no hugetlb controller"
    );
    require!(
        Path::new("/sys/kernel/mm/hugepages/hugepages-2048kB").exists(),
        "no 2 MiB huge pages"
    );
    let Some(base) = common::TestCgroup::new("cgdev-huge") else {
        panic!("cannot make a test cgroup");
    };
    let size: HugePageSize = "2MB".parse().unwrap();
    let spec = CgroupSpec::new()
        .parent(&base.0)
        .resources(Resources::new().hugetlb_limit(size, 4u64 << 20));
    let mut child = sh(spec, "exec sleep 30");
    let cg = child.cgroup().unwrap();
    let file = if on_v2 {
        "hugetlb.2MB.max"
    } else {
        "hugetlb.2MB.limit_in_bytes"
    };
    assert_eq!(cg.read(file).unwrap().trim(), "4194304");
    // An unknown size is refused before anything is made, naming it.
    let e = Container::new()
        .cgroup(
            CgroupSpec::new()
                .parent(&base.0)
                .resources(Resources::new().hugetlb_limit(HugePageSize(1 << 14), 1u64 << 20)),
        )
        .command("/bin/true")
        .spawn()
        .unwrap_err();
    assert_eq!(e.field(), Some("hugetlb_limit"), "{e}");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn net_cls_and_net_prio_are_v1_only() {
    require_root!();
    let h = Hierarchy::detect().unwrap();
    let Some(base) = common::TestCgroup::new("cgdev-net") else {
        panic!("cannot make a test cgroup");
    };
    let r = Resources::new()
        .net_cls_classid(0x10001)
        .net_prio_ifpriomap("lo", 5);
    // Forced v2: a typed error naming the setting.
    let e = Container::new()
        .cgroup(
            CgroupSpec::new()
                .parent(&base.0)
                .backend(Backend::V2)
                .resources(r.clone()),
        )
        .command("/bin/true")
        .spawn()
        .unwrap_err();
    assert!(e.to_string().contains("net_cls_classid"), "{e}");
    if h.v1_mount_of("net_cls").is_none() {
        // Not mounted here: the hybrid default names the controller.
        let e = Container::new()
            .cgroup(CgroupSpec::new().parent(&base.0).resources(r))
            .command("/bin/true")
            .spawn()
            .unwrap_err();
        assert!(e.to_string().contains("net_cls"), "{e}");
        return;
    }
    let mut child = sh(
        CgroupSpec::new().parent(&base.0).resources(r),
        "exec sleep 30",
    );
    let cg = child.cgroup().unwrap();
    assert_eq!(cg.read("net_cls.classid").unwrap().trim(), "65537");
    assert!(cg.read("net_prio.ifpriomap").unwrap().contains("lo 5"));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn blkio_docker_flags_on_v1() {
    require_root!();
    let h = Hierarchy::detect().unwrap();
    require!(
        h.v1_mount_of("blkio").is_some(),
        "no cgroup v1 blkio hierarchy"
    );
    let Some(base) = common::TestCgroup::new("cgdev-blkio") else {
        panic!("cannot make a test cgroup");
    };
    // The root disk's major:minor.
    let dev = {
        use std::os::unix::fs::MetadataExt;
        let d = std::fs::metadata("/").unwrap().dev();
        let (ma, mi) = (libc::major(d), libc::minor(d));
        // A partition's whole disk: /sys/dev/block/M:m/../dev when it is one.
        let sys = PathBuf::from(format!("/sys/dev/block/{ma}:{mi}"));
        if sys.join("partition").exists() {
            std::fs::read_to_string(sys.join("../dev"))
                .unwrap()
                .trim()
                .to_string()
        } else {
            format!("{ma}:{mi}")
        }
    };
    let mut r = Resources::new();
    for (flag, value) in [
        ("--device-read-bps", format!("{dev} 1048576")),
        ("--device-write-bps", format!("{dev} 2097152")),
        ("--device-read-iops", format!("{dev} 100")),
        ("--device-write-iops", format!("{dev} 200")),
    ] {
        r = r.docker_flag(flag, &value).unwrap();
    }
    let mut child = sh(
        CgroupSpec::new().parent(&base.0).resources(r),
        "exec sleep 30",
    );
    let cg = child.cgroup().unwrap();
    let blk = cg.v1_path("blkio").unwrap();
    for (file, want) in [
        ("blkio.throttle.read_bps_device", "1048576"),
        ("blkio.throttle.write_bps_device", "2097152"),
        ("blkio.throttle.read_iops_device", "100"),
        ("blkio.throttle.write_iops_device", "200"),
    ] {
        let got = std::fs::read_to_string(blk.join(file)).unwrap();
        assert_eq!(got.trim(), format!("{dev} {want}"), "{file}");
    }
    // Weights: a file exists only with a weight-aware scheduler (CFQ's
    // blkio.weight, BFQ's blkio.bfq.weight); without one the write is
    // refused naming the file, never silently dropped.
    let weighted = ["blkio.weight", "blkio.bfq.weight"]
        .iter()
        .any(|f| blk.join(f).exists());
    let w = cg.apply(&Resources::new().blkio_weight(300));
    if weighted {
        w.unwrap();
        let f = ["blkio.weight", "blkio.bfq.weight"]
            .iter()
            .map(|f| blk.join(f))
            .find(|f| f.exists())
            .unwrap();
        let got = std::fs::read_to_string(&f).unwrap();
        assert!(got.split_whitespace().any(|x| x == "300"), "{f:?}: {got}");
    } else {
        let e = w.unwrap_err();
        assert!(matches!(&e, Error::Write { .. }), "{e}");
    }
    // Per device: only when that device's scheduler weighs (bfq); else
    // the kernel refuses (EOPNOTSUPP) and the error says why.
    let sched = std::fs::read_to_string(format!("/sys/dev/block/{dev}/queue/scheduler"))
        .unwrap_or_default();
    let wd = cg.apply(
        &Resources::new()
            .docker_flag("--blkio-weight-device", &format!("{dev} 400"))
            .unwrap(),
    );
    if sched.contains("[bfq]") {
        wd.unwrap();
    } else {
        match wd.unwrap_err() {
            Error::Write { source, hint, .. } => {
                assert_eq!(source.raw_os_error(), Some(libc::EOPNOTSUPP));
                assert!(hint.is_some_and(|h| h.contains("scheduler")));
            }
            e => panic!("{e}"),
        }
    }
    eprintln!("blkio weight files here: {weighted}");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// `docker exec` into a container with device rules: the new process
/// joins the container's v1 devices cgroup too, so a denied device stays
/// denied (it would otherwise run under the host's allow-all root).
#[test]
fn exec_into_a_container_keeps_its_device_rules() {
    require_root!();
    let h = Hierarchy::detect().unwrap();
    require!(
        h.v1_mount_of("devices").is_some(),
        "no cgroup v1 devices hierarchy"
    );
    let Some(base) = common::TestCgroup::new("cgdev-exec") else {
        panic!("cannot make a test cgroup");
    };
    let n = Nodes::new();
    let ns = containment::Namespaces::MOUNT | containment::Namespaces::PID;
    let target = Container::new()
        .unshare(ns)
        .cgroup(
            CgroupSpec::new()
                .parent(&base.0)
                .resources(Resources::new().device_rules(rules(&["deny a *:* rwm", "c 1:5 rwm"]))),
        )
        .command("/bin/sleep")
        .args(["30"])
        .spawn()
        .unwrap();
    let st = Container::new()
        .join_child(&target, ns)
        .command("/bin/sh")
        .args(["-c", &format!("exec 3<>{}", n.null())])
        .spawn()
        .unwrap()
        .wait()
        .unwrap();
    assert!(
        !st.success(),
        "the exec'd process opened a denied device: {st:?}"
    );
    target.kill().unwrap();
}

#[test]
fn v1_device_update_writes_the_difference_and_keeps_sub_cgroups() {
    // A container with cgroups of its own below its devices directory
    // (systemd or docker inside): the kernel refuses a reset (`a` to
    // devices.allow or devices.deny) of a cgroup with children (EINVAL),
    // and a reset would also take every exception away from them. An
    // update from a default of deny to a default of deny writes only the
    // difference: it succeeds, the sub-cgroup keeps what stays allowed and
    // loses what went (the kernel propagates removals).
    require_root!();
    let h = Hierarchy::detect().unwrap();
    require!(
        h.v1_mount_of("devices").is_some(),
        "no cgroup v1 devices hierarchy"
    );
    let Some(base) = common::TestCgroup::new("cgdev-delta") else {
        panic!("cannot make a test cgroup");
    };
    let spec =
        CgroupSpec::new()
            .parent(&base.0)
            .resources(Resources::new().device_rules(rules(&[
                "deny a *:* rwm",
                "c 1:3 rwm",
                "c 1:5 rwm",
            ])));
    let mut child = sh(spec, "exec sleep 30");
    let cg = child.cgroup().unwrap();
    let dev = cg.v1_path("devices").expect("a v1 devices directory");
    let sub = dev.join("inner");
    std::fs::create_dir(&sub).unwrap();
    let list = |d: &Path| std::fs::read_to_string(d.join("devices.list")).unwrap();
    assert_eq!(list(&sub), "c 1:3 rwm\nc 1:5 rwm\n", "inherited");
    let r = cg.apply(&Resources::new().device_rules(rules(&[
        "deny a *:* rwm",
        "c 1:3 rwm",
        "c 1:8 r",
    ])));
    let (now, inner) = (list(&dev), list(&sub));
    let _ = std::fs::remove_dir(&sub);
    r.unwrap();
    assert_eq!(now, "c 1:3 rwm\nc 1:8 r\n", "the container's list");
    assert_eq!(inner, "c 1:3 rwm\n", "the sub-cgroup's list");
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn v1_default_allow_update_leaves_a_frozen_container_frozen() {
    // Writing a default-allow list allows every device between its first
    // write and its deny exceptions: the tasks are frozen around it. A
    // container its owner froze stays frozen; a running one runs again;
    // the end state is what was asked.
    require_root!();
    let h = Hierarchy::detect().unwrap();
    require!(
        h.v1_mount_of("devices").is_some() && h.v1_mount_of("freezer").is_some(),
        "no cgroup v1 devices and freezer hierarchies"
    );
    let Some(base) = common::TestCgroup::new("cgdev-allow") else {
        panic!("cannot make a test cgroup");
    };
    let n = Nodes::new();
    for backend in [Backend::V1, Backend::Hybrid] {
        let spec = CgroupSpec::new()
            .parent(&base.0)
            .backend(backend)
            .resources(Resources::new().device_rules(rules(&["deny a *:* rwm", "c 1:3 rw"])));
        let child = sh(spec, "exec sleep 30");
        let cg = child.cgroup().unwrap();
        let dev = cg.v1_path("devices").expect("a v1 devices directory");
        cg.apply(&Resources::new().device_rules(rules(&["deny c 1:3 w"])))
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(dev.join("devices.list")).unwrap(),
            "a *:* rwm\n",
            "{backend:?}: a default of allow"
        );
        assert_eq!(cg.procs().unwrap(), [child.id()], "{backend:?}");
        let frozen = |cg: &containment::cgroup::Cgroup| match cg.freezer_state().unwrap() {
            Some(st) => st == containment::cgroup::FreezerState::Frozen,
            None => cg.read("cgroup.freeze").unwrap().trim() == "1",
        };
        assert!(!frozen(cg), "{backend:?}: running again");
        cg.freeze().unwrap();
        cg.apply(&Resources::new().device_rules(rules(&["deny c 1:5 w"])))
            .unwrap();
        assert!(frozen(cg), "{backend:?}: the owner's freeze is kept");
        cg.thaw().unwrap();
        // The deny exception is in force: 1:3 opens for writing again,
        // 1:5 (another node) is not tried; the rule of the first update
        // is gone.
        drop(child);
        let st = open_in(&base.0, Some(backend), &rules(&["deny c 1:3 w"]), &n.null());
        assert!(!st.success(), "{backend:?}: {st:?}");
    }
}
