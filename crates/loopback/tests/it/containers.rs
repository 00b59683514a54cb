//! Real Docker containers (Debian's `docker.io`, an image imported from `busybox-static`, never
//! pulled): a published server on the container's `0.0.0.0` (`ok`), one on its `127.0.0.1`
//! (`target-loopback-only`, and a real connection to the published port gets no reply), and
//! an unpublished one. `./scripts/test` starts `dockerd` when it is not running; where it
//! cannot, it skips these tests and says so.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output};
use std::time::Duration;

use serde_json::Value;

use crate::support::*;

const IMAGE: &str = "lbt-busybox:test";

fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .output()
        .expect("running docker")
}

fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `dockerd` answers, started here when it is not running (scripts/docker-up).
fn require_docker() {
    require_root();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/docker-up");
    let out = Command::new(script).output().expect("scripts/docker-up");
    assert!(
        out.status.success(),
        "dockerd is not available: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A busybox image built here: `docker import` of a root holding only `busybox-static`.
fn image() {
    if docker(&["image", "inspect", IMAGE]).status.success() {
        return;
    }
    let root = TempDir::new("busybox-root");
    std::fs::create_dir_all(root.path("bin")).expect("bin");
    std::fs::copy("/bin/busybox", root.path("bin/busybox")).expect("busybox-static");
    for applet in ["sh", "httpd", "sleep"] {
        std::os::unix::fs::symlink("busybox", root.path(&format!("bin/{applet}"))).expect("link");
    }
    let tarball = std::env::temp_dir().join(format!("lbt-busybox-{}.tar", std::process::id()));
    let tar = Command::new("tar")
        .arg("-C")
        .arg(&root.0)
        .arg("-cf")
        .arg(&tarball)
        .arg(".")
        .status()
        .expect("tar");
    assert!(tar.success());
    let out = Command::new("docker")
        .arg("import")
        .arg(&tarball)
        .arg(IMAGE)
        .output()
        .expect("docker import");
    let _ = std::fs::remove_file(&tarball);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A container removed at the end.
struct Container {
    name: String,
}

impl Container {
    fn run(name: &str, publish: Option<&str>, cmd: &[&str]) -> Container {
        let name = format!("lbt-{name}-{}", std::process::id());
        let mut args = vec!["run", "-d", "--name", name.as_str()];
        if let Some(p) = publish {
            args.extend(["-p", p]);
        }
        args.push(IMAGE);
        args.extend(cmd);
        docker_ok(&args);
        Container { name }
    }

    fn inspect(&self, format: &str) -> String {
        docker_ok(&["inspect", "-f", format, &self.name])
    }

    fn netns_inode(&self) -> u64 {
        let pid = self.inspect("{{.State.Pid}}");
        let out = Command::new("stat")
            .args(["-L", "-c", "%i", &format!("/proc/{pid}/ns/net")])
            .output()
            .expect("stat");
        String::from_utf8_lossy(&out.stdout)
            .trim()
            .parse()
            .expect("inode")
    }

    /// The server inside answers: `ss` run in its namespace lists `port`, as `wait_for` polls
    /// with a deadline (no fixed sleep).
    fn wait_listening(&self, port: u16) {
        let pid = self.inspect("{{.State.Pid}}");
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let out = Command::new("nsenter")
                .args(["-t", &pid, "-n", "ss", "-Htln"])
                .output()
                .expect("nsenter ss");
            if String::from_utf8_lossy(&out.stdout).contains(&format!(":{port} ")) {
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{} never listened on {port}",
                self.name
            );
            std::thread::yield_now();
        }
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = docker(&["rm", "-f", &self.name]);
    }
}

/// What a client gets from `127.0.0.1:port`: the first bytes of the reply, or the error.
fn fetch(port: u16) -> Result<String, std::io::Error> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

#[test]
#[ignore = "needs root and dockerd: ./scripts/test runs it"]
fn published_ports_are_joined_to_the_container_listening_behind_them() {
    require_docker();
    image();
    let base = 20000 + (std::process::id() % 1000) as u16 * 2;
    let (p_ok, p_lo) = (base, base + 1);
    let ok = Container::run(
        "web-ok",
        Some(&format!("{p_ok}:80")),
        &["httpd", "-f", "-p", "0.0.0.0:80"],
    );
    let lo = Container::run(
        "web-lo",
        Some(&format!("{p_lo}:80")),
        &["httpd", "-f", "-p", "127.0.0.1:80"],
    );
    let quiet = Container::run("quiet", None, &["httpd", "-f", "-p", "0.0.0.0:9000"]);
    ok.wait_listening(80);
    lo.wait_listening(80);
    quiet.wait_listening(9000);

    // The real client: the loopback-only target never answers.
    let answer = fetch(p_ok).expect("the ok publication answers");
    assert!(answer.starts_with("HTTP/"), "{answer:?}");
    match fetch(p_lo) {
        Ok(text) => assert!(
            text.is_empty(),
            "no HTTP reply through the loopback-only publication: {text:?}"
        ),
        Err(e) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionRefused
            ),
            "{e}"
        ),
    }

    // bind: the published port is held by the runtime's docker-proxy, and a server here
    // cannot take it; the real bind agrees.
    let out = Command::new(loopback_bin())
        .args(["bind", "--json", &format!("127.0.0.1:{p_ok}")])
        .output()
        .expect("bind");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let b: loopback_model::bind::BindReport =
        serde_json::from_slice(&out.stdout).expect("bind JSON");
    let x = &b.results[0];
    assert_eq!(x.errno.as_deref(), Some("EADDRINUSE"));
    assert_eq!(x.cause.map(|c| c.as_str()), Some("publication"), "{x:#?}");
    assert!(x
        .holders
        .iter()
        .any(|h| h.owners.iter().any(|o| o.name == "docker-proxy")));
    let ip = ok.inspect("{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}");
    assert!(
        x.fix.as_deref().unwrap_or("").contains(&format!("{ip}:80")),
        "{x:#?}"
    );
    let real = run(Command::new(example_bin("lb-bind")).args([
        "tcp",
        &format!("127.0.0.1:{p_ok}"),
        "reuseaddr",
    ]));
    assert_eq!(String::from_utf8_lossy(&real.stdout).trim(), "EADDRINUSE");
    // The fix's `docker ps --filter publish=PORT` names the container that publishes it.
    let fix = x.fix.as_deref().unwrap_or("");
    assert!(
        fix.contains(&format!("docker ps --filter publish={p_ok}")),
        "{fix}"
    );
    let named = docker_ok(&[
        "ps",
        "--filter",
        &format!("publish={p_ok}"),
        "--format",
        "{{.Names}}",
    ]);
    assert_eq!(named, ok.name);

    let out = Command::new(loopback_bin())
        .args(["audit", "-A", "--json"])
        .output()
        .expect("audit -A");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    for c in [&ok, &lo, &quiet] {
        let inode = c.netns_inode();
        let ns = report["namespaces"]
            .as_array()
            .expect("namespaces")
            .iter()
            .find(|n| n["inode"].as_u64() == Some(inode))
            .unwrap_or_else(|| panic!("{} is listed", c.name));
        assert_eq!(ns["container"]["runtime"], "docker");
        assert_eq!(ns["container"]["name"], c.name.as_str());
        assert_eq!(ns["container"]["id"], c.inspect("{{.Id}}").as_str());
    }
    let publications = report["publications"].as_array().expect("publications");
    let find = |port: u16, host: &str| {
        publications
            .iter()
            .find(|p| p["port"] == port && p["address"] == host)
            .unwrap_or_else(|| panic!("publication {host}:{port}: {publications:#?}"))
    };
    let p = find(p_ok, "0.0.0.0");
    assert_eq!(p["diagnosis"], "ok");
    assert_eq!(p["listener"], true);
    assert_eq!(
        p["target_address"],
        ok.inspect("{{.NetworkSettings.IPAddress}}").as_str()
    );
    assert_eq!(p["target_port"], 80);
    assert_eq!(p["target_netns"].as_u64(), Some(ok.netns_inode()));
    let p = find(p_lo, "0.0.0.0");
    assert_eq!(p["diagnosis"], "target-loopback-only");
    assert_eq!(p["listener"], false);
    assert_eq!(p["target_netns"].as_u64(), Some(lo.netns_inode()));
    assert!(
        p["fix"].as_str().is_some_and(|f| f.contains("0.0.0.0:80")),
        "{p:#}"
    );
    // The unpublished container is audited, with no publication.
    let quiet_ns = quiet.netns_inode();
    assert!(report["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .any(|l| l["netns"].as_u64() == Some(quiet_ns) && l["port"] == 9000));
    assert!(!publications
        .iter()
        .any(|p| p["target_netns"].as_u64() == Some(quiet_ns)));

    // The human chain, and the plain audit (this namespace only) joins the same way.
    let human = Command::new(loopback_bin())
        .args(["audit", "--color", "never"])
        .env("COLUMNS", "400")
        .output()
        .expect("audit");
    let text = String::from_utf8_lossy(&human.stdout);
    let ip = lo.inspect("{{.NetworkSettings.IPAddress}}");
    let chain = format!(
        "0.0.0.0:{p_lo} -> {ip}:80 (container {}) -> nothing: httpd listens on 127.0.0.1:80",
        lo.name
    );
    assert!(text.contains(&chain), "{text}");
    assert_eq!(human.status.code(), Some(1));
    // --netns with the container's pid audits the container alone.
    let pid = lo.inspect("{{.State.Pid}}");
    let inside = Command::new(loopback_bin())
        .args(["audit", "--json", "--netns", &pid])
        .output()
        .expect("audit --netns");
    let r: Value = serde_json::from_slice(&inside.stdout).expect("JSON");
    let ports: Vec<(String, u64)> = r["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .map(|l| {
            (
                l["address"].as_str().unwrap_or("").to_owned(),
                l["port"].as_u64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(ports, vec![("127.0.0.1".to_owned(), 80)]);
    assert_eq!(r["namespaces"][0]["container"]["name"], lo.name.as_str());
}

/// A LAN-like link from this host's own namespace (where dockerd runs) to a peer namespace,
/// removed at the end, with an INPUT rule added by the test removed too. The peer can send
/// packets addressed to 127.0.0.1 to this host (a policy route and `route_localnet` on its
/// side: what an attacker on the LAN crafts, moby issue 41872) and routes Docker's bridge
/// network through it.
struct Uplink {
    link: String,
    peer: String,
    addr: String,
    input_rule: Option<Vec<String>>,
}

impl Uplink {
    fn new(bridge_net: &str) -> Uplink {
        let n = std::process::id() % 200 + 20;
        let link = format!("lbtu{n}");
        let peer = format!("lbt-dpeer-{}", std::process::id());
        let addr = format!("198.18.{n}.1");
        let peer_addr = format!("198.18.{n}.2");
        let sh = |cmd: &[&str]| {
            run(Command::new(cmd[0]).args(&cmd[1..]));
        };
        sh(&["ip", "netns", "add", &peer]);
        let up = Uplink {
            link: link.clone(),
            peer: peer.clone(),
            addr: addr.clone(),
            input_rule: None,
        };
        sh(&[
            "ip", "link", "add", &link, "type", "veth", "peer", "name", "lan0", "netns", &peer,
        ]);
        sh(&["ip", "addr", "add", &format!("{addr}/24"), "dev", &link]);
        sh(&["ip", "link", "set", &link, "up"]);
        let pip = |args: &[&str]| {
            run(Command::new("ip").args(["-n", &peer]).args(args));
        };
        pip(&["link", "set", "lo", "up"]);
        pip(&["addr", "add", &format!("{peer_addr}/24"), "dev", "lan0"]);
        pip(&["link", "set", "lan0", "up"]);
        pip(&["route", "add", bridge_net, "via", &addr]);
        for kv in [
            "net.ipv4.conf.all.route_localnet=1",
            "net.ipv4.conf.lan0.route_localnet=1",
        ] {
            sh(&["ip", "netns", "exec", &peer, "sysctl", "-qw", kv]);
        }
        pip(&["rule", "add", "pref", "10", "lookup", "local"]);
        pip(&["rule", "del", "pref", "0"]);
        pip(&[
            "rule",
            "add",
            "pref",
            "5",
            "to",
            "127.0.0.1/32",
            "lookup",
            "100",
        ]);
        pip(&[
            "route",
            "add",
            "127.0.0.1/32",
            "via",
            &addr,
            "dev",
            "lan0",
            "table",
            "100",
            "src",
            &peer_addr,
        ]);
        up
    }

    /// `iptables -I INPUT -i LINK -p tcp --dport PORT -j DROP`: a ufw-style deny.
    fn deny(&mut self, port: u16) {
        let spec: Vec<String> = [
            "INPUT",
            "-i",
            &self.link,
            "-p",
            "tcp",
            "--dport",
            &port.to_string(),
            "-j",
            "DROP",
        ]
        .map(str::to_owned)
        .to_vec();
        run(Command::new("iptables").arg("-I").args(&spec));
        self.input_rule = Some(spec);
    }

    fn reach(&self, addr: &str, port: u16) -> String {
        let out = run(Command::new("ip")
            .args(["netns", "exec", &self.peer])
            .arg(example_bin("lb-reach"))
            .args(["tcp", &format!("{addr}:{port}"), "700"]));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for Uplink {
    fn drop(&mut self) {
        if let Some(spec) = &self.input_rule {
            let _ = Command::new("iptables").arg("-D").args(spec).status();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.link])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.peer])
            .status();
    }
}

#[test]
#[ignore = "needs root and dockerd: ./scripts/test runs it"]
fn docker_dnat_rules_decide_what_the_lan_reaches() {
    require_docker();
    image();
    let base = 22000 + (std::process::id() % 1000) as u16 * 3;
    let (p_any, p_lo, p_denied) = (base, base + 1, base + 2);
    let any = Container::run(
        "x-any",
        Some(&format!("{p_any}:80")),
        &["httpd", "-f", "-p", "0.0.0.0:80"],
    );
    let lo = Container::run(
        "x-lo",
        Some(&format!("127.0.0.1:{p_lo}:80")),
        &["httpd", "-f", "-p", "0.0.0.0:80"],
    );
    let denied = Container::run(
        "x-deny",
        Some(&format!("{p_denied}:80")),
        &["httpd", "-f", "-p", "0.0.0.0:80"],
    );
    for c in [&any, &lo, &denied] {
        c.wait_listening(80);
    }
    let subnet = docker_ok(&[
        "network",
        "inspect",
        "-f",
        "{{(index .IPAM.Config 0).Subnet}}",
        "bridge",
    ]);
    let mut up = Uplink::new(&subnet);
    up.deny(p_denied);

    let out = Command::new(loopback_bin())
        .args(["audit", "-A", "--json", "--uplink", &up.link])
        .output()
        .expect("audit -A");
    assert!(
        out.status.code().is_some_and(|c| c < 2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).expect("audit JSON");
    let server = |c: &Container| -> Value {
        let ns = c.netns_inode();
        r["listeners"]
            .as_array()
            .expect("listeners")
            .iter()
            .find(|l| l["netns"] == ns && l["port"] == 80 && l["proto"] == "tcp")
            .cloned()
            .unwrap_or_else(|| panic!("{}'s server is not in the audit", c.name))
    };
    let dnat_path = |l: &Value, address: &str, port: u16| -> Option<Value> {
        l["exposure"]["paths"]
            .as_array()
            .expect("paths")
            .iter()
            .find(|p| {
                p["interface"] == up.link.as_str()
                    && p["arrival"] == "dnat"
                    && p["address"] == address
                    && p["port"] == port
            })
            .cloned()
    };

    // Published on every address: the peer reaches it through Docker's DNAT rule.
    assert_eq!(up.reach(&up.addr, p_any), "open");
    let l = server(&any);
    assert_eq!(l["exposed"], true);
    let p = dnat_path(&l, &up.addr, p_any).unwrap_or_else(|| panic!("no DNAT path: {l:#}"));
    assert_eq!(p["state"], "open");
    assert!(
        p["nat_rule"]["text"]
            .as_str()
            .is_some_and(|t| t.contains("-j DNAT")),
        "{p:#}"
    );

    // Published on 127.0.0.1: still reached from the LAN with packets addressed to 127.0.0.1,
    // because the DNAT rule matches any interface; not at the host's LAN address.
    assert_eq!(up.reach("127.0.0.1", p_lo), "open");
    assert_ne!(up.reach(&up.addr, p_lo), "open");
    let l = server(&lo);
    let p = dnat_path(&l, "127.0.0.1", p_lo).unwrap_or_else(|| panic!("no crafted path: {l:#}"));
    assert_eq!(p["state"], "open");
    assert!(
        p["detail"].as_str().is_some_and(|d| d.contains("41872")),
        "{p:#}"
    );
    assert!(dnat_path(&l, &up.addr, p_lo).is_none(), "{l:#}");

    // A ufw-style INPUT deny does not protect a published port: the DNATed connection is
    // forwarded, never passing INPUT.
    assert_eq!(up.reach(&up.addr, p_denied), "open");
    let l = server(&denied);
    let p = dnat_path(&l, &up.addr, p_denied).unwrap_or_else(|| panic!("no DNAT path: {l:#}"));
    assert_eq!(p["state"], "open");
    assert!(
        !p["rule"]["text"].as_str().unwrap_or("").contains("DROP"),
        "{p:#}"
    );

    // Each DNAT rule is a publication joined to the server behind it.
    for port in [p_any, p_lo, p_denied] {
        let publication = r["publications"]
            .as_array()
            .expect("publications")
            .iter()
            .find(|x| x["forwarder"] == "dnat" && x["port"] == port)
            .unwrap_or_else(|| panic!("no DNAT publication of {port}: {:#}", r["publications"]));
        assert_eq!(publication["diagnosis"], "ok", "{publication:#}");
        assert!(publication["rule"]["text"]
            .as_str()
            .is_some_and(|t| t.contains(&port.to_string())));
    }
}
