//! A snapshot captured inside a namespace and judged outside it gives the same report as the
//! command run inside: capture is the only part that reads the system.

use std::process::Command;

use loopback_model::{AuditReport, Explanation};

use crate::support::{loopback_bin, require_root, Netns, TempDir};

fn json<T: serde::de::DeserializeOwned>(out: &std::process::Output, what: &str) -> T {
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{what}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{what}: {e}"))
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn a_snapshot_judged_outside_its_namespace_equals_the_command_run_inside() {
    require_root();
    let ns = Netns::with_lan("snapeq");
    ns.sysctl("net.ipv4.conf.lan0.route_localnet=1");
    let _held = ns.listen(
        &[
            "tcp:0.0.0.0:7101",
            "tcp:127.0.0.1:7102",
            "tcp:[::]:7103,v6only=1",
            "udp:198.18.0.1:7104",
        ],
        &["--password", "hunter2"],
    );
    let dir = TempDir::new("snapeq");
    let file = dir.path("snap.json");
    let out = ns.loopback(&["snapshot", "--firewall"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(&file, &out.stdout).expect("write snapshot");
    let file_arg = file.to_string_lossy().into_owned();

    // Inside, then outside from the file, in the same order; the listeners are still held.
    let mut inside: AuditReport = json(&ns.loopback(&["audit", "--json"]), "audit inside");
    let outside_out = Command::new(loopback_bin())
        .args([
            "audit",
            "--json",
            "--uplink",
            "lan0",
            "--snapshot",
            &file_arg,
        ])
        .output()
        .expect("run loopback");
    let outside: AuditReport = json(&outside_out, "audit outside");
    assert_eq!(
        outside_out.status.code(),
        ns.loopback(&["audit", "--json"]).status.code()
    );
    assert!(
        inside.listeners.iter().any(|l| l.port == 7101),
        "the test's listeners are in the report: {inside:?}"
    );
    // Who the namespace is (its names, its processes) is read from the host, not the snapshot.
    inside.namespaces = outside.namespaces.clone();
    assert_eq!(outside, inside);
    // route_localnet is judged from the captured settings, not this host's.
    let local = outside
        .listeners
        .iter()
        .find(|l| l.port == 7102)
        .expect("7102");
    assert!(
        local.exposed,
        "route_localnet=1 on lan0 exposes 127.0.0.1: {local:?}"
    );

    for target in [
        "127.0.0.1:7102",
        "198.18.0.1:7104",
        "[::]:7103",
        "127.0.0.0/8",
    ] {
        let inside: Explanation = json(&ns.loopback(&["explain", "--json", target]), target);
        let outside: Explanation = json(
            &Command::new(loopback_bin())
                .args(["explain", "--json", "--snapshot", &file_arg, target])
                .output()
                .expect("run loopback"),
            target,
        );
        assert_eq!(outside, inside, "{target}");
    }
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn a_snapshot_file_that_is_not_one_is_an_error_that_changes_nothing() {
    require_root();
    let dir = TempDir::new("snapbad");
    let file = dir.path("bad.json");
    std::fs::write(&file, b"{\"version\": 99}").expect("write");
    let out = Command::new(loopback_bin())
        .args(["audit", "--snapshot", &file.to_string_lossy()])
        .output()
        .expect("run loopback");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a loopback snapshot") || err.contains("version"),
        "{err}"
    );
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn the_ruleset_is_captured_only_when_asked_for() {
    require_root();
    let ns = Netns::new("snapfw");
    let part = |args: &[&str]| {
        let out = ns.loopback(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("snapshot JSON");
        v["firewall"].clone()
    };
    assert_eq!(part(&["snapshot"]), serde_json::json!("not_captured"));
    let fw = part(&["snapshot", "--firewall"]);
    let rulesets = fw["captured"]["rulesets"]
        .as_array()
        .expect("captured rulesets");
    assert!(
        rulesets.iter().any(|r| r["tool"] == "nft"),
        "nft is installed by scripts/test: {fw}"
    );
}
