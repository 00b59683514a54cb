//! `loopback intercept` in namespaces, against real connections: listeners at the asked
//! destination and at the receiver each answer with their own tag (`lb-listen …,http,tag=`),
//! and curl, run as the traced client (its uid), must get the tag the trace predicts.

use std::process::Command;

use loopback_model::intercept::{InterceptPath, InterceptReport};

use crate::support::*;

/// `loopback intercept --json ARGS --netns NS`, run from this mount namespace: `ip netns exec`
/// would give it a fresh /sys without the cgroup hierarchy, where the cgroup BPF programs
/// cannot be listed (and then no path is called direct).
fn trace(ns: &Netns, args: &[&str]) -> (InterceptReport, Option<i32>) {
    let out = Command::new(loopback_bin())
        .args(["intercept", "--json", "--netns", &ns.name])
        .args(args)
        .output()
        .expect("intercept");
    let r = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "intercept JSON {e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (r, out.status.code())
}

fn path(r: &InterceptReport) -> &InterceptPath {
    assert_eq!(r.paths.len(), 1, "{r:#?}");
    &r.paths[0]
}

/// What curl, run as `uid` in the namespace, gets from `url`: the body, or `failed`.
fn fetch_as(ns: &Netns, uid: u32, url: &str) -> String {
    let out = ns
        .cmd("setpriv")
        .args([
            &format!("--reuid={uid}"),
            &format!("--regid={uid}"),
            "--clear-groups",
            "curl",
            "-s",
            "--noproxy",
            "*",
            "-m",
            "5",
            url,
        ])
        .output()
        .expect("curl");
    if out.status.success() {
        String::from_utf8_lossy(&out.stdout).into_owned()
    } else {
        "failed".into()
    }
}

