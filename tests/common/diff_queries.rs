//! Differential test, part 2: a deterministic generator of SELECTs over the
//! schema of `diff_data.rs`, in families (one per kind of merge or
//! routing the proxy must get right).
//!
//! Every generated query says what ordering of its answer is defined:
//! - [`OrderCheck::Total`]: the ORDER BY is total (ends with unique keys,
//!   or orders groups by all their keys): the row sequence must match;
//! - [`OrderCheck::Keys`]: an ORDER BY that may tie, on visible columns:
//!   the rows must match as a multiset and the sequence of those columns
//!   must match (ties compared under the column's collation);
//! - [`OrderCheck::Unordered`]: no (usable) ORDER BY: multiset only.
//!
//! Every query with LIMIT has a total ORDER BY, so its right answer is
//! unique.
//!
//! Include with `#[path = "common/diff_queries.rs"] mod diff_queries;`
//! (needs `diff_data` as a sibling module).
#![allow(dead_code)]

use super::diff_data::{
    lit, Rng, CITIES, DATETIME_EDGES, KINDS, NAMES, SKUS, SPECIAL_USER_IDS, STATUSES,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    OrderBy,
    Limit,
    GroupBy,
    DistinctAgg,
    Having,
    GroupConcat,
    OrderByAgg,
    GroupLimit,
    AggNoGroup,
    Distinct,
    JoinBound,
    JoinBroadcast,
    Subquery,
    UnionAll,
    SingleShard,
    InList,
    EventsRange,
}

pub const FAMILIES: &[Family] = &[
    Family::OrderBy,
    Family::Limit,
    Family::GroupBy,
    Family::DistinctAgg,
    Family::Having,
    Family::GroupConcat,
    Family::OrderByAgg,
    Family::GroupLimit,
    Family::AggNoGroup,
    Family::Distinct,
    Family::JoinBound,
    Family::JoinBroadcast,
    Family::Subquery,
    Family::UnionAll,
    Family::SingleShard,
    Family::InList,
    Family::EventsRange,
];

impl Family {
    pub fn name(self) -> &'static str {
        match self {
            Family::OrderBy => "order_by",
            Family::Limit => "limit",
            Family::GroupBy => "group_by",
            Family::DistinctAgg => "distinct_agg",
            Family::Having => "having",
            Family::GroupConcat => "group_concat",
            Family::OrderByAgg => "order_by_agg",
            Family::GroupLimit => "group_limit",
            Family::AggNoGroup => "agg_no_group",
            Family::Distinct => "distinct",
            Family::JoinBound => "join_bound",
            Family::JoinBroadcast => "join_broadcast",
            Family::Subquery => "subquery",
            Family::UnionAll => "union_all",
            Family::SingleShard => "single_shard",
            Family::InList => "in_list",
            Family::EventsRange => "events_range",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderCheck {
    Total,
    /// Output column indexes of the ORDER BY keys, in order.
    Keys(Vec<usize>),
    Unordered,
}

#[derive(Debug, Clone)]
pub struct GenQuery {
    pub family: Family,
    pub sql: String,
    pub order: OrderCheck,
    /// String values may be any member of their collation class (GROUP BY,
    /// DISTINCT, MIN/MAX of strings pick an unspecified representative):
    /// compare `_ci` strings by collation weight.
    pub representative: bool,
}

// ---------------------------------------------------------------- tables

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Int,
    Dec,
    Str,
    Date,
    DateTime,
}

#[derive(Debug, Clone, Copy)]
pub struct Col {
    pub name: &'static str,
    pub kind: Kind,
}

const fn c(name: &'static str, kind: Kind) -> Col {
    Col { name, kind }
}

#[derive(Debug, Clone, Copy)]
pub struct Tab {
    pub name: &'static str,
    pub alias: &'static str,
    pub cols: &'static [Col],
    /// A unique column (total tiebreaker).
    pub unique: &'static str,
    /// The sharding key.
    pub key: &'static str,
}

pub const USERS: Tab = Tab {
    name: "users",
    alias: "u",
    cols: &[
        c("id", Kind::Int),
        c("name", Kind::Str),
        c("city", Kind::Str),
        c("score", Kind::Dec),
        c("created", Kind::Date),
        c("region_id", Kind::Int),
    ],
    unique: "id",
    key: "id",
};

pub const ORDERS: Tab = Tab {
    name: "orders",
    alias: "o",
    cols: &[
        c("id", Kind::Int),
        c("user_id", Kind::Int),
        c("amount", Kind::Dec),
        c("status", Kind::Str),
        c("created", Kind::DateTime),
        c("note", Kind::Str),
    ],
    unique: "id",
    key: "user_id",
};

pub const ITEMS: Tab = Tab {
    name: "order_items",
    alias: "i",
    cols: &[
        c("id", Kind::Int),
        c("user_id", Kind::Int),
        c("order_id", Kind::Int),
        c("sku", Kind::Str),
        c("qty", Kind::Int),
        c("price", Kind::Dec),
    ],
    unique: "id",
    key: "user_id",
};

pub const EVENTS: Tab = Tab {
    name: "events",
    alias: "e",
    cols: &[
        c("id", Kind::Int),
        c("created_at", Kind::DateTime),
        c("user_id", Kind::Int),
        c("kind", Kind::Str),
        c("points", Kind::Int),
    ],
    unique: "id",
    key: "created_at",
};

pub const SHARDED: &[Tab] = &[USERS, ORDERS, ITEMS, EVENTS];

/// How columns are qualified in one query: `col`, `u.col` (FROM users u)
/// or `users.col` (FROM users). The last one is spelled in unaliased
/// column names, which a rewrite to physical names must not change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qual {
    Bare,
    Alias,
    Table,
}

impl Qual {
    fn pick(rng: &mut Rng) -> Qual {
        match rng.below(4) {
            0 | 1 => Qual::Bare,
            2 => Qual::Alias,
            _ => Qual::Table,
        }
    }
    fn col(self, t: &Tab, col: &str) -> String {
        match self {
            Qual::Bare => col.to_owned(),
            Qual::Alias => format!("{}.{col}", t.alias),
            Qual::Table => format!("{}.{col}", t.name),
        }
    }
    fn from(self, t: &Tab) -> String {
        match self {
            Qual::Alias => format!("{} {}", t.name, t.alias),
            _ => t.name.to_owned(),
        }
    }
}

fn col_of(t: &Tab, name: &str) -> Col {
    *t.cols.iter().find(|c| c.name == name).expect("column")
}

// ------------------------------------------------------------- predicates

fn user_pred(rng: &mut Rng, q: &dyn Fn(&str) -> String) -> String {
    match rng.below(16) {
        0 => format!(
            "{} > {}",
            q("score"),
            rng.pick(&["0", "50", "99.99", "-1", "1000", "50.00"])
        ),
        1 => format!("{} IS NULL", q("score")),
        2 => format!("{} IS NOT NULL", q("score")),
        3 => format!("{} = {}", q("city"), lit(rng.pick(CITIES))),
        4 => format!(
            "{} IN ({}, {})",
            q("city"),
            lit(rng.pick(CITIES)),
            lit(rng.pick(CITIES))
        ),
        5 => format!(
            "{} LIKE {}",
            q("name"),
            lit(rng.pick(&["a%", "Ro%", "%e", "z%", "_"]))
        ),
        6 => format!(
            "{} >= {}",
            q("created"),
            lit(rng.pick(&["2026-01-01", "2025-06-30", "2026-02-28"]))
        ),
        7 => format!("{} BETWEEN '2024-02-29' AND '2026-02-28'", q("created")),
        8 => format!("{} IN (1, 2, 3)", q("region_id")),
        9 => format!("{} IS NULL", q("region_id")),
        10 => format!("MOD({}, 4) = {}", q("id"), rng.range(0, 3)),
        11 => format!("{} > {}", q("id"), rng.pick(&["100", "0", "150", "-3"])),
        12 => format!("{} = {}", q("name"), lit(rng.pick(NAMES))),
        13 => format!("{} > 1e15", q("score")),
        14 => format!("({} < 0 OR {} IS NULL)", q("score"), q("city")),
        _ => format!("{} BETWEEN -8 AND 8", q("id")),
    }
}

fn order_pred(rng: &mut Rng, q: &dyn Fn(&str) -> String) -> String {
    match rng.below(14) {
        0 => format!(
            "{} > {}",
            q("amount"),
            rng.pick(&["0", "10", "1000", "-1", "10.0000"])
        ),
        1 => format!("{} < 0", q("amount")),
        2 => format!("{} = {}", q("status"), lit(rng.pick(STATUSES))),
        3 => format!(
            "{} IN ({}, {})",
            q("status"),
            lit(rng.pick(STATUSES)),
            lit(rng.pick(STATUSES))
        ),
        4 => format!("{} IS NULL", q("status")),
        5 => format!(
            "{} >= {}",
            q("created"),
            lit(rng.pick(&["2026-01-01", "2026-02-01 00:00:00", "2025-12-31 23:59:59"]))
        ),
        6 => format!("{} IS NULL", q("note")),
        7 => format!(
            "{} = {}",
            q("note"),
            lit(rng.pick(&["gift", "ca va", "fragile"]))
        ),
        8 => format!("{} > {}", q("user_id"), rng.pick(&["100", "0", "170"])),
        9 => format!("{} < 0", q("user_id")),
        10 => format!("MOD({}, 4) = {}", q("user_id"), rng.range(0, 3)),
        11 => format!("{} > {}", q("id"), rng.range(1000, 2500)),
        12 => format!("{} > 1e12", q("amount")),
        _ => format!("{} BETWEEN -100 AND 100", q("amount")),
    }
}

fn item_pred(rng: &mut Rng, q: &dyn Fn(&str) -> String) -> String {
    match rng.below(8) {
        0 => format!("{} >= {}", q("qty"), rng.range(0, 5)),
        1 => format!("{} IS NULL", q("price")),
        2 => format!("{} > {}", q("price"), rng.pick(&["0", "9.99", "500"])),
        3 => format!("{} = {}", q("sku"), lit(rng.pick(SKUS))),
        4 => format!(
            "{} LIKE {}",
            q("sku"),
            lit(rng.pick(&["S%", "%1", "x%", "ß%"]))
        ),
        5 => format!("{} < 50", q("user_id")),
        6 => format!("MOD({}, 4) = {}", q("user_id"), rng.range(0, 3)),
        _ => format!("{} = 0", q("qty")),
    }
}

fn event_pred(rng: &mut Rng, q: &dyn Fn(&str) -> String) -> String {
    match rng.below(10) {
        0 => format!("{} = {}", q("kind"), lit(rng.pick(KINDS))),
        1 => format!("{} IS NULL", q("kind")),
        2 => format!("{} > {}", q("points"), rng.range(0, 90)),
        3 => format!("{} IS NULL", q("points")),
        4 => format!("{} IS NULL", q("user_id")),
        5 => format!("{} < 50", q("user_id")),
        6 => date_range(rng, &q("created_at")),
        7 => date_range(rng, &q("created_at")),
        8 => format!(
            "{} IN ({}, {})",
            q("kind"),
            lit(rng.pick(KINDS)),
            lit(rng.pick(KINDS))
        ),
        _ => format!("{} > 95", q("points")),
    }
}

