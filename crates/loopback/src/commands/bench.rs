//! `loopback bench`.

use anyhow::Context;
use loopback_core::bench::{self, BenchOptions, Progress};
use loopback_model::bench::{BenchPath, BenchReport, BenchResult, BenchTest, PlacementMode};

use super::Ctx;
use crate::cli::BenchArgs;
use crate::exit::ExitStatus;
use crate::output::{self, esc, Style, YELLOW};

pub fn run(ctx: &Ctx, args: &BenchArgs) -> anyhow::Result<ExitStatus> {
    let defaults = BenchOptions::default();
    let opts = BenchOptions {
        explicit: !args.paths.is_empty(),
        paths: if args.paths.is_empty() {
            defaults.paths
        } else {
            dedup(&args.paths)
        },
        tests: if args.tests.is_empty() {
            defaults.tests
        } else {
            dedup(&args.tests.iter().map(|t| t.test()).collect::<Vec<_>>())
        },
        size: args.size as usize,
        stream_size: args.stream_size as usize,
        duration: args.duration,
        repeats: args.repeats,
        placement: args.placement.map(|p| p.mode()),
        cpus: args.cpus,
    };
    let host = loopback_sys::bench_host();
    let bar = Bar::new();
    let report =
        bench::run(ctx.sys.as_ref(), host.as_ref(), &opts, &bar, &ctx.timings).context("bench")?;
    bar.done();
    if let Some(path) = &args.plot {
        let svg = crate::plot::latency_svg(&report);
        std::fs::write(path, svg).with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        output::print_json(&report)?;
    } else {
        output::print_text(&render(&report, ctx.style))?;
    }
    let failed: Vec<String> = report
        .paths
        .iter()
        .flat_map(|p| {
            let skipped = p
                .skipped
                .as_ref()
                .filter(|_| opts.explicit)
                .map(|why| format!("{}: {why}", p.path));
            skipped.into_iter().chain(p.errors.iter().cloned())
        })
        .collect();
    for f in &failed {
        output::warn(f);
    }
    Ok(if failed.is_empty() {
        ExitStatus::Clean
    } else {
        ExitStatus::Error
    })
}

fn dedup<T: PartialEq + Copy>(v: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for x in v {
        if !out.contains(x) {
            out.push(*x);
        }
    }
    out
}

/// A progress bar on stderr; hidden when stderr is not a terminal.
struct Bar(indicatif::ProgressBar);

impl Bar {
    fn new() -> Bar {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(0),
            indicatif::ProgressDrawTarget::stderr(),
        );
        if let Ok(style) =
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} rounds  {msg}")
        {
            bar.set_style(style);
        }
        Bar(bar)
    }
    fn done(&self) {
        self.0.finish_and_clear();
    }
}

impl Progress for Bar {
    fn begin(&self, steps: u64) {
        self.0.set_length(steps);
    }
    fn test(&self, label: &str) {
        self.0.set_message(label.to_owned());
    }
    fn step(&self) {
        self.0.inc(1);
    }
}

