//! Identifying the service behind a listener, its configuration file and current bind value,
//! and the exact fix. Files come through [`ConfigFiles`]: live from the system while a snapshot
//! is captured ([`capture_files`]), from the snapshot when it is judged, so both see the same
//! bytes.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;

use loopback_model::{BoundSocket, IdentifiedBy, ServiceInfo};
use loopback_sys::{OwnerScan, ProcessInfo, SystemView};

use super::ask::{self, Ask};
use super::readers::{directives, flag_value, ini_value, kv_value, yaml_value};
use super::table::{matches, table, words, Reader, ServiceDef};
use crate::snapshot::{FileRead, ServiceFiles};

/// Where configuration files come from: a snapshot, or the system while one is captured.
pub trait ConfigFiles {
    /// The file at `path` as process `pid` sees it.
    fn read(&self, pid: u32, path: &str) -> FileRead;
    /// The answer of process `pid`'s service to `ask` at `addr` (kept under [`ask::key`]).
    fn ask(&self, pid: u32, ask: Ask, addr: SocketAddr) -> FileRead {
        self.read(pid, &ask::key(ask, addr))
    }
}

impl ConfigFiles for ServiceFiles {
    /// A file the capture did not read is missing to the judgment too.
    fn read(&self, pid: u32, path: &str) -> FileRead {
        self.get(&pid)
            .and_then(|m| m.get(path))
            .cloned()
            .unwrap_or(FileRead::Missing)
    }
}

/// Reads files from the system and records what it read, for the snapshot.
#[allow(missing_debug_implementations)] // holds a `&dyn SystemView`
pub struct LiveFiles<'a> {
    sys: &'a dyn SystemView,
    seen: RefCell<ServiceFiles>,
}

impl<'a> LiveFiles<'a> {
    /// Read through `sys`.
    pub fn new(sys: &'a dyn SystemView) -> Self {
        LiveFiles {
            sys,
            seen: RefCell::new(ServiceFiles::new()),
        }
    }

    /// What was read.
    pub fn into_files(self) -> ServiceFiles {
        self.seen.into_inner()
    }
}

impl ConfigFiles for LiveFiles<'_> {
    fn ask(&self, pid: u32, ask: Ask, addr: SocketAddr) -> FileRead {
        let r = match self
            .sys
            .ask_local_service(addr, ask.request(), ask.complete())
        {
            Ok(b) => FileRead::Text(String::from_utf8_lossy(&b).into_owned()),
            Err(e) => FileRead::Refused(e.to_string()),
        };
        self.seen
            .borrow_mut()
            .entry(pid)
            .or_default()
            .insert(ask::key(ask, addr), r.clone());
        r
    }

    fn read(&self, pid: u32, path: &str) -> FileRead {
        let r = match self.sys.read_process_file(pid, path) {
            Ok(b) => FileRead::Text(String::from_utf8_lossy(&b).into_owned()),
            Err(e) if e.is_not_found() => FileRead::Missing,
            Err(e) => FileRead::Refused(e.to_string()),
        };
        self.seen
            .borrow_mut()
            .entry(pid)
            .or_default()
            .insert(path.to_owned(), r.clone());
        r
    }
}

/// Read the configuration files the services behind `sockets` run with: the same
/// identification the judgment runs, reading live and recording every file it opens.
pub fn capture_files(
    sys: &dyn SystemView,
    sockets: &[BoundSocket],
    owners: &OwnerScan,
) -> ServiceFiles {
    let live = LiveFiles::new(sys);
    {
        let mut ident = Identifier::new(&live);
        // Identification depends on the holders and the port (the address only words the
        // observation), so each pair is identified once.
        let mut done: HashSet<(&[u32], u16)> = HashSet::new();
        for sock in sockets {
            let pids = owners
                .holders
                .get(&sock.inode)
                .map_or(&[][..], Vec::as_slice);
            if pids.is_empty() || !done.insert((pids, sock.port)) {
                continue;
            }
            let procs: Vec<&ProcessInfo> = pids
                .iter()
                .filter_map(|p| owners.processes.get(p))
                .collect();
            let _ = ident.identify(&procs, sock.port, sock.address);
        }
    }
    live.into_files()
}

