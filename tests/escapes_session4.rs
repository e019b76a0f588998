//! Attacks on the changes of the 2026-11-30 session (brk4): cgroup v1
//! device rule updates (the difference, the freeze around a default-allow
//! rewrite) on this host's real controllers, and the image unpacker's
//! chunked file writes. Every cgroup lives under a test cgroup removed on
//! drop.

#[macro_use]
mod common;

use containment::cgroup::{Backend, Cgroup, CgroupSpec, DeviceRule, Hierarchy, Resources};
use containment::{Child, Container, Namespaces};

fn rules(list: &[&str]) -> Vec<DeviceRule> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

fn sh(c: Container, spec: CgroupSpec, cmd: &str) -> Child {
    c.cgroup(spec)
        .command("/bin/sh")
        .args(["-c", cmd])
        .spawn()
        .unwrap()
}

/// Whether the owner's freeze is in force, read the way `freeze` writes it
/// (the cgroup2 `cgroup.freeze` unless the cgroup is a v1 one).
fn frozen_v2(cg: &Cgroup) -> bool {
    cg.read("cgroup.freeze").unwrap().trim() == "1"
}

#[test]
fn hybrid_cgroupns_default_allow_update_keeps_the_owners_freeze() {
    // A hybrid cgroup with a new cgroup namespace gets a directory in
    // every v1 hierarchy, the freezer's too, while freeze/thaw use the
    // cgroup2's `cgroup.freeze`. A default-allow device update asked
    // the (never used) v1 freezer whether the owner had frozen the
    // container: THAWED, so it thawed the paused container after its
    // writes.
    require_root!();
    let h = Hierarchy::detect().unwrap();
    require!(
        h.mount_point().is_some()
            && h.v1_mount_of("devices").is_some()
            && h.v1_mount_of("freezer").is_some(),
        "no hybrid host with v1 devices and freezer hierarchies"
    );
    let Some(base) = common::TestCgroup::new("brk4-frz") else {
        panic!("cannot make a test cgroup");
    };
    let spec = CgroupSpec::new()
        .parent(&base.0)
        .backend(Backend::Hybrid)
        .resources(Resources::new().device_rules(rules(&["deny a *:* rwm", "c 1:3 rw"])));
    let mut child = sh(
        Container::new().unshare(Namespaces::CGROUP),
        spec,
        "exec sleep 30",
    );
    let cg = child.cgroup().unwrap();
    assert!(cg.v1_path("freezer").is_some(), "a v1 freezer directory");
    cg.freeze().unwrap();
    assert!(frozen_v2(cg));
    let r = cg.apply(&Resources::new().device_rules(rules(&["deny c 1:5 w"])));
    let still = frozen_v2(cg);
    let _ = cg.thaw();
    child.kill().unwrap();
    child.wait().unwrap();
    r.unwrap();
    assert!(still, "the owner's freeze was undone by a device update");
}

#[test]
fn hybrid_update_adding_a_v1_directory_keeps_the_owners_freeze() {
    // A hybrid cgroup without device rules has no v1 devices directory:
    // an update with rules makes one and moves the tasks into it with the
    // cgroup frozen, then thawed it even when its owner had paused it.
    require_root!();
    let h = Hierarchy::detect().unwrap();
    require!(
        h.mount_point().is_some() && h.v1_mount_of("devices").is_some(),
        "no hybrid host with a v1 devices hierarchy"
    );
    let Some(base) = common::TestCgroup::new("brk4-mv") else {
        panic!("cannot make a test cgroup");
    };
    let spec = CgroupSpec::new().parent(&base.0).backend(Backend::Hybrid);
    let mut child = sh(Container::new(), spec, "exec sleep 30");
    let cg = child.cgroup().unwrap();
    assert!(
        cg.v1_path("devices").is_none(),
        "no v1 devices directory yet"
    );
    cg.freeze().unwrap();
    let r = cg.apply(&Resources::new().device_rules(rules(&["deny a *:* rwm", "c 1:3 rw"])));
    let still = frozen_v2(cg);
    let dev = cg.v1_path("devices");
    let _ = cg.thaw();
    child.kill().unwrap();
    child.wait().unwrap();
    r.unwrap();
    assert!(dev.is_some(), "a v1 devices directory made");
    assert!(still, "the owner's freeze was undone by an update");
}

/// A small deterministic generator (xorshift), so that a failure repeats.
struct Rng(u64);

impl Rng {
    fn next(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.next(v.len() as u64) as usize]
    }

    /// A random rule list over a few numbers, wildcards and partial
    /// accesses; starting with a deny-all rule or not.
    fn rules(&mut self) -> Vec<String> {
        let mut v = Vec::new();
        match self.next(3) {
            0 => v.push("deny a *:* rwm".to_string()),
            1 => v.push("a *:* rwm".to_string()),
            _ => {}
        }
        for _ in 0..self.next(6) {
            let deny = if self.next(3) == 0 { "deny " } else { "" };
            let kind = self.pick(&["c", "c", "b", "a"]);
            let major = self.pick(&["1", "5", "*"]);
            let minor = self.pick(&["3", "5", "*"]);
            let access = self.pick(&["r", "w", "m", "rw", "rm", "wm", "rwm"]);
            v.push(format!("{deny}{kind} {major}:{minor} {access}"));
        }
        v
    }
}

