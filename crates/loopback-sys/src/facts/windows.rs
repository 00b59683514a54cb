//! What the Windows backend makes of what Windows said: pure, so that recorded tables are
//! tested on every platform (Wine, where the suite runs the backend, reports pid 0 for every
//! socket, so owners are tested here).

use std::collections::{HashMap, HashSet};

use loopback_model::{BoundSocket, Proto};

use crate::parse::iphlp::{self, Table};
use crate::{FirewallDump, HeldSocket, OwnerScan, ProcessInfo};
use loopback_model::bind::HolderState;

/// Rows of the four tables as sockets, keyed by [`iphlp::socket_key`]; `rows` are what each
/// table held (the Windows backend reads them live, tests pass recorded ones).
pub fn sockets_from_tables(tables: &[(Table, Vec<iphlp::Row>)]) -> Vec<BoundSocket> {
    let mut out = Vec::new();
    for (table, rows) in tables {
        for (i, r) in rows.iter().enumerate() {
            if r.proto == Proto::Tcp && r.state != Some(iphlp::MIB_TCP_STATE_LISTEN) {
                continue;
            }
            out.push(socket_of_row(r, iphlp::socket_key(*table, i, r.pid)));
        }
    }
    out
}

/// A row's local end as a socket known by `inode`.
fn socket_of_row(r: &iphlp::Row, inode: u64) -> BoundSocket {
    BoundSocket {
        proto: r.proto,
        address: r.address,
        port: r.port,
        // The tables do not say; Windows' default for a new IPv6 socket is on.
        v6only: None,
        bound_ifindex: None,
        ifindex_known: false,
        // Windows has no numeric uid: the owner's account names the user.
        uid: 0,
        inode,
    }
}

/// The sockets of whole TCP tables (`TCP_TABLE_OWNER_PID_ALL`) that hold a port without
/// listening: connections, and TIME_WAIT (which no process holds). The tables list no
/// bound-but-not-listening socket, which [`unseen_on_windows`] says.
pub fn held_from_tables(tables: &[(Table, Vec<iphlp::Row>)]) -> Vec<HeldSocket> {
    let mut out = Vec::new();
    for (table, rows) in tables {
        for (i, r) in rows.iter().enumerate() {
            let state = match r.state {
                Some(iphlp::MIB_TCP_STATE_TIME_WAIT) => HolderState::TimeWait,
                Some(iphlp::MIB_TCP_STATE_LISTEN | iphlp::MIB_TCP_STATE_CLOSED) | None => continue,
                Some(_) => HolderState::Connected,
            };
            if r.proto != Proto::Tcp || r.port == 0 {
                continue;
            }
            let pid = if state == HolderState::TimeWait {
                0
            } else {
                r.pid
            };
            let inode = if pid == 0 {
                0
            } else {
                iphlp::held_key(*table, i, pid)
            };
            out.push(HeldSocket {
                socket: socket_of_row(r, inode),
                state,
                remote: r.remote,
            });
        }
    }
    out
}

/// What the Windows backend cannot show of the sockets that hold ports.
pub fn unseen_on_windows() -> Vec<String> {
    vec![
        "TCP sockets bound and not listening are not read on Windows (the IP Helper tables \
         loopback reads list listeners, connections and TIME_WAIT), nor connected UDP sockets"
            .into(),
    ]
}

/// The owners of `keys`: the pid each key carries, named from `names` (the Tool Help
/// snapshot) and `user` (a process token's account). Pid 4 is the kernel (`System`), which
/// holds HTTP.sys's and SMB's ports.
pub fn owners_from_keys(
    keys: &HashSet<u64>,
    names: &HashMap<u32, String>,
    user: impl Fn(u32) -> Option<String>,
) -> OwnerScan {
    let mut scan = OwnerScan::default();
    for key in keys {
        let Some(pid) = iphlp::pid_of_key(*key) else {
            continue;
        };
        scan.holders.insert(*key, vec![pid]);
        scan.processes.entry(pid).or_insert_with(|| {
            let comm = names.get(&pid).cloned().unwrap_or_else(|| {
                if pid == 4 {
                    "System".to_owned()
                } else {
                    format!("pid {pid}")
                }
            });
            ProcessInfo {
                pid,
                comm,
                euid: None,
                argv: Vec::new(),
                cgroup: None,
                user: user(pid),
            }
        });
    }
    scan
}

