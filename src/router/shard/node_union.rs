//! One statement per node for a scattered read whose physical tables share
//! a node: the node's targets as one `(SELECT … FROM t_0 …) UNION ALL
//! (SELECT … FROM t_1 …)`, the merge above it unchanged. A session pinned
//! to one connection per node (a transaction, table locks) then reads
//! every node at once on its own connection instead of one physical table
//! after the other.
//!
//! Each branch keeps its text byte for byte (its ORDER BY … LIMIT, its
//! locking clause) inside parentheses; a line break before each closing
//! parenthesis ends a trailing `--`/`#` comment. A merge that relies on
//! each source arriving sorted (a k-way merge: ORDER BY without grouping,
//! with or without DISTINCT) gets `ORDER BY` (by position) on the union as
//! a whole, so the node sorts its union; a LIMIT without grouping or
//! DISTINCT is repeated on the union (offset + limit rows).
//!
//! Shapes the server would refuse or answer differently inside a UNION
//! keep one statement per physical table ([`node_unions`] says `None`):
//! statements that are not a plain SELECT (CTEs, the client's own UNION,
//! `INTO`), modifiers allowed only in a first branch (`SQL_NO_CACHE`,
//! `SQL_CALC_FOUND_ROWS`, `HIGH_PRIORITY`, …), user variables, a `NULL`
//! in the select list (a UNION types it CHAR), and sort keys that are not
//! plain positions (`SELECT *` with hidden columns).
//!
//! A UNION's column definitions are the union's, not the first branch's
//! table columns: no table names, and TEXT/BLOB/JSON/ENUM/SET typed
//! differently. The executor checks the header before using the answer
//! (see `execute::scatter::union_header_faithful`).
//!
//! Owns: that rewriting of a [`ShardPlan`] (pure text, no I/O). Must not
//! plan statements (that is `plan`) or decide when a session uses it.

use super::{ColumnRef, MergeSpec, ShardPlan, ShardTarget};
use crate::sql::lexer::{tokenize, Token};
use crate::sql::TokenKind;

/// The plan with one target per node: the targets sharing a node joined
/// into one `UNION ALL`. `None` when no node has several targets, or a
/// target's shape cannot be joined safely (see the module doc).
/// `retyped`: the columns of the plan's tables a UNION types otherwise
/// (see [`RETYPED`]); a target naming one (or `*`) is not joined.
pub fn node_unions(plan: &ShardPlan, retyped: &[String]) -> Option<ShardPlan> {
    if !plan.returns_rows() || plan.targets.len() < 2 {
        return None;
    }
    let mut nodes: Vec<usize> = Vec::new();
    for t in &plan.targets {
        if !nodes.contains(&t.node) {
            nodes.push(t.node);
        }
    }
    if nodes.len() == plan.targets.len() || !plan.targets.iter().all(|t| unionable(&t.sql, retyped))
    {
        return None;
    }
    let tail = union_tail(plan.merge.as_deref())?;
    // A node with one target first: the merge sends the first answer's
    // column definitions, and that one's are a single server's.
    let mut united: Vec<(bool, ShardTarget)> = nodes
        .iter()
        .map(|&node| {
            let on_node: Vec<&ShardTarget> =
                plan.targets.iter().filter(|t| t.node == node).collect();
            match on_node.as_slice() {
                [one] => (false, (*one).clone()),
                several => (true, join(node, several, &tail)),
            }
        })
        .collect();
    united.sort_by_key(|(union, _)| *union);
    let targets = united.into_iter().map(|(_, t)| t).collect();
    Some(ShardPlan {
        targets,
        ..plan.clone()
    })
}

