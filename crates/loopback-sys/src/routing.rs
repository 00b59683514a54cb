//! Policy routing as the kernel answers it: the route a socket's packet takes
//! ([`RouteAnswer`], from one `RTM_GETROUTE` with its uid and mark) and the `ip rule` list
//! ([`PolicyRule`]). Plain data on every platform; Linux fills it (`parse::policy` holds the
//! netlink codec), the other systems say it is not available.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// What kind of route the kernel picked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteKind {
    /// Out through an interface (maybe via a gateway).
    Unicast,
    /// Delivered to this host.
    Local,
    /// Dropped silently.
    Blackhole,
    /// Refused: unreachable.
    Unreachable,
    /// Refused: prohibited.
    Prohibit,
    /// Anything else (broadcast, multicast, ...).
    Other,
}

/// The kernel's answer for one destination, uid and mark.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteAnswer {
    /// The table the route came from (254 main, 255 local).
    pub table: u32,
    /// Its kind.
    pub kind: RouteKind,
    /// The interface it leaves by (its index).
    pub oif: Option<u32>,
    /// The next hop.
    pub gateway: Option<IpAddr>,
    /// The source address it would use.
    pub source: Option<IpAddr>,
}

/// What a policy rule does when its selectors match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RuleVerdict {
    /// Look the route up in its table.
    Table,
    /// Jump to another rule.
    Goto,
    /// Nothing.
    Nop,
    /// Drop.
    Blackhole,
    /// Refuse: unreachable.
    Unreachable,
    /// Refuse: prohibited.
    Prohibit,
}

/// One `ip rule`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyRule {
    /// IPv4 (else IPv6).
    pub v4: bool,
    /// Its priority (the order rules are tried in).
    pub priority: u32,
    /// `not`: the selectors are inverted.
    pub invert: bool,
    /// `from PREFIX`.
    pub from: Option<(IpAddr, u8)>,
    /// `to PREFIX`.
    pub to: Option<(IpAddr, u8)>,
    /// `fwmark V/M`.
    pub fwmark: Option<(u32, u32)>,
    /// `uidrange A-B`.
    pub uidrange: Option<(u32, u32)>,
    /// `iif NAME`.
    pub iif: Option<String>,
    /// `oif NAME`.
    pub oif: Option<String>,
    /// `suppress_prefixlength N`: a route this specific or less is ignored.
    pub suppress_prefixlength: Option<u32>,
    /// What it does.
    pub verdict: RuleVerdict,
    /// `lookup TABLE`.
    pub table: u32,
}

impl PolicyRule {
    /// As `ip rule` prints it, without the priority.
    pub fn text(&self) -> String {
        let mut s = String::new();
        if self.invert {
            s.push_str("not ");
        }
        match self.from {
            Some((a, l)) => s.push_str(&format!("from {a}/{l}")),
            None => s.push_str("from all"),
        }
        if let Some((a, l)) = self.to {
            s.push_str(&format!(" to {a}/{l}"));
        }
        if let Some((v, m)) = self.fwmark {
            if m == u32::MAX {
                s.push_str(&format!(" fwmark {v:#x}"));
            } else {
                s.push_str(&format!(" fwmark {v:#x}/{m:#x}"));
            }
        }
        if let Some((a, b)) = self.uidrange {
            s.push_str(&format!(" uidrange {a}-{b}"));
        }
        if let Some(i) = &self.iif {
            s.push_str(&format!(" iif {i}"));
        }
        if let Some(o) = &self.oif {
            s.push_str(&format!(" oif {o}"));
        }
        match self.verdict {
            RuleVerdict::Table => s.push_str(&format!(" lookup {}", table_name(self.table))),
            RuleVerdict::Goto => s.push_str(" goto"),
            RuleVerdict::Nop => s.push_str(" nop"),
            RuleVerdict::Blackhole => s.push_str(" blackhole"),
            RuleVerdict::Unreachable => s.push_str(" unreachable"),
            RuleVerdict::Prohibit => s.push_str(" prohibit"),
        }
        if let Some(n) = self.suppress_prefixlength {
            s.push_str(&format!(" suppress_prefixlength {n}"));
        }
        s
    }
}

/// The socket-address hooks a cgroup BPF program can attach to, where it may rewrite the
/// address a socket connects to, sends to or binds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SockAddrHook {
    /// `connect()` of an IPv4 socket.
    Connect4,
    /// `connect()` of an IPv6 socket.
    Connect6,
    /// `sendmsg()` of an IPv4 UDP socket.
    Sendmsg4,
    /// `sendmsg()` of an IPv6 UDP socket.
    Sendmsg6,
    /// Any other hook (bind, recvmsg, getpeername, ...), as the tool names it.
    Other,
}

/// A BPF program attached to a cgroup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupProgram {
    /// The cgroup it is attached to (its path in the unified hierarchy).
    pub cgroup: String,
    /// The program id (`bpftool prog show id N`).
    pub id: u32,
    /// Its name.
    pub name: String,
    /// The attach type as the tool prints it (`cgroup_inet4_connect`, `connect4`).
    pub attach_type: String,
    /// Which socket-address hook that is.
    pub hook: SockAddrHook,
}

impl SockAddrHook {
    /// The hook an attach type names, in libbpf's spelling or bpftool's short one.
    pub fn of(attach_type: &str) -> SockAddrHook {
        match attach_type {
            "cgroup_inet4_connect" | "connect4" => SockAddrHook::Connect4,
            "cgroup_inet6_connect" | "connect6" => SockAddrHook::Connect6,
            "cgroup_udp4_sendmsg" | "sendmsg4" => SockAddrHook::Sendmsg4,
            "cgroup_udp6_sendmsg" | "sendmsg6" => SockAddrHook::Sendmsg6,
            _ => SockAddrHook::Other,
        }
    }
}

/// `main`, `local`, `default` or the number.
pub fn table_name(t: u32) -> String {
    match t {
        254 => "main".into(),
        255 => "local".into(),
        253 => "default".into(),
        n => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_text_reads_like_ip_rule() {
        let r = PolicyRule {
            v4: true,
            priority: 100,
            invert: true,
            from: None,
            to: None,
            fwmark: Some((0xca6c, u32::MAX)),
            uidrange: None,
            iif: None,
            oif: None,
            suppress_prefixlength: None,
            verdict: RuleVerdict::Table,
            table: 51820,
        };
        assert_eq!(r.text(), "not from all fwmark 0xca6c lookup 51820");
    }
}
