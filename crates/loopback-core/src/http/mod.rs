//! `audit --http` and `probe --http`: whether a web page in the user's browser can reach a
//! local HTTP server. Four requests per listener, sent while a snapshot is captured
//! ([`capture`]), and judged later from their bytes ([`judge()`]):
//!
//! - `GET /` with the listener's own `Host`: does it speak HTTP (or HTTP over TLS)?
//! - `GET /` with a foreign `Host` (a random name under `.invalid`, RFC 6761): a server that
//!   answers it can be read by a page that rebinds a name of its own to this address (DNS
//!   rebinding);
//! - a CORS preflight (`OPTIONS /`) from a foreign `Origin`, asking for `POST` and private
//!   network access;
//! - `GET /` with that `Origin`: `Access-Control-Allow-Origin: *`, or the `Origin` echoed, lets
//!   any page read the answers.
//!
//! Safe by construction: only `GET /` and `OPTIONS /`, no body, no cookie, no credential, no
//! redirect followed, one connection at a time per listener, each under its own deadline, at
//! most 64 KiB read; nothing at all unless asked.

mod answer;
mod capture;
mod judge;
mod request;
#[cfg(test)]
mod tests;

pub use answer::{head_complete, parse_answer};
pub use capture::{candidates, capture, capture_one, HttpCapture, HttpCaptures};
pub use judge::judge;
pub use request::{foreign_name, request};

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The deadline of each request when none is given (`--http-timeout`).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);

/// What `--http` asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpOptions {
    /// Every TCP listener (`--http-all`), not only those bound to loopback.
    pub all: bool,
    /// The deadline of each request.
    pub timeout: Duration,
    /// Only listeners on these ports (`--port`); every port when empty. The other filters
    /// need owners, which are not known yet when the requests are sent: they only choose
    /// what is shown.
    #[serde(default)]
    pub ports: Vec<u16>,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            all: false,
            timeout: DEFAULT_TIMEOUT,
            ports: Vec::new(),
        }
    }
}
