//! What keeps a move (or a split) correct when something fails half-way:
//!
//! - **the switch's point of no return** is the placement file's write
//!   (inside the write pause). After it, a proxy whose `SWITCH` fails is
//!   reloaded if it answers (`SHOW SHARDCAT RELOAD`), else reported by
//!   address and never resumed by the command: its pause ends by itself and
//!   its first write after that reloads the placement file first
//!   (`frontend::write_gate`), as does its restart or SIGHUP — no proxy
//!   writes to the old node once the file names the new one;
//! - **a command that died after that write** (the `[[move]]` still in
//!   `catching_up`, the file's `[[moved]]` already on the target): run
//!   again, it finishes the switch instead of starting the catch-up over:
//!   every proxy reloads, the forward channel (if still there) catches up,
//!   stops and goes, the phase becomes `switched` (and the reverse channel
//!   starts, for a single move);
//! - **a channel's table filter** (`replicate_do_table`, set by `SET
//!   GLOBAL`, which a server forgets at its restart, when it also restarts
//!   its channels unless `skip_slave_start`): checked every round of the
//!   catch-up and each time the channel is opened; a channel found without
//!   its filter (or stopped without an error) is stopped, given its filter
//!   and started again, with a warning naming what it may have applied
//!   unfiltered;
//! - **an `XA COMMIT` (or `XA ROLLBACK`) of a branch this server never
//!   prepared** stops the channel with 1397 (`XAER_NOTA`): seen once on a
//!   split's target under sysbench. The cause found since (by the
//!   resplit's verification, which met its rows): a branch prepared on the
//!   source before the copy's snapshot and committed after it is in
//!   neither the snapshot (not committed) nor the log after the snapshot's
//!   position (logged at `XA PREPARE`), so the channel meets its `XA
//!   COMMIT` alone. The copy now takes its snapshot under a read lock on
//!   the moving tables (`snapshot::locked_snapshot`: the lock waits for such
//!   branches). Should it still happen there is nothing to commit on this
//!   side, so that one event group is skipped (`sql_slave_skip_counter =
//!   1`) and the channel started again — at every check of the channel,
//!   which the waits of the catch-up, the verification and the pause make
//!   at least every 300 ms while they wait (`wait_applied`); the
//!   verification finds rows so lost;
//! - a test hook, `SHARDCAT_MOVE_TEST_STALL=<point>:<ms>[,…]`, which
//!   prints `test stall at <point>` and waits at the named point, so the
//!   crash tests kill the command at each phase.
//!
//! Owns: those checks and the finishing of an interrupted switch. Must
//! not: choose the order of the phases (`mod.rs`, `split.rs`), copy or
//! verify rows (`steps.rs`, `verify.rs`).

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};

use super::progress::Progress;
use super::steps::{literal, sql_err, Steps};
use crate::config::placement_file::{MoveRecord, PlacementFile};
use crate::ops::tables::live::connect;

