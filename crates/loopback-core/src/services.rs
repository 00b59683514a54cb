//! Naming the real service behind a listener, where its bind address is set, and the exact
//! change that binds it to loopback.
//!
//! The knowledge is data (`data/services.toml`, compiled in); this module matches processes
//! against it, finds the configuration file the process runs with, and reads the current value.
//! Files are read as the process sees them ([`SystemView::read_process_file`]): inside its
//! root, with its owner's rights, bounded; a file that was refused becomes a warning.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use loopback_model::{IdentifiedBy, ServiceInfo};
use loopback_sys::{ProcessInfo, SysError, SystemView};
use serde::Deserialize;

const TABLE: &str = include_str!("../data/services.toml");

/// How a service's current bind address is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reader {
    Postgresql,
    Directive,
    Nginx,
    Ini,
    Yaml,
    Args,
}

/// One `[[service]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceDef {
    pub id: String,
    pub name: String,
    pub processes: Vec<String>,
    #[serde(default)]
    pub args_contain: Option<String>,
    pub ports: Vec<u16>,
    pub setting: String,
    pub default: String,
    pub reader: Reader,
    #[serde(default)]
    pub key: Option<String>,
    #[serde(default)]
    pub section: Option<String>,
    pub flags: Vec<String>,
    pub config_flags: Vec<String>,
    #[serde(default)]
    pub config_dir_flags: Vec<String>,
    #[serde(default)]
    pub config_dir_file: Option<String>,
    pub config_paths: Vec<String>,
    #[serde(default)]
    pub port_key: Option<String>,
    #[serde(default)]
    pub default_port: Option<u16>,
    pub fix: String,
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
fn words(p: &ProcessInfo) -> Vec<String> {
    match p.argv.as_slice() {
        [title] if title.contains(' ') => title.split_whitespace().map(str::to_owned).collect(),
        argv => argv.to_vec(),
    }
}

fn base(s: &str) -> &str {
    let s = s.trim_end_matches(':');
    s.rsplit('/').next().unwrap_or(s)
}

fn matches(def: &ServiceDef, p: &ProcessInfo) -> bool {
    let w = words(p);
    let argv0 = w.first().map(|a| base(a)).unwrap_or("");
    let named = def.processes.iter().any(|n| n == &p.comm || n == argv0);
    named
        && def
            .args_contain
            .as_ref()
            .is_none_or(|needle| w.iter().skip(1).any(|a| a.contains(needle.as_str())))
}

/// The value of a command-line flag: `-f VALUE`, `-f=VALUE`, `--flag=VALUE`, or a `-c`-style
/// `name=VALUE` argument (PostgreSQL's `-c config_file=…`). The last occurrence wins.
pub fn flag_value(words: &[String], flag: &str) -> Option<String> {
    let mut found = None;
    for (i, a) in words.iter().enumerate() {
        if a == flag {
            if let Some(v) = words.get(i + 1) {
                found = Some(v.clone());
            }
        } else if let Some(v) = a.strip_prefix(flag).and_then(|r| r.strip_prefix('=')) {
            found = Some(v.to_owned());
        }
    }
    found
}

fn unquote(v: &str) -> String {
    v.trim().trim_matches(|c| c == '\'' || c == '"').to_owned()
}

fn strip_comment(line: &str) -> &str {
    let mut in_quote = None;
    for (i, c) in line.char_indices() {
        match (c, in_quote) {
            ('\'' | '"', None) => in_quote = Some(c),
            (q, Some(open)) if q == open => in_quote = None,
            ('#', None) => return &line[..i],
            _ => {}
        }
    }
    line
}

/// `key = value` (or `key value`) as in postgresql.conf; the last one wins. (value, line)
pub fn kv_value(text: &str, key: &str) -> Option<(String, usize)> {
    let mut found = None;
    for (i, raw) in text.lines().enumerate() {
        let line = strip_comment(raw).trim();
        let Some(rest) = line.strip_prefix(key) else {
            continue;
        };
        if !rest.starts_with([' ', '\t', '=']) {
            continue;
        }
        let v = rest.trim_start().trim_start_matches('=');
        found = Some((unquote(v), i + 1));
    }
    found
}

