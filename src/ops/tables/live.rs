//! Running the table jobs against the nodes' primaries (mysql_async, one
//! connection per node and run, outside the data path): what exists
//! ([`Existing`]), `ensure`, `retire`, `check --live`, and the proxy's
//! schedule ([`spawn_jobs`]). DDL reaches replicas by replication.
//!
//! Owns: those connections and statements, the job's log lines and
//! metrics. Must not decide what to create or retire (that is `mod.rs`).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};

use super::ddl::{copy_ddl, quote};
use super::{
    missing_soon, period_tables, plan_ensure, plan_retire, today, PeriodState, PeriodTable,
};
use crate::config::Config;
use crate::frontend::Proxy;
use crate::ops::metrics::PeriodTableLabels;
use crate::placement::CalendarDate;

/// The tables that exist, per node: (schema, table).
#[derive(Debug, Default, Clone)]
pub struct Existing {
    nodes: HashMap<String, HashSet<(String, String)>>,
}

impl Existing {
    /// Records a table.
    pub fn insert(&mut self, node: &str, schema: &str, table: &str) {
        self.nodes
            .entry(node.to_owned())
            .or_default()
            .insert((schema.to_owned(), table.to_owned()));
    }

    /// True if `schema`.`table` exists on `node`.
    pub fn has(&self, schema: &str, node: &str, table: &str) -> bool {
        self.nodes
            .get(node)
            .is_some_and(|set| set.contains(&(schema.to_owned(), table.to_owned())))
    }