fn sorted_list(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_to_string(dir.join("devices.list"))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

#[test]
fn v1_device_updates_end_where_a_fresh_cgroup_starts() {
    // Property test on the real kernel: for random rule lists A and B, a
    // v1 cgroup given A then updated to B lists exactly what a fresh
    // cgroup given B lists (the difference path from deny to deny, the
    // reset path otherwise); a sub-cgroup made after A (a container's
    // own) never lists more than its parent after the update.
    require_root!();
    let h = Hierarchy::detect().unwrap();
    require!(
        h.v1_mount_of("devices").is_some(),
        "no cgroup v1 devices hierarchy"
    );
    let Some(base) = common::TestCgroup::new("brk4-prop") else {
        panic!("cannot make a test cgroup");
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let res = |r: &[String]| {
        Resources::new().device_rules(r.iter().map(|s| s.parse::<DeviceRule>().unwrap()))
    };
    let rounds: u32 = std::env::var("BRK4_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150);
    let (mut same, mut refused, mut with_sub) = (0, 0, 0);
    for i in 0..rounds {
        let (a, b) = (rng.rules(), rng.rules());
        if b.is_empty() {
            continue;
        }
        let sub_too = rng.next(2) == 0;
        let upd = Cgroup::create_with(&h, Backend::V1, Some(&base.0), &format!("u{i}")).unwrap();
        let fresh = Cgroup::create_with(&h, Backend::V1, Some(&base.0), &format!("f{i}")).unwrap();
        // The default state of a new devices directory, when A is empty.
        let a = if a.is_empty() {
            vec!["a *:* rwm".to_string()]
        } else {
            a
        };
        upd.apply(&res(&a)).unwrap();
        let ud = upd.v1_path("devices").unwrap();
        let sub = ud.join("inner");
        if sub_too {
            std::fs::create_dir(&sub).unwrap();
        }
        let r = upd.apply(&res(&b));
        fresh.apply(&res(&b)).unwrap();
        let fd = fresh.v1_path("devices").unwrap();
        let (got, want) = (sorted_list(&ud), sorted_list(&fd));
        let inner = sub_too.then(|| sorted_list(&sub));
        if sub_too {
            std::fs::remove_dir(&sub).unwrap();
        }
        upd.remove().unwrap();
        fresh.remove().unwrap();
        match r {
            Ok(()) => {
                same += 1;
                with_sub += u32::from(inner.is_some());
                assert_eq!(got, want, "A={a:?} B={b:?} sub={sub_too}");
                if let Some(inner) = inner {
                    // The kernel checks a sub-cgroup's own list alone: each
                    // of its lines must be one of its parent's (or the
                    // parent allows every device).
                    let parent_all = got == ["a *:* rwm"];
                    for l in &inner {
                        assert!(
                            parent_all || got.contains(l) || got_covers(&got, l),
                            "sub-cgroup keeps {l} beyond {got:?}: A={a:?} B={b:?}"
                        );
                    }
                }
            }
            // The kernel refuses a reset of a cgroup with children (EINVAL):
            // the update fails; nothing more may be allowed than before.
            Err(e) => {
                refused += 1;
                assert!(sub_too, "A={a:?} B={b:?}: {e}")
            }
        }
    }
    eprintln!("{same} updates as a fresh cgroup ({with_sub} with a sub-cgroup), {refused} refused");
}

/// Whether a line of `list` (a default-deny parent) covers `line`, as the
/// kernel's `match_exception` checks a child's exception.
fn got_covers(list: &[String], line: &str) -> bool {
    let parse = |l: &str| -> (String, String, String, String) {
        let mut it = l.split_whitespace();
        let kind = it.next().unwrap().to_string();
        let (maj, min) = it.next().unwrap().split_once(':').unwrap();
        (kind, maj.into(), min.into(), it.next().unwrap().into())
    };
    let (k, ma, mi, acc) = parse(line);
    list.iter().any(|p| {
        let (pk, pma, pmi, pacc) = parse(p);
        (pk == "a" || pk == k)
            && (pma == "*" || pma == ma)
            && (pmi == "*" || pmi == mi)
            && acc.chars().all(|c| pacc.contains(c))
    })
}

/// 3 MiB of bytes that do not compress.
fn noise(len: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..len.div_ceil(8))
        .flat_map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x.to_le_bytes()
        })
        .take(len)
        .collect()
}

fn header(size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_size(size);
    h.set_mode(0o644);
    // Owned by whoever runs the test: an unprivileged run (CI's rootless
    // pass) may not chown to root, and these cases are about sizes.
    // SAFETY: getuid/getgid have no preconditions.
    h.set_uid(u64::from(unsafe { libc::getuid() }));
    // SAFETY: as above.
    h.set_gid(u64::from(unsafe { libc::getgid() }));
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h
}

