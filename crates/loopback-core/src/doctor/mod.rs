//! `doctor`: is the loopback stack healthy here, and if not, exactly why.
//!
//! Configuration is read once into a snapshot (interfaces, kernel settings, the hosts file,
//! routes). The active probes (ICMP echo, TCP and UDP round trips, `localhost` resolution,
//! `--reach`) run at once through the [`Prober`], on their own threads, each with a deadline, so
//! a run takes about one probe timeout even when a firewall silently drops everything. When a
//! probe fails, the packet-filter ruleset is added to the snapshot. Then [`judge`] turns the
//! snapshot and the probes into checks without touching the system. The doctor never changes
//! the system.
//!
//! - `state`: the loopback interface as the snapshot shows it;
//! - [`probes`]: the live half;
//! - `checks/`: one file per group of checks.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use loopback_model::{CheckId, DoctorReport, DOCTOR_VERSION};
use loopback_sys::{Prober, SystemView};

use crate::localhost::Ipv6State;
use crate::snapshot::{Parts, Request, ResolverPaths, Snapshot};
use crate::timings::Timings;

mod checks;
pub mod probes;
mod state;

use checks::config::{default_route_check, network_interface_check, route_localnet_check};
use checks::localhost::{hosts_file_check, resolves_loopback_check};
use checks::loopback::{interface_check, ipv4_address_check, ipv6_address_check};
use checks::reach::reach_checks;
use checks::traffic::{any_failed, echo_check, firewall_check, round_trip_check};
pub use probes::{run_probes, Probes};
use state::LoState;

/// What to check.
#[derive(Debug, Clone)]
pub struct DoctorOptions {
    /// Deadline of each network step.
    pub timeout: Duration,
    /// A host (`HOST` or `HOST:PORT`) beyond this one to try, named by the user.
    pub reach: Option<String>,
    /// The resolver's files to read (a namespace's own with `--netns`).
    pub resolver: ResolverPaths,
}

impl Default for DoctorOptions {
    fn default() -> Self {
        DoctorOptions {
            timeout: Duration::from_millis(1000),
            reach: None,
            resolver: ResolverPaths::default(),
        }
    }
}

/// The snapshot request `doctor` starts from.
pub fn request(options: &DoctorOptions) -> Request {
    Request {
        parts: Parts::LINKS.with(Parts {
            routes: true,
            resolver: true,
            ..Parts::default()
        }),
        resolver_paths: options.resolver.clone(),
        ..Request::default()
    }
}

/// Capture, probe, and judge; `timings` collects the phases.
pub fn run(
    sys: &dyn SystemView,
    prober: &dyn Prober,
    options: &DoctorOptions,
    timings: &Timings,
) -> DoctorReport {
    let start = Instant::now();
    let mut snap = timings.time("capture", || {
        crate::snapshot::capture(sys, &request(options))
    });
    let ipv6_on = crate::localhost::ipv6_state(&snap) == Ipv6State::On;
    let probes = timings.time("probes", || {
        run_probes(prober, options, ipv6_on, snap.interface_list())
    });
    let mut probes = probes;
    if snap.os == loopback_model::Os::Linux {
        let uid = Some(sys.effective_uid());
        let mut dests = vec![IpAddr::from(std::net::Ipv4Addr::LOCALHOST)];
        if ipv6_on {
            dests.push(std::net::Ipv6Addr::LOCALHOST.into());
        }
        probes.loopback_routes = dests
            .into_iter()
            .map(|d| (d, sys.route_get(d, uid, 0).map_err(|e| e.to_string())))
            .collect();
    }
    // The output hook's NAT rules decide loopback.interception; the filter, when a probe
    // failed, loopback.firewall.
    if any_failed(&probes) || snap.os == loopback_model::Os::Linux {
        timings.time("capture firewall", || {
            crate::snapshot::extend(
                &mut snap,
                sys,
                &Request::of(Parts {
                    firewall: true,
                    ..Parts::default()
                }),
            )
        });
    }
    let mut report = timings.time("judge", || judge(&snap, &probes));
    report.elapsed_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
    report
}

