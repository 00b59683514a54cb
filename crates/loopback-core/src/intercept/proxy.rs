//! What a client program does with the proxy environment, each by its own rules. Two
//! profiles, each written from the program's source and checked against the program itself
//! by `tests/it/intercept.rs` (curl 7.88 and Debian's python3-requests 2.28):
//!
//! - curl: `http_proxy` in lower case only (it ignores `HTTP_PROXY`, against httpoxy), then
//!   `HTTPS_PROXY`/`https_proxy` for https, then `all_proxy`/`ALL_PROXY`; `no_proxy` before
//!   `NO_PROXY`, whose entries (separated by commas or spaces) match a host name exactly or
//!   as a domain suffix at a dot, and an IP address exactly or by CIDR; `*` alone matches all.
//! - python-requests (urllib's environment): `*_proxy` in either case, lower case winning;
//!   `no_proxy` or `NO_PROXY`; for an IPv4 host, entries match exactly or by CIDR; for any
//!   other host (names, IPv6), an entry matches when the host (or `host:port`) merely ends
//!   with it, then urllib's own dot-suffix match; `*` matches all.
//!
//! Pure: the environment comes in as pairs.

use std::net::IpAddr;

use loopback_model::intercept::ProxyChoice;

/// An environment: (name, value) pairs, as the process has them.
pub type Env = [(String, String)];

fn var<'a>(env: &'a Env, name: &str) -> Option<&'a str> {
    env.iter()
        .find(|(n, v)| n == name && !v.is_empty())
        .map(|(_, v)| v.as_str())
}

/// What each profile does for `scheme://host:port` (`host` without brackets).
pub fn choices(env: &Env, scheme: &str, host: &str, port: u16) -> Vec<ProxyChoice> {
    vec![curl(env, scheme, host), requests(env, scheme, host, port)]
}

/// The distinct proxy settings among processes' environments, each with how many processes
/// carry it, most common first: `NAME=VALUE` with credentials redacted.
pub fn settings(envs: &[Vec<(String, String)>]) -> Vec<(String, usize)> {
    let mut counts: std::collections::BTreeMap<String, usize> = std::collections::BTreeMap::new();
    for env in envs {
        let mut mine: Vec<String> = env
            .iter()
            .filter(|(k, v)| !v.is_empty() && k.to_ascii_lowercase().ends_with("_proxy"))
            .map(|(k, v)| {
                if k.eq_ignore_ascii_case("no_proxy") {
                    format!("{k}={v}")
                } else {
                    format!("{k}={}", without_credentials(v))
                }
            })
            .collect();
        mine.sort();
        if !mine.is_empty() {
            *counts.entry(mine.join(" ")).or_default() += 1;
        }
    }
    let mut out: Vec<(String, usize)> = counts.into_iter().collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}

fn choice(client: &str, proxy: Option<String>, because: String) -> ProxyChoice {
    ProxyChoice {
        client: client.to_owned(),
        proxy: proxy.map(|p| without_credentials(&p)),
        because,
    }
}

/// A proxy URL without the user and password it may carry (`http://user:secret@host:3128`).
fn without_credentials(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").map_or(("", url), |(s, r)| (s, r));
    let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
    let shown = match authority.rsplit_once('@') {
        Some((_, host)) => format!("<redacted>@{host}"),
        None => authority.to_owned(),
    };
    let mut out = if scheme.is_empty() {
        shown
    } else {
        format!("{scheme}://{shown}")
    };
    if rest.contains('/') {
        out.push('/');
        out.push_str(path);
    }
    out
}

fn curl(env: &Env, scheme: &str, host: &str) -> ProxyChoice {
    let lower = format!("{scheme}_proxy");
    let upper = lower.to_ascii_uppercase();
    let found = var(env, &lower)
        .map(|v| (lower.clone(), v))
        .or_else(|| {
            (scheme != "http")
                .then(|| var(env, &upper).map(|v| (upper.clone(), v)))
                .flatten()
        })
        .or_else(|| var(env, "all_proxy").map(|v| ("all_proxy".to_owned(), v)))
        .or_else(|| var(env, "ALL_PROXY").map(|v| ("ALL_PROXY".to_owned(), v)));
    let Some((name, proxy)) = found else {
        let note = if scheme == "http" && var(env, "HTTP_PROXY").is_some() {
            "no proxy variable it reads (it ignores HTTP_PROXY in upper case)"
        } else {
            "no proxy variable is set"
        };
        return choice("curl", None, note.into());
    };
    let (np_name, no_proxy) = match var(env, "no_proxy") {
        Some(v) => ("no_proxy", Some(v)),
        None => ("NO_PROXY", var(env, "NO_PROXY")),
    };
    if let Some(np) = no_proxy {
        if let Some(entry) = curl_no_proxy(np, host) {
            return choice(
                "curl",
                None,
                format!("{np_name} entry {entry:?} matches {host}"),
            );
        }
    }
    choice("curl", Some(proxy.to_owned()), format!("{name} is set"))
}

/// The entry of curl's no-proxy list that matches `host`.
fn curl_no_proxy(list: &str, host: &str) -> Option<String> {
    if list.trim() == "*" {
        return Some("*".into());
    }
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let ip: Option<IpAddr> = host.parse().ok();
    for token in list
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
    {
        let t = token.to_ascii_lowercase();
        let matched = match ip {
            Some(ip) => match t.split_once('/') {
                Some((net, bits)) => format!("{net}/{bits}")
                    .parse::<ipnet::IpNet>()
                    .is_ok_and(|n| n.contains(&ip)),
                None => t.parse::<IpAddr>().is_ok_and(|a| a == ip),
            },
            None => {
                let t = t.strip_prefix('.').unwrap_or(&t).trim_end_matches('.');
                host == t || (host.ends_with(t) && host[..host.len() - t.len()].ends_with('.'))
            }
        };
        if matched {
            return Some(token.to_owned());
        }
    }
    None
}

