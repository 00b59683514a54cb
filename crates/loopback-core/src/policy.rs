//! The audit policy file: which exposed listeners are intended.
//!
//! ```toml
//! [[allow]]
//! proto = "tcp"
//! port = 22
//! process = "sshd"
//!
//! [[allow]]
//! address = "198.18.0.0/15"   # an address or a CIDR
//! port = "8000-8099"          # a port or an inclusive range
//! user = "www-data"
//! ```
//!
//! A rule matches when every key it gives matches. Unknown keys, empty rules and bad values are
//! errors that name the line.

use std::net::IpAddr;

use ipnet::IpNet;
use loopback_model::{Listener, Proto};
use serde::Deserialize;

use crate::classify::unmap;

/// A parsed policy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Policy {
    /// The `[[allow]]` rules, in file order.
    pub rules: Vec<Rule>,
}

/// One `[[allow]]` table.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// `tcp` or `udp`; any when absent.
    pub proto: Option<Proto>,
    /// A port or a range; any when absent.
    pub port: Option<PortSpec>,
    /// An address or a network; any when absent.
    pub address: Option<AddressSpec>,
    /// The owning process name; any when absent.
    pub process: Option<String>,
    /// The owning user; any when absent.
    pub user: Option<String>,
}

/// A port or an inclusive range `"A-B"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "toml::Value")]
pub struct PortSpec {
    /// The first port.
    pub first: u16,
    /// The last port (the first for a single port).
    pub last: u16,
}

impl TryFrom<toml::Value> for PortSpec {
    type Error = String;
    fn try_from(v: toml::Value) -> Result<Self, String> {
        let bad = || format!("port must be 1-65535 or a range \"A-B\", not {v}");
        match &v {
            toml::Value::Integer(n) => {
                let p = u16::try_from(*n).ok().filter(|p| *p != 0).ok_or_else(bad)?;
                Ok(PortSpec { first: p, last: p })
            }
            toml::Value::String(s) => {
                let (a, b) = s.split_once('-').unwrap_or((s, s));
                let first: u16 = a.trim().parse().map_err(|_| bad())?;
                let last: u16 = b.trim().parse().map_err(|_| bad())?;
                if first == 0 || first > last {
                    return Err(bad());
                }
                Ok(PortSpec { first, last })
            }
            _ => Err(bad()),
        }
    }
}

/// An address or a network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum AddressSpec {
    /// One address.
    Addr(IpAddr),
    /// A network.
    Net(IpNet),
}

impl TryFrom<String> for AddressSpec {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        let t = s.trim().trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = t.parse::<IpAddr>() {
            return Ok(AddressSpec::Addr(ip));
        }
        t.parse::<IpNet>()
            .map(AddressSpec::Net)
            .map_err(|_| format!("address must be an IP address or a CIDR, not {s:?}"))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    allow: Vec<toml::Spanned<Rule>>,
}

/// A policy that could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
#[allow(missing_docs)] // each variant's doc says what its fields hold
pub enum PolicyError {
    /// TOML syntax, an unknown key or a bad value; the message names line and column.
    #[error("{0}")]
    Syntax(String),
    #[error(
        "line {line}: an [[allow]] rule needs at least one of proto, port, address, process, user"
    )]
    EmptyRule { line: usize },
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

impl Policy {
    /// Parse a policy from TOML text.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let file: PolicyFile = toml::from_str(text)
            .map_err(|e| PolicyError::Syntax(e.to_string().trim().to_owned()))?;
        let mut rules = Vec::with_capacity(file.allow.len());
        for spanned in file.allow {
            let span = spanned.span();
            let rule = spanned.into_inner();
            if rule == Rule::default() {
                return Err(PolicyError::EmptyRule {
                    line: line_of(text, span.start),
                });
            }
            rules.push(rule);
        }
        Ok(Policy { rules })
    }

    /// The index of the first rule that allows `listener`.
    pub fn allows(&self, listener: &Listener) -> Option<usize> {
        self.rules.iter().position(|r| r.matches(listener))
    }
}

