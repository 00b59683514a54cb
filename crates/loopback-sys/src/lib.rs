//! Every operating-system input `loopback` reads, behind one trait.
//!
//! [`SystemView`] is the seam: the logic in `loopback-core` asks it for sockets, interfaces,
//! the processes holding sockets, sysctl values, user names, name resolution, configuration
//! files, the firewall ruleset, and for active probes (ICMP echo, TCP and UDP round trips, see
//! [`probe`]), and never touches the OS itself. [`platform()`] is the one place that picks the implementation for the
//! running OS (Linux today: netlink `sock_diag` with a `/proc/net` fallback, `/proc/PID/fd`,
//! `getifaddrs`); tests substitute fixtures by implementing the trait.
//!
//! Parsers live in [`parse`]: each takes bytes (a `/proc/net/tcp` table, a `/proc/PID/status`
//! file, a netlink dump, `/etc/passwd`) and is wrapped by the code that reads the file, so each
//! is tested on recorded bytes. They skip lines they cannot read rather than fail, and never
//! panic on system data.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::PathBuf;

use std::time::Duration;

use loopback_model::{BoundSocket, Interface, SocketSourceKind};

pub use probe::ProbeOutcome;

pub mod files;
pub mod parse;
pub mod probe;

/// The Linux backend; public for the fixture recorder in `examples/`.
#[cfg(target_os = "linux")]
pub mod linux;
#[cfg(not(target_os = "linux"))]
mod unsupported;

/// Which socket source to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SourcePreference {
    /// Netlink, falling back to `/proc` when netlink is unavailable (and saying so).
    #[default]
    Auto,
    /// Netlink only; an error when it is unavailable.
    Netlink,
    /// `/proc/net` only.
    Proc,
}

/// The bound sockets of the current network namespace.
#[derive(Debug, Clone, Default)]
pub struct SocketScan {
    /// Listening TCP sockets and bound, unconnected UDP sockets.
    pub sockets: Vec<BoundSocket>,
    pub source: Option<SocketSourceKind>,
    /// Why a fallback was taken, or what could not be read.
    pub warnings: Vec<String>,
}

/// A process as read from `/proc/PID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessInfo {
    pub pid: u32,
    /// `/proc/PID/comm`.
    pub comm: String,
    /// Effective uid from `/proc/PID/status`.
    pub euid: Option<u32>,
    /// `/proc/PID/cmdline`, split on NUL; empty for kernel threads and zombies.
    pub argv: Vec<String>,
}

/// Which processes hold which socket inodes.
#[derive(Debug, Clone, Default)]
pub struct OwnerScan {
    /// Socket inode to the pids holding it, in pid order.
    pub holders: HashMap<u64, Vec<u32>>,
    /// Each holding process, read once.
    pub processes: HashMap<u32, ProcessInfo>,
    /// Processes whose descriptors could not be read (permission denied).
    pub unreadable: usize,
    /// Why no process could be read at all (`/proc` is not mounted), if so.
    pub unavailable: Option<String>,
    /// Processes whose command line or status could not be read within the deadline.
    pub stalled: Vec<u32>,
}

/// Errors reading the system. Each variant names what was being read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SysError {
    #[error("netlink sock_diag request ({request}) failed: {source}")]
    Netlink {
        request: String,
        #[source]
        source: std::io::Error,
    },
    #[error("netlink sock_diag reply ({request}) could not be decoded: {detail}")]
    NetlinkDecode { request: String, detail: String },
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("listing network interfaces: {0}")]
    Interfaces(String),
    #[error("resolving {host:?}: {source}")]
    Resolve {
        host: String,
        #[source]
        source: std::io::Error,
    },
    /// A file that was not read on purpose: not a regular file, too large, unreadable by the
    /// process owner it was read for, or too slow.
    #[error("{path}: {reason}")]
    Refused { path: String, reason: String },
    #[error("{what} is not supported on this platform yet")]
    Unsupported { what: &'static str },
}

/// A firewall ruleset as its own tool prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ruleset {
    /// `nft`, `iptables` or `ip6tables`.
    pub tool: String,
    /// `nft -a list ruleset`, or `iptables-save` / `ip6tables-save` output.
    pub text: String,
}

/// What could be read of the packet filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FirewallDump {
    pub rulesets: Vec<Ruleset>,
    /// Tools that exist but could not list their rules, and why.
    pub unreadable: Vec<String>,
}

