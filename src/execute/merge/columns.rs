//! The columns of a merged result: the shards' column definitions parsed
//! once, the recipe checked against them before anything is sent (so a
//! refusal is a clean error), the ORDER BY keys resolved to positions, and
//! the definitions the client sees (visible columns only, AVG columns that
//! carried partial sums shown with AVG's scale and flags).
//!
//! Owns: everything about the result header that the merge decides. Must
//! not send it (that is `execute::result_writer`).

use bytes::Bytes;

use super::group::{aggregates, distinct_args};
use super::AVG_EXTRA_SCALE;
use crate::error::{ProxyError, Result};
use crate::merge::compare::ResolvedKey;
use crate::merge::{ColumnInfo, ValueOrder};
use crate::router::shard::{AggregateMerge, ColumnRef, Combine, MergeSpec};

/// The shard result's columns as the merge uses them.
pub struct MergeColumns {
    pub columns: Vec<ColumnInfo>,
    pub orders: Vec<ValueOrder>,
    /// How many columns the client sees (the rest are hidden helpers).
    pub visible: usize,
    pub order_by: Vec<ResolvedKey>,
    /// (weighed key column, its branch's `COLLATION` column): a UNION's
    /// keys, whose rows must agree (see `SameCollation`).
    pub probes: Vec<(usize, usize)>,
}

impl MergeColumns {
    /// Parses the shards' column definitions `defs` and checks that `plan`
    /// can merge them.
    pub fn new(defs: &[Bytes], plan: &MergeSpec) -> Result<MergeColumns> {
        let columns = parse_columns(defs)?;
        let mut orders: Vec<ValueOrder> = columns.iter().map(ValueOrder::for_column).collect();
        let visible = columns.len().saturating_sub(plan.hidden_columns);
        let at = |c: ColumnRef| match c {
            ColumnRef::Index(i) => i,
            ColumnRef::Hidden(i) => visible + i,
        };
        weigh(plan, &columns, &mut orders, &at)?;
        index_enums(plan, &columns, &mut orders, &at)?;
        check(plan, &columns, &orders)?;
        let order_by: Vec<ResolvedKey> = plan
            .order_by
            .iter()
            .map(|k| ResolvedKey {
                column: at(k.column),
                descending: k.descending,
            })
            .collect();
        check_keys(plan, &columns, &orders, &order_by, visible)?;
        let probes = plan
            .weights
            .iter()
            .filter_map(|w| Some((at(w.column), at(w.collation?))))
            .filter(|&(c, p)| {
                p < columns.len() && matches!(orders.get(c), Some(ValueOrder::Weight { .. }))
            })
            .collect();
        Ok(MergeColumns {
            columns,
            orders,
            visible,
            order_by,
            probes,
        })
    }

    /// The column definitions the client sees for the shards' `defs`.
    pub fn client_defs(&self, defs: Vec<Bytes>, plan: &MergeSpec) -> Vec<Bytes> {
        client_defs(defs, &self.columns, plan)
    }
}

/// Whether the server's weights decide the order and equality of a
/// column: a string with a collation (not binary, not a number or time).
fn collated_string(c: &ColumnInfo) -> bool {
    use mysql_common::constants::ColumnType::*;
    matches!(
        c.column_type,
        MYSQL_TYPE_VARCHAR
            | MYSQL_TYPE_VAR_STRING
            | MYSQL_TYPE_STRING
            | MYSQL_TYPE_TINY_BLOB
            | MYSQL_TYPE_MEDIUM_BLOB
            | MYSQL_TYPE_LONG_BLOB
            | MYSQL_TYPE_BLOB
            | MYSQL_TYPE_JSON
            | MYSQL_TYPE_ENUM
            | MYSQL_TYPE_SET
    ) && c.charset != 63
}

/// ENUM and SET sort by their members' positions, not by their text.
fn enum_or_set(c: &ColumnInfo) -> bool {
    use mysql_common::constants::{ColumnFlags, ColumnType};
    c.flags
        .intersects(ColumnFlags::ENUM_FLAG | ColumnFlags::SET_FLAG)
        || matches!(
            c.column_type,
            ColumnType::MYSQL_TYPE_ENUM | ColumnType::MYSQL_TYPE_SET
        )
}

