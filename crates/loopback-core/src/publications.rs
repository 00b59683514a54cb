//! Ports a container runtime publishes, joined to what listens behind them.
//!
//! A runtime publishes a port with a forwarding process on the host side, whose command line
//! says where it forwards:
//! - `docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8081 -container-ip 172.17.0.3
//!   -container-port 80` (Docker, and Podman's rootful `docker-proxy`-less setups use DNAT,
//!   which is the next issue's job): the connection arrives at the container's address, so a
//!   server there that listens only on its own `127.0.0.1` resets it.
//! - `pasta … -t 8080:80 … --netns PATH` (rootless Podman 5): pasta connects through the
//!   namespace's own loopback (podman issue 24045), so a server on the container's
//!   `127.0.0.1` *is* reached, and is not flagged.
//!
//! `rootlessport` and `slirp4netns` take their forwarding rules on a pipe or an API socket,
//! not on the command line; they are not joined (see the issue notes).
//!
//! [`forwards`] reads the forwarders from a snapshot's owners; [`join`] judges each against
//! the listeners of the namespace its target lives in. Both are pure.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use loopback_model::{Listener, Proto, Publication, PublicationDiagnosis};

use crate::classify::{is_loopback, is_wildcard, unmap};
use crate::explain::{accepts, assignments};
use crate::scope::Links;
use crate::snapshot::Snapshot;

/// Where a forwarder sends connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardTo {
    /// An address of another namespace (Docker's `-container-ip`).
    Address(IpAddr),
    /// The loopback of a namespace named by path or pid (pasta).
    Loopback(Option<NamespaceHint>),
}

/// How a forwarder names its target namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NamespaceHint {
    /// A namespace file.
    Path(String),
    /// A process in it.
    Pid(u32),
}

/// One forwarded port, as its forwarder's command line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forward {
    /// TCP or UDP.
    pub proto: Proto,
    /// The published address.
    pub address: IpAddr,
    /// The published port.
    pub port: u16,
    /// Where it goes.
    pub to: ForwardTo,
    /// The port it goes to.
    pub target_port: u16,
    /// The forwarding process's name.
    pub forwarder: String,
    /// Its pid.
    pub pid: u32,
}

/// The value of a Go-style flag (`-name value` or `-name=value`, one or two dashes).
pub(crate) fn flag<'a>(argv: &'a [String], name: &str) -> Option<&'a str> {
    let mut it = argv.iter();
    while let Some(a) = it.next() {
        let bare = a.trim_start_matches('-');
        if !a.starts_with('-') {
            continue;
        }
        if bare == name {
            return it.next().map(String::as_str);
        }
        if let Some(v) = bare.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
            return Some(v);
        }
    }
    None
}

/// The forward a `docker-proxy` command line describes.
pub fn docker_proxy(argv: &[String], pid: u32) -> Option<Forward> {
    let proto = match flag(argv, "proto")? {
        "tcp" | "tcp4" | "tcp6" => Proto::Tcp,
        "udp" | "udp4" | "udp6" => Proto::Udp,
        _ => return None,
    };
    Some(Forward {
        proto,
        address: flag(argv, "host-ip")?.parse().ok()?,
        port: flag(argv, "host-port")?.parse().ok()?,
        to: ForwardTo::Address(flag(argv, "container-ip")?.parse().ok()?),
        target_port: flag(argv, "container-port")?.parse().ok()?,
        forwarder: "docker-proxy".into(),
        pid,
    })
}

