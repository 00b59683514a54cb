//! Configuration that changes what loopback means: `route_localnet`, the host's other
//! interfaces and its default route.

use std::net::IpAddr;

use loopback_model::{Check, CheckId, CheckStatus, Interface, Os};
use loopback_sys::{DefaultRoutes, KernelSettings};

use super::{check, CheckExt};
use crate::snapshot::Part;

pub(crate) fn route_localnet_check(
    os: Os,
    kernel: Option<&KernelSettings>,
    interfaces: &[Interface],
) -> Check {
    let id = CheckId::LoopbackRouteLocalnet;
    if os != Os::Linux {
        return check(
            id,
            CheckStatus::Skip,
            format!(
                "route_localnet is a Linux setting: {} has none",
                os.display_name()
            ),
        );
    }
    let mut on = Vec::new();
    let mut read = 0;
    let names = std::iter::once("all").chain(
        interfaces
            .iter()
            .filter(|i| !i.loopback)
            .map(|i| i.name.as_str()),
    );
    for name in names {
        match kernel.and_then(|k| k.route_localnet.get(name)) {
            Some(true) => {
                read += 1;
                on.push(name.to_owned());
            }
            Some(false) => read += 1,
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

pub(crate) fn network_interface_check(os: Os, interfaces: &[Interface]) -> Check {
    let id = CheckId::NetworkInterface;
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
            .fix(match os {
                Os::Linux => "bring an interface up and give it an address (ip link set DEV up; DHCP or ip addr add)",
                Os::Macos => "bring an interface up and give it an address (System Settings > Network, or sudo ifconfig DEV up)",
                Os::Windows => "connect an adapter and give it an address (Settings > Network, or netsh interface ip set address)",
            })
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

pub(crate) fn default_route_check(os: Os, routes: &Part<DefaultRoutes>) -> Check {
    let id = CheckId::NetworkDefaultRoute;
    let (v4, v6) = match routes {
        Part::Captured(r) => (&r.ipv4, &r.ipv6),
        Part::Failed(why) => {
            return check(
                id,
                CheckStatus::Skip,
                "cannot tell whether a default route exists",
            )
            .evidence(why.clone())
        }
        Part::NotCaptured => {
            return check(id, CheckStatus::Skip, "the routes were not captured");
        }
    };
    if v4.is_empty() && v6.is_empty() {
        return check(id, CheckStatus::Warn, "no default route: only directly connected networks are reachable")
            .fix(match os {
                Os::Linux => "add a default route (ip route add default via GATEWAY) if this host should reach other networks",
                Os::Macos => "add a default route (sudo route add default GATEWAY, or the network's settings) if this host should reach other networks",
                Os::Windows => "add a default route (route add 0.0.0.0 mask 0.0.0.0 GATEWAY, or the adapter's settings) if this host should reach other networks",
            });
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
