//! Where "another host" begins: which interfaces lead off this machine.
//!
//! An *uplink* leads off the machine: a physical device, virtio, Wi-Fi, tun/tap, WireGuard,
//! VXLAN/Geneve, macvlan/ipvlan, a bond or VLAN, or a veth whose far end is in a namespace not
//! visible from here (as inside a container). An *internal* interface does not: loopback,
//! dummy, veths whose far end is a namespace of this machine, and bridges none of whose ports
//! is an uplink. `--uplink NAME` declares more (a veth to a VM, a lab or a test peer).

use loopback_model::Interface;

/// Why an interface is an uplink, or `None` when it is internal.
pub fn uplink_reason(
    iface: &Interface,
    all: &[Interface],
    declared: &[String],
    sees_other_namespaces: bool,
) -> Option<(String, bool)> {
    if declared.contains(&iface.name) {
        return Some(("declared with --uplink".into(), true));
    }
    reason(iface, all, sees_other_namespaces, 0).map(|r| (r, false))
}

fn reason(iface: &Interface, all: &[Interface], sees_other: bool, depth: u8) -> Option<String> {
    if iface.loopback {
        return None;
    }
    match iface.kind.as_deref() {
        None => Some("a physical device".into()),
        Some("veth") if !iface.peer_elsewhere => None,
        Some("veth") if sees_other => None,
        Some("veth") => {
            Some("a veth whose far end is in a network namespace not visible from here".into())
        }
        Some("bridge") => {
            if depth > 4 {
                return None;
            }
            all.iter()
                .filter(|p| p.master == Some(iface.index))
                .find_map(|p| {
                    reason(p, all, sees_other, depth + 1)
                        .map(|r| format!("a bridge with port {} ({r})", p.name))
                })
        }
        Some("dummy" | "nlmon" | "ifb" | "vrf") => None,
        Some(kind) => Some(format!("a {kind} device")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::iface;

    fn kind(mut i: Interface, kind: &str, master: Option<u32>, elsewhere: bool) -> Interface {
        i.kind = Some(kind.into());
        i.master = master;
        i.peer_elsewhere = elsewhere;
        i
    }

    #[test]
    fn uplinks_and_internal_interfaces() {
        let all = vec![
            iface(1, "lo", true, &["127.0.0.1/8"]),
            iface(2, "eth0", false, &["192.0.2.1/24"]),
            kind(
                iface(3, "docker0", false, &["172.17.0.1/16"]),
                "bridge",
                None,
                false,
            ),
            kind(iface(4, "veth1", false, &[]), "veth", Some(3), true),
            kind(iface(5, "br0", false, &[]), "bridge", None, false),
            kind(iface(6, "eth1", false, &[]), "macvlan", Some(5), false),
            kind(iface(7, "wg0", false, &[]), "wireguard", None, false),
        ];
        let r = |i: usize, seen: bool| uplink_reason(&all[i], &all, &["veth1".into()][..0], seen);
        assert_eq!(r(0, true), None);
        assert_eq!(r(1, true).map(|x| x.0), Some("a physical device".into()));
        assert_eq!(r(2, true), None, "docker0's ports lead to containers");
        assert_eq!(r(3, true), None);
        assert!(r(3, false).is_some_and(|x| x.0.contains("not visible")));
        assert!(r(2, false).is_some_and(|x| x.0.contains("bridge with port veth1")));
        assert!(r(4, true).is_some_and(|x| x.0.contains("macvlan")));
        assert!(r(6, true).is_some());
        assert_eq!(
            uplink_reason(&all[3], &all, &["veth1".into()], true),
            Some(("declared with --uplink".into(), true))
        );
    }
}
