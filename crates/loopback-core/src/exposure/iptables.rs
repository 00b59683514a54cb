//! `iptables-save` text (iptables-nft, iptables-legacy, and their IPv6 twins) into [`Ruleset`]
//! chains. Builtin chains get the priorities the kernel gives their tables; every option the
//! evaluator does not model becomes [`Cond::Unknown`] holding the option as printed, never a
//! guess.

use super::rules::{
    parse_net, parse_ports, Action, Base, Chain, ChainType, Cond, Hook, NamePattern, Pending, Rule,
    Ruleset,
};

/// The hook and priority of builtin chain `chain` of `table`.
fn builtin(table: &str, chain: &str) -> Option<(Hook, i32, ChainType)> {
    let hook = match chain {
        "PREROUTING" => Hook::Prerouting,
        "INPUT" => Hook::Input,
        "FORWARD" => Hook::Forward,
        "OUTPUT" => Hook::Output,
        "POSTROUTING" => Hook::Postrouting,
        _ => return None,
    };
    let (prio, kind) = match table {
        "raw" => (-300, ChainType::Filter),
        "mangle" => (-150, ChainType::Route),
        "nat" => match hook {
            Hook::Prerouting | Hook::Output => (-100, ChainType::Nat),
            _ => (100, ChainType::Nat),
        },
        "filter" => (0, ChainType::Filter),
        "security" => (50, ChainType::Filter),
        _ => return None,
    };
    Some((hook, prio, kind))
}

/// The tables listed in one `iptables-save` text (`*filter` ...).
pub fn tables(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix('*'))
        .map(|t| t.trim().to_owned())
        .collect()
}

/// Add the chains of an `iptables-save` text listed by `tool` (IPv6 when the tool name starts
/// with `ip6`).
pub fn parse(tool: &str, text: &str, out: &mut Ruleset) {
    let v6 = tool.starts_with("ip6");
    let family = if v6 { "ip6" } else { "ip" };
    let mut origin = None;
    let mut table = String::new();
    let mut pending = Pending::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if let Some(t) = line.strip_prefix('*') {
            table = t.trim().to_owned();
            origin = Some(out.origin(tool, family, &table));
        } else if let (Some(decl), Some(o)) = (line.strip_prefix(':'), origin) {
            let mut w = decl.split_whitespace();
            let (Some(name), policy) = (w.next(), w.next()) else {
                continue;
            };
            let base = builtin(&table, name).map(|(hook, prio, kind)| Base {
                hook,
                prio,
                policy_drop: policy == Some("DROP"),
                kind,
                devices: Vec::new(),
            });
            out.chains.push(Chain {
                origin: o,
                name: name.to_owned(),
                base,
                v4: !v6,
                v6,
                rules: Vec::new(),
            });
        } else if let (Some(spec), Some(o)) = (line.strip_prefix("-A "), origin) {
            let Some(words) = shlex::split(spec) else {
                out.warnings
                    .push(format!("{tool}: line {}: unbalanced quotes", n + 1));
                continue;
            };
            let Some(chain) = words.first().and_then(|c| out.find(o, c)) else {
                out.warnings.push(format!(
                    "{tool}: line {}: rule for an undeclared chain",
                    n + 1
                ));
                continue;
            };
            let (conds, action, target, set_mark) = rule(&words[1..]);
            let r = Rule {
                handle: None,
                text: line.to_owned(),
                conds,
                action,
                set_mark,
            };
            out.push_rule(chain, r, target, &mut pending);
        }
    }
    // Jumps resolved once every chain is declared.
    out.resolve(pending, |t| format!("-j {t}"));
}

