//! The loopback interface and its addresses.

use loopback_model::{Check, CheckId, CheckStatus, Interface};

use super::super::state::LoState;
use super::{check, CheckExt};
use crate::classify::is_loopback;
use crate::localhost::Ipv6State;
use crate::snapshot::Part;

pub(crate) fn interface_check(interfaces: &Part<Vec<Interface>>, state: &LoState) -> Check {
    let id = CheckId::LoopbackInterface;
    let listed: Result<(), String> = match interfaces {
        Part::Captured(_) => Ok(()),
        Part::Failed(e) => Err(e.clone()),
        Part::NotCaptured => Err("the interfaces were not captured".into()),
    };
    match listed {
        Err(e) => check(id, CheckStatus::Fail, "cannot list network interfaces")
            .evidence(e)
            .fix("check that /proc and netlink are available to this process"),
        Ok(_) if !state.exists => check(
            id,
            CheckStatus::Fail,
            "no loopback interface (IFF_LOOPBACK) in this network namespace",
        )
        .fix(match state.os {
            loopback_model::Os::Linux => "every Linux network namespace has lo; this environment is broken or not Linux",
            loopback_model::Os::Macos => "macOS always has lo0; this environment is broken",
            loopback_model::Os::Windows => "Windows always has the Loopback Pseudo-Interface; the TCP/IP stack is damaged (`netsh int ip reset` as Administrator, then restart)",
        }),
        Ok(_) if !state.up => check(id, CheckStatus::Fail, format!("{} is down", state.name))
            .evidence(format!("{}: IFF_LOOPBACK set, IFF_UP not set", state.name))
            .fix(state.fix_up()),
        Ok(_) => check(id, CheckStatus::Pass, format!("{} is up", state.name))
            .evidence(format!("{}: IFF_LOOPBACK and IFF_UP set", state.name)),
    }
}

pub(crate) fn ipv4_address_check(lo: Option<&Interface>, state: &LoState) -> Check {
    let id = CheckId::LoopbackIpv4Address;
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
        .fix(state.fix_add_v4())
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
        .fix(state.fix_add_v4())
    } else {
        check(
            id,
            CheckStatus::Fail,
            "no address of 127.0.0.0/8 is assigned",
        )
        .evidence(evidence)
        .fix(state.fix_add_v4())
    }
}

pub(crate) fn ipv6_address_check(state: &LoState) -> Check {
    let id = CheckId::LoopbackIpv6Address;
    let name = &state.name;
    match &state.ipv6 {
        Ipv6State::Unknown(why) => check(id, CheckStatus::Skip, "cannot tell whether IPv6 is on: the kernel settings cannot be read")
            .evidence(why.clone()),
        Ipv6State::Absent => check(id, CheckStatus::Skip, "IPv6 is not available in this kernel")
            .evidence(format!("/proc/sys/net/ipv6/conf/{name} is missing (booted with ipv6.disable=1, or built without IPv6)")),
        Ipv6State::Disabled if state.os != loopback_model::Os::Linux => check(id, CheckStatus::Warn, format!("::1 is not assigned to {name}: IPv6 is off on the loopback interface"))
            .evidence(format!("{name} holds no ::1"))
            .fix(format!("{}; or keep it off and make sure `localhost` does not resolve to ::1", state.fix_add_v6())),
        Ipv6State::Disabled => check(id, CheckStatus::Warn, format!("IPv6 is disabled on {name} by sysctl"))
            .evidence(format!("net.ipv6.conf.{name}.disable_ipv6=1 or net.ipv6.conf.all.disable_ipv6=1"))
            .fix(format!("sysctl -w net.ipv6.conf.{name}.disable_ipv6=0 (and in /etc/sysctl.d); or keep it off and make sure `localhost` does not resolve to ::1")),
        Ipv6State::On if state.has_v6 => check(id, CheckStatus::Pass, "::1 is assigned")
            .evidence(format!("{} holds ::1/128", state.name)),
        Ipv6State::On if !state.up => check(id, CheckStatus::Fail, format!("::1 is not assigned because {} is down", state.name))
            .evidence(format!("the kernel removes ::1 while {} is down", state.name))
            .fix(state.fix_up()),
        Ipv6State::On => check(id, CheckStatus::Fail, "::1 is not assigned")
            .evidence(format!("{} holds no ::1/128", state.name))
            .fix(state.fix_add_v6()),
    }
}
