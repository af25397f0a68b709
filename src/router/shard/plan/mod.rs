//! From an [`Analysis`] and the parameter values to a [`ShardPlan`]: which
//! slots each part of the statement needs, the targets, and the physical
//! SQL of each target (splicing).
//!
//! Owns: `materialize`, the key-formula context (`Ctx`), grouping of
//! sharded references by key equality and the availability checks of
//! unsharded references; the plans by statement kind live in
//! `unsharded`, `sharded`, `union`, `insert` and `ddl`, the
//! physical SQL in `splice`. Must not parse or analyse SQL (the
//! `Analysis` is given) and does no I/O.

use std::collections::{BTreeMap, HashMap};
use std::ops::{Bound, Range};

use crate::placement::{KeyType, ParamValue, PlacementError, ShardKey, SlotSet};

use super::analyze::{Analysis, NameTarget, RefTable, RowSource, StmtKind};
use super::cond::{KeyContext, RefId, Slots, Val};
use super::lex::ident;
use super::select::{Edit, LimitVal, Piece, SelectMerge};
use super::shape::ShapeLiteral;
use super::{
    err, quote_sql, MergeSpec, PlanKind, RouteError, ShardPlan, ShardRouter, ShardTarget,
    ShardedInfo, TableInfoKind,
};

mod ddl;
mod insert;
mod key_move;
pub use key_move::MoveChild;
mod memo;
mod point;
mod range;
mod sharded;
mod splice;
mod union;
mod unsharded;

use ddl::{ddl, describe};
use insert::insert;
pub use memo::PreparedShape;
pub(crate) use memo::TargetMemo;
use memo::{memo_scatter, memo_target, remember_scatter};
use point::point_plan;
pub(crate) use point::point_text_plan;
pub(crate) use point::PointMemo;
use range::range_plan;
pub(crate) use range::{range_text_plan, RangeMemo};
use sharded::{scatter_merge, sharded};
pub(crate) use splice::render;
use splice::{in_list_edits, target};
use union::union_parts;
use unsharded::unsharded;

/// Parameters and placement for evaluating key formulas.
struct Ctx<'a> {
    router: &'a ShardRouter,
    a: &'a Analysis,
    params: &'a [ParamValue<'a>],
    /// When planning a statement's shape: the literal behind each `?`.
    literals: &'a [ShapeLiteral<'a>],
    /// Physical tables without the logical alias (`users_0`, not `users_0
    /// AS users`): under LOCK TABLES the connection may only use the names
    /// it locked.
    unaliased: bool,
}