    /// The schemas holding `table` on `node`.
    pub fn schemas_with(&self, node: &str, table: &str) -> Vec<String> {
        self.nodes
            .get(node)
            .map(|set| {
                set.iter()
                    .filter(|(_, t)| t == table)
                    .map(|(s, _)| s.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// What a job did, as lines for people, and its counts.
#[derive(Debug, Default)]
pub struct JobReport {
    pub lines: Vec<String>,
    pub done: usize,
    pub failed: usize,
    /// Per logical table: (done, failed).
    pub per_table: HashMap<String, (usize, usize)>,
}

impl JobReport {
    fn count(&mut self, logical: &str, ok: bool) {
        let entry = self.per_table.entry(logical.to_owned()).or_default();
        if ok {
            self.done += 1;
            entry.0 += 1;
        } else {
            self.failed += 1;
            entry.1 += 1;
        }
    }
}

/// A connection to `node`'s current primary as the `[backend]` account
/// (after a promotion: the promoted server, `ops::node_primary`).
pub(crate) async fn connect(cfg: &Config, node: &str) -> Result<Conn, String> {
    crate::ops::node_primary::connect_primary(cfg, node)
        .await
        .map(|(conn, _)| conn)
}

/// A connection to `addr` (`host:port`) as `user`, outside the data path.
pub(crate) async fn connect_addr(
    addr: &str,
    user: &str,
    password: &str,
    timeout_ms: u64,
) -> Result<Conn, String> {
    let (host, port) = addr
        .rsplit_once(':')
        .map(|(h, p)| (h.to_owned(), p.parse::<u16>().unwrap_or(3306)))
        .unwrap_or_else(|| (addr.to_owned(), 3306));
    let opts = OptsBuilder::default()
        .ip_or_hostname(host)
        .tcp_port(port)
        .user(Some(user.to_owned()))
        .pass(Some(password.to_owned()))
        .prefer_socket(false);
    match tokio::time::timeout(Duration::from_millis(timeout_ms), Conn::new(opts)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(format!("{addr}: {e}")),
        Err(_) => Err(format!("{addr}: connect timed out")),
    }
}

/// The base tables outside the system schemas: (schema, table).
pub(crate) async fn user_tables(conn: &mut Conn) -> mysql_async::Result<Vec<(String, String)>> {
    conn.query(
        "SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.TABLES \
         WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN \
         ('mysql', 'information_schema', 'performance_schema', 'sys')",
    )
    .await
}

/// One connection per node the period tables use.
struct Nodes {
    conns: HashMap<String, Conn>,
}

impl Nodes {
    async fn open(cfg: &Config, tables: &[PeriodTable]) -> Result<Nodes, String> {
        if let Some(n) = tables
            .iter()
            .filter_map(|t| cfg.nodes.iter().find(|n| *n.name.get_ref() == t.node))
            .find(|n| !n.databases().is_identity())
        {
            return Err(format!(
                "node {:?} has a `database` pattern: period tables on nodes that share a server are not created or retired by shardcat yet (create them through the proxy with CREATE TABLE)",
                n.name.get_ref()
            ));
        }
        let mut conns = HashMap::new();
        for t in tables {
            if !conns.contains_key(&t.node) {
                conns.insert(t.node.clone(), connect(cfg, &t.node).await?);
            }
        }
        Ok(Nodes { conns })
    }

    fn conn(&mut self, node: &str) -> Result<&mut Conn, String> {
        self.conns
            .get_mut(node)
            .ok_or_else(|| format!("no connection to node `{node}`"))
    }

    /// The user tables of every node.
    async fn existing(&mut self) -> Result<Existing, String> {
        let mut existing = Existing::default();
        for (node, conn) in self.conns.iter_mut() {
            let rows = user_tables(conn)
                .await
                .map_err(|e| format!("node `{node}`: listing tables: {e}"))?;
            for (schema, table) in rows {
                existing.insert(node, &schema, &table);
            }
        }
        Ok(existing)
    }

    async fn close(self) {
        for (_, conn) in self.conns {
            let _ = conn.disconnect().await;
        }
    }
}

/// `shardcat tables ensure`: creates the missing tables of the current and
/// next `create_ahead` periods (dry run: lists them).
pub async fn run_ensure(cfg: &Config, today: CalendarDate, dry_run: bool) -> JobReport {
    ensure_tables(cfg, period_tables(cfg, today), dry_run).await
}

async fn ensure_tables(cfg: &Config, tables: Vec<PeriodTable>, dry_run: bool) -> JobReport {
    let mut report = JobReport::default();
    let mut nodes = match Nodes::open(cfg, &tables).await {
        Ok(n) => n,
        Err(e) => return failed(report, e),
    };
    let existing = match nodes.existing().await {
        Ok(e) => e,
        Err(e) => return failed(report, e),
    };
    let (creates, problems) = plan_ensure(&tables, &existing);
    for p in problems {
        report
            .lines
            .push(format!("FAIL {}: {}", p.logical, p.message));
        report.count(&p.logical, false);
    }
    if creates.is_empty() && report.failed == 0 {
        report
            .lines
            .push("ok   every current and created-ahead period has its table".into());
    }
    for c in creates {
        let what = format!(
            "{} {} → {}.{} on {}",
            c.logical,
            c.period.name(),
            c.schema,
            c.table,
            c.node
        );
        let step = Step {
            logical: &c.logical,
            period: c.period.name(),
            table: &c.table,
            node: &c.node,
            what,
            action: "created",
        };
        let words = [
            "would create".to_owned(),
            "created".to_owned(),
            "FAIL".to_owned(),
        ];
        step.apply(&mut report, dry_run, words, create_one(&mut nodes, &c))
            .await;
    }
    nodes.close().await;
    report
}

async fn create_one(nodes: &mut Nodes, c: &super::Create) -> Result<(), String> {
    let (source_node, source_table) = &c.source;
    let show = format!(
        "SHOW CREATE TABLE {}.{}",
        quote(&c.schema),
        quote(source_table)
    );
    let row: Option<(String, String)> = nodes
        .conn(source_node)?
        .query_first(show)
        .await
        .map_err(|e| format!("reading the definition of {source_table}: {e}"))?;
    let (_, definition) = row.ok_or_else(|| format!("{source_table} has no definition"))?;
    let ddl = copy_ddl(&definition, &c.schema, &c.table).map_err(|e| e.to_string())?;
    nodes
        .conn(&c.node)?
        .query_drop(ddl)
        .await
        .map_err(|e| e.to_string())
}

/// One DDL step of a table job (create or retire one period table).
struct Step<'a> {
    logical: &'a str,
    period: String,
    table: &'a str,
    node: &'a str,
    /// The step as the report names it.
    what: String,
    /// `created` or `retired`, for the log.
    action: &'static str,
}

impl Step<'_> {
    /// Under `dry_run` reports what would be done; otherwise runs `run`,
    /// logs and counts its outcome. `words`: the report's prefixes for
    /// "would", done and failed.
    async fn apply(
        self,
        report: &mut JobReport,
        dry_run: bool,
        words: [String; 3],
        run: impl std::future::Future<Output = Result<(), String>>,
    ) {
        let [would, done, fail] = words;
        let what = &self.what;
        if dry_run {
            report.lines.push(format!("{would} {what}"));
            return;
        }
        match run.await {
            Ok(()) => {
                tracing::info!(table = %self.logical, period = %self.period, physical = %self.table, node = %self.node, "period table {}", self.action);
                report.lines.push(format!("{done} {what}"));
                report.count(self.logical, true);
            }
            Err(e) => {
                tracing::warn!(table = %self.logical, period = %self.period, physical = %self.table, node = %self.node, error = %e, "period table not {}", self.action);
                report.lines.push(format!("{fail} {what}: {e}"));
                report.count(self.logical, false);
            }
        }
    }
}

fn failed(mut report: JobReport, error: String) -> JobReport {
    report.lines.push(format!("FAIL {error}"));
    report.failed += 1;
    report
}

/// `shardcat tables retire`: drops the tables of periods older than
/// `retain`, or renames them into `archive` (created if needed). Never the
/// current period.
pub async fn run_retire(
    cfg: &Config,
    today: CalendarDate,
    dry_run: bool,
    archive: Option<&str>,
) -> JobReport {
    let mut report = JobReport::default();
    let tables = period_tables(cfg, today);
    let mut nodes = match Nodes::open(cfg, &tables).await {
        Ok(n) => n,
        Err(e) => return failed(report, e),
    };
    let existing = match nodes.existing().await {
        Ok(e) => e,
        Err(e) => return failed(report, e),
    };
    let retires = plan_retire(&tables, &existing);
    if retires.is_empty() {
        report
            .lines
            .push("ok   no retired period has a table".into());
    }
    for r in retires {
        let source = format!("{}.{}", quote(&r.schema), quote(&r.table));
        let (verb, sql) = match archive {
            Some(to) => (
                format!("rename to {to}.{}", r.table),
                format!("RENAME TABLE {source} TO {}.{}", quote(to), quote(&r.table)),
            ),
            None => ("drop".to_owned(), format!("DROP TABLE {source}")),
        };
        let what = format!(
            "{} {} ({}.{} on {})",
            r.logical,
            r.period.name(),
            r.schema,
            r.table,
            r.node
        );
        let run = async {
            let conn = nodes.conn(&r.node)?;
            if let Some(to) = archive {
                conn.query_drop(format!("CREATE DATABASE IF NOT EXISTS {}", quote(to)))
                    .await
                    .map_err(|e| e.to_string())?;
            }
            conn.query_drop(sql).await.map_err(|e| e.to_string())
        };
        let step = Step {
            logical: &r.logical,
            period: r.period.name(),
            table: &r.table,
            node: &r.node,
            what,
            action: "retired",
        };
        let words = [
            format!("would {verb}:"),
            format!("{verb}:"),
            format!("FAIL {verb}:"),
        ];
        step.apply(&mut report, dry_run, words, run).await;
    }
    nodes.close().await;
    report
}

/// `shardcat check --live`: every routed period's table and whether it
/// exists; a warning for each current or next period without one.
/// Returns the lines and the number of warnings.
pub async fn check_live(cfg: &Config, today: CalendarDate) -> (Vec<String>, usize) {
    let tables = period_tables(cfg, today);
    let mut nodes = match Nodes::open(cfg, &tables).await {
        Ok(n) => n,
        Err(e) => return (vec![format!("FAIL {e}")], 1),
    };
    let existing = match nodes.existing().await {
        Ok(e) => e,
        Err(e) => return (vec![format!("FAIL {e}")], 1),
    };
    nodes.close().await;
    let mut lines = Vec::new();
    for t in tables.iter().filter(|t| t.state != PeriodState::Later) {
        let schemas = super::schemas_of(&[t], &existing);
        let found = if schemas.is_empty() {
            "missing".to_owned()
        } else {
            format!(
                "exists in {}",
                schemas.into_iter().collect::<Vec<_>>().join(", ")
            )
        };
        lines.push(format!(
            "     {} {} {:<8} {} on {}: {found}",
            t.logical,
            t.period.name(),
            t.state.name(),
            t.table,
            t.node
        ));
    }
    let missing = missing_soon(&tables, &existing);
    for (logical, schema, t) in &missing {
        lines.push(format!(
            "WARN {logical}: the {} period {} has no table {schema}.{} on {}; run `shardcat tables ensure`",
            t.state.name(),
            t.period.name(),
            t.table,
            t.node
        ));
    }
    (lines, missing.len())
}

/// The proxy's schedule: `[routing] tables_ensure_interval_s` (create
/// ahead, then warn about missing current/next tables) and
/// `tables_retire_interval_s` (retire, off by default). After a run that
/// changed tables, or on a new day, the rules are reloaded so that routing
/// follows the new window.
pub fn spawn_jobs(proxy: Arc<Proxy>) {
    tokio::spawn(async move {
        let mut last_ensure: Option<tokio::time::Instant> = None;
        let mut last_retire: Option<tokio::time::Instant> = None;
        loop {
            let cfg = proxy.config.load_full();
            let ensure_every = cfg.routing.tables_ensure_interval_s;
            let retire_every = cfg.routing.tables_retire_interval_s;
            let due = |last: Option<tokio::time::Instant>, every: u64| {
                every > 0 && last.is_none_or(|l| l.elapsed() >= Duration::from_secs(every))
            };
            let day = today();
            let mut changed = false;
            if due(last_ensure, ensure_every) && has_period_rules(&cfg) {
                last_ensure = Some(tokio::time::Instant::now());
                // Only rules that ask for it (`create_ahead`).
                let mut tables = period_tables(&cfg, day);
                tables.retain(|t| t.create_ahead_set);
                let report = ensure_tables(&cfg, tables, false).await;
                record(&proxy, &report, "created");
                changed |= report.done > 0;
                warn_missing(&proxy, &cfg, day).await;
            }
            if due(last_retire, retire_every) && has_period_rules(&cfg) {
                last_retire = Some(tokio::time::Instant::now());
                let archive =
                    Some(cfg.routing.tables_archive_schema.as_str()).filter(|s| !s.is_empty());
                let report = run_retire(&cfg, day, false, archive).await;
                record(&proxy, &report, "retired");
                changed |= report.done > 0;
            }
            let new_day = cfg.loaded_on.is_some_and(|loaded| loaded != day);
            if (changed || new_day) && has_period_rules(&cfg) {
                match proxy.reload() {
                    Ok(_) => tracing::info!("rules reloaded for the period tables of {day}"),
                    Err(e) => tracing::warn!(error = %e, "period tables: reload refused"),
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    });
}

/// True if a `time_range` or composite rule sets `create_ahead` or `retain`.
fn has_period_rules(cfg: &Config) -> bool {
    cfg.tables.iter().any(|rule| {
        rule.sharded()
            .and_then(|s| s.time_periods())
            .is_some_and(|t| t.create_ahead.is_some() || t.retain.is_some())
    })
}

fn record(proxy: &Proxy, report: &JobReport, action: &'static str) {
    for line in report.lines.iter().filter(|l| l.starts_with("FAIL")) {
        tracing::warn!("period tables: {line}");
    }
    for (table, (done, failed)) in &report.per_table {
        let labels = |action| PeriodTableLabels {
            table: table.clone(),
            action,
        };
        proxy
            .metrics
            .period_tables
            .get_or_create(&labels(action))
            .inc_by(*done as u64);
        proxy
            .metrics
            .period_tables
            .get_or_create(&labels("failed"))
            .inc_by(*failed as u64);
    }
}

async fn warn_missing(proxy: &Proxy, cfg: &Config, day: CalendarDate) {
    let tables = period_tables(cfg, day);
    let Ok(mut nodes) = Nodes::open(cfg, &tables).await else {
        return;
    };
    let existing = nodes.existing().await;
    nodes.close().await;
    let Ok(existing) = existing else {
        return;
    };
    let missing = missing_soon(&tables, &existing);
    let mut per_table: HashMap<String, i64> =
        tables.iter().map(|t| (t.logical.clone(), 0)).collect();
    for (logical, schema, t) in &missing {
        tracing::warn!(table = %logical, period = %t.period.name(), physical = %format!("{schema}.{}", t.table), node = %t.node, "a current or next period has no table; run `shardcat tables ensure`");
        *per_table.entry(logical.clone()).or_default() += 1;
    }
    for (table, count) in per_table {
        proxy
            .metrics
            .period_tables_missing
            .get_or_create(&PeriodTableLabels {
                table,
                action: "missing",
            })
            .set(count);
    }
}
