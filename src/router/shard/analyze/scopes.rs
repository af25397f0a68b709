//! Scopes and table references: queries, set operations, SELECTs, their
//! FROM clauses (joins, derived tables, CTEs), the columns a derived table
//! exports, qualifiers to rewrite, and the row sources scopes flatten into.
//!
//! Owns: the scope tree and row sources. Must not evaluate predicates
//! (see `conditions`) or handle statement kinds (see `statement`).

use super::*;

impl<'a> Analyzer<'a> {
    /// Analyzes the outermost subqueries of `node` as subquery scopes of
    /// `scope`.
    pub(super) fn subqueries_in<V: Visit>(&mut self, scope: ScopeId, node: &V) {
        let mut collector = SubqueryCollector {
            depth: 0,
            found: Vec::new(),
        };
        let _ = node.visit(&mut collector);
        for (address, query) in collector.found {
            let s = self.query(&query, Role::Sub, Some(scope));
            self.subqueries.insert(address, s);
        }
    }

    // ----- queries -----

    pub(super) fn query(&mut self, q: &Query, role: Role, parent: Option<ScopeId>) -> ScopeId {
        let cte_mark = self.ctes.len();
        if let Some(with) = &q.with {
            for cte in &with.cte_tables {
                let s = self.query(&cte.query, Role::Derived, parent);
                self.ctes.push((cte.alias.name.value.clone(), s));
                self.aliases.insert(cte.alias.name.value.clone());
            }
        }
        let body = self.set_expr(&q.body, role, parent);
        if let Some(order_by) = &q.order_by {
            self.subqueries_in(body, order_by);
        }
        if q.limit_clause.is_some() || q.fetch.is_some() {
            self.scopes[body].nonlocal = Some("LIMIT");
        }
        // CTE names stay visible to later references in the statement
        // (MySQL scopes them to this query; names are unique enough).
        let _ = cte_mark;
        body
    }

    pub(super) fn set_expr(&mut self, e: &SetExpr, role: Role, parent: Option<ScopeId>) -> ScopeId {
        match e {
            SetExpr::Select(s) => self.select(s, role, parent),
            SetExpr::Query(q) => self.query(q, role, parent),
            SetExpr::SetOperation { left, right, .. } => {
                if role == Role::Derived && !self.blockers.contains(&"UNION") {
                    // Its branches would each be pinned or tied separately;
                    // as rows of a derived table they cannot be split.
                    self.blockers.push("UNION");
                }
                let branch_role = if role == Role::Top {
                    Role::Top
                } else {
                    Role::Sub
                };
                let l = self.set_expr(left, branch_role, parent);
                let _ = self.set_expr(right, branch_role, parent);
                l
            }
            _ => {
                let s = self.new_scope(parent, role);
                self.subqueries_in(s, e);
                s
            }
        }
    }

    pub(super) fn select(&mut self, s: &Select, role: Role, parent: Option<ScopeId>) -> ScopeId {
        let id = self.new_scope(parent, role);
        for twj in &s.from {
            self.table_with_joins(id, twj);
        }
        if let Some(w) = &s.selection {
            self.predicate(id, w, Place::Where);
        }
        for item in &s.projection {
            self.subqueries_in(id, item);
            if let SelectItem::QualifiedWildcard(
                SelectItemQualifiedWildcardKind::ObjectName(name),
                _,
            ) = item
            {
                self.qualifier_use(name);
            }
        }
        if let GroupByExpr::Expressions(exprs, _) = &s.group_by {
            for e in exprs {
                self.subqueries_in(id, e);
            }
        }
        if let Some(h) = &s.having {
            self.subqueries_in(id, h);
        }
        self.compute_exports(id, s);
        let group_exprs: &[Expr] = match &s.group_by {
            GroupByExpr::Expressions(exprs, _) => exprs,
            GroupByExpr::All(_) => &[],
        };
        let key_grouped = group_exprs.iter().any(|e| self.is_local_key(id, e));
        let (aggregate, window) = select::find_aggregates(&s.projection);
        let having_aggregate = s
            .having
            .as_ref()
            .is_some_and(|h| select::find_aggregates(h).0);
        self.scopes[id].nonlocal = if window {
            Some("window functions")
        } else if (aggregate || having_aggregate || !group_exprs.is_empty()) && !key_grouped {
            Some("aggregates or GROUP BY not on the sharding key")
        } else if matches!(s.distinct, Some(ast::Distinct::Distinct)) {
            Some("DISTINCT")
        } else {
            None
        };
        id
    }

