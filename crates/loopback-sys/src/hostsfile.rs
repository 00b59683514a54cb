//! Editing the hosts file without losing a byte: the one write `loopback` makes to a system
//! file.
//!
//! [`LockedHostsFile::open`] follows a symbolic link to the file it names (NixOS, some
//! containers), opens it without blocking (only a regular file, at most
//! [`MAX_EDIT_BYTES`]), takes an exclusive lock and reads it whole. [`LockedHostsFile::replace`]
//! writes a new file beside it (same mode and owner), syncs it, renames it over the old one and
//! syncs the directory, so that a reader, or a run killed at any point, sees the old file or the
//! new one. Where a rename cannot replace the file (a bind mount: `ip netns exec`, Docker's
//! `/etc/hosts`; a directory this user cannot write) the file is rewritten in place, which is
//! not atomic, and the caller is told so.
//!
//! The lock: on Unix an `flock` on the hosts file itself, taken again when the path no longer
//! names the file locked (another run renamed its new file into place meanwhile), so no lock
//! file is left in `/etc`; on Windows, where a locked file cannot be renamed over, a lock file
//! beside it (`hosts.loopback-lock`). Runs of `loopback names` are serialised; other editors
//! of the file are not (none takes a lock).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use loopback_model::names::WriteMethod;

/// The largest hosts file edited (a blocklist of a few hundred thousand lines fits).
pub const MAX_EDIT_BYTES: u64 = 64 << 20;

/// How long a run waits for another run's lock.
pub const LOCK_WAIT: Duration = Duration::from_secs(30);

/// Why the hosts file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostsFileError {
    /// No permission; who has it.
    #[error("{path}: permission denied ({what}): {who}")]
    Permission {
        /// The file.
        path: String,
        /// What was refused.
        what: String,
        /// The file's owner and mode, and who may write it.
        who: String,
    },
    /// Not a regular file, too large, or on a read-only file system.
    #[error("{path}: {reason}")]
    Refused {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Another run holds the lock.
    #[error("{path}: another `loopback names` run has held the lock for {secs} s; try again when it ends")]
    Locked {
        /// The file.
        path: String,
        /// How long this run waited.
        secs: u64,
    },
    /// Any other I/O error.
    #[error("{path}: {what}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// An open, locked hosts file and its bytes.
#[derive(Debug)]
pub struct LockedHostsFile {
    /// The file written: the path given with symbolic links followed.
    target: PathBuf,
    /// Held open: on Unix the lock lives as long as it.
    _held: Option<File>,
    bytes: Vec<u8>,
    meta: std::fs::Metadata,
    /// Windows: the lock file, held open and locked.
    #[cfg(windows)]
    _lock: File,
}

fn io(path: &Path, what: &str) -> impl FnOnce(std::io::Error) -> HostsFileError + 'static {
    let path = path.display().to_string();
    let what = what.to_owned();
    move |source| HostsFileError::Io { path, what, source }
}

/// Who may write the file, for a permission error.
fn who_may(meta: Option<&std::fs::Metadata>) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        match meta {
            Some(m) if m.uid() == 0 => format!(
                "it belongs to root (mode {:04o}): run as root, e.g. with sudo",
                m.mode() & 0o7777
            ),
            Some(m) => format!(
                "it belongs to uid {} (mode {:04o}): run as that user or as root",
                m.uid(),
                m.mode() & 0o7777
            ),
            None => "run as root, e.g. with sudo".to_owned(),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        "only an administrator may write it: run from an elevated prompt (Run as administrator)"
            .to_owned()
    }
}

fn denied(path: &Path, what: &str, meta: Option<&std::fs::Metadata>) -> HostsFileError {
    HostsFileError::Permission {
        path: path.display().to_string(),
        what: what.to_owned(),
        who: who_may(meta),
    }
}

/// Whether an error is a permission refusal.
fn is_denied(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::PermissionDenied
}

/// Whether an error means the directory cannot take a new file or a rename onto the target
/// (a bind mount: EBUSY or EXDEV; a directory this user cannot write).
fn rename_impossible(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        e.kind(),
        K::ResourceBusy | K::CrossesDevices | K::PermissionDenied
    ) || e.raw_os_error() == Some(libc::EBUSY)
        || e.raw_os_error() == Some(libc::EXDEV)
}

fn open_regular(path: &Path, write: bool) -> std::io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true).write(write);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Never wait on a FIFO or a device someone put in the file's place.
        opts.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    opts.open(path)
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino()
}

/// The prefix of this tool's temporary files beside `target`.
fn temp_prefix(target: &Path) -> String {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "hosts".into());
    format!(".{name}.loopback-")
}

