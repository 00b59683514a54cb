//! The service table (`data/services.toml`, compiled in) and how a process is matched to an
//! entry.

use std::sync::OnceLock;

use loopback_sys::ProcessInfo;
use serde::Deserialize;

const TABLE: &str = include_str!("../../data/services.toml");

/// How a service's current bind address is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reader {
    /// `postgresql.conf`, with `postgresql.auto.conf` winning.
    Postgresql,
    /// A `key value` directive file.
    Directive,
    /// nginx `listen` directives.
    Nginx,
    /// An INI section.
    Ini,
    /// A dotted YAML key.
    Yaml,
    /// `key=value` or `key = value` lines, the last one winning (dnsmasq.conf, zoo.cfg,
    /// rabbitmq.conf, Java properties).
    Kv,
    /// Command-line flags only.
    Args,
}

/// One `[[service]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceDef {
    /// Stable id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Process names (`comm` or `argv[0]`) that run it.
    pub processes: Vec<String>,
    #[serde(default)]
    /// An argument that must appear too (interpreters).
    pub args_contain: Option<String>,
    /// Its well-known ports.
    pub ports: Vec<u16>,
    /// The setting that controls the bind address.
    pub setting: String,
    /// That setting's default.
    pub default: String,
    /// How the setting is read.
    pub reader: Reader,
    #[serde(default)]
    /// The key in the configuration file.
    pub key: Option<String>,
    #[serde(default)]
    /// The INI section holding it.
    pub section: Option<String>,
    /// Flags that set the bind address.
    pub flags: Vec<String>,
    /// Flags that name the configuration file.
    pub config_flags: Vec<String>,
    #[serde(default)]
    /// Flags that name the configuration directory.
    pub config_dir_flags: Vec<String>,
    #[serde(default)]
    /// The file inside that directory.
    pub config_dir_file: Option<String>,
    /// Packaged configuration paths to try.
    pub config_paths: Vec<String>,
    #[serde(default)]
    /// The key that sets the port in a packaged file.
    pub port_key: Option<String>,
    #[serde(default)]
    /// The port when that key is absent.
    pub default_port: Option<u16>,
    #[serde(default)]
    /// A question the running service answers about its bind setting without credentials.
    pub ask: Option<super::ask::Ask>,
    #[serde(default)]
    /// The command that shows the running value, with `{port}` filled in (for the hint when a
    /// file and the socket disagree).
    pub runtime_check: Option<String>,
    #[serde(default = "yes")]
    /// Whether the service can be bound to loopback at all (mDNS cannot: it must bind the
    /// wildcard to receive multicast); when not, the fix says what limits it instead.
    pub loopback_possible: bool,
    /// The fix, with `{config}`, `{port}`, `{current}` and `{container_port}` (docker-proxy's
    /// `-container-port`) filled in.
    pub fix: String,
    #[serde(default)]
    /// The setting that makes it refuse a foreign `Host` (`audit --http`'s `rebindable`), with
    /// `{config}` and `{port}` filled in.
    pub http_hosts: Option<String>,
    #[serde(default)]
    /// The setting that keeps foreign origins from reading it (`cross-origin-readable`).
    pub http_origins: Option<String>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
struct Table {
    service: Vec<ServiceDef>,
}

/// The compiled-in table; empty (and a failing unit test) if it does not parse.
pub fn table() -> &'static [ServiceDef] {
    static T: OnceLock<Vec<ServiceDef>> = OnceLock::new();
    T.get_or_init(|| {
        toml::from_str::<Table>(TABLE)
            .map(|t| t.service)
            .unwrap_or_default()
    })
}

/// The words of a process's command line; a rewritten title (one argument with spaces, such as
/// `nginx: master process nginx -c /etc/nginx/nginx.conf`) is split into words.
pub(crate) fn words(p: &ProcessInfo) -> Vec<String> {
    match p.argv.as_slice() {
        [title] if title.contains(' ') => title.split_whitespace().map(str::to_owned).collect(),
        argv => argv.to_vec(),
    }
}

fn base(s: &str) -> &str {
    let s = s.trim_end_matches(':');
    s.rsplit('/').next().unwrap_or(s)
}

pub(crate) fn matches(def: &ServiceDef, p: &ProcessInfo) -> bool {
    let w = words(p);
    let argv0 = w.first().map(|a| base(a)).unwrap_or("");
    let named = def.processes.iter().any(|n| n == &p.comm || n == argv0);
    named
        && def
            .args_contain
            .as_ref()
            .is_none_or(|needle| w.iter().skip(1).any(|a| a.contains(needle.as_str())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_parses_and_every_entry_is_complete() {
        let t = table();
        assert!(t.len() >= 20, "{} entries", t.len());
        let mut ids = std::collections::HashSet::new();
        for d in t {
            assert!(ids.insert(&d.id), "duplicate id {}", d.id);
            assert!(!d.processes.is_empty() && !d.setting.is_empty(), "{}", d.id);
            let names_loopback = ["127.0.0.", "localhost", "_local_"]
                .iter()
                .any(|l| d.fix.contains(l));
            assert!(
                names_loopback || (!d.loopback_possible && d.fix.contains("packet filter")),
                "{}: the fix must name the loopback value",
                d.id
            );
            if matches!(
                d.reader,
                Reader::Postgresql
                    | Reader::Directive
                    | Reader::Nginx
                    | Reader::Ini
                    | Reader::Yaml
                    | Reader::Kv
            ) {
                assert!(d.key.is_some(), "{} needs a key", d.id);
            }
        }
        for id in [
            "postgresql",
            "redis",
            "mysql",
            "memcached",
            "nginx",
            "haproxy",
            "mongodb",
            "elasticsearch",
            "docker-proxy",
            "dockerd",
            "node",
            "python-http-server",
            "vite",
            "jupyter",
            "grafana",
            "prometheus",
            "node-exporter",
            "cups",
            "rails",
            "django",
            "flask",
            "sshd",
            "dnsmasq",
            "systemd-resolved",
            "avahi",
            "containerd",
            "kubelet",
            "minio",
            "rabbitmq",
            "epmd",
            "kafka",
            "zookeeper",
            "etcd",
            "consul",
            "vault",
            "vscode-server",
            "jupyter-kernel",
        ] {
            assert!(ids.contains(&id.to_owned()), "missing {id}");
        }
    }
}
