//! `audit --watch`: the changes between two audits of the same scope, as events. A pure
//! function of the two reports and the time the second was captured (passed in).
//!
//! A listener is its namespace, protocol, address, port and device; sockets that share all
//! five (`SO_REUSEPORT`) are one listener. A publication is its namespace, protocol, address
//! and port. Events come in a fixed order: listeners gone, added, changed, then the same for
//! publications, each sorted by key.

use std::collections::BTreeMap;
use std::net::IpAddr;

use loopback_model::watch::{ChangeKind, WatchEvent, WatchState, WATCH_VERSION};
use loopback_model::{AuditReport, Listener, NamespaceInfo, Proto, Publication};

use crate::host::label;

type ListenerKey = (u64, Proto, IpAddr, u16, Option<String>);
type PublicationKey = (u64, Proto, IpAddr, u16);

fn listener_state(l: &Listener) -> WatchState {
    WatchState {
        verdict: Some(l.verdict),
        exposure: l.exposure.as_ref().map(|e| e.state),
        diagnosis: None,
        target: None,
    }
}

fn publication_state(p: &Publication) -> WatchState {
    WatchState {
        verdict: None,
        exposure: None,
        diagnosis: Some(p.diagnosis),
        target: Some(std::net::SocketAddr::new(p.target_address, p.target_port).to_string()),
    }
}

fn listeners(r: &AuditReport) -> BTreeMap<ListenerKey, &Listener> {
    let mut out = BTreeMap::new();
    for l in &r.listeners {
        out.entry((l.netns, l.proto, l.address, l.port, l.interface.clone()))
            .or_insert(l);
    }
    out
}

fn publications(r: &AuditReport) -> BTreeMap<PublicationKey, &Publication> {
    let mut out = BTreeMap::new();
    for p in &r.publications {
        out.entry((p.netns, p.proto, p.address, p.port))
            .or_insert(p);
    }
    out
}

fn namespace(namespaces: &[NamespaceInfo], inode: u64) -> String {
    namespaces
        .iter()
        .find(|n| n.inode == inode)
        .map(label)
        .unwrap_or_else(|| format!("netns {inode}"))
}

fn names(l: &Listener) -> Vec<String> {
    let mut names: Vec<String> = l.owners.iter().map(|o| o.name.to_string()).collect();
    names.dedup();
    names
}

