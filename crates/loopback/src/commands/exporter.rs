//! `loopback exporter`: Prometheus metrics over HTTP.
//!
//! Each scrape captures afresh (owners only for sockets not seen before, [`Recapture`]) and
//! judges; scrapes that arrive while a capture runs share its result, so a burst of scrapers
//! costs one capture. The doctor's checks run on their own thread every `--doctor-interval`,
//! so a scrape never waits on a probe's deadline.

use std::net::TcpListener;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::Context;
use loopback_core::audit::AuditOptions;
use loopback_core::filter::Filter;
use loopback_core::host::Scope;
use loopback_core::recapture::Recapture;
use loopback_core::snapshot::Request;
use loopback_core::timings::Timings;
use loopback_model::DoctorReport;

use super::audit::{audit_options, judge, request, scope_of};
use super::Ctx;
use crate::cli::ExporterArgs;
use crate::exit::ExitStatus;
use crate::metrics::{self, Counters, Exposition, Sample};
use crate::output;
use crate::serve::{self, Limits, Response};

struct Last {
    /// When the capture behind `body` started.
    started: Instant,
    /// The metrics in each format, rendered when first asked for.
    bodies: [Option<Arc<[u8]>>; 2],
    sample: OwnedSample,
}

/// What a capture produced, kept so a concurrent scrape in the other format can render it.
struct OwnedSample {
    report: Option<loopback_model::AuditReport>,
    doctor: Option<DoctorReport>,
    duration: Duration,
    counters: Counters,
}

impl OwnedSample {
    fn render(&self, format: Exposition) -> Arc<[u8]> {
        Arc::from(
            metrics::render(
                &Sample {
                    report: self.report.as_ref(),
                    doctor: self.doctor.as_ref(),
                    duration: self.duration,
                    counters: Some(self.counters),
                },
                format,
            )
            .into_bytes(),
        )
    }
}

struct Scraper<'a> {
    ctx: &'a Ctx,
    args: &'a ExporterArgs,
    scope: Scope,
    req: Request,
    options: AuditOptions,
    filter: Filter,
    state: Mutex<(Recapture, Counters, Option<Last>)>,
    doctor: Mutex<Option<DoctorReport>>,
}

impl Scraper<'_> {
    /// The metrics for a scrape that arrived at `asked`: from a capture that started after it
    /// (another scrape's, if one ran meanwhile), else from a new one.
    fn scrape(&self, asked: Instant, format: Exposition) -> Arc<[u8]> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let (recapture, counters, last) = &mut *state;
        let slot = usize::from(format == Exposition::Text);
        if let Some(l) = last.as_mut().filter(|l| l.started >= asked) {
            let sample = &l.sample;
            return Arc::clone(l.bodies[slot].get_or_insert_with(|| sample.render(format)));
        }
        let started = Instant::now();
        let report = recapture
            .capture(self.ctx.sys.as_ref(), &self.scope, &self.req, started)
            .map_err(|e| anyhow::anyhow!(e))
            .and_then(|host| judge(&host, &self.options, &self.filter));
        let duration = started.elapsed();
        counters.scrapes += 1;
        counters.owner_scans = recapture.owner_scans;
        if let Err(e) = &report {
            counters.errors += 1;
            output::warn(&format!("scrape: {e:#}"));
        }
        let sample = OwnedSample {
            report: report.ok(),
            doctor: self
                .doctor
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            duration,
            counters: *counters,
        };
        let body = sample.render(format);
        let mut bodies = [None, None];
        bodies[slot] = Some(Arc::clone(&body));
        *last = Some(Last {
            started,
            bodies,
            sample,
        });
        body
    }

    fn run_doctor(&self) -> anyhow::Result<()> {
        let report = super::doctor::checks(
            self.ctx,
            self.args.scope.netns.as_deref(),
            loopback_core::doctor::DoctorOptions::default().timeout,
            None,
            &Timings::new(),
        )?;
        *self.doctor.lock().unwrap_or_else(PoisonError::into_inner) = Some(report);
        Ok(())
    }

    fn handle(&self, req: &serve::Request) -> Response {
        if !serve::host_allowed(req.host.as_deref(), &self.args.allowed_host) {
            return Response::text(
                421,
                "this Host is not a name of this exporter: a web page may be rebinding its own \
                 name to this address; scrape it by IP address or localhost, or name it with \
                 --allowed-host\n",
            );
        }
        match req.path.as_str() {
            "/metrics" => {
                let format = Exposition::negotiate(&req.accept);
                Response {
                    status: 200,
                    content_type: format.content_type(),
                    body: self.scrape(Instant::now(), format),
                }
            }
            "/" => Response::text(
                200,
                "loopback exporter: metrics at /metrics (see `man loopback`, EXPORTER)\n",
            ),
            _ => Response::text(404, "not found; metrics are at /metrics\n"),
        }
    }
}

pub fn run(ctx: &Ctx, args: &ExporterArgs) -> anyhow::Result<ExitStatus> {
    let scraper = Scraper {
        ctx,
        args,
        scope: scope_of(&args.scope)?,
        req: Request {
            http: args.http.options(&args.filter.port),
            ..request(&args.scope)
        },
        options: audit_options(&args.scope)?,
        filter: args.filter.filter(),
        state: Mutex::new((
            Recapture::new(args.owner_max_age),
            Counters::default(),
            None,
        )),
        doctor: Mutex::new(None),
    };
    let listener = TcpListener::bind(args.listen)
        .with_context(|| format!("--listen {}: cannot serve there", args.listen))?;
    if !args.listen.ip().is_loopback() {
        output::warn(&format!(
            "serving on {}, not loopback: whoever reaches it sees every listener of this host",
            args.listen
        ));
    }
    // The first doctor run before serving, so the first scrape has the checks.
    if let Err(e) = scraper.run_doctor() {
        output::warn(&format!("doctor: {e:#}"));
    }
    eprintln!(
        "loopback: exporter serving http://{}/metrics",
        listener.local_addr()?
    );
    let limits = Limits {
        workers: usize::from(args.workers),
        ..Limits::default()
    };
    let (stop, stopped) = std::sync::mpsc::channel::<()>();
    let scraper = &scraper;
    std::thread::scope(|s| {
        s.spawn(move || {
            // The wait is the interval; the server ending (the sender dropped) ends it early.
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                stopped.recv_timeout(args.doctor_interval)
            {
                if let Err(e) = scraper.run_doctor() {
                    output::warn(&format!("doctor: {e:#}"));
                }
            }
        });
        let served = serve::serve(&listener, limits, &|req| scraper.handle(req));
        drop(stop);
        served.with_context(|| format!("serving {}", args.listen))
    })?;
    Ok(ExitStatus::Clean)
}
