//! veth pairs over rtnetlink: a TCP connection between the two ends, and
//! nothing left on the host afterwards.

#[macro_use]
mod common;

use containment::namespace::list_namespaces;
use containment::net::{Error, Veth};
use containment::{Child, Container, Namespace, Namespaces, NsFd};
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Tests here compare the host's links before and after: one at a time.
static HOST: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    HOST.lock().unwrap_or_else(|e| e.into_inner())
}

/// Unique interface names (at most 15 bytes): `<p><pid mod 1e5>x<n>`.
fn ifname(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}{}x{}",
        std::process::id() % 100_000,
        N.fetch_add(1, Ordering::Relaxed)
    )
}

fn host_links() -> BTreeSet<String> {
    std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

fn ip_links() -> BTreeSet<String> {
    let out = Command::new("ip").args(["-o", "link"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or("").to_string())
        .collect()
}

fn sleeper() -> Child {
    Container::new()
        .unshare(Namespaces::NET | Namespaces::UTS)
        .command("/bin/sleep")
        .args(["60"])
        .spawn()
        .unwrap()
}

/// Interfaces of a process's network namespace, as the kernel shows them.
fn links_of(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap()
}

fn netns_ino(child: &Child) -> u64 {
    std::fs::metadata(format!("/proc/{}/ns/net", child.id()))
        .unwrap()
        .ino()
}

/// Runs `f` on a thread that has joined `ns` (only that thread moves).
fn in_netns<T: Send + 'static>(
    ns: NsFd,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::thread::JoinHandle<T> {
    std::thread::spawn(move || {
        ns.join().unwrap();
        f()
    })
}

#[test]
fn tcp_between_two_containers_then_nothing_left() {
    require_root!();
    let _serial = serial();
    require!(
        Command::new("ip").arg("-V").output().is_ok(),
        "iproute2 `ip` is needed to check the host's links (the library does not use it)"
    );
    let (sys_before, ip_before) = (host_links(), ip_links());
    let (a, b) = (sleeper(), sleeper());
    let (a_ns, b_ns) = (netns_ino(&a), netns_ino(&b));
    let (name, peer) = (ifname("va"), ifname("vb"));
    let a_ip = Ipv4Addr::new(10, 213, 7, 1);
    let b_ip = Ipv4Addr::new(10, 213, 7, 2);

    let veth = Veth::builder(&name, &peer)
        .netns_of(&a)
        .peer_netns_of(&b)
        .address(a_ip, 30)
        .peer_address(b_ip, 30)
        .peer_default_route(a_ip)
        .create()
        .unwrap();
    assert!(veth.index() > 0 && veth.peer_index() > 0);

    // What the kernel shows: one end in each container, none on the host.
    assert!(
        links_of(a.id()).contains(&format!("{name}:")),
        "{}",
        links_of(a.id())
    );
    assert!(!links_of(a.id()).contains(&format!("{peer}:")));
    assert!(
        links_of(b.id()).contains(&format!("{peer}:")),
        "{}",
        links_of(b.id())
    );
    assert!(!host_links().contains(&name) && !host_links().contains(&peer));
    let fib = std::fs::read_to_string(format!("/proc/{}/net/fib_trie", b.id())).unwrap();
    assert!(fib.contains("10.213.7.2"), "{fib}");
    // B's default route: destination 00000000 via a_ip (little-endian hex).
    let route = std::fs::read_to_string(format!("/proc/{}/net/route", b.id())).unwrap();
    let gw = format!("{:08X}", u32::from_le_bytes(a_ip.octets()));
    assert!(
        route.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() > 2 && f[0] == peer && f[1] == "00000000" && f[2] == gw
        }),
        "{route}"
    );

    // TCP from B to A over the pair.
    let server = in_netns(a.open_namespace(Namespace::Net).unwrap(), move || {
        let l = TcpListener::bind((a_ip, 0)).unwrap();
        let port = l.local_addr().unwrap().port();
        (l, port)
    })
    .join()
    .unwrap();
    let (listener, port) = server;
    let accept = std::thread::spawn(move || {
        let (mut s, from) = listener.accept().unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).unwrap();
        s.write_all(b"world").unwrap();
        (buf, from)
    });
    let reply = in_netns(b.open_namespace(Namespace::Net).unwrap(), move || {
        let mut s =
            TcpStream::connect_timeout(&SocketAddr::from((a_ip, port)), Duration::from_secs(5))
                .unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(b"hello").unwrap();
        let mut buf = [0u8; 5];
        s.read_exact(&mut buf).unwrap();
        buf
    })
    .join()
    .unwrap();
    let (got, from) = accept.join().unwrap();
    assert_eq!(&got, b"hello");
    assert_eq!(&reply, b"world");
    assert_eq!(from.ip(), std::net::IpAddr::V4(b_ip));

    // Teardown: deleting one end deletes both; the containers end.
    veth.delete().unwrap();
    assert!(!links_of(a.id()).contains(&format!("{name}:")));
    assert!(!links_of(b.id()).contains(&format!("{peer}:")));
    drop((a, b));
    assert_eq!(host_links(), sys_before, "/sys/class/net changed");
    assert_eq!(ip_links(), ip_before, "`ip -o link` changed");
    let l = list_namespaces().unwrap();
    for ino in [a_ns, b_ns] {
        assert!(
            l.get(Namespace::Net, ino).is_none(),
            "net namespace {ino} is still there"
        );
    }
}

