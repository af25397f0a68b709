//! Client-supplied text made safe for one log line.
//!
//! Owns: escaping and bounding anything a client controls (user names,
//! database names, SQL, connection attributes, error messages that quote
//! them) before it reaches a `tracing` call. Control characters (newline,
//! carriage return, escape sequences, NUL...) and backslashes are written
//! as `\n`, `\r`, `\x1b`, `\\`, so no client can forge a log line or
//! drive a terminal; text longer than [`MAX_LOG_TEXT`] characters is cut
//! and says how much was left out, so a 4 MB user name writes a short line.
//!
//! Must not: allocate more than the bounded output, or log by itself.
//! Every `tracing` call that prints client text wraps it in [`safe`] (or
//! [`safe_bounded`]).

use std::fmt;

/// Characters of client text kept in one log field.
pub const MAX_LOG_TEXT: usize = 256;

/// A `Display` wrapper: writes `text` escaped and cut to [`MAX_LOG_TEXT`].
pub struct Safe<'a> {
    text: &'a str,
    max: usize,
}

/// Escapes and bounds client text for a log line: `info!("user {}", safe(&u))`.
pub fn safe(text: &str) -> Safe<'_> {
    Safe {
        text,
        max: MAX_LOG_TEXT,
    }
}

/// Like [`safe`] with another bound (in characters).
pub fn safe_bounded(text: &str, max: usize) -> Safe<'_> {
    Safe { text, max }
}

/// Owned form of [`safe`], for structured fields and error messages.
pub fn escape(text: &str) -> String {
    safe(text).to_string()
}

impl fmt::Display for Safe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (shown, (at, c)) in self.text.char_indices().enumerate() {
            if shown == self.max {
                let rest = self.text.len() - at;
                return write!(f, "…[{rest} more bytes]");
            }
            match c {
                '\n' => f.write_str("\\n")?,
                '\r' => f.write_str("\\r")?,
                '\t' => f.write_str("\\t")?,
                '\\' => f.write_str("\\\\")?,
                // Other C0/C1 controls, DEL, and Unicode line/paragraph
                // separators and bidi overrides (which can also disguise
                // a line).
                c if c.is_control()
                    || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}')
                    || matches!(c, '\u{2066}'..='\u{2069}') =>
                {
                    write!(f, "\\u{{{:x}}}", c as u32)?
                }
                c => fmt::Write::write_char(f, c)?,
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Safe<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newlines_and_controls_are_escaped() {
        assert_eq!(escape("a\nb"), "a\\nb");
        assert_eq!(escape("a\r\n2026 INFO forged"), "a\\r\\n2026 INFO forged");
        assert_eq!(escape("\x1b[31mred"), "\\u{1b}[31mred");
        assert_eq!(escape("nul\0"), "nul\\u{0}");
        assert_eq!(escape("back\\slash"), "back\\\\slash");
        assert_eq!(escape("sep\u{2028}x"), "sep\\u{2028}x");
        assert_eq!(escape("café ok"), "café ok");
        assert!(!escape("x\u{85}y").contains('\u{85}'));
    }

    #[test]
    fn long_text_is_bounded() {
        let long = "u".repeat(4 << 20);
        let out = escape(&long);
        assert!(out.len() < MAX_LOG_TEXT + 40, "{}", out.len());
        assert!(out.ends_with(&format!("…[{} more bytes]", (4 << 20) - MAX_LOG_TEXT)));
        assert_eq!(safe_bounded("abcdef", 3).to_string(), "abc…[3 more bytes]");
        assert_eq!(safe_bounded("abc", 3).to_string(), "abc");
    }

    #[test]
    fn every_byte_value_stays_on_one_line() {
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        let out = safe_bounded(&all, usize::MAX).to_string();
        assert!(!out.contains('\n') && !out.contains('\r'));
        assert!(!out.chars().any(|c| c.is_control()));
    }
}
