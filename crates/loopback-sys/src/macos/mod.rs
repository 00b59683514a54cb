//! The macOS backend: every process's socket descriptors through `libproc`
//! (`proc_pidfdinfo`, the way `lsof` sees them; the trait asks for sockets and owners apart, so
//! the walk is made once for each, as Linux reads sockets and then `/proc`), `lo0`
//! and its aliases from `getifaddrs(3)`, the port range and `v6only` default from `sysctl`, the
//! default routes from `route -n get`, pf (`pfctl -s info`, root) and the application
//! firewall, and the resolver as the system has it (`scutil --dns`).
//!
//! Only processes this user may inspect are seen: as a normal user, other users' sockets are
//! missing, and a warning says so. Compile-checked and tested on recorded inputs (the parsers
//! and `facts::macos`); not run on a Mac by this project's suite.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::path::Path;

use libproc::libproc::bsd_info::BSDInfo;
use libproc::libproc::proc_pid::pidinfo;
use libproc::processes::{pids_by_type, ProcFilter};
use loopback_model::{Interface, InterfaceAddress, SocketSourceKind};

use crate::facts::macos::{firewall_from, kernel_from_sysctl, socket_of, SocketRecord};
use crate::parse::macos::{parse_app_firewall, parse_pf_status, parse_route_interface};
use crate::{
    DefaultRoutes, FirewallDump, Inet6Addr, KernelSettings, NamespaceScan, NetnsTarget, OwnerScan,
    ProcessInfo, SocketScan, SourcePreference, SysError, SystemView,
};

mod ffi;

/// The macOS implementation of [`SystemView`]; it holds nothing.
#[derive(Debug, Default)]
pub struct MacSystem;

impl MacSystem {
    /// The backend.
    pub fn new() -> Self {
        MacSystem
    }
}

/// Every process's Internet socket records, and how many processes could not be read.
fn walk() -> Result<(Vec<(u32, SocketRecord)>, usize), SysError> {
    let pids = pids_by_type(ProcFilter::All)
        .map_err(|e| SysError::Interfaces(format!("listing processes: {e}")))?;
    let mut out = Vec::new();
    let mut unreadable = 0;
    for pid in pids {
        let Ok(p) = i32::try_from(pid) else { continue };
        if p == 0 {
            continue;
        }
        match ffi::socket_records(p) {
            Ok(records) => out.extend(records.into_iter().map(|r| (pid, r))),
            Err(_) => unreadable += 1,
        }
    }
    Ok((out, unreadable))
}

