//! Every operating-system input `loopback` reads, behind two narrow traits.
//!
//! - [`SystemView`] is what a snapshot is captured from: sockets, interfaces, the processes
//!   holding sockets, user names, the kernel settings that change who can reach what
//!   ([`KernelSettings`]), default routes, IPv6 address flags, host files, files as a process
//!   sees them, and the packet-filter ruleset. Every method returns typed data; no caller
//!   builds a `/proc` path or a sysctl name. [`platform()`] is the one place that picks the
//!   implementation for the running OS: Linux (netlink `sock_diag` with a `/proc/net`
//!   fallback, `/proc/PID/fd`, `getifaddrs`), Windows (the IP Helper tables, Tool Help, the
//!   registry, `netsh`) or macOS (`libproc`, `getifaddrs`, `sysctl`, `pfctl`, `scutil`); any
//!   other answers `Unsupported`. What a system lacks is an explicit error, never a guess;
//!   [`SystemView::os`] says which system a view reads, and [`facts`] holds what the Windows and
//!   macOS backends make of their answers, so that it is tested on every platform.
//! - [`Prober`] is every live action: ICMP echo, TCP and UDP round trips, connection attempts,
//!   an HTTP status line, the route's source address, and the C library's `getaddrinfo`. It is
//!   written once, portably, with `socket2` ([`SocketProber`]).
//!
//! Both are `Send + Sync`, hold no caches, and can be asked again and again by a long-running
//! process. Tests substitute fixtures by implementing them (`loopback-core`'s `testing`).
//!
//! Parsers live in [`parse`]: each takes bytes (a `/proc/net/tcp` table, a `/proc/PID/status`
//! file, a netlink dump, `/etc/passwd`) and is wrapped by the code that reads the file, so each
//! is tested on recorded bytes. They skip lines they cannot read rather than fail, and never
//! panic on system data.
//!
//! The one write to a system file, the hosts file's managed block (`loopback names`), is
//! [`hostsfile`]: locked, replaced by rename (or rewritten in place on a bind mount).
//! [`http`]: one HTTP request to a local listener, plain or over TLS, under one deadline.

#![warn(missing_docs)]

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use loopback_model::{BoundSocket, Interface, SocketSourceKind};
use serde::{Deserialize, Serialize};

pub use probe::ProbeOutcome;
pub use prober::{Prober, QueryFamily, SocketProber};

mod ask;
pub mod bench;
pub use ask::{ASK_LIMIT, ASK_TIMEOUT};
pub mod files;
pub mod hostsfile;
pub mod http;
pub mod parse;
pub mod probe;
mod prober;

pub mod command;
pub mod facts;
/// The Linux backend; public for the fixture recorder in `examples/`.
#[cfg(target_os = "linux")]
pub mod linux;
/// The macOS backend.
#[cfg(target_os = "macos")]
pub mod macos;
pub mod routing;
pub mod trybind;
#[cfg(not(target_os = "linux"))]
mod unsupported;
/// The Windows backend.
#[cfg(windows)]
pub mod windows;

/// Which socket source to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
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
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SocketScan {
    /// Listening TCP sockets and bound, unconnected UDP sockets.
    pub sockets: Vec<BoundSocket>,
    /// Where they were read from.
    pub source: Option<SocketSourceKind>,
    /// Why a fallback was taken, or what could not be read.
    pub warnings: Vec<String>,
}

/// A socket that holds a port without being in [`SocketScan`]: a TCP socket bound and not
/// listening, a connection (TCP, or connected UDP), or a TCP connection in TIME_WAIT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldSocket {
    /// The local end: address, port, uid, inode (0 for TIME_WAIT, which no process holds).
    pub socket: BoundSocket,
    /// What it is doing (never `listen`).
    pub state: loopback_model::bind::HolderState,
    /// The far end of a connection.
    pub remote: Option<SocketAddr>,
}

/// The sockets that hold ports besides the listening ones.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldScan {
    /// Bound-not-listening TCP sockets, connections and TIME_WAIT.
    pub sockets: Vec<HeldSocket>,
    /// The kinds this system could not show, each with why (a kernel without sock_diag's
    /// bound-inactive dump; no TIME_WAIT table on macOS).
    pub unseen: Vec<String>,
}

