//! `loopback audit` against real listeners in network namespaces, checked against `ss`.

use std::collections::BTreeSet;

use loopback_model::{AuditReport, BindScope, Listener, Proto, SocketSourceKind, Verdict};

use crate::support::{require_root, Netns};

fn report(out: &std::process::Output) -> AuditReport {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "audit JSON did not parse ({e}); stdout: {} stderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn find(r: &AuditReport, proto: Proto, port: u16) -> &Listener {
    r.listeners
        .iter()
        .find(|l| l.proto == proto && l.port == port)
        .unwrap_or_else(|| panic!("no {proto} listener on {port} in {:#?}", r.listeners))
}

/// proto, port, address, v6only, interface, bind scope, exposed, reachable via
type Expect<'a> = (
    Proto,
    u16,
    &'a str,
    Option<bool>,
    Option<&'a str>,
    BindScope,
    bool,
    &'a Vec<String>,
);

/// proto, address, port, inode, owner pids, bound device
type SockKey = (String, String, u16, u64, BTreeSet<u32>, Option<String>);

const LAN_SPECS: &[&str] = &[
    "tcp:[::]:7001,v6only=0",
    "tcp:[::]:7002,v6only=1",
    "tcp:[::1]:7003",
    "tcp:127.0.0.2:7004",
    "tcp:[::ffff:127.0.0.1]:7005",
    "tcp:198.19.0.53:7006",
    "tcp:0.0.0.0:7007,dev=lo",
    "udp:0.0.0.0:7008",
    "udp:127.0.0.1:7009",
    "udp:[::]:7010,v6only=1",
    "tcp:198.18.0.1:7011",
    "tcp:0.0.0.0:7012,shared",
    "udp-client:127.0.0.1:9",
];

