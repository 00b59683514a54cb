//! The pure half of `bind`: given the real binds' outcomes and a snapshot, name the cause of
//! each failure, the sockets behind it and what to do.
//!
//! The kernel's rules (Linux's `inet_bind_conflict`, `udp_lib_lport_inuse`) decide which
//! socket can block which; a holder's own `SO_REUSEADDR` and `SO_REUSEPORT` are not in any
//! socket table, so a holder is named as the cause only when the real bind failed and the
//! holder claims an address the bind asked for. The cause follows the strongest claim: a
//! listener (a runtime's forwarder first), then a socket bound without listening or
//! connected, then TIME_WAIT.

use std::net::IpAddr;

use loopback_model::bind::{
    BindCause, BindHolder, BindOptions, BindReport, BindResult, HolderState, BIND_VERSION,
};
use loopback_model::{Os, Proto};
use loopback_sys::trybind::{BindErrorKind, BindOutcome};

use super::free::free_ports;
use super::holders::{holder, on_port, overlaps};
use crate::classify::unmap;
use crate::snapshot::Snapshot;

/// One address and what its real bind did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tried {
    /// The address.
    pub address: IpAddr,
    /// The outcome.
    pub outcome: BindOutcome,
}

/// The `bind` report for `tried` on `port`, explained from `snap`.
pub fn judge(
    snap: &Snapshot,
    proto: Proto,
    port: u16,
    options: BindOptions,
    tried: &[Tried],
) -> BindReport {
    let mut warnings = Vec::new();
    match &snap.sockets {
        crate::snapshot::Part::Failed(why) => warnings.push(format!(
            "the sockets could not be read ({why}): each outcome stands, but no holder can be named"
        )),
        crate::snapshot::Part::Captured(scan) => warnings.extend(scan.warnings.iter().cloned()),
        crate::snapshot::Part::NotCaptured => {}
    }
    if let Some(held) = snap.held.ok() {
        warnings.extend(held.unseen.iter().map(|u| format!("not seen: {u}")));
    }
    if let Some(o) = snap.owners.ok() {
        if let Some(why) = &o.scan.unavailable {
            warnings.push(format!("owners unknown: {why}"));
        } else if o.scan.unreadable > 0 {
            warnings.push(format!(
                "the descriptors of {} processes could not be read, so some holders have no owner; {}",
                o.scan.unreadable,
                crate::audit::owner_privilege_hint(snap.os)
            ));
        }
    }
    let results: Vec<BindResult> = tried
        .iter()
        .map(|t| judge_one(snap, proto, port, options, t))
        .collect();
    if results.iter().any(|r| r.ok) {
        if let Some(w) = ephemeral_warning(snap, port) {
            warnings.push(w);
        }
    }
    BindReport {
        version: BIND_VERSION,
        proto,
        options,
        results,
        warnings,
    }
}

/// A new IPv6 socket's `IPV6_V6ONLY` where nothing sets it.
fn default_v6only(snap: &Snapshot) -> bool {
    match snap.os {
        Os::Windows => true,
        _ => snap.kernel.ok().and_then(|k| k.bindv6only).unwrap_or(false),
    }
}

fn ephemeral_range(snap: &Snapshot) -> (u16, u16) {
    snap.kernel
        .ok()
        .and_then(|k| k.ephemeral_ports)
        .unwrap_or(crate::audit::DEFAULT_EPHEMERAL)
}

fn ephemeral_setting(os: Os) -> &'static str {
    match os {
        Os::Linux => "net.ipv4.ip_local_port_range",
        Os::Windows => "netsh interface ipv4 show dynamicport tcp",
        Os::Macos => "net.inet.ip.portrange.first and .last",
    }
}

fn ephemeral_warning(snap: &Snapshot, port: u16) -> Option<String> {
    let (a, b) = ephemeral_range(snap);
    (a..=b).contains(&port).then(|| {
        format!(
            "port {port} is inside the ephemeral range {a}-{b} ({}): it binds now, but an outgoing \
             connection may take it as its local port first, and the bind then fails with nothing \
             listening; a server's port belongs outside the range",
            ephemeral_setting(snap.os)
        )
    })
}

