//! The statements of each phase of a move, on the source and target
//! primaries (mysql_async, outside the data path) and on the proxies
//! (their admin statements).
//!
//! Owns: those connections and statements, the copy's rate limit, the
//! switch in either direction (`cutover`). Must not: decide the order of
//! phases or write the move's record (`mod.rs`), but for the switch, which
//! writes the placement file (and the reverse channel's start in the
//! progress) while the writes are paused; compare rows (`verify.rs`).

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

use super::copy::{copy_rows, rows_estimate, Meter};
use super::gtid;
use super::progress::{self, Progress};
use super::recovery;
use super::snapshot::gtid_snapshot;
use super::verify::Verified;
use super::watch::Watch;
use super::{MoveRequest, Resolved};
use crate::config::placement_file::{MoveRecord, PlacementFile};
use crate::config::Config;
use crate::ops::tables::ddl::{copy_ddl, quote};
use crate::ops::tables::live::{connect, connect_addr};

/// What each phase needs from the configuration and the request.
pub(super) struct Steps<'a> {
    cfg: &'a Config,
    req: &'a MoveRequest,
}

/// One switch: the writes of the move's tables go from `old` to `new`.
pub(super) struct Cutover<'v> {
    /// The node whose writes pause and whose tables lock.
    pub(super) old: String,
    /// The node whose channel (`channel`, replicating `old`) must catch up;
    /// the channel stops at the switch.
    pub(super) new: String,
    pub(super) channel: String,
    /// What the pause compares.
    pub(super) check: &'v Verified,
    /// The slot's `[[moved]]` node afterwards (none: its rule's node).
    pub(super) placement: Option<String>,
    /// Record where a reverse channel starts (a forward switch).
    pub(super) reversible: bool,
}

