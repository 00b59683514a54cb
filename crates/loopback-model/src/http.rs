//! What `audit --http` and `probe --http` find out about a local HTTP server: whether a web page
//! in the user's browser can reach it, by DNS rebinding (a foreign `Host` accepted) or by
//! cross-origin requests (CORS that allows any origin).

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

use crate::codes::closed_set;

closed_set! {
    /// One of the four requests sent.
    HttpRequestKind {
        /// `GET /` with `Host: ADDRESS:PORT`.
        Plain = "plain",
        /// `GET /` with a foreign `Host` (a random name under `.invalid`).
        ForeignHost = "foreign-host",
        /// `OPTIONS /`: a CORS preflight from a foreign `Origin`, asking for `POST` and private
        /// network access.
        Preflight = "preflight",
        /// `GET /` with that foreign `Origin`.
        Origin = "origin",
    }
}

closed_set! {
    /// How the server was spoken to.
    HttpTransport {
        /// HTTP over plain TCP.
        Plain = "plain",
        /// TLS (the certificate not checked).
        Tls = "tls",
    }
}

closed_set! {
    /// What the server did with a foreign `Host`.
    ForeignHost {
        /// A 2xx or 3xx answer: a page that rebinds a name of its own to this address reads it.
        Accepted = "accepted",
        /// A 4xx or 5xx answer (400, 403, 421...) where the plain request got another status.
        Rejected = "rejected",
        /// The same 4xx or 5xx status as the plain request: `/` itself is refused, so whether
        /// the server checks `Host` cannot be seen from `/`.
        Inconclusive = "inconclusive",
        /// No HTTP answer within the deadline, or the connection closed without one.
        NoAnswer = "no-answer",
    }
}

closed_set! {
    /// What `Access-Control-Allow-Origin` said to a foreign `Origin`.
    Cors {
        /// Nothing that lets the foreign origin read (absent, `null`, another origin).
        None = "none",
        /// `*`: any page reads it (without the user's cookies).
        Wildcard = "wildcard",
        /// The foreign origin echoed back: any page reads it, with the user's cookies when
        /// `credentials` is true.
        ReflectsOrigin = "reflects-origin",
    }
}

closed_set! {
    /// What the CORS preflight got.
    Preflight {
        /// A 2xx answer that allows the foreign origin and `POST`: a page may send requests
        /// with JSON bodies and custom headers.
        Allowed = "allowed",
        /// Any other answer.
        Refused = "refused",
        /// No HTTP answer.
        NoAnswer = "no-answer",
    }
}

closed_set! {
    /// A finding about a local HTTP server.
    HttpFindingCode {
        /// It answers requests for a foreign host name: DNS rebinding reaches it.
        Rebindable = "rebindable",
        /// It lets any origin read its answers (`*`, or the `Origin` echoed back).
        CrossOriginReadable = "cross-origin-readable",
    }
}

/// One request and what it got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpAnswer {
    /// Which request.
    pub request: HttpRequestKind,
    /// Its `Host` header.
    pub host: String,
    /// Its `Origin` header, for `preflight` and `origin`.
    pub origin: Option<String>,
    /// The status code, when an HTTP answer came.
    pub status: Option<u16>,
    /// The status line as sent (at most 256 bytes).
    pub status_line: Option<String>,
    /// `Access-Control-Allow-Origin`.
    pub allow_origin: Option<String>,
    /// `Access-Control-Allow-Credentials`.
    pub allow_credentials: Option<String>,
    /// `Access-Control-Allow-Methods`.
    pub allow_methods: Option<String>,
    /// `Access-Control-Allow-Private-Network`.
    pub allow_private_network: Option<String>,
    /// `Location`, for a redirect (never followed).
    pub location: Option<String>,
    /// `Server`.
    pub server: Option<String>,
    /// When no HTTP answer came: what came instead (no answer within the deadline, closed,
    /// refused, bytes that are not HTTP, a failed TLS handshake).
    pub error: Option<String>,
}

/// A finding, with what it means and what to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpFinding {
    /// Stable code.
    pub code: HttpFindingCode,
    /// What was seen and what it means.
    pub summary: String,
    /// The setting that closes it, for the services the table knows; a general instruction
    /// otherwise.
    pub fix: String,
}

/// What a local HTTP server lets a web page do (`listeners[].http`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpCheck {
    /// Where the requests went (a wildcard listener is reached at its family's loopback
    /// address).
    pub target: SocketAddr,
    /// Plain TCP or TLS.
    pub transport: HttpTransport,
    /// Whether the server answered HTTP at all.
    pub speaks_http: bool,
    /// What it did with a foreign `Host`.
    pub foreign_host: ForeignHost,
    /// What its CORS answer to a foreign `Origin` lets that origin read.
    pub cors: Cors,
    /// `Access-Control-Allow-Credentials: true` beside an origin the browser would accept.
    pub credentials: bool,
    /// What the CORS preflight got.
    pub preflight: Preflight,
    /// The preflight allowed private network access (`Access-Control-Allow-Private-Network:
    /// true`): a public page may reach it even where the browser enforces Private Network
    /// Access.
    pub private_network: bool,
    /// Each request and its answer, in the order sent.
    pub answers: Vec<HttpAnswer>,
    /// What this means for the browser.
    pub findings: Vec<HttpFinding>,
    /// Anything else worth knowing (a TLS handshake that failed, a trickling answer).
    pub notes: Vec<String>,
}
