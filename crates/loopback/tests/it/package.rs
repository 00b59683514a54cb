//! The packages `scripts/package` builds, which `./scripts/test` builds first and names in
//! `LOOPBACK_DEB` and `LOOPBACK_STATIC`: the `.deb` installs (into a scratch root, its
//! dependencies checked against this system) and its binary, man pages and completions work;
//! the static musl binary links nothing, reports what the glibc build reports, and does not
//! pass musl's resolver off as this host's.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{loopback_bin, require_root, run, Netns, TempDir};

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

/// `BIN ARGS` inside `ns`; `audit` is told that `lan0` leads off the machine, as
/// [`Netns::loopback`] tells the binary under test.
fn in_ns(ns: &Netns, bin: &Path, args: &[&str]) -> std::process::Output {
    let mut all: Vec<&str> = args.to_vec();
    if all.first() == Some(&"audit") {
        all.splice(1..1, ["--uplink", "lan0"]);
    }
    ns.cmd(bin).args(&all).output().expect("running loopback")
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
    let a = json(&in_ns(&ns, &bin, &["audit", "--json"]));
    let b = json(&ns.loopback(&["audit", "--json"]));
    assert_eq!(a, b);
}

/// The unique addresses `getent ahosts NAME` prints inside `ns`, in order: glibc's answer.
fn getent_ahosts(ns: &Netns, name: &str) -> Vec<String> {
    let out = run(ns.cmd("getent").args(["ahosts", name]));
    let mut seen = BTreeSet::new();
    stdout(&out)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .filter(|a| seen.insert(a.clone()))
        .collect()
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
    let a = json(&in_ns(&ns, &bin, &["audit", "--json"]));
    let b = json(&ns.loopback(&["audit", "--json"]));
    assert_eq!(a, b);

    // musl's getaddrinfo is not what this host's programs load: resolve says it did not ask it,
    // and the model of glibc gives glibc's answer (getent is the oracle).
    let glibc = getent_ahosts(&ns, "localhost");
    assert_eq!(glibc, ["::1", "127.0.0.1"], "the namespace's hosts file");
    let r = json(&in_ns(&ns, &bin, &["resolve", "localhost", "--json"]));
    let why = r["system_error"].as_str().unwrap_or_default();
    assert!(
        why.starts_with("not asked: this loopback is a static musl build"),
        "{r}"
    );
    assert_eq!(addresses(&r["addresses"]), glibc, "{r}");

    // probe tries the addresses in glibc's order, as the glibc build does.
    let p = json(&in_ns(&ns, &bin, &["probe", "localhost:5311", "--json"]));
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
