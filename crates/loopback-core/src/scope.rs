//! Who can reach a bound socket: its bind scope, whether another host could reach it through an
//! interface present now, and through which interfaces.

use std::net::IpAddr;

use loopback_model::{BindScope, BoundSocket, Interface};

use crate::classify::{is_loopback, is_wildcard, unmap};

/// What the audit needs to know about the namespace's interfaces.
#[derive(Debug, Clone, Default)]
pub struct Links {
    /// Every interface with its addresses.
    pub interfaces: Vec<Interface>,
    /// Names of interfaces with `net.ipv4.conf.NAME.route_localnet=1`: hosts on those links can
    /// reach 127.0.0.0/8 services (CVE-2020-8558).
    pub route_localnet: Vec<String>,
    /// Every address inside a loopback interface's prefix is local (Linux and Windows deliver
    /// all of 127.0.0.0/8); on macOS only the addresses `lo0` holds are, until an alias adds
    /// one (`ifconfig lo0 alias 127.0.0.2`).
    pub prefix_local: bool,
}

impl Links {
    /// The interfaces of a snapshot, with the `route_localnet` settings of the non-loopback
    /// ones (none when the kernel settings were not captured).
    pub fn from_snapshot(
        snap: &crate::snapshot::Snapshot,
    ) -> Result<Links, crate::snapshot::MissingPart> {
        let interfaces = snap.interfaces.get("interfaces")?.clone();
        let route_localnet = snap
            .kernel
            .ok()
            .map(|k| {
                interfaces
                    .iter()
                    .filter(|i| !i.loopback && k.route_localnet.get(&i.name) == Some(&true))
                    .map(|i| i.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        Ok(Links {
            interfaces,
            route_localnet,
            prefix_local: snap.os != loopback_model::Os::Macos,
        })
    }

    /// The interface with `index`.
    pub fn by_index(&self, index: u32) -> Option<&Interface> {
        self.interfaces.iter().find(|i| i.index == index)
    }

    fn loopback_names(&self) -> impl Iterator<Item = &str> {
        self.interfaces
            .iter()
            .filter(|i| i.loopback)
            .map(|i| i.name.as_str())
    }
}

/// The loopback interface: the one with `IFF_LOOPBACK`, whatever it is called (`lo` can be
/// renamed).
pub fn loopback_interface(interfaces: &[Interface]) -> Option<&Interface> {
    interfaces.iter().find(|i| i.loopback)
}

/// The name of the loopback interface for sysctl keys and messages; `lo` when none is found.
pub fn loopback_name(interfaces: &[Interface]) -> String {
    loopback_interface(interfaces).map_or_else(|| "lo".to_owned(), |i| i.name.clone())
}

/// The bind scope of a socket.
pub fn bind_scope(sock: &BoundSocket, links: &Links) -> BindScope {
    let on_loopback_device = sock
        .bound_ifindex
        .and_then(|i| links.by_index(i))
        .is_some_and(|i| i.loopback);
    if is_loopback(sock.address) || on_loopback_device {
        BindScope::Loopback
    } else if is_wildcard(sock.address) {
        BindScope::Wildcard
    } else {
        BindScope::Specific
    }
}

/// Whether other hosts can reach a socket, and through which interfaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reach {
    /// Hosts other than this one can connect.
    pub exposed: bool,
    /// The interfaces connections can arrive on.
    pub via: Vec<String>,
    /// Why, where it is not obvious.
    pub notes: Vec<String>,
}

/// Which address families a socket accepts: (IPv4, IPv6).
///
/// A `::` socket accepts IPv4 too unless `IPV6_V6ONLY` is set; when `v6only` is unknown (the
/// `/proc` fallback) it is assumed dual-stack, the answer that hides no exposure.
pub fn families(address: IpAddr, v6only: Option<bool>) -> (bool, bool) {
    match address {
        IpAddr::V4(_) => (true, false),
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => (true, false),
        IpAddr::V6(v6) if v6.is_unspecified() => (v6only != Some(true), true),
        IpAddr::V6(_) => (false, true),
    }
}

/// What an IPv6 wildcard socket (`::`) takes: the one rule behind every "dual-stack" label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WildcardStack {
    /// `IPV6_V6ONLY` is set: IPv6 only.
    Ipv6Only,
    /// `IPV6_V6ONLY` is off: IPv4 too.
    DualStack,
    /// `IPV6_V6ONLY` is unknown (the `/proc` fallback): assumed dual-stack.
    AssumedDualStack,
}

/// The stack of an IPv6 wildcard socket; `None` for any other address.
pub fn wildcard_stack(address: IpAddr, v6only: Option<bool>) -> Option<WildcardStack> {
    match (address, v6only) {
        (IpAddr::V6(a), Some(true)) if a.is_unspecified() => Some(WildcardStack::Ipv6Only),
        (IpAddr::V6(a), Some(false)) if a.is_unspecified() => Some(WildcardStack::DualStack),
        (IpAddr::V6(a), None) if a.is_unspecified() => Some(WildcardStack::AssumedDualStack),
        _ => None,
    }
}

/// Decide reachability. `scope` must come from [`bind_scope`] for the same socket.
pub fn reach(sock: &BoundSocket, scope: BindScope, links: &Links) -> Reach {
    let mut notes = Vec::new();
    let device = sock.bound_ifindex.and_then(|i| links.by_index(i));
    if let Some(dev) = device.filter(|d| d.loopback) {
        return Reach {
            exposed: false,
            via: vec![dev.name.clone()],
            notes,
        };
    }
    // With SO_BINDTODEVICE only that device delivers to the socket; otherwise, by Linux's weak
    // host model, every non-loopback interface can deliver to any local address.
    let candidates: Vec<&Interface> = match device {
        Some(dev) => vec![dev],
        None => links.interfaces.iter().filter(|i| !i.loopback).collect(),
    };
    let (v4, v6) = families(sock.address, sock.v6only);
    let external: Vec<&Interface> = match scope {
        BindScope::Loopback => {
            if v4 && !v6 && is_loopback(unmap(sock.address)) {
                let leaky: Vec<&Interface> = candidates
                    .into_iter()
                    .filter(|i| links.route_localnet.contains(&i.name))
                    .collect();
                for i in &leaky {
                    notes.push(format!(
                        "net.ipv4.conf.{}.route_localnet=1: hosts on {} can reach 127.0.0.0/8 \
                         services (CVE-2020-8558); set it to 0",
                        i.name, i.name
                    ));
                }
                leaky
            } else {
                // ::1 is never accepted from a wire.
                Vec::new()
            }
        }
        BindScope::Wildcard | BindScope::Specific => candidates
            .into_iter()
            .filter(|i| (v4 && i.has_family(true)) || (v6 && i.has_family(false)))
            .collect(),
    };
    let mut via: Vec<String> = Vec::new();
    if device.is_none() {
        via.extend(links.loopback_names().map(str::to_owned));
    }
    via.extend(external.iter().map(|i| i.name.clone()));
    Reach {
        exposed: !external.is_empty(),
        via,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::iface;
    use loopback_model::{InterfaceAddress, Proto};

    fn lo() -> Interface {
        iface(1, "lo", true, &["127.0.0.1/8", "::1/128"])
    }

    fn lan() -> Links {
        Links {
            interfaces: vec![
                lo(),
                iface(
                    2,
                    "veth0",
                    false,
                    &["198.18.0.1/24", "fd00::1/64", "fe80::1/64"],
                ),
            ],
            route_localnet: vec![],
            prefix_local: true,
        }
    }

    fn v4_only_lan() -> Links {
        Links {
            interfaces: vec![lo(), iface(2, "veth0", false, &["198.18.0.1/24"])],
            route_localnet: vec![],
            prefix_local: true,
        }
    }

    fn sock(addr: &str, v6only: Option<bool>, dev: Option<u32>) -> BoundSocket {
        BoundSocket {
            proto: Proto::Tcp,
            address: addr.parse().expect("ip"),
            port: 80,
            v6only,
            bound_ifindex: dev,
            ifindex_known: true,
            uid: 0,
            inode: 1,
        }
    }

    fn judge(s: &BoundSocket, links: &Links) -> (BindScope, bool, Vec<String>) {
        let scope = bind_scope(s, links);
        let r = reach(s, scope, links);
        (scope, r.exposed, r.via)
    }

    #[test]
    fn loopback_addresses_are_host_only() {
        for a in [
            "127.0.0.1",
            "127.0.0.2",
            "127.0.0.53",
            "::1",
            "::ffff:127.0.0.1",
        ] {
            let (scope, exposed, via) = judge(&sock(a, Some(false), None), &lan());
            assert_eq!(scope, BindScope::Loopback, "{a}");
            assert!(!exposed, "{a}");
            assert_eq!(via, vec!["lo"], "{a}");
        }
    }

    #[test]
    fn wildcards_depend_on_interfaces_and_v6only() {
        let (s, e, via) = judge(&sock("0.0.0.0", None, None), &lan());
        assert_eq!((s, e), (BindScope::Wildcard, true));
        assert_eq!(via, vec!["lo", "veth0"]);
        // dual-stack :: on a link with only IPv4: exposed through IPv4
        assert!(judge(&sock("::", Some(false), None), &v4_only_lan()).1);
        // v6only :: on a link with only IPv4: not exposed
        let (_, e, via) = judge(&sock("::", Some(true), None), &v4_only_lan());
        assert!(!e);
        assert_eq!(via, vec!["lo"]);
        // unknown v6only is assumed dual-stack
        assert!(judge(&sock("::", None, None), &v4_only_lan()).1);
        // IPv4 wildcard mapped into IPv6
        assert!(judge(&sock("::ffff:0.0.0.0", Some(false), None), &v4_only_lan()).1);
    }

    #[test]
    fn lo_only_namespace_exposes_nothing() {
        let links = Links {
            interfaces: vec![lo()],
            route_localnet: vec![],
            prefix_local: true,
        };
        for a in ["0.0.0.0", "::", "10.9.9.9"] {
            let (_, e, via) = judge(&sock(a, Some(false), None), &links);
            assert!(!e, "{a}");
            assert_eq!(via, vec!["lo"]);
        }
        assert_eq!(
            judge(&sock("::", Some(false), None), &links).0,
            BindScope::Wildcard
        );
    }

    #[test]
    fn non_127_address_on_lo_is_specific_and_exposed() {
        let mut links = lan();
        links.interfaces[0].addresses.push(InterfaceAddress {
            address: "192.0.2.53".parse().expect("ip"),
            prefix_len: 32,
        });
        let (s, e, via) = judge(&sock("192.0.2.53", None, None), &links);
        assert_eq!((s, e), (BindScope::Specific, true));
        assert_eq!(via, vec!["lo", "veth0"]);
    }

    #[test]
    fn bound_to_lo_device_is_loopback_even_on_wildcard() {
        let (s, e, via) = judge(&sock("0.0.0.0", None, Some(1)), &lan());
        assert_eq!(
            (s, e, via),
            (BindScope::Loopback, false, vec!["lo".to_owned()])
        );
        let (s, e, _) = judge(&sock("::", Some(false), Some(1)), &lan());
        assert_eq!((s, e), (BindScope::Loopback, false));
    }

    #[test]
    fn bound_to_lan_device_reaches_only_that_device() {
        let mut links = lan();
        links
            .interfaces
            .push(iface(3, "veth1", false, &["198.19.0.1/24"]));
        let (s, e, via) = judge(&sock("0.0.0.0", None, Some(2)), &links);
        assert_eq!(
            (s, e, via),
            (BindScope::Wildcard, true, vec!["veth0".to_owned()])
        );
        // a v6only socket bound to a device with no IPv6
        let (_, e, _) = judge(&sock("::", Some(true), Some(3)), &links);
        assert!(!e);
    }

    #[test]
    fn route_localnet_exposes_ipv4_loopback() {
        let mut links = lan();
        links.route_localnet.push("veth0".into());
        let s = sock("127.0.0.1", None, None);
        let scope = bind_scope(&s, &links);
        let r = reach(&s, scope, &links);
        assert_eq!(scope, BindScope::Loopback);
        assert!(r.exposed);
        assert_eq!(r.via, vec!["lo", "veth0"]);
        assert!(r.notes[0].contains("CVE-2020-8558"));
        // ::1 stays host-only
        assert!(!judge(&sock("::1", Some(false), None), &links).1);
    }
}