/// Every `key value…` directive (case-insensitive key) with its line.
pub fn directives(text: &str, key: &str) -> Vec<(String, usize)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, raw)| {
            let line = strip_comment(raw).trim();
            let (k, v) = line.split_once(char::is_whitespace)?;
            k.eq_ignore_ascii_case(key)
                .then(|| (v.trim().trim_end_matches(';').trim().to_owned(), i + 1))
        })
        .collect()
}

/// `key = value` under `[section]`; the last one wins.
pub fn ini_value(text: &str, section: &str, key: &str) -> Option<(String, usize)> {
    let mut current = String::new();
    let mut found = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split([';', '#']).next().unwrap_or("").trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            current = name.trim().to_ascii_lowercase();
        } else if current == section {
            if let Some((k, v)) = line.split_once('=') {
                if k.trim().replace('_', "-") == key.replace('_', "-") {
                    found = Some((unquote(v), i + 1));
                }
            }
        }
    }
    found
}

/// A dotted key in simple YAML: `net:\n  bindIp: x` or a flat `network.host: x`.
pub fn yaml_value(text: &str, dotted: &str) -> Option<(String, usize)> {
    let want: Vec<&str> = dotted.split('.').collect();
    let mut path: Vec<(usize, String)> = Vec::new();
    let mut found = None;
    for (i, raw) in text.lines().enumerate() {
        let line = strip_comment(raw);
        if line.trim().is_empty() {
            continue;
        }
        let indent = line.len() - line.trim_start().len();
        let Some((k, v)) = line.trim().split_once(':') else {
            continue;
        };
        while path.last().is_some_and(|(d, _)| *d >= indent) {
            path.pop();
        }
        let mut full: Vec<String> = path.iter().map(|(_, k)| k.clone()).collect();
        full.extend(k.trim().split('.').map(str::to_owned));
        if full == want && !v.trim().is_empty() {
            found = Some((unquote(v), i + 1));
        }
        if v.trim().is_empty() {
            path.push((indent, k.trim().to_owned()));
        }
    }
    found
}

/// Everything identified about one listener's service.
#[derive(Debug, Clone)]
pub struct Identified {
    pub info: Arc<ServiceInfo>,
    pub fix: Arc<str>,
}

/// Identifies services, caching per process and per file, so an audit of many listeners reads
/// each configuration file once.
#[allow(missing_debug_implementations)] // holds a `&dyn SystemView`
pub struct Identifier<'a> {
    sys: &'a dyn SystemView,
    files: HashMap<(u32, String), Option<String>>,
    by_pid: HashMap<u32, Option<usize>>,
    warnings: Vec<String>,
}

impl<'a> Identifier<'a> {
    pub fn new(sys: &'a dyn SystemView) -> Self {
        Identifier {
            sys,
            files: HashMap::new(),
            by_pid: HashMap::new(),
            warnings: Vec::new(),
        }
    }

