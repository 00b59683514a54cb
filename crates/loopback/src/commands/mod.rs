//! One module per command; each returns an exit status.

use crate::cli::{Cli, Command};
use crate::exit::ExitStatus;
use crate::output::Style;

mod audit;
mod doctor;
mod explain;
mod probe;
mod resolve;

#[cfg(test)]
mod hostile;

pub fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    let style = Style::choose(cli.color);
    let sys = loopback_sys::platform();
    match cli.command {
        Command::Audit(args) => audit::run(sys.as_ref(), &args, style),
        Command::Doctor(args) => doctor::run(sys.as_ref(), &args, style),
        Command::Resolve(args) => resolve::run(sys.as_ref(), &args, style),
        Command::Probe(args) => probe::run(sys.as_ref(), &args, style),
        Command::Explain(args) => explain::run(sys.as_ref(), &args, style),
    }
}
