//! Active probes: ICMP echo and TCP/UDP round trips through listeners opened for the purpose.
//!
//! Every probe has a deadline and returns an outcome instead of an error: a timeout is evidence
//! (something drops packets), not a failure of the tool. Callers choose the targets; `doctor`
//! only ever passes loopback addresses unless the user names a host.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, Socket, Type};

/// What happened to a probe.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // each variant's doc says what its fields hold
pub enum ProbeOutcome {
    /// The bytes (or the echo) came back.
    Ok { rtt: Duration },
    /// Nothing came back in time at `stage` (`connect`, `reply`): packets are being dropped.
    Timeout { stage: &'static str },
    /// The OS refused at `stage` (`bind`, `connect`, `send`, `reply`).
    Error {
        stage: &'static str,
        message: String,
        kind: ErrorKindName,
    },
    /// This probe cannot run with the privileges at hand.
    Unavailable { reason: String },
}

/// A stable name for the error kinds the doctor reasons about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKindName {
    /// `EADDRNOTAVAIL`.
    AddrNotAvailable,
    /// `ENETUNREACH`.
    NetworkUnreachable,
    /// `EHOSTUNREACH`.
    HostUnreachable,
    /// `ECONNREFUSED`.
    ConnectionRefused,
    /// `EPERM` or `EACCES`.
    PermissionDenied,
    /// Anything else.
    Other,
}

impl ErrorKindName {
    /// The kind of an OS error, from std's portable error kinds (errno numbers differ between
    /// Linux, macOS and Windows).
    fn of(e: &std::io::Error) -> Self {
        match e.kind() {
            ErrorKind::AddrNotAvailable => ErrorKindName::AddrNotAvailable,
            ErrorKind::NetworkUnreachable => ErrorKindName::NetworkUnreachable,
            ErrorKind::HostUnreachable => ErrorKindName::HostUnreachable,
            ErrorKind::ConnectionRefused => ErrorKindName::ConnectionRefused,
            ErrorKind::PermissionDenied => ErrorKindName::PermissionDenied,
            _ => ErrorKindName::Other,
        }
    }
}

fn err(stage: &'static str, e: std::io::Error) -> ProbeOutcome {
    if matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock) {
        return ProbeOutcome::Timeout { stage };
    }
    ProbeOutcome::Error {
        stage,
        kind: ErrorKindName::of(&e),
        message: e.to_string(),
    }
}

fn remaining(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|d| !d.is_zero())
}

const PAYLOAD: &[u8] = b"loopback-doctor-probe";

/// Open a TCP listener on `addr` (ephemeral port), connect to it, and echo bytes through.
pub fn tcp_round_trip(addr: IpAddr, timeout: Duration) -> ProbeOutcome {
    let deadline = Instant::now() + timeout;
    let listener = match TcpListener::bind((addr, 0)) {
        Ok(l) => l,
        Err(e) => return err("bind", e),
    };
    let target = match listener.local_addr() {
        Ok(a) => a,
        Err(e) => return err("bind", e),
    };
    let start = Instant::now();
    let mut client = match TcpStream::connect_timeout(&target, timeout) {
        Ok(c) => c,
        Err(e) => return err("connect", e),
    };
    // The handshake completed, so the connection waits in the accept queue.
    if let Err(e) = listener.set_nonblocking(true) {
        return err("accept", e);
    }
    let mut server = match listener.accept() {
        Ok((s, _)) => s,
        Err(e) => return err("accept", e),
    };
    let mut exchange = || -> std::io::Result<bool> {
        server.set_nonblocking(false)?;
        let left = remaining(deadline).ok_or(ErrorKind::TimedOut)?;
        client.set_read_timeout(Some(left))?;
        server.set_read_timeout(Some(left))?;
        client.write_all(PAYLOAD)?;
        let mut buf = [0u8; PAYLOAD.len()];
        server.read_exact(&mut buf)?;
        server.write_all(&buf)?;
        let mut back = [0u8; PAYLOAD.len()];
        client.read_exact(&mut back)?;
        Ok(back == PAYLOAD)
    };
    match exchange() {
        Ok(true) => ProbeOutcome::Ok {
            rtt: start.elapsed(),
        },
        Ok(false) => ProbeOutcome::Error {
            stage: "reply",
            message: "the bytes came back altered".into(),
            kind: ErrorKindName::Other,
        },
        Err(e) => err("reply", e),
    }
}

