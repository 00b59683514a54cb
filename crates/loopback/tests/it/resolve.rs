//! `loopback resolve` against glibc itself: generated hosts files and gai.conf tables, in
//! namespaces with only `lo`, with an IPv4 LAN, and with an IPv4 + IPv6 LAN. The model's order
//! must equal `getent ahosts` and `ahostsv4` every time, and the C library's plain `AF_INET6`
//! answer for IPv6-only queries (`getent ahostsv6` adds `AI_V4MAPPED`).

use std::net::IpAddr;

use loopback_model::ResolveReport;

use crate::support::{require_root, Netns};

/// A small deterministic generator (xorshift64*), so a failure names a reproducible case.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, v: &[&'a str]) -> &'a str {
        v[self.below(v.len())]
    }
}

/// Addresses a test name may map to: loopback, this namespace's own, the LAN peer, unroutable
/// private and documentation ranges, ULA, 6to4, Teredo, site-local, link-local, mapped forms and
/// legacy `inet_aton` spellings (which glibc's hosts parser rejects).
const POOL: &[&str] = &[
    "127.0.0.1",
    "127.0.0.2",
    "127.1",
    "::1",
    "198.18.0.1",
    "198.18.0.2",
    "198.18.0.77",
    "198.19.0.1",
    "203.0.113.9",
    "10.1.2.3",
    "192.168.7.7",
    "172.20.0.1",
    "169.254.1.1",
    "fd00:1b::1",
    "fd00:1b::2",
    "fd00:9::1",
    "2001:db8::5",
    "2002::1",
    "2001::1",
    "fec0::1",
    "::ffff:127.0.0.5",
    "::ffff:198.18.0.2",
    "0x7f.2",
    "100.64.0.1",
];

const GAI: &[&str] = &[
    "",
    "precedence ::ffff:0:0/96 100\n",
    "# RFC 6724 table\nprecedence ::1/128 50\nprecedence ::/0 40\nprecedence ::ffff:0:0/96 35\nprecedence 2002::/16 30\nprecedence 2001::/32 5\nprecedence fc00::/7 3\nprecedence ::/96 1\nprecedence fec0::/10 1\nprecedence 3ffe::/16 1\nlabel ::1/128 0\nlabel ::/0 1\nlabel ::ffff:0:0/96 4\nlabel 2002::/16 2\nlabel 2001::/32 5\nlabel fc00::/7 13\nlabel ::/96 3\nlabel fec0::/10 11\nlabel 3ffe::/16 12\n",
    "label ::1/128 0\nlabel ::/0 1\nlabel ::ffff:0:0/96 1\n",
    "scopev4 ::ffff:10.0.0.0/104 5\nscopev4 ::ffff:198.18.0.0/111 2\nscopev4 127.0.0.0/8 2\n",
    "precedence fd00::/8 60\nprecedence bogus 1\nlabel 2001:db8::/32 9 trailing words\n",
    "precedence ::/0 1\nprecedence ::ffff:0:0/96 5\n",
];

fn hosts_file(rng: &mut Rng) -> String {
    let mut out = String::new();
    let names = ["svc.test", "SVC.Test", "svc.test."];
    let n = 1 + rng.below(7);
    for _ in 0..n {
        match rng.below(6) {
            0 => out.push_str(&format!("{} other.test svc.alias\n", rng.pick(POOL))),
            1 => out.push_str(&format!(
                "{}\tcanonical.test svc.test # alias\n",
                rng.pick(POOL)
            )),
            2 => out.push_str("# a comment line\n"),
            _ => {
                let name = names[rng.below(2)];
                out.push_str(&format!("{} {name}\n", rng.pick(POOL)));
            }
        }
    }
    if rng.below(4) == 0 {
        out.push_str("not-an-address svc.test\n");
    }
    out
}

fn strings(v: &[IpAddr]) -> Vec<String> {
    v.iter().map(IpAddr::to_string).collect()
}

