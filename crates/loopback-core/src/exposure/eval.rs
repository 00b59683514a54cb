//! One packet through one namespace's hooks: the rules of every base chain in priority order,
//! jumps, gotos and returns, NAT, and the conditions that depend on the sender (its address and
//! port), which split the walk into branches rather than being guessed.

use std::net::IpAddr;

use ipnet::IpNet;
use loopback_model::Proto;

use super::rules::{Action, ChainType, Cond, Hook, Ruleset};

/// The first packet of a new connection from a host this namespace knows nothing about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    /// IPv4 (else IPv6).
    pub v4: bool,
    /// The interface it arrived on.
    pub iif: String,
    /// The interface it leaves by, once routed (forwarded packets only).
    pub oif: Option<String>,
    /// Its destination.
    pub daddr: IpAddr,
    /// TCP or UDP.
    pub proto: Proto,
    /// Its destination port.
    pub dport: u16,
    /// A NAT rule rewrote its destination.
    pub dnat: bool,
    /// Sent by a socket of this namespace (the output hook): its owner and mark. `None` for a
    /// packet from another host, which no `skuid` matches.
    pub local: Option<LocalSender>,
}

/// The socket a locally sent packet comes from, as the output hook sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LocalSender {
    /// Its owner uid; `None` when unknown (a `skuid` match is then unknown too).
    pub uid: Option<u32>,
    /// The packet's mark (`SO_MARK`, or what a rule set).
    pub mark: u32,
}

/// A rule, or a chain's policy when `rule` is `None`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuleId {
    /// Which namespace's ruleset (the evaluator's `site`).
    pub site: usize,
    /// Index into [`Ruleset::chains`].
    pub chain: usize,
    /// Index into the chain's rules.
    pub rule: Option<usize>,
}

/// A condition on the sender's address that a branch requires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceCond {
    /// As shown: `from 10.0.0.0/8`, `not from 10.0.0.0/8`, `not (from A and from B)`.
    pub text: String,
    /// Only the senders it lists qualify (a restriction); otherwise it only excludes some.
    pub include: bool,
}

impl SourceCond {
    fn new(text: String, include: bool) -> Self {
        SourceCond { text, include }
    }
}

/// One way the walk can go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branch {
    /// The packet as it is now (NAT rewrites it).
    pub pkt: Packet,
    /// Source conditions this branch requires.
    pub sources: Vec<SourceCond>,
    /// The last rule that accepted it.
    pub accepted_by: Option<RuleId>,
    /// The rule that rewrote its destination.
    pub nat_by: Option<RuleId>,
    /// The rules that set its mark, in order.
    pub marked_by: Vec<RuleId>,
    /// The TPROXY rule that delivers it to a transparent socket (its destination, rewritten
    /// here, is that socket's).
    pub tproxy_by: Option<RuleId>,
}

/// How a hook ended for one branch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// Passed every base chain.
    Accept(Branch),
    /// Dropped or rejected by the rule (or policy).
    Drop(Branch, RuleId),
    /// A rule the evaluator does not model decided, or may have: why.
    Unknown(Branch, Option<RuleId>, String),
}

/// At most this many branches per packet; a ruleset that splits more is `unknown`.
const MAX_BRANCHES: usize = 256;
/// Jumps deeper than this are a loop (the kernel refuses loops; a listing may not).
const MAX_DEPTH: u32 = 64;

enum Walk {
    Verdict(End),
    Return(Branch),
}

/// A condition on the sender: what it requires, what its opposite requires, and whether it
/// names the sender's address (a restriction) or only its port (any host can choose its port).
struct Sender {
    holds: SourceCond,
    fails: SourceCond,
    restricts: bool,
}

/// A condition's answer for a packet.
enum Answer {
    Yes,
    No,
    /// Holds for some senders only: the condition as printed, and whether it names the
    /// sender's address (a restriction) or only its port (any host can choose its port).
    Sender(Sender),
    Unknown(String),
}

/// What the evaluator asks of the namespace it runs in.
pub trait Addresses {
    /// Whether `ip` is one of this namespace's addresses (`fib daddr type local`).
    fn is_local(&self, ip: IpAddr) -> bool;
    /// The first address of interface `iface` of a family: REDIRECT's new destination.
    fn primary(&self, iface: &str, v4: bool) -> Option<IpAddr>;
}

