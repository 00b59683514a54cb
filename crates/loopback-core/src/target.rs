//! The one target grammar every command reads: `ADDR`, `[V6]`, `ADDR:PORT` (IPv4),
//! `[V6]:PORT`, `HOST`, `HOST:PORT` and, where a command accepts a network, `CIDR`. A bare IPv6
//! address never has a port (write `[V6]:PORT`), a port is 1-65535, and a host is a DNS-style
//! name (letters, digits, `-` and `_` labels), compared in lower case. An IPv6 address may
//! carry a zone (`fe80::1%eth0`, `[fe80::1%eth0]:80`, `%25` in a URL): the interface a
//! link-local address is reached through.

use std::net::{IpAddr, Ipv6Addr};

use ipnet::IpNet;

/// A parsed target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An address, with a port if one was given.
    Addr(IpAddr, Option<u16>),
    /// A network.
    Net(IpNet),
    /// A host name (lower case), with a port if one was given.
    Host(String, Option<u16>),
    /// An IPv6 address with a zone (an interface name or index), with a port if one was given.
    Scoped(Ipv6Addr, String, Option<u16>),
}

/// `fe80::1%eth0`: the address and its zone, when `s` is an IPv6 address with one. A zone is
/// an interface name (at most 15 bytes, no `/` or space) or an interface index.
pub fn split_zone(s: &str) -> Option<(Ipv6Addr, &str)> {
    let (addr, zone) = s.split_once('%')?;
    let ip = addr.parse::<Ipv6Addr>().ok()?;
    let ok = !zone.is_empty()
        && zone.len() <= 15
        && zone
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'/' && b != b'%');
    ok.then_some((ip, zone))
}

/// The socket address to connect to `ip`:`port`, through the interface `scope` names for an
/// IPv6 address with a zone.
pub fn socket_addr(ip: IpAddr, port: u16, scope: Option<u32>) -> std::net::SocketAddr {
    match (ip, scope) {
        (IpAddr::V6(v6), Some(id)) => {
            std::net::SocketAddr::V6(std::net::SocketAddrV6::new(v6, port, 0, id))
        }
        _ => std::net::SocketAddr::new(ip, port),
    }
}

/// The interface index a zone names among `interfaces` (by name, or an index that exists).
pub fn zone_index(zone: &str, interfaces: &[loopback_model::Interface]) -> Option<u32> {
    match zone.parse::<u32>() {
        Ok(i) => interfaces.iter().find(|f| f.index == i).map(|f| f.index),
        Err(_) => interfaces.iter().find(|f| f.name == zone).map(|f| f.index),
    }
}

/// [`zone_index`] for a connection: the index, or why there is none.
pub fn scope_of(zone: &str, interfaces: &[loopback_model::Interface]) -> Result<u32, String> {
    zone_index(zone, interfaces)
        .ok_or_else(|| format!("zone {zone}: no such interface in this network namespace"))
}

/// A target that does not follow the grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{target:?} is not {expected}: {why}")]
pub struct TargetError {
    /// The text as given.
    pub target: String,
    /// The forms the command accepts.
    pub expected: &'static str,
    /// What is wrong with it.
    pub why: String,
}

/// What `explain` accepts.
pub const ANY: &str = "an address, a CIDR, a host name, HOST:PORT or [V6]:PORT";
/// What `probe` accepts.
pub const WITH_PORT: &str = "HOST:PORT or [V6]:PORT";
/// What `resolve` and `doctor --reach` accept.
pub const HOST_OR_PORT: &str = "HOST, HOST:PORT, ADDR or [V6]:PORT";

impl Target {
    /// The host part as text: the address or the name.
    pub fn host(&self) -> String {
        match self {
            Target::Addr(ip, _) => ip.to_string(),
            Target::Net(n) => n.to_string(),
            Target::Host(h, _) => h.clone(),
            Target::Scoped(ip, zone, _) => format!("{ip}%{zone}"),
        }
    }

    /// The address, for an address target (scoped or not).
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Target::Addr(ip, _) => Some(*ip),
            Target::Scoped(ip, _, _) => Some(IpAddr::V6(*ip)),
            _ => None,
        }
    }

    /// The port, if one was given.
    pub fn port(&self) -> Option<u16> {
        match self {
            Target::Addr(_, p) | Target::Host(_, p) | Target::Scoped(_, _, p) => *p,
            Target::Net(_) => None,
        }
    }
}

/// Every address the system resolver gives `name`, or its answer as a sentence: the
/// resolver's own words, without "resolving NAME:" in front (callers say which name).
pub fn resolve_all(prober: &dyn loopback_sys::Prober, name: &str) -> Result<Vec<IpAddr>, String> {
    prober.resolve(name).map_err(|e| match e {
        loopback_sys::SysError::Resolve { source, .. } => source.to_string(),
        other => other.to_string(),
    })
}