/// A tar with `a` (1 byte) then `big` (`data`), the header of `big`
/// announcing `announced` bytes.
fn tar_with(data: &[u8], announced: u64) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = header(1);
    b.append_data(&mut h, "a", &b"x"[..]).unwrap();
    let mut h = header(data.len() as u64);
    h.set_path("big").unwrap();
    h.set_size(announced);
    h.set_cksum();
    let mut out = b.into_inner().unwrap();
    // Without the end-of-archive blocks the builder wrote.
    out.truncate(out.len() - 1024);
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out
}

#[test]
fn unpack_of_short_or_truncated_file_contents_fails() {
    // A file whose header announces more than the archive holds (the
    // chunked copy fills 1 MiB before each write and stops at the end):
    // an error, never a layer that looks complete; and the same file cut
    // in a gzip or zstd stream.
    use std::io::Write as _;
    let t = common::TempDir::new("brk4-short");
    let data = noise(3 << 20);
    let mut n = 0;
    let mut check = |what: &str, layer: &[u8]| {
        n += 1;
        let dest = t.path().join(format!("l{n}"));
        std::fs::create_dir(&dest).unwrap();
        let r = containment::image::unpack_layer(
            layer,
            &dest,
            &[],
            &containment::image::UnpackOptions::new(),
        );
        let r = r.expect_err(what);
        assert!(!r.to_string().contains("tar header"), "{what}: {r}");
        eprintln!("{what}: {r}");
    };
    // The header lies: 5 MiB announced, 3 MiB there, then the end.
    check("5 MiB announced", &tar_with(&data, 5 << 20));
    // 3 MiB + 1 announced: the last chunk is one byte short.
    check("one byte short", &tar_with(&data, (3 << 20) + 1));
    // Honest archive, compressed, cut in the middle of the file.
    let mut full = tar_with(&data, 3 << 20);
    full.extend_from_slice(&[0; 1024]);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&full).unwrap();
    let gz = gz.finish().unwrap();
    check("gzip cut", &gz[..gz.len() / 2]);
    check("gzip without its trailer", &gz[..gz.len() - 4]);
    let zs = zstd::encode_all(&full[..], 1).unwrap();
    check("zstd cut", &zs[..zs.len() / 2]);
    check("zstd without its last byte", &zs[..zs.len() - 1]);
    // The limit still holds with 1 MiB chunks: 3 MiB past a 2 MiB limit.
    let dest = t.path().join("limit");
    std::fs::create_dir(&dest).unwrap();
    let r = containment::image::unpack_layer(
        &full[..],
        &dest,
        &[],
        &containment::image::UnpackOptions::new().max_layer_bytes(2 << 20),
    );
    assert!(
        matches!(r, Err(containment::image::Error::TooLarge { .. })),
        "{r:?}"
    );
    // And the honest one unpacks whole.
    let dest = t.path().join("whole");
    std::fs::create_dir(&dest).unwrap();
    containment::image::unpack_layer(
        &full[..],
        &dest,
        &[],
        &containment::image::UnpackOptions::new(),
    )
    .unwrap();
    assert!(std::fs::read(dest.join("big")).unwrap() == data);
}

#[test]
fn kernel_tcp_memory_at_the_edges_on_a_v1_memory_controller() {
    // memory.kmem.tcp.limit_in_bytes: rounded down to pages, capped at the
    // largest page count, -1 for none; read back after each write.
    require_root!();
    let h = Hierarchy::detect().unwrap();
    require!(
        h.v1_mount_of("memory").is_some(),
        "no cgroup v1 memory hierarchy"
    );
    let Some(base) = common::TestCgroup::new("brk4-tcp") else {
        panic!("cannot make a test cgroup");
    };
    use containment::cgroup::MemoryLimit;
    let cg = Cgroup::create_with(&h, Backend::V1, Some(&base.0), "tcp").unwrap();
    let mut out = Vec::new();
    for v in [
        MemoryLimit::Bytes(0),
        MemoryLimit::Bytes(1),
        MemoryLimit::Bytes(4097),
        MemoryLimit::Bytes(i64::MAX as u64),
        MemoryLimit::Bytes(1 << 63),
        MemoryLimit::Bytes(u64::MAX),
        MemoryLimit::Max,
    ] {
        let r = cg.apply(&Resources::new().kernel_tcp_memory(v));
        let now = std::fs::read_to_string(
            cg.v1_path("memory")
                .unwrap()
                .join("memory.kmem.tcp.limit_in_bytes"),
        )
        .unwrap();
        out.push(format!(
            "{v:?}: {:?} -> {}",
            r.map_err(|e| e.to_string()),
            now.trim()
        ));
    }
    cg.remove().unwrap();
    let out = out.join("\n");
    eprintln!("{out}");
    // Past i64::MAX the kernel keeps its largest page count, as for -1:
    // the write did what was asked (it was reported as ignored).
    assert!(!out.contains("Err"), "{out}");
}
