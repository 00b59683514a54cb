//! The logic of `loopback`: capture a [`snapshot`] of one network namespace once, then judge it
//! with pure functions. Nothing here prints.
//!
//! The shape is the same for every command: `capture` (through
//! [`loopback_sys::SystemView`]), live evidence where a command needs it (through
//! [`loopback_sys::Prober`]), then a judgment that reads only the snapshot and that evidence.
//! Each command module has a `run` that does the three in order and a pure function (`audit`,
//! `explain`, `judge`) that tests and the exporter call directly.
//!
//! - [`snapshot`]: the snapshot, its parts and the one place it is captured.
//! - [`host`]: every network namespace of the host (`-A`, `--netns`), each a snapshot, with
//!   one owner scan for all; [`containers`] says who a namespace or process is (container,
//!   systemd unit); [`publications`] joins a runtime's published ports to their targets.
//! - [`target`]: the one target grammar (`ADDR`, `HOST:PORT`, `[V6]:PORT`, `CIDR`).
//! - [`classify`]: the special-purpose address table (RFC 6890 and friends).
//! - [`scope`]: bind scope (`loopback`, `wildcard`, `specific`), exposure, the dual-stack rule.
//! - [`localhost`]: the rules about `localhost` and IPv6 on loopback, shared by doctor and
//!   resolve.
//! - [`audit`]: listeners, owners, verdicts; [`policy`]: the `[[allow]]` policy file.
//! - [`services`]: the service behind a listener and the exact fix, from `data/services.toml`.
//! - [`redact`]: secrets out of command lines.
//! - [`explain`]: what an address is and who can reach it.
//! - [`resolve`]: a model of glibc's `getaddrinfo` beside the C library's own answer.
//! - [`probe`]: try every address a name resolves to, and say why it fails.
//! - [`mod@bind`]: why a server cannot bind an address and port: the real bind, the holder
//!   (listening, bound and not listening, TIME_WAIT), the cause and the fix.
//! - [`intercept`]: where a local connection really goes: marks, policy routes, NAT, TPROXY,
//!   cgroup BPF programs, the receiver, and what each client does with the proxy environment.
//! - [`names`]: per-service loopback names in a managed block of the hosts file, edited
//!   without touching a byte outside it, and what each client (glibc, curl, Python, Go,
//!   Node.js, browsers) makes of them.
//! - [`http`]: whether a web page in the user's browser can reach a local HTTP server (DNS
//!   rebinding, CORS): four requests captured into the snapshot, judged from their bytes.
//! - [`doctor`]: is the loopback stack healthy, and if not, why; [`firewall`] names the rules.
//! - [`mod@bench`]: what a round trip, a connection and a stream cost on each path (loopback, the
//!   own address, a veth link, a bridge with NAT, Unix sockets), next to 127.0.0.1.
//! - [`recapture`]: capture a host again and again (the exporter, `--watch`), walking `/proc`
//!   for owners only when a new socket appears; [`watch`]: the changes between two audits;
//!   [`filter`]: `--port`, `--pid`, `--process`, `--user`, `--proto`, `--exposed` on a report.
//! - [`timings`]: how long each phase took, for `--timings`.
//! - [`fuzz`]: the fuzz targets' entry points, shared with the corpus replay test.

#![warn(missing_docs)]

pub mod audit;
pub mod bench;
pub mod bind;
pub mod classify;
pub mod containers;
pub mod doctor;
pub mod explain;
pub mod exposure;
pub mod filter;
pub mod firewall;
pub mod fuzz;
pub mod host;
pub mod http;
pub mod intercept;
pub mod localhost;
pub mod names;
pub mod policy;
pub mod probe;
pub mod publications;
pub mod recapture;
pub mod redact;
pub mod resolve;
pub mod scope;
pub mod services;
pub mod snapshot;
pub mod target;
pub mod timings;
pub mod watch;

#[cfg(any(test, feature = "test-util"))]
pub mod testing;
