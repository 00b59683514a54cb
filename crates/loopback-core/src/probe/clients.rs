//! What each client program would do with the probed name and the live results: which address
//! it tries, in which order, and where it ends up. A pure function of the attempts.
//!
//! Every profile but the browsers' is checked against the real program by
//! `tests/it/clients.rs` (curl 7.88, CPython 3.11 with `requests`, Node.js 20 with
//! `autoSelectFamily` on and off, Go 1.19, OpenJDK 17), in the cases `probe` diagnoses: the
//! first address refused, the other family only, two servers, nothing at all, the first address
//! dropped, and `localhost` pointing at another host. What those runs showed:
//! - curl answers `localhost` and `*.localhost` itself with 127.0.0.1 then ::1, whatever the
//!   hosts file says; other names come from the resolver. It starts with the first address's
//!   family and starts the other 200 ms later, or at once when the first fails.
//! - Python's `socket.create_connection` and `requests` try the resolver's addresses one after
//!   another, each until it fails or times out.
//! - Node.js with `autoSelectFamily` alternates families from the first address, 250 ms each;
//!   without it, it uses the first address only.
//! - Go's `net.Dial` orders as the C library does here, tries the first address's family and
//!   starts the other 300 ms later, or at once when the first fails.
//! - Java's `new Socket(host, port)` puts IPv4 first and uses the first address only.

use std::net::IpAddr;

use loopback_model::{Attempt, AttemptResult, ClientId, ClientOutcome, ClientResult};

use super::evidence::must_be_loopback;

/// What happened at one address, as a client sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum At {
    /// The TCP connection was made (whatever the server said next).
    Connects,
    /// Refused, unreachable or another immediate error.
    Fails,
    /// No answer: the client waits for its timeout.
    Silent,
    /// Not tried.
    Unknown,
}

fn at(results: &[&Attempt], ip: IpAddr) -> At {
    match results.iter().find(|a| a.address == ip).map(|a| a.result) {
        Some(AttemptResult::Connected | AttemptResult::NoResponse | AttemptResult::NotHttp) => {
            At::Connects
        }
        Some(AttemptResult::Timeout) => At::Silent,
        Some(_) => At::Fails,
        None => At::Unknown,
    }
}

/// How a client walks its addresses.
enum Walk {
    /// One after another, each until it fails or times out.
    Serial,
    /// The first only.
    First,
    /// The first address's family one after another; the other family joins after a delay
    /// (or at once when the first family fails), and the first to connect wins.
    TwoFamilies,
    /// Alternating families from the first address, each with a short attempt timeout.
    Alternating,
}

struct Profile {
    id: ClientId,
    label: &'static str,
    /// Its name inside a sentence (`summary`).
    short: &'static str,
    how: &'static str,
    walk: Walk,
    tested: bool,
}

const PROFILES: &[Profile] = &[
    Profile {
        id: ClientId::Curl,
        short: "curl",
        label: "curl",
        how: "answers localhost and *.localhost itself with 127.0.0.1 then ::1 (ignoring the hosts file), other names from the resolver; starts the other family 200 ms later, or at once on a failure",
        walk: Walk::TwoFamilies,
        tested: true,
    },
    Profile {
        id: ClientId::Python,
        short: "Python's socket.create_connection",
        label: "Python socket.create_connection (urllib, http.client)",
        how: "every address in the resolver's order, one after another",
        walk: Walk::Serial,
        tested: true,
    },
    Profile {
        id: ClientId::PythonRequests,
        short: "requests",
        label: "Python requests",
        how: "every address in the resolver's order, one after another",
        walk: Walk::Serial,
        tested: true,
    },
    Profile {
        id: ClientId::NodeAutoSelect,
        short: "Node.js with autoSelectFamily (its default from Node 20)",
        label: "Node.js, autoSelectFamily on (default from Node 20)",
        how: "addresses alternating by family from the first, 250 ms each",
        walk: Walk::Alternating,
        tested: true,
    },
    Profile {
        id: ClientId::NodeFirstAddress,
        short: "Node.js without autoSelectFamily (its default before Node 20)",
        label: "Node.js, autoSelectFamily off (default before Node 20)",
        how: "the resolver's first address only",
        walk: Walk::First,
        tested: true,
    },
    Profile {
        id: ClientId::Go,
        short: "Go",
        label: "Go net.Dial",
        how: "the first address's family first; the other 300 ms later, or at once on a failure",
        walk: Walk::TwoFamilies,
        tested: true,
    },
    Profile {
        id: ClientId::Java,
        short: "Java",
        label: "Java new Socket(host, port)",
        how: "IPv4 addresses first (java.net.preferIPv6Addresses=false), the first address only",
        walk: Walk::First,
        tested: true,
    },
    Profile {
        id: ClientId::Browser,
        short: "browsers",
        label: "web browsers (hypothesis, not tested here)",
        how: "by their documentation, localhost and *.localhost go to loopback whatever the resolver says; both families are tried",
        walk: Walk::TwoFamilies,
        tested: false,
    },
];

