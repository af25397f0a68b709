//! `shardcat explain`'s text for a plan ([`ShardRouter::describe`]).
//! Read-only over a plan: must not plan or execute.

use super::{describe_merge, PlanKind, ShardPlan, ShardRouter};

impl ShardRouter {
    /// A human-readable description of a plan (for `shardcat explain`).
    pub fn describe(&self, plan: &ShardPlan) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let kind = match &plan.kind {
            PlanKind::Unsharded { node } => format!("unsharded (node {})", self.node_name(*node)),
            PlanKind::Single => "single shard".to_owned(),
            PlanKind::Scatter => format!("scatter ({} targets)", plan.targets.len()),
            PlanKind::Broadcast => "broadcast write (every copy)".to_owned(),
            PlanKind::BroadcastRead { nodes } => format!(
                "broadcast read (any of {})",
                nodes
                    .iter()
                    .map(|n| self.node_name(*n))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            PlanKind::Ddl => format!("DDL fan-out ({} targets)", plan.targets.len()),
            PlanKind::KeyMove(m) => format!(
                "sharding-key move ({} UPDATE targets; rows with the new key go to {} on {}, \
                 leaving {})",
                plan.targets.len(),
                m.dest.table,
                self.node_name(m.dest.node),
                m.sources
                    .iter()
                    .map(|s| {
                        let to = if s.to == m.dest {
                            String::new()
                        } else {
                            format!(" for {}", s.to.table)
                        };
                        format!("{} on {}{to}", s.from.table, self.node_name(s.from.node))
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let _ = writeln!(
            out,
            "kind:   {kind}{}",
            if plan.write { ", write" } else { "" }
        );
        if let Some(id) = plan.generated_id {
            let _ = writeln!(out, "generated id: {id}");
        }
        for (i, t) in plan.targets.iter().enumerate() {
            let _ = writeln!(
                out,
                "target {}: node {}{}",
                i + 1,
                self.node_name(t.node),
                if t.tables.is_empty() {
                    String::new()
                } else {
                    format!(", tables {}", t.tables.join(", "))
                }
            );
            let _ = writeln!(out, "  sql:    {}", t.sql.trim());
            if !t.params.is_empty() {
                let _ = writeln!(out, "  params: {:?}", t.params);
            }
        }
        if let Some(m) = &plan.merge {
            let _ = writeln!(out, "merge:  {}", describe_merge(m));
        }
        out
    }
}
