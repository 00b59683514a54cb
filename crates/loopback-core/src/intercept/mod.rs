//! `loopback intercept`: where a local TCP connection really goes when rules divert it.
//!
//! For each address of the destination, [`judge`] follows the kernel's order for a packet a
//! local socket sends: the route first chosen (which names the output interface), the output
//! hook (mangle chains that set marks, NAT chains that REDIRECT or DNAT, the filter; through
//! `exposure`'s evaluator, which reads nftables and iptables alike), then the route the
//! kernel takes for the packet as it leaves the hook, asked of the kernel itself
//! (`RTM_GETROUTE` with the socket's uid and mark), and the `ip rule` that chose its table.
//! A destination that ends on this host is joined to the listener that receives it.
//! [`mechanisms`] lists every rule that diverts local traffic, without a destination.
//!
//! The route answers come in through a closure (the kernel's, or a test's), the rest from a
//! snapshot: the judgment reads nothing else.

use std::net::IpAddr;

use loopback_model::intercept::{
    InterceptClient, InterceptPath, InterceptReach, InterceptReport, InterceptStep,
    InterceptStepKind, Mechanism, PathVerdict, INTERCEPT_VERSION,
};
use loopback_model::Proto;
use loopback_sys::routing::{
    CgroupProgram, PolicyRule, RouteAnswer, RouteKind, RuleVerdict, SockAddrHook,
};
use loopback_sys::{Prober, SystemView};

use crate::exposure::eval::{LocalSender, Packet};
use crate::exposure::rules::{Action, Hook};
use crate::exposure::{describe, output_hook, ruleset_of, Filter, OutputEnd};
use crate::snapshot::{capture, Parts, Request, Snapshot};
use crate::timings::Timings;

pub mod proxy;

/// A route question: destination, socket owner, mark.
pub type RouteQuery = (IpAddr, Option<u32>, u32);

/// Why `intercept` could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InterceptError {
    /// The destination is not `HOST:PORT` or a URL.
    #[error("{0}")]
    Target(String),
    /// The name did not resolve.
    #[error("{name} does not resolve: {why}")]
    Resolve {
        /// The name.
        name: String,
        /// Why.
        why: String,
    },
}

/// The parts a trace reads.
pub const PARTS: Parts = Parts {
    sockets: true,
    owners: true,
    service_files: false,
    interfaces: true,
    kernel: true,
    routes: false,
    resolver: false,
    firewall: true,
    held: false,
};

