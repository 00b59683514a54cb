//! The Windows backend: the IP Helper socket tables with their owning pids
//! (`GetExtendedTcpTable`, `GetExtendedUdpTable`), process names from a Tool Help snapshot and
//! accounts from process tokens, interfaces from `GetAdaptersAddresses` (through the `if-addrs`
//! crate), the hosts file under `%SystemRoot%`, Windows Firewall's per-profile state from the
//! registry, and the port settings `netsh` prints (excluded port ranges, the dynamic range).
//!
//! What Windows does not have (network namespaces, a file as another process sees it) or what
//! is not read yet (routes, the firewall's rules, command lines of other processes) is an
//! explicit error or a warning, never a guess. Every `unsafe` call is in [`ffi`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;

use loopback_model::{Interface, InterfaceAddress, Proto, SocketSourceKind};

use crate::facts::windows::{firewall_from_profiles, owners_from_keys, sockets_from_tables};
use crate::parse::iphlp::{self, Table};
use crate::parse::netsh;
use crate::{
    DefaultRoutes, FirewallDump, Inet6Addr, KernelSettings, NamespaceScan, NetnsTarget, OwnerScan,
    PortRange, SocketScan, SourcePreference, SysError, SystemView,
};

mod ffi;

/// The Windows implementation of [`SystemView`]; it holds nothing.
#[derive(Debug, Default)]
pub struct WindowsSystem;

impl WindowsSystem {
    /// The backend.
    pub fn new() -> Self {
        WindowsSystem
    }
}

/// `%SystemRoot%\System32\drivers\etc\hosts`.
pub fn hosts_path() -> String {
    let root = std::env::var("SystemRoot").unwrap_or_else(|_| r"C:\Windows".to_owned());
    format!(
        r"{}\System32\drivers\etc\hosts",
        root.trim_end_matches('\\')
    )
}

/// Interfaces from `if-addrs`' records (one per address), grouped by name; an address record
/// may come without the index (Wine gives IPv6 ones none), so the first index seen is kept.
fn interfaces_from(records: Vec<if_addrs::Interface>) -> Vec<Interface> {
    let mut by: BTreeMap<String, Interface> = BTreeMap::new();
    for r in records {
        let (address, prefix_len) = match &r.addr {
            if_addrs::IfAddr::V4(a) => (IpAddr::V4(a.ip), a.prefixlen),
            if_addrs::IfAddr::V6(a) => (IpAddr::V6(a.ip), a.prefixlen),
        };
        let up = r.is_oper_up();
        let entry = by.entry(r.name.clone()).or_insert_with(|| Interface {
            index: 0,
            name: r.name.clone(),
            up,
            loopback: false,
            addresses: Vec::new(),
            kind: None,
            master: None,
            peer_elsewhere: false,
        });
        if entry.index == 0 {
            entry.index = r.index.unwrap_or(0);
        }
        entry.loopback |= address.is_loopback();
        entry.up |= up;
        entry.addresses.push(InterfaceAddress {
            address,
            prefix_len,
        });
    }
    let mut all: Vec<Interface> = by.into_values().collect();
    all.sort_by_key(|i| (i.index == 0, i.index));
    all
}

/// The registry keys of Windows Firewall's profiles: (profile, local key, Group Policy key).
const PROFILES: [(&str, &str, &str); 3] = [
    (
        "Domain",
        r"SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy\DomainProfile",
        r"SOFTWARE\Policies\Microsoft\WindowsFirewall\DomainProfile",
    ),
    (
        "Private",
        r"SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy\StandardProfile",
        r"SOFTWARE\Policies\Microsoft\WindowsFirewall\PrivateProfile",
    ),
    (
        "Public",
        r"SYSTEM\CurrentControlSet\Services\SharedAccess\Parameters\FirewallPolicy\PublicProfile",
        r"SOFTWARE\Policies\Microsoft\WindowsFirewall\PublicProfile",
    ),
];

/// The command whose output is the Windows resolver's `system` capture.
pub const PREFIX_POLICIES: &str = "netsh interface ipv6 show prefixpolicies";

fn ranges(proto: Proto, out: &[u8]) -> Option<Vec<PortRange>> {
    netsh::parse_excluded_ranges(out).map(|v| {
        v.into_iter()
            .map(|(start, end)| PortRange { proto, start, end })
            .collect()
    })
}

