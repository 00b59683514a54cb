//! Fleets and daily use: the exporter scraped by a real Prometheus (series through its HTTP
//! API, an alert firing), `promtool` on the metrics and the rules, the textfile written
//! atomically, the exporter out of descriptors, `audit --watch` events, filters against `ss`,
//! completions and man pages.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::exposure::Lab;
use crate::support::*;

/// Poll `f` until it returns a value, for at most `limit`: a bounded wait on a condition that
/// only another process can make true (Prometheus scraping and evaluating).
fn until<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The lines a child prints on one of its streams, as they come.
fn lines(stream: impl std::io::Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Start `loopback exporter ARGS` in `ns`; returns once it serves.
fn exporter(ns: &Netns, args: &[&str]) -> Proc {
    let mut child = ns
        .cmd(loopback_bin())
        .arg("exporter")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("exporter");
    let err = lines(child.stderr.take().expect("stderr"));
    let proc = Proc(child);
    loop {
        let line = err
            .recv_timeout(Duration::from_secs(30))
            .expect("the exporter said nothing for 30s, or exited");
        if line.contains("exporter serving") {
            break;
        }
    }
    proc
}

/// `curl` inside `ns` (GET, query parameters URL-encoded); empty when it could not connect
/// (Prometheus still starting).
fn curl(ns: &Netns, url: &str, query: &[&str]) -> String {
    let mut cmd = ns.cmd("curl");
    cmd.args(["-sS", "--max-time", "10", "-G", url]);
    for q in query {
        cmd.args(["--data-urlencode", q]);
    }
    let out = cmd.output().expect("curl");
    String::from_utf8(out.stdout).expect("UTF-8")
}

fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian's prometheus package; scripts/test installs it)");
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("promtool stdin");
    }
    drop(input);
    let out = child.wait_with_output().expect("promtool");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// The repository's example alerting rules.
fn rules_file() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../contrib/prometheus/loopback-alerts.yml")
}

#[test]
fn example_alert_rules_pass_promtool() {
    let (ok, out) = promtool(
        &["check", "rules", rules_file().to_str().expect("path")],
        None,
    );
    assert!(ok, "{out}");
    assert!(out.contains("4 rules found"), "{out}");
}

