//! `INSERT … SELECT` (and `REPLACE … SELECT`) into a sharded table, as a
//! routed write: the SELECT part runs as a read of its own (planned and
//! merged like any), each row it produces goes to the slot of its
//! sharding key, and each slot gets multi-row `INSERT … VALUES` batches
//! (`frontend::session::insert_select` runs them in one transaction).
//!
//! Owns: [`InsertSelect`] — finding the statement's parts in the text
//! (the head up to the target's name, the column list, the SELECT, the
//! `ON DUPLICATE KEY UPDATE` tail) and routing a row's key to its slot.
//! Must not run anything, nor plan the SELECT (the ordinary planner does).

use std::ops::Range;

use super::analyze::RefTable;
use super::{err, quote_sql, PlanKind, RouteError, ShardPlan, ShardRouter, ShardTarget};
use crate::placement::{KeyType, LiteralKind, ParamValue, ShardKey, ShardedTable};
use crate::sql::{Lexer, Token, TokenKind};

/// An `INSERT … SELECT` into a sharded table, ready to run.
#[derive(Debug, Clone)]
pub struct InsertSelect {
    /// The statement up to the target's name (`INSERT IGNORE INTO db.`).
    head: String,
    /// The target columns, in the order the SELECT fills them, then the
    /// `[[sequence]]` columns shardcat fills (the last `generated`).
    pub columns: Vec<String>,
    pub generated: usize,
    /// Index in `columns` of the sharding key.
    pub key_index: usize,
    /// The SELECT part, as written.
    pub select: String,
    /// ` ON DUPLICATE KEY UPDATE …` (empty without), and the spans in it
    /// of the target's name used as a qualifier (renamed per shard).
    tail: String,
    tail_names: Vec<Range<usize>>,
    /// The target's logical name, key column, placement and slots.
    pub table: String,
    pub key: String,
    key_type: KeyType,
    root: ShardedTable,
    /// Slot → (node, physical table).
    pub slots: Vec<(usize, String)>,
    /// Where the SELECT runs when it names no table with a rule.
    pub select_node: usize,
    /// The slots of the SELECT's only table when it is co-located with the
    /// target (same layout) and the SELECT projects its sharding key into
    /// the target's: each shard can run the statement itself.
    pub colocated: Option<Vec<(usize, String)>>,
}

impl InsertSelect {
    /// `INSERT … INTO <physical> (<columns>) VALUES ` for `slot`, and its
    /// node.
    pub fn values_head(&self, slot: usize) -> Option<(usize, String)> {
        self.insert_head(slot)
            .map(|(node, head)| (node, format!("{head} VALUES ")))
    }

    /// `INSERT … INTO <physical> (<columns>)` for `slot`, and its node.
    fn insert_head(&self, slot: usize) -> Option<(usize, String)> {
        let (node, physical) = self.slots.get(slot)?;
        let list: Vec<String> = self
            .columns
            .iter()
            .map(|c| crate::session_state::quote_ident(c))
            .collect();
        Some((
            *node,
            format!(
                "{}{} ({})",
                self.head,
                crate::session_state::quote_ident(physical),
                list.join(", ")
            ),
        ))
    }

    /// The statement each target of the SELECT's `plan` runs when the
    /// SELECT is co-located with the target table (see
    /// [`colocated`](Self::colocated)) and the plan needs no merge: the
    /// INSERT … SELECT itself, into the target's table of the same slot.
    /// `None` when that does not hold.
    pub fn pushdown(&self, plan: &ShardPlan) -> Option<Vec<ShardTarget>> {
        let source = self.colocated.as_ref()?;
        if let Some(m) = &plan.merge {
            let plain = m.aggregate.is_none()
                && m.order_by.is_empty()
                && m.limit.is_none()
                && m.offset == 0
                && !m.distinct
                && m.having.is_none()
                && m.hidden_columns == 0;
            if !plain {
                return None;
            }
        }
        let mut out = Vec::with_capacity(plan.targets.len());
        for t in &plan.targets {
            let first = t.tables.first()?;
            let slot = source
                .iter()
                .position(|(n, p)| *n == t.node && p == first)?;
            let (node, head) = self.insert_head(slot)?;
            if node != t.node || !t.params.is_empty() {
                return None;
            }
            out.push(ShardTarget {
                node,
                sql: format!("{head} {}{}", t.sql, self.tail(slot)),
                tables: Default::default(),
                params: Default::default(),
                local_file: None,
                rows: None,
            });
        }
        Some(out)
    }

