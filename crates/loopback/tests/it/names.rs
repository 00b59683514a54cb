//! `loopback names`: edits that keep every byte outside the managed block, on a corpus of
//! hosts files as systems ship and people edit them; 20 runs at once; runs killed at each file
//! system call in turn (strace); a bind-mounted and a symlinked hosts file; refusals that leave the file as it was;
//! and `verify` against the real clients (getent, curl, Python, Node.js, Go), each run in a
//! namespace whose hosts file the test writes, with a listener on every candidate address.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use loopback_core::names::HostsLayout;
use loopback_model::names::{NameClient, NamesReport, NamesVerifyReport, WriteMethod};
use loopback_model::{AuditReport, ClientId};

use crate::support::*;

/// Hosts files as they come: each distribution's default, Windows' and macOS's, Docker's
/// generated one, a blocklist, and the hand-edited kinds (tabs, CRLF, aliases, comments,
/// no final newline, IPv6 and scoped lines, trailing blanks, invalid bytes).
const CORPUS: &[(&str, &[u8])] = &[
    ("debian", b"127.0.0.1\tlocalhost\n127.0.1.1\tbox.example.org\tbox\n\n# The following lines are desirable for IPv6 capable hosts\n::1     localhost ip6-localhost ip6-loopback\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n"),
    ("fedora", b"# Loopback entries; do not change.\n# For historical reasons, localhost precedes localhost.localdomain:\n127.0.0.1   localhost localhost.localdomain localhost4 localhost4.localdomain4\n::1         localhost localhost.localdomain localhost6 localhost6.localdomain6\n# See hosts(5) for proper format and other examples:\n# 192.168.1.10 foo.example.org foo\n"),
    ("windows", b"# Copyright (c) 1993-2009 Microsoft Corp.\r\n#\r\n# This is a sample HOSTS file used by Microsoft TCP/IP for Windows.\r\n#\r\n#      102.54.94.97     rhino.acme.com          # source server\r\n#       38.25.63.10     x.acme.com              # x client host\r\n\r\n# localhost name resolution is handled within DNS itself.\r\n#\t127.0.0.1       localhost\r\n#\t::1             localhost\r\n"),
    ("macos", b"##\n# Host Database\n#\n# localhost is used to configure the loopback interface\n# when the system is booting.  Do not change this entry.\n##\n127.0.0.1\tlocalhost\n255.255.255.255\tbroadcasthost\n::1             localhost\n"),
    ("docker", b"127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n172.17.0.2\t3f2a9c1d0b7e\n"),
    ("no-final-newline", b"127.0.0.1 localhost\n10.0.0.5 nas nas.lan"),
    ("crlf-no-final-newline", b"127.0.0.1 localhost\r\n::1 localhost"),
    ("mixed", b"127.0.0.1 localhost\r\n  \t# indented comment\n10.1.1.1\tprinter  # the office printer\nfe80::1%eth0 router\n\n\n192.168.0.2 a b c d e\t\t\n\xef\xbb\xbf bom and \xff bytes\n"),
    ("empty", b""),
    ("blocklist", b"# blocklist\n0.0.0.0 ads.example\n0.0.0.0 tracker.example\n0.0.0.0 metrics.example\n0.0.0.0 beacon.example\n"),
];

fn names(args: &[&str]) -> Output {
    Command::new(loopback_bin())
        .arg("names")
        .args(args)
        .output()
        .expect("running loopback names")
}

fn report(out: &Output) -> NamesReport {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "names JSON {e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn ok(out: Output) -> NamesReport {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    report(&out)
}

/// The file with its managed block (and the newline the block brought) cut out: what must
/// equal the original.
fn outside_block(bytes: &[u8]) -> Vec<u8> {
    let l = HostsLayout::parse(bytes).expect("the block parses");
    let mut out = bytes.to_vec();
    if let Some((b, e)) = l.block_lines() {
        let mut starts = vec![0usize];
        for (i, c) in bytes.iter().enumerate() {
            if *c == b'\n' {
                starts.push(i + 1);
            }
        }
        let start = starts[b - 1];
        let end = starts.get(e).copied().unwrap_or(bytes.len());
        let mut cut = start;
        if end == bytes.len() && !bytes.ends_with(b"\n") && start > 0 {
            cut -= if bytes[..start].ends_with(b"\r\n") {
                2
            } else {
                1
            };
        }
        out = [&bytes[..cut], &bytes[end..]].concat();
    }
    out
}

