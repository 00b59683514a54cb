//! What an address is: the special-purpose range that contains it and the RFC behind it.
//!
//! One table, longest prefix wins. IPv4-mapped IPv6 addresses (`::ffff:0:0/96`, RFC 4291
//! §2.5.5.2) are classified by the IPv4 address they carry, because that is how the kernel
//! treats them on a dual-stack socket.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::OnceLock;

use ipnet::IpNet;
use loopback_model::{AddressClass, AddressKind};

struct Range {
    net: IpNet,
    kind: AddressKind,
    name: &'static str,
    rfc: &'static str,
}

const TABLE: &[(&str, AddressKind, &str, &str)] = &[
    (
        "0.0.0.0/32",
        AddressKind::Unspecified,
        "IPv4 unspecified (any) address",
        "RFC 1122 §3.2.1.3",
    ),
    (
        "0.0.0.0/8",
        AddressKind::ThisNetwork,
        "\"this network\"",
        "RFC 791, RFC 1122 §3.2.1.3",
    ),
    (
        "10.0.0.0/8",
        AddressKind::Private,
        "private-use (RFC 1918)",
        "RFC 1918",
    ),
    (
        "100.64.0.0/10",
        AddressKind::Shared,
        "shared address space (carrier-grade NAT)",
        "RFC 6598",
    ),
    (
        "127.0.0.0/8",
        AddressKind::Loopback,
        "IPv4 loopback",
        "RFC 1122 §3.2.1.3",
    ),
    (
        "169.254.0.0/16",
        AddressKind::LinkLocal,
        "IPv4 link-local",
        "RFC 3927",
    ),
    (
        "172.16.0.0/12",
        AddressKind::Private,
        "private-use (RFC 1918)",
        "RFC 1918",
    ),
    (
        "192.0.0.0/24",
        AddressKind::Reserved,
        "IETF protocol assignments",
        "RFC 6890",
    ),
    (
        "192.0.2.0/24",
        AddressKind::Documentation,
        "documentation (TEST-NET-1)",
        "RFC 5737",
    ),
    (
        "192.88.99.0/24",
        AddressKind::Reserved,
        "deprecated 6to4 relay anycast",
        "RFC 7526",
    ),
    (
        "192.168.0.0/16",
        AddressKind::Private,
        "private-use (RFC 1918)",
        "RFC 1918",
    ),
    (
        "198.18.0.0/15",
        AddressKind::Benchmarking,
        "benchmarking",
        "RFC 2544",
    ),
    (
        "198.51.100.0/24",
        AddressKind::Documentation,
        "documentation (TEST-NET-2)",
        "RFC 5737",
    ),
    (
        "203.0.113.0/24",
        AddressKind::Documentation,
        "documentation (TEST-NET-3)",
        "RFC 5737",
    ),
    (
        "224.0.0.0/4",
        AddressKind::Multicast,
        "IPv4 multicast",
        "RFC 5771",
    ),
    (
        "240.0.0.0/4",
        AddressKind::Reserved,
        "reserved for future use",
        "RFC 1112",
    ),
    (
        "255.255.255.255/32",
        AddressKind::Broadcast,
        "limited broadcast",
        "RFC 919, RFC 8190",
    ),
    (
        "0.0.0.0/0",
        AddressKind::Public,
        "public (globally routable) IPv4",
        "RFC 6890",
    ),
    (
        "::/128",
        AddressKind::Unspecified,
        "IPv6 unspecified (any) address",
        "RFC 4291 §2.5.2",
    ),
    (
        "::1/128",
        AddressKind::Loopback,
        "IPv6 loopback",
        "RFC 4291 §2.5.3",
    ),
    (
        "64:ff9b::/96",
        AddressKind::Translation,
        "IPv4/IPv6 translation (NAT64)",
        "RFC 6052",
    ),
    (
        "64:ff9b:1::/48",
        AddressKind::Translation,
        "local-use IPv4/IPv6 translation",
        "RFC 8215",
    ),
    (
        "100::/64",
        AddressKind::DiscardOnly,
        "discard-only",
        "RFC 6666",
    ),
    (
        "2001:2::/48",
        AddressKind::Benchmarking,
        "IPv6 benchmarking",
        "RFC 5180",
    ),
    (
        "2001:db8::/32",
        AddressKind::Documentation,
        "IPv6 documentation",
        "RFC 3849",
    ),
    (
        "3fff::/20",
        AddressKind::Documentation,
        "IPv6 documentation",
        "RFC 9637",
    ),
    (
        "fc00::/7",
        AddressKind::Private,
        "unique local address (ULA)",
        "RFC 4193",
    ),
    (
        "fe80::/10",
        AddressKind::LinkLocal,
        "IPv6 link-local unicast",
        "RFC 4291 §2.5.6",
    ),
    (
        "fec0::/10",
        AddressKind::SiteLocal,
        "deprecated site-local",
        "RFC 3879",
    ),
    (
        "ff00::/8",
        AddressKind::Multicast,
        "IPv6 multicast",
        "RFC 4291 §2.7",
    ),
    (
        "2000::/3",
        AddressKind::Public,
        "public (global unicast) IPv6",
        "RFC 4291 §2.5.4",
    ),
    (
        "::/0",
        AddressKind::Reserved,
        "outside the IPv6 global unicast space, unassigned",
        "RFC 4291",
    ),
];

