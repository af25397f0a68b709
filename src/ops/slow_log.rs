//! The slow query log: one JSON line per client statement that took at
//! least `[admin] slow_query_ms`, with the statement's digest (literals
//! replaced by `?`, so no value of the application's data is logged), never
//! its text.
//!
//! Lines go to `[admin] slow_log` (a file, appended) or, without one, to
//! the ordinary log (target `shardcat::slow`).
//!
//! Owns: formatting and writing those lines. Must not: decide what is slow
//! (the caller measures and checks the threshold).

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

/// One slow statement.
pub struct SlowStatement<'a> {
    pub connection: u32,
    pub user: &'a str,
    pub database: Option<&'a str>,
    /// The statement's text; only its digest is written.
    pub text: &'a str,
    pub path: &'static str,
    /// Backend statements it ran (targets of a plan; 1 otherwise).
    pub targets: usize,
    pub took: Duration,
    pub error: Option<&'static str>,
}

/// Where slow statements are written.
#[derive(Default)]
pub struct SlowLog {
    file: Mutex<Option<std::fs::File>>,
}

/// `s` as a JSON string literal (quotes included).
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Longest digest written (a huge INSERT's digest is cut).
const MAX_DIGEST: usize = 2048;

impl SlowStatement<'_> {
    /// The JSON line (without the newline).
    pub fn to_json(&self) -> String {
        let mut digest = crate::sql::classify::fingerprint(self.text).text;
        if digest.len() > MAX_DIGEST {
            let mut end = MAX_DIGEST;
            while !digest.is_char_boundary(end) {
                end -= 1;
            }
            digest.truncate(end);
            digest.push('…');
        }
        let ts = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0);
        format!(
            "{{\"ts_ms\":{ts},\"conn\":{},\"user\":{},\"db\":{},\"digest\":{},\"path\":\"{}\",\"targets\":{},\"ms\":{:.3},\"error\":{}}}",
            self.connection,
            json_string(self.user),
            self.database.map_or("null".to_string(), json_string),
            json_string(&digest),
            self.path,
            self.targets,
            self.took.as_secs_f64() * 1000.0,
            self.error.map_or("null".to_string(), json_string),
        )
    }
}

impl SlowLog {
    /// Writes to `path` (appended), or to the ordinary log when `None`.
    pub fn open(path: Option<&Path>) -> std::io::Result<SlowLog> {
        let file = match path {
            Some(p) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)?,
            ),
            None => None,
        };
        Ok(SlowLog {
            file: Mutex::new(file),
        })
    }

    pub fn write(&self, s: &SlowStatement<'_>) {
        let line = s.to_json();
        let mut file = self.file.lock();
        match file.as_mut() {
            Some(f) => {
                let _ = writeln!(f, "{line}");
            }
            None => tracing::warn!(target: "shardcat::slow", "{line}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_json_with_a_digest_not_the_values() {
        let s = SlowStatement {
            connection: 7,
            user: "app\"\n",
            database: None,
            text: "SELECT * FROM t WHERE secret = 'hunter2' AND id = 42",
            path: "plain",
            targets: 1,
            took: Duration::from_millis(1500),
            error: None,
        };
        let line = s.to_json();
        assert!(!line.contains("hunter2") && !line.contains("42,"), "{line}");
        assert!(line.contains("\"user\":\"app\\\"\\n\""), "{line}");
        assert!(line.contains("\"db\":null"), "{line}");
        assert!(line.contains("\"ms\":1500.000"), "{line}");
        assert!(!line.contains('\n'));
    }
}
