//! The few rtnetlink requests the built-in pod network needs, sent by the
//! kubelet itself on a synchronous `NETLINK_ROUTE` socket: what
//! `ip link add/set/del`, `ip addr add/replace` and `ip route add` would
//! send, without starting `ip` for them.
//!
//! A netlink socket belongs to the network namespace it was opened in, for
//! its whole life: [`Handle::open`] in a thread that has entered a pod's
//! namespace configures that pod's side, one opened by an ordinary kubelet
//! thread configures the node's. Each request asks for an acknowledgement
//! and waits for it, so the requests of one handle apply in order and a
//! refusal comes back with the kernel's errno; the error names the request
//! in `ip`'s words so that it reads as the command that used to fail did.
//!
//! Blocking, like the rest of pod networking: call from a blocking thread.

use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, BorrowedFd};

use netlink_packet_core::{
    ErrorBuffer, NetlinkBuffer, NetlinkHeader, NetlinkMessage, NetlinkPayload, NLMSG_ALIGNTO,
    NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REPLACE,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage, AddressScope};
use netlink_packet_route::link::{
    InfoBridgePort, InfoData, InfoKind, InfoPortData, InfoPortKind, InfoVeth, LinkAttribute,
    LinkFlags, LinkHeader, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};

use crate::network::Error;

/// Room for one reply: a link's full description (the only reply we ask
/// for) is a few KiB; larger ones are reported, not cut.
const REPLY_CAPACITY: usize = 32 * 1024;

/// A `NETLINK_ROUTE` socket in the namespace of the thread that opened it.
pub struct Handle {
    socket: Socket,
    seq: u32,
    buf: Vec<u8>,
}

/// What [`Handle::address`] does when the device already has the address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressOp {
    /// `ip addr add`: refuses with "File exists".
    Add,
    /// `ip addr replace`: the same whether the device has it or not.
    Replace,
}

/// `request`'s refusal, named after the `ip` command that does the same.
fn refused(op: String) -> impl FnOnce(io::Error) -> Error {
    move |source| Error::Netlink { op, source }
}

impl Handle {
    /// A socket in the calling thread's network namespace.
    pub fn open() -> Result<Self, Error> {
        let opened = Socket::new(NETLINK_ROUTE).and_then(|socket| {
            // Connected to the kernel: nothing else can answer on it.
            socket.connect(&SocketAddr::new(0, 0))?;
            Ok(socket)
        });
        let socket = opened.map_err(refused("netlink socket (NETLINK_ROUTE)".into()))?;
        Ok(Handle {
            socket,
            seq: 0,
            buf: Vec::with_capacity(REPLY_CAPACITY),
        })
    }

    /// The index of the device `name`, `None` when there is none.
    pub fn link_index(&mut self, name: &str) -> Result<Option<u32>, Error> {
        let mut msg = LinkMessage::default();
        msg.attributes = vec![LinkAttribute::IfName(name.into())];
        let op = || format!("ip link show {name}");
        match self.request(RouteNetlinkMessage::GetLink(msg), 0) {
            Ok(Some(reply)) => LinkHeader::parse(&reply)
                .map(|h| Some(h.index))
                .map_err(|e| refused(op())(invalid(e.to_string()))),
            Ok(None) => Err(refused(op())(invalid(
                "acknowledged without describing the link".into(),
            ))),
            Err(e) if is_no_device(&e) => Ok(None),
            Err(e) => Err(refused(op())(e)),
        }
    }

