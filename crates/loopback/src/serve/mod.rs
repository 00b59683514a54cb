//! A small, bounded HTTP/1.1 server for the exporter's few GET endpoints.
//!
//! Written by hand around `httparse` (hyper's parser) and `mio` because the exporter runs as
//! root and is reachable by every local user: tiny_http 0.12 has no per-connection read
//! deadline (a client that sends one byte a minute pins a worker forever), and hyper needs an
//! async runtime for what is one GET. One thread does all the I/O on non-blocking sockets, so a
//! connection that is idle, trickles its head or does not read its answer holds a descriptor,
//! never a thread; a fixed number of workers only compute answers. Every limit is explicit: open
//! connections (at the cap, the one waiting longest for a head is closed to make room), answers
//! being computed or queued, and answers held in memory until their clients read them (beyond
//! either, 503 at once), a deadline for a new connection's first
//! byte and for a whole request head (not per read, so trickling bytes does not extend it), an
//! idle deadline between keep-alive requests, a deadline to write an answer, a cap on requests
//! per connection, a head of at most 8 KiB ([`head::HEAD_MAX`]), and no request body.

mod head;
pub use head::host_allowed;

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc::{channel, sync_channel, Receiver, Sender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};

use head::Parsed;

/// The server's limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Answers computed at once.
    pub workers: usize,
    /// Requests waiting for a worker; beyond them, 503.
    pub queue: usize,
    /// Connections open at once.
    pub connections: usize,
    /// Answers held at once, computed or being written (each holds its bytes until the
    /// client has read them); beyond them, 503.
    pub answers: usize,
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
            connections: 256,
            answers: 64,
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
    /// The Host header, when there is one.
    pub host: Option<String>,
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

const LISTENER: Token = Token(0);
const WAKER: Token = Token(1);
/// Connection ids start here and are never reused, so an answer for a connection closed in
/// the meantime finds nothing.
const FIRST_ID: usize = 2;
/// How long to wait before accepting again when descriptors ran out (EMFILE, ENFILE): the
/// connection stays queued, so accepting again at once would spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Where a connection is.
#[derive(Debug, PartialEq, Eq)]
enum State {
    /// Reading a request head; `started` once its first byte came.
    Head { started: bool },
    /// A worker computes the answer.
    Busy,
    /// Writing an answer; then closing, or reading the next head.
    Write { keep: bool },
}

struct Conn {
    stream: TcpStream,
    state: State,
    /// Bytes read and not yet parsed (a pipelined next request).
    buf: Vec<u8>,
    /// The answer being written, and how much of it is out.
    out: Vec<u8>,
    sent: usize,
    /// When the current state must be done (none while a worker computes).
    deadline: Option<Instant>,
    served: usize,
    /// The client closed its side.
    eof: bool,
}

/// A request for a worker.
struct Job {
    id: usize,
    request: Request,
    keep: bool,
}

/// What a worker computed: the bytes to write.
struct Done {
    id: usize,
    bytes: Vec<u8>,
    keep: bool,
}

/// Serve `listener` until an accept error that is not about one connection. `handler` runs
/// on the worker threads.
pub fn serve(
    listener: &TcpListener,
    limits: Limits,
    handler: &(dyn Fn(&Request) -> Response + Sync),
) -> std::io::Result<()> {
    let own = listener.try_clone()?;
    own.set_nonblocking(true)?;
    let mut listener = mio::net::TcpListener::from_std(own);
    let poll = Poll::new()?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let waker = Waker::new(poll.registry(), WAKER)?;
    let (job_tx, job_rx) = sync_channel::<Job>(limits.queue);
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) = channel::<Done>();
    std::thread::scope(|s| {
        for _ in 0..limits.workers.max(1) {
            let done_tx = done_tx.clone();
            let (job_rx, waker) = (&job_rx, &waker);
            s.spawn(move || worker(job_rx, done_tx, waker, handler));
        }
        drop(done_tx);
        let mut server = Server {
            poll,
            listener,
            limits,
            conns: HashMap::new(),
            next_id: FIRST_ID,
            jobs: job_tx,
            done: done_rx,
            accept_after: None,
        };
        // The workers end once the job queue is closed, when `server` drops.
        server.run()
    })
}

fn worker(
    jobs: &Mutex<Receiver<Job>>,
    done: Sender<Done>,
    waker: &Waker,
    handler: &(dyn Fn(&Request) -> Response + Sync),
) {
    loop {
        let next = match jobs.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        let Ok(job) = next else { return };
        let resp = match job.request.method.as_str() {
            "GET" | "HEAD" => handler(&job.request),
            _ => Response::text(405, "only GET and HEAD\n"),
        };
        let bytes = head::encode(&resp, job.keep, job.request.method == "HEAD");
        if done
            .send(Done {
                id: job.id,
                bytes,
                keep: job.keep,
            })
            .is_err()
        {
            return;
        }
        let _ = waker.wake();
    }
}

