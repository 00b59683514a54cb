//! A host of network namespaces: a [`Snapshot`] of each one captured, who each one is, and
//! the audit of them together with the ports published between them.
//!
//! [`capture_host`] enters each namespace on its own thread ([`SystemView::in_netns`]) to read
//! its sockets, interfaces and kernel settings, then walks `/proc` once for the owners of every
//! socket of every namespace (socket inodes are unique host-wide) and hands each namespace its
//! share. An error in one namespace is a warning; the rest are still captured. [`audit_host`]
//! judges the result without touching the system.

use std::collections::HashSet;

use loopback_model::{AuditReport, Container, Listener, NamespaceInfo, AUDIT_VERSION};
use loopback_sys::{NetnsEntry, NetnsTarget, SystemView};
use serde::{Deserialize, Serialize};

use crate::audit::{audit, AuditOptions};
use crate::containers;
use crate::publications::{forwards, join, Side};
use crate::scope::Links;
use crate::snapshot::{attach_owners, capture, MissingPart, Owners, Parts, Request, Snapshot};

/// Which namespaces to audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// The one `loopback` runs in.
    Current,
    /// One named by the user (`--netns`).
    One(NetnsTarget),
    /// Every one on the host (`-A`).
    All,
}

/// One namespace of a host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceCapture {
    /// How it was found.
    pub entry: NetnsEntry,
    /// Its container, when its processes run in one.
    pub container: Option<Container>,
    /// Its listeners are audited (not only looked at as a publication's target).
    pub audited: bool,
    /// What was captured in it.
    pub snapshot: Snapshot,
}

impl NamespaceCapture {
    /// A captured namespace, its container named from its first process's cgroup.
    fn new(sys: &dyn SystemView, entry: NetnsEntry, audited: bool, snapshot: Snapshot) -> Self {
        NamespaceCapture {
            container: entry
                .cgroup
                .as_deref()
                .and_then(|c| containers::identify(sys, c)),
            entry,
            audited,
            snapshot,
        }
    }

    /// Who it is, for the report.
    pub fn info(&self) -> NamespaceInfo {
        NamespaceInfo {
            inode: self.entry.inode,
            names: self.entry.names.clone(),
            container: self.container.clone(),
            processes: self.entry.pids.len(),
            audited: self.audited,
            current: self.entry.current,
        }
    }

    /// A label for human text: the container's name, the namespace's name, or its inode.
    pub fn label(&self) -> String {
        label(&self.info())
    }
}

/// `container web`, `netns blue`, `netns 4026532281`.
pub fn label(info: &NamespaceInfo) -> String {
    match (&info.container, info.names.first()) {
        (Some(c), _) => format!("container {}", c.label()),
        (None, Some(n)) => format!("netns {n}"),
        (None, None) if info.current => "this namespace".to_owned(),
        (None, None) => format!("netns {}", info.inode),
    }
}

/// Every namespace captured, in the order found (the focused one first).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostSnapshot {
    /// The namespaces.
    pub namespaces: Vec<NamespaceCapture>,
    /// Other network namespaces of this machine are visible from here, so a veth whose far
    /// end is elsewhere leads to one of them rather than off the machine.
    #[serde(default)]
    pub sees_other_namespaces: bool,
    /// Namespaces that could not be captured, and why.
    pub warnings: Vec<String>,
}

impl HostSnapshot {
    /// A host of one namespace, from a snapshot saved earlier.
    pub fn of(snapshot: Snapshot) -> HostSnapshot {
        HostSnapshot {
            namespaces: vec![NamespaceCapture {
                entry: NetnsEntry {
                    inode: snapshot.netns.unwrap_or(0),
                    current: true,
                    ..NetnsEntry::default()
                },
                container: None,
                audited: true,
                snapshot,
            }],
            sees_other_namespaces: false,
            warnings: Vec::new(),
        }
    }
}

/// How to reach a namespace that was found: through a bind mount, else through a process.
fn targets(entry: &NetnsEntry) -> Vec<NetnsTarget> {
    let mut out: Vec<NetnsTarget> = entry
        .mounts
        .iter()
        .map(|m| NetnsTarget::Path(m.into()))
        .collect();
    out.extend(entry.pids.iter().take(3).map(|p| NetnsTarget::Pid(*p)));
    out
}

