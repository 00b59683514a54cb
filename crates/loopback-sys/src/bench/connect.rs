//! A new connection each time: `socket`, `connect` until the handshake completes, `close`.
//!
//! The client closes with `SO_LINGER` 0 (a reset, no `TIME_WAIT`): otherwise a second of
//! connections would exhaust the ephemeral ports of a veth path, where `tcp_tw_reuse` (on for
//! loopback only, by default) does not recycle them.

use std::time::{Duration, Instant};

use super::sock;
use super::{at, fail, pair, since, timed_rounds, BenchHost, Endpoint, Samples, Side, Window};
use crate::SysError;

/// Time connections to a server on `endpoint` (TCP or Unix stream).
pub fn connect(
    host: &dyn BenchHost,
    endpoint: &Endpoint,
    sides: (Side<'_>, Side<'_>),
    window: Window,
    tick: &(dyn Fn() + Sync),
) -> Result<Samples, SysError> {
    match endpoint {
        Endpoint::Tcp { bind, connect } => {
            let (samples, _) = pair(
                host,
                "tcp-connect",
                sides,
                |stop, ready| {
                    let l = sock::tcp_listener(at(*bind, 0))
                        .map_err(|e| fail("tcp-connect listen", e))?;
                    let port = sock::port_of(&l).map_err(|e| fail("tcp-connect listen", e))?;
                    let _ = ready.send(port);
                    drain(&l, stop).map_err(|e| fail("tcp-connect accept", e))
                },
                |port| {
                    let to = at(*connect, port);
                    timed_rounds(window, tick, || {
                        let t0 = Instant::now();
                        let s = std::net::TcpStream::connect_timeout(&to, super::IO_DEADLINE)?;
                        socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO))?;
                        drop(s);
                        Ok(Some(since(t0)))
                    })
                    .map_err(|e| fail("tcp-connect client", e))
                },
            )?;
            Ok(samples)
        }
        #[cfg(unix)]
        Endpoint::UnixStream(path) => {
            let (samples, _) = pair(
                host,
                "unix-connect",
                sides,
                |stop, ready| {
                    let l =
                        sock::unix_listener(path).map_err(|e| fail("unix-connect listen", e))?;
                    let _ = ready.send(());
                    drain(&l, stop).map_err(|e| fail("unix-connect accept", e))
                },
                |()| {
                    timed_rounds(window, tick, || {
                        let t0 = Instant::now();
                        drop(std::os::unix::net::UnixStream::connect(path)?);
                        Ok(Some(since(t0)))
                    })
                    .map_err(|e| fail("unix-connect client", e))
                },
            )?;
            let _ = std::fs::remove_file(path);
            Ok(samples)
        }
        _ => Err(SysError::Unsupported {
            what: "a connect test on this endpoint",
        }),
    }
}

/// Accept and drop connections until the stop flag is raised; returns how many.
fn drain(l: &socket2::Socket, stop: &super::Stop) -> std::io::Result<u64> {
    let mut n = 0;
    while sock::accept(l, stop)?.is_some() {
        n += 1;
    }
    Ok(n)
}
