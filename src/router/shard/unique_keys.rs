//! Unique keys that the shards cannot enforce: a `PRIMARY KEY` or `UNIQUE`
//! key of a sharded table that does not contain the sharding key (and, for
//! a composite table, its period column) is unique per physical table only (two shards each accept the same value, and
//! `INSERT … ON DUPLICATE KEY UPDATE` inserts a second row on another
//! shard). Read from a `CREATE TABLE` text: `shardcat check` warns for the
//! DDL in routing cases, the proxy logs a warning when such DDL runs
//! through it.
//!
//! Owns: finding those keys in a statement. Must not plan or refuse the
//! DDL (it is legal; the warning is advice).

use crate::sql::ast::{ColumnOption, CreateTable, Expr, IndexColumn, Statement, TableConstraint};

use super::ShardRouter;

impl ShardRouter {
    /// For `CREATE TABLE t …` with `t` a sharded table: one message per
    /// PRIMARY KEY / UNIQUE key without its sharding key. Empty for any
    /// other statement (or one that does not parse).
    pub fn unique_key_warnings(&self, sql: &str, schema: Option<&str>) -> Vec<String> {
        let Ok(statements) = crate::sql::parse(sql) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for s in &statements {
            let Statement::CreateTable(ct) = s else {
                continue;
            };
            let Some(name) = ct.name.0.last().and_then(|p| p.as_ident()) else {
                continue;
            };
            let qualifier = (ct.name.0.len() > 1)
                .then(|| ct.name.0[0].as_ident().map(|i| i.value.as_str()))
                .flatten();
            let Some(t) = self.find_table(qualifier.or(schema), &name.value) else {
                continue;
            };
            let Some(sharded) = self.tables[t].sharded() else {
                continue;
            };
            // A composite table's key is (sharding key, period column).
            let period = sharded.root.composite().map(|c| c.period.key.as_str());
            for (what, columns) in unique_keys(ct) {
                let has = |name: &str| columns.iter().any(|c| c.eq_ignore_ascii_case(name));
                if let Some(period) = period.filter(|p| has(&sharded.key) && !has(p)) {
                    out.push(format!(
                        "`{}`: {what} ({}) does not contain the period column `{period}`: each physical table (one per key slot and period) enforces it for its own rows only; add `{period}` to the key",
                        self.tables[t].name,
                        columns.join(", "),
                    ));
                }
                if !has(&sharded.key) {
                    out.push(format!(
                        "`{}`: {what} ({}) does not contain the sharding key `{}`: each shard enforces it for its own rows only (the same value can exist on two shards, and INSERT … ON DUPLICATE KEY UPDATE inserts a second row); add `{}` to the key, or keep the value unique by other means (a global id generator)",
                        self.tables[t].name,
                        columns.join(", "),
                        sharded.key,
                        sharded.key
                    ));
                }
            }
        }
        out
    }
}

/// The PRIMARY KEY and UNIQUE keys of a CREATE TABLE: (kind, column names).
fn unique_keys(ct: &CreateTable) -> Vec<(&'static str, Vec<String>)> {
    let mut out = Vec::new();
    for c in &ct.columns {
        for o in &c.options {
            match &o.option {
                ColumnOption::PrimaryKey(_) => {
                    out.push(("PRIMARY KEY", vec![c.name.value.clone()]))
                }
                ColumnOption::Unique(_) => out.push(("UNIQUE key", vec![c.name.value.clone()])),
                _ => {}
            }
        }
    }
    let names = |cols: &[IndexColumn]| -> Vec<String> {
        cols.iter()
            .map(|i| match &i.column.expr {
                Expr::Identifier(id) => id.value.clone(),
                e => e.to_string(),
            })
            .collect()
    };
    for k in &ct.constraints {
        match k {
            TableConstraint::PrimaryKey(p) => out.push(("PRIMARY KEY", names(&p.columns))),
            TableConstraint::Unique(u) => out.push(("UNIQUE key", names(&u.columns))),
            _ => {}
        }
    }
    out
}
