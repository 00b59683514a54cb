//! `nft -j list ruleset` into [`Ruleset`] chains, with each rule's text taken from
//! `nft -a list ruleset` by its handle.
//!
//! Written against `serde_json::Value` rather than a typed model of the schema (such as the
//! `nftables` crate's): a typed model rejects the whole document when one expression has a
//! shape it does not know, and here one unknown expression must make only its own rule
//! `unknown`, never hide the rest of the ruleset.

use std::collections::{HashMap, HashSet};

use ipnet::IpNet;
use serde_json::Value;

use super::rules::{
    parse_net, Action, Base, Chain, ChainType, Cond, Hook, NamePattern, Pending, Rule, Ruleset,
};

/// Rule texts by (family, table, handle), from `nft -a list ruleset`.
pub fn rule_texts(text: &str) -> HashMap<(String, String, u64), String> {
    let mut out = HashMap::new();
    let (mut family, mut table) = (String::new(), String::new());
    for line in text.lines() {
        let t = line.trim();
        let words: Vec<&str> = t.split_whitespace().collect();
        if let ["table", f, name, ..] = words.as_slice() {
            family = (*f).to_owned();
            table = (*name).to_owned();
            continue;
        }
        if let Some((rule, handle)) = t.rsplit_once(" # handle ") {
            if let Ok(h) = handle.trim().parse() {
                if !matches!(words.first(), Some(&("chain" | "table" | "set" | "map"))) {
                    out.insert((family.clone(), table.clone(), h), rule.trim().to_owned());
                }
            }
        }
    }
    out
}

/// Named sets' elements by (family, table, name).
type Sets = HashMap<(String, String, String), Vec<Value>>;

/// Add the chains of an `nft -j list ruleset` document, skipping the tables in `skip`
/// ((family, table) pairs another tool lists in its own language). `texts` gives each rule's
/// printed form.
pub fn parse(
    json: &str,
    skip: &HashSet<(String, String)>,
    texts: &HashMap<(String, String, u64), String>,
    out: &mut Ruleset,
) {
    let doc: Value = match serde_json::from_str(json) {
        Ok(v) => v,
        Err(e) => {
            out.warnings
                .push(format!("nft -j list ruleset: not JSON: {e}"));
            return;
        }
    };
    let Some(items) = doc.get("nftables").and_then(Value::as_array) else {
        out.warnings
            .push("nft -j list ruleset: no \"nftables\" array".into());
        return;
    };
    let str_of = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let wanted = |family: &str, table: &str| {
        matches!(family, "ip" | "ip6" | "inet" | "netdev")
            && !skip.contains(&(family.to_owned(), table.to_owned()))
    };
    let mut sets: Sets = HashMap::new();
    for item in items {
        if let Some(s) = item.get("set").or_else(|| item.get("map")) {
            let elems = s
                .get("elem")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            sets.insert(
                (str_of(s, "family"), str_of(s, "table"), str_of(s, "name")),
                elems,
            );
        }
    }
    for item in items {
        let Some(c) = item.get("chain") else { continue };
        let (family, table) = (str_of(c, "family"), str_of(c, "table"));
        if !wanted(&family, &table) {
            continue;
        }
        let origin = out.origin("nft", &family, &table);
        let base = c.get("hook").and_then(Value::as_str).and_then(|h| {
            let hook = match h {
                "prerouting" => Hook::Prerouting,
                "ingress" => Hook::Prerouting,
                "input" => Hook::Input,
                "forward" => Hook::Forward,
                "output" => Hook::Output,
                "postrouting" => Hook::Postrouting,
                _ => return None,
            };
            let prio = c.get("prio").and_then(Value::as_i64).unwrap_or(0);
            // Ingress runs before every prerouting chain.
            let prio = if h == "ingress" {
                i64::from(i32::MIN) + prio.clamp(0, 1 << 20)
            } else {
                prio
            };
            let devices = match (c.get("dev"), c.get("device")) {
                (Some(Value::String(d)), _) | (_, Some(Value::String(d))) => vec![d.clone()],
                (Some(Value::Array(ds)), _) => ds
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                _ => Vec::new(),
            };
            Some(Base {
                hook,
                prio: i32::try_from(prio).unwrap_or(0),
                policy_drop: c.get("policy").and_then(Value::as_str) == Some("drop"),
                kind: match c.get("type").and_then(Value::as_str) {
                    Some("nat") => ChainType::Nat,
                    Some("route") => ChainType::Route,
                    _ => ChainType::Filter,
                },
                devices,
            })
        });
        out.chains.push(Chain {
            origin,
            name: str_of(c, "name"),
            base,
            v4: family != "ip6",
            v6: family != "ip",
            rules: Vec::new(),
        });
    }
    let mut pending = Pending::new();
    for item in items {
        let Some(r) = item.get("rule") else { continue };
        let (family, table) = (str_of(r, "family"), str_of(r, "table"));
        if !wanted(&family, &table) {
            continue;
        }
        let origin = out.origin("nft", &family, &table);
        let Some(chain) = out.find(origin, &str_of(r, "chain")) else {
            continue;
        };
        let handle = r.get("handle").and_then(Value::as_u64);
        let exprs = r
            .get("expr")
            .and_then(Value::as_array)
            .map_or(&[][..], Vec::as_slice);
        let ctx = Ctx {
            family: &family,
            table: &table,
            sets: &sets,
        };
        let (conds, action, target, set_mark) = rule(exprs, &ctx);
        let text = handle
            .and_then(|h| texts.get(&(family.clone(), table.clone(), h)).cloned())
            .unwrap_or_else(|| describe(exprs));
        let r = Rule {
            handle,
            text,
            conds,
            action,
            set_mark,
        };
        out.push_rule(chain, r, target, &mut pending);
    }
    out.resolve(pending, |t| format!("jump {t}"));
}