    /// The `ON DUPLICATE KEY UPDATE` tail for the physical table of `slot`.
    pub fn tail(&self, slot: usize) -> String {
        let Some((_, physical)) = self.slots.get(slot) else {
            return self.tail.clone();
        };
        let name = crate::session_state::quote_ident(physical);
        let mut out = String::with_capacity(self.tail.len() + 16);
        let mut at = 0;
        for r in &self.tail_names {
            out.push_str(&self.tail[at..r.start]);
            out.push_str(&name);
            at = r.end;
        }
        out.push_str(&self.tail[at..]);
        out
    }

    /// The slot of a row whose key column received `value` (the bytes of
    /// a canonical text value, see `merge::binary`); `numeric`: the value
    /// came from a numeric column.
    pub fn slot_of(&self, value: Option<&[u8]>, numeric: bool) -> Result<usize, String> {
        let Some(v) = value else {
            return Err(format!(
                "the sharding key `{}` of `{}` is NULL",
                self.key, self.table
            ));
        };
        let key = if numeric {
            let text = std::str::from_utf8(v).map_err(|_| "a number that is not text")?;
            ShardKey::from_literal(text, LiteralKind::Number, self.key_type)
        } else {
            ShardKey::from_param(ParamValue::Bytes(v), self.key_type)
        }
        .map_err(|e| e.to_string())?;
        self.slot_of_key(&key)
    }

    /// The slot of a generated id.
    pub fn slot_of_id(&self, id: u64) -> Result<usize, String> {
        self.slot_of_key(&ShardKey::from_u64(id))
    }

    fn slot_of_key(&self, key: &ShardKey) -> Result<usize, String> {
        match self.root.slot_for_key(key) {
            Ok(s) if self.root.slot_is_live(s) => Ok(s),
            Ok(_) => Err(format!(
                "no shard of `{}` holds the key {key:?}",
                self.table
            )),
            Err(e) => Err(e.to_string()),
        }
    }

    /// A write plan naming every physical table of the target (for the
    /// write gates of a shard move).
    pub fn gate_plan(&self) -> ShardPlan {
        ShardPlan {
            kind: PlanKind::Scatter,
            targets: self
                .slots
                .iter()
                .map(|(node, physical)| ShardTarget {
                    node: *node,
                    sql: String::new(),
                    tables: vec![physical.clone()].into(),
                    params: Default::default(),
                    local_file: None,
                    rows: None,
                })
                .collect(),
            merge: None,
            generated_id: None,
            write: true,
        }
    }
}

