//! A real bind, made and undone at once: what `loopback bind` asks the system before it
//! explains anything. The socket is never listened on, so no connection can reach it, and it
//! is closed before the function returns (a TCP socket that never listened leaves no
//! TIME_WAIT behind).

use std::net::SocketAddr;

use loopback_model::bind::BindOptions;
use loopback_model::Proto;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// What went wrong, as the judgment needs to tell causes apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum BindErrorKind {
    /// `EADDRINUSE`.
    InUse,
    /// `EACCES` (or `EPERM`).
    Denied,
    /// `EADDRNOTAVAIL`.
    NotAvailable,
    /// `EAFNOSUPPORT`: the family is absent from the kernel.
    NoFamily,
    /// Anything else.
    Other,
}

/// The outcome of one bind.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum BindOutcome {
    /// It bound.
    Bound {
        /// The socket's `IPV6_V6ONLY` as it was bound (IPv6 only).
        v6only: Option<bool>,
    },
    /// It did not.
    Failed {
        /// The error's name (`EADDRINUSE`, `WSAEADDRINUSE`).
        errno: String,
        /// Its class.
        kind: BindErrorKind,
        /// The step that failed (`socket`, `SO_REUSEADDR`, `bind`) and the system's message.
        message: String,
    },
}

/// Open a socket of `proto` for `addr`, set `options`, bind, and close.
pub fn try_bind(addr: SocketAddr, proto: Proto, options: BindOptions) -> BindOutcome {
    match bind_once(addr, proto, options) {
        Ok(v6only) => BindOutcome::Bound { v6only },
        Err((step, e)) => {
            let (errno, kind) = classify(&e);
            BindOutcome::Failed {
                errno,
                kind,
                message: format!("{step}: {e}"),
            }
        }
    }
}

fn bind_once(
    addr: SocketAddr,
    proto: Proto,
    options: BindOptions,
) -> Result<Option<bool>, (&'static str, std::io::Error)> {
    let (ty, protocol) = match proto {
        Proto::Tcp => (Type::STREAM, Protocol::TCP),
        Proto::Udp => (Type::DGRAM, Protocol::UDP),
    };
    let sock =
        Socket::new(Domain::for_address(addr), ty, Some(protocol)).map_err(|e| ("socket", e))?;
    if options.reuseaddr {
        sock.set_reuse_address(true)
            .map_err(|e| ("SO_REUSEADDR", e))?;
    }
    if options.reuseport {
        reuse_port(&sock).map_err(|e| ("SO_REUSEPORT", e))?;
    }
    if let (Some(v), true) = (options.v6only, addr.is_ipv6()) {
        sock.set_only_v6(v).map_err(|e| ("IPV6_V6ONLY", e))?;
    }
    sock.bind(&SockAddr::from(addr)).map_err(|e| ("bind", e))?;
    let v6only = if addr.is_ipv6() {
        sock.only_v6().ok()
    } else {
        None
    };
    drop(sock);
    Ok(v6only)
}

#[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
fn reuse_port(sock: &Socket) -> std::io::Result<()> {
    sock.set_reuse_port(true)
}

#[cfg(not(all(unix, not(any(target_os = "solaris", target_os = "illumos")))))]
fn reuse_port(_: &Socket) -> std::io::Result<()> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        "SO_REUSEPORT does not exist on this system",
    ))
}

/// Whether this system has `SO_REUSEPORT`.
pub const HAS_REUSEPORT: bool = cfg!(unix);

/// The error's name and class.
fn classify(e: &std::io::Error) -> (String, BindErrorKind) {
    let Some(code) = e.raw_os_error() else {
        return (format!("{:?}", e.kind()), BindErrorKind::Other);
    };
    errno_name(code)
}

/// The name and class of an error number of this system.
#[cfg(unix)]
pub fn errno_name(code: i32) -> (String, BindErrorKind) {
    let (name, kind) = match code {
        libc::EADDRINUSE => ("EADDRINUSE", BindErrorKind::InUse),
        libc::EACCES => ("EACCES", BindErrorKind::Denied),
        libc::EPERM => ("EPERM", BindErrorKind::Denied),
        libc::EADDRNOTAVAIL => ("EADDRNOTAVAIL", BindErrorKind::NotAvailable),
        libc::EAFNOSUPPORT => ("EAFNOSUPPORT", BindErrorKind::NoFamily),
        libc::EINVAL => ("EINVAL", BindErrorKind::Other),
        libc::ENOPROTOOPT => ("ENOPROTOOPT", BindErrorKind::Other),
        libc::EPROTONOSUPPORT => ("EPROTONOSUPPORT", BindErrorKind::NoFamily),
        _ => return (format!("errno {code}"), BindErrorKind::Other),
    };
    (name.to_owned(), kind)
}

/// The name and class of a Winsock error number (`winerror.h`).
#[cfg(windows)]
pub fn errno_name(code: i32) -> (String, BindErrorKind) {
    let (name, kind) = match code {
        10048 => ("WSAEADDRINUSE", BindErrorKind::InUse),
        10013 => ("WSAEACCES", BindErrorKind::Denied),
        10049 => ("WSAEADDRNOTAVAIL", BindErrorKind::NotAvailable),
        10047 => ("WSAEAFNOSUPPORT", BindErrorKind::NoFamily),
        10022 => ("WSAEINVAL", BindErrorKind::Other),
        10042 => ("WSAENOPROTOOPT", BindErrorKind::Other),
        _ => return (format!("error {code}"), BindErrorKind::Other),
    };
    (name.to_owned(), kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(reuseaddr: bool) -> BindOptions {
        BindOptions {
            reuseaddr,
            reuseport: false,
            v6only: None,
        }
    }

    #[test]
    fn a_port_held_by_a_listener_is_in_use_and_a_free_one_binds() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("listener");
        let addr = l.local_addr().expect("addr");
        match try_bind(addr, Proto::Tcp, opts(true)) {
            BindOutcome::Failed { errno, kind, .. } => {
                assert_eq!(kind, BindErrorKind::InUse);
                assert!(errno.contains("EADDRINUSE"), "{errno}");
            }
            other => panic!("bound over a listener: {other:?}"),
        }
        drop(l);
        assert!(matches!(
            try_bind(addr, Proto::Tcp, opts(true)),
            BindOutcome::Bound { v6only: None }
        ));
    }
}
