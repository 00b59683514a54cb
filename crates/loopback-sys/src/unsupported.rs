//! Placeholder for platforms without a backend: every socket-level input is an explicit
//! `Unsupported` error rather than a guess.

use std::collections::HashSet;
use std::net::IpAddr;

use loopback_model::Interface;

use std::time::Duration;

use crate::{
    FirewallDump, OwnerScan, ProbeOutcome, SocketScan, SourcePreference, SysError, SystemView,
};

pub(crate) struct Unsupported;

impl SystemView for Unsupported {
    fn sockets(&self, _: SourcePreference) -> Result<SocketScan, SysError> {
        Err(SysError::Unsupported {
            what: "listing sockets",
        })
    }
    fn interfaces(&self) -> Result<Vec<Interface>, SysError> {
        Err(SysError::Unsupported {
            what: "listing interfaces",
        })
    }
    fn owners(&self, _: &HashSet<u64>) -> OwnerScan {
        OwnerScan::default()
    }
    fn sysctl(&self, _: &str) -> Option<String> {
        None
    }
    fn user_name(&self, _: u32) -> Option<String> {
        None
    }
    fn effective_uid(&self) -> u32 {
        u32::MAX
    }
    fn resolve(&self, host: &str) -> Result<Vec<IpAddr>, SysError> {
        crate::resolve_with_libc(host)
    }
    fn read_file(&self, path: &str) -> Result<Vec<u8>, SysError> {
        crate::read_path(path)
    }
    fn read_process_file(&self, _: u32, _: &str) -> Result<Vec<u8>, SysError> {
        Err(SysError::Unsupported {
            what: "reading a file as a process sees it",
        })
    }
    fn proc_available(&self) -> Result<(), String> {
        Err("this platform has no /proc".into())
    }
    fn icmp_echo(&self, _: IpAddr, _: Duration) -> ProbeOutcome {
        ProbeOutcome::Unavailable {
            reason: "ICMP echo is not implemented on this platform yet".into(),
        }
    }
    fn tcp_round_trip(&self, addr: IpAddr, timeout: Duration) -> ProbeOutcome {
        crate::probe::tcp_round_trip(addr, timeout)
    }
    fn udp_round_trip(&self, addr: IpAddr, timeout: Duration) -> ProbeOutcome {
        crate::probe::udp_round_trip(addr, timeout)
    }
    fn tcp_connect(&self, addr: std::net::SocketAddr, timeout: Duration) -> ProbeOutcome {
        crate::probe::tcp_connect(addr, timeout)
    }
    fn getaddrinfo(
        &self,
        name: &str,
        family: crate::QueryFamily,
        addrconfig: bool,
    ) -> Result<Vec<IpAddr>, String> {
        crate::libc_getaddrinfo(name, family, addrconfig)
    }

    fn source_address(&self, dest: IpAddr) -> Option<IpAddr> {
        crate::probe::source_address(dest)
    }

    fn http_get(
        &self,
        addr: std::net::SocketAddr,
        host: &str,
        timeout: Duration,
    ) -> (ProbeOutcome, crate::probe::HttpReply) {
        crate::probe::http_get(addr, host, timeout)
    }

    fn udp_probe(&self, addr: std::net::SocketAddr, timeout: Duration) -> ProbeOutcome {
        crate::probe::udp_probe(addr, timeout)
    }

    fn firewall(&self) -> FirewallDump {
        FirewallDump::default()
    }
}
