//! The rule language both parsers produce: chains with hooks, priorities and policies, rules
//! with the conditions and actions the evaluator models, and `Unknown` for everything else.
//! nftables (JSON) and iptables (`iptables-save`) rules become the same values, so one evaluator
//! walks a host where Docker's iptables-nft chains sit beside a hand-written nft table.

use std::net::IpAddr;

use ipnet::IpNet;

/// A netfilter hook a packet passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Hook {
    /// Before the routing decision (and `ingress`, which comes before it).
    Prerouting,
    /// Delivered to this namespace.
    Input,
    /// Routed through it.
    Forward,
    /// Sent by it.
    Output,
    /// Leaving it.
    Postrouting,
}

/// What a base chain does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainType {
    /// Accepts or drops.
    Filter,
    /// Rewrites addresses on a connection's first packet.
    Nat,
    /// Reroutes (`mangle` OUTPUT); filters like `Filter` here.
    Route,
}

/// The hook of a base chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base {
    /// Which hook.
    pub hook: Hook,
    /// Its priority: lower runs first.
    pub prio: i32,
    /// A packet that falls off the end is dropped.
    pub policy_drop: bool,
    /// Filter or NAT.
    pub kind: ChainType,
    /// A `netdev` ingress chain sees only these devices.
    pub devices: Vec<String>,
}

/// Where a chain came from: the tool that listed it, and its table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    /// `nft`, `iptables`, `ip6tables`, `iptables-legacy`, `ip6tables-legacy`.
    pub tool: String,
    /// `ip`, `ip6`, `inet`, `netdev`.
    pub family: String,
    /// The table.
    pub table: String,
}

/// A chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// Index into [`Ruleset::origins`].
    pub origin: usize,
    /// Its name.
    pub name: String,
    /// Set for a base chain.
    pub base: Option<Base>,
    /// IPv4 packets pass it.
    pub v4: bool,
    /// IPv6 packets pass it.
    pub v6: bool,
    /// Its rules in order.
    pub rules: Vec<Rule>,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The nft handle; `None` for iptables rules.
    pub handle: Option<u64>,
    /// The rule as its tool prints it.
    pub text: String,
    /// All must hold.
    pub conds: Vec<Cond>,
    /// What happens when they do.
    pub action: Action,
    /// The mark it sets when it matches, before its action (`meta mark set V`,
    /// `-j MARK --set-mark V/M`): `(value, mask)`, the bits of `mask` replaced by `value`'s.
    pub set_mark: Option<(u32, u32)>,
}

/// An interface-name pattern: exact, or a prefix (`eth*` in nft, `eth+` in iptables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamePattern {
    /// The name or prefix.
    pub name: String,
    /// A prefix match.
    pub prefix: bool,
}

impl NamePattern {
    /// Parse `eth0`, `eth*` or `eth+`.
    pub fn parse(text: &str) -> NamePattern {
        match text.strip_suffix('*').or_else(|| text.strip_suffix('+')) {
            Some(p) => NamePattern {
                name: p.to_owned(),
                prefix: true,
            },
            None => NamePattern {
                name: text.to_owned(),
                prefix: false,
            },
        }
    }

    /// Whether `name` matches.
    pub fn matches(&self, name: &str) -> bool {
        if self.prefix {
            name.starts_with(&self.name)
        } else {
            name == self.name
        }
    }
}

