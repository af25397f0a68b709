//! `LOAD DATA LOCAL INFILE` into sharded and broadcast tables: reading the
//! statement (`FIELDS`/`LINES`/`IGNORE n LINES`/column list/`SET`), and,
//! once the client's file has arrived, one statement per physical table
//! with that table's rows as its file ([`split`] finds the rows as the
//! server would). Each shard's server then converts the values and counts
//! rows and warnings itself; the session sums the OKs.
//!
//! Owns: the statement's clauses, the row → slot assignment and the
//! per-target SQL. Must not do I/O (the session receives the file and
//! fetches column lists) or run anything.

pub mod split;

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Arc;

use super::lex::{ident, unescape_string};
use super::{err, LocalFile, PlanKind, RouteError, ShardPlan, ShardRouter, ShardTarget};
use crate::placement::{KeyType, LiteralKind, ParamValue, ShardKey};
use crate::sql::lexer::{unquote, Lexer, Token, TokenKind};
use split::{split_rows_with, Field, Format};

/// Character sets whose multi-byte characters may contain ASCII bytes: a
/// byte-wise split could cut a row where the server would not.
const UNSAFE_CHARSETS: &[&str] = &["big5", "cp932", "gbk", "gb18030", "sjis", "ujis", "eucjpms"];

/// What the session needs to run a `LOAD DATA` on a rule table.
#[derive(Debug, Clone)]
pub struct LoadRequest {
    pub stmt: LoadStatement,
    /// The rule table (index into the router's tables).
    table: usize,
    /// The schema the table is in.
    pub schema: String,
    /// The table's logical name.
    pub name: String,
    /// A sharded load without a column list needs the table's columns:
    /// the slot-0 node and physical table to read them from.
    pub columns_from: Option<(usize, String)>,
    /// A single-node table: the statement runs there unchanged (the file
    /// is relayed as for tables without a rule).
    pub single_node: Option<usize>,
}

/// The clauses of a `LOAD DATA` statement that matter for splitting.
#[derive(Debug, Clone, Default)]
pub struct LoadStatement {
    pub local: bool,
    /// The file name as the client's library sees it in the request.
    pub file_name: Vec<u8>,
    qualifier: Option<String>,
    table: String,
    table_span: Range<usize>,
    pub format: Format,
    pub ignore: u64,
    ignore_span: Option<Range<usize>>,
    /// The column list: `Some(name)` for a column, `None` for `@var`.
    items: Option<Vec<Option<String>>>,
    /// Columns assigned by `SET`.
    set_columns: Vec<String>,
    charset: Option<String>,
    partition: bool,
    xml: bool,
}

/// Parses the clauses of `LOAD DATA|XML … INFILE … INTO TABLE …`.
pub fn parse(sql: &str) -> Result<LoadStatement, RouteError> {
    let src = sql.as_bytes();
    let toks: Vec<Token> = Lexer::new(src).filter(|t| !t.is_trivia()).collect();
    let kw = |i: usize, k: &str| toks.get(i).is_some_and(|t| t.is_keyword(src, k));
    let mut s = LoadStatement::default();
    let mut i = 1;
    s.xml = kw(1, "XML");
    i += 1;
    while kw(i, "LOW_PRIORITY") || kw(i, "CONCURRENT") {
        i += 1;
    }
    if kw(i, "LOCAL") {
        s.local = true;
        i += 1;
    }
    if !kw(i, "INFILE") {
        return err("LOAD DATA: INFILE expected");
    }
    i += 1;
    s.file_name = string_value(sql, toks.get(i)).ok_or_else(|| bad("a file name"))?;
    i += 1;
    if kw(i, "REPLACE") || kw(i, "IGNORE") {
        i += 1;
    }
    if !(kw(i, "INTO") && kw(i + 1, "TABLE")) {
        return err("LOAD DATA: INTO TABLE expected");
    }
    i += 2;
    let name = |t: Option<&Token>| -> Option<String> {
        let t = t?;
        matches!(t.kind, TokenKind::Word | TokenKind::QuotedIdent)
            .then(|| unquote(t.bytes(src)).into_owned())
    };
    let first = name(toks.get(i)).ok_or_else(|| bad("a table name"))?;
    let start = toks[i].start;
    if toks.get(i + 1).is_some_and(|t| t.is_punct(src, ".")) {
        s.qualifier = Some(first);
        s.table = name(toks.get(i + 2)).ok_or_else(|| bad("a table name"))?;
        i += 2;
    } else {
        s.table = first;
    }
    s.table_span = start..toks[i].end;
    i += 1;
    i = parse_options(sql, &toks, i, &mut s)?;
    if i < toks.len() {
        return err(format!(
            "LOAD DATA: unexpected `{}`",
            toks[i].text(sql).chars().take(40).collect::<String>()
        ));
    }
    Ok(s)
}

