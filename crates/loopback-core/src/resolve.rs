//! `resolve`: how a name resolves here and why, modelled on glibc 2.36's `getaddrinfo`.
//!
//! The model reads what glibc reads (`nsswitch.conf`, the hosts file, `gai.conf`, the
//! namespace's addresses) and derives the order glibc returns for
//! `getaddrinfo(name, AF_UNSPEC, SOCK_STREAM, AI_ADDRCONFIG)`:
//!
//! 1. `AI_ADDRCONFIG` (`__check_pf`): IPv4 counts as configured when any address other than
//!    exactly 127.0.0.1 exists, IPv6 when any address other than `::1` exists (link-local and
//!    tentative ones included). With only one family configured the query narrows to it; with
//!    neither, nothing narrows. Per-address data (prefix length, deprecated flag) is only kept
//!    when IPv6 was seen, which changes rule 9 for IPv4.
//! 2. The `hosts:` sources in order. `files` is modelled exactly: every matching line
//!    (case-insensitive names and aliases) in file order; an IPv4 query answers a `::1` line as
//!    127.0.0.1 and an IPv4-mapped line as its IPv4 address; an IPv6 query ignores IPv4 lines.
//!    Other sources (`dns`, `myhostname`, `resolve`, …) are named, not queried.
//! 3. With more than one address, glibc's RFC 3484 sort (`rfc3484_sort`, with RFC 6724's
//!    labels), with the built-in tables or the ones `gai.conf` replaces, run through the same
//!    top-down merge sort glibc's `qsort_r` uses, so that even ties fall the same way. Rule 7
//!    (native transport) is not modelled: it needs tunnel interfaces.
//!
//! The C library's own answer is reported beside the model; a difference is a finding.

use std::cmp::Ordering;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use loopback_model::{
    FamilyAnswer, Finding, Interface, ResolveReport, ResolveStep, Severity, RESOLVE_VERSION,
};
use loopback_sys::parse::gai::{parse_gai_conf, GaiConf, PrefixEntry, ScopeEntry};
use loopback_sys::parse::hosts::{parse_hosts, HostsEntry};
use loopback_sys::parse::if_inet6::{
    parse_if_inet6, IFA_F_DEPRECATED, IFA_F_HOMEADDRESS, IFA_F_OPTIMISTIC,
};
use loopback_sys::parse::nsswitch::{parse_nsswitch_hosts, HostsLine};
use loopback_sys::{QueryFamily, SysError, SystemView};

use crate::audit::{audit_with_links, AuditOptions};
use crate::classify::is_loopback;
use crate::explain::accepts;
use crate::scope::loopback_name;

/// Where the configuration lives.
#[derive(Debug, Clone)]
pub struct ResolveOptions {
    pub hosts_path: String,
    pub nsswitch_path: String,
    pub gai_path: String,
}

impl Default for ResolveOptions {
    fn default() -> Self {
        ResolveOptions {
            hosts_path: "/etc/hosts".into(),
            nsswitch_path: "/etc/nsswitch.conf".into(),
            gai_path: "/etc/gai.conf".into(),
        }
    }
}

/// Errors from `resolve`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    #[error("{0:?} is not a host name or NAME:PORT")]
    BadName(String),
    #[error(transparent)]
    Sys(#[from] SysError),
}

