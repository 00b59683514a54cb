//! `/etc/gai.conf`: the tables glibc's `getaddrinfo` sorts with (RFC 3484 / RFC 6724).
//!
//! `label PREFIX VALUE`, `precedence PREFIX VALUE` and `scopev4 PREFIX VALUE` lines. A table that
//! has at least one line *replaces* glibc's built-in table; when it has no `::/0` entry, glibc
//! adds one (label 1, precedence 40, scope 14). Lines that do not parse are skipped, as glibc
//! skips them. `#` starts a comment.

use std::net::Ipv6Addr;

/// `PREFIX/BITS -> VALUE` for labels and precedences.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixEntry {
    /// The prefix.
    pub prefix: Ipv6Addr,
    /// Its length.
    pub bits: u8,
    /// The label or precedence.
    pub value: i32,
}

/// An IPv4 scope entry: `ADDR/BITS -> SCOPE` (BITS 0-32).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScopeEntry {
    /// The IPv4 network, host order.
    pub addr: u32,
    /// Its length.
    pub bits: u8,
    /// The scope.
    pub scope: i32,
}

/// The tables a gai.conf sets; `None` means "glibc's default table".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GaiConf {
    /// `label` lines, replacing the built-in table when present.
    pub labels: Option<Vec<PrefixEntry>>,
    /// `precedence` lines, replacing the built-in table when present.
    pub precedence: Option<Vec<PrefixEntry>>,
    /// `scopev4` lines, replacing the built-in table when present.
    pub scopes: Option<Vec<ScopeEntry>>,
    /// 1-based numbers of lines with a known keyword that did not parse.
    pub skipped: Vec<usize>,
}

fn parse_value(s: &str) -> Option<i32> {
    s.parse::<u64>()
        .ok()
        .filter(|v| *v <= i32::MAX as u64)
        .map(|v| v as i32)
}

fn parse_prefix(s: &str) -> Option<(Ipv6Addr, u8)> {
    let (addr, bits) = match s.split_once('/') {
        Some((a, b)) => (a, b.parse::<u8>().ok().filter(|b| *b <= 128)?),
        None => (s, 128),
    };
    Some((addr.parse().ok()?, bits))
}

/// Sort most specific first, as glibc does before matching.
fn by_bits_desc<T>(v: &mut [T], bits: impl Fn(&T) -> u8) {
    v.sort_by_key(|e| std::cmp::Reverse(bits(e)));
}

/// Parse a gai.conf.
pub fn parse_gai_conf(bytes: &[u8]) -> GaiConf {
    let text = String::from_utf8_lossy(bytes);
    let mut labels = Vec::new();
    let mut precedence = Vec::new();
    let mut scopes = Vec::new();
    let mut skipped = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let content = raw.split('#').next().unwrap_or("");
        let mut w = content.split_whitespace();
        let (Some(cmd), Some(v1), v2) = (w.next(), w.next(), w.next()) else {
            continue;
        };
        let v2 = v2.unwrap_or("");
        match cmd {
            "label" | "precedence" => match (parse_prefix(v1), parse_value(v2)) {
                (Some((prefix, bits)), Some(value)) => {
                    let e = PrefixEntry {
                        prefix,
                        bits,
                        value,
                    };
                    if cmd == "label" {
                        labels.push(e)
                    } else {
                        precedence.push(e)
                    }
                }
                _ => skipped.push(i + 1),
            },
            "scopev4" => {
                let (addr, bits) = v1.split_once('/').map_or((v1, None), |(a, b)| (a, Some(b)));
                let parsed = if let Ok(v6) = addr.parse::<Ipv6Addr>() {
                    // ::ffff:a.b.c.d/96..128
                    let bits = bits.map_or(Some(128), |b| b.parse::<u8>().ok());
                    match (v6.to_ipv4_mapped(), bits) {
                        (Some(v4), Some(b)) if (96..=128).contains(&b) => {
                            Some((u32::from(v4), b - 96))
                        }
                        _ => None,
                    }
                } else if let Ok(v4) = addr.parse::<std::net::Ipv4Addr>() {
                    let bits = bits.map_or(Some(32), |b| b.parse::<u8>().ok());
                    bits.filter(|b| *b <= 32).map(|b| (u32::from(v4), b))
                } else {
                    None
                };
                match (parsed, parse_value(v2)) {
                    (Some((addr, bits)), Some(scope)) => {
                        let mask = if bits == 0 {
                            0
                        } else {
                            u32::MAX << (32 - u32::from(bits))
                        };
                        scopes.push(ScopeEntry {
                            addr: addr & mask,
                            bits,
                            scope,
                        })
                    }
                    _ => skipped.push(i + 1),
                }
            }
            _ => {}
        }
    }
    let finish = |mut v: Vec<PrefixEntry>, default: i32| {
        if v.is_empty() {
            return None;
        }
        if !v.iter().any(|e| e.bits == 0) {
            v.push(PrefixEntry {
                prefix: Ipv6Addr::UNSPECIFIED,
                bits: 0,
                value: default,
            });
        }
        by_bits_desc(&mut v, |e| e.bits);
        Some(v)
    };
    let scopes = if scopes.is_empty() {
        None
    } else {
        if !scopes.iter().any(|e| e.bits == 0) {
            scopes.push(ScopeEntry {
                addr: 0,
                bits: 0,
                scope: 14,
            });
        }
        by_bits_desc(&mut scopes, |e| e.bits);
        Some(scopes)
    };
    GaiConf {
        labels: finish(labels, 1),
        precedence: finish(precedence, 40),
        scopes,
        skipped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefer_ipv4_line_replaces_the_precedence_table() {
        let c = parse_gai_conf(b"# Debian's suggestion\nprecedence ::ffff:0:0/96  100\n");
        let p = c.precedence.expect("precedence");
        assert_eq!(p.len(), 2, "the line plus glibc's implicit ::/0 40");
        assert_eq!((p[0].bits, p[0].value), (96, 100));
        assert_eq!((p[1].bits, p[1].value), (0, 40));
        assert!(c.labels.is_none());
        assert!(c.scopes.is_none());
    }

    #[test]
    fn labels_scopes_and_junk() {
        let c = parse_gai_conf(
            b"label ::1/128 0\nlabel ::/0 1\nlabel 2002::/16 x\nscopev4 ::ffff:169.254.0.0/112 2\nscopev4 10.0.0.0/8 5\nscopev4 1.2.3.4/33 1\nreload yes\nprecedence\nfoo bar baz\n",
        );
        let l = c.labels.expect("labels");
        assert_eq!(l.len(), 2, "no implicit ::/0 when one is given");
        let s = c.scopes.expect("scopes");
        assert_eq!(s.len(), 3);
        assert_eq!((s[0].addr, s[0].bits, s[0].scope), (0xa9fe_0000, 16, 2));
        assert_eq!((s[1].addr, s[1].bits), (0x0a00_0000, 8));
        assert_eq!((s[2].bits, s[2].scope), (0, 14));
        assert_eq!(c.skipped, vec![3, 6]);
    }

    #[test]
    fn empty_file_keeps_defaults() {
        assert_eq!(parse_gai_conf(b""), GaiConf::default());
    }
}
