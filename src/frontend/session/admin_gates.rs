//! The admin statements a shard move's switch uses (admins only, like every
//! `SET SHARDCAT`):
//!
//! - `SET SHARDCAT PAUSE WRITES <node> <table>[,<table>…] FOR <ms>`: writes
//!   to those physical tables of that node wait; answers once no earlier
//!   write is still in flight; the pause ends by itself after `<ms>`.
//! - `SET SHARDCAT SWITCH <node> <table>[,…]`: reloads the configuration
//!   (with the placement file the move wrote) if those writes are still
//!   paused; sessions in a transaction take the switched rules.
//! - `SET SHARDCAT RESUME WRITES <node> <table>[,…]`: lifts the pause;
//!   waiting writes are planned again.
//! - `SHOW SHARDCAT PAUSES`: what is paused and for how long still.
//! - `SHOW SHARDCAT MOVES`: the placement file's moved shards, moves and
//!   resplits under way (`kind`; phase, catch-up position — a move's GTID
//!   position, a resplit's binary log position per node —, rows copied,
//!   lag, verification, write pause).
//!
//! Owns: parsing and answering those. Must not: move data (that is
//! `ops::moves`), hold the gates' state (`frontend::write_gate`).

use std::time::Duration;

use super::Session;
use crate::error::ProxyError;
use crate::frontend::local_result::TextResult;

/// A parsed gate statement.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum GateStatement {
    Pause {
        node: String,
        tables: Vec<String>,
        ms: u64,
    },
    Switch {
        node: String,
        tables: Vec<String>,
    },
    Resume {
        node: String,
        tables: Vec<String>,
    },
}

/// The gate statement in `words` (after `SET SHARDCAT`), if it is one.
pub(super) fn parse(words: &[&str]) -> Option<GateStatement> {
    let upper: Vec<String> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    let list = |w: &str| -> Vec<String> {
        w.split(',')
            .map(|t| t.trim_matches('`').to_owned())
            .filter(|t| !t.is_empty())
            .collect()
    };
    let u: Vec<&str> = upper.iter().map(String::as_str).collect();
    match u.as_slice() {
        ["PAUSE", "WRITES", _, _, "FOR", ms] => Some(GateStatement::Pause {
            node: words[2].to_owned(),
            tables: list(words[3]),
            ms: ms.parse().ok()?,
        }),
        ["SWITCH", _, _] => Some(GateStatement::Switch {
            node: words[1].to_owned(),
            tables: list(words[2]),
        }),
        ["RESUME", "WRITES", _, _] => Some(GateStatement::Resume {
            node: words[2].to_owned(),
            tables: list(words[3]),
        }),
        _ => None,
    }
}

impl Session {
    fn node_index(&self, name: &str) -> Result<usize, ProxyError> {
        self.proxy
            .cluster
            .nodes
            .iter()
            .position(|n| n.name == name)
            .ok_or_else(|| ProxyError::Unsupported(format!("SET SHARDCAT: no node `{name}`")))
    }

    /// Answers a gate statement.
    pub(super) async fn run_gate_statement(&mut self, statement: GateStatement, seq: &mut u8) {
        let result = match statement {
            GateStatement::Pause { node, tables, ms } => match self.node_index(&node) {
                Ok(i) => {
                    let hold = Duration::from_millis(ms);
                    let gates = self.proxy.write_gates.clone();
                    match gates.pause(i, &tables, hold, hold).await {
                        Ok(drained) => {
                            tracing::warn!(node, ?tables, ms, ?drained, "writes paused");
                            Ok(tables.len())
                        }
                        Err(e) => Err(ProxyError::Unsupported(format!("SET SHARDCAT PAUSE: {e}"))),
                    }
                }
                Err(e) => Err(e),
            },
            GateStatement::Switch { node, tables } => match self.node_index(&node) {
                Ok(i) => {
                    let proxy = self.proxy.clone();
                    proxy
                        .write_gates
                        .switch_while_paused(i, &tables, || proxy.reload())
                        .map(|msg| {
                            tracing::warn!(node, ?tables, "placement switched: {msg}");
                            tables.len()
                        })
                        .map_err(|e| {
                            ProxyError::Config(format!(
                                "SET SHARDCAT SWITCH refused: {}",
                                crate::logsafe::escape(&e)
                            ))
                        })
                }
                Err(e) => Err(e),
            },
            GateStatement::Resume { node, tables } => self.node_index(&node).map(|i| {
                let lifted = self.proxy.write_gates.resume(i, &tables);
                tracing::warn!(node, ?tables, "writes resumed");
                lifted
            }),
        };
        match result {
            Ok(n) => self.write_ok(seq, n as u64, 0, self.status, 0).await,
            Err(e) => self.write_error_seq(&e, seq).await,
        }
    }

