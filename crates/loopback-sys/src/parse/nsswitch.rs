//! The `hosts:` line of `/etc/nsswitch.conf`.
//!
//! `hosts: files mymachines [!UNAVAIL=return] resolve [!UNAVAIL=return] myhostname dns` is a
//! list of sources, each optionally followed by `[STATUS=ACTION …]` criteria. Without a `hosts:`
//! line glibc uses `files dns` (its built-in default; older releases also tried `nis`).

/// One source and the actions that follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The source (`files`, `dns`, ...).
    pub name: String,
    /// `(status, action)` pairs as written, lower-cased; `status` may start with `!`.
    pub actions: Vec<(String, String)>,
}

impl Source {
    /// What happens after this source answers NOTFOUND: true when the look-up stops.
    pub fn returns_on_notfound(&self) -> bool {
        self.actions.iter().any(|(s, a)| {
            a == "return" && (s == "notfound" || (s.starts_with('!') && s != "!notfound"))
        })
    }
}

/// The `hosts:` sources, and the 1-based line they came from (`None`: glibc's default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsLine {
    /// The sources in order.
    pub sources: Vec<Source>,
    /// The line of the `hosts:` entry; `None` when glibc's default applies.
    pub line: Option<usize>,
}

/// Parse `nsswitch.conf`. The last `hosts:` line wins, as in glibc.
pub fn parse_nsswitch_hosts(bytes: &[u8]) -> HostsLine {
    let text = String::from_utf8_lossy(bytes);
    let mut found = None;
    for (i, raw) in text.lines().enumerate() {
        let content = raw.split('#').next().unwrap_or("");
        let Some((db, rest)) = content.split_once(':') else {
            continue;
        };
        if db.trim() != "hosts" {
            continue;
        }
        found = Some((i + 1, parse_sources(rest)));
    }
    match found {
        Some((line, sources)) => HostsLine {
            sources,
            line: Some(line),
        },
        None => HostsLine {
            sources: vec![
                Source {
                    name: "files".into(),
                    actions: vec![],
                },
                Source {
                    name: "dns".into(),
                    actions: vec![],
                },
            ],
            line: None,
        },
    }
}

fn parse_sources(spec: &str) -> Vec<Source> {
    let mut out: Vec<Source> = Vec::new();
    let mut rest = spec.trim();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let (inside, tail) = after.split_once(']').unwrap_or((after, ""));
            if let Some(last) = out.last_mut() {
                for crit in inside.split_whitespace() {
                    if let Some((s, a)) = crit.split_once('=') {
                        last.actions
                            .push((s.to_ascii_lowercase(), a.to_ascii_lowercase()));
                    }
                }
            }
            rest = tail.trim_start();
        } else {
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '[')
                .unwrap_or(rest.len());
            out.push(Source {
                name: rest[..end].to_owned(),
                actions: vec![],
            });
            rest = rest[end..].trim_start();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian_and_systemd_lines() {
        let h = parse_nsswitch_hosts(b"passwd: files\nhosts:          files dns\n");
        assert_eq!(h.line, Some(2));
        let names: Vec<&str> = h.sources.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["files", "dns"]);

        let h = parse_nsswitch_hosts(
            b"hosts: mymachines resolve [!UNAVAIL=return] files myhostname dns # comment\n",
        );
        let names: Vec<&str> = h.sources.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            vec!["mymachines", "resolve", "files", "myhostname", "dns"]
        );
        assert_eq!(
            h.sources[1].actions,
            vec![("!unavail".into(), "return".into())]
        );
        assert!(h.sources[1].returns_on_notfound());
        assert!(!h.sources[0].returns_on_notfound());
    }

    #[test]
    fn default_when_missing_and_last_line_wins() {
        let h = parse_nsswitch_hosts(b"# nothing\n");
        assert_eq!(h.line, None);
        assert_eq!(h.sources.len(), 2);
        let h = parse_nsswitch_hosts(b"hosts: dns\nhosts: files[NOTFOUND=return]dns\n");
        assert_eq!(h.line, Some(2));
        assert_eq!(h.sources[0].name, "files");
        assert!(h.sources[0].returns_on_notfound());
        assert_eq!(h.sources[1].name, "dns");
    }
}
