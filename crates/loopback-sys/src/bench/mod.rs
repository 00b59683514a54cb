//! The live half of `loopback bench`: a client and a server inside this process, measured.
//!
//! The loops are portable (`std::net`, `std::os::unix::net`, `socket2`): [`rr`] (one
//! request and its response, timed per round trip), [`connect`] (a new connection, timed to the
//! end of the handshake, then closed), [`stream`] (one direction, throughput at the receiver)
//! and [`proxy_rr`] (round trips through a TCP proxy whose hop to the backend takes the path).
//! They return raw samples; percentiles and ratios are judged in `loopback-core`.
//!
//! What is not portable sits behind [`BenchHost`], picked by [`crate::bench_host`]: pinning a
//! thread to a CPU, the namespaces and links of the lab paths ([`Lab`]: a veth pair, a bridge
//! with DNAT), the kernel's route to an address, and how busy the machine is.
//!
//! Every thread of a measurement is a scoped thread that first enters its side's namespace and
//! CPU ([`Side`]); every socket has a deadline, and servers poll a stop flag, so a path that
//! breaks half-way ends the measurement with an error instead of hanging it.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use loopback_model::bench::LinkCounters;

use crate::SysError;

mod connect;
mod proxy;
mod rr;
mod sock;
mod stream;

pub use connect::connect;
pub use proxy::proxy_rr;
pub use rr::rr;
pub use stream::stream;

/// How long any single socket operation may block before the measurement gives up.
pub const IO_DEADLINE: Duration = Duration::from_secs(5);

/// How often a waiting server looks at its stop flag.
const POLL: Duration = Duration::from_millis(100);

/// What `loopback bench` needs from the OS beyond portable sockets.
pub trait BenchHost: Send + Sync {
    /// The CPUs this process may run on, in order.
    fn cpus(&self) -> Result<Vec<usize>, SysError>;
    /// Pin the calling thread to `cpu`.
    fn pin(&self, cpu: usize) -> Result<(), SysError>;
    /// Set up a lab path in namespaces of its own; they are gone when the value is dropped.
    fn lab(&self, kind: LabKind) -> Result<Box<dyn Lab>, SysError>;
    /// How the kernel routes `dest` from here (`ip route get`).
    fn route_to(&self, dest: IpAddr) -> Result<RouteTo, SysError>;
    /// The machine's CPU time counters so far.
    fn cpu_times(&self) -> Result<CpuTimes, SysError>;
    /// The 1-minute load average.
    fn load1(&self) -> Result<f64, SysError>;
}

/// A path that needs namespaces of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabKind {
    /// Two namespaces joined by a veth pair: the client in one, the server in the other.
    Veth,
    /// A container's path: the client in a host-like namespace connects to that namespace's
    /// own address, DNAT sends it over a bridge and a veth to the server's namespace.
    BridgeNat,
}

/// Which end of a lab a thread belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The client's namespace (and a proxy's).
    Client,
    /// The server's namespace.
    Server,
}

/// A lab path as it was set up.
pub trait Lab: Send + Sync + std::fmt::Debug {
    /// Move the calling thread into the namespace of `role`.
    fn enter(&self, role: Role) -> Result<(), SysError>;
    /// The address the server binds.
    fn server_addr(&self) -> IpAddr;
    /// The address the client connects to (the DNATed address on the bridge path).
    fn target(&self) -> IpAddr;
    /// The client's outgoing device and its MTU.
    fn device(&self) -> (String, Option<u32>);
    /// The kernel's counters of the server's end of the link, so far.
    fn counters(&self) -> Result<LinkCounters, SysError>;
    /// What was set up, in a sentence.
    fn setup(&self) -> String;
}

/// How the kernel routes one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTo {
    /// `local`, `unicast`, `unreachable`, ...
    pub kind: String,
    /// The output device.
    pub device: Option<String>,
    /// Its MTU.
    pub mtu: Option<u32>,
    /// The route in the words of `ip route get`'s first line (`local 127.0.0.1 dev lo src
    /// 127.0.0.1`).
    pub text: String,
}