fn lan_namespace() -> Netns {
    let ns = Netns::with_lan("audit");
    // A router-style stable address: a /32 on lo that is not in 127/8.
    ns.ip(&["addr", "add", "198.19.0.53/32", "dev", "lo"]);
    ns
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn audit_classifies_every_kind_of_listener_in_a_lan_namespace() {
    require_root();
    let ns = lan_namespace();
    let held = ns.listen(
        LAN_SPECS,
        &["--requirepass", "hunter2", "postgres://app:s3cret@db/x"],
    );
    let out = ns.loopback(&["audit", "--json"]);
    assert_eq!(out.status.code(), Some(1), "exposed listeners exit 1");
    let r = report(&out);
    assert_eq!(r.version, 5);
    assert_eq!(r.source, SocketSourceKind::Netlink);

    let lan = vec!["lo".to_owned(), "lan0".to_owned()];
    let lo = vec!["lo".to_owned()];
    // (proto, port, address, v6only, interface, scope, exposed, reachable_via)
    let expected: Vec<Expect> = vec![
        (
            Proto::Tcp,
            7001,
            "::",
            Some(false),
            None,
            BindScope::Wildcard,
            true,
            &lan,
        ),
        (
            Proto::Tcp,
            7002,
            "::",
            Some(true),
            None,
            BindScope::Wildcard,
            true,
            &lan,
        ),
        (
            Proto::Tcp,
            7003,
            "::1",
            Some(true),
            None,
            BindScope::Loopback,
            false,
            &lo,
        ),
        (
            Proto::Tcp,
            7004,
            "127.0.0.2",
            None,
            None,
            BindScope::Loopback,
            false,
            &lo,
        ),
        (
            Proto::Tcp,
            7005,
            "::ffff:127.0.0.1",
            Some(false),
            None,
            BindScope::Loopback,
            false,
            &lo,
        ),
        (
            Proto::Tcp,
            7006,
            "198.19.0.53",
            None,
            None,
            BindScope::Specific,
            true,
            &lan,
        ),
        (
            Proto::Tcp,
            7007,
            "0.0.0.0",
            None,
            Some("lo"),
            BindScope::Loopback,
            false,
            &lo,
        ),
        (
            Proto::Udp,
            7008,
            "0.0.0.0",
            None,
            None,
            BindScope::Wildcard,
            true,
            &lan,
        ),
        (
            Proto::Udp,
            7009,
            "127.0.0.1",
            None,
            None,
            BindScope::Loopback,
            false,
            &lo,
        ),
        (
            Proto::Udp,
            7010,
            "::",
            Some(true),
            None,
            BindScope::Wildcard,
            true,
            &lan,
        ),
        (
            Proto::Tcp,
            7011,
            "198.18.0.1",
            None,
            None,
            BindScope::Specific,
            true,
            &lan,
        ),
        (
            Proto::Tcp,
            7012,
            "0.0.0.0",
            None,
            None,
            BindScope::Wildcard,
            true,
            &lan,
        ),
    ];
    for (proto, port, addr, v6only, iface, scope, exposed, via) in expected {
        let l = find(&r, proto, port);
        let ctx = format!("{proto} {port}: {l:#?}");
        assert_eq!(l.address.to_string(), addr, "{ctx}");
        assert_eq!(l.v6only, v6only, "{ctx}");
        assert_eq!(l.interface.as_deref(), iface, "{ctx}");
        assert_eq!(l.bind_scope, scope, "{ctx}");
        assert_eq!(l.exposed, exposed, "{ctx}");
        assert_eq!(&*l.reachable_via, via.as_slice(), "{ctx}");
        assert_eq!(
            l.verdict,
            if exposed {
                Verdict::Exposed
            } else {
                Verdict::Ok
            },
            "{ctx}"
        );
        let pids: Vec<u32> = l.owners.iter().map(|o| o.pid).collect();
        if port == 7012 {
            assert_eq!(pids, held.pids, "the pre-forked listener has both owners");
        } else {
            assert_eq!(pids, vec![held.pid()], "{ctx}");
        }
        let me = &l.owners[0];
        assert_eq!(&*me.name, "lb-listen");
        assert_eq!(me.user.as_deref(), Some("root"));
        assert!(
            me.cmdline.contains("--requirepass <redacted>"),
            "{}",
            me.cmdline
        );
        assert!(
            me.cmdline.contains("postgres://app:<redacted>@db/x"),
            "{}",
            me.cmdline
        );
        assert!(!me.cmdline.contains("hunter2") && !me.cmdline.contains("s3cret"));
    }
    assert_eq!(r.listeners.len(), 12, "{:#?}", r.listeners);
    // Exposed listeners come first.
    let first_ok = r
        .listeners
        .iter()
        .position(|l| !l.exposed)
        .expect("some ok");
    assert!(r.listeners[first_ok..].iter().all(|l| !l.exposed));

    // The autobound UDP client is reported apart, not as a listener.
    assert_eq!(r.udp_clients.len(), 1, "{:#?}", r.udp_clients);
    assert_eq!(r.udp_clients[0].address.to_string(), "0.0.0.0");

    // Oracle: ss sees the same sockets (listeners + UDP clients) with the same owners.
    let ss = ns.ss();
    let ours: BTreeSet<SockKey> = r
        .listeners
        .iter()
        .chain(&r.udp_clients)
        .map(|l| {
            (
                l.proto.to_string(),
                l.address.to_string(),
                l.port,
                l.inode,
                l.owners.iter().map(|o| o.pid).collect(),
                l.interface.clone(),
            )
        })
        .collect();
    let theirs: BTreeSet<SockKey> = ss
        .iter()
        .map(|s| {
            (
                s.proto.clone(),
                s.address.clone(),
                s.port,
                s.inode,
                s.pids.clone(),
                s.device.clone(),
            )
        })
        .collect();
    assert_eq!(ours, theirs);
    drop(held);
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn lo_only_namespace_exposes_nothing() {
    require_root();
    let ns = Netns::new("loonly");
    let _held = ns.listen(
        &[
            "tcp:0.0.0.0:7100",
            "tcp:[::]:7101,v6only=0",
            "udp:0.0.0.0:7102",
            "tcp:127.0.0.1:7103",
        ],
        &[],
    );
    let out = ns.loopback(&["audit", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&out);
    assert_eq!(r.listeners.len(), 4);
    for port in [7100, 7101, 7102] {
        let proto = if port == 7102 { Proto::Udp } else { Proto::Tcp };
        let l = find(&r, proto, port);
        assert_eq!(l.bind_scope, BindScope::Wildcard);
        assert!(!l.exposed);
        assert_eq!(*l.reachable_via, ["lo"]);
        assert_eq!(l.verdict, Verdict::Ok);
    }
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn proc_fallback_agrees_with_netlink() {
    require_root();
    let ns = lan_namespace();
    let _held = ns.listen(LAN_SPECS, &[]);
    let netlink = report(&ns.loopback(&["audit", "--json", "--source", "netlink"]));
    let proc = report(&ns.loopback(&["audit", "--json", "--source", "proc"]));
    assert_eq!(proc.source, SocketSourceKind::Proc);
    assert!(proc.warnings.iter().any(|w| w.contains("/proc/net")));
    let key = |r: &AuditReport| -> BTreeSet<(Proto, String, u16, u64, Vec<u32>)> {
        r.listeners
            .iter()
            .map(|l| {
                (
                    l.proto,
                    l.address.to_string(),
                    l.port,
                    l.inode,
                    l.owners.iter().map(|o| o.pid).collect(),
                )
            })
            .collect()
    };
    assert_eq!(key(&netlink), key(&proc));
    // /proc cannot tell v6only; the IPv6 wildcard is assumed dual-stack and says so.
    let v6only_socket = find(&proc, Proto::Tcp, 7002);
    assert_eq!(v6only_socket.v6only, None);
    assert!(v6only_socket
        .notes
        .iter()
        .any(|n| n.contains("assumed dual-stack")));
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn route_localnet_exposes_loopback_listeners_to_the_link() {
    require_root();
    let ns = Netns::with_lan("rln");
    ns.sysctl("net.ipv4.conf.lan0.route_localnet=1");
    let _held = ns.listen(&["tcp:127.0.0.1:7200", "tcp:[::1]:7201"], &[]);
    let out = ns.loopback(&["audit", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let r = report(&out);
    let v4 = find(&r, Proto::Tcp, 7200);
    assert_eq!(v4.bind_scope, BindScope::Loopback);
    assert!(v4.exposed);
    assert_eq!(*v4.reachable_via, ["lo", "lan0"]);
    assert!(v4.notes.iter().any(|n| n.contains("CVE-2020-8558")));
    // The change is the sysctl, not the bind address (already loopback).
    let fix = v4.fix.as_deref().unwrap_or_default();
    assert!(
        fix.starts_with("turn route_localnet off: `sysctl -w net.ipv4.conf.all.route_localnet=0 net.ipv4.conf.lan0.route_localnet=0`"),
        "{fix}"
    );
    assert!(
        !find(&r, Proto::Tcp, 7201).exposed,
        "::1 never comes from a wire"
    );
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn policy_allows_intended_exposure() {
    require_root();
    let ns = Netns::with_lan("policy");
    let _held = ns.listen(&["tcp:0.0.0.0:7300", "udp:[::]:7301,v6only=1"], &[]);
    let dir = std::env::temp_dir().join(format!("lbt-policy-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let write = |name: &str, text: &str| {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("policy");
        p.to_string_lossy().into_owned()
    };
    let all = write("all.toml", "[[allow]]\nproto = \"tcp\"\nport = 7300\nprocess = \"lb-listen\"\n\n[[allow]]\naddress = \"::\"\nport = \"7000-7999\"\nuser = \"root\"\n");
    let out = ns.loopback(&["audit", "--json", "--policy", &all]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&out);
    assert_eq!(find(&r, Proto::Tcp, 7300).verdict, Verdict::Allowed);
    assert_eq!(find(&r, Proto::Tcp, 7300).allowed_by, Some(0));
    assert_eq!(find(&r, Proto::Udp, 7301).allowed_by, Some(1));

    let partial = write("partial.toml", "[[allow]]\nproto = \"udp\"\n");
    let out = ns.loopback(&["audit", "--json", "--policy", &partial]);
    assert_eq!(out.status.code(), Some(1));
    let r = report(&out);
    assert_eq!(find(&r, Proto::Tcp, 7300).verdict, Verdict::Exposed);
    assert_eq!(find(&r, Proto::Udp, 7301).verdict, Verdict::Allowed);

    let bad = write("bad.toml", "[[allow]]\nport = 7300\nprocesss = \"x\"\n");
    let out = ns.loopback(&["audit", "--policy", &bad]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty(), "an error prints no data");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("line 3") && err.contains("bad.toml"), "{err}");

    let out = ns.loopback(&["audit", "--policy", "/nonexistent/policy.toml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/policy.toml"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn human_table_reads_without_colour() {
    require_root();
    let ns = Netns::with_lan("human");
    let _held = ns.listen(
        &[
            "tcp:0.0.0.0:7400",
            "tcp:127.0.0.1:7401",
            "tcp:[::]:7402,v6only=1",
        ],
        &["--password=hunter2"],
    );
    let out = ns.loopback(&["audit"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        !text.contains('\x1b'),
        "no colour when not a terminal:\n{text}"
    );
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("VERDICT"), "{text}");
    // The LOCAL column is the third; detail lines under a row are indented.
    let row = |needle: &str| {
        lines
            .iter()
            .find(|l| l.split_whitespace().nth(2) == Some(needle))
            .copied()
            .unwrap_or_else(|| panic!("no row {needle} in\n{text}"))
    };
    assert!(row("0.0.0.0:7400").starts_with("exposed"));
    assert!(row("127.0.0.1:7401").starts_with("ok"));
    assert!(row("[::]:7402").contains("v6only"));
    assert!(
        text.contains("--password=<redacted>") && !text.contains("hunter2"),
        "{text}"
    );
    assert!(text.contains("3 listeners: 2 exposed"), "{text}");
    let coloured = ns.loopback(&["--color", "always", "audit"]);
    assert!(String::from_utf8_lossy(&coloured.stdout).contains("\x1b[31mexposed"));
    let no_color = ns
        .cmd(crate::support::loopback_bin())
        .args(["audit"])
        .env("NO_COLOR", "1")
        .output()
        .expect("run");
    assert!(!String::from_utf8_lossy(&no_color.stdout).contains('\x1b'));
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn dual_stack_wildcard_is_exposed_through_an_ipv4_only_link_and_v6only_is_not() {
    require_root();
    let ns = Netns::with_lan("v4only");
    // No IPv6 at all on the LAN link, not even link-local.
    ns.sysctl("net.ipv6.conf.lan0.disable_ipv6=1");
    let _held = ns.listen(
        &[
            "tcp:[::]:7600,v6only=0",
            "tcp:[::]:7601,v6only=1",
            "udp:[::]:7602,v6only=1",
        ],
        &[],
    );
    let out = ns.loopback(&["audit", "--json"]);
    let r = report(&out);
    let dual = find(&r, Proto::Tcp, 7600);
    assert!(dual.exposed);
    assert_eq!(*dual.reachable_via, ["lo", "lan0"]);
    for (proto, port) in [(Proto::Tcp, 7601), (Proto::Udp, 7602)] {
        let l = find(&r, proto, port);
        assert_eq!(l.v6only, Some(true));
        assert!(!l.exposed, "{l:#?}");
        assert_eq!(*l.reachable_via, ["lo"]);
    }
    assert_eq!(out.status.code(), Some(1));
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn without_privilege_listeners_are_listed_and_missing_owners_say_why() {
    require_root();
    let ns = Netns::with_lan("unpriv");
    let _held = ns.listen(&["tcp:0.0.0.0:7700"], &[]);
    let out = crate::support::as_nobody_in(Some(&ns), &["audit", "--json", "--uplink", "lan0"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r = report(&out);
    let l = find(&r, Proto::Tcp, 7700);
    assert!(l.owners.is_empty());
    assert!(
        l.notes.iter().any(|n| n.contains("CAP_SYS_PTRACE")),
        "{:?}",
        l.notes
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("could not be read"));
    // The packet filter cannot be listed without CAP_NET_ADMIN: the path is unknown (still
    // exposed), and the warning names the capability.
    let e = l.exposure.as_ref().expect("exposure");
    assert_eq!(e.state, loopback_model::ExposureState::Unknown, "{e:?}");
    assert!(
        r.warnings.iter().any(|w| w.contains("needs CAP_NET_ADMIN")),
        "{:?}",
        r.warnings
    );
}
