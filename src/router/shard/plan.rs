//! From an [`Analysis`] and the parameter values to a [`ShardPlan`]: which
//! slots each part of the statement needs, the targets, and the physical
//! SQL of each target (splicing).

use std::collections::{BTreeMap, HashMap};
use std::ops::{Bound, Range};

use crate::sharding::{ParamValue, PlacementError, ShardKey, SlotSet};

use super::analyze::{Analysis, NameTarget, RefTable, RowSource, StmtKind};
use super::cond::{KeyContext, RefId, Slots, Val};
use super::lex::ident;
use super::select::{Edit, LimitVal, Piece, SelectMerge};
use super::shape::ShapeLiteral;
use super::{
    err, quote_sql, MergeSpec, PlanKind, RouteError, ShardPlan, ShardRouter, ShardTarget,
    ShardedInfo, TableInfoKind,
};

/// Parameters and placement for evaluating key formulas.
struct Ctx<'a> {
    router: &'a ShardRouter,
    a: &'a Analysis,
    params: &'a [ParamValue<'a>],
    /// When planning a statement's shape: the literal behind each `?`.
    literals: &'a [ShapeLiteral],
    /// Physical tables without the logical alias (`users_0`, not `users_0
    /// AS users`): under LOCK TABLES the connection may only use the names
    /// it locked.
    unaliased: bool,
}

