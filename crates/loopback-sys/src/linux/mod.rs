//! The Linux backend: netlink `sock_diag`, `/proc/net` as fallback, `/proc/PID/fd` for owners,
//! `getifaddrs(3)` for interfaces, `/proc/sys` for sysctls.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::ErrorKind;
use std::net::IpAddr;
use std::path::Path;
use std::time::Duration;

use loopback_model::bind::HolderState;
use loopback_model::{BoundSocket, Interface, InterfaceAddress, SocketSourceKind};
use netlink_sys::{
    protocols::{NETLINK_ROUTE, NETLINK_SOCK_DIAG},
    Socket, SocketAddr,
};

use crate::parse::if_inet6::parse_if_inet6;
use crate::parse::links::{decode_link_chunk, link_dump_request, LinkFacts};
use crate::parse::route::{ipv4_default_routes, ipv6_default_routes};
use crate::parse::sock_diag::{
    decode_chunk, decode_held_chunk, DumpError, DumpRequest, HeldRequest,
};
use crate::parse::{procfs, procnet};
use crate::{
    DefaultRoutes, FirewallDump, HeldScan, HeldSocket, Inet6Addr, KernelSettings, OwnerScan,
    ProcessInfo, SocketScan, SourcePreference, SysError, SystemView,
};

mod bench;
mod confined;
mod firewall;
mod lab;
mod netns;

pub use bench::LinuxBench;

pub use confined::walk_in_root;

/// The Linux implementation of [`SystemView`].
/// It holds nothing: every call reads the system afresh.
#[derive(Debug, Default)]
pub struct LinuxSystem;

impl LinuxSystem {
    /// The backend.
    pub fn new() -> Self {
        LinuxSystem
    }
}

/// Run one `sock_diag` dump and return the raw reply chunks, as the kernel sent them (for
/// recording test fixtures).
pub fn dump_raw(req: DumpRequest) -> Result<Vec<Vec<u8>>, SysError> {
    let mut chunks = Vec::new();
    dump(req, Some(&mut chunks))?;
    Ok(chunks)
}

/// Run one `sock_diag` dump, decoding each chunk once as it arrives; keep the raw chunks too
/// when `raw` is given.
fn dump(req: DumpRequest, raw: Option<&mut Vec<Vec<u8>>>) -> Result<Vec<BoundSocket>, SysError> {
    let mut sockets = Vec::new();
    dump_with(&req.name(), &req.to_bytes(1), raw, |buf| {
        decode_chunk(buf, req.proto, &mut sockets)
    })?;
    Ok(sockets)
}

/// One dump of the sockets that hold ports without listening.
fn dump_held(req: HeldRequest) -> Result<Vec<HeldSocket>, SysError> {
    let mut sockets = Vec::new();
    dump_with(&req.0.name(), &req.to_bytes(1), None, |buf| {
        decode_held_chunk(buf, req.0.proto, &mut sockets)
    })?;
    Ok(sockets)
}

fn dump_with(
    name: &str,
    request: &[u8],
    raw: Option<&mut Vec<Vec<u8>>>,
    decode: impl FnMut(&[u8]) -> Result<bool, DumpError>,
) -> Result<(), SysError> {
    exchange(NETLINK_SOCK_DIAG, name, request, raw, decode)
}

/// One netlink exchange of `protocol`: send `request`, hand each reply to `decode` (keeping
/// the raw bytes too when asked) until it says it is done.
fn exchange(
    protocol: isize,
    name: &str,
    request: &[u8],
    mut raw: Option<&mut Vec<Vec<u8>>>,
    mut decode: impl FnMut(&[u8]) -> Result<bool, DumpError>,
) -> Result<(), SysError> {
    let err = |source: std::io::Error| SysError::Netlink {
        request: name.to_owned(),
        source,
    };
    let mut socket = Socket::new(protocol).map_err(err)?;
    socket.bind_auto().map_err(err)?;
    socket.connect(&SocketAddr::new(0, 0)).map_err(err)?;
    socket.send(request, 0).map_err(err)?;
    loop {
        let (buf, _) = socket.recv_from_full().map_err(err)?;
        if buf.is_empty() {
            return Err(SysError::NetlinkDecode {
                request: name.to_owned(),
                detail: "the kernel closed the dump without NLMSG_DONE".into(),
            });
        }
        let done = match decode(&buf) {
            Ok(done) => done,
            Err(DumpError::Kernel(source)) => return Err(err(source)),
            Err(DumpError::Decode(detail)) => {
                return Err(SysError::NetlinkDecode {
                    request: name.to_owned(),
                    detail,
                })
            }
        };
        if let Some(raw) = raw.as_deref_mut() {
            raw.push(buf);
        }
        if done {
            return Ok(());
        }
    }
}