/// The URL a destination names, for the proxy profiles: scheme and host as typed.
fn url_of(dest: &str) -> Option<(&'static str, String)> {
    let lower = dest.trim().to_ascii_lowercase();
    let (scheme, rest) = if let Some(r) = lower.strip_prefix("http://") {
        ("http", r)
    } else {
        ("https", lower.strip_prefix("https://")?)
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let host = match authority.strip_prefix('[') {
        Some(r) => r.split(']').next().unwrap_or("").to_owned(),
        None => authority.split(':').next().unwrap_or("").to_owned(),
    };
    Some((scheme, host))
}

/// Trace `dest` (or, without one, list the mechanisms) for a client of `uid` whose
/// environment is `env` (its proxy variables, for an http(s) URL).
pub fn run(
    sys: &dyn SystemView,
    prober: &dyn Prober,
    dest: Option<&str>,
    client: InterceptClient,
    env: &proxy::Env,
    timings: &Timings,
) -> Result<InterceptReport, InterceptError> {
    let targets = match dest {
        Some(d) => {
            let t =
                crate::target::parse_probe(d).map_err(|e| InterceptError::Target(e.to_string()))?;
            let addrs = match &t.target {
                crate::target::Target::Addr(ip, _) => vec![*ip],
                crate::target::Target::Host(name, _) => crate::target::resolve_all(prober, name)
                    .map_err(|why| InterceptError::Resolve {
                        name: name.clone(),
                        why,
                    })?,
                other => {
                    return Err(InterceptError::Target(format!(
                        "{d}: {} is not one destination",
                        other.host()
                    )))
                }
            };
            addrs.into_iter().map(|a| (a, t.port)).collect()
        }
        None => Vec::new(),
    };
    let snap = timings.time("capture", || capture(sys, &Request::of(PARTS)));
    let rules = timings.time("rules", || sys.policy_rules().map_err(|e| e.to_string()));
    let cgroup = client
        .cgroup
        .clone()
        .or_else(|| sys.process(std::process::id()).ok().and_then(|p| p.cgroup));
    let programs = timings.time("bpf", || match &cgroup {
        Some(c) => sys.cgroup_programs(c).map_err(|e| e.to_string()),
        None => Err("the client's control group is not known".into()),
    });
    let mut ask = |q: RouteQuery| sys.route_get(q.0, q.1, q.2).map_err(|e| e.to_string());
    let mut report = timings.time("judge", || {
        judge(
            &snap,
            &Inputs {
                rules: &rules,
                programs: &programs,
            },
            dest.unwrap_or(""),
            &targets,
            client,
            &mut ask,
        )
    });
    if let Some((scheme, host)) = dest.and_then(url_of) {
        for p in &mut report.paths {
            p.proxy = proxy::choices(env, scheme, &host, p.port);
        }
    }
    if dest.is_none() {
        // The devices each policy rule's table leads to (a tun, a wireguard device).
        if let Ok(tables) = sys.table_devices() {
            for m in &mut report.mechanisms {
                if m.kind != InterceptStepKind::Route {
                    continue;
                }
                let Some(t) = m.to.strip_prefix("table ").map(str::to_owned) else {
                    continue;
                };
                let id = match t.as_str() {
                    "main" => 254,
                    "local" => 255,
                    "default" => 253,
                    n => n.parse().unwrap_or(0),
                };
                let devs: Vec<String> = tables
                    .get(&id)
                    .map(|v| {
                        v.iter()
                            .map(|i| interface_name(&snap, Some(*i)).unwrap_or_default())
                            .collect()
                    })
                    .unwrap_or_default();
                m.to = if devs.is_empty() {
                    format!("table {t} (no route in it)")
                } else {
                    format!("table {t} (dev {})", devs.join(", "))
                };
            }
        }
        // Every cgroup's socket-address programs, not only the client's.
        match sys.all_cgroup_programs() {
            Ok(all) => {
                report
                    .mechanisms
                    .retain(|m| m.kind != InterceptStepKind::Bpf);
                report.mechanisms.extend(self::programs(&Ok(all)));
            }
            Err(e) => report.warnings.push(format!(
                "the cgroup BPF programs of the host could not be listed: {e}"
            )),
        }
        // The proxy settings of this namespace's processes, read as root could.
        let current = sys.current_netns();
        let pids: Vec<u32> = sys
            .namespaces()
            .namespaces
            .into_iter()
            .filter(|n| Some(n.inode) == current || n.current)
            .flat_map(|n| n.pids)
            .collect();
        let envs: Vec<Vec<(String, String)>> = timings.time("environments", || {
            pids.iter()
                .filter_map(|p| sys.process_environ(*p).ok())
                .collect()
        });
        for (setting, n) in proxy::settings(&envs) {
            report.mechanisms.push(Mechanism {
                kind: InterceptStepKind::Proxy,
                rule: setting,
                origin: format!(
                    "the environment of {n} process{}",
                    if n == 1 { "" } else { "es" }
                ),
                to: "the proxy named, for the clients that read these variables".into(),
            });
        }
    }
    Ok(report)
}

/// What a trace reads besides the snapshot: the policy rules and the BPF programs of the
/// client's cgroup and its ancestors, each as read or why not.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    /// `ip rule`.
    pub rules: &'a Result<Vec<PolicyRule>, String>,
    /// The cgroup BPF programs.
    pub programs: &'a Result<Vec<CgroupProgram>, String>,
}

/// The report for `targets`, from the snapshot, the policy rules, the cgroup programs and the
/// kernel's route answers (through `route`).
pub fn judge(
    snap: &Snapshot,
    inputs: &Inputs<'_>,
    target: &str,
    targets: &[(IpAddr, u16)],
    client: InterceptClient,
    route: &mut dyn FnMut(RouteQuery) -> Result<RouteAnswer, String>,
) -> InterceptReport {
    let rules = inputs.rules;
    let filter = ruleset_of(&snap.firewall);
    let mut warnings = Vec::new();
    if let Err(why) = inputs.programs {
        warnings.push(format!(
            "the client's cgroup BPF programs could not be listed ({why}; bpftool and \
             CAP_SYS_ADMIN list them): a connect4/connect6 program would rewrite destinations \
             unseen, so no path is called direct"
        ));
    }
    if let Some(why) = &filter.incomplete {
        warnings.push(format!(
            "{why}: a rule that diverts traffic may be missing, so no path is called direct"
        ));
    }
    if let Err(why) = rules {
        warnings.push(format!("the policy routing rules could not be read: {why}"));
    }
    let paths = targets
        .iter()
        .map(|(a, p)| {
            let mut path = trace(snap, &filter, rules, *a, *p, client.uid, route);
            bpf(&mut path, inputs.programs);
            path
        })
        .collect();
    InterceptReport {
        version: INTERCEPT_VERSION,
        target: target.to_owned(),
        client,
        paths,
        mechanisms: {
            let mut m = mechanisms(&filter, rules);
            m.extend(programs(inputs.programs));
            m
        },
        warnings,
    }
}