/// Several targets of one node as one statement.
fn join(node: usize, targets: &[&ShardTarget], tail: &str) -> ShardTarget {
    let len = targets.iter().map(|t| t.sql.len() + 16).sum::<usize>() + tail.len();
    let mut sql = String::with_capacity(len);
    for (i, t) in targets.iter().enumerate() {
        if i > 0 {
            sql.push_str(" UNION ALL ");
        }
        sql.push('(');
        sql.push_str(&t.sql);
        sql.push_str("\n)");
    }
    sql.push_str(tail);
    ShardTarget {
        node,
        sql,
        rows: None,
        tables: targets
            .iter()
            .flat_map(|t| t.tables.iter().cloned())
            .collect::<Vec<_>>()
            .into(),
        params: targets
            .iter()
            .flat_map(|t| t.params.iter().copied())
            .collect(),
        local_file: None,
    }
}

/// What follows the union: `ORDER BY` positions when the merge reads each
/// source as sorted, and the merge's row budget as `LIMIT`. `None` when a
/// sort key is not a position the union can name.
fn union_tail(merge: Option<&MergeSpec>) -> Option<String> {
    let Some(m) = merge else {
        return Some(String::new());
    };
    if !m.enum_keys.is_empty() {
        // A UNION types ENUM/SET columns as strings: its order would not
        // be the members' order the merge follows.
        return None;
    }
    let mut tail = String::new();
    let rows_kept = m.aggregate.is_none() && !m.distinct;
    // A DISTINCT without grouping is deduplicated per run of equal sort
    // keys of a k-way merge (`Distinct::within_runs`): its sources must
    // arrive sorted as well.
    let merged_sorted = m.aggregate.is_none();
    if merged_sorted && !m.order_by.is_empty() {
        tail.push_str(" ORDER BY ");
        for (i, k) in m.order_by.iter().enumerate() {
            let ColumnRef::Index(j) = k.column else {
                return None;
            };
            if i > 0 {
                tail.push_str(", ");
            }
            tail.push_str(&(j + 1).to_string());
            if k.descending {
                tail.push_str(" DESC");
            }
        }
    }
    if let (true, Some(limit)) = (rows_kept, m.limit) {
        tail.push_str(" LIMIT ");
        tail.push_str(&m.offset.saturating_add(limit).to_string());
    }
    Some(tail)
}

/// Column types (`information_schema.COLUMNS.DATA_TYPE`) that a UNION
/// describes otherwise than the table: ENUM/SET become VARCHAR, TEXT/BLOB
/// (and MariaDB's JSON, a LONGTEXT) a larger BLOB type, geometry loses its
/// kind.
pub const RETYPED: &[&str] = &[
    "enum",
    "set",
    "tinytext",
    "text",
    "mediumtext",
    "longtext",
    "tinyblob",
    "blob",
    "mediumblob",
    "longblob",
    "json",
    "geometry",
    "point",
    "linestring",
    "polygon",
    "multipoint",
    "multilinestring",
    "multipolygon",
    "geometrycollection",
];

/// Words that make a statement unfit for a UNION branch (or whose meaning
/// or column type would change in one).
const REFUSED_WORDS: &[&str] = &[
    "GROUP_CONCAT",
    "JSON_ARRAYAGG",
    "JSON_OBJECTAGG",
    "UNION",
    "INTERSECT",
    "EXCEPT",
    "INTO",
    "PROCEDURE",
    "SQL_CALC_FOUND_ROWS",
    "SQL_NO_CACHE",
    "SQL_CACHE",
    "SQL_BUFFER_RESULT",
    "HIGH_PRIORITY",
];

/// Where a token of the statement is.
#[derive(PartialEq, Eq, Clone, Copy)]
enum Part {
    SelectList,
    From,
    Rest,
}

/// Words ending a FROM clause.
const AFTER_FROM: &[&str] = &[
    "WHERE", "GROUP", "HAVING", "ORDER", "LIMIT", "FOR", "LOCK", "WINDOW", "OFFSET", "FETCH",
];