/// The sockets holding ports without listening, from four `sock_diag` dumps. Whether this
/// kernel reports bound-but-inactive sockets at all (Linux 6.9 and later) is checked with one
/// of our own: a TCP socket bound to a port the kernel picks on 127.0.0.1, never listened on.
fn held_sockets() -> HeldScan {
    let mut scan = HeldScan::default();
    let probe = bound_probe();
    for req in HeldRequest::ALL {
        match dump_held(req) {
            Ok(s) => scan.sockets.extend(s),
            Err(e) => scan.unseen.push(format!(
                "{e}: the {} sockets that hold ports without listening cannot be seen",
                req.0.name()
            )),
        }
    }
    match &probe {
        Ok((_, port)) => {
            let is_probe = |h: &HeldSocket| {
                h.state == HolderState::Bound
                    && h.socket.port == *port
                    && h.socket.address == IpAddr::from([127, 0, 0, 1])
            };
            if scan.sockets.iter().any(is_probe) {
                scan.sockets.retain(|h| !is_probe(h));
            } else {
                scan.sockets.retain(|h| h.state != HolderState::Bound);
                scan.unseen.push(
                    "this kernel does not report TCP sockets that are bound and not listening \
                     (sock_diag's bound-inactive dump came with Linux 6.9): such a holder cannot be seen"
                        .into(),
                );
            }
        }
        Err(e) => scan.unseen.push(format!(
            "whether this kernel reports TCP sockets that are bound and not listening could not be \
             checked ({e}): such a holder may not be seen"
        )),
    }
    drop(probe);
    scan
}

/// Where the unified cgroup hierarchy is. `ip netns exec` runs us in a mount namespace of its
/// own with a fresh /sys, where it is not mounted: then the host's, through init's root.
fn cgroup2_root() -> Result<String, SysError> {
    let mount = |mountinfo: &str, prefix: &str| {
        crate::read_path(Path::new(mountinfo))
            .ok()
            .and_then(|m| crate::parse::mountinfo::cgroup2_mount(&m))
            .map(|m| format!("{prefix}{m}"))
    };
    mount("/proc/self/mountinfo", "")
        .or_else(|| mount("/proc/1/mountinfo", "/proc/1/root"))
        .ok_or_else(|| SysError::Refused {
            path: "/proc/self/mountinfo".into(),
            reason: "no cgroup2 hierarchy is mounted".into(),
        })
}

/// A TCP socket bound to 127.0.0.1 on a port the kernel picks, and that port.
fn bound_probe() -> std::io::Result<(socket2::Socket, u16)> {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
    s.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into())?;
    let port = s
        .local_addr()?
        .as_socket()
        .map(|a| a.port())
        .ok_or_else(|| std::io::Error::other("no local address"))?;
    Ok((s, port))
}

/// One `NETLINK_ROUTE` exchange whose answer `decode` returns once it has it.
fn route_exchange<T>(
    name: &str,
    request: &[u8],
    mut decode: impl FnMut(&[u8]) -> Result<Option<T>, DumpError>,
) -> Result<T, SysError> {
    let mut answer = None;
    exchange(NETLINK_ROUTE, name, request, None, |buf| {
        answer = decode(buf)?;
        Ok(answer.is_some())
    })?;
    answer.ok_or_else(|| SysError::NetlinkDecode {
        request: name.to_owned(),
        detail: "no answer".into(),
    })
}

/// Every interface's device facts, from one `RTM_GETLINK` dump.
fn link_dump() -> Result<Vec<LinkFacts>, SysError> {
    let mut links = Vec::new();
    exchange(NETLINK_ROUTE, "link", &link_dump_request(1), None, |buf| {
        decode_link_chunk(buf, &mut links)
    })?;
    Ok(links)
}

