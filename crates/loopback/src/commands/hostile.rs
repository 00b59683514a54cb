//! Every renderer, fed reports whose every free-text field is hostile, and the redaction
//! property over every output of `audit`, `explain` and `probe`.

use std::time::Duration;

use loopback_core::audit::{audit, AuditOptions};
use loopback_core::doctor::DoctorOptions;
use loopback_core::probe::ProbeOptions;
use loopback_core::redact;
use loopback_core::snapshot::ResolverPaths;
use loopback_core::testing::FakeSystem;
use loopback_core::timings::Timings;
use loopback_core::{doctor, explain, probe, resolve};
use loopback_model::Proto;
use loopback_sys::probe::HttpReply;
use loopback_sys::{ProbeOutcome, ProcessInfo};
use proptest::prelude::*;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::escape::has_raw_control;
use crate::output::Style;

/// Terminal control, a window title, a bidi override, C1 CSI, DEL, a tab, and a newline that
/// would start a forged row.
const HOSTILE: &str =
    "t\x1b[2J\x1b]0;pwned\x07\r\u{202e}lol\u{9b}31m\x7f\tx\nFORGED  tcp  0.0.0.0:1  owned\n";

/// Replace every string in `report` that can hold free text with [`HOSTILE`]: each string
/// leaf of its JSON form is replaced, and kept when the document still deserialises (enums and
/// addresses do not, and are left alone). Returns the report and how many fields were changed.
fn hostile<T: Serialize + DeserializeOwned>(report: &T) -> (T, usize) {
    fn leaves(v: &Value, at: String, out: &mut Vec<String>) {
        match v {
            Value::String(_) => out.push(at),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .for_each(|(i, x)| leaves(x, format!("{at}/{i}"), out)),
            Value::Object(o) => o
                .iter()
                .for_each(|(k, x)| leaves(x, format!("{at}/{k}"), out)),
            _ => {}
        }
    }
    let mut v = serde_json::to_value(report).expect("to json");
    let mut paths = Vec::new();
    leaves(&v, String::new(), &mut paths);
    let mut changed = 0;
    for p in paths {
        let Some(slot) = v.pointer_mut(&p) else {
            continue;
        };
        let old = std::mem::replace(slot, Value::String(HOSTILE.into()));
        if serde_json::from_value::<T>(v.clone()).is_ok() {
            changed += 1;
        } else if let Some(slot) = v.pointer_mut(&p) {
            *slot = old;
        }
    }
    (serde_json::from_value(v).expect("from json"), changed)
}

fn assert_clean(what: &str, out: &str) {
    assert!(
        !has_raw_control(out),
        "{what}: raw control characters reach the terminal:\n{out}"
    );
    assert!(
        out.lines().all(|l| !l.trim_start().starts_with("FORGED")),
        "{what}: a forged row:\n{out}"
    );
    assert!(
        out.contains("\\e[2J"),
        "{what}: the hostile text is not shown at all:\n{out}"
    );
}

fn strip_own_colours(out: &str) -> String {
    ["\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[0m"]
        .iter()
        .fold(out.to_owned(), |s, sgr| s.replace(sgr, ""))
}

/// With colour on, the only escape sequences are `loopback`'s own SGR colours.
fn assert_only_own_colours(what: &str, out: &str) {
    assert_clean(what, &strip_own_colours(out));
}

fn process(pid: u32, comm: &str, argv: &[&str]) -> ProcessInfo {
    ProcessInfo {
        pid,
        comm: comm.into(),
        euid: Some(0),
        argv: argv.iter().map(|a| a.to_string()).collect(),
        // A user may name their own cgroups anything: the unit name is hostile too.
        cgroup: Some(format!(
            "/user.slice/user-1000.slice/user@1000.service/app.slice/{comm}\x1b[2J.service"
        )),
        // A Windows account name comes from outside too.
        user: Some(format!("EVIL\\{comm}\x1b]0;title\x07")),
    }
}