struct Ctx<'a> {
    family: &'a str,
    table: &'a str,
    sets: &'a Sets,
}

/// A short rendering of a rule's expressions, for a rule `nft -a` did not list.
fn describe(exprs: &[Value]) -> String {
    let s: Vec<String> = exprs.iter().map(Value::to_string).collect();
    let mut t = s.join(" ");
    if t.len() > 200 {
        let mut cut = 200;
        while !t.is_char_boundary(cut) {
            cut -= 1;
        }
        t.truncate(cut);
        t.push('…');
    }
    t
}

fn rule(exprs: &[Value], ctx: &Ctx<'_>) -> super::rules::Parsed {
    let mut set_mark = None;
    let mut conds = Vec::new();
    let mut action = Action::Continue;
    let mut target = None;
    for e in exprs {
        let Some((key, body)) = e.as_object().and_then(|o| o.iter().next()) else {
            conds.push(Cond::Unknown(e.to_string()));
            continue;
        };
        match key.as_str() {
            "match" => conds.extend(cond(body, ctx)),
            // `tproxy to :P accept`: the accept ends the rule, the tproxy decides.
            "accept" if matches!(action, Action::Tproxy { .. }) => {}
            "accept" => action = Action::Accept,
            "drop" => action = Action::Drop,
            "reject" => action = Action::Reject,
            "return" => action = Action::Return,
            // `meta mark set V`.
            "mangle" if body.pointer("/key/meta/key").and_then(Value::as_str) == Some("mark") => {
                match body
                    .get("value")
                    .and_then(Value::as_u64)
                    .and_then(|v| u32::try_from(v).ok())
                {
                    Some(v) => set_mark = Some((v, u32::MAX)),
                    None => action = Action::Unknown(format!("meta mark set {}", body["value"])),
                }
            }
            "continue" | "counter" | "log" | "meta" | "mangle" | "ct" | "notrack" | "set"
            | "masquerade" | "snat" | "comment" => {}
            "jump" | "goto" => {
                target = body
                    .get("target")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
                action = match (&target, key.as_str()) {
                    (None, _) => Action::Unknown(format!("{key} {body}")),
                    (Some(_), "goto") => Action::Goto(usize::MAX),
                    (Some(_), _) => Action::Jump(usize::MAX),
                };
            }
            "dnat" => {
                let addr = match body.get("addr") {
                    None => None,
                    Some(Value::String(a)) => match a.parse() {
                        Ok(a) => Some(a),
                        Err(_) => {
                            action = Action::Unknown(format!("dnat {body}"));
                            continue;
                        }
                    },
                    Some(other) => {
                        action = Action::Unknown(format!("dnat {other}"));
                        continue;
                    }
                };
                let port = match body.get("port") {
                    None => None,
                    Some(p) => match p.as_u64().and_then(|p| u16::try_from(p).ok()) {
                        Some(p) => Some(p),
                        None => {
                            action = Action::Unknown(format!("dnat {body}"));
                            continue;
                        }
                    },
                };
                action = Action::Dnat { addr, port };
            }
            "tproxy" => {
                let port = body
                    .get("port")
                    .and_then(Value::as_u64)
                    .and_then(|p| u16::try_from(p).ok());
                let addr = body
                    .get("addr")
                    .and_then(Value::as_str)
                    .and_then(|a| a.parse::<std::net::IpAddr>().ok())
                    .filter(|a| !a.is_unspecified());
                action = match (port, body.get("addr")) {
                    (Some(port), None) => Action::Tproxy { addr: None, port },
                    (Some(port), Some(_)) => Action::Tproxy { addr, port },
                    _ => Action::Unknown(format!("tproxy {body}")),
                };
            }
            "redirect" => {
                let port = body.get("port");
                action = match port {
                    None => Action::Redirect { port: None },
                    Some(p) => match p.as_u64().and_then(|p| u16::try_from(p).ok()) {
                        Some(p) => Action::Redirect { port: Some(p) },
                        None => Action::Unknown(format!("redirect {body}")),
                    },
                };
            }
            other => {
                // limit, quota, vmap, xt, queue, tproxy, synproxy...: not modelled.
                if other == "xt" && body.get("type").and_then(Value::as_str) == Some("match") {
                    conds.push(Cond::Unknown(format!(
                        "xt match {}",
                        body.get("name").and_then(Value::as_str).unwrap_or("?")
                    )));
                } else if matches!(other, "limit" | "quota") {
                    conds.push(Cond::Unknown(format!("{other} {body}")));
                } else {
                    action = Action::Unknown(format!("{other} {body}"));
                }
            }
        }
    }
    (conds, action, target, set_mark)
}

