use std::net::IpAddr;

use loopback_model::names::{NameClient, NameFindingCode};
use loopback_model::{BoundSocket, Interface, InterfaceAddress, Os, Proto};
use loopback_sys::SocketScan;

use super::*;
use crate::snapshot::{FileCapture, Part, ResolverFiles};

fn ip(s: &str) -> IpAddr {
    s.parse().expect("ip")
}

fn lo(addrs: &[(&str, u8)]) -> Interface {
    Interface {
        index: 1,
        name: "lo".into(),
        up: true,
        loopback: true,
        addresses: addrs
            .iter()
            .map(|(a, p)| InterfaceAddress {
                address: ip(a),
                prefix_len: *p,
            })
            .collect(),
        kind: None,
        master: None,
        peer_elsewhere: false,
    }
}

fn snap(os: Os, hosts: &[u8], nsswitch: &[u8], bound: &[&str]) -> Snapshot {
    let file = |path: &str, b: &[u8]| FileCapture {
        path: path.into(),
        contents: Ok(b.to_vec()),
    };
    Snapshot {
        os,
        interfaces: Part::Captured(vec![lo(&[("127.0.0.1", 8), ("::1", 128)])]),
        sockets: Part::Captured(SocketScan {
            sockets: bound
                .iter()
                .map(|a| BoundSocket {
                    proto: Proto::Tcp,
                    address: ip(a),
                    port: 8080,
                    v6only: None,
                    bound_ifindex: None,
                    ifindex_known: true,
                    uid: 0,
                    inode: 1,
                })
                .collect(),
            source: None,
            warnings: Vec::new(),
        }),
        resolver: Part::Captured(ResolverFiles {
            hosts: file("/etc/hosts", hosts),
            nsswitch: file("/etc/nsswitch.conf", nsswitch),
            gai: FileCapture {
                path: "/etc/gai.conf".into(),
                contents: Err("missing".into()),
            },
            system: None,
        }),
        ..Snapshot::default()
    }
}

const DEBIAN: &[u8] = b"127.0.0.1\tlocalhost\n127.0.1.1\tbox\n::1 localhost ip6-localhost\n";

#[test]
fn add_takes_the_lowest_free_address_and_is_idempotent() {
    let s = snap(Os::Linux, b"", b"", &["127.0.0.2"]);
    let hosts = b"127.0.0.1 localhost\n127.0.0.3 db.local\n";
    let e = plan_add(hosts, "/etc/hosts", "API.test", None, &s).expect("adds");
    assert_eq!(e.entry.name, "api.test");
    assert_eq!(e.entry.address, ip("127.0.0.4"), "2 is bound, 3 is mapped");
    assert!(e.plan.is_empty(), "Linux needs no alias");
    let bytes = e.bytes.expect("changes");
    let again = plan_add(&bytes, "/etc/hosts", "api.test", None, &s).expect("again");
    assert_eq!(again.bytes, None, "a second add changes nothing");
    assert_eq!(again.entry.address, ip("127.0.0.4"));
    assert!(matches!(
        plan_add(&bytes, "/etc/hosts", "api.test", Some(ip("127.0.0.9")), &s),
        Err(NamesError::AlreadyManaged { .. })
    ));
    let (names, _) = managed(&bytes, "/etc/hosts").expect("lists");
    assert_eq!(names.len(), 1);
}

#[test]
fn refusals() {
    let s = snap(Os::Linux, b"", b"", &["127.0.0.7"]);
    let hosts = b"127.0.0.1 localhost\n10.1.1.1 nas.test\n127.0.0.5 five.test\n";
    let add = |n: &str, a: Option<&str>| plan_add(hosts, "/etc/hosts", n, a.map(ip), &s);
    match add("nas.test", None) {
        Err(NamesError::MappedOutside { line, .. }) => assert_eq!(line, 2),
        other => panic!("{other:?}"),
    }
    assert!(matches!(add("localhost", None), Err(NamesError::Localhost)));
    assert!(matches!(
        add("bad_name", None),
        Err(NamesError::BadName { .. })
    ));
    assert!(matches!(
        add("x.test", Some("10.0.0.2")),
        Err(NamesError::BadAddress { .. })
    ));
    match add("x.test", Some("127.0.0.5")) {
        Err(NamesError::AddressInUse { by, .. }) => assert!(by.contains("line 3"), "{by}"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        add("x.test", Some("127.0.0.7")),
        Err(NamesError::AddressInUse { .. })
    ));
    match plan_remove(hosts, "/etc/hosts", "nas.test", &s) {
        Err(NamesError::NotManaged { hint, .. }) => assert!(hint.contains("line 2")),
        other => panic!("{other:?}"),
    }
    let broken = b"# BEGIN loopback names\n127.0.0.2 a.test\n";
    assert!(matches!(
        plan_add(broken, "/etc/hosts", "b.test", None, &s),
        Err(NamesError::Block { .. })
    ));
}

