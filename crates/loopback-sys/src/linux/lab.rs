//! The lab paths of `loopback bench`: network namespaces of the bench's own, joined by a veth
//! pair, or by a bridge with DNAT as a container runtime joins them.
//!
//! The namespaces are anonymous: a thread `unshare`s into a new one and the bench keeps only a
//! descriptor of it. Nothing is mounted under `/run/netns` and nothing is added to the
//! namespace the bench runs in, so whatever way the bench ends, the kernel removes the
//! namespaces, their devices and their rules once the descriptors close.
//!
//! Devices, addresses and routes are made with netlink (`RTM_NEWLINK`, `RTM_NEWADDR`,
//! `RTM_NEWROUTE`, the messages of `netlink-packet-route`). Written here rather than with
//! `rtnetlink`, which would bring an async runtime into a tool that is otherwise synchronous
//! for eight requests. The DNAT rule is given to `nft -f -` run from inside the namespace.

use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};

use loopback_model::bench::LinkCounters;
use netlink_packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL, NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use rustix::thread::LinkNameSpaceType;

use crate::bench::{Lab, LabKind, Role};
use crate::parse::sock_diag::DumpError;
use crate::SysError;

/// What the lab paths need, for error messages.
const LAB_PRIVILEGE: &str =
    "needs CAP_SYS_ADMIN and CAP_NET_ADMIN to create network namespaces: run as root";

/// The veth path: client 198.18.200.1, server 198.18.200.2 (RFC 2544's benchmarking range,
/// inside namespaces nothing else sees).
const VETH_CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 200, 1);
const VETH_SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 200, 2);
/// The bridge path: the bridge 198.18.201.1, the container 198.18.201.2, and the host-like
/// namespace's own address 198.18.202.1 whose ports are DNATed to the container.
const BRIDGE_HOST: Ipv4Addr = Ipv4Addr::new(198, 18, 201, 1);
const BRIDGE_CONTAINER: Ipv4Addr = Ipv4Addr::new(198, 18, 201, 2);
const PUBLISHED: Ipv4Addr = Ipv4Addr::new(198, 18, 202, 1);

/// A network namespace of the bench's own, alive while this descriptor is open.
#[derive(Debug)]
struct Netns(OwnedFd);

impl Netns {
    /// A new, empty namespace with `lo` up.
    fn create() -> Result<Netns, SysError> {
        let fd = std::thread::scope(|s| {
            s.spawn(|| -> Result<OwnedFd, SysError> {
                nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
                    .map_err(|e| lab_error("creating a network namespace", e.into()))?;
                rustix::fs::open(
                    "/proc/thread-self/ns/net",
                    rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC,
                    rustix::fs::Mode::empty(),
                )
                .map_err(|e| lab_error("opening the new namespace", e.into()))
            })
            .join()
            .unwrap_or_else(|_| {
                Err(lab_error(
                    "creating a network namespace",
                    std::io::Error::other("panicked"),
                ))
            })
        })?;
        let ns = Netns(fd);
        ns.run(|| set_up(&Rtnl::open()?, "lo"))?;
        Ok(ns)
    }

    /// Move the calling thread into it.
    fn enter(&self) -> Result<(), SysError> {
        rustix::thread::move_into_link_name_space(self.0.as_fd(), Some(LinkNameSpaceType::Network))
            .map_err(|e| lab_error("entering a bench namespace", e.into()))
    }

    /// Run `job` on a thread inside it.
    fn run<T: Send>(
        &self,
        job: impl FnOnce() -> Result<T, SysError> + Send,
    ) -> Result<T, SysError> {
        std::thread::scope(|s| {
            s.spawn(|| {
                self.enter()?;
                job()
            })
            .join()
            .unwrap_or_else(|_| {
                Err(lab_error(
                    "a job in a bench namespace",
                    std::io::Error::other("panicked"),
                ))
            })
        })
    }
}

pub(super) fn lab_error(what: &str, e: std::io::Error) -> SysError {
    let detail = if matches!(e.raw_os_error(), Some(libc::EPERM) | Some(libc::EACCES)) {
        format!("{e}; {LAB_PRIVILEGE}")
    } else {
        e.to_string()
    };
    SysError::Bench {
        what: what.to_owned(),
        detail,
    }
}