/// Key columns that are collated strings compare by the weights the
/// planner asked the shards for.
fn weigh(
    plan: &MergeSpec,
    columns: &[ColumnInfo],
    orders: &mut [ValueOrder],
    at: &impl Fn(ColumnRef) -> usize,
) -> Result<()> {
    for w in &plan.weights {
        let (c, weight, pad) = (at(w.column), at(w.weight), at(w.pad));
        if [c, weight, pad].iter().any(|&i| i >= columns.len()) {
            return Err(ProxyError::Internal(
                "the shards answered fewer columns than the merge plan needs".into(),
            ));
        }
        if collated_string(&columns[c]) && !matches!(orders[c], ValueOrder::Weight { .. }) {
            let base = Box::new(orders[c].clone());
            orders[c] = ValueOrder::Weight { weight, pad, base };
        }
    }
    Ok(())
}

/// ENUM/SET key columns compare by the positions the planner asked the
/// shards for (`(e)+0`), when the shard says the column is an ENUM/SET
/// (an expression over one is a string, weighed as such).
fn index_enums(
    plan: &MergeSpec,
    columns: &[ColumnInfo],
    orders: &mut [ValueOrder],
    at: &impl Fn(ColumnRef) -> usize,
) -> Result<()> {
    for k in &plan.enum_keys {
        let (c, index) = (at(k.column), at(k.index));
        if c >= columns.len() || index >= columns.len() {
            return Err(ProxyError::Internal(
                "the shards answered fewer columns than the merge plan needs".into(),
            ));
        }
        if enum_or_set(&columns[c]) {
            let base = Box::new(orders[c].clone());
            orders[c] = ValueOrder::Index { index, base };
        }
    }
    Ok(())
}

/// Refuses, before the header is sent, a merge that would order or group
/// a collated string without the server's weights, or order an ENUM/SET
/// (whose order is its members' positions) across shards.
fn check_keys(
    plan: &MergeSpec,
    columns: &[ColumnInfo],
    orders: &[ValueOrder],
    order_by: &[ResolvedKey],
    visible: usize,
) -> Result<()> {
    let name = |c: usize| {
        let n = columns.get(c).map(ColumnInfo::name).unwrap_or_default();
        if n.starts_with("__shardcat_h") {
            "of the ORDER BY".to_owned()
        } else {
            n
        }
    };
    let mut sorted: Vec<usize> = order_by.iter().map(|k| k.column).collect();
    // GROUP_CONCAT(… ORDER BY key): sorted by the merge too. Its NULL keys
    // compare as their type's zero; for fixed-width binary values (BIT,
    // BINARY(n)) that zero is not reproduced.
    if let Some(g) = &plan.aggregate {
        for c in g.concats.iter().flat_map(|c| c.order.iter().map(|o| o.0)) {
            use mysql_common::constants::ColumnType::{MYSQL_TYPE_BIT, MYSQL_TYPE_STRING};
            if columns.get(c).is_some_and(|i| {
                i.column_type == MYSQL_TYPE_BIT
                    || (i.column_type == MYSQL_TYPE_STRING && i.charset == 63)
            }) {
                return Err(ProxyError::Routing(
                    "GROUP_CONCAT ordered by a BIT or BINARY(n) value cannot be merged across shards exactly".into(),
                ));
            }
            sorted.push(c);
        }
    }
    let mut ordered = sorted.clone();
    if let Some(g) = &plan.aggregate {
        // GROUP_CONCAT(DISTINCT value): equal under the value's collation.
        ordered.extend(g.concats.iter().filter(|c| c.distinct).map(|c| c.value));
    }
    let mut equal: Vec<usize> = Vec::new();
    if let Some(g) = &plan.aggregate {
        equal.extend(g.group_by.iter().copied());
        for (column, kind) in aggregates(g) {
            match kind {
                Combine::Min | Combine::Max => ordered.push(column),
                k => equal.extend(distinct_args(k).into_iter().flatten()),
            }
        }
    }
    if plan.distinct {
        equal.extend(0..visible);
    }
    // MIN/MAX of an ENUM compare the text (MySQL's documented rule); an
    // ENUM/SET sort key needs its positions (the planner found no ENUM/SET
    // column behind it, e.g. its table's columns were not known).
    for &c in &sorted {
        if columns.get(c).is_some_and(enum_or_set)
            && !matches!(orders.get(c), Some(ValueOrder::Index { .. }))
        {
            return Err(ProxyError::Routing(format!(
                "ordering by the ENUM/SET column ({}) by its members' positions cannot be merged across shards here (shardcat could not tell it is an ENUM/SET column); order by `column+0` instead",
                name(c)
            )));
        }
    }
    for c in ordered.into_iter().chain(equal) {
        if orders.get(c).is_some_and(ValueOrder::approximate) {
            return Err(ProxyError::Routing(format!(
                "the column `{}` is compared under its collation, and shardcat has no server weights for it here; it cannot be merged across shards exactly",
                name(c)
            )));
        }
    }
    Ok(())
}

