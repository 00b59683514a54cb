//! Capturing a [`Snapshot`]: the one place that reads the system for a judgment.

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::Path;

use loopback_model::Os;
use loopback_sys::{OwnerScan, SystemView};

use super::{
    FileCapture, Owners, Part, Request, ResolverFiles, ResolverPaths, Snapshot, SNAPSHOT_VERSION,
};
use crate::services;

/// Capture the parts `req` asks for. Nothing is cached between calls: a long-running process
/// captures again for fresh data.
pub fn capture(sys: &dyn SystemView, req: &Request) -> Snapshot {
    let mut snap = Snapshot::default();
    extend(&mut snap, sys, req);
    snap
}

/// Capture the parts of `req` that `snap` does not hold yet (a judgment that needs more, such
/// as the ruleset once a probe failed, asks for it this way).
pub fn extend(snap: &mut Snapshot, sys: &dyn SystemView, req: &Request) {
    let want = req.parts;
    snap.version = SNAPSHOT_VERSION;
    snap.os = sys.os();
    if snap.netns.is_none() {
        snap.netns = sys.current_netns();
    }
    if snap.effective_uid.is_none() {
        snap.effective_uid = Some(sys.effective_uid());
    }
    if !snap.proc.is_requested() && (want.owners || want.kernel || want.routes) {
        snap.proc = Part::from_result(sys.proc_available());
    }
    if want.interfaces && !snap.interfaces.is_requested() {
        snap.interfaces = Part::from_result(sys.interfaces());
        snap.ipv6_addresses = Part::from_result(sys.ipv6_addresses());
    }
    if want.kernel && !snap.kernel.is_requested() {
        snap.kernel = Part::Captured(sys.kernel_settings(snap.interface_list()));
    }
    if want.routes && !snap.routes.is_requested() {
        snap.routes = Part::from_result(sys.default_routes());
    }
    for dest in &req.routes_to {
        snap.route_sources
            .entry(*dest)
            .or_insert_with(|| sys.route_source(*dest));
    }
    if want.resolver && !snap.resolver.is_requested() {
        snap.resolver = Part::Captured(resolver_files(sys, &req.resolver_paths));
    }
    if (want.sockets || want.owners || want.service_files) && !snap.sockets.is_requested() {
        snap.sockets = Part::from_result(sys.sockets(req.source));
    }
    if want.held && !snap.held.is_requested() {
        snap.held = Part::Captured(sys.held_sockets());
    }
    if (want.owners || want.service_files) && !snap.owners.is_requested() {
        snap.owners = match &snap.sockets {
            Part::Captured(_) => Part::Captured(owners_of(sys, &snapshot_inodes(snap))),
            _ => Part::Failed("the sockets could not be read".into()),
        };
    }
    finish_owners(snap, sys, want.service_files);
    if want.firewall && !snap.firewall.is_requested() {
        snap.firewall = Part::Captured(sys.firewall());
    }
    if let Some(options) = req.http.as_ref().filter(|_| !snap.http.is_requested()) {
        snap.http = match &snap.sockets {
            Part::Captured(scan) => {
                let own: Vec<IpAddr> = snap
                    .interface_list()
                    .iter()
                    .flat_map(|i| {
                        i.addresses
                            .iter()
                            .map(|a| crate::classify::unmap(a.address))
                    })
                    .collect();
                let targets = crate::http::candidates(scan, options, &own);
                let foreign = crate::http::foreign_name();
                Part::Captured(crate::http::capture(sys, &targets, options, &foreign))
            }
            _ => Part::Failed("the sockets could not be read".into()),
        };
    }
}

/// The inodes of every socket `snap` holds, listening or not: what its owners are looked up
/// for.
pub(crate) fn snapshot_inodes(snap: &Snapshot) -> HashSet<u64> {
    let mut inodes = snap.sockets.ok().map(socket_inodes).unwrap_or_default();
    if let Some(held) = snap.held.ok() {
        inodes.extend(
            held.sockets
                .iter()
                .map(|h| h.socket.inode)
                .filter(|i| *i != 0),
        );
    }
    inodes
}

/// The inodes of the captured sockets (0, a kernel socket, is held by no process).
pub(crate) fn socket_inodes(scan: &loopback_sys::SocketScan) -> HashSet<u64> {
    scan.sockets
        .iter()
        .map(|s| s.inode)
        .filter(|i| *i != 0)
        .collect()
}

/// The processes holding `inodes`, with the names of their users.
pub(crate) fn owners_of(sys: &dyn SystemView, inodes: &HashSet<u64>) -> Owners {
    let scan = sys.owners(inodes);
    let uids: HashSet<u32> = scan.processes.values().filter_map(|p| p.euid).collect();
    let users = sys.user_names(&uids);
    Owners { scan, users }
}

