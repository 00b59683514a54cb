//! Effective exposure: what a connection from another host really reaches, through the packet
//! filter and NAT, from the uplinks of every captured namespace.
//!
//! - [`ruleset_of`] turns a namespace's [`FirewallDump`] into one [`rules::Ruleset`]: nftables
//!   from `nft -j` (rule text from `nft -a`), the tables iptables-nft manages from
//!   `iptables-save` (their `xt` matches are opaque in nft's JSON), legacy tables from
//!   `iptables-legacy-save`.
//! - [`assess`] searches from each uplink ([`uplinks`]): for every destination a sender could
//!   use (each local address and port of a listener, each DNAT/REDIRECT rule's match, the
//!   addresses of namespaces this one forwards to), it walks prerouting (NAT), the routing
//!   decision (local delivery, `route_localnet`, forwarding into another namespace), and the
//!   input or forward hook ([`eval`]), then finds the socket the kernel would deliver to.
//!   Conditions on the sender split the walk: a path accepted only from some sources is
//!   `restricted`; a rule the evaluator does not model makes its path `unknown`.
//!
//! Pure: everything comes from snapshots.

pub mod eval;
pub mod iptables;
pub mod nft;
pub mod rules;
pub mod uplinks;

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::net::IpAddr;

use ipnet::IpNet;
use loopback_model::{
    Arrival, BindScope, Exposure, ExposurePath, ExposureReach, ExposureState, Interface, Listener,
    Proto, RuleRef, Uplink,
};
use loopback_sys::{FirewallDump, KernelSettings};

use crate::classify::unmap;
use crate::scope::families;
use crate::snapshot::Part;
use eval::{Addresses, Branch, End, Evaluator, Packet, RuleId};
use rules::{Action, Cond, Hook, Ruleset};

/// The capability that lets `nft` and `iptables-save` list the rules.
pub const FIREWALL_PRIVILEGE_HINT: &str =
    "listing the packet filter needs CAP_NET_ADMIN: run as root";

/// A namespace's ruleset, and why it may be incomplete.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// The rules that could be read.
    pub rules: Ruleset,
    /// Why some rules may be missing (`None`: all were read).
    pub incomplete: Option<String>,
}

/// One ruleset from everything a namespace's dump holds.
pub fn ruleset_of(dump: &Part<FirewallDump>) -> Filter {
    let dump = match dump {
        Part::Captured(d) => d,
        Part::Failed(why) => {
            return Filter {
                incomplete: Some(format!("the packet filter could not be read: {why}")),
                ..Filter::default()
            }
        }
        Part::NotCaptured => {
            return Filter {
                incomplete: Some("the packet filter was not captured".into()),
                ..Filter::default()
            }
        }
    };
    let mut rules = Ruleset::default();
    let text = |tool: &str| {
        dump.rulesets
            .iter()
            .find(|r| r.tool == tool)
            .map(|r| r.text.as_str())
    };
    let mut skip = HashSet::new();
    for (tool, family) in [("iptables", "ip"), ("ip6tables", "ip6")] {
        if let Some(t) = text(tool).filter(|t| t.contains("(nf_tables)")) {
            for table in iptables::tables(t) {
                skip.insert((family.to_owned(), table));
            }
        }
    }
    let texts = text("nft").map(nft::rule_texts).unwrap_or_default();
    // One document per table, or one for the whole ruleset (an older snapshot).
    for json in dump.rulesets.iter().filter(|r| r.tool == "nft-json") {
        nft::parse(&json.text, &skip, &texts, &mut rules);
    }
    for tool in [
        "iptables",
        "ip6tables",
        "iptables-legacy",
        "ip6tables-legacy",
    ] {
        if let Some(t) = text(tool) {
            iptables::parse(tool, t, &mut rules);
        }
    }
    let incomplete = if !dump.unreadable.is_empty() {
        let denied = dump
            .unreadable
            .iter()
            .any(|u| u.contains("not permitted") || u.contains("denied"));
        Some(format!(
            "the packet filter could not be read ({}){}",
            dump.unreadable.join("; "),
            if denied {
                format!(": {FIREWALL_PRIVILEGE_HINT}")
            } else {
                String::new()
            }
        ))
    } else if dump.off.is_some() {
        None
    } else if text("nft").is_none() && text("iptables").is_none() {
        Some("neither nft nor iptables-save is installed, so the packet filter was not read (install nftables)".into())
    } else {
        None
    };
    Filter { rules, incomplete }
}

/// One captured namespace, as the search sees it.
#[derive(Debug)]
pub struct Site<'a> {
    /// Its inode.
    pub inode: u64,
    /// Its interfaces.
    pub interfaces: &'a [Interface],
    /// Its kernel settings.
    pub kernel: Option<&'a KernelSettings>,
    /// Its packet filter.
    pub filter: &'a Filter,
    /// Its listeners (and UDP clients), in the order exposures are returned.
    pub listeners: Vec<&'a Listener>,
}

