//! WHERE and ON formulas of a scope: which sharding key an expression
//! names, the value it is compared with, the [`Cond`] of a predicate, key
//! equalities between references (edges) and `key IN (…)` lists to split.
//!
//! Owns: turning predicates into key conditions. Must not walk FROM
//! clauses or statements (see `scopes`, `statement`).

use super::*;

impl<'a> Analyzer<'a> {
    /// Whether `expr` is a bare column of a sharded table of `scope` that
    /// the router knows (from the cached kinds) to be ENUM or SET.
    pub(super) fn is_enum_column(&self, scope: ScopeId, expr: &Expr) -> bool {
        self.column_of_kind(scope, expr, &|k| &k.enums)
    }

    /// Whether `expr` is a bare column of a sharded table of `scope` that
    /// the router knows to be an integer, DECIMAL or temporal column.
    pub(super) fn is_plain_column(&self, scope: ScopeId, expr: &Expr) -> bool {
        self.column_of_kind(scope, expr, &|k| &k.plain)
    }

    fn column_of_kind(
        &self,
        scope: ScopeId,
        expr: &Expr,
        kind: &dyn Fn(&super::super::TableKinds) -> &Vec<String>,
    ) -> bool {
        let enum_in = |r: RefId, col: &str| {
            let RefTable::Rule(t) = self.refs[r].table else {
                return false;
            };
            let Some(schema) = self.refs[r].schema.as_deref().or(self.schema) else {
                return false;
            };
            self.router
                .table_kinds(schema, &self.router.tables[t].name)
                .is_some_and(|k| kind(&k).iter().any(|c| c.eq_ignore_ascii_case(col)))
        };
        match expr {
            Expr::Nested(inner) => self.column_of_kind(scope, inner, kind),
            Expr::Identifier(col) => self.scopes[scope]
                .refs
                .iter()
                .any(|&r| enum_in(r, &col.value)),
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                let col = &parts[parts.len() - 1].value;
                let qualifier = &parts[parts.len() - 2].value;
                let scope = &self.scopes[scope];
                match scope.names.iter().find(|(n, _)| n == qualifier) {
                    Some((_, Node::Ref(r))) => enum_in(*r, col),
                    _ => false,
                }
            }
            _ => false,
        }
    }

    /// The reference whose sharding key `expr` names, seen from `scope`.
    pub(super) fn resolve_key(&self, scope: ScopeId, expr: &Expr) -> Option<RefId> {
        match expr {
            Expr::Nested(inner) => self.resolve_key(scope, inner),
            Expr::Identifier(col) => {
                let s = &self.scopes[scope];
                for &r in &s.refs {
                    if self
                        .key_of(r)
                        .is_some_and(|k| k.eq_ignore_ascii_case(&col.value))
                    {
                        return Some(r);
                    }
                }
                for &d in &s.derived {
                    if let Some((_, r)) = self.scopes[d]
                        .exports
                        .iter()
                        .find(|(name, _)| name.eq_ignore_ascii_case(&col.value))
                    {
                        return Some(*r);
                    }
                }
                None
            }
            Expr::CompoundIdentifier(parts) if parts.len() >= 2 => {
                let col = &parts[parts.len() - 1].value;
                let qualifier = &parts[parts.len() - 2].value;
                let mut current = Some(scope);
                while let Some(s) = current {
                    let scope = &self.scopes[s];
                    if let Some((_, node)) = scope.names.iter().find(|(n, _)| n == qualifier) {
                        return match node {
                            Node::Ref(r) => self
                                .key_of(*r)
                                .filter(|k| k.eq_ignore_ascii_case(col))
                                .map(|_| *r),
                            Node::Derived(d) => self.scopes[*d]
                                .exports
                                .iter()
                                .find(|(name, _)| name.eq_ignore_ascii_case(col))
                                .map(|(_, r)| *r),
                        };
                    }
                    current = scope.parent;
                }
                None
            }
            _ => None,
        }
    }

    /// A value compared with the key of `r`.
    pub(super) fn value(&self, r: RefId, expr: &Expr) -> Val {
        match self.refs[r].table {
            RefTable::Rule(i) => self.router.tables[i]
                .sharded()
                .map_or(Val::Expr, |s| self.typed_value(s.key_type, expr)),
            _ => Val::Expr,
        }
    }

    /// A value converted to `key_type` (a literal, `NULL` or a `?`).
    pub(super) fn typed_value(&self, key_type: KeyType, expr: &Expr) -> Val {
        let literal = |text: &str, kind| match ShardKey::from_literal(text, kind, key_type) {
            Ok(key) => Val::Key(key),
            Err(e) => Val::Bad(e.to_string()),
        };
        match expr {
            Expr::Nested(inner) => self.typed_value(key_type, inner),
            Expr::Value(v) => match &v.value {
                Value::Number(n, _) => literal(n, LiteralKind::Number),
                Value::SingleQuotedString(s) | Value::NationalStringLiteral(s) => {
                    literal(&unescape_string(s, '\''), LiteralKind::String)
                }
                Value::DoubleQuotedString(s) => {
                    literal(&unescape_string(s, '"'), LiteralKind::String)
                }
                Value::HexStringLiteral(h) => literal(h, LiteralKind::Hex),
                Value::Boolean(b) => {
                    literal(if *b { "TRUE" } else { "FALSE" }, LiteralKind::Boolean)
                }
                Value::Null => Val::Key(ShardKey::Null),
                Value::Placeholder(p) if p == "?" => match self.lines.offset(v.span.start) {
                    Some(offset) => match self.placeholders.binary_search(&offset) {
                        Ok(i) => Val::Param(i),
                        Err(_) => Val::Expr,
                    },
                    None => Val::Expr,
                },
                _ => Val::Expr,
            },
            Expr::UnaryOp {
                op: UnaryOperator::Minus,
                expr,
            } => match expr.as_ref() {
                Expr::Value(v) => match &v.value {
                    Value::Number(n, _) => literal(&format!("-{n}"), LiteralKind::Number),
                    _ => Val::Expr,
                },
                _ => Val::Expr,
            },
            Expr::UnaryOp {
                op: UnaryOperator::Plus,
                expr,
            } => self.typed_value(key_type, expr),
            Expr::TypedString(t) => match &t.value.value {
                Value::SingleQuotedString(s) => {
                    literal(&unescape_string(s, '\''), LiteralKind::String)
                }
                _ => Val::Expr,
            },
            _ => Val::Expr,
        }
    }

    // ----- conditions -----

    /// The key formula of `expr` evaluated in `scope`. `positive`: not
    /// under NOT (IN lists found there are split per shard).
    pub(super) fn cond(&mut self, scope: ScopeId, expr: &Expr, positive: bool) -> Cond {
        let whole = expr;
        match expr {
            Expr::Nested(inner) => self.cond(scope, inner, positive),
            Expr::BinaryOp {
                left,
                op: BinaryOperator::And,
                right,
            } => Cond::And(vec![
                self.cond(scope, left, positive),
                self.cond(scope, right, positive),
            ]),
            Expr::BinaryOp {
                left,
                op: BinaryOperator::Or,
                right,
            } => Cond::Or(vec![
                self.cond(scope, left, positive),
                self.cond(scope, right, positive),
            ]),
            Expr::BinaryOp { left, op, right } => {
                let (r, other, flipped) = match (
                    self.resolve_key(scope, left),
                    self.resolve_key(scope, right),
                ) {
                    (Some(r), _) => (r, right, false),
                    (None, Some(r)) => (r, left, true),
                    (None, None) => return self.period_cond(scope, expr),
                };
                let v = self.value(r, other);
                if matches!(v, Val::Expr) {
                    return Cond::All;
                }
                use BinaryOperator as B;
                let op = match (op, flipped) {
                    (B::Eq | B::Spaceship, _) => return Cond::Eq(r, v),
                    (B::Lt, false) | (B::Gt, true) => B::Lt,
                    (B::LtEq, false) | (B::GtEq, true) => B::LtEq,
                    (B::Gt, false) | (B::Lt, true) => B::Gt,
                    (B::GtEq, false) | (B::LtEq, true) => B::GtEq,
                    _ => return Cond::All,
                };
                match op {
                    B::Lt => Cond::Range(r, Bound::Unbounded, Bound::Excluded(v)),
                    B::LtEq => Cond::Range(r, Bound::Unbounded, Bound::Included(v)),
                    B::Gt => Cond::Range(r, Bound::Excluded(v), Bound::Unbounded),
                    _ => Cond::Range(r, Bound::Included(v), Bound::Unbounded),
                }
            }
            Expr::Between {
                expr,
                negated: false,
                low,
                high,
            } => match self.resolve_key(scope, expr) {
                Some(r) => Cond::Range(
                    r,
                    Bound::Included(self.value(r, low)),
                    Bound::Included(self.value(r, high)),
                ),
                None => self.period_cond(scope, whole),
            },
            Expr::In {
                expr,
                target: ast::InTarget::List(items),
                negated: false,
                ..
            } => {
                let Some(r) = self.resolve_key(scope, expr) else {
                    return self.period_cond(scope, whole);
                };
                let vals: Vec<Val> = items.iter().map(|i| self.value(r, i)).collect();
                if positive {
                    self.register_in_list(r, expr, &vals);
                }
                Cond::In(r, vals)
            }
            _ => Cond::All,
        }
    }

    /// Records the item positions of `key IN (…)` for per-shard splitting.
    pub(super) fn register_in_list(&mut self, r: RefId, key: &Expr, vals: &[Val]) {
        let last = match key {
            Expr::Identifier(id) => id,
            Expr::CompoundIdentifier(parts) => match parts.last() {
                Some(p) => p,
                None => return,
            },
            _ => return,
        };
        let Some(range) = self.ident_range(last) else {
            return;
        };
        let i = self.toks.index_at(range.end);
        if !self.toks.is_kw(i, "IN") || !self.toks.is_punct(i + 1, "(") {
            return;
        }
        let (items, stop) = self.toks.split_list(i + 2, |_, _| false);
        if !self.toks.is_punct(stop, ")") || items.len() != vals.len() {
            return;
        }
        let ranges: Option<Vec<Range<usize>>> =
            items.iter().map(|t| self.toks.byte_range(t)).collect();
        let Some(ranges) = ranges else { return };
        let (Some(first), Some(last)) = (ranges.first(), ranges.last()) else {
            return;
        };
        self.in_lists.push(InList {
            r,
            range: first.start..last.end,
            items: ranges.iter().cloned().zip(vals.iter().cloned()).collect(),
        });
    }

    /// Subqueries, edges and pins of a predicate of `scope`.
    pub(super) fn predicate(&mut self, scope: ScopeId, expr: &Expr, place: Place) {
        self.subqueries_in(scope, expr);
        for c in conjuncts(expr) {
            match c {
                Expr::BinaryOp {
                    left,
                    op: BinaryOperator::Eq | BinaryOperator::Spaceship,
                    right,
                } => {
                    if let (Some(a), Some(b)) = (
                        self.resolve_key(scope, left),
                        self.resolve_key(scope, right),
                    ) {
                        self.add_edge(scope, a, b);
                    }
                }
                Expr::In {
                    expr,
                    target: ast::InTarget::Subquery(q),
                    negated: false,
                    ..
                } => {
                    let inner = self
                        .subqueries
                        .get(&(q.as_ref() as *const Query as usize))
                        .copied()
                        .filter(|&s| self.scopes[s].nonlocal.is_none());
                    if let (Some(a), Some(inner)) = (self.resolve_key(scope, expr), inner) {
                        if let [(_, b)] = self.scopes[inner].exports.as_slice() {
                            let b = *b;
                            self.add_edge(inner, a, b);
                        }
                    }
                }
                _ => {}
            }
        }
        if place == Place::OuterOn {
            return;
        }
        let cond = self.cond(scope, expr, true);
        match place {
            Place::Where => self.scopes[scope].where_pins.push(cond),
            _ => self.scopes[scope].on_pins.push(cond),
        }
    }

    pub(super) fn add_edge(&mut self, scope: ScopeId, a: RefId, b: RefId) {
        if a != b
            && self.layout_of(a).is_some()
            && self.layout_of(a) == self.layout_of(b)
            && !self.is_composite(a)
        {
            self.scopes[scope].edges.push((a, b));
        }
    }
}
