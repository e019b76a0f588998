//! Container networking over rtnetlink, in-process (no `ip` command).
//!
//! [`Veth`] connects two network namespaces with a virtual Ethernet pair:
//! the host's (or any namespace given by an [`NsFd`](crate::NsFd)) and a
//! container's. It creates the pair with the peer already inside the target
//! namespace, sets IPv4 addresses, brings both links up and adds default
//! routes where asked; dropping it deletes the pair.
//!
//! Messages are built with `netlink-packet-route` and sent over a
//! `netlink-sys` socket, synchronously. To configure a namespace other than
//! the caller's, a short-lived thread joins it (`setns(fd, CLONE_NEWNET)`,
//! which affects only that thread) and opens the netlink socket there; the
//! socket stays bound to that namespace.

mod rtnl;
mod veth;

pub use veth::{Veth, VethBuilder};

use std::io;

/// Errors of the networking layer.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A builder field holds a value that cannot work.
    #[error("invalid {field} {value:?}: {reason}")]
    InvalidConfig {
        /// The field (`"name"`, `"peer_address"` …).
        field: &'static str,
        /// The value, as given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// Opening an rtnetlink socket in a network namespace failed (the
    /// `socket`/`bind` calls, or `setns` into the namespace).
    #[error("opening an rtnetlink socket {place}: {source}")]
    Socket {
        /// Which namespace (`"in the caller's network namespace"` …).
        place: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The kernel refused a netlink request.
    #[error("{op} for link {link:?}: {source}{}", hint.as_deref().map(|h| format!("; hint: {h}")).unwrap_or_default())]
    Netlink {
        /// The request (`"RTM_NEWLINK veth"`, `"RTM_NEWADDR"` …).
        op: &'static str,
        /// The interface involved.
        link: String,
        /// The kernel's errno.
        #[source]
        source: io::Error,
        /// The usual causes, when known.
        hint: Option<String>,
    },
    /// Taking a container's network namespace failed.
    #[error(transparent)]
    Namespace(#[from] crate::namespace::Error),
}

fn hint(op: &str, e: &io::Error) -> Option<String> {
    match e.raw_os_error()? {
        libc::EEXIST if op.contains("NEWLINK") => Some(
            "an interface of that name already exists in the namespace (names are per namespace)"
                .into(),
        ),
        libc::EEXIST => Some("the address or route already exists".into()),
        libc::EPERM => Some("configuring links needs CAP_NET_ADMIN in the namespace's owning user namespace".into()),
        libc::EOPNOTSUPP => Some("the kernel lacks the veth driver (CONFIG_VETH)".into()),
        libc::ENETUNREACH => Some("the gateway is not on a subnet of the interface: give the interface an address in the gateway's subnet".into()),
        libc::ENODEV => Some("the interface is gone (deleting either end of a pair deletes both; so does the end of its namespace)".into()),
        _ => None,
    }
}
