//! Routing test cases: `[[case]]` entries (in the configuration itself or
//! in `<config>.cases.toml` next to it) that `shardcat check` plans and
//! compares with what the DBA expects.
//!
//! ```toml
//! [[case]]
//! name = "point read"                  # optional
//! sql = "SELECT * FROM orders WHERE user_id = 7"
//! schema = "shop"                      # optional current database
//! params = [7]                         # optional `?` values (integers, strings, floats, booleans)
//! kind = "single"                      # optional: unsharded, single, scatter, broadcast, broadcast_read, ddl
//! targets = [{ node = "n2", sql = "SELECT * FROM orders_5 WHERE user_id = 7" }]
//! merge = "limit=10"                   # optional: substring of the merge description
//!
//! [[case]]
//! sql = "UPDATE users SET id = 3 WHERE id = 2"
//! error = "sharding key"               # the statement must be refused with this in the message
//!
//! [[case]]
//! sql = "SELECT 1"
//! passthrough = true                   # no rule table: routed by schema as before
//! ```
//!
//! Targets compare as a set of (node, SQL); `{id}` in an expected SQL
//! matches a generated id.

use serde::Deserialize;
use toml::Spanned;

use crate::placement::ParamValue;

use super::{describe_merge, PlanKind, ShardPlan, ShardRouter};

/// One routing test case.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    #[serde(default)]
    pub name: Option<String>,
    pub sql: Spanned<String>,
    #[serde(default)]
    pub schema: Option<String>,
    #[serde(default)]
    pub params: Vec<toml::Value>,
    #[serde(default)]
    pub kind: Option<String>,
    #[serde(default)]
    pub targets: Option<Vec<CaseTarget>>,
    #[serde(default)]
    pub merge: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub passthrough: bool,
}

/// An expected target.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseTarget {
    pub node: String,
    pub sql: String,
}

/// A `*.cases.toml` file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CasesFile {
    #[serde(default, rename = "case")]
    pub cases: Vec<Case>,
}

/// The outcome of one case.
#[derive(Debug, Clone)]
pub struct CaseResult {
    /// 1-based line of the case's `sql` in its file (0 when unknown).
    pub line: usize,
    pub label: String,
    pub ok: bool,
    /// What differed (empty when ok).
    pub detail: Vec<String>,
    /// Advice that does not fail the case (a unique key the shards cannot
    /// enforce).
    pub warnings: Vec<String>,
}

fn kind_name(kind: &PlanKind) -> &'static str {
    match kind {
        PlanKind::Unsharded { .. } => "unsharded",
        PlanKind::Single => "single",
        PlanKind::Scatter => "scatter",
        PlanKind::Broadcast => "broadcast",
        PlanKind::BroadcastRead { .. } => "broadcast_read",
        PlanKind::Ddl => "ddl",
        PlanKind::KeyMove(_) => "key_move",
    }
}

/// Whether `actual` matches `expected`, where `{id}` matches digits.
pub fn sql_matches(expected: &str, actual: &str) -> bool {
    let mut parts = expected.split("{id}");
    let Some(first) = parts.next() else {
        return expected == actual;
    };
    let Some(mut rest) = actual.strip_prefix(first) else {
        return false;
    };
    for part in parts {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        match rest.strip_prefix(part) {
            Some(r) => rest = r,
            None => return false,
        }
    }
    rest.is_empty()
}

fn param_bytes(values: &[toml::Value]) -> Result<Vec<Vec<u8>>, String> {
    values
        .iter()
        .map(|v| match v {
            toml::Value::String(s) => Ok(s.clone().into_bytes()),
            toml::Value::Datetime(d) => Ok(d.to_string().into_bytes()),
            toml::Value::Integer(_) | toml::Value::Float(_) | toml::Value::Boolean(_) => {
                Ok(Vec::new())
            }
            other => Err(format!(
                "parameter {other} is not an integer, float, boolean, string or date"
            )),
        })
        .collect()
}

