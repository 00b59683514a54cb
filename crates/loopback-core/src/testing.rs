//! A fixture [`SystemView`] and [`Prober`] for tests in every crate (the `test-util`
//! feature): it never touches the system or the network. Capturing a [`crate::snapshot`]
//! from it gives a fixture snapshot.

#![allow(missing_docs)] // fixture fields are named after what they fake

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;

use loopback_model::{BoundSocket, Interface, InterfaceAddress, Proto, SocketSourceKind};
use std::time::Duration;

use loopback_sys::probe::HttpReply;
use loopback_sys::{
    DefaultRoutes, FirewallDump, Inet6Addr, KernelSettings, NamespaceScan, NetnsEntry, NetnsTarget,
    OwnerScan, ProbeOutcome, Prober, ProcessInfo, SocketScan, SourcePreference, SysError,
    SystemView,
};

/// The inode of the fixture's one network namespace (the usual initial namespace's).
pub const FAKE_NETNS: u64 = 4_026_531_840;

/// A fixture HTTP server: the exchange for a request's bytes, sent over TLS or not.
pub type FakeHttp = fn(&[u8], bool) -> loopback_sys::http::HttpExchange;

/// A system made of fixtures.
#[derive(Debug)]
pub struct FakeSystem {
    pub sockets: Vec<BoundSocket>,
    /// What `held_sockets` answers.
    pub held: loopback_sys::HeldScan,
    /// What `route_get` answers per destination, uid and mark; elsewhere main-table unicast.
    pub routes_by: HashMap<(IpAddr, Option<u32>, u32), loopback_sys::routing::RouteAnswer>,
    /// What `policy_rules` answers.
    pub policy_rules: Vec<loopback_sys::routing::PolicyRule>,
    /// What `try_bind` answers per address; elsewhere it binds.
    pub bind_outcomes: HashMap<std::net::SocketAddr, loopback_sys::trybind::BindOutcome>,
    /// The system it pretends to be (Linux unless a test says otherwise).
    pub os: loopback_model::Os,
    /// What `resolver_config` answers (macOS's `scutil --dns`).
    pub resolver_config: Option<String>,
    /// Why listing sockets fails, if it does.
    pub sockets_error: Option<String>,
    pub interfaces: Vec<Interface>,
    /// IPv6 address flags; `None` derives them from `interfaces` with no flags.
    pub ipv6_flags: Option<Vec<Inet6Addr>>,
    pub holders: HashMap<u64, Vec<ProcessInfo>>,
    pub unreadable: usize,
    pub kernel: KernelSettings,
    pub routes: DefaultRoutes,
    pub euid: u32,
    pub source: SocketSourceKind,
    pub names: HashMap<String, Vec<IpAddr>>,
    pub files: HashMap<String, Vec<u8>>,
    /// What every round trip returns.
    pub probe: ProbeOutcome,
    /// What ICMP echo returns, when it differs from `probe`.
    pub echo: Option<ProbeOutcome>,
    pub firewall: FirewallDump,
    /// Socket addresses where `tcp_connect` succeeds; elsewhere it is refused.
    pub connect_ok: Vec<std::net::SocketAddr>,
    /// What `http_get` reads after a successful connection.
    pub http_reply: HttpReply,
    /// Why `/proc` cannot be read, if it cannot.
    pub proc_missing: Option<String>,
    /// What a local service answers at an address (`ask_local_service`); elsewhere the
    /// connection is refused.
    pub answers: HashMap<std::net::SocketAddr, Vec<u8>>,
    /// The HTTP servers `http_exchange` talks to: what each answers to a request (its bytes,
    /// and whether it came over TLS); elsewhere the connection is refused.
    pub http_servers: HashMap<std::net::SocketAddr, FakeHttp>,
    /// Why `getaddrinfo` is not the host's resolver (a static musl build), if it is not.
    pub foreign_resolver: Option<&'static str>,
    /// Every path `file` was asked for, in order.
    pub files_read: std::sync::Mutex<Vec<String>>,
}

/// An exposed, wildcard-scoped listener on `addr`:`port` with no owner, as judgments see one
/// before their own rules apply; tests set the fields they are about.
pub fn listener(proto: Proto, addr: &str, port: u16) -> loopback_model::Listener {
    loopback_model::Listener {
        proto,
        address: addr.parse().expect("fixture IP"),
        port,
        v6only: None,
        interface: None,
        bind_scope: loopback_model::BindScope::Wildcard,
        exposed: true,
        reachable_via: vec![].into(),
        owners: vec![].into(),
        verdict: loopback_model::Verdict::Exposed,
        uid: 0,
        inode: 1,
        netns: 0,
        allowed_by: None,
        notes: vec![],
        service: None,
        fix: None,
        exposure: None,
        receives: Vec::new(),
        names: Vec::new(),
        http: None,
    }
}

