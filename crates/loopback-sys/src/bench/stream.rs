//! One direction as fast as the sender writes; throughput measured where it counts, at the
//! receiver: bytes from the first read to the last. A new connection per round, the first one
//! a warm-up.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use super::sock;
use super::{at, fail, pair, BenchHost, Endpoint, Side, StreamRounds, Window};
use crate::SysError;

/// The receiver's read size: iperf3's default, like the sender's default write size.
const READ_BUF: usize = 128 << 10;

/// Stream `chunk`-byte writes to a server on `endpoint` (TCP or Unix stream).
pub fn stream(
    host: &dyn BenchHost,
    endpoint: &Endpoint,
    sides: (Side<'_>, Side<'_>),
    chunk: usize,
    window: Window,
    tick: &(dyn Fn() + Sync),
) -> Result<StreamRounds, SysError> {
    let chunk = chunk.max(1);
    let plan: Vec<Duration> = std::iter::once(window.warmup)
        .chain((0..window.rounds).map(|_| window.round))
        .collect();
    let rounds = match endpoint {
        Endpoint::Tcp { bind, connect } => {
            let ((), rounds) = pair(
                host,
                "tcp-stream",
                sides,
                |stop, ready| {
                    let l = sock::tcp_listener(at(*bind, 0))
                        .map_err(|e| fail("tcp-stream listen", e))?;
                    let port = sock::port_of(&l).map_err(|e| fail("tcp-stream listen", e))?;
                    let _ = ready.send(port);
                    receive_all(&l, stop, plan.len(), std::net::TcpStream::from)
                        .map_err(|e| fail("tcp-stream server", e))
                },
                |port| {
                    for (i, d) in plan.iter().enumerate() {
                        let s = sock::tcp_connect_bulk(at(*connect, port))
                            .map_err(|e| fail("tcp-stream connect", e))?;
                        send_for(s, chunk, *d, |s| s.shutdown(std::net::Shutdown::Write))
                            .map_err(|e| fail("tcp-stream client", e))?;
                        if i > 0 {
                            tick();
                        }
                    }
                    Ok(())
                },
            )?;
            rounds
        }
        #[cfg(unix)]
        Endpoint::UnixStream(path) => {
            use std::os::unix::net::UnixStream;
            let ((), rounds) = pair(
                host,
                "unix-stream",
                sides,
                |stop, ready| {
                    let l = sock::unix_listener(path).map_err(|e| fail("unix-stream listen", e))?;
                    let _ = ready.send(());
                    receive_all(&l, stop, plan.len(), |s| {
                        UnixStream::from(std::os::fd::OwnedFd::from(s))
                    })
                    .map_err(|e| fail("unix-stream server", e))
                },
                |()| {
                    for (i, d) in plan.iter().enumerate() {
                        let s =
                            sock::unix_connect(path).map_err(|e| fail("unix-stream connect", e))?;
                        send_for(s, chunk, *d, |s| s.shutdown(std::net::Shutdown::Write))
                            .map_err(|e| fail("unix-stream client", e))?;
                        if i > 0 {
                            tick();
                        }
                    }
                    Ok(())
                },
            )?;
            let _ = std::fs::remove_file(path);
            rounds
        }
        _ => {
            return Err(SysError::Unsupported {
                what: "a stream test on this endpoint",
            })
        }
    };
    // The first connection was the warm-up.
    Ok(StreamRounds {
        rounds: rounds.into_iter().skip(1).collect(),
    })
}

/// Accept `count` connections one after another and count what each delivers.
fn receive_all<S: Read>(
    l: &socket2::Socket,
    stop: &super::Stop,
    count: usize,
    wrap: impl Fn(socket2::Socket) -> S,
) -> std::io::Result<Vec<(u64, Duration)>> {
    let mut buf = vec![0u8; READ_BUF];
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let Some(conn) = sock::accept(l, stop)? else {
            break;
        };
        let mut conn = wrap(conn);
        let mut bytes = 0u64;
        let mut first = None;
        let mut last = Instant::now();
        loop {
            let n = conn.read(&mut buf)?;
            if n == 0 {
                break;
            }
            last = Instant::now();
            first.get_or_insert(last);
            bytes += n as u64;
        }
        out.push((bytes, first.map_or(Duration::ZERO, |f| last - f)));
        // Dropping the connection tells the sender this round is counted.
    }
    Ok(out)
}

/// Write `chunk`-byte buffers for `d`, half-close, and wait for the receiver to finish.
fn send_for<S: Read + Write>(
    mut s: S,
    chunk: usize,
    d: Duration,
    half_close: impl Fn(&S) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let data = vec![0xa5u8; chunk];
    let end = Instant::now() + d;
    while Instant::now() < end {
        s.write_all(&data)?;
    }
    half_close(&s)?;
    let mut rest = [0u8; 64];
    while s.read(&mut rest)? > 0 {}
    Ok(())
}