impl<'a> Ctx<'a> {
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
        let Some(info) = self.sharded(r) else {
            return Ok(None);
        };
        match v {
            Val::Key(k) => Ok(Some(k.clone())),
            Val::Bad(why) => Err(why.clone()),
            Val::Param(i) if !self.literals.is_empty() => match self.literals.get(*i) {
                Some(l) => ShardKey::from_literal(&l.value, l.kind, info.key_type)
                    .map(Some)
                    .map_err(|e| e.to_string()),
                None => Ok(None),
            },
            Val::Param(i) => match self.params.get(*i) {
                Some(p) => ShardKey::from_param(*p, info.key_type)
                    .map(Some)
                    .map_err(|e| e.to_string()),
                None => Ok(None),
            },
            Val::Expr => Ok(None),
        }
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
            let count = ctx.sharded(refs[0]).map(|s| s.slots.len()).unwrap_or(0);
            let all = slots == Slots::All;
            let mut list = slots.to_vec(count);
            if list.is_empty() && count > 0 {
                // No slot can match (contradictory or out-of-range keys):
                // one shard answers with no rows.
                list.push(0);
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
                tables: Vec::new(),
                params: (0..a.placeholders.len()).collect(),
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
    let any_sharded = (0..a.refs.len()).any(|r| ctx.sharded(r).is_some());
    let plan = match a.kind {
        StmtKind::Ddl => ddl(&ctx, sql)?,
        StmtKind::Describe => describe(&ctx, sql)?,
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
            unsharded(&ctx, sql)?
        }
        StmtKind::Insert => insert(&ctx, sql, schema)?,
        _ if !any_sharded => unsharded(&ctx, sql)?,
        _ => sharded(&ctx, sql)?,
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

// ----- statements without sharded tables -----

fn unsharded(ctx: &Ctx<'_>, sql: &str) -> Result<ShardPlan, RouteError> {
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
            tables: Vec::new(),
            params,
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

// ----- SELECT / UPDATE / DELETE on sharded tables -----

fn sharded(ctx: &Ctx<'_>, sql: &str) -> Result<ShardPlan, RouteError> {
    let a = ctx.a;
    let router = ctx.router;
    let mut global = UnionFind::new(a.refs.len());
    for &(x, y) in &a.edges {
        global.union(x, y);
    }
    let tops: Vec<&RowSource> = a.row_sources.iter().filter(|r| r.top).collect();
    let subs: Vec<&RowSource> = a.row_sources.iter().filter(|r| !r.top).collect();

    // Targets from the statement's own rows.
    let mut top_groups: Vec<Group> = Vec::new();
    let mut fixed_branch = false;
    for rs in &tops {
        let gs = groups(ctx, rs);
        if gs.len() > 1 {
            if tops.len() > 1 {
                return err(format!(
                    "a UNION branch joins sharded tables that are not joined on their sharding keys: {}",
                    quote_sql(sql)
                ));
            }
            fixed_branch = true;
        }
        top_groups.extend(gs);
    }
    if let Some(plan) = union_parts(ctx, sql, &tops, &subs)? {
        return Ok(plan);
    }
    let branch_without_shards = tops.len() > 1
        && tops
            .iter()
            .any(|rs| rs.refs.iter().all(|&r| ctx.sharded(r).is_none()));
    let mut unkeyed = false;
    let mut assignments: Vec<Assignment> = Vec::new();
    if fixed_branch {
        // A join of tables not tied by their keys: every side must be in
        // one slot, all on one node.
        let mut node = None;
        let mut slot = HashMap::new();
        for g in &top_groups {
            let names: Vec<&str> = g.refs.iter().map(|&r| ctx.name(r)).collect();
            let [s] = g.slots.as_slice() else {
                let others: Vec<&str> = top_groups
                    .iter()
                    .filter(|o| !std::ptr::eq(*o, g))
                    .flat_map(|o| o.refs.iter().map(|&r| ctx.name(r)))
                    .collect();
                return err(format!(
                    "this statement joins `{}` with `{}` without equating their sharding keys, so it \
                     would need rows from several shards at once; join on the sharding key or pin \
                     each table to one key value: {}",
                    names.join("`, `"),
                    others.join("`, `"),
                    quote_sql(sql)
                ));
            };
            let n = ctx.sharded(g.refs[0]).map(|i| i.slots[*s].0).unwrap_or(0);
            if node.is_some_and(|m| m != n) {
                return err(format!(
                    "this statement joins tables whose rows are on different nodes (`{}` is on node {}); \
                     such a join cannot be pushed down: {}",
                    names.join("`, `"),
                    router.node_name(n),
                    quote_sql(sql)
                ));
            }
            node = Some(n);
            for &r in &g.refs {
                slot.insert(r, *s);
            }
        }
        if let Some(node) = node {
            assignments.push(Assignment { node, slot });
        }
    } else if !top_groups.is_empty() {
        let layout = ctx.sharded(top_groups[0].refs[0]).map(|i| i.layout);
        if top_groups
            .iter()
            .any(|g| ctx.sharded(g.refs[0]).map(|i| i.layout) != layout)
        {
            return err(format!(
                "the branches of this UNION read sharded tables with different layouts: {}",
                quote_sql(sql)
            ));
        }
        let mut slots: Vec<usize> = top_groups
            .iter()
            .flat_map(|g| g.slots.iter().copied())
            .collect();
        slots.sort_unstable();
        slots.dedup();
        unkeyed = top_groups.iter().any(|g| g.all);
        let info = ctx
            .sharded(top_groups[0].refs[0])
            .ok_or_else(|| RouteError("internal: no layout".into()))?;
        for s in slots {
            let mut slot = HashMap::new();
            for g in &top_groups {
                for &r in &g.refs {
                    slot.insert(r, s);
                }
            }
            assignments.push(Assignment {
                node: info.slots[s].0,
                slot,
            });
        }
    }

    // Subqueries: tied to the outer rows by key equality, or in one slot.
    let top_refs: Vec<RefId> = top_groups
        .iter()
        .flat_map(|g| g.refs.iter().copied())
        .collect();
    let mut pinned: BTreeMap<usize, (Slots, Vec<RefId>)> = BTreeMap::new();
    for rs in &subs {
        for g in groups(ctx, rs) {
            let root = global.find(g.refs[0]);
            if let Some(&anchor) = top_refs.iter().find(|&&t| global.find(t) == root) {
                for a in &mut assignments {
                    if let Some(&s) = a.slot.get(&anchor) {
                        for &r in &g.refs {
                            a.slot.insert(r, s);
                        }
                    }
                }
                continue;
            }
            let slots = if g.all {
                Slots::All
            } else {
                Slots::Set(g.slots.iter().copied().collect())
            };
            let entry = pinned.entry(root).or_insert((Slots::All, Vec::new()));
            entry.0 = std::mem::replace(&mut entry.0, Slots::All).intersect(slots);
            entry.1.extend(g.refs);
        }
    }
    for (slots, refs) in pinned.values() {
        let names: Vec<&str> = refs.iter().map(|&r| ctx.name(r)).collect();
        let single = match slots {
            Slots::Set(set) if set.len() == 1 => set.iter().next().copied(),
            _ => None,
        };
        let Some(s) = single else {
            return err(format!(
                "a subquery reads `{}` without being tied to the outer query by the sharding key, so it \
                 would need rows from several shards; correlate it on the sharding key or pin it to \
                 one key value: {}",
                names.join("`, `"),
                quote_sql(sql)
            ));
        };
        let n = ctx.sharded(refs[0]).map(|i| i.slots[s].0).unwrap_or(0);
        if assignments.is_empty() {
            assignments.push(Assignment {
                node: n,
                slot: HashMap::new(),
            });
        }
        for a in &mut assignments {
            if a.node != n {
                return err(format!(
                    "a subquery needs `{}` in a shard on node {}, but the statement runs on node {}: {}",
                    names.join("`, `"),
                    router.node_name(n),
                    router.node_name(a.node),
                    quote_sql(sql)
                ));
            }
            for &r in refs {
                a.slot.insert(r, s);
            }
        }
    }
    if assignments.is_empty() {
        return err(format!("internal: no target for {}", quote_sql(sql)));
    }

    // Writes.
    if a.write && !a.explain && a.kind != StmtKind::Select {
        for &w in &a.written {
            if ctx.sharded(w).is_none() {
                return err(format!(
                    "this statement writes `{}`, which is not sharded, together with sharded tables; \
                     write them in separate statements: {}",
                    ctx.name(w),
                    quote_sql(sql)
                ));
            }
        }
        if assignments.len() > 1 && a.write_limit {
            return err(format!(
                "{} with LIMIT on several shards would change up to LIMIT rows on each; pin the \
                 sharding key in WHERE or drop the LIMIT: {}",
                a.verb,
                quote_sql(sql)
            ));
        }
        if unkeyed && assignments.len() > 1 && router.refuse_unkeyed_writes {
            return err(format!(
                "{} without the sharding key in WHERE would run on every shard, and \
                 [routing] refuse_unkeyed_writes is on: {}",
                a.verb,
                quote_sql(sql)
            ));
        }
    }

    // Merge recipe for a scattered SELECT.
    let scatter = assignments.len() > 1;
    if scatter && branch_without_shards {
        return err(format!(
            "a UNION branch without sharded tables would be answered once per shard ({} shards); \
             pin the sharding key or run the branches separately: {}",
            assignments.len(),
            quote_sql(sql)
        ));
    }
    if scatter {
        if let Some(why) = a.scatter_blockers.first() {
            return err(format!(
                "this statement needs rows from {} shards, and a derived table or CTE in it uses {why},                  which would be computed per shard; add the sharding key to its WHERE: {}",
                assignments.len(),
                quote_sql(sql)
            ));
        }
    }
    let mut merge = None;
    let mut merge_edits: Vec<Edit> = Vec::new();
    if scatter && a.kind == StmtKind::Select && !a.explain {
        match &a.select {
            Some(Ok(m)) => {
                let (spec, edits) = scatter_merge(ctx, m)?;
                merge = Some(spec);
                merge_edits = edits;
            }
            Some(Err(why)) => {
                return err(format!(
                    "this SELECT needs rows from {} shards and {why}; add the sharding key to WHERE: {}",
                    assignments.len(),
                    quote_sql(sql)
                ))
            }
            None => {}
        }
    }

    let mut targets = Vec::new();
    for asg in &assignments {
        check_available(ctx, asg.node, sql)?;
        let mut edits = merge_edits.clone();
        edits.extend(in_list_edits(ctx, asg)?);
        targets.push(target(ctx, sql, asg, &[], &edits)?);
    }
    let kind = if targets.len() > 1 {
        PlanKind::Scatter
    } else {
        PlanKind::Single
    };
    Ok(ShardPlan {
        targets,
        kind,
        merge,
        generated_id: None,
        write: a.write,
    })
}

/// The merge recipe of a scattered SELECT with its LIMIT values resolved,
/// and the edits every target's SQL gets (hidden columns, the LIMIT each
/// shard applies).
fn scatter_merge(ctx: &Ctx<'_>, m: &SelectMerge) -> Result<(MergeSpec, Vec<Edit>), RouteError> {
    let value = |v: LimitVal| -> Result<u64, RouteError> {
        match v {
            LimitVal::Lit(n) => Ok(n),
            LimitVal::Param(i) if !ctx.literals.is_empty() => ctx
                .literals
                .get(i)
                .and_then(|l| l.value.parse().ok())
                .ok_or_else(|| RouteError("LIMIT value is not a number".into())),
            LimitVal::Param(i) => match ctx.params.get(i) {
                Some(ParamValue::Int(n)) if *n >= 0 => Ok(*n as u64),
                Some(ParamValue::UInt(n)) => Ok(*n),
                Some(ParamValue::Bytes(b)) => std::str::from_utf8(b)
                    .ok()
                    .and_then(|t| t.trim().parse().ok())
                    .ok_or_else(|| RouteError("LIMIT parameter is not a number".into())),
                _ => err("LIMIT parameter has no integer value"),
            },
        }
    };
    let mut spec = m.spec.clone();
    let mut edits = m.edits.clone();
    if let Some(l) = &m.limit {
        let limit = value(l.limit)?;
        let offset = l.offset.map(value).transpose()?.unwrap_or(0);
        spec.limit = Some(limit);
        spec.offset = offset;
        let text = if m.push_limit {
            format!(" LIMIT {}", limit.saturating_add(offset))
        } else {
            String::new()
        };
        edits.push(Edit {
            range: l.range.clone(),
            pieces: vec![Piece::Text(text)],
        });
    }
    Ok((spec, edits))
}

// ----- UNION [ALL] whose branches need different targets -----

/// One statement of a per-branch UNION plan: a node, the slot of every
/// sharded reference there, which branches answer in it, and which
/// layouts (indices into the plan's list) it already serves.
struct Part {
    asg: Assignment,
    active: Vec<bool>,
    layouts: Vec<usize>,
}

/// A flat `UNION [ALL]` whose branches cannot share one set of targets (a
/// branch without sharded tables next to a scattered one, or sharded
/// tables of different layouts): each branch is planned on its own — a
/// sharded branch on the slots its WHERE allows, a branch without sharded
/// tables once — and every target gets the whole union with the branches
/// that do not answer there neutralised as `(SELECT … LIMIT 0)`. Every
/// target thus returns the column definitions the server gives for the
/// whole union (names of the first branch, types widened over all
/// branches), each branch's rows come from exactly one target per slot,
/// and the scatter merge (concatenation, k-way merge on the union's ORDER
/// BY, LIMIT, DISTINCT across targets) gives the union's answer. Slots of
/// different layouts on one node share a target.
///
/// `Ok(None)` when the union can share its targets (the general path
/// plans it) or when it has a form the general path refuses with its own
/// explanation (subqueries on sharded tables not tied to their branch,
/// derived tables that aggregate).
fn union_parts(
    ctx: &Ctx<'_>,
    sql: &str,
    tops: &[&RowSource],
    subs: &[&RowSource],
) -> Result<Option<ShardPlan>, RouteError> {
    let a = ctx.a;
    if a.kind != StmtKind::Select || a.explain || a.write || tops.len() < 2 {
        return Ok(None);
    }
    // Is this a union the general path cannot plan? Branches with sharded
    // tables of several layouts, or a branch without sharded tables next
    // to sharded ones on several slots.
    let mut layouts: Vec<usize> = Vec::new();
    let mut all_slots: Vec<usize> = Vec::new();
    let mut unsharded_branch = false;
    for rs in tops {
        let gs = groups(ctx, rs);
        unsharded_branch |= gs.is_empty();
        for g in gs {
            if let Some(info) = ctx.sharded(g.refs[0]) {
                if !layouts.contains(&info.layout) {
                    layouts.push(info.layout);
                }
            }
            all_slots.extend(g.slots);
        }
    }
    all_slots.sort_unstable();
    all_slots.dedup();
    let needed = layouts.len() > 1 || (unsharded_branch && all_slots.len() > 1);
    if !needed || !a.scatter_blockers.is_empty() {
        return Ok(None);
    }
    let m = match &a.select {
        Some(Ok(m)) if m.branches.len() >= 2 => m,
        Some(Ok(_)) => {
            return err(format!(
                "the branches of this UNION need different shards, which is supported for a flat \
                 UNION of plain SELECTs only (no parenthesised or nested branches, no WITH); run \
                 the branches separately: {}",
                quote_sql(sql)
            ))
        }
        Some(Err(why)) => {
            return err(format!(
                "the branches of this UNION need different shards and {why}; pin the sharding key \
                 or run the branches separately: {}",
                quote_sql(sql)
            ))
        }
        None => return Ok(None),
    };
    let branch_of = |r: RefId| {
        let at = a.refs[r].name_span.start;
        m.branches.iter().position(|b| b.contains(&at))
    };
    // The sharded group (at most one) of each branch.
    let mut branch_group: Vec<Option<Group>> = (0..m.branches.len()).map(|_| None).collect();
    for rs in tops {
        let Some(b) = rs.refs.first().and_then(|&r| branch_of(r)) else {
            if rs.refs.is_empty() {
                continue;
            }
            return Ok(None);
        };
        for g in groups(ctx, rs) {
            if branch_group[b].is_some() {
                return err(format!(
                    "a UNION branch joins sharded tables that are not joined on their sharding keys: {}",
                    quote_sql(sql)
                ));
            }
            branch_group[b] = Some(g);
        }
    }
    // Subqueries on sharded tables must be tied by the key to their
    // branch's tables (they then take the same slot).
    let mut global = UnionFind::new(a.refs.len());
    for &(x, y) in &a.edges {
        global.union(x, y);
    }
    let mut tied: Vec<(usize, RefId, Vec<RefId>)> = Vec::new();
    for rs in subs {
        for g in groups(ctx, rs) {
            let root = global.find(g.refs[0]);
            let anchor = branch_of(g.refs[0]).and_then(|b| {
                let top = branch_group[b].as_ref()?;
                let anchor = top.refs.iter().copied().find(|&t| global.find(t) == root)?;
                Some((b, anchor))
            });
            let Some((b, anchor)) = anchor else {
                return Ok(None);
            };
            tied.push((b, anchor, g.refs));
        }
    }
    let layout_of = |g: &Group| ctx.sharded(g.refs[0]).map(|i| i.layout);

    // Sharded branches: one part per slot of their layout; a slot of
    // another layout on a node already used joins that part.
    let mut parts: Vec<Part> = Vec::new();
    for (li, layout) in layouts.iter().enumerate() {
        let members: Vec<usize> = (0..branch_group.len())
            .filter(|&b| {
                branch_group[b]
                    .as_ref()
                    .is_some_and(|g| layout_of(g) == Some(*layout))
            })
            .collect();
        let Some(info) = members
            .first()
            .and_then(|&b| branch_group[b].as_ref())
            .and_then(|g| ctx.sharded(g.refs[0]))
        else {
            return err(format!("internal: no layout for {}", quote_sql(sql)));
        };
        let mut slots: Vec<usize> = members
            .iter()
            .filter_map(|&b| branch_group[b].as_ref())
            .flat_map(|g| g.slots.iter().copied())
            .collect();
        slots.sort_unstable();
        slots.dedup();
        for s in slots {
            let Some(&(node, _)) = info.slots.get(s) else {
                return err(format!("internal: no slot {s} for {}", quote_sql(sql)));
            };
            let at = match parts
                .iter()
                .position(|p| p.asg.node == node && !p.layouts.contains(&li))
            {
                Some(i) => i,
                None => {
                    parts.push(Part {
                        asg: Assignment {
                            node,
                            slot: HashMap::new(),
                        },
                        active: vec![false; m.branches.len()],
                        layouts: Vec::new(),
                    });
                    parts.len() - 1
                }
            };
            let part = &mut parts[at];
            part.layouts.push(li);
            for &b in &members {
                let Some(g) = &branch_group[b] else {
                    continue;
                };
                if !g.slots.contains(&s) {
                    continue;
                }
                part.active[b] = true;
                for &r in &g.refs {
                    part.asg.slot.insert(r, s);
                }
                for (tb, anchor, refs) in &tied {
                    if *tb == b {
                        if let Some(&slot) = part.asg.slot.get(anchor) {
                            for &r in refs {
                                part.asg.slot.insert(r, slot);
                            }
                        }
                    }
                }
            }
        }
    }
    // Branches without sharded tables answer once, in the first part.
    if let Some(first) = parts.first_mut() {
        for (b, g) in branch_group.iter().enumerate() {
            if g.is_none() {
                first.active[b] = true;
            }
        }
    }
    // Sharded tables of the neutralised branches still have to name a
    // physical table on the part's node: any of theirs there.
    for part in &mut parts {
        for r in 0..a.refs.len() {
            let Some(info) = ctx.sharded(r) else {
                continue;
            };
            if part.asg.slot.contains_key(&r) {
                continue;
            }
            let Some(s) = info.slots.iter().position(|(n, _)| *n == part.asg.node) else {
                return err(format!(
                    "the branches of this UNION run on different nodes, and `{}` has no shard on node {}, \
                     where another branch runs; run the branches separately: {}",
                    ctx.name(r),
                    ctx.router.node_name(part.asg.node),
                    quote_sql(sql)
                ));
            };
            part.asg.slot.insert(r, s);
        }
    }
    let (spec, merge_edits) = scatter_merge(ctx, m)?;
    let mut targets = Vec::with_capacity(parts.len());
    for part in &parts {
        check_available(ctx, part.asg.node, sql)?;
        let mut edits = merge_edits.clone();
        for (b, range) in m.branches.iter().enumerate() {
            if !part.active[b] {
                edits.push(Edit {
                    range: range.start..range.start,
                    pieces: vec![Piece::Text("(".to_owned())],
                });
                edits.push(Edit {
                    range: range.end..range.end,
                    pieces: vec![Piece::Text(" LIMIT 0)".to_owned())],
                });
            }
        }
        edits.extend(in_list_edits(ctx, &part.asg)?);
        targets.push(target(ctx, sql, &part.asg, &[], &edits)?);
    }
    Ok(Some(ShardPlan {
        kind: if targets.len() > 1 {
            PlanKind::Scatter
        } else {
            PlanKind::Single
        },
        targets,
        merge: Some(spec),
        generated_id: None,
        write: false,
    }))
}

/// `key IN (…)` lists reduced to the values of each target's slot.
fn in_list_edits(ctx: &Ctx<'_>, asg: &Assignment) -> Result<Vec<Edit>, RouteError> {
    let mut edits = Vec::new();
    for list in &ctx.a.in_lists {
        let Some(&slot) = asg.slot.get(&list.r) else {
            continue;
        };
        let mut kept = Vec::new();
        for (range, val) in &list.items {
            let keep = match ctx.resolve(list.r, val) {
                Ok(Some(key)) => match ctx.slot_of(list.r, &key) {
                    Ok(Some(s)) => s == slot,
                    Ok(None) => false,
                    Err(_) => true,
                },
                _ => true,
            };
            if keep {
                kept.push(range.clone());
            }
        }
        if kept.len() == list.items.len() {
            continue;
        }
        let mut pieces = Vec::new();
        for (i, r) in kept.iter().enumerate() {
            if i > 0 {
                pieces.push(Piece::Text(", ".to_owned()));
            }
            pieces.push(Piece::Src(r.clone()));
        }
        if pieces.is_empty() {
            pieces.push(Piece::Text("NULL".to_owned()));
        }
        edits.push(Edit {
            range: list.range.clone(),
            pieces,
        });
    }
    Ok(edits)
}

/// The physical name of a sharded reference in a target.
fn physical<'a>(ctx: &Ctx<'a>, r: RefId, asg: &Assignment) -> Option<(usize, &'a str)> {
    let info = ctx.sharded(r)?;
    let slot = *asg.slot.get(&r)?;
    info.slots.get(slot).map(|(n, name)| (*n, name.as_str()))
}

/// One target: renames of every sharded reference and qualifier, plus
/// `extra` inner splices and `edits`.
fn target(
    ctx: &Ctx<'_>,
    sql: &str,
    asg: &Assignment,
    extra: &[(Range<usize>, String)],
    edits: &[Edit],
) -> Result<ShardTarget, RouteError> {
    let a = ctx.a;
    let mut inner: Vec<(Range<usize>, String)> = extra.to_vec();
    let mut tables: Vec<String> = Vec::new();
    let mut order: Vec<(usize, String)> = Vec::new();
    for r in 0..a.refs.len() {
        if ctx.sharded(r).is_none() {
            continue;
        }
        let Some((node, name)) = physical(ctx, r, asg) else {
            return err(format!(
                "internal: no shard chosen for `{}` in {}",
                ctx.name(r),
                quote_sql(sql)
            ));
        };
        if node != asg.node {
            return err(format!(
                "`{}` would be read from node {} while the statement runs on node {}: {}",
                ctx.name(r),
                ctx.router.node_name(node),
                ctx.router.node_name(asg.node),
                quote_sql(sql)
            ));
        }
        let info = &a.refs[r];
        // In a SELECT, an unaliased table keeps its logical name as an
        // alias (`users_0 AS users`), so qualifiers stay as written and
        // result column names (`MAX(users.score)`) are what one server
        // holding `users` would return.
        let replacement = if keep_logical_alias(ctx, r) {
            format!(
                "{} AS {}",
                ident(name, info.quoted),
                ident(&info.name, true)
            )
        } else {
            ident(name, info.quoted)
        };
        inner.push((info.name_span.clone(), replacement));
        order.push((info.name_span.start, name.to_owned()));
    }
    for n in &a.names {
        let qualifies_aliased_logical = match &n.target {
            NameTarget::Ref(r) => keep_logical_alias(ctx, *r),
            NameTarget::Logical(_) => a.kind == StmtKind::Select && !ctx.unaliased,
        };
        if qualifies_aliased_logical {
            continue;
        }
        let name = match &n.target {
            NameTarget::Ref(r) => physical(ctx, *r, asg).map(|(_, p)| p.to_owned()),
            NameTarget::Logical(logical) => {
                let mut found: Option<String> = None;
                for r in 0..a.refs.len() {
                    if a.refs[r].alias.is_none() && a.refs[r].name == *logical {
                        if let Some((_, p)) = physical(ctx, r, asg) {
                            if found.as_deref().is_some_and(|f| f != p) {
                                return err(format!(
                                    "`{logical}.…` is ambiguous: `{logical}` appears more than once \
                                     without an alias; give each an alias: {}",
                                    quote_sql(sql)
                                ));
                            }
                            found = Some(p.to_owned());
                        }
                    }
                }
                found
            }
        };
        if let Some(name) = name {
            inner.push((n.range.clone(), ident(&name, n.quoted)));
        }
    }
    order.sort();
    for (_, t) in order {
        if !tables.contains(&t) {
            tables.push(t);
        }
    }
    let (sql, params) = render(sql, &inner, edits, &a.placeholders)?;
    Ok(ShardTarget {
        node: asg.node,
        sql,
        tables,
        params,
    })
}

/// True when reference `r` is an unaliased table of a SELECT, rewritten as
/// `physical AS logical`.
fn keep_logical_alias(ctx: &Ctx<'_>, r: usize) -> bool {
    let a = ctx.a;
    !ctx.unaliased
        && a.kind == StmtKind::Select
        && a.refs.get(r).is_some_and(|info| info.alias.is_none())
}

/// Applies `edits` (which may copy source ranges) and `inner` splices
/// (renames and insertions, applied wherever their range is copied) to
/// `sql`; returns the text and, for each placeholder in it, the original
/// placeholder index.
pub(crate) fn render(
    sql: &str,
    inner: &[(Range<usize>, String)],
    edits: &[Edit],
    placeholders: &[usize],
) -> Result<(String, Vec<usize>), RouteError> {
    let mut inner: Vec<&(Range<usize>, String)> = inner.iter().collect();
    inner.sort_by_key(|(r, _)| (r.start, r.end));
    let mut edits: Vec<&Edit> = edits.iter().collect();
    edits.sort_by_key(|e| (e.range.start, e.range.end));
    let internal = |what: &str| {
        RouteError(format!(
            "internal: {what} while rewriting {}",
            quote_sql(sql)
        ))
    };
    for w in edits.windows(2) {
        if w[0].range.end > w[1].range.start {
            return Err(internal("overlapping edits"));
        }
    }
    // `emit` runs once per copied range: one per row of a split INSERT,
    // while `inner` holds a splice per generated value. Scanning all of
    // `inner` for each range was quadratic in the rows; instead it visits
    // only the splices starting within the range (binary search), and
    // finds one straddling the range's start from the largest end among
    // the splices before it. Same checks, same order, same errors.
    // `max_end[k]`: the largest end of a non-empty splice among the first
    // `k` (0 when none).
    let mut max_end = Vec::with_capacity(inner.len() + 1);
    max_end.push(0usize);
    for (r, _) in &inner {
        let last = max_end.last().copied().unwrap_or(0);
        max_end.push(if r.start != r.end {
            last.max(r.end)
        } else {
            last
        });
    }
    let mut out = String::with_capacity(sql.len() + 32);
    let mut params = Vec::new();
    let emit = |range: Range<usize>,
                out: &mut String,
                params: &mut Vec<usize>|
     -> Result<(), RouteError> {
        // Splices starting before the range only matter when they reach
        // into it (those starting at or after `range.end` cannot).
        let before = inner.partition_point(|(r, _)| r.start < range.start.min(range.end));
        if max_end.get(before).is_some_and(|&end| end > range.start) {
            return Err(internal("a rename straddles an edit"));
        }
        let first = inner.partition_point(|(r, _)| r.start < range.start);
        // Those starting after `range.end` end after it too and cannot
        // straddle it: skipped without a look.
        let within = inner[first..]
            .iter()
            .take_while(|(r, _)| r.start <= range.end);
        let mut at = range.start;
        for (r, text) in within.map(|x| (&x.0, &x.1)) {
            let zero_width_at_end =
                r.start == r.end && r.start == range.end && range.end < sql.len();
            if r.start < range.start || r.end > range.end || zero_width_at_end {
                if r.start < range.end && r.end > range.start && r.start != r.end {
                    return Err(internal("a rename straddles an edit"));
                }
                continue;
            }
            if r.start < at {
                return Err(internal("overlapping renames"));
            }
            push_src(sql, at..r.start, placeholders, out, params)
                .ok_or_else(|| internal("bad range"))?;
            out.push_str(text);
            at = r.end;
        }
        push_src(sql, at..range.end, placeholders, out, params)
            .ok_or_else(|| internal("bad range"))?;
        Ok(())
    };
    let mut at = 0;
    for e in &edits {
        emit(at..e.range.start, &mut out, &mut params)?;
        for p in &e.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Src(r) => emit(r.clone(), &mut out, &mut params)?,
            }
        }
        at = e.range.end;
    }
    emit(at..sql.len(), &mut out, &mut params)?;
    Ok((out, params))
}

