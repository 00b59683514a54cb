//! `names verify`: for each managed name, the addresses each client would try, and whether
//! the first is the planned one. A pure function of a snapshot (the resolver's files, the
//! interfaces).
//!
//! What the profiles rest on (checked against the real programs by `tests/it/names.rs`, in a
//! namespace whose hosts file the test writes, with a listener on each candidate address):
//! - glibc: the resolver model (`resolve`): `nsswitch.conf`'s order, the hosts file exactly;
//!   for sources it does not model, what their documentation says (`myhostname` and
//!   systemd-resolved answer `*.localhost` themselves), said as a hypothesis.
//! - Python (`socket.getaddrinfo`) and Node.js (`dns.lookup`) ask glibc.
//! - Go 1.19 reads the hosts file itself when `hosts:` holds only `files`, `dns` and
//!   `myhostname` (for a name that is not a localhost name); otherwise it asks glibc.
//! - curl (7.88 here) answers `localhost` and `*.localhost` itself with 127.0.0.1 then ::1,
//!   never reading the hosts file; other names come from glibc.
//! - Chromium and Firefox: by their documentation, `*.localhost` goes to loopback whatever the
//!   hosts file says, and other names go through the system resolver; not tested here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use loopback_model::names::{
    ClientAnswer, NameCheck, NameClient, NameFinding, NameFindingCode, NamesVerifyReport,
    NAMES_VERSION,
};
use loopback_model::Os;
use loopback_sys::parse::hosts::HostsEntry;
use loopback_sys::parse::nsswitch::{parse_nsswitch_hosts, HostsLine};
use loopback_sys::{QueryFamily, SystemView};

use super::NamesError;
use crate::probe::{must_be_loopback, own_addresses};
use crate::resolve::nss::source_list;
use crate::resolve::{files_lookup, LibcAnswers, NOT_ASKED};
use crate::snapshot::{Part, Parts, Request, ResolverPaths, Snapshot};
use crate::timings::Timings;
use loopback_sys::hostsfile::LockedHostsFile;

/// What nss-myhostname and systemd-resolved answer a localhost name with, in glibc's order.
fn synthesized() -> Vec<IpAddr> {
    vec![
        IpAddr::V6(Ipv6Addr::LOCALHOST),
        IpAddr::V4(Ipv4Addr::LOCALHOST),
    ]
}

/// The C library's (or on Windows and macOS the system resolver's) answer: addresses, why,
/// and whether the model covers it.
struct Resolver {
    addresses: Vec<IpAddr>,
    because: String,
    sure: bool,
}

fn hosts_hits(entries: &[HostsEntry], name: &str) -> (Vec<IpAddr>, Vec<usize>) {
    let hits = files_lookup(entries, name, QueryFamily::Unspec);
    let mut addrs: Vec<IpAddr> = Vec::new();
    for (a, _) in &hits {
        if !addrs.contains(a) {
            addrs.push(*a);
        }
    }
    (addrs, hits.iter().map(|(_, e)| e.line).collect())
}