/// The conditions and action of one rule's words (after `-A CHAIN`); the chain name of a
/// jump or goto comes back to be resolved.
fn rule(words: &[String]) -> super::rules::Parsed {
    let mut set_mark = None;
    let mut conds = Vec::new();
    let mut action = Action::Continue;
    let mut target = None;
    let mut neg = false;
    let mut i = 0;
    let next = |i: &mut usize| -> Option<&str> {
        *i += 1;
        words.get(*i).map(String::as_str)
    };
    while i < words.len() {
        let w = words[i].as_str();
        if w == "!" {
            neg = true;
            i += 1;
            continue;
        }
        let n = std::mem::take(&mut neg);
        match w {
            "-p" | "--protocol" => match next(&mut i).and_then(|p| {
                // `-p all` (or 0): any protocol, no condition.
                if p == "all" || p == "0" {
                    Some(None)
                } else {
                    proto_number(p).map(Some)
                }
            }) {
                Some(None) => {}
                Some(Some(p)) => conds.push(Cond::Proto(vec![p], n)),
                None => conds.push(Cond::Unknown(format!(
                    "-p {}",
                    words.get(i).map_or("", |s| s)
                ))),
            },
            "-s" | "--source" | "-d" | "--destination" => {
                let v = next(&mut i).unwrap_or("");
                let nets: Option<Vec<_>> = v.split(',').map(parse_net).collect();
                match nets {
                    Some(nets) if w.starts_with("-s") || w == "--source" => {
                        conds.push(Cond::Saddr(nets, n));
                    }
                    Some(nets) => conds.push(Cond::Daddr(nets, n)),
                    None => conds.push(Cond::Unknown(format!("{w} {v}"))),
                }
            }
            "-i" | "--in-interface" => {
                let v = next(&mut i).unwrap_or("");
                conds.push(Cond::Iif(vec![NamePattern::parse(v)], n));
            }
            "-o" | "--out-interface" => {
                let v = next(&mut i).unwrap_or("");
                conds.push(Cond::Oif(vec![NamePattern::parse(v)], n));
            }
            "-m" | "--match" => {
                let m = next(&mut i).unwrap_or("");
                if !matches!(
                    m,
                    "tcp"
                        | "udp"
                        | "multiport"
                        | "conntrack"
                        | "state"
                        | "addrtype"
                        | "comment"
                        | "owner"
                        | "mark"
                ) {
                    conds.push(Cond::Unknown(format!("-m {m}")));
                }
            }
            "--dport"
            | "--destination-port"
            | "--dports"
            | "--destination-ports"
            | "--sport"
            | "--source-port"
            | "--sports"
            | "--source-ports" => {
                let v = next(&mut i).unwrap_or("");
                match parse_ports(v) {
                    Some(r) if w.starts_with("--d") => conds.push(Cond::Dport(r, n)),
                    Some(r) => conds.push(Cond::Sport(r, n)),
                    None => conds.push(Cond::Unknown(format!("{w} {v}"))),
                }
            }
            "--ports" => {
                let v = next(&mut i).unwrap_or("");
                // Either port: the destination port is the one the evaluator knows; the source
                // port is the sender's choice.
                conds.push(Cond::Unknown(format!("--ports {v}")));
            }
            "--ctstate" | "--state" => {
                let v = next(&mut i).unwrap_or("");
                let states: Vec<String> = v.split(',').map(str::to_ascii_lowercase).collect();
                let dnat = states.iter().any(|s| s == "dnat");
                if dnat && states.len() == 1 {
                    conds.push(Cond::CtDnat(n));
                } else if dnat || states.iter().any(|s| s == "snat") {
                    conds.push(Cond::Unknown(format!("{w} {v}")));
                } else {
                    conds.push(Cond::CtState(states, n));
                }
            }
            "--dst-type" => {
                let v = next(&mut i).unwrap_or("");
                if v == "LOCAL" {
                    conds.push(Cond::DaddrLocal(n));
                } else {
                    conds.push(Cond::Unknown(format!("--dst-type {v}")));
                }
            }
            "--comment" => {
                next(&mut i);
            }
            "--uid-owner" => {
                let v = next(&mut i).unwrap_or("");
                match uid_range(v) {
                    Some(r) => conds.push(Cond::Skuid(vec![r], n)),
                    None => conds.push(Cond::Unknown(format!("--uid-owner {v}"))),
                }
            }
            "--mark" => {
                let v = next(&mut i).unwrap_or("");
                match mark_mask(v) {
                    Some((value, mask)) => conds.push(Cond::Mark {
                        value,
                        mask,
                        neg: n,
                    }),
                    None => conds.push(Cond::Unknown(format!("--mark {v}"))),
                }
            }
            "--set-mark" | "--set-xmark" => {
                let v = next(&mut i).unwrap_or("");
                match mark_mask(v) {
                    // --set-xmark V/M: mark = (mark & !M) ^ V, the same as --set-mark when V
                    // lies inside M, which is how iptables-save prints --set-mark.
                    Some((value, mask)) if value & !mask == 0 => set_mark = Some((value, mask)),
                    _ => action = Action::Unknown(format!("{w} {v}")),
                }
            }
            "--tcp-flags" => {
                // `--tcp-flags SYN,RST,ACK SYN` and friends: the first packet is a SYN.
                let mask = next(&mut i).unwrap_or("").to_owned();
                let set = next(&mut i).unwrap_or("").to_owned();
                let on = |f: &str| set.split(',').any(|x| x == f || x == "ALL");
                let masked = |f: &str| mask.split(',').any(|x| x == f || x == "ALL");
                let syn_only = ["FIN", "RST", "PSH", "ACK", "URG"]
                    .iter()
                    .all(|f| !(masked(f) && on(f)))
                    && (!masked("SYN") || on("SYN"));
                if syn_only == n {
                    conds.push(Cond::Never);
                }
            }
            "--syn" => {
                if n {
                    conds.push(Cond::Never);
                }
            }
            "-j" | "--jump" | "-g" | "--goto" => {
                let t = next(&mut i).unwrap_or("").to_owned();
                action = match t.as_str() {
                    "ACCEPT" => Action::Accept,
                    "DROP" => Action::Drop,
                    "REJECT" => Action::Reject,
                    "RETURN" => Action::Return,
                    "LOG" | "NFLOG" | "MARK" | "CONNMARK" | "MASQUERADE" | "SNAT" | "CT"
                    | "NOTRACK" | "TRACE" | "CHECKSUM" | "TCPMSS" | "DSCP" | "TOS" => {
                        Action::Continue
                    }
                    "DNAT" => Action::Dnat {
                        addr: None,
                        port: None,
                    },
                    "REDIRECT" => Action::Redirect { port: None },
                    "TPROXY" => Action::Unknown("-j TPROXY without --on-port".into()),
                    "QUEUE" | "NFQUEUE" | "TEE" | "SET" => Action::Unknown(format!("-j {t}")),
                    _ if builtin_target_unknown(&t) => Action::Unknown(format!("-j {t}")),
                    _ => {
                        target = Some(t.clone());
                        if w.starts_with("-g") || w == "--goto" {
                            Action::Goto(usize::MAX)
                        } else {
                            Action::Jump(usize::MAX)
                        }
                    }
                };
            }
            "--on-port" => {
                let v = next(&mut i).unwrap_or("");
                action = match (v.parse::<u16>(), &action) {
                    (Ok(port), Action::Unknown(_) | Action::Tproxy { .. }) => {
                        let addr = match &action {
                            Action::Tproxy { addr, .. } => *addr,
                            _ => None,
                        };
                        Action::Tproxy { addr, port }
                    }
                    _ => Action::Unknown(format!("--on-port {v}")),
                };
            }
            "--on-ip" => {
                let v = next(&mut i).unwrap_or("");
                match (v.parse::<std::net::IpAddr>(), &mut action) {
                    // 0.0.0.0 (what iptables-save prints without --on-ip): the packet's own
                    // destination.
                    (Ok(a), Action::Tproxy { addr, .. }) => {
                        *addr = (!a.is_unspecified()).then_some(a)
                    }
                    _ => action = Action::Unknown(format!("--on-ip {v}")),
                }
            }
            "--tproxy-mark" => {
                let v = next(&mut i).unwrap_or("");
                match mark_mask(v) {
                    Some((value, mask)) => set_mark = Some((value & mask, mask)),
                    None => action = Action::Unknown(format!("--tproxy-mark {v}")),
                }
            }
            "--to-destination" => {
                let v = next(&mut i).unwrap_or("");
                action = dnat_to(v);
            }
            "--to-ports" => {
                let v = next(&mut i).unwrap_or("");
                let port = parse_ports(v)
                    .and_then(|r| (r.len() == 1 && r[0].0 == r[0].1).then_some(r[0].0));
                action = match port {
                    Some(p) => Action::Redirect { port: Some(p) },
                    None => Action::Unknown(format!("-j REDIRECT --to-ports {v}")),
                };
            }
            "--reject-with" | "--log-prefix" | "--log-level" | "--to-source" | "--nflog-group"
            | "--nflog-prefix" | "--set-mss" => {
                next(&mut i);
            }
            "--clamp-mss-to-pmtu"
            | "--log-uid"
            | "--random"
            | "--random-fully"
            | "--persistent" => {}
            other => conds.push(Cond::Unknown(other.to_owned())),
        }
        i += 1;
    }
    (conds, action, target, set_mark)
}