/// The checks made before the header is sent.
fn check(plan: &MergeSpec, columns: &[ColumnInfo], orders: &[ValueOrder]) -> Result<()> {
    if let Some(g) = &plan.aggregate {
        check_aggregates(g, columns, orders)?;
    }
    if let Some(h) = &plan.having {
        // Before anything reaches the client: a refusal is a clean error.
        h.check(columns).map_err(|e| {
            ProxyError::Routing(format!("HAVING cannot be merged across shards: {e}"))
        })?;
    }
    Ok(())
}

fn check_aggregates(
    g: &AggregateMerge,
    columns: &[ColumnInfo],
    orders: &[ValueOrder],
) -> Result<()> {
    // Every column the plan names must exist in the shards' rows (a
    // plan/result mismatch must not index out of range).
    let n = columns.len();
    let named = g
        .group_by
        .iter()
        .copied()
        .chain(aggregates(g).flat_map(|(column, kind)| {
            let mut v = vec![column];
            match kind {
                Combine::Avg { count } => v.extend([column, count]),
                k => v.extend(distinct_args(k).into_iter().flatten()),
            }
            v
        }))
        .chain(g.concats.iter().flat_map(|c| {
            let mut v = vec![c.value, c.count, c.max_len];
            v.extend(c.order.iter().map(|o| o.0));
            v
        }));
    if named.into_iter().any(|c| c >= n) {
        return Err(ProxyError::Internal(
            "the shards answered fewer columns than the merge plan needs".into(),
        ));
    }
    for (column, kind) in aggregates(g) {
        let exact = matches!(
            orders.get(column),
            Some(ValueOrder::Decimal | ValueOrder::Integer)
        );
        if matches!(
            kind,
            Combine::SumDistinct { .. } | Combine::AvgDistinct { .. }
        ) && !exact
        {
            // The server adds floating-point values in an order the
            // proxy cannot reproduce.
            return Err(ProxyError::Routing(
                "SUM/AVG(DISTINCT …) of a floating-point or string value cannot be merged across shards exactly".into(),
            ));
        }
    }
    for (column, kind) in aggregates(g) {
        if let Combine::Computed { index } = kind {
            let (Some(e), Some(c)) = (g.computed.get(index), columns.get(column)) else {
                return Err(ProxyError::Internal("bad computed column".into()));
            };
            e.check_output(columns, c).map_err(|why| {
                ProxyError::Routing(format!(
                    "an expression on aggregates cannot be merged across shards: {why}"
                ))
            })?;
        }
    }
    Ok(())
}

fn parse_columns(defs: &[Bytes]) -> Result<Vec<ColumnInfo>> {
    defs.iter()
        .map(|d| ColumnInfo::parse(d.clone()))
        .collect::<Option<_>>()
        .ok_or_else(|| ProxyError::MalformedPacket("bad column definition from shard".into()))
}

/// The column definitions the client sees for shard columns `defs`: the
/// visible ones, AVG columns that carry partial sums shown with AVG's
/// scale (the argument's plus div_precision_increment = 4).
fn client_defs(mut defs: Vec<Bytes>, columns: &[ColumnInfo], plan: &MergeSpec) -> Vec<Bytes> {
    if let Some(g) = &plan.aggregate {
        for (sum, kind) in aggregates(g) {
            if let Combine::Avg { .. } = kind {
                let decimal = matches!(
                    columns.get(sum).map(ValueOrder::for_column),
                    Some(ValueOrder::Decimal | ValueOrder::Integer)
                );
                // The AVG column carries the partial sums. A DOUBLE average
                // keeps the sum's scale (31, "not fixed") and only takes
                // AVG's flags.
                let extra = if decimal { AVG_EXTRA_SCALE } else { 0 };
                if let Some(d) = defs.get_mut(sum) {
                    *d = widen_scale(d, extra);
                }
            }
        }
    }
    let visible = defs.len().saturating_sub(plan.hidden_columns);
    defs.truncate(visible);
    if !plan.logical_tables.is_empty() {
        for d in defs.iter_mut() {
            *d = logical_table_names(d, &plan.logical_tables);
        }
    }
    defs
}

