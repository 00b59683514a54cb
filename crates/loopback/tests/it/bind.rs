//! `loopback bind` in namespaces: each cause against the errno of a real bind the test makes
//! itself (`lb-bind`, written apart from `loopback`), TCP and UDP, both families, with the
//! holder's pid and owner as `lb-listen` reports them.

use std::path::Path;
use std::process::Output;

use loopback_model::bind::BindReport;

use crate::support::*;

fn report(out: &Output) -> BindReport {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bind JSON {e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn bind(ns: &Netns, args: &[&str]) -> (BindReport, Option<i32>) {
    let out = ns.loopback(&[&["bind", "--json"], args].concat());
    (report(&out), out.status.code())
}

/// The oracle: what a real bind made by `lb-bind` in the namespace gets (`ok` or the errno's
/// name).
fn oracle(ns: &Netns, proto: &str, addr: &str, opts: &[&str]) -> String {
    let out = run(ns
        .cmd(example_bin("lb-bind"))
        .args([proto, addr])
        .args(opts));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn oracle_as_nobody(ns: &Netns, proto: &str, addr: &str, opts: &[&str]) -> String {
    let bin = example_bin("lb-bind");
    let args: Vec<&str> = [proto, addr]
        .into_iter()
        .chain(opts.iter().copied())
        .collect();
    let out = program_as_nobody_in(Some(ns), Path::new(&bin), &args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Each result agrees with the oracle's bind of the same address and options.
fn agrees(ns: &Netns, r: &BindReport, proto: &str, opts: &[&str]) {
    for x in &r.results {
        let addr = std::net::SocketAddr::new(x.address, x.port).to_string();
        let real = oracle(ns, proto, &addr, opts);
        let ours = x.errno.clone().unwrap_or_else(|| "ok".into());
        assert_eq!(
            ours, real,
            "{addr}: loopback says {ours}, a real bind says {real}"
        );
        assert_eq!(x.ok, real == "ok");
    }
}

fn causes(r: &BindReport) -> Vec<(String, String)> {
    r.results
        .iter()
        .map(|x| {
            (
                x.address.to_string(),
                x.cause.map_or("ok".to_owned(), |c| c.as_str().to_owned()),
            )
        })
        .collect()
}

fn pair(a: &str, c: &str) -> (String, String) {
    (a.to_owned(), c.to_owned())
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn a_dual_stack_wildcard_blocks_every_dev_server_address_and_a_v6only_one_only_ipv6() {
    require_root();
    let ns = Netns::new("bnddual");
    let srv = ns.listen(&["tcp:[::]:3000,v6only=0", "tcp:[::]:3001,v6only=1"], &[]);
    let (r, code) = bind(&ns, &["3000"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        causes(&r),
        vec![
            pair("127.0.0.1", "dual-stack-listener"),
            pair("::1", "wildcard-listener"),
            pair("0.0.0.0", "dual-stack-listener"),
            pair("::", "listener"),
        ]
    );
    agrees(&ns, &r, "tcp", &["reuseaddr"]);
    for x in &r.results {
        let h = &x.holders[0];
        assert_eq!((h.address.to_string(), h.port), ("::".to_owned(), 3000));
        assert_eq!(h.owners[0].pid, srv.pid());
        assert_eq!(h.owners[0].name, "lb-listen");
        assert_eq!(h.owners[0].user.as_deref(), Some("root"));
        assert!(!x.free_ports.is_empty() && !x.free_ports.contains(&3001));
    }
    let (r, code) = bind(&ns, &["3001"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        causes(&r),
        vec![
            pair("127.0.0.1", "ok"),
            pair("::1", "wildcard-listener"),
            pair("0.0.0.0", "ok"),
            pair("::", "listener"),
        ]
    );
    agrees(&ns, &r, "tcp", &["reuseaddr"]);
    // The human form names the holder, its owner and the fix.
    let out = ns.loopback(&["bind", "127.0.0.1:3000"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("tcp [::]:3000 listen (dual-stack)"), "{text}");
    assert!(
        text.contains(&format!("lb-listen[{}]", srv.pid())),
        "{text}"
    );
    assert!(text.contains("IPV6_V6ONLY"), "{text}");
    assert_eq!(out.status.code(), Some(1));
    // Nothing holds 3002: every address binds, exit 0.
    let (r, code) = bind(&ns, &["3002"]);
    assert_eq!((code, r.results.len()), (Some(0), 4));
    assert!(r
        .results
        .iter()
        .all(|x| x.ok && x.errno.is_none() && x.cause.is_none()));
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn udp_holders_block_unless_both_sockets_set_reuseaddr() {
    require_root();
    let ns = Netns::new("bndudp");
    let srv = ns.listen(&["udp:127.0.0.1:5300", "udp:[::1]:5301,reuseaddr=0"], &[]);
    let (r, code) = bind(&ns, &["127.0.0.1:5300", "--proto", "udp"]);
    assert_eq!((code, causes(&r)), (Some(0), vec![pair("127.0.0.1", "ok")]));
    agrees(&ns, &r, "udp", &["reuseaddr"]);
    assert_eq!(
        r.results[0].holders[0].owners[0].pid,
        srv.pid(),
        "shares, and says with whom"
    );
    let (r, code) = bind(&ns, &["127.0.0.1:5300", "--proto", "udp", "--no-reuseaddr"]);
    assert_eq!(
        (code, causes(&r)),
        (Some(1), vec![pair("127.0.0.1", "listener")])
    );
    agrees(&ns, &r, "udp", &[]);
    assert_eq!(r.results[0].holders[0].owners[0].pid, srv.pid());
    let (r, _) = bind(&ns, &["[::1]:5301", "--proto", "udp"]);
    assert_eq!(causes(&r), vec![pair("::1", "listener")]);
    agrees(&ns, &r, "udp", &["reuseaddr"]);
    // A dual-stack UDP wildcard blocks IPv4 too.
    let _dual = ns.listen(&["udp:[::]:5302,v6only=0,reuseaddr=0"], &[]);
    let (r, _) = bind(&ns, &["0.0.0.0:5302", "--proto", "udp"]);
    assert_eq!(causes(&r), vec![pair("0.0.0.0", "dual-stack-listener")]);
    agrees(&ns, &r, "udp", &["reuseaddr"]);
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn a_socket_bound_and_never_listened_on_holds_the_port_and_audit_lists_it() {
    require_root();
    let ns = Netns::new("bndbound");
    let srv = ns.listen(
        &[
            "tcp:127.0.0.1:4000,nolisten,reuseaddr=0",
            "tcp:[::1]:4001,nolisten",
        ],
        &[],
    );
    // Not in the listening table: ss -l does not show it.
    assert!(!ns.ss().iter().any(|s| s.port == 4000 || s.port == 4001));
    let (r, code) = bind(&ns, &["127.0.0.1:4000"]);
    assert_eq!(
        (code, causes(&r)),
        (Some(1), vec![pair("127.0.0.1", "bound-not-listening")])
    );
    agrees(&ns, &r, "tcp", &["reuseaddr"]);
    let h = &r.results[0].holders[0];
    assert_eq!(h.state.as_str(), "bound");
    assert_eq!(h.owners[0].pid, srv.pid());
    // Both sides set SO_REUSEADDR: they share a port neither listens on; without it, no.
    let (r, _) = bind(&ns, &["[::1]:4001"]);
    assert_eq!(causes(&r), vec![pair("::1", "ok")]);
    agrees(&ns, &r, "tcp", &["reuseaddr"]);
    let (r, _) = bind(&ns, &["[::1]:4001", "--no-reuseaddr"]);
    assert_eq!(causes(&r), vec![pair("::1", "bound-not-listening")]);
    agrees(&ns, &r, "tcp", &[]);

    let out = ns.loopback(&["audit", "--bound", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("audit JSON");
    let bound = v["bound"].as_array().expect("audit --bound lists them");
    let mut ports: Vec<u64> = bound.iter().filter_map(|b| b["port"].as_u64()).collect();
    ports.sort_unstable();
    assert_eq!(ports, vec![4000, 4001]);
    assert!(bound
        .iter()
        .all(|b| b["owners"][0]["pid"].as_u64() == Some(u64::from(srv.pid()))));
    let text = String::from_utf8_lossy(&ns.loopback(&["audit", "--bound"]).stdout).into_owned();
    assert!(
        text.contains("127.0.0.1:4000") && text.contains("bound"),
        "{text}"
    );
}

/// Wait until `ss` in the namespace shows `addr` in TIME_WAIT (the close handshake runs
/// after `lb-listen` returns), bounded.
fn wait_time_wait(ns: &Netns, addr: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let out = run(ns.cmd("ss").args(["-Htan", "state", "time-wait"]));
        if String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .any(|w| w == addr)
        {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{addr} never reached TIME_WAIT"
        );
        std::thread::yield_now();
    }
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn time_wait_blocks_without_reuseaddr_and_with_it_when_the_old_server_lacked_it() {
    require_root();
    let ns = Netns::new("bndtw");
    let _gone = ns.listen(
        &[
            "tcp:127.0.0.1:4100,timewait",
            "tcp:[::1]:4101,timewait,reuseaddr=0",
        ],
        &[],
    );
    wait_time_wait(&ns, "127.0.0.1:4100");
    wait_time_wait(&ns, "[::1]:4101");
    let (r, code) = bind(&ns, &["127.0.0.1:4100", "--no-reuseaddr"]);
    assert_eq!(
        (code, causes(&r)),
        (Some(1), vec![pair("127.0.0.1", "time-wait")])
    );
    agrees(&ns, &r, "tcp", &[]);
    let h = &r.results[0].holders[0];
    assert_eq!(h.state.as_str(), "time-wait");
    assert!(h.owners.is_empty(), "the kernel holds TIME_WAIT");
    assert!(r.results[0]
        .fix
        .as_deref()
        .unwrap_or("")
        .contains("set SO_REUSEADDR"));
    let (r, code) = bind(&ns, &["127.0.0.1:4100"]);
    assert_eq!((code, causes(&r)), (Some(0), vec![pair("127.0.0.1", "ok")]));
    agrees(&ns, &r, "tcp", &["reuseaddr"]);
    // The old server did not set SO_REUSEADDR: its TIME_WAIT blocks even a socket that does.
    let (r, _) = bind(&ns, &["[::1]:4101"]);
    assert_eq!(causes(&r), vec![pair("::1", "time-wait")]);
    agrees(&ns, &r, "tcp", &["reuseaddr"]);
    assert!(r.results[0]
        .fix
        .as_deref()
        .unwrap_or("")
        .contains("did not set SO_REUSEADDR"));
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn a_reuseport_group_admits_only_its_own_user() {
    require_root();
    let ns = Netns::new("bndrp");
    let _srv = ns.listen(
        &["tcp:127.0.0.1:4200,reuseport", "udp:[::1]:4201,reuseport"],
        &[],
    );
    // As root, the group's user, --reuseport joins; as nobody it does not.
    let (r, _) = bind(&ns, &["127.0.0.1:4200", "--reuseport"]);
    assert_eq!(causes(&r), vec![pair("127.0.0.1", "ok")]);
    agrees(&ns, &r, "tcp", &["reuseaddr", "reuseport"]);
    // UDP sockets that both set SO_REUSEADDR share a port whoever owns them: the UDP bind
    // leaves it off to meet the group's rule.
    for (proto, addr, reuse) in [
        ("tcp", "127.0.0.1:4200", "--reuseaddr"),
        ("udp", "[::1]:4201", "--no-reuseaddr"),
    ] {
        let out = as_nobody_in(
            Some(&ns),
            &[
                "bind",
                "--json",
                "--reuseport",
                reuse,
                "--proto",
                proto,
                addr,
            ],
        );
        let r = report(&out);
        assert_eq!(out.status.code(), Some(1));
        let x = &r.results[0];
        assert_eq!(
            x.cause.map(|c| c.as_str()),
            Some("reuseport-other-user"),
            "{x:?}"
        );
        assert_eq!(x.holders[0].uid, Some(0));
        let opts: &[&str] = if proto == "tcp" {
            &["reuseaddr", "reuseport"]
        } else {
            &["reuseport"]
        };
        let real = oracle_as_nobody(&ns, proto, addr, opts);
        assert_eq!(x.errno.as_deref(), Some(real.as_str()));
    }
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn ports_below_the_unprivileged_start_need_the_capability() {
    require_root();
    let ns = Netns::new("bndpriv");
    ns.sysctl("net.ipv4.ip_unprivileged_port_start=1024");
    let out = as_nobody_in(Some(&ns), &["bind", "--json", "80"]);
    let r = report(&out);
    assert_eq!(out.status.code(), Some(1));
    for x in &r.results {
        assert_eq!(
            x.cause.map(|c| c.as_str()),
            Some("privileged-port"),
            "{x:?}"
        );
        let addr = std::net::SocketAddr::new(x.address, 80).to_string();
        assert_eq!(
            x.errno.as_deref(),
            Some(oracle_as_nobody(&ns, "tcp", &addr, &["reuseaddr"]).as_str())
        );
        assert!(x
            .fix
            .as_deref()
            .unwrap_or("")
            .contains("CAP_NET_BIND_SERVICE"));
        assert!(x.free_ports.iter().all(|p| *p >= 1024));
    }
    // Root has the capability: the same binds succeed.
    let (r, code) = bind(&ns, &["80"]);
    assert_eq!(code, Some(0));
    agrees(&ns, &r, "tcp", &["reuseaddr"]);
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn addresses_this_host_lacks_and_ipv6_disabled_on_lo() {
    require_root();
    let ns = Netns::with_lan("bndaddr");
    for target in ["198.18.99.1:3000", "[fd00:99::1]:3000"] {
        let (r, code) = bind(&ns, &[target, "--proto", "udp"]);
        assert_eq!(code, Some(1));
        assert_eq!(
            r.results[0].cause.map(|c| c.as_str()),
            Some("address-not-local")
        );
        agrees(&ns, &r, "udp", &["reuseaddr"]);
    }
    // The host's own LAN address binds.
    let (r, code) = bind(&ns, &["198.18.0.1:3000"]);
    assert_eq!(
        (code, causes(&r)),
        (Some(0), vec![pair("198.18.0.1", "ok")])
    );
    ns.sysctl("net.ipv6.conf.lo.disable_ipv6=1");
    let (r, code) = bind(&ns, &["[::1]:3000"]);
    assert_eq!(
        (code, causes(&r)),
        (Some(1), vec![pair("::1", "ipv6-disabled")])
    );
    agrees(&ns, &r, "tcp", &["reuseaddr"]);
    assert!(r.results[0]
        .fix
        .as_deref()
        .unwrap_or("")
        .contains("net.ipv6.conf.lo.disable_ipv6=0"));
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn a_name_binds_each_of_its_addresses_and_the_ephemeral_range_is_warned() {
    require_root();
    let ns = Netns::new("bndname");
    ns.etc_file("hosts", "127.0.0.1 localhost\n::1 localhost\n");
    let srv = ns.listen(&["tcp:127.0.0.1:3000"], &[]);
    let (r, code) = bind(&ns, &["localhost:3000"]);
    assert_eq!(code, Some(1));
    let mut got: Vec<String> = r.results.iter().map(|x| x.address.to_string()).collect();
    let mut want = ns.getent("ahosts", "localhost");
    got.sort();
    want.sort();
    want.dedup();
    assert_eq!(got, want, "every address getent gives, once");
    for x in &r.results {
        if x.address.is_ipv4() {
            assert_eq!(x.cause.map(|c| c.as_str()), Some("listener"));
            assert_eq!(x.holders[0].owners[0].pid, srv.pid());
        } else {
            assert!(x.ok);
        }
    }
    let range = String::from_utf8_lossy(
        &run(ns
            .cmd("sysctl")
            .args(["-n", "net.ipv4.ip_local_port_range"]))
        .stdout,
    )
    .split_whitespace()
    .collect::<Vec<_>>()
    .join("-");
    let (r, code) = bind(&ns, &["127.0.0.1:40000"]);
    assert_eq!(code, Some(0));
    assert!(
        r.warnings
            .iter()
            .any(|w| w.contains(&format!("ephemeral range {range}"))),
        "{:?}",
        r.warnings
    );
    let (r, _) = bind(&ns, &["127.0.0.1:3001"]);
    assert!(!r.warnings.iter().any(|w| w.contains("ephemeral")));
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn bad_input_is_an_error_that_changes_nothing() {
    require_root();
    let ns = Netns::new("bndbad");
    for (args, says) in [
        (vec!["0"], "1 to 65535"),
        (vec!["65536"], "1 to 65535"),
        (vec!["127.0.0.1:99999"], "1 to 65535"),
        (vec!["nosuchname.invalid:3000"], "does not resolve"),
        (vec!["127.0.0.1:3000", "--v6only"], "IPv4 only"),
        (vec!["::1:3000"], "brackets"),
    ] {
        let out = ns.loopback(&[&["bind"], args.as_slice()].concat());
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(out.stdout.is_empty(), "{args:?}");
    }
}