/// A host with an exposed PostgreSQL (service, config file, fix), a loopback Redis and an
/// unknown owner, and an HTTP server that answers garbage.
fn system() -> FakeSystem {
    let mut sys = FakeSystem::lan();
    sys.add_socket(Proto::Tcp, "0.0.0.0", 5432, None, 10);
    sys.add_socket(Proto::Tcp, "127.0.0.1", 6379, None, 11);
    sys.add_socket(Proto::Tcp, "::", 8080, Some(false), 12);
    sys.add_owner(
        10,
        process(
            40,
            "postgres",
            &["postgres", "-c", "config_file=/etc/pg.conf"],
        ),
    );
    sys.files.insert(
        "/proc/40/root/etc/pg.conf".into(),
        b"listen_addresses = '*'\n".to_vec(),
    );
    sys.add_owner(11, process(41, "redis-server", &["redis-server *:6379"]));
    sys.names
        .insert("localhost".into(), vec!["127.0.0.1".parse().expect("ip")]);
    sys.connect_ok.push("127.0.0.1:8080".parse().expect("sa"));
    sys.http_reply = HttpReply::NotHttp(b"\x1b[2J\x00\xff binary".to_vec());
    sys.probe = ProbeOutcome::Timeout { stage: "reply" };
    sys
}

const PLAIN: Style = Style::fixed(false, 100);
const COLOUR: Style = Style::fixed(true, 100);

#[test]
fn audit_table_escapes_every_field() {
    let sys = system();
    let report = audit(&sys.snapshot(), &AuditOptions::default()).expect("audit");
    let (report, changed) = hostile(&report);
    assert!(changed > 20, "only {changed} fields were made hostile");
    for (style, check) in [
        (PLAIN, assert_clean as fn(&str, &str)),
        (COLOUR, assert_only_own_colours),
    ] {
        let mut out = Vec::new();
        super::audit::render(&report, style, false, &mut out).expect("render");
        let out = String::from_utf8(out).expect("utf8");
        check("audit", &out);
        // Exactly one row per listener, whatever the text holds.
        let plain = strip_own_colours(&out);
        let rows = plain
            .lines()
            .filter(|l| {
                ["exposed ", "ok ", "allowed "]
                    .iter()
                    .any(|v| l.starts_with(v))
            })
            .count();
        assert_eq!(rows, report.listeners.len(), "{out}");
    }
}

#[test]
fn watch_lines_escape_every_field() {
    let sys = system();
    let report = audit(&sys.snapshot(), &AuditOptions::default()).expect("audit");
    let (mut report, changed) = hostile(&report);
    assert!(changed > 20, "only {changed} fields were made hostile");
    let mut empty = report.clone();
    empty.listeners.clear();
    // A namespace with a hostile name, as `ip netns add` allows almost any.
    report.namespaces.push(loopback_model::NamespaceInfo {
        inode: report.listeners[0].netns,
        names: vec![HOSTILE.into()],
        container: None,
        processes: 1,
        audited: true,
        current: false,
    });
    let events = loopback_core::watch::changes(&empty, &report, "2026-11-24T00:00:00.000Z");
    assert_eq!(events.len(), report.listeners.len());
    let out: String = events
        .iter()
        .map(|e| super::watch::line(e) + "\n")
        .collect();
    assert_clean("watch", &out);
    assert_eq!(
        out.lines().count(),
        events.len(),
        "one line per event:\n{out}"
    );
}

#[test]
fn metrics_cannot_forge_a_series() {
    use crate::metrics::{render, Counters, Exposition, Sample};
    let sys = system();
    let report = audit(&sys.snapshot(), &AuditOptions::default()).expect("audit");
    let (mut report, _) = hostile(&report);
    let long = format!("{HOSTILE}{}", "x".repeat(1000));
    report.namespaces.push(loopback_model::NamespaceInfo {
        inode: report.listeners[0].netns,
        names: vec![long.clone()],
        container: Some(loopback_model::Container {
            runtime: loopback_model::Runtime::Docker,
            id: "0123456789ab".into(),
            name: Some(long),
        }),
        processes: 1,
        audited: true,
        current: false,
    });
    for format in [Exposition::OpenMetrics, Exposition::Text] {
        let out = render(
            &Sample {
                report: Some(&report),
                doctor: None,
                duration: Duration::from_millis(3),
                counters: Some(Counters::default()),
            },
            format,
        );
        // Every line is a comment or one of our samples: no text started a line of its own.
        for line in out.lines() {
            assert!(
                line.starts_with("# ") || line.starts_with("loopback_"),
                "{format:?}: a line not ours: {line:?}"
            );
        }
        let infos = out
            .lines()
            .filter(|l| l.starts_with("loopback_listener_info{"))
            .count();
        assert_eq!(infos, report.listeners.len(), "{out}");
        // Label values from outside are bounded: no line carries the 1000 x's.
        assert!(out.lines().all(|l| !l.contains(&"x".repeat(200))), "{out}");
        assert!(out.contains("\\n"), "newlines are escaped, not written");
    }
}

