//! What to measure: the addresses each path uses, the tests each path takes, and where the
//! threads run. Pure: the interfaces and CPUs come in as data.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use loopback_model::bench::{BenchPath, BenchProto, BenchTest, Placement, PlacementMode};
use loopback_model::Interface;

/// The second address of 127.0.0.0/8 the `127/8` path uses.
pub const OTHER_127: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// The address a path's client connects to, or why the path cannot be measured here.
pub fn address(path: BenchPath, interfaces: &[Interface]) -> Result<Option<IpAddr>, String> {
    let lo_has = |ip: IpAddr| {
        interfaces.iter().filter(|i| i.loopback && i.up).any(|i| {
            i.addresses
                .iter()
                .any(|a| ipnet::IpNet::new(a.address, a.prefix_len).is_ok_and(|n| n.contains(&ip)))
        })
    };
    match path {
        BenchPath::Loopback4 => Ok(Some(Ipv4Addr::LOCALHOST.into())),
        BenchPath::Loopback6 => {
            if lo_has(Ipv6Addr::LOCALHOST.into()) {
                Ok(Some(Ipv6Addr::LOCALHOST.into()))
            } else {
                Err(
                    "::1 is not on the loopback interface here (IPv6 is disabled or lo is down)"
                        .into(),
                )
            }
        }
        BenchPath::LoopbackOther => {
            if lo_has(OTHER_127.into()) {
                Ok(Some(OTHER_127.into()))
            } else {
                Err(format!("no prefix on lo covers {OTHER_127}"))
            }
        }
        BenchPath::Own => own_address(interfaces).map(Some).ok_or_else(|| {
            "this namespace has no address outside 127.0.0.0/8 and ::1 on an interface that is up"
                .into()
        }),
        BenchPath::Veth | BenchPath::BridgeNat | BenchPath::Unix => Ok(None),
    }
}

/// This host's own first address that is not loopback, IPv4 first, global before link-local.
pub fn own_address(interfaces: &[Interface]) -> Option<IpAddr> {
    let candidates = || {
        interfaces
            .iter()
            .filter(|i| i.up && !i.loopback)
            .flat_map(|i| i.addresses.iter().map(|a| a.address))
            .filter(|a| !a.is_loopback() && !a.is_unspecified())
    };
    let link_local = |a: &IpAddr| match a {
        IpAddr::V4(v) => v.is_link_local(),
        IpAddr::V6(v) => (v.segments()[0] & 0xffc0) == 0xfe80,
    };
    candidates()
        .find(|a| a.is_ipv4() && !link_local(a))
        .or_else(|| candidates().find(|a| a.is_ipv6() && !link_local(a)))
}

/// The measurements of `path` among `tests`, in order.
pub fn jobs(path: BenchPath, tests: &[BenchTest]) -> Vec<(BenchTest, BenchProto)> {
    let (stream, dgram) = match path {
        BenchPath::Unix => (BenchProto::UnixStream, BenchProto::UnixDgram),
        _ => (BenchProto::Tcp, BenchProto::Udp),
    };
    // The proxy's hop: on loopback, on a veth link, on a Unix socket.
    let proxied = matches!(
        path,
        BenchPath::Loopback4 | BenchPath::Veth | BenchPath::Unix
    );
    let mut out = Vec::new();
    for &t in tests {
        match t {
            BenchTest::Rr => out.extend([(t, stream), (t, dgram)]),
            BenchTest::Connect | BenchTest::Stream => out.push((t, stream)),
            BenchTest::Proxy if proxied => out.push((t, stream)),
            BenchTest::Proxy => {}
        }
    }
    out
}

