//! `names`: per-service loopback addresses and names in a block of the hosts file the tool
//! manages, and what every client makes of them.
//!
//! - [`block`]: the managed block, found and edited on bytes;
//! - [`check`]: which names and addresses are acceptable, and the lowest free address;
//! - [`mod@verify`]: what glibc, curl, Python, Go, Node.js and the browsers would each get.
//!
//! The edits ([`add`], [`remove`]) capture what they judge with (the sockets, the
//! interfaces), take the hosts file under its lock ([`LockedHostsFile`]), decide with pure
//! functions ([`plan_add`], [`plan_remove`]) and write only when the file changes.

use std::net::IpAddr;
use std::path::Path;

use loopback_model::names::{NameEntry, NamesReport, NAMES_VERSION};
use loopback_model::{Listener, Os};
use loopback_sys::hostsfile::{HostsFileError, LockedHostsFile};
use loopback_sys::SystemView;

use crate::snapshot::{Parts, Request, Snapshot};
use crate::timings::Timings;

pub mod block;
pub mod check;
pub mod verify;

pub use block::{BlockError, HostsLayout};
pub use check::{check_address, check_name};
pub use verify::{judge_verify, verify};

/// Why a `names` command changed nothing.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NamesError {
    /// Not a host name.
    #[error("{name:?} is not a valid host name: {why}")]
    BadName {
        /// The name given.
        name: String,
        /// Why.
        why: String,
    },
    /// `localhost` itself.
    #[error("localhost is the system's own name for loopback and is not managed here")]
    Localhost,
    /// A line outside the block maps the name.
    #[error("{name} is already mapped by line {line} of {path} ({text}), outside the managed block: remove that line, or pick another name")]
    MappedOutside {
        /// The name.
        name: String,
        /// The hosts file.
        path: String,
        /// The line number.
        line: usize,
        /// What the line says.
        text: String,
    },
    /// The address is not a usable 127/8 address.
    #[error("--address {address}: {why}")]
    BadAddress {
        /// The address given.
        address: IpAddr,
        /// Why.
        why: String,
    },
    /// The address is taken.
    #[error("--address {address} is in use: {by}")]
    AddressInUse {
        /// The address.
        address: IpAddr,
        /// By what.
        by: String,
    },
    /// Every address of 127.0.0.2-127.0.0.254 is taken.
    #[error("no free address in 127.0.0.2-127.0.0.254 (every one is in {path} or bound by a listener): name one with --address 127.X.Y.Z")]
    NoFreeAddress {
        /// The hosts file.
        path: String,
    },
    /// The name is managed already, on another address.
    #[error("{name} is already managed, on {address}: `loopback names remove {name}` first")]
    AlreadyManaged {
        /// The name.
        name: String,
        /// Its address.
        address: IpAddr,
    },
    /// The block does not hold the name.
    #[error("{name} is not in the managed block of {path}{hint}")]
    NotManaged {
        /// The name.
        name: String,
        /// The hosts file.
        path: String,
        /// Where it is mapped instead, if anywhere.
        hint: String,
    },
    /// The block is damaged.
    #[error("{path}: {source}")]
    Block {
        /// The hosts file.
        path: String,
        /// What is wrong.
        #[source]
        source: BlockError,
    },
    /// A file `verify` reads could not be read.
    #[error("{path}: {why}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        why: String,
    },
    /// The file could not be read or written.
    #[error(transparent)]
    File(#[from] HostsFileError),
}

/// What an edit decided: the entry it is about, the new file (None: unchanged), what is still
/// needed and what to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edit {
    /// The name added or removed.
    pub entry: NameEntry,
    /// The file's new bytes, when it changes.
    pub bytes: Option<Vec<u8>>,
    /// Commands still needed (macOS: the `lo0` alias).
    pub plan: Vec<String>,
    /// Notes for the report.
    pub notes: Vec<String>,
}

fn layout<'a>(bytes: &'a [u8], path: &str) -> Result<HostsLayout<'a>, NamesError> {
    HostsLayout::parse(bytes).map_err(|source| NamesError::Block {
        path: path.to_owned(),
        source,
    })
}

fn line_text(e: &loopback_sys::parse::hosts::HostsEntry) -> String {
    format!("{} {}", e.address, e.names.join(" "))
}