fn push_src(
    sql: &str,
    range: Range<usize>,
    placeholders: &[usize],
    out: &mut String,
    params: &mut Vec<usize>,
) -> Option<()> {
    out.push_str(sql.get(range.clone())?);
    let first = placeholders.partition_point(|&p| p < range.start);
    for (i, &p) in placeholders.iter().enumerate().skip(first) {
        if p >= range.end {
            break;
        }
        params.push(i);
    }
    Some(())
}

// ----- INSERT -----

/// `INSERT INTO t VALUES …` without a column list into a sharded table:
/// the values are in table column order, known from the column list the
/// session fetched and cached ([`ShardRouter::remember_columns`]). `None`
/// when the statement names its columns or the list is not known.
fn with_known_columns(
    ctx: &Ctx<'_>,
    info: &crate::router::shard::analyze::InsertInfo,
    schema: Option<&str>,
) -> Option<crate::router::shard::analyze::InsertInfo> {
    if !info.columns.is_empty() || info.set_form || info.from_select {
        return None;
    }
    let r = ctx.a.refs.get(info.target)?;
    let RefTable::Rule(i) = r.table else {
        return None;
    };
    let key = ctx.router.tables[i].sharded()?.key.to_ascii_lowercase();
    let schema = r.schema.as_deref().or(schema)?;
    let known = ctx
        .router
        .known_columns(schema, &ctx.router.tables[i].name)?;
    let columns: Vec<String> = known.iter().map(|c| c.to_ascii_lowercase()).collect();
    let mut out = info.clone();
    out.key_position = columns.iter().position(|c| *c == key);
    for g in &mut out.generated {
        g.position = columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(&g.column));
    }
    out.columns = columns;
    Some(out)
}

