//! Plain data shared by every `loopback` crate: what the kernel reports (sockets, interfaces,
//! processes) and what the tool concludes about it (listeners, scopes, verdicts, explanations).
//!
//! Nothing here does I/O. Every type serialises with serde; the JSON documents built from these
//! types are the contract described in `docs/json.md`, so renaming a field here is a schema change
//! that must bump the document's `version`.

#![warn(missing_docs)]

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

mod address;
pub mod bench;
pub mod bind;
mod codes;
pub mod http;
pub mod intercept;
pub mod names;
pub mod watch;

pub use address::{AddressClass, AddressKind};
pub use codes::{
    Arrival, AttemptResult, CheckId, ClientId, ClientResult, DiagnosisCode, ExposureReach,
    ExposureState, FindingCode, IdentifiedBy, PublicationDiagnosis, Runtime, StepKind,
};

/// Transport protocol of a socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

impl Proto {
    /// `tcp` or `udp`.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

impl std::fmt::Display for Proto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A bound socket as the kernel reports it, before any classification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundSocket {
    /// TCP or UDP.
    pub proto: Proto,
    /// The bound address.
    pub address: IpAddr,
    /// The bound port.
    pub port: u16,
    /// `IPV6_V6ONLY` for IPv6 sockets; `None` for IPv4 sockets and when the source cannot tell
    /// (the `/proc` fallback).
    pub v6only: Option<bool>,
    /// Interface index from `SO_BINDTODEVICE`; `None` when unbound or unknown.
    pub bound_ifindex: Option<u32>,
    /// Whether `bound_ifindex` could be read at all (netlink: yes; `/proc`: no).
    pub ifindex_known: bool,
    /// Owner uid of the socket as the kernel records it.
    pub uid: u32,
    /// Socket inode, the key that links a socket to the processes holding it.
    pub inode: u64,
}

/// Where the socket table came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SocketSourceKind {
    /// Netlink `sock_diag` (`NETLINK_SOCK_DIAG`), the complete source.
    Netlink,
    /// `/proc/net/{tcp,udp}{,6}`: no `v6only`, no bound device.
    Proc,
    /// Windows' IP Helper tables (`GetExtendedTcpTable`, `GetExtendedUdpTable`): the owning
    /// process of each row, no `v6only`, no bound interface.
    Iphelper,
    /// macOS's `libproc` (every process's socket descriptors, `proc_pidfdinfo`): only the
    /// sockets of processes this user may inspect; `v6only` from the socket's flags.
    Libproc,
}

/// The operating system a snapshot was captured on: it decides which resolver is modelled and
/// which checks apply.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    /// Linux (also every snapshot from before this field existed).
    #[default]
    Linux,
    /// Windows.
    Windows,
    /// macOS.
    Macos,
}

impl Os {
    /// The system this binary was built for.
    pub const fn current() -> Os {
        if cfg!(windows) {
            Os::Windows
        } else if cfg!(target_os = "macos") {
            Os::Macos
        } else {
            Os::Linux
        }
    }

    /// `linux`, `windows` or `macos`.
    pub fn as_str(self) -> &'static str {
        match self {
            Os::Linux => "linux",
            Os::Windows => "windows",
            Os::Macos => "macos",
        }
    }

    /// The name people call it by.
    pub fn display_name(self) -> &'static str {
        match self {
            Os::Linux => "Linux",
            Os::Windows => "Windows",
            Os::Macos => "macOS",
        }
    }
}

/// An address assigned to an interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterfaceAddress {
    /// The address.
    pub address: IpAddr,
    /// Its prefix length.
    pub prefix_len: u8,
}

/// A network interface of the current network namespace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Interface {
    /// Its index.
    pub index: u32,
    /// Its name.
    pub name: String,
    /// `IFF_UP`.
    pub up: bool,
    /// `IFF_LOOPBACK`.
    pub loopback: bool,
    /// Its addresses.
    pub addresses: Vec<InterfaceAddress>,
    /// The kind of device (`veth`, `bridge`, `wireguard`, `vxlan`, ...); `None` for a physical
    /// device, or when unknown.
    #[serde(default)]
    pub kind: Option<String>,
    /// The index of the bridge (or bond) it is a port of.
    #[serde(default)]
    pub master: Option<u32>,
    /// Its far end (a veth's peer) lives in another network namespace.
    #[serde(default)]
    pub peer_elsewhere: bool,
}

