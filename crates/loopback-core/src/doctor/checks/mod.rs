//! One file per group of checks; each check is a pure function of the snapshot's parts and the
//! probes' outcomes. A new check goes in the file of its group (or a new one) and is called
//! from [`super::judge`]; its id goes in `loopback_model::CheckId`.

use std::time::Duration;

use loopback_model::{Check, CheckId, CheckStatus};

pub(crate) mod config;
pub(crate) mod interception;
pub(crate) mod localhost;
pub(crate) mod loopback;
pub(crate) mod reach;
pub(crate) mod traffic;

pub(crate) fn check(id: CheckId, status: CheckStatus, summary: impl Into<String>) -> Check {
    Check {
        id,
        status,
        summary: summary.into(),
        evidence: Vec::new(),
        fix: None,
    }
}

pub(crate) trait CheckExt {
    fn evidence(self, e: impl Into<String>) -> Self;
    fn fix(self, f: impl Into<String>) -> Self;
}

impl CheckExt for Check {
    fn evidence(mut self, e: impl Into<String>) -> Self {
        self.evidence.push(e.into());
        self
    }
    fn fix(mut self, f: impl Into<String>) -> Self {
        self.fix = Some(f.into());
        self
    }
}

pub(crate) fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}