/// The hooks of one namespace.
pub struct Evaluator<'a> {
    rules: &'a Ruleset,
    addrs: &'a dyn Addresses,
    site: usize,
}

impl std::fmt::Debug for Evaluator<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Evaluator")
            .field("chains", &self.rules.chains.len())
            .finish_non_exhaustive()
    }
}

impl<'a> Evaluator<'a> {
    /// An evaluator over `rules` in a namespace with these addresses; the rule ids it hands
    /// out carry `site`, so ids from several namespaces can be told apart.
    pub fn new(rules: &'a Ruleset, addrs: &'a dyn Addresses, site: usize) -> Self {
        Evaluator { rules, addrs, site }
    }

    /// Pass `branch` through every base chain of `hook`.
    pub fn hook(&self, hook: Hook, branch: Branch) -> Vec<End> {
        let mut done = Vec::new();
        let mut live = vec![branch];
        let mut budget = MAX_BRANCHES;
        for c in self.rules.base_chains(hook, live[0].pkt.v4) {
            let chain = &self.rules.chains[c];
            let Some(base) = &chain.base else { continue };
            // Destination NAT happens at prerouting and output; the NAT chains of the
            // other hooks rewrite sources, which do not change who is reached.
            if base.kind == ChainType::Nat && !matches!(hook, Hook::Prerouting | Hook::Output) {
                continue;
            }
            let mut next = Vec::new();
            for b in live {
                if !base.devices.is_empty() && !base.devices.contains(&b.pkt.iif) {
                    next.push(b);
                    continue;
                }
                // NAT is decided once per connection.
                if base.kind == ChainType::Nat && b.nat_by.is_some() {
                    next.push(b);
                    continue;
                }
                let mut out = Vec::new();
                self.walk(c, 0, b, 0, &mut budget, &mut out);
                for w in out {
                    match w {
                        Walk::Verdict(End::Accept(b)) => next.push(b),
                        Walk::Verdict(end) => done.push(end),
                        Walk::Return(b) if base.policy_drop => done.push(End::Drop(
                            b,
                            RuleId {
                                site: self.site,
                                chain: c,
                                rule: None,
                            },
                        )),
                        Walk::Return(b) => next.push(b),
                    }
                }
            }
            live = next;
        }
        done.extend(live.into_iter().map(End::Accept));
        done
    }

    fn walk(
        &self,
        chain: usize,
        start: usize,
        mut b: Branch,
        depth: u32,
        budget: &mut usize,
        out: &mut Vec<Walk>,
    ) {
        let rules = &self.rules.chains[chain].rules;
        if depth > MAX_DEPTH {
            out.push(Walk::Verdict(End::Unknown(
                b,
                Some(RuleId {
                    site: self.site,
                    chain,
                    rule: None,
                }),
                "jumps nest deeper than 64 chains".into(),
            )));
            return;
        }
        for (i, rule) in rules.iter().enumerate().skip(start) {
            let id = RuleId {
                site: self.site,
                chain,
                rule: Some(i),
            };
            let mut unknown = None;
            let mut senders: Vec<Sender> = Vec::new();
            let mut applies = true;
            for c in &rule.conds {
                match self.answer(c, &b.pkt) {
                    Answer::Yes => {}
                    Answer::No => {
                        applies = false;
                        break;
                    }
                    Answer::Sender(s) => senders.push(s),
                    Answer::Unknown(why) => unknown = unknown.or(Some(why)),
                }
            }
            if !applies {
                continue;
            }
            if let Some(why) = unknown {
                // A rule that decides nothing cannot change the path, whatever it matches.
                if matches!(rule.action, Action::Continue) {
                    continue;
                }
                out.push(Walk::Verdict(End::Unknown(
                    b,
                    Some(id),
                    format!("{why} is not modelled"),
                )));
                return;
            }
            if !senders.is_empty() && !matches!(rule.action, Action::Continue) {
                // Two ways on: senders the rule matches, and the rest.
                if *budget == 0 {
                    out.push(Walk::Verdict(End::Unknown(
                        b,
                        Some(id),
                        format!("more than {MAX_BRANCHES} sender-dependent ways through the rules"),
                    )));
                    return;
                }
                *budget -= 1;
                let restricting: Vec<&Sender> = senders.iter().filter(|s| s.restricts).collect();
                let mut matched = b.clone();
                matched
                    .sources
                    .extend(restricting.iter().map(|s| s.holds.clone()));
                self.act(chain, i, matched, depth, budget, out);
                // The senders the rule does not match go on with the next rule.
                match restricting.as_slice() {
                    [] => {}
                    [one] => b.sources.push(one.fails.clone()),
                    many => b.sources.push(SourceCond::new(
                        format!(
                            "not ({})",
                            many.iter()
                                .map(|s| s.holds.text.as_str())
                                .collect::<Vec<_>>()
                                .join(" and ")
                        ),
                        false,
                    )),
                }
                continue;
            }
            match self.act_or_continue(chain, i, b, depth, budget, out) {
                Some(back) => b = back,
                None => return,
            }
        }
        out.push(Walk::Return(b));
    }

