//! What the macOS backend makes of what macOS said: a socket descriptor's `proc_pidfdinfo`
//! record (copied out of `libproc`'s structures into [`SocketRecord`]) becomes a
//! [`BoundSocket`]; the settings `sysctl` prints become [`KernelSettings`]; pf and the
//! application firewall become a [`FirewallDump`]. Pure, so tested on every platform.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use loopback_model::bind::HolderState;
use loopback_model::{BoundSocket, Proto};

use crate::{FirewallDump, HeldSocket, KernelSettings};

/// `INI_IPV4` in `insi_vflag`.
pub const INI_IPV4: u8 = 0x1;
/// `INI_IPV6` in `insi_vflag`.
pub const INI_IPV6: u8 = 0x2;
/// `IN6P_IPV6_V6ONLY` in `insi_flags`.
pub const IN6P_IPV6_V6ONLY: u32 = 0x0000_8000;
/// `TSI_S_CLOSED`: a TCP socket neither listening nor connected.
pub const TSI_S_CLOSED: i32 = 0;
/// `TSI_S_LISTEN`, the TCP state of a listening socket.
pub const TSI_S_LISTEN: i32 = 1;
/// `IPPROTO_UDP`.
pub const IPPROTO_UDP: i32 = 17;

/// One Internet socket descriptor as `proc_pidfdinfo(PROC_PIDFDSOCKETINFO)` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SocketRecord {
    /// `soi_so`: the kernel's socket, the same for every descriptor of it.
    pub so: u64,
    /// `soi_kind` was `SOCKINFO_TCP` (else `SOCKINFO_IN`).
    pub tcp: bool,
    /// `soi_protocol`.
    pub protocol: i32,
    /// `insi_vflag`.
    pub vflag: u8,
    /// `insi_flags`.
    pub flags: u32,
    /// `insi_lport`, as stored (network order in the low 16 bits).
    pub lport: i32,
    /// `insi_fport`, as stored.
    pub fport: i32,
    /// The local IPv4 address's bytes (`i46a_addr4`).
    pub laddr4: [u8; 4],
    /// The local IPv6 address's bytes (`ina_6`).
    pub laddr6: [u8; 16],
    /// The foreign IPv4 address's bytes.
    pub faddr4: [u8; 4],
    /// The foreign IPv6 address's bytes.
    pub faddr6: [u8; 16],
    /// `tcpsi_state`, for TCP.
    pub tcp_state: i32,
    /// `soi_stat.vst_uid`: who created it.
    pub uid: u32,
}

fn port(stored: i32) -> u16 {
    // The low 16 bits, in network order.
    u16::from_be((stored & 0xffff) as u16)
}

/// The socket a record describes, when it is a listening TCP socket or a bound, unconnected
/// UDP socket; `None` otherwise (connected, unbound, or not IP).
pub fn socket_of(r: &SocketRecord) -> Option<BoundSocket> {
    let proto = if r.tcp {
        if r.tcp_state != TSI_S_LISTEN {
            return None;
        }
        Proto::Tcp
    } else if r.protocol == IPPROTO_UDP {
        if port(r.fport) != 0 {
            return None;
        }
        Proto::Udp
    } else {
        return None;
    };
    local_of(r, proto)
}

/// The socket a record describes when it holds a port without listening: a TCP socket bound
/// and never listened on or connected (`TSI_S_CLOSED` with a port), a TCP connection, or a
/// connected UDP socket. TIME_WAIT belongs to no process, so no record shows it.
pub fn held_of(r: &SocketRecord) -> Option<HeldSocket> {
    let (proto, state) = if r.tcp {
        match r.tcp_state {
            TSI_S_LISTEN => return None,
            TSI_S_CLOSED => (Proto::Tcp, HolderState::Bound),
            _ => (Proto::Tcp, HolderState::Connected),
        }
    } else if r.protocol == IPPROTO_UDP && port(r.fport) != 0 {
        (Proto::Udp, HolderState::Connected)
    } else {
        return None;
    };
    let socket = local_of(r, proto)?;
    let remote = (state == HolderState::Connected).then(|| {
        let ip = if r.vflag & INI_IPV6 != 0 {
            IpAddr::V6(Ipv6Addr::from(r.faddr6))
        } else {
            IpAddr::V4(Ipv4Addr::from(r.faddr4))
        };
        SocketAddr::new(ip, port(r.fport))
    });
    Some(HeldSocket {
        socket,
        state,
        remote,
    })
}

