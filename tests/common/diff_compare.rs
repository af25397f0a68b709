//! Differential test, part 3: running one statement on a connection and
//! comparing two answers exactly.
//!
//! Compared strictly: column count, names, types (`Column::column_type()`)
//! and decimals; every value byte for byte (text protocol, so DECIMAL
//! scale, date formats and string case are all visible); the row sequence
//! when the ORDER BY is total, the multiset otherwise (plus the sequence of
//! the ORDER BY columns when they are visible).
//!
//! Only where SQL leaves the answer open are values compared under the
//! column's collation: a `_ci` group/DISTINCT/MIN/MAX value may be any
//! member of its class, and rows tied on a `_ci` ORDER BY key may come in
//! any order. The collation weights come from the reference server itself
//! (`WEIGHT_STRING`), never from shardcat's own folding.
//!
//! Other metadata (display length, flags, table names) is recorded as
//! notes, not failures.
//!
//! Include with `#[path = "common/diff_compare.rs"] mod diff_compare;`
//! (needs `diff_queries` as a sibling module).
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use mysql_async::consts::{ColumnFlags, ColumnType};
use mysql_async::prelude::*;
use mysql_async::{Conn, Row, Value};

use super::diff_queries::OrderCheck;

/// Column metadata as the client sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColMeta {
    pub name: String,
    pub column_type: ColumnType,
    pub decimals: u8,
    pub charset: u16,
    pub length: u32,
    pub flags: ColumnFlags,
    pub table: String,
    pub org_table: String,
}

pub type Val = Option<Vec<u8>>;

#[derive(Debug, Clone)]
pub struct ResultSet {
    pub cols: Vec<ColMeta>,
    pub rows: Vec<Vec<Val>>,
}

#[derive(Debug, Clone)]
pub enum Answer {
    Rows(ResultSet),
    /// A server error packet (code, SQLSTATE, message).
    Error(u16, String, String),
    /// No answer within the timeout, or the connection broke.
    Broken(String),
}

impl Answer {
    pub fn short(&self) -> String {
        match self {
            Answer::Rows(r) => format!("{} rows", r.rows.len()),
            Answer::Error(c, s, m) => format!("ERROR {c} ({s}): {m}"),
            Answer::Broken(m) => format!("BROKEN: {m}"),
        }
    }
}

/// Runs `sql` (text protocol) and collects the first result set.
pub async fn run(conn: &mut Conn, sql: &str, timeout: Duration) -> Answer {
    run_as(conn, sql, timeout, false).await
}

/// Runs `sql` as a prepared statement (binary protocol, no parameters);
/// non-string values are rendered as SQL literals.
pub async fn run_prepared(conn: &mut Conn, sql: &str, timeout: Duration) -> Answer {
    run_as(conn, sql, timeout, true).await
}