impl Addresses for Site<'_> {
    fn is_local(&self, ip: IpAddr) -> bool {
        let ip = unmap(ip);
        ip.is_loopback() || self.holder(ip).is_some()
    }

    fn primary(&self, iface: &str, v4: bool) -> Option<IpAddr> {
        self.interfaces
            .iter()
            .find(|i| i.name == iface)?
            .addresses
            .iter()
            .map(|a| a.address)
            .find(|a| a.is_ipv4() == v4)
    }
}

impl Site<'_> {
    /// The interface holding `ip`.
    fn holder(&self, ip: IpAddr) -> Option<&Interface> {
        self.interfaces
            .iter()
            .find(|i| i.addresses.iter().any(|a| unmap(a.address) == ip))
    }

    fn addresses(&self, v4: bool) -> Vec<IpAddr> {
        let mut out: Vec<IpAddr> = self
            .interfaces
            .iter()
            .filter(|i| !i.loopback)
            .flat_map(|i| i.addresses.iter().map(|a| a.address))
            .filter(|a| a.is_ipv4() == v4 && !a.is_loopback() && !is_link_local(*a))
            .collect();
        // One address on two interfaces counts once.
        out.sort_unstable();
        out.dedup();
        out
    }

    fn route_localnet(&self, iface: &str) -> bool {
        self.kernel.is_some_and(|k| {
            k.route_localnet.get("all") == Some(&true) || k.route_localnet.get(iface) == Some(&true)
        })
    }

    fn forwards(&self, iif: &str, v4: bool) -> bool {
        match self.kernel {
            // Unknown: assume it forwards, the answer that hides no exposure.
            None => true,
            Some(k) if v4 => k.forwarding_v4.get(iif).copied().unwrap_or(true),
            Some(k) => k.forwarding_v6.unwrap_or(true),
        }
    }

    /// The interface a forwarded packet to `ip` leaves by: the longest connected prefix.
    fn out_interface(&self, ip: IpAddr) -> Option<&Interface> {
        self.interfaces
            .iter()
            .filter(|i| !i.loopback)
            .flat_map(|i| i.addresses.iter().map(move |a| (i, a)))
            .filter_map(|(i, a)| {
                let net = IpNet::new(a.address, a.prefix_len).ok()?;
                net.contains(&ip).then_some((net.prefix_len(), i))
            })
            .max_by_key(|(len, _)| *len)
            .map(|(_, i)| i)
    }

    /// The listener the kernel delivers `proto` `ip:port` to: a socket bound to the address
    /// before a wildcard one.
    fn socket_for(&self, proto: Proto, ip: IpAddr, port: u16, iif: Option<&str>) -> Option<usize> {
        let ip = unmap(ip);
        let fits = |l: &Listener| {
            let (v4, v6) = families(l.address, l.v6only);
            l.proto == proto
                && l.port == port
                && (if ip.is_ipv4() { v4 } else { v6 })
                && l.interface.as_deref().is_none_or(|d| Some(d) == iif)
        };
        let exact = self
            .listeners
            .iter()
            .position(|l| fits(l) && unmap(l.address) == ip);
        exact.or_else(|| {
            self.listeners
                .iter()
                .position(|l| fits(l) && unmap(l.address).is_unspecified())
        })
    }
}

fn is_link_local(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    }
}

/// How the search is asked.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Interfaces declared with `--uplink`.
    pub uplinks: Vec<String>,
    /// Other network namespaces of this machine are visible (so a veth whose far end is
    /// elsewhere leads to one of them).
    pub sees_other_namespaces: bool,
}

/// A port a DNAT or REDIRECT rule publishes, as the search found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatPublication {
    /// The namespace whose rule it is.
    pub netns: u64,
    /// TCP or UDP.
    pub proto: Proto,
    /// The address the rule matches (unspecified: any local address).
    pub address: IpAddr,
    /// The port it matches.
    pub port: u16,
    /// Where it sends connections.
    pub target: IpAddr,
    /// The port there.
    pub target_port: u16,
    /// `dnat` or `redirect`.
    pub arrival: Arrival,
    /// The rule.
    pub rule: RuleRef,
    /// A connection through it reached a listener.
    pub reached: bool,
    /// What dropped it after the rewrite, when something did.
    pub dropped_by: Option<String>,
}

/// What the search found.
#[derive(Debug, Clone, Default)]
pub struct Assessment {
    /// One exposure per listener of each site, in the sites' order.
    pub exposures: Vec<Vec<Exposure>>,
    /// The uplinks of every site.
    pub uplinks: Vec<Uplink>,
    /// Ports published by NAT rules.
    pub publications: Vec<NatPublication>,
}

/// Where a walk ended.
enum Stop {
    /// Delivered in site `.0`.
    At(usize, Branch),
    /// Dropped in site `.0` by a rule, or by the kernel (`RuleRef` with tool `kernel`).
    Drop(usize, Branch, RuleRef, String),
    /// Undecided in site `.0`.
    Unknown(usize, Branch, Option<RuleRef>, String),
}

/// A packet as the sender sends it, with the first NAT rule that rewrote it.
struct Walker<'s, 'a> {
    sites: &'s [Site<'a>],
}