impl Rule {
    /// True when every key the rule gives matches the listener.
    pub fn matches(&self, l: &Listener) -> bool {
        self.proto.is_none_or(|p| p == l.proto)
            && self
                .port
                .is_none_or(|p| (p.first..=p.last).contains(&l.port))
            && self.address.is_none_or(|a| match a {
                AddressSpec::Addr(ip) => ip == l.address || unmap(ip) == unmap(l.address),
                AddressSpec::Net(net) => {
                    net.contains(&l.address) || net.contains(&unmap(l.address))
                }
            })
            && self.process.as_ref().is_none_or(|want| {
                l.owners.iter().any(|o| {
                    *o.name == **want
                        || o.cmdline
                            .split_whitespace()
                            .next()
                            .is_some_and(|argv0| argv0.rsplit('/').next() == Some(want.as_str()))
                })
            })
            && self.user.as_ref().is_none_or(|want| {
                l.owners
                    .iter()
                    .any(|o| o.user.as_deref() == Some(want.as_str()))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use loopback_model::Owner;

    fn listener(proto: Proto, addr: &str, port: u16, owner: Option<(&str, &str)>) -> Listener {
        Listener {
            owners: owner
                .map(|(name, user)| Owner {
                    pid: 1,
                    name: name.into(),
                    user: Some(user.into()),
                    uid: None,
                    cmdline: format!("/usr/sbin/{name} -D").into(),
                    unit: None,
                })
                .into_iter()
                .collect(),
            ..crate::testing::listener(proto, addr, port)
        }
    }

    #[test]
    fn every_key_must_match() {
        let p = Policy::parse(
            "[[allow]]\nproto = \"tcp\"\nport = 22\nprocess = \"sshd\"\n\n[[allow]]\naddress = \"198.18.0.0/15\"\nport = \"8000-8099\"\nuser = \"www\"\n",
        )
        .expect("parses");
        assert_eq!(p.rules.len(), 2);
        assert_eq!(
            p.allows(&listener(Proto::Tcp, "0.0.0.0", 22, Some(("sshd", "root")))),
            Some(0)
        );
        assert_eq!(
            p.allows(&listener(Proto::Udp, "0.0.0.0", 22, Some(("sshd", "root")))),
            None
        );
        assert_eq!(
            p.allows(&listener(
                Proto::Tcp,
                "0.0.0.0",
                22,
                Some(("dropbear", "root"))
            )),
            None
        );
        assert_eq!(p.allows(&listener(Proto::Tcp, "0.0.0.0", 22, None)), None);
        assert_eq!(
            p.allows(&listener(
                Proto::Tcp,
                "198.18.0.1",
                8050,
                Some(("node", "www"))
            )),
            Some(1)
        );
        assert_eq!(
            p.allows(&listener(
                Proto::Tcp,
                "::ffff:198.18.0.1",
                8099,
                Some(("node", "www"))
            )),
            Some(1)
        );
        assert_eq!(
            p.allows(&listener(
                Proto::Tcp,
                "198.18.0.1",
                8100,
                Some(("node", "www"))
            )),
            None
        );
        assert_eq!(
            p.allows(&listener(
                Proto::Tcp,
                "198.18.0.1",
                8050,
                Some(("node", "root"))
            )),
            None
        );
    }

    #[test]
    fn process_matches_argv0_basename() {
        let p = Policy::parse("[[allow]]\nprocess = \"sshd\"\n").expect("parses");
        let mut l = listener(Proto::Tcp, "::", 22, Some(("sshd-session", "root")));
        let mut owner = l.owners[0].clone();
        owner.cmdline = "/usr/sbin/sshd -D".into();
        l.owners = vec![owner].into();
        assert_eq!(p.allows(&l), Some(0));
    }

    #[test]
    fn empty_policy_allows_nothing() {
        let p = Policy::parse("").expect("parses");
        assert_eq!(p.allows(&listener(Proto::Tcp, "0.0.0.0", 22, None)), None);
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            ("[[allow]]\nport = 22\nprot = \"tcp\"\n", "line 3"),
            ("[[allow]]\nport = 70000\n", "line 2"),
            ("[[allow]]\nport = \"90-80\"\n", "line 2"),
            ("[[allow]]\nproto = \"sctp\"\n", "line 2"),
            ("[[allow]]\naddress = \"localhost\"\n", "line 2"),
            ("\n[[allow]]\nport = 22\n[[allow]]\n", "line 4"),
            ("[[allow]\n", "line 1"),
            ("[[deny]]\nport = 1\n", "line 1"),
        ];
        for (text, want) in cases {
            let e = Policy::parse(text).expect_err(text).to_string();
            assert!(e.contains(want), "{text:?} gave {e:?}, wanted {want}");
        }
    }
}
