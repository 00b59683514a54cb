//! The fixture snapshot `tests/fixtures/snapshot-lan.json`: captured from a fixture system, and
//! checked to still be what that system captures (regenerate with
//! `LOOPBACK_UPDATE_FIXTURES=1 cargo test -p loopback-core`).

use loopback_model::Proto;
use loopback_sys::{DefaultRoutes, ProcessInfo};

use crate::testing::FakeSystem;

/// A host with a LAN link, a PostgreSQL on every interface with its configuration file, a
/// Redis on loopback, a dual-stack web server, route_localnet on the LAN link, and a hosts file
/// whose `::1` line lacks localhost.
pub(crate) fn system() -> FakeSystem {
    let mut sys = FakeSystem::lan();
    sys.add_socket(Proto::Tcp, "0.0.0.0", 5432, None, 10);
    sys.add_socket(Proto::Tcp, "127.0.0.1", 6379, None, 11);
    sys.add_socket(Proto::Tcp, "::", 8080, Some(false), 12);
    sys.add_socket(Proto::Udp, "0.0.0.0", 45000, None, 13);
    let proc_ = |pid: u32, comm: &str, argv: &[&str]| ProcessInfo {
        pid,
        comm: comm.into(),
        euid: Some(if comm == "postgres" { 105 } else { 0 }),
        argv: argv.iter().map(|s| (*s).to_owned()).collect(),
        cgroup: None,
        user: None,
    };
    sys.add_owner(
        10,
        proc_(
            40,
            "postgres",
            &["/usr/lib/postgresql/15/bin/postgres", "-D", "/srv/pg"],
        ),
    );
    sys.add_owner(
        11,
        proc_(41, "redis-server", &["redis-server 127.0.0.1:6379"]),
    );
    sys.add_owner(
        12,
        proc_(42, "node", &["node", "server.js", "--token=s3cr3tvalue"]),
    );
    sys.files.insert(
        "/proc/40/root/srv/pg/postgresql.conf".into(),
        b"listen_addresses = '*'\n".to_vec(),
    );
    sys.files.insert(
        "/etc/hosts".into(),
        b"127.0.0.1 localhost\n::1 ip6-localhost ip6-loopback\n198.18.0.1 app.test\n".to_vec(),
    );
    sys.files
        .insert("/etc/nsswitch.conf".into(), b"hosts: files dns\n".to_vec());
    sys.kernel.ephemeral_ports = Some((32768, 60999));
    sys.kernel.bindv6only = Some(false);
    sys.kernel.ipv6_all_disabled = Some(false);
    sys.kernel.ipv6_disabled.insert("lo".into(), false);
    sys.kernel.ipv6_disabled.insert("veth0".into(), false);
    sys.kernel.route_localnet.insert("all".into(), false);
    sys.kernel.route_localnet.insert("lo".into(), false);
    sys.kernel.route_localnet.insert("veth0".into(), true);
    sys.routes = DefaultRoutes {
        ipv4: vec!["veth0".into()],
        ipv6: vec![],
    };
    sys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{capture, extend, Parts, Request, Snapshot};

    const PATH: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/snapshot-lan.json"
    );

    #[test]
    fn the_fixture_file_is_what_the_fixture_system_captures() {
        let sys = system();
        let mut snap = capture(&sys, &Request::of(Parts::ALL));
        let dests = crate::resolve::routes_to(&snap, "localhost");
        extend(
            &mut snap,
            &sys,
            &Request {
                routes_to: dests,
                ..Request::default()
            },
        );
        let json = serde_json::to_string_pretty(&snap).expect("json") + "\n";
        if std::env::var_os("LOOPBACK_UPDATE_FIXTURES").is_some() {
            std::fs::write(PATH, &json).expect("write fixture");
        }
        let on_disk = std::fs::read_to_string(PATH).expect("fixture file");
        let back: Snapshot = serde_json::from_str(&on_disk).expect("fixture parses");
        assert_eq!(back, snap, "regenerate with LOOPBACK_UPDATE_FIXTURES=1");
    }
}
