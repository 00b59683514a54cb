//! What `--http` found, for people: the audit table's HTTP column, and the lines under a
//! listener (audit) or a probe.

use std::io::Write;

use loopback_model::http::{HttpCheck, HttpTransport};

use crate::output::{self, Style};

/// The HTTP column: `ok`, the findings, or `not http`; `(tls)` when spoken to over TLS.
pub(crate) fn cell(h: &HttpCheck) -> String {
    let tls = if h.transport == HttpTransport::Tls {
        " (tls)"
    } else {
        ""
    };
    if !h.speaks_http {
        return format!("not http{tls}");
    }
    if h.findings.is_empty() {
        return format!("ok{tls}");
    }
    let codes: Vec<&str> = h.findings.iter().map(|f| f.code.as_str()).collect();
    format!("{}{tls}", codes.join(","))
}

/// One line of what each question got: `foreign Host rejected (421), CORS none, preflight
/// refused`.
pub(crate) fn summary(h: &HttpCheck) -> String {
    if !h.speaks_http {
        return format!("{} does not answer HTTP", h.target);
    }
    let status = |k| {
        h.answers
            .iter()
            .find(|a| a.request == k)
            .and_then(|a| a.status)
            .map(|s| format!(" ({s})"))
            .unwrap_or_default()
    };
    use loopback_model::http::HttpRequestKind as K;
    format!(
        "{}{}: foreign Host {}{}, CORS {}{}, preflight {}{}{}",
        h.target,
        if h.transport == HttpTransport::Tls {
            " over TLS"
        } else {
            ""
        },
        h.foreign_host,
        status(K::ForeignHost),
        h.cors,
        if h.credentials {
            " with credentials"
        } else {
            ""
        },
        h.preflight,
        status(K::Preflight),
        if h.private_network {
            ", private network allowed"
        } else {
            ""
        }
    )
}

/// Each finding with its fix, then the notes (when there is a finding, or no HTTP at all),
/// each line starting with `indent`. Text from the server goes through the one escaping
/// function (`output::wrap`).
pub(crate) fn details(
    h: &HttpCheck,
    style: Style,
    indent: &str,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let at = indent.len();
    for f in &h.findings {
        let head = format!("http {}: {}", f.code, f.summary);
        writeln!(out, "{indent}{}", output::wrap(&head, style.width, at + 2))?;
        writeln!(
            out,
            "{indent}  fix: {}",
            output::wrap(&f.fix, style.width, at + 7)
        )?;
    }
    if !h.findings.is_empty() || !h.speaks_http {
        for n in &h.notes {
            writeln!(
                out,
                "{indent}http note: {}",
                output::wrap(n, style.width, at + 2)
            )?;
        }
    }
    Ok(())
}
