//! `loopback probe`.

use std::time::Duration;

use anyhow::Context;
use loopback_core::probe::{self, ProbeOptions};
use loopback_model::{Attempt, AttemptResult, ClientResult, ProbeReport};

use super::Ctx;
use crate::cli::ProbeArgs;
use crate::exit::ExitStatus;
use crate::output::{self, esc, Style, GREEN, RED};

pub fn run(ctx: &Ctx, args: &ProbeArgs) -> anyhow::Result<ExitStatus> {
    let style = ctx.style;
    let opts = ProbeOptions {
        timeout: Duration::from_millis(args.timeout_ms),
        http: args.http,
        udp: args.udp,
    };
    let report = super::within(ctx, args.netns.as_deref(), || {
        probe::run(
            ctx.sys.as_ref(),
            ctx.prober.as_ref(),
            &args.target,
            &opts,
            &ctx.timings,
        )
        .with_context(|| format!("probing {}", args.target))
    })?;
    if args.json {
        output::print_json(&report)?;
    } else {
        output::print_text(&render(&report, style, args.clients))?;
    }
    Ok(ExitStatus::of(report.needs_attention()))
}

pub fn render(r: &ProbeReport, style: Style, clients: bool) -> String {
    let mut out = String::new();
    attempts(&mut out, r, &r.attempts, style);
    if !r.client_attempts.is_empty() {
        out.push_str("not returned by the resolver, but tried because curl uses it:\n");
        attempts(&mut out, r, &r.client_attempts, style);
    }
    out.push_str(&format!(
        "\ndiagnosis: {}\n  {}\n",
        r.diagnosis.code,
        output::wrap(&r.diagnosis.summary, style.width, 2)
    ));
    if let Some(fix) = &r.diagnosis.fix {
        out.push_str(&format!("  fix: {}\n", output::wrap(fix, style.width, 7)));
    }
    if let Some(h) = &r.http {
        out.push_str(&format!(
            "\nbrowser (--http): {}\n",
            output::wrap(&super::http::summary(h), style.width, 2)
        ));
        let mut lines = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = super::http::details(h, style, "  ", &mut lines);
        out.push_str(&String::from_utf8_lossy(&lines));
    }
    if clients && !r.clients.is_empty() {
        out.push_str("\nclients:\n");
        for c in &r.clients {
            let what = match (c.result, c.reaches) {
                (ClientResult::Connects, Some(a)) => format!("connects to {a}"),
                (ClientResult::ConnectsLate, Some(a)) => {
                    format!("connects to {a}, after a timeout at an earlier address")
                }
                (ClientResult::Fails | ClientResult::Hangs, _) => format!(
                    "{}: {}",
                    if c.result == ClientResult::Hangs {
                        "waits, then fails"
                    } else {
                        "fails"
                    },
                    c.error.as_deref().unwrap_or("")
                ),
                _ => "unknown: an address it uses was not tried".to_owned(),
            };
            out.push_str(&format!(
                "  {}\n    {}\n    {}\n",
                esc(&c.label),
                output::wrap(&what, style.width, 4),
                output::wrap(&format!("how: {}", c.how), style.width, 4)
            ));
        }
    }
    out
}

fn attempts(out: &mut String, r: &ProbeReport, list: &[Attempt], style: Style) {
    for a in list {
        let addr = std::net::SocketAddr::new(a.address, a.port).to_string();
        let result = match a.result {
            AttemptResult::Connected => style.paint(a.result.as_str(), GREEN),
            _ => style.paint(a.result.as_str(), RED),
        };
        let time = a
            .time_ms
            .map(|t| format!(" in {t:.3} ms"))
            .unwrap_or_default();
        let http = a
            .http_status_line
            .as_ref()
            .map(|l| format!(", {}", esc(l)))
            .unwrap_or_default();
        let detail = a
            .detail
            .as_ref()
            .map(|d| format!(" ({})", esc(d)))
            .unwrap_or_default();
        out.push_str(&format!(
            "{} {addr:<28} {result}{time}{http}{detail}\n",
            r.proto
        ));
    }
}
