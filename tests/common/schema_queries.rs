//! Differential schemas, part 2: queries from a small grammar over a
//! generated schema (`common/schema_gen.rs`): projections of columns and
//! expressions, WHERE predicates on keys and non-keys, GROUP BY with
//! aggregates and HAVING, DISTINCT, ORDER BY with a unique tiebreaker when
//! LIMIT/OFFSET is used, joins on the bound/link column, and writes
//! (UPDATE/DELETE with a random WHERE, INSERT of generated rows).
//!
//! Each query says how its answer compares: which order is defined, whether
//! values may be any member of their collation class, and under which
//! collation each output column compares.
//!
//! Owns: the grammar. Must not: run anything.
#![allow(dead_code)]

use super::diff_data::Rng;
use super::diff_queries::OrderCheck;
use super::schema_gen::{Cat, Column, Rule, Schema, Table};

#[derive(Debug, Clone)]
pub struct SQuery {
    /// Class of the statement (tally and report).
    pub class: &'static str,
    pub sql: String,
    pub order: OrderCheck,
    pub representative: bool,
    /// Per output column, the (charset, collation) it compares under.
    pub collations: Vec<Option<(String, String)>>,
    /// A write to this table (compare the whole table after it).
    pub writes: Option<usize>,
}

/// One output column: its SQL, whether it is a plain column (usable as an
/// ORDER BY key) and its collation.
struct Out {
    sql: String,
    plain: Option<usize>,
    coll: Option<(String, String)>,
    float: bool,
}

fn coll_of(c: &Column) -> Option<(String, String)> {
    c.ty.collation().map(|(a, b)| (a.to_owned(), b.to_owned()))
}

fn q(prefix: &str, c: &Column) -> String {
    format!("{prefix}{}", c.name)
}

/// A predicate on column `c` (qualified by `prefix`).
pub fn predicate(rng: &mut Rng, prefix: &str, c: &Column) -> String {
    let n = q(prefix, c);
    let cat = c.ty.cat();
    let choices = if cat == Cat::Str { 10 } else { 8 };
    match rng.below(choices) {
        0 | 1 => format!("{n} = {}", c.probe(rng)),
        2 => format!("{n} < {}", c.probe(rng)),
        3 => format!("{n} >= {}", c.probe(rng)),
        4 => {
            let (a, b) = (c.probe(rng), c.probe(rng));
            format!("{n} BETWEEN {a} AND {b}")
        }
        5 => {
            let vals: Vec<String> = (0..rng.range(1, 4)).map(|_| c.probe(rng)).collect();
            format!("{n} IN ({})", vals.join(", "))
        }
        6 => format!("{n} IS NULL"),
        7 => format!("{n} IS NOT NULL"),
        8 => format!(
            "{n} LIKE {}",
            rng.pick(&["'a%'", "'_'", "'%'", "'A%'", "'%b%'", "'ä%'", "''"])
        ),
        _ => format!("{n} <> {}", c.probe(rng)),
    }
}

fn where_clause(rng: &mut Rng, prefix: &str, t: &Table) -> String {
    if !rng.chance(65) {
        return String::new();
    }
    let mut preds = Vec::new();
    if let Some(k) = t.key.filter(|_| rng.chance(50)) {
        preds.push(predicate(rng, prefix, &t.cols[k]));
    }
    for _ in 0..rng.range(1, 2) {
        let c = rng.pick(&t.cols);
        preds.push(predicate(rng, prefix, c));
    }
    let join = if rng.chance(70) { " AND " } else { " OR " };
    format!(" WHERE {}", preds.join(join))
}

fn expr(rng: &mut Rng, c: &Column) -> String {
    let n = &c.name;
    match c.ty.cat() {
        Cat::Num => rng
            .pick(&[
                // Nothing that can overflow: which rows the server
                // evaluates (and so whether it fails) depends on its plan.
                format!("{n} + 0"),
                format!("COALESCE({n}, 0)"),
                format!("{n} / 4"),
                format!("{n} IS NULL"),
            ])
            .clone(),
        Cat::Str => rng
            .pick(&[
                format!("UPPER({n})"),
                format!("LENGTH({n})"),
                format!("CONCAT({n}, '|')"),
                format!("HEX({n})"),
                format!("{n} = 'a'"),
            ])
            .clone(),
        Cat::Bin => rng
            .pick(&[format!("HEX({n})"), format!("LENGTH({n})")])
            .clone(),
        Cat::Temporal => rng
            .pick(&[format!("CAST({n} AS CHAR)"), format!("{n} IS NULL")])
            .clone(),
        Cat::Other => rng
            .pick(&[format!("{n} + 0"), format!("CAST({n} AS CHAR)")])
            .clone(),
    }
}

