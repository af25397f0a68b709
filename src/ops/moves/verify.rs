//! Verifying a copy while writes continue, chunk by chunk of the
//! primary key, so that the write pause of the switch only has a cheap
//! final check left. Used by a move (source and target tables on two
//! servers, the target kept in step by its channel) and by a resplit (an
//! old table against the union of its new tables on the same server, kept
//! in step by the binary log reader): [`CatchUp`] is what differs.
//!
//! Each table's primary key is cut into chunks of [`CHUNK_ROWS`] rows (or
//! the request's `chunk_rows`; on
//! the source); a chunk's figure is its row count and the `BIT_XOR` of a
//! 64-bit hash (`MD5`) of each row's columns (over several copy tables:
//! counts added, hashes XORed — the figure of their union). A chunk is
//! read on the source, the copy catches up with the source's position read
//! just after, the chunk is read on the copy, and, if they differ, on the
//! source again:
//! - equal: verified;
//! - different while the source's chunk did not change between its two
//!   reads: the copy is brought up to the source once more and both are
//!   read again (the copy may have run ahead of the first read); still
//!   different with the source unchanged: the copy diverged: the command
//!   stops with an error naming the chunk (nothing switched);
//! - different with a catch-up that is not exact (`CatchUp::EXACT`: a
//!   resplit's reader may show a transaction before the source does):
//!   read again in the next round, like a chunk written meanwhile;
//! - different while the source's chunk changed: written meanwhile, read
//!   again in the next round; chunks still written after [`ROUNDS`] rounds
//!   are compared inside the pause (the source locked, the copy caught
//!   up: an exact comparison).
//!
//! Inside the pause: the chunks left over, and the keys written since
//! (`keys`: noted by a move's key watch, `watch`, or a resplit's reader);
//! a move's tables the watch does not cover (or all, without a usable
//! watch) by their row counts on both sides.
//!
//! Owns: the chunking and the comparison. Must not: pause, switch or
//! write the move's record (`steps.rs`, `mod.rs`).

use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Params, Value};

use super::progress::Progress;
use super::steps::{own_domain, position_without};
use super::watch::Watch;
use crate::config::placement_file::MoveRecord;
use crate::ops::tables::ddl::quote;

/// Rows per chunk, by default.
pub const CHUNK_ROWS: usize = 2000;
/// Rounds of re-reading the chunks found different before the pause.
const ROUNDS: usize = 6;
/// How long the target may take to reach the source's position of a
/// chunk's read.
const WAIT_S: u64 = 30;

/// How the copy side gets every change the source had: a move's channel,
/// a resplit's binary log reader.
pub(super) trait CatchUp {
    /// Whether the copy shows only what the source shows. A resplit's
    /// reader can apply a transaction it read from the binary log before
    /// the source's engine has committed it (the log is written first;
    /// for an XA branch, until this session's reader held it, the whole
    /// time between `XA PREPARE` and `XA COMMIT`): a chunk that differs
    /// there is read again (and compared in the pause at the latest),
    /// never taken for a divergence.
    const EXACT: bool = true;

    /// Waits until the copy (read through `target`) has applied every
    /// change `source` had when this was called.
    async fn reach(
        &mut self,
        source: &mut Conn,
        target: &mut Conn,
        say: &mut dyn FnMut(String),
    ) -> Result<(), String>;
}

/// A move's channel on the target.
struct Channel<'r> {
    record: &'r MoveRecord,
    /// The target's own GTID domain (left out of the source's position).
    domain: u32,
}

impl CatchUp for Channel<'_> {
    async fn reach(
        &mut self,
        source: &mut Conn,
        target: &mut Conn,
        say: &mut dyn FnMut(String),
    ) -> Result<(), String> {
        let pos = position_without(source, self.domain).await?;
        let filter = super::recovery::filter_of(self.record);
        let wait = Duration::from_secs(WAIT_S);
        let channel = &self.record.channel;
        if !super::recovery::wait_applied(target, channel, &filter, &pos, wait, say).await? {
            return Err(format!(
                "verification: the target did not reach {pos} in {WAIT_S} s"
            ));
        }
        Ok(())
    }
}

/// One table to verify: its name on the source side and the tables whose
/// union must equal it on the copy side.
#[derive(Debug, Clone)]
pub(super) struct Pair {
    pub(super) source: String,
    pub(super) copies: Vec<String>,
}