/// The I/O thread's state.
struct Server {
    poll: Poll,
    listener: mio::net::TcpListener,
    limits: Limits,
    conns: HashMap<usize, Conn>,
    next_id: usize,
    jobs: std::sync::mpsc::SyncSender<Job>,
    done: Receiver<Done>,
    /// Accepting waits until then after descriptors ran out.
    accept_after: Option<Instant>,
}

impl Server {
    fn run(&mut self) -> std::io::Result<()> {
        let mut events = Events::with_capacity(256);
        loop {
            let timeout = self
                .next_deadline()
                .map(|d| d.saturating_duration_since(Instant::now()));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept()?,
                    WAKER => {}
                    Token(id) => {
                        if event.is_readable() || event.is_read_closed() || event.is_error() {
                            self.read(id);
                        }
                        if event.is_writable() || event.is_write_closed() {
                            self.write(id);
                        }
                    }
                }
            }
            while let Ok(done) = self.done.try_recv() {
                self.answer(done);
            }
            if self.accept_after.is_some_and(|t| Instant::now() >= t) {
                self.accept_after = None;
                self.accept()?;
            }
            self.expire();
        }
    }

    /// The earliest deadline of any connection, and of a paused accept.
    fn next_deadline(&self) -> Option<Instant> {
        self.conns
            .values()
            .filter_map(|c| c.deadline)
            .chain(self.accept_after)
            .min()
    }

    /// Close every connection whose deadline passed.
    fn expire(&mut self) {
        let now = Instant::now();
        let late: Vec<usize> = self
            .conns
            .iter()
            .filter(|(_, c)| c.deadline.is_some_and(|d| d <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in late {
            self.close(id);
        }
    }

    fn close(&mut self, id: usize) {
        if let Some(mut c) = self.conns.remove(&id) {
            let _ = self.poll.registry().deregister(&mut c.stream);
        }
    }

    fn accept(&mut self) -> std::io::Result<()> {
        if self.accept_after.is_some() {
            return Ok(());
        }
        loop {
            let mut stream = match self.listener.accept() {
                Ok((s, _)) => s,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                // The peer went away before accept: go on.
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::ConnectionAborted
                            | ErrorKind::ConnectionReset
                            | ErrorKind::Interrupted
                    ) =>
                {
                    continue
                }
                Err(e) if matches!(e.raw_os_error(), Some(23 | 24)) => {
                    self.accept_after = Some(Instant::now() + ACCEPT_BACKOFF);
                    return Ok(());
                }
                Err(e) => return Err(e),
            };
            if self.conns.len() >= self.limits.connections.max(1) && !self.make_room() {
                let _ = stream.write(&head::encode(&Response::text(503, "busy\n"), false, false));
                continue;
            }
            let id = self.next_id;
            self.next_id += 1;
            let _ = stream.set_nodelay(true);
            if self
                .poll
                .registry()
                .register(
                    &mut stream,
                    Token(id),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .is_err()
            {
                continue;
            }
            self.conns.insert(
                id,
                Conn {
                    stream,
                    state: State::Head { started: false },
                    buf: Vec::new(),
                    out: Vec::new(),
                    sent: 0,
                    deadline: Some(Instant::now() + self.limits.head),
                    served: 0,
                    eof: false,
                },
            );
        }
    }

    /// At the cap: close the connection waiting longest for a request head (idle, or
    /// trickling), if any. Those whose answer is computed or written are kept.
    fn make_room(&mut self) -> bool {
        let oldest = self
            .conns
            .iter()
            .filter(|(_, c)| matches!(c.state, State::Head { .. }))
            .min_by_key(|(_, c)| c.deadline)
            .map(|(id, _)| *id);
        match oldest {
            Some(id) => {
                self.close(id);
                true
            }
            None => false,
        }
    }

    /// Read what the client sent (at most a head's worth), then act on it.
    fn read(&mut self, id: usize) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let mut chunk = [0u8; 2048];
        while c.buf.len() < head::HEAD_MAX {
            let room = (head::HEAD_MAX - c.buf.len()).min(chunk.len());
            match c.stream.read(&mut chunk[..room]) {
                Ok(0) => {
                    c.eof = true;
                    break;
                }
                Ok(n) => c.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.close(id);
                    return;
                }
            }
        }
        self.advance(id);
    }

    /// Move a connection reading a head on: start the head's deadline at its first byte,
    /// hand a whole head to a worker, answer a bad one, close a finished client.
    fn advance(&mut self, id: usize) {
        let limits = self.limits;
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let State::Head { started } = c.state else {
            return;
        };
        if c.buf.is_empty() {
            if c.eof {
                self.close(id);
            }
            return;
        }
        if !started {
            // The head's own deadline runs from its first byte.
            c.state = State::Head { started: true };
            c.deadline = Some(Instant::now() + limits.head);
        }
        match head::parse(&c.buf) {
            Parsed::Partial => {
                if c.eof {
                    self.close(id);
                }
            }
            Parsed::Bad(status) => {
                c.buf.clear();
                let bytes = head::encode(&Response::text(status, "bad request\n"), false, false);
                self.start_write(id, bytes, false);
            }
            Parsed::Complete { request, keep, len } => {
                c.buf.drain(..len);
                let keep = keep && !c.eof && c.served + 1 < limits.per_connection;
                c.state = State::Busy;
                c.deadline = None;
                let held = self
                    .conns
                    .values()
                    .filter(|c| !matches!(c.state, State::Head { .. }))
                    .count();
                if held > limits.answers.max(1) {
                    let bytes = head::encode(&Response::text(503, "busy\n"), false, false);
                    self.start_write(id, bytes, false);
                    return;
                }
                match self.jobs.try_send(Job { id, request, keep }) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                        let bytes = head::encode(&Response::text(503, "busy\n"), false, false);
                        self.start_write(id, bytes, false);
                    }
                }
            }
        }
    }

    /// A worker's answer: write it to its connection, if that is still open.
    fn answer(&mut self, done: Done) {
        if self.conns.contains_key(&done.id) {
            self.start_write(done.id, done.bytes, done.keep);
        }
    }

    fn start_write(&mut self, id: usize, bytes: Vec<u8>, keep: bool) {
        let write = self.limits.write;
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.state = State::Write { keep };
        c.out = bytes;
        c.sent = 0;
        c.deadline = Some(Instant::now() + write);
        self.write(id);
    }

    /// Write as much of the answer as the socket takes; when it is all out, close or read the
    /// next request.
    fn write(&mut self, id: usize) {
        let limits = self.limits;
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let State::Write { keep } = c.state else {
            return;
        };
        while c.sent < c.out.len() {
            match c.stream.write(&c.out[c.sent..]) {
                Ok(0) => {
                    self.close(id);
                    return;
                }
                Ok(n) => c.sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.close(id);
                    return;
                }
            }
        }
        if !keep {
            self.close(id);
            return;
        }
        c.served += 1;
        c.out = Vec::new();
        c.state = State::Head {
            started: !c.buf.is_empty(),
        };
        c.deadline = Some(
            Instant::now()
                + if c.buf.is_empty() {
                    limits.idle
                } else {
                    limits.head
                },
        );
        // Bytes may have come while the answer was computed (edge-triggered: no new event).
        self.read(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream;

    /// A server on an ephemeral loopback port answering every GET with `hello`.
    fn server(limits: Limits) -> std::net::SocketAddr {
        server_with(limits, |r: &Request| {
            Response::text(200, &format!("hello {}", r.path))
        })
    }

    fn server_with(
        limits: Limits,
        handler: impl Fn(&Request) -> Response + Send + Sync + 'static,
    ) -> std::net::SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        std::thread::spawn(move || serve(&l, limits, &handler));
        addr
    }

    /// Read one answer whose body is `hello PATH` off a kept-alive connection.
    fn read_answer(s: &mut TcpStream, path: &str) {
        let want = format!("hello {path}");
        let mut got = Vec::new();
        let mut byte = [0u8; 1];
        while !got.ends_with(want.as_bytes()) {
            match s.read(&mut byte) {
                Ok(1) => got.push(byte[0]),
                other => panic!("{other:?} after {}", String::from_utf8_lossy(&got)),
            }
        }
    }

    fn connect(addr: std::net::SocketAddr) -> TcpStream {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        s
    }

    /// Whether the server closed `s` (within the read timeout).
    fn closed(s: &mut TcpStream) -> bool {
        let mut byte = [0u8; 1];
        match s.read(&mut byte) {
            Ok(0) => true,
            Err(e) => e.kind() == ErrorKind::ConnectionReset,
            Ok(_) => false,
        }
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
        let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(head::HEAD_MAX));
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

    /// Idle kept-alive connections hold no worker: with one worker, five idle clients (each
    /// served once, then quiet for longer than the test lasts) do not delay a sixth.
    #[test]
    fn idle_kept_alive_connections_hold_no_worker() {
        let addr = server(Limits {
            workers: 1,
            ..Limits::default()
        });
        let idle: Vec<TcpStream> = (0..5)
            .map(|i| {
                let mut s = connect(addr);
                s.write_all(format!("GET /{i} HTTP/1.1\r\n\r\n").as_bytes())
                    .expect("write");
                read_answer(&mut s, &format!("/{i}"));
                s
            })
            .collect();
        let out = exchange(addr, b"GET /next HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(out.ends_with("hello /next"), "{out}");
        drop(idle);
    }

    /// A server answering `/big` with 32 MiB (more than the socket buffers take) and anything
    /// else with `hello PATH`, and a client that has asked for `/big` and reads nothing.
    fn stuck_on_a_big_answer(limits: Limits) -> (std::net::SocketAddr, TcpStream) {
        let big: Arc<[u8]> = Arc::from(vec![b'x'; 32 << 20]);
        let addr = server_with(limits, move |r: &Request| match r.path.as_str() {
            "/big" => Response {
                status: 200,
                content_type: "text/plain",
                body: big.clone(),
            },
            p => Response::text(200, &format!("hello {p}")),
        });
        let mut stuck = connect(addr);
        stuck
            .write_all(b"GET /big HTTP/1.1\r\n\r\n")
            .expect("write");
        (addr, stuck)
    }

    /// A client that asks and never reads holds no worker: its answer (larger than the
    /// socket buffers) waits in the I/O thread while the one worker answers others.
    #[test]
    fn a_client_that_does_not_read_holds_no_worker() {
        let (addr, _stuck) = stuck_on_a_big_answer(Limits {
            workers: 1,
            ..Limits::default()
        });
        for i in 0..3 {
            let path = format!("/after{i}");
            let out = exchange(
                addr,
                format!("GET {path} HTTP/1.1\r\nConnection: close\r\n\r\n").as_bytes(),
            );
            assert!(out.ends_with(&format!("hello {path}")), "{out}");
        }
    }

    /// At the connection cap, the connection waiting longest for a head is closed to make
    /// room, and the new one is served.
    #[test]
    fn at_the_cap_the_longest_waiting_connection_makes_room() {
        let addr = server(Limits {
            connections: 3,
            ..Limits::default()
        });
        let mut quiet: Vec<TcpStream> = Vec::new();
        for i in 0..3 {
            let mut s = connect(addr);
            // Each is accepted (and answered) before the next connects, so the order of
            // their deadlines is known.
            s.write_all(format!("GET /{i} HTTP/1.1\r\n\r\n").as_bytes())
                .expect("write");
            read_answer(&mut s, &format!("/{i}"));
            quiet.push(s);
        }
        let out = exchange(addr, b"GET /new HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(out.ends_with("hello /new"), "{out}");
        assert!(
            closed(&mut quiet[0]),
            "the oldest idle connection stays open"
        );
        // The others are still served.
        quiet[2]
            .write_all(b"GET /again HTTP/1.1\r\n\r\n")
            .expect("write");
        read_answer(&mut quiet[2], "/again");
    }

    /// A request beyond the answers the server may hold gets 503 at once, not a wait, while
    /// the one being computed is answered when it is done.
    #[test]
    fn beyond_the_answers_held_a_request_gets_503() {
        let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let hold = Mutex::new((started_tx, release_rx));
        let addr = server_with(
            Limits {
                workers: 1,
                answers: 1,
                ..Limits::default()
            },
            move |r: &Request| {
                if r.path == "/hold" {
                    if let Ok(h) = hold.lock() {
                        let _ = h.0.send(());
                        let _ = h.1.recv_timeout(Duration::from_secs(10));
                    }
                }
                Response::text(200, &format!("hello {}", r.path))
            },
        );
        // One request is being computed (the worker has it)...
        let mut held = connect(addr);
        held.write_all(b"GET /hold HTTP/1.1\r\n\r\n")
            .expect("write");
        started_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the worker took it");
        // ...so another is refused at once, and the held one is answered when it can be.
        let out = exchange(addr, b"GET /next HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 503"), "{out}");
        release_tx.send(()).expect("release");
        read_answer(&mut held, "/hold");
    }

    /// Answers held for clients that do not read them are bounded: beyond the limit a request
    /// gets 503, so such clients cannot make the server hold answer after answer in memory.
    #[test]
    fn answers_held_for_clients_that_do_not_read_are_bounded() {
        let (addr, mut stuck) = stuck_on_a_big_answer(Limits {
            answers: 1,
            ..Limits::default()
        });
        // The answer has started: its first bytes arrive (the rest stays with the server).
        let mut first = [0u8; 12];
        stuck.read_exact(&mut first).expect("the answer starts");
        assert_eq!(&first, b"HTTP/1.1 200");
        let out = exchange(addr, b"GET /next HTTP/1.1\r\nConnection: close\r\n\r\n");
        assert!(out.starts_with("HTTP/1.1 503"), "{out}");
    }
}