fn bad(what: &str) -> RouteError {
    RouteError(format!("LOAD DATA: {what} expected"))
}

/// The clauses after the table name; returns the index after them.
fn parse_options(
    sql: &str,
    toks: &[Token],
    mut i: usize,
    s: &mut LoadStatement,
) -> Result<usize, RouteError> {
    let src = sql.as_bytes();
    let kw = |i: usize, k: &str| toks.get(i).is_some_and(|t| t.is_keyword(src, k));
    let value = |i: usize| string_value(sql, toks.get(i)).ok_or_else(|| bad("a string"));
    let one = |v: Vec<u8>, what: &str| -> Result<Option<u8>, RouteError> {
        match v.as_slice() {
            [] => Ok(None),
            [b] => Ok(Some(*b)),
            _ => err(format!("LOAD DATA: {what} must be one character")),
        }
    };
    if kw(i, "PARTITION") {
        s.partition = true;
        return Ok(toks.len());
    }
    if kw(i, "CHARACTER") && kw(i + 1, "SET") {
        s.charset = toks
            .get(i + 2)
            .map(|t| unquote(t.bytes(src)).to_lowercase());
        i += 3;
    } else if kw(i, "CHARSET") {
        s.charset = toks
            .get(i + 1)
            .map(|t| unquote(t.bytes(src)).to_lowercase());
        i += 2;
    }
    if kw(i, "ROWS") && kw(i + 1, "IDENTIFIED") && kw(i + 2, "BY") {
        i += 4; // LOAD XML
    }
    if kw(i, "FIELDS") || kw(i, "COLUMNS") {
        i += 1;
        loop {
            if kw(i, "TERMINATED") && kw(i + 1, "BY") {
                s.format.field_term = value(i + 2)?;
                i += 3;
            } else if kw(i, "OPTIONALLY") || kw(i, "ENCLOSED") {
                i += usize::from(kw(i, "OPTIONALLY"));
                s.format.enclosed = one(value(i + 2)?, "ENCLOSED BY")?;
                i += 3;
            } else if kw(i, "ESCAPED") && kw(i + 1, "BY") {
                s.format.escape = one(value(i + 2)?, "ESCAPED BY")?;
                i += 3;
            } else {
                break;
            }
        }
    }
    if kw(i, "LINES") {
        i += 1;
        loop {
            if kw(i, "STARTING") && kw(i + 1, "BY") {
                s.format.line_start = value(i + 2)?;
                i += 3;
            } else if kw(i, "TERMINATED") && kw(i + 1, "BY") {
                s.format.line_term = value(i + 2)?;
                i += 3;
            } else {
                break;
            }
        }
    }
    if kw(i, "IGNORE") {
        let n = toks
            .get(i + 1)
            .filter(|t| t.kind == TokenKind::Number)
            .and_then(|t| t.text(sql).parse::<u64>().ok())
            .ok_or_else(|| bad("a number of lines"))?;
        if !(kw(i + 2, "LINES") || kw(i + 2, "ROWS")) {
            return Err(bad("LINES"));
        }
        s.ignore = n;
        s.ignore_span = Some(toks[i].start..toks[i + 2].end);
        i += 3;
    }
    if toks.get(i).is_some_and(|t| t.is_punct(src, "(")) {
        let mut items = Vec::new();
        i += 1;
        while let Some(t) = toks.get(i) {
            if t.is_punct(src, ")") {
                i += 1;
                break;
            }
            match t.kind {
                TokenKind::Word | TokenKind::QuotedIdent => {
                    items.push(Some(unquote(t.bytes(src)).into_owned()))
                }
                TokenKind::UserVar => items.push(None),
                _ if t.is_punct(src, ",") => {}
                _ => return err("LOAD DATA: the column list holds columns and @variables only"),
            }
            i += 1;
        }
        s.items = Some(items);
    }
    if kw(i, "SET") {
        // `col = expr, …`: the name after SET and after each top-level comma.
        let mut depth = 0i32;
        let mut expect_name = true;
        i += 1;
        while let Some(t) = toks.get(i) {
            if t.is_punct(src, "(") {
                depth += 1;
            } else if t.is_punct(src, ")") {
                depth -= 1;
            } else if depth == 0 && t.is_punct(src, ",") {
                expect_name = true;
            } else if expect_name && matches!(t.kind, TokenKind::Word | TokenKind::QuotedIdent) {
                let mut name = unquote(t.bytes(src)).into_owned();
                // `t.col` / `db.t.col`: the last part names the column.
                while toks.get(i + 1).is_some_and(|d| d.is_punct(src, ".")) {
                    i += 2;
                    name = toks
                        .get(i)
                        .map(|n| unquote(n.bytes(src)).into_owned())
                        .unwrap_or_default();
                }
                s.set_columns.push(name);
                expect_name = false;
            }
            i += 1;
        }
    }
    Ok(i)
}

