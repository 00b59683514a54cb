//! The managed block of a hosts file: found, read and edited on bytes, so that every byte
//! outside it stays as it was.
//!
//! The block is the lines from [`BEGIN`] to [`END`]. Added to a file that has none, it goes at
//! the end, in the file's own line ending; when the file had no final newline, the block
//! brings the one it needs before it and ends without one, so that removing its last name
//! gives back the original bytes exactly.

use std::net::IpAddr;

use loopback_sys::parse::hosts::{parse_hosts, HostsEntry};

/// The first line of the block (a line that starts with it opens the block).
pub const BEGIN: &str = "# BEGIN loopback names";
/// What follows [`BEGIN`] on the line the tool writes.
const BEGIN_REST: &str = ": managed by `loopback names`, edit it with that command";
/// The last line of the block.
pub const END: &str = "# END loopback names";

/// Why the block cannot be edited safely.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {why}")]
pub struct BlockError {
    /// The line at fault.
    pub line: usize,
    /// What is wrong, and what to do.
    pub why: String,
}

/// One line: where it is and what it says.
#[derive(Debug, Clone)]
struct Line {
    /// 1-based.
    number: usize,
    /// Offset of its first byte.
    start: usize,
    /// Offset just past its newline (or the end of the file).
    next: usize,
}

/// A hosts file with its managed block found.
#[derive(Debug, Clone)]
pub struct HostsLayout<'a> {
    bytes: &'a [u8],
    lines: Vec<Line>,
    /// Indices into `lines` of the BEGIN and END lines.
    block: Option<(usize, usize)>,
    /// The line ending to write.
    eol: &'static [u8],
    /// Every usable line, parsed once.
    parsed: Vec<HostsEntry>,
}

/// One mapping inside the block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockEntry {
    /// Its line number.
    pub line: usize,
    /// The address.
    pub address: IpAddr,
    /// The names on that line.
    pub names: Vec<String>,
}

fn text(raw: &[u8]) -> &[u8] {
    let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
    raw.strip_suffix(b"\r").unwrap_or(raw)
}

fn trimmed(raw: &[u8]) -> &[u8] {
    raw.trim_ascii_end()
}