/// Capture `req` on a thread inside `target`'s namespace (which must be `inode`, when given).
fn capture_in(
    sys: &dyn SystemView,
    target: &NetnsTarget,
    inode: Option<u64>,
    req: &Request,
) -> Result<Snapshot, String> {
    let mut snap = None;
    sys.in_netns(target, inode, &mut || snap = Some(capture(sys, req)))
        .map_err(|e| e.to_string())?;
    snap.ok_or_else(|| "the capture inside the namespace did not finish".to_owned())
}

/// Capture `req` inside `entry`'s namespace (here, when it is the current one).
fn capture_entry(
    sys: &dyn SystemView,
    entry: &NetnsEntry,
    req: &Request,
) -> Result<Snapshot, String> {
    if entry.current {
        return Ok(capture(sys, req));
    }
    let mut last = "no bind mount or process leads into it".to_owned();
    for target in targets(entry) {
        match capture_in(sys, &target, Some(entry.inode), req) {
            Ok(snap) => return Ok(snap),
            Err(why) => last = why,
        }
    }
    Err(last)
}

/// What is captured in each namespace: the listener parts, without owners (one scan serves
/// them all afterwards).
fn per_namespace(req: &Request) -> Request {
    Request {
        parts: Parts {
            owners: false,
            service_files: false,
            ..req.parts
        },
        ..req.clone()
    }
}

/// One owner scan for the sockets of every snapshot.
fn owners_of_all(sys: &dyn SystemView, snaps: &[&Snapshot]) -> Owners {
    let inodes: HashSet<u64> = snaps
        .iter()
        .flat_map(|s| crate::snapshot::snapshot_inodes(s))
        .collect();
    crate::snapshot::owners_of(sys, &inodes)
}

/// Capture the namespaces `scope` names with the parts `req` asks for. With
/// [`Scope::Current`] or [`Scope::One`], namespaces that the focused one's publications lead
/// into are captured as well (sockets and interfaces), for the join. The owners of every
/// namespace's sockets come from one walk of `/proc` at the end.
pub fn capture_host(
    sys: &dyn SystemView,
    scope: &Scope,
    req: &Request,
) -> Result<HostSnapshot, String> {
    let mut host = capture_bare(sys, scope, req)?;
    if wants_owners(req) {
        walk_owners(&mut host, sys, req.parts.service_files);
    }
    Ok(host)
}

/// One walk of `/proc` for the owners of every namespace's sockets, attached to each
/// ([`attach_all`]).
pub(crate) fn walk_owners(host: &mut HostSnapshot, sys: &dyn SystemView, files: bool) {
    let all = owners_of_all(
        sys,
        &host
            .namespaces
            .iter()
            .map(|n| &n.snapshot)
            .collect::<Vec<_>>(),
    );
    attach_all(host, sys, &all, files);
}

/// Whether `req` asks for the owners of sockets (service files need them).
pub(crate) fn wants_owners(req: &Request) -> bool {
    req.parts.owners || req.parts.service_files
}

/// Give every namespace of `host` its owners from one host-wide scan, and read the service
/// files of the audited ones (when asked).
fn attach_all(host: &mut HostSnapshot, sys: &dyn SystemView, all: &Owners, files: bool) {
    for ns in &mut host.namespaces {
        attach_owners(&mut ns.snapshot, sys, all, files && ns.audited);
    }
}

