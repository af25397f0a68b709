//! Answers gathered over every node: `information_schema` reads by table
//! name, `SHOW TABLE STATUS`, and maintenance statements (`CHECKSUM`,
//! `ANALYZE`, `OPTIMIZE`, `CHECK`, `REPAIR`) on every physical table, with
//! physical names mapped back to logical ones.
//!
//! Owns: running and combining those. Must not: plan or run DML.

use super::*;

/// Where and how an `information_schema` read is answered.
pub(super) struct InfoRead<'a> {
    /// The node of the slot-0 physical tables, or the schema's node.
    pub node: usize,
    /// A listing: the schema it lists (gathered over every node).
    pub listing: Option<Option<&'a str>>,
    /// A prepared statement's answer: rows in the binary protocol.
    pub binary: bool,
}

impl Session {
    /// An `information_schema` read about sharded tables, answered by the
    /// node of their slot-0 physical tables, names mapped back. A listing
    /// (`listing`: the schema it lists) whose rows combine as they come is
    /// gathered from every node, each table's rows from the node that
    /// holds it ([`ShardRouter::listing_home`]): tables that live only on
    /// another node than the schema's are listed too. A prepared
    /// statement's answer has its rows in the binary protocol.
    pub(super) async fn run_information_schema(
        &mut self,
        router: &ShardRouter,
        read: InfoRead<'_>,
        sql: &str,
        c: &Classified,
        seq: &mut u8,
    ) {
        let InfoRead {
            node,
            listing,
            binary,
        } = read;
        // The schema's node first: its answer tells whether rows can be
        // attributed to nodes at all.
        let nodes: Vec<usize> = match listing {
            Some(_) if rows_combine_as_they_come(sql) => std::iter::once(node)
                .chain((0..self.proxy.cluster.nodes.len()).filter(|&k| k != node))
                .collect(),
            _ => vec![node],
        };
        let mut gathered: Option<Fetched> = None;
        for &k in &nodes {
            let fetched = match self.metadata_conn(k, c).await {
                Ok(i) => self.fetch_on(i, sql).await,
                Err(e) => Err(e),
            };
            let mut part = match fetched {
                Ok(f) => f,
                Err(e) => {
                    self.fail_metadata(c, node, e, seq).await;
                    return;
                }
            };
            let names = column_names(&part.columns);
            let column = |name: &str| names.iter().position(|n| n.eq_ignore_ascii_case(name));
            if nodes.len() > 1 && column("TABLE_NAME").is_none() {
                // Rows without their table's name cannot be told apart
                // by node (a broadcast table's copies, every node's
                // physical tables): the schema's node answers alone.
                gathered = Some(part);
                break;
            }
            if let Some(t) = column("TABLE_NAME") {
                let schema_column = column("TABLE_SCHEMA");
                let default_schema = listing.flatten();
                part.rows.retain(|row| {
                    let Some(physical) = row.get(t).cloned().flatten() else {
                        return true;
                    };
                    let physical = String::from_utf8_lossy(&physical);
                    if nodes.len() > 1 {
                        let schema = schema_column
                            .and_then(|s| row.get(s).cloned().flatten())
                            .map(|s| String::from_utf8_lossy(&s).into_owned());
                        let schema = schema.as_deref().or(default_schema);
                        return router.listing_home(schema, &physical) == Some(k);
                    }
                    // One row set per logical table: slot 0's (a lookup by
                    // name may also name the other physical tables, e.g. a
                    // user's visibility filter).
                    router
                        .physical_slot(&physical)
                        .is_none_or(|(_, first)| first)
                });
            }
            match &mut gathered {
                None => gathered = Some(part),
                Some(f) => f.rows.extend(part.rows),
            }
        }
        let Some(mut f) = gathered else { return };
        let names = column_names(&f.columns);
        let name_columns: Vec<usize> = names
            .iter()
            .enumerate()
            .filter(|(_, n)| n.to_ascii_uppercase().ends_with("TABLE_NAME"))
            .map(|(i, _)| i)
            .collect();
        for row in &mut f.rows {
            for &i in &name_columns {
                if let Some(Some(v)) = row.get_mut(i) {
                    if let Some(logical) = std::str::from_utf8(v)
                        .ok()
                        .and_then(|p| router.logical_name_of(p))
                    {
                        *v = logical.into_bytes();
                    }
                }
            }
        }
        let outcome = self.send_fetched_as(&f, binary, seq).await;
        self.finish_metadata(c, node, outcome);
    }

