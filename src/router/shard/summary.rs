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

impl ShardRouter {
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