fn c_name(raw: &[std::ffi::c_char]) -> String {
    let bytes: Vec<u8> = raw
        .iter()
        .take_while(|c| **c != 0)
        .map(|c| c.to_ne_bytes()[0])
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

fn process(pid: u32) -> ProcessInfo {
    let info = i32::try_from(pid)
        .ok()
        .and_then(|p| pidinfo::<BSDInfo>(p, 0).ok());
    ProcessInfo {
        pid,
        comm: info
            .as_ref()
            .map_or_else(|| format!("pid {pid}"), |i| c_name(&i.pbi_comm)),
        euid: info.as_ref().map(|i| i.pbi_uid),
        argv: Vec::new(),
        cgroup: None,
        user: None,
    }
}

fn run_text(program: &str, args: &[&str]) -> Result<Vec<u8>, String> {
    crate::command::run(program, args).map_err(|e| e.to_string())
}

impl SystemView for MacSystem {
    fn sockets(&self, preference: SourcePreference) -> Result<SocketScan, SysError> {
        if preference != SourcePreference::Auto {
            return Err(SysError::Unsupported {
                what: "choosing netlink or /proc (macOS has libproc only)",
            });
        }
        let (records, unreadable) = walk()?;
        let mut seen = HashSet::new();
        let sockets = records
            .iter()
            .filter_map(|(_, r)| socket_of(r))
            .filter(|s| seen.insert(s.inode))
            .collect();
        let mut warnings = Vec::new();
        if unreadable > 0 && nix::unistd::geteuid().as_raw() != 0 {
            warnings.push(format!(
                "the descriptors of {unreadable} processes could not be read, so their sockets \
                 are missing: run as root (sudo) to see every socket"
            ));
        }
        Ok(SocketScan {
            sockets,
            source: Some(SocketSourceKind::Libproc),
            warnings,
        })
    }
    fn held_sockets(&self) -> crate::HeldScan {
        let mut scan = crate::HeldScan {
            unseen: crate::facts::macos::unseen_on_macos(),
            ..crate::HeldScan::default()
        };
        match walk() {
            Ok((records, _)) => {
                let mut seen = HashSet::new();
                scan.sockets = records
                    .iter()
                    .filter_map(|(_, r)| crate::facts::macos::held_of(r))
                    .filter(|h| seen.insert(h.socket.inode))
                    .collect();
            }
            Err(e) => scan.unseen.push(format!(
                "{e}: no socket that holds a port without listening can be seen"
            )),
        }
        scan
    }
    fn interfaces(&self) -> Result<Vec<Interface>, SysError> {
        let addrs = nix::ifaddrs::getifaddrs().map_err(|e| SysError::Interfaces(e.to_string()))?;
        let mut by: BTreeMap<String, Interface> = BTreeMap::new();
        for a in addrs {
            let flags = a.flags;
            let entry = by
                .entry(a.interface_name.clone())
                .or_insert_with(|| Interface {
                    index: nix::net::if_::if_nametoindex(a.interface_name.as_str()).unwrap_or(0),
                    name: a.interface_name.clone(),
                    up: flags.contains(nix::net::if_::InterfaceFlags::IFF_UP),
                    loopback: flags.contains(nix::net::if_::InterfaceFlags::IFF_LOOPBACK),
                    addresses: Vec::new(),
                    kind: None,
                    master: None,
                    peer_elsewhere: false,
                });
            let ip = a.address.as_ref().and_then(|s| {
                s.as_sockaddr_in()
                    .map(|v4| IpAddr::V4(v4.ip()))
                    .or_else(|| s.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip())))
            });
            let prefix = a.netmask.as_ref().and_then(|m| {
                m.as_sockaddr_in()
                    .map(|v4| u32::from(v4.ip()).count_ones())
                    .or_else(|| {
                        m.as_sockaddr_in6()
                            .map(|v6| u128::from(v6.ip()).count_ones())
                    })
            });
            if let Some(address) = ip {
                let max = if address.is_ipv4() { 32 } else { 128 };
                entry.addresses.push(InterfaceAddress {
                    address,
                    prefix_len: prefix.map_or(max, |p| u8::try_from(p).unwrap_or(max)),
                });
            }
        }
        Ok(by.into_values().collect())
    }
    fn ipv6_addresses(&self) -> Result<Vec<Inet6Addr>, SysError> {
        Err(SysError::Unsupported {
            what: "reading IPv6 address flags (glibc's model needs them; macOS is not modelled on glibc)",
        })
    }
    fn owners(&self, inodes: &HashSet<u64>) -> OwnerScan {
        let (records, unreadable) = match walk() {
            Ok(w) => w,
            Err(e) => {
                return OwnerScan {
                    unavailable: Some(e.to_string()),
                    ..OwnerScan::default()
                }
            }
        };
        let mut scan = OwnerScan {
            unreadable,
            ..OwnerScan::default()
        };
        for (pid, r) in records {
            if !inodes.contains(&r.so) {
                continue;
            }
            let pids = scan.holders.entry(r.so).or_default();
            if !pids.contains(&pid) {
                pids.push(pid);
                pids.sort_unstable();
            }
            scan.processes.entry(pid).or_insert_with(|| process(pid));
        }
        scan
    }
    fn user_names(&self, uids: &HashSet<u32>) -> HashMap<u32, String> {
        uids.iter()
            .filter_map(|u| {
                let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(*u)).ok()??;
                Some((*u, user.name))
            })
            .collect()
    }
    fn effective_uid(&self) -> u32 {
        nix::unistd::geteuid().as_raw()
    }
    fn kernel_settings(&self, _: &[Interface]) -> KernelSettings {
        let keys = [
            "net.inet.ip.portrange.first",
            "net.inet.ip.portrange.last",
            "net.inet6.ip6.v6only",
        ];
        let mut args = vec!["-n"];
        args.extend(keys);
        match run_text("/usr/sbin/sysctl", &args) {
            Ok(out) => kernel_from_sysctl(&out),
            Err(e) => KernelSettings {
                unread: vec![format!("sysctl: {e}")],
                ..KernelSettings::default()
            },
        }
    }
    fn default_routes(&self) -> Result<DefaultRoutes, SysError> {
        let mut routes = DefaultRoutes::default();
        if let Ok(out) = run_text("/sbin/route", &["-n", "get", "default"]) {
            routes.ipv4.extend(parse_route_interface(&out));
        }
        if let Ok(out) = run_text("/sbin/route", &["-n", "get", "-inet6", "default"]) {
            routes.ipv6.extend(parse_route_interface(&out));
        }
        Ok(routes)
    }
    fn read_file(&self, path: &Path) -> Result<Vec<u8>, SysError> {
        crate::read_path(path)
    }
    fn read_process_file(&self, _: u32, _: &str) -> Result<Vec<u8>, SysError> {
        Err(SysError::Unsupported {
            what: "reading a file as another process sees it on macOS",
        })
    }
    fn proc_available(&self) -> Result<(), String> {
        Ok(())
    }
    fn firewall(&self) -> FirewallDump {
        let pf = if nix::unistd::geteuid().as_raw() == 0 {
            run_text("/sbin/pfctl", &["-s", "info"]).and_then(|o| {
                parse_pf_status(&o).ok_or_else(|| "pfctl -s info printed no status".to_owned())
            })
        } else {
            Err("pfctl -s info needs root: run as root (sudo) to read pf's state".to_owned())
        };
        let app = run_text(
            "/usr/libexec/ApplicationFirewall/socketfilterfw",
            &["--getglobalstate"],
        )
        .and_then(|o| parse_app_firewall(&o).ok_or_else(|| "no state printed".to_owned()));
        firewall_from(pf, app)
    }
    fn route_source(&self, dest: IpAddr) -> Option<IpAddr> {
        crate::probe::source_address(dest)
    }
    fn resolver_config(&self) -> Option<Result<String, SysError>> {
        Some(
            run_text("/usr/sbin/scutil", &["--dns"])
                .map(|o| String::from_utf8_lossy(&o).into_owned())
                .map_err(|e| SysError::Refused {
                    path: "scutil --dns".into(),
                    reason: e,
                }),
        )
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