/// What a verification compares.
pub(super) struct Job<'j> {
    pub(super) schema: &'j str,
    pub(super) pairs: &'j [Pair],
    pub(super) chunk_rows: usize,
}

/// One range of a table's primary key: `(lo, hi]`, open where none.
#[derive(Debug, Clone)]
pub(super) struct Chunk {
    table: usize,
    index: usize,
    lo: Option<Vec<Value>>,
    hi: Option<Vec<Value>>,
}

/// A table's columns, primary key and chunks.
#[derive(Debug)]
struct Plan {
    name: String,
    /// The copy side's tables (qualified).
    copies: Vec<String>,
    pk: Vec<String>,
    hash: String,
    chunks: usize,
}

/// The verification of a move's tables: what the pause must still check.
#[derive(Debug, Default)]
pub(super) struct Verified {
    plans: Vec<Plan>,
    /// Chunks written on every round: compared inside the pause.
    pub(super) deferred: Vec<Chunk>,
    /// A move's key watch (`watch`): the keys written since its last round
    /// compared in the pause, instead of the tables' row counts.
    watch: Option<Watch>,
}

fn sql_err(what: &'static str) -> impl Fn(mysql_async::Error) -> String {
    move |e| format!("verification, {what}: {e}")
}

/// A chunk's figure: row count and hash.
pub(super) type Figure = (u64, u64);

impl Verified {
    /// A move's verification: the source's tables against the target's
    /// (see the module doc), then the keys `watch` noted (in rounds); the
    /// chunks and the watch for the pause.
    pub(super) async fn online(
        source: &mut Conn,
        target: &mut Conn,
        record: &MoveRecord,
        watch: Option<Watch>,
        chunk_rows: usize,
        progress: &mut Progress,
        say: &mut dyn FnMut(String),
    ) -> Result<Verified, String> {
        let domain = own_domain(target).await?;
        let pairs: Vec<Pair> = record
            .tables
            .iter()
            .map(|t| Pair {
                source: t.clone(),
                copies: vec![t.clone()],
            })
            .collect();
        let job = Job {
            schema: &record.schema,
            pairs: &pairs,
            chunk_rows,
        };
        let mut channel = Channel { record, domain };
        let mut verified =
            Verified::online_with(source, target, &job, &mut channel, progress, say).await?;
        if let Some(w) = &watch {
            let channel = Channel { record, domain };
            w.rounds(source, target, channel, progress, say).await?;
        }
        verified.watch = watch;
        Ok(verified)
    }

