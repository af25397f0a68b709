//! Answers of a node whose databases have physical names
//! (`[[node]] database = "{db}_0"`), mapped back to logical names as they
//! are read, so that nothing above the connection sees a physical name.
//!
//! For the text-protocol answers of COM_QUERY: the `schema` field of column
//! definitions; the `Tables_in_<db>` header of `SHOW TABLES`; values of
//! `information_schema` schema columns (`TABLE_SCHEMA`, `SCHEMA_NAME`,
//! `Database` of `SHOW DATABASES` …), where rows of databases that are not
//! this node's are dropped (another node on the same server owns them, or
//! no node does); `DATABASE()` (by its column's name, or under any alias
//! when the statement calls it); the `CREATE DATABASE` text of `SHOW CREATE
//! DATABASE`; the schema reported by session tracking in OK packets; and
//! quoted names in error messages (`Unknown database 'shop_0'`). The
//! rows of COM_STMT_EXECUTE answers (binary protocol) are mapped alike.
//!
//! Owns: that per-answer state machine. Must not: rewrite statements
//! (that is `sql::database_names`) or change anything for a node with the
//! default `{db}` pattern (no map is made for it).

use std::sync::Arc;

use mysql_common::constants::StatusFlags;

use crate::sql::database_names::DatabaseMap;
use crate::wire::packets::{is_err, is_terminator, put_lenenc_bytes, ErrPacket, Reader};

/// What a column of the current result set carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    Plain,
    /// A database name (drops the row when `filter` and not this node's).
    Schema {
        filter: bool,
    },
    /// `SHOW CREATE DATABASE`'s statement text.
    CreateDatabase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Expecting OK, ERR, a LOCAL INFILE request or a column count.
    First,
    Columns {
        left: u64,
    },
    Rows,
    Done,
}

/// What to do with one packet of the answer.
pub(super) enum Mapped {
    Keep,
    Replace(Vec<u8>),
    Drop,
}

/// Which command's answer is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Answer {
    /// COM_QUERY, COM_INIT_DB: text rows.
    Text,
    /// COM_STMT_EXECUTE: binary rows (their string values mapped by
    /// column, the rest kept byte for byte).
    Binary,
    /// COM_STMT_PREPARE: the statement OK, then parameter and column
    /// definitions.
    Prepare,
}

#[derive(Debug)]
pub(super) struct AnswerMap {
    map: Arc<DatabaseMap>,
    kind: Answer,
    phase: Phase,
    current_db: bool,
    roles: Vec<Role>,
    /// The column types of the current result set (binary rows are read
    /// by type).
    types: Vec<u8>,
}

impl AnswerMap {
    /// `current_db`: the statement calls `DATABASE()`/`SCHEMA()`, so an
    /// expression column (no table, any name: an alias) whose value is
    /// this node's physical name of a database is that call's.
    pub fn new(map: Arc<DatabaseMap>, kind: Answer, current_db: bool) -> AnswerMap {
        AnswerMap {
            map,
            kind,
            current_db,
            phase: Phase::First,
            roles: Vec::new(),
            types: Vec::new(),
        }
    }

    pub fn done(&self) -> bool {
        self.phase == Phase::Done
    }

    pub fn on_packet(&mut self, p: &[u8]) -> Mapped {
        match self.phase {
            Phase::Done => Mapped::Keep,
            Phase::First => {
                if is_err(p) {
                    self.phase = Phase::Done;
                    return self.err(p);
                }
                match p.first() {
                    Some(0x00) if self.kind == Answer::Prepare => {
                        // stmt id (4), columns (2), parameters (2).
                        let count = |at: usize| {
                            p.get(at..at + 2)
                                .map_or(0, |b| u64::from(u16::from_le_bytes([b[0], b[1]])))
                        };
                        let left = count(5) + count(7);
                        self.phase = if left == 0 {
                            Phase::Done
                        } else {
                            Phase::Columns { left }
                        };
                        Mapped::Keep
                    }
                    Some(0x00) => self.ok(p),
                    Some(0xFB) => {
                        self.phase = Phase::Done;
                        Mapped::Keep
                    }
                    _ => {
                        let n = Reader::new(p).lenenc_int().unwrap_or(0);
                        self.roles.clear();
                        self.types.clear();
                        self.phase = if n == 0 {
                            Phase::Done
                        } else {
                            Phase::Columns { left: n }
                        };
                        Mapped::Keep
                    }
                }
            }
            Phase::Columns { left } => {
                self.phase = if left > 1 {
                    Phase::Columns { left: left - 1 }
                } else if self.kind == Answer::Prepare {
                    Phase::Done
                } else {
                    Phase::Rows
                };
                self.column(p)
            }
            Phase::Rows if self.kind == Answer::Binary => {
                if is_err(p) {
                    self.phase = Phase::Done;
                    return self.err(p);
                }
                if is_terminator(p) {
                    return self.ok(p);
                }
                self.binary_row(p)
            }
            Phase::Rows => {
                if is_err(p) {
                    self.phase = Phase::Done;
                    return self.err(p);
                }
                if is_terminator(p) {
                    return self.ok(p);
                }
                self.row(p)
            }
        }
    }

