//! `loopback.interception`: nothing sends traffic meant for loopback addresses elsewhere:
//! no NAT rule in the output hook that can rewrite a connection to 127.0.0.0/8 or ::1 (a
//! proxy's or VPN client's REDIRECT, left behind when it crashed), and no policy route that
//! takes them off the local table.

use std::net::IpAddr;

use loopback_model::{Check, CheckId, CheckStatus, Os};
use loopback_sys::routing::{RouteAnswer, RouteKind};

use super::{check, CheckExt};
use crate::exposure::ruleset_of;
use crate::snapshot::{Part, Snapshot};

pub(crate) fn interception_check(
    snap: &Snapshot,
    routes: &[(IpAddr, Result<RouteAnswer, String>)],
) -> Check {
    let id = CheckId::LoopbackInterception;
    if snap.os != Os::Linux {
        return check(
            id,
            CheckStatus::Skip,
            format!(
                "not available on {}: its packet filter and policy routes are not read",
                snap.os.display_name()
            ),
        );
    }
    let mut found = Vec::new();
    for (dest, answer) in routes {
        match answer {
            Ok(a) if a.kind != RouteKind::Local => found.push(format!(
                "{dest} is not delivered on this host: the kernel routes it by table {} ({:?})",
                loopback_sys::routing::table_name(a.table),
                a.kind
            )),
            Ok(_) => {}
            Err(why) => found.push(format!("the route of {dest} could not be asked: {why}")),
        }
    }
    let filter = ruleset_of(&snap.firewall);
    let nat = crate::intercept::loopback_nat(&filter);
    for m in &nat {
        found.push(format!("{}: {} -> {}", m.origin, m.rule, m.to));
    }
    let unread = match &snap.firewall {
        Part::Captured(_) => filter.incomplete.clone(),
        Part::Failed(why) => Some(why.clone()),
        Part::NotCaptured => Some("the packet filter was not captured".into()),
    };
    if found.is_empty() {
        if let Some(why) = unread {
            return check(
                id,
                CheckStatus::Skip,
                "whether a NAT rule rewrites loopback traffic could not be checked",
            )
            .evidence(why)
            .fix(crate::exposure::FIREWALL_PRIVILEGE_HINT);
        }
        return check(
            id,
            CheckStatus::Pass,
            "no NAT rule in the output hook rewrites connections to loopback addresses, and the kernel delivers them locally",
        );
    }
    let mut c = check(
        id,
        CheckStatus::Warn,
        "traffic to loopback addresses is redirected or routed elsewhere",
    );
    for f in found {
        c = c.evidence(f);
    }
    c.fix("`loopback intercept HOST:PORT` traces one connection and names the rule and who receives it; a rule left by a proxy or VPN client that is no longer running can be deleted (nft: `nft delete rule FAMILY TABLE CHAIN handle N`)")
}
