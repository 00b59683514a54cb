//! The logic of `loopback`: classify addresses, judge who can reach a socket, audit listeners
//! against a policy, and explain addresses. Every function takes its OS inputs through
//! [`loopback_sys::SystemView`] and returns data; nothing here prints.
//!
//! - [`classify`]: the special-purpose address table (RFC 6890 and friends).
//! - [`scope`]: bind scope (`loopback`, `wildcard`, `specific`) and exposure.
//! - [`audit`]: listeners, owners, verdicts.
//! - [`policy`]: the `[[allow]]` policy file.
//! - [`redact`]: secrets out of command lines.
//! - [`services`]: the service behind a listener and the exact fix, from `data/services.toml`.
//! - [`explain`]: what an address is and who can reach it.
//! - [`resolve`]: a model of glibc's `getaddrinfo` (nsswitch, hosts, AI_ADDRCONFIG, RFC 3484/6724
//!   sorting with gai.conf) beside the C library's own answer; [`probe`] tries every address.
//! - [`doctor`]: is the loopback stack healthy, and if not, why; [`firewall`] names the rules.
//! - [`fuzz`]: the fuzz targets' entry points, shared with the corpus replay test.

pub mod audit;
pub mod classify;
pub mod doctor;
pub mod explain;
pub mod firewall;
pub mod fuzz;
pub mod policy;
pub mod probe;
pub mod redact;
pub mod resolve;
pub mod scope;
pub mod services;

#[cfg(any(test, feature = "test-util"))]
pub mod testing;
