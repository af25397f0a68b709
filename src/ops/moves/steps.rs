//! The statements of each phase of a move, on the source and target
//! primaries (mysql_async, outside the data path) and on the proxies
//! (their admin statements).
//!
//! Owns: those connections and statements. Must not: decide the order of
//! phases or write the move's record (`mod.rs`), but for the switch, which
//! writes the placement file while the writes are paused.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row, Value};

use super::gtid;
use super::{MoveRequest, Resolved};
use crate::config::placement_file::{MoveRecord, PlacementFile};
use crate::config::Config;
use crate::ops::tables::ddl::{copy_ddl, quote};
use crate::ops::tables::live::{connect, connect_addr};

/// Rows per INSERT of the copy.
const BATCH_ROWS: usize = 500;

/// What each phase needs from the configuration and the request.
pub(super) struct Steps<'a> {
    cfg: &'a Config,
    req: &'a MoveRequest,
}

pub(super) fn sql_err(what: &str) -> impl Fn(mysql_async::Error) -> String + '_ {
    move |e| format!("{what}: {e}")
}

/// A string literal.
pub(super) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "''"))
}

pub(super) fn qualified(schema: &str, table: &str) -> String {
    format!("{}.{}", quote(schema), quote(table))
}

/// The schema holding `table` on `node` (a rule without `schema`).
pub(super) async fn schema_of(cfg: &Config, node: &str, table: &str) -> Result<String, String> {
    let mut conn = connect(cfg, node).await?;
    let schemas: Vec<String> = conn
        .exec(
            "SELECT TABLE_SCHEMA FROM information_schema.TABLES WHERE TABLE_NAME = ?",
            (table,),
        )
        .await
        .map_err(sql_err("finding the table's schema"))?;
    let _ = conn.disconnect().await;
    match schemas.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(format!("`{table}` does not exist on node `{node}`")),
        _ => Err(format!(
            "`{table}` exists in several schemas on node `{node}` ({}): give --schema",
            schemas.join(", ")
        )),
    }
}

impl<'a> Steps<'a> {
    pub(super) fn new(cfg: &'a Config, req: &'a MoveRequest) -> Self {
        Steps { cfg, req }
    }

    /// The request the steps run for.
    pub(super) fn request(&self) -> &MoveRequest {
        self.req
    }

    fn primary_addr(&self, node: &str) -> Result<String, String> {
        self.cfg
            .nodes
            .iter()
            .find(|n| n.name.get_ref() == node)
            .map(|n| n.primary.get_ref().clone())
            .ok_or_else(|| format!("node `{node}` is not defined"))
    }

    /// Refuses a new move whose tables already exist on the target (the
    /// copy would replace them).
    pub(super) async fn refuse_existing(&self, record: &MoveRecord) -> Result<(), String> {
        let mut target = connect(self.cfg, &record.to).await?;
        for t in &record.tables {
            let found: Option<String> = target
                .exec_first(
                    "SELECT TABLE_NAME FROM information_schema.TABLES \
                     WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
                    (record.schema.as_str(), t.as_str()),
                )
                .await
                .map_err(sql_err("looking for the target's tables"))?;
            if found.is_some() {
                return Err(format!(
                    "{} already exists on node `{}`: drop or rename it first",
                    qualified(&record.schema, t),
                    record.to
                ));
            }
        }
        let _ = target.disconnect().await;
        Ok(())
    }

