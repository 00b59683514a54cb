//! The one escaping function for human output.
//!
//! Process titles, command lines, file paths, hosts-file lines, firewall rule comments, HTTP
//! replies and interface names all come from someone else, and `loopback` often runs as root in
//! a terminal. Raw, they could clear the screen (`ESC [2J`), retitle the window (`ESC ]0;…BEL`),
//! reverse the text that follows (U+202E), or forge a whole row with a newline. Every string
//! from outside passes through [`esc`] on its way to human output, so one listener is always
//! exactly one row and nothing but `loopback` itself writes control sequences. JSON output is
//! not escaped this way: serde escapes control characters and keeps the text exact.
//!
//! Escapes are visible and unambiguous to a reader, in the style of Rust's `escape_debug` and
//! GNU `ls -b`: `\n`, `\r`, `\t`, `\e` (ESC), `\x7f` for other C0 controls and DEL,
//! `\u{9b}` for C1 controls, and `\u{202e}` for bidirectional and invisible format characters.
//! Backslashes themselves are kept as they are: a literal `\e` in a title shows as the two
//! characters it is, which cannot do anything to a terminal.

use std::borrow::Cow;
use std::fmt::Write;

/// Format characters that change how the text around them is shown: bidirectional overrides,
/// embeddings and isolates (the "Trojan Source" characters), zero-width characters and the
/// Unicode line and paragraph separators.
fn is_format_char(c: char) -> bool {
    matches!(c,
        '\u{061c}'
        | '\u{200b}'..='\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206f}'
        | '\u{feff}'
        | '\u{fff9}'..='\u{fffb}')
}

fn needs_escape(c: char) -> bool {
    c.is_control() || is_format_char(c)
}

/// `s` with every control and format character shown as a visible escape.
pub fn esc(s: &str) -> Cow<'_, str> {
    if !s.chars().any(needs_escape) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x1b' => out.push_str("\\e"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if needs_escape(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// [`esc`] for a message whose own lines are part of its layout (clap's usage errors, a TOML
/// error with its source line and caret): each line is escaped and the line breaks are kept.
/// Only for messages built from what the operator typed or named (arguments, the policy file),
/// never for text another user controls.
pub fn esc_lines(text: &str) -> String {
    text.split_inclusive('\n')
        .map(|l| match l.strip_suffix('\n') {
            Some(body) => format!("{}\n", esc(body)),
            None => esc(l).into_owned(),
        })
        .collect()
}

/// Whether `text` holds anything [`esc`] would have escaped other than the newlines that end
/// rows; the renderer tests use it on whole outputs.
#[cfg(test)]
pub fn has_raw_control(text: &str) -> bool {
    text.chars().any(|c| c != '\n' && needs_escape(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed() {
        assert!(matches!(esc("nginx: master process"), Cow::Borrowed(_)));
        assert_eq!(esc("café ü 漢字"), "café ü 漢字");
    }

    #[test]
    fn controls_are_visible() {
        assert_eq!(esc("a\nb\rc\td"), "a\\nb\\rc\\td");
        assert_eq!(esc("\x1b[2J\x1b]0;pwned\x07"), "\\e[2J\\e]0;pwned\\x07");
        assert_eq!(esc("\x00\x7f"), "\\x00\\x7f");
        assert_eq!(esc("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(esc("abc\u{202e}fed"), "abc\\u{202e}fed");
        assert_eq!(
            esc("\u{2066}x\u{2069}\u{200b}\u{feff}"),
            "\\u{2066}x\\u{2069}\\u{200b}\\u{feff}"
        );
        assert_eq!(esc("a\u{2028}b"), "a\\u{2028}b");
        assert!(!has_raw_control(&esc("\x1b\n\u{202e}\u{85}")));
        assert!(has_raw_control("\x1b"));
        assert!(!has_raw_control("row\nrow\n"));
        assert_eq!(esc_lines("a\x1b\n  |\n3 | x\r\n"), "a\\e\n  |\n3 | x\\r\n");
    }
}
