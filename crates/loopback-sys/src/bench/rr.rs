//! Request/response: one message in flight, the full round trip timed.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use super::sock;
use super::{
    at, fail, pair, seq_of, since, stamp, timed_rounds, BenchHost, Endpoint, Samples, Side, Window,
};
use crate::SysError;

/// How long a datagram client waits for its reply before counting it lost.
const REPLY_DEADLINE: Duration = Duration::from_millis(200);

/// Round trips of `size` bytes to an echo server on `endpoint`, the server on `sides.0` and
/// the client on `sides.1`; `tick` is called after each round.
pub fn rr(
    host: &dyn BenchHost,
    endpoint: &Endpoint,
    sides: (Side<'_>, Side<'_>),
    size: usize,
    window: Window,
    tick: &(dyn Fn() + Sync),
) -> Result<Samples, SysError> {
    let size = size.max(1);
    match endpoint {
        Endpoint::Tcp { bind, connect } => {
            let (samples, ()) = pair(
                host,
                "tcp-rr",
                sides,
                |stop, ready| {
                    let l =
                        sock::tcp_listener(at(*bind, 0)).map_err(|e| fail("tcp-rr listen", e))?;
                    let port = sock::port_of(&l).map_err(|e| fail("tcp-rr listen", e))?;
                    let _ = ready.send(port);
                    let Some(conn) =
                        sock::accept(&l, stop).map_err(|e| fail("tcp-rr accept", e))?
                    else {
                        return Ok(());
                    };
                    let mut conn = std::net::TcpStream::from(conn);
                    sock::stream_options(&conn).map_err(|e| fail("tcp-rr accept", e))?;
                    echo(&mut conn, size).map_err(|e| fail("tcp-rr server", e))
                },
                |port| {
                    let mut s = sock::tcp_connect(at(*connect, port))
                        .map_err(|e| fail("tcp-rr connect", e))?;
                    stream_round_trips(&mut s, size, window, tick)
                        .map_err(|e| fail("tcp-rr client", e))
                },
            )?;
            Ok(samples)
        }
        Endpoint::Udp { bind, connect } => {
            let (samples, ()) = pair(
                host,
                "udp-rr",
                sides,
                |stop, ready| {
                    let s = sock::udp_bind(at(*bind, 0), super::POLL)
                        .map_err(|e| fail("udp-rr bind", e))?;
                    let port = s.local_addr().map_err(|e| fail("udp-rr bind", e))?.port();
                    let _ = ready.send(port);
                    let mut buf = vec![0u8; size + 1];
                    while !stop.raised() {
                        match s.recv_from(&mut buf) {
                            Ok((n, from)) => {
                                s.send_to(&buf[..n], from)
                                    .map_err(|e| fail("udp-rr server", e))?;
                            }
                            Err(e) if sock::waited(&e) => {}
                            Err(e) => return Err(fail("udp-rr server", e)),
                        }
                    }
                    Ok(())
                },
                |port| {
                    let any: std::net::IpAddr = if connect.is_ipv4() {
                        std::net::Ipv4Addr::UNSPECIFIED.into()
                    } else {
                        std::net::Ipv6Addr::UNSPECIFIED.into()
                    };
                    let s = sock::udp_bind(at(any, 0), REPLY_DEADLINE)
                        .map_err(|e| fail("udp-rr bind", e))?;
                    s.connect(at(*connect, port))
                        .map_err(|e| fail("udp-rr connect", e))?;
                    datagram_round_trips(|m| s.send(m), |b| s.recv(b), size, window, tick)
                        .map_err(|e| fail("udp-rr client", e))
                },
            )?;
            Ok(samples)
        }
        #[cfg(unix)]
        Endpoint::UnixStream(path) => {
            let (samples, ()) = pair(
                host,
                "unix-stream-rr",
                sides,
                |stop, ready| {
                    let l =
                        sock::unix_listener(path).map_err(|e| fail("unix-stream-rr listen", e))?;
                    let _ = ready.send(());
                    let Some(conn) =
                        sock::accept(&l, stop).map_err(|e| fail("unix-stream-rr accept", e))?
                    else {
                        return Ok(());
                    };
                    let mut conn =
                        std::os::unix::net::UnixStream::from(std::os::fd::OwnedFd::from(conn));
                    echo(&mut conn, size).map_err(|e| fail("unix-stream-rr server", e))
                },
                |()| {
                    let mut s =
                        sock::unix_connect(path).map_err(|e| fail("unix-stream-rr connect", e))?;
                    stream_round_trips(&mut s, size, window, tick)
                        .map_err(|e| fail("unix-stream-rr client", e))
                },
            )?;
            let _ = std::fs::remove_file(path);
            Ok(samples)
        }
        #[cfg(unix)]
        Endpoint::UnixDgram(path) => {
            let client_path = path.with_extension("client");
            let (samples, ()) = pair(
                host,
                "unix-dgram-rr",
                sides,
                |stop, ready| {
                    let s = sock::unix_dgram(path, super::POLL)
                        .map_err(|e| fail("unix-dgram-rr bind", e))?;
                    let _ = ready.send(());
                    let mut buf = vec![0u8; size + 1];
                    while !stop.raised() {
                        match s.recv_from(&mut buf) {
                            Ok((n, from)) => {
                                let Some(to) = from.as_pathname() else {
                                    continue;
                                };
                                s.send_to(&buf[..n], to)
                                    .map_err(|e| fail("unix-dgram-rr server", e))?;
                            }
                            Err(e) if sock::waited(&e) => {}
                            Err(e) => return Err(fail("unix-dgram-rr server", e)),
                        }
                    }
                    Ok(())
                },
                |()| {
                    let s = sock::unix_dgram(&client_path, REPLY_DEADLINE)
                        .map_err(|e| fail("unix-dgram-rr bind", e))?;
                    s.connect(path)
                        .map_err(|e| fail("unix-dgram-rr connect", e))?;
                    datagram_round_trips(|m| s.send(m), |b| s.recv(b), size, window, tick)
                        .map_err(|e| fail("unix-dgram-rr client", e))
                },
            )?;
            let _ = std::fs::remove_file(path);
            let _ = std::fs::remove_file(&client_path);
            Ok(samples)
        }
        #[cfg(not(unix))]
        Endpoint::UnixStream(_) | Endpoint::UnixDgram(_) => Err(SysError::Unsupported {
            what: "Unix-domain sockets",
        }),
    }
}

