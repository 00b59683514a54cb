//! `loopback audit --watch`: audit, then every interval capture again (owners only for new
//! sockets, [`Recapture`]) and print what changed, one line per event, until interrupted.

use std::io::Write;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use loopback_core::recapture::Recapture;
use loopback_core::watch::changes;
use loopback_model::watch::{ChangeKind, WatchEvent, WatchState};
use loopback_model::AuditReport;

use super::audit::{audit_options, capture_context, judge, request, scope_of};
use super::Ctx;
use crate::cli::{AuditArgs, Format};
use crate::exit::ExitStatus;
use crate::output::{self, esc};

/// How long owners found by a walk of `/proc` are reused while no new socket appears.
const OWNER_MAX_AGE: Duration = Duration::from_secs(60);

pub fn run(ctx: &Ctx, args: &AuditArgs) -> anyhow::Result<ExitStatus> {
    anyhow::ensure!(
        args.format != Format::Prometheus,
        "--watch prints events: a table or --json, not --format prometheus"
    );
    let json = args.json || args.format == Format::Json;
    let options = audit_options(&args.scope)?;
    let filter = args.filter.filter();
    let scope = scope_of(&args.scope)?;
    let req = request(&args.scope);
    let mut recapture = Recapture::new(OWNER_MAX_AGE);
    let look = |recapture: &mut Recapture| -> anyhow::Result<AuditReport> {
        let host = recapture
            .capture(ctx.sys.as_ref(), &scope, &req, Instant::now())
            .map_err(|e| anyhow::anyhow!(e))
            .with_context(|| capture_context(&args.scope))?;
        judge(&host, &options, &filter)
    };
    let mut before = look(&mut recapture)?;
    for w in &before.warnings {
        output::warn(w);
    }
    eprintln!(
        "loopback: watching {} listeners and {} published ports every {}; Ctrl-C stops",
        before.listeners.len(),
        before.publications.len(),
        humantime::format_duration(args.interval)
    );
    let mut next = Instant::now();
    loop {
        // Ticks keep their rhythm however long a look takes; a look longer than the
        // interval starts the next one at once.
        next += args.interval;
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        } else {
            next = now;
        }
        let stamp = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        let after = match look(&mut recapture) {
            Ok(r) => r,
            // A namespace that vanished between two looks is not the end of the watch.
            Err(e) => {
                output::warn(&format!("{e:#}"));
                continue;
            }
        };
        let events = changes(&before, &after, &stamp);
        if !events.is_empty() {
            let mut out = std::io::stdout().lock();
            for e in &events {
                if json {
                    serde_json::to_writer(&mut out, e)?;
                    out.write_all(b"\n")?;
                } else {
                    writeln!(out, "{}", line(e))?;
                }
            }
            out.flush()?;
        }
        before = after;
    }
}

fn state(s: &WatchState) -> String {
    match (s.verdict, s.exposure, s.diagnosis, &s.target) {
        (Some(v), Some(e), _, _) => format!("{} ({e})", v.as_str()),
        (Some(v), None, _, _) => v.as_str().to_owned(),
        (_, _, Some(d), Some(t)) => format!("-> {t} {d}"),
        _ => "-".into(),
    }
}

/// One event for people: time, event, what, its state, who.
pub fn line(e: &WatchEvent) -> String {
    let at = std::net::SocketAddr::new(e.address, e.port);
    let dev = e
        .interface
        .as_ref()
        .map(|d| format!("%{}", esc(d)))
        .unwrap_or_default();
    let what = match (e.event, &e.before, &e.after) {
        (ChangeKind::ListenerGone | ChangeKind::PublicationGone, Some(b), _) => {
            format!("was {}", state(b))
        }
        (_, Some(b), Some(a)) => format!("{} -> {}", state(b), state(a)),
        (_, None, Some(a)) => state(a),
        _ => String::new(),
    };
    let who = if e.processes.is_empty() {
        "-".to_owned()
    } else {
        esc(&e.processes.join(",")).into_owned()
    };
    format!(
        "{}  {:<19} {} {at}{dev}  {what}  {who}  ({})",
        e.time,
        e.event.as_str(),
        e.proto,
        esc(&e.namespace)
    )
}
