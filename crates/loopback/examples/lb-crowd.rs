//! Benchmark and scale-test helper: a crowd of processes holding descriptors and listeners.
//!
//! `lb-crowd PROCS FDS LISTENERS [ADDRS]` starts PROCS child processes; each holds FDS
//! descriptors (half Unix socket pairs, half `/dev/null`) and its share of LISTENERS TCP
//! listeners on 127.0.0.1, 127.0.0.2, … (ADDRS addresses, default 1; ports from 20000 up). It
//! prints `ready` once every child is ready and holds them until stdin closes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        child(&args[2..]);
        return;
    }
    let num =
        |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let (procs, fds, listeners, addrs) = (num(1, 100), num(2, 20), num(3, 100), num(4, 1).max(1));
    raise_fd_limit(fds + listeners / procs.max(1) + 64);
    let exe = std::env::current_exe().expect("own path");
    let (ready_r, ready_w) = std::io::pipe().expect("pipe");
    let (hold_r, mut hold_w) = std::io::pipe().expect("pipe");
    let per = listeners.div_ceil(procs.max(1));
    let mut children = Vec::new();
    for p in 0..procs {
        let first = p * per;
        let count = per.min(listeners.saturating_sub(first));
        let c = Command::new(&exe)
            .args([
                "--child",
                &fds.to_string(),
                &first.to_string(),
                &count.to_string(),
                &addrs.to_string(),
            ])
            .stdin(Stdio::from(hold_r.try_clone().expect("dup")))
            .stdout(Stdio::from(ready_w.try_clone().expect("dup")))
            .spawn()
            .unwrap_or_else(|e| panic!("spawning child {p}: {e}"));
        children.push(c);
    }
    drop(ready_w);
    drop(hold_r);
    let mut lines = BufReader::new(ready_r).lines();
    for p in 0..procs {
        match lines.next() {
            Some(Ok(l)) if l == "ready" => {}
            other => panic!("child {p} failed to start: {other:?}"),
        }
    }
    println!("ready {procs} processes, {fds} descriptors each, {listeners} listeners");
    let _ = std::io::stdout().flush();
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    let _ = hold_w.flush();
    drop(hold_w);
    for mut c in children {
        let _ = c.wait();
    }
}

/// Raise RLIMIT_NOFILE's soft limit as far as the hard limit allows (root may raise both).
fn raise_fd_limit(want: usize) {
    let want = want as u64;
    if let Ok((soft, hard)) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
    {
        if soft < want {
            let new_hard = hard.max(want);
            let _ = nix::sys::resource::setrlimit(
                nix::sys::resource::Resource::RLIMIT_NOFILE,
                want,
                new_hard,
            )
            .or_else(|_| {
                nix::sys::resource::setrlimit(
                    nix::sys::resource::Resource::RLIMIT_NOFILE,
                    hard.min(want),
                    hard,
                )
            });
        }
    }
}

fn child(args: &[String]) {
    let num = |i: usize| {
        args.get(i)
            .and_then(|a| a.parse::<usize>().ok())
            .unwrap_or(0)
    };
    let (fds, first, count, addrs) = (num(0), num(1), num(2), num(3).max(1));
    raise_fd_limit(fds + count + 64);
    let mut held_sockets = Vec::new();
    let mut held_files = Vec::new();
    for _ in 0..fds / 2 {
        held_sockets.push(std::os::unix::net::UnixStream::pair().expect("socketpair"));
    }
    for _ in 0..fds - fds / 2 {
        held_files.push(std::fs::File::open("/dev/null").expect("/dev/null"));
    }
    let mut listeners = Vec::new();
    for i in first..first + count {
        let addr = format!("127.0.0.{}", 1 + i % addrs);
        let port = 20000 + (i / addrs) as u16;
        listeners.push(
            TcpListener::bind((addr.as_str(), port))
                .unwrap_or_else(|e| panic!("bind {addr}:{port}: {e}")),
        );
    }
    println!("ready");
    let _ = std::io::stdout().flush();
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
}