    /// Cuts the tables into chunks and compares them all (see the module
    /// doc); the chunks left for the pause.
    pub(super) async fn online_with(
        source: &mut Conn,
        target: &mut Conn,
        job: &Job<'_>,
        catch: &mut impl CatchUp,
        progress: &mut Progress,
        say: &mut dyn FnMut(String),
    ) -> Result<Verified, String> {
        let mut plans = Vec::new();
        let mut pending = Vec::new();
        for pair in job.pairs {
            let plan = plan(source, job.schema, pair).await?;
            let chunks = boundaries(source, &plan, plans.len(), job.chunk_rows.max(1)).await?;
            plans.push(Plan {
                chunks: chunks.len(),
                ..plan
            });
            pending.extend(chunks);
        }
        let mut verified = Verified {
            plans,
            ..Verified::default()
        };
        let total = pending.len() as u64;
        let _ = progress.step("verifying");
        progress.update(|p| {
            p.chunks_total = total;
            p.chunks_checked = 0;
            p.chunks_differing = 0;
            p.chunks_deferred = 0;
        });
        let mut checked = 0u64;
        for round in 0..ROUNDS {
            let mut busy = Vec::new();
            for chunk in pending {
                if !verified.settled(source, target, &chunk, catch, say).await? {
                    busy.push(chunk);
                }
                if round == 0 {
                    checked += 1;
                    if checked.is_multiple_of((total / 10).max(1)) || checked == total {
                        say(format!("verified {checked}/{total} chunks"));
                    }
                }
                let differing = busy.len() as u64;
                progress.update(|p| {
                    p.chunks_checked = checked;
                    p.chunks_differing = differing;
                });
            }
            pending = busy;
            if pending.is_empty() {
                break;
            }
            say(format!(
                "round {}: {} chunks written meanwhile, read again",
                round + 1,
                pending.len()
            ));
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let deferred = pending.len() as u64;
        progress.update(|p| {
            p.chunks_differing = 0;
            p.chunks_deferred = deferred;
        });
        let _ = progress.flush();
        say(format!(
            "verified {total} chunks while writes continued; {deferred} left for the pause"
        ));
        verified.deferred = pending;
        Ok(verified)
    }

    /// Compares one chunk (see the module doc): true if equal, false if
    /// written meanwhile, an error if the copy diverged.
    async fn settled<C: CatchUp>(
        &self,
        source: &mut Conn,
        target: &mut Conn,
        chunk: &Chunk,
        catch: &mut C,
        say: &mut dyn FnMut(String),
    ) -> Result<bool, String> {
        let a = self.figure_on(source, chunk, false).await?;
        catch.reach(source, target, say).await?;
        let b = self.figure_on(target, chunk, true).await?;
        if a == b {
            return Ok(true);
        }
        if !C::EXACT || self.figure_on(source, chunk, false).await? != a {
            return Ok(false);
        }
        // The copy may have applied a change made (and undone) after the
        // first read: once more, caught up with the source again.
        catch.reach(source, target, say).await?;
        let b = self.figure_on(target, chunk, true).await?;
        let again = self.figure_on(source, chunk, false).await?;
        if again == b {
            return Ok(true);
        }
        if again == a {
            return Err(self.diverged(chunk, a, b));
        }
        Ok(false)
    }

    /// No chunk left, only the tables' row counts to compare (a reverse
    /// switch: the channel kept the source in step, nothing was copied).
    pub(super) fn counts_only(record: &MoveRecord) -> Verified {
        let plans = record
            .tables
            .iter()
            .map(|t| Plan {
                name: format!("{}.{}", quote(&record.schema), quote(t)),
                copies: vec![format!("{}.{}", quote(&record.schema), quote(t))],
                pk: Vec::new(),
                hash: String::new(),
                chunks: 1,
            })
            .collect();
        Verified {
            plans,
            ..Verified::default()
        }
    }

    /// Inside the pause (the source locked, the target at its position):
    /// the keys the watch noted since its last round (`watch`), the row
    /// counts of the tables it does not cover (of all without a usable
    /// watch), and the chunks left over. `left`: the pause's time left.
    pub(super) async fn in_pause(
        &self,
        source: &mut Conn,
        target: &mut Conn,
        left: Duration,
        say: &mut dyn FnMut(String),
    ) -> Result<(), String> {
        let mut watched = None;
        if let Some(w) = &self.watch {
            match w.in_pause(source, target, left).await? {
                Ok(keys) => {
                    say(format!(
                        "in the pause: {keys} keys written since the last key round compared"
                    ));
                    watched = Some(w);
                }
                Err(why) => say(format!("{why}: the pause counts the tables' rows")),
            }
        }
        for plan in &self.plans {
            if watched.is_some_and(|w| w.covers(&plan.name)) {
                continue;
            }
            let count = format!("SELECT COUNT(*) FROM {}", plan.name);
            let (a, b) = tokio::join!(
                source.query_first::<u64, _>(&count),
                target.query_first::<u64, _>(&count)
            );
            let (a, b) = (a.map_err(sql_err("count"))?, b.map_err(sql_err("count"))?);
            if a != b {
                return Err(format!(
                    "verification: {} has {} rows on the source and {} on the target; nothing switched",
                    plan.name,
                    a.unwrap_or(0),
                    b.unwrap_or(0)
                ));
            }
        }
        self.deferred_in_pause(source, target).await
    }

    /// Inside the pause: the chunks left over (written during every round
    /// of the online verification), compared exactly.
    pub(super) async fn deferred_in_pause(
        &self,
        source: &mut Conn,
        target: &mut Conn,
    ) -> Result<(), String> {
        for chunk in &self.deferred {
            let (a, b) = tokio::join!(
                self.figure_on(source, chunk, false),
                self.figure_on(target, chunk, true)
            );
            let (a, b) = (a?, b?);
            if a != b {
                return Err(self.diverged(chunk, a, b));
            }
        }
        Ok(())
    }

    /// A chunk's row count and hash on one side (the copy side: of the
    /// union of its tables).
    async fn figure_on(
        &self,
        conn: &mut Conn,
        chunk: &Chunk,
        copy: bool,
    ) -> Result<Figure, String> {
        let plan = &self.plans[chunk.table];
        let (cond, params) = range(plan, chunk);
        let names = match copy {
            true => plan.copies.as_slice(),
            false => std::slice::from_ref(&plan.name),
        };
        union_figure(conn, names, &plan.hash, &cond, &params).await
    }

    /// The error of a chunk that differs for good.
    fn diverged(&self, chunk: &Chunk, a: Figure, b: Figure) -> String {
        let plan = &self.plans[chunk.table];
        format!(
            "verification failed: {} chunk {} of {} ({}) differs: source {} rows hash {:#018x}, \
             target {} rows hash {:#018x}; nothing switched (the copy diverged: --abort and run \
             the command again)",
            plan.name,
            chunk.index + 1,
            plan.chunks,
            describe(plan, chunk),
            a.0,
            a.1,
            b.0,
            b.1
        )
    }
}

/// The figure of the rows of `tables` (qualified) that meet `cond`: their
/// count and the `BIT_XOR` of their `hash` (of the union of the tables).
pub(super) async fn union_figure(
    conn: &mut Conn,
    tables: &[String],
    hash: &str,
    cond: &str,
    params: &[Value],
) -> Result<Figure, String> {
    let mut out: Figure = (0, 0);
    for name in tables {
        let sql = format!(
            "SELECT COUNT(*), CAST(COALESCE(BIT_XOR({hash}), 0) AS UNSIGNED) FROM {name} WHERE {cond}"
        );
        let row: Option<Figure> = conn
            .exec_first(sql, Params::Positional(params.to_vec()))
            .await
            .map_err(sql_err("chunk"))?;
        let (n, x) = row.unwrap_or((0, 0));
        out = (out.0 + n, out.1 ^ x);
    }
    Ok(out)
}

/// `schema`.`table`'s primary key columns, in key order (none: no
/// primary key).
pub(super) async fn primary_key(
    conn: &mut Conn,
    schema: &str,
    table: &str,
) -> Result<Vec<String>, mysql_async::Error> {
    conn.exec(
        "SELECT COLUMN_NAME FROM information_schema.STATISTICS \
         WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND INDEX_NAME = 'PRIMARY' \
         ORDER BY SEQ_IN_INDEX",
        (schema, table),
    )
    .await
}

/// The table's primary key columns and the hash expression of a row.
async fn plan(source: &mut Conn, schema: &str, pair: &Pair) -> Result<Plan, String> {
    let table = pair.source.as_str();
    let columns: Vec<(String, Option<String>)> = source
        .exec(
            "SELECT COLUMN_NAME, COLUMN_KEY FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
            (schema, table),
        )
        .await
        .map_err(sql_err("columns"))?;
    let pk = primary_key(source, schema, table)
        .await
        .map_err(sql_err("primary key"))?;
    if columns.is_empty() {
        return Err(format!("verification: {schema}.{table} has no columns"));
    }
    Ok(Plan {
        name: format!("{}.{}", quote(schema), quote(table)),
        copies: pair
            .copies
            .iter()
            .map(|c| format!("{}.{}", quote(schema), quote(c)))
            .collect(),
        pk,
        hash: row_hash(&columns.iter().map(|c| c.0.clone()).collect::<Vec<_>>()),
        chunks: 1,
    })
}

/// A row's 64-bit hash: the first 16 hex digits of the MD5 of its columns
/// as bytes (with their NULL flags: `CONCAT_WS` skips NULLs).
pub(super) fn row_hash(columns: &[String]) -> String {
    let values: Vec<String> = columns
        .iter()
        .map(|c| format!("CAST({} AS BINARY)", quote(c)))
        .collect();
    let nulls: Vec<String> = columns
        .iter()
        .map(|c| format!("ISNULL({})", quote(c)))
        .collect();
    format!(
        "CAST(CONV(LEFT(MD5(CONCAT_WS('#', {}, CONCAT({}))), 16), 16, 10) AS UNSIGNED)",
        values.join(", "),
        nulls.join(", ")
    )
}

/// The chunks of a table: every `rows`-th key of the source's primary key
/// (one chunk for a table without one).
async fn boundaries(
    source: &mut Conn,
    plan: &Plan,
    table: usize,
    rows: usize,
) -> Result<Vec<Chunk>, String> {
    let mut chunks = Vec::new();
    let mut lo: Option<Vec<Value>> = None;
    if !plan.pk.is_empty() {
        let cols = key_list(&plan.pk);
        loop {
            let (cond, params) = match &lo {
                None => ("TRUE".to_string(), Vec::new()),
                Some(v) => (format!("({cols}) > ({})", marks(v.len())), v.clone()),
            };
            let sql = format!(
                "SELECT {cols} FROM {} WHERE {cond} ORDER BY {cols} LIMIT 1 OFFSET {}",
                plan.name,
                rows - 1
            );
            let hi: Option<mysql_async::Row> = source
                .exec_first(sql, Params::Positional(params))
                .await
                .map_err(sql_err("chunk boundaries"))?;
            let Some(hi) = hi else { break };
            let hi = hi.unwrap();
            chunks.push(Chunk {
                table,
                index: chunks.len(),
                lo: lo.clone(),
                hi: Some(hi.clone()),
            });
            lo = Some(hi);
        }
    }
    chunks.push(Chunk {
        table,
        index: chunks.len(),
        lo,
        hi: None,
    });
    Ok(chunks)
}

fn key_list(pk: &[String]) -> String {
    pk.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", ")
}