/// urllib's environment proxies: names in any case, lower case winning (an empty lower-case
/// value removes the entry).
fn urllib_proxies(env: &Env) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut set = |k: String, v: Option<&str>| {
        out.retain(|(n, _)| *n != k);
        if let Some(v) = v {
            out.push((k, v.to_owned()));
        }
    };
    for (n, v) in env {
        let l = n.to_ascii_lowercase();
        if !v.is_empty() && l.ends_with("_proxy") {
            set(l[..l.len() - 6].to_owned(), Some(v));
        }
    }
    for (n, v) in env {
        if n.ends_with("_proxy") {
            let l = n.to_ascii_lowercase();
            set(
                l[..l.len() - 6].to_owned(),
                (!v.is_empty()).then_some(v.as_str()),
            );
        }
    }
    out
}

fn requests(env: &Env, scheme: &str, host: &str, port: u16) -> ProxyChoice {
    let get = |k: &str| var(env, k).or_else(|| var(env, &k.to_ascii_uppercase()));
    if let Some(np) = get("no_proxy") {
        let entries: Vec<String> = np
            .replace(' ', "")
            .split(',')
            .filter(|h| !h.is_empty())
            .map(str::to_owned)
            .collect();
        let hostname = host.to_ascii_lowercase();
        if let Ok(v4) = hostname.parse::<std::net::Ipv4Addr>() {
            for e in &entries {
                let hit = match e.split_once('/') {
                    Some((net, bits)) => bits
                        .parse::<u8>()
                        .ok()
                        .filter(|b| (1..=32).contains(b))
                        .and_then(|b| format!("{net}/{b}").parse::<ipnet::Ipv4Net>().ok())
                        .is_some_and(|n| n.contains(&v4)),
                    None => *e == hostname,
                };
                if hit {
                    return choice(
                        "python-requests",
                        None,
                        format!("NO_PROXY entry {e:?} matches {host}"),
                    );
                }
            }
        } else {
            let with_port = format!("{hostname}:{port}");
            for e in &entries {
                if hostname.ends_with(e.as_str()) || with_port.ends_with(e.as_str()) {
                    return choice(
                        "python-requests",
                        None,
                        format!("NO_PROXY entry {e:?} ends {host} (a plain suffix match)"),
                    );
                }
            }
        }
    }
    let proxies = urllib_proxies(env);
    if let Some((_, no)) = proxies.iter().find(|(k, _)| k == "no") {
        if urllib_bypass(no, host) {
            return choice(
                "python-requests",
                None,
                format!("no_proxy {no:?} covers {host} (urllib)"),
            );
        }
    }
    for key in [scheme, "all"] {
        if let Some((_, p)) = proxies.iter().find(|(k, _)| k == key) {
            return choice(
                "python-requests",
                Some(p.clone()),
                format!("{key}_proxy (either case) is set"),
            );
        }
    }
    choice("python-requests", None, "no proxy variable is set".into())
}

/// `urllib.request.proxy_bypass_environment`.
fn urllib_bypass(no: &str, host: &str) -> bool {
    if no == "*" {
        return true;
    }
    let host = host.to_ascii_lowercase();
    no.split(',')
        .map(|n| n.trim().trim_start_matches('.').to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .any(|n| host == n || host.ends_with(&format!(".{n}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    fn proxied(e: &[(&str, &str)], host: &str) -> (bool, bool) {
        let c = choices(&env(e), "http", host, 8080);
        (c[0].proxy.is_some(), c[1].proxy.is_some())
    }

    #[test]
    fn distinct_settings_are_counted() {
        let a = env(&[("http_proxy", "http://u:pw@p:3128"), ("PATH", "/bin")]);
        let b = env(&[("http_proxy", "http://u:pw@p:3128")]);
        let c = env(&[("PATH", "/bin")]);
        let s = settings(&[a, b, c]);
        assert_eq!(
            s,
            vec![("http_proxy=http://<redacted>@p:3128".to_owned(), 2)]
        );
    }

    #[test]
    fn a_proxy_password_is_never_shown() {
        let c = choices(
            &env(&[("http_proxy", "http://me:s3cret@127.0.0.1:3128/")]),
            "http",
            "x",
            80,
        );
        assert_eq!(
            c[0].proxy.as_deref(),
            Some("http://<redacted>@127.0.0.1:3128/")
        );
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn the_two_clients_disagree_where_their_rules_do() {
        let p = ("http_proxy", "http://127.0.0.1:3128");
        assert_eq!(proxied(&[p], "127.0.0.1"), (true, true));
        assert_eq!(
            proxied(&[("HTTP_PROXY", "http://127.0.0.1:3128")], "127.0.0.1"),
            (false, true)
        );
        assert_eq!(
            proxied(&[p, ("NO_PROXY", "localhost")], "127.0.0.1"),
            (true, true)
        );
        assert_eq!(
            proxied(&[p, ("NO_PROXY", "localhost")], "localhost"),
            (false, false)
        );
        assert_eq!(
            proxied(&[p, ("no_proxy", "127.0.0.0/8")], "127.0.0.1"),
            (false, false)
        );
        assert_eq!(
            proxied(&[p, ("no_proxy", "host")], "localhost"),
            (true, false)
        );
        assert_eq!(proxied(&[p, ("no_proxy", "*")], "::1"), (false, false));
        assert_eq!(proxied(&[p, ("no_proxy", "::1")], "::1"), (false, false));
        assert_eq!(
            proxied(&[p, ("no_proxy", "localhost:8080")], "localhost"),
            (true, false)
        );
    }
}