impl Interface {
    /// Whether the interface holds an address of the same family as `ip` (IPv4-mapped addresses
    /// count as IPv4).
    pub fn has_family(&self, v4: bool) -> bool {
        self.addresses
            .iter()
            .any(|a| a.address.is_ipv4() == v4 && !is_mapped_v6(&a.address))
    }
}

fn is_mapped_v6(ip: &IpAddr) -> bool {
    matches!(ip, IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some())
}

/// A process that holds a socket, as read from `/proc/PID`.
///
/// The strings are shared (`Arc<str>`): one process often holds many listeners, and an audit of
/// 100,000 sockets must not copy each owner's command line 100,000 times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// Process id.
    pub pid: u32,
    /// `comm`: the kernel's short process name.
    pub name: std::sync::Arc<str>,
    /// User name of the process's effective uid; the numeric uid when no name is known.
    pub user: Option<std::sync::Arc<str>>,
    /// The process's effective uid.
    #[serde(default)]
    pub uid: Option<u32>,
    /// Command line with secrets redacted.
    pub cmdline: std::sync::Arc<str>,
    /// The systemd unit it runs in (from its control group), when it runs in one.
    pub unit: Option<std::sync::Arc<str>>,
}

/// How a socket's bind address limits who can reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BindScope {
    /// 127.0.0.0/8, `::1`, `::ffff:127.0.0.0/104`, or bound to a loopback device.
    Loopback,
    /// `0.0.0.0` or `::`: every address of the family (and IPv4 too for a dual-stack `::`).
    Wildcard,
    /// Any other address.
    Specific,
}

impl BindScope {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            BindScope::Loopback => "loopback",
            BindScope::Wildcard => "wildcard",
            BindScope::Specific => "specific",
        }
    }
}

/// The audit's verdict on one listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Exposed, and no policy rule allows it.
    Exposed,
    /// Exposed, and a policy rule allows it.
    Allowed,
    /// Not exposed to other hosts.
    Ok,
}

impl Verdict {
    /// Every verdict, worst first.
    pub const ALL: &'static [Verdict] = &[Verdict::Exposed, Verdict::Allowed, Verdict::Ok];

    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Exposed => "exposed",
            Verdict::Allowed => "allowed",
            Verdict::Ok => "ok",
        }
    }
}

/// A listening TCP socket or a bound, unconnected UDP socket, classified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listener {
    /// TCP or UDP.
    pub proto: Proto,
    /// The bound address, without brackets.
    pub address: IpAddr,
    /// The bound port.
    pub port: u16,
    /// `IPV6_V6ONLY` of an IPv6 socket; unknown from `/proc`.
    pub v6only: Option<bool>,
    /// Device from `SO_BINDTODEVICE`, if any.
    pub interface: Option<String>,
    /// How the address is bound.
    pub bind_scope: BindScope,
    /// Hosts other than this one can connect.
    pub exposed: bool,
    /// Shared between listeners with the same set (most listeners of a host have one of few).
    pub reachable_via: std::sync::Arc<[String]>,
    /// Shared between the listeners of the same processes.
    pub owners: std::sync::Arc<[Owner]>,
    /// The judgment, with the policy applied.
    pub verdict: Verdict,
    /// Socket owner uid as the kernel records it.
    pub uid: u32,
    /// The socket inode.
    pub inode: u64,
    /// The inode of the network namespace the socket lives in (`stat -L -c %i
    /// /proc/PID/ns/net`); 0 when unknown (a snapshot from an older version).
    pub netns: u64,
    /// Index (from 0) of the policy `[[allow]]` rule that allowed it.
    pub allowed_by: Option<usize>,
    /// Caveats about this listener (missing owners, assumptions made).
    pub notes: Vec<String>,
    /// The service behind it, when it can be named.
    pub service: Option<std::sync::Arc<ServiceInfo>>,
    /// For an exposed listener: the exact change that binds it to loopback.
    pub fix: Option<std::sync::Arc<str>>,
    /// What a connection from another host reaches, through the packet filter and NAT.
    #[serde(default)]
    pub exposure: Option<Box<Exposure>>,
    /// The NAT rules of the output hook that send this host's connections for another
    /// address or port to this listener (a proxy's REDIRECT, a DNAT), as `intercept` names
    /// them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub receives: Vec<String>,
    /// The names `loopback names` manages for its address (`names add`), from the hosts
    /// file's managed block.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub names: Vec<String>,
    /// With `--http`: whether a web page in the user's browser can reach it (DNS rebinding,
    /// CORS); `None` when not asked, or not an HTTP candidate (UDP; exposed, without
    /// `--http-all`).
    #[serde(default)]
    pub http: Option<Box<http::HttpCheck>>,
}