/// [`capture_host`] without owners.
pub(crate) fn capture_bare(
    sys: &dyn SystemView,
    scope: &Scope,
    req: &Request,
) -> Result<HostSnapshot, String> {
    let mut host = HostSnapshot::default();
    // Only Linux has network namespaces: elsewhere every namespace is this host.
    let scope = if matches!(scope, Scope::All) && sys.os() != loopback_model::Os::Linux {
        host.warnings.push(format!(
            "network namespaces exist only on Linux: on {} -A audits this host",
            sys.os().display_name()
        ));
        &Scope::Current
    } else {
        scope
    };
    let found = if matches!(scope, Scope::Current) {
        None
    } else {
        Some(sys.namespaces())
    };
    match scope {
        Scope::All => {
            let scan = found.unwrap_or_default();
            host.warnings.extend(scan.warnings);
            host.sees_other_namespaces = scan.namespaces.len() > 1;
            let inner = per_namespace(req);
            for entry in scan.namespaces {
                match capture_entry(sys, &entry, &inner) {
                    Ok(snapshot) => host
                        .namespaces
                        .push(NamespaceCapture::new(sys, entry, true, snapshot)),
                    Err(why) => host.warnings.push(format!(
                        "network namespace {}{}: not captured: {why}",
                        entry.inode,
                        entry
                            .names
                            .first()
                            .map(|n| format!(" ({n})"))
                            .unwrap_or_default()
                    )),
                }
            }
            host.namespaces
                .sort_by_key(|n| (!n.entry.current, n.entry.inode));
        }
        Scope::Current | Scope::One(_) => {
            let snapshot = match scope {
                Scope::One(target) => capture_in(sys, target, None, &per_namespace(req))?,
                _ => capture(sys, &per_namespace(req)),
            };
            let inode = snapshot.netns.unwrap_or(0);
            // Forwarders and NAT rules lead into other namespaces, which are then captured
            // too; a veth is an uplink only when its far end is not visible from here.
            let has_forwards = !forwards(&snapshot).is_empty()
                || crate::exposure::ruleset_of(&snapshot.firewall)
                    .rules
                    .nat_rules()
                    .next()
                    .is_some();
            let has_veth = snapshot.interface_list().iter().any(|i| i.peer_elsewhere);
            let scan = match found {
                Some(s) => s,
                None if has_forwards || has_veth => sys.namespaces(),
                None => Default::default(),
            };
            host.sees_other_namespaces = scan.namespaces.iter().any(|e| e.inode != inode);
            let mut entry = scan
                .namespaces
                .iter()
                .find(|e| e.inode == inode)
                .cloned()
                .unwrap_or(NetnsEntry {
                    inode,
                    current: sys.current_netns() == Some(inode),
                    ..NetnsEntry::default()
                });
            if let Scope::One(NetnsTarget::Name(n)) = scope {
                if !entry.names.contains(n) {
                    entry.names.push(n.clone());
                }
            }
            host.namespaces
                .push(NamespaceCapture::new(sys, entry, true, snapshot));
            if has_forwards {
                host.warnings.extend(scan.warnings);
                let targets_req = Request::of(Parts {
                    sockets: true,
                    interfaces: true,
                    kernel: true,
                    firewall: req.parts.firewall,
                    ..Parts::default()
                });
                let mut others = Vec::new();
                let mut failed: Vec<String> = Vec::new();
                for entry in scan.namespaces.into_iter().filter(|e| e.inode != inode) {
                    let captured = capture_entry(sys, &entry, &targets_req);
                    if let Err(why) = &captured {
                        failed.push(format!("{} ({why})", entry.inode));
                    }
                    if let Ok(snapshot) = captured {
                        others.push(NamespaceCapture::new(sys, entry, false, snapshot));
                    }
                }
                if !failed.is_empty() {
                    host.warnings.push(format!(
                        "publications lead into other namespaces, and {} of them could not be entered to find their targets: {}",
                        failed.len(),
                        failed.join("; ")
                    ));
                }
                host.namespaces.extend(others);
            }
        }
    }
    Ok(host)
}

