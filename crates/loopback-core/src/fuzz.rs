//! Entry points for the fuzz targets in `fuzz/` and for the test that replays their corpus on
//! every run of the suite (`tests/fuzz_corpus.rs`). Each takes arbitrary bytes, feeds them to
//! one parser or judgment, and checks what must hold whatever the input (no panic, and the
//! invariants named beside each). The fuzz targets and the replay test share this one table,
//! so a target cannot exist without its replay.

use loopback_model::Proto;
use loopback_sys::parse::{gai, hosts, if_inet6, nsswitch, procfs, procnet, route};

/// One fuzz target: its name (the `fuzz/fuzz_targets/NAME.rs` file and `fuzz/corpus/NAME/`)
/// and the function it runs.
pub type Target = (&'static str, fn(&[u8]));

/// Every fuzz target.
pub const TARGETS: &[Target] = &[
    ("hosts", hosts_file),
    ("nsswitch", nsswitch_conf),
    ("gai_conf", gai_conf),
    ("proc_files", proc_files),
    ("proc_net", proc_net),
    ("netlink", netlink),
    ("policy", policy),
    ("config_readers", config_readers),
    ("redaction", redaction),
    ("targets", targets),
    ("http_reply", http_reply),
    ("http_answer", http_answer),
    ("resolve_model", resolve_model),
    ("ruleset", ruleset),
    ("service_reply", service_reply),
];

/// Run the target called `name` on `data`; unknown names do nothing.
pub fn run(name: &str, data: &[u8]) {
    if let Some((_, f)) = TARGETS.iter().find(|(n, _)| *n == name) {
        f(data);
    }
}

fn text(data: &[u8]) -> String {
    String::from_utf8_lossy(data).into_owned()
}

/// The hosts parser: every entry has a name, and line numbers never exceed the line count.
pub fn hosts_file(data: &[u8]) {
    let (entries, skipped) = hosts::parse_hosts(data);
    let lines = data.split(|b| *b == b'\n').count();
    for e in &entries {
        assert!(!e.names.is_empty());
        assert!(e.line >= 1 && e.line <= lines);
    }
    for s in &skipped {
        assert!(s.line >= 1 && s.line <= lines);
    }
}

/// `nsswitch.conf`'s `hosts:` line.
pub fn nsswitch_conf(data: &[u8]) {
    let _ = nsswitch::parse_nsswitch_hosts(data);
}

/// `gai.conf`.
pub fn gai_conf(data: &[u8]) {
    let _ = gai::parse_gai_conf(data);
}

/// `/proc/PID/{status,cmdline,comm}`, fd link targets, `/etc/passwd`, and the bench's
/// `/proc/stat` and `/proc/loadavg`.
pub fn proc_files(data: &[u8]) {
    if let Some(t) = loopback_sys::parse::cpu::parse_stat(data) {
        assert!(t.total() >= t.busy);
    }
    if let Some(l) = loopback_sys::parse::cpu::parse_loadavg(data) {
        assert!(l.is_finite() && l >= 0.0);
    }
    let _ = procfs::parse_status_euid(data);
    let _ = procfs::parse_status_fs_ids(data);
    let argv = procfs::parse_cmdline(data);
    assert!(argv.len() <= data.len() + 1);
    let _ = procfs::parse_comm(data);
    let _ = procfs::parse_socket_link(data);
    let _ = procfs::parse_passwd(data);
}

/// `/proc/net/{tcp,udp}{,6}`, `if_inet6`, `route`, `ipv6_route`.
pub fn proc_net(data: &[u8]) {
    let _ = procnet::parse_table(data, Proto::Tcp);
    let _ = procnet::parse_table(data, Proto::Udp);
    let _ = if_inet6::parse_if_inet6(data);
    let _ = route::ipv4_default_routes(data);
    let _ = route::ipv6_default_routes(data);
}

/// A netlink `sock_diag` dump chunk, as the kernel would send it.
pub fn netlink(data: &[u8]) {
    #[cfg(target_os = "linux")]
    {
        let mut out = Vec::new();
        let _ = loopback_sys::parse::sock_diag::decode_chunk(data, Proto::Tcp, &mut out);
        let _ = loopback_sys::parse::sock_diag::decode_chunk(data, Proto::Udp, &mut out);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = data;
}

/// A packet-filter listing (`nft -j`, `nft -a`, `iptables-save`) and the walk of a packet
/// through it: parsed into chains whatever the bytes, every jump resolved to a chain that
/// exists, and the evaluator ends (loops and sender splits are bounded).
pub fn ruleset(data: &[u8]) {
    use crate::exposure::eval::{Addresses, Branch, Evaluator, Packet};
    use crate::exposure::rules::{Action, Hook};
    use loopback_sys::{FirewallDump, Ruleset as Dump};
    let t = text(data);
    let dump = |tool: &str| Dump {
        tool: tool.into(),
        text: t.clone(),
    };
    let filter = crate::exposure::ruleset_of(&crate::snapshot::Part::Captured(FirewallDump {
        rulesets: vec![
            dump("nft"),
            dump("nft-json"),
            dump("iptables"),
            dump("ip6tables-legacy"),
        ],
        unreadable: Vec::new(),
        off: None,
    }));
    for c in &filter.rules.chains {
        for r in &c.rules {
            if let Action::Jump(t) | Action::Goto(t) = r.action {
                assert!(t < filter.rules.chains.len());
            }
        }
    }
    struct Here;
    impl Addresses for Here {
        fn is_local(&self, ip: std::net::IpAddr) -> bool {
            ip.is_loopback()
        }
        fn primary(&self, _: &str, v4: bool) -> Option<std::net::IpAddr> {
            v4.then(|| std::net::Ipv4Addr::LOCALHOST.into())
        }
    }
    let ev = Evaluator::new(&filter.rules, &Here, 0);
    for (hook, v4) in [
        (Hook::Prerouting, true),
        (Hook::Input, false),
        (Hook::Forward, true),
    ] {
        let _ = ev.hook(
            hook,
            Branch {
                pkt: Packet {
                    v4,
                    iif: "eth0".into(),
                    oif: None,
                    daddr: if v4 {
                        std::net::Ipv4Addr::LOCALHOST.into()
                    } else {
                        std::net::Ipv6Addr::LOCALHOST.into()
                    },
                    proto: Proto::Tcp,
                    dport: 22,
                    dnat: false,
                    local: None,
                },
                sources: Vec::new(),
                accepted_by: None,
                nat_by: None,
                marked_by: Vec::new(),
                tproxy_by: None,
            },
        );
    }
}

/// The policy file: parsed or a line-numbered error.
pub fn policy(data: &[u8]) {
    let _ = crate::policy::Policy::parse(&text(data));
}

/// The configuration readers of the service table, on any file and key.
pub fn config_readers(data: &[u8]) {
    let t = text(data);
    let (key, body) = t.split_once('\n').unwrap_or(("listen_addresses", &t));
    use crate::services::readers::{directives, flag_value, ini_value, kv_value, yaml_value};
    let _ = kv_value(body, key);
    let _ = directives(body, key);
    let _ = ini_value(body, "mysqld", key);
    let _ = yaml_value(body, key);
    let words: Vec<String> = body.split_whitespace().map(str::to_owned).collect();
    let _ = flag_value(&words, key);
}

/// Redaction of a NUL-separated argument vector: never panics, and the value after a
/// `--password` argument never survives.
pub fn redaction(data: &[u8]) {
    let argv = procfs::parse_cmdline(data);
    let _ = crate::redact::redact_argv(&argv);
    let mut with_secret = argv.clone();
    with_secret.push("--password".into());
    with_secret.push("Fz9qSecretValue".into());
    let out = crate::redact::redact_argv(&with_secret);
    // (Unless the input itself holds the marker elsewhere.)
    if !argv.iter().any(|a| a.contains("Fz9qSecretValue")) {
        assert!(!out.contains("Fz9qSecretValue"), "{out}");
    }
}

/// The one target grammar, in each of its three uses (`explain`, `probe`, `resolve` and
/// `doctor --reach`): a form accepted with a port requirement is accepted without it.
pub fn targets(data: &[u8]) {
    let t = text(data);
    let any = crate::target::parse(&t);
    let host = crate::target::parse_host(&t);
    if let Ok((target, _)) = crate::target::parse_with_port(&t) {
        assert_eq!(host.as_ref().ok(), Some(&target));
    }
    if let Ok(h) = host {
        assert_eq!(any.ok(), Some(h));
    }
    // What bind reads: a port in 1..=65535 always; a bare port only without a colon.
    if let Ok(b) = crate::bind::parse_target(&t) {
        assert!(b.port != 0);
        if b.host == crate::bind::Host::DevServer {
            assert!(!t.contains(':'));
        }
    }
    // What probe reads as people type it, and a zone's round trip through its text form.
    if let Ok(p) = crate::target::parse_probe(&t) {
        assert!(p.port != 0);
        if let crate::target::Target::Scoped(..) = p.target {
            let again = crate::target::parse(&p.target.host()).map(|t| t.host());
            assert_eq!(again.ok(), Some(p.target.host()));
        }
    }
}

/// What a running service answers (`services::ask`): a value only from a well-formed reply,
/// never longer than the reply; and whether a setting admits an address never panics.
pub fn service_reply(data: &[u8]) {
    use crate::services::ask::{admits, parse, Ask};
    if let Ok(v) = parse(Ask::Redis, data) {
        assert!(v.len() <= data.len());
        let _ = admits(&v, std::net::Ipv4Addr::UNSPECIFIED.into());
    }
}

/// What an HTTP server sends back: a status line only when it is one, and bounded.
pub fn http_reply(data: &[u8]) {
    use loopback_sys::probe::{classify_reply, HttpReply, MAX_STATUS_LINE};
    match classify_reply(data, true) {
        HttpReply::Status(line) => assert!(line.len() <= MAX_STATUS_LINE * 3),
        HttpReply::NotHttp(first) => assert!(first.len() <= MAX_STATUS_LINE),
        HttpReply::NoResponse { .. } => assert!(data.is_empty()),
        HttpReply::NotSent => unreachable!("a reply was read"),
    }
}

/// `audit --http`'s judgment with the input as every answer (split by `\0` into the four):
/// a finding only from an HTTP answer, `cors` other than `none` only with the header that says
/// so, and every kept header value bounded.
pub fn http_answer(data: &[u8]) {
    use loopback_model::http::{Cors, HttpRequestKind};
    let mut parts = data.split(|b| *b == 0);
    let capture = crate::http::HttpCapture {
        target: std::net::SocketAddr::from(([127, 0, 0, 1], 8000)),
        foreign: "lb-0000000000000000.invalid".into(),
        timeout_ms: 1000,
        transport: loopback_model::http::HttpTransport::Plain,
        exchanges: HttpRequestKind::ALL
            .iter()
            .map(|k| {
                let reply = parts.next().unwrap_or(&[]).to_vec();
                let x = loopback_sys::http::HttpExchange {
                    sent: true,
                    closed: reply.len() % 2 == 0,
                    timed_out: reply.len() % 2 == 1,
                    reply,
                    ..Default::default()
                };
                (*k, x)
            })
            .collect(),
        other_attempt: None,
    };
    let h = crate::http::judge(&capture, None);
    assert!(h.speaks_http || h.findings.is_empty());
    assert!(h.cors == Cors::None || h.answers[3].allow_origin.is_some());
    for a in &h.answers {
        for v in [
            &a.allow_origin,
            &a.allow_credentials,
            &a.server,
            &a.location,
        ]
        .into_iter()
        .flatten()
        {
            assert!(v.len() <= 256 * 3, "{}", v.len());
        }
    }
}

/// The whole glibc model on a hosts file, `nsswitch.conf` and `gai.conf` from the input (split
/// by `\0`), for the name on the input's first line.
#[cfg(any(test, feature = "test-util"))]
pub fn resolve_model(data: &[u8]) {
    use crate::testing::FakeSystem;
    let mut parts = data.splitn(4, |b| *b == 0);
    let name = text(parts.next().unwrap_or_default());
    let mut sys = FakeSystem::lan();
    for path in ["/etc/hosts", "/etc/nsswitch.conf", "/etc/gai.conf"] {
        sys.files
            .insert(path.into(), parts.next().unwrap_or_default().to_vec());
    }
    let _ = crate::resolve::run(
        &sys,
        &sys,
        name.trim(),
        &crate::snapshot::ResolverPaths::default(),
        &crate::timings::Timings::new(),
    );
}

/// The whole glibc model needs the fixture system (`test-util`).
#[cfg(not(any(test, feature = "test-util")))]
pub fn resolve_model(_: &[u8]) {}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replays the committed corpus (`fuzz/corpus/NAME/*`) through every target on every run
    /// of the suite, so an input that once crashed a parser keeps being tried without a fuzzer.
    #[test]
    fn corpus_replays_through_every_target() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus");
        let mut total = 0;
        for (name, f) in TARGETS {
            let dir = root.join(name);
            let mut seeds: Vec<_> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            seeds.sort();
            assert!(!seeds.is_empty(), "{name} has no seed in {}", dir.display());
            for seed in seeds {
                let data = std::fs::read(&seed).expect("seed");
                f(&data);
                total += 1;
            }
        }
        assert!(total >= TARGETS.len());
    }

    #[test]
    fn every_target_has_a_fuzz_target_file() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/fuzz_targets");
        for (name, _) in TARGETS {
            assert!(
                dir.join(format!("{name}.rs")).exists(),
                "fuzz/fuzz_targets/{name}.rs"
            );
        }
    }
}