impl Walker<'_, '_> {
    fn rule_ref(&self, id: RuleId) -> RuleRef {
        let rs = &self.sites[id.site].filter.rules;
        let chain = &rs.chains[id.chain];
        let origin = &rs.origins[chain.origin];
        let (handle, text) = match id.rule {
            Some(i) => (chain.rules[i].handle, chain.rules[i].text.clone()),
            None => (None, "policy drop".to_owned()),
        };
        RuleRef {
            tool: origin.tool.clone(),
            family: origin.family.clone(),
            table: origin.table.clone(),
            chain: chain.name.clone(),
            handle,
            text,
        }
    }

    fn kernel_rule(text: String) -> RuleRef {
        RuleRef {
            tool: "kernel".into(),
            family: String::new(),
            table: String::new(),
            chain: "routing".into(),
            handle: None,
            text,
        }
    }

    /// Walk `branch` (arriving in `site`) to where it stops, through at most 4 namespaces.
    fn travel(&self, site: usize, branch: Branch, depth: u8, out: &mut Vec<Stop>) {
        let s = &self.sites[site];
        let ev = Evaluator::new(&s.filter.rules, s, site);
        for end in ev.hook(Hook::Prerouting, branch) {
            let mut b = match end {
                End::Accept(b) => b,
                other => {
                    out.push(self.stop(site, other));
                    continue;
                }
            };
            let daddr = unmap(b.pkt.daddr);
            let iif_loopback = s
                .interfaces
                .iter()
                .any(|i| i.loopback && i.name == b.pkt.iif);
            if s.is_local(daddr) {
                if daddr.is_loopback() && !iif_loopback {
                    if daddr.is_ipv6() {
                        let why =
                            format!("the kernel drops packets to ::1 arriving on {}", b.pkt.iif);
                        out.push(Stop::Drop(site, b, Self::kernel_rule(why.clone()), why));
                        continue;
                    }
                    if !s.route_localnet(&b.pkt.iif) {
                        let why = format!(
                            "the kernel drops packets to 127.0.0.0/8 arriving on {} (net.ipv4.conf.{}.route_localnet=0)",
                            b.pkt.iif, b.pkt.iif
                        );
                        out.push(Stop::Drop(site, b, Self::kernel_rule(why.clone()), why));
                        continue;
                    }
                }
                for end in ev.hook(Hook::Input, b) {
                    match end {
                        End::Accept(b) => out.push(Stop::At(site, b)),
                        other => out.push(self.stop(site, other)),
                    }
                }
                continue;
            }
            if !s.forwards(&b.pkt.iif, b.pkt.v4) {
                continue;
            }
            let Some(oif) = s.out_interface(daddr) else {
                continue;
            };
            b.pkt.oif = Some(oif.name.clone());
            for end in ev.hook(Hook::Forward, b) {
                let b = match end {
                    End::Accept(b) => b,
                    other => {
                        out.push(self.stop(site, other));
                        continue;
                    }
                };
                let next = self
                    .sites
                    .iter()
                    .enumerate()
                    .find(|(i, t)| *i != site && t.holder(daddr).is_some());
                let (Some((t, target)), true) = (next, depth < 4) else {
                    continue;
                };
                let Some(iif) = target.holder(daddr) else {
                    continue;
                };
                let mut nb = b;
                nb.pkt.iif = iif.name.clone();
                nb.pkt.oif = None;
                // Connection tracking is per namespace: a new connection there, whose
                // rewrite (if any) is the first namespace's.
                nb.pkt.dnat = false;
                nb.accepted_by = None;
                let first_nat = nb.nat_by.take();
                let mut sub = Vec::new();
                self.travel(t, nb, depth + 1, &mut sub);
                for mut st in sub {
                    let br = match &mut st {
                        Stop::At(_, b) | Stop::Drop(_, b, ..) | Stop::Unknown(_, b, ..) => b,
                    };
                    if first_nat.is_some() {
                        br.nat_by = first_nat;
                    }
                    out.push(st);
                }
            }
        }
    }

    fn stop(&self, site: usize, end: End) -> Stop {
        match end {
            End::Accept(b) => Stop::At(site, b),
            End::Drop(b, id) => {
                let r = self.rule_ref(id);
                let why = format!("dropped by {}", describe(&r));
                Stop::Drop(site, b, r, why)
            }
            End::Unknown(b, id, why) => {
                let r = id.map(|id| self.rule_ref(id));
                Stop::Unknown(site, b, r, why)
            }
        }
    }
}

/// `nft: inet fw input: tcp dport 22 drop (handle 7)`.
pub fn describe(r: &RuleRef) -> String {
    if r.tool == "kernel" {
        return r.text.clone();
    }
    let handle = r
        .handle
        .map(|h| format!(" (handle {h})"))
        .unwrap_or_default();
    format!(
        "{}: {} {} {}: {}{handle}",
        r.tool, r.family, r.table, r.chain, r.text
    )
}

/// A path: the uplink (name, namespace), how it arrives, the address and port sent to.
type PathKey = (String, u64, Arrival, IpAddr, u16);

/// Path evidence per (site, listener) and path.
type Found = HashMap<(usize, usize), BTreeMap<PathKey, Acc>>;

/// NAT publications by rule (site, chain, rule), protocol, port and matched address.
type NatKeyed = BTreeMap<(usize, usize, Option<usize>, Proto, u16, IpAddr), NatPublication>;

