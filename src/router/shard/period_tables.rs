//! Reads of composite (key × period) tables whose physical table does not
//! exist (a past period never created, or beyond what was created ahead
//! while still routed): one server holding the data would find no rows
//! there, so the read runs with that table replaced by an empty derived
//! table of the same shape, `(SELECT * FROM <a sibling> LIMIT 0)`, a
//! sibling being any existing physical table of the same logical table on
//! the same node. Which tables exist is learned per node (one
//! `information_schema` lookup lists every physical table of the logical
//! table there) and remembered for tables that exist; a missing one is
//! looked up again on the next read (it may have been created since), and
//! a statement that fails on a table forgets it (dropped by hand while
//! routed: that statement gets the named 1146, the next read looks again).
//! Writes keep the named 1146 (`missing_period_message`).
//!
//! Owns: the cache of period tables known to exist, the lookup SQL and the
//! rewrite of a target's SQL. Must not do I/O (the session runs the
//! lookup) or plan.

use std::collections::HashMap;

use super::lex::ident;
use super::{ShardPlan, ShardRouter};
use crate::session_state::quote_str;
use crate::sql::lexer::{unquote, Lexer, Token, TokenKind};

/// Physical tables known to exist: physical name → the nodes holding it
/// (looked up by `&str`: no allocation per target on the read path).
pub(crate) type PresentTables = HashMap<String, Vec<usize>>;

fn is_present(present: &PresentTables, node: usize, name: &str) -> bool {
    present.get(name).is_some_and(|nodes| nodes.contains(&node))
}

fn forget(present: &mut PresentTables, node: usize, name: &str) {
    if let Some(nodes) = present.get_mut(name) {
        nodes.retain(|n| *n != node);
    }
}

impl ShardRouter {
    /// The rule table a composite period table belongs to.
    fn composite_of(&self, physical: &str) -> Option<usize> {
        self.composite_periods.get(physical).copied()
    }

    /// (node, rule table) of the composite period tables `plan` reads that
    /// are not known to exist: each needs a lookup on its node.
    pub fn unverified_periods(&self, plan: &ShardPlan) -> Vec<(usize, usize)> {
        if self.composite_periods.is_empty() {
            return Vec::new();
        }
        let present = self.present.lock();
        let mut out = Vec::new();
        for t in &plan.targets {
            for name in &t.tables {
                if is_present(&present, t.node, name) {
                    continue;
                }
                if let Some(i) = self.composite_of(name) {
                    if !out.contains(&(t.node, i)) {
                        out.push((t.node, i));
                    }
                }
            }
        }
        out
    }

    /// The lookup of which physical tables of rule table `i` exist on
    /// `node` (in the rule's schema, else `session_schema`).
    pub fn period_lookup_sql(
        &self,
        i: usize,
        node: usize,
        session_schema: Option<&str>,
    ) -> Option<String> {
        let t = self.tables.get(i)?;
        let schema = t.schema.as_deref().or(session_schema)?;
        let names: Vec<String> = t
            .sharded()?
            .slots
            .iter()
            .filter(|(n, _)| *n == node)
            .map(|(_, p)| quote_str(p))
            .collect();
        Some(format!(
            "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = {} \
             AND TABLE_NAME IN ({})",
            quote_str(schema),
            names.join(", ")
        ))
    }

    /// Records the tables a lookup on `node` found.
    pub fn remember_present(&self, node: usize, names: impl IntoIterator<Item = String>) {
        let mut present = self.present.lock();
        for name in names {
            let nodes = present.entry(name).or_default();
            if !nodes.contains(&node) {
                nodes.push(node);
            }
        }
    }

    /// Forgets that the tables `plan` touches exist (after a statement on
    /// them failed: one may have been dropped), so the next read looks
    /// them up again.
    pub fn forget_present(&self, plan: &ShardPlan) {
        if self.composite_periods.is_empty() {
            return;
        }
        let mut present = self.present.lock();
        for t in &plan.targets {
            for name in &t.tables {
                forget(&mut present, t.node, name);
            }
        }
        if let super::PlanKind::KeyMove(m) = &plan.kind {
            for s in &m.sources {
                forget(&mut present, s.to.node, &s.to.table);
            }
        }
    }

