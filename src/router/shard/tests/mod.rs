//! Planning tests on the shop example (rules/shop.toml) plus a range table
//! and a string-keyed table.
//!
//! Owns: the shared test configuration and helpers (`plan`, `error`,
//! `targets`, `one`, `tables`, `merge`); one file per feature below.
//! Must not hold tests itself.

use super::*;
use crate::config::Config;
use crate::placement::ParamValue;

const EXTRA: &str = r#"
[[table]]
name = "accounts"
key = "id"
key_type = "int"
algorithm = { kind = "range", bounds = [100, 200, 300] }
nodes = ["n1", "n2"]
tables_per_node = 2

[[table]]
name = "tags"
key = "name"
key_type = "string"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]

[[table]]
name = "visits"
key = "user_id"
key_type = "int"
algorithm = { kind = "hash_mod" }
nodes = ["n1", "n2"]
tables_per_node = 2
period = { key = "at", key_type = "datetime", unit = "month", start = "2026-01", horizon = 8 }
"#;

fn config(extra_edit: impl Fn(String) -> String) -> Config {
    let text = extra_edit(format!(
        "{}{EXTRA}",
        include_str!("../../../../rules/shop.toml")
    ));
    Config::parse(&text, std::path::Path::new("shop.toml")).expect("valid test config")
}

fn shop() -> Config {
    config(|t| t)
}

fn plan_with(
    cfg: &Config,
    sql: &str,
    params: &[ParamValue<'_>],
) -> Result<Option<ShardPlan>, RouteError> {
    let planned = cfg.sharding.plan(sql, Some("shop"), params);
    // Every text statement of these tests also checks that planning its
    // shape (literals as placeholders) gives what planning the text gives.
    let shaped = super::shape::scan(sql, |_| true).shape.is_some();
    if params.is_empty() && shaped {
        let exact = cfg.sharding.plan_exact(sql, Some("shop"));
        assert_eq!(planned, exact, "shape plan differs from text plan: {sql}");
    }
    planned
}

fn plan(sql: &str) -> ShardPlan {
    plan_p(sql, &[])
}

fn plan_p(sql: &str, params: &[ParamValue<'_>]) -> ShardPlan {
    match plan_with(&shop(), sql, params) {
        Ok(Some(p)) => p,
        other => panic!("{sql}: {other:?}"),
    }
}

fn error(sql: &str) -> String {
    match plan_with(&shop(), sql, &[]) {
        Err(e) => e.0,
        other => panic!("{sql}: expected an error, got {other:?}"),
    }
}

/// `sql` without the hidden columns (`, … AS `__shardcat_hN``) the merge
/// adds: what the client's statement becomes on the shards otherwise.
fn strip_hidden(sql: &str) -> String {
    let mut out = sql.to_owned();
    while let Some(at) = out.find(" AS `__shardcat_h") {
        let end = at + out[at + 5..].find('`').map_or(out.len() - at, |e| e + 6);
        let mut depth = 0i32;
        let mut start = None;
        for (i, c) in out[..at].char_indices().rev() {
            match c {
                ')' => depth += 1,
                '(' => depth -= 1,
                ',' if depth == 0 => {
                    start = Some(i);
                    break;
                }
                _ => {}
            }
        }
        let Some(start) = start else { break };
        out.replace_range(start..end, "");
    }
    out
}

/// (node name, sql) of each target without hidden columns, in plan order.
fn visible_targets(p: &ShardPlan) -> Vec<(String, String)> {
    targets(p)
        .into_iter()
        .map(|(n, s)| (n, strip_hidden(&s)))
        .collect()
}

/// (node name, sql) of each target, in plan order.
fn targets(p: &ShardPlan) -> Vec<(String, String)> {
    p.targets
        .iter()
        .map(|t| (["n1", "n2"][t.node].to_owned(), t.sql.clone()))
        .collect()
}

fn t(node: &str, sql: &str) -> (String, String) {
    (node.to_owned(), sql.to_owned())
}

fn one(sql: &str) -> (String, String) {
    let p = plan(sql);
    assert_eq!(p.targets.len(), 1, "{sql}: {p:#?}");
    targets(&p).remove(0)
}

/// The physical tables each target reads, for pruning tests.
fn tables(sql: &str) -> Vec<String> {
    plan(sql)
        .targets
        .iter()
        .flat_map(|t| t.tables.iter().cloned())
        .collect()
}

fn merge(sql: &str) -> MergeSpec {
    let m = plan(sql).merge.unwrap_or_else(|| panic!("{sql}: no merge"));
    std::sync::Arc::unwrap_or_clone(m)
}

mod composite;
mod insert_selects;
mod inserts;
mod joins_subqueries;
mod merge_specs;
mod point_plans;
mod point_routing;
mod prepared;
mod pull_outs;
mod range_plans;
mod render;
mod router;
mod scatter_memo;
mod table_kinds;
mod unions;
mod updates_and_ddl;