fn plain_out(t: &Table, i: usize, prefix: &str) -> Out {
    let c = &t.cols[i];
    Out {
        sql: q(prefix, c),
        plain: Some(i),
        coll: coll_of(c),
        float: c.ty.is_float(),
    }
}

fn limit(rng: &mut Rng) -> String {
    if rng.chance(50) {
        format!(" LIMIT {}", rng.range(1, 8))
    } else {
        format!(" LIMIT {}, {}", rng.range(0, 6), rng.range(1, 6))
    }
}

fn dir(rng: &mut Rng) -> &'static str {
    if rng.chance(40) {
        " DESC"
    } else {
        ""
    }
}

fn finish(class: &'static str, sql: String, order: OrderCheck, rep: bool, outs: &[Out]) -> SQuery {
    SQuery {
        class,
        sql,
        order,
        representative: rep,
        collations: outs.iter().map(|o| o.coll.clone()).collect(),
        writes: None,
    }
}

/// A plain SELECT (columns and expressions).
fn plain(rng: &mut Rng, t: &Table) -> SQuery {
    let mut outs = Vec::new();
    for _ in 0..rng.range(1, 4) {
        let i = rng.below(t.cols.len() as u64) as usize;
        if rng.chance(30) && i > 0 {
            outs.push(Out {
                sql: expr(rng, &t.cols[i]),
                plain: None,
                coll: None,
                float: false,
            });
        } else {
            outs.push(plain_out(t, i, ""));
        }
    }
    let proj: Vec<&str> = outs.iter().map(|o| o.sql.as_str()).collect();
    let mut sql = format!("SELECT {} FROM {}", proj.join(", "), t.name);
    sql.push_str(&where_clause(rng, "", t));
    let mut order = OrderCheck::Unordered;
    if rng.chance(60) {
        let keys: Vec<usize> = (0..rng.range(1, 2))
            .map(|_| rng.below(t.cols.len() as u64) as usize)
            .collect();
        let by: Vec<String> = keys
            .iter()
            .map(|&k| format!("{}{}", t.cols[k].name, dir(rng)))
            .collect();
        if rng.chance(45) {
            sql.push_str(&format!(" ORDER BY {}, id{}", by.join(", "), dir(rng)));
            sql.push_str(&limit(rng));
            order = OrderCheck::Total;
        } else {
            sql.push_str(&format!(" ORDER BY {}", by.join(", ")));
            // The visible prefix of the keys.
            let mut vis = Vec::new();
            for k in keys {
                match outs.iter().position(|o| o.plain == Some(k)) {
                    Some(p) if !outs[p].float => vis.push(p),
                    _ => break,
                }
            }
            if !vis.is_empty() {
                order = OrderCheck::Keys(vis);
            }
        }
    }
    finish("select", sql, order, false, &outs)
}

fn aggregates(rng: &mut Rng, t: &Table, prefix: &str) -> Vec<Out> {
    let mut outs = Vec::new();
    for _ in 0..rng.range(1, 3) {
        let c = rng.pick(&t.cols[1..]);
        let n = q(prefix, c);
        let num = c.ty.cat() == Cat::Num;
        let (sql, coll, float) = match rng.below(9) {
            0 => ("COUNT(*)".to_owned(), None, false),
            1 => (format!("COUNT({n})"), None, false),
            2 if num => (format!("SUM({n})"), None, c.ty.is_float()),
            3 if num => (format!("AVG({n})"), None, true),
            4 => (format!("MIN({n})"), coll_of(c), c.ty.is_float()),
            5 => (format!("MAX({n})"), coll_of(c), c.ty.is_float()),
            6 => (format!("COUNT(DISTINCT {n})"), None, false),
            // Not over strings: which of several equal strings (`''` and
            // `' '` under PAD SPACE, `a`/`A` under `_ci`) stands for them
            // is the server's choice, and a joined text cannot be compared
            // by weights.
            7 if c.ty.cat() != Cat::Str => (
                format!("GROUP_CONCAT(DISTINCT {n} ORDER BY {n}{})", dir(rng)),
                None,
                false,
            ),
            _ => (
                format!("GROUP_CONCAT({n} ORDER BY {n}{}, {prefix}id)", dir(rng)),
                None,
                false,
            ),
        };
        outs.push(Out {
            sql,
            plain: None,
            coll,
            float,
        });
    }
    outs
}

