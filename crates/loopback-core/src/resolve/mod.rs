//! `resolve`: how a name resolves here and why, modelled on glibc 2.36's `getaddrinfo`.
//!
//! The model reads what glibc reads (`nsswitch.conf`, the hosts file, `gai.conf`, the
//! namespace's addresses) and derives the order glibc returns for
//! `getaddrinfo(name, AF_UNSPEC, SOCK_STREAM, AI_ADDRCONFIG)`:
//!
//! 1. `AI_ADDRCONFIG` (`__check_pf`): IPv4 counts as configured when any address other than
//!    exactly 127.0.0.1 exists, IPv6 when any address other than `::1` exists (link-local and
//!    tentative ones included). With only one family configured the query narrows to it; with
//!    neither, nothing narrows. Per-address data (prefix length, deprecated flag) is only kept
//!    when IPv6 was seen, which changes rule 9 for IPv4.
//! 2. The `hosts:` sources in order. `files` is modelled exactly: every matching line
//!    (case-insensitive names and aliases) in file order; an IPv4 query answers a `::1` line as
//!    127.0.0.1 and an IPv4-mapped line as its IPv4 address; an IPv6 query ignores IPv4 lines.
//!    Other sources (`dns`, `myhostname`, `resolve`, …) are named, not queried.
//! 3. With more than one address, glibc's RFC 3484 sort (`rfc3484_sort`, with RFC 6724's
//!    labels), with the built-in tables or the ones `gai.conf` replaces, run through the same
//!    top-down merge sort glibc's `qsort_r` uses, so that even ties fall the same way. Rule 7
//!    (native transport) is not modelled: it needs tunnel interfaces.
//!
//! The C library's own answer is reported beside the model; a difference is a finding.
//!
//! The model is a pure function of a snapshot (the resolver's files, interfaces, IPv6 address
//! flags, route look-ups, kernel settings): [`judge`]. The C library's own answer is live
//! ([`LibcAnswers::ask`]) and is judged beside it; a difference is a finding.
//!
//! - [`nss`]: the sources in order and the `files` source;
//! - [`addrconfig`]: `AI_ADDRCONFIG` and source addresses;
//! - [`rfc6724`]: the sort;
//! - `findings`: what it all means.

use std::net::IpAddr;

use loopback_model::{FamilyAnswer, Os, ResolveReport, StepKind, RESOLVE_VERSION};
use loopback_sys::parse::hosts::parse_hosts;
use loopback_sys::{Prober, QueryFamily, SystemView};

use crate::snapshot::{MissingPart, Parts, Request, ResolverPaths, Snapshot};
use crate::target::{Target, TargetError};
use crate::timings::Timings;

use nss::step;

pub mod addrconfig;
mod findings;
pub mod nss;
pub mod rfc6724;
mod system;

pub use addrconfig::{AddrConfig, LocalAddr};
pub use nss::files_lookup;
pub use rfc6724::{compare, label, precedence, scope, sort, Dest, Tables};

/// Errors from `resolve`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// The name does not follow the grammar.
    #[error(transparent)]
    BadName(#[from] TargetError),
    /// The snapshot lacks a part the model needs.
    #[error("cannot model the look-up without {0}")]
    Missing(#[from] MissingPart),
}

/// What the C library answered, per family (`AF_UNSPEC`, `AF_INET`, `AF_INET6`, all with
/// `AI_ADDRCONFIG`): live evidence judged beside the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LibcAnswers {
    /// `AF_UNSPEC`.
    pub unspec: Result<Vec<IpAddr>, String>,
    /// `AF_INET`.
    pub v4: Result<Vec<IpAddr>, String>,
    /// `AF_INET6`.
    pub v6: Result<Vec<IpAddr>, String>,
}

/// How `system_error` begins when the C library was not asked (the files modelled are not the
/// ones it reads here, or it is not the resolver this host's programs load).
pub const NOT_ASKED: &str = "not asked";

/// Whether a C library error says it was not asked ([`LibcAnswers::not_asked`]).
pub fn was_not_asked(error: &str) -> bool {
    error.starts_with(NOT_ASKED)
}

/// Why the C library is not asked about the files at `paths`, when it is not: it would read
/// this host's files, not those of the root the model reads (and asking it inside that root
/// would load that root's NSS modules into a process running as root); or the resolver linked
/// into this binary is not the one the host's programs load ([`Prober::foreign_resolver`]).
pub fn not_asked_reason(paths: &ResolverPaths, prober: &dyn Prober) -> Option<String> {
    if let Some(why) = prober.foreign_resolver() {
        return Some(format!("{NOT_ASKED}: {why}; the model is the answer"));
    }
    if !paths.redirected() {
        return None;
    }
    Some(match paths.root_of {
        Some(pid) => format!(
            "{NOT_ASKED}: the C library here reads this host's files, not those in the root of pid {pid} (loading that root's NSS modules as root is not done); the model is the answer"
        ),
        None => format!(
            "{NOT_ASKED}: the C library here reads /etc, not {}; the model is the answer",
            paths.hosts
        ),
    })
}