/// The forwards a `pasta` command line describes: `-t`/`--tcp-ports` and `-u`/`--udp-ports`
/// with `[ADDR[%IF]/]PORTS[:TARGETS]` specs (ranges `A-B`, comma-separated), into the namespace
/// named by `--netns PATH` or a trailing pid. `auto`, `all` and `none` are not port lists.
pub fn pasta(argv: &[String], pid: u32) -> Vec<Forward> {
    let mut hint = flag(argv, "netns").map(|p| NamespaceHint::Path(p.to_owned()));
    if hint.is_none() {
        hint = argv
            .last()
            .and_then(|a| a.parse().ok())
            .map(NamespaceHint::Pid);
    }
    let mut out = Vec::new();
    let mut it = argv.iter().skip(1);
    while let Some(a) = it.next() {
        let (proto, spec) = match a.as_str() {
            "-t" | "--tcp-ports" => (Proto::Tcp, it.next()),
            "-u" | "--udp-ports" => (Proto::Udp, it.next()),
            other => match other
                .strip_prefix("--tcp-ports=")
                .map(|s| (Proto::Tcp, s))
                .or_else(|| other.strip_prefix("--udp-ports=").map(|s| (Proto::Udp, s)))
            {
                Some((p, s)) => {
                    out.extend(pasta_spec(p, s, &hint, pid));
                    continue;
                }
                None => continue,
            },
        };
        if let Some(spec) = spec {
            out.extend(pasta_spec(proto, spec, &hint, pid));
        }
        if out.len() >= MAX_SPEC_PORTS {
            out.truncate(MAX_SPEC_PORTS);
            break;
        }
    }
    out
}

/// The most ports one forwarder's command line may expand to: it is input too.
const MAX_SPEC_PORTS: usize = 1024;

fn pasta_spec(proto: Proto, spec: &str, hint: &Option<NamespaceHint>, pid: u32) -> Vec<Forward> {
    let (address, ports) = match spec.split_once('/') {
        Some((addr, ports)) => {
            let addr = addr.split('%').next().unwrap_or(addr);
            match addr.parse::<IpAddr>() {
                Ok(a) => (Some(a), ports),
                Err(_) => return Vec::new(),
            }
        }
        None => (None, spec),
    };
    let range = |r: &str| -> Option<(u16, u16)> {
        match r.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (a.parse().ok()?, b.parse().ok()?);
                (a <= b).then_some((a, b))
            }
            None => r.parse().ok().map(|p| (p, p)),
        }
    };
    let mut out = Vec::new();
    for part in ports.split(',') {
        let (from, to) = match part.split_once(':') {
            Some((f, t)) => (range(f), range(t)),
            None => (range(part), range(part)),
        };
        let (Some((f0, f1)), Some((t0, _))) = (from, to) else {
            continue;
        };
        for p in f0..=f1 {
            if out.len() >= MAX_SPEC_PORTS {
                return out;
            }
            out.push(Forward {
                proto,
                address: address.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
                port: p,
                to: ForwardTo::Loopback(hint.clone()),
                target_port: t0.saturating_add(p - f0),
                forwarder: "pasta".into(),
                pid,
            });
        }
    }
    out
}

/// Every forward described by the command lines of `snap`'s socket owners.
pub fn forwards(snap: &Snapshot) -> Vec<Forward> {
    let Some(owners) = snap.owners.ok() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut procs: Vec<_> = owners.scan.processes.values().collect();
    procs.sort_by_key(|p| p.pid);
    for p in procs {
        let exe = p
            .argv
            .first()
            .map(|a| a.rsplit('/').next().unwrap_or(a))
            .unwrap_or(&p.comm);
        // Any user can start a process called docker-proxy; Docker's runs as root, and only a
        // root one is believed (a user's own forwarder cannot forge a finding about Docker).
        if (p.comm == "docker-proxy" || exe == "docker-proxy") && p.euid == Some(0) {
            out.extend(docker_proxy(&p.argv, p.pid));
        } else if p.comm == "pasta" || exe == "pasta" || exe == "pasta.avx2" {
            out.extend(pasta(&p.argv, p.pid));
        }
    }
    out
}