fn pred_for(rng: &mut Rng, t: &Tab, q: &dyn Fn(&str) -> String) -> String {
    match t.name {
        "users" => user_pred(rng, q),
        "orders" => order_pred(rng, q),
        "order_items" => item_pred(rng, q),
        _ => event_pred(rng, q),
    }
}

/// `WHERE ...` with 0..2 predicates (empty string for none).
fn where_for(rng: &mut Rng, t: &Tab, q: &dyn Fn(&str) -> String, none_pct: u64) -> String {
    if rng.chance(none_pct) {
        return String::new();
    }
    let a = pred_for(rng, t, q);
    if rng.chance(35) {
        let b = pred_for(rng, t, q);
        let op = if rng.chance(70) { "AND" } else { "OR" };
        format!(" WHERE {a} {op} {b}")
    } else {
        format!(" WHERE {a}")
    }
}

/// A range on events.created_at: month edges, node edge, BETWEEN, open
/// ranges, IN lists of exact timestamps, functions of the key.
pub fn date_range(rng: &mut Rng, col: &str) -> String {
    let m = rng.range(1, 12);
    let last = super::diff_data::days_in(2026, m);
    let m2 = (m % 12) + 1;
    match rng.below(16) {
        0 => format!("{col} >= '2026-{m:02}-01' AND {col} < '2026-{m2:02}-01'"),
        1 => format!("{col} BETWEEN '2026-{m:02}-{last:02}' AND '2026-{m2:02}-01'"),
        2 => format!("{col} BETWEEN '2026-{m:02}-{last:02} 23:59:59' AND '2026-{m2:02}-01 00:00:00'"),
        3 => format!("{col} >= '2026-06-30 23:59:59' AND {col} <= '2026-07-01 00:00:00'"),
        4 => format!("{col} > '2026-{m:02}-{last:02} 23:59:59'"),
        5 => format!("{col} < '2026-{m:02}-01'"),
        6 => format!("{col} <= '2026-{m:02}-01 00:00:00'"),
        7 => format!("{col} >= '2026-12-31 23:59:59'"),
        8 => format!("{col} < '2026-01-01'"),
        9 => format!(
            "{col} IN ('2026-{m:02}-01 00:00:00', '2026-{m:02}-{last:02} 23:59:59', '2026-06-30 23:59:59')"
        ),
        10 => format!("{col} = '2026-{m:02}-01 00:00:00'"),
        11 => format!("DATE({col}) = '2026-{m:02}-{last:02}'"),
        12 => format!("MONTH({col}) = {m}"),
        13 => format!("{col} BETWEEN '2026-{m:02}-15' AND '2026-{:02}-10 23:59:59'", (m + 2).min(12)),
        14 => format!("({col} < '2026-02-01' OR {col} >= '2026-12-01')"),
        _ => format!("{col} > '2026-{m:02}-{:02}' AND {col} < '2026-{m:02}-{last:02}'", rng.range(1, 10)),
    }
}

// ------------------------------------------------------------- expressions

/// An expression over column `col` of `kind` and its result kind.
fn expr_of(rng: &mut Rng, qc: &str, kind: Kind) -> (String, Kind) {
    match kind {
        Kind::Int => match rng.below(6) {
            0 => (format!("{qc} DIV 3"), Kind::Int),
            1 => (format!("-{qc}"), Kind::Int),
            2 => (format!("{qc} % 7"), Kind::Int),
            3 => (format!("COALESCE({qc}, -1)"), Kind::Int),
            _ => (qc.to_owned(), Kind::Int),
        },
        Kind::Dec => match rng.below(7) {
            0 => (format!("{qc} * 2"), Kind::Dec),
            1 => (format!("COALESCE({qc}, 0)"), Kind::Dec),
            2 => (format!("ROUND({qc}, 1)"), Kind::Dec),
            3 => (format!("{qc} + 0.005"), Kind::Dec),
            4 => (format!("-{qc}"), Kind::Dec),
            _ => (qc.to_owned(), Kind::Dec),
        },
        Kind::Str => match rng.below(10) {
            0 => (format!("LOWER({qc})"), Kind::Str),
            1 => (format!("UPPER({qc})"), Kind::Str),
            2 => (format!("CHAR_LENGTH({qc})"), Kind::Int),
            3 => (format!("CONCAT({qc}, '#')"), Kind::Str),
            4 => (format!("IFNULL({qc}, '~')"), Kind::Str),
            5 => (format!("{qc} COLLATE utf8mb4_bin"), Kind::Str),
            6 => (format!("LEFT({qc}, 2)"), Kind::Str),
            _ => (qc.to_owned(), Kind::Str),
        },
        Kind::Date | Kind::DateTime => match rng.below(7) {
            0 => (format!("YEAR({qc})"), Kind::Int),
            1 => (format!("MONTH({qc})"), Kind::Int),
            2 => (format!("DATE({qc})"), Kind::Date),
            3 => (format!("DATE_FORMAT({qc}, '%Y-%m')"), Kind::Str),
            4 => (format!("{qc} + INTERVAL 1 DAY"), kind),
            _ => (qc.to_owned(), kind),
        },
    }
}

/// One select item.
#[derive(Debug, Clone)]
struct Item {
    expr: String,
    alias: Option<String>,
}

impl Item {
    fn sql(&self) -> String {
        match &self.alias {
            Some(a) => format!("{} AS {a}", self.expr),
            None => self.expr.clone(),
        }
    }
}

fn list(items: &[Item]) -> String {
    items.iter().map(Item::sql).collect::<Vec<_>>().join(", ")
}

fn dir(rng: &mut Rng) -> &'static str {
    match rng.below(3) {
        0 => " DESC",
        1 => " ASC",
        _ => "",
    }
}

/// LIMIT clauses: small, with offsets, deep offsets, zero, beyond the end.
fn limit_clause(rng: &mut Rng, deep: u64) -> String {
    match rng.below(8) {
        0 => format!(" LIMIT {}", rng.range(1, 10)),
        1 => format!(" LIMIT {}, {}", rng.range(1, 20), rng.range(1, 10)),
        2 => format!(" LIMIT {} OFFSET {}", rng.range(1, 15), rng.range(0, 30)),
        3 => format!(
            " LIMIT {}, {}",
            rng.range((deep / 2) as i64, deep as i64),
            rng.range(1, 25)
        ),
        4 => format!(
            " LIMIT {} OFFSET {}",
            rng.range(5, 40),
            rng.range((deep / 3) as i64, deep as i64)
        ),
        5 => " LIMIT 0".to_owned(),
        6 => format!(" LIMIT 5 OFFSET {}", deep * 10),
        _ => format!(" LIMIT {}", rng.range(20, 200)),
    }
}

fn deep_for(t: &Tab) -> u64 {
    match t.name {
        "users" => 180,
        "orders" => 600,
        "order_items" => 1200,
        _ => 800,
    }
}

// ----------------------------------------------------------- the families

pub struct Generator {
    rng: Rng,
}

impl Generator {
    pub fn new(seed: u64) -> Generator {
        Generator {
            rng: Rng::new(seed.wrapping_mul(31).wrapping_add(7)),
        }
    }

    /// The `n` queries of a run: families in turn, so every family gets
    /// its share.
    pub fn queries(&mut self, n: usize) -> Vec<GenQuery> {
        let mut out = curated();
        let n = n.saturating_sub(out.len());
        out.extend((0..n).map(|i| self.one(FAMILIES[i % FAMILIES.len()])));
        out
    }

    pub fn one(&mut self, f: Family) -> GenQuery {
        let rng = &mut self.rng;
        let (sql, order, representative) = match f {
            Family::OrderBy => order_by(rng, false),
            Family::Limit => order_by(rng, true),
            Family::GroupBy => group_by(rng, GroupMode::Plain),
            Family::OrderByAgg => group_by(rng, GroupMode::OrderByAgg),
            Family::GroupLimit => group_by(rng, GroupMode::Limit),
            Family::DistinctAgg => distinct_agg(rng),
            Family::Having => having(rng),
            Family::GroupConcat => group_concat(rng),
            Family::AggNoGroup => agg_no_group(rng),
            Family::Distinct => distinct(rng),
            Family::JoinBound => join_bound(rng),
            Family::JoinBroadcast => join_broadcast(rng),
            Family::Subquery => subquery(rng),
            Family::UnionAll => union_all(rng),
            Family::SingleShard => single_shard(rng),
            Family::InList => in_list(rng),
            Family::EventsRange => events_range(rng),
        };
        GenQuery {
            family: f,
            sql,
            order,
            representative,
        }
    }
}

type Out = (String, OrderCheck, bool);

