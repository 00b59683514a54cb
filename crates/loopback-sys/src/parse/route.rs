//! `/proc/net/route` and `/proc/net/ipv6_route`: is there a default route?

/// Interfaces holding an IPv4 default route (destination and mask 0), from `/proc/net/route`.
pub fn ipv4_default_routes(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // Iface Destination Gateway Flags RefCnt Use Metric Mask ...
            (f.len() >= 8 && f[1] == "00000000" && f[7] == "00000000").then(|| f[0].to_owned())
        })
        .collect()
}

/// `RTF_REJECT`: an unreachable route.
const RTF_REJECT: u32 = 0x0200;

/// Interfaces holding an IPv6 default route (`::/0`), from `/proc/net/ipv6_route`. The kernel's
/// unreachable placeholder (`RTF_REJECT`, shown on the loopback interface whatever its name) is
/// not a default.
pub fn ipv6_default_routes(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // dest plen src splen nexthop metric refcnt use flags iface
            let flags = u32::from_str_radix(f.get(8)?, 16).ok()?;
            (f.len() >= 10
                && f[0].chars().all(|c| c == '0')
                && f[0].len() == 32
                && f[1] == "00"
                && flags & RTF_REJECT == 0)
                .then(|| f[9].to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_ipv4_default() {
        let t = b"Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\neth0\t00000000\t0102A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\neth0\t0002A8C0\t00000000\t0001\t0\t0\t100\t00FFFFFF\t0\t0\t0\n";
        assert_eq!(ipv4_default_routes(t), vec!["eth0"]);
        assert!(ipv4_default_routes(b"Iface\tDestination\n").is_empty());
        assert!(ipv4_default_routes(b"").is_empty());
    }

    #[test]
    fn finds_ipv6_default_but_not_lo_placeholder() {
        let t = b"00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00450003     eth0\n00000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 ffffffff 00000001 00000000 00200200       lo\n00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo\n";
        assert_eq!(ipv6_default_routes(t), vec!["eth0"]);
    }
}
