//! `--reach`: a host beyond this one, named by the user.

use std::net::IpAddr;

use loopback_model::{Check, CheckId, CheckStatus};
use loopback_sys::ProbeOutcome;

use super::super::probes::ReachResult;
use super::traffic::describe;
use super::{check, CheckExt};

pub(crate) fn reach_checks(r: &ReachResult) -> Vec<Check> {
    let addrs = match &r.resolved {
        Err(e) => {
            return vec![check(
                CheckId::ReachResolve,
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
        CheckId::ReachResolve,
        CheckStatus::Pass,
        format!("{} resolves to {}", r.target, shown.join(", ")),
    )];
    let summarise = |id: CheckId, what: &str, results: &[(IpAddr, ProbeOutcome)]| {
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
        let failed: Vec<&ProbeOutcome> = results
            .iter()
            .map(|(_, o)| o)
            .filter(|o| !matches!(o, ProbeOutcome::Ok { .. }))
            .collect();
        let all_refused = !failed.is_empty()
            && failed.iter().all(|o| {
                matches!(o, ProbeOutcome::Error { kind, .. } if *kind == loopback_sys::probe::ErrorKindName::ConnectionRefused)
            });
        if status != CheckStatus::Pass && status != CheckStatus::Skip {
            c = c.fix(if all_refused {
                "the host answered, so the route works: nothing listens on that port there, or a rule there rejects it; check the service on the host"
            } else {
                "check the route to the host (ip route get ADDR) and any filter on the path; a timeout means packets are dropped"
            });
        }
        c
    };
    out.push(summarise(
        CheckId::ReachEcho,
        &format!("ICMP echo to {}", r.host),
        &r.echo,
    ));
    if let Some(port) = r.port {
        out.push(summarise(
            CheckId::ReachTcp,
            &format!(
                "TCP to {}",
                match r.host.parse::<IpAddr>() {
                    Ok(ip) => std::net::SocketAddr::new(ip, port).to_string(),
                    Err(_) => format!("{}:{port}", r.host),
                }
            ),
            &r.tcp,
        ));
    }
    out
}
