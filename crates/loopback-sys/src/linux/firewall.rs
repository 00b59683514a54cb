//! Reading the packet filter: `nft -j list tables`, then for each table nft alone manages
//! `nft -j list table` (JSON, which the exposure evaluator reads; one `nft-json` ruleset per
//! table) and `nft -a list table` (the text an administrator reads, with handles, all in one
//! `nft` ruleset),
//! `iptables-save` and `ip6tables-save` (the tables iptables-nft manages, in the language their
//! rules were written in), and `iptables-legacy-save`/`ip6tables-legacy-save` when the kernel
//! holds legacy tables in this namespace.
//!
//! The nftables netlink API has no well-kept Rust crate that lists a whole ruleset with rule
//! handles and decoded expressions, and `nft` does exactly that, so the read-only listing
//! commands run, each with a deadline and a size bound, when they are installed. A command runs
//! in the network namespace of the thread that spawns it, so a capture inside a namespace reads
//! that namespace's rules.

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::{FirewallDump, Ruleset};

const TOOLS: &[(&str, &str, &[&str])] = &[
    ("nft-tables", "nft", &["-j", "list", "tables"]),
    ("iptables", "iptables-save", &[]),
    ("ip6tables", "ip6tables-save", &[]),
];

/// The legacy tools, run only when the kernel lists legacy tables (`/proc/net/ip_tables_names`,
/// `ip6_tables_names`) and the default tools are the nftables variants, which do not show them.
const LEGACY: &[(&str, &str, &str)] = &[
    ("iptables-legacy", "iptables-legacy-save", "ip_tables_names"),
    (
        "ip6tables-legacy",
        "ip6tables-legacy-save",
        "ip6_tables_names",
    ),
];

/// A ruleset larger than this is cut off and reported unreadable.
const MAX_RULESET_BYTES: u64 = 64 << 20;

/// Where `program` is: on PATH, or in the sbin directories a non-root PATH often lacks.
fn locate(program: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(std::path::PathBuf::from))
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// A listing command that is running, its output collected by a reader thread.
struct Running {
    program: String,
    args: String,
    child: std::process::Child,
    rx: mpsc::Receiver<(String, String)>,
}

/// Start `program args`. Each listing runs at the same time as the others: with thousands of
/// rules, `nft -j list ruleset` alone takes a fifth of a second.
fn start(
    program: &std::path::Path,
    args: &[&str],
    input: Option<&[u8]>,
) -> Result<Running, String> {
    let program = program.display().to_string();
    let mut child = Command::new(&program)
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        // Small inputs only (a few rules): the pipe holds them, so this cannot block on a
        // program that does not read.
        stdin
            .write_all(input)
            .map_err(|e| format!("{program}: {e}"))?;
    }
    let mut stdout = child.stdout.take().ok_or("no stdout")?;
    let mut stderr = child.stderr.take().ok_or("no stderr")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let _ = (&mut stdout)
            .take(MAX_RULESET_BYTES + 1)
            .read_to_end(&mut out);
        let _ = (&mut stderr).take(64 << 10).read_to_end(&mut err);
        let out = String::from_utf8_lossy(&out).into_owned();
        let err = String::from_utf8_lossy(&err).into_owned();
        let _ = tx.send((out, err));
    });
    Ok(Running {
        program,
        args: args.join(" "),
        child,
        rx,
    })
}

/// Its stdout, or why not, by `deadline` (the command is killed after it).
fn finish(mut r: Running, deadline: std::time::Instant) -> Result<String, String> {
    let program = r.program.as_str();
    let timeout = deadline.saturating_duration_since(std::time::Instant::now());
    match r.rx.recv_timeout(timeout) {
        Ok((out, err)) => {
            let status = r.child.wait().map_err(|e| format!("{program}: {e}"))?;
            if out.len() as u64 > MAX_RULESET_BYTES {
                Err(format!("{program}: more than {MAX_RULESET_BYTES} bytes"))
            } else if status.success() {
                Ok(out)
            } else {
                Err(format!("{program} {}: {}", r.args, err.trim()))
            }
        }
        Err(_) => {
            let _ = r.child.kill();
            let _ = r.child.wait();
            Err(format!("{program} did not answer within {DEADLINE:?}"))
        }
    }
}

/// Run `program args` with `input` on its standard input, under the same deadline as a
/// listing; its stdout, or why it failed.
pub(crate) fn run_with_input(program: &str, args: &[&str], input: &[u8]) -> Result<String, String> {
    let path = locate(program).ok_or_else(|| format!("{program} is not installed"))?;
    let running = start(&path, args, Some(input))?;
    finish(running, std::time::Instant::now() + DEADLINE)
}

