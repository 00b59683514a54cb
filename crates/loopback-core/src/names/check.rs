//! Which names and addresses `names add` accepts, and the lowest free address.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr};

use loopback_sys::parse::hosts::HostsEntry;

use super::NamesError;
use crate::snapshot::Snapshot;

/// A host name as RFC 1123 allows it, in lower case: labels of letters, digits and hyphens
/// (1 to 63 characters, no hyphen first or last), 253 characters at most, no final dot (the
/// C library would not match it to the hosts file), a last label that is not all digits (so
/// never an IPv4 address), and not `localhost` itself.
pub fn check_name(name: &str) -> Result<String, NamesError> {
    let bad = |why: &str| NamesError::BadName {
        name: name.to_owned(),
        why: why.to_owned(),
    };
    let n = name.to_ascii_lowercase();
    if n.is_empty() {
        return Err(bad("it is empty"));
    }
    if n.len() > 253 {
        return Err(bad("it is longer than 253 characters"));
    }
    if n.ends_with('.') {
        return Err(bad("it ends with a dot (write it without)"));
    }
    for label in n.split('.') {
        if label.is_empty() {
            return Err(bad(
                "it has an empty label (two dots in a row, or a dot first)",
            ));
        }
        if label.len() > 63 {
            return Err(bad("a label is longer than 63 characters"));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(bad(&format!(
                "{c:?} is not a letter, digit or hyphen (an internationalized name goes in its xn-- form)"
            )));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(bad("a label starts or ends with a hyphen"));
        }
    }
    if n.rsplit('.')
        .next()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(bad("its last label is all digits, like an address"));
    }
    if n == "localhost" {
        return Err(NamesError::Localhost);
    }
    Ok(n)
}

/// An address `names` may plan: IPv4 in 127.0.0.0/8, not the network or broadcast address.
pub fn check_address(a: IpAddr) -> Result<Ipv4Addr, NamesError> {
    let bad = |why: &str| NamesError::BadAddress {
        address: a,
        why: why.to_owned(),
    };
    match a {
        IpAddr::V6(_) => Err(bad(
            "only IPv4 loopback addresses are planned: IPv6 has one, ::1, and localhost holds it",
        )),
        IpAddr::V4(v4) if !v4.is_loopback() => Err(bad("not in 127.0.0.0/8 (loopback)")),
        IpAddr::V4(v4) if v4.octets()[1..] == [0, 0, 0] || v4.octets()[1..] == [255, 255, 255] => {
            Err(bad("the network or broadcast address of 127.0.0.0/8"))
        }
        IpAddr::V4(v4) => Ok(v4),
    }
}

/// The addresses sockets are bound to exactly (an IPv4-mapped one counts as IPv4).
pub(crate) fn bound_addresses(snap: &Snapshot) -> BTreeSet<IpAddr> {
    let Some(scan) = snap.sockets.ok() else {
        return BTreeSet::new();
    };
    scan.sockets
        .iter()
        .map(|s| match s.address {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
            a => a,
        })
        .collect()
}

/// What holds `a`: a hosts-file line, or a listener.
pub(crate) fn in_use(
    a: IpAddr,
    entries: &[HostsEntry],
    bound: &BTreeSet<IpAddr>,
    path: &str,
) -> Option<String> {
    if let Some(e) = entries.iter().find(|e| e.address == a) {
        return Some(format!(
            "line {} of {path} maps it ({} {})",
            e.line,
            e.address,
            e.names.join(" ")
        ));
    }
    bound
        .contains(&a)
        .then(|| "a socket is bound to it (`loopback audit` lists it with its owner)".to_owned())
}

/// The lowest address of 127.0.0.2-127.0.0.254 that no line maps and no socket is bound to.
pub(crate) fn lowest_free(entries: &[HostsEntry], bound: &BTreeSet<IpAddr>) -> Option<IpAddr> {
    let used: BTreeSet<IpAddr> = entries.iter().map(|e| e.address).collect();
    (2..=254u8)
        .map(|d| IpAddr::V4(Ipv4Addr::new(127, 0, 0, d)))
        .find(|a| !used.contains(a) && !bound.contains(a))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(check_name("API.Test").ok().as_deref(), Some("api.test"));
        assert!(check_name("a-b.c1.internal").is_ok());
        for bad in [
            "",
            "a..b",
            ".a",
            "a.",
            "-a.test",
            "a-.test",
            "a_b.test",
            "héllo.test",
            "a b",
            "127.0.0.2",
            "x.123",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(
            check_name("LocalHost"),
            Err(NamesError::Localhost)
        ));
        assert!(check_name(&"a".repeat(64)).is_err());
        assert!(check_name(&["a"; 130].join(".")).is_err());
    }

    #[test]
    fn addresses() {
        assert!(check_address("127.0.0.2".parse().expect("ip")).is_ok());
        assert!(check_address("127.200.1.9".parse().expect("ip")).is_ok());
        for bad in ["10.0.0.1", "::1", "127.0.0.0", "127.255.255.255"] {
            assert!(check_address(bad.parse().expect("ip")).is_err(), "{bad}");
        }
    }

    #[test]
    fn lowest_free_skips_lines_and_sockets() {
        let (entries, _) = loopback_sys::parse::hosts::parse_hosts(
            b"127.0.0.1 localhost\n127.0.0.2 a\n127.0.0.4 b\n",
        );
        let bound: BTreeSet<IpAddr> = ["127.0.0.3".parse().expect("ip")].into();
        assert_eq!(
            lowest_free(&entries, &bound),
            Some("127.0.0.5".parse().expect("ip"))
        );
        assert!(in_use(
            "127.0.0.4".parse().expect("ip"),
            &entries,
            &bound,
            "/etc/hosts"
        )
        .is_some_and(|w| w.contains("line 3")));
    }
}