/// The addresses a client asks for when it does not ask the resolver: curl and browsers answer
/// `localhost` and `*.localhost` themselves.
pub(crate) fn own_addresses(host: &str) -> Vec<IpAddr> {
    if must_be_loopback(host) {
        vec![
            IpAddr::from([127, 0, 0, 1]),
            IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
        ]
    } else {
        Vec::new()
    }
}

/// The order a client tries: its own for localhost names (curl, browsers), IPv4 first (Java),
/// or the resolver's.
fn order(id: ClientId, host: &str, resolved: &[IpAddr], literal: bool) -> Vec<IpAddr> {
    match id {
        ClientId::Curl | ClientId::Browser if !literal && must_be_loopback(host) => {
            own_addresses(host)
        }
        ClientId::Java => {
            let (mut v4, v6): (Vec<IpAddr>, Vec<IpAddr>) =
                resolved.iter().partition(|a| a.is_ipv4());
            v4.extend(v6);
            v4
        }
        _ => resolved.to_vec(),
    }
}

/// The outcome of walking `tries`: the address reached, and whether a wait came first.
fn walk(w: &Walk, tries: &[IpAddr], results: &[&Attempt]) -> (ClientResult, Option<IpAddr>) {
    let state = |ip: IpAddr| at(results, ip);
    let serial = |list: &[IpAddr]| -> (ClientResult, Option<IpAddr>) {
        let mut waited = false;
        for &ip in list {
            match state(ip) {
                At::Connects => {
                    let r = if waited {
                        ClientResult::ConnectsLate
                    } else {
                        ClientResult::Connects
                    };
                    return (r, Some(ip));
                }
                At::Unknown => return (ClientResult::Unknown, None),
                At::Silent => waited = true,
                At::Fails => {}
            }
        }
        if waited {
            (ClientResult::Hangs, None)
        } else {
            (ClientResult::Fails, None)
        }
    };
    match w {
        Walk::Serial => serial(tries),
        Walk::First => serial(&tries[..tries.len().min(1)]),
        Walk::Alternating => {
            // Each address gets a short attempt timeout, so a silent one costs 250 ms: the
            // order is what matters, and reaching a later address is not "late".
            let (first, second): (Vec<IpAddr>, Vec<IpAddr>) = match tries.first() {
                Some(f) => tries.iter().partition(|a| a.is_ipv4() == f.is_ipv4()),
                None => (Vec::new(), Vec::new()),
            };
            let mut alternated = Vec::new();
            for i in 0..first.len().max(second.len()) {
                alternated.extend(first.get(i));
                alternated.extend(second.get(i));
            }
            match serial(&alternated) {
                (ClientResult::ConnectsLate, ip) => (ClientResult::Connects, ip),
                other => other,
            }
        }
        Walk::TwoFamilies => {
            let (primary, fallback): (Vec<IpAddr>, Vec<IpAddr>) = match tries.first() {
                Some(f) => tries.iter().partition(|a| a.is_ipv4() == f.is_ipv4()),
                None => (Vec::new(), Vec::new()),
            };
            match serial(&primary) {
                (ClientResult::Connects, ip) => (ClientResult::Connects, ip),
                (ClientResult::Unknown, _) => (ClientResult::Unknown, None),
                // The first family failed, or is still waiting: the other family has started
                // (after its short delay), and wins when it connects.
                (first, ip) => match serial(&fallback) {
                    (ClientResult::Connects | ClientResult::ConnectsLate, fip) => {
                        (ClientResult::Connects, fip)
                    }
                    (ClientResult::Unknown, _) => (ClientResult::Unknown, None),
                    (second, _) => match first {
                        ClientResult::ConnectsLate => (ClientResult::ConnectsLate, ip),
                        ClientResult::Hangs => (ClientResult::Hangs, None),
                        _ => (second, None),
                    },
                },
            }
        }
    }
}