fn judge_one(
    snap: &Snapshot,
    proto: Proto,
    port: u16,
    options: BindOptions,
    t: &Tried,
) -> BindResult {
    let v6only = match &t.outcome {
        BindOutcome::Bound { v6only: Some(v) } => *v,
        _ => options.v6only.unwrap_or_else(|| default_v6only(snap)),
    };
    let overlapping: Vec<BindHolder> = on_port(snap, proto, port)
        .into_iter()
        .filter(|(s, _, _)| overlaps(t.address, v6only, s.address, s.v6only, snap.os))
        .map(|(s, state, remote)| holder(snap, &s, state, remote))
        .collect();
    let (errno, kind, message) = match &t.outcome {
        BindOutcome::Bound { .. } => {
            let notes = if overlapping.is_empty() {
                Vec::new()
            } else {
                vec![
                    "other sockets hold this port on an address that overlaps, and the options on \
                     both sides let them share it"
                        .to_owned(),
                ]
            };
            return BindResult {
                address: t.address,
                port,
                ok: true,
                errno: None,
                cause: None,
                holders: overlapping,
                fix: None,
                free_ports: Vec::new(),
                notes,
            };
        }
        BindOutcome::Failed {
            errno,
            kind,
            message,
        } => (errno.clone(), *kind, message.clone()),
    };
    let ctx = Ctx {
        snap,
        proto,
        port,
        options,
        address: t.address,
    };
    let mut e = match kind {
        BindErrorKind::InUse => ctx.in_use(overlapping),
        BindErrorKind::Denied => ctx.denied(overlapping),
        BindErrorKind::NotAvailable => ctx.not_available(false),
        BindErrorKind::NoFamily => ctx.not_available(true),
        BindErrorKind::Other => Explained::unknown(Vec::new()),
    };
    if e.cause == BindCause::Unknown {
        e.notes.insert(
            0,
            format!(
                "the bind failed with {errno} ({message}), and no socket or setting that explains \
                 it was found"
            ),
        );
        if let Some(held) = snap.held.ok() {
            e.notes.extend(held.unseen.iter().cloned());
        }
    }
    let free = match e.cause {
        BindCause::AddressNotLocal | BindCause::Ipv6Disabled => Vec::new(),
        _ => free_ports(snap, proto, port),
    };
    BindResult {
        address: t.address,
        port,
        ok: false,
        errno: Some(errno),
        cause: Some(e.cause),
        holders: e.holders,
        fix: e.fix,
        free_ports: free,
        notes: e.notes,
    }
}

struct Explained {
    cause: BindCause,
    holders: Vec<BindHolder>,
    fix: Option<String>,
    notes: Vec<String>,
}

impl Explained {
    fn unknown(holders: Vec<BindHolder>) -> Explained {
        Explained {
            cause: BindCause::Unknown,
            holders,
            fix: None,
            notes: Vec::new(),
        }
    }
}

struct Ctx<'a> {
    snap: &'a Snapshot,
    proto: Proto,
    port: u16,
    options: BindOptions,
    address: IpAddr,
}

/// `NAME (pid N, user U)` for each owner, or what holds a socket no process holds.
pub fn who(h: &BindHolder) -> String {
    if h.owners.is_empty() {
        return match h.state {
            HolderState::TimeWait => "the kernel (a closed connection in TIME_WAIT)".to_owned(),
            _ => "a process that could not be named".to_owned(),
        };
    }
    let names: Vec<String> = h
        .owners
        .iter()
        .map(|o| match &o.user {
            Some(u) => format!("{} (pid {}, user {u})", o.name, o.pid),
            None => format!("{} (pid {})", o.name, o.pid),
        })
        .collect();
    names.join(", ")
}

fn show(ip: IpAddr, port: u16) -> String {
    std::net::SocketAddr::new(ip, port).to_string()
}

/// How to stop what holds the port: its unit, its container, or its processes.
fn stop(h: &BindHolder) -> String {
    if let Some(c) = &h.container {
        let label = c.label();
        return match c.runtime {
            loopback_model::Runtime::Docker => format!("stop its container (docker stop {label})"),
            loopback_model::Runtime::Podman => format!("stop its container (podman stop {label})"),
            r => format!("stop its {r} container {label}"),
        };
    }
    // A service is stopped through its manager (or it comes back); a scope (a login session,
    // a terminal's) is not something to stop for a port.
    if let Some(o) = h
        .owners
        .iter()
        .find(|o| o.unit.as_deref().is_some_and(|u| u.ends_with(".service")))
    {
        let unit = o.unit.as_deref().unwrap_or_default();
        let user = if o.user_unit { " --user" } else { "" };
        return format!("stop it (systemctl{user} stop {unit})");
    }
    let pids: Vec<String> = h.owners.iter().map(|o| o.pid.to_string()).collect();
    match pids.len() {
        0 => "stop what holds it".to_owned(),
        _ => format!("stop it (kill {})", pids.join(" ")),
    }
}

