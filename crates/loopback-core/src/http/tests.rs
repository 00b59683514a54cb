use std::net::SocketAddr;
use std::time::Duration;

use loopback_model::http::{Cors, ForeignHost, HttpFindingCode, HttpTransport, Preflight};
use loopback_model::{IdentifiedBy, ServiceInfo};
use loopback_sys::http::HttpExchange;

use super::*;
use crate::testing::FakeSystem;

const FOREIGN: &str = "lb-0123456789abcdef.invalid";

fn addr() -> SocketAddr {
    "127.0.0.1:8000".parse().expect("addr")
}

fn reply(bytes: &[u8]) -> HttpExchange {
    HttpExchange {
        sent: true,
        reply: bytes.to_vec(),
        closed: true,
        ..HttpExchange::default()
    }
}

fn header<'a>(req: &'a [u8], name: &str) -> Option<&'a str> {
    std::str::from_utf8(req).ok()?.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

fn foreign(req: &[u8]) -> bool {
    header(req, "host").is_some_and(|h| h.ends_with(".invalid:8000"))
}

fn check(
    server: crate::testing::FakeHttp,
    service: Option<&ServiceInfo>,
) -> loopback_model::http::HttpCheck {
    let mut sys = FakeSystem::default();
    sys.http_servers.insert(addr(), server);
    judge(
        &capture_one(&sys, addr(), FOREIGN, Duration::from_secs(1)),
        service,
    )
}

#[test]
fn a_server_that_answers_any_host_is_rebindable() {
    let c = check(
        |_, _| reply(b"HTTP/1.0 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.2\r\n\r\n"),
        None,
    );
    assert!(c.speaks_http);
    assert_eq!(c.transport, HttpTransport::Plain);
    assert_eq!(c.foreign_host, ForeignHost::Accepted);
    assert_eq!(c.cors, Cors::None);
    assert_eq!(c.preflight, Preflight::Refused);
    assert_eq!(c.answers.len(), 4);
    let codes: Vec<_> = c.findings.iter().map(|f| f.code).collect();
    assert_eq!(codes, [HttpFindingCode::Rebindable]);
    assert!(
        c.findings[0].summary.contains(FOREIGN),
        "{}",
        c.findings[0].summary
    );
    assert!(
        c.findings[0].fix.contains("Host header"),
        "{}",
        c.findings[0].fix
    );
}

#[test]
fn a_421_to_a_foreign_host_is_rejected() {
    let c = check(
        |req, _| {
            if foreign(req) {
                reply(b"HTTP/1.1 421 Misdirected Request\r\n\r\n")
            } else {
                reply(b"HTTP/1.1 200 OK\r\n\r\n")
            }
        },
        None,
    );
    assert_eq!(c.foreign_host, ForeignHost::Rejected);
    assert!(c.findings.is_empty(), "{:?}", c.findings);
}

#[test]
fn the_same_refusal_as_the_plain_request_is_inconclusive() {
    let c = check(|_, _| reply(b"HTTP/1.1 404 Not Found\r\n\r\n"), None);
    assert_eq!(c.foreign_host, ForeignHost::Inconclusive);
    assert!(c.findings.is_empty());
}