#[test]
fn edits_keep_every_byte_outside_the_block() {
    let dir = TempDir::new("names-corpus");
    for (label, orig) in CORPUS {
        let p = dir.path(label);
        std::fs::write(&p, orig).expect("write");
        let f = p.to_str().expect("utf-8 path");
        let mut added = Vec::new();
        for n in ["api.test", "db.internal", "web.localhost"] {
            let r = ok(names(&["add", n, "--hosts-file", f, "--json"]));
            assert!(r.changed && r.write == Some(WriteMethod::Rename), "{label}");
            let now = std::fs::read(&p).expect("read");
            assert_eq!(outside_block(&now), *orig, "{label}: after adding {n}");
            added.push((n, r.names[0].address));
        }
        let mut addrs: Vec<_> = added.iter().map(|(_, a)| *a).collect();
        addrs.dedup();
        assert_eq!(addrs.len(), 3, "{label}: distinct addresses {added:?}");
        let listed = ok(names(&["list", "--hosts-file", f, "--json"]));
        assert_eq!(
            listed
                .names
                .iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>(),
            ["api.test", "db.internal", "web.localhost"]
        );
        for n in ["db.internal", "web.localhost", "api.test"] {
            ok(names(&["remove", n, "--hosts-file", f, "--json"]));
        }
        assert_eq!(
            std::fs::read(&p).expect("read"),
            *orig,
            "{label}: removing every name gives back the original bytes"
        );
    }
}

