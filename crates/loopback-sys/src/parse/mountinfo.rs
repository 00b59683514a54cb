//! `/proc/PID/mountinfo`: where network namespaces are bind-mounted (`ip netns add`, Docker's
//! `/run/docker/netns`, CNI's `/run/netns/cni-…`), so a namespace without a process is found.

/// Each bind-mounted network namespace: its inode and where it is mounted. A line is
/// `ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL…] - FSTYPE SOURCE SUPEROPTIONS`; an nsfs
/// mount of a network namespace has the root `net:[INODE]`. Malformed lines are skipped.
pub fn parse_netns_mounts(bytes: &[u8]) -> Vec<(u64, String)> {
    let text = String::from_utf8_lossy(bytes);
    let mut out = Vec::new();
    for line in text.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        if sep < 6 || fields.get(sep + 1) != Some(&"nsfs") {
            continue;
        }
        let Some(inode) = super::procfs::parse_netns_link(fields[3].as_bytes()) else {
            continue;
        };
        out.push((inode, unescape(fields[4])));
    }
    out
}

/// Where the unified (cgroup v2) hierarchy is mounted: `/sys/fs/cgroup`, or
/// `/sys/fs/cgroup/unified` on a hybrid host.
pub fn cgroup2_mount(bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(bytes);
    text.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(' ').collect();
        let sep = fields.iter().position(|f| *f == "-")?;
        (sep >= 6 && fields.get(sep + 1) == Some(&"cgroup2")).then(|| unescape(fields[4]))
    })
}

/// The kernel writes space, tab, newline and backslash in paths as `\ooo` octal escapes.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = u32::from(b[i + 1] - b'0') * 64
                + u32::from(b[i + 2] - b'0') * 8
                + u32::from(b[i + 3] - b'0');
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_netns_mounts_only() {
        let info = b"25 30 0:23 / /proc rw,nosuid - proc proc rw\n\
            612 28 0:4 net:[4026532281] /run/netns/blue rw shared:5 - nsfs nsfs rw\n\
            613 28 0:4 net:[4026532300] /run/docker/netns/1a2b3c rw - nsfs nsfs rw\n\
            614 28 0:4 mnt:[4026532301] /run/x rw - nsfs nsfs rw\n\
            615 28 0:4 net:[4026532302] /run/netns/with\\040space rw - nsfs nsfs rw\n\
            bad line\n";
        assert_eq!(
            parse_netns_mounts(info),
            vec![
                (4026532281, "/run/netns/blue".to_owned()),
                (4026532300, "/run/docker/netns/1a2b3c".to_owned()),
                (4026532302, "/run/netns/with space".to_owned()),
            ]
        );
    }

    #[test]
    fn unescape_keeps_what_is_not_an_escape() {
        assert_eq!(unescape("a\\134b"), "a\\b");
        assert_eq!(unescape("a\\9"), "a\\9");
        assert_eq!(unescape("tail\\04"), "tail\\04");
    }
}
