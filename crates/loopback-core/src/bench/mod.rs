//! `loopback bench`: what a round trip, a connection and a stream cost on each path, next to
//! `127.0.0.1`.
//!
//! The three steps of every command: capture (this namespace's interfaces, the CPUs this
//! process may use, the load), live evidence (each path set up, measured by
//! `loopback_sys::bench`, and torn down; the kernel's route and link counters as proof of where
//! the bytes went), and a pure judgment (`judge`: percentiles, ratios, what a proxy hop adds,
//! whether the machine was busy).
//!
//! - `plan.rs`: the address each path uses, the tests it takes, the CPU placement;
//! - `stats.rs`: HDR histograms, medians, spreads;
//! - `judge.rs`: the report.

use std::net::IpAddr;
use std::time::Duration;

use loopback_model::bench::{
    BenchPath, BenchProto, BenchReport, BenchSettings, BenchTest, LinkCounters, PathInfo,
    Placement, PlacementMode,
};
use loopback_sys::bench::{self as live, BenchHost, Endpoint, Lab, LabKind, Role, Side, Window};
use loopback_sys::{SysError, SystemView};

use crate::timings::Timings;

pub mod judge;
pub mod plan;
pub mod stats;

pub use judge::{judge, Data, LoadReadings, Measured};

/// What to measure and how.
#[derive(Debug, Clone, PartialEq)]
pub struct BenchOptions {
    /// The paths, in order.
    pub paths: Vec<BenchPath>,
    /// The paths were named by the user (`--paths`): one that cannot be measured is an error,
    /// not a note.
    pub explicit: bool,
    /// The tests.
    pub tests: Vec<BenchTest>,
    /// Request and response size in bytes.
    pub size: usize,
    /// Stream write size in bytes.
    pub stream_size: usize,
    /// Measured time per test.
    pub duration: Duration,
    /// Rounds per test.
    pub repeats: u32,
    /// `--placement`.
    pub placement: Option<PlacementMode>,
    /// `--cpus CLIENT,SERVER`.
    pub cpus: Option<(usize, usize)>,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            paths: BenchPath::ALL.to_vec(),
            explicit: false,
            tests: vec![
                BenchTest::Rr,
                BenchTest::Connect,
                BenchTest::Stream,
                BenchTest::Proxy,
            ],
            size: 64,
            stream_size: 128 << 10,
            duration: Duration::from_secs(1),
            repeats: 3,
            placement: None,
            cpus: None,
        }
    }
}

/// What stops a bench before it starts.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    /// The placement asked for cannot be had.
    #[error("placement: {0}")]
    Placement(String),
    /// Nothing to measure.
    #[error("{0}")]
    Options(String),
}

/// Progress, for a bar on a terminal.
pub trait Progress: Sync {
    /// The run has this many steps (rounds over every test).
    fn begin(&self, steps: u64);
    /// A test starts.
    fn test(&self, label: &str);
    /// A round ended.
    fn step(&self);
}

/// No progress shown.
#[derive(Debug)]
pub struct Quiet;

impl Progress for Quiet {
    fn begin(&self, _: u64) {}
    fn test(&self, _: &str) {}
    fn step(&self) {}
}

/// The warm-up before each test: a tenth of its duration, within 10 to 250 ms.
pub fn warmup(duration: Duration) -> Duration {
    (duration / 10).clamp(Duration::from_millis(10), Duration::from_millis(250))
}

/// How long the machine is watched before the run, to see whether it is busy.
const QUIET_WINDOW: Duration = Duration::from_millis(200);

