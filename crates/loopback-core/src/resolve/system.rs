//! The resolvers that are not glibc: Windows' DNS client and macOS's mDNSResponder, each
//! modelled as far as their documented behaviour goes, the rest named and left to the system's
//! own answer (which is always judged beside the model).
//!
//! - Windows: the DNS client answers `localhost` itself with `::1` and `127.0.0.1` (the default
//!   hosts file says "localhost name resolution is handled within DNS itself", its localhost
//!   lines commented out); other names come from the hosts file
//!   (`%SystemRoot%\System32\drivers\etc\hosts`), then DNS (not modelled). Several addresses
//!   are ordered by RFC 6724 with the prefix policy table in force (`netsh interface ipv6 show
//!   prefixpolicies`), or the default one Windows ships when it cannot be read.
//! - macOS: mDNSResponder answers from `/etc/hosts` first, then asks the resolver `scutil --dns`
//!   lists for the name's domain (multicast DNS for `.local`), which is named, not modelled.
//!   The order of several addresses is modelled as RFC 6724 with its default table: a
//!   hypothesis, not checked against a Mac by this project.

use std::net::IpAddr;

use loopback_model::{Os, StepKind};
use loopback_sys::parse::macos::{parse_scutil_dns, ScutilResolver};
use loopback_sys::parse::netsh::parse_prefix_policies;
use loopback_sys::QueryFamily;

use super::addrconfig::destinations;
use super::nss::{files_lookup, step, Inputs, ModelAnswer};
use super::rfc6724::{compare, sort, Tables};
use crate::snapshot::{ResolverFiles, Snapshot};

/// Whether `name` is the one Windows' DNS client answers itself.
pub(crate) fn windows_answers_itself(name: &str) -> bool {
    name.eq_ignore_ascii_case("localhost")
}

/// The addresses Windows' DNS client gives `localhost` for a family.
fn windows_localhost(family: QueryFamily) -> Vec<IpAddr> {
    let v6 = IpAddr::from(std::net::Ipv6Addr::LOCALHOST);
    let v4 = IpAddr::from(std::net::Ipv4Addr::LOCALHOST);
    match family {
        QueryFamily::Unspec => vec![v6, v4],
        QueryFamily::V4 => vec![v4],
        QueryFamily::V6 => vec![v6],
    }
}

/// The resolver macOS asks for `name` when the hosts file has no line for it: the unscoped
/// resolver whose domain is the longest suffix of the name, else the first default one.
pub(crate) fn macos_resolver_for<'a>(
    resolvers: &'a [ScutilResolver],
    name: &str,
) -> Option<&'a ScutilResolver> {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let unscoped = resolvers.iter().filter(|r| !r.scoped);
    unscoped
        .clone()
        .filter_map(|r| {
            let d = r
                .domain
                .as_deref()?
                .trim_end_matches('.')
                .to_ascii_lowercase();
            (name == d || name.ends_with(&format!(".{d}"))).then_some((d.len(), r))
        })
        .max_by_key(|(len, _)| *len)
        .map(|(_, r)| r)
        .or_else(|| unscoped.clone().find(|r| r.domain.is_none()))
}

fn family_filter(addrs: Vec<IpAddr>, family: QueryFamily) -> Vec<IpAddr> {
    addrs
        .into_iter()
        .filter(|a| match family {
            QueryFamily::Unspec => true,
            QueryFamily::V4 => a.is_ipv4(),
            QueryFamily::V6 => a.is_ipv6(),
        })
        .collect()
}