    /// Apply rule `i`'s action; the rest of the chain is walked from inside.
    fn act(
        &self,
        chain: usize,
        i: usize,
        b: Branch,
        depth: u32,
        budget: &mut usize,
        out: &mut Vec<Walk>,
    ) {
        if let Some(back) = self.act_or_continue(chain, i, b, depth, budget, out) {
            self.walk(chain, i + 1, back, depth, budget, out);
        }
    }

    /// Apply rule `i`'s action: `Some(branch)` when the walk goes on with the next rule.
    fn act_or_continue(
        &self,
        chain: usize,
        i: usize,
        mut b: Branch,
        depth: u32,
        budget: &mut usize,
        out: &mut Vec<Walk>,
    ) -> Option<Branch> {
        let id = RuleId {
            site: self.site,
            chain,
            rule: Some(i),
        };
        let rule = &self.rules.chains[chain].rules[i];
        if let (Some((value, mask)), Some(l)) = (rule.set_mark, b.pkt.local.as_mut()) {
            l.mark = (l.mark & !mask) | (value & mask);
            b.marked_by.push(id);
        }
        match &rule.action {
            Action::Continue => Some(b),
            Action::Accept => {
                b.accepted_by = Some(id);
                out.push(Walk::Verdict(End::Accept(b)));
                None
            }
            Action::Drop | Action::Reject => {
                out.push(Walk::Verdict(End::Drop(b, id)));
                None
            }
            Action::Return => {
                out.push(Walk::Return(b));
                None
            }
            Action::Jump(t) | Action::Goto(t) if *t >= self.rules.chains.len() => {
                out.push(Walk::Verdict(End::Unknown(
                    b,
                    Some(id),
                    "a jump to no chain".into(),
                )));
                None
            }
            Action::Jump(t) => {
                let mut sub = Vec::new();
                self.walk(*t, 0, b, depth + 1, budget, &mut sub);
                for w in sub {
                    match w {
                        Walk::Return(back) => self.walk(chain, i + 1, back, depth, budget, out),
                        v => out.push(v),
                    }
                }
                None
            }
            Action::Goto(t) => {
                self.walk(*t, 0, b, depth + 1, budget, out);
                None
            }
            Action::Dnat { addr, port } => {
                Self::rewrite(b, *addr, *port, id, out);
                None
            }
            // TPROXY is a terminal verdict: the packet goes, as it is, to the local socket.
            Action::Tproxy { addr, port } => {
                if let Some(a) = addr {
                    b.pkt.daddr = *a;
                }
                b.pkt.dport = *port;
                b.tproxy_by = Some(id);
                b.accepted_by = Some(id);
                out.push(Walk::Verdict(End::Accept(b)));
                None
            }
            // In the output hook the kernel redirects to the loopback address.
            Action::Redirect { port } if b.pkt.local.is_some() => {
                let lo = if b.pkt.v4 {
                    IpAddr::from([127, 0, 0, 1])
                } else {
                    IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
                };
                Self::rewrite(b, Some(lo), *port, id, out);
                None
            }
            Action::Redirect { port } => {
                match self.addrs.primary(&b.pkt.iif, b.pkt.v4) {
                    Some(a) => Self::rewrite(b, Some(a), *port, id, out),
                    // No address on the interface: the kernel drops it.
                    None => out.push(Walk::Verdict(End::Drop(b, id))),
                }
                None
            }
            Action::Unknown(what) => {
                out.push(Walk::Verdict(End::Unknown(
                    b,
                    Some(id),
                    format!("{what} is not modelled"),
                )));
                None
            }
        }
    }