    /// An OK or result terminator: the schema of session tracking mapped;
    /// a following result set when more results exist.
    fn ok(&mut self, p: &[u8]) -> Mapped {
        let more =
            ok_status(p).is_some_and(|s| s & StatusFlags::SERVER_MORE_RESULTS_EXISTS.bits() != 0);
        self.phase = if more { Phase::First } else { Phase::Done };
        match self.ok_with_logical_schema(p) {
            Some(out) => Mapped::Replace(out),
            None => Mapped::Keep,
        }
    }

    fn ok_with_logical_schema(&self, p: &[u8]) -> Option<Vec<u8>> {
        let status = ok_status(p)?;
        if status & StatusFlags::SERVER_SESSION_STATE_CHANGED.bits() == 0 {
            return None;
        }
        let mut r = Reader::new(p);
        r.u8()?;
        r.lenenc_int()?;
        r.lenenc_int()?;
        r.take(4)?;
        r.lenenc_bytes()?;
        let state_at = p.len() - r.remaining();
        let state = r.lenenc_bytes()?;
        let tail = r.rest();
        let mut entries = Reader::new(state);
        let mut new_state = Vec::with_capacity(state.len());
        let mut changed = false;
        while !entries.is_empty() {
            let kind = entries.u8()?;
            let entry = entries.lenenc_bytes()?;
            new_state.push(kind);
            if kind == 1 {
                let name = Reader::new(entry).lenenc_bytes()?;
                let name = String::from_utf8_lossy(name);
                if let Some(l) = self.map.logical(&name).filter(|l| *l != name) {
                    let mut e = Vec::new();
                    put_lenenc_bytes(&mut e, l.as_bytes());
                    put_lenenc_bytes(&mut new_state, &e);
                    changed = true;
                    continue;
                }
            }
            put_lenenc_bytes(&mut new_state, entry);
        }
        if !changed {
            return None;
        }
        let mut out = Vec::with_capacity(p.len() + 8);
        out.extend_from_slice(&p[..state_at]);
        put_lenenc_bytes(&mut out, &new_state);
        out.extend_from_slice(tail);
        Some(out)
    }

    fn err(&self, p: &[u8]) -> Mapped {
        let Some(mut e) = ErrPacket::parse(p) else {
            return Mapped::Keep;
        };
        let message = logical_message(&self.map, &e.message);
        if message == e.message {
            return Mapped::Keep;
        }
        e.message = message;
        Mapped::Replace(e.to_payload())
    }