/// The test hook (see the module doc).
pub(super) async fn stall(point: &str, say: &mut dyn FnMut(String)) {
    let Ok(spec) = std::env::var("SHARDCAT_MOVE_TEST_STALL") else {
        return;
    };
    for item in spec.split(',') {
        let Some((p, ms)) = item.split_once(':') else {
            continue;
        };
        if let (true, Ok(ms)) = (p.trim() == point, ms.trim().parse::<u64>()) {
            say(format!("test stall at {point} ({ms} ms)"));
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }
}

/// True if the placement file already records `record`'s slot on its
/// target: the switch passed its point of no return.
pub(super) fn placed(
    file: &PlacementFile,
    rule_schema: &Option<String>,
    record: &MoveRecord,
) -> bool {
    file.moved.iter().any(|m| {
        m.table == record.table
            && m.slot == record.slot
            && m.schema == *rule_schema
            && m.node == record.to
    })
}

/// Sends `statements` (the switch of each paused node) to every proxy
/// after the placement file was written; a proxy that refuses is asked to
/// reload instead. Per proxy: whether it took the new placement (resume
/// only those); and a line per proxy that did not.
pub(super) async fn switch_proxies(
    proxies: &mut [(String, Conn)],
    statements: &[String],
) -> (Vec<bool>, Vec<String>) {
    let mut switched = Vec::new();
    let mut failed = Vec::new();
    for (addr, conn) in proxies.iter_mut() {
        let mut error = None;
        for s in statements {
            if let Err(e) = conn.query_drop(s.as_str()).await {
                error = Some(e);
                break;
            }
        }
        let Some(e) = error else {
            switched.push(true);
            continue;
        };
        match conn.query_drop("SHOW SHARDCAT RELOAD").await {
            Ok(()) => switched.push(true),
            Err(reload) => {
                switched.push(false);
                failed.push(format!(
                    "proxy {addr}: SWITCH failed ({e}), reload failed ({reload})"
                ));
            }
        }
    }
    (switched, failed)
}

/// The error a switch that left proxies behind ends with (after its phase
/// is recorded).
pub(super) fn unswitched_error(failed: &[String], max_pause: Duration) -> String {
    format!(
        "switched (the placement file names the new nodes), but {} prox{} did not take it: {}; \
         each reloads the placement file at its first write after its pause ends (≤ {} ms) or \
         at its restart or SIGHUP; run the command again to reload every proxy now",
        failed.len(),
        if failed.len() == 1 { "y" } else { "ies" },
        failed.join("; "),
        max_pause.as_millis()
    )
}

/// `SHOW SHARDCAT RELOAD` on every proxy (a switch left behind converges).
pub(super) async fn reload_proxies(
    proxies: Vec<(String, Conn)>,
    say: &mut dyn FnMut(String),
) -> Result<(), String> {
    let mut failed = Vec::new();
    for (addr, mut conn) in proxies {
        match conn.query_drop("SHOW SHARDCAT RELOAD").await {
            Ok(()) => say(format!("proxy {addr}: reloaded the placement file")),
            Err(e) => failed.push(format!("proxy {addr}: {e}")),
        }
        let _ = conn.disconnect().await;
    }
    match failed.is_empty() {
        true => Ok(()),
        false => Err(format!("reload failed: {}", failed.join("; "))),
    }
}

/// A channel's state as `SHOW SLAVE … STATUS` gives it.
pub(super) struct ChannelState {
    pub(super) sql_running: bool,
    pub(super) io_running: bool,
    pub(super) do_table: String,
    pub(super) error: String,
    pub(super) sql_errno: u32,
}

/// The state of `channel` (none: no such channel).
pub(super) async fn channel_state(
    conn: &mut Conn,
    channel: &str,
) -> Result<Option<ChannelState>, String> {
    let exists: Vec<Row> = conn
        .query("SHOW ALL SLAVES STATUS")
        .await
        .map_err(sql_err("SHOW ALL SLAVES STATUS"))?;
    let row = exists.into_iter().find(|r| {
        r.get::<String, _>("Connection_name")
            .is_some_and(|n| n.eq_ignore_ascii_case(channel))
    });
    let Some(row) = row else {
        return Ok(None);
    };
    let text = |field: &str| row.get::<String, _>(field).unwrap_or_default();
    let error = [text("Last_SQL_Error"), text("Last_IO_Error")]
        .into_iter()
        .filter(|e| !e.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    Ok(Some(ChannelState {
        sql_running: text("Slave_SQL_Running").eq_ignore_ascii_case("yes"),
        io_running: !text("Slave_IO_Running").eq_ignore_ascii_case("no"),
        do_table: text("Replicate_Do_Table"),
        sql_errno: row.get::<u32, _>("Last_SQL_Errno").unwrap_or(0),
        error,
    }))
}

/// The filter a channel of `record` must carry.
pub(super) fn filter_of(record: &MoveRecord) -> Vec<String> {
    record
        .tables
        .iter()
        .map(|t| format!("{}.{t}", record.schema))
        .collect()
}

/// True if `shown` (`Replicate_Do_Table`) is exactly the tables of `want`.
fn same_filter(shown: &str, want: &[String]) -> bool {
    let mut a: Vec<String> = shown
        .split(',')
        .map(|t| t.trim().to_ascii_lowercase())
        .filter(|t| !t.is_empty())
        .collect();
    let mut b: Vec<String> = want.iter().map(|t| t.to_ascii_lowercase()).collect();
    a.sort();
    a.dedup();
    b.sort();
    b.dedup();
    a == b
}

/// Sets `channel`'s filter (the channel stopped) and starts it.
pub(super) async fn set_filter_and_start(
    conn: &mut Conn,
    channel: &str,
    filter: &[String],
) -> Result<(), String> {
    let ch = literal(channel);
    conn.query_drop(format!("SET SESSION default_master_connection = {ch}"))
        .await
        .map_err(sql_err("default_master_connection"))?;
    conn.query_drop(format!(
        "SET GLOBAL replicate_do_table = {}",
        literal(&filter.join(","))
    ))
    .await
    .map_err(sql_err("replicate_do_table"))?;
    conn.query_drop(format!("START SLAVE {ch}"))
        .await
        .map_err(sql_err("START SLAVE"))
}

/// Checks `channel` (on `conn`, the replicating side) against `filter`:
/// a channel without its filter (its server restarted) or stopped without
/// an error is stopped, given its filter and started again (a warning
/// through `say`); an error of the channel with its filter in place is
/// the move's error. Missing channel: an error.
pub(super) async fn keep_channel(
    conn: &mut Conn,
    channel: &str,
    filter: &[String],
    say: &mut dyn FnMut(String),
) -> Result<(), String> {
    let Some(state) = channel_state(conn, channel).await? else {
        return Err(format!("the channel {channel} is gone"));
    };
    let filtered = same_filter(&state.do_table, filter);
    if filtered && state.sql_running && state.io_running {
        return Ok(());
    }
    if filtered && empty_xa_end(&state) {
        say(format!(
            "channel {channel}: skipped an XA COMMIT/ROLLBACK of a branch this server never \
             prepared ({})",
            state.error
        ));
        let ch = literal(channel);
        conn.query_drop(format!("STOP SLAVE {ch}"))
            .await
            .map_err(sql_err("STOP SLAVE"))?;
        conn.query_drop(format!("SET SESSION default_master_connection = {ch}"))
            .await
            .map_err(sql_err("default_master_connection"))?;
        conn.query_drop("SET GLOBAL sql_slave_skip_counter = 1")
            .await
            .map_err(sql_err("sql_slave_skip_counter"))?;
        return conn
            .query_drop(format!("START SLAVE {ch}"))
            .await
            .map_err(sql_err("START SLAVE"));
    }
    if filtered && !state.error.is_empty() {
        return Err(format!("the channel {channel} stopped: {}", state.error));
    }
    let pos: Option<String> = conn
        .query_first("SELECT @@GLOBAL.gtid_slave_pos")
        .await
        .map_err(sql_err("gtid_slave_pos"))?;
    say(format!(
        "WARN channel {channel}: {} (filter shown: `{}`{}); gtid_slave_pos {}: setting its filter \
         and starting it again{}",
        if filtered {
            "stopped without an error (its server restarted with skip_slave_start?)"
        } else {
            "running without its table filter (its server restarted and forgot it)"
        },
        state.do_table,
        if state.error.is_empty() {
            String::new()
        } else {
            format!(", error: {}", state.error)
        },
        pos.unwrap_or_default(),
        if filtered {
            ""
        } else {
            "; transactions it applied unfiltered since that restart touched tables outside \
             the move only if those tables exist on this server too (run its servers with \
             skip_slave_start to avoid it)"
        }
    ));
    conn.query_drop(format!("STOP SLAVE {}", literal(channel)))
        .await
        .map_err(sql_err("STOP SLAVE"))?;
    set_filter_and_start(conn, channel, filter).await
}

/// The channel stopped on an XA COMMIT/ROLLBACK of a branch this server
/// never prepared (see the module doc).
fn empty_xa_end(state: &ChannelState) -> bool {
    let e = state.error.to_ascii_uppercase();
    state.sql_errno == 1397
        && !state.sql_running
        && (e.contains("XA COMMIT") || e.contains("XA ROLLBACK"))
}

/// `MASTER_GTID_WAIT` for `pos` on `conn` for at most `timeout`, in slices
/// of at most 300 ms with the channel checked in between
/// (`keep_channel`: a lost filter restored, an emptied XA's end skipped):
/// true when reached.
pub(super) async fn wait_applied(
    conn: &mut Conn,
    channel: &str,
    filter: &[String],
    pos: &str,
    timeout: Duration,
    say: &mut dyn FnMut(String),
) -> Result<bool, String> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let slice = left.clamp(Duration::from_millis(10), Duration::from_millis(300));
        let r: Option<i64> = conn
            .exec_first("SELECT MASTER_GTID_WAIT(?, ?)", (pos, slice.as_secs_f64()))
            .await
            .map_err(sql_err("MASTER_GTID_WAIT"))?;
        if r == Some(0) {
            return Ok(true);
        }
        if std::time::Instant::now() >= deadline {
            return Ok(false);
        }
        keep_channel(conn, channel, filter, say).await?;
    }
}

