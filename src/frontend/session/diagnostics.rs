//! The diagnostics area of a statement that ran on several connections
//! (a scattered write, a sharded `LOAD DATA`, a merged read): its warnings
//! were read from every shard right after it (`execute::warnings`) and
//! merged in shard order; `SHOW WARNINGS`, `SHOW ERRORS`, `SHOW COUNT(*)
//! WARNINGS|ERRORS` and `@@warning_count`/`@@error_count` are answered from
//! them until a statement resets the diagnostics (`after_statement`).
//!
//! `SHOW WARNINGS|ERRORS` replays the servers' own column definitions with
//! the merged rows; the counts are substituted into the statement as
//! values of the server's type and run as a table-less read (for a
//! prepared statement's execute, read whole and sent as binary rows).
//!
//! Owns: those answers. Must not read backends' warnings (that is
//! `execute::warnings`).

use super::Session;
use crate::execute::{warnings, Command, Shape};
use crate::router;
use crate::sql::lexer::{self, TokenKind};
use crate::sql::{Classified, ShowKind, StatementKind};
use crate::wire::command;
use crate::wire::sqlstate;
use crate::wire::warnings::{Listing, WarningList};

impl Session {
    /// The session's `max_error_count`.
    pub(super) fn max_error_count(&self) -> usize {
        warnings::max_error_count(self.state.var("max_error_count"))
    }

    /// The last statement ran on several connections and succeeded: its
    /// diagnostics area is the proxy's.
    pub(super) fn has_shard_diagnostics(&self) -> bool {
        self.shard_warnings.is_some() || self.shard_row_count.is_some()
    }

    /// Answers a statement reading the diagnostics of the last statement
    /// when that statement ran on several connections (`binary`: a
    /// prepared statement's execute). False when it is not one the proxy
    /// answers (it then runs as usual).
    pub(super) async fn answer_shard_diagnostics(
        &mut self,
        text: &str,
        c: &Classified,
        binary: bool,
        seq: &mut u8,
    ) -> bool {
        let empty = WarningList::default();
        let list = match &self.shard_warnings {
            Some(list) => list,
            // Without warnings only GET DIAGNOSTICS needs the proxy (for
            // ROW_COUNT); the servers answer the rest alike.
            None if c.kind == StatementKind::Other && self.shard_row_count.is_some() => &empty,
            None => return false,
        };
        let row_count = self.shard_row_count.unwrap_or(-1);
        let (count, errors) = (list.count, list.errors());
        let rewritten = match c.kind {
            StatementKind::Show(kind @ (ShowKind::Warnings | ShowKind::Errors)) => {
                let listing = match kind {
                    ShowKind::Errors => Listing::Errors,
                    _ => Listing::Warnings,
                };
                let Some(range) = show_limit(text) else {
                    return false;
                };
                let packets = list.result_packets(listing, range, binary, self.caps, self.status);
                if packets.is_empty() {
                    return false;
                }
                // A result set: ROW_COUNT() is -1 after it.
                self.shard_row_count = Some(-1);
                for p in packets {
                    if self.client.send(seq, &p).await.is_err() {
                        break;
                    }
                }
                return true;
            }
            // Prepared: the counts as a composed read with binary rows.
            _ if binary => {
                let sql = match c.kind {
                    StatementKind::Show(ShowKind::CountWarnings) => count_warnings_sql(count),
                    StatementKind::Show(ShowKind::CountErrors) => count_errors_sql(errors),
                    StatementKind::Select if !has_placeholders(text) => {
                        match substitute_counts(text, count, errors) {
                            Some(sql) => sql,
                            None => return false,
                        }
                    }
                    _ => return false,
                };
                self.answer_composed_read(&sql, c, true, seq).await;
                return true;
            }
            StatementKind::Show(ShowKind::CountWarnings) => count_warnings_sql(count),
            StatementKind::Show(ShowKind::CountErrors) => count_errors_sql(errors),
            StatementKind::Select => match substitute_counts(text, count, errors) {
                Some(sql) => sql,
                None => return false,
            },
            // Run as the assignments it makes, classified as itself (it
            // pins the session and keeps the diagnostics area).
            StatementKind::Other => match get_diagnostics_sql(text, list, row_count) {
                Some(Diagnostics::Assign(sql)) => sql,
                Some(Diagnostics::NoSuchCondition) => {
                    return self.no_such_condition(seq).await;
                }
                Some(Diagnostics::Unknown(what)) => {
                    // The servers' areas each hold a part: running it there
                    // would answer from one part (NULLs, wrong numbers).
                    let e = crate::error::ProxyError::Unsupported(format!(
                        "{what} after a statement that ran on several shards"
                    ));
                    self.write_error_seq(&e, seq).await;
                    return true;
                }
                None => return false,
            },
            _ => return false,
        };
        let mut payload = vec![command::QUERY];
        payload.extend_from_slice(rewritten.as_bytes());
        let node = self.node_for_session();
        let plan = router::route(c, &self.view(node));
        let command = Command::Packet(payload.into());
        if let Some(ran) = self.execute(plan, c, &command, Shape::Results, seq).await {
            self.after_statement(c, &ran);
        }
        true
    }