/// A Prometheus query's result vector: each series' labels and value.
fn vector(ns: &Netns, query: &str) -> Vec<(serde_json::Map<String, Value>, String)> {
    let body = curl(
        ns,
        "http://127.0.0.1:9090/api/v1/query",
        &[&format!("query={query}")],
    );
    let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    v["data"]["result"]
        .as_array()
        .map(|r| {
            r.iter()
                .map(|s| {
                    (
                        s["metric"].as_object().cloned().unwrap_or_default(),
                        s["value"][1].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
#[ignore = "needs root: network namespaces; run by scripts/test"]
fn prometheus_scrapes_the_exporter_and_an_alert_fires() {
    require_root();
    let lab = Lab::with_container("prom");
    let host = &lab.host;
    // Known listeners: a database on every address (exposed), a cache on loopback (ok), DNS
    // over UDP on every address; and a published port whose target has no listener.
    let _l = host.listen(
        &["tcp:0.0.0.0:5432", "tcp:127.0.0.1:6379", "udp:0.0.0.0:5353"],
        &[],
    );
    lab.nft(
        "table ip lbt {\n\
         chain pre { type nat hook prerouting priority dstnat; policy accept;\n\
           tcp dport 8081 dnat to 198.19.1.2:81\n\
         }\n\
         }\n",
    );
    let exp = exporter(host, &["--uplink", "lan0", "--doctor-interval", "1s"]);

    // The exporter's own output: promtool's linter is clean, in both formats.
    let text = curl(host, "http://127.0.0.1:10127/metrics", &[]);
    let (ok, out) = promtool(&["check", "metrics"], Some(&text));
    assert!(ok, "promtool check metrics: {out}\n{text}");
    assert!(text.contains("loopback_listener_info{"), "{text}");

    // A real Prometheus, unprivileged, on the namespace's loopback, with the example rules
    // (their `for:` shortened so the test does not wait five minutes).
    let dir = TempDir::new("prom");
    let rules = std::fs::read_to_string(rules_file())
        .expect("rules")
        .replace("for: 5m", "for: 0s")
        .replace("for: 10m", "for: 0s")
        .replace("for: 15m", "for: 0s");
    std::fs::write(dir.path("rules.yml"), rules).expect("rules");
    std::fs::write(
        dir.path("prometheus.yml"),
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n\
         rule_files: [rules.yml]\n\
         scrape_configs:\n\
         - job_name: loopback\n\
         \x20 static_configs: [{targets: ['127.0.0.1:10127']}]\n",
    )
    .expect("config");
    std::fs::create_dir(dir.path("data")).expect("data");
    std::os::unix::fs::chown(dir.path("data"), Some(65534), Some(65534)).expect("chown");
    let prom = host
        .cmd("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "prometheus",
        ])
        .arg(format!(
            "--config.file={}",
            dir.path("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path("data").display()
        ))
        .args(["--web.listen-address=127.0.0.1:9090", "--log.level=warn"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus (Debian's package; scripts/test installs it)");
    let _prom = Proc(prom);

    let limit = Duration::from_secs(60);
    let series = until("loopback_listener_info in Prometheus", limit, || {
        let v = vector(host, "loopback_listener_info");
        (v.len() >= 3).then_some(v)
    });
    let find = |proto: &str, addr: &str, port: &str| {
        series
            .iter()
            .find(|(m, _)| m["proto"] == proto && m["address"] == addr && m["port"] == port)
            .unwrap_or_else(|| panic!("{proto} {addr}:{port} missing from {series:?}"))
    };
    let (db, value) = find("tcp", "0.0.0.0", "5432");
    assert_eq!(value, "1");
    assert_eq!(db["verdict"], "exposed");
    assert_eq!(db["exposure"], "open");
    assert_eq!(db["bind_scope"], "wildcard");
    assert_eq!(db["service"], "postgresql");
    assert_eq!(db["namespace"], host.name.as_str());
    assert_eq!(db["job"], "loopback");
    let (cache, _) = find("tcp", "127.0.0.1", "6379");
    assert_eq!(cache["verdict"], "ok");
    assert_eq!(cache["bind_scope"], "loopback");
    let (dns, _) = find("udp", "0.0.0.0", "5353");
    assert_eq!(dns["verdict"], "exposed");
    // No PID label anywhere.
    assert!(series.iter().all(|(m, _)| !m.contains_key("pid")));

    // Counts, the publication, a doctor check.
    let exposed = vector(host, "loopback_listeners{verdict=\"exposed\"}");
    assert_eq!(
        exposed.first().map(|(_, v)| v.as_str()),
        Some("2"),
        "{exposed:?}"
    );
    let publication = vector(host, "loopback_publication_info");
    let (p, _) = publication
        .iter()
        .find(|(m, _)| m["port"] == "8081")
        .unwrap_or_else(|| panic!("publication 8081 missing: {publication:?}"));
    assert_eq!(p["diagnosis"], "no-listener");
    assert_eq!(p["target_address"], "198.19.1.2");
    assert_eq!(p["target_port"], "81");
    let tcp = vector(host, "loopback_check_ok{check=\"loopback.ipv4-tcp\"}");
    assert_eq!(tcp.first().map(|(_, v)| v.as_str()), Some("1"), "{tcp:?}");

    // The alerts fire: the exposed database (and DNS), the publication to nothing.
    let alerts = until("the alerts firing", limit, || {
        let body = curl(host, "http://127.0.0.1:9090/api/v1/alerts", &[]);
        let v: Value = serde_json::from_str(&body).ok()?;
        let firing: Vec<Value> = v["data"]["alerts"]
            .as_array()?
            .iter()
            .filter(|a| a["state"] == "firing")
            .cloned()
            .collect();
        let has = |name: &str, port: &str| {
            firing
                .iter()
                .any(|a| a["labels"]["alertname"] == name && a["labels"]["port"] == port)
        };
        (has("LoopbackListenerExposed", "5432") && has("LoopbackPublicationReachesNothing", "8081"))
            .then_some(firing)
    });
    // Nothing bound to loopback alerts.
    assert!(
        !alerts.iter().any(|a| a["labels"]["port"] == "6379"),
        "{alerts:?}"
    );
    drop(exp);
}

#[test]
#[ignore = "needs root: network namespaces; run by scripts/test"]
fn textfile_is_written_atomically_and_read_by_promtool() {
    require_root();
    let ns = Netns::with_lan("textfile");
    let _l = ns.listen(&["tcp:0.0.0.0:5432", "tcp:127.0.0.1:6379"], &[]);
    let dir = TempDir::new("textfile");
    let file = dir.path("loopback.prom");
    std::fs::write(&file, "old\n").expect("old file");
    let f = file.to_str().expect("path");
    let out = ns.loopback(&["audit", "--format", "prometheus", "-o", f]);
    assert_eq!(out.status.code(), Some(1), "an exposed listener: exit 1");
    assert!(out.stdout.is_empty(), "the metrics went to the file");
    let text = std::fs::read_to_string(&file).expect("written");
    assert!(text.contains("port=\"5432\""), "{text}");
    assert!(text.contains("loopback_check_ok{"), "{text}");
    assert!(
        !text.contains("# EOF"),
        "classic text format for node_exporter"
    );
    let (ok, lint) = promtool(&["check", "metrics"], Some(&text));
    assert!(ok, "{lint}");
    // Only the file: no temporary left beside it.
    let names: Vec<String> = std::fs::read_dir(&dir.0)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, vec!["loopback.prom".to_owned()]);
    // Filters apply: only the loopback cache, so nothing needs attention.
    let out = ns.loopback(&["audit", "--format", "prometheus", "--port", "6379", "-o", f]);
    assert_eq!(out.status.code(), Some(0));
    let text = std::fs::read_to_string(&file).expect("written");
    assert!(!text.contains("port=\"5432\"") && text.contains("port=\"6379\""));
    // A directory that does not exist: an error, and nothing changes.
    let before = std::fs::read(&file).expect("file");
    let bad = dir.path("missing/loopback.prom");
    let out = ns.loopback(&[
        "audit",
        "--format",
        "prometheus",
        "-o",
        bad.to_str().expect("p"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing/loopback.prom"));
    assert_eq!(std::fs::read(&file).expect("file"), before);
}

/// The next event `audit --watch --json` prints, within `limit`.
fn next_event(events: &Receiver<String>, limit: Duration) -> Value {
    let line = events
        .recv_timeout(limit)
        .unwrap_or_else(|_| panic!("no event within {limit:?}"));
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"))
}

#[test]
#[ignore = "needs root: network namespaces; run by scripts/test"]
fn watch_reports_each_change_once_and_in_order() {
    require_root();
    let ns = Netns::with_lan("watch");
    let interval = Duration::from_millis(300);
    let mut child = ns
        .cmd(loopback_bin())
        .args([
            "audit",
            "--uplink",
            "lan0",
            "--watch",
            "--json",
            "--interval",
            "300ms",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("watch");
    let events = lines(child.stdout.take().expect("stdout"));
    let errors = lines(child.stderr.take().expect("stderr"));
    let watch = Proc(child);
    // The first look is done once it says what it watches.
    let first = errors
        .recv_timeout(Duration::from_secs(30))
        .expect("the watch started");
    assert!(first.contains("watching 0 listeners"), "{first}");
    // Generous for a loaded machine; the figure that matters is printed below.
    let limit = interval * 2 + Duration::from_secs(5);
    let mut seen = Vec::new();

    let started = Instant::now();
    let listener = ns.listen(&["tcp:0.0.0.0:8080"], &[]);
    let e = next_event(&events, limit);
    eprintln!("listener-added after {:?}", started.elapsed());
    assert_eq!(e["event"], "listener-added", "{e}");
    assert_eq!(e["port"], 8080);
    assert_eq!(e["after"]["verdict"], "exposed");
    assert_eq!(e["after"]["exposure"], "open");
    assert_eq!(e["processes"][0], "lb-listen");
    assert_eq!(e["version"], 1);
    assert!(e["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{e}");
    seen.push(e);

    let started = Instant::now();
    ns.nft(
        "table inet lbw {\n\
         chain input { type filter hook input priority 0; policy accept;\n\
           iifname \"lan0\" tcp dport 8080 drop\n\
         }\n\
         }\n",
    );
    let e = next_event(&events, limit);
    eprintln!("exposure-changed after {:?}", started.elapsed());
    assert_eq!(e["event"], "exposure-changed", "{e}");
    assert_eq!(e["port"], 8080);
    assert_eq!(e["before"]["exposure"], "open");
    assert_eq!(e["after"]["exposure"], "filtered");
    assert_eq!(e["after"]["verdict"], "ok");
    seen.push(e);

    let started = Instant::now();
    drop(listener);
    let e = next_event(&events, limit);
    eprintln!("listener-gone after {:?}", started.elapsed());
    assert_eq!(e["event"], "listener-gone", "{e}");
    assert_eq!(e["port"], 8080);
    assert_eq!(e["before"]["exposure"], "filtered");
    seen.push(e);

    // Exactly these: stop the watch and read whatever else it printed.
    drop(watch);
    let rest: Vec<String> = events.iter().collect();
    assert!(
        rest.is_empty(),
        "unexpected events after {seen:?}: {rest:?}"
    );
}

#[test]
#[ignore = "needs root: network namespaces; run by scripts/test"]
fn filters_keep_what_ss_shows_for_the_same_question() {
    require_root();
    let ns = Netns::with_lan("filter");
    let user = TestUser::new("flt");
    let db = ns.listen(&["tcp:0.0.0.0:5432", "udp:0.0.0.0:5353"], &[]);
    let _cache = ns.listen(&["tcp:127.0.0.1:6379", &user.listen_arg()], &[]);
    let audit = |extra: &[&str]| -> (Option<i32>, Vec<(String, u16)>) {
        let mut args = vec!["audit", "--json"];
        args.extend_from_slice(extra);
        let out = ns.loopback(&args);
        let v: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
        let mut got: Vec<(String, u16)> = v["listeners"]
            .as_array()
            .expect("listeners")
            .iter()
            .map(|l| {
                (
                    l["proto"].as_str().expect("proto").to_owned(),
                    u16::try_from(l["port"].as_u64().expect("port")).expect("u16"),
                )
            })
            .collect();
        got.sort();
        (out.status.code(), got)
    };
    let ss: Vec<SsSocket> = ns.ss();
    let oracle = |keep: &dyn Fn(&SsSocket) -> bool| -> Vec<(String, u16)> {
        let mut v: Vec<(String, u16)> = ss
            .iter()
            .filter(|s| keep(s))
            .map(|s| (s.proto.clone(), s.port))
            .collect();
        v.sort();
        v
    };
    let pid = db.pid();
    assert_eq!(audit(&["--port", "5432"]).1, oracle(&|s| s.port == 5432));
    assert_eq!(audit(&["--proto", "udp"]).1, oracle(&|s| s.proto == "udp"));
    assert_eq!(
        audit(&["--pid", &pid.to_string()]).1,
        oracle(&|s| s.pids.contains(&pid))
    );
    assert_eq!(
        audit(&["--user", &user.name]).1,
        vec![("tcp".to_owned(), 6379)]
    );
    assert_eq!(
        audit(&["--user", &user.uid.to_string()]).1,
        vec![("tcp".to_owned(), 6379)]
    );
    assert_eq!(audit(&["--process", "lb-listen"]).1, oracle(&|_| true));
    assert!(
        audit(&["--process", "lb-liste"]).1.is_empty(),
        "names match exactly"
    );
    // The exit status speaks of what is shown.
    let (code, exposed) = audit(&["--exposed"]);
    assert_eq!(code, Some(1));
    assert_eq!(
        exposed,
        vec![("tcp".to_owned(), 5432), ("udp".to_owned(), 5353)]
    );
    assert_eq!(audit(&["--port", "6379"]).0, Some(0));
    // Lists and combinations: any port of the list, and TCP.
    assert_eq!(
        audit(&["--port", "5432,5353,6379", "--proto", "tcp"]).1,
        vec![("tcp".to_owned(), 5432), ("tcp".to_owned(), 6379)]
    );
    // The table says it is filtered.
    let out = ns.loopback(&["audit", "--port", "1"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("No listener matches the filter."), "{text}");
}

#[test]
fn completions_load_in_bash_and_the_man_page_renders() {
    let dir = TempDir::new("completions");
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let out = run(Command::new(loopback_bin()).args(["completions", shell]));
        let script = String::from_utf8(out.stdout).expect("UTF-8");
        assert!(
            script.contains("exporter")
                && (script.contains("--port") || script.contains("-l port")),
            "{shell}: the script names the commands and flags"
        );
        std::fs::write(dir.path(shell), script).expect("write");
    }
    // bash loads it and registers the completion function.
    let out = run(Command::new("bash").args([
        "--norc",
        "-c",
        &format!(
            "source {} && complete -p loopback",
            dir.path("bash").display()
        ),
    ]));
    let registered = String::from_utf8_lossy(&out.stdout);
    assert!(registered.contains("-F _loopback loopback"), "{registered}");
    // The function completes a subcommand as bash would call it.
    let out = run(Command::new("bash").args([
        "--norc",
        "-c",
        &format!(
            "source {} && COMP_WORDS=(loopback exp) COMP_CWORD=1 COMP_LINE='loopback exp' \
             COMP_POINT=12 && _loopback loopback exp loopback && printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            dir.path("bash").display()
        ),
    ]));
    let replies = String::from_utf8_lossy(&out.stdout);
    assert!(replies.lines().any(|l| l == "exporter"), "{replies}");

    // man reads the page and every command's page.
    let pages = dir.path("man");
    run(Command::new(loopback_bin()).args(["man", "--dir", pages.to_str().expect("path")]));
    let out = run(Command::new(loopback_bin()).arg("man"));
    std::fs::write(dir.path("loopback.1"), &out.stdout).expect("page");
    for (page, expect) in [
        (dir.path("loopback.1"), "exporter"),
        (pages.join("loopback-audit.1"), "--exposed"),
        (pages.join("loopback-exporter.1"), "10127"),
    ] {
        let out = run(Command::new("man")
            .env("MANWIDTH", "100")
            .env("LC_ALL", "C")
            .args(["-P", "cat", "-l"])
            .arg(&page));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(expect), "{}: {text}", page.display());
    }
}

/// The exporter's CPU time so far (user + system), in clock ticks, from `/proc/PID/stat`.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("stat");
    // The command name may hold spaces: the fields after it start past the last ')'.
    let rest = &stat[stat.rfind(')').expect("comm") + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
}

/// Out of descriptors, the exporter neither spins nor stops: it waits, accepts again once
/// connections close (idle ones at the 5 s first-request deadline), and answers a scrape.
#[test]
#[ignore = "needs root: network namespaces; run by scripts/test"]
fn out_of_descriptors_the_exporter_waits_and_recovers() {
    require_root();
    let ns = Netns::new("emfile");
    let port = "10131";
    let mut child = ns
        .cmd("prlimit")
        .args(["--nofile=48:48", "--", loopback_bin(), "exporter"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("exporter");
    let err = lines(child.stderr.take().expect("stderr"));
    let exp = Proc(child);
    while !err
        .recv_timeout(Duration::from_secs(30))
        .expect("the exporter said nothing for 30s, or exited")
        .contains("exporter serving")
    {}
    // More idle connections than descriptors are left: the exporter accepts until EMFILE.
    let script = format!(
        "import socket, sys\n\
         held = [socket.create_connection(('127.0.0.1', {port})) for _ in range(60)]\n\
         print('held', flush=True)\n\
         sys.stdin.read()\n"
    );
    let mut holder = ns
        .cmd("python3")
        .args(["-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let held = lines(holder.stdout.take().expect("stdout"));
    assert_eq!(
        held.recv_timeout(Duration::from_secs(30)).expect("held"),
        "held"
    );
    // The connections are made once the kernel has them queued; the exporter accepts them
    // after: wait until it holds nearly all it may.
    let fd_dir = format!("/proc/{}/fd", exp.0.id());
    until(
        "the exporter's descriptors run out",
        Duration::from_secs(20),
        || (std::fs::read_dir(&fd_dir).ok()?.count() >= 44).then_some(()),
    );
    let before = cpu_ticks(exp.0.id());
    let start = Instant::now();
    let out = ns
        .cmd("curl")
        .args([
            "-sS",
            "--max-time",
            "30",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .arg(format!("http://127.0.0.1:{port}/metrics"))
        .output()
        .expect("curl");
    let waited = start.elapsed();
    let spent = cpu_ticks(exp.0.id()) - before;
    assert_eq!(String::from_utf8_lossy(&out.stdout), "200", "{out:?}");
    // Waiting burns no CPU: a loop retrying accept at once would use a CPU for the whole
    // wait (seconds); the backoff, the accepts and one scrape (the 0.5 s allowance, for a
    // loaded machine) use a small part of one.
    // /proc counts CPU time in USER_HZ ticks, 100 a second on Linux.
    let cpu = Duration::from_millis(spent * 10);
    eprintln!("waited {waited:?}, the exporter used {cpu:?} of CPU");
    assert!(
        cpu < waited / 4 + Duration::from_millis(500),
        "{cpu:?} of CPU in {waited:?}"
    );
    drop(holder.stdin.take());
    let _ = holder.wait();
}
