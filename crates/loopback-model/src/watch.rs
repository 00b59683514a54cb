//! The events of `loopback audit --watch` (`docs/json.md`, watch version 1): one per change
//! between two audits of the same scope.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::{ExposureState, Proto, PublicationDiagnosis, Verdict};

/// The version of a watch event's JSON form.
pub const WATCH_VERSION: u32 = 1;

crate::codes::closed_set! {
    /// What changed.
    ChangeKind {
        /// A listening TCP or bound UDP socket appeared.
        ListenerAdded = "listener-added",
        /// A listener is no longer there.
        ListenerGone = "listener-gone",
        /// A listener's verdict or exposure state changed (a policy, a firewall rule, an
        /// uplink, a new address).
        ExposureChanged = "exposure-changed",
        /// A published port appeared.
        PublicationAdded = "publication-added",
        /// A published port is no longer there.
        PublicationGone = "publication-gone",
        /// A published port's target or diagnosis changed.
        PublicationChanged = "publication-changed",
    }
}

/// The judged state of a listener or a publication, before or after a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchState {
    /// A listener's verdict.
    pub verdict: Option<Verdict>,
    /// A listener's exposure state.
    pub exposure: Option<ExposureState>,
    /// A publication's diagnosis.
    pub diagnosis: Option<PublicationDiagnosis>,
    /// A publication's target, `ADDR:PORT`.
    pub target: Option<String>,
}

/// One change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WatchEvent {
    /// [`WATCH_VERSION`].
    pub version: u32,
    /// When the audit that saw it was captured (RFC 3339, UTC, milliseconds).
    pub time: String,
    /// What changed.
    pub event: ChangeKind,
    /// The network namespace's inode.
    pub netns: u64,
    /// The namespace for people: its container, its name, or "this namespace".
    pub namespace: String,
    /// TCP or UDP.
    pub proto: Proto,
    /// The bound (or published) address.
    pub address: IpAddr,
    /// The bound (or published) port.
    pub port: u16,
    /// A listener's `SO_BINDTODEVICE` device.
    pub interface: Option<String>,
    /// The owning processes' names (listeners) or the forwarder (publications).
    pub processes: Vec<String>,
    /// The state before (absent for an addition).
    pub before: Option<WatchState>,
    /// The state after (absent for a removal).
    pub after: Option<WatchState>,
}
