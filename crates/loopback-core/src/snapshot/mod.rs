//! A [`Snapshot`] of one network namespace: everything a judgment reads, captured once through
//! [`loopback_sys::SystemView`] ([`capture`]), then judged by pure functions (`audit`,
//! `explain`, `resolve`, `doctor`'s configuration checks, `probe`'s diagnosis) as often as
//! needed, in this process or another (it serialises to JSON: `loopback snapshot`).
//!
//! Each part is captured only when asked for ([`Parts`]) and carries its own error, so a
//! judgment can say exactly what it could not see. A judgment that wants more asks for another
//! part; it never reaches for the system.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use loopback_model::{Interface, Os};
use loopback_sys::{
    DefaultRoutes, FirewallDump, Inet6Addr, KernelSettings, OwnerScan, SocketScan, SourcePreference,
};
use serde::{Deserialize, Serialize};

mod capture;
#[cfg(test)]
mod fixture;

pub use capture::{attach_owners, capture, extend, split_owners};
pub(crate) use capture::{owners_of, snapshot_inodes};

/// The version of the snapshot's JSON form (2 added `netns` and each process's `cgroup`;
/// version 1 files are still read, with those unknown).
pub const SNAPSHOT_VERSION: u32 = 2;

/// One captured part: captured, failed with a reason, or not asked for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Part<T> {
    /// Not asked for.
    #[default]
    NotCaptured,
    /// Read.
    Captured(T),
    /// Asked for, but could not be read: why.
    Failed(String),
}

impl<T> Part<T> {
    /// The value, or why there is none (`what` names the part in the message).
    pub fn get(&self, what: &str) -> Result<&T, MissingPart> {
        match self {
            Part::Captured(v) => Ok(v),
            Part::Failed(why) => Err(MissingPart {
                part: what.to_owned(),
                why: why.clone(),
            }),
            Part::NotCaptured => Err(MissingPart {
                part: what.to_owned(),
                why: "not captured".into(),
            }),
        }
    }

    /// The value if it was captured.
    pub fn ok(&self) -> Option<&T> {
        match self {
            Part::Captured(v) => Some(v),
            _ => None,
        }
    }

    /// Whether this part was asked for (captured or failed).
    pub fn is_requested(&self) -> bool {
        !matches!(self, Part::NotCaptured)
    }

    pub(crate) fn from_result<E: std::fmt::Display>(r: Result<T, E>) -> Self {
        match r {
            Ok(v) => Part::Captured(v),
            Err(e) => Part::Failed(e.to_string()),
        }
    }
}

/// A part a judgment needs is missing from the snapshot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{part}: {why}")]
pub struct MissingPart {
    /// Which part (`sockets`, `interfaces`, ...).
    pub part: String,
    /// Why it is missing: its capture error, or "not captured".
    pub why: String,
}

/// The owners of the captured sockets, with the names of their users.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owners {
    /// Who holds which socket.
    pub scan: OwnerScan,
    /// User names of the owners' effective uids, read at capture time.
    pub users: HashMap<u32, String>,
}

/// One host file as it was read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileCapture {
    /// Where it was read from.
    pub path: String,
    /// Its bytes, or why it could not be read.
    pub contents: Result<Vec<u8>, String>,
}

/// Where the resolver's configuration lives (`--hosts` and friends change it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolverPaths {
    /// The hosts file.
    pub hosts: String,
    /// `nsswitch.conf`.
    pub nsswitch: String,
    /// `gai.conf`.
    pub gai: String,
    /// Read the files as this process sees them (inside its root: a container's own
    /// `/etc/hosts`), rather than from this host's root.
    #[serde(default)]
    pub root_of: Option<u32>,
}

impl ResolverPaths {
    /// The default paths as the resolver of a network namespace's programs reads them: inside
    /// the root of process `pid` (`--netns PID`), or with the files `ip netns exec` puts over
    /// `/etc` for the namespace `name` (`/etc/netns/NAME/hosts` and friends, where they exist).
    pub fn for_namespace(
        pid: Option<u32>,
        name: Option<&str>,
        exists: impl Fn(&str) -> bool,
    ) -> Self {
        let mut paths = ResolverPaths {
            root_of: pid,
            ..ResolverPaths::default()
        };
        if let (None, Some(name)) = (pid, name) {
            for (file, slot) in [
                ("hosts", &mut paths.hosts),
                ("nsswitch.conf", &mut paths.nsswitch),
                ("gai.conf", &mut paths.gai),
            ] {
                let over = format!("/etc/netns/{name}/{file}");
                if exists(&over) {
                    *slot = over;
                }
            }
        }
        paths
    }

    /// Whether these are not the files this process's C library reads (so its answer cannot
    /// stand beside the model).
    pub fn redirected(&self) -> bool {
        let d = ResolverPaths::default();
        self.root_of.is_some()
            || self.hosts != d.hosts
            || self.nsswitch != d.nsswitch
            || self.gai != d.gai
    }
}

impl Default for ResolverPaths {
    /// This system's hosts file (`%SystemRoot%\\System32\\drivers\\etc\\hosts` on Windows) and
    /// glibc's `/etc` files.
    fn default() -> Self {
        ResolverPaths {
            hosts: loopback_sys::hosts_path(),
            nsswitch: "/etc/nsswitch.conf".into(),
            gai: "/etc/gai.conf".into(),
            root_of: None,
        }
    }
}

/// The files the C library's resolver reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolverFiles {
    /// The hosts file.
    pub hosts: FileCapture,
    /// `nsswitch.conf` (Linux only: elsewhere its contents say it was not read).
    pub nsswitch: FileCapture,
    /// `gai.conf` (Linux only, likewise).
    pub gai: FileCapture,
    /// What the system's own resolver says of itself, where that is not files a C library reads
    /// (macOS: `scutil --dns`; Windows: `netsh interface ipv6 show prefixpolicies`).
    #[serde(default)]
    pub system: Option<FileCapture>,
}

