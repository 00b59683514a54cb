//! Exit codes, one documented enum (README.md, "Exit codes").

use std::process::ExitCode;

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: the command ran and found nothing that needs attention.
    Clean,
    /// 1: the command ran and found something (an exposed listener, a failed check).
    Findings,
    /// 2: the command could not do its job (bad arguments, unreadable input, OS error).
    Error,
}

impl ExitStatus {
    /// Findings when a report needs attention (each report's `needs_attention()`), else clean.
    pub fn of(needs_attention: bool) -> ExitStatus {
        if needs_attention {
            ExitStatus::Findings
        } else {
            ExitStatus::Clean
        }
    }

    pub fn code(self) -> u8 {
        match self {
            ExitStatus::Clean => 0,
            ExitStatus::Findings => 1,
            ExitStatus::Error => 2,
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(s: ExitStatus) -> ExitCode {
        ExitCode::from(s.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_documented_ones() {
        assert_eq!(ExitStatus::Clean.code(), 0);
        assert_eq!(ExitStatus::Findings.code(), 1);
        assert_eq!(ExitStatus::Error.code(), 2);
        assert_eq!(ExitStatus::of(true), ExitStatus::Findings);
        assert_eq!(ExitStatus::of(false), ExitStatus::Clean);
    }
}