/// What the macOS backend cannot show of the sockets that hold ports.
pub fn unseen_on_macos() -> Vec<String> {
    vec![
        "TCP connections in TIME_WAIT are not read on macOS (no process holds them, and \
          libproc lists processes' descriptors)"
            .into(),
    ]
}

fn local_of(r: &SocketRecord, proto: Proto) -> Option<BoundSocket> {
    let lport = port(r.lport);
    if lport == 0 {
        return None;
    }
    let (address, v6only) = if r.vflag & INI_IPV6 != 0 {
        (
            IpAddr::V6(Ipv6Addr::from(r.laddr6)),
            Some(r.flags & IN6P_IPV6_V6ONLY != 0),
        )
    } else if r.vflag & INI_IPV4 != 0 {
        (IpAddr::V4(Ipv4Addr::from(r.laddr4)), None)
    } else {
        return None;
    };
    Some(BoundSocket {
        proto,
        address,
        port: lport,
        v6only,
        bound_ifindex: None,
        ifindex_known: false,
        uid: r.uid,
        inode: r.so,
    })
}

/// `sysctl -n net.inet.ip.portrange.first net.inet.ip.portrange.last net.inet6.ip6.v6only`:
/// one number a line, in that order.
pub fn kernel_from_sysctl(out: &[u8]) -> KernelSettings {
    let text = String::from_utf8_lossy(out);
    let n: Vec<Option<u32>> = text.lines().map(|l| l.trim().parse().ok()).collect();
    let get = |i: usize| n.get(i).copied().flatten();
    let mut k = KernelSettings::default();
    if let (Some(a), Some(b)) = (get(0), get(1)) {
        if let (Ok(a), Ok(b)) = (u16::try_from(a), u16::try_from(b)) {
            k.ephemeral_ports = Some((a.min(b), a.max(b)));
        }
    }
    k.bindv6only = get(2).map(|v| v != 0);
    k
}

