//! Netlink `sock_diag` requests and replies for inet sockets.
//!
//! The message layouts come from `netlink-packet-sock-diag`; this module only chooses what to
//! ask for (one dump per family and protocol, filtered by state in the kernel) and turns the
//! replies into [`BoundSocket`]s. Decoding takes the raw bytes the kernel returned, so tests
//! replay recorded dumps.

use std::net::SocketAddr;

use loopback_model::bind::HolderState;
use loopback_model::{BoundSocket, Proto};
use netlink_packet_core::{NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_sock_diag::{
    constants::{AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP},
    inet::{nlas::Nla, ExtensionFlags, InetRequest, SocketId, StateFlags},
    SockDiagMessage,
};

use super::{TCP_CLOSE, TCP_LISTEN};
use crate::HeldSocket;

/// One dump request: a family and a protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DumpRequest {
    /// TCP or UDP.
    pub proto: Proto,
    /// IPv6 rather than IPv4.
    pub ipv6: bool,
}

/// `TCP_BOUND_INACTIVE` (`include/net/tcp_states.h`, Linux 6.9): a state no socket is in,
/// only a bit in a dump request that asks for the sockets bound to a port and doing nothing
/// with it. Kernels before 6.9 ignore the bit and return none; the caller checks with a socket
/// of its own. `netlink-packet-sock-diag` does not name it yet.
pub const TCP_BOUND_INACTIVE: u8 = 13;
/// `TCP_TIME_WAIT`.
pub const TCP_TIME_WAIT: u8 = 6;
/// `TCP_ESTABLISHED`.
pub const TCP_ESTABLISHED: u8 = 1;

/// A dump of the sockets that hold a port without listening: TCP in every state but
/// `LISTEN` (with the bound-inactive ones), UDP connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldRequest(pub DumpRequest);

impl HeldRequest {
    /// The four dumps `bind` needs.
    pub const ALL: [HeldRequest; 4] = [
        HeldRequest(DumpRequest::ALL[0]),
        HeldRequest(DumpRequest::ALL[1]),
        HeldRequest(DumpRequest::ALL[2]),
        HeldRequest(DumpRequest::ALL[3]),
    ];

    /// The serialized dump request with sequence number `seq`.
    pub fn to_bytes(self, seq: u32) -> Vec<u8> {
        let states = match self.0.proto {
            Proto::Tcp => {
                let all_but_listen = ((1u32 << 12) - 1) & !(1 << TCP_LISTEN) & !1;
                StateFlags::from_bits_retain(all_but_listen | (1 << TCP_BOUND_INACTIVE))
            }
            Proto::Udp => StateFlags::ESTABLISHED,
        };
        self.0.request_bytes(states, seq)
    }
}

impl DumpRequest {
    /// The four dumps an audit needs.
    pub const ALL: [DumpRequest; 4] = [
        DumpRequest {
            proto: Proto::Tcp,
            ipv6: false,
        },
        DumpRequest {
            proto: Proto::Tcp,
            ipv6: true,
        },
        DumpRequest {
            proto: Proto::Udp,
            ipv6: false,
        },
        DumpRequest {
            proto: Proto::Udp,
            ipv6: true,
        },
    ];

    /// A short name for error messages, e.g. `tcp6`.
    pub fn name(&self) -> String {
        format!("{}{}", self.proto, if self.ipv6 { "6" } else { "" })
    }

    /// The serialized `SOCK_DIAG_BY_FAMILY` dump request with sequence number `seq`.
    pub fn to_bytes(self, seq: u32) -> Vec<u8> {
        let states = match self.proto {
            // Listening TCP sockets only.
            Proto::Tcp => StateFlags::LISTEN,
            // Bound, unconnected UDP sockets report TCP_CLOSE; connected ones ESTABLISHED.
            Proto::Udp => StateFlags::CLOSE,
        };
        self.request_bytes(states, seq)
    }

    fn request_bytes(self, states: StateFlags, seq: u32) -> Vec<u8> {
        let protocol = match self.proto {
            Proto::Tcp => IPPROTO_TCP,
            Proto::Udp => IPPROTO_UDP,
        };
        super::netlink::request(
            SockDiagMessage::InetRequest(InetRequest {
                family: if self.ipv6 { AF_INET6 } else { AF_INET },
                protocol,
                extensions: ExtensionFlags::empty(),
                states,
                socket_id: if self.ipv6 {
                    SocketId::new_v6()
                } else {
                    SocketId::new_v4()
                },
            }),
            NLM_F_REQUEST | NLM_F_DUMP,
            seq,
        )
    }
}