#[test]
fn every_address_taken() {
    let mut hosts = String::new();
    for d in 1..=254 {
        hosts.push_str(&format!("127.0.0.{d} h{d}\n"));
    }
    let s = snap(Os::Linux, b"", b"", &[]);
    assert!(matches!(
        plan_add(hosts.as_bytes(), "/etc/hosts", "x.test", None, &s),
        Err(NamesError::NoFreeAddress { .. })
    ));
    assert!(plan_add(
        hosts.as_bytes(),
        "/etc/hosts",
        "x.test",
        Some(ip("127.0.1.1")),
        &s
    )
    .is_ok());
}

#[test]
fn macos_plans_the_alias_and_checks_it() {
    let s = snap(Os::Macos, b"", b"", &[]);
    let e = plan_add(b"127.0.0.1 localhost\n", "/etc/hosts", "api.test", None, &s).expect("adds");
    assert_eq!(e.plan, vec!["ifconfig lo0 alias 127.0.0.2 up"]);
    let bytes = e.bytes.expect("changes");
    let r = plan_remove(&bytes, "/etc/hosts", "api.test", &s).expect("removes");
    assert!(r.plan.is_empty(), "never aliased, nothing to undo");
    assert_eq!(r.bytes.as_deref(), Some(&b"127.0.0.1 localhost\n"[..]));
    assert_eq!(
        assigned(&s, ip("127.0.0.2")),
        Some(false),
        "macOS needs the exact address"
    );
    let linux = snap(Os::Linux, b"", b"", &[]);
    assert_eq!(
        assigned(&linux, ip("127.0.0.2")),
        Some(true),
        "127.0.0.1/8 covers it"
    );
    let v = judge_verify(&snap(Os::Macos, &bytes, b"", &[]), &[], true).expect("verifies");
    assert!(v.names[0]
        .findings
        .iter()
        .any(|f| f.code == NameFindingCode::NotAssigned
            && f.fix.as_deref() == Some("ifconfig lo0 alias 127.0.0.2 up")));
    assert_eq!(v.names[0].clients[0].client, NameClient::System);
}

fn client(
    v: &loopback_model::names::NameCheck,
    c: NameClient,
) -> &loopback_model::names::ClientAnswer {
    v.clients.iter().find(|x| x.client == c).expect("client")
}

#[test]
fn verify_a_test_name_agrees_everywhere() {
    let s0 = snap(Os::Linux, DEBIAN, b"hosts: files dns\n", &[]);
    let e = plan_add(DEBIAN, "/etc/hosts", "api.test", None, &s0).expect("adds");
    let bytes = e.bytes.expect("changes");
    let v = judge_verify(
        &snap(Os::Linux, &bytes, b"hosts: files dns\n", &[]),
        &[],
        true,
    )
    .expect("verifies");
    assert!(!v.needs_attention(), "{v:#?}");
    let n = &v.names[0];
    assert_eq!(n.assigned, Some(true));
    for c in &n.clients {
        assert_eq!(c.addresses, vec![ip("127.0.0.2")], "{c:?}");
        assert!(c.agrees);
    }
    assert!(client(n, NameClient::Go).because.contains("itself"));
    assert!(client(n, NameClient::Glibc).tested);
    assert!(!client(n, NameClient::Firefox).tested);
}