    /// Key columns a SELECT exposes to the scope reading it.
    pub(super) fn compute_exports(&mut self, id: ScopeId, s: &Select) {
        let mut exports = Vec::new();
        for item in &s.projection {
            match item {
                SelectItem::UnnamedExpr(e) => {
                    if let Some(r) = self.resolve_key(id, e) {
                        let name = match e {
                            Expr::Identifier(i) => i.value.clone(),
                            Expr::CompoundIdentifier(p) => {
                                p.last().map(|i| i.value.clone()).unwrap_or_default()
                            }
                            _ => continue,
                        };
                        exports.push((name, r));
                    }
                }
                SelectItem::ExprWithAlias { expr, alias } => {
                    if let Some(r) = self.resolve_key(id, expr) {
                        exports.push((alias.value.clone(), r));
                    }
                }
                SelectItem::Wildcard(_) => {
                    for &r in &self.scopes[id].refs {
                        if let Some(k) = self.key_of(r) {
                            exports.push((k.to_owned(), r));
                        }
                    }
                    for &d in &self.scopes[id].derived {
                        exports.extend(self.scopes[d].exports.iter().cloned());
                    }
                }
                SelectItem::QualifiedWildcard(
                    SelectItemQualifiedWildcardKind::ObjectName(name),
                    _,
                ) => {
                    let Some(q) = object_idents(name).last().map(|i| i.value.clone()) else {
                        continue;
                    };
                    match self.scopes[id]
                        .names
                        .iter()
                        .find(|(n, _)| *n == q)
                        .map(|(_, n)| *n)
                    {
                        Some(Node::Ref(r)) => {
                            if let Some(k) = self.key_of(r) {
                                exports.push((k.to_owned(), r));
                            }
                        }
                        Some(Node::Derived(d)) => {
                            exports.extend(self.scopes[d].exports.iter().cloned())
                        }
                        None => {}
                    }
                }
                _ => {}
            }
        }
        self.scopes[id].exports = exports;
    }

    pub(super) fn table_with_joins(&mut self, scope: ScopeId, twj: &TableWithJoins) {
        self.factor(scope, &twj.relation);
        for join in &twj.joins {
            let before = self.scopes[scope].refs.clone();
            self.factor(scope, &join.relation);
            let added: Vec<RefId> = self.scopes[scope].refs[before.len()..].to_vec();
            use JoinOperator as J;
            let (inner, constraint) = match &join.join_operator {
                J::Join(c) | J::Inner(c) | J::CrossJoin(c) | J::StraightJoin(c) => (true, Some(c)),
                J::Left(c) | J::LeftOuter(c) | J::Right(c) | J::RightOuter(c) | J::FullOuter(c) => {
                    (false, Some(c))
                }
                _ => (false, None),
            };
            if !inner {
                self.scopes[scope].outer_join = true;
                let (preserved, nullable): (Vec<RefId>, Vec<RefId>) = match &join.join_operator {
                    J::Left(_) | J::LeftOuter(_) => (before.clone(), added.clone()),
                    J::Right(_) | J::RightOuter(_) => (added.clone(), before.clone()),
                    _ => {
                        let all = [before.clone(), added.clone()].concat();
                        (all.clone(), all)
                    }
                };
                self.note_outer_copies(&preserved, &nullable);
            }
            match constraint {
                Some(JoinConstraint::On(expr)) => self.predicate(
                    scope,
                    expr,
                    if inner {
                        Place::InnerOn
                    } else {
                        Place::OuterOn
                    },
                ),
                Some(JoinConstraint::Using(columns)) => {
                    for column in columns {
                        let Some(col) = object_idents(column).last().map(|i| i.value.clone())
                        else {
                            continue;
                        };
                        let has_key = |an: &Self, r: RefId| {
                            an.key_of(r).is_some_and(|k| k.eq_ignore_ascii_case(&col))
                        };
                        let left = before.iter().copied().find(|&r| has_key(self, r));
                        let right = added.iter().copied().find(|&r| has_key(self, r));
                        if let (Some(a), Some(b)) = (left, right) {
                            self.add_edge(scope, a, b);
                        }
                    }
                }
                _ => {}
            }
        }
    }

