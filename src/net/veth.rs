//! [`Veth`]: a virtual Ethernet pair between two network namespaces.

use super::rtnl::Rtnl;
use super::{hint, Error};
use crate::namespace::{Namespace, NsFd};
use crate::process::Child;
use netlink_packet_core::{NLM_F_CREATE, NLM_F_EXCL};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

/// Longest interface name (`IFNAMSIZ - 1`).
const IFNAMSIZ_MAX: usize = 15;

/// Configures and creates a [`Veth`] pair. From [`Veth::builder`].
///
/// The first end (`name`) lives in the caller's network namespace unless
/// [`netns`](Self::netns) names another; the peer (`peer_name`) is created
/// directly in [`peer_netns`](Self::peer_netns) (default: beside the first
/// end), so it never appears in the host's namespace.
#[derive(Debug)]
pub struct VethBuilder {
    name: String,
    peer_name: String,
    netns: Option<OwnedFd>,
    peer_netns: Option<OwnedFd>,
    address: Option<(Ipv4Addr, u8)>,
    peer_address: Option<(Ipv4Addr, u8)>,
    default_route: Option<Ipv4Addr>,
    peer_default_route: Option<Ipv4Addr>,
    up: bool,
    deferred: Option<Error>,
}

/// A virtual Ethernet pair: two linked interfaces, usually in two network
/// namespaces. Frames sent on one end arrive on the other.
///
/// ```no_run
/// use containment::net::Veth;
/// use containment::{Container, Namespaces};
/// use std::net::Ipv4Addr;
///
/// let child = Container::new()
///     .unshare(Namespaces::NET)
///     .command("/bin/sleep")
///     .args(["60"])
///     .spawn()?;
/// // Host end `ct0-host`, container end `eth0`, a /30 between them.
/// let veth = Veth::builder("ct0-host", "eth0")
///     .peer_netns_of(&child)
///     .address(Ipv4Addr::new(10, 0, 0, 1), 30)
///     .peer_address(Ipv4Addr::new(10, 0, 0, 2), 30)
///     .peer_default_route(Ipv4Addr::new(10, 0, 0, 1))
///     .create()?;
/// // ... the container talks to 10.0.0.1 ...
/// drop(veth); // deletes both ends
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Dropping
///
/// Dropping it deletes the pair (`RTM_DELLINK` on the first end; the kernel
/// deletes the peer with it). The pair also disappears by itself when the
/// namespace of either end is destroyed (its last process exits and nothing
/// holds it): then dropping does nothing.
///
/// A `Veth` holds an rtnetlink socket in the first end's namespace, which
/// keeps that namespace alive until the `Veth` is dropped.
#[derive(Debug)]
pub struct Veth {
    rtnl: Rtnl,
    name: String,
    peer_name: String,
    index: u32,
    peer_index: u32,
    deleted: bool,
}

fn check_name(field: &'static str, name: &str) -> Result<(), Error> {
    let bad = |reason: &str| Error::InvalidConfig {
        field,
        value: name.to_string(),
        reason: reason.into(),
    };
    if name.is_empty() || name.len() > IFNAMSIZ_MAX {
        return Err(bad("an interface name has 1 to 15 bytes"));
    }
    if name == "." || name == ".." {
        return Err(bad("`.` and `..` are not interface names"));
    }
    if name
        .bytes()
        .any(|b| b == b'/' || b == b':' || b == 0 || b.is_ascii_whitespace())
    {
        return Err(bad("an interface name has no `/`, `:`, NUL or whitespace"));
    }
    Ok(())
}

fn check_prefix(field: &'static str, a: Option<(Ipv4Addr, u8)>) -> Result<(), Error> {
    match a {
        Some((ip, p)) if p > 32 => Err(Error::InvalidConfig {
            field,
            value: format!("{ip}/{p}"),
            reason: "an IPv4 prefix length is at most 32".into(),
        }),
        Some((ip, _)) if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() => {
            Err(Error::InvalidConfig {
                field,
                value: ip.to_string(),
                reason: "not a unicast address".into(),
            })
        }
        _ => Ok(()),
    }
}

