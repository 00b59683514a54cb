//! The Prometheus metrics of an audit (and the doctor's checks), for `loopback exporter` and
//! `audit --format prometheus` (node_exporter's textfile collector): the same families from
//! the same report, encoded by the official `prometheus-client` crate, which escapes label
//! values (`\`, `"` and newlines) so a container name cannot forge a series.
//!
//! Conventions: the `loopback_` prefix, base units (seconds), `_info` gauges that are always
//! 1 and carry the facts as labels, no PID labels, label values from closed sets or bounded in
//! length. Series that would be equal (two sockets on one address and port with
//! `SO_REUSEPORT`) are written once. Counts are written for every value of their closed set,
//! zeros included, so an alert can compare them without `absent()`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use loopback_model::{
    AuditReport, CheckStatus, DoctorReport, ExposureState, NamespaceInfo, PublicationDiagnosis,
    Verdict,
};
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// A label value from outside (a namespace or container name) is cut to this many characters:
/// label sets stay bounded whatever a container is called.
const LABEL_MAX: usize = 128;

/// The exporter's own counters since it started (none for a one-shot textfile).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Scrapes answered.
    pub scrapes: u64,
    /// Scrapes whose capture or audit failed.
    pub errors: u64,
    /// Walks of `/proc` for socket owners (the rest reused the owners already known).
    pub owner_scans: u64,
}

/// What one set of metrics is made from.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    /// The audit, filtered as asked; `None` when it failed.
    pub report: Option<&'a AuditReport>,
    /// The latest doctor run, if any.
    pub doctor: Option<&'a DoctorReport>,
    /// How long capturing and judging took.
    pub duration: Duration,
    /// The exporter's counters.
    pub counters: Option<Counters>,
}