/// GROUP BY with aggregates (or aggregates alone), HAVING, ORDER BY the
/// group columns.
fn grouped(rng: &mut Rng, t: &Table) -> SQuery {
    let n_group = rng.range(0, 2) as usize;
    let groups: Vec<usize> = rng.sample(&(1..t.cols.len()).collect::<Vec<_>>(), n_group);
    let mut outs: Vec<Out> = groups.iter().map(|&i| plain_out(t, i, "")).collect();
    outs.extend(aggregates(rng, t, ""));
    let proj: Vec<&str> = outs.iter().map(|o| o.sql.as_str()).collect();
    let mut sql = format!("SELECT {} FROM {}", proj.join(", "), t.name);
    sql.push_str(&where_clause(rng, "", t));
    let mut order = OrderCheck::Total;
    if !groups.is_empty() {
        let names: Vec<&str> = groups.iter().map(|&i| t.cols[i].name.as_str()).collect();
        sql.push_str(&format!(" GROUP BY {}", names.join(", ")));
        if rng.chance(30) {
            let c = rng.pick(&t.cols[1..]);
            sql.push_str(rng.pick::<String>(&[
                " HAVING COUNT(*) > 1".to_owned(),
                format!(" HAVING MIN({}) IS NOT NULL", c.name),
                format!(" HAVING COUNT(DISTINCT {}) < 3", c.name),
            ]));
        }
        if rng.chance(60) {
            let by: Vec<String> = names.iter().map(|n| format!("{n}{}", dir(rng))).collect();
            sql.push_str(&format!(" ORDER BY {}", by.join(", ")));
            if rng.chance(50) {
                sql.push_str(&limit(rng));
            }
        } else {
            order = OrderCheck::Unordered;
        }
    }
    finish("group", sql, order, true, &outs)
}

fn distinct(rng: &mut Rng, t: &Table) -> SQuery {
    let k = rng.range(1, 2) as usize;
    let cols: Vec<usize> = rng.sample(&(1..t.cols.len()).collect::<Vec<_>>(), k);
    let outs: Vec<Out> = cols.iter().map(|&i| plain_out(t, i, "")).collect();
    let proj: Vec<&str> = outs.iter().map(|o| o.sql.as_str()).collect();
    let mut sql = format!("SELECT DISTINCT {} FROM {}", proj.join(", "), t.name);
    sql.push_str(&where_clause(rng, "", t));
    let mut order = OrderCheck::Unordered;
    if rng.chance(60) {
        let by: Vec<String> = proj.iter().map(|n| format!("{n}{}", dir(rng))).collect();
        sql.push_str(&format!(" ORDER BY {}", by.join(", ")));
        if rng.chance(50) {
            sql.push_str(&limit(rng));
        }
        order = OrderCheck::Total;
    }
    finish("distinct", sql, order, true, &outs)
}

