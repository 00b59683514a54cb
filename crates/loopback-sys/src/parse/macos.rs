//! What macOS's own tools print about the resolver and the packet filter: `scutil --dns` (the
//! resolvers mDNSResponder uses, in order), `pfctl -s info` (whether pf is enabled) and
//! `socketfilterfw --getglobalstate` (the application firewall). Parsed from bytes on every
//! platform and tested on their recorded output.

use serde::{Deserialize, Serialize};

/// One `resolver #N` block of `scutil --dns`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScutilResolver {
    /// Its number in its section.
    pub number: u32,
    /// It is in the "for scoped queries" section (used only by queries bound to an interface).
    pub scoped: bool,
    /// `domain`: the names it answers for (`local`, `254.169.in-addr.arpa`); `None` for a
    /// default resolver.
    pub domain: Option<String>,
    /// `search domain[N]`.
    pub search: Vec<String>,
    /// `nameserver[N]`.
    pub nameservers: Vec<String>,
    /// `options` (`mdns` for multicast DNS).
    pub options: Option<String>,
    /// `if_index`, as printed (`6 (en0)`).
    pub if_index: Option<String>,
    /// `flags`.
    pub flags: Option<String>,
    /// `order`.
    pub order: Option<u64>,
}

impl ScutilResolver {
    /// Whether it is multicast DNS (answered by mDNSResponder on the link, not a server).
    pub fn is_mdns(&self) -> bool {
        self.options
            .as_deref()
            .is_some_and(|o| o.split_whitespace().any(|w| w == "mdns"))
    }
}

/// Every resolver block, unscoped ones first as printed. Lines it does not know are skipped.
pub fn parse_scutil_dns(out: &[u8]) -> Vec<ScutilResolver> {
    let text = String::from_utf8_lossy(out);
    let mut all = Vec::new();
    let mut scoped = false;
    let mut current: Option<ScutilResolver> = None;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("DNS configuration") {
            all.extend(current.take());
            scoped = t.contains("scoped");
            continue;
        }
        if let Some(n) = t.strip_prefix("resolver #") {
            all.extend(current.take());
            current = Some(ScutilResolver {
                number: n.trim().parse().unwrap_or(0),
                scoped,
                ..ScutilResolver::default()
            });
            continue;
        }
        let (Some(r), Some((key, value))) = (current.as_mut(), t.split_once(':')) else {
            continue;
        };
        let key = key.trim();
        let value = value.trim().to_owned();
        if key.starts_with("search domain") {
            r.search.push(value);
        } else if key.starts_with("nameserver") {
            r.nameservers.push(value);
        } else {
            match key {
                "domain" => r.domain = Some(value),
                "options" => r.options = Some(value),
                "if_index" => r.if_index = Some(value),
                "flags" => r.flags = Some(value),
                "order" => r.order = value.parse().ok(),
                _ => {}
            }
        }
    }
    all.extend(current);
    all
}

/// `pfctl -s info`'s `Status:` line: `Some(true)` enabled, `Some(false)` disabled, `None`
/// when the output has no such line.
pub fn parse_pf_status(out: &[u8]) -> Option<bool> {
    let text = String::from_utf8_lossy(out);
    text.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("Status:")?;
        let word = rest.split_whitespace().next()?;
        match word {
            "Enabled" => Some(true),
            "Disabled" => Some(false),
            _ => None,
        }
    })
}

/// `socketfilterfw --getglobalstate`: `(State = N)`, where 0 is off and 1 or 2 on.
pub fn parse_app_firewall(out: &[u8]) -> Option<bool> {
    let text = String::from_utf8_lossy(out);
    let at = text.find("State =")?;
    let n: String = text[at + 7..]
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    n.parse::<u32>().ok().map(|n| n != 0)
}

/// `route -n get default`'s `interface:` line: the interface the default route leaves by.
pub fn parse_route_interface(out: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(out);
    text.lines().find_map(|l| {
        let v = l.trim().strip_prefix("interface:")?.trim();
        (!v.is_empty()).then(|| v.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `scutil --dns` on macOS 14 with Wi-Fi and one VPN split domain.
    const SCUTIL: &str = "DNS configuration

resolver #1
  search domain[0] : corp.example
  nameserver[0] : 192.0.2.53
  nameserver[1] : 2001:db8::53
  if_index : 6 (en0)
  flags    : Request A records, Request AAAA records
  reach    : 0x00020002 (Reachable,Directly Reachable Address)

resolver #2
  domain   : local
  options  : mdns
  timeout  : 5
  flags    : Request A records, Request AAAA records
  reach    : 0x00000000 (Not Reachable)
  order    : 300000

resolver #3
  domain   : 254.169.in-addr.arpa
  options  : mdns
  timeout  : 5
  order    : 300200

DNS configuration (for scoped queries)

resolver #1
  search domain[0] : corp.example
  nameserver[0] : 192.0.2.53
  if_index : 6 (en0)
  flags    : Scoped, Request A records
  reach    : 0x00020002 (Reachable,Directly Reachable Address)
";

    #[test]
    fn scutil_resolvers() {
        let r = parse_scutil_dns(SCUTIL.as_bytes());
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].nameservers, ["192.0.2.53", "2001:db8::53"]);
        assert_eq!(r[0].search, ["corp.example"]);
        assert_eq!(r[0].if_index.as_deref(), Some("6 (en0)"));
        assert!(!r[0].scoped && r[3].scoped);
        assert_eq!(r[1].domain.as_deref(), Some("local"));
        assert!(r[1].is_mdns() && !r[0].is_mdns());
        assert_eq!(r[2].order, Some(300200));
        assert!(parse_scutil_dns(b"\xff\xfe garbage : x\nresolver #x\n").len() == 1);
        assert!(parse_scutil_dns(b"").is_empty());
    }

    #[test]
    fn default_route() {
        let out = b"   route to: default\ndestination: default\n       mask: default\n    gateway: 192.0.2.1\n  interface: en0\n      flags: <UP,GATEWAY,DONE,STATIC,PRCLONING,GLOBAL>\n";
        assert_eq!(parse_route_interface(out).as_deref(), Some("en0"));
        assert_eq!(
            parse_route_interface(b"route: writing to routing socket: not in table\n"),
            None
        );
    }

    #[test]
    fn pf_and_the_application_firewall() {
        let on = b"Status: Enabled for 0 days 00:10:12           Debug: Urgent\n\nState Table                          Total             Rate\n";
        assert_eq!(parse_pf_status(on), Some(true));
        assert_eq!(
            parse_pf_status(b"Status: Disabled           Debug: Urgent\n"),
            Some(false)
        );
        assert_eq!(
            parse_pf_status(b"pfctl: /dev/pf: Permission denied\n"),
            None
        );
        assert_eq!(
            parse_app_firewall(b"Firewall is enabled. (State = 1)\n"),
            Some(true)
        );
        assert_eq!(
            parse_app_firewall(b"Firewall is disabled. (State = 0)\n"),
            Some(false)
        );
        assert_eq!(
            parse_app_firewall(b"Firewall is blocking all. (State = 2)"),
            Some(true)
        );
        assert_eq!(parse_app_firewall(b"nothing"), None);
    }
}