/// The reverse channel's name (on the source), for a move's channel.
pub(super) fn reverse_channel(record: &MoveRecord) -> String {
    format!("{}_reverse", record.channel)
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

    /// The configuration the steps run with.
    pub(super) fn config(&self) -> &'a Config {
        self.cfg
    }

    /// The address of `node`'s current primary (`ops::node_primary`).
    async fn primary_addr(&self, node: &str) -> Result<String, String> {
        let (conn, addr) = crate::ops::node_primary::connect_primary(self.cfg, node).await?;
        let _ = conn.disconnect().await;
        Ok(addr)
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
        progress: &mut Progress,
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
        let mut lock = connect(self.cfg, &record.from).await?;
        let tables: Vec<String> = record
            .tables
            .iter()
            .map(|t| qualified(&record.schema, t))
            .collect();
        let snap = gtid_snapshot(&mut lock, &tables, &mut source).await?;
        let _ = lock.disconnect().await;
        say(format!(
            "snapshot at {}:{} = GTID {} (tables locked {} ms; BINLOG_GTID_POS asked {} time(s){})",
            snap.file,
            snap.pos,
            &snap.gtid,
            snap.held.as_millis(),
            snap.lookups,
            match snap.from_lock {
                true => ", NULL: the position read under the lock",
                false => "",
            }
        ));
        let position = snap.gtid;
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
        let estimate = rows_estimate(&mut source, record).await?;
        progress.update(|p| {
            p.rows_total = estimate;
            p.rows_copied = 0;
        });
        let mut meter = Meter {
            progress,
            rate: self.req.copy_rate,
            start: Instant::now(),
            rows: 0,
        };
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
            let rows = copy_rows(&mut source, &mut target, &name, &mut meter).await?;
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
        self.open_channel(
            &record.to,
            &record.from,
            &record.channel,
            &record.gtid,
            record,
        )
        .await
    }

    /// Creates (or restarts) `channel` on `on`'s primary, replicating
    /// `from`'s primary from `start` (a GTID position of `from`), filtered
    /// to the move's tables.
    pub(super) async fn open_channel(
        &self,
        on: &str,
        from: &str,
        channel: &str,
        start: &str,
        record: &MoveRecord,
    ) -> Result<(), String> {
        let mut target = connect(self.cfg, on).await?;
        let ch = literal(channel);
        let existing: Vec<Row> = target
            .query("SHOW ALL SLAVES STATUS")
            .await
            .map_err(sql_err("SHOW ALL SLAVES STATUS"))?;
        let exists = existing.iter().any(|r| {
            r.get::<String, _>("Connection_name")
                .is_some_and(|n| n.eq_ignore_ascii_case(channel))
        });
        if exists {
            target
                .query_drop(format!("STOP SLAVE {ch}"))
                .await
                .map_err(sql_err("STOP SLAVE"))?;
        } else {
            set_slave_pos(&mut target, start).await?;
            let addr = self.primary_addr(from).await?;
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
            // MASTER_CONNECT_RETRY = 1: after a source restart the channel
            // is back within a second (MariaDB's default, 60 s, held the
            // catch-up that long: move_faults' source restart test).
            target
                .query_drop(format!(
                    "CHANGE MASTER {ch} TO MASTER_HOST = {}, MASTER_PORT = {port}, \
                     MASTER_USER = {}, MASTER_PASSWORD = {}, MASTER_USE_GTID = slave_pos, \
                     MASTER_CONNECT_RETRY = 1",
                    literal(host),
                    literal(&user),
                    literal(&password)
                ))
                .await
                .map_err(sql_err("CHANGE MASTER"))?;
        }
        // The filter is not kept across a restart of the server: set it
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
        progress: &mut Progress,
        say: &mut dyn FnMut(String),
    ) -> Result<(), String> {
        let filter = recovery::filter_of(record);
        recovery::stall("catch_up", say).await;
        self.wait_caught_up(
            &record.from,
            &record.to,
            &record.channel,
            &filter,
            progress,
            say,
        )
        .await
    }

    /// Waits until `new`'s channel has applied what `old` had written when
    /// the wait began (but for `new`'s own domain), reporting the lag; the
    /// channel keeps its table filter `filter` (`recovery::keep_channel`,
    /// every round: a restart of `new` loses it). Connections that break
    /// (a server restarting) are opened again until the timeout.
    pub(super) async fn wait_caught_up(
        &self,
        old: &str,
        new: &str,
        channel: &str,
        filter: &[String],
        progress: &mut Progress,
        say: &mut dyn FnMut(String),
    ) -> Result<(), String> {
        let start = Instant::now();
        loop {
            let round = self
                .catch_up_round(old, new, channel, filter, start, progress, say)
                .await;
            match round {
                Ok(()) => return Ok(()),
                Err(Round::Fatal(e)) => return Err(e),
                Err(Round::Lost(e)) if start.elapsed() > self.req.catch_up_timeout => {
                    return Err(e)
                }
                Err(Round::Lost(e)) => {
                    say(format!("catch-up: {e}; connecting again"));
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// The catch-up on one pair of connections (see `wait_caught_up`).
    #[allow(clippy::too_many_arguments)]
    async fn catch_up_round(
        &self,
        old: &str,
        new: &str,
        channel: &str,
        filter: &[String],
        start: Instant,
        progress: &mut Progress,
        say: &mut dyn FnMut(String),
    ) -> Result<(), Round> {
        let mut source = connect(self.cfg, old).await.map_err(Round::Lost)?;
        let mut target = connect(self.cfg, new).await.map_err(Round::Lost)?;
        let domain = own_domain(&mut target).await.map_err(Round::Lost)?;
        loop {
            let pos = position_without(&mut source, domain)
                .await
                .map_err(Round::Lost)?;
            match recovery::keep_channel(&mut target, channel, filter, say).await {
                Ok(()) => {}
                Err(e) if target.ping().await.is_err() => return Err(Round::Lost(e)),
                Err(e) => return Err(Round::Fatal(e)),
            }
            let (seconds, behind) = progress::lag(&mut target, channel, &pos)
                .await
                .map_err(Round::Lost)?;
            progress.update(|p| {
                p.lag_seconds = seconds;
                p.lag_transactions = behind;
            });
            if wait_gtid(&mut target, &pos, 1).await.map_err(Round::Lost)? {
                say(format!(
                    "caught up with {pos} in {} ms",
                    start.elapsed().as_millis()
                ));
                progress.update(|p| {
                    p.lag_seconds = Some(0);
                    p.lag_transactions = Some(0);
                });
                return Ok(());
            }
            if start.elapsed() > self.req.catch_up_timeout {
                return Err(Round::Fatal(format!(
                    "the target did not catch up with {pos} in {} s (the channel keeps running; run again)",
                    self.req.catch_up_timeout.as_secs()
                )));
            }
        }
    }

    /// A switch of the writes of the move's tables from `cut.old` to
    /// `cut.new` (see the module doc of `moves`): the write pause.
    pub(super) async fn cutover(
        &self,
        resolved: &Resolved,
        cut: &Cutover<'_>,
        progress: &mut Progress,
        say: &mut dyn FnMut(String),
    ) -> Result<(Duration, Vec<String>), String> {
        let record = &resolved.record;
        let mut proxies = self.proxy_conns().await?;
        let mut source = connect(self.cfg, &cut.old).await?;
        let mut target = connect(self.cfg, &cut.new).await?;
        let domain = own_domain(&mut target).await?;
        let tables = record.tables.join(",");
        let hold_ms = self.req.max_pause.as_millis() as u64;
        let start = Instant::now();
        let mut paused = Vec::new();
        // Proxies that did not take the switch (after the placement file
        // was written): never resumed here (`recovery`).
        let mut unswitched: Vec<String> = Vec::new();
        let mut failed = Vec::new();
        let outcome = async {
            for (addr, conn) in proxies.iter_mut() {
                conn.query_drop(format!(
                    "SET SHARDCAT PAUSE WRITES {} {tables} FOR {hold_ms}",
                    cut.old
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
            let pos = position_without(&mut source, domain).await?;
            let left = self.req.max_pause.saturating_sub(start.elapsed());
            let filter = recovery::filter_of(record);
            let reached =
                recovery::wait_applied(&mut target, &cut.channel, &filter, &pos, left, say).await?;
            if !reached {
                return Err(format!("the target did not reach {pos} within the pause"));
            }
            let gtid_wait = start.elapsed();
            let left = self.req.max_pause.saturating_sub(gtid_wait);
            cut.check
                .in_pause(&mut source, &mut target, left, say)
                .await?;
            say(format!(
                "pause (ms): lock+gtid wait {}, verify {}",
                gtid_wait.as_millis(),
                start.elapsed().saturating_sub(gtid_wait).as_millis()
            ));
            recovery::stall("paused", say).await;
            if start.elapsed() + Duration::from_millis(100) > self.req.max_pause {
                return Err("the pause would end before the switch".to_string());
            }
            let mut file = PlacementFile::read(&resolved.placement_path)?;
            let before = file.clone();
            let was = file
                .moved
                .iter()
                .find(|m| {
                    m.table == record.table
                        && m.slot == record.slot
                        && m.schema == resolved.rule_schema
                })
                .map(|m| m.node.clone());
            if cut.reversible {
                // Where the reverse channel starts: the target's position
                // now (nothing written to the tables there since).
                progress.now.reverse_gtid = source_position(&mut target).await?;
                progress.now.reverse_channel = reverse_channel(record);
                progress.now.moved_before = was;
                progress.flush()?;
                file = PlacementFile::read(&resolved.placement_path)?;
            }
            match &cut.placement {
                Some(node) => file.set_moved(
                    resolved.rule_schema.clone(),
                    &record.table,
                    record.slot,
                    node,
                ),
                None => file.moved.retain(|m| {
                    !(m.table == record.table
                        && m.slot == record.slot
                        && m.schema == resolved.rule_schema)
                }),
            }
            file.write(&resolved.placement_path)?;
            if let Err(e) = Config::load(&self.req.config) {
                before.write(&resolved.placement_path)?;
                return Err(format!(
                    "the configuration does not load with the move: {e}"
                ));
            }
            // The point of no return: a proxy that does not switch stays
            // paused until its pause ends and then reloads (`recovery`).
            recovery::stall("placed", say).await;
            let statement = format!("SET SHARDCAT SWITCH {} {tables}", cut.old);
            let (switched, lines) = recovery::switch_proxies(&mut proxies, &[statement]).await;
            for ((addr, _), ok) in proxies.iter().zip(switched) {
                if !ok {
                    unswitched.push(addr.clone());
                }
            }
            failed = lines;
            target
                .query_drop(format!("STOP SLAVE {}", literal(&cut.channel)))
                .await
                .map_err(sql_err("STOP SLAVE"))?;
            Ok::<(), String>(())
        }
        .await;
        for (addr, conn) in proxies.iter_mut() {
            if paused.contains(addr) && !unswitched.contains(addr) {
                let resumed = conn
                    .query_drop(format!("SET SHARDCAT RESUME WRITES {} {tables}", cut.old))
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
            .query_drop(format!("RESET SLAVE {} ALL", literal(&cut.channel)))
            .await
            .map_err(sql_err("RESET SLAVE"))?;
        for (_, conn) in proxies {
            let _ = conn.disconnect().await;
        }
        Ok((pause, failed))
    }

    /// Verifies the copy chunk by chunk while writes continue (after the
    /// catch-up); what the pause must still compare.
    pub(super) async fn verify(
        &self,
        record: &MoveRecord,
        progress: &mut Progress,
        say: &mut dyn FnMut(String),
    ) -> Result<Verified, String> {
        let mut source = connect(self.cfg, &record.from).await?;
        let mut target = connect(self.cfg, &record.to).await?;
        let rows = self.req.chunk_rows;
        let (schema, tables) = (&record.schema, &record.tables);
        let watch = Watch::start(self.cfg, &record.from, &mut source, schema, tables, say).await;
        let watch = watch.unwrap_or_else(|e| {
            say(format!("{e}: the pause counts the tables' rows"));
            None
        });
        let verified =
            Verified::online(&mut source, &mut target, record, watch, rows, progress, say).await;
        let _ = source.disconnect().await;
        let _ = target.disconnect().await;
        verified
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

    /// Drops the old tables of a switched move (the source's; the
    /// target's after a reverse switch) and the reverse channel.
    pub(super) async fn cleanup(
        &self,
        record: &MoveRecord,
        say: &mut dyn FnMut(String),
    ) -> Result<(), String> {
        let mut source = connect(self.cfg, &record.from).await?;
        let ch = literal(&reverse_channel(record));
        let _ = source.query_drop(format!("STOP SLAVE {ch}")).await;
        let _ = source.query_drop(format!("RESET SLAVE {ch} ALL")).await;
        let old = if record.phase == "reversed" {
            &record.to
        } else {
            &record.from
        };
        let mut conn = connect(self.cfg, old).await?;
        for t in &record.tables {
            let name = qualified(&record.schema, t);
            conn.query_drop(format!("DROP TABLE IF EXISTS {name}"))
                .await
                .map_err(sql_err("dropping the old table"))?;
            say(format!("dropped {name} on {old}"));
        }
        Ok(())
    }
}

/// Sets the server's `gtid_slave_pos` for a channel starting at `start`
/// (`gtid::slave_pos`). Its own binlog may move on between reading it and
/// the SET (the server then refuses: 1947): read and set again. A start
/// behind the server's own binlog in a domain both have (after a reverse
/// switch) is refused under `gtid_strict_mode`: the SET runs with strict
/// mode off for that statement (restored at once).
async fn set_slave_pos(target: &mut Conn, start: &str) -> Result<(), String> {
    let start = gtid::parse(start)?;
    let mut attempts = 0;
    loop {
        let own: String = target
            .query_first("SELECT @@GLOBAL.gtid_binlog_pos")
            .await
            .map_err(sql_err("target position"))?
            .unwrap_or_default();
        let own = gtid::parse(&own)?;
        let pos = gtid::format(&gtid::slave_pos(&start, &own));
        let set = format!("SET GLOBAL gtid_slave_pos = {}", literal(&pos));
        let done = if gtid::behind_own(&start, &own) {
            let strict: Option<i64> = target
                .query_first("SELECT @@GLOBAL.gtid_strict_mode")
                .await
                .map_err(sql_err("gtid_strict_mode"))?;
            let strict = strict.unwrap_or(0);
            if strict != 0 {
                target
                    .query_drop("SET GLOBAL gtid_strict_mode = 0")
                    .await
                    .map_err(sql_err("gtid_strict_mode"))?;
            }
            let done = target.query_drop(&set).await;
            if strict != 0 {
                target
                    .query_drop("SET GLOBAL gtid_strict_mode = 1")
                    .await
                    .map_err(sql_err("restoring gtid_strict_mode"))?;
            }
            done
        } else {
            target.query_drop(&set).await
        };
        match done {
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

/// The server's own GTID domain.
pub(super) async fn own_domain(conn: &mut Conn) -> Result<u32, String> {
    let d: Option<u32> = conn
        .query_first("SELECT @@GLOBAL.gtid_domain_id")
        .await
        .map_err(sql_err("gtid_domain_id"))?;
    Ok(d.unwrap_or(0))
}

/// `source`'s binary log position without `domain` (the other side's own
/// domain: what came back from it, it has).
pub(super) async fn position_without(source: &mut Conn, domain: u32) -> Result<String, String> {
    let pos = gtid::parse(&source_position(source).await?)?;
    Ok(gtid::format(&gtid::without(&pos, domain)))
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

/// How a round of the catch-up ended badly: a connection lost (connect
/// again) or the move's error.
pub(super) enum Round {
    Lost(String),
    Fatal(String),
}
