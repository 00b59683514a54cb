//! `loopback audit`.

use std::io::Write;

use anyhow::Context;
use loopback_core::audit::AuditOptions;
use loopback_core::filter::Filter;
use loopback_core::host::{audit_host, capture_host, label, HostSnapshot, Scope};
use loopback_core::policy::Policy;
use loopback_core::scope::{wildcard_stack, WildcardStack};
use loopback_core::snapshot::{Parts, Request};
use loopback_model::{
    Arrival, AuditReport, ExposureState, IdentifiedBy, Listener, NamespaceInfo,
    PublicationDiagnosis, RuleRef, Verdict,
};

use super::Ctx;
use crate::cli::{AuditArgs, Format, ScopeArgs};
use crate::exit::ExitStatus;
use crate::output::{self, esc, Style, GREEN, RED, YELLOW};

pub fn run(ctx: &Ctx, args: &AuditArgs) -> anyhow::Result<ExitStatus> {
    if args.watch {
        return super::watch::run(ctx, args);
    }
    let style = ctx.style;
    let options = audit_options(&args.scope)?;
    let filter = args.filter.filter();
    let started = std::time::Instant::now();
    let host = match &args.snapshot {
        Some(path) => HostSnapshot::of(super::load_snapshot(path)?),
        None => ctx
            .timings
            .time("capture", || {
                let mut req = request(&args.scope);
                req.parts.held = args.bound;
                req.http = args.http.options(&args.filter.port);
                capture_host(ctx.sys.as_ref(), &scope_of(&args.scope)?, &req)
                    .map_err(|e| anyhow::anyhow!(e))
            })
            .with_context(|| capture_context(&args.scope))?,
    };
    let mut report = ctx
        .timings
        .time("judge", || judge(&host, &options, &filter))?;
    if args.snapshot.is_none() {
        managed_names(ctx, &mut report);
    }
    if args.bound {
        let (bound, unseen) = loopback_core::bind::bound_sockets(&host);
        report.bound = Some(bound);
        report
            .warnings
            .extend(unseen.into_iter().map(|u| format!("not seen: {u}")));
    }
    for w in &report.warnings {
        output::warn(w);
    }
    let format = if args.json { Format::Json } else { args.format };
    let doctor = match format {
        // The doctor's checks join the metrics, from the namespace audited (this one with -A).
        Format::Prometheus if args.snapshot.is_none() => Some(super::doctor::checks(
            ctx,
            args.scope.netns.as_deref(),
            loopback_core::doctor::DoctorOptions::default().timeout,
            None,
            &ctx.timings,
        )?),
        _ => None,
    };
    let duration = started.elapsed();
    output::emit(args.output.as_deref(), |out| match format {
        Format::Json => output::write_json(out, &report),
        Format::Table => Ok(render(
            &report,
            style,
            !args.filter.filter().is_empty(),
            out,
        )?),
        Format::Prometheus => Ok(out.write_all(
            crate::metrics::render(
                &crate::metrics::Sample {
                    report: Some(&report),
                    doctor: doctor.as_ref(),
                    duration,
                    counters: None,
                },
                crate::metrics::Exposition::Text,
            )
            .as_bytes(),
        )?),
    })?;
    Ok(ExitStatus::of(report.needs_attention()))
}

/// How to judge: the policy file and the declared uplinks.
pub fn audit_options(scope: &ScopeArgs) -> anyhow::Result<AuditOptions> {
    Ok(AuditOptions {
        policy: load_policy(scope)?,
        uplinks: scope.uplink.clone(),
    })
}

/// The policy file `--policy` names, parsed: bounded and non-blocking (a FIFO or /dev/zero
/// named by mistake is an error).
fn load_policy(scope: &ScopeArgs) -> anyhow::Result<Option<Policy>> {
    let Some(path) = &scope.policy else {
        return Ok(None);
    };
    let bytes = loopback_sys::files::read_bounded(path)
        .with_context(|| format!("reading policy file {}", path.display()))?;
    let text = String::from_utf8(bytes)
        .with_context(|| format!("policy file {} is not UTF-8", path.display()))?;
    Ok(Some(Policy::parse(&text).with_context(|| {
        format!("policy file {}", path.display())
    })?))
}

