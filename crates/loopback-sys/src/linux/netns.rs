//! Network namespaces: finding every one on the host, and entering one on a single thread.
//!
//! A namespace is found three ways, and known by its inode:
//! - through every process (`/proc/PID/ns/net`, read with `readlinkat` relative to `/proc`);
//! - through its bind mounts (`/proc/self/mountinfo`: `nsfs` mounts with the root `net:[INODE]`),
//!   which is how `ip netns`, Docker (`/run/docker/netns`) and CNI keep namespaces alive
//!   without a process;
//! - through `/run/netns`, listed in case `mountinfo` could not be read.
//!
//! Entering uses `setns(CLONE_NEWNET)` on a thread made for the job: network namespaces are
//! per thread, so the rest of the process stays where it is, and every socket, netlink dump,
//! `/proc/thread-self/net` table and `/proc/sys/net` setting read on that thread (and on the
//! threads it starts) belongs to the entered namespace.

use std::collections::BTreeMap;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::thread::LinkNameSpaceType;

use crate::parse::{mountinfo, procfs};
use crate::{NamespaceScan, NetnsEntry, NetnsTarget, SysError, NETNS_PRIVILEGE_HINT};

/// `NSFS_MAGIC`: the file-system type of a namespace file.
const NSFS_MAGIC: i64 = 0x6e73_6673;

/// Where `ip netns` keeps its names (`/var/run` is a link to `/run` on current systems).
const NETNS_DIRS: [&str; 2] = ["/run/netns", "/var/run/netns"];

/// The namespace file of a target.
pub(crate) fn target_path(target: &NetnsTarget) -> PathBuf {
    match target {
        NetnsTarget::Name(n) => Path::new(NETNS_DIRS[0]).join(n),
        NetnsTarget::Pid(p) => PathBuf::from(format!("/proc/{p}/ns/net")),
        NetnsTarget::Path(p) => p.clone(),
    }
}

fn netns_error(target: &NetnsTarget, e: Errno) -> SysError {
    let reason = match e {
        Errno::PERM | Errno::ACCESS => NETNS_PRIVILEGE_HINT.to_owned(),
        Errno::NOENT => match target {
            NetnsTarget::Name(_) => "no such name under /run/netns (see `ip netns list`)".into(),
            NetnsTarget::Pid(_) => "no such process".into(),
            NetnsTarget::Path(_) => "no such file".into(),
        },
        Errno::INVAL => "not a network namespace".into(),
        other => std::io::Error::from(other).to_string(),
    };
    SysError::Netns {
        target: target.to_string(),
        reason,
    }
}

/// Open a namespace file and check that it is one. The path is opened with `O_PATH` first,
/// which opens nothing (no FIFO wait, no device side effect), and re-opened for `setns` only
/// once it is known to be a namespace file.
fn open_netns(target: &NetnsTarget) -> Result<(OwnedFd, u64), SysError> {
    let path = target_path(target);
    let handle = rustix::fs::open(&path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| netns_error(target, e))?;
    // `f_type` is i64 on x86_64 and narrower on some other architectures.
    #[allow(clippy::unnecessary_cast)]
    let is_nsfs = rustix::fs::fstatfs(&handle).is_ok_and(|s| s.f_type as i64 == NSFS_MAGIC);
    if !is_nsfs {
        return Err(netns_error(target, Errno::INVAL));
    }
    let inode = rustix::fs::fstat(&handle)
        .map_err(|e| netns_error(target, e))?
        .st_ino;
    let fd = rustix::fs::open(
        format!("/proc/thread-self/fd/{}", handle.as_raw_fd()),
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| netns_error(target, e))?;
    Ok((fd, inode))
}

/// The inode of a target's namespace.
pub(crate) fn inode_of(target: &NetnsTarget) -> Result<u64, SysError> {
    open_netns(target).map(|(_, inode)| inode)
}

/// The inode of the calling thread's network namespace.
pub(crate) fn current() -> Option<u64> {
    let mut buf = [0u8; 32];
    let len = rustix::fs::readlinkat_raw(rustix::fs::CWD, "/proc/thread-self/ns/net", &mut buf[..])
        .ok()?;
    procfs::parse_netns_link(&buf[..len.min(buf.len())])
}

/// Run `job` on a new thread that has entered `target`'s namespace.
pub(crate) fn run_in(
    target: &NetnsTarget,
    expect: Option<u64>,
    job: &mut (dyn FnMut() + Send),
) -> Result<(), SysError> {
    let (fd, inode) = open_netns(target)?;
    if expect.is_some_and(|want| want != inode) {
        return Err(SysError::Netns {
            target: target.to_string(),
            reason: "it changed since it was listed (the process exited)".into(),
        });
    }
    std::thread::scope(|s| {
        let handle = std::thread::Builder::new()
            .name("loopback-netns".into())
            .spawn_scoped(s, move || -> Result<(), SysError> {
                rustix::thread::move_into_link_name_space(
                    fd.as_fd(),
                    Some(LinkNameSpaceType::Network),
                )
                .map_err(|e| netns_error(target, e))?;
                job();
                Ok(())
            })
            .map_err(|e| SysError::Netns {
                target: target.to_string(),
                reason: format!("no thread to enter it with: {e}"),
            })?;
        handle.join().unwrap_or_else(|_| {
            Err(SysError::Netns {
                target: target.to_string(),
                reason: "the capture inside it failed".into(),
            })
        })
    })
}

