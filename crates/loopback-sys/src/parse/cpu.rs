//! `/proc/stat`'s `cpu` line and `/proc/loadavg`: how busy the machine is around a bench.

use crate::bench::CpuTimes;

/// The aggregate `cpu` line of `/proc/stat`: user nice system idle iowait irq softirq steal
/// (guest time is already inside user). `None` when there is no such line.
pub fn parse_stat(bytes: &[u8]) -> Option<CpuTimes> {
    let text = std::str::from_utf8(bytes).ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_ascii_whitespace()
        .skip(1)
        .map_while(|f| f.parse().ok())
        .collect();
    let at = |i: usize| v.get(i).copied().unwrap_or(0);
    if v.len() < 4 {
        return None;
    }
    // Saturating: the counters are the kernel's, but the bytes are not trusted to be.
    let sum = |idx: &[usize]| idx.iter().fold(0u64, |acc, &i| acc.saturating_add(at(i)));
    Some(CpuTimes {
        busy: sum(&[0, 1, 2, 5, 6]),
        idle: sum(&[3, 4]),
        steal: at(7),
    })
}

/// The 1-minute load average, the first field of `/proc/loadavg`.
pub fn parse_loadavg(bytes: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(bytes).ok()?;
    text.split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
        .filter(|v: &f64| v.is_finite() && *v >= 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_cpu_line() {
        let t = parse_stat(b"cpu  10 2 3 100 4 5 6 7 0 0\ncpu0 1 1 1 1 1 1 1 1 0 0\n").unwrap();
        assert_eq!(
            t,
            CpuTimes {
                busy: 10 + 2 + 3 + 5 + 6,
                idle: 104,
                steal: 7
            }
        );
        // Old kernels without steal.
        let t = parse_stat(b"cpu 1 2 3 4\n").unwrap();
        assert_eq!(t.steal, 0);
        assert_eq!(parse_stat(b"intr 1 2 3\n"), None);
        assert_eq!(parse_stat(b"cpu x\n"), None);
        assert_eq!(parse_stat(&[0xff, 0xfe]), None);
        let huge = format!("cpu {m} {m} {m} {m} {m} {m} {m} {m}\n", m = u64::MAX);
        assert_eq!(parse_stat(huge.as_bytes()).unwrap().busy, u64::MAX);
    }

    #[test]
    fn loadavg() {
        assert_eq!(parse_loadavg(b"0.52 0.58 0.59 2/1043 12345\n"), Some(0.52));
        assert_eq!(parse_loadavg(b"nan 1 1\n"), None);
        assert_eq!(parse_loadavg(b""), None);
    }
}