    /// An outer join keeps every row of its preserved side: a table
    /// whose full copy each shard reads (not sharded) on that side, with
    /// a sharded table on the other, gives its unmatched rows once per
    /// shard when the statement scatters.
    fn note_outer_copies(&mut self, preserved: &[RefId], nullable: &[RefId]) {
        if !nullable.iter().any(|&r| self.key_of(r).is_some()) {
            return;
        }
        for &r in preserved {
            if self.key_of(r).is_none() {
                let name = self.refs[r].name.clone();
                if !self.outer_copies.contains(&name) {
                    self.outer_copies.push(name);
                }
            }
        }
    }

    pub(super) fn factor(&mut self, scope: ScopeId, f: &TableFactor) {
        match f {
            TableFactor::Table { name, alias, .. } => {
                let alias = alias.as_ref().map(|a| a.name.value.clone());
                let idents = object_idents(name);
                if idents.len() == 1 {
                    let n = &idents[0].value;
                    if let Some(&(_, cte)) = self
                        .ctes
                        .iter()
                        .rev()
                        .find(|(c, _)| c.eq_ignore_ascii_case(n))
                    {
                        self.scopes[scope].derived.push(cte);
                        self.scopes[scope].names.push((
                            alias.clone().unwrap_or_else(|| n.clone()),
                            Node::Derived(cte),
                        ));
                        return;
                    }
                }
                self.new_ref(name, alias.as_deref(), Some(scope));
            }
            TableFactor::Derived {
                subquery, alias, ..
            } => {
                let d = self.query(subquery, Role::Derived, Some(scope));
                self.scopes[scope].derived.push(d);
                if let Some(a) = alias {
                    self.aliases.insert(a.name.value.clone());
                    self.scopes[scope]
                        .names
                        .push((a.name.value.clone(), Node::Derived(d)));
                }
            }
            TableFactor::NestedJoin {
                table_with_joins, ..
            } => self.table_with_joins(scope, table_with_joins),
            other => self.subqueries_in(scope, other),
        }
    }

    /// A qualifier naming a table (column `orders.id`, `orders.*`).
    pub(super) fn qualifier_use(&mut self, name: &ObjectName) {
        let idents = object_idents(name);
        if let Some(q) = idents.last() {
            self.qualifier_ident(q);
        }
    }

    pub(super) fn qualifier_ident(&mut self, q: &ast::Ident) {
        if let Some(range) = self.ident_range(q) {
            let quoted = self
                .sql
                .get(range.clone())
                .is_some_and(|t| t.starts_with('`'));
            self.names.push(NameUse {
                range,
                quoted,
                target: NameTarget::Logical(q.value.clone()),
            });
        }
    }

    // ----- statements -----

    pub(super) fn row_sources(&self) -> Vec<RowSource> {
        let mut out = Vec::new();
        let mut placed = vec![false; self.scopes.len()];
        for (id, s) in self.scopes.iter().enumerate() {
            if s.role == Role::Top {
                let mut rs = RowSource {
                    top: true,
                    ..Default::default()
                };
                self.flatten(id, true, &mut rs, &mut placed);
                out.push(rs);
            }
        }
        for (id, s) in self.scopes.iter().enumerate() {
            if s.role == Role::Sub {
                let mut rs = RowSource::default();
                self.flatten(id, true, &mut rs, &mut placed);
                out.push(rs);
            }
        }
        for id in 0..self.scopes.len() {
            if !placed[id] {
                let mut rs = RowSource::default();
                self.flatten(id, true, &mut rs, &mut placed);
                out.push(rs);
            }
        }
        for rs in &mut out {
            let members: HashSet<RefId> = rs.refs.iter().copied().collect();
            rs.edges
                .retain(|(a, b)| members.contains(a) && members.contains(b));
        }
        out.retain(|rs| !rs.refs.is_empty() || rs.top);
        out
    }

    pub(super) fn flatten(
        &self,
        id: ScopeId,
        pins_apply: bool,
        rs: &mut RowSource,
        placed: &mut [bool],
    ) {
        placed[id] = true;
        let s = &self.scopes[id];
        for r in &s.refs {
            if !rs.refs.contains(r) {
                rs.refs.push(*r);
            }
        }
        rs.edges.extend(s.edges.iter().copied());
        if pins_apply {
            rs.pins.extend(s.where_pins.iter().cloned());
            if !s.outer_join {
                rs.pins.extend(s.on_pins.iter().cloned());
            }
        }
        for &d in &s.derived {
            self.flatten(d, pins_apply && !s.outer_join, rs, placed);
        }
    }
}