/// Connect to a listener someone else runs at `addr`; the connection is closed at once.
pub fn tcp_connect(addr: SocketAddr, timeout: Duration) -> ProbeOutcome {
    let start = Instant::now();
    match TcpStream::connect_timeout(&addr, timeout) {
        Ok(_) => ProbeOutcome::Ok {
            rtt: start.elapsed(),
        },
        Err(e) => err("connect", e),
    }
}

/// The source address for `dest`: connect a UDP socket (no packet is sent) and ask the kernel.
pub fn source_address(dest: IpAddr) -> Option<IpAddr> {
    let any: IpAddr = if dest.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        Ipv6Addr::UNSPECIFIED.into()
    };
    let sock = UdpSocket::bind((any, 0)).ok()?;
    sock.connect((dest, 9)).ok()?;
    Some(sock.local_addr().ok()?.ip())
}

/// What an HTTP server said to `GET /`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(missing_docs)] // each variant's doc says what its fields hold
pub enum HttpReply {
    /// A status line of the form `HTTP/x[.y] NNN [reason]`, as sent (at most
    /// [`MAX_STATUS_LINE`] bytes, invalid UTF-8 replaced).
    Status(String),
    /// Bytes came back, but their first line is not an HTTP status line: the first bytes, at
    /// most [`MAX_STATUS_LINE`].
    NotHttp(Vec<u8>),
    /// Nothing came back before the deadline (`closed` false) or before the server closed the
    /// connection (`closed` true).
    NoResponse { closed: bool },
    /// The request was never sent (the connection failed).
    NotSent,
}

/// The most of a reply's first line that is kept.
pub const MAX_STATUS_LINE: usize = 256;

/// Whether `line` is an HTTP status line: `HTTP/` a version, a space, three digits, and then
/// the end or a space.
pub fn is_status_line(line: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(b"HTTP/") else {
        return false;
    };
    let Some(sp) = rest.iter().position(|b| *b == b' ') else {
        return false;
    };
    let (version, after) = rest.split_at(sp);
    let version_ok = !version.is_empty()
        && version.len() <= 3
        && version.iter().all(|b| b.is_ascii_digit() || *b == b'.')
        && version.first().is_some_and(u8::is_ascii_digit);
    let code = &after[1..];
    version_ok
        && code.len() >= 3
        && code[..3].iter().all(u8::is_ascii_digit)
        && (code.len() == 3 || code[3] == b' ')
}

/// Classify the bytes a server sent before the deadline or its close.
pub fn classify_reply(buf: &[u8], closed: bool) -> HttpReply {
    if buf.is_empty() {
        return HttpReply::NoResponse { closed };
    }
    let line = buf.split(|b| *b == b'\n').next().unwrap_or(&[]);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let line = &line[..line.len().min(MAX_STATUS_LINE)];
    if is_status_line(line) {
        HttpReply::Status(String::from_utf8_lossy(line).into_owned())
    } else {
        HttpReply::NotHttp(buf[..buf.len().min(MAX_STATUS_LINE)].to_vec())
    }
}

/// One request and its reply over TCP, all before a deadline: what `http_get` and
/// `SystemView::ask_local_service` share.
pub(crate) struct Exchange {
    /// Time to connect.
    pub connected: Duration,
    /// Whether the whole request was written.
    pub sent: bool,
    /// What came back, at most the limit.
    pub reply: Vec<u8>,
    /// Whether the peer closed (or reset) the connection.
    pub closed: bool,
}

