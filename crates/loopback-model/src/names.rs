//! The `names` JSON documents: the loopback addresses and names `loopback names` keeps in a
//! managed block of the hosts file, and what each client makes of them (`names verify`).

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::codes::closed_set;

/// Version of the `names` JSON documents (add, remove, list and verify).
pub const NAMES_VERSION: u32 = 1;

/// One managed name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameEntry {
    /// The host name (lower case).
    pub name: String,
    /// Its loopback address.
    pub address: IpAddr,
}

closed_set! {
    /// How the hosts file was written.
    WriteMethod {
        /// A new file beside it, synced, renamed over it: a reader sees the old file or the
        /// new one.
        Rename = "rename",
        /// Rewritten in place, because a rename cannot replace it (a bind mount, a directory
        /// this user cannot write): not atomic.
        InPlace = "in-place",
    }
}

/// What `names add`, `names remove` and `names list` report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamesReport {
    /// The schema version (`docs/json.md`).
    pub version: u32,
    /// The hosts file, as given (or the system's).
    pub hosts_file: String,
    /// add: the name added (or already there); remove: the name removed; list: every managed
    /// name, in block order.
    pub names: Vec<NameEntry>,
    /// Whether the file was written.
    pub changed: bool,
    /// How it was written, when it was.
    #[serde(default)]
    pub write: Option<WriteMethod>,
    /// The file written, when it is not `hosts_file` (the target of a symbolic link).
    #[serde(default)]
    pub written_to: Option<String>,
    /// Commands still needed before the address works (macOS: `ifconfig lo0 alias`).
    #[serde(default)]
    pub plan: Vec<String>,
    /// Anything else worth knowing (a `.localhost` name, a line inside the block that is not
    /// a mapping).
    #[serde(default)]
    pub notes: Vec<String>,
}

closed_set! {
    /// A client whose answer `names verify` predicts.
    NameClient {
        /// glibc's `getaddrinfo` (Python, Node.js and most C programs ask it).
        Glibc = "glibc",
        /// The system's resolver where it is not glibc (Windows, macOS).
        System = "system",
        /// curl.
        Curl = "curl",
        /// CPython's `socket.getaddrinfo` (urllib, requests).
        Python = "python",
        /// Go's `net` package.
        Go = "go",
        /// Node.js's `dns.lookup`.
        Node = "node",
        /// Chromium and Google Chrome.
        Chromium = "chromium",
        /// Firefox.
        Firefox = "firefox",
    }
}

/// What one client would get for a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientAnswer {
    /// The client.
    pub client: NameClient,
    /// The addresses it would try, in order (empty: not predicted).
    pub addresses: Vec<IpAddr>,
    /// Whether the first address it tries is the planned one.
    pub agrees: bool,
    /// Why: which source answers, and on what evidence.
    pub because: String,
    /// Whether the prediction was checked against the real program (false: a hypothesis from
    /// its documentation).
    pub tested: bool,
}

closed_set! {
    /// What `names verify` found about a name.
    NameFindingCode {
        /// A client disagrees with the plan.
        ClientDisagrees = "client-disagrees",
        /// A `*.localhost` name planned on an address other than 127.0.0.1 or ::1: RFC 6761
        /// clients answer it with 127.0.0.1 and ::1 themselves.
        LocalhostName = "localhost-name",
        /// The address is not assigned to a loopback interface (macOS: no `lo0` alias).
        NotAssigned = "not-assigned",
        /// A line outside the managed block maps the name too.
        MappedOutside = "mapped-outside",
    }
}

/// One finding of `names verify`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameFinding {
    /// The code scripts match on.
    pub code: NameFindingCode,
    /// What it means.
    pub message: String,
    /// What to do.
    pub fix: Option<String>,
}

/// One name as `names verify` sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NameCheck {
    /// The name.
    pub name: String,
    /// The planned address (the managed block's).
    pub address: IpAddr,
    /// Whether the address is assigned to a loopback interface (None: the interfaces could
    /// not be read).
    pub assigned: Option<bool>,
    /// Each client's answer.
    pub clients: Vec<ClientAnswer>,
    /// What it means.
    pub findings: Vec<NameFinding>,
}

/// What `names verify` reports.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamesVerifyReport {
    /// The schema version (`docs/json.md`).
    pub version: u32,
    /// The hosts file read.
    pub hosts_file: String,
    /// Each name verified.
    pub names: Vec<NameCheck>,
    /// Anything else worth knowing (the clients read another hosts file than the one given).
    #[serde(default)]
    pub notes: Vec<String>,
}

impl NamesVerifyReport {
    /// Whether a name has a finding (exit 1).
    pub fn needs_attention(&self) -> bool {
        self.names.iter().any(|n| !n.findings.is_empty())
    }
}
