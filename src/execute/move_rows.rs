//! Moving rows between physical tables exactly (sharding-key UPDATE):
//! rows are read with a prepared SELECT, so they come back in the binary
//! protocol, and written with prepared INSERTs whose parameters are those
//! binary values unchanged (`merge::binary::row_as_params`): no text
//! re-quoting, no float rounding, no literal per type.
//!
//! Owns: reading a result into memory (bounded), the INSERT batches, the
//! list of columns a copy writes. Must not: choose connections, begin or
//! end transactions, or answer the client.

use bytes::Bytes;

use super::command::Command;
use super::write::run_on_all;
use crate::backend::connection::read_small_result;
use crate::backend::BackendConn;
use crate::error::{ProxyError, Result};
use crate::frontend::prepared::{ExecutePackets, ExecuteRequest};
use crate::merge::binary::{param_type, row_as_params};
use crate::merge::row::ColumnInfo;
use crate::session_state::quote_ident;
use crate::wire::ok_sum::WriteKind;
use crate::wire::packets::{is_err, is_terminator, ErrPacket, OkPacket, Reader};

/// A result read whole: its columns and its binary rows.
pub struct Rows {
    pub columns: Vec<ColumnInfo>,
    pub rows: Vec<Bytes>,
}

/// The bytes of parameter values one INSERT of a move carries at most (a
/// longer row goes alone).
const BATCH_BYTES: usize = 1 << 20;
/// Placeholders one prepared statement may have.
const MAX_PLACEHOLDERS: usize = 65_535;

/// `schema`.`table`, or `table`.
pub fn table_sql(schema: Option<&str>, table: &str) -> String {
    match schema {
        Some(s) => format!("{}.{}", quote_ident(s), quote_ident(table)),
        None => quote_ident(table),
    }
}

/// The columns of `table` a copy of its rows writes, in table order:
/// every column (invisible ones too) but the generated ones, which the
/// server computes. Read with `SHOW COLUMNS`, which opens the table (and so
/// waits for a DDL in progress on it) where `information_schema` may skip
/// a table under DDL and list nothing.
pub async fn writable_columns(
    conn: &mut BackendConn,
    schema: Option<&str>,
    table: &str,
) -> Result<Vec<String>> {
    let sql = format!("SHOW COLUMNS FROM {}", table_sql(schema, table));
    conn.send_command(&super::command::query_packet(&sql))
        .await?;
    let columns = stored_columns(read_small_result(conn).await?);
    if columns.is_empty() {
        return Err(ProxyError::Internal(format!(
            "no columns found for the physical table `{table}`"
        )));
    }
    Ok(columns)
}

/// The `Field` of each `SHOW COLUMNS` row whose `Extra` does not mark a
/// generated column (`VIRTUAL GENERATED`, `STORED GENERATED`, MariaDB's
/// older `VIRTUAL`/`PERSISTENT`); MySQL's `DEFAULT_GENERATED` (an
/// expression default) is a stored column like any other.
fn stored_columns<B: AsRef<[u8]>>(rows: Vec<Vec<Option<B>>>) -> Vec<String> {
    let generated = |extra: &[u8]| {
        String::from_utf8_lossy(extra)
            .split_ascii_whitespace()
            .any(|w| {
                ["VIRTUAL", "STORED", "PERSISTENT"]
                    .iter()
                    .any(|g| w.eq_ignore_ascii_case(g))
            })
    };
    rows.into_iter()
        .filter(|r| {
            !r.get(5)
                .and_then(Option::as_ref)
                .is_some_and(|e| generated(e.as_ref()))
        })
        .filter_map(|r| r.into_iter().next().flatten())
        .map(|b| String::from_utf8_lossy(b.as_ref()).into_owned())
        .collect()
}

/// An execute of `sql` without parameters (the binary protocol for a
/// statement whose values are all in its text).
pub fn no_params() -> ExecuteRequest {
    ExecuteRequest::from_params(Vec::new(), &[], Vec::new())
}

/// Sends `command` (a prepared SELECT) and reads its whole result; more
/// than `max_rows` rows are read to the end (the connection stays in
/// step) and refused.
pub async fn read_rows(
    conn: &mut BackendConn,
    command: &Command<'_>,
    max_rows: usize,
) -> Result<Rows> {
    command.send_on(conn).await?;
    let first = conn.read_packet().await?.payload;
    if is_err(&first) {
        return Err(backend_error(&first));
    }
    let n = Reader::new(&first)
        .lenenc_int()
        .ok_or_else(|| ProxyError::MalformedPacket("bad result header".into()))?
        as usize;
    let mut columns = Vec::with_capacity(n);
    for _ in 0..n {
        let raw = conn.read_packet().await?.payload;
        let c = ColumnInfo::parse(raw)
            .ok_or_else(|| ProxyError::MalformedPacket("bad column definition".into()))?;
        columns.push(c);
    }
    let mut rows = Vec::new();
    let mut too_many = false;
    loop {
        let p = conn.read_packet().await?.payload;
        if is_err(&p) {
            return Err(backend_error(&p));
        }
        if is_terminator(&p) {
            conn.absorb_ok(&p);
            break;
        }
        if rows.len() == max_rows {
            too_many = true;
            rows.clear();
        }
        if !too_many {
            rows.push(p);
        }
    }
    if too_many {
        return Err(ProxyError::Unsupported(format!(
            "a statement that moves more than {max_rows} rows between shards \
             ([routing] move_max_rows)"
        )));
    }
    Ok(Rows { columns, rows })
}

