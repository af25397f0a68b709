//! What a WHERE clause says about sharding keys, as a formula over key
//! predicates, and its evaluation to the set of slots that can hold
//! matching rows.
//!
//! The formula is always a *superset* of the truth: anything shardcat does
//! not understand (`NOT`, functions, a key compared with an expression, a
//! value that does not convert to the key type) is [`Cond::All`].

use std::cmp::Ordering;
use std::collections::BTreeSet;
use std::ops::Bound;

use crate::placement::ShardKey;

/// Index into `Analysis::refs`.
pub(crate) type RefId = usize;

/// A value compared with a key column.
#[derive(Debug, Clone)]
pub(crate) enum Val {
    /// A literal, converted to the key's type.
    Key(ShardKey),
    /// A literal that does not convert to the key's type (why).
    Bad(String),
    /// The n-th `?` placeholder (0-based).
    Param(usize),
    /// Anything else (a column, a function, a subquery).
    Expr,
}

/// A formula over key predicates; atoms name the table reference whose key
/// they constrain.
#[derive(Debug, Clone)]
pub(crate) enum Cond {
    /// No constraint known.
    All,
    /// `key = v`, `key <=> v`.
    Eq(RefId, Val),
    /// `key IN (v, ...)`.
    In(RefId, Vec<Val>),
    /// `key BETWEEN a AND b`, `key < v`, ...
    Range(RefId, Bound<Val>, Bound<Val>),
    /// A range (or equality: both bounds the same included value) of a
    /// composite table's period column (`created_at >= '2026-01-01'`);
    /// the values are converted to the period column's type.
    Period(RefId, Bound<Val>, Bound<Val>),
    And(Vec<Cond>),
    Or(Vec<Cond>),
}

/// Slots that may hold matching rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Slots {
    All,
    Set(BTreeSet<usize>),
}

impl Slots {
    pub fn one(slot: usize) -> Self {
        Slots::Set(BTreeSet::from([slot]))
    }

    pub fn none() -> Self {
        Slots::Set(BTreeSet::new())
    }

    pub fn intersect(self, other: Slots) -> Slots {
        match (self, other) {
            (Slots::All, x) | (x, Slots::All) => x,
            (Slots::Set(a), Slots::Set(b)) => Slots::Set(a.intersection(&b).copied().collect()),
        }
    }

    pub fn union(self, other: Slots) -> Slots {
        match (self, other) {
            (Slots::All, _) | (_, Slots::All) => Slots::All,
            (Slots::Set(mut a), Slots::Set(b)) => {
                a.extend(b);
                Slots::Set(a)
            }
        }
    }

    /// The explicit slots among `count`.
    pub fn to_vec(&self, count: usize) -> Vec<usize> {
        match self {
            Slots::All => (0..count).collect(),
            Slots::Set(set) => set.iter().copied().filter(|s| *s < count).collect(),
        }
    }
}

/// What evaluation needs from the plan: values of parameters and the
/// placement of keys of a given reference.
pub(crate) trait KeyContext {
    /// The key value of `val` for the key of `r` (parameters converted to
    /// the key type); `None` when unknown.
    fn key(&self, r: RefId, val: &Val) -> Option<ShardKey>;
    /// Slots of `r`'s layout holding `key`.
    fn slots_for_key(&self, r: RefId, key: &ShardKey) -> Slots;
    /// Slots of `r`'s layout holding keys between the bounds.
    fn slots_for_range(&self, r: RefId, low: Bound<&ShardKey>, high: Bound<&ShardKey>) -> Slots;
    /// The value of `val` for the period column of `r` (a composite table).
    fn period_key(&self, r: RefId, val: &Val) -> Option<ShardKey>;
    /// Slots of `r`'s layout holding period-column values between the bounds.
    fn slots_for_period(&self, r: RefId, low: Bound<&ShardKey>, high: Bound<&ShardKey>) -> Slots;
}

