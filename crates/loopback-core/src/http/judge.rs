//! Judging the answers: what a page in the browser can do with this server.

use loopback_model::http::{
    Cors, ForeignHost, HttpAnswer, HttpCheck, HttpFinding, HttpFindingCode, HttpRequestKind,
    HttpTransport, Preflight,
};
use loopback_model::{IdentifiedBy, ServiceInfo};

use super::answer::parse_answer;
use super::capture::HttpCapture;
use super::request::{origin, request};
use crate::services::table;

/// The general fixes, for a server the table does not know.
const HOSTS_FIX: &str = "make the server check the Host header against the names it serves (its \
     allowed-hosts setting) and refuse the rest (403 or 421), or require a secret token on every \
     request";
const ORIGINS_FIX: &str = "send `Access-Control-Allow-Origin` only for the origins that need \
     it (a fixed list), never `*` or the request's Origin echoed back";

fn answer(answers: &[HttpAnswer], kind: HttpRequestKind) -> Option<&HttpAnswer> {
    answers.iter().find(|a| a.request == kind)
}

fn is_true(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// What `Access-Control-Allow-Origin` lets `origin` read.
fn cors_of(a: &HttpAnswer, origin: &str) -> Cors {
    match a.allow_origin.as_deref() {
        Some("*") => Cors::Wildcard,
        Some(v) if v.eq_ignore_ascii_case(origin) => Cors::ReflectsOrigin,
        _ => Cors::None,
    }
}

fn success(a: &HttpAnswer) -> bool {
    a.status.is_some_and(|s| (200..400).contains(&s))
}

/// The service's own setting for a finding, when the table has one and the service was
/// named by its process (a port alone is only a guess).
fn service_fix(service: Option<&ServiceInfo>, code: HttpFindingCode, port: u16) -> String {
    let known = service.filter(|s| s.identified_by == IdentifiedBy::Process);
    let def = known.and_then(|s| table().iter().find(|d| d.id == s.id));
    let specific = def.and_then(|d| match code {
        HttpFindingCode::Rebindable => d.http_hosts.as_deref(),
        HttpFindingCode::CrossOriginReadable => d.http_origins.as_deref(),
    });
    match (specific, known) {
        (Some(fix), Some(s)) => {
            let config = s.config_file.as_deref().unwrap_or("its configuration file");
            format!(
                "{}: {}",
                s.name,
                fix.replace("{config}", config)
                    .replace("{port}", &port.to_string())
            )
        }
        _ => match code {
            HttpFindingCode::Rebindable => HOSTS_FIX.to_owned(),
            HttpFindingCode::CrossOriginReadable => ORIGINS_FIX.to_owned(),
        },
    }
}

/// Judge what one listener answered; `service` is the one the audit named for it.
pub fn judge(c: &HttpCapture, service: Option<&ServiceInfo>) -> HttpCheck {
    let answers: Vec<HttpAnswer> = c
        .exchanges
        .iter()
        .map(|(kind, x)| {
            let (host, origin, _) = request(*kind, c.target, &c.foreign);
            parse_answer(*kind, host, origin, x)
        })
        .collect();
    let foreign_origin = origin(&c.foreign);
    let mut notes = Vec::new();
    let plain = answer(&answers, HttpRequestKind::Plain);
    let speaks_http = plain.is_some_and(|a| a.status.is_some());
    if let Some(other) = &c.other_attempt {
        let (host, _, _) = request(HttpRequestKind::Plain, c.target, &c.foreign);
        let a = parse_answer(HttpRequestKind::Plain, host, None, other);
        let what = a
            .status_line
            .clone()
            .or(a.error.clone())
            .unwrap_or_default();
        notes.push(match c.transport {
            HttpTransport::Tls => format!("plain HTTP got: {what}; spoken to over TLS"),
            HttpTransport::Plain => format!("TLS tried too: {what}"),
        });
    }
    if !speaks_http {
        if let Some(why) = plain.and_then(|a| a.error.as_deref()) {
            notes.push(format!("no HTTP answer: {why}"));
        }
    }

    // Only a server that spoke HTTP to the plain request is judged (a snapshot may hold
    // answers to the others anyway: it is outside data).
    let judged: &[HttpAnswer] = if speaks_http { &answers } else { &[] };
    let foreign = answer(judged, HttpRequestKind::ForeignHost);
    let foreign_host = match (foreign, plain) {
        (Some(f), _) if success(f) => ForeignHost::Accepted,
        (Some(f), Some(p)) if f.status.is_some() && f.status == p.status => {
            ForeignHost::Inconclusive
        }
        (Some(f), _) if f.status.is_some_and(|s| s >= 400) => ForeignHost::Rejected,
        (Some(f), _) if f.status.is_some() => ForeignHost::Inconclusive,
        _ => ForeignHost::NoAnswer,
    };

    let with_origin = answer(judged, HttpRequestKind::Origin);
    let cors = with_origin.map_or(Cors::None, |a| cors_of(a, &foreign_origin));
    let preflight_answer = answer(judged, HttpRequestKind::Preflight);
    let preflight = match preflight_answer {
        None => Preflight::NoAnswer,
        Some(a) if a.status.is_none() => Preflight::NoAnswer,
        Some(a) => {
            let origin_ok = cors_of(a, &foreign_origin) != Cors::None;
            let post_ok = a.allow_methods.as_deref().is_some_and(|m| {
                m.split(',')
                    .map(str::trim)
                    .any(|m| m == "*" || m.eq_ignore_ascii_case("POST"))
            });
            if a.status.is_some_and(|s| (200..300).contains(&s)) && origin_ok && post_ok {
                Preflight::Allowed
            } else {
                Preflight::Refused
            }
        }
    };
    // Browsers send no cookies to a `*` origin, whatever the credentials header says.
    let credentials =
        cors == Cors::ReflectsOrigin && with_origin.is_some_and(|a| is_true(&a.allow_credentials));
    let private_network = preflight_answer.is_some_and(|a| {
        a.status.is_some_and(|s| (200..300).contains(&s))
            && cors_of(a, &foreign_origin) != Cors::None
            && is_true(&a.allow_private_network)
    });

    let mut findings = Vec::new();
    let port = c.target.port();
    if foreign_host == ForeignHost::Accepted {
        let f = foreign
            .and_then(|f| f.status_line.clone())
            .unwrap_or_default();
        findings.push(HttpFinding {
            code: HttpFindingCode::Rebindable,
            summary: format!(
                "answers a request for a foreign name (Host: {}:{port} got `{f}`): a web page \
                 that points a name of its own at {} (DNS rebinding) reads every answer as its \
                 own origin",
                c.foreign,
                c.target.ip()
            ),
            fix: service_fix(service, HttpFindingCode::Rebindable, port),
        });
    }
    if cors != Cors::None {
        let header = with_origin
            .and_then(|a| a.allow_origin.clone())
            .unwrap_or_default();
        let what = match (cors, credentials) {
            (Cors::Wildcard, _) => {
                "any web page the user opens can read its answers (without cookies)".to_owned()
            }
            (_, true) => "any web page the user opens can read its answers, sent with the \
                          user's cookies (Access-Control-Allow-Credentials: true)"
                .to_owned(),
            _ => "any web page the user opens can read its answers".to_owned(),
        };
        findings.push(HttpFinding {
            code: HttpFindingCode::CrossOriginReadable,
            summary: format!(
                "answers Origin: {foreign_origin} with Access-Control-Allow-Origin: {header}: {what}"
            ),
            fix: service_fix(service, HttpFindingCode::CrossOriginReadable, port),
        });
    }
    if preflight == Preflight::Allowed && cors == Cors::None {
        notes.push(
            "the preflight allows the foreign origin to send POST requests (a page can change \
             state here, though it cannot read the answers)"
                .into(),
        );
    }
    HttpCheck {
        target: c.target,
        transport: c.transport,
        speaks_http,
        foreign_host,
        cors,
        credentials,
        preflight,
        private_network,
        answers,
        findings,
        notes,
    }
}
