//! `loopback resolve`.

use anyhow::Context;
use loopback_core::resolve;
use loopback_model::{ResolveReport, Severity};

use super::Ctx;
use crate::cli::ResolveArgs;
use crate::exit::ExitStatus;
use crate::output::{self, esc, Style, RED, YELLOW};

pub fn run(ctx: &Ctx, args: &ResolveArgs) -> anyhow::Result<ExitStatus> {
    let style = ctx.style;
    let paths = super::resolver_paths(args.netns.as_deref())?;
    let report = super::within(ctx, args.netns.as_deref(), || {
        resolve::run(
            ctx.sys.as_ref(),
            ctx.prober.as_ref(),
            &args.name,
            &paths,
            &ctx.timings,
        )
        .with_context(|| format!("resolving {}", args.name))
    })?;
    if args.json {
        output::print_json(&report)?;
    } else {
        output::print_text(&render(&report, style))?;
    }
    Ok(ExitStatus::of(report.needs_attention()))
}

fn list(v: &[std::net::IpAddr]) -> String {
    if v.is_empty() {
        "(nothing)".into()
    } else {
        v.iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

pub fn render(r: &ResolveReport, style: Style) -> String {
    let not_asked = r
        .system_error
        .as_deref()
        .is_some_and(resolve::was_not_asked);
    // An internationalized name shows both forms: what was meant and what is asked.
    let name = match &r.unicode {
        Some(u) => format!("{} ({})", esc(u), esc(&r.name)),
        None => esc(&r.name).into_owned(),
    };
    let mut out = if not_asked {
        format!(
            "{name} resolves to {} (the model's answer)\n",
            list(&r.addresses)
        )
    } else {
        format!("{name} resolves to {}\n", list(&r.system))
    };
    if let Some(e) = &r.system_error {
        out.push_str(&format!("  the C library says: {}\n", esc(e)));
    }
    out.push_str(&format!(
        "  model: {}{}\n  IPv4-only query: {}\n  IPv6-only query: {}\n\nhow:\n",
        list(&r.addresses),
        if r.model_complete {
            ""
        } else {
            " (incomplete: see the last source step)"
        },
        list(&r.ipv4_only.system),
        list(&r.ipv6_only.system),
    ));
    for (i, s) in r.steps.iter().enumerate() {
        out.push_str(&format!(
            "  {:>2}. {:<14} {}\n",
            i + 1,
            s.step.as_str(),
            output::wrap(&s.detail, style.width, 21)
        ));
    }
    if !r.findings.is_empty() {
        out.push_str("\nfindings:\n");
        for f in &r.findings {
            let tag = match f.severity {
                Severity::Problem => style.paint("problem", RED),
                Severity::Warning => style.paint("warning", YELLOW),
                Severity::Info => "info".to_owned(),
            };
            out.push_str(&format!(
                "  {tag} [{}]\n    {}\n",
                f.code.as_str(),
                output::wrap(&f.summary, style.width, 4)
            ));
            if let Some(fix) = &f.fix {
                out.push_str(&format!("    fix: {}\n", output::wrap(fix, style.width, 9)));
            }
        }
    }
    out
}
