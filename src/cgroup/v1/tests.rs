//! The v1 backend's file formats against temporary directories (no root).

use super::super::{Backend, Cgroup, Error, Hierarchy, HostInfo, HugePageSize, Resources};
use super::writes::{verify, writes};
use super::*;
use std::fs;

struct Tmp(PathBuf);

impl Tmp {
    fn new(tag: &str) -> Tmp {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let p = std::env::temp_dir().join(format!(
            "cg-v1-unit-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        fs::create_dir_all(&p).unwrap();
        Tmp(p)
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn host(t: &Tmp) -> HostInfo {
    let sys = t.0.join("sys");
    fs::create_dir_all(sys.join("devices/system/cpu")).unwrap();
    fs::create_dir_all(sys.join("dev/block/8:0")).unwrap();
    fs::write(sys.join("devices/system/cpu/online"), "0-3\n").unwrap();
    HostInfo::from_sys(sys).unwrap()
}

/// Fake v1 mounts: each root holds `cgroup.procs` and, for cpuset, its
/// lists. New directories on tmpfs are empty, unlike cgroupfs: files the
/// code reads or writes are created by `fill`.
fn mounts(t: &Tmp) -> Hierarchy {
    let m = |n: &str| t.0.join(n);
    for n in [
        "cpuset",
        "cpu,cpuacct",
        "memory",
        "pids",
        "freezer",
        "blkio",
    ] {
        fs::create_dir_all(m(n)).unwrap();
        fs::write(m(n).join("cgroup.procs"), "").unwrap();
    }
    fs::write(m("cpuset").join("cpuset.cpus"), "0-3\n").unwrap();
    fs::write(m("cpuset").join("cpuset.mems"), "0\n").unwrap();
    Hierarchy::v1_at(
        None,
        &[
            (&["cpuset"][..], m("cpuset")),
            (&["cpu", "cpuacct"], m("cpu,cpuacct")),
            (&["memory"], m("memory")),
            (&["pids"], m("pids")),
            (&["freezer"], m("freezer")),
            (&["blkio"], m("blkio")),
        ],
    )
}

#[test]
fn every_docker_row_maps_to_its_v1_file() {
    let r = Resources::new()
        .docker_flag("-m", "256m")
        .unwrap()
        .docker_flag("--memory-swap", "384m")
        .unwrap()
        .docker_flag("--memory-reservation", "128m")
        .unwrap()
        .docker_flag("--kernel-memory", "64m")
        .unwrap()
        .docker_flag("--memory-swappiness", "10")
        .unwrap()
        .docker_flag("--oom-kill-disable", "true")
        .unwrap()
        .docker_flag("--cpu-shares", "512")
        .unwrap()
        .docker_flag("--cpus", "1.5")
        .unwrap()
        .docker_flag("--cpu-rt-period", "1000000")
        .unwrap()
        .docker_flag("--cpu-rt-runtime", "10000")
        .unwrap()
        .docker_flag("--cpuset-cpus", "0-1")
        .unwrap()
        .docker_flag("--cpuset-mems", "0")
        .unwrap()
        .docker_flag("--pids-limit", "64")
        .unwrap()
        .docker_flag("--blkio-weight", "500")
        .unwrap()
        .docker_flag("--blkio-weight-device", "8:0 300")
        .unwrap()
        .docker_flag("--device-read-bps", "8:0 1mb")
        .unwrap()
        .docker_flag("--device-write-iops", "8:0 100")
        .unwrap();
    let w: Vec<(&str, &str)> = writes(&r)
        .iter()
        .map(|w| (w.files[0], w.value.as_str()))
        .collect::<Vec<_>>()
        .into_iter()
        .map(|(f, v)| (f, Box::leak(v.to_string().into_boxed_str()) as &str))
        .collect();
    assert_eq!(
        w,
        [
            ("cpuset.cpus", "0-1"),
            ("cpuset.mems", "0"),
            ("cpu.shares", "512"),
            ("cpu.cfs_period_us", "100000"),
            ("cpu.cfs_quota_us", "150000"),
            ("cpu.rt_period_us", "1000000"),
            ("cpu.rt_runtime_us", "10000"),
            ("blkio.weight", "500"),
            ("blkio.weight_device", "8:0 300"),
            ("blkio.throttle.read_bps_device", "8:0 1048576"),
            ("blkio.throttle.write_iops_device", "8:0 100"),
            ("memory.soft_limit_in_bytes", "134217728"),
            ("memory.limit_in_bytes", "268435456"),
            ("memory.memsw.limit_in_bytes", "402653184"),
            ("memory.kmem.limit_in_bytes", "67108864"),
            ("memory.swappiness", "10"),
            ("memory.oom_control", "1"),
            ("pids.max", "64"),
        ]
    );
    // Unlimited is -1 in v1 (max for pids), a weight converts back to shares.
    let r = Resources::new()
        .memory_max(MemoryLimitMax)
        .cpu_quota(-1)
        .cpu_weight(100)
        .pids_max(crate::cgroup::PidsLimit::Max);
    let w = writes(&r);
    let v: Vec<&str> = w.iter().map(|w| w.value.as_str()).collect();
    assert_eq!(v, ["1024", "100000", "-1", "-1", "max"]);
}

#[test]
fn weight_and_shares_round_trip() {
    use super::writes::weight_to_shares;
    use crate::cgroup::resources::shares_to_weight;
    assert_eq!(weight_to_shares(100), 1024);
    assert_eq!(weight_to_shares(1), 2);
    assert_eq!(weight_to_shares(10_000), 262_144);
    for w in [1, 2, 50, 100, 500, 1000, 5000, 9999, 10_000] {
        assert_eq!(shares_to_weight(weight_to_shares(w)), w, "weight {w}");
    }
}

#[allow(non_upper_case_globals)]
const MemoryLimitMax: crate::cgroup::MemoryLimit = crate::cgroup::MemoryLimit::Max;

#[test]
fn v1_cgroup_dirs_cpuset_init_routing_and_apply() {
    let t = Tmp::new("create");
    let h = mounts(&t);
    let cg = Cgroup::create_with(&h, Backend::V1, Some(Path::new("par/sub")), "web").unwrap();
    assert_eq!(cg.backend(), Backend::V1);
    // The freezer's directory is the main one; one per hierarchy.
    assert_eq!(cg.path(), t.0.join("freezer/par/sub/web"));
    assert_eq!(
        cg.v1_path("cpuacct").unwrap(),
        t.0.join("cpu,cpuacct/par/sub/web")
    );
    assert_eq!(cg.v1_path("cpu"), cg.v1_path("cpuacct"));
    // cpuset lists copied down every new level.
    for d in ["par", "par/sub", "par/sub/web"] {
        let d = t.0.join("cpuset").join(d);
        assert_eq!(fs::read_to_string(d.join("cpuset.cpus")).unwrap(), "0-3");
        assert_eq!(fs::read_to_string(d.join("cpuset.mems")).unwrap(), "0");
    }
    // Files are routed to their controller's directory.
    let lim = t.0.join("memory/par/sub/web/memory.limit_in_bytes");
    fs::write(&lim, "").unwrap();
    cg.write("memory.limit_in_bytes", "1").unwrap();
    assert_eq!(fs::read_to_string(&lim).unwrap(), "1");
    assert_eq!(cg.read("memory.limit_in_bytes").unwrap(), "1");
    // apply writes each file where it lives (and reads back the checked ones).
    let r = Resources::new()
        .memory_max(64u64 << 20)
        .pids_max(16)
        .cpus(0.5)
        .cpuset_cpus("1".parse().unwrap());
    cg.apply_with_host(&r, &host(&t)).unwrap();
    let read = |p: &str| fs::read_to_string(t.0.join(p)).unwrap();
    assert_eq!(read("memory/par/sub/web/memory.limit_in_bytes"), "67108864");
    assert_eq!(read("pids/par/sub/web/pids.max"), "16");
    assert_eq!(read("cpu,cpuacct/par/sub/web/cpu.cfs_quota_us"), "50000");
    assert_eq!(read("cpuset/par/sub/web/cpuset.cpus"), "1");
    // attach writes the pid into every directory.
    cg.attach(4242).unwrap();
    for d in [
        "cpuset",
        "cpu,cpuacct",
        "memory",
        "pids",
        "freezer",
        "blkio",
    ] {
        assert_eq!(read(&format!("{d}/par/sub/web/cgroup.procs")), "4242");
    }
    // The same name again is an error naming the directory.
    assert!(matches!(
        Cgroup::create_with(&h, Backend::V1, Some(Path::new("par/sub")), "web"),
        Err(Error::Io { op: "mkdir", .. })
    ));
    // v2-only settings have no v1 file.
    match cg.apply_with_host(&Resources::new().memory_high(64u64 << 20), &host(&t)) {
        Err(Error::NoV1Equivalent { setting, .. }) => assert_eq!(setting, "memory_high"),
        other => panic!("{other:?}"),
    }
    // An absolute parent inside any hierarchy names the same relative path
    // in all of them.
    let abs = Cgroup::create_with(&h, Backend::V1, Some(&t.0.join("memory/abs")), "x").unwrap();
    assert_eq!(abs.path(), t.0.join("freezer/abs/x"));
    assert_eq!(abs.v1_path("pids").unwrap(), t.0.join("pids/abs/x"));
    assert!(matches!(
        Cgroup::create_with(&h, Backend::V1, Some(Path::new("/etc")), "y"),
        Err(Error::NotInHierarchy { .. })
    ));
    // A parent climbing out is refused.
    assert!(matches!(
        Cgroup::create_with(&h, Backend::V1, Some(Path::new("../x")), "y"),
        Err(Error::NotInHierarchy { .. })
    ));
}

#[test]
fn hybrid_adds_a_v1_directory_when_a_limit_needs_it() {
    let t = Tmp::new("hybrid");
    let unified = t.0.join("unified");
    fs::create_dir_all(&unified).unwrap();
    for (f, v) in [
        ("cgroup.controllers", "hugetlb\n"),
        ("cgroup.subtree_control", ""),
        ("cgroup.procs", ""),
        ("cgroup.events", "populated 0\nfrozen 0\n"),
    ] {
        fs::write(unified.join(f), v).unwrap();
    }
    let mem = t.0.join("memory");
    fs::create_dir_all(&mem).unwrap();
    let h = Hierarchy::v1_at(Some(unified.clone()), &[(&["memory"][..], mem.clone())]);
    let cg = Cgroup::create_in(&h, None, "web").unwrap();
    assert_eq!(cg.backend(), Backend::Hybrid);
    assert_eq!(cg.path(), unified.join("containment/web"));
    assert!(cg.v1_path("memory").is_none());
    fs::write(cg.path().join("cgroup.procs"), "").unwrap();
    fs::write(cg.path().join("cgroup.controllers"), "").unwrap();
    fs::write(cg.path().join("cgroup.events"), "populated 0\nfrozen 0\n").unwrap();
    cg.apply_with_host(
        &Resources::new()
            .memory_max(64u64 << 20)
            .oom_kill_disable(true),
        &host(&t),
    )
    .unwrap_err(); // the fake oom_control does not read back "oom_kill_disable 1"
    assert_eq!(cg.v1_path("memory").unwrap(), mem.join("containment/web"));
    assert_eq!(
        fs::read_to_string(mem.join("containment/web/memory.limit_in_bytes")).unwrap(),
        "67108864"
    );
    // pids is bound nowhere here.
    assert!(matches!(
        cg.apply_with_host(&Resources::new().pids_max(5), &host(&t)),
        Err(Error::ControllerUnavailable { .. })
    ));
    // On a forced v2 cgroup the v1-only flags are typed errors.
    let v2 = Cgroup::create_with(&h, Backend::V2, None, "v2").unwrap();
    match v2.apply_with_host(&Resources::new().memory_swappiness(5), &host(&t)) {
        Err(Error::NoV2Equivalent { flag, .. }) => assert_eq!(flag, "--memory-swappiness"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn read_back_catches_an_ignored_kmem_limit() {
    let t = Tmp::new("verify");
    let f = t.0.join("memory.kmem.limit_in_bytes");
    // What 6.18 does: the write succeeds, the old value stays.
    fs::write(&f, "9223372036854771712\n").unwrap();
    match verify(&f, "67108864") {
        Err(Error::Write { value, .. }) => assert_eq!(value, "67108864"),
        other => panic!("{other:?}"),
    }
    fs::write(&f, "67108864\n").unwrap();
    verify(&f, "67108864").unwrap();
    // Page rounding and -1.
    let m = t.0.join("memory.limit_in_bytes");
    fs::write(&m, "4096\n").unwrap();
    verify(&m, "5000").unwrap();
    fs::write(&m, "9223372036854771712\n").unwrap();
    verify(&m, "-1").unwrap();
    let o = t.0.join("memory.oom_control");
    fs::write(&o, "oom_kill_disable 1\nunder_oom 0\noom_kill 0\n").unwrap();
    verify(&o, "1").unwrap();
    assert!(verify(&o, "0").is_err());
    // Unchecked formats pass.
    verify(&t.0.join("pids.max"), "max").unwrap();
}

#[test]
fn parses_oom_control_and_blkio() {
    let o = parse_oom_control("oom_kill_disable 1\nunder_oom 1\noom_kill 3\n");
    assert!(o.oom_kill_disable && o.under_oom);
    assert_eq!(o.oom_kill, 3);
    let b = stats::parse_blkio(
        "254:0 Read 4096\n254:0 Write 8192\n254:0 Sync 0\n254:0 Discard 1\n253:0 Read 1\nTotal 12288\n",
    );
    assert_eq!(b.len(), 2);
    assert_eq!(b[0].0.to_string(), "254:0");
    assert_eq!((b[0].1, b[0].2, b[0].3), (4096, 8192, 1));
    assert_eq!(b[1].1, 1);
}

#[test]
fn net_cls_net_prio_and_hugetlb_on_v1() {
    // Not mounted on the project's machine: their files on a fake
    // hierarchy (net_cls and net_prio co-mounted, as distributions do).
    let t = Tmp::new("net");
    let net = t.0.join("net_cls,net_prio");
    let huge = t.0.join("hugetlb");
    let freezer = t.0.join("freezer");
    for d in [&net, &huge, &freezer] {
        fs::create_dir_all(d).unwrap();
        fs::write(d.join("cgroup.procs"), "").unwrap();
    }
    let h = Hierarchy::v1_at(
        None,
        &[
            (&["net_cls", "net_prio"][..], net.clone()),
            (&["hugetlb"], huge.clone()),
            (&["freezer"], freezer.clone()),
        ],
    );
    let host = host(&t);
    fs::create_dir_all(host.sys.join("kernel/mm/hugepages/hugepages-2048kB")).unwrap();
    let cg = Cgroup::create_in(&h, None, "web").unwrap();
    assert_eq!(cg.backend(), Backend::V1);
    let r = Resources::new()
        .net_cls_classid(0x0010_0001)
        .net_prio_ifpriomap("eth0", 5)
        .hugetlb_limit("2MB".parse().unwrap(), 8u64 << 20);
    assert_eq!(
        writes(&r)
            .iter()
            .map(|w| (w.files[0], w.value.as_str()))
            .collect::<Vec<_>>(),
        vec![
            ("hugetlb.2MB.limit_in_bytes", "8388608"),
            ("net_cls.classid", "1048577"),
            ("net_prio.ifpriomap", "eth0 5"),
        ]
    );
    cg.apply_with_host(&r, &host).unwrap();
    let dir = net.join("containment/web");
    assert_eq!(
        fs::read_to_string(dir.join("net_cls.classid")).unwrap(),
        "1048577"
    );
    assert_eq!(
        fs::read_to_string(dir.join("net_prio.ifpriomap")).unwrap(),
        "eth0 5"
    );
    assert_eq!(
        fs::read_to_string(huge.join("containment/web/hugetlb.2MB.limit_in_bytes")).unwrap(),
        "8388608"
    );
    // A size the host lacks, a bad interface name: refused naming the field.
    for (r, field) in [
        (
            Resources::new().hugetlb_limit("1GB".parse().unwrap(), 1u64 << 30),
            "hugetlb_limit",
        ),
        (
            Resources::new().net_prio_ifpriomap("a b", 1),
            "net_prio_ifpriomap",
        ),
    ] {
        assert_eq!(
            cg.apply_with_host(&r, &host).unwrap_err().field(),
            Some(field)
        );
    }
    assert!("3MB".parse::<HugePageSize>().is_err());
    assert_eq!("1GB".parse::<HugePageSize>().unwrap().to_string(), "1GB");
    assert_eq!("64KB".parse::<HugePageSize>().unwrap().to_string(), "64KB");
}

#[test]
fn kernel_tcp_memory_is_the_v1_tcp_limit_and_read_back() {
    // OCI memory.kernelTCP: memory.kmem.tcp.limit_in_bytes (-1 unlimited),
    // v1 only, checked after the write like the other memory limits.
    let r = Resources::new().kernel_tcp_memory(48u64 << 20);
    let w: Vec<(&str, String)> = writes(&r)
        .iter()
        .map(|w| (w.files[0], w.value.clone()))
        .collect();
    assert_eq!(
        w,
        [("memory.kmem.tcp.limit_in_bytes", (48u64 << 20).to_string())]
    );
    assert_eq!(r.controllers(), ["memory"]);
    let v1: Vec<&str> = r.v1_only().iter().map(|x| x.0).collect();
    assert_eq!(v1, ["kernel_tcp_memory"]);
    let r = Resources::new().kernel_tcp_memory(crate::cgroup::MemoryLimit::Max);
    assert_eq!(writes(&r)[0].value, "-1");
    let t = Tmp::new("kmemtcp");
    let f = t.0.join("memory.kmem.tcp.limit_in_bytes");
    fs::write(&f, "9223372036854771712\n").unwrap();
    assert!(verify(&f, "50331648").is_err());
    fs::write(&f, "50331648\n").unwrap();
    verify(&f, "50331648").unwrap();
}