/// The bytes of a string (or hex) literal token.
fn string_value(sql: &str, t: Option<&Token>) -> Option<Vec<u8>> {
    let t = t?;
    let text = t.text(sql);
    match t.kind {
        TokenKind::String => {
            let open = text.find(['\'', '"'])?;
            let quote = text[open..].chars().next()?;
            let body = text.get(open + 1..text.len().checked_sub(1)?)?;
            Some(unescape_string(body, quote).into_bytes())
        }
        TokenKind::HexNumber => {
            let digits = text
                .strip_prefix("0x")
                .or_else(|| text.get(2..text.len().checked_sub(1)?))?;
            (0..digits.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(digits.get(i..i + 2)?, 16).ok())
                .collect()
        }
        _ => None,
    }
}

impl ShardRouter {
    /// For `LOAD DATA` into a table with a rule: what the session needs to
    /// run it. `Ok(None)`: not a rule table (schema routing relays it).
    pub fn load_data(
        &self,
        sql: &str,
        current_schema: Option<&str>,
    ) -> Result<Option<LoadRequest>, RouteError> {
        if self.tables.is_empty() || !self.mentions_rule_table(sql) {
            return Ok(None);
        }
        let stmt = parse(sql)?;
        let schema = stmt.qualifier.as_deref().or(current_schema);
        let Some(table) = self.find_table(schema, &stmt.table) else {
            return Ok(None);
        };
        let Some(schema) = schema.map(str::to_owned) else {
            return err("LOAD DATA: no database selected");
        };
        let info = &self.tables[table];
        let single_node = match info.kind {
            super::TableInfoKind::Single { node } => Some(node),
            _ => None,
        };
        let name = info.name.clone();
        if single_node.is_none() {
            self.check_splittable(&stmt, &name)?;
        }
        let columns_from = match (info.sharded(), &stmt.items) {
            (Some(s), None) if self.known_columns(&schema, &name).is_none() => {
                // (A period table routed today: older ones may be retired.)
                s.slots.get(s.root.first_live_slot()).cloned()
            }
            _ => None,
        };
        Ok(Some(LoadRequest {
            stmt,
            table,
            schema,
            name,
            columns_from,
            single_node,
        }))
    }

    fn check_splittable(&self, s: &LoadStatement, name: &str) -> Result<(), RouteError> {
        let refuse = |why: &str| {
            err(format!(
                "LOAD DATA into the sharded or broadcast table `{name}`: {why}"
            ))
        };
        if s.xml {
            return refuse("LOAD XML is not supported; use LOAD DATA LOCAL INFILE");
        }
        if !s.local {
            return refuse(
                "only LOAD DATA LOCAL INFILE is supported (a server-side file would be read on \
                 every node's server)",
            );
        }
        if s.partition {
            return refuse("PARTITION (…) is not supported");
        }
        if s.charset
            .as_deref()
            .is_some_and(|c| UNSAFE_CHARSETS.contains(&c))
        {
            return refuse("the character set's multi-byte characters may contain ASCII bytes");
        }
        let f = &s.format;
        let delimiters = [&f.field_term[..], &f.line_term, &f.line_start]
            .into_iter()
            .flatten()
            .chain(f.enclosed.iter())
            .chain(f.escape.iter());
        if delimiters.clone().any(|b| !b.is_ascii()) {
            return refuse("delimiters must be ASCII characters");
        }
        if f.field_term.is_empty() && f.enclosed.is_none() {
            return refuse(
                "fixed-width rows (empty FIELDS TERMINATED BY and ENCLOSED BY) are not supported",
            );
        }
        Ok(())
    }

