//! [`Prober`]: every live action, written once for every platform with `socket2` and the C
//! library's resolver. A snapshot never holds these: they send packets or ask the resolver,
//! and their answers are evidence that a judgment receives beside the snapshot.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::probe::{self, HttpReply, ProbeOutcome};
use crate::{files, SysError};

/// Every live action the logic takes. [`SocketProber`] is the one real implementation;
/// tests substitute fixtures.
pub trait Prober: Send + Sync {
    /// One ICMP echo to `target`.
    fn icmp_echo(&self, target: IpAddr, timeout: Duration) -> ProbeOutcome;
    /// Bytes through a TCP listener opened on `addr` for the purpose.
    fn tcp_round_trip(&self, addr: IpAddr, timeout: Duration) -> ProbeOutcome;
    /// A datagram through a UDP socket bound on `addr` for the purpose.
    fn udp_round_trip(&self, addr: IpAddr, timeout: Duration) -> ProbeOutcome;
    /// A TCP connection attempt to `addr`, which someone else listens on.
    fn tcp_connect(&self, addr: SocketAddr, timeout: Duration) -> ProbeOutcome;
    /// Connect to `addr`, send `GET /` with `Host: host`, and read the status line.
    fn http_get(
        &self,
        addr: SocketAddr,
        host: &str,
        timeout: Duration,
    ) -> (ProbeOutcome, HttpReply);
    /// Send a datagram to `addr` and wait for any reply or an ICMP port-unreachable.
    fn udp_probe(&self, addr: SocketAddr, timeout: Duration) -> ProbeOutcome;
    /// What the C library's `getaddrinfo(name, SOCK_STREAM)` returns for `family`, with or
    /// without `AI_ADDRCONFIG`: each address once, in the library's order.
    fn getaddrinfo(
        &self,
        name: &str,
        family: QueryFamily,
        addrconfig: bool,
    ) -> Result<Vec<IpAddr>, String>;
    /// Resolve a host name with the system resolver, addresses in the resolver's order, each
    /// once.
    fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, SysError>;
    /// Bind a socket of `proto` to `addr` with `options` and close it at once, never
    /// listening ([`crate::trybind`]).
    fn try_bind(
        &self,
        addr: SocketAddr,
        proto: loopback_model::Proto,
        options: loopback_model::bind::BindOptions,
    ) -> crate::trybind::BindOutcome;
    /// Why [`Prober::getaddrinfo`] is not the resolver this host's programs load, when it is
    /// not: its answer then cannot stand beside the model of glibc.
    fn foreign_resolver(&self) -> Option<&'static str> {
        None
    }
}

/// Why the resolver linked into this binary is not the one the host's programs use. A static
/// musl build carries musl's `getaddrinfo`, not the host's glibc with its NSS modules and
/// `gai.conf`.
const LINKED_RESOLVER: Option<&str> = if cfg!(target_env = "musl") {
    Some("this loopback is a static musl build: its getaddrinfo is musl's, not the glibc that this host's programs load")
} else {
    None
};

/// The portable prober: `socket2` sockets and the C library's resolver.
#[derive(Debug, Clone, Copy, Default)]
pub struct SocketProber;

impl Prober for SocketProber {
    fn icmp_echo(&self, target: IpAddr, timeout: Duration) -> ProbeOutcome {
        probe::icmp_echo(target, timeout)
    }
    fn tcp_round_trip(&self, addr: IpAddr, timeout: Duration) -> ProbeOutcome {
        probe::tcp_round_trip(addr, timeout)
    }
    fn udp_round_trip(&self, addr: IpAddr, timeout: Duration) -> ProbeOutcome {
        probe::udp_round_trip(addr, timeout)
    }
    fn tcp_connect(&self, addr: SocketAddr, timeout: Duration) -> ProbeOutcome {
        probe::tcp_connect(addr, timeout)
    }
    fn http_get(
        &self,
        addr: SocketAddr,
        host: &str,
        timeout: Duration,
    ) -> (ProbeOutcome, HttpReply) {
        probe::http_get(addr, host, timeout)
    }
    fn udp_probe(&self, addr: SocketAddr, timeout: Duration) -> ProbeOutcome {
        probe::udp_probe(addr, timeout)
    }
    fn getaddrinfo(
        &self,
        name: &str,
        family: QueryFamily,
        addrconfig: bool,
    ) -> Result<Vec<IpAddr>, String> {
        libc_getaddrinfo(name, family, addrconfig)
    }
    fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, SysError> {
        resolve_with_libc(host)
    }
    fn foreign_resolver(&self) -> Option<&'static str> {
        LINKED_RESOLVER
    }
    fn try_bind(
        &self,
        addr: SocketAddr,
        proto: loopback_model::Proto,
        options: loopback_model::bind::BindOptions,
    ) -> crate::trybind::BindOutcome {
        crate::trybind::try_bind(addr, proto, options)
    }
}