/// An up interface with `addrs` given as CIDRs; a malformed fixture address fails the test.
pub fn iface(index: u32, name: &str, loopback: bool, addrs: &[&str]) -> Interface {
    Interface {
        index,
        name: name.into(),
        up: true,
        loopback,
        addresses: addrs
            .iter()
            .map(|a| {
                let (ip, len) = a.split_once('/').expect("fixture address is a CIDR");
                InterfaceAddress {
                    address: ip.parse().expect("fixture IP"),
                    prefix_len: len.parse().expect("fixture prefix length"),
                }
            })
            .collect(),
        kind: None,
        master: None,
        peer_elsewhere: false,
    }
}

impl Default for FakeSystem {
    /// A host with a loopback interface and one LAN link.
    fn default() -> Self {
        Self::lan()
    }
}

impl FakeSystem {
    pub fn with_interfaces(interfaces: Vec<Interface>) -> Self {
        FakeSystem {
            sockets: vec![],
            held: loopback_sys::HeldScan::default(),
            bind_outcomes: HashMap::new(),
            routes_by: HashMap::new(),
            policy_rules: Vec::new(),
            os: loopback_model::Os::Linux,
            resolver_config: None,
            interfaces,
            sockets_error: None,
            ipv6_flags: None,
            holders: HashMap::new(),
            unreadable: 0,
            kernel: KernelSettings::default(),
            routes: DefaultRoutes::default(),
            euid: 0,
            source: SocketSourceKind::Netlink,
            names: HashMap::new(),
            files: HashMap::new(),
            probe: ProbeOutcome::Unavailable {
                reason: "fixture".into(),
            },
            echo: None,
            firewall: FirewallDump::default(),
            connect_ok: Vec::new(),
            http_reply: HttpReply::NoResponse { closed: false },
            proc_missing: None,
            answers: HashMap::new(),
            http_servers: HashMap::new(),
            foreign_resolver: None,
            files_read: std::sync::Mutex::default(),
        }
    }

    pub fn lan() -> Self {
        Self::with_interfaces(vec![
            iface(1, "lo", true, &["127.0.0.1/8", "::1/128"]),
            iface(2, "veth0", false, &["198.18.0.1/24", "fd00::1/64"]),
        ])
    }

    pub fn v4_only_lan() -> Self {
        Self::with_interfaces(vec![
            iface(1, "lo", true, &["127.0.0.1/8", "::1/128"]),
            iface(2, "veth0", false, &["198.18.0.1/24"]),
        ])
    }

    pub fn add_socket(
        &mut self,
        proto: Proto,
        addr: &str,
        port: u16,
        v6only: Option<bool>,
        inode: u64,
    ) {
        let address: IpAddr = addr.parse().expect("fixture address");
        self.sockets.push(BoundSocket {
            proto,
            address,
            port,
            v6only: if address.is_ipv6() && self.source == SocketSourceKind::Netlink {
                Some(v6only.unwrap_or(false))
            } else {
                v6only
            },
            bound_ifindex: None,
            ifindex_known: self.source == SocketSourceKind::Netlink,
            uid: 0,
            inode,
        });
    }

    pub fn add_owner(&mut self, inode: u64, p: ProcessInfo) {
        self.holders.entry(inode).or_default().push(p);
    }
}

