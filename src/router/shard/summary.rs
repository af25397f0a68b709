//! One-line summaries of a merge recipe, for `shardcat explain` and the
//! routing cases.
//!
//! Owns: the text of [`describe_merge`] and of `ShardRouter::summary`.
//! Must not plan or merge.

use super::{ColumnRef, MergeSpec, ShardRouter, TableInfoKind};

/// One line describing a merge spec.
pub fn describe_merge(m: &MergeSpec) -> String {
    let mut parts = Vec::new();
    if let Some(a) = &m.aggregate {
        let cols: Vec<String> = a
            .columns
            .iter()
            .map(|c| format!("{c:?}").to_lowercase())
            .collect();
        parts.push(format!(
            "aggregate group_by={:?} columns=[{}]",
            a.group_by,
            cols.join(", ")
        ));
    }
    if m.having.is_some() {
        parts.push("having".to_owned());
    }
    if m.distinct {
        parts.push("distinct".to_owned());
    }
    if !m.order_by.is_empty() {
        let keys: Vec<String> = m
            .order_by
            .iter()
            .map(|k| {
                let col = match k.column {
                    ColumnRef::Index(i) => format!("#{i}"),
                    ColumnRef::Hidden(i) => format!("hidden#{i}"),
                };
                format!("{col}{}", if k.descending { " desc" } else { "" })
            })
            .collect();
        parts.push(format!("order_by=[{}]", keys.join(", ")));
    }
    if m.offset > 0 {
        parts.push(format!("offset={}", m.offset));
    }
    if let Some(l) = m.limit {
        parts.push(format!("limit={l}"));
    }
    if !m.weights.is_empty() {
        parts.push(format!("weights={}", m.weights.len()));
    }
    if m.hidden_columns > 0 {
        parts.push(format!("hidden_columns={}", m.hidden_columns));
    }
    if parts.is_empty() {
        "concatenate".to_owned()
    } else {
        parts.join(" ")
    }
}

/// One logical table's rule, as `SHOW SHARDCAT RULES` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleRow {
    /// `db.table` or `table`.
    pub table: String,
    /// `sharded`, `broadcast` or `single`.
    pub kind: &'static str,
    /// The sharding key and its type (sharded tables only).
    pub key: Option<String>,
    /// Node names, in placement order, without repeats.
    pub nodes: Vec<String>,
    /// `node:physical_table` per slot (sharded), or the table per node.
    pub physical: Vec<String>,
}

impl ShardRouter {
    /// Every logical table's rule, in configuration order.
    pub fn rule_rows(&self) -> Vec<RuleRow> {
        let mut rows = Vec::new();
        for t in &self.tables {
            let table = match &t.schema {
                Some(db) => format!("{db}.{}", t.name),
                None => t.name.clone(),
            };
            let named = |nodes: &[usize]| -> Vec<String> {
                nodes
                    .iter()
                    .map(|n| self.node_name(*n).to_string())
                    .collect()
            };
            let row = match &t.kind {
                TableInfoKind::Sharded(s) => {
                    let mut nodes: Vec<String> = Vec::new();
                    for (n, _) in &s.slots {
                        let name = self.node_name(*n).to_string();
                        if !nodes.contains(&name) {
                            nodes.push(name);
                        }
                    }
                    RuleRow {
                        table,
                        kind: "sharded",
                        key: Some(format!("{} ({:?})", s.key, s.key_type)),
                        nodes,
                        physical: s
                            .slots
                            .iter()
                            .map(|(n, p)| format!("{}:{p}", self.node_name(*n)))
                            .collect(),
                    }
                }
                TableInfoKind::Broadcast { nodes } => RuleRow {
                    kind: "broadcast",
                    key: None,
                    nodes: named(nodes),
                    physical: nodes
                        .iter()
                        .map(|n| format!("{}:{}", self.node_name(*n), t.name))
                        .collect(),
                    table,
                },
                TableInfoKind::Single { node } => RuleRow {
                    kind: "single",
                    key: None,
                    nodes: named(&[*node]),
                    physical: vec![format!("{}:{}", self.node_name(*node), t.name)],
                    table,
                },
            };
            rows.push(row);
        }
        rows
    }

    /// One line per logical table: its kind, key and where its physical
    /// tables are (for status pages and `SHOW SHARDCAT RULES`).
    pub fn summary(&self) -> String {
        let mut out = String::new();
        for t in &self.tables {
            let name = match &t.schema {
                Some(db) => format!("{db}.{}", t.name),
                None => t.name.clone(),
            };
            let line = match &t.kind {
                TableInfoKind::Sharded(s) => {
                    let mut nodes: Vec<&str> =
                        s.slots.iter().map(|(n, _)| self.node_name(*n)).collect();
                    nodes.dedup();
                    format!(
                        "{name}: sharded by {} ({:?}), {} physical tables on {}",
                        s.key,
                        s.key_type,
                        s.slots.len(),
                        nodes.join(", ")
                    )
                }
                TableInfoKind::Broadcast { nodes } => {
                    let names: Vec<&str> = nodes.iter().map(|n| self.node_name(*n)).collect();
                    format!("{name}: broadcast to {}", names.join(", "))
                }
                TableInfoKind::Single { node } => {
                    format!("{name}: single table on {}", self.node_name(*node))
                }
            };
            out.push_str(&line);
            out.push('\n');
        }
        out
    }
}
