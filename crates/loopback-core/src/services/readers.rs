//! Readers of the bind setting in configuration files and command lines: each takes text and
//! returns the value with the line it was found on.

/// The value of a command-line flag: `-f VALUE`, `-f=VALUE`, `--flag=VALUE`, or a `-c`-style
/// `name=VALUE` argument (PostgreSQL's `-c config_file=…`). The last occurrence wins.
pub fn flag_value(words: &[String], flag: &str) -> Option<String> {
    let mut found = None;
    for (i, a) in words.iter().enumerate() {
        if a == flag {
            if let Some(v) = words.get(i + 1) {
                found = Some(v.clone());
            }
        } else if let Some(v) = a.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
            found = Some(v.to_owned());
        }
    }
    found
}

pub(crate) fn unquote(v: &str) -> String {
    v.trim().trim_matches(|c| c == '\'' || c == '"').to_owned()
}

pub(crate) fn strip_comment(line: &str) -> &str {
    let mut in_quote = None;
    for (i, c) in line.char_indices() {
        match (c, in_quote) {
            ('\'' | '"', None) => in_quote = Some(c),
            (q, Some(open)) if q == open => in_quote = None,
            ('#', None) => return &line[..i],
            _ => {}
        }
    }
    line
}

/// `key = value` (or `key value`) as in postgresql.conf; the last one wins. (value, line)
pub fn kv_value(text: &str, key: &str) -> Option<(String, usize)> {
    let mut found = None;
    for (i, raw) in text.lines().enumerate() {
        let line = strip_comment(raw).trim();
        let Some(rest) = line.strip_prefix(key) else {
            continue;
        };
        if !rest.starts_with([' ', '\t', '=']) {
            continue;
        }
        let v = rest.trim_start().trim_start_matches('=');
        found = Some((unquote(v), i + 1));
    }
    found
}

/// Every `key value…` directive (case-insensitive key) with its line.
pub fn directives(text: &str, key: &str) -> Vec<(String, usize)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, raw)| {
            let line = strip_comment(raw).trim();
            let (k, v) = line.split_once(char::is_whitespace)?;
            k.eq_ignore_ascii_case(key)
                .then(|| (v.trim().trim_end_matches(';').trim().to_owned(), i + 1))
        })
        .collect()
}

/// `key = value` under `[section]`; the last one wins.
pub fn ini_value(text: &str, section: &str, key: &str) -> Option<(String, usize)> {
    let mut current = String::new();
    let mut found = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split([';', '#']).next().unwrap_or("").trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim().to_ascii_lowercase();
        } else if current == section {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim().replace('_', "-") == key.replace('_', "-") {
                    found = Some((unquote(v), i + 1));
                }
            }
        }
    }
    found
}

/// A dotted key in simple YAML: `net:\n  bindIp: x` or a flat `network.host: x`.
pub fn yaml_value(text: &str, dotted: &str) -> Option<(String, usize)> {
    let want: Vec<&str> = dotted.split('.').collect();
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut found = None;
    for (i, raw) in text.lines().enumerate() {
        let line = strip_comment(raw);
        if line.trim().is_empty() {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let Some((k, v)) = line.trim().split_once(':') else {
            continue;
        };
        while path.last().is_some_and(|(d, _)| *d >= indent) {
            path.pop();
        }
        let mut full: Vec<String> = path.iter().map(|(_, k)| k.clone()).collect();
        full.extend(k.trim().split('.').map(str::to_owned));
        if full == want && !v.trim().is_empty() {
            found = Some((unquote(v), i + 1));
        }
        if v.trim().is_empty() {
            path.push((indent, k.trim().to_owned()));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers() {
        assert_eq!(
            kv_value(
                "listen_addresses='a' # x\nlisten_addresses = \"b\"\n",
                "listen_addresses"
            ),
            Some(("b".into(), 2))
        );
        assert_eq!(
            kv_value("listen_addresses_x = 1\n", "listen_addresses"),
            None
        );
        assert_eq!(
            ini_value(
                "[client]\nbind-address=1\n[mysqld]\nbind_address = 0.0.0.0\n",
                "mysqld",
                "bind-address"
            ),
            Some(("0.0.0.0".into(), 4))
        );
        assert_eq!(
            yaml_value(
                "net:\n  port: 27017\n  bindIp: 0.0.0.0  # all\n",
                "net.bindIp"
            ),
            Some(("0.0.0.0".into(), 3))
        );
        assert_eq!(
            yaml_value("network.host: 0.0.0.0\n", "network.host"),
            Some(("0.0.0.0".into(), 1))
        );
        assert_eq!(
            directives(
                "Listen localhost:631\nlisten /run/cups/cups.sock\n",
                "listen"
            )
            .len(),
            2
        );
        assert_eq!(
            flag_value(&["-c".into(), "config_file=/x".into()], "config_file"),
            Some("/x".into())
        );
        assert_eq!(
            flag_value(
                &["-l".into(), "1.2.3.4".into(), "-l".into(), "::".into()],
                "-l"
            ),
            Some("::".into())
        );
    }
}