/// One path's evidence, gathered over the branches of its packet.
#[derive(Default)]
struct Acc {
    open: bool,
    accepted_by: Option<RuleRef>,
    sources: BTreeSet<String>,
    dropped: Option<(RuleRef, String)>,
    unknown: Option<(Option<RuleRef>, String)>,
    nat: Option<RuleRef>,
}

/// A packet a sender could send to an uplink.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Probe {
    iface: String,
    daddr: IpAddr,
    proto: Proto,
    dport: u16,
}

/// Search every site's uplinks for paths to every listener.
pub fn assess(sites: &[Site<'_>], options: &Options) -> Assessment {
    let walker = Walker { sites };
    let mut out = Assessment {
        exposures: Vec::new(),
        ..Assessment::default()
    };
    let mut found: Found = HashMap::new();
    let mut nat_pubs: NatKeyed = BTreeMap::new();
    for (si, site) in sites.iter().enumerate() {
        let ups: Vec<(&Interface, String, bool)> = site
            .interfaces
            .iter()
            .filter_map(|i| {
                uplinks::uplink_reason(
                    i,
                    site.interfaces,
                    &options.uplinks,
                    options.sees_other_namespaces,
                )
                .map(|(r, d)| (i, r, d))
            })
            .collect();
        for (i, reason, declared) in &ups {
            out.uplinks.push(Uplink {
                netns: site.inode,
                interface: i.name.clone(),
                reason: reason.clone(),
                declared: *declared,
            });
        }
        for (up, _, _) in &ups {
            for v4 in [true, false] {
                if !up.has_family(v4) {
                    continue;
                }
                for probe in probes(sites, si, up, v4) {
                    let pkt = Packet {
                        v4,
                        iif: probe.iface.clone(),
                        oif: None,
                        daddr: probe.daddr,
                        proto: probe.proto,
                        dport: probe.dport,
                        dnat: false,
                        local: None,
                    };
                    let mut stops = Vec::new();
                    walker.travel(
                        si,
                        Branch {
                            pkt,
                            sources: Vec::new(),
                            accepted_by: None,
                            nat_by: None,
                            marked_by: Vec::new(),
                            tproxy_by: None,
                        },
                        0,
                        &mut stops,
                    );
                    record(&walker, site, &probe, stops, &mut found, &mut nat_pubs);
                }
            }
        }
    }
    for (si, site) in sites.iter().enumerate() {
        let list = site
            .listeners
            .iter()
            .enumerate()
            .map(|(li, l)| {
                exposure_of(
                    site,
                    l,
                    found.remove(&(si, li)).unwrap_or_default(),
                    &out.uplinks,
                )
            })
            .collect();
        out.exposures.push(list);
    }
    out.publications = nat_pubs.into_values().collect();
    out
}

/// Every destination a sender on `up` might use.
fn probes(sites: &[Site<'_>], si: usize, up: &Interface, v4: bool) -> BTreeSet<Probe> {
    let site = &sites[si];
    let mut out = BTreeSet::new();
    let mut add = |daddr: IpAddr, proto: Proto, dport: u16| {
        if daddr.is_ipv4() == v4 {
            out.insert(Probe {
                iface: up.name.clone(),
                daddr,
                proto,
                dport,
            });
        }
    };
    let local = site.addresses(v4);
    let targets = |s: &Site<'_>, l: &Listener, local: &[IpAddr]| -> Vec<IpAddr> {
        let (a4, a6) = families(l.address, l.v6only);
        if !(if v4 { a4 } else { a6 }) {
            return Vec::new();
        }
        let a = unmap(l.address);
        if a.is_unspecified() {
            local.to_vec()
        } else if a.is_loopback() {
            // Only through route_localnet, and only IPv4.
            if v4 && s.route_localnet(&up.name) {
                vec![a]
            } else {
                Vec::new()
            }
        } else {
            vec![a]
        }
    };
    for l in &site.listeners {
        for a in targets(site, l, &local) {
            add(a, l.proto, l.port);
        }
    }
    // Namespaces this one routes to: their own addresses, as a sender with a route would use.
    for (ti, t) in sites.iter().enumerate() {
        if ti == si {
            continue;
        }
        let theirs = t.addresses(v4);
        if !theirs.iter().any(|a| site.out_interface(*a).is_some()) {
            continue;
        }
        for l in &t.listeners {
            if unmap(l.address).is_loopback() {
                continue;
            }
            for a in targets(t, l, &theirs) {
                add(a, l.proto, l.port);
            }
        }
    }
    // Each NAT rule's own match.
    for (_, rule) in site.filter.rules.nat_rules() {
        let mut protos = vec![Proto::Tcp, Proto::Udp];
        let mut ports: Vec<u16> = Vec::new();
        let mut daddrs: Vec<IpAddr> = Vec::new();
        let mut wants_local = false;
        for c in &rule.conds {
            match c {
                Cond::Proto(ps, false) => protos.retain(|p| {
                    ps.contains(&match p {
                        Proto::Tcp => 6,
                        Proto::Udp => 17,
                    })
                }),
                Cond::Dport(r, false) => {
                    for (a, b) in r {
                        ports.extend((*a..=*b).take(16));
                    }
                }
                Cond::Daddr(nets, false) => daddrs.extend(nets.iter().map(|n| {
                    if n.prefix_len() == n.max_prefix_len() {
                        n.addr()
                    } else {
                        // A prefix: one of this host's addresses in it, else its first address.
                        local
                            .iter()
                            .copied()
                            .find(|a| n.contains(a))
                            .unwrap_or_else(|| n.hosts().next().unwrap_or(n.addr()))
                    }
                })),
                Cond::DaddrLocal(false) => wants_local = true,
                _ => {}
            }
        }
        if daddrs.is_empty() {
            daddrs.extend(local.iter().copied());
            if wants_local && v4 && site.route_localnet(&up.name) {
                daddrs.push(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
            }
        }
        if ports.is_empty() {
            // Every port: the ports something listens on anywhere here.
            ports = sites
                .iter()
                .flat_map(|s| s.listeners.iter().map(|l| l.port))
                .collect::<BTreeSet<u16>>()
                .into_iter()
                .take(256)
                .collect();
        }
        if let Action::Dnat { .. } | Action::Redirect { .. } = rule.action {
            for p in &protos {
                for port in &ports {
                    for d in &daddrs {
                        add(*d, *p, *port);
                    }
                }
            }
        }
    }
    out
}

fn record(
    walker: &Walker<'_, '_>,
    site: &Site<'_>,
    probe: &Probe,
    stops: Vec<Stop>,
    found: &mut Found,
    nat_pubs: &mut NatKeyed,
) {
    for stop in stops {
        let (at, b) = match &stop {
            Stop::At(t, b) | Stop::Drop(t, b, ..) | Stop::Unknown(t, b, ..) => (*t, b),
        };
        // The site the packet was headed for, and the socket there.
        let daddr = unmap(b.pkt.daddr);
        let dest = if walker.sites[at].is_local(daddr) {
            Some(at)
        } else {
            walker.sites.iter().position(|t| t.holder(daddr).is_some())
        };
        let iif = match &stop {
            Stop::At(..) => Some(b.pkt.iif.as_str()),
            _ => None,
        };
        let listener = dest.and_then(|d| {
            walker.sites[d]
                .socket_for(b.pkt.proto, daddr, b.pkt.dport, iif)
                .map(|l| (d, l))
        });
        let nat = b.nat_by.map(|id| walker.rule_ref(id));
        let nat_rule_of = |id: RuleId| {
            walker.sites[id.site].filter.rules.chains[id.chain]
                .rules
                .get(id.rule.unwrap_or(usize::MAX))
        };
        let arrival = match b.nat_by.and_then(nat_rule_of).map(|r| &r.action) {
            Some(Action::Redirect { .. }) => Arrival::Redirect,
            Some(_) => Arrival::Dnat,
            None => Arrival::Direct,
        };
        if let (Some(id), Some(nat_rule)) = (b.nat_by, &nat) {
            let rule_daddr = nat_rule_of(id)
                .map_or(&[][..], |r| r.conds.as_slice())
                .iter()
                .find_map(|c| match c {
                    Cond::Daddr(n, false)
                        if n.len() == 1 && n[0].prefix_len() == n[0].max_prefix_len() =>
                    {
                        Some(n[0].addr())
                    }
                    _ => None,
                });
            let address = rule_daddr.unwrap_or(if probe.daddr.is_ipv4() {
                IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
            } else {
                IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
            });
            let entry = nat_pubs
                .entry((
                    id.site,
                    id.chain,
                    id.rule,
                    probe.proto,
                    probe.dport,
                    address,
                ))
                .or_insert_with(|| NatPublication {
                    netns: site.inode,
                    proto: probe.proto,
                    address,
                    port: probe.dport,
                    target: daddr,
                    target_port: b.pkt.dport,
                    arrival,
                    rule: nat_rule.clone(),
                    reached: false,
                    dropped_by: None,
                });
            match &stop {
                Stop::At(..) if listener.is_some() => entry.reached = true,
                Stop::Drop(_, _, _, why) if entry.dropped_by.is_none() => {
                    entry.dropped_by = Some(why.clone())
                }
                _ => {}
            }
        }
        let Some((d, li)) = listener else { continue };
        let key = (
            probe.iface.clone(),
            site.inode,
            arrival,
            probe.daddr,
            probe.dport,
        );
        let acc = found.entry((d, li)).or_default().entry(key).or_default();
        if acc.nat.is_none() {
            acc.nat = nat;
        }
        match stop {
            Stop::At(_, b) => {
                let by = b.accepted_by.map(|id| walker.rule_ref(id));
                // Only listed senders qualify: restricted; exclusions alone leave it open.
                if b.sources.iter().any(|s| s.include) {
                    acc.sources.extend(
                        b.sources
                            .iter()
                            .filter(|s| s.include)
                            .map(|s| s.text.clone()),
                    );
                    if acc.accepted_by.is_none() {
                        acc.accepted_by = by;
                    }
                } else {
                    acc.open = true;
                    if by.is_some() {
                        acc.accepted_by = by;
                    }
                }
            }
            Stop::Drop(_, _, r, why) => {
                if acc.dropped.is_none() {
                    acc.dropped = Some((r, why));
                }
            }
            Stop::Unknown(_, _, r, why) => {
                if acc.unknown.is_none() {
                    acc.unknown = Some((r, why));
                }
            }
        }
    }
}

fn exposure_of(
    site: &Site<'_>,
    l: &Listener,
    paths: BTreeMap<PathKey, Acc>,
    uplinks: &[Uplink],
) -> Exposure {
    let mut notes = Vec::new();
    let mut list = Vec::new();
    for ((interface, netns, arrival, address, port), acc) in paths {
        let (mut state, rule, sources, mut detail) = if acc.open {
            (
                ExposureState::Open,
                acc.accepted_by,
                Vec::new(),
                match &acc.nat {
                    Some(n) => format!("rewritten by {}", describe(n)),
                    None => "reaches the socket".to_owned(),
                },
            )
        } else if let Some((r, why)) = acc.unknown {
            (ExposureState::Unknown, r, Vec::new(), why)
        } else if !acc.sources.is_empty() {
            let s: Vec<String> = acc.sources.into_iter().collect();
            let d = format!("only {}", s.join("; "));
            (ExposureState::Restricted, acc.accepted_by, s, d)
        } else if let Some((r, why)) = acc.dropped {
            (ExposureState::Filtered, Some(r), Vec::new(), why)
        } else {
            continue;
        };
        if matches!(state, ExposureState::Open | ExposureState::Restricted) {
            if let Some(why) = &site.filter.incomplete {
                state = ExposureState::Unknown;
                detail = why.clone();
            }
        }
        if arrival != Arrival::Direct && address.is_loopback() {
            detail.push_str(&format!(
                "; the rule matches {address} whatever interface the packet arrives on, so a host on {interface} reaches it with packets addressed to {address} (moby issue 41872)"
            ));
        }
        list.push(ExposurePath {
            interface,
            netns,
            arrival,
            address,
            port,
            state,
            sources,
            rule,
            nat_rule: acc.nat,
            detail,
        });
    }
    let any = |s: ExposureState| list.iter().any(|p| p.state == s);
    let state = if any(ExposureState::Open) {
        ExposureState::Open
    } else if any(ExposureState::Unknown) {
        ExposureState::Unknown
    } else if any(ExposureState::Restricted) {
        ExposureState::Restricted
    } else if any(ExposureState::Filtered) {
        ExposureState::Filtered
    } else {
        ExposureState::None
    };
    let site_uplinks = uplinks.iter().filter(|u| u.netns == site.inode).count();
    if state == ExposureState::None && l.bind_scope != BindScope::Loopback && site_uplinks == 0 {
        notes.push(
            "no interface of this namespace leads off the machine (declare one with --uplink)"
                .into(),
        );
    }
    let exposed = matches!(
        state,
        ExposureState::Open | ExposureState::Restricted | ExposureState::Unknown
    );
    let (a4, a6) = families(l.address, l.v6only);
    let internal = l.bind_scope != BindScope::Loopback
        && site
            .interfaces
            .iter()
            .any(|i| !i.loopback && ((a4 && i.has_family(true)) || (a6 && i.has_family(false))));
    Exposure {
        state,
        reach: if exposed {
            ExposureReach::Network
        } else if internal {
            ExposureReach::Machine
        } else {
            ExposureReach::Namespace
        },
        paths: list,
        notes,
    }
}

/// How a locally sent packet leaves the output hook.
#[derive(Debug, Clone, PartialEq, Eq)]
// A handful per trace, consumed at once: boxing the large variant would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum OutputEnd {
    /// It passed: the packet as it is now, the rules that set its mark, the NAT rule that
    /// rewrote it.
    Passed {
        /// The packet after the hook.
        pkt: Packet,
        /// Each mark rule, with the mark after it.
        marks: Vec<RuleRef>,
        /// The NAT rule.
        nat: Option<RuleRef>,
        /// The TPROXY rule that delivers it to a transparent socket.
        tproxy: Option<RuleRef>,
    },
    /// A rule dropped or rejected it.
    Dropped(RuleRef),
    /// A rule that decides is not modelled.
    Unknown(Option<RuleRef>, String),
}

/// Pass `pkt`, sent by a socket of this namespace, through the output hook: the mangle
/// (route) chains that set marks, the NAT chains that rewrite its destination, the filter.
/// Each branch the rules split it into is one end.
pub fn output_hook(filter: &Filter, interfaces: &[Interface], pkt: Packet) -> Vec<OutputEnd> {
    hook_ends(filter, interfaces, Hook::Output, pkt)
}

/// Pass `pkt`, which a local route sent back in through the loopback device, through the
/// prerouting hook: where a TPROXY rule hands it to a transparent proxy's socket.
pub fn looped_prerouting(
    filter: &Filter,
    interfaces: &[Interface],
    mut pkt: Packet,
) -> Vec<OutputEnd> {
    pkt.iif = crate::scope::loopback_name(interfaces);
    pkt.oif = None;
    hook_ends(filter, interfaces, Hook::Prerouting, pkt)
}

fn hook_ends(filter: &Filter, interfaces: &[Interface], hook: Hook, pkt: Packet) -> Vec<OutputEnd> {
    let site = Site {
        inode: 0,
        interfaces,
        kernel: None,
        filter,
        listeners: Vec::new(),
    };
    let walker = Walker {
        sites: std::slice::from_ref(&site),
    };
    let ev = Evaluator::new(&filter.rules, &site, 0);
    let start = Branch {
        pkt,
        sources: Vec::new(),
        accepted_by: None,
        nat_by: None,
        marked_by: Vec::new(),
        tproxy_by: None,
    };
    ev.hook(hook, start)
        .into_iter()
        .map(|end| match end {
            End::Accept(b) => OutputEnd::Passed {
                marks: b.marked_by.iter().map(|id| walker.rule_ref(*id)).collect(),
                nat: b.nat_by.map(|id| walker.rule_ref(id)),
                tproxy: b.tproxy_by.map(|id| walker.rule_ref(id)),
                pkt: b.pkt,
            },
            End::Drop(_, id) => OutputEnd::Dropped(walker.rule_ref(id)),
            End::Unknown(_, id, why) => OutputEnd::Unknown(id.map(|id| walker.rule_ref(id)), why),
        })
        .collect()
}

/// What this host's own connection to `daddr:port` meets in the filter: it leaves through the
/// output hook and comes back in through the input hook on the loopback interface. The rule
/// that drops it, when one does (or the rule not modelled that may).
pub fn local_path(
    filter: &Filter,
    interfaces: &[Interface],
    daddr: IpAddr,
    proto: Proto,
    port: u16,
) -> Option<(RuleRef, String)> {
    let lo = crate::scope::loopback_name(interfaces);
    let listeners = Vec::new();
    let site = Site {
        inode: 0,
        interfaces,
        kernel: None,
        filter,
        listeners,
    };
    let walker = Walker {
        sites: std::slice::from_ref(&site),
    };
    let ev = Evaluator::new(&filter.rules, &site, 0);
    let daddr = unmap(daddr);
    let start = Branch {
        pkt: Packet {
            v4: daddr.is_ipv4(),
            iif: String::new(),
            oif: Some(lo.clone()),
            daddr,
            proto,
            dport: port,
            dnat: false,
            local: Some(eval::LocalSender::default()),
        },
        sources: Vec::new(),
        accepted_by: None,
        nat_by: None,
        marked_by: Vec::new(),
        tproxy_by: None,
    };
    let mut undecided = None;
    for out in ev.hook(Hook::Output, start) {
        let mut b = match out {
            End::Accept(b) => b,
            End::Drop(_, id) => {
                let r = walker.rule_ref(id);
                let why = format!("{} on the way out by {}", verb(filter, id), describe(&r));
                return Some((r, why));
            }
            End::Unknown(_, id, why) => {
                undecided = undecided.or(id.map(|id| (walker.rule_ref(id), why)));
                continue;
            }
        };
        b.pkt.iif = lo.clone();
        b.pkt.oif = None;
        for end in ev.hook(Hook::Input, b) {
            match end {
                End::Accept(_) => {}
                End::Drop(_, id) => {
                    let r = walker.rule_ref(id);
                    let why = format!("{} on the way in by {}", verb(filter, id), describe(&r));
                    return Some((r, why));
                }
                End::Unknown(_, id, why) => {
                    undecided = undecided.or(id.map(|id| (walker.rule_ref(id), why)));
                }
            }
        }
    }
    undecided.map(|(r, why)| {
        let text = format!("perhaps dropped by {}: {why}", describe(&r));
        (r, text)
    })
}

/// `rejected` for a rule that answers the sender (`reject`, `-j REJECT`), else `dropped` (a
/// drop rule, or a chain's drop policy).
fn verb(filter: &Filter, id: RuleId) -> &'static str {
    let rule = id
        .rule
        .and_then(|i| filter.rules.chains.get(id.chain)?.rules.get(i));
    match rule.map(|r| &r.action) {
        Some(Action::Reject) => "rejected",
        _ => "dropped",
    }
}