/// A configuration file as a process saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileRead {
    /// Its text (lossily decoded).
    Text(String),
    /// It does not exist (a packaged path is only a guess).
    Missing,
    /// It exists but was not read: why (not a regular file, too large, unreadable by the
    /// process owner, too slow).
    Refused(String),
}

/// The configuration files the services behind the sockets run with, read as each owning
/// process sees them: pid, then path.
pub type ServiceFiles = BTreeMap<u32, BTreeMap<String, FileRead>>;

/// Which parts to capture.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[allow(clippy::struct_excessive_bools)] // one switch per part
pub struct Parts {
    /// Listening and bound sockets.
    pub sockets: bool,
    /// Who holds them, with user names (needs `sockets`).
    pub owners: bool,
    /// The configuration files the services behind them run with (needs `owners`).
    pub service_files: bool,
    /// Interfaces and their addresses, with IPv6 address flags.
    pub interfaces: bool,
    /// The kernel settings (needs `interfaces` for the per-interface ones).
    pub kernel: bool,
    /// Default routes.
    pub routes: bool,
    /// The resolver's files.
    pub resolver: bool,
    /// The packet-filter ruleset.
    pub firewall: bool,
    /// The sockets that hold ports without listening: bound, connected, TIME_WAIT (`bind`,
    /// `audit --bound`).
    #[serde(default)]
    pub held: bool,
}

impl Parts {
    /// Every part.
    pub const ALL: Parts = Parts {
        sockets: true,
        owners: true,
        service_files: true,
        interfaces: true,
        kernel: true,
        routes: true,
        resolver: true,
        firewall: true,
        held: true,
    };
    /// What `audit` and the listener half of `explain`, `probe` and `resolve` judge.
    pub const LISTENERS: Parts = Parts {
        sockets: true,
        owners: true,
        service_files: true,
        interfaces: true,
        kernel: true,
        routes: false,
        resolver: false,
        firewall: false,
        held: false,
    };
    /// Interfaces and kernel settings only.
    pub const LINKS: Parts = Parts {
        sockets: false,
        owners: false,
        service_files: false,
        interfaces: true,
        kernel: true,
        routes: false,
        resolver: false,
        firewall: false,
        held: false,
    };

    /// Both sets of parts.
    pub fn with(self, o: Parts) -> Parts {
        Parts {
            sockets: self.sockets || o.sockets,
            owners: self.owners || o.owners,
            service_files: self.service_files || o.service_files,
            interfaces: self.interfaces || o.interfaces,
            kernel: self.kernel || o.kernel,
            routes: self.routes || o.routes,
            resolver: self.resolver || o.resolver,
            firewall: self.firewall || o.firewall,
            held: self.held || o.held,
        }
    }
}

/// What to capture and how.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The parts.
    pub parts: Parts,
    /// Where sockets are read from.
    pub source: SourcePreference,
    /// Where the resolver's files are.
    pub resolver_paths: ResolverPaths,
    /// Destinations whose route (source address) to look up.
    pub routes_to: Vec<IpAddr>,
    /// Ask the TCP listeners about the browser (`--http`): the four requests of
    /// [`crate::http`], answers kept in [`Snapshot::http`].
    #[serde(default)]
    pub http: Option<crate::http::HttpOptions>,
}

impl Request {
    /// A request for `parts` with the default source and paths.
    pub fn of(parts: Parts) -> Request {
        Request {
            parts,
            ..Request::default()
        }
    }
}

/// Everything captured of one network namespace.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// [`SNAPSHOT_VERSION`].
    pub version: u32,
    /// Listening TCP and bound UDP sockets.
    pub sockets: Part<SocketScan>,
    /// The sockets that hold ports without listening (their owners are in `owners` too).
    #[serde(default)]
    pub held: Part<loopback_sys::HeldScan>,
    /// Their owners.
    pub owners: Part<Owners>,
    /// The configuration files of the services behind them.
    pub service_files: Part<ServiceFiles>,
    /// Interfaces with their addresses.
    pub interfaces: Part<Vec<Interface>>,
    /// IPv6 addresses with their flags.
    pub ipv6_addresses: Part<Vec<Inet6Addr>>,
    /// Kernel settings.
    pub kernel: Part<KernelSettings>,
    /// Default routes.
    pub routes: Part<DefaultRoutes>,
    /// The route's source address for each destination asked about (`None`: unreachable).
    pub route_sources: BTreeMap<IpAddr, Option<IpAddr>>,
    /// The resolver's files.
    pub resolver: Part<ResolverFiles>,
    /// The packet-filter ruleset.
    pub firewall: Part<FirewallDump>,
    /// With `--http`: what each candidate TCP listener answered to the four requests.
    #[serde(default)]
    pub http: Part<crate::http::HttpCaptures>,
    /// Whether process information could be read, and why not.
    pub proc: Part<()>,
    /// The effective uid of the capturing process (owners are complete only for root).
    pub effective_uid: Option<u32>,
    /// The inode of the network namespace captured.
    #[serde(default)]
    pub netns: Option<u64>,
    /// The operating system it was captured on (`linux` for snapshots from before this field).
    #[serde(default)]
    pub os: Os,
}

impl Snapshot {
    /// The loopback interface's name (found by its flag, not its name), `lo` when unknown.
    pub fn loopback_name(&self) -> String {
        crate::scope::loopback_name(self.interfaces.ok().map_or(&[], Vec::as_slice))
    }

    /// The interfaces, or none.
    pub fn interface_list(&self) -> &[Interface] {
        self.interfaces.ok().map_or(&[], Vec::as_slice)
    }
}