impl<'a> Ctx<'a> {
    /// The context of a text statement's shape with its `literals` (a kept
    /// plan's); `None` without literals (nothing to put back: planned the
    /// general way).
    fn of_shape(
        router: &'a ShardRouter,
        a: &'a Analysis,
        literals: &'a [ShapeLiteral],
        unaliased: bool,
    ) -> Option<Ctx<'a>> {
        (!literals.is_empty()).then_some(Ctx {
            router,
            a,
            params: &[],
            literals,
            unaliased,
        })
    }

    fn sharded(&self, r: RefId) -> Option<&'a ShardedInfo> {
        match self.a.refs[r].table {
            RefTable::Rule(i) => self.router.tables[i].sharded(),
            _ => None,
        }
    }

    fn name(&self, r: RefId) -> &'a str {
        &self.a.refs[r].name
    }

    /// `Ok(None)` when the value is not known at routing time.
    fn resolve(&self, r: RefId, v: &Val) -> Result<Option<ShardKey>, String> {
        match self.sharded(r) {
            Some(info) => self.convert(info.key_type, v),
            None => Ok(None),
        }
    }

    /// `v` as a key of `key_type`; `Ok(None)` when not known at routing time.
    fn convert(&self, key_type: KeyType, v: &Val) -> Result<Option<ShardKey>, String> {
        match v {
            Val::Key(k) => Ok(Some(k.clone())),
            Val::Bad(why) => Err(why.clone()),
            Val::Param(i) if !self.literals.is_empty() => match self.literals.get(*i) {
                Some(l) => ShardKey::from_literal(&l.value, l.kind, key_type)
                    .map(Some)
                    .map_err(|e| e.to_string()),
                None => Ok(None),
            },
            Val::Param(i) => match self.params.get(*i) {
                Some(p) => ShardKey::from_param(*p, key_type)
                    .map(Some)
                    .map_err(|e| e.to_string()),
                None => Ok(None),
            },
            Val::Expr => Ok(None),
        }
    }

    /// The value of `v` for the period column of `r` (a composite table);
    /// `Ok(None)` when not known at routing time.
    fn resolve_period(&self, r: RefId, v: &Val) -> Result<Option<ShardKey>, String> {
        let Some(key_type) = self
            .sharded(r)
            .and_then(|info| info.root.composite())
            .map(|c| c.period.key_type)
        else {
            return Ok(None);
        };
        self.convert(key_type, v)
    }

    /// The slot of a key; `Ok(None)` when no slot holds it.
    fn slot_of(&self, r: RefId, key: &ShardKey) -> Result<Option<usize>, String> {
        let Some(info) = self.sharded(r) else {
            return Ok(None);
        };
        match info.root.slot_for_key(key) {
            Ok(s) => Ok(Some(s)),
            Err(PlacementError::NoShardForKey { .. }) => Ok(None),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl KeyContext for Ctx<'_> {
    fn key(&self, r: RefId, val: &Val) -> Option<ShardKey> {
        self.resolve(r, val).ok().flatten()
    }

    fn slots_for_key(&self, r: RefId, key: &ShardKey) -> Slots {
        if self
            .sharded(r)
            .is_some_and(|i| i.root.composite().is_some())
        {
            // The key's hash slot, with every period of it.
            return self.slots_for_range(r, Bound::Included(key), Bound::Included(key));
        }
        match self.slot_of(r, key) {
            Ok(Some(s)) => Slots::one(s),
            Ok(None) => Slots::none(),
            Err(_) => Slots::All,
        }
    }

    fn slots_for_range(&self, r: RefId, low: Bound<&ShardKey>, high: Bound<&ShardKey>) -> Slots {
        match self.sharded(r) {
            Some(info) => match info.root.slots_for_range(low, high) {
                SlotSet::All => Slots::All,
                SlotSet::Slots(v) => Slots::Set(v.into_iter().collect()),
            },
            None => Slots::All,
        }
    }

    fn period_key(&self, r: RefId, val: &Val) -> Option<ShardKey> {
        self.resolve_period(r, val).ok().flatten()
    }

    fn slots_for_period(&self, r: RefId, low: Bound<&ShardKey>, high: Bound<&ShardKey>) -> Slots {
        match self.sharded(r) {
            Some(info) => match info.root.slots_for_period_range(low, high) {
                SlotSet::All => Slots::All,
                SlotSet::Slots(v) => Slots::Set(v.into_iter().collect()),
            },
            None => Slots::All,
        }
    }
}

struct UnionFind(Vec<usize>);

impl UnionFind {
    fn new(n: usize) -> Self {
        UnionFind((0..n).collect())
    }
    fn find(&mut self, x: usize) -> usize {
        let mut x = x;
        while self.0[x] != x {
            self.0[x] = self.0[self.0[x]];
            x = self.0[x];
        }
        x
    }
    fn union(&mut self, a: usize, b: usize) {
        let (a, b) = (self.find(a), self.find(b));
        if a != b {
            self.0[a] = b;
        }
    }
}

/// Sharded references of a row source grouped by key equality, with the
/// slots each group needs.
struct Group {
    refs: Vec<RefId>,
    slots: Vec<usize>,
    /// Every slot of the layout (no key constraint at all).
    all: bool,
}

fn groups(ctx: &Ctx<'_>, rs: &RowSource) -> Vec<Group> {
    let sharded: Vec<RefId> = rs
        .refs
        .iter()
        .copied()
        .filter(|&r| ctx.sharded(r).is_some())
        .collect();
    let mut uf = UnionFind::new(ctx.a.refs.len());
    for &(a, b) in &rs.edges {
        uf.union(a, b);
    }
    let mut by_root: BTreeMap<usize, Vec<RefId>> = BTreeMap::new();
    for r in sharded {
        by_root.entry(uf.find(r)).or_default().push(r);
    }
    by_root
        .into_values()
        .map(|refs| {
            let member = |r: RefId| refs.contains(&r);
            let mut slots = Slots::All;
            for pin in &rs.pins {
                slots = slots.intersect(pin.eval(ctx, &member));
            }
            let info = ctx.sharded(refs[0]);
            let count = info.map(|s| s.slots.len()).unwrap_or(0);
            let all = slots == Slots::All;
            let mut list = slots.to_vec(count);
            // Retired and not-yet-created periods hold no rows.
            list.retain(|slot| info.is_none_or(|i| i.root.slot_is_live(*slot)));
            if list.is_empty() && count > 0 {
                // No slot can match (contradictory or out-of-range keys):
                // one shard answers with no rows.
                list.push(info.map_or(0, |i| i.root.first_live_slot()));
            }
            Group {
                refs,
                slots: list,
                all,
            }
        })
        .collect()
}

/// Slot of each sharded reference in one target.
#[derive(Clone)]
struct Assignment {
    node: usize,
    slot: HashMap<RefId, usize>,
}

pub(crate) fn materialize(
    router: &ShardRouter,
    a: &Analysis,
    sql: &str,
    schema: Option<&str>,
    params: &[ParamValue<'_>],
    literals: &[ShapeLiteral],
    unaliased: bool,
) -> Result<Option<ShardPlan>, RouteError> {
    let values = Values { params, literals };
    materialize_with(router, a, sql, schema, values, unaliased, true)
}

/// [`materialize`] without the point and range paths (`point`, `range`):
/// what they must agree with.
#[cfg(test)]
pub(crate) fn materialize_without_point(
    router: &ShardRouter,
    a: &Analysis,
    sql: &str,
    schema: Option<&str>,
    params: &[ParamValue<'_>],
    literals: &[ShapeLiteral],
    unaliased: bool,
) -> Result<Option<ShardPlan>, RouteError> {
    let values = Values { params, literals };
    materialize_with(router, a, sql, schema, values, unaliased, false)
}

/// The values a plan is made with: a prepared statement's parameters or
/// a text shape's literals.
struct Values<'a> {
    params: &'a [ParamValue<'a>],
    literals: &'a [ShapeLiteral<'a>],
}

