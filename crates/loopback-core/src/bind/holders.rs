//! The sockets of a snapshot that hold a port, as `bind` names them: listeners and the
//! sockets that hold ports without listening, each with the processes behind it.

use std::collections::HashMap;
use std::net::IpAddr;

use loopback_model::bind::{BindHolder, BindReport, HolderOwner, HolderState};
use loopback_model::{BoundSocket, Container, Os, Proto};
use loopback_sys::SystemView;

use crate::classify::unmap;
use crate::publications::docker_proxy;
use crate::snapshot::Snapshot;

/// Every socket of `proto` on `port`, listening or not, with its state.
pub(crate) fn on_port(
    snap: &Snapshot,
    proto: Proto,
    port: u16,
) -> Vec<(BoundSocket, HolderState, Option<std::net::SocketAddr>)> {
    let mut out = Vec::new();
    if let Some(scan) = snap.sockets.ok() {
        out.extend(
            scan.sockets
                .iter()
                .filter(|s| s.proto == proto && s.port == port)
                .map(|s| (s.clone(), HolderState::Listen, None)),
        );
    }
    if let Some(held) = snap.held.ok() {
        out.extend(
            held.sockets
                .iter()
                .filter(|h| h.socket.proto == proto && h.socket.port == port)
                .map(|h| (h.socket.clone(), h.state, h.remote)),
        );
    }
    out
}

/// Whether a socket on `req` (IPv6-only or not) and one on `holder` claim a common address:
/// the same address, either one the family's wildcard, or a dual-stack `::` on either side
/// against IPv4. `holder_v6only` unknown counts as dual-stack, except on Windows, where a
/// new IPv6 socket is IPv6-only.
pub(crate) fn overlaps(
    req: IpAddr,
    req_v6only: bool,
    holder: IpAddr,
    holder_v6only: Option<bool>,
    os: Os,
) -> bool {
    let holder_v6only = holder_v6only.unwrap_or(os == Os::Windows);
    let (r, h) = (unmap(req), unmap(holder));
    let dual =
        |ip: IpAddr, v6only: bool| matches!(ip, IpAddr::V6(a) if a.is_unspecified()) && !v6only;
    if r.is_ipv4() == h.is_ipv4() {
        return r == h || r.is_unspecified() || h.is_unspecified();
    }
    // Different families: only a dual-stack wildcard covers the other family.
    (dual(h, holder_v6only) && r.is_ipv4()) || (dual(r, req_v6only) && h.is_ipv4())
}

/// A holder as the report shows it, with its owners from the snapshot.
pub(crate) fn holder(
    snap: &Snapshot,
    sock: &BoundSocket,
    state: HolderState,
    remote: Option<std::net::SocketAddr>,
) -> BindHolder {
    let mut owners = Vec::new();
    let mut container = None;
    let mut publishes = None;
    if let Some(o) = snap.owners.ok() {
        let pids = if sock.inode == 0 {
            &[][..]
        } else {
            o.scan
                .holders
                .get(&sock.inode)
                .map_or(&[][..], Vec::as_slice)
        };
        for pid in pids {
            let Some(p) = o.scan.processes.get(pid) else {
                continue;
            };
            let user = p.user.clone().or_else(|| {
                p.euid
                    .map(|u| o.users.get(&u).cloned().unwrap_or_else(|| u.to_string()))
            });
            let unit = p
                .cgroup
                .as_deref()
                .and_then(crate::containers::systemd_unit)
                .map(str::to_owned);
            if container.is_none() {
                container = p
                    .cgroup
                    .as_deref()
                    .and_then(crate::containers::container_of)
                    .map(|(runtime, id)| Container {
                        runtime,
                        id,
                        name: None,
                    });
            }
            if publishes.is_none() && p.comm == "docker-proxy" {
                publishes = docker_proxy(&p.argv, p.pid).map(|f| match f.to {
                    crate::publications::ForwardTo::Address(a) => format!(
                        "docker-proxy forwards it to a container at {}",
                        std::net::SocketAddr::new(a, f.target_port)
                    ),
                    crate::publications::ForwardTo::Loopback(_) => {
                        "docker-proxy forwards it to a container".to_owned()
                    }
                });
            }
            owners.push(HolderOwner {
                pid: p.pid,
                name: p.comm.clone(),
                user,
                cmdline: if p.argv.is_empty() {
                    format!("[{}]", p.comm)
                } else {
                    crate::redact::redact_argv(&p.argv)
                },
                user_unit: p.cgroup.as_deref().is_some_and(|c| c.contains("/user@")),
                unit,
            });
        }
    }
    BindHolder {
        address: sock.address,
        port: sock.port,
        proto: sock.proto,
        state,
        v6only: sock.v6only,
        uid: (snap.os != Os::Windows).then_some(sock.uid),
        remote,
        owners,
        netns: snap.netns,
        container,
        publishes,
    }
}

/// Give each holder's container its runtime's name (which reading the runtime's files
/// needs).
pub(crate) fn name_containers(report: &mut BindReport, sys: &dyn SystemView) {
    let mut names: HashMap<String, Option<String>> = HashMap::new();
    for r in &mut report.results {
        for h in &mut r.holders {
            if let Some(c) = &mut h.container {
                c.name = names
                    .entry(c.id.clone())
                    .or_insert_with(|| crate::containers::name_of(sys, c.runtime, &c.id))
                    .clone();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn which_addresses_claim_the_same_port() {
        let l = Os::Linux;
        assert!(overlaps(ip("127.0.0.1"), false, ip("127.0.0.1"), None, l));
        assert!(overlaps(ip("127.0.0.1"), false, ip("0.0.0.0"), None, l));
        assert!(overlaps(ip("0.0.0.0"), false, ip("127.0.0.1"), None, l));
        assert!(!overlaps(ip("127.0.0.1"), false, ip("127.0.0.2"), None, l));
        assert!(overlaps(ip("127.0.0.1"), false, ip("::"), Some(false), l));
        assert!(!overlaps(ip("127.0.0.1"), false, ip("::"), Some(true), l));
        assert!(
            overlaps(ip("127.0.0.1"), false, ip("::"), None, l),
            "unknown is dual-stack"
        );
        assert!(!overlaps(
            ip("127.0.0.1"),
            false,
            ip("::"),
            None,
            Os::Windows
        ));
        assert!(overlaps(ip("::"), false, ip("127.0.0.1"), None, l));
        assert!(!overlaps(ip("::"), true, ip("127.0.0.1"), None, l));
        assert!(overlaps(ip("::1"), false, ip("::"), Some(true), l));
        assert!(!overlaps(ip("::1"), false, ip("127.0.0.1"), None, l));
        assert!(overlaps(
            ip("127.0.0.1"),
            false,
            ip("::ffff:127.0.0.1"),
            Some(false),
            l
        ));
    }
}