/// Measure every path of `opts`.
pub fn run(
    sys: &dyn SystemView,
    host: &dyn BenchHost,
    opts: &BenchOptions,
    progress: &dyn Progress,
    timings: &Timings,
) -> Result<BenchReport, BenchError> {
    if opts.paths.is_empty() || opts.tests.is_empty() {
        return Err(BenchError::Options("no path or no test to measure".into()));
    }
    if opts.repeats == 0 || opts.duration.is_zero() {
        return Err(BenchError::Options(
            "--duration and --repeats must be above zero".into(),
        ));
    }
    // Capture.
    let (interfaces, cpus) = timings.time("capture", || (sys.interfaces(), host.cpus()));
    let placement = plan::placement(opts.placement, opts.cpus, cpus.as_deref().ok())
        .map_err(BenchError::Placement)?;
    let mut warnings = Vec::new();
    let interfaces = interfaces.unwrap_or_else(|e| {
        warnings.push(format!("interfaces could not be listed: {e}"));
        Vec::new()
    });
    let window = Window {
        warmup: warmup(opts.duration),
        rounds: opts.repeats,
        round: opts.duration / opts.repeats,
    };
    let steps: u64 = opts
        .paths
        .iter()
        .map(|p| plan::jobs(*p, &opts.tests).len() as u64 * u64::from(opts.repeats))
        .sum();
    let mut load = LoadReadings {
        cpus: cpus.as_ref().map_or(0, Vec::len),
        load1_before: host.load1().ok(),
        ..LoadReadings::default()
    };
    load.quiet = host.cpu_times().ok().and_then(|a| {
        std::thread::sleep(QUIET_WINDOW);
        Some((a, host.cpu_times().ok()?))
    });

    // Live: each path set up, measured and torn down in turn.
    progress.begin(steps);
    let run_start = host.cpu_times().ok();
    let mut paths = Vec::new();
    let mut measured = Vec::new();
    timings.time("measure", || {
        for &path in &opts.paths {
            let (info, m) =
                measure_path(host, path, &interfaces, opts, &placement, window, progress);
            paths.push(info);
            measured.extend(m);
        }
    });
    load.run = run_start.and_then(|a| Some((a, host.cpu_times().ok()?)));
    load.load1_after = host.load1().ok();

    let settings = BenchSettings {
        size: opts.size,
        stream_size: opts.stream_size,
        duration_ms: u64::try_from(opts.duration.as_millis()).unwrap_or(u64::MAX),
        repeats: opts.repeats,
        warmup_ms: u64::try_from(window.warmup.as_millis()).unwrap_or(u64::MAX),
        placement,
    };
    Ok(timings.time("judge", || {
        judge(settings, paths, &measured, &load, warnings)
    }))
}

/// One path: set up, route and counters read, every job measured, torn down.
fn measure_path(
    host: &dyn BenchHost,
    path: BenchPath,
    interfaces: &[loopback_model::Interface],
    opts: &BenchOptions,
    placement: &Placement,
    window: Window,
    progress: &dyn Progress,
) -> (PathInfo, Vec<Measured>) {
    let mut info = PathInfo {
        path,
        target: None,
        device: None,
        mtu: None,
        route: None,
        counters: None,
        setup: None,
        skipped: None,
        errors: Vec::new(),
    };
    let jobs = plan::jobs(path, &opts.tests);
    let skip = |mut info: PathInfo, why: String| {
        info.skipped = Some(why);
        // Its steps will not come: move the bar past them.
        for _ in 0..jobs.len() as u64 * u64::from(opts.repeats) {
            progress.step();
        }
        (info, Vec::new())
    };
    let addr = match plan::address(path, interfaces) {
        Ok(a) => a,
        Err(why) => return skip(info, why),
    };
    let lab = match path {
        BenchPath::Veth => Some(host.lab(LabKind::Veth)),
        BenchPath::BridgeNat => Some(host.lab(LabKind::BridgeNat)),
        _ => None,
    };
    let lab: Option<Box<dyn Lab>> = match lab.transpose() {
        Ok(l) => l,
        Err(e) => return skip(info, e.to_string()),
    };
    let scratch = if path == BenchPath::Unix {
        match live::Scratch::new() {
            Ok(s) => Some(s),
            Err(e) => return skip(info, e.to_string()),
        }
    } else {
        None
    };
    if let Some(ip) = addr {
        info.target = Some(ip.to_string());
        route_evidence(host, ip, &mut info);
    }
    if let Some(lab) = &lab {
        info.target = Some(lab.target().to_string());
        let (dev, mtu) = lab.device();
        info.device = Some(dev);
        info.mtu = mtu;
        info.setup = Some(lab.setup());
    }
    if let Some(s) = &scratch {
        info.target = Some(s.join("").display().to_string());
    }
    let before = lab.as_ref().map(|l| l.counters());
    let mut measured = Vec::new();
    let sides = sides(lab.as_deref(), placement);
    for (test, proto) in jobs {
        let label = format!("{path} {proto} {test}");
        progress.test(&label);
        let endpoint = match endpoint(proto, addr, lab.as_deref(), scratch.as_ref(), test) {
            Some(e) => e,
            None => continue,
        };
        let tick = || progress.step();
        let data = match test {
            BenchTest::Rr => live::rr(
                host,
                &endpoint,
                (sides.server, sides.client),
                opts.size,
                window,
                &tick,
            )
            .map(Data::Latency),
            BenchTest::Connect => {
                live::connect(host, &endpoint, (sides.server, sides.client), window, &tick)
                    .map(Data::Latency)
            }
            BenchTest::Stream => live::stream(
                host,
                &endpoint,
                (sides.server, sides.client),
                opts.stream_size,
                window,
                &tick,
            )
            .map(Data::Stream),
            BenchTest::Proxy => live::proxy_rr(
                host,
                &endpoint,
                (sides.server, sides.proxy, sides.client),
                opts.size,
                window,
                &tick,
            )
            .map(Data::Latency),
        };
        match data {
            Ok(data) => measured.push(Measured {
                path,
                proto,
                test,
                data,
            }),
            Err(e) => info.errors.push(format!("{label}: {e}")),
        }
    }
    if let (Some(Ok(before)), Some(lab)) = (before, &lab) {
        if let Ok(after) = lab.counters() {
            info.counters = Some(counter_delta(before, after));
        }
    }
    (info, measured)
}

