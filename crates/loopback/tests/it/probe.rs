//! `loopback probe` scenarios in namespaces: what curl would hit, and why.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use loopback_model::ProbeReport;

use crate::support::{require_root, Netns};

fn probe(ns: &Netns, args: &[&str]) -> (ProbeReport, Option<i32>, Duration) {
    let start = Instant::now();
    let out = ns.loopback(&[&["probe", "--json"], args].concat());
    let wall = start.elapsed();
    let r = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("probe JSON {e}: {}", String::from_utf8_lossy(&out.stderr)));
    (r, out.status.code(), wall)
}

fn results(r: &ProbeReport) -> Vec<(String, String)> {
    r.attempts
        .iter()
        .map(|a| (a.address.to_string(), a.result.as_str().to_owned()))
        .collect()
}

fn both_localhost(ns: &Netns) {
    ns.etc_file("hosts", "127.0.0.1 localhost\n::1 localhost\n");
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn server_on_ipv4_only_while_localhost_resolves_to_ipv6_first_is_a_mismatch() {
    require_root();
    let ns = Netns::new("prbmis");
    both_localhost(&ns);
    let _srv = ns.listen(&["tcp:127.0.0.1:8100"], &[]);
    let (r, code, _) = probe(&ns, &["localhost:8100"]);
    assert_eq!(
        results(&r),
        vec![
            ("::1".into(), "refused".into()),
            ("127.0.0.1".into(), "connected".into())
        ]
    );
    assert_eq!(r.diagnosis.code, "mismatch");
    assert!(
        r.diagnosis
            .summary
            .contains("Node.js without autoSelectFamily (its default before Node 20) fails"),
        "{}",
        r.diagnosis.summary
    );
    assert_eq!(code, Some(1));
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn server_on_ipv6_only_while_localhost_is_ipv4_only_is_refused_and_named() {
    require_root();
    let ns = Netns::new("prbref");
    ns.etc_file("hosts", "127.0.0.1 localhost\n");
    let srv = ns.listen(&["tcp:[::1]:8101"], &[]);
    let (r, code, _) = probe(&ns, &["localhost:8101"]);
    assert_eq!(results(&r), vec![("127.0.0.1".into(), "refused".into())]);
    assert_eq!(r.diagnosis.code, "refused");
    let s = &r.diagnosis.summary;
    assert!(
        s.contains(&format!("tcp [::1]:8101 (lb-listen[{}])", srv.pid())),
        "{s}"
    );
    assert!(s.contains("does not reach it"), "{s}");
    assert_eq!(r.listeners.len(), 1);
    assert_eq!(code, Some(1));
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn dual_stack_server_is_ok() {
    require_root();
    let ns = Netns::new("prbok");
    both_localhost(&ns);
    let _srv = ns.listen(&["tcp:[::]:8102,v6only=0"], &[]);
    let (r, code, _) = probe(&ns, &["localhost:8102"]);
    assert_eq!(r.diagnosis.code, "ok", "{:?}", r.diagnosis);
    assert!(r
        .attempts
        .iter()
        .all(|a| a.result == "connected" && a.time_ms.is_some()));
    assert_eq!(code, Some(0));
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn a_port_dropped_by_nftables_is_filtered_in_bounded_time() {
    require_root();
    let ns = Netns::new("prbnft");
    both_localhost(&ns);
    let _srv = ns.listen(&["tcp:[::]:8103,v6only=0"], &[]);
    for args in [
        vec!["add", "table", "inet", "lbtest"],
        vec![
            "add",
            "chain",
            "inet",
            "lbtest",
            "input",
            "{ type filter hook input priority 0; }",
        ],
        vec![
            "add", "rule", "inet", "lbtest", "input", "tcp", "dport", "8103", "drop",
        ],
    ] {
        let out = ns.cmd("nft").args(&args).output().expect("nft");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (r, code, wall) = probe(&ns, &["--timeout-ms", "400", "localhost:8103"]);
    assert_eq!(r.diagnosis.code, "filtered", "{:?}", r.diagnosis);
    assert!(r.attempts.iter().all(|a| a.result == "timeout"));
    assert_eq!(code, Some(1));
    // The port-specific rule is named, evaluated on the loopback path, with the command that
    // removes it (its handle from `nft -a`).
    let handle = {
        let out = ns
            .cmd("nft")
            .args(["-a", "list", "chain", "inet", "lbtest", "input"])
            .output()
            .expect("nft");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        text.lines()
            .find(|l| l.contains("dport 8103 drop"))
            .and_then(|l| l.rsplit_once("# handle "))
            .map(|(_, h)| h.trim().to_owned())
            .expect("the rule's handle")
    };
    assert!(
        r.diagnosis
            .summary
            .contains("dropped on the way in by nft: inet lbtest input: tcp dport 8103 drop"),
        "{}",
        r.diagnosis.summary
    );
    assert_eq!(r.diagnosis.rules.len(), 1);
    assert!(
        r.diagnosis.rules[0].handle.is_some(),
        "{}",
        r.diagnosis.summary
    );
    assert_eq!(
        r.diagnosis.fix.as_deref(),
        Some(format!("nft delete rule inet lbtest input handle {handle} (then make the change permanent in the firewall's configuration)").as_str())
    );
    // Two addresses at 400 ms each; the bound guards against hangs, not speed.
    assert!(wall < Duration::from_secs(3), "{wall:?}");
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn http_status_from_a_real_http_server() {
    require_root();
    let ns = Netns::new("prbhttp");
    both_localhost(&ns);
    let dir = std::env::temp_dir();
    let mut server = ns
        .cmd("python3")
        .args(["-u", "-m", "http.server", "--bind", "::", "8104"])
        .current_dir(&dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .expect("python3 (scripts/test installs it)");
    // http.server prints "Serving HTTP on ..." once it is bound.
    let mut line = String::new();
    BufReader::new(server.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("server output");
    assert!(line.contains("Serving HTTP"), "{line}");
    let (r, code, _) = probe(&ns, &["--http", "localhost:8104"]);
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(r.diagnosis.code, "ok", "{:?}", r);
    for a in &r.attempts {
        assert_eq!(a.http_status, Some(200), "{a:?}");
        assert!(
            a.http_status_line
                .as_deref()
                .is_some_and(|l| l.starts_with("HTTP/1.0 200")),
            "{a:?}"
        );
    }
    assert_eq!(code, Some(0));
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn udp_probe_of_a_closed_port_is_refused() {
    require_root();
    let ns = Netns::new("prbudp");
    ns.etc_file("hosts", "127.0.0.1 localhost\n");
    let (r, code, _) = probe(&ns, &["--udp", "localhost:8105"]);
    assert_eq!(r.proto, loopback_model::Proto::Udp);
    assert_eq!(results(&r), vec![("127.0.0.1".into(), "refused".into())]);
    assert_eq!(r.diagnosis.code, "refused");
    assert_eq!(code, Some(1));
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn unresolvable_name_and_bad_target() {
    require_root();
    let ns = Netns::new("prbunres");
    ns.etc_file("hosts", "127.0.0.1 localhost\n");
    let (r, code, _) = probe(&ns, &["nothing.test:80"]);
    assert_eq!(r.diagnosis.code, "unresolved");
    assert_eq!(code, Some(1));
    let out = Command::new(crate::support::loopback_bin())
        .args(["probe", "localhost"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("try localhost:80, or the URL http://localhost/"),
        "{err}"
    );
    let out = Command::new(crate::support::loopback_bin())
        .args(["probe", "::1:8080"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean [::1]:8080?"));
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn a_bare_port_means_localhost_and_a_url_sets_http() {
    require_root();
    let ns = Netns::new("prbnat");
    ns.etc_file(
        "hosts",
        "127.0.0.1 localhost
",
    );
    let _srv = ns.listen(&["tcp:127.0.0.1:8190"], &[]);
    for t in ["8190", ":8190"] {
        let (r, code, _) = probe(&ns, &[t]);
        assert_eq!(r.target, t);
        assert_eq!(r.attempts.len(), 1, "{:?}", r.attempts);
        assert_eq!(r.attempts[0].address.to_string(), "127.0.0.1");
        assert_eq!(r.diagnosis.code, "ok", "{:?}", r.diagnosis);
        assert_eq!(code, Some(0));
    }
    // lb-listen accepts and says nothing: the URL made it an HTTP probe.
    let (r, _, _) = probe(
        &ns,
        &["--timeout-ms", "300", "http://localhost:8190/index.html"],
    );
    assert_eq!(r.attempts[0].result, "no-response", "{:?}", r.attempts);
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn a_reset_rule_in_front_of_a_listener_is_rejected_and_named() {
    require_root();
    let ns = Netns::new("prbrej");
    both_localhost(&ns);
    let _srv = ns.listen(&["tcp:[::]:6000,v6only=0"], &[]);
    ns.nft(
        "table inet lbrej {\n chain input { type filter hook input priority 0;\n  tcp dport 6000 reject with tcp reset\n }\n}\n",
    );
    let (r, code, _) = probe(&ns, &["--timeout-ms", "400", "localhost:6000"]);
    assert!(
        r.attempts.iter().all(|a| a.result == "refused"),
        "{:?}",
        r.attempts
    );
    assert_eq!(r.diagnosis.code, "rejected", "{:?}", r.diagnosis);
    let s = &r.diagnosis.summary;
    assert!(
        s.contains(
            "rejected on the way in by nft: inet lbrej input: tcp dport 6000 reject with tcp reset"
        ),
        "{s}"
    );
    assert!(s.contains("tcp [::]:6000"), "the listener is named: {s}");
    assert_eq!(r.diagnosis.rules.len(), 1);
    assert!(r
        .diagnosis
        .fix
        .as_deref()
        .is_some_and(|f| f.starts_with("nft delete rule inet lbrej input handle ")));
    assert_eq!(code, Some(1));
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn loopback_down_is_named_not_called_a_filter() {
    require_root();
    let ns = Netns::new("prblodown");
    both_localhost(&ns);
    ns.ip(&["link", "set", "lo", "down"]);
    let (r, code, _) = probe(&ns, &["--timeout-ms", "400", "127.0.0.1:7000"]);
    assert_eq!(
        r.diagnosis.code, "loopback-down",
        "{:?} {:?}",
        r.attempts, r.diagnosis
    );
    assert_eq!(
        r.diagnosis.fix.as_deref(),
        Some("ip link set lo up (as root)")
    );
    assert_eq!(code, Some(1));
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn localhost_pointing_at_another_host_names_the_hosts_line() {
    require_root();
    let ns = Netns::new("prbnotlo");
    ns.etc_file(
        "hosts",
        "127.0.0.1 localhost\n::1 localhost\n198.18.2.5 localhost\n",
    );
    let (r, code, _) = probe(&ns, &["--timeout-ms", "300", "localhost:8300"]);
    assert!(
        r.attempts
            .iter()
            .any(|a| a.address.to_string() == "198.18.2.5"),
        "{:?}",
        r.attempts
    );
    assert_eq!(r.diagnosis.code, "not-loopback", "{:?}", r.diagnosis);
    assert!(
        r.diagnosis
            .summary
            .contains("/etc/hosts:3: `198.18.2.5 localhost`"),
        "{}",
        r.diagnosis.summary
    );
    assert_eq!(code, Some(1));
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn a_silent_udp_listener_is_no_reply_not_filtered() {
    require_root();
    let ns = Netns::new("prbudp");
    both_localhost(&ns);
    let srv = ns.listen(&["udp:127.0.0.1:5353"], &[]);
    let (r, code, _) = probe(&ns, &["--udp", "--timeout-ms", "300", "127.0.0.1:5353"]);
    assert_eq!(r.attempts[0].result, "timeout");
    assert_eq!(r.diagnosis.code, "no-reply", "{:?}", r.diagnosis);
    assert!(
        r.diagnosis
            .summary
            .contains(&format!("udp 127.0.0.1:5353 (lb-listen[{}])", srv.pid())),
        "{}",
        r.diagnosis.summary
    );
    assert_eq!(code, Some(1));
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn two_servers_behind_one_name_are_a_split() {
    require_root();
    let ns = Netns::new("prbsplit");
    both_localhost(&ns);
    let old = ns.listen(&["tcp:[::1]:8181"], &[]);
    let new = ns.listen(&["tcp:127.0.0.1:8181"], &[]);
    let (r, code, _) = probe(&ns, &["localhost:8181"]);
    assert!(r.attempts.iter().all(|a| a.result == "connected"));
    assert_eq!(r.diagnosis.code, "split", "{:?}", r.diagnosis);
    let s = &r.diagnosis.summary;
    assert!(
        s.contains(&format!(
            "tcp [::1]:8181 (lb-listen[{}]) answers at ::1",
            old.pid()
        )),
        "{s}"
    );
    assert!(
        s.contains(&format!(
            "tcp 127.0.0.1:8181 (lb-listen[{}]) answers at 127.0.0.1",
            new.pid()
        )),
        "{s}"
    );
    assert_eq!(code, Some(1));
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn scoped_link_local_addresses_work_in_every_command() {
    require_root();
    let ns = Netns::with_lan("prbzone");
    ns.ip(&["addr", "add", "fe80::1b:1/64", "dev", "lan0", "nodad"]);
    crate::support::run(Command::new("ip").args([
        "-n",
        ns.peer_name(),
        "addr",
        "add",
        "fe80::1b:2/64",
        "dev",
        "lan0",
        "nodad",
    ]));
    let _srv = ns.listen_on_peer(&["tcp:[::]:8500"]);
    // probe: the zone goes into the socket address, and the peer answers.
    let (r, code, _) = probe(&ns, &["[fe80::1b:2%lan0]:8500"]);
    assert_eq!(results(&r), vec![("fe80::1b:2".into(), "connected".into())]);
    assert_eq!(code, Some(0));
    // The URL form writes the zone as %25.
    let out = ns.loopback(&["probe", "--json", "http://[fe80::1b:2%25lan0]:8500/"]);
    let u: ProbeReport = serde_json::from_slice(&out.stdout).expect("probe JSON");
    assert_eq!(u.attempts.len(), 1);
    // A zone that names no interface is an error that says so.
    let out = ns.loopback(&["probe", "[fe80::1b:2%nosuch0]:8500"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("zone nosuch0: no such interface"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // resolve agrees with getent, for a zone that exists and one that does not.
    for (name, found) in [("fe80::1b:2%lan0", true), ("fe80::1b:2%nosuch0", false)] {
        let getent = ns
            .cmd("getent")
            .args(["ahosts", name])
            .output()
            .expect("getent");
        assert_eq!(getent.status.success(), found, "getent {name}");
        let out = ns.loopback(&["resolve", "--json", name]);
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("resolve JSON");
        let system = v["system"].as_array().map(Vec::len).unwrap_or(0);
        let model = v["addresses"].as_array().map(Vec::len).unwrap_or(0);
        assert_eq!((system > 0, model > 0), (found, found), "{name}: {v}");
    }
    // explain reads it as the link-local address it is.
    let out = ns.loopback(&["explain", "--json", "fe80::1b:1%lan0"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("explain JSON");
    assert_eq!(v["addresses"][0]["address"], "fe80::1b:1", "{v}");
    // doctor --reach connects through the zone.
    let out = ns.loopback(&["doctor", "--json", "--reach", "[fe80::1b:2%lan0]:8500"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("doctor JSON");
    let text = v.to_string();
    assert!(
        !text.contains("Invalid argument"),
        "the scope must reach the socket: {text}"
    );
    let reach = v["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["id"] == "reach.tcp"))
        .unwrap_or_else(|| panic!("no reach.tcp check: {text}"));
    assert_eq!(reach["status"], "pass", "{reach}");
}
