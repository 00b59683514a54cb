//! The vocabulary for what an address is.

use serde::{Deserialize, Serialize};

/// The kind of an IP address, by the special-purpose range that contains it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AddressKind {
    /// 127.0.0.0/8, `::1`, and IPv4-mapped 127.0.0.0/8.
    Loopback,
    /// `0.0.0.0` and `::`: "any address" when bound.
    Unspecified,
    /// 0.0.0.0/8 other than 0.0.0.0: "this network", never a valid destination.
    ThisNetwork,
    /// 169.254.0.0/16, fe80::/10.
    LinkLocal,
    /// RFC 1918 IPv4 and IPv6 unique local addresses (fc00::/7).
    Private,
    /// 100.64.0.0/10, carrier-grade NAT.
    Shared,
    /// 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32, 3fff::/20.
    Documentation,
    /// 198.18.0.0/15, 2001:2::/48.
    Benchmarking,
    /// 224.0.0.0/4, ff00::/8.
    Multicast,
    /// 255.255.255.255.
    Broadcast,
    /// 192.0.0.0/24 and 240.0.0.0/4 and other ranges reserved by the IETF.
    Reserved,
    /// 64:ff9b::/96 and 64:ff9b:1::/48, IPv4/IPv6 translation.
    Translation,
    /// 100::/64, discard-only.
    DiscardOnly,
    /// fec0::/10, deprecated site-local.
    SiteLocal,
    /// Globally routable unicast.
    Public,
}

impl AddressKind {
    /// The kebab-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AddressKind::Loopback => "loopback",
            AddressKind::Unspecified => "unspecified",
            AddressKind::ThisNetwork => "this-network",
            AddressKind::LinkLocal => "link-local",
            AddressKind::Private => "private",
            AddressKind::Shared => "shared",
            AddressKind::Documentation => "documentation",
            AddressKind::Benchmarking => "benchmarking",
            AddressKind::Multicast => "multicast",
            AddressKind::Broadcast => "broadcast",
            AddressKind::Reserved => "reserved",
            AddressKind::Translation => "translation",
            AddressKind::DiscardOnly => "discard-only",
            AddressKind::SiteLocal => "site-local",
            AddressKind::Public => "public",
        }
    }
}

/// What an address is: its kind, the range that makes it so, and the RFC that defines the range.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressClass {
    /// The kind.
    pub kind: AddressKind,
    /// The special-purpose range, as a CIDR (`::/0` or `0.0.0.0/0` for public addresses).
    pub range: String,
    /// Human name of the range, e.g. "IPv4 loopback".
    pub range_name: String,
    /// Defining document, e.g. "RFC 1122".
    pub rfc: String,
    /// For an IPv4-mapped IPv6 address, the IPv4 address it maps.
    pub mapped_ipv4: Option<std::net::Ipv4Addr>,
}