/// The values on a match's right side: a scalar, a list, an anonymous set or a named one.
fn values(right: &Value, ctx: &Ctx<'_>) -> Option<Vec<Value>> {
    match right {
        Value::Array(a) => Some(a.clone()),
        Value::String(s) if s.starts_with('@') => ctx
            .sets
            .get(&(
                ctx.family.to_owned(),
                ctx.table.to_owned(),
                s[1..].to_owned(),
            ))
            .cloned(),
        Value::Object(o) if o.contains_key("set") => {
            o.get("set").and_then(Value::as_array).cloned()
        }
        other => Some(vec![other.clone()]),
    }
    .map(|vs| {
        vs.into_iter()
            .map(|v| match v {
                // Set elements with options: {"elem": {"val": ..., "timeout": ...}}.
                Value::Object(ref o) if o.contains_key("elem") => o
                    .get("elem")
                    .and_then(|e| e.get("val"))
                    .cloned()
                    .unwrap_or(Value::Null),
                // Map elements: [key, value].
                Value::Array(ref kv) if kv.len() == 2 => kv[0].clone(),
                other => other,
            })
            .collect()
    })
}

fn nets(vs: &[Value]) -> Option<Vec<IpNet>> {
    vs.iter()
        .map(|v| match v {
            Value::String(s) => parse_net(s),
            Value::Object(o) => {
                if let Some(p) = o.get("prefix") {
                    let addr = p.get("addr")?.as_str()?;
                    let len = p.get("len")?.as_u64()?;
                    parse_net(&format!("{addr}/{len}"))
                } else if let Some(r) = o.get("range").and_then(Value::as_array) {
                    // A range that is exactly a prefix is rare in practice; a range becomes
                    // the smallest prefix holding both ends only when they are equal.
                    let (a, b) = (r.first()?.as_str()?, r.get(1)?.as_str()?);
                    (a == b).then(|| parse_net(a)).flatten()
                } else {
                    None
                }
            }
            _ => None,
        })
        .collect()
}

fn ports(vs: &[Value]) -> Option<Vec<(u16, u16)>> {
    vs.iter()
        .map(|v| match v {
            Value::Number(n) => n
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .map(|p| (p, p)),
            Value::Object(o) => {
                let r = o.get("range")?.as_array()?;
                let a = u16::try_from(r.first()?.as_u64()?).ok()?;
                let b = u16::try_from(r.get(1)?.as_u64()?).ok()?;
                Some((a.min(b), a.max(b)))
            }
            _ => None,
        })
        .collect()
}