/// Audit every audited namespace of `host` and join the publications. When one namespace is
/// audited, its missing parts are an error; with several, a warning.
pub fn audit_host(host: &HostSnapshot, options: &AuditOptions) -> Result<AuditReport, MissingPart> {
    let audited = host.namespaces.iter().filter(|n| n.audited).count();
    let mut warnings = host.warnings.clone();
    let mut per_ns: Vec<(&NamespaceCapture, AuditReport)> = Vec::new();
    for ns in &host.namespaces {
        // `audit` tags each listener with its snapshot's namespace.
        match audit(&ns.snapshot, options) {
            Ok(r) => per_ns.push((ns, r)),
            Err(e) if ns.audited && audited == 1 => return Err(e),
            Err(e) => warnings.push(format!("{}: not audited: {e}", ns.label())),
        }
    }
    let judged = judge_exposure(host, &mut per_ns, options, &mut warnings);
    let Some(source) = per_ns
        .iter()
        .find(|(ns, _)| ns.audited)
        .map(|(_, r)| r.source)
    else {
        return Err(MissingPart {
            part: "sockets".into(),
            why: "no network namespace could be captured".into(),
        });
    };
    let mut report = AuditReport {
        bound: None,
        version: AUDIT_VERSION,
        source,
        listeners: Vec::new(),
        udp_clients: Vec::new(),
        namespaces: host.namespaces.iter().map(NamespaceCapture::info).collect(),
        publications: Vec::new(),
        uplinks: Vec::new(),
        warnings: Vec::new(),
    };
    for (ns, r) in &per_ns {
        if !ns.audited {
            continue;
        }
        if audited == 1 {
            warnings.extend(r.warnings.iter().cloned());
        } else {
            let label = ns.label();
            warnings.extend(r.warnings.iter().map(|w| format!("{label}: {w}")));
        }
        let mut listeners = r.listeners.clone();
        if let Ok(links) = Links::from_snapshot(&ns.snapshot) {
            let filter = crate::exposure::ruleset_of(&ns.snapshot.firewall);
            crate::intercept::mark_receivers(&filter, &links, &mut listeners);
        }
        report.listeners.extend(listeners);
        report.udp_clients.extend(r.udp_clients.iter().cloned());
    }
    crate::audit::sort_listeners(&mut report.listeners);
    crate::audit::sort_listeners(&mut report.udp_clients);
    // The join: each audited namespace's forwarders against every namespace's listeners.
    let sides: Vec<Side<'_>> = per_ns
        .iter()
        .filter_map(|(ns, r)| {
            Some(Side {
                inode: ns.entry.inode,
                links: Links::from_snapshot(&ns.snapshot).ok()?,
                listeners: r
                    .listeners
                    .iter()
                    .chain(r.udp_clients.iter())
                    .collect::<Vec<&Listener>>(),
                mounts: &ns.entry.mounts,
                pids: &ns.entry.pids,
                label: ns.label(),
            })
        })
        .collect();
    for ns in host.namespaces.iter().filter(|n| n.audited) {
        for f in forwards(&ns.snapshot) {
            report.publications.push(join(&f, ns.entry.inode, &sides));
        }
    }
    let audited_inodes: HashSet<u64> = host
        .namespaces
        .iter()
        .filter(|n| n.audited)
        .map(|n| n.entry.inode)
        .collect();
    for n in judged
        .publications
        .iter()
        .filter(|n| audited_inodes.contains(&n.netns))
    {
        report.publications.push(nat_publication(n, &sides));
    }
    report.uplinks = judged.uplinks;
    // Publications that reach nothing first.
    report.publications.sort_by(|a, b| {
        let key = |p: &loopback_model::Publication| {
            (
                p.diagnosis == loopback_model::PublicationDiagnosis::Ok,
                p.proto,
                p.port,
                p.address,
            )
        };
        key(a).cmp(&key(b))
    });
    report.warnings = warnings;
    Ok(report)
}

/// Judge every listener's effective exposure from the uplinks of every captured namespace,
/// and set `exposed`, the verdict and the fix from it.
fn judge_exposure(
    host: &HostSnapshot,
    per_ns: &mut [(&NamespaceCapture, AuditReport)],
    options: &AuditOptions,
    warnings: &mut Vec<String>,
) -> crate::exposure::Assessment {
    use crate::exposure::{assess, ruleset_of, Site};
    let filters: Vec<crate::exposure::Filter> = per_ns
        .iter()
        .map(|(ns, _)| ruleset_of(&ns.snapshot.firewall))
        .collect();
    for ((ns, _), f) in per_ns.iter().zip(&filters) {
        if !ns.audited {
            continue;
        }
        let label = ns.label();
        for w in &f.rules.warnings {
            warnings.push(format!("{label}: {w}"));
        }
        if let Some(why) = &f.incomplete {
            warnings.push(format!(
                "{label}: {why}; paths it might decide are reported unknown"
            ));
        }
    }
    let assessment = {
        let sites: Vec<Site<'_>> = per_ns
            .iter()
            .zip(&filters)
            .map(|((ns, r), filter)| Site {
                inode: ns.entry.inode,
                interfaces: ns.snapshot.interface_list(),
                kernel: ns.snapshot.kernel.ok(),
                filter,
                listeners: r.listeners.iter().chain(r.udp_clients.iter()).collect(),
            })
            .collect();
        assess(
            &sites,
            &crate::exposure::Options {
                uplinks: options.uplinks.clone(),
                sees_other_namespaces: host.sees_other_namespaces || host.namespaces.len() > 1,
            },
        )
    };
    for ((_, r), exposures) in per_ns.iter_mut().zip(&assessment.exposures) {
        let mut it = exposures.iter();
        for l in r.listeners.iter_mut().chain(r.udp_clients.iter_mut()) {
            let Some(e) = it.next() else { break };
            apply(l, e.clone(), options);
        }
    }
    assessment
}