const NOBODY: u32 = 65534;

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn an_owner_scoped_redirect_diverts_one_user_and_the_trace_says_so() {
    require_root();
    let ns = Netns::new("icpredir");
    let srv = ns.listen(
        &[
            "tcp:127.0.0.1:8080,http,tag=asked",
            "tcp:127.0.0.1:9090,http,tag=proxy",
        ],
        &[],
    );
    ns.nft(&format!(
        "table ip divert {{\n chain out {{\n  type nat hook output priority -100;\n  meta skuid {NOBODY} tcp dport 8080 redirect to :9090\n  tcp dport 8081 dnat to 127.0.0.1:9999\n }}\n}}\n"
    ));
    // iptables too (iptables-nft's own table), for port 8082.
    run(ns.cmd("iptables").args([
        "-t",
        "nat",
        "-A",
        "OUTPUT",
        "-p",
        "tcp",
        "--dport",
        "8082",
        "-m",
        "owner",
        "--uid-owner",
        &NOBODY.to_string(),
        "-j",
        "REDIRECT",
        "--to-ports",
        "9090",
    ]));
    let _more = ns.listen(&["tcp:127.0.0.1:8082,http,tag=asked"], &[]);

    // nobody is redirected: curl gets the proxy's tag, and the trace names the rule and the
    // receiver.
    assert_eq!(fetch_as(&ns, NOBODY, "http://127.0.0.1:8080/"), "proxy");
    let (r, code) = trace(&ns, &["127.0.0.1:8080", "--uid", &NOBODY.to_string()]);
    assert_eq!(code, Some(1));
    let p = path(&r);
    assert_eq!(p.verdict.as_str(), "redirected", "{p:#?}");
    let nat = p
        .steps
        .iter()
        .find(|s| s.kind.as_str() == "nat")
        .expect("a nat step");
    assert!(
        nat.rule.contains("meta skuid 65534") && nat.rule.contains("handle"),
        "{nat:?}"
    );
    assert_eq!(nat.to, "127.0.0.1:9090");
    let reach = p.reaches.as_ref().expect("reaches");
    assert_eq!((reach.port, reach.listening), (9090, true));
    assert_eq!(reach.owners[0].pid, srv.pid());

    // root is not: the tag of the server asked for, and a direct path to it.
    assert_eq!(fetch_as(&ns, 0, "http://127.0.0.1:8080/"), "asked");
    let (r, code) = trace(&ns, &["127.0.0.1:8080", "--uid", "0"]);
    assert_eq!(code, Some(0), "this path is direct: {r:#?}");
    assert_eq!(path(&r).verdict.as_str(), "direct");
    assert_eq!(path(&r).reaches.as_ref().map(|x| x.port), Some(8080));

    // The same through iptables' owner match.
    assert_eq!(fetch_as(&ns, NOBODY, "http://127.0.0.1:8082/"), "proxy");
    let (r, _) = trace(&ns, &["127.0.0.1:8082", "--uid", "nobody"]);
    let p = path(&r);
    assert_eq!(p.verdict.as_str(), "redirected", "{p:#?}");
    assert!(
        p.steps.iter().any(|s| s.rule.contains("--uid-owner 65534")),
        "{p:#?}"
    );

    // A redirect to a port where nothing listens: curl fails, the trace says nothing listens.
    assert_eq!(fetch_as(&ns, 0, "http://127.0.0.1:8081/"), "failed");
    let (r, _) = trace(&ns, &["http://127.0.0.1:8081/"]);
    let p = path(&r);
    assert_eq!(p.verdict.as_str(), "redirected");
    let reach = p.reaches.as_ref().expect("reaches");
    assert_eq!((reach.port, reach.listening), (9999, false));

    // --pid: a process of nobody's, with a proxy in its environment, traced from outside its
    // namespace: its uid, its namespace, its proxy variables (the password never shown).
    let client = Proc(
        ns.cmd("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                "env",
                "-i",
                "http_proxy=http://me:s3cret@127.0.0.1:3128",
                "sleep",
                "600",
            ])
            .spawn()
            .expect("a client process"),
    );
    let pid = client.0.id().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    // (The environment is readable once the exec happened.)
    while !std::fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|e| String::from_utf8_lossy(&e).contains("http_proxy"))
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the client never started"
        );
        std::thread::yield_now();
    }
    let out = Command::new(loopback_bin())
        .args([
            "intercept",
            "--json",
            "http://127.0.0.1:8080/",
            "--pid",
            &pid,
        ])
        .output()
        .expect("intercept --pid");
    let r: InterceptReport = serde_json::from_slice(&out.stdout).expect("intercept --pid JSON");
    assert_eq!(r.client.uid, Some(NOBODY));
    let p = path(&r);
    assert_eq!(p.verdict.as_str(), "redirected", "{p:#?}");
    let curl = p.proxy.iter().find(|c| c.client == "curl").expect("curl");
    assert_eq!(
        curl.proxy.as_deref(),
        Some("http://<redacted>@127.0.0.1:3128")
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("s3cret"));
    // Without a destination, the distinct proxy settings of the namespace's processes.
    let (r, _) = trace(&ns, &[]);
    let m = r
        .mechanisms
        .iter()
        .find(|m| m.kind.as_str() == "proxy")
        .expect("the client's proxy setting");
    assert_eq!(m.rule, "http_proxy=http://<redacted>@127.0.0.1:3128");
    assert_eq!(m.origin, "the environment of 1 process");
    drop(client);

    // audit marks the listener that receives redirected traffic, with the rules.
    let out = ns.loopback(&["audit", "--json"]);
    let a: loopback_model::AuditReport = serde_json::from_slice(&out.stdout).expect("audit JSON");
    let proxy = a
        .listeners
        .iter()
        .find(|l| l.port == 9090)
        .expect("the proxy's listener");
    assert!(
        proxy
            .receives
            .iter()
            .any(|r| r.contains("redirect to :9090")),
        "{:?}",
        proxy.receives
    );
    assert!(
        proxy.receives.iter().any(|r| r.contains("--to-ports 9090")),
        "{:?}",
        proxy.receives
    );
    let asked = a.listeners.iter().find(|l| l.port == 8080).expect("8080");
    assert!(asked.receives.is_empty(), "{:?}", asked.receives);

    // probe blames the redirect, not the service, and names the rule and the receiver.
    let out = ns.loopback(&["probe", "--json", "127.0.0.1:8081"]);
    let pr: loopback_model::ProbeReport = serde_json::from_slice(&out.stdout).expect("probe JSON");
    assert_eq!(
        pr.diagnosis.code.as_str(),
        "intercepted",
        "{:#?}",
        pr.diagnosis
    );
    assert!(
        pr.diagnosis.summary.contains("dnat to 127.0.0.1:9999"),
        "{}",
        pr.diagnosis.summary
    );
    assert!(
        pr.diagnosis
            .summary
            .contains("nothing listens where it is sent (127.0.0.1:9999)"),
        "{}",
        pr.diagnosis.summary
    );
    assert_eq!(out.status.code(), Some(1));
    let out = ns.loopback(&["probe", "--json", "127.0.0.1:8080"]);
    let pr: loopback_model::ProbeReport = serde_json::from_slice(&out.stdout).expect("probe JSON");
    assert_eq!(
        pr.diagnosis.code.as_str(),
        "ok",
        "root is not redirected: {:#?}",
        pr.diagnosis
    );

    // doctor warns that loopback traffic is redirected, naming the rules.
    let out = ns.loopback(&["doctor", "--json"]);
    let d: loopback_model::DoctorReport = serde_json::from_slice(&out.stdout).expect("doctor JSON");
    let c = d
        .checks
        .iter()
        .find(|c| c.id.as_str() == "loopback.interception")
        .expect("the interception check");
    assert_eq!(c.status.as_str(), "warn", "{c:#?}");
    assert!(
        c.evidence.iter().any(|e| e.contains("redirect to :9090")),
        "{c:#?}"
    );
    assert!(
        c.evidence.iter().any(|e| e.contains("--uid-owner 65534")),
        "{c:#?}"
    );

    // Without a destination: every rule that diverts local traffic.
    let (r, code) = trace(&ns, &[]);
    assert_eq!(code, Some(1));
    let nats: Vec<&str> = r
        .mechanisms
        .iter()
        .filter(|m| m.kind.as_str() == "nat")
        .map(|m| m.to.as_str())
        .collect();
    assert!(
        nats.contains(&"this host's loopback, port 9090"),
        "{nats:?}"
    );
    assert!(nats.contains(&"127.0.0.1:9999"), "{nats:?}");
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn nothing_diverts_a_plain_namespace() {
    require_root();
    let ns = Netns::new("icpplain");
    let _srv = ns.listen(&["tcp:127.0.0.1:8080,http,tag=asked"], &[]);
    assert_eq!(fetch_as(&ns, 0, "http://127.0.0.1:8080/"), "asked");
    let (r, code) = trace(&ns, &["127.0.0.1:8080"]);
    assert_eq!(code, Some(0), "{r:#?}");
    assert_eq!(path(&r).verdict.as_str(), "direct");
    // Cgroup BPF programs are the host's (another test attaches one meanwhile): the rest is
    // this namespace's, and it has none.
    let (r, code) = trace(&ns, &[]);
    let here: Vec<_> = r
        .mechanisms
        .iter()
        .filter(|m| m.kind.as_str() != "bpf")
        .collect();
    assert!(here.is_empty(), "{here:#?}");
    let host_wide = r.mechanisms.len() - here.len();
    assert_eq!(code, Some(if host_wide == 0 { 0 } else { 1 }));
    let out = ns.loopback(&["doctor", "--json"]);
    let d: loopback_model::DoctorReport = serde_json::from_slice(&out.stdout).expect("doctor JSON");
    let c = d
        .checks
        .iter()
        .find(|c| c.id.as_str() == "loopback.interception")
        .expect("the interception check");
    assert_eq!(c.status.as_str(), "pass", "{c:#?}");
}