/// Connect to `addr`, send `request`, and read until `enough` says the reply is whole, the peer
/// closes, `limit` bytes arrived, or `timeout` (for the whole exchange) passes. `Err` is the
/// connection's own failure.
pub(crate) fn exchange(
    addr: SocketAddr,
    request: &[u8],
    timeout: Duration,
    limit: usize,
    enough: &dyn Fn(&[u8]) -> bool,
) -> Result<Exchange, std::io::Error> {
    let deadline = Instant::now() + timeout;
    let start = Instant::now();
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    let mut done = Exchange {
        connected: start.elapsed(),
        sent: false,
        reply: Vec::new(),
        closed: false,
    };
    let left = |d| remaining(d).ok_or(std::io::Error::from(ErrorKind::TimedOut));
    done.sent = left(deadline)
        .and_then(|l| stream.set_write_timeout(Some(l)))
        .and_then(|()| stream.write_all(request))
        .is_ok();
    if !done.sent {
        return Ok(done);
    }
    let mut chunk = [0u8; 512];
    while !enough(&done.reply) && done.reply.len() < limit {
        let got = left(deadline)
            .and_then(|l| stream.set_read_timeout(Some(l)))
            .and_then(|()| stream.read(&mut chunk));
        match got {
            Ok(0) => {
                done.closed = true;
                break;
            }
            Ok(n) => {
                let room = limit - done.reply.len();
                done.reply.extend_from_slice(&chunk[..n.min(room)]);
            }
            // A reset after some bytes: judge what came; before any byte: no response.
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                done.closed = true;
                break;
            }
            Err(_) => break, // the deadline
        }
    }
    Ok(done)
}

/// Connect, send `GET / HTTP/1.1`, and read the first line of the reply, all before `timeout`.
/// At most 8 KiB is read whatever the server sends.
pub fn http_get(addr: SocketAddr, host: &str, timeout: Duration) -> (ProbeOutcome, HttpReply) {
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_owned()
    };
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {host}:{}\r\nUser-Agent: loopback-probe\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        addr.port()
    );
    let got = exchange(addr, request.as_bytes(), timeout, 8192, &|b| {
        b.contains(&b'\n')
    });
    match got {
        Err(e) => (err("connect", e), HttpReply::NotSent),
        Ok(x) => {
            let outcome = ProbeOutcome::Ok { rtt: x.connected };
            if !x.sent {
                return (outcome, HttpReply::NoResponse { closed: true });
            }
            (outcome, classify_reply(&x.reply, x.closed))
        }
    }
}

/// Send one datagram to `addr` from a connected UDP socket; a reply means open, an ICMP
/// port-unreachable (ECONNREFUSED) means closed, silence means filtered or ignored.
pub fn udp_probe(addr: SocketAddr, timeout: Duration) -> ProbeOutcome {
    let any: IpAddr = if addr.is_ipv4() {
        Ipv4Addr::UNSPECIFIED.into()
    } else {
        Ipv6Addr::UNSPECIFIED.into()
    };
    let start = Instant::now();
    let sock = match UdpSocket::bind((any, 0)) {
        Ok(s) => s,
        Err(e) => return err("bind", e),
    };
    if let Err(e) = sock.connect(addr) {
        return err("connect", e);
    }
    if let Err(e) = sock.send(b"\n") {
        return err("send", e);
    }
    let mut buf = [0u8; 512];
    if let Err(e) = sock.set_read_timeout(Some(timeout)) {
        return err("reply", e);
    }
    match sock.recv(&mut buf) {
        Ok(_) => ProbeOutcome::Ok {
            rtt: start.elapsed(),
        },
        Err(e) => err("reply", e),
    }
}

