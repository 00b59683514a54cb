//! Effective exposure: what a connection from another host reaches, through the packet filter
//! and NAT.
pub mod eval;
pub mod iptables;
pub mod nft;
pub mod rules;
