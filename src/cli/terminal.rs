//! Text from mails and forms made safe for a terminal: every CLI output meant for a person
//! (`orders show`, `orders list`, `check`, `digest`, the action and config messages) passes
//! what a sender wrote through [`line`] or [`text`].
//!
//! Why: a form field or subject can hold escape sequences (ESC, or the one-byte C1 CSI
//! U+009B) that retitle the window, rewrite what is on screen or, on some terminals, answer
//! back as typed input; bidi overrides make a value read differently from what it is. Such
//! characters are shown escaped (`\u{1b}`), never sent raw. JSON output needs none of this:
//! serde escapes what JSON requires and a JSON reader is not a terminal.

use std::borrow::Cow;
use std::fmt::Write as _;

/// A character a terminal must not receive raw: C0 and C1 controls, DEL, the line and
/// paragraph separators, and the bidi embeddings, overrides and isolates.
fn is_unsafe(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

fn escape(s: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    if !s.chars().any(|c| is_unsafe(c) && !keep(c)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            c if keep(c) || !is_unsafe(c) => out.push(c),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
        }
    }
    Cow::Owned(out)
}

/// One line of output: every unsafe character escaped, line breaks and tabs included.
pub fn line(s: &str) -> Cow<'_, str> {
    escape(s, |_| false)
}

/// Text of several lines (the digest, a list of problems): line breaks and tabs kept, every
/// other unsafe character escaped.
pub fn text(s: &str) -> Cow<'_, str> {
    escape(s, |c| c == '\n' || c == '\t')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_are_shown_not_sent() {
        assert_eq!(line("FamilieFlow"), "FamilieFlow");
        assert!(matches!(line("Ærø – æøå"), Cow::Borrowed(_)));
        assert_eq!(
            line("a\x1b]0;pwned\x07b\u{9b}2J"),
            "a\\u{1b}]0;pwned\\u{7}b\\u{9b}2J"
        );
        assert_eq!(line("a\r\nb\tc\u{7f}"), "a\\r\\nb\\tc\\u{7f}");
        assert_eq!(line("x\u{202e}fdp.exe"), "x\\u{202e}fdp.exe");
        assert_eq!(text("a\nb\tc\x1b[2J"), "a\nb\tc\\u{1b}[2J");
        assert_eq!(text("a\r\nb"), "a\\r\nb");
    }
}