fn strings(vs: &[Value]) -> Option<Vec<String>> {
    vs.iter().map(|v| v.as_str().map(str::to_owned)).collect()
}

fn proto_numbers(vs: &[Value]) -> Option<Vec<u8>> {
    vs.iter()
        .map(|v| match v {
            Value::Number(n) => n.as_u64().and_then(|p| u8::try_from(p).ok()),
            Value::String(s) => super::rules::proto_by_name(s),
            _ => None,
        })
        .collect()
}

/// One `match` expression as conditions (a payload match on `tcp dport` also says "TCP").
/// Numbers or ranges (`{"range": [A, B]}`) as u32 ranges: uids, marks.
fn ids(vs: &[Value]) -> Option<Vec<(u32, u32)>> {
    vs.iter()
        .map(|v| {
            let n = |x: &Value| x.as_u64().and_then(|u| u32::try_from(u).ok());
            match v.get("range").and_then(Value::as_array) {
                Some(r) if r.len() == 2 => Some((n(&r[0])?, n(&r[1])?)),
                _ => n(v).map(|u| (u, u)),
            }
        })
        .collect()
}

fn cond(m: &Value, ctx: &Ctx<'_>) -> Vec<Cond> {
    let unknown = || vec![Cond::Unknown(format!("match {m}"))];
    let op = m.get("op").and_then(Value::as_str).unwrap_or("==");
    let neg = match op {
        "==" | "in" => false,
        "!=" => true,
        // Port comparisons.
        "<" | ">" | "<=" | ">=" => {
            return compare(m, op).unwrap_or_else(unknown);
        }
        _ => return unknown(),
    };
    let (Some(left), Some(right)) = (m.get("left"), m.get("right")) else {
        return unknown();
    };
    let Some(vs) = values(right, ctx) else {
        return unknown();
    };
    let mut out = Vec::new();
    if let Some(meta) = left.get("meta") {
        let key = meta.get("key").and_then(Value::as_str).unwrap_or("");
        match key {
            "iifname" | "iif" | "oifname" | "oif" => {
                let Some(names) = strings(&vs) else {
                    return unknown();
                };
                let pats = names.iter().map(|n| NamePattern::parse(n)).collect();
                out.push(if key.starts_with('i') {
                    Cond::Iif(pats, neg)
                } else {
                    Cond::Oif(pats, neg)
                });
            }
            "l4proto" => match proto_numbers(&vs) {
                Some(p) => out.push(Cond::Proto(p, neg)),
                None => return unknown(),
            },
            "skuid" => {
                let Some(r) = ids(&vs) else {
                    return unknown();
                };
                out.push(Cond::Skuid(r, neg));
            }
            "mark" => {
                let Some(v) = ids(&vs) else {
                    return unknown();
                };
                let [(value, hi)] = v.as_slice() else {
                    return unknown();
                };
                let (value, hi) = (*value, *hi);
                if value != hi {
                    return unknown();
                }
                out.push(Cond::Mark {
                    value,
                    mask: u32::MAX,
                    neg,
                });
            }
            "nfproto" | "protocol" => {
                let Some(names) = strings(&vs) else {
                    return unknown();
                };
                let v4 = names.iter().any(|n| n == "ipv4" || n == "ip");
                let v6 = names.iter().any(|n| n == "ipv6" || n == "ip6");
                match (v4 ^ neg, v6 ^ neg) {
                    (true, true) => {}
                    (true, false) => out.push(Cond::Family(true)),
                    (false, true) => out.push(Cond::Family(false)),
                    (false, false) => out.push(Cond::Never),
                }
            }
            _ => return unknown(),
        }
        return out;
    }
    if let Some(p) = left.get("payload") {
        let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("");
        let field = p.get("field").and_then(Value::as_str).unwrap_or("");
        match (proto, field) {
            ("ip" | "ip6", "saddr" | "daddr") => {
                let Some(n) = nets(&vs) else { return unknown() };
                out.push(Cond::Family(proto == "ip"));
                out.push(if field == "saddr" {
                    Cond::Saddr(n, neg)
                } else {
                    Cond::Daddr(n, neg)
                });
            }
            ("ip", "protocol") | ("ip6", "nexthdr") => {
                let Some(n) = proto_numbers(&vs) else {
                    return unknown();
                };
                out.push(Cond::Family(proto == "ip"));
                out.push(Cond::Proto(n, neg));
            }
            ("tcp" | "udp" | "th" | "sctp" | "udplite", "dport" | "sport") => {
                let Some(r) = ports(&vs) else {
                    return unknown();
                };
                if let Some(n) = proto_numbers(&[Value::String(proto.to_owned())]) {
                    out.push(Cond::Proto(n, false));
                }
                out.push(if field == "dport" {
                    Cond::Dport(r, neg)
                } else {
                    Cond::Sport(r, neg)
                });
            }
            ("icmp" | "icmpv6", _) => out.push(Cond::Never),
            _ => return unknown(),
        }
        return out;
    }
    if let Some(ct) = left.get("ct") {
        let key = ct.get("key").and_then(Value::as_str).unwrap_or("");
        let Some(names) = strings(&vs) else {
            return unknown();
        };
        match key {
            "state" => out.push(Cond::CtState(names, neg)),
            "status" if names.iter().all(|n| n == "dnat") => out.push(Cond::CtDnat(neg)),
            "direction" => {
                // The first packet is the original direction.
                if names.iter().any(|n| n == "original") == neg {
                    out.push(Cond::Never);
                }
            }
            _ => return unknown(),
        }
        return out;
    }
    if let Some(fib) = left.get("fib") {
        let result = fib.get("result").and_then(Value::as_str).unwrap_or("");
        let flags: Vec<&str> = fib
            .get("flags")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let Some(types) = strings(&vs) else {
            return unknown();
        };
        if result == "type" && flags.contains(&"daddr") && !flags.contains(&"oif") {
            let local = types.iter().any(|t| t == "local");
            let other = types.iter().any(|t| t != "local");
            match (local, other) {
                (true, false) => out.push(Cond::DaddrLocal(neg)),
                (false, true)
                    if types
                        .iter()
                        .all(|t| matches!(t.as_str(), "broadcast" | "multicast" | "anycast")) =>
                {
                    // A unicast connection is none of these.
                    if !neg {
                        out.push(Cond::Never);
                    }
                }
                _ => return unknown(),
            }
            return out;
        }
        return unknown();
    }
    unknown()
}