/// The namespaces `-A` or `--netns` name.
pub fn scope_of(scope: &ScopeArgs) -> anyhow::Result<Scope> {
    Ok(if scope.all_namespaces {
        Scope::All
    } else if let Some(t) = &scope.netns {
        Scope::One(super::netns_target(t)?)
    } else {
        Scope::Current
    })
}

/// What an audit captures: the listener parts and the ruleset.
pub fn request(scope: &ScopeArgs) -> Request {
    Request {
        source: scope.source.preference(),
        ..Request::of(Parts::LISTENERS.with(Parts {
            firewall: true,
            ..Parts::default()
        }))
    }
}

/// What a failed capture is about.
pub fn capture_context(scope: &ScopeArgs) -> String {
    match &scope.netns {
        Some(t) => format!("--netns {t}"),
        None => "capturing network namespaces".into(),
    }
}

/// Judge a captured host, then keep what the filter asks for.
pub fn judge(
    host: &HostSnapshot,
    options: &AuditOptions,
    filter: &Filter,
) -> anyhow::Result<AuditReport> {
    let mut report = audit_host(host, options).context("auditing listeners")?;
    filter.apply(&mut report);
    Ok(report)
}

/// `addr:port` the way people type it: brackets around IPv6, `%dev` for a bound device.
pub fn local(l: &Listener) -> String {
    let dev = l
        .interface
        .as_ref()
        .map(|d| format!("%{}", esc(d)))
        .unwrap_or_default();
    if l.address.is_ipv6() {
        format!("[{}]{dev}:{}", l.address, l.port)
    } else {
        format!("{}{dev}:{}", l.address, l.port)
    }
}

fn stack(l: &Listener) -> &'static str {
    match wildcard_stack(l.address, l.v6only) {
        Some(WildcardStack::Ipv6Only) => "v6only",
        Some(WildcardStack::DualStack) => "dual-stack",
        Some(WildcardStack::AssumedDualStack) => "dual-stack?",
        None => "",
    }
}

