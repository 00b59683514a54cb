//! Reading files that someone else may control, without trusting them.
//!
//! `loopback` runs as root and reads files other users can steer: a configuration file named on
//! a process's command line, a hosts file, a policy file. A hostile file can be a FIFO (an
//! ordinary `open` blocks forever), a device such as `/dev/zero` (an ordinary read never ends),
//! or a 2 GiB sparse file. Every such read goes through [`read_bounded`] (host files) or, for a
//! file as a process sees it, the Linux backend's confined reader, which share the rules here:
//! open without blocking, accept only regular files, and read at most [`MAX_FILE_BYTES`].
//!
//! [`with_deadline`] bounds calls that can block inside the kernel or the C library (a read on a
//! hung network file system, `getaddrinfo` on a FIFO as `/etc/hosts`).

use std::io::Read;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use crate::SysError;

/// The largest file read: configuration, hosts and policy files are far smaller. A larger file
/// is skipped with a warning that says so.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

/// How long one file read or one C library look-up may take before it is abandoned.
pub const READ_DEADLINE: Duration = Duration::from_secs(3);

/// What kind of non-regular file a path names, for the refusal message.
pub(crate) fn kind_name(ft: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a FIFO";
        }
        if ft.is_char_device() {
            return "a character device";
        }
        if ft.is_block_device() {
            return "a block device";
        }
        if ft.is_socket() {
            return "a socket";
        }
    }
    if ft.is_dir() {
        "a directory"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

pub(crate) fn refused(path: &str, reason: impl Into<String>) -> SysError {
    SysError::Refused {
        path: path.into(),
        reason: reason.into(),
    }
}

fn too_large(path: &str, size: u64, limit: u64) -> SysError {
    refused(
        path,
        format!(
            "it is {size} bytes, larger than the {} MiB limit; skipped",
            limit >> 20
        ),
    )
}

/// Read at most `MAX_FILE_BYTES` from an open regular file; a file that grew past the limit
/// while being read is refused too.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))] // the confined reader is Linux-only
pub(crate) fn read_capped(file: impl Read, path: &str) -> Result<Vec<u8>, SysError> {
    read_capped_at(file, path, MAX_FILE_BYTES)
}

fn read_capped_at(mut file: impl Read, path: &str, limit: u64) -> Result<Vec<u8>, SysError> {
    let mut buf = Vec::new();
    (&mut file)
        .take(limit + 1)
        .read_to_end(&mut buf)
        .map_err(|source| SysError::Read {
            path: path.into(),
            source,
        })?;
    if buf.len() as u64 > limit {
        return Err(too_large(path, buf.len() as u64, limit));
    }
    Ok(buf)
}

/// Read a host file (the hosts file, `nsswitch.conf`, `gai.conf`, a policy file): opened
/// without blocking (`O_NONBLOCK`, `O_NOCTTY`), only a regular file, at most
/// [`MAX_FILE_BYTES`], within [`READ_DEADLINE`].
pub fn read_bounded(path: &Path) -> Result<Vec<u8>, SysError> {
    read_bounded_up_to(path, MAX_FILE_BYTES)
}

/// [`read_bounded`] with another size limit (a saved snapshot of a large host is larger than
/// any configuration file).
pub fn read_bounded_up_to(path: &Path, limit: u64) -> Result<Vec<u8>, SysError> {
    let shown = path.display().to_string();
    let owned = path.to_owned();
    let name = shown.clone();
    with_deadline(READ_DEADLINE, move || {
        read_bounded_now(&owned, &name, limit)
    })
    .unwrap_or_else(|| Err(refused(&shown, "no answer within the read deadline")))
}

fn read_bounded_now(path: &Path, shown: &str, limit: u64) -> Result<Vec<u8>, SysError> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // A FIFO opened for reading with O_NONBLOCK returns at once instead of waiting for a
        // writer; O_NOCTTY keeps a terminal device from becoming our controlling terminal.
        opts.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let file = opts.open(path).map_err(|source| SysError::Read {
        path: path.into(),
        source,
    })?;
    let meta = file.metadata().map_err(|source| SysError::Read {
        path: path.into(),
        source,
    })?;
    check_regular_at(&meta, shown, limit)?;
    read_capped_at(file, shown, limit)
}

/// Refuse anything but a regular file of at most [`MAX_FILE_BYTES`], before any byte is read.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))] // the confined reader is Linux-only
pub(crate) fn check_regular(meta: &std::fs::Metadata, shown: &str) -> Result<(), SysError> {
    check_regular_at(meta, shown, MAX_FILE_BYTES)
}

fn check_regular_at(meta: &std::fs::Metadata, shown: &str, limit: u64) -> Result<(), SysError> {
    if !meta.is_file() {
        return Err(refused(
            shown,
            format!("it is {}, not a regular file", kind_name(meta.file_type())),
        ));
    }
    if meta.len() > limit {
        return Err(too_large(shown, meta.len(), limit));
    }
    Ok(())
}

/// Run `f` on its own thread and wait at most `deadline` for it. `None` when it did not finish
/// in time: the thread is left to finish (or block) on its own, and the caller goes on. Used
/// only where the work can block inside the kernel or the C library on something another user
/// controls, and the thread holds nothing the rest of the run needs.
pub fn with_deadline<T: Send + 'static>(
    deadline: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("loopback-bounded".into())
        .spawn(move || {
            let _ = tx.send(f());
        });
    if spawned.is_err() {
        return None;
    }
    rx.recv_timeout(deadline).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_file_is_read() {
        let dir = std::env::temp_dir().join(format!("lb-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("hosts");
        std::fs::write(&p, b"127.0.0.1 localhost\n").expect("write");
        assert_eq!(
            read_bounded(&p).expect("read"),
            b"127.0.0.1 localhost\n".to_vec()
        );
        // A 2 GiB sparse file costs nothing to make and is refused by its size.
        let big = dir.join("big");
        let f = std::fs::File::create(&big).expect("create");
        f.set_len(2 << 30).expect("sparse");
        let err = read_bounded(&big).expect_err("too large").to_string();
        assert!(err.contains("larger than the 1 MiB limit"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[cfg(unix)]
    #[test]
    fn devices_and_directories_are_refused() {
        let err = read_bounded(Path::new("/dev/zero"))
            .expect_err("device")
            .to_string();
        assert!(err.contains("a character device"), "{err}");
        let err = read_bounded(Path::new("/")).expect_err("dir").to_string();
        assert!(err.contains("a directory"), "{err}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn fifo_is_refused_without_blocking() {
        let dir = std::env::temp_dir().join(format!("lb-fifo-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join("fifo");
        rustix::fs::mkfifoat(rustix::fs::CWD, &p, rustix::fs::Mode::from_raw_mode(0o600))
            .expect("mkfifo");
        // No writer ever opens it: a blocking open would hang this test.
        let err = read_bounded(&p).expect_err("fifo").to_string();
        assert!(err.contains("a FIFO"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn deadline_abandons_a_blocked_call() {
        let (_keep, rx) = mpsc::channel::<()>();
        let got = with_deadline(Duration::from_millis(50), move || rx.recv().is_ok());
        assert_eq!(got, None);
        assert_eq!(with_deadline(Duration::from_secs(5), || 7), Some(7));
    }
}
