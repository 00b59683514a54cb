//! What `loopback bind` takes: `ADDR:PORT` (IPv6 in brackets), `PORT` alone, or `NAME:PORT`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::BindError;

/// The addresses a development server binds when it is given only a port: the loopback and
/// wildcard address of each family.
pub const DEV_SERVER_ADDRESSES: [IpAddr; 4] = [
    IpAddr::V4(Ipv4Addr::LOCALHOST),
    IpAddr::V6(Ipv6Addr::LOCALHOST),
    IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    IpAddr::V6(Ipv6Addr::UNSPECIFIED),
];

/// Where to bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// One address.
    Ip(IpAddr),
    /// A port alone: [`DEV_SERVER_ADDRESSES`].
    DevServer,
    /// Every address a name resolves to.
    Name(String),
}

/// A parsed target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The addresses.
    pub host: Host,
    /// The port, 1 to 65535.
    pub port: u16,
}

fn port(text: &str, whole: &str) -> Result<u16, BindError> {
    let bad = || {
        BindError::Target(format!(
            "{whole}: the port must be a number from 1 to 65535, not {text:?}"
        ))
    };
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) || text.len() > 6 {
        return Err(bad());
    }
    match text.parse::<u32>() {
        Ok(p @ 1..=65535) => Ok(p as u16),
        _ => Err(bad()),
    }
}

/// `ADDR:PORT`, `[IPV6]:PORT`, `PORT` or `NAME:PORT`.
pub fn parse_target(text: &str) -> Result<Target, BindError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(BindError::Target(
            "an empty target: give ADDR:PORT, PORT or NAME:PORT".into(),
        ));
    }
    if !text.contains(':') {
        return Ok(Target {
            host: Host::DevServer,
            port: port(text, text)?,
        });
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (addr, after) = rest.split_once(']').ok_or_else(|| {
            BindError::Target(format!("{text}: an IPv6 address in brackets needs its ']'"))
        })?;
        let p = after
            .strip_prefix(':')
            .ok_or_else(|| BindError::Target(format!("{text}: expected [ADDR]:PORT")))?;
        let ip: Ipv6Addr = addr
            .split('%')
            .next()
            .unwrap_or(addr)
            .parse()
            .map_err(|_| BindError::Target(format!("{text}: {addr:?} is not an IPv6 address")))?;
        return Ok(Target {
            host: Host::Ip(IpAddr::V6(ip)),
            port: port(p, text)?,
        });
    }
    let (host, p) = text.rsplit_once(':').unwrap_or((text, ""));
    if host.contains(':') {
        return Err(BindError::Target(format!(
            "{text}: write an IPv6 address in brackets, as [{host}]:{p}"
        )));
    }
    let port = port(p, text)?;
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Ok(Target {
            host: Host::Ip(IpAddr::V4(ip)),
            port,
        });
    }
    let valid_name = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
    if !valid_name {
        return Err(BindError::Target(format!(
            "{text}: {:?} is neither an address nor a host name",
            host
        )));
    }
    Ok(Target {
        host: Host::Name(host.to_owned()),
        port,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(t: &str) -> Target {
        parse_target(t).unwrap_or_else(|e| panic!("{t}: {e}"))
    }

    #[test]
    fn every_form() {
        assert_eq!(
            ok("3000"),
            Target {
                host: Host::DevServer,
                port: 3000
            }
        );
        assert_eq!(
            ok("127.0.0.1:80").host,
            Host::Ip("127.0.0.1".parse().unwrap())
        );
        assert_eq!(ok("[::]:3000").host, Host::Ip("::".parse().unwrap()));
        assert_eq!(
            ok("[fe80::1%lo]:3000").host,
            Host::Ip("fe80::1".parse().unwrap())
        );
        assert_eq!(ok("localhost:8080").host, Host::Name("localhost".into()));
    }

    #[test]
    fn bad_input_is_refused_with_the_reason() {
        for (t, says) in [
            ("0", "1 to 65535"),
            ("65536", "1 to 65535"),
            ("127.0.0.1:0", "1 to 65535"),
            ("127.0.0.1:-1", "1 to 65535"),
            ("127.0.0.1:", "1 to 65535"),
            ("::1:3000", "brackets"),
            ("[::1:3000", "']'"),
            ("[zz]:3000", "not an IPv6 address"),
            ("a b:3000", "neither"),
            ("", "empty"),
            ("99999999999999999999", "1 to 65535"),
        ] {
            match parse_target(t) {
                Err(e) => assert!(e.to_string().contains(says), "{t}: {e}"),
                Ok(x) => panic!("{t} accepted as {x:?}"),
            }
        }
    }
}
