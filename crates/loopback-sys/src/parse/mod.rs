//! Parsers that take bytes. The code that reads files and sockets wraps them.

pub mod bpftool;
pub mod cpu;
pub mod gai;
pub mod hosts;
pub mod if_inet6;
pub mod iphlp;
#[cfg(target_os = "linux")]
pub mod links;
pub mod macos;
pub mod mountinfo;
#[cfg(target_os = "linux")]
pub mod netlink;
pub mod netsh;
pub mod nsswitch;
#[cfg(target_os = "linux")]
pub mod policy;
pub mod procfs;
pub mod procnet;
pub mod route;
#[cfg(target_os = "linux")]
pub mod sock_diag;

/// Kernel TCP state numbers (`include/net/tcp_states.h`).
pub const TCP_LISTEN: u8 = 10;
/// Unconnected UDP sockets report `TCP_CLOSE`.
pub const TCP_CLOSE: u8 = 7;