fn backend_error(payload: &[u8]) -> ProxyError {
    ProxyError::Backend(
        ErrPacket::parse(payload).unwrap_or_else(|| ErrPacket::new(1105, "HY000", "error")),
    )
}

/// One row as the parameters of an INSERT: a NULL flag per column and
/// the non-NULL values' bytes (binary-protocol encoding).
#[derive(Debug, Default, Clone)]
pub struct ParamRow {
    pub nulls: Vec<bool>,
    pub values: Vec<u8>,
}

/// Binary row `packet` of `columns` as a [`ParamRow`].
pub fn param_row(packet: &[u8], columns: &[ColumnInfo]) -> Result<ParamRow> {
    let mut row = ParamRow::default();
    row_as_params(packet, columns, &mut row.nulls, &mut row.values)
        .map_err(|e| ProxyError::Internal(e.to_string()))?;
    Ok(row)
}

/// Inserts `rows` into `table` (its `names` columns, the rows' columns in
/// that order) in batches of prepared multi-row INSERTs; the OKs summed.
pub async fn insert_rows(
    conn: &mut BackendConn,
    table: &str,
    names: &[String],
    rows: &Rows,
) -> Result<OkPacket> {
    let width = rows.columns.len();
    if width != names.len() {
        return Err(ProxyError::Internal(format!(
            "a moved row has {width} columns for {} names",
            names.len()
        )));
    }
    let types: Vec<[u8; 2]> = rows.columns.iter().map(param_type).collect();
    let list = names
        .iter()
        .map(|n| quote_ident(n))
        .collect::<Vec<_>>()
        .join(", ");
    let params = rows
        .rows
        .iter()
        .map(|p| param_row(p, &rows.columns))
        .collect::<Result<Vec<_>>>()?;
    let head = format!("INSERT INTO {table} ({list}) VALUES ");
    insert_param_rows(conn, &head, "", &types, &params).await
}

/// Runs `head` (`INSERT … (<columns>) VALUES `) + rows + `tail` (an `ON
/// DUPLICATE KEY UPDATE …` or nothing) for `rows` (each with one value
/// of each type of `types`), in batches of prepared multi-row statements
/// (≤ 1 MiB of values, ≤ 65,535 placeholders each); the OKs summed as the
/// parts of one INSERT (`Records: …`).
pub async fn insert_param_rows(
    conn: &mut BackendConn,
    head: &str,
    tail: &str,
    types: &[[u8; 2]],
    rows: &[ParamRow],
) -> Result<OkPacket> {
    let width = types.len();
    let one = format!("({})", vec!["?"; width].join(", "));
    let max_rows = (MAX_PLACEHOLDERS / width.max(1)).max(1);
    let mut total = OkPacket::default();
    let mut at = 0;
    while at < rows.len() {
        let mut nulls = Vec::new();
        let mut values = Vec::new();
        let mut batch_types = Vec::new();
        let mut count = 0;
        while at + count < rows.len() && count < max_rows {
            if count > 0 && values.len() >= BATCH_BYTES {
                break;
            }
            let row = &rows[at + count];
            if row.nulls.len() != width {
                return Err(ProxyError::Internal(format!(
                    "a row of {} values for {width} columns",
                    row.nulls.len()
                )));
            }
            nulls.extend_from_slice(&row.nulls);
            values.extend_from_slice(&row.values);
            batch_types.extend(types.iter().flatten());
            count += 1;
        }
        let sql = format!("{head}{}{tail}", vec![one.as_str(); count].join(", "));
        let request = ExecuteRequest::from_params(batch_types, &nulls, values);
        let command = Command::Execute {
            sql: super::command::StmtText::Target(&sql),
            packets: ExecutePackets::Client {
                request: &request,
                long_data: &[],
            },
        };
        let ok = run_on_all(
            &mut [conn],
            std::slice::from_ref(&command),
            WriteKind::InsertLike,
        )
        .await?;
        total.add_shard(ok, WriteKind::InsertLike);
        at += count;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::stored_columns;

    fn row(field: &str, extra: &str) -> Vec<Option<Vec<u8>>> {
        let mut r: Vec<Option<Vec<u8>>> = vec![Some(field.into()), Some(b"int(11)".to_vec())];
        r.extend([Some(b"YES".to_vec()), Some(Vec::new()), None]);
        r.push(Some(extra.into()));
        r
    }

    #[test]
    fn generated_columns_are_left_out_and_expression_defaults_kept() {
        let extras = [
            ("a", "", true),
            ("b", "VIRTUAL GENERATED", false),
            ("c", "STORED GENERATED", false),
            ("d", "INVISIBLE", true),
            ("e", "DEFAULT_GENERATED", true),
            ("f", "DEFAULT_GENERATED on update CURRENT_TIMESTAMP", true),
            ("g", "auto_increment", true),
            ("h", "PERSISTENT", false),
            ("i", "virtual", false),
            ("j", "on update current_timestamp()", true),
        ];
        let rows = extras.iter().map(|(f, e, _)| row(f, e)).collect();
        let kept: Vec<String> = extras
            .iter()
            .filter(|(_, _, k)| *k)
            .map(|(f, _, _)| f.to_string())
            .collect();
        assert_eq!(stored_columns(rows), kept);
    }
}
