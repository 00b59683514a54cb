//! `loopback explain`.

use anyhow::Context;
use loopback_core::explain;
use loopback_model::Explanation;

use super::Ctx;
use crate::cli::ExplainArgs;
use crate::exit::ExitStatus;
use crate::output::{self, esc, Style};

pub fn run(ctx: &Ctx, args: &ExplainArgs) -> anyhow::Result<ExitStatus> {
    let style = ctx.style;
    let what = || format!("explaining {}", args.target);
    let e = match &args.snapshot {
        None => super::within(ctx, args.netns.as_deref(), || {
            explain::run(
                ctx.sys.as_ref(),
                ctx.prober.as_ref(),
                &args.target,
                &ctx.timings,
            )
            .with_context(what)
        })?,
        Some(path) => {
            let snap = super::load_snapshot(path)?;
            let (target, resolved) =
                explain::resolve_target(ctx.prober.as_ref(), &args.target).with_context(what)?;
            explain::explain(&snap, &args.target, &target, &resolved).with_context(what)?
        }
    };
    output::report(args.json, &e, &e.warnings, || render(&e, style))?;
    Ok(ExitStatus::Clean)
}

pub fn render(e: &Explanation, style: Style) -> String {
    let mut out = String::new();
    if let Some(name) = &e.name {
        let list: Vec<String> = e.addresses.iter().map(|a| a.address.to_string()).collect();
        out.push_str(&format!(
            "{} resolves to {}\n\n",
            esc(name),
            list.join(", ")
        ));
    }
    for a in &e.addresses {
        let shown = match a.prefix_len {
            Some(len) => format!("{}/{len}", a.address),
            None => a.address.to_string(),
        };
        out.push_str(&format!("{shown}\n"));
        out.push_str(&format!(
            "  kind       {}: {}, {}, {}\n",
            a.class.kind.as_str(),
            esc(&a.class.range_name),
            esc(&a.class.range),
            esc(&a.class.rfc)
        ));
        let local = if a.class.kind == loopback_model::AddressKind::Unspecified {
            "the wildcard: it stands for every address of this host".to_owned()
        } else if a.assigned.is_empty() {
            "no: not assigned on this host".to_owned()
        } else {
            a.assigned
                .iter()
                .map(|s| {
                    if s.exact {
                        format!("yes, on {} ({})", esc(&s.interface), esc(&s.via))
                    } else {
                        format!("yes, {} on {} covers it", esc(&s.via), esc(&s.interface))
                    }
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        out.push_str(&format!("  local      {local}\n"));
        out.push_str(&format!(
            "  reach      {}\n",
            output::wrap(&a.reach, style.width, 13)
        ));
        if let (Some(listeners), Some(port)) = (&a.listeners, e.port) {
            if listeners.is_empty() {
                out.push_str(&format!(
                    "  port {port}  nothing here accepts connections to {shown}:{port}\n"
                ));
            } else {
                for l in listeners {
                    let who: Vec<String> = l
                        .owners
                        .iter()
                        .map(|o| format!("{}[{}]", esc(&o.name), o.pid))
                        .collect();
                    out.push_str(&format!(
                        "  port {port}  {} {} accepts it ({}{}{})\n",
                        l.proto,
                        super::audit::local(l),
                        l.verdict.as_str(),
                        if who.is_empty() { "" } else { ", " },
                        who.join(", ")
                    ));
                }
            }
        }
        out.push('\n');
    }
    out
}