#[test]
fn wildcard_and_reflected_origins_are_readable() {
    let c = check(
        |req, _| {
            if foreign(req) {
                return reply(b"HTTP/1.1 403 Forbidden\r\n\r\n");
            }
            match header(req, "origin") {
                Some(_) => reply(b"HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: *\r\nAccess-Control-Allow-Methods: GET, POST\r\n\r\n"),
                None => reply(b"HTTP/1.1 200 OK\r\n\r\n"),
            }
        },
        None,
    );
    assert_eq!(c.cors, Cors::Wildcard);
    assert!(!c.credentials);
    assert_eq!(c.preflight, Preflight::Allowed);
    assert!(!c.private_network);
    let codes: Vec<_> = c.findings.iter().map(|f| f.code).collect();
    assert_eq!(codes, [HttpFindingCode::CrossOriginReadable]);

    let c = check(
        |req, _| {
            let Some(o) = header(req, "origin") else {
                return reply(b"HTTP/1.1 200 OK\r\n\r\n");
            };
            let pna = if req.starts_with(b"OPTIONS") {
                "Access-Control-Allow-Private-Network: true\r\n"
            } else {
                ""
            };
            reply(format!("HTTP/1.1 204 No Content\r\naccess-control-allow-origin: {o}\r\nAccess-Control-Allow-Credentials: true\r\nAccess-Control-Allow-Methods: *\r\n{pna}\r\n").as_bytes())
        },
        None,
    );
    assert_eq!(c.cors, Cors::ReflectsOrigin);
    assert!(c.credentials);
    assert!(c.private_network);
    assert_eq!(c.preflight, Preflight::Allowed);
    assert!(
        c.findings.iter().any(|f| f.summary.contains("cookies")),
        "{:?}",
        c.findings
    );
}

#[test]
fn a_header_sent_twice_matches_nothing() {
    let c = check(
        |_, _| {
            reply(b"HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: *\r\nAccess-Control-Allow-Origin: *\r\n\r\n")
        },
        None,
    );
    assert_eq!(c.cors, Cors::None);
    assert_eq!(c.answers[3].allow_origin.as_deref(), Some("*, *"));
}

#[test]
fn a_service_the_table_knows_gets_its_own_setting() {
    let vite = ServiceInfo {
        id: "vite".into(),
        name: "Vite dev server".into(),
        identified_by: IdentifiedBy::Process,
        config_file: None,
        setting: String::new(),
        current: None,
        current_from: None,
        default: String::new(),
    };
    let c = check(
        |_, _| reply(b"HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: *\r\n\r\n"),
        Some(&vite),
    );
    assert!(
        c.findings
            .iter()
            .all(|f| f.fix.starts_with("Vite dev server: ")),
        "{:?}",
        c.findings
    );
    assert!(c.findings[0].fix.contains("server.allowedHosts"));
    assert!(c.findings[1].fix.contains("server.cors"));
    // Named by its port alone, the service is a guess: the general fix.
    let guessed = ServiceInfo {
        identified_by: IdentifiedBy::Port,
        ..vite
    };
    let c = check(|_, _| reply(b"HTTP/1.1 200 OK\r\n\r\n"), Some(&guessed));
    assert!(
        c.findings[0].fix.starts_with("make the server check"),
        "{:?}",
        c.findings
    );
}

#[test]
fn a_tls_only_server_is_spoken_to_over_tls() {
    let c = check(
        |_, tls| {
            if !tls {
                // What a TLS server's library does with plaintext: an alert, then close.
                return reply(b"\x15\x03\x01\x00\x02\x02\x46");
            }
            let mut x = reply(b"HTTP/1.1 200 OK\r\n\r\n");
            x.tls = Some(Ok("TLSv1.3".into()));
            x
        },
        None,
    );
    assert_eq!(c.transport, HttpTransport::Tls);
    assert!(c.speaks_http);
    assert_eq!(c.foreign_host, ForeignHost::Accepted);
    assert!(
        c.notes.iter().any(|n| n.contains("spoken to over TLS")),
        "{:?}",
        c.notes
    );
}

#[test]
fn services_that_do_not_speak_http_get_no_further_requests() {
    static SEEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let c = check(
        |_, tls| {
            SEEN.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if tls {
                HttpExchange {
                    tls: Some(Err("received corrupt message".into())),
                    ..HttpExchange::default()
                }
            } else {
                reply(b"-ERR unknown command 'GET'\r\n")
            }
        },
        None,
    );
    assert!(!c.speaks_http);
    assert_eq!(c.foreign_host, ForeignHost::NoAnswer);
    assert_eq!(c.preflight, Preflight::NoAnswer);
    assert!(c.findings.is_empty());
    assert_eq!(
        SEEN.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "garbage is not asked for TLS"
    );
    assert!(
        c.notes.iter().any(|n| n.contains("not HTTP: -ERR")),
        "{:?}",
        c.notes
    );
}

