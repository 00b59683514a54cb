//! The packages `scripts/package` builds, which `./scripts/test` builds first and names in
//! `LOOPBACK_DEB` and `LOOPBACK_STATIC`: the `.deb` installs (into a scratch root, its
//! dependencies checked against this system) and its binary, man pages and completions work;
//! the static musl binary links nothing, reports what the glibc build reports, and does not
//! pass musl's resolver off as this host's; the exporter's systemd unit passes
//! `systemd-analyze verify` and grants exactly the capabilities the exporter uses.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{loopback_bin, require_root, run, Netns, Proc, TempDir};

/// A package `scripts/package` built, named by `var`.
fn package(var: &str) -> PathBuf {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        panic!("{var} is not set: ./scripts/test builds the packages with scripts/package and names them")
    });
    assert!(path.is_file(), "{var}={} is not a file", path.display());
    path
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            stdout(out),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

#[test]
#[ignore = "needs root and the packages: ./scripts/test"]
fn the_deb_installs_and_its_binary_pages_and_completions_work() {
    require_root();
    let deb = package("LOOPBACK_DEB");
    // What it depends on is installed here (a dry run changes nothing)...
    run(Command::new("dpkg").args(["--dry-run", "-i"]).arg(&deb));
    // ...so it is installed into a scratch root, whose empty package database knows no libc6.
    let root = TempDir::new("deb");
    for dir in ["var/lib/dpkg/info", "var/lib/dpkg/updates"] {
        std::fs::create_dir_all(root.path(dir)).expect("dpkg dirs");
    }
    std::fs::write(root.path("var/lib/dpkg/status"), "").expect("dpkg status");
    let root_arg = format!("--root={}", root.0.display());
    run(Command::new("dpkg")
        .args([&root_arg, "--force-depends", "-i"])
        .arg(&deb));
    let status = stdout(&run(
        Command::new("dpkg").args([&root_arg, "-s", "loopback"])
    ));
    assert!(status.contains("Status: install ok installed"), "{status}");
    assert!(status.contains("Depends: libc6"), "{status}");

    // Every file the package owns, against what the binary under test generates.
    let listed: BTreeSet<String> = stdout(&run(
        Command::new("dpkg").args([&root_arg, "-L", "loopback"])
    ))
    .lines()
    .map(str::to_owned)
    .collect();
    let pages = TempDir::new("deb-pages");
    let dir = pages.path("man");
    run(Command::new(loopback_bin()).args(["man", "--dir", dir.to_str().expect("path")]));
    let mut expected: Vec<String> = std::fs::read_dir(&dir)
        .expect("pages")
        .map(|e| {
            let name = e.expect("entry").file_name();
            format!("/usr/share/man/man1/{}.gz", name.to_string_lossy())
        })
        .collect();
    assert!(expected.len() > 5, "{expected:?}");
    expected.extend(
        [
            "/usr/bin/loopback",
            "/usr/share/bash-completion/completions/loopback",
            "/usr/share/zsh/vendor-completions/_loopback",
            "/usr/share/fish/vendor_completions.d/loopback.fish",
            "/usr/share/doc/loopback/examples/loopback-alerts.yml",
            "/usr/share/doc/loopback/copyright",
            "/usr/lib/systemd/system/loopback-exporter.service",
        ]
        .map(str::to_owned),
    );
    let missing: Vec<&String> = expected.iter().filter(|f| !listed.contains(*f)).collect();
    assert!(missing.is_empty(), "not in the package: {missing:?}");

    // The installed binary is this source's.
    let bin = root.path("usr/bin/loopback");
    let installed = stdout(&run(Command::new(&bin).arg("--version")));
    let built = stdout(&run(Command::new(loopback_bin()).arg("--version")));
    assert_eq!(installed, built);
    // man reads the compressed pages; bash loads the completion.
    for (page, expect) in [
        ("usr/share/man/man1/loopback.1.gz", "exporter"),
        ("usr/share/man/man1/loopback-audit.1.gz", "--format"),
    ] {
        let out = run(Command::new("man")
            .env("MANWIDTH", "100")
            .env("LC_ALL", "C")
            .args(["-P", "cat", "-l"])
            .arg(root.path(page)));
        assert!(stdout(&out).contains(expect), "{page}: {}", stdout(&out));
    }
    let out = run(Command::new("bash").args([
        "--norc",
        "-c",
        &format!(
            "source {} && complete -p loopback",
            root.path("usr/share/bash-completion/completions/loopback")
                .display()
        ),
    ]));
    assert!(
        stdout(&out).contains("-F _loopback loopback"),
        "{}",
        stdout(&out)
    );
    // The alert rules are the ones promtool checks in the fleet tests.
    let shipped = std::fs::read(root.path("usr/share/doc/loopback/examples/loopback-alerts.yml"))
        .expect("rules");
    let source = std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contrib/prometheus/loopback-alerts.yml"),
    )
    .expect("source rules");
    assert_eq!(shipped, source);

    // It runs: the same audit as the binary under test, in a namespace with known listeners.
    let ns = Netns::with_lan("deb");
    let _srv = ns.listen(&["tcp:127.0.0.1:5301", "tcp:0.0.0.0:5302"], &[]);
    let a = json(&ns.loopback_from(&bin, &["audit", "--json"]));
    let b = json(&ns.loopback(&["audit", "--json"]));
    assert_eq!(without_process_counts(a), without_process_counts(b));
}