/// The sorting tables in glibc's matching order.
#[derive(Debug, Clone)]
pub struct Tables {
    pub labels: Vec<PrefixEntry>,
    pub precedence: Vec<PrefixEntry>,
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

fn as_v6(ip: IpAddr) -> Ipv6Addr {
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

pub fn label(ip: IpAddr, t: &Tables) -> i32 {
    match_prefix(ip, &t.labels, i32::MAX)
}

pub fn precedence(ip: IpAddr, t: &Tables) -> i32 {
    match_prefix(ip, &t.precedence, 0)
}

/// An address of this namespace as `__check_pf` records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAddr {
    /// IPv4 addresses are kept as IPv4 here and mapped when looked up.
    pub addr: IpAddr,
    pub prefix_len: u8,
    pub index: u32,
    pub flags: u32,
}

/// What `__check_pf` learns from the namespace's addresses.
#[derive(Debug, Clone, Default)]
pub struct AddrConfig {
    pub seen_v4: bool,
    pub seen_v6: bool,
    /// Per-address data, which glibc keeps only when it saw IPv6.
    pub in6ai: Vec<LocalAddr>,
}

impl AddrConfig {
    pub fn from_locals(locals: Vec<LocalAddr>) -> AddrConfig {
        let seen_v4 = locals
            .iter()
            .any(|l| matches!(l.addr, IpAddr::V4(a) if a != Ipv4Addr::LOCALHOST));
        let seen_v6 = locals
            .iter()
            .any(|l| matches!(l.addr, IpAddr::V6(a) if a != Ipv6Addr::LOCALHOST));
        AddrConfig {
            seen_v4,
            seen_v6,
            in6ai: if seen_v6 { locals } else { Vec::new() },
        }
    }