/// The address family a look-up asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryFamily {
    /// `AF_UNSPEC`: both families.
    Unspec,
    /// `AF_INET`.
    V4,
    /// `AF_INET6`.
    V6,
}

/// `AI_ADDRCONFIG` (`<netdb.h>`; `ws2def.h` on Windows, where libc does not define it).
#[cfg(unix)]
const AI_ADDRCONFIG: i32 = libc::AI_ADDRCONFIG;
#[cfg(windows)]
const AI_ADDRCONFIG: i32 = 0x0400;

/// `getaddrinfo` through the C library, shared by every platform that has one.
fn libc_getaddrinfo(
    name: &str,
    family: QueryFamily,
    addrconfig: bool,
) -> Result<Vec<IpAddr>, String> {
    // The constants through socket2, which has them for every platform; AF_UNSPEC is 0
    // everywhere.
    let hints = dns_lookup::AddrInfoHints {
        socktype: socket2::Type::STREAM.into(),
        protocol: 0,
        address: match family {
            QueryFamily::Unspec => 0,
            QueryFamily::V4 => socket2::Domain::IPV4.into(),
            QueryFamily::V6 => socket2::Domain::IPV6.into(),
        },
        flags: if addrconfig { AI_ADDRCONFIG } else { 0 },
    };
    libc_inputs_sane()?;
    let owned = name.to_owned();
    // The C library opens the hosts file with a blocking open: a FIFO there would hang us.
    files::with_deadline(files::READ_DEADLINE, move || {
        let iter =
            dns_lookup::getaddrinfo(Some(&owned), None, Some(hints)).map_err(|e| e.to_string())?;
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for ai in iter {
            let ip = ai.map_err(|e| e.to_string())?.sockaddr.ip();
            if seen.insert(ip) {
                out.push(ip);
            }
        }
        Ok(out)
    })
    .unwrap_or_else(|| {
        Err(format!(
            "the C library gave no answer within {} s (is a hosts or resolver file a FIFO or on a hung file system?)",
            files::READ_DEADLINE.as_secs()
        ))
    })
}

/// Files the C library's resolver opens with a blocking `open` and reads to their end.
const LIBC_RESOLVER_FILES: &[&str] = &[
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/gai.conf",
    "/etc/resolv.conf",
    "/etc/host.conf",
];

/// The C library cannot be bounded in memory: with `/dev/zero` as `/etc/hosts` it reads one
/// endless line, and a FIFO blocks it. A deadline bounds only the time, so it is not asked at
/// all while one of its input files is not a regular file. `stat` never opens the file.
fn libc_inputs_sane() -> Result<(), String> {
    for path in LIBC_RESOLVER_FILES {
        if let Ok(meta) = std::fs::metadata(path) {
            if !meta.is_file() {
                return Err(format!(
                    "{path} is {}, not a regular file: the C library was not asked, because it would block or read it forever",
                    files::kind_name(meta.file_type())
                ));
            }
        }
    }
    Ok(())
}

/// Resolve with the C library's `getaddrinfo` (through std), keeping the first occurrence of
/// each address. Shared by every platform.
fn resolve_with_libc(host: &str) -> Result<Vec<IpAddr>, SysError> {
    use std::net::ToSocketAddrs;
    libc_inputs_sane().map_err(|why| SysError::Resolve {
        host: host.to_owned(),
        source: std::io::Error::other(why),
    })?;
    let owned = host.to_owned();
    let addrs = files::with_deadline(files::READ_DEADLINE, move || {
        (owned.as_str(), 0u16)
            .to_socket_addrs()
            .map(|it| it.collect::<Vec<_>>())
    })
    .unwrap_or_else(|| {
        Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "the C library gave no answer within the deadline",
        ))
    })
    .map_err(|source| SysError::Resolve {
        host: host.to_owned(),
        source,
    })?;
    let mut seen = HashSet::new();
    Ok(addrs
        .into_iter()
        .map(|a| a.ip())
        .filter(|ip| seen.insert(*ip))
        .collect())
}