#[test]
fn a_blocklist_larger_than_the_resolver_reader_is_edited_and_verified() {
    let dir = TempDir::new("names-big");
    let p = dir.path("hosts");
    let mut big = CORPUS[0].1.to_vec();
    for i in 0..100_000 {
        big.extend_from_slice(format!("0.0.0.0 ad{i}.example\n").as_bytes());
    }
    assert!(big.len() > 1 << 21);
    std::fs::write(&p, &big).expect("write");
    let f = p.to_str().expect("utf-8 path");
    ok(names(&["add", "api.test", "--hosts-file", f, "--json"]));
    let out = names(&["verify", "--hosts-file", f, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: NamesVerifyReport = serde_json::from_slice(&out.stdout).expect("verify JSON");
    assert_eq!(v.names[0].clients[0].addresses[0].to_string(), "127.0.0.2");
    ok(names(&["remove", "api.test", "--hosts-file", f, "--json"]));
    assert_eq!(std::fs::read(&p).expect("read"), big);
}

#[test]
fn twenty_concurrent_adds_get_twenty_addresses() {
    let dir = TempDir::new("names-parallel");
    let p = dir.path("hosts");
    std::fs::write(&p, CORPUS[0].1).expect("write");
    let f = p.to_str().expect("utf-8 path").to_owned();
    let children: Vec<_> = (0..20)
        .map(|i| {
            Command::new(loopback_bin())
                .args(["names", "add", &format!("svc{i}.test"), "--hosts-file", &f])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn")
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let bytes = std::fs::read(&p).expect("read");
    assert_eq!(outside_block(&bytes), CORPUS[0].1);
    let l = HostsLayout::parse(&bytes).expect("parses");
    let entries = l.entries();
    assert_eq!(entries.len(), 20, "{}", String::from_utf8_lossy(&bytes));
    let mut addrs: Vec<_> = entries.iter().map(|e| e.address).collect();
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), 20, "20 distinct addresses");
}

/// Where a run is killed: each system call that opens, locks, writes, syncs, chowns,
/// truncates, renames or removes a file, at its first, second, ... invocation in turn, by
/// strace's fault injection (SIGKILL in place of the call): every point is reached, in order,
/// with no timing involved.
const KILL_AT: &[&str] = &[
    "open,openat",
    "flock",
    "write,pwrite64,writev",
    "fchmod,fchmodat",
    "fchown,fchownat",
    "fsync,fdatasync",
    "rename,renameat,renameat2",
    "ftruncate",
    "unlink,unlinkat",
];

#[test]
#[ignore = "needs strace: ./scripts/test installs it and runs this"]
fn a_run_killed_at_any_point_leaves_the_old_file_or_the_new_one() {
    let dir = TempDir::new("names-kill");
    let p = dir.path("hosts");
    let orig = CORPUS[7].1;
    std::fs::write(&p, orig).expect("write");
    let f = p.to_str().expect("utf-8 path").to_owned();
    let held = |bytes: &[u8]| -> Vec<String> {
        let l = HostsLayout::parse(bytes).unwrap_or_else(|e| panic!("{e}"));
        l.entries().into_iter().flat_map(|e| e.names).collect()
    };
    let mut before = held(orig);
    let mut killed: Vec<(&str, usize)> = Vec::new();
    for calls in KILL_AT {
        let mut here = 0;
        for n in 1..=400 {
            let name = format!("k{}.test", n % 3);
            let verb = if before.contains(&name) {
                "remove"
            } else {
                "add"
            };
            let out = Command::new("strace")
                .args(["-f", "-qq", "-o", "/dev/null", "-e"])
                .arg(format!("trace={calls}"))
                .arg("-e")
                .arg(format!("inject={calls}:signal=KILL:when={n}"))
                .arg(loopback_bin())
                .args(["names", verb, &name, "--hosts-file", &f])
                .output()
                .expect("strace (./scripts/test installs it)");
            let bytes = std::fs::read(&p).expect("read");
            let at = format!("{verb} {name} killed at call {n} of {calls}");
            assert_eq!(outside_block(&bytes), orig, "{at}");
            let after = held(&bytes);
            let mut changed = before.clone();
            if verb == "add" {
                changed.push(name.clone());
            } else {
                changed.retain(|x| *x != name);
            }
            assert!(
                after == before || after == changed,
                "{at}: {before:?} became {after:?}"
            );
            before = after;
            if out.status.success() {
                // The run outlived every invocation of these calls: the next kind.
                assert_eq!(
                    before, changed,
                    "{at}: a run that ended well made its change"
                );
                break;
            }
            assert!(n < 400, "{at}: the run never ended");
            here += 1;
        }
        killed.push((calls, here));
    }
    for must in [
        "open,openat",
        "flock",
        "write,pwrite64,writev",
        "fsync,fdatasync",
        "rename,renameat,renameat2",
    ] {
        assert!(
            killed.iter().any(|(c, k)| *c == must && *k > 0),
            "no run was killed at {must}: {killed:?}"
        );
    }
    // A completed run removes what killed runs left.
    ok(names(&["list", "--hosts-file", &f, "--json"]));
    let left: Vec<String> = std::fs::read_dir(&dir.0)
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n != "hosts")
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");
}

#[test]
fn a_symlinked_hosts_file_is_written_through_the_link() {
    let dir = TempDir::new("names-link");
    let real = dir.path("real-hosts");
    std::fs::write(&real, CORPUS[0].1).expect("write");
    let link = dir.path("hosts");
    std::os::unix::fs::symlink(&real, &link).expect("symlink");
    let r = ok(names(&[
        "add",
        "api.test",
        "--hosts-file",
        link.to_str().expect("utf-8"),
        "--json",
    ]));
    assert_eq!(r.written_to.as_deref(), real.to_str());
    assert!(std::fs::symlink_metadata(&link)
        .expect("meta")
        .file_type()
        .is_symlink());
    let bytes = std::fs::read(&real).expect("read");
    assert!(String::from_utf8_lossy(&bytes).contains("127.0.0.2 api.test"));
}

fn refused(out: &Output, file: &Path, before: &[u8], says: &str) {
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "stdout stays empty on an error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(says), "{says:?} not in {err}");
    assert_eq!(
        std::fs::read(file).expect("read"),
        before,
        "the file is untouched"
    );
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn refusals_leave_the_file_untouched_and_sockets_keep_their_address() {
    require_root();
    let ns = Netns::new("names-refuse");
    let hosts = "127.0.0.1 localhost\n10.9.9.9 nas.test\n::1 localhost\n";
    ns.etc_file("hosts", hosts);
    let file = ns.etc_path("hosts");
    let _held = ns.listen(&["tcp:127.0.0.2:7101", "udp:127.0.0.3:7102"], &[]);
    let add = |args: &[&str]| ns.loopback(&[&["names", "add"], args].concat());
    for (args, says) in [
        (&["bad_name.test"][..], "not a valid host name"),
        (&["localhost"], "localhost is the system's own name"),
        (&["NAS.test"], "line 2"),
        (&["x.test", "--address", "10.0.0.2"], "not in 127.0.0.0/8"),
        (&["x.test", "--address", "::1"], "IPv6"),
        (
            &["x.test", "--address", "127.0.0.2"],
            "a socket is bound to it",
        ),
        (&["x.test", "--address", "127.0.0.1"], "line 1"),
    ] {
        refused(&add(args), &file, hosts.as_bytes(), says);
    }
    refused(
        &ns.loopback(&["names", "remove", "nas.test"]),
        &file,
        hosts.as_bytes(),
        "not in the managed block",
    );
    // The lowest free address skips the TCP and the UDP socket's.
    let r = report(&add(&["x.test", "--json"]));
    assert_eq!(r.names[0].address.to_string(), "127.0.0.4");
    assert_eq!(
        r.write,
        Some(WriteMethod::InPlace),
        "ip netns exec bind-mounts the file over /etc/hosts: a rename cannot replace it"
    );
    let now = std::fs::read(&file).expect("read");
    assert_eq!(outside_block(&now), hosts.as_bytes());
    assert_eq!(
        ns.getent("ahosts", "x.test").first().map(String::as_str),
        Some("127.0.0.4")
    );
    // Without permission: nobody may not write a file of root's, and is told who may.
    let out = as_nobody_in(Some(&ns), &["names", "add", "y.test"]);
    refused(&out, &file, &now, "root");
}

#[test]
#[ignore = "needs root: ./scripts/test runs it"]
fn owner_and_mode_survive_the_rename() {
    require_root();
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let user = TestUser::new("nm");
    let dir = TempDir::new("names-owner");
    let p = dir.path("hosts");
    std::fs::write(&p, CORPUS[1].1).expect("write");
    user.chown(&p);
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let ino = std::fs::metadata(&p).expect("meta").ino();
    let r = ok(names(&[
        "add",
        "api.test",
        "--hosts-file",
        p.to_str().expect("utf-8"),
        "--json",
    ]));
    assert_eq!(r.write, Some(WriteMethod::Rename));
    let m = std::fs::metadata(&p).expect("meta");
    assert_ne!(m.ino(), ino, "a new file was renamed into place");
    assert_eq!(
        (m.uid(), m.gid(), m.mode() & 0o7777),
        (user.uid, user.gid, 0o640)
    );
}

/// The address a real client connected to, or what it said.
fn connected(ns: &Netns, c: NameClient, name: &str, port: u16) -> String {
    let id = match c {
        NameClient::Glibc => {
            return ns
                .getent("ahosts", name)
                .first()
                .map(|a| format!("connected {a}"))
                .unwrap_or_else(|| "error unknown".into())
        }
        NameClient::Curl => ClientId::Curl,
        NameClient::Python => ClientId::Python,
        NameClient::Node => ClientId::NodeAutoSelect,
        NameClient::Go => ClientId::Go,
        other => panic!("{other} is not tested here"),
    };
    crate::clients::real(ns, id, name, port)
}

#[test]
#[ignore = "needs root and network namespaces: ./scripts/test runs it"]
fn verify_predicts_what_the_real_clients_reach() {
    require_root();
    let ns = Netns::new("names-verify");
    ns.etc_file(
        "hosts",
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n",
    );
    ns.etc_file("nsswitch.conf", "hosts: files dns\n");
    let port = 7201u16;
    let specs: Vec<String> = ["127.0.0.1", "[::1]", "127.0.0.2", "127.0.0.7"]
        .iter()
        .map(|a| format!("tcp:{a}:{port},http"))
        .collect();
    let specs: Vec<&str> = specs.iter().map(String::as_str).collect();
    // Names first: an address a socket is bound to is not free.
    let add = ns.loopback(&["names", "add", "api.test", "--json"]);
    assert_eq!(report(&add).names[0].address.to_string(), "127.0.0.2");
    let add = ns.loopback(&[
        "names",
        "add",
        "web.localhost",
        "--address",
        "127.0.0.7",
        "--json",
    ]);
    assert!(report(&add).notes.iter().any(|n| n.contains(".localhost")));
    let _held = ns.listen(&specs, &[]);

    let out = ns.loopback(&["names", "verify", "--json"]);
    assert_eq!(out.status.code(), Some(1), "web.localhost: curl disagrees");
    let v: NamesVerifyReport = serde_json::from_slice(&out.stdout).expect("verify JSON");
    assert_eq!(v.version, 1);
    assert!(
        v.notes.is_empty(),
        "the clients read this file: {:?}",
        v.notes
    );
    let mut compared = 0;
    for n in &v.names {
        assert_eq!(n.assigned, Some(true));
        for c in n.clients.iter().filter(|c| c.tested) {
            let did = connected(&ns, c.client, &n.name, port);
            let predicted = c.addresses.first().map(|a| format!("connected {a}"));
            assert_eq!(
                Some(did.clone()),
                predicted,
                "{} with {}: predicted {:?} ({}), the real client: {did}",
                n.name,
                c.client,
                c.addresses,
                c.because
            );
            compared += 1;
        }
    }
    assert_eq!(
        compared, 10,
        "glibc, curl, python, go and node for both names"
    );
    let web = v
        .names
        .iter()
        .find(|n| n.name == "web.localhost")
        .expect("web");
    assert!(web
        .findings
        .iter()
        .any(|f| f.code.as_str() == "localhost-name"));
    let api = v.names.iter().find(|n| n.name == "api.test").expect("api");
    assert!(api.findings.is_empty(), "{:?}", api.findings);
    let one = ns.loopback(&["names", "verify", "api.test"]);
    assert_eq!(
        one.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&one.stdout)
    );

    // audit names the listener on a managed address.
    let out = ns.loopback(&["audit", "--json"]);
    let r: AuditReport = serde_json::from_slice(&out.stdout).expect("audit JSON");
    let named: Vec<(String, Vec<String>)> = r
        .listeners
        .iter()
        .filter(|l| !l.names.is_empty())
        .map(|l| (l.address.to_string(), l.names.clone()))
        .collect();
    assert_eq!(
        named,
        vec![
            ("127.0.0.2".to_owned(), vec!["api.test".to_owned()]),
            ("127.0.0.7".to_owned(), vec!["web.localhost".to_owned()])
        ]
    );
    let text = ns.loopback(&["audit"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("name: api.test"));
}

#[test]
#[ignore = "needs root (a mount namespace): ./scripts/test runs it"]
fn a_read_only_file_system_is_refused_with_what_to_do() {
    require_root();
    let dir = TempDir::new("names-ro");
    let mnt = dir.path("ro");
    std::fs::create_dir_all(&mnt).expect("mkdir");
    let m = mnt.to_str().expect("utf-8");
    // A private mount namespace: a tmpfs with a hosts file, remounted read-only, as NixOS's
    // /etc/hosts is; the mount goes with the namespace.
    let script = format!(
        "mount -t tmpfs lbt {m} && printf '127.0.0.1 localhost\\n' > {m}/hosts && mount -o remount,ro {m} && {} names add api.test --hosts-file {m}/hosts; echo \"rc=$?\" >&2; cat {m}/hosts",
        loopback_bin()
    );
    let out =
        run(Command::new("unshare").args(["-m", "--propagation", "private", "sh", "-c", &script]));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("rc=2"), "{err}");
    assert!(
        err.contains("read-only file system") && err.contains("NixOS"),
        "{err}"
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "127.0.0.1 localhost\n",
        "untouched, nothing else printed"
    );
}
