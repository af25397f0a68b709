//! The period column of composite tables (`user_id` hash × month of
//! `created_at`): which reference a column names, and the [`Cond::Period`]
//! of a comparison, `BETWEEN` or `IN` list on it, so the planner prunes
//! date ranges down to the exact physical tables.
//!
//! Owns: those predicates. Must not handle the sharding key itself (see
//! `conditions`) or plan anything.

use super::*;

impl<'a> Analyzer<'a> {
    /// The period column and its type of a reference to a composite table.
    pub(super) fn period_of(&self, r: RefId) -> Option<(&'a str, KeyType)> {
        match self.refs[r].table {
            RefTable::Rule(i) => self.router.tables[i]
                .sharded()
                .and_then(|s| s.root.composite())
                .map(|c| (c.period.key.as_str(), c.period.key_type)),
            _ => None,
        }
    }

    /// Each expression converted to the period column's type, under a
    /// composite rule (empty otherwise).
    pub(super) fn period_values<'e>(
        &self,
        r: RefId,
        exprs: impl Iterator<Item = &'e Expr>,
    ) -> Vec<Val> {
        if !self.is_composite(r) {
            return Vec::new();
        }
        exprs.map(|e| self.period_value(r, e)).collect()
    }

    /// True if `r` is a composite table: its rows of one key are spread
    /// over the key's periods, so key equalities do not co-locate it.
    pub(super) fn is_composite(&self, r: RefId) -> bool {
        self.period_of(r).is_some()
    }

    /// True if `expr` names a sharding key whose rows with one value are all
    /// in one physical table (not a composite table's key: its rows of one
    /// key are spread over the key's periods): groups on it are whole on
    /// each shard.
    pub(super) fn is_local_key(&self, scope: ScopeId, expr: &Expr) -> bool {
        self.resolve_key(scope, expr)
            .is_some_and(|r| !self.is_composite(r))
    }

    /// The reference whose period column `expr` names, seen from `scope`.
    fn resolve_period(&self, scope: ScopeId, expr: &Expr) -> Option<RefId> {
        let names = |r: RefId, col: &str| {
            self.period_of(r)
                .is_some_and(|(k, _)| k.eq_ignore_ascii_case(col))
        };
        match expr {
            Expr::Nested(inner) => self.resolve_period(scope, inner),
            Expr::Identifier(col) => self.scopes[scope]
                .refs
                .iter()
                .copied()
                .find(|&r| names(r, &col.value)),
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                let col = &parts[parts.len() - 1].value;
                let qualifier = &parts[parts.len() - 2].value;
                let mut current = Some(scope);
                while let Some(s) = current {
                    let scope = &self.scopes[s];
                    if let Some((_, node)) = scope.names.iter().find(|(n, _)| n == qualifier) {
                        return match node {
                            Node::Ref(r) if names(*r, col) => Some(*r),
                            _ => None,
                        };
                    }
                    current = scope.parent;
                }
                None
            }
            _ => None,
        }
    }

    /// A value compared with the period column of `r`.
    pub(super) fn period_value(&self, r: RefId, expr: &Expr) -> Val {
        match self.period_of(r) {
            Some((_, key_type)) => self.typed_value(key_type, expr),
            None => Val::Expr,
        }
    }

    /// The formula of a predicate on a composite table's period column;
    /// [`Cond::All`] for anything else.
    pub(super) fn period_cond(&self, scope: ScopeId, expr: &Expr) -> Cond {
        match expr {
            Expr::BinaryOp { left, op, right } => {
                let (r, other, flipped) = match (
                    self.resolve_period(scope, left),
                    self.resolve_period(scope, right),
                ) {
                    (Some(r), _) => (r, right, false),
                    (None, Some(r)) => (r, left, true),
                    (None, None) => return Cond::All,
                };
                let v = self.period_value(r, other);
                if matches!(v, Val::Expr) {
                    return Cond::All;
                }
                use BinaryOperator as B;
                let (low, high) = match (op, flipped) {
                    (B::Eq | B::Spaceship, _) => (Bound::Included(v.clone()), Bound::Included(v)),
                    (B::Lt, false) | (B::Gt, true) => (Bound::Unbounded, Bound::Excluded(v)),
                    (B::LtEq, false) | (B::GtEq, true) => (Bound::Unbounded, Bound::Included(v)),
                    (B::Gt, false) | (B::Lt, true) => (Bound::Excluded(v), Bound::Unbounded),
                    (B::GtEq, false) | (B::LtEq, true) => (Bound::Included(v), Bound::Unbounded),
                    _ => return Cond::All,
                };
                Cond::Period(r, low, high)
            }
            Expr::Between {
                expr,
                negated: false,
                low,
                high,
            } => match self.resolve_period(scope, expr) {
                Some(r) => Cond::Period(
                    r,
                    Bound::Included(self.period_value(r, low)),
                    Bound::Included(self.period_value(r, high)),
                ),
                None => Cond::All,
            },
            Expr::In {
                expr,
                target: ast::InTarget::List(items),
                negated: false,
                ..
            } => match self.resolve_period(scope, expr) {
                Some(r) => Cond::Or(
                    items
                        .iter()
                        .map(|item| {
                            let v = self.period_value(r, item);
                            Cond::Period(r, Bound::Included(v.clone()), Bound::Included(v))
                        })
                        .collect(),
                ),
                None => Cond::All,
            },
            _ => Cond::All,
        }
    }
}