impl ShardRouter {
    /// `sql` as an [`InsertSelect`] when it is an `INSERT … SELECT` into a
    /// sharded table; `None` for anything else (including a statement the
    /// analysis refuses: the ordinary planner says why).
    pub fn insert_select(
        &self,
        sql: &str,
        current_schema: Option<&str>,
    ) -> Option<Result<InsertSelect, RouteError>> {
        if self.tables.is_empty() || !self.mentions_rule_table(sql) {
            return None;
        }
        // A text above the plan cache's limit (a bulk INSERT … VALUES) would
        // be parsed here and again when planned: without a SELECT word it
        // is not one of these.
        if sql.len() > super::MAX_CACHED_SQL && !has_select(sql) {
            return None;
        }
        let analysis = self.analysis(sql, current_schema);
        let a = analysis.as_ref().as_ref().ok()?;
        let info = a.insert.as_ref()?;
        if !info.from_select {
            return None;
        }
        let r = a.refs.get(info.target)?;
        let RefTable::Rule(t) = r.table else {
            return None;
        };
        let sharded = self.tables[t].sharded()?;
        let table = self.tables[t].name.clone();
        let refuse = |why: String| Some(err(format!("{why}: {}", quote_sql(sql))));
        if !a.placeholders.is_empty() {
            return refuse(format!(
                "INSERT … SELECT into the sharded table `{table}` with parameters is not \
                 supported; send it as text"
            ));
        }
        if let Some(why) = &info.odku_refusal {
            return refuse(format!(
                "the ON DUPLICATE KEY UPDATE of an INSERT … SELECT into the sharded table \
                 `{table}` runs per shard on the rows inserted there: {why}"
            ));
        }
        let mut columns = info.columns.clone();
        if columns.is_empty() {
            let schema = r.schema.as_deref().or(current_schema);
            match schema.and_then(|s| self.known_columns(s, &table)) {
                Some(known) => columns = known.iter().map(|c| c.to_ascii_lowercase()).collect(),
                None => {
                    return refuse(format!(
                        "INSERT … SELECT into the sharded table `{table}` must name its \
                         columns (no database selected, or its columns are not known)"
                    ))
                }
            }
        }
        let mut generated = 0;
        for seq in self.sequences.iter().filter(|s| s.table == t) {
            let column = seq.column.to_ascii_lowercase();
            if !columns.contains(&column) {
                columns.push(column);
                generated += 1;
            }
        }
        let key = sharded.key.to_ascii_lowercase();
        let Some(key_index) = columns.iter().position(|c| *c == key) else {
            return refuse(format!(
                "INSERT … SELECT into the sharded table `{table}` must give the sharding key \
                 `{}` (or configure a [[sequence]] for it)",
                sharded.key
            ));
        };
        let parts = match split(sql, r.name_span.clone(), &table) {
            Ok(p) => p,
            Err(why) => return refuse(why),
        };
        let select_node = a
            .refs
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != info.target)
            .find_map(|(_, r)| match r.table {
                RefTable::Unlisted { node } => Some(node),
                _ => None,
            })
            .unwrap_or_else(|| self.schema_node(current_schema));
        let colocated = (generated == 0)
            .then(|| self.colocated_source(&parts.select, key_index, sharded, current_schema))
            .flatten();
        Some(Ok(InsertSelect {
            head: sql[..r.name_span.start].to_owned(),
            columns,
            generated,
            key_index,
            select: parts.select,
            tail: parts.tail,
            tail_names: parts.tail_names,
            table,
            key: sharded.key.clone(),
            key_type: sharded.key_type,
            root: sharded.root.clone(),
            slots: sharded.slots.clone(),
            select_node,
            colocated,
        }))
    }

    /// The slots of the SELECT's only table when it has the target's
    /// layout and its column `key_index` is that table's sharding key as
    /// it is (so every row it gives lands in the slot it came from).
    fn colocated_source(
        &self,
        select: &str,
        key_index: usize,
        target: &super::ShardedInfo,
        current_schema: Option<&str>,
    ) -> Option<Vec<(usize, String)>> {
        use crate::sql::ast::{Expr, SelectItem, SetExpr, Statement, TableFactor};
        let statements = crate::sql::parse(select).ok()?;
        let [Statement::Query(q)] = statements.as_slice() else {
            return None;
        };
        if q.with.is_some() || q.limit_clause.is_some() || q.order_by.is_some() {
            return None;
        }
        let SetExpr::Select(s) = q.body.as_ref() else {
            return None;
        };
        let [from] = s.from.as_slice() else {
            return None;
        };
        if !from.joins.is_empty() || s.distinct.is_some() || s.having.is_some() {
            return None;
        }
        if !matches!(&s.group_by, crate::sql::ast::GroupByExpr::Expressions(e, _) if e.is_empty()) {
            return None;
        }
        let TableFactor::Table { name, .. } = &from.relation else {
            return None;
        };
        let parts: Vec<String> = name
            .0
            .iter()
            .filter_map(|p| p.as_ident().map(|i| i.value.clone()))
            .collect();
        let (schema, table) = match parts.as_slice() {
            [t] => (current_schema, t.as_str()),
            [db, t] => (Some(db.as_str()), t.as_str()),
            _ => return None,
        };
        let source = self.tables[self.find_table(schema, table)?].sharded()?;
        // Equal keys in the same slot, and a slot on the same node in both.
        let nodes_agree = source.slots.len() == target.slots.len()
            && source
                .slots
                .iter()
                .zip(&target.slots)
                .all(|(a, b)| a.0 == b.0);
        if !super::build::same_layout(&source.root, &target.root) || !nodes_agree {
            return None;
        }
        let column = match s.projection.get(key_index)? {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
            _ => return None,
        };
        let named = match column {
            Expr::Identifier(i) => &i.value,
            Expr::CompoundIdentifier(p) => &p.last()?.value,
            _ => return None,
        };
        if !named.eq_ignore_ascii_case(&source.key) {
            return None;
        }
        Some(source.slots.clone())
    }
}

