//! `probe --clients` against the real clients: for each case `probe` diagnoses, every tested
//! profile's prediction (which address it reaches, or that it fails or waits) is compared with
//! what the real program did in the same namespace: curl, CPython's `socket.create_connection`
//! and `requests` (Debian's `/usr/bin/python3`), Node.js with `autoSelectFamily` on and off, a
//! Go `net.Dial` program and a Java `new Socket(host, port)` program (`tests/clients/`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use loopback_model::{ClientId, ClientOutcome, ClientResult, ProbeReport};

use crate::support::{require_root, run, Netns};

fn sources() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// The Go client, built once per test run.
fn go_client() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let bin = dir.join("lbclient-go");
        run(Command::new("go")
            .args(["build", "-o"])
            .arg(&bin)
            .arg(sources().join("client.go"))
            .env("GOCACHE", dir.join("gocache"))
            .env("GOPATH", dir.join("gopath"))
            .env("GO111MODULE", "off"));
        bin
    })
}

/// The command line that runs `client` against HOST PORT inside the namespace.
fn command(ns: &Netns, client: ClientId, host: &str, port: u16) -> Command {
    let p = port.to_string();
    let src = sources();
    match client {
        ClientId::Curl => {
            let url = if host.contains(':') {
                format!("http://[{host}]:{port}/")
            } else {
                format!("http://{host}:{port}/")
            };
            let mut c = ns.cmd("curl");
            c.args(["-sS", "--max-time", "5", "-o", "/dev/null"]).args([
                "-w",
                "connected %{remote_ip}\n",
                &url,
            ]);
            c
        }
        ClientId::Python | ClientId::PythonRequests => {
            let mode = if client == ClientId::Python {
                "socket"
            } else {
                "requests"
            };
            let mut c = ns.cmd("/usr/bin/python3");
            c.arg(src.join("client.py")).args([mode, host, &p]);
            c
        }
        ClientId::NodeAutoSelect | ClientId::NodeFirstAddress => {
            let mode = if client == ClientId::NodeAutoSelect {
                "auto"
            } else {
                "noauto"
            };
            let mut c = ns.cmd("node");
            c.arg(src.join("client.js")).args([host, &p, mode]);
            c
        }
        ClientId::Go => {
            let mut c = ns.cmd(go_client());
            c.args([host, &p]);
            c
        }
        ClientId::Java => {
            let mut c = ns.cmd("java");
            c.arg(src.join("Client.java")).args([host, &p]);
            c
        }
        ClientId::Browser => unreachable!("browsers are not tested"),
    }
}

