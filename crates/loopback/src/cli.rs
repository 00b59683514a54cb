//! Command-line definitions.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::escape::{esc, esc_lines};
use crate::exit::ExitStatus;

#[derive(Debug, clap::Parser)]
#[command(
    name = "loopback",
    version,
    about = "Make this host's loopback networking visible, verified and safe",
    after_help = "Exit codes: 0 clean, 1 findings, 2 error. JSON schemas: docs/json.md."
)]
pub struct Cli {
    /// When to colour human output: auto honours NO_COLOR and only colours terminals.
    #[arg(long, value_enum, default_value_t = ColorChoice::Auto, global = true)]
    pub color: ColorChoice,
    /// Print how long each phase took (capture, live probes, judgment) on stderr.
    #[arg(long, global = true)]
    pub timings: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List every listening TCP and bound UDP socket, its owners, and whether other hosts can
    /// reach it. Exits 1 when a listener is exposed and no policy rule allows it.
    Audit(AuditArgs),
    /// Check that loopback works here: interface, addresses, echo, TCP and UDP round trips,
    /// firewall, route_localnet, localhost resolution. Exits 1 when a check fails.
    Doctor(DoctorArgs),
    /// How NAME (or NAME:PORT) resolves here and why: nsswitch, the hosts file, AI_ADDRCONFIG and
    /// the RFC 6724 order with gai.conf, beside the C library's own answer. Exits 1 on findings.
    Resolve(ResolveArgs),
    /// Try every address HOST resolves to, in order, as curl and browsers do, and diagnose the
    /// result. Exits 0 when every address accepts, 1 otherwise.
    Probe(ProbeArgs),
    /// Explain an address, CIDR, host name or HOST:PORT: what it is and who can reach a service
    /// bound to it.
    Explain(ExplainArgs),
    /// Whether a server could bind ADDR:PORT (a bare PORT: 127.0.0.1, ::1, 0.0.0.0 and ::; a
    /// NAME:PORT: every address the name resolves to): each bind is really made with the
    /// options given and closed at once (never listening), and a failure is explained with the
    /// socket that holds the port, its owner and what to do. Exits 0 when every address would
    /// bind, 1 when one would not.
    Bind(BindArgs),
    /// Where a local TCP connection to DEST really goes: the marks the output hook sets, the
    /// route the kernel picks for the client's uid and mark (and the ip rule that chose it),
    /// REDIRECT and DNAT in the output hook, and the listener that receives it. Without DEST,
    /// every rule on the host that diverts local traffic. Exits 0 when every path is direct
    /// (without DEST: nothing diverts), 1 otherwise.
    Intercept(InterceptArgs),
    /// Per-service loopback addresses and names (`127.0.0.2 api.test`) in a block of the
    /// hosts file this command manages, written so that no byte outside it changes, and what
    /// every client (glibc, curl, Python, Go, Node.js, browsers) makes of them.
    #[command(subcommand)]
    Names(NamesCommand),
    /// Measure what loopback costs next to a LAN link and a Unix socket: round trips, new
    /// connections and streams over 127.0.0.1, ::1, another 127/8 address, this host's own
    /// address, a veth link and a bridge with NAT (namespaces the bench makes and removes; root),
    /// and Unix sockets, and a proxy hop on each kind. Exits 2 when a measurement failed or a
    /// path named with --paths could not be measured.
    Bench(BenchArgs),
    /// Serve Prometheus metrics on http://127.0.0.1:10127/metrics: each listener with its
    /// verdict and exposure, counts, published ports and their diagnoses, the doctor's checks.
    /// Each scrape takes a fresh snapshot (every namespace with -A).
    Exporter(ExporterArgs),
    /// Print a completion script for bash, zsh, fish, PowerShell or Elvish.
    Completions(CompletionsArgs),
    /// Print the man page (roff): `loopback man | man -l -`; with --dir, write it and one
    /// page per command (loopback-audit.1, ...) into DIR.
    Man(ManArgs),
    /// Capture a snapshot of this network namespace (sockets, owners, interfaces, kernel
    /// settings, routes, resolver files) as JSON, to judge later or elsewhere with
    /// `audit --snapshot` or `explain --snapshot`.
    Snapshot(SnapshotArgs),
}

