//! Client session state that must follow the client across pooled backend
//! connections: current database, session system variables (character sets,
//! `autocommit`, `sql_mode`, `time_zone`, isolation...), and the last insert
//! id; plus the reasons a session must keep one backend connection (pins).
//!
//! Owns: what the session's state *is* and the SQL that makes a backend
//! connection carry it. Must not do I/O: `backend::connection` sends what
//! [`SessionState::sync_sql`] returns.

use std::collections::BTreeMap;
use std::ops::Deref;
use std::sync::Arc;

use mysql_common::collations::{Collation, CollationId};

/// System variables never replayed: read-only, or owned by the proxy's own
/// state tracking.
const NOT_REPLAYED: &[&str] = &[
    // Per-statement values the proxy tracks itself (last_insert_id is
    // synced on demand) and that have no DEFAULT to reset to.
    "last_insert_id",
    "insert_id",
    "identity",
    "rand_seed1",
    "rand_seed2",
    "warning_count",
    "error_count",
    "last_gtid",
    "session_track_system_variables",
    "session_track_schema",
    "session_track_state_change",
    "session_track_transaction_info",
    "gtid_seq_no",
    "in_transaction",
];

/// Variables that accept NULL, reported by session tracking as empty text.
const NULLABLE: &[&str] = &["character_set_results"];

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionState {
    /// Current database (`USE`, COM_INIT_DB, CONNECT_WITH_DB).
    pub schema: Option<String>,
    /// Session system variables as the server reported them (names
    /// lower-case); a variable absent here has its global default.
    pub vars: Vars,
}

/// Session system variables, shared copy-on-write: a connection synced to
/// a session (and every session and connection of one handshake collation
/// that changed nothing) holds the same map, so that comparing the two —
/// done for every statement, by the pool and before syncing — is one
/// pointer comparison instead of a walk over every name and value.
#[derive(Debug, Clone, Default, Eq)]
pub struct Vars(Arc<BTreeMap<String, String>>);

impl PartialEq for Vars {
    fn eq(&self, other: &Vars) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || *self.0 == *other.0
    }
}

impl Deref for Vars {
    type Target = BTreeMap<String, String>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Vars {
    fn insert(&mut self, name: &str, value: &str) {
        // An unchanged value keeps the map shared.
        if self.0.get(name).map(String::as_str) != Some(value) {
            Arc::make_mut(&mut self.0).insert(name.to_string(), value.to_string());
        }
    }
}

impl SessionState {
    /// The state a fresh connection has after a handshake with `collation`.
    pub fn for_collation(collation: u16) -> SessionState {
        // One map per collation for the whole process (see [`Vars`]).
        static SHARED: parking_lot::Mutex<Vec<(u16, Vars)>> = parking_lot::Mutex::new(Vec::new());
        let mut shared = SHARED.lock();
        if let Some((_, vars)) = shared.iter().find(|(c, _)| *c == collation) {
            return SessionState {
                schema: None,
                vars: vars.clone(),
            };
        }
        let mut s = SessionState::default();
        s.set_names_from_collation(collation);
        if shared.len() < 64 {
            shared.push((collation, s.vars.clone()));
        }
        s
    }

    /// Takes `other`'s variables map when it holds the same variables, so
    /// that later comparisons of the two are a pointer comparison.
    pub fn share_vars(&mut self, other: &SessionState) {
        if !Arc::ptr_eq(&self.vars.0, &other.vars.0) && self.vars == other.vars {
            self.vars = other.vars.clone();
        }
    }

    pub fn set_names_from_collation(&mut self, collation: u16) {
        let c = Collation::from(CollationId::from(collation));
        // MySQL 8's utf8mb4_0900_* collations (id 255 is the default of
        // MySQL 8 clients) do not exist on MariaDB, which falls back to its
        // default; so does the proxy.
        let (charset, name) =
            if c.id() == CollationId::UNKNOWN_COLLATION_ID || c.collation().contains("_0900_") {
                ("utf8mb4", "utf8mb4_general_ci")
            } else {
                (c.charset(), c.collation())
            };
        for v in [
            "character_set_client",
            "character_set_connection",
            "character_set_results",
        ] {
            self.vars.insert(v, charset);
        }
        self.vars.insert("collation_connection", name);
    }

    /// Records a system variable change reported by a backend.
    pub fn record_var(&mut self, name: &str, value: &str) {
        if NOT_REPLAYED.contains(&name) {
            return;
        }
        self.vars.insert(name, value);
    }

    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// `autocommit` is on unless the session turned it off.
    pub fn autocommit(&self) -> bool {
        !matches!(self.var("autocommit"), Some(v) if v.eq_ignore_ascii_case("OFF") || v == "0")
    }