/// A namespace with a LAN peer, and a second link `vpn0` (198.19.0.1/24) to a "VPN" namespace
/// that also holds the peer's address 198.18.0.2, so a connection to it answers with the tag
/// of whichever side it reached.
struct Vpn {
    name: String,
}

impl Vpn {
    fn new(ns: &Netns) -> Vpn {
        let name = format!("{}-v", ns.name);
        run(Command::new("ip").args(["netns", "add", &name]));
        ns.ip(&[
            "link", "add", "vpn0", "type", "veth", "peer", "name", "tun0", "netns", &name,
        ]);
        ns.ip(&["addr", "add", "198.19.0.1/24", "dev", "vpn0"]);
        ns.ip(&["link", "set", "vpn0", "up"]);
        for args in [
            vec!["link", "set", "lo", "up"],
            vec!["addr", "add", "198.19.0.2/24", "dev", "tun0"],
            vec!["addr", "add", "198.18.0.2/32", "dev", "lo"],
            vec!["link", "set", "tun0", "up"],
            // Replies go back through the tunnel, whichever source the client used (a
            // rerouted packet keeps the source of its first route).
            vec!["route", "add", "default", "via", "198.19.0.1"],
        ] {
            run(Command::new("ip").args(["-n", &name]).args(&args));
        }
        ns.ip(&[
            "route",
            "add",
            "198.18.0.2/32",
            "via",
            "198.19.0.2",
            "dev",
            "vpn0",
            "table",
            "100",
        ]);
        Vpn { name }
    }