/// The first result set of a `QueryResult` of either protocol (the rest
/// drained).
macro_rules! collect_result {
    ($result:ident) => {{
        let cols: Vec<ColMeta> = $result
            .columns()
            .map(|cs| {
                cs.iter()
                    .map(|c| ColMeta {
                        name: c.name_str().into_owned(),
                        column_type: c.column_type(),
                        decimals: c.decimals(),
                        charset: c.character_set(),
                        length: c.column_length(),
                        flags: c.flags(),
                        table: c.table_str().into_owned(),
                        org_table: c.org_table_str().into_owned(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let rows: Vec<Row> = $result.collect().await?;
        while !$result.is_empty() {
            let _: Vec<Row> = $result.collect().await?;
        }
        let rows = rows
            .into_iter()
            .map(|r| {
                r.unwrap()
                    .into_iter()
                    .map(|v| match v {
                        Value::NULL => None,
                        Value::Bytes(b) => Some(b),
                        other => Some(other.as_sql(true).into_bytes()),
                    })
                    .collect()
            })
            .collect();
        Ok::<_, mysql_async::Error>(ResultSet { cols, rows })
    }};
}

async fn run_as(conn: &mut Conn, sql: &str, timeout: Duration, binary: bool) -> Answer {
    let fut = async {
        if binary {
            let mut result = conn.exec_iter(sql, ()).await?;
            collect_result!(result)
        } else {
            let mut result = conn.query_iter(sql).await?;
            collect_result!(result)
        }
    };
    match tokio::time::timeout(timeout, fut).await {
        Err(_) => Answer::Broken(format!("no answer within {timeout:?}")),
        Ok(Ok(rs)) => Answer::Rows(rs),
        Ok(Err(mysql_async::Error::Server(e))) => Answer::Error(e.code, e.state, e.message),
        Ok(Err(e)) => Answer::Broken(e.to_string()),
    }
}

/// Collation weights from the reference server, cached.
pub struct Weights {
    cache: HashMap<(u16, Vec<u8>), Vec<u8>>,
    /// Per output column: the (charset, collation) its values compare
    /// under when the caller knows it better than the result metadata
    /// (which carries the connection's character set, not the column's:
    /// `latin1_swedish_ci`, `_nopad_` collations). Set by the caller before
    /// `compare`.
    pub collations: Vec<Option<(String, String)>>,
    by_name: HashMap<(String, Vec<u8>), Vec<u8>>,
}

impl Default for Weights {
    fn default() -> Self {
        Self::new()
    }
}

/// The `_ci` collations whose weights we ask for (id → name, charset).
fn ci_collation(id: u16) -> Option<(&'static str, &'static str)> {
    match id {
        45 => Some(("utf8mb4_general_ci", "utf8mb4")),
        33 => Some(("utf8mb3_general_ci", "utf8mb3")),
        224 => Some(("utf8mb4_unicode_ci", "utf8mb4")),
        _ => None,
    }
}

fn is_string_type(t: ColumnType) -> bool {
    use ColumnType::*;
    matches!(
        t,
        MYSQL_TYPE_VARCHAR
            | MYSQL_TYPE_VAR_STRING
            | MYSQL_TYPE_STRING
            | MYSQL_TYPE_TINY_BLOB
            | MYSQL_TYPE_MEDIUM_BLOB
            | MYSQL_TYPE_LONG_BLOB
            | MYSQL_TYPE_BLOB
    )
}

/// True for a column whose values compare under a `_ci` collation.
/// (MariaDB reports `x COLLATE utf8mb4_bin` with the connection's `_ci`
/// character set number and BINARY_FLAG: such columns are binary.)
pub fn ci_column(c: &ColMeta) -> bool {
    is_string_type(c.column_type)
        && ci_collation(c.charset).is_some()
        && !c.flags.contains(ColumnFlags::BINARY_FLAG)
}

/// FLOAT and DOUBLE: the last digits depend on the order of additions
/// (even on one server), so values compare to 12 significant digits.
pub fn float_column(c: &ColMeta) -> bool {
    matches!(
        c.column_type,
        ColumnType::MYSQL_TYPE_DOUBLE | ColumnType::MYSQL_TYPE_FLOAT
    )
}

/// `representative`: -0 and 0 are one value (either may stand for a
/// group or a MIN/MAX).
fn float_canon(v: &[u8], representative: bool) -> Option<Vec<u8>> {
    let mut x: f64 = std::str::from_utf8(v).ok()?.trim().parse().ok()?;
    if representative && x == 0.0 {
        x = 0.0;
    }
    let mut out = b"\x00F:".to_vec();
    out.extend(format!("{x:.11e}").into_bytes());
    Some(out)
}

impl Weights {
    pub fn new() -> Weights {
        Weights {
            cache: HashMap::new(),
            collations: Vec::new(),
            by_name: HashMap::new(),
        }
    }

    /// The weight of `v` under collation `id` (trailing spaces removed:
    /// these collations are PAD SPACE).
    pub async fn weight(&mut self, reference: &mut Conn, id: u16, v: &[u8]) -> Vec<u8> {
        let end = v.iter().rposition(|&b| b != b' ').map_or(0, |p| p + 1);
        let v = &v[..end];
        let key = (id, v.to_vec());
        if let Some(w) = self.cache.get(&key) {
            return w.clone();
        }
        let Some((name, cs)) = ci_collation(id) else {
            return v.to_vec();
        };
        let sql = format!("SELECT WEIGHT_STRING(CONVERT(? USING {cs}) COLLATE {name})");
        let w: Option<Vec<u8>> = reference
            .exec_first(sql, (Value::Bytes(v.to_vec()),))
            .await
            .unwrap_or_else(|e| panic!("WEIGHT_STRING on the reference: {e}"));
        let w = w.unwrap_or_default();
        self.cache.insert(key, w.clone());
        w
    }

    /// The weight of `v` under a named collation (`_nopad_` ones keep
    /// trailing spaces, the others pad).
    pub async fn weight_in(
        &mut self,
        reference: &mut Conn,
        cs: &str,
        coll: &str,
        v: &[u8],
    ) -> Vec<u8> {
        let key = (coll.to_owned(), v.to_vec());
        if let Some(w) = self.by_name.get(&key) {
            return w.clone();
        }
        let pad = if coll.contains("nopad") {
            ""
        } else {
            " AS CHAR(64)"
        };
        let sql = format!(
            "SELECT WEIGHT_STRING(CONVERT(CONVERT(? USING utf8mb4) USING {cs}) COLLATE {coll}{pad})"
        );
        let w: Option<Vec<u8>> = reference
            .exec_first(sql, (Value::Bytes(v.to_vec()),))
            .await
            .unwrap_or_else(|e| panic!("WEIGHT_STRING on the reference: {e}"));
        let w = w.unwrap_or_default();
        self.by_name.insert(key, w.clone());
        w
    }

    /// A row with the values of `cols` (all if `None`) replaced by their
    /// weights where the column is `_ci`; marks weights so that they never
    /// equal a raw value. `orig[j]` is the output column of `row[j]`.
    async fn canon(
        &mut self,
        reference: &mut Conn,
        meta: &[ColMeta],
        row: &[Val],
        weigh: bool,
        orig: Option<&[usize]>,
    ) -> Vec<Val> {
        let mut out = Vec::with_capacity(row.len());
        for (j, v) in row.iter().enumerate() {
            let at = orig.and_then(|o| o.get(j).copied()).unwrap_or(j);
            let named = self.collations.get(at).cloned().flatten();
            match (v, meta.get(j)) {
                (Some(b), Some(m)) if float_column(m) => {
                    out.push(Some(float_canon(b, weigh).unwrap_or_else(|| b.clone())));
                }
                (Some(b), Some(_)) if weigh && named.is_some() => {
                    let (cs, coll) = named.unwrap_or_default();
                    let mut w = b"\x00N:".to_vec();
                    w.extend(self.weight_in(reference, &cs, &coll, b).await);
                    out.push(Some(w));
                }
                (Some(b), Some(m)) if weigh && ci_column(m) => {
                    let mut w = b"\x00W:".to_vec();
                    w.extend(self.weight(reference, m.charset, b).await);
                    out.push(Some(w));
                }
                (Some(b), Some(m)) if weigh && is_string_type(m.column_type) && m.charset != 63 => {
                    // PAD SPACE `_bin` (`x COLLATE utf8mb4_bin`): 'a' and
                    // 'a ' are one value; either may represent it.
                    let end = b.iter().rposition(|&c| c != b' ').map_or(0, |p| p + 1);
                    let mut w = b"\x00P:".to_vec();
                    w.extend_from_slice(&b[..end]);
                    out.push(Some(w));
                }
                _ => out.push(v.clone()),
            }
        }
        out
    }
}

/// The verdict on one query.
#[derive(Debug, Clone)]
pub enum Verdict {
    Pass,
    /// shardcat said clearly that it cannot run this statement.
    Refused(String),
    /// Both sides failed (a query the generator should not make).
    BothError(String),
    /// (kind of difference, description)
    Wrong(String, String),
}

/// Metadata differences that are not failures, by kind.
#[derive(Debug, Default)]
pub struct Notes {
    pub counts: BTreeMap<String, usize>,
    pub examples: BTreeMap<String, Vec<String>>,
}

impl Notes {
    fn add(&mut self, kind: &str, example: String) {
        *self.counts.entry(kind.to_owned()).or_default() += 1;
        let ex = self.examples.entry(kind.to_owned()).or_default();
        if ex.len() < 3 {
            ex.push(example);
        }
    }
}

/// A refusal is an error shardcat raised itself with a message (1105
/// routing errors, 1235 "doesn't yet support"), not a backend's complaint
/// about a rewritten statement nor an internal error.
pub fn is_clear_refusal(code: u16, message: &str) -> bool {
    let internal = message.contains("internal error") || message.starts_with("internal:");
    (code == 1105 || code == 1235) && !internal && !message.is_empty()
}

pub fn show_val(v: &Val) -> String {
    match v {
        None => "NULL".to_owned(),
        Some(b) if b.starts_with(b"\x00W:") => {
            let hex: String = b[3..].iter().map(|x| format!("{x:02X}")).collect();
            format!("w:{hex}")
        }
        Some(b) => {
            let s = String::from_utf8_lossy(b);
            let s: String = s.chars().take(160).collect();
            format!("{s:?}")
        }
    }
}

pub fn show_row(r: &[Val]) -> String {
    format!(
        "({})",
        r.iter().map(show_val).collect::<Vec<_>>().join(", ")
    )
}

/// Up to `max` rows around `at`, one per line.
pub fn show_rows(rows: &[Vec<Val>], at: usize, max: usize) -> String {
    let start = at.saturating_sub(2);
    let mut s = String::new();
    for (i, r) in rows.iter().enumerate().skip(start).take(max) {
        s.push_str(&format!("      [{i}] {}\n", show_row(r)));
    }
    if rows.len() > start + max {
        s.push_str(&format!("      ... ({} rows in all)\n", rows.len()));
    }
    if rows.is_empty() {
        s.push_str("      (no rows)\n");
    }
    s
}

fn show_cols(c: &[ColMeta]) -> String {
    c.iter()
        .map(|m| format!("{}:{:?}/{}", m.name, m.column_type, m.decimals))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Compares shardcat's answer with the reference's.
pub async fn compare(
    proxy: &Answer,
    reference_answer: &Answer,
    order: &OrderCheck,
    representative: bool,
    weights: &mut Weights,
    reference: &mut Conn,
    notes: &mut Notes,
) -> Verdict {
    let (p, r) = match (proxy, reference_answer) {
        (Answer::Rows(p), Answer::Rows(r)) => (p, r),
        (Answer::Error(c, _, m), Answer::Rows(_)) if is_clear_refusal(*c, m) => {
            return Verdict::Refused(m.clone())
        }
        (Answer::Error(..) | Answer::Broken(_), Answer::Rows(r)) => {
            return Verdict::Wrong(
                "error".to_owned(),
                format!(
                    "shardcat failed where the reference answered {} rows: {}",
                    r.rows.len(),
                    proxy.short()
                ),
            )
        }
        (Answer::Rows(p), _) => {
            return Verdict::Wrong(
                "error".to_owned(),
                format!(
                    "shardcat answered {} rows where the reference failed: {}",
                    p.rows.len(),
                    reference_answer.short()
                ),
            )
        }
        (_, _) => {
            return Verdict::BothError(format!(
                "reference: {} | shardcat: {}",
                reference_answer.short(),
                proxy.short()
            ))
        }
    };
    // Metadata.
    if p.cols.len() != r.cols.len() {
        return Verdict::Wrong(
            "column count".to_owned(),
            format!(
                "column count {} vs reference {}\n    shardcat:  {}\n    reference: {}",
                p.cols.len(),
                r.cols.len(),
                show_cols(&p.cols),
                show_cols(&r.cols)
            ),
        );
    }
    // Problems found, as (kind, description); the answer is wrong if any.
    let mut problems: Vec<(&'static str, String)> = Vec::new();
    for (j, (a, b)) in p.cols.iter().zip(&r.cols).enumerate() {
        if a.name != b.name {
            problems.push((
                "column name",
                format!("column {j} name {:?} vs reference {:?}", a.name, b.name),
            ));
        }
        if a.column_type != b.column_type {
            problems.push((
                "column type",
                format!(
                    "column {j} ({}) type {:?} vs reference {:?}",
                    b.name, a.column_type, b.column_type
                ),
            ));
        }
        if a.decimals != b.decimals
            && is_string_type(a.column_type)
            && is_string_type(b.column_type)
            && [a.decimals, b.decimals].iter().all(|&d| d == 0 || d == 39)
        {
            // MIN/MAX of a string reports 39 (NOT_FIXED_DEC) or 0 depending
            // on whether the server's plan reads the result from a
            // temporary table: the same query on the reference alone shows
            // both (`WHERE note = 'gift' GROUP BY note` gives 39, `GROUP BY
            // note` 0). Meaningless for strings: a note, not a failure.
            notes.add(
                "string_decimals",
                format!("{}: {} vs {}", b.name, a.decimals, b.decimals),
            );
        } else if a.decimals != b.decimals {
            problems.push((
                "column decimals",
                format!(
                    "column {j} ({}) decimals {} vs reference {}",
                    b.name, a.decimals, b.decimals
                ),
            ));
        }
        if a.charset != b.charset {
            notes.add(
                "charset",
                format!("{}: {} vs {}", b.name, a.charset, b.charset),
            );
        }
        if a.length != b.length {
            notes.add(
                "column_length",
                format!("{}: {} vs {}", b.name, a.length, b.length),
            );
        }
        if a.flags != b.flags {
            notes.add(
                "flags",
                format!("{}: {:?} vs {:?}", b.name, a.flags, b.flags),
            );
        }
        if a.table != b.table || a.org_table != b.org_table {
            notes.add(
                "table_name",
                format!(
                    "{}: table {:?}/{:?} vs {:?}/{:?}",
                    b.name, a.table, a.org_table, b.table, b.org_table
                ),
            );
        }
    }
    // Values: canonical rows (weights where the answer is open), kept
    // beside the raw rows for display.
    let mut pc = Vec::with_capacity(p.rows.len());
    for row in &p.rows {
        pc.push((
            weights
                .canon(reference, &r.cols, row, representative, None)
                .await,
            row.clone(),
        ));
    }
    let mut rc = Vec::with_capacity(r.rows.len());
    for row in &r.rows {
        rc.push((
            weights
                .canon(reference, &r.cols, row, representative, None)
                .await,
            row.clone(),
        ));
    }
    let shown =
        |what: String, at: usize, pc: &[(Vec<Val>, Vec<Val>)], rc: &[(Vec<Val>, Vec<Val>)]| {
            let praw: Vec<Vec<Val>> = pc.iter().map(|x| x.1.clone()).collect();
            let rraw: Vec<Vec<Val>> = rc.iter().map(|x| x.1.clone()).collect();
            format!(
                "{what} ({} rows vs reference {})\n    shardcat:\n{}    reference:\n{}",
                pc.len(),
                rc.len(),
                show_rows(&praw, at, 8),
                show_rows(&rraw, at, 8)
            )
        };
    let canon = |v: &[(Vec<Val>, Vec<Val>)]| v.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
    let kind_of = |pn: usize, rn: usize| if pn == rn { "values" } else { "row count" };
    match order {
        OrderCheck::Total => {
            if let Some(at) = first_diff(&canon(&pc), &canon(&rc)) {
                problems.push((
                    kind_of(pc.len(), rc.len()),
                    shown(format!("rows differ from row {at}"), at, &pc, &rc),
                ));
            }
        }
        OrderCheck::Keys(_) | OrderCheck::Unordered => {
            let mut ps = pc.clone();
            let mut rs = rc.clone();
            ps.sort();
            rs.sort();
            if let Some(at) = first_diff(&canon(&ps), &canon(&rs)) {
                problems.push((
                    kind_of(pc.len(), rc.len()),
                    shown(
                        format!("row multisets differ (both sorted, from row {at})"),
                        at,
                        &ps,
                        &rs,
                    ),
                ));
            } else if let OrderCheck::Keys(keys) = order {
                // The ORDER BY columns, in sequence, under their collation.
                let mut pk = Vec::new();
                for row in &p.rows {
                    pk.push((
                        project(weights, reference, &r.cols, row, keys).await,
                        row.clone(),
                    ));
                }
                let mut rk = Vec::new();
                for row in &r.rows {
                    rk.push((
                        project(weights, reference, &r.cols, row, keys).await,
                        row.clone(),
                    ));
                }
                if let Some(at) = first_diff(&canon(&pk), &canon(&rk)) {
                    problems.push((
                        "order",
                        shown(
                            format!("order of the ORDER BY columns {keys:?} differs from row {at}"),
                            at,
                            &pk,
                            &rk,
                        ),
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        Verdict::Pass
    } else {
        let mut kinds: Vec<&str> = problems.iter().map(|p| p.0).collect();
        kinds.sort_unstable();
        kinds.dedup();
        Verdict::Wrong(
            kinds.join("+"),
            problems
                .into_iter()
                .map(|p| p.1)
                .collect::<Vec<_>>()
                .join("\n    "),
        )
    }
}

async fn project(
    weights: &mut Weights,
    reference: &mut Conn,
    meta: &[ColMeta],
    row: &[Val],
    keys: &[usize],
) -> Vec<Val> {
    let sub: Vec<Val> = keys
        .iter()
        .map(|&k| row.get(k).cloned().flatten())
        .collect();
    let sub_meta: Vec<ColMeta> = keys.iter().filter_map(|&k| meta.get(k).cloned()).collect();
    weights
        .canon(reference, &sub_meta, &sub, true, Some(keys))
        .await
}

fn first_diff(a: &[Vec<Val>], b: &[Vec<Val>]) -> Option<usize> {
    let n = a.len().min(b.len());
    (0..n)
        .find(|&i| a[i] != b[i])
        .or(if a.len() != b.len() { Some(n) } else { None })
}