impl SystemView for WindowsSystem {
    fn sockets(&self, preference: SourcePreference) -> Result<SocketScan, SysError> {
        if preference != SourcePreference::Auto {
            return Err(SysError::Unsupported {
                what: "choosing netlink or /proc (Windows has the IP Helper tables only)",
            });
        }
        let mut tables = Vec::new();
        let mut warnings = Vec::new();
        for t in Table::ALL {
            match ffi::socket_table(t)
                .and_then(|b| iphlp::parse_table(t, &b).map_err(|e| e.to_string()))
            {
                Ok(rows) => tables.push((t, rows)),
                Err(e) => warnings.push(format!("the {e}")),
            }
        }
        if tables.is_empty() {
            return Err(SysError::Interfaces(format!(
                "no socket table could be read: {}",
                warnings.join("; ")
            )));
        }
        let sockets = sockets_from_tables(&tables);
        if !sockets.is_empty() && sockets.iter().all(|s| iphlp::pid_of_key(s.inode).is_none()) {
            warnings.push(
                "the socket tables name no owning process for any socket (Wine reports pid 0 \
                 for all)"
                    .into(),
            );
        }
        Ok(SocketScan {
            sockets,
            source: Some(SocketSourceKind::Iphelper),
            warnings,
        })
    }
    fn held_sockets(&self) -> crate::HeldScan {
        let mut scan = crate::HeldScan {
            unseen: crate::facts::windows::unseen_on_windows(),
            ..crate::HeldScan::default()
        };
        let mut tables = Vec::new();
        for t in [Table::Tcp4, Table::Tcp6] {
            match ffi::whole_tcp_table(t)
                .and_then(|b| iphlp::parse_table(t, &b).map_err(|e| e.to_string()))
            {
                Ok(rows) => tables.push((t, rows)),
                Err(e) => scan.unseen.push(format!(
                    "the whole {e}: its connections and TIME_WAIT cannot be seen"
                )),
            }
        }
        scan.sockets = crate::facts::windows::held_from_tables(&tables);
        scan
    }
    fn interfaces(&self) -> Result<Vec<Interface>, SysError> {
        if_addrs::get_if_addrs()
            .map(interfaces_from)
            .map_err(|e| SysError::Interfaces(e.to_string()))
    }
    fn ipv6_addresses(&self) -> Result<Vec<Inet6Addr>, SysError> {
        Err(SysError::Unsupported {
            what: "reading IPv6 address flags (glibc's model needs them; Windows is not modelled on glibc)",
        })
    }
    fn owners(&self, inodes: &HashSet<u64>) -> OwnerScan {
        match ffi::process_names() {
            Ok(names) => owners_from_keys(inodes, &names, ffi::process_user),
            Err(e) => OwnerScan {
                unavailable: Some(e),
                ..OwnerScan::default()
            },
        }
    }
    fn user_names(&self, _: &HashSet<u32>) -> HashMap<u32, String> {
        HashMap::new()
    }
    fn effective_uid(&self) -> u32 {
        u32::MAX
    }
    fn kernel_settings(&self, _: &[Interface]) -> KernelSettings {
        let mut k = KernelSettings {
            // Windows makes a new IPv6 socket IPv6-only unless it clears IPV6_V6ONLY.
            bindv6only: Some(true),
            ..KernelSettings::default()
        };
        match crate::command::run(
            "netsh",
            &["interface", "ipv4", "show", "dynamicport", "protocol=tcp"],
        ) {
            Ok(out) => match netsh::parse_dynamic_range(&out) {
                Some(r) => k.ephemeral_ports = Some(r),
                None => k
                    .unread
                    .push("the dynamic port range: netsh printed no range".into()),
            },
            Err(e) => k.unread.push(format!("the dynamic port range: {e}")),
        }
        let mut excluded = Vec::new();
        for (proto, name) in [(Proto::Tcp, "protocol=tcp"), (Proto::Udp, "protocol=udp")] {
            match crate::command::run(
                "netsh",
                &["interface", "ipv4", "show", "excludedportrange", name],
            ) {
                Ok(out) => match ranges(proto, &out) {
                    Some(r) => excluded.extend(r),
                    None => k.unread.push(format!(
                        "the excluded {proto} port ranges: netsh printed no table"
                    )),
                },
                Err(e) => k
                    .unread
                    .push(format!("the excluded {proto} port ranges: {e}")),
            }
        }
        if !k.unread.iter().any(|u| u.contains("excluded")) {
            k.excluded_ports = Some(excluded);
        }
        k
    }
    fn default_routes(&self) -> Result<DefaultRoutes, SysError> {
        Err(SysError::Unsupported {
            what: "reading routes",
        })
    }
    fn read_file(&self, path: &Path) -> Result<Vec<u8>, SysError> {
        crate::read_path(path)
    }
    fn read_process_file(&self, _: u32, _: &str) -> Result<Vec<u8>, SysError> {
        Err(SysError::Unsupported {
            what: "reading a file as another process sees it on Windows",
        })
    }
    fn proc_available(&self) -> Result<(), String> {
        Ok(())
    }
    fn firewall(&self) -> FirewallDump {
        let states: Vec<(&str, Result<Option<u32>, String>)> = PROFILES
            .iter()
            .map(|(name, local, policy)| {
                let state = match ffi::registry_dword(policy, "EnableFirewall") {
                    Ok(Some(v)) => Ok(Some(v)),
                    _ => ffi::registry_dword(local, "EnableFirewall"),
                };
                (*name, state)
            })
            .collect();
        firewall_from_profiles(&states)
    }
    fn resolver_config(&self) -> Option<Result<String, SysError>> {
        Some(
            crate::command::run("netsh", &["interface", "ipv6", "show", "prefixpolicies"])
                .map(|o| String::from_utf8_lossy(&o).into_owned())
                .map_err(|e| SysError::Refused {
                    path: PREFIX_POLICIES.into(),
                    reason: e.to_string(),
                }),
        )
    }
    fn route_source(&self, dest: IpAddr) -> Option<IpAddr> {
        crate::probe::source_address(dest)
    }
    fn namespaces(&self) -> NamespaceScan {
        crate::unsupported::no_namespaces()
    }
    fn current_netns(&self) -> Option<u64> {
        None
    }
    fn netns_inode(&self, _: &NetnsTarget) -> Result<u64, SysError> {
        crate::unsupported::no_netns()
    }
    fn in_netns(
        &self,
        _: &NetnsTarget,
        _: Option<u64>,
        _: &mut (dyn FnMut() + Send),
    ) -> Result<(), SysError> {
        crate::unsupported::no_netns()
    }
}
