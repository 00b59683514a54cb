//! Finding the packet-filter rules that can drop loopback traffic, in `nft -a list ruleset` and
//! `iptables-save` text.
//!
//! The doctor calls this only after a round trip on `lo` failed while the interface and its
//! addresses were fine, so the question is "which rules could have done it". Rules that name
//! loopback (`iif "lo"`, `oifname "lo"`, `127.0.0.0/8`, `::1`, `-i lo`) and drop or reject are
//! certain culprits; with none of those, every drop/reject rule and every hook chain whose policy
//! is drop is a candidate.

use loopback_sys::Ruleset;

/// A rule that drops or rejects, where it lives, and whether it names loopback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suspect {
    /// `nft`, `iptables`, `ip6tables`.
    pub tool: String,
    /// `table inet filter chain input` or `*filter INPUT`.
    pub location: String,
    /// The rule as the tool prints it.
    pub rule: String,
    /// Whether the rule names the loopback interface.
    pub names_loopback: bool,
    /// The exact command that removes the rule, or accepts loopback ahead of a drop policy.
    pub fix: Option<String>,
}

impl Suspect {
    /// `TOOL: RULE` as the administrator would look it up.
    pub fn describe(&self) -> String {
        format!("{}: {}: {}", self.tool, self.location, self.rule)
    }
}

/// `nft delete rule FAMILY TABLE CHAIN handle N` for a rule printed by `nft -a`, or for a drop
/// policy `nft insert rule FAMILY TABLE CHAIN iif/oif lo accept`.
fn nft_fix(table: &str, chain: &str, rule: &str, hook: Option<&str>) -> Option<String> {
    let mut t = table.split_whitespace().skip(1);
    let (family, table) = (t.next()?, t.next()?);
    let chain = chain.split_whitespace().nth(1)?;
    if let Some(hook) = hook {
        let dir = if hook == "output" || hook == "postrouting" {
            "oif"
        } else {
            "iif"
        };
        return Some(format!(
            "nft insert rule {family} {table} {chain} {dir} lo accept"
        ));
    }
    let handle = rule.rsplit_once("# handle ")?.1.trim();
    Some(format!(
        "nft delete rule {family} {table} {chain} handle {handle}"
    ))
}

/// The hook a chain's `type filter hook H ...` line names.
fn hook_of(line: &str) -> Option<&str> {
    let mut w = line.split_whitespace();
    w.find(|x| *x == "hook")?;
    w.next()
}

fn names_loopback(rule: &str) -> bool {
    let r = rule.to_ascii_lowercase();
    r.contains("\"lo\"")
        || r.contains(" lo ")
        || r.ends_with(" lo")
        || r.contains("127.")
        || r.contains("::1")
}

fn is_drop(rule: &str) -> bool {
    rule.split_whitespace()
        .any(|w| matches!(w, "drop" | "reject" | "DROP" | "REJECT"))
}

/// Rules in one ruleset that could drop loopback traffic.
pub fn suspects(rs: &Ruleset) -> Vec<Suspect> {
    match rs.tool.as_str() {
        "nft" => nft_suspects(rs),
        // The same tables as JSON, for the exposure evaluator: their text is in `nft`.
        "nft-json" => Vec::new(),
        _ => iptables_suspects(rs),
    }
}

fn nft_suspects(rs: &Ruleset) -> Vec<Suspect> {
    let mut out = Vec::new();
    let mut table = String::new();
    let mut chain = String::new();
    for line in rs.text.lines() {
        let t = line.trim();
        let words: Vec<&str> = t.split_whitespace().collect();
        match words.as_slice() {
            ["table", family, name, ..] => {
                table = format!("table {family} {name}");
                continue;
            }
            ["chain", name, ..] => {
                chain = format!("chain {name}");
                continue;
            }
            _ => {}
        }
        if t.starts_with("type ") && t.contains("hook") && t.contains("policy drop") {
            out.push(Suspect {
                tool: rs.tool.clone(),
                location: format!("{table} {chain}"),
                rule: t.trim_end_matches(';').to_owned(),
                names_loopback: false,
                fix: nft_fix(&table, &chain, t, Some(hook_of(t).unwrap_or("input"))),
            });
        } else if !t.starts_with("type ") && is_drop(t) {
            out.push(Suspect {
                tool: rs.tool.clone(),
                location: format!("{table} {chain}"),
                rule: t.to_owned(),
                names_loopback: names_loopback(t),
                fix: nft_fix(&table, &chain, t, None),
            });
        }
    }
    out
}

