//! Two containers joined by a veth pair, talking TCP over it.
//!
//! Container A gets `10.213.0.1/30`, container B `10.213.0.2/30` with a
//! default route via A. The pair goes straight from A's network namespace to
//! B's: nothing appears on the host. A thread joins A's namespace and
//! listens; another joins B's and connects. Dropping the `Veth` and the
//! containers removes everything.
//!
//! Run as root: `cargo run --example veth_pair`

use containment::net::Veth;
use containment::{Container, Namespace, Namespaces};
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let spawn = || {
        Container::new()
            .unshare(Namespaces::NET | Namespaces::UTS)
            .command("/bin/sleep")
            .args(["30"])
            .spawn()
    };
    let (a, b) = (spawn()?, spawn()?);
    let a_ip = Ipv4Addr::new(10, 213, 0, 1);
    let b_ip = Ipv4Addr::new(10, 213, 0, 2);
    let suffix = std::process::id() % 100_000;

    let veth = Veth::builder(format!("ex{suffix}a"), format!("ex{suffix}b"))
        .netns_of(&a)
        .peer_netns_of(&b)
        .address(a_ip, 30)
        .peer_address(b_ip, 30)
        .peer_default_route(a_ip)
        .create()?;
    println!(
        "veth {} (index {}) in container {} <-> {} (index {}) in container {}",
        veth.name(),
        veth.index(),
        a.id(),
        veth.peer_name(),
        veth.peer_index(),
        b.id()
    );
    for (c, label) in [(&a, "A"), (&b, "B")] {
        let dev = std::fs::read_to_string(format!("/proc/{}/net/dev", c.id()))?;
        let names: Vec<&str> = dev
            .lines()
            .skip(2)
            .filter_map(|l| l.split(':').next())
            .map(str::trim)
            .collect();
        println!("container {label} interfaces: {names:?}");
    }

    // A listens (a thread inside A's network namespace) ...
    let a_net = a.open_namespace(Namespace::Net)?;
    let listener = std::thread::spawn(move || -> std::io::Result<TcpListener> {
        a_net.join().map_err(std::io::Error::other)?;
        TcpListener::bind((a_ip, 7007))
    })
    .join()
    .map_err(|_| "listener thread panicked")??;
    let server = std::thread::spawn(move || -> std::io::Result<String> {
        let (mut s, from) = listener.accept()?;
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf)?;
        s.write_all(b"pong from A")?;
        Ok(format!(
            "A got {:?} from {from}",
            String::from_utf8_lossy(&buf[..n])
        ))
    });
    // ... B connects (a thread inside B's network namespace).
    let b_net = b.open_namespace(Namespace::Net)?;
    let client = std::thread::spawn(move || -> std::io::Result<String> {
        b_net.join().map_err(std::io::Error::other)?;
        let mut s =
            TcpStream::connect_timeout(&SocketAddr::from((a_ip, 7007)), Duration::from_secs(5))?;
        s.set_read_timeout(Some(Duration::from_secs(5)))?;
        s.write_all(b"ping from B")?;
        let mut buf = [0u8; 64];
        let n = s.read(&mut buf)?;
        Ok(format!("B got {:?}", String::from_utf8_lossy(&buf[..n])))
    });
    println!("{}", client.join().map_err(|_| "client panicked")??);
    println!("{}", server.join().map_err(|_| "server panicked")??);

    veth.delete()?;
    drop((a, b)); // kills and reaps both containers
    println!("pair deleted, containers gone");
    Ok(())
}