#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// Paths to measure, comma-separated: 127.0.0.1, ::1, 127/8, own, veth, bridge-nat, unix
    /// (default: every one; veth and bridge-nat are skipped without root).
    #[arg(long, value_name = "PATHS", value_delimiter = ',', value_parser = parse_bench_path)]
    pub paths: Vec<loopback_model::bench::BenchPath>,
    /// Tests to run, comma-separated: rr (request/response), connect, stream, proxy.
    #[arg(long, value_name = "TESTS", value_delimiter = ',', value_enum)]
    pub tests: Vec<BenchTestArg>,
    /// Request and response size in bytes (rr, proxy).
    #[arg(long, value_name = "BYTES", default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=65_000))]
    pub size: u32,
    /// Write size of the stream test in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 128 << 10, value_parser = clap::value_parser!(u32).range(1..=(16 << 20)))]
    pub stream_size: u32,
    /// Measured time per test: 2s, 500ms, or seconds (split into --repeats rounds, after a
    /// warm-up of a tenth of it).
    #[arg(long, value_name = "TIME", default_value = "1s", value_parser = parse_duration)]
    pub duration: std::time::Duration,
    /// Rounds per test; the spread of their medians says how steady the figures are.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub repeats: u32,
    /// Where client and server threads run: one CPU (same), two (split), or wherever the
    /// scheduler puts them (none). Default: split when two CPUs are available.
    #[arg(long, value_enum)]
    pub placement: Option<PlacementArg>,
    /// The client's and the server's CPU, as CLIENT,SERVER.
    #[arg(long, value_name = "CLIENT,SERVER", value_parser = parse_cpus)]
    pub cpus: Option<(usize, usize)>,
    /// Also draw the latency distributions into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Print the JSON document (docs/json.md) instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BenchTestArg {
    Rr,
    Connect,
    Stream,
    Proxy,
}

