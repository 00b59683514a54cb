//! One bounded question to a local service over TCP (`SystemView::ask_local_service`). Plain
//! `std::net`, so every platform shares it.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::SysError;

/// The whole exchange's deadline: connecting, sending and reading.
pub const ASK_TIMEOUT: Duration = Duration::from_millis(500);
/// The most bytes read from the answer.
pub const ASK_LIMIT: usize = 4096;

fn refused(addr: SocketAddr, reason: impl std::fmt::Display) -> SysError {
    SysError::Refused {
        path: addr.to_string(),
        reason: reason.to_string(),
    }
}

/// Connect, send `request`, and read until the peer closes, [`ASK_LIMIT`] bytes arrive, a
/// complete line-terminated answer has come and nothing follows, or [`ASK_TIMEOUT`] passes.
pub(crate) fn exchange(addr: SocketAddr, request: &[u8]) -> Result<Vec<u8>, SysError> {
    let start = Instant::now();
    let mut s = TcpStream::connect_timeout(&addr, ASK_TIMEOUT).map_err(|e| refused(addr, e))?;
    let left = |start: Instant| {
        ASK_TIMEOUT
            .checked_sub(start.elapsed())
            .filter(|d| !d.is_zero())
    };
    s.set_write_timeout(left(start).or(Some(Duration::from_millis(1))))
        .map_err(|e| refused(addr, e))?;
    s.write_all(request).map_err(|e| refused(addr, e))?;
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while out.len() < ASK_LIMIT {
        let Some(rest) = left(start) else { break };
        // After a complete line, wait only briefly for more.
        let wait = if out.ends_with(b"\r\n") {
            rest.min(Duration::from_millis(50))
        } else {
            rest
        };
        s.set_read_timeout(Some(wait))
            .map_err(|e| refused(addr, e))?;
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n.min(ASK_LIMIT - out.len())]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            Err(e) => return Err(refused(addr, e)),
        }
    }
    if out.is_empty() {
        return Err(refused(addr, "no answer"));
    }
    Ok(out)
}