/// Jiffies spent by every CPU so far (the `cpu` line of `/proc/stat`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuTimes {
    /// Time spent running anything.
    pub busy: u64,
    /// Idle and waiting for I/O.
    pub idle: u64,
    /// Taken by the hypervisor.
    pub steal: u64,
}

impl CpuTimes {
    /// Every jiffy counted.
    pub fn total(&self) -> u64 {
        self.busy
            .saturating_add(self.idle)
            .saturating_add(self.steal)
    }
}

/// Where one side of a measurement runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Side<'a> {
    /// The lab and the end of it, when the path has namespaces of its own.
    pub lab: Option<(&'a dyn Lab, Role)>,
    /// The CPU to pin to.
    pub cpu: Option<usize>,
}

impl Side<'_> {
    /// Enter the side's namespace and CPU on the calling thread.
    fn take(&self, host: &dyn BenchHost) -> Result<(), SysError> {
        if let Some((lab, role)) = self.lab {
            lab.enter(role)?;
        }
        if let Some(cpu) = self.cpu {
            host.pin(cpu)?;
        }
        Ok(())
    }
}

/// What a server listens on and a client connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// TCP: the server binds `bind` (port 0: the kernel picks), the client connects to
    /// `connect` on that port.
    Tcp {
        /// The server's address.
        bind: IpAddr,
        /// The client's destination.
        connect: IpAddr,
    },
    /// UDP, the same way.
    Udp {
        /// The server's address.
        bind: IpAddr,
        /// The client's destination.
        connect: IpAddr,
    },
    /// A Unix stream socket at this path.
    UnixStream(PathBuf),
    /// A Unix datagram socket at this path; the client binds the same path with `.client`.
    UnixDgram(PathBuf),
}

impl Endpoint {
    /// TCP or UDP between one address and itself.
    pub fn tcp(addr: IpAddr) -> Endpoint {
        Endpoint::Tcp {
            bind: addr,
            connect: addr,
        }
    }
    /// UDP to one address.
    pub fn udp(addr: IpAddr) -> Endpoint {
        Endpoint::Udp {
            bind: addr,
            connect: addr,
        }
    }
}

/// How long to warm up and measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Run before measuring; at least [`WARMUP_MIN`] iterations whatever the time.
    pub warmup: Duration,
    /// Measured rounds.
    pub rounds: u32,
    /// Each round's length.
    pub round: Duration,
}

/// The fewest warm-up iterations.
pub const WARMUP_MIN: u32 = 100;

/// The timed samples of a latency test.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Samples {
    /// Nanoseconds, one vector per round.
    pub rounds: Vec<Vec<u32>>,
    /// Requests that got no answer within the deadline (datagrams).
    pub lost: u64,
}

/// Bytes received in each round of a stream test, and over how long.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StreamRounds {
    /// (bytes, from the first byte to the last).
    pub rounds: Vec<(u64, Duration)>,
}

/// A private directory for the bench's Unix sockets (mode 0700, a new name), removed with
/// everything in it when dropped.
#[derive(Debug)]
pub struct Scratch(PathBuf);

impl Scratch {
    /// A new directory under the temporary directory.
    pub fn new() -> Result<Scratch, SysError> {
        let base = std::env::temp_dir();
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let mut last = None;
        for n in 0..16u32 {
            let dir = base.join(format!(
                "loopback-bench-{}-{}",
                std::process::id(),
                stamp.wrapping_add(n)
            ));
            #[allow(unused_mut)] // the mode is set on Unix only
            let mut builder = std::fs::DirBuilder::new();
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            // `create`, not `create_all`: a name someone else made first is not ours.
            match builder.create(&dir) {
                Ok(()) => return Ok(Scratch(dir)),
                Err(e) => last = Some(e),
            }
        }
        Err(fail(
            "creating a directory for Unix sockets",
            last.map_or_else(|| "no name was free".to_owned(), |e| e.to_string()),
        ))
    }