fn insert(ctx: &Ctx<'_>, sql: &str, schema: Option<&str>) -> Result<ShardPlan, RouteError> {
    let a = ctx.a;
    let Some(info) = &a.insert else {
        return unsharded(ctx, sql);
    };
    let positional = with_known_columns(ctx, info, schema);
    if let Some(p) = &positional {
        // What the server would answer (1136), before a row with too few
        // values is routed by the wrong column.
        if let Some(i) = p
            .rows
            .iter()
            .position(|r| r.values.len() != p.columns.len())
        {
            return err(format!(
                "Column count doesn't match value count at row {}",
                i + 1
            ));
        }
    }
    let info = positional.as_ref().unwrap_or(info);
    let t = info.target;
    let table_name = ctx.name(t);
    // Generated values, per row and column.
    let mut generated_id = None;
    // Splices outside the rows (the added column name), and those of each
    // row, kept apart so that a shard's statement is rendered with its own
    // rows' splices only (all of them for every shard made the rendering
    // quadratic in the rows). Within each list the order is the order of
    // the generated columns, which `render` keeps for splices at one spot.
    let mut inner: Vec<(Range<usize>, String)> = Vec::new();
    let mut row_inner: Vec<Vec<(Range<usize>, String)>> = vec![Vec::new(); info.rows.len()];
    let mut row_generated: Vec<HashMap<usize, u64>> = vec![HashMap::new(); info.rows.len()];
    {
        for (g, column) in info.generated.iter().enumerate() {
            if column.position.is_none() && !info.set_form && info.add_column_at.is_none() {
                // No column list: the values are positional and shardcat
                // cannot add one; the server applies its own default.
                continue;
            }
            if column.position.is_none() {
                if let Some(at) = info.add_column_at {
                    if !info.set_form {
                        inner.push((at..at, format!(", {}", ident(&column.column, false))));
                    }
                }
            }
            for (i, row) in info.rows.iter().enumerate() {
                let needs = match column.position {
                    None => true,
                    Some(p) => row.values.get(p).is_some_and(|v| v.2),
                };
                if !needs {
                    continue;
                }
                let id = ctx.router.ids.next_id();
                generated_id.get_or_insert(id);
                row_generated[i].insert(g, id);
                match column.position {
                    None if info.set_form => {
                        if let Some(at) = info.add_column_at {
                            row_inner[i].push((
                                at..at,
                                format!("{} = {id}, ", ident(&column.column, false)),
                            ));
                        }
                    }
                    None => row_inner[i].push((row.close..row.close, format!(", {id}"))),
                    Some(p) => match row.values.get(p).and_then(|v| v.0.clone()) {
                        Some(range) => row_inner[i].push((range, id.to_string())),
                        None => {
                            return err(format!(
                                "cannot locate the NULL of `{}` in row {} to fill it: {}",
                                column.column,
                                i + 1,
                                quote_sql(sql)
                            ))
                        }
                    },
                }
            }
        }
    }
    let Some(key_info) = ctx.sharded(t) else {
        // Broadcast, single-node or unlisted target: the same rows
        // everywhere it lives.
        let mut plan = unsharded(ctx, sql)?;
        inner.extend(row_inner.into_iter().flatten());
        for target in &mut plan.targets {
            let (text, params) = render(sql, &inner, &[], &a.placeholders)?;
            target.sql = text;
            target.params = params;
        }
        plan.generated_id = generated_id;
        return Ok(plan);
    };
    if info.from_select {
        return err(format!(
            "INSERT … SELECT into the sharded table `{table_name}` is not supported: the rows would \
             have to be split by `{}`; insert them with VALUES: {}",
            key_info.key,
            quote_sql(sql)
        ));
    }
    for r in 0..a.refs.len() {
        if r != t && ctx.sharded(r).is_some() {
            return err(format!(
                "an INSERT into `{table_name}` that reads the sharded table `{}` is not supported: {}",
                ctx.name(r),
                quote_sql(sql)
            ));
        }
    }
    if info.columns.is_empty() && !info.set_form {
        return err(format!(
            "INSERT into the sharded table `{table_name}` must name its columns, so shardcat can find \
             the sharding key `{}`: INSERT INTO {table_name} ({}, …) VALUES …: {}",
            key_info.key,
            key_info.key,
            quote_sql(sql)
        ));
    }
    let key_generated = info
        .generated
        .iter()
        .position(|g| g.column.eq_ignore_ascii_case(&key_info.key));
    let mut by_slot: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, row) in info.rows.iter().enumerate() {
        let key = match key_generated.and_then(|g| row_generated[i].get(&g)) {
            Some(&id) => ShardKey::from_u64(id),
            None => {
                let Some(p) = info.key_position else {
                    return err(format!(
                        "INSERT into the sharded table `{table_name}` must give the sharding key `{}` \
                         (or configure a [[sequence]] for it): {}",
                        key_info.key,
                        quote_sql(sql)
                    ));
                };
                let val = row.values.get(p).map(|v| v.1.clone()).unwrap_or(Val::Expr);
                match ctx.resolve(t, &val) {
                    Ok(Some(ShardKey::Null)) => {
                        return err(format!(
                            "row {}: the sharding key `{}` of `{table_name}` is NULL: {}",
                            i + 1,
                            key_info.key,
                            quote_sql(sql)
                        ))
                    }
                    Ok(Some(k)) => k,
                    Ok(None) => {
                        return err(format!(
                        "row {}: the sharding key `{}` of `{table_name}` is {}, which shardcat \
                             cannot evaluate; give a literal value: {}",
                        i + 1,
                        key_info.key,
                        if matches!(val, Val::Param(_)) {
                            "a parameter without a value"
                        } else {
                            "an expression"
                        },
                        quote_sql(sql)
                    ))
                    }
                    Err(why) => {
                        return err(format!(
                            "row {}: the sharding key `{}` of `{table_name}`: {why}: {}",
                            i + 1,
                            key_info.key,
                            quote_sql(sql)
                        ))
                    }
                }
            }
        };
        let slot = match key_info.root.slot_for_key(&key) {
            Ok(s) => s,
            Err(e) => {
                return err(format!(
                    "row {}: `{table_name}`: {e}: {}",
                    i + 1,
                    quote_sql(sql)
                ))
            }
        };
        by_slot.entry(slot).or_default().push(i);
    }
    let split = by_slot.len() > 1;
    let mut targets = Vec::new();
    for (slot, rows) in &by_slot {
        let node = key_info.slots[*slot].0;
        check_available(ctx, node, sql)?;
        let asg = Assignment {
            node,
            slot: HashMap::from([(t, *slot)]),
        };
        let mut edits = Vec::new();
        // This shard's splices: those outside the rows and its rows' own.
        let mut splices = inner.clone();
        for &i in rows {
            if let Some(own) = row_inner.get(i) {
                splices.extend(own.iter().cloned());
            }
        }
        if split {
            let Some(range) = &info.values_range else {
                return err(format!("internal: rows not located in {}", quote_sql(sql)));
            };
            let mut pieces = Vec::new();
            for (k, &i) in rows.iter().enumerate() {
                if k > 0 {
                    pieces.push(Piece::Text(", ".to_owned()));
                }
                pieces.push(Piece::Src(info.rows[i].range.clone()));
            }
            edits.push(Edit {
                range: range.clone(),
                pieces,
            });
        }
        targets.push(target(ctx, sql, &asg, &splices, &edits)?);
    }
    Ok(ShardPlan {
        kind: if targets.len() > 1 {
            PlanKind::Scatter
        } else {
            PlanKind::Single
        },
        targets,
        merge: None,
        generated_id,
        write: true,
    })
}

// ----- DDL and DESCRIBE -----

fn ddl(ctx: &Ctx<'_>, sql: &str) -> Result<ShardPlan, RouteError> {
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
        for (slot, (node, _)) in info.slots.iter().enumerate() {
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
                    tables: Vec::new(),
                    params: params.clone(),
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

fn describe(ctx: &Ctx<'_>, sql: &str) -> Result<ShardPlan, RouteError> {
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
    let asg = Assignment {
        node: info.slots[0].0,
        slot: sharded.iter().map(|&r| (r, 0)).collect(),
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
