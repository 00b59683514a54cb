//! `AI_ADDRCONFIG` and the per-address data glibc's `__check_pf` reads, from a snapshot's
//! interfaces and IPv6 address flags; source addresses from its route look-ups.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

pub use loopback_sys::parse::if_inet6::{IFA_F_DEPRECATED, IFA_F_HOMEADDRESS, IFA_F_OPTIMISTIC};

use super::rfc6724::{as_v6, Dest};
use crate::snapshot::Snapshot;

/// An address of this namespace as `__check_pf` records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAddr {
    /// IPv4 addresses are kept as IPv4 here and mapped when looked up.
    pub addr: IpAddr,
    /// Its prefix length.
    pub prefix_len: u8,
    /// Its interface index.
    pub index: u32,
    /// Its IFA flags (IPv6 only).
    pub flags: u32,
}

/// What `__check_pf` learns from the namespace's addresses.
#[derive(Debug, Clone, Default)]
pub struct AddrConfig {
    /// An IPv4 address other than exactly 127.0.0.1 exists.
    pub seen_v4: bool,
    /// An IPv6 address other than `::1` exists.
    pub seen_v6: bool,
    /// Per-address data, which glibc keeps only when it saw IPv6.
    pub in6ai: Vec<LocalAddr>,
}

impl AddrConfig {
    /// What `__check_pf` concludes from these addresses.
    pub fn from_locals(locals: Vec<LocalAddr>) -> AddrConfig {
        let seen_v4 = locals
            .iter()
            .any(|l| matches!(l.addr, IpAddr::V4(a) if a != Ipv4Addr::LOCALHOST));
        let seen_v6 = locals
            .iter()
            .any(|l| matches!(l.addr, IpAddr::V6(a) if a != Ipv6Addr::LOCALHOST));
        AddrConfig {
            seen_v4,
            seen_v6,
            in6ai: if seen_v6 { locals } else { Vec::new() },
        }
    }

    pub(crate) fn lookup(&self, src: IpAddr) -> Option<&LocalAddr> {
        let want = as_v6(src);
        self.in6ai.iter().find(|l| as_v6(l.addr) == want)
    }
}

/// The namespace's addresses: IPv4 from the interfaces, IPv6 with the IFA flags glibc reads,
/// falling back to the interfaces' IPv6 addresses when the flags were not captured.
pub fn local_addresses(snap: &Snapshot) -> Vec<LocalAddr> {
    let ifaces = snap.interface_list();
    // One family of the interfaces' addresses, without flags.
    let of_family = |v4: bool| {
        ifaces.iter().flat_map(move |i| {
            i.addresses
                .iter()
                .filter(move |a| a.address.is_ipv4() == v4)
                .map(move |a| LocalAddr {
                    addr: a.address,
                    prefix_len: a.prefix_len,
                    index: i.index,
                    flags: 0,
                })
        })
    };
    let mut out: Vec<LocalAddr> = of_family(true).collect();
    match snap.ipv6_addresses.ok() {
        Some(v6) => out.extend(v6.iter().map(|r| LocalAddr {
            addr: IpAddr::V6(r.address),
            prefix_len: r.prefix_len,
            index: r.ifindex,
            flags: r.flags,
        })),
        None => out.extend(of_family(false)),
    }
    out
}

/// Attach source addresses as glibc does (a UDP `connect`, captured in the snapshot's route
/// look-ups), then the `in6ai` entry of the source. A destination whose route was not looked
/// up counts as unreachable.
pub fn destinations(snap: &Snapshot, addrs: &[IpAddr], cfg: &AddrConfig) -> Vec<Dest> {
    addrs
        .iter()
        .enumerate()
        .map(|(idx, a)| {
            let source = snap.route_sources.get(a).copied().flatten();
            let info = source.and_then(|s| cfg.lookup(s));
            Dest {
                addr: *a,
                idx,
                source,
                flags: info.map_or(0, |i| i.flags),
                prefix_len: info.map_or(0, |i| i.prefix_len),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn addrconfig_rules() {
        let l = |a: &str| LocalAddr {
            addr: ip(a),
            prefix_len: 8,
            index: 1,
            flags: 0,
        };
        let c = AddrConfig::from_locals(vec![l("127.0.0.1"), l("::1")]);
        assert!(!c.seen_v4 && !c.seen_v6);
        let c = AddrConfig::from_locals(vec![l("127.0.0.1"), l("127.0.0.2")]);
        assert!(c.seen_v4, "anything but exactly 127.0.0.1 counts");
        assert!(
            c.in6ai.is_empty(),
            "per-address data only when IPv6 was seen"
        );
        let c = AddrConfig::from_locals(vec![l("127.0.0.1"), l("fe80::1")]);
        assert!(c.seen_v6 && !c.seen_v4);
        assert_eq!(c.in6ai.len(), 2);
    }
}