#[test]
fn explain_probe_doctor_resolve_escape_every_field() {
    let sys = system();
    let e = explain::run(&sys, &sys, "localhost:6379", &Timings::new()).expect("explain");
    let (e, n) = hostile(&e);
    assert!(n > 5, "{n}");
    assert_clean("explain", &super::explain::render(&e, PLAIN));

    let p = probe::run(
        &sys,
        &sys,
        "127.0.0.1:8080",
        &ProbeOptions {
            http: true,
            ..ProbeOptions::default()
        },
        &Timings::new(),
    )
    .expect("probe");
    assert_eq!(p.diagnosis.code, "not-http");
    let (p, n) = hostile(&p);
    assert!(n > 5, "{n}");
    assert_clean("probe", &super::probe::render(&p, PLAIN, true));
    assert_only_own_colours("probe", &super::probe::render(&p, COLOUR, true));

    let d = doctor::run(
        &sys,
        &sys,
        &DoctorOptions {
            timeout: Duration::from_millis(10),
            ..DoctorOptions::default()
        },
        &Timings::new(),
    );
    let (d, n) = hostile(&d);
    assert!(n > 10, "{n}");
    assert_clean("doctor", &super::doctor::render(&d, PLAIN));
    assert_only_own_colours("doctor", &super::doctor::render(&d, COLOUR));

    let r = resolve::run(
        &sys,
        &sys,
        "localhost",
        &ResolverPaths::default(),
        &Timings::new(),
    )
    .expect("resolve");
    let (r, n) = hostile(&r);
    assert!(n > 3, "{n}");
    assert_clean("resolve", &super::resolve::render(&r, PLAIN));
}

#[test]
fn bench_table_escapes_every_field() {
    use loopback_core::bench::{judge, Data, LoadReadings, Measured};
    use loopback_model::bench::{
        BenchPath, BenchProto, BenchSettings, BenchTest, LinkCounters, PathInfo, Placement,
        PlacementMode,
    };
    use loopback_sys::bench::{CpuTimes, Samples, StreamRounds};
    let info = |path| PathInfo {
        path,
        target: Some("t".into()),
        device: Some("d".into()),
        mtu: Some(1500),
        route: Some("r".into()),
        counters: Some(LinkCounters::default()),
        setup: Some("s".into()),
        skipped: None,
        errors: vec!["e".into()],
    };
    let mut skipped = info(BenchPath::Veth);
    skipped.skipped = Some("why".into());
    let latency = |path, proto, test| Measured {
        path,
        proto,
        test,
        data: Data::Latency(Samples {
            rounds: vec![vec![10_000, 12_000], vec![11_000]],
            lost: 0,
        }),
    };
    let measured = [
        latency(BenchPath::Loopback4, BenchProto::Tcp, BenchTest::Rr),
        latency(BenchPath::Own, BenchProto::Udp, BenchTest::Rr),
        latency(BenchPath::Unix, BenchProto::UnixStream, BenchTest::Proxy),
        Measured {
            path: BenchPath::Loopback4,
            proto: BenchProto::Tcp,
            test: BenchTest::Stream,
            data: Data::Stream(StreamRounds {
                rounds: vec![(1 << 30, Duration::from_secs(1))],
            }),
        },
    ];
    let busy = CpuTimes {
        busy: 90,
        idle: 10,
        steal: 0,
    };
    let b = judge(
        BenchSettings {
            size: 64,
            stream_size: 1 << 17,
            duration_ms: 300,
            repeats: 3,
            warmup_ms: 30,
            placement: Placement {
                mode: PlacementMode::Split,
                client_cpu: Some(0),
                server_cpu: Some(1),
                cpus_available: 2,
            },
        },
        vec![info(BenchPath::Own), skipped],
        &measured,
        &LoadReadings {
            cpus: 2,
            load1_before: Some(4.0),
            quiet: Some((CpuTimes::default(), busy)),
            ..LoadReadings::default()
        },
        vec!["w".into()],
    );
    assert!(b.load.busy);
    let (b, n) = hostile(&b);
    assert!(n > 8, "{n}");
    assert_clean("bench", &super::bench::render(&b, PLAIN));
    assert_only_own_colours("bench", &super::bench::render(&b, COLOUR));
    // The plot holds only names the tool wrote: paths and protocols are closed sets.
    let svg = crate::plot::latency_svg(&b);
    assert!(!svg.contains("pwned") && !has_raw_control(&svg.replace('\n', "")));
}