    /// A path inside it.
    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One bench error, saying what was being done.
pub(crate) fn fail(what: &str, e: impl std::fmt::Display) -> SysError {
    SysError::Bench {
        what: what.to_owned(),
        detail: e.to_string(),
    }
}

/// Warm up with `once` (for [`Window::warmup`], and at least [`WARMUP_MIN`] times), then
/// collect its samples for each round of `window`, calling `tick` after each. `once` returns
/// its nanoseconds, or `None` for a request that got no answer (counted lost); a warm-up that
/// loses more than [`WARMUP_MIN`] is an error: the path does not answer.
fn timed_rounds(
    window: Window,
    tick: &(dyn Fn() + Sync),
    mut once: impl FnMut() -> std::io::Result<Option<u32>>,
) -> std::io::Result<Samples> {
    let warm_end = Instant::now() + window.warmup;
    let (mut n, mut warm_lost) = (0, 0);
    while n < WARMUP_MIN || Instant::now() < warm_end {
        if once()?.is_none() {
            warm_lost += 1;
            if warm_lost > WARMUP_MIN {
                return Err(std::io::Error::other("no replies: every request was lost"));
            }
        }
        n += 1;
    }
    let mut out = Samples::default();
    for _ in 0..window.rounds {
        let mut round = Vec::new();
        let end = Instant::now() + window.round;
        while Instant::now() < end {
            match once()? {
                Some(t) => round.push(t),
                None => out.lost += 1,
            }
        }
        out.rounds.push(round);
        tick();
    }
    Ok(out)
}

/// Nanoseconds since `t0`, saturated to fit a sample.
fn since(t0: Instant) -> u32 {
    u32::try_from(t0.elapsed().as_nanos()).unwrap_or(u32::MAX)
}

/// The server's stop flag, raised when the client side is done, however it ended.
#[derive(Debug, Default)]
struct Stop(AtomicBool);

impl Stop {
    fn raise(&self) {
        self.0.store(true, Ordering::Relaxed);
    }
    fn raised(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Run `server` and `client` on two scoped threads, each in its side; the server reports its
/// endpoint (a bound port, a path) to the client through a channel before serving. The stop
/// flag is raised when the client returns, however it returns.
fn pair<A: Send, S: Send, C: Send>(
    host: &dyn BenchHost,
    what: &str,
    sides: (Side<'_>, Side<'_>),
    server: impl FnOnce(&Stop, std::sync::mpsc::Sender<A>) -> Result<S, SysError> + Send,
    client: impl FnOnce(A) -> Result<C, SysError> + Send,
) -> Result<(C, S), SysError> {
    let (server_side, client_side) = sides;
    let stop = Stop::default();
    std::thread::scope(|s| {
        let (tx, rx) = std::sync::mpsc::channel();
        let stop = &stop;
        let server = std::thread::Builder::new()
            .name(format!("bench-{what}-server"))
            .spawn_scoped(s, move || {
                server_side.take(host)?;
                server(stop, tx)
            })
            .map_err(|e| fail(what, e))?;
        let client = std::thread::Builder::new()
            .name(format!("bench-{what}-client"))
            .spawn_scoped(s, move || {
                let r = (|| {
                    let ready = rx
                        .recv_timeout(IO_DEADLINE)
                        .map_err(|_| fail(what, "the server did not start"))?;
                    client_side.take(host)?;
                    client(ready)
                })();
                stop.raise();
                r
            })
            .map_err(|e| fail(what, e))?;
        let c = client
            .join()
            .map_err(|_| fail(what, "the client thread panicked"))?;
        let s = server
            .join()
            .map_err(|_| fail(what, "the server thread panicked"))?;
        // The server's error explains a client's "connection reset": report it first.
        let s = s?;
        Ok((c?, s))
    })
}

/// A message of `size` bytes with a sequence number in its first bytes (as many as fit), so
/// a late datagram reply is not taken for the next one.
fn stamp(buf: &mut [u8], seq: u64) {
    let bytes = seq.to_le_bytes();
    let n = buf.len().min(8);
    buf[..n].copy_from_slice(&bytes[..n]);
}

/// The sequence number a message carries.
fn seq_of(buf: &[u8]) -> u64 {
    let mut bytes = [0u8; 8];
    let n = buf.len().min(8);
    bytes[..n].copy_from_slice(&buf[..n]);
    u64::from_le_bytes(bytes)
}

/// A socket address from an IP and a port.
fn at(ip: IpAddr, port: u16) -> SocketAddr {
    SocketAddr::new(ip, port)
}

#[cfg(test)]
mod tests;
