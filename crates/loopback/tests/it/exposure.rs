//! Effective exposure through the packet filter and NAT. Each scenario is a "host" namespace
//! with a LAN link (`lan0`, declared with `--uplink`) to a "peer" namespace, and for the NAT
//! scenarios a bridge to a "container" namespace. The oracle is a real connection from the
//! peer (`lb-reach`, TCP and UDP): for every listener, `exposed` must equal what happened, and
//! the path must name the rule the packet met.

use std::process::Command;

use serde_json::Value;

use crate::support::*;

/// How long a connection that gets no answer is waited for.
const WAIT_MS: &str = "700";

/// A host namespace with a LAN peer, optionally a bridge `br0` (198.19.1.1/24) to a container
/// namespace (`c0`, 198.19.1.2/24).
pub(crate) struct Lab {
    pub(crate) host: Netns,
    container: Option<Netns>,
}

impl Lab {
    fn new(tag: &str) -> Lab {
        let host = Netns::with_lan(tag);
        // The peer's second address: a sender outside a source set.
        run(Command::new("ip").args([
            "-n",
            host.peer_name(),
            "addr",
            "add",
            "198.18.0.3/24",
            "dev",
            "lan0",
        ]));
        Lab {
            host,
            container: None,
        }
    }

    pub(crate) fn with_container(tag: &str) -> Lab {
        let mut lab = Lab::new(tag);
        let c = Netns::new(&format!("{tag}c"));
        let h = &lab.host;
        h.ip(&["link", "add", "br0", "type", "bridge"]);
        h.ip(&["addr", "add", "198.19.1.1/24", "dev", "br0"]);
        h.ip(&["link", "set", "br0", "up"]);
        h.ip(&[
            "link", "add", "vc0", "type", "veth", "peer", "name", "c0", "netns", &c.name,
        ]);
        h.ip(&["link", "set", "vc0", "master", "br0", "up"]);
        c.ip(&["addr", "add", "198.19.1.2/24", "dev", "c0"]);
        c.ip(&["link", "set", "c0", "up"]);
        c.ip(&["route", "add", "default", "via", "198.19.1.1"]);
        h.sysctl("net.ipv4.conf.all.forwarding=1");
        // A peer that routes to the container network through the host: crafted packets.
        run(Command::new("ip").args([
            "-n",
            h.peer_name(),
            "route",
            "add",
            "198.19.1.0/24",
            "via",
            "198.18.0.1",
        ]));
        lab.container = Some(c);
        lab
    }

    pub(crate) fn container(&self) -> &Netns {
        self.container.as_ref().expect("lab has a container")
    }

    /// Load an nft ruleset into the host namespace.
    pub(crate) fn nft(&self, ruleset: &str) {
        self.host.nft(ruleset);
    }

    /// What a connection from the peer (from `from`, default 198.18.0.2) finds.
    fn reach(&self, proto: &str, addr: &str, port: u16, from: Option<&str>) -> String {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", self.host.peer_name()])
            .arg(example_bin("lb-reach"))
            .args([proto, &format!("{addr}:{port}"), WAIT_MS]);
        if let Some(f) = from {
            cmd.arg(f);
        }
        let out = run(&mut cmd);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// `loopback audit --json --uplink lan0` (the helper declares it), in the host namespace (`-A` to include the
    /// container's listeners).
    fn audit(&self, all: bool) -> Value {
        let mut args = vec!["audit", "--json"];
        if all {
            args.push("-A");
        }
        let out = self.host.loopback(&args);
        assert!(
            out.status.code().is_some_and(|c| c < 2),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("audit JSON")
    }
}

fn inode(ns: &Netns) -> u64 {
    let out =
        run(Command::new("stat").args(["-L", "-c", "%i", &format!("/run/netns/{}", ns.name)]));
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("inode")
}

/// The listener `proto` `addr:port` of namespace `netns` (any when 0).
fn listener<'a>(report: &'a Value, netns: u64, proto: &str, addr: &str, port: u16) -> &'a Value {
    report["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .find(|l| {
            l["proto"] == proto
                && l["address"] == addr
                && l["port"] == port
                && (netns == 0 || l["netns"] == netns)
        })
        .unwrap_or_else(|| panic!("no listener {proto} {addr}:{port} in {netns}: {report:#}"))
}

fn state(l: &Value) -> &str {
    l["exposure"]["state"].as_str().unwrap_or("?")
}