impl Cond {
    /// Slots that can hold rows satisfying the formula, considering only
    /// atoms on references for which `member` is true (others are
    /// unconstrained).
    pub fn eval(&self, ctx: &dyn KeyContext, member: &dyn Fn(RefId) -> bool) -> Slots {
        match self {
            Cond::All => Slots::All,
            Cond::Eq(r, v) if member(*r) => match ctx.key(*r, v) {
                Some(key) => ctx.slots_for_key(*r, &key),
                None => Slots::All,
            },
            Cond::In(r, vals) if member(*r) => {
                let mut out = Slots::none();
                for v in vals {
                    match ctx.key(*r, v) {
                        Some(key) => out = out.union(ctx.slots_for_key(*r, &key)),
                        None => return Slots::All,
                    }
                }
                out
            }
            Cond::Range(r, low, high) if member(*r) => {
                let low = resolve_bound(ctx, *r, low);
                let high = resolve_bound(ctx, *r, high);
                ctx.slots_for_range(*r, as_ref(&low), as_ref(&high))
            }
            Cond::Period(r, low, high) if member(*r) => {
                let resolve = |bound: &Bound<Val>| match bound {
                    Bound::Included(v) => ctx
                        .period_key(*r, v)
                        .map_or(Bound::Unbounded, Bound::Included),
                    Bound::Excluded(v) => ctx
                        .period_key(*r, v)
                        .map_or(Bound::Unbounded, Bound::Excluded),
                    Bound::Unbounded => Bound::Unbounded,
                };
                let (low, high) = (resolve(low), resolve(high));
                ctx.slots_for_period(*r, as_ref(&low), as_ref(&high))
            }
            Cond::Eq(..) | Cond::In(..) | Cond::Range(..) | Cond::Period(..) => Slots::All,
            Cond::Or(parts) => {
                let mut out = Slots::none();
                for part in parts {
                    out = out.union(part.eval(ctx, member));
                    if out == Slots::All {
                        break;
                    }
                }
                out
            }
            Cond::And(parts) => {
                let mut out = Slots::All;
                // Ranges on the same reference are tightened into one
                // range first: `id > 10 AND id < 20` enumerates 9 values
                // where each half alone says "every slot".
                let mut ranges: Vec<(RefId, Bound<ShardKey>, Bound<ShardKey>)> = Vec::new();
                for part in parts {
                    if let Cond::Range(r, low, high) = part {
                        if member(*r) {
                            let low = resolve_bound(ctx, *r, low);
                            let high = resolve_bound(ctx, *r, high);
                            match ranges.iter_mut().find(|(other, ..)| other == r) {
                                Some((_, l, h)) => {
                                    *l = tighter(l.clone(), low, true);
                                    *h = tighter(h.clone(), high, false);
                                }
                                None => ranges.push((*r, low, high)),
                            }
                        }
                    }
                    out = out.intersect(part.eval(ctx, member));
                }
                for (r, low, high) in &ranges {
                    out = out.intersect(ctx.slots_for_range(*r, as_ref(low), as_ref(high)));
                }
                out
            }
        }
    }
}

fn resolve_bound(ctx: &dyn KeyContext, r: RefId, bound: &Bound<Val>) -> Bound<ShardKey> {
    match bound {
        Bound::Included(v) => ctx.key(r, v).map_or(Bound::Unbounded, Bound::Included),
        Bound::Excluded(v) => ctx.key(r, v).map_or(Bound::Unbounded, Bound::Excluded),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn as_ref(bound: &Bound<ShardKey>) -> Bound<&ShardKey> {
    match bound {
        Bound::Included(k) => Bound::Included(k),
        Bound::Excluded(k) => Bound::Excluded(k),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Orders keys of the same kind (integers, dates, date-times); `None` when
/// they cannot be compared without the collation or across kinds.
pub(crate) fn compare_keys(a: &ShardKey, b: &ShardKey) -> Option<Ordering> {
    match (a, b) {
        (ShardKey::Date(x), ShardKey::Date(y)) => Some(x.cmp(y)),
        (ShardKey::DateTime(x), ShardKey::DateTime(y)) => Some(x.cmp(y)),
        _ => Some(a.as_i128()?.cmp(&b.as_i128()?)),
    }
}

/// The tighter of two lower (`lower`) or upper bounds; when they cannot be
/// compared the first is kept (a superset stays a superset).
fn tighter(a: Bound<ShardKey>, b: Bound<ShardKey>, lower: bool) -> Bound<ShardKey> {
    let key = |bound: &Bound<ShardKey>| match bound {
        Bound::Included(k) | Bound::Excluded(k) => Some(k.clone()),
        Bound::Unbounded => None,
    };
    let (Some(ka), Some(kb)) = (key(&a), key(&b)) else {
        return if matches!(a, Bound::Unbounded) { b } else { a };
    };
    match compare_keys(&ka, &kb) {
        None => a,
        Some(Ordering::Equal) => {
            if matches!(a, Bound::Excluded(_)) {
                a
            } else {
                b
            }
        }
        Some(order) => {
            let a_tighter = if lower {
                order == Ordering::Greater
            } else {
                order == Ordering::Less
            };
            if a_tighter {
                a
            } else {
                b
            }
        }
    }
}