fn materialize_with(
    router: &ShardRouter,
    a: &Analysis,
    sql: &str,
    schema: Option<&str>,
    Values { params, literals }: Values<'_>,
    unaliased: bool,
    point: bool,
) -> Result<Option<ShardPlan>, RouteError> {
    let ctx = Ctx {
        router,
        a,
        params,
        literals,
        unaliased,
    };
    if a.kind == StmtKind::Lexical {
        return Ok(a.lexical_node.map(|node| ShardPlan {
            targets: vec![ShardTarget {
                node,
                sql: sql.to_owned(),
                tables: Default::default(),
                params: (0..a.placeholders.len()).collect(),
                local_file: None,
                rows: None,
            }],
            kind: PlanKind::Unsharded { node },
            merge: None,
            generated_id: None,
            write: true,
        }));
    }
    if !a.refs.iter().any(|r| matches!(r.table, RefTable::Rule(_))) {
        return Ok(None);
    }
    if point {
        if let Some(plan) = point_plan(&ctx, sql)? {
            return Ok(Some(plan));
        }
        if let Some(plan) = range_plan(&ctx, sql) {
            return Ok(Some(plan));
        }
    }
    let ctx = &ctx;
    let any_sharded = (0..a.refs.len()).any(|r| ctx.sharded(r).is_some());
    let plan = match a.kind {
        StmtKind::Ddl => ddl(ctx, sql)?,
        StmtKind::Describe => describe(ctx, sql)?,
        StmtKind::UnshardedOnly => {
            if let Some(r) = (0..a.refs.len()).find(|&r| {
                matches!(a.refs[r].table, RefTable::Rule(i) if !matches!(router.tables[i].kind, TableInfoKind::Single { .. }))
            }) {
                return err(format!(
                    "{} is not supported on table `{}`, which is {}: {}",
                    a.verb,
                    ctx.name(r),
                    if ctx.sharded(r).is_some() { "sharded" } else { "broadcast" },
                    quote_sql(sql)
                ));
            }
            unsharded(ctx, sql)?
        }
        StmtKind::Insert => insert(ctx, sql, schema)?,
        _ if !any_sharded => unsharded(ctx, sql)?,
        StmtKind::Update if a.key_assignment.is_some() || a.period_assignment.is_some() => {
            key_move::key_move(ctx, sql, sharded(ctx, sql)?)?
        }
        _ => sharded(ctx, sql)?,
    };
    Ok(Some(plan))
}

// ----- availability of unsharded references -----

fn available(ctx: &Ctx<'_>, r: RefId, node: usize) -> bool {
    match ctx.a.refs[r].table {
        RefTable::System => true,
        RefTable::Unlisted { node: n } => n == node,
        RefTable::Rule(i) => match &ctx.router.tables[i].kind {
            TableInfoKind::Broadcast { nodes } => nodes.contains(&node),
            TableInfoKind::Single { node: n } => *n == node,
            TableInfoKind::Sharded(_) => true,
        },
    }
}

fn check_available(ctx: &Ctx<'_>, node: usize, sql: &str) -> Result<(), RouteError> {
    for r in 0..ctx.a.refs.len() {
        if ctx.sharded(r).is_none() && !available(ctx, r, node) {
            let what = match ctx.a.refs[r].table {
                RefTable::Rule(i) => match &ctx.router.tables[i].kind {
                    TableInfoKind::Broadcast { .. } => "a broadcast table without a copy there",
                    _ => "a single-node table on another node",
                },
                _ => "a table without a sharding rule, which lives on another node",
            };
            return err(format!(
                "this statement must run on node {}, but `{}` is {what}: {}",
                ctx.router.node_name(node),
                ctx.name(r),
                quote_sql(sql)
            ));
        }
    }
    Ok(())
}