/// One namespace as the join sees it.
#[derive(Debug)]
pub struct Side<'a> {
    /// Its inode.
    pub inode: u64,
    /// Its links.
    pub links: Links,
    /// Its listeners (audited or not), including UDP clients.
    pub listeners: Vec<&'a Listener>,
    /// Its bind mounts.
    pub mounts: &'a [String],
    /// Its processes.
    pub pids: &'a [u32],
    /// A label for human text (`container web`, `netns blue`, `netns 4026532281`).
    pub label: String,
}

impl Side<'_> {
    /// `ip` is assigned to one of its interfaces (not merely inside a loopback prefix).
    fn holds(&self, ip: IpAddr) -> bool {
        assignments(ip, &self.links).iter().any(|a| a.exact)
    }
}

fn show(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_none() => format!("[{ip}]:{port}"),
        _ => format!("{}:{port}", unmap(ip)),
    }
}

fn owner_name(l: &Listener) -> String {
    l.owners
        .first()
        .map_or_else(|| "a process".to_owned(), |o| o.name.to_string())
}

/// Judge `forward` (found in namespace `home`) against the namespaces.
pub fn join(forward: &Forward, home: u64, sides: &[Side<'_>]) -> Publication {
    let (target, found): (IpAddr, Option<&Side<'_>>) = match &forward.to {
        ForwardTo::Address(ip) => (
            *ip,
            sides.iter().find(|s| s.holds(*ip) && !is_loopback(*ip)),
        ),
        ForwardTo::Loopback(hint) => {
            let lo = if forward.address.is_ipv6() && !is_wildcard(forward.address) {
                IpAddr::V6(Ipv6Addr::LOCALHOST)
            } else {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            };
            let side = hint.as_ref().and_then(|h| {
                sides.iter().find(|s| match h {
                    NamespaceHint::Path(p) => s.mounts.iter().any(|m| m == p),
                    NamespaceHint::Pid(pid) => s.pids.contains(pid),
                })
            });
            (lo, side)
        }
    };
    let mut p = Publication {
        proto: forward.proto,
        address: forward.address,
        port: forward.port,
        target_address: target,
        target_port: forward.target_port,
        target_netns: found.map(|s| s.inode),
        listener: false,
        diagnosis: PublicationDiagnosis::Unknown,
        forwarder: forward.forwarder.clone(),
        forwarder_pid: forward.pid,
        rule: None,
        netns: home,
        target_listeners: Vec::new(),
        detail: String::new(),
        fix: None,
    };
    let Some(side) = found else {
        p.detail = format!(
            "unknown: no network namespace found here holds {} (or it could not be entered)",
            unmap(target)
        );
        return p;
    };
    let on_port: Vec<&Listener> = side
        .listeners
        .iter()
        .copied()
        .filter(|l| l.proto == forward.proto && l.port == forward.target_port)
        .collect();
    p.target_listeners = on_port
        .iter()
        .map(|l| format!("{} ({})", show(l.address, l.port), owner_name(l)))
        .collect();
    p.listener = on_port.iter().any(|l| accepts(l, target, &side.links));
    let listed = on_port
        .iter()
        .map(|l| format!("{} listens on {}", owner_name(l), show(l.address, l.port)))
        .collect::<Vec<_>>()
        .join(", ");
    if p.listener {
        p.diagnosis = PublicationDiagnosis::Ok;
        p.detail = match &forward.to {
            ForwardTo::Loopback(_) => format!(
                "{listed}; {} connects through the namespace's own loopback (podman issue 24045), so a server on 127.0.0.1 is reached",
                forward.forwarder,
            ),
            ForwardTo::Address(_) => listed,
        };
        return p;
    }
    let loopback_only = !on_port.is_empty() && on_port.iter().all(|l| is_loopback(l.address));
    if loopback_only {
        p.diagnosis = PublicationDiagnosis::TargetLoopbackOnly;
        let l = on_port[0];
        p.detail = format!(
            "nothing: {listed}, the namespace's own loopback, which {}'s connections do not arrive on; every connection is reset",
            forward.forwarder
        );
        p.fix = Some(format!(
            "make {} in {} listen on {} (or {}) instead of {}",
            owner_name(l),
            side.label,
            show(
                if target.is_ipv4() {
                    IpAddr::V4(Ipv4Addr::UNSPECIFIED)
                } else {
                    IpAddr::V6(Ipv6Addr::UNSPECIFIED)
                },
                forward.target_port
            ),
            show(target, forward.target_port),
            show(l.address, l.port)
        ));
        return p;
    }
    p.diagnosis = PublicationDiagnosis::NoListener;
    let mut other_ports: Vec<u16> = side
        .listeners
        .iter()
        .filter(|l| l.proto == forward.proto && accepts(l, target, &side.links))
        .map(|l| l.port)
        .collect();
    other_ports.sort_unstable();
    other_ports.dedup();
    p.detail = if on_port.is_empty() {
        format!(
            "nothing listens on {} port {}",
            forward.proto, forward.target_port
        )
    } else {
        format!(
            "nothing: {listed}, not on {}",
            show(target, forward.target_port)
        )
    };
    p.fix = Some(match other_ports.as_slice() {
        [] => format!(
            "start the service in {} on port {}, or publish the port it listens on",
            side.label, forward.target_port
        ),
        ports => {
            let list: Vec<String> = ports.iter().map(u16::to_string).collect();
            format!(
                "publish the port the service listens on ({} {} in {}), e.g. -p {}:{}, or make it listen on {}",
                forward.proto,
                list.join(", "),
                side.label,
                forward.port,
                ports[0],
                forward.target_port
            )
        }
    });
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn docker_proxy_command_lines() {
        let f = docker_proxy(
            &argv("/usr/sbin/docker-proxy -proto tcp -host-ip 0.0.0.0 -host-port 8081 -container-ip 172.17.0.3 -container-port 80 -use-listen-fd"),
            42,
        )
        .expect("parsed");
        assert_eq!(f.proto, Proto::Tcp);
        assert_eq!(f.port, 8081);
        assert_eq!(f.to, ForwardTo::Address("172.17.0.3".parse().unwrap()));
        assert_eq!(f.target_port, 80);
        let v6 = docker_proxy(
            &argv("docker-proxy -proto=udp -host-ip=:: -host-port=53 -container-ip=fd00::2 -container-port=5353"),
            1,
        )
        .expect("= form");
        assert_eq!(v6.proto, Proto::Udp);
        assert_eq!(v6.target_port, 5353);
        assert!(docker_proxy(&argv("docker-proxy -proto sctp"), 1).is_none());
        assert!(docker_proxy(&argv("docker-proxy -proto tcp -host-port x"), 1).is_none());
    }

    #[test]
    fn pasta_command_lines() {
        let f = pasta(
            &argv("/usr/bin/pasta --config-net -t 8080:80 -t 127.0.0.1/9000-9001:7000-7001 -u none --netns /run/user/1000/netns/netns-1"),
            7,
        );
        let got: Vec<(u16, u16, String)> = f
            .iter()
            .map(|f| (f.port, f.target_port, f.address.to_string()))
            .collect();
        assert_eq!(
            got,
            vec![
                (8080, 80, "0.0.0.0".into()),
                (9000, 7000, "127.0.0.1".into()),
                (9001, 7001, "127.0.0.1".into())
            ]
        );
        assert_eq!(
            f[0].to,
            ForwardTo::Loopback(Some(NamespaceHint::Path(
                "/run/user/1000/netns/netns-1".into()
            )))
        );
        let by_pid = pasta(&argv("pasta -t 22 1234"), 7);
        assert_eq!(
            by_pid[0].to,
            ForwardTo::Loopback(Some(NamespaceHint::Pid(1234)))
        );
        assert_eq!(pasta(&argv("pasta -t 1-65535 1"), 7).len(), MAX_SPEC_PORTS);
    }
}
