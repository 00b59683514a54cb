//! `probe`: try every address a name resolves to, in the resolver's order, as curl and browsers
//! do, and explain what the results mean.
//!
//! The attempts are live ([`run`], through a [`Prober`]); what they mean is judged on a
//! snapshot of the listeners ([`judge`], in `diagnose`).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use loopback_model::{
    Attempt, AttemptResult, Diagnosis, DiagnosisCode, ProbeReport, Proto, PROBE_VERSION,
};
use loopback_sys::probe::ErrorKindName;
use loopback_sys::probe::HttpReply;
use loopback_sys::{ProbeOutcome, Prober, QueryFamily, SysError, SystemView};

use crate::resolve::LibcAnswers;
use crate::snapshot::{MissingPart, Parts, Request, ResolverPaths, Snapshot};
use crate::target::TargetError;
use crate::timings::Timings;

mod clients;
mod diagnose;
mod evidence;

pub use diagnose::{describe_listener, judge, Tried};
// `names verify` asks the same questions of a name: is it a localhost name, and what do
// curl and the browsers answer it with.
pub(crate) use clients::own_addresses;
pub(crate) use evidence::must_be_loopback;

/// How to probe.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// Deadline of each attempt.
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
    #[error(transparent)]
    /// The target does not follow the grammar.
    BadTarget(#[from] TargetError),
    #[error("--http and --udp cannot be combined")]
    /// `--http` over UDP.
    HttpOverUdp,
    #[error(transparent)]
    /// The system could not be read.
    Sys(#[from] SysError),
    #[error("cannot judge the attempts without {0}")]
    /// The snapshot lacks a part the diagnosis needs.
    Missing(#[from] MissingPart),
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

/// The addresses `host` resolves to, in the order a client here gets them: the C library's
/// answer; or, when this binary's resolver is not the one the host's programs load
/// ([`Prober::foreign_resolver`]), the model of glibc's, as long as it covers every source
/// that answers (a name only DNS knows falls back to the linked resolver). With the model
/// comes the snapshot it judged, so that the diagnosis reads the same resolver files.
fn resolve_name(
    sys: &dyn SystemView,
    prober: &dyn Prober,
    host: &str,
) -> (Result<Vec<IpAddr>, String>, Option<Snapshot>) {
    let Some(why) = prober.foreign_resolver() else {
        return (prober.getaddrinfo(host, QueryFamily::Unspec, true), None);
    };
    let snap = crate::resolve::capture(sys, host, None, &ResolverPaths::default());
    let not_asked = LibcAnswers::not_asked(why.to_owned());
    match crate::resolve::judge(&snap, host, None, &not_asked) {
        Ok(r) if r.model_complete => (Ok(r.addresses), Some(snap)),
        _ => (
            prober.getaddrinfo(host, QueryFamily::Unspec, true),
            Some(snap),
        ),
    }
}

/// Probe `target` (`HOST:PORT`): resolve it as the C library does, try every address live,
/// then judge the attempts on a snapshot of this host's listeners (captured only when the
/// target is this host).
pub fn run(
    sys: &dyn SystemView,
    prober: &dyn Prober,
    target: &str,
    opts: &ProbeOptions,
    timings: &Timings,
) -> Result<ProbeReport, ProbeError> {
    let asked = crate::target::parse_probe(target)?;
    let opts = &ProbeOptions {
        http: opts.http || asked.http,
        ..opts.clone()
    };
    if opts.http && opts.udp {
        return Err(ProbeError::HttpOverUdp);
    }
    let (parsed, port) = (asked.target, asked.port);
    let host = parsed.host();
    let literal = parsed.ip().is_some();
    // A zone names the interface a link-local address is reached through: its index goes
    // into every attempt's socket address.
    let scope = match &parsed {
        crate::target::Target::Scoped(_, zone, _) => {
            let ifs = sys.interfaces()?;
            Some(crate::target::scope_of(zone, &ifs).map_err(|why| {
                ProbeError::BadTarget(TargetError {
                    target: target.to_owned(),
                    expected: crate::target::WITH_PORT,
                    why,
                })
            })?)
        }
        _ => None,
    };
    let at = |a| crate::target::socket_addr(a, port, scope);
    let proto = if opts.udp { Proto::Udp } else { Proto::Tcp };
    let (resolved, seed) = timings.time("resolve", || match parsed {
        t if t.ip().is_some() => (Ok(t.ip().into_iter().collect()), None),
        _ => resolve_name(sys, prober, &host),
    });
    let addrs = match resolved {
        Ok(a) if !a.is_empty() => a,
        other => {
            let why = match other {
                Err(e) => e,
                Ok(_) => "no addresses".into(),
            };
            return Ok(ProbeReport {
                version: PROBE_VERSION,
                target: target.to_owned(),
                proto,
                attempts: vec![],
                client_attempts: vec![],
                clients: vec![],
                diagnosis: Diagnosis {
                    rules: Vec::new(),
                    code: DiagnosisCode::Unresolved,
                    summary: format!("{host} does not resolve: {why}"),
                    fix: Some(format!("see how it resolves: loopback resolve {host}")),
                },
                listeners: vec![],
                http: None,
            });
        }
    };
    let attempts = timings.time("attempts", || {
        addrs
            .iter()
            .map(|a| attempt(prober, at(*a), &host, opts))
            .collect()
    });
    // Addresses some TCP client tries although the resolver did not return them (curl answers
    // localhost itself): tried too, so that what that client does is known.
    let client_attempts = if proto == Proto::Tcp && !literal {
        timings.time("client attempts", || {
            clients::own_addresses(&host)
                .into_iter()
                .filter(|a| !addrs.contains(a))
                .map(|a| attempt(prober, SocketAddr::new(a, port), &host, opts))
                .collect()
        })
    } else {
        Vec::new()
    };
    let mut tried = Tried {
        target: target.to_owned(),
        host,
        port,
        proto,
        literal,
        attempts,
        client_attempts,
        paths: Vec::new(),
    };
    // Listeners on this host matter only when the target is this host.
    let snap = timings.time("capture", || {
        let mut snap = match seed {
            // What the model captured holds the links already, and the resolver files it read.
            Some(snap) => snap,
            None => crate::snapshot::capture(sys, &Request::of(Parts::LINKS)),
        };
        if diagnose::is_this_host(&snap, &tried) {
            // A connection to this host that was refused or got no answer may have met a rule
            // here; a name that must be local is checked against the hosts file.
            let failed = tried
                .attempts
                .iter()
                .any(|a| a.result != loopback_model::AttemptResult::Connected);
            crate::snapshot::extend(
                &mut snap,
                sys,
                &Request::of(Parts::LISTENERS.with(Parts {
                    firewall: failed,
                    resolver: evidence::must_be_loopback(&tried.host),
                    ..Parts::default()
                })),
            );
        }
        snap
    });
    let mut snap = snap;
    if proto == Proto::Tcp && snap.os == loopback_model::Os::Linux {
        tried.paths = timings.time("intercept", || traced(sys, &mut snap, &tried));
    }
    let mut report = timings.time("judge", || judge(&snap, tried))?;
    if opts.http && proto == Proto::Tcp {
        report.http = timings.time("http", || browser_check(sys, &report, scope, opts.timeout));
    }
    Ok(report)
}

/// `--http`: the browser's questions ([`crate::http`]) to the first address that accepted.
fn browser_check(
    sys: &dyn SystemView,
    report: &ProbeReport,
    scope: Option<u32>,
    timeout: Duration,
) -> Option<Box<loopback_model::http::HttpCheck>> {
    let a = report
        .attempts
        .iter()
        .chain(&report.client_attempts)
        .find(|a| a.result == loopback_model::AttemptResult::Connected)?;
    let target = crate::target::socket_addr(a.address, a.port, scope);
    let capture = crate::http::capture_one(sys, target, &crate::http::foreign_name(), timeout);
    let service = report
        .listeners
        .iter()
        .find(|l| l.port == a.port && l.proto == Proto::Tcp)
        .and_then(|l| l.service.clone());
    Some(Box::new(crate::http::judge(&capture, service.as_deref())))
}

/// Where each attempted connection went, by `intercept`'s trace for this process's uid: the
/// output hook's rules (the filter is read for it) and the kernel's route.
fn traced(
    sys: &dyn SystemView,
    snap: &mut crate::snapshot::Snapshot,
    tried: &Tried,
) -> Vec<loopback_model::intercept::InterceptPath> {
    crate::snapshot::extend(
        snap,
        sys,
        &Request::of(Parts {
            firewall: true,
            interfaces: true,
            ..Parts::default()
        }),
    );
    let rules = sys.policy_rules().map_err(|e| e.to_string());
    // Cgroup programs are not listed here: only a diversion the rules show is reported.
    let programs = Ok(Vec::new());
    let targets: Vec<(IpAddr, u16)> = tried.attempts.iter().map(|a| (a.address, a.port)).collect();
    let client = loopback_model::intercept::InterceptClient {
        uid: Some(sys.effective_uid()),
        user: None,
        pid: None,
        cgroup: None,
    };
    let mut ask =
        |q: crate::intercept::RouteQuery| sys.route_get(q.0, q.1, q.2).map_err(|e| e.to_string());
    let inputs = crate::intercept::Inputs {
        rules: &rules,
        programs: &programs,
    };
    let mut paths = crate::intercept::judge(
        snap,
        &inputs,
        &tried.target,
        &targets,
        client.clone(),
        &mut ask,
    )
    .paths;
    // A connection redirected to this host: its receiver is named from the listeners.
    if paths.iter().any(|p| p.reaches.is_some()) && !snap.sockets.is_requested() {
        crate::snapshot::extend(snap, sys, &Request::of(Parts::LISTENERS));
        paths =
            crate::intercept::judge(snap, &inputs, &tried.target, &targets, client, &mut ask).paths;
    }
    paths
}

/// One live attempt at `sa`.
fn attempt(prober: &dyn Prober, sa: SocketAddr, host: &str, opts: &ProbeOptions) -> Attempt {
    let (outcome, reply) = if opts.udp {
        (prober.udp_probe(sa, opts.timeout), HttpReply::NotSent)
    } else if opts.http {
        prober.http_get(sa, host, opts.timeout)
    } else {
        (prober.tcp_connect(sa, opts.timeout), HttpReply::NotSent)
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
    Attempt {
        address: sa.ip(),
        port: sa.port(),
        result,
        time_ms,
        http_status,
        http_status_line: status_line,
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeSystem;

    /// `run` on the fixture with the default options.
    pub(super) fn probe(sys: &FakeSystem, target: &str) -> ProbeReport {
        run(sys, sys, target, &ProbeOptions::default(), &Timings::new()).expect("probe")
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
        let r = probe(&sys, "localhost:3000");
        assert_eq!(r.diagnosis.code, "mismatch");
        assert!(
            r.diagnosis
                .summary
                .contains("Node.js without autoSelectFamily (its default before Node 20) fails"),
            "{}",
            r.diagnosis.summary
        );
        let node = r
            .clients
            .iter()
            .find(|c| c.client == loopback_model::ClientId::NodeFirstAddress)
            .expect("node profile");
        assert_eq!(node.error.as_deref(), Some("connect ECONNREFUSED ::1:3000"));
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
    fn client_profiles_are_hypotheses_off_linux() {
        let mut sys = FakeSystem::lan();
        sys.os = loopback_model::Os::Windows;
        sys.names.insert(
            "localhost".into(),
            vec!["::1".parse().expect("ip"), "127.0.0.1".parse().expect("ip")],
        );
        sys.add_socket(Proto::Tcp, "127.0.0.1", 3000, None, 5);
        sys.connect_ok.push("127.0.0.1:3000".parse().expect("sa"));
        let r = probe(&sys, "localhost:3000");
        assert_eq!(r.diagnosis.code, "mismatch");
        assert!(!r.clients.is_empty());
        assert!(r.clients.iter().all(|c| !c.tested), "{:?}", r.clients);
        assert!(r
            .clients
            .iter()
            .any(|c| c.label.contains("a hypothesis on Windows")));
        assert!(
            !r.diagnosis.summary.contains("Node.js"),
            "{}",
            r.diagnosis.summary
        );
    }

    /// A static musl build's getaddrinfo is not the host's glibc: the model of glibc orders the
    /// addresses, and the linked resolver's answer is not used.
    #[test]
    fn a_foreign_resolver_gives_way_to_the_model() {
        let mut sys = FakeSystem::lan();
        sys.foreign_resolver = Some("a static musl build");
        sys.names
            .insert("localhost".into(), vec!["127.0.0.1".parse().expect("ip")]);
        for (path, text) in [
            ("/etc/hosts", "127.0.0.1 localhost\n::1 localhost\n"),
            ("/etc/nsswitch.conf", "hosts: files\n"),
            ("/etc/gai.conf", ""),
        ] {
            sys.files.insert(path.into(), text.as_bytes().to_vec());
        }
        sys.add_socket(Proto::Tcp, "127.0.0.1", 3000, None, 5);
        sys.connect_ok.push("127.0.0.1:3000".parse().expect("sa"));
        let r = probe(&sys, "localhost:3000");
        let tried: Vec<String> = r.attempts.iter().map(|a| a.address.to_string()).collect();
        assert_eq!(tried, ["::1", "127.0.0.1"]);
        // The diagnosis reads the resolver files the model read, not a second copy.
        let read = sys.files_read.lock().expect("lock").clone();
        let hosts = read.iter().filter(|p| *p == "/etc/hosts").count();
        assert_eq!(hosts, 1, "{read:?}");
        let resolved = crate::resolve::run(
            &sys,
            &sys,
            "localhost",
            &crate::snapshot::ResolverPaths::default(),
            &Timings::new(),
        )
        .expect("resolve");
        let why = resolved.system_error.expect("not asked");
        assert!(crate::resolve::was_not_asked(&why), "{why}");
        assert!(why.contains("a static musl build"), "{why}");
        assert!(resolved.system.is_empty());
    }

    #[test]
    fn refused_everywhere_names_the_listener_elsewhere() {
        let mut sys = FakeSystem::lan();
        sys.names
            .insert("localhost".into(), vec!["127.0.0.1".parse().expect("ip")]);
        sys.add_socket(Proto::Tcp, "::1", 4000, Some(true), 6);
        let r = probe(&sys, "localhost:4000");
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
        let r = probe(&sys, "nope.test:80");
        assert_eq!(r.diagnosis.code, "unresolved");
        assert!(r.attempts.is_empty());
    }
}

#[cfg(test)]
mod service_tests {
    use super::tests::probe;
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
                cgroup: None,
                user: None,
            },
        );
        sys.files.insert(
            "/proc/40/root/srv/pg/postgresql.conf".into(),
            b"listen_addresses = '127.0.0.1'\n".to_vec(),
        );
        let r = probe(&sys, "localhost:5432");
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