fn net_fd(ns: &NsFd, field: &'static str) -> Result<OwnedFd, Error> {
    if ns.kind() != Namespace::Net {
        return Err(Error::InvalidConfig {
            field,
            value: ns.kind().to_string(),
            reason: "not a network namespace".into(),
        });
    }
    ns.as_fd()
        .try_clone_to_owned()
        .map_err(|source| Error::Socket {
            place: "(duplicating the namespace descriptor)",
            source,
        })
}

fn nl_err(op: &'static str, link: &str, source: io::Error) -> Error {
    let hint = hint(op, &source);
    Error::Netlink {
        op,
        link: link.to_string(),
        source,
        hint,
    }
}

impl VethBuilder {
    /// The namespace of the first end (default: the caller's network
    /// namespace). Must be a network namespace.
    pub fn netns(&mut self, ns: &NsFd) -> &mut Self {
        match net_fd(ns, "netns") {
            Ok(fd) => self.netns = Some(fd),
            Err(e) => self.deferred = Some(e),
        }
        self
    }

    /// The namespace the peer is created in (default: the first end's).
    /// Must be a network namespace.
    pub fn peer_netns(&mut self, ns: &NsFd) -> &mut Self {
        match net_fd(ns, "peer_netns") {
            Ok(fd) => self.peer_netns = Some(fd),
            Err(e) => self.deferred = Some(e),
        }
        self
    }

    /// Puts the peer in `child`'s network namespace (taken through its
    /// pidfd, [`Child::open_namespace`]).
    pub fn peer_netns_of(&mut self, child: &Child) -> &mut Self {
        match child.open_namespace(Namespace::Net) {
            Ok(ns) => {
                self.peer_netns(&ns);
            }
            Err(e) => self.deferred = Some(Error::Namespace(e)),
        }
        self
    }

    /// Puts the first end in `child`'s network namespace.
    pub fn netns_of(&mut self, child: &Child) -> &mut Self {
        match child.open_namespace(Namespace::Net) {
            Ok(ns) => {
                self.netns(&ns);
            }
            Err(e) => self.deferred = Some(Error::Namespace(e)),
        }
        self
    }

    /// An IPv4 address with its prefix length for the first end
    /// (`10.0.0.1`, `24`).
    pub fn address(&mut self, addr: Ipv4Addr, prefix_len: u8) -> &mut Self {
        self.address = Some((addr, prefix_len));
        self
    }

    /// An IPv4 address with its prefix length for the peer.
    pub fn peer_address(&mut self, addr: Ipv4Addr, prefix_len: u8) -> &mut Self {
        self.peer_address = Some((addr, prefix_len));
        self
    }

    /// A default route in the first end's namespace via `gateway` on the
    /// first end (usually the peer's address).
    pub fn default_route(&mut self, gateway: Ipv4Addr) -> &mut Self {
        self.default_route = Some(gateway);
        self
    }

    /// A default route in the peer's namespace via `gateway` on the peer
    /// (usually the first end's address): what a container needs to reach
    /// beyond the pair.
    pub fn peer_default_route(&mut self, gateway: Ipv4Addr) -> &mut Self {
        self.peer_default_route = Some(gateway);
        self
    }

    /// Whether to bring both ends up (default: yes).
    pub fn up(&mut self, up: bool) -> &mut Self {
        self.up = up;
        self
    }

