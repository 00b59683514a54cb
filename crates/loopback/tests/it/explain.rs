//! `loopback explain` inside namespaces whose interfaces and hosts file the test sets.

use loopback_model::{AddressKind, Explanation};

use crate::support::{require_root, Netns};

fn explain(ns: &Netns, target: &str) -> Explanation {
    let out = ns.loopback(&["explain", "--json", target]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{target}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("explain JSON")
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn explains_addresses_against_this_namespace() {
    require_root();
    let ns = Netns::with_lan("explain");
    ns.ip(&["addr", "add", "198.19.0.53/32", "dev", "lo"]);

    let e = explain(&ns, "127.1.2.3");
    let a = &e.addresses[0];
    assert_eq!(a.class.kind, AddressKind::Loopback);
    assert_eq!(a.class.rfc, "RFC 1122 §3.2.1.3");
    assert_eq!(
        (a.assigned[0].interface.as_str(), a.assigned[0].exact),
        ("lo", false)
    );
    assert!(a.reach.starts_with("Only processes on this host"));

    let a = &explain(&ns, "198.18.0.1").addresses[0];
    assert_eq!(a.class.kind, AddressKind::Benchmarking);
    assert_eq!(
        (a.assigned[0].interface.as_str(), a.assigned[0].exact),
        ("lan0", true)
    );
    assert!(
        a.reach.contains("through lan0") && a.reach.contains("still goes over lo"),
        "{}",
        a.reach
    );

    let a = &explain(&ns, "198.19.0.53").addresses[0];
    assert_eq!(a.assigned[0].interface, "lo");
    assert!(
        a.reach.contains("through lan0"),
        "a /32 on lo is reachable from the LAN: {}",
        a.reach
    );

    let a = &explain(&ns, "198.18.0.99").addresses[0];
    assert!(a.assigned.is_empty());
    assert!(a.reach.contains("not assigned"));

    let a = &explain(&ns, "::ffff:127.0.0.1").addresses[0];
    assert_eq!(a.class.kind, AddressKind::Loopback);
    assert_eq!(
        a.class.mapped_ipv4.map(|v| v.to_string()).as_deref(),
        Some("127.0.0.1")
    );

    let a = &explain(&ns, "fe80::1").addresses[0];
    assert_eq!(a.class.kind, AddressKind::LinkLocal);

    let a = &explain(&ns, "127.0.0.0/8").addresses[0];
    assert_eq!(a.prefix_len, Some(8));
    assert_eq!(a.class.kind, AddressKind::Loopback);
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn explain_with_port_names_the_listeners_that_accept() {
    require_root();
    let ns = Netns::new("explport");
    let held = ns.listen(&["tcp:[::]:7500,v6only=0", "tcp:[::]:7501,v6only=1"], &[]);
    let e = explain(&ns, "127.0.0.1:7500");
    let l = e.addresses[0].listeners.as_ref().expect("listeners");
    assert_eq!(l.len(), 1, "a dual-stack :: socket accepts IPv4");
    assert_eq!(l[0].owners[0].pid, held.pid());
    let e = explain(&ns, "127.0.0.1:7501");
    assert_eq!(
        e.addresses[0].listeners.as_ref().map(Vec::len),
        Some(0),
        "v6only does not"
    );
    let e = explain(&ns, "[::1]:7501");
    assert_eq!(e.addresses[0].listeners.as_ref().map(Vec::len), Some(1));
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn explain_resolves_names_through_this_namespace_hosts_file() {
    require_root();
    let ns = Netns::with_lan("explname");
    ns.etc_file(
        "hosts",
        "127.0.0.1 localhost\n::1 localhost\n198.18.0.1 svc.test svc\n",
    );
    let e = explain(&ns, "svc.test");
    assert_eq!(e.name.as_deref(), Some("svc.test"));
    let addrs: Vec<String> = e.addresses.iter().map(|a| a.address.to_string()).collect();
    assert_eq!(addrs, vec!["198.18.0.1"]);
    assert_eq!(e.addresses[0].assigned[0].interface, "lan0");
    // Compare with the C library's own answer.
    let getent = ns
        .cmd("getent")
        .args(["ahosts", "svc.test"])
        .output()
        .expect("getent");
    assert!(String::from_utf8_lossy(&getent.stdout).starts_with("198.18.0.1"));
}
