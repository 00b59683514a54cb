//! A file as a process sees it, read with that process's rights and nothing more.
//!
//! A process names its configuration file on its command line (`postgres -c config_file=…`),
//! and any local user can start a process that names anything. Reading that file as root would
//! let them make the audit block (a FIFO), run out of memory (`/dev/zero`), or print a line of a
//! file only root may read. So:
//!
//! - the path is resolved *inside* the process's root (`/proc/PID/root`): `openat2` with
//!   `RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS`, so `..` and absolute symbolic links stay in a
//!   container or chroot, and `/proc/self/root`-style magic links are refused; on kernels
//!   without `openat2` (before 5.6) a component-by-component walk does the same ([`walk_in_root`]);
//! - the resolution and the read run on a short-lived thread that has taken the process's file
//!   system identity (its fsuid, fsgid and supplementary groups, from `/proc/PID/status`).
//!   Credentials are per thread on Linux and the kernel drops the effective capabilities when
//!   the effective uid leaves 0, so the kernel itself refuses what the process owner could not
//!   open; no permission check is re-implemented here;
//! - the path is first opened with `O_PATH` (which opens nothing: no FIFO wait, no device
//!   side effect such as arming `/dev/watchdog`), checked to be a regular file no larger than
//!   [`MAX_FILE_BYTES`](crate::files::MAX_FILE_BYTES), and only then re-opened for reading through `/proc/thread-self/fd`;
//! - the caller waits at most [`READ_DEADLINE`] (a hung network file system).
//!
//! No crate does this whole job: `cap-std` refuses absolute symbolic links rather than resolving
//! them inside the root (containers use them everywhere), and `pathrs` brings its own C-style
//! API and procfs handling for a few dozen lines of `rustix` calls.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::files::{check_regular, read_capped, refused};
use crate::files::{with_deadline, READ_DEADLINE};
use crate::parse::procfs::{parse_status_fs_ids, FsIds};
use crate::SysError;

/// The most symbolic links one resolution follows, as the kernel's own limit (`MAXSYMLINKS`).
const MAX_LINKS: usize = 40;

/// Read `path` as process `pid` sees it (inside its root, relative paths from its working
/// directory), with its file-system identity. `proc_root` is normally `/proc`.
pub fn read_as_process(proc_root: &Path, pid: u32, path: &str) -> Result<Vec<u8>, SysError> {
    let shown = format!("{path} (as pid {pid} sees it)");
    let dir = proc_root.join(pid.to_string());
    let status = std::fs::read(dir.join("status")).map_err(|source| SysError::Read {
        path: dir.join("status"),
        source,
    })?;
    let ids = parse_status_fs_ids(&status)
        .ok_or_else(|| refused(&shown, "its owner could not be read from /proc/PID/status"))?;
    // Relative paths start at the working directory; it then also bounds `..`.
    let (base, rel) = match path.strip_prefix('/') {
        Some(rest) => (dir.join("root"), rest.to_owned()),
        None => (dir.join("cwd"), path.to_owned()),
    };
    let base_fd = rustix::fs::open(
        &base,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| SysError::Read {
        path: base.clone(),
        source: e.into(),
    })?;
    let we_are_root = rustix::process::geteuid().is_root();
    let name = shown.clone();
    with_deadline(READ_DEADLINE, move || {
        if we_are_root && ids.fsuid != 0 {
            become_owner(&ids)
                .map_err(|e| refused(&name, format!("could not take the owner's identity: {e}")))?;
        }
        read_confined(&base_fd, &rel, &name, ids.fsuid)
    })
    .unwrap_or_else(|| Err(refused(&shown, "no answer within the read deadline")))
}

/// Take the file-system identity of a process on this thread only (rustix's `set_thread_*`
/// are the raw per-thread system calls, unlike the C library's process-wide wrappers). The
/// real and saved uids stay 0, so only this thread changes; it exits after one read.
fn become_owner(ids: &FsIds) -> rustix::io::Result<()> {
    use rustix::fs::{Gid, Uid};
    use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid};
    let groups: Vec<Gid> = ids.groups.iter().map(|g| Gid::from_raw(*g)).collect();
    set_thread_groups(&groups)?;
    set_thread_res_gid(None, Gid::from_raw(ids.fsgid), None)?;
    // Leaving euid 0 clears the effective capabilities (CAP_DAC_OVERRIDE and the rest).
    set_thread_res_uid(None, Uid::from_raw(ids.fsuid), None)
}