    /// `plan` with each composite period table that does not exist read as
    /// an empty table of its shape; `None` when nothing changes (every
    /// table exists, or no sibling exists on its node to take the shape
    /// from: the server's 1146 then names the period).
    pub fn empty_missing_periods(&self, plan: &ShardPlan) -> Option<ShardPlan> {
        let present = self.present.lock();
        let mut out: Option<ShardPlan> = None;
        for (k, t) in plan.targets.iter().enumerate() {
            for name in &t.tables {
                if is_present(&present, t.node, name) {
                    continue;
                }
                let Some(i) = self.composite_of(name) else {
                    continue;
                };
                let sibling = self.tables[i].sharded().and_then(|s| {
                    s.slots
                        .iter()
                        .find(|(n, p)| *n == t.node && is_present(&present, *n, p))
                        .map(|(_, p)| p.clone())
                });
                let Some(sibling) = sibling else { continue };
                let p = out.get_or_insert_with(|| plan.clone());
                if let Some(target) = p.targets.get_mut(k) {
                    target.sql = read_as_empty(&target.sql, name, &sibling);
                }
            }
        }
        out
    }
}

/// Keywords that may follow a table reference without being its alias.
const AFTER_TABLE: &[&str] = &[
    "WHERE",
    "JOIN",
    "INNER",
    "LEFT",
    "RIGHT",
    "CROSS",
    "NATURAL",
    "STRAIGHT_JOIN",
    "ON",
    "USING",
    "GROUP",
    "ORDER",
    "LIMIT",
    "HAVING",
    "UNION",
    "EXCEPT",
    "INTERSECT",
    "FOR",
    "LOCK",
    "WINDOW",
    "FULL",
    "OUTER",
    "INTO",
    "PROCEDURE",
];

/// `sql` with every table reference to `physical` (not its uses as a
/// qualifier, `physical.col`) replaced by `(SELECT * FROM <sibling> LIMIT
/// 0)`, the schema qualifier kept, aliased as `physical` when the
/// reference had no alias.
pub(crate) fn read_as_empty(sql: &str, physical: &str, sibling: &str) -> String {
    let src = sql.as_bytes();
    let tokens: Vec<Token> = Lexer::new(src).filter(|t| !t.is_trivia()).collect();
    let is_name = |t: &Token| {
        matches!(t.kind, TokenKind::Word | TokenKind::QuotedIdent)
            && unquote(t.bytes(src)) == physical
    };
    let is_dot = |t: Option<&Token>| t.is_some_and(|t| t.is_punct(src, "."));
    let mut edits: Vec<(usize, usize, String)> = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        if !is_name(t) || is_dot(tokens.get(i + 1)) {
            continue;
        }
        let qualified = i >= 2
            && is_dot(tokens.get(i - 1))
            && matches!(tokens[i - 2].kind, TokenKind::Word | TokenKind::QuotedIdent);
        let (start, qualifier) = if qualified {
            let q = &tokens[i - 2];
            (q.start, format!("{}.", q.text(sql)))
        } else {
            (t.start, String::new())
        };
        let aliased = tokens.get(i + 1).is_some_and(|next| match next.kind {
            TokenKind::QuotedIdent => true,
            TokenKind::Word => !AFTER_TABLE.iter().any(|k| next.is_keyword(src, k)),
            _ => false,
        });
        let alias = if aliased {
            String::new()
        } else {
            format!(" AS {}", ident(physical, true))
        };
        edits.push((
            start,
            t.end,
            format!(
                "(SELECT * FROM {qualifier}{} LIMIT 0){alias}",
                ident(sibling, true)
            ),
        ));
    }
    let mut out = String::with_capacity(sql.len() + 64);
    let mut at = 0;
    for (start, end, text) in edits {
        out.push_str(sql.get(at..start).unwrap_or_default());
        out.push_str(&text);
        at = end;
    }
    out.push_str(sql.get(at..).unwrap_or_default());
    out
}

#[cfg(test)]
mod tests {
    use super::read_as_empty;

    #[test]
    fn missing_tables_read_as_empty_derived_tables() {
        let e = "(SELECT * FROM `ev_0_202601` LIMIT 0)";
        assert_eq!(
            read_as_empty(
                "SELECT * FROM ev_1_202603 AS ev WHERE ev.at > 1",
                "ev_1_202603",
                "ev_0_202601"
            ),
            format!("SELECT * FROM {e} AS ev WHERE ev.at > 1")
        );
        assert_eq!(
            read_as_empty(
                "SELECT e.v FROM `db`.`ev_1_202603` e JOIN t ON t.a = e.v",
                "ev_1_202603",
                "ev_0_202601"
            ),
            "SELECT e.v FROM (SELECT * FROM `db`.`ev_0_202601` LIMIT 0) e JOIN t ON t.a = e.v"
        );
        assert_eq!(
            read_as_empty(
                "SELECT ev_1_202603.v FROM ev_1_202603 WHERE ev_1_202603.v = 1",
                "ev_1_202603",
                "ev_0_202601"
            ),
            format!("SELECT ev_1_202603.v FROM {e} AS `ev_1_202603` WHERE ev_1_202603.v = 1")
        );
    }
}