fn table() -> &'static [Range] {
    static RANGES: OnceLock<Vec<Range>> = OnceLock::new();
    RANGES.get_or_init(|| {
        TABLE
            .iter()
            .filter_map(|(net, kind, name, rfc)| {
                Some(Range {
                    net: net.parse().ok()?,
                    kind: *kind,
                    name,
                    rfc,
                })
            })
            .collect()
    })
}

/// An IPv4-mapped IPv6 address as the IPv4 address it carries; anything else unchanged.
pub fn unmap(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// True for 127.0.0.0/8, `::1` and IPv4-mapped 127.0.0.0/8.
pub fn is_loopback(ip: IpAddr) -> bool {
    unmap(ip).is_loopback()
}

/// True for `0.0.0.0`, `::` and `::ffff:0.0.0.0`.
pub fn is_wildcard(ip: IpAddr) -> bool {
    unmap(ip).is_unspecified()
}

fn best(ip: IpAddr) -> Option<&'static Range> {
    table()
        .iter()
        .filter(|r| r.net.contains(&ip))
        .max_by_key(|r| r.net.prefix_len())
}

/// Classify one address.
pub fn classify(ip: IpAddr) -> AddressClass {
    let mapped_ipv4: Option<Ipv4Addr> = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped(),
        IpAddr::V4(_) => None,
    };
    let lookup = mapped_ipv4.map_or(ip, IpAddr::V4);
    match best(lookup) {
        Some(r) => AddressClass {
            kind: r.kind,
            range: r.net.to_string(),
            range_name: if mapped_ipv4.is_some() {
                format!("IPv4-mapped IPv6 (RFC 4291 §2.5.5.2) of {}", r.name)
            } else {
                r.name.to_owned()
            },
            rfc: r.rfc.to_owned(),
            mapped_ipv4,
        },
        // Unreachable: the table ends with 0.0.0.0/0 and ::/0. Still, never panic.
        None => AddressClass {
            kind: AddressKind::Reserved,
            range: lookup.to_string(),
            range_name: "unknown".into(),
            rfc: String::new(),
            mapped_ipv4,
        },
    }
}