/// What a chunk of a dump said.
#[derive(Debug)]
pub enum DumpError {
    /// The kernel answered with an error (for example `ENOENT` when `udp_diag` is missing).
    Kernel(std::io::Error),
    /// The bytes were not a well-formed reply.
    Decode(String),
}

/// Decode one `recv` worth of dump replies, appending listeners to `out`. Returns `true` once
/// `NLMSG_DONE` has been seen.
pub fn decode_chunk(
    buf: &[u8],
    proto: Proto,
    out: &mut Vec<BoundSocket>,
) -> Result<bool, DumpError> {
    walk_chunk(buf, |resp| {
        if let Some(sock) = to_bound_socket(resp, proto) {
            out.push(sock);
        }
    })
}

/// Decode one `recv` worth of a [`HeldRequest`]'s replies, appending to `out`.
pub fn decode_held_chunk(
    buf: &[u8],
    proto: Proto,
    out: &mut Vec<HeldSocket>,
) -> Result<bool, DumpError> {
    walk_chunk(buf, |resp| {
        if let Some(sock) = to_held_socket(resp, proto) {
            out.push(sock);
        }
    })
}

fn walk_chunk(
    buf: &[u8],
    mut each: impl FnMut(&netlink_packet_sock_diag::inet::InetResponse),
) -> Result<bool, DumpError> {
    let mut offset = 0;
    while offset < buf.len() {
        let rest = &buf[offset..];
        let msg = NetlinkMessage::<SockDiagMessage>::deserialize(rest)
            .map_err(|e| DumpError::Decode(format!("at byte {offset}: {e}")))?;
        let len = msg.header.length as usize;
        if len < 16 || len > rest.len() {
            return Err(DumpError::Decode(format!(
                "message at byte {offset} claims length {len} of {} remaining",
                rest.len()
            )));
        }
        match msg.payload {
            NetlinkPayload::Done(_) => return Ok(true),
            NetlinkPayload::Error(e) if e.code.is_some() => {
                return Err(DumpError::Kernel(e.to_io()))
            }
            NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(resp)) => each(&resp),
            _ => {}
        }
        // Netlink messages are 4-byte aligned.
        offset += (len + 3) & !3;
    }
    Ok(false)
}

fn to_bound_socket(
    resp: &netlink_packet_sock_diag::inet::InetResponse,
    proto: Proto,
) -> Option<BoundSocket> {
    let h = &resp.header;
    let wanted = match proto {
        Proto::Tcp => TCP_LISTEN,
        Proto::Udp => TCP_CLOSE,
    };
    // The kernel filters by state already; check again so a replayed or odd dump cannot slip
    // a connected socket in. Port 0 means not bound to a port.
    if h.state != wanted || h.socket_id.source_port == 0 {
        return None;
    }
    Some(local_end(resp, proto))
}

/// A socket of a held dump: bound (state `CLOSE` with a port), TIME_WAIT, or connected.
fn to_held_socket(
    resp: &netlink_packet_sock_diag::inet::InetResponse,
    proto: Proto,
) -> Option<HeldSocket> {
    let h = &resp.header;
    if h.socket_id.source_port == 0 {
        return None;
    }
    let state = match (proto, h.state) {
        (_, TCP_LISTEN) => return None,
        (Proto::Tcp, TCP_CLOSE | TCP_BOUND_INACTIVE) => HolderState::Bound,
        (Proto::Tcp, TCP_TIME_WAIT) => HolderState::TimeWait,
        (Proto::Udp, TCP_CLOSE) => return None,
        _ => HolderState::Connected,
    };
    let remote = (state != HolderState::Bound).then(|| {
        SocketAddr::new(
            h.socket_id.destination_address,
            h.socket_id.destination_port,
        )
    });
    Some(HeldSocket {
        socket: local_end(resp, proto),
        state,
        remote,
    })
}