    /// The plan of a `LOAD DATA` once its file (`data`) has arrived:
    /// one target per physical table that gets rows (every copy of a
    /// broadcast table gets the whole file). `columns`: the table's column
    /// list when the statement has none.
    pub fn plan_load_data(
        &self,
        req: &LoadRequest,
        sql: &str,
        columns: Option<&[String]>,
        data: &[u8],
    ) -> Result<ShardPlan, RouteError> {
        let info = &self.tables[req.table];
        if let super::TableInfoKind::Broadcast { nodes } = &info.kind {
            let file = LocalFile(Arc::new(data.to_vec()));
            let targets = nodes
                .iter()
                .map(|&node| target(node, sql.to_owned(), &info.name, file.clone()))
                .collect();
            return Ok(plan(targets, PlanKind::Broadcast));
        }
        let Some(sharded) = info.sharded() else {
            return err(format!(
                "LOAD DATA into `{}`: not a sharded table",
                req.name
            ));
        };
        let s = &req.stmt;
        let key = &sharded.key;
        let items: Vec<Option<String>> = match (&s.items, columns) {
            (Some(items), _) => items.clone(),
            (None, Some(cols)) => cols.iter().cloned().map(Some).collect(),
            (None, None) => return err("LOAD DATA: the table's columns are unknown"),
        };
        let want = load_column(&items, s, &req.name, key, "sharding key")?;
        // A composite table's rows go by the key and the period column.
        let period = match sharded.root.composite() {
            Some(c) => Some((
                &c.period.key,
                c.period.key_type,
                load_column(&items, s, &req.name, &c.period.key, "period column")?,
            )),
            None => None,
        };
        let (_, rows) = split_rows_with(
            data,
            &s.format,
            s.ignore,
            items.len(),
            want,
            period.as_ref().map(|p| p.2),
        );
        // Each slot's bytes and the client's numbers of its rows (the
        // server numbers the rows after the ignored lines from 1).
        let mut by_slot: BTreeMap<usize, (Vec<u8>, Vec<u32>)> = BTreeMap::new();
        for (n, row) in rows.iter().enumerate() {
            let refuse = |column: &str, what: &str, why: String| {
                err(format!(
                    "LOAD DATA into `{}`: row {}: the {what} `{column}` is {why}; nothing was loaded",
                    req.name,
                    n + 1
                ))
            };
            let key_value = match field_key(row.field.as_ref(), sharded.key_type) {
                Ok(k) => k,
                Err(why) => return refuse(key, "sharding key", why),
            };
            let period_value = match &period {
                Some((column, key_type, _)) => match field_key(row.second.as_ref(), *key_type) {
                    Ok(k) => Some(k),
                    Err(why) => return refuse(column, "period column", why),
                },
                None => None,
            };
            let slot = match sharded
                .root
                .slot_for_keys(&key_value, period_value.as_ref())
            {
                Ok(slot) => slot,
                Err(e) => {
                    return err(format!(
                        "LOAD DATA into `{}`: row {}: {e}; nothing was loaded",
                        req.name,
                        n + 1
                    ))
                }
            };
            let chunk = data.get(row.chunk.clone()).unwrap_or_default();
            let (bytes, numbers) = by_slot.entry(slot).or_default();
            bytes.extend_from_slice(chunk);
            numbers.push(u32::try_from(n + 1).unwrap_or(u32::MAX));
        }
        if by_slot.is_empty() {
            // No rows: one server still answers (`Records: 0 …`).
            by_slot.insert(sharded.root.first_live_slot(), Default::default());
        }
        let mut targets = Vec::new();
        for (slot, (rows, numbers)) in by_slot {
            let Some((node, physical)) = sharded.slots.get(slot) else {
                return err(format!("LOAD DATA: no slot {slot}"));
            };
            let sql = shard_sql(sql, s, physical);
            let mut t = target(*node, sql, physical, LocalFile(Arc::new(rows)));
            t.rows = Some(numbers.into());
            targets.push(t);
        }
        Ok(plan(targets, PlanKind::Scatter))
    }
}