impl Ctx<'_> {
    fn v4(&self) -> bool {
        unmap(self.address).is_ipv4()
    }

    fn in_use(&self, overlapping: Vec<BindHolder>) -> Explained {
        let (listeners, rest): (Vec<_>, Vec<_>) = overlapping
            .into_iter()
            .partition(|h| h.state == HolderState::Listen);
        if !listeners.is_empty() {
            return self.by_listener(listeners);
        }
        let (bound, waiting): (Vec<_>, Vec<_>) = rest
            .into_iter()
            .partition(|h| h.state != HolderState::TimeWait);
        if !bound.is_empty() {
            return self.by_bound(bound);
        }
        if !waiting.is_empty() {
            return self.by_time_wait(waiting);
        }
        Explained::unknown(Vec::new())
    }

    fn by_listener(&self, mut listeners: Vec<BindHolder>) -> Explained {
        let rank = |h: &BindHolder| {
            let (a, r) = (unmap(h.address), unmap(self.address));
            if a == r {
                0
            } else if a.is_unspecified() && a.is_ipv4() == r.is_ipv4() {
                1
            } else if a.is_unspecified() {
                2
            } else {
                3
            }
        };
        listeners.sort_by_key(rank);
        let first = listeners[0].clone();
        let port = self.port;
        let here = show(self.address, port);
        let there = show(first.address, port);
        if let Some(p) = listeners.iter().find_map(|h| h.publishes.clone()) {
            return Explained {
                cause: BindCause::Publication,
                fix: Some(format!(
                    "a container runtime publishes {there} ({p}; `docker ps --filter publish={port}` \
                     names the container): stop that container or publish it on another port, or \
                     use another port here"
                )),
                holders: listeners,
                notes: Vec::new(),
            };
        }
        let euid = self.snap.effective_uid;
        if self.options.reuseport
            && self.snap.os != Os::Windows
            && listeners.iter().all(|h| h.uid.is_some() && h.uid != euid)
        {
            let user = first
                .owners
                .first()
                .and_then(|o| o.user.clone())
                .or_else(|| first.uid.map(|u| u.to_string()))
                .unwrap_or_default();
            return Explained {
                cause: BindCause::ReuseportOtherUser,
                fix: Some(format!(
                    "{there} is held by a socket of user {user} ({}); the kernel admits a socket to a \
                     SO_REUSEPORT group only from the group's own user: run this server as {user}, \
                     or {}, or use another port",
                    who(&first),
                    stop(&first)
                )),
                holders: listeners,
                notes: vec![
                    "whether the holder set SO_REUSEPORT is not in any socket table; without it \
                     the port is taken for every user"
                        .into(),
                ],
            };
        }
        let holder = who(&first);
        let (cause, fix) = match rank(&first) {
            0 => (
                BindCause::Listener,
                format!(
                    "{holder} already has {here}: {}, or use another port",
                    stop(&first)
                ),
            ),
            1 => (
                BindCause::WildcardListener,
                format!(
                    "{holder} has {there}, every address of the family, {} included: {}, or bind \
                     it to the address it needs instead of the wildcard, or use another port",
                    self.address,
                    stop(&first)
                ),
            ),
            2 if self.v4() => (
                BindCause::DualStackListener,
                format!(
                    "{holder} has {there} without IPV6_V6ONLY, so it takes IPv4 {} too: {}, or \
                     have it set IPV6_V6ONLY, or use another port",
                    self.address,
                    stop(&first)
                ),
            ),
            _ => (
                BindCause::Listener,
                format!(
                    "{holder} has {there}, which {here} covers: {}, or bind this server to \
                     another address, or use another port",
                    stop(&first)
                ),
            ),
        };
        Explained {
            cause,
            fix: Some(fix),
            holders: listeners,
            notes: Vec::new(),
        }
    }

    fn by_bound(&self, bound: Vec<BindHolder>) -> Explained {
        let first = &bound[0];
        let (a, b) = ephemeral_range(self.snap);
        let what = match first.state {
            HolderState::Connected => format!(
                "a connection{} uses {} as its local port",
                first.remote.map(|r| format!(" to {r}")).unwrap_or_default(),
                show(first.address, self.port)
            ),
            _ => format!(
                "a socket is bound to {} and not listening (a server that bound and has not \
                 listened yet, or a client that bound its source port)",
                show(first.address, self.port)
            ),
        };
        let mut fix = format!(
            "{what}, held by {}: {}, or use another port",
            who(first),
            stop(first)
        );
        if (a..=b).contains(&self.port) {
            fix.push_str(&format!(
                "; the port is inside the ephemeral range {a}-{b}, where outgoing connections take \
                 ports: move the server out of it"
            ));
            if self.snap.os == Os::Linux {
                fix.push_str(&format!(
                    " or reserve the port (sysctl -w net.ipv4.ip_local_reserved_ports={})",
                    self.port
                ));
            }
        }
        let mut notes = Vec::new();
        if self.options.reuseaddr && self.proto == Proto::Tcp {
            notes.push(
                "this bind set SO_REUSEADDR, so the holder did not: two sockets that both set it \
                 may share a port neither listens on"
                    .into(),
            );
        }
        Explained {
            cause: BindCause::BoundNotListening,
            holders: bound,
            fix: Some(fix),
            notes,
        }
    }

    fn by_time_wait(&self, waiting: Vec<BindHolder>) -> Explained {
        let how_long = match self.snap.os {
            Os::Linux => "up to 60 s",
            _ => "until TIME_WAIT ends",
        };
        let fix = if self.options.reuseaddr {
            format!(
                "{} closed connection(s) on {} wait out TIME_WAIT, and the server that accepted them \
                 did not set SO_REUSEADDR, which blocks even a socket that sets it: wait ({how_long}), \
                 or make that server set SO_REUSEADDR, or use another port",
                waiting.len(),
                show(waiting[0].address, self.port)
            )
        } else {
            format!(
                "{} closed connection(s) on {} wait out TIME_WAIT ({how_long}): set SO_REUSEADDR on \
                 the server's socket before bind, as most servers do (`loopback bind --reuseaddr` \
                 shows whether that binds), or wait",
                waiting.len(),
                show(waiting[0].address, self.port)
            )
        };
        Explained {
            cause: BindCause::TimeWait,
            holders: waiting,
            fix: Some(fix),
            notes: Vec::new(),
        }
    }

    fn denied(&self, overlapping: Vec<BindHolder>) -> Explained {
        let kernel = self.snap.kernel.ok();
        if self.snap.os == Os::Windows {
            let excluded = kernel
                .and_then(|k| k.excluded_ports.as_ref())
                .and_then(|r| {
                    r.iter()
                        .find(|r| r.proto == self.proto && (r.start..=r.end).contains(&self.port))
                });
            if let Some(r) = excluded {
                return Explained {
                    cause: BindCause::ExcludedPort,
                    holders: Vec::new(),
                    fix: Some(format!(
                        "Windows keeps {} ports {}-{} from every server (`netsh interface ipv4 show \
                         excludedportrange protocol={}`; Hyper-V, WSL and Docker reserve such \
                         ranges): use a port outside it",
                        self.proto, r.start, r.end, self.proto
                    )),
                    notes: Vec::new(),
                };
            }
            // A holder with SO_EXCLUSIVEADDRUSE refuses with WSAEACCES.
            if !overlapping.is_empty() {
                return self.in_use(overlapping);
            }
        }
        if let Some(start) = kernel.and_then(|k| k.unprivileged_port_start) {
            if self.port < start {
                return Explained {
                    cause: BindCause::PrivilegedPort,
                    holders: Vec::new(),
                    fix: Some(format!(
                        "ports below {start} (net.ipv4.ip_unprivileged_port_start) need \
                         CAP_NET_BIND_SERVICE: use a port from {start} up, or give the program the \
                         capability (`setcap cap_net_bind_service=+ep PROGRAM`, or \
                         `AmbientCapabilities=CAP_NET_BIND_SERVICE` in its systemd unit)"
                    )),
                    notes: Vec::new(),
                };
            }
        }
        Explained::unknown(overlapping)
    }

    fn not_available(&self, no_family: bool) -> Explained {
        let links = self.snap.interface_list();
        let lo = crate::scope::loopback_name(links);
        if self.address.is_ipv6() && unmap(self.address).is_ipv6() {
            let kernel = self.snap.kernel.ok();
            let all = kernel.and_then(|k| k.ipv6_all_disabled) == Some(true);
            let on_lo = kernel.and_then(|k| k.ipv6_disabled.get(&lo).copied()) == Some(true);
            let fix = if no_family {
                Some(
                    "IPv6 is absent from this system (a Linux kernel booted with ipv6.disable=1 has \
                     no AF_INET6 sockets): bind 127.0.0.1 instead"
                        .to_owned(),
                )
            } else if self.address.is_loopback() && (on_lo || all) {
                let key = if on_lo { lo.as_str() } else { "all" };
                Some(format!(
                    "IPv6 is disabled on {lo} (net.ipv6.conf.{key}.disable_ipv6 = 1), so ::1 does \
                     not exist: `sysctl -w net.ipv6.conf.{key}.disable_ipv6=0` brings it back, or \
                     bind 127.0.0.1"
                ))
            } else if all {
                Some(
                    "IPv6 is disabled on every interface (net.ipv6.conf.all.disable_ipv6 = 1): \
                     `sysctl -w net.ipv6.conf.all.disable_ipv6=0` enables it, or bind an IPv4 \
                     address"
                        .to_owned(),
                )
            } else {
                None
            };
            if let Some(fix) = fix {
                return Explained {
                    cause: BindCause::Ipv6Disabled,
                    holders: Vec::new(),
                    fix: Some(fix),
                    notes: Vec::new(),
                };
            }
        }
        let assigned = links
            .iter()
            .flat_map(|i| i.addresses.iter())
            .any(|a| a.address == self.address);
        if !assigned && !self.address.is_unspecified() && !links.is_empty() {
            let a = self.address;
            let fix = match self.snap.os {
                Os::Macos if unmap(a).is_loopback() => format!(
                    "macOS gives lo0 only 127.0.0.1: `sudo ifconfig lo0 alias {a} up` adds {a}"
                ),
                Os::Linux => format!(
                    "{a} is not an address of this host (of this network namespace): bind one it \
                     has (`ip -brief address`), or add it (`ip address add {a}/{} dev {lo}`)",
                    if a.is_ipv4() { 32 } else { 128 }
                ),
                _ => format!("{a} is not an address of this host: bind one it has"),
            };
            return Explained {
                cause: BindCause::AddressNotLocal,
                holders: Vec::new(),
                fix: Some(fix),
                notes: Vec::new(),
            };
        }
        Explained::unknown(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{capture, Request};
    use crate::testing::FakeSystem;
    use loopback_sys::{HeldScan, HeldSocket, ProcessInfo};

    fn opts(reuseaddr: bool) -> BindOptions {
        BindOptions {
            reuseaddr,
            reuseport: false,
            v6only: None,
        }
    }

    fn failed(kind: BindErrorKind, errno: &str) -> BindOutcome {
        BindOutcome::Failed {
            errno: errno.into(),
            kind,
            message: "bind: fixture".into(),
        }
    }

    fn in_use() -> BindOutcome {
        failed(BindErrorKind::InUse, "EADDRINUSE")
    }

    fn run(
        sys: &FakeSystem,
        proto: Proto,
        port: u16,
        o: BindOptions,
        t: &[(&str, BindOutcome)],
    ) -> BindReport {
        let snap = capture(sys, &Request::of(super::super::PARTS));
        let tried: Vec<Tried> = t
            .iter()
            .map(|(a, o)| Tried {
                address: a.parse().unwrap(),
                outcome: o.clone(),
            })
            .collect();
        judge(&snap, proto, port, o, &tried)
    }

    fn owner(pid: u32, comm: &str, argv: &[&str]) -> ProcessInfo {
        ProcessInfo {
            pid,
            comm: comm.into(),
            euid: Some(1000),
            argv: argv.iter().map(|s| (*s).to_owned()).collect(),
            cgroup: Some("/user.slice/user-1000.slice/session-2.scope".into()),
            user: None,
        }
    }

    fn held(addr: &str, port: u16, state: HolderState, inode: u64) -> HeldSocket {
        HeldSocket {
            socket: loopback_model::BoundSocket {
                proto: Proto::Tcp,
                address: addr.parse().unwrap(),
                port,
                v6only: None,
                bound_ifindex: None,
                ifindex_known: true,
                uid: 1000,
                inode,
            },
            state,
            remote: (state != HolderState::Bound).then(|| "127.0.0.1:50000".parse().unwrap()),
        }
    }

    #[test]
    fn a_dual_stack_holder_blocks_both_ipv4_forms_and_is_named_with_its_owner() {
        let mut sys = FakeSystem::lan();
        sys.add_socket(Proto::Tcp, "::", 3000, Some(false), 7);
        sys.add_owner(7, owner(41, "node", &["node", "server.js"]));
        let r = run(
            &sys,
            Proto::Tcp,
            3000,
            opts(true),
            &[
                ("127.0.0.1", in_use()),
                ("::1", in_use()),
                ("0.0.0.0", in_use()),
            ],
        );
        let causes: Vec<_> = r
            .results
            .iter()
            .map(|x| x.cause.unwrap().as_str())
            .collect();
        assert_eq!(
            causes,
            [
                "dual-stack-listener",
                "wildcard-listener",
                "dual-stack-listener"
            ]
        );
        let h = &r.results[0].holders[0];
        assert_eq!((h.owners[0].pid, h.owners[0].name.as_str()), (41, "node"));
        assert!(r.results[0].fix.as_deref().unwrap().contains("kill 41"));
        assert_eq!(r.results[0].free_ports, vec![3001, 2999, 3002]);
        assert!(r.needs_attention());
    }

    #[test]
    fn a_v6only_holder_is_not_named_for_ipv4_and_a_success_shares() {
        let mut sys = FakeSystem::lan();
        sys.add_socket(Proto::Tcp, "::", 3000, Some(true), 7);
        let r = run(
            &sys,
            Proto::Tcp,
            3000,
            opts(true),
            &[("127.0.0.1", BindOutcome::Bound { v6only: None })],
        );
        assert!(r.results[0].ok && r.results[0].holders.is_empty());
        assert!(!r.needs_attention());
        // A failure no holder explains is unknown, said plainly.
        let r = run(
            &sys,
            Proto::Tcp,
            3000,
            opts(true),
            &[("127.0.0.1", in_use())],
        );
        assert_eq!(r.results[0].cause, Some(BindCause::Unknown));
        assert!(
            r.results[0].notes[0].contains("no socket or setting"),
            "{:?}",
            r.results[0].notes
        );
    }

    #[test]
    fn bound_then_time_wait_with_the_fix_for_the_options() {
        let mut sys = FakeSystem::lan();
        sys.held = HeldScan {
            sockets: vec![held("127.0.0.1", 4000, HolderState::TimeWait, 0)],
            unseen: vec![],
        };
        let r = run(
            &sys,
            Proto::Tcp,
            4000,
            opts(false),
            &[("127.0.0.1", in_use())],
        );
        assert_eq!(r.results[0].cause, Some(BindCause::TimeWait));
        assert!(r.results[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("set SO_REUSEADDR"));
        let r = run(
            &sys,
            Proto::Tcp,
            4000,
            opts(true),
            &[("127.0.0.1", in_use())],
        );
        assert!(r.results[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("did not set SO_REUSEADDR"));
        sys.held
            .sockets
            .push(held("0.0.0.0", 4000, HolderState::Bound, 9));
        sys.add_owner(9, owner(50, "client", &["client"]));
        let r = run(
            &sys,
            Proto::Tcp,
            4000,
            opts(true),
            &[("127.0.0.1", in_use())],
        );
        assert_eq!(r.results[0].cause, Some(BindCause::BoundNotListening));
        assert_eq!(r.results[0].holders[0].owners[0].pid, 50);
    }

    #[test]
    fn a_connection_on_an_ephemeral_port_says_so_and_a_success_there_is_warned() {
        let mut sys = FakeSystem::lan();
        sys.kernel.ephemeral_ports = Some((32768, 60999));
        sys.held
            .sockets
            .push(held("127.0.0.1", 40000, HolderState::Connected, 9));
        let r = run(
            &sys,
            Proto::Tcp,
            40000,
            opts(true),
            &[("127.0.0.1", in_use())],
        );
        let fix = r.results[0].fix.clone().unwrap();
        assert!(fix.contains("ephemeral range 32768-60999"), "{fix}");
        assert!(fix.contains("ip_local_reserved_ports=40000"), "{fix}");
        assert!(r.results[0]
            .free_ports
            .iter()
            .all(|p| *p < 32768 || *p > 60999));
        let r = run(
            &sys,
            Proto::Tcp,
            40001,
            opts(true),
            &[("127.0.0.1", BindOutcome::Bound { v6only: None })],
        );
        assert!(r
            .warnings
            .iter()
            .any(|w| w.contains("inside the ephemeral range 32768-60999")));
    }

    #[test]
    fn reuseport_against_another_users_group() {
        let mut sys = FakeSystem::lan();
        sys.euid = 0;
        sys.sockets.clear();
        sys.add_socket(Proto::Tcp, "127.0.0.1", 5000, None, 7);
        sys.sockets[0].uid = 65534;
        let o = BindOptions {
            reuseport: true,
            ..opts(true)
        };
        let r = run(&sys, Proto::Tcp, 5000, o, &[("127.0.0.1", in_use())]);
        assert_eq!(r.results[0].cause, Some(BindCause::ReuseportOtherUser));
        sys.sockets[0].uid = 0;
        let r = run(&sys, Proto::Tcp, 5000, o, &[("127.0.0.1", in_use())]);
        assert_eq!(r.results[0].cause, Some(BindCause::Listener));
    }

    #[test]
    fn settings_explain_the_other_errors() {
        let mut sys = FakeSystem::lan();
        sys.euid = 65534;
        sys.kernel.unprivileged_port_start = Some(1024);
        let r = run(
            &sys,
            Proto::Tcp,
            80,
            opts(true),
            &[("127.0.0.1", failed(BindErrorKind::Denied, "EACCES"))],
        );
        assert_eq!(r.results[0].cause, Some(BindCause::PrivilegedPort));
        assert!(r.results[0].free_ports.iter().all(|p| *p >= 1024));
        let r = run(
            &sys,
            Proto::Tcp,
            3000,
            opts(true),
            &[(
                "198.18.99.1",
                failed(BindErrorKind::NotAvailable, "EADDRNOTAVAIL"),
            )],
        );
        assert_eq!(r.results[0].cause, Some(BindCause::AddressNotLocal));
        assert!(r.results[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("ip address add 198.18.99.1/32 dev lo"));
        sys.kernel.ipv6_disabled.insert("lo".into(), true);
        let r = run(
            &sys,
            Proto::Tcp,
            3000,
            opts(true),
            &[("::1", failed(BindErrorKind::NotAvailable, "EADDRNOTAVAIL"))],
        );
        assert_eq!(r.results[0].cause, Some(BindCause::Ipv6Disabled));
        assert!(r.results[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("net.ipv6.conf.lo.disable_ipv6=0"));
        sys.os = Os::Macos;
        let r = run(
            &sys,
            Proto::Tcp,
            3000,
            opts(true),
            &[(
                "127.0.0.2",
                failed(BindErrorKind::NotAvailable, "EADDRNOTAVAIL"),
            )],
        );
        assert!(r.results[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("ifconfig lo0 alias 127.0.0.2 up"));
        sys.os = Os::Windows;
        sys.kernel.excluded_ports = Some(vec![loopback_sys::PortRange {
            proto: Proto::Tcp,
            start: 50000,
            end: 50059,
        }]);
        let r = run(
            &sys,
            Proto::Tcp,
            50010,
            opts(false),
            &[("127.0.0.1", failed(BindErrorKind::Denied, "WSAEACCES"))],
        );
        assert_eq!(r.results[0].cause, Some(BindCause::ExcludedPort));
        assert!(r.results[0]
            .free_ports
            .iter()
            .all(|p| !(50000..=50059).contains(p)));
    }

    #[test]
    fn a_docker_proxy_holder_is_a_publication() {
        let mut sys = FakeSystem::lan();
        sys.add_socket(Proto::Tcp, "0.0.0.0", 8080, None, 7);
        sys.add_owner(
            7,
            owner(
                60,
                "docker-proxy",
                &[
                    "/usr/bin/docker-proxy",
                    "-proto",
                    "tcp",
                    "-host-ip",
                    "0.0.0.0",
                    "-host-port",
                    "8080",
                    "-container-ip",
                    "172.17.0.2",
                    "-container-port",
                    "80",
                ],
            ),
        );
        let r = run(
            &sys,
            Proto::Tcp,
            8080,
            opts(true),
            &[("127.0.0.1", in_use())],
        );
        assert_eq!(r.results[0].cause, Some(BindCause::Publication));
        assert!(r.results[0]
            .fix
            .as_deref()
            .unwrap()
            .contains("172.17.0.2:80"));
    }
}