fn interface_name(snap: &Snapshot, index: Option<u32>) -> Option<String> {
    let i = index?;
    snap.interface_list()
        .iter()
        .find(|x| x.index == i)
        .map(|x| x.name.clone())
        .or_else(|| Some(format!("ifindex {i}")))
}

/// The tables every system has: `local`, `main`, `default`.
fn default_table(t: u32) -> bool {
    matches!(t, 253..=255)
}

/// The first rule of the family, in priority order, that a packet from a socket of `uid`
/// with `mark` to `dest` matches and that leads to `table`. Rules with a source prefix, an
/// interface other than `lo` or a goto are passed over (not modelled).
fn chosen_rule(
    rules: &[PolicyRule],
    dest: IpAddr,
    uid: Option<u32>,
    mark: u32,
    table: u32,
) -> Option<&PolicyRule> {
    rules.iter().filter(|r| r.v4 == dest.is_ipv4()).find(|r| {
        let mut ok = r.from.is_none_or(|(a, l)| l == 0 && a.is_unspecified());
        if let Some((a, l)) = r.to {
            ok &= ipnet::IpNet::new(a, l).is_ok_and(|n| n.contains(&dest));
        }
        if let Some((v, m)) = r.fwmark {
            ok &= mark & m == v;
        }
        if let Some((lo, hi)) = r.uidrange {
            ok &= uid.is_some_and(|u| (lo..=hi).contains(&u));
        }
        // Locally generated packets are looked up with the loopback device as their input.
        ok &= r.iif.as_deref().is_none_or(|i| i == "lo");
        ok &= r.oif.is_none();
        ok != r.invert && (r.verdict != RuleVerdict::Table || r.table == table)
    })
}

fn route_text(snap: &Snapshot, a: &RouteAnswer) -> String {
    let table = loopback_sys::routing::table_name(a.table);
    let dev = interface_name(snap, a.oif).unwrap_or_else(|| "no device".into());
    match a.kind {
        RouteKind::Local => format!("table {table}: local, delivered on this host"),
        RouteKind::Unicast => match a.gateway {
            Some(g) => format!("table {table}: via {g} dev {dev}"),
            None => format!("table {table}: dev {dev}"),
        },
        k => format!("table {table}: {k:?}").to_lowercase(),
    }
}

