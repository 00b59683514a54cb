//! Reading the packet filter: `nft -a list ruleset`, `iptables-save`, `ip6tables-save`.
//!
//! The nftables netlink API has no well-kept Rust crate that lists a whole ruleset with rule
//! handles in a readable form, and the tools' own text is what an administrator will act on,
//! so the doctor runs the read-only listing commands, with a deadline, when they are installed.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::{FirewallDump, Ruleset};

const TOOLS: &[(&str, &str, &[&str])] = &[
    ("nft", "nft", &["-a", "list", "ruleset"]),
    ("iptables", "iptables-save", &[]),
    ("ip6tables", "ip6tables-save", &[]),
];

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
        let mut out = String::new();
        let mut err = String::new();
        let _ = stdout.read_to_string(&mut out);
        let _ = stderr.read_to_string(&mut err);
        let _ = tx.send((out, err));
    });
    match rx.recv_timeout(timeout) {
        Ok((out, err)) => {
            let status = child.wait().map_err(|e| format!("{program}: {e}"))?;
            if status.success() {
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
    dump
}