/// The path on `lan0` with this arrival, address and port.
fn path<'a>(l: &'a Value, arrival: &str, address: &str, port: u16) -> &'a Value {
    l["exposure"]["paths"]
        .as_array()
        .expect("paths")
        .iter()
        .find(|p| {
            p["interface"] == "lan0"
                && p["arrival"] == arrival
                && p["address"] == address
                && p["port"] == port
        })
        .unwrap_or_else(|| panic!("no {arrival} path to {address}:{port}: {l:#}"))
}

/// `exposed` agrees with a real connection from the peer.
fn agrees(l: &Value, outcome: &str) {
    let exposed = l["exposed"].as_bool().expect("exposed");
    assert_eq!(
        exposed,
        outcome == "open",
        "exposed={exposed} but the peer's connection was {outcome}: {l:#}"
    );
}

#[test]
#[ignore = "needs root: creates network namespaces"]
fn input_filter_drop_policy_and_source_sets() {
    require_root();
    let lab = Lab::new("xin");
    let _l = lab.host.listen(
        &[
            "tcp:0.0.0.0:7001",
            "udp:0.0.0.0:7001,echo",
            "tcp:0.0.0.0:7002",
            "udp:0.0.0.0:7002,echo",
            "tcp:0.0.0.0:7003",
            "tcp:0.0.0.0:7004",
            "tcp:127.0.0.1:7005",
        ],
        &[],
    );
    lab.nft(
        "table inet lbt {\n\
         chain input { type filter hook input priority 0; policy drop;\n\
           iif \"lo\" accept\n\
           ct state established,related accept\n\
           tcp dport 7001 accept\n\
           udp dport 7001 accept\n\
           ip saddr 198.18.0.2 tcp dport 7003 accept\n\
           iifname \"lan0\" tcp dport 7004 drop\n\
           tcp dport 7004 accept\n\
         }\n}\n",
    );
    let r = lab.audit(false);
    let ns = inode(&lab.host);
    assert!(
        r["uplinks"]
            .as_array()
            .expect("uplinks")
            .iter()
            .any(|u| u["interface"] == "lan0" && u["declared"] == true),
        "{:#}",
        r["uplinks"]
    );

    // Open under a drop policy: accepted by its rule.
    for proto in ["tcp", "udp"] {
        let l = listener(&r, ns, proto, "0.0.0.0", 7001);
        agrees(l, &lab.reach(proto, "198.18.0.1", 7001, None));
        assert_eq!(state(l), "open");
        let p = path(l, "direct", "198.18.0.1", 7001);
        assert_eq!(
            p["rule"]["text"],
            format!("{proto} dport 7001 accept"),
            "{p:#}"
        );
        assert!(p["rule"]["handle"].is_u64());
    }
    // The policy drops it: filtered, and the policy is named.
    for proto in ["tcp", "udp"] {
        let l = listener(&r, ns, proto, "0.0.0.0", 7002);
        agrees(l, &lab.reach(proto, "198.18.0.1", 7002, None));
        assert_eq!(state(l), "filtered");
        let p = path(l, "direct", "198.18.0.1", 7002);
        assert_eq!(p["rule"]["text"], "policy drop");
        assert_eq!(p["rule"]["chain"], "input");
        assert_eq!(l["verdict"], "ok");
    }
    // Only from a source set: the peer's first address connects, its second does not.
    let l = listener(&r, ns, "tcp", "0.0.0.0", 7003);
    assert_eq!(
        lab.reach("tcp", "198.18.0.1", 7003, Some("198.18.0.2")),
        "open"
    );
    assert_eq!(
        lab.reach("tcp", "198.18.0.1", 7003, Some("198.18.0.3")),
        "timeout"
    );
    assert_eq!(state(l), "restricted");
    assert_eq!(l["exposed"], true);
    let p = path(l, "direct", "198.18.0.1", 7003);
    assert_eq!(p["sources"], serde_json::json!(["from 198.18.0.2/32"]));
    // An input drop on the LAN interface, although another rule accepts the port.
    let l = listener(&r, ns, "tcp", "0.0.0.0", 7004);
    agrees(l, &lab.reach("tcp", "198.18.0.1", 7004, None));
    assert_eq!(state(l), "filtered");
    assert_eq!(
        path(l, "direct", "198.18.0.1", 7004)["rule"]["text"],
        "iifname \"lan0\" tcp dport 7004 drop"
    );
    // Loopback-bound: no path at all.
    let l = listener(&r, ns, "tcp", "127.0.0.1", 7005);
    agrees(l, &lab.reach("tcp", "198.18.0.1", 7005, None));
    assert_eq!(state(l), "none");
    assert_eq!(l["exposure"]["reach"], "namespace");

    // The table says the same, in words.
    let out = lab.host.loopback(&["audit", "--color", "never"]);
    let human = String::from_utf8_lossy(&out.stdout);
    for line in [
        "filtered by nft: inet lbt input: policy drop",
        "restricted at 198.18.0.1:7003 on lan0: from 198.18.0.2/32 (nft: inet lbt input: ip saddr 198.18.0.2 tcp dport 7003 accept",
        "filtered by nft: inet lbt input: iifname \"lan0\" tcp dport 7004 drop",
        "Other hosts arrive on: lan0 (declared with --uplink).",
    ] {
        assert!(human.contains(line), "{line:?} missing from:\n{human}");
    }
}

