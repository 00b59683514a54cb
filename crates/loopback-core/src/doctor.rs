//! `doctor`: is the loopback stack healthy here, and if not, exactly why.
//!
//! Cheap checks read configuration (interfaces, sysctls, the hosts file, routes). The active
//! ones (ICMP echo, TCP and UDP round trips, `localhost` resolution, `--reach`) run at once on
//! their own threads, each with a deadline, so a run takes about one probe timeout even when a
//! firewall silently drops everything. The doctor never changes the system.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use loopback_model::{Check, CheckStatus, DoctorReport, Interface, DOCTOR_VERSION};
use loopback_sys::parse::hosts::parse_hosts;
use loopback_sys::parse::route::{ipv4_default_routes, ipv6_default_routes};
use loopback_sys::probe::ErrorKindName;
use loopback_sys::{ProbeOutcome, SystemView};

use crate::classify::is_loopback;
use crate::firewall::culprits;
use crate::scope::{loopback_interface, loopback_name};

/// What to check.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    /// Deadline of each network step.
    pub timeout: Duration,
    /// A host (`HOST` or `HOST:PORT`) beyond this one to try, named by the user.
    pub reach: Option<String>,
    /// The hosts file to read.
    pub hosts_path: String,
}

impl Default for DoctorOptions {
    fn default() -> Self {
        DoctorOptions {
            timeout: Duration::from_millis(1000),
            reach: None,
            hosts_path: "/etc/hosts".into(),
        }
    }
}

fn check(id: &str, status: CheckStatus, summary: impl Into<String>) -> Check {
    Check {
        id: id.into(),
        status,
        summary: summary.into(),
        evidence: Vec::new(),
        fix: None,
    }
}

trait CheckExt {
    fn evidence(self, e: impl Into<String>) -> Self;
    fn fix(self, f: impl Into<String>) -> Self;
}

impl CheckExt for Check {
    fn evidence(mut self, e: impl Into<String>) -> Self {
        self.evidence.push(e.into());
        self
    }
    fn fix(mut self, f: impl Into<String>) -> Self {
        self.fix = Some(f.into());
        self
    }
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// IPv6 on the loopback interface: absent from the kernel, disabled by sysctl, on, or unknown
/// because the sysctls cannot be read (`/proc` is not mounted).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Ipv6State {
    Absent,
    Disabled,
    On,
    Unknown(String),
}

/// What the configuration checks learned, for attributing probe failures to a cause.
#[derive(Debug, Clone)]
struct LoState {
    name: String,
    exists: bool,
    up: bool,
    has_v4: bool,
    /// Interfaces other than the loopback one that hold 127.0.0.1 itself.
    v4_elsewhere: Vec<String>,
    has_v6: bool,
    ipv6: Ipv6State,
}

impl LoState {
    fn healthy_for(&self, v6: bool) -> bool {
        self.exists && self.up && if v6 { self.has_v6 } else { self.has_v4 }
    }
}

/// Results of the active probes.
struct Probes {
    echo4: ProbeOutcome,
    echo6: Option<ProbeOutcome>,
    tcp4: ProbeOutcome,
    tcp6: Option<ProbeOutcome>,
    udp4: ProbeOutcome,
    udp6: Option<ProbeOutcome>,
    localhost: Result<Vec<IpAddr>, String>,
    reach: Option<ReachResult>,
}

struct ReachResult {
    target: String,
    port: Option<u16>,
    resolved: Result<Vec<IpAddr>, String>,
    echo: Vec<(IpAddr, ProbeOutcome)>,
    tcp: Vec<(IpAddr, ProbeOutcome)>,
}