/// Bind a UDP socket on `addr`, send it a datagram from another socket, and echo it back.
pub fn udp_round_trip(addr: IpAddr, timeout: Duration) -> ProbeOutcome {
    let deadline = Instant::now() + timeout;
    let server = match UdpSocket::bind((addr, 0)) {
        Ok(s) => s,
        Err(e) => return err("bind", e),
    };
    let target = match server.local_addr() {
        Ok(a) => a,
        Err(e) => return err("bind", e),
    };
    let any: IpAddr = match addr {
        IpAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
        IpAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let client = match UdpSocket::bind((any, 0)) {
        Ok(c) => c,
        Err(e) => return err("bind", e),
    };
    let start = Instant::now();
    if let Err(e) = client.send_to(PAYLOAD, target) {
        return err("send", e);
    }
    let exchange = || -> std::io::Result<bool> {
        let mut buf = [0u8; 64];
        server.set_read_timeout(Some(remaining(deadline).ok_or(ErrorKind::TimedOut)?))?;
        let (n, from) = server.recv_from(&mut buf)?;
        server.send_to(&buf[..n], from)?;
        client.set_read_timeout(Some(remaining(deadline).ok_or(ErrorKind::TimedOut)?))?;
        let (m, _) = client.recv_from(&mut buf)?;
        Ok(&buf[..m] == PAYLOAD)
    };
    match exchange() {
        Ok(true) => ProbeOutcome::Ok {
            rtt: start.elapsed(),
        },
        Ok(false) => ProbeOutcome::Error {
            stage: "reply",
            message: "the datagram came back altered".into(),
            kind: ErrorKindName::Other,
        },
        Err(e) => err("reply", e),
    }
}

/// The Internet checksum (RFC 1071).
pub fn inet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ICMP or ICMPv6 echo request with `id` and `seq`.
pub fn echo_request(v6: bool, id: u16, seq: u16) -> Vec<u8> {
    let mut pkt = vec![if v6 { 128 } else { 8 }, 0, 0, 0];
    pkt.extend_from_slice(&id.to_be_bytes());
    pkt.extend_from_slice(&seq.to_be_bytes());
    pkt.extend_from_slice(PAYLOAD);
    if !v6 {
        // ICMPv6 checksums cover a pseudo-header; the kernel fills them in.
        let sum = inet_checksum(&pkt);
        pkt[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    pkt
}

/// Is `buf` (with any IPv4 header already stripped) the echo reply to `seq`? The id is checked
/// only on raw sockets; ping sockets rewrite it and filter replies themselves.
pub fn is_echo_reply(buf: &[u8], v6: bool, id: Option<u16>, seq: u16) -> bool {
    buf.len() >= 8
        && buf[0] == if v6 { 129 } else { 0 }
        && id.is_none_or(|id| buf[4..6] == id.to_be_bytes())
        && buf[6..8] == seq.to_be_bytes()
}

/// Sequence numbers differ between probes of one process and between processes.
fn next_seq() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    static SEQ: AtomicU16 = AtomicU16::new(0);
    let salt = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    SEQ.fetch_add(1, Ordering::Relaxed) ^ (salt & 0xffff) as u16
}

/// Send one echo request to `target` and wait for the reply. Uses an unprivileged ping socket
/// when `net.ipv4.ping_group_range` allows it, else a raw socket, else reports why it cannot.
pub fn icmp_echo(target: IpAddr, timeout: Duration) -> ProbeOutcome {
    let v6 = target.is_ipv6();
    let (domain, proto) = if v6 {
        (Domain::IPV6, Protocol::ICMPV6)
    } else {
        (Domain::IPV4, Protocol::ICMPV4)
    };
    let (socket, raw) = match Socket::new(domain, Type::DGRAM, Some(proto)) {
        Ok(s) => (s, false),
        Err(dgram_err) => match Socket::new(domain, Type::RAW, Some(proto)) {
            Ok(s) => (s, true),
            Err(raw_err) => {
                let reason = if cfg!(target_os = "linux") {
                    format!(
                        "no ICMP socket: unprivileged ping sockets are not allowed for this \
                         group ({dgram_err}: net.ipv4.ping_group_range) and a raw socket needs \
                         CAP_NET_RAW ({raw_err})"
                    )
                } else if cfg!(windows) {
                    format!(
                        "no ICMP socket: Windows has no unprivileged ping socket ({dgram_err}) \
                         and a raw socket needs Administrator ({raw_err})"
                    )
                } else {
                    format!(
                        "no ICMP socket: the datagram ICMP socket was refused ({dgram_err}) and \
                         a raw socket needs root ({raw_err})"
                    )
                };
                return ProbeOutcome::Unavailable { reason };
            }
        },
    };
    let socket: UdpSocket = socket.into();
    let id = (std::process::id() & 0xffff) as u16;
    let seq = next_seq();
    let deadline = Instant::now() + timeout;
    let start = Instant::now();
    if let Err(e) = socket.send_to(&echo_request(v6, id, seq), SocketAddr::new(target, 0)) {
        return err("send", e);
    }
    let mut buf = [0u8; 1500];
    loop {
        let Some(left) = remaining(deadline) else {
            return ProbeOutcome::Timeout { stage: "reply" };
        };
        if let Err(e) = socket.set_read_timeout(Some(left)) {
            return err("reply", e);
        }
        let n = match socket.recv(&mut buf) {
            Ok(n) => n,
            Err(e) => return err("reply", e),
        };
        let mut pkt = &buf[..n];
        if raw && !v6 {
            // Raw IPv4 sockets deliver the IP header too.
            let ihl = usize::from(pkt.first().map_or(0, |b| b & 0x0f)) * 4;
            pkt = pkt.get(ihl..).unwrap_or(&[]);
        }
        if is_echo_reply(pkt, v6, raw.then_some(id), seq) {
            return ProbeOutcome::Ok {
                rtt: start.elapsed(),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        for ok in [
            &b"HTTP/1.1 200 OK"[..],
            b"HTTP/1.0 404",
            b"HTTP/2 204 ",
            b"HTTP/1.1 500 x y",
        ] {
            assert!(is_status_line(ok), "{}", String::from_utf8_lossy(ok));
        }
        for bad in [
            &b""[..],
            b"HTTP/1.1",
            b"HTTP/1.1 20",
            b"HTTP/1.1 2000",
            b"HTTP/x 200",
            b"SSH-2.0-OpenSSH_9.2",
            b"\x1b[2J HTTP/1.1 200 OK",
            b"http/1.1 200 OK",
        ] {
            assert!(!is_status_line(bad), "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(
            classify_reply(b"HTTP/1.0 200 OK\r\nServer: x\r\n", true),
            HttpReply::Status("HTTP/1.0 200 OK".into())
        );
        assert_eq!(
            classify_reply(b"", false),
            HttpReply::NoResponse { closed: false }
        );
        let binary: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        match classify_reply(&binary, false) {
            HttpReply::NotHttp(first) => assert_eq!(first.len(), MAX_STATUS_LINE),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 §3: 0001 f203 f4f5 f6f7 sums to ddf2, checksum 220d.
        assert_eq!(
            inet_checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
        let pkt = echo_request(false, 0x1234, 7);
        assert_eq!(
            inet_checksum(&pkt),
            0,
            "a packet with its checksum sums to zero"
        );
        assert_eq!(echo_request(true, 1, 2)[0], 128);
    }

    #[test]
    fn reply_matching() {
        let mut reply = echo_request(false, 0x1234, 7);
        reply[0] = 0;
        assert!(is_echo_reply(&reply, false, Some(0x1234), 7));
        assert!(is_echo_reply(&reply, false, None, 7));
        assert!(!is_echo_reply(&reply, false, Some(0x1235), 7));
        assert!(!is_echo_reply(&reply, false, None, 8));
        assert!(
            !is_echo_reply(&echo_request(false, 0x1234, 7), false, None, 7),
            "a request is not a reply"
        );
        assert!(!is_echo_reply(&reply[..5], false, None, 7));
    }

    #[test]
    fn round_trips_on_this_hosts_loopback() {
        let v4 = tcp_round_trip(Ipv4Addr::LOCALHOST.into(), Duration::from_secs(2));
        assert!(matches!(v4, ProbeOutcome::Ok { .. }), "{v4:?}");
        let u4 = udp_round_trip(Ipv4Addr::LOCALHOST.into(), Duration::from_secs(2));
        assert!(matches!(u4, ProbeOutcome::Ok { .. }), "{u4:?}");
    }

    #[test]
    fn binding_an_address_not_assigned_is_reported() {
        // 192.0.2.1 (TEST-NET-1) is never assigned here; bind fails before any packet is sent.
        match tcp_round_trip("192.0.2.1".parse().expect("ip"), Duration::from_millis(100)) {
            ProbeOutcome::Error { stage, kind, .. } => {
                assert_eq!((stage, kind), ("bind", ErrorKindName::AddrNotAvailable))
            }
            other => panic!("{other:?}"),
        }
    }
}
