//! The four requests, byte for byte.

use std::net::SocketAddr;

use loopback_model::http::HttpRequestKind;

/// A fresh random name under `.invalid` (RFC 6761: never resolves, so no request can leave
/// for it), different on every run so that a server cannot learn to allow it.
pub fn foreign_name() -> String {
    let mut b = [0u8; 8];
    // Without randomness (no getrandom source at all), a fixed name is still foreign.
    if getrandom::fill(&mut b).is_err() {
        b = *b"loopback";
    }
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("lb-{hex}.invalid")
}

/// The `Host` of a request to `target`: `127.0.0.1:PORT`, `[::1]:PORT`.
pub fn own_host(target: SocketAddr) -> String {
    target.to_string()
}

/// The foreign `Origin`.
pub fn origin(foreign: &str) -> String {
    format!("http://{foreign}")
}

/// The request of `kind` to `target`, with `foreign` as the foreign name: `(Host, Origin,
/// bytes)`.
pub fn request(
    kind: HttpRequestKind,
    target: SocketAddr,
    foreign: &str,
) -> (String, Option<String>, Vec<u8>) {
    let host = match kind {
        HttpRequestKind::ForeignHost => format!("{foreign}:{}", target.port()),
        _ => own_host(target),
    };
    let (method, origin, extra) = match kind {
        HttpRequestKind::Plain | HttpRequestKind::ForeignHost => ("GET", None, ""),
        HttpRequestKind::Preflight => (
            "OPTIONS",
            Some(origin(foreign)),
            "Access-Control-Request-Method: POST\r\nAccess-Control-Request-Private-Network: true\r\n",
        ),
        HttpRequestKind::Origin => ("GET", Some(origin(foreign)), ""),
    };
    let origin_line = origin
        .as_ref()
        .map(|o| format!("Origin: {o}\r\n"))
        .unwrap_or_default();
    let bytes = format!(
        "{method} / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: loopback-audit-http\r\nAccept: */*\r\n{origin_line}{extra}Connection: close\r\n\r\n"
    );
    (host, origin, bytes.into_bytes())
}
