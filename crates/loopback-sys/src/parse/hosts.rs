//! `/etc/hosts`, read the way glibc's `files` source reads it.
//!
//! Each line is `ADDRESS NAME [ALIAS…]`; `#` starts a comment anywhere; fields are separated by
//! spaces or tabs. Lines whose address does not parse, or that have no name, are skipped (and
//! reported, so the tool can say which line it ignored). Names compare case-insensitively.

use std::net::IpAddr;

/// One usable line of a hosts file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsEntry {
    /// 1-based line number.
    pub line: usize,
    /// The address.
    pub address: IpAddr,
    /// Canonical name first, then aliases, as written.
    pub names: Vec<String>,
}

impl HostsEntry {
    /// Whether `name` is this entry's canonical name or one of its aliases (case-insensitive).
    pub fn has_name(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }
}

/// A line that was skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedLine {
    /// The line number.
    pub line: usize,
    /// Why it was skipped.
    pub reason: String,
}

/// Parse a hosts file as glibc 2.36's `nss_files` does (checked against `getent` by the
/// namespace tests): lines end at `\n` only; a line ends at its first NUL (glibc handles each
/// line as a C string); fields are separated by C `isspace` characters (space, `\t`, `\r`,
/// `\v`, `\f`); a UTF-8 byte-order mark is *not* skipped, so a first line that starts with one
/// has an unreadable address, as in glibc.
pub fn parse_hosts(bytes: &[u8]) -> (Vec<HostsEntry>, Vec<SkippedLine>) {
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    for (i, raw) in bytes.split(|b| *b == b'\n').enumerate() {
        let line = i + 1;
        let raw = raw.split(|b| *b == 0).next().unwrap_or(&[]);
        let text = String::from_utf8_lossy(raw);
        let content = text.split('#').next().unwrap_or("");
        let mut fields = content
            .split([' ', '\t', '\r', '\x0b', '\x0c'])
            .filter(|f| !f.is_empty());
        let Some(addr) = fields.next() else { continue };
        let names: Vec<String> = fields.map(str::to_owned).collect();
        // glibc accepts an IPv6 scope (`fe80::1%eth0`) but the scope does not change the address.
        let addr_only = addr.split('%').next().unwrap_or(addr);
        // glibc 2.36's nss_files uses inet_pton: strict dotted quads, no `127.1` or octal forms
        // (checked against getent by the differential tests).
        match addr_only.parse::<IpAddr>() {
            Ok(address) if !names.is_empty() => entries.push(HostsEntry {
                line,
                address,
                names,
            }),
            Ok(_) => skipped.push(SkippedLine {
                line,
                reason: format!("{addr} has no name after it"),
            }),
            Err(_) => skipped.push(SkippedLine {
                line,
                reason: format!("{addr:?} is not an IP address"),
            }),
        }
    }
    (entries, skipped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_default_hosts() {
        let (e, s) = parse_hosts(
            b"127.0.0.1\tlocalhost\n127.0.1.1\tbox.example.org\tbox\n\n# The following lines are desirable for IPv6 capable hosts\n::1     localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n",
        );
        assert!(s.is_empty());
        assert_eq!(e.len(), 5);
        assert_eq!(e[1].names, vec!["box.example.org", "box"]);
        assert_eq!(e[2].line, 5);
        assert!(e[2].has_name("LOCALHOST"));
        assert!(e[2].has_name("ip6-loopback"));
    }

    #[test]
    fn comments_and_junk() {
        let (e, s) = parse_hosts(
            b"127.0.0.1 localhost # trailing comment\n  \t\nnot-an-ip foo\n10.0.0.1\n192.168.1.1 a#b c\nfe80::1%eth0 router\n127.1 short\n",
        );
        let addrs: Vec<String> = e.iter().map(|x| x.address.to_string()).collect();
        assert_eq!(addrs, vec!["127.0.0.1", "192.168.1.1", "fe80::1"]);
        assert_eq!(e[1].names, vec!["a"], "# ends the line even inside a word");
        let lines: Vec<usize> = s.iter().map(|x| x.line).collect();
        assert_eq!(
            lines,
            vec![3, 4, 7],
            "legacy inet_aton forms such as 127.1 are rejected, as glibc does"
        );
    }

    /// glibc does not skip a byte-order mark, ends a line at a NUL, and splits fields on C
    /// `isspace` (seen with `getent hosts` on glibc 2.36; the namespace tests check it again).
    #[test]
    fn bom_nul_and_c_whitespace_as_glibc() {
        let (e, s) = parse_hosts(
            b"\xef\xbb\xbf127.0.0.5 bomhost\n127.0.0.6 nulhost\0 hidden\n127.0.0.7\x0bvthost\n127.0.0.8 crhost\r\n127.0.0.9 a\x0c b\n127.0.0.10 c\rd\n",
        );
        assert_eq!(
            s.first().map(|x| x.line),
            Some(1),
            "the BOM line is unreadable"
        );
        let got: Vec<(String, Vec<String>)> = e
            .iter()
            .map(|x| (x.address.to_string(), x.names.clone()))
            .collect();
        let want = |a: &str, n: &[&str]| (a.to_owned(), n.iter().map(|s| s.to_string()).collect());
        assert_eq!(
            got,
            vec![
                want("127.0.0.6", &["nulhost"]),
                want("127.0.0.7", &["vthost"]),
                want("127.0.0.8", &["crhost"]),
                want("127.0.0.9", &["a", "b"]),
                want("127.0.0.10", &["c", "d"]),
            ]
        );
    }

    #[test]
    fn invalid_utf8_does_not_panic() {
        let (e, _) = parse_hosts(b"127.0.0.1 caf\xe9\n");
        assert_eq!(e.len(), 1);
    }
}
