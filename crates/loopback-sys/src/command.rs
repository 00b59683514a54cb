//! Running a system's own read-only listing tool (`netsh` on Windows, `scutil` and `pfctl` on
//! macOS) where it is the only documented way to a setting: bounded in time and size, never
//! reading standard input, its output returned as bytes for a parser.
//!
//! Written here rather than taken from a crate: what is needed is a deadline and a size bound
//! on a child's output with nothing but std, and the few lines below do exactly that.

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A listing longer than this is cut and refused.
pub const MAX_OUTPUT_BYTES: u64 = 4 << 20;

/// How long a listing tool may take.
pub const DEADLINE: Duration = Duration::from_secs(3);

/// Why a listing could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The program is not installed (or could not be started).
    #[error("{program} could not be run: {detail}")]
    NotRun {
        /// The program.
        program: String,
        /// What starting it said.
        detail: String,
    },
    /// It did not finish in time and was killed.
    #[error("{program} did not answer within {secs} s")]
    TimedOut {
        /// The program.
        program: String,
        /// The deadline.
        secs: u64,
    },
    /// It wrote more than [`MAX_OUTPUT_BYTES`].
    #[error("{program} wrote more than {MAX_OUTPUT_BYTES} bytes")]
    TooLong {
        /// The program.
        program: String,
    },
    /// It exited unsuccessfully.
    #[error("{program} failed ({status}): {stderr}")]
    Failed {
        /// The program.
        program: String,
        /// Its exit status.
        status: String,
        /// The start of what it wrote to stderr.
        stderr: String,
    },
}

/// Run `program args` with no standard input, at most [`DEADLINE`], and return its standard
/// output when it exits successfully.
pub fn run(program: &str, args: &[&str]) -> Result<Vec<u8>, CommandError> {
    run_with(program, args, DEADLINE)
}

/// [`run`] with another deadline.
pub fn run_with(program: &str, args: &[&str], deadline: Duration) -> Result<Vec<u8>, CommandError> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| CommandError::NotRun {
            program: program.to_owned(),
            detail: e.to_string(),
        })?;
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    std::thread::spawn(move || {
        let mut out = Vec::new();
        let mut err = Vec::new();
        if let Some(s) = stdout {
            let _ = s.take(MAX_OUTPUT_BYTES + 1).read_to_end(&mut out);
        }
        if let Some(s) = stderr {
            let _ = s.take(4096).read_to_end(&mut err);
        }
        let _ = tx.send((out, err));
    });
    let Ok((out, err)) = rx.recv_timeout(deadline) else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(CommandError::TimedOut {
            program: program.to_owned(),
            secs: deadline.as_secs().max(1),
        });
    };
    let status = child.wait().map_err(|e| CommandError::NotRun {
        program: program.to_owned(),
        detail: e.to_string(),
    })?;
    if out.len() as u64 > MAX_OUTPUT_BYTES {
        return Err(CommandError::TooLong {
            program: program.to_owned(),
        });
    }
    if !status.success() {
        let text = String::from_utf8_lossy(&err);
        let first = text.lines().next().unwrap_or("").trim();
        let first = if first.is_empty() {
            String::from_utf8_lossy(&out)
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .unwrap_or("")
                .to_owned()
        } else {
            first.to_owned()
        };
        return Err(CommandError::Failed {
            program: program.to_owned(),
            status: status.to_string(),
            stderr: first.chars().take(200).collect(),
        });
    }
    Ok(out)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn output_errors_and_deadlines() {
        assert_eq!(run("sh", &["-c", "echo hi"]).ok(), Some(b"hi\n".to_vec()));
        let e = run("sh", &["-c", "echo nope >&2; exit 3"]).expect_err("fails");
        assert!(e.to_string().contains("nope"), "{e}");
        let e = run("/nonexistent/tool", &[]).expect_err("missing");
        assert!(matches!(e, CommandError::NotRun { .. }), "{e}");
        let e = run_with("sleep", &["30"], Duration::from_millis(100)).expect_err("slow");
        assert!(matches!(e, CommandError::TimedOut { .. }), "{e}");
    }
}
