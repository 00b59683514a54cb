//! Times each input of this system's backend once (`cargo run --example capture_timings`):
//! where a capture spends its time, on whichever system it runs (scripts/bench-windows runs it
//! under Wine to tell the backend's cost from Wine's).

use std::collections::HashSet;
use std::time::Instant;

fn main() {
    let sys = loopback_sys::platform();
    let t = Instant::now();
    let scan = sys.sockets(loopback_sys::SourcePreference::Auto);
    let sockets_ms = t.elapsed().as_secs_f64() * 1e3;
    let inodes: HashSet<u64> = scan
        .as_ref()
        .map(|s| s.sockets.iter().map(|b| b.inode).collect())
        .unwrap_or_default();
    println!(
        "sockets        {sockets_ms:9.1} ms  ({} sockets)",
        scan.as_ref().map_or(0, |s| s.sockets.len())
    );
    let t = Instant::now();
    let owners = sys.owners(&inodes);
    println!(
        "owners         {:9.1} ms  ({} processes)",
        t.elapsed().as_secs_f64() * 1e3,
        owners.processes.len()
    );
    let t = Instant::now();
    let ifs = sys.interfaces().unwrap_or_default();
    println!("interfaces     {:9.1} ms", t.elapsed().as_secs_f64() * 1e3);
    let t = Instant::now();
    let _ = sys.kernel_settings(&ifs);
    println!("kernel         {:9.1} ms", t.elapsed().as_secs_f64() * 1e3);
    let t = Instant::now();
    let _ = sys.firewall();
    println!("firewall       {:9.1} ms", t.elapsed().as_secs_f64() * 1e3);
}