/// What a connection from another host reaches, through the packet filter and NAT.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exposure {
    /// The verdict over every path; `exposed` is true for `open`, `restricted` and `unknown`.
    pub state: ExposureState,
    /// The widest audience.
    pub reach: ExposureReach,
    /// Every way from an uplink to the socket that was tried.
    pub paths: Vec<ExposurePath>,
    /// Why, where it is not obvious (the filter could not be read, forwarding is off...).
    pub notes: Vec<String>,
}

/// One way from an uplink to a socket.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExposurePath {
    /// The uplink the connection arrives on.
    pub interface: String,
    /// The namespace of that uplink.
    pub netns: u64,
    /// How it arrives.
    pub arrival: Arrival,
    /// The destination address the other host sends to (for NAT paths, the host-side one).
    pub address: IpAddr,
    /// The destination port it sends to.
    pub port: u16,
    /// `open`, `restricted`, `filtered` or `unknown`.
    pub state: ExposureState,
    /// For `restricted`: the source conditions, as the rules print them.
    pub sources: Vec<String>,
    /// The rule that decided: the drop for `filtered`, the accept for `open` and `restricted`
    /// (none when nothing but accepting policies was met), the rule not modelled for `unknown`.
    pub rule: Option<RuleRef>,
    /// The NAT rule that rewrote the destination.
    pub nat_rule: Option<RuleRef>,
    /// Why, in a sentence.
    pub detail: String,
}

/// A rule of the packet filter, as its tool lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleRef {
    /// `nft`, `iptables`, `ip6tables`, `iptables-legacy`, `ip6tables-legacy`, or `kernel` for
    /// the kernel's own routing rules.
    pub tool: String,
    /// The table's family (`ip`, `ip6`, `inet`, `netdev`).
    pub family: String,
    /// The table.
    pub table: String,
    /// The chain.
    pub chain: String,
    /// The nft rule handle (`nft delete rule FAMILY TABLE CHAIN handle N`).
    pub handle: Option<u64>,
    /// The rule as printed, or `policy drop` for a chain's policy.
    pub text: String,
}

/// An interface that leads off this machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uplink {
    /// The namespace it is in.
    pub netns: u64,
    /// Its name.
    pub interface: String,
    /// Why it counts as one.
    pub reason: String,
    /// Declared with `--uplink`.
    pub declared: bool,
}

/// The service behind a listener.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceInfo {
    /// Stable id from the service table, e.g. `postgresql`.
    pub id: String,
    /// Display name.
    pub name: String,
    /// `process` (its executable or command line) or `port` (a well-known port only: lower
    /// confidence).
    pub identified_by: IdentifiedBy,
    /// The configuration file the process runs with, when it can be found.
    pub config_file: Option<String>,
    /// The setting that controls the bind address.
    pub setting: String,
    /// Its current value, when readable.
    pub current: Option<String>,
    /// Where `current` comes from (`FILE:LINE`, `command line (-l)`), or what was observed.
    pub current_from: Option<String>,
    /// The setting's default.
    pub default: String,
}

/// The `audit` JSON document (`docs/json.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditReport {
    /// The schema version (`docs/json.md`).
    pub version: u32,
    /// Where the sockets were read from.
    pub source: SocketSourceKind,
    /// Listeners, exposed first.
    pub listeners: Vec<Listener>,
    /// Unconnected UDP sockets on a wildcard address whose port the kernel chose from the
    /// ephemeral range: clients that sent a datagram, not services.
    pub udp_clients: Vec<Listener>,
    /// The network namespaces audited, and those the publications lead into.
    pub namespaces: Vec<NamespaceInfo>,
    /// Ports published by a container runtime's forwarder or a DNAT/REDIRECT rule, joined to
    /// what listens behind them.
    pub publications: Vec<Publication>,
    /// The interfaces that lead off this machine, where connections from other hosts begin.
    #[serde(default)]
    pub uplinks: Vec<Uplink>,
    /// With `--bound`: TCP sockets bound to a port and not listening, which hold the port
    /// though no listening table shows them (absent without `--bound`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound: Option<Vec<bind::BindHolder>>,
    /// What could not be read, and why.
    pub warnings: Vec<String>,
}

/// Version of the `audit` JSON document.
pub const AUDIT_VERSION: u32 = 5;