/// A process as read from `/proc/PID`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInfo {
    /// Its process id.
    pub pid: u32,
    /// `/proc/PID/comm`.
    pub comm: String,
    /// Effective uid from `/proc/PID/status`.
    pub euid: Option<u32>,
    /// `/proc/PID/cmdline`, split on NUL; empty for kernel threads and zombies.
    pub argv: Vec<String>,
    /// Its control group (`/proc/PID/cgroup`, the unified hierarchy's path), which names its
    /// systemd unit or container.
    #[serde(default)]
    pub cgroup: Option<String>,
    /// The user's name where the system names users by something other than a uid (a Windows
    /// account, `DOMAIN\\user`); `None` on Unix, where [`ProcessInfo::euid`] is looked up.
    #[serde(default)]
    pub user: Option<String>,
}

/// Which processes hold which socket inodes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
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

/// A network namespace found on this host.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetnsEntry {
    /// Its inode (what `stat -L -c %i /proc/PID/ns/net` prints): the namespace's identity.
    pub inode: u64,
    /// Its names under `/run/netns` (`ip netns`).
    pub names: Vec<String>,
    /// Where it is bind-mounted (`/run/netns/NAME`, `/run/docker/netns/ID`, ...).
    pub mounts: Vec<String>,
    /// The processes in it, in pid order.
    pub pids: Vec<u32>,
    /// The control group of its first process, which names its container when it has one.
    pub cgroup: Option<String>,
    /// It is the namespace the capture runs in.
    pub current: bool,
}

/// Every network namespace that could be found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceScan {
    /// By inode.
    pub namespaces: Vec<NetnsEntry>,
    /// What could not be looked at, and what would let it be.
    pub warnings: Vec<String>,
}

/// A network namespace named by a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetnsTarget {
    /// A name under `/run/netns`.
    Name(String),
    /// A process's namespace.
    Pid(u32),
    /// A namespace file (a bind mount, or `/proc/PID/ns/net`).
    Path(PathBuf),
}

impl NetnsTarget {
    /// `NAME`, `PID` or a path (anything with a `/`), as `--netns` takes them.
    pub fn parse(text: &str) -> Result<NetnsTarget, String> {
        if text.is_empty() {
            return Err("an empty network namespace name".into());
        }
        if text.contains('/') {
            return Ok(NetnsTarget::Path(PathBuf::from(text)));
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            return text
                .parse()
                .map(NetnsTarget::Pid)
                .map_err(|_| format!("{text}: not a process id"));
        }
        if text == "." || text == ".." {
            return Err(format!("{text}: not a namespace name"));
        }
        Ok(NetnsTarget::Name(text.to_owned()))
    }
}

impl std::fmt::Display for NetnsTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetnsTarget::Name(n) => write!(f, "network namespace {n}"),
            NetnsTarget::Pid(p) => write!(f, "the network namespace of pid {p}"),
            NetnsTarget::Path(p) => write!(f, "the network namespace at {}", p.display()),
        }
    }
}

/// The capability that lets a process enter another network namespace.
pub const NETNS_PRIVILEGE_HINT: &str =
    "entering another network namespace needs CAP_SYS_ADMIN: run as root";

/// Errors reading the system. Each variant names what was being read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[allow(missing_docs)] // each variant's message says what it is
pub enum SysError {
    #[error("netlink request ({request}) failed: {source}")]
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
    /// A network namespace could not be entered.
    #[error("{target}: {reason}")]
    Netns { target: String, reason: String },
    /// A bench path could not be set up or measured.
    #[error("{what}: {detail}")]
    Bench { what: String, detail: String },
    #[error("{what}: not available on this system")]
    Unsupported { what: &'static str },
}

impl SysError {
    /// The file does not exist (as opposed to being refused or unreadable).
    pub fn is_not_found(&self) -> bool {
        matches!(self, SysError::Read { source, .. } if source.kind() == std::io::ErrorKind::NotFound)
    }
}

/// A firewall ruleset as its own tool prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ruleset {
    /// `nft`, `iptables` or `ip6tables`.
    pub tool: String,
    /// `nft -a list ruleset`, or `iptables-save` / `ip6tables-save` output.
    pub text: String,
}