/// `N` or `N-M`: a uid range (iptables-save prints numbers).
fn uid_range(v: &str) -> Option<(u32, u32)> {
    match v.split_once('-') {
        Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
        None => v.parse().ok().map(|u| (u, u)),
    }
}

/// `V` or `V/M`, each decimal or `0x` hexadecimal.
pub(crate) fn mark_mask(v: &str) -> Option<(u32, u32)> {
    let num = |t: &str| match t.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => t.parse().ok(),
    };
    match v.split_once('/') {
        Some((a, b)) => Some((num(a)?, num(b)?)),
        None => Some((num(v)?, u32::MAX)),
    }
}

/// An uppercase name that is a target we do not model rather than a user chain. User chains
/// may be uppercase too (`DOCKER`), so only targets iptables ships are listed.
fn builtin_target_unknown(t: &str) -> bool {
    matches!(
        t,
        "AUDIT"
            | "CLASSIFY"
            | "CONNSECMARK"
            | "HMARK"
            | "IDLETIMER"
            | "LED"
            | "NETMAP"
            | "RATEEST"
            | "SECMARK"
            | "SYNPROXY"
            | "TTL"
            | "HL"
            | "ULOG"
            | "CLUSTERIP"
    )
}

/// `--to-destination ADDR[:PORT]` (`[V6]:PORT` for IPv6).
fn dnat_to(v: &str) -> Action {
    let unknown = || Action::Unknown(format!("-j DNAT --to-destination {v}"));
    let (addr, port) = if let Some(rest) = v.strip_prefix('[') {
        let Some((a, p)) = rest.split_once(']') else {
            return unknown();
        };
        (a, p.strip_prefix(':'))
    } else if v.matches(':').count() == 1 {
        let (a, p) = v.split_once(':').unwrap_or((v, ""));
        (a, Some(p))
    } else {
        (v, None)
    };
    let addr = if addr.is_empty() {
        None
    } else {
        match addr.parse() {
            Ok(a) => Some(a),
            // A range of addresses: where a connection lands is the kernel's choice.
            Err(_) => return unknown(),
        }
    };
    let port = match port {
        None => None,
        Some(p) => match p.parse() {
            Ok(p) => Some(p),
            Err(_) => return unknown(),
        },
    };
    Action::Dnat { addr, port }
}

