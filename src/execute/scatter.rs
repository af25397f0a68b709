//! Running one statement on several shards at once and answering the
//! client with one result: writes are summed into one OK (or the first
//! error), reads are merged by the router's [`MergeSpec`] as they stream
//! in, composed from the operators of `execute::merge`.
//!
//! A plain concatenation (no order, grouping, DISTINCT or LIMIT) copies
//! the shard rows already at hand to the client as they came, cut to the
//! visible values, without decoding them into rows.
//!
//! Memory stays bounded: ordered merges hold one row per shard; only
//! grouping holds its groups (with the distinct values and GROUP_CONCAT
//! values gathered for them), and stops with a clear error at the budget.
//! HAVING and expressions on aggregates are checked against the result's
//! column types before the header is sent, so a refusal is a clean error.
//!
//! Owns: the scatter protocol exchange and the composition of the merge.
//! Must not choose shards or rewrite SQL (that is `router`).

use bytes::Bytes;
use mysql_common::constants::CapabilityFlags;

use super::command::Protocol;
use super::merge::{
    Budget, Chain, CombineGroups, Distinct, DistinctRows, Having, Limit, MergeColumns, RowSource,
    SameCollation, Sort, SortMerge,
};
use super::relay::{ClientStream, Outcome};
use super::result_writer::ResultWriter;
use super::shard_source::{backend_err, read_headers, ShardStream};
use crate::backend::BackendConn;
use crate::error::{ProxyError, Result};
use crate::merge::{ColumnInfo, TextRow};
use crate::router::shard::MergeSpec;
use crate::wire::ok_sum::WriteKind;
use crate::wire::packets::{is_err, is_terminator, OkPacket};

pub use super::shard_source::{read_answer, ReadAnswer, ShardSource};

/// Reads the answer of a write sent to every shard and sums the OKs. The
/// first error wins (the caller is responsible for atomicity: inside a
/// transaction it rolls back). Every answer is read, so the connections
/// stay usable.
/// `kind` says what a shard's missing info text means (see
/// [`OkPacket::add_shard`]).
pub async fn read_write_answers(
    shards: &mut [&mut BackendConn],
    files: &[Option<&[u8]>],
    kind: WriteKind,
) -> Result<OkPacket> {
    let mut total = OkPacket::default();
    let mut first_err = None;
    for (i, conn) in shards.iter_mut().enumerate() {
        let mut p = conn.read_packet().await?;
        if p.payload.first() == Some(&0xFB) {
            // A LOAD DATA LOCAL INFILE asks for its file: the rows the
            // proxy split for it, or (never reading a file itself) none.
            let file = files.get(i).copied().flatten().unwrap_or_default();
            send_local_file(conn, p.seq, file).await?;
            p = conn.read_packet().await?;
        }
        if is_err(&p.payload) {
            first_err.get_or_insert_with(|| backend_err(&p.payload));
            continue;
        }
        if p.payload.first() == Some(&0x00) {
            if let Some(ok) = conn.absorb_ok(&p.payload) {
                total.add_shard(ok, kind);
            }
        } else {
            // A result set where a write was expected: drain it.
            loop {
                let r = conn.read_packet().await?;
                if is_terminator(&r.payload) || is_err(&r.payload) {
                    break;
                }
            }
        }
    }
    match first_err {
        Some(e) => Err(e),
        None => Ok(total),
    }
}

/// Answers a server's request for a local file with `file`, in packets
/// of at most 64 KiB, then the empty packet that ends it.
async fn send_local_file(conn: &mut BackendConn, request_seq: u8, file: &[u8]) -> Result<()> {
    let mut seq = request_seq.wrapping_add(1);
    for chunk in file.chunks(64 * 1024) {
        conn.send_data(&mut seq, chunk).await?;
    }
    conn.send_data(&mut seq, &[]).await?;
    conn.flush().await
}

/// Adds one part of a scattered write (already a sum with its own info
/// text) to the total.
pub fn add_ok(total: &mut OkPacket, ok: OkPacket) {
    total.add_shard(ok, WriteKind::Other);
}

