//! Integration tests: the real binary against the real kernel, inside network namespaces each
//! test creates and removes. Those that need root are `#[ignore]`d, so a plain `cargo test`
//! reports them as skipped; `./scripts/test` runs them with `--include-ignored` as root (CI
//! does), and run that way without root they fail and say why.

mod audit;
mod bench;
mod bind;
mod cli;
mod clients;
mod containers;
mod doctor;
mod explain;
mod exposure;
mod fleet;
mod hostile;
mod http;
mod intercept;
mod names;
mod namespaces;
mod package;
mod probe;
mod resolve;
mod scale;
mod services;
mod snapshot;
mod support;
mod windows;