    fn column(&mut self, p: &[u8]) -> Mapped {
        let mut r = Reader::new(p);
        let parts: Option<Vec<&[u8]>> = (0..6).map(|_| r.lenenc_bytes()).collect();
        let Some(parts) = parts else {
            self.roles.push(Role::Plain);
            self.types.push(0);
            return Mapped::Keep;
        };
        let rest = r.rest();
        // Fixed fields (after any extended metadata): their length,
        // charset (2), length (4), type.
        let fixed = crate::wire::packets::column_fixed_offset(p);
        self.types
            .push(fixed.and_then(|f| p.get(f + 7)).copied().unwrap_or(0));
        let schema = String::from_utf8_lossy(parts[1]).into_owned();
        let name = String::from_utf8_lossy(parts[4]).into_owned();
        let upper = name.to_ascii_uppercase();
        let system = schema.eq_ignore_ascii_case("information_schema");
        let like_header = name
            .strip_prefix("Database (")
            .and_then(|n| n.strip_suffix(')'))
            .filter(|_| system);
        let role = if system
            && (like_header.is_some()
                || upper.ends_with("SCHEMA")
                || upper == "SCHEMA_NAME"
                || upper == "DATABASE"
                || upper == "DB")
        {
            Role::Schema { filter: true }
        } else if schema.is_empty()
            && parts[3].is_empty()
            && (self.current_db || ["DATABASE()", "SCHEMA()", "DATABASE"].contains(&upper.as_str()))
        {
            Role::Schema { filter: false }
        } else if schema.is_empty() && upper == "CREATE DATABASE" {
            Role::CreateDatabase
        } else {
            Role::Plain
        };
        self.roles.push(role);
        let new_schema = self.map.logical(&schema).filter(|l| *l != schema);
        let new_name = name.strip_prefix("Tables_in_").and_then(|db| {
            let (db, tail) = db
                .split_once(" (")
                .map_or((db, ""), |(d, _)| (d, &name[10 + d.len()..]));
            let l = self.map.logical(db).filter(|l| *l != db)?;
            Some(format!("Tables_in_{l}{tail}"))
        });
        let new_name = new_name.or_else(|| {
            let l = self.map.logical_like(like_header?)?;
            Some(format!("Database ({l})"))
        });
        if new_schema.is_none() && new_name.is_none() {
            return Mapped::Keep;
        }
        let mut out = Vec::with_capacity(p.len());
        for (i, part) in parts.iter().enumerate() {
            let v: &[u8] = match i {
                1 => new_schema.map_or(*part, str::as_bytes),
                4 => new_name.as_deref().map_or(*part, str::as_bytes),
                _ => part,
            };
            put_lenenc_bytes(&mut out, v);
        }
        out.extend_from_slice(rest);
        Mapped::Replace(out)
    }

    fn row(&self, p: &[u8]) -> Mapped {
        if self.roles.iter().all(|r| *r == Role::Plain) {
            return Mapped::Keep;
        }
        let mut r = Reader::new(p);
        let mut cells: Vec<Option<Vec<u8>>> = Vec::with_capacity(self.roles.len());
        for _ in 0..self.roles.len() {
            if r.remaining() > 0 && p[p.len() - r.remaining()] == 0xFB {
                r.u8();
                cells.push(None);
                continue;
            }
            match r.lenenc_bytes() {
                Some(v) => cells.push(Some(v.to_vec())),
                None => return Mapped::Keep,
            }
        }
        match self.mapped_cells(&mut cells) {
            Some(true) => {}
            Some(false) => return Mapped::Keep,
            None => return Mapped::Drop,
        }
        let mut out = Vec::with_capacity(p.len());
        for c in &cells {
            match c {
                Some(v) => put_lenenc_bytes(&mut out, v),
                None => out.push(0xFB),
            }
        }
        Mapped::Replace(out)
    }

    /// A binary-protocol row (COM_STMT_EXECUTE): the same mapping as
    /// [`Self::row`]. Only string values carry names; the other values are
    /// copied as they are, read by their column's type.
    fn binary_row(&self, p: &[u8]) -> Mapped {
        if self.roles.iter().all(|r| *r == Role::Plain) {
            return Mapped::Keep;
        }
        let n = self.roles.len();
        let bitmap_len = (n + 2).div_ceil(8);
        let Some(bitmap) = p.get(1..1 + bitmap_len) else {
            return Mapped::Keep;
        };
        let is_null = |i: usize| bitmap[(i + 2) / 8] & (1 << ((i + 2) % 8)) != 0;
        // Each value's bytes as sent; names decoded where the role says so.
        let mut at = 1 + bitmap_len;
        let mut raw: Vec<Option<&[u8]>> = Vec::with_capacity(n);
        let mut cells: Vec<Option<Vec<u8>>> = Vec::with_capacity(n);
        for (i, role) in self.roles.iter().enumerate() {
            if is_null(i) {
                raw.push(None);
                cells.push(None);
                continue;
            }
            let rest = &p[at.min(p.len())..];
            let Some(len) = crate::frontend::prepared::value_len(self.types[i], rest) else {
                return Mapped::Keep;
            };
            let Some(value) = rest.get(..len) else {
                return Mapped::Keep;
            };
            at += len;
            raw.push(Some(value));
            // Names are strings: a number in an expression column is not.
            let text = match role {
                Role::Plain => None,
                _ if !matches!(self.types[i], 15 | 249..=254) => None,
                _ => Reader::new(value).lenenc_bytes().map(<[u8]>::to_vec),
            };
            cells.push(text);
        }
        match self.mapped_cells(&mut cells) {
            Some(true) => {}
            Some(false) => return Mapped::Keep,
            None => return Mapped::Drop,
        }
        let mut out = p[..1 + bitmap_len].to_vec();
        for ((cell, value), role) in cells.iter().zip(&raw).zip(&self.roles) {
            match (role, cell, value) {
                (Role::Plain, _, Some(v)) | (_, None, Some(v)) => out.extend_from_slice(v),
                (_, Some(c), _) => put_lenenc_bytes(&mut out, c),
                (_, _, None) => {}
            }
        }
        Mapped::Replace(out)
    }