/// The events that turn `before` into `after`, stamped with `time`.
pub fn changes(before: &AuditReport, after: &AuditReport, time: &str) -> Vec<WatchEvent> {
    let event = |kind: ChangeKind,
                 ns: &[NamespaceInfo],
                 (netns, proto, address, port): (u64, Proto, IpAddr, u16),
                 interface: Option<String>,
                 processes: Vec<String>,
                 states: (Option<WatchState>, Option<WatchState>)| WatchEvent {
        version: WATCH_VERSION,
        time: time.to_owned(),
        event: kind,
        netns,
        namespace: namespace(ns, netns),
        proto,
        address,
        port,
        interface,
        processes,
        before: states.0,
        after: states.1,
    };
    let mut out = Vec::new();
    let (old, new) = (listeners(before), listeners(after));
    for (k, l) in &old {
        if !new.contains_key(k) {
            out.push(event(
                ChangeKind::ListenerGone,
                &before.namespaces,
                (k.0, k.1, k.2, k.3),
                k.4.clone(),
                names(l),
                (Some(listener_state(l)), None),
            ));
        }
    }
    for (k, l) in &new {
        if !old.contains_key(k) {
            out.push(event(
                ChangeKind::ListenerAdded,
                &after.namespaces,
                (k.0, k.1, k.2, k.3),
                k.4.clone(),
                names(l),
                (None, Some(listener_state(l))),
            ));
        }
    }
    for (k, l) in &new {
        if let Some(was) = old.get(k) {
            let (a, b) = (listener_state(was), listener_state(l));
            if a != b {
                out.push(event(
                    ChangeKind::ExposureChanged,
                    &after.namespaces,
                    (k.0, k.1, k.2, k.3),
                    k.4.clone(),
                    names(l),
                    (Some(a), Some(b)),
                ));
            }
        }
    }
    let (old, new) = (publications(before), publications(after));
    for (k, p) in &old {
        if !new.contains_key(k) {
            out.push(event(
                ChangeKind::PublicationGone,
                &before.namespaces,
                *k,
                None,
                vec![p.forwarder.clone()],
                (Some(publication_state(p)), None),
            ));
        }
    }
    for (k, p) in &new {
        if !old.contains_key(k) {
            out.push(event(
                ChangeKind::PublicationAdded,
                &after.namespaces,
                *k,
                None,
                vec![p.forwarder.clone()],
                (None, Some(publication_state(p))),
            ));
        }
    }
    for (k, p) in &new {
        if let Some(was) = old.get(k) {
            let (a, b) = (publication_state(was), publication_state(p));
            if a != b {
                out.push(event(
                    ChangeKind::PublicationChanged,
                    &after.namespaces,
                    *k,
                    None,
                    vec![p.forwarder.clone()],
                    (Some(a), Some(b)),
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use loopback_model::{BindScope, Exposure, ExposureReach, ExposureState, Owner, Verdict};

    use super::*;

    fn listener(port: u16, verdict: Verdict, state: ExposureState) -> Listener {
        Listener {
            proto: Proto::Tcp,
            address: "0.0.0.0".parse().expect("addr"),
            port,
            v6only: None,
            interface: None,
            bind_scope: BindScope::Wildcard,
            exposed: verdict != Verdict::Ok,
            reachable_via: Arc::from(Vec::new()),
            owners: Arc::from(vec![Owner {
                pid: 7,
                name: "web".into(),
                user: None,
                uid: None,
                cmdline: "web".into(),
                unit: None,
            }]),
            verdict,
            uid: 0,
            inode: u64::from(port),
            netns: 9,
            allowed_by: None,
            notes: Vec::new(),
            service: None,
            fix: None,
            exposure: Some(Box::new(Exposure {
                state,
                reach: ExposureReach::Network,
                paths: Vec::new(),
                notes: Vec::new(),
            })),
            receives: Vec::new(),
            names: Vec::new(),
            http: None,
        }
    }

    fn report(listeners: Vec<Listener>) -> AuditReport {
        AuditReport {
            bound: None,
            version: 4,
            source: loopback_model::SocketSourceKind::Netlink,
            listeners,
            udp_clients: Vec::new(),
            namespaces: Vec::new(),
            publications: Vec::new(),
            uplinks: Vec::new(),
            warnings: Vec::new(),
        }
    }

    #[test]
    fn no_change_no_event() {
        let r = report(vec![listener(80, Verdict::Exposed, ExposureState::Open)]);
        assert!(changes(&r, &r.clone(), "t").is_empty());
    }

    #[test]
    fn gone_then_added_then_changed_in_key_order() {
        let before = report(vec![
            listener(80, Verdict::Exposed, ExposureState::Open),
            listener(81, Verdict::Exposed, ExposureState::Open),
        ]);
        let after = report(vec![
            listener(80, Verdict::Ok, ExposureState::Filtered),
            listener(90, Verdict::Exposed, ExposureState::Open),
            listener(82, Verdict::Exposed, ExposureState::Open),
        ]);
        let ev = changes(&before, &after, "2026-11-24T00:00:00.000Z");
        let got: Vec<(ChangeKind, u16)> = ev.iter().map(|e| (e.event, e.port)).collect();
        assert_eq!(
            got,
            vec![
                (ChangeKind::ListenerGone, 81),
                (ChangeKind::ListenerAdded, 82),
                (ChangeKind::ListenerAdded, 90),
                (ChangeKind::ExposureChanged, 80),
            ]
        );
        let changed = &ev[3];
        assert_eq!(
            changed.before.as_ref().and_then(|s| s.exposure),
            Some(ExposureState::Open)
        );
        assert_eq!(
            changed.after.as_ref().and_then(|s| s.verdict),
            Some(Verdict::Ok)
        );
        assert_eq!(changed.processes, vec!["web".to_owned()]);
        assert_eq!(changed.namespace, "netns 9");
        assert!(ev.iter().all(|e| e.time == "2026-11-24T00:00:00.000Z"));
    }

    #[test]
    fn reuseport_twins_are_one_listener() {
        let a = listener(80, Verdict::Exposed, ExposureState::Open);
        let mut b = a.clone();
        b.inode = 1234;
        let before = report(vec![a.clone()]);
        let after = report(vec![a, b]);
        assert!(changes(&before, &after, "t").is_empty());
    }
}