impl LibcAnswers {
    /// The C library is not asked, and why ([`not_asked_reason`]).
    pub fn not_asked(why: String) -> Self {
        LibcAnswers {
            unspec: Err(why.clone()),
            v4: Err(why.clone()),
            v6: Err(why),
        }
    }

    /// Ask the C library, through `prober`.
    pub fn ask(prober: &dyn Prober, name: &str) -> Self {
        LibcAnswers {
            unspec: prober.getaddrinfo(name, QueryFamily::Unspec, true),
            v4: prober.getaddrinfo(name, QueryFamily::V4, true),
            v6: prober.getaddrinfo(name, QueryFamily::V6, true),
        }
    }
}

/// Split `NAME[:PORT]`; the name must be an address or a host name. A final dot is kept: the
/// C library looks up exactly what was typed, and its hosts-file source does not match
/// `localhost.` to `localhost` (`getent ahosts localhost.` fails).
pub fn split_name(arg: &str) -> Result<(String, Option<u16>), ResolveError> {
    let t = crate::target::parse_host(arg)?;
    Ok(match t {
        Target::Host(name, port) => (name, port),
        other => (other.host(), other.port()),
    })
}

/// The snapshot request a look-up of `name` needs: the resolver's files at `paths`, the
/// interfaces and kernel settings, the listeners when a port is asked about; the route look-ups
/// come after, from the files ([`routes_to`]).
pub fn request(paths: &ResolverPaths, port: Option<u16>) -> Request {
    let mut parts = Parts::LINKS.with(Parts {
        resolver: true,
        ..Parts::default()
    });
    if port.is_some() {
        parts = parts.with(Parts::LISTENERS);
    }
    Request {
        parts,
        resolver_paths: paths.clone(),
        ..Request::default()
    }
}

/// Every destination the model may have to sort for `name`: what the hosts file gives it for
/// each query family.
pub fn routes_to(snap: &Snapshot, name: &str) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    if snap.os == Os::Windows && system::windows_answers_itself(name) {
        out.extend([
            IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
            IpAddr::from(std::net::Ipv4Addr::LOCALHOST),
        ]);
    }
    let Some(Ok(bytes)) = snap.resolver.ok().map(|r| r.hosts.contents.as_ref()) else {
        return out;
    };
    let (entries, _) = parse_hosts(bytes);
    for f in [QueryFamily::Unspec, QueryFamily::V4, QueryFamily::V6] {
        for (a, _) in files_lookup(&entries, name, f) {
            if !out.contains(&a) {
                out.push(a);
            }
        }
    }
    out
}

/// Capture what the model of a look-up of `name` needs ([`request`]), then the routes to what
/// the hosts file gives it ([`routes_to`]).
pub fn capture(
    sys: &dyn SystemView,
    name: &str,
    port: Option<u16>,
    paths: &ResolverPaths,
) -> Snapshot {
    let mut req = request(paths, port);
    let mut snap = crate::snapshot::capture(sys, &req);
    req.routes_to = routes_to(&snap, name);
    crate::snapshot::extend(&mut snap, sys, &req);
    snap
}

/// Capture what the model of `arg` needs, ask the C library, and judge.
pub fn run(
    sys: &dyn SystemView,
    prober: &dyn Prober,
    arg: &str,
    paths: &ResolverPaths,
    timings: &Timings,
) -> Result<ResolveReport, ResolveError> {
    let (name, port) = split_name(arg)?;
    let snap = timings.time("capture", || capture(sys, &name, port, paths));
    let libc = match not_asked_reason(paths, prober) {
        Some(why) => LibcAnswers::not_asked(why),
        None => timings.time("C library", || LibcAnswers::ask(prober, &name)),
    };
    Ok(timings.time("judge", || judge(&snap, &name, port, &libc))?)
}

