//! `loopback names add|remove|list|verify`.

use std::path::PathBuf;

use anyhow::Context;
use loopback_core::names;
use loopback_model::names::{NamesReport, NamesVerifyReport, WriteMethod};

use super::Ctx;
use crate::cli::{NamesCommand, NamesFileArgs};
use crate::exit::ExitStatus;
use crate::output::{self, esc, Style, GREEN, RED, YELLOW};

/// The hosts file `--hosts-file` names, or the system's; and whether it is the system's (the
/// one the clients here read).
fn hosts_file(args: &NamesFileArgs) -> (PathBuf, bool) {
    let system = PathBuf::from(loopback_sys::hosts_path());
    match &args.hosts_file {
        None => (system, true),
        Some(p) => {
            let same = match (std::fs::canonicalize(p), std::fs::canonicalize(&system)) {
                (Ok(a), Ok(b)) => a == b,
                _ => false,
            };
            (p.clone(), same)
        }
    }
}

pub fn run(ctx: &Ctx, cmd: &NamesCommand) -> anyhow::Result<ExitStatus> {
    let edit = |what: &str, name: &str, r: Result<NamesReport, names::NamesError>| {
        r.with_context(|| format!("names {what} {name}"))
    };
    let (report, json) = match cmd {
        NamesCommand::Add(a) => {
            let (path, _) = hosts_file(&a.file);
            let r = names::add(ctx.sys.as_ref(), &path, &a.name, a.address, &ctx.timings);
            (edit("add", &a.name, r)?, a.file.json)
        }
        NamesCommand::Remove(a) => {
            let (path, _) = hosts_file(&a.file);
            let r = names::remove(ctx.sys.as_ref(), &path, &a.name, &ctx.timings);
            (edit("remove", &a.name, r)?, a.file.json)
        }
        NamesCommand::List(a) => {
            let (path, _) = hosts_file(a);
            (names::list(&path).context("names list")?, a.json)
        }
        NamesCommand::Verify(a) => {
            let (path, system) = hosts_file(&a.file);
            let shown = path.display().to_string();
            let report = names::verify(ctx.sys.as_ref(), &shown, &a.names, system, &ctx.timings)
                .context("names verify")?;
            output::report(a.file.json, &report, &[], || {
                render_verify(&report, ctx.style)
            })?;
            return Ok(ExitStatus::of(report.needs_attention()));
        }
    };
    let verb = match cmd {
        NamesCommand::Add(_) => "added",
        NamesCommand::Remove(_) => "removed",
        _ => "",
    };
    output::report(json, &report, &[], || match cmd {
        NamesCommand::List(_) => render_list(&report),
        _ => render_edit(&report, verb),
    })?;
    Ok(ExitStatus::Clean)
}

fn tail(r: &NamesReport, out: &mut String) {
    for p in &r.plan {
        out.push_str(&format!("still needed (as an administrator): {}\n", esc(p)));
    }
    for n in &r.notes {
        out.push_str(&format!("note: {}\n", esc(n)));
    }
}

pub(crate) fn render_edit(r: &NamesReport, verb: &str) -> String {
    let mut out = String::new();
    let file = esc(&r.hosts_file);
    for n in &r.names {
        let how = match (r.write, &r.written_to) {
            (Some(WriteMethod::Rename), Some(t)) => {
                format!("written to {}, the file it links to, and renamed into place", esc(t))
            }
            (Some(WriteMethod::Rename), None) => "a new file renamed into place".to_owned(),
            (Some(WriteMethod::InPlace), _) => {
                "rewritten in place: it cannot be replaced by a rename here (a bind mount or a directory this user cannot write), so a reader at that instant could see half of it".to_owned()
            }
            (None, _) => "unchanged".to_owned(),
        };
        if r.changed {
            out.push_str(&format!(
                "{verb} {} {} {} ({file}: {how})\n",
                esc(&n.name),
                if verb == "added" { "->" } else { "from" },
                n.address
            ));
        } else {
            out.push_str(&format!(
                "{} -> {} ({file}: {how})\n",
                esc(&n.name),
                n.address
            ));
        }
    }
    tail(r, &mut out);
    out
}

pub(crate) fn render_list(r: &NamesReport) -> String {
    let mut out = String::new();
    if r.names.is_empty() {
        out.push_str(&format!("no managed names in {}\n", esc(&r.hosts_file)));
    } else {
        let w = r
            .names
            .iter()
            .map(|n| n.name.len())
            .max()
            .unwrap_or(4)
            .max(4);
        out.push_str(&format!("{:<w$}  ADDRESS\n", "NAME"));
        for n in &r.names {
            out.push_str(&format!("{:<w$}  {}\n", esc(&n.name), n.address));
        }
    }
    tail(r, &mut out);
    out
}

pub(crate) fn render_verify(r: &NamesVerifyReport, style: Style) -> String {
    let mut out = String::new();
    if r.names.is_empty() {
        out.push_str(&format!("no managed names in {}\n", esc(&r.hosts_file)));
    }
    for n in &r.names {
        let assigned = match n.assigned {
            Some(true) => "assigned",
            Some(false) => "NOT assigned",
            None => "assignment unknown",
        };
        out.push_str(&format!("{} -> {} ({assigned})\n", esc(&n.name), n.address));
        for c in &n.clients {
            let addrs = if c.addresses.is_empty() {
                "?".to_owned()
            } else {
                c.addresses
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let verdict = if c.agrees {
                style.paint("agrees   ", GREEN)
            } else {
                style.paint("DISAGREES", RED)
            };
            out.push_str(&format!(
                "  {:<9} {verdict} {addrs:<20} {}\n",
                c.client.as_str(),
                output::wrap(
                    &esc(&format!(
                        "{}{}",
                        c.because,
                        if c.tested { "" } else { " [hypothesis]" }
                    )),
                    style.width,
                    43
                )
            ));
        }
        for f in &n.findings {
            let code = format!("{}:", f.code.as_str());
            let text = output::wrap(&format!("{code} {}", esc(&f.message)), style.width, 4);
            out.push_str(&format!(
                "  {}\n",
                text.replacen(&code, &style.paint(&code, YELLOW), 1)
            ));
            if let Some(fix) = &f.fix {
                out.push_str(&format!(
                    "    fix: {}\n",
                    output::wrap(&esc(fix), style.width, 9)
                ));
            }
        }
    }
    for n in &r.notes {
        out.push_str(&format!("note: {}\n", esc(n)));
    }
    out
}
