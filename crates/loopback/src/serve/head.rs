//! A request head from bytes, and a response head to bytes: no I/O, so every case is a unit
//! test.

use super::{Request, Response};

/// The largest request head read.
pub const HEAD_MAX: usize = 8 << 10;

/// What the bytes read so far hold.
#[derive(Debug)]
pub enum Parsed {
    /// Not a whole head yet (and under [`HEAD_MAX`]).
    Partial,
    /// A request, whether the client keeps the connection, and how many bytes it took.
    Complete {
        request: Request,
        keep: bool,
        len: usize,
    },
    /// A bad request: answer with this status and close.
    Bad(u16),
}

/// Parse the first request head in `buf` (which may hold a pipelined next one behind it).
pub fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => {
            let method = req.method.unwrap_or("").to_owned();
            let target = req.path.unwrap_or("/");
            let path = target.split('?').next().unwrap_or("/").to_owned();
            let mut keep = req.version == Some(1);
            let mut body = false;
            let mut accept = String::new();
            let mut host = None;
            for h in req.headers.iter() {
                if h.name.eq_ignore_ascii_case("host") {
                    host = Some(String::from_utf8_lossy(h.value).into_owned());
                } else if h.name.eq_ignore_ascii_case("accept") {
                    accept = String::from_utf8_lossy(h.value).into_owned();
                } else if h.name.eq_ignore_ascii_case("connection") {
                    let v = String::from_utf8_lossy(h.value).to_ascii_lowercase();
                    if v.contains("close") {
                        keep = false;
                    } else if v.contains("keep-alive") {
                        keep = true;
                    }
                } else if h.name.eq_ignore_ascii_case("transfer-encoding")
                    || (h.name.eq_ignore_ascii_case("content-length")
                        && h.value.iter().any(|b| *b != b'0'))
                {
                    body = true;
                }
            }
            if body {
                return Parsed::Bad(413);
            }
            Parsed::Complete {
                request: Request {
                    method,
                    path,
                    accept,
                    host,
                },
                keep,
                len,
            }
        }
        Ok(httparse::Status::Partial) if buf.len() >= HEAD_MAX => Parsed::Bad(431),
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => Parsed::Bad(431),
        Err(_) => Parsed::Bad(400),
    }
}

/// Whether a request's `Host` names this server: none at all (HTTP/1.0), an IP literal,
/// `localhost` or a `.localhost` name, or one of `allowed` (`--allowed-host`). Any other name
/// is what a page that rebinds a name of its own to this address sends (DNS rebinding), so it
/// is refused: the exporter checks what `audit --http` checks others for.
pub fn host_allowed(host: Option<&str>, allowed: &[String]) -> bool {
    let Some(host) = host.map(str::trim) else {
        return true;
    };
    // `[::1]:10127`, `127.0.0.1:10127`, `name:10127`, `name`.
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name.parse::<std::net::IpAddr>().is_ok()
        || name == "localhost"
        || name.ends_with(".localhost")
        || allowed.iter().any(|a| a.eq_ignore_ascii_case(&name))
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        421 => "Misdirected Request",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// The bytes of `r` on the wire: its head, and its body unless the request was `HEAD`.
pub fn encode(r: &Response, keep: bool, head_only: bool) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len(),
        if keep { "keep-alive" } else { "close" }
    )
    .into_bytes();
    if !head_only {
        out.extend_from_slice(&r.body);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(buf: &[u8]) -> (Request, bool, usize) {
        match parse(buf) {
            Parsed::Complete { request, keep, len } => (request, keep, len),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn only_this_servers_names_are_allowed_hosts() {
        let extra = vec!["node1.example".to_owned()];
        for ok in [
            None,
            Some("127.0.0.1:10127"),
            Some("[::1]:10127"),
            Some("localhost:10127"),
            Some("LOCALHOST"),
            Some("metrics.localhost:80"),
            Some("198.18.0.1:10127"),
            Some("node1.example:10127"),
            Some("node1.example.:10127"),
        ] {
            assert!(host_allowed(ok, &extra), "{ok:?}");
        }
        for bad in [
            Some("lb-0123456789abcdef.invalid:10127"),
            Some("attacker.example"),
            Some("localhost.attacker.example"),
            Some("node1.example.attacker:10127"),
            Some(""),
        ] {
            assert!(!host_allowed(bad, &extra), "{bad:?}");
        }
    }

    #[test]
    fn a_head_gives_method_path_accept_and_keep() {
        let buf =
            b"GET /metrics?x=1 HTTP/1.1\r\nAccept: application/openmetrics-text\r\n\r\nGET /b";
        let (r, keep, len) = complete(buf);
        assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/metrics"));
        assert_eq!(r.accept, "application/openmetrics-text");
        assert!(keep);
        assert_eq!(len, buf.len() - b"GET /b".len());
        let (_, keep, _) = complete(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(!keep);
        let (_, keep, _) = complete(b"GET / HTTP/1.0\r\n\r\n");
        assert!(!keep);
        let (_, keep, _) = complete(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert!(keep);
    }

    #[test]
    fn bodies_garbage_and_long_heads_are_refused() {
        assert!(matches!(
            parse(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n"),
            Parsed::Bad(413)
        ));
        assert!(matches!(
            parse(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Parsed::Bad(413)
        ));
        assert!(matches!(
            parse(b"\x01\x02 nonsense\r\n\r\n"),
            Parsed::Bad(400)
        ));
        assert!(matches!(parse(b"GET / HTTP/1.1\r\n"), Parsed::Partial));
        let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(HEAD_MAX));
        assert!(matches!(parse(long.as_bytes()), Parsed::Bad(431)));
        let many: String = (0..40).map(|i| format!("X-{i}: v\r\n")).collect();
        let req = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert!(matches!(parse(req.as_bytes()), Parsed::Bad(431)));
    }

    #[test]
    fn a_head_request_gets_no_body() {
        let r = Response::text(200, "hello");
        let full = String::from_utf8(encode(&r, true, false)).expect("utf8");
        assert!(full.starts_with("HTTP/1.1 200 OK\r\n"), "{full}");
        assert!(full.contains("Content-Length: 5\r\nConnection: keep-alive\r\n\r\nhello"));
        let head = String::from_utf8(encode(&r, false, true)).expect("utf8");
        assert!(head.ends_with("Connection: close\r\n\r\n"), "{head}");
    }

    proptest::proptest! {
        /// Any bytes: no panic; a whole head is never longer than the bytes, and its path
        /// holds no query.
        #[test]
        fn any_bytes_parse_without_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
            if let Parsed::Complete { request, len, .. } = parse(&bytes) {
                proptest::prop_assert!(len <= bytes.len());
                proptest::prop_assert!(!request.path.contains('?'));
            }
        }

        /// Heads that look like requests, cut anywhere: a prefix of a valid head is partial
        /// or the same request, never a different one.
        #[test]
        fn a_cut_head_is_partial(path in "/[a-z0-9/]{0,40}", cut in 0usize..200) {
            let head = format!("GET {path} HTTP/1.1\r\nAccept: text/plain\r\n\r\n");
            let cut = cut.min(head.len());
            match parse(&head.as_bytes()[..cut]) {
                Parsed::Partial => proptest::prop_assert!(cut < head.len()),
                Parsed::Complete { request, len, .. } => {
                    proptest::prop_assert_eq!(len, head.len());
                    proptest::prop_assert_eq!(request.path, path);
                }
                Parsed::Bad(status) => proptest::prop_assert!(false, "{}", status),
            }
        }
    }
}
