//! The `hosts:` sources of `nsswitch.conf` in order, and the `files` source exactly as glibc's
//! `nss_files` answers one query: the model of one `getaddrinfo` call.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use loopback_model::{ResolveStep, StepKind};
use loopback_sys::parse::hosts::HostsEntry;
use loopback_sys::parse::nsswitch::HostsLine;
use loopback_sys::QueryFamily;

use loopback_sys::parse::gai::{parse_gai_conf, GaiConf};
use loopback_sys::parse::hosts::parse_hosts;
use loopback_sys::parse::nsswitch::parse_nsswitch_hosts;

use super::addrconfig::{destinations, local_addresses, AddrConfig};
use super::rfc6724::{compare, sort, Tables};
use crate::snapshot::{ResolverFiles, Snapshot};

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
pub(crate) struct ModelAnswer {
    pub(crate) addresses: Vec<IpAddr>,
    pub(crate) complete: bool,
    pub(crate) steps: Vec<ResolveStep>,
}

pub(crate) fn step(kind: StepKind, detail: impl Into<String>) -> ResolveStep {
    ResolveStep {
        step: kind,
        detail: detail.into(),
    }
}

/// Everything the model reads, read once.
pub(crate) struct Inputs {
    pub(crate) entries: Vec<HostsEntry>,
    pub(crate) hosts_error: Option<String>,
    pub(crate) hosts_path: String,
    pub(crate) nss: HostsLine,
    pub(crate) gai: GaiConf,
    pub(crate) tables: Tables,
    pub(crate) cfg: AddrConfig,
}

impl Inputs {
    /// Parse the captured files once.
    pub(crate) fn from_snapshot(snap: &Snapshot, files: &ResolverFiles) -> Inputs {
        let (entries, hosts_error) = match &files.hosts.contents {
            Ok(b) => (parse_hosts(b).0, None),
            Err(e) => (Vec::new(), Some(e.clone())),
        };
        let nss = match &files.nsswitch.contents {
            Ok(b) => parse_nsswitch_hosts(b),
            Err(_) => parse_nsswitch_hosts(b""),
        };
        let gai = match &files.gai.contents {
            Ok(b) => parse_gai_conf(b),
            Err(_) => GaiConf::default(),
        };
        Inputs {
            entries,
            hosts_error,
            hosts_path: files.hosts.path.clone(),
            nss,
            tables: Tables::with(&gai),
            gai,
            cfg: AddrConfig::from_locals(local_addresses(snap)),
        }
    }
}

fn family_name(f: QueryFamily) -> &'static str {
    match f {
        QueryFamily::Unspec => "AF_UNSPEC",
        QueryFamily::V4 => "AF_INET",
        QueryFamily::V6 => "AF_INET6",
    }
}

/// The model of one `getaddrinfo(name, family, AI_ADDRCONFIG)` call.
pub(crate) fn model(snap: &Snapshot, inp: &Inputs, name: &str, family: QueryFamily) -> ModelAnswer {
    let mut steps = Vec::new();
    if let Ok(ip) = name.parse::<IpAddr>() {
        steps.push(step(
            StepKind::Result,
            format!("{name} is a numeric address: no source is consulted"),
        ));
        return ModelAnswer {
            addresses: vec![ip],
            complete: true,
            steps,
        };
    }
    // `fe80::1%eth0`: numeric when the zone names an interface here (glibc reads it as the
    // scope), and an IPv6 address only; otherwise it is looked up as a name, and fails.
    if let Some((ip, zone)) = crate::target::split_zone(name) {
        if crate::target::zone_index(zone, snap.interface_list()).is_some() {
            if family == QueryFamily::V4 {
                steps.push(step(
                    StepKind::Result,
                    format!("{name} is a numeric IPv6 address with a zone: an AF_INET query returns nothing"),
                ));
                return ModelAnswer {
                    addresses: vec![],
                    complete: true,
                    steps,
                };
            }
            steps.push(step(
                StepKind::Result,
                format!("{name} is a numeric address; its zone {zone} names an interface here: no source is consulted"),
            ));
            return ModelAnswer {
                addresses: vec![IpAddr::V6(ip)],
                complete: true,
                steps,
            };
        }
        steps.push(step(
            StepKind::Result,
            format!("zone {zone} names no interface here, so the C library does not read {name} as an address: it is looked up as a name"),
        ));
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
            steps.push(step(StepKind::Addrconfig, "AI_ADDRCONFIG: no IPv4 address other than 127.0.0.1 is configured, so an IPv4 query returns nothing"));
            return ModelAnswer {
                addresses: vec![],
                complete: true,
                steps,
            };
        }
        QueryFamily::V6 if !cfg.seen_v6 => {
            steps.push(step(StepKind::Addrconfig, "AI_ADDRCONFIG: no IPv6 address other than ::1 is configured, so an IPv6 query returns nothing"));
            return ModelAnswer {
                addresses: vec![],
                complete: true,
                steps,
            };
        }
        f => f,
    };
    steps.push(step(
        StepKind::Addrconfig,
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
                        StepKind::Source,
                        format!("files: {} cannot be read ({e}): NOTFOUND", inp.hosts_path),
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
                            StepKind::HostsLine,
                            format!(
                                "{}:{}: {} {} gives {shown}",
                                inp.hosts_path,
                                e.line,
                                e.address,
                                e.names.join(" ")
                            ),
                        ));
                    }
                    if !hits.is_empty() {
                        steps.push(step(
                            StepKind::Source,
                            format!(
                                "files: SUCCESS with {} address(es); the look-up stops here",
                                hits.len()
                            ),
                        ));
                        found = hits.into_iter().map(|(a, _)| a).collect();
                        break;
                    }
                    steps.push(step(
                        StepKind::Source,
                        format!(
                            "files: no line of {} names {name} for {}: NOTFOUND",
                            inp.hosts_path,
                            family_name(narrowed)
                        ),
                    ));
                }
                if src.returns_on_notfound() {
                    steps.push(step(
                        StepKind::Source,
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
                steps.push(step(StepKind::Source, format!("{other}: {what}; not modelled, so the model stops here and the C library's answer is authoritative")));
                complete = false;
                break;
            }
        }
    }
    if found.len() > 1 {
        let dests = destinations(snap, &found, cfg);
        for d in &dests {
            steps.push(step(
                StepKind::SourceAddress,
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
                StepKind::Sort,
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

pub(crate) fn source_list(n: &HostsLine) -> String {
    n.sources
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use loopback_sys::parse::hosts::parse_hosts;

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
}