/// `def` with a physical table name in `table` or `org_table` replaced by
/// its logical name (an alias in `table` stays).
pub fn logical_table_names(def: &Bytes, names: &[(String, String)]) -> Bytes {
    let mut out = Vec::new();
    match write_logical_table_names(def, names, &mut out) {
        true => Bytes::from(out),
        false => def.clone(),
    }
}

/// Appends to `out` what [`logical_table_names`] returns for `def` (the
/// relay builds it in the client's write buffer); `false`, with nothing
/// appended, when `def` needs no change.
pub fn write_logical_table_names(
    def: &[u8],
    names: &[(String, String)],
    out: &mut Vec<u8>,
) -> bool {
    use crate::wire::packets::put_lenenc_bytes;
    let mut r = crate::wire::packets::Reader::new(def);
    let (Some(catalog), Some(schema), Some(table), Some(org_table)) = (
        r.lenenc_bytes(),
        r.lenenc_bytes(),
        r.lenenc_bytes(),
        r.lenenc_bytes(),
    ) else {
        return false;
    };
    let logical = |t: &[u8]| {
        names
            .iter()
            .find(|(p, _)| p.as_bytes() == t)
            .map(|(_, l)| l.as_bytes())
    };
    if logical(table).is_none() && logical(org_table).is_none() {
        return false;
    }
    out.reserve(def.len() + 8);
    put_lenenc_bytes(out, catalog);
    put_lenenc_bytes(out, schema);
    put_lenenc_bytes(out, logical(table).unwrap_or(table));
    put_lenenc_bytes(out, logical(org_table).unwrap_or(org_table));
    out.extend_from_slice(r.rest());
    true
}

/// What the merge presents as the result columns for shard
/// column definitions `defs` (a prepared statement's metadata).
pub fn merged_column_defs(defs: Vec<Bytes>, plan: &MergeSpec) -> Result<Vec<Bytes>> {
    let columns = parse_columns(&defs)?;
    Ok(client_defs(defs, &columns, plan))
}

