//! The live half of `doctor`: probes through the [`Prober`], run at once, each with a deadline.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use loopback_sys::{ProbeOutcome, Prober};

use super::DoctorOptions;
use crate::target::Target;

/// Results of the active probes.
#[derive(Debug, Clone)]
pub struct Probes {
    /// ICMP echo to 127.0.0.1.
    pub echo4: ProbeOutcome,
    /// ICMPv6 echo to ::1, when IPv6 is on.
    pub echo6: Option<ProbeOutcome>,
    /// TCP round trip on 127.0.0.1.
    pub tcp4: ProbeOutcome,
    /// TCP round trip on ::1, when IPv6 is on.
    pub tcp6: Option<ProbeOutcome>,
    /// UDP round trip on 127.0.0.1.
    pub udp4: ProbeOutcome,
    /// UDP round trip on ::1, when IPv6 is on.
    pub udp6: Option<ProbeOutcome>,
    /// What the system resolver answers for `localhost`.
    pub localhost: Result<Vec<IpAddr>, String>,
    /// `--reach`, when asked.
    pub reach: Option<ReachResult>,
    /// The kernel's route for 127.0.0.1 (and ::1 when IPv6 is on) from this process's uid:
    /// delivered locally, or sent elsewhere by a policy rule.
    pub loopback_routes: Vec<(IpAddr, Result<loopback_sys::routing::RouteAnswer, String>)>,
}

/// What `--reach` found.
#[derive(Debug, Clone)]
pub struct ReachResult {
    /// The target as given (`HOST:PORT`, `[V6]:PORT`...).
    pub target: String,
    /// Its host part, without the port.
    pub host: String,
    /// The port, when given.
    pub port: Option<u16>,
    /// Its addresses, or why none.
    pub resolved: Result<Vec<IpAddr>, String>,
    /// ICMP echo per address.
    pub echo: Vec<(IpAddr, ProbeOutcome)>,
    /// TCP connection per address, with a port.
    pub tcp: Vec<(IpAddr, ProbeOutcome)>,
}

/// Run the loopback probes (and `--reach`) at once, each on its own thread with a deadline.
pub fn run_probes(
    prober: &dyn Prober,
    options: &DoctorOptions,
    v6: bool,
    interfaces: &[loopback_model::Interface],
) -> Probes {
    let sys = prober;
    let t = options.timeout;
    let v4a: IpAddr = Ipv4Addr::LOCALHOST.into();
    let v6a: IpAddr = Ipv6Addr::LOCALHOST.into();
    std::thread::scope(|s| {
        let echo4 = s.spawn(move || sys.icmp_echo(v4a, t));
        let echo6 = v6.then(|| s.spawn(move || sys.icmp_echo(v6a, t)));
        let tcp4 = s.spawn(move || sys.tcp_round_trip(v4a, t));
        let tcp6 = v6.then(|| s.spawn(move || sys.tcp_round_trip(v6a, t)));
        let udp4 = s.spawn(move || sys.udp_round_trip(v4a, t));
        let udp6 = v6.then(|| s.spawn(move || sys.udp_round_trip(v6a, t)));
        let not_asked = crate::resolve::not_asked_reason(&options.resolver, sys);
        let localhost = s.spawn(move || match not_asked {
            Some(why) => Err(why),
            None => sys.resolve("localhost").map_err(|e| e.to_string()),
        });
        let reach = options
            .reach
            .clone()
            .map(|target| s.spawn(move || reach_probe(sys, &target, t, interfaces)));
        let join = |h: std::thread::ScopedJoinHandle<'_, ProbeOutcome>| {
            h.join().unwrap_or_else(|_| ProbeOutcome::Unavailable {
                reason: "the probe thread panicked".into(),
            })
        };
        Probes {
            echo4: join(echo4),
            echo6: echo6.map(join),
            tcp4: join(tcp4),
            tcp6: tcp6.map(join),
            udp4: join(udp4),
            udp6: udp6.map(join),
            localhost: localhost
                .join()
                .unwrap_or_else(|_| Err("the resolver thread panicked".into())),
            reach: reach.and_then(|h| h.join().ok()),
            loopback_routes: Vec::new(),
        }
    })
}

fn reach_probe(
    sys: &dyn Prober,
    target: &str,
    t: Duration,
    interfaces: &[loopback_model::Interface],
) -> ReachResult {
    // A zone (`fe80::1%eth0`) names the interface: its index goes into the socket address.
    let mut scope = None;
    let (host, port, resolved) = match crate::target::parse_host(target) {
        Err(e) => (target.to_owned(), None, Err(e.to_string())),
        Ok(Target::Addr(ip, port)) => (ip.to_string(), port, Ok(vec![ip])),
        Ok(Target::Scoped(ip, zone, port)) => {
            let found = crate::target::scope_of(&zone, interfaces).map(|id| {
                scope = Some(id);
                vec![IpAddr::V6(ip)]
            });
            (format!("{ip}%{zone}"), port, found)
        }
        Ok(t) => (
            t.host(),
            t.port(),
            sys.resolve(&t.host()).map_err(|e| e.to_string()),
        ),
    };
    let addrs = resolved.clone().unwrap_or_default();
    let (echo, tcp) = std::thread::scope(|s| {
        let echo: Vec<_> = addrs
            .iter()
            .map(|a| {
                let h = s.spawn(move || match scope {
                    // The echo socket takes no zone yet: say so rather than fail.
                    Some(_) => ProbeOutcome::Unavailable {
                        reason: "ICMP echo to a scoped address is not supported yet".into(),
                    },
                    None => sys.icmp_echo(*a, t),
                });
                (*a, h)
            })
            .collect();
        let tcp: Vec<_> = port
            .map(|p| {
                addrs
                    .iter()
                    .map(|a| {
                        (
                            *a,
                            s.spawn(move || {
                                sys.tcp_connect(crate::target::socket_addr(*a, p, scope), t)
                            }),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        let join = |v: Vec<(IpAddr, std::thread::ScopedJoinHandle<'_, ProbeOutcome>)>| {
            v.into_iter()
                .map(|(a, h)| {
                    (
                        a,
                        h.join().unwrap_or(ProbeOutcome::Unavailable {
                            reason: "probe thread panicked".into(),
                        }),
                    )
                })
                .collect::<Vec<_>>()
        };
        (join(echo), join(tcp))
    });
    ReachResult {
        target: target.into(),
        host,
        port,
        resolved,
        echo,
        tcp,
    }
}