    /// `CHECKSUM|ANALYZE|OPTIMIZE|CHECK|REPAIR TABLE` naming sharded
    /// tables: run on every physical table; per listed table, CHECKSUM
    /// adds the physical tables' checksums (the server's table checksum is
    /// a sum of row checksums modulo 2^32, so the sum is the logical
    /// table's; NULL when any part is NULL), the others show the slot-0
    /// answer, or the first physical table's answer reporting an error.
    pub(super) async fn run_maintenance(
        &mut self,
        checksum: bool,
        items: &[crate::router::shard::meta::MaintenanceItem],
        c: &Classified,
        seq: &mut u8,
    ) {
        let mut columns: Option<Vec<Bytes>> = None;
        let mut out: Vec<Row> = Vec::new();
        let mut last_ok = OkPacket::default();
        let node_for_session = self.node_for_session();
        for item in items {
            let mut chosen: Option<Vec<Row>> = None;
            let mut sum: Option<Option<u64>> = None;
            for (k, (node, sql, physical)) in item.parts.iter().enumerate() {
                let fetched = match self.metadata_conn(*node, c).await {
                    Ok(i) => self.fetch_on(i, sql).await,
                    Err(e) => Err(e),
                };
                let mut f = match fetched {
                    Ok(f) => f,
                    Err(e) => {
                        let e = match &item.logical {
                            Some(l) => logical_error(e, physical, l),
                            None => e,
                        };
                        self.fail_metadata(c, node_for_session, e, seq).await;
                        return;
                    }
                };
                if let Some(l) = &item.logical {
                    for row in &mut f.rows {
                        if let Some(Some(v)) = row.get_mut(0) {
                            let shown = logical_message(&String::from_utf8_lossy(v), physical, l);
                            *v = shown.into_bytes();
                        }
                    }
                }
                if checksum {
                    let part = f.rows.first().and_then(|r| number(r.get(1)));
                    sum = Some(match sum {
                        None => part,
                        Some(acc) => acc
                            .zip(part)
                            .map(|(a, b)| (a % (1u64 << 32) + b % (1u64 << 32)) % (1u64 << 32)),
                    });
                    if chosen.is_none() {
                        chosen = Some(f.rows.clone());
                    }
                } else {
                    let names = column_names(&f.columns);
                    let type_col = names.iter().position(|n| n == "Msg_type");
                    let failed = type_col.is_some_and(|t| {
                        f.rows.iter().any(|r| {
                            r.get(t)
                                .cloned()
                                .flatten()
                                .is_some_and(|v| v.eq_ignore_ascii_case(b"error"))
                        })
                    });
                    if k == 0 || failed {
                        let keep_first_error = k > 0 && chosen_failed(&chosen, type_col);
                        if !keep_first_error {
                            chosen = Some(f.rows.clone());
                        }
                    }
                }
                columns.get_or_insert(f.columns);
                last_ok = f.ok;
            }
            let mut rows = chosen.unwrap_or_default();
            if let (true, Some(total)) = (checksum, sum) {
                if let Some(row) = rows.first_mut() {
                    if let Some(v) = row.get_mut(1) {
                        *v = total.map(|t| t.to_string().into_bytes());
                    }
                }
            }
            out.extend(rows);
        }
        let Some(columns) = columns else {
            self.fail_metadata(
                c,
                node_for_session,
                ProxyError::Internal("no table to check".into()),
                seq,
            )
            .await;
            return;
        };
        let f = Fetched {
            columns,
            rows: out,
            ok: last_ok,
        };
        let outcome = self.send_fetched(&f, seq).await;
        self.finish_metadata(c, node_for_session, outcome);
    }

