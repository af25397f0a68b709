//! What the admin statements show about the running proxy: `SHOW SHARDCAT
//! BACKENDS | AUTH | SESSIONS | STATS | DIGESTS | RULES | CONFIG`, and the
//! operator's `SET SHARDCAT BACKEND … OFFLINE | ONLINE`.
//!
//! Owns: turning the proxy's live state into result sets, and the drain
//! flag of a backend. Must not: check who may ask (the security gate does)
//! or write to clients (the session sends the result).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::local_result::TextResult;
use super::Proxy;
use crate::backend::ServerPool;
use crate::error::ProxyError;

/// Longest statement text shown per session.
const MAX_SHOWN_STATEMENT: usize = 1024;

impl Proxy {
    /// `SHOW SHARDCAT AUTH`: per source address, failed logins in the
    /// window, connections in the handshake now, throttling state.
    pub fn auth_result(&self) -> TextResult {
        let mut r = TextResult::new(&[
            "source",
            "failures",
            "unauthenticated",
            "state",
            "last_failure_s",
        ]);
        for row in self.auth_guard.rows(&self.config.load().security) {
            r.row(vec![
                Some(row.source),
                Some(row.failures.to_string()),
                Some(row.unauthenticated.to_string()),
                Some(row.state.to_string()),
                row.last_failure_s.map(|s| s.to_string()),
            ]);
        }
        r
    }

    /// `SHOW SHARDCAT BACKENDS`: per-server role, health, lag, load.
    pub fn backends_result(&self) -> TextResult {
        let mut r = TextResult::new(&[
            "node",
            "role",
            "address",
            "weight",
            "healthy",
            "lag_ms",
            "in_flight",
            "routed",
            "errors",
            "idle",
            "busy",
            "admin_state",
        ]);
        for pool in self.cluster.all_pools() {
            let s = &pool.stats;
            let lag = s.lag_ms.load(Ordering::Relaxed);
            r.row(vec![
                Some(pool.server.node_name.clone()),
                Some(match pool.stats.roles.is_fenced() {
                    true => "fenced".to_string(),
                    false => pool.server.current_role().as_str().to_string(),
                }),
                Some(pool.server.addr.clone()),
                Some(pool.server.weight.to_string()),
                Some(if pool.is_healthy() { "yes" } else { "no" }.to_string()),
                if lag < 0 { None } else { Some(lag.to_string()) },
                Some(s.in_flight.load(Ordering::Relaxed).to_string()),
                Some(s.routed.load(Ordering::Relaxed).to_string()),
                Some(s.errors.load(Ordering::Relaxed).to_string()),
                Some(pool.idle_count().to_string()),
                Some(pool.busy_count().to_string()),
                Some(
                    if pool.is_offline() {
                        "offline"
                    } else {
                        "online"
                    }
                    .to_string(),
                ),
            ]);
        }
        r
    }

    /// `EXPLAIN SHARDCAT` of a statement on sharded or broadcast tables
    /// (in database `schema`): one row per target with its node, physical
    /// tables, generated SQL and the plan. `None` when the rules do not
    /// apply (read/write splitting routes the statement).
    pub fn shard_explain(
        &self,
        sql: &str,
        schema: Option<&str>,
    ) -> Option<Result<TextResult, ProxyError>> {
        let router = self.shard_router.load_full()?;
        match router.plan(sql, schema, &[]) {
            Ok(Some(plan)) => {
                let mut r = TextResult::new(&["node", "physical_tables", "sql", "plan"]);
                let describe = router.describe(&plan);
                for t in &plan.targets {
                    r.row(vec![
                        Some(self.cluster.nodes[t.node].name.clone()),
                        Some(t.tables.join(",")),
                        Some(t.sql.clone()),
                        Some(describe.clone()),
                    ]);
                }
                Some(Ok(r))
            }
            Ok(None) => None,
            Err(e) => Some(Err(ProxyError::from(e))),
        }
    }

    /// `SHOW SHARDCAT SESSIONS`: one row per client session.
    pub fn sessions_result(&self) -> TextResult {
        let mut r = TextResult::new(&[
            "id",
            "user",
            "host",
            "db",
            "command",
            "time_s",
            "in_transaction",
            "pinned",
            "statement",
        ]);
        let mut sessions: Vec<(u32, Arc<super::SessionHandle>)> = self
            .sessions
            .lock()
            .iter()
            .map(|(id, h)| (*id, h.clone()))
            .collect();
        sessions.sort_by_key(|(id, _)| *id);
        for (id, h) in sessions {
            let user = h.user.lock().clone();
            let a = h.activity.lock().clone();
            let statement = a.info.as_ref().map(|s| {
                let text = String::from_utf8_lossy(&s[..s.len().min(MAX_SHOWN_STATEMENT)]);
                crate::logsafe::escape(&text)
            });
            r.row(vec![
                Some(id.to_string()),
                Some(user),
                Some(a.host),
                a.db,
                Some(a.command.to_string()),
                Some(a.since.elapsed().as_secs().to_string()),
                Some(if a.in_transaction { "yes" } else { "no" }.to_string()),
                Some(a.pinned.to_string()),
                statement,
            ]);
        }
        r
    }