/// Where the client and the server run. `asked` is `--placement`, `cpus` is `--cpus`, and
/// `available` the CPUs this process may use (`None` where that cannot be read).
pub fn placement(
    asked: Option<PlacementMode>,
    cpus: Option<(usize, usize)>,
    available: Option<&[usize]>,
) -> Result<Placement, String> {
    let avail = available.unwrap_or(&[]);
    let mode = match asked {
        Some(m) => m,
        None if cpus.is_some_and(|(c, s)| c == s) => PlacementMode::Same,
        None if cpus.is_some() => PlacementMode::Split,
        None if available.is_none() => PlacementMode::None,
        None if avail.len() >= 2 => PlacementMode::Split,
        None => PlacementMode::Same,
    };
    if mode != PlacementMode::None && available.is_none() {
        return Err(
            "threads cannot be pinned to CPUs on this platform: use --placement none".into(),
        );
    }
    if let Some((c, s)) = cpus {
        for cpu in [c, s] {
            if !avail.contains(&cpu) {
                return Err(format!(
                    "CPU {cpu} is not one this process may run on ({})",
                    avail
                        .iter()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                ));
            }
        }
        if mode == PlacementMode::Same && c != s {
            return Err("--placement same takes one CPU: --cpus N,N".into());
        }
        if mode == PlacementMode::Split && c == s {
            return Err("--placement split takes two different CPUs".into());
        }
    }
    let (client_cpu, server_cpu) = match (mode, cpus) {
        (PlacementMode::None, _) => (None, None),
        (_, Some((c, s))) => (Some(c), Some(s)),
        (PlacementMode::Same, None) => (avail.first().copied(), avail.first().copied()),
        (PlacementMode::Split, None) => {
            if avail.len() < 2 {
                return Err("--placement split needs two CPUs; this process may use one".into());
            }
            (avail.first().copied(), avail.get(1).copied())
        }
    };
    Ok(Placement {
        mode,
        client_cpu,
        server_cpu,
        cpus_available: avail.len(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use loopback_model::InterfaceAddress;

    fn iface(name: &str, lo: bool, addrs: &[(&str, u8)]) -> Interface {
        Interface {
            index: 1,
            name: name.into(),
            up: true,
            loopback: lo,
            addresses: addrs
                .iter()
                .map(|(a, p)| InterfaceAddress {
                    address: a.parse().unwrap(),
                    prefix_len: *p,
                })
                .collect(),
            kind: None,
            master: None,
            peer_elsewhere: false,
        }
    }

    #[test]
    fn addresses_follow_the_interfaces() {
        let ifs = [
            iface("lo", true, &[("127.0.0.1", 8), ("::1", 128)]),
            iface(
                "eth0",
                false,
                &[("fe80::1", 64), ("169.254.1.1", 16), ("198.18.0.1", 24)],
            ),
        ];
        assert_eq!(
            address(BenchPath::Own, &ifs),
            Ok(Some("198.18.0.1".parse().unwrap()))
        );
        assert_eq!(
            address(BenchPath::LoopbackOther, &ifs),
            Ok(Some(OTHER_127.into()))
        );
        assert!(address(BenchPath::Loopback6, &ifs).is_ok());
        let bare = [iface("lo", true, &[("127.0.0.1", 32)])];
        assert!(address(BenchPath::Own, &bare)
            .unwrap_err()
            .contains("no address"));
        assert!(address(BenchPath::LoopbackOther, &bare)
            .unwrap_err()
            .contains("127.0.0.2"));
        assert!(address(BenchPath::Loopback6, &bare)
            .unwrap_err()
            .contains("::1"));
        let v6 = [iface("eth0", false, &[("fe80::1", 64), ("fd00::5", 64)])];
        assert_eq!(own_address(&v6), Some("fd00::5".parse().unwrap()));
    }

    #[test]
    fn jobs_per_path() {
        let all = [
            BenchTest::Rr,
            BenchTest::Connect,
            BenchTest::Stream,
            BenchTest::Proxy,
        ];
        let unix = jobs(BenchPath::Unix, &all);
        assert_eq!(unix[1], (BenchTest::Rr, BenchProto::UnixDgram));
        assert!(unix.contains(&(BenchTest::Proxy, BenchProto::UnixStream)));
        assert!(!jobs(BenchPath::Own, &all)
            .iter()
            .any(|j| j.0 == BenchTest::Proxy));
        assert_eq!(
            jobs(BenchPath::Veth, &[BenchTest::Stream]),
            [(BenchTest::Stream, BenchProto::Tcp)]
        );
    }

    #[test]
    fn placements() {
        let two = [0usize, 1];
        let p = placement(None, None, Some(&two)).unwrap();
        assert_eq!(
            (p.mode, p.client_cpu, p.server_cpu),
            (PlacementMode::Split, Some(0), Some(1))
        );
        let p = placement(None, None, Some(&[3])).unwrap();
        assert_eq!(
            (p.mode, p.client_cpu, p.server_cpu),
            (PlacementMode::Same, Some(3), Some(3))
        );
        assert_eq!(
            placement(None, None, None).unwrap().mode,
            PlacementMode::None
        );
        assert!(placement(Some(PlacementMode::Split), None, None).is_err());
        assert!(placement(Some(PlacementMode::Split), None, Some(&[0])).is_err());
        assert!(placement(Some(PlacementMode::Split), Some((1, 1)), Some(&two)).is_err());
        assert!(placement(None, Some((0, 7)), Some(&two))
            .unwrap_err()
            .contains("CPU 7"));
        let p = placement(Some(PlacementMode::Split), Some((1, 0)), Some(&two)).unwrap();
        assert_eq!((p.client_cpu, p.server_cpu), (Some(1), Some(0)));
    }
}