fn addresses(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("addresses")
        .iter()
        .map(|a| {
            let s = a.as_str().expect("address");
            s.parse::<IpAddr>().expect("ip").to_string()
        })
        .collect()
}

#[test]
#[ignore = "needs root and the packages: ./scripts/test"]
fn the_static_binary_links_nothing_and_answers_as_the_glibc_build() {
    require_root();
    let bin = package("LOOPBACK_STATIC");
    // No program interpreter and no shared library: it runs on any Linux of its architecture.
    let headers = stdout(&run(Command::new("readelf").args(["-l", "-d"]).arg(&bin)));
    assert!(!headers.contains("INTERP"), "{headers}");
    assert!(!headers.contains("(NEEDED)"), "{headers}");

    let ns = Netns::with_lan("static");
    ns.etc_file("hosts", "127.0.0.1 localhost\n::1 localhost\n");
    let _srv = ns.listen(
        &["tcp:127.0.0.1:5311", "tcp:0.0.0.0:5312", "udp:[::]:5313"],
        &[],
    );
    // The same audit as the glibc build under test.
    let a = json(&ns.loopback_from(&bin, &["audit", "--json"]));
    let b = json(&ns.loopback(&["audit", "--json"]));
    assert_eq!(without_process_counts(a), without_process_counts(b));

    // musl's getaddrinfo is not what this host's programs load: resolve says it did not ask it,
    // and the model of glibc gives glibc's answer (getent is the oracle).
    let glibc = ns.getent("ahosts", "localhost");
    assert_eq!(glibc, ["::1", "127.0.0.1"], "the namespace's hosts file");
    let r = json(&ns.loopback_from(&bin, &["resolve", "localhost", "--json"]));
    let why = r["system_error"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("not asked: this loopback is a static musl build"),
        "{r}"
    );
    assert_eq!(addresses(&r["addresses"]), glibc, "{r}");

    // probe tries the addresses in glibc's order, as the glibc build does.
    let p = json(&ns.loopback_from(&bin, &["probe", "localhost:5311", "--json"]));
    let q = json(&ns.loopback(&["probe", "localhost:5311", "--json"]));
    let tried = |v: &Value| -> Vec<(String, String)> {
        v["attempts"]
            .as_array()
            .expect("attempts")
            .iter()
            .map(|a| (a["address"].to_string(), a["result"].to_string()))
            .collect()
    };
    assert_eq!(tried(&p), tried(&q));
    assert_eq!(
        tried(&p)
            .iter()
            .map(|(a, _)| a.trim_matches('"').to_owned())
            .collect::<Vec<_>>(),
        glibc
    );
    assert_eq!(p["diagnosis"]["code"], q["diagnosis"]["code"]);
}