/// Windows Firewall as the profiles' `EnableFirewall` values say (a Group Policy value wins
/// over the local one): off in every profile, or what is unknown.
pub fn firewall_from_profiles(states: &[(&str, Result<Option<u32>, String>)]) -> FirewallDump {
    let mut on = Vec::new();
    let mut unknown = Vec::new();
    for (profile, state) in states {
        match state {
            Ok(Some(0)) => {}
            Ok(Some(_)) => on.push(*profile),
            Ok(None) => unknown.push(format!("{profile}: no EnableFirewall value")),
            Err(e) => unknown.push(format!("{profile}: {e}")),
        }
    }
    let mut dump = FirewallDump::default();
    if !on.is_empty() {
        dump.unreadable.push(format!(
            "Windows Firewall is on for the {} profile(s); loopback does not read its rules yet",
            on.join(", ")
        ));
    }
    if !unknown.is_empty() {
        dump.unreadable.push(format!(
            "Windows Firewall's state could not be read ({})",
            unknown.join("; ")
        ));
    }
    if on.is_empty() && unknown.is_empty() {
        dump.off = Some("Windows Firewall is off in every profile (EnableFirewall = 0)".into());
    }
    dump
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::IpAddr;

    fn row(proto: Proto, addr: &str, port: u16, state: Option<u32>, pid: u32) -> iphlp::Row {
        iphlp::Row {
            proto,
            address: addr.parse().expect("address"),
            scope_id: 0,
            port,
            state,
            pid,
            remote: (proto == Proto::Tcp).then(|| "127.0.0.1:40000".parse().expect("remote")),
        }
    }

    #[test]
    fn whole_tables_give_connections_and_time_wait_not_listeners() {
        let held = held_from_tables(&tables());
        let tw: Vec<_> = held
            .iter()
            .filter(|h| h.state == HolderState::TimeWait)
            .collect();
        assert_eq!(tw.len(), 1);
        assert_eq!(tw[0].socket.port, 50123);
        assert_eq!(tw[0].socket.inode, 0, "the kernel holds TIME_WAIT");
        assert!(held.iter().all(|h| h.state != HolderState::Listen));
        assert!(!held.iter().any(|h| h.socket.port == 3000));
        let est = vec![(
            Table::Tcp4,
            vec![row(Proto::Tcp, "127.0.0.1", 3000, Some(5), 77)],
        )];
        let held = held_from_tables(&est);
        assert_eq!(held[0].state, HolderState::Connected);
        assert_eq!(iphlp::pid_of_key(held[0].socket.inode), Some(77));
        let listeners = sockets_from_tables(&est);
        assert!(listeners.is_empty());
    }

    /// Tables as a Windows host with a dev server, HTTP.sys and a UDP service would fill them.
    fn tables() -> Vec<(Table, Vec<iphlp::Row>)> {
        let listen = Some(iphlp::MIB_TCP_STATE_LISTEN);
        vec![
            (
                Table::Tcp4,
                vec![
                    row(Proto::Tcp, "127.0.0.1", 3000, listen, 6120),
                    row(Proto::Tcp, "0.0.0.0", 80, listen, 4),
                    row(
                        Proto::Tcp,
                        "127.0.0.1",
                        50123,
                        Some(iphlp::MIB_TCP_STATE_TIME_WAIT),
                        0,
                    ),
                ],
            ),
            (
                Table::Tcp6,
                vec![row(Proto::Tcp, "::1", 3000, listen, 6120)],
            ),
            (
                Table::Udp4,
                vec![row(Proto::Udp, "127.0.0.1", 5353, None, 0)],
            ),
            (Table::Udp6, Vec::new()),
        ]
    }

    #[test]
    fn listening_rows_become_sockets_and_owners() {
        let socks = sockets_from_tables(&tables());
        let shown: Vec<(IpAddr, u16)> = socks.iter().map(|s| (s.address, s.port)).collect();
        assert_eq!(
            shown,
            [
                ("127.0.0.1".parse().expect("a"), 3000),
                ("0.0.0.0".parse().expect("a"), 80),
                ("::1".parse().expect("a"), 3000),
                ("127.0.0.1".parse().expect("a"), 5353),
            ],
            "the TIME_WAIT row is not a listener"
        );
        let keys: HashSet<u64> = socks.iter().map(|s| s.inode).collect();
        assert_eq!(keys.len(), 4, "every socket has its own key");
        let names = HashMap::from([(6120, "node.exe".to_owned())]);
        let owners = owners_from_keys(&keys, &names, |pid| {
            (pid == 6120).then(|| r"DEV\ada".to_owned())
        });
        assert_eq!(owners.holders.get(&socks[0].inode), Some(&vec![6120]));
        assert_eq!(owners.holders.get(&socks[2].inode), Some(&vec![6120]));
        let node = &owners.processes[&6120];
        assert_eq!(
            (node.comm.as_str(), node.user.as_deref()),
            ("node.exe", Some(r"DEV\ada"))
        );
        assert_eq!(
            owners.processes[&4].comm, "System",
            "pid 4 is named even unlisted"
        );
        assert!(
            !owners.holders.contains_key(&socks[3].inode),
            "pid 0 names no process"
        );
    }

    #[test]
    fn firewall_off_only_when_every_profile_says_so() {
        let off = firewall_from_profiles(&[
            ("Domain", Ok(Some(0))),
            ("Private", Ok(Some(0))),
            ("Public", Ok(Some(0))),
        ]);
        assert!(off.off.is_some() && off.unreadable.is_empty());
        let on = firewall_from_profiles(&[
            ("Domain", Ok(Some(0))),
            ("Private", Ok(Some(1))),
            ("Public", Ok(Some(1))),
        ]);
        assert!(on.off.is_none());
        assert!(
            on.unreadable[0].contains("Private, Public"),
            "{:?}",
            on.unreadable
        );
        let unknown = firewall_from_profiles(&[
            ("Domain", Ok(None)),
            ("Private", Err("access denied".into())),
            ("Public", Ok(Some(0))),
        ]);
        assert!(unknown.off.is_none());
        assert!(
            unknown.unreadable[0].contains("access denied"),
            "{:?}",
            unknown.unreadable
        );
    }
}