    fn listen(&self, spec: &str) -> Listeners {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name])
            .arg(listen_bin())
            .arg(spec);
        Listeners::spawn(cmd)
    }
}

impl Drop for Vpn {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn a_uid_range_rule_and_a_marked_route_send_one_user_through_the_vpn() {
    require_root();
    let ns = Netns::with_lan("icpvpn");
    let vpn = Vpn::new(&ns);
    let _lan = ns.listen_on_peer(&["tcp:198.18.0.2:8000,http,tag=lan"]);
    let _tun = vpn.listen("tcp:198.18.0.2:8000,http,tag=vpn");
    // A uid-range rule (Tailscale- and VPN-client-style) for nobody.
    ns.ip(&[
        "rule",
        "add",
        "priority",
        "100",
        "uidrange",
        "65534-65534",
        "lookup",
        "100",
    ]);
    assert_eq!(fetch_as(&ns, NOBODY, "http://198.18.0.2:8000/"), "vpn");
    assert_eq!(fetch_as(&ns, 0, "http://198.18.0.2:8000/"), "lan");
    let (r, code) = trace(&ns, &["198.18.0.2:8000", "--uid", "65534"]);
    assert_eq!(code, Some(1));
    let p = path(&r);
    assert_eq!(
        (p.verdict.as_str(), p.interface.as_deref()),
        ("tunneled", Some("vpn0")),
        "{p:#?}"
    );
    let route = p
        .steps
        .iter()
        .find(|s| s.kind.as_str() == "route")
        .expect("route step");
    assert!(
        route.rule.contains("uidrange 65534-65534 lookup 100"),
        "{route:?}"
    );
    assert!(p.reaches.is_none());
    let (r, _) = trace(&ns, &["198.18.0.2:8000", "--uid", "0"]);
    assert_eq!(
        (path(&r).verdict.as_str(), path(&r).interface.as_deref()),
        ("direct", Some("lan0"))
    );