#[test]
fn a_server_that_never_answers_is_asked_once() {
    static SEEN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let c = check(
        |_, _| {
            SEEN.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            HttpExchange {
                sent: true,
                timed_out: true,
                ..HttpExchange::default()
            }
        },
        None,
    );
    assert!(!c.speaks_http);
    assert_eq!(SEEN.load(std::sync::atomic::Ordering::SeqCst), 1);
    assert!(
        c.notes
            .iter()
            .any(|n| n.contains("no answer within the deadline")),
        "{:?}",
        c.notes
    );
}

#[test]
fn requests_are_only_get_and_options_without_body_or_cookie() {
    for kind in loopback_model::http::HttpRequestKind::ALL {
        let (_, _, bytes) = request(*kind, "[::1]:3000".parse().expect("addr"), FOREIGN);
        let text = String::from_utf8(bytes).expect("ascii");
        assert!(
            text.starts_with("GET / HTTP/1.1\r\n") || text.starts_with("OPTIONS / HTTP/1.1\r\n"),
            "{text}"
        );
        assert!(
            text.ends_with("\r\n\r\n") && !text.to_ascii_lowercase().contains("cookie"),
            "{text}"
        );
        assert!(
            !text.to_ascii_lowercase().contains("content-length"),
            "{text}"
        );
        let host = header(text.as_bytes(), "host").expect("host");
        assert!(
            host == "[::1]:3000" || host == "lb-0123456789abcdef.invalid:3000",
            "{host}"
        );
    }
    let name = foreign_name();
    assert!(
        name.starts_with("lb-") && name.ends_with(".invalid") && name.len() == 27,
        "{name}"
    );
    assert_ne!(foreign_name(), name, "a new name each run");
}

#[test]
fn heads_are_whole_at_the_empty_line_and_garbage_at_once() {
    assert!(!head_complete(b""));
    assert!(!head_complete(b"HTT"));
    assert!(!head_complete(b"HTTP/1.1 200 OK\r\n"));
    assert!(head_complete(b"HTTP/1.1 200 OK\r\n\r\n"));
    assert!(head_complete(b"\x15\x03"));
    assert!(head_complete(b"-ERR"));
}

/// TCP on loopback, wildcards, a LAN address and link-local; UDP on loopback.
fn sockets() -> FakeSystem {
    use loopback_model::Proto::{Tcp, Udp};
    let mut sys = FakeSystem::lan();
    sys.add_socket(Tcp, "127.0.0.1", 8000, None, 1);
    sys.add_socket(Tcp, "::1", 3000, Some(true), 2);
    sys.add_socket(Tcp, "0.0.0.0", 8080, None, 3);
    sys.add_socket(Tcp, "::", 5173, Some(true), 4);
    sys.add_socket(Tcp, "198.18.0.1", 9000, None, 5);
    sys.add_socket(Tcp, "fe80::1", 9001, Some(true), 6);
    // Bound with IP_FREEBIND to an address that is not this host's: never asked.
    sys.add_socket(Tcp, "203.0.113.9", 9002, None, 8);
    sys.add_socket(Udp, "127.0.0.1", 8000, None, 7);
    sys
}

