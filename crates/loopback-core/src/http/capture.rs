//! Sending the four requests while a snapshot is captured; the bytes that came back are kept
//! in the snapshot (`Snapshot::http`) and judged later.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use loopback_model::http::{HttpRequestKind, HttpTransport};
use loopback_model::Proto;
use loopback_sys::http::HttpExchange;
use loopback_sys::{SocketScan, SystemView};
use serde::{Deserialize, Serialize};

use super::answer::{head_complete, status};
use super::request::request;
use super::HttpOptions;
use crate::classify::unmap;
use crate::services::ask::ask_at;

/// Listeners asked at once; each one's requests go one after another.
const WORKERS: usize = 8;

/// What one listener answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpCapture {
    /// Where the requests went.
    pub target: SocketAddr,
    /// The random foreign name sent as `Host` and in `Origin`.
    pub foreign: String,
    /// The deadline of each request, in milliseconds.
    pub timeout_ms: u64,
    /// How the requests in `exchanges` were sent.
    pub transport: HttpTransport,
    /// Each request sent over `transport` and what it got, in order.
    pub exchanges: Vec<(HttpRequestKind, HttpExchange)>,
    /// The first request over the other transport, when it was tried and not used: the plain
    /// attempt before TLS answered, or a TLS attempt after a plain answer that was not HTTP.
    #[serde(default)]
    pub other_attempt: Option<HttpExchange>,
}

/// Every listener's answers, by target.
pub type HttpCaptures = BTreeMap<SocketAddr, HttpCapture>;

/// Where to send the requests for the TCP listeners of `scan` (on `options.ports`, when
/// given): those bound to loopback, or with `options.all` every one (a wildcard at its
/// family's loopback address), but only at a loopback address or one of `own` (this host's
/// addresses: a socket bound with `IP_FREEBIND` may hold another host's, and no request
/// leaves the host). IPv6 link-local addresses are left out (a connection needs the
/// interface, which the address alone does not name).
pub fn candidates(scan: &SocketScan, options: &HttpOptions, own: &[IpAddr]) -> Vec<SocketAddr> {
    let all = options.all;
    let mut out: Vec<SocketAddr> = scan
        .sockets
        .iter()
        .filter(|s| s.proto == Proto::Tcp)
        .filter(|s| options.ports.is_empty() || options.ports.contains(&s.port))
        .filter(|s| all || unmap(s.address).is_loopback())
        .map(|s| ask_at(s.address, s.port))
        .filter(|a| a.ip().is_loopback() || own.contains(&a.ip()))
        .filter(|a| match a.ip() {
            IpAddr::V6(v) => (v.segments()[0] & 0xffc0) != 0xfe80 && !v.is_multicast(),
            IpAddr::V4(v) => !v.is_multicast() && !v.is_broadcast(),
        })
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Ask every target, eight at a time.
pub fn capture(
    sys: &dyn SystemView,
    targets: &[SocketAddr],
    options: &HttpOptions,
    foreign: &str,
) -> HttpCaptures {
    let next = AtomicUsize::new(0);
    let out = Mutex::new(HttpCaptures::new());
    std::thread::scope(|s| {
        for _ in 0..WORKERS.min(targets.len()) {
            s.spawn(|| {
                while let Some(t) = targets.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let c = capture_one(sys, *t, foreign, options.timeout);
                    out.lock().unwrap_or_else(|e| e.into_inner()).insert(*t, c);
                }
            });
        }
    });
    out.into_inner().unwrap_or_else(|e| e.into_inner())
}

/// Whether an answer to a plaintext request says the port speaks TLS, or may: a TLS record
/// (an alert is `15 03 0x`), a close with nothing said, or nginx's `400` to plain HTTP on an
/// HTTPS port. A server that said nothing before the deadline, or sent other bytes, is not
/// asked again: it has had its deadline.
fn worth_tls(x: &HttpExchange) -> bool {
    if x.connect_error.is_some() || x.timed_out {
        return false;
    }
    match (status(&x.reply), x.reply.as_slice()) {
        (Some((code, _)), _) => code == 400,
        (None, []) => true,
        (None, [0x15 | 0x16, 0x03, ..]) => true,
        (None, _) => false,
    }
}

/// The four requests to one target, one after another: the plain `GET /` first (over TLS too
/// when its answer suggests TLS), the other three only when HTTP answered.
pub fn capture_one(
    sys: &dyn SystemView,
    target: SocketAddr,
    foreign: &str,
    timeout: Duration,
) -> HttpCapture {
    let send = |kind: HttpRequestKind, tls: bool| {
        let (_, _, bytes) = request(kind, target, foreign);
        sys.http_exchange(target, &bytes, tls, timeout, head_complete)
    };
    let plain = send(HttpRequestKind::Plain, false);
    let mut c = HttpCapture {
        target,
        foreign: foreign.to_owned(),
        timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
        transport: HttpTransport::Plain,
        exchanges: Vec::new(),
        other_attempt: None,
    };
    let first = if worth_tls(&plain) {
        let tls = send(HttpRequestKind::Plain, true);
        let tls_speaks = status(&tls.reply).is_some() && matches!(tls.tls, Some(Ok(_)));
        let tls_up = matches!(tls.tls, Some(Ok(_)));
        if tls_speaks || (tls_up && status(&plain.reply).is_none()) {
            c.transport = HttpTransport::Tls;
            c.other_attempt = Some(plain);
            tls
        } else {
            c.other_attempt = Some(tls);
            plain
        }
    } else {
        plain
    };
    let speaks = status(&first.reply).is_some();
    c.exchanges.push((HttpRequestKind::Plain, first));
    if speaks {
        let tls = c.transport == HttpTransport::Tls;
        for kind in [
            HttpRequestKind::ForeignHost,
            HttpRequestKind::Preflight,
            HttpRequestKind::Origin,
        ] {
            c.exchanges.push((kind, send(kind, tls)));
        }
    }
    c
}
