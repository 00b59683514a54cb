//! `audit`: every listener, its owners, and whether hosts other than this one can reach it.

use std::collections::HashMap;
use std::sync::Arc;

use loopback_model::{
    AuditReport, BoundSocket, Listener, Owner, Proto, SocketSourceKind, Verdict, AUDIT_VERSION,
};
use loopback_sys::{OwnerScan, ProcessInfo};

use crate::classify::is_wildcard;
use crate::policy::Policy;
use crate::redact::redact_argv;
use crate::scope::{bind_scope, reach, Links};
use crate::services::Identifier;
use crate::snapshot::{MissingPart, Owners, Part, ServiceFiles, Snapshot};

/// How to judge the listeners.
#[derive(Debug, Clone, Default)]
pub struct AuditOptions {
    /// Intended exposure.
    pub policy: Option<Policy>,
    /// Interfaces declared with `--uplink`: they lead off the machine.
    pub uplinks: Vec<String>,
}

/// The capabilities that let a non-root user see every socket's owner, and how to grant them.
pub const OWNER_PRIVILEGE_HINT: &str = "run as root, or grant the binary CAP_SYS_PTRACE and \
     CAP_DAC_READ_SEARCH: sudo setcap cap_sys_ptrace,cap_dac_read_search+ep \"$(command -v loopback)\"";

/// What lets this system's user see every socket's owner.
pub fn owner_privilege_hint(os: loopback_model::Os) -> &'static str {
    match os {
        loopback_model::Os::Linux => OWNER_PRIVILEGE_HINT,
        loopback_model::Os::Macos => "run with sudo: only root may inspect other users' processes",
        loopback_model::Os::Windows => {
            "run from an Administrator prompt to name the accounts of other users' processes"
        }
    }
}

/// Why pid 4 holds a port on Windows.
pub const WINDOWS_SYSTEM_NOTE: &str = "pid 4 is the Windows kernel (System): a TCP port it holds \
     is usually HTTP.sys serving a URL reservation for another process (`netsh http show \
     servicestate` names it; `netsh http show urlacl` lists the reservations), or SMB and NetBIOS \
     on 445 and 139";

/// The kernel's default ephemeral port range, used when the setting was not captured.
pub(crate) const DEFAULT_EPHEMERAL: (u16, u16) = (32768, 60999);

/// A UDP socket on a wildcard address holding a port from the ephemeral range got that port from
/// the kernel: a client that called `sendto()` without `bind()` (autobind), not a service. The
/// kernel keeps no flag that tells autobind from an explicit `bind()`, so this is the rule `audit`
/// uses; such sockets are reported apart in `udp_clients`.
pub fn is_udp_client(sock: &BoundSocket, ephemeral: (u16, u16)) -> bool {
    sock.proto == Proto::Udp
        && is_wildcard(sock.address)
        && sock.bound_ifindex.is_none()
        && (ephemeral.0..=ephemeral.1).contains(&sock.port)
}