fn marks(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// A chunk's condition and its parameters.
fn range(plan: &Plan, chunk: &Chunk) -> (String, Vec<Value>) {
    let cols = key_list(&plan.pk);
    let mut cond = vec!["TRUE".to_string()];
    let mut params = Vec::new();
    if let Some(lo) = &chunk.lo {
        cond.push(format!("({cols}) > ({})", marks(lo.len())));
        params.extend(lo.iter().cloned());
    }
    if let Some(hi) = &chunk.hi {
        cond.push(format!("({cols}) <= ({})", marks(hi.len())));
        params.extend(hi.iter().cloned());
    }
    (cond.join(" AND "), params)
}

/// A chunk's range as text, for errors.
fn describe(plan: &Plan, chunk: &Chunk) -> String {
    let cols = plan.pk.join(", ");
    let show = |v: &[Value]| {
        v.iter()
            .map(|x| x.as_sql(false))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (&chunk.lo, &chunk.hi) {
        _ if plan.pk.is_empty() => "the whole table: it has no primary key".into(),
        (None, None) => format!("every ({cols})"),
        (Some(lo), None) => format!("({cols}) > ({})", show(lo)),
        (None, Some(hi)) => format!("({cols}) <= ({})", show(hi)),
        (Some(lo), Some(hi)) => format!("({cols}) > ({}) and <= ({})", show(lo), show(hi)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_conditions_and_their_text() {
        let plan = Plan {
            name: "`s`.`t`".into(),
            copies: Vec::new(),
            pk: vec!["a".into(), "b".into()],
            hash: String::new(),
            chunks: 3,
        };
        let v = |a: i64, b: &str| Some(vec![Value::Int(a), Value::Bytes(b.into())]);
        let cases = [
            (None, None, "TRUE", 0, "every (a, b)"),
            (
                v(1, "x"),
                None,
                "TRUE AND (`a`, `b`) > (?, ?)",
                2,
                "(a, b) > (1, 'x')",
            ),
            (
                None,
                v(2, "y"),
                "TRUE AND (`a`, `b`) <= (?, ?)",
                2,
                "(a, b) <= (2, 'y')",
            ),
            (
                v(1, "x"),
                v(2, "y"),
                "TRUE AND (`a`, `b`) > (?, ?) AND (`a`, `b`) <= (?, ?)",
                4,
                "(a, b) > (1, 'x') and <= (2, 'y')",
            ),
        ];
        for (lo, hi, cond, n, text) in cases {
            let chunk = Chunk {
                table: 0,
                index: 0,
                lo,
                hi,
            };
            let (c, p) = range(&plan, &chunk);
            assert_eq!((c.as_str(), p.len()), (cond, n));
            assert_eq!(describe(&plan, &chunk), text);
        }
        let hash = row_hash(&["id".into(), "note".into()]);
        assert!(hash.contains("CAST(`note` AS BINARY)") && hash.contains("ISNULL(`id`)"));
    }
}