/// The service unit the `.deb` ships.
fn unit_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contrib/systemd/loopback-exporter.service")
}

/// The unit's `CapabilityBoundingSet`, as capability names without `CAP_`, lower case (as
/// setpriv takes them).
fn unit_caps() -> Vec<String> {
    let unit = std::fs::read_to_string(unit_file()).expect("unit");
    let line = unit
        .lines()
        .find_map(|l| l.strip_prefix("CapabilityBoundingSet="))
        .expect("CapabilityBoundingSet");
    line.split_whitespace()
        .map(|c| c.trim_start_matches("CAP_").to_ascii_lowercase())
        .collect()
}

/// `loopback ARGS` inside `ns` as root with only `caps` (bounding set; nothing inheritable;
/// no new privileges, as the unit says).
fn with_caps(ns: &Netns, caps: &[String], args: &[&str]) -> Value {
    let bounding: String = std::iter::once("-all".to_owned())
        .chain(caps.iter().map(|c| format!("+{c}")))
        .collect::<Vec<_>>()
        .join(",");
    let out = ns
        .cmd("setpriv")
        .arg(format!("--bounding-set={bounding}"))
        .args(["--inh-caps=-all", "--no-new-privs"])
        .arg(loopback_bin())
        .args(args)
        .output()
        .expect("setpriv");
    json(&out)
}