    /// `SHOW SHARDCAT MOVES`.
    pub(super) fn moves_result(&self) -> Result<TextResult, ProxyError> {
        use crate::config::placement_file::{path_for, PlacementFile};
        let source = self.proxy.config.load().source.clone();
        let file = PlacementFile::read(&path_for(&source)).map_err(ProxyError::Config)?;
        let mut r = TextResult::new(&[
            "state",
            "table",
            "slot",
            "tables",
            "from_node",
            "to_node",
            "gtid",
            "rows_copied",
            "pause_ms",
            "step",
            "rows_total",
            "lag_seconds",
            "lag_transactions",
            "chunks_verified",
            "chunks_total",
            "chunks_deferred",
            "error",
            "kind",
            "lag_bytes",
            "keys_rechecked",
        ]);
        let s = |v: &str| Some(v.to_owned());
        for m in &file.moved {
            let name = match &m.schema {
                Some(schema) => format!("{schema}.{}", m.table),
                None => m.table.clone(),
            };
            let slot = m.slot.to_string();
            let mut row = vec![s("moved"), Some(name), Some(slot), None, None, s(&m.node)];
            row.resize(17, None);
            row.push(s("moved"));
            row.resize(20, None);
            r.row(row);
        }
        for m in &file.moves {
            // The live figures of the command running the move.
            let p = file.progress_of(m).cloned().unwrap_or_default();
            let n = |v: u64| Some(v.to_string());
            r.row(vec![
                s(&m.phase),
                Some(format!("{}.{}", m.schema, m.table)),
                Some(m.slot.to_string()),
                Some(m.tables.join(",")),
                s(&m.from),
                s(&m.to),
                s(&m.gtid),
                n(m.rows_copied.max(p.rows_copied)),
                n(m.pause_ms),
                Some(p.step).filter(|v| !v.is_empty()),
                n(p.rows_total),
                p.lag_seconds.and_then(n),
                p.lag_transactions.and_then(n),
                n(p.chunks_checked),
                n(p.chunks_total),
                n(p.chunks_deferred),
                Some(p.error).filter(|v| !v.is_empty()),
                s("move"),
                None,
                None,
            ]);
        }
        for rs in &file.resplits {
            let p = file.resplit_progress(rs).cloned().unwrap_or_default();
            let n = |v: u64| Some(v.to_string());
            let nodes: std::collections::BTreeSet<&str> =
                rs.tables.iter().map(|t| t.node.as_str()).collect();
            let olds: std::collections::BTreeSet<&str> =
                rs.tables.iter().map(|t| t.old.as_str()).collect();
            let nodes = nodes.into_iter().collect::<Vec<_>>().join(",");
            let recorded: Vec<String> = rs
                .sources
                .iter()
                .map(|x| format!("{} {}", x.node, x.binlog))
                .collect();
            let position = match p.position.is_empty() {
                true => recorded.join(", "),
                false => p.position.clone(),
            };
            r.row(vec![
                s(&rs.phase),
                Some(format!("{}.{}", rs.schema, rs.table)),
                None,
                Some(olds.into_iter().collect::<Vec<_>>().join(",")),
                s(&nodes),
                s(&nodes),
                Some(position).filter(|v| !v.is_empty()),
                n(rs.rows_copied.max(p.rows_copied)),
                n(rs.pause_ms),
                Some(p.step).filter(|v| !v.is_empty()),
                n(p.rows_total),
                p.lag_seconds.and_then(n),
                None,
                n(p.chunks_checked),
                n(p.chunks_total),
                n(p.chunks_deferred),
                Some(p.error).filter(|v| !v.is_empty()),
                s("resplit"),
                p.lag_bytes.and_then(n),
                n(p.keys_rechecked),
            ]);
        }
        Ok(r)
    }

    /// `SHOW SHARDCAT PAUSES`.
    pub(super) fn pauses_result(&self) -> TextResult {
        let mut r = TextResult::new(&["node", "table", "ms_left"]);
        for (node, table, left) in self.proxy.write_gates.list() {
            let name = self.proxy.cluster.nodes.get(node).map(|n| n.name.clone());
            r.row(vec![name, Some(table), Some(left.to_string())]);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_forms_and_nothing_else() {
        let p = |s: &str| parse(&s.split_whitespace().collect::<Vec<_>>());
        assert_eq!(
            p("pause writes n1 users_1,`orders_1` for 1500"),
            Some(GateStatement::Pause {
                node: "n1".into(),
                tables: vec!["users_1".into(), "orders_1".into()],
                ms: 1500
            })
        );
        assert_eq!(
            p("SWITCH n1 users_1"),
            Some(GateStatement::Switch {
                node: "n1".into(),
                tables: vec!["users_1".into()]
            })
        );
        assert_eq!(
            p("RESUME WRITES n1 users_1"),
            Some(GateStatement::Resume {
                node: "n1".into(),
                tables: vec!["users_1".into()]
            })
        );
        for bad in [
            "PAUSE WRITES n1 users_1 FOR x",
            "PAUSE WRITES n1 users_1",
            "RESUME n1 users_1",
            "SWITCH n1",
            "BACKEND x OFFLINE",
        ] {
            assert_eq!(p(bad), None, "{bad}");
        }
    }
}