#[test]
#[ignore = "needs root: creates network namespaces"]
fn dnat_redirect_and_a_container_behind_the_host() {
    require_root();
    let lab = Lab::with_container("xnat");
    let c = lab.container();
    let _in_c = c.listen(
        &[
            "tcp:0.0.0.0:80",
            "udp:0.0.0.0:53,echo",
            "tcp:127.0.0.1:81",
            "tcp:0.0.0.0:82",
        ],
        &[],
    );
    let _on_h = lab.host.listen(
        &[
            "tcp:0.0.0.0:8090",
            "tcp:127.0.0.1:8091",
            "tcp:127.0.0.1:8092",
        ],
        &[],
    );
    lab.nft(
        "table ip lbt {\n\
         chain pre { type nat hook prerouting priority dstnat; policy accept;\n\
           tcp dport 8080 dnat to 198.19.1.2:80\n\
           udp dport 8053 dnat to 198.19.1.2:53\n\
           tcp dport 8081 dnat to 198.19.1.2:81\n\
           tcp dport 80 redirect to :8090\n\
           tcp dport 90 redirect to :8091\n\
           tcp dport 92 dnat to 127.0.0.1:8092\n\
         }\n\
         chain forward_f { type filter hook forward priority 0; policy drop;\n\
           ct state established,related accept\n\
           ct status dnat accept\n\
         }\n}\n",
    );
    let r = lab.audit(true);
    let (h, cn) = (inode(&lab.host), inode(c));

    // DNAT to the container's wildcard listener: published, reached, for TCP and UDP.
    for (proto, port, target) in [("tcp", 8080, 80), ("udp", 8053, 53)] {
        let l = listener(&r, cn, proto, "0.0.0.0", target);
        agrees(l, &lab.reach(proto, "198.18.0.1", port, None));
        assert_eq!(state(l), "open");
        assert_eq!(l["exposure"]["reach"], "network");
        let p = path(l, "dnat", "198.18.0.1", port);
        assert!(
            p["nat_rule"]["text"]
                .as_str()
                .is_some_and(|t| t.contains("dnat to 198.19.1.2")),
            "{p:#}"
        );
        let publication = r["publications"]
            .as_array()
            .expect("publications")
            .iter()
            .find(|x| x["port"] == port && x["forwarder"] == "dnat")
            .unwrap_or_else(|| panic!("no DNAT publication of {port}: {:#}", r["publications"]));
        assert_eq!(publication["diagnosis"], "ok");
        assert_eq!(publication["forwarder_pid"], 0);
        assert_eq!(publication["target_netns"], cn);
    }
    // DNAT to a port the container serves on its own 127.0.0.1 only: the peer is reset.
    assert_eq!(lab.reach("tcp", "198.18.0.1", 8081, None), "refused");
    let l = listener(&r, cn, "tcp", "127.0.0.1", 81);
    assert_eq!(l["exposed"], false);
    let publication = r["publications"]
        .as_array()
        .expect("publications")
        .iter()
        .find(|x| x["port"] == 8081)
        .expect("8081 publication");
    assert_eq!(
        publication["diagnosis"], "target-loopback-only",
        "{publication:#}"
    );
    // The container's listener nothing publishes: the host forwards only what it rewrote.
    let l = listener(&r, cn, "tcp", "0.0.0.0", 82);
    agrees(l, &lab.reach("tcp", "198.19.1.2", 82, None));
    assert_eq!(state(l), "filtered");
    assert_eq!(
        path(l, "direct", "198.19.1.2", 82)["rule"]["text"],
        "policy drop"
    );
    assert_eq!(l["exposure"]["reach"], "machine");
    let out = lab.host.loopback(&["audit", "-A", "--color", "never"]);
    let human = String::from_utf8_lossy(&out.stdout);
    assert!(
        human.contains("published as 198.18.0.1:8080 on lan0 (dnat nft: ip lbt pre: tcp dport 8080 dnat to 198.19.1.2:80"),
        "{human}"
    );
    // REDIRECT 80 -> 8090 reaches a wildcard listener...
    let l = listener(&r, h, "tcp", "0.0.0.0", 8090);
    agrees(l, &lab.reach("tcp", "198.18.0.1", 80, None));
    assert_eq!(path(l, "redirect", "198.18.0.1", 80)["state"], "open");
    // ...but never a 127.0.0.1 one: the new destination is the interface's address.
    assert_eq!(lab.reach("tcp", "198.18.0.1", 90, None), "refused");
    assert_eq!(listener(&r, h, "tcp", "127.0.0.1", 8091)["exposed"], false);
    // DNAT to 127.0.0.1 without route_localnet: the kernel drops it.
    let l = listener(&r, h, "tcp", "127.0.0.1", 8092);
    agrees(l, &lab.reach("tcp", "198.18.0.1", 92, None));
    assert_eq!(state(l), "filtered");
    assert!(path(l, "dnat", "198.18.0.1", 92)["detail"]
        .as_str()
        .is_some_and(|d| d.contains("route_localnet=0")));
    // With route_localnet=1 on the LAN link, the 127.0.0.1 service is reachable (CVE-2020-8558).
    lab.host.sysctl("net.ipv4.conf.lan0.route_localnet=1");
    let r = lab.audit(true);
    let l = listener(&r, h, "tcp", "127.0.0.1", 8092);
    agrees(l, &lab.reach("tcp", "198.18.0.1", 92, None));
    assert_eq!(state(l), "open");
}

