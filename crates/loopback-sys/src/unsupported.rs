//! Placeholder for platforms without a backend: every socket-level input is an explicit
//! `Unsupported` error rather than a guess.

use std::collections::HashSet;
use std::net::IpAddr;

use loopback_model::Interface;

use crate::{OwnerScan, SocketScan, SourcePreference, SysError, SystemView};

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
}
