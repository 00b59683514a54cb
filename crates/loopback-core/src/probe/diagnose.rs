//! What probe attempts mean, judged on a snapshot of this host's listeners: a pure function.

use std::net::{IpAddr, SocketAddr};

use loopback_model::{
    Attempt, AttemptResult, Diagnosis, DiagnosisCode, IdentifiedBy, Listener, ProbeReport, Proto,
    PROBE_VERSION,
};

use crate::audit::{audit, AuditOptions};
use crate::classify::is_loopback;
use crate::explain::{accepts, assignments};
use crate::scope::{wildcard_stack, Links, WildcardStack};
use crate::snapshot::{MissingPart, Snapshot};

/// What was tried, live.
#[derive(Debug, Clone)]
pub struct Tried {
    /// The target as given.
    pub target: String,
    /// Its host part.
    pub host: String,
    /// The port.
    pub port: u16,
    /// TCP or UDP.
    pub proto: Proto,
    /// Whether the host was an address (no resolver involved).
    pub literal: bool,
    /// One attempt per address, in the resolver's order.
    pub attempts: Vec<Attempt>,
    /// Attempts at addresses only some client uses (`ProbeReport::client_attempts`).
    pub client_attempts: Vec<Attempt>,
    /// Where each attempted TCP connection really went (`intercept`'s trace), when traced.
    pub paths: Vec<loopback_model::intercept::InterceptPath>,
}

/// The diagnosis when a rule diverted an attempt: the rule and the receiver named, instead
/// of blaming the service.
fn intercepted(tried: &Tried) -> Option<Diagnosis> {
    use loopback_model::intercept::PathVerdict;
    let p = tried
        .paths
        .iter()
        .find(|p| matches!(p.verdict, PathVerdict::Redirected | PathVerdict::Tunneled))?;
    let asked = SocketAddr::new(p.address, p.port);
    let steps: Vec<String> = p
        .steps
        .iter()
        .filter(|s| s.kind.as_str() != "route" || p.verdict == PathVerdict::Tunneled)
        .map(|s| format!("{} -> {}", s.rule, s.to))
        .collect();
    let receiver = match &p.reaches {
        Some(r) if r.listening => {
            let who: Vec<String> = r
                .owners
                .iter()
                .map(|o| format!("{}[{}]", o.name, o.pid))
                .collect();
            format!(
                "it is received by {} on {}",
                if who.is_empty() {
                    "a listener".to_owned()
                } else {
                    who.join(", ")
                },
                SocketAddr::new(r.address, r.port)
            )
        }
        Some(r) => format!(
            "nothing listens where it is sent ({})",
            SocketAddr::new(r.address, r.port)
        ),
        None => match &p.interface {
            Some(dev) => format!("it leaves by {dev}"),
            None => "it leaves this host".to_owned(),
        },
    };
    Some(Diagnosis {
        code: DiagnosisCode::Intercepted,
        summary: format!(
            "the connection to {asked} was {} on this host: {}; {receiver}, so what the attempt met is not the service at {asked}",
            if p.verdict == PathVerdict::Redirected { "redirected" } else { "routed through another table" },
            steps.join("; ")
        ),
        fix: Some(format!(
            "see the whole path: loopback intercept {asked}; if the rule belongs to a proxy or VPN client that is not meant to take this traffic, remove it or stop that client"
        )),
        rules: Vec::new(),
    })
}

/// Whether `ip` is this host's: loopback, or assigned here (or covered by a loopback prefix).
pub(crate) fn is_local(ip: IpAddr, links: &Links) -> bool {
    is_loopback(ip) || !assignments(ip, links).is_empty()
}

/// Whether an attempted address is this host's.
pub(crate) fn is_this_host(snap: &Snapshot, tried: &Tried) -> bool {
    let Ok(links) = Links::from_snapshot(snap) else {
        return tried.attempts.iter().any(|a| is_loopback(a.address));
    };
    tried.attempts.iter().any(|a| is_local(a.address, &links))
}

