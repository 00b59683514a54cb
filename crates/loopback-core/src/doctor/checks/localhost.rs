//! `localhost` in the hosts file (the rules in [`crate::localhost`]) and as the resolver
//! answers it.

use std::net::IpAddr;

use loopback_model::{Check, CheckId, CheckStatus};
use loopback_sys::parse::hosts::parse_hosts;

use super::{check, CheckExt};
use crate::classify::is_loopback;
use crate::localhost::LocalhostLines;
use crate::snapshot::FileCapture;

pub(crate) fn hosts_file_check(
    os: loopback_model::Os,
    hosts: Option<&FileCapture>,
    ipv6_on: bool,
) -> Check {
    let id = CheckId::LocalhostHostsFile;
    if os == loopback_model::Os::Windows {
        return windows_hosts_file_check(hosts);
    }
    let add_lines = "add `127.0.0.1 localhost` and `::1 localhost` to the hosts file";
    let Some(hosts) = hosts else {
        return check(id, CheckStatus::Skip, "the hosts file was not captured");
    };
    let path = &hosts.path;
    let bytes = match &hosts.contents {
        Ok(b) => b,
        Err(e) => {
            return check(id, CheckStatus::Fail, format!("cannot read {path}"))
                .evidence(e.clone())
                .fix(format!("restore {path}; {add_lines}"))
        }
    };
    let (entries, _) = parse_hosts(bytes);
    let lines = LocalhostLines::of(&entries);
    let local = &lines.lines;
    let mut evidence: Vec<String> = local
        .iter()
        .map(|e| format!("{path}:{}: {} {}", e.line, e.address, e.names.join(" ")))
        .collect();
    let wrong = &lines.not_loopback;
    let (has_v4, has_v6) = (lines.has_v4, lines.has_v6);
    let finish = |mut c: Check, evidence: Vec<String>| {
        c.evidence = evidence;
        c
    };
    if !wrong.is_empty() {
        let addrs: Vec<String> = wrong
            .iter()
            .map(|e| format!("{} (line {})", e.address, e.line))
            .collect();
        return finish(
            check(
                id,
                CheckStatus::Fail,
                format!(
                    "{path} maps localhost to a non-loopback address: {}",
                    addrs.join(", ")
                ),
            ),
            evidence,
        )
        .fix(format!("map localhost only to 127.0.0.1 and ::1 in {path}"));
    }
    if lines.missing() {
        return check(id, CheckStatus::Fail, format!("{path} has no entry for localhost: look-ups go on to the next source in nsswitch.conf, often DNS"))
            .fix(add_lines);
    }
    if has_v4 && !lines.lacks_v6(ipv6_on) {
        if !has_v6 {
            evidence.push("IPv6 is off, so no ::1 entry is needed".into());
        }
        return finish(
            check(
                id,
                CheckStatus::Pass,
                format!("{path} maps localhost to loopback"),
            ),
            evidence,
        );
    }
    let missing = if has_v4 { "::1" } else { "127.0.0.1" };
    let mut c = finish(
        check(
            id,
            CheckStatus::Warn,
            format!("{path} does not map localhost to {missing}"),
        ),
        evidence,
    );
    if missing == "::1" {
        if let Some(e) = lines.v6_alias_only {
            c = c.evidence(format!(
                "::1 is listed only under {} (line {})",
                e.names.join(" "),
                e.line
            ));
        }
    }
    c.fix(format!("add `{missing} localhost` to {path}"))
}

/// On Windows the DNS client answers `localhost` itself and the hosts file ships with its
/// localhost lines commented out: only a line that maps localhost elsewhere is worth a word,
/// since programs that read the hosts file themselves may follow it.
fn windows_hosts_file_check(hosts: Option<&FileCapture>) -> Check {
    let id = CheckId::LocalhostHostsFile;
    let Some(hosts) = hosts else {
        return check(id, CheckStatus::Skip, "the hosts file was not captured");
    };
    let path = &hosts.path;
    let bytes = match &hosts.contents {
        Ok(b) => b,
        Err(e) => {
            return check(
                id,
                CheckStatus::Skip,
                format!("cannot read {path}; Windows answers localhost without it"),
            )
            .evidence(e.clone())
        }
    };
    let (entries, _) = parse_hosts(bytes);
    let lines = LocalhostLines::of(&entries);
    let mut c = if lines.not_loopback.is_empty() {
        check(
            id,
            CheckStatus::Pass,
            "Windows' DNS client answers localhost itself (::1, 127.0.0.1); the hosts file does not need a localhost line",
        )
    } else {
        check(
            id,
            CheckStatus::Warn,
            format!("{path} maps localhost to a non-loopback address: Windows' DNS client answers localhost itself, but programs that read the hosts file themselves may follow the line"),
        )
        .fix(format!("remove the localhost lines that name other addresses from {path}"))
    };
    for e in &lines.lines {
        c = c.evidence(format!(
            "{path}:{}: {} {}",
            e.line,
            e.address,
            e.names.join(" ")
        ));
    }
    c
}

pub(crate) fn resolves_loopback_check(result: &Result<Vec<IpAddr>, String>) -> Check {
    let id = CheckId::LocalhostResolvesLoopback;
    match result {
        Err(e) if crate::resolve::was_not_asked(e) => check(
            id,
            CheckStatus::Skip,
            "the C library was not asked; the evidence says why",
        )
        .evidence(e.clone()),
        Err(e) => check(id, CheckStatus::Fail, "localhost does not resolve")
            .evidence(e.clone())
            .fix("add `127.0.0.1 localhost` and `::1 localhost` to /etc/hosts"),
        Ok(addrs) => {
            let shown: Vec<String> = addrs.iter().map(IpAddr::to_string).collect();
            let bad: Vec<String> = addrs
                .iter()
                .filter(|a| !is_loopback(**a))
                .map(IpAddr::to_string)
                .collect();
            let c = if bad.is_empty() {
                check(
                    id,
                    CheckStatus::Pass,
                    format!("localhost resolves to {}", shown.join(", ")),
                )
            } else {
                check(
                    id,
                    CheckStatus::Fail,
                    format!("localhost resolves to {}, which is not loopback: traffic meant for this host goes elsewhere", bad.join(", ")),
                )
                .fix("map localhost only to 127.0.0.1 and ::1 (hosts file, and nothing else answering for it)")
            };
            c.evidence(format!(
                "getaddrinfo(\"localhost\") returned {}",
                shown.join(", ")
            ))
        }
    }
}