/// What could be read of the packet filter.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirewallDump {
    /// Each tool's listing.
    pub rulesets: Vec<Ruleset>,
    /// Tools that exist but could not list their rules, and why.
    pub unreadable: Vec<String>,
    /// The system's own filter was read and is off, with what says so (Windows Firewall off
    /// in every profile, pf disabled): no rule stands in any path.
    #[serde(default)]
    pub off: Option<String>,
}

/// A range of ports the system keeps from every server (Windows' excluded port ranges, which
/// Hyper-V, WSL and Docker reserve): a bind inside one fails with nothing listening.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortRange {
    /// TCP or UDP.
    pub proto: loopback_model::Proto,
    /// The first port.
    pub start: u16,
    /// The last port.
    pub end: u16,
}

/// The kernel settings that change who can reach what, read once. A setting that could not
/// be read is `None` (or absent from a map); a judgment says so rather than guessing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelSettings {
    /// The ephemeral port range (`net.ipv4.ip_local_port_range`, shared by IPv6).
    pub ephemeral_ports: Option<(u16, u16)>,
    /// New IPv6 wildcard sockets are IPv6-only by default (`net.ipv6.bindv6only`).
    pub bindv6only: Option<bool>,
    /// IPv6 disabled on every interface (`net.ipv6.conf.all.disable_ipv6`).
    pub ipv6_all_disabled: Option<bool>,
    /// IPv6 disabled per interface (`net.ipv6.conf.NAME.disable_ipv6`); an interface missing
    /// here has no IPv6 configuration at all (IPv6 absent from the kernel).
    pub ipv6_disabled: BTreeMap<String, bool>,
    /// Packets to 127.0.0.0/8 routed from this interface (`net.ipv4.conf.NAME.route_localnet`),
    /// including `all`.
    pub route_localnet: BTreeMap<String, bool>,
    /// ICMP echo requests ignored (`net.ipv4.icmp_echo_ignore_all`).
    pub echo_ignored_v4: Option<bool>,
    /// ICMPv6 echo requests ignored (`net.ipv6.icmp.echo_ignore_all`).
    pub echo_ignored_v6: Option<bool>,
    /// IPv4 packets arriving on this interface are forwarded
    /// (`net.ipv4.conf.NAME.forwarding`; `net.ipv4.ip_forward` sets them all).
    #[serde(default)]
    pub forwarding_v4: BTreeMap<String, bool>,
    /// IPv6 packets are forwarded (`net.ipv6.conf.all.forwarding`).
    #[serde(default)]
    pub forwarding_v6: Option<bool>,
    /// Port ranges no server may bind (Windows' excluded port ranges); `None` where the system
    /// has none or they could not be read (see [`KernelSettings::unread`]).
    #[serde(default)]
    pub excluded_ports: Option<Vec<PortRange>>,
    /// The first port a process without the privilege may bind
    /// (`net.ipv4.ip_unprivileged_port_start`, shared by IPv6; binding below it needs
    /// `CAP_NET_BIND_SERVICE`); `None` where the system has no such limit or it was not read.
    #[serde(default)]
    pub unprivileged_port_start: Option<u16>,
    /// Settings that exist on this system but could not be read, each with why.
    #[serde(default)]
    pub unread: Vec<String>,
}

/// The default routes of the namespace: the interfaces each family's default route leaves by.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DefaultRoutes {
    /// Interfaces with an IPv4 default route.
    pub ipv4: Vec<String>,
    /// Interfaces with an IPv6 default route (the kernel's unreachable placeholder excluded).
    pub ipv6: Vec<String>,
}

pub use parse::if_inet6::Inet6Addr;

