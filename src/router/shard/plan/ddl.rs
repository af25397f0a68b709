//! DDL fanned out to every physical table (or every broadcast copy), and
//! DESCRIBE of a logical table on one of its physical tables.
//!
//! Owns: [`ddl`] and [`describe`]. Must not plan data statements.

use super::*;

// ----- DDL and DESCRIBE -----

pub(super) fn ddl(ctx: &Ctx<'_>, sql: &str) -> Result<ShardPlan, RouteError> {
    let a = ctx.a;
    let sharded: Vec<RefId> = (0..a.refs.len())
        .filter(|&r| ctx.sharded(r).is_some())
        .collect();
    if let Some(&first) = sharded.first() {
        let info = ctx
            .sharded(first)
            .ok_or_else(|| RouteError("internal".into()))?;
        for r in 0..a.refs.len() {
            let same = ctx.sharded(r).is_some_and(|i| i.layout == info.layout);
            if !same && !matches!(a.refs[r].table, RefTable::System) {
                return err(format!(
                    "this DDL names the sharded table `{}` together with `{}`, which is placed \
                     differently; run one statement per table: {}",
                    ctx.name(first),
                    ctx.name(r),
                    quote_sql(sql)
                ));
            }
        }
        let mut targets = Vec::new();
        let live = info.slots.iter().enumerate();
        for (slot, (node, _)) in live.filter(|(slot, _)| info.root.slot_is_live(*slot)) {
            let asg = Assignment {
                node: *node,
                slot: sharded.iter().map(|&r| (r, slot)).collect(),
            };
            targets.push(target(ctx, sql, &asg, &[], &[])?);
        }
        return Ok(ShardPlan {
            targets,
            kind: PlanKind::Ddl,
            merge: None,
            generated_id: None,
            write: true,
        });
    }
    let broadcast: Vec<&Vec<usize>> = (0..a.refs.len())
        .filter_map(|r| match a.refs[r].table {
            RefTable::Rule(i) => match &ctx.router.tables[i].kind {
                TableInfoKind::Broadcast { nodes } => Some(nodes),
                _ => None,
            },
            _ => None,
        })
        .collect();
    if let Some(nodes) = broadcast.first() {
        for r in 0..a.refs.len() {
            let ok = match a.refs[r].table {
                RefTable::System => true,
                RefTable::Rule(i) => {
                    matches!(&ctx.router.tables[i].kind, TableInfoKind::Broadcast { nodes: n } if n == *nodes)
                }
                RefTable::Unlisted { .. } => false,
            };
            if !ok {
                return err(format!(
                    "this DDL names the broadcast table `{}` together with `{}`, which is placed \
                     differently; run one statement per table: {}",
                    ctx.name(
                        (0..a.refs.len())
                            .find(|&x| matches!(a.refs[x].table, RefTable::Rule(_)))
                            .unwrap_or(0)
                    ),
                    ctx.name(r),
                    quote_sql(sql)
                ));
            }
        }
        let (text, params) = render(sql, &[], &[], &a.placeholders)?;
        return Ok(ShardPlan {
            targets: nodes
                .iter()
                .map(|&node| ShardTarget {
                    node,
                    sql: text.clone(),
                    tables: Default::default(),
                    params: params.as_slice().into(),
                    local_file: None,
                    rows: None,
                })
                .collect(),
            kind: PlanKind::Ddl,
            merge: None,
            generated_id: None,
            write: true,
        });
    }
    unsharded(ctx, sql)
}

pub(super) fn describe(ctx: &Ctx<'_>, sql: &str) -> Result<ShardPlan, RouteError> {
    let a = ctx.a;
    let sharded: Vec<RefId> = (0..a.refs.len())
        .filter(|&r| ctx.sharded(r).is_some())
        .collect();
    let Some(&first) = sharded.first() else {
        return unsharded(ctx, sql);
    };
    let info = ctx
        .sharded(first)
        .ok_or_else(|| RouteError("internal".into()))?;
    let slot = info.root.first_live_slot();
    let asg = Assignment {
        node: info.slots[slot].0,
        slot: sharded.iter().map(|&r| (r, slot)).collect(),
    };
    check_available(ctx, asg.node, sql)?;
    Ok(ShardPlan {
        targets: vec![target(ctx, sql, &asg, &[], &[])?],
        kind: PlanKind::Single,
        merge: None,
        generated_id: None,
        write: false,
    })
}