    /// Maps the name cells of one row (by role) in place: `Some(true)` when
    /// a name changed, `Some(false)` when none did, `None` when the row is
    /// to be dropped (a database not this node's).
    fn mapped_cells(&self, cells: &mut [Option<Vec<u8>>]) -> Option<bool> {
        let mut renamed: Vec<(String, String)> = Vec::new();
        for (cell, role) in cells.iter_mut().zip(&self.roles) {
            let (Role::Schema { filter }, Some(v)) = (role, cell.as_mut()) else {
                continue;
            };
            let name = String::from_utf8_lossy(v).into_owned();
            match self.map.logical(&name) {
                Some(l) if l != name => {
                    renamed.push((name.clone(), l.to_string()));
                    *v = l.as_bytes().to_vec();
                }
                Some(_) => {}
                None if *filter => return None,
                None => {}
            }
        }
        if renamed.is_empty() {
            return Some(false);
        }
        for (cell, role) in cells.iter_mut().zip(&self.roles) {
            if let (Role::CreateDatabase, Some(v)) = (role, cell.as_mut()) {
                let mut text = String::from_utf8_lossy(v).into_owned();
                for (p, l) in &renamed {
                    text = text.replace(&format!("`{p}`"), &format!("`{l}`"));
                }
                *v = text.into_bytes();
            }
        }
        Some(true)
    }
}

/// Whether `sql` calls `DATABASE()` or `SCHEMA()`.
pub(super) fn calls_current_database(sql: &str, opts: crate::sql::LexOptions) -> bool {
    let src = sql.as_bytes();
    let tokens: Vec<_> = crate::sql::lexer::Lexer::with_options(src, opts)
        .filter(|t| !t.is_trivia())
        .collect();
    tokens.windows(2).any(|w| {
        (w[0].is_keyword(src, "DATABASE") || w[0].is_keyword(src, "SCHEMA"))
            && w[1].is_punct(src, "(")
    })
}

/// The status flags of an OK packet or OK-style terminator.
fn ok_status(p: &[u8]) -> Option<u16> {
    let mut r = Reader::new(p);
    r.u8()?;
    r.lenenc_int()?;
    r.lenenc_int()?;
    r.u16()
}

/// `message` with the quoted physical database names of this node replaced
/// by their logical names: the database of a qualified name (`'shop_0.t'`)
/// and a name quoted right after "database" (`Unknown database 'shop_0'`).
pub fn logical_message(map: &DatabaseMap, message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(q) = rest.find(['\'', '`']) {
        let quote = &rest[q..=q];
        out.push_str(&rest[..=q]);
        rest = &rest[q + 1..];
        let Some(close) = rest.find(quote) else {
            break;
        };
        let inner = &rest[..close];
        let after_database = {
            let before = out[..out.len() - 1].trim_end().to_ascii_lowercase();
            before.ends_with("database") || before.ends_with("schema")
        };
        let (db, tail) = match inner.split_once('.') {
            Some((db, _)) => (db, &inner[db.len()..]),
            None if after_database => (inner, ""),
            None => ("", inner),
        };
        match map.logical(db) {
            Some(l) if !db.is_empty() => out.push_str(l),
            _ => out.push_str(db),
        }
        out.push_str(tail);
        out.push_str(quote);
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_logical_databases() {
        let m = DatabaseMap::parse("{db}_0").unwrap();
        assert_eq!(
            logical_message(&m, "Table 'shop_0.t' doesn't exist"),
            "Table 'shop.t' doesn't exist"
        );
        assert_eq!(
            logical_message(&m, "Unknown database 'x_0'"),
            "Unknown database 'x'"
        );
        assert_eq!(
            logical_message(&m, "Duplicate entry '1_0' for key 'k_0'"),
            "Duplicate entry '1_0' for key 'k_0'"
        );
        assert_eq!(
            logical_message(&m, "Can't find `x_0`.`t`"),
            "Can't find `x_0`.`t`"
        );
    }
}