/// Every check, from a snapshot and the probes' outcomes: a pure function (`elapsed_ms` is
/// left at 0 for the caller that timed the run).
pub fn judge(snap: &Snapshot, probes: &Probes) -> DoctorReport {
    let state = LoState::of(snap);
    let lo = crate::scope::loopback_interface(snap.interface_list());
    let kernel = snap.kernel.ok();
    let mut checks = vec![
        interface_check(&snap.interfaces, &state),
        ipv4_address_check(lo, &state),
        ipv6_address_check(&state),
        echo_check(
            kernel,
            CheckId::LoopbackIpv4Echo,
            Some(&probes.echo4),
            false,
            &state,
        ),
        echo_check(
            kernel,
            CheckId::LoopbackIpv6Echo,
            probes.echo6.as_ref(),
            true,
            &state,
        ),
        round_trip_check(
            CheckId::LoopbackIpv4Tcp,
            "TCP",
            Some(&probes.tcp4),
            false,
            &state,
        ),
        round_trip_check(
            CheckId::LoopbackIpv6Tcp,
            "TCP",
            probes.tcp6.as_ref(),
            true,
            &state,
        ),
        round_trip_check(
            CheckId::LoopbackIpv4Udp,
            "UDP",
            Some(&probes.udp4),
            false,
            &state,
        ),
        round_trip_check(
            CheckId::LoopbackIpv6Udp,
            "UDP",
            probes.udp6.as_ref(),
            true,
            &state,
        ),
        firewall_check(&snap.firewall, probes, &state),
        checks::interception::interception_check(snap, &probes.loopback_routes),
        route_localnet_check(snap.os, kernel, snap.interface_list()),
        hosts_file_check(
            snap.os,
            snap.resolver.ok().map(|r| &r.hosts),
            state.ipv6 == Ipv6State::On,
        ),
        resolves_loopback_check(&probes.localhost),
        network_interface_check(snap.os, snap.interface_list()),
        default_route_check(snap.os, &snap.routes),
    ];
    if let Some(r) = &probes.reach {
        checks.extend(reach_checks(r));
    }
    DoctorReport {
        version: DOCTOR_VERSION,
        checks,
        elapsed_ms: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loopback_model::{Check, CheckStatus};
    use loopback_sys::probe::ErrorKindName;
    use loopback_sys::ProbeOutcome;

    fn doctor(sys: &FakeSystem, options: &DoctorOptions) -> DoctorReport {
        run(sys, sys, options, &Timings::new())
    }
    use crate::testing::{iface, FakeSystem};

    fn ok() -> ProbeOutcome {
        ProbeOutcome::Ok {
            rtt: Duration::from_micros(40),
        }
    }

    fn healthy() -> FakeSystem {
        let mut sys = FakeSystem::lan();
        // An empty ruleset, as nft lists it.
        sys.firewall.rulesets.push(loopback_sys::Ruleset {
            tool: "nft".into(),
            text: String::new(),
        });
        sys.kernel.ipv6_disabled.insert("lo".into(), false);
        sys.kernel.ipv6_all_disabled = Some(false);
        sys.kernel.route_localnet.insert("all".into(), false);
        sys.kernel.route_localnet.insert("veth0".into(), false);
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
            if c.id.as_str().starts_with("loopback.") || c.id.as_str().starts_with("localhost.") {
                assert_eq!(c.status, CheckStatus::Pass, "{c:?}");
            }
        }
        assert_eq!(r.checks.len(), 16);
    }

    /// A Windows host: the Loopback Pseudo-Interface, the hosts file Windows ships, no routes read.
    fn windows() -> FakeSystem {
        let mut sys = FakeSystem::with_interfaces(vec![
            iface(
                1,
                "Loopback Pseudo-Interface 1",
                true,
                &["127.0.0.1/8", "::1/128"],
            ),
            iface(7, "Ethernet", false, &["192.0.2.10/24"]),
        ]);
        sys.os = loopback_model::Os::Windows;
        sys.files.insert(
            loopback_sys::hosts_path(),
            b"# localhost name resolution is handled within DNS itself.\r\n#\t127.0.0.1       localhost\r\n#\t::1             localhost\r\n".to_vec(),
        );
        sys.names.insert(
            "localhost".into(),
            vec!["::1".parse().expect("ip"), "127.0.0.1".parse().expect("ip")],
        );
        sys.probe = ok();
        sys
    }

    #[test]
    fn windows_checks_say_what_does_not_apply_and_pass_the_rest() {
        let r = doctor(&windows(), &DoctorOptions::default());
        for id in [
            "loopback.interface",
            "loopback.ipv4-address",
            "loopback.ipv6-address",
            "loopback.ipv4-tcp",
            "loopback.firewall",
            "localhost.hosts-file",
            "localhost.resolves-loopback",
        ] {
            assert_eq!(status(&r, id), CheckStatus::Pass, "{:?}", get(&r, id));
        }
        let rl = get(&r, "loopback.route-localnet");
        assert_eq!(rl.status, CheckStatus::Skip);
        assert!(rl.summary.contains("Linux setting"), "{rl:?}");
        // A broken stack gets Windows' fix, not ip(8)'s.
        let mut sys = windows();
        sys.interfaces[0].addresses.retain(|a| a.address.is_ipv6());
        sys.probe = ProbeOutcome::Timeout { stage: "connect" };
        let r = doctor(&sys, &DoctorOptions::default());
        let v4 = get(&r, "loopback.ipv4-address");
        assert_eq!(v4.status, CheckStatus::Fail);
        assert!(
            v4.fix
                .as_deref()
                .is_some_and(|f| f.contains("netsh int ip reset")),
            "{v4:?}"
        );
        assert!(!r
            .checks
            .iter()
            .filter_map(|c| c.fix.as_deref())
            .any(|f| f.contains("ip addr")));
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
        sys.kernel.ipv6_disabled.insert("lo".into(), true);
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
        sys.kernel.route_localnet.insert("veth0".into(), true);
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