    /// Creates and configures the pair.
    ///
    /// In order, over rtnetlink sockets opened in the two namespaces:
    /// 1. `RTM_NEWLINK` (`NLM_F_CREATE | NLM_F_EXCL`) with `IFLA_IFNAME`,
    ///    `IFLA_LINKINFO` kind `veth` and `VETH_INFO_PEER` carrying the
    ///    peer's name and `IFLA_NET_NS_FD`: the peer is born in its namespace;
    /// 2. `RTM_GETLINK` by name, for each end's index;
    /// 3. `RTM_NEWADDR` (`IFA_LOCAL`, `IFA_ADDRESS`, prefix length) per
    ///    address asked;
    /// 4. `RTM_NEWLINK` with `IFF_UP` in `ifi_flags` and `ifi_change`;
    /// 5. `RTM_NEWROUTE` `0.0.0.0/0` via the gateway (`RTA_GATEWAY`,
    ///    `RTA_OIF`, table main) per default route asked.
    ///
    /// If a step after the first fails, the pair is deleted again.
    ///
    /// # Errors
    /// [`Error::InvalidConfig`] for a bad name, prefix or namespace kind
    /// (before anything is created); [`Error::Socket`] when a namespace
    /// cannot be entered; [`Error::Netlink`] with the kernel's errno.
    ///
    /// # References
    /// - [`veth(4)`](https://man7.org/linux/man-pages/man4/veth.4.html)
    /// - [`rtnetlink(7)`](https://man7.org/linux/man-pages/man7/rtnetlink.7.html)
    /// - [`setns(2)`](https://man7.org/linux/man-pages/man2/setns.2.html)
    pub fn create(&mut self) -> Result<Veth, Error> {
        if let Some(e) = self.deferred.take() {
            return Err(e);
        }
        check_name("name", &self.name)?;
        check_name("peer_name", &self.peer_name)?;
        check_prefix("address", self.address)?;
        check_prefix("peer_address", self.peer_address)?;
        let same_ns = self.peer_netns.is_none();
        if same_ns && self.name == self.peer_name {
            return Err(Error::InvalidConfig {
                field: "peer_name",
                value: self.peer_name.clone(),
                reason: "both ends are in one namespace and need different names".into(),
            });
        }

        let mut near = match &self.netns {
            Some(fd) => Rtnl::open_in(fd.as_fd()).map_err(|source| Error::Socket {
                place: "in the first end's network namespace",
                source,
            })?,
            None => Rtnl::open().map_err(|source| Error::Socket {
                place: "in the caller's network namespace",
                source,
            })?,
        };
        let mut far = match &self.peer_netns {
            Some(fd) => Some(Rtnl::open_in(fd.as_fd()).map_err(|source| Error::Socket {
                place: "in the peer's network namespace",
                source,
            })?),
            None => None,
        };

        // 1. The pair, with the peer born in its namespace.
        let mut peer = LinkMessage::default();
        peer.attributes
            .push(LinkAttribute::IfName(self.peer_name.clone()));
        if let Some(fd) = &self.peer_netns {
            peer.attributes.push(LinkAttribute::NetNsFd(fd.as_raw_fd()));
        }
        let mut msg = LinkMessage::default();
        msg.attributes
            .push(LinkAttribute::IfName(self.name.clone()));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer))),
        ]));
        near.request(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
            .map_err(|e| nl_err("RTM_NEWLINK veth", &self.name, e))?;

        // From here on, `veth` deletes the pair if a later step fails.
        let mut veth = Veth {
            rtnl: near,
            name: self.name.clone(),
            peer_name: self.peer_name.clone(),
            index: 0,
            peer_index: 0,
            deleted: false,
        };
        veth.index = link_index(&mut veth.rtnl, &self.name)?;
        let far_rtnl = far.as_mut().unwrap_or(&mut veth.rtnl);
        let peer_index = link_index(far_rtnl, &self.peer_name)?;
        veth.peer_index = peer_index;

        // 2. Addresses, 3. up, 4. routes; first end, then peer.
        let index = veth.index;
        let name = veth.name.clone();
        configure(
            &mut veth.rtnl,
            &name,
            index,
            self.address,
            self.up,
            self.default_route,
        )?;
        let far_rtnl = far.as_mut().unwrap_or(&mut veth.rtnl);
        configure(
            far_rtnl,
            &self.peer_name,
            peer_index,
            self.peer_address,
            self.up,
            self.peer_default_route,
        )?;
        Ok(veth)
    }
}

