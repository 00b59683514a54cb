//! Placeholder for platforms without a backend (neither Linux, Windows nor macOS): every
//! socket-level input is an explicit `Unsupported` error rather than a guess. Host files are
//! read the portable way; live actions are the portable [`crate::SocketProber`]'s. The bench's
//! host half (CPU placement, lab namespaces) is Linux's alone, so every other system uses
//! [`UnsupportedBench`].

use crate::{NamespaceScan, SysError};

/// What every system but Linux answers when asked for its network namespaces: none, and why.
pub(crate) fn no_namespaces() -> NamespaceScan {
    NamespaceScan {
        namespaces: Vec::new(),
        warnings: vec!["network namespaces exist only on Linux".into()],
    }
}

/// What every system but Linux answers when asked to find or enter a network namespace.
pub(crate) fn no_netns<T>() -> Result<T, SysError> {
    Err(SysError::Unsupported {
        what: "network namespaces (Linux only)",
    })
}

#[cfg(not(any(windows, target_os = "macos")))]
pub(crate) use view::Unsupported;

#[cfg(not(any(windows, target_os = "macos")))]
mod view {
    use std::collections::{HashMap, HashSet};
    use std::path::Path;

    use loopback_model::Interface;

    use crate::{
        DefaultRoutes, FirewallDump, Inet6Addr, KernelSettings, NamespaceScan, NetnsTarget,
        OwnerScan, SocketScan, SourcePreference, SysError, SystemView,
    };

    pub(crate) struct Unsupported;

    impl SystemView for Unsupported {
        fn sockets(&self, _: SourcePreference) -> Result<SocketScan, SysError> {
            Err(SysError::Unsupported {
                what: "listing sockets",
            })
        }
        fn held_sockets(&self) -> crate::HeldScan {
            crate::HeldScan {
                sockets: Vec::new(),
                unseen: vec![
                    "sockets that hold ports without listening are not read on this platform"
                        .into(),
                ],
            }
        }
        fn interfaces(&self) -> Result<Vec<Interface>, SysError> {
            Err(SysError::Unsupported {
                what: "listing interfaces",
            })
        }
        fn ipv6_addresses(&self) -> Result<Vec<Inet6Addr>, SysError> {
            Err(SysError::Unsupported {
                what: "reading IPv6 address flags",
            })
        }
        fn owners(&self, _: &HashSet<u64>) -> OwnerScan {
            OwnerScan {
                unavailable: Some("socket owners are not read on this platform yet".into()),
                ..OwnerScan::default()
            }
        }
        fn user_names(&self, _: &HashSet<u32>) -> HashMap<u32, String> {
            HashMap::new()
        }
        fn effective_uid(&self) -> u32 {
            u32::MAX
        }
        fn kernel_settings(&self, _: &[Interface]) -> KernelSettings {
            KernelSettings::default()
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
                what: "reading a file as a process sees it",
            })
        }
        fn proc_available(&self) -> Result<(), String> {
            Err("process information is not read on this platform yet".into())
        }
        fn firewall(&self) -> FirewallDump {
            FirewallDump::default()
        }
        fn route_source(&self, dest: std::net::IpAddr) -> Option<std::net::IpAddr> {
            crate::probe::source_address(dest)
        }
        fn namespaces(&self) -> NamespaceScan {
            super::no_namespaces()
        }
        fn current_netns(&self) -> Option<u64> {
            None
        }
        fn netns_inode(&self, _: &NetnsTarget) -> Result<u64, SysError> {
            super::no_netns()
        }
        fn in_netns(
            &self,
            _: &NetnsTarget,
            _: Option<u64>,
            _: &mut (dyn FnMut() + Send),
        ) -> Result<(), SysError> {
            super::no_netns()
        }
    }
}

/// `loopback bench` without CPU placement, lab paths, routes or load figures: the portable
/// paths still run.
#[derive(Debug)]
pub(crate) struct UnsupportedBench;

impl crate::bench::BenchHost for UnsupportedBench {
    fn cpus(&self) -> Result<Vec<usize>, SysError> {
        Err(SysError::Unsupported {
            what: "listing this process's CPUs",
        })
    }
    fn pin(&self, _: usize) -> Result<(), SysError> {
        Err(SysError::Unsupported {
            what: "pinning a thread to a CPU",
        })
    }
    fn lab(&self, _: crate::bench::LabKind) -> Result<Box<dyn crate::bench::Lab>, SysError> {
        Err(SysError::Unsupported {
            what: "network namespaces",
        })
    }
    fn route_to(&self, _: std::net::IpAddr) -> Result<crate::bench::RouteTo, SysError> {
        Err(SysError::Unsupported {
            what: "reading a route",
        })
    }
    fn cpu_times(&self) -> Result<crate::bench::CpuTimes, SysError> {
        Err(SysError::Unsupported {
            what: "reading CPU times",
        })
    }
    fn load1(&self) -> Result<f64, SysError> {
        Err(SysError::Unsupported {
            what: "reading the load average",
        })
    }
}
