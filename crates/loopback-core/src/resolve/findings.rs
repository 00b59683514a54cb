//! What a resolution means for the people who rely on it: the findings, each with a code
//! scripts can match (`FindingCode`).

use loopback_model::{Finding, FindingCode, Os, ResolveReport, Severity};

use super::list;
use super::nss::Inputs;
use crate::audit::{audit, AuditOptions};
use crate::classify::is_loopback;
use crate::explain::accepts;
use crate::localhost::{ipv6_state, Ipv6State, LocalhostLines};
use crate::scope::Links;
use crate::snapshot::{MissingPart, Snapshot};

fn finding(code: FindingCode, severity: Severity, summary: String, fix: Option<String>) -> Finding {
    Finding {
        code,
        severity,
        summary,
        fix,
    }
}

/// The findings of a report on the snapshot it was modelled on.
pub(crate) fn findings(
    snap: &Snapshot,
    r: &ResolveReport,
    inp: &Inputs,
) -> Result<Vec<Finding>, MissingPart> {
    let mut out = Vec::new();
    let path = &inp.hosts_path;
    let name = r.name.as_str();
    let not_asked = r.system_error.as_deref().is_some_and(super::was_not_asked);
    // Without the C library's answer, the model's stands in (when it is complete).
    let answer = if not_asked { &r.addresses } else { &r.system };
    if answer.is_empty() && (r.model_complete || !not_asked) {
        out.push(finding(
            FindingCode::Unresolved,
            Severity::Problem,
            format!(
                "{name} does not resolve here ({})",
                r.system_error
                    .clone()
                    .unwrap_or_else(|| "no addresses".into())
            ),
            Some(match (crate::target::split_zone(name), name.strip_suffix('.')) {
                // A zone that names no interface here: the address is not read as one.
                (Some((ip, zone)), _) => format!(
                    "zone {zone} names no interface in this network namespace: write {ip}%IFACE with an interface `ip link` lists ({})",
                    snap.interface_list()
                        .iter()
                        .map(|i| i.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                // The final dot is looked up as typed; the hosts file's names carry none.
                (None, Some(bare)) => format!(
                    "write {bare} without the final dot: the hosts file's names do not match {name} (`getent ahosts {name}` fails alike), or add {name} to {path}"
                ),
                (None, None) if snap.os == Os::Linux => format!("add it to {path}, or check the sources in nsswitch.conf"),
                (None, None) => format!("add it to {path}"),
            }),
        ));
    }
    // Windows' DNS client answers localhost itself: its hosts file's lines do not decide.
    if name.eq_ignore_ascii_case("localhost") && snap.os != Os::Windows {
        let lh = LocalhostLines::of(&inp.entries);
        if lh.missing() {
            let next = if snap.os == Os::Macos {
                Some("the resolvers scutil --dns lists, often DNS")
            } else {
                inp.nss
                    .sources
                    .iter()
                    .map(|s| s.name.as_str())
                    .find(|s| *s != "files")
            };
            out.push(finding(
                FindingCode::LocalhostMissing,
                Severity::Problem,
                format!(
                    "{path} has no localhost entry: the look-up goes on to {}{}",
                    next.unwrap_or("nothing"),
                    if next.is_some_and(|n| n == "dns" || n.ends_with("DNS")) {
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
        if !lh.not_loopback.is_empty() {
            let wrong: Vec<String> = lh
                .not_loopback
                .iter()
                .map(|e| format!("{} (line {})", e.address, e.line))
                .collect();
            out.push(finding(
                FindingCode::LocalhostNotLoopback,
                Severity::Problem,
                format!(
                    "{path} maps localhost to {}: connections meant for this host go elsewhere",
                    wrong.join(", ")
                ),
                Some(format!("map localhost only to 127.0.0.1 and ::1 in {path}")),
            ));
        }
        let ipv6_on = ipv6_state(snap) == Ipv6State::On;
        if lh.lacks_v6(ipv6_on) {
            match lh.v6_alias_only {
                None => out.push(finding(
                    FindingCode::LocalhostNoIpv6,
                    Severity::Warning,
                    format!("{path} has no `::1 localhost` line although IPv6 is on: IPv6-only clients cannot resolve localhost, and servers that bind `localhost` get IPv4 only"),
                    Some(format!("add `::1 localhost` to {path}")),
                )),
                Some(e) => out.push(finding(
                    FindingCode::Ipv6LocalhostAliasOnly,
                    Severity::Warning,
                    format!("::1 is listed only as {} ({path}:{}), not as localhost: IPv6 clients asking for localhost get no ::1", e.names.join(" "), e.line),
                    Some(format!("add localhost to that line: `::1 localhost {}`", e.names.join(" "))),
                )),
            }
        }
    }
    if name.to_ascii_lowercase().ends_with(".localhost")
        && (answer.is_empty() || !answer.iter().all(|a| is_loopback(*a)))
    {
        out.push(finding(
            FindingCode::DotLocalhost,
            Severity::Warning,
            format!("{name} is under .localhost, which browsers send to loopback themselves (RFC 6761), but this system's resolver does not: curl and other programs {}", if answer.is_empty() { "cannot resolve it".to_owned() } else { format!("get {}", list(answer)) }),
            Some(if snap.os == Os::Linux {
                format!("add `127.0.0.1 {name}` and `::1 {name}` to {path}, or enable nss-myhostname, which answers *.localhost")
            } else {
                format!("add `127.0.0.1 {name}` and `::1 {name}` to {path}")
            }),
        ));
    }
    if r.model_complete && r.system_error.is_none() && r.addresses != r.system {
        out.push(finding(
            FindingCode::ModelDiffers,
            Severity::Warning,
            match snap.os {
                Os::Linux => format!("the C library returned {} but the model of its configuration derives {}: a cache (nscd, systemd-resolved) answers, or the model has a gap", list(&r.system), list(&r.addresses)),
                os => format!("the system's resolver returned {} but the model of {} derives {}: a cache answers, the configuration is not the default, or the model has a gap", list(&r.system), os.display_name(), list(&r.addresses)),
            },
            Some(match snap.os {
                Os::Linux => "restart or flush the cache (nscd -i hosts); if none runs, report the difference with this output".into(),
                Os::Windows => "flush the DNS client's cache (ipconfig /flushdns) and look again; if it persists, report the difference with this output".into(),
                Os::Macos => "flush the resolver's cache (sudo dscacheutil -flushcache; sudo killall -HUP mDNSResponder) and look again; if it persists, report the difference with this output".into(),
            }),
        ));
    }
    if !r.model_complete {
        out.push(finding(
            FindingCode::ModelIncomplete,
            Severity::Info,
            "the answer comes from a source this tool does not model (see steps); the order shown under system is authoritative".into(),
            None,
        ));
    }
    if let (Some(port), Some(first)) = (r.port, answer.first()) {
        let links = Links::from_snapshot(snap)?;
        let report = audit(snap, &AuditOptions::default())?;
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
                FindingCode::FirstAddressMismatch,
                Severity::Problem,
                format!(
                    "{name} resolves first to {first}, but the service on port {port} listens on {}: clients that use only the first address fail with ECONNREFUSED {first}",
                    others.join(", ")
                ),
                Some(format!("bind the service to both families (`::` with IPV6_V6ONLY off, or 127.0.0.1 and ::1), or connect to the address it listens on instead of {name}")),
            ));
        }
    }
    Ok(out)
}
