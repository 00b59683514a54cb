//! `loopback doctor`.

use std::time::Duration;

use loopback_core::doctor::{self, DoctorOptions};
use loopback_core::timings::Timings;
use loopback_model::{CheckStatus, DoctorReport};

use super::Ctx;
use crate::cli::DoctorArgs;
use crate::exit::ExitStatus;
use crate::output::{self, esc, Style, GREEN, RED, YELLOW};

pub fn run(ctx: &Ctx, args: &DoctorArgs) -> anyhow::Result<ExitStatus> {
    let style = ctx.style;
    let report = checks(
        ctx,
        args.netns.as_deref(),
        Duration::from_millis(args.timeout_ms),
        args.reach.clone(),
        &ctx.timings,
    )?;
    if args.json {
        output::print_json(&report)?;
    } else {
        output::print_text(&render(&report, style))?;
    }
    Ok(ExitStatus::of(report.needs_attention()))
}

/// The doctor's checks in the namespace `--netns` names (here without it), with the resolver
/// files its programs read: for `doctor`, and beside the metrics of `audit --format
/// prometheus` and the exporter (which passes its own `timings`, so a long run keeps none).
pub fn checks(
    ctx: &Ctx,
    netns: Option<&str>,
    timeout: Duration,
    reach: Option<String>,
    timings: &Timings,
) -> anyhow::Result<DoctorReport> {
    let options = DoctorOptions {
        timeout,
        reach,
        resolver: super::resolver_paths(netns)?,
    };
    super::within(ctx, netns, || {
        Ok(doctor::run(
            ctx.sys.as_ref(),
            ctx.prober.as_ref(),
            &options,
            timings,
        ))
    })
}

/// Grouped by status, failures first; every check that did not pass shows its evidence and fix.
pub fn render(report: &DoctorReport, style: Style) -> String {
    let count = |s: CheckStatus| report.checks.iter().filter(|c| c.status == s).count();
    let mut out = format!(
        "loopback doctor: {} failed, {} warnings, {} skipped, {} passed ({} ms)\n",
        count(CheckStatus::Fail),
        count(CheckStatus::Warn),
        count(CheckStatus::Skip),
        count(CheckStatus::Pass),
        report.elapsed_ms
    );
    let width = report
        .checks
        .iter()
        .map(|c| c.id.as_str().len())
        .max()
        .unwrap_or(0);
    for status in [
        CheckStatus::Fail,
        CheckStatus::Warn,
        CheckStatus::Skip,
        CheckStatus::Pass,
    ] {
        let group: Vec<_> = report
            .checks
            .iter()
            .filter(|c| c.status == status)
            .collect();
        if group.is_empty() {
            continue;
        }
        out.push('\n');
        for c in group {
            let label = format!("{:<4}", status.as_str().to_uppercase());
            let label = match status {
                CheckStatus::Fail => style.paint(&label, RED),
                CheckStatus::Warn => style.paint(&label, YELLOW),
                CheckStatus::Pass => style.paint(&label, GREEN),
                CheckStatus::Skip => label,
            };
            let indent = 4 + 2 + width + 2;
            out.push_str(&format!(
                "{label}  {:<width$}  {}\n",
                esc(c.id.as_str()),
                output::wrap(&c.summary, style.width, indent)
            ));
            if status != CheckStatus::Pass {
                for e in &c.evidence {
                    out.push_str(&format!(
                        "{:indent$}evidence: {}\n",
                        "",
                        output::wrap(e, style.width, indent + 10)
                    ));
                }
                if let Some(fix) = &c.fix {
                    out.push_str(&format!(
                        "{:indent$}fix: {}\n",
                        "",
                        output::wrap(fix, style.width, indent + 5)
                    ));
                }
            }
        }
    }
    out
}