    /// A file as process `pid` sees it, read once per process and path. A file that exists
    /// but was refused (not a regular file, too large, unreadable by the process owner, too
    /// slow) becomes a warning; a missing file is normal (packaged paths are only guesses).
    fn read(&mut self, pid: u32, path: &str) -> Option<String> {
        let key = (pid, path.to_owned());
        if let Some(v) = self.files.get(&key) {
            return v.clone();
        }
        let v = match self.sys.read_process_file(pid, path) {
            Ok(b) => Some(String::from_utf8_lossy(&b).into_owned()),
            Err(SysError::Read { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                None
            }
            Err(e) => {
                self.warnings
                    .push(format!("pid {pid}: configuration file not read: {e}"));
                None
            }
        };
        self.files.insert(key, v.clone());
        v
    }

    /// Warnings about configuration files that were not read, and why.
    pub fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// Identify the service behind a listener on `port` held by `owners` (in pid order).
    pub fn identify(
        &mut self,
        owners: &[&ProcessInfo],
        port: u16,
        address: std::net::IpAddr,
    ) -> Option<Identified> {
        let defs = table();
        for p in owners {
            let idx = *self
                .by_pid
                .entry(p.pid)
                .or_insert_with(|| defs.iter().position(|d| matches(d, p)));
            if let Some(i) = idx {
                return Some(self.describe(&defs[i], Some(p), port, address));
            }
        }
        let i = defs.iter().position(|d| d.ports.contains(&port))?;
        Some(self.describe(&defs[i], None, port, address))
    }

    fn config_file(
        &mut self,
        def: &ServiceDef,
        p: &ProcessInfo,
        port: u16,
    ) -> (Option<String>, Option<String>) {
        let w = words(p);
        for f in &def.config_flags {
            if let Some(path) = flag_value(&w, f) {
                let text = self.read(p.pid, &path);
                return (Some(path), text);
            }
        }
        if let Some(file) = &def.config_dir_file {
            for f in &def.config_dir_flags {
                if let Some(dir) = flag_value(&w, f) {
                    let path = format!("{}/{file}", dir.trim_end_matches('/'));
                    let text = self.read(p.pid, &path);
                    return (Some(path), text);
                }
            }
        }
        for path in &def.config_paths {
            let Some(text) = self.read(p.pid, path) else {
                continue;
            };
            // A packaged file counts only when the port it sets is the one in use.
            if let Some(key) = &def.port_key {
                let set = match def.reader {
                    Reader::Ini => {
                        ini_value(&text, def.section.as_deref().unwrap_or(""), key).map(|v| v.0)
                    }
                    _ => directives(&text, key).last().map(|v| v.0.clone()),
                };
                let set = set
                    .and_then(|v| v.split_whitespace().next()?.parse::<u16>().ok())
                    .or(def.default_port);
                if set != Some(port) {
                    continue;
                }
            }
            return (Some(path.clone()), Some(text));
        }
        (None, None)
    }

    fn describe(
        &mut self,
        def: &ServiceDef,
        p: Option<&ProcessInfo>,
        port: u16,
        address: std::net::IpAddr,
    ) -> Identified {
        let (config_file, text) = match p {
            Some(p) => self.config_file(def, p, port),
            None => (None, None),
        };
        let mut current: Option<(String, String)> = None;
        if let Some(p) = p {
            let w = words(p);
            for f in &def.flags {
                if let Some(v) = flag_value(&w, f) {
                    current = Some((v, format!("command line ({f})")));
                }
            }
        }
        if current.is_none() {
            if let (Some(text), Some(key), Some(path)) = (&text, &def.key, &config_file) {
                let at = |line: usize| format!("{path}:{line}");
                current = match def.reader {
                    Reader::Postgresql => {
                        // postgresql.auto.conf (ALTER SYSTEM) beats postgresql.conf.
                        let auto = path
                            .rsplit_once('/')
                            .map(|(d, _)| format!("{d}/postgresql.auto.conf"));
                        let auto_v = auto.as_ref().and_then(|a| {
                            let pid = p.map_or(0, |p| p.pid);
                            let t = self.read(pid, a)?;
                            kv_value(&t, key).map(|(v, l)| (v, format!("{a}:{l}")))
                        });
                        auto_v.or_else(|| kv_value(text, key).map(|(v, l)| (v, at(l))))
                    }
                    Reader::Directive | Reader::Nginx => {
                        let all = directives(text, key);
                        let port_s = port.to_string();
                        all.iter()
                            .rev()
                            .find(|(v, _)| v.split([':', ' ']).any(|t| t == port_s))
                            .or(all.last())
                            .map(|(v, l)| (v.clone(), at(*l)))
                    }
                    Reader::Ini => ini_value(text, def.section.as_deref().unwrap_or(""), key)
                        .map(|(v, l)| (v, at(l))),
                    Reader::Yaml => yaml_value(text, key).map(|(v, l)| (v, at(l))),
                    Reader::Args => None,
                };
            }
        }
        // Values taken from a command line or a file another user controls are redacted like
        // command lines before they reach any output.
        let config_file = config_file.map(|c| crate::redact::redact_text(&c));
        let current = current.map(|(v, from)| (crate::redact::redact_text(&v), from));
        let fix = def
            .fix
            .replace(
                "{config}",
                config_file.as_deref().unwrap_or("its configuration file"),
            )
            .replace("{port}", &port.to_string())
            .replace("{current}", current.as_ref().map_or("", |c| c.0.as_str()));
        let observed = std::net::SocketAddr::new(address, port);
        let info = ServiceInfo {
            id: def.id.clone(),
            name: def.name.clone(),
            identified_by: if p.is_some() {
                IdentifiedBy::Process
            } else {
                IdentifiedBy::Port
            },
            config_file,
            setting: def.setting.clone(),
            current: current.as_ref().map(|c| c.0.clone()),
            current_from: Some(
                current.map_or_else(|| format!("observed: listening on {observed}"), |c| c.1),
            ),
            default: def.default.clone(),
        };
        Identified {
            info: Arc::new(info),
            fix: fix.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::FakeSystem;

    fn proc_(pid: u32, comm: &str, argv: &[&str]) -> ProcessInfo {
        ProcessInfo {
            pid,
            comm: comm.into(),
            euid: Some(0),
            argv: argv.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn table_parses_and_every_entry_is_complete() {
        let t = table();
        assert!(t.len() >= 20, "{} entries", t.len());
        let mut ids = std::collections::HashSet::new();
        for d in t {
            assert!(ids.insert(&d.id), "duplicate id {}", d.id);
            assert!(!d.processes.is_empty() && !d.setting.is_empty(), "{}", d.id);
            let names_loopback = ["127.0.0.1", "localhost", "_local_"]
                .iter()
                .any(|l| d.fix.contains(l));
            assert!(
                names_loopback,
                "{}: the fix must name the loopback value",
                d.id
            );
            if matches!(
                d.reader,
                Reader::Postgresql | Reader::Directive | Reader::Nginx | Reader::Ini | Reader::Yaml
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
        ] {
            assert!(ids.contains(&id.to_owned()), "missing {id}");
        }
    }

    #[test]
    fn identifies_interpreters_by_arguments_and_specific_before_general() {
        let sys = FakeSystem::lan();
        let mut id = Identifier::new(&sys);
        let ip = "0.0.0.0".parse().expect("ip");
        let vite = proc_(
            1,
            "node",
            &["node", "/app/node_modules/.bin/vite", "--host"],
        );
        assert_eq!(
            id.identify(&[&vite], 5173, ip)
                .map(|i| i.info.id.clone())
                .as_deref(),
            Some("vite")
        );
        let node = proc_(2, "node", &["node", "server.js"]);
        assert_eq!(
            id.identify(&[&node], 3000, ip)
                .map(|i| i.info.id.clone())
                .as_deref(),
            Some("node")
        );
        let http = proc_(
            3,
            "python3",
            &["python3", "-m", "http.server", "--bind", "0.0.0.0", "8000"],
        );
        let i = id.identify(&[&http], 8000, ip).expect("http.server");
        assert_eq!(i.info.id, "python-http-server");
        assert_eq!(i.info.current.as_deref(), Some("0.0.0.0"));
        assert_eq!(
            &*i.fix,
            "run it as `python3 -m http.server --bind 127.0.0.1 8000`"
        );
        let django = proc_(
            4,
            "python3",
            &["python3", "manage.py", "runserver", "0.0.0.0:8000"],
        );
        assert_eq!(
            id.identify(&[&django], 8000, ip)
                .map(|i| i.info.id.clone())
                .as_deref(),
            Some("django")
        );
        let prom = proc_(
            5,
            "prometheus",
            &["/usr/bin/prometheus", "--web.listen-address=:9090"],
        );
        let i = id.identify(&[&prom], 9090, ip).expect("prometheus");
        assert_eq!(i.info.current.as_deref(), Some(":9090"));
        assert!(i.fix.contains("--web.listen-address=127.0.0.1:9090"));
        let proxy = proc_(
            6,
            "docker-proxy",
            &[
                "/usr/bin/docker-proxy",
                "-proto",
                "tcp",
                "-host-ip",
                "0.0.0.0",
                "-host-port",
                "8080",
            ],
        );
        let i = id.identify(&[&proxy], 8080, ip).expect("docker-proxy");
        assert!(i.fix.contains("-p 127.0.0.1:8080:CONTAINER_PORT"));
    }

    #[test]
    fn unknown_process_falls_back_to_the_port_and_says_so() {
        let sys = FakeSystem::lan();
        let mut id = Identifier::new(&sys);
        let p = proc_(7, "weird", &["weird"]);
        let i = id
            .identify(&[&p], 6379, "0.0.0.0".parse().expect("ip"))
            .expect("port fallback");
        assert_eq!(
            (i.info.id.as_str(), i.info.identified_by.as_str()),
            ("redis", "port")
        );
        assert!(i.info.config_file.is_none());
        assert!(id
            .identify(&[&p], 49999, "0.0.0.0".parse().expect("ip"))
            .is_none());
    }

    #[test]
    fn config_from_the_command_line_as_the_process_sees_it() {
        let mut sys = FakeSystem::lan();
        sys.files.insert(
            "/proc/40/root/srv/pg/data/postgresql.conf".into(),
            b"# listen_addresses = 'localhost'\nlisten_addresses = '*'   # all\nport = 5433\n"
                .to_vec(),
        );
        sys.files.insert(
            "/proc/50/root/etc/nginx/nginx.conf".into(),
            b"http {\n server {\n  listen 8080;\n  listen 8443 ssl;\n }\n}\n".to_vec(),
        );
        let mut id = Identifier::new(&sys);
        let ip = "0.0.0.0".parse().expect("ip");
        let pg = proc_(
            40,
            "postgres",
            &["/usr/lib/postgresql/15/bin/postgres", "-D", "/srv/pg/data"],
        );
        let i = id.identify(&[&pg], 5433, ip).expect("pg");
        assert_eq!(
            i.info.config_file.as_deref(),
            Some("/srv/pg/data/postgresql.conf")
        );
        assert_eq!(i.info.current.as_deref(), Some("*"));
        assert_eq!(
            i.info.current_from.as_deref(),
            Some("/srv/pg/data/postgresql.conf:2")
        );
        assert!(i
            .fix
            .starts_with("set `listen_addresses = 'localhost'` in /srv/pg/data/postgresql.conf"));
        let ng = proc_(
            50,
            "nginx",
            &["nginx: master process /usr/sbin/nginx -c /etc/nginx/nginx.conf"],
        );
        let i = id.identify(&[&ng], 8443, ip).expect("nginx");
        assert_eq!(i.info.current.as_deref(), Some("8443 ssl"));
        assert_eq!(
            i.info.current_from.as_deref(),
            Some("/etc/nginx/nginx.conf:4")
        );
        assert!(i.fix.contains("listen 127.0.0.1:8443;"));
    }

    #[test]
    fn packaged_config_only_when_its_port_matches() {
        let mut sys = FakeSystem::lan();
        sys.files.insert(
            "/proc/60/root/etc/redis/redis.conf".into(),
            b"bind 0.0.0.0 ::\nport 6390\nprotected-mode no\n".to_vec(),
        );
        let mut id = Identifier::new(&sys);
        let ip = "0.0.0.0".parse().expect("ip");
        let redis = proc_(60, "redis-server", &["redis-server 0.0.0.0:6390"]);
        let i = id.identify(&[&redis], 6390, ip).expect("redis");
        assert_eq!(i.info.config_file.as_deref(), Some("/etc/redis/redis.conf"));
        assert_eq!(i.info.current.as_deref(), Some("0.0.0.0 ::"));
        let mut id = Identifier::new(&sys);
        let other = proc_(60, "redis-server", &["redis-server 0.0.0.0:7000"]);
        let i = id.identify(&[&other], 7000, ip).expect("redis");
        assert!(
            i.info.config_file.is_none(),
            "a file for port 6390 is not this server's"
        );
        assert_eq!(
            i.info.current_from.as_deref(),
            Some("observed: listening on 0.0.0.0:7000")
        );
    }

    #[test]
    fn readers() {
        assert_eq!(
            kv_value(
                "listen_addresses='a' # x\nlisten_addresses = \"b\"\n",
                "listen_addresses"
            ),
            Some(("b".into(), 2))
        );
        assert_eq!(
            kv_value("listen_addresses_x = 1\n", "listen_addresses"),
            None
        );
        assert_eq!(
            ini_value(
                "[client]\nbind-address=1\n[mysqld]\nbind_address = 0.0.0.0\n",
                "mysqld",
                "bind-address"
            ),
            Some(("0.0.0.0".into(), 4))
        );
        assert_eq!(
            yaml_value(
                "net:\n  port: 27017\n  bindIp: 0.0.0.0  # all\n",
                "net.bindIp"
            ),
            Some(("0.0.0.0".into(), 3))
        );
        assert_eq!(
            yaml_value("network.host: 0.0.0.0\n", "network.host"),
            Some(("0.0.0.0".into(), 1))
        );
        assert_eq!(
            directives(
                "Listen localhost:631\nlisten /run/cups/cups.sock\n",
                "listen"
            )
            .len(),
            2
        );
        assert_eq!(
            flag_value(&["-c".into(), "config_file=/x".into()], "config_file"),
            Some("/x".into())
        );
        assert_eq!(
            flag_value(
                &["-l".into(), "1.2.3.4".into(), "-l".into(), "::".into()],
                "-l"
            ),
            Some("::".into())
        );
    }
}
