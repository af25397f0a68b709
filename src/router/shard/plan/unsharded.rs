//! Statements without sharded tables: single-node and unruled tables on
//! their node, broadcast reads on any node holding every copy, broadcast
//! writes on every copy.
//!
//! Owns: [`unsharded`]. Must not plan sharded references (see `sharded`).

use super::*;

// ----- statements without sharded tables -----

pub(super) fn unsharded(ctx: &Ctx<'_>, sql: &str) -> Result<ShardPlan, RouteError> {
    let a = ctx.a;
    if let Some(r) = (0..a.refs.len()).find(|&r| ctx.sharded(r).is_some()) {
        return err(format!(
            "this statement would need every shard of `{}` on each node it runs on; \
             it cannot be pushed down: {}",
            ctx.name(r),
            quote_sql(sql)
        ));
    }
    let node_of = |r: RefId| -> Option<usize> {
        match a.refs[r].table {
            RefTable::Unlisted { node } => Some(node),
            RefTable::Rule(i) => match ctx.router.tables[i].kind {
                TableInfoKind::Single { node } => Some(node),
                _ => None,
            },
            RefTable::System => None,
        }
    };
    let broadcast_nodes = |r: RefId| -> Option<&Vec<usize>> {
        match a.refs[r].table {
            RefTable::Rule(i) => match &ctx.router.tables[i].kind {
                TableInfoKind::Broadcast { nodes } => Some(nodes),
                _ => None,
            },
            _ => None,
        }
    };
    let whole = |node: usize| -> Result<ShardTarget, RouteError> {
        let (sql, params) = render(sql, &[], &[], &a.placeholders)?;
        Ok(ShardTarget {
            node,
            sql,
            tables: Default::default(),
            params: params.into(),
            local_file: None,
            rows: None,
        })
    };
    let written_broadcast: Vec<RefId> = if a.write && !a.explain {
        a.written
            .iter()
            .copied()
            .filter(|&r| broadcast_nodes(r).is_some())
            .collect()
    } else {
        Vec::new()
    };
    if let Some(&w) = written_broadcast.first() {
        let nodes = broadcast_nodes(w).cloned().unwrap_or_default();
        for &node in &nodes {
            for r in 0..a.refs.len() {
                if !available(ctx, r, node) {
                    return err(format!(
                        "this statement writes the broadcast table `{}` on every node holding a copy, \
                         but `{}` is not on node {}: {}",
                        ctx.name(w),
                        ctx.name(r),
                        ctx.router.node_name(node),
                        quote_sql(sql)
                    ));
                }
            }
        }
        return Ok(ShardPlan {
            targets: nodes.iter().map(|&n| whole(n)).collect::<Result<_, _>>()?,
            kind: PlanKind::Broadcast,
            merge: None,
            generated_id: None,
            write: true,
        });
    }
    let fixed: Vec<usize> = (0..a.refs.len()).filter_map(node_of).collect();
    if let Some(&node) = fixed.first() {
        check_available(ctx, node, sql)?;
        return Ok(ShardPlan {
            targets: vec![whole(node)?],
            kind: PlanKind::Unsharded { node },
            merge: None,
            generated_id: None,
            write: a.write,
        });
    }
    // Broadcast tables only: any node holding every copy.
    let mut nodes: Option<Vec<usize>> = None;
    for r in 0..a.refs.len() {
        if let Some(n) = broadcast_nodes(r) {
            nodes = Some(match nodes {
                None => n.clone(),
                Some(prev) => prev.into_iter().filter(|x| n.contains(x)).collect(),
            });
        }
    }
    let nodes = nodes.unwrap_or_default();
    let Some(&first) = nodes.first() else {
        return err(format!(
            "no node holds a copy of every broadcast table this statement reads: {}",
            quote_sql(sql)
        ));
    };
    Ok(ShardPlan {
        targets: vec![whole(first)?],
        kind: PlanKind::BroadcastRead { nodes },
        merge: None,
        generated_id: None,
        write: a.write,
    })
}