/// A network namespace: who it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceInfo {
    /// Its inode, the namespace's identity.
    pub inode: u64,
    /// Its names under `/run/netns`.
    pub names: Vec<String>,
    /// The container it belongs to, when one was recognised.
    pub container: Option<Container>,
    /// How many processes are in it (0 for a namespace held only by a bind mount).
    pub processes: usize,
    /// Whether its listeners are in `listeners` (a namespace a publication leads into is
    /// described without being audited, unless every namespace was asked for).
    pub audited: bool,
    /// It is the namespace `loopback` ran in.
    pub current: bool,
}

/// A container, as its runtime names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Container {
    /// Which runtime runs it.
    pub runtime: Runtime,
    /// The runtime's id (the full hexadecimal id for Docker, Podman and containerd).
    pub id: String,
    /// Its name (`NAMESPACE/POD/CONTAINER` for Kubernetes); `None` when the runtime's metadata
    /// could not be read.
    pub name: Option<String>,
}

impl Container {
    /// The name, or the short id when the name is unknown.
    pub fn label(&self) -> String {
        match &self.name {
            Some(n) => n.clone(),
            None => self.id.chars().take(12).collect(),
        }
    }
}

/// A port published by a container runtime's forwarder, joined to its target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publication {
    /// TCP or UDP.
    pub proto: Proto,
    /// The published address on this side.
    pub address: IpAddr,
    /// The published port.
    pub port: u16,
    /// Where the forwarder connects.
    pub target_address: IpAddr,
    /// The port it connects to.
    pub target_port: u16,
    /// The namespace holding `target_address`, when found.
    pub target_netns: Option<u64>,
    /// Whether a listener there accepts the forwarded connections.
    pub listener: bool,
    /// The verdict.
    pub diagnosis: PublicationDiagnosis,
    /// The forwarding process (`docker-proxy`, `pasta`, ...).
    pub forwarder: String,
    /// Its pid; 0 for a DNAT or REDIRECT rule, which no process carries out.
    pub forwarder_pid: u32,
    /// The NAT rule, for a publication made by the packet filter.
    #[serde(default)]
    pub rule: Option<RuleRef>,
    /// The namespace the published port lives in.
    pub netns: u64,
    /// The target's listeners on the target port, as `ADDR:PORT (PROCESS)`, whatever their
    /// address: the evidence behind the diagnosis.
    pub target_listeners: Vec<String>,
    /// What is behind the target, in a sentence (the end of the chain `ADDRESS:PORT ->
    /// TARGET:PORT (container NAME) -> DETAIL`).
    pub detail: String,
    /// How to make the publication reach its service, when it does not.
    pub fix: Option<String>,
}
/// Version of the `explain` JSON document.
pub const EXPLAIN_VERSION: u32 = 1;

/// Where an explained address is assigned on this host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The interface.
    pub interface: String,
    /// The interface address and prefix that make this address local.
    pub via: String,
    /// True when the address itself is assigned, false when a loopback prefix covers it.
    pub exact: bool,
}

/// One explained address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AddressExplanation {
    /// The address.
    pub address: IpAddr,
    /// For CIDR targets, the prefix length; `None` for a single address.
    pub prefix_len: Option<u8>,
    #[serde(flatten)]
    /// What kind of address it is.
    pub class: AddressClass,
    /// Interfaces on this host that make the address local; empty when it is not local.
    pub assigned: Vec<Assignment>,
    /// Who can reach a service bound to this address, as a sentence.
    pub reach: String,
    /// Listeners on the target port that accept connections to this address (only when a port
    /// was given).
    pub listeners: Option<Vec<Listener>>,
}

/// The `explain` JSON document (`docs/json.md`, version 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// The schema version (`docs/json.md`).
    pub version: u32,
    /// The target as given.
    pub target: String,
    /// The host name when the target was a name that had to be resolved.
    pub name: Option<String>,
    /// The port, when given.
    pub port: Option<u16>,
    /// One explanation per address.
    pub addresses: Vec<AddressExplanation>,
    /// What could not be read, and why.
    pub warnings: Vec<String>,
}

/// Version of the `doctor` JSON document.
pub const DOCTOR_VERSION: u32 = 1;

/// The outcome of one doctor check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// Broken.
    Fail,
    /// Works, with a caveat.
    Warn,
    /// Could not run here.
    Skip,
    /// Works.
    Pass,
}

