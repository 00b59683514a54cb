//! `BenchHost` on Linux: CPU affinity (`sched_setaffinity`), the lab paths (`lab.rs`), the
//! kernel's route to an address (`RTM_GETROUTE`), and `/proc/stat` and `/proc/loadavg`.

use std::net::IpAddr;
use std::path::Path;

use netlink_packet_route::route::{RouteAddress, RouteAttribute, RouteMessage, RouteType};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};

use super::lab::{self, lab_error, Rtnl};
use crate::bench::{BenchHost, CpuTimes, Lab, LabKind, RouteTo};
use crate::parse::cpu;
use crate::SysError;

/// The Linux [`BenchHost`].
#[derive(Debug, Default)]
pub struct LinuxBench;

impl BenchHost for LinuxBench {
    fn cpus(&self) -> Result<Vec<usize>, SysError> {
        let set = rustix::thread::sched_getaffinity(None)
            .map_err(|e| lab_error("reading this process's CPUs", e.into()))?;
        Ok((0..rustix::thread::CpuSet::MAX_CPU)
            .filter(|&c| set.is_set(c))
            .collect())
    }

    fn pin(&self, cpu: usize) -> Result<(), SysError> {
        let mut set = rustix::thread::CpuSet::new();
        set.set(cpu);
        rustix::thread::sched_setaffinity(None, &set)
            .map_err(|e| lab_error(&format!("pinning a thread to CPU {cpu}"), e.into()))
    }

    fn lab(&self, kind: LabKind) -> Result<Box<dyn Lab>, SysError> {
        Ok(Box::new(lab::create(kind)?))
    }

    fn route_to(&self, dest: IpAddr) -> Result<RouteTo, SysError> {
        route_to(dest)
    }

    fn cpu_times(&self) -> Result<CpuTimes, SysError> {
        let bytes = crate::files::read_bounded(Path::new("/proc/stat"))?;
        cpu::parse_stat(&bytes).ok_or_else(|| SysError::Bench {
            what: "reading /proc/stat".into(),
            detail: "no cpu line".into(),
        })
    }

    fn load1(&self) -> Result<f64, SysError> {
        let bytes = crate::files::read_bounded(Path::new("/proc/loadavg"))?;
        cpu::parse_loadavg(&bytes).ok_or_else(|| SysError::Bench {
            what: "reading /proc/loadavg".into(),
            detail: "not a load average".into(),
        })
    }
}

/// How the kernel of the calling thread's namespace routes `dest` (`RTM_GETROUTE`, what
/// `ip route get` asks).
fn route_to(dest: IpAddr) -> Result<RouteTo, SysError> {
    let what = format!("the route to {dest}");
    let rtnl = Rtnl::open()?;
    let mut msg = RouteMessage::default();
    let (family, len, addr) = match dest {
        IpAddr::V4(a) => (AddressFamily::Inet, 32, RouteAddress::Inet(a)),
        IpAddr::V6(a) => (AddressFamily::Inet6, 128, RouteAddress::Inet6(a)),
    };
    msg.header.address_family = family;
    msg.header.destination_prefix_length = len;
    msg.attributes.push(RouteAttribute::Destination(addr));
    let route = rtnl
        .request(&what, RouteNetlinkMessage::GetRoute(msg), 0)?
        .into_iter()
        .find_map(|m| match m {
            RouteNetlinkMessage::NewRoute(r) => Some(r),
            _ => None,
        })
        .ok_or_else(|| lab_error(&what, std::io::Error::other("no reply")))?;
    let device = route.attributes.iter().find_map(|a| match a {
        RouteAttribute::Oif(i) => nix::net::if_::if_indextoname(*i)
            .ok()
            .map(|n| n.to_string_lossy().into_owned()),
        _ => None,
    });
    let mtu = device.as_deref().and_then(|d| rtnl.mtu(d));
    let kind = match route.header.kind {
        RouteType::Local => "local",
        RouteType::Unicast => "unicast",
        RouteType::Broadcast => "broadcast",
        RouteType::BlackHole => "blackhole",
        RouteType::Unreachable => "unreachable",
        RouteType::Prohibit => "prohibit",
        _ => "other",
    };
    let src = route.attributes.iter().find_map(|a| match a {
        RouteAttribute::PrefSource(RouteAddress::Inet(a)) => Some(IpAddr::from(*a)),
        RouteAttribute::PrefSource(RouteAddress::Inet6(a)) => Some(IpAddr::from(*a)),
        _ => None,
    });
    // The words of `ip route get`'s first line (which leaves out `unicast`).
    let mut text = if kind == "unicast" {
        dest.to_string()
    } else {
        format!("{kind} {dest}")
    };
    if let Some(d) = &device {
        text.push_str(&format!(" dev {d}"));
    }
    if let Some(s) = src {
        text.push_str(&format!(" src {s}"));
    }
    Ok(RouteTo {
        kind: kind.to_owned(),
        device,
        mtu,
        text,
    })
}