/// One address: the steps, the verdict, the receiver.
fn trace(
    snap: &Snapshot,
    filter: &Filter,
    rules: &Result<Vec<PolicyRule>, String>,
    address: IpAddr,
    port: u16,
    uid: Option<u32>,
    route: &mut dyn FnMut(RouteQuery) -> Result<RouteAnswer, String>,
) -> InterceptPath {
    let mut path = InterceptPath {
        address,
        port,
        verdict: PathVerdict::Direct,
        interface: None,
        steps: Vec::new(),
        reaches: None,
        proxy: Vec::new(),
        notes: Vec::new(),
    };
    let first = route((address, uid, 0));
    let oif = first
        .as_ref()
        .ok()
        .and_then(|a| interface_name(snap, a.oif));
    let pkt = Packet {
        v4: crate::classify::unmap(address).is_ipv4(),
        iif: String::new(),
        oif: oif.clone(),
        daddr: address,
        proto: Proto::Tcp,
        dport: port,
        dnat: false,
        local: Some(LocalSender { uid, mark: 0 }),
    };
    let ends = output_hook(filter, snap.interface_list(), pkt.clone());
    // The rules may split the walk on what they cannot tell; the first end that passes is
    // the path, and any unknown end makes the verdict unknown.
    let mut unknown = None;
    let mut passed = None;
    for e in ends {
        match e {
            OutputEnd::Passed {
                pkt, marks, nat, ..
            } if passed.is_none() => {
                passed = Some((pkt, marks, nat));
            }
            OutputEnd::Dropped(r) => path.notes.push(format!("dropped by {}", describe(&r))),
            OutputEnd::Unknown(r, why) => {
                unknown = Some(match r {
                    Some(r) => format!("{}: {why}", describe(&r)),
                    None => why,
                });
            }
            OutputEnd::Passed { .. } => {}
        }
    }
    let Some((out, marks, nat)) = passed else {
        path.verdict = PathVerdict::Unknown;
        path.notes.extend(unknown);
        return path;
    };
    let mark = out.local.map_or(0, |l| l.mark);
    for r in &marks {
        path.steps.push(InterceptStep {
            kind: InterceptStepKind::Mark,
            rule: describe(r),
            to: format!("mark {mark:#x}"),
        });
    }
    if let Some(r) = &nat {
        path.steps.push(InterceptStep {
            kind: InterceptStepKind::Nat,
            rule: describe(r),
            to: std::net::SocketAddr::new(out.daddr, out.dport).to_string(),
        });
    }
    let final_route = route((out.daddr, uid, mark));
    match &final_route {
        Ok(a) => {
            let chose = rules
                .as_ref()
                .ok()
                .and_then(|rs| chosen_rule(rs, out.daddr, uid, mark, a.table));
            let rule = match chose {
                Some(r) => format!("ip rule {}: {}", r.priority, r.text()),
                None => "ip rule: not matched here".to_owned(),
            };
            path.interface = interface_name(snap, a.oif);
            path.steps.push(InterceptStep {
                kind: InterceptStepKind::Route,
                rule,
                to: route_text(snap, a),
            });
            if !default_table(a.table) && a.kind != RouteKind::Local {
                path.verdict = PathVerdict::Tunneled;
            }
            if matches!(
                a.kind,
                RouteKind::Blackhole | RouteKind::Unreachable | RouteKind::Prohibit
            ) {
                path.notes
                    .push(format!("the route refuses it: {}", route_text(snap, a)));
            }
        }
        Err(why) => {
            path.verdict = PathVerdict::Unknown;
            path.notes
                .push(format!("the kernel's route could not be asked: {why}"));
        }
    }
    let moved = out.daddr != address || out.dport != port;
    if moved {
        path.verdict = PathVerdict::Redirected;
    }
    let local = final_route
        .as_ref()
        .is_ok_and(|a| a.kind == RouteKind::Local);
    let mut end = (out.daddr, out.dport);
    if local {
        // Delivered here: back in through the loopback device, where prerouting's TPROXY
        // rules may hand it to a transparent proxy.
        for e in crate::exposure::looped_prerouting(filter, snap.interface_list(), out.clone()) {
            match e {
                OutputEnd::Passed {
                    pkt,
                    tproxy: Some(r),
                    ..
                } => {
                    path.steps.push(InterceptStep {
                        kind: InterceptStepKind::Tproxy,
                        rule: describe(&r),
                        to: std::net::SocketAddr::new(pkt.daddr, pkt.dport).to_string(),
                    });
                    path.verdict = PathVerdict::Redirected;
                    end = (pkt.daddr, pkt.dport);
                    break;
                }
                OutputEnd::Passed { .. } => break,
                OutputEnd::Dropped(r) => path
                    .notes
                    .push(format!("dropped on the way in by {}", describe(&r))),
                OutputEnd::Unknown(r, why) => path.notes.push(format!(
                    "the way in may differ: {}",
                    r.map_or(why.clone(), |r| format!("{}: {why}", describe(&r)))
                )),
            }
        }
        path.reaches = Some(receiver(snap, end.0, end.1));
    }
    if let Some(why) = unknown {
        path.notes.push(format!(
            "another way through the rules is not modelled: {why}"
        ));
        if path.verdict == PathVerdict::Direct {
            path.verdict = PathVerdict::Unknown;
        }
    }
    if filter.incomplete.is_some() && path.verdict == PathVerdict::Direct {
        path.verdict = PathVerdict::Unknown;
        path.notes
            .push("the packet filter could not be read whole: not claimed direct".into());
    }
    path
}

