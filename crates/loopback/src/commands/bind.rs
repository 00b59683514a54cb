//! `loopback bind`.

use anyhow::Context;
use loopback_core::bind::{self, BindRequest};
use loopback_model::bind::{BindHolder, BindReport, BindResult};

use super::Ctx;
use crate::cli::BindArgs;
use crate::exit::ExitStatus;
use crate::output::{self, esc, Style, GREEN, RED};

pub fn run(ctx: &Ctx, args: &BindArgs) -> anyhow::Result<ExitStatus> {
    let req = BindRequest {
        target: args.target.clone(),
        proto: args.proto.proto(),
        options: args.options(),
    };
    let report = super::within(ctx, args.netns.as_deref(), || {
        bind::run(ctx.sys.as_ref(), ctx.prober.as_ref(), &req, &ctx.timings)
            .with_context(|| format!("bind {}", args.target))
    })?;
    output::report(args.json, &report, &report.warnings, || {
        render(&report, ctx.style)
    })?;
    Ok(ExitStatus::of(report.needs_attention()))
}

pub(crate) fn holder_line(h: &BindHolder) -> String {
    let mut line = format!(
        "{} {} {}",
        h.proto,
        std::net::SocketAddr::new(h.address, h.port),
        h.state
    );
    if h.v6only == Some(false) && h.address.is_ipv6() {
        line.push_str(" (dual-stack)");
    }
    if let Some(r) = h.remote {
        line.push_str(&format!(" to {r}"));
    }
    if h.owners.is_empty() {
        line.push_str(match h.state {
            loopback_model::bind::HolderState::TimeWait => ", held by the kernel",
            _ => ", owner unknown",
        });
    }
    for o in &h.owners {
        line.push_str(&format!(", {}[{}]", esc(&o.name), o.pid));
        if let Some(u) = &o.user {
            line.push_str(&format!(" user {}", esc(u)));
        }
        if let Some(unit) = &o.unit {
            line.push_str(&format!(" unit {}", esc(unit)));
        }
    }
    if let Some(c) = &h.container {
        line.push_str(&format!(", container {}", esc(&c.label())));
    }
    if let Some(p) = &h.publishes {
        line.push_str(&format!(" ({})", esc(p)));
    }
    line
}

fn result(out: &mut String, r: &BindResult, proto: &str, style: Style) {
    let addr = std::net::SocketAddr::new(r.address, r.port).to_string();
    let verdict = if r.ok {
        style.paint("binds", GREEN)
    } else {
        let cause = r.cause.map(|c| c.as_str()).unwrap_or("unknown");
        style.paint(
            &format!(
                "fails ({}): {cause}",
                esc(r.errno.as_deref().unwrap_or("?"))
            ),
            RED,
        )
    };
    out.push_str(&format!("{proto} {addr:<24} {verdict}\n"));
    let label = if r.ok { "shares with" } else { "held by" };
    for h in &r.holders {
        out.push_str(&format!(
            "  {label}: {}\n",
            output::wrap(&holder_line(h), style.width, 4)
        ));
    }
    if let Some(fix) = &r.fix {
        out.push_str(&format!(
            "  fix: {}\n",
            output::wrap(&esc(fix), style.width, 7)
        ));
    }
    if !r.free_ports.is_empty() {
        let ports: Vec<String> = r.free_ports.iter().map(u16::to_string).collect();
        out.push_str(&format!("  free ports nearby: {}\n", ports.join(", ")));
    }
    for n in &r.notes {
        out.push_str(&format!(
            "  note: {}\n",
            output::wrap(&esc(n), style.width, 8)
        ));
    }
}

pub fn render(report: &BindReport, style: Style) -> String {
    let mut out = String::new();
    for r in &report.results {
        result(&mut out, r, report.proto.as_str(), style);
    }
    out
}
