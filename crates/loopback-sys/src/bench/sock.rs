//! The sockets of the bench: made with `socket2` (a backlog, `SO_RCVTIMEO` on listeners so an
//! accept wakes up to look at the stop flag), used as `std` types.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream, UdpSocket};

#[cfg(unix)]
use socket2::SockAddr;
use socket2::{Domain, Protocol, Socket, Type};

use super::{Stop, IO_DEADLINE, POLL};

/// Listen backlog: large enough that the connect test never waits for the accepting thread.
const BACKLOG: i32 = 4096;

/// A listening TCP socket on `addr`, its accept waking every [`POLL`].
pub(super) fn tcp_listener(addr: SocketAddr) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    s.set_reuse_address(true)?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.bind(&addr.into())?;
    s.listen(BACKLOG)?;
    s.set_read_timeout(Some(POLL))?;
    Ok(s)
}

/// The port a socket is bound to.
pub(super) fn port_of(s: &Socket) -> std::io::Result<u16> {
    s.local_addr()?
        .as_socket()
        .map(|a| a.port())
        .ok_or_else(|| std::io::Error::other("not an IP socket"))
}

/// The next connection, or `None` once the stop flag is raised.
pub(super) fn accept(listener: &Socket, stop: &Stop) -> std::io::Result<Option<Socket>> {
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_read_timeout(Some(IO_DEADLINE))?;
                s.set_write_timeout(Some(IO_DEADLINE))?;
                return Ok(Some(s));
            }
            Err(e) if waited(&e) || e.kind() == ErrorKind::Interrupted => {
                if stop.raised() {
                    return Ok(None);
                }
            }
            // A connection reset while it waited in the queue (the connect test closes with
            // RST) is not the listener's failure.
            Err(e) if e.kind() == ErrorKind::ConnectionAborted => {}
            Err(e) => return Err(e),
        }
    }
}

/// A timeout ran out (`EAGAIN` from `SO_RCVTIMEO`).
pub(super) fn waited(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// A TCP connection with `TCP_NODELAY` and deadlines.
pub(super) fn tcp_connect(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, IO_DEADLINE)?;
    stream_options(&s)?;
    Ok(s)
}

/// A TCP connection for bulk data: deadlines, Nagle's algorithm left on (as iperf3 and bulk
/// senders leave it; `TCP_NODELAY` changes how a stream is cut into segments and moves its
/// throughput by half on a veth link).
pub(super) fn tcp_connect_bulk(addr: SocketAddr) -> std::io::Result<TcpStream> {
    let s = TcpStream::connect_timeout(&addr, IO_DEADLINE)?;
    s.set_read_timeout(Some(IO_DEADLINE))?;
    s.set_write_timeout(Some(IO_DEADLINE))?;
    Ok(s)
}

/// `TCP_NODELAY` and deadlines on an accepted or connected TCP socket.
pub(super) fn stream_options(s: &TcpStream) -> std::io::Result<()> {
    s.set_nodelay(true)?;
    s.set_read_timeout(Some(IO_DEADLINE))?;
    s.set_write_timeout(Some(IO_DEADLINE))
}

/// A UDP socket bound to `addr`, reads waking every `timeout`.
pub(super) fn udp_bind(
    addr: SocketAddr,
    timeout: std::time::Duration,
) -> std::io::Result<UdpSocket> {
    let s = UdpSocket::bind(addr)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(IO_DEADLINE))?;
    Ok(s)
}

/// A listening Unix stream socket at `path`, its accept waking every [`POLL`].
#[cfg(unix)]
pub(super) fn unix_listener(path: &std::path::Path) -> std::io::Result<Socket> {
    let s = Socket::new(Domain::UNIX, Type::STREAM, None)?;
    s.bind(&SockAddr::unix(path)?)?;
    s.listen(BACKLOG)?;
    s.set_read_timeout(Some(POLL))?;
    Ok(s)
}

/// A Unix stream connection with deadlines.
#[cfg(unix)]
pub(super) fn unix_connect(
    path: &std::path::Path,
) -> std::io::Result<std::os::unix::net::UnixStream> {
    let s = std::os::unix::net::UnixStream::connect(path)?;
    s.set_read_timeout(Some(IO_DEADLINE))?;
    s.set_write_timeout(Some(IO_DEADLINE))?;
    Ok(s)
}

/// A Unix datagram socket bound to `path`, reads waking every `timeout`.
#[cfg(unix)]
pub(super) fn unix_dgram(
    path: &std::path::Path,
    timeout: std::time::Duration,
) -> std::io::Result<std::os::unix::net::UnixDatagram> {
    let s = std::os::unix::net::UnixDatagram::bind(path)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(IO_DEADLINE))?;
    Ok(s)
}