    /// `GET DIAGNOSTICS CONDITION n` beyond the conditions listed: as the
    /// server, an OK reporting one warning, the error 1758 added to the
    /// diagnostics area, no variable assigned. False (the server answers)
    /// when no listing was read to add it to.
    async fn no_such_condition(&mut self, seq: &mut u8) -> bool {
        let limit = self.max_error_count();
        let Some(list) = self.shard_warnings.as_mut() else {
            return false;
        };
        if list.defs.is_empty() {
            return false;
        }
        let mut row = Vec::new();
        for v in [&b"Error"[..], b"1758", b"Invalid condition number"] {
            crate::wire::packets::put_lenenc_bytes(&mut row, v);
        }
        let defs = list.defs.clone();
        list.append(defs, vec![row.into()], 1, limit);
        self.shard_row_count = Some(-1);
        let ok = crate::wire::packets::OkPacket {
            status: self.status,
            warnings: 1,
            ..Default::default()
        };
        self.write_ok_packet(seq, &ok).await;
        true
    }
}

/// What a `GET DIAGNOSTICS` over the merged area comes to.
#[derive(Debug, PartialEq, Eq)]
enum Diagnostics {
    /// The `SET` of its variables.
    Assign(String),
    /// A condition number out of range.
    NoSuchCondition,
    /// A form or item the merged area cannot answer exactly (what it is).
    Unknown(&'static str),
}

/// `GET [CURRENT] DIAGNOSTICS @a = NUMBER, @r = ROW_COUNT` and `GET
/// [CURRENT] DIAGNOSTICS CONDITION n @m = MESSAGE_TEXT, @e = MYSQL_ERRNO,
/// @s = RETURNED_SQLSTATE, @r = ROW_NUMBER, @c = CLASS_ORIGIN …` over the
/// merged warnings, as the `SET` of those user variables. `ROW_NUMBER` is
/// known where the merged list names the client's rows (a split INSERT or
/// LOAD DATA: the row its message names); elsewhere each server numbered
/// its own rows, and like any form not understood here it is
/// [`Diagnostics::Unknown`]. `None` when the statement is not a `GET
/// DIAGNOSTICS` (it then runs on the server).
fn get_diagnostics_sql(text: &str, list: &WarningList, row_count: i64) -> Option<Diagnostics> {
    if !starts_get_diagnostics(text) {
        return None;
    }
    Some(
        diagnostics_assignments(text, list, row_count)
            .unwrap_or(Diagnostics::Unknown("This form of GET DIAGNOSTICS")),
    )
}

/// The statement starts `GET [CURRENT] DIAGNOSTICS`.
fn starts_get_diagnostics(text: &str) -> bool {
    let src = text.as_bytes();
    let toks: Vec<_> = lexer::tokenize(text)
        .into_iter()
        .filter(|t| !t.is_trivia())
        .take(3)
        .collect();
    let is = |i: usize, k: &str| toks.get(i).is_some_and(|t| t.is_keyword(src, k));
    is(0, "GET") && (is(1, "DIAGNOSTICS") || (is(1, "CURRENT") && is(2, "DIAGNOSTICS")))
}

/// [`get_diagnostics_sql`] of a `GET DIAGNOSTICS`; `None` when its form is
/// not one answered here.
fn diagnostics_assignments(text: &str, list: &WarningList, row_count: i64) -> Option<Diagnostics> {
    use crate::session_state::quote_str;
    let rows = &list.rows;
    let src = text.as_bytes();
    let toks: Vec<_> = lexer::tokenize(text)
        .into_iter()
        .filter(|t| !t.is_trivia() && !t.is_punct(src, ";"))
        .collect();
    let mut i = 0;
    let kw = |k: &str, i: &mut usize| {
        let hit = toks.get(*i).is_some_and(|t| t.is_keyword(src, k));
        *i += usize::from(hit);
        hit
    };
    if !kw("GET", &mut i) {
        return None;
    }
    kw("CURRENT", &mut i);
    if !kw("DIAGNOSTICS", &mut i) {
        return None;
    }
    let condition = if kw("CONDITION", &mut i) {
        let n: usize = toks.get(i)?.text(text).parse().ok()?;
        i += 1;
        match n.checked_sub(1).and_then(|k| rows.get(k)) {
            Some(row) => Some(row),
            None => return Some(Diagnostics::NoSuchCondition),
        }
    } else {
        None
    };
    let mut assigns = Vec::new();
    loop {
        let target = toks.get(i).filter(|t| t.kind == TokenKind::UserVar)?;
        if !toks.get(i + 1)?.is_punct(src, "=") {
            return None;
        }
        let item = toks.get(i + 2)?.text(text).to_ascii_uppercase();
        let value = match (condition, item.as_str()) {
            (None, "NUMBER") => rows.len().to_string(),
            (None, "ROW_COUNT") => row_count.to_string(),
            (Some(row), "ROW_NUMBER") => match condition_row(row, list.client_rows) {
                Some(n) => n.to_string(),
                None => return Some(Diagnostics::Unknown("ROW_NUMBER of a condition")),
            },
            (Some(row), "MESSAGE_TEXT" | "MYSQL_ERRNO" | "RETURNED_SQLSTATE") => {
                let mut r = crate::wire::packets::Reader::new(row);
                r.lenenc_bytes()?;
                let code = r.lenenc_bytes()?;
                let message = r.lenenc_bytes()?;
                let code = String::from_utf8_lossy(code).parse::<u32>().ok()?;
                match item.as_str() {
                    "MYSQL_ERRNO" => code.to_string(),
                    "RETURNED_SQLSTATE" => quote_str(sqlstate::of_code(code)),
                    _ => quote_str(&String::from_utf8_lossy(message)),
                }
            }
            (Some(_), name) if sqlstate::EMPTY_CONDITION_ITEMS.contains(&name) => "''".into(),
            _ => return None,
        };
        assigns.push(format!("{} = {value}", target.text(text)));
        i += 3;
        if i == toks.len() {
            break;
        }
        if !toks[i].is_punct(src, ",") {
            return None;
        }
        i += 1;
    }
    Some(Diagnostics::Assign(format!("SET {}", assigns.join(", "))))
}

/// The client's row a merged condition names, when the list numbers the
/// client's rows and its message names one.
fn condition_row(row: &[u8], client_rows: bool) -> Option<u32> {
    if !client_rows {
        return None;
    }
    let mut r = crate::wire::packets::Reader::new(row);
    r.lenenc_bytes()?;
    r.lenenc_bytes()?;
    let message = std::str::from_utf8(r.lenenc_bytes()?).ok()?;
    warnings::message_row(message)
}

/// `SHOW COUNT(*) WARNINGS` as a read of the merged count.
fn count_warnings_sql(count: u64) -> String {
    format!("SELECT {} AS `@@session.warning_count`", count_value(count))
}

/// `SHOW COUNT(*) ERRORS` as a read of the merged count.
fn count_errors_sql(errors: u64) -> String {
    format!("SELECT {} AS `@@session.error_count`", count_value(errors))
}

/// The statement has `?` parameters (a prepared statement's text).
fn has_placeholders(text: &str) -> bool {
    lexer::tokenize(text)
        .iter()
        .any(|t| t.kind == TokenKind::Placeholder)
}

/// A count as a value of `@@warning_count`'s type (BIGINT UNSIGNED,
/// nullable, display width 21).
fn count_value(n: u64) -> String {
    format!("IF(0, @@warning_count, CAST({n} AS UNSIGNED))")
}

/// `text` with every `@@warning_count`/`@@error_count` replaced by the
/// merged count; a select item that was only the variable keeps its name
/// as the column's. None when the statement names neither.
fn substitute_counts(text: &str, warnings: u64, errors: u64) -> Option<String> {
    let src = text.as_bytes();
    let tokens: Vec<_> = lexer::tokenize(text)
        .into_iter()
        .filter(|t| !t.is_trivia())
        .collect();
    let mut out = String::with_capacity(text.len() + 64);
    let mut copied = 0;
    let mut any = false;
    for (i, t) in tokens.iter().enumerate() {
        if t.kind != TokenKind::SystemVar {
            continue;
        }
        let name = t.text(text);
        let last = name
            .rsplit(['.', '@'])
            .next()
            .unwrap_or_default()
            .trim_matches('`');
        let n = if last.eq_ignore_ascii_case("warning_count") {
            warnings
        } else if last.eq_ignore_ascii_case("error_count") {
            errors
        } else {
            continue;
        };
        let item_start =
            i == 0 || tokens[i - 1].is_keyword(src, "SELECT") || tokens[i - 1].is_punct(src, ",");
        let item_end = tokens.get(i + 1).is_none_or(|next| {
            next.is_punct(src, ",")
                || next.is_punct(src, ";")
                || next.is_keyword(src, "FROM")
                || next.is_keyword(src, "LIMIT")
                || next.is_keyword(src, "INTO")
        });
        out.push_str(&text[copied..t.start]);
        out.push_str(&count_value(n));
        if item_start && item_end {
            out.push_str(&format!(" AS `{}`", name.replace('`', "``")));
        }
        copied = t.end;
        any = true;
    }
    if !any {
        return None;
    }
    out.push_str(&text[copied..]);
    Some(out)
}

/// The `LIMIT [offset,] n` / `LIMIT n OFFSET m` of `SHOW WARNINGS|ERRORS`:
/// `(offset, limit)`; None for a shape not understood.
fn show_limit(text: &str) -> Option<(u64, Option<u64>)> {
    let src = text.as_bytes();
    let tokens: Vec<_> = lexer::tokenize(text)
        .into_iter()
        .filter(|t| !t.is_trivia() && !t.is_punct(src, ";"))
        .collect();
    let Some(at) = tokens.iter().position(|t| t.is_keyword(src, "LIMIT")) else {
        return Some((0, None));
    };
    let num = |i: usize| -> Option<u64> {
        let t = tokens.get(i)?;
        (t.kind == TokenKind::Number)
            .then(|| t.text(text).parse().ok())
            .flatten()
    };
    let rest = tokens.len() - at - 1;
    match rest {
        1 => Some((0, Some(num(at + 1)?))),
        3 if tokens[at + 2].is_punct(src, ",") => Some((num(at + 1)?, Some(num(at + 3)?))),
        3 if tokens[at + 2].is_keyword(src, "OFFSET") => Some((num(at + 3)?, Some(num(at + 1)?))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_substituted_with_their_names() {
        let s = substitute_counts("SELECT @@warning_count", 3, 0).unwrap();
        assert_eq!(
            s,
            "SELECT IF(0, @@warning_count, CAST(3 AS UNSIGNED)) AS `@@warning_count`"
        );
        let s =
            substitute_counts("select @@session.error_count e, @@warning_count+1", 5, 2).unwrap();
        assert_eq!(
            s,
            "select IF(0, @@warning_count, CAST(2 AS UNSIGNED)) e, \
             IF(0, @@warning_count, CAST(5 AS UNSIGNED))+1"
        );
        assert!(substitute_counts("SELECT @@version", 1, 1).is_none());
    }

    #[test]
    fn get_diagnostics_as_assignments() {
        let mut row = Vec::new();
        for v in [
            &b"Warning"[..],
            b"1265",
            b"Data truncated for column 'a' at row 2",
        ] {
            crate::wire::packets::put_lenenc_bytes(&mut row, v);
        }
        let mut other_row = Vec::new();
        for v in [&b"Warning"[..], b"1048", b"Column 'b' cannot be null"] {
            crate::wire::packets::put_lenenc_bytes(&mut other_row, v);
        }
        let rows = vec![
            bytes::Bytes::from(row.clone()),
            bytes::Bytes::from(row),
            bytes::Bytes::from(other_row),
        ];
        let mut shard_order = WarningList::default();
        shard_order.rows = rows.clone();
        let mut client_rows = shard_order.clone();
        client_rows.client_rows = true;
        let set = |s: &str| Some(Diagnostics::Assign(s.to_owned()));
        let get =
            |sql: &str, list: &WarningList, row_count| get_diagnostics_sql(sql, list, row_count);
        assert_eq!(
            get(
                "GET DIAGNOSTICS @n = NUMBER, @r = ROW_COUNT",
                &shard_order,
                7
            ),
            set("SET @n = 3, @r = 7")
        );
        assert_eq!(
            get(
                "get current diagnostics condition 2 @m = MESSAGE_TEXT, @e = mysql_errno;",
                &shard_order,
                -1
            ),
            set("SET @m = 'Data truncated for column ''a'' at row 2', @e = 1265")
        );
        assert_eq!(
            get(
                "GET DIAGNOSTICS CONDITION 1 @s = RETURNED_SQLSTATE, @c = CLASS_ORIGIN",
                &shard_order,
                -1
            ),
            set("SET @s = '01000', @c = ''")
        );
        assert_eq!(
            get(
                "GET DIAGNOSTICS CONDITION 4 @m = MESSAGE_TEXT",
                &shard_order,
                0
            ),
            Some(Diagnostics::NoSuchCondition)
        );
        // ROW_NUMBER: the client's row where the list numbers them and the
        // message names one; otherwise not answerable.
        assert_eq!(
            get(
                "GET DIAGNOSTICS CONDITION 2 @r = ROW_NUMBER, @e = MYSQL_ERRNO",
                &client_rows,
                0
            ),
            set("SET @r = 2, @e = 1265")
        );
        for (sql, list) in [
            ("GET DIAGNOSTICS CONDITION 1 @r = ROW_NUMBER", &shard_order),
            ("GET DIAGNOSTICS CONDITION 3 @r = ROW_NUMBER", &client_rows),
        ] {
            assert_eq!(
                get(sql, list, 0),
                Some(Diagnostics::Unknown("ROW_NUMBER of a condition")),
                "{sql}"
            );
        }
        for unknown in [
            "GET DIAGNOSTICS CONDITION @i @m = MESSAGE_TEXT",
            "GET DIAGNOSTICS @n = NUMBER @r = ROW_COUNT",
            "GET DIAGNOSTICS CONDITION 1 @x = NO_SUCH_ITEM",
        ] {
            assert!(
                matches!(get(unknown, &shard_order, 0), Some(Diagnostics::Unknown(_))),
                "{unknown}"
            );
        }
        for other in ["GET STACKED DIAGNOSTICS @n = NUMBER", "SET @a = 1", "DO 1"] {
            assert_eq!(get(other, &shard_order, 0), None, "{other}");
        }
    }

    #[test]
    fn show_limits() {
        assert_eq!(show_limit("SHOW WARNINGS"), Some((0, None)));
        assert_eq!(show_limit("show warnings limit 2"), Some((0, Some(2))));
        assert_eq!(show_limit("SHOW WARNINGS LIMIT 1, 2;"), Some((1, Some(2))));
        assert_eq!(
            show_limit("SHOW ERRORS LIMIT 2 OFFSET 1"),
            Some((1, Some(2)))
        );
        assert_eq!(show_limit("SHOW WARNINGS LIMIT ?"), None);
    }
}