fn differential(ns: &Netns, kind: &str, seed: u64, cases: usize) {
    let mut rng = Rng(seed);
    let mut failures = Vec::new();
    let mut compared = 0;
    for case in 0..cases {
        let hosts = hosts_file(&mut rng);
        let gai = GAI[rng.below(GAI.len())];
        ns.etc_file("hosts", &hosts);
        ns.etc_file("gai.conf", gai);
        let out = ns.loopback(&["resolve", "--json", "svc.test"]);
        let r: ResolveReport = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{kind} case {case}: JSON {e}: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let want = ns.getent("ahosts", "svc.test");
        let checks = [
            (
                "model vs ahosts",
                strings(&r.addresses),
                want.clone(),
                r.model_complete,
            ),
            ("system vs ahosts", strings(&r.system), want, true),
            (
                "model v4 vs ahostsv4",
                strings(&r.ipv4_only.addresses),
                ns.getent("ahostsv4", "svc.test"),
                r.model_complete,
            ),
            // `getent ahostsv6` adds AI_V4MAPPED; the report's IPv6-only query is the plain
            // AF_INET6 call, so its oracle is the C library's own answer to that call.
            (
                "model v6 vs getaddrinfo(AF_INET6)",
                strings(&r.ipv6_only.addresses),
                strings(&r.ipv6_only.system),
                r.model_complete,
            ),
        ];
        for (what, got, want, applies) in checks {
            if !applies {
                continue;
            }
            compared += 1;
            if got != want {
                failures.push(format!("{kind} seed {seed} case {case} {what}: got {got:?}, glibc {want:?}\nhosts:\n{hosts}gai.conf:\n{gai}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {compared} comparisons differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        compared >= cases * 2,
        "too few comparable cases ({compared}) in {kind}"
    );
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn model_matches_glibc_in_a_lo_only_namespace() {
    require_root();
    let ns = Netns::new("reslo");
    differential(&ns, "lo-only", 0x5eed_0001, 100);
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn model_matches_glibc_with_an_ipv4_lan() {
    require_root();
    let ns = Netns::with_lan("resv4");
    ns.sysctl("net.ipv6.conf.lan0.disable_ipv6=1");
    differential(&ns, "ipv4-lan", 0x5eed_0002, 100);
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn model_matches_glibc_with_a_dual_stack_lan() {
    require_root();
    let ns = Netns::with_lan("resv6");
    differential(&ns, "dual-stack-lan", 0x5eed_0003, 100);
}

fn resolve(ns: &Netns, name: &str) -> (ResolveReport, Option<i32>) {
    let out = ns.loopback(&["resolve", "--json", name]);
    (
        serde_json::from_slice(&out.stdout).expect("resolve JSON"),
        out.status.code(),
    )
}

fn codes(r: &ResolveReport) -> Vec<&str> {
    r.findings.iter().map(|f| f.code.as_str()).collect()
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn localhost_findings() {
    require_root();
    let ns = Netns::with_lan("reslh");
    ns.etc_file(
        "hosts",
        "127.0.0.1 localhost\n::1 localhost ip6-localhost\n",
    );
    let (r, code) = resolve(&ns, "localhost");
    assert!(codes(&r).is_empty(), "{:?}", r.findings);
    assert_eq!(code, Some(0));
    assert_eq!(strings(&r.addresses), vec!["::1", "127.0.0.1"]);
    assert!(
        r.steps
            .iter()
            .any(|s| s.step == "sort" && s.detail.contains("rule 6")),
        "{:?}",
        r.steps
    );
    // `localhost.` is asked for exactly as typed, as getent does: it fails, and both say so.
    let (dot, code) = resolve(&ns, "localhost.");
    assert_eq!(dot.name, "localhost.");
    let oracle = ns
        .cmd("getent")
        .args(["ahosts", "localhost."])
        .output()
        .expect("getent");
    assert!(
        !oracle.status.success(),
        "getent ahosts localhost. fails here too"
    );
    assert!(dot.system.is_empty() && dot.addresses.is_empty(), "{dot:?}");
    assert!(codes(&dot).contains(&"unresolved"), "{:?}", dot.findings);
    assert!(
        dot.findings[0]
            .fix
            .as_deref()
            .is_some_and(|f| f.contains("without the final dot")),
        "{:?}",
        dot.findings
    );
    assert_eq!(code, Some(1));

    ns.etc_file(
        "hosts",
        "127.0.0.1 localhost\n::1 ip6-localhost ip6-loopback\n",
    );
    let (r, code) = resolve(&ns, "localhost");
    assert_eq!(codes(&r), vec!["ipv6-localhost-alias-only"]);
    assert_eq!(code, Some(1));

    ns.etc_file("hosts", "127.0.0.1 localhost\n198.18.0.2 localhost\n");
    let (r, _) = resolve(&ns, "localhost");
    assert!(
        codes(&r).contains(&"localhost-not-loopback"),
        "{:?}",
        r.findings
    );

    ns.etc_file("hosts", "198.18.0.2 peer\n");
    let (r, _) = resolve(&ns, "localhost");
    let c = codes(&r);
    assert!(
        c.contains(&"localhost-missing") && c.contains(&"unresolved"),
        "{:?}",
        r.findings
    );
    assert!(r.findings.iter().any(|f| f.summary.contains("RFC 6761")));

    ns.etc_file("hosts", "127.0.0.1 localhost\n::1 localhost\n");
    let (r, _) = resolve(&ns, "app.localhost");
    assert!(codes(&r).contains(&"dot-localhost"), "{:?}", r.findings);
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn first_address_family_mismatch_with_the_listening_service() {
    require_root();
    let ns = Netns::with_lan("resport");
    ns.etc_file("hosts", "127.0.0.1 localhost\n::1 localhost\n");
    let _srv = ns.listen(&["tcp:127.0.0.1:7900"], &[]);
    let (r, code) = resolve(&ns, "localhost:7900");
    assert_eq!(code, Some(1));
    let f = r
        .findings
        .iter()
        .find(|f| f.code == "first-address-mismatch")
        .expect("mismatch finding");
    assert!(
        f.summary.contains("resolves first to ::1") && f.summary.contains("127.0.0.1:7900"),
        "{}",
        f.summary
    );
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn an_internationalized_name_is_asked_in_ascii_and_shown_in_both_forms() {
    require_root();
    let ns = Netns::new("idn");
    ns.etc_file(
        "hosts",
        "127.0.0.1 localhost\n127.0.0.7 xn--hllo-bpa.localhost\n",
    );
    // glibc, asked for the ASCII form (what curl and browsers send), finds the line.
    let oracle = ns
        .cmd("getent")
        .args(["ahosts", "xn--hllo-bpa.localhost"])
        .output()
        .expect("getent");
    assert!(String::from_utf8_lossy(&oracle.stdout).starts_with("127.0.0.7"));
    for typed in ["héllo.localhost", "xn--hllo-bpa.localhost"] {
        let out = ns.loopback(&["resolve", "--json", typed]);
        let r: ResolveReport = serde_json::from_slice(&out.stdout).expect("resolve JSON");
        assert_eq!(r.name, "xn--hllo-bpa.localhost");
        assert_eq!(r.unicode.as_deref(), Some("héllo.localhost"));
        assert_eq!(strings(&r.system), ["127.0.0.7"]);
        assert_eq!(r.addresses, r.system);
        let text = ns.loopback(&["resolve", typed]);
        assert!(
            String::from_utf8_lossy(&text.stdout)
                .starts_with("héllo.localhost (xn--hllo-bpa.localhost) resolves to 127.0.0.7"),
            "{}",
            String::from_utf8_lossy(&text.stdout)
        );
    }
    // A name that is not valid IDNA is refused with the reason.
    let out = ns.loopback(&["resolve", "a\u{202e}b.localhost"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a valid internationalized domain name")
    );
}