/// A lab path, set up.
#[derive(Debug)]
pub(crate) struct LinuxLab {
    kind: LabKind,
    client: Netns,
    server: Netns,
    /// The host-like namespace of the bridge path keeps its bridge and rules alive through
    /// `client`; this is the server's device whose counters prove the traffic crossed.
    server_device: &'static str,
    client_device: &'static str,
    client_mtu: Option<u32>,
}

/// Set up a lab path.
pub(crate) fn create(kind: LabKind) -> Result<LinuxLab, SysError> {
    let client = Netns::create()?;
    let server = Netns::create()?;
    let server_fd = server.0.as_raw_fd();
    match kind {
        LabKind::Veth => {
            client.run(|| {
                let rtnl = Rtnl::open()?;
                rtnl.new_veth("veth0", "veth1", server_fd)?;
                add_address(&rtnl, "veth0", VETH_CLIENT, 24)?;
                set_up(&rtnl, "veth0")
            })?;
            server.run(|| {
                let rtnl = Rtnl::open()?;
                add_address(&rtnl, "veth1", VETH_SERVER, 24)?;
                set_up(&rtnl, "veth1")
            })?;
        }
        LabKind::BridgeNat => {
            client.run(|| {
                let rtnl = Rtnl::open()?;
                rtnl.new_link("br0", InfoKind::Bridge)?;
                rtnl.new_veth("vethc0", "eth0", server_fd)?;
                rtnl.set_master("vethc0", "br0")?;
                add_address(&rtnl, "br0", BRIDGE_HOST, 24)?;
                // The host's own address whose ports are published: on the bridge, as any
                // local address would do (a dummy device needs a module not every kernel has).
                add_address(&rtnl, "br0", PUBLISHED, 32)?;
                for dev in ["br0", "vethc0"] {
                    set_up(&rtnl, dev)?;
                }
                nat_rules()
            })?;
            server.run(|| {
                let rtnl = Rtnl::open()?;
                add_address(&rtnl, "eth0", BRIDGE_CONTAINER, 24)?;
                set_up(&rtnl, "eth0")?;
                rtnl.default_route(BRIDGE_HOST)
            })?;
        }
    }
    let (client_device, server_device) = match kind {
        LabKind::Veth => ("veth0", "veth1"),
        LabKind::BridgeNat => ("br0", "eth0"),
    };
    let client_mtu = client
        .run(|| Ok(Rtnl::open()?.mtu(client_device)))
        .ok()
        .flatten();
    Ok(LinuxLab {
        kind,
        client,
        server,
        server_device,
        client_device,
        client_mtu,
    })
}

/// Docker's rule for a published port, reduced: the host's own address DNATed to the
/// container's, for locally made connections (`output`) as Docker's `DOCKER` chain does.
fn nat_rules() -> Result<(), SysError> {
    let rules = format!(
        "table ip loopback_bench {{\n\
         \tchain output {{ type nat hook output priority -100; policy accept;\n\
         \t\tip daddr {PUBLISHED} dnat to {BRIDGE_CONTAINER}\n\t}}\n}}\n"
    );
    super::firewall::run_with_input("nft", &["-f", "-"], rules.as_bytes())
        .map(drop)
        .map_err(|detail| SysError::Bench {
            what: "the bridge path's DNAT rule (nft)".into(),
            detail,
        })
}

