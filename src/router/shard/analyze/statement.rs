//! Statements other than INSERT: SELECT, UPDATE, DELETE, DDL and the
//! rest, what they write, and the targets of their assignments.
//!
//! Owns: [`Analyzer::statement`]. Must not analyse INSERT rows (see
//! `insert`).

use super::*;

impl<'a> Analyzer<'a> {
    pub(super) fn statement(&mut self, statement: &Statement) -> Result<(), RouteError> {
        match statement {
            Statement::Query(q) => {
                self.kind = StmtKind::Select;
                let top = self.query(q, Role::Top, None);
                let locking = !q.locks.is_empty();
                self.write = locking;
                self.select = Some(select::analyze(
                    self.sql,
                    &self.toks,
                    &self.lines,
                    q,
                    &|e| self.is_local_key(top, e),
                    &|e| self.is_enum_column(top, e),
                    &|e| self.is_plain_column(top, e),
                ));
            }
            Statement::Insert(ins) => self.insert_statement(ins)?,
            Statement::Update(u) => self.update_statement(u)?,
            Statement::Delete(d) => self.delete_statement(d),
            Statement::Explain { statement, .. } => {
                self.statement(statement)?;
                self.explain = true;
                self.write = false;
            }
            Statement::CreateTable(_)
            | Statement::AlterTable(_)
            | Statement::Truncate(_)
            | Statement::CreateIndex(_)
            | Statement::Drop { .. } => {
                self.kind = StmtKind::Ddl;
                self.write = true;
                self.claim_all();
            }
            Statement::RenameTable(_) => {
                self.kind = StmtKind::UnshardedOnly;
                self.write = true;
                self.claim_all();
            }
            Statement::ShowCreate { .. }
            | Statement::ShowColumns { .. }
            | Statement::ExplainTable { .. } => {
                self.kind = StmtKind::Describe;
                self.claim_all();
            }
            _ => {
                self.kind = StmtKind::UnshardedOnly;
                self.write = true;
                self.claim_all();
            }
        }
        self.qualifier_names(statement);
        Ok(())
    }

    /// UPDATE: its tables, WHERE, assigned columns and written table.
    fn update_statement(&mut self, u: &ast::Update) -> Result<(), RouteError> {
        self.kind = StmtKind::Update;
        self.write = true;
        let top = self.new_scope(None, Role::Top);
        self.table_with_joins(top, &u.table);
        if let Some(
            ast::UpdateTableFromKind::BeforeSet(from) | ast::UpdateTableFromKind::AfterSet(from),
        ) = &u.from
        {
            for twj in from {
                self.table_with_joins(top, twj);
            }
        }
        if let Some(w) = &u.selection {
            self.predicate(top, w, Place::Where);
        }
        for a in &u.assignments {
            self.subqueries_in(top, &a.value);
            self.assignment_target(top, &a.target, &a.value)?;
        }
        self.write_limit = u.limit.is_some();
        if self.key_assignment.is_some() || self.period_assignment.is_some() {
            self.check_key_move(top, u)?;
        }
        if self.written.is_empty() {
            if let Some(&first) = self.scopes[top].refs.first() {
                self.written.push(first);
            }
        }
        Ok(())
    }

    /// DELETE: its tables, WHERE, and the targets it deletes from.
    fn delete_statement(&mut self, d: &ast::Delete) {
        self.kind = StmtKind::Delete;
        self.write = true;
        let top = self.new_scope(None, Role::Top);
        let from = match &d.from {
            FromTable::WithFromKeyword(v) | FromTable::WithoutKeyword(v) => v,
        };
        for twj in from {
            self.table_with_joins(top, twj);
        }
        if let Some(using) = &d.using {
            for twj in using {
                self.table_with_joins(top, twj);
            }
        }
        if let Some(w) = &d.selection {
            self.predicate(top, w, Place::Where);
        }
        for target in &d.tables {
            let idents = object_idents(target);
            let Some(last) = idents.last() else { continue };
            let found = self.scopes[top]
                .names
                .iter()
                .find(|(n, _)| *n == last.value)
                .map(|(_, n)| *n);
            if let Some(Node::Ref(r)) = found {
                self.written.push(r);
                // A target written as the table name (not an alias)
                // is renamed like its FROM reference.
                if let Some(range) = self.ident_range(last) {
                    if self.claim(&range).is_some() {
                        let quoted = self
                            .sql
                            .get(range.clone())
                            .is_some_and(|t| t.starts_with('`'));
                        self.names.push(NameUse {
                            range,
                            quoted,
                            target: NameTarget::Ref(r),
                        });
                    }
                }
            }
        }
        if self.written.is_empty() {
            if let Some(&first) = self.scopes[top].refs.first() {
                self.written.push(first);
            }
        }
        self.write_limit = d.limit.is_some();
    }

