//! `audit -A` and `--netns`: a named namespace, an anonymous one held only by a process, and a
//! bind-mounted one that no process is in, each compared with `ss` run inside it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::*;

/// `stat -L -c %i FILE`: the oracle for a namespace's inode.
fn stat_inode(file: &str) -> u64 {
    let out = Command::new("stat")
        .args(["-L", "-c", "%i", file])
        .output()
        .expect("stat");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("stat {file}: {}", String::from_utf8_lossy(&out.stderr)))
}

/// `nsenter --net=FILE ss -Htulnpe`.
fn ss_in(file: &str) -> Vec<SsSocket> {
    let out = Command::new("nsenter")
        .arg(format!("--net={file}"))
        .args(["ss", "-Htulnpe"])
        .output()
        .expect("nsenter ss");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_ss(&String::from_utf8_lossy(&out.stdout))
}

/// A namespace bind-mounted at a file outside `/run/netns`, as Docker's and CNI's are, with no
/// process in it; removed at the end.
struct MountedNs {
    dir: PathBuf,
    file: String,
}

impl MountedNs {
    fn new(tag: &str) -> MountedNs {
        let dir = PathBuf::from(format!("/run/lbt-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        let file = dir.join("ns").display().to_string();
        std::fs::write(&file, b"").expect("touch");
        let ok = Command::new("unshare")
            .arg(format!("--net={file}"))
            .args(["ip", "link", "set", "lo", "up"])
            .status()
            .expect("unshare");
        assert!(ok.success(), "unshare --net={file}");
        MountedNs { dir, file }
    }
}

impl Drop for MountedNs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.file).status();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn audit_all() -> Value {
    let out = Command::new(loopback_bin())
        .args(["audit", "-A", "--json"])
        .output()
        .expect("loopback");
    assert!(
        out.status.code().is_some_and(|c| c < 2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("audit JSON")
}

/// The listeners of one namespace in the report, as (proto, address, port, inode, pids).
fn listed(report: &Value, netns: u64) -> BTreeSet<(String, String, u16, u64, BTreeSet<u32>)> {
    report["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .chain(report["udp_clients"].as_array().expect("udp_clients"))
        .filter(|l| l["netns"].as_u64() == Some(netns))
        .map(|l| {
            (
                l["proto"].as_str().unwrap_or("").to_owned(),
                l["address"].as_str().unwrap_or("").to_owned(),
                l["port"].as_u64().unwrap_or(0) as u16,
                l["inode"].as_u64().unwrap_or(0),
                l["owners"]
                    .as_array()
                    .map(|o| {
                        o.iter()
                            .filter_map(|o| o["pid"].as_u64())
                            .map(|p| p as u32)
                            .collect()
                    })
                    .unwrap_or_default(),
            )
        })
        .collect()
}

fn oracle(file: &str) -> BTreeSet<(String, String, u16, u64, BTreeSet<u32>)> {
    ss_in(file)
        .into_iter()
        .map(|s| (s.proto, s.address, s.port, s.inode, s.pids))
        .collect()
}

fn namespace(report: &Value, inode: u64) -> &Value {
    report["namespaces"]
        .as_array()
        .expect("namespaces")
        .iter()
        .find(|n| n["inode"].as_u64() == Some(inode))
        .unwrap_or_else(|| panic!("namespace {inode} is listed: {:#}", report["namespaces"]))
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn all_namespaces_finds_named_anonymous_and_bind_mounted_ones_as_ss_does() {
    require_root();
    // Named, with two listeners.
    let named = Netns::new("all-named");
    let named_l = named.listen(&["tcp:127.0.0.1:7101", "tcp:0.0.0.0:7102"], &[]);
    // Anonymous: held only by the process in it.
    let anon_l = Listeners::spawn({
        let mut c = Command::new("unshare");
        c.args(["-n", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
            .arg(listen_bin())
            .args(["tcp:127.0.0.1:7201", "udp:0.0.0.0:7202"]);
        c
    });
    // Bind-mounted with no process in it; its listener is held by a process of this namespace.
    let mounted = MountedNs::new("all-mounted");
    let mounted_l = Listeners::spawn({
        let mut c = Command::new(listen_bin());
        c.arg(format!("tcp:0.0.0.0:7301,netns={}", mounted.file));
        c
    });

    let report = audit_all();
    let named_file = format!("/run/netns/{}", named.name);
    let anon_file = format!("/proc/{}/ns/net", anon_l.pid());
    let cases = [
        (
            named_file.as_str(),
            1usize,
            Some(named.name.as_str()),
            named_l.pid(),
        ),
        (anon_file.as_str(), 1, None, anon_l.pid()),
        (mounted.file.as_str(), 0, None, mounted_l.pid()),
    ];
    for (file, processes, name, owner) in cases {
        let inode = stat_inode(file);
        let ns = namespace(&report, inode);
        assert_eq!(
            ns["processes"].as_u64(),
            Some(processes as u64),
            "{file}: {ns:#}"
        );
        assert_eq!(ns["audited"], true);
        if let Some(name) = name {
            assert_eq!(ns["names"][0], name, "{ns:#}");
        }
        let ours = listed(&report, inode);
        assert_eq!(ours, oracle(file), "{file}: the report against ss");
        assert!(
            ours.iter().all(|l| l.4.contains(&owner)),
            "{file}: every listener is owned by {owner}: {ours:?}"
        );
        assert!(!ours.is_empty());
    }
    // This namespace is there too, marked.
    let here = stat_inode("/proc/self/ns/net");
    assert_eq!(namespace(&report, here)["current"], true);
    drop((named_l, anon_l, mounted_l));
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn netns_takes_a_name_a_pid_or_a_path_on_every_command() {
    require_root();
    let ns = Netns::new("netns-flag");
    ns.etc_file(
        "hosts",
        "127.0.0.1 localhost\n::1 localhost\n127.0.0.9 svc.test\n",
    );
    let l = ns.listen(&["tcp:127.0.0.1:7401"], &[]);
    let inode = stat_inode(&format!("/run/netns/{}", ns.name));
    let pid = l.pid().to_string();
    let path = format!("/run/netns/{}", ns.name);
    for target in [ns.name.as_str(), pid.as_str(), path.as_str()] {
        let out = Command::new(loopback_bin())
            .args(["audit", "--json", "--netns", target])
            .output()
            .expect("audit");
        let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
        assert_eq!(listed(&report, inode), oracle(&path), "--netns {target}");
        assert_eq!(namespace(&report, inode)["current"], false);
    }
    // probe and explain connect and look inside it.
    let out = Command::new(loopback_bin())
        .args(["probe", "127.0.0.1:7401", "--json", "--netns", &ns.name])
        .output()
        .expect("probe");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = Command::new(loopback_bin())
        .args(["probe", "127.0.0.1:7401", "--json"])
        .output()
        .expect("probe here");
    assert_eq!(out.status.code(), Some(1), "nothing listens on 7401 here");
    let out = Command::new(loopback_bin())
        .args(["explain", "127.0.0.1:7401", "--json", "--netns", &pid])
        .output()
        .expect("explain");
    let e: Value = serde_json::from_slice(&out.stdout).expect("explain JSON");
    assert_eq!(
        e["addresses"][0]["listeners"].as_array().map(Vec::len),
        Some(1),
        "{e:#}"
    );
    // resolve reads the namespace's own hosts file, as `ip netns exec` programs do.
    let out = Command::new(loopback_bin())
        .args(["resolve", "svc.test", "--json", "--netns", &ns.name])
        .output()
        .expect("resolve");
    let r: Value = serde_json::from_slice(&out.stdout).expect("resolve JSON");
    assert_eq!(r["addresses"], serde_json::json!(["127.0.0.9"]), "{r:#}");
    let getent = ns
        .cmd("getent")
        .args(["ahosts", "svc.test"])
        .output()
        .expect("getent");
    assert!(
        String::from_utf8_lossy(&getent.stdout).starts_with("127.0.0.9"),
        "the oracle agrees"
    );
    assert!(r["system_error"]
        .as_str()
        .is_some_and(|e| e.starts_with("not asked")));
    assert!(
        !r["findings"]
            .as_array()
            .expect("findings")
            .iter()
            .any(|f| f["code"] == "unresolved"),
        "{r:#}"
    );
    // doctor judges the namespace's loopback: up here, with its own hosts file.
    let out = Command::new(loopback_bin())
        .args(["doctor", "--json", "--netns", &ns.name])
        .output()
        .expect("doctor");
    let d: Value = serde_json::from_slice(&out.stdout).expect("doctor JSON");
    let check = |id: &str| {
        d["checks"]
            .as_array()
            .expect("checks")
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| c["status"].as_str().unwrap_or("").to_owned())
    };
    assert_eq!(check("loopback.ipv4-tcp").as_deref(), Some("pass"), "{d:#}");
    assert_eq!(
        check("localhost.hosts-file").as_deref(),
        Some("pass"),
        "{d:#}"
    );
    assert_eq!(
        check("localhost.resolves-loopback").as_deref(),
        Some("skip"),
        "{d:#}"
    );
    drop(l);
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn a_container_root_is_read_for_its_own_hosts_file() {
    require_root();
    let ns = Netns::new("netns-root");
    let root = TempDir::new("netns-root");
    std::fs::create_dir_all(root.path("etc")).expect("etc");
    std::fs::write(root.path("etc/hosts"), "127.0.0.7 box.test\n").expect("hosts");
    let l = ns.listen(
        &[
            "tcp:127.0.0.1:7501",
            &format!("chroot={}", root.0.display()),
        ],
        &[],
    );
    let out = Command::new(loopback_bin())
        .args([
            "resolve",
            "box.test",
            "--json",
            "--netns",
            &l.pid().to_string(),
        ])
        .output()
        .expect("resolve");
    let r: Value = serde_json::from_slice(&out.stdout).expect("resolve JSON");
    assert_eq!(r["addresses"], serde_json::json!(["127.0.0.7"]), "{r:#}");
    let here = Command::new(loopback_bin())
        .args(["resolve", "box.test", "--json"])
        .output()
        .expect("resolve here");
    let h: Value = serde_json::from_slice(&here.stdout).expect("JSON");
    assert_eq!(
        h["addresses"],
        serde_json::json!([]),
        "the host's hosts file does not know it"
    );
    drop(l);
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn without_privilege_namespaces_are_named_with_the_capability_and_the_rest_goes_on() {
    require_root();
    let ns = Netns::new("netns-unpriv");
    let _l = ns.listen(&["tcp:127.0.0.1:7601"], &[]);
    let out = as_nobody(&["audit", "-A", "--json"]);
    assert!(
        out.status.code().is_some_and(|c| c < 2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let warnings = report["warnings"].to_string();
    assert!(warnings.contains("CAP_SYS_ADMIN"), "{warnings}");
    assert!(report["namespaces"]
        .as_array()
        .is_some_and(|n| !n.is_empty()));
    let out = as_nobody(&["audit", "--netns", &ns.name]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("CAP_SYS_ADMIN"), "{err}");
    assert!(out.stdout.is_empty());
}

#[test]
fn netns_errors_are_clear_and_change_nothing() {
    for (target, says) in [
        ("no-such-namespace-lbt", "ip netns list"),
        ("/etc/hostname", "not a network namespace"),
        ("..", "not a namespace name"),
    ] {
        let out = Command::new(loopback_bin())
            .args(["audit", "--netns", target])
            .output()
            .expect("audit");
        assert_eq!(out.status.code(), Some(2), "{target}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{target}: {err}");
    }
    assert!(Path::new("/etc/hostname").exists());
}