    // Clash-style: a mark set in the output hook for one user, a rule for the mark.
    ns.ip(&["rule", "del", "priority", "100"]);
    ns.ip(&[
        "rule", "add", "priority", "90", "fwmark", "0x2", "lookup", "100",
    ]);
    ns.nft(&format!(
        "table inet clash {{\n chain out {{\n  type route hook output priority -150;\n  meta skuid {NOBODY} meta mark set 0x2\n }}\n}}\n"
    ));
    assert_eq!(fetch_as(&ns, NOBODY, "http://198.18.0.2:8000/"), "vpn");
    assert_eq!(fetch_as(&ns, 0, "http://198.18.0.2:8000/"), "lan");
    let (r, _) = trace(&ns, &["198.18.0.2:8000", "--uid", "65534"]);
    let p = path(&r);
    assert_eq!(p.verdict.as_str(), "tunneled", "{p:#?}");
    let kinds: Vec<&str> = p.steps.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(kinds, vec!["mark", "route"]);
    assert_eq!(p.steps[0].to, "mark 0x2");
    assert!(
        p.steps[1].rule.contains("fwmark 0x2 lookup 100"),
        "{:?}",
        p.steps[1]
    );
    let (r, _) = trace(&ns, &["198.18.0.2:8000", "--uid", "0"]);
    assert_eq!(path(&r).verdict.as_str(), "direct");
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn a_dnat_in_the_output_hook_sends_a_connection_to_another_host() {
    require_root();
    let ns = Netns::with_lan("icpdnat");
    let _peer = ns.listen_on_peer(&["tcp:198.18.0.2:8000,http,tag=peer"]);
    ns.nft("table ip divert {\n chain out {\n  type nat hook output priority -100;\n  ip daddr 198.18.0.99 tcp dport 80 dnat to 198.18.0.2:8000\n }\n}\n");
    assert_eq!(fetch_as(&ns, 0, "http://198.18.0.99/"), "peer");
    let (r, code) = trace(&ns, &["http://198.18.0.99/"]);
    assert_eq!(code, Some(1));
    let p = path(&r);
    assert_eq!(
        (p.verdict.as_str(), p.interface.as_deref()),
        ("redirected", Some("lan0")),
        "{p:#?}"
    );
    assert_eq!(p.steps[0].to, "198.18.0.2:8000");
    assert!(p.reaches.is_none(), "it ends on another host");
}

/// What the real client gets from `url` with exactly `env`: `proxy` (the recording proxy's
/// tag), the server's tag, or `failed`.
fn real_client(ns: &Netns, client: &str, env: &[&str], url: &str) -> String {
    let mut cmd = ns.cmd("env");
    cmd.arg("-i").args(env);
    match client {
        "curl" => cmd.args(["curl", "-s", "-m", "5", url]),
        _ => cmd.args([
            "/usr/bin/python3",
            "-c",
            "import requests,sys; print(requests.get(sys.argv[1], timeout=5).text, end='')",
            url,
        ]),
    };
    let out = cmd.output().expect("client");
    if out.status.success() {
        String::from_utf8_lossy(&out.stdout).into_owned()
    } else {
        "failed".into()
    }
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn each_client_profile_uses_the_proxy_exactly_when_the_real_client_does() {
    require_root();
    let ns = Netns::new("icpproxy");
    ns.etc_file("hosts", "127.0.0.1 localhost\n::1 localhost\n");
    // The proxy answers every request with its own tag: a request that went through it says so.
    let _srv = ns.listen(
        &[
            "tcp:127.0.0.1:3128,http,tag=proxy",
            "tcp:127.0.0.1:8080,http,tag=asked",
            "tcp:[::1]:8080,http,tag=asked",
        ],
        &[],
    );
    let p = "http_proxy=http://127.0.0.1:3128";
    let cases: &[(&str, &[&str])] = &[
        ("http://127.0.0.1:8080/", &[p]),
        (
            "http://127.0.0.1:8080/",
            &["HTTP_PROXY=http://127.0.0.1:3128"],
        ),
        ("http://127.0.0.1:8080/", &[p, "NO_PROXY=localhost"]),
        ("http://localhost:8080/", &[p, "NO_PROXY=localhost"]),
        ("http://127.0.0.1:8080/", &[p, "no_proxy=127.0.0.0/8"]),
        ("http://localhost:8080/", &[p, "no_proxy=host"]),
        ("http://[::1]:8080/", &[p, "no_proxy=*"]),
        ("http://[::1]:8080/", &[p, "no_proxy=::1"]),
        ("http://[::1]:8080/", &[p, "no_proxy=localhost"]),
        ("http://localhost:8080/", &[p, "no_proxy=localhost:8080"]),
        (
            "http://localhost:8080/",
            &["ALL_PROXY=http://127.0.0.1:3128"],
        ),
        ("http://localhost:8080/", &[p, "no_proxy=.localhost"]),
        ("http://127.0.0.1:8080/", &[p, "no_proxy=a, 127.0.0.1"]),
        ("http://localhost:8080/", &[]),
    ];
    let mut disagreements = 0;
    for (url, env) in cases {
        let out = Command::new("env")
            .arg("-i")
            .args(*env)
            .arg(loopback_bin())
            .args(["intercept", "--json", "--netns", &ns.name, url])
            .output()
            .expect("intercept");
        let r: InterceptReport = serde_json::from_slice(&out.stdout).expect("intercept JSON");
        for path in &r.paths {
            assert_eq!(path.proxy.len(), 2, "{path:#?}");
            for c in &path.proxy {
                let real = real_client(&ns, &c.client, env, url);
                assert!(real != "failed", "{} {url} {env:?} failed", c.client);
                let used = real == "proxy";
                if used != c.proxy.is_some() {
                    disagreements += 1;
                    eprintln!(
                        "{} {url} {env:?}: predicted {:?} ({}), real {real}",
                        c.client, c.proxy, c.because
                    );
                }
            }
        }
    }
    assert_eq!(
        disagreements, 0,
        "predictions and the real clients disagree (above)"
    );
}

/// The unified cgroup hierarchy's mount point, from this process's mountinfo.
fn cgroup2_root() -> String {
    let m = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
    m.lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let sep = f.iter().position(|x| *x == "-")?;
            (f.get(sep + 1) == Some(&"cgroup2")).then(|| f[4].to_owned())
        })
        .expect("a cgroup2 mount")
}

/// A cgroup with a BPF connect4 program attached (compiled here with clang, loaded with
/// bpftool), removed at the end.
struct Connect4 {
    cgroup: String,
    pin: String,
    _dir: TempDir,
}

impl Connect4 {
    fn new(tag: &str) -> Connect4 {
        let dir = TempDir::new(tag);
        let src = dir.path("c4.c");
        // No kernel headers needed: the context is only passed through.
        std::fs::write(
            &src,
            "struct bpf_sock_addr;\n#define SEC(n) __attribute__((section(n), used))\nSEC(\"cgroup/connect4\") int lbt_connect4(struct bpf_sock_addr *ctx) { return 1; }\nchar _license[] SEC(\"license\") = \"GPL\";\n",
        )
        .expect("source");
        let obj = dir.path("c4.o");
        run(Command::new("clang")
            .args(["-O2", "-target", "bpf", "-c"])
            .arg(&src)
            .arg("-o")
            .arg(&obj));
        let name = format!("lbt-{tag}-{}", std::process::id());
        let pin = format!("/sys/fs/bpf/{name}");
        run(Command::new("bpftool")
            .args(["prog", "load"])
            .arg(&obj)
            .args([&pin, "type", "cgroup/connect4"]));
        let cgroup = format!("{}/{name}", cgroup2_root());
        std::fs::create_dir_all(&cgroup).expect("a test cgroup");
        run(Command::new("bpftool").args(["cgroup", "attach", &cgroup, "connect4", "pinned", &pin]));
        Connect4 {
            cgroup,
            pin,
            _dir: dir,
        }
    }
}

impl Drop for Connect4 {
    fn drop(&mut self) {
        let _ = Command::new("bpftool")
            .args([
                "cgroup",
                "detach",
                &self.cgroup,
                "connect4",
                "pinned",
                &self.pin,
            ])
            .status();
        let _ = std::fs::remove_file(&self.pin);
        let _ = std::fs::remove_dir(&self.cgroup);
    }
}

#[test]
#[ignore = "needs root, network namespaces, clang and bpftool: ./scripts/test runs it"]
fn a_connect4_program_on_the_clients_cgroup_is_listed_and_the_path_not_called_direct() {
    require_root();
    let ns = Netns::new("icpbpf");
    let bpf = Connect4::new("icpbpf");
    let client = Proc(ns.cmd("sleep").arg("600").spawn().expect("a client"));
    let pid = client.0.id().to_string();
    std::fs::write(format!("{}/cgroup.procs", bpf.cgroup), &pid).expect("into the cgroup");
    let out = Command::new(loopback_bin())
        .args(["intercept", "--json", "--pid", &pid, "127.0.0.1:8080"])
        .output()
        .expect("intercept");
    let r: InterceptReport = serde_json::from_slice(&out.stdout).expect("JSON");
    let p = path(&r);
    let step = p
        .steps
        .iter()
        .find(|s| s.kind.as_str() == "bpf")
        .expect("a bpf step");
    assert!(step.rule.contains("name lbt_connect4"), "{step:?}");
    assert!(step.rule.contains("connect4"), "{step:?}");
    assert_eq!(
        p.verdict.as_str(),
        "unknown",
        "a program may rewrite it: {p:#?}"
    );
    assert!(r.mechanisms.iter().any(|m| m.kind.as_str() == "bpf"));
    // Without a destination, every cgroup's programs, this one's among them.
    let out = Command::new(loopback_bin())
        .args(["intercept", "--json", "--netns", &ns.name])
        .output()
        .expect("intercept");
    let r: InterceptReport = serde_json::from_slice(&out.stdout).expect("JSON");
    let name = bpf.cgroup.rsplit('/').next().unwrap_or_default().to_owned();
    assert!(
        r.mechanisms.iter().any(|m| m.kind.as_str() == "bpf"
            && m.origin.ends_with(&name)
            && m.rule.contains("lbt_connect4")),
        "{:#?}",
        r.mechanisms
    );
    // IPv6 connects do not pass a connect4 program.
    let out = Command::new(loopback_bin())
        .args(["intercept", "--json", "--pid", &pid, "[::1]:8080"])
        .output()
        .expect("intercept");
    let r: InterceptReport = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(path(&r).verdict.as_str(), "direct", "{r:#?}");
    drop(client);
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn a_tproxy_through_a_local_route_hands_one_users_connection_to_the_proxy() {
    require_root();
    let ns = Netns::with_lan("icptproxy");
    let _lan = ns.listen_on_peer(&["tcp:198.18.0.2:8000,http,tag=lan"]);
    let proxy = ns.listen(&["tcp:0.0.0.0:9090,http,transparent,tag=tproxy"], &[]);
    // Clash-style TPROXY for local traffic: mark in output, a policy rule to a table whose
    // local route loops the packet through lo, TPROXY in prerouting.
    ns.nft(&format!(
        "table ip tp {{\n chain out {{\n  type route hook output priority mangle;\n  meta skuid {NOBODY} ip daddr 198.18.0.2 tcp dport 8000 meta mark set 1\n }}\n chain pre {{\n  type filter hook prerouting priority mangle;\n  meta mark 1 meta l4proto tcp tproxy to :9090 accept\n }}\n}}\n"
    ));
    ns.ip(&[
        "rule", "add", "priority", "100", "fwmark", "1", "lookup", "100",
    ]);
    ns.ip(&[
        "route",
        "add",
        "local",
        "0.0.0.0/0",
        "dev",
        "lo",
        "table",
        "100",
    ]);
    assert_eq!(fetch_as(&ns, NOBODY, "http://198.18.0.2:8000/"), "tproxy");
    assert_eq!(fetch_as(&ns, 0, "http://198.18.0.2:8000/"), "lan");
    let (r, code) = trace(&ns, &["198.18.0.2:8000", "--uid", "65534"]);
    assert_eq!(code, Some(1));
    let p = path(&r);
    assert_eq!(p.verdict.as_str(), "redirected", "{p:#?}");
    let kinds: Vec<&str> = p.steps.iter().map(|s| s.kind.as_str()).collect();
    assert_eq!(kinds, vec!["mark", "route", "tproxy"], "{p:#?}");
    assert!(
        p.steps[1].rule.contains("fwmark 0x1 lookup 100"),
        "{:?}",
        p.steps[1]
    );
    assert_eq!(p.steps[2].to, "198.18.0.2:9090");
    let reach = p.reaches.as_ref().expect("reaches");
    assert_eq!((reach.port, reach.listening), (9090, true));
    assert_eq!(reach.owners[0].pid, proxy.pid());
    let (r, _) = trace(&ns, &["198.18.0.2:8000", "--uid", "0"]);
    assert_eq!(path(&r).verdict.as_str(), "direct", "{r:#?}");
    let (r, _) = trace(&ns, &[]);
    assert!(
        r.mechanisms
            .iter()
            .any(|m| m.kind.as_str() == "tproxy" && m.to.contains("port 9090")),
        "{:#?}",
        r.mechanisms
    );
}