/// The error a client shows when it fails, in its own words (as the tests saw them).
fn error_text(id: ClientId, host: &str, port: u16, failed: Option<&Attempt>) -> String {
    let result = failed.map(|a| a.result);
    let refused = result == Some(AttemptResult::Refused);
    let timeout = result == Some(AttemptResult::Timeout);
    let addr = failed.map(|a| a.address);
    let python = if refused {
        "ConnectionRefusedError: [Errno 111] Connection refused"
    } else if timeout {
        "TimeoutError: timed out"
    } else {
        "OSError: [Errno 101] Network is unreachable"
    };
    let waits = "no error at first: it waits until the kernel gives up (about two minutes)";
    match id {
        ClientId::Curl => {
            format!("curl: (7) Failed to connect to {host} port {port}: Couldn't connect to server")
        }
        ClientId::Python => python.to_owned(),
        ClientId::PythonRequests => format!(
            "requests.exceptions.ConnectionError: Failed to establish a new connection: {}",
            python.split_once(": ").map_or(python, |(_, m)| m)
        ),
        ClientId::NodeAutoSelect => "AggregateError [ECONNREFUSED]".into(),
        ClientId::NodeFirstAddress if timeout => format!("{waits}, then ETIMEDOUT"),
        // Node writes an IPv6 address without brackets.
        ClientId::NodeFirstAddress => format!(
            "connect {} {}:{port}",
            if refused {
                "ECONNREFUSED"
            } else {
                "ENETUNREACH"
            },
            addr.map_or_else(|| host.to_owned(), |a| a.to_string())
        ),
        ClientId::Go => format!(
            "dial tcp {}: connect: {}",
            addr.map_or_else(
                || format!("{host}:{port}"),
                |a| std::net::SocketAddr::new(a, port).to_string()
            ),
            if refused {
                "connection refused"
            } else if timeout {
                "connection timed out"
            } else {
                "network is unreachable"
            }
        ),
        ClientId::Java if timeout => {
            format!("{waits}, then java.net.ConnectException: Connection timed out")
        }
        ClientId::Java => format!(
            "java.net.ConnectException: {}",
            if refused {
                "Connection refused"
            } else {
                "Network is unreachable"
            }
        ),
        ClientId::Browser => "the browser's connection error page".into(),
    }
}

/// Predict every client. `attempts` are the resolver's addresses in its order; `extra` the
/// addresses only clients use (`own_addresses`). `literal`: the host is an address.
pub(crate) fn predict(
    host: &str,
    port: u16,
    literal: bool,
    attempts: &[Attempt],
    extra: &[Attempt],
) -> Vec<ClientOutcome> {
    let resolved: Vec<IpAddr> = attempts.iter().map(|a| a.address).collect();
    let results: Vec<&Attempt> = attempts.iter().chain(extra).collect();
    PROFILES
        .iter()
        .map(|p| {
            let tries = order(p.id, host, &resolved, literal);
            let (result, reaches) = walk(&p.walk, &tries, &results);
            let error = matches!(result, ClientResult::Fails | ClientResult::Hangs).then(|| {
                // The error a client reports is the last one it met (Python, Go's first
                // family), or the first address's (the first-address-only clients).
                let shown = match p.walk {
                    Walk::First | Walk::TwoFamilies => tries.first(),
                    Walk::Serial | Walk::Alternating => tries.last(),
                };
                let failed = shown.and_then(|ip| results.iter().find(|a| a.address == *ip));
                // With one address Node.js does not race families and reports it as without.
                let id = match p.id {
                    ClientId::NodeAutoSelect if tries.len() < 2 => ClientId::NodeFirstAddress,
                    id => id,
                };
                error_text(id, host, port, failed.copied())
            });
            ClientOutcome {
                client: p.id,
                label: p.label.to_owned(),
                tries,
                result,
                reaches,
                error,
                how: p.how.to_owned(),
                tested: p.tested,
            }
        })
        .collect()
}