/// Judge the listeners of a snapshot. It needs the `sockets` and `interfaces` parts; owners,
/// service files and kernel settings are used when captured, and their absence is said.
pub fn audit(snap: &Snapshot, options: &AuditOptions) -> Result<AuditReport, MissingPart> {
    let links = Links::from_snapshot(snap)?;
    let scan = snap.sockets.get("sockets")?;
    let mut warnings = scan.warnings.clone();
    let source = scan.source.unwrap_or(SocketSourceKind::Netlink);

    // Without the owners part, no owner is known, and the reason is the part's.
    let fallback;
    let Owners {
        scan: owners,
        users,
    } = match &snap.owners {
        Part::Captured(o) => o,
        other => {
            fallback = Owners {
                scan: OwnerScan {
                    unavailable: Some(match other {
                        Part::Failed(why) => why.clone(),
                        _ => "owners were not captured".to_owned(),
                    }),
                    ..OwnerScan::default()
                },
                users: HashMap::new(),
            };
            &fallback
        }
    };
    let privileged = snap.effective_uid == Some(0);
    if let Some(why) = &owners.unavailable {
        warnings.push(format!("owners unknown: {why}"));
    }
    if !owners.stalled.is_empty() {
        let pids: Vec<String> = owners.stalled.iter().map(u32::to_string).collect();
        warnings.push(format!(
            "the command lines of processes {} could not be read within the deadline (their memory \
             blocks reads); they are listed by name only",
            pids.join(", ")
        ));
    }
    if owners.unreadable > 0 {
        warnings.push(format!(
            "the descriptors of {} processes could not be read, so some owners are missing; {}",
            owners.unreadable,
            owner_privilege_hint(snap.os)
        ));
    }
    if source == SocketSourceKind::Proc {
        warnings.push(
            "read from /proc/net: IPV6_V6ONLY and SO_BINDTODEVICE are unknown; IPv6 wildcard \
             sockets are assumed dual-stack"
                .into(),
        );
    }

    if let Some(k) = snap.kernel.ok() {
        warnings.extend(k.unread.iter().map(|u| format!("not read: {u}")));
        if let Some(ranges) = k.excluded_ports.as_ref().filter(|r| !r.is_empty()) {
            let shown: Vec<String> = ranges
                .iter()
                .map(|r| {
                    if r.start == r.end {
                        format!("{} {}", r.proto, r.start)
                    } else {
                        format!("{} {}-{}", r.proto, r.start, r.end)
                    }
                })
                .collect();
            warnings.push(format!(
                "Windows keeps these ports from every server (excluded port ranges, which \
                 Hyper-V, WSL and Docker reserve): {}; binding one fails with nothing \
                 listening on it",
                shown.join(", ")
            ));
        }
    }
    let ephemeral = snap
        .kernel
        .ok()
        .and_then(|k| k.ephemeral_ports)
        .unwrap_or(DEFAULT_EPHEMERAL);
    // One redacted owner per process, shared by every listener it holds.
    let by_pid: HashMap<u32, Owner> = owners
        .processes
        .values()
        .map(|p| {
            let owner = Owner {
                pid: p.pid,
                name: p.comm.as_str().into(),
                user: p.user.as_deref().map(Into::into).or_else(|| {
                    p.euid.map(|u| {
                        users
                            .get(&u)
                            .cloned()
                            .unwrap_or_else(|| u.to_string())
                            .into()
                    })
                }),
                uid: p.euid,
                cmdline: if p.argv.is_empty() {
                    format!("[{}]", p.comm).into()
                } else {
                    redact_argv(&p.argv).into()
                },
                unit: p
                    .cgroup
                    .as_deref()
                    .and_then(crate::containers::systemd_unit)
                    .map(Into::into),
            };
            (p.pid, owner)
        })
        .collect();
    let mut shared = Interner::default();
    let no_files = ServiceFiles::new();
    let files = snap.service_files.ok().unwrap_or(&no_files);
    let mut ident = Identifier::new(files);
    let mut listeners = Vec::new();
    let mut udp_clients = Vec::new();
    for sock in &scan.sockets {
        let mut listener = classify_socket(
            sock,
            &links,
            owners,
            &by_pid,
            &mut shared,
            (!privileged).then(|| owner_privilege_hint(snap.os)),
            options,
        );
        listener.netns = snap.netns.unwrap_or(0);
        if snap.os == loopback_model::Os::Windows && listener.owners.iter().any(|o| o.pid == 4) {
            listener.notes.push(WINDOWS_SYSTEM_NOTE.into());
        }
        let procs: Vec<&ProcessInfo> = owners
            .holders
            .get(&sock.inode)
            .map(|pids| {
                pids.iter()
                    .filter_map(|p| owners.processes.get(p))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(found) = ident.identify(&procs, sock.port, sock.address) {
            if listener.exposed {
                listener.fix = Some(found.fix);
            }
            listener.service = Some(found.info);
        }
        if sock.proto == Proto::Tcp {
            let target = crate::services::ask::ask_at(sock.address, sock.port);
            if let Some(c) = snap.http.ok().and_then(|h| h.get(&target)) {
                let check = crate::http::judge(c, listener.service.as_deref());
                listener.http = Some(Box::new(check));
            }
        }
        if is_udp_client(sock, ephemeral) {
            udp_clients.push(listener);
        } else {
            listeners.push(listener);
        }
    }
    warnings.extend(ident.take_warnings());
    if let Part::Failed(why) = &snap.http {
        warnings.push(format!("--http: {why}"));
    }
    sort_listeners(&mut listeners);
    sort_listeners(&mut udp_clients);
    Ok(AuditReport {
        bound: None,
        version: AUDIT_VERSION,
        source,
        listeners,
        udp_clients,
        namespaces: Vec::new(),
        publications: Vec::new(),
        uplinks: Vec::new(),
        warnings,
    })
}

/// Listeners of one host share a handful of `reachable_via` sets and owner lists; keeping one
/// copy of each keeps an audit of 100,000 sockets small (BENCHMARKS.md).
#[derive(Default)]
struct Interner {
    via: HashMap<Vec<String>, Arc<[String]>>,
    owners: HashMap<Vec<u32>, Arc<[Owner]>>,
}

impl Interner {
    fn via(&mut self, via: Vec<String>) -> Arc<[String]> {
        if let Some(v) = self.via.get(&via) {
            return v.clone();
        }
        let shared: Arc<[String]> = via.clone().into();
        self.via.insert(via, shared.clone());
        shared
    }

    fn owners(&mut self, pids: &[u32], by_pid: &HashMap<u32, Owner>) -> Arc<[Owner]> {
        if let Some(o) = self.owners.get(pids) {
            return o.clone();
        }
        let shared: Arc<[Owner]> = pids.iter().filter_map(|p| by_pid.get(p).cloned()).collect();
        self.owners.insert(pids.to_vec(), shared.clone());
        shared
    }
}

/// Exposed first, then by protocol, port and address; the inode makes the order total, so an
/// in-place unstable sort (no scratch buffer) gives the same result as a stable one.
pub(crate) fn sort_listeners(list: &mut [Listener]) {
    list.sort_unstable_by(|a, b| {
        (a.verdict, !a.exposed, a.proto, a.port, a.address, a.inode)
            .cmp(&(b.verdict, !b.exposed, b.proto, b.port, b.address, b.inode))
    });
}

fn classify_socket(
    sock: &BoundSocket,
    links: &Links,
    owners: &OwnerScan,
    by_pid: &HashMap<u32, Owner>,
    shared: &mut Interner,
    // What would show the owners this user cannot see; `None` when it sees every one.
    unprivileged: Option<&str>,
    options: &AuditOptions,
) -> Listener {
    let scope = bind_scope(sock, links);
    let r = reach(sock, scope, links);
    let mut notes = r.notes;
    let interface = sock.bound_ifindex.map(|i| {
        links
            .by_index(i)
            .map_or_else(|| format!("if{i}"), |d| d.name.clone())
    });
    let owner_list = shared.owners(
        owners.holders.get(&sock.inode).map_or(&[], Vec::as_slice),
        by_pid,
    );
    if owner_list.is_empty() {
        if let Some(why) = &owners.unavailable {
            notes.push(format!("owner unknown: {why}"));
        } else if sock.inode == 0 {
            notes.push("a kernel socket: no process holds it".into());
        } else if let Some(hint) = unprivileged.filter(|_| owners.unreadable > 0) {
            notes.push(format!("owner not visible: {hint}"));
        } else {
            notes.push(
                "no process holds this socket now (it exited during the scan, or the socket \
                 belongs to the kernel)"
                    .into(),
            );
        }
    }
    if sock.v6only.is_none() && sock.address.is_ipv6() && is_wildcard(sock.address) {
        notes.push("v6only unknown; assumed dual-stack".into());
    }
    let mut listener = Listener {
        proto: sock.proto,
        address: sock.address,
        port: sock.port,
        v6only: sock.v6only,
        interface,
        bind_scope: scope,
        exposed: r.exposed,
        reachable_via: shared.via(r.via),
        owners: owner_list,
        verdict: Verdict::Ok,
        uid: sock.uid,
        inode: sock.inode,
        netns: 0,
        allowed_by: None,
        notes,
        service: None,
        fix: None,
        exposure: None,
        receives: Vec::new(),
        names: Vec::new(),
        http: None,
    };
    if listener.exposed {
        listener.allowed_by = options.policy.as_ref().and_then(|p| p.allows(&listener));
        listener.verdict = if listener.allowed_by.is_some() {
            Verdict::Allowed
        } else {
            Verdict::Exposed
        };
    }
    listener
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeSystem;
    use loopback_model::BindScope;
    use loopback_sys::ProcessInfo;

    /// A Windows host as its backend reports it: the IP Helper rows as sockets, their owners
    /// from the pids the rows carry (Wine reports pid 0 for every row, so this is where owner
    /// resolution on Windows is tested), the excluded port ranges, Windows Firewall on.
    #[test]
    fn a_windows_host_from_its_tables() {
        use loopback_sys::facts::windows::{owners_from_keys, sockets_from_tables};
        use loopback_sys::parse::iphlp::{Row, Table, MIB_TCP_STATE_LISTEN};
        let row = |proto, addr: &str, port, pid| Row {
            proto,
            address: addr.parse().expect("address"),
            scope_id: 0,
            port,
            state: (proto == Proto::Tcp).then_some(MIB_TCP_STATE_LISTEN),
            pid,
            remote: None,
        };
        let tables = vec![
            (
                Table::Tcp4,
                vec![
                    row(Proto::Tcp, "127.0.0.1", 3000, 6120),
                    row(Proto::Tcp, "0.0.0.0", 80, 4),
                ],
            ),
            (Table::Tcp6, vec![row(Proto::Tcp, "::", 5432, 900)]),
            (Table::Udp4, vec![row(Proto::Udp, "127.0.0.1", 8125, 6120)]),
        ];
        let sockets = sockets_from_tables(&tables);
        let keys = sockets.iter().map(|s| s.inode).collect();
        let names = HashMap::from([
            (6120, "node.exe".to_owned()),
            (900, "postgres.exe".to_owned()),
        ]);
        let owners = owners_from_keys(&keys, &names, |pid| {
            Some(
                if pid == 4 {
                    r"NT AUTHORITY\SYSTEM"
                } else {
                    r"DEV\ada"
                }
                .to_owned(),
            )
        });
        let mut sys = FakeSystem::with_interfaces(vec![
            crate::testing::iface(
                1,
                "Loopback Pseudo-Interface 1",
                true,
                &["127.0.0.1/8", "::1/128"],
            ),
            crate::testing::iface(7, "Ethernet", false, &["198.18.0.10/24"]),
        ]);
        sys.os = loopback_model::Os::Windows;
        sys.source = SocketSourceKind::Iphelper;
        sys.sockets = sockets;
        for (key, pids) in &owners.holders {
            for pid in pids {
                sys.add_owner(*key, owners.processes[pid].clone());
            }
        }
        sys.kernel.excluded_ports = Some(vec![loopback_sys::PortRange {
            proto: Proto::Tcp,
            start: 50000,
            end: 50059,
        }]);
        sys.firewall
            .unreadable
            .push("Windows Firewall is on for the Public profile(s)".into());
        let snap = crate::snapshot::capture(
            &sys,
            &crate::snapshot::Request::of(crate::snapshot::Parts::ALL),
        );
        let r = audit(&snap, &AuditOptions::default()).expect("audit");
        let at = |port: u16| {
            r.listeners
                .iter()
                .find(|l| l.port == port)
                .expect("listener")
        };
        let node = at(3000);
        assert_eq!(node.verdict, Verdict::Ok);
        assert_eq!(&*node.owners[0].name, "node.exe");
        assert_eq!(node.owners[0].user.as_deref(), Some(r"DEV\ada"));
        assert_eq!(at(8125).owners[0].pid, 6120);
        let http = at(80);
        assert_eq!(http.verdict, Verdict::Exposed);
        assert_eq!(&*http.owners[0].name, "System");
        assert!(
            http.notes.iter().any(|n| n.contains("HTTP.sys")),
            "{:?}",
            http.notes
        );
        assert!(at(5432)
            .notes
            .iter()
            .any(|n| n.contains("assumed dual-stack")));
        assert!(
            r.warnings.iter().any(|w| w.contains("tcp 50000-50059")),
            "{:?}",
            r.warnings
        );
    }

    #[test]
    fn audit_classifies_orders_and_applies_policy() {
        let mut sys = FakeSystem::lan();
        sys.add_socket(Proto::Tcp, "127.0.0.1", 6379, None, 10);
        sys.add_socket(Proto::Tcp, "::", 5432, Some(false), 11);
        sys.add_socket(Proto::Tcp, "0.0.0.0", 22, None, 12);
        sys.add_owner(
            11,
            ProcessInfo {
                pid: 40,
                comm: "postgres".into(),
                euid: Some(105),
                argv: vec!["postgres".into(), "-D".into(), "/var/lib/pg".into()],
                cgroup: None,
                user: None,
            },
        );
        sys.add_owner(
            11,
            ProcessInfo {
                pid: 41,
                comm: "postgres".into(),
                euid: Some(105),
                argv: vec!["postgres: walwriter".into()],
                cgroup: None,
                user: None,
            },
        );
        sys.add_owner(
            12,
            ProcessInfo {
                pid: 7,
                comm: "sshd".into(),
                euid: Some(0),
                argv: vec!["/usr/sbin/sshd".into(), "-D".into()],
                cgroup: None,
                user: None,
            },
        );
        sys.add_owner(
            10,
            ProcessInfo {
                pid: 9,
                comm: "redis-server".into(),
                euid: Some(0),
                argv: vec![
                    "redis-server".into(),
                    "--requirepass".into(),
                    "hunter2".into(),
                ],
                cgroup: None,
                user: None,
            },
        );
        let policy = Policy::parse("[[allow]]\nport = 22\nprocess = \"sshd\"\n").expect("policy");
        let report = audit(
            &sys.snapshot(),
            &AuditOptions {
                policy: Some(policy),
                uplinks: Vec::new(),
            },
        )
        .expect("audit");
        let verdicts: Vec<(u16, Verdict)> = report
            .listeners
            .iter()
            .map(|l| (l.port, l.verdict))
            .collect();
        assert_eq!(
            verdicts,
            vec![
                (5432, Verdict::Exposed),
                (22, Verdict::Allowed),
                (6379, Verdict::Ok)
            ]
        );
        let pg = &report.listeners[0];
        assert_eq!(pg.owners.len(), 2);
        assert_eq!(pg.owners[0].user.as_deref(), Some("postgres"));
        assert_eq!(pg.bind_scope, BindScope::Wildcard);
        let redis = &report.listeners[2];
        assert_eq!(
            &*redis.owners[0].cmdline,
            "redis-server --requirepass <redacted>"
        );
        assert_eq!(report.listeners[1].allowed_by, Some(0));
    }

    #[test]
    fn udp_clients_are_reported_apart() {
        let mut sys = FakeSystem::lan();
        sys.add_socket(Proto::Udp, "0.0.0.0", 45000, None, 20);
        sys.add_socket(Proto::Udp, "0.0.0.0", 53, None, 21);
        sys.add_socket(Proto::Udp, "127.0.0.1", 45001, None, 22);
        // 51820 is in the default ephemeral range: with the range moved it is a service.
        sys.kernel.ephemeral_ports = Some((52000, 60999));
        sys.add_socket(Proto::Udp, "0.0.0.0", 51820, None, 23);
        let report = audit(&sys.snapshot(), &AuditOptions::default()).expect("audit");
        let ports: Vec<u16> = report.listeners.iter().map(|l| l.port).collect();
        // 45000 is outside the moved range: an explicitly bound service.
        assert_eq!(ports, vec![53, 45000, 51820, 45001]);
        assert!(report.udp_clients.is_empty());
        sys.kernel.ephemeral_ports = None;
        let report = audit(&sys.snapshot(), &AuditOptions::default()).expect("audit");
        let clients: Vec<u16> = report.udp_clients.iter().map(|l| l.port).collect();
        assert_eq!(clients, vec![45000, 51820]);
    }

    #[test]
    fn missing_owners_say_why() {
        let mut sys = FakeSystem::lan();
        sys.add_socket(Proto::Tcp, "0.0.0.0", 80, None, 30);
        sys.add_socket(Proto::Udp, "0.0.0.0", 51820, None, 0);
        sys.unreadable = 3;
        sys.euid = 1000;
        sys.kernel.ephemeral_ports = Some((60000, 60999));
        let report = audit(&sys.snapshot(), &AuditOptions::default()).expect("audit");
        let http = report.listeners.iter().find(|l| l.port == 80).expect("80");
        assert!(http.notes[0].contains("CAP_SYS_PTRACE"), "{:?}", http.notes);
        let wg = report
            .listeners
            .iter()
            .find(|l| l.port == 51820)
            .expect("wg");
        assert!(wg.notes[0].contains("kernel socket"));
        assert!(report.warnings.iter().any(|w| w.contains("3 processes")));
        // On macOS the way to see them is sudo, not setcap.
        sys.os = loopback_model::Os::Macos;
        let report = audit(&sys.snapshot(), &AuditOptions::default()).expect("audit");
        let http = report.listeners.iter().find(|l| l.port == 80).expect("80");
        assert!(http.notes[0].contains("run with sudo"), "{:?}", http.notes);
        assert!(
            !report.warnings.iter().any(|w| w.contains("setcap")),
            "{:?}",
            report.warnings
        );
    }

    #[test]
    fn proc_source_warns_and_assumes_dual_stack() {
        let mut sys = FakeSystem::v4_only_lan();
        sys.source = SocketSourceKind::Proc;
        sys.add_socket(Proto::Tcp, "::", 8080, None, 40);
        let report = audit(&sys.snapshot(), &AuditOptions::default()).expect("audit");
        assert!(report.listeners[0].exposed);
        assert!(report.listeners[0]
            .notes
            .iter()
            .any(|n| n.contains("assumed dual-stack")));
        assert!(report.warnings.iter().any(|w| w.contains("/proc/net")));
    }
}
