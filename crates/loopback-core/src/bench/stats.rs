//! Figures from samples: an HDR histogram of every round trip (3 significant digits, as
//! sockperf and wrk2 report), the headline of each repeat, and their spread.

use hdrhistogram::Histogram;
use loopback_model::bench::DistPoint;

/// The percentiles a distribution is drawn at.
pub const DIST_PERCENTILES: [f64; 13] = [
    0.0, 10.0, 25.0, 50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99, 100.0,
];

/// What the samples of one latency test say.
#[derive(Debug, Clone, PartialEq)]
pub struct Latency {
    /// Samples in the histogram.
    pub count: u64,
    /// The fastest sample, in microseconds (as every figure here).
    pub min: f64,
    /// The median.
    pub p50: f64,
    /// The 90th percentile.
    pub p90: f64,
    /// The 99th percentile.
    pub p99: f64,
    /// The 99.9th percentile.
    pub p999: f64,
    /// The slowest sample.
    pub max: f64,
    /// The mean.
    pub mean: f64,
    /// The median of each round, in microseconds.
    pub round_medians: Vec<f64>,
    /// The distribution at [`DIST_PERCENTILES`].
    pub distribution: Vec<DistPoint>,
}

fn us(ns: u64) -> f64 {
    ns as f64 / 1000.0
}

/// A histogram of nanosecond samples from 1 ns to 4.3 s (a sample is at most that).
fn histogram<'a>(samples: impl Iterator<Item = &'a u32>) -> Option<Histogram<u64>> {
    let mut h = Histogram::<u64>::new_with_bounds(1, u64::from(u32::MAX), 3).ok()?;
    for &s in samples {
        h.saturating_record(u64::from(s.max(1)));
    }
    Some(h)
}

/// The figures of rounds of nanosecond samples; `None` when there are none.
pub fn latency(rounds: &[Vec<u32>]) -> Option<Latency> {
    let h = histogram(rounds.iter().flatten())?;
    if h.is_empty() {
        return None;
    }
    let round_medians = rounds
        .iter()
        .filter(|r| !r.is_empty())
        .filter_map(|r| Some(us(histogram(r.iter())?.value_at_quantile(0.5))))
        .collect();
    Some(Latency {
        count: h.len(),
        min: us(h.min()),
        p50: us(h.value_at_quantile(0.5)),
        p90: us(h.value_at_quantile(0.9)),
        p99: us(h.value_at_quantile(0.99)),
        p999: us(h.value_at_quantile(0.999)),
        max: us(h.max()),
        mean: h.mean() / 1000.0,
        round_medians,
        distribution: DIST_PERCENTILES
            .iter()
            .map(|&p| DistPoint {
                percentile: p,
                us: us(h.value_at_quantile(p / 100.0)),
            })
            .collect(),
    })
}

/// Gigabits per second of `bytes` over `secs`.
pub fn gbit_s(bytes: u64, secs: f64) -> f64 {
    if secs <= 0.0 {
        return 0.0;
    }
    bytes as f64 * 8.0 / secs / 1e9
}

/// The median of some figures (the mean of the middle two for an even count).
pub fn median(v: &[f64]) -> f64 {
    let mut s: Vec<f64> = v.iter().copied().filter(|x| x.is_finite()).collect();
    if s.is_empty() {
        return 0.0;
    }
    s.sort_by(f64::total_cmp);
    let m = s.len() / 2;
    if s.len().is_multiple_of(2) {
        (s[m - 1] + s[m]) / 2.0
    } else {
        s[m]
    }
}

/// (largest - smallest) / median, in percent; 0 for fewer than two figures.
pub fn spread_pct(v: &[f64]) -> f64 {
    if v.len() < 2 {
        return 0.0;
    }
    let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let m = median(v);
    if m <= 0.0 {
        return 0.0;
    }
    (hi - lo) / m * 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_ordered_and_counted() {
        let rounds = vec![
            (1..=1000).map(|i| i * 1000).collect::<Vec<u32>>(),
            vec![500_000; 10],
        ];
        let l = latency(&rounds).unwrap();
        assert_eq!(l.count, 1010);
        assert!(l.min <= l.p50 && l.p50 <= l.p90 && l.p90 <= l.p99);
        assert!(l.p99 <= l.p999 && l.p999 <= l.max);
        // 3 significant digits.
        assert!((l.p50 - 500.0).abs() <= 1.0, "{}", l.p50);
        assert!((l.max - 1000.0).abs() <= 1.0, "{}", l.max);
        assert_eq!(l.round_medians.len(), 2);
        assert!(l.distribution.windows(2).all(|w| w[0].us <= w[1].us));
        assert_eq!(latency(&[vec![]]), None);
    }

    #[test]
    fn medians_and_spreads() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
        assert_eq!(spread_pct(&[9.0, 10.0, 11.0]), 20.0);
        assert_eq!(spread_pct(&[10.0]), 0.0);
        assert!((gbit_s(1_250_000_000, 1.0) - 10.0).abs() < 1e-9);
        assert_eq!(gbit_s(1, 0.0), 0.0);
    }
}
