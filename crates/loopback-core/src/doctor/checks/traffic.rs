//! What the live probes on loopback found: echo, TCP and UDP round trips, and the packet filter
//! when they fail.

use loopback_model::{Check, CheckId, CheckStatus};
use loopback_sys::probe::ErrorKindName;
use loopback_sys::{FirewallDump, KernelSettings, ProbeOutcome};

use super::super::probes::Probes;
use super::super::state::LoState;
use super::{check, ms, CheckExt};
use crate::firewall::culprits;
use crate::localhost::Ipv6State;
use crate::snapshot::Part;

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
        return (format!("{} is down", state.name), state.fix_up());
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

/// A probe over IPv6 that did not run because IPv6 is off.
fn ipv6_off(id: CheckId, state: &LoState) -> Check {
    check(
        id,
        CheckStatus::Skip,
        format!("IPv6 is off on {}", state.name),
    )
    .evidence("see loopback.ipv6-address")
}

pub(crate) fn echo_check(
    kernel: Option<&KernelSettings>,
    id: CheckId,
    outcome: Option<&ProbeOutcome>,
    v6: bool,
    state: &LoState,
) -> Check {
    let addr = if v6 { "::1" } else { "127.0.0.1" };
    let Some(outcome) = outcome else {
        return ipv6_off(id, state);
    };
    match outcome {
        ProbeOutcome::Ok { rtt } => check(id, CheckStatus::Pass, format!("echo reply from {addr} in {}", ms(*rtt))),
        ProbeOutcome::Unavailable { reason } => check(id, CheckStatus::Skip, format!("cannot send ICMP echo to {addr} without privileges"))
            .evidence(reason.clone())
            .fix(match state.os {
                loopback_model::Os::Linux => "run as root, grant CAP_NET_RAW, or allow unprivileged ping sockets: sysctl -w net.ipv4.ping_group_range='0 2147483647'",
                loopback_model::Os::Windows => "run from an Administrator prompt (a raw ICMP socket needs it), or use `ping` there",
                loopback_model::Os::Macos => "run with sudo (a raw ICMP socket needs root)",
            }),
        _ => {
            let (ignored, setting) = match kernel {
                Some(k) if v6 => (k.echo_ignored_v6, "net.ipv6.icmp.echo_ignore_all"),
                Some(k) => (k.echo_ignored_v4, "net.ipv4.icmp_echo_ignore_all"),
                None => (None, ""),
            };
            if state.healthy_for(v6) && ignored == Some(true) {
                return check(id, CheckStatus::Warn, format!("{addr} does not answer echo requests: disabled by sysctl"))
                    .evidence(format!("{setting}=1"))
                    .fix(format!("sysctl -w {setting}=0 if ping should work"));
            }
            let (why, fix) = cause(outcome, v6, state);
            check(id, CheckStatus::Fail, format!("no echo reply from {addr}: {why}"))
                .evidence(describe(outcome))
                .fix(fix)
        }
    }
}

pub(crate) fn describe(outcome: &ProbeOutcome) -> String {
    match outcome {
        ProbeOutcome::Ok { rtt } => format!("round trip in {}", ms(*rtt)),
        ProbeOutcome::Timeout { stage } => format!("timed out at {stage}"),
        ProbeOutcome::Error { stage, message, .. } => format!("{stage}: {message}"),
        ProbeOutcome::Unavailable { reason } => reason.clone(),
    }
}

pub(crate) fn round_trip_check(
    id: CheckId,
    proto: &str,
    outcome: Option<&ProbeOutcome>,
    v6: bool,
    state: &LoState,
) -> Check {
    let addr = if v6 { "::1" } else { "127.0.0.1" };
    let Some(outcome) = outcome else {
        return ipv6_off(id, state);
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

/// Whether any loopback probe failed in a way a packet filter explains: then the ruleset is
/// worth capturing.
pub(crate) fn any_failed(p: &Probes) -> bool {
    failed_loopback_probes(p) > 0
}

/// How many loopback probes (echo, TCP, UDP, both families) timed out or were refused.
fn failed_loopback_probes(p: &Probes) -> usize {
    [&p.echo4, &p.tcp4, &p.udp4]
        .into_iter()
        .chain([&p.echo6, &p.tcp6, &p.udp6].into_iter().flatten())
        .filter(|o| matches!(o, ProbeOutcome::Timeout { .. } | ProbeOutcome::Error { .. }))
        .count()
}

pub(crate) fn firewall_check(firewall: &Part<FirewallDump>, p: &Probes, state: &LoState) -> Check {
    let id = CheckId::LoopbackFirewall;
    let failed = failed_loopback_probes(p);
    if state.os != loopback_model::Os::Linux {
        let mut c = check(
            id,
            if failed == 0 {
                CheckStatus::Pass
            } else {
                CheckStatus::Fail
            },
            if failed == 0 {
                "loopback traffic passes: every round trip on the loopback interface succeeded".to_owned()
            } else {
                format!("{failed} of the loopback round trips fail while the loopback interface and its addresses are fine: a filter on this host drops them")
            },
        )
        .evidence(format!(
            "the rules of {}'s packet filter are not read by loopback; the verdict is the round trips'",
            state.os.display_name()
        ));
        if let Part::Captured(d) = firewall {
            for u in d.unreadable.iter().chain(d.off.iter()) {
                c = c.evidence(u.clone());
            }
        }
        if failed > 0 {
            c = c.fix(match state.os {
                loopback_model::Os::Windows => "look for a security product or a Windows Filtering Platform filter that blocks loopback (`netsh wfp show filters` as Administrator writes them to filters.xml)",
                _ => "look for a pf anchor or a security product that blocks lo0 (`sudo pfctl -s rules`, `sudo pfctl -a '*' -s rules`)",
            });
        }
        return c;
    }
    if !(state.healthy_for(false) && (state.ipv6 != Ipv6State::On || state.healthy_for(true))) {
        return check(
            id,
            CheckStatus::Skip,
            "the loopback interface or its addresses are broken; fix those first",
        )
        .evidence("see loopback.interface and the address checks");
    }
    if failed == 0 {
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
            failed
        ),
    );
    let no_dump = FirewallDump::default();
    let dump = match firewall {
        Part::Captured(d) => d,
        Part::Failed(why) => {
            c = c.evidence(format!("could not read the ruleset: {why}"));
            &no_dump
        }
        Part::NotCaptured => {
            c = c.evidence("the ruleset was not captured");
            &no_dump
        }
    };
    let suspects = culprits(&dump.rulesets);
    for s in &suspects {
        c = c.evidence(format!("rule {}", s.describe()));
    }
    for u in &dump.unreadable {
        c = c.evidence(format!("could not read the ruleset: {u}"));
    }
    if dump.rulesets.is_empty() && dump.unreadable.is_empty() && firewall.ok().is_some() {
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