fn to_params<'a>(values: &[toml::Value], bytes: &'a [Vec<u8>]) -> Vec<ParamValue<'a>> {
    values
        .iter()
        .zip(bytes)
        .map(|(v, b)| match v {
            toml::Value::Integer(i) => ParamValue::Int(*i),
            toml::Value::Float(f) => ParamValue::Double(*f),
            toml::Value::Boolean(x) => ParamValue::Int(i64::from(*x)),
            _ => ParamValue::Bytes(b),
        })
        .collect()
}

/// Runs `cases` against `router`; `text` is the file they came from (for
/// line numbers).
pub fn run(router: &ShardRouter, cases: &[Case], text: &str) -> Vec<CaseResult> {
    cases.iter().map(|c| run_one(router, c, text)).collect()
}

fn run_one(router: &ShardRouter, case: &Case, text: &str) -> CaseResult {
    let line = crate::config::line_of(text, case.sql.span().start);
    let sql = case.sql.get_ref();
    let label = case.name.clone().unwrap_or_else(|| super::quote_sql(sql));
    let mut detail = Vec::new();
    let bytes = match param_bytes(&case.params) {
        Ok(b) => b,
        Err(e) => {
            return CaseResult {
                line,
                label,
                ok: false,
                detail: vec![e],
                warnings: Vec::new(),
            }
        }
    };
    let params = to_params(&case.params, &bytes);
    match router.plan(sql, case.schema.as_deref(), &params) {
        Err(e) => match &case.error {
            Some(want) if e.0.contains(want.as_str()) => {}
            Some(want) => detail.push(format!(
                "expected an error containing {want:?}, got: {}",
                e.0
            )),
            None => detail.push(format!("unexpected error: {}", e.0)),
        },
        Ok(None) => {
            if !case.passthrough {
                detail.push(
                    "no sharding plan (the statement names no table with a rule: routed by schema)"
                        .to_owned(),
                );
            }
        }
        Ok(Some(plan)) => compare(router, case, &plan, &mut detail),
    }
    CaseResult {
        line,
        label,
        ok: detail.is_empty(),
        detail,
        warnings: router.unique_key_warnings(sql, case.schema.as_deref()),
    }
}

fn compare(router: &ShardRouter, case: &Case, plan: &ShardPlan, detail: &mut Vec<String>) {
    if let Some(want) = &case.error {
        detail.push(format!("expected an error containing {want:?}, got a plan"));
    }
    if case.passthrough {
        detail.push("expected passthrough (no sharding plan), got a plan".to_owned());
    }
    if let Some(kind) = &case.kind {
        let got = kind_name(&plan.kind);
        if !kind.eq_ignore_ascii_case(got) {
            detail.push(format!("kind: expected {kind}, got {got}"));
        }
    }
    if let Some(want) = &case.merge {
        let got = plan
            .merge
            .as_ref()
            .map(|m| describe_merge(m))
            .unwrap_or_else(|| "none".to_owned());
        if !got.contains(want.as_str()) {
            detail.push(format!("merge: expected {want:?} in {got:?}"));
        }
    }
    let Some(expected) = &case.targets else {
        return;
    };
    let mut actual: Vec<(String, String)> = plan
        .targets
        .iter()
        .map(|t| (router.node_name(t.node).to_owned(), t.sql.clone()))
        .collect();
    let mut missing = Vec::new();
    for e in expected {
        match actual
            .iter()
            .position(|(n, s)| *n == e.node && sql_matches(&e.sql, s))
        {
            Some(i) => {
                actual.remove(i);
            }
            None => missing.push(format!("- node {}: {}", e.node, e.sql)),
        }
    }
    if !missing.is_empty() || !actual.is_empty() {
        detail.push("targets differ (- expected, + planned):".to_owned());
        detail.extend(missing);
        detail.extend(actual.iter().map(|(n, s)| format!("+ node {n}: {s}")));
    }
}

#[cfg(test)]
mod tests {
    use super::sql_matches;

    #[test]
    fn id_placeholder() {
        assert!(sql_matches(
            "INSERT INTO t (a, id) VALUES (1, {id})",
            "INSERT INTO t (a, id) VALUES (1, 123)"
        ));
        assert!(!sql_matches(
            "INSERT INTO t VALUES ({id})",
            "INSERT INTO t VALUES (x)"
        ));
        assert!(sql_matches("abc", "abc"));
        assert!(!sql_matches("abc", "abcd"));
    }
}