fn iptables_suspects(rs: &Ruleset) -> Vec<Suspect> {
    let mut out = Vec::new();
    let mut table = String::new();
    for line in rs.text.lines() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix('*') {
            table = format!("*{name}");
        } else if let Some(policy) = t.strip_prefix(':') {
            // ":INPUT DROP [0:0]"
            let mut w = policy.split_whitespace();
            if let (Some(chain), Some("DROP")) = (w.next(), w.next()) {
                let dir = if chain == "OUTPUT" || chain == "POSTROUTING" {
                    "-o"
                } else {
                    "-i"
                };
                out.push(Suspect {
                    tool: rs.tool.clone(),
                    location: format!("{table} {chain}"),
                    rule: format!("policy DROP on {chain}"),
                    names_loopback: false,
                    fix: Some(format!(
                        "{} -t {} -I {chain} {dir} lo -j ACCEPT",
                        rs.tool,
                        table.trim_start_matches('*')
                    )),
                });
            }
        } else if let Some(spec) = t.strip_prefix("-A ") {
            if is_drop(t) {
                let chain = spec.split_whitespace().next().unwrap_or("");
                out.push(Suspect {
                    tool: rs.tool.clone(),
                    location: format!("{table} {chain}"),
                    rule: t.to_owned(),
                    names_loopback: names_loopback(t),
                    fix: Some(format!(
                        "{} -t {} -D {spec}",
                        rs.tool,
                        table.trim_start_matches('*')
                    )),
                });
            }
        }
    }
    out
}

/// The rules to name: those that name loopback if any, else every candidate.
pub fn culprits(rulesets: &[Ruleset]) -> Vec<Suspect> {
    let all: Vec<Suspect> = rulesets.iter().flat_map(suspects).collect();
    let named: Vec<Suspect> = all.iter().filter(|s| s.names_loopback).cloned().collect();
    if named.is_empty() {
        all
    } else {
        named
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nft(text: &str) -> Ruleset {
        Ruleset {
            tool: "nft".into(),
            text: text.into(),
        }
    }

    #[test]
    fn nft_rule_naming_lo_is_the_culprit() {
        let rs = nft("table inet filter { # handle 1\n\tchain input { # handle 1\n\t\ttype filter hook input priority filter; policy accept;\n\t\ttcp dport 22 accept # handle 3\n\t\tiif \"lo\" drop # handle 2\n\t}\n}\ntable ip other { # handle 2\n\tchain c { # handle 1\n\t\ttcp dport 9 drop # handle 4\n\t}\n}\n");
        let c = culprits(&[rs]);
        assert_eq!(c.len(), 1);
        assert_eq!(
            c[0].describe(),
            "nft: table inet filter chain input: iif \"lo\" drop # handle 2"
        );
    }

    #[test]
    fn nft_address_rules_and_policies() {
        let rs = nft("table ip t {\n\tchain out {\n\t\ttype filter hook output priority filter; policy drop;\n\t\tip daddr 127.0.0.0/8 reject # handle 7\n\t}\n}\n");
        let all = suspects(&rs);
        assert_eq!(all.len(), 2);
        assert!(all[0].rule.contains("policy drop"));
        assert_eq!(
            all[0].fix.as_deref(),
            Some("nft insert rule ip t out oif lo accept")
        );
        assert!(!all[0].names_loopback);
        assert!(all[1].names_loopback);
        assert_eq!(culprits(&[rs]).len(), 1);
    }

    #[test]
    fn without_loopback_rules_every_drop_is_a_candidate() {
        let rs = nft("table inet f {\n\tchain input {\n\t\ttype filter hook input priority 0; policy drop;\n\t\tct state established accept\n\t}\n}\n");
        let c = culprits(&[rs]);
        assert_eq!(c.len(), 1);
        assert!(c[0].rule.starts_with("type filter hook input"));
    }

    #[test]
    fn iptables_save() {
        let rs = Ruleset {
            tool: "iptables".into(),
            text: "*filter\n:INPUT ACCEPT [0:0]\n:OUTPUT DROP [0:0]\n-A INPUT -i lo -j DROP\n-A INPUT -p tcp --dport 23 -j REJECT\nCOMMIT\n".into(),
        };
        let all = suspects(&rs);
        assert_eq!(all.len(), 3);
        let c = culprits(&[rs]);
        assert_eq!(c.len(), 1);
        assert_eq!(
            c[0].describe(),
            "iptables: *filter INPUT: -A INPUT -i lo -j DROP"
        );
    }

    #[test]
    fn empty_rulesets() {
        assert!(culprits(&[]).is_empty());
        assert!(culprits(&[nft("")]).is_empty());
    }
}
