//! Every judgment on a fixture snapshot read from a file: no system access, no live action
//! (the live evidence is written here too), and the same snapshot judged twice gives the same
//! report.

use std::net::IpAddr;
use std::time::Duration;

use loopback_core::audit::{audit, AuditOptions};
use loopback_core::doctor::{self, Probes};
use loopback_core::explain::explain;
use loopback_core::probe::{self, Tried};
use loopback_core::resolve::{self, LibcAnswers};
use loopback_core::snapshot::{Part, Snapshot};
use loopback_core::target;
use loopback_model::{
    Attempt, AttemptResult, CheckId, CheckStatus, DiagnosisCode, FindingCode, Proto, Verdict,
};
use loopback_sys::ProbeOutcome;

fn fixture() -> Snapshot {
    serde_json::from_str(include_str!("fixtures/snapshot-lan.json")).expect("fixture snapshot")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

#[test]
fn audit_judges_the_fixture() {
    let snap = fixture();
    let r = audit(&snap, &AuditOptions::default()).expect("audit");
    assert_eq!(r, audit(&snap, &AuditOptions::default()).expect("again"));
    let port = |p: u16| r.listeners.iter().find(|l| l.port == p).expect("listener");
    let pg = port(5432);
    assert_eq!(pg.verdict, Verdict::Exposed);
    let svc = pg.service.as_ref().expect("service");
    assert_eq!(svc.config_file.as_deref(), Some("/srv/pg/postgresql.conf"));
    assert_eq!(svc.current.as_deref(), Some("*"));
    assert_eq!(pg.owners[0].user.as_deref(), Some("postgres"));
    // route_localnet=1 on veth0 in the captured settings exposes the loopback listener.
    assert!(port(6379).exposed);
    assert!(!port(8080).owners[0].cmdline.contains("s3cr3tvalue"));
    assert_eq!(
        r.udp_clients.len(),
        1,
        "45000 is in the captured ephemeral range"
    );
}

#[test]
fn a_missing_part_is_named() {
    let mut snap = fixture();
    snap.sockets = Part::Failed("netlink refused".into());
    let err = audit(&snap, &AuditOptions::default()).expect_err("no sockets");
    assert!(err.to_string().contains("netlink refused"), "{err}");
    // Without owners the audit still runs and says why they are missing.
    let mut snap = fixture();
    snap.owners = Part::NotCaptured;
    let r = audit(&snap, &AuditOptions::default()).expect("audit");
    assert!(
        r.warnings.iter().any(|w| w.contains("owners unknown")),
        "{:?}",
        r.warnings
    );
}

#[test]
fn explain_judges_the_fixture() {
    let snap = fixture();
    let t = target::parse("127.0.0.1:6379").expect("target");
    let e = explain(&snap, "127.0.0.1:6379", &t, &[]).expect("explain");
    assert_eq!(e, explain(&snap, "127.0.0.1:6379", &t, &[]).expect("again"));
    let listeners = e.addresses[0].listeners.as_ref().expect("listeners");
    assert_eq!(listeners.len(), 1);
    let t = target::parse("app.test").expect("target");
    let e = explain(&snap, "app.test", &t, &[ip("198.18.0.1")]).expect("explain");
    assert_eq!(e.addresses[0].assigned[0].interface, "veth0");
}

#[test]
fn resolve_judges_the_fixture() {
    let snap = fixture();
    let libc = LibcAnswers {
        unspec: Ok(vec![ip("127.0.0.1")]),
        v4: Ok(vec![ip("127.0.0.1")]),
        v6: Err("Name or service not known".into()),
    };
    let r = resolve::judge(&snap, "localhost", None, &libc).expect("resolve");
    assert_eq!(
        r,
        resolve::judge(&snap, "localhost", None, &libc).expect("again")
    );
    assert_eq!(r.addresses, vec![ip("127.0.0.1")]);
    let codes: Vec<FindingCode> = r.findings.iter().map(|f| f.code).collect();
    assert_eq!(codes, vec![FindingCode::Ipv6LocalhostAliasOnly]);
    // With a port, the listener half comes from the same snapshot.
    let r = resolve::judge(&snap, "localhost", Some(8080), &libc).expect("resolve");
    assert!(r
        .findings
        .iter()
        .all(|f| f.code != FindingCode::FirstAddressMismatch));
}

#[test]
fn doctor_judges_the_fixture() {
    let snap = fixture();
    let ok = ProbeOutcome::Ok {
        rtt: Duration::from_micros(30),
    };
    let probes = Probes {
        echo4: ok.clone(),
        echo6: Some(ok.clone()),
        tcp4: ok.clone(),
        tcp6: Some(ok.clone()),
        udp4: ok.clone(),
        udp6: Some(ok),
        localhost: Ok(vec![ip("127.0.0.1")]),
        reach: None,
        loopback_routes: Vec::new(),
    };
    let r = doctor::judge(&snap, &probes);
    assert_eq!(r, doctor::judge(&snap, &probes));
    let status = |id: CheckId| {
        r.checks
            .iter()
            .find(|c| c.id == id)
            .map(|c| c.status)
            .expect("check")
    };
    assert_eq!(status(CheckId::LoopbackInterface), CheckStatus::Pass);
    assert_eq!(status(CheckId::LoopbackFirewall), CheckStatus::Pass);
    assert_eq!(status(CheckId::LoopbackRouteLocalnet), CheckStatus::Fail);
    assert_eq!(status(CheckId::LocalhostHostsFile), CheckStatus::Warn);
    assert_eq!(status(CheckId::NetworkDefaultRoute), CheckStatus::Pass);
}

#[test]
fn probe_diagnosis_judges_the_fixture() {
    let snap = fixture();
    let attempt = |a: &str, result| Attempt {
        address: ip(a),
        port: 6379,
        result,
        time_ms: None,
        http_status: None,
        http_status_line: None,
        detail: None,
    };
    let tried = Tried {
        target: "localhost:6379".into(),
        host: "localhost".into(),
        port: 6379,
        proto: Proto::Tcp,
        literal: false,
        attempts: vec![
            attempt("::1", AttemptResult::Refused),
            attempt("127.0.0.1", AttemptResult::Connected),
        ],
        client_attempts: vec![],
        paths: vec![],
    };
    let r = probe::judge(&snap, tried.clone()).expect("probe");
    assert_eq!(r, probe::judge(&snap, tried).expect("again"));
    assert_eq!(r.diagnosis.code, DiagnosisCode::Mismatch);
    assert!(
        r.diagnosis.summary.contains("tcp 127.0.0.1:6379"),
        "{}",
        r.diagnosis.summary
    );
}
