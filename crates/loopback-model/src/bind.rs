//! The `bind` JSON document: whether a server could bind an address and port, and if not, why,
//! who holds it and what to do.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::codes::closed_set;
use crate::{Container, Proto};

/// Version of the `bind` JSON document.
pub const BIND_VERSION: u32 = 1;

closed_set! {
    /// What a socket that holds a port is doing.
    HolderState {
        /// A listening TCP socket, or a bound unconnected UDP socket.
        Listen = "listen",
        /// A TCP socket bound to the port and neither listening nor connected.
        Bound = "bound",
        /// A TCP connection that has closed and waits out TIME_WAIT; the kernel holds it, no
        /// process does.
        TimeWait = "time-wait",
        /// A connected socket (an outgoing or accepted connection, a connected UDP socket)
        /// whose local port is the port.
        Connected = "connected",
    }
}

closed_set! {
    /// Why a bind failed (`docs/json.md`).
    BindCause {
        /// A socket listens on the same address and port.
        Listener = "listener",
        /// A socket listens on the family's wildcard address (`0.0.0.0`, `::`), which covers
        /// the address asked for.
        WildcardListener = "wildcard-listener",
        /// A dual-stack `[::]` socket (not IPv6-only) covers the IPv4 address asked for.
        DualStackListener = "dual-stack-listener",
        /// A socket is bound to the port without listening (or holds it for a connection).
        BoundNotListening = "bound-not-listening",
        /// A closed connection in TIME_WAIT still holds the port.
        TimeWait = "time-wait",
        /// A SO_REUSEPORT group of another user holds the port.
        ReuseportOtherUser = "reuseport-other-user",
        /// The port is below the first port an unprivileged process may bind.
        PrivilegedPort = "privileged-port",
        /// The address is not one of this host's (network namespace's).
        AddressNotLocal = "address-not-local",
        /// IPv6 is disabled on the loopback interface, or in the kernel.
        Ipv6Disabled = "ipv6-disabled",
        /// A container runtime publishes the port (its forwarder holds it).
        Publication = "publication",
        /// The system keeps the port from every server (Windows' excluded port ranges).
        ExcludedPort = "excluded-port",
        /// The bind failed and no holder or setting that explains it was found.
        Unknown = "unknown",
    }
}

/// A process holding a socket, as `bind` names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HolderOwner {
    /// Process id.
    pub pid: u32,
    /// Its short name.
    pub name: String,
    /// Its user's name (the numeric uid when no name is known).
    pub user: Option<String>,
    /// Its command line, with secrets redacted.
    #[serde(default)]
    pub cmdline: String,
    /// The systemd unit it runs in.
    #[serde(default)]
    pub unit: Option<String>,
    /// `unit` belongs to the user's own service manager (`systemctl --user`).
    #[serde(default)]
    pub user_unit: bool,
}

/// A socket that holds the port (or a port near it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindHolder {
    /// The address it is bound to.
    pub address: IpAddr,
    /// Its port.
    pub port: u16,
    /// TCP or UDP.
    pub proto: Proto,
    /// What it is doing.
    pub state: HolderState,
    /// `IPV6_V6ONLY` of an IPv6 socket, when known.
    #[serde(default)]
    pub v6only: Option<bool>,
    /// The socket's owner uid as the kernel records it.
    #[serde(default)]
    pub uid: Option<u32>,
    /// The far end of a connection.
    #[serde(default)]
    pub remote: Option<std::net::SocketAddr>,
    /// The processes holding it (none for TIME_WAIT, which the kernel holds).
    pub owners: Vec<HolderOwner>,
    /// The network namespace it lives in (its inode), when known.
    #[serde(default)]
    pub netns: Option<u64>,
    /// The container whose namespace or control group it is in.
    #[serde(default)]
    pub container: Option<Container>,
    /// The container a runtime's forwarder publishes this port for, with where it forwards.
    #[serde(default)]
    pub publishes: Option<String>,
}

/// One address tried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindResult {
    /// The address.
    pub address: IpAddr,
    /// The port.
    pub port: u16,
    /// The bind succeeded.
    pub ok: bool,
    /// The error's name as the system gave it (`EADDRINUSE`; `WSAEADDRINUSE` on Windows);
    /// `null` when the bind succeeded.
    pub errno: Option<String>,
    /// Why it failed; `null` when it succeeded.
    pub cause: Option<BindCause>,
    /// The sockets that conflict with the bind asked for (when it failed), or that hold the
    /// port without conflicting with it (when it succeeded).
    pub holders: Vec<BindHolder>,
    /// What to do, when something can be done.
    pub fix: Option<String>,
    /// The nearest ports that no socket holds on any address, outside the ephemeral range
    /// (when the bind failed for a reason another port avoids).
    pub free_ports: Vec<u16>,
    /// What this result rests on, and what could not be seen.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// The `bind` JSON document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindReport {
    /// [`BIND_VERSION`].
    pub version: u32,
    /// TCP or UDP.
    pub proto: Proto,
    /// The socket options the binds were made with.
    pub options: BindOptions,
    /// One per address tried, in the order tried.
    pub results: Vec<BindResult>,
    /// What could not be read, and what a success does not promise.
    pub warnings: Vec<String>,
}

impl BindReport {
    /// Some address would not bind.
    pub fn needs_attention(&self) -> bool {
        self.results.iter().any(|r| !r.ok)
    }
}

/// The options a bind is tried with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindOptions {
    /// `SO_REUSEADDR`.
    pub reuseaddr: bool,
    /// `SO_REUSEPORT`.
    pub reuseport: bool,
    /// `IPV6_V6ONLY` for IPv6 addresses: `Some` when asked for, `None` for the system's
    /// default.
    pub v6only: Option<bool>,
}
