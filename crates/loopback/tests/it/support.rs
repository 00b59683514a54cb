//! Test fixtures: network namespaces, a LAN-like veth link, real listeners, and the `ss` oracle.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The namespace tests are `#[ignore]`d, so a plain `cargo test` reports them as ignored
/// (skipped), never as passed. `./scripts/test` runs them with `--include-ignored` as root, as CI
/// does; run any other way without root, they fail here and say why.
pub fn require_root() {
    let uid = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    assert_eq!(
        uid.ok().as_deref(),
        Some("0"),
        "this test needs root: it creates network namespaces, users and mounts (sudo ./scripts/test)"
    );
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The `loopback` binary under test.
pub fn loopback_bin() -> &'static str {
    env!("CARGO_BIN_EXE_loopback")
}

/// An example binary (`lb-listen`, `lb-crowd`), built by `cargo test` next to the test binary.
pub fn example_bin(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test exe");
    let dir = exe.parent().and_then(Path::parent).expect("target dir");
    let bin = dir.join("examples").join(name);
    assert!(
        bin.exists(),
        "{} missing: run the suite with `cargo test` (it builds examples)",
        bin.display()
    );
    bin
}

/// The `lb-listen` example.
pub fn listen_bin() -> PathBuf {
    example_bin("lb-listen")
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A network namespace that is deleted on drop, with `lo` up.
pub struct Netns {
    pub name: String,
    peer: Option<String>,
}

impl Netns {
    pub fn new(tag: &str) -> Netns {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("lbt-{tag}-{}-{n}", std::process::id());
        run(Command::new("ip").args(["netns", "add", &name]));
        let ns = Netns { name, peer: None };
        ns.ip(&["link", "set", "lo", "up"]);
        // Name look-ups inside test namespaces must never leave the machine: DNS goes to the
        // namespace's own loopback, where nothing answers.
        ns.etc_file(
            "resolv.conf",
            "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
        );
        ns
    }

    /// A namespace with a LAN-like link `lan0` to a peer namespace: 198.18.0.1/24 and
    /// fd00:1b::1/64 here, .2 and ::2 on the peer.
    pub fn with_lan(tag: &str) -> Netns {
        let mut ns = Netns::new(tag);
        let peer = format!("{}-p", ns.name);
        run(Command::new("ip").args(["netns", "add", &peer]));
        ns.peer = Some(peer.clone());
        ns.ip(&[
            "link", "add", "lan0", "type", "veth", "peer", "name", "lan0", "netns", &peer,
        ]);
        ns.ip(&["addr", "add", "198.18.0.1/24", "dev", "lan0"]);
        ns.ip(&["addr", "add", "fd00:1b::1/64", "dev", "lan0", "nodad"]);
        ns.ip(&["link", "set", "lan0", "up"]);
        for args in [
            vec!["link", "set", "lo", "up"],
            vec!["addr", "add", "198.18.0.2/24", "dev", "lan0"],
            vec!["addr", "add", "fd00:1b::2/64", "dev", "lan0", "nodad"],
            vec!["link", "set", "lan0", "up"],
        ] {
            run(Command::new("ip").args(["-n", &peer]).args(&args));
        }
        ns
    }

    /// `ip -n NS ARGS…`, asserting success.
    pub fn ip(&self, args: &[&str]) {
        run(Command::new("ip").args(["-n", &self.name]).args(args));
    }

    /// A command run inside the namespace.
    pub fn cmd(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// Load an nft ruleset (`nft -f -`) into the namespace.
    pub fn nft(&self, ruleset: &str) {
        let mut child = self
            .cmd("nft")
            .args(["-f", "-"])
            .stdin(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nft");
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(ruleset.as_bytes())
            .expect("nft stdin");
        let out = child.wait_with_output().expect("nft");
        assert!(
            out.status.success(),
            "nft -f: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `sysctl -w KEY=VALUE` inside the namespace.
    pub fn sysctl(&self, kv: &str) {
        run(self.cmd("sysctl").args(["-q", "-w", kv]));
    }

    /// Run `loopback ARGS…` inside the namespace. In a namespace with a LAN link, `audit` is
    /// told that `lan0` leads off the machine (`--uplink lan0`): its far end is a namespace of
    /// this machine, which would otherwise make it internal.
    pub fn loopback(&self, args: &[&str]) -> Output {
        self.loopback_from(loopback_bin().as_ref(), args)
    }

    /// [`Netns::loopback`] with another build of the binary (a package's).
    pub fn loopback_from(&self, bin: &Path, args: &[&str]) -> Output {
        let mut all: Vec<&str> = args.to_vec();
        if self.peer.is_some() && !args.contains(&"--snapshot") {
            if let Some(i) = all.iter().position(|a| *a == "audit") {
                all.splice(i + 1..i + 1, ["--uplink", "lan0"]);
            }
        }
        self.cmd(bin).args(&all).output().expect("running loopback")
    }

    /// Start real listeners inside the namespace; they close when the returned value drops.
    pub fn listen(&self, specs: &[&str], extra: &[&str]) -> Listeners {
        listen_in(&self.name, specs, extra)
    }

    /// Whether it has a LAN link to a peer.
    pub fn has_lan(&self) -> bool {
        self.peer.is_some()
    }

    /// The LAN peer namespace's name.
    pub fn peer_name(&self) -> &str {
        self.peer.as_deref().expect("namespace has a LAN peer")
    }

    /// Start real listeners in the LAN peer namespace.
    pub fn listen_on_peer(&self, specs: &[&str]) -> Listeners {
        listen_in(
            self.peer.as_deref().expect("namespace has a LAN peer"),
            specs,
            &[],
        )
    }
}

fn listen_in(ns: &str, specs: &[&str], extra: &[&str]) -> Listeners {
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", ns])
        .arg(listen_bin())
        .args(specs)
        .arg("--")
        .args(extra);
    Listeners::spawn(cmd)
}

impl Listeners {
    /// Start `cmd`, which prints `ready PID…` once it holds its sockets and exits when its
    /// stdin closes (`lb-listen`, or a test server written the same way).
    pub fn spawn(mut cmd: Command) -> Listeners {
        let what = format!("{cmd:?}");
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawning a listener");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("reading the ready line");
        if !line.starts_with("ready") {
            let out = child.wait_with_output().expect("listener output");
            panic!("{what} failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let pids = line
            .split_whitespace()
            .skip(1)
            .filter_map(|p| p.parse().ok())
            .collect();
        Listeners {
            stdin: child.stdin.take(),
            child,
            pids,
        }
    }
}

impl Netns {
    /// Start `lb-crowd PROCS FDS LISTENERS` inside the namespace; it holds everything until the
    /// returned handle drops. The first line it prints (`ready …`) is the readiness signal.
    pub fn crowd(&self, procs: usize, fds: usize, listeners: usize) -> Listeners {
        let mut child = self
            .cmd(example_bin("lb-crowd"))
            .args([procs, fds, listeners].map(|n| n.to_string()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawning lb-crowd");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("reading lb-crowd");
        assert!(line.starts_with("ready"), "lb-crowd failed: {line:?}");
        Listeners {
            stdin: child.stdin.take(),
            child,
            pids: vec![],
        }
    }

    /// Install `/etc/netns/NAME/FILE` (bind-mounted over `/etc/FILE` by `ip netns exec`).
    /// `file` may hold a directory (`redis/redis.conf`): the directory is bind-mounted over
    /// `/etc/redis`, which must exist.
    pub fn etc_file(&self, file: &str, contents: &str) {
        let path = self.etc_path(file);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("creating /etc/netns dir");
        }
        std::fs::write(path, contents).expect("writing netns etc file");
    }

    /// `/etc/netns/NAME/FILE`, which `ip netns exec` mounts over `/etc/FILE`.
    pub fn etc_path(&self, file: &str) -> PathBuf {
        PathBuf::from("/etc/netns").join(&self.name).join(file)
    }

    /// What `getent DB NAME` prints inside the namespace (the C library's answer, the oracle
    /// for name look-ups): each address once, in its order; empty when the name is unknown.
    pub fn getent(&self, db: &str, name: &str) -> Vec<String> {
        let out = self
            .cmd("getent")
            .args([db, name])
            .output()
            .expect("getent");
        let mut seen = BTreeSet::new();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .filter(|a| seen.insert(a.clone()))
            .collect()
    }

    /// The `ss -H -tulnpe` view of this namespace.
    pub fn ss(&self) -> Vec<SsSocket> {
        let out = run(self.cmd("ss").arg("-Htulnpe"));
        parse_ss(&String::from_utf8_lossy(&out.stdout))
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        if let Some(peer) = &self.peer {
            let _ = Command::new("ip").args(["netns", "del", peer]).status();
        }
        let _ = std::fs::remove_dir_all(PathBuf::from("/etc/netns").join(&self.name));
    }
}

/// Running listeners; dropping closes stdin and waits for them to exit.
pub struct Listeners {
    stdin: Option<ChildStdin>,
    child: Child,
    pub pids: Vec<u32>,
}

impl Listeners {
    pub fn pid(&self) -> u32 {
        self.pids[0]
    }
}

impl Drop for Listeners {
    fn drop(&mut self) {
        if let Some(mut s) = self.stdin.take() {
            let _ = s.flush();
        }
        let _ = self.child.wait();
    }
}

/// One socket as `ss -tulnpe` shows it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SsSocket {
    pub proto: String,
    pub address: String,
    pub port: u16,
    pub device: Option<String>,
    pub inode: u64,
    pub pids: BTreeSet<u32>,
}

/// Parse `ss -H -tulnpe` output. `*` (a dual-stack `::` socket) becomes `::`.
pub fn parse_ss(text: &str) -> Vec<SsSocket> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 {
            continue;
        }
        let (host, port) = f[4].rsplit_once(':').expect("ss local address has a port");
        let (host, device) = match host.split_once('%') {
            Some((h, d)) => (h, Some(d.to_owned())),
            None => (host, None),
        };
        let address = match host.trim_start_matches('[').trim_end_matches(']') {
            "*" => "::".to_owned(),
            h => h
                .parse::<std::net::IpAddr>()
                .expect("ss address")
                .to_string(),
        };
        let pids = line
            .split("pid=")
            .skip(1)
            .filter_map(|s| s.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
            .collect();
        let inode = line
            .split("ino:")
            .nth(1)
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0);
        out.push(SsSocket {
            proto: f[0].to_owned(),
            address,
            port: port.parse().expect("ss port"),
            device,
            inode,
            pids,
        });
    }
    out.sort();
    out
}

#[test]
fn ss_parser_reads_every_form() {
    let text = "udp   UNCONN 0 0 127.0.0.1:7009 0.0.0.0:* users:((\"lb-listen\",pid=12,fd=10)) ino:4567 sk:5 <->
tcp   LISTEN 0 16 *:7001 *:* users:((\"lb-listen\",pid=12,fd=3),(\"cat\",pid=13,fd=3)) ino:11 sk:1 <->
tcp   LISTEN 0 16 0.0.0.0%lo:7007 0.0.0.0:* ino:12 sk:2 <->
tcp   LISTEN 0 16 [::ffff:127.0.0.1]:7005 [::]:* ino:13 sk:3 v6only:0 <->
";
    let s = parse_ss(text);
    assert_eq!(s.len(), 4);
    let dual = s.iter().find(|x| x.port == 7001).expect("7001");
    assert_eq!(dual.address, "::");
    assert_eq!(dual.pids, BTreeSet::from([12, 13]));
    let dev = s.iter().find(|x| x.port == 7007).expect("7007");
    assert_eq!(dev.device.as_deref(), Some("lo"));
    assert_eq!(dev.inode, 12);
    assert_eq!(
        s.iter().find(|x| x.port == 7005).expect("7005").address,
        "::ffff:127.0.0.1"
    );
}

/// Run `cmd` to completion, failing the test if it takes longer than `limit` (the child is
/// killed first, so a hang is a failure, never a stuck suite). Waits on the child, not a clock.
pub fn output_within(
    mut cmd: Command,
    limit: std::time::Duration,
) -> (Output, std::time::Duration) {
    let start = std::time::Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning");
    let pid = child.id();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => (out.expect("waiting"), start.elapsed()),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("{cmd:?} did not finish within {limit:?}");
        }
    }
}

/// An unprivileged user created for one test and removed at its end.
pub struct TestUser {
    pub name: String,
    pub uid: u32,
    pub gid: u32,
}

impl TestUser {
    pub fn new(tag: &str) -> TestUser {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let name = format!("lbt{tag}{}x{n}", std::process::id() % 100_000);
        run(Command::new("useradd").args([
            "--system",
            "--no-create-home",
            "--user-group",
            "--shell",
            "/usr/sbin/nologin",
            &name,
        ]));
        let id = |flag: &str| -> u32 {
            let out = run(Command::new("id").args([flag, &name]));
            String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .expect("numeric id")
        };
        let (uid, gid) = (id("-u"), id("-g"));
        TestUser { name, uid, gid }
    }

    /// `user=UID:GID` for `lb-listen`.
    pub fn listen_arg(&self) -> String {
        format!("user={}:{}", self.uid, self.gid)
    }

    /// Give `path` to this user.
    pub fn chown(&self, path: &Path) {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid)).expect("chown");
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").arg(&self.name).status();
        let _ = Command::new("groupdel").arg(&self.name).status();
    }
}

/// A process killed (and reaped) when the test ends, however it ends.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A directory under the system temporary directory, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("lbt-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.0.join(rel)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Run `loopback ARGS` as `nobody` (uid 65534, no groups, no capabilities) in this namespace,
/// from a copy of the binary that `nobody` can execute wherever the checkout lives.
pub fn as_nobody(args: &[&str]) -> Output {
    as_nobody_in(None, args)
}

/// [`as_nobody`], inside `ns` when given.
pub fn as_nobody_in(ns: Option<&Netns>, args: &[&str]) -> Output {
    program_as_nobody_in(ns, Path::new(loopback_bin()), args)
}

/// Run `program ARGS` as `nobody` in `ns` (a copy of it that `nobody` can execute).
pub fn program_as_nobody_in(ns: Option<&Netns>, program: &Path, args: &[&str]) -> Output {
    use std::os::unix::fs::PermissionsExt;
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("lbt-nobody-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let bin = dir.join(program.file_name().expect("a program file"));
    std::fs::copy(program, &bin).expect("copy binary");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let mut cmd = match ns {
        Some(ns) => ns.cmd("setpriv"),
        None => Command::new("setpriv"),
    };
    let out = cmd
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(&bin)
        .args(args)
        .output()
        .expect("run as nobody");
    let _ = std::fs::remove_dir_all(&dir);
    out
}
