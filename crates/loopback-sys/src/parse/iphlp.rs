//! Windows' IP Helper socket tables as `GetExtendedTcpTable` and `GetExtendedUdpTable` fill a
//! buffer: a `u32` row count, then fixed-size rows (`MIB_TCPROW_OWNER_PID`,
//! `MIB_TCP6ROW_OWNER_PID`, `MIB_UDPROW_OWNER_PID`, `MIB_UDP6ROW_OWNER_PID`, every field a
//! little-endian `u32` or a byte array). Addresses are in network order as stored; a port is
//! the low 16 bits of its `u32`, in network order.
//!
//! Parsed from bytes on every platform, so recorded tables are tested on Linux; the Windows
//! backend checks at compile time that these sizes are `windows-sys`'s.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use loopback_model::Proto;

/// `MIB_TCPROW_OWNER_PID`: state, local address, local port, remote address, remote port, pid.
pub const TCP4_ROW: usize = 24;
/// `MIB_TCP6ROW_OWNER_PID`: local address and scope, local port, remote address and scope,
/// remote port, state, pid.
pub const TCP6_ROW: usize = 56;
/// `MIB_UDPROW_OWNER_PID`: local address, local port, pid.
pub const UDP4_ROW: usize = 12;
/// `MIB_UDP6ROW_OWNER_PID`: local address, scope, local port, pid.
pub const UDP6_ROW: usize = 28;

/// `MIB_TCP_STATE_LISTEN`.
pub const MIB_TCP_STATE_LISTEN: u32 = 2;
/// `MIB_TCP_STATE_CLOSED`.
pub const MIB_TCP_STATE_CLOSED: u32 = 1;
/// `MIB_TCP_STATE_TIME_WAIT`.
pub const MIB_TCP_STATE_TIME_WAIT: u32 = 11;

/// Which table a buffer holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    /// `AF_INET`, TCP.
    Tcp4,
    /// `AF_INET6`, TCP.
    Tcp6,
    /// `AF_INET`, UDP.
    Udp4,
    /// `AF_INET6`, UDP.
    Udp6,
}

impl Table {
    /// Every table, in the order the backend reads them.
    pub const ALL: [Table; 4] = [Table::Tcp4, Table::Tcp6, Table::Udp4, Table::Udp6];

    /// The size of one row.
    pub fn row_size(self) -> usize {
        match self {
            Table::Tcp4 => TCP4_ROW,
            Table::Tcp6 => TCP6_ROW,
            Table::Udp4 => UDP4_ROW,
            Table::Udp6 => UDP6_ROW,
        }
    }

    /// TCP or UDP.
    pub fn proto(self) -> Proto {
        match self {
            Table::Tcp4 | Table::Tcp6 => Proto::Tcp,
            Table::Udp4 | Table::Udp6 => Proto::Udp,
        }
    }

    /// Whether it lists IPv6 sockets.
    pub fn is_v6(self) -> bool {
        matches!(self, Table::Tcp6 | Table::Udp6)
    }
}

/// One row of a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// TCP or UDP.
    pub proto: Proto,
    /// The local address.
    pub address: IpAddr,
    /// Its scope (interface) id, for IPv6 link-local addresses.
    pub scope_id: u32,
    /// The local port.
    pub port: u16,
    /// The TCP state (`MIB_TCP_STATE_*`); `None` for UDP.
    pub state: Option<u32>,
    /// The owning process (0: none that can be named; 4: the kernel, `System`).
    pub pid: u32,
    /// The far end of a TCP row (`0.0.0.0:0` for a listener); `None` for UDP.
    pub remote: Option<std::net::SocketAddr>,
}

/// Why a table could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TableError {
    /// Shorter than its count.
    #[error("a {table:?} table of {len} bytes is too short for {count} rows")]
    Short {
        /// Which table.
        table: Table,
        /// Its length.
        len: usize,
        /// The count it begins with.
        count: u32,
    },
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(w)
}

fn v4_at(b: &[u8], at: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3]))
}

fn v6_at(b: &[u8], at: usize) -> IpAddr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[at..at + 16]);
    IpAddr::V6(Ipv6Addr::from(a))
}