/// The SELECT and the ODKU tail of an INSERT … SELECT.
struct Parts {
    select: String,
    tail: String,
    tail_names: Vec<Range<usize>>,
}

/// Splits the text after the target's name (`name`): an optional column
/// list, the SELECT, an optional `ON DUPLICATE KEY UPDATE` tail.
fn split(sql: &str, name: Range<usize>, table: &str) -> Result<Parts, String> {
    let src = sql.as_bytes();
    let tokens: Vec<Token> = Lexer::new(src)
        .filter(|t| !t.is_trivia() && t.start >= name.end)
        .collect();
    let mut i = 0;
    let opens_query = |t: Option<&Token>| {
        t.is_some_and(|t| {
            t.is_keyword(src, "SELECT") || t.is_keyword(src, "WITH") || t.is_punct(src, "(")
        })
    };
    if tokens.first().is_some_and(|t| t.is_punct(src, "(")) && !opens_query(tokens.get(1)) {
        // The column list: up to its `)`.
        let mut depth = 0;
        while let Some(t) = tokens.get(i) {
            i += 1;
            if t.is_punct(src, "(") {
                depth += 1;
            } else if t.is_punct(src, ")") {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
        }
    }
    let Some(first) = tokens.get(i) else {
        return Err("no SELECT found after the column list".into());
    };
    if !opens_query(Some(first)) {
        return Err(format!(
            "`{}` after the table name of an INSERT … SELECT into a sharded table is not \
             supported",
            first.text(sql)
        ));
    }
    let start = first.start;
    let mut end = sql.len();
    let mut tail_start = None;
    let mut depth = 0i32;
    for (k, t) in tokens.iter().enumerate().skip(i) {
        if t.is_punct(src, "(") {
            depth += 1;
        } else if t.is_punct(src, ")") {
            depth -= 1;
        } else if depth == 0 && t.is_punct(src, ";") {
            end = end.min(t.start);
            break;
        } else if depth == 0 && t.is_keyword(src, "RETURNING") {
            return Err("INSERT … SELECT … RETURNING into a sharded table is not supported".into());
        } else if depth == 0
            && t.is_keyword(src, "ON")
            && tokens
                .get(k + 1)
                .is_some_and(|n| n.is_keyword(src, "DUPLICATE"))
            && tail_start.is_none()
        {
            tail_start = Some(t.start);
            end = t.start;
        }
    }
    let stop = tokens
        .iter()
        .find(|t| t.start >= end.max(tail_start.unwrap_or(0)) && t.is_punct(src, ";"))
        .map_or(sql.len(), |t| t.start);
    let (tail, tail_names) = match tail_start {
        None => (String::new(), Vec::new()),
        Some(at) => {
            let names = tokens
                .iter()
                .enumerate()
                .filter(|(k, t)| {
                    t.start >= at
                        && t.end <= stop
                        && names_table(sql, t, table)
                        && tokens.get(k + 1).is_some_and(|n| n.is_punct(src, "."))
                })
                .map(|(_, t)| t.start - at + 1..t.end - at + 1)
                .collect();
            (format!(" {}", sql[at..stop].trim_end()), names)
        }
    };
    Ok(Parts {
        select: sql[start..end].trim_end().to_owned(),
        tail,
        tail_names,
    })
}

/// Whether token `t` names `table` (a word or a quoted identifier).
fn names_table(sql: &str, t: &Token, table: &str) -> bool {
    match t.kind {
        TokenKind::Word => t.text(sql).eq_ignore_ascii_case(table),
        TokenKind::QuotedIdent => {
            crate::sql::lexer::unquote(t.bytes(sql.as_bytes())).eq_ignore_ascii_case(table)
        }
        _ => false,
    }
}

/// Whether `sql` has the word SELECT outside literals and comments.
fn has_select(sql: &str) -> bool {
    let src = sql.as_bytes();
    Lexer::new(src).any(|t| t.is_keyword(src, "SELECT"))
}