/// The model of one look-up of `name` for `family` on Windows or macOS.
pub(crate) fn model(
    snap: &Snapshot,
    inp: &Inputs,
    files: &ResolverFiles,
    name: &str,
    family: QueryFamily,
) -> ModelAnswer {
    let mut steps = Vec::new();
    if let Ok(ip) = name.parse::<IpAddr>() {
        steps.push(step(
            StepKind::Result,
            format!("{name} is a numeric address: no source is consulted"),
        ));
        return ModelAnswer {
            addresses: family_filter(vec![ip], family),
            complete: true,
            steps,
        };
    }
    let mut complete = true;
    let mut found = Vec::new();
    if snap.os == Os::Windows && windows_answers_itself(name) {
        found = windows_localhost(family);
        steps.push(step(
            StepKind::Source,
            "Windows' DNS client answers localhost itself with ::1 and 127.0.0.1 (its default \
             hosts file says so: \"localhost name resolution is handled within DNS itself\"); \
             the hosts file is not consulted for it",
        ));
    } else if let Some(e) = &inp.hosts_error {
        steps.push(step(
            StepKind::Source,
            format!("hosts file: {} cannot be read ({e})", inp.hosts_path),
        ));
    } else {
        let hits = files_lookup(&inp.entries, name, QueryFamily::Unspec);
        for (a, e) in &hits {
            steps.push(step(
                StepKind::HostsLine,
                format!(
                    "{}:{}: {} {} gives {a}",
                    inp.hosts_path,
                    e.line,
                    e.address,
                    e.names.join(" ")
                ),
            ));
        }
        let mut seen = std::collections::HashSet::new();
        found = family_filter(hits.iter().map(|(a, _)| *a).collect(), family)
            .into_iter()
            .filter(|a| seen.insert(*a))
            .collect();
        if hits.is_empty() {
            steps.push(step(
                StepKind::Source,
                format!("hosts file: no line of {} names {name}", inp.hosts_path),
            ));
        } else {
            steps.push(step(
                StepKind::Source,
                format!(
                    "hosts file: {} address(es) for this query; the look-up stops here",
                    found.len()
                ),
            ));
        }
    }
    if found.is_empty() && !(snap.os == Os::Windows && windows_answers_itself(name)) {
        complete = false;
        steps.push(step(StepKind::Source, next_source(snap.os, files, name)));
    }
    if found.len() > 1 {
        let (tables, which) = policy_tables(snap.os, files);
        let dests = destinations(snap, &found, &inp.cfg);
        let sorted = sort(dests, &tables);
        for w in sorted.windows(2) {
            let (_, rule, why) = compare(&w[0], &w[1], &tables);
            steps.push(step(
                StepKind::Sort,
                format!("{} before {}: rule {rule}, {why}", w[0].addr, w[1].addr),
            ));
        }
        found = sorted.into_iter().map(|d| d.addr).collect();
        steps.push(step(StepKind::Sort, which));
    }
    ModelAnswer {
        addresses: found,
        complete,
        steps,
    }
}

/// The RFC 6724 tables the sort uses, and a sentence saying which: on Windows the prefix
/// policy table in force when `netsh` printed it, else the default one Windows ships.
fn policy_tables(os: Os, files: &ResolverFiles) -> (Tables, String) {
    if os == Os::Macos {
        return (
            Tables::rfc6724_default(),
            "ordered as RFC 6724 with its default policy table: a hypothesis for macOS, not checked on a Mac".into(),
        );
    }
    let read = files.system.as_ref().map(|c| (&c.path, &c.contents));
    let why = match read {
        Some((path, Ok(bytes))) => match parse_prefix_policies(bytes) {
            Some(mut rows) => {
                // The longest prefix matches first.
                rows.sort_by_key(|r| std::cmp::Reverse(r.bits));
                let entry = |r: &loopback_sys::parse::netsh::PrefixPolicy, value| {
                    loopback_sys::parse::gai::PrefixEntry {
                        prefix: r.prefix,
                        bits: r.bits,
                        value,
                    }
                };
                let tables = Tables {
                    labels: rows.iter().map(|r| entry(r, r.label)).collect(),
                    precedence: rows.iter().map(|r| entry(r, r.precedence)).collect(),
                    scopes: Tables::rfc6724_default().scopes,
                };
                return (
                    tables,
                    format!("ordered as RFC 6724 with the prefix policy table in force ({path}, {} rows)", rows.len()),
                );
            }
            None => format!("{path} printed no table"),
        },
        Some((path, Err(e))) => format!("{path}: {e}"),
        None => "the table in force was not captured".to_owned(),
    };
    (
        Tables::rfc6724_default(),
        format!("ordered as RFC 6724 with the default prefix policy table Windows ships ({why})"),
    )
}

