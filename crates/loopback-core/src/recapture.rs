//! Capturing a host again and again (the exporter's scrapes, `audit --watch`), cheaply between
//! changes: every capture reads the socket tables, interfaces, kernel settings and ruleset
//! afresh, but walks `/proc` for owners only when a socket appears that the last walk did not
//! see, or when the owners known are older than a bound (a socket handed to another process
//! keeps its inode, so age is the only way to notice). Service files are reread with the
//! owners. The judgment is unchanged: it gets a [`HostSnapshot`] like any other.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::host::{capture_bare, walk_owners, wants_owners, HostSnapshot, Scope};
use crate::snapshot::{snapshot_inodes, split_owners, Owners, Part, Request, ServiceFiles};
use loopback_sys::SystemView;

/// Owners reused across captures.
#[derive(Debug)]
pub struct Recapture {
    /// The longest time owners are reused without a walk of `/proc`.
    pub max_age: Duration,
    /// Walks of `/proc` so far.
    pub owner_scans: u64,
    known: HashSet<u64>,
    owners: Option<Owners>,
    files: ServiceFiles,
    scanned_at: Option<Instant>,
}

impl Recapture {
    /// Nothing known yet: the first capture walks `/proc`.
    pub fn new(max_age: Duration) -> Recapture {
        Recapture {
            max_age,
            owner_scans: 0,
            known: HashSet::new(),
            owners: None,
            files: ServiceFiles::new(),
            scanned_at: None,
        }
    }

    /// Capture like [`crate::host::capture_host`] at `now`, reusing the owners (and service
    /// files) known when no new socket appeared and they are younger than `max_age`.
    pub fn capture(
        &mut self,
        sys: &dyn SystemView,
        scope: &Scope,
        req: &Request,
        now: Instant,
    ) -> Result<HostSnapshot, String> {
        let mut host = capture_bare(sys, scope, req)?;
        if !wants_owners(req) {
            return Ok(host);
        }
        let inodes: HashSet<u64> = host
            .namespaces
            .iter()
            .flat_map(|n| snapshot_inodes(&n.snapshot))
            .collect();
        let young = self
            .scanned_at
            .is_some_and(|t| now.saturating_duration_since(t) < self.max_age);
        match &self.owners {
            Some(known) if young && inodes.is_subset(&self.known) => {
                for ns in &mut host.namespaces {
                    let snap = &mut ns.snapshot;
                    snap.owners = match split_owners(known, snap) {
                        Some(o) => Part::Captured(o),
                        None => Part::Failed("the sockets could not be read".into()),
                    };
                    if req.parts.service_files && ns.audited {
                        let pids: HashSet<u32> = snap
                            .owners
                            .ok()
                            .map(|o| o.scan.processes.keys().copied().collect())
                            .unwrap_or_default();
                        snap.service_files = Part::Captured(
                            self.files
                                .iter()
                                .filter(|(pid, _)| pids.contains(pid))
                                .map(|(pid, f)| (*pid, f.clone()))
                                .collect(),
                        );
                    }
                }
            }
            _ => {
                walk_owners(&mut host, sys, req.parts.service_files);
                self.owner_scans += 1;
                self.scanned_at = Some(now);
                self.remember(&host);
            }
        }
        self.known = inodes;
        Ok(host)
    }

    /// Keep the owners (as attached: redacted) and service files of every namespace.
    fn remember(&mut self, host: &HostSnapshot) {
        let mut merged = Owners::default();
        self.files.clear();
        for ns in &host.namespaces {
            if let Some(o) = ns.snapshot.owners.ok() {
                merged
                    .scan
                    .holders
                    .extend(o.scan.holders.iter().map(|(k, v)| (*k, v.clone())));
                merged
                    .scan
                    .processes
                    .extend(o.scan.processes.iter().map(|(k, v)| (*k, v.clone())));
                merged.scan.unreadable = merged.scan.unreadable.max(o.scan.unreadable);
                if merged.scan.unavailable.is_none() {
                    merged.scan.unavailable.clone_from(&o.scan.unavailable);
                }
                merged.scan.stalled.extend(o.scan.stalled.iter().copied());
                merged
                    .users
                    .extend(o.users.iter().map(|(k, v)| (*k, v.clone())));
            }
            if let Some(f) = ns.snapshot.service_files.ok() {
                self.files.extend(f.iter().map(|(k, v)| (*k, v.clone())));
            }
        }
        merged.scan.stalled.sort_unstable();
        merged.scan.stalled.dedup();
        self.owners = Some(merged);
    }
}

#[cfg(test)]
mod tests {
    use loopback_model::Proto;

    use super::*;
    use crate::snapshot::Parts;
    use crate::testing::FakeSystem;

    fn process(pid: u32, comm: &str, argv: &[&str]) -> loopback_sys::ProcessInfo {
        loopback_sys::ProcessInfo {
            pid,
            comm: comm.into(),
            euid: Some(0),
            argv: argv.iter().map(|a| a.to_string()).collect(),
            cgroup: None,
            user: None,
        }
    }

    fn owner_names(host: &HostSnapshot) -> Vec<String> {
        let mut names: Vec<String> = host.namespaces[0]
            .snapshot
            .owners
            .ok()
            .map(|o| o.scan.processes.values().map(|p| p.comm.clone()).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    #[test]
    fn owners_are_walked_for_new_sockets_and_when_old_only() {
        let mut sys = FakeSystem::lan();
        sys.add_socket(Proto::Tcp, "0.0.0.0", 5432, None, 10);
        sys.add_owner(10, process(40, "postgres", &["postgres"]));
        let req = Request::of(Parts::LISTENERS);
        let mut re = Recapture::new(Duration::from_secs(60));
        let t0 = Instant::now();
        let first = re.capture(&sys, &Scope::Current, &req, t0).expect("first");
        assert_eq!(re.owner_scans, 1);
        assert_eq!(owner_names(&first), vec!["postgres"]);
        // Nothing new: the owners known are reused, and are the same.
        let again = re
            .capture(&sys, &Scope::Current, &req, t0 + Duration::from_secs(1))
            .expect("again");
        assert_eq!(re.owner_scans, 1);
        assert_eq!(
            again.namespaces[0].snapshot.owners,
            first.namespaces[0].snapshot.owners
        );
        // A new socket: a walk, and its owner appears.
        sys.add_socket(Proto::Tcp, "0.0.0.0", 6379, None, 11);
        sys.add_owner(11, process(41, "redis-server", &["redis-server"]));
        let more = re
            .capture(&sys, &Scope::Current, &req, t0 + Duration::from_secs(2))
            .expect("more");
        assert_eq!(re.owner_scans, 2);
        assert_eq!(owner_names(&more), vec!["postgres", "redis-server"]);
        // Nothing new again: no walk, until the owners known are older than max_age.
        let _ = re
            .capture(&sys, &Scope::Current, &req, t0 + Duration::from_secs(3))
            .expect("same");
        assert_eq!(re.owner_scans, 2);
        let _ = re
            .capture(&sys, &Scope::Current, &req, t0 + Duration::from_secs(63))
            .expect("old");
        assert_eq!(re.owner_scans, 3);
    }
}