/// The position of `column` (the sharding key, or a composite table's
/// period column) in the statement's column list; refused when `SET`
/// assigns it or the list lacks it (rows are routed by its value in the
/// file).
fn load_column(
    items: &[Option<String>],
    s: &LoadStatement,
    table: &str,
    column: &str,
    what: &str,
) -> Result<usize, RouteError> {
    if s.set_columns.iter().any(|c| c.eq_ignore_ascii_case(column)) {
        return err(format!(
            "LOAD DATA into `{table}`: the {what} `{column}` is assigned by SET; shardcat routes \
             rows by the {what}'s value in the file, so list `{column}` in the column list instead"
        ));
    }
    items
        .iter()
        .position(|c| c.as_deref().is_some_and(|c| c.eq_ignore_ascii_case(column)))
        .map_or_else(
            || {
                err(format!(
                    "LOAD DATA into `{table}`: the column list must include the {what} `{column}`"
                ))
            },
            Ok,
        )
}

/// The key of a row's field (refused when NULL or missing).
fn field_key(field: Option<&Field>, key_type: KeyType) -> Result<ShardKey, String> {
    match field {
        Some(Field::Value(v)) => key_of_field(v, key_type),
        Some(Field::Null) => Err("NULL".to_owned()),
        None => Err("missing".to_owned()),
    }
}

/// The key a shard's server stores for a field's text. An integer column
/// takes the longest numeric prefix (`' 12abc'` → 12, `'x'` → 0, with a
/// warning from the server), as MySQL's string-to-integer conversion does.
fn key_of_field(v: &[u8], key_type: KeyType) -> Result<ShardKey, String> {
    let exact = ShardKey::from_param(ParamValue::Bytes(v), key_type);
    if key_type != KeyType::Int || exact.is_ok() {
        return exact.map_err(|e| e.to_string());
    }
    let text = String::from_utf8_lossy(v);
    let prefix = numeric_prefix(text.trim_start());
    if prefix.is_empty() {
        return Ok(ShardKey::Int(0));
    }
    ShardKey::from_literal(prefix, LiteralKind::Number, key_type).map_err(|e| e.to_string())
}

/// The longest prefix of `s` that is a number: `[+-]digits[.digits][e[+-]digits]`.
fn numeric_prefix(s: &str) -> &str {
    let b = s.as_bytes();
    let digits = |mut i: usize| {
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let int_end = digits(i);
    let mut end = int_end;
    i = int_end;
    if b.get(i) == Some(&b'.') {
        let frac_end = digits(i + 1);
        if frac_end > i + 1 || int_end > usize::from(matches!(b.first(), Some(b'+' | b'-'))) {
            end = frac_end;
        }
    }
    let has_digits = b[..end].iter().any(u8::is_ascii_digit);
    if !has_digits {
        return "";
    }
    if matches!(b.get(end), Some(b'e' | b'E')) {
        let mut j = end + 1;
        if matches!(b.get(j), Some(b'+' | b'-')) {
            j += 1;
        }
        let exp_end = digits(j);
        if exp_end > j {
            end = exp_end;
        }
    }
    &s[..end]
}

/// The statement for one physical table: its name spliced in, `IGNORE n
/// LINES` dropped (the ignored lines are not sent).
fn shard_sql(sql: &str, s: &LoadStatement, physical: &str) -> String {
    let mut name = String::new();
    if let Some(q) = &s.qualifier {
        name.push_str(&ident(q, true));
        name.push('.');
    }
    name.push_str(&ident(physical, true));
    let mut out = String::with_capacity(sql.len() + 8);
    out.push_str(&sql[..s.table_span.start]);
    out.push_str(&name);
    match &s.ignore_span {
        Some(ig) => {
            out.push_str(&sql[s.table_span.end..ig.start]);
            out.push_str(&sql[ig.end..]);
        }
        None => out.push_str(&sql[s.table_span.end..]),
    }
    out
}

/// One shard's LOAD DATA; `table` (the physical table it writes) is what a
/// shard move's write pause matches.
fn target(node: usize, sql: String, table: &str, file: LocalFile) -> ShardTarget {
    ShardTarget {
        node,
        sql,
        tables: vec![table.to_owned()].into(),
        params: Default::default(),
        local_file: Some(file),
        rows: None,
    }
}

fn plan(targets: Vec<ShardTarget>, kind: PlanKind) -> ShardPlan {
    ShardPlan {
        targets,
        kind,
        merge: None,
        generated_id: None,
        write: true,
    }
}

#[cfg(test)]
mod tests;
