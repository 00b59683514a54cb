//! `loopback bench`: what one round trip, one connection and one stream cost on each path.

use serde::{Deserialize, Serialize};

/// The schema version of `loopback bench --json` (`docs/json.md`).
pub const BENCH_VERSION: u32 = 1;

/// A path a client's bytes take to the server. The JSON names are the `--paths` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum BenchPath {
    /// TCP or UDP to `127.0.0.1`.
    #[serde(rename = "127.0.0.1")]
    Loopback4,
    /// TCP or UDP to `::1`.
    #[serde(rename = "::1")]
    Loopback6,
    /// Another address of 127.0.0.0/8 (`127.0.0.2`), which `lo`'s /8 covers.
    #[serde(rename = "127/8")]
    LoopbackOther,
    /// This host's own non-loopback address: the kernel routes it over `lo` too.
    #[serde(rename = "own")]
    Own,
    /// A veth pair between two network namespaces the bench creates.
    #[serde(rename = "veth")]
    Veth,
    /// A container's path: DNAT to an address behind a bridge and a veth, in namespaces the
    /// bench creates.
    #[serde(rename = "bridge-nat")]
    BridgeNat,
    /// Unix-domain stream and datagram sockets.
    #[serde(rename = "unix")]
    Unix,
}

impl BenchPath {
    /// Every path, in the order they are measured and shown.
    pub const ALL: [BenchPath; 7] = [
        BenchPath::Loopback4,
        BenchPath::Loopback6,
        BenchPath::LoopbackOther,
        BenchPath::Own,
        BenchPath::Veth,
        BenchPath::BridgeNat,
        BenchPath::Unix,
    ];

    /// The name scripts and `--paths` use.
    pub fn as_str(self) -> &'static str {
        match self {
            BenchPath::Loopback4 => "127.0.0.1",
            BenchPath::Loopback6 => "::1",
            BenchPath::LoopbackOther => "127/8",
            BenchPath::Own => "own",
            BenchPath::Veth => "veth",
            BenchPath::BridgeNat => "bridge-nat",
            BenchPath::Unix => "unix",
        }
    }

    /// The path named `s`.
    pub fn parse(s: &str) -> Option<BenchPath> {
        BenchPath::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// It needs namespaces the bench creates (root: CAP_SYS_ADMIN and CAP_NET_ADMIN).
    pub fn needs_namespaces(self) -> bool {
        matches!(self, BenchPath::Veth | BenchPath::BridgeNat)
    }
}

impl std::fmt::Display for BenchPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The socket type of a measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BenchProto {
    /// TCP (`TCP_NODELAY` on both ends).
    Tcp,
    /// UDP.
    Udp,
    /// A Unix-domain stream socket.
    UnixStream,
    /// A Unix-domain datagram socket.
    UnixDgram,
}

impl BenchProto {
    /// Its JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            BenchProto::Tcp => "tcp",
            BenchProto::Udp => "udp",
            BenchProto::UnixStream => "unix-stream",
            BenchProto::UnixDgram => "unix-dgram",
        }
    }

    /// The IP protocol it is compared with: TCP for streams, UDP for datagrams.
    pub fn kin(self) -> BenchProto {
        match self {
            BenchProto::Tcp | BenchProto::UnixStream => BenchProto::Tcp,
            BenchProto::Udp | BenchProto::UnixDgram => BenchProto::Udp,
        }
    }
}

impl std::fmt::Display for BenchProto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BenchTest {
    /// Request/response: the client sends `size` bytes, the server sends them back; one
    /// message in flight; the full round trip is timed.
    Rr,
    /// A new connection: `socket`, `connect` until the handshake completes, and `close`.
    Connect,
    /// One direction, as fast as the sender can write; throughput at the receiver.
    Stream,
    /// Request/response through a TCP proxy on 127.0.0.1 whose hop to the backend takes this
    /// path.
    Proxy,
}

impl BenchTest {
    /// Its JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            BenchTest::Rr => "rr",
            BenchTest::Connect => "connect",
            BenchTest::Stream => "stream",
            BenchTest::Proxy => "proxy",
        }
    }
}

impl std::fmt::Display for BenchTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the client and server threads run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlacementMode {
    /// Client and server pinned to one CPU.
    Same,
    /// Client pinned to one CPU, the server (and a proxy) to another.
    Split,
    /// Not pinned: the scheduler decides, and may move them.
    None,
}

/// The placement used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// How the threads were placed.
    pub mode: PlacementMode,
    /// The CPU the client ran on, when pinned.
    pub client_cpu: Option<usize>,
    /// The CPU the server (and proxy) ran on, when pinned.
    pub server_cpu: Option<usize>,
    /// The CPUs this process may run on.
    pub cpus_available: usize,
}

