//! `explain`: what an address is and who can reach a service bound to it.

use std::net::IpAddr;

use ipnet::IpNet;
use loopback_model::{
    AddressExplanation, AddressKind, Assignment, Explanation, Listener, EXPLAIN_VERSION,
};
use loopback_sys::{Prober, SysError, SystemView};

use crate::audit::{audit, AuditOptions};
use crate::classify::{classify, classify_net, unmap};
use crate::scope::{families, Links};
use crate::snapshot::{MissingPart, Parts, Request, Snapshot};
use crate::target::{Target, TargetError};
use crate::timings::Timings;

/// Errors from `explain`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExplainError {
    /// The target does not follow the grammar.
    #[error(transparent)]
    BadTarget(#[from] TargetError),
    /// The host name does not resolve.
    #[error(transparent)]
    Resolve(#[from] SysError),
    /// The snapshot lacks a part the explanation needs.
    #[error("cannot explain without {0}")]
    Missing(#[from] MissingPart),
}

/// The snapshot parts an explanation of `target` reads: the listeners only when a port is
/// given.
pub fn parts_for(target: &Target) -> Parts {
    if target.port().is_some() {
        Parts::LISTENERS
    } else {
        Parts::LINKS
    }
}

/// Parse `text`, resolve a host name with `prober`, capture what the explanation needs from
/// `sys`, and judge it.
pub fn run(
    sys: &dyn SystemView,
    prober: &dyn Prober,
    text: &str,
    timings: &Timings,
) -> Result<Explanation, ExplainError> {
    let (target, resolved) = timings.time("resolve", || resolve_target(prober, text))?;
    let snap = timings.time("capture", || {
        crate::snapshot::capture(sys, &Request::of(parts_for(&target)))
    });
    Ok(timings.time("judge", || explain(&snap, text, &target, &resolved))?)
}

/// Parse `text` and, when it names a host, resolve it with `prober` (addresses in the
/// resolver's order; none for an address or a network).
pub fn resolve_target(
    prober: &dyn Prober,
    text: &str,
) -> Result<(Target, Vec<IpAddr>), ExplainError> {
    let target = crate::target::parse(text)?;
    let resolved = match &target {
        Target::Host(host, _) => prober.resolve(host)?,
        _ => Vec::new(),
    };
    Ok((target, resolved))
}

/// Explain `target` (given as `text`) on a snapshot; `resolved` holds the addresses a host
/// name resolved to, in the resolver's order.
pub fn explain(
    snap: &Snapshot,
    text: &str,
    target: &Target,
    resolved: &[IpAddr],
) -> Result<Explanation, MissingPart> {
    let links = Links::from_snapshot(snap)?;
    let bindv6only = snap.kernel.ok().and_then(|k| k.bindv6only) == Some(true);
    // (address, prefix length for a CIDR), the resolved name, the port
    type Items = (Vec<(IpAddr, Option<u8>)>, Option<String>, Option<u16>);
    let (items, name, port): Items = match target {
        Target::Addr(ip, port) => (vec![(*ip, None)], None, *port),
        Target::Scoped(ip, _, port) => (vec![(IpAddr::V6(*ip), None)], None, *port),
        Target::Net(net) => (vec![(net.network(), Some(net.prefix_len()))], None, None),
        Target::Host(host, port) => (
            resolved.iter().map(|ip| (*ip, None)).collect(),
            Some(host.clone()),
            *port,
        ),
    };
    let mut warnings = Vec::new();
    if let Target::Scoped(_, zone, _) = target {
        if crate::target::zone_index(zone, snap.interface_list()).is_none() {
            warnings.push(format!(
                "zone {zone}: no such interface in this network namespace, so the C library would not read {} as an address",
                target.host()
            ));
        }
    }
    let listeners = match port {
        Some(_) => {
            let report = audit(snap, &AuditOptions::default())?;
            warnings.extend(report.warnings);
            Some(report.listeners)
        }
        None => None,
    };
    let addresses = items
        .into_iter()
        .map(|(ip, prefix_len)| {
            let (class, homogeneous) = match prefix_len.and_then(|len| IpNet::new(ip, len).ok()) {
                Some(net) => classify_net(net),
                None => (classify(ip), true),
            };
            let assigned = assignments(ip, &links);
            let mut reach = reach_sentence(
                ip, prefix_len, class.kind, &assigned, &links, bindv6only, snap.os,
            );
            if !homogeneous {
                reach.push_str(&format!(
                    " The network spans several special-purpose ranges; its first address is {}.",
                    class.kind.as_str()
                ));
            }
            let accepting = match (&listeners, port) {
                (Some(all), Some(port)) => Some(
                    all.iter()
                        .filter(|l| l.port == port && accepts(l, ip, &links))
                        .cloned()
                        .collect(),
                ),
                _ => None,
            };
            AddressExplanation {
                address: ip,
                prefix_len,
                class,
                assigned,
                reach,
                listeners: accepting,
            }
        })
        .collect();
    Ok(Explanation {
        version: EXPLAIN_VERSION,
        target: text.to_owned(),
        name,
        port,
        addresses,
        warnings,
    })
}

/// Where `ip` is local on this host: assigned exactly, or inside a prefix on a loopback
/// interface (127.0.0.1/8 on `lo` makes the whole block local).
pub fn assignments(ip: IpAddr, links: &Links) -> Vec<Assignment> {
    let ip = unmap(ip);
    let mut out = Vec::new();
    for iface in &links.interfaces {
        for a in &iface.addresses {
            let exact = a.address == ip;
            let covered = iface.loopback
                && links.prefix_local
                && IpNet::new(a.address, a.prefix_len).is_ok_and(|n| n.contains(&ip));
            if exact || covered {
                out.push(Assignment {
                    interface: iface.name.clone(),
                    via: format!("{}/{}", a.address, a.prefix_len),
                    exact,
                });
            }
        }
    }
    out
}

/// Does `listener` accept connections addressed to `ip`?
pub fn accepts(listener: &Listener, ip: IpAddr, links: &Links) -> bool {
    let (v4, v6) = families(listener.address, listener.v6only);
    let target_v4 = unmap(ip).is_ipv4();
    let family_ok = if target_v4 { v4 } else { v6 };
    if !family_ok {
        return false;
    }
    let bound = unmap(listener.address);
    let address_ok = bound.is_unspecified() || bound == unmap(ip);
    // A socket bound to a device only sees packets that device delivers: local traffic arrives
    // on a loopback device.
    let device_ok = match &listener.interface {
        None => true,
        Some(dev) => {
            let is_local = !assignments(ip, links).is_empty();
            let dev_is_loopback = links
                .interfaces
                .iter()
                .any(|i| i.loopback && &i.name == dev);
            !is_local || dev_is_loopback
        }
    };
    address_ok && device_ok
}

fn names(ifaces: &[&str]) -> String {
    match ifaces {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {}", init.join(", "), last),
    }
}

fn reach_sentence(
    ip: IpAddr,
    prefix_len: Option<u8>,
    kind: AddressKind,
    assigned: &[Assignment],
    links: &Links,
    bindv6only: bool,
    os: loopback_model::Os,
) -> String {
    let shown = match prefix_len {
        Some(len) => format!("{ip}/{len}"),
        None => ip.to_string(),
    };
    let v4 = unmap(ip).is_ipv4();
    let external = |want_v4: bool, want_v6: bool| -> Vec<&str> {
        links
            .interfaces
            .iter()
            .filter(|i| !i.loopback)
            .filter(|i| (want_v4 && i.has_family(true)) || (want_v6 && i.has_family(false)))
            .map(|i| i.name.as_str())
            .collect()
    };
    match kind {
        AddressKind::Loopback => {
            let mut s = format!(
                "Only processes on this host{}, can reach a service \
                 bound to {shown}: the kernel delivers it over the loopback interface and drops \
                 it when it arrives from a wire.",
                if os == loopback_model::Os::Linux {
                    ", in this network namespace"
                } else {
                    ""
                }
            );
            let leaky: Vec<&str> = links.route_localnet.iter().map(String::as_str).collect();
            if v4 && !leaky.is_empty() {
                s.push_str(&format!(
                    " Except: route_localnet=1 on {} lets hosts on that link reach 127.0.0.0/8 \
                     (CVE-2020-8558).",
                    names(&leaky)
                ));
            }
            if assigned.is_empty() {
                s.push_str(
                    " No loopback interface holds this address now, so nothing can bind to it.",
                );
                if os == loopback_model::Os::Macos && v4 && prefix_len.is_none() {
                    s.push_str(&format!(
                        " On macOS only the addresses lo0 holds are local, not all of \
                         127.0.0.0/8: `sudo ifconfig lo0 alias {ip}` adds this one (until the \
                         next boot)."
                    ));
                }
            }
            s
        }
        AddressKind::Unspecified => {
            let (fam_v4, fam_v6) = if v4 {
                (true, false)
            } else {
                (!bindv6only, true)
            };
            let ext = external(fam_v4, fam_v6);
            let what = if v4 {
                "every IPv4 address of this host".to_owned()
            } else if bindv6only {
                "every IPv6 address of this host (net.ipv6.bindv6only=1 makes new sockets IPv6-only)"
                    .to_owned()
            } else {
                "every IPv6 address of this host, and every IPv4 address too unless the socket \
                 sets IPV6_V6ONLY (net.ipv6.bindv6only=0 here)"
                    .to_owned()
            };
            let mut s = format!("A service bound to {shown} accepts connections on {what}.");
            if ext.is_empty() {
                s.push_str(
                    " No non-loopback interface holds such an address now, so today only this \
                     host can reach it; that changes as soon as one does.",
                );
            } else {
                s.push_str(&format!(
                    " Other hosts can reach it through {}; this host reaches it over lo.",
                    names(&ext)
                ));
            }
            s
        }
        AddressKind::Multicast | AddressKind::Broadcast => format!(
            "{shown} is a {} destination, not a host address: a UDP socket can join or receive \
             it, and every host on the link (or in the multicast scope) can send to it.",
            kind.as_str()
        ),
        AddressKind::ThisNetwork | AddressKind::DiscardOnly | AddressKind::Reserved
            if assigned.is_empty() =>
        {
            format!("{shown} is not a usable unicast host address, and it is not assigned here.")
        }
        _ if prefix_len.is_some() => {
            let local: Vec<&str> = assigned.iter().map(|a| a.interface.as_str()).collect();
            if local.is_empty() {
                format!("No address of {shown} is assigned on this host.")
            } else {
                format!(
                    "{shown} includes addresses assigned here on {}.",
                    names(&local)
                )
            }
        }
        _ if assigned.is_empty() => format!(
            "{shown} is not assigned on this host: a service here cannot bind to it (bind fails \
             with EADDRNOTAVAIL unless IP_FREEBIND or ip_nonlocal_bind is set); connecting to it \
             leaves through the routing table."
        ),
        _ => {
            let holders: Vec<&str> = assigned.iter().map(|a| a.interface.as_str()).collect();
            let ext = external(v4, !v4);
            let audience = match kind {
                AddressKind::LinkLocal => "hosts on the same link",
                AddressKind::Private => "hosts on networks that route to it (private range)",
                AddressKind::Shared => "hosts behind the same carrier-grade NAT",
                AddressKind::Public => {
                    "any host on the Internet that can route to it, firewalls permitting"
                }
                _ => "hosts on networks that route to it",
            };
            let mut s = format!("{shown} is assigned here on {}. ", names(&holders));
            if ext.is_empty() {
                s.push_str(
                    "No non-loopback interface has an address of its family now, so only this \
                     host can reach a service bound to it today.",
                );
            } else {
                s.push_str(&format!(
                    "A service bound to it can be reached by {audience}, through {} (Linux \
                     accepts traffic for any local address on any interface); traffic from this \
                     host to {shown} still goes over lo.",
                    names(&ext)
                ));
            }
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeSystem;
    use loopback_model::Proto;

    #[test]
    fn explains_loopback_block_and_assignment() {
        let sys = FakeSystem::lan();
        let e = run(&sys, &sys, "127.1.2.3", &Timings::new()).expect("explain");
        let a = &e.addresses[0];
        assert_eq!(a.class.kind, AddressKind::Loopback);
        assert_eq!(a.assigned.len(), 1);
        assert!(!a.assigned[0].exact);
        assert_eq!(a.assigned[0].via, "127.0.0.1/8");
        assert!(a.reach.starts_with("Only processes on this host"));
        assert!(a.listeners.is_none());
    }

    #[test]
    fn on_macos_only_the_addresses_lo0_holds_are_local() {
        let mut mac = FakeSystem::with_interfaces(vec![crate::testing::iface(
            1,
            "lo0",
            true,
            &["127.0.0.1/8", "::1/128", "127.0.0.3/32"],
        )]);
        mac.os = loopback_model::Os::Macos;
        let a = &run(&mac, &mac, "127.0.0.2", &Timings::new())
            .expect("explain")
            .addresses[0];
        assert!(a.assigned.is_empty(), "{:?}", a.assigned);
        assert!(
            a.reach.contains("sudo ifconfig lo0 alias 127.0.0.2"),
            "{}",
            a.reach
        );
        assert!(!a.reach.contains("network namespace"), "{}", a.reach);
        let alias = &run(&mac, &mac, "127.0.0.3", &Timings::new())
            .expect("explain")
            .addresses[0];
        assert!(alias.assigned.iter().any(|x| x.exact), "an alias is local");
        // The same interface on Linux delivers the whole block.
        mac.os = loopback_model::Os::Linux;
        let linux = &run(&mac, &mac, "127.0.0.2", &Timings::new())
            .expect("explain")
            .addresses[0];
        assert_eq!(linux.assigned.len(), 1);
    }

    #[test]
    fn explains_lan_address_and_wildcard() {
        let sys = FakeSystem::lan();
        let a = &run(&sys, &sys, "198.18.0.1", &Timings::new())
            .expect("explain")
            .addresses[0];
        assert_eq!(a.class.kind, AddressKind::Benchmarking);
        assert!(a.assigned[0].exact);
        assert!(a.reach.contains("through veth0"), "{}", a.reach);
        assert!(a.reach.contains("still goes over lo"));
        let w = &run(&sys, &sys, "::", &Timings::new())
            .expect("explain")
            .addresses[0];
        assert!(w.reach.contains("IPV6_V6ONLY"), "{}", w.reach);
        assert!(w.reach.contains("through veth0"));
        let lo_only = FakeSystem::with_interfaces(vec![crate::testing::iface(
            1,
            "lo",
            true,
            &["127.0.0.1/8"],
        )]);
        let w = &run(&lo_only, &lo_only, "0.0.0.0", &Timings::new())
            .expect("explain")
            .addresses[0];
        assert!(w.reach.contains("only this host"), "{}", w.reach);
        let n = &run(&sys, &sys, "8.8.8.8", &Timings::new())
            .expect("explain")
            .addresses[0];
        assert!(n.reach.contains("not assigned"));
    }

    #[test]
    fn host_with_port_lists_accepting_listeners() {
        let mut sys = FakeSystem::lan();
        sys.names.insert(
            "localhost".into(),
            vec!["::1".parse().expect("ip"), "127.0.0.1".parse().expect("ip")],
        );
        sys.add_socket(Proto::Tcp, "127.0.0.1", 3000, None, 1);
        let e = run(&sys, &sys, "localhost:3000", &Timings::new()).expect("explain");
        assert_eq!(e.name.as_deref(), Some("localhost"));
        assert_eq!(e.addresses.len(), 2);
        assert_eq!(e.addresses[0].listeners.as_ref().map(Vec::len), Some(0));
        assert_eq!(e.addresses[1].listeners.as_ref().map(Vec::len), Some(1));
        assert!(run(&sys, &sys, "nonexistent.example:1", &Timings::new()).is_err());
    }

    #[test]
    fn dual_stack_wildcard_accepts_v4_v6only_does_not() {
        let mut sys = FakeSystem::lan();
        sys.add_socket(Proto::Tcp, "::", 80, Some(false), 1);
        sys.add_socket(Proto::Tcp, "::", 81, Some(true), 2);
        let e = run(&sys, &sys, "127.0.0.1:80", &Timings::new()).expect("explain");
        assert_eq!(e.addresses[0].listeners.as_ref().map(Vec::len), Some(1));
        let e = run(&sys, &sys, "127.0.0.1:81", &Timings::new()).expect("explain");
        assert_eq!(e.addresses[0].listeners.as_ref().map(Vec::len), Some(0));
    }
}