/// Model the look-up of `name` on a snapshot and judge it beside the C library's answers.
pub fn judge(
    snap: &Snapshot,
    name: &str,
    port: Option<u16>,
    libc: &LibcAnswers,
) -> Result<ResolveReport, MissingPart> {
    let files = snap.resolver.get("resolver files")?;
    snap.interfaces.get("interfaces")?;
    let inp = nss::Inputs::from_snapshot(snap, files);
    if snap.os != Os::Linux {
        return judge_system(snap, files, &inp, name, port, libc);
    }
    let gai = &inp.gai;
    let mut steps = vec![step(
        StepKind::Nsswitch,
        match inp.nss.line {
            Some(l) => format!(
                "hosts: {} ({}:{l})",
                nss::source_list(&inp.nss),
                files.nsswitch.path
            ),
            None => format!(
                "hosts: {} (glibc's default: {} has no hosts line)",
                nss::source_list(&inp.nss),
                files.nsswitch.path
            ),
        },
    )];
    if gai.labels.is_some() || gai.precedence.is_some() || gai.scopes.is_some() {
        let which: Vec<&str> = [
            ("label", gai.labels.is_some()),
            ("precedence", gai.precedence.is_some()),
            ("scopev4", gai.scopes.is_some()),
        ]
        .iter()
        .filter(|(_, set)| *set)
        .map(|(n, _)| *n)
        .collect();
        steps.push(step(
            StepKind::GaiConf,
            format!(
                "{} replaces glibc's built-in {} table(s)",
                files.gai.path,
                which.join(", ")
            ),
        ));
    }
    let model = |family| nss::model(snap, &inp, name, family);
    let answers = [
        model(QueryFamily::Unspec),
        model(QueryFamily::V4),
        model(QueryFamily::V6),
    ];
    finish(snap, &inp, name, port, libc, steps, answers, "C library")
}

/// The report from the three queries' model answers (`AF_UNSPEC`, `AF_INET`, `AF_INET6`) and
/// the system's (`resolver` names it in the result step), with its findings.
#[allow(clippy::too_many_arguments)] // the parts of one report, each used once
fn finish(
    snap: &Snapshot,
    inp: &nss::Inputs,
    name: &str,
    port: Option<u16>,
    libc: &LibcAnswers,
    mut steps: Vec<loopback_model::ResolveStep>,
    [main, v4, v6]: [nss::ModelAnswer; 3],
    resolver: &str,
) -> Result<ResolveReport, MissingPart> {
    steps.extend(main.steps);
    let (system, system_error) = split(libc.unspec.clone());
    let fam = |m: nss::ModelAnswer, answer: &Result<Vec<IpAddr>, String>| {
        let (system, system_error) = split(answer.clone());
        FamilyAnswer {
            addresses: m.addresses,
            system,
            system_error,
        }
    };
    steps.push(step(
        StepKind::Result,
        format!(
            "model: {}; {resolver}: {}",
            list(&main.addresses),
            system_error.clone().unwrap_or_else(|| list(&system))
        ),
    ));
    let mut report = ResolveReport {
        version: RESOLVE_VERSION,
        name: name.to_owned(),
        unicode: crate::target::unicode_form(name),
        port,
        addresses: main.addresses,
        system,
        system_error,
        model_complete: main.complete,
        ipv4_only: fam(v4, &libc.v4),
        ipv6_only: fam(v6, &libc.v6),
        steps,
        findings: Vec::new(),
    };
    report.findings = findings::findings(snap, &report, inp)?;
    Ok(report)
}

/// [`judge`] for Windows and macOS, whose resolvers are not glibc ([`system`]).
fn judge_system(
    snap: &Snapshot,
    files: &crate::snapshot::ResolverFiles,
    inp: &nss::Inputs,
    name: &str,
    port: Option<u16>,
    libc: &LibcAnswers,
) -> Result<ResolveReport, MissingPart> {
    let steps = vec![step(
        StepKind::Source,
        match snap.os {
            Os::Windows => "the resolver modelled: Windows' DNS client (hosts file, its own localhost answer, then DNS)",
            _ => "the resolver modelled: macOS's mDNSResponder (/etc/hosts, then the resolvers of scutil --dns)",
        },
    )];
    let model = |family| system::model(snap, inp, files, name, family);
    let answers = [
        model(QueryFamily::Unspec),
        model(QueryFamily::V4),
        model(QueryFamily::V6),
    ];
    finish(
        snap,
        inp,
        name,
        port,
        libc,
        steps,
        answers,
        "system resolver",
    )
}

fn split(r: Result<Vec<IpAddr>, String>) -> (Vec<IpAddr>, Option<String>) {
    match r {
        Ok(v) => (v, None),
        Err(e) => (Vec::new(), Some(e)),
    }
}

/// Addresses as a comma-separated list, or `nothing`.
pub(crate) fn list(v: &[IpAddr]) -> String {
    if v.is_empty() {
        "nothing".into()
    } else {
        v.iter()
            .map(IpAddr::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            split_name("localhost:3000").ok(),
            Some(("localhost".into(), Some(3000)))
        );
        // Regression: the final dot was dropped before asking the C library, which then
        // answered for another name.
        assert_eq!(
            split_name("svc.test.").ok(),
            Some(("svc.test.".into(), None))
        );
        assert!(split_name("a b").is_err());
        assert!(split_name("x:0").is_err());
        assert!(
            split_name("-bad.test").is_err(),
            "the same host-name rule as explain"
        );
        assert!(split_name("svc.test:http").is_err());
        assert_eq!(split_name("::1").ok(), Some(("::1".into(), None)));
    }
}