/// A DNS-style host name: labels of letters, digits, '-' and '_', separated by dots, with an
/// optional final dot.
pub fn is_host_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.trim_end_matches('.').split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
}

/// A host name as the resolver is asked for it: an internationalized name (`héllo.localhost`)
/// in its ASCII form (`xn--hllo-bpa.localhost`, UTS #46 through the `idna` crate, as curl and
/// browsers send it), anything else unchanged.
pub fn ascii_host(host: &str) -> Result<String, String> {
    if host.is_ascii() {
        return Ok(host.to_owned());
    }
    idna::domain_to_ascii(host)
        .map_err(|_| format!("{host:?} is not a valid internationalized domain name"))
}

/// The Unicode form of a name with `xn--` labels, when it differs from the name.
pub fn unicode_form(host: &str) -> Option<String> {
    let has_ace = host
        .split('.')
        .any(|l| l.len() > 4 && l[..4].eq_ignore_ascii_case("xn--"));
    if !has_ace {
        return None;
    }
    let (u, ok) = idna::domain_to_unicode(host);
    (ok.is_ok() && u != host).then_some(u)
}

/// Parse any target form, CIDR included.
pub fn parse(s: &str) -> Result<Target, TargetError> {
    parse_as(s, ANY, true)
}

/// Parse a target that must carry a port (no CIDR).
pub fn parse_with_port(s: &str) -> Result<(Target, u16), TargetError> {
    let t = parse_as(s, WITH_PORT, false)?;
    match t.port() {
        Some(p) => Ok((t, p)),
        None => Err(bad(s, WITH_PORT, "a port is required")),
    }
}

/// What `probe` was asked, read the way people type it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeTarget {
    /// The host or address.
    pub target: Target,
    /// The port.
    pub port: u16,
    /// An `http://` URL was given: probe with `GET /`.
    pub http: bool,
}

/// What `probe` accepts, as people type it: `HOST:PORT`, `[V6]:PORT`, a bare `PORT` or `:PORT`
/// (meaning `localhost:PORT`), or an `http://` / `https://` URL (its scheme gives the default
/// port, and `http://` probes with `GET /`). A host without a port is refused with the forms
/// that would work.
pub fn parse_probe(s: &str) -> Result<ProbeTarget, TargetError> {
    let t = s.trim();
    let local = |p: &str| -> Option<u16> { p.parse::<u16>().ok().filter(|p| *p != 0) };
    if let Some(p) = local(t).or_else(|| t.strip_prefix(':').and_then(local)) {
        return Ok(ProbeTarget {
            target: Target::Host("localhost".into(), Some(p)),
            port: p,
            http: false,
        });
    }
    let lower = t.to_ascii_lowercase();
    let url = [("http://", 80, true), ("https://", 443, false)]
        .into_iter()
        .find(|(scheme, _, _)| lower.starts_with(scheme));
    if let Some((scheme, default, http)) = url {
        let rest = &t[scheme.len()..];
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        // user:password@ never reaches the probe (or its output).
        let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        // A zone in a URL is written `%25` (RFC 6874).
        let authority = &authority.replace("%25", "%");
        let target = parse_as(authority, WITH_PORT, false).map_err(|e| TargetError {
            target: s.to_owned(),
            ..e
        })?;
        let port = target.port().unwrap_or(default);
        let target = match target {
            Target::Addr(ip, _) => Target::Addr(ip, Some(port)),
            Target::Host(h, _) => Target::Host(h, Some(port)),
            Target::Scoped(ip, z, _) => Target::Scoped(ip, z, Some(port)),
            Target::Net(n) => Target::Net(n),
        };
        return Ok(ProbeTarget { target, port, http });
    }
    let target = parse_as(t, WITH_PORT, false)?;
    match target.port() {
        Some(port) => Ok(ProbeTarget {
            target,
            port,
            http: false,
        }),
        None => {
            // `::1:8080` is itself an IPv6 address (::0.1.128.128): the port was probably meant.
            if let (Target::Addr(IpAddr::V6(_), _), Some((addr, p))) = (&target, t.rsplit_once(':'))
            {
                if addr.parse::<std::net::Ipv6Addr>().is_ok() && local(p).is_some() {
                    return Err(bad(
                        s,
                        WITH_PORT,
                        format!("an IPv6 address with a port needs brackets: did you mean [{addr}]:{p}?"),
                    ));
                }
            }
            let host = match &target {
                Target::Addr(IpAddr::V6(v6), _) => format!("[{v6}]"),
                Target::Scoped(..) => format!("[{}]", target.host()),
                other => other.host(),
            };
            Err(bad(
                s,
                WITH_PORT,
                format!(
                    "a port is required: try {host}:80, or the URL http://{}/",
                    // A zone is written `%25` in a URL (RFC 6874).
                    host.replace('%', "%25")
                ),
            ))
        }
    }
}

