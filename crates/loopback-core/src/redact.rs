//! Redacting secrets from command lines before they reach any output.
//!
//! Servers are routinely started with credentials on the command line (`redis-server
//! --requirepass …`, `postgres://user:pass@host`, `PGPASSWORD=…`, `mysql -p…`), and any local
//! user can start a process whose title holds anything. Everything the tool prints about a
//! command line goes through [`redact_argv`]; it errs on the side of hiding too much.
//!
//! Redaction is by shape, not by a list of examples. Every argument is split into words (any
//! white space), so a secret inside one argument (`sh -c "srv --password X"`, a rewritten
//! title) is found like a separate one, and each word is read as:
//! - a flag: `--NAME VALUE`, `--NAME=VALUE`, `-NAME VALUE`; a value of `KEY=VALUE` shape is read
//!   again (`--env=DB_PASSWORD=X`);
//! - a pair anywhere in a word: `NAME=VALUE`, `NAME:VALUE`, `"NAME": "VALUE"`, query parameters;
//!   a pair whose value is the next word (`password: X`);
//! - a URL's user information of any shape (`user:pass@`, `token@`);
//! - an HTTP header (`Authorization: Bearer X`, `Cookie: …`): the rest of its argument;
//! - a program's short password flags (`mysql -pX`, `redis-cli -a X`, `sshpass -p X`).
//!
//! What counts as a secret name, the header schemes, the `USER:PASSWORD` flags and the
//! programs are rows of `data/redaction.toml`, each with an example that a test checks.

use std::sync::OnceLock;

use serde::Deserialize;

/// What replaces a secret.
pub const REDACTED: &str = "<redacted>";

const TABLE: &str = include_str!("../data/redaction.toml");

/// A secret name: a substring (`contains`) or a whole part (`part`) of a lower-cased name.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NameRule {
    #[serde(default)]
    /// Only names containing this word.
    pub contains: Option<String>,
    #[serde(default)]
    /// Which part of the value is secret.
    pub part: Option<String>,
    /// Examples with `{S}` for the secret, checked by a test.
    pub example: Vec<String>,
}

/// A word after which the next word is a credential (`Bearer`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SchemeRule {
    /// The word.
    pub word: String,
    /// Examples with `{S}` for the secret, checked by a test.
    pub example: Vec<String>,
}

/// A flag whose value is `USER:PASSWORD`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserFlagRule {
    /// The flag.
    pub flag: String,
    /// Examples with `{S}` for the secret, checked by a test.
    pub example: Vec<String>,
}

/// A program whose short flag carries a password.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramRule {
    /// The program (its base name starts with this).
    pub prefix: String,
    /// Its short flag that takes a secret.
    pub flag: String,
    /// The secret may be attached (`-pSECRET`).
    pub attached: bool,
    /// The secret may be the next word (`-p SECRET`).
    pub separate: bool,
    /// Examples with `{S}` for the secret, checked by a test.
    pub example: Vec<String>,
}

/// A command-line shape for the property test.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShapeRule {
    /// Examples with `{S}` for the secret, checked by a test.
    pub example: Vec<String>,
}

/// The redaction table.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    #[serde(default)]
    /// Secret-bearing names (`password`, `token`, ...).
    pub name: Vec<NameRule>,
    #[serde(default)]
    /// URL schemes whose userinfo is secret.
    pub scheme: Vec<SchemeRule>,
    #[serde(default)]
    /// `user:password` flags.
    pub user_flag: Vec<UserFlagRule>,
    #[serde(default)]
    /// Per-program short flags.
    pub program: Vec<ProgramRule>,
    #[serde(default)]
    /// Values secret by their shape alone.
    pub shape: Vec<ShapeRule>,
}

impl Table {
    /// Every example in the table, rules and shapes, with `{S}` where the secret goes.
    pub fn examples(&self) -> Vec<&[String]> {
        let mut out: Vec<&[String]> = Vec::new();
        out.extend(self.name.iter().map(|r| r.example.as_slice()));
        out.extend(self.scheme.iter().map(|r| r.example.as_slice()));
        out.extend(self.user_flag.iter().map(|r| r.example.as_slice()));
        out.extend(self.program.iter().map(|r| r.example.as_slice()));
        out.extend(self.shape.iter().map(|r| r.example.as_slice()));
        out
    }
}