impl CheckStatus {
    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckStatus::Fail => "fail",
            CheckStatus::Warn => "warn",
            CheckStatus::Skip => "skip",
            CheckStatus::Pass => "pass",
        }
    }
}

/// One doctor check: a stable id, its status, what it found and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// Stable identifier, e.g. `loopback.ipv4-tcp`.
    pub id: CheckId,
    /// Pass, warn, skip or fail.
    pub status: CheckStatus,
    /// One line.
    pub summary: String,
    /// What was observed, one fact per entry.
    pub evidence: Vec<String>,
    /// What to do, when the check did not pass.
    pub fix: Option<String>,
}

/// The `doctor` JSON document (`docs/json.md`, version 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DoctorReport {
    /// The schema version (`docs/json.md`).
    pub version: u32,
    /// Every check, in a fixed order.
    pub checks: Vec<Check>,
    /// Wall time of the whole run.
    pub elapsed_ms: u64,
}

/// Version of the `resolve` JSON document.
pub const RESOLVE_VERSION: u32 = 1;
/// Version of the `probe` JSON document.
pub const PROBE_VERSION: u32 = 3;

/// How much a finding matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Something is wrong and will break or expose things.
    Problem,
    /// Likely to surprise someone.
    Warning,
    /// Worth knowing; nothing to fix.
    Info,
}

/// A named observation with a fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable code, e.g. `localhost-missing`.
    pub code: FindingCode,
    /// How much it matters.
    pub severity: Severity,
    /// One line.
    pub summary: String,
    /// The change that removes it.
    pub fix: Option<String>,
}

/// One step of a resolution, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolveStep {
    /// `nsswitch`, `gai.conf`, `addrconfig`, `source`, `hosts-line`, `source-address`, `sort`,
    /// `result`.
    pub step: StepKind,
    /// What happened at this step.
    pub detail: String,
}

/// The model's and the C library's answer for one address family.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FamilyAnswer {
    /// What the model derives.
    pub addresses: Vec<IpAddr>,
    /// What the C library returned.
    pub system: Vec<IpAddr>,
    /// Why the C library returned nothing, when it did not.
    pub system_error: Option<String>,
}

/// The `resolve` JSON document (`docs/json.md`, version 1).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolveReport {
    /// The schema version (`docs/json.md`).
    pub version: u32,
    /// The name looked up (an internationalized name in its ASCII form, `xn--…`).
    pub name: String,
    /// The name in Unicode, when it is an internationalized name (`héllo.localhost`).
    #[serde(default)]
    pub unicode: Option<String>,
    /// The port, when given.
    pub port: Option<u16>,
    /// The order the tool's model of glibc derives.
    pub addresses: Vec<IpAddr>,
    /// What `getaddrinfo(AF_UNSPEC, SOCK_STREAM, AI_ADDRCONFIG)` returned, each address once.
    pub system: Vec<IpAddr>,
    /// Why the C library returned nothing.
    pub system_error: Option<String>,
    /// Whether the model covers every source that answered (false when a source it does not
    /// model, such as `dns`, would have to answer).
    pub model_complete: bool,
    /// The `AF_INET` query.
    pub ipv4_only: FamilyAnswer,
    /// The `AF_INET6` query.
    pub ipv6_only: FamilyAnswer,
    /// How the answer came about.
    pub steps: Vec<ResolveStep>,
    /// What it means.
    pub findings: Vec<Finding>,
}

/// One connection attempt of `probe`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// The address tried.
    pub address: IpAddr,
    /// The port.
    pub port: u16,
    /// What happened.
    pub result: AttemptResult,
    /// Time to connect, in milliseconds.
    pub time_ms: Option<f64>,
    /// `--http`: the status code.
    pub http_status: Option<u16>,
    /// `--http`: the status line.
    pub http_status_line: Option<String>,
    /// Why it failed.
    pub detail: Option<String>,
}

/// What `probe` concludes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnosis {
    /// The conclusion.
    pub code: DiagnosisCode,
    /// One paragraph.
    pub summary: String,
    /// The change that fixes it.
    pub fix: Option<String>,
    /// For `filtered` and `rejected`: the packet-filter rules that drop or reject the
    /// connection on this host.
    #[serde(default)]
    pub rules: Vec<RuleRef>,
}

