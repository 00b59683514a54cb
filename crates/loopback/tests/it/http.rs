//! `audit --http` and `probe --http` against real servers in a namespace: Python's
//! http.server, servers that reject foreign Hosts, allow any origin or echo it with
//! credentials, Redis and memcached, a TLS server, one that never answers and one that
//! trickles; every answer compared with what curl gets for the same request.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use loopback_model::http::{
    Cors, ForeignHost, HttpCheck, HttpFindingCode, HttpTransport, Preflight,
};
use loopback_model::{AuditReport, Listener, ProbeReport};

use crate::services::{installed, start_memcached, Stop};
use crate::support::{output_within, require_root, Listeners, Netns, TempDir};

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/http_servers.py")
}

/// One of `http_servers.py`'s servers; its connections are counted in `counts/PORT`.
pub(crate) fn serve(
    ns: &Netns,
    dir: &TempDir,
    mode: &str,
    port: u16,
    tls: Option<(&Path, &Path)>,
) -> Listeners {
    let mut cmd = ns.cmd("python3");
    cmd.arg(script())
        .args([mode, &port.to_string()])
        .arg(dir.path(&format!("conn-{port}")));
    if let Some((cert, key)) = tls {
        cmd.args([cert, key]);
    }
    Listeners::spawn(cmd)
}

pub(crate) fn connections(dir: &TempDir, port: u16) -> usize {
    std::fs::read_to_string(dir.path(&format!("conn-{port}")))
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// A self-signed certificate and its key in `dir`, for a TLS server.
pub(crate) fn self_signed(dir: &TempDir) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.path("cert.pem"), dir.path("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("openssl");
    assert!(made.success(), "openssl req: {made}");
    (cert, key)
}

/// Python's own `python3 -m http.server` serving `dir`, as people run it (it prints nothing
/// when ready: wait for its socket).
fn http_server(ns: &Netns, dir: &TempDir, bind: &str, port: u16) -> Stop {
    let child = ns
        .cmd("python3")
        .args(["-m", "http.server", "--bind", bind, &port.to_string()])
        .current_dir(dir.path(""))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("http.server");
    let stop = Stop(None, Some(child), None);
    wait_listening(ns, port, 400);
    stop
}

/// Wait until something listens on `port` in `ns` (a server that prints nothing when ready),
/// asking `ss` at most `tries` times.
fn wait_listening(ns: &Netns, port: u16, tries: usize) {
    for _ in 0..tries {
        if ns.ss().iter().any(|s| s.proto == "tcp" && s.port == port) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on {port}");
}

fn audit(ns: &Netns, args: &[&str]) -> (AuditReport, i32) {
    let mut cmd = ns.cmd(crate::support::loopback_bin());
    cmd.args(["audit", "--json"]).args(args);
    // A bound on the whole run, so that a server that never answers cannot hang the suite:
    // not a measurement (the deadlines it is made of are the tool's own).
    let (out, _) = output_within(cmd, Duration::from_secs(120));
    let r: AuditReport = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (r, out.status.code().unwrap_or(-1))
}

fn at(r: &AuditReport, port: u16) -> &Listener {
    r.listeners
        .iter()
        .find(|l| l.port == port && l.proto == loopback_model::Proto::Tcp)
        .unwrap_or_else(|| panic!("no listener on {port}"))
}

fn http(r: &AuditReport, port: u16) -> &HttpCheck {
    at(r, port)
        .http
        .as_deref()
        .unwrap_or_else(|| panic!("no http check on {port}: {:#?}", at(r, port)))
}

fn codes(h: &HttpCheck) -> Vec<HttpFindingCode> {
    h.findings.iter().map(|f| f.code).collect()
}

/// What curl gets for the same request: the status and the Access-Control-Allow-Origin
/// header (the oracle for every answer the audit read).
fn curl(
    ns: &Netns,
    h: &HttpCheck,
    a: &loopback_model::http::HttpAnswer,
) -> (Option<u16>, Option<String>) {
    let scheme = if h.transport == HttpTransport::Tls {
        "https"
    } else {
        "http"
    };
    let mut cmd = ns.cmd("curl");
    cmd.args([
        "-s",
        "-k",
        "-i",
        "--max-time",
        "5",
        "-H",
        &format!("Host: {}", a.host),
    ]);
    if let Some(o) = &a.origin {
        cmd.args(["-H", &format!("Origin: {o}")]);
    }
    if a.request == loopback_model::http::HttpRequestKind::Preflight {
        cmd.args(["-X", "OPTIONS", "-H", "Access-Control-Request-Method: POST"]);
        cmd.args(["-H", "Access-Control-Request-Private-Network: true"]);
    }
    cmd.arg(format!("{scheme}://{}/", h.target));
    let out = cmd.output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let status = text
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok());
    let acao = text.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case("access-control-allow-origin")
            .then(|| v.trim().to_owned())
    });
    (status, acao)
}