    /// `SHOW SHARDCAT STATS`: every sample of the Prometheus metrics (the
    /// same numbers as `/metrics`, histogram buckets left out).
    pub fn stats_result(&self) -> TextResult {
        let mut r = TextResult::new(&["metric", "labels", "value"]);
        for line in self.metrics_text().lines() {
            if line.starts_with('#') || line.contains("_bucket{") {
                continue;
            }
            let Some((name_labels, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let (name, labels) = match name_labels.split_once('{') {
                Some((n, l)) => (n, l.trim_end_matches('}')),
                None => (name_labels, ""),
            };
            r.row(vec![
                Some(name.to_string()),
                Some(labels.to_string()),
                Some(value.to_string()),
            ]);
        }
        r
    }

    /// `SHOW SHARDCAT DIGESTS`: statements by digest, most total time first.
    pub fn digests_result(&self) -> TextResult {
        let mut r = TextResult::new(&[
            "digest",
            "count",
            "errors",
            "total_ms",
            "avg_ms",
            "max_ms",
            "first_seen",
            "last_seen",
            "text",
        ]);
        let ms = |d: std::time::Duration| format!("{:.3}", d.as_secs_f64() * 1000.0);
        for (hash, d) in self.digests.snapshot() {
            let avg = d.total / u32::try_from(d.count.max(1)).unwrap_or(u32::MAX);
            r.row(vec![
                Some(format!("{hash:016x}")),
                Some(d.count.to_string()),
                Some(d.errors.to_string()),
                Some(ms(d.total)),
                Some(ms(avg)),
                Some(ms(d.max)),
                Some(d.first_seen.to_string()),
                Some(d.last_seen.to_string()),
                Some(d.text),
            ]);
        }
        let overflow = self.digests.overflow();
        if overflow > 0 {
            r.row(vec![
                Some("overflow".into()),
                Some(overflow.to_string()),
                None,
                None,
                None,
                None,
                None,
                None,
                Some(format!(
                    "statements of digests beyond the first {}",
                    crate::ops::digests::MAX_DIGESTS
                )),
            ]);
        }
        r
    }

    /// `SHOW SHARDCAT RULES`: each logical table's placement.
    pub fn rules_result(&self) -> TextResult {
        let mut r = TextResult::new(&["table", "kind", "key", "nodes", "physical_tables"]);
        if let Some(router) = self.shard_router.load_full() {
            for row in router.rule_rows() {
                r.row(vec![
                    Some(row.table),
                    Some(row.kind.to_string()),
                    row.key,
                    Some(row.nodes.join(",")),
                    Some(row.physical.join(",")),
                ]);
            }
        }
        r
    }

    /// `SHOW SHARDCAT CONFIG`: the running configuration's settings as
    /// written in its file, passwords masked.
    pub fn config_result(&self) -> TextResult {
        let mut r = TextResult::new(&["setting", "value"]);
        let cfg = self.config.load();
        r.row(vec![
            Some("(file)".into()),
            Some(cfg.source.display().to_string()),
        ]);
        for (k, v) in &cfg.shown {
            r.row(vec![Some(k.clone()), Some(v.clone())]);
        }
        r
    }

    /// `SET SHARDCAT BACKEND <address or name> OFFLINE | ONLINE`: drains a
    /// server (no new statements; open transactions finish on it) or puts
    /// it back. Returns the servers changed.
    pub fn set_backend_offline(&self, which: &str, offline: bool) -> Result<usize, ProxyError> {
        let which = which.trim_matches(|c| c == '\'' || c == '"' || c == '`');
        let matching: Vec<Arc<ServerPool>> = self
            .cluster
            .all_pools()
            .filter(|p| p.server.addr == which || p.server.name == which)
            .cloned()
            .collect();
        if matching.is_empty() {
            return Err(ProxyError::Unsupported(format!(
                "SET SHARDCAT BACKEND: no server has the address or name '{which}' (see SHOW SHARDCAT BACKENDS)"
            )));
        }
        for p in &matching {
            p.stats.offline.store(offline, Ordering::Relaxed);
            tracing::warn!(
                server = %p.server.name,
                "{} by an operator",
                if offline { "drained (OFFLINE)" } else { "back ONLINE" }
            );
        }
        Ok(matching.len())
    }
}
