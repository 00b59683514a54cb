//! Reading the packet filter: `nft -a list ruleset` (the text an administrator reads),
//! `nft -j list ruleset` (the same rules as JSON, which the exposure evaluator reads),
//! `iptables-save` and `ip6tables-save` (the tables iptables-nft manages, in the language their
//! rules were written in), and `iptables-legacy-save`/`ip6tables-legacy-save` when the kernel
//! holds legacy tables in this namespace.
//!
//! The nftables netlink API has no well-kept Rust crate that lists a whole ruleset with rule
//! handles and decoded expressions, and `nft` does exactly that, so the read-only listing
//! commands run, each with a deadline and a size bound, when they are installed. A command runs
//! in the network namespace of the thread that spawns it, so a capture inside a namespace reads
//! that namespace's rules.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::{FirewallDump, Ruleset};

const TOOLS: &[(&str, &str, &[&str])] = &[
    ("nft", "nft", &["-a", "list", "ruleset"]),
    ("nft-json", "nft", &["-j", "list", "ruleset"]),
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

/// Run `program args` and return its stdout, or why not, within `timeout`.
fn run_bounded(
    program: &std::path::Path,
    args: &[&str],
    timeout: Duration,
) -> Result<String, String> {
    let program_name = program.display().to_string();
    let program = program_name.as_str();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{program}: {e}"))?;
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
    match rx.recv_timeout(timeout) {
        Ok((out, err)) => {
            let status = child.wait().map_err(|e| format!("{program}: {e}"))?;
            if out.len() as u64 > MAX_RULESET_BYTES {
                Err(format!("{program}: more than {MAX_RULESET_BYTES} bytes"))
            } else if status.success() {
                Ok(out)
            } else {
                Err(format!("{program} {}: {}", args.join(" "), err.trim()))
            }
        }
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(format!("{program} did not answer within {timeout:?}"))
        }
    }
}

pub(crate) fn dump() -> FirewallDump {
    let mut dump = FirewallDump::default();
    for (tool, program, args) in TOOLS {
        let Some(path) = locate(program) else {
            continue;
        };
        match run_bounded(&path, args, Duration::from_millis(1500)) {
            Ok(text) => dump.rulesets.push(Ruleset {
                tool: (*tool).to_owned(),
                text,
            }),
            Err(why) => dump.unreadable.push(why),
        }
    }
    // Debian's `iptables-save` is a link to `xtables-nft-multi` or `xtables-legacy-multi`.
    let default_is_nft = locate("iptables-save")
        .and_then(|p| std::fs::canonicalize(p).ok())
        .is_none_or(|p| !p.to_string_lossy().contains("legacy"));
    for (tool, program, names) in LEGACY {
        let has_tables = std::fs::read(super::proc_net(names))
            .is_ok_and(|b| b.iter().any(|c| !c.is_ascii_whitespace()));
        if !(has_tables && default_is_nft) {
            continue;
        }
        let Some(path) = locate(program) else {
            dump.unreadable.push(format!(
                "legacy {tool} tables are loaded but {program} is not installed (install iptables)"
            ));
            continue;
        };
        match run_bounded(&path, &[], Duration::from_millis(1500)) {
            Ok(text) => dump.rulesets.push(Ruleset {
                tool: (*tool).to_owned(),
                text,
            }),
            Err(why) => dump.unreadable.push(why),
        }
    }
    dump
}