/// What the system asks after the hosts file, named since it is not modelled.
fn next_source(os: Os, files: &ResolverFiles, name: &str) -> String {
    let tail = "not modelled, so the system's own answer is authoritative";
    match os {
        Os::Windows => {
            format!("DNS: the DNS client asks its servers (`ipconfig /all` lists them); {tail}")
        }
        Os::Macos => {
            let Some(cap) = &files.system else {
                return format!("the resolvers of `scutil --dns` were not captured; {tail}");
            };
            let text = match &cap.contents {
                Ok(b) => b,
                Err(e) => return format!("`scutil --dns` could not be read ({e}); {tail}"),
            };
            let resolvers = parse_scutil_dns(text);
            match macos_resolver_for(&resolvers, name) {
                Some(r) if r.is_mdns() => format!(
                    "multicast DNS on the local link (scutil --dns resolver #{}, domain {}); {tail}",
                    r.number,
                    r.domain.as_deref().unwrap_or("?")
                ),
                Some(r) => format!(
                    "scutil --dns resolver #{}{}: nameservers {}; {tail}",
                    r.number,
                    r.domain
                        .as_deref()
                        .map(|d| format!(" (domain {d})"))
                        .unwrap_or_default(),
                    if r.nameservers.is_empty() {
                        "none".to_owned()
                    } else {
                        r.nameservers.join(", ")
                    }
                ),
                None => format!("no resolver of `scutil --dns` answers for {name}; {tail}"),
            }
        }
        Os::Linux => format!("the next source; {tail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::ResolverPaths;
    use crate::testing::FakeSystem;
    use loopback_model::{FindingCode, ResolveReport};

    /// The hosts file Windows ships: localhost only in comments.
    const WINDOWS_HOSTS: &str = "# Copyright (c) 1993-2009 Microsoft Corp.\r\n#\r\n# localhost name resolution is handled within DNS itself.\r\n#\t127.0.0.1       localhost\r\n#\t::1             localhost\r\n127.0.0.1 app.test\r\n";

    fn resolve_on(os: Os, hosts: &str, name: &str, answer: &[&str]) -> ResolveReport {
        resolve_with(os, hosts, name, answer, None)
    }

    fn resolve_with(
        os: Os,
        hosts: &str,
        name: &str,
        answer: &[&str],
        policies: Option<&str>,
    ) -> ResolveReport {
        let mut sys = FakeSystem::lan();
        sys.os = os;
        let paths = ResolverPaths {
            hosts: "HOSTS".into(),
            ..ResolverPaths::default()
        };
        sys.files.insert("HOSTS".into(), hosts.as_bytes().to_vec());
        sys.resolver_config = match os {
            Os::Macos => Some("DNS configuration\n\nresolver #1\n  nameserver[0] : 192.0.2.53\n\nresolver #2\n  domain   : local\n  options  : mdns\n".to_owned()),
            _ => policies.map(str::to_owned),
        };
        sys.names.insert(
            name.to_owned(),
            answer.iter().map(|a| a.parse().expect("address")).collect(),
        );
        // The files are named by the test, so the fake's own answer stands for the system's.
        let (n, port) = super::super::split_name(name).expect("name");
        let snap = super::super::capture(&sys, &n, port, &paths);
        let libc = super::super::LibcAnswers::ask(&sys, &n);
        super::super::judge(&snap, &n, port, &libc).expect("judged")
    }

    fn codes(r: &ResolveReport) -> Vec<FindingCode> {
        r.findings.iter().map(|f| f.code).collect()
    }

    #[test]
    fn windows_answers_localhost_itself_whatever_the_hosts_file_says() {
        let r = resolve_on(
            Os::Windows,
            WINDOWS_HOSTS,
            "localhost",
            &["::1", "127.0.0.1"],
        );
        let want: Vec<IpAddr> = vec!["::1".parse().expect("a"), "127.0.0.1".parse().expect("a")];
        assert_eq!(r.addresses, want);
        assert!(r.model_complete);
        assert_eq!(r.ipv4_only.addresses, want[1..].to_vec());
        assert_eq!(r.ipv6_only.addresses, want[..1].to_vec());
        assert!(
            codes(&r).is_empty(),
            "no localhost-missing on Windows: {:?}",
            r.findings
        );
        assert!(r
            .steps
            .iter()
            .any(|s| s.detail.contains("handled within DNS itself")));
        // The same file on Linux is a problem: glibc has no such answer of its own.
        let linux = resolve_on(Os::Linux, WINDOWS_HOSTS, "localhost", &["127.0.0.1"]);
        assert!(codes(&linux).contains(&FindingCode::LocalhostMissing));
    }

    #[test]
    fn windows_hosts_then_dns() {
        let r = resolve_on(Os::Windows, WINDOWS_HOSTS, "app.test", &["127.0.0.1"]);
        assert_eq!(r.addresses, vec!["127.0.0.1".parse::<IpAddr>().expect("a")]);
        assert!(r.model_complete && codes(&r).is_empty(), "{:?}", r.findings);
        let r = resolve_on(Os::Windows, WINDOWS_HOSTS, "db.example", &["192.0.2.7"]);
        assert!(!r.model_complete);
        assert!(codes(&r).contains(&FindingCode::ModelIncomplete));
        assert!(r.steps.iter().any(|s| s.detail.contains("ipconfig /all")));
        // A system answer unlike the model's is said, with the Windows fix.
        let r = resolve_on(Os::Windows, WINDOWS_HOSTS, "localhost", &["127.0.0.1"]);
        let differs = r
            .findings
            .iter()
            .find(|f| f.code == FindingCode::ModelDiffers);
        assert!(
            differs
                .and_then(|f| f.fix.as_deref())
                .is_some_and(|f| f.contains("ipconfig /flushdns")),
            "{:?}",
            r.findings
        );
    }

    /// "Prefer IPv4 over IPv6" is done on Windows by raising ::ffff:0:0/96 in the policy table.
    #[test]
    fn windows_orders_by_the_prefix_policy_table_in_force() {
        let hosts = "127.0.0.1 both.test\r\n::1 both.test\r\n";
        let v6first: Vec<IpAddr> = vec!["::1".parse().expect("a"), "127.0.0.1".parse().expect("a")];
        let r = resolve_on(Os::Windows, hosts, "both.test", &["::1", "127.0.0.1"]);
        assert_eq!(r.addresses, v6first);
        assert!(r
            .steps
            .iter()
            .any(|s| s.detail.contains("default prefix policy table")));
        let prefer_v4 = "Precedence  Label  Prefix\r\n----------  -----  ----------\r\n        50      0  ::1/128\r\n        40      1  ::/0\r\n       100      4  ::ffff:0:0/96\r\n        30      2  2002::/16\r\n";
        let r = resolve_with(
            Os::Windows,
            hosts,
            "both.test",
            &["127.0.0.1", "::1"],
            Some(prefer_v4),
        );
        assert_eq!(
            r.addresses,
            v6first.iter().rev().copied().collect::<Vec<_>>()
        );
        assert!(
            r.steps.iter().any(|s| s
                .detail
                .contains("table in force (netsh interface ipv6 show prefixpolicies, 4 rows)")),
            "{:#?}",
            r.steps
        );
    }

    #[test]
    fn macos_hosts_file_then_the_resolver_for_the_domain() {
        let hosts = "127.0.0.1 localhost\n255.255.255.255 broadcasthost\n::1 localhost\n";
        let r = resolve_on(Os::Macos, hosts, "localhost", &["::1", "127.0.0.1"]);
        assert_eq!(
            r.addresses,
            vec![
                "::1".parse::<IpAddr>().expect("a"),
                "127.0.0.1".parse().expect("a")
            ]
        );
        assert!(r
            .steps
            .iter()
            .any(|s| s.detail.contains("hypothesis for macOS")));
        let r = resolve_on(Os::Macos, hosts, "printer.local", &[]);
        assert!(!r.model_complete);
        assert!(
            r.steps.iter().any(|s| s.detail.contains("multicast DNS")),
            "{:?}",
            r.steps
        );
        let r = resolve_on(Os::Macos, "", "localhost", &["127.0.0.1"]);
        let missing = r
            .findings
            .iter()
            .find(|f| f.code == FindingCode::LocalhostMissing);
        assert!(
            missing.is_some_and(|f| f.summary.contains("scutil --dns")),
            "{:?}",
            r.findings
        );
    }

    #[test]
    fn the_resolver_macos_asks_by_domain() {
        let resolvers = parse_scutil_dns(
            b"DNS configuration\n\nresolver #1\n  nameserver[0] : 192.0.2.53\n\nresolver #2\n  domain : local\n  options : mdns\n\nresolver #3\n  domain : corp.example\n  nameserver[0] : 198.51.100.1\n\nDNS configuration (for scoped queries)\n\nresolver #1\n  domain : local\n  nameserver[0] : 203.0.113.1\n",
        );
        let n = |name: &str| macos_resolver_for(&resolvers, name).map(|r| r.number);
        assert_eq!(n("printer.local"), Some(2));
        assert_eq!(n("db.corp.example."), Some(3));
        assert_eq!(n("example.org"), Some(1));
        assert_eq!(
            n("notcorp.example"),
            Some(1),
            "a suffix only at a label boundary"
        );
    }
}