/// Send back every `size` bytes received, until the peer closes.
pub(super) fn echo(conn: &mut (impl Read + Write), size: usize) -> std::io::Result<()> {
    let mut buf = vec![0u8; size];
    loop {
        match conn.read_exact(&mut buf) {
            Ok(()) => conn.write_all(&buf)?,
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// Warm up, then time round trips on a stream for each round of `window`.
pub(super) fn stream_round_trips(
    s: &mut (impl Read + Write),
    size: usize,
    window: Window,
    tick: &(dyn Fn() + Sync),
) -> std::io::Result<Samples> {
    let msg = vec![0x5au8; size];
    let mut buf = vec![0u8; size];
    timed_rounds(window, tick, || {
        let t0 = Instant::now();
        s.write_all(&msg)?;
        s.read_exact(&mut buf)?;
        Ok(Some(since(t0)))
    })
}

/// Warm up, then time datagram round trips for each round of `window`. A reply that does not
/// come within the deadline is counted lost; a late reply to an earlier request is skipped.
fn datagram_round_trips(
    mut send: impl FnMut(&[u8]) -> std::io::Result<usize>,
    mut recv: impl FnMut(&mut [u8]) -> std::io::Result<usize>,
    size: usize,
    window: Window,
    tick: &(dyn Fn() + Sync),
) -> std::io::Result<Samples> {
    let mut msg = vec![0x5au8; size];
    let mut buf = vec![0u8; size + 1];
    let mut seq = 0u64;
    timed_rounds(window, tick, || {
        seq += 1;
        stamp(&mut msg, seq);
        let t0 = Instant::now();
        send(&msg)?;
        loop {
            match recv(&mut buf) {
                Ok(n) if n == size && seq_of(&buf[..n]) == seq_of(&msg) => {
                    return Ok(Some(since(t0)))
                }
                Ok(_) => {}
                Err(e) if sock::waited(&e) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    })
}