/// The compiled-in table; empty (and a failing unit test) if it does not parse.
pub fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(|| toml::from_str(TABLE).unwrap_or_default())
}

/// Whether a flag, key or header name names a secret.
pub fn is_secret_name(name: &str) -> bool {
    let name = name
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_ascii_lowercase();
    // Boolean negations such as --no-password take no value.
    if name.is_empty() || name.starts_with("no-") || name.starts_with("no_") {
        return false;
    }
    let t = table();
    t.name.iter().any(|r| {
        r.contains.as_deref().is_some_and(|c| name.contains(c))
            || r.part
                .as_deref()
                .is_some_and(|p| name.split(['-', '_', '.']).any(|part| part == p))
    })
}

/// Whether `name` starts with a secret word or part (`password…`, `token…`, `key…`).
fn starts_secret(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    table().name.iter().any(|r| {
        r.contains.as_deref().is_some_and(|c| name.starts_with(c))
            || r.part.as_deref().is_some_and(|p| {
                name.split(['-', '_', '.'])
                    .next()
                    .is_some_and(|first| first == p)
            })
    })
}

fn is_scheme(word: &str) -> bool {
    table()
        .scheme
        .iter()
        .any(|s| word.eq_ignore_ascii_case(&s.word))
}

fn is_user_flag(flag: &str) -> bool {
    table().user_flag.iter().any(|u| u.flag == flag)
}

fn program_rule(word: &str) -> Option<&'static ProgramRule> {
    let base = word.rsplit('/').next().unwrap_or(word);
    table().program.iter().find(|p| base.starts_with(&p.prefix))
}

const QUOTES: &[char] = &['"', '\'', '`'];

/// Key characters of a `NAME=VALUE` pair.
fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// Where an unquoted value ends.
fn is_value_end(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b'&' | b',' | b';' | b'}' | b')' | b']' | b'"' | b'\'')
}