/// Parse a host or address with an optional port (no CIDR).
pub fn parse_host(s: &str) -> Result<Target, TargetError> {
    parse_as(s, HOST_OR_PORT, false)
}

fn bad(target: &str, expected: &'static str, why: impl Into<String>) -> TargetError {
    TargetError {
        target: target.to_owned(),
        expected,
        why: why.into(),
    }
}

fn parse_as(s: &str, expected: &'static str, cidr: bool) -> Result<Target, TargetError> {
    let bad = |why: &str| bad(s, expected, why);
    let port = |p: &str| {
        p.parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| bad(&format!("port {p:?} is not 1-65535")))
    };
    let t = s.trim();
    if t.is_empty() {
        return Err(bad("it is empty"));
    }
    if let Ok(ip) = t.parse::<IpAddr>() {
        return Ok(Target::Addr(ip, None));
    }
    if let Some((ip, zone)) = split_zone(t) {
        return Ok(Target::Scoped(ip, zone.to_owned(), None));
    }
    if t.contains('%') && !t.starts_with('[') {
        return Err(bad(
            "a zone follows an IPv6 address: fe80::1%eth0, or [fe80::1%eth0]:PORT with a port",
        ));
    }
    if let Some(rest) = t.strip_prefix('[') {
        let (inner, after) = rest.split_once(']').ok_or_else(|| bad("missing ']'"))?;
        if let Some((ip, zone)) = split_zone(inner) {
            let zone = zone.to_owned();
            return match after {
                "" => Ok(Target::Scoped(ip, zone, None)),
                _ => match after.strip_prefix(':') {
                    Some(p) => Ok(Target::Scoped(ip, zone, Some(port(p)?))),
                    None => Err(bad("expected ':PORT' after ']'")),
                },
            };
        }
        let ip: IpAddr = inner
            .parse()
            .map_err(|_| bad(&format!("{inner:?} is not an IPv6 address")))?;
        if !ip.is_ipv6() {
            return Err(bad("brackets are for IPv6 addresses"));
        }
        return match after {
            "" => Ok(Target::Addr(ip, None)),
            _ => match after.strip_prefix(':') {
                Some(p) => Ok(Target::Addr(ip, Some(port(p)?))),
                None => Err(bad("expected ':PORT' after ']'")),
            },
        };
    }
    if t.contains('/') {
        if !cidr {
            return Err(bad("a network is not accepted here"));
        }
        return t
            .parse::<IpNet>()
            .map(Target::Net)
            .map_err(|_| bad("not a valid CIDR"));
    }
    match t.matches(':').count() {
        0 => {}
        1 => {
            let (host, p) = t.split_once(':').ok_or_else(|| bad("unreadable"))?;
            let p = port(p)?;
            if let Ok(ip) = host.parse::<IpAddr>() {
                return Ok(Target::Addr(ip, Some(p)));
            }
            let host = &ascii_host(host).map_err(|e| bad(&e))?;
            if is_host_name(host) {
                return Ok(Target::Host(host.to_ascii_lowercase(), Some(p)));
            }
            return Err(bad(&format!("{host:?} is not an address or host name")));
        }
        _ => {
            // `::1:8080`: an IPv6 address followed by what looks like a port.
            if let Some((addr, p)) = t.rsplit_once(':') {
                if addr.parse::<std::net::Ipv6Addr>().is_ok() && p.parse::<u16>().is_ok() {
                    return Err(bad(&format!(
                        "an IPv6 address with a port needs brackets: did you mean [{addr}]:{p}?"
                    )));
                }
            }
            return Err(bad("not a valid IPv6 address (write [V6]:PORT for a port)"));
        }
    }
    let t = &ascii_host(t).map_err(|e| bad(&e))?;
    if is_host_name(t) {
        return Ok(Target::Host(t.to_ascii_lowercase(), None));
    }
    Err(bad("not an address or host name"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internationalized_names_are_asked_in_ascii() {
        assert_eq!(
            parse("héllo.localhost"),
            Ok(Target::Host("xn--hllo-bpa.localhost".into(), None))
        );
        assert_eq!(
            parse_host("Bücher.test:8080"),
            Ok(Target::Host("xn--bcher-kva.test".into(), Some(8080)))
        );
        assert_eq!(
            unicode_form("xn--hllo-bpa.localhost").as_deref(),
            Some("héllo.localhost")
        );
        assert_eq!(unicode_form("localhost"), None);
        assert!(parse("a\u{202e}b.test").is_err());
        assert!(parse("xn--.test").is_err());
    }

    #[test]
    fn scoped_ipv6_in_every_form() {
        let ip: Ipv6Addr = "fe80::1".parse().expect("ip");
        assert_eq!(
            parse("fe80::1%eth0"),
            Ok(Target::Scoped(ip, "eth0".into(), None))
        );
        assert_eq!(
            parse_host("[fe80::1%eth0]:80"),
            Ok(Target::Scoped(ip, "eth0".into(), Some(80)))
        );
        let p = parse_probe("http://[fe80::1%25eth0]:8080/").expect("url");
        assert_eq!(
            (p.target.host(), p.port, p.http),
            ("fe80::1%eth0".into(), 8080, true)
        );
        assert_eq!(
            parse_probe("fe80::1%eth0").map_err(|e| e.why),
            Err(
                "a port is required: try [fe80::1%eth0]:80, or the URL http://[fe80::1%25eth0]/"
                    .into()
            )
        );
        assert!(parse("localhost%eth0")
            .is_err_and(|e| e.why.starts_with("a zone follows an IPv6 address")));
        assert!(split_zone("fe80::1%").is_none());
        assert!(split_zone("fe80::1%a/b").is_none());
        assert!(split_zone("fe80::1%averyveryverylongname").is_none());
    }

    #[test]
    fn probe_reads_what_people_type() {
        let p = |s: &str| parse_probe(s).map(|t| (t.target.host(), t.port, t.http));
        assert_eq!(p("8080"), Ok(("localhost".into(), 8080, false)));
        assert_eq!(p(":8080"), Ok(("localhost".into(), 8080, false)));
        assert_eq!(
            p("http://localhost:8080/x?y"),
            Ok(("localhost".into(), 8080, true))
        );
        assert_eq!(p("HTTP://[::1]/"), Ok(("::1".into(), 80, true)));
        assert_eq!(
            p("https://user:pw@example.test"),
            Ok(("example.test".into(), 443, false))
        );
        assert_eq!(p("[::1]:22"), Ok(("::1".into(), 22, false)));
        let why = |s: &str| parse_probe(s).err().map(|e| e.why).unwrap_or_default();
        assert_eq!(
            why("localhost"),
            "a port is required: try localhost:80, or the URL http://localhost/"
        );
        assert_eq!(
            why("::1"),
            "a port is required: try [::1]:80, or the URL http://[::1]/"
        );
        assert_eq!(
            why("::1:8080"),
            "an IPv6 address with a port needs brackets: did you mean [::1]:8080?"
        );
        assert!(parse_probe("0").is_err());
        assert!(parse_probe("http://").is_err());
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn every_form() {
        let cases = [
            ("127.1.2.3", Target::Addr(ip("127.1.2.3"), None)),
            ("::1", Target::Addr(ip("::1"), None)),
            ("[::1]:8080", Target::Addr(ip("::1"), Some(8080))),
            ("[::1]", Target::Addr(ip("::1"), None)),
            ("127.0.0.1:80", Target::Addr(ip("127.0.0.1"), Some(80))),
            (
                "::ffff:127.0.0.1",
                Target::Addr(ip("::ffff:127.0.0.1"), None),
            ),
            (
                "127.0.0.0/8",
                Target::Net("127.0.0.0/8".parse().expect("net")),
            ),
            (
                "LocalHost:3000",
                Target::Host("localhost".into(), Some(3000)),
            ),
            ("db.internal", Target::Host("db.internal".into(), None)),
            ("host:80", Target::Host("host".into(), Some(80))),
            ("198.18.0.2", Target::Addr(ip("198.18.0.2"), None)),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text).ok(), Some(want), "{text}");
        }
    }

    #[test]
    fn malformed_forms_are_rejected_everywhere() {
        for bad in [
            "",
            "[::1",
            "[127.0.0.1]:80",
            "::1:80:x",
            "host:0",
            "host:99999",
            "a b",
            "10.0.0.0/33",
            "[::1]80",
            "-",
            ":80",
            "[x]:80",
            "198.18.0.2:http",
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
            assert!(parse_host(bad).is_err(), "{bad:?} should be rejected");
            assert!(parse_with_port(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn a_port_where_one_is_required() {
        assert_eq!(
            parse_with_port("localhost:3000").ok(),
            Some((Target::Host("localhost".into(), Some(3000)), 3000))
        );
        assert_eq!(
            parse_with_port("[::1]:80").ok(),
            Some((Target::Addr(ip("::1"), Some(80)), 80))
        );
        for bad in ["localhost", "::1", "127.0.0.0/8"] {
            assert!(parse_with_port(bad).is_err(), "{bad}");
        }
        assert!(parse_host("127.0.0.0/8").is_err());
    }
}
