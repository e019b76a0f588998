//! A small synchronous rtnetlink client: one request, its replies, its ACK.
//!
//! Messages are built and parsed with `netlink-packet-route`; the socket is
//! `netlink-sys`'s. Nothing from either crate leaves this module's parent.

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_REQUEST,
};
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

/// An rtnetlink socket bound in one network namespace (the one current
/// when it was opened; it stays there).
#[derive(Debug)]
pub(crate) struct Rtnl {
    sock: Socket,
    seq: u32,
    buf: Vec<u8>,
}

impl Rtnl {
    /// `socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_ROUTE)` in the
    /// calling thread's network namespace.
    pub(crate) fn open() -> io::Result<Rtnl> {
        let mut sock = Socket::new(NETLINK_ROUTE)?;
        sock.bind_auto()?;
        sock.connect(&SocketAddr::new(0, 0))?;
        Ok(Rtnl {
            sock,
            seq: 0,
            buf: vec![0; 64 * 1024],
        })
    }

    /// An rtnetlink socket in the network namespace behind `ns`: a short-lived
    /// thread joins it (`setns(fd, CLONE_NEWNET)` affects only that thread),
    /// opens the socket and exits; the socket stays in that namespace.
    pub(crate) fn open_in(ns: BorrowedFd<'_>) -> io::Result<Rtnl> {
        let raw = ns.as_raw_fd();
        std::thread::scope(|s| {
            s.spawn(move || {
                // SAFETY: plain system call; `raw` is a live descriptor
                // borrowed for the scope of this thread.
                if unsafe { libc::setns(raw, libc::CLONE_NEWNET) } != 0 {
                    return Err(io::Error::last_os_error());
                }
                Rtnl::open()
            })
            .join()
            .map_err(|_| io::Error::other("the thread opening a netlink socket panicked"))?
        })
    }

    /// Sends `msg` with `NLM_F_REQUEST | NLM_F_ACK | flags` and collects the
    /// replies until the ACK (or `NLMSG_DONE` for dumps). A NACK becomes the
    /// kernel's errno.
    pub(crate) fn request(
        &mut self,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> io::Result<Vec<RouteNetlinkMessage>> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = seq;
        let mut nl = NetlinkMessage::new(header, NetlinkPayload::from(msg));
        nl.finalize();
        let mut out = vec![0u8; nl.buffer_len()];
        nl.serialize(&mut out);
        let sent = self.sock.send(&out, 0)?;
        if sent != out.len() {
            return Err(io::Error::other("short send on a netlink socket"));
        }
        let mut replies = Vec::new();
        loop {
            self.buf.clear();
            let n = loop {
                match self.sock.recv(&mut self.buf, 0) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    r => break r?,
                }
            };
            if n > self.buf.len() {
                return Err(io::Error::other("truncated netlink reply"));
            }
            let mut off = 0;
            while off < n {
                let m = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&self.buf[off..n])
                    .map_err(|e| {
                        io::Error::new(io::ErrorKind::InvalidData, format!("netlink reply: {e}"))
                    })?;
                let len = m.header.length as usize;
                if len == 0 {
                    return Err(io::Error::other("netlink reply of length 0"));
                }
                off += (len + 3) & !3;
                if m.header.sequence_number != seq {
                    continue; // a stale reply to an earlier request
                }
                match m.payload {
                    NetlinkPayload::Error(e) => {
                        return match e.code {
                            None => Ok(replies),
                            Some(code) => Err(io::Error::from_raw_os_error(-code.get())),
                        }
                    }
                    NetlinkPayload::Done(_) => return Ok(replies),
                    NetlinkPayload::InnerMessage(inner) => replies.push(inner),
                    _ => {}
                }
            }
        }
    }
}

impl AsFd for Rtnl {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.sock.as_fd()
    }
}
