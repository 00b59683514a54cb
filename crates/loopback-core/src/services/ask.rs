//! Asking a running service for its bind setting, where it tells without credentials, and
//! judging whether a configuration value could have produced the socket that is observed.
//! The question is sent while a snapshot is captured; the answer is kept in the snapshot
//! (under the key [`key`]) and parsed here, from bytes, when it is judged.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::Deserialize;

use crate::classify::unmap;

/// A service that answers a question about its running configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Ask {
    /// Redis (and Valkey): `CONFIG GET bind`, in RESP.
    Redis,
}

impl Ask {
    /// The request bytes.
    pub fn request(self) -> &'static [u8] {
        match self {
            Ask::Redis => b"*3\r\n$6\r\nCONFIG\r\n$3\r\nGET\r\n$4\r\nbind\r\n",
        }
    }

    /// Whether a reply so far is whole, so reading stops without waiting for the deadline.
    pub fn complete(self) -> fn(&[u8]) -> bool {
        match self {
            Ask::Redis => redis_complete,
        }
    }

    /// The question as people type it.
    pub fn shown(self) -> &'static str {
        match self {
            Ask::Redis => "CONFIG GET bind",
        }
    }
}

/// Where the answer to `ask` at `addr` is kept in a snapshot's service files.
pub fn key(ask: Ask, addr: SocketAddr) -> String {
    match ask {
        Ask::Redis => format!("redis://{addr} CONFIG GET bind"),
    }
}

/// Where to ask a listener bound to `address`: the address itself, or the loopback address
/// of its family for a wildcard.
pub fn ask_at(address: IpAddr, port: u16) -> SocketAddr {
    let a = unmap(address);
    let a = match a {
        IpAddr::V4(v) if v.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v) if v.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    };
    SocketAddr::new(a, port)
}

/// What the service answered: its value, or why it would not tell.
pub fn parse(ask: Ask, reply: &[u8]) -> Result<String, String> {
    match ask {
        Ask::Redis => parse_redis(reply),
    }
}

/// An error line ends with its CRLF; an array when it parses; anything else is not RESP, so
/// there is nothing more to wait for.
fn redis_complete(reply: &[u8]) -> bool {
    match reply.first() {
        None => false,
        Some(b'-') => reply.ends_with(b"\r\n"),
        Some(b'*') => parse_redis(reply).is_ok(),
        Some(_) => true,
    }
}

/// A RESP reply to `CONFIG GET bind`: `*2 $4 bind $N value`, or an error line (`-NOAUTH …`).
fn parse_redis(reply: &[u8]) -> Result<String, String> {
    let text = std::str::from_utf8(reply).map_err(|_| "the reply is not text".to_owned())?;
    if let Some(err) = text.strip_prefix('-') {
        return Err(err.lines().next().unwrap_or("").trim().to_owned());
    }
    let mut lines = text.split("\r\n");
    let bad = || "the reply is not a RESP answer to CONFIG GET".to_owned();
    if lines.next() != Some("*2") {
        return Err(bad());
    }
    let mut bulk = || -> Result<String, String> {
        let len: usize = lines
            .next()
            .and_then(|l| l.strip_prefix('$'))
            .and_then(|n| n.parse().ok())
            .ok_or_else(bad)?;
        let v = lines.next().ok_or_else(bad)?;
        if v.len() != len {
            return Err(bad());
        }
        Ok(v.to_owned())
    };
    if bulk()? != "bind" {
        return Err(bad());
    }
    bulk()
}

/// One address a setting names, as far as it can be told from its text.
enum Named {
    Addr(IpAddr),
    /// Every address (`*`, `0.0.0.0`, `::`, `-::*`, a bare port).
    Any,
    Loopback,
    /// A host name or a special value (`_local_`): cannot be judged here.
    Other,
}

fn named(token: &str) -> Option<Named> {
    let t = token
        .trim_matches(|c| c == '"' || c == '\'' || c == ';')
        .trim_start_matches('-');
    if t.is_empty() {
        return None;
    }
    if matches!(t, "*" | "::*" | "[::]" | "0.0.0.0") || t.parse::<u16>().is_ok() {
        return Some(Named::Any);
    }
    if t.eq_ignore_ascii_case("localhost") {
        return Some(Named::Loopback);
    }
    let ip = t
        .parse::<IpAddr>()
        .ok()
        .or_else(|| t.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| {
            let (h, p) = t.rsplit_once(':')?;
            p.parse::<u16>().ok()?;
            if h == "*" {
                return Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            }
            h.trim_matches(|c| c == '[' || c == ']').parse().ok()
        });
    Some(match ip {
        Some(a) if a.is_unspecified() => Named::Any,
        Some(a) => Named::Addr(unmap(a)),
        // Words such as `ssl` or `default_server` after a port are not addresses.
        None if t.chars().all(|c| c.is_ascii_lowercase() || c == '_') && !t.contains('.') => {
            return None
        }
        None => Named::Other,
    })
}