/// Table 0 joined to table `j` on the link.
fn join(rng: &mut Rng, s: &Schema, j: usize) -> SQuery {
    let (a, b) = (&s.tables[0], &s.tables[j]);
    let link = b.link.unwrap_or(0);
    let kind = if rng.chance(25) { "LEFT JOIN" } else { "JOIN" };
    let on = format!(
        "{} a {kind} {} b ON a.{} = b.{}",
        a.name, b.name, a.cols[s.link_target].name, b.cols[link].name
    );
    let wh = if rng.chance(50) {
        let (t, p) = if rng.chance(50) { (a, "a.") } else { (b, "b.") };
        let c = rng.pick(&t.cols).clone();
        format!(" WHERE {}", predicate(rng, p, &c))
    } else {
        String::new()
    };
    if rng.chance(40) {
        let g = rng.range(1, a.cols.len() as i64 - 1) as usize;
        let mut outs = vec![plain_out(a, g, "a.")];
        outs.extend(aggregates(rng, b, "b."));
        let proj: Vec<&str> = outs.iter().map(|o| o.sql.as_str()).collect();
        let sql = format!(
            "SELECT {} FROM {on}{wh} GROUP BY a.{} ORDER BY a.{}",
            proj.join(", "),
            a.cols[g].name,
            a.cols[g].name
        );
        return finish("join group", sql, OrderCheck::Total, true, &outs);
    }
    let mut outs = vec![plain_out(a, 0, "a."), plain_out(b, 0, "b.")];
    let x = rng.range(1, a.cols.len() as i64 - 1) as usize;
    outs.push(plain_out(a, x, "a."));
    let y = rng.range(1, b.cols.len() as i64 - 1) as usize;
    outs.push(plain_out(b, y, "b."));
    let proj: Vec<&str> = outs.iter().map(|o| o.sql.as_str()).collect();
    let mut sql = format!("SELECT {} FROM {on}{wh}", proj.join(", "));
    let mut order = OrderCheck::Unordered;
    if rng.chance(60) {
        sql.push_str(&format!(
            " ORDER BY a.{}{}, a.id, b.id",
            a.cols[x].name,
            dir(rng)
        ));
        if rng.chance(50) {
            sql.push_str(&limit(rng));
        }
        order = OrderCheck::Total;
    }
    finish("join", sql, order, false, &outs)
}

fn write(rng: &mut Rng, s: &mut Schema) -> SQuery {
    let ti = rng.below(s.tables.len() as u64) as usize;
    let has_children = ti == 0 && s.tables.iter().any(|t| t.rule == Rule::Bound);
    let t = &mut s.tables[ti];
    let (class, sql) = match rng.below(3) {
        0 => {
            let n = rng.range(1, 4) as usize;
            ("insert", t.inserts(rng, n, n).remove(0))
        }
        1 => {
            let mut sets = Vec::new();
            for _ in 0..rng.range(1, 2) {
                let i = rng.range(1, t.cols.len() as i64 - 1) as usize;
                let c = &t.cols[i];
                let movable = matches!(t.rule, Rule::Hash { .. }) && !has_children;
                if (Some(i) == t.key && !movable) || (c.name == "l" && rng.chance(50)) {
                    continue;
                }
                sets.push(format!("{} = {}", c.name, c.row_value(rng)));
            }
            if sets.is_empty() {
                sets.push("id = id".into());
            }
            let wh = where_clause(rng, "", t);
            (
                "update",
                format!("UPDATE {} SET {}{wh}", t.name, sets.join(", ")),
            )
        }
        _ => {
            let c = rng.pick(&t.cols[1..]).clone();
            let sql = format!(
                "DELETE FROM {} WHERE {} AND id % 4 = {}",
                t.name,
                predicate(rng, "", &c),
                rng.below(4)
            );
            ("delete", sql)
        }
    };
    SQuery {
        class,
        sql,
        order: OrderCheck::Total,
        representative: false,
        collations: Vec::new(),
        writes: Some(ti),
    }
}

/// The whole table, for the comparison after a write.
pub fn whole(t: &Table, ti: usize) -> SQuery {
    SQuery {
        class: "table after write",
        sql: format!("SELECT * FROM {} ORDER BY id", t.name),
        order: OrderCheck::Total,
        representative: false,
        collations: t.cols.iter().map(coll_of).collect(),
        writes: Some(ti),
    }
}

/// One statement over schema `s` (writes change the schema's id counters).
pub fn one(rng: &mut Rng, s: &mut Schema) -> SQuery {
    let r = rng.below(100);
    if r < 15 {
        return write(rng, s);
    }
    if s.tables.len() > 1 && r < 35 {
        let j = rng.range(1, s.tables.len() as i64 - 1) as usize;
        return join(rng, s, j);
    }
    let t = rng.pick(&s.tables).clone();
    match rng.below(10) {
        0..=3 => plain(rng, &t),
        4..=7 => grouped(rng, &t),
        _ => distinct(rng, &t),
    }
}