impl SystemView for FakeSystem {
    fn sockets(&self, _: SourcePreference) -> Result<SocketScan, SysError> {
        if let Some(why) = &self.sockets_error {
            return Err(SysError::Refused {
                path: "sockets".into(),
                reason: why.clone(),
            });
        }
        Ok(SocketScan {
            sockets: self.sockets.clone(),
            source: Some(self.source),
            warnings: vec![],
        })
    }
    fn route_get(
        &self,
        dest: IpAddr,
        uid: Option<u32>,
        mark: u32,
    ) -> Result<loopback_sys::routing::RouteAnswer, SysError> {
        use loopback_sys::routing::{RouteAnswer, RouteKind};
        Ok(self
            .routes_by
            .get(&(dest, uid, mark))
            .cloned()
            .unwrap_or_else(|| {
                let local = self
                    .interfaces
                    .iter()
                    .any(|i| i.addresses.iter().any(|a| a.address == dest));
                RouteAnswer {
                    table: if local { 255 } else { 254 },
                    kind: if local {
                        RouteKind::Local
                    } else {
                        RouteKind::Unicast
                    },
                    oif: self.interfaces.first().map(|i| i.index),
                    gateway: None,
                    source: None,
                }
            }))
    }
    fn process(&self, pid: u32) -> Result<ProcessInfo, SysError> {
        self.holders
            .values()
            .flatten()
            .find(|p| p.pid == pid)
            .cloned()
            .ok_or_else(|| SysError::Refused {
                path: format!("/proc/{pid}"),
                reason: "no such process".into(),
            })
    }
    fn process_environ(&self, _: u32) -> Result<Vec<(String, String)>, SysError> {
        Ok(Vec::new())
    }
    fn cgroup_programs(
        &self,
        _: &str,
    ) -> Result<Vec<loopback_sys::routing::CgroupProgram>, SysError> {
        Ok(Vec::new())
    }
    fn policy_rules(&self) -> Result<Vec<loopback_sys::routing::PolicyRule>, SysError> {
        Ok(self.policy_rules.clone())
    }
    fn held_sockets(&self) -> loopback_sys::HeldScan {
        self.held.clone()
    }
    fn interfaces(&self) -> Result<Vec<Interface>, SysError> {
        Ok(self.interfaces.clone())
    }
    fn ipv6_addresses(&self) -> Result<Vec<Inet6Addr>, SysError> {
        if let Some(v) = &self.ipv6_flags {
            return Ok(v.clone());
        }
        Ok(self
            .interfaces
            .iter()
            .flat_map(|i| {
                i.addresses.iter().filter_map(move |a| match a.address {
                    IpAddr::V6(address) => Some(Inet6Addr {
                        address,
                        ifindex: i.index,
                        prefix_len: a.prefix_len,
                        flags: 0,
                        ifname: i.name.clone(),
                    }),
                    IpAddr::V4(_) => None,
                })
            })
            .collect())
    }
    fn owners(&self, inodes: &HashSet<u64>) -> OwnerScan {
        let mut scan = OwnerScan {
            unreadable: self.unreadable,
            unavailable: self.proc_missing.clone(),
            ..OwnerScan::default()
        };
        if self.proc_missing.is_some() {
            return scan;
        }
        for (inode, procs) in self.holders.iter().filter(|(i, _)| inodes.contains(i)) {
            for p in procs {
                scan.holders.entry(*inode).or_default().push(p.pid);
                scan.processes.insert(p.pid, p.clone());
            }
        }
        scan
    }
    fn user_names(&self, uids: &HashSet<u32>) -> HashMap<u32, String> {
        [(0, "root"), (105, "postgres")]
            .into_iter()
            .filter(|(u, _)| uids.contains(u))
            .map(|(u, n)| (u, n.to_owned()))
            .collect()
    }
    fn os(&self) -> loopback_model::Os {
        self.os
    }
    fn resolver_config(&self) -> Option<Result<String, SysError>> {
        self.resolver_config.clone().map(Ok)
    }
    fn effective_uid(&self) -> u32 {
        self.euid
    }
    fn kernel_settings(&self, _: &[Interface]) -> KernelSettings {
        self.kernel.clone()
    }
    fn default_routes(&self) -> Result<DefaultRoutes, SysError> {
        Ok(self.routes.clone())
    }
    fn read_file(&self, path: &Path) -> Result<Vec<u8>, SysError> {
        self.file(&path.to_string_lossy())
    }
    /// Files a process sees are fixtures under `/proc/PID/root/…` (absolute paths) and
    /// `/proc/PID/cwd/…` (relative ones).
    fn read_process_file(&self, pid: u32, path: &str) -> Result<Vec<u8>, SysError> {
        let key = match path.strip_prefix('/') {
            Some(rest) => format!("/proc/{pid}/root/{rest}"),
            None => format!("/proc/{pid}/cwd/{path}"),
        };
        self.file(&key)
    }
    fn ask_local_service(
        &self,
        addr: std::net::SocketAddr,
        _request: &[u8],
        _complete: fn(&[u8]) -> bool,
    ) -> Result<Vec<u8>, SysError> {
        self.answers
            .get(&addr)
            .cloned()
            .ok_or_else(|| SysError::Refused {
                path: addr.to_string(),
                reason: "Connection refused".into(),
            })
    }
    fn http_exchange(
        &self,
        addr: std::net::SocketAddr,
        request: &[u8],
        tls: bool,
        _timeout: Duration,
        _complete: fn(&[u8]) -> bool,
    ) -> loopback_sys::http::HttpExchange {
        match self.http_servers.get(&addr) {
            Some(server) => server(request, tls),
            None => loopback_sys::http::HttpExchange {
                connect_error: Some("Connection refused (os error 111)".into()),
                ..Default::default()
            },
        }
    }
    fn proc_available(&self) -> Result<(), String> {
        match &self.proc_missing {
            Some(why) => Err(why.clone()),
            None => Ok(()),
        }
    }
    fn firewall(&self) -> FirewallDump {
        self.firewall.clone()
    }
    fn namespaces(&self) -> NamespaceScan {
        let mut pids: Vec<u32> = self.holders.values().flatten().map(|p| p.pid).collect();
        pids.sort_unstable();
        pids.dedup();
        NamespaceScan {
            namespaces: vec![NetnsEntry {
                inode: FAKE_NETNS,
                pids,
                current: true,
                ..NetnsEntry::default()
            }],
            warnings: Vec::new(),
        }
    }
    fn current_netns(&self) -> Option<u64> {
        Some(FAKE_NETNS)
    }
    fn netns_inode(&self, _: &NetnsTarget) -> Result<u64, SysError> {
        Ok(FAKE_NETNS)
    }
    fn in_netns(
        &self,
        _: &NetnsTarget,
        _: Option<u64>,
        job: &mut (dyn FnMut() + Send),
    ) -> Result<(), SysError> {
        job();
        Ok(())
    }
    fn route_source(&self, dest: IpAddr) -> Option<IpAddr> {
        if dest.is_loopback() {
            return Some(dest);
        }
        self.interfaces
            .iter()
            .flat_map(|i| &i.addresses)
            .find_map(|a| {
                let net = ipnet::IpNet::new(a.address, a.prefix_len).ok()?;
                net.contains(&dest).then_some(a.address)
            })
    }
}

