//! An UPDATE that assigns a sharding key (or a composite table's period
//! column): the ordinary UPDATE plan (one target per physical table WHERE
//! may match) plus the [`KeyMove`] that says which tables rows may leave
//! and where rows with the new values live.
//!
//! Owns: resolving the new key to its slot and naming the tables of the
//! move. Must not: run anything (`frontend::session::key_move` does) or
//! analyse SQL.

use super::{err, quote_sql, Ctx, RouteError, ShardPlan};
use crate::placement::ShardKey;
use crate::router::shard::{KeyMove, MoveSource, MoveTable, MoveValue, PlanKind, ShardRouter};

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
            .filter_map(|s| slot_of(&info.slots, &s.from).map(|slot| (s.from.clone(), slot)))
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

/// Turns the UPDATE `plan` into a key move: the sharding key and/or (under
/// a composite rule) the period column assigned; each table the UPDATE
/// runs on gets its destination (under a composite rule it depends on the
/// source: a new key keeps each row's period, a new date its hash slot).
pub(super) fn key_move(ctx: &Ctx<'_>, sql: &str, plan: ShardPlan) -> Result<ShardPlan, RouteError> {
    let (ka, pa) = (&ctx.a.key_assignment, &ctx.a.period_assignment);
    let Some(r) = ka.as_ref().or(pa.as_ref()).map(|a| a.r) else {
        return Ok(plan);
    };
    let Some(info) = ctx.sharded(r) else {
        return Ok(plan);
    };
    let table = ctx.name(r);
    let mut values = Vec::new();
    let mut new_value = |a: &super::super::analyze::KeyAssignment, column: &str| {
        values.push(MoveValue {
            column: column.to_owned(),
            value: sql.get(a.text.clone()).unwrap_or_default().to_owned(),
            param: match a.val {
                super::Val::Param(i) if ctx.literals.is_empty() => Some(i),
                _ => None,
            },
        })
    };
    let key = match ka {
        Some(ka) => {
            new_value(ka, &info.key);
            Some(new_key(ctx, sql, r, &ka.val, &info.key, "sharding key")?)
        }
        None => None,
    };
    let period = match (pa, info.root.composite()) {
        (Some(pa), Some(c)) => {
            new_value(pa, &c.period.key);
            Some(new_key(
                ctx,
                sql,
                r,
                &pa.val,
                &c.period.key,
                "period column",
            )?)
        }
        _ => None,
    };
    let slot_of = |t: &MoveTable| {
        info.slots
            .iter()
            .position(|(n, p)| *n == t.node && *p == t.table)
    };
    let dest_of = |slot: usize| -> Result<MoveTable, RouteError> {
        let to = match info.root.moved_slot(slot, key.as_ref(), period.as_ref()) {
            Ok(s) if info.root.slot_is_live(s) => s,
            Ok(_) | Err(crate::placement::PlacementError::NoShardForKey { .. })
                if period.is_none() =>
            {
                return err(format!(
                    "no shard of `{table}` holds the new key {:?}: {}",
                    key.as_ref().unwrap_or(&ShardKey::Null),
                    quote_sql(sql)
                ))
            }
            Ok(s) => {
                return err(format!(
                    "no table of `{table}` is routed for slot {s} today: {}",
                    quote_sql(sql)
                ))
            }
            Err(why) => return err(format!("`{table}`: {why}: {}", quote_sql(sql))),
        };
        match info.slots.get(to) {
            Some((node, physical)) => Ok(MoveTable {
                node: *node,
                table: physical.clone(),
            }),
            None => err(format!("internal: slot {to} of `{table}` has no table")),
        }
    };
    let mut sources: Vec<MoveSource> = Vec::new();
    let mut dest = None;
    for t in &plan.targets {
        let Some(p) = t.tables.first() else { continue };
        let from = MoveTable {
            node: t.node,
            table: p.clone(),
        };
        let to = match slot_of(&from) {
            Some(slot) => dest_of(slot)?,
            None => continue,
        };
        dest.get_or_insert_with(|| to.clone());
        if from != to && !sources.iter().any(|s| s.from == from) {
            sources.push(MoveSource { from, to });
        }
    }
    let dest = match dest {
        Some(d) => d,
        None => dest_of(info.root.first_live_slot())?,
    };
    let schema = ctx.a.refs[r].schema.clone();
    Ok(ShardPlan {
        kind: PlanKind::KeyMove(Box::new(KeyMove {
            schema,
            values,
            dest,
            sources,
        })),
        ..plan
    })
}

/// The new value of `column` (the sharding key, or a composite table's
/// period column) an UPDATE assigns: refused when NULL or not known.
fn new_key(
    ctx: &Ctx<'_>,
    sql: &str,
    r: super::RefId,
    val: &super::Val,
    column: &str,
    what: &str,
) -> Result<ShardKey, RouteError> {
    let table = ctx.name(r);
    let key = if what == "sharding key" {
        ctx.resolve(r, val)
    } else {
        ctx.resolve_period(r, val)
    };
    match key {
        Ok(Some(ShardKey::Null)) => err(format!(
            "this UPDATE sets `{column}`, the {what} of `{table}`, to NULL: {}",
            quote_sql(sql)
        )),
        Ok(Some(k)) => Ok(k),
        Ok(None) => err(format!(
            "this UPDATE sets `{column}`, the {what} of `{table}`, to a value shardcat \
             cannot route: {}",
            quote_sql(sql)
        )),
        Err(why) => err(format!("{why}: {}", quote_sql(sql))),
    }
}