/// One path as it was set up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathInfo {
    /// The path.
    pub path: BenchPath,
    /// The address (or socket file) the client connects to.
    pub target: Option<String>,
    /// The interface the kernel sends through (`lo` for every local address).
    pub device: Option<String>,
    /// That interface's MTU.
    pub mtu: Option<u32>,
    /// How the kernel routes the target, in the words of `ip route get`'s first line (the
    /// own-address path: `local 198.18.0.1 dev lo src 198.18.0.1`).
    pub route: Option<String>,
    /// Packets the server's end of the link received and sent during the measurements, read
    /// from the kernel's counters (veth and bridge paths): proof the traffic crossed it.
    pub counters: Option<LinkCounters>,
    /// What was set up for it and removed afterwards.
    pub setup: Option<String>,
    /// Why it was not measured.
    pub skipped: Option<String>,
    /// Measurements on it that failed, each with its error.
    pub errors: Vec<String>,
}

/// Packet counters of one interface, as differences over the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkCounters {
    /// Packets received.
    pub rx_packets: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
}

/// One point of a latency distribution.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DistPoint {
    /// The percentile (0 to 100).
    pub percentile: f64,
    /// The latency at that percentile, in microseconds.
    pub us: f64,
}

/// One measurement: a test on a path with a protocol.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchResult {
    /// The path.
    pub path: BenchPath,
    /// The socket type.
    pub proto: BenchProto,
    /// What was measured.
    pub test: BenchTest,
    /// Timed samples (round trips or connections) over every repeat, after the warm-up;
    /// equals the histogram's count.
    pub samples: u64,
    /// Round trips that got no answer within the deadline (UDP), not in the samples.
    pub lost: u64,
    /// Latency percentiles in microseconds, of the full round trip (never half of it), from
    /// an HDR histogram of every sample (3 significant digits). `None` for `stream`.
    pub min_us: Option<f64>,
    /// The median.
    pub p50_us: Option<f64>,
    /// The 90th percentile.
    pub p90_us: Option<f64>,
    /// The 99th percentile.
    pub p99_us: Option<f64>,
    /// The 99.9th percentile.
    pub p999_us: Option<f64>,
    /// The slowest sample.
    pub max_us: Option<f64>,
    /// The mean.
    pub mean_us: Option<f64>,
    /// `stream`: the receiver's throughput in gigabits per second (median of the repeats).
    pub gbit_s: Option<f64>,
    /// `stream`: bytes received over every repeat.
    pub bytes: Option<u64>,
    /// The headline figure of each repeat (its median latency, or its throughput), in order.
    pub repeats: Vec<f64>,
    /// The spread of the repeats: (largest - smallest) / median of them, in percent.
    pub spread_pct: f64,
    /// The headline figure divided by the same test's on `127.0.0.1` (TCP for streams, UDP
    /// for datagrams); `None` when that was not measured.
    pub ratio: Option<f64>,
    /// `proxy`: the median minus the median of a direct TCP round trip on `127.0.0.1`: what
    /// the proxy and its hop add.
    pub added_us: Option<f64>,
    /// The latency distribution at fixed percentiles, for plots.
    pub distribution: Vec<DistPoint>,
}

/// What else the machine was doing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MachineLoad {
    /// CPUs online.
    pub cpus: usize,
    /// The 1-minute load average before the run.
    pub load1_before: Option<f64>,
    /// The 1-minute load average after the run.
    pub load1_after: Option<f64>,
    /// Share of CPU time that was busy in a short window before the run, in percent.
    pub busy_before_pct: Option<f64>,
    /// Share of CPU time the hypervisor took (steal) during the run, in percent.
    pub steal_pct: Option<f64>,
    /// The figures may be disturbed by other work.
    pub busy: bool,
    /// Why it counts as busy.
    pub reasons: Vec<String>,
}

/// How a bench ran: sizes, times and placement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchSettings {
    /// Request and response size in bytes (`rr`, `proxy`).
    pub size: usize,
    /// Write size of `stream`, in bytes.
    pub stream_size: usize,
    /// Measured time per test, in milliseconds, split into `repeats` equal rounds.
    pub duration_ms: u64,
    /// Rounds per test.
    pub repeats: u32,
    /// Warm-up before each test, in milliseconds (not in the samples).
    pub warmup_ms: u64,
    /// Where the threads ran.
    pub placement: Placement,
}

/// `loopback bench --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// The schema version (`docs/json.md`).
    pub version: u32,
    /// How it ran (its fields sit at the top level of the document).
    #[serde(flatten)]
    pub settings: BenchSettings,
    /// Every path asked for, with how it was set up or why it was skipped.
    pub paths: Vec<PathInfo>,
    /// Every measurement.
    pub results: Vec<BenchResult>,
    /// What else the machine was doing.
    pub load: MachineLoad,
    /// What could not be done.
    pub warnings: Vec<String>,
}