fn lines_text(lines: &[usize]) -> String {
    lines
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// glibc's answer where the model stops at a source it does not query: what `myhostname` and
/// systemd-resolved are documented to do with localhost names, the hosts file otherwise.
fn walk_sources(nss: &HostsLine, entries: &[HostsEntry], name: &str, path: &str) -> Resolver {
    for src in &nss.sources {
        match src.name.as_str() {
            "files" => {
                let (addrs, lines) = hosts_hits(entries, name);
                if !addrs.is_empty() {
                    return Resolver {
                        addresses: addrs,
                        because: format!("`files` answers from {path} line {}", lines_text(&lines)),
                        sure: true,
                    };
                }
                if src.returns_on_notfound() {
                    break;
                }
            }
            "myhostname" if must_be_loopback(name) => {
                return Resolver {
                    addresses: synthesized(),
                    because: "`myhostname` comes before `files` and answers *.localhost itself with ::1 and 127.0.0.1 (its documentation; not tested here)".into(),
                    sure: false,
                };
            }
            "myhostname" => {}
            "resolve" => {
                let (addrs, lines) = hosts_hits(entries, name);
                return if must_be_loopback(name) {
                    Resolver {
                        addresses: synthesized(),
                        because: "`resolve` (systemd-resolved) comes before `files` and answers *.localhost itself (its documentation; not tested here)".into(),
                        sure: false,
                    }
                } else {
                    Resolver {
                        because: format!(
                            "`resolve` (systemd-resolved) comes first; it reads {path} too (line {}; its documentation, not tested here)",
                            lines_text(&lines)
                        ),
                        addresses: addrs,
                        sure: false,
                    }
                };
            }
            other => {
                return Resolver {
                    addresses: Vec::new(),
                    because: format!(
                        "`{other}` is asked before the hosts file answers: not predicted"
                    ),
                    sure: false,
                }
            }
        }
    }
    Resolver {
        addresses: Vec::new(),
        because: format!("no source of `hosts: {}` answers it", source_list(nss)),
        sure: true,
    }
}

fn resolver(
    snap: &Snapshot,
    name: &str,
    entries: &[HostsEntry],
    nss: &HostsLine,
    path: &str,
) -> Resolver {
    let not_asked = LibcAnswers::not_asked(format!("{NOT_ASKED}: names verify predicts"));
    match crate::resolve::judge(snap, name, None, &not_asked) {
        Ok(r) if r.model_complete => {
            let (_, lines) = hosts_hits(entries, name);
            let because = if snap.os == Os::Linux {
                format!(
                    "`hosts: {}`: `files` answers from {path} line {}",
                    source_list(nss),
                    lines_text(&lines)
                )
            } else {
                format!(
                    "the system resolver answers from {path} line {}",
                    lines_text(&lines)
                )
            };
            Resolver {
                addresses: r.addresses,
                because,
                sure: true,
            }
        }
        _ if snap.os == Os::Linux => walk_sources(nss, entries, name, path),
        _ => Resolver {
            addresses: Vec::new(),
            because: "the system resolver's answer is not modelled here".into(),
            sure: false,
        },
    }
}

/// Whether Go 1.19 reads the hosts file itself for `name` (its `hostLookupOrder`): only
/// `files`, `dns` and (for names other than localhost names) `myhostname` in `hosts:`.
fn go_reads_hosts_itself(nss: &HostsLine, name: &str) -> bool {
    nss.sources.iter().any(|s| s.name == "files")
        && nss.sources.iter().all(|s| match s.name.as_str() {
            "files" | "dns" => true,
            "myhostname" => !must_be_loopback(name),
            _ => false,
        })
}

fn answer(
    client: NameClient,
    addresses: Vec<IpAddr>,
    planned: IpAddr,
    because: String,
    tested: bool,
) -> ClientAnswer {
    ClientAnswer {
        client,
        agrees: addresses.first() == Some(&planned),
        addresses,
        because,
        tested,
    }
}

/// Every client's answer for `name` planned on `planned`.
fn clients(
    snap: &Snapshot,
    name: &str,
    planned: IpAddr,
    entries: &[HostsEntry],
    nss: &HostsLine,
    path: &str,
) -> Vec<ClientAnswer> {
    let linux = snap.os == Os::Linux;
    let r = resolver(snap, name, entries, nss, path);
    let (resolver_id, resolver_name) = if linux {
        (NameClient::Glibc, "glibc")
    } else {
        (NameClient::System, "the system resolver")
    };
    let via = |what: &str| format!("{what} asks {resolver_name}: the same answer");
    let own = own_addresses(name);
    let mut out = vec![answer(
        resolver_id,
        r.addresses.clone(),
        planned,
        r.because.clone(),
        linux && r.sure,
    )];
    let lh = must_be_loopback(name);
    out.push(if lh {
        answer(
            NameClient::Curl,
            own.clone(),
            planned,
            "curl answers *.localhost itself with 127.0.0.1 then ::1 and never reads the hosts file (RFC 6761; seen with curl 7.88)".into(),
            linux,
        )
    } else {
        answer(NameClient::Curl, r.addresses.clone(), planned, via("curl"), linux && r.sure)
    });
    out.push(answer(
        NameClient::Python,
        r.addresses.clone(),
        planned,
        via("socket.getaddrinfo"),
        linux && r.sure,
    ));
    let go = if linux && go_reads_hosts_itself(nss, name) {
        let (addrs, lines) = hosts_hits(entries, name);
        answer(
            NameClient::Go,
            addrs,
            planned,
            format!(
                "Go's own resolver reads {path} itself for `hosts: {}` (line {})",
                source_list(nss),
                lines_text(&lines)
            ),
            true,
        )
    } else {
        answer(
            NameClient::Go,
            r.addresses.clone(),
            planned,
            via("Go"),
            linux && r.sure,
        )
    };
    out.push(go);
    out.push(answer(
        NameClient::Node,
        r.addresses.clone(),
        planned,
        via("dns.lookup"),
        linux && r.sure,
    ));
    for (id, browser) in [
        (NameClient::Chromium, "Chromium"),
        (NameClient::Firefox, "Firefox"),
    ] {
        out.push(if lh {
            answer(
                id,
                own.clone(),
                planned,
                format!("{browser} answers *.localhost with loopback itself and never reads the hosts file (its documentation; not tested here)"),
                false,
            )
        } else {
            answer(
                id,
                r.addresses.clone(),
                planned,
                format!("{browser} asks the system resolver (its documentation; not tested here; a DNS-over-HTTPS-only setting would skip the hosts file)"),
                false,
            )
        });
    }
    out
}

fn findings(
    snap: &Snapshot,
    name: &str,
    planned: IpAddr,
    assigned: Option<bool>,
    clients: &[ClientAnswer],
    outside: &[HostsEntry],
    path: &str,
) -> Vec<NameFinding> {
    let mut out = Vec::new();
    if must_be_loopback(name) && planned != IpAddr::V4(Ipv4Addr::LOCALHOST) {
        out.push(NameFinding {
            code: NameFindingCode::LocalhostName,
            message: format!("{name} is a .localhost name: RFC 6761 clients (curl, Chromium, Firefox) answer it with 127.0.0.1 and ::1 themselves, never reading the hosts file, so they reach 127.0.0.1, not {planned}"),
            fix: Some(format!(
                "use a .test or .internal name instead (`loopback names remove {name}` then `loopback names add {}`), or keep {name} on 127.0.0.1 with a port of its own",
                name.trim_end_matches(".localhost").to_owned() + ".test"
            )),
        });
    }
    let wrong: Vec<&str> = clients
        .iter()
        .filter(|c| !c.agrees)
        .map(|c| c.client.as_str())
        .collect();
    if !wrong.is_empty() {
        out.push(NameFinding {
            code: NameFindingCode::ClientDisagrees,
            message: format!("{} would not try {planned} first", wrong.join(", ")),
            fix: None,
        });
    }
    for e in outside {
        out.push(NameFinding {
            code: NameFindingCode::MappedOutside,
            message: format!(
                "line {} of {path} maps {name} too ({} {}), outside the managed block",
                e.line,
                e.address,
                e.names.join(" ")
            ),
            fix: Some(format!("remove {name} from line {} by hand", e.line)),
        });
    }
    if assigned == Some(false) {
        out.push(NameFinding {
            code: NameFindingCode::NotAssigned,
            message: format!("{planned} is not assigned to a loopback interface: servers cannot bind it and clients cannot connect to it"),
            fix: Some(match snap.os {
                Os::Macos => format!("ifconfig lo0 alias {planned} up"),
                _ => "ip address add 127.0.0.1/8 dev lo".to_owned(),
            }),
        });
    }
    out
}

/// Judge `names verify` on a snapshot that holds the resolver's files (the hosts file at
/// `path`) and the interfaces. `wanted` empty: every managed name. `clients_read_it`: whether
/// the clients read this hosts file (false for a `--hosts-file` that is not the system's).
pub fn judge_verify(
    snap: &Snapshot,
    wanted: &[String],
    clients_read_it: bool,
) -> Result<NamesVerifyReport, NamesError> {
    let files = snap
        .resolver
        .get("resolver files")
        .map_err(|e| NamesError::Read {
            path: "the resolver's files".into(),
            why: e.to_string(),
        })?;
    let path = files.hosts.path.clone();
    let bytes = files
        .hosts
        .contents
        .as_ref()
        .map_err(|e| NamesError::Read {
            path: path.clone(),
            why: e.clone(),
        })?;
    let layout = super::layout(bytes, &path)?;
    let entries = layout.all_entries();
    let nss = match &files.nsswitch.contents {
        Ok(b) => parse_nsswitch_hosts(b),
        Err(_) => parse_nsswitch_hosts(b""),
    };
    let managed = super::managed_in(&layout);
    let mut chosen = Vec::new();
    if wanted.is_empty() {
        chosen = managed.clone();
    } else {
        for w in wanted {
            let w = w.trim().to_ascii_lowercase();
            match managed.iter().find(|m| m.name == w) {
                Some(m) => chosen.push(m.clone()),
                None => {
                    return Err(NamesError::NotManaged {
                        hint: match layout.outside(&w).first() {
                            Some(o) => format!(" (line {} maps it, outside the block; `loopback resolve {w}` explains it)", o.line),
                            None => String::new(),
                        },
                        name: w,
                        path,
                    })
                }
            }
        }
    }
    let names = chosen
        .into_iter()
        .map(|m| {
            let assigned = super::assigned(snap, m.address);
            let clients = clients(snap, &m.name, m.address, entries, &nss, &path);
            let outside = layout.outside(&m.name);
            NameCheck {
                findings: findings(
                    snap, &m.name, m.address, assigned, &clients, &outside, &path,
                ),
                name: m.name,
                address: m.address,
                assigned,
                clients,
            }
        })
        .collect();
    let mut notes = Vec::new();
    if !clients_read_it {
        notes.push(format!("the clients here read the system's hosts file, not {path}: this says what they would get were it theirs"));
    }
    Ok(NamesVerifyReport {
        version: NAMES_VERSION,
        hosts_file: path,
        names,
        notes,
    })
}

/// Capture what `names verify` judges (the resolver's files with the hosts file at `path`,
/// the interfaces) and judge.
pub fn verify(
    sys: &dyn SystemView,
    path: &str,
    wanted: &[String],
    clients_read_it: bool,
    timings: &Timings,
) -> Result<NamesVerifyReport, NamesError> {
    let req = Request {
        parts: Parts::LINKS.with(Parts {
            resolver: true,
            ..Parts::default()
        }),
        resolver_paths: ResolverPaths {
            hosts: path.to_owned(),
            ..ResolverPaths::default()
        },
        ..Request::default()
    };
    let mut snap = timings.time("capture", || crate::snapshot::capture(sys, &req));
    // The resolver's reader stops at 1 MiB, which a blocklist passes; the file `names`
    // edits is read as `add` and `list` read it (up to MAX_EDIT_BYTES), so that every name
    // `list` shows can be verified.
    if let Part::Captured(files) = &mut snap.resolver {
        if files.hosts.contents.is_err() {
            let file = LockedHostsFile::open(std::path::Path::new(path))?;
            files.hosts.contents = Ok(file.bytes().to_vec());
        }
    }
    timings.time("judge", || judge_verify(&snap, wanted, clients_read_it))
}
