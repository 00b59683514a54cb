//! RFC 3484/6724 destination sorting as glibc 2.36's `rfc3484_sort` does it: the tables
//! (built in, or replaced by `gai.conf`), the rules, and the merge sort that decides ties.

use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use loopback_sys::parse::gai::{GaiConf, PrefixEntry, ScopeEntry};

use super::addrconfig::{IFA_F_DEPRECATED, IFA_F_HOMEADDRESS, IFA_F_OPTIMISTIC};

/// The sorting tables in glibc's matching order.
#[derive(Debug, Clone)]
pub struct Tables {
    /// The label table.
    pub labels: Vec<PrefixEntry>,
    /// The precedence table.
    pub precedence: Vec<PrefixEntry>,
    /// The IPv4 scope table (`scopev4`).
    pub scopes: Vec<ScopeEntry>,
}

fn v6(s: &str) -> Ipv6Addr {
    s.parse().unwrap_or(Ipv6Addr::UNSPECIFIED)
}

fn entry(prefix: &str, bits: u8, value: i32) -> PrefixEntry {
    PrefixEntry {
        prefix: v6(prefix),
        bits,
        value,
    }
}

impl Tables {
    /// glibc's built-in tables (2.36), in its array order (which is the matching order).
    pub fn glibc_default() -> Tables {
        Tables {
            labels: vec![
                entry("::1", 128, 0),
                entry("2002::", 16, 2),
                entry("::", 96, 3),
                entry("::ffff:0:0", 96, 4),
                entry("fec0::", 10, 5),
                entry("fc00::", 7, 6),
                entry("2001::", 32, 7),
                entry("::", 0, 1),
            ],
            precedence: vec![
                entry("::1", 128, 50),
                entry("2002::", 16, 30),
                entry("::", 96, 20),
                entry("::ffff:0:0", 96, 10),
                entry("::", 0, 40),
            ],
            scopes: vec![
                ScopeEntry {
                    addr: 0xa9fe_0000,
                    bits: 16,
                    scope: 2,
                },
                ScopeEntry {
                    addr: 0x7f00_0000,
                    bits: 8,
                    scope: 2,
                },
                // glibc before 2.26-ish also gave 10/8, 172.16/12 and 192.168/16 scope 5; current
                // releases (Debian 12's 2.36 included, checked against getent) follow RFC 6724:
                // private IPv4 is global scope.
                ScopeEntry {
                    addr: 0,
                    bits: 0,
                    scope: 14,
                },
            ],
        }
    }

    /// RFC 6724's default policy table (§2.1), longest prefix first, with glibc's IPv4 scopes
    /// (RFC 6724 §3.2's): the table Windows ships (`netsh interface ipv6 show prefixpolicies`
    /// lists it until an administrator changes it).
    pub fn rfc6724_default() -> Tables {
        let rows = [
            ("::1", 128, 50, 0),
            ("::ffff:0:0", 96, 35, 4),
            ("::", 96, 1, 3),
            ("2001::", 32, 5, 5),
            ("2002::", 16, 30, 2),
            ("3ffe::", 16, 1, 12),
            ("fec0::", 10, 1, 11),
            ("fc00::", 7, 3, 13),
            ("::", 0, 40, 1),
        ];
        Tables {
            labels: rows.iter().map(|(p, b, _, l)| entry(p, *b, *l)).collect(),
            precedence: rows.iter().map(|(p, b, pr, _)| entry(p, *b, *pr)).collect(),
            scopes: Tables::glibc_default().scopes,
        }
    }

    /// The tables in force with `conf`: each table `gai.conf` sets replaces the built-in one.
    pub fn with(conf: &GaiConf) -> Tables {
        let d = Tables::glibc_default();
        Tables {
            labels: conf.labels.clone().unwrap_or(d.labels),
            precedence: conf.precedence.clone().unwrap_or(d.precedence),
            scopes: conf.scopes.clone().unwrap_or(d.scopes),
        }
    }
}