fn agrees_with_curl(ns: &Netns, h: &HttpCheck) {
    assert_eq!(h.answers.len(), 4, "{h:#?}");
    for a in &h.answers {
        let (status, acao) = curl(ns, h, a);
        assert_eq!(
            a.status, status,
            "{} {:?}: curl got another status",
            h.target, a.request
        );
        assert_eq!(a.allow_origin, acao, "{} {:?}", h.target, a.request);
    }
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn real_servers_are_judged_as_curl_sees_them() {
    require_root();
    let redis = installed(&["/usr/bin/redis-server"]);
    let memcached = installed(&["/usr/bin/memcached"]);
    let ns = Netns::new("http");
    let dir = TempDir::new("http");
    let (cert, key) = self_signed(&dir);

    let _reject = serve(&ns, &dir, "reject-host", 18101, None);
    let _star = serve(&ns, &dir, "acao-star", 18102, None);
    let _reflect = serve(&ns, &dir, "reflect", 18103, None);
    let _silent = serve(&ns, &dir, "silent", 18104, None);
    let _trickle = serve(&ns, &dir, "trickle", 18105, None);
    let _tls = serve(&ns, &dir, "tls", 18106, Some((&cert, &key)));
    // Python's own http.server, as people run it: on loopback, and on every address.
    let _simple = http_server(&ns, &dir, "127.0.0.1", 18100);
    let _wide = http_server(&ns, &dir, "0.0.0.0", 18107);
    let mut rs = ns
        .cmd(&redis)
        .args([
            "--port",
            "18108",
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(dir.path(""))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server");
    let ready = BufReader::new(rs.stdout.take().expect("stdout"))
        .lines()
        .map_while(Result::ok)
        .any(|l| l.contains("Ready to accept connections"));
    assert!(ready, "redis did not start");
    let _redis = Stop(None, Some(rs), None);
    let _memcached = start_memcached(&ns, &memcached, 18109, "127.0.0.1");

    // Without --http nothing is sent: no server sees a connection.
    let (plain, _) = audit(&ns, &[]);
    assert!(plain.listeners.iter().all(|l| l.http.is_none()));
    for port in 18101..=18106 {
        assert_eq!(
            connections(&dir, port),
            0,
            "a connection to {port} without --http"
        );
    }

    let (r, code) = audit(&ns, &["--http", "--http-timeout", "1s"]);
    assert_eq!(code, 1, "findings exit 1");
    assert_eq!(r.version, 5);

    let h = http(&r, 18100);
    assert_eq!(
        (h.speaks_http, h.foreign_host, h.cors),
        (true, ForeignHost::Accepted, Cors::None)
    );
    assert_eq!(codes(h), [HttpFindingCode::Rebindable]);
    assert!(
        h.findings[0].fix.starts_with("Python http.server: "),
        "{:?}",
        h.findings
    );
    agrees_with_curl(&ns, h);

    let h = http(&r, 18101);
    assert_eq!(
        (h.foreign_host, h.cors, h.preflight),
        (ForeignHost::Rejected, Cors::None, Preflight::Refused)
    );
    assert!(h.findings.is_empty(), "{:?}", h.findings);
    assert_eq!(h.answers[1].status, Some(421));
    agrees_with_curl(&ns, h);

    let h = http(&r, 18102);
    assert_eq!(
        (h.cors, h.credentials, h.preflight),
        (Cors::Wildcard, false, Preflight::Allowed)
    );
    assert_eq!(
        codes(h),
        [
            HttpFindingCode::Rebindable,
            HttpFindingCode::CrossOriginReadable
        ]
    );
    agrees_with_curl(&ns, h);

    let h = http(&r, 18103);
    assert_eq!(
        (h.cors, h.credentials, h.private_network),
        (Cors::ReflectsOrigin, true, true)
    );
    assert!(h
        .findings
        .iter()
        .any(|f| f.code == HttpFindingCode::CrossOriginReadable && f.summary.contains("cookies")));
    agrees_with_curl(&ns, h);

    for port in [18104, 18105] {
        let h = http(&r, port);
        assert!(!h.speaks_http && h.findings.is_empty(), "{h:#?}");
        assert_eq!(h.answers.len(), 1, "one request, then no more: {h:#?}");
        assert!(
            h.notes.iter().any(|n| n.contains("within the deadline")),
            "{:?}",
            h.notes
        );
        assert_eq!(
            connections(&dir, port),
            1,
            "port {port} cost one connection"
        );
    }

    let h = http(&r, 18106);
    assert_eq!(
        (h.transport, h.speaks_http, h.foreign_host),
        (HttpTransport::Tls, true, ForeignHost::Accepted)
    );
    assert!(
        h.notes.iter().any(|n| n.contains("spoken to over TLS")),
        "{:?}",
        h.notes
    );
    agrees_with_curl(&ns, h);

    for port in [18108, 18109] {
        let h = http(&r, port);
        assert!(!h.speaks_http && h.findings.is_empty(), "{h:#?}");
        assert_eq!(h.answers.len(), 1);
    }
    assert!(
        at(&r, 18107).http.is_none(),
        "a wildcard listener needs --http-all"
    );

    // --http-all: the wildcard listener too, at 127.0.0.1.
    let (all, _) = audit(&ns, &["--http-all", "--port", "18107"]);
    let h = http(&all, 18107);
    assert_eq!(h.target.to_string(), "127.0.0.1:18107");
    assert_eq!(h.foreign_host, ForeignHost::Accepted);
    assert_eq!(
        connections(&dir, 18104),
        1,
        "--port limits the requests to its ports"
    );

    // A snapshot keeps the answers; judged elsewhere, they give the same verdicts.
    let out = ns.loopback(&["snapshot", "--http"]);
    assert!(out.status.success());
    std::fs::write(dir.path("snap.json"), &out.stdout).expect("snapshot");
    let out = Command::new(crate::support::loopback_bin())
        .args(["audit", "--json", "--snapshot"])
        .arg(dir.path("snap.json"))
        .output()
        .expect("audit --snapshot");
    assert_eq!(out.status.code(), Some(1), "the same findings");
    let later: AuditReport = serde_json::from_slice(&out.stdout).expect("audit --snapshot JSON");
    for port in 18100..=18109 {
        let verdicts = |r: &AuditReport| {
            r.listeners
                .iter()
                .find(|l| l.port == port)
                .and_then(|l| l.http.as_deref())
                .map(|h| (h.transport, h.speaks_http, h.foreign_host, h.cors, codes(h)))
        };
        assert_eq!(verdicts(&later), verdicts(&r), "port {port}");
    }

    // probe --http asks the same questions of the address that accepted.
    let out = ns.loopback(&["probe", "127.0.0.1:18102", "--http", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "probe's status is its diagnosis"
    );
    let p: ProbeReport = serde_json::from_slice(&out.stdout).expect("probe JSON");
    let h = p.http.as_deref().expect("probe http");
    assert_eq!(h.cors, Cors::Wildcard);
    let out = ns.loopback(&["probe", "127.0.0.1:18101", "--http", "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // The human table names the findings; the exporter's series counts them.
    let out = ns.loopback(&["audit", "--http", "--port", "18102"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("HTTP") && text.contains("rebindable,cross-origin-readable"),
        "{text}"
    );
    let out = ns.loopback(&[
        "audit",
        "--http",
        "--format",
        "prometheus",
        "--port",
        "18101,18102",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    let series: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("loopback_listener_http_finding{"))
        .collect();
    assert_eq!(series.len(), 2, "{text}");
    assert!(
        series.iter().all(|l| l.contains("port=\"18102\"")),
        "{series:?}"
    );

    // loopback's own exporter refuses a foreign Host: the audit finds nothing to read there.
    let exporter = ns
        .cmd(crate::support::loopback_bin())
        .args([
            "exporter",
            "--listen",
            "127.0.0.1:18110",
            "--allowed-host",
            "metrics.test",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("exporter");
    let _exporter = Stop(None, Some(exporter), None);
    wait_listening(&ns, 18110, 400);
    let (r, _) = audit(&ns, &["--http", "--port", "18110"]);
    let h = http(&r, 18110);
    assert_eq!(h.foreign_host, ForeignHost::Rejected, "{h:#?}");
    assert_eq!(h.answers[1].status, Some(421));
    assert!(h.findings.is_empty());
    let code = |host: &str| {
        let out = ns
            .cmd("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
            .arg(format!("Host: {host}"))
            .arg("http://127.0.0.1:18110/metrics")
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(code("metrics.test:18110"), "200", "--allowed-host");
    assert_eq!(code("127.0.0.1:18110"), "200");
    assert_eq!(code("rebind.example:18110"), "421");
}

/// Vite from the npm registry, installed once into the target directory.
fn vite() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("test-npm/vite8");
    let bin = dir.join("node_modules/vite/bin/vite.js");
    if !bin.exists() {
        std::fs::create_dir_all(&dir).expect("npm dir");
        let out = Command::new("npm")
            .args([
                "install",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                "vite@8",
            ])
            .current_dir(&dir)
            .output()
            .expect("npm");
        assert!(
            out.status.success(),
            "npm install vite: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    bin
}

#[test]
#[ignore = "needs root, network namespaces and Vite from the npm registry: ./scripts/test runs it"]
fn vite_refuses_foreign_hosts_unless_allowed_hosts_is_true() {
    require_root();
    let bin = vite();
    let ns = Netns::new("vite");
    let site = TempDir::new("vite");
    std::fs::write(site.path("index.html"), "<!doctype html><title>t</title>\n").expect("index");
    for (config, port) in [
        (None, 18201u16),
        (
            Some("export default { server: { allowedHosts: true, cors: true } }\n"),
            18202,
        ),
    ] {
        let _ = std::fs::remove_file(site.path("vite.config.mjs"));
        if let Some(c) = config {
            std::fs::write(site.path("vite.config.mjs"), c).expect("config");
        }
        let child = ns
            .cmd("node")
            .arg(&bin)
            .args([
                "--port",
                &port.to_string(),
                "--strictPort",
                "--host",
                "127.0.0.1",
            ])
            .current_dir(site.path(""))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("vite");
        let _stop = Stop(None, Some(child), None);
        wait_listening(&ns, port, 600);
        let (r, code) = audit(&ns, &["--http", "--port", &port.to_string()]);
        let l = at(&r, port);
        assert_eq!(l.service.as_ref().map(|s| s.id.as_str()), Some("vite"));
        let h = http(&r, port);
        agrees_with_curl(&ns, h);
        if config.is_none() {
            // Vite's defaults: a foreign Host gets 403, a foreign Origin no CORS header.
            assert_eq!(
                (h.foreign_host, h.cors),
                (ForeignHost::Rejected, Cors::None),
                "{h:#?}"
            );
            assert_eq!(h.answers[1].status, Some(403));
            assert_eq!(code, 0);
        } else {
            assert_eq!(
                (h.foreign_host, h.cors),
                (ForeignHost::Accepted, Cors::Wildcard),
                "{h:#?}"
            );
            assert_eq!(
                codes(h),
                [
                    HttpFindingCode::Rebindable,
                    HttpFindingCode::CrossOriginReadable
                ]
            );
            assert!(
                h.findings[0].fix.contains("server.allowedHosts"),
                "{:?}",
                h.findings
            );
            assert!(
                h.findings[1].fix.contains("server.cors"),
                "{:?}",
                h.findings
            );
            assert_eq!(code, 1);
        }
    }
}

/// Headless Chromium in `ns` (its own profile; no background traffic), printing the DOM of
/// `url` once its scripts have run.
fn chromium(ns: &Netns, profile: &Path, rules: &str, url: &str) -> String {
    let mut cmd = ns.cmd("chromium");
    cmd.args([
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--virtual-time-budget=5000",
    ])
    .arg(format!("--user-data-dir={}", profile.display()))
    .arg(format!("--host-resolver-rules={rules}"))
    .args(["--dump-dom", url]);
    let (out, _) = output_within(cmd, Duration::from_secs(120));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
#[ignore = "needs root, network namespaces and Chromium: ./scripts/test runs it"]
fn chromium_reads_what_the_audit_says_a_page_can_read() {
    require_root();
    installed(&["/usr/bin/chromium"]);
    let ns = Netns::new("chrome");
    let dir = TempDir::new("chrome");
    std::fs::write(dir.path("index.html"), "served by http.server\n").expect("index");
    let _page = serve(&ns, &dir, "page", 18300, None);
    let _reject = serve(&ns, &dir, "reject-host", 18301, None);
    let _star = serve(&ns, &dir, "acao-star", 18302, None);
    let _reflect = serve(&ns, &dir, "reflect", 18303, None);
    let _simple = http_server(&ns, &dir, "127.0.0.1", 18304);
    let (r, _) = audit(&ns, &["--http", "--port", "18301,18302,18303,18304"]);
    for port in 18301..=18304 {
        let h = http(&r, port);
        // Cross-origin: a page from http://127.0.0.2:18300 fetches the server, with cookies.
        let dom = chromium(
            &ns,
            &dir.path(&format!("profile-cors-{port}")),
            "",
            &format!("http://127.0.0.2:18300/?t=http://127.0.0.1:{port}/"),
        );
        let (anon, creds) = (dom.contains("ANON READ"), dom.contains("CREDS READ"));
        assert!(dom.contains("ANON "), "the page did not run: {dom}");
        assert_eq!(
            anon,
            h.cors != Cors::None,
            "port {port}: Chromium without cookies: {dom}; the audit says cors {}",
            h.cors
        );
        assert_eq!(
            creds, h.credentials,
            "port {port}: Chromium with cookies: {dom}; the audit says credentials {}",
            h.credentials
        );
        // Rebinding: the browser resolves a name of the page's to 127.0.0.1 and sends
        // `Host: rebind.test:PORT`; what it then shows is that origin's own.
        let dom = chromium(
            &ns,
            &dir.path(&format!("profile-rebind-{port}")),
            "MAP rebind.test 127.0.0.1",
            &format!("http://rebind.test:{port}/"),
        );
        let served = dom.contains("served");
        assert_eq!(
            served,
            h.foreign_host == ForeignHost::Accepted,
            "port {port}: {dom}"
        );
    }
}
