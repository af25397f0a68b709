//! How a resplit routes one row of an old table: the table's columns (in
//! the binary log's order), its primary key, its key column, and the new
//! slot of a key value under the new rule — the same placement code the
//! proxy routes with (hash of the collation-canonical key bytes), which SQL
//! cannot compute for string keys.
//!
//! Owns: reading an old table's shape from `information_schema`, refusing
//! the column types the catch-up cannot replay exactly, a value → slot.
//! Must not: read or write rows (`copy`, `binlog`).

use std::collections::HashMap;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Value};

use crate::placement::{KeyType, ParamValue, ShardKey, ShardedTable};

/// An old physical table and the new tables its rows go to.
#[derive(Debug, Clone)]
pub(crate) struct OldTable {
    pub(crate) name: String,
    /// Column names in table order.
    pub(crate) columns: Vec<String>,
    /// Bits of each unsigned integer column (its binlog value is signed).
    pub(crate) unsigned_bits: Vec<Option<u32>>,
    /// Positions of the primary key's columns.
    pub(crate) pk: Vec<usize>,
    /// Position of the sharding key column.
    pub(crate) key: usize,
    /// New slot → new physical table.
    pub(crate) new_tables: HashMap<usize, String>,
}

/// Types the binary log gives in a form the catch-up cannot write back as
/// is (or that no test covers): refused with the column's name.
const REFUSED_TYPES: [&str; 12] = [
    "timestamp",
    "enum",
    "set",
    "bit",
    "year",
    "time",
    "geometry",
    "point",
    "linestring",
    "polygon",
    "multipoint",
    "multipolygon",
];

/// Reads `name`'s shape on `conn` (refusing what the resplit cannot copy
/// exactly).
pub(crate) async fn describe(
    conn: &mut Conn,
    schema: &str,
    name: &str,
    key_column: &str,
    new_tables: HashMap<usize, String>,
) -> Result<OldTable, String> {
    let cols: Vec<(String, String, String, Option<String>, String)> = conn
        .exec(
            "SELECT COLUMN_NAME, DATA_TYPE, COLUMN_TYPE, CHARACTER_SET_NAME, COLUMN_KEY \
             FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? \
             ORDER BY ORDINAL_POSITION",
            (schema, name),
        )
        .await
        .map_err(|e| format!("columns of `{name}`: {e}"))?;
    if cols.is_empty() {
        return Err(format!("`{schema}`.`{name}` does not exist"));
    }
    let mut out = OldTable {
        name: name.to_owned(),
        columns: Vec::new(),
        unsigned_bits: Vec::new(),
        pk: Vec::new(),
        key: usize::MAX,
        new_tables,
    };
    for (i, (col, data_type, column_type, charset, key)) in cols.into_iter().enumerate() {
        let dt = data_type.to_ascii_lowercase();
        if REFUSED_TYPES.contains(&dt.as_str()) || dt.starts_with("multi") {
            return Err(format!(
                "`{name}`.`{col}` is {dt}: the resplit's catch-up does not replay that type \
                 (supported: integers, DECIMAL, FLOAT/DOUBLE, DATE/DATETIME, strings, BLOBs)"
            ));
        }
        if let Some(cs) = charset.as_deref() {
            if !["utf8mb4", "utf8mb3", "utf8", "ascii", "binary"].contains(&cs) {
                return Err(format!(
                    "`{name}`.`{col}` has character set {cs}: the resplit's catch-up writes utf8mb4"
                ));
            }
        }
        out.unsigned_bits.push(unsigned_bits(&dt, &column_type));
        if key == "PRI" {
            out.pk.push(i);
        }
        if col.eq_ignore_ascii_case(key_column) {
            out.key = i;
        }
        out.columns.push(col);
    }
    if out.key == usize::MAX {
        return Err(format!("`{name}` has no column `{key_column}`"));
    }
    if out.pk.is_empty() {
        return Err(format!(
            "`{name}` has no primary key: the resplit's catch-up finds rows by it"
        ));
    }
    // The key's column order (information_schema lists PK columns in table
    // order; the order does not matter for `WHERE a = ? AND b = ?`).
    Ok(out)
}

