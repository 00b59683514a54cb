//! What the snapshot says about the loopback interface, for the checks and for attributing a
//! failed probe to its cause.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use loopback_model::Os;

use crate::localhost::{ipv6_state, Ipv6State};
use crate::scope::loopback_interface;
use crate::snapshot::Snapshot;

/// Windows' Loopback Pseudo-Interface is not configured by hand: when it lacks its addresses
/// or is down, the TCP/IP stack's configuration is damaged.
const WINDOWS_STACK_RESET: &str = "the Loopback Pseudo-Interface is not configured by hand: reset the TCP/IP stack's configuration (`netsh int ip reset` as Administrator) and restart";

/// The loopback interface as configured.
#[derive(Debug, Clone)]
pub(crate) struct LoState {
    pub(crate) name: String,
    pub(crate) exists: bool,
    pub(crate) up: bool,
    pub(crate) has_v4: bool,
    /// Interfaces other than the loopback one that hold 127.0.0.1 itself.
    pub(crate) v4_elsewhere: Vec<String>,
    pub(crate) has_v6: bool,
    pub(crate) ipv6: Ipv6State,
    /// The system, which decides how a fix is written.
    pub(crate) os: Os,
}

impl LoState {
    pub(crate) fn of(snap: &Snapshot) -> LoState {
        let all = snap.interface_list();
        let lo = loopback_interface(all);
        let localhost4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let v4_elsewhere: Vec<String> = all
            .iter()
            .filter(|i| !i.loopback && i.addresses.iter().any(|a| a.address == localhost4))
            .map(|i| i.name.clone())
            .collect();
        LoState {
            name: snap.loopback_name(),
            exists: lo.is_some(),
            up: lo.is_some_and(|i| i.up),
            has_v4: lo.is_some_and(|i| {
                i.addresses.iter().any(|a| {
                    matches!(a.address, IpAddr::V4(v4) if v4.is_loopback())
                        && ipnet::IpNet::new(a.address, a.prefix_len)
                            .is_ok_and(|n| n.contains(&localhost4))
                })
            }) || !v4_elsewhere.is_empty(),
            v4_elsewhere,
            has_v6: lo.is_some_and(|i| {
                i.addresses
                    .iter()
                    .any(|a| a.address == IpAddr::V6(Ipv6Addr::LOCALHOST))
            }),
            ipv6: ipv6_state(snap),
            os: snap.os,
        }
    }

    /// How to bring the loopback interface up.
    pub(crate) fn fix_up(&self) -> String {
        match self.os {
            Os::Linux => format!("ip link set {} up", self.name),
            Os::Macos => format!("sudo ifconfig {} up", self.name),
            Os::Windows => WINDOWS_STACK_RESET.to_owned(),
        }
    }

    /// How to give the loopback interface 127.0.0.1 back.
    pub(crate) fn fix_add_v4(&self) -> String {
        match self.os {
            Os::Linux => format!("ip addr add 127.0.0.1/8 dev {}", self.name),
            Os::Macos => format!(
                "sudo ifconfig {} inet 127.0.0.1 netmask 255.0.0.0 alias",
                self.name
            ),
            Os::Windows => WINDOWS_STACK_RESET.to_owned(),
        }
    }

    /// How to give the loopback interface ::1 back.
    pub(crate) fn fix_add_v6(&self) -> String {
        match self.os {
            Os::Linux => format!("ip -6 addr add ::1/128 dev {}", self.name),
            Os::Macos => format!("sudo ifconfig {} inet6 ::1 prefixlen 128 alias", self.name),
            Os::Windows => WINDOWS_STACK_RESET.to_owned(),
        }
    }

    pub(crate) fn healthy_for(&self, v6: bool) -> bool {
        self.exists && self.up && if v6 { self.has_v6 } else { self.has_v4 }
    }
}