    /// SQL that makes a connection in state `from` carry `self`, or `None`
    /// when nothing differs. Variables `self` does not have are reset to
    /// their DEFAULT first; a reset may change a linked variable (`old`
    /// clears flags of `old_mode`, `tx_isolation` is
    /// `transaction_isolation`), so after any reset every variable of
    /// `self` is assigned, not only those that differ. Variables are set in
    /// name order, which puts `collation_connection` after the
    /// `character_set_*` it refines.
    pub fn sync_sql(&self, from: &SessionState) -> Option<String> {
        let mut assigns: Vec<String> = Vec::new();
        for name in from.vars.keys() {
            if !self.vars.contains_key(name) {
                assigns.push(format!("{} = DEFAULT", quote_ident(name)));
            }
        }
        let reset = !assigns.is_empty();
        for (name, value) in self.vars.iter() {
            if reset || from.vars.get(name) != Some(value) {
                assigns.push(format!(
                    "{} = {}",
                    quote_ident(name),
                    sql_value(name, value)
                ));
            }
        }
        let mut sql = String::new();
        if self.schema != from.schema {
            if let Some(db) = &self.schema {
                sql.push_str("USE ");
                sql.push_str(&quote_ident(db));
            }
            // A session without a database cannot be expressed on a
            // connection that has one; harmless: unqualified names then fail
            // differently (ER_NO_DB_ERROR vs. table not found) only.
        }
        if !assigns.is_empty() {
            if !sql.is_empty() {
                sql.push_str("; ");
            }
            sql.push_str("SET SESSION ");
            sql.push_str(&assigns.join(", "));
        }
        (!sql.is_empty()).then_some(sql)
    }
}

/// The current database a session-tracking schema entry reports: an
/// empty name means none (MariaDB reports it after reading a view of
/// another database, e.g. `mysql.user`, in a session without one).
pub fn schema_from_tracking(name: &str) -> Option<String> {
    (!name.is_empty()).then(|| name.to_string())
}

/// Backquotes an identifier, doubling embedded backquotes.
pub fn quote_ident(s: &str) -> String {
    format!("`{}`", s.replace('`', "``"))
}

/// Quotes a string literal for MySQL (backslash and quote escaped).
pub fn quote_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for ch in s.chars() {
        match ch {
            '\'' => out.push_str("''"),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// Renders a tracked value for `SET`: numeric variables reject quoted
/// numbers, so numbers go bare.
fn sql_value(name: &str, value: &str) -> String {
    if value.is_empty() && NULLABLE.contains(&name) {
        return "NULL".into();
    }
    let numeric = !value.is_empty()
        && value
            .bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_digit() || b == b'.' || (i == 0 && b == b'-'))
        && value.bytes().any(|b| b.is_ascii_digit());
    if numeric {
        value.to_string()
    } else {
        quote_str(value)
    }
}

/// Why a session keeps one backend connection instead of returning it to
/// the pool after each statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pins {
    /// Inside a transaction (IN_TRANS reported, or autocommit off).
    pub transaction: bool,
    /// State the proxy cannot replay: user variables, temporary tables,
    /// SQL-level prepared statements, named locks, table locks, a pending
    /// `SET TRANSACTION`. Held until the session resets.
    pub session_state: bool,
    /// The last statement left something the next one may ask about
    /// (warnings, FOUND_ROWS, ROW_COUNT): held until the next statement.
    pub diagnostics: bool,
}

impl Pins {
    pub fn any(&self) -> bool {
        self.transaction || self.session_state || self.diagnostics
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mysql8_default_collation_falls_back() {
        let s = SessionState::for_collation(255);
        assert_eq!(s.var("collation_connection"), Some("utf8mb4_general_ci"));
    }

    #[test]
    fn charset_from_collation() {
        let s = SessionState::for_collation(8);
        assert_eq!(s.var("character_set_client"), Some("latin1"));
        assert_eq!(s.var("collation_connection"), Some("latin1_swedish_ci"));
        let s = SessionState::for_collation(45);
        assert_eq!(s.var("character_set_results"), Some("utf8mb4"));
    }

    #[test]
    fn sync_only_differences() {
        let base = SessionState::for_collation(45);
        assert_eq!(base.sync_sql(&base), None);
        let mut s = base.clone();
        s.record_var("sql_mode", "ANSI_QUOTES");
        s.record_var("wait_timeout", "100");
        s.record_var("last_gtid", "0-1-5");
        s.schema = Some("shop".into());
        assert_eq!(
            s.sync_sql(&base).unwrap(),
            "USE `shop`; SET SESSION `sql_mode` = 'ANSI_QUOTES', `wait_timeout` = 100"
        );
        // The other direction resets what the pooled connection had.
        let back = base.sync_sql(&s).unwrap();
        assert_eq!(
            back,
            "SET SESSION `sql_mode` = DEFAULT, `wait_timeout` = DEFAULT, \
             `character_set_client` = 'utf8mb4', `character_set_connection` = 'utf8mb4', \
             `character_set_results` = 'utf8mb4', `collation_connection` = 'utf8mb4_general_ci'"
        );
        // A reset of a linked variable (`old` clears `old_mode` flags) is
        // followed by the session's own values, even those that look equal.
        let mut linked = base.clone();
        linked.record_var("old", "ON");
        linked.record_var("old_mode", "NO_PROGRESS_INFO");
        let mut mine = base.clone();
        mine.record_var("old_mode", "NO_PROGRESS_INFO");
        let sql = mine.sync_sql(&linked).unwrap();
        assert!(
            sql.starts_with("SET SESSION `old` = DEFAULT, ")
                && sql.ends_with("`old_mode` = 'NO_PROGRESS_INFO'"),
            "{sql}"
        );
    }

    #[test]
    fn autocommit_and_null_charset() {
        let mut s = SessionState::for_collation(33);
        assert!(s.autocommit());
        s.record_var("autocommit", "OFF");
        assert!(!s.autocommit());
        s.record_var("character_set_results", "");
        let sql = s.sync_sql(&SessionState::for_collation(33)).unwrap();
        assert!(sql.contains("`character_set_results` = NULL"), "{sql}");
        assert!(sql.contains("`autocommit` = 'OFF'"), "{sql}");
    }
}
