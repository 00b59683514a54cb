//! The root audit against hostile input, run for real: processes of an unprivileged user that
//! name FIFOs, devices, huge and root-only files as their configuration, a chroot whose links
//! point outside, titles with terminal escapes and newlines, HTTP servers that stall or send
//! binary, `/proc` unmounted, `lo` renamed, and hosts or policy files that are FIFOs.

use std::os::unix::fs::symlink;
use std::process::{Command, Output};
use std::time::Duration;

use loopback_model::{AuditReport, DoctorReport, ProbeReport, ResolveReport};

use crate::support::{
    listen_bin, output_within, require_root, Listeners, Netns, TempDir, TestUser,
};

/// Long enough for every deadline of a run (3 s each) to pass, short enough that a hang fails.
const BOUND: Duration = Duration::from_secs(30);

fn mkfifo(path: &std::path::Path) {
    let status = Command::new("mkfifo").arg(path).status().expect("mkfifo");
    assert!(status.success(), "mkfifo {}", path.display());
}

fn in_ns(ns: &Netns, args: &[&str]) -> (Output, Duration) {
    let mut cmd = ns.cmd(crate::support::loopback_bin());
    cmd.args(args);
    // The LAN link leads to a namespace of this machine: declared an uplink for the test.
    if ns.has_lan() && args.first() == Some(&"audit") {
        cmd.args(["--uplink", "lan0"]);
    }
    output_within(cmd, BOUND)
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Nothing but newlines (and, with colour, loopback's own SGR codes) may reach a terminal.
fn assert_no_raw_control(what: &str, s: &str) {
    let stripped = ["\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[0m"]
        .iter()
        .fold(s.to_owned(), |s, sgr| s.replace(sgr, ""));
    let bad: Vec<char> = stripped
        .chars()
        .filter(|c| {
            *c != '\n'
                && (c.is_control()
                    || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'))
        })
        .collect();
    assert!(bad.is_empty(), "{what}: raw {bad:?} in:\n{s}");
}

/// Start `lb-listen` under another name (its `comm` is that name) with `specs`, and `extra`
/// arguments after `--`.
fn listen_as(ns: &Netns, dir: &TempDir, name: &str, specs: &[&str], extra: &[&str]) -> Listeners {
    let bin_dir = dir.path("bin");
    std::fs::create_dir_all(&bin_dir).expect("bin dir");
    let link = bin_dir.join(name);
    if !link.exists() {
        symlink(listen_bin(), &link).expect("symlink");
    }
    let mut cmd = ns.cmd(&link);
    cmd.args(specs).arg("--").args(extra);
    Listeners::spawn(cmd)
}

/// The configuration value the audit read for the listener on `port`, if it read one.
fn service_value(report: &AuditReport, port: u16) -> Option<String> {
    report
        .listeners
        .iter()
        .find(|l| l.port == port)
        .and_then(|l| l.service.as_ref())
        .and_then(|s| s.current.clone())
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn hostile_config_files_are_refused_without_hanging_or_leaking() {
    require_root();
    let ns = Netns::with_lan("cfg");
    let user = TestUser::new("c");
    let dir = TempDir::new("cfg");
    std::fs::set_permissions(&dir.0, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let fifo = dir.path("fifo");
    mkfifo(&fifo);
    user.chown(&fifo);
    let big = dir.path("big.conf");
    std::fs::File::create(&big)
        .and_then(|f| f.set_len(2 << 30))
        .expect("sparse file");
    user.chown(&big);
    let own = dir.path("own.conf");
    std::fs::write(&own, "listen_addresses = 'own-value'\n").expect("own");
    std::fs::set_permissions(&own, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    user.chown(&own);
    let secret = dir.path("secret.conf");
    std::fs::write(&secret, "listen_addresses = 'TOPSECRET-7f3a'\n").expect("secret");
    std::fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    // A link the user controls, to the root-only file.
    let link = dir.path("innocent.conf");
    symlink(&secret, &link).expect("link");

    let u = user.listen_arg();
    let cases: [(u16, &std::path::Path); 6] = [
        (7101, &fifo),
        (7102, std::path::Path::new("/dev/zero")),
        (7103, &big),
        (7104, &secret),
        (7105, &link),
        (7106, &own),
    ];
    let _servers: Vec<Listeners> = cases
        .iter()
        .map(|(port, path)| {
            let spec = format!("tcp:0.0.0.0:{port}");
            let flag = format!("config_file={}", path.display());
            listen_as(&ns, &dir, "postgres", &[&spec, &u], &["-c", &flag])
        })
        .collect();

    let (out, took) = in_ns(&ns, &["audit", "--json"]);
    let (json, stderr) = text(&out);
    let (human_out, _) = in_ns(&ns, &["audit", "--color", "never"]);
    let (human, _) = text(&human_out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for (what, s) in [("json", &json), ("stderr", &stderr), ("human", &human)] {
        assert!(
            !s.contains("TOPSECRET"),
            "{what} leaks the root-only file:\n{s}"
        );
    }
    for expected in [
        "a FIFO, not a regular file",
        "a character device, not a regular file",
        "larger than the 1 MiB limit",
        &format!("its owner (uid {}) may not read it", user.uid),
    ] {
        assert!(
            stderr.contains(expected),
            "no warning {expected:?} in:\n{stderr}"
        );
    }
    // Well inside one read deadline: nothing waited on the FIFO.
    assert!(took < Duration::from_secs(10), "the audit took {took:?}");
    let report: AuditReport = serde_json::from_str(&json).expect("audit json");
    let current = |port: u16| service_value(&report, port);
    // The user's own file is read, as that user: the reader works, it only refuses.
    assert_eq!(current(7106).as_deref(), Some("own-value"));
    for port in 7101..=7105 {
        assert_eq!(current(port), None, "port {port}");
    }
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn a_chroot_cannot_point_the_audit_outside_its_root() {
    require_root();
    let ns = Netns::new("root");
    let dir = TempDir::new("chroot");
    let root = dir.path("root");
    std::fs::create_dir_all(root.join("etc")).expect("root");
    std::fs::write(
        root.join("etc/pg.conf"),
        "listen_addresses = 'inside-value'\n",
    )
    .expect("pg");
    symlink("/etc/pg.conf", root.join("etc/abs")).expect("abs link");
    let host_secret = dir.path("host-secret.conf");
    std::fs::write(&host_secret, "listen_addresses = 'HOSTSECRET-19c'\n").expect("secret");
    symlink(&host_secret, root.join("etc/evil")).expect("evil link");
    let dots = format!("/../../../../..{}", host_secret.display());
    let chroot = format!("chroot={}", root.display());
    let names = ["/etc/pg.conf", "/etc/abs", "/etc/evil", dots.as_str()];
    let _servers: Vec<Listeners> = names
        .iter()
        .enumerate()
        .map(|(i, path)| {
            let spec = format!("tcp:0.0.0.0:{}", 7201 + i);
            let flag = format!("config_file={path}");
            listen_as(&ns, &dir, "postgres", &[&spec, &chroot], &["-c", &flag])
        })
        .collect();
    let (out, _) = in_ns(&ns, &["audit", "--json"]);
    let (json, stderr) = text(&out);
    assert!(
        !json.contains("HOSTSECRET") && !stderr.contains("HOSTSECRET"),
        "{json}\n{stderr}"
    );
    let report: AuditReport = serde_json::from_str(&json).expect("json");
    let current = |port: u16| service_value(&report, port);
    // Inside the root, absolute links resolve inside it too.
    assert_eq!(current(7201).as_deref(), Some("inside-value"));
    assert_eq!(current(7202).as_deref(), Some("inside-value"));
    assert_eq!(current(7203), None);
    assert_eq!(current(7204), None);
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn titles_with_escapes_and_newlines_stay_one_row() {
    require_root();
    let ns = Netns::new("title");
    let dir = TempDir::new("title");
    // The process name itself (comm) holds ESC and a newline.
    let name = "\x1b[2Jx\nFORGED";
    let extra = [
        "\x1b]0;pwned\x07",
        "a\nFORGED  tcp    0.0.0.0:9",
        "\u{202e}gnp.exe",
        "\u{9b}31m\r\t\x7f",
    ];
    let _s = listen_as(
        &ns,
        &dir,
        name,
        &["tcp:0.0.0.0:7301", "tcp:127.0.0.1:7302"],
        &extra,
    );
    let (json_out, _) = in_ns(&ns, &["audit", "--json"]);
    let report: AuditReport = serde_json::from_slice(&json_out.stdout).expect("json");
    // JSON stays exact: the name and command line are there as the process wrote them.
    let owner = &report.listeners[0].owners[0];
    assert_eq!(&*owner.name, name);
    assert!(owner.cmdline.contains("\x1b]0;pwned\x07"));
    for color in ["never", "always"] {
        let (out, _) = in_ns(&ns, &["audit", "--color", color]);
        let (stdout, stderr) = text(&out);
        assert_no_raw_control("audit", &stdout);
        assert_no_raw_control("audit stderr", &stderr);
        let plain = stdout
            .replace("\x1b[31m", "")
            .replace("\x1b[32m", "")
            .replace("\x1b[0m", "");
        assert!(plain.lines().all(|l| !l.starts_with("FORGED")), "{stdout}");
        let rows = plain
            .lines()
            .filter(|l| l.starts_with("exposed ") || l.starts_with("ok "))
            .count();
        assert_eq!(rows, report.listeners.len(), "{stdout}");
        assert!(stdout.contains("\\e[2Jx\\nFORGED"), "{stdout}");
    }
    let (out, _) = in_ns(&ns, &["explain", "127.0.0.1:7302"]);
    let (stdout, _) = text(&out);
    assert_no_raw_control("explain", &stdout);
    assert!(stdout.contains("\\e[2Jx\\nFORGED"), "{stdout}");
    // An argument error quotes the argument: escaped too.
    let (out, _) = in_ns(&ns, &["explain", "\x1b[2J\nFORGED"]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert_no_raw_control("explain error", &stderr);
    assert!(stdout.is_empty());
    let (out, _) = in_ns(&ns, &["audit", "--color", "\x1b[2J"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2));
    assert_no_raw_control("clap error", &stderr);
    assert!(stderr.contains("\\e[2J"), "{stderr}");
}

/// A server that accepts, reads the request, answers with 4 KiB of binary (terminal escapes
/// first) and closes; it exits when its stdin closes.
const BINARY_SERVER: &str = r#"
import socket, sys, threading
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(8)
def serve():
    while True:
        c, _ = s.accept()
        c.recv(4096)
        c.sendall(b"\x1b[2J\x1b]0;pwned\x07\n" + bytes(range(256)) * 16)
        c.close()
threading.Thread(target=serve, daemon=True).start()
print("ready", flush=True)
sys.stdin.read()
"#;

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn probe_http_names_silence_and_binary_never_ok() {
    require_root();
    let ns = Netns::new("http");
    // lb-listen listens and never accepts: the handshake completes, no byte ever comes.
    let _stall = ns.listen(&["tcp:127.0.0.1:7401"], &[]);
    let mut py = ns.cmd("python3");
    py.args(["-c", BINARY_SERVER, "7402"]);
    let _bin = Listeners::spawn(py);

    let (out, took) = in_ns(
        &ns,
        &[
            "probe",
            "--http",
            "--json",
            "--timeout-ms",
            "500",
            "127.0.0.1:7401",
        ],
    );
    let r: ProbeReport = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(r.attempts[0].result, "no-response");
    assert_eq!(r.diagnosis.code, "no-response");
    assert!(took < Duration::from_secs(10), "{took:?}");

    let (out, _) = in_ns(&ns, &["probe", "--http", "--json", "127.0.0.1:7402"]);
    let r: ProbeReport = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(r.attempts[0].result, "not-http");
    assert_eq!(r.diagnosis.code, "not-http");
    assert_eq!(r.attempts[0].http_status, None);
    let (out, _) = in_ns(&ns, &["probe", "--http", "127.0.0.1:7402"]);
    let (stdout, _) = text(&out);
    assert_no_raw_control("probe", &stdout);
    assert!(stdout.contains("not-http"), "{stdout}");
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn without_proc_the_audit_and_doctor_say_what_they_cannot_see() {
    require_root();
    let ns = Netns::with_lan("noproc");
    ns.ip(&["route", "add", "default", "via", "198.18.0.2"]);
    let _s = ns.listen(&["tcp:0.0.0.0:7501"], &[]);
    let run = |args: &str| -> Output {
        let mut cmd = ns.cmd("unshare");
        cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
            .arg(format!(
                "umount -l /proc && exec {} {args}",
                crate::support::loopback_bin()
            ));
        output_within(cmd, BOUND).0
    };
    let out = run("audit --json");
    let (json, stderr) = text(&out);
    let report: AuditReport = serde_json::from_str(&json).expect("json");
    assert!(stderr.contains("owners unknown"), "{stderr}");
    assert!(
        report
            .warnings
            .iter()
            .any(|w| w.contains("not a procfs mount") || w.contains("cannot be read")),
        "{:?}",
        report.warnings
    );
    let l = report
        .listeners
        .iter()
        .find(|l| l.port == 7501)
        .expect("listener");
    assert!(l.owners.is_empty());
    assert!(
        l.notes.iter().any(|n| n.starts_with("owner unknown")),
        "{:?}",
        l.notes
    );

    let out = run("doctor --json");
    let d: DoctorReport = serde_json::from_slice(&out.stdout).expect("doctor json");
    let status = |id: &str| {
        d.checks
            .iter()
            .find(|c| c.id == id)
            .map(|c| (c.status.as_str().to_owned(), c.summary.clone()))
            .expect(id)
    };
    // ::1 is on lo, so IPv6 is on; the default route is unknown, not missing.
    assert_eq!(
        status("loopback.ipv6-address").0,
        "pass",
        "{:?}",
        status("loopback.ipv6-address")
    );
    assert_eq!(status("loopback.ipv6-tcp").0, "pass");
    assert_eq!(
        status("network.default-route").0,
        "skip",
        "{:?}",
        status("network.default-route")
    );
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn renamed_lo_and_127_0_0_1_elsewhere_are_found_by_their_flags() {
    require_root();
    let ns = Netns::with_lan("rename");
    ns.ip(&["link", "set", "lo", "down"]);
    ns.ip(&["link", "set", "lo", "name", "lback"]);
    ns.ip(&["link", "set", "lback", "up"]);
    let (out, _) = in_ns(&ns, &["doctor", "--json"]);
    let d: DoctorReport = serde_json::from_slice(&out.stdout).expect("json");
    let get = |id: &str| d.checks.iter().find(|c| c.id == id).expect(id).clone();
    assert_eq!(get("loopback.interface").status.as_str(), "pass");
    assert!(get("loopback.interface").summary.contains("lback"));
    // The IPv6 checks run: the sysctl is read under the interface's real name.
    assert_eq!(get("loopback.ipv6-address").status.as_str(), "pass");
    assert_eq!(get("loopback.ipv6-tcp").status.as_str(), "pass");

    // 127.0.0.1 moved from the loopback interface to the LAN link.
    ns.ip(&["addr", "del", "127.0.0.1/8", "dev", "lback"]);
    ns.ip(&["addr", "add", "127.0.0.1/32", "dev", "lan0"]);
    let (out, _) = in_ns(&ns, &["doctor", "--json"]);
    let d: DoctorReport = serde_json::from_slice(&out.stdout).expect("json");
    let v4 = d
        .checks
        .iter()
        .find(|c| c.id == "loopback.ipv4-address")
        .expect("check");
    assert_eq!(v4.status.as_str(), "warn", "{v4:?}");
    assert!(v4.summary.contains("lan0"), "{v4:?}");
    let (out, _) = in_ns(&ns, &["explain", "--json", "127.0.0.1"]);
    let e: loopback_model::Explanation = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(e.addresses[0].assigned[0].interface, "lan0");
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn hosts_and_policy_files_that_are_fifos_or_devices_do_not_hang() {
    require_root();
    let ns = Netns::with_lan("hostsfifo");
    let hosts = ns.etc_path("hosts");
    mkfifo(&hosts);
    // The oracle: glibc itself blocks on a FIFO hosts file (getent is still waiting after 2 s),
    // which is why loopback does not hand it to the C library.
    let getent = ns
        .cmd("timeout")
        .args(["2", "getent", "hosts", "localhost"])
        .status()
        .expect("getent");
    assert_eq!(getent.code(), Some(124), "getent did not block on the FIFO");
    let (out, took) = in_ns(&ns, &["resolve", "--json", "localhost"]);
    let r: ResolveReport = serde_json::from_slice(&out.stdout).expect("json");
    assert!(took < Duration::from_secs(15), "{took:?}");
    let err = r.system_error.clone().unwrap_or_default();
    assert!(err.contains("a FIFO"), "{r:?}");
    let (out, _) = in_ns(&ns, &["probe", "--json", "localhost:80"]);
    let p: ProbeReport = serde_json::from_slice(&out.stdout).expect("probe json");
    assert_eq!(p.diagnosis.code, "unresolved");
    assert!(p.diagnosis.summary.contains("a FIFO"), "{p:?}");
    std::fs::remove_file(&hosts).expect("rm fifo");
    // /dev/zero as the hosts file: the C library would read one endless line.
    symlink("/dev/zero", &hosts).expect("link");
    let (out, took) = in_ns(&ns, &["resolve", "--json", "localhost"]);
    let r: ResolveReport = serde_json::from_slice(&out.stdout).expect("json");
    assert!(took < Duration::from_secs(15), "{took:?}");
    assert!(r
        .system_error
        .unwrap_or_default()
        .contains("a character device"));

    let dir = TempDir::new("policy");
    let fifo = dir.path("policy.toml");
    mkfifo(&fifo);
    for policy in [fifo.to_string_lossy().into_owned(), "/dev/zero".to_owned()] {
        let (out, took) = in_ns(&ns, &["audit", "--policy", &policy]);
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("not a regular file"), "{stderr}");
        assert!(took < Duration::from_secs(10));
    }
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn hosts_with_a_bom_a_nul_and_c_white_space_resolve_as_glibc() {
    require_root();
    let ns = Netns::with_lan("bom");
    let hosts = ns.etc_path("hosts");
    std::fs::write(
        &hosts,
        b"\xef\xbb\xbf127.0.0.5 bomhost\n127.0.0.6 nulhost\0 hidden\n127.0.0.7\x0bvthost\n127.0.0.8 crhost\r\n127.0.0.1 localhost\n",
    )
    .expect("hosts");
    for name in ["bomhost", "nulhost", "hidden", "vthost", "crhost"] {
        let getent = ns
            .cmd("getent")
            .args(["hosts", name])
            .output()
            .expect("getent");
        let oracle: Vec<String> = String::from_utf8_lossy(&getent.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect();
        let (out, _) = in_ns(&ns, &["resolve", "--json", name]);
        let r: ResolveReport = serde_json::from_slice(&out.stdout).expect("json");
        let model: Vec<String> = r
            .ipv4_only
            .addresses
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(model, oracle, "{name}: the model disagrees with getent");
    }
}