/// Secrets that look like real ones: letters, digits and the punctuation passwords use (no
/// white space, quotes, `:`, `@`, `/` or the list separators `& , ; } ) ]`, which make a
/// value ambiguous in any syntax; `/` in a password is tested by its own shape).
fn secrets() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9+!%^~*$#_.=-]{7,23}".prop_filter(
        "a secret is not a word the output holds anyway",
        |s| {
            s.chars().any(|c| c.is_ascii_digit())
                && s.chars().any(|c| c.is_ascii_alphabetic())
                && !redact::REDACTED.contains(s.as_str())
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    /// A generated secret placed into any known shape never appears in any output, human or
    /// JSON, of `audit`, `explain` or `probe`.
    #[test]
    fn no_secret_reaches_any_output(shape in 0usize..1000, secret in secrets()) {
        let examples = redact::table().examples();
        let example = examples[shape % examples.len()];
        let argv: Vec<String> = example.iter().map(|a| a.replace("{S}", &secret)).collect();
        let argv_refs: Vec<&str> = argv.iter().map(String::as_str).collect();
        prop_assume!(!example.join(" ").contains(&secret));
        let mut sys = FakeSystem::lan();
        sys.add_socket(Proto::Tcp, "0.0.0.0", 7000, None, 20);
        sys.add_socket(Proto::Tcp, "127.0.0.1", 7001, None, 21);
        // The kernel's comm: the executable's base name, at most 15 bytes.
        let program = argv_refs[0].split_whitespace().next().unwrap_or("x");
        let comm: String = program.rsplit('/').next().unwrap_or("x").chars().take(15).collect();
        let comm = comm.as_str();
        sys.add_owner(20, process(50, comm, &argv_refs));
        sys.add_owner(21, process(50, comm, &argv_refs));
        sys.names.insert("localhost".into(), vec!["127.0.0.1".parse().expect("ip")]);

        let a = audit(&sys.snapshot(), &AuditOptions::default()).expect("audit");
        let mut human = Vec::new();
        super::audit::render(&a, PLAIN, false, &mut human).expect("render");
        let e = explain::run(&sys, &sys, "localhost:7001", &Timings::new()).expect("explain");
        let p = probe::run(&sys, &sys, "localhost:7001", &ProbeOptions::default(), &Timings::new()).expect("probe");
        let outputs = [
            ("audit json", serde_json::to_string(&a).expect("json")),
            ("audit", String::from_utf8_lossy(&human).into_owned()),
            ("explain json", serde_json::to_string(&e).expect("json")),
            ("explain", super::explain::render(&e, PLAIN)),
            ("probe json", serde_json::to_string(&p).expect("json")),
            ("probe", super::probe::render(&p, PLAIN, true)),
        ];
        for (what, out) in outputs {
            prop_assert!(!out.contains(&secret), "{} leaks {} from {:?}:\n{}", what, secret, argv, out);
        }
    }
}

#[test]
fn bind_escapes_every_field() {
    use loopback_core::bind::{run, BindRequest};
    use loopback_sys::trybind::{BindErrorKind, BindOutcome};
    let mut sys = system();
    sys.bind_outcomes.insert(
        "127.0.0.1:6379".parse().expect("sa"),
        BindOutcome::Failed {
            errno: "EADDRINUSE".into(),
            kind: BindErrorKind::InUse,
            message: "bind: in use".into(),
        },
    );
    let req = BindRequest {
        target: "127.0.0.1:6379".into(),
        proto: Proto::Tcp,
        options: loopback_model::bind::BindOptions {
            reuseaddr: true,
            reuseport: false,
            v6only: None,
        },
    };
    let b = run(&sys, &sys, &req, &Timings::new()).expect("bind");
    assert_eq!(b.results[0].holders[0].owners[0].pid, 41);
    // The unit and the name come from outside, and reach the fix unescaped in JSON only.
    let plain = super::bind::render(&b, PLAIN);
    assert!(!has_raw_control(&plain), "{plain}");
    let (b, n) = hostile(&b);
    assert!(n > 5, "{n}");
    assert_clean("bind", &super::bind::render(&b, PLAIN));
    assert_only_own_colours("bind", &super::bind::render(&b, COLOUR));
}