    /// `ip link add name <name> type bridge`; "File exists" when there is one.
    pub fn add_bridge(&mut self, name: &str) -> Result<(), Error> {
        let mut msg = LinkMessage::default();
        msg.attributes = vec![
            LinkAttribute::IfName(name.into()),
            LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Bridge)]),
        ];
        self.request(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
            .map(drop)
            .map_err(refused(format!("ip link add name {name} type bridge")))
    }

    /// `ip link add <name> mtu <mtu> type veth peer name <peer> mtu <mtu>
    /// netns <netns>`: the peer is made directly in the namespace of
    /// `peer_netns` (a descriptor of it; `netns` only names it in errors),
    /// so it never appears in ours.
    pub fn add_veth(
        &mut self,
        name: &str,
        peer: &str,
        peer_netns: BorrowedFd<'_>,
        netns: &str,
        mtu: u32,
    ) -> Result<(), Error> {
        let mut peer_msg = LinkMessage::default();
        peer_msg.attributes = vec![
            LinkAttribute::IfName(peer.into()),
            LinkAttribute::Mtu(mtu),
            LinkAttribute::NetNsFd(peer_netns.as_raw_fd()),
        ];
        let mut msg = LinkMessage::default();
        msg.attributes = vec![
            LinkAttribute::IfName(name.into()),
            LinkAttribute::Mtu(mtu),
            LinkAttribute::LinkInfo(vec![
                LinkInfo::Kind(InfoKind::Veth),
                LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(peer_msg))),
            ]),
        ];
        self.request(RouteNetlinkMessage::NewLink(msg), NLM_F_CREATE | NLM_F_EXCL)
            .map(drop)
            .map_err(refused(format!(
                "ip link add {name} mtu {mtu} type veth peer name {peer} mtu {mtu} netns {netns}"
            )))
    }

    /// Changes an existing link, found by name (`ip link set <name> ...`).
    fn set_link(
        &mut self,
        name: &str,
        header: LinkHeader,
        mut attributes: Vec<LinkAttribute>,
        op: impl FnOnce() -> String,
    ) -> Result<(), Error> {
        let mut msg = LinkMessage::default();
        msg.header = header;
        attributes.insert(0, LinkAttribute::IfName(name.into()));
        msg.attributes = attributes;
        self.request(RouteNetlinkMessage::NewLink(msg), 0)
            .map(drop)
            .map_err(|e| refused(op())(e))
    }

    /// `ip link set <name> master <master>`, the master given by index.
    pub fn set_master(&mut self, name: &str, master: &str, index: u32) -> Result<(), Error> {
        self.set_link(
            name,
            LinkHeader::default(),
            vec![LinkAttribute::Controller(index)],
            || format!("ip link set {name} master {master}"),
        )
    }

    /// `ip link set dev <name> type bridge_slave hairpin on|off`: whether
    /// the bridge may send a frame back out of the port it came in by (a
    /// pod reaching itself through a Service's address).
    pub fn set_hairpin(&mut self, name: &str, on: bool) -> Result<(), Error> {
        self.set_link(
            name,
            LinkHeader::default(),
            vec![LinkAttribute::LinkInfo(vec![
                LinkInfo::PortKind(InfoPortKind::Bridge),
                LinkInfo::PortData(InfoPortData::BridgePort(vec![InfoBridgePort::HairpinMode(
                    on,
                )])),
            ])],
            || {
                let mode = if on { "on" } else { "off" };
                format!("ip link set dev {name} type bridge_slave hairpin {mode}")
            },
        )
    }

    /// `ip link set <name> [mtu <mtu>] up`.
    pub fn set_up(&mut self, name: &str, mtu: Option<u32>) -> Result<(), Error> {
        let header = LinkHeader {
            flags: LinkFlags::Up,
            change_mask: LinkFlags::Up,
            ..LinkHeader::default()
        };
        self.set_link(
            name,
            header,
            mtu.map(LinkAttribute::Mtu).into_iter().collect(),
            || match mtu {
                Some(mtu) => format!("ip link set {name} mtu {mtu} up"),
                None => format!("ip link set {name} up"),
            },
        )
    }

    /// `ip addr add|replace <addr>/<prefix> dev <dev>`.
    pub fn address(
        &mut self,
        how: AddressOp,
        dev: &str,
        index: u32,
        addr: Ipv4Addr,
        prefix: u8,
    ) -> Result<(), Error> {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = prefix;
        msg.header.scope = AddressScope::Universe;
        msg.header.index = index;
        msg.attributes = vec![
            AddressAttribute::Local(IpAddr::V4(addr)),
            AddressAttribute::Address(IpAddr::V4(addr)),
        ];
        let (verb, flags) = match how {
            AddressOp::Add => ("add", NLM_F_CREATE | NLM_F_EXCL),
            AddressOp::Replace => ("replace", NLM_F_CREATE | NLM_F_REPLACE),
        };
        self.request(RouteNetlinkMessage::NewAddress(msg), flags)
            .map(drop)
            .map_err(refused(format!("ip addr {verb} {addr}/{prefix} dev {dev}")))
    }

    /// `ip route add default via <gw> dev <dev>`, in the main table with
    /// `ip`'s protocol (`boot`).
    pub fn add_default_route(&mut self, dev: &str, index: u32, gw: Ipv4Addr) -> Result<(), Error> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.table = RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes = vec![
            RouteAttribute::Gateway(RouteAddress::Inet(gw)),
            RouteAttribute::Oif(index),
        ];
        self.request(
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(drop)
        .map_err(refused(format!("ip route add default via {gw} dev {dev}")))
    }

    /// `ip link del <name>`; `false` when there was no such device.
    pub fn del_link(&mut self, name: &str) -> Result<bool, Error> {
        let mut msg = LinkMessage::default();
        msg.attributes = vec![LinkAttribute::IfName(name.into())];
        match self.request(RouteNetlinkMessage::DelLink(msg), 0) {
            Ok(_) => Ok(true),
            Err(e) if is_no_device(&e) => Ok(false),
            Err(e) => Err(refused(format!("ip link del {name}"))(e)),
        }
    }

    /// Sends `message` asking for an acknowledgement and waits for it:
    /// the kernel's errno on refusal, else the payload of the reply that
    /// came before the acknowledgement, if any (a `GET`'s answer).
    fn request(&mut self, message: RouteNetlinkMessage, flags: u16) -> io::Result<Option<Vec<u8>>> {
        self.seq = self.seq.wrapping_add(1);
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.seq;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::from(message));
        packet.finalize();
        let mut bytes = vec![0; packet.buffer_len()];
        packet.serialize(&mut bytes);
        self.socket.send(&bytes, 0)?;

        let mut reply = None;
        loop {
            self.buf.clear();
            // MSG_TRUNC: the datagram's real length, to tell a cut one.
            let len = match self
                .socket
                .recv(&mut self.buf, nix::sys::socket::MsgFlags::MSG_TRUNC.bits())
            {
                Ok(len) => len,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if len > self.buf.len() {
                return Err(invalid(format!(
                    "a reply of {len} bytes does not fit in {REPLY_CAPACITY}"
                )));
            }
            let mut rest = &self.buf[..];
            while !rest.is_empty() {
                let msg = NetlinkBuffer::new_checked(rest).map_err(|e| invalid(e.to_string()))?;
                let aligned = (msg.length() as usize).next_multiple_of(NLMSG_ALIGNTO.into());
                // Another request's (an earlier one that gave up) is not ours.
                if msg.sequence_number() == self.seq {
                    match msg.message_type() {
                        NLMSG_ERROR => {
                            let ack = ErrorBuffer::new_checked(msg.payload())
                                .map_err(|e| invalid(e.to_string()))?;
                            return match ack.code() {
                                None => Ok(reply),
                                Some(code) => Err(io::Error::from_raw_os_error(-code.get())),
                            };
                        }
                        NLMSG_NOOP | NLMSG_DONE => {}
                        _ => reply = Some(msg.payload().to_vec()),
                    }
                }
                rest = &rest[aligned.min(rest.len())..];
            }
        }
    }
}

fn invalid(reason: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, reason)
}

fn is_no_device(e: &io::Error) -> bool {
    e.raw_os_error() == Some(nix::errno::Errno::ENODEV as i32)
}

/// Whether `e` is the kernel's "File exists" for a request of this module.
pub fn is_exists(e: &Error) -> bool {
    matches!(e, Error::Netlink { source, .. } if source.kind() == io::ErrorKind::AlreadyExists)
}