/// `tcp dport < 1024` and friends.
fn compare(m: &Value, op: &str) -> Option<Vec<Cond>> {
    let p = m.get("left")?.get("payload")?;
    let proto = p.get("protocol")?.as_str()?;
    let field = p.get("field")?.as_str()?;
    let v = u16::try_from(m.get("right")?.as_u64()?).ok()?;
    let range = match op {
        "<" => (0, v.checked_sub(1)?),
        "<=" => (0, v),
        ">" => (v.checked_add(1)?, u16::MAX),
        ">=" => (v, u16::MAX),
        _ => return None,
    };
    let mut out = Vec::new();
    if let Some(n) = proto_numbers(&[Value::String(proto.to_owned())]) {
        out.push(Cond::Proto(n, false));
    }
    out.push(match field {
        "dport" => Cond::Dport(vec![range], false),
        "sport" => Cond::Sport(vec![range], false),
        _ => return None,
    });
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULESET: &str = r#"{"nftables": [{"metainfo": {"json_schema_version": 1}},
 {"table": {"family": "inet", "name": "fw", "handle": 3}},
 {"chain": {"family": "inet", "table": "fw", "name": "input", "handle": 1, "type": "filter", "hook": "input", "prio": 0, "policy": "drop"}},
 {"chain": {"family": "inet", "table": "fw", "name": "lan", "handle": 2}},
 {"set": {"family": "inet", "table": "fw", "name": "admins", "type": "ipv4_addr", "flags": ["interval"], "elem": [{"prefix": {"addr": "10.9.0.0", "len": 16}}, "192.0.2.7"]}},
 {"rule": {"family": "inet", "table": "fw", "chain": "input", "handle": 4, "expr": [{"match": {"op": "in", "left": {"ct": {"key": "state"}}, "right": ["established", "related"]}}, {"accept": null}]}},
 {"rule": {"family": "inet", "table": "fw", "chain": "input", "handle": 5, "expr": [{"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "eth*"}}, {"jump": {"target": "lan"}}]}},
 {"rule": {"family": "inet", "table": "fw", "chain": "lan", "handle": 6, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": {"set": [22, {"range": [8000, 8100]}]}}}, {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}}, "right": "@admins"}}, {"counter": {"packets": 0, "bytes": 0}}, {"accept": null}]}},
 {"rule": {"family": "inet", "table": "fw", "chain": "lan", "handle": 7, "expr": [{"match": {"op": "==", "left": {"fib": {"result": "type", "flags": ["daddr"]}}, "right": "local"}}, {"limit": {"rate": 5, "per": "second"}}, {"accept": null}]}},
 {"table": {"family": "ip", "name": "nat", "handle": 9}},
 {"chain": {"family": "ip", "table": "nat", "name": "PREROUTING", "handle": 1, "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}},
 {"rule": {"family": "ip", "table": "nat", "chain": "PREROUTING", "handle": 2, "expr": [{"xt": {"type": "match", "name": "addrtype"}}, {"jump": {"target": "DOCKER"}}]}},
 {"table": {"family": "ip", "name": "hand", "handle": 10}},
 {"chain": {"family": "ip", "table": "hand", "name": "pre", "handle": 1, "type": "nat", "hook": "prerouting", "prio": -100, "policy": "accept"}},
 {"rule": {"family": "ip", "table": "hand", "chain": "pre", "handle": 2, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 80}}, {"redirect": {"port": 8080}}]}},
 {"rule": {"family": "ip", "table": "hand", "chain": "pre", "handle": 3, "expr": [{"match": {"op": "==", "left": {"payload": {"protocol": "tcp", "field": "dport"}}, "right": 81}}, {"dnat": {"addr": "10.0.0.2", "port": 8080}}]}}
]}"#;

    const TEXT: &str = "table inet fw { # handle 3\n\tchain input { # handle 1\n\t\ttype filter hook input priority filter; policy drop;\n\t\tct state { established, related } accept # handle 4\n\t}\n}\n";

    #[test]
    fn chains_rules_sets_and_skipped_tables() {
        let skip: HashSet<(String, String)> = [("ip".to_owned(), "nat".to_owned())].into();
        let mut rs = Ruleset::default();
        parse(RULESET, &skip, &rule_texts(TEXT), &mut rs);
        assert!(rs.warnings.is_empty(), "{:?}", rs.warnings);
        assert_eq!(
            rs.chains.len(),
            3,
            "ip nat is listed by iptables-save instead"
        );
        let input = &rs.chains[0];
        assert!(input.v4 && input.v6);
        assert!(input
            .base
            .as_ref()
            .is_some_and(|b| b.policy_drop && b.hook == Hook::Input));
        assert_eq!(
            input.rules[0].text,
            "ct state { established, related } accept"
        );
        assert_eq!(input.rules[1].action, Action::Jump(1));
        let lan = &rs.chains[1];
        assert_eq!(
            lan.rules[0].conds[1],
            Cond::Dport(vec![(22, 22), (8000, 8100)], false)
        );
        assert_eq!(
            lan.rules[0].conds[3],
            Cond::Saddr(
                vec![
                    "10.9.0.0/16".parse().expect("net"),
                    "192.0.2.7/32".parse().expect("net")
                ],
                false
            )
        );
        assert!(matches!(lan.rules[1].conds[1], Cond::Unknown(_)));
        assert_eq!(lan.rules[1].conds[0], Cond::DaddrLocal(false));
        let pre = &rs.chains[2];
        assert_eq!(pre.rules[0].action, Action::Redirect { port: Some(8080) });
        assert_eq!(
            pre.rules[1].action,
            Action::Dnat {
                addr: Some("10.0.0.2".parse().expect("ip")),
                port: Some(8080)
            }
        );
        assert_eq!(rs.nat_rules().count(), 2);
    }

    #[test]
    fn garbage_is_a_warning() {
        let mut rs = Ruleset::default();
        parse("{", &HashSet::new(), &HashMap::new(), &mut rs);
        parse("[1,2]", &HashSet::new(), &HashMap::new(), &mut rs);
        parse(
            r#"{"nftables":[{"rule":{"family":"ip","table":"t","chain":"c","expr":7}},{"chain":{"family":"ip","table":"t","name":"c","hook":"input","prio":"x"}},{"rule":{"family":"ip","table":"t","chain":"c","expr":[{"match":{}},{"jump":{}},7]}}]}"#,
            &HashSet::new(),
            &HashMap::new(),
            &mut rs,
        );
        assert_eq!(rs.warnings.len(), 2);
        assert_eq!(rs.chains.len(), 1);
    }
}
