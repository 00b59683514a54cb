//! `loopback doctor` against faults created for real, each in a namespace of its own.

use std::time::{Duration, Instant};

use loopback_model::{Check, CheckStatus, DoctorReport};

use crate::support::{require_root, Netns};

const GOOD_HOSTS: &str = "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n";

/// Generous: the doctor's own deadline is one second per step, all steps at once. This guards
/// against hangs; speed is measured in benchmarks, not here.
const BOUND: Duration = Duration::from_secs(3);

struct Run {
    report: DoctorReport,
    code: Option<i32>,
    wall: Duration,
}

impl Run {
    fn check(&self, id: &str) -> &Check {
        self.report
            .checks
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no check {id} in {:#?}", self.report.checks))
    }

    fn status(&self, id: &str) -> CheckStatus {
        self.check(id).status
    }
}

fn doctor(ns: &Netns, extra: &[&str]) -> Run {
    let start = Instant::now();
    let out = ns.loopback(&[&["doctor", "--json"], extra].concat());
    let wall = start.elapsed();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "doctor JSON ({e}): {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    Run {
        report,
        code: out.status.code(),
        wall,
    }
}

fn healthy_lan(tag: &str) -> Netns {
    let ns = Netns::with_lan(tag);
    ns.etc_file("hosts", GOOD_HOSTS);
    ns.ip(&["route", "add", "default", "via", "198.18.0.2"]);
    ns
}