/// Judge the attempts: the listeners on the port when the target is this host, and the
/// diagnosis. Needs the `interfaces` part, and the listener parts when the target is local.
pub fn judge(snap: &Snapshot, tried: Tried) -> Result<ProbeReport, MissingPart> {
    let links = Links::from_snapshot(snap)?;
    let listeners: Vec<Listener> = if is_this_host(snap, &tried) {
        audit(snap, &AuditOptions::default())?
            .listeners
            .into_iter()
            .filter(|l| l.port == tried.port && l.proto == tried.proto)
            .collect()
    } else {
        Vec::new()
    };
    let mut clients = if tried.proto == Proto::Tcp {
        super::clients::predict(
            &tried.host,
            tried.port,
            tried.literal,
            &tried.attempts,
            &tried.client_attempts,
        )
    } else {
        Vec::new()
    };
    // The profiles were checked against the real programs on Linux only.
    if snap.os != loopback_model::Os::Linux {
        for c in &mut clients {
            if c.tested {
                c.tested = false;
                c.label = format!(
                    "{} (tested on Linux; a hypothesis on {})",
                    c.label,
                    snap.os.display_name()
                );
            }
        }
    }
    // The packet filter, read once, when it was captured (a failed attempt to this host).
    let filter = snap
        .firewall
        .is_requested()
        .then(|| crate::exposure::ruleset_of(&snap.firewall));
    let who = super::clients::summary(&clients);
    let diagnosis = intercepted(&tried)
        .or_else(|| {
            super::evidence::from_evidence(
                snap,
                filter.as_ref(),
                &tried,
                &listeners,
                &links,
                who.as_deref(),
            )
        })
        .unwrap_or_else(|| {
            let mut d = diagnose(
                &tried.host,
                tried.port,
                tried.proto,
                &tried.attempts,
                &listeners,
                &links,
                who.as_deref(),
            );
            if d.code == DiagnosisCode::Filtered {
                if let Some(why) = filter.as_ref().and_then(|f| f.incomplete.as_ref()) {
                    d.summary.push_str(&format!(" ({why})"));
                }
            }
            d
        });
    Ok(ProbeReport {
        version: PROBE_VERSION,
        target: tried.target,
        proto: tried.proto,
        attempts: tried.attempts,
        client_attempts: tried.client_attempts,
        clients,
        diagnosis,
        listeners,
        http: None,
    })
}

/// `tcp 127.0.0.1:3000 (node[812])`.
pub fn describe_listener(l: &Listener) -> String {
    let addr = SocketAddr::new(l.address, l.port);
    let who: Vec<String> = l
        .owners
        .iter()
        .map(|o| format!("{}[{}]", o.name, o.pid))
        .collect();
    let v6 = match wildcard_stack(l.address, l.v6only) {
        Some(WildcardStack::Ipv6Only) => " IPv6 only",
        Some(WildcardStack::DualStack | WildcardStack::AssumedDualStack) => " dual-stack",
        None => "",
    };
    if who.is_empty() {
        format!("{} {addr}{v6}", l.proto)
    } else {
        format!("{} {addr}{v6} ({})", l.proto, who.join(", "))
    }
}

