//! `loopback probe`.

use std::time::Duration;

use anyhow::Context;
use loopback_core::probe::{self, ProbeOptions};
use loopback_model::{AttemptResult, ProbeReport};

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
        output::print_text(&render(&report, style))?;
    }
    Ok(ExitStatus::of(report.needs_attention()))
}

pub fn render(r: &ProbeReport, style: Style) -> String {
    let mut out = String::new();
    for a in &r.attempts {
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
    out.push_str(&format!(
        "\ndiagnosis: {}\n  {}\n",
        r.diagnosis.code,
        output::wrap(&r.diagnosis.summary, style.width, 2)
    ));
    if let Some(fix) = &r.diagnosis.fix {
        out.push_str(&format!("  fix: {}\n", output::wrap(fix, style.width, 7)));
    }
    out
}