/// Hide the values of secret pairs inside `text`: `NAME=VALUE`, `NAME:VALUE`, `"NAME":"VALUE"`,
/// query parameters. Returns the text and whether it ends with a secret name and separator
/// whose value is the next word (`password:`).
pub fn redact_pairs(text: &str) -> (String, bool) {
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut dangling = false;
    let mut i = 0;
    while i < b.len() {
        if !is_key_byte(b[i]) || (i > 0 && is_key_byte(b[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && is_key_byte(b[i]) {
            i += 1;
        }
        let key = &text[start..i];
        let mut j = i;
        if j < b.len() && (b[j] == b'"' || b[j] == b'\'') {
            j += 1;
        }
        if j >= b.len() || (b[j] != b'=' && b[j] != b':') {
            continue;
        }
        let sep = b[j];
        j += 1;
        if sep == b':' && text[j..].starts_with("//") {
            continue; // a URL scheme; its user information is handled apart
        }
        let secret = is_secret_name(key);
        if j >= b.len() {
            dangling |= secret;
            break;
        }
        let quote = (b[j] == b'"' || b[j] == b'\'').then(|| b[j]);
        let vstart = j + usize::from(quote.is_some());
        let vend = match quote {
            Some(q) => b[vstart..]
                .iter()
                .position(|c| *c == q)
                .map_or(b.len(), |k| vstart + k),
            None => b[vstart..]
                .iter()
                .position(|c| is_value_end(*c))
                .map_or(b.len(), |k| vstart + k),
        };
        if secret && vend > vstart {
            out.push_str(&text[copied..vstart]);
            out.push_str(REDACTED);
            copied = vend;
            i = vend;
        } else if secret && quote.is_some() && vstart >= b.len() {
            dangling = true;
            i = vstart;
        } else {
            // Not secret: look for pairs inside the value too (`opts=password=x`).
            i = j;
        }
    }
    out.push_str(&text[copied..]);
    (out, dangling)
}

/// Hide the user information of every URL in `text`: the password of `user:password@`, the
/// whole of `token@`. A password may hold `/`, `?` or `#`; an `@` in a path (`http://host/a@b`)
/// is not user information unless what precedes it has a colon.
pub fn redact_urls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || QUOTES.contains(&c))
            .unwrap_or(tail.len());
        let url = &tail[..end];
        // The last `@` of the URL: a password may hold `@`, `/`, `?` or `#` unescaped.
        match url.rfind('@') {
            Some(at) if at > 0 => {
                let userinfo = &url[..at];
                if !userinfo.contains('/') || userinfo.contains(':') {
                    match userinfo.find(':') {
                        Some(colon) => {
                            out.push_str(&userinfo[..=colon]);
                            if colon + 1 < userinfo.len() {
                                out.push_str(REDACTED);
                            }
                        }
                        None => out.push_str(REDACTED),
                    }
                    out.push_str(&url[at..]);
                } else {
                    out.push_str(url);
                }
            }
            _ => out.push_str(url),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Redact free text that came from a command line (a flag's value shown elsewhere).
pub fn redact_text(text: &str) -> String {
    redact_pairs(&redact_urls(text)).0
}

/// What the next word is, given the words before it.
#[derive(Debug, Default)]
struct State {
    /// The next word is a secret.
    hide_next: bool,
    /// The next word is `USER:PASSWORD`.
    user_next: bool,
    /// The rest of this argument is a secret (after a secret header name).
    hide_rest: bool,
    /// Words hidden since `hide_rest` was set.
    hidden_in_rest: usize,
    /// The program whose short flags are being read.
    program: Option<&'static ProgramRule>,
}

impl State {
    fn word(&mut self, w: &str) -> String {
        if self.hide_rest {
            self.hidden_in_rest += 1;
            return REDACTED.to_owned();
        }
        let core = w.trim_matches(QUOTES);
        if self.hide_next {
            if is_scheme(core) {
                return w.to_owned(); // `Bearer` before the token: keep hiding after it
            }
            // A secret flag where a value was expected (`-xtoken --password X`): hidden as the
            // value, and its own value is hidden too.
            let flag_name = core.trim_start_matches('-').split('=').next().unwrap_or("");
            self.hide_next = core.starts_with('-') && is_secret_name(flag_name);
            return REDACTED.to_owned();
        }
        if self.user_next {
            self.user_next = false;
            // `-u --password X`: no user value came; read the flag as a flag.
            if !core.starts_with('-') {
                return hide_after_colon(w);
            }
        }
        if let Some(p) = program_rule(core) {
            self.program = Some(p);
            return w.to_owned();
        }
        if let Some(p) = self.program {
            if core == p.flag && p.separate {
                self.hide_next = true;
                return w.to_owned();
            }
            if p.attached && core.starts_with(&p.flag) && !core.starts_with("--") {
                return format!("{}{REDACTED}", p.flag);
            }
        }
        if core.len() > 1 && core.starts_with('-') {
            return self.flag(w, core);
        }
        // `Authorization:` and other secret header names: the rest of the argument.
        if let Some(name) = core.strip_suffix(':') {
            if is_secret_name(name) && !name.contains([':', '=']) {
                self.hide_rest = true;
                self.hidden_in_rest = 0;
                return w.to_owned();
            }
        }
        if is_scheme(core) {
            self.hide_next = true;
            return w.to_owned();
        }
        let (text, dangling) = redact_pairs(&redact_urls(w));
        self.hide_next |= dangling;
        text
    }

    fn flag(&mut self, w: &str, core: &str) -> String {
        let name_value = core.trim_start_matches('-');
        let dashes = &core[..core.len() - name_value.len()];
        let (name, value) = match name_value.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (name_value, None),
        };
        // `-pSECRET` of an unknown program: an attached short option whose value holds a
        // secret word (`-ppassword1`). Property flags (`-Dkey=value`) are read as pairs.
        if dashes == "-"
            && name.len() > 2
            && !name.starts_with('D')
            && is_secret_name(name)
            && !starts_secret(name)
        {
            self.hide_next = true;
            let first: String = name.chars().take(1).collect();
            return format!("-{first}{REDACTED}");
        }
        match value {
            Some(v) if is_secret_name(name) => {
                if v.is_empty() {
                    w.to_owned()
                } else {
                    format!("{dashes}{name}={REDACTED}")
                }
            }
            Some(v) if is_user_flag(&format!("{dashes}{name}")) => {
                format!("{dashes}{name}={}", hide_after_colon(v))
            }
            Some(v) => {
                // `--header=Authorization:` then the value in the following words.
                if let Some(h) = v.trim_matches(QUOTES).strip_suffix(':') {
                    if is_secret_name(h) {
                        self.hide_rest = true;
                        return w.to_owned();
                    }
                }
                let (text, dangling) = redact_pairs(&redact_urls(v));
                self.hide_next |= dangling;
                format!("{dashes}{name}={text}")
            }
            None if is_secret_name(name) => {
                self.hide_next = true;
                w.to_owned()
            }
            None if is_user_flag(core) => {
                self.user_next = true;
                w.to_owned()
            }
            None if dashes == "-" && core.get(..2).is_some_and(is_user_flag) && core.len() > 2 => {
                // `-uadmin:secret` (`get` keeps the split on a character boundary)
                let (flag, rest) = core.split_at(2);
                format!("{flag}{}", hide_after_colon(rest))
            }
            None => w.to_owned(),
        }
    }
}

fn hide_after_colon(v: &str) -> String {
    match v.split_once(':') {
        Some((user, pass)) if !pass.is_empty() => format!("{user}:{REDACTED}"),
        _ => v.to_owned(),
    }
}

/// Redact one argument; words keep the white space between them.
fn redact_arg(state: &mut State, arg: &str) -> String {
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    while !rest.is_empty() {
        let ws = rest.len() - rest.trim_start().len();
        out.push_str(&rest[..ws]);
        rest = &rest[ws..];
        if rest.is_empty() {
            break;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        out.push_str(&state.word(&rest[..end]));
        rest = &rest[end..];
    }
    // A header name that ends its argument: its value is the next argument.
    if state.hide_rest && state.hidden_in_rest == 0 {
        state.hide_next = true;
    }
    state.hide_rest = false;
    state.hidden_in_rest = 0;
    out
}

/// Redact one argument vector; `argv[0]` is the program.
pub fn redact(argv: &[String]) -> Vec<String> {
    let mut state = State::default();
    // argv[0] is read like the rest: a process chooses it, and a login shell's `-bash` is
    // harmless as a flag.
    argv.iter().map(|a| redact_arg(&mut state, a)).collect()
}

/// Redact and join an argument vector into one printable command line. Arguments holding
/// white space or nothing are single-quoted so the line stays readable.
pub fn redact_argv(argv: &[String]) -> String {
    let redacted = redact(argv);
    // A rewritten process title (one argument holding spaces) is shown as the process shows it.
    if let [title] = redacted.as_slice() {
        return title.clone();
    }
    redacted
        .iter()
        .map(|a| {
            if a.is_empty() || a.chars().any(char::is_whitespace) {
                format!("'{}'", a.replace('\'', "'\\''"))
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(args: &[&str]) -> String {
        redact_argv(&args.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    /// A secret that looks like real ones and appears nowhere else.
    fn secret(n: usize) -> String {
        format!("Zq9{}x7!K%", "mW4".repeat(n % 3 + 1))
    }

    fn fill(example: &[String], s: &str) -> Vec<String> {
        example.iter().map(|a| a.replace("{S}", s)).collect()
    }

    #[test]
    fn redacting_twice_changes_nothing() {
        // Snapshots hold redacted command lines and judgments redact again.
        for row in examples_for_idempotence() {
            let once = redact(&row);
            assert_eq!(redact(&once), once, "{row:?}");
        }
    }

    fn examples_for_idempotence() -> Vec<Vec<String>> {
        let t = table();
        let mut out = Vec::new();
        let all = t
            .name
            .iter()
            .flat_map(|r| &r.example)
            .chain(t.scheme.iter().flat_map(|r| &r.example))
            .chain(t.user_flag.iter().flat_map(|r| &r.example))
            .chain(t.program.iter().flat_map(|r| &r.example))
            .chain(t.shape.iter().flat_map(|r| &r.example));
        for e in all {
            let text = e.replace("{S}", "Zq8sEcretValue1");
            out.push(text.split(' ').map(str::to_owned).collect());
        }
        out
    }

    #[test]
    fn the_table_parses_and_every_row_hides_its_example() {
        let t = table();
        assert!(t.name.len() >= 20, "{} name rows", t.name.len());
        assert!(!t.program.is_empty() && !t.user_flag.is_empty() && !t.shape.is_empty());
        for row in &t.name {
            assert!(
                row.contains.is_some() != row.part.is_some(),
                "a name row has exactly one of contains/part: {:?}",
                row.example
            );
        }
        for (n, example) in t.examples().into_iter().enumerate() {
            assert!(
                example.iter().any(|a| a.contains("{S}")),
                "{example:?} has no {{S}}"
            );
            let s = secret(n);
            let out = redact_argv(&fill(example, &s));
            assert!(!out.contains(&s), "{example:?} leaks: {out}");
            assert!(out.contains(REDACTED), "{example:?}: {out}");
        }
    }

    #[test]
    fn flag_with_separate_value() {
        assert_eq!(
            r(&["redis-server", "*:6379", "--requirepass", "hunter2"]),
            "redis-server *:6379 --requirepass <redacted>"
        );
        assert_eq!(r(&["app", "--password", "-x"]), "app --password <redacted>");
        assert_eq!(r(&["vault", "-token", "s.abc"]), "vault -token <redacted>");
    }

    #[test]
    fn flag_with_equals() {
        assert_eq!(
            r(&["app", "--db-password=hunter2", "--port=80"]),
            "app --db-password=<redacted> --port=80"
        );
        assert_eq!(r(&["app", "--api-key=abc"]), "app --api-key=<redacted>");
        assert_eq!(
            r(&["redis-server", "--masterauth=x"]),
            "redis-server --masterauth=<redacted>"
        );
        assert_eq!(
            r(&["java", "-Dspring.datasource.password=x", "-jar", "a.jar"]),
            "java -Dspring.datasource.password=<redacted> -jar a.jar"
        );
    }

    #[test]
    fn urls_with_userinfo() {
        assert_eq!(
            r(&["worker", "--db", "postgres://u:p%40ss@db:5432/app"]),
            "worker --db postgres://u:<redacted>@db:5432/app"
        );
        assert_eq!(
            r(&["worker", "DATABASE=redis://:hunter2@127.0.0.1:6379/0"]),
            "worker DATABASE=redis://:<redacted>@127.0.0.1:6379/0"
        );
        // A user name alone may be a token (`https://ghp_…@github.com`): hidden too.
        assert_eq!(
            r(&["curl", "http://user@host/x"]),
            "curl http://<redacted>@host/x"
        );
        // An @ in a path is not user information.
        assert_eq!(r(&["curl", "http://host/a@b"]), "curl http://host/a@b");
        // A password may hold a slash.
        assert_eq!(
            r(&["w", "postgres://u:pa/ss@db/app"]),
            "w postgres://u:<redacted>@db/app"
        );
        // ... or a `#` or `?`, unescaped (found by the property test).
        assert_eq!(
            r(&["git", "clone", "https://ghp_A##=-0a~@127.0.0.1/org/repo"]),
            "git clone https://<redacted>@127.0.0.1/org/repo"
        );
        assert_eq!(r(&["w", "redis://:p?w#d@h:1"]), "w redis://:<redacted>@h:1");
    }

    #[test]
    fn key_values_and_conninfo() {
        assert_eq!(
            r(&["env", "PGPASSWORD=hunter2", "psql"]),
            "env PGPASSWORD=<redacted> psql"
        );
        assert_eq!(
            r(&["pgbouncer", "host=db password=hunter2 user=app"]),
            "pgbouncer 'host=db password=<redacted> user=app'"
        );
        assert_eq!(
            r(&["app", "https://h/x?user=u&password=p1&x=1"]),
            "app https://h/x?user=u&password=<redacted>&x=1"
        );
        assert_eq!(
            r(&["app", "{\"password\":\"p1\",\"port\":80}"]),
            "app {\"password\":\"<redacted>\",\"port\":80}"
        );
        assert_eq!(r(&["app", "password:", "p1"]), "app password: <redacted>");
    }

    #[test]
    fn inside_one_argument() {
        assert_eq!(
            r(&["sh", "-c", "srv --password p1 --port 80"]),
            "sh -c 'srv --password <redacted> --port 80'"
        );
        assert_eq!(r(&["worker --token p1"]), "worker --token <redacted>");
        assert_eq!(
            r(&["srv", "--password\tp1"]),
            "srv '--password\t<redacted>'"
        );
        assert_eq!(
            r(&["curl", "-H", "Authorization: Bearer p1", "http://h/"]),
            "curl -H 'Authorization: <redacted> <redacted>' http://h/"
        );
        assert_eq!(
            r(&["curl", "--header=Authorization: Bearer p1"]),
            "curl '--header=Authorization: <redacted> <redacted>'"
        );
    }

    #[test]
    fn program_specific_short_flags() {
        assert_eq!(
            r(&["mysql", "-uroot", "-phunter2"]),
            "mysql -uroot -p<redacted>"
        );
        assert_eq!(
            r(&["/usr/bin/redis-cli", "-a", "hunter2", "ping"]),
            "/usr/bin/redis-cli -a <redacted> ping"
        );
        assert_eq!(r(&["redis-cli", "-ahunter2"]), "redis-cli -a<redacted>");
        assert_eq!(
            r(&["sh", "-c", "mysqlimport -phunter2 db f"]),
            "sh -c 'mysqlimport -p<redacted> db f'"
        );
        // -p means port elsewhere
        assert_eq!(r(&["memcached", "-p", "11211"]), "memcached -p 11211");
        // an unknown program's -pX whose X holds a secret word
        assert_eq!(r(&["app", "-ppassword1"]), "app -p<redacted>");
        assert_eq!(
            r(&["curl", "-u", "admin:p1", "-uroot:p2", "--user=a:p3"]),
            "curl -u admin:<redacted> -uroot:<redacted> --user=a:<redacted>"
        );
    }

    /// Found by the `redaction` fuzz target: an empty command line plus `--password X` made the
    /// flag argv[0], which was not read as a flag.
    #[test]
    fn fuzz_crash_password_flag_as_argv0() {
        assert_eq!(r(&["--password", "p1"]), "--password <redacted>");
        assert_eq!(r(&["-bash"]), "-bash");
    }

    /// Found by the `redaction` fuzz target: a secret flag taken as the value of the flag
    /// before it let its own value through.
    #[test]
    fn fuzz_crash_secret_flag_as_a_value() {
        assert_eq!(
            r(&["app", "-xtoken", "--password", "p1"]),
            "app -x<redacted> <redacted> <redacted>"
        );
        assert_eq!(
            r(&["app", "--token", "--port", "80"]),
            "app --token <redacted> 80"
        );
    }

    /// Found by the `redaction` fuzz target: `-u` took the next flag as its `USER:PASSWORD`.
    #[test]
    fn fuzz_crash_user_flag_before_a_secret_flag() {
        assert_eq!(
            r(&["curl", "-u", "--password", "p1"]),
            "curl -u --password <redacted>"
        );
    }

    /// Found by the `redaction` fuzz target: a multi-byte character right after `-` made a
    /// byte slice split it.
    #[test]
    fn fuzz_crash_multibyte_after_dash() {
        assert_eq!(
            r(&["mysql", "-\u{fffd}root", "-ph"]),
            "mysql -\u{fffd}root -p<redacted>"
        );
        assert_eq!(r(&["x", "-\u{e9}password1"]), "x -\u{e9}<redacted>");
        assert_eq!(r(&["x", "-\u{e9}"]), "x -\u{e9}");
    }

    #[test]
    fn innocent_lines_unchanged() {
        // a rewritten process title is shown as the process shows it
        assert_eq!(
            r(&["nginx: master process /usr/sbin/nginx"]),
            "nginx: master process /usr/sbin/nginx"
        );
        assert_eq!(
            r(&["redis-server *:6379 password=x"]),
            "redis-server *:6379 password=<redacted>"
        );
        assert_eq!(
            r(&["sshd", "--no-password-auth", "-D"]),
            "sshd --no-password-auth -D"
        );
        assert_eq!(
            r(&["postgres", "-D", "/var/lib/postgresql/15/main", "-c", "config_file=/etc/postgresql/15/main/postgresql.conf"]),
            "postgres -D /var/lib/postgresql/15/main -c config_file=/etc/postgresql/15/main/postgresql.conf"
        );
        assert_eq!(
            r(&[
                "python3",
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                "8000"
            ]),
            "python3 -m http.server --bind 127.0.0.1 8000"
        );
        assert_eq!(r(&[]), "");
        assert_eq!(r(&["a", ""]), "a ''");
    }
}