/// The bits of an unsigned integer column (`data_type` in lower case), for
/// [`OldTable::fix`].
pub(crate) fn unsigned_bits(data_type: &str, column_type: &str) -> Option<u32> {
    let unsigned = column_type.to_ascii_lowercase().contains("unsigned");
    match (unsigned, data_type) {
        (true, "tinyint") => Some(8),
        (true, "smallint") => Some(16),
        (true, "mediumint") => Some(24),
        (true, "int") => Some(32),
        (true, "bigint") => Some(64),
        _ => None,
    }
}

impl OldTable {
    /// The new tables' names, by slot.
    pub(crate) fn new_names(&self) -> Vec<String> {
        let mut v: Vec<(usize, &String)> = self.new_tables.iter().map(|(s, n)| (*s, n)).collect();
        v.sort();
        v.into_iter().map(|(_, n)| n.clone()).collect()
    }

    /// A value from the binary log as the column holds it (unsigned
    /// integers come signed).
    pub(crate) fn fix(&self, column: usize, value: Value) -> Value {
        match (value, self.unsigned_bits.get(column).copied().flatten()) {
            (Value::Int(n), Some(bits)) if n < 0 => {
                let mask = if bits >= 64 {
                    u64::MAX
                } else {
                    (1u64 << bits) - 1
                };
                Value::UInt((n as u64) & mask)
            }
            (v, _) => v,
        }
    }

    /// The new table of a logged row image: as [`Self::route`], but a row
    /// whose key belongs to another old slot goes to the table of this
    /// table's own slot. A sharding-key UPDATE through the proxy changes
    /// the key in place, then moves the row out in the same transaction
    /// (`key_move`): the old table holds a row of another slot for a
    /// moment, and its later delete must find it where its insert put it.
    pub(crate) fn route_logged(
        &self,
        rule: &ShardedTable,
        key_type: KeyType,
        key: &Value,
    ) -> Result<&str, String> {
        let slot = slot_of(rule, key_type, key)?;
        if let Some(table) = self.new_tables.get(&slot) {
            return Ok(table);
        }
        self.new_tables
            .keys()
            .min()
            .and_then(|own| self.new_tables.get(own))
            .map(String::as_str)
            .ok_or_else(|| format!("`{}` has no new tables", self.name))
    }

    /// The new table of a row whose key column holds `key`.
    pub(crate) fn route(
        &self,
        rule: &ShardedTable,
        key_type: KeyType,
        key: &Value,
    ) -> Result<(usize, &str), String> {
        let slot = slot_of(rule, key_type, key)?;
        let table = self.new_tables.get(&slot).ok_or_else(|| {
            format!(
                "a row of `{}` with key {key:?} belongs to new slot {slot}, which does not draw \
                 from it: the old table holds rows of another slot",
                self.name
            )
        })?;
        Ok((slot, table))
    }
}

/// The slot of a key value under `rule`.
pub(crate) fn slot_of(
    rule: &ShardedTable,
    key_type: KeyType,
    value: &Value,
) -> Result<usize, String> {
    let param = match value {
        Value::NULL => ParamValue::Null,
        Value::Int(n) => ParamValue::Int(*n),
        Value::UInt(n) => ParamValue::UInt(*n),
        Value::Float(f) => ParamValue::Float(*f),
        Value::Double(f) => ParamValue::Double(*f),
        Value::Bytes(b) => ParamValue::Bytes(b),
        Value::Date(year, month, day, hour, minute, second, micros) => ParamValue::DateTime {
            year: *year,
            month: *month,
            day: *day,
            hour: *hour,
            minute: *minute,
            second: *second,
            micros: *micros,
        },
        Value::Time(..) => ParamValue::Time,
    };
    let key = ShardKey::from_param(param, key_type).map_err(|e| format!("key {value:?}: {e}"))?;
    rule.slot_for_key(&key)
        .map_err(|e| format!("key {value:?}: {e}"))
}