/// Hand-picked edge cases run in every mode, before the generated ones:
/// shapes a random draw may miss in a short run (first shard with an
/// all-NULL partial, empty inputs, node and period edges, BIGINT keys,
/// whole-column collation orders, derived tables, broadcast branches).
pub fn curated() -> Vec<GenQuery> {
    use Family::*;
    use OrderCheck::{Keys, Total, Unordered};
    let q = |family: Family, sql: &str, order: OrderCheck, representative: bool| GenQuery {
        family,
        sql: sql.to_owned(),
        order,
        representative,
    };
    vec![
        // ORDER BY: whole columns under utf8mb4_general_ci, NULLs, decimals.
        q(OrderBy, "SELECT name, id FROM users ORDER BY name, id", Total, false),
        q(OrderBy, "SELECT name, id FROM users ORDER BY name DESC, id DESC", Total, false),
        q(OrderBy, "SELECT city, name, id FROM users ORDER BY city, name DESC, id", Total, false),
        q(OrderBy, "SELECT id, score FROM users ORDER BY score DESC, id", Total, false),
        q(OrderBy, "SELECT id, city FROM users ORDER BY city IS NULL, city, id", Total, false),
        q(OrderBy, "SELECT id, amount FROM orders ORDER BY amount, id", Total, false),
        q(OrderBy, "SELECT sku, id FROM order_items ORDER BY sku DESC, id", Total, false),
        q(OrderBy, "SELECT note, id FROM orders ORDER BY note, id", Total, false),
        // LIMIT: deep offsets, past the end, zero.
        q(Limit, "SELECT id, score FROM users ORDER BY score DESC, id LIMIT 180, 20", Total, false),
        q(Limit, "SELECT id, price FROM order_items ORDER BY price, id LIMIT 1100, 100", Total, false),
        q(Limit, "SELECT id FROM orders ORDER BY created DESC, id LIMIT 5 OFFSET 100000", Total, false),
        q(Limit, "SELECT id, name FROM users ORDER BY name, id LIMIT 40, 15", Total, false),
        q(Limit, "SELECT id FROM events ORDER BY created_at, id LIMIT 0", Total, false),
        // GROUP BY: partial groups; AVG whose first partial sum is NULL.
        q(GroupBy, "SELECT city, AVG(score), COUNT(score), SUM(score) FROM users GROUP BY city ORDER BY city", Total, true),
        q(GroupBy, "SELECT name, COUNT(*) FROM users GROUP BY name ORDER BY name", Total, true),
        q(GroupBy, "SELECT status, SUM(amount), AVG(amount), MIN(amount), MAX(amount) FROM orders GROUP BY status ORDER BY status", Total, true),
        q(GroupBy, "SELECT sku, COUNT(*), SUM(qty) FROM order_items GROUP BY sku ORDER BY sku", Total, true),
        q(GroupBy, "SELECT kind, COUNT(*), AVG(points) FROM events GROUP BY kind ORDER BY kind", Total, true),
        q(OrderByAgg, "SELECT region_id, COUNT(*) AS n FROM users GROUP BY region_id ORDER BY n DESC, region_id", Total, false),
        q(GroupLimit, "SELECT city, COUNT(*) AS n FROM users GROUP BY city ORDER BY n DESC, city LIMIT 3", Total, true),
        // Aggregates without GROUP BY: empty inputs, all-NULL first shard.
        q(AggNoGroup, "SELECT AVG(score), COUNT(score), SUM(score) FROM users WHERE MOD(id, 4) = 2", Total, false),
        q(AggNoGroup, "SELECT AVG(score) FROM users WHERE id > 100 AND MOD(id, 4) <> 0", Total, false),
        q(AggNoGroup, "SELECT COUNT(*), SUM(amount), MIN(amount), MAX(amount), AVG(amount) FROM orders WHERE 1 = 0", Total, false),
        q(AggNoGroup, "SELECT COUNT(*), AVG(points), SUM(points) FROM events WHERE points IS NULL", Total, false),
        q(AggNoGroup, "SELECT MIN(name), MAX(name), MIN(city), MAX(city) FROM users", Total, true),
        q(AggNoGroup, "SELECT SUM(amount), AVG(amount) FROM orders", Total, false),
        q(AggNoGroup, "SELECT COUNT(*) FROM users LIMIT 1 OFFSET 1", Total, false),
        // DISTINCT.
        q(Distinct, "SELECT DISTINCT name FROM users ORDER BY name", Total, true),
        q(Distinct, "SELECT DISTINCT city FROM users", Unordered, true),
        q(Distinct, "SELECT DISTINCT sku FROM order_items ORDER BY sku DESC LIMIT 5", Total, true),
        // COUNT(DISTINCT) on the key.
        q(DistinctAgg, "SELECT COUNT(DISTINCT user_id) FROM orders", Total, false),
        q(DistinctAgg, "SELECT COUNT(DISTINCT u.id) FROM users u JOIN orders o ON o.user_id = u.id", Total, false),
        // HAVING on whole groups.
        q(Having, "SELECT user_id, SUM(amount) AS s FROM orders GROUP BY user_id HAVING s > 1000 ORDER BY s DESC, user_id LIMIT 10", Total, false),
        // DISTINCT over combined groups, and a name that is both a GROUP BY
        // column and the alias of an aggregate (the column wins).
        q(Distinct, "SELECT DISTINCT MAX(region_id) FROM users GROUP BY city HAVING COUNT(*) > 0", Unordered, false),
        q(Having, "SELECT COUNT(*) AS status FROM orders GROUP BY status HAVING status = 'paid'", Total, false),
        q(Having, "SELECT status, COUNT(*) FROM orders GROUP BY status HAVING status IN ('PAID', 'shipped') OR status IS NULL ORDER BY status", Total, true),
        // Joins.
        q(JoinBound, "SELECT COUNT(*) FROM users u LEFT JOIN orders o ON o.user_id = u.id WHERE o.id IS NULL", Total, false),
        q(JoinBroadcast, "SELECT r.id, COUNT(*) AS n FROM users u JOIN regions r ON r.id = u.region_id GROUP BY r.id ORDER BY r.id", Total, false),
        // Subqueries and derived tables.
        q(Subquery, "SELECT d.id FROM (SELECT id FROM orders ORDER BY amount DESC, id LIMIT 5) AS d ORDER BY d.id", Total, false),
        q(Subquery, "SELECT COUNT(*) FROM (SELECT DISTINCT status FROM orders) AS d", Total, false),
        q(Subquery, "SELECT n, COUNT(*) FROM (SELECT user_id, COUNT(*) AS n FROM orders GROUP BY user_id) AS d GROUP BY n ORDER BY n", Total, false),
        q(Subquery, "SELECT MAX(n), AVG(n) FROM (SELECT user_id, COUNT(*) AS n FROM orders GROUP BY user_id) AS d", Total, false),
        // UNION with a broadcast branch.
        q(UnionAll, "SELECT id FROM regions UNION ALL SELECT region_id FROM users WHERE id = 1", Unordered, false),
        q(UnionAll, "SELECT id FROM regions UNION SELECT region_id FROM users", Unordered, false),
        q(UnionAll, "SELECT id FROM regions WHERE id < 0 UNION ALL SELECT id FROM events WHERE created_at < '2000-01-01'", Unordered, false),
        q(UnionAll, "SELECT code FROM regions UNION SELECT kind FROM events ORDER BY 1 DESC", Keys(vec![0]), true),
        q(UnionAll, "SELECT city, NULL FROM users UNION ALL SELECT NULL, name FROM regions UNION ALL SELECT kind, points FROM events", Unordered, false),
        q(UnionAll, "SELECT 0, 'none' UNION SELECT id, city FROM users WHERE id < 4 UNION SELECT id, kind FROM events WHERE points > 95", Unordered, true),
        q(UnionAll, "select id from regions /* b */ union distinct select region_id from users where id > 10 order by id desc limit 3, 4", Total, false),
        q(UnionAll, "SELECT `id`, `name` FROM `regions` UNION ALL SELECT id, name FROM users WHERE id IN (3, 5, 8) ORDER BY name, id", Total, false),
        // Single shard: BIGINT extremes and negative keys.
        q(SingleShard, "SELECT * FROM users WHERE id = 9223372036854775807", Total, false),
        q(SingleShard, "SELECT * FROM users WHERE id = -9223372036854775807", Total, false),
        q(SingleShard, "SELECT id, amount FROM orders WHERE user_id = -1 ORDER BY id", Total, false),
        q(SingleShard, "SELECT COUNT(*) FROM events WHERE created_at = '2025-12-31 23:59:59'", Total, false),
        // IN lists and narrow ranges of keys.
        q(InList, "SELECT id FROM users WHERE id IN (-1, -2, -7, -8, 0, 9223372036854775807) ORDER BY id", Total, false),
        q(InList, "SELECT id FROM users WHERE id BETWEEN -8 AND 3 ORDER BY id", Total, false),
        q(InList, "SELECT id FROM users WHERE id IN (9223372036854775806, 4611686018427387904, -9223372036854775807) ORDER BY id", Total, false),
        // Events: node and period edges.
        q(EventsRange, "SELECT COUNT(*) FROM events WHERE created_at BETWEEN '2026-06-30 23:59:59' AND '2026-07-01 00:00:00'", Total, false),
        q(EventsRange, "SELECT id FROM events WHERE created_at >= '2026-02-28 23:59:59' AND created_at < '2026-03-01 00:00:01' ORDER BY id", Total, false),
        q(EventsRange, "SELECT COUNT(*) FROM events WHERE created_at >= 20260701", Total, false),
        q(EventsRange, "SELECT COUNT(*) FROM events WHERE created_at > '2026-12-31 23:59:59'", Total, false),
        q(EventsRange, "SELECT COUNT(*) FROM events WHERE created_at < '2026-01-01 00:00:00'", Total, false),
        q(EventsRange, "SELECT COUNT(*), MIN(created_at), MAX(created_at) FROM events WHERE created_at >= '2026-01-31' AND created_at < '2026-02-01'", Total, false),
    ]
}

/// ORDER BY over one sharded table: columns, expressions, aliases,
/// positions, hidden (not selected) keys, both directions; total (with the
/// unique column last) or not. With `limit`, always total plus a LIMIT.
fn order_by(rng: &mut Rng, limit: bool) -> Out {
    let t = *rng.pick(SHARDED);
    let qual = Qual::pick(rng);
    let q = |c: &str| qual.col(&t, c);
    let n_items = rng.range(1, 4) as usize;
    let mut items = Vec::new();
    let mut kinds = Vec::new();
    let star = rng.chance(10);
    if !star {
        for (k, col) in rng.sample(t.cols, n_items).into_iter().enumerate() {
            let (expr, kind) = expr_of(rng, &q(col.name), col.kind);
            let alias = if expr != q(col.name) && rng.chance(50) {
                Some(format!("x{k}"))
            } else {
                None
            };
            items.push(Item { expr, alias });
            kinds.push(kind);
        }
    }
    let mut keys = Vec::new(); // ORDER BY items
    let mut key_cols = Vec::new(); // their output columns, when visible
    let mut visible = true;
    for _ in 0..rng.range(1, 3) {
        let d = dir(rng);
        if !star && rng.chance(60) {
            let i = rng.below(items.len() as u64) as usize;
            let it = &items[i];
            let how = rng.below(3);
            let key = match (&it.alias, how) {
                (Some(a), 0) => a.clone(),
                (_, 1) => (i + 1).to_string(),
                _ => it.expr.clone(),
            };
            keys.push(format!("{key}{d}"));
            key_cols.push(i);
        } else {
            let col = rng.pick(t.cols);
            let (expr, _) = expr_of(rng, &q(col.name), col.kind);
            keys.push(format!("{expr}{d}"));
            match (star, t.cols.iter().position(|c| c.name == col.name)) {
                (true, Some(p)) if expr == q(col.name) => key_cols.push(p),
                _ => visible = false,
            }
        }
    }
    let total = limit || rng.chance(50);
    if total {
        keys.push(format!("{}{}", q(t.unique), dir(rng)));
    }
    let select = if star { "*".to_owned() } else { list(&items) };
    let mut sql = format!(
        "SELECT {select} FROM {}{} ORDER BY {}",
        qual.from(&t),
        where_for(rng, &t, &q, 40),
        keys.join(", ")
    );
    if limit {
        sql.push_str(&limit_clause(rng, deep_for(&t)));
    }
    let order = if total {
        OrderCheck::Total
    } else if visible {
        OrderCheck::Keys(key_cols)
    } else {
        OrderCheck::Unordered
    };
    (sql, order, false)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum GroupMode {
    Plain,
    OrderByAgg,
    Limit,
}

/// Group keys per table (non-key columns and expressions: partial groups
/// that must be combined across shards).
fn group_keys(t: &Tab) -> &'static [(&'static str, bool)] {
    // (expression over the bare column, is a string)
    match t.name {
        "users" => &[
            ("city", true),
            ("region_id", false),
            ("YEAR(created)", false),
            ("name", true),
            ("score", false),
            ("created", false),
        ],
        "orders" => &[
            ("status", true),
            ("note", true),
            ("DATE(created)", false),
            ("amount", false),
        ],
        "order_items" => &[("sku", true), ("qty", false), ("price", false)],
        _ => &[
            ("kind", true),
            ("MONTH(created_at)", false),
            ("points", false),
            ("user_id", false),
            ("DATE(created_at)", false),
        ],
    }
}

