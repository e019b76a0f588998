//! Names, slice paths and properties (no systemd, no root; the bus side is
//! covered by tests/systemd_mock.rs against a mock manager).

use super::*;
use crate::cgroup::{IoLimit, IoLimitKind, Resources};

#[test]
fn unit_names_follow_docker() {
    assert_eq!(
        unit_name("docker", "abc123").unwrap(),
        "docker-abc123.scope"
    );
    assert_eq!(
        unit_name("containment", "web_1.a:b").unwrap(),
        "containment-web_1.a:b.scope"
    );
    for (prefix, name) in [
        ("docker", ""),
        ("", "x"),
        ("docker", "a/b"),
        ("docker", "a b"),
        ("docker", "é"),
        ("docker", "a\nb"),
    ] {
        let e = unit_name(prefix, name).unwrap_err();
        assert_eq!(e.field(), Some("systemd unit"), "{prefix:?} {name:?}");
    }
    assert!(unit_name("p", &"x".repeat(250)).is_err());
}

#[test]
fn slices_expand_to_their_cgroup_path() {
    assert_eq!(
        slice_path("system.slice").unwrap(),
        PathBuf::from("system.slice")
    );
    assert_eq!(
        slice_path("a-b-c.slice").unwrap(),
        PathBuf::from("a.slice/a-b.slice/a-b-c.slice")
    );
    assert_eq!(slice_path("-.slice").unwrap(), PathBuf::new());
    assert_eq!(
        slice_path("user-1000.slice").unwrap(),
        PathBuf::from("user.slice/user-1000.slice")
    );
    for bad in [
        "system",
        "a--b.slice",
        "-a.slice",
        "a-.slice",
        "a/b.slice",
        "../x.slice",
        ".slice",
        "a.b.slice",
        "x.scope",
    ] {
        assert_eq!(slice_path(bad).unwrap_err().field(), Some("slice"), "{bad}");
    }
}

fn prop<'a>(p: &'a [(&'static str, PropValue)], name: &str) -> Option<&'a PropValue> {
    p.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
}

#[test]
fn limits_become_properties_and_the_rest_file_writes() {
    let r = Resources::new()
        .memory_max(256u64 << 20)
        .memory_reservation(64u64 << 20)
        .memory_high(200u64 << 20)
        .pids_max(64)
        .cpus(1.5)
        .cpu_weight(200)
        .cpuset_cpus("0,9".parse().unwrap())
        .cpuset_mems("0".parse().unwrap())
        .blkio_weight(500)
        .io_limit(IoLimit {
            device: "8:0".parse().unwrap(),
            kind: IoLimitKind::ReadBps,
            per_second: 1 << 20,
        });
    let (p, rest) = properties(&r);
    assert_eq!(prop(&p, "MemoryMax"), Some(&PropValue::U64(256 << 20)));
    assert_eq!(prop(&p, "MemoryLow"), Some(&PropValue::U64(64 << 20)));
    assert_eq!(prop(&p, "MemoryHigh"), Some(&PropValue::U64(200 << 20)));
    assert_eq!(prop(&p, "TasksMax"), Some(&PropValue::U64(64)));
    // 1.5 CPUs: 150000 µs per 100000 µs period, 1.5 s per second.
    assert_eq!(
        prop(&p, "CPUQuotaPerSecUSec"),
        Some(&PropValue::U64(1_500_000))
    );
    assert_eq!(
        prop(&p, "CPUQuotaPeriodUSec"),
        Some(&PropValue::U64(100_000))
    );
    assert_eq!(prop(&p, "CPUWeight"), Some(&PropValue::U64(200)));
    // CPUs 0 and 9: bits 0 of byte 0 and 1 of byte 1.
    assert_eq!(
        prop(&p, "AllowedCPUs"),
        Some(&PropValue::Bytes(vec![0x01, 0x02]))
    );
    assert_eq!(
        prop(&p, "AllowedMemoryNodes"),
        Some(&PropValue::Bytes(vec![0x01]))
    );
    assert!(matches!(prop(&p, "IOWeight"), Some(PropValue::U64(_))));
    for a in [
        "MemoryAccounting",
        "CPUAccounting",
        "TasksAccounting",
        "IOAccounting",
    ] {
        assert_eq!(prop(&p, a), Some(&PropValue::Bool(true)), "{a}");
    }
    // io.max has no property here: written into the delegated cgroup.
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert_eq!(rest[0].file, "io.max");
    assert_eq!(rest[0].value, "8:0 rbps=1048576");
}

#[test]
fn unlimited_values_are_infinity() {
    let r = Resources::new()
        .memory_max(crate::cgroup::MemoryLimit::Max)
        .pids_max(crate::cgroup::PidsLimit::Max);
    let (p, rest) = properties(&r);
    assert_eq!(prop(&p, "MemoryMax"), Some(&PropValue::U64(u64::MAX)));
    assert_eq!(prop(&p, "TasksMax"), Some(&PropValue::U64(u64::MAX)));
    assert!(rest.is_empty());
    let (p, rest) = properties(&Resources::new());
    assert!(p.is_empty() && rest.is_empty());
}

#[test]
fn the_user_manager_defaults_to_user_slice() {
    assert_eq!(SystemdOptions::new().default_slice(), "system.slice");
    assert_eq!(
        SystemdOptions::new().manager(Manager::User).default_slice(),
        "user.slice"
    );
}