/// Set a listener's exposure, and what follows from it.
fn apply(l: &mut Listener, e: loopback_model::Exposure, options: &AuditOptions) {
    use loopback_model::{ExposureState, Verdict};
    l.exposed = matches!(
        e.state,
        ExposureState::Open | ExposureState::Restricted | ExposureState::Unknown
    );
    if !l.exposed {
        l.fix = None;
    } else if crate::classify::unmap(l.address).is_loopback() {
        // A loopback listener reached from a link: only route_localnet lets the kernel deliver
        // that, so the change is the sysctl, not the bind address.
        if let Some(fix) = route_localnet_fix(&e) {
            l.fix = Some(fix.into());
        }
    }
    l.exposure = Some(Box::new(e));
    l.allowed_by = if l.exposed {
        options.policy.as_ref().and_then(|p| p.allows(l))
    } else {
        None
    };
    l.verdict = match (l.exposed, l.allowed_by) {
        (false, _) => Verdict::Ok,
        (true, Some(_)) => Verdict::Allowed,
        (true, None) => Verdict::Exposed,
    };
}

/// The sysctl change that stops a loopback listener being reached from the links in `e`'s
/// open paths.
fn route_localnet_fix(e: &loopback_model::Exposure) -> Option<String> {
    use loopback_model::ExposureState;
    let mut ifaces: Vec<&str> = e
        .paths
        .iter()
        .filter(|p| matches!(p.state, ExposureState::Open | ExposureState::Restricted))
        .map(|p| p.interface.as_str())
        .collect();
    ifaces.sort_unstable();
    ifaces.dedup();
    if ifaces.is_empty() {
        return None;
    }
    let keys: Vec<String> = std::iter::once("all")
        .chain(ifaces.iter().copied())
        .map(|i| format!("net.ipv4.conf.{i}.route_localnet=0"))
        .collect();
    Some(format!(
        "turn route_localnet off: `sysctl -w {}`, and remove the setting from /etc/sysctl.conf and /etc/sysctl.d; the listener is already on loopback, so binding it elsewhere would not help. If a DNAT rule to 127.0.0.1 relies on route_localnet, drop packets to 127.0.0.0/8 arriving on {} instead",
        keys.join(" "),
        ifaces.join(", ")
    ))
}