/// The kernel's route to a path's address: the evidence that a local address goes over `lo`.
fn route_evidence(host: &dyn BenchHost, ip: IpAddr, info: &mut PathInfo) {
    match host.route_to(ip) {
        Ok(r) => {
            info.device = r.device;
            info.mtu = r.mtu;
            info.route = Some(r.text);
        }
        Err(SysError::Unsupported { .. }) => {}
        Err(e) => info.errors.push(format!("the route to {ip}: {e}")),
    }
}

fn counter_delta(a: LinkCounters, b: LinkCounters) -> LinkCounters {
    LinkCounters {
        rx_packets: b.rx_packets.saturating_sub(a.rx_packets),
        tx_packets: b.tx_packets.saturating_sub(a.tx_packets),
        rx_bytes: b.rx_bytes.saturating_sub(a.rx_bytes),
        tx_bytes: b.tx_bytes.saturating_sub(a.tx_bytes),
    }
}

/// The threads' sides of one path.
struct Sides<'a> {
    server: Side<'a>,
    client: Side<'a>,
    /// A proxy lives with the client (it listens on the client's 127.0.0.1) but runs on the
    /// server's CPU.
    proxy: Side<'a>,
}

fn sides<'a>(lab: Option<&'a dyn Lab>, p: &Placement) -> Sides<'a> {
    Sides {
        server: Side {
            lab: lab.map(|l| (l, Role::Server)),
            cpu: p.server_cpu,
        },
        client: Side {
            lab: lab.map(|l| (l, Role::Client)),
            cpu: p.client_cpu,
        },
        proxy: Side {
            lab: lab.map(|l| (l, Role::Client)),
            cpu: p.server_cpu,
        },
    }
}

/// Where one job's server listens.
fn endpoint(
    proto: BenchProto,
    addr: Option<IpAddr>,
    lab: Option<&dyn Lab>,
    scratch: Option<&live::Scratch>,
    test: BenchTest,
) -> Option<Endpoint> {
    let (bind, connect) = match (addr, lab) {
        (Some(a), _) => (a, a),
        (None, Some(l)) => (l.server_addr(), l.target()),
        (None, None) => {
            let s = scratch?;
            // A new name per job: each removes its socket file when it ends.
            let name = format!("{}-{}.sock", proto.as_str(), test.as_str());
            return match proto {
                BenchProto::UnixStream => Some(Endpoint::UnixStream(s.join(&name))),
                BenchProto::UnixDgram => Some(Endpoint::UnixDgram(s.join(&name))),
                _ => None,
            };
        }
    };
    match proto {
        BenchProto::Tcp => Some(Endpoint::Tcp { bind, connect }),
        BenchProto::Udp => Some(Endpoint::Udp { bind, connect }),
        _ => None,
    }
}
