//! An UPDATE that assigns a sharding key: the ordinary UPDATE plan (one
//! target per physical table WHERE may match) plus the [`KeyMove`] that
//! says where rows with the new key live and which tables rows may leave.
//!
//! Owns: resolving the new key to its slot and naming the tables of the
//! move. Must not: run anything (`frontend::session::key_move` does) or
//! analyse SQL.

use super::{err, quote_sql, Ctx, RouteError, ShardPlan};
use crate::placement::ShardKey;
use crate::router::shard::{KeyMove, MoveTable, PlanKind};

/// Turns the UPDATE `plan` into a key move.
pub(super) fn key_move(ctx: &Ctx<'_>, sql: &str, plan: ShardPlan) -> Result<ShardPlan, RouteError> {
    let Some(ka) = &ctx.a.key_assignment else {
        return Ok(plan);
    };
    let r = ka.r;
    let Some(info) = ctx.sharded(r) else {
        return Ok(plan);
    };
    let table = ctx.name(r);
    let key = match ctx.resolve(r, &ka.val) {
        Ok(Some(ShardKey::Null)) => {
            return err(format!(
                "this UPDATE sets `{}`, the sharding key of `{table}`, to NULL: {}",
                info.key,
                quote_sql(sql)
            ))
        }
        Ok(Some(k)) => k,
        Ok(None) => {
            return err(format!(
                "this UPDATE sets `{}`, the sharding key of `{table}`, to a value shardcat \
                 cannot route: {}",
                info.key,
                quote_sql(sql)
            ))
        }
        Err(why) => return err(format!("{why}: {}", quote_sql(sql))),
    };
    let slot = match ctx.slot_of(r, &key) {
        Ok(Some(s)) if info.root.slot_is_live(s) => s,
        Ok(_) => {
            return err(format!(
                "no shard of `{table}` holds the new key {key:?}: {}",
                quote_sql(sql)
            ))
        }
        Err(why) => return err(format!("{why}: {}", quote_sql(sql))),
    };
    let Some((node, physical)) = info.slots.get(slot).cloned() else {
        return err(format!("internal: slot {slot} of `{table}` has no table"));
    };
    let schema = ctx.a.refs[r].schema.clone();
    let dest = MoveTable {
        node,
        table: physical,
    };
    let mut sources: Vec<MoveTable> = Vec::new();
    for t in &plan.targets {
        let Some(p) = t.tables.first() else { continue };
        let source = MoveTable {
            node: t.node,
            table: p.clone(),
        };
        if source != dest && !sources.contains(&source) {
            sources.push(source);
        }
    }
    let value = sql.get(ka.text.clone()).unwrap_or_default().to_owned();
    let value_param = match ka.val {
        super::Val::Param(i) if ctx.literals.is_empty() => Some(i),
        _ => None,
    };
    Ok(ShardPlan {
        kind: PlanKind::KeyMove(Box::new(KeyMove {
            key: info.key.clone(),
            schema,
            value,
            value_param,
            dest,
            sources,
        })),
        ..plan
    })
}
