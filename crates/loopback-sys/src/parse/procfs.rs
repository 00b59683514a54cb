//! `/proc/PID/{status,cmdline}`, `/proc/PID/fd/*` link targets and `/etc/passwd`.

use std::collections::HashMap;

/// The effective uid from a `/proc/PID/status` file (`Uid:` real, effective, saved, fs).
pub fn parse_status_euid(bytes: &[u8]) -> Option<u32> {
    let text = String::from_utf8_lossy(bytes);
    let line = text.lines().find(|l| l.starts_with("Uid:"))?;
    line["Uid:".len()..].split_whitespace().nth(1)?.parse().ok()
}

/// The file-system identity of a process: what the kernel checks when it opens a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsIds {
    /// File-system uid.
    pub fsuid: u32,
    /// File-system gid.
    pub fsgid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
}

/// The fsuid, fsgid (the fourth `Uid:` and `Gid:` fields) and `Groups:` of a
/// `/proc/PID/status` file; `None` when a field is missing or malformed.
pub fn parse_status_fs_ids(bytes: &[u8]) -> Option<FsIds> {
    let text = String::from_utf8_lossy(bytes);
    let field = |name: &str| -> Option<u32> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        line[name.len()..].split_whitespace().nth(3)?.parse().ok()
    };
    let groups = match text.lines().find(|l| l.starts_with("Groups:")) {
        Some(line) => line["Groups:".len()..]
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<Vec<u32>, _>>()
            .ok()?,
        None => Vec::new(),
    };
    Some(FsIds {
        fsuid: field("Uid:")?,
        fsgid: field("Gid:")?,
        groups,
    })
}

/// `/proc/PID/cmdline`: arguments separated by NUL, usually with a trailing NUL. Programs that
/// rewrite their title (`setproctitle`: redis, nginx workers, PostgreSQL backends) leave one
/// space-separated string padded with NULs; that comes back as one argument, the padding
/// dropped. Invalid UTF-8 is replaced, never fatal.
pub fn parse_cmdline(bytes: &[u8]) -> Vec<String> {
    let end = bytes.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
    let bytes = &bytes[..end];
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes
        .split(|b| *b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect()
}

/// `/proc/PID/environ`: NUL-separated `NAME=VALUE` entries, each decoded lossily; an entry
/// without `=` is skipped.
pub fn parse_environ(bytes: &[u8]) -> Vec<(String, String)> {
    bytes
        .split(|b| *b == 0)
        .filter_map(|e| {
            let i = e.iter().position(|b| *b == b'=')?;
            Some((
                String::from_utf8_lossy(&e[..i]).into_owned(),
                String::from_utf8_lossy(&e[i + 1..]).into_owned(),
            ))
        })
        .filter(|(k, _)| !k.is_empty())
        .collect()
}

/// `/proc/PID/comm`: the name, without the trailing newline.
pub fn parse_comm(bytes: &[u8]) -> String {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    String::from_utf8_lossy(bytes).into_owned()
}

/// The inode of a `/proc/PID/fd/N` link target of the form `socket:[12345]`.
pub fn parse_socket_link(target: &[u8]) -> Option<u64> {
    let inner = target.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(inner).ok()?.parse().ok()
}

/// The inode of a `/proc/PID/ns/net` link target of the form `net:[4026531840]`.
pub fn parse_netns_link(target: &[u8]) -> Option<u64> {
    let inner = target.strip_prefix(b"net:[")?.strip_suffix(b"]")?;
    std::str::from_utf8(inner).ok()?.parse().ok()
}

/// The longest control-group path kept; a deeper one is cut (a user may create cgroups with
/// any name under their delegated subtree, so the path is input like any other).
const MAX_CGROUP_PATH: usize = 4096;

/// The control-group path of a process from `/proc/PID/cgroup`: the unified (v2) hierarchy's
/// `0::PATH` line, else the v1 `name=systemd` line. `None` when neither is there.
pub fn parse_cgroup(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut v1 = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        if id == "0" && controllers.is_empty() {
            return Some(path.chars().take(MAX_CGROUP_PATH).collect());
        }
        if controllers == "name=systemd" {
            v1 = Some(path.chars().take(MAX_CGROUP_PATH).collect());
        }
    }
    v1
}