fn local_end(resp: &netlink_packet_sock_diag::inet::InetResponse, proto: Proto) -> BoundSocket {
    let h = &resp.header;
    let v6only = if h.family == AF_INET6 {
        // The kernel always sends INET_DIAG_SKV6ONLY for AF_INET6 sockets.
        resp.nlas.iter().find_map(|n| match n {
            Nla::SkV6Only(v) => Some(*v),
            _ => None,
        })
    } else {
        None
    };
    BoundSocket {
        proto,
        address: h.socket_id.source_address,
        port: h.socket_id.source_port,
        v6only,
        bound_ifindex: (h.socket_id.interface_id != 0).then_some(h.socket_id.interface_id),
        ifindex_known: true,
        uid: h.uid,
        inode: u64::from(h.inode),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Real `sock_diag` replies recorded in a namespace holding: TCP 127.0.0.1:8080 and
    /// TCP [::]:8081 with v6only=1 bound to `lo`, by `examples/record_sock_diag.rs`.
    const TCP4: &[u8] = include_bytes!("../../tests/fixtures/sock_diag_tcp4.bin");
    const TCP6: &[u8] = include_bytes!("../../tests/fixtures/sock_diag_tcp6.bin");

    #[test]
    fn replays_recorded_tcp4_dump() {
        let mut out = Vec::new();
        let done = decode_chunk(TCP4, Proto::Tcp, &mut out).expect("decodes");
        assert!(done);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].address.to_string(), "127.0.0.1");
        assert_eq!(out[0].port, 8080);
        assert_eq!(out[0].v6only, None);
        assert_eq!(out[0].bound_ifindex, None);
    }

    #[test]
    fn replays_recorded_tcp6_dump_with_v6only_and_device() {
        let mut out = Vec::new();
        let done = decode_chunk(TCP6, Proto::Tcp, &mut out).expect("decodes");
        assert!(done);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].address.to_string(), "::");
        assert_eq!(out[0].port, 8081);
        assert_eq!(out[0].v6only, Some(true));
        assert_eq!(out[0].bound_ifindex, Some(1));
    }

    #[test]
    fn truncated_dump_is_an_error_not_a_panic() {
        for cut in [1, 7, 16, 40, TCP4.len() - 1] {
            let mut out = Vec::new();
            let r = decode_chunk(&TCP4[..cut.min(TCP4.len())], Proto::Tcp, &mut out);
            assert!(
                matches!(r, Err(DumpError::Decode(_))),
                "cut at {cut}: {r:?}"
            );
        }
    }

    #[test]
    fn kernel_error_reply_is_reported() {
        // NLMSG_ERROR with -ENOENT (2), as when udp_diag is not loaded.
        let mut msg = Vec::new();
        msg.extend_from_slice(&36u32.to_ne_bytes()); // length
        msg.extend_from_slice(&2u16.to_ne_bytes()); // NLMSG_ERROR
        msg.extend_from_slice(&0u16.to_ne_bytes());
        msg.extend_from_slice(&1u32.to_ne_bytes());
        msg.extend_from_slice(&0u32.to_ne_bytes());
        msg.extend_from_slice(&(-2i32).to_ne_bytes());
        msg.extend_from_slice(&[0u8; 16]); // echoed request header
        let mut out = Vec::new();
        match decode_chunk(&msg, Proto::Udp, &mut out) {
            Err(DumpError::Kernel(e)) => assert_eq!(e.raw_os_error(), Some(2)),
            other => panic!("expected kernel error, got {other:?}"),
        }
    }

    #[test]
    fn request_bytes_have_the_inet_diag_req_v2_layout() {
        let bytes = DumpRequest {
            proto: Proto::Udp,
            ipv6: true,
        }
        .to_bytes(7);
        let u16_at = |i: usize| u16::from_ne_bytes([bytes[i], bytes[i + 1]]);
        let u32_at =
            |i: usize| u32::from_ne_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        // nlmsghdr: length, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST|NLM_F_DUMP, sequence
        assert_eq!(u32_at(0) as usize, bytes.len());
        assert_eq!(u16_at(4), 20);
        assert_eq!(u16_at(6), NLM_F_REQUEST | NLM_F_DUMP);
        assert_eq!(u32_at(8), 7);
        // inet_diag_req_v2: family, protocol, ext, pad, states
        assert_eq!(bytes[16], AF_INET6);
        assert_eq!(bytes[17], IPPROTO_UDP);
        assert_eq!(u32_at(20), 1 << TCP_CLOSE);
        let tcp = DumpRequest {
            proto: Proto::Tcp,
            ipv6: false,
        }
        .to_bytes(1);
        assert_eq!(tcp[16], AF_INET);
        assert_eq!(
            u32::from_ne_bytes([tcp[20], tcp[21], tcp[22], tcp[23]]),
            1 << TCP_LISTEN
        );
    }
}