impl Lab for LinuxLab {
    fn enter(&self, role: Role) -> Result<(), SysError> {
        match role {
            Role::Client => self.client.enter(),
            Role::Server => self.server.enter(),
        }
    }
    fn server_addr(&self) -> IpAddr {
        match self.kind {
            LabKind::Veth => VETH_SERVER.into(),
            LabKind::BridgeNat => BRIDGE_CONTAINER.into(),
        }
    }
    fn target(&self) -> IpAddr {
        match self.kind {
            LabKind::Veth => VETH_SERVER.into(),
            LabKind::BridgeNat => PUBLISHED.into(),
        }
    }
    fn device(&self) -> (String, Option<u32>) {
        (self.client_device.to_owned(), self.client_mtu)
    }
    fn counters(&self) -> Result<LinkCounters, SysError> {
        let dev = self.server_device;
        let link = self.server.run(|| Rtnl::open()?.link(dev))?;
        link.attributes
            .iter()
            .find_map(|a| match a {
                LinkAttribute::Stats64(s) => Some(LinkCounters {
                    rx_packets: s.rx_packets,
                    tx_packets: s.tx_packets,
                    rx_bytes: s.rx_bytes,
                    tx_bytes: s.tx_bytes,
                }),
                _ => None,
            })
            .ok_or_else(|| SysError::Bench {
                what: format!("the counters of {dev}"),
                detail: "the kernel sent none".into(),
            })
    }
    fn setup(&self) -> String {
        match self.kind {
            LabKind::Veth => format!(
                "two network namespaces of the bench's own joined by a veth pair \
                 ({VETH_CLIENT}/24 - {VETH_SERVER}/24); removed when the bench ends"
            ),
            LabKind::BridgeNat => format!(
                "a host-like namespace with bridge br0 ({BRIDGE_HOST}/24) and an nft DNAT rule \
                 {PUBLISHED} -> {BRIDGE_CONTAINER}, and a container-like namespace on a veth \
                 port of the bridge; removed when the bench ends"
            ),
        }
    }
}

/// A netlink route socket in the calling thread's namespace.
pub(super) struct Rtnl {
    socket: Socket,
    seq: std::cell::Cell<u32>,
}

impl Rtnl {
    pub(super) fn open() -> Result<Rtnl, SysError> {
        let err = |e| lab_error("opening a netlink socket", e);
        let mut socket = Socket::new(NETLINK_ROUTE).map_err(err)?;
        socket.bind_auto().map_err(err)?;
        socket.connect(&SocketAddr::new(0, 0)).map_err(err)?;
        Ok(Rtnl {
            socket,
            seq: std::cell::Cell::new(1),
        })
    }

    /// Send one request with `NLM_F_ACK` and collect its replies until the acknowledgement.
    pub(super) fn request(
        &self,
        what: &str,
        msg: RouteNetlinkMessage,
        flags: u16,
    ) -> Result<Vec<RouteNetlinkMessage>, SysError> {
        let seq = self.seq.get();
        self.seq.set(seq + 1);
        let req = crate::parse::netlink::request(msg, NLM_F_REQUEST | NLM_F_ACK | flags, seq);
        let err = |e| lab_error(what, e);
        self.socket.send(&req, 0).map_err(err)?;
        let mut replies = Vec::new();
        loop {
            let (buf, _) = self.socket.recv_from_full().map_err(err)?;
            if buf.is_empty() {
                return Err(lab_error(what, std::io::Error::other("netlink closed")));
            }
            for frame in crate::parse::netlink::frames(&buf) {
                let frame = frame.map_err(|e| {
                    lab_error(
                        what,
                        match e {
                            DumpError::Kernel(k) => k,
                            DumpError::Decode(d) => std::io::Error::other(d),
                        },
                    )
                })?;
                let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(frame)
                    .map_err(|e| lab_error(what, std::io::Error::other(e.to_string())))?;
                if msg.header.sequence_number == seq {
                    match msg.payload {
                        NetlinkPayload::Error(e) => {
                            return match e.code {
                                None => Ok(replies),
                                Some(_) => Err(lab_error(what, e.to_io())),
                            }
                        }
                        NetlinkPayload::InnerMessage(m) => replies.push(m),
                        _ => {}
                    }
                }
            }
        }
    }

    fn index(&self, name: &str) -> Result<u32, SysError> {
        nix::net::if_::if_nametoindex(name)
            .map_err(|e| lab_error(&format!("finding {name}"), e.into()))
    }