/// Qualifies the column inside a group key expression.
fn qualify_expr(expr: &str, t: &Tab, qual: Qual) -> String {
    for col in t
        .cols
        .iter()
        .map(|c| c.name)
        .collect::<Vec<_>>()
        .iter()
        .rev()
    {
        // Whole-word replace of the first column name found.
        if let Some(p) = find_word(expr, col) {
            return format!(
                "{}{}{}",
                &expr[..p],
                qual.col(t, col),
                &expr[p + col.len()..]
            );
        }
    }
    expr.to_owned()
}

fn find_word(hay: &str, word: &str) -> Option<usize> {
    let b = hay.as_bytes();
    let mut from = 0;
    while let Some(p) = hay[from..].find(word) {
        let at = from + p;
        let before = at == 0 || !(b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_');
        let end = at + word.len();
        let after = end >= b.len() || !(b[end].is_ascii_alphanumeric() || b[end] == b'_');
        if before && after {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// An aggregate over `t` (qualified by `q`): (sql, string-valued MIN/MAX).
fn aggregate(rng: &mut Rng, t: &Tab, q: &dyn Fn(&str) -> String) -> (String, bool) {
    let col = rng.pick(t.cols);
    let qc = q(col.name);
    if rng.chance(12) {
        // DOUBLE arguments (SUM/AVG of floats), TIME values, BIGINT
        // UNSIGNED results.
        return match (rng.below(4), col.kind) {
            (0 | 1, Kind::Int | Kind::Dec) => (
                // SUM/AVG of DOUBLE depend on the order rows are added in,
                // even on one server (values here span 1e0..1e29, so
                // additions absorb each other): only order-free aggregates
                // of doubles have one right answer to compare.
                format!(
                    "{}({qc} * {})",
                    rng.pick(&["MIN", "MAX"]),
                    rng.pick(&["1e0", "1.5e0", "1e10"])
                ),
                false,
            ),
            (_, Kind::DateTime) => (format!("{}(TIME({qc}))", rng.pick(&["MIN", "MAX"])), false),
            (_, Kind::Int) => (format!("SUM(CAST({qc} AS UNSIGNED))"), false),
            _ => (format!("COUNT({qc})"), false),
        };
    }
    match (rng.below(7), col.kind) {
        (0, _) => ("COUNT(*)".to_owned(), false),
        (1, _) => (format!("COUNT({qc})"), false),
        (2, Kind::Int | Kind::Dec) => (format!("SUM({qc})"), false),
        (3, Kind::Int | Kind::Dec) => (format!("AVG({qc})"), false),
        (4, k) => (format!("MIN({qc})"), k == Kind::Str),
        (5, k) => (format!("MAX({qc})"), k == Kind::Str),
        (_, Kind::Int | Kind::Dec) => (
            format!("{}({qc})", rng.pick(&["SUM", "AVG", "MIN", "MAX"])),
            false,
        ),
        (_, k) => (
            format!("{}({qc})", rng.pick(&["MIN", "MAX"])),
            k == Kind::Str,
        ),
    }
}

/// A numeric aggregate (SUM/AVG/MIN/MAX of a number, or a COUNT).
fn num_aggregate(rng: &mut Rng, t: &Tab, q: &dyn Fn(&str) -> String) -> String {
    let nums: Vec<Col> = t
        .cols
        .iter()
        .copied()
        .filter(|c| matches!(c.kind, Kind::Int | Kind::Dec) && c.name != "id")
        .collect();
    let col = rng.pick(&nums);
    match rng.below(6) {
        0 => "COUNT(*)".to_owned(),
        1 => format!("COUNT({})", q(col.name)),
        f => format!(
            "{}({})",
            ["SUM", "AVG", "MIN", "MAX"][(f - 2) as usize],
            q(col.name)
        ),
    }
}

/// GROUP BY non-key columns with the five aggregates; ORDER BY an
/// aggregate; LIMIT after grouping.
fn group_by(rng: &mut Rng, mode: GroupMode) -> Out {
    let t = *rng.pick(SHARDED);
    let qual = Qual::pick(rng);
    let q = |c: &str| qual.col(&t, c);
    let n_keys = if rng.chance(25) { 2 } else { 1 };
    let keys: Vec<(String, bool)> = rng
        .sample(group_keys(&t), n_keys)
        .into_iter()
        .map(|(e, s)| (qualify_expr(e, &t, qual), s))
        .collect();
    let mut items = Vec::new();
    let mut representative = keys.iter().any(|(_, s)| *s);
    let select_keys = rng.chance(85);
    if select_keys {
        for (k, (e, _)) in keys.iter().enumerate() {
            let alias = if rng.chance(30) {
                Some(format!("g{k}"))
            } else {
                None
            };
            items.push(Item {
                expr: e.clone(),
                alias,
            });
        }
    }
    let n_aggs = rng.range(1, 4);
    let mut agg_cols = Vec::new();
    for a in 0..n_aggs {
        let (expr, strmm) = if rng.chance(12) {
            // Expressions on aggregates and aggregates the proxy merges
            // specially (or refuses).
            let num = q(match t.name {
                "users" => "region_id",
                "orders" => "amount",
                "order_items" => "qty",
                _ => "points",
            });
            (
                rng.pick(&[
                    format!("SUM({num}) / COUNT(*)"),
                    format!("GROUP_CONCAT({num} ORDER BY {num})"),
                    format!("STDDEV_POP({num})"),
                    format!("MAX({num}) - MIN({num})"),
                    format!("ROUND(AVG({num}), 2)"),
                    format!("ROUND(AVG({num}))"),
                    "COUNT(*) + 1".to_owned(),
                    format!("SUM({num}) * 2 - COUNT({num})"),
                    format!("ROUND(SUM({num}) / COUNT({num}), 1)"),
                    format!("MAX({num}) DIV 3"),
                    format!("-MIN({num}) % 7"),
                ])
                .clone(),
                false,
            )
        } else {
            aggregate(rng, &t, &q)
        };
        representative |= strmm;
        let alias = if rng.chance(40) {
            Some(format!("a{a}"))
        } else {
            None
        };
        agg_cols.push(items.len());
        items.push(Item { expr, alias });
    }
    let group_list: Vec<String> = keys
        .iter()
        .enumerate()
        .map(
            |(k, (e, _))| match (&items.get(k), select_keys, rng.below(3)) {
                (Some(it), true, 0) if it.alias.is_some() => it.alias.clone().unwrap(),
                (_, true, 1) => (k + 1).to_string(),
                _ => e.clone(),
            },
        )
        .collect();
    let mut sql = format!(
        "SELECT {} FROM {}{} GROUP BY {}",
        list(&items),
        qual.from(&t),
        where_for(rng, &t, &q, 50),
        group_list.join(", ")
    );
    // ORDER BY the group keys gives a total order of groups.
    let by_keys = |rng: &mut Rng| -> Vec<String> {
        keys.iter()
            .enumerate()
            .map(|(k, (e, _))| {
                let d = dir(rng);
                if select_keys && rng.chance(30) {
                    format!("{}{d}", k + 1)
                } else {
                    format!("{e}{d}")
                }
            })
            .collect()
    };
    let order = match mode {
        GroupMode::Plain => {
            if rng.chance(50) {
                sql.push_str(&format!(" ORDER BY {}", by_keys(rng).join(", ")));
                OrderCheck::Total
            } else {
                OrderCheck::Unordered
            }
        }
        GroupMode::OrderByAgg | GroupMode::Limit => {
            // An aggregate first: selected (alias / position / repeated) or
            // not selected at all.
            let mut ob = Vec::new();
            let mut key_cols = Vec::new();
            let mut visible = true;
            let d = dir(rng);
            if rng.chance(65) {
                let i = *rng.pick(&agg_cols);
                let it = &items[i];
                let s = match (&it.alias, rng.below(3)) {
                    (Some(a), 0) => a.clone(),
                    (_, 1) => (i + 1).to_string(),
                    _ => it.expr.clone(),
                };
                ob.push(format!("{s}{d}"));
                key_cols.push(i);
            } else {
                ob.push(format!("{}{d}", num_aggregate(rng, &t, &q)));
                visible = false;
            }
            let total = mode == GroupMode::Limit || rng.chance(60);
            if total {
                ob.extend(by_keys(rng));
            }
            sql.push_str(&format!(" ORDER BY {}", ob.join(", ")));
            if mode == GroupMode::Limit {
                sql.push_str(&match rng.below(4) {
                    0 => format!(" LIMIT {}", rng.range(1, 5)),
                    1 => format!(" LIMIT {}, {}", rng.range(1, 6), rng.range(1, 5)),
                    2 => format!(" LIMIT {} OFFSET {}", rng.range(1, 10), rng.range(0, 40)),
                    _ => " LIMIT 1".to_owned(),
                });
            }
            if total {
                OrderCheck::Total
            } else if visible {
                OrderCheck::Keys(key_cols)
            } else {
                OrderCheck::Unordered
            }
        }
    };
    (sql, order, representative)
}

/// COUNT(DISTINCT ...) / SUM(DISTINCT ...): over the sharding key (mergeable
/// by adding), over other columns (must be refused or right), with and
/// without GROUP BY.
fn distinct_agg(rng: &mut Rng) -> Out {
    let t = *rng.pick(SHARDED);
    let qual = Qual::pick(rng);
    let q = |c: &str| qual.col(&t, c);
    let num_cols: Vec<&Col> = t
        .cols
        .iter()
        .filter(|c| matches!(c.kind, Kind::Int | Kind::Dec))
        .collect();
    let mut aggs = Vec::new();
    for _ in 0..rng.range(1, 2) {
        aggs.push(match rng.below(6) {
            0 | 1 => format!("COUNT(DISTINCT {})", q(t.key)),
            2 => format!("COUNT(DISTINCT {})", q(rng.pick(t.cols).name)),
            3 => format!("SUM(DISTINCT {})", q(rng.pick(&num_cols).name)),
            4 => format!("AVG(DISTINCT {})", q(rng.pick(&num_cols).name)),
            _ => format!("COUNT(DISTINCT {}, {})", q(t.key), q(rng.pick(t.cols).name)),
        });
    }
    let w = where_for(rng, &t, &q, 50);
    match rng.below(5) {
        0 => (
            format!("SELECT {} FROM {}{w}", aggs.join(", "), qual.from(&t)),
            OrderCheck::Total,
            false,
        ),
        3 => {
            // Distinct strings under `_ci` (and NULLs) per non-key group,
            // filtered and ordered on the distinct count.
            let strs: Vec<&str> = t
                .cols
                .iter()
                .filter(|c| c.kind == Kind::Str)
                .map(|c| c.name)
                .collect();
            let sc = if strs.is_empty() {
                t.key
            } else {
                *rng.pick(&strs[..])
            };
            let (g, s) = *rng.pick(group_keys(&t));
            let g = qualify_expr(g, &t, qual);
            (
                format!(
                    "SELECT {g}, COUNT(DISTINCT {}) AS d, COUNT(*) AS n FROM {}{w} GROUP BY {g} HAVING d > {} ORDER BY d{}, {g} LIMIT {}",
                    q(sc),
                    qual.from(&t),
                    rng.range(0, 2),
                    dir(rng),
                    rng.range(1, 10)
                ),
                OrderCheck::Total,
                s,
            )
        }
        4 => (
            // Nothing matches: one row, COUNT 0 and NULL averages.
            format!(
                "SELECT {}, COUNT(*) FROM {} WHERE {} IS NULL AND {} IS NOT NULL",
                aggs.join(", "),
                qual.from(&t),
                q(t.key),
                q(t.key)
            ),
            OrderCheck::Total,
            false,
        ),
        1 => {
            let (g, s) = *rng.pick(group_keys(&t));
            let g = qualify_expr(g, &t, qual);
            (
                format!(
                    "SELECT {g}, {} FROM {}{w} GROUP BY {g} ORDER BY {g}",
                    aggs.join(", "),
                    qual.from(&t)
                ),
                OrderCheck::Total,
                s,
            )
        }
        _ => {
            // Grouped by the sharding key: pushed down whole.
            let k = q(t.key);
            (
                format!(
                    "SELECT {k}, {} FROM {}{w} GROUP BY {k} ORDER BY {k} DESC LIMIT {}",
                    aggs.join(", "),
                    qual.from(&t),
                    rng.range(3, 30)
                ),
                OrderCheck::Total,
                false,
            )
        }
    }
}

/// HAVING: on groups that include the sharding key (whole in one shard) and
/// on partial groups / without GROUP BY (to be refused or right).
fn having(rng: &mut Rng) -> Out {
    let t = *rng.pick(&[USERS, ORDERS, ORDERS, ITEMS, EVENTS]);
    let qual = Qual::pick(rng);
    let q = |c: &str| qual.col(&t, c);
    let cond = |rng: &mut Rng, q: &dyn Fn(&str) -> String| -> String {
        let num = t
            .cols
            .iter()
            .filter(|c| matches!(c.kind, Kind::Int | Kind::Dec) && c.name != t.key)
            .map(|c| c.name)
            .collect::<Vec<_>>();
        let col = q(num[rng.below(num.len() as u64) as usize]);
        match rng.below(5) {
            0 => format!("COUNT(*) > {}", rng.range(0, 4)),
            1 => format!("SUM({col}) > {}", rng.pick(&["0", "100", "-1"])),
            2 => format!("MIN({col}) < {}", rng.pick(&["0", "50"])),
            3 => format!("COUNT({col}) >= {}", rng.range(1, 3)),
            _ => format!("AVG({col}) BETWEEN -100 AND 1000"),
        }
    };
    let w = where_for(rng, &t, &q, 60);
    match rng.below(10) {
        5..=8 => having_merged(rng, &t, qual),
        9 => {
            // HAVING over an empty (or nearly empty) result: every shard
            // may answer nothing.
            let h = cond(rng, &q);
            let (g, s) = *rng.pick(group_keys(&t));
            let g = qualify_expr(g, &t, qual);
            let filter = if rng.chance(50) { "1 = 0" } else { "1 = 1" };
            if rng.chance(50) {
                (
                    format!(
                        "SELECT COUNT(*) AS n, SUM({}) AS s FROM {} WHERE {filter} HAVING {h}",
                        q(t.key),
                        qual.from(&t)
                    ),
                    OrderCheck::Total,
                    false,
                )
            } else {
                (
                    format!("SELECT {g}, COUNT(*) AS n FROM {} WHERE {filter} GROUP BY {g} HAVING {h} ORDER BY {g}", qual.from(&t)),
                    OrderCheck::Total,
                    s,
                )
            }
        }
        0..=2 => {
            let k = q(t.key);
            let agg = num_aggregate(rng, &t, &q);
            let h = cond(rng, &q);
            let extra = if rng.chance(40) {
                format!(" AND {}", cond(rng, &q))
            } else {
                String::new()
            };
            let (ob, order) = match rng.below(3) {
                0 => (format!(" ORDER BY {k}{}", dir(rng)), OrderCheck::Total),
                1 => (
                    format!(" ORDER BY 2{}, {k} LIMIT {}", dir(rng), rng.range(1, 20)),
                    OrderCheck::Total,
                ),
                _ => (String::new(), OrderCheck::Unordered),
            };
            (
                format!(
                    "SELECT {k}, {agg} AS v FROM {}{w} GROUP BY {k} HAVING {h}{extra}{ob}",
                    qual.from(&t)
                ),
                order,
                false,
            )
        }
        3 => {
            let (g, s) = *rng.pick(group_keys(&t));
            let g = qualify_expr(g, &t, qual);
            (
                format!(
                    "SELECT {g}, COUNT(*) AS n FROM {}{w} GROUP BY {g} HAVING {} ORDER BY {g}",
                    qual.from(&t),
                    cond(rng, &q)
                ),
                OrderCheck::Total,
                s,
            )
        }
        _ => (
            format!(
                "SELECT COUNT(*) AS n FROM {}{w} HAVING {}",
                qual.from(&t),
                cond(rng, &q)
            ),
            OrderCheck::Total,
            false,
        ),
    }
}

/// GROUP_CONCAT on partial groups, in the forms whose answer is unique:
/// ordered by a unique key, or DISTINCT numbers ordered by themselves
/// (empty strings, Unicode, NULL values and groups). Separators,
/// DESC, NULL values and groups, with other aggregates, HAVING and LIMIT.
fn group_concat(rng: &mut Rng) -> Out {
    let t = *rng.pick(SHARDED);
    let qual = Qual::pick(rng);
    let q = |c: &str| qual.col(&t, c);
    let nums: Vec<&str> = t
        .cols
        .iter()
        .filter(|c| matches!(c.kind, Kind::Int | Kind::Dec))
        .map(|c| c.name)
        .collect();
    let any_col = rng.pick(t.cols).name;
    let sep = match rng.below(3) {
        0 => String::new(),
        1 => " SEPARATOR '|'".to_owned(),
        _ => " SEPARATOR ''".to_owned(),
    };
    let (gc, representative) = match rng.below(3) {
        0 | 1 => (
            format!(
                "GROUP_CONCAT({} ORDER BY {}{}{sep})",
                q(any_col),
                q("id"),
                dir(rng)
            ),
            false,
        ),
        _ => {
            // DISTINCT strings under `_ci` would pick representatives
            // inside one string, which the comparison cannot judge.
            let picked = *rng.pick(&nums[..]);
            let c = q(picked);
            (
                format!("GROUP_CONCAT(DISTINCT {c} ORDER BY {c}{}{sep})", dir(rng)),
                false,
            )
        }
    };
    let w = where_for(rng, &t, &q, 40);
    let from = qual.from(&t);
    match rng.below(4) {
        0 => (
            format!("SELECT {gc} AS gc, COUNT(*) FROM {from}{w}"),
            OrderCheck::Total,
            representative,
        ),
        1 => {
            let (g, s) = *rng.pick(group_keys(&t));
            let g = qualify_expr(g, &t, qual);
            let m = *rng.pick(&nums[..]);
            (
                format!(
                    "SELECT {g}, {gc} AS gc, MAX({}) AS m FROM {from}{w} GROUP BY {g} ORDER BY {g}",
                    q(m)
                ),
                OrderCheck::Total,
                s || representative,
            )
        }
        2 => {
            let (g, s) = *rng.pick(group_keys(&t));
            let g = qualify_expr(g, &t, qual);
            (
                format!(
                    "SELECT {g}, COUNT(*) AS n, {gc} AS gc FROM {from}{w} GROUP BY {g} HAVING n > {} ORDER BY n DESC, {g} LIMIT {}",
                    rng.range(0, 2),
                    rng.range(1, 8)
                ),
                OrderCheck::Total,
                s || representative,
            )
        }
        _ => (
            // With a DISTINCT count over the key: the shards group finer.
            format!(
                "SELECT {gc} AS gc, COUNT(DISTINCT {}) AS k FROM {from}{w}",
                q(t.key)
            ),
            OrderCheck::Total,
            representative,
        ),
    }
}

/// String literals near the data of a string group key (case and accent
/// variants, so that `_ci` comparisons matter).
fn str_lits(expr: &str) -> &'static [&'static str] {
    if expr.contains("city") {
        CITIES
    } else if expr.contains("status") {
        STATUSES
    } else if expr.contains("kind") {
        KINDS
    } else if expr.contains("sku") {
        SKUS
    } else if expr.contains("name") {
        NAMES
    } else {
        &["a", "M", "note 1", "zz", ""]
    }
}

/// HAVING on partial groups (GROUP BY not on the key): evaluated by the
/// proxy on the combined groups. Aggregates that appear only in HAVING
/// (hidden), select aliases, the group key (strings under `_ci`, NULL
/// groups), arithmetic with MySQL's types, three-valued logic.
fn having_merged(rng: &mut Rng, t: &Tab, qual: Qual) -> Out {
    let q = |c: &str| qual.col(t, c);
    let (g, s) = *rng.pick(group_keys(t));
    let gq = qualify_expr(g, t, qual);
    let nums: Vec<&str> = t
        .cols
        .iter()
        .filter(|c| matches!(c.kind, Kind::Int | Kind::Dec))
        .map(|c| c.name)
        .collect();
    let strs: Vec<&str> = t
        .cols
        .iter()
        .filter(|c| c.kind == Kind::Str)
        .map(|c| c.name)
        .collect();
    let agg = num_aggregate(rng, t, &q);
    let atom = |rng: &mut Rng| -> String {
        let picked = *rng.pick(&nums[..]);
        let col = q(picked);
        let small = rng.range(0, 4);
        match rng.below(if s { 24 } else { 19 }) {
            0 => format!("COUNT(*) > {small}"),
            1 => format!("n >= {small}"),
            2 => format!("v > {}", rng.pick(&["0", "10", "99.5", "-1", "1e2"])),
            3 => format!(
                "SUM({col}) / COUNT(*) > {}",
                rng.pick(&["1", "10.25", "50", "0.5e1"])
            ),
            4 => format!(
                "MAX({col}) - MIN({col}) >= {}",
                rng.pick(&["0", "5", "20.5"])
            ),
            5 => format!("COUNT(*) DIV 2 = {}", rng.range(0, 3)),
            6 => format!("COUNT(*) % 2 = {}", rng.range(0, 1)),
            7 => format!("AVG({col}) > {}", rng.pick(&["10.5", "20", "0", "33.3333"])),
            8 => format!("SUM({col} * 1e0) > {}", rng.pick(&["100", "0", "1000.5"])),
            9 => format!("MIN({col}) IS NULL"),
            10 => format!("MAX({col}) IS NOT NULL"),
            11 => format!("COUNT({col}) <=> COUNT(*)"),
            12 => format!(
                "AVG({col}) BETWEEN {} AND {}",
                rng.pick(&["-5", "0", "10.5"]),
                rng.pick(&["50", "100.25", "1e3"])
            ),
            13 => format!(
                "COUNT(*) IN ({}, {}, {})",
                rng.range(1, 3),
                rng.range(2, 5),
                rng.range(4, 9)
            ),
            14 => format!("COUNT(*) NOT IN ({}, NULL)", rng.range(1, 4)),
            15 => format!("SUM({col}) > NULL OR COUNT(*) > {small}"),
            16 => format!("-MIN({col}) < {}", rng.pick(&["0", "-10", "5"])),
            17 => format!("COUNT(*) * 2 + 1 > {}", rng.range(2, 9)),
            18 if !strs.is_empty() => {
                let sc = *rng.pick(&strs[..]);
                format!("MAX({}) >= {}", q(sc), lit(*rng.pick(str_lits(g))))
            }
            18 => format!("COUNT(*) > {small}"),
            19 => format!("{gq} = {}", lit(*rng.pick(str_lits(g)))),
            20 => format!(
                "{gq} IN ({}, {})",
                lit(*rng.pick(str_lits(g))),
                lit(*rng.pick(str_lits(g)))
            ),
            21 => format!("{gq} > {}", lit(*rng.pick(str_lits(g)))),
            22 => format!("{gq} IS NULL"),
            _ => format!("{gq} <> {}", lit(*rng.pick(str_lits(g)))),
        }
    };
    let mut cond = atom(rng);
    for _ in 0..rng.range(0, 2) {
        let op = *rng.pick(&["AND", "OR", "AND NOT", "OR NOT"]);
        cond = format!("({cond}) {op} {}", atom(rng));
    }
    if g == "created" && rng.chance(50) {
        cond = format!("({cond}) AND {gq} IS NOT NULL");
    }
    if rng.chance(20) {
        // DISTINCT aggregates used only by HAVING.
        let c = q(rng.pick(t.cols).name);
        let n = q(nums[rng.below(nums.len() as u64) as usize]);
        cond = match rng.below(3) {
            0 => format!("({cond}) OR COUNT(DISTINCT {c}) > {}", rng.range(0, 3)),
            1 => format!("({cond}) AND SUM(DISTINCT {n}) IS NOT NULL"),
            _ => format!(
                "({cond}) OR AVG(DISTINCT {n}) > {}",
                rng.pick(&["0", "10.5"])
            ),
        };
    }
    let w = where_for(rng, t, &q, 50);
    let from = qual.from(t);
    match rng.below(3) {
        0 => (
            format!("SELECT {gq}, {agg} AS v, COUNT(*) AS n FROM {from}{w} GROUP BY {gq} HAVING {cond} ORDER BY {gq}"),
            OrderCheck::Total,
            s,
        ),
        1 => (
            // ORDER BY an aggregate, LIMIT after HAVING.
            format!(
                "SELECT {gq}, {agg} AS v, COUNT(*) AS n FROM {from}{w} GROUP BY {gq} HAVING {cond} ORDER BY n{}, {gq} LIMIT {}",
                dir(rng),
                rng.range(1, 6)
            ),
            OrderCheck::Total,
            s,
        ),
        _ => (
            // The group key not selected; the order left to the proxy.
            format!("SELECT COUNT(*) AS n, {agg} AS v FROM {from}{w} GROUP BY {gq} HAVING {cond}"),
            OrderCheck::Unordered,
            false,
        ),
    }
}

/// Aggregates without GROUP BY, incl. over empty results and all-NULL
/// partials.
fn agg_no_group(rng: &mut Rng) -> Out {
    let t = *rng.pick(SHARDED);
    let qual = Qual::pick(rng);
    let q = |c: &str| qual.col(&t, c);
    let mut items = Vec::new();
    let mut representative = false;
    for _ in 0..rng.range(1, 5) {
        let (a, s) = aggregate(rng, &t, &q);
        representative |= s;
        items.push(a);
    }
    let w = match rng.below(6) {
        0 => " WHERE 1 = 0".to_owned(),
        1 => format!(" WHERE {} > 1e19", q("id")),
        _ => where_for(rng, &t, &q, 25),
    };
    let tail = match rng.below(8) {
        0 => " LIMIT 1".to_owned(),
        1 => " LIMIT 1 OFFSET 1".to_owned(),
        2 => " ORDER BY 1".to_owned(),
        _ => String::new(),
    };
    (
        format!(
            "SELECT {} FROM {}{w}{tail}",
            items.join(", "),
            qual.from(&t)
        ),
        OrderCheck::Total,
        representative,
    )
}

/// SELECT DISTINCT of one or two columns / expressions, ordered by all of
/// them (total) or not.
fn distinct(rng: &mut Rng) -> Out {
    let t = *rng.pick(SHARDED);
    let qual = Qual::pick(rng);
    let q = |c: &str| qual.col(&t, c);
    let cols: Vec<Col> = t.cols.iter().copied().filter(|c| c.name != "id").collect();
    let mut items = Vec::new();
    let mut representative = false;
    let n = rng.range(1, 2) as usize;
    for col in rng.sample(&cols, n) {
        let (e, k) = if rng.chance(70) {
            (q(col.name), col.kind)
        } else {
            expr_of(rng, &q(col.name), col.kind)
        };
        representative |= k == Kind::Str;
        items.push(e);
    }
    let w = where_for(rng, &t, &q, 50);
    let mut sql = format!(
        "SELECT DISTINCT {} FROM {}{w}",
        items.join(", "),
        qual.from(&t)
    );
    let order = match rng.below(4) {
        0 => OrderCheck::Unordered,
        1 => {
            let ob: Vec<String> = (1..=items.len())
                .map(|p| format!("{p}{}", dir(rng)))
                .collect();
            sql.push_str(&format!(" ORDER BY {}", ob.join(", ")));
            OrderCheck::Total
        }
        2 => {
            let ob: Vec<String> = items.iter().map(|e| format!("{e}{}", dir(rng))).collect();
            sql.push_str(&format!(
                " ORDER BY {}{}",
                ob.join(", "),
                limit_clause(rng, 40)
            ));
            OrderCheck::Total
        }
        _ => {
            // Ordered by a column it does not select (refused or right).
            sql.push_str(&format!(" ORDER BY {}", q(t.unique)));
            OrderCheck::Unordered
        }
    };
    (sql, order, representative)
}

/// Joins of bound tables on the sharding key (pushed down per slot), with
/// aggregates over the join, and a few joins not on the key (refused).
fn join_bound(rng: &mut Rng) -> Out {
    let w_u = |rng: &mut Rng| user_pred(rng, &|c: &str| format!("u.{c}"));
    let w_o = |rng: &mut Rng| order_pred(rng, &|c: &str| format!("o.{c}"));
    let w_i = |rng: &mut Rng| item_pred(rng, &|c: &str| format!("i.{c}"));
    match rng.below(9) {
        0 => {
            let join = if rng.chance(40) { "LEFT JOIN" } else { "JOIN" };
            (
                format!(
                    "SELECT u.id, u.name, o.id AS order_id, o.amount, o.status FROM users u {join} orders o ON o.user_id = u.id WHERE {} ORDER BY u.id{}, o.id{}{}",
                    w_u(rng),
                    dir(rng),
                    dir(rng),
                    if rng.chance(50) { limit_clause(rng, 300) } else { String::new() }
                ),
                OrderCheck::Total,
                false,
            )
        }
        1 => (
            format!(
                "SELECT o.id, o.user_id, i.sku, i.qty, i.price FROM orders o JOIN order_items i ON i.user_id = o.user_id AND i.order_id = o.id WHERE {} ORDER BY i.price{}, i.id LIMIT {}",
                w_i(rng),
                dir(rng),
                rng.range(1, 60)
            ),
            OrderCheck::Total,
            false,
        ),
        2 => (
            format!(
                "SELECT u.name, COUNT(*) AS n, SUM(i.qty) FROM users u JOIN orders o ON o.user_id = u.id JOIN order_items i ON i.user_id = o.user_id AND i.order_id = o.id WHERE {} GROUP BY u.id, u.name ORDER BY u.id",
                w_o(rng)
            ),
            OrderCheck::Total,
            false,
        ),
        3 => {
            let (g, s) = *rng.pick(&[
                ("u.city", true),
                ("u.region_id", false),
                ("o.status", true),
                ("YEAR(u.created)", false),
                ("u.name", true),
                ("DATE(o.created)", false),
            ]);
            let mut aggs = Vec::new();
            let mut repr = s;
            for _ in 0..rng.range(1, 4) {
                let (a, sm) = if rng.chance(50) {
                    aggregate(rng, &ORDERS, &|c: &str| format!("o.{c}"))
                } else {
                    aggregate(rng, &USERS, &|c: &str| format!("u.{c}"))
                };
                repr |= sm;
                aggs.push(a);
            }
            let w = if rng.chance(60) { format!(" WHERE {}", w_o(rng)) } else { String::new() };
            let join = if rng.chance(30) { "LEFT JOIN" } else { "JOIN" };
            let (ob, order) = match rng.below(3) {
                0 => (format!(" ORDER BY {g}{}", dir(rng)), OrderCheck::Total),
                1 => (format!(" ORDER BY 2 DESC, {g} LIMIT {}", rng.range(1, 6)), OrderCheck::Total),
                _ => (String::new(), OrderCheck::Unordered),
            };
            (
                format!(
                    "SELECT {g}, {} FROM users u {join} orders o ON o.user_id = u.id{w} GROUP BY {g}{ob}",
                    aggs.join(", ")
                ),
                order,
                repr,
            )
        }
        4 => (
            format!(
                "SELECT o.status, COUNT(DISTINCT o.user_id) AS buyers, COUNT(*) AS n FROM orders o JOIN users u ON u.id = o.user_id WHERE {} GROUP BY o.status ORDER BY n DESC, o.status",
                w_u(rng)
            ),
            OrderCheck::Total,
            true,
        ),
        5 => (
            format!(
                "SELECT u.id, u.score, o.amount FROM users u LEFT JOIN orders o ON o.user_id = u.id AND o.amount > {} WHERE {} ORDER BY o.amount{}, u.id, o.id",
                rng.pick(&["0", "100", "1e12"]),
                w_u(rng),
                dir(rng)
            ),
            OrderCheck::Total,
            false,
        ),
        6 => {
            // Not on the key: must be refused (or right).
            let on = rng.pick(&[
                "o.id = u.id",
                "o.user_id = u.region_id",
                "o.status = u.name",
                "o.user_id = u.id DIV 2",
            ]);
            (
                format!(
                    "SELECT u.id, o.id FROM users u JOIN orders o ON {on} ORDER BY u.id, o.id LIMIT 20"
                ),
                OrderCheck::Total,
                false,
            )
        }
        7 => (
            format!(
                "SELECT COUNT(*), SUM(i.qty * i.price), MIN(o.created), MAX(u.created) FROM users u JOIN orders o ON o.user_id = u.id JOIN order_items i ON i.order_id = o.id AND i.user_id = u.id WHERE {}",
                w_i(rng)
            ),
            OrderCheck::Total,
            false,
        ),
        _ => (
            format!(
                "SELECT u.id, (SELECT COUNT(*) FROM orders o WHERE o.user_id = u.id) AS n_orders FROM users u WHERE {} ORDER BY n_orders DESC, u.id LIMIT {}",
                w_u(rng),
                rng.range(1, 40)
            ),
            OrderCheck::Total,
            false,
        ),
    }
}

/// Sharded × broadcast joins (regions beside every shard); the
/// single-node table with the broadcast copy on its node; a sharded ×
/// single-node join (refused).
fn join_broadcast(rng: &mut Rng) -> Out {
    let w_u = |rng: &mut Rng| user_pred(rng, &|c: &str| format!("u.{c}"));
    match rng.below(9) {
        0 => {
            let join = if rng.chance(40) { "LEFT JOIN" } else { "JOIN" };
            (
                format!(
                    "SELECT u.id, u.name, r.name AS region, r.code FROM users u {join} regions r ON r.id = u.region_id WHERE {} ORDER BY r.name{}, u.id{}",
                    w_u(rng),
                    dir(rng),
                    if rng.chance(50) { limit_clause(rng, 150) } else { String::new() }
                ),
                OrderCheck::Total,
                false,
            )
        }
        1 => (
            format!(
                "SELECT r.name, COUNT(*) AS n, AVG(u.score), MIN(u.name) FROM users u JOIN regions r ON r.id = u.region_id GROUP BY r.name ORDER BY {}",
                rng.pick(&["r.name", "n DESC, r.name", "1 DESC"])
            ),
            OrderCheck::Total,
            true,
        ),
        2 => (
            // GROUP BY the broadcast table's id: `id` is not users' key here.
            "SELECT r.id, COUNT(*) AS n, SUM(u.score) FROM users u JOIN regions r ON r.id = u.region_id GROUP BY r.id ORDER BY r.id".to_owned(),
            OrderCheck::Total,
            false,
        ),
        3 => (
            format!(
                "SELECT COUNT(DISTINCT r.id) AS regions_used, COUNT(*) FROM users u JOIN regions r ON r.id = u.region_id{}",
                if rng.chance(50) { format!(" WHERE {}", w_u(rng)) } else { String::new() }
            ),
            OrderCheck::Total,
            false,
        ),
        4 => (
            format!(
                "SELECT o.id, o.amount, r.code FROM orders o JOIN users u ON u.id = o.user_id JOIN regions r ON r.id = u.region_id WHERE r.code {} ORDER BY o.amount{}, o.id LIMIT {}",
                rng.pick(&["= 'eu'", "IN ('AS', 'oc')", "IS NOT NULL", "LIKE 'e%'"]),
                dir(rng),
                rng.range(1, 80)
            ),
            OrderCheck::Total,
            false,
        ),
        5 => (
            format!(
                "SELECT e.id, e.kind, r.name FROM events e JOIN regions r ON r.id = e.points % 10 WHERE {} ORDER BY e.created_at{}, e.id",
                date_range(rng, "e.created_at"),
                dir(rng)
            ),
            OrderCheck::Total,
            false,
        ),
        6 => (
            // Single-node table with the broadcast copy of its node.
            format!(
                "SELECT s.k, s.v, r.name FROM settings s LEFT JOIN regions r ON r.id = s.n ORDER BY {}",
                rng.pick(&["s.k", "r.name, s.k", "s.n DESC, s.k"])
            ),
            OrderCheck::Total,
            false,
        ),
        7 => (
            // Sharded × single-node table on another node: refused.
            "SELECT u.id, s.v FROM users u JOIN settings s ON s.n = u.region_id ORDER BY u.id, s.k LIMIT 10".to_owned(),
            OrderCheck::Total,
            false,
        ),
        _ => (
            format!(
                "SELECT DISTINCT r.name FROM users u JOIN regions r ON r.id = u.region_id WHERE {} ORDER BY r.name",
                w_u(rng)
            ),
            OrderCheck::Total,
            true,
        ),
    }
}

/// Subqueries evaluable per shard (correlated on the key, or over the
/// broadcast table), derived tables, and ones that need every shard.
fn subquery(rng: &mut Rng) -> Out {
    let amt = *rng.pick(&["0", "10", "100", "1000"]);
    match rng.below(11) {
        0 => (
            format!(
                "SELECT u.id, u.name FROM users u WHERE {}EXISTS (SELECT 1 FROM orders o WHERE o.user_id = u.id AND o.amount > {amt}) ORDER BY u.id",
                if rng.chance(30) { "NOT " } else { "" }
            ),
            OrderCheck::Total,
            false,
        ),
        1 => (
            format!(
                "SELECT id, city FROM users WHERE id IN (SELECT user_id FROM orders WHERE status = {}) ORDER BY id",
                lit(rng.pick(STATUSES))
            ),
            OrderCheck::Total,
            false,
        ),
        2 => (
            format!(
                "SELECT u.id, u.region_id FROM users u WHERE u.region_id IN (SELECT r.id FROM regions r WHERE r.name LIKE {}) ORDER BY u.id",
                lit(rng.pick(&["E%", "%a", "A%", "ø%"]))
            ),
            OrderCheck::Total,
            false,
        ),
        3 => (
            "SELECT o.id, o.amount FROM orders o WHERE o.amount = (SELECT MAX(o2.amount) FROM orders o2 WHERE o2.user_id = o.user_id) ORDER BY o.id".to_owned(),
            OrderCheck::Total,
            false,
        ),
        4 => (
            format!(
                "SELECT d.user_id, d.n, d.total FROM (SELECT user_id, COUNT(*) AS n, SUM(amount) AS total FROM orders GROUP BY user_id) AS d WHERE d.n > {} ORDER BY d.user_id",
                rng.range(1, 5)
            ),
            OrderCheck::Total,
            false,
        ),
        5 => (
            // Needs every shard: refused, or right.
            "SELECT id, score FROM users WHERE score > (SELECT AVG(score) FROM users) ORDER BY id".to_owned(),
            OrderCheck::Total,
            false,
        ),
        6 => (
            // COUNT over a derived DISTINCT: per-shard counts do not add.
            format!(
                "SELECT COUNT(*) FROM (SELECT DISTINCT {} FROM orders) AS d",
                rng.pick(&["status", "note", "amount"])
            ),
            OrderCheck::Total,
            false,
        ),
        7 => (
            format!(
                "SELECT u.id, (SELECT MAX(o.amount) FROM orders o WHERE o.user_id = u.id) AS top FROM users u WHERE u.score IS NOT NULL ORDER BY top{}, u.id LIMIT {}",
                dir(rng),
                rng.range(1, 50)
            ),
            OrderCheck::Total,
            false,
        ),
        8 => (
            format!(
                "SELECT i.id, i.sku FROM order_items i WHERE i.order_id IN (SELECT o.id FROM orders o WHERE o.user_id = i.user_id AND o.status = {}) ORDER BY i.id",
                lit(rng.pick(STATUSES))
            ),
            OrderCheck::Total,
            false,
        ),
        9 => (
            // Derived table without the key: per-shard LIMIT is wrong.
            "SELECT d.id FROM (SELECT id FROM orders ORDER BY amount DESC, id LIMIT 5) AS d ORDER BY d.id".to_owned(),
            OrderCheck::Total,
            false,
        ),
        _ => (
            format!(
                "SELECT e.id FROM events e WHERE e.user_id IN (SELECT u.id FROM users u WHERE u.score > {amt}) AND {} ORDER BY e.id",
                date_range(rng, "e.created_at")
            ),
            OrderCheck::Total,
            false,
        ),
    }
}

/// UNION ALL (and UNION) of sharded branches of one layout, with a
/// broadcast branch, across layouts.
/// UNIONs whose branches need different targets (see `union_all`).
fn union_parts(rng: &mut Rng, all: &str) -> Out {
    let repr = all == "UNION";
    let w_u = user_pred(rng, &|c: &str| c.to_owned());
    let w_o = order_pred(rng, &|c: &str| c.to_owned());
    let w_e = event_pred(rng, &|c: &str| c.to_owned());
    match rng.below(9) {
        0 => {
            // Broadcast and sharded, either first; NULLs on both sides.
            let b = "SELECT id, name FROM regions".to_owned();
            let u = format!("SELECT region_id, city FROM users WHERE {w_u}");
            let (x, y) = if rng.chance(50) { (b, u) } else { (u, b) };
            (format!("{x} {all} {y}"), OrderCheck::Unordered, repr)
        }
        1 => (
            // Total order on (id, source), with OFFSET.
            format!(
                "SELECT id, 'r' AS src FROM regions WHERE id > {} {all} SELECT id, 'u' FROM users WHERE {w_u} ORDER BY 1{}, 2 LIMIT {} OFFSET {}",
                rng.range(0, 9),
                dir(rng),
                rng.range(1, 20),
                rng.range(0, 4)
            ),
            OrderCheck::Total,
            false,
        ),
        2 => (
            // Two layouts, ordered and limited.
            format!(
                "SELECT created_at AS t, id FROM events WHERE {w_e} {all} SELECT created, id FROM orders WHERE {w_o} ORDER BY t{}, id{} LIMIT {}",
                dir(rng),
                dir(rng),
                rng.range(1, 40)
            ),
            OrderCheck::Total,
            false,
        ),
        3 => (
            // Broadcast and two layouts; strings under a `_ci` collation.
            format!(
                "SELECT name FROM regions WHERE id > {} {all} SELECT kind FROM events WHERE {w_e} {all} SELECT city FROM users WHERE {w_u}",
                rng.range(0, 9)
            ),
            OrderCheck::Unordered,
            repr,
        ),
        4 => (
            // Empty branches (a broadcast one, a pruned one).
            format!(
                "SELECT id, code FROM regions WHERE id < 0 {all} SELECT id, kind FROM events WHERE created_at < '2000-01-01' {all} SELECT id, status FROM orders WHERE {w_o}"
            ),
            OrderCheck::Unordered,
            repr,
        ),
        5 => (
            // Types widened over the branches: DECIMAL(12,2) with INT,
            // VARCHAR(64), VARCHAR(16) and CHAR(2), a NULL-only column
            // first.
            format!(
                "SELECT NULL AS n, score, city FROM users WHERE {w_u} {all} SELECT user_id, points, kind FROM events WHERE {w_e} {all} SELECT id, NULL, code FROM regions"
            ),
            OrderCheck::Unordered,
            repr,
        ),
        6 => (
            // Case-insensitive strings ordered across broadcast and
            // sharded branches (ties: any order of equal keys).
            format!(
                "SELECT name FROM regions {all} SELECT kind FROM events WHERE {w_e} ORDER BY 1{}",
                dir(rng)
            ),
            OrderCheck::Keys(vec![0]),
            true,
        ),
        7 => (
            // A pinned branch of one layout with a scattered one of another.
            format!(
                "SELECT id, name FROM users WHERE id = {} {all} SELECT id, kind FROM events WHERE {w_e} ORDER BY 1{}, 2 LIMIT {}",
                rng.range(-3, 60),
                dir(rng),
                rng.range(1, 30)
            ),
            OrderCheck::Total,
            false,
        ),
        _ => (
            // Several branches of each kind.
            format!(
                "SELECT id FROM regions {all} SELECT region_id FROM users WHERE {w_u} {all} SELECT points FROM events WHERE {w_e} {all} SELECT id FROM regions WHERE id < 3"
            ),
            OrderCheck::Unordered,
            false,
        ),
    }
}

fn union_all(rng: &mut Rng) -> Out {
    let w_u = user_pred(rng, &|c: &str| c.to_owned());
    let w_o = order_pred(rng, &|c: &str| c.to_owned());
    let all = if rng.chance(80) { "UNION ALL" } else { "UNION" };
    let repr = all == "UNION";
    // Draws 0..9 are the branches sharing their targets (and the first
    // broadcast/layout cases); 9.. are branches planned separately: a
    // broadcast branch next to scattered ones, several layouts, empty
    // branches, NULL columns, types widened over the branches.
    if rng.chance(45) {
        return union_parts(rng, all);
    }
    match rng.below(9) {
        6 => (
            // Ordered by the first SELECT's names, with OFFSET.
            format!(
                "SELECT id AS k, amount AS a FROM orders WHERE {w_o} {all} SELECT id, score FROM users WHERE {w_u} ORDER BY a{}, k DESC LIMIT {} OFFSET {}",
                dir(rng),
                rng.range(1, 25),
                rng.range(0, 5)
            ),
            OrderCheck::Total,
            false,
        ),
        7 => (
            // Strings under a `_ci` collation, NULLs first; no LIMIT.
            format!(
                "SELECT city FROM users WHERE {w_u} {all} SELECT note FROM orders WHERE {w_o} ORDER BY 1{}",
                dir(rng)
            ),
            OrderCheck::Keys(vec![0]),
            true,
        ),
        8 => (
            // Decimals of two types; the order is total on (amount, id).
            format!(
                "SELECT amount, id FROM orders WHERE {w_o} {all} SELECT price, id FROM order_items WHERE {} ORDER BY amount{}, id{} LIMIT {}",
                item_pred(rng, &|c: &str| c.to_owned()),
                dir(rng),
                dir(rng),
                rng.range(1, 40)
            ),
            OrderCheck::Total,
            false,
        ),
        0 | 1 => (
            format!(
                "SELECT id, name FROM users WHERE {w_u} {all} SELECT user_id, status FROM orders WHERE {w_o}"
            ),
            OrderCheck::Unordered,
            repr,
        ),
        2 => (
            format!(
                "SELECT user_id, amount FROM orders WHERE {w_o} {all} SELECT user_id, price FROM order_items WHERE {}",
                item_pred(rng, &|c: &str| c.to_owned())
            ),
            OrderCheck::Unordered,
            false,
        ),
        3 => (
            // A broadcast branch must appear once, not once per shard.
            format!("SELECT name FROM regions {all} SELECT city FROM users WHERE {w_u}"),
            OrderCheck::Unordered,
            true,
        ),
        4 => (
            // Two layouts in one statement.
            format!(
                "SELECT id, kind FROM events WHERE {} {all} SELECT id, name FROM users WHERE {w_u}",
                date_range(rng, "created_at")
            ),
            OrderCheck::Unordered,
            repr,
        ),
        _ => (
            // ORDER BY / LIMIT on the whole union.
            format!(
                "SELECT id, amount FROM orders WHERE {w_o} {all} SELECT id, score FROM users WHERE {w_u} ORDER BY 2{}, 1 LIMIT {}",
                dir(rng),
                rng.range(1, 30)
            ),
            OrderCheck::Total,
            false,
        ),
    }
}

fn some_user_id(rng: &mut Rng) -> i64 {
    if rng.chance(30) {
        *rng.pick(SPECIAL_USER_IDS)
    } else {
        rng.range(1, 195)
    }
}

/// Keyed queries reaching one shard: everything the server does itself
/// (HAVING, DISTINCT aggregates, window functions...) must pass through.
/// Also the single-node table and broadcast-only reads.
fn single_shard(rng: &mut Rng) -> Out {
    let id = some_user_id(rng);
    let ts = *rng.pick(DATETIME_EDGES);
    match rng.below(11) {
        0 => (format!("SELECT * FROM users WHERE id = {id}"), OrderCheck::Total, false),
        1 => (
            format!(
                "SELECT id, amount, status FROM orders WHERE user_id = {id} ORDER BY amount{}, id LIMIT 3",
                dir(rng)
            ),
            OrderCheck::Total,
            false,
        ),
        2 => (
            format!(
                "SELECT status, COUNT(*), SUM(amount), AVG(amount), COUNT(DISTINCT note) FROM orders WHERE user_id = {id} GROUP BY status HAVING COUNT(*) >= 1 ORDER BY status"
            ),
            OrderCheck::Total,
            true,
        ),
        3 => (
            format!(
                "SELECT u.name, o.id, i.sku, i.qty FROM users u JOIN orders o ON o.user_id = u.id JOIN order_items i ON i.user_id = o.user_id AND i.order_id = o.id WHERE u.id = {id} ORDER BY o.id, i.id"
            ),
            OrderCheck::Total,
            false,
        ),
        4 => (
            format!(
                "SELECT id, amount, SUM(amount) OVER (ORDER BY id) AS running FROM orders WHERE user_id = {id} ORDER BY id"
            ),
            OrderCheck::Total,
            false,
        ),
        5 => (
            format!(
                "SELECT * FROM settings WHERE {} ORDER BY k",
                rng.pick(&["n > 5", "v IS NULL", "k LIKE 'T%'", "1 = 1"])
            ),
            OrderCheck::Total,
            false,
        ),
        6 => (
            format!(
                "SELECT * FROM regions ORDER BY {}",
                rng.pick(&["id", "name", "code DESC, id"])
            ),
            OrderCheck::Total,
            false,
        ),
        7 => (
            format!("SELECT id, kind, points FROM events WHERE created_at = '{ts}' ORDER BY id"),
            OrderCheck::Total,
            false,
        ),
        8 => (
            format!(
                "SELECT name, city, score FROM users WHERE id = {id} OR id = {}",
                id.wrapping_add(4)
            ),
            OrderCheck::Unordered,
            false,
        ),
        9 => (
            format!(
                "SELECT COUNT(*), MIN(created), MAX(amount), GROUP_CONCAT(status ORDER BY id) FROM orders WHERE user_id = {id}"
            ),
            OrderCheck::Total,
            false,
        ),
        _ => (
            format!("SELECT COUNT(*), MAX(name) FROM users WHERE id = '{id}'"),
            OrderCheck::Total,
            true,
        ),
    }
}

/// IN lists of keys (split per shard), NOT IN, duplicates, misses, string
/// literals, with ORDER BY / aggregates.
fn in_list(rng: &mut Rng) -> Out {
    let n = rng.range(1, 8) as usize;
    let mut ids: Vec<i64> = (0..n).map(|_| some_user_id(rng)).collect();
    if rng.chance(20) {
        ids.push(ids[0]);
    }
    if rng.chance(20) {
        ids.push(99_999);
    }
    let list = ids
        .iter()
        .map(|i| {
            if rng.chance(10) {
                format!("'{i}'")
            } else {
                i.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(", ");
    let not = if rng.chance(12) { "NOT " } else { "" };
    match rng.below(6) {
        0 => (
            format!(
                "SELECT id, name, score FROM users WHERE id {not}IN ({list}) ORDER BY name{}, id",
                dir(rng)
            ),
            OrderCheck::Total,
            false,
        ),
        1 => (
            format!(
                "SELECT user_id, COUNT(*), SUM(amount), MAX(created) FROM orders WHERE user_id {not}IN ({list}) GROUP BY user_id ORDER BY user_id"
            ),
            OrderCheck::Total,
            false,
        ),
        2 => (
            format!(
                "SELECT status, COUNT(*), AVG(amount) FROM orders WHERE user_id {not}IN ({list}) GROUP BY status ORDER BY status"
            ),
            OrderCheck::Total,
            true,
        ),
        3 => (
            format!(
                "SELECT COUNT(*), SUM(score), AVG(score), MIN(city), MAX(created) FROM users WHERE id {not}IN ({list})"
            ),
            OrderCheck::Total,
            true,
        ),
        4 => (
            format!(
                "SELECT o.id, o.amount, i.qty FROM orders o JOIN order_items i ON i.user_id = o.user_id AND i.order_id = o.id WHERE o.user_id {not}IN ({list}) ORDER BY o.amount{}, i.id LIMIT {}",
                dir(rng),
                rng.range(1, 30)
            ),
            OrderCheck::Total,
            false,
        ),
        _ => (
            format!(
                "SELECT id, user_id, kind FROM events WHERE user_id IN ({list}) AND created_at {not}IN ('2026-01-01 00:00:00', '2026-07-01 00:00:00', '2026-06-30 23:59:59') ORDER BY id"
            ),
            OrderCheck::Total,
            false,
        ),
    }
}

/// Ranges on events by date: pruning on month and node edges, with
/// ordering, limits and aggregates.
fn events_range(rng: &mut Rng) -> Out {
    let r = date_range(rng, "created_at");
    match rng.below(6) {
        0 => (
            format!("SELECT id, created_at, kind FROM events WHERE {r} ORDER BY created_at{}, id", dir(rng)),
            OrderCheck::Total,
            false,
        ),
        1 => (
            format!(
                "SELECT id, created_at FROM events WHERE {r} ORDER BY created_at{}, id{} LIMIT {}",
                dir(rng),
                dir(rng),
                rng.range(1, 50)
            ),
            OrderCheck::Total,
            false,
        ),
        2 => (
            format!(
                "SELECT COUNT(*), MIN(created_at), MAX(created_at), SUM(points), AVG(points) FROM events WHERE {r}"
            ),
            OrderCheck::Total,
            false,
        ),
        3 => (
            format!(
                "SELECT DATE(created_at) AS d, COUNT(*) FROM events WHERE {r} GROUP BY d ORDER BY d{}",
                dir(rng)
            ),
            OrderCheck::Total,
            false,
        ),
        4 => (
            format!(
                "SELECT kind, COUNT(*) AS n, MAX(points) FROM events WHERE {r} GROUP BY kind ORDER BY n DESC, kind"
            ),
            OrderCheck::Total,
            true,
        ),
        _ => (
            format!(
                "SELECT created_at, COUNT(*) FROM events WHERE {r} GROUP BY created_at HAVING COUNT(*) > 1 ORDER BY created_at"
            ),
            OrderCheck::Total,
            false,
        ),
    }
}
