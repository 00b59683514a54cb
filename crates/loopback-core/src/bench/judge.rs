//! From samples to the report: percentiles, throughput, ratios to `127.0.0.1`, what a proxy
//! hop adds, and whether the machine was busy. Pure: the samples and readings come in as data.

use loopback_model::bench::{
    BenchPath, BenchProto, BenchReport, BenchResult, BenchSettings, BenchTest, MachineLoad,
    PathInfo, BENCH_VERSION,
};
use loopback_sys::bench::{CpuTimes, Samples, StreamRounds};

use super::stats;

/// A measurement as it came back.
#[derive(Debug, Clone, PartialEq)]
pub struct Measured {
    /// The path.
    pub path: BenchPath,
    /// The socket type.
    pub proto: BenchProto,
    /// The test.
    pub test: BenchTest,
    /// Its samples.
    pub data: Data,
}

/// Samples of a latency test, or the rounds of a stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    /// Round trips or connections.
    Latency(Samples),
    /// Bytes over time.
    Stream(StreamRounds),
}

/// What the machine was doing, as read around the run.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LoadReadings {
    /// CPUs online.
    pub cpus: usize,
    /// The 1-minute load average before and after.
    pub load1_before: Option<f64>,
    /// After.
    pub load1_after: Option<f64>,
    /// CPU times at the start and the end of a short quiet window before the run.
    pub quiet: Option<(CpuTimes, CpuTimes)>,
    /// CPU times at the start and the end of the run.
    pub run: Option<(CpuTimes, CpuTimes)>,
}

/// Busy before the run above this share of CPU time, in percent.
const BUSY_PCT: f64 = 20.0;
/// Steal above this share of CPU time, in percent.
const STEAL_PCT: f64 = 2.0;

/// The report of a run.
pub fn judge(
    settings: BenchSettings,
    paths: Vec<PathInfo>,
    measured: &[Measured],
    load: &LoadReadings,
    warnings: Vec<String>,
) -> BenchReport {
    let mut results: Vec<BenchResult> = measured.iter().filter_map(result).collect();
    // Ratios to the same test on 127.0.0.1 (streams to TCP, datagrams to UDP).
    let baseline = |r: &BenchResult| {
        measured_headline(results.iter().find(|b| {
            b.path == BenchPath::Loopback4 && b.test == r.test && b.proto == r.proto.kin()
        }))
    };
    let direct = results
        .iter()
        .find(|b| {
            b.path == BenchPath::Loopback4 && b.test == BenchTest::Rr && b.proto == BenchProto::Tcp
        })
        .and_then(|b| b.p50_us);
    let ratios: Vec<(Option<f64>, Option<f64>)> = results
        .iter()
        .map(|r| {
            let ratio = match (measured_headline(Some(r)), baseline(r)) {
                (Some(h), Some(b)) if b > 0.0 => Some(h / b),
                _ => None,
            };
            let added = match (r.test, r.p50_us, direct) {
                (BenchTest::Proxy, Some(p), Some(d)) => Some(p - d),
                _ => None,
            };
            (ratio, added)
        })
        .collect();
    for (r, (ratio, added)) in results.iter_mut().zip(ratios) {
        r.ratio = ratio;
        r.added_us = added;
    }
    BenchReport {
        version: BENCH_VERSION,
        settings,
        paths,
        results,
        load: machine_load(load),
        warnings,
    }
}

/// The headline figure of a result: its median latency, or its throughput.
fn measured_headline(r: Option<&BenchResult>) -> Option<f64> {
    let r = r?;
    r.gbit_s.or(r.p50_us)
}

fn result(m: &Measured) -> Option<BenchResult> {
    let mut r = BenchResult {
        path: m.path,
        proto: m.proto,
        test: m.test,
        samples: 0,
        lost: 0,
        min_us: None,
        p50_us: None,
        p90_us: None,
        p99_us: None,
        p999_us: None,
        max_us: None,
        mean_us: None,
        gbit_s: None,
        bytes: None,
        repeats: Vec::new(),
        spread_pct: 0.0,
        ratio: None,
        added_us: None,
        distribution: Vec::new(),
    };
    match &m.data {
        Data::Latency(s) => {
            let l = stats::latency(&s.rounds)?;
            r.samples = l.count;
            r.lost = s.lost;
            r.min_us = Some(l.min);
            r.p50_us = Some(l.p50);
            r.p90_us = Some(l.p90);
            r.p99_us = Some(l.p99);
            r.p999_us = Some(l.p999);
            r.max_us = Some(l.max);
            r.mean_us = Some(l.mean);
            r.spread_pct = stats::spread_pct(&l.round_medians);
            r.repeats = l.round_medians;
            r.distribution = l.distribution;
        }
        Data::Stream(s) => {
            if s.rounds.is_empty() {
                return None;
            }
            let per: Vec<f64> = s
                .rounds
                .iter()
                .map(|(b, d)| stats::gbit_s(*b, d.as_secs_f64()))
                .collect();
            r.samples = s.rounds.len() as u64;
            r.bytes = Some(s.rounds.iter().map(|(b, _)| b).sum());
            r.gbit_s = Some(stats::median(&per));
            r.spread_pct = stats::spread_pct(&per);
            r.repeats = per;
        }
    }
    Some(r)
}

fn pct(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64 * 100.0)
}

fn delta(a: CpuTimes, b: CpuTimes) -> CpuTimes {
    CpuTimes {
        busy: b.busy.saturating_sub(a.busy),
        idle: b.idle.saturating_sub(a.idle),
        steal: b.steal.saturating_sub(a.steal),
    }
}

/// Whether other work may have disturbed the figures, and why.
pub fn machine_load(l: &LoadReadings) -> MachineLoad {
    let busy_before_pct = l.quiet.and_then(|(a, b)| {
        let d = delta(a, b);
        pct(d.busy + d.steal, d.total())
    });
    let steal_pct = l.run.and_then(|(a, b)| {
        let d = delta(a, b);
        pct(d.steal, d.total())
    });
    let mut reasons = Vec::new();
    if let Some(b) = busy_before_pct.filter(|b| *b > BUSY_PCT) {
        reasons.push(format!(
            "the CPUs were {b:.0}% busy before the bench started (other work competes for them)"
        ));
    }
    if let Some(s) = steal_pct.filter(|s| *s > STEAL_PCT) {
        reasons.push(format!(
            "the hypervisor took {s:.1}% of CPU time during the run (steal)"
        ));
    }
    if let Some(load) = l
        .load1_before
        .filter(|v| l.cpus > 0 && *v > 0.5 * l.cpus as f64)
    {
        reasons.push(format!(
            "the 1-minute load average was {load:.2} on {} CPUs before the run",
            l.cpus
        ));
    }
    MachineLoad {
        cpus: l.cpus,
        load1_before: l.load1_before,
        load1_after: l.load1_after,
        busy_before_pct,
        steal_pct,
        busy: !reasons.is_empty(),
        reasons,
    }
}