/// A table of the calling thread's network namespace: `/proc/thread-self/net` (a thread that
/// entered another namespace sees that one; `/proc/net` is the main thread's), or `/proc/net`
/// on kernels before 3.17.
pub(crate) fn proc_net(name: &str) -> std::path::PathBuf {
    let own = Path::new("/proc/thread-self/net");
    if own.is_dir() {
        own.join(name)
    } else {
        Path::new("/proc/net").join(name)
    }
}

fn proc_table(req: DumpRequest) -> Result<(Vec<BoundSocket>, Vec<String>), SysError> {
    let path = proc_net(&req.name()).display().to_string();
    match std::fs::read(&path) {
        Ok(bytes) => {
            let (sockets, bad) = procnet::parse_table(&bytes, req.proto);
            let warnings = bad
                .into_iter()
                .map(|b| format!("{path}:{}: skipped a row: {}", b.line, b.reason))
                .collect();
            Ok((sockets, warnings))
        }
        // No tcp6/udp6 table: IPv6 is disabled at boot (ipv6.disable=1). Nothing listens there.
        Err(e) if e.kind() == ErrorKind::NotFound && req.ipv6 => Ok((
            Vec::new(),
            vec![format!("{path} does not exist: IPv6 is disabled")],
        )),
        Err(source) => Err(SysError::Read {
            path: path.into(),
            source,
        }),
    }
}

