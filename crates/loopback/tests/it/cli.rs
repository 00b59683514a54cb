//! Command-line contract: exit codes, errors on stderr, broken pipes.

use std::process::{Command, Stdio};

use crate::support::loopback_bin;

#[test]
fn bad_target_is_an_error_with_exit_2() {
    let out = Command::new(loopback_bin())
        .args(["explain", "host:notaport"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not 1-65535"));
}

#[test]
fn unknown_flag_is_an_error_with_exit_2() {
    let out = Command::new(loopback_bin())
        .args(["audit", "--nope"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn explain_of_a_literal_exits_0_and_prints_data_only_on_stdout() {
    let out = Command::new(loopback_bin())
        .args(["explain", "203.0.113.9"])
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(
            "kind       documentation: documentation (TEST-NET-3), 203.0.113.0/24, RFC 5737"
        ),
        "{text}"
    );
}

#[test]
fn broken_pipe_exits_0() {
    let mut child = Command::new(loopback_bin())
        .args(["explain", "--json", "127.0.0.1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Close the read end before the child writes: its write fails with EPIPE.
    drop(child.stdout.take());
    let out = child.wait_with_output().expect("wait");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn timings_go_to_stderr_phase_by_phase_and_leave_stdout_alone() {
    let run = |extra: &[&str]| {
        Command::new(loopback_bin())
            .args(extra)
            .args(["explain", "--json", "127.0.0.1"])
            .output()
            .expect("run")
    };
    let plain = run(&[]);
    let timed = run(&["--timings"]);
    assert_eq!(timed.status.code(), Some(0));
    assert_eq!(timed.stdout, plain.stdout, "stdout is data only");
    assert!(plain.stderr.is_empty());
    let err = String::from_utf8_lossy(&timed.stderr);
    let phases: Vec<&str> = err
        .lines()
        .filter_map(|l| l.strip_prefix("loopback: timing: "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(phases, ["resolve", "capture", "judge", "total"], "{err}");
}
