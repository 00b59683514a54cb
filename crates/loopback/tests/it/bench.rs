//! `loopback bench`: the mechanics, checked without timing anything. Every path is set up and
//! torn down, the figures agree with themselves, the own-address path is routed over `lo` as
//! `ip route get` says, the lab paths' counters move with the samples, and the plot is an SVG
//! document with a line per result.

use std::collections::BTreeSet;
use std::process::{Command, Output};

use loopback_model::bench::{BenchPath, BenchReport, BenchResult, BenchTest};

use crate::support::{as_nobody_in, loopback_bin, require_root, run, Netns, TempDir};

fn report(out: &Output) -> BenchReport {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "bench JSON ({e}): {} {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// What a namespace and the host hold that a bench could leave behind: the namespace's
/// devices and nft tables, named namespaces other than the tests' own, and what is in the
/// bench's temporary directory.
fn leftovers(ns: &Netns, tmp: &std::path::Path) -> (String, BTreeSet<String>, String) {
    let links = String::from_utf8_lossy(&run(ns.cmd("ip").args(["-o", "link"])).stdout)
        .lines()
        // Counters and state change; the set of devices must not.
        .map(|l| l.split(':').take(2).collect::<Vec<_>>().join(":"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut names = BTreeSet::new();
    for dir in [std::path::Path::new("/run/netns"), tmp] {
        if let Ok(list) = std::fs::read_dir(dir) {
            for e in list.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                // Other tests add and remove their own namespaces meanwhile.
                if !n.starts_with("lbt-") {
                    names.insert(format!("{}/{n}", dir.display()));
                }
            }
        }
    }
    let tables =
        String::from_utf8_lossy(&run(ns.cmd("nft").args(["list", "tables"])).stdout).into_owned();
    (links, names, tables)
}

fn check_figures(r: &BenchResult) {
    let what = format!("{} {} {}", r.path, r.proto, r.test);
    assert!(r.samples > 0, "{what}: no samples");
    assert_eq!(r.repeats.len(), 2, "{what}: one figure per round");
    if r.test == BenchTest::Stream {
        let g = r.gbit_s.expect("throughput");
        assert!(g > 0.0, "{what}");
        assert!(r.bytes.unwrap_or(0) > 0, "{what}");
        assert_eq!(r.samples, 2, "{what}: one connection per round");
        return;
    }
    let v = [r.min_us, r.p50_us, r.p90_us, r.p99_us, r.p999_us, r.max_us]
        .map(|v| v.unwrap_or_else(|| panic!("{what}: a percentile is missing")));
    assert!(v.windows(2).all(|w| w[0] <= w[1]), "{what}: {v:?}");
    assert!(v[0] > 0.0, "{what}");
    let mean = r.mean_us.expect("mean");
    assert!(v[0] <= mean && mean <= v[5], "{what}: mean {mean}");
    let d = &r.distribution;
    assert!(d
        .windows(2)
        .all(|w| w[0].us <= w[1].us && w[0].percentile < w[1].percentile));
    assert_eq!(
        d.first().map(|p| p.us),
        r.min_us,
        "{what}: p0 is the minimum"
    );
    assert_eq!(
        d.last().map(|p| p.us),
        r.max_us,
        "{what}: p100 is the maximum"
    );
    let (lo, hi) = r
        .repeats
        .iter()
        .fold((f64::MAX, 0f64), |(a, b), x| (a.min(*x), b.max(*x)));
    assert!(
        lo >= v[0] && hi <= v[5],
        "{what}: round medians within the range"
    );
}

#[test]
#[ignore = "needs root: creates network namespaces"]
fn every_path_is_set_up_measured_and_removed() {
    require_root();
    let ns = Netns::with_lan("bench");
    let dir = TempDir::new("bench");
    let svg = dir.path("plot.svg");
    let tmp = dir.path("tmp");
    std::fs::create_dir(&tmp).expect("tmp");
    let before = leftovers(&ns, &tmp);
    let out = run(ns.cmd(loopback_bin()).env("TMPDIR", &tmp).args([
        "bench",
        "--json",
        "--duration",
        "100ms",
        "--repeats",
        "2",
        "--plot",
        svg.to_str().expect("utf-8 path"),
    ]));
    let r = report(&out);
    assert_eq!(
        leftovers(&ns, &tmp),
        before,
        "the bench left something behind"
    );

    // Every path was measured, none skipped.
    let paths: Vec<BenchPath> = r.paths.iter().map(|p| p.path).collect();
    assert_eq!(paths, BenchPath::ALL);
    for p in &r.paths {
        assert_eq!(p.skipped, None, "{}", p.path);
        assert!(p.errors.is_empty(), "{}: {:?}", p.path, p.errors);
    }
    for r in &r.results {
        check_figures(r);
    }
    for test in [
        BenchTest::Rr,
        BenchTest::Connect,
        BenchTest::Stream,
        BenchTest::Proxy,
    ] {
        assert!(
            r.results
                .iter()
                .any(|x| x.test == test && x.path == BenchPath::Loopback4),
            "{test} on 127.0.0.1"
        );
    }
    for x in r.results.iter().filter(|x| x.path == BenchPath::Loopback4) {
        assert_eq!(x.ratio, Some(1.0), "{} {}", x.proto, x.test);
    }
    // Two CPUs or more: split placement by default, reported.
    if r.settings.placement.cpus_available >= 2 {
        assert_ne!(
            r.settings.placement.client_cpu,
            r.settings.placement.server_cpu
        );
        assert!(r.settings.placement.client_cpu.is_some());
    }

    // This namespace's own address is routed over lo, as `ip route get` says.
    let own = r
        .paths
        .iter()
        .find(|p| p.path == BenchPath::Own)
        .expect("own");
    assert_eq!(own.target.as_deref(), Some("198.18.0.1"));
    assert_eq!(own.device.as_deref(), Some("lo"));
    let ip = run(ns.cmd("ip").args(["route", "get", "198.18.0.1"]));
    let first = String::from_utf8_lossy(&ip.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned();
    let route = own.route.as_deref().expect("the own path's route");
    assert!(
        first.starts_with(route),
        "ours: {route:?}, ip route get: {first:?}"
    );

    // The lab paths really crossed their links: the server's end counted at least one packet
    // in and one out per timed round trip.
    for path in [BenchPath::Veth, BenchPath::BridgeNat] {
        let info = r.paths.iter().find(|p| p.path == path).expect("lab path");
        let c = info.counters.expect("counters");
        let trips: u64 = r
            .results
            .iter()
            .filter(|x| x.path == path && x.test == BenchTest::Rr)
            .map(|x| x.samples)
            .sum();
        assert!(
            c.rx_packets >= trips && c.tx_packets >= trips,
            "{path}: {c:?} for {trips} round trips"
        );
        assert_eq!(info.mtu, Some(1500), "{path}");
    }
    // The Unix sockets lived in a private directory of the temporary directory, now gone.
    let unix = r
        .paths
        .iter()
        .find(|p| p.path == BenchPath::Unix)
        .expect("unix");
    let at = unix.target.as_deref().expect("the socket directory");
    assert!(at.starts_with(tmp.to_str().expect("utf-8")), "{at}");
    assert!(!std::path::Path::new(at).exists());
    let veth = r
        .paths
        .iter()
        .find(|p| p.path == BenchPath::Veth)
        .expect("veth");
    assert_eq!(veth.device.as_deref(), Some("veth0"));

    // The plot: an SVG document with a line for every latency result.
    let text = std::fs::read_to_string(&svg).expect("the plot was written");
    let doc = roxmltree::Document::parse(&text).expect("the plot is XML");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let lines = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "polyline")
        .count();
    let latency = r
        .results
        .iter()
        .filter(|x| x.test != BenchTest::Stream)
        .count();
    assert!(lines >= latency, "{lines} lines for {latency} results");
    for x in r.results.iter().filter(|x| x.test != BenchTest::Stream) {
        let label = format!("{} {}", x.path, x.proto);
        assert!(
            doc.descendants()
                .any(|n| n.text().is_some_and(|t| t.trim() == label)),
            "no legend for {label}"
        );
    }

    // The human table: a row per result, with its ratio.
    let out = ns.loopback(&[
        "bench",
        "--paths",
        "127.0.0.1,unix",
        "--tests",
        "rr",
        "--duration",
        "30ms",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("127.0.0.1  tcp"), "{text}");
    assert!(text.contains("unix       unix-dgram"), "{text}");
    assert!(text.contains("1.00x"), "{text}");
}

#[test]
#[ignore = "needs root: creates network namespaces"]
fn without_privileges_the_lab_paths_are_skipped_and_say_why() {
    require_root();
    let ns = Netns::new("bench-nobody");
    let args = [
        "bench",
        "--json",
        "--tests",
        "rr",
        "--duration",
        "30ms",
        "--repeats",
        "1",
    ];
    // Every path by default: the lab paths are skipped, the rest measured, exit 0.
    let out = as_nobody_in(Some(&ns), &args);
    let r = report(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for p in &r.paths {
        if p.path.needs_namespaces() {
            let why = p.skipped.as_deref().unwrap_or_default();
            assert!(why.contains("CAP_SYS_ADMIN"), "{}: {why:?}", p.path);
        } else if p.path != BenchPath::Own {
            // (A namespace with only lo has no own address.)
            assert_eq!(p.skipped, None, "{}", p.path);
        }
    }
    let own = r
        .paths
        .iter()
        .find(|p| p.path == BenchPath::Own)
        .expect("own");
    assert!(own
        .skipped
        .as_deref()
        .unwrap_or_default()
        .contains("no address"));
    // Named with --paths, a path that cannot be measured is an error: exit 2, the report
    // still printed.
    let out = as_nobody_in(
        Some(&ns),
        &[&args[..], &["--paths", "127.0.0.1,veth"]].concat(),
    );
    assert_eq!(out.status.code(), Some(2));
    let r = report(&out);
    assert!(r.results.iter().any(|x| x.path == BenchPath::Loopback4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("veth"));
}

#[test]
fn bad_options_are_errors_that_change_nothing() {
    for (args, says) in [
        (vec!["--paths", "eth0"], "not a path"),
        (vec!["--duration", "0"], "between"),
        (vec!["--cpus", "0"], "CLIENT,SERVER"),
        (vec!["--cpus", "0,4096", "--tests", "rr"], "CPU 4096"),
        (vec!["--tests", "ping"], "ping"),
    ] {
        let out = Command::new(loopback_bin())
            .arg("bench")
            .args(&args)
            .output()
            .expect("loopback");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{args:?}: {err}");
    }
}