/// The port in the low 16 bits of the `u32` at `at`, which are in network order.
fn port_at(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Every row of `table` in `buf`. A buffer shorter than its count says is refused whole, since
/// a truncated table would silently miss listeners.
pub fn parse_table(table: Table, buf: &[u8]) -> Result<Vec<Row>, TableError> {
    if buf.len() < 4 {
        return if buf.is_empty() {
            Ok(Vec::new())
        } else {
            Err(TableError::Short {
                table,
                len: buf.len(),
                count: 0,
            })
        };
    }
    let count = u32_at(buf, 0);
    let size = table.row_size();
    let need = (count as usize)
        .checked_mul(size)
        .and_then(|n| n.checked_add(4));
    if need.is_none_or(|n| n > buf.len()) {
        return Err(TableError::Short {
            table,
            len: buf.len(),
            count,
        });
    }
    let proto = table.proto();
    let rows = buf[4..]
        .chunks_exact(size)
        .take(count as usize)
        .map(|r| match table {
            Table::Tcp4 => Row {
                proto,
                state: Some(u32_at(r, 0)),
                address: v4_at(r, 4),
                scope_id: 0,
                port: port_at(r, 8),
                pid: u32_at(r, 20),
                remote: Some(std::net::SocketAddr::new(v4_at(r, 12), port_at(r, 16))),
            },
            Table::Tcp6 => Row {
                proto,
                address: v6_at(r, 0),
                scope_id: u32_at(r, 16),
                port: port_at(r, 20),
                state: Some(u32_at(r, 48)),
                pid: u32_at(r, 52),
                remote: Some(std::net::SocketAddr::new(v6_at(r, 24), port_at(r, 44))),
            },
            Table::Udp4 => Row {
                proto,
                address: v4_at(r, 0),
                scope_id: 0,
                port: port_at(r, 4),
                state: None,
                pid: u32_at(r, 8),
                remote: None,
            },
            Table::Udp6 => Row {
                proto,
                address: v6_at(r, 0),
                scope_id: u32_at(r, 16),
                port: port_at(r, 20),
                state: None,
                pid: u32_at(r, 24),
                remote: None,
            },
        })
        .collect();
    Ok(rows)
}

/// The key a Windows socket is known by in a snapshot. The tables give no socket identity, so
/// the key packs the owning pid (upper 32 bits) with the row's place among that table's rows,
/// which is what ties a socket to its owner later ([`pid_of_key`]). Never 0, which means "held
/// by no process".
pub fn socket_key(table: Table, index: usize, pid: u32) -> u64 {
    let t = match table {
        Table::Tcp4 => 0u64,
        Table::Tcp6 => 1,
        Table::Udp4 => 2,
        Table::Udp6 => 3,
    };
    (u64::from(pid) << 32) | (t << 28) | ((index as u64 + 1) & 0x0fff_ffff)
}

/// The key of a row of a TCP table read whole (`TCP_TABLE_OWNER_PID_ALL`, for the sockets that
/// hold ports without listening): [`socket_key`]'s, with row indexes from 2^27 so that it
/// never equals a listener's key in the same snapshot.
pub fn held_key(table: Table, index: usize, pid: u32) -> u64 {
    socket_key(table, index + (1 << 27), pid)
}

/// The owning pid packed into a [`socket_key`]; `None` for pid 0, which names no process.
pub fn pid_of_key(key: u64) -> Option<u32> {
    u32::try_from(key >> 32).ok().filter(|p| *p != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table as Windows writes it, from rows given as (address, port, state, pid).
    fn tcp4(rows: &[([u8; 4], u16, u32, u32)]) -> Vec<u8> {
        let mut b = (rows.len() as u32).to_le_bytes().to_vec();
        for (a, port, state, pid) in rows {
            b.extend(state.to_le_bytes());
            b.extend(a);
            b.extend(port.to_be_bytes());
            b.extend([0, 0]);
            b.extend([0; 4]);
            b.extend([0; 4]);
            b.extend(pid.to_le_bytes());
        }
        b
    }

    #[test]
    fn tcp4_rows_with_owners() {
        let buf = tcp4(&[
            ([127, 0, 0, 1], 5432, MIB_TCP_STATE_LISTEN, 1234),
            ([0, 0, 0, 0], 80, MIB_TCP_STATE_LISTEN, 4),
        ]);
        let rows = parse_table(Table::Tcp4, &buf).expect("table");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].address, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(rows[0].port, 5432);
        assert_eq!(rows[0].pid, 1234);
        assert_eq!(rows[0].state, Some(MIB_TCP_STATE_LISTEN));
        assert_eq!(rows[1].pid, 4);
    }

    #[test]
    fn tcp6_and_udp_rows() {
        let mut b = 1u32.to_le_bytes().to_vec();
        let local: Ipv6Addr = "::1".parse().expect("v6");
        b.extend(local.octets());
        b.extend(0u32.to_le_bytes());
        b.extend(3000u16.to_be_bytes());
        b.extend([0, 0]);
        b.extend([0; 16]);
        b.extend(0u32.to_le_bytes());
        b.extend(0u32.to_le_bytes());
        b.extend(MIB_TCP_STATE_LISTEN.to_le_bytes());
        b.extend(77u32.to_le_bytes());
        let rows = parse_table(Table::Tcp6, &b).expect("tcp6");
        assert_eq!(rows[0].address, IpAddr::V6(local));
        assert_eq!((rows[0].port, rows[0].pid), (3000, 77));

        let mut u = 1u32.to_le_bytes().to_vec();
        u.extend([127, 0, 0, 1]);
        u.extend(53u16.to_be_bytes());
        u.extend([0, 0]);
        u.extend(9u32.to_le_bytes());
        let rows = parse_table(Table::Udp4, &u).expect("udp4");
        assert_eq!((rows[0].port, rows[0].pid, rows[0].state), (53, 9, None));
    }

    #[test]
    fn a_short_table_is_refused_and_garbage_never_panics() {
        let mut buf = tcp4(&[([127, 0, 0, 1], 1, MIB_TCP_STATE_LISTEN, 1)]);
        buf.truncate(buf.len() - 1);
        assert!(parse_table(Table::Tcp4, &buf).is_err());
        assert!(parse_table(Table::Udp6, &[0xff; 3]).is_err());
        assert!(parse_table(Table::Udp6, &[0xff; 64]).is_err());
        assert_eq!(parse_table(Table::Tcp4, &[]), Ok(Vec::new()));
        for n in 0..200 {
            let junk: Vec<u8> = (0..n).map(|i| (i * 37 % 251) as u8).collect();
            for t in Table::ALL {
                let _ = parse_table(t, &junk);
            }
        }
    }

    #[test]
    fn keys_carry_the_owner() {
        let k = socket_key(Table::Udp6, 41, 4242);
        assert_eq!(pid_of_key(k), Some(4242));
        assert_ne!(socket_key(Table::Tcp4, 0, 0), 0);
        assert_eq!(pid_of_key(socket_key(Table::Tcp4, 0, 0)), None);
        assert_ne!(socket_key(Table::Tcp4, 0, 5), socket_key(Table::Tcp6, 0, 5));
    }
}
