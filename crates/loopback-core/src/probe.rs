//! `probe`: try every address a name resolves to, in the resolver's order, as curl and browsers
//! do, and explain what the results mean.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use loopback_model::{
    Attempt, AttemptResult, Diagnosis, DiagnosisCode, IdentifiedBy, Listener, ProbeReport, Proto,
    PROBE_VERSION,
};
use loopback_sys::probe::ErrorKindName;
use loopback_sys::probe::HttpReply;
use loopback_sys::{ProbeOutcome, QueryFamily, SysError, SystemView};

use crate::audit::{audit_with_links, read_links, AuditOptions};
use crate::classify::is_loopback;
use crate::explain::{accepts, assignments};

/// How to probe.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    pub timeout: Duration,
    /// Send `GET /` and report the status line.
    pub http: bool,
    /// Probe a UDP port instead of TCP.
    pub udp: bool,
}

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            timeout: Duration::from_millis(1000),
            http: false,
            udp: false,
        }
    }
}

/// Errors from `probe`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ProbeError {
    #[error("{0:?} is not HOST:PORT or [V6]:PORT")]
    BadTarget(String),
    #[error("--http and --udp cannot be combined")]
    HttpOverUdp,
    #[error(transparent)]
    Sys(#[from] SysError),
}

/// Split `HOST`, `HOST:PORT`, `[V6]` or `[V6]:PORT` (a bare IPv6 address has no port). `None`
/// when the form is malformed: unclosed brackets, brackets around a non-IPv6 host, an empty
/// host, or a port that is not 1-65535. Shared by `probe`, `doctor --reach` and `resolve`.
pub fn split_host_port(t: &str) -> Option<(String, Option<u16>)> {
    let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p != 0);
    if let Some(rest) = t.strip_prefix('[') {
        let (h, after) = rest.split_once(']')?;
        h.parse::<std::net::Ipv6Addr>().ok()?;
        return match after {
            "" => Some((h.to_owned(), None)),
            _ => Some((h.to_owned(), Some(port(after.strip_prefix(':')?)?))),
        };
    }
    match t.rsplit_once(':') {
        Some((h, _)) if h.contains(':') => Some((t.to_owned(), None)),
        Some(("", _)) => None,
        Some((h, p)) => Some((h.to_owned(), Some(port(p)?))),
        None if t.is_empty() => None,
        None => Some((t.to_owned(), None)),
    }
}

/// Split `HOST:PORT` or `[V6]:PORT`; the port is required.
pub fn split_target(t: &str) -> Result<(String, u16), ProbeError> {
    match split_host_port(t) {
        Some((host, Some(port))) => Ok((host, port)),
        _ => Err(ProbeError::BadTarget(t.to_owned())),
    }
}

/// `tcp 127.0.0.1:3000 (node[812])`.
pub fn describe_listener(l: &Listener) -> String {
    let addr = SocketAddr::new(l.address, l.port);
    let who: Vec<String> = l
        .owners
        .iter()
        .map(|o| format!("{}[{}]", o.name, o.pid))
        .collect();
    let v6 = match (l.address.is_ipv6() && l.address.is_unspecified(), l.v6only) {
        (true, Some(true)) => " IPv6 only",
        (true, _) => " dual-stack",
        _ => "",
    };
    if who.is_empty() {
        format!("{} {addr}{v6}", l.proto)
    } else {
        format!("{} {addr}{v6} ({})", l.proto, who.join(", "))
    }
}

fn result_of(o: &ProbeOutcome) -> (AttemptResult, Option<f64>, Option<String>) {
    match o {
        ProbeOutcome::Ok { rtt } => (
            AttemptResult::Connected,
            Some(rtt.as_secs_f64() * 1000.0),
            None,
        ),
        ProbeOutcome::Timeout { stage } => (
            AttemptResult::Timeout,
            None,
            Some(format!("no answer at {stage}")),
        ),
        ProbeOutcome::Error {
            kind: ErrorKindName::ConnectionRefused,
            message,
            ..
        } => (AttemptResult::Refused, None, Some(message.clone())),
        ProbeOutcome::Error {
            kind: ErrorKindName::PermissionDenied,
            message,
            ..
        } => (
            AttemptResult::Unreachable,
            None,
            Some(format!("{message}: a local packet filter blocks it")),
        ),
        ProbeOutcome::Error {
            kind:
                ErrorKindName::NetworkUnreachable
                | ErrorKindName::HostUnreachable
                | ErrorKindName::AddrNotAvailable,
            message,
            ..
        } => (AttemptResult::Unreachable, None, Some(message.clone())),
        ProbeOutcome::Error { message, .. } => (AttemptResult::Error, None, Some(message.clone())),
        ProbeOutcome::Unavailable { reason } => (AttemptResult::Error, None, Some(reason.clone())),
    }
}