impl AuditReport {
    /// Whether the audit needs attention (exit 1): a listener is exposed and no policy rule
    /// allows it. The one rule used by the binary (and the exporter to come).
    pub fn needs_attention(&self) -> bool {
        self.listeners.iter().any(|l| {
            l.verdict == Verdict::Exposed || l.http.as_ref().is_some_and(|h| !h.findings.is_empty())
        }) || self.publications.iter().any(|p| {
            matches!(
                p.diagnosis,
                PublicationDiagnosis::NoListener | PublicationDiagnosis::TargetLoopbackOnly
            )
        })
    }
}

impl DoctorReport {
    /// Whether a check failed (warnings alone do not count).
    pub fn needs_attention(&self) -> bool {
        self.checks.iter().any(|c| c.status == CheckStatus::Fail)
    }
}

impl ResolveReport {
    /// Whether a finding is more than `info`.
    pub fn needs_attention(&self) -> bool {
        self.findings.iter().any(|f| f.severity != Severity::Info)
    }
}

impl ProbeReport {
    /// Whether the diagnosis is anything but `ok`.
    pub fn needs_attention(&self) -> bool {
        // `--http`'s findings are reported, not counted: probe's exit status has always been
        // whether every address accepts, and scripts rely on it.
        self.diagnosis.code != DiagnosisCode::Ok
    }
}

/// The `probe` JSON document (`docs/json.md`, version 1).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// The schema version (`docs/json.md`).
    pub version: u32,
    /// The target as given.
    pub target: String,
    /// TCP or UDP.
    pub proto: Proto,
    /// One attempt per address, in the resolver's order.
    pub attempts: Vec<Attempt>,
    /// What the attempts mean.
    pub diagnosis: Diagnosis,
    /// Listeners on this host on the probed port, whatever their address.
    pub listeners: Vec<Listener>,
    /// Attempts at addresses a client uses although the resolver did not return them (curl's
    /// own 127.0.0.1 and ::1 for `localhost`), in the same form as `attempts`.
    #[serde(default)]
    pub client_attempts: Vec<Attempt>,
    /// TCP: what each known client would do with this name and these results.
    #[serde(default)]
    pub clients: Vec<ClientOutcome>,
    /// With `--http`: whether a web page in the user's browser can reach the server at the
    /// first address that accepted (DNS rebinding, CORS); null otherwise.
    #[serde(default)]
    pub http: Option<Box<http::HttpCheck>>,
}

/// What one client program would do with the probed name (`probe --clients`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientOutcome {
    /// Which client.
    pub client: ClientId,
    /// Its name for people (`Node.js, autoSelectFamily on (default from Node 20)`).
    pub label: String,
    /// The addresses it would try, in its order.
    pub tries: Vec<IpAddr>,
    /// The outcome.
    pub result: ClientResult,
    /// The address it ends up connected to.
    pub reaches: Option<IpAddr>,
    /// The error it would show, in its own words.
    pub error: Option<String>,
    /// How it picks addresses.
    pub how: String,
    /// Whether the test suite runs this client and checks the prediction; when false the
    /// outcome is a hypothesis (browsers).
    pub tested: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The enums serialise to the same strings the fields held before they were enums, and
    /// `as_str` agrees with serde, so the JSON documents stay byte-compatible.
    #[test]
    fn closed_sets_serialise_to_their_documented_names() {
        fn check<T: Serialize>(v: T, name: &str, as_str: &str) {
            assert_eq!(
                serde_json::to_string(&v).expect("json"),
                format!("\"{name}\"")
            );
            assert_eq!(as_str, name);
        }
        for (v, n) in [
            (AttemptResult::Connected, "connected"),
            (AttemptResult::Refused, "refused"),
            (AttemptResult::Timeout, "timeout"),
            (AttemptResult::Unreachable, "unreachable"),
            (AttemptResult::Error, "error"),
            (AttemptResult::NoResponse, "no-response"),
            (AttemptResult::NotHttp, "not-http"),
        ] {
            check(v, n, v.as_str());
        }
        for (v, n) in [
            (DiagnosisCode::Ok, "ok"),
            (DiagnosisCode::Mismatch, "mismatch"),
            (DiagnosisCode::Refused, "refused"),
            (DiagnosisCode::Filtered, "filtered"),
            (DiagnosisCode::Unresolved, "unresolved"),
            (DiagnosisCode::NoResponse, "no-response"),
            (DiagnosisCode::NotHttp, "not-http"),
        ] {
            check(v, n, v.as_str());
        }
        check(
            IdentifiedBy::Process,
            "process",
            IdentifiedBy::Process.as_str(),
        );
        check(IdentifiedBy::Port, "port", IdentifiedBy::Port.as_str());
    }
}