/// Every input a snapshot is captured from. One implementation per platform, picked by
/// [`platform()`], plus fixtures in tests. No method builds a path or a key for its caller.
pub trait SystemView: Send + Sync {
    /// The operating system this view reads.
    fn os(&self) -> loopback_model::Os {
        loopback_model::Os::current()
    }
    /// What the system's own resolver says of itself, where it is not a C library that reads
    /// files (macOS's `scutil --dns`, Windows' prefix policy table from `netsh interface ipv6
    /// show prefixpolicies`); `None` where there is none.
    fn resolver_config(&self) -> Option<Result<String, SysError>> {
        None
    }
    /// Listening TCP sockets and bound, unconnected UDP sockets, IPv4 and IPv6.
    fn sockets(&self, preference: SourcePreference) -> Result<SocketScan, SysError>;
    /// The sockets that hold a port without listening ([`HeldScan`]): what `bind` names as a
    /// holder besides the listeners, and `audit --bound` lists.
    fn held_sockets(&self) -> HeldScan;
    /// Interfaces of the current network namespace with their addresses.
    fn interfaces(&self) -> Result<Vec<Interface>, SysError>;
    /// IPv6 addresses with the flags the C library reads (tentative, deprecated, ...).
    fn ipv6_addresses(&self) -> Result<Vec<Inet6Addr>, SysError>;
    /// The processes holding any of `inodes`. Vanished processes are skipped silently.
    fn owners(&self, inodes: &HashSet<u64>) -> OwnerScan;
    /// The names of `uids` in the user database, read afresh on every call.
    fn user_names(&self, uids: &HashSet<u32>) -> HashMap<u32, String>;
    /// This process's effective uid.
    fn effective_uid(&self) -> u32;
    /// The kernel settings, with the per-interface ones for `interfaces`.
    fn kernel_settings(&self, interfaces: &[Interface]) -> KernelSettings;
    /// The default routes.
    fn default_routes(&self) -> Result<DefaultRoutes, SysError>;
    /// The contents of a host file (hosts, `nsswitch.conf`, `gai.conf`): only a regular file,
    /// at most [`files::MAX_FILE_BYTES`], never blocking.
    fn read_file(&self, path: &Path) -> Result<Vec<u8>, SysError>;
    /// A file as process `pid` sees it: `path` resolved inside its root (relative paths from
    /// its working directory), read with its owner's file-system rights, bounded like
    /// [`SystemView::read_file`]. A file its owner could not read is refused.
    fn read_process_file(&self, pid: u32, path: &str) -> Result<Vec<u8>, SysError>;
    /// Whether process information can be read here; the reason when it cannot (`/proc` not
    /// mounted, or no such interface on this platform).
    fn proc_available(&self) -> Result<(), String>;
    /// The packet filter rules, as far as they can be read.
    fn firewall(&self) -> FirewallDump;
    /// The source address the routing table picks to reach `dest` (a UDP `connect`, which
    /// sends nothing), or `None` when `dest` is unreachable.
    fn route_source(&self, dest: IpAddr) -> Option<IpAddr>;
    // The captures below are Linux's alone (policy routing, /proc, cgroups): the Linux backend
    // implements them, and every other system answers, here, that they are not available.

