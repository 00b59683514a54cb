//! `loopback bind`: whether a server could bind an address and port, and when it could not,
//! why, who holds it and what to do.
//!
//! [`run`] resolves the target to addresses ([`target`]), really binds each one with the
//! options asked for (through [`Prober::try_bind`], which never listens and closes at once),
//! captures one snapshot with the sockets that hold ports without listening, and hands both
//! to the pure [`judge()`]. The real bind decides the outcome; the snapshot only explains it.

use std::net::{IpAddr, SocketAddr};

use loopback_model::bind::{BindOptions, BindReport};
use loopback_model::Proto;
use loopback_sys::{Prober, SystemView};

use crate::snapshot::{capture, Parts, Request};
use crate::timings::Timings;

mod free;
mod holders;
pub mod judge;
pub mod target;

pub use judge::{judge, Tried};
pub use target::{parse_target, Host, Target};

/// What `bind` was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindRequest {
    /// `ADDR:PORT`, `PORT` or `NAME:PORT`.
    pub target: String,
    /// TCP or UDP.
    pub proto: Proto,
    /// The socket options of the binds.
    pub options: BindOptions,
}

/// Why `bind` could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// The target is not `ADDR:PORT`, `PORT` or `NAME:PORT`.
    #[error("{0}")]
    Target(String),
    /// The name did not resolve.
    #[error("{name} does not resolve: {why}")]
    Resolve {
        /// The name.
        name: String,
        /// The resolver's answer.
        why: String,
    },
    /// An option that does not apply to the addresses (IPv6-only on an IPv4 address).
    #[error("{0}")]
    Options(String),
}

/// The parts a bind judgment reads.
pub const PARTS: Parts = Parts {
    sockets: true,
    owners: true,
    service_files: false,
    interfaces: true,
    kernel: true,
    routes: false,
    resolver: false,
    firewall: false,
    held: true,
};

/// The TCP sockets bound to a port and not listening in the audited namespaces of `host`
/// (`audit --bound`), with their owners, and what could not be seen.
pub fn bound_sockets(
    host: &crate::host::HostSnapshot,
) -> (Vec<loopback_model::bind::BindHolder>, Vec<String>) {
    let mut out = Vec::new();
    let mut unseen = Vec::new();
    for ns in host.namespaces.iter().filter(|n| n.audited) {
        let snap = &ns.snapshot;
        match &snap.held {
            crate::snapshot::Part::Captured(held) => {
                unseen.extend(held.unseen.iter().cloned());
                out.extend(
                    held.sockets
                        .iter()
                        .filter(|h| h.state == loopback_model::bind::HolderState::Bound)
                        .map(|h| holders::holder(snap, &h.socket, h.state, h.remote)),
                );
            }
            crate::snapshot::Part::Failed(why) => unseen.push(why.clone()),
            crate::snapshot::Part::NotCaptured => {
                unseen.push("the sockets bound and not listening were not captured".into())
            }
        }
    }
    out.sort_by_key(|h| (h.port, h.address, h.netns));
    unseen.sort();
    unseen.dedup();
    (out, unseen)
}

/// The listening sockets that accept a connection to `address:port` (as `holders` sees
/// them, with their owners).
pub fn listeners_at(
    snap: &crate::snapshot::Snapshot,
    proto: Proto,
    address: IpAddr,
    port: u16,
) -> Vec<loopback_model::bind::BindHolder> {
    holders::on_port(snap, proto, port)
        .into_iter()
        .filter(|(s, state, _)| {
            *state == loopback_model::bind::HolderState::Listen
                && holders::overlaps(address, true, s.address, s.v6only, snap.os)
        })
        .map(|(s, state, remote)| holders::holder(snap, &s, state, remote))
        .collect()
}

/// Resolve, bind, capture, judge.
pub fn run(
    sys: &dyn SystemView,
    prober: &dyn Prober,
    req: &BindRequest,
    timings: &Timings,
) -> Result<BindReport, BindError> {
    let target = parse_target(&req.target)?;
    let addresses = addresses_of(&target, prober)?;
    check_options(&addresses, req.options)?;
    let tried: Vec<Tried> = timings.time("bind", || {
        addresses
            .iter()
            .map(|ip| Tried {
                address: *ip,
                outcome: prober.try_bind(SocketAddr::new(*ip, target.port), req.proto, req.options),
            })
            .collect()
    });
    let snap = timings.time("capture", || capture(sys, &Request::of(PARTS)));
    let mut report = judge(&snap, req.proto, target.port, req.options, &tried);
    holders::name_containers(&mut report, sys);
    Ok(report)
}

/// The addresses a target stands for, each once, in order.
pub fn addresses_of(target: &Target, prober: &dyn Prober) -> Result<Vec<IpAddr>, BindError> {
    let mut out: Vec<IpAddr> = match &target.host {
        Host::Ip(ip) => vec![*ip],
        Host::DevServer => target::DEV_SERVER_ADDRESSES.to_vec(),
        Host::Name(name) => {
            crate::target::resolve_all(prober, name).map_err(|why| BindError::Resolve {
                name: name.clone(),
                why,
            })?
        }
    };
    let mut seen = std::collections::HashSet::new();
    out.retain(|ip| seen.insert(*ip));
    if out.is_empty() {
        if let Host::Name(name) = &target.host {
            return Err(BindError::Resolve {
                name: name.clone(),
                why: "no address".into(),
            });
        }
    }
    Ok(out)
}

/// `--v6only` needs an IPv6 address among those tried.
pub fn check_options(addresses: &[IpAddr], options: BindOptions) -> Result<(), BindError> {
    if options.v6only.is_some() && !addresses.iter().any(IpAddr::is_ipv6) {
        let shown: Vec<String> = addresses.iter().map(IpAddr::to_string).collect();
        return Err(BindError::Options(format!(
            "--v6only sets IPV6_V6ONLY, an IPv6 socket option, and {} is IPv4 only",
            shown.join(", ")
        )));
    }
    if options.reuseport && !loopback_sys::trybind::HAS_REUSEPORT {
        return Err(BindError::Options(
            "--reuseport: SO_REUSEPORT does not exist on this system".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeSystem;

    #[test]
    fn a_name_resolves_to_each_of_its_addresses_once() {
        let mut sys = FakeSystem::default();
        sys.names.insert(
            "localhost".into(),
            vec![
                "::1".parse().unwrap(),
                "127.0.0.1".parse().unwrap(),
                "::1".parse().unwrap(),
            ],
        );
        let t = parse_target("localhost:3000").unwrap();
        let a = addresses_of(&t, &sys).unwrap();
        assert_eq!(
            a,
            vec![
                "::1".parse::<IpAddr>().unwrap(),
                "127.0.0.1".parse().unwrap()
            ]
        );
        let t = parse_target("nosuchname.invalid:3000").unwrap();
        assert!(matches!(
            addresses_of(&t, &sys),
            Err(BindError::Resolve { .. })
        ));
    }

    #[test]
    fn v6only_on_ipv4_only_is_an_error() {
        let v6 = BindOptions {
            reuseaddr: true,
            reuseport: false,
            v6only: Some(true),
        };
        assert!(check_options(&["127.0.0.1".parse().unwrap()], v6).is_err());
        assert!(check_options(&target::DEV_SERVER_ADDRESSES, v6).is_ok());
    }
}