impl LockedHostsFile {
    /// Open `path` (following symbolic links), lock it against other runs and read it.
    pub fn open(path: &Path) -> Result<Self, HostsFileError> {
        let shown = path.display().to_string();
        let target = std::fs::canonicalize(path).map_err(|e| {
            if is_denied(&e) {
                denied(path, "finding it", None)
            } else {
                io(path, "finding it")(e)
            }
        })?;
        #[cfg(windows)]
        let lock = {
            let mut p = target.clone().into_os_string();
            p.push(".loopback-lock");
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&p)
                .map_err(|e| {
                    if is_denied(&e) {
                        denied(path, "creating the lock file beside it", None)
                    } else {
                        io(path, "creating the lock file beside it")(e)
                    }
                })?;
            lock_within(&f, &shown)?;
            f
        };
        let (file, meta) = open_current(&target, path)?;
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        (&file)
            .take(MAX_EDIT_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io(path, "reading it"))?;
        if bytes.len() as u64 > MAX_EDIT_BYTES {
            return Err(HostsFileError::Refused {
                path: shown,
                reason: "it grew past the size this tool edits while being read".into(),
            });
        }
        let out = LockedHostsFile {
            target,
            _held: Some(file),
            bytes,
            meta,
            #[cfg(windows)]
            _lock: lock,
        };
        out.remove_stale_temporaries();
        Ok(out)
    }

    /// The file's bytes as read under the lock.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The file written (the path given, with symbolic links followed).
    pub fn target(&self) -> &Path {
        &self.target
    }

    fn dir(&self) -> &Path {
        match self.target.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        }
    }

    /// Temporary files a killed run left beside the file (only this tool's, found while the
    /// lock is held, so none is another run's).
    fn remove_stale_temporaries(&self) {
        let prefix = temp_prefix(&self.target);
        let Ok(dir) = std::fs::read_dir(self.dir()) else {
            return;
        };
        for e in dir.flatten() {
            if e.file_name().to_string_lossy().starts_with(&prefix)
                && e.file_type().is_ok_and(|t| t.is_file())
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    /// Replace the file's contents with `new`: by rename where it can, else in place.
    pub fn replace(&mut self, new: &[u8]) -> Result<WriteMethod, HostsFileError> {
        match self.replace_by_rename(new) {
            Ok(()) => Ok(WriteMethod::Rename),
            Err(e) if rename_impossible(&e) => {
                self.rewrite_in_place(new)?;
                Ok(WriteMethod::InPlace)
            }
            // tempfile wraps the OS error with its path: match on the kind, which it keeps.
            Err(e)
                if e.kind() == std::io::ErrorKind::ReadOnlyFilesystem
                    || e.raw_os_error() == Some(libc::EROFS) => Err(HostsFileError::Refused {
                path: self.target.display().to_string(),
                reason: "it is on a read-only file system (on NixOS, set networking.hosts in the system configuration instead)".into(),
            }),
            Err(e) => Err(io(&self.target, "writing its replacement")(e)),
        }
    }

    fn replace_by_rename(&mut self, new: &[u8]) -> std::io::Result<()> {
        let mut tmp = tempfile::Builder::new()
            .prefix(&temp_prefix(&self.target))
            .tempfile_in(self.dir())?;
        tmp.as_file_mut().write_all(new)?;
        tmp.as_file().set_permissions(self.meta.permissions())?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            let (uid, gid) = (self.meta.uid(), self.meta.gid());
            let now = tmp.as_file().metadata()?;
            if now.uid() != uid || now.gid() != gid {
                std::os::unix::fs::fchown(tmp.as_file(), Some(uid), Some(gid))?;
            }
        }
        tmp.as_file().sync_all()?;
        // Windows cannot rename over a file that is open without delete sharing; ours is
        // shared, but other programs' may not be: close ours first (the lock is elsewhere).
        #[cfg(windows)]
        drop(self._held.take());
        tmp.persist(&self.target).map_err(|e| e.error)?;
        #[cfg(unix)]
        if let Ok(d) = File::open(self.dir()) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    fn rewrite_in_place(&mut self, new: &[u8]) -> Result<(), HostsFileError> {
        let target = self.target.clone();
        let mut f = open_regular(&target, true).map_err(|e| {
            if is_denied(&e) {
                denied(&target, "writing it", Some(&self.meta))
            } else {
                io(&target, "opening it for writing")(e)
            }
        })?;
        // One write of the whole file from its start, then the length: a reader between the
        // two sees the new bytes followed by the old file's tail.
        f.rewind().map_err(io(&target, "rewriting it"))?;
        f.write_all(new).map_err(io(&target, "rewriting it"))?;
        f.set_len(new.len() as u64)
            .map_err(io(&target, "truncating it"))?;
        f.sync_all().map_err(io(&target, "syncing it"))?;
        Ok(())
    }
}

/// Open `target` (a regular file of at most [`MAX_EDIT_BYTES`]) and, on Unix, lock it; open
/// it again when another run renamed its new file into place while this one waited (the lock
/// is then on a file no one reads again). On Windows the lock is the lock file, held already,
/// so there is one pass.
#[cfg_attr(not(unix), allow(clippy::never_loop, unused_variables))]
fn open_current(target: &Path, path: &Path) -> Result<(File, std::fs::Metadata), HostsFileError> {
    let shown = path.display().to_string();
    let started = Instant::now();
    loop {
        let file = open_regular(target, false).map_err(|e| {
            if is_denied(&e) {
                denied(path, "reading it", None)
            } else {
                io(path, "opening it")(e)
            }
        })?;
        let meta = file.metadata().map_err(io(path, "reading its metadata"))?;
        if !meta.is_file() {
            return Err(HostsFileError::Refused {
                path: shown,
                reason: "not a regular file".into(),
            });
        }
        #[cfg(unix)]
        {
            lock_within(&file, &shown)?;
            let current = std::fs::metadata(target).is_ok_and(|now| same_file(&now, &meta));
            if !current {
                if started.elapsed() < LOCK_WAIT {
                    continue;
                }
                return Err(HostsFileError::Locked {
                    path: shown,
                    secs: LOCK_WAIT.as_secs(),
                });
            }
        }
        let meta = file.metadata().map_err(io(path, "reading its metadata"))?;
        if meta.len() > MAX_EDIT_BYTES {
            return Err(HostsFileError::Refused {
                path: shown,
                reason: format!(
                    "{} bytes, more than the {} this tool edits",
                    meta.len(),
                    MAX_EDIT_BYTES
                ),
            });
        }
        return Ok((file, meta));
    }
}

/// Take the exclusive lock on `f`, waiting at most [`LOCK_WAIT`].
fn lock_within(f: &File, shown: &str) -> Result<(), HostsFileError> {
    let started = Instant::now();
    loop {
        match f.try_lock() {
            Ok(()) => return Ok(()),
            Err(std::fs::TryLockError::WouldBlock) if started.elapsed() < LOCK_WAIT => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(HostsFileError::Locked {
                    path: shown.to_owned(),
                    secs: LOCK_WAIT.as_secs(),
                })
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(HostsFileError::Io {
                    path: shown.to_owned(),
                    what: "locking it".into(),
                    source,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_by_rename_keeping_the_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("hosts");
        std::fs::write(&p, b"127.0.0.1 localhost").expect("write");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).expect("chmod");
        }
        let mut f = LockedHostsFile::open(&p).expect("open");
        assert_eq!(f.bytes(), b"127.0.0.1 localhost");
        assert_eq!(f.replace(b"new").expect("replace"), WriteMethod::Rename);
        drop(f);
        assert_eq!(std::fs::read(&p).expect("read"), b"new");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).expect("meta").permissions().mode();
            assert_eq!(mode & 0o7777, 0o640);
        }
        let left: Vec<_> = std::fs::read_dir(dir.path())
            .expect("dir")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(left.len(), 1, "no temporary file is left: {left:?}");
    }

    #[cfg(unix)]
    #[test]
    fn follows_a_symlink_and_refuses_a_fifo() {
        let dir = tempfile::tempdir().expect("tempdir");
        let real = dir.path().join("real-hosts");
        std::fs::write(&real, b"a\n").expect("write");
        let link = dir.path().join("hosts");
        std::os::unix::fs::symlink(&real, &link).expect("symlink");
        let mut f = LockedHostsFile::open(&link).expect("open");
        f.replace(b"b\n").expect("replace");
        drop(f);
        assert!(std::fs::symlink_metadata(&link)
            .expect("meta")
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read(&real).expect("read"), b"b\n");
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        assert!(matches!(
            LockedHostsFile::open(&fifo),
            Err(HostsFileError::Refused { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn stale_temporaries_go_and_others_stay() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("hosts");
        std::fs::write(&p, b"x\n").expect("write");
        std::fs::write(dir.path().join(".hosts.loopback-abc123"), b"half").expect("write");
        std::fs::write(dir.path().join(".hosts.swp"), b"vim").expect("write");
        let _f = LockedHostsFile::open(&p).expect("open");
        assert!(!dir.path().join(".hosts.loopback-abc123").exists());
        assert!(dir.path().join(".hosts.swp").exists());
    }
}