/// Run every check.
pub fn doctor(sys: &dyn SystemView, options: &DoctorOptions) -> DoctorReport {
    let start = Instant::now();
    let interfaces = sys.interfaces();
    let mut checks = Vec::new();

    let all: &[Interface] = interfaces.as_deref().unwrap_or(&[]);
    let lo_iface: Option<Interface> = loopback_interface(all).cloned();
    let name = loopback_name(all);
    let has_v6 = lo_iface.as_ref().is_some_and(|i| {
        i.addresses
            .iter()
            .any(|a| a.address == IpAddr::V6(Ipv6Addr::LOCALHOST))
    });
    let proc_ok = sys.proc_available();
    let ipv6 = match (
        &proc_ok,
        sys.sysctl(&format!("net/ipv6/conf/{name}/disable_ipv6"))
            .as_deref(),
    ) {
        // Without /proc the sysctls are unknown; an assigned ::1 still proves IPv6 is on.
        (Err(_), _) if has_v6 => Ipv6State::On,
        (Err(why), _) => Ipv6State::Unknown(why.clone()),
        (Ok(()), None) => Ipv6State::Absent,
        (Ok(()), Some("1")) => Ipv6State::Disabled,
        (Ok(()), Some(_))
            if sys.sysctl("net/ipv6/conf/all/disable_ipv6").as_deref() == Some("1") =>
        {
            Ipv6State::Disabled
        }
        (Ok(()), Some(_)) => Ipv6State::On,
    };
    let localhost4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let v4_elsewhere: Vec<String> = all
        .iter()
        .filter(|i| !i.loopback && i.addresses.iter().any(|a| a.address == localhost4))
        .map(|i| i.name.clone())
        .collect();
    let state = LoState {
        name,
        exists: lo_iface.is_some(),
        up: lo_iface.as_ref().is_some_and(|i| i.up),
        has_v4: lo_iface.as_ref().is_some_and(|i| {
            i.addresses.iter().any(|a| {
                matches!(a.address, IpAddr::V4(v4) if v4.is_loopback())
                    && ipnet::IpNet::new(a.address, a.prefix_len)
                        .is_ok_and(|n| n.contains(&localhost4))
            })
        }) || !v4_elsewhere.is_empty(),
        v4_elsewhere,
        has_v6,
        ipv6: ipv6.clone(),
    };

    let probes = run_probes(sys, options, ipv6 == Ipv6State::On);

    checks.push(interface_check(&interfaces, &state));
    checks.push(ipv4_address_check(lo_iface.as_ref(), &state));
    checks.push(ipv6_address_check(&state));
    checks.push(echo_check(
        sys,
        "loopback.ipv4-echo",
        Some(&probes.echo4),
        false,
        &state,
    ));
    checks.push(echo_check(
        sys,
        "loopback.ipv6-echo",
        probes.echo6.as_ref(),
        true,
        &state,
    ));
    checks.push(round_trip_check(
        "loopback.ipv4-tcp",
        "TCP",
        Some(&probes.tcp4),
        false,
        &state,
    ));
    checks.push(round_trip_check(
        "loopback.ipv6-tcp",
        "TCP",
        probes.tcp6.as_ref(),
        true,
        &state,
    ));
    checks.push(round_trip_check(
        "loopback.ipv4-udp",
        "UDP",
        Some(&probes.udp4),
        false,
        &state,
    ));
    checks.push(round_trip_check(
        "loopback.ipv6-udp",
        "UDP",
        probes.udp6.as_ref(),
        true,
        &state,
    ));
    checks.push(firewall_check(sys, &probes, &state));
    checks.push(route_localnet_check(
        sys,
        interfaces.as_deref().unwrap_or(&[]),
    ));
    checks.push(hosts_file_check(
        sys,
        &options.hosts_path,
        ipv6 == Ipv6State::On,
    ));
    checks.push(resolves_loopback_check(&probes.localhost));
    checks.push(network_interface_check(
        interfaces.as_deref().unwrap_or(&[]),
    ));
    checks.push(default_route_check(sys, &proc_ok));
    if let Some(r) = &probes.reach {
        checks.extend(reach_checks(r));
    }
    DoctorReport {
        version: DOCTOR_VERSION,
        checks,
        elapsed_ms: start.elapsed().as_millis() as u64,
    }
}

fn run_probes(sys: &dyn SystemView, options: &DoctorOptions, v6: bool) -> Probes {
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
        let localhost = s.spawn(move || sys.resolve("localhost").map_err(|e| e.to_string()));
        let reach = options
            .reach
            .clone()
            .map(|target| s.spawn(move || reach_probe(sys, &target, t)));
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
        }
    })
}

