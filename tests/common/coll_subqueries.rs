//! Differential collation matrix, part 1b: uncorrelated subqueries over
//! the schema of `coll_data.rs` (IN, NOT IN, EXISTS, scalar) that shardcat
//! runs first and substitutes.
//!
//! Owns: the subquery queries. Must not define the schema or run anything.
//!
//! Include with `#[path = "common/coll_subqueries.rs"] mod coll_subqueries;`
//! next to `coll_data`.

use crate::coll_data::{q, Check, CollQuery};

/// Uncorrelated subqueries not tied by the sharding key (shardcat runs
/// them first and puts their answer into the statement): `IN`, `NOT IN`,
/// `EXISTS`, `NOT EXISTS` over key `k` of tables `outer`/`inner` (whose
/// column or expression `g` takes values 0..4), with and without NULLs in
/// the subquery's answer, empty answers, the sharding key as the outer
/// column (the list prunes shards), MIN/MAX and COUNT items, a nested
/// subquery, a correlated one (refused), and scalar subqueries.
pub fn subquery_queries(fam: &str, outer: &str, inner: &str, k: &str, g: &str) -> Vec<CollQuery> {
    let mut v = Vec::new();
    let mut add = |sql: String| v.push(q(fam, sql, Check::Total, vec![None, None]));
    let filters = [
        format!("{g} = 1"),
        format!("{g} = 2 AND {k} IS NOT NULL"),
        "id % 7 = 3".to_owned(),
        format!("{g} > 5"),
    ];
    for filter in &filters {
        for not in ["", "NOT "] {
            add(format!(
                "SELECT id, {k} FROM {outer} WHERE {k} {not}IN (SELECT {k} FROM {inner} WHERE {filter}) ORDER BY id"
            ));
            add(format!(
                "SELECT id, {k} FROM {outer} WHERE id < 60 AND {not}EXISTS (SELECT 1 FROM {inner} WHERE {filter}) ORDER BY id"
            ));
        }
    }
    add(format!(
        "SELECT id, {k} FROM {outer} WHERE id IN (SELECT id + 1 FROM {inner} WHERE {g} = 3 AND id < 40) ORDER BY id"
    ));
    add(format!(
        "SELECT id, {k} FROM {outer} WHERE {k} IN (SELECT DISTINCT {k} FROM {inner} WHERE {g} = 0 ORDER BY {k} LIMIT 3) OR id = 5 ORDER BY id"
    ));
    add(format!(
        "SELECT id, {k} FROM {outer} WHERE {k} = ANY (SELECT MAX({k}) FROM {inner} GROUP BY {g}) ORDER BY id"
    ));
    add(format!(
        "SELECT id, {k} FROM {outer} WHERE {k} IN (SELECT MIN({k}) FROM {inner} GROUP BY {g}) ORDER BY id"
    ));
    add(format!(
        "SELECT id, {k} FROM {outer} WHERE id IN (SELECT COUNT(*) FROM {inner} GROUP BY {g}) ORDER BY id"
    ));
    add(format!(
        "SELECT id, {k} FROM {outer} WHERE {k} IN (SELECT {k} FROM {inner} WHERE id IN (SELECT id FROM {outer} WHERE {g} = 1 AND id % 3 = 0)) ORDER BY id"
    ));
    add(format!(
        "SELECT id % 4 AS m, COUNT(*) FROM {outer} WHERE {k} NOT IN (SELECT {k} FROM {inner} WHERE {g} = 1 AND {k} IS NOT NULL) GROUP BY m ORDER BY m"
    ));
    add(format!(
        "SELECT id, {k} FROM {outer} o WHERE o.{k} IN (SELECT i.{k} FROM {inner} i WHERE i.id = o.id + 1 AND i.id < 9) ORDER BY id"
    ));
    // Scalar subqueries: one value, none (NULL), several (error 1242).
    add(format!(
        "SELECT id, {k} FROM {outer} WHERE {k} = (SELECT MAX({k}) FROM {inner} WHERE {g} = 1) ORDER BY id"
    ));
    add(format!(
        "SELECT id, {k} FROM {outer} WHERE {k} > (SELECT {k} FROM {inner} WHERE {g} = 2 AND {k} IS NOT NULL ORDER BY {k} DESC, id LIMIT 2, 1) ORDER BY id"
    ));
    add(format!(
        "SELECT id, {k} FROM {outer} WHERE id < 50 AND {k} <=> (SELECT {k} FROM {inner} WHERE {g} > 5) ORDER BY id"
    ));
    add(format!(
        "SELECT id, {k} FROM {outer} WHERE {k} = (SELECT {k} FROM {inner} WHERE {g} = 1) ORDER BY id"
    ));
    v
}