/// The report as tables, one per test, each figure next to its ratio to 127.0.0.1.
pub fn render(r: &BenchReport, style: Style) -> String {
    let mut out = String::new();
    let (set, p) = (&r.settings, &r.settings.placement);
    let placement = match p.mode {
        PlacementMode::Same => format!("client and server on CPU {}", cpu(p.client_cpu)),
        PlacementMode::Split => format!(
            "client on CPU {}, server on CPU {}",
            cpu(p.client_cpu),
            cpu(p.server_cpu)
        ),
        PlacementMode::None => "threads not pinned (the scheduler places them)".to_owned(),
    };
    out.push_str(&output::wrap(
        &format!(
            "{placement}; {} rounds of {} ms per test after a {} ms warm-up; {}-byte messages, \
             {}-byte stream writes",
            set.repeats,
            set.duration_ms / u64::from(set.repeats.max(1)),
            set.warmup_ms,
            set.size,
            set.stream_size
        ),
        style.width,
        0,
    ));
    out.push('\n');
    let l = &r.load;
    let mut machine = format!("machine: {} CPUs", l.cpus);
    if let (Some(a), Some(b)) = (l.load1_before, l.load1_after) {
        machine.push_str(&format!(", load {a:.2} before and {b:.2} after"));
    }
    if let Some(b) = l.busy_before_pct {
        machine.push_str(&format!(", {b:.0}% busy before"));
    }
    if let Some(s) = l.steal_pct {
        machine.push_str(&format!(", {s:.1}% steal during"));
    }
    out.push_str(&machine);
    out.push('\n');
    for reason in &l.reasons {
        out.push_str(&style.paint(
            &output::wrap(
                &format!("busy: {reason}; figures may be off"),
                style.width,
                2,
            ),
            YELLOW,
        ));
        out.push('\n');
    }

    out.push_str("\npaths:\n");
    for info in &r.paths {
        out.push_str(&format!("  {:<11}", info.path.as_str()));
        let mut line = String::new();
        if let Some(why) = &info.skipped {
            line.push_str(&format!("skipped: {why}"));
        } else {
            let mut parts = Vec::new();
            if let Some(t) = &info.target {
                parts.push(t.clone());
            }
            if let Some(route) = &info.route {
                parts.push(format!("route: {route}"));
            } else if let Some(dev) = &info.device {
                parts.push(format!("via {dev}"));
            }
            if let Some(mtu) = info.mtu {
                parts.push(format!("MTU {mtu}"));
            }
            if info.path == BenchPath::Own && info.device.as_deref() == Some("lo") {
                parts.push("the kernel routes this host's own address over lo".into());
            }
            if let Some(c) = &info.counters {
                parts.push(format!(
                    "the server's end counted {} packets in and {} out",
                    c.rx_packets, c.tx_packets
                ));
            }
            if let Some(s) = &info.setup {
                parts.push(s.clone());
            }
            line.push_str(&parts.join("; "));
        }
        out.push_str(&output::wrap(&line, style.width, 13));
        out.push('\n');
    }

    for (test, title) in [
        (BenchTest::Rr, "request/response, full round trip"),
        (BenchTest::Connect, "connect and close"),
        (
            BenchTest::Proxy,
            "through a TCP proxy on 127.0.0.1, the hop to the backend on the path",
        ),
    ] {
        let rows: Vec<&BenchResult> = r.results.iter().filter(|x| x.test == test).collect();
        if rows.is_empty() {
            continue;
        }
        out.push_str(&format!("\n{title} (microseconds):\n"));
        let extra = if test == BenchTest::Proxy {
            "   added"
        } else {
            ""
        };
        out.push_str(&format!(
            "  {:<11}{:<12}{:>8}{:>8}{:>8}{:>9}{:>8}{:>7}{extra}\n",
            "path", "proto", "p50", "p90", "p99", "p99.9", "spread", "ratio"
        ));
        for x in rows {
            let added = if test == BenchTest::Proxy {
                format!("{:>8}", num(x.added_us))
            } else {
                String::new()
            };
            out.push_str(&format!(
                "  {:<11}{:<12}{:>8}{:>8}{:>8}{:>9}{:>7.1}%{:>7}{added}\n",
                x.path.as_str(),
                x.proto.as_str(),
                num(x.p50_us),
                num(x.p90_us),
                num(x.p99_us),
                num(x.p999_us),
                x.spread_pct,
                ratio(x.ratio),
            ));
        }
    }
    let streams: Vec<&BenchResult> = r
        .results
        .iter()
        .filter(|x| x.test == BenchTest::Stream)
        .collect();
    if !streams.is_empty() {
        out.push_str("\nstream, one direction, at the receiver (Gbit/s):\n");
        out.push_str(&format!(
            "  {:<11}{:<12}{:>8}{:>8}{:>7}\n",
            "path", "proto", "Gbit/s", "spread", "ratio"
        ));
        for x in streams {
            out.push_str(&format!(
                "  {:<11}{:<12}{:>8}{:>7.1}%{:>7}\n",
                x.path.as_str(),
                x.proto.as_str(),
                x.gbit_s.map_or("-".into(), |g| format!("{g:.2}")),
                x.spread_pct,
                ratio(x.ratio),
            ));
        }
    }
    let samples: u64 = r
        .results
        .iter()
        .filter(|x| x.test != BenchTest::Stream)
        .map(|x| x.samples)
        .sum();
    out.push('\n');
    out.push_str(&output::wrap(
        &format!(
            "{samples} timed samples in all. Latencies are full round trips (not halves) from \
             an HDR histogram; spread is the range of the rounds' medians over their median; \
             ratio is to the same test on 127.0.0.1 (TCP for streams, UDP for datagrams)."
        ),
        style.width,
        0,
    ));
    out.push('\n');
    for w in &r.warnings {
        out.push_str(&format!("warning: {}\n", esc(w)));
    }
    out
}

fn cpu(c: Option<usize>) -> String {
    c.map_or("?".into(), |c| c.to_string())
}

fn num(v: Option<f64>) -> String {
    match v {
        Some(v) if v >= 100.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.1}"),
        None => "-".into(),
    }
}

fn ratio(v: Option<f64>) -> String {
    v.map_or("-".into(), |r| format!("{r:.2}x"))
}
