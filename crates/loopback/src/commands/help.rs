//! `loopback completions` and `loopback man`: generated from the clap definitions, so they
//! cannot fall behind the flags.

use std::io::Write;

use anyhow::Context;
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::exit::ExitStatus;
use crate::output;

pub fn completions(args: &CompletionsArgs) -> anyhow::Result<ExitStatus> {
    let mut cmd = Cli::command();
    let mut out = output::stdout_writer();
    clap_complete::generate(args.shell, &mut cmd, "loopback", &mut out);
    out.flush()?;
    Ok(ExitStatus::Clean)
}

pub fn man(args: &ManArgs) -> anyhow::Result<ExitStatus> {
    let cmd = Cli::command();
    match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            clap_mangen::generate_to(cmd, dir)
                .with_context(|| format!("writing man pages into {}", dir.display()))?;
        }
        None => {
            let mut out = output::stdout_writer();
            clap_mangen::Man::new(cmd).render(&mut out)?;
            out.flush()?;
        }
    }
    Ok(ExitStatus::Clean)
}
