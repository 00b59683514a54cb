//! Netlink `RTM_GETLINK` dumps: what kind of device each interface is (`veth`, `bridge`,
//! `wireguard`, ...), which bridge it is a port of, and whether its far end (a veth peer) lives
//! in another network namespace. `getifaddrs(3)` gives names and addresses but none of this,
//! and it is what decides whether an interface leads off the machine.
//!
//! The message layouts come from `netlink-packet-route`; decoding takes the raw bytes the
//! kernel returned, so tests replay recorded dumps.

use netlink_packet_core::{NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_route::link::{LinkAttribute, LinkInfo, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;

use super::sock_diag::DumpError;

/// What a link dump says about one interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkFacts {
    /// The interface index.
    pub index: u32,
    /// Its name.
    pub name: String,
    /// `IFLA_INFO_KIND`: `veth`, `bridge`, `vxlan`, ...; `None` for a physical device.
    pub kind: Option<String>,
    /// `IFLA_MASTER`: the bridge (or bond, VRF) it is a port of.
    pub master: Option<u32>,
    /// `IFLA_LINK_NETNSID`: the far end lives in another network namespace.
    pub link_netnsid: Option<i32>,
}

/// The serialized `RTM_GETLINK` dump request with sequence number `seq`.
pub fn link_dump_request(seq: u32) -> Vec<u8> {
    super::netlink::request(
        RouteNetlinkMessage::GetLink(LinkMessage::default()),
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
    )
}

/// Decode one `recv` worth of link dump replies into `out`. Returns `true` once `NLMSG_DONE`
/// has been seen. A message this crate cannot decode is skipped, not fatal: one odd device
/// must not hide the others.
pub fn decode_link_chunk(buf: &[u8], out: &mut Vec<LinkFacts>) -> Result<bool, DumpError> {
    super::policy::walk_dump_chunk(buf, |m| {
        if let RouteNetlinkMessage::NewLink(link) = m {
            out.push(facts(&link));
        }
    })
}

fn facts(link: &LinkMessage) -> LinkFacts {
    let mut f = LinkFacts {
        index: link.header.index,
        ..LinkFacts::default()
    };
    for attr in &link.attributes {
        match attr {
            LinkAttribute::IfName(n) => f.name.clone_from(n),
            LinkAttribute::Controller(m) if *m != 0 => f.master = Some(*m),
            LinkAttribute::LinkNetNsId(id) => f.link_netnsid = Some(*id),
            LinkAttribute::LinkInfo(infos) => {
                for info in infos {
                    if let LinkInfo::Kind(kind) = info {
                        f.kind = Some(kind.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut out = Vec::new();
        assert!(decode_link_chunk(&[0xff; 40], &mut out).is_err());
        assert!(decode_link_chunk(&[1, 2, 3], &mut out).is_ok());
        assert!(out.is_empty());
    }

    #[test]
    fn the_request_is_a_dump() {
        let req = link_dump_request(7);
        assert_eq!(
            req.len() as u32,
            u32::from_ne_bytes([req[0], req[1], req[2], req[3]])
        );
        // RTM_GETLINK
        assert_eq!(u16::from_ne_bytes([req[4], req[5]]), 18);
    }
}
