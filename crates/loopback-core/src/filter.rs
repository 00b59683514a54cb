//! Filters on an audit: only the listeners a user asks about (`--port`, `--pid`, `--process`,
//! `--user`, `--proto`, `--exposed`), applied to the judged report, so a listener's verdict is
//! the same with or without a filter and the exit status speaks only of what is shown.

use loopback_model::{AuditReport, Listener, Proto, Publication};

/// What to keep. Each list is alternatives (any of them); the criteria together must all
/// hold. An empty filter keeps everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Local ports.
    pub ports: Vec<u16>,
    /// Owning process ids.
    pub pids: Vec<u32>,
    /// Owning process names (the kernel's `comm`, as `ss -p` shows it), exactly.
    pub processes: Vec<String>,
    /// Owning users: a name (an owner's user), or a uid (the socket's or an owner's).
    pub users: Vec<String>,
    /// TCP or UDP.
    pub protos: Vec<Proto>,
    /// Only listeners other hosts can reach (verdict `exposed` or `allowed`).
    pub exposed: bool,
}

impl Filter {
    /// Whether the filter keeps everything.
    pub fn is_empty(&self) -> bool {
        *self == Filter::default()
    }

    /// Whether `l` passes.
    pub fn keeps(&self, l: &Listener) -> bool {
        let any = |list_empty: bool, hit: bool| list_empty || hit;
        any(self.ports.is_empty(), self.ports.contains(&l.port))
            && any(self.protos.is_empty(), self.protos.contains(&l.proto))
            && any(
                self.pids.is_empty(),
                l.owners.iter().any(|o| self.pids.contains(&o.pid)),
            )
            && any(
                self.processes.is_empty(),
                l.owners
                    .iter()
                    .any(|o| self.processes.iter().any(|p| **p == *o.name)),
            )
            && any(self.users.is_empty(), self.user_matches(l))
            && (!self.exposed || l.exposed)
    }

    /// A uid matches the socket's uid or an owner's effective uid; a name matches an owner's
    /// user name.
    fn user_matches(&self, l: &Listener) -> bool {
        self.users.iter().any(|u| match u.parse::<u32>() {
            Ok(uid) => uid == l.uid || l.owners.iter().any(|o| o.uid == Some(uid)),
            Err(_) => l
                .owners
                .iter()
                .any(|o| o.user.as_deref() == Some(u.as_str())),
        })
    }

    /// Whether a published port passes: its protocol, and its published or target port. A
    /// publication has no owner but its forwarder, so `--pid` and `--process` match the
    /// forwarder (`docker-proxy`), and `--user` keeps none.
    pub fn keeps_publication(&self, p: &Publication) -> bool {
        (self.ports.is_empty()
            || self.ports.contains(&p.port)
            || self.ports.contains(&p.target_port))
            && (self.protos.is_empty() || self.protos.contains(&p.proto))
            && (self.pids.is_empty() || self.pids.contains(&p.forwarder_pid))
            && (self.processes.is_empty() || self.processes.contains(&p.forwarder))
            && self.users.is_empty()
    }

    /// Keep only what passes, in place.
    pub fn apply(&self, report: &mut AuditReport) {
        if self.is_empty() {
            return;
        }
        report.listeners.retain(|l| self.keeps(l));
        report.udp_clients.retain(|l| self.keeps(l));
        report.publications.retain(|p| self.keeps_publication(p));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use loopback_model::{BindScope, Owner, Verdict};

    use super::*;

    fn listener(
        port: u16,
        proto: Proto,
        pid: u32,
        name: &str,
        uid: u32,
        exposed: bool,
    ) -> Listener {
        Listener {
            proto,
            address: "0.0.0.0".parse().expect("addr"),
            port,
            v6only: None,
            interface: None,
            bind_scope: BindScope::Wildcard,
            exposed,
            reachable_via: Arc::from(Vec::new()),
            owners: Arc::from(vec![Owner {
                pid,
                name: name.into(),
                user: Some("postgres".into()),
                uid: Some(105),
                cmdline: name.into(),
                unit: None,
            }]),
            verdict: if exposed {
                Verdict::Exposed
            } else {
                Verdict::Ok
            },
            uid,
            inode: u64::from(port),
            netns: 1,
            allowed_by: None,
            notes: Vec::new(),
            service: None,
            fix: None,
            exposure: None,
            receives: Vec::new(),
            names: Vec::new(),
            http: None,
        }
    }

    #[test]
    fn empty_filter_keeps_everything() {
        let f = Filter::default();
        assert!(f.is_empty());
        assert!(f.keeps(&listener(1, Proto::Udp, 1, "x", 0, false)));
    }

    #[test]
    fn criteria_are_all_required_and_lists_are_alternatives() {
        let pg = listener(5432, Proto::Tcp, 40, "postgres", 105, true);
        let dns = listener(53, Proto::Udp, 41, "dnsmasq", 0, false);
        let f = Filter {
            ports: vec![53, 5432],
            ..Filter::default()
        };
        assert!(f.keeps(&pg) && f.keeps(&dns));
        let f = Filter {
            ports: vec![53, 5432],
            protos: vec![Proto::Tcp],
            ..Filter::default()
        };
        assert!(f.keeps(&pg) && !f.keeps(&dns));
        let f = Filter {
            exposed: true,
            ..Filter::default()
        };
        assert!(f.keeps(&pg) && !f.keeps(&dns));
        let by_pid = Filter {
            pids: vec![41],
            ..Filter::default()
        };
        assert!(!by_pid.keeps(&pg) && by_pid.keeps(&dns));
        let by_name = Filter {
            processes: vec!["postgres".into()],
            ..Filter::default()
        };
        assert!(by_name.keeps(&pg) && !by_name.keeps(&dns));
        // A prefix is not a name.
        let prefix = Filter {
            processes: vec!["post".into()],
            ..Filter::default()
        };
        assert!(!prefix.keeps(&pg));
    }

    #[test]
    fn user_is_a_name_or_a_uid() {
        // Created by root (the socket's uid), then held by a process running as postgres.
        let mut pg = listener(5432, Proto::Tcp, 40, "postgres", 0, true);
        pg.owners = Arc::from(vec![Owner {
            uid: Some(105),
            ..pg.owners[0].clone()
        }]);
        for (u, kept) in [
            ("postgres", true),
            ("105", true),
            ("0", true),
            ("root", false),
            ("7", false),
        ] {
            let f = Filter {
                users: vec![u.into()],
                ..Filter::default()
            };
            assert_eq!(f.keeps(&pg), kept, "{u}");
        }
    }
}