fn addr_list(v: &[&Attempt]) -> String {
    v.iter()
        .map(|a| a.address.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Why a listener does not take connections to `ip`.
fn why_not(l: &Listener, ip: IpAddr) -> String {
    let bound = crate::classify::unmap(l.address);
    if l.address.is_ipv6()
        && l.address.is_unspecified()
        && l.v6only == Some(true)
        && crate::classify::unmap(ip).is_ipv4()
    {
        format!("it is an IPv6-only socket and {ip} is IPv4")
    } else if bound.is_unspecified() {
        format!(
            "it is bound to the {} wildcard, and {ip} is the other family",
            if bound.is_ipv4() { "IPv4" } else { "IPv6" }
        )
    } else {
        format!(
            "it is bound to {}, and {ip} is a different address",
            l.address
        )
    }
}

fn diagnose(
    host: &str,
    port: u16,
    proto: Proto,
    attempts: &[Attempt],
    listeners: &[Listener],
    links: &Links,
    clients: Option<&str>,
) -> Diagnosis {
    let ok: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| a.result == AttemptResult::Connected)
        .collect();
    let bad: Vec<&Attempt> = attempts
        .iter()
        .filter(|a| a.result != AttemptResult::Connected)
        .collect();
    let dropped = bad.iter().any(|a| {
        a.result == AttemptResult::Timeout
            || a.detail
                .as_deref()
                .is_some_and(|d| d.contains("packet filter"))
    });
    let elsewhere = |failed: &[&Attempt]| -> Option<String> {
        let mut parts = Vec::new();
        for l in listeners {
            let missed: Vec<String> = failed
                .iter()
                .filter(|a| !accepts(l, a.address, links))
                .map(|a| why_not(l, a.address))
                .collect();
            if !missed.is_empty() {
                // Only a service named from its process; a port-only guess is no evidence.
                let svc = l
                    .service
                    .as_ref()
                    .filter(|s| s.identified_by == IdentifiedBy::Process)
                    .map(|s| {
                        let at = s
                            .config_file
                            .as_deref()
                            .map(|c| format!(" in {c}"))
                            .unwrap_or_default();
                        format!(" ({}: {}{at})", s.name, s.setting)
                    });
                parts.push(format!(
                    "{}{} is listening, but {}",
                    describe_listener(l),
                    svc.unwrap_or_default(),
                    missed.join("; ")
                ));
            }
        }
        (!parts.is_empty()).then(|| parts.join(". "))
    };
    let with =
        |r: AttemptResult| -> Vec<&Attempt> { attempts.iter().filter(|a| a.result == r).collect() };
    let garbled = with(AttemptResult::NotHttp);
    if !garbled.is_empty() {
        return Diagnosis {
            rules: Vec::new(),
            code: DiagnosisCode::NotHttp,
            summary: format!(
                "{host}:{port} accepts connections at {}, but what answers is not an HTTP server: \
                 the first line of its reply is not an HTTP status line",
                addr_list(&garbled)
            ),
            fix: Some(format!(
                "check which service listens on port {port} (`loopback audit`); probe it without --http, or use the port of the HTTP service"
            )),
        };
    }
    let silent = with(AttemptResult::NoResponse);
    if !silent.is_empty() {
        return Diagnosis {
            rules: Vec::new(),
            code: DiagnosisCode::NoResponse,
            summary: format!(
                "{host}:{port} accepts connections at {}, but no HTTP reply came: the server is \
                 stuck or overloaded, or it expects something else first (TLS, another protocol)",
                addr_list(&silent)
            ),
            fix: Some(format!(
                "check the service behind port {port} (`loopback audit`); if it speaks TLS, probe it with an HTTPS client"
            )),
        };
    }
    if bad.is_empty() {
        return Diagnosis {
            rules: Vec::new(),
            code: DiagnosisCode::Ok,
            summary: format!(
                "every address of {host} accepts {proto} on port {port}: {}",
                addr_list(&ok)
            ),
            fix: None,
        };
    }
    if !ok.is_empty() {
        // What each tested client does, when that is known; otherwise what the order implies.
        let who = match clients {
            Some(c) => c.to_owned(),
            None => {
                let first_failed = attempts
                    .first()
                    .is_some_and(|a| a.result != AttemptResult::Connected);
                if first_failed {
                    format!(
                        "clients that use only the first address ({}) fail with the error it got; clients that try the next address connect{}",
                        attempts[0].address,
                        if dropped { " only after a timeout" } else { "" }
                    )
                } else {
                    format!(
                        "clients that use the first address work; clients limited to the other family (IPv{}-only configurations) fail",
                        if bad[0].address.is_ipv4() { "4" } else { "6" }
                    )
                }
            }
        };
        let mut summary = format!(
            "{host}:{port} accepts on {} but not on {}: {who}",
            addr_list(&ok),
            addr_list(&bad)
        );
        if let Some(e) = elsewhere(&bad) {
            summary.push_str(&format!(". {e}"));
        }
        return Diagnosis {
            rules: Vec::new(),
            code: DiagnosisCode::Mismatch,
            summary,
            fix: Some(format!(
                "bind the service to every address {host} resolves to (`::` with IPV6_V6ONLY off, or both 127.0.0.1 and ::1), or make {host} resolve only to {}",
                addr_list(&ok)
            )),
        };
    }
    if dropped {
        return Diagnosis {
            rules: Vec::new(),
            code: DiagnosisCode::Filtered,
            summary: format!("no address of {host} answers on port {port}: packets are dropped (timeouts or a local filter) at {}", addr_list(&bad)),
            fix: Some(format!(
                "check the packet filters between here and {host}; no rule of this host's readable ruleset drops it"
            )),
        };
    }
    let mut summary = format!(
        "every address of {host} refuses {proto} on port {port}: {}",
        addr_list(&bad)
    );
    let fix = match elsewhere(&bad) {
        Some(e) => {
            summary.push_str(&format!(". {e}, so {host} does not reach it"));
            let l = &listeners[0];
            let target = SocketAddr::new(l.address, port);
            Some(match l.service.as_ref().filter(|s| s.identified_by == IdentifiedBy::Process) {
                Some(s) => format!(
                    "add {} to {}{} so that {host} reaches it (keep it on loopback), or connect to {target} instead",
                    addr_list(&bad),
                    s.setting,
                    s.config_file.as_deref().map(|c| format!(" in {c}")).unwrap_or_default()
                ),
                None => format!("bind the service to an address {host} resolves to (or to `::` with IPV6_V6ONLY off), or connect to {target} instead"),
            })
        }
        None => Some(format!(
            "nothing listens on port {port} there: start the service, or check the port"
        )),
    };
    Diagnosis {
        rules: Vec::new(),
        code: DiagnosisCode::Refused,
        summary,
        fix,
    }
}
