//! `loopback intercept`.

use anyhow::Context;
use loopback_core::intercept;
use loopback_model::intercept::{InterceptClient, InterceptReport, PathVerdict};

use super::Ctx;
use crate::cli::InterceptArgs;
use crate::exit::ExitStatus;
use crate::output::{self, esc, Style, GREEN, RED, YELLOW};

/// The client `--uid` names: a uid, or a user name from the user database.
fn client(ctx: &Ctx, uid: Option<&str>) -> anyhow::Result<InterceptClient> {
    let uid = match uid {
        None => ctx.sys.effective_uid(),
        Some(u) if u.bytes().all(|b| b.is_ascii_digit()) => {
            u.parse().with_context(|| format!("--uid {u}: not a uid"))?
        }
        Some(name) => {
            let passwd = ctx
                .sys
                .read_file(std::path::Path::new("/etc/passwd"))
                .context("--uid NAME: reading /etc/passwd")?;
            loopback_sys::parse::procfs::parse_passwd(&passwd)
                .into_iter()
                .find(|(_, n)| n == name)
                .map(|(u, _)| u)
                .with_context(|| format!("--uid {name}: no such user in /etc/passwd"))?
        }
    };
    let user = ctx
        .sys
        .user_names(&std::iter::once(uid).collect())
        .remove(&uid);
    Ok(InterceptClient {
        uid: Some(uid),
        user,
        pid: None,
        cgroup: None,
    })
}

pub fn run(ctx: &Ctx, args: &InterceptArgs) -> anyhow::Result<ExitStatus> {
    let proxy_var = |k: &String| k.to_ascii_lowercase().ends_with("_proxy");
    let (who, env, netns) = match args.pid {
        Some(pid) => {
            let p = ctx
                .sys
                .process(pid)
                .with_context(|| format!("--pid {pid}"))?;
            let env: Vec<(String, String)> = ctx
                .sys
                .process_environ(pid)
                .with_context(|| format!("--pid {pid}: its environment"))?
                .into_iter()
                .filter(|(k, _)| proxy_var(k))
                .collect();
            let user = p
                .euid
                .and_then(|u| ctx.sys.user_names(&std::iter::once(u).collect()).remove(&u));
            let who = InterceptClient {
                uid: p.euid,
                user,
                pid: Some(pid),
                cgroup: p.cgroup,
            };
            (
                who,
                env,
                Some(args.netns.clone().unwrap_or_else(|| pid.to_string())),
            )
        }
        None => {
            // The proxy variables this command was started with: the environment of the
            // client it stands for.
            let env = std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .filter(|(k, _)| proxy_var(k))
                .collect();
            (client(ctx, args.uid.as_deref())?, env, args.netns.clone())
        }
    };
    let report = super::within(ctx, netns.as_deref(), || {
        intercept::run(
            ctx.sys.as_ref(),
            ctx.prober.as_ref(),
            args.dest.as_deref(),
            who,
            &env,
            &ctx.timings,
        )
        .with_context(|| format!("intercept {}", args.dest.as_deref().unwrap_or("")))
    })?;
    output::report(args.json, &report, &report.warnings, || {
        render(&report, ctx.style)
    })?;
    Ok(ExitStatus::of(report.needs_attention()))
}

pub fn render(r: &InterceptReport, style: Style) -> String {
    let mut out = String::new();
    for p in &r.paths {
        let addr = std::net::SocketAddr::new(p.address, p.port).to_string();
        let verdict = match p.verdict {
            PathVerdict::Direct => style.paint(p.verdict.as_str(), GREEN),
            PathVerdict::Unknown => style.paint(p.verdict.as_str(), YELLOW),
            _ => style.paint(p.verdict.as_str(), RED),
        };
        let dev = p
            .interface
            .as_ref()
            .map(|d| format!(" (dev {})", esc(d)))
            .unwrap_or_default();
        out.push_str(&format!("tcp {addr:<26} {verdict}{dev}\n"));
        for s in &p.steps {
            out.push_str(&format!(
                "  {:<5} {}\n        -> {}\n",
                s.kind.as_str(),
                output::wrap(&esc(&s.rule), style.width, 8),
                output::wrap(&esc(&s.to), style.width, 11)
            ));
        }
        if let Some(reach) = &p.reaches {
            let at = std::net::SocketAddr::new(reach.address, reach.port);
            if reach.listening {
                let owners: Vec<String> = reach
                    .owners
                    .iter()
                    .map(|o| format!("{}[{}]", esc(&o.name), o.pid))
                    .collect();
                out.push_str(&format!(
                    "  reaches {at}: {}\n",
                    if owners.is_empty() {
                        "a listener (owner unknown)".to_owned()
                    } else {
                        owners.join(", ")
                    }
                ));
            } else {
                out.push_str(&format!("  reaches {at}: nothing listens there\n"));
            }
        }
        for c in &p.proxy {
            out.push_str(&format!(
                "  {}: {} ({})\n",
                esc(&c.client),
                c.proxy
                    .as_deref()
                    .map_or("no proxy".to_owned(), |p| esc(p).into_owned()),
                esc(&c.because)
            ));
        }
        for n in &p.notes {
            out.push_str(&format!(
                "  note: {}\n",
                output::wrap(&esc(n), style.width, 8)
            ));
        }
    }
    if !r.mechanisms.is_empty() {
        if !r.paths.is_empty() {
            out.push('\n');
        }
        out.push_str("What diverts local traffic here:\n");
        for m in &r.mechanisms {
            out.push_str(&format!(
                "  {:<5} {}: {}\n        -> {}\n",
                m.kind.as_str(),
                esc(&m.origin),
                output::wrap(&esc(&m.rule), style.width, 8),
                esc(&m.to)
            ));
        }
    } else if r.paths.is_empty() {
        out.push_str("Nothing here diverts local traffic (no NAT or mark in the output hook, no policy rule to another table).\n");
    }
    out
}