/// The connect hook of the path's family, and the programs on it: listed, not evaluated.
fn bpf(path: &mut InterceptPath, programs: &Result<Vec<CgroupProgram>, String>) {
    let hook = if crate::classify::unmap(path.address).is_ipv4() {
        SockAddrHook::Connect4
    } else {
        SockAddrHook::Connect6
    };
    match programs {
        Ok(list) => {
            for p in list.iter().filter(|p| p.hook == hook) {
                path.steps.insert(
                    0,
                    InterceptStep {
                        kind: InterceptStepKind::Bpf,
                        rule: program_text(p),
                        to: "may rewrite the destination before any rule sees it; not evaluated"
                            .into(),
                    },
                );
                if path.verdict == PathVerdict::Direct {
                    path.verdict = PathVerdict::Unknown;
                }
            }
        }
        Err(_) => {
            if path.verdict == PathVerdict::Direct {
                path.verdict = PathVerdict::Unknown;
                path.notes
                    .push("the cgroup BPF programs could not be listed: not claimed direct".into());
            }
        }
    }
}

fn program_text(p: &CgroupProgram) -> String {
    format!(
        "bpf prog id {} name {} ({} on cgroup {})",
        p.id, p.name, p.attach_type, p.cgroup
    )
}

/// The socket-address programs of the client's cgroups, as mechanisms.
fn programs(programs: &Result<Vec<CgroupProgram>, String>) -> Vec<Mechanism> {
    let Ok(list) = programs else {
        return Vec::new();
    };
    list.iter()
        .filter(|p| p.hook != SockAddrHook::Other)
        .map(|p| Mechanism {
            kind: InterceptStepKind::Bpf,
            rule: program_text(p),
            origin: format!("cgroup {}", p.cgroup),
            to: "may rewrite destinations; not evaluated".into(),
        })
        .collect()
}

/// The listener at `address:port` on this host, or that nothing listens there.
fn receiver(snap: &Snapshot, address: IpAddr, port: u16) -> InterceptReach {
    let holders: Vec<_> = crate::bind::listeners_at(snap, Proto::Tcp, address, port);
    InterceptReach {
        address,
        port,
        listening: !holders.is_empty(),
        owners: holders.into_iter().flat_map(|h| h.owners).collect(),
    }
}

/// The NAT rules of the output hook that can rewrite a connection to a loopback address:
/// those with no destination match that leaves 127.0.0.0/8 and ::1 out, and no output
/// interface match other than the loopback device.
pub fn loopback_nat(filter: &Filter) -> Vec<Mechanism> {
    use crate::exposure::rules::Cond;
    let lo: [IpAddr; 2] = [
        IpAddr::from([127, 0, 0, 1]),
        IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
    ];
    let rs = &filter.rules;
    let mut keep = std::collections::HashSet::new();
    for chain in &rs.chains {
        if chain.base.as_ref().is_none_or(|b| b.hook != Hook::Output) {
            continue;
        }
        for r in &chain.rules {
            let may = r.conds.iter().all(|c| match c {
                Cond::Daddr(nets, neg) => lo
                    .iter()
                    .any(|a| nets.iter().any(|n| n.contains(a)) != *neg),
                Cond::Oif(pats, neg) => pats.iter().any(|p| p.matches("lo")) != *neg,
                Cond::DaddrLocal(neg) => !*neg,
                _ => true,
            });
            if may && matches!(r.action, Action::Redirect { .. } | Action::Dnat { .. }) {
                let handle = r
                    .handle
                    .map(|h| format!(" (handle {h})"))
                    .unwrap_or_default();
                keep.insert(format!("{}{handle}", r.text));
            }
        }
    }
    mechanisms(filter, &Ok(Vec::new()))
        .into_iter()
        .filter(|m| m.kind == InterceptStepKind::Nat && keep.contains(&m.rule))
        .collect()
}