fn owners(l: &Listener) -> String {
    if l.owners.is_empty() {
        return "-".into();
    }
    // group pre-forked workers: name[pid,pid] user
    let mut groups: Vec<(&str, Option<&str>, Vec<u32>)> = Vec::new();
    for o in l.owners.iter() {
        match groups
            .iter_mut()
            .find(|(n, u, _)| *n == &*o.name && *u == o.user.as_deref())
        {
            Some(g) => g.2.push(o.pid),
            None => groups.push((&o.name, o.user.as_deref(), vec![o.pid])),
        }
    }
    groups
        .iter()
        .map(|(name, user, pids)| {
            let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
            match user {
                Some(u) => format!("{}[{}] ({})", esc(name), pids.join(","), esc(u)),
                None => format!("{}[{}]", esc(name), pids.join(",")),
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn service(l: &Listener) -> String {
    match &l.service {
        Some(s) if s.identified_by == IdentifiedBy::Port => format!("{}?", esc(&s.name)),
        Some(s) => esc(&s.name).into_owned(),
        None => "-".into(),
    }
}

/// Where the HTTP column sits in `cells`.
const HTTP_COLUMN: usize = 8;

fn cells(l: &Listener) -> [String; 10] {
    [
        l.verdict.as_str().to_owned(),
        l.proto.to_string(),
        local(l),
        stack(l).to_owned(),
        l.bind_scope.as_str().to_owned(),
        l.exposure
            .as_ref()
            .map_or("-", |e| e.state.as_str())
            .to_owned(),
        esc(&l.reachable_via.join(",")).into_owned(),
        service(l),
        l.http.as_deref().map(super::http::cell).unwrap_or_default(),
        owners(l),
    ]
}

/// `ADDR:PORT`, with brackets around IPv6.
fn sockaddr(ip: std::net::IpAddr, port: u16) -> String {
    std::net::SocketAddr::new(ip, port).to_string()
}

/// A namespace's heading: its container or name, its inode, its process count.
fn heading(ns: &NamespaceInfo) -> String {
    let mut h = format!("== {}", esc(&label(ns)));
    if let Some(c) = &ns.container {
        h.push_str(&format!(
            " ({} {})",
            c.runtime,
            esc(&c.id.chars().take(12).collect::<String>())
        ));
    }
    h.push_str(&format!(" · netns {}", ns.inode));
    if !ns.names.is_empty() && ns.container.is_some() {
        h.push_str(&format!(" ({})", esc(&ns.names.join(", "))));
    }
    h.push_str(&format!(
        " · {} process{}",
        ns.processes,
        if ns.processes == 1 { "" } else { "es" }
    ));
    if ns.current && (ns.container.is_some() || !ns.names.is_empty()) {
        h.push_str(" · this namespace");
    }
    h.push_str(" ==");
    h
}

/// The paths that explain a listener's exposure: what filters it, what it is published as,
/// who it is restricted to, what could not be judged. At most a few lines each.
fn paths(l: &Listener, style: Style, out: &mut dyn Write) -> std::io::Result<()> {
    let Some(e) = &l.exposure else {
        return Ok(());
    };
    let mut seen = std::collections::BTreeSet::new();
    for p in &e.paths {
        let at = format!("{} on {}", sockaddr(p.address, p.port), esc(&p.interface));
        let rule = |r: &Option<RuleRef>| {
            r.as_ref()
                .map(|r| esc(&loopback_core::exposure::describe(r)).into_owned())
                .unwrap_or_else(|| "no rule (accepting policies)".into())
        };
        let line = match (p.state, p.arrival) {
            (ExposureState::Filtered, _) => format!("filtered by {}", rule(&p.rule)),
            // The filter could not be read: one line, whatever the path.
            (ExposureState::Unknown, _) if p.rule.is_none() => {
                format!("unknown: {}", esc(&p.detail))
            }
            (ExposureState::Unknown, _) => {
                format!("unknown at {at}: {}", esc(&p.detail))
            }
            (ExposureState::Restricted, _) => format!(
                "restricted at {at}: {} ({})",
                esc(&p.sources.join("; ")),
                rule(&p.rule)
            ),
            (_, Arrival::Dnat | Arrival::Redirect) => {
                format!("published as {at} ({} {})", p.arrival, rule(&p.nat_rule))
            }
            _ => continue,
        };
        if seen.len() < 4 && seen.insert(line.clone()) {
            writeln!(out, "    {}", output::wrap(&line, style.width, 6))?;
        }
    }
    Ok(())
}

/// One listener's row, with its details when it needs attention or carries notes.
fn row(
    l: &Listener,
    style: Style,
    line: &dyn Fn(&[String]) -> String,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let mut text = line(&cells(l));
    let color = match l.verdict {
        Verdict::Exposed => RED,
        Verdict::Allowed => YELLOW,
        Verdict::Ok => GREEN,
    };
    if style.color {
        let verdict = l.verdict.as_str();
        text = text.replacen(verdict, &style.paint(verdict, color), 1);
    }
    out.write_all(text.as_bytes())?;
    paths(l, style, out)?;
    if let Some(h) = &l.http {
        super::http::details(h, style, "    ", out)?;
    }
    if !l.names.is_empty() {
        let names: Vec<String> = l.names.iter().map(|n| esc(n).into_owned()).collect();
        writeln!(out, "    name: {} (loopback names)", names.join(", "))?;
    }
    for r in &l.receives {
        writeln!(
            out,
            "    receives redirected traffic: {}",
            output::wrap(&esc(r), style.width, 6)
        )?;
    }
    if l.verdict != Verdict::Ok || !l.notes.is_empty() {
        if l.verdict != Verdict::Ok {
            for o in l.owners.iter() {
                let unit = o
                    .unit
                    .as_ref()
                    .map(|u| format!(" [{}]", esc(u)))
                    .unwrap_or_default();
                writeln!(out, "    pid {}{unit}: {}", o.pid, esc(&o.cmdline))?;
            }
        }
        if let Some(svc) = &l.service {
            let at = svc
                .config_file
                .as_deref()
                .map(|c| format!(", config {c}"))
                .unwrap_or_default();
            let by = if svc.identified_by == "port" {
                " (guessed from the port only)"
            } else {
                ""
            };
            let now = match (&svc.current, &svc.current_from) {
                (Some(v), Some(from)) => format!("{} = {v} ({from})", svc.setting),
                (None, Some(from)) => format!("{}: {from}", svc.setting),
                _ => svc.setting.clone(),
            };
            writeln!(
                out,
                "    service: {}",
                esc(&format!("{}{by}{at}; {now}", svc.name))
            )?;
        }
        if let Some(fix) = &l.fix {
            writeln!(out, "    fix: {}", output::wrap(fix, style.width, 9))?;
        }
        if let Some(rule) = l.allowed_by {
            writeln!(out, "    allowed by policy rule #{}", rule + 1)?;
        }
        for n in &l.notes {
            writeln!(out, "    note: {}", output::wrap(n, style.width, 10))?;
        }
    }
    Ok(())
}

/// The human table: exposed listeners first, details under each one that needs attention.
/// Written as it goes (two passes: widths, then rows), so a host with 100,000 listeners does
/// not hold the whole table in memory.
pub fn render(
    report: &AuditReport,
    style: Style,
    filtered: bool,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    // The same length as `cells`, so a column cannot be dropped silently.
    let header: [&str; 10] = [
        "VERDICT",
        "PROTO",
        "LOCAL",
        "STACK",
        "SCOPE",
        "EXPOSURE",
        "REACHABLE VIA",
        "SERVICE",
        "HTTP",
        "OWNER",
    ];
    // The HTTP column only when --http asked.
    let http = report.listeners.iter().any(|l| l.http.is_some());
    let mut widths = header.map(str::len);
    for l in &report.listeners {
        for (w, cell) in widths.iter_mut().zip(cells(l)) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &[String]| -> String {
        let mut s = String::new();
        let shown = cells
            .iter()
            .zip(widths)
            .enumerate()
            .filter(|(i, _)| http || *i != HTTP_COLUMN)
            .map(|(_, c)| c);
        let cells: Vec<(&String, usize)> = shown.collect();
        for (i, (cell, w)) in cells.iter().copied().enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s.trim_end().to_owned() + "\n"
    };
    let audited: Vec<&NamespaceInfo> = report.namespaces.iter().filter(|n| n.audited).collect();
    // One table per namespace when there are several, or when the one audited is not this one
    // (`--netns`): a heading names it.
    let headed = audited.len() > 1 || audited.first().is_some_and(|n| !n.current);
    let groups: Vec<Option<&NamespaceInfo>> = if headed {
        audited.into_iter().map(Some).collect()
    } else {
        vec![None]
    };
    for ns in groups {
        let of_group = |l: &&Listener| ns.is_none_or(|ns| l.netns == ns.inode);
        if let Some(ns) = ns {
            writeln!(out, "\n{}", heading(ns))?;
        }
        if !report.listeners.iter().any(|l| of_group(&l)) {
            out.write_all(match (ns, filtered) {
                (Some(_), false) => b"  no listening sockets\n".as_slice(),
                (Some(_), true) => b"  no listener matches the filter\n".as_slice(),
                (None, false) => b"No listening sockets in this network namespace.\n",
                (None, true) => b"No listener matches the filter.\n",
            })?;
            continue;
        }
        out.write_all(line(&header.map(str::to_owned)).as_bytes())?;
        for l in report.listeners.iter().filter(of_group) {
            row(l, style, &line, out)?;
        }
    }
    if !report.publications.is_empty() {
        writeln!(out, "\nPublished ports:")?;
        for p in &report.publications {
            let tag = match p.diagnosis {
                PublicationDiagnosis::Ok => style.paint(p.diagnosis.as_str(), GREEN),
                PublicationDiagnosis::Unknown => style.paint(p.diagnosis.as_str(), YELLOW),
                _ => style.paint(p.diagnosis.as_str(), RED),
            };
            let target = p
                .target_netns
                .and_then(|i| report.namespaces.iter().find(|n| n.inode == i))
                .map(|n| format!(" ({})", esc(&label(n))))
                .unwrap_or_default();
            let chain = format!(
                "{} {} -> {}{target} -> {}",
                p.proto,
                sockaddr(p.address, p.port),
                sockaddr(p.target_address, p.target_port),
                esc(&p.detail)
            );
            writeln!(out, "  {tag}  {}", output::wrap(&chain, style.width, 4))?;
            match &p.rule {
                Some(r) => writeln!(
                    out,
                    "    by {}",
                    output::wrap(&esc(&loopback_core::exposure::describe(r)), style.width, 7)
                )?,
                None => writeln!(out, "    by {}[{}]", esc(&p.forwarder), p.forwarder_pid)?,
            }
            if let Some(fix) = &p.fix {
                writeln!(out, "    fix: {}", output::wrap(&esc(fix), style.width, 9))?;
            }
        }
    }
    if let Some(bound) = &report.bound {
        if bound.is_empty() {
            writeln!(out, "\nNo TCP socket is bound without listening.")?;
        } else {
            writeln!(
                out,
                "\nBound, not listening (they hold the port; no listening table shows them):"
            )?;
            for h in bound {
                writeln!(
                    out,
                    "  {}",
                    output::wrap(&super::bind::holder_line(h), style.width, 4)
                )?;
            }
        }
    }
    let count = |v: Verdict| report.listeners.iter().filter(|l| l.verdict == v).count();
    let dropped = report
        .listeners
        .iter()
        .filter(|l| {
            l.exposure
                .as_ref()
                .is_some_and(|e| e.state == ExposureState::Filtered)
        })
        .count();
    writeln!(
        out,
        "\n{} listeners{}: {} exposed, {} allowed by policy, {} not reachable from other hosts{} (source: {}).",
        report.listeners.len(),
        if filtered { " matching the filter" } else { "" },
        count(Verdict::Exposed),
        count(Verdict::Allowed),
        count(Verdict::Ok),
        if dropped > 0 {
            format!(" ({dropped} of them only because the packet filter drops them)")
        } else {
            String::new()
        },
        match report.source {
            loopback_model::SocketSourceKind::Netlink => "netlink sock_diag",
            loopback_model::SocketSourceKind::Proc => "/proc/net",
            loopback_model::SocketSourceKind::Iphelper => "the IP Helper tables",
            loopback_model::SocketSourceKind::Libproc => "libproc",
        }
    )?;
    if http {
        let checks: Vec<_> = report
            .listeners
            .iter()
            .filter_map(|l| l.http.as_deref())
            .collect();
        let speaking = checks.iter().filter(|h| h.speaks_http).count();
        let reachable = checks.iter().filter(|h| !h.findings.is_empty()).count();
        writeln!(
            out,
            "--http: {} TCP listeners asked, {speaking} speak HTTP, {reachable} of them a web page in the browser can reach.",
            checks.len()
        )?;
    }
    if report.uplinks.is_empty() {
        writeln!(
            out,
            "No interface leads off this machine: nothing is reachable from another host (declare one with --uplink)."
        )?;
    } else {
        let list: Vec<String> = report
            .uplinks
            .iter()
            .map(|u| format!("{} ({})", esc(&u.interface), esc(&u.reason)))
            .collect();
        writeln!(
            out,
            "{}",
            output::wrap(
                &format!("Other hosts arrive on: {}.", list.join(", ")),
                style.width,
                2
            )
        )?;
    }
    if !report.udp_clients.is_empty() {
        writeln!(
            out,
            "{} UDP client sockets on kernel-chosen ephemeral ports are not listed (see udp_clients in --json).",
            report.udp_clients.len()
        )?;
    }
    if count(Verdict::Exposed) > 0 {
        out.write_all(
            b"Exposed listeners accept connections from other hosts. Bind them to 127.0.0.1 or ::1\n\
             if only this host needs them, or allow them in a --policy file.\n",
        )?;
    }
    Ok(())
}

/// The names `loopback names` manages in this system's hosts file, on the listeners of this
/// process's network namespace (the one whose programs read that file).
fn managed_names(ctx: &Ctx, report: &mut loopback_model::AuditReport) {
    let path = loopback_sys::hosts_path();
    let Ok(bytes) = ctx.sys.read_file(std::path::Path::new(&path)) else {
        return;
    };
    let Ok((managed, _)) = loopback_core::names::managed(&bytes, &path) else {
        return;
    };
    if managed.is_empty() {
        return;
    }
    let own = ctx.sys.current_netns();
    let ours = report
        .listeners
        .iter_mut()
        .filter(|l| own.is_none() || l.netns == 0 || Some(l.netns) == own);
    loopback_core::names::annotate(ours, &managed);
}