fn reach_probe(sys: &dyn SystemView, target: &str, t: Duration) -> ReachResult {
    let (port, resolved) = match crate::probe::split_host_port(target) {
        None => (
            None,
            Err(format!("{target:?} is not HOST, HOST:PORT or [V6]:PORT")),
        ),
        Some((host, port)) => {
            let resolved = match host.parse::<IpAddr>() {
                Ok(ip) => Ok(vec![ip]),
                Err(_) => sys.resolve(&host).map_err(|e| e.to_string()),
            };
            (port, resolved)
        }
    };
    let addrs = resolved.clone().unwrap_or_default();
    let (echo, tcp) = std::thread::scope(|s| {
        let echo: Vec<_> = addrs
            .iter()
            .map(|a| (*a, s.spawn(move || sys.icmp_echo(*a, t))))
            .collect();
        let tcp: Vec<_> = port
            .map(|p| {
                addrs
                    .iter()
                    .map(|a| {
                        (
                            *a,
                            s.spawn(move || sys.tcp_connect(SocketAddr::new(*a, p), t)),
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
        port,
        resolved,
        echo,
        tcp,
    }
}

fn interface_check(
    interfaces: &Result<Vec<Interface>, loopback_sys::SysError>,
    state: &LoState,
) -> Check {
    let id = "loopback.interface";
    match interfaces {
        Err(e) => check(id, CheckStatus::Fail, "cannot list network interfaces")
            .evidence(e.to_string())
            .fix("check that /proc and netlink are available to this process"),
        Ok(_) if !state.exists => check(
            id,
            CheckStatus::Fail,
            "no loopback interface (IFF_LOOPBACK) in this network namespace",
        )
        .fix("every Linux network namespace has lo; this environment is broken or not Linux"),
        Ok(_) if !state.up => check(id, CheckStatus::Fail, format!("{} is down", state.name))
            .evidence(format!("{}: IFF_LOOPBACK set, IFF_UP not set", state.name))
            .fix(format!("ip link set {} up", state.name)),
        Ok(_) => check(id, CheckStatus::Pass, format!("{} is up", state.name))
            .evidence(format!("{}: IFF_LOOPBACK and IFF_UP set", state.name)),
    }
}

fn ipv4_address_check(lo: Option<&Interface>, state: &LoState) -> Check {
    let id = "loopback.ipv4-address";
    let v4: Vec<String> = lo
        .map(|i| {
            i.addresses
                .iter()
                .filter(|a| a.address.is_ipv4())
                .map(|a| format!("{}/{}", a.address, a.prefix_len))
                .collect()
        })
        .unwrap_or_default();
    let evidence = if v4.is_empty() {
        format!("{} holds no IPv4 address", state.name)
    } else {
        format!("{} holds {}", state.name, v4.join(", "))
    };
    if state.has_v4 && lo.is_some_and(|_| state.v4_elsewhere.is_empty()) {
        check(id, CheckStatus::Pass, "127.0.0.1 is assigned").evidence(evidence)
    } else if state.has_v4 {
        check(
            id,
            CheckStatus::Warn,
            format!(
                "127.0.0.1 is assigned on {}, not on the loopback interface {}",
                state.v4_elsewhere.join(", "),
                state.name
            ),
        )
        .evidence(evidence)
        .evidence(format!(
            "{} holds 127.0.0.1: local traffic to it still works, but only 127.0.0.1 itself is local, not the rest of 127.0.0.0/8",
            state.v4_elsewhere.join(", ")
        ))
        .fix(format!("ip addr add 127.0.0.1/8 dev {}", state.name))
    } else if lo.is_some_and(|i| {
        i.addresses
            .iter()
            .any(|a| is_loopback(a.address) && a.address.is_ipv4())
    }) {
        check(
            id,
            CheckStatus::Warn,
            "an address of 127.0.0.0/8 is assigned, but not one that covers 127.0.0.1",
        )
        .evidence(evidence)
        .fix(format!("ip addr add 127.0.0.1/8 dev {}", state.name))
    } else {
        check(
            id,
            CheckStatus::Fail,
            "no address of 127.0.0.0/8 is assigned",
        )
        .evidence(evidence)
        .fix(format!("ip addr add 127.0.0.1/8 dev {}", state.name))
    }
}

fn ipv6_address_check(state: &LoState) -> Check {
    let id = "loopback.ipv6-address";
    let name = &state.name;
    match &state.ipv6 {
        Ipv6State::Unknown(why) => check(id, CheckStatus::Skip, "cannot tell whether IPv6 is on: the sysctls cannot be read")
            .evidence(why.clone()),
        Ipv6State::Absent => check(id, CheckStatus::Skip, "IPv6 is not available in this kernel")
            .evidence(format!("/proc/sys/net/ipv6/conf/{name} is missing (booted with ipv6.disable=1, or built without IPv6)")),
        Ipv6State::Disabled => check(id, CheckStatus::Warn, format!("IPv6 is disabled on {name} by sysctl"))
            .evidence(format!("net.ipv6.conf.{name}.disable_ipv6=1 or net.ipv6.conf.all.disable_ipv6=1"))
            .fix(format!("sysctl -w net.ipv6.conf.{name}.disable_ipv6=0 (and in /etc/sysctl.d); or keep it off and make sure `localhost` does not resolve to ::1")),
        Ipv6State::On if state.has_v6 => check(id, CheckStatus::Pass, "::1 is assigned")
            .evidence(format!("{} holds ::1/128", state.name)),
        Ipv6State::On if !state.up => check(id, CheckStatus::Fail, format!("::1 is not assigned because {} is down", state.name))
            .evidence(format!("the kernel removes ::1 while {} is down", state.name))
            .fix(format!("ip link set {} up", state.name)),
        Ipv6State::On => check(id, CheckStatus::Fail, "::1 is not assigned")
            .evidence(format!("{} holds no ::1/128", state.name))
            .fix(format!("ip -6 addr add ::1/128 dev {}", state.name)),
    }
}

/// The cause of a failed probe, from what the configuration checks found, and its fix.
fn cause(outcome: &ProbeOutcome, v6: bool, state: &LoState) -> (String, String) {
    let addr = if v6 { "::1" } else { "127.0.0.1" };
    if !state.exists {
        return (
            "there is no loopback interface".into(),
            "see loopback.interface".into(),
        );
    }
    if !state.up {
        return (
            format!("{} is down", state.name),
            format!("ip link set {} up", state.name),
        );
    }
    if !(if v6 { state.has_v6 } else { state.has_v4 }) {
        return (
            format!("{addr} is not assigned"),
            format!("see loopback.{}-address", if v6 { "ipv6" } else { "ipv4" }),
        );
    }
    match outcome {
        ProbeOutcome::Timeout { stage } => (
            format!(
                "no answer at {stage} within the timeout: a packet filter drops traffic on {}",
                state.name
            ),
            "see loopback.firewall".into(),
        ),
        ProbeOutcome::Error {
            kind: ErrorKindName::PermissionDenied,
            stage,
            ..
        }
        | ProbeOutcome::Error {
            kind: ErrorKindName::ConnectionRefused,
            stage,
            ..
        } => (
            format!(
                "refused at {stage}: a packet filter rejects traffic on {}",
                state.name
            ),
            "see loopback.firewall".into(),
        ),
        ProbeOutcome::Error { stage, message, .. } => (
            format!("{stage} failed: {message}"),
            "see the evidence".into(),
        ),
        _ => ("unknown".into(), "see the evidence".into()),
    }
}

fn echo_check(
    sys: &dyn SystemView,
    id: &str,
    outcome: Option<&ProbeOutcome>,
    v6: bool,
    state: &LoState,
) -> Check {
    let addr = if v6 { "::1" } else { "127.0.0.1" };
    let Some(outcome) = outcome else {
        return check(
            id,
            CheckStatus::Skip,
            format!("IPv6 is off on {}", state.name),
        )
        .evidence("see loopback.ipv6-address");
    };
    match outcome {
        ProbeOutcome::Ok { rtt } => check(id, CheckStatus::Pass, format!("echo reply from {addr} in {}", ms(*rtt))),
        ProbeOutcome::Unavailable { reason } => check(id, CheckStatus::Skip, format!("cannot send ICMP echo to {addr} without privileges"))
            .evidence(reason.clone())
            .fix("run as root, grant CAP_NET_RAW, or allow unprivileged ping sockets: sysctl -w net.ipv4.ping_group_range='0 2147483647'"),
        _ => {
            let ignore_key = if v6 { "net/ipv6/icmp/echo_ignore_all" } else { "net/ipv4/icmp_echo_ignore_all" };
            if state.healthy_for(v6) && sys.sysctl(ignore_key).as_deref() == Some("1") {
                return check(id, CheckStatus::Warn, format!("{addr} does not answer echo requests: disabled by sysctl"))
                    .evidence(format!("{}=1", ignore_key.replace('/', ".")))
                    .fix(format!("sysctl -w {}=0 if ping should work", ignore_key.replace('/', ".")));
            }
            let (why, fix) = cause(outcome, v6, state);
            check(id, CheckStatus::Fail, format!("no echo reply from {addr}: {why}"))
                .evidence(describe(outcome))
                .fix(fix)
        }
    }
}

fn describe(outcome: &ProbeOutcome) -> String {
    match outcome {
        ProbeOutcome::Ok { rtt } => format!("round trip in {}", ms(*rtt)),
        ProbeOutcome::Timeout { stage } => format!("timed out at {stage}"),
        ProbeOutcome::Error { stage, message, .. } => format!("{stage}: {message}"),
        ProbeOutcome::Unavailable { reason } => reason.clone(),
    }
}

fn round_trip_check(
    id: &str,
    proto: &str,
    outcome: Option<&ProbeOutcome>,
    v6: bool,
    state: &LoState,
) -> Check {
    let addr = if v6 { "::1" } else { "127.0.0.1" };
    let Some(outcome) = outcome else {
        return check(
            id,
            CheckStatus::Skip,
            format!("IPv6 is off on {}", state.name),
        )
        .evidence("see loopback.ipv6-address");
    };
    match outcome {
        ProbeOutcome::Ok { rtt } => check(
            id,
            CheckStatus::Pass,
            format!("{proto} round trip through {addr} in {}", ms(*rtt)),
        )
        .evidence(format!(
            "opened a {proto} socket on {addr}, an ephemeral port, and echoed bytes through it"
        )),
        ProbeOutcome::Unavailable { reason } => check(id, CheckStatus::Skip, reason.clone()),
        _ => {
            let (why, fix) = cause(outcome, v6, state);
            check(
                id,
                CheckStatus::Fail,
                format!("{proto} through {addr} fails: {why}"),
            )
            .evidence(describe(outcome))
            .fix(fix)
        }
    }
}

fn firewall_check(sys: &dyn SystemView, p: &Probes, state: &LoState) -> Check {
    let id = "loopback.firewall";
    let v4 = [&p.echo4, &p.tcp4, &p.udp4];
    let v6: Vec<&ProbeOutcome> = [&p.echo6, &p.tcp6, &p.udp6].into_iter().flatten().collect();
    let failed =
        |o: &ProbeOutcome| matches!(o, ProbeOutcome::Timeout { .. } | ProbeOutcome::Error { .. });
    let v4_failed = v4.iter().filter(|o| failed(o)).count();
    let v6_failed = v6.iter().filter(|o| failed(o)).count();
    if !(state.healthy_for(false) && (state.ipv6 != Ipv6State::On || state.healthy_for(true))) {
        return check(
            id,
            CheckStatus::Skip,
            "the loopback interface or its addresses are broken; fix those first",
        )
        .evidence("see loopback.interface and the address checks");
    }
    if v4_failed + v6_failed == 0 {
        return check(
            id,
            CheckStatus::Pass,
            "no packet filter interferes with loopback traffic",
        )
        .evidence("every round trip on lo succeeded");
    }
    let mut c = check(
        id,
        CheckStatus::Fail,
        format!(
            "{} of the loopback round trips fail while lo and its addresses are fine: a packet filter drops or rejects loopback traffic",
            v4_failed + v6_failed
        ),
    );
    let dump = sys.firewall();
    let suspects = culprits(&dump.rulesets);
    for s in &suspects {
        c = c.evidence(format!("rule {}", s.describe()));
    }
    for u in &dump.unreadable {
        c = c.evidence(format!("could not read the ruleset: {u}"));
    }
    if dump.rulesets.is_empty() && dump.unreadable.is_empty() {
        c = c.evidence(
            "neither nft nor iptables-save is installed, so the ruleset could not be read",
        );
    } else if suspects.is_empty() && dump.unreadable.is_empty() {
        c = c.evidence("no drop or reject rule found in the readable rulesets (eBPF or another filter may be at work)");
    }
    let fixes: Vec<String> = suspects.iter().filter_map(|s| s.fix.clone()).collect();
    c.fix(if fixes.is_empty() {
        "list the ruleset as root (nft list ruleset, iptables-save) and accept traffic on lo before any drop".to_owned()
    } else {
        format!("{} (then make the change permanent in the firewall's configuration)", fixes.join("; "))
    })
}

fn route_localnet_check(sys: &dyn SystemView, interfaces: &[Interface]) -> Check {
    let id = "loopback.route-localnet";
    let mut on = Vec::new();
    let mut read = 0;
    let names = std::iter::once("all").chain(
        interfaces
            .iter()
            .filter(|i| !i.loopback)
            .map(|i| i.name.as_str()),
    );
    for name in names {
        match sys
            .sysctl(&format!("net/ipv4/conf/{name}/route_localnet"))
            .as_deref()
        {
            Some("1") => {
                read += 1;
                on.push(name.to_owned());
            }
            Some(_) => read += 1,
            None => {}
        }
    }
    if read == 0 {
        return check(
            id,
            CheckStatus::Skip,
            "net.ipv4.conf.*.route_localnet could not be read",
        );
    }
    if on.is_empty() {
        return check(
            id,
            CheckStatus::Pass,
            "route_localnet is 0 on every non-loopback interface",
        )
        .evidence(format!("read {read} route_localnet settings"));
    }
    let mut c = check(
        id,
        CheckStatus::Fail,
        format!("route_localnet=1 on {}: hosts on that link can reach services bound to 127.0.0.1 (CVE-2020-8558)", on.join(", ")),
    );
    for n in &on {
        c = c.evidence(format!("net.ipv4.conf.{n}.route_localnet=1"));
    }
    let cmds: Vec<String> = on
        .iter()
        .map(|n| format!("sysctl -w net.ipv4.conf.{n}.route_localnet=0"))
        .collect();
    c.fix(format!(
        "{} (and remove it from /etc/sysctl.d; kube-proxy and some NAT setups turn it on)",
        cmds.join("; ")
    ))
}

fn hosts_file_check(sys: &dyn SystemView, path: &str, ipv6_on: bool) -> Check {
    let id = "localhost.hosts-file";
    let add_lines = "add `127.0.0.1 localhost` and `::1 localhost` to the hosts file";
    let bytes = match sys.read_file(path) {
        Ok(b) => b,
        Err(e) => {
            return check(id, CheckStatus::Fail, format!("cannot read {path}"))
                .evidence(e.to_string())
                .fix(format!("restore {path}; {add_lines}"))
        }
    };
    let (entries, _) = parse_hosts(&bytes);
    let local: Vec<_> = entries.iter().filter(|e| e.has_name("localhost")).collect();
    let mut evidence: Vec<String> = local
        .iter()
        .map(|e| format!("{path}:{}: {} {}", e.line, e.address, e.names.join(" ")))
        .collect();
    let wrong: Vec<_> = local.iter().filter(|e| !is_loopback(e.address)).collect();
    let has_v4 = local
        .iter()
        .any(|e| e.address == IpAddr::V4(Ipv4Addr::LOCALHOST));
    let has_v6 = local
        .iter()
        .any(|e| e.address == IpAddr::V6(Ipv6Addr::LOCALHOST));
    let finish = |mut c: Check, evidence: Vec<String>| {
        c.evidence = evidence;
        c
    };
    if !wrong.is_empty() {
        let addrs: Vec<String> = wrong
            .iter()
            .map(|e| format!("{} (line {})", e.address, e.line))
            .collect();
        return finish(
            check(
                id,
                CheckStatus::Fail,
                format!(
                    "{path} maps localhost to a non-loopback address: {}",
                    addrs.join(", ")
                ),
            ),
            evidence,
        )
        .fix(format!("map localhost only to 127.0.0.1 and ::1 in {path}"));
    }
    if local.is_empty() {
        return check(id, CheckStatus::Fail, format!("{path} has no entry for localhost: look-ups go on to the next source in nsswitch.conf, often DNS"))
            .fix(add_lines);
    }
    if has_v4 && (has_v6 || !ipv6_on) {
        if !has_v6 {
            evidence.push("IPv6 is off, so no ::1 entry is needed".into());
        }
        return finish(
            check(
                id,
                CheckStatus::Pass,
                format!("{path} maps localhost to loopback"),
            ),
            evidence,
        );
    }
    let missing = if has_v4 { "::1" } else { "127.0.0.1" };
    let mut c = finish(
        check(
            id,
            CheckStatus::Warn,
            format!("{path} does not map localhost to {missing}"),
        ),
        evidence,
    );
    if missing == "::1" {
        if let Some(e) = entries
            .iter()
            .find(|e| e.address == IpAddr::V6(Ipv6Addr::LOCALHOST))
        {
            c = c.evidence(format!(
                "::1 is listed only under {} (line {})",
                e.names.join(" "),
                e.line
            ));
        }
    }
    c.fix(format!("add `{missing} localhost` to {path}"))
}

fn resolves_loopback_check(result: &Result<Vec<IpAddr>, String>) -> Check {
    let id = "localhost.resolves-loopback";
    match result {
        Err(e) => check(id, CheckStatus::Fail, "localhost does not resolve")
            .evidence(e.clone())
            .fix("add `127.0.0.1 localhost` and `::1 localhost` to /etc/hosts"),
        Ok(addrs) => {
            let shown: Vec<String> = addrs.iter().map(IpAddr::to_string).collect();
            let bad: Vec<String> = addrs
                .iter()
                .filter(|a| !is_loopback(**a))
                .map(IpAddr::to_string)
                .collect();
            let c = if bad.is_empty() {
                check(
                    id,
                    CheckStatus::Pass,
                    format!("localhost resolves to {}", shown.join(", ")),
                )
            } else {
                check(
                    id,
                    CheckStatus::Fail,
                    format!("localhost resolves to {}, which is not loopback: traffic meant for this host goes elsewhere", bad.join(", ")),
                )
                .fix("map localhost only to 127.0.0.1 and ::1 (hosts file, and nothing else answering for it)")
            };
            c.evidence(format!(
                "getaddrinfo(\"localhost\") returned {}",
                shown.join(", ")
            ))
        }
    }
}

fn network_interface_check(interfaces: &[Interface]) -> Check {
    let id = "network.interface";
    let usable: Vec<String> = interfaces
        .iter()
        .filter(|i| !i.loopback && i.up)
        .filter_map(|i| {
            let addrs: Vec<String> = i
                .addresses
                .iter()
                .filter(
                    |a| !matches!(a.address, IpAddr::V6(v6) if v6.segments()[0] & 0xffc0 == 0xfe80),
                )
                .map(|a| format!("{}/{}", a.address, a.prefix_len))
                .collect();
            (!addrs.is_empty()).then(|| format!("{}: {}", i.name, addrs.join(", ")))
        })
        .collect();
    if usable.is_empty() {
        check(id, CheckStatus::Warn, "no non-loopback interface is up with an address: this host can only reach itself")
            .fix("bring an interface up and give it an address (ip link set DEV up; DHCP or ip addr add)")
    } else {
        let mut c = check(
            id,
            CheckStatus::Pass,
            format!(
                "{} non-loopback interface(s) up with an address",
                usable.len()
            ),
        );
        c.evidence = usable;
        c
    }
}

fn default_route_check(sys: &dyn SystemView, proc_ok: &Result<(), String>) -> Check {
    let id = "network.default-route";
    if let Err(why) = proc_ok {
        return check(
            id,
            CheckStatus::Skip,
            "cannot tell whether a default route exists",
        )
        .evidence(why.clone());
    }
    let v4 = sys
        .read_file("/proc/net/route")
        .map(|b| ipv4_default_routes(&b))
        .unwrap_or_default();
    let v6 = sys
        .read_file("/proc/net/ipv6_route")
        .map(|b| ipv6_default_routes(&b))
        .unwrap_or_default();
    if v4.is_empty() && v6.is_empty() {
        return check(id, CheckStatus::Warn, "no default route: only directly connected networks are reachable")
            .fix("add a default route (ip route add default via GATEWAY) if this host should reach other networks");
    }
    let mut c = check(id, CheckStatus::Pass, "a default route exists");
    if !v4.is_empty() {
        c = c.evidence(format!("IPv4 default route via {}", v4.join(", ")));
    }
    if !v6.is_empty() {
        c = c.evidence(format!("IPv6 default route via {}", v6.join(", ")));
    }
    c
}

fn reach_checks(r: &ReachResult) -> Vec<Check> {
    let addrs = match &r.resolved {
        Err(e) => {
            return vec![check(
                "reach.resolve",
                CheckStatus::Fail,
                format!("{} does not resolve", r.target),
            )
            .evidence(e.clone())
            .fix("check the name, the hosts file and DNS")]
        }
        Ok(a) => a.clone(),
    };
    let shown: Vec<String> = addrs.iter().map(IpAddr::to_string).collect();
    let mut out = vec![check(
        "reach.resolve",
        CheckStatus::Pass,
        format!("{} resolves to {}", r.target, shown.join(", ")),
    )];
    let summarise = |id: &str, what: &str, results: &[(IpAddr, ProbeOutcome)]| {
        let ok = results
            .iter()
            .filter(|(_, o)| matches!(o, ProbeOutcome::Ok { .. }))
            .count();
        let unavailable = results
            .iter()
            .all(|(_, o)| matches!(o, ProbeOutcome::Unavailable { .. }));
        let status = if unavailable {
            CheckStatus::Skip
        } else if ok == results.len() {
            CheckStatus::Pass
        } else if ok == 0 {
            CheckStatus::Fail
        } else {
            CheckStatus::Warn
        };
        let mut c = check(
            id,
            status,
            format!("{what}: {ok} of {} addresses answer", results.len()),
        );
        for (a, o) in results {
            c = c.evidence(format!("{a}: {}", describe(o)));
        }
        if status != CheckStatus::Pass && status != CheckStatus::Skip {
            c = c.fix("check the route to the host (ip route get ADDR) and any filter on the path; a timeout means packets are dropped, a refusal that the host answered");
        }
        c
    };
    out.push(summarise(
        "reach.echo",
        &format!("ICMP echo to {}", r.target),
        &r.echo,
    ));
    if let Some(port) = r.port {
        out.push(summarise(
            "reach.tcp",
            &format!("TCP to {}:{port}", r.target),
            &r.tcp,
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{iface, FakeSystem};

    fn ok() -> ProbeOutcome {
        ProbeOutcome::Ok {
            rtt: Duration::from_micros(40),
        }
    }

    fn healthy() -> FakeSystem {
        let mut sys = FakeSystem::lan();
        sys.sysctls
            .insert("net/ipv6/conf/lo/disable_ipv6".into(), "0".into());
        sys.sysctls
            .insert("net/ipv6/conf/all/disable_ipv6".into(), "0".into());
        sys.sysctls
            .insert("net/ipv4/conf/all/route_localnet".into(), "0".into());
        sys.sysctls
            .insert("net/ipv4/conf/veth0/route_localnet".into(), "0".into());
        sys.files.insert(
            "/etc/hosts".into(),
            b"127.0.0.1 localhost\n::1 localhost ip6-localhost\n".to_vec(),
        );
        sys.names.insert(
            "localhost".into(),
            vec!["::1".parse().expect("ip"), "127.0.0.1".parse().expect("ip")],
        );
        sys.probe = ok();
        sys
    }

    fn get<'a>(r: &'a DoctorReport, id: &str) -> &'a Check {
        r.checks
            .iter()
            .find(|c| c.id == id)
            .unwrap_or_else(|| panic!("no check {id}"))
    }

    fn status(r: &DoctorReport, id: &str) -> CheckStatus {
        get(r, id).status
    }

    #[test]
    fn healthy_host_passes_every_loopback_check() {
        let r = doctor(&healthy(), &DoctorOptions::default());
        for c in &r.checks {
            if c.id.starts_with("loopback.") || c.id.starts_with("localhost.") {
                assert_eq!(c.status, CheckStatus::Pass, "{c:?}");
            }
        }
        assert_eq!(r.checks.len(), 15);
    }

    #[test]
    fn lo_down_is_named_as_the_cause() {
        let mut sys = healthy();
        sys.interfaces[0].up = false;
        sys.interfaces[0].addresses.retain(|a| a.address.is_ipv4());
        sys.probe = ProbeOutcome::Timeout { stage: "connect" };
        let r = doctor(&sys, &DoctorOptions::default());
        assert_eq!(status(&r, "loopback.interface"), CheckStatus::Fail);
        let tcp = get(&r, "loopback.ipv4-tcp");
        assert!(tcp.summary.contains("lo is down"), "{tcp:?}");
        assert_eq!(tcp.fix.as_deref(), Some("ip link set lo up"));
        assert_eq!(status(&r, "loopback.firewall"), CheckStatus::Skip);
        assert_eq!(status(&r, "loopback.ipv6-address"), CheckStatus::Fail);
    }

    #[test]
    fn drops_on_a_healthy_interface_blame_the_firewall_and_name_the_rule() {
        let mut sys = healthy();
        sys.probe = ProbeOutcome::Timeout { stage: "connect" };
        sys.firewall.rulesets.push(loopback_sys::Ruleset {
            tool: "nft".into(),
            text: "table inet t {\n\tchain in {\n\t\ttype filter hook input priority filter; policy accept;\n\t\tiif \"lo\" drop # handle 2\n\t}\n}\n".into(),
        });
        let r = doctor(&sys, &DoctorOptions::default());
        let fw = get(&r, "loopback.firewall");
        assert_eq!(fw.status, CheckStatus::Fail);
        assert!(
            fw.evidence
                .iter()
                .any(|e| e.contains("iif \"lo\" drop # handle 2")),
            "{fw:?}"
        );
        assert!(
            fw.fix
                .as_deref()
                .is_some_and(|f| f.starts_with("nft delete rule inet t in handle 2")),
            "{fw:?}"
        );
        let tcp = get(&r, "loopback.ipv4-tcp");
        assert_eq!(tcp.fix.as_deref(), Some("see loopback.firewall"));
    }

    #[test]
    fn ipv6_disabled_warns_and_skips_ipv6_probes() {
        let mut sys = healthy();
        sys.sysctls
            .insert("net/ipv6/conf/lo/disable_ipv6".into(), "1".into());
        sys.interfaces[0].addresses.retain(|a| a.address.is_ipv4());
        let r = doctor(&sys, &DoctorOptions::default());
        assert_eq!(status(&r, "loopback.ipv6-address"), CheckStatus::Warn);
        for id in [
            "loopback.ipv6-echo",
            "loopback.ipv6-tcp",
            "loopback.ipv6-udp",
        ] {
            assert_eq!(status(&r, id), CheckStatus::Skip, "{id}");
        }
        assert_eq!(status(&r, "loopback.firewall"), CheckStatus::Pass);
    }

    #[test]
    fn missing_127_address() {
        let mut sys = healthy();
        sys.interfaces[0].addresses.retain(|a| a.address.is_ipv6());
        sys.probe = ProbeOutcome::Error {
            stage: "bind",
            message: "Cannot assign requested address".into(),
            kind: ErrorKindName::AddrNotAvailable,
        };
        let r = doctor(&sys, &DoctorOptions::default());
        let a = get(&r, "loopback.ipv4-address");
        assert_eq!(a.status, CheckStatus::Fail);
        assert_eq!(a.fix.as_deref(), Some("ip addr add 127.0.0.1/8 dev lo"));
        let tcp = get(&r, "loopback.ipv4-tcp");
        assert!(tcp.summary.contains("127.0.0.1 is not assigned"), "{tcp:?}");
    }

    #[test]
    fn hosts_file_variants() {
        let cases: [(&[u8], CheckStatus, &str); 5] = [
            (
                b"127.0.0.1 localhost\n::1 localhost\n",
                CheckStatus::Pass,
                "maps localhost to loopback",
            ),
            (
                b"127.0.0.1 localhost\n::1 ip6-localhost ip6-loopback\n",
                CheckStatus::Warn,
                "does not map localhost to ::1",
            ),
            (
                b"127.0.0.1 other\n",
                CheckStatus::Fail,
                "no entry for localhost",
            ),
            (
                b"127.0.0.1 localhost\n198.18.0.2 LocalHost\n",
                CheckStatus::Fail,
                "198.18.0.2 (line 2)",
            ),
            (
                b"::1 localhost\n",
                CheckStatus::Warn,
                "does not map localhost to 127.0.0.1",
            ),
        ];
        for (text, want, phrase) in cases {
            let mut sys = healthy();
            sys.files.insert("/etc/hosts".into(), text.to_vec());
            let r = doctor(&sys, &DoctorOptions::default());
            let c = get(&r, "localhost.hosts-file");
            assert_eq!(c.status, want, "{}: {c:?}", String::from_utf8_lossy(text));
            assert!(c.summary.contains(phrase), "{c:?}");
        }
        let mut sys = healthy();
        sys.files.insert(
            "/etc/hosts".into(),
            b"127.0.0.1 localhost\n::1 ip6-localhost\n".to_vec(),
        );
        let r = doctor(&sys, &DoctorOptions::default());
        let c = get(&r, "localhost.hosts-file");
        assert!(
            c.evidence
                .iter()
                .any(|e| e.contains("only under ip6-localhost")),
            "{c:?}"
        );
        sys.files.clear();
        let r = doctor(&sys, &DoctorOptions::default());
        assert_eq!(status(&r, "localhost.hosts-file"), CheckStatus::Fail);
    }

    #[test]
    fn localhost_resolving_elsewhere_fails() {
        let mut sys = healthy();
        sys.names
            .insert("localhost".into(), vec!["198.18.0.2".parse().expect("ip")]);
        let r = doctor(&sys, &DoctorOptions::default());
        assert_eq!(status(&r, "localhost.resolves-loopback"), CheckStatus::Fail);
        sys.names.clear();
        let r = doctor(&sys, &DoctorOptions::default());
        assert_eq!(status(&r, "localhost.resolves-loopback"), CheckStatus::Fail);
    }

    #[test]
    fn route_localnet_on_a_link_fails() {
        let mut sys = healthy();
        sys.sysctls
            .insert("net/ipv4/conf/veth0/route_localnet".into(), "1".into());
        let r = doctor(&sys, &DoctorOptions::default());
        let c = get(&r, "loopback.route-localnet");
        assert_eq!(c.status, CheckStatus::Fail);
        assert!(c
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("net.ipv4.conf.veth0.route_localnet=0")));
    }

    #[test]
    fn unprivileged_echo_is_skipped_with_the_way_to_enable_it() {
        let mut sys = healthy();
        sys.echo = Some(ProbeOutcome::Unavailable {
            reason: "no ICMP socket".into(),
        });
        let r = doctor(&sys, &DoctorOptions::default());
        let c = get(&r, "loopback.ipv4-echo");
        assert_eq!(c.status, CheckStatus::Skip);
        assert!(c
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("ping_group_range")));
    }

    #[test]
    fn lo_only_namespace_warns_about_the_network() {
        let mut sys = healthy();
        sys.interfaces = vec![iface(1, "lo", true, &["127.0.0.1/8", "::1/128"])];
        let r = doctor(&sys, &DoctorOptions::default());
        assert_eq!(status(&r, "network.interface"), CheckStatus::Warn);
        assert_eq!(status(&r, "network.default-route"), CheckStatus::Warn);
    }

    #[test]
    fn reach_targets() {
        use crate::probe::split_host_port;
        assert_eq!(split_host_port("host:80"), Some(("host".into(), Some(80))));
        assert_eq!(split_host_port("[::1]:80"), Some(("::1".into(), Some(80))));
        assert_eq!(split_host_port("::1"), Some(("::1".into(), None)));
        assert_eq!(
            split_host_port("198.18.0.2"),
            Some(("198.18.0.2".into(), None))
        );
        // A malformed port is an error, not a port-less reach.
        let r = doctor(
            &healthy(),
            &DoctorOptions {
                reach: Some("198.18.0.2:http".into()),
                ..DoctorOptions::default()
            },
        );
        assert_eq!(status(&r, "reach.resolve"), CheckStatus::Fail);
        let sys = healthy();
        let r = doctor(
            &sys,
            &DoctorOptions {
                reach: Some("198.18.0.2:22".into()),
                ..DoctorOptions::default()
            },
        );
        assert_eq!(status(&r, "reach.resolve"), CheckStatus::Pass);
        assert_eq!(status(&r, "reach.echo"), CheckStatus::Pass);
        assert_eq!(status(&r, "reach.tcp"), CheckStatus::Pass);
    }
}
