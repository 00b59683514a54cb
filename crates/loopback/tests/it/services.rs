//! Real servers from Debian's packages (installed by scripts/test), each started inside a test
//! namespace once on loopback and once on a wildcard: `audit` must name the service, the
//! configuration file it runs with, and the right fix.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use loopback_model::{AuditReport, Listener, Proto, Verdict};

use crate::support::{require_root, Netns};

/// The path of an installed program. A missing one fails the test: it cannot run, and a test
/// that did not run must not count as passed (scripts/test installs them all).
pub(crate) fn installed(candidates: &[&str]) -> PathBuf {
    candidates
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{candidates:?} missing: scripts/test installs it"))
}

fn postgres_bin(name: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    versions.sort();
    versions
        .into_iter()
        .rev()
        .map(|v| v.join("bin").join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("PostgreSQL's {name} missing: scripts/test installs it"))
}

/// A scratch directory every user can enter (servers drop privileges).
fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lbt-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir
}

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn audit(ns: &Netns) -> AuditReport {
    let out = ns.loopback(&["audit", "--json"]);
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("audit JSON {e}: {}", String::from_utf8_lossy(&out.stderr)))
}

fn on_port(r: &AuditReport, port: u16) -> Vec<&Listener> {
    on(r, Proto::Tcp, port)
}

/// On drop: runs the stop command, kills and reaps the child, then removes the scratch
/// directory (in that order: a stop command may need the pid file inside it).
pub(crate) struct Stop(pub Option<Command>, pub Option<Child>, pub Option<PathBuf>);