fn proto_number(p: &str) -> Option<u8> {
    super::rules::proto_by_name(p).or_else(|| p.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCKER: &str = "# Generated by iptables-save v1.8.9 (nf_tables)\n*nat\n:PREROUTING ACCEPT [0:0]\n:INPUT ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n:POSTROUTING ACCEPT [0:0]\n:DOCKER - [0:0]\n-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER\n-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE\n-A DOCKER -i docker0 -j RETURN\n-A DOCKER -d 127.0.0.1/32 ! -i docker0 -p tcp -m tcp --dport 8081 -j DNAT --to-destination 172.17.0.2:80\nCOMMIT\n*filter\n:INPUT ACCEPT [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n:DOCKER - [0:0]\n-A FORWARD -o docker0 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n-A FORWARD -o docker0 -j DOCKER\n-A DOCKER -d 172.17.0.2/32 ! -i docker0 -o docker0 -p tcp -m tcp --dport 80 -j ACCEPT\n-A INPUT -m comment --comment \"a \\\"quoted\\\" note\" -m recent --rcheck -j DROP\nCOMMIT\n";

    #[test]
    fn docker_rules() {
        let mut rs = Ruleset::default();
        parse("iptables", DOCKER, &mut rs);
        assert!(rs.warnings.is_empty(), "{:?}", rs.warnings);
        let pre = &rs.chains[rs.base_chains(Hook::Prerouting, true)[0]];
        assert_eq!(pre.base.as_ref().map(|b| b.prio), Some(-100));
        assert_eq!(pre.rules[0].conds, vec![Cond::DaddrLocal(false)]);
        assert!(matches!(pre.rules[0].action, Action::Jump(_)));
        let docker = &rs.chains[rs.find(0, "DOCKER").expect("nat DOCKER")];
        let dnat = &docker.rules[1];
        assert_eq!(
            dnat.action,
            Action::Dnat {
                addr: Some("172.17.0.2".parse().expect("ip")),
                port: Some(80)
            }
        );
        assert!(dnat
            .conds
            .contains(&Cond::Iif(vec![NamePattern::parse("docker0")], true)));
        assert!(dnat.conds.contains(&Cond::Dport(vec![(8081, 8081)], false)));
        let fwd = &rs.chains[rs.base_chains(Hook::Forward, true)[0]];
        assert!(fwd.base.as_ref().is_some_and(|b| b.policy_drop));
        let input = &rs.chains[rs.base_chains(Hook::Input, true)[0]];
        assert_eq!(
            input.rules[0].conds,
            vec![
                Cond::Unknown("-m recent".into()),
                Cond::Unknown("--rcheck".into())
            ]
        );
        assert!(rs.base_chains(Hook::Input, false).is_empty());
    }

    #[test]
    fn hostile_text_does_not_panic() {
        let mut all = Ruleset::default();
        parse(
            "iptables",
            "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p all -j DROP\nCOMMIT\n",
            &mut all,
        );
        assert!(all.chains[0].rules[0].conds.is_empty());
        let mut rs = Ruleset::default();
        parse("iptables", "-A X -j Y\n*filter\n:INPUT\n-A NOPE -j ACCEPT\n-A INPUT -p\n-A INPUT -j\n-A INPUT \"unbalanced\n-A INPUT -j DNAT --to-destination [::1\n", &mut rs);
        assert_eq!(rs.warnings.len(), 2);
        assert_eq!(rs.chains[0].rules.len(), 3);
    }
}