#[test]
fn names_escape_every_field() {
    use loopback_model::names::{NameEntry, NamesReport, WriteMethod};
    // A managed block is a file anyone with write access edits: its names come from outside.
    let hosts = b"# BEGIN loopback names\n127.0.0.2 api.test\n127.0.0.3 web.localhost\n# END loopback names\n";
    let mut sys = system();
    sys.files.insert("/etc/hosts".into(), hosts.to_vec());
    let v = loopback_core::names::verify(&sys, "/etc/hosts", &[], true, &Timings::new())
        .expect("verify");
    assert_eq!(v.names.len(), 2);
    let (v, n) = hostile(&v);
    assert!(n > 10, "{n}");
    assert_clean("names verify", &super::names::render_verify(&v, PLAIN));
    assert_only_own_colours("names verify", &super::names::render_verify(&v, COLOUR));
    let r = NamesReport {
        version: 1,
        hosts_file: "/etc/hosts".into(),
        names: vec![NameEntry {
            name: "api.test".into(),
            address: "127.0.0.2".parse().expect("ip"),
        }],
        changed: true,
        write: Some(WriteMethod::InPlace),
        written_to: Some("/etc/static/hosts".into()),
        plan: vec!["ifconfig lo0 alias 127.0.0.2 up".into()],
        notes: vec!["a note".into()],
    };
    let (r, n) = hostile(&r);
    assert!(n >= 5, "{n}");
    assert_clean("names add", &super::names::render_edit(&r, "added"));
    assert_clean("names list", &super::names::render_list(&r));
}

#[test]
fn http_findings_escape_every_field() {
    let mut sys = system();
    // A server's status line and headers are its own to write.
    sys.http_servers.insert("127.0.0.1:6379".parse().expect("sa"), |_, _| {
        loopback_sys::http::HttpExchange {
            sent: true,
            closed: true,
            reply: b"HTTP/1.1 200 \x1b[2J\x1b]0;pwned\x07OK\r\nServer: \x1b[2J\xff\r\nAccess-Control-Allow-Origin: *\r\nLocation: \r\x9b31m\r\n\r\n".to_vec(),
            ..Default::default()
        }
    });
    let req = loopback_core::snapshot::Request {
        http: Some(loopback_core::http::HttpOptions::default()),
        ..loopback_core::snapshot::Request::of(loopback_core::snapshot::Parts::LISTENERS)
    };
    let snap = loopback_core::snapshot::capture(&sys, &req);
    let report = audit(&snap, &AuditOptions::default()).expect("audit");
    let h = report
        .listeners
        .iter()
        .find_map(|l| l.http.as_deref())
        .expect("an http check");
    // httparse refuses the control characters, so no header is read; the status line is
    // still shown, and the finding quotes it.
    assert!(
        !h.findings.is_empty()
            && h.answers[0]
                .status_line
                .as_deref()
                .is_some_and(|l| l.contains('\x1b')),
        "{h:#?}"
    );
    for report in [report.clone(), hostile(&report).0] {
        for (style, check) in [
            (PLAIN, assert_clean as fn(&str, &str)),
            (COLOUR, assert_only_own_colours),
        ] {
            let mut out = Vec::new();
            super::audit::render(&report, style, false, &mut out).expect("render");
            check("audit --http", &String::from_utf8(out).expect("utf8"));
            let h = report
                .listeners
                .iter()
                .find_map(|l| l.http.as_deref())
                .expect("http");
            let mut out = Vec::new();
            super::http::details(h, style, "  ", &mut out).expect("render");
            check("http details", &String::from_utf8(out).expect("utf8"));
            // The summary holds only closed sets and numbers.
            assert!(!has_raw_control(&super::http::summary(h)));
        }
    }
}
