//! The process list a client sees: shardcat's own sessions (the ids that
//! `KILL` takes), never the servers' threads (which all run under the
//! backend account and would show every user's SQL). A user without the
//! admin role sees its own sessions, as MySQL shows a user without the
//! PROCESS privilege its own threads; an admin sees every session.
//!
//! `SHOW [FULL] PROCESSLIST` and `information_schema.PROCESSLIST` are
//! answered by the server from a derived table of literal rows, so the
//! column types are the view's own and any `WHERE`/`ORDER BY` works.
//!
//! Owns: the row snapshot type and the SQL built from it. Must not read
//! session state itself (the session registry hands the rows in).

/// One shardcat session as the process list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessRow {
    pub id: u32,
    pub user: String,
    /// `address:port` of the client.
    pub host: String,
    pub db: Option<String>,
    /// `Query` while a statement runs, `Sleep` otherwise.
    pub command: &'static str,
    /// Time in the current command (or idle), milliseconds.
    pub time_ms: u64,
    /// The running statement (bounded).
    pub info: Option<String>,
}

/// A string literal that reads the same whatever the connection's
/// character set and SQL mode: `_utf8mb4 X'…'` (session texts are
/// client input and must not be able to close a quoted literal).
fn literal(s: Option<&str>) -> String {
    match s {
        None => "NULL".into(),
        Some(s) => {
            let mut out = String::with_capacity(12 + 2 * s.len());
            out.push_str("_utf8mb4 X'");
            for b in s.bytes() {
                out.push_str(&format!("{b:02X}"));
            }
            out.push('\'');
            out
        }
    }
}

/// The rows as a `SELECT` with the columns of
/// `information_schema.PROCESSLIST` that shardcat can fill.
pub fn derived(rows: &[ProcessRow]) -> String {
    let mut sql = String::from(
        "SELECT ID, USER, HOST, DB, COMMAND, TIME, STATE, INFO, TIME_MS \
         FROM information_schema.PROCESSLIST WHERE 0",
    );
    for r in rows {
        sql.push_str(&format!(
            " UNION ALL SELECT {}, {}, {}, {}, {}, {}, '', {}, {}.{:03}",
            r.id,
            literal(Some(&r.user)),
            literal(Some(&r.host)),
            literal(r.db.as_deref()),
            literal(Some(r.command)),
            r.time_ms / 1000,
            literal(r.info.as_deref()),
            r.time_ms / 1000,
            r.time_ms % 1000
        ));
    }
    sql
}

/// `SHOW [FULL] PROCESSLIST` as a `SELECT` with MariaDB's columns (`Info`
/// cut at 100 characters without `FULL`). `None`: not that statement.
pub fn show(text: &str, rows: &[ProcessRow]) -> Option<String> {
    let words: Vec<String> = text
        .trim()
        .trim_end_matches(';')
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .collect();
    let full = match words.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["SHOW", "PROCESSLIST"] => false,
        ["SHOW", "FULL", "PROCESSLIST"] => true,
        _ => return None,
    };
    let info = if full { "INFO" } else { "LEFT(INFO, 100)" };
    Some(format!(
        "SELECT ID AS `Id`, USER AS `User`, HOST AS `Host`, DB AS `db`, COMMAND AS `Command`, \
         TIME AS `Time`, STATE AS `State`, {info} AS `Info`, CAST(0 AS DECIMAL(7,3)) AS `Progress` \
         FROM ({}) AS p ORDER BY ID",
        derived(rows)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_cannot_be_closed_by_session_text() {
        let row = ProcessRow {
            id: 7,
            user: "a'b".into(),
            host: "127.0.0.1:5".into(),
            db: None,
            command: "Query",
            time_ms: 1500,
            info: Some("SELECT '\\' ; DROP".into()),
        };
        let sql = derived(&[row]);
        assert!(sql.ends_with(", 1.500"), "{sql}");
        assert!(!sql.contains("DROP") && !sql.contains("a'b"), "{sql}");
        assert!(sql.contains("_utf8mb4 X'612762'"), "{sql}");
        assert!(show("show full processlist;", &[]).is_some());
        assert!(show("SHOW PROCESSLIST", &[]).is_some_and(|s| s.contains("LEFT(INFO, 100)")));
        assert!(show("SHOW PROCESSLIST x", &[]).is_none());
    }
}
