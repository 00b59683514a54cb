//! One module per command; each returns an exit status. Every command gets the same [`Ctx`]:
//! the system to capture from, the prober for live actions, the output style and the timings.

use std::path::Path;

use anyhow::Context;
use loopback_core::snapshot::{ResolverPaths, Snapshot};
use loopback_core::timings::Timings;
use loopback_sys::{NetnsTarget, Prober, SocketProber, SystemView};

use crate::cli::{Cli, Command};
use crate::exit::ExitStatus;
use crate::output::Style;

mod audit;
mod bench;
mod bind;
mod doctor;
mod explain;
mod exporter;
mod help;
mod http;
mod intercept;
mod names;
mod probe;
mod resolve;
mod snapshot;
mod watch;

#[cfg(test)]
mod hostile;

/// What every command runs with.
pub struct Ctx {
    pub sys: Box<dyn SystemView>,
    pub prober: Box<dyn Prober>,
    pub style: Style,
    pub timings: Timings,
}

pub fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    let ctx = Ctx {
        sys: loopback_sys::platform(),
        prober: Box::new(SocketProber),
        style: Style::choose(cli.color),
        timings: Timings::new(),
    };
    let status = match &cli.command {
        Command::Audit(args) => audit::run(&ctx, args),
        Command::Doctor(args) => doctor::run(&ctx, args),
        Command::Resolve(args) => resolve::run(&ctx, args),
        Command::Probe(args) => probe::run(&ctx, args),
        Command::Explain(args) => explain::run(&ctx, args),
        Command::Bind(args) => bind::run(&ctx, args),
        Command::Intercept(args) => intercept::run(&ctx, args),
        Command::Names(cmd) => names::run(&ctx, cmd),
        Command::Snapshot(args) => snapshot::run(&ctx, args),
        Command::Bench(args) => bench::run(&ctx, args),
        Command::Exporter(args) => exporter::run(&ctx, args),
        Command::Completions(args) => help::completions(args),
        Command::Man(args) => help::man(args),
    };
    if cli.timings {
        crate::output::timings(&ctx.timings.phases());
    }
    status
}

/// The namespace `--netns` names.
pub fn netns_target(text: &str) -> anyhow::Result<NetnsTarget> {
    NetnsTarget::parse(text).map_err(|e| anyhow::anyhow!("--netns {e}"))
}

/// Run `job` on a thread inside the network namespace `--netns` names (every socket it opens,
/// every table it reads is that namespace's), or here without `--netns`.
pub fn within<T: Send>(
    ctx: &Ctx,
    netns: Option<&str>,
    job: impl FnOnce() -> anyhow::Result<T> + Send,
) -> anyhow::Result<T> {
    let Some(text) = netns else {
        return job();
    };
    let target = netns_target(text)?;
    let mut job = Some(job);
    let mut out = None;
    ctx.sys
        .in_netns(&target, None, &mut || {
            if let Some(job) = job.take() {
                out = Some(job());
            }
        })
        .with_context(|| format!("--netns {text}"))?;
    out.unwrap_or_else(|| Err(anyhow::anyhow!("--netns {text}: the command did not run")))
}

/// The resolver's files as the programs of the `--netns` namespace read them.
pub fn resolver_paths(netns: Option<&str>) -> anyhow::Result<ResolverPaths> {
    Ok(match netns.map(netns_target).transpose()? {
        Some(NetnsTarget::Pid(pid)) => ResolverPaths::for_namespace(Some(pid), None, |_| false),
        Some(NetnsTarget::Name(name)) => {
            ResolverPaths::for_namespace(None, Some(&name), |p| Path::new(p).is_file())
        }
        _ => ResolverPaths::default(),
    })
}

/// A snapshot saved by `loopback snapshot`: bounded like every file we read, but with room for
/// a large host's sockets.
pub fn load_snapshot(path: &Path) -> anyhow::Result<Snapshot> {
    const LIMIT: u64 = 512 << 20;
    let bytes = loopback_sys::files::read_bounded_up_to(path, LIMIT)
        .with_context(|| format!("reading snapshot {}", path.display()))?;
    let snap: Snapshot = serde_json::from_slice(&bytes)
        .with_context(|| format!("snapshot {} is not a loopback snapshot", path.display()))?;
    anyhow::ensure!(
        (1..=loopback_core::snapshot::SNAPSHOT_VERSION).contains(&snap.version),
        "snapshot {} has version {}, this loopback reads versions 1 to {}",
        path.display(),
        snap.version,
        loopback_core::snapshot::SNAPSHOT_VERSION
    );
    Ok(snap)
}
