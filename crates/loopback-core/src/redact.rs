//! Redacting secrets from command lines before they reach any output.
//!
//! Servers are routinely started with credentials on the command line (`redis-server
//! --requirepass …`, `postgres://user:pass@host`, `PGPASSWORD=…`, `mysql -p…`). Everything the
//! tool prints goes through [`redact_argv`]; it errs on the side of hiding too much.

/// What replaces a secret.
pub const REDACTED: &str = "<redacted>";

/// Words that make a flag or `KEY=VALUE` name secret.
const SECRET_WORDS: &[&str] = &[
    "pass",
    "pwd",
    "secret",
    "token",
    "apikey",
    "api-key",
    "api_key",
    "credential",
    "authkey",
    "auth-key",
    "auth_key",
    "accesskey",
    "access-key",
    "access_key",
    "private-key",
    "private_key",
    "privatekey",
    "masterauth",
    "session-key",
    "cookie",
];

fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    // Boolean negations such as --no-password take no value.
    if name.starts_with("no-") || name.starts_with("no_") {
        return false;
    }
    SECRET_WORDS.iter().any(|w| name.contains(w))
}

/// Programs whose short flags carry passwords: `-pSECRET` (MySQL family), `-a SECRET` (redis-cli).
fn short_secret_flag(program: &str) -> Option<&'static str> {
    let base = program.rsplit('/').next().unwrap_or(program);
    match base {
        "mysql" | "mysqld" | "mysqldump" | "mysqladmin" | "mariadb" | "mariadbd"
        | "mariadb-dump" | "mariadb-admin" => Some("-p"),
        "redis-cli" | "valkey-cli" => Some("-a"),
        _ => None,
    }
}

/// Hide the password in `scheme://user:password@host` anywhere in `arg`.
fn redact_urls(arg: &str) -> String {
    let mut out = String::with_capacity(arg.len());
    let mut rest = arg;
    while let Some(pos) = rest.find("://") {
        let (head, tail) = rest.split_at(pos + 3);
        out.push_str(head);
        // userinfo ends at the first '@' before any '/', '?', '#' or whitespace
        let end = tail
            .find(|c: char| c == '/' || c == '?' || c == '#' || c.is_whitespace())
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match authority.rfind('@') {
            Some(at) => {
                let userinfo = &authority[..at];
                match userinfo.find(':') {
                    Some(colon) => {
                        out.push_str(&userinfo[..=colon]);
                        out.push_str(REDACTED);
                    }
                    None => out.push_str(userinfo),
                }
                out.push_str(&authority[at..]);
            }
            None => out.push_str(authority),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Hide values of `key=value` words whose key is secret (`PGPASSWORD=x`, a libpq conninfo's
/// `password=x`), inside one argument that may hold several space-separated words.
fn redact_key_values(arg: &str) -> String {
    arg.split(' ')
        .map(|word| match word.split_once('=') {
            Some((key, value))
                if !value.is_empty() && !key.starts_with('-') && is_secret_name(key) =>
            {
                format!("{key}={REDACTED}")
            }
            _ => word.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Redact one argument vector; `argv[0]` is the program.
pub fn redact(argv: &[String]) -> Vec<String> {
    let short = argv.first().and_then(|p| short_secret_flag(p));
    let mut out = Vec::with_capacity(argv.len());
    let mut hide_next = false;
    for (i, arg) in argv.iter().enumerate() {
        if hide_next {
            hide_next = false;
            out.push(REDACTED.to_owned());
            continue;
        }
        if i > 0 && arg.starts_with('-') && arg.len() > 1 {
            let flag = arg.trim_start_matches('-');
            if let Some((name, value)) = flag.split_once('=') {
                if is_secret_name(name) && !value.is_empty() {
                    let dashes = &arg[..arg.len() - flag.len()];
                    out.push(format!("{dashes}{name}={REDACTED}"));
                    continue;
                }
            } else if is_secret_name(flag) {
                out.push(arg.clone());
                hide_next = true;
                continue;
            }
            if let Some(short) = short {
                if arg == short {
                    out.push(arg.clone());
                    hide_next = true;
                    continue;
                }
                if short == "-p" && arg.starts_with("-p") && !arg.starts_with("--") {
                    out.push(format!("-p{REDACTED}"));
                    continue;
                }
            }
        }
        out.push(redact_key_values(&redact_urls(arg)));
    }
    out
}

/// Redact and join an argument vector into one printable command line. Arguments holding
/// white space or nothing are single-quoted so the line stays readable.
pub fn redact_argv(argv: &[String]) -> String {
    // A rewritten process title (one argument holding spaces) is shown as the process shows it.
    if let [title] = argv {
        return redact_key_values(&redact_urls(title));
    }
    redact(argv)
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
        // no password, nothing to hide
        assert_eq!(
            r(&["curl", "http://user@host/x"]),
            "curl http://user@host/x"
        );
        assert_eq!(r(&["curl", "http://host/a@b"]), "curl http://host/a@b");
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
        // -p means port elsewhere
        assert_eq!(r(&["memcached", "-p", "11211"]), "memcached -p 11211");
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
        assert_eq!(r(&[]), "");
        assert_eq!(r(&["a", ""]), "a ''");
    }
}
