//! `/proc/net/if_inet6`: IPv6 addresses with their interface, prefix length and IFA flags.

use std::net::Ipv6Addr;

/// `IFA_F_OPTIMISTIC`, `IFA_F_HOMEADDRESS`, `IFA_F_DEPRECATED` (linux/if_addr.h).
pub const IFA_F_OPTIMISTIC: u32 = 0x04;
/// `IFA_F_HOMEADDRESS`.
pub const IFA_F_HOMEADDRESS: u32 = 0x10;
/// `IFA_F_DEPRECATED`.
pub const IFA_F_DEPRECATED: u32 = 0x20;

/// One IPv6 address.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Inet6Addr {
    /// The address.
    pub address: Ipv6Addr,
    /// Its interface index.
    pub ifindex: u32,
    /// Its prefix length.
    pub prefix_len: u8,
    /// Its IFA flags.
    pub flags: u32,
    /// Its interface name.
    pub ifname: String,
}

/// Parse `/proc/net/if_inet6`; rows that do not parse are skipped.
pub fn parse_if_inet6(bytes: &[u8]) -> Vec<Inet6Addr> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            if f.len() < 6 || f[0].len() != 32 {
                return None;
            }
            Some(Inet6Addr {
                address: Ipv6Addr::from(u128::from_str_radix(f[0], 16).ok()?),
                ifindex: u32::from_str_radix(f[1], 16).ok()?,
                prefix_len: u8::from_str_radix(f[2], 16).ok()?,
                flags: u32::from_str_radix(f[4], 16).ok()?,
                ifname: f[5].to_owned(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_rows() {
        let rows = parse_if_inet6(b"00000000000000000000000000000001 01 80 10 80       lo\nfd00001b000000000000000000000001 02 40 00 a0     lan0\nbad row\n");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].address, Ipv6Addr::LOCALHOST);
        assert_eq!((rows[1].ifindex, rows[1].prefix_len), (2, 64));
        assert_eq!(rows[1].flags & IFA_F_DEPRECATED, IFA_F_DEPRECATED);
        assert_eq!(rows[1].address.to_string(), "fd00:1b::1");
    }
}