    /// Destination NAT by rule `id`: the new destination, and the NAT chain is done.
    fn rewrite(
        mut b: Branch,
        addr: Option<IpAddr>,
        port: Option<u16>,
        id: RuleId,
        out: &mut Vec<Walk>,
    ) {
        if let Some(a) = addr {
            b.pkt.daddr = a;
        }
        if let Some(p) = port {
            b.pkt.dport = p;
        }
        b.pkt.dnat = true;
        b.nat_by = Some(id);
        out.push(Walk::Verdict(End::Accept(b)));
    }

    fn answer(&self, c: &Cond, p: &Packet) -> Answer {
        let yes = |b: bool| if b { Answer::Yes } else { Answer::No };
        match c {
            Cond::Iif(pats, neg) => yes(pats.iter().any(|x| x.matches(&p.iif)) != *neg),
            Cond::Oif(pats, neg) => {
                let oif = p.oif.as_deref().unwrap_or("");
                yes(pats.iter().any(|x| x.matches(oif)) != *neg)
            }
            Cond::Proto(ps, neg) => {
                let n = match p.proto {
                    Proto::Tcp => 6,
                    Proto::Udp => 17,
                };
                yes(ps.contains(&n) != *neg)
            }
            Cond::Family(v4) => yes(*v4 == p.v4),
            Cond::Skuid(ranges, neg) => match p.local {
                None => Answer::No,
                Some(LocalSender { uid: None, .. }) => {
                    Answer::Unknown("the sending socket's owner (skuid)".into())
                }
                Some(LocalSender { uid: Some(u), .. }) => {
                    yes(ranges.iter().any(|(a, b)| (*a..=*b).contains(&u)) != *neg)
                }
            },
            // A packet from another host may carry a mark set before this walk (CONNMARK,
            // tc, a prerouting rule elsewhere): only a locally sent one's mark is known.
            Cond::Mark { value, mask, neg } => match p.local {
                Some(l) => yes((l.mark & mask == *value) != *neg),
                None => Answer::Unknown(format!("meta mark {value:#x}")),
            },
            Cond::Daddr(nets, neg) => yes(contains(nets, p.daddr) != *neg),
            Cond::Dport(r, neg) => yes(r.iter().any(|(a, b)| (*a..=*b).contains(&p.dport)) != *neg),
            Cond::Saddr(nets, neg) => {
                let nets: Vec<&IpNet> = nets
                    .iter()
                    .filter(|n| matches!(n, IpNet::V4(_)) == p.v4)
                    .collect();
                if nets.iter().any(|n| n.prefix_len() == 0) {
                    return yes(!*neg);
                }
                if nets.is_empty() {
                    return yes(*neg);
                }
                let list = nets
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ");
                let from = SourceCond::new(format!("from {list}"), true);
                let not_from = SourceCond::new(format!("not from {list}"), false);
                let (holds, fails) = if *neg {
                    (not_from, from)
                } else {
                    (from, not_from)
                };
                Answer::Sender(Sender {
                    holds,
                    fails,
                    restricts: true,
                })
            }
            Cond::Sport(r, neg) => {
                let all = r.iter().any(|(a, b)| *a == 0 && *b == u16::MAX);
                if all {
                    return yes(!*neg);
                }
                Answer::Sender(Sender {
                    holds: SourceCond::new("source port".into(), false),
                    fails: SourceCond::new("source port".into(), false),
                    restricts: false,
                })
            }
            Cond::CtState(states, neg) => yes(states.iter().any(|s| s == "new") != *neg),
            Cond::CtDnat(neg) => yes(p.dnat != *neg),
            Cond::DaddrLocal(neg) => yes(self.addrs.is_local(p.daddr) != *neg),
            Cond::Never => Answer::No,
            Cond::Unknown(what) => Answer::Unknown(what.clone()),
        }
    }
}

