//! Diagnoses drawn from evidence about each address, before the general rules in
//! `diagnose.rs`: the loopback interface is down; a name that must be local resolves to another
//! host (the hosts-file line named); a packet-filter rule resets, rejects or drops the
//! connection on this host (the rule named, from the exposure evaluator on the loopback path);
//! a UDP listener stayed silent; different processes answer on different addresses of one name.
//! Each returns `None` when its evidence is absent, so nothing is concluded from a default.

use std::collections::BTreeMap;
use std::net::IpAddr;

use loopback_model::{Attempt, AttemptResult, Diagnosis, DiagnosisCode, Listener, Proto, RuleRef};

use crate::classify::{is_loopback, unmap};
use crate::explain::accepts;
use crate::exposure::{local_path, removal, Filter};
use crate::scope::{loopback_interface, Links};
use crate::snapshot::Snapshot;

use super::diagnose::{describe_listener, is_local, Tried};

fn addrs(list: &[&Attempt]) -> String {
    list.iter()
        .map(|a| a.address.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A name that must resolve to this host's loopback (RFC 6761): `localhost` and `*.localhost`.
pub(crate) fn must_be_loopback(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h == "localhost" || h.ends_with(".localhost")
}

/// The first diagnosis the evidence supports, if any.
pub(crate) fn from_evidence(
    snap: &Snapshot,
    filter: Option<&Filter>,
    tried: &Tried,
    listeners: &[Listener],
    links: &Links,
    clients: Option<&str>,
) -> Option<Diagnosis> {
    loopback_down(snap, tried)
        .or_else(|| not_loopback(snap, tried, clients))
        .or_else(|| filter.and_then(|f| rules(f, snap, tried, listeners, links)))
        .or_else(|| no_reply(tried, listeners, links))
        .or_else(|| split(tried, listeners, links, clients))
}

fn diagnosis(code: DiagnosisCode, summary: String, fix: Option<String>) -> Diagnosis {
    Diagnosis {
        code,
        summary,
        fix,
        rules: Vec::new(),
    }
}

fn loopback_down(snap: &Snapshot, tried: &Tried) -> Option<Diagnosis> {
    let lo = loopback_interface(snap.interface_list())?;
    let hit: Vec<&Attempt> = tried
        .attempts
        .iter()
        .filter(|a| is_loopback(a.address) && a.result != AttemptResult::Connected)
        .collect();
    if lo.up || hit.is_empty() {
        return None;
    }
    Some(diagnosis(
        DiagnosisCode::LoopbackDown,
        format!(
            "the loopback interface {} is down, so nothing on this host answers at {}: the attempts there did not fail because of the service",
            lo.name,
            addrs(&hit)
        ),
        Some(format!("ip link set {} up (as root)", lo.name)),
    ))
}

fn not_loopback(snap: &Snapshot, tried: &Tried, clients: Option<&str>) -> Option<Diagnosis> {
    if !must_be_loopback(&tried.host) {
        return None;
    }
    let away: Vec<&Attempt> = tried
        .attempts
        .iter()
        .filter(|a| !is_loopback(a.address))
        .collect();
    if away.is_empty() {
        return None;
    }
    let name = tried.host.trim_end_matches('.');
    // The hosts-file lines that say so.
    let mut lines = Vec::new();
    if let Some(files) = snap.resolver.ok() {
        if let Ok(bytes) = &files.hosts.contents {
            let (entries, _) = loopback_sys::parse::hosts::parse_hosts(bytes);
            for e in entries {
                if e.names.iter().any(|n| n.eq_ignore_ascii_case(name))
                    && away.iter().any(|a| unmap(a.address) == unmap(e.address))
                {
                    lines.push(format!(
                        "{}:{}: `{} {}`",
                        files.hosts.path,
                        e.line,
                        e.address,
                        e.names.join(" ")
                    ));
                }
            }
        }
    }
    let source = if lines.is_empty() {
        "the resolver (not the hosts file) returned it".to_owned()
    } else {
        format!("the hosts file says so: {}", lines.join("; "))
    };
    let who = clients
        .map(|c| format!(". Of the tested clients, {c}"))
        .unwrap_or_default();
    Some(diagnosis(
        DiagnosisCode::NotLoopback,
        format!(
            "{name} resolves to {}, which is not this host's loopback ({source}); a connection there goes to another host, whatever listens here{who}",
            addrs(&away)
        ),
        Some(if lines.is_empty() {
            format!("make {name} resolve only to 127.0.0.1 and ::1 (RFC 6761): check nsswitch.conf's order and the DNS server's answer")
        } else {
            format!(
                "remove the line{} from the hosts file: {name} must resolve only to 127.0.0.1 and ::1 (RFC 6761)",
                if lines.len() == 1 { "" } else { "s" }
            )
        }),
    ))
}

/// Attempts to this host that were refused while a listener accepts them, or timed out: the
/// rule that did it, evaluated on the loopback path.
fn rules(
    filter: &Filter,
    snap: &Snapshot,
    tried: &Tried,
    listeners: &[Listener],
    links: &Links,
) -> Option<Diagnosis> {
    let ifs = snap.interface_list();
    let mut rejected: Vec<(&Attempt, RuleRef, String)> = Vec::new();
    let mut dropped: Vec<(&Attempt, RuleRef, String)> = Vec::new();
    for a in tried.attempts.iter().filter(|a| is_local(a.address, links)) {
        let served = listeners.iter().any(|l| accepts(l, a.address, links));
        let kind = match a.result {
            AttemptResult::Refused if served => &mut rejected,
            AttemptResult::Timeout => &mut dropped,
            _ => continue,
        };
        if let Some((rule, why)) = local_path(filter, ifs, a.address, tried.proto, tried.port) {
            kind.push((a, rule, why));
        }
    }
    let (code, found, verb) = if !rejected.is_empty() {
        (DiagnosisCode::Rejected, rejected, "refused")
    } else if !dropped.is_empty() {
        (DiagnosisCode::Filtered, dropped, "timed out")
    } else {
        return None;
    };
    let mut rules: Vec<RuleRef> = Vec::new();
    for (_, r, _) in &found {
        if !rules.contains(r) {
            rules.push(r.clone());
        }
    }
    let served: Vec<String> = listeners
        .iter()
        .filter(|l| found.iter().any(|(a, _, _)| accepts(l, a.address, links)))
        .map(describe_listener)
        .collect();
    let mut summary = format!(
        "{}:{} {verb} at {}: {}",
        tried.host,
        tried.port,
        found
            .iter()
            .map(|(a, _, _)| a.address.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        found
            .iter()
            .map(|(_, _, why)| why.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect::<Vec<_>>()
            .join("; ")
    );
    if !served.is_empty() {
        summary.push_str(&format!(
            ", although {} is listening and accepts it",
            served.join(" and ")
        ));
    }
    let fixes: Vec<String> = rules.iter().filter_map(removal).collect();
    let mut d = diagnosis(
        code,
        summary,
        Some(if fixes.is_empty() {
            "remove or narrow the rule named above in the firewall's configuration".to_owned()
        } else {
            format!(
                "{} (then make the change permanent in the firewall's configuration)",
                fixes.join("; ")
            )
        }),
    );
    d.rules = rules;
    Some(d)
}

/// UDP: a listener accepts the address and nothing came back, with no rule in the way.
fn no_reply(tried: &Tried, listeners: &[Listener], links: &Links) -> Option<Diagnosis> {
    if tried.proto != Proto::Udp {
        return None;
    }
    let silent: Vec<(&Attempt, &Listener)> = tried
        .attempts
        .iter()
        .filter(|a| a.result == AttemptResult::Timeout)
        .filter_map(|a| {
            listeners
                .iter()
                .find(|l| accepts(l, a.address, links))
                .map(|l| (a, l))
        })
        .collect();
    let (first, l) = silent.first()?;
    Some(diagnosis(
        DiagnosisCode::NoReply,
        format!(
            "{} holds the port and received the probe's datagram at {}, but did not answer: a UDP service answers only requests in its own protocol (a DNS server, DNS queries), and the probe sends a few bytes of nothing in particular. The port is open",
            describe_listener(l),
            first.address
        ),
        Some(format!(
            "query it in its own protocol (for DNS: `dig @{} -p {} localhost`)",
            first.address, tried.port
        )),
    ))
}

/// The socket the kernel delivers a connection to `ip` to: one bound to the address before a
/// wildcard one.
fn receiver<'a>(listeners: &'a [Listener], ip: IpAddr, links: &Links) -> Option<&'a Listener> {
    let fitting: Vec<&Listener> = listeners.iter().filter(|l| accepts(l, ip, links)).collect();
    fitting
        .iter()
        .find(|l| !unmap(l.address).is_unspecified())
        .or(fitting.first())
        .copied()
}

fn split(
    tried: &Tried,
    listeners: &[Listener],
    links: &Links,
    clients: Option<&str>,
) -> Option<Diagnosis> {
    let mut by_owner: BTreeMap<Vec<u32>, (Vec<&Attempt>, &Listener)> = BTreeMap::new();
    for a in tried
        .attempts
        .iter()
        .filter(|a| a.result == AttemptResult::Connected)
    {
        let Some(l) = receiver(listeners, a.address, links) else {
            continue;
        };
        let pids: Vec<u32> = l.owners.iter().map(|o| o.pid).collect();
        if pids.is_empty() {
            return None;
        }
        by_owner
            .entry(pids)
            .or_insert_with(|| (Vec::new(), l))
            .0
            .push(a);
    }
    if by_owner.len() < 2 {
        return None;
    }
    let first = tried.attempts.first()?;
    let parts: Vec<String> = by_owner
        .values()
        .map(|(a, l)| format!("{} answers at {}", describe_listener(l), addrs(a)))
        .collect();
    let who = match clients {
        Some(c) => format!("Of the tested clients, {c}"),
        None => format!(
            "A client reaches whichever address it tries first; in this resolver order that is {}, and a client that falls back (or prefers the other family) reaches another server",
            first.address
        ),
    };
    Some(diagnosis(
        DiagnosisCode::Split,
        format!(
            "{}:{} is served by {} different processes: {}. {who}",
            tried.host,
            tried.port,
            by_owner.len(),
            parts.join("; "),
        ),
        Some(
            "stop the server you did not mean to run, or serve every address from one process"
                .into(),
        ),
    ))
}