    /// `SHOW TABLE STATUS` gathered from every node: one row per logical
    /// table (physical tables of a sharded table summed), filtered by the
    /// `LIKE` pattern on logical names.
    pub(super) async fn run_table_status(
        &mut self,
        router: &ShardRouter,
        sql: &str,
        like: Option<&str>,
        c: &Classified,
        seq: &mut u8,
    ) {
        let mut columns: Option<Vec<Bytes>> = None;
        let mut merged: std::collections::BTreeMap<String, Row> = Default::default();
        let mut last_ok = OkPacket::default();
        let mut unknown_db: Option<ProxyError> = None;
        let mut answered = false;
        let node_for_session = self.node_for_session();
        for node in 0..self.proxy.cluster.nodes.len() {
            let fetched = match self.metadata_conn(node, c).await {
                Ok(i) => self.fetch_on(i, sql).await,
                Err(e) => Err(e),
            };
            let f = match fetched {
                Ok(f) => f,
                // A database created on some nodes only: the others do not
                // hold its tables.
                Err(ProxyError::Backend(e)) if e.code == 1049 => {
                    unknown_db = Some(ProxyError::Backend(e));
                    continue;
                }
                Err(e) => {
                    self.fail_metadata(c, node_for_session, e, seq).await;
                    return;
                }
            };
            answered = true;
            let names = column_names(&f.columns);
            let idx = |n: &str| names.iter().position(|x| x == n);
            let (name_i, rows_i, avg_i, data_i, index_i, free_i, auto_i, checksum_i, update_i) = (
                idx("Name"),
                idx("Rows"),
                idx("Avg_row_length"),
                idx("Data_length"),
                idx("Index_length"),
                idx("Data_free"),
                idx("Auto_increment"),
                idx("Checksum"),
                idx("Update_time"),
            );
            for mut row in f.rows {
                let Some(Some(physical)) = name_i.and_then(|i| row.get(i)) else {
                    continue;
                };
                let physical = String::from_utf8_lossy(physical).into_owned();
                let Some(logical) = router.logical_name_of(&physical) else {
                    // Broadcast copies and tables without a rule: the first
                    // node's row.
                    merged.entry(physical).or_insert(row);
                    continue;
                };
                if let Some(v) = name_i.and_then(|i| row.get_mut(i)) {
                    *v = Some(logical.clone().into_bytes());
                }
                // The next value of one shard, and a checksum of one shard,
                // say nothing about the logical table.
                for i in [auto_i, checksum_i].into_iter().flatten() {
                    if let Some(v) = row.get_mut(i) {
                        *v = None;
                    }
                }
                match merged.get_mut(&logical) {
                    None => {
                        merged.insert(logical, row);
                    }
                    Some(acc) => {
                        for i in [rows_i, data_i, index_i, free_i].into_iter().flatten() {
                            add_numbers(acc, &row, i);
                        }
                        if let Some(i) = update_i {
                            // The latest change of any physical table.
                            if let (Some(new), Some(old)) = (row.get(i), acc.get_mut(i)) {
                                if new > old {
                                    *old = new.clone();
                                }
                            }
                        }
                    }
                }
            }
            if let (Some(avg), Some(rows), Some(data)) = (avg_i, rows_i, data_i) {
                for acc in merged.values_mut() {
                    let n = number(acc.get(rows));
                    let d = number(acc.get(data));
                    if let (Some(n), Some(d)) = (n, d) {
                        if let Some(v) = acc.get_mut(avg) {
                            *v = Some(d.checked_div(n).unwrap_or(0).to_string().into_bytes());
                        }
                    }
                }
            }
            columns.get_or_insert(f.columns);
            last_ok = f.ok;
        }
        let Some(columns) = columns else {
            let e = match (answered, unknown_db) {
                (false, Some(e)) => e,
                _ => ProxyError::Internal("SHOW TABLE STATUS: no node answered".into()),
            };
            self.fail_metadata(c, node_for_session, e, seq).await;
            return;
        };
        let rows: Vec<Row> = merged
            .into_iter()
            .filter(|(name, _)| like.is_none_or(|p| like_matches(p, name)))
            .map(|(_, r)| r)
            .collect();
        let f = Fetched {
            columns,
            rows,
            ok: last_ok,
        };
        let outcome = self.send_fetched(&f, seq).await;
        self.finish_metadata(c, node_for_session, outcome);
    }
}

/// Whether the rows kept so far report an error (`Msg_type` = error).
pub(super) fn chosen_failed(chosen: &Option<Vec<Row>>, type_col: Option<usize>) -> bool {
    let (Some(rows), Some(t)) = (chosen, type_col) else {
        return false;
    };
    rows.iter().any(|r| {
        r.get(t)
            .cloned()
            .flatten()
            .is_some_and(|v| v.eq_ignore_ascii_case(b"error"))
    })
}

/// A backend error on a physical table, shown for the logical one.
pub(super) fn logical_error(e: ProxyError, physical: &str, logical: &str) -> ProxyError {
    match e {
        ProxyError::Backend(mut p) => {
            p.message = logical_message(&p.message, physical, logical);
            ProxyError::Backend(p)
        }
        other => other,
    }
}

pub(super) fn number(v: Option<&Option<Vec<u8>>>) -> Option<u64> {
    std::str::from_utf8(v?.as_deref()?).ok()?.parse().ok()
}

/// `acc[i] += row[i]` on decimal text (NULL stays NULL).
pub(super) fn add_numbers(acc: &mut Row, row: &Row, i: usize) {
    if let (Some(a), Some(b)) = (number(acc.get(i)), number(row.get(i))) {
        if let Some(v) = acc.get_mut(i) {
            *v = Some(a.saturating_add(b).to_string().into_bytes());
        }
    }
}

/// A listing whose rows from several nodes may simply be concatenated: no
/// ORDER BY, GROUP BY, HAVING, LIMIT, DISTINCT, UNION or aggregate (those
/// would need a merge; such listings are answered by one node, as the
/// README says).
fn rows_combine_as_they_come(sql: &str) -> bool {
    const BLOCKERS: &[&str] = &[
        "ORDER",
        "GROUP",
        "HAVING",
        "LIMIT",
        "DISTINCT",
        "UNION",
        "COUNT",
        "SUM",
        "MIN",
        "MAX",
        "AVG",
        "GROUP_CONCAT",
        "INTO",
    ];
    let src = sql.as_bytes();
    !crate::sql::lexer::tokenize(sql)
        .iter()
        .any(|t| BLOCKERS.iter().any(|k| t.is_keyword(src, k)))
}