/// The command that removes a rule: `nft delete rule … handle N`, `iptables -t T -D …`.
pub fn removal(r: &RuleRef) -> Option<String> {
    match r.tool.as_str() {
        "nft" => r.handle.map(|h| {
            format!(
                "nft delete rule {} {} {} handle {h}",
                r.family, r.table, r.chain
            )
        }),
        "iptables" | "ip6tables" | "iptables-legacy" | "ip6tables-legacy" => r
            .text
            .strip_prefix("-A ")
            .map(|spec| format!("{} -t {} -D {spec}", r.tool, r.table)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::iface;
    use loopback_sys::Ruleset as Dump;

    fn filter(tool: &str, text: &str) -> Filter {
        ruleset_of(&Part::Captured(FirewallDump {
            rulesets: vec![Dump {
                tool: tool.into(),
                text: text.into(),
            }],
            unreadable: Vec::new(),
            off: None,
        }))
    }

    #[test]
    fn a_port_specific_drop_on_lo_is_named() {
        let f = filter("iptables", "# Generated by iptables-save v1.8.9 (nf_tables)\n*filter\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A INPUT -i lo -p tcp -m tcp --dport 5432 -j DROP\nCOMMIT\n");
        let ifs = vec![iface(1, "lo", true, &["127.0.0.1/8"])];
        let lo: IpAddr = "127.0.0.1".parse().expect("ip");
        let (r, why) = local_path(&f, &ifs, lo, Proto::Tcp, 5432).expect("dropped");
        assert!(why.contains("on the way in"), "{why}");
        assert_eq!(
            removal(&r).as_deref(),
            Some("iptables -t filter -D INPUT -i lo -p tcp -m tcp --dport 5432 -j DROP")
        );
        assert!(local_path(&f, &ifs, lo, Proto::Tcp, 5433).is_none());
        assert!(local_path(&f, &ifs, lo, Proto::Udp, 5432).is_none());
    }

    /// A reject is told from a drop by the rule's verdict, not by words in its text: a drop
    /// whose comment says "reject" still drops.
    #[test]
    fn rejected_or_dropped_by_the_verdict() {
        let f = filter("iptables", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -i lo -p tcp --dport 1 -j REJECT --reject-with tcp-reset\n-A INPUT -i lo -p tcp --dport 2 -m comment --comment \"reject later\" -j DROP\nCOMMIT\n");
        let ifs = vec![iface(1, "lo", true, &["127.0.0.1/8"])];
        let lo: IpAddr = "127.0.0.1".parse().expect("ip");
        let why = |port| local_path(&f, &ifs, lo, Proto::Tcp, port).map(|(_, w)| w);
        assert!(why(1).is_some_and(|w| w.starts_with("rejected on the way in")));
        assert!(why(2).is_some_and(|w| w.starts_with("dropped on the way in")));
    }

    /// A host with an uplink, a bridge to a container and Docker-like rules: only what is
    /// DNATed is forwarded; the unpublished port is filtered; the filter unread is unknown.
    #[test]
    fn search_through_dnat_into_a_container() {
        let host_ifs = vec![
            iface(1, "lo", true, &["127.0.0.1/8"]),
            iface(2, "eth0", false, &["192.0.2.10/24"]),
            {
                let mut b = iface(3, "br0", false, &["10.1.0.1/24"]);
                b.kind = Some("bridge".into());
                b
            },
        ];
        let c_ifs = vec![iface(1, "lo", true, &["127.0.0.1/8"]), {
            let mut v = iface(2, "eth0", false, &["10.1.0.2/24"]);
            v.kind = Some("veth".into());
            v.peer_elsewhere = true;
            v
        }];
        let f = filter("iptables", "*nat\n:PREROUTING ACCEPT [0:0]\n-A PREROUTING -i eth0 -p tcp --dport 8080 -j DNAT --to-destination 10.1.0.2:80\nCOMMIT\n*filter\n:FORWARD DROP [0:0]\n-A FORWARD -m conntrack --ctstate DNAT -j ACCEPT\nCOMMIT\n");
        let empty = filter("iptables", "");
        let mk = |port: u16| loopback_model::Listener {
            inode: u64::from(port),
            netns: 2,
            ..crate::testing::listener(Proto::Tcp, "0.0.0.0", port)
        };
        let (l80, l81) = (mk(80), mk(81));
        let sites = vec![
            Site {
                inode: 1,
                interfaces: &host_ifs,
                kernel: None,
                filter: &f,
                listeners: vec![],
            },
            Site {
                inode: 2,
                interfaces: &c_ifs,
                kernel: None,
                filter: &empty,
                listeners: vec![&l80, &l81],
            },
        ];
        let a = assess(
            &sites,
            &Options {
                uplinks: vec![],
                sees_other_namespaces: true,
            },
        );
        assert_eq!(a.uplinks.len(), 1, "{:?}", a.uplinks);
        assert_eq!(a.uplinks[0].interface, "eth0");
        let e80 = &a.exposures[1][0];
        assert_eq!(e80.state, ExposureState::Open, "{e80:#?}");
        assert!(e80.paths.iter().any(|p| p.arrival == Arrival::Dnat
            && p.port == 8080
            && p.state == ExposureState::Open));
        let e81 = &a.exposures[1][1];
        assert_eq!(e81.state, ExposureState::Filtered, "{e81:#?}");
        assert_eq!(e81.reach, ExposureReach::Machine);
        assert_eq!(a.publications.len(), 1);
        assert!(a.publications[0].reached);
        assert_eq!(a.publications[0].port, 8080);

        // With forwarding off on the uplink, the DNATed connection goes nowhere.
        let mut k = KernelSettings::default();
        k.forwarding_v4.insert("eth0".into(), false);
        let mut off = sites;
        off[0].kernel = Some(&k);
        let a = assess(
            &off,
            &Options {
                uplinks: vec![],
                sees_other_namespaces: true,
            },
        );
        assert_eq!(
            a.exposures[1][0].state,
            ExposureState::None,
            "{:#?}",
            a.exposures[1][0]
        );
        assert!(!a.publications.iter().any(|p| p.reached));
    }
}