/// Probe `target` (`HOST:PORT`).
pub fn probe(
    sys: &dyn SystemView,
    target: &str,
    opts: &ProbeOptions,
) -> Result<ProbeReport, ProbeError> {
    if opts.http && opts.udp {
        return Err(ProbeError::HttpOverUdp);
    }
    let (host, port) = split_target(target)?;
    let proto = if opts.udp { Proto::Udp } else { Proto::Tcp };
    let resolved = match host.parse::<IpAddr>() {
        Ok(ip) => Ok(vec![ip]),
        Err(_) => sys.getaddrinfo(&host, QueryFamily::Unspec, true),
    };
    let addrs = match resolved {
        Ok(a) if !a.is_empty() => a,
        Ok(_) | Err(_) => {
            let why = match sys.getaddrinfo(&host, QueryFamily::Unspec, true) {
                Err(e) => e,
                Ok(_) => "no addresses".into(),
            };
            return Ok(ProbeReport {
                version: PROBE_VERSION,
                target: target.to_owned(),
                proto,
                attempts: vec![],
                diagnosis: Diagnosis {
                    code: DiagnosisCode::Unresolved,
                    summary: format!("{host} does not resolve: {why}"),
                    fix: Some(format!("see how it resolves: loopback resolve {host}")),
                },
                listeners: vec![],
            });
        }
    };
    let mut attempts = Vec::new();
    for a in &addrs {
        let sa = SocketAddr::new(*a, port);
        let (outcome, reply) = if opts.udp {
            (sys.udp_probe(sa, opts.timeout), HttpReply::NotSent)
        } else if opts.http {
            sys.http_get(sa, &host, opts.timeout)
        } else {
            (sys.tcp_connect(sa, opts.timeout), HttpReply::NotSent)
        };
        let (mut result, time_ms, mut detail) = result_of(&outcome);
        let mut status_line = None;
        if opts.http && result == AttemptResult::Connected {
            match reply {
                HttpReply::Status(line) => status_line = Some(line),
                HttpReply::NotHttp(first) => {
                    result = AttemptResult::NotHttp;
                    let shown = &first[..first.len().min(64)];
                    detail = Some(format!(
                        "the reply does not start with an HTTP status line; its first bytes: {}",
                        String::from_utf8_lossy(shown)
                    ));
                }
                HttpReply::NoResponse { closed } => {
                    result = AttemptResult::NoResponse;
                    detail = Some(if closed {
                        "the server closed the connection without a reply".to_owned()
                    } else {
                        format!(
                            "no reply within {} ms of connecting",
                            opts.timeout.as_millis()
                        )
                    });
                }
                HttpReply::NotSent => {}
            }
        }
        let http_status = status_line
            .as_deref()
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok());
        attempts.push(Attempt {
            address: *a,
            port,
            result,
            time_ms,
            http_status,
            http_status_line: status_line,
            detail,
        });
    }
    // Listeners on this host matter only when the target is this host.
    let links = read_links(sys)?;
    let local = addrs
        .iter()
        .any(|a| is_loopback(*a) || !assignments(*a, &links).is_empty());
    let listeners: Vec<Listener> = if local {
        audit_with_links(sys, &AuditOptions::default(), &links)?
            .listeners
            .into_iter()
            .filter(|l| l.port == port && l.proto == proto)
            .collect()
    } else {
        Vec::new()
    };
    let diagnosis = diagnose(&host, port, proto, &attempts, &listeners, &links);
    Ok(ProbeReport {
        version: PROBE_VERSION,
        target: target.to_owned(),
        proto,
        attempts,
        diagnosis,
        listeners,
    })
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
    links: &crate::scope::Links,
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
            code: DiagnosisCode::Ok,
            summary: format!(
                "every address of {host} accepts {proto} on port {port}: {}",
                addr_list(&ok)
            ),
            fix: None,
        };
    }
    if !ok.is_empty() {
        let first_failed = attempts
            .first()
            .is_some_and(|a| a.result != AttemptResult::Connected);
        let who = if first_failed {
            format!(
                "clients that use only the first address ({}) fail: Node.js 17+ resolving localhost to ::1 first, dev-server proxies and many language clients report ECONNREFUSED or a timeout; curl, browsers and Go fall back to the next address{}",
                attempts[0].address,
                if dropped { " only after a timeout" } else { "" }
            )
        } else {
            format!(
                "clients that use the first address work; clients limited to the other family (IPv{}-only configurations) fail",
                if bad[0].address.is_ipv4() { "4" } else { "6" }
            )
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
            code: DiagnosisCode::Filtered,
            summary: format!("no address of {host} answers on port {port}: packets are dropped (timeouts or a local filter) at {}", addr_list(&bad)),
            fix: Some(format!(
                "check the packet filters between here and {host} (for this host: `loopback doctor` names the rule)"
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
        code: DiagnosisCode::Refused,
        summary,
        fix,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeSystem;

    #[test]
    fn targets() {
        assert_eq!(
            split_target("localhost:3000").ok(),
            Some(("localhost".into(), 3000))
        );
        assert_eq!(split_target("[::1]:80").ok(), Some(("::1".into(), 80)));
        for bad in ["localhost", "::1:80", "[::1]80", "host:0", ":80", "[x]:80"] {
            assert!(split_target(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn mismatch_names_the_first_address_and_the_listener() {
        let mut sys = FakeSystem::lan();
        sys.names.insert(
            "localhost".into(),
            vec!["::1".parse().expect("ip"), "127.0.0.1".parse().expect("ip")],
        );
        sys.add_socket(Proto::Tcp, "127.0.0.1", 3000, None, 5);
        sys.connect_ok.push("127.0.0.1:3000".parse().expect("sa"));
        let r = probe(&sys, "localhost:3000", &ProbeOptions::default()).expect("probe");
        assert_eq!(r.diagnosis.code, "mismatch");
        assert!(
            r.diagnosis.summary.contains("only the first address (::1)"),
            "{}",
            r.diagnosis.summary
        );
        assert!(
            r.diagnosis
                .summary
                .contains("tcp 127.0.0.1:3000 is listening"),
            "{}",
            r.diagnosis.summary
        );
        assert_eq!(r.attempts[0].result, "refused");
        assert_eq!(r.attempts[1].result, "connected");
    }

    #[test]
    fn refused_everywhere_names_the_listener_elsewhere() {
        let mut sys = FakeSystem::lan();
        sys.names
            .insert("localhost".into(), vec!["127.0.0.1".parse().expect("ip")]);
        sys.add_socket(Proto::Tcp, "::1", 4000, Some(true), 6);
        let r = probe(&sys, "localhost:4000", &ProbeOptions::default()).expect("probe");
        assert_eq!(r.diagnosis.code, "refused");
        assert!(
            r.diagnosis.summary.contains("tcp [::1]:4000"),
            "{}",
            r.diagnosis.summary
        );
        assert!(r
            .diagnosis
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("[::1]:4000")));
    }

    #[test]
    fn unresolved() {
        let sys = FakeSystem::lan();
        let r = probe(&sys, "nope.test:80", &ProbeOptions::default()).expect("probe");
        assert_eq!(r.diagnosis.code, "unresolved");
        assert!(r.attempts.is_empty());
    }
}

#[cfg(test)]
mod service_tests {
    use super::*;
    use crate::testing::FakeSystem;
    use loopback_sys::ProcessInfo;

    #[test]
    fn refused_diagnosis_uses_the_service_table() {
        let mut sys = FakeSystem::lan();
        sys.names
            .insert("localhost".into(), vec!["::1".parse().expect("ip")]);
        sys.add_socket(Proto::Tcp, "127.0.0.1", 5432, None, 9);
        sys.add_owner(
            9,
            ProcessInfo {
                pid: 40,
                comm: "postgres".into(),
                euid: Some(105),
                argv: vec![
                    "/usr/lib/postgresql/15/bin/postgres".into(),
                    "-D".into(),
                    "/srv/pg".into(),
                ],
            },
        );
        sys.files.insert(
            "/proc/40/root/srv/pg/postgresql.conf".into(),
            b"listen_addresses = '127.0.0.1'\n".to_vec(),
        );
        let r = probe(&sys, "localhost:5432", &ProbeOptions::default()).expect("probe");
        assert_eq!(r.diagnosis.code, "refused");
        assert!(
            r.diagnosis
                .summary
                .contains("(PostgreSQL: listen_addresses in /srv/pg/postgresql.conf)"),
            "{}",
            r.diagnosis.summary
        );
        let fix = r.diagnosis.fix.as_deref().unwrap_or_default();
        assert!(
            fix.starts_with("add ::1 to listen_addresses in /srv/pg/postgresql.conf"),
            "{fix}"
        );
    }
}