/// Every OS input the logic needs. One implementation per platform, plus fixtures in tests.
/// `Sync` so that checks can run on several threads at once.
pub trait SystemView: Sync {
    /// Listening TCP sockets and bound, unconnected UDP sockets, IPv4 and IPv6.
    fn sockets(&self, preference: SourcePreference) -> Result<SocketScan, SysError>;
    /// Interfaces of the current network namespace with their addresses.
    fn interfaces(&self) -> Result<Vec<Interface>, SysError>;
    /// The processes holding any of `inodes`. Vanished processes are skipped silently.
    fn owners(&self, inodes: &HashSet<u64>) -> OwnerScan;
    /// A sysctl by its `/proc/sys` path, e.g. `net/ipv4/ip_local_port_range`, trimmed.
    fn sysctl(&self, key: &str) -> Option<String>;
    /// The name of a user id, if the user database knows it.
    fn user_name(&self, uid: u32) -> Option<String>;
    /// This process's effective uid.
    fn effective_uid(&self) -> u32;
    /// Resolve a host name with the system resolver, addresses in the resolver's order, each once.
    fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, SysError>;
    /// The contents of a host file (hosts, `nsswitch.conf`, `gai.conf`, `/proc/net/*`): only
    /// a regular file, at most [`files::MAX_FILE_BYTES`], never blocking.
    fn read_file(&self, path: &str) -> Result<Vec<u8>, SysError>;
    /// A file as process `pid` sees it: `path` resolved inside its root (relative paths from
    /// its working directory), read with its owner's file-system rights, bounded like
    /// [`SystemView::read_file`]. A file its owner could not read is refused.
    fn read_process_file(&self, pid: u32, path: &str) -> Result<Vec<u8>, SysError>;
    /// Whether `/proc` can be read here; the reason when it cannot (not mounted, not procfs).
    fn proc_available(&self) -> Result<(), String>;
    /// One ICMP echo to `target`.
    fn icmp_echo(&self, target: IpAddr, timeout: Duration) -> ProbeOutcome;
    /// Bytes through a TCP listener opened on `addr` for the purpose.
    fn tcp_round_trip(&self, addr: IpAddr, timeout: Duration) -> ProbeOutcome;
    /// A datagram through a UDP socket bound on `addr` for the purpose.
    fn udp_round_trip(&self, addr: IpAddr, timeout: Duration) -> ProbeOutcome;
    /// A TCP connection attempt to `addr`, which someone else listens on.
    fn tcp_connect(&self, addr: std::net::SocketAddr, timeout: Duration) -> ProbeOutcome;
    /// The packet filter rules, as far as they can be read.
    fn firewall(&self) -> FirewallDump;
    /// What the C library's `getaddrinfo(name, SOCK_STREAM)` returns for `family`, with or
    /// without `AI_ADDRCONFIG`: each address once, in the library's order.
    fn getaddrinfo(
        &self,
        name: &str,
        family: QueryFamily,
        addrconfig: bool,
    ) -> Result<Vec<IpAddr>, String>;
    /// The source address the kernel would use to reach `dest` (a UDP `connect`, which sends
    /// nothing), or `None` when `dest` is unreachable.
    fn source_address(&self, dest: IpAddr) -> Option<IpAddr>;
    /// Connect to `addr`, send `GET /` with `Host: host`, and read the status line.
    fn http_get(
        &self,
        addr: std::net::SocketAddr,
        host: &str,
        timeout: Duration,
    ) -> (ProbeOutcome, probe::HttpReply);
    /// Send a datagram to `addr` and wait for any reply or an ICMP port-unreachable.
    fn udp_probe(&self, addr: std::net::SocketAddr, timeout: Duration) -> ProbeOutcome;
}

/// The address family a look-up asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueryFamily {
    Unspec,
    V4,
    V6,
}

/// `AI_ADDRCONFIG` (`<netdb.h>`; `ws2def.h` on Windows, where libc does not define it).
#[cfg(unix)]
const AI_ADDRCONFIG: i32 = libc::AI_ADDRCONFIG;
#[cfg(windows)]
const AI_ADDRCONFIG: i32 = 0x0400;

/// `getaddrinfo` through the C library, shared by every platform that has one.
pub(crate) fn libc_getaddrinfo(
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

/// The implementation for the running OS.
pub fn platform() -> Box<dyn SystemView> {
    #[cfg(target_os = "linux")]
    {
        Box::new(linux::LinuxSystem::new())
    }
    #[cfg(not(target_os = "linux"))]
    {
        Box::new(unsupported::Unsupported)
    }
}

/// Resolve with the C library's `getaddrinfo` (through std), keeping the first occurrence of
/// each address. Shared by every platform.
pub(crate) fn resolve_with_libc(host: &str) -> Result<Vec<IpAddr>, SysError> {
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

/// Read a host file with [`files::read_bounded`].
pub(crate) fn read_path(path: &str) -> Result<Vec<u8>, SysError> {
    files::read_bounded(std::path::Path::new(path))
}