/// The (family, name) of every table in an `nft -j list tables` document.
fn nft_tables(json: &str) -> Vec<(String, String)> {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(json) else {
        return Vec::new();
    };
    doc.get("nftables")
        .and_then(serde_json::Value::as_array)
        .map(|items| {
            items
                .iter()
                .filter_map(|i| {
                    let t = i.get("table")?;
                    Some((
                        t.get("family")?.as_str()?.to_owned(),
                        t.get("name")?.as_str()?.to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// How long the listings may take, together.
const DEADLINE: Duration = Duration::from_millis(1500);

/// Start every `(tool, program, args)` at once and collect each one's output, or why not, by
/// one shared deadline.
fn run_all(
    jobs: Vec<(String, &std::path::Path, Vec<&str>)>,
) -> Vec<(String, Result<String, String>)> {
    let deadline = std::time::Instant::now() + DEADLINE;
    let running: Vec<(String, Result<Running, String>)> = jobs
        .into_iter()
        .map(|(tool, program, args)| (tool, start(program, &args, None)))
        .collect();
    running
        .into_iter()
        .map(|(tool, r)| (tool, r.and_then(|r| finish(r, deadline))))
        .collect()
}

/// Add each listing to `dump` as a ruleset of its tool, or its failure to `unreadable`.
fn record(dump: &mut FirewallDump, results: Vec<(String, Result<String, String>)>) {
    for (tool, r) in results {
        match r {
            Ok(text) => dump.rulesets.push(Ruleset { tool, text }),
            Err(why) => dump.unreadable.push(why),
        }
    }
}

pub(crate) fn dump() -> FirewallDump {
    let mut dump = FirewallDump::default();
    let located: Vec<(&str, std::path::PathBuf, &[&str])> = TOOLS
        .iter()
        .filter_map(|(tool, program, args)| Some((*tool, locate(program)?, *args)))
        .collect();
    record(
        &mut dump,
        run_all(
            located
                .iter()
                .map(|(tool, path, args)| ((*tool).to_owned(), path.as_path(), args.to_vec()))
                .collect(),
        ),
    );
    // Debian's `iptables-save` is a link to `xtables-nft-multi` or `xtables-legacy-multi`.
    let default_is_nft = locate("iptables-save")
        .and_then(|p| std::fs::canonicalize(p).ok())
        .is_none_or(|p| !p.to_string_lossy().contains("legacy"));
    // The tables nft alone manages, each listed as JSON (for the evaluator) and as text with
    // handles (for the administrator), not those iptables-nft manages, which `iptables-save`
    // already gave in their own language: nft renders thousands of Docker's rules slowly, and
    // as opaque `xt` expressions.
    if let (Some(pos), Some(nft)) = (
        dump.rulesets.iter().position(|r| r.tool == "nft-tables"),
        locate("nft"),
    ) {
        let tables = dump.rulesets.remove(pos);
        let managed: Vec<(&str, String)> = if default_is_nft {
            dump.rulesets
                .iter()
                .filter_map(|r| match r.tool.as_str() {
                    "iptables" => Some(("ip", &r.text)),
                    "ip6tables" => Some(("ip6", &r.text)),
                    _ => None,
                })
                .flat_map(|(f, t)| {
                    t.lines()
                        .filter_map(|l| l.strip_prefix('*'))
                        .map(move |name| (f, name.trim().to_owned()))
                })
                .collect()
        } else {
            Vec::new()
        };
        let native: Vec<(String, String)> = nft_tables(&tables.text)
            .into_iter()
            .filter(|(f, _)| matches!(f.as_str(), "ip" | "ip6" | "inet" | "netdev"))
            .filter(|(f, t)| !managed.iter().any(|(mf, mt)| mf == f && mt == t))
            .collect();
        let results = run_all(
            native
                .iter()
                .flat_map(|(f, t)| {
                    [
                        (
                            "nft-json".to_owned(),
                            nft.as_path(),
                            vec!["-j", "list", "table", f, t],
                        ),
                        (
                            "nft".to_owned(),
                            nft.as_path(),
                            vec!["-a", "list", "table", f, t],
                        ),
                    ]
                })
                .collect(),
        );
        // Every table's text in one `nft` ruleset, first; one JSON document per table.
        let (texts, json): (Vec<_>, Vec<_>) = results.into_iter().partition(|(t, _)| t == "nft");
        let mut text = String::new();
        for (_, r) in texts {
            match r {
                Ok(t) => text.push_str(&t),
                Err(why) => dump.unreadable.push(why),
            }
        }
        dump.rulesets.insert(
            0,
            Ruleset {
                tool: "nft".into(),
                text,
            },
        );
        record(&mut dump, json);
    }
    let mut legacy = Vec::new();
    for (tool, program, names) in LEGACY {
        let has_tables = std::fs::read(super::proc_net(names))
            .is_ok_and(|b| b.iter().any(|c| !c.is_ascii_whitespace()));
        if !(has_tables && default_is_nft) {
            continue;
        }
        match locate(program) {
            Some(path) => legacy.push(((*tool).to_owned(), path)),
            None => dump.unreadable.push(format!(
                "legacy {tool} tables are loaded but {program} is not installed (install iptables)"
            )),
        }
    }
    record(
        &mut dump,
        run_all(
            legacy
                .iter()
                .map(|(tool, path)| (tool.clone(), path.as_path(), Vec::new()))
                .collect(),
        ),
    );
    dump
}