#[test]
fn candidates_are_loopback_tcp_listeners_unless_all() {
    let sys = sockets();
    let scan = loopback_sys::SystemView::sockets(&sys, Default::default()).expect("sockets");
    let own: Vec<std::net::IpAddr> = vec!["198.18.0.1".parse().expect("ip")];
    let shown = |v: Vec<SocketAddr>| v.iter().map(ToString::to_string).collect::<Vec<_>>();
    assert_eq!(
        shown(candidates(&scan, &HttpOptions::default(), &own)),
        ["127.0.0.1:8000", "[::1]:3000"]
    );
    assert_eq!(
        shown(candidates(
            &scan,
            &HttpOptions {
                all: true,
                ..HttpOptions::default()
            },
            &own
        )),
        [
            "127.0.0.1:8000",
            "127.0.0.1:8080",
            "198.18.0.1:9000",
            "[::1]:3000",
            "[::1]:5173"
        ]
    );
    let some = HttpOptions {
        all: true,
        ports: vec![8080, 3000],
        ..HttpOptions::default()
    };
    assert_eq!(
        shown(candidates(&scan, &some, &own)),
        ["127.0.0.1:8080", "[::1]:3000"]
    );
}

#[test]
fn captures_survive_the_snapshot_json() {
    let mut sys = sockets();
    for s in &sys.sockets {
        if s.proto == loopback_model::Proto::Tcp {
            sys.http_servers
                .insert(crate::services::ask::ask_at(s.address, s.port), |_, _| {
                    reply(b"HTTP/1.1 200 OK\r\n\r\n")
                });
        }
    }
    let req = crate::snapshot::Request {
        http: Some(HttpOptions {
            all: true,
            timeout: Duration::from_millis(300),
            ports: Vec::new(),
        }),
        ..crate::snapshot::Request::of(crate::snapshot::Parts::LISTENERS)
    };
    let snap = crate::snapshot::capture(&sys, &req);
    let caps = snap.http.ok().expect("captured");
    assert!(!caps.is_empty());
    let json = serde_json::to_string(&snap).expect("json");
    let back: crate::snapshot::Snapshot = serde_json::from_str(&json).expect("parse");
    assert_eq!(back, snap);
    let report = crate::audit::audit(&snap, &Default::default()).expect("audit");
    for l in &report.listeners {
        let link_local = l.address.to_string().starts_with("fe80");
        let foreign = l.address.to_string() == "203.0.113.9";
        let judged = l.proto == loopback_model::Proto::Tcp && !link_local && !foreign;
        assert_eq!(l.http.is_some(), judged, "{}:{}", l.address, l.port);
    }
    assert!(report.needs_attention());
    assert!(report
        .listeners
        .iter()
        .filter(|l| l.proto == loopback_model::Proto::Udp)
        .all(|l| l.http.is_none()));
}

#[test]
fn answers_after_a_plain_request_that_was_not_http_are_not_judged() {
    // fuzz/corpus/http_answer/not-http-first: a snapshot may hold them, a capture never does.
    let x = |b: &[u8]| reply(b);
    let c = HttpCapture {
        target: addr(),
        foreign: FOREIGN.into(),
        timeout_ms: 1000,
        transport: HttpTransport::Plain,
        exchanges: vec![
            (
                loopback_model::http::HttpRequestKind::Plain,
                x(b"\x15\x03\x017"),
            ),
            (
                loopback_model::http::HttpRequestKind::ForeignHost,
                x(b"HTTP/1.1 200 OK\r\n\r\n"),
            ),
            (
                loopback_model::http::HttpRequestKind::Preflight,
                x(b"HTTP/1.1 204 x\r\nAccess-Control-Allow-Origin: *\r\n\r\n"),
            ),
            (
                loopback_model::http::HttpRequestKind::Origin,
                x(b"HTTP/1.1 200 OK\r\nAccess-Control-Allow-Origin: *\r\n\r\n"),
            ),
        ],
        other_attempt: None,
    };
    let h = judge(&c, None);
    assert!(!h.speaks_http && h.findings.is_empty(), "{h:#?}");
    assert_eq!(
        (h.foreign_host, h.cors, h.preflight),
        (ForeignHost::NoAnswer, Cors::None, Preflight::NoAnswer)
    );
}
