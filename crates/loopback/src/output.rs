//! Shared output helpers: colour choice, JSON printing, text wrapping, broken pipes.

use std::io::{IsTerminal, Write};

use serde::Serialize;

use crate::cli::ColorChoice;
pub use crate::escape::esc;

/// How human output looks: colour, and the width text wraps at.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    /// Emit ANSI colour. Order: `--color`, then `NO_COLOR`, then terminal detection.
    pub color: bool,
    /// Wrap prose at this many columns; `usize::MAX` (no wrapping) when piped.
    pub width: usize,
}

/// The narrowest width text is wrapped at, whatever the terminal says.
const MIN_WIDTH: usize = 40;

impl Style {
    pub fn choose(choice: ColorChoice) -> Style {
        let color = match choice {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                    && std::io::stdout().is_terminal()
            }
        };
        let columns = std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok());
        Style {
            color,
            width: width(columns, terminal_width()),
        }
    }

    /// A style for tests and fixed-width output.
    #[cfg(test)]
    pub const fn fixed(color: bool, width: usize) -> Style {
        Style { color, width }
    }

    /// Paint `text` red (1) or green (2) or yellow (3) when colour is on.
    pub fn paint(&self, text: &str, color: u8) -> String {
        if self.color {
            format!("\x1b[3{color}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
}

/// The terminal's width when stdout is a terminal.
fn terminal_width() -> Option<usize> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    terminal_size::terminal_size().map(|(w, _)| usize::from(w.0))
}

/// `COLUMNS` when set, else the terminal's width, else no wrapping (piped output).
fn width(columns: Option<usize>, terminal: Option<usize>) -> usize {
    columns
        .or(terminal)
        .map_or(usize::MAX, |w| w.max(MIN_WIDTH))
}

pub const RED: u8 = 1;
pub const GREEN: u8 = 2;
pub const YELLOW: u8 = 3;

/// Buffered stdout. Stdout itself is line-buffered; a large report would otherwise cost one
/// write per line.
pub fn stdout_writer() -> std::io::BufWriter<std::io::StdoutLock<'static>> {
    std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock())
}

/// Write a document to `path` (atomically, [`write_atomic`]) or, without one, to stdout as it
/// is made.
pub fn emit(
    path: Option<&std::path::Path>,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    match path {
        Some(path) => {
            let mut doc = Vec::new();
            write(&mut doc)?;
            write_atomic(path, &doc)
        }
        None => {
            let mut out = stdout_writer();
            write(&mut out)?;
            out.flush()?;
            Ok(())
        }
    }
}

/// Replace `path` with `bytes` so that a reader sees the old file or the new one, never half:
/// a new file beside it (created exclusively, never through a link), synced, then renamed
/// over it. On error the temporary file is removed and `path` is unchanged.
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> anyhow::Result<()> {
    use anyhow::Context;
    use std::fs::OpenOptions;
    let name = path
        .file_name()
        .with_context(|| format!("--output {}: not a file name", path.display()))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => std::path::Path::new("."),
    };
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = dir.join(tmp_name);
    let result = (|| -> anyhow::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .with_context(|| format!("creating {}", tmp.display()))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}

/// Write a JSON document and a newline to stdout.
pub fn print_json<T: Serialize>(value: &T) -> anyhow::Result<()> {
    emit(None, |out| write_json(out, value))
}

/// Write a JSON document (pretty) and a newline to `out`.
pub fn write_json<T: Serialize>(out: &mut dyn Write, value: &T) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Write human text to stdout.
pub fn print_text(text: &str) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(())
}

/// A command's report: its warnings on stderr, then on stdout the JSON document or the human
/// text `render` makes.
pub fn report<T: Serialize>(
    json: bool,
    value: &T,
    warnings: &[String],
    render: impl FnOnce() -> String,
) -> anyhow::Result<()> {
    for w in warnings {
        warn(w);
    }
    if json {
        print_json(value)
    } else {
        print_text(&render())
    }
}

/// Diagnostics go to stderr, escaped: warnings quote paths and text from outside.
pub fn warn(message: &str) {
    eprintln!("loopback: warning: {}", esc(message));
}

/// `--timings`: one line per phase on stderr, then the total.
pub fn timings(phases: &[(String, std::time::Duration)]) {
    let mut total = std::time::Duration::ZERO;
    for (name, took) in phases {
        total += *took;
        eprintln!(
            "loopback: timing: {:<18} {:>10.3} ms",
            esc(name),
            took.as_secs_f64() * 1000.0
        );
    }
    eprintln!(
        "loopback: timing: {:<18} {:>10.3} ms",
        "total",
        total.as_secs_f64() * 1000.0
    );
}

/// True when the error is stdout closing under us (`loopback audit | head`).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            || e.downcast_ref::<serde_json::Error>()
                .and_then(|j| j.io_error_kind())
                == Some(std::io::ErrorKind::BrokenPipe)
    })
}

/// Wrap `text` that starts at column `indent` (after a label) at `width` columns, indenting
/// continuation lines by `indent` spaces. The text is escaped first ([`esc`]), so a newline
/// inside it is shown, never obeyed.
pub fn wrap(text: &str, width: usize, indent: usize) -> String {
    let text = esc(text);
    let mut out = String::new();
    let mut line_len = indent;
    for word in text.split_whitespace() {
        if line_len > indent && line_len.saturating_add(1 + word.len()) > width {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            line_len = indent;
        } else if line_len > indent {
            out.push(' ');
            line_len += 1;
        }
        out.push_str(word);
        line_len += word.len();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_between_words() {
        assert_eq!(wrap("aa bb cc", 7, 2), "aa bb\n  cc");
        assert_eq!(wrap("", 5, 2), "");
        assert_eq!(
            wrap("averyveryverylongword x", 5, 0),
            "averyveryverylongword\nx"
        );
    }

    #[test]
    fn paint_only_with_colour() {
        assert_eq!(Style::fixed(false, 80).paint("x", RED), "x");
        assert_eq!(Style::fixed(true, 80).paint("x", RED), "\x1b[31mx\x1b[0m");
    }

    #[test]
    fn width_from_columns_then_terminal_else_unlimited() {
        assert_eq!(width(Some(80), Some(200)), 80);
        assert_eq!(width(None, Some(200)), 200);
        assert_eq!(width(None, None), usize::MAX);
        assert_eq!(width(Some(5), None), MIN_WIDTH);
        assert_eq!(wrap("aa bb", usize::MAX, 10), "aa bb");
    }
}
