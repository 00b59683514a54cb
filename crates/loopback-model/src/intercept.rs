//! The `intercept` JSON document: where a local TCP connection really goes.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::bind::HolderOwner;
use crate::codes::closed_set;

/// Version of the `intercept` JSON document.
pub const INTERCEPT_VERSION: u32 = 1;

closed_set! {
    /// Where a path ends up, against what was asked.
    PathVerdict {
        /// To the address and port asked, by the main routing table.
        Direct = "direct",
        /// NAT handed the connection to another address or port.
        Redirected = "redirected",
        /// A policy rule other than the default ones chose the route.
        Tunneled = "tunneled",
        /// A rule that decides could not be read or is not modelled: not claimed direct.
        Unknown = "unknown",
    }
}

closed_set! {
    /// What a step of a path is.
    InterceptStepKind {
        /// A rule set the packet's mark.
        Mark = "mark",
        /// The routing decision (and the policy rule that chose the table).
        Route = "route",
        /// Destination NAT (REDIRECT, DNAT) in the output hook.
        Nat = "nat",
        /// Transparent proxying (TPROXY).
        Tproxy = "tproxy",
        /// A BPF program that may rewrite the destination.
        Bpf = "bpf",
        /// Proxy variables in running processes' environments (mechanisms only).
        Proxy = "proxy",
    }
}

/// The client whose connection is traced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterceptClient {
    /// Its uid (the socket owner the rules match).
    pub uid: Option<u32>,
    /// Its user's name.
    pub user: Option<String>,
    /// The process, with `--pid`.
    pub pid: Option<u32>,
    /// Its control group, with `--pid`.
    pub cgroup: Option<String>,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterceptStep {
    /// What it is.
    pub kind: InterceptStepKind,
    /// The rule, as its tool prints it (with `handle N` for nft, the table and chain).
    pub rule: String,
    /// What it did: the mark set, the table and device, the new destination.
    pub to: String,
}

/// The local socket that receives the connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterceptReach {
    /// The address it ends at.
    pub address: IpAddr,
    /// The port.
    pub port: u16,
    /// A listener accepts it.
    pub listening: bool,
    /// Its owners.
    pub owners: Vec<HolderOwner>,
}

/// What a client program does with the proxy environment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyChoice {
    /// `curl`, `python-requests`.
    pub client: String,
    /// The proxy it sends the request to; null: straight to the address.
    pub proxy: Option<String>,
    /// Why: the variable it read, the `NO_PROXY` entry that matched.
    pub because: String,
}

/// One address of the destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterceptPath {
    /// The address asked for.
    pub address: IpAddr,
    /// The port asked for.
    pub port: u16,
    /// The verdict.
    pub verdict: PathVerdict,
    /// The interface the packet leaves by.
    pub interface: Option<String>,
    /// In the order the kernel applies them.
    pub steps: Vec<InterceptStep>,
    /// The local socket that receives it, when it ends on this host.
    pub reaches: Option<InterceptReach>,
    /// What each client profile does with the proxy environment (http(s) only).
    pub proxy: Vec<ProxyChoice>,
    /// Why the verdict is unknown, what could not be read.
    pub notes: Vec<String>,
}

/// A mechanism on the host that diverts local traffic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mechanism {
    /// `nat`, `mark`, `route`.
    pub kind: InterceptStepKind,
    /// The rule as its tool prints it.
    pub rule: String,
    /// Where it is (`nft inet clash output`, `iptables nat OUTPUT`, `ip rule`).
    pub origin: String,
    /// What it does to what it matches.
    pub to: String,
}

/// The `intercept` JSON document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InterceptReport {
    /// [`INTERCEPT_VERSION`].
    pub version: u32,
    /// The destination as given (empty without one).
    pub target: String,
    /// The client traced.
    pub client: InterceptClient,
    /// One per address of the destination.
    pub paths: Vec<InterceptPath>,
    /// Every mechanism on the host that diverts local traffic.
    pub mechanisms: Vec<Mechanism>,
    /// What could not be read.
    pub warnings: Vec<String>,
}

impl InterceptReport {
    /// Some path is not direct (or not known to be), or a client profile uses a proxy; without
    /// a destination, some mechanism diverts traffic.
    pub fn needs_attention(&self) -> bool {
        if self.paths.is_empty() {
            return !self.mechanisms.is_empty();
        }
        self.paths
            .iter()
            .any(|p| p.verdict != PathVerdict::Direct || p.proxy.iter().any(|c| c.proxy.is_some()))
    }
}