/// Whether `sql` can be a parenthesised UNION ALL branch with the same
/// rows and column types as alone: a SELECT of one table (the plan's
/// physical table, whose column kinds the router knows: no join, derived
/// table or subquery in the select list, which could bring an ENUM of
/// another table), naming none of the `retyped` columns (nor `*` when
/// there are some).
fn unionable(sql: &str, retyped: &[String]) -> bool {
    let tokens = tokenize(sql);
    let word = |t: &Token| &sql[t.start..t.end];
    let mut significant = tokens.iter().filter(|t| {
        !matches!(
            t.kind,
            TokenKind::Comment | TokenKind::Hint | TokenKind::ExecCommentOpen
        )
    });
    if !significant
        .next()
        .is_some_and(|t| t.kind == TokenKind::Word && word(t).eq_ignore_ascii_case("SELECT"))
    {
        return false;
    }
    let is = |w: &str, list: &[&str]| list.iter().any(|r| w.eq_ignore_ascii_case(r));
    let names_retyped = |name: &str| retyped.iter().any(|r| r.eq_ignore_ascii_case(name));
    let mut depth = 0usize;
    let mut part = Part::SelectList;
    for t in significant {
        if t.unterminated {
            return false;
        }
        match t.kind {
            TokenKind::UserVar => return false,
            TokenKind::Punct => match word(t) {
                "(" if depth == 0 && part == Part::From => return false,
                "," if depth == 0 && part == Part::From => return false,
                "(" => depth += 1,
                ")" => depth = depth.saturating_sub(1),
                ";" => return false,
                "*" if part == Part::SelectList && depth == 0 && !retyped.is_empty() => {
                    return false
                }
                _ => {}
            },
            TokenKind::QuotedIdent if names_retyped(word(t).trim_matches(['`', '"'])) => {
                return false
            }
            TokenKind::Word => {
                let w = word(t);
                if names_retyped(w) || is(w, REFUSED_WORDS) {
                    return false;
                }
                match part {
                    // A bare NULL select item: a UNION types it CHAR(0).
                    Part::SelectList if depth == 0 && is(w, &["NULL"]) => return false,
                    Part::SelectList if is(w, &["SELECT"]) => return false,
                    Part::SelectList if depth == 0 && is(w, &["FROM"]) => part = Part::From,
                    Part::From if is(w, &["JOIN", "STRAIGHT_JOIN"]) => return false,
                    Part::From if depth == 0 && is(w, AFTER_FROM) => part = Part::Rest,
                    _ => {}
                }
            }
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::router::shard::{PlanKind, SortKey};

    fn target(node: usize, sql: &str, params: Vec<usize>) -> ShardTarget {
        ShardTarget {
            node,
            sql: sql.to_owned(),
            rows: None,
            tables: vec![format!("t_{node}")].into(),
            params: params.into(),
            local_file: None,
        }
    }

    fn plan(targets: Vec<ShardTarget>, merge: MergeSpec) -> ShardPlan {
        ShardPlan {
            targets,
            kind: PlanKind::Scatter,
            merge: Some(std::sync::Arc::new(merge)),
            generated_id: None,
            write: false,
        }
    }

    #[test]
    fn joins_the_targets_of_a_node() {
        let merge = MergeSpec {
            order_by: vec![SortKey {
                column: ColumnRef::Index(1),
                descending: true,
            }],
            offset: 2,
            limit: Some(3),
            ..MergeSpec::default()
        };
        let p = plan(
            vec![
                target(
                    0,
                    "SELECT a, b FROM t_0 WHERE a > ? ORDER BY b DESC LIMIT 5",
                    vec![0],
                ),
                target(
                    1,
                    "SELECT a, b FROM t_1 WHERE a > ? ORDER BY b DESC LIMIT 5",
                    vec![0],
                ),
                target(
                    0,
                    "SELECT a, b FROM t_2 WHERE a > ? ORDER BY b DESC LIMIT 5 -- x",
                    vec![0],
                ),
            ],
            merge,
        );
        let u = node_unions(&p, &[]).expect("joined");
        assert_eq!(u.targets.len(), 2);
        assert_eq!(u.targets[0], p.targets[1]);
        assert_eq!(
            u.targets[1].sql,
            "(SELECT a, b FROM t_0 WHERE a > ? ORDER BY b DESC LIMIT 5\n) UNION ALL \
             (SELECT a, b FROM t_2 WHERE a > ? ORDER BY b DESC LIMIT 5 -- x\n) ORDER BY 2 DESC LIMIT 5"
        );
        assert_eq!(u.targets[1].params.as_slice(), [0, 0]);
        assert_eq!(*u.targets[1].tables, ["t_0", "t_0"]);
        assert_eq!(u.merge, p.merge);
    }

    /// A DISTINCT is merged sorted (`Distinct::within_runs`): the union
    /// is ordered, but not limited (duplicates across branches).
    #[test]
    fn distinct_is_ordered_but_not_limited() {
        let merge = MergeSpec {
            distinct: true,
            limit: Some(3),
            order_by: vec![SortKey {
                column: ColumnRef::Index(0),
                descending: false,
            }],
            ..MergeSpec::default()
        };
        let p = plan(
            vec![
                target(0, "SELECT DISTINCT c FROM t_0 FOR UPDATE", vec![]),
                target(0, "SELECT DISTINCT c FROM t_1 FOR UPDATE", vec![]),
            ],
            merge,
        );
        let u = node_unions(&p, &[]).expect("joined");
        assert_eq!(
            u.targets[0].sql,
            "(SELECT DISTINCT c FROM t_0 FOR UPDATE\n) UNION ALL (SELECT DISTINCT c FROM t_1 FOR UPDATE\n) ORDER BY 1"
        );
    }

    #[test]
    fn refuses_unsafe_shapes() {
        for sql in [
            "SELECT SQL_NO_CACHE a FROM t",
            "SELECT /*!40001 SQL_NO_CACHE */ * FROM t",
            "SELECT a FROM t UNION SELECT a FROM u",
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "SELECT a INTO @v FROM t",
            "SELECT @v := a FROM t",
            "SELECT NULL, a FROM t",
            "SELECT b, GROUP_CONCAT(a) FROM t GROUP BY b",
            "SELECT SQL_CALC_FOUND_ROWS a FROM t LIMIT 1",
            "(SELECT a FROM t)",
            "SELECT a FROM t JOIN u ON t.id = u.id",
            "SELECT a FROM t, u",
            "SELECT a FROM (SELECT a FROM t) d",
            "SELECT (SELECT b FROM u LIMIT 1) FROM t",
        ] {
            let p = plan(
                vec![target(0, sql, vec![]), target(0, sql, vec![])],
                MergeSpec::default(),
            );
            assert!(node_unions(&p, &[]).is_none(), "{sql}");
        }
        let ok = "SELECT a, COUNT(*), IF(a = '', a, NULL) FROM t AS x WHERE b IS NULL AND c = 'UNION' /* INTO */ \
                  AND d IN (SELECT d FROM u) GROUP BY a ORDER BY a LIMIT 3 FOR UPDATE";
        let p = plan(
            vec![target(0, ok, vec![]), target(0, ok, vec![])],
            MergeSpec::default(),
        );
        assert!(node_unions(&p, &[]).is_some());
        let retyped = ["Note".to_owned()];
        assert!(node_unions(&p, &retyped).is_some());
        for sql in [
            "SELECT a, note FROM t",
            "SELECT a FROM t WHERE `note` = 1",
            "SELECT * FROM t",
        ] {
            let p = plan(
                vec![target(0, sql, vec![]), target(0, sql, vec![])],
                MergeSpec::default(),
            );
            assert!(node_unions(&p, &retyped).is_none(), "{sql}");
            assert!(node_unions(&p, &[]).is_some(), "{sql}");
        }
        let hidden = MergeSpec {
            order_by: vec![SortKey {
                column: ColumnRef::Hidden(0),
                descending: false,
            }],
            ..MergeSpec::default()
        };
        let p = plan(vec![target(0, ok, vec![]), target(0, ok, vec![])], hidden);
        assert!(node_unions(&p, &[]).is_none());
        // One target per node already.
        let p = plan(
            vec![target(0, ok, vec![]), target(1, ok, vec![])],
            MergeSpec::default(),
        );
        assert!(node_unions(&p, &[]).is_none());
    }
}
