//! A small, bounded HTTP/1.1 server for the exporter's few GET endpoints.
//!
//! Written by hand around `httparse` (hyper's parser) because the exporter runs as root and is
//! reachable by every local user: tiny_http 0.12 has no per-connection read deadline (a client
//! that sends one byte a minute pins a worker forever), and hyper needs an async runtime for
//! what is one GET. Here every limit is explicit: a fixed number of workers, a short queue of
//! accepted connections (beyond it, 503 at once), a deadline for a whole request head (not per
//! read, so trickling bytes does not extend it), an idle deadline between keep-alive
//! requests, a cap on requests per connection, a head of at most 8 KiB, and no request body.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The largest request head read.
const HEAD_MAX: usize = 8 << 10;

/// The server's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections served at once.
    pub workers: usize,
    /// Accepted connections waiting for a worker.
    pub queue: usize,
    /// Time for a whole request head from its first byte, and for a new connection's first
    /// byte.
    pub head: Duration,
    /// Time a kept-alive connection may wait for its next request.
    pub idle: Duration,
    /// Time to write one response.
    pub write: Duration,
    /// Requests on one connection before it is closed.
    pub per_connection: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            workers: 4,
            queue: 16,
            head: Duration::from_secs(5),
            idle: Duration::from_secs(30),
            write: Duration::from_secs(10),
            per_connection: 1000,
        }
    }
}

/// A request the handler sees: only what it needs.
#[derive(Debug)]
pub struct Request {
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The Accept header (empty without one).
    pub accept: String,
}

/// What the handler answers.
#[derive(Debug)]
pub struct Response {
    /// 200, 404, ...
    pub status: u16,
    /// The Content-Type.
    pub content_type: &'static str,
    /// The body.
    pub body: Arc<[u8]>,
}

impl Response {
    /// A plain-text answer.
    pub fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: Arc::from(body.as_bytes()),
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// Serve `listener` until an accept error that is not about one connection. `handler` runs
/// on the worker threads.
pub fn serve(
    listener: &TcpListener,
    limits: Limits,
    handler: &(dyn Fn(&Request) -> Response + Sync),
) -> std::io::Result<()> {
    let (tx, rx) = sync_channel::<TcpStream>(limits.queue);
    let rx = Mutex::new(rx);
    std::thread::scope(|s| {
        for _ in 0..limits.workers.max(1) {
            s.spawn(|| worker(&rx, limits, handler));
        }
        let result = accept(listener, &tx);
        // The workers end once the queue is closed and drained.
        drop(tx);
        result
    })
}

fn accept(listener: &TcpListener, tx: &SyncSender<TcpStream>) -> std::io::Result<()> {
    for conn in listener.incoming() {
        let stream = match conn {
            Ok(s) => s,
            // The peer went away before accept: go on.
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionAborted
                        | std::io::ErrorKind::ConnectionReset
                        | std::io::ErrorKind::Interrupted
                ) =>
            {
                continue
            }
            // Descriptors ran out (EMFILE, ENFILE): the connection stays queued, so accepting
            // again at once would spin; wait for a worker to close one.
            Err(e) if matches!(e.raw_os_error(), Some(23 | 24)) => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            Err(e) => return Err(e),
        };
        match tx.try_send(stream) {
            Ok(()) => {}
            Err(TrySendError::Full(mut s)) => {
                let _ = s.set_write_timeout(Some(Duration::from_millis(100)));
                let _ = respond(&mut s, &Response::text(503, "busy\n"), false, false);
            }
            Err(TrySendError::Disconnected(_)) => return Ok(()),
        }
    }
    Ok(())
}

fn worker(
    rx: &Mutex<Receiver<TcpStream>>,
    limits: Limits,
    handler: &(dyn Fn(&Request) -> Response + Sync),
) {
    loop {
        let next = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(mut stream) = next else { return };
        let _ = connection(&mut stream, limits, handler);
    }
}

/// Why a request head could not be read.
enum Head {
    /// A request: its parsed parts, whether to keep the connection.
    Request(Request, bool),
    /// The client closed or went quiet: nothing to answer.
    Gone,
    /// A bad request: answer with this status and close.
    Bad(u16),
}

fn connection(
    stream: &mut TcpStream,
    limits: Limits,
    handler: &(dyn Fn(&Request) -> Response + Sync),
) -> std::io::Result<()> {
    stream.set_write_timeout(Some(limits.write))?;
    let _ = stream.set_nodelay(true);
    let mut buf = Vec::with_capacity(1024);
    for served in 0..limits.per_connection {
        // A new connection's first request is due at once; later ones may idle between.
        let wait = if served == 0 {
            limits.head
        } else {
            limits.idle
        };
        match read_head(stream, &mut buf, wait, limits.head)? {
            Head::Gone => return Ok(()),
            Head::Bad(status) => {
                respond(
                    stream,
                    &Response::text(status, "bad request\n"),
                    false,
                    false,
                )?;
                return Ok(());
            }
            Head::Request(req, keep) => {
                let keep = keep && served + 1 < limits.per_connection;
                let resp = match req.method.as_str() {
                    "GET" | "HEAD" => handler(&req),
                    _ => Response::text(405, "only GET and HEAD\n"),
                };
                respond(stream, &resp, keep, req.method == "HEAD")?;
                if !keep {
                    return Ok(());
                }
            }
        }
    }
    Ok(())
}