fn read_confined(base: &OwnedFd, rel: &str, shown: &str, uid: u32) -> Result<Vec<u8>, SysError> {
    let denied = |e: Errno| -> SysError {
        if e == Errno::ACCESS || e == Errno::PERM {
            refused(
                shown,
                format!("its owner (uid {uid}) may not read it, so neither does loopback"),
            )
        } else {
            SysError::Read {
                path: shown.into(),
                source: e.into(),
            }
        }
    };
    let handle = match rustix::fs::openat2(
        base,
        rel,
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
    ) {
        Err(Errno::NOSYS) => walk_in_root(base, rel).map_err(denied)?,
        other => other.map_err(denied)?,
    };
    // `fstat` works on an `O_PATH` descriptor; the same checks as for a host file.
    let handle = std::fs::File::from(handle);
    let meta = handle.metadata().map_err(|source| SysError::Read {
        path: shown.into(),
        source,
    })?;
    check_regular(&meta, shown)?;
    // Re-open the very inode checked above for reading; the permission check happens here,
    // with this thread's (the owner's) credentials.
    let file = rustix::fs::open(
        format!("/proc/thread-self/fd/{}", handle.as_raw_fd()),
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(denied)?;
    read_capped(std::fs::File::from(file), shown)
}

/// Resolve `rel` under `root` one component at a time, the way `RESOLVE_IN_ROOT` does: `..`
/// never climbs above `root`, an absolute symbolic link starts again at `root`, at most
/// `MAX_LINKS` links are followed. Every component is opened `O_PATH | O_NOFOLLOW`, so a
/// link (a `/proc` magic link included) is only ever read as text, never followed by the
/// kernel. Returns an `O_PATH` descriptor of the result.
pub fn walk_in_root(root: &OwnedFd, rel: &str) -> Result<OwnedFd, Errno> {
    fn parts(path: &str) -> impl Iterator<Item = String> + '_ {
        path.split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .map(str::to_owned)
    }
    let dup = |fd: &OwnedFd| rustix::io::fcntl_dupfd_cloexec(fd, 0);
    let mut stack: Vec<OwnedFd> = vec![dup(root)?];
    let mut queue: VecDeque<String> = parts(rel).collect();
    let mut links = 0;
    while let Some(comp) = queue.pop_front() {
        if comp == ".." {
            if stack.len() > 1 {
                stack.pop();
            }
            continue;
        }
        let cur = stack.last().ok_or(Errno::NOENT)?;
        let fd = rustix::fs::openat(
            cur,
            comp.as_str(),
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let st = rustix::fs::fstat(&fd)?;
        if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
            links += 1;
            if links > MAX_LINKS {
                return Err(Errno::LOOP);
            }
            let target = rustix::fs::readlinkat(&fd, "", Vec::new())?;
            let target = target.to_string_lossy().into_owned();
            if target.starts_with('/') {
                stack.truncate(1);
            }
            for (i, part) in parts(&target).enumerate() {
                queue.insert(i, part);
            }
        } else {
            stack.push(fd);
        }
    }
    stack.pop().ok_or(Errno::NOENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> std::path::PathBuf {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let root = std::env::temp_dir().join(format!(
            "lb-confined-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("etc/app")).expect("tree");
        std::fs::create_dir_all(root.join("root")).expect("tree");
        std::fs::write(root.join("etc/app/real.conf"), b"inside\n").expect("file");
        std::fs::write(root.join("root/secret.conf"), b"the container's own\n").expect("file");
        // Escapes that must stay inside.
        symlink("/root/secret.conf", root.join("etc/evil")).expect("link");
        symlink("../../../../../../etc/app/real.conf", root.join("etc/dots")).expect("link");
        symlink("app/real.conf", root.join("etc/rel")).expect("link");
        symlink("loop2", root.join("etc/loop1")).expect("link");
        symlink("loop1", root.join("etc/loop2")).expect("link");
        root
    }

    fn open_root(p: &Path) -> OwnedFd {
        rustix::fs::open(
            p,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .expect("root")
    }

    /// The contents of the file an `O_PATH` descriptor names.
    fn read_through(fd: &OwnedFd) -> Result<Vec<u8>, Errno> {
        let f = rustix::fs::open(
            format!("/proc/thread-self/fd/{}", fd.as_raw_fd()),
            OFlags::RDONLY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let mut s = Vec::new();
        std::io::Read::read_to_end(&mut std::fs::File::from(f), &mut s).map_err(|_| Errno::IO)?;
        Ok(s)
    }

    #[test]
    fn walk_stays_inside_like_openat2() {
        let root = tree();
        let fd = open_root(&root);
        for (rel, want) in [
            ("etc/app/real.conf", Some(&b"inside\n"[..])),
            ("etc/evil", Some(b"the container's own\n")),
            (
                "../../../../root/secret.conf",
                Some(b"the container's own\n"),
            ),
            ("etc/dots", Some(b"inside\n")),
            ("etc/rel", Some(b"inside\n")),
            ("etc/loop1", None),
            ("etc/missing", None),
        ] {
            let walked = walk_in_root(&fd, rel).and_then(|h| read_through(&h)).ok();
            assert_eq!(walked.as_deref(), want, "walk {rel}");
            // The kernel's RESOLVE_IN_ROOT gives the same answer.
            let kernel = rustix::fs::openat2(
                &fd,
                rel,
                OFlags::PATH | OFlags::CLOEXEC,
                Mode::empty(),
                ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
            )
            .and_then(|h| read_through(&h))
            .ok();
            assert_eq!(kernel.as_deref(), want, "openat2 {rel}");
        }
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn reads_own_files_and_refuses_non_regular() {
        let me = std::process::id();
        let root = tree();
        let path = format!("{}/etc/app/real.conf", root.display());
        assert_eq!(
            read_as_process(Path::new("/proc"), me, &path).expect("own file"),
            b"inside\n"
        );
        let err = read_as_process(Path::new("/proc"), me, "/dev/zero")
            .expect_err("device")
            .to_string();
        assert!(err.contains("a character device"), "{err}");
        let _ = std::fs::remove_dir_all(&root);
    }
}