/// A condition. Each carries `neg`: the rule says `!=` or `!`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    /// The input interface.
    Iif(Vec<NamePattern>, bool),
    /// The output interface (empty on the input path).
    Oif(Vec<NamePattern>, bool),
    /// The transport protocol numbers (6 TCP, 17 UDP).
    Proto(Vec<u8>, bool),
    /// The packet is IPv4 (`true`) or IPv6.
    Family(bool),
    /// The source address: chosen by the sender, so it restricts who reaches, never whether.
    Saddr(Vec<IpNet>, bool),
    /// The destination address.
    Daddr(Vec<IpNet>, bool),
    /// The destination port ranges.
    Dport(Vec<(u16, u16)>, bool),
    /// The source port ranges: chosen by the sender.
    Sport(Vec<(u16, u16)>, bool),
    /// Connection-tracking states (`new`, `established`, ...).
    CtState(Vec<String>, bool),
    /// The connection was destination-NATed (`ct status dnat`, `--ctstate DNAT`).
    CtDnat(bool),
    /// The destination is a local address (`fib daddr type local`, `-m addrtype --dst-type LOCAL`).
    DaddrLocal(bool),
    /// The sending socket's owner uid is in one of these ranges (`meta skuid`, `-m owner
    /// --uid-owner`): only a packet this host sends has one.
    Skuid(Vec<(u32, u32)>, bool),
    /// The packet's mark, under a mask (`meta mark`, `-m mark --mark V/M`).
    Mark {
        /// The value compared.
        value: u32,
        /// The bits compared.
        mask: u32,
        /// `!=`.
        neg: bool,
    },
    /// Never true for a new TCP or UDP connection (an ICMP type, a TCP flag combination the
    /// first packet does not carry...).
    Never,
    /// A match the evaluator does not model, as its tool prints it.
    Unknown(String),
}

/// What a rule does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Nothing that decides (counter, log, mark): go on.
    Continue,
    /// Accept: this chain is done.
    Accept,
    /// Drop silently.
    Drop,
    /// Reject: drop, and answer the sender (a TCP reset, an ICMP error).
    Reject,
    /// Back to the calling chain.
    Return,
    /// Call a chain (index into [`Ruleset::chains`]).
    Jump(usize),
    /// Go to a chain, not coming back.
    Goto(usize),
    /// Rewrite the destination.
    Dnat {
        /// The new address (`None`: only the port changes).
        addr: Option<IpAddr>,
        /// The new port (`None`: unchanged).
        port: Option<u16>,
    },
    /// Rewrite the destination to the arriving interface's primary address.
    Redirect {
        /// The new port (`None`: unchanged).
        port: Option<u16>,
    },
    /// Transparent proxying (prerouting): the packet is delivered, unchanged, to the local
    /// socket on `port` (and `addr` when given) that set `IP_TRANSPARENT`.
    Tproxy {
        /// The socket's address (`None`: the packet's destination).
        addr: Option<IpAddr>,
        /// The socket's port.
        port: u16,
    },
    /// A verdict the evaluator does not model, as its tool prints it.
    Unknown(String),
}

/// What a parser makes of one rule: its conditions, its action, the chain a jump names, and
/// the mark it sets.
pub(crate) type Parsed = (Vec<Cond>, Action, Option<String>, Option<(u32, u32)>);

/// Jumps and gotos waiting for their chain: (chain, rule, target name).
pub(crate) type Pending = Vec<(usize, usize, String)>;

/// Every chain of a namespace's packet filter, from every tool.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ruleset {
    /// The tables' origins.
    pub origins: Vec<Origin>,
    /// The chains.
    pub chains: Vec<Chain>,
    /// What could not be parsed, or read.
    pub warnings: Vec<String>,
}

