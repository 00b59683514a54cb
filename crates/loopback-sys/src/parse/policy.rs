//! Policy routing over netlink: one `RTM_GETROUTE` that asks the kernel which route a packet
//! with a given destination, owner uid and mark takes (the answer names the table, with
//! `RTM_F_LOOKUP_TABLE`), and the `RTM_GETRULE` dump of `ip rule`. The message layouts come
//! from `netlink-packet-route`; decoding takes bytes, so tests replay replies.

use std::net::IpAddr;

use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteFlags, RouteHeader, RouteMessage, RouteType,
};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleFlags, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::sock_diag::DumpError;
pub use crate::routing::{PolicyRule, RouteAnswer, RouteKind, RuleVerdict};

/// The serialized `RTM_GETROUTE` for `dest`, as a socket of `uid` with `mark` would send.
pub fn route_get_request(dest: IpAddr, uid: Option<u32>, mark: u32, seq: u32) -> Vec<u8> {
    let mut msg = RouteMessage::default();
    msg.header = RouteHeader {
        address_family: if dest.is_ipv4() {
            AddressFamily::Inet
        } else {
            AddressFamily::Inet6
        },
        destination_prefix_length: if dest.is_ipv4() { 32 } else { 128 },
        flags: RouteFlags::LookupTable,
        ..RouteHeader::default()
    };
    msg.attributes
        .push(RouteAttribute::Destination(RouteAddress::from(dest)));
    if let Some(u) = uid {
        msg.attributes.push(RouteAttribute::Uid(u));
    }
    if mark != 0 {
        msg.attributes.push(RouteAttribute::Mark(mark));
    }
    super::netlink::request(RouteNetlinkMessage::GetRoute(msg), NLM_F_REQUEST, seq)
}

fn ip_of(a: &RouteAddress) -> Option<IpAddr> {
    match a {
        RouteAddress::Inet(v) => Some(IpAddr::V4(*v)),
        RouteAddress::Inet6(v) => Some(IpAddr::V6(*v)),
        _ => None,
    }
}

/// The answer in the reply to [`route_get_request`]; `Ok(None)` when the bytes hold none yet.
pub fn decode_route_answer(buf: &[u8]) -> Result<Option<RouteAnswer>, DumpError> {
    for frame in super::netlink::frames(buf) {
        let frame = frame?;
        let Ok(msg) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(frame) else {
            continue;
        };
        match msg.payload {
            NetlinkPayload::Error(e) if e.code.is_some() => {
                return Err(DumpError::Kernel(e.to_io()))
            }
            NetlinkPayload::InnerMessage(RouteNetlinkMessage::NewRoute(r)) => {
                let mut a = RouteAnswer {
                    table: u32::from(r.header.table),
                    kind: match r.header.kind {
                        RouteType::Unicast => RouteKind::Unicast,
                        RouteType::Local => RouteKind::Local,
                        RouteType::BlackHole => RouteKind::Blackhole,
                        RouteType::Unreachable => RouteKind::Unreachable,
                        RouteType::Prohibit => RouteKind::Prohibit,
                        _ => RouteKind::Other,
                    },
                    oif: None,
                    gateway: None,
                    source: None,
                };
                for attr in &r.attributes {
                    match attr {
                        RouteAttribute::Table(t) => a.table = *t,
                        RouteAttribute::Oif(i) => a.oif = Some(*i),
                        RouteAttribute::Gateway(g) => a.gateway = ip_of(g),
                        RouteAttribute::PrefSource(s) => a.source = ip_of(s),
                        _ => {}
                    }
                }
                return Ok(Some(a));
            }
            _ => {}
        }
    }
    Ok(None)
}

/// The serialized `RTM_GETROUTE` dump of every table of both families.
pub fn route_dump_request(seq: u32) -> Vec<u8> {
    let mut msg = RouteMessage::default();
    msg.header.address_family = AddressFamily::Unspec;
    super::netlink::request(
        RouteNetlinkMessage::GetRoute(msg),
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
    )
}

/// Each `NETLINK_ROUTE` message of one `recv` of a dump, to `each`; `true` once `NLMSG_DONE`
/// was seen. A message this crate cannot decode is skipped, not fatal: one odd entry must not
/// hide the others.
pub fn walk_dump_chunk(
    buf: &[u8],
    mut each: impl FnMut(RouteNetlinkMessage),
) -> Result<bool, DumpError> {
    for frame in super::netlink::frames(buf) {
        let frame = frame?;
        let Ok(msg) = NetlinkMessage::<RouteNetlinkMessage>::deserialize(frame) else {
            // NLMSG_DONE whose body the crate did not accept.
            if u16::from_ne_bytes([frame[4], frame[5]]) == 3 {
                return Ok(true);
            }
            continue;
        };
        match msg.payload {
            NetlinkPayload::Done(_) => return Ok(true),
            NetlinkPayload::Error(e) if e.code.is_some() => {
                return Err(DumpError::Kernel(e.to_io()))
            }
            NetlinkPayload::InnerMessage(m) => each(m),
            _ => {}
        }
    }
    Ok(false)
}