pub(crate) fn as_v6(ip: IpAddr) -> Ipv6Addr {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

fn prefix_matches(addr: Ipv6Addr, e: &PrefixEntry) -> bool {
    let bits = u32::from(e.bits);
    if bits == 0 {
        return true;
    }
    let mask = u128::MAX << (128 - bits);
    u128::from(addr) & mask == u128::from(e.prefix) & mask
}

fn match_prefix(ip: IpAddr, list: &[PrefixEntry], default: i32) -> i32 {
    let addr = as_v6(ip);
    list.iter()
        .find(|e| prefix_matches(addr, e))
        .map_or(default, |e| e.value)
}

/// glibc's `get_scope`.
pub fn scope(ip: IpAddr, t: &Tables) -> i32 {
    match ip {
        IpAddr::V6(a) => {
            let o = a.octets();
            if o[0] == 0xff {
                i32::from(o[1] & 0x0f)
            } else if (o[0] == 0xfe && o[1] & 0xc0 == 0x80) || a == Ipv6Addr::LOCALHOST {
                2
            } else if o[0] == 0xfe && o[1] & 0xc0 == 0xc0 {
                5
            } else {
                14
            }
        }
        IpAddr::V4(a) => {
            let a = u32::from(a);
            t.scopes
                .iter()
                .find(|e| {
                    let mask = if e.bits == 0 {
                        0
                    } else {
                        u32::MAX << (32 - u32::from(e.bits))
                    };
                    a & mask == e.addr
                })
                .map_or(14, |e| e.scope)
        }
    }
}

/// glibc's `get_label`.
pub fn label(ip: IpAddr, t: &Tables) -> i32 {
    match_prefix(ip, &t.labels, i32::MAX)
}

/// glibc's `get_precedence`.
pub fn precedence(ip: IpAddr, t: &Tables) -> i32 {
    match_prefix(ip, &t.precedence, 0)
}

/// One destination with what the sort knows about it.
#[derive(Debug, Clone)]
pub struct Dest {
    /// The destination.
    pub addr: IpAddr,
    /// Its position in the answer before sorting.
    pub idx: usize,
    /// The source address the route picks, if reachable.
    pub source: Option<IpAddr>,
    /// The source's IFA flags.
    pub flags: u32,
    /// The source's prefix length.
    pub prefix_len: u8,
}

/// glibc's `fls`: leading zero bits of a 32-bit word (32 for zero).
fn fls(x: u32) -> u32 {
    x.leading_zeros()
}

fn rule9_bits(d1: &Dest, d2: &Dest) -> Option<(u32, u32)> {
    match (d1.addr, d2.addr, d1.source, d2.source) {
        (IpAddr::V4(a1), IpAddr::V4(a2), Some(IpAddr::V4(s1)), Some(IpAddr::V4(s2))) => {
            // glibc computes `0xffffffff << (32 - prefixlen)`; with prefixlen 0 the shift count
            // is 32, which x86-64 and AArch64 reduce modulo 32: an all-ones mask.
            let mask = |p: u8| u32::MAX << ((32 - u32::from(p)) & 31);
            let bits = |a: Ipv4Addr, s: Ipv4Addr, p: u8| {
                let (a, s, m) = (u32::from(a), u32::from(s), mask(p));
                if a & m == s & m {
                    fls(a ^ s)
                } else {
                    0
                }
            };
            Some((bits(a1, s1, d1.prefix_len), bits(a2, s2, d2.prefix_len)))
        }
        (IpAddr::V6(a1), IpAddr::V6(a2), Some(s1), Some(s2)) => {
            let (s1, s2) = (as_v6(s1), as_v6(s2));
            let w = |a: Ipv6Addr| -> [u32; 4] {
                let s = a.segments();
                [0, 1, 2, 3].map(|i| (u32::from(s[2 * i]) << 16) | u32::from(s[2 * i + 1]))
            };
            let (a1, s1, a2, s2) = (w(a1), w(s1), w(a2), w(s2));
            match (0..4).find(|&i| a1[i] != s1[i] || a2[i] != s2[i]) {
                Some(i) => Some((fls(a1[i] ^ s1[i]), fls(a2[i] ^ s2[i]))),
                None => Some((0, 0)),
            }
        }
        _ => None,
    }
}

/// Compare two destinations with glibc's rules; the rule number and a reason when one decides.
pub fn compare(d1: &Dest, d2: &Dest, t: &Tables) -> (Ordering, u8, String) {
    use Ordering::{Greater, Less};
    let pick = |first: bool| if first { Less } else { Greater };
    // Rule 1: avoid unusable destinations.
    if d1.source.is_some() != d2.source.is_some() {
        return (
            pick(d1.source.is_some()),
            1,
            "the other has no route (no source address)".into(),
        );
    }
    let has_src = d1.source.is_some();
    let (sc1, sc2) = (scope(d1.addr, t), scope(d2.addr, t));
    if let (true, Some(s1), Some(s2)) = (has_src, d1.source, d2.source) {
        // Rule 2: prefer matching scope.
        let (m1, m2) = (sc1 == scope(s1, t), sc2 == scope(s2, t));
        if m1 != m2 {
            return (
                pick(m1),
                2,
                "its scope matches its source address's scope".into(),
            );
        }
        // Rule 3: avoid deprecated addresses.
        let dep = |d: &Dest| d.flags & (IFA_F_DEPRECATED | IFA_F_OPTIMISTIC) != 0;
        if dep(d1) != dep(d2) {
            return (
                pick(!dep(d1)),
                3,
                "the other's source address is deprecated".into(),
            );
        }
        // Rule 4: prefer home addresses.
        let home = |d: &Dest| d.flags & IFA_F_HOMEADDRESS != 0;
        if home(d1) != home(d2) {
            return (pick(home(d1)), 4, "its source is a home address".into());
        }
        // Rule 5: prefer matching label.
        let (l1, l2) = (
            label(d1.addr, t) == label(s1, t),
            label(d2.addr, t) == label(s2, t),
        );
        if l1 != l2 {
            return (
                pick(l1),
                5,
                "its label matches its source address's label".into(),
            );
        }
    }
    // Rule 6: prefer higher precedence.
    let (p1, p2) = (precedence(d1.addr, t), precedence(d2.addr, t));
    if p1 != p2 {
        return (
            pick(p1 > p2),
            6,
            format!("precedence {} vs {}", p1.max(p2), p1.min(p2)),
        );
    }
    // Rule 7 (native transport) is not modelled.
    // Rule 8: prefer smaller scope.
    if sc1 != sc2 {
        return (
            pick(sc1 < sc2),
            8,
            format!("smaller scope ({} vs {})", sc1.min(sc2), sc1.max(sc2)),
        );
    }
    // Rule 9: longest matching prefix with the source, same family only.
    if has_src {
        if let Some((b1, b2)) = rule9_bits(d1, d2) {
            if b1 != b2 {
                return (
                    pick(b1 > b2),
                    9,
                    format!(
                        "longer prefix shared with its source ({} vs {} bits)",
                        b1.max(b2),
                        b1.min(b2)
                    ),
                );
            }
        }
    }
    // Rule 10: keep the order the sources gave.
    (
        pick(d1.idx < d2.idx),
        10,
        "ties on every rule: the order the source gave".into(),
    )
}

/// glibc 2.36's `qsort_r` for small arrays: a top-down merge sort, left half `n / 2`, taking
/// from the left run while `cmp <= 0`. Reproducing it keeps ties and non-transitive cases equal.
pub(crate) fn msort<T: Clone>(v: &mut [T], cmp: &mut impl FnMut(&T, &T) -> Ordering) {
    let n = v.len();
    if n <= 1 {
        return;
    }
    let n1 = n / 2;
    {
        let (a, b) = v.split_at_mut(n1);
        msort(a, cmp);
        msort(b, cmp);
    }
    let mut merged = Vec::with_capacity(n);
    let (mut i, mut j) = (0, n1);
    while i < n1 && j < n {
        if cmp(&v[i], &v[j]) != Ordering::Greater {
            merged.push(v[i].clone());
            i += 1;
        } else {
            merged.push(v[j].clone());
            j += 1;
        }
    }
    merged.extend_from_slice(&v[i..n1]);
    merged.extend_from_slice(&v[j..n]);
    v.clone_from_slice(&merged);
}

/// Sort destinations as glibc does.
pub fn sort(mut dests: Vec<Dest>, t: &Tables) -> Vec<Dest> {
    msort(&mut dests, &mut |a, b| compare(a, b, t).0);
    dests
}

#[cfg(test)]
mod tests {
    use super::*;
    use loopback_sys::parse::gai::parse_gai_conf;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn dest(addr: &str, idx: usize, src: Option<&str>, prefix: u8) -> Dest {
        Dest {
            addr: ip(addr),
            idx,
            source: src.map(ip),
            flags: 0,
            prefix_len: prefix,
        }
    }

    #[test]
    fn default_tables_match_glibc() {
        let t = Tables::glibc_default();
        assert_eq!(precedence(ip("::1"), &t), 50);
        assert_eq!(precedence(ip("127.0.0.1"), &t), 10);
        assert_eq!(precedence(ip("2001:db8::1"), &t), 40);
        assert_eq!(precedence(ip("2002::1"), &t), 30);
        assert_eq!(label(ip("fd00::1"), &t), 6);
        assert_eq!(label(ip("10.0.0.1"), &t), 4);
        assert_eq!(label(ip("2001::1"), &t), 7);
        assert_eq!(scope(ip("127.0.0.1"), &t), 2);
        assert_eq!(
            scope(ip("10.1.1.1"), &t),
            14,
            "RFC 1918 is global scope in current glibc"
        );
        assert_eq!(scope(ip("198.18.0.1"), &t), 14);
        assert_eq!(scope(ip("fe80::1"), &t), 2);
        assert_eq!(scope(ip("ff05::1"), &t), 5);
        assert_eq!(
            scope(ip("::ffff:127.0.0.1"), &t),
            14,
            "a mapped address is IPv6 to get_scope"
        );
    }

    #[test]
    fn loopback_v6_beats_v4_by_precedence() {
        let t = Tables::glibc_default();
        let sorted = sort(
            vec![
                dest("127.0.0.1", 0, Some("127.0.0.1"), 8),
                dest("::1", 1, Some("::1"), 128),
            ],
            &t,
        );
        assert_eq!(sorted[0].addr, ip("::1"));
        let (_, rule, _) = compare(&sorted[0], &sorted[1], &t);
        assert_eq!(rule, 6);
    }

    #[test]
    fn prefer_ipv4_gai_conf_flips_it() {
        let conf = parse_gai_conf(b"precedence ::ffff:0:0/96 100\n");
        let t = Tables::with(&conf);
        let sorted = sort(
            vec![
                dest("::1", 0, Some("::1"), 128),
                dest("127.0.0.1", 1, Some("127.0.0.1"), 8),
            ],
            &t,
        );
        assert_eq!(sorted[0].addr, ip("127.0.0.1"));
    }

    #[test]
    fn unreachable_goes_last_and_ties_keep_order() {
        let t = Tables::glibc_default();
        let sorted = sort(
            vec![
                dest("203.0.113.9", 0, None, 0),
                dest("198.18.0.2", 1, Some("198.18.0.1"), 24),
                dest("198.18.0.3", 2, Some("198.18.0.1"), 24),
            ],
            &t,
        );
        let order: Vec<String> = sorted.iter().map(|d| d.addr.to_string()).collect();
        assert_eq!(order, vec!["198.18.0.2", "198.18.0.3", "203.0.113.9"]);
    }

    #[test]
    fn rule9_ipv4_only_inside_the_subnet() {
        let t = Tables::glibc_default();
        // Same scope/label/precedence; 198.18.0.2 shares 30 bits with 198.18.0.1 on a /24.
        let a = dest("198.19.0.9", 0, Some("198.18.0.1"), 24);
        let b = dest("198.18.0.2", 1, Some("198.18.0.1"), 24);
        let (o, rule, _) = compare(&a, &b, &t);
        assert_eq!((o, rule), (Ordering::Greater, 9));
        // Without per-address data (no IPv6 seen), prefix 0 means an all-ones mask: no bits.
        let a = dest("198.19.0.9", 0, Some("198.18.0.1"), 0);
        let b = dest("198.18.0.2", 1, Some("198.18.0.1"), 0);
        let (o, rule, _) = compare(&a, &b, &t);
        assert_eq!((o, rule), (Ordering::Less, 10));
    }

    #[test]
    fn msort_matches_glibc_split() {
        let mut v = vec![5, 3, 9, 1, 1, 7];
        msort(&mut v, &mut |a: &i32, b: &i32| a.cmp(b));
        assert_eq!(v, vec![1, 1, 3, 5, 7, 9]);
    }
}