/// Notes about a name and the block, for every command that touches them.
fn notes_for(l: &HostsLayout<'_>, name: Option<&str>) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(n) = name.filter(|n| crate::probe::must_be_loopback(n)) {
        notes.push(format!(
            "{n} ends in .localhost: curl and browsers answer such names with 127.0.0.1 and ::1 themselves and never read the hosts file (`loopback names verify {n}`)"
        ));
    }
    for line in l.stray_lines() {
        notes.push(format!(
            "line {line}, inside the managed block, is not a mapping; it is kept as it is"
        ));
    }
    notes
}

/// Whether `address` is assigned to a loopback interface: on macOS only exactly (an `lo0`
/// alias), elsewhere any loopback interface prefix that covers it (127.0.0.1/8 on Linux and
/// Windows). `None` when the interfaces were not read.
pub fn assigned(snap: &Snapshot, address: IpAddr) -> Option<bool> {
    let ifaces = snap.interfaces.ok()?;
    Some(ifaces.iter().filter(|i| i.loopback).any(|i| {
        i.addresses.iter().any(|a| {
            if snap.os == Os::Macos {
                a.address == address
            } else {
                ipnet::IpNet::new(a.address, a.prefix_len).is_ok_and(|n| n.contains(&address))
            }
        })
    }))
}

/// The `ifconfig` commands macOS needs for `address` (nothing elsewhere, or when assigned).
fn alias_plan(snap: &Snapshot, address: IpAddr, adding: bool) -> Vec<String> {
    if snap.os != Os::Macos {
        return Vec::new();
    }
    match (adding, assigned(snap, address)) {
        (true, Some(true)) | (false, Some(false)) => Vec::new(),
        (true, _) => vec![format!("ifconfig lo0 alias {address} up")],
        (false, _) => vec![format!("ifconfig lo0 -alias {address}")],
    }
}

/// Decide `names add` on the file's bytes: the name checked, the address picked or checked
/// against every hosts-file line and every listener in `snap`.
pub fn plan_add(
    bytes: &[u8],
    path: &str,
    name: &str,
    address: Option<IpAddr>,
    snap: &Snapshot,
) -> Result<Edit, NamesError> {
    let name = check_name(name)?;
    let l = layout(bytes, path)?;
    if let Some(e) = l.outside(&name).first() {
        return Err(NamesError::MappedOutside {
            name,
            path: path.to_owned(),
            line: e.line,
            text: line_text(e),
        });
    }
    let entries = l.all_entries();
    let bound = check::bound_addresses(snap);
    if let Some(have) = l
        .entries()
        .into_iter()
        .find(|e| e.names.iter().any(|n| n.eq_ignore_ascii_case(&name)))
    {
        if address.is_some_and(|a| a != have.address) {
            return Err(NamesError::AlreadyManaged {
                name,
                address: have.address,
            });
        }
        let mut notes = notes_for(&l, Some(&name));
        notes.insert(0, format!("{name} is already managed on {}", have.address));
        return Ok(Edit {
            plan: alias_plan(snap, have.address, true),
            entry: NameEntry {
                name,
                address: have.address,
            },
            bytes: None,
            notes,
        });
    }
    let address = match address {
        Some(a) => {
            check_address(a)?;
            if let Some(by) = check::in_use(a, entries, &bound, path) {
                return Err(NamesError::AddressInUse { address: a, by });
            }
            a
        }
        None => check::lowest_free(entries, &bound).ok_or_else(|| NamesError::NoFreeAddress {
            path: path.to_owned(),
        })?,
    };
    Ok(Edit {
        bytes: Some(l.with_added(address, &name)),
        plan: alias_plan(snap, address, true),
        notes: notes_for(&l, Some(&name)),
        entry: NameEntry { name, address },
    })
}

/// Decide `names remove` on the file's bytes.
pub fn plan_remove(
    bytes: &[u8],
    path: &str,
    name: &str,
    snap: &Snapshot,
) -> Result<Edit, NamesError> {
    let name = name.trim().to_ascii_lowercase();
    let l = layout(bytes, path)?;
    let entries = l.entries();
    let found = entries
        .iter()
        .find(|e| e.names.iter().any(|n| n.eq_ignore_ascii_case(&name)));
    let (Some(e), Some(new)) = (found, l.with_removed(&name)) else {
        let hint = match l.outside(&name).first() {
            Some(o) => format!(
                " (line {} maps it, outside the block: edit that line by hand)",
                o.line
            ),
            None => String::new(),
        };
        return Err(NamesError::NotManaged {
            name,
            path: path.to_owned(),
            hint,
        });
    };
    // The alias goes only when no other name of the block keeps the address.
    let shared = entries
        .iter()
        .any(|x| x.address == e.address && x.names.iter().any(|n| !n.eq_ignore_ascii_case(&name)));
    Ok(Edit {
        plan: if shared {
            Vec::new()
        } else {
            alias_plan(snap, e.address, false)
        },
        notes: notes_for(&l, None),
        entry: NameEntry {
            name,
            address: e.address,
        },
        bytes: Some(new),
    })
}