#[test]
#[ignore = "needs root: creates network namespaces"]
fn iptables_legacy_and_a_rule_not_modelled() {
    require_root();
    let lab = Lab::new("xleg");
    let _l = lab.host.listen(
        &["tcp:0.0.0.0:7101", "tcp:0.0.0.0:7102", "tcp:0.0.0.0:7201"],
        &[],
    );
    let legacy = lab
        .host
        .cmd("iptables-legacy")
        .args([
            "-A", "INPUT", "-i", "lan0", "-p", "tcp", "--dport", "7101", "-j", "DROP",
        ])
        .output()
        .expect("iptables-legacy");
    assert!(
        legacy.status.success(),
        "iptables-legacy: {}",
        String::from_utf8_lossy(&legacy.stderr)
    );
    lab.nft(
        "table inet lbt {\n\
         chain input { type filter hook input priority 0; policy accept;\n\
           tcp dport 7201 meta mark 0x2a drop\n\
         }\n}\n",
    );
    let r = lab.audit(false);
    let ns = inode(&lab.host);
    let l = listener(&r, ns, "tcp", "0.0.0.0", 7101);
    agrees(l, &lab.reach("tcp", "198.18.0.1", 7101, None));
    assert_eq!(state(l), "filtered");
    let rule = &path(l, "direct", "198.18.0.1", 7101)["rule"];
    assert_eq!(rule["tool"], "iptables-legacy", "{rule:#}");
    assert_eq!(
        rule["text"],
        "-A INPUT -i lan0 -p tcp -m tcp --dport 7101 -j DROP"
    );
    let l = listener(&r, ns, "tcp", "0.0.0.0", 7102);
    agrees(l, &lab.reach("tcp", "198.18.0.1", 7102, None));
    // A match the evaluator does not model: unknown, counted as exposed, the rule named.
    let l = listener(&r, ns, "tcp", "0.0.0.0", 7201);
    agrees(l, &lab.reach("tcp", "198.18.0.1", 7201, None));
    assert_eq!(state(l), "unknown");
    let p = path(l, "direct", "198.18.0.1", 7201);
    assert_eq!(
        p["rule"]["text"], "tcp dport 7201 meta mark 0x0000002a drop",
        "{p:#}"
    );
    assert!(p["detail"]
        .as_str()
        .is_some_and(|d| d.contains("not modelled")));
}