/// A port published by a NAT rule, joined like a forwarder's.
fn nat_publication(
    n: &crate::exposure::NatPublication,
    sides: &[Side<'_>],
) -> loopback_model::Publication {
    use crate::publications::{Forward, ForwardTo};
    use loopback_model::{Arrival, PublicationDiagnosis};
    let forward = Forward {
        proto: n.proto,
        address: n.address,
        port: n.port,
        to: ForwardTo::Address(n.target),
        target_port: n.target_port,
        forwarder: if n.arrival == Arrival::Redirect {
            "redirect".into()
        } else {
            "dnat".into()
        },
        pid: 0,
    };
    let mut p = join(&forward, n.netns, sides);
    p.rule = Some(n.rule.clone());
    if n.reached {
        p.listener = true;
        p.diagnosis = PublicationDiagnosis::Ok;
        if p.target_netns.is_none() {
            p.target_netns = Some(n.netns);
        }
    } else if let Some(why) = &n.dropped_by {
        p.listener = false;
        p.diagnosis = PublicationDiagnosis::Filtered;
        p.detail = format!("nothing: {why}");
        p.fix = None;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Part;
    use crate::testing::{iface, FakeSystem};
    use loopback_model::{Proto, PublicationDiagnosis, Runtime};
    use loopback_sys::ProcessInfo;

    const CONTAINER_NS: u64 = 4_026_532_328;

    /// A host namespace with `docker-proxy` publishing 8081 to 172.17.0.3:80, and a container
    /// namespace holding 172.17.0.3 whose server listens on `bind`:`port` (or nothing).
    fn host(bind: Option<(&str, u16)>) -> HostSnapshot {
        let mut outside = FakeSystem::lan();
        outside.add_socket(Proto::Tcp, "0.0.0.0", 8081, None, 100);
        outside.add_owner(
            100,
            ProcessInfo {
                pid: 1400,
                comm: "docker-proxy".into(),
                euid: Some(0),
                argv: "/usr/sbin/docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8081 -container-ip 172.17.0.3 -container-port 80"
                    .split(' ')
                    .map(str::to_owned)
                    .collect(),
                cgroup: Some("/system.slice/docker.service".into()),
                user: None,
            },
        );
        let mut inside = FakeSystem::with_interfaces(vec![
            iface(1, "lo", true, &["127.0.0.1/8"]),
            iface(2, "eth0", false, &["172.17.0.3/16"]),
        ]);
        if let Some((addr, port)) = bind {
            inside.add_socket(Proto::Tcp, addr, port, None, 200);
            inside.add_owner(
                200,
                ProcessInfo {
                    pid: 1452,
                    comm: "httpd".into(),
                    euid: Some(0),
                    argv: vec!["httpd".into(), "-f".into()],
                    cgroup: Some(format!("/system.slice/docker-{}.scope", "a".repeat(64))),
                    user: None,
                },
            );
        }
        let mut container_snap = inside.snapshot();
        container_snap.netns = Some(CONTAINER_NS);
        HostSnapshot {
            namespaces: vec![
                NamespaceCapture {
                    entry: NetnsEntry {
                        inode: crate::testing::FAKE_NETNS,
                        current: true,
                        pids: vec![1, 1400],
                        ..NetnsEntry::default()
                    },
                    container: None,
                    audited: true,
                    snapshot: outside.snapshot(),
                },
                NamespaceCapture {
                    entry: NetnsEntry {
                        inode: CONTAINER_NS,
                        pids: vec![1452],
                        ..NetnsEntry::default()
                    },
                    container: Some(Container {
                        runtime: Runtime::Docker,
                        id: "a".repeat(64),
                        name: Some("web".into()),
                    }),
                    audited: false,
                    snapshot: container_snap,
                },
            ],
            sees_other_namespaces: true,
            warnings: Vec::new(),
        }
    }

    fn publication(h: &HostSnapshot) -> loopback_model::Publication {
        let report = audit_host(h, &AuditOptions::default()).expect("audit");
        assert_eq!(report.publications.len(), 1, "{:?}", report.publications);
        report.publications[0].clone()
    }

    #[test]
    fn every_namespace_on_windows_is_this_host() {
        let mut sys = FakeSystem::lan();
        sys.os = loopback_model::Os::Windows;
        sys.add_socket(loopback_model::Proto::Tcp, "127.0.0.1", 3000, None, 7);
        let h = capture_host(
            &sys,
            &Scope::All,
            &crate::snapshot::Request::of(crate::snapshot::Parts::LISTENERS),
        )
        .expect("captured");
        assert_eq!(h.namespaces.len(), 1);
        assert!(
            h.warnings.iter().any(|w| w.contains("exist only on Linux")),
            "{:?}",
            h.warnings
        );
        let r = audit_host(&h, &AuditOptions::default()).expect("audit");
        assert_eq!(r.listeners.len(), 1);
    }

    #[test]
    fn a_server_on_the_containers_loopback_is_unreachable_through_the_proxy() {
        let p = publication(&host(Some(("127.0.0.1", 80))));
        assert_eq!(p.diagnosis, PublicationDiagnosis::TargetLoopbackOnly);
        assert_eq!(p.target_netns, Some(CONTAINER_NS));
        assert!(!p.listener);
        assert!(
            p.detail
                .starts_with("nothing: httpd listens on 127.0.0.1:80"),
            "{}",
            p.detail
        );
        let fix = p.fix.expect("fix");
        assert!(
            fix.contains("container web listen on 0.0.0.0:80 (or 172.17.0.3:80)"),
            "{fix}"
        );
    }

    #[test]
    fn a_server_on_the_containers_wildcard_or_address_is_reached() {
        for bind in ["0.0.0.0", "172.17.0.3", "::"] {
            let p = publication(&host(Some((bind, 80))));
            assert_eq!(p.diagnosis, PublicationDiagnosis::Ok, "{bind}");
            assert!(p.listener);
            assert!(p.fix.is_none());
        }
    }

    #[test]
    fn nothing_on_the_port_says_which_port_it_listens_on() {
        let p = publication(&host(Some(("0.0.0.0", 8080))));
        assert_eq!(p.diagnosis, PublicationDiagnosis::NoListener);
        assert_eq!(p.detail, "nothing listens on tcp port 80");
        assert!(
            p.fix
                .as_deref()
                .is_some_and(|f| f.contains("tcp 8080") && f.contains("-p 8081:8080")),
            "{:?}",
            p.fix
        );
        let p = publication(&host(None));
        assert_eq!(p.diagnosis, PublicationDiagnosis::NoListener);
        assert!(p
            .fix
            .as_deref()
            .is_some_and(|f| f.starts_with("start the service in container web")));
    }

    #[test]
    fn a_docker_proxy_not_run_by_root_is_not_believed() {
        let mut h = host(Some(("127.0.0.1", 80)));
        if let Part::Captured(o) = &mut h.namespaces[0].snapshot.owners {
            o.scan.processes.get_mut(&1400).expect("proxy").euid = Some(1000);
        }
        let report = audit_host(&h, &AuditOptions::default()).expect("audit");
        assert!(report.publications.is_empty(), "{:?}", report.publications);
    }

    #[test]
    fn pasta_reaches_a_server_on_the_namespaces_own_loopback() {
        let mut h = host(Some(("127.0.0.1", 80)));
        h.namespaces[1].entry.mounts = vec!["/run/user/1000/netns/netns-1".into()];
        if let Part::Captured(o) = &mut h.namespaces[0].snapshot.owners {
            let p = o.scan.processes.get_mut(&1400).expect("forwarder");
            p.comm = "pasta".into();
            p.euid = Some(1000);
            p.argv = "/usr/bin/pasta --config-net -t 8081:80 --netns /run/user/1000/netns/netns-1"
                .split(' ')
                .map(str::to_owned)
                .collect();
        }
        let p = publication(&h);
        assert_eq!(p.diagnosis, PublicationDiagnosis::Ok);
        assert_eq!(p.target_address.to_string(), "127.0.0.1");
        assert_eq!(p.target_netns, Some(CONTAINER_NS));
        assert!(p.detail.contains("podman issue 24045"), "{}", p.detail);
    }

    #[test]
    fn a_target_no_namespace_holds_is_unknown_not_a_finding() {
        let mut h = host(Some(("127.0.0.1", 80)));
        h.namespaces.truncate(1);
        let report = audit_host(&h, &AuditOptions::default()).expect("audit");
        assert_eq!(
            report.publications[0].diagnosis,
            PublicationDiagnosis::Unknown
        );
        assert_eq!(report.publications[0].target_netns, None);
        assert!(report.publications[0].fix.is_none());
    }

    #[test]
    fn only_audited_namespaces_are_listed_and_owners_carry_their_unit() {
        let report =
            audit_host(&host(Some(("127.0.0.1", 80))), &AuditOptions::default()).expect("audit");
        assert!(report
            .listeners
            .iter()
            .all(|l| l.netns == crate::testing::FAKE_NETNS));
        assert_eq!(report.namespaces.len(), 2);
        assert!(!report.namespaces[1].audited);
        let proxy = &report.listeners[0].owners[0];
        assert_eq!(proxy.unit.as_deref(), Some("docker.service"));
        assert!(report.needs_attention());
    }

    #[test]
    fn owners_split_from_one_scan_give_each_namespace_its_own() {
        let h = host(Some(("127.0.0.1", 80)));
        let mut all = h.namespaces[0]
            .snapshot
            .owners
            .ok()
            .expect("owners")
            .clone();
        let inside = h.namespaces[1].snapshot.owners.ok().expect("owners");
        all.scan.holders.extend(inside.scan.holders.clone());
        all.scan.processes.extend(inside.scan.processes.clone());
        let part = crate::snapshot::split_owners(&all, &h.namespaces[1].snapshot).expect("split");
        assert_eq!(
            part.scan.holders.keys().copied().collect::<Vec<_>>(),
            vec![200]
        );
        assert_eq!(
            part.scan.processes.keys().copied().collect::<Vec<_>>(),
            vec![1452]
        );
    }
}