    fn new_link(&self, name: &str, kind: InfoKind) -> Result<(), SysError> {
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.into()));
        msg.attributes
            .push(LinkAttribute::LinkInfo(vec![LinkInfo::Kind(kind)]));
        self.request(
            &format!("creating {name}"),
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(drop)
    }

    /// A veth pair: `name` here, `peer` in the namespace `peer_ns`.
    fn new_veth(&self, name: &str, peer: &str, peer_ns: i32) -> Result<(), SysError> {
        let mut far = LinkMessage::default();
        far.attributes.push(LinkAttribute::IfName(peer.into()));
        far.attributes.push(LinkAttribute::NetNsFd(peer_ns));
        let mut msg = LinkMessage::default();
        msg.attributes.push(LinkAttribute::IfName(name.into()));
        msg.attributes.push(LinkAttribute::LinkInfo(vec![
            LinkInfo::Kind(InfoKind::Veth),
            LinkInfo::Data(InfoData::Veth(InfoVeth::Peer(far))),
        ]));
        self.request(
            &format!("creating veth {name}"),
            RouteNetlinkMessage::NewLink(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(drop)
    }

    fn set_master(&self, port: &str, bridge: &str) -> Result<(), SysError> {
        let mut msg = LinkMessage::default();
        msg.header.index = self.index(port)?;
        msg.attributes
            .push(LinkAttribute::Controller(self.index(bridge)?));
        self.request(
            &format!("adding {port} to {bridge}"),
            RouteNetlinkMessage::SetLink(msg),
            0,
        )
        .map(drop)
    }

    fn default_route(&self, via: Ipv4Addr) -> Result<(), SysError> {
        let mut msg = RouteMessage::default();
        msg.header.address_family = AddressFamily::Inet;
        msg.header.table = netlink_packet_route::route::RouteHeader::RT_TABLE_MAIN;
        msg.header.protocol = RouteProtocol::Boot;
        msg.header.scope = RouteScope::Universe;
        msg.header.kind = RouteType::Unicast;
        msg.attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(via)));
        self.request(
            "adding the default route",
            RouteNetlinkMessage::NewRoute(msg),
            NLM_F_CREATE | NLM_F_EXCL,
        )
        .map(drop)
    }

    /// A link's MTU, when it can be read.
    pub(super) fn mtu(&self, name: &str) -> Option<u32> {
        self.link(name)
            .ok()?
            .attributes
            .iter()
            .find_map(|a| match a {
                LinkAttribute::Mtu(m) => Some(*m),
                _ => None,
            })
    }

    /// One link's message (`RTM_GETLINK` by index), with its MTU and counters.
    pub(super) fn link(&self, name: &str) -> Result<LinkMessage, SysError> {
        let mut msg = LinkMessage::default();
        msg.header.index = self.index(name)?;
        self.request(
            &format!("reading {name}"),
            RouteNetlinkMessage::GetLink(msg),
            0,
        )?
        .into_iter()
        .find_map(|m| match m {
            RouteNetlinkMessage::NewLink(l) => Some(l),
            _ => None,
        })
        .ok_or_else(|| {
            lab_error(
                &format!("reading {name}"),
                std::io::Error::other("no reply"),
            )
        })
    }
}

fn set_up(rtnl: &Rtnl, name: &str) -> Result<(), SysError> {
    let mut msg = LinkMessage::default();
    msg.header.index = rtnl.index(name)?;
    msg.header.flags = LinkFlags::Up;
    msg.header.change_mask = LinkFlags::Up;
    rtnl.request(
        &format!("setting {name} up"),
        RouteNetlinkMessage::SetLink(msg),
        0,
    )
    .map(drop)
}

fn add_address(rtnl: &Rtnl, name: &str, addr: Ipv4Addr, prefix: u8) -> Result<(), SysError> {
    let mut msg = AddressMessage::default();
    msg.header.family = AddressFamily::Inet;
    msg.header.prefix_len = prefix;
    msg.header.index = rtnl.index(name)?;
    msg.attributes.push(AddressAttribute::Local(addr.into()));
    msg.attributes.push(AddressAttribute::Address(addr.into()));
    rtnl.request(
        &format!("adding {addr}/{prefix} to {name}"),
        RouteNetlinkMessage::NewAddress(msg),
        NLM_F_CREATE | NLM_F_EXCL,
    )
    .map(drop)
}
