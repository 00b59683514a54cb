//! The Windows build under Wine: `loopback.exe` and the `lb-listen.exe` listener (built by
//! `scripts/windows-build`, which `scripts/test` runs) inside a network namespace of the test's
//! own, with a LAN link to a peer. Wine creates every socket in its `wineserver`, which lives in
//! the namespace too, and answers the IP Helper tables from the namespace's kernel, so `ss` in
//! the namespace is the oracle. What Wine does not do as Windows does (owner pids are 0, no
//! Windows Firewall, no `netsh` tables, its `getaddrinfo` is the host's glibc) is asserted as
//! such; owners and the firewall's profiles are tested on recorded tables in the libraries.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Output};

use loopback_model::{
    AuditReport, BindScope, DoctorReport, Explanation, ExposureState, Proto, ResolveReport,
    SocketSourceKind, Verdict,
};

use crate::support::{require_root, Listeners, Netns};

/// Where scripts/windows-build put the binaries and the prefix.
struct Wine {
    dir: PathBuf,
    prefix: PathBuf,
}

impl Wine {
    fn from_env() -> Wine {
        let get = |var: &str| {
            PathBuf::from(std::env::var_os(var).unwrap_or_else(|| {
                panic!("{var} is not set: run the suite with ./scripts/test, which builds the Windows binaries (scripts/windows-build)")
            }))
        };
        Wine {
            dir: get("LOOPBACK_WINDOWS_DIR"),
            prefix: get("LOOPBACK_WINE_PREFIX"),
        }
    }

    /// `wine PROGRAM` inside `ns`, with this prefix.
    fn cmd(&self, ns: &Netns, program: &str) -> Command {
        let mut c = ns.cmd("env");
        c.arg(format!("WINEPREFIX={}", self.prefix.display()))
            .arg("WINEDEBUG=-all")
            .arg("wine")
            .arg(self.dir.join(program));
        c
    }

    fn loopback(&self, ns: &Netns, args: &[&str]) -> Output {
        self.cmd(ns, "loopback.exe")
            .args(args)
            .output()
            .expect("running loopback.exe under wine")
    }

    fn server(&self, arg: &str) -> Command {
        let mut c = Command::new("wineserver");
        c.arg(arg).env("WINEPREFIX", &self.prefix);
        c
    }

    /// The prefix's hosts file, as Windows programs find it under `%SystemRoot%`.
    fn hosts(&self) -> PathBuf {
        self.prefix
            .join("drive_c/windows/system32/drivers/etc/hosts")
    }
}

/// Stops the prefix's server when the test ends, and puts the hosts file back.
struct Cleanup<'a> {
    wine: &'a Wine,
    hosts: Option<Vec<u8>>,
}

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        if let Some(h) = self.hosts.take() {
            let _ = std::fs::write(self.wine.hosts(), h);
        }
        let _ = self.wine.server("-k").status();
    }
}

