//! The rules about `localhost` and IPv6 on the loopback interface, owned here once and used by
//! `doctor` (its `localhost.hosts-file` check) and `resolve` (its localhost findings), so both
//! always agree.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use loopback_sys::parse::hosts::HostsEntry;

use crate::classify::is_loopback;
use crate::scope::loopback_interface;
use crate::snapshot::{Part, Snapshot};

/// IPv6 on the loopback interface: absent from the kernel, disabled by sysctl, on, or unknown
/// because the settings cannot be read (`/proc` is not mounted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ipv6State {
    /// The kernel has no IPv6 (booted with `ipv6.disable=1`, or built without it).
    Absent,
    /// `disable_ipv6=1` on the interface or on `all`.
    Disabled,
    /// On.
    On,
    /// Cannot tell: why.
    Unknown(String),
}

/// The IPv6 state of the loopback interface in `snap` (interfaces, kernel settings and the
/// `/proc` availability it was captured with).
pub fn ipv6_state(snap: &Snapshot) -> Ipv6State {
    let lo = loopback_interface(snap.interface_list());
    let name = snap.loopback_name();
    let has_v6 = lo.is_some_and(|i| {
        i.addresses
            .iter()
            .any(|a| a.address == IpAddr::V6(Ipv6Addr::LOCALHOST))
    });
    // Windows and macOS have no per-interface switch that this tool reads: the address is
    // the evidence.
    if snap.os != loopback_model::Os::Linux {
        return if has_v6 {
            Ipv6State::On
        } else {
            Ipv6State::Disabled
        };
    }
    let proc_ok = match &snap.proc {
        Part::Captured(()) => Ok(()),
        Part::Failed(why) => Err(why.clone()),
        Part::NotCaptured => Err("the kernel settings were not captured".to_owned()),
    };
    let kernel = snap.kernel.ok();
    let setting = kernel.and_then(|k| k.ipv6_disabled.get(&name).copied());
    match (&proc_ok, setting) {
        // Without /proc the settings are unknown; an assigned ::1 still proves IPv6 is on.
        (Err(_), _) if has_v6 => Ipv6State::On,
        (Err(why), _) => Ipv6State::Unknown(why.clone()),
        (Ok(()), None) => Ipv6State::Absent,
        (Ok(()), Some(true)) => Ipv6State::Disabled,
        (Ok(()), Some(false)) if kernel.and_then(|k| k.ipv6_all_disabled) == Some(true) => {
            Ipv6State::Disabled
        }
        (Ok(()), Some(false)) => Ipv6State::On,
    }
}

/// What the hosts file says about `localhost`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalhostLines<'a> {
    /// Every line naming localhost, in file order.
    pub lines: Vec<&'a HostsEntry>,
    /// Those that map it to something other than loopback.
    pub not_loopback: Vec<&'a HostsEntry>,
    /// A `127.0.0.1 localhost` line exists.
    pub has_v4: bool,
    /// A `::1 localhost` line exists.
    pub has_v6: bool,
    /// The first line for `::1` that does not name localhost (`::1 ip6-localhost`), when no
    /// line maps localhost to `::1`.
    pub v6_alias_only: Option<&'a HostsEntry>,
}

impl<'a> LocalhostLines<'a> {
    /// Read the localhost lines out of parsed hosts-file entries.
    pub fn of(entries: &'a [HostsEntry]) -> Self {
        let lines: Vec<&HostsEntry> = entries.iter().filter(|e| e.has_name("localhost")).collect();
        let has_v4 = lines
            .iter()
            .any(|e| e.address == IpAddr::V4(Ipv4Addr::LOCALHOST));
        let has_v6 = lines
            .iter()
            .any(|e| e.address == IpAddr::V6(Ipv6Addr::LOCALHOST));
        LocalhostLines {
            not_loopback: lines
                .iter()
                .copied()
                .filter(|e| !is_loopback(e.address))
                .collect(),
            v6_alias_only: (!has_v6)
                .then(|| {
                    entries
                        .iter()
                        .find(|e| e.address == IpAddr::V6(Ipv6Addr::LOCALHOST))
                })
                .flatten(),
            lines,
            has_v4,
            has_v6,
        }
    }

    /// No line names localhost: the look-up goes on to the next source (often DNS).
    pub fn missing(&self) -> bool {
        self.lines.is_empty()
    }

    /// IPv6 is on but no line maps localhost to `::1`.
    pub fn lacks_v6(&self, ipv6_on: bool) -> bool {
        !self.lines.is_empty() && ipv6_on && !self.has_v6
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeSystem;
    use loopback_sys::parse::hosts::parse_hosts;

    #[test]
    fn localhost_lines() {
        let (e, _) = parse_hosts(b"127.0.0.1 localhost\n::1 ip6-localhost\n10.0.0.1 localhost\n");
        let l = LocalhostLines::of(&e);
        assert!(l.has_v4 && !l.has_v6 && !l.missing());
        assert_eq!(l.not_loopback.len(), 1);
        assert_eq!(l.v6_alias_only.map(|e| e.line), Some(2));
        assert!(l.lacks_v6(true) && !l.lacks_v6(false));
        let (e, _) = parse_hosts(b"127.0.0.1 other\n");
        assert!(LocalhostLines::of(&e).missing());
    }

    #[test]
    fn ipv6_state_from_the_snapshot() {
        let mut sys = FakeSystem::lan();
        assert_eq!(ipv6_state(&sys.snapshot()), Ipv6State::Absent);
        sys.kernel.ipv6_disabled.insert("lo".into(), false);
        assert_eq!(ipv6_state(&sys.snapshot()), Ipv6State::On);
        sys.kernel.ipv6_all_disabled = Some(true);
        assert_eq!(ipv6_state(&sys.snapshot()), Ipv6State::Disabled);
        sys.proc_missing = Some("no /proc".into());
        assert_eq!(
            ipv6_state(&sys.snapshot()),
            Ipv6State::On,
            "::1 is assigned"
        );
        sys.interfaces[0].addresses.retain(|a| a.address.is_ipv4());
        assert!(matches!(ipv6_state(&sys.snapshot()), Ipv6State::Unknown(_)));
    }
}