/// Finishes a switch whose placement was written by a command that then
/// died (see the module doc): every proxy reloads, then each `(from, to,
/// channel, filter)` channel still there catches up (if it runs), stops
/// and is removed. The caller records the phase.
pub(super) async fn finish_switch(
    steps: &Steps<'_>,
    channels: &[(String, String, String, Vec<String>)],
    progress: &mut Progress,
    say: &mut dyn FnMut(String),
) -> Result<(), String> {
    say(
        "the placement file already names the new node(s): the switch was interrupted after \
         its point of no return; finishing it"
            .into(),
    );
    reload_proxies(steps.proxy_conns().await?, say).await?;
    for (from, to, channel, filter) in channels {
        let mut target = connect(steps.config(), to).await?;
        let state = channel_state(&mut target, channel).await?;
        if let Some(state) = state {
            if state.sql_running {
                steps
                    .wait_caught_up(from, to, channel, filter, progress, say)
                    .await?;
            }
            let ch = literal(channel);
            target
                .query_drop(format!("STOP SLAVE {ch}"))
                .await
                .map_err(sql_err("STOP SLAVE"))?;
            target
                .query_drop(format!("RESET SLAVE {ch} ALL"))
                .await
                .map_err(sql_err("RESET SLAVE"))?;
            say(format!("channel {channel} on `{to}` stopped and removed"));
        }
        let _ = target.disconnect().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_compare_as_sets_of_tables() {
        let want = vec!["db.a_1".to_string(), "db.b_1".to_string()];
        assert!(same_filter("db.b_1,db.a_1", &want));
        assert!(same_filter("DB.A_1, db.b_1", &want));
        assert!(!same_filter("", &want));
        assert!(!same_filter("db.a_1", &want));
        assert!(!same_filter("db.a_1,db.b_1,db.c_1", &want));
    }
}