/// Decode one `recv` of a route dump into (table, output interface index) pairs; `true` once
/// `NLMSG_DONE` was seen.
pub fn decode_route_dump_chunk(
    buf: &[u8],
    out: &mut Vec<(u32, Option<u32>)>,
) -> Result<bool, DumpError> {
    walk_dump_chunk(buf, |m| {
        if let RouteNetlinkMessage::NewRoute(r) = m {
            let mut table = u32::from(r.header.table);
            let mut oif = None;
            for a in &r.attributes {
                match a {
                    RouteAttribute::Table(t) => table = *t,
                    RouteAttribute::Oif(i) => oif = Some(*i),
                    _ => {}
                }
            }
            out.push((table, oif));
        }
    })
}

/// The serialized `RTM_GETRULE` dump of one family.
pub fn rule_dump_request(v4: bool, seq: u32) -> Vec<u8> {
    let mut msg = RuleMessage::default();
    msg.header.family = if v4 {
        AddressFamily::Inet
    } else {
        AddressFamily::Inet6
    };
    super::netlink::request(
        RouteNetlinkMessage::GetRule(msg),
        NLM_F_REQUEST | NLM_F_DUMP,
        seq,
    )
}

/// Decode one `recv` of a rule dump into `out`; `true` once `NLMSG_DONE` was seen.
pub fn decode_rule_chunk(buf: &[u8], out: &mut Vec<PolicyRule>) -> Result<bool, DumpError> {
    walk_dump_chunk(buf, |m| {
        if let RouteNetlinkMessage::NewRule(r) = m {
            out.push(rule_of(&r));
        }
    })
}

fn rule_of(r: &RuleMessage) -> PolicyRule {
    let h = &r.header;
    let mut p = PolicyRule {
        v4: h.family == AddressFamily::Inet,
        priority: 0,
        invert: h.flags.contains(RuleFlags::Invert),
        from: None,
        to: None,
        fwmark: None,
        uidrange: None,
        iif: None,
        oif: None,
        suppress_prefixlength: None,
        verdict: match h.action {
            RuleAction::ToTable => RuleVerdict::Table,
            RuleAction::Goto => RuleVerdict::Goto,
            RuleAction::Blackhole => RuleVerdict::Blackhole,
            RuleAction::Unreachable => RuleVerdict::Unreachable,
            RuleAction::Prohibit => RuleVerdict::Prohibit,
            _ => RuleVerdict::Nop,
        },
        table: u32::from(h.table),
    };
    let mut mask = None;
    for a in &r.attributes {
        match a {
            RuleAttribute::Priority(n) => p.priority = *n,
            RuleAttribute::Source(ip) => p.from = Some((*ip, h.src_len)),
            RuleAttribute::Destination(ip) => p.to = Some((*ip, h.dst_len)),
            RuleAttribute::FwMark(m) => p.fwmark = Some((*m, u32::MAX)),
            RuleAttribute::FwMask(m) => mask = Some(*m),
            RuleAttribute::UidRange(u) => p.uidrange = Some((u.start, u.end)),
            RuleAttribute::Iifname(n) => p.iif = Some(n.clone()),
            RuleAttribute::Oifname(n) => p.oif = Some(n.clone()),
            RuleAttribute::Table(t) => p.table = *t,
            // The kernel reports "none" as u32::MAX.
            RuleAttribute::SuppressPrefixLen(n) if *n != u32::MAX => {
                p.suppress_prefixlength = Some(*n);
            }
            _ => {}
        }
    }
    if let (Some((v, _)), Some(m)) = (p.fwmark, mask) {
        p.fwmark = Some((v, m));
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_request_carries_the_uid_and_the_mark() {
        let b = route_get_request("198.18.0.9".parse().unwrap(), Some(1000), 0x1, 3);
        let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&b).expect("parses");
        let NetlinkPayload::InnerMessage(RouteNetlinkMessage::GetRoute(r)) = msg.payload else {
            panic!("not a GETROUTE");
        };
        assert!(r.attributes.contains(&RouteAttribute::Uid(1000)));
        assert!(r.attributes.contains(&RouteAttribute::Mark(1)));
        assert!(r.header.flags.contains(RouteFlags::LookupTable));
        let b = route_get_request("::1".parse().unwrap(), None, 0, 3);
        let msg = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&b).expect("parses");
        let NetlinkPayload::InnerMessage(RouteNetlinkMessage::GetRoute(r)) = msg.payload else {
            panic!("not a GETROUTE");
        };
        assert_eq!(r.attributes.len(), 1);
    }
}