impl SystemView for LinuxSystem {
    fn sockets(&self, preference: SourcePreference) -> Result<SocketScan, SysError> {
        let mut scan = SocketScan::default();
        let mut used_proc = false;
        for req in DumpRequest::ALL {
            let from_netlink = match preference {
                SourcePreference::Proc => None,
                SourcePreference::Netlink => Some(dump(req, None)?),
                SourcePreference::Auto => match dump(req, None) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        scan.warnings.push(format!(
                            "{e}; read /proc/net/{} instead (no v6only, no bound device)",
                            req.name()
                        ));
                        None
                    }
                },
            };
            match from_netlink {
                Some(s) => scan.sockets.extend(s),
                None => {
                    used_proc = true;
                    let (s, w) = proc_table(req)?;
                    scan.sockets.extend(s);
                    scan.warnings.extend(w);
                }
            }
        }
        scan.source = Some(if used_proc {
            SocketSourceKind::Proc
        } else {
            SocketSourceKind::Netlink
        });
        Ok(scan)
    }

    fn held_sockets(&self) -> HeldScan {
        held_sockets()
    }

    fn interfaces(&self) -> Result<Vec<Interface>, SysError> {
        use nix::net::if_::InterfaceFlags;
        let addrs = nix::ifaddrs::getifaddrs().map_err(|e| SysError::Interfaces(e.to_string()))?;
        let mut by_name: BTreeMap<String, Interface> = BTreeMap::new();
        for ifa in addrs {
            let entry = by_name
                .entry(ifa.interface_name.clone())
                .or_insert_with(|| Interface {
                    // 0 when the interface vanished between the two calls; it is then skipped.
                    index: nix::net::if_::if_nametoindex(ifa.interface_name.as_str()).unwrap_or(0),
                    name: ifa.interface_name.clone(),
                    up: ifa.flags.contains(InterfaceFlags::IFF_UP),
                    loopback: ifa.flags.contains(InterfaceFlags::IFF_LOOPBACK),
                    addresses: Vec::new(),
                    kind: None,
                    master: None,
                    peer_elsewhere: false,
                });
            let (Some(addr), mask) = (ifa.address, ifa.netmask) else {
                continue;
            };
            let ip: Option<IpAddr> = addr
                .as_sockaddr_in()
                .map(|a| IpAddr::V4(a.ip()))
                .or_else(|| addr.as_sockaddr_in6().map(|a| IpAddr::V6(a.ip())));
            let Some(ip) = ip else { continue };
            let prefix_len = mask
                .and_then(|m| {
                    m.as_sockaddr_in()
                        .map(|a| u32::from(a.ip()).count_ones() as u8)
                        .or_else(|| {
                            m.as_sockaddr_in6()
                                .map(|a| u128::from(a.ip()).count_ones() as u8)
                        })
                })
                .unwrap_or(if ip.is_ipv4() { 32 } else { 128 });
            entry.addresses.push(InterfaceAddress {
                address: ip,
                prefix_len,
            });
        }
        let mut list: Vec<Interface> = by_name.into_values().filter(|i| i.index != 0).collect();
        list.sort_by_key(|i| i.index);
        // What kind of device each is. Without it every interface counts as one that leads
        // off the machine, the answer that hides no exposure.
        if let Ok(links) = link_dump() {
            for iface in &mut list {
                if let Some(l) = links.iter().find(|l| l.index == iface.index) {
                    iface.kind.clone_from(&l.kind);
                    iface.master = l.master;
                    iface.peer_elsewhere = l.link_netnsid.is_some();
                }
            }
        }
        Ok(list)
    }

    fn ipv6_addresses(&self) -> Result<Vec<Inet6Addr>, SysError> {
        let path = proc_net("if_inet6");
        match crate::read_path(&path) {
            Ok(bytes) => Ok(parse_if_inet6(&bytes)),
            // No IPv6 in this kernel: no IPv6 address either.
            Err(e) if e.is_not_found() && path.parent().is_some_and(Path::is_dir) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    fn owners(&self, inodes: &HashSet<u64>) -> OwnerScan {
        scan_owners(Path::new("/proc"), inodes)
    }

    fn user_names(&self, uids: &HashSet<u32>) -> HashMap<u32, String> {
        if uids.is_empty() {
            return HashMap::new();
        }
        // Read afresh each time: a long-running process must see users added since.
        let mut all = crate::files::read_bounded(Path::new("/etc/passwd"))
            .map(|b| procfs::parse_passwd(&b))
            .unwrap_or_default();
        all.retain(|uid, _| uids.contains(uid));
        all
    }

    fn effective_uid(&self) -> u32 {
        nix::unistd::geteuid().as_raw()
    }

    fn kernel_settings(&self, interfaces: &[Interface]) -> KernelSettings {
        let flag = |key: &str| sysctl(key).map(|v| v == "1");
        let mut out = KernelSettings {
            ephemeral_ports: sysctl("net/ipv4/ip_local_port_range")
                .and_then(|v| parse_port_range(&v)),
            bindv6only: flag("net/ipv6/bindv6only"),
            ipv6_all_disabled: flag("net/ipv6/conf/all/disable_ipv6"),
            echo_ignored_v4: flag("net/ipv4/icmp_echo_ignore_all"),
            echo_ignored_v6: flag("net/ipv6/icmp/echo_ignore_all"),
            forwarding_v6: flag("net/ipv6/conf/all/forwarding"),
            unprivileged_port_start: sysctl("net/ipv4/ip_unprivileged_port_start")
                .and_then(|v| v.trim().parse().ok()),
            ..KernelSettings::default()
        };
        if let Some(v) = flag("net/ipv4/conf/all/route_localnet") {
            out.route_localnet.insert("all".into(), v);
        }
        for i in interfaces {
            if let Some(v) = flag(&format!("net/ipv6/conf/{}/disable_ipv6", i.name)) {
                out.ipv6_disabled.insert(i.name.clone(), v);
            }
            if let Some(v) = flag(&format!("net/ipv4/conf/{}/route_localnet", i.name)) {
                out.route_localnet.insert(i.name.clone(), v);
            }
            if let Some(v) = flag(&format!("net/ipv4/conf/{}/forwarding", i.name)) {
                out.forwarding_v4.insert(i.name.clone(), v);
            }
        }
        out
    }

    fn default_routes(&self) -> Result<DefaultRoutes, SysError> {
        let v4 = crate::read_path(&proc_net("route"))?;
        // Without IPv6 in the kernel the table is missing: no IPv6 default route.
        let v6 = match crate::read_path(&proc_net("ipv6_route")) {
            Ok(b) => b,
            Err(e) if e.is_not_found() => Vec::new(),
            Err(e) => return Err(e),
        };
        Ok(DefaultRoutes {
            ipv4: ipv4_default_routes(&v4),
            ipv6: ipv6_default_routes(&v6),
        })
    }

    fn read_file(&self, path: &Path) -> Result<Vec<u8>, SysError> {
        crate::read_path(path)
    }

    fn read_process_file(&self, pid: u32, path: &str) -> Result<Vec<u8>, SysError> {
        confined::read_as_process(Path::new("/proc"), pid, path)
    }

    fn proc_available(&self) -> Result<(), String> {
        proc_available(Path::new("/proc"))
    }

    fn firewall(&self) -> FirewallDump {
        firewall::dump()
    }

    fn route_source(&self, dest: IpAddr) -> Option<IpAddr> {
        crate::probe::source_address(dest)
    }

    fn route_get(
        &self,
        dest: IpAddr,
        uid: Option<u32>,
        mark: u32,
    ) -> Result<crate::routing::RouteAnswer, SysError> {
        use crate::parse::policy::{decode_route_answer, route_get_request};
        route_exchange(
            "route get",
            &route_get_request(dest, uid, mark, 1),
            decode_route_answer,
        )
    }

    fn process(&self, pid: u32) -> Result<ProcessInfo, SysError> {
        read_process(Path::new("/proc"), pid).ok_or_else(|| SysError::Refused {
            path: format!("/proc/{pid}"),
            reason: "no such process, or it could not be read".into(),
        })
    }

    fn process_environ(&self, pid: u32) -> Result<Vec<(String, String)>, SysError> {
        let path = std::path::PathBuf::from(format!("/proc/{pid}/environ"));
        let bytes = crate::files::read_bounded(&path)?;
        Ok(procfs::parse_environ(&bytes))
    }

    fn table_devices(&self) -> Result<BTreeMap<u32, Vec<u32>>, SysError> {
        use crate::parse::policy::{decode_route_dump_chunk, route_dump_request};
        let mut routes = Vec::new();
        exchange(
            NETLINK_ROUTE,
            "route dump",
            &route_dump_request(1),
            None,
            |buf| decode_route_dump_chunk(buf, &mut routes),
        )?;
        let mut out: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
        for (table, oif) in routes {
            let devs = out.entry(table).or_default();
            if let Some(i) = oif {
                if !devs.contains(&i) {
                    devs.push(i);
                }
            }
        }
        Ok(out)
    }

    fn all_cgroup_programs(&self) -> Result<Vec<crate::routing::CgroupProgram>, SysError> {
        let root = cgroup2_root()?;
        let bytes =
            crate::command::run("bpftool", &["-j", "cgroup", "tree", &root]).map_err(|e| {
                SysError::Refused {
                    path: root.clone(),
                    reason: format!("listing its BPF programs: {e}"),
                }
            })?;
        crate::parse::bpftool::parse_cgroup_tree(&bytes, &root).ok_or_else(|| SysError::Refused {
            path: root,
            reason: "bpftool's answer is not its JSON".into(),
        })
    }

    fn cgroup_programs(&self, path: &str) -> Result<Vec<crate::routing::CgroupProgram>, SysError> {
        let root = cgroup2_root()?;
        let mut out = Vec::new();
        let mut at = path.trim_end_matches('/').to_owned();
        loop {
            if at.split('/').any(|c| c == "..") {
                break;
            }
            let dir = format!("{root}{at}");
            let bytes =
                crate::command::run("bpftool", &["-j", "cgroup", "show", &dir]).map_err(|e| {
                    SysError::Refused {
                        path: dir.clone(),
                        reason: format!("listing its BPF programs: {e}"),
                    }
                })?;
            let shown = if at.is_empty() { "/" } else { at.as_str() };
            out.extend(
                crate::parse::bpftool::parse_cgroup_show(&bytes, shown).ok_or_else(|| {
                    SysError::Refused {
                        path: dir.clone(),
                        reason: "bpftool's answer is not its JSON".into(),
                    }
                })?,
            );
            match at.rfind('/') {
                Some(i) => at.truncate(i),
                None => break,
            }
            if at.is_empty() {
                // The root itself, once.
                let bytes = crate::command::run("bpftool", &["-j", "cgroup", "show", &root])
                    .unwrap_or_default();
                out.extend(
                    crate::parse::bpftool::parse_cgroup_show(&bytes, "/").unwrap_or_default(),
                );
                break;
            }
        }
        Ok(out)
    }

    fn policy_rules(&self) -> Result<Vec<crate::routing::PolicyRule>, SysError> {
        use crate::parse::policy::{decode_rule_chunk, rule_dump_request};
        let mut all = Vec::new();
        for v4 in [true, false] {
            let mut rules = Vec::new();
            route_exchange("rule", &rule_dump_request(v4, 1), |buf| {
                decode_rule_chunk(buf, &mut rules).map(|done| done.then_some(()))
            })?;
            all.extend(rules);
        }
        all.sort_by_key(|r| (!r.v4, r.priority));
        Ok(all)
    }

    fn namespaces(&self) -> crate::NamespaceScan {
        netns::enumerate(Path::new("/proc"))
    }

    fn current_netns(&self) -> Option<u64> {
        netns::current()
    }

    fn netns_inode(&self, target: &crate::NetnsTarget) -> Result<u64, SysError> {
        netns::inode_of(target)
    }

    fn in_netns(
        &self,
        target: &crate::NetnsTarget,
        inode: Option<u64>,
        job: &mut (dyn FnMut() + Send),
    ) -> Result<(), SysError> {
        netns::run_in(target, inode, job)
    }
}

/// A sysctl by its `/proc/sys` path, trimmed; `None` when it does not exist or cannot be read.
/// Keys are this module's constants and interface names from the kernel; a name that would
/// leave `/proc/sys` is refused all the same.
fn sysctl(key: &str) -> Option<String> {
    if key.split('/').any(|part| part == ".." || part.is_empty()) {
        return None;
    }
    let bytes = crate::read_path(&Path::new("/proc/sys").join(key)).ok()?;
    Some(String::from_utf8_lossy(&bytes).trim().to_owned())
}

/// `LOW HIGH` from `ip_local_port_range`.
fn parse_port_range(v: &str) -> Option<(u16, u16)> {
    let mut it = v.split_whitespace().map(|n| n.parse::<u16>());
    match (it.next(), it.next()) {
        (Some(Ok(a)), Some(Ok(b))) if a <= b => Some((a, b)),
        _ => None,
    }
}

/// Find the processes holding `inodes` by reading the `socket:[INODE]` links in
/// `/proc/PID/fd`. Processes that exit mid-scan are skipped; processes whose descriptors
/// cannot be read are counted in `unreadable`.
///
/// Every owner must be found (a pre-forked server has several), so every descriptor of every
/// process is read, as `ss -p` does. What makes it cheaper: each process's `fd` directory is
/// opened once and its links are read relative to it (`readlinkat` into a stack buffer, no
/// path walk from `/` and no allocation per descriptor), and processes are spread over all
/// cores. See BENCHMARKS.md.
fn scan_owners(proc_root: &Path, inodes: &HashSet<u64>) -> OwnerScan {
    let mut scan = OwnerScan::default();
    if inodes.is_empty() {
        return scan;
    }
    if let Err(why) = proc_available(proc_root) {
        scan.unavailable = Some(why);
        return scan;
    }
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        scan.unavailable = Some(format!("{} cannot be listed", proc_root.display()));
        return scan;
    };
    let mut pids: Vec<u32> = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    pids.sort_unstable();
    let Ok(root) = rustix::fs::open(
        proc_root,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    ) else {
        return scan;
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(16);
    // Per thread: (pid, socket inodes it holds) for each holding process, and the count of
    // processes whose descriptors were unreadable.
    type Part = (Vec<(u32, Vec<u64>)>, usize);
    let parts: Vec<Part> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (pids, root) = (&pids, &root);
                s.spawn(move || {
                    let mut found = Vec::new();
                    let mut unreadable = 0;
                    for pid in pids.iter().skip(t).step_by(threads) {
                        match socket_inodes_of(root, *pid, inodes) {
                            Ok(held) if !held.is_empty() => found.push((*pid, held)),
                            Ok(_) => {}
                            Err(rustix::io::Errno::ACCESS) | Err(rustix::io::Errno::PERM) => {
                                unreadable += 1
                            }
                            Err(_) => {} // vanished, or a zombie
                        }
                    }
                    (found, unreadable)
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    let mut found: Vec<(u32, Vec<u64>)> = Vec::new();
    for (f, u) in parts {
        found.extend(f);
        scan.unreadable += u;
    }
    found.sort_unstable_by_key(|(pid, _)| *pid);
    let pids: Vec<u32> = found.iter().map(|(pid, _)| *pid).collect();
    let (infos, stalled) = read_processes(proc_root, &pids, PROCESS_DEADLINE);
    scan.stalled = stalled;
    for ((pid, held), info) in found.into_iter().zip(infos) {
        let Some(info) = info else {
            continue; // exited after its descriptors were read
        };
        scan.processes.insert(pid, info);
        for inode in held {
            scan.holders.entry(inode).or_default().push(pid);
        }
    }
    scan
}

/// `PROC_SUPER_MAGIC`: the file-system type of a mounted procfs.
const PROC_SUPER_MAGIC: i64 = 0x9fa0;

/// Whether `proc_root` is a mounted procfs; why not otherwise.
// `f_type` is i64 on x86_64 and narrower on some other architectures.
#[allow(clippy::unnecessary_cast)]
fn proc_available(proc_root: &Path) -> Result<(), String> {
    match rustix::fs::statfs(proc_root) {
        Ok(st) if st.f_type as i64 == PROC_SUPER_MAGIC => Ok(()),
        Ok(_) => Err(format!(
            "{} is not a procfs mount: process owners, sysctls and /proc/net tables cannot be read (mount -t proc proc /proc)",
            proc_root.display()
        )),
        Err(e) => Err(format!(
            "{} cannot be read ({e}): process owners, sysctls and /proc/net tables cannot be read (mount -t proc proc /proc)",
            proc_root.display()
        )),
    }
}

/// How long reading one process's `comm`, `status` and `cmdline` may take. Reading a command
/// line takes the target's memory-map lock and copies from its memory, which a hostile process
/// can make block (its arguments on a userfaultfd or FUSE mapping).
const PROCESS_DEADLINE: Duration = Duration::from_secs(2);

/// Read `pids` in order on a worker thread, waiting at most `deadline` for each. A process
/// whose read does not finish in time is left to its worker (which is abandoned) and reported
/// as stalled, with only its `comm` (which never touches its memory); a new worker goes on with
/// the rest. `None` for processes that exited.
fn read_processes(
    proc_root: &Path,
    pids: &[u32],
    deadline: Duration,
) -> (Vec<Option<ProcessInfo>>, Vec<u32>) {
    let mut out: Vec<Option<ProcessInfo>> = Vec::with_capacity(pids.len());
    let mut stalled = Vec::new();
    while out.len() < pids.len() {
        let rest: Vec<u32> = pids[out.len()..].to_vec();
        let root = proc_root.to_owned();
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("loopback-proc".into())
            .spawn(move || {
                for pid in rest {
                    if tx.send(read_process(&root, pid)).is_err() {
                        return;
                    }
                }
            });
        if spawned.is_err() {
            // No thread to spare: read the rest here, unbounded, rather than lose owners.
            out.extend(
                pids[out.len()..]
                    .iter()
                    .map(|p| read_process(proc_root, *p)),
            );
            break;
        }
        loop {
            match rx.recv_timeout(deadline) {
                Ok(info) => out.push(info),
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    let pid = pids[out.len()];
                    stalled.push(pid);
                    out.push(stalled_process(proc_root, pid));
                    break; // a new worker takes the rest
                }
            }
        }
    }
    (out, stalled)
}

/// What is known of a process whose command line could not be read in time.
fn stalled_process(proc_root: &Path, pid: u32) -> Option<ProcessInfo> {
    let dir = proc_root.join(pid.to_string());
    let comm = std::fs::read(dir.join("comm"))
        .map(|b| procfs::parse_comm(&b))
        .unwrap_or_else(|_| "?".into());
    Some(ProcessInfo {
        pid,
        comm,
        euid: None,
        argv: Vec::new(),
        cgroup: read_cgroup(&dir),
        user: None,
    })
}

/// The wanted socket inodes among one process's descriptors, each once.
fn socket_inodes_of(
    root: &rustix::fd::OwnedFd,
    pid: u32,
    wanted: &HashSet<u64>,
) -> Result<Vec<u64>, rustix::io::Errno> {
    use rustix::fs::{openat, readlinkat_raw, Dir, Mode, OFlags};
    let fd_dir = openat(
        root,
        format!("{pid}/fd"),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let dir = Dir::read_from(&fd_dir)?;
    let mut held = Vec::new();
    // "socket:[18446744073709551615]" is 29 bytes; anything longer is not a socket.
    let mut buf = [0u8; 32];
    for entry in dir {
        let Ok(entry) = entry else { break };
        let name = entry.file_name();
        if name.to_bytes().first().is_none_or(|b| !b.is_ascii_digit()) {
            continue;
        }
        let Ok(len) = readlinkat_raw(&fd_dir, name, &mut buf[..]) else {
            continue; // closed since the listing
        };
        // A target longer than the buffer is truncated, and so is not a socket link.
        if let Some(inode) = procfs::parse_socket_link(&buf[..len.min(buf.len())]) {
            if wanted.contains(&inode) && !held.contains(&inode) {
                held.push(inode);
            }
        }
    }
    Ok(held)
}

fn read_process(proc_root: &Path, pid: u32) -> Option<ProcessInfo> {
    let dir = proc_root.join(pid.to_string());
    let comm = procfs::parse_comm(&std::fs::read(dir.join("comm")).ok()?);
    let euid = std::fs::read(dir.join("status"))
        .ok()
        .and_then(|b| procfs::parse_status_euid(&b));
    let argv = std::fs::read(dir.join("cmdline"))
        .map(|b| procfs::parse_cmdline(&b))
        .unwrap_or_default();
    Some(ProcessInfo {
        pid,
        comm,
        euid,
        argv,
        cgroup: read_cgroup(&dir),
        user: None,
    })
}

/// `/proc/PID/cgroup` (a kernel-generated file that never touches the process's memory).
fn read_cgroup(dir: &Path) -> Option<String> {
    std::fs::read(dir.join("cgroup"))
        .ok()
        .and_then(|b| procfs::parse_cgroup(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use loopback_model::Proto;
    use std::os::unix::fs::OpenOptionsExt;

    #[test]
    fn scan_owners_finds_own_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let scan = LinuxSystem::new()
            .sockets(SourcePreference::Auto)
            .expect("scan");
        let port = listener.local_addr().expect("addr").port();
        let sock = scan
            .sockets
            .iter()
            .find(|s| s.port == port && s.proto == Proto::Tcp)
            .expect("own listener is listed");
        let owners = scan_owners(Path::new("/proc"), &HashSet::from([sock.inode]));
        let me = std::process::id();
        assert!(owners.holders[&sock.inode].contains(&me));
        assert_eq!(owners.processes[&me].pid, me);
    }

    #[test]
    fn scan_owners_on_missing_proc_is_empty_and_says_why() {
        let scan = scan_owners(Path::new("/nonexistent/proc"), &HashSet::from([1]));
        assert!(scan.holders.is_empty());
        assert!(scan.unavailable.is_some());
        let tmp = std::env::temp_dir();
        let scan = scan_owners(&tmp, &HashSet::from([1]));
        let why = scan.unavailable.expect("a plain directory is no procfs");
        assert!(why.contains("not a procfs mount"), "{why}");
    }

    #[test]
    fn a_stalled_process_read_does_not_stop_the_others() {
        // A fake /proc where one process's cmdline is a FIFO nobody writes: reading it blocks,
        // as a command line on a userfaultfd mapping would.
        let root = std::env::temp_dir().join(format!("lb-fakeproc-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for pid in [10u32, 11, 12] {
            let dir = root.join(pid.to_string());
            std::fs::create_dir_all(&dir).expect("dir");
            std::fs::write(dir.join("comm"), format!("p{pid}\n")).expect("comm");
            std::fs::write(dir.join("status"), "Uid:\t1\t1\t1\t1\n").expect("status");
            if pid == 11 {
                rustix::fs::mkfifoat(
                    rustix::fs::CWD,
                    dir.join("cmdline"),
                    rustix::fs::Mode::from_raw_mode(0o600),
                )
                .expect("fifo");
            } else {
                std::fs::write(dir.join("cmdline"), format!("p{pid}\0--x\0")).expect("cmdline");
            }
        }
        let (infos, stalled) = read_processes(&root, &[10, 11, 12], Duration::from_millis(300));
        assert_eq!(stalled, vec![11]);
        let argv: Vec<Vec<String>> = infos
            .iter()
            .map(|i| i.clone().expect("read").argv)
            .collect();
        assert_eq!(argv[0], vec!["p10", "--x"]);
        assert!(argv[1].is_empty());
        assert_eq!(argv[2], vec!["p12", "--x"]);
        assert_eq!(infos[1].as_ref().map(|i| i.comm.as_str()), Some("p11"));
        // Unblock the abandoned worker so it ends with the test.
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(root.join("11/cmdline"));
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn sysctl_refuses_path_escape() {
        assert_eq!(sysctl("../../etc/passwd"), None);
        assert!(sysctl("net/ipv4/ip_local_port_range").is_some());
    }

    #[test]
    fn port_range_parses_only_an_ordered_pair() {
        assert_eq!(parse_port_range("32768\t60999"), Some((32768, 60999)));
        assert_eq!(parse_port_range("60999 32768"), None);
        assert_eq!(parse_port_range("x"), None);
    }
}
