//! `loopback`: make a host's loopback networking visible, verified and safe.
//!
//! This binary is flag definitions and glue: it parses arguments, calls `loopback-core`, and
//! renders the data it returns as a human table or JSON. `main` only turns a result into an
//! exit code.

use std::process::ExitCode;

use clap::Parser;

mod cli;
mod commands;
mod escape;
mod exit;
mod metrics;
mod output;
mod plot;
mod serve;

fn main() -> ExitCode {
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return cli::report_parse_error(&err),
    };
    match commands::run(cli) {
        Ok(status) => status.into(),
        Err(err) => {
            if output::is_broken_pipe(&err) {
                return exit::ExitStatus::Clean.into();
            }
            // Errors quote targets, paths and the policy file: escaped, keeping the layout of
            // multi-line messages (a TOML error's source line and caret).
            eprintln!(
                "loopback: error: {}",
                escape::esc_lines(&format!("{err:#}"))
            );
            exit::ExitStatus::Error.into()
        }
    }
}