impl BenchTestArg {
    pub fn test(self) -> loopback_model::bench::BenchTest {
        use loopback_model::bench::BenchTest;
        match self {
            BenchTestArg::Rr => BenchTest::Rr,
            BenchTestArg::Connect => BenchTest::Connect,
            BenchTestArg::Stream => BenchTest::Stream,
            BenchTestArg::Proxy => BenchTest::Proxy,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PlacementArg {
    Same,
    Split,
    None,
}

impl PlacementArg {
    pub fn mode(self) -> loopback_model::bench::PlacementMode {
        use loopback_model::bench::PlacementMode;
        match self {
            PlacementArg::Same => PlacementMode::Same,
            PlacementArg::Split => PlacementMode::Split,
            PlacementArg::None => PlacementMode::None,
        }
    }
}

fn parse_bench_path(s: &str) -> Result<loopback_model::bench::BenchPath, String> {
    use loopback_model::bench::BenchPath;
    BenchPath::parse(s).ok_or_else(|| {
        let names: Vec<&str> = BenchPath::ALL.iter().map(|p| p.as_str()).collect();
        format!("not a path; one of {}", names.join(", "))
    })
}

/// `2s`, `500ms`, or a number of seconds.
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let (num, scale) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1.0)
    } else {
        (s, 1.0)
    };
    let v: f64 = num
        .trim()
        .parse()
        .map_err(|_| "a time such as 2s, 500ms or 1.5".to_owned())?;
    let secs = v * scale;
    if !(0.01..=3600.0).contains(&secs) {
        return Err("between 10ms and 3600s".into());
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// `CLIENT,SERVER` CPU numbers.
fn parse_cpus(s: &str) -> Result<(usize, usize), String> {
    let (c, srv) = s
        .split_once(',')
        .ok_or_else(|| "two CPU numbers: CLIENT,SERVER".to_owned())?;
    let n = |t: &str| {
        t.trim()
            .parse::<usize>()
            .map_err(|_| format!("{t:?} is not a CPU number"))
    };
    Ok((n(c)?, n(srv)?))
}

#[derive(Debug, clap::Args)]
pub struct SnapshotArgs {
    /// Also capture the packet-filter ruleset (runs `nft -a list ruleset` and `iptables-save`).
    #[arg(long)]
    pub firewall: bool,
    /// Where to read sockets from.
    #[arg(long, value_enum, default_value_t = Source::Auto)]
    pub source: Source,
    #[command(flatten)]
    pub http: HttpArgs,
}

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Print the JSON document (docs/json.md) instead of a table; with --watch, one JSON
    /// event per line.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    /// What to print: a table, the JSON document, or Prometheus metrics (the exporter's, for
    /// node_exporter's textfile collector; with the doctor's checks).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write to FILE instead of stdout, atomically (a temporary file in the same directory,
    /// then a rename), so a collector never reads half a file.
    #[arg(short = 'o', long, value_name = "FILE", conflicts_with = "watch")]
    pub output: Option<PathBuf>,
    /// Keep watching: print a line (or with --json a JSON line) for each change, listener
    /// added or gone, exposure changed, publication changed, until interrupted.
    #[arg(long, conflicts_with_all = ["snapshot", "http", "http_all"])]
    pub watch: bool,
    /// Also list TCP sockets bound to a port and not listening: they hold the port (a server
    /// cannot bind it) though no listening table shows them (sock_diag's bound-inactive dump,
    /// Linux 6.9 and later).
    #[arg(long, conflicts_with = "watch")]
    pub bound: bool,
    /// Time between two looks with --watch: 2s, 500ms, or seconds.
    #[arg(long, value_name = "TIME", default_value = "2s", value_parser = parse_duration, requires = "watch")]
    pub interval: std::time::Duration,
    /// Judge a snapshot saved by `loopback snapshot` instead of this host.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["source", "netns", "all_namespaces", "http", "http_all"])]
    pub snapshot: Option<PathBuf>,
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    #[command(flatten)]
    pub http: HttpArgs,
}

/// `--http`: whether a web page in the user's browser can reach the local HTTP servers.
#[derive(Debug, Clone, clap::Args)]
pub struct HttpArgs {
    /// Ask each TCP listener bound to loopback whether a web page can reach it: `GET /` with its
    /// own Host and with a foreign one (DNS rebinding), a CORS preflight and a `GET /` from a
    /// foreign Origin; TLS when the port speaks it. Only GET and OPTIONS, no body, no cookie,
    /// one connection at a time per listener. Nothing is sent without it.
    #[arg(long)]
    pub http: bool,
    /// Like --http, for every TCP listener (wildcards at 127.0.0.1 or ::1, other addresses of
    /// this host at themselves), not only those bound to loopback.
    #[arg(long)]
    pub http_all: bool,
    /// Deadline of each HTTP request: 1s, 500ms, or seconds (at most 30s).
    #[arg(long, value_name = "TIME", default_value = "1s", value_parser = parse_http_timeout)]
    pub http_timeout: std::time::Duration,
}

impl HttpArgs {
    /// What the capture asks for, when anything: only listeners on `ports` when some are
    /// given (`--port`).
    pub fn options(&self, ports: &[u16]) -> Option<loopback_core::http::HttpOptions> {
        (self.http || self.http_all).then(|| loopback_core::http::HttpOptions {
            all: self.http_all,
            timeout: self.http_timeout,
            ports: ports.to_vec(),
        })
    }
}

fn parse_http_timeout(s: &str) -> Result<std::time::Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() || d > std::time::Duration::from_secs(30) {
        return Err("between 10ms and 30s".into());
    }
    Ok(d)
}

/// Output formats of `audit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Prometheus,
}

/// What `audit` and the exporter look at, and how they judge it.
#[derive(Debug, clap::Args)]
pub struct ScopeArgs {
    /// Policy file (TOML) with [[allow]] rules for intended exposure.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Where to read sockets from: netlink sock_diag with /proc fallback (auto), or only one.
    #[arg(long, value_enum, default_value_t = Source::Auto)]
    pub source: Source,
    /// Every network namespace on the host (every process's, named ones, and bind-mounted
    /// ones such as Docker's), grouped by namespace with container names.
    #[arg(short = 'A', long, conflicts_with = "netns")]
    pub all_namespaces: bool,
    /// Another network namespace: a name under /run/netns, a PID (that process's namespace),
    /// or a path to a namespace file. Needs CAP_SYS_ADMIN.
    #[arg(long, value_name = "TARGET")]
    pub netns: Option<String>,
    /// Count IFACE as leading off this machine (repeatable): a veth to a VM, a lab or a test
    /// peer. Physical devices, Wi-Fi, tunnels and veths to namespaces not visible from here
    /// count already.
    #[arg(long, value_name = "IFACE")]
    pub uplink: Vec<String>,
}

