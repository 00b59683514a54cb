//! Reading an answer's head from its bytes.

use loopback_model::http::{HttpAnswer, HttpRequestKind};
use loopback_sys::http::HttpExchange;
use loopback_sys::probe::{is_status_line, MAX_STATUS_LINE};

/// The most headers read from one answer (a browser reads more, but an answer with more than
/// this is not one a local server sends to be read).
const MAX_HEADERS: usize = 96;
/// The most of a header value that is kept.
const MAX_VALUE: usize = 256;

/// Whether what came so far is enough to judge: a whole head (it ends with an empty line), or
/// bytes that cannot begin an HTTP answer (a TLS alert, a Redis error), so nothing more is
/// waited for.
pub fn head_complete(b: &[u8]) -> bool {
    let n = b.len().min(5);
    if b[..n] != b"HTTP/"[..n] {
        return true;
    }
    b.windows(4).any(|w| w == b"\r\n\r\n") || b.windows(2).any(|w| w == b"\n\n")
}

/// The status code and the status line, when `reply` begins with one.
pub fn status(reply: &[u8]) -> Option<(u16, &[u8])> {
    let first = reply.split(|b| *b == b'\n').next().unwrap_or(&[]);
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    let first = &first[..first.len().min(MAX_STATUS_LINE)];
    if !is_status_line(first) {
        return None;
    }
    let sp = first.iter().position(|b| *b == b' ')?;
    let code = std::str::from_utf8(first.get(sp + 1..sp + 4)?)
        .ok()?
        .parse()
        .ok()?;
    Some((code, first))
}

fn text(b: &[u8]) -> String {
    let b = &b[..b.len().min(MAX_VALUE)];
    String::from_utf8_lossy(b).trim().to_owned()
}

/// What a request got: the status, the CORS headers, or what came instead of an answer.
pub fn parse_answer(
    kind: HttpRequestKind,
    host: String,
    origin: Option<String>,
    x: &HttpExchange,
) -> HttpAnswer {
    let mut a = HttpAnswer {
        request: kind,
        host,
        origin,
        status: None,
        status_line: None,
        allow_origin: None,
        allow_credentials: None,
        allow_methods: None,
        allow_private_network: None,
        location: None,
        server: None,
        error: None,
    };
    if let Some(e) = &x.connect_error {
        a.error = Some(format!("connect: {e}"));
        return a;
    }
    if let Some(Err(e)) = &x.tls {
        a.error = Some(format!("TLS handshake failed: {e}"));
        return a;
    }
    let Some((code, first)) = status(&x.reply) else {
        a.error = Some(if x.reply.is_empty() {
            match (x.sent, x.closed, x.timed_out) {
                (false, _, _) => "the request could not be sent".to_owned(),
                (_, _, true) => "no answer within the deadline".to_owned(),
                _ => "closed without an answer".to_owned(),
            }
        } else if x.timed_out && b"HTTP/".starts_with(&x.reply[..x.reply.len().min(5)]) {
            format!(
                "the answer did not complete within the deadline ({} bytes came)",
                x.reply.len()
            )
        } else {
            format!("not HTTP: {}", text(&x.reply[..x.reply.len().min(64)]))
        });
        return a;
    };
    a.status_line = Some(String::from_utf8_lossy(first).into_owned());
    a.status = Some(code);
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(&x.reply) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => {
            a.error = Some(if x.timed_out {
                "the head did not complete within the deadline".to_owned()
            } else {
                format!("the head is incomplete ({} bytes)", x.reply.len())
            });
        }
        Err(e) => a.error = Some(format!("the head does not parse: {e}")),
    }
    for h in resp.headers.iter().filter(|h| !h.name.is_empty()) {
        let slot = match h.name.to_ascii_lowercase().as_str() {
            "access-control-allow-origin" => &mut a.allow_origin,
            "access-control-allow-credentials" => &mut a.allow_credentials,
            "access-control-allow-methods" => &mut a.allow_methods,
            "access-control-allow-private-network" => &mut a.allow_private_network,
            "location" => &mut a.location,
            "server" => &mut a.server,
            _ => continue,
        };
        // A header sent twice is read as Fetch combines it (`a, b`): an
        // `Access-Control-Allow-Origin` of `*, *` then matches nothing, as in a browser.
        let v = text(h.value);
        *slot = Some(match slot.take() {
            Some(before) => text(format!("{before}, {v}").as_bytes()),
            None => v,
        });
    }
    a
}