impl<'a> HostsLayout<'a> {
    /// Find the block. A BEGIN without an END, an END without a BEGIN, or two blocks are
    /// refused: the tool would not know which bytes are its own.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, BlockError> {
        let mut lines = Vec::new();
        let mut start = 0;
        while start < bytes.len() {
            let next = bytes[start..]
                .iter()
                .position(|b| *b == b'\n')
                .map_or(bytes.len(), |i| start + i + 1);
            lines.push(Line {
                number: lines.len() + 1,
                start,
                next,
            });
            start = next;
        }
        let (mut crlf, mut lf) = (0usize, 0usize);
        for l in &lines {
            let raw = &bytes[l.start..l.next];
            if raw.ends_with(b"\r\n") {
                crlf += 1;
            } else if raw.ends_with(b"\n") {
                lf += 1;
            }
        }
        let eol: &'static [u8] = if crlf > lf { b"\r\n" } else { b"\n" };
        let mut begin: Option<usize> = None;
        let mut block = None;
        for (i, l) in lines.iter().enumerate() {
            let t = trimmed(text(&bytes[l.start..l.next]));
            if t.starts_with(BEGIN.as_bytes()) {
                if let Some(b) = begin.or(block.map(|(b, _)| b)) {
                    return Err(BlockError {
                        line: l.number,
                        why: format!(
                            "a second `{BEGIN}` line (the first is line {}); leave one block and remove the other by hand",
                            lines[b].number
                        ),
                    });
                }
                begin = Some(i);
            } else if t == END.as_bytes() {
                match begin.take() {
                    Some(b) => block = Some((b, i)),
                    None => {
                        return Err(BlockError {
                            line: l.number,
                            why: format!(
                                "`{END}` without a `{BEGIN}` line before it; mend the block by hand"
                            ),
                        })
                    }
                }
            }
        }
        if let Some(b) = begin {
            return Err(BlockError {
                line: lines[b].number,
                why: format!("the managed block has no `{END}` line; mend it by hand"),
            });
        }
        Ok(HostsLayout {
            bytes,
            lines,
            block,
            eol,
            parsed: parse_hosts(bytes).0,
        })
    }

    /// The line range (1-based, inclusive) of the block, when there is one.
    pub fn block_lines(&self) -> Option<(usize, usize)> {
        self.block
            .map(|(b, e)| (self.lines[b].number, self.lines[e].number))
    }

    /// Every usable line of the file, as glibc reads it.
    pub fn all_entries(&self) -> &[HostsEntry] {
        &self.parsed
    }

    fn inside(&self, line: usize) -> bool {
        self.block_lines()
            .is_some_and(|(b, e)| line > b && line < e)
    }

    /// The mappings inside the block, in order.
    pub fn entries(&self) -> Vec<BlockEntry> {
        self.parsed
            .iter()
            .filter(|e| self.inside(e.line))
            .map(|e| BlockEntry {
                line: e.line,
                address: e.address,
                names: e.names.clone(),
            })
            .collect()
    }

    /// Lines inside the block that are neither mappings, comments nor blank.
    pub fn stray_lines(&self) -> Vec<usize> {
        let Some((b, e)) = self.block else {
            return Vec::new();
        };
        let mapped: Vec<usize> = self.entries().iter().map(|e| e.line).collect();
        self.lines[b + 1..e]
            .iter()
            .filter(|l| {
                let t = text(&self.bytes[l.start..l.next]);
                let t = t.split(|c| *c == b'#').next().unwrap_or(&[]);
                !t.trim_ascii().is_empty() && !mapped.contains(&l.number)
            })
            .map(|l| l.number)
            .collect()
    }

    /// Usable lines outside the block that map `name`.
    pub fn outside(&self, name: &str) -> Vec<HostsEntry> {
        self.parsed
            .iter()
            .filter(|e| !self.inside(e.line) && e.has_name(name))
            .cloned()
            .collect()
    }

    /// The file with `address name` added at the end of the block (the block is made when
    /// there is none).
    pub fn with_added(&self, address: IpAddr, name: &str) -> Vec<u8> {
        let eol = self.eol;
        let mapping = format!("{address} {name}");
        let mut out = Vec::with_capacity(self.bytes.len() + 128);
        match self.block {
            Some((_, e)) => {
                let at = self.lines[e].start;
                out.extend_from_slice(&self.bytes[..at]);
                out.extend_from_slice(mapping.as_bytes());
                out.extend_from_slice(eol);
                out.extend_from_slice(&self.bytes[at..]);
            }
            None => {
                out.extend_from_slice(self.bytes);
                let final_newline = self.bytes.is_empty() || self.bytes.ends_with(b"\n");
                if !final_newline {
                    out.extend_from_slice(eol);
                }
                for l in [&format!("{BEGIN}{BEGIN_REST}"), &mapping] {
                    out.extend_from_slice(l.as_bytes());
                    out.extend_from_slice(eol);
                }
                out.extend_from_slice(END.as_bytes());
                if final_newline {
                    out.extend_from_slice(eol);
                }
            }
        }
        out
    }

    /// The file without `name` in the block (its line goes, or only the name when the line
    /// holds others); the block goes when nothing is left in it. `None` when the block does
    /// not hold `name`.
    pub fn with_removed(&self, name: &str) -> Option<Vec<u8>> {
        let (b, e) = self.block?;
        let entry = self
            .entries()
            .into_iter()
            .find(|x| x.names.iter().any(|n| n.eq_ignore_ascii_case(name)))?;
        let line = self.lines.get(entry.line.checked_sub(1)?)?;
        let rest: Vec<&String> = entry
            .names
            .iter()
            .filter(|n| !n.eq_ignore_ascii_case(name))
            .collect();
        // What replaces the line: nothing, or the address with the other names.
        let replacement: Vec<u8> = if rest.is_empty() {
            Vec::new()
        } else {
            let mut r = entry.address.to_string().into_bytes();
            for n in rest {
                r.push(b' ');
                r.extend_from_slice(n.as_bytes());
            }
            let raw = &self.bytes[line.start..line.next];
            r.extend_from_slice(&raw[text(raw).len()..]);
            r
        };
        let only_line = e == b + 2 && replacement.is_empty();
        let mut out = Vec::with_capacity(self.bytes.len());
        if only_line {
            // The block goes too, with the newline it brought when it was added to a file
            // without a final one.
            let (start, end) = (self.lines[b].start, self.lines[e].next);
            let mut cut = start;
            if end == self.bytes.len() && !self.bytes.ends_with(b"\n") && start > 0 {
                let before = &self.bytes[..start];
                cut -= if before.ends_with(b"\r\n") { 2 } else { 1 };
            }
            out.extend_from_slice(&self.bytes[..cut]);
            out.extend_from_slice(&self.bytes[end..]);
        } else {
            out.extend_from_slice(&self.bytes[..line.start]);
            out.extend_from_slice(&replacement);
            out.extend_from_slice(&self.bytes[line.next..]);
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(bytes: &[u8], a: &str, n: &str) -> Vec<u8> {
        let l = HostsLayout::parse(bytes).expect("parses");
        l.with_added(a.parse().expect("ip"), n)
    }

    fn remove(bytes: &[u8], n: &str) -> Vec<u8> {
        let l = HostsLayout::parse(bytes).expect("parses");
        l.with_removed(n).expect("held")
    }

    #[test]
    fn round_trips_are_byte_exact() {
        let corpus: &[&[u8]] = &[
            b"",
            b"127.0.0.1 localhost\n",
            b"127.0.0.1 localhost",
            b"127.0.0.1\tlocalhost\r\n::1 localhost\r\n",
            b"127.0.0.1\tlocalhost\r\n::1 localhost",
            b"# only a comment",
            b"\n\n\n",
            b"127.0.0.1 localhost\n\xff\xfe junk \x00 bytes\n",
        ];
        for orig in corpus {
            let one = add(orig, "127.0.0.2", "api.test");
            assert!(one.starts_with(orig), "{orig:?}: nothing before moves");
            let two = add(&one, "127.0.0.3", "db.test");
            let back = remove(&remove(&two, "api.test"), "db.test");
            assert_eq!(&back[..], *orig, "{orig:?}");
            assert_eq!(remove(&one, "api.test"), *orig);
        }
    }

    #[test]
    fn block_uses_the_file_line_ending_and_keeps_a_missing_final_newline() {
        let crlf = add(b"127.0.0.1 localhost\r\n", "127.0.0.2", "a.test");
        assert!(crlf.ends_with(b"127.0.0.2 a.test\r\n# END loopback names\r\n"));
        let bare = add(b"127.0.0.1 localhost", "127.0.0.2", "a.test");
        assert!(bare.starts_with(b"127.0.0.1 localhost\n# BEGIN"));
        assert!(bare.ends_with(b"127.0.0.2 a.test\n# END loopback names"));
        let l = HostsLayout::parse(&bare).expect("parses");
        assert_eq!(l.entries().len(), 1);
        assert_eq!(l.entries()[0].names, vec!["a.test"]);
    }

    #[test]
    fn a_block_moved_into_the_middle_is_edited_in_place() {
        let f = b"127.0.0.1 localhost\n# BEGIN loopback names\n127.0.0.2 a.test\n# END loopback names\n10.0.0.1 nas\n";
        let added = add(f, "127.0.0.3", "b.test");
        assert_eq!(
            &added[..],
            &b"127.0.0.1 localhost\n# BEGIN loopback names\n127.0.0.2 a.test\n127.0.0.3 b.test\n# END loopback names\n10.0.0.1 nas\n"[..]
        );
        assert_eq!(
            remove(&remove(&added, "b.test"), "a.test"),
            b"127.0.0.1 localhost\n10.0.0.1 nas\n"
        );
    }

    #[test]
    fn a_shared_line_loses_only_the_name() {
        let f = b"# BEGIN loopback names\n127.0.0.2 a.test b.test\t\r\n# END loopback names\n";
        assert_eq!(
            remove(f, "A.TEST"),
            b"# BEGIN loopback names\n127.0.0.2 b.test\r\n# END loopback names\n",
            "the line is rewritten, its line ending kept"
        );
        assert!(HostsLayout::parse(f)
            .expect("ok")
            .with_removed("c.test")
            .is_none());
    }

    #[test]
    fn damaged_blocks_are_refused() {
        for (f, line) in [
            (&b"a\n# BEGIN loopback names\n127.0.0.2 x\n"[..], 2),
            (b"# END loopback names\n", 1),
            (
                b"# BEGIN loopback names\n# END loopback names\n# BEGIN loopback names\n# END loopback names\n",
                3,
            ),
        ] {
            assert_eq!(HostsLayout::parse(f).map(|_| ()).map_err(|e| e.line), Err(line));
        }
    }

    #[test]
    fn outside_and_stray_lines() {
        let f = b"127.0.0.5 api.test\n# BEGIN loopback names\n127.0.0.2 b.test\nnonsense\n# a note\n# END loopback names\n";
        let l = HostsLayout::parse(f).expect("ok");
        assert_eq!(
            l.outside("API.test")
                .iter()
                .map(|e| e.line)
                .collect::<Vec<_>>(),
            vec![1]
        );
        assert!(l.outside("b.test").is_empty());
        assert_eq!(l.stray_lines(), vec![4]);
        assert_eq!(l.block_lines(), Some((2, 6)));
    }
}