/// Read the service files (when asked) once owners are known, then redact command lines.
fn finish_owners(snap: &mut Snapshot, sys: &dyn SystemView, service_files: bool) {
    if service_files && !snap.service_files.is_requested() {
        snap.service_files = match (&snap.sockets, &snap.owners) {
            (Part::Captured(scan), Part::Captured(owners)) => {
                Part::Captured(services::capture_files(sys, &scan.sockets, &owners.scan))
            }
            _ => Part::Failed("the sockets or their owners could not be read".into()),
        };
    }
    // Secrets never enter a snapshot: command lines are redacted once the service files they
    // name have been read (redaction keeps paths, so judging the snapshot finds them again).
    if let Part::Captured(owners) = &mut snap.owners {
        for p in owners.scan.processes.values_mut() {
            p.argv = crate::redact::redact(&p.argv);
        }
    }
}

/// The part of one host-wide owner scan that holds `snap`'s sockets: one walk of `/proc`
/// serves every namespace, since socket inodes are unique across namespaces.
pub fn split_owners(all: &Owners, snap: &Snapshot) -> Option<Owners> {
    snap.sockets.ok()?;
    let mut part = OwnerScan {
        unreadable: all.scan.unreadable,
        unavailable: all.scan.unavailable.clone(),
        ..OwnerScan::default()
    };
    for inode in snapshot_inodes(snap) {
        if let Some(pids) = all.scan.holders.get(&inode) {
            part.holders.insert(inode, pids.clone());
            for pid in pids {
                if let Some(p) = all.scan.processes.get(pid) {
                    part.processes.entry(*pid).or_insert_with(|| p.clone());
                }
            }
        }
    }
    part.stalled = all
        .scan
        .stalled
        .iter()
        .copied()
        .filter(|p| part.processes.contains_key(p))
        .collect();
    let users = all
        .users
        .iter()
        .filter(|(uid, _)| part.processes.values().any(|p| p.euid == Some(**uid)))
        .map(|(u, n)| (*u, n.clone()))
        .collect();
    Some(Owners { scan: part, users })
}

/// Give `snap` its owners from a host-wide scan ([`split_owners`]), then read its service
/// files (when asked) and redact.
pub fn attach_owners(snap: &mut Snapshot, sys: &dyn SystemView, all: &Owners, service_files: bool) {
    snap.owners = match split_owners(all, snap) {
        Some(o) => Part::Captured(o),
        None => Part::Failed("the sockets could not be read".into()),
    };
    finish_owners(snap, sys, service_files);
}

fn read(sys: &dyn SystemView, paths: &ResolverPaths, path: &str) -> FileCapture {
    let contents = match paths.root_of {
        Some(pid) => sys.read_process_file(pid, path),
        None => sys.read_file(Path::new(path)),
    };
    FileCapture {
        path: match paths.root_of {
            Some(pid) => format!("{path} (in the root of pid {pid})"),
            None => path.to_owned(),
        },
        contents: contents.map_err(|e| e.to_string()),
    }
}

fn resolver_files(sys: &dyn SystemView, paths: &ResolverPaths) -> ResolverFiles {
    let os = sys.os();
    let glibc = |path: &str| {
        if os == Os::Linux {
            read(sys, paths, path)
        } else {
            FileCapture {
                path: path.to_owned(),
                contents: Err(format!(
                    "not read: {}'s resolver does not use it",
                    os.display_name()
                )),
            }
        }
    };
    ResolverFiles {
        hosts: read(sys, paths, &paths.hosts),
        nsswitch: glibc(&paths.nsswitch),
        gai: glibc(&paths.gai),
        system: sys.resolver_config().map(|r| FileCapture {
            path: match os {
                Os::Windows => "netsh interface ipv6 show prefixpolicies",
                _ => "scutil --dns",
            }
            .into(),
            contents: r.map(String::into_bytes).map_err(|e| e.to_string()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::Parts;
    use crate::testing::FakeSystem;

    #[test]
    fn only_the_parts_asked_for_are_captured() {
        let sys = FakeSystem::default();
        let snap = capture(&sys, &Request::of(Parts::LINKS));
        assert!(snap.interfaces.ok().is_some());
        assert!(snap.kernel.ok().is_some());
        assert_eq!(snap.sockets, Part::NotCaptured);
        assert_eq!(snap.firewall, Part::NotCaptured);
        assert_eq!(snap.resolver, Part::NotCaptured);
    }

    #[test]
    fn extend_adds_a_part_and_keeps_the_rest() {
        let sys = FakeSystem::default();
        let mut snap = capture(&sys, &Request::of(Parts::LINKS));
        let before = snap.interfaces.clone();
        extend(
            &mut snap,
            &sys,
            &Request::of(Parts {
                firewall: true,
                ..Parts::default()
            }),
        );
        assert!(snap.firewall.ok().is_some());
        assert_eq!(snap.interfaces, before);
    }

    #[test]
    fn a_failed_part_says_why() {
        let mut sys = FakeSystem::lan();
        sys.sockets_error = Some("netlink refused".into());
        let snap = capture(&sys, &Request::of(Parts::LISTENERS));
        let err = snap.sockets.get("sockets").unwrap_err();
        assert!(err.why.contains("netlink refused"), "{err}");
        assert!(matches!(snap.owners, Part::Failed(_)));
    }

    #[test]
    fn a_snapshot_survives_its_json_form() {
        let sys = FakeSystem::default();
        let snap = capture(&sys, &Request::of(Parts::ALL));
        let json = serde_json::to_string(&snap).unwrap();
        let back: Snapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(back, snap);
    }
}