/// Only some listeners. Each flag takes a comma-separated list or repeats (any of them);
/// different flags must all match. Verdicts do not change; the exit status speaks of what is
/// shown.
#[derive(Debug, Default, clap::Args)]
pub struct FilterArgs {
    /// Local port (published or target port for a publication).
    #[arg(long, value_name = "PORT", value_delimiter = ',')]
    pub port: Vec<u16>,
    /// Owning process id.
    #[arg(long, value_name = "PID", value_delimiter = ',')]
    pub pid: Vec<u32>,
    /// Owning process name, exactly as `ss -p` shows it (the kernel's comm).
    #[arg(long, value_name = "NAME", value_delimiter = ',')]
    pub process: Vec<String>,
    /// Owning user: a name or a uid.
    #[arg(long, value_name = "USER", value_delimiter = ',')]
    pub user: Vec<String>,
    /// tcp or udp.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub proto: Vec<ProtoArg>,
    /// Only listeners other hosts can reach (verdict exposed or allowed).
    #[arg(long)]
    pub exposed: bool,
}

impl FilterArgs {
    pub fn filter(&self) -> loopback_core::filter::Filter {
        loopback_core::filter::Filter {
            ports: self.port.clone(),
            pids: self.pid.clone(),
            processes: self.process.clone(),
            users: self.user.clone(),
            protos: self.proto.iter().map(|p| p.proto()).collect(),
            exposed: self.exposed,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProtoArg {
    Tcp,
    Udp,
}

impl ProtoArg {
    pub fn proto(self) -> loopback_model::Proto {
        match self {
            ProtoArg::Tcp => loopback_model::Proto::Tcp,
            ProtoArg::Udp => loopback_model::Proto::Udp,
        }
    }
}

/// The exporter's default address: 127.0.0.1 (only this host scrapes it unless told
/// otherwise) and a port outside the exporters' allocation range 9100-9999, which is full.
pub const EXPORTER_DEFAULT_LISTEN: &str = "127.0.0.1:10127";

#[derive(Debug, clap::Args)]
pub struct ExporterArgs {
    /// Address and port to serve /metrics on. Binding anything but loopback shows the
    /// host's listeners to whoever can reach it.
    #[arg(long, value_name = "ADDR:PORT", default_value = EXPORTER_DEFAULT_LISTEN)]
    pub listen: std::net::SocketAddr,
    #[command(flatten)]
    pub scope: ScopeArgs,
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Reuse the socket owners found by the last walk of /proc for at most this long while no
    /// new socket appears (a new socket always triggers a walk).
    #[arg(long, value_name = "TIME", default_value = "60s", value_parser = parse_duration)]
    pub owner_max_age: std::time::Duration,
    /// Run the doctor's checks (loopback_check_ok) this often, on their own thread; a scrape
    /// never waits for them.
    #[arg(long, value_name = "TIME", default_value = "60s", value_parser = parse_duration)]
    pub doctor_interval: std::time::Duration,
    /// Answers computed at once; more requests wait in a short queue (16), then get 503. Idle
    /// and slow connections hold no worker.
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub workers: u16,
    #[command(flatten)]
    pub http: HttpArgs,
    /// A host name scrapers may use in the Host header (repeatable), besides IP addresses,
    /// `localhost` and `*.localhost`; any other name is refused with 421, so that a web page
    /// cannot read the metrics by DNS rebinding.
    #[arg(long, value_name = "NAME")]
    pub allowed_host: Vec<String>,
}

#[derive(Debug, clap::Args)]
pub struct ManArgs {
    /// Write loopback.1 and a page per command into this directory instead.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Source {
    Auto,
    Netlink,
    Proc,
}

impl Source {
    pub fn preference(self) -> loopback_sys::SourcePreference {
        match self {
            Source::Auto => loopback_sys::SourcePreference::Auto,
            Source::Netlink => loopback_sys::SourcePreference::Netlink,
            Source::Proc => loopback_sys::SourcePreference::Proc,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct DoctorArgs {
    /// Print the JSON document (docs/json.md) instead of a report.
    #[arg(long)]
    pub json: bool,
    /// Also try to reach HOST or HOST:PORT (ICMP echo, and TCP with a port). Without it no
    /// packet leaves this host.
    #[arg(long, value_name = "HOST[:PORT]")]
    pub reach: Option<String>,
    /// Deadline of each network step, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub timeout_ms: u64,
    /// Run in another network namespace: a name under /run/netns, a PID (that process's
    /// namespace, and the hosts file of its root), or a path to a namespace file. Needs CAP_SYS_ADMIN.
    #[arg(long, value_name = "TARGET")]
    pub netns: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ResolveArgs {
    /// NAME, or NAME:PORT to also check where the service on PORT listens.
    pub name: String,
    /// Print the JSON document (docs/json.md).
    #[arg(long)]
    pub json: bool,
    /// Run in another network namespace: a name under /run/netns, a PID (that process's
    /// namespace, and the hosts, nsswitch.conf and gai.conf files of its root), or a path to a namespace file. Needs CAP_SYS_ADMIN.
    #[arg(long, value_name = "TARGET")]
    pub netns: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ProbeArgs {
    /// HOST:PORT, [V6]:PORT, a bare PORT or :PORT (localhost), or an http:// or https:// URL
    /// (its port, or 80/443; http:// implies --http).
    pub target: String,
    /// Send `GET /` after connecting and report the HTTP status line.
    #[arg(long, conflicts_with = "udp")]
    pub http: bool,
    /// Probe a UDP port (a reply means open, ICMP port unreachable means refused).
    #[arg(long)]
    pub udp: bool,
    /// Also say what each client (curl, Python, Node.js, Go, Java, browsers) would do with this
    /// name and these results (the JSON always has them).
    #[arg(long)]
    pub clients: bool,
    /// Print the JSON document (docs/json.md).
    #[arg(long)]
    pub json: bool,
    /// Deadline of each attempt, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=30_000))]
    pub timeout_ms: u64,
    /// Run in another network namespace: a name under /run/netns, a PID (that process's
    /// namespace), or a path to a namespace file. Needs CAP_SYS_ADMIN.
    #[arg(long, value_name = "TARGET")]
    pub netns: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum NamesCommand {
    /// Map NAME to a loopback address of its own: the lowest of 127.0.0.2-127.0.0.254 that
    /// no hosts-file line maps and no socket is bound to, or --address. Exits 0 when NAME is
    /// mapped (already or now), 2 when it is refused (the file is then untouched).
    Add(NamesAddArgs),
    /// Remove NAME from the managed block (the block goes with its last name). Exits 2 when
    /// the block does not hold NAME.
    Remove(NamesNameArgs),
    /// List the managed names.
    List(NamesFileArgs),
    /// What each client would get for each managed name (or the NAMEs given), and whether it
    /// agrees with the plan. Exits 1 when a client disagrees or the address is not assigned.
    Verify(NamesVerifyArgs),
}

#[derive(Debug, clap::Args)]
pub struct NamesFileArgs {
    /// The hosts file (default: the system's, /etc/hosts or
    /// %SystemRoot%\System32\drivers\etc\hosts).
    #[arg(long, value_name = "FILE")]
    pub hosts_file: Option<PathBuf>,
    /// Print the JSON document (docs/json.md).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct NamesAddArgs {
    /// The host name (api.test; a .test or .internal name works for every client).
    pub name: String,
    /// The address, in 127.0.0.0/8 (default: the lowest free one of 127.0.0.2-127.0.0.254).
    #[arg(long, value_name = "127.X.Y.Z")]
    pub address: Option<std::net::IpAddr>,
    #[command(flatten)]
    pub file: NamesFileArgs,
}

#[derive(Debug, clap::Args)]
pub struct NamesNameArgs {
    /// The managed name.
    pub name: String,
    #[command(flatten)]
    pub file: NamesFileArgs,
}

#[derive(Debug, clap::Args)]
pub struct NamesVerifyArgs {
    /// Managed names to verify (default: every one).
    pub names: Vec<String>,
    #[command(flatten)]
    pub file: NamesFileArgs,
}

#[derive(Debug, clap::Args)]
pub struct InterceptArgs {
    /// HOST:PORT, [V6]:PORT, or an http:// or https:// URL.
    pub dest: Option<String>,
    /// Trace the connection of this user (a name or a uid) rather than this process's.
    #[arg(long, value_name = "USER|UID", conflicts_with = "pid")]
    pub uid: Option<String>,
    /// Trace the connection of this process: its uid, control group, network namespace
    /// and proxy environment (`/proc/PID/environ`).
    #[arg(long, value_name = "PID")]
    pub pid: Option<u32>,
    /// Print the JSON document (docs/json.md).
    #[arg(long)]
    pub json: bool,
    /// Run in another network namespace: a name under /run/netns, a PID (that process's
    /// namespace), or a path to a namespace file. Needs CAP_SYS_ADMIN.
    #[arg(long, value_name = "TARGET")]
    pub netns: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct BindArgs {
    /// ADDR:PORT, [V6]:PORT, PORT or NAME:PORT.
    pub target: String,
    /// The protocol of the socket.
    #[arg(long, value_enum, default_value = "tcp")]
    pub proto: ProtoArg,
    /// Set SO_REUSEADDR before binding, as most servers do (the default, except on Windows,
    /// where SO_REUSEADDR lets a socket take over a port another holds).
    #[arg(long, overrides_with = "no_reuseaddr")]
    pub reuseaddr: bool,
    /// Do not set SO_REUSEADDR.
    #[arg(long, overrides_with = "reuseaddr")]
    pub no_reuseaddr: bool,
    /// Set SO_REUSEPORT (join a group of sockets sharing the port; Unix only).
    #[arg(long)]
    pub reuseport: bool,
    /// Set IPV6_V6ONLY on the IPv6 sockets (without it, the system's default applies).
    #[arg(long)]
    pub v6only: bool,
    /// Print the JSON document (docs/json.md).
    #[arg(long)]
    pub json: bool,
    /// Run in another network namespace: a name under /run/netns, a PID (that process's
    /// namespace), or a path to a namespace file. Needs CAP_SYS_ADMIN.
    #[arg(long, value_name = "TARGET")]
    pub netns: Option<String>,
}

impl BindArgs {
    /// The socket options asked for.
    pub fn options(&self) -> loopback_model::bind::BindOptions {
        loopback_model::bind::BindOptions {
            reuseaddr: if self.reuseaddr {
                true
            } else if self.no_reuseaddr {
                false
            } else {
                !cfg!(windows)
            },
            reuseport: self.reuseport,
            v6only: self.v6only.then_some(true),
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct ExplainArgs {
    /// ADDR, CIDR, HOST, HOST:PORT, ADDR:PORT or [V6]:PORT.
    pub target: String,
    /// Print the JSON document (docs/json.md).
    #[arg(long)]
    pub json: bool,
    /// Judge a snapshot saved by `loopback snapshot` instead of this host (a host name is
    /// still resolved here).
    #[arg(long, value_name = "FILE", conflicts_with = "netns")]
    pub snapshot: Option<PathBuf>,
    /// Run in another network namespace: a name under /run/netns, a PID (that process's
    /// namespace), or a path to a namespace file. Needs CAP_SYS_ADMIN.
    #[arg(long, value_name = "TARGET")]
    pub netns: Option<String>,
}

/// Print a command-line error and return its exit code. Help and version go to stdout (exit 0).
/// clap quotes the offending argument in its message; when an argument holds control
/// characters, the message comes from the same arguments with those escaped, so what a
/// script passed on cannot write to the terminal.
pub fn report_parse_error(err: &clap::Error) -> std::process::ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) {
        let _ = err.print();
        return ExitStatus::Clean.into();
    }
    let args: Vec<String> = std::env::args_os()
        .map(|a| esc(&a.to_string_lossy()).into_owned())
        .collect();
    let text = match Cli::try_parse_from(&args) {
        Err(escaped) => escaped.render().to_string(),
        Ok(_) => err.render().to_string(),
    };
    eprint!("{}", esc_lines(&text));
    ExitStatus::Error.into()
}