/// uid to name from an `/etc/passwd` file. Comments, blank and malformed lines are skipped; the
/// first entry for a uid wins, as with `getpwuid`.
pub fn parse_passwd(bytes: &[u8]) -> HashMap<u32, String> {
    let mut users = HashMap::new();
    for line in String::from_utf8_lossy(bytes).lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut fields = line.split(':');
        let (Some(name), Some(_pw), Some(uid)) = (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        if let Ok(uid) = uid.parse::<u32>() {
            users.entry(uid).or_insert_with(|| name.to_owned());
        }
    }
    users
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netns_links_and_cgroups() {
        assert_eq!(parse_netns_link(b"net:[4026531840]"), Some(4026531840));
        assert_eq!(parse_netns_link(b"mnt:[4026531840]"), None);
        assert_eq!(parse_netns_link(b"net:[x]"), None);
        assert_eq!(
            parse_cgroup(b"0::/system.slice/docker-ab.scope\n").as_deref(),
            Some("/system.slice/docker-ab.scope")
        );
        let v1 = b"12:memory:/docker/ab\n1:name=systemd:/docker/ab\n";
        assert_eq!(parse_cgroup(v1).as_deref(), Some("/docker/ab"));
        assert_eq!(parse_cgroup(b"garbage"), None);
        // A path may hold colons.
        assert_eq!(parse_cgroup(b"0::/a:b\n").as_deref(), Some("/a:b"));
    }

    #[test]
    fn fs_ids_from_status() {
        let status = b"Name:\tpostgres\nUid:\t0\t105\t105\t106\nGid:\t0\t111\t111\t112\nGroups:\t4 27 111 \n";
        assert_eq!(
            parse_status_fs_ids(status),
            Some(FsIds {
                fsuid: 106,
                fsgid: 112,
                groups: vec![4, 27, 111]
            })
        );
        let no_groups = b"Uid:\t1\t1\t1\t1\nGid:\t2\t2\t2\t2\nGroups:\n";
        assert_eq!(
            parse_status_fs_ids(no_groups).map(|i| i.groups),
            Some(vec![])
        );
        assert_eq!(parse_status_fs_ids(b"Uid:\t1 1 1\nGid:\t1 1 1 1\n"), None);
        assert_eq!(
            parse_status_fs_ids(b"Uid:\t1 1 1 1\nGid:\t1 1 1 1\nGroups:\tx\n"),
            None
        );
    }

    #[test]
    fn status_effective_uid() {
        let status = b"Name:\tsshd\nUmask:\t0022\nState:\tS (sleeping)\nUid:\t0\t1000\t0\t0\nGid:\t0\t0\t0\t0\n";
        assert_eq!(parse_status_euid(status), Some(1000));
        assert_eq!(parse_status_euid(b"Name:\tx\n"), None);
        assert_eq!(parse_status_euid(b"Uid:\t\n"), None);
        assert_eq!(parse_status_euid(b"\xff\xfeUid:\t1\t2\t3\t4\n"), None);
    }

    #[test]
    fn cmdline_splits_on_nul() {
        assert_eq!(
            parse_cmdline(b"redis-server\0--requirepass\0s3cret\0"),
            vec!["redis-server", "--requirepass", "s3cret"]
        );
        assert!(parse_cmdline(b"").is_empty());
        assert!(parse_cmdline(b"\0").is_empty());
        // setproctitle-style: one string with spaces
        assert_eq!(
            parse_cmdline(b"postgres: checkpointer "),
            vec!["postgres: checkpointer "]
        );
        assert_eq!(parse_cmdline(b"a\xffb\0"), vec!["a\u{fffd}b"]);
        // redis-server after rewriting its title: the old argv area is left as NULs
        assert_eq!(
            parse_cmdline(b"redis-server 0.0.0.0:6379\0\0\0\0\0\0\0\0"),
            vec!["redis-server 0.0.0.0:6379"]
        );
    }

    #[test]
    fn comm_with_awkward_names() {
        assert_eq!(parse_comm(b"(sd-pam)\n"), "(sd-pam)");
        assert_eq!(parse_comm(b"Web Content\n"), "Web Content");
        assert_eq!(parse_comm(b"tmux: server\n"), "tmux: server");
        assert_eq!(parse_comm(b""), "");
    }

    #[test]
    fn socket_links() {
        assert_eq!(parse_socket_link(b"socket:[31337]"), Some(31337));
        assert_eq!(parse_socket_link(b"pipe:[31337]"), None);
        assert_eq!(parse_socket_link(b"socket:[]"), None);
        assert_eq!(parse_socket_link(b"socket:[12"), None);
        assert_eq!(parse_socket_link(b"/dev/null"), None);
    }

    #[test]
    fn passwd_skips_junk_and_keeps_first() {
        let passwd = b"# comment\nroot:x:0:0:root:/root:/bin/bash\n\nbroken line\npostgres:x:105:110::/var/lib/postgresql:/bin/bash\ntoor:x:0:0::/:/bin/sh\n:x:7:7::/:/bin/sh\nbad:x:notanumber:0::/:/bin/sh\n";
        let users = parse_passwd(passwd);
        assert_eq!(users.get(&0).map(String::as_str), Some("root"));
        assert_eq!(users.get(&105).map(String::as_str), Some("postgres"));
        assert_eq!(users.get(&7), None);
        assert_eq!(users.len(), 2);
    }
}
