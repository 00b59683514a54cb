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