/// Merges the answers of `sources` (commands already sent, or answers
/// read in full) and streams the result to the client. Never presents a
/// partial result as complete: a shard error becomes an ERR packet to the
/// client. Sources whose answer the merge did not need to the end are left
/// for `BackendConn::settle`.
#[allow(clippy::too_many_arguments)]
pub async fn merge_sources(
    sources: &mut [ShardSource<'_>],
    protocol: Protocol,
    client: &mut ClientStream,
    caps: CapabilityFlags,
    seq: &mut u8,
    plan: &MergeSpec,
    budget: Budget,
    status: u16,
) -> Outcome {
    let merged = merge_sources_if(
        sources, protocol, client, caps, seq, plan, budget, status, None,
    )
    .await;
    merged.unwrap_or_default()
}

/// Decides from the column definitions a merge would send whether to go on
/// (see [`merge_sources_if`]).
pub type HeaderCheck<'a> = &'a (dyn Fn(&[Bytes]) -> bool + Send + Sync);

/// [`merge_sources`], with the first source's column definitions shown to
/// `accept` before anything reaches the client: when it declines, the
/// answer is `None`, nothing was sent, and the sources' answers are left
/// unread (for `BackendConn::settle`), so the caller may run the statement
/// another way.
#[allow(clippy::too_many_arguments)]
pub async fn merge_sources_if(
    sources: &mut [ShardSource<'_>],
    protocol: Protocol,
    client: &mut ClientStream,
    caps: CapabilityFlags,
    seq: &mut u8,
    plan: &MergeSpec,
    budget: Budget,
    status: u16,
    accept: Option<HeaderCheck<'_>>,
) -> Option<Outcome> {
    let mut out = Outcome::default();
    let ran = run_select(
        sources, protocol, client, caps, seq, plan, budget, status, accept, &mut out,
    )
    .await
    .map_err(|e| named_missing_table(e, plan));
    for s in sources.iter_mut() {
        s.leave_unread();
    }
    match ran {
        Ok(false) => None,
        Ok(true) => Some(finish_select(Ok(()), client, seq, out).await),
        Err(e) => Some(finish_select(Err(e), client, seq, out).await),
    }
}

/// Whether a `UNION ALL` of one node's physical tables (see
/// `router::shard::node_union`) describes its columns as the first branch
/// alone would, as far as the type tells: a UNION widens TEXT/BLOB/JSON
/// to larger BLOB types and types a `NULL` item CHAR(0). (It also types
/// ENUM/SET columns VARCHAR, which no header shows: the router leaves
/// reads naming them out.)
pub fn union_header_faithful(defs: &[Bytes]) -> bool {
    use mysql_common::constants::ColumnType::*;
    use mysql_common::packets::Column;
    defs.iter().all(|d| {
        let classic = crate::wire::packets::without_extended_metadata(d);
        let parsed: std::io::Result<Column> = mysql_common::io::ParseBuf(&classic).parse(());
        let Ok(col) = parsed else {
            return false;
        };
        match col.column_type() {
            MYSQL_TYPE_TINY_BLOB
            | MYSQL_TYPE_MEDIUM_BLOB
            | MYSQL_TYPE_LONG_BLOB
            | MYSQL_TYPE_BLOB
            | MYSQL_TYPE_GEOMETRY
            | MYSQL_TYPE_JSON
            | MYSQL_TYPE_NULL
            | MYSQL_TYPE_ENUM
            | MYSQL_TYPE_SET => false,
            MYSQL_TYPE_STRING => col.column_length() > 0,
            _ => true,
        }
    })
}

/// A shard's 1146 on a missing `time_range` period table: the error
/// naming the logical table and period (as single-target statements get).
pub fn named_missing_table(e: ProxyError, plan: &MergeSpec) -> ProxyError {
    match (&e, &plan.missing_table_message) {
        (ProxyError::Backend(p), Some(message)) if p.code == 1146 => {
            ProxyError::Backend(crate::wire::packets::ErrPacket::new(1146, "42S02", message))
        }
        _ => e,
    }
}

/// Reports a statement that failed before its merge began to the client
/// (unless it is gone).
pub async fn report_failure(e: ProxyError, client: &mut ClientStream, seq: &mut u8) -> Outcome {
    finish_select(Err(e), client, seq, Outcome::default()).await
}

/// Reports a failed merge to the client (unless it is gone).
async fn finish_select(
    ran: Result<()>,
    client: &mut ClientStream,
    seq: &mut u8,
    mut out: Outcome,
) -> Outcome {
    if let Err(e) = ran {
        if matches!(e, ProxyError::ClientGone) {
            out.client_lost = true;
        } else {
            let mut buf = Vec::new();
            e.to_err_packet().encode(&mut buf);
            if client.send(seq, &buf).await.is_err() {
                out.client_lost = true;
            }
            out.error = Some(e.to_err_packet());
            out.sent_anything = true;
        }
        out.failure = Some(e);
    }
    out
}

/// Reads the shards' headers, checks the recipe, sends the client's
/// header, then the merged rows and the terminator.
#[allow(clippy::too_many_arguments)]
async fn run_select(
    shards: &mut [ShardSource<'_>],
    protocol: Protocol,
    client: &mut ClientStream,
    caps: CapabilityFlags,
    seq: &mut u8,
    plan: &MergeSpec,
    budget: Budget,
    status: u16,
    accept: Option<HeaderCheck<'_>>,
    out: &mut Outcome,
) -> Result<bool> {
    let mut streams: Vec<ShardStream<'_, '_>> = shards.iter_mut().map(ShardStream::new).collect();
    let defs = read_headers(&mut streams).await?;
    if accept.is_some_and(|accept| !accept(&defs)) {
        return Ok(false);
    }
    let m = MergeColumns::new(&defs, plan)?;
    let binary = protocol == Protocol::Binary;
    if binary {
        for s in streams.iter_mut() {
            s.decode_binary(m.columns.clone());
        }
    }
    let defs = m.client_defs(defs, plan);
    let binary_columns = binary.then_some(&m.columns[..]);
    let mut writer = ResultWriter::new(client, seq, caps, status, binary_columns, m.visible);
    if m.probes.is_empty() {
        let sent = writer.header(&defs).await;
        out.sent_anything = writer.started();
        sent?;
        out.result_sets = 1;
        if plain_concat(plan, &m, writer.is_text()) {
            concat_rows(&mut writer, &mut streams, m.visible).await?;
        } else if sorted_as_they_come(plan, &m, writer.is_text()) {
            sorted_rows(&mut writer, &mut streams, plan, &m, budget).await?;
        } else {
            write_rows(&mut writer, &mut streams, plan, &m, budget).await?;
        }
    } else {
        // A UNION whose branches may disagree on a collation: its rows are
        // held (up to the merge budget) until every one was checked, so a
        // mismatch is an error before anything is sent.
        let mut held = Held {
            writer: &mut writer,
            defs: &defs,
            rows: Vec::new(),
            hold: budget.max_groups,
        };
        let merged = write_rows(&mut held, &mut streams, plan, &m, budget).await;
        out.sent_anything = writer.started();
        merged?;
        out.result_sets = 1;
    }
    let warnings = streams
        .iter()
        .map(ShardStream::warnings)
        .fold(0, u16::saturating_add);
    drop(streams);
    crate::ops::event_stats::EVENTS
        .merge_rows
        .fetch_add(writer.rows_sent(), std::sync::atomic::Ordering::Relaxed);
    out.status = writer.finish(warnings).await?;
    out.warnings = warnings;
    Ok(true)
}

/// The merge proper: shard rows through the operators `plan` needs, to
/// the writer. No operator that would pass every row unchanged is put in
/// the way (no `SameCollation` without probes, no `Limit` without OFFSET
/// or LIMIT); the hidden columns are cut by the sink.
async fn write_rows<W: RowSink>(
    writer: &mut W,
    streams: &mut [ShardStream<'_, '_>],
    plan: &MergeSpec,
    m: &MergeColumns,
    budget: Budget,
) -> Result<()> {
    let (columns, orders, keys) = (&m.columns[..], &m.orders[..], &m.order_by[..]);
    let having = plan.having.as_ref();
    let probes = &m.probes[..];
    if let Some(groups) = &plan.aggregate {
        let combined = CombineGroups::new(Chain::new(streams), groups, columns, orders, budget);
        let kept = Having::new(combined, having, columns, orders);
        // SELECT DISTINCT over combined groups (already held: no budget).
        let distinct = Distinct::new(kept, m.visible, orders, None).enabled(plan.distinct);
        finish(writer, Sort::new(distinct, keys, orders), plan).await
    } else if plan.distinct && having.is_none() && runs_hold_classes(keys, orders, m.visible) {
        // Shards sorted their rows by the ORDER BY, which names visible
        // columns only: a class's rows are in one run of equal sort keys
        // of the k-way merge (`Distinct::within_runs`). Nothing held but
        // the current run's keys; the rows and their order are those of
        // sorting the deduplicated concatenation (below).
        let merged = SortMerge::new(streams, keys, orders);
        let budget = Some(budget);
        if probes.is_empty() {
            let distinct = Distinct::new(merged, m.visible, orders, budget).within_runs(keys);
            finish(writer, distinct, plan).await
        } else {
            let rows = SameCollation::new(merged, probes);
            let distinct = Distinct::new(rows, m.visible, orders, budget).within_runs(keys);
            finish(writer, distinct, plan).await
        }
    } else if plan.distinct {
        // Every distinct row is read (and counted against the budget)
        // before HAVING looks at any.
        let rows = SameCollation::new(Chain::new(streams), probes);
        let distinct = Distinct::new(rows, m.visible, orders, Some(budget));
        let kept = Having::new(Sort::new(distinct, &[], orders), having, columns, orders);
        finish(writer, Sort::new(kept, keys, orders), plan).await
    } else if keys.is_empty() {
        finish(writer, Chain::new(streams), plan).await
    } else if probes.is_empty() {
        // Streaming k-way merge: one row per shard in memory.
        finish(writer, SortMerge::new(streams, keys, orders), plan).await
    } else {
        let rows = SameCollation::new(SortMerge::new(streams, keys, orders), probes);
        finish(writer, rows, plan).await
    }
}

/// OFFSET/LIMIT when the statement has them, then the rows to `writer`
/// (which sends or keeps only the visible columns).
async fn finish<W: RowSink, S: RowSource>(writer: &mut W, rows: S, plan: &MergeSpec) -> Result<()> {
    if plan.offset == 0 && plan.limit.is_none() {
        writer.rows(rows).await
    } else {
        writer.rows(Limit::new(rows, plan.offset, plan.limit)).await
    }
}

/// Whether `plan` is a plain concatenation of the shards' rows, sent as
/// they come: no grouping, DISTINCT, HAVING, order, OFFSET/LIMIT or
/// UNION collation probes, text protocol.
fn plain_concat(plan: &MergeSpec, m: &MergeColumns, text: bool) -> bool {
    text && plan.aggregate.is_none()
        && !plan.distinct
        && plan.having.is_none()
        && m.order_by.is_empty()
        && m.probes.is_empty()
        && plan.offset == 0
        && plan.limit.is_none()
}

/// [`write_rows`] for a [`plain_concat`] plan: every shard's rows in
/// turn (as `Chain` reads them), those already at hand copied to the
/// client as their packets came, cut to the visible values, without
/// decoding them; the others (a row that must be waited for, the
/// terminator, an error, anything malformed) read as rows as usual.
async fn concat_rows(
    writer: &mut ResultWriter<'_, crate::wire::tls::ClientIo>,
    streams: &mut [ShardStream<'_, '_>],
    visible: usize,
) -> Result<()> {
    for s in streams.iter_mut() {
        loop {
            s.copy_ready_rows(visible, |p| writer.queue_row_payload(p));
            writer.flush_if_full().await?;
            match s.next().await? {
                Some(row) => writer.row(&row).await?,
                None => break,
            }
        }
    }
    Ok(())
}

/// Whether `plan` is a k-way merge of the shards' sorted rows sent as
/// they come, text protocol: no grouping, HAVING, OFFSET/LIMIT or UNION
/// collation probes, and a DISTINCT only when its classes are runs of the
/// merge (what [`write_rows`] then composes of `SortMerge` and
/// `Distinct::within_runs`).
fn sorted_as_they_come(plan: &MergeSpec, m: &MergeColumns, text: bool) -> bool {
    text && plan.aggregate.is_none()
        && plan.having.is_none()
        && !m.order_by.is_empty()
        && m.probes.is_empty()
        && plan.offset == 0
        && plan.limit.is_none()
        && (!plan.distinct || runs_hold_classes(&m.order_by, &m.orders, m.visible))
}

/// [`write_rows`] for a [`sorted_as_they_come`] plan: the k-way merge
/// passes the rows at hand in the shards' read buffers to the client
/// borrowed (`SortMerge::emit_ready`), without making a packet or a row
/// of each; only a row that must be waited for is read as usual. The
/// same rows, in the same order, against the same budget.
async fn sorted_rows(
    writer: &mut ResultWriter<'_, crate::wire::tls::ClientIo>,
    streams: &mut [ShardStream<'_, '_>],
    plan: &MergeSpec,
    m: &MergeColumns,
    budget: Budget,
) -> Result<()> {
    let (orders, keys) = (&m.orders[..], &m.order_by[..]);
    let mut merge = SortMerge::new(streams, keys, orders);
    let mut distinct = plan
        .distinct
        .then(|| DistinctRows::new(m.visible, orders, Some(budget)).within_runs(keys));
    loop {
        let more = merge.emit_ready(|row| {
            if let Some(d) = distinct.as_mut() {
                if !d.admits(row)? {
                    return Ok(true);
                }
            }
            writer.queue_row(row);
            Ok(!writer.is_full())
        })?;
        writer.flush_if_full().await?;
        if !more {
            return Ok(());
        }
        merge.fill().await?;
    }
}

/// Where [`write_rows`] puts the merged rows: the client's result, or
/// memory.
trait RowSink: Send {
    fn rows<R: RowSource>(
        &mut self,
        rows: R,
    ) -> impl std::future::Future<Output = Result<()>> + Send;
}

impl RowSink for ResultWriter<'_, crate::wire::tls::ClientIo> {
    fn rows<R: RowSource>(
        &mut self,
        rows: R,
    ) -> impl std::future::Future<Output = Result<()>> + Send {
        ResultWriter::rows(self, rows)
    }
}

/// The client's result, its header and rows held back until `hold` rows
/// passed (or the merge ended), so that an error found meanwhile reaches
/// the client instead of a result.
struct Held<'w, 'c> {
    writer: &'w mut ResultWriter<'c, crate::wire::tls::ClientIo>,
    defs: &'w [Bytes],
    rows: Vec<TextRow>,
    hold: usize,
}

impl Held<'_, '_> {
    async fn release(&mut self) -> Result<()> {
        if !self.writer.started() {
            self.writer.header(self.defs).await?;
        }
        for row in std::mem::take(&mut self.rows) {
            self.writer.row(&row).await?;
        }
        Ok(())
    }
}

impl RowSink for Held<'_, '_> {
    async fn rows<R: RowSource>(&mut self, mut rows: R) -> Result<()> {
        while let Some(row) = rows.next().await? {
            if self.writer.started() {
                self.writer.row(&row).await?;
            } else {
                self.rows.push(row);
                if self.rows.len() > self.hold {
                    self.release().await?;
                }
            }
        }
        self.release().await
    }
}

/// The first `limit` merged rows, kept in memory, cut to the `visible`
/// columns.
struct Collector {
    rows: Vec<TextRow>,
    limit: usize,
    visible: usize,
}

impl RowSink for Collector {
    async fn rows<R: RowSource>(&mut self, mut rows: R) -> Result<()> {
        while self.rows.len() < self.limit {
            match rows.next().await? {
                Some(mut row) => {
                    row.truncate(self.visible);
                    self.rows.push(row)
                }
                None => break,
            }
        }
        Ok(())
    }
}

/// Merges the answers of `sources` (commands already sent or answers read
/// in full; binary rows come out as canonical text rows, see
/// `merge::binary`) as [`merge_sources`] does, into memory: the
/// visible columns and at most `limit` rows (the merge stops there; the
/// rest of the sources' answers is left for `BackendConn::settle`). For a
/// statement the proxy runs itself (a subquery pulled out of the client's
/// statement).
pub async fn merge_collect(
    sources: &mut [ShardSource<'_>],
    protocol: Protocol,
    plan: &MergeSpec,
    budget: Budget,
    limit: usize,
) -> Result<(Vec<ColumnInfo>, Vec<TextRow>)> {
    let collected = async {
        let mut streams: Vec<ShardStream<'_, '_>> =
            sources.iter_mut().map(ShardStream::new).collect();
        let defs = read_headers(&mut streams).await?;
        let m = MergeColumns::new(&defs, plan)?;
        if protocol == Protocol::Binary {
            for s in streams.iter_mut() {
                s.decode_binary(m.columns.clone());
            }
        }
        let mut sink = Collector {
            rows: Vec::new(),
            limit,
            visible: m.visible,
        };
        write_rows(&mut sink, &mut streams, plan, &m, budget).await?;
        let mut columns = m.columns;
        columns.truncate(m.visible);
        Ok((columns, sink.rows))
    }
    .await;
    for s in sources.iter_mut() {
        s.leave_unread();
    }
    collected
}

/// Whether a DISTINCT's classes are runs of rows equal on the sort
/// `keys`: there are keys, each names a visible column, and a column of
/// that kind whose equality keys are equal compares equal.
fn runs_hold_classes(
    keys: &[crate::merge::compare::ResolvedKey],
    orders: &[crate::merge::ValueOrder],
    visible: usize,
) -> bool {
    use crate::merge::ValueOrder as O;
    !keys.is_empty()
        && keys.iter().all(|k| {
            k.column < visible
                && matches!(
                    orders.get(k.column),
                    Some(
                        O::Integer
                            | O::Decimal
                            | O::Bytes
                            | O::PaddedBytes
                            | O::TemporalText
                            | O::GeneralCi
                            | O::Folded(_)
                            | O::Weight { .. }
                    )
                )
        })
}