/// What the real client did: `connected ADDRESS` or `error MESSAGE`.
pub(crate) fn real(ns: &Netns, client: ClientId, host: &str, port: u16) -> String {
    let out = command(ns, client, host, port)
        .output()
        .unwrap_or_else(|e| panic!("running {client}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if client == ClientId::Curl && !out.status.success() {
        return format!("error {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    stdout
}

/// Whether what the client did is what the profile predicted.
fn agrees(p: &ClientOutcome, did: &str) -> bool {
    match p.result {
        ClientResult::Connects | ClientResult::ConnectsLate => {
            p.reaches.is_some_and(|a| did == format!("connected {a}"))
        }
        ClientResult::Fails => {
            let said = p.error.as_deref().unwrap_or_default();
            // The part of the message that names the cause: after the last ": ".
            let cause = said.rsplit(": ").next().unwrap_or(said);
            did.starts_with("error") && did.contains(cause)
        }
        // The clients here give up after 5 s, where a program without a timeout would wait
        // for the kernel: an error that says so.
        ClientResult::Hangs => {
            did.starts_with("error") && did.to_ascii_lowercase().contains("time")
        }
        ClientResult::Unknown => false,
    }
}

/// Probe `host:port`, run every tested client at once, and compare.
fn check(ns: &Netns, host: &str, port: u16) -> ProbeReport {
    let target = format!("{host}:{port}");
    let out = ns.loopback(&["probe", "--json", &target]);
    let r: ProbeReport = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("probe JSON {e}: {}", String::from_utf8_lossy(&out.stderr)));
    let tested: Vec<&ClientOutcome> = r.clients.iter().filter(|c| c.tested).collect();
    assert_eq!(tested.len(), 7, "{:?}", r.clients);
    let did: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = tested
            .iter()
            .map(|c| s.spawn(|| real(ns, c.client, host, port)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("client thread"))
            .collect()
    });
    let wrong: Vec<String> = tested
        .iter()
        .zip(&did)
        .filter(|(p, d)| !agrees(p, d))
        .map(|(p, d)| {
            format!(
                "{}: predicted {} {:?} {:?}, did `{d}`",
                p.client, p.result, p.reaches, p.error
            )
        })
        .collect();
    assert!(
        wrong.is_empty(),
        "{target}: {}\nattempts {:?} {:?}",
        wrong.join("\n"),
        r.attempts,
        r.client_attempts
    );
    // The human view names every client.
    let text = ns.loopback(&["probe", "--clients", &target]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains("clients:") && text.contains("Go net.Dial"),
        "{text}"
    );
    r
}

fn outcome(r: &ProbeReport, id: ClientId) -> (ClientResult, Option<String>) {
    let c = r.clients.iter().find(|c| c.client == id).expect("profile");
    (c.result, c.reaches.map(|a| a.to_string()))
}

const BOTH: &str = "127.0.0.1 localhost\n::1 localhost\n";

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn a_server_on_127_0_0_1_only() {
    require_root();
    let ns = Netns::new("cli4");
    ns.etc_file("hosts", BOTH);
    let _srv = ns.listen(&["tcp:127.0.0.1:8300,http"], &[]);
    let r = check(&ns, "localhost", 8300);
    assert_eq!(r.diagnosis.code, "mismatch");
    assert_eq!(
        outcome(&r, ClientId::NodeFirstAddress),
        (ClientResult::Fails, None)
    );
    assert!(
        r.diagnosis
            .summary
            .contains("Node.js without autoSelectFamily (its default before Node 20) fails"),
        "{}",
        r.diagnosis.summary
    );
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn a_server_on_ipv6_while_the_hosts_file_says_ipv4_reaches_only_curl() {
    require_root();
    let ns = Netns::new("cli6");
    ns.etc_file("hosts", "127.0.0.1 localhost\n");
    let _srv = ns.listen(&["tcp:[::1]:8301,http"], &[]);
    let r = check(&ns, "localhost", 8301);
    assert_eq!(r.diagnosis.code, "refused");
    // curl answers localhost itself: ::1 was tried for it.
    assert_eq!(r.client_attempts.len(), 1, "{:?}", r.client_attempts);
    assert_eq!(
        outcome(&r, ClientId::Curl),
        (ClientResult::Connects, Some("::1".into()))
    );
    assert_eq!(outcome(&r, ClientId::Python).0, ClientResult::Fails);
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn two_servers_are_reached_by_different_clients() {
    require_root();
    let ns = Netns::new("clisplit");
    ns.etc_file("hosts", BOTH);
    let _a = ns.listen(&["tcp:[::1]:8302,http"], &[]);
    let _b = ns.listen(&["tcp:127.0.0.1:8302,http"], &[]);
    let r = check(&ns, "localhost", 8302);
    assert_eq!(r.diagnosis.code, "split");
    let s = &r.diagnosis.summary;
    assert!(s.contains("curl and Java connect to 127.0.0.1"), "{s}");
    assert!(s.contains("and Go connect to ::1"), "{s}");
    // --http takes the same view: both answer, from different processes.
    let out = ns.loopback(&["probe", "--json", "--http", "localhost:8302"]);
    let h: ProbeReport = serde_json::from_slice(&out.stdout).expect("probe JSON");
    assert_eq!(h.diagnosis.code, "split", "{:?}", h.diagnosis);
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn nothing_listening() {
    require_root();
    let ns = Netns::new("clinone");
    ns.etc_file("hosts", BOTH);
    let r = check(&ns, "localhost", 8303);
    assert_eq!(r.diagnosis.code, "refused");
    assert!(r
        .clients
        .iter()
        .filter(|c| c.tested)
        .all(|c| c.result == ClientResult::Fails));
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn a_dropped_first_address_costs_serial_clients_a_timeout() {
    require_root();
    let ns = Netns::new("clidrop");
    ns.etc_file("hosts", BOTH);
    ns.nft(
        "table inet lbtest {\n chain input {\n  type filter hook input priority 0\n  ip6 daddr ::1 tcp dport 8304 drop\n }\n}\n",
    );
    let _srv = ns.listen(&["tcp:[::1]:8304,http", "tcp:127.0.0.1:8304,http"], &[]);
    let r = check(&ns, "localhost", 8304);
    assert_eq!(
        outcome(&r, ClientId::Python),
        (ClientResult::ConnectsLate, Some("127.0.0.1".into()))
    );
    assert_eq!(
        outcome(&r, ClientId::NodeFirstAddress),
        (ClientResult::Hangs, None)
    );
    assert_eq!(
        outcome(&r, ClientId::Go),
        (ClientResult::Connects, Some("127.0.0.1".into()))
    );
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn localhost_pointing_elsewhere_is_ignored_only_by_curl() {
    require_root();
    let ns = Netns::new("clielse");
    ns.etc_file("hosts", "198.18.2.5 localhost\n");
    let _srv = ns.listen(&["tcp:127.0.0.1:8305,http"], &[]);
    let r = check(&ns, "localhost", 8305);
    assert_eq!(r.diagnosis.code, "not-loopback");
    assert_eq!(
        outcome(&r, ClientId::Curl),
        (ClientResult::Connects, Some("127.0.0.1".into()))
    );
    assert!(
        r.diagnosis.summary.contains("curl connects to 127.0.0.1"),
        "{}",
        r.diagnosis.summary
    );
}