/// Everything identified about one listener's service.
#[derive(Debug, Clone)]
pub struct Identified {
    /// What was found.
    pub info: Arc<ServiceInfo>,
    /// The exact change that binds it to loopback.
    pub fix: Arc<str>,
}

/// Identifies services, caching per process and per file, so an audit of many listeners reads
/// each configuration file once.
#[allow(missing_debug_implementations)] // holds a `&dyn ConfigFiles`
pub struct Identifier<'a> {
    files_from: &'a dyn ConfigFiles,
    files: HashMap<(u32, String), Option<String>>,
    by_pid: HashMap<u32, Option<usize>>,
    warnings: Vec<String>,
}

impl<'a> Identifier<'a> {
    /// Identify with files from `files_from`.
    pub fn new(files_from: &'a dyn ConfigFiles) -> Self {
        Identifier {
            files_from,
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
        let v = match self.files_from.read(pid, path) {
            FileRead::Text(t) => Some(t),
            FileRead::Missing => None,
            FileRead::Refused(e) => {
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
        let mut found = self.describe(&defs[i], None, port, address);
        // Only the port says so: the fix is a hypothesis, worded as one.
        let who = owners
            .first()
            .map(|p| format!(", and the process is {}", p.comm))
            .unwrap_or_default();
        found.fix = format!(
            "if this is {} (only its port, {port}, suggests it{who}): {}; otherwise bind the program to 127.0.0.1 (or ::1)",
            defs[i].name, found.fix
        )
        .into();
        Some(found)
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
                    Reader::Kv => kv_value(&text, key).map(|v| v.0),
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
            // Of several flags (etcd's client and peer URLs), the one naming this port.
            let found: Vec<(String, String)> = def
                .flags
                .iter()
                .filter_map(|f| flag_value(&w, f).map(|v| (v, format!("command line ({f})"))))
                .collect();
            let port_s = format!(":{port}");
            current = found
                .iter()
                .find(|(v, _)| {
                    v.split(',')
                        .any(|u| u.trim_end_matches('/').ends_with(&port_s))
                })
                .or(found.last())
                .cloned();
        }
        let from_command_line = current.is_some();
        // What the running server says, where it tells without credentials.
        let running = match (def.ask, p) {
            (Some(q), Some(p)) => {
                let at = ask::ask_at(address, port);
                match self.files_from.ask(p.pid, q, at) {
                    FileRead::Text(t) => Some(ask::parse(q, t.as_bytes())),
                    FileRead::Refused(e) => Some(Err(e)),
                    FileRead::Missing => None,
                }
            }
            _ => None,
        };
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
                    Reader::Kv => kv_value(text, key).map(|(v, l)| (v, at(l))),
                    Reader::Args => None,
                };
            }
        }
        // The file's value, when it contradicts the running server or the socket: then the file
        // is not what the process runs with, and the fix says so instead of repeating it.
        let contradiction = match (&current, from_command_line) {
            (Some((v, from)), false) => {
                let said = format!(
                    "{from} says `{} {v}`",
                    def.key.as_deref().unwrap_or(&def.setting)
                );
                match &running {
                    Some(Ok(r)) if r != v => Some(format!(
                        "{said}, but the running server answers `{r}` to {}",
                        def.ask.map_or("", Ask::shown)
                    )),
                    _ if ask::admits(v, address) == Some(false) => Some(format!(
                        "{said}, but the process listens on {}",
                        std::net::SocketAddr::new(address, port)
                    )),
                    _ => None,
                }
            }
            _ => None,
        };
        let unanswered = match &running {
            Some(Err(why)) => Some(why.clone()),
            _ => None,
        };
        if let Some(Ok(r)) = running {
            current = Some((
                r,
                format!("the running server ({})", def.ask.map_or("", Ask::shown)),
            ));
        }
        // Values taken from a command line, a file or a server another user controls are
        // redacted like command lines before they reach any output.
        let config_file = config_file.map(|c| crate::redact::redact_text(&c));
        let current = current.map(|(v, from)| (crate::redact::redact_text(&v), from));
        let contradiction = contradiction.map(|c| crate::redact::redact_text(&c));
        // When the file found contradicts what runs, the change goes into the file the process
        // really runs with, which is not known.
        let fix_config = match (&contradiction, config_file.as_deref()) {
            (Some(_), _) => "the file it runs with",
            (None, Some(c)) => c,
            (None, None) => "its configuration file",
        };
        let fix = def
            .fix
            .replace("{config}", fix_config)
            .replace("{port}", &port.to_string())
            .replace("{current}", current.as_ref().map_or("", |c| c.0.as_str()))
            // docker-proxy names the container's port on its command line.
            .replace(
                "{container_port}",
                p.and_then(|p| crate::publications::flag(&p.argv, "container-port"))
                    .filter(|v| v.parse::<u16>().is_ok())
                    .unwrap_or("CONTAINER_PORT"),
            );
        let check = def
            .runtime_check
            .as_ref()
            .map(|c| c.replace("{port}", &port.to_string()));
        let fix = match contradiction {
            Some(c) => format!(
                "{c}: it was started with another file, or the setting was changed at run time{}. Find which, then: {}",
                match (&check, &unanswered) {
                    (Some(cmd), Some(why)) => format!(" (the server did not answer {}: {why}; `{cmd}` with its credentials tells)", def.ask.map_or("", Ask::shown)),
                    (Some(cmd), None) => format!(" (`{cmd}` shows the running value)"),
                    _ => String::new(),
                },
                fix
            ),
            None => fix,
        };
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
            cgroup: None,
            user: None,
        }
    }

    #[test]
    fn identifies_interpreters_by_arguments_and_specific_before_general() {
        let sys = FakeSystem::lan();
        let live = LiveFiles::new(&sys);
        let mut id = Identifier::new(&live);
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
        let mut known = proxy.clone();
        known
            .argv
            .extend(["-container-ip", "172.17.0.2", "-container-port", "80"].map(String::from));
        let i = id.identify(&[&known], 8080, ip).expect("docker-proxy");
        assert!(i.fix.contains("-p 127.0.0.1:8080:80`"), "{}", i.fix);
    }

    #[test]
    fn unknown_process_falls_back_to_the_port_and_says_so() {
        let sys = FakeSystem::lan();
        let live = LiveFiles::new(&sys);
        let mut id = Identifier::new(&live);
        let p = proc_(7, "weird", &["weird"]);
        let i = id
            .identify(&[&p], 6379, "0.0.0.0".parse().expect("ip"))
            .expect("port fallback");
        assert_eq!(
            (i.info.id.as_str(), i.info.identified_by.as_str()),
            ("redis", "port")
        );
        assert!(i.info.config_file.is_none());
        assert!(
            i.fix.starts_with(
                "if this is Redis (only its port, 6379, suggests it, and the process is weird): "
            ),
            "{}",
            i.fix
        );
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
        let live = LiveFiles::new(&sys);
        let mut id = Identifier::new(&live);
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
        let live = LiveFiles::new(&sys);
        let mut id = Identifier::new(&live);
        let ip = "0.0.0.0".parse().expect("ip");
        let redis = proc_(60, "redis-server", &["redis-server 0.0.0.0:6390"]);
        let i = id.identify(&[&redis], 6390, ip).expect("redis");
        assert_eq!(i.info.config_file.as_deref(), Some("/etc/redis/redis.conf"));
        assert_eq!(i.info.current.as_deref(), Some("0.0.0.0 ::"));
        let live = LiveFiles::new(&sys);
        let mut id = Identifier::new(&live);
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
}
