//! `loopback snapshot`: the captured namespace as JSON, for `--snapshot` elsewhere.

use loopback_core::snapshot::{capture, Parts, Request};

use super::Ctx;
use crate::cli::SnapshotArgs;
use crate::exit::ExitStatus;
use crate::output;

pub fn run(ctx: &Ctx, args: &SnapshotArgs) -> anyhow::Result<ExitStatus> {
    let req = Request {
        parts: Parts {
            firewall: args.firewall,
            ..Parts::ALL
        },
        source: args.source.preference(),
        http: args.http.options(&[]),
        ..Request::default()
    };
    let snap = ctx
        .timings
        .time("capture", || capture(ctx.sys.as_ref(), &req));
    output::print_json(&snap)?;
    Ok(ExitStatus::Clean)
}
