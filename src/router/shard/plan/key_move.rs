//! An UPDATE that assigns a sharding key: the ordinary UPDATE plan (one
//! target per physical table WHERE may match) plus the [`KeyMove`] that
//! says where rows with the new key live and which tables rows may leave.
//!
//! Owns: resolving the new key to its slot and naming the tables of the
//! move. Must not: run anything (`frontend::session::key_move` does) or
//! analyse SQL.

use super::{err, quote_sql, Ctx, RouteError, ShardPlan};
use crate::placement::ShardKey;
use crate::router::shard::{KeyMove, MoveTable, PlanKind, ShardRouter};

/// A table bound (`bound_to`, at any depth) to a table whose rows move:
/// rows of it that carry the new key after the UPDATE (an `ON UPDATE
/// CASCADE` foreign key changed them with their parent) move with it.
#[derive(Debug, Clone)]
pub struct MoveChild {
    /// Its key column.
    pub key: String,
    /// Its physical table in the new key's slot.
    pub dest: MoveTable,
    /// (a source table of the move, its own table in the same slot).
    pub sources: Vec<(MoveTable, MoveTable)>,
}

impl MoveChild {
    /// Its table in the slot of the move's source table `s`.
    pub fn source_of(&self, s: &MoveTable) -> Option<MoveTable> {
        self.sources
            .iter()
            .find(|(parent, _)| parent == s)
            .map(|(_, own)| own.clone())
    }
}

impl ShardRouter {
    /// The tables bound to the table of move `m`, parents before their
    /// children (found by the physical tables of the move).
    pub fn move_children(&self, m: &KeyMove) -> Vec<MoveChild> {
        let slot_of = |slots: &[(usize, String)], t: &MoveTable| {
            slots
                .iter()
                .position(|(n, p)| *n == t.node && *p == t.table)
        };
        let Some((parent, dest_slot)) = self.tables.iter().enumerate().find_map(|(i, t)| {
            let s = t.sharded()?;
            slot_of(&s.slots, &m.dest).map(|slot| (i, slot))
        }) else {
            return Vec::new();
        };
        let Some(info) = self.tables[parent].sharded() else {
            return Vec::new();
        };
        let source_slots: Vec<(MoveTable, usize)> = m
            .sources
            .iter()
            .filter_map(|s| slot_of(&info.slots, s).map(|slot| (s.clone(), slot)))
            .collect();
        let schema = self.tables[parent].schema.clone();
        let mut out = Vec::new();
        let mut queue: Vec<usize> = vec![parent];
        let mut at = 0;
        while let Some(&t) = queue.get(at) {
            at += 1;
            for name in self.bound_children(t) {
                let Some(c) = self
                    .tables
                    .iter()
                    .position(|x| x.name == *name && x.schema == schema)
                else {
                    continue;
                };
                let Some(ci) = self.tables[c].sharded() else {
                    continue;
                };
                let table = |slot: usize| {
                    ci.slots.get(slot).map(|(node, p)| MoveTable {
                        node: *node,
                        table: p.clone(),
                    })
                };
                let Some(dest) = table(dest_slot) else {
                    continue;
                };
                out.push(MoveChild {
                    key: ci.key.clone(),
                    dest,
                    sources: source_slots
                        .iter()
                        .filter_map(|(s, slot)| table(*slot).map(|own| (s.clone(), own)))
                        .collect(),
                });
                if !queue.contains(&c) {
                    queue.push(c);
                }
            }
        }
        out
    }
}

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