    /// Qualified column names naming a table (not an alias): those naming
    /// an un-aliased sharded reference get a new name.
    fn qualifier_names(&mut self, statement: &Statement) {
        // Qualified column names naming a table (not an alias).
        let mut collector = QualifierCollector { found: Vec::new() };
        let _ = statement.visit(&mut collector);
        for q in collector.found {
            self.qualifier_ident(&q);
        }
        self.names.retain(|n| match &n.target {
            NameTarget::Logical(name) => !self.aliases.contains(name),
            NameTarget::Ref(_) => true,
        });
        let refs = &self.refs;
        let router = self.router;
        self.names.retain(|n| match &n.target {
            // Only qualifiers naming an un-aliased sharded reference need
            // a new name.
            NameTarget::Logical(name) => refs.iter().any(|r| {
                r.alias.is_none()
                    && r.name == *name
                    && matches!(r.table, RefTable::Rule(i) if router.tables[i].sharded().is_some())
            }),
            NameTarget::Ref(_) => true,
        });
    }

    /// References for every table the facade found (DDL and the like).
    pub(super) fn claim_all(&mut self) {
        for i in 0..self.facade.len() {
            if self.claimed[i] {
                continue;
            }
            self.claimed[i] = true;
            let f = self.facade[i].clone();
            let effective = f.schema.as_deref().or(self.schema);
            let table = if effective
                .is_some_and(|s| SYSTEM_SCHEMAS.iter().any(|x| x.eq_ignore_ascii_case(s)))
            {
                RefTable::System
            } else {
                match self.router.find_table(effective, &f.name) {
                    Some(t) => RefTable::Rule(t),
                    None => RefTable::Unlisted {
                        node: self.router.schema_node(effective),
                    },
                }
            };
            let quoted = self
                .sql
                .get(f.name_span.clone())
                .is_some_and(|t| t.starts_with('`'));
            self.refs.push(RefInfo {
                table,
                name: f.name,
                name_span: f.name_span,
                quoted,
                alias: f.alias,
                schema: f.schema,
            });
        }
    }

    /// Marks the reference an UPDATE assignment writes; an assignment of a
    /// sharding key becomes the statement's [`KeyAssignment`] (a key move)
    /// or is refused when it cannot move rows exactly.
    pub(super) fn assignment_target(
        &mut self,
        scope: ScopeId,
        target: &AssignmentTarget,
        value: &Expr,
    ) -> Result<(), RouteError> {
        let names: Vec<&ObjectName> = match target {
            AssignmentTarget::ColumnName(n) => vec![n],
            AssignmentTarget::Tuple(v) => v.iter().collect(),
        };
        for name in names {
            let idents = object_idents(name);
            let Some(col) = idents.last() else { continue };
            let r = if idents.len() >= 2 {
                self.qualifier_ident(idents[idents.len() - 2]);
                let q = &idents[idents.len() - 2].value;
                match self.scopes[scope]
                    .names
                    .iter()
                    .find(|(n, _)| n == q)
                    .map(|(_, n)| *n)
                {
                    Some(Node::Ref(r)) => Some(r),
                    _ => None,
                }
            } else {
                let keyed = self.scopes[scope].refs.iter().copied().find(|&r| {
                    self.key_of(r)
                        .is_some_and(|k| k.eq_ignore_ascii_case(&col.value))
                });
                keyed.or_else(|| self.scopes[scope].refs.first().copied())
            };
            let names_period = |r: RefId| {
                self.period_of(r)
                    .is_some_and(|(k, _)| k.eq_ignore_ascii_case(&col.value))
            };
            let period_ref = match r {
                Some(r) if idents.len() >= 2 => Some(r).filter(|&r| names_period(r)),
                _ => self.scopes[scope]
                    .refs
                    .iter()
                    .copied()
                    .find(|&r| names_period(r)),
            };
            let Some(r) = r else { continue };
            if let Some(pr) = period_ref {
                self.period_assignment(pr, &col.value, value, target)?;
                if !self.written.contains(&pr) {
                    self.written.push(pr);
                }
                continue;
            }
            if self
                .key_of(r)
                .is_some_and(|k| k.eq_ignore_ascii_case(&col.value))
            {
                self.key_assignment(r, &col.value, value, target)?;
            }
            if !self.written.contains(&r) {
                self.written.push(r);
            }
        }
        Ok(())
    }