impl Drop for Stop {
    fn drop(&mut self) {
        if let Some(c) = self.0.as_mut() {
            let _ = c.output();
        }
        if let Some(child) = self.1.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(dir) = self.2.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn check(listeners: &[&Listener], id: &str, config: Option<&Path>, exposed: bool, fix_has: &str) {
    assert!(!listeners.is_empty(), "no listener");
    for l in listeners {
        let svc = l
            .service
            .as_ref()
            .unwrap_or_else(|| panic!("no service named for {l:#?}"));
        assert_eq!(svc.id, id, "{l:#?}");
        assert_eq!(svc.identified_by, "process");
        assert_eq!(
            svc.config_file.as_deref(),
            config.map(|c| c.to_str().expect("utf-8 path")),
            "{svc:#?}"
        );
        assert_eq!(l.exposed, exposed, "{l:#?}");
        if exposed {
            assert_eq!(l.verdict, Verdict::Exposed);
            let fix = l
                .fix
                .as_deref()
                .unwrap_or_else(|| panic!("no fix for {l:#?}"));
            assert!(fix.contains(fix_has), "fix {fix:?} lacks {fix_has:?}");
        } else {
            assert!(l.fix.is_none());
        }
    }
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn postgresql_listen_addresses() {
    require_root();
    let (initdb, pg_ctl, postgres) = (
        postgres_bin("initdb"),
        postgres_bin("pg_ctl"),
        postgres_bin("postgres"),
    );
    let dir = scratch("pg");
    let data = dir.join("data");
    run(Command::new("chown").args(["postgres", dir.to_str().expect("path")]));
    run(Command::new("runuser")
        .args(["-u", "postgres", "--"])
        .arg(&initdb)
        .args(["-N", "-A", "trust", "-U", "postgres", "-D"])
        .arg(&data));
    let conf = data.join("postgresql.conf");
    let base = std::fs::read_to_string(&conf).expect("postgresql.conf");
    for (tag, listen, exposed) in [("pglo", "127.0.0.1", false), ("pgany", "*", true)] {
        let ns = Netns::with_lan(tag);
        std::fs::write(&conf, format!("{base}\nlisten_addresses = '{listen}'\nport = 25432\nunix_socket_directories = '{}'\n", dir.display())).expect("conf");
        // The postmaster runs as this test's child (setpriv execs, it does not fork), so it is
        // reaped here whatever the machine's init does; it logs readiness on stderr.
        let mut child = ns
            .cmd("setpriv")
            .args(["--reuid=postgres", "--regid=postgres", "--init-groups"])
            .arg(&postgres)
            .arg("-D")
            .arg(&data)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("postgres");
        let lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let ready = lines
            .map_while(Result::ok)
            .any(|l| l.contains("ready to accept connections"));
        assert!(ready, "postgres did not start");
        let mut stop = ns.cmd("runuser");
        stop.args(["-u", "postgres", "--"])
            .arg(&pg_ctl)
            .arg("-D")
            .arg(&data)
            .args(["-m", "fast", "stop"]);
        let _stop = Stop(Some(stop), Some(child), None);
        let r = audit(&ns);
        let ls = on_port(&r, 25432);
        check(
            &ls,
            "postgresql",
            Some(&conf),
            exposed,
            &format!("`listen_addresses = 'localhost'` in {}", conf.display()),
        );
        let svc = ls[0].service.as_ref().expect("service");
        assert_eq!(svc.current.as_deref(), Some(listen));
        assert!(
            svc.current_from
                .as_deref()
                .is_some_and(|f| f.starts_with(&format!("{}:", conf.display()))),
            "{svc:#?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn redis_bind_with_the_packaged_config_path() {
    require_root();
    let redis = installed(&["/usr/bin/redis-server"]);
    for (tag, bind, exposed) in [("rdlo", "127.0.0.1 -::1", false), ("rdany", "* -::*", true)] {
        let ns = Netns::with_lan(tag);
        let dir = scratch(tag);
        // Debian's layout: the server reads /etc/redis/redis.conf (bind-mounted per namespace)
        // and rewrites its process title, so the path is not on its command line.
        ns.etc_file(
            "redis/redis.conf",
            &format!("port 26379\nbind {bind}\nprotected-mode yes\ndaemonize no\nlogfile \"\"\ndir {}\nsave \"\"\n", dir.display()),
        );
        let mut child = ns
            .cmd(&redis)
            .arg("/etc/redis/redis.conf")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        assert!(
            lines
                .by_ref()
                .map_while(Result::ok)
                .any(|l| l.contains("Ready to accept connections")),
            "redis did not start"
        );
        let _stop = Stop(None, Some(child), Some(dir.clone()));
        let r = audit(&ns);
        let ls = on_port(&r, 26379);
        check(
            &ls,
            "redis",
            Some(Path::new("/etc/redis/redis.conf")),
            exposed,
            "`bind 127.0.0.1 -::1` and keep `protected-mode yes` in /etc/redis/redis.conf",
        );
        assert_eq!(
            ls[0].service.as_ref().and_then(|s| s.current.as_deref()),
            Some(bind)
        );
    }
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn nginx_listen_directive() {
    require_root();
    let nginx = installed(&["/usr/sbin/nginx"]);
    for (tag, listen, exposed) in [
        ("ngxlo", "127.0.0.1:28080", false),
        ("ngxany", "28080", true),
    ] {
        let ns = Netns::with_lan(tag);
        let dir = scratch(tag);
        let conf = dir.join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "pid {d}/nginx.pid;\nerror_log {d}/error.log;\nevents {{}}\nhttp {{\n    access_log off;\n    server {{\n        listen {listen};\n        location / {{ return 204; }}\n    }}\n}}\n",
                d = dir.display()
            ),
        )
        .expect("nginx.conf");
        // Without `daemon off`, nginx returns once its master process listens.
        run(ns.cmd(&nginx).arg("-c").arg(&conf));
        let mut stop = ns.cmd(&nginx);
        stop.arg("-c").arg(&conf).args(["-s", "stop"]);
        let _stop = Stop(Some(stop), None, Some(dir.clone()));
        let r = audit(&ns);
        let ls = on_port(&r, 28080);
        assert!(
            ls[0].owners.len() >= 2,
            "master and worker hold the socket: {:#?}",
            ls[0].owners
        );
        check(
            &ls,
            "nginx",
            Some(&conf),
            exposed,
            &format!(
                "`listen 127.0.0.1:28080;` (and `listen [::1]:28080;`) in {}",
                conf.display()
            ),
        );
        let svc = ls[0].service.as_ref().expect("service");
        assert_eq!(svc.current.as_deref(), Some(listen));
        assert_eq!(
            svc.current_from.as_deref(),
            Some(format!("{}:7", conf.display()).as_str())
        );
    }
}

/// memcached in the foreground; `-vv` prints "server listening" once it is bound.
pub(crate) fn start_memcached(ns: &Netns, memcached: &Path, port: u16, listen: &str) -> Stop {
    let mut child = ns
        .cmd(memcached)
        .args([
            "-u",
            "nobody",
            "-p",
            &port.to_string(),
            "-U",
            "0",
            "-l",
            listen,
            "-vv",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("memcached");
    let lines = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let ready = lines
        .map_while(Result::ok)
        .any(|l| l.contains("server listening"));
    assert!(ready, "memcached did not start");
    Stop(None, Some(child), None)
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn memcached_listen_flag() {
    require_root();
    let memcached = installed(&["/usr/bin/memcached"]);
    for (tag, listen, exposed) in [("mclo", "127.0.0.1", false), ("mcany", "0.0.0.0", true)] {
        let ns = Netns::with_lan(tag);
        let _stop = start_memcached(&ns, &memcached, 21211, listen);
        let r = audit(&ns);
        let ls = on_port(&r, 21211);
        // No packaged /etc/memcached.conf sets this port: the command line is the configuration.
        check(
            &ls,
            "memcached",
            None,
            exposed,
            "`-l 127.0.0.1` (and `-U 0` to keep UDP off)",
        );
        let svc = ls[0].service.as_ref().expect("service");
        assert_eq!(svc.current.as_deref(), Some(listen));
        assert_eq!(svc.current_from.as_deref(), Some("command line (-l)"));
    }
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn human_audit_shows_service_and_fix_for_exposed_listeners() {
    require_root();
    let memcached = installed(&["/usr/bin/memcached"]);
    let ns = Netns::with_lan("mchuman");
    let _stop = start_memcached(&ns, &memcached, 21212, "0.0.0.0");
    let out = ns.loopback(&["audit"]);
    let text = String::from_utf8_lossy(&out.stdout);
    let header = text.lines().next().unwrap_or_default();
    assert!(
        header.contains("SERVICE") && header.contains("OWNER"),
        "{text}"
    );
    let row = text
        .lines()
        .find(|l| l.contains("0.0.0.0:21212"))
        .unwrap_or_else(|| panic!("no row in {text}"));
    let cols: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cols[0], "exposed", "{row}");
    assert!(cols.contains(&"memcached"), "a SERVICE column: {row}");
    assert!(
        row.contains("memcached[") && row.contains("(nobody)"),
        "an OWNER column with pid and user: {row}"
    );
    assert!(
        text.contains("    service: memcached; -l (and -U for UDP) = 0.0.0.0 (command line (-l))"),
        "{text}"
    );
    assert!(
        text.contains("    fix: run memcached with `-l 127.0.0.1`"),
        "{text}"
    );
}

/// Start redis-server with `conf` (a file outside /etc) and wait until it is ready.
fn start_redis(ns: &Netns, redis: &Path, conf: &Path) -> Child {
    let mut child = ns
        .cmd(redis)
        .arg(conf)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    assert!(
        lines
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l.contains("Ready to accept connections")),
        "redis did not start"
    );
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || lines.map_while(Result::ok).for_each(drop));
    child
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn redis_started_with_another_file_is_asked_and_the_packaged_file_is_not_trusted() {
    require_root();
    let redis = installed(&["/usr/bin/redis-server"]);
    // The packaged file says loopback; the server really runs with a file elsewhere that says
    // every address, and its rewritten title hides which file that is.
    for (tag, auth) in [("rdask", ""), ("rdauth", "requirepass s3cret-test\n")] {
        let ns = Netns::with_lan(tag);
        let dir = scratch(tag);
        ns.etc_file(
            "redis/redis.conf",
            "port 6379\nbind 127.0.0.1 -::1\nprotected-mode yes\n",
        );
        let real = dir.join("real.conf");
        std::fs::write(
            &real,
            format!(
                "port 6379\nbind 0.0.0.0\n{auth}daemonize no\nlogfile \"\"\ndir {}\nsave \"\"\n",
                dir.display()
            ),
        )
        .expect("conf");
        let child = start_redis(&ns, &redis, &real);
        let _stop = Stop(None, Some(child), Some(dir.clone()));
        let r = audit(&ns);
        let ls = on_port(&r, 6379);
        assert_eq!(ls.len(), 1, "{ls:#?}");
        let l = ls[0];
        let svc = l.service.as_ref().expect("service");
        assert_eq!(svc.id, "redis");
        let fix = l.fix.as_deref().unwrap_or_default();
        assert!(
            fix.starts_with("/etc/redis/redis.conf:2 says `bind 127.0.0.1 -::1`"),
            "{fix}"
        );
        assert!(
            fix.contains(
                "it was started with another file, or the setting was changed at run time"
            ),
            "{fix}"
        );
        assert!(fix.contains("in the file it runs with"), "{fix}");
        assert!(!fix.contains("s3cret"), "{fix}");
        if auth.is_empty() {
            // Asked without credentials, the running server says what it uses.
            assert_eq!(svc.current.as_deref(), Some("0.0.0.0"), "{svc:#?}");
            assert_eq!(
                svc.current_from.as_deref(),
                Some("the running server (CONFIG GET bind)")
            );
            assert!(
                fix.contains("the running server answers `0.0.0.0` to CONFIG GET bind"),
                "{fix}"
            );
        } else {
            // With a password it will not tell: the socket contradicts the file, and the fix
            // says what would tell.
            assert!(
                fix.contains("but the process listens on 0.0.0.0:6379"),
                "{fix}"
            );
            assert!(fix.contains("NOAUTH"), "{fix}");
            assert!(
                fix.contains("`redis-cli -p 6379 CONFIG GET bind` with its credentials tells"),
                "{fix}"
            );
        }
    }
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn a_script_on_a_well_known_port_gets_a_hypothesis_not_that_services_fix() {
    require_root();
    let ns = Netns::with_lan("portonly");
    let mut cmd = ns.cmd("/usr/bin/python3");
    cmd.args([
        "-c",
        "import socket,sys\ns=socket.socket(socket.AF_INET6)\ns.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)\ns.bind(('::', 9090))\ns.listen()\nprint('ready', flush=True)\nsys.stdin.read()",
    ]);
    let _srv = crate::support::Listeners::spawn(cmd);
    let r = audit(&ns);
    let l = on_port(&r, 9090)[0];
    let svc = l.service.as_ref().expect("service");
    assert_eq!(
        (svc.id.as_str(), svc.identified_by.as_str()),
        ("prometheus", "port")
    );
    let fix = l.fix.as_deref().unwrap_or_default();
    assert!(
        fix.starts_with(
            "if this is Prometheus (only its port, 9090, suggests it, and the process is python3):"
        ),
        "{fix}"
    );
    assert!(
        fix.ends_with("otherwise bind the program to 127.0.0.1 (or ::1)"),
        "{fix}"
    );
}

/// Kills every process left in a namespace when dropped (daemons such as epmd detach from
/// the test's child), before the namespace itself goes.
struct KillAll<'a>(&'a Netns);

impl Drop for KillAll<'_> {
    fn drop(&mut self) {
        if let Ok(out) = Command::new("ip")
            .args(["netns", "pids", &self.0.name])
            .output()
        {
            for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = Command::new("kill").args(["-9", pid]).output();
            }
        }
    }
}

/// Wait until something listens on `proto` `port` in the namespace (a readiness poll with a
/// deadline, not a timing assertion).
fn wait_listening(ns: &Netns, proto: Proto, port: u16) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if ns
            .ss()
            .iter()
            .any(|s| s.proto == proto.to_string() && s.port == port)
        {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("nothing listens on {proto} port {port} after 60 s");
}

/// Start `cmd` (its output discarded) and return the child.
fn spawn(mut cmd: Command) -> Child {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

fn on(r: &AuditReport, proto: Proto, port: u16) -> Vec<&Listener> {
    r.listeners
        .iter()
        .filter(|l| l.port == port && l.proto == proto)
        .collect()
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn sshd_listen_address() {
    require_root();
    let sshd = installed(&["/usr/sbin/sshd"]);
    std::fs::create_dir_all("/run/sshd").expect("privilege separation directory");
    for (tag, listen, exposed) in [("sshlo", "127.0.0.1", false), ("sshany", "0.0.0.0", true)] {
        let ns = Netns::with_lan(tag);
        let _kill = KillAll(&ns);
        let dir = scratch(tag);
        let key = dir.join("host_key");
        run(Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-f"])
            .arg(&key));
        let conf = dir.join("sshd_config");
        std::fs::write(
            &conf,
            format!(
                "Port 2222\nListenAddress {listen}\nHostKey {}\nPidFile {}/pid\n",
                key.display(),
                dir.display()
            ),
        )
        .expect("sshd_config");
        let mut cmd = ns.cmd(&sshd);
        cmd.args(["-D", "-e", "-f"]).arg(&conf);
        let child = spawn(cmd);
        let _stop = Stop(None, Some(child), Some(dir.clone()));
        wait_listening(&ns, Proto::Tcp, 2222);
        let r = audit(&ns);
        let ls = on(&r, Proto::Tcp, 2222);
        check(
            &ls,
            "sshd",
            Some(&conf),
            exposed,
            "`ListenAddress 127.0.0.1`",
        );
        let svc = ls[0].service.as_ref().expect("service");
        assert_eq!(svc.current.as_deref(), Some(listen), "{svc:#?}");
    }
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn dnsmasq_listen_address() {
    require_root();
    let dnsmasq = installed(&["/usr/sbin/dnsmasq"]);
    for (tag, extra, exposed) in [
        (
            "dnsqlo",
            "listen-address=127.0.0.1\nbind-interfaces\n",
            false,
        ),
        ("dnsqany", "", true),
    ] {
        let ns = Netns::with_lan(tag);
        let _kill = KillAll(&ns);
        let dir = scratch(tag);
        let conf = dir.join("dnsmasq.conf");
        std::fs::write(
            &conf,
            format!(
                "port=10053\nno-resolv\nno-hosts\nuser=root\npid-file={}/pid\n{extra}",
                dir.display()
            ),
        )
        .expect("dnsmasq.conf");
        let mut cmd = ns.cmd(&dnsmasq);
        cmd.args(["-k", "-C"]).arg(&conf);
        let child = spawn(cmd);
        let _stop = Stop(None, Some(child), Some(dir.clone()));
        wait_listening(&ns, Proto::Tcp, 10053);
        let r = audit(&ns);
        check(
            &on(&r, Proto::Tcp, 10053),
            "dnsmasq",
            Some(&conf),
            exposed,
            "`listen-address=127.0.0.1` and `bind-interfaces`",
        );
        check(
            &on(&r, Proto::Udp, 10053),
            "dnsmasq",
            Some(&conf),
            exposed,
            "`listen-address=127.0.0.1` and `bind-interfaces`",
        );
    }
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn avahi_cannot_move_to_loopback_and_says_what_limits_it() {
    require_root();
    let avahi = installed(&["/usr/sbin/avahi-daemon"]);
    let ns = Netns::with_lan("avahi");
    let _kill = KillAll(&ns);
    let dir = scratch("avahi");
    // Debian's path, bind-mounted for the namespace: avahi rewrites its process title
    // (`avahi-daemon: running [host.local]`), so a -f path would not be seen.
    ns.etc_file(
        "avahi/avahi-daemon.conf",
        "[server]\nuse-ipv4=yes\nuse-ipv6=yes\nenable-dbus=no\n[publish]\ndisable-publishing=yes\n",
    );
    let conf = Path::new("/etc/avahi/avahi-daemon.conf");
    let mut cmd = ns.cmd(&avahi);
    cmd.args(["--no-chroot", "--no-drop-root", "--no-rlimits", "-f"])
        .arg(conf);
    let child = spawn(cmd);
    let _stop = Stop(None, Some(child), Some(dir.clone()));
    wait_listening(&ns, Proto::Udp, 5353);
    let r = audit(&ns);
    check(
        &on(&r, Proto::Udp, 5353),
        "avahi",
        Some(conf),
        true,
        "cannot move to loopback",
    );
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn etcd_listen_client_urls() {
    require_root();
    let etcd = installed(&["/usr/bin/etcd"]);
    for (tag, url, exposed) in [
        ("etcdlo", "http://127.0.0.1:22379", false),
        ("etcdany", "http://0.0.0.0:22379", true),
    ] {
        let ns = Netns::with_lan(tag);
        let _kill = KillAll(&ns);
        let dir = scratch(tag);
        let mut cmd = ns.cmd(&etcd);
        cmd.arg("--data-dir")
            .arg(dir.join("data"))
            .args(["--listen-client-urls", url])
            .args(["--advertise-client-urls", "http://127.0.0.1:22379"])
            .args(["--listen-peer-urls", "http://127.0.0.1:22380"]);
        let child = spawn(cmd);
        let _stop = Stop(None, Some(child), Some(dir.clone()));
        wait_listening(&ns, Proto::Tcp, 22379);
        let r = audit(&ns);
        let ls = on(&r, Proto::Tcp, 22379);
        check(&ls, "etcd", None, exposed, "http://127.0.0.1:22379");
        let svc = ls[0].service.as_ref().expect("service");
        assert_eq!(svc.current.as_deref(), Some(url), "{svc:#?}");
    }
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn zookeeper_client_port_address() {
    require_root();
    let jar = installed(&["/usr/share/java/zookeeper.jar"]);
    for (tag, extra, exposed) in [
        ("zklo", "clientPortAddress=127.0.0.1\n", false),
        ("zkany", "", true),
    ] {
        let ns = Netns::with_lan(tag);
        let _kill = KillAll(&ns);
        let dir = scratch(tag);
        // Debian's layout: /etc/zookeeper/conf/zoo.cfg, named as the main class's argument.
        ns.etc_file(
            "zookeeper/conf/zoo.cfg",
            &format!(
                "dataDir={}\nclientPort=2181\nadmin.enableServer=false\n{extra}",
                dir.display()
            ),
        );
        let mut cmd = ns.cmd("java");
        cmd.arg("-cp")
            .arg(format!("/etc/zookeeper/conf:{}", jar.display()))
            .args([
                "org.apache.zookeeper.server.quorum.QuorumPeerMain",
                "/etc/zookeeper/conf/zoo.cfg",
            ]);
        let child = spawn(cmd);
        let _stop = Stop(None, Some(child), Some(dir.clone()));
        wait_listening(&ns, Proto::Tcp, 2181);
        let r = audit(&ns);
        check(
            &on(&r, Proto::Tcp, 2181),
            "zookeeper",
            Some(Path::new("/etc/zookeeper/conf/zoo.cfg")),
            exposed,
            "`clientPortAddress=127.0.0.1`",
        );
    }
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn rabbitmq_and_its_port_mapper() {
    require_root();
    let server = installed(&["/usr/lib/rabbitmq/bin/rabbitmq-server"]);
    let ns = Netns::with_lan("rabbit");
    let _kill = KillAll(&ns);
    ns.etc_file("hosts", "127.0.0.1 localhost\n::1 localhost\n");
    let dir = scratch("rabbit");
    let mut cmd = ns.cmd("env");
    cmd.arg(format!("HOME={}", dir.display()))
        .arg(format!("RABBITMQ_MNESIA_BASE={}/mnesia", dir.display()))
        .arg(format!("RABBITMQ_LOG_BASE={}/log", dir.display()))
        .arg("RABBITMQ_NODENAME=rabbit@localhost")
        .arg(&server);
    let child = spawn(cmd);
    let _stop = Stop(None, Some(child), Some(dir.clone()));
    wait_listening(&ns, Proto::Tcp, 5672);
    let r = audit(&ns);
    check(
        &on(&r, Proto::Tcp, 5672),
        "rabbitmq",
        None,
        true,
        "`listeners.tcp.local = 127.0.0.1:5672`",
    );
    check(
        &on(&r, Proto::Tcp, 4369),
        "epmd",
        None,
        true,
        "`ERL_EPMD_ADDRESS=127.0.0.1`",
    );
}