    /// The route the kernel picks for a packet to `dest` sent by a socket of `uid` with
    /// `mark` (one `RTM_GETROUTE`, which sends nothing), with the table it came from.
    fn route_get(
        &self,
        dest: IpAddr,
        uid: Option<u32>,
        mark: u32,
    ) -> Result<routing::RouteAnswer, SysError> {
        let _ = (dest, uid, mark);
        Err(SysError::Unsupported {
            what: "asking the kernel for a socket owner's route (RTM_GETROUTE with uid and mark; Linux only)",
        })
    }
    /// One process as `owners` reads them (name, effective uid, command line, control group).
    fn process(&self, pid: u32) -> Result<ProcessInfo, SysError> {
        let _ = pid;
        Err(SysError::Unsupported {
            what: "reading one process by pid (Linux only)",
        })
    }
    /// The environment process `pid` was started with (`/proc/PID/environ`), bounded; only
    /// for a caller that may read it (its owner, or root).
    fn process_environ(&self, pid: u32) -> Result<Vec<(String, String)>, SysError> {
        let _ = pid;
        Err(SysError::Unsupported {
            what: "reading a process's environment (Linux only)",
        })
    }
    /// The BPF programs attached to cgroup `path` (of the unified hierarchy, as
    /// `/proc/PID/cgroup` names it) and to each of its ancestors, nearest first.
    fn cgroup_programs(&self, path: &str) -> Result<Vec<routing::CgroupProgram>, SysError> {
        let _ = path;
        Err(SysError::Unsupported {
            what: "cgroup BPF programs (Linux only)",
        })
    }
    /// The interfaces each routing table's routes leave by (table id to interface indexes),
    /// from one dump of every table.
    fn table_devices(&self) -> Result<BTreeMap<u32, Vec<u32>>, SysError> {
        Err(SysError::Unsupported {
            what: "routing tables (Linux only)",
        })
    }
    /// Every cgroup BPF program attached anywhere in the unified hierarchy.
    fn all_cgroup_programs(&self) -> Result<Vec<routing::CgroupProgram>, SysError> {
        Err(SysError::Unsupported {
            what: "cgroup BPF programs (Linux only)",
        })
    }
    /// The policy routing rules (`ip rule`, both families), in priority order.
    fn policy_rules(&self) -> Result<Vec<routing::PolicyRule>, SysError> {
        Err(SysError::Unsupported {
            what: "policy routing rules (ip rule; Linux only)",
        })
    }
    /// Every network namespace on the host: of every process, and bind-mounted ones.
    fn namespaces(&self) -> NamespaceScan;
    /// The inode of the network namespace the calling thread is in.
    fn current_netns(&self) -> Option<u64>;
    /// The inode of `target`'s network namespace, without entering it.
    fn netns_inode(&self, target: &NetnsTarget) -> Result<u64, SysError>;
    /// Ask a local service one question over TCP: connect to `addr` (a loopback address or
    /// one of this host's, never another host), send `request`, and return what it answers
    /// once `complete` says the answer is whole, within [`ASK_TIMEOUT`], at most [`ASK_LIMIT`]
    /// bytes. For services that tell their running configuration without credentials (Redis's
    /// `CONFIG GET bind`).
    fn ask_local_service(
        &self,
        addr: SocketAddr,
        request: &[u8],
        complete: fn(&[u8]) -> bool,
    ) -> Result<Vec<u8>, SysError> {
        ask::exchange(addr, request, complete)
    }
    /// One HTTP request to a local server (a loopback address or one of this host's, never
    /// another host), over TLS when `tls`: connect, send `request`, read until `complete` says
    /// the answer is whole, the server closes, [`http::HTTP_LIMIT`] bytes arrived or `timeout`
    /// passed ([`http::exchange`], shared by every platform).
    fn http_exchange(
        &self,
        addr: SocketAddr,
        request: &[u8],
        tls: bool,
        timeout: std::time::Duration,
        complete: fn(&[u8]) -> bool,
    ) -> http::HttpExchange {
        http::exchange(addr, request, tls, timeout, http::HTTP_LIMIT, complete)
    }
    /// Run `job` on a thread that has entered `target`'s network namespace (only that thread
    /// moves; every other method called from `job` then sees that namespace). With `inode`,
    /// the namespace must still be that one (a pid may have been reused).
    fn in_netns(
        &self,
        target: &NetnsTarget,
        inode: Option<u64>,
        job: &mut (dyn FnMut() + Send),
    ) -> Result<(), SysError>;
}

/// The implementation for the running OS.
pub fn platform() -> Box<dyn SystemView> {
    #[cfg(target_os = "linux")]
    {
        Box::new(linux::LinuxSystem::new())
    }
    #[cfg(target_os = "macos")]
    {
        Box::new(macos::MacSystem::new())
    }
    #[cfg(windows)]
    {
        Box::new(windows::WindowsSystem::new())
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
    {
        Box::new(unsupported::Unsupported)
    }
}

/// The [`bench::BenchHost`] of the running OS: picked here, beside [`platform()`].
pub fn bench_host() -> Box<dyn bench::BenchHost> {
    #[cfg(target_os = "linux")]
    {
        Box::new(linux::LinuxBench)
    }
    #[cfg(not(target_os = "linux"))]
    {
        Box::new(unsupported::UnsupportedBench)
    }
}

/// Where this system's resolver reads its hosts file: `/etc/hosts`, or on Windows
/// `%SystemRoot%\\System32\\drivers\\etc\\hosts` (`C:\\Windows` when `SystemRoot` is unset).
pub fn hosts_path() -> String {
    #[cfg(windows)]
    {
        windows::hosts_path()
    }
    #[cfg(not(windows))]
    {
        "/etc/hosts".to_owned()
    }
}

/// Read a host file with [`files::read_bounded`].
pub(crate) fn read_path(path: &Path) -> Result<Vec<u8>, SysError> {
    files::read_bounded(path)
}