#[test]
fn host_end_appears_and_goes_with_drop_or_container_exit() {
    require_root!();
    let _serial = serial();
    let before = host_links();
    let mut c = sleeper();
    let (name, peer) = (ifname("vh"), ifname("vc"));
    {
        let veth = Veth::builder(&name, &peer)
            .peer_netns_of(&c)
            .peer_address(Ipv4Addr::new(10, 213, 8, 2), 24)
            .up(false)
            .create()
            .unwrap();
        assert!(host_links().contains(&name), "host end missing");
        assert!(
            !host_links().contains(&peer),
            "the peer must be born in the container"
        );
        assert!(links_of(c.id()).contains(&format!("{peer}:")));
        assert_eq!(veth.name(), name);
        assert_eq!(veth.peer_name(), peer);
        let ifindex: u32 = std::fs::read_to_string(format!("/sys/class/net/{name}/ifindex"))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(ifindex, veth.index());
    } // dropped here
    assert_eq!(host_links(), before, "dropping the Veth left an interface");

    // Second pair: the container exits first; the kernel removes the pair
    // with its namespace, and deleting afterwards is not an error.
    let veth = Veth::builder(&name, &peer)
        .peer_netns_of(&c)
        .up(false)
        .create()
        .unwrap();
    assert!(host_links().contains(&name));
    c.kill().unwrap();
    c.wait().unwrap();
    drop(c);
    // The namespace is dismantled asynchronously (cleanup_net workqueue).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while host_links().contains(&name) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !host_links().contains(&name),
        "the pair outlived its container"
    );
    veth.delete().unwrap();
    assert_eq!(host_links(), before);
}

#[test]
fn a_failing_step_removes_the_pair() {
    require_root!();
    let _serial = serial();
    let before = host_links();
    let c = sleeper();
    let (name, peer) = (ifname("vf"), ifname("vg"));
    // The gateway is not on the peer's subnet: RTM_NEWROUTE fails with
    // ENETUNREACH after the pair exists.
    let e = Veth::builder(&name, &peer)
        .peer_netns_of(&c)
        .peer_address(Ipv4Addr::new(10, 213, 9, 2), 30)
        .peer_default_route(Ipv4Addr::new(10, 213, 99, 1))
        .up(true)
        .create()
        .unwrap_err();
    match &e {
        Error::Netlink {
            op, source, hint, ..
        } => {
            assert_eq!(*op, "RTM_NEWROUTE default");
            assert_eq!(source.raw_os_error(), Some(libc::ENETUNREACH), "{e}");
            assert!(hint.is_some(), "{e}");
        }
        other => panic!("unexpected {other}"),
    }
    assert_eq!(host_links(), before, "the failed pair was left on the host");
    assert!(!links_of(c.id()).contains(&format!("{peer}:")));
}

#[test]
fn bad_config_is_refused_before_anything_exists() {
    require_root!();
    let _serial = serial();
    let before = host_links();
    let e = Veth::builder("a-name-longer-than-15", "p")
        .create()
        .unwrap_err();
    assert!(
        matches!(e, Error::InvalidConfig { field: "name", .. }),
        "{e}"
    );
    let e = Veth::builder("ok", "bad/name").create().unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidConfig {
                field: "peer_name",
                ..
            }
        ),
        "{e}"
    );
    let e = Veth::builder("ok", "ok2")
        .address(Ipv4Addr::new(10, 213, 10, 1), 33)
        .create()
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidConfig {
                field: "address",
                ..
            }
        ),
        "{e}"
    );
    let uts = NsFd::open_self(Namespace::Uts).unwrap();
    let e = Veth::builder("ok", "ok2")
        .peer_netns(&uts)
        .create()
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidConfig {
                field: "peer_netns",
                ..
            }
        ),
        "{e}"
    );
    let e = Veth::builder("same", "same").create().unwrap_err();
    assert!(
        matches!(
            e,
            Error::InvalidConfig {
                field: "peer_name",
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(host_links(), before);
}

#[test]
fn an_existing_name_is_eexist_and_left_alone() {
    require_root!();
    let _serial = serial();
    let c = sleeper();
    let (name, peer) = (ifname("ve"), ifname("vd"));
    let first = Veth::builder(&name, &peer)
        .peer_netns_of(&c)
        .up(false)
        .create()
        .unwrap();
    let e = Veth::builder(&name, ifname("vz"))
        .up(false)
        .create()
        .unwrap_err();
    match &e {
        Error::Netlink { source, hint, .. } => {
            assert_eq!(source.raw_os_error(), Some(libc::EEXIST), "{e}");
            assert!(
                hint.as_deref().unwrap_or("").contains("already exists"),
                "{e}"
            );
        }
        other => panic!("unexpected {other}"),
    }
    // The first pair is intact (the failed create deleted nothing).
    assert!(host_links().contains(&name));
    assert!(links_of(c.id()).contains(&format!("{peer}:")));
    first.delete().unwrap();
    assert!(!host_links().contains(&name));
}
