//! Integration tests: the real binary against the real kernel, inside network namespaces each
//! test creates and removes. They need root (CI runs as root); without it they are skipped
//! loudly, and under `CI=true` they fail.

mod audit;
mod cli;
mod doctor;
mod explain;
mod hostile;
mod probe;
mod resolve;
mod scale;
mod services;
mod support;