/// Every network namespace reachable from `proc_root`: through its processes and its bind
/// mounts. Processes whose namespace link cannot be read (another user's, without root) are
/// counted in a warning.
pub(crate) fn enumerate(proc_root: &Path) -> NamespaceScan {
    let mut scan = NamespaceScan::default();
    let mut by_inode: BTreeMap<u64, NetnsEntry> = BTreeMap::new();
    let here = current();
    fn entry(
        map: &mut BTreeMap<u64, NetnsEntry>,
        here: Option<u64>,
        inode: u64,
    ) -> &mut NetnsEntry {
        map.entry(inode).or_insert_with(|| NetnsEntry {
            inode,
            current: here == Some(inode),
            ..NetnsEntry::default()
        })
    }
    let mut unreadable = 0usize;
    if let Ok(root) = rustix::fs::open(
        proc_root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) {
        let mut pids: Vec<u32> = std::fs::read_dir(proc_root)
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        pids.sort_unstable();
        let mut buf = [0u8; 32];
        for pid in pids {
            match rustix::fs::readlinkat_raw(&root, format!("{pid}/ns/net"), &mut buf[..]) {
                Ok(len) => {
                    if let Some(inode) = procfs::parse_netns_link(&buf[..len.min(buf.len())]) {
                        entry(&mut by_inode, here, inode).pids.push(pid);
                    }
                }
                Err(Errno::ACCESS) | Err(Errno::PERM) => unreadable += 1,
                Err(_) => {} // exited, or a kernel thread
            }
        }
    } else {
        scan.warnings.push(format!(
            "{} cannot be read: namespaces are found only through their bind mounts",
            proc_root.display()
        ));
    }
    if unreadable > 0 {
        let hint = if rustix::process::geteuid().is_root() {
            "the kernel refuses even root for these (processes of another user namespace, or \
             that made themselves non-dumpable); a namespace only they hold is missing"
        } else {
            "run as root (CAP_SYS_PTRACE) to see every namespace"
        };
        scan.warnings.push(format!(
            "the network namespaces of {unreadable} processes could not be read; {hint}"
        ));
    }
    match crate::files::read_bounded_up_to(&proc_root.join("self/mountinfo"), 16 << 20) {
        Ok(bytes) => {
            for (inode, mount) in mountinfo::parse_netns_mounts(&bytes) {
                add_mount(entry(&mut by_inode, here, inode), mount);
            }
        }
        Err(e) => scan
            .warnings
            .push(format!("bind-mounted namespaces may be missing: {e}")),
    }
    for dir in NETNS_DIRS {
        let Ok(list) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in list.flatten() {
            let Some(name) = e.file_name().to_str().map(str::to_owned) else {
                continue;
            };
            if let Ok(inode) = inode_of(&NetnsTarget::Name(name.clone())) {
                add_mount(entry(&mut by_inode, here, inode), format!("{dir}/{name}"));
            }
        }
    }
    for ns in by_inode.values_mut() {
        ns.cgroup = ns.pids.iter().find_map(|p| {
            std::fs::read(proc_root.join(format!("{p}/cgroup")))
                .ok()
                .and_then(|b| procfs::parse_cgroup(&b))
        });
    }
    scan.namespaces = by_inode.into_values().collect();
    scan
}

/// Record a bind mount, and its name when it is an `ip netns` name.
fn add_mount(ns: &mut NetnsEntry, mount: String) {
    for dir in NETNS_DIRS {
        if let Some(name) = mount.strip_prefix(dir).and_then(|r| r.strip_prefix('/')) {
            if !name.contains('/') && !ns.names.iter().any(|n| n == name) {
                ns.names.push(name.to_owned());
            }
        }
    }
    // `/var/run/netns/X` and `/run/netns/X` are one mount seen twice.
    let canonical = mount
        .strip_prefix("/var")
        .filter(|r| r.starts_with("/run/"))
        .map_or(mount.clone(), str::to_owned);
    if !ns.mounts.contains(&canonical) {
        ns.mounts.push(canonical);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_current_namespace_is_found_with_this_process() {
        let scan = enumerate(Path::new("/proc"));
        let me = std::process::id();
        let mine = scan
            .namespaces
            .iter()
            .find(|n| n.pids.contains(&me))
            .expect("this process's namespace");
        assert!(mine.current);
        assert_eq!(Some(mine.inode), current());
        assert_eq!(inode_of(&NetnsTarget::Pid(me)).ok(), current());
    }

    #[test]
    fn entering_this_namespace_again_works_or_says_what_is_missing() {
        let me = std::process::id();
        let mut seen = None;
        let r = run_in(&NetnsTarget::Pid(me), None, &mut || seen = current());
        match r {
            Ok(()) => assert_eq!(seen, current()),
            Err(e) => assert!(e.to_string().contains("CAP_SYS_ADMIN"), "{e}"),
        }
    }

    #[test]
    fn what_is_not_a_namespace_is_refused() {
        let e = inode_of(&NetnsTarget::Path("/etc/hostname".into())).unwrap_err();
        assert!(e.to_string().contains("not a network namespace"), "{e}");
        let e = inode_of(&NetnsTarget::Name("no-such-ns-xyz".into())).unwrap_err();
        assert!(e.to_string().contains("ip netns list"), "{e}");
    }

    #[test]
    fn targets_parse() {
        assert_eq!(NetnsTarget::parse("42"), Ok(NetnsTarget::Pid(42)));
        assert_eq!(
            NetnsTarget::parse("blue"),
            Ok(NetnsTarget::Name("blue".into()))
        );
        assert_eq!(
            NetnsTarget::parse("/run/docker/netns/x"),
            Ok(NetnsTarget::Path("/run/docker/netns/x".into()))
        );
        assert!(NetnsTarget::parse("..").is_err());
        assert!(NetnsTarget::parse("").is_err());
    }
}