fn contains(nets: &[IpNet], ip: IpAddr) -> bool {
    nets.iter().any(|n| n.contains(&ip))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposure::iptables;

    fn ev_hook(rules: &Ruleset, hook: Hook, pkt: Packet) -> Vec<End> {
        struct Lan;
        impl Addresses for Lan {
            fn is_local(&self, ip: IpAddr) -> bool {
                ip.to_string() == "198.18.0.1" || ip.is_loopback()
            }
            fn primary(&self, _: &str, _: bool) -> Option<IpAddr> {
                "198.18.0.1".parse().ok()
            }
        }
        let ev = Evaluator::new(rules, &Lan, 0);
        ev.hook(
            hook,
            Branch {
                pkt,
                sources: Vec::new(),
                accepted_by: None,
                nat_by: None,
                marked_by: Vec::new(),
                tproxy_by: None,
            },
        )
    }

    fn pkt(dport: u16) -> Packet {
        Packet {
            v4: true,
            iif: "eth0".into(),
            oif: None,
            daddr: "198.18.0.1".parse().expect("ip"),
            proto: Proto::Tcp,
            dport,
            dnat: false,
            local: None,
        }
    }

    fn ipt(text: &str) -> Ruleset {
        let mut rs = Ruleset::default();
        iptables::parse("iptables", text, &mut rs);
        rs
    }

    #[test]
    fn policy_drop_with_one_port_open() {
        let rs = ipt("*filter\n:INPUT DROP [0:0]\n-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A INPUT -p tcp --dport 22 -j ACCEPT\nCOMMIT\n");
        let open = ev_hook(&rs, Hook::Input, pkt(22));
        assert!(
            matches!(&open[..], [End::Accept(b)] if b.accepted_by == Some(RuleId { site: 0, chain: 0, rule: Some(1) }))
        );
        let shut = ev_hook(&rs, Hook::Input, pkt(23));
        assert!(matches!(
            &shut[..],
            [End::Drop(
                _,
                RuleId {
                    site: 0,
                    chain: 0,
                    rule: None
                }
            )]
        ));
    }

    #[test]
    fn sources_split_the_walk() {
        let rs = ipt("*filter\n:INPUT DROP [0:0]\n:ADMIN - [0:0]\n-A INPUT -j ADMIN\n-A ADMIN ! -s 10.0.0.0/8 -j RETURN\n-A ADMIN -p tcp --dport 22 -j ACCEPT\nCOMMIT\n");
        let ends = ev_hook(&rs, Hook::Input, pkt(22));
        assert_eq!(ends.len(), 2, "{ends:#?}");
        let accepted: Vec<&Branch> = ends
            .iter()
            .filter_map(|e| {
                if let End::Accept(b) = e {
                    Some(b)
                } else {
                    None
                }
            })
            .collect();
        assert_eq!(accepted.len(), 1);
        assert_eq!(
            accepted[0].sources,
            vec![SourceCond::new("from 10.0.0.0/8".to_owned(), true)]
        );
        assert!(ends.iter().any(
            |e| matches!(e, End::Drop(b, _) if b.sources == vec![SourceCond::new("not from 10.0.0.0/8".to_owned(), false)])
        ));
    }

    #[test]
    fn nat_unknowns_and_loops() {
        let rs = ipt("*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -p tcp --dport 80 -j REDIRECT --to-ports 8080\n-A PREROUTING -p tcp --dport 81 -m recent -j DNAT --to-destination 10.0.0.2\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:A - [0:0]\n-A INPUT -p tcp --dport 99 -j A\n-A A -j A\nCOMMIT\n");
        let r = ev_hook(&rs, Hook::Prerouting, pkt(80));
        assert!(
            matches!(&r[..], [End::Accept(b)] if b.pkt.dport == 8080 && b.pkt.dnat && b.nat_by.is_some())
        );
        let u = ev_hook(&rs, Hook::Prerouting, pkt(81));
        assert!(matches!(&u[..], [End::Unknown(_, Some(_), why)] if why.contains("-m recent")));
        let plain = ev_hook(&rs, Hook::Prerouting, pkt(82));
        assert!(matches!(&plain[..], [End::Accept(b)] if !b.pkt.dnat));
        let looped = ev_hook(&rs, Hook::Input, pkt(99));
        assert!(matches!(&looped[..], [End::Unknown(..)]));
    }
}