const LOOPBACK_IDS: [&str; 14] = [
    "loopback.interface",
    "loopback.ipv4-address",
    "loopback.ipv6-address",
    "loopback.ipv4-echo",
    "loopback.ipv6-echo",
    "loopback.ipv4-tcp",
    "loopback.ipv6-tcp",
    "loopback.ipv4-udp",
    "loopback.ipv6-udp",
    "loopback.firewall",
    "loopback.interception",
    "loopback.route-localnet",
    "localhost.hosts-file",
    "localhost.resolves-loopback",
];

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn healthy_namespace_passes_every_check() {
    require_root();
    let ns = healthy_lan("dochealthy");
    let run = doctor(&ns, &[]);
    for c in &run.report.checks {
        assert_eq!(c.status, CheckStatus::Pass, "{c:#?}");
        assert!(c.fix.is_none());
    }
    let ids: Vec<&str> = run.report.checks.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(&ids[..14], &LOOPBACK_IDS);
    assert_eq!(&ids[14..], &["network.interface", "network.default-route"]);
    assert_eq!(run.code, Some(0));
    assert_eq!(run.report.version, 1);
    // Human output of the same run reads without colour and leads with the summary.
    let human = ns.loopback(&["doctor"]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.starts_with("loopback doctor: 0 failed, 0 warnings, 0 skipped, 16 passed"),
        "{text}"
    );
    assert!(!text.contains('\x1b'));
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn lo_down_is_the_named_cause() {
    require_root();
    let ns = healthy_lan("doclodown");
    ns.ip(&["link", "set", "lo", "down"]);
    let run = doctor(&ns, &[]);
    assert_eq!(run.code, Some(1));
    let iface = run.check("loopback.interface");
    assert_eq!(iface.status, CheckStatus::Fail);
    assert_eq!(iface.fix.as_deref(), Some("ip link set lo up"));
    // 127.0.0.1 stays assigned while lo is down; the kernel removes ::1.
    assert_eq!(run.status("loopback.ipv4-address"), CheckStatus::Pass);
    assert_eq!(run.status("loopback.ipv6-address"), CheckStatus::Fail);
    for id in [
        "loopback.ipv4-tcp",
        "loopback.ipv4-udp",
        "loopback.ipv6-tcp",
    ] {
        let c = run.check(id);
        assert_eq!(c.status, CheckStatus::Fail, "{c:#?}");
        assert!(c.summary.contains("lo is down"), "{c:#?}");
    }
    assert_eq!(run.status("loopback.firewall"), CheckStatus::Skip);
    assert!(run.wall < BOUND, "took {:?}", run.wall);
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn missing_127_0_0_1_is_named() {
    require_root();
    let ns = healthy_lan("docno127");
    ns.ip(&["addr", "del", "127.0.0.1/8", "dev", "lo"]);
    let run = doctor(&ns, &[]);
    assert_eq!(run.code, Some(1));
    let a = run.check("loopback.ipv4-address");
    assert_eq!(a.status, CheckStatus::Fail);
    assert_eq!(a.fix.as_deref(), Some("ip addr add 127.0.0.1/8 dev lo"));
    let tcp = run.check("loopback.ipv4-tcp");
    assert_eq!(tcp.status, CheckStatus::Fail);
    assert!(
        tcp.summary.contains("127.0.0.1 is not assigned"),
        "{tcp:#?}"
    );
    assert_eq!(run.status("loopback.ipv6-tcp"), CheckStatus::Pass);
    assert_eq!(run.status("loopback.ipv6-udp"), CheckStatus::Pass);
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn ipv6_disabled_on_lo_is_said() {
    require_root();
    let ns = healthy_lan("docnov6");
    ns.sysctl("net.ipv6.conf.lo.disable_ipv6=1");
    let run = doctor(&ns, &[]);
    let a = run.check("loopback.ipv6-address");
    assert_eq!(a.status, CheckStatus::Warn);
    assert!(a.summary.contains("disabled"), "{a:#?}");
    for id in [
        "loopback.ipv6-echo",
        "loopback.ipv6-tcp",
        "loopback.ipv6-udp",
    ] {
        assert_eq!(run.status(id), CheckStatus::Skip, "{id}");
    }
    assert_eq!(run.status("loopback.ipv4-tcp"), CheckStatus::Pass);
    assert_eq!(run.code, Some(0), "warnings alone exit 0");
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn nftables_drop_on_lo_is_blamed_and_named_in_bounded_time() {
    require_root();
    let ns = healthy_lan("docnft");
    let nft = |args: &[&str]| {
        let out = ns
            .cmd("nft")
            .args(args)
            .output()
            .expect("nft is installed (scripts/test installs nftables)");
        assert!(
            out.status.success(),
            "nft {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    nft(&["add", "table", "inet", "lbtest"]);
    nft(&[
        "add",
        "chain",
        "inet",
        "lbtest",
        "input",
        "{ type filter hook input priority 0; policy accept; }",
    ]);
    nft(&[
        "add", "rule", "inet", "lbtest", "input", "iif", "lo", "drop",
    ]);
    let run = doctor(&ns, &[]);
    assert_eq!(run.code, Some(1));
    for id in [
        "loopback.ipv4-tcp",
        "loopback.ipv6-tcp",
        "loopback.ipv4-udp",
        "loopback.ipv4-echo",
    ] {
        let c = run.check(id);
        assert_eq!(c.status, CheckStatus::Fail, "{c:#?}");
        assert_eq!(c.fix.as_deref(), Some("see loopback.firewall"), "{c:#?}");
    }
    let fw = run.check("loopback.firewall");
    assert_eq!(fw.status, CheckStatus::Fail);
    assert!(
        fw.evidence
            .iter()
            .any(|e| e.contains("table inet lbtest chain input: iif \"lo\" drop # handle")),
        "{fw:#?}"
    );
    assert_eq!(run.status("loopback.interface"), CheckStatus::Pass);
    assert!(
        run.wall < BOUND,
        "a silent drop must not hang the doctor: {:?}",
        run.wall
    );
    assert!(run.report.elapsed_ms < 3000);
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn hosts_file_without_localhost() {
    require_root();
    let ns = healthy_lan("dochostsnone");
    ns.etc_file("hosts", "198.18.0.2 peer\n");
    let run = doctor(&ns, &[]);
    assert_eq!(run.code, Some(1));
    let h = run.check("localhost.hosts-file");
    assert_eq!(h.status, CheckStatus::Fail);
    assert!(h.summary.contains("no entry for localhost"), "{h:#?}");
    // With no entry, glibc asks DNS (the namespace's own loopback here), which does not answer.
    assert_eq!(run.status("localhost.resolves-loopback"), CheckStatus::Fail);
    assert!(run.wall < BOUND, "{:?}", run.wall);
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn hosts_file_mapping_localhost_elsewhere() {
    require_root();
    let ns = healthy_lan("dochostsbad");
    ns.etc_file("hosts", "198.18.0.2 localhost\n::1 localhost\n");
    let run = doctor(&ns, &[]);
    assert_eq!(run.code, Some(1));
    let h = run.check("localhost.hosts-file");
    assert_eq!(h.status, CheckStatus::Fail);
    assert!(h.summary.contains("198.18.0.2 (line 1)"), "{h:#?}");
    let r = run.check("localhost.resolves-loopback");
    assert_eq!(r.status, CheckStatus::Fail);
    assert!(r.summary.contains("198.18.0.2"), "{r:#?}");
    // Oracle: the C library agrees about what localhost resolves to.
    let getent = ns
        .cmd("getent")
        .args(["ahosts", "localhost"])
        .output()
        .expect("getent");
    assert!(String::from_utf8_lossy(&getent.stdout).contains("198.18.0.2"));
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn route_localnet_on_a_veth_fails() {
    require_root();
    let ns = healthy_lan("docrln");
    ns.sysctl("net.ipv4.conf.lan0.route_localnet=1");
    let run = doctor(&ns, &[]);
    assert_eq!(run.code, Some(1));
    let c = run.check("loopback.route-localnet");
    assert_eq!(c.status, CheckStatus::Fail);
    assert!(
        c.evidence
            .contains(&"net.ipv4.conf.lan0.route_localnet=1".to_owned()),
        "{c:#?}"
    );
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn lo_only_namespace_warns_about_the_network_and_sends_nothing_out() {
    require_root();
    let ns = Netns::new("doclonly");
    ns.etc_file("hosts", GOOD_HOSTS);
    let run = doctor(&ns, &[]);
    assert_eq!(run.status("network.interface"), CheckStatus::Warn);
    assert_eq!(run.status("network.default-route"), CheckStatus::Warn);
    assert!(!run
        .report
        .checks
        .iter()
        .any(|c| c.id.as_str().starts_with("reach.")));
    assert_eq!(run.code, Some(0));
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn reach_tries_a_named_host_in_the_test_lan() {
    require_root();
    let ns = healthy_lan("docreach");
    let _peer = ns.listen_on_peer(&["tcp:198.18.0.2:7800"]);
    let run = doctor(&ns, &["--reach", "198.18.0.2:7800"]);
    assert_eq!(run.status("reach.resolve"), CheckStatus::Pass);
    assert_eq!(run.status("reach.echo"), CheckStatus::Pass);
    assert_eq!(run.status("reach.tcp"), CheckStatus::Pass);
    assert_eq!(run.code, Some(0));
    // Regression: the port was printed twice (`198.18.0.2:7800:7800`), and the echo line
    // carried it.
    assert!(
        run.check("reach.tcp")
            .summary
            .starts_with("TCP to 198.18.0.2:7800:"),
        "{:?}",
        run.check("reach.tcp").summary
    );
    assert!(
        run.check("reach.echo")
            .summary
            .starts_with("ICMP echo to 198.18.0.2:"),
        "{:?}",
        run.check("reach.echo").summary
    );
    // A port nobody listens on: refused, a failure that exits 1, told that the route works.
    let run = doctor(&ns, &["--reach", "198.18.0.2:7801"]);
    let tcp = run.check("reach.tcp");
    assert_eq!(tcp.status, CheckStatus::Fail);
    assert!(tcp.evidence[0].contains("refused"), "{tcp:#?}");
    assert!(
        tcp.fix
            .as_deref()
            .is_some_and(|f| f.contains("the route works")),
        "{tcp:#?}"
    );
    assert_eq!(run.code, Some(1));
}