#[test]
fn verify_flags_a_localhost_name_for_rfc6761_clients() {
    let s0 = snap(Os::Linux, DEBIAN, b"", &[]);
    let e = plan_add(
        DEBIAN,
        "/etc/hosts",
        "api.localhost",
        Some(ip("127.0.0.7")),
        &s0,
    )
    .expect("adds");
    assert!(e.notes.iter().any(|n| n.contains(".localhost")));
    let bytes = e.bytes.expect("changes");
    let v = judge_verify(
        &snap(Os::Linux, &bytes, b"hosts: files myhostname dns\n", &[]),
        &["api.localhost".into()],
        true,
    )
    .expect("verifies");
    let n = &v.names[0];
    assert!(v.needs_attention());
    for (c, agrees) in [
        (NameClient::Glibc, true),
        (NameClient::Python, true),
        (NameClient::Node, true),
        (NameClient::Go, true),
        (NameClient::Curl, false),
        (NameClient::Chromium, false),
        (NameClient::Firefox, false),
    ] {
        assert_eq!(client(n, c).agrees, agrees, "{c}");
    }
    assert_eq!(
        client(n, NameClient::Curl).addresses,
        vec![ip("127.0.0.1"), ip("::1")]
    );
    assert!(
        client(n, NameClient::Go).because.contains("C library")
            || client(n, NameClient::Go).because.contains("glibc"),
        "myhostname with a localhost name sends Go to the C library: {}",
        client(n, NameClient::Go).because
    );
    let codes: Vec<_> = n.findings.iter().map(|f| f.code).collect();
    assert!(codes.contains(&NameFindingCode::LocalhostName));
    assert!(codes.contains(&NameFindingCode::ClientDisagrees));
    let fix = n.findings[0].fix.as_deref().unwrap_or("");
    assert!(fix.contains("api.test"), "{fix}");
}

#[test]
fn verify_models_sources_before_files() {
    let hosts = b"# BEGIN loopback names\n127.0.0.9 web.localhost\n127.0.0.3 a.test\n# END loopback names\n";
    let v = judge_verify(
        &snap(Os::Linux, hosts, b"hosts: myhostname files\n", &[]),
        &[],
        false,
    )
    .expect("verifies");
    let web = &v.names[0];
    assert!(
        !client(web, NameClient::Glibc).agrees,
        "myhostname answers *.localhost first"
    );
    assert!(!client(web, NameClient::Glibc).tested);
    let a = &v.names[1];
    assert!(
        client(a, NameClient::Glibc).agrees,
        "myhostname passes a.test on to files"
    );
    assert_eq!(v.notes.len(), 1, "the clients read another file");
    let dns_first = judge_verify(
        &snap(Os::Linux, hosts, b"hosts: dns files\n", &[]),
        &["a.test".into()],
        true,
    )
    .expect("verifies");
    assert!(client(&dns_first.names[0], NameClient::Glibc)
        .addresses
        .is_empty());
    assert!(dns_first.needs_attention(), "not predicted is not agreeing");
    assert!(matches!(
        judge_verify(
            &snap(Os::Linux, hosts, b"", &[]),
            &["nope.test".into()],
            true
        ),
        Err(NamesError::NotManaged { .. })
    ));
}

#[test]
fn verify_reports_a_second_mapping_outside_the_block() {
    let hosts =
        b"127.0.0.50 a.test\n# BEGIN loopback names\n127.0.0.3 a.test\n# END loopback names\n";
    let v =
        judge_verify(&snap(Os::Linux, hosts, b"hosts: files\n", &[]), &[], true).expect("verifies");
    let n = &v.names[0];
    assert!(n
        .findings
        .iter()
        .any(|f| f.code == NameFindingCode::MappedOutside));
    assert!(!client(n, NameClient::Glibc).agrees, "the first line wins");
}

#[test]
fn annotate_names_listeners() {
    let hosts = b"# BEGIN loopback names\n127.0.0.3 a.test b.test\n# END loopback names\n";
    let (m, _) = managed(hosts, "/etc/hosts").expect("lists");
    let mut listeners = vec![
        crate::testing::listener(Proto::Tcp, "127.0.0.3", 80),
        crate::testing::listener(Proto::Tcp, "127.0.0.4", 80),
    ];
    annotate(&mut listeners, &m);
    let named: Vec<_> = listeners.iter().filter(|l| !l.names.is_empty()).collect();
    assert_eq!(named.len(), 1);
    assert_eq!(named[0].names, vec!["a.test", "b.test"]);
}