/// Give each listener the NAT rules of the output hook that send this host's connections to
/// it (`Listener::receives`): a REDIRECT to its port when it accepts the loopback address of
/// the rule's family, a DNAT to an address and port it accepts. A rule that keeps the port
/// (`redirect` without one) names no receiver and is not joined.
pub fn mark_receivers(
    filter: &Filter,
    links: &crate::scope::Links,
    listeners: &mut [loopback_model::Listener],
) {
    let rs = &filter.rules;
    for chain in &rs.chains {
        if chain.base.as_ref().is_none_or(|b| b.hook != Hook::Output) {
            continue;
        }
        for r in &chain.rules {
            let targets: Vec<(IpAddr, u16)> = match &r.action {
                Action::Redirect { port: Some(p) } => {
                    let mut t = Vec::new();
                    if chain.v4 {
                        t.push((IpAddr::from([127, 0, 0, 1]), *p));
                    }
                    if chain.v6 {
                        t.push((std::net::Ipv6Addr::LOCALHOST.into(), *p));
                    }
                    t
                }
                Action::Dnat {
                    addr: Some(a),
                    port: Some(p),
                } => vec![(*a, *p)],
                _ => continue,
            };
            let o = &rs.origins[chain.origin];
            let handle = r
                .handle
                .map(|h| format!(" (handle {h})"))
                .unwrap_or_default();
            let text = format!(
                "{} {} {} {}: {}{handle}",
                o.tool, o.family, o.table, chain.name, r.text
            );
            for l in listeners.iter_mut() {
                let hit = targets.iter().any(|(a, p)| {
                    l.proto == Proto::Tcp && l.port == *p && crate::explain::accepts(l, *a, links)
                });
                if hit && !l.receives.contains(&text) {
                    l.receives.push(text.clone());
                }
            }
        }
    }
}

/// Every rule on the host that diverts local traffic: NAT in the output hook, marks set
/// there, policy rules to tables other than the default ones (or that refuse).
pub fn mechanisms(filter: &Filter, rules: &Result<Vec<PolicyRule>, String>) -> Vec<Mechanism> {
    let mut out = Vec::new();
    let rs = &filter.rules;
    for chain in &rs.chains {
        let Some(base) = &chain.base else { continue };
        let o = &rs.origins[chain.origin];
        let origin = format!("{} {} {} {}", o.tool, o.family, o.table, chain.name);
        if base.hook == Hook::Prerouting {
            for r in &chain.rules {
                if let Action::Tproxy { addr, port } = &r.action {
                    let handle = r
                        .handle
                        .map(|h| format!(" (handle {h})"))
                        .unwrap_or_default();
                    out.push(Mechanism {
                        kind: InterceptStepKind::Tproxy,
                        rule: format!("{}{handle}", r.text),
                        origin: origin.clone(),
                        to: match addr {
                            Some(a) => format!(
                                "the transparent socket on {}",
                                std::net::SocketAddr::new(*a, *port)
                            ),
                            None => format!("the transparent socket on port {port}"),
                        },
                    });
                }
            }
        }
        if base.hook != Hook::Output {
            continue;
        }
        for r in &chain.rules {
            let handle = r
                .handle
                .map(|h| format!(" (handle {h})"))
                .unwrap_or_default();
            let rule = format!("{}{handle}", r.text);
            if let Some((v, m)) = r.set_mark {
                out.push(Mechanism {
                    kind: InterceptStepKind::Mark,
                    rule: rule.clone(),
                    origin: origin.clone(),
                    to: if m == u32::MAX {
                        format!("mark {v:#x}")
                    } else {
                        format!("mark {v:#x}/{m:#x}")
                    },
                });
            }
            let to = match &r.action {
                Action::Redirect { port } => Some(match port {
                    Some(p) => format!("this host's loopback, port {p}"),
                    None => "this host's loopback".to_owned(),
                }),
                Action::Dnat { addr, port } => Some(match (addr, port) {
                    (Some(a), Some(p)) => std::net::SocketAddr::new(*a, *p).to_string(),
                    (Some(a), None) => a.to_string(),
                    (None, Some(p)) => format!("port {p}"),
                    (None, None) => "another destination".to_owned(),
                }),
                _ => None,
            };
            if let Some(to) = to {
                out.push(Mechanism {
                    kind: InterceptStepKind::Nat,
                    rule,
                    origin: origin.clone(),
                    to,
                });
            }
        }
    }
    if let Ok(rules) = rules {
        for r in rules {
            let refuses = matches!(
                r.verdict,
                RuleVerdict::Blackhole | RuleVerdict::Unreachable | RuleVerdict::Prohibit
            );
            if (r.verdict == RuleVerdict::Table && !default_table(r.table)) || refuses {
                out.push(Mechanism {
                    kind: InterceptStepKind::Route,
                    rule: format!("{}: {}", r.priority, r.text()),
                    origin: if r.v4 { "ip rule" } else { "ip -6 rule" }.to_owned(),
                    to: if refuses {
                        format!("{:?}", r.verdict).to_lowercase()
                    } else {
                        format!("table {}", loopback_sys::routing::table_name(r.table))
                    },
                });
            }
        }
    }
    out
}