/// `RTM_GETLINK` by `IFLA_IFNAME`: the interface's index.
fn link_index(rtnl: &mut Rtnl, name: &str) -> Result<u32, Error> {
    let mut msg = LinkMessage::default();
    msg.attributes.push(LinkAttribute::IfName(name.to_string()));
    let replies = rtnl
        .request(RouteNetlinkMessage::GetLink(msg), 0)
        .map_err(|e| nl_err("RTM_GETLINK", name, e))?;
    replies
        .into_iter()
        .find_map(|m| match m {
            RouteNetlinkMessage::NewLink(l) => Some(l.header.index),
            _ => None,
        })
        .ok_or_else(|| {
            nl_err(
                "RTM_GETLINK",
                name,
                io::Error::new(io::ErrorKind::InvalidData, "no link in the reply"),
            )
        })
}

fn configure(
    rtnl: &mut Rtnl,
    name: &str,
    index: u32,
    address: Option<(Ipv4Addr, u8)>,
    up: bool,
    default_route: Option<Ipv4Addr>,
) -> Result<(), Error> {
    if let Some((ip, prefix_len)) = address {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix_len;
        msg.header.index = index;
        msg.attributes.push(AddressAttribute::Local(IpAddr::V4(ip)));
        msg.attributes
            .push(AddressAttribute::Address(IpAddr::V4(ip)));
        rtnl.request(
            RouteNetlinkMessage::NewAddress(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map_err(|e| nl_err("RTM_NEWADDR", name, e))?;
    }
    if up {
        let mut msg = LinkMessage::default();
        msg.header.index = index;
        msg.header.flags = LinkFlags::Up;
        msg.header.change_mask = LinkFlags::Up;
        rtnl.request(RouteNetlinkMessage::NewLink(msg), 0)
            .map_err(|e| nl_err("RTM_NEWLINK up", name, e))?;
    }
    if let Some(gw) = default_route {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.destination_prefix_length = 0;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gw)));
        msg.attributes.push(RouteAttribute::Oif(index));
        rtnl.request(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map_err(|e| nl_err("RTM_NEWROUTE default", name, e))?;
    }
    Ok(())
}

impl Veth {
    /// A builder for a pair named `name` (first end) and `peer_name`.
    /// Interface names have at most 15 bytes.
    pub fn builder(name: impl Into<String>, peer_name: impl Into<String>) -> VethBuilder {
        VethBuilder {
            name: name.into(),
            peer_name: peer_name.into(),
            netns: None,
            peer_netns: None,
            address: None,
            peer_address: None,
            default_route: None,
            peer_default_route: None,
            up: true,
            deferred: None,
        }
    }

    /// The first end's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The peer's name.
    pub fn peer_name(&self) -> &str {
        &self.peer_name
    }

    /// The first end's interface index (in its namespace).
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The peer's interface index (in its namespace).
    pub fn peer_index(&self) -> u32 {
        self.peer_index
    }

    /// Deletes the pair now and reports the outcome (`RTM_DELLINK` on the
    /// first end). A pair already gone (`ENODEV`) counts as deleted.
    ///
    /// # Errors
    ///
    /// [`Error`] with the rtnetlink error other than `ENODEV` (`EPERM`).
    pub fn delete(mut self) -> Result<(), Error> {
        self.delete_inner()
    }

    fn delete_inner(&mut self) -> Result<(), Error> {
        if self.deleted {
            return Ok(());
        }
        self.deleted = true;
        let mut msg = LinkMessage::default();
        if self.index != 0 {
            msg.header.index = self.index;
        } else {
            // Creation failed before the index was known: by name.
            msg.attributes
                .push(LinkAttribute::IfName(self.name.clone()));
        }
        match self.rtnl.request(RouteNetlinkMessage::DelLink(msg), 0) {
            Ok(_) => Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
            Err(e) => Err(nl_err("RTM_DELLINK", &self.name, e)),
        }
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        let _ = self.delete_inner();
    }
}