    /// Records `SET <key of r> = value`, or refuses what a key move cannot
    /// do exactly: a new key that is not a literal or a parameter (an
    /// expression would be evaluated per row, possibly reading columns
    /// assigned before it), a tuple assignment, a second assignment of
    /// the key. (Rows of bound tables that follow the key through an `ON
    /// UPDATE CASCADE` foreign key move with it: `session::key_move`.)
    fn key_assignment(
        &mut self,
        r: RefId,
        column: &str,
        value: &Expr,
        target: &AssignmentTarget,
    ) -> Result<(), RouteError> {
        let table = self.refs[r].name.clone();
        let refuse = |why: String| {
            super::super::err(format!(
                "this UPDATE changes `{column}`, the sharding key of `{table}`, {why}: {}",
                quote_sql(self.sql)
            ))
        };
        if matches!(target, AssignmentTarget::Tuple(_)) || self.key_assignment.is_some() {
            return refuse("more than once or as part of a tuple".into());
        }
        let Some(text) = self.expr_range(value) else {
            return refuse(
                "to an expression: a row moved to another shard needs a new key that is a \
                 literal or a parameter"
                    .into(),
            );
        };
        let val = self.value(r, value);
        self.key_assignment = Some(KeyAssignment { r, val, text });
        Ok(())
    }

    /// Records `SET <period column of r> = value` of a composite table (its
    /// rows may move to another period's table), refusing what a move
    /// cannot do exactly (as for the key).
    fn period_assignment(
        &mut self,
        r: RefId,
        column: &str,
        value: &Expr,
        target: &AssignmentTarget,
    ) -> Result<(), RouteError> {
        let table = self.refs[r].name.clone();
        let refuse = |why: &str| {
            super::super::err(format!(
                "this UPDATE changes `{column}`, the period column of `{table}`, {why}: {}",
                quote_sql(self.sql)
            ))
        };
        if matches!(target, AssignmentTarget::Tuple(_)) || self.period_assignment.is_some() {
            return refuse("more than once or as part of a tuple");
        }
        let Some(text) = self.expr_range(value) else {
            return refuse(
                "to an expression: a row moved to another period's table needs a new value \
                 that is a literal or a parameter",
            );
        };
        let val = self.period_value(r, value);
        self.period_assignment = Some(KeyAssignment { r, val, text });
        Ok(())
    }

    /// A key move updates the rows of one table, chosen by WHERE only.
    fn check_key_move(&self, top: ScopeId, u: &ast::Update) -> Result<(), RouteError> {
        let why = if self.scopes[top].refs.len() > 1 || u.from.is_some() {
            Some("in a multi-table UPDATE")
        } else if u.limit.is_some() || !u.order_by.is_empty() {
            Some("with ORDER BY or LIMIT")
        } else if u.returning.is_some() {
            Some("with RETURNING")
        } else if self.update_ignore() {
            // A row whose new key is taken on the new shard would have to
            // stay where it is with a warning; the move fails with 1062.
            Some("with IGNORE")
        } else {
            None
        };
        match why {
            Some(why) => super::super::err(format!(
                "an UPDATE that changes a sharding key cannot run {why} (the rows would move \
                 between shards): {}",
                quote_sql(self.sql)
            )),
            None => Ok(()),
        }
    }

    /// `UPDATE [LOW_PRIORITY] IGNORE …`.
    fn update_ignore(&self) -> bool {
        let src = self.sql.as_bytes();
        crate::sql::Lexer::new(src)
            .filter(|t| !t.is_trivia())
            .take(3)
            .any(|t| t.is_keyword(src, "IGNORE"))
    }

    /// Bytes of a value expression in an INSERT row: from its first token
    /// to the end of the list item.
    pub(super) fn expr_range(&self, e: &Expr) -> Option<Range<usize>> {
        match e {
            Expr::Value(v) => self.lines.range(v.span),
            _ => None,
        }
    }

    // ----- row sources -----
}