impl FakeSystem {
    /// Every part of a snapshot captured from the fixture.
    pub fn snapshot(&self) -> crate::snapshot::Snapshot {
        crate::snapshot::capture(
            self,
            &crate::snapshot::Request::of(crate::snapshot::Parts::ALL),
        )
    }

    fn file(&self, path: &str) -> Result<Vec<u8>, SysError> {
        if let Ok(mut read) = self.files_read.lock() {
            read.push(path.to_owned());
        }
        self.files.get(path).cloned().ok_or_else(|| SysError::Read {
            path: path.into(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file in fixture"),
        })
    }
}

impl Prober for FakeSystem {
    fn try_bind(
        &self,
        addr: std::net::SocketAddr,
        _: Proto,
        _: loopback_model::bind::BindOptions,
    ) -> loopback_sys::trybind::BindOutcome {
        self.bind_outcomes.get(&addr).cloned().unwrap_or(
            loopback_sys::trybind::BindOutcome::Bound {
                v6only: addr.is_ipv6().then_some(false),
            },
        )
    }
    fn icmp_echo(&self, _: IpAddr, _: Duration) -> ProbeOutcome {
        self.echo.clone().unwrap_or_else(|| self.probe.clone())
    }
    fn tcp_round_trip(&self, _: IpAddr, _: Duration) -> ProbeOutcome {
        self.probe.clone()
    }
    fn udp_round_trip(&self, _: IpAddr, _: Duration) -> ProbeOutcome {
        self.probe.clone()
    }
    fn tcp_connect(&self, addr: std::net::SocketAddr, _: Duration) -> ProbeOutcome {
        if self.connect_ok.contains(&addr) || matches!(self.probe, ProbeOutcome::Ok { .. }) {
            ProbeOutcome::Ok {
                rtt: Duration::from_micros(50),
            }
        } else {
            ProbeOutcome::Error {
                stage: "connect",
                message: "Connection refused (os error 111)".into(),
                kind: loopback_sys::probe::ErrorKindName::ConnectionRefused,
            }
        }
    }
    fn getaddrinfo(
        &self,
        name: &str,
        _: loopback_sys::QueryFamily,
        _: bool,
    ) -> Result<Vec<IpAddr>, String> {
        self.names
            .get(name)
            .cloned()
            .ok_or_else(|| "Name or service not known".into())
    }
    fn foreign_resolver(&self) -> Option<&'static str> {
        self.foreign_resolver
    }
    fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, SysError> {
        self.names
            .get(host)
            .cloned()
            .ok_or_else(|| SysError::Resolve {
                host: host.into(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no such name in fixture",
                ),
            })
    }
    fn http_get(
        &self,
        addr: std::net::SocketAddr,
        _: &str,
        t: Duration,
    ) -> (ProbeOutcome, HttpReply) {
        let outcome = self.tcp_connect(addr, t);
        let reply = match outcome {
            ProbeOutcome::Ok { .. } => self.http_reply.clone(),
            _ => HttpReply::NotSent,
        };
        (outcome, reply)
    }
    fn udp_probe(&self, addr: std::net::SocketAddr, t: Duration) -> ProbeOutcome {
        self.tcp_connect(addr, t)
    }
}