    /// Copies the tables from a consistent snapshot of the source; the
    /// snapshot's GTID position and the rows copied.
    pub(super) async fn copy(
        &self,
        record: &MoveRecord,
        say: &mut dyn FnMut(String),
    ) -> Result<(String, u64), String> {
        let mut source = connect(self.cfg, &record.from).await?;
        let mut target = connect(self.cfg, &record.to).await?;
        // A copy cut short earlier: its tables go (they are this move's).
        for t in &record.tables {
            target
                .query_drop(format!(
                    "DROP TABLE IF EXISTS {}",
                    qualified(&record.schema, t)
                ))
                .await
                .map_err(sql_err("dropping an unfinished copy"))?;
        }
        source
            .query_drop("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .await
            .map_err(sql_err("source"))?;
        source
            .query_drop("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            .await
            .map_err(sql_err("source snapshot"))?;
        let status: Vec<(String, String)> = source
            .query("SHOW STATUS LIKE 'binlog_snapshot_%'")
            .await
            .map_err(sql_err("source snapshot position"))?;
        let get = |name: &str| {
            status
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let (Some(file), Some(pos)) =
            (get("Binlog_snapshot_file"), get("Binlog_snapshot_position"))
        else {
            return Err("the source has no binary log (log_bin is off)".into());
        };
        let position: Option<String> = source
            .exec_first("SELECT BINLOG_GTID_POS(?, ?)", (file.clone(), pos.clone()))
            .await
            .map_err(sql_err("BINLOG_GTID_POS"))?;
        let position = position.unwrap_or_default();
        gtid::parse(&position)?;
        say(format!("snapshot at {file}:{pos} = GTID {position}"));
        target
            .query_drop(format!(
                "CREATE DATABASE IF NOT EXISTS {}",
                quote(&record.schema)
            ))
            .await
            .map_err(sql_err("target schema"))?;
        target
            .query_drop("SET SESSION foreign_key_checks = 0")
            .await
            .map_err(sql_err("target"))?;
        let mut total = 0u64;
        for t in &record.tables {
            let name = qualified(&record.schema, t);
            let create: Option<(String, String)> = source
                .query_first(format!("SHOW CREATE TABLE {name}"))
                .await
                .map_err(sql_err("SHOW CREATE TABLE"))?;
            let (_, create) = create.ok_or_else(|| format!("{name}: no definition"))?;
            let ddl = copy_ddl(&create, &record.schema, t).map_err(|e| e.to_string())?;
            target
                .query_drop(ddl)
                .await
                .map_err(sql_err("creating the copy"))?;
            let rows = copy_rows(&mut source, &mut target, &name).await?;
            say(format!("copied {name}: {rows} rows"));
            total += rows;
        }
        source
            .query_drop("COMMIT")
            .await
            .map_err(sql_err("source"))?;
        let _ = source.disconnect().await;
        let _ = target.disconnect().await;
        Ok((position, total))
    }

    /// Creates (or restarts) the target's channel from the copy's position,
    /// filtered to the moving tables.
    pub(super) async fn start_channel(&self, record: &MoveRecord) -> Result<(), String> {
        let mut target = connect(self.cfg, &record.to).await?;
        let ch = literal(&record.channel);
        let existing: Vec<Row> = target
            .query("SHOW ALL SLAVES STATUS")
            .await
            .map_err(sql_err("SHOW ALL SLAVES STATUS"))?;
        let exists = existing.iter().any(|r| {
            r.get::<String, _>("Connection_name")
                .is_some_and(|n| n.eq_ignore_ascii_case(&record.channel))
        });
        if exists {
            target
                .query_drop(format!("STOP SLAVE {ch}"))
                .await
                .map_err(sql_err("STOP SLAVE"))?;
        } else {
            set_slave_pos(&mut target, &record.gtid).await?;
            let addr = self.primary_addr(&record.from)?;
            let (host, port) = addr.rsplit_once(':').unwrap_or((addr.as_str(), "3306"));
            let port: u16 = port.parse().map_err(|_| format!("bad port in `{addr}`"))?;
            let user = self
                .req
                .repl_user
                .clone()
                .unwrap_or(self.cfg.backend.user.clone());
            let password = self
                .req
                .repl_password
                .clone()
                .unwrap_or(self.cfg.backend.password.clone());
            target
                .query_drop(format!(
                    "CHANGE MASTER {ch} TO MASTER_HOST = {}, MASTER_PORT = {port}, \
                     MASTER_USER = {}, MASTER_PASSWORD = {}, MASTER_USE_GTID = slave_pos",
                    literal(host),
                    literal(&user),
                    literal(&password)
                ))
                .await
                .map_err(sql_err("CHANGE MASTER"))?;
        }
        // The filter is not kept across a restart of the target: set it
        // every time, before the channel runs.
        let filter: Vec<String> = record
            .tables
            .iter()
            .map(|t| format!("{}.{t}", record.schema))
            .collect();
        target
            .query_drop(format!("SET SESSION default_master_connection = {ch}"))
            .await
            .map_err(sql_err("default_master_connection"))?;
        target
            .query_drop(format!(
                "SET GLOBAL replicate_do_table = {}",
                literal(&filter.join(","))
            ))
            .await
            .map_err(sql_err("replicate_do_table"))?;
        target
            .query_drop(format!("START SLAVE {ch}"))
            .await
            .map_err(sql_err("START SLAVE"))?;
        let _ = target.disconnect().await;
        Ok(())
    }

    /// Waits until the target has applied what the source had written
    /// when the wait began (bounded by the request's catch-up timeout).
    pub(super) async fn catch_up(
        &self,
        record: &MoveRecord,
        say: &mut dyn FnMut(String),
    ) -> Result<(), String> {
        let mut source = connect(self.cfg, &record.from).await?;
        let mut target = connect(self.cfg, &record.to).await?;
        let start = Instant::now();
        loop {
            let pos = source_position(&mut source).await?;
            channel_healthy(&mut target, &record.channel).await?;
            if wait_gtid(&mut target, &pos, 1).await? {
                say(format!(
                    "caught up with {pos} in {} ms",
                    start.elapsed().as_millis()
                ));
                return Ok(());
            }
            if start.elapsed() > self.req.catch_up_timeout {
                return Err(format!(
                    "the target did not catch up with {pos} in {} s (the channel keeps running; run again)",
                    self.req.catch_up_timeout.as_secs()
                ));
            }
        }
    }

    /// The switch (see the module doc of `moves`); the write pause.
    pub(super) async fn switch(
        &self,
        resolved: &Resolved,
        say: &mut dyn FnMut(String),
    ) -> Result<Duration, String> {
        let record = &resolved.record;
        let mut proxies = self.proxy_conns().await?;
        let mut source = connect(self.cfg, &record.from).await?;
        let mut target = connect(self.cfg, &record.to).await?;
        let tables = record.tables.join(",");
        let hold_ms = self.req.max_pause.as_millis() as u64;
        let start = Instant::now();
        let mut paused = Vec::new();
        let outcome = async {
            for (addr, conn) in proxies.iter_mut() {
                conn.query_drop(format!(
                    "SET SHARDCAT PAUSE WRITES {} {tables} FOR {hold_ms}",
                    record.from
                ))
                .await
                .map_err(|e| format!("proxy {addr}: {e}"))?;
                paused.push(addr.clone());
            }
            let lock_s = (hold_ms / 2000).max(1);
            source
                .query_drop(format!("SET SESSION lock_wait_timeout = {lock_s}"))
                .await
                .map_err(sql_err("source"))?;
            let locks: Vec<String> = record
                .tables
                .iter()
                .map(|t| format!("{} READ", qualified(&record.schema, t)))
                .collect();
            source
                .query_drop(format!("LOCK TABLES {}", locks.join(", ")))
                .await
                .map_err(sql_err("LOCK TABLES on the source"))?;
            let pos = source_position(&mut source).await?;
            let left = self.req.max_pause.saturating_sub(start.elapsed());
            if !wait_gtid(&mut target, &pos, left.as_secs().max(1)).await? {
                return Err(format!("the target did not reach {pos} within the pause"));
            }
            self.verify(&mut source, &mut target, record).await?;
            if start.elapsed() + Duration::from_millis(100) > self.req.max_pause {
                return Err("the pause would end before the switch".to_string());
            }
            let mut file = PlacementFile::read(&resolved.placement_path)?;
            let before = file.clone();
            file.set_moved(
                resolved.rule_schema.clone(),
                &record.table,
                record.slot,
                &record.to,
            );
            file.write(&resolved.placement_path)?;
            if let Err(e) = Config::load(&self.req.config) {
                before.write(&resolved.placement_path)?;
                return Err(format!(
                    "the configuration does not load with the move: {e}"
                ));
            }
            for (addr, conn) in proxies.iter_mut() {
                if let Err(e) = conn
                    .query_drop(format!("SET SHARDCAT SWITCH {} {tables}", record.from))
                    .await
                {
                    // Proxies switched already keep the new placement (the
                    // file has it); the others must not resume on the old.
                    return Err(format!(
                        "proxy {addr}: {e}; the placement file names `{}` now: reload that proxy \
                         (SHOW SHARDCAT RELOAD) before its pause ends",
                        record.to
                    ));
                }
            }
            target
                .query_drop(format!("STOP SLAVE {}", literal(&record.channel)))
                .await
                .map_err(sql_err("STOP SLAVE"))?;
            Ok::<(), String>(())
        }
        .await;
        for (addr, conn) in proxies.iter_mut() {
            if paused.contains(addr) {
                let resumed = conn
                    .query_drop(format!(
                        "SET SHARDCAT RESUME WRITES {} {tables}",
                        record.from
                    ))
                    .await;
                if let Err(e) = resumed {
                    say(format!(
                        "proxy {addr}: resume failed ({e}); its pause ends by itself"
                    ));
                }
            }
        }
        let pause = start.elapsed();
        let _ = source.query_drop("UNLOCK TABLES").await;
        outcome?;
        target
            .query_drop(format!("RESET SLAVE {} ALL", literal(&record.channel)))
            .await
            .map_err(sql_err("RESET SLAVE"))?;
        for (_, conn) in proxies {
            let _ = conn.disconnect().await;
        }
        Ok(pause)
    }

    /// Row counts and `CHECKSUM TABLE` equal on both sides.
    pub(super) async fn verify(
        &self,
        source: &mut Conn,
        target: &mut Conn,
        record: &MoveRecord,
    ) -> Result<(), String> {
        for t in &record.tables {
            let name = qualified(&record.schema, t);
            let count = format!("SELECT COUNT(*) FROM {name}");
            let sum = format!("CHECKSUM TABLE {name}");
            let a: Option<u64> = source.query_first(&count).await.map_err(sql_err("count"))?;
            let b: Option<u64> = target.query_first(&count).await.map_err(sql_err("count"))?;
            let x: Option<(String, Option<u64>)> = source
                .query_first(&sum)
                .await
                .map_err(sql_err("checksum"))?;
            let y: Option<(String, Option<u64>)> = target
                .query_first(&sum)
                .await
                .map_err(sql_err("checksum"))?;
            let (x, y) = (x.and_then(|r| r.1), y.and_then(|r| r.1));
            if a != b || x != y {
                return Err(format!(
                    "{name} differs: source {a:?} rows checksum {x:?}, target {b:?} rows checksum {y:?}"
                ));
            }
        }
        Ok(())
    }

    pub(super) async fn proxy_conns(&self) -> Result<Vec<(String, Conn)>, String> {
        let addrs = if self.req.proxies.is_empty() {
            vec![self.cfg.server.listen.clone()]
        } else {
            self.req.proxies.clone()
        };
        let admin = self.cfg.users.iter().find(|u| u.admin);
        let user = self
            .req
            .proxy_user
            .clone()
            .or_else(|| admin.map(|u| u.name.get_ref().clone()))
            .ok_or("no admin user: give --proxy-user")?;
        let password = self
            .req
            .proxy_password
            .clone()
            .or_else(|| admin.map(|u| u.password.clone()))
            .unwrap_or_default();
        let mut conns = Vec::new();
        for addr in addrs {
            let conn = connect_addr(&addr, &user, &password, self.cfg.backend.connect_timeout_ms)
                .await
                .map_err(|e| format!("proxy {e}"))?;
            conns.push((addr, conn));
        }
        Ok(conns)
    }

    /// Removes the channel and the target's tables of a move that has not
    /// switched.
    pub(super) async fn abort(
        &self,
        record: &MoveRecord,
        say: &mut dyn FnMut(String),
    ) -> Result<(), String> {
        if record.phase == "switched" {
            return Err(
                "the move has switched: move the shard back instead (after --cleanup)".into(),
            );
        }
        let mut target = connect(self.cfg, &record.to).await?;
        let ch = literal(&record.channel);
        let _ = target.query_drop(format!("STOP SLAVE {ch}")).await;
        let _ = target.query_drop(format!("RESET SLAVE {ch} ALL")).await;
        for t in &record.tables {
            let name = qualified(&record.schema, t);
            target
                .query_drop(format!("DROP TABLE IF EXISTS {name}"))
                .await
                .map_err(sql_err("dropping the copy"))?;
            say(format!("dropped the copy {name} on {}", record.to));
        }
        Ok(())
    }

    /// Drops the source's old tables of a switched move.
    pub(super) async fn cleanup(
        &self,
        record: &MoveRecord,
        say: &mut dyn FnMut(String),
    ) -> Result<(), String> {
        let mut source = connect(self.cfg, &record.from).await?;
        for t in &record.tables {
            let name = qualified(&record.schema, t);
            source
                .query_drop(format!("DROP TABLE IF EXISTS {name}"))
                .await
                .map_err(sql_err("dropping the old table"))?;
            say(format!("dropped {name} on {}", record.from));
        }
        Ok(())
    }
}

/// Sets the target's `gtid_slave_pos` to the copy's position plus the
/// target's own domains. Its own binlog may move on between reading it and
/// the SET (the server then refuses: 1947): read and set again.
async fn set_slave_pos(target: &mut Conn, snapshot: &str) -> Result<(), String> {
    let snapshot = gtid::parse(snapshot)?;
    let mut attempts = 0;
    loop {
        let own: String = target
            .query_first("SELECT @@GLOBAL.gtid_binlog_pos")
            .await
            .map_err(sql_err("target position"))?
            .unwrap_or_default();
        let start = gtid::format(&gtid::slave_pos(&snapshot, &gtid::parse(&own)?));
        match target
            .query_drop(format!("SET GLOBAL gtid_slave_pos = {}", literal(&start)))
            .await
        {
            Ok(()) => return Ok(()),
            Err(mysql_async::Error::Server(e)) if e.code == 1947 && attempts < 50 => {
                attempts += 1;
            }
            Err(e) => {
                return Err(format!(
                    "SET GLOBAL gtid_slave_pos (is another channel running?): {e}"
                ))
            }
        }
    }
}

pub(super) async fn source_position(source: &mut Conn) -> Result<String, String> {
    let pos: Option<String> = source
        .query_first("SELECT @@GLOBAL.gtid_binlog_pos")
        .await
        .map_err(sql_err("source position"))?;
    Ok(pos.unwrap_or_default())
}

/// `MASTER_GTID_WAIT`: true when reached within `seconds`.
pub(super) async fn wait_gtid(target: &mut Conn, pos: &str, seconds: u64) -> Result<bool, String> {
    let r: Option<i64> = target
        .exec_first("SELECT MASTER_GTID_WAIT(?, ?)", (pos, seconds))
        .await
        .map_err(sql_err("MASTER_GTID_WAIT"))?;
    Ok(r == Some(0))
}

/// An error of the channel's SQL or IO thread, as an error.
async fn channel_healthy(target: &mut Conn, channel: &str) -> Result<(), String> {
    let row: Option<Row> = target
        .query_first(format!("SHOW SLAVE {} STATUS", literal(channel)))
        .await
        .map_err(sql_err("SHOW SLAVE STATUS"))?;
    let Some(row) = row else {
        return Err(format!("the channel {channel} is gone"));
    };
    for field in ["Last_SQL_Error", "Last_IO_Error"] {
        if let Some(e) = row.get::<String, _>(field).filter(|e| !e.is_empty()) {
            return Err(format!("the channel {channel} stopped: {e}"));
        }
    }
    Ok(())
}

/// Copies every row of `name` (inside the source's snapshot) in batches
/// of multi-row INSERTs with binary parameters (values exact).
async fn copy_rows(source: &mut Conn, target: &mut Conn, name: &str) -> Result<u64, String> {
    let mut result = source
        .exec_iter(format!("SELECT * FROM {name}"), ())
        .await
        .map_err(sql_err("reading the source"))?;
    let columns = result.columns_ref().len();
    let mut batch: Vec<Value> = Vec::new();
    let mut rows = 0u64;
    let mut pending = Vec::new();
    while let Some(row) = result.next().await.map_err(sql_err("reading the source"))? {
        pending.push(row);
        if pending.len() == BATCH_ROWS {
            // The source's result must be read to its end before another
            // statement on it; the target is a different connection.
            rows += insert(target, name, columns, &mut pending, &mut batch).await?;
        }
    }
    rows += insert(target, name, columns, &mut pending, &mut batch).await?;
    Ok(rows)
}

async fn insert(
    target: &mut Conn,
    name: &str,
    columns: usize,
    pending: &mut Vec<Row>,
    batch: &mut Vec<Value>,
) -> Result<u64, String> {
    if pending.is_empty() || columns == 0 {
        return Ok(0);
    }
    let n = pending.len();
    batch.clear();
    for row in pending.drain(..) {
        batch.extend(row.unwrap());
    }
    let one = format!("({})", vec!["?"; columns].join(","));
    let sql = format!("INSERT INTO {name} VALUES {}", vec![one; n].join(","));
    target
        .exec_drop(sql, mysql_async::Params::Positional(std::mem::take(batch)))
        .await
        .map_err(sql_err("writing the copy"))?;
    Ok(n as u64)
}
