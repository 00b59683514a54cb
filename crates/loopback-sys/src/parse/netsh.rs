//! What Windows' `netsh interface ipv4 show ...` prints for the two port settings it has no
//! documented API for: the excluded port ranges (`show excludedportrange protocol=tcp`) and
//! the dynamic (ephemeral) port range (`show dynamicport protocol=tcp`).
//!
//! The labels are translated on other display languages, so the parsers read the shape, not
//! the words: excluded ranges are the rows of two numbers after the dashed rule; the dynamic
//! range is the first two `label : number` lines (start, then count).

/// The lines after the dashed rule under a table's header; `None` when there is no rule.
fn after_rule(text: &str) -> Option<std::str::Lines<'_>> {
    let mut lines = text.lines();
    lines.find(|l| {
        let t = l.trim();
        !t.is_empty() && t.chars().all(|c| c == '-' || c.is_whitespace())
    })?;
    Some(lines)
}

/// The excluded ranges, `(first, last)`, in the order listed. `None` when the output has no
/// dashed rule (not the table this parser knows).
pub fn parse_excluded_ranges(out: &[u8]) -> Option<Vec<(u16, u16)>> {
    let text = String::from_utf8_lossy(out);
    let lines = after_rule(&text)?;
    let mut ranges = Vec::new();
    for line in lines {
        let mut words = line.split_whitespace();
        let (Some(a), Some(b)) = (words.next(), words.next()) else {
            continue;
        };
        let (Ok(a), Ok(b)) = (a.parse::<u16>(), b.parse::<u16>()) else {
            continue;
        };
        if a <= b {
            ranges.push((a, b));
        }
    }
    Some(ranges)
}

/// The dynamic port range `(first, last)`; `None` when the output does not say it.
pub fn parse_dynamic_range(out: &[u8]) -> Option<(u16, u16)> {
    let text = String::from_utf8_lossy(out);
    let mut numbers = text.lines().filter_map(|l| {
        let (_, v) = l.split_once(':')?;
        v.trim().parse::<u32>().ok()
    });
    let start = numbers.next()?;
    let count = numbers.next()?;
    let last = start.checked_add(count)?.checked_sub(1)?;
    Some((u16::try_from(start).ok()?, u16::try_from(last).ok()?))
}

/// One row of `netsh interface ipv6 show prefixpolicies`: precedence, label, prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrefixPolicy {
    /// Its precedence.
    pub precedence: i32,
    /// Its label.
    pub label: i32,
    /// The prefix.
    pub prefix: std::net::Ipv6Addr,
    /// Its length.
    pub bits: u8,
}

/// The prefix policy table, rows of `PRECEDENCE LABEL PREFIX/BITS` after the dashed rule;
/// `None` when the output has no such table (or no row).
pub fn parse_prefix_policies(out: &[u8]) -> Option<Vec<PrefixPolicy>> {
    let text = String::from_utf8_lossy(out);
    let lines = after_rule(&text)?;
    let rows: Vec<PrefixPolicy> = lines
        .filter_map(|line| {
            let mut w = line.split_whitespace();
            let precedence = w.next()?.parse().ok()?;
            let label = w.next()?.parse().ok()?;
            let (prefix, bits) = w.next()?.split_once('/')?;
            let bits: u8 = bits.parse().ok().filter(|b| *b <= 128)?;
            Some(PrefixPolicy {
                precedence,
                label,
                prefix: prefix.parse().ok()?,
                bits,
            })
        })
        .collect();
    (!rows.is_empty()).then_some(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As Windows 11 with Hyper-V prints it.
    const EXCLUDED: &[u8] = b"\r\nProtocol tcp Port Exclusion Ranges\r\n\r\nStart Port    End Port\r\n----------    --------\r\n      1080        1179\r\n      5357        5357\r\n     50000       50059     *\r\n\r\n* - Administered port exclusions.\r\n\r\n";

    #[test]
    fn excluded_ranges() {
        assert_eq!(
            parse_excluded_ranges(EXCLUDED),
            Some(vec![(1080, 1179), (5357, 5357), (50000, 50059)])
        );
        // German labels, the same shape.
        let de = "Protokoll tcp Portausschlussbereiche\n\nStartport    Endport\n----------    --------\n      2869        2869\n";
        assert_eq!(
            parse_excluded_ranges(de.as_bytes()),
            Some(vec![(2869, 2869)])
        );
        assert_eq!(
            parse_excluded_ranges(b"The following command was not found"),
            None
        );
        assert_eq!(
            parse_excluded_ranges(b"----\n70000 1\n5 3\n"),
            Some(Vec::new())
        );
    }

    #[test]
    fn prefix_policies() {
        let out = b"Querying active state...\r\n\r\nPrecedence  Label  Prefix\r\n----------  -----  --------------------------------\r\n        50      0  ::1/128\r\n        40      1  ::/0\r\n        35      4  ::ffff:0:0/96\r\n        30      2  2002::/16\r\n         5      5  2001::/32\r\n         3     13  fc00::/7\r\n         1     11  fec0::/10\r\n         1     12  3ffe::/16\r\n         1      3  ::/96\r\n\r\n";
        let rows = parse_prefix_policies(out).expect("table");
        assert_eq!(rows.len(), 9);
        assert_eq!(
            (rows[2].precedence, rows[2].label, rows[2].bits),
            (35, 4, 96)
        );
        assert_eq!(
            rows[2].prefix,
            "::ffff:0:0".parse::<std::net::Ipv6Addr>().expect("v6")
        );
        assert_eq!(parse_prefix_policies(b"----\n50 0 ::1/129\nx y z\n"), None);
        assert_eq!(parse_prefix_policies(b"nothing"), None);
    }

    #[test]
    fn dynamic_range() {
        let out = b"\r\nProtocol tcp Dynamic Port Range\r\n---------------------------------\r\nStart Port      : 49152\r\nNumber of Ports : 16384\r\n";
        assert_eq!(parse_dynamic_range(out), Some((49152, 65535)));
        assert_eq!(
            parse_dynamic_range(b"Start Port : 60000\nNumber of Ports : 9000\n"),
            None
        );
        assert_eq!(parse_dynamic_range(b"nothing here"), None);
    }
}