/// Read one request head into `buf` (which keeps bytes of a pipelined next request): its first
/// byte within `wait`, the whole head within `head` of that.
fn read_head(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    wait: Duration,
    head: Duration,
) -> std::io::Result<Head> {
    let mut deadline = if buf.is_empty() {
        Instant::now() + wait
    } else {
        Instant::now() + head
    };
    let mut started = !buf.is_empty();
    let mut chunk = [0u8; 2048];
    loop {
        if !buf.is_empty() {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(buf) {
                Ok(httparse::Status::Complete(len)) => {
                    let method = req.method.unwrap_or("").to_owned();
                    let target = req.path.unwrap_or("/");
                    let path = target.split('?').next().unwrap_or("/").to_owned();
                    let http11 = req.version == Some(1);
                    let mut keep = http11;
                    let mut body = false;
                    let mut accept = String::new();
                    for h in req.headers.iter() {
                        if h.name.eq_ignore_ascii_case("accept") {
                            accept = String::from_utf8_lossy(h.value).into_owned();
                        }
                        if h.name.eq_ignore_ascii_case("connection") {
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
                    buf.drain(..len);
                    if body {
                        return Ok(Head::Bad(413));
                    }
                    return Ok(Head::Request(
                        Request {
                            method,
                            path,
                            accept,
                        },
                        keep,
                    ));
                }
                Ok(httparse::Status::Partial) => {}
                Err(httparse::Error::TooManyHeaders) => return Ok(Head::Bad(431)),
                Err(_) => return Ok(Head::Bad(400)),
            }
            if buf.len() >= HEAD_MAX {
                return Ok(Head::Bad(431));
            }
        }
        let now = Instant::now();
        if now >= deadline {
            return Ok(Head::Gone);
        }
        stream.set_read_timeout(Some(deadline - now))?;
        let room = (HEAD_MAX - buf.len()).min(chunk.len());
        let n = match stream.read(&mut chunk[..room]) {
            Ok(0) => return Ok(Head::Gone),
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock
                        | std::io::ErrorKind::TimedOut
                        | std::io::ErrorKind::ConnectionReset
                ) =>
            {
                return Ok(Head::Gone)
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if !started {
            // The head's own deadline runs from its first byte.
            started = true;
            deadline = Instant::now() + head;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn respond(stream: &mut TcpStream, r: &Response, keep: bool, head: bool) -> std::io::Result<()> {
    let headers = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: {}\r\n\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len(),
        if keep { "keep-alive" } else { "close" }
    );
    stream.write_all(headers.as_bytes())?;
    if !head {
        stream.write_all(&r.body)?;
    }
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server on an ephemeral loopback port answering every GET with `hello`.
    fn server(limits: Limits) -> std::net::SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        std::thread::spawn(move || {
            serve(&l, limits, &|r: &Request| {
                Response::text(200, &format!("hello {}", r.path))
            })
        });
        addr
    }

    fn exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s.write_all(request).expect("write");
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[test]
    fn answers_get_and_closes_when_asked() {
        let addr = server(Limits::default());
        let out = exchange(
            addr,
            b"GET /metrics?x=1 HTTP/1.1\r\nConnection: close\r\n\r\n",
        );
        assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
        assert!(out.ends_with("hello /metrics"), "{out}");
    }

    #[test]
    fn keep_alive_serves_pipelined_requests_in_order() {
        let addr = server(Limits::default());
        let out = exchange(
            addr,
            b"GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\nConnection: close\r\n\r\n",
        );
        let a = out.find("hello /a").expect("first");
        let b = out.find("hello /b").expect("second");
        assert!(a < b);
    }

    #[test]
    fn rejects_bodies_garbage_and_other_methods() {
        let addr = server(Limits::default());
        let out = exchange(addr, b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
        assert!(out.starts_with("HTTP/1.1 413"), "{out}");
        let out = exchange(addr, b"\x01\x02 nonsense\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 400"), "{out}");
        let out = exchange(addr, b"DELETE / HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 405"), "{out}");
        let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(HEAD_MAX));
        let out = exchange(addr, long.as_bytes());
        assert!(out.starts_with("HTTP/1.1 431"), "{out}");
    }

    #[test]
    fn a_trickling_client_is_cut_at_the_head_deadline_and_others_are_served() {
        let limits = Limits {
            workers: 1,
            head: Duration::from_millis(200),
            ..Limits::default()
        };
        let addr = server(limits);
        let mut slow = TcpStream::connect(addr).expect("connect");
        slow.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        slow.write_all(b"GET / HTTP/1.1\r\n").expect("first bytes");
        // Keep trickling: the deadline is for the whole head, so the server closes anyway.
        let mut closed = false;
        for _ in 0..100 {
            if slow.write_all(b"X-A: b\r\n").is_err() {
                closed = true;
                break;
            }
            let mut byte = [0u8; 1];
            slow.set_read_timeout(Some(Duration::from_millis(50)))
                .expect("timeout");
            match slow.read(&mut byte) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                    closed = true;
                    break;
                }
                _ => {}
            }
        }
        assert!(closed, "the server kept a trickling head open");
        // The one worker is free again.
        let out = exchange(addr, b"GET /next HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(out.ends_with("hello /next"), "{out}");
    }
}