/// What `doctor --json` found, check by check (the timings left out).
fn statuses(doctor: &Value) -> Vec<(String, String)> {
    doctor["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .map(|c| (c["id"].to_string(), c["status"].to_string()))
        .collect()
}

#[test]
#[ignore = "needs root, network namespaces and redis: ./scripts/test"]
fn the_service_unit_verifies_and_grants_exactly_the_capabilities_used() {
    require_root();
    // systemd's own check of the unit (a copy whose ExecStart is the binary under test):
    // no error, no unknown key.
    let dir = TempDir::new("unit");
    let unit = std::fs::read_to_string(unit_file())
        .expect("unit")
        .replace("/usr/bin/loopback", loopback_bin());
    std::fs::write(dir.path("loopback-exporter.service"), unit).expect("unit copy");
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(dir.path("loopback-exporter.service"))
        .output()
        .expect("systemd-analyze");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Everything the exporter reads: a LAN, a container namespace, another user's processes
    // there (a listener, and redis whose configuration only that user can read), a published
    // port and a filter rule.
    let lab = crate::exposure::Lab::with_container("unit");
    let host = &lab.host;
    let container = lab.container();
    let user = crate::support::TestUser::new("unit");
    let _host_listener = host.listen(&["tcp:0.0.0.0:5433", "tcp:127.0.0.1:6380"], &[]);
    let _theirs = container.listen(&["tcp:0.0.0.0:8088", &user.listen_arg()], &[]);
    // Redis rewrites its process title, so the file it runs with is the one it sees at the
    // packaged path: here the namespace's own /etc/redis/redis.conf (`ip netns exec` mounts
    // /etc/netns/NAME over /etc), which only its user may read.
    let home = dir.path("redis");
    std::fs::create_dir(&home).expect("redis dir");
    container.etc_file(
        "redis/redis.conf",
        &format!(
            "port 6391\nbind 0.0.0.0\nprotected-mode no\ndaemonize no\nlogfile \"\"\ndir {}\nsave \"\"\n",
            home.display()
        ),
    );
    let conf = container.etc_path("redis/redis.conf");
    use std::os::unix::fs::PermissionsExt;
    for p in [&home, &conf] {
        user.chown(p);
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    }
    let redis = container
        .cmd("setpriv")
        .args([
            &format!("--reuid={}", user.uid),
            &format!("--regid={}", user.gid),
            "--clear-groups",
            "/usr/bin/redis-server",
            "/etc/redis/redis.conf",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("redis-server");
    let mut redis = Proc(redis);
    let mut log = std::io::BufRead::lines(std::io::BufReader::new(
        redis.0.stdout.take().expect("stdout"),
    ));
    assert!(
        log.by_ref()
            .map_while(Result::ok)
            .any(|l| l.contains("Ready to accept connections")),
        "redis did not start"
    );
    std::thread::spawn(move || log.map_while(Result::ok).for_each(drop));
    lab.nft(
        "table ip lbtu {\n\
         chain pre { type nat hook prerouting priority dstnat; policy accept;\n\
           tcp dport 8089 dnat to 198.19.1.2:8088\n\
         }\n\
         chain input { type filter hook input priority 0; policy accept;\n\
           iifname \"lan0\" tcp dport 5433 drop\n\
         }\n\
         }\n",
    );
    // Only what concerns the test's namespaces: the rest of the machine changes meanwhile.
    let names = [
        host.name.as_str(),
        host.peer_name(),
        container.name.as_str(),
    ];
    let ours: Vec<String> = names
        .iter()
        .map(|n| (*n).to_owned())
        .chain(names.iter().map(|n| {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(format!("/run/netns/{n}"))
                .expect("netns")
                .ino()
                .to_string()
        }))
        .collect();
    let project = |report: Value| -> Value { ours_only(report, &ours) };

    let audit = ["audit", "-A", "--uplink", "lan0", "--json"];
    let doctor = ["doctor", "--json"];
    let caps = unit_caps();
    let full = project(json(&host.loopback(&["audit", "-A", "--json"])));
    let full_doctor = statuses(&json(&host.loopback(&doctor)));
    // Redis's own configuration was read, as its owner.
    let redis_conf = full["listeners"]
        .as_array()
        .expect("listeners")
        .iter()
        .find(|l| l["port"] == 6391)
        .map(|l| l["service"]["config_file"].clone());
    assert_eq!(
        redis_conf,
        Some(Value::from("/etc/redis/redis.conf")),
        "{full:#}"
    );
    // With the unit's capabilities, the same report and the same checks...
    assert_eq!(project(with_caps(host, &caps, &audit)), full);
    assert_eq!(statuses(&with_caps(host, &caps, &doctor)), full_doctor);
    // ...and without any one of them, something is missing: each is used.
    for (i, cap) in caps.iter().enumerate() {
        let fewer: Vec<String> = caps
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, c)| c.clone())
            .collect();
        let a = project(with_caps(host, &fewer, &audit));
        let d = statuses(&with_caps(host, &fewer, &doctor));
        assert!(
            a != full || d != full_doctor,
            "without {cap} the exporter sees the same: the unit need not grant it"
        );
    }
    drop(redis);
}

/// The parts of an audit report about the namespaces named or numbered in `ours`: their
/// listeners (and the arrivals from them), publications, uplinks and entries, and the warnings
/// that name them.
fn ours_only(mut report: Value, ours: &[String]) -> Value {
    let mentions = |v: &Value| {
        let text = v.to_string();
        ours.iter().any(|o| text.contains(o.as_str()))
    };
    let is_ours = |v: &Value, key: &str| ours.contains(&v[key].to_string());
    for (list, key) in [
        ("listeners", "netns"),
        ("publications", "netns"),
        ("namespaces", "inode"),
        ("uplinks", "netns"),
    ] {
        if let Some(items) = report[list].as_array_mut() {
            items.retain(|v| is_ours(v, key));
        }
    }
    // Arrivals from the others' namespaces (another test's LAN is an uplink too, with -A).
    for l in report["listeners"].as_array_mut().into_iter().flatten() {
        if let Some(paths) = l["exposure"]["paths"].as_array_mut() {
            paths.retain(|p| is_ours(p, "netns"));
        }
    }
    if let Some(warnings) = report["warnings"].as_array_mut() {
        warnings.retain(mentions);
    }
    without_process_counts(report)
}

/// `report` without the number of processes in each namespace: it counts the auditing
/// process itself and whatever else is passing through, so two runs a moment apart may differ.
fn without_process_counts(mut report: Value) -> Value {
    for ns in report["namespaces"].as_array_mut().into_iter().flatten() {
        if let Some(entry) = ns.as_object_mut() {
            entry.remove("processes");
        }
    }
    report
}
