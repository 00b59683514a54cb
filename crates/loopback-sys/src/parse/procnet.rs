//! `/proc/net/{tcp,tcp6,udp,udp6}`: the fallback socket table.
//!
//! Each row prints addresses as the raw network-order words in host byte order (`%08X` of a
//! `__be32`), so decoding uses native endianness: these tables are only ever read on the host
//! that wrote them. The format carries neither `IPV6_V6ONLY` nor `SO_BINDTODEVICE`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use loopback_model::{BoundSocket, Proto};

use super::{TCP_CLOSE, TCP_LISTEN};

/// A row that could not be read, with its 1-based line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// The line number.
    pub line: usize,
    /// Why it was skipped.
    pub reason: &'static str,
}

/// Parse a `/proc/net` socket table and keep the listeners: TCP in `LISTEN`, UDP in `CLOSE`
/// (bound, unconnected) with a non-zero port. Unreadable rows are returned, not fatal.
pub fn parse_table(bytes: &[u8], proto: Proto) -> (Vec<BoundSocket>, Vec<BadRow>) {
    let want_state = match proto {
        Proto::Tcp => TCP_LISTEN,
        Proto::Udp => TCP_CLOSE,
    };
    let mut sockets = Vec::new();
    let mut bad = Vec::new();
    let text = String::from_utf8_lossy(bytes);
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with("sl") {
            continue;
        }
        match parse_row(trimmed) {
            Ok(row) => {
                if row.state == want_state && row.port != 0 {
                    sockets.push(BoundSocket {
                        proto,
                        address: row.address,
                        port: row.port,
                        v6only: None,
                        bound_ifindex: None,
                        ifindex_known: false,
                        uid: row.uid,
                        inode: row.inode,
                    });
                }
            }
            Err(reason) => bad.push(BadRow {
                line: line_no,
                reason,
            }),
        }
    }
    (sockets, bad)
}

struct Row {
    address: IpAddr,
    port: u16,
    state: u8,
    uid: u32,
    inode: u64,
}

fn parse_row(line: &str) -> Result<Row, &'static str> {
    // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    let fields: Vec<&str> = line.split_whitespace().collect();
    if fields.len() < 10 {
        return Err("fewer than 10 fields");
    }
    let (addr_hex, port_hex) = fields[1]
        .split_once(':')
        .ok_or("local address has no ':'")?;
    let address = parse_hex_addr(addr_hex).ok_or("local address is not hex of 8 or 32 digits")?;
    let port = u16::from_str_radix(port_hex, 16).map_err(|_| "port is not hex")?;
    let state = u8::from_str_radix(fields[3], 16).map_err(|_| "state is not hex")?;
    let uid = fields[7].parse().map_err(|_| "uid is not a number")?;
    let inode = fields[9].parse().map_err(|_| "inode is not a number")?;
    Ok(Row {
        address,
        port,
        state,
        uid,
        inode,
    })
}

fn parse_hex_addr(hex: &str) -> Option<IpAddr> {
    match hex.len() {
        8 => {
            let word = u32::from_str_radix(hex, 16).ok()?;
            Some(IpAddr::V4(Ipv4Addr::from(word.to_ne_bytes())))
        }
        32 => {
            let mut bytes = [0u8; 16];
            for (i, chunk) in bytes.chunks_exact_mut(4).enumerate() {
                let word = u32::from_str_radix(hex.get(i * 8..i * 8 + 8)?, 16).ok()?;
                chunk.copy_from_slice(&word.to_ne_bytes());
            }
            Some(IpAddr::V6(Ipv6Addr::from(bytes)))
        }
        _ => None,
    }
}

#[cfg(all(test, target_endian = "little"))]
mod tests {
    use super::*;

    // Rows captured on an x86_64 host (little-endian), trimmed of trailing columns' noise.
    const TCP: &[u8] = b"  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 31337 1 0000000000000000 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1200 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1F90 0100007F:D2F0 01 00000000:00000000 00:00000000 00000000  1000        0 40000 1 0000000000000000 20 4 30 10 -1
   3: garbage
";

    const TCP6: &[u8] = b"  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:0277 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 555 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 556 1 0000000000000000 100 0 0 10 0
";

    const UDP: &[u8] = b"   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  100: 3500007F:0035 00000000:0000 07 00000000:00000000 00:00000000 00000000   101        0 777 2 0000000000000000 0
  101: 00000000:D431 0100007F:0035 01 00000000:00000000 00:00000000 00000000     0        0 778 2 0000000000000000 0
";

    #[test]
    fn tcp_keeps_listeners_and_reports_bad_rows() {
        let (sockets, bad) = parse_table(TCP, Proto::Tcp);
        assert_eq!(sockets.len(), 2);
        assert_eq!(sockets[0].address, "127.0.0.1".parse::<IpAddr>().unwrap());
        assert_eq!(sockets[0].port, 8080);
        assert_eq!(sockets[0].uid, 1000);
        assert_eq!(sockets[0].inode, 31337);
        assert_eq!(sockets[1].address, "0.0.0.0".parse::<IpAddr>().unwrap());
        assert_eq!(sockets[1].port, 22);
        assert_eq!(
            bad,
            vec![BadRow {
                line: 5,
                reason: "fewer than 10 fields"
            }]
        );
    }

    #[test]
    fn tcp6_decodes_loopback_and_mapped() {
        let (sockets, bad) = parse_table(TCP6, Proto::Tcp);
        assert!(bad.is_empty());
        assert_eq!(sockets[0].address, "::1".parse::<IpAddr>().unwrap());
        assert_eq!(sockets[0].port, 631);
        assert_eq!(
            sockets[1].address,
            "::ffff:127.0.0.1".parse::<IpAddr>().unwrap()
        );
        assert_eq!(sockets[1].v6only, None);
    }

    #[test]
    fn udp_keeps_only_unconnected() {
        let (sockets, _) = parse_table(UDP, Proto::Udp);
        assert_eq!(sockets.len(), 1);
        assert_eq!(sockets[0].address, "127.0.0.53".parse::<IpAddr>().unwrap());
        assert_eq!(sockets[0].port, 53);
    }

    #[test]
    fn empty_and_truncated_input_do_not_panic() {
        assert!(parse_table(b"", Proto::Tcp).0.is_empty());
        let (s, bad) = parse_table(b"0: 0100007F:1F9", Proto::Tcp);
        assert!(s.is_empty());
        assert_eq!(bad.len(), 1);
        let (s, bad) = parse_table(
            b"0: 0100007:1F90 00000000:0000 0A 0:0 0:0 0 0 0 1",
            Proto::Tcp,
        );
        assert!(s.is_empty());
        assert_eq!(bad[0].reason, "local address is not hex of 8 or 32 digits");
    }
}