/// `curl, Python and Go`: the labels of the tested clients in `list`, short.
pub(crate) fn names(list: &[&ClientOutcome]) -> String {
    let short: Vec<&str> = list
        .iter()
        .filter(|c| c.tested)
        .filter_map(|c| PROFILES.iter().find(|p| p.id == c.client))
        .map(|p| p.short)
        .collect();
    match short.as_slice() {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

/// `curl and Java connect to 127.0.0.1; Python's socket.create_connection fails`: the tested
/// clients grouped by outcome, in profile order; `None` when no tested client's outcome is known.
pub(crate) fn summary(clients: &[ClientOutcome]) -> Option<String> {
    type Key = (ClientResult, Option<IpAddr>);
    let mut groups: Vec<(Key, Vec<&ClientOutcome>)> = Vec::new();
    for c in clients
        .iter()
        .filter(|c| c.tested && c.result != ClientResult::Unknown)
    {
        let key = (c.result, c.reaches);
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(c),
            None => groups.push((key, vec![c])),
        }
    }
    let parts: Vec<String> = groups
        .iter()
        .map(|((result, reaches), v)| {
            let who = names(v);
            let s = if v.len() == 1 { "s" } else { "" };
            let at = reaches.map(|a| a.to_string()).unwrap_or_default();
            match result {
                ClientResult::Connects => format!("{who} connect{s} to {at}"),
                ClientResult::ConnectsLate => {
                    format!("{who} connect{s} to {at} only after a timeout at an earlier address")
                }
                ClientResult::Hangs => format!("{who} wait{s} for a timeout, then fail{s}"),
                _ => format!("{who} fail{s}"),
            }
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attempt(ip: &str, result: AttemptResult) -> Attempt {
        Attempt {
            address: ip.parse().expect("ip"),
            port: 8100,
            result,
            time_ms: None,
            http_status: None,
            http_status_line: None,
            detail: None,
        }
    }

    fn outcome(v: &[ClientOutcome], id: ClientId) -> (ClientResult, Option<String>) {
        let c = v.iter().find(|c| c.client == id).expect("profile");
        (c.result, c.reaches.map(|a| a.to_string()))
    }

    use AttemptResult::{Connected, Refused, Timeout};
    use ClientResult::{Connects, ConnectsLate, Fails, Hangs};

    #[test]
    fn first_address_refused() {
        let v = predict(
            "localhost",
            8100,
            false,
            &[attempt("::1", Refused), attempt("127.0.0.1", Connected)],
            &[],
        );
        let ok4 = (Connects, Some("127.0.0.1".to_owned()));
        for id in [
            ClientId::Curl,
            ClientId::Python,
            ClientId::PythonRequests,
            ClientId::NodeAutoSelect,
            ClientId::Go,
            ClientId::Java,
        ] {
            assert_eq!(outcome(&v, id), ok4, "{id}");
        }
        assert_eq!(outcome(&v, ClientId::NodeFirstAddress), (Fails, None));
        let node = v
            .iter()
            .find(|c| c.client == ClientId::NodeFirstAddress)
            .expect("node");
        assert_eq!(node.error.as_deref(), Some("connect ECONNREFUSED ::1:8100"));
    }

    #[test]
    fn split_sends_curl_and_java_to_ipv4_and_the_rest_to_ipv6() {
        let v = predict(
            "localhost",
            8102,
            false,
            &[attempt("::1", Connected), attempt("127.0.0.1", Connected)],
            &[],
        );
        for id in [ClientId::Curl, ClientId::Java] {
            assert_eq!(outcome(&v, id).1.as_deref(), Some("127.0.0.1"), "{id}");
        }
        for id in [ClientId::Python, ClientId::NodeFirstAddress, ClientId::Go] {
            assert_eq!(outcome(&v, id).1.as_deref(), Some("::1"), "{id}");
        }
    }

    #[test]
    fn the_summary_groups_tested_clients_by_outcome() {
        let v = predict(
            "localhost",
            8100,
            false,
            &[attempt("::1", Refused), attempt("127.0.0.1", Connected)],
            &[],
        );
        let s = summary(&v).expect("summary");
        assert!(s.starts_with("curl, Python's socket.create_connection, requests, Node.js with autoSelectFamily (its default from Node 20), Go and Java connect to 127.0.0.1; Node.js without autoSelectFamily (its default before Node 20) fails"), "{s}");
        assert!(!s.contains("browser"), "{s}");
    }

    #[test]
    fn a_dropped_first_address_costs_the_serial_clients_their_timeout() {
        let v = predict(
            "localhost",
            8104,
            false,
            &[attempt("::1", Timeout), attempt("127.0.0.1", Connected)],
            &[],
        );
        assert_eq!(
            outcome(&v, ClientId::Python),
            (ConnectsLate, Some("127.0.0.1".into()))
        );
        assert_eq!(
            outcome(&v, ClientId::Go),
            (Connects, Some("127.0.0.1".into()))
        );
        assert_eq!(
            outcome(&v, ClientId::NodeAutoSelect),
            (Connects, Some("127.0.0.1".into()))
        );
        assert_eq!(outcome(&v, ClientId::NodeFirstAddress), (Hangs, None));
    }

    #[test]
    fn curl_ignores_the_resolver_for_localhost_and_needs_its_own_attempts() {
        let resolved = [attempt("198.18.2.5", AttemptResult::Unreachable)];
        let v = predict("localhost", 8102, false, &resolved, &[]);
        assert_eq!(outcome(&v, ClientId::Curl).0, ClientResult::Unknown);
        let own = [attempt("127.0.0.1", Refused), attempt("::1", Connected)];
        let v = predict("localhost", 8102, false, &resolved, &own);
        assert_eq!(outcome(&v, ClientId::Curl), (Connects, Some("::1".into())));
        assert_eq!(outcome(&v, ClientId::Python), (Fails, None));
    }
}