fn overlaps(a: &IpNet, b: &IpNet) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// Classify a network: the class of its first address, and whether every address of the network
/// has that same class (false when the network spans several special-purpose ranges).
pub fn classify_net(net: IpNet) -> (AddressClass, bool) {
    let class = classify(net.network());
    let homogeneous = best(net.network()).is_some_and(|range| {
        range.net.contains(&net)
            && !table().iter().any(|other| {
                other.net.prefix_len() > range.net.prefix_len()
                    && overlaps(&other.net, &net)
                    && !other.net.contains(&net)
            })
    });
    (class, homogeneous)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> AddressKind {
        classify(s.parse().expect("test address")).kind
    }

    #[test]
    fn whole_127_block_is_loopback() {
        for a in [
            "127.0.0.1",
            "127.0.0.2",
            "127.0.0.53",
            "127.1.2.3",
            "127.255.255.254",
        ] {
            assert_eq!(kind(a), AddressKind::Loopback, "{a}");
            assert!(is_loopback(a.parse().expect("ip")));
        }
        assert_eq!(kind("128.0.0.1"), AddressKind::Public);
        assert_eq!(kind("126.255.255.255"), AddressKind::Public);
    }

    #[test]
    fn ipv6_loopback_and_mapped() {
        assert_eq!(kind("::1"), AddressKind::Loopback);
        let c = classify("::ffff:127.0.0.1".parse().expect("ip"));
        assert_eq!(c.kind, AddressKind::Loopback);
        assert_eq!(c.mapped_ipv4, Some(Ipv4Addr::new(127, 0, 0, 1)));
        assert!(c.range_name.contains("IPv4-mapped"));
        assert_eq!(kind("::ffff:10.1.2.3"), AddressKind::Private);
        assert_eq!(kind("::ffff:0.0.0.0"), AddressKind::Unspecified);
        assert!(is_loopback("::ffff:127.9.9.9".parse().expect("ip")));
        assert!(!is_loopback("::2".parse().expect("ip")));
        // The deprecated IPv4-compatible form is not loopback.
        assert!(!is_loopback("::127.0.0.1".parse().expect("ip")));
    }

    #[test]
    fn wildcards() {
        assert_eq!(kind("0.0.0.0"), AddressKind::Unspecified);
        assert_eq!(kind("::"), AddressKind::Unspecified);
        assert_eq!(kind("0.1.2.3"), AddressKind::ThisNetwork);
        for a in ["0.0.0.0", "::", "::ffff:0.0.0.0"] {
            assert!(is_wildcard(a.parse().expect("ip")), "{a}");
        }
        assert!(!is_wildcard("0.0.0.1".parse().expect("ip")));
    }

    #[test]
    fn every_special_range() {
        let cases = [
            ("169.254.1.1", AddressKind::LinkLocal, "RFC 3927"),
            ("fe80::1", AddressKind::LinkLocal, "RFC 4291 §2.5.6"),
            ("10.0.0.1", AddressKind::Private, "RFC 1918"),
            ("172.16.0.1", AddressKind::Private, "RFC 1918"),
            ("172.31.255.255", AddressKind::Private, "RFC 1918"),
            ("192.168.1.1", AddressKind::Private, "RFC 1918"),
            ("fd00::1", AddressKind::Private, "RFC 4193"),
            ("fc00::1", AddressKind::Private, "RFC 4193"),
            ("100.64.0.1", AddressKind::Shared, "RFC 6598"),
            ("100.127.255.255", AddressKind::Shared, "RFC 6598"),
            ("192.0.2.1", AddressKind::Documentation, "RFC 5737"),
            ("198.51.100.7", AddressKind::Documentation, "RFC 5737"),
            ("203.0.113.9", AddressKind::Documentation, "RFC 5737"),
            ("2001:db8::1", AddressKind::Documentation, "RFC 3849"),
            ("3fff::1", AddressKind::Documentation, "RFC 9637"),
            ("198.18.0.1", AddressKind::Benchmarking, "RFC 2544"),
            ("198.19.255.255", AddressKind::Benchmarking, "RFC 2544"),
            ("2001:2::1", AddressKind::Benchmarking, "RFC 5180"),
            ("224.0.0.251", AddressKind::Multicast, "RFC 5771"),
            ("ff02::1", AddressKind::Multicast, "RFC 4291 §2.7"),
            (
                "255.255.255.255",
                AddressKind::Broadcast,
                "RFC 919, RFC 8190",
            ),
            ("240.0.0.1", AddressKind::Reserved, "RFC 1112"),
            ("192.0.0.8", AddressKind::Reserved, "RFC 6890"),
            ("64:ff9b::1.2.3.4", AddressKind::Translation, "RFC 6052"),
            ("100::1", AddressKind::DiscardOnly, "RFC 6666"),
            ("fec0::1", AddressKind::SiteLocal, "RFC 3879"),
            ("8.8.8.8", AddressKind::Public, "RFC 6890"),
            ("172.32.0.1", AddressKind::Public, "RFC 6890"),
            ("2a00:1450::1", AddressKind::Public, "RFC 4291 §2.5.4"),
        ];
        for (addr, want, rfc) in cases {
            let c = classify(addr.parse().expect("ip"));
            assert_eq!((c.kind, c.rfc.as_str()), (want, rfc), "{addr}");
        }
    }

    #[test]
    fn networks() {
        let (c, inside) = classify_net("127.0.0.0/8".parse().expect("net"));
        assert_eq!(c.kind, AddressKind::Loopback);
        assert!(inside);
        let (c, inside) = classify_net("127.0.0.0/7".parse().expect("net"));
        assert_eq!(c.kind, AddressKind::Public); // 126.0.0.0/7 starts outside
        assert!(!inside);
        let (c, inside) = classify_net("10.1.0.0/16".parse().expect("net"));
        assert_eq!(c.kind, AddressKind::Private);
        assert!(inside);
        let (c, inside) = classify_net("8.0.0.0/8".parse().expect("net"));
        assert_eq!(c.kind, AddressKind::Public);
        assert!(inside);
        let (_, inside) = classify_net("0.0.0.0/0".parse().expect("net"));
        assert!(!inside);
    }
}