fn json<T: serde::de::DeserializeOwned>(what: &str, out: &Output) -> T {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what} JSON did not parse ({e}); exit {:?}; stdout: {} stderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn exit(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// A TCP connection from the peer namespace (bash's /dev/tcp, bounded by `timeout`).
fn peer_connects(ns: &Netns, addr: &str, port: u16) -> bool {
    Command::new("ip")
        .args([
            "netns",
            "exec",
            ns.peer_name(),
            "timeout",
            "5",
            "bash",
            "-c",
        ])
        .arg(format!("exec 3<>/dev/tcp/{addr}/{port}"))
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[test]
#[ignore = "needs root, network namespaces and the Windows build under Wine: ./scripts/test runs it"]
fn the_windows_build_audits_doctors_resolves_explains_and_probes_under_wine() {
    require_root();
    let wine = Wine::from_env();
    let ns = Netns::with_lan("wine");
    // No server of this prefix may run elsewhere: the one the test starts, persistent until the
    // end, lives in the namespace, and every wine process below talks to it.
    let _ = wine.server("-k").status();
    let _ = wine.server("-w").status();
    // The prefix's file without the test's line (a run killed before its cleanup left it).
    let original: Vec<u8> =
        String::from_utf8_lossy(&std::fs::read(wine.hosts()).expect("the prefix's hosts file"))
            .split_inclusive('\n')
            .filter(|l| {
                !l.contains("winapp.test")
                    && !l.contains("winnames.test")
                    && !l.contains("loopback names")
            })
            .collect::<String>()
            .into_bytes();
    let _cleanup = Cleanup {
        wine: &wine,
        hosts: Some(original.clone()),
    };
    let mut hosts = original.clone();
    if !hosts.ends_with(b"\n") {
        hosts.extend_from_slice(b"\r\n");
    }
    hosts.extend_from_slice(b"127.0.0.5 winapp.test\r\n");
    std::fs::write(wine.hosts(), hosts).expect("writing the prefix's hosts file");
    // The server goes to the background holding what it inherited: no pipes, so waiting for
    // it means waiting for its start, not its end.
    let started = ns
        .cmd("env")
        .arg(format!("WINEPREFIX={}", wine.prefix.display()))
        .args(["wineserver", "-p"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .expect("starting wineserver");
    assert!(started.success(), "wineserver -p: {started}");

    let mut listen = wine.cmd(&ns, "lb-listen.exe");
    listen.args([
        "tcp:127.0.0.1:41001",
        "tcp:0.0.0.0:41002",
        "tcp:[::1]:41003",
        "udp:127.0.0.1:41004",
    ]);
    let held = Listeners::spawn(listen);

    // audit --http: the Windows build's HTTP exchange (Winsock) and TLS (rustls with graviola)
    // against lb-listen.exe's HTTP answer (any Host) and a TLS server in the namespace.
    let mut web = wine.cmd(&ns, "lb-listen.exe");
    web.arg("tcp:127.0.0.1:41005,http");
    let _web = Listeners::spawn(web);
    let dir = crate::support::TempDir::new("winhttp");
    let (cert, key) = crate::http::self_signed(&dir);
    let _tls = crate::http::serve(&ns, &dir, "tls", 41006, Some((&cert, &key)));
    let out = wine.loopback(&ns, &["audit", "--http", "--json", "--port", "41005,41006"]);
    assert_eq!(exit(&out), 1, "both answer a foreign Host");
    let r: AuditReport = json("audit --http", &out);
    let check = |port: u16| {
        r.listeners
            .iter()
            .find(|l| l.port == port)
            .and_then(|l| l.http.as_deref())
            .unwrap_or_else(|| panic!("no http check on {port}: {:#?}", r.listeners))
    };
    let h = check(41005);
    assert!(
        h.speaks_http && h.foreign_host == loopback_model::http::ForeignHost::Accepted,
        "{h:#?}"
    );
    assert_eq!(h.transport, loopback_model::http::HttpTransport::Plain);
    let h = check(41006);
    assert_eq!(
        h.transport,
        loopback_model::http::HttpTransport::Tls,
        "{h:#?}"
    );
    assert_eq!(
        h.answers.iter().filter(|a| a.status == Some(200)).count(),
        3,
        "{h:#?}"
    );
    // The plain try fails its TLS handshake before the server's handler counts it.
    assert_eq!(
        crate::http::connections(&dir, 41006),
        4,
        "four requests over TLS"
    );

    // audit: every socket ss sees, each with its scope and verdict.
    let out = wine.loopback(&ns, &["audit", "--json", "--uplink", "lan0"]);
    assert_eq!(
        exit(&out),
        1,
        "0.0.0.0:41002 is a finding: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: AuditReport = json("audit", &out);
    assert_eq!(r.source, SocketSourceKind::Iphelper);
    let seen: BTreeSet<(String, String, u16)> = r
        .listeners
        .iter()
        .chain(&r.udp_clients)
        .map(|l| (l.proto.to_string(), l.address.to_string(), l.port))
        .collect();
    let oracle: BTreeSet<(String, String, u16)> = ns
        .ss()
        .into_iter()
        .map(|s| (s.proto, s.address, s.port))
        .collect();
    assert_eq!(seen, oracle, "loopback.exe and ss disagree");
    let at = |proto: Proto, port: u16| {
        r.listeners
            .iter()
            .find(|l| l.proto == proto && l.port == port)
            .unwrap_or_else(|| panic!("no {proto} {port} in {:#?}", r.listeners))
    };
    for (proto, port, scope, verdict) in [
        (Proto::Tcp, 41001, BindScope::Loopback, Verdict::Ok),
        (Proto::Tcp, 41002, BindScope::Wildcard, Verdict::Exposed),
        (Proto::Tcp, 41003, BindScope::Loopback, Verdict::Ok),
        (Proto::Udp, 41004, BindScope::Loopback, Verdict::Ok),
    ] {
        let l = at(proto, port);
        assert_eq!((l.bind_scope, l.verdict), (scope, verdict), "{l:#?}");
    }
    assert_eq!(at(Proto::Tcp, 41003).address.to_string(), "::1");
    // Wine names no owner, and the tool says so rather than inventing one.
    assert!(r.listeners.iter().all(|l| l.owners.is_empty()));
    assert!(
        r.warnings.iter().any(|w| w.contains("pid 0")),
        "{:?}",
        r.warnings
    );
    // Wine has no Windows Firewall in its registry: what the peer reaches is unknown, said why.
    let wildcard = at(Proto::Tcp, 41002);
    let exposure = wildcard.exposure.as_ref().expect("exposure judged");
    assert_eq!(exposure.state, ExposureState::Unknown, "{exposure:#?}");
    assert!(
        exposure
            .paths
            .iter()
            .any(|p| p.detail.contains("Windows Firewall")),
        "{exposure:#?}"
    );
    // The peer really reaches the wildcard listener over the LAN, and not the loopback one.
    assert!(peer_connects(&ns, "198.18.0.1", 41002));
    assert!(!peer_connects(&ns, "198.18.0.1", 41001));

    // doctor: valid JSON, the loopback interface as Wine shows it, Linux-only checks skipped.
    let out = wine.loopback(&ns, &["doctor", "--json"]);
    assert!(matches!(exit(&out), 0 | 1), "doctor exit {:?}", out.status);
    let d: DoctorReport = json("doctor", &out);
    let check = |id: &str| {
        d.checks
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no check {id}"))
    };
    for id in [
        "loopback.interface",
        "loopback.ipv4-address",
        "loopback.ipv4-tcp",
        "localhost.hosts-file",
    ] {
        assert_eq!(
            check(id).status,
            loopback_model::CheckStatus::Pass,
            "{:#?}",
            check(id)
        );
    }
    assert_eq!(
        check("loopback.route-localnet").status,
        loopback_model::CheckStatus::Skip
    );
    assert!(d
        .checks
        .iter()
        .filter_map(|c| c.fix.as_deref())
        .all(|f| !f.contains("ip addr") && !f.contains("sysctl")));

    // resolve: the model reads the prefix's hosts file; localhost is the DNS client's own.
    let out = wine.loopback(&ns, &["resolve", "winapp.test", "--json"]);
    assert!(matches!(exit(&out), 0 | 1), "resolve exit {:?}", out.status);
    let res: ResolveReport = json("resolve", &out);
    assert_eq!(
        res.addresses,
        vec!["127.0.0.5".parse::<std::net::IpAddr>().expect("ip")]
    );
    assert!(
        res.steps.iter().any(|s| s
            .detail
            .to_ascii_lowercase()
            .contains(r"system32\drivers\etc\hosts")),
        "{:#?}",
        res.steps
    );
    let out = wine.loopback(&ns, &["resolve", "localhost", "--json"]);
    assert!(matches!(exit(&out), 0 | 1), "resolve exit {:?}", out.status);
    let res: ResolveReport = json("resolve", &out);
    assert_eq!(
        res.addresses,
        vec![
            "::1".parse::<std::net::IpAddr>().expect("ip"),
            "127.0.0.1".parse().expect("ip")
        ]
    );

    // explain and probe.
    let out = wine.loopback(&ns, &["explain", "127.0.0.1", "--json"]);
    assert_eq!(exit(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let e: Explanation = json("explain", &out);
    assert!(!e.addresses[0].assigned.is_empty(), "{e:#?}");
    let out = wine.loopback(&ns, &["probe", "127.0.0.1:41001", "--json"]);
    assert_eq!(exit(&out), 0, "{}", String::from_utf8_lossy(&out.stdout));
    let _: serde_json::Value = json("probe", &out);
    let out = wine.loopback(&ns, &["probe", "127.0.0.1:41009", "--json"]);
    assert_eq!(exit(&out), 1, "nothing listens on 41009");
    let v: serde_json::Value = json("probe", &out);
    assert!(v.to_string().contains("refused"), "{v}");

    // bind: the port lb-listen.exe holds fails as a real bind in the namespace does (Wine's
    // sockets are the kernel's), and the holder is named from the IP Helper table.
    let out = wine.loopback(&ns, &["bind", "127.0.0.1:41001", "--json"]);
    assert_eq!(exit(&out), 1, "{}", String::from_utf8_lossy(&out.stderr));
    let b: loopback_model::bind::BindReport = json("bind", &out);
    assert!(
        !b.options.reuseaddr,
        "Windows servers do not set SO_REUSEADDR by default"
    );
    let x = &b.results[0];
    assert_eq!(x.errno.as_deref(), Some("WSAEADDRINUSE"), "{x:#?}");
    assert_eq!(x.cause.map(|c| c.as_str()), Some("listener"), "{x:#?}");
    assert_eq!(
        (
            x.holders[0].address.to_string(),
            x.holders[0].port,
            x.holders[0].state.as_str()
        ),
        ("127.0.0.1".to_owned(), 41001, "listen")
    );
    let real = crate::support::run(
        ns.cmd(crate::support::example_bin("lb-bind"))
            .args(["tcp", "127.0.0.1:41001"]),
    );
    assert_eq!(String::from_utf8_lossy(&real.stdout).trim(), "EADDRINUSE");
    let out = wine.loopback(&ns, &["bind", "41002", "--json"]);
    let b: loopback_model::bind::BindReport = json("bind", &out);
    for x in &b.results {
        let addr = std::net::SocketAddr::new(x.address, x.port).to_string();
        // A Windows IPv6 socket is IPv6-only unless told otherwise (Wine too).
        let v6only: &[&str] = if x.address.is_ipv6() {
            &["v6only"]
        } else {
            &[]
        };
        let real = crate::support::run(
            ns.cmd(crate::support::example_bin("lb-bind"))
                .args(["tcp", &addr])
                .args(v6only),
        );
        let real = String::from_utf8_lossy(&real.stdout).trim().to_owned();
        assert_eq!(
            x.ok,
            real == "ok",
            "{addr}: loopback.exe {x:#?}, a real bind {real}"
        );
        if x.address.to_string() == "0.0.0.0" {
            assert_eq!(x.cause.map(|c| c.as_str()), Some("listener"), "{x:#?}");
        }
    }
    let out = wine.loopback(&ns, &["bind", "127.0.0.1:41010", "--json"]);
    assert_eq!(exit(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));

    // intercept: Windows' routes for a uid, policy rules and filter rules are not read, and
    // the trace says so rather than calling the path direct.
    let out = wine.loopback(&ns, &["intercept", "127.0.0.1:41001", "--json"]);
    assert_eq!(exit(&out), 1, "{}", String::from_utf8_lossy(&out.stderr));
    let t: loopback_model::intercept::InterceptReport = json("intercept", &out);
    assert_eq!(t.paths[0].verdict.as_str(), "unknown", "{t:#?}");
    assert!(
        t.paths[0]
            .notes
            .iter()
            .chain(&t.warnings)
            .any(|n| n.contains("Linux only")),
        "{t:#?}"
    );

    // names: the default hosts file is %SystemRoot%\System32\drivers\etc\hosts; an
    // add and a remove give back its bytes, and the system resolver's model answers the name.
    let before = std::fs::read(wine.hosts()).expect("the prefix's hosts file");
    let out = wine.loopback(&ns, &["names", "add", "winnames.test", "--json"]);
    assert_eq!(exit(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let r: loopback_model::names::NamesReport = json("names add", &out);
    assert!(
        r.hosts_file
            .to_ascii_lowercase()
            .ends_with(r"system32\drivers\etc\hosts"),
        "{r:#?}"
    );
    assert!(
        r.changed && r.write.map(|w| w.as_str()) == Some("rename"),
        "{r:#?}"
    );
    let now = std::fs::read(wine.hosts()).expect("hosts");
    assert!(now.starts_with(&before), "nothing before the block moves");
    let line = format!("{} winnames.test", r.names[0].address);
    assert!(String::from_utf8_lossy(&now).contains(&line), "{line}");
    let out = wine.loopback(&ns, &["names", "verify", "winnames.test", "--json"]);
    let v: loopback_model::names::NamesVerifyReport = json("names verify", &out);
    let system = &v.names[0].clients[0];
    assert_eq!(system.client.as_str(), "system", "{v:#?}");
    assert_eq!(system.addresses, vec![r.names[0].address], "{v:#?}");
    assert!(!system.tested, "not checked against Windows itself");
    assert_eq!(exit(&out), 0, "{v:#?}");
    let out = wine.loopback(&ns, &["names", "remove", "winnames.test"]);
    assert_eq!(exit(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(wine.hosts()).expect("hosts"), before);

    // exporter: a real scrape from curl in the namespace sees the listeners.
    let exporter = crate::support::Proc(
        wine.cmd(&ns, "loopback.exe")
            .args(["exporter", "--listen", "127.0.0.1:10127"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("starting the exporter under wine"),
    );
    // Poll until it answers: a bounded wait on the condition (30 s), not a timed sleep.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let metrics = loop {
        let out = ns
            .cmd("curl")
            .args(["-s", "-m", "2", "http://127.0.0.1:10127/metrics"])
            .output()
            .expect("curl");
        if out.status.success() && !out.stdout.is_empty() {
            break String::from_utf8_lossy(&out.stdout).into_owned();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the exporter under wine did not answer within 30 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(
        metrics.contains(r#"address="0.0.0.0",port="41002""#)
            && metrics.contains(r#"verdict="exposed""#),
        "{metrics}"
    );
    drop(exporter);
    drop(held);
}
