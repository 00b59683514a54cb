//! Round trips through a TCP proxy: client -> proxy on 127.0.0.1 -> backend, the proxy's hop to
//! the backend taking the path measured (TCP on an address, or a Unix stream socket). The proxy
//! is the plain kind: one thread per direction, each reading and writing as bytes come.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpStream};

use super::rr::{echo, stream_round_trips};
use super::sock;
use super::{at, fail, BenchHost, Endpoint, Samples, Side, Stop, Window, IO_DEADLINE};
use crate::SysError;

/// The proxy's copy buffer (what simple proxies use).
const COPY_BUF: usize = 16 << 10;

/// One end of the hop.
#[derive(Debug)]
enum Conn {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(std::os::unix::net::UnixStream),
}

impl Conn {
    fn try_clone(&self) -> std::io::Result<Conn> {
        Ok(match self {
            Conn::Tcp(s) => Conn::Tcp(s.try_clone()?),
            #[cfg(unix)]
            Conn::Unix(s) => Conn::Unix(s.try_clone()?),
        })
    }
    fn shutdown_write(&self) {
        let _ = match self {
            Conn::Tcp(s) => s.shutdown(Shutdown::Write),
            #[cfg(unix)]
            Conn::Unix(s) => s.shutdown(Shutdown::Write),
        };
    }
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            Conn::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Conn::Tcp(s) => s.write(buf),
            #[cfg(unix)]
            Conn::Unix(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Where the backend listens, as the proxy connects to it.
#[derive(Debug, Clone)]
enum Backend {
    Tcp(std::net::SocketAddr),
    #[cfg(unix)]
    Unix(std::path::PathBuf),
}

/// Round trips of `size` bytes through a proxy whose hop is `hop`; `sides` are the backend's,
/// the proxy's and the client's (the client must share the proxy's namespace: it connects to
/// the proxy's 127.0.0.1).
pub fn proxy_rr(
    host: &dyn BenchHost,
    hop: &Endpoint,
    sides: (Side<'_>, Side<'_>, Side<'_>),
    size: usize,
    window: Window,
    tick: &(dyn Fn() + Sync),
) -> Result<Samples, SysError> {
    let size = size.max(1);
    let (backend_side, proxy_side, client_side) = sides;
    let stop = Stop::default();
    let stop = &stop;
    let result = std::thread::scope(|s| -> Result<Samples, SysError> {
        let (backend_tx, backend_rx) = std::sync::mpsc::channel::<Backend>();
        let (proxy_tx, proxy_rx) = std::sync::mpsc::channel::<u16>();
        let backend = s.spawn(move || -> Result<(), SysError> {
            backend_side.take(host)?;
            let (listener, at_backend) = match hop {
                Endpoint::Tcp { bind, connect } => {
                    let l =
                        sock::tcp_listener(at(*bind, 0)).map_err(|e| fail("backend listen", e))?;
                    let port = sock::port_of(&l).map_err(|e| fail("backend listen", e))?;
                    (l, Backend::Tcp(at(*connect, port)))
                }
                #[cfg(unix)]
                Endpoint::UnixStream(path) => (
                    sock::unix_listener(path).map_err(|e| fail("backend listen", e))?,
                    Backend::Unix(path.clone()),
                ),
                _ => {
                    return Err(SysError::Unsupported {
                        what: "a proxy hop on this endpoint",
                    })
                }
            };
            let _ = backend_tx.send(at_backend);
            let Some(conn) =
                sock::accept(&listener, stop).map_err(|e| fail("backend accept", e))?
            else {
                return Ok(());
            };
            let mut conn = wrap(conn, hop);
            echo(&mut conn, size).map_err(|e| fail("backend", e))
        });
        let proxy = s.spawn(move || -> Result<(), SysError> {
            let at_backend = backend_rx
                .recv_timeout(IO_DEADLINE)
                .map_err(|_| fail("proxy", "the backend did not start"))?;
            proxy_side.take(host)?;
            let l = sock::tcp_listener(at(Ipv4Addr::LOCALHOST.into(), 0))
                .map_err(|e| fail("proxy listen", e))?;
            let _ = proxy_tx.send(sock::port_of(&l).map_err(|e| fail("proxy listen", e))?);
            let Some(front) = sock::accept(&l, stop).map_err(|e| fail("proxy accept", e))? else {
                return Ok(());
            };
            let front = TcpStream::from(front);
            sock::stream_options(&front).map_err(|e| fail("proxy accept", e))?;
            let back = match &at_backend {
                Backend::Tcp(a) => {
                    Conn::Tcp(sock::tcp_connect(*a).map_err(|e| fail("proxy hop", e))?)
                }
                #[cfg(unix)]
                Backend::Unix(p) => {
                    Conn::Unix(sock::unix_connect(p).map_err(|e| fail("proxy hop", e))?)
                }
            };
            let front = Conn::Tcp(front);
            let (front2, back2) = (
                front.try_clone().map_err(|e| fail("proxy", e))?,
                back.try_clone().map_err(|e| fail("proxy", e))?,
            );
            std::thread::scope(|inner| {
                let up = inner.spawn(move || -> Result<(), SysError> {
                    proxy_side.take(host)?;
                    copy(front, back).map_err(|e| fail("proxy upstream", e))
                });
                let down = copy(back2, front2).map_err(|e| fail("proxy downstream", e));
                let up = up
                    .join()
                    .unwrap_or_else(|_| Err(fail("proxy", "the upstream thread panicked")));
                up.and(down)
            })
        });
        let client = s.spawn(move || -> Result<Samples, SysError> {
            let r = (|| {
                let port = proxy_rx
                    .recv_timeout(IO_DEADLINE)
                    .map_err(|_| fail("proxy client", "the proxy did not start"))?;
                client_side.take(host)?;
                let mut c = sock::tcp_connect(at(Ipv4Addr::LOCALHOST.into(), port))
                    .map_err(|e| fail("proxy client connect", e))?;
                stream_round_trips(&mut c, size, window, tick).map_err(|e| fail("proxy client", e))
            })();
            stop.raise();
            r
        });
        let samples = client
            .join()
            .unwrap_or_else(|_| Err(fail("proxy client", "panicked")));
        let p = proxy
            .join()
            .unwrap_or_else(|_| Err(fail("proxy", "panicked")));
        let b = backend
            .join()
            .unwrap_or_else(|_| Err(fail("backend", "panicked")));
        b?;
        p?;
        samples
    });
    #[cfg(unix)]
    if let Endpoint::UnixStream(path) = hop {
        let _ = std::fs::remove_file(path);
    }
    result
}

/// An accepted backend connection as the hop's stream type.
fn wrap(s: socket2::Socket, hop: &Endpoint) -> Conn {
    match hop {
        #[cfg(unix)]
        Endpoint::UnixStream(_) => Conn::Unix(std::os::unix::net::UnixStream::from(
            std::os::fd::OwnedFd::from(s),
        )),
        _ => {
            let t = TcpStream::from(s);
            let _ = sock::stream_options(&t);
            Conn::Tcp(t)
        }
    }
}

/// Copy until end of file, then pass the half-close on.
fn copy(mut from: Conn, mut to: Conn) -> std::io::Result<()> {
    let mut buf = vec![0u8; COPY_BUF];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => return Err(e),
        };
        to.write_all(&buf[..n])?;
    }
    to.shutdown_write();
    Ok(())
}
