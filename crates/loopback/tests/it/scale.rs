//! Correctness at scale: with a crowd of processes the listeners and owners equal `ss -tulnp`,
//! and audits keep working while processes start and exit during the scan.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use loopback_model::AuditReport;

use crate::support::{require_root, Netns};

fn audit(ns: &Netns) -> (AuditReport, Option<i32>) {
    let out = ns.loopback(&["audit", "--json"]);
    let r = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("audit JSON {e}: {}", String::from_utf8_lossy(&out.stderr)));
    (r, out.status.code())
}

/// (address, port) -> owner pids, TCP only.
fn ours(r: &AuditReport) -> BTreeMap<(String, u16), BTreeSet<u32>> {
    r.listeners
        .iter()
        .filter(|l| l.proto == loopback_model::Proto::Tcp)
        .map(|l| {
            (
                (l.address.to_string(), l.port),
                l.owners.iter().map(|o| o.pid).collect(),
            )
        })
        .collect()
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn listeners_and_owners_equal_ss_with_a_crowd() {
    require_root();
    let ns = Netns::new("scale");
    let _crowd = ns.crowd(300, 20, 3000);
    let (r, code) = audit(&ns);
    assert_eq!(code, Some(0), "loopback-only listeners are not exposed");
    let theirs: BTreeMap<(String, u16), BTreeSet<u32>> = ns
        .ss()
        .into_iter()
        .filter(|s| s.proto == "tcp")
        .map(|s| ((s.address, s.port), s.pids))
        .collect();
    assert_eq!(theirs.len(), 3000);
    assert_eq!(ours(&r), theirs);
    assert!(r.listeners.iter().all(|l| l.owners.len() == 1));
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn audits_survive_processes_starting_and_exiting_mid_scan() {
    require_root();
    let ns = Netns::new("churn");
    let _crowd = ns.crowd(100, 10, 1000);
    let stable = ours(&audit(&ns).0);
    assert_eq!(stable.len(), 1000);
    let stop = AtomicBool::new(false);
    let churned = AtomicUsize::new(0);
    std::thread::scope(|s| {
        // Two churners: processes with listeners start and exit for as long as the audits run.
        for c in 0..2u16 {
            let (ns, stop, churned) = (&ns, &stop, &churned);
            s.spawn(move || {
                let mut i = 0u16;
                while !stop.load(Ordering::Relaxed) {
                    let port = 9000 + c * 500 + i % 500;
                    let held = ns.listen(
                        &[
                            &format!("tcp:127.0.0.1:{port}"),
                            &format!("udp:127.0.0.1:{port}"),
                        ],
                        &[],
                    );
                    drop(held);
                    churned.fetch_add(1, Ordering::Relaxed);
                    i = i.wrapping_add(1);
                }
            });
        }
        for round in 0..15 {
            let (r, code) = audit(&ns);
            assert!(
                matches!(code, Some(0) | Some(1)),
                "round {round}: exit {code:?}"
            );
            let seen = ours(&r);
            for (key, pids) in &stable {
                assert_eq!(
                    seen.get(key),
                    Some(pids),
                    "round {round}: stable listener {key:?}"
                );
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    assert!(
        churned.load(Ordering::Relaxed) > 0,
        "the churn must overlap the audits"
    );
}
