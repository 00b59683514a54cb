//! Benchmark helper: `lb-measure OUT CMD [ARGS…]` runs CMD with stdout to the file OUT and
//! prints `EXIT WALL_MS MAXRSS_KIB`.
//!
//! Peak memory must be measured from a small parent: Linux carries the parent's resident size
//! into the child's `ru_maxrss` at `exec`, so a large parent (a Python script holding the last
//! run's output) would hide the child's own figure. This process stays at a few MiB.

use std::process::Command;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(out), Some(cmd)) = (args.first(), args.get(1)) else {
        eprintln!("usage: lb-measure OUT CMD [ARGS...]");
        std::process::exit(2);
    };
    let file = std::fs::File::create(out).expect("output file");
    let start = Instant::now();
    let status = Command::new(cmd)
        .args(&args[2..])
        .stdout(file)
        .status()
        .expect("spawn");
    let wall = start.elapsed();
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN)
        .expect("getrusage");
    println!(
        "{} {:.3} {}",
        status.code().unwrap_or(-1),
        wall.as_secs_f64() * 1000.0,
        usage.max_rss()
    );
}