impl Ruleset {
    /// The base chains of `hook` that packets of this family pass, lowest priority first.
    pub fn base_chains(&self, hook: Hook, v4: bool) -> Vec<usize> {
        let mut out: Vec<(i32, usize)> = self
            .chains
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let b = c.base.as_ref()?;
                (b.hook == hook && if v4 { c.v4 } else { c.v6 }).then_some((b.prio, i))
            })
            .collect();
        out.sort_unstable();
        out.into_iter().map(|(_, i)| i).collect()
    }

    /// Every rule that rewrites destinations, with its chain.
    pub fn nat_rules(&self) -> impl Iterator<Item = (usize, &Rule)> {
        self.chains.iter().enumerate().flat_map(|(i, c)| {
            c.rules
                .iter()
                .filter(|r| matches!(r.action, Action::Dnat { .. } | Action::Redirect { .. }))
                .map(move |r| (i, r))
        })
    }

    /// Add an origin, returning its index.
    pub(crate) fn origin(&mut self, tool: &str, family: &str, table: &str) -> usize {
        if let Some(i) = self
            .origins
            .iter()
            .position(|o| o.tool == tool && o.family == family && o.table == table)
        {
            return i;
        }
        self.origins.push(Origin {
            tool: tool.to_owned(),
            family: family.to_owned(),
            table: table.to_owned(),
        });
        self.origins.len() - 1
    }

    /// Append `rule` to `chain`; a jump or goto to `target` waits in `pending` until every
    /// chain is declared ([`Ruleset::resolve`]).
    pub(crate) fn push_rule(
        &mut self,
        chain: usize,
        rule: Rule,
        target: Option<String>,
        pending: &mut Pending,
    ) {
        self.chains[chain].rules.push(rule);
        if let Some(t) = target {
            pending.push((chain, self.chains[chain].rules.len() - 1, t));
        }
    }

    /// Point every waiting jump and goto at its chain; one to a chain that does not exist
    /// becomes an unknown action, `unknown(target)`.
    pub(crate) fn resolve(&mut self, pending: Pending, unknown: impl Fn(&str) -> String) {
        for (chain, idx, target) in pending {
            let found = self.find(self.chains[chain].origin, &target);
            let r = &mut self.chains[chain].rules[idx];
            r.action = match (found, &r.action) {
                (Some(t), Action::Goto(_)) => Action::Goto(t),
                (Some(t), _) => Action::Jump(t),
                (None, _) => Action::Unknown(unknown(&target)),
            };
        }
    }

    /// The chain named `name` in `origin`.
    pub(crate) fn find(&self, origin: usize, name: &str) -> Option<usize> {
        self.chains
            .iter()
            .position(|c| c.origin == origin && c.name == name)
    }
}

/// The number of a transport protocol by the name both tools print (`tcp`, `ipv6-icmp`...).
pub fn proto_by_name(name: &str) -> Option<u8> {
    match name.to_ascii_lowercase().as_str() {
        "tcp" => Some(6),
        "udp" => Some(17),
        "icmp" => Some(1),
        "ipv6-icmp" | "icmpv6" => Some(58),
        "sctp" => Some(132),
        "udplite" => Some(136),
        _ => None,
    }
}

/// Port ranges from `22`, `1000:2000` (iptables) or `1000-2000`.
pub fn parse_ports(text: &str) -> Option<Vec<(u16, u16)>> {
    text.split(',')
        .map(|p| {
            let (a, b) = p
                .split_once(':')
                .or_else(|| p.split_once('-'))
                .unwrap_or((p, p));
            let a: u16 = if a.is_empty() {
                0
            } else {
                a.trim().parse().ok()?
            };
            let b: u16 = if b.is_empty() {
                u16::MAX
            } else {
                b.trim().parse().ok()?
            };
            Some((a.min(b), a.max(b)))
        })
        .collect()
}

/// An address or prefix: `10.0.0.0/8`, `10.0.0.1` (a host), `::1/128`.
pub fn parse_net(text: &str) -> Option<IpNet> {
    let text = text.trim();
    if let Ok(n) = text.parse::<IpNet>() {
        return Some(n.trunc());
    }
    text.parse::<IpAddr>().ok().map(IpNet::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_patterns() {
        assert_eq!(parse_ports("22"), Some(vec![(22, 22)]));
        assert_eq!(
            parse_ports("80,1000:2000"),
            Some(vec![(80, 80), (1000, 2000)])
        );
        assert_eq!(parse_ports("x"), None);
        assert!(NamePattern::parse("eth+").matches("eth0"));
        assert!(NamePattern::parse("veth*").matches("veth12"));
        assert!(!NamePattern::parse("eth0").matches("eth01"));
        assert_eq!(
            parse_net("10.1.2.3/8").map(|n| n.to_string()),
            Some("10.0.0.0/8".into())
        );
        assert_eq!(parse_net("::1").map(|n| n.prefix_len()), Some(128));
    }
}