/// A column definition with `extra` more decimals (and display length) and
/// the flags of an AVG column,
/// patched in place: the fixed part follows six length-encoded strings.
fn widen_scale(def: &Bytes, extra: u8) -> Bytes {
    // 0x0c, charset (2), length (4), type (1), flags (2), decimals (1),
    // after the strings (and MariaDB's extended metadata, if any).
    let Some(fixed) = crate::wire::packets::column_fixed_offset(def) else {
        return def.clone();
    };
    if def.len() < fixed + 13 {
        return def.clone();
    }
    let mut out = def.to_vec();
    let len_at = fixed + 3;
    let length = u32::from_le_bytes([
        out[len_at],
        out[len_at + 1],
        out[len_at + 2],
        out[len_at + 3],
    ]);
    out[len_at..len_at + 4].copy_from_slice(&length.saturating_add(extra as u32).to_le_bytes());
    let dec_at = fixed + 10;
    out[dec_at] = out[dec_at].saturating_add(extra);
    // AVG is reported with BINARY_FLAG (SUM, whose definition this was,
    // without).
    out[fixed + 8] |= 0x80;
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::shard::SortKey;
    use crate::wire::packets::put_lenenc_bytes;

    /// A column definition packet: catalog, schema, table, org_table,
    /// name, org_name, then the fixed part.
    fn def(name: &str, column_type: u8, decimals: u8) -> Bytes {
        let mut p = Vec::new();
        for s in ["def", "db", "t", "t", name, name] {
            put_lenenc_bytes(&mut p, s.as_bytes());
        }
        p.push(0x0c);
        p.extend_from_slice(&63u16.to_le_bytes());
        p.extend_from_slice(&20u32.to_le_bytes());
        p.push(column_type);
        p.extend_from_slice(&0u16.to_le_bytes());
        p.push(decimals);
        p.extend_from_slice(&[0, 0]);
        Bytes::from(p)
    }

    #[test]
    fn avg_widened_hidden_dropped_keys_resolved() {
        // AVG(x) carrying SUM(x) (DECIMAL, scale 2), then hidden COUNT(x)
        // and a hidden sort key.
        let defs = vec![def("a", 246, 2), def("c", 8, 0), def("k", 8, 0)];
        let plan = MergeSpec {
            hidden_columns: 2,
            order_by: vec![SortKey {
                column: ColumnRef::Hidden(1),
                descending: true,
            }],
            aggregate: Some(AggregateMerge {
                group_by: vec![],
                columns: vec![Combine::Avg { count: 1 }, Combine::Sum, Combine::Any],
                concats: vec![],
                computed: vec![],
            }),
            ..MergeSpec::default()
        };
        let m = MergeColumns::new(&defs, &plan).unwrap();
        assert_eq!(m.visible, 1);
        assert_eq!(
            m.order_by,
            vec![ResolvedKey {
                column: 2,
                descending: true
            }]
        );
        let out = m.client_defs(defs.clone(), &plan);
        assert_eq!(out.len(), 1);
        let c = ColumnInfo::parse(out[0].clone()).unwrap();
        assert_eq!(c.decimals, 6);
        assert!(c
            .flags
            .contains(mysql_common::constants::ColumnFlags::BINARY_FLAG));
        assert_eq!(merged_column_defs(defs, &plan).unwrap(), out);
    }

    #[test]
    fn enum_keys_order_by_position_or_refuse() {
        use crate::merge::compare::compare_at;
        use crate::router::shard::EnumKey;
        // An ENUM column (STRING, ENUM_FLAG, utf8mb4) and its `(e)+0`.
        let mut e = def("e", 254, 0).to_vec();
        let fixed = e.len() - 13;
        e[fixed + 1..fixed + 3].copy_from_slice(&45u16.to_le_bytes());
        e[fixed + 8..fixed + 10].copy_from_slice(&0x0100u16.to_le_bytes());
        let defs = vec![Bytes::from(e), def("i", 8, 0)];
        let key = SortKey {
            column: ColumnRef::Index(0),
            descending: false,
        };
        let with_index = MergeSpec {
            hidden_columns: 1,
            order_by: vec![key],
            enum_keys: vec![EnumKey {
                column: ColumnRef::Index(0),
                index: ColumnRef::Hidden(0),
            }]
            .into(),
            ..MergeSpec::default()
        };
        let m = MergeColumns::new(&defs, &with_index).unwrap();
        let row = |v: &str, i: &str| crate::execute::merge::testing::row(&[Some(v), Some(i)]);
        // 'zeta' is member 1, 'alpha' member 2: position order, not text.
        let (zeta, alpha) = (row("zeta", "1"), row("alpha", "2"));
        assert_eq!(
            compare_at(&m.orders[0], &zeta, &alpha, 0),
            std::cmp::Ordering::Less
        );
        let without = MergeSpec {
            order_by: vec![key],
            ..MergeSpec::default()
        };
        assert!(matches!(
            MergeColumns::new(&defs[..1], &without),
            Err(ProxyError::Routing(_))
        ));
    }

    #[test]
    fn refusals_before_the_header() {
        let defs = vec![def("d", 5, 31), def("x", 5, 31)];
        let distinct_double = MergeSpec {
            aggregate: Some(AggregateMerge {
                group_by: vec![],
                columns: vec![Combine::SumDistinct { arg: 1 }],
                concats: vec![],
                computed: vec![],
            }),
            hidden_columns: 1,
            ..MergeSpec::default()
        };
        assert!(matches!(
            MergeColumns::new(&defs, &distinct_double),
            Err(ProxyError::Routing(_))
        ));
        let too_few = MergeSpec {
            aggregate: Some(AggregateMerge {
                group_by: vec![5],
                columns: vec![],
                concats: vec![],
                computed: vec![],
            }),
            ..MergeSpec::default()
        };
        assert!(matches!(
            MergeColumns::new(&defs, &too_few),
            Err(ProxyError::Internal(_))
        ));
        assert!(matches!(
            MergeColumns::new(&[Bytes::from_static(b"x")], &MergeSpec::default()),
            Err(ProxyError::MalformedPacket(_))
        ));
    }
}
