//! The nearest ports a server could take instead: held by no socket on any address, outside
//! the ephemeral range (where an outgoing connection could take them first) and the system's
//! excluded ranges, and not privileged for a user who lacks the privilege.

use std::collections::HashSet;

use loopback_model::Proto;

use crate::snapshot::Snapshot;

/// How many ports to offer.
const OFFER: usize = 3;
/// How far from the port to look.
const REACH: u16 = 2000;

/// Up to three free ports nearest `port` (the higher first on a tie).
pub(crate) fn free_ports(snap: &Snapshot, proto: Proto, port: u16) -> Vec<u16> {
    let mut taken: HashSet<u16> = HashSet::new();
    if let Some(scan) = snap.sockets.ok() {
        taken.extend(
            scan.sockets
                .iter()
                .filter(|s| s.proto == proto)
                .map(|s| s.port),
        );
    }
    if let Some(held) = snap.held.ok() {
        taken.extend(
            held.sockets
                .iter()
                .filter(|h| h.socket.proto == proto)
                .map(|h| h.socket.port),
        );
    }
    let kernel = snap.kernel.ok();
    let ephemeral = kernel
        .and_then(|k| k.ephemeral_ports)
        .unwrap_or(crate::audit::DEFAULT_EPHEMERAL);
    let excluded: Vec<(u16, u16)> = kernel
        .and_then(|k| k.excluded_ports.as_ref())
        .map(|r| {
            r.iter()
                .filter(|r| r.proto == proto)
                .map(|r| (r.start, r.end))
                .collect()
        })
        .unwrap_or_default();
    let lowest = match (
        snap.effective_uid,
        kernel.and_then(|k| k.unprivileged_port_start),
    ) {
        (Some(0), _) | (_, None) => 1,
        (_, Some(start)) => start.max(1),
    };
    let usable = |p: u16| {
        p >= lowest
            && !taken.contains(&p)
            && !(ephemeral.0..=ephemeral.1).contains(&p)
            && !excluded.iter().any(|(a, b)| (*a..=*b).contains(&p))
    };
    let mut out = Vec::new();
    for d in 1..=REACH {
        for p in [port.checked_add(d), port.checked_sub(d)]
            .into_iter()
            .flatten()
        {
            if out.len() < OFFER && usable(p) {
                out.push(p);
            }
        }
        if out.len() >= OFFER {
            break;
        }
    }
    out
}