/// The managed names, in block order (one entry per name), with the notes about the block.
pub fn managed(bytes: &[u8], path: &str) -> Result<(Vec<NameEntry>, Vec<String>), NamesError> {
    let l = layout(bytes, path)?;
    Ok((managed_in(&l), notes_for(&l, None)))
}

/// [`managed`] of a file already laid out.
fn managed_in(l: &HostsLayout<'_>) -> Vec<NameEntry> {
    l.entries()
        .into_iter()
        .flat_map(|e| {
            e.names.into_iter().map(move |n| NameEntry {
                name: n.to_ascii_lowercase(),
                address: e.address,
            })
        })
        .collect()
}

/// What an edit needs from the system: the sockets bound to an address, the interfaces.
fn edit_request() -> Request {
    Request {
        parts: Parts {
            sockets: true,
            interfaces: true,
            ..Parts::default()
        },
        ..Request::default()
    }
}

fn report(path: &str, names: Vec<NameEntry>) -> NamesReport {
    NamesReport {
        version: NAMES_VERSION,
        hosts_file: path.to_owned(),
        names,
        changed: false,
        write: None,
        written_to: None,
        plan: Vec::new(),
        notes: Vec::new(),
    }
}

/// Apply `edit` to the locked file and report.
fn apply(file: &mut LockedHostsFile, path: &Path, edit: Edit) -> Result<NamesReport, NamesError> {
    let shown = path.display().to_string();
    let mut r = report(&shown, vec![edit.entry]);
    r.plan = edit.plan;
    r.notes = edit.notes;
    if let Some(bytes) = edit.bytes.filter(|b| b.as_slice() != file.bytes()) {
        r.write = Some(file.replace(&bytes)?);
        r.changed = true;
        if std::path::absolute(path).is_ok_and(|p| p != file.target()) {
            r.written_to = Some(file.target().display().to_string());
        }
    }
    Ok(r)
}

/// `names add NAME [--address A]` on the hosts file at `path`.
pub fn add(
    sys: &dyn SystemView,
    path: &Path,
    name: &str,
    address: Option<IpAddr>,
    timings: &Timings,
) -> Result<NamesReport, NamesError> {
    // Refuse a bad name or address before anything is read.
    check_name(name)?;
    if let Some(a) = address {
        check_address(a)?;
    }
    let snap = timings.time("capture", || crate::snapshot::capture(sys, &edit_request()));
    let mut file = LockedHostsFile::open(path)?;
    let shown = path.display().to_string();
    let edit = timings.time("judge", || {
        plan_add(file.bytes(), &shown, name, address, &snap)
    })?;
    timings.time("write", || apply(&mut file, path, edit))
}

/// `names remove NAME` on the hosts file at `path`.
pub fn remove(
    sys: &dyn SystemView,
    path: &Path,
    name: &str,
    timings: &Timings,
) -> Result<NamesReport, NamesError> {
    let snap = timings.time("capture", || {
        crate::snapshot::capture(
            sys,
            &Request {
                parts: Parts {
                    interfaces: true,
                    ..Parts::default()
                },
                ..Request::default()
            },
        )
    });
    let mut file = LockedHostsFile::open(path)?;
    let shown = path.display().to_string();
    let edit = timings.time("judge", || plan_remove(file.bytes(), &shown, name, &snap))?;
    timings.time("write", || apply(&mut file, path, edit))
}

/// `names list` of the hosts file at `path`.
pub fn list(path: &Path) -> Result<NamesReport, NamesError> {
    let file = LockedHostsFile::open(path)?;
    let shown = path.display().to_string();
    let (names, notes) = managed(file.bytes(), &shown)?;
    let mut r = report(&shown, names);
    r.notes = notes;
    Ok(r)
}

/// Give each listener bound to a managed address its names (`audit`).
pub fn annotate<'a>(listeners: impl IntoIterator<Item = &'a mut Listener>, managed: &[NameEntry]) {
    for l in listeners {
        let names: Vec<String> = managed
            .iter()
            .filter(|m| m.address == l.address)
            .map(|m| m.name.clone())
            .collect();
        if !names.is_empty() {
            l.names = names;
        }
    }
}

#[cfg(test)]
mod tests;