    fn lookup(&self, src: IpAddr) -> Option<&LocalAddr> {
        let want = as_v6(src);
        self.in6ai.iter().find(|l| as_v6(l.addr) == want)
    }
}

/// The namespace's addresses: IPv4 from the interfaces, IPv6 from `/proc/net/if_inet6` (which
/// carries the IFA flags glibc reads), falling back to the interfaces.
pub fn local_addresses(
    sys: &dyn SystemView,
    ifaces: &[Interface],
) -> Result<Vec<LocalAddr>, SysError> {
    let mut out: Vec<LocalAddr> = ifaces
        .iter()
        .flat_map(|i| {
            i.addresses
                .iter()
                .filter(|a| a.address.is_ipv4())
                .map(move |a| LocalAddr {
                    addr: a.address,
                    prefix_len: a.prefix_len,
                    index: i.index,
                    flags: 0,
                })
        })
        .collect();
    match sys.read_file("/proc/net/if_inet6") {
        Ok(bytes) => out.extend(parse_if_inet6(&bytes).into_iter().map(|r| LocalAddr {
            addr: IpAddr::V6(r.address),
            prefix_len: r.prefix_len,
            index: r.ifindex,
            flags: r.flags,
        })),
        Err(_) => out.extend(ifaces.iter().flat_map(|i| {
            i.addresses
                .iter()
                .filter(|a| a.address.is_ipv6())
                .map(move |a| LocalAddr {
                    addr: a.address,
                    prefix_len: a.prefix_len,
                    index: i.index,
                    flags: 0,
                })
        })),
    }
    Ok(out)
}

/// One destination with what the sort knows about it.
#[derive(Debug, Clone)]
pub struct Dest {
    pub addr: IpAddr,
    pub idx: usize,
    pub source: Option<IpAddr>,
    pub flags: u32,
    pub prefix_len: u8,
}

/// Attach source addresses as glibc does: a UDP `connect`, then the `in6ai` entry of the source.
pub fn destinations(sys: &dyn SystemView, addrs: &[IpAddr], cfg: &AddrConfig) -> Vec<Dest> {
    addrs
        .iter()
        .enumerate()
        .map(|(idx, a)| {
            let source = sys.source_address(*a);
            let info = source.and_then(|s| cfg.lookup(s));
            Dest {
                addr: *a,
                idx,
                source,
                flags: info.map_or(0, |i| i.flags),
                prefix_len: info.map_or(0, |i| i.prefix_len),
            }
        })
        .collect()
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
fn msort<T: Clone>(v: &mut [T], cmp: &mut impl FnMut(&T, &T) -> Ordering) {
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

/// The `files` source for one family, as glibc's nss_files answers it.
pub fn files_lookup<'a>(
    entries: &'a [HostsEntry],
    name: &str,
    family: QueryFamily,
) -> Vec<(IpAddr, &'a HostsEntry)> {
    entries
        .iter()
        .filter(|e| e.has_name(name))
        .filter_map(|e| {
            let a = match (family, e.address) {
                (QueryFamily::Unspec, a) => a,
                (QueryFamily::V4, IpAddr::V4(a)) => IpAddr::V4(a),
                (QueryFamily::V4, IpAddr::V6(a)) if a == Ipv6Addr::LOCALHOST => {
                    IpAddr::V4(Ipv4Addr::LOCALHOST)
                }
                (QueryFamily::V4, IpAddr::V6(a)) => IpAddr::V4(a.to_ipv4_mapped()?),
                (QueryFamily::V6, IpAddr::V6(a)) => IpAddr::V6(a),
                (QueryFamily::V6, IpAddr::V4(_)) => return None,
            };
            Some((a, e))
        })
        .collect()
}

fn dedupe(v: Vec<IpAddr>) -> Vec<IpAddr> {
    let mut seen = std::collections::HashSet::new();
    v.into_iter().filter(|a| seen.insert(*a)).collect()
}

/// What the model derives for one query.
struct ModelAnswer {
    addresses: Vec<IpAddr>,
    complete: bool,
    steps: Vec<ResolveStep>,
}

fn step(kind: &str, detail: impl Into<String>) -> ResolveStep {
    ResolveStep {
        step: kind.into(),
        detail: detail.into(),
    }
}

/// Everything the model reads, read once.
struct Inputs {
    entries: Vec<HostsEntry>,
    hosts_error: Option<String>,
    nss: HostsLine,
    tables: Tables,
    cfg: AddrConfig,
    /// The loopback interface's name, for its sysctls.
    loopback: String,
}

fn family_name(f: QueryFamily) -> &'static str {
    match f {
        QueryFamily::Unspec => "AF_UNSPEC",
        QueryFamily::V4 => "AF_INET",
        QueryFamily::V6 => "AF_INET6",
    }
}

fn model(
    sys: &dyn SystemView,
    inp: &Inputs,
    name: &str,
    family: QueryFamily,
    opts: &ResolveOptions,
) -> ModelAnswer {
    let mut steps = Vec::new();
    if let Ok(ip) = name.parse::<IpAddr>() {
        steps.push(step(
            "result",
            format!("{name} is a numeric address: no source is consulted"),
        ));
        return ModelAnswer {
            addresses: vec![ip],
            complete: true,
            steps,
        };
    }
    let cfg = &inp.cfg;
    let narrowed = match family {
        QueryFamily::Unspec if cfg.seen_v4 != cfg.seen_v6 => {
            if cfg.seen_v4 {
                QueryFamily::V4
            } else {
                QueryFamily::V6
            }
        }
        QueryFamily::V4 if !cfg.seen_v4 => {
            steps.push(step("addrconfig", "AI_ADDRCONFIG: no IPv4 address other than 127.0.0.1 is configured, so an IPv4 query returns nothing"));
            return ModelAnswer {
                addresses: vec![],
                complete: true,
                steps,
            };
        }
        QueryFamily::V6 if !cfg.seen_v6 => {
            steps.push(step("addrconfig", "AI_ADDRCONFIG: no IPv6 address other than ::1 is configured, so an IPv6 query returns nothing"));
            return ModelAnswer {
                addresses: vec![],
                complete: true,
                steps,
            };
        }
        f => f,
    };
    steps.push(step(
        "addrconfig",
        format!(
            "AI_ADDRCONFIG: IPv4 {} (an address other than 127.0.0.1), IPv6 {} (an address other than ::1): the query asks for {}",
            if cfg.seen_v4 { "configured" } else { "not configured" },
            if cfg.seen_v6 { "configured" } else { "not configured" },
            family_name(narrowed)
        ),
    ));
    let mut found: Vec<IpAddr> = Vec::new();
    let mut complete = true;
    for src in &inp.nss.sources {
        match src.name.as_str() {
            "files" => {
                if let Some(e) = &inp.hosts_error {
                    steps.push(step(
                        "source",
                        format!("files: {} cannot be read ({e}): NOTFOUND", opts.hosts_path),
                    ));
                } else {
                    let hits = files_lookup(&inp.entries, name, narrowed);
                    for (a, e) in &hits {
                        let shown = if *a == e.address {
                            a.to_string()
                        } else {
                            format!("{a} (written {})", e.address)
                        };
                        steps.push(step(
                            "hosts-line",
                            format!(
                                "{}:{}: {} {} gives {shown}",
                                opts.hosts_path,
                                e.line,
                                e.address,
                                e.names.join(" ")
                            ),
                        ));
                    }
                    if !hits.is_empty() {
                        steps.push(step(
                            "source",
                            format!(
                                "files: SUCCESS with {} address(es); the look-up stops here",
                                hits.len()
                            ),
                        ));
                        found = hits.into_iter().map(|(a, _)| a).collect();
                        break;
                    }
                    steps.push(step(
                        "source",
                        format!(
                            "files: no line of {} names {name} for {}: NOTFOUND",
                            opts.hosts_path,
                            family_name(narrowed)
                        ),
                    ));
                }
                if src.returns_on_notfound() {
                    steps.push(step(
                        "source",
                        "files: [NOTFOUND=return]: the look-up ends unresolved",
                    ));
                    break;
                }
            }
            other => {
                let what = match other {
                    "dns" => "asks the nameservers in /etc/resolv.conf",
                    "myhostname" => {
                        "answers localhost, *.localhost, this host's name and _gateway (systemd)"
                    }
                    "resolve" => "asks systemd-resolved",
                    "mymachines" => "answers names of local containers (systemd-machined)",
                    n if n.starts_with("mdns") => "asks multicast DNS on the local link",
                    _ => "is a source this tool does not model",
                };
                steps.push(step("source", format!("{other}: {what}; not modelled, so the model stops here and the C library's answer is authoritative")));
                complete = false;
                break;
            }
        }
    }
    if found.len() > 1 {
        let dests = destinations(sys, &found, cfg);
        for d in &dests {
            steps.push(step(
                "source-address",
                match d.source {
                    Some(s) => format!(
                        "{} is reached from {s}{}",
                        d.addr,
                        if cfg.in6ai.is_empty() {
                            String::new()
                        } else {
                            format!(" (prefix /{})", d.prefix_len)
                        }
                    ),
                    None => format!("{} has no route from here (rule 1 puts it last)", d.addr),
                },
            ));
        }
        let sorted = sort(dests, &inp.tables);
        for w in sorted.windows(2) {
            let (_, rule, why) = compare(&w[0], &w[1], &inp.tables);
            steps.push(step(
                "sort",
                format!("{} before {}: rule {rule}, {why}", w[0].addr, w[1].addr),
            ));
        }
        found = sorted.into_iter().map(|d| d.addr).collect();
    }
    let addresses = dedupe(found);
    ModelAnswer {
        addresses,
        complete,
        steps,
    }
}

/// Split `NAME[:PORT]`; the name must be an address or a host name.
fn split_name(arg: &str) -> Result<(String, Option<u16>), ResolveError> {
    let bad = || ResolveError::BadName(arg.to_owned());
    let (name, port) = crate::probe::split_host_port(arg).ok_or_else(bad)?;
    if name.parse::<IpAddr>().is_ok() {
        return Ok((name, port));
    }
    if !crate::explain::is_host_name(&name) {
        return Err(bad());
    }
    Ok((name.trim_end_matches('.').to_owned(), port))
}

/// Resolve `arg` (`NAME` or `NAME:PORT`) with the model and with the C library, and explain.
pub fn resolve(
    sys: &dyn SystemView,
    arg: &str,
    opts: &ResolveOptions,
) -> Result<ResolveReport, ResolveError> {
    let (name, port) = split_name(arg)?;
    let (entries, hosts_error) = match sys.read_file(&opts.hosts_path) {
        Ok(b) => (parse_hosts(&b).0, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let nss = sys
        .read_file(&opts.nsswitch_path)
        .map(|b| parse_nsswitch_hosts(&b))
        .unwrap_or_else(|_| parse_nsswitch_hosts(b""));
    let gai = sys
        .read_file(&opts.gai_path)
        .map(|b| parse_gai_conf(&b))
        .unwrap_or_default();
    let ifaces = sys.interfaces()?;
    let inp = Inputs {
        entries,
        hosts_error,
        tables: Tables::with(&gai),
        cfg: AddrConfig::from_locals(local_addresses(sys, &ifaces)?),
        loopback: loopback_name(&ifaces),
        nss,
    };
    let mut steps = vec![step(
        "nsswitch",
        match inp.nss.line {
            Some(l) => format!(
                "hosts: {} ({}:{l})",
                source_list(&inp.nss),
                opts.nsswitch_path
            ),
            None => format!(
                "hosts: {} (glibc's default: {} has no hosts line)",
                source_list(&inp.nss),
                opts.nsswitch_path
            ),
        },
    )];
    if gai.labels.is_some() || gai.precedence.is_some() || gai.scopes.is_some() {
        let which: Vec<&str> = [
            ("label", gai.labels.is_some()),
            ("precedence", gai.precedence.is_some()),
            ("scopev4", gai.scopes.is_some()),
        ]
        .iter()
        .filter(|(_, set)| *set)
        .map(|(n, _)| *n)
        .collect();
        steps.push(step(
            "gai.conf",
            format!(
                "{} replaces glibc's built-in {} table(s)",
                opts.gai_path,
                which.join(", ")
            ),
        ));
    }
    let main = model(sys, &inp, &name, QueryFamily::Unspec, opts);
    steps.extend(main.steps);
    let v4 = model(sys, &inp, &name, QueryFamily::V4, opts);
    let v6 = model(sys, &inp, &name, QueryFamily::V6, opts);
    let (system, system_error) = split(sys.getaddrinfo(&name, QueryFamily::Unspec, true));
    let fam = |m: ModelAnswer, f| {
        let (system, system_error) = split(sys.getaddrinfo(&name, f, true));
        FamilyAnswer {
            addresses: m.addresses,
            system,
            system_error,
        }
    };
    steps.push(step(
        "result",
        format!(
            "model: {}; C library: {}",
            list(&main.addresses),
            system_error.clone().unwrap_or_else(|| list(&system))
        ),
    ));
    let mut report = ResolveReport {
        version: RESOLVE_VERSION,
        name: name.clone(),
        port,
        addresses: main.addresses,
        system,
        system_error,
        model_complete: main.complete,
        ipv4_only: fam(v4, QueryFamily::V4),
        ipv6_only: fam(v6, QueryFamily::V6),
        steps,
        findings: Vec::new(),
    };
    report.findings = findings(sys, &report, &inp, opts)?;
    Ok(report)
}

fn split(r: Result<Vec<IpAddr>, String>) -> (Vec<IpAddr>, Option<String>) {
    match r {
        Ok(v) => (v, None),
        Err(e) => (Vec::new(), Some(e)),
    }
}

fn list(v: &[IpAddr]) -> String {
    if v.is_empty() {
        "nothing".into()
    } else {
        v.iter()
            .map(IpAddr::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn source_list(n: &HostsLine) -> String {
    n.sources
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn finding(code: &str, severity: Severity, summary: String, fix: Option<String>) -> Finding {
    Finding {
        code: code.into(),
        severity,
        summary,
        fix,
    }
}

fn findings(
    sys: &dyn SystemView,
    r: &ResolveReport,
    inp: &Inputs,
    opts: &ResolveOptions,
) -> Result<Vec<Finding>, SysError> {
    let mut out = Vec::new();
    let path = &opts.hosts_path;
    let name = r.name.as_str();
    if r.system.is_empty() {
        out.push(finding(
            "unresolved",
            Severity::Problem,
            format!(
                "{name} does not resolve here ({})",
                r.system_error
                    .clone()
                    .unwrap_or_else(|| "no addresses".into())
            ),
            Some(format!(
                "add it to {path}, or check the sources in nsswitch.conf"
            )),
        ));
    }
    if name.eq_ignore_ascii_case("localhost") {
        let lines: Vec<&HostsEntry> = inp
            .entries
            .iter()
            .filter(|e| e.has_name("localhost"))
            .collect();
        if lines.is_empty() {
            let next = inp
                .nss
                .sources
                .iter()
                .map(|s| s.name.as_str())
                .find(|s| *s != "files");
            out.push(finding(
                "localhost-missing",
                Severity::Problem,
                format!(
                    "{path} has no localhost entry: the look-up goes on to {}{}",
                    next.unwrap_or("nothing"),
                    if next == Some("dns") {
                        ", and localhost must never reach DNS (RFC 6761)"
                    } else {
                        ""
                    }
                ),
                Some(format!(
                    "add `127.0.0.1 localhost` and `::1 localhost` to {path}"
                )),
            ));
        }
        let wrong: Vec<String> = lines
            .iter()
            .filter(|e| !is_loopback(e.address))
            .map(|e| format!("{} (line {})", e.address, e.line))
            .collect();
        if !wrong.is_empty() {
            out.push(finding(
                "localhost-not-loopback",
                Severity::Problem,
                format!(
                    "{path} maps localhost to {}: connections meant for this host go elsewhere",
                    wrong.join(", ")
                ),
                Some(format!("map localhost only to 127.0.0.1 and ::1 in {path}")),
            ));
        }
        let v6_localhost = lines
            .iter()
            .any(|e| e.address == IpAddr::V6(Ipv6Addr::LOCALHOST));
        let ipv6_on = sys
            .sysctl(&format!("net/ipv6/conf/{}/disable_ipv6", inp.loopback))
            .as_deref()
            == Some("0");
        if !v6_localhost
            && !lines.is_empty()
            && ipv6_on
            && !inp
                .entries
                .iter()
                .any(|e| e.address == IpAddr::V6(Ipv6Addr::LOCALHOST))
        {
            out.push(finding(
                "localhost-no-ipv6",
                Severity::Warning,
                format!("{path} has no `::1 localhost` line although IPv6 is on: IPv6-only clients cannot resolve localhost, and servers that bind `localhost` get IPv4 only"),
                Some(format!("add `::1 localhost` to {path}")),
            ));
        }
        if !v6_localhost {
            if let Some(e) = inp
                .entries
                .iter()
                .find(|e| e.address == IpAddr::V6(Ipv6Addr::LOCALHOST))
            {
                out.push(finding(
                    "ipv6-localhost-alias-only",
                    Severity::Warning,
                    format!("::1 is listed only as {} ({path}:{}), not as localhost: IPv6 clients asking for localhost get no ::1", e.names.join(" "), e.line),
                    Some(format!("add localhost to that line: `::1 localhost {}`", e.names.join(" "))),
                ));
            }
        }
    }
    if name.to_ascii_lowercase().ends_with(".localhost")
        && (r.system.is_empty() || !r.system.iter().all(|a| is_loopback(*a)))
    {
        out.push(finding(
            "dot-localhost",
            Severity::Warning,
            format!("{name} is under .localhost, which browsers send to loopback themselves (RFC 6761), but this system's resolver does not: curl and other programs {}", if r.system.is_empty() { "cannot resolve it".to_owned() } else { format!("get {}", list(&r.system)) }),
            Some(format!("add `127.0.0.1 {name}` and `::1 {name}` to {path}, or enable nss-myhostname, which answers *.localhost")),
        ));
    }
    if r.model_complete && r.system_error.is_none() && r.addresses != r.system {
        out.push(finding(
            "model-differs",
            Severity::Warning,
            format!("the C library returned {} but the model of its configuration derives {}: a cache (nscd, systemd-resolved) answers, or the model has a gap", list(&r.system), list(&r.addresses)),
            Some("restart or flush the cache (nscd -i hosts); if none runs, report the difference with this output".into()),
        ));
    }
    if !r.model_complete {
        out.push(finding(
            "model-incomplete",
            Severity::Info,
            "the answer comes from a source this tool does not model (see steps); the order shown under system is authoritative".into(),
            None,
        ));
    }
    if let (Some(port), Some(first)) = (r.port, r.system.first()) {
        let links = crate::audit::read_links(sys)?;
        let report = audit_with_links(sys, &AuditOptions::default(), &links)?;
        let on_port: Vec<_> = report
            .listeners
            .iter()
            .filter(|l| l.port == port && l.proto == loopback_model::Proto::Tcp)
            .collect();
        let serves_first = on_port.iter().any(|l| accepts(l, *first, &links));
        if !on_port.is_empty() && !serves_first {
            let others: Vec<String> = on_port
                .iter()
                .map(|l| crate::probe::describe_listener(l))
                .collect();
            out.push(finding(
                "first-address-mismatch",
                Severity::Problem,
                format!(
                    "{name} resolves first to {first}, but the service on port {port} listens on {}: clients that use only the first address (Node.js 17+ with `localhost`, many dev-server proxies) fail with ECONNREFUSED {first}",
                    others.join(", ")
                ),
                Some(format!("bind the service to both families (`::` with IPV6_V6ONLY off, or 127.0.0.1 and ::1), or connect to the address it listens on instead of {name}")),
            ));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn files_per_family() {
        let (e, _) = parse_hosts(b"::1 localhost\n127.0.0.1 localhost\n::ffff:127.0.0.5 localhost\nfd00::1 localhost\n127.0.0.2 other\n");
        let fam = |f| {
            files_lookup(&e, "LOCALHOST", f)
                .into_iter()
                .map(|(a, _)| a.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            fam(QueryFamily::Unspec),
            vec!["::1", "127.0.0.1", "::ffff:127.0.0.5", "fd00::1"]
        );
        assert_eq!(
            fam(QueryFamily::V4),
            vec!["127.0.0.1", "127.0.0.1", "127.0.0.5"]
        );
        assert_eq!(
            fam(QueryFamily::V6),
            vec!["::1", "::ffff:127.0.0.5", "fd00::1"]
        );
    }

    #[test]
    fn addrconfig_rules() {
        let l = |a: &str| LocalAddr {
            addr: ip(a),
            prefix_len: 8,
            index: 1,
            flags: 0,
        };
        let c = AddrConfig::from_locals(vec![l("127.0.0.1"), l("::1")]);
        assert!(!c.seen_v4 && !c.seen_v6);
        let c = AddrConfig::from_locals(vec![l("127.0.0.1"), l("127.0.0.2")]);
        assert!(c.seen_v4, "anything but exactly 127.0.0.1 counts");
        assert!(
            c.in6ai.is_empty(),
            "per-address data only when IPv6 was seen"
        );
        let c = AddrConfig::from_locals(vec![l("127.0.0.1"), l("fe80::1")]);
        assert!(c.seen_v6 && !c.seen_v4);
        assert_eq!(c.in6ai.len(), 2);
    }

    #[test]
    fn msort_matches_glibc_split() {
        let mut v = vec![5, 3, 9, 1, 1, 7];
        msort(&mut v, &mut |a: &i32, b: &i32| a.cmp(b));
        assert_eq!(v, vec![1, 1, 3, 5, 7, 9]);
    }

    #[test]
    fn names() {
        assert_eq!(
            split_name("localhost:3000").ok(),
            Some(("localhost".into(), Some(3000)))
        );
        assert_eq!(
            split_name("svc.test.").ok(),
            Some(("svc.test".into(), None))
        );
        assert!(split_name("a b").is_err());
        assert!(split_name("x:0").is_err());
        assert!(
            split_name("-bad.test").is_err(),
            "the same host-name rule as explain"
        );
        assert!(split_name("svc.test:http").is_err());
        assert_eq!(split_name("::1").ok(), Some(("::1".into(), None)));
    }
}