type Labels = Vec<(&'static str, String)>;

fn bounded(s: &str) -> String {
    s.chars().take(LABEL_MAX).collect()
}

/// The namespace labels: empty for the namespace the tool runs in (stable across reboots),
/// else its name under /run/netns, else its inode; the container's name when it has one.
fn namespace_labels(namespaces: &[NamespaceInfo], inode: u64) -> [(&'static str, String); 2] {
    let ns = namespaces.iter().find(|n| n.inode == inode);
    let namespace = match ns {
        Some(n) if n.current && n.names.is_empty() => String::new(),
        Some(n) => n
            .names
            .first()
            .cloned()
            .unwrap_or_else(|| n.inode.to_string()),
        None if inode == 0 => String::new(),
        None => inode.to_string(),
    };
    let container = ns
        .and_then(|n| n.container.as_ref())
        .map(|c| c.label())
        .unwrap_or_default();
    [
        ("namespace", bounded(&namespace)),
        ("container", bounded(&container)),
    ]
}

/// A gauge family of constant 1s, one per distinct label set.
fn info(registry: &mut Registry, name: &str, help: &str, sets: BTreeSet<Labels>) {
    let family = Family::<Labels, Gauge>::default();
    for set in sets {
        family.get_or_create(&set).set(1);
    }
    registry.register(name, help, family);
}

/// A gauge family from label sets to values.
fn gauges(registry: &mut Registry, name: &str, help: &str, values: BTreeMap<Labels, i64>) {
    let family = Family::<Labels, Gauge>::default();
    for (set, v) in values {
        family.get_or_create(&set).set(v);
    }
    registry.register(name, help, family);
}

/// With `--http`: one series per finding (`rebindable`, `cross-origin-readable`) of each
/// listener, always 1; a listener without findings has none.
fn http_metrics(registry: &mut Registry, report: &AuditReport) {
    let mut findings = BTreeMap::new();
    for l in &report.listeners {
        let Some(h) = &l.http else { continue };
        for f in &h.findings {
            let mut set: Labels = namespace_labels(&report.namespaces, l.netns).into();
            set.extend([
                ("proto", l.proto.as_str().to_owned()),
                ("address", l.address.to_string()),
                ("port", l.port.to_string()),
                ("transport", h.transport.as_str().to_owned()),
                ("code", f.code.as_str().to_owned()),
            ]);
            findings.insert(set, 1);
        }
    }
    gauges(
        registry,
        "loopback_listener_http_finding",
        "A finding of --http about a listener: a web page can reach it by DNS rebinding \
         (rebindable) or read it cross-origin (cross-origin-readable); always 1",
        findings,
    );
}

fn report_metrics(registry: &mut Registry, report: &AuditReport) {
    let mut listeners = BTreeSet::new();
    for l in &report.listeners {
        let mut set: Labels = namespace_labels(&report.namespaces, l.netns).into();
        set.extend([
            ("proto", l.proto.as_str().to_owned()),
            ("address", l.address.to_string()),
            ("port", l.port.to_string()),
            ("interface", bounded(l.interface.as_deref().unwrap_or(""))),
            ("verdict", l.verdict.as_str().to_owned()),
            ("bind_scope", l.bind_scope.as_str().to_owned()),
            (
                "exposure",
                l.exposure
                    .as_ref()
                    .map_or("", |e| e.state.as_str())
                    .to_owned(),
            ),
            (
                "service",
                bounded(l.service.as_ref().map_or("", |s| s.id.as_str())),
            ),
        ]);
        listeners.insert(set);
    }
    info(
        registry,
        "loopback_listener_info",
        "A listening TCP or bound UDP socket and the audit's judgment of it (always 1)",
        listeners,
    );
    if report.listeners.iter().any(|l| l.http.is_some()) {
        http_metrics(registry, report);
    }

    let mut by_verdict: BTreeMap<Labels, i64> = Verdict::ALL
        .iter()
        .map(|v| (vec![("verdict", v.as_str().to_owned())], 0))
        .collect();
    let mut by_exposure: BTreeMap<Labels, i64> = ExposureState::ALL
        .iter()
        .map(|s| (vec![("exposure", s.as_str().to_owned())], 0))
        .collect();
    for l in &report.listeners {
        *by_verdict
            .entry(vec![("verdict", l.verdict.as_str().to_owned())])
            .or_default() += 1;
        if let Some(e) = &l.exposure {
            *by_exposure
                .entry(vec![("exposure", e.state.as_str().to_owned())])
                .or_default() += 1;
        }
    }
    gauges(
        registry,
        "loopback_listeners",
        "Listeners by verdict: exposed (no policy rule allows it), allowed, ok",
        by_verdict,
    );
    gauges(
        registry,
        "loopback_listeners_by_exposure",
        "Listeners by what a connection from another host reaches through the filter and NAT",
        by_exposure,
    );

    let mut publications = BTreeSet::new();
    let mut by_diagnosis: BTreeMap<Labels, i64> = PublicationDiagnosis::ALL
        .iter()
        .map(|d| (vec![("diagnosis", d.as_str().to_owned())], 0))
        .collect();
    for p in &report.publications {
        let mut set: Labels = namespace_labels(&report.namespaces, p.netns).into();
        let [(_, target_ns), (_, target_container)] =
            namespace_labels(&report.namespaces, p.target_netns.unwrap_or(0));
        set.extend([
            ("proto", p.proto.as_str().to_owned()),
            ("address", p.address.to_string()),
            ("port", p.port.to_string()),
            ("target_address", p.target_address.to_string()),
            ("target_port", p.target_port.to_string()),
            (
                "target_namespace",
                if p.target_netns.is_some() {
                    target_ns
                } else {
                    String::new()
                },
            ),
            ("target_container", target_container),
            ("diagnosis", p.diagnosis.as_str().to_owned()),
        ]);
        publications.insert(set);
        *by_diagnosis
            .entry(vec![("diagnosis", p.diagnosis.as_str().to_owned())])
            .or_default() += 1;
    }
    info(
        registry,
        "loopback_publication_info",
        "A published port (a runtime's forwarder or a DNAT rule) and what it reaches (always 1)",
        publications,
    );
    gauges(
        registry,
        "loopback_publications",
        "Published ports by diagnosis: ok, no-listener, target-loopback-only, unknown, filtered",
        by_diagnosis,
    );

    let audited = report.namespaces.iter().filter(|n| n.audited).count();
    let g = Gauge::<i64>::default();
    g.set(i64::try_from(audited).unwrap_or(i64::MAX));
    registry.register("loopback_namespaces", "Network namespaces audited.", g);
    let g = Gauge::<i64>::default();
    g.set(i64::try_from(report.warnings.len()).unwrap_or(i64::MAX));
    registry.register(
        "loopback_warnings",
        "Warnings of the audit (a namespace not captured, owners unknown): see `loopback audit`",
        g,
    );
}

fn doctor_metrics(registry: &mut Registry, doctor: &DoctorReport) {
    let mut values = BTreeMap::new();
    for c in &doctor.checks {
        let ok = match c.status {
            CheckStatus::Pass => 1,
            CheckStatus::Warn | CheckStatus::Fail => 0,
            CheckStatus::Skip => continue,
        };
        values.insert(vec![("check", c.id.as_str().to_owned())], ok);
    }
    gauges(
        registry,
        "loopback_check_ok",
        "A doctor check passed (1) or warned or failed (0); skipped checks are left out",
        values,
    );
}

/// The two text formats a scraper may ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposition {
    /// OpenMetrics 1.0, for an Accept header that names `application/openmetrics-text`.
    OpenMetrics,
    /// The classic Prometheus text format 0.0.4 (node_exporter's textfile collector,
    /// `promtool check metrics`, older scrapers).
    Text,
}

impl Exposition {
    /// The Content-Type of a response in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Exposition::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Exposition::Text => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// The format an HTTP `Accept` header asks for.
    pub fn negotiate(accept: &str) -> Exposition {
        if accept.contains("application/openmetrics-text") {
            Exposition::OpenMetrics
        } else {
            Exposition::Text
        }
    }
}

/// The metrics of `sample` in `format`.
pub fn render(sample: &Sample<'_>, format: Exposition) -> String {
    let open = open_metrics(sample);
    match format {
        Exposition::OpenMetrics => open,
        Exposition::Text => to_text_format(&open),
    }
}

/// OpenMetrics text into the classic text format. Written by hand because prometheus-client
/// encodes only OpenMetrics, and the two differ in three ways for the metrics written here: a
/// counter family is named without `_total` in OpenMetrics and with it in the classic format
/// (whose parsers would otherwise see untyped `_total` samples without help), `# UNIT` lines
/// and the `# EOF` terminator exist only in OpenMetrics. Label escaping is the same.
fn to_text_format(open: &str) -> String {
    let counters: BTreeSet<&str> = open
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open.len());
    for line in open.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let renamed = ["# HELP ", "# TYPE "].iter().find_map(|tag| {
            let rest = line.strip_prefix(tag)?;
            let (name, tail) = rest.split_once(' ')?;
            counters
                .contains(name)
                .then(|| format!("{tag}{name}_total {tail}"))
        });
        match renamed {
            Some(r) => out.push_str(&r),
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

fn open_metrics(sample: &Sample<'_>) -> String {
    let mut registry = Registry::default();
    if let Some(report) = sample.report {
        report_metrics(&mut registry, report);
    }
    if let Some(doctor) = sample.doctor {
        doctor_metrics(&mut registry, doctor);
    }
    let success = Gauge::<i64>::default();
    success.set(i64::from(sample.report.is_some()));
    registry.register(
        "loopback_scrape_success",
        "The capture and the audit succeeded (1) or failed (0)",
        success,
    );
    let seconds = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    seconds.set(sample.duration.as_secs_f64());
    registry.register(
        "loopback_scrape_duration_seconds",
        "How long capturing and judging took",
        seconds,
    );
    if let Some(c) = sample.counters {
        for (name, help, v) in [
            (
                "loopback_scrapes",
                "Captures made for scrapes (scrapes arriving during one share it)",
                c.scrapes,
            ),
            (
                "loopback_scrape_errors",
                "Captures whose capture or audit failed",
                c.errors,
            ),
            (
                "loopback_owner_scans",
                "Walks of /proc for socket owners (other captures reused the owners known)",
                c.owner_scans,
            ),
        ] {
            let counter = Counter::<u64>::default();
            counter.inc_by(v);
            registry.register(name, help, counter);
        }
    }
    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &registry);
    out
}