/// Whether a setting's `value` could have produced a socket bound to `observed`. `None` when
/// the text names nothing that can be judged (a host name, an empty value).
pub fn admits(value: &str, observed: IpAddr) -> Option<bool> {
    let observed = unmap(observed);
    let mut judged = false;
    for token in value.split(|c: char| c.is_whitespace() || c == ',') {
        match named(token) {
            None => {}
            Some(Named::Other) => return None,
            Some(Named::Any) => {
                judged = true;
                if observed.is_unspecified() {
                    return Some(true);
                }
            }
            Some(Named::Loopback) => {
                judged = true;
                if observed.is_loopback() {
                    return Some(true);
                }
            }
            Some(Named::Addr(a)) => {
                judged = true;
                if a == observed {
                    return Some(true);
                }
            }
        }
    }
    judged.then_some(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn redis_replies() {
        assert_eq!(
            parse(Ask::Redis, b"*2\r\n$4\r\nbind\r\n$7\r\n0.0.0.0\r\n"),
            Ok("0.0.0.0".to_owned())
        );
        assert_eq!(
            parse(Ask::Redis, b"-NOAUTH Authentication required.\r\n"),
            Err("NOAUTH Authentication required.".to_owned())
        );
        for junk in [
            &b""[..],
            b"*2\r\n$4\r\nbind\r\n$99\r\nshort\r\n",
            b"*2\r\n$4\r\nport\r\n$4\r\n6379\r\n",
            b"HTTP/1.1 200 OK\r\n",
            b"\xff\xfe",
            b"*2\r\n$18446744073709551616\r\n",
        ] {
            assert!(parse(Ask::Redis, junk).is_err(), "{junk:?}");
        }
    }

    #[test]
    fn a_reply_is_whole_only_when_it_parses_or_is_not_resp() {
        let whole = b"*2\r\n$4\r\nbind\r\n$7\r\n0.0.0.0\r\n";
        assert!(redis_complete(whole));
        assert!(!redis_complete(&whole[..whole.len() - 4]));
        assert!(!redis_complete(b""));
        assert!(!redis_complete(b"-NOAUTH Auth"));
        assert!(redis_complete(b"-NOAUTH Authentication required.\r\n"));
        assert!(redis_complete(b"HTTP/1.1 400"));
    }

    #[test]
    fn what_a_value_admits() {
        assert_eq!(admits("127.0.0.1 -::1", ip("0.0.0.0")), Some(false));
        assert_eq!(admits("127.0.0.1 -::1", ip("::1")), Some(true));
        assert_eq!(admits("* -::*", ip("::")), Some(true));
        assert_eq!(admits("'localhost'", ip("127.0.0.1")), Some(true));
        assert_eq!(admits("'localhost'", ip("0.0.0.0")), Some(false));
        assert_eq!(admits("8443 ssl", ip("0.0.0.0")), Some(true));
        assert_eq!(admits("127.0.0.1:8080", ip("0.0.0.0")), Some(false));
        assert_eq!(admits("[::]:80", ip("::")), Some(true));
        assert_eq!(admits("127.0.0.1,::1", ip("::1")), Some(true));
        assert_eq!(admits("db.internal", ip("0.0.0.0")), None);
        assert_eq!(admits("_local_", ip("0.0.0.0")), None);
        assert_eq!(admits("", ip("0.0.0.0")), None);
    }

    #[test]
    fn ask_the_loopback_address_of_a_wildcard() {
        assert_eq!(ask_at(ip("0.0.0.0"), 6379).to_string(), "127.0.0.1:6379");
        assert_eq!(ask_at(ip("::"), 6379).to_string(), "[::1]:6379");
        assert_eq!(
            ask_at(ip("198.18.0.1"), 6379).to_string(),
            "198.18.0.1:6379"
        );
    }
}