/// pf's status (`pfctl -s info`, root only) and the application firewall's
/// (`socketfilterfw --getglobalstate`): off only when both are known to be off.
pub fn firewall_from(pf: Result<bool, String>, app: Result<bool, String>) -> FirewallDump {
    let mut dump = FirewallDump::default();
    match &pf {
        Ok(true) => dump
            .unreadable
            .push("pf is enabled; loopback does not read its rules yet".into()),
        Ok(false) => {}
        Err(e) => dump.unreadable.push(format!("pf: {e}")),
    }
    match &app {
        Ok(true) => dump.unreadable.push(
            "the application firewall is on; it admits incoming connections per application, \
             which loopback does not read"
                .into(),
        ),
        Ok(false) => {}
        Err(e) => dump
            .unreadable
            .push(format!("the application firewall: {e}")),
    }
    if pf == Ok(false) && app == Ok(false) {
        dump.off = Some("pf is disabled and the application firewall is off".into());
    }
    dump
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(tcp: bool, v6: bool, addr: &str, lport: u16) -> SocketRecord {
        let mut r = SocketRecord {
            so: 0xffff_ff80_1234_5678,
            tcp,
            protocol: if tcp { 6 } else { IPPROTO_UDP },
            vflag: if v6 { INI_IPV6 } else { INI_IPV4 },
            lport: i32::from(lport.to_be()),
            tcp_state: TSI_S_LISTEN,
            uid: 501,
            ..SocketRecord::default()
        };
        match addr.parse::<IpAddr>().expect("address") {
            IpAddr::V4(a) => r.laddr4 = a.octets(),
            IpAddr::V6(a) => r.laddr6 = a.octets(),
        }
        r
    }

    #[test]
    fn listening_and_bound_sockets() {
        let s = socket_of(&record(true, false, "127.0.0.1", 5432)).expect("listener");
        assert_eq!(
            (s.address, s.port, s.proto),
            ("127.0.0.1".parse().expect("a"), 5432, Proto::Tcp)
        );
        assert_eq!((s.uid, s.v6only), (501, None));
        let mut v6 = record(true, true, "::", 3000);
        let dual = socket_of(&v6).expect("v6");
        assert_eq!(dual.v6only, Some(false));
        v6.flags |= IN6P_IPV6_V6ONLY;
        assert_eq!(socket_of(&v6).expect("v6").v6only, Some(true));
        let udp = socket_of(&record(false, false, "127.0.0.1", 53)).expect("udp");
        assert_eq!(udp.proto, Proto::Udp);
    }

    #[test]
    fn bound_and_connected_sockets_hold_ports() {
        let mut bound = record(true, false, "127.0.0.1", 3000);
        bound.tcp_state = TSI_S_CLOSED;
        assert!(socket_of(&bound).is_none());
        let h = held_of(&bound).expect("bound");
        assert_eq!(
            (h.state, h.socket.port, h.remote),
            (HolderState::Bound, 3000, None)
        );
        let mut conn = record(true, false, "127.0.0.1", 50000);
        conn.tcp_state = 4; // TSI_S_ESTABLISHED
        conn.faddr4 = [127, 0, 0, 1];
        conn.fport = i32::from(3000u16.to_be());
        let h = held_of(&conn).expect("connection");
        assert_eq!(h.state, HolderState::Connected);
        assert_eq!(h.remote, Some("127.0.0.1:3000".parse().expect("remote")));
        assert!(
            held_of(&record(true, false, "127.0.0.1", 80)).is_none(),
            "a listener"
        );
        let mut unbound = record(true, false, "0.0.0.0", 0);
        unbound.tcp_state = TSI_S_CLOSED;
        assert!(held_of(&unbound).is_none());
    }

    #[test]
    fn connections_and_other_sockets_are_not_listeners() {
        let mut est = record(true, false, "127.0.0.1", 5432);
        est.tcp_state = 4; // TSI_S_ESTABLISHED
        assert!(socket_of(&est).is_none());
        let mut connected = record(false, false, "127.0.0.1", 53);
        connected.fport = i32::from(5353u16.to_be());
        assert!(socket_of(&connected).is_none());
        assert!(socket_of(&record(true, false, "0.0.0.0", 0)).is_none());
        let mut raw = record(false, false, "0.0.0.0", 1);
        raw.protocol = 1;
        assert!(socket_of(&raw).is_none());
        let mut none = record(true, false, "127.0.0.1", 1);
        none.vflag = 0;
        assert!(socket_of(&none).is_none());
    }

    #[test]
    fn sysctl_and_firewalls() {
        let k = kernel_from_sysctl(b"49152\n65535\n0\n");
        assert_eq!(k.ephemeral_ports, Some((49152, 65535)));
        assert_eq!(k.bindv6only, Some(false));
        assert_eq!(kernel_from_sysctl(b"x\n").ephemeral_ports, None);
        assert!(firewall_from(Ok(false), Ok(false)).off.is_some());
        let on = firewall_from(Ok(true), Ok(false));
        assert!(on.off.is_none() && on.unreadable[0].contains("pf is enabled"));
        let root = firewall_from(Err("pfctl -s info needs root".into()), Ok(false));
        assert!(root.off.is_none() && root.unreadable[0].contains("needs root"));
    }
}
