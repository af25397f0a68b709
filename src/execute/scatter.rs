//! Running one statement on several shards at once and answering the
//! client with one result: writes are summed into one OK (or the first
//! error), reads are merged by the router's [`MergeSpec`] as they stream in.
//!
//! Memory stays bounded: ordered merges hold one row per shard; only
//! grouping holds its groups (with the distinct values and GROUP_CONCAT
//! values gathered for them), and stops with a clear error at the budget.
//! HAVING and expressions on aggregates are checked against the result's
//! column types before the header is sent, so a refusal is a clean error.
//!
//! Owns: the scatter protocol exchange and the merge loop. Must not choose
//! shards or rewrite SQL (that is `router`).

use std::cmp::Ordering;
use std::collections::HashMap;

use bytes::Bytes;
use mysql_common::constants::{CapabilityFlags, StatusFlags};

use super::command::Protocol;
use super::relay::{client_gone, ClientStream, Outcome};
use crate::backend::BackendConn;
use crate::error::{ProxyError, Result};
use crate::merge::compare::equality_key;
use crate::merge::concat::ConcatState;
use crate::merge::decimal::Decimal;
use crate::merge::{compare_rows, ColumnInfo, SortKey, TextRow, ValueOrder};
use crate::router::shard::{AggregateMerge, ColumnRef, Combine, MergeSpec};
use crate::wire::packets::{
    encode_eof, is_err, is_terminator, put_lenenc_int, ErrPacket, OkPacket, Reader,
};

/// The combining columns of an aggregate merge (neither group keys nor
/// "any value" columns), in column order.
fn aggregates(a: &AggregateMerge) -> impl Iterator<Item = (usize, Combine)> + '_ {
    a.columns
        .iter()
        .enumerate()
        .filter(|(_, c)| !matches!(c, Combine::Group | Combine::Any))
        .map(|(i, c)| (i, *c))
}

/// The hidden columns holding a DISTINCT aggregate's arguments.
fn distinct_args(c: Combine) -> Option<std::ops::Range<usize>> {
    match c {
        Combine::CountDistinct { first, n } => Some(first..first + n),
        Combine::SumDistinct { arg } | Combine::AvgDistinct { arg } => Some(arg..arg + 1),
        _ => None,
    }
}

/// Bounds for merges that must hold rows.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub max_groups: usize,
}

impl Default for Budget {
    fn default() -> Self {
        Budget {
            max_groups: 1_000_000,
        }
    }
}

fn backend_err(p: &[u8]) -> ProxyError {
    ProxyError::Backend(
        ErrPacket::parse(p).unwrap_or_else(|| ErrPacket::new(1105, "HY000", "shard error")),
    )
}

/// Reads the answer of a write sent to every shard and sums the OKs. The
/// first error wins (the caller is responsible for atomicity: inside a
/// transaction it rolls back). Every answer is read, so the connections
/// stay usable.
pub async fn read_write_answers(shards: &mut [&mut BackendConn]) -> Result<OkPacket> {
    let mut total = OkPacket::default();
    let mut first_err = None;
    for conn in shards.iter_mut() {
        let p = conn.read_packet().await?;
        if is_err(&p.payload) {
            first_err.get_or_insert_with(|| backend_err(&p.payload));
            continue;
        }
        if p.payload.first() == Some(&0x00) {
            if let Some(ok) = conn.absorb_ok(&p.payload) {
                add_ok(&mut total, ok);
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

/// Adds one shard's OK to the sum of a scattered write.
pub fn add_ok(total: &mut OkPacket, ok: OkPacket) {
    total.affected_rows += ok.affected_rows;
    if total.last_insert_id == 0 {
        total.last_insert_id = ok.last_insert_id;
    }
    total.warnings = total.warnings.saturating_add(ok.warnings);
    total.status = ok.status;
    total.changes.extend(ok.changes);
}

/// Where one shard's answer comes from.
pub enum ShardSource<'a> {
    /// A connection its command was sent to: the answer streams.
    /// `finished` once its terminator (or error) was read.
    Live {
        conn: &'a mut BackendConn,
        finished: bool,
    },
    /// An answer already read in full ([`read_answer`]): shard statements
    /// that must share one connection (a transaction's) run one after the
    /// other, and all but the last are held in memory.
    Read(ReadAnswer),
}

/// A whole answer of one shard statement.
pub struct ReadAnswer {
    packets: std::collections::VecDeque<Bytes>,
    caps: CapabilityFlags,
}

/// Reads the whole answer of the command just sent on `conn` (result
/// header, column definitions, rows, terminator; or one OK/ERR). Fails when
/// the answer's packets exceed `max_bytes` (the connection is then broken).
pub async fn read_answer(conn: &mut BackendConn, max_bytes: usize) -> Result<ReadAnswer> {
    let mut packets = std::collections::VecDeque::new();
    let mut bytes = 0usize;
    let mut push = |conn: &mut BackendConn, p: Bytes| -> Result<()> {
        bytes += p.len();
        if bytes > max_bytes {
            conn.broken = true;
            return Err(ProxyError::Unsupported(format!(
                "a shard's part of this merge exceeds {} MiB; inside a transaction, several \
                 physical tables of one node are read one after the other through the \
                 transaction's connection and held in memory until merged",
                max_bytes >> 20
            )));
        }
        packets.push_back(p);
        Ok(())
    };
    let first = conn.read_packet().await?.payload;
    let single = is_err(&first) || first.first() == Some(&0x00);
    let columns = if single {
        0
    } else {
        Reader::new(&first)
            .lenenc_int()
            .ok_or_else(|| ProxyError::MalformedPacket("bad column count".into()))? as usize
    };
    push(conn, first)?;
    if !single {
        for _ in 0..columns {
            let p = conn.read_packet().await?.payload;
            push(conn, p)?;
        }
        loop {
            let p = conn.read_packet().await?.payload;
            let end = is_terminator(&p) || is_err(&p);
            if end && !is_err(&p) {
                conn.absorb_ok(&p);
            }
            push(conn, p)?;
            if end {
                break;
            }
        }
    }
    Ok(ReadAnswer {
        packets,
        caps: conn.caps,
    })
}

impl<'a> ShardSource<'a> {
    async fn read_packet(&mut self) -> Result<Bytes> {
        match self {
            ShardSource::Live { conn, .. } => Ok(conn.read_packet().await?.payload),
            ShardSource::Read(a) => a
                .packets
                .pop_front()
                .ok_or_else(|| ProxyError::Internal("a shard answer ended early".into())),
        }
    }

    fn absorb_ok(&mut self, payload: &[u8]) -> Option<OkPacket> {
        match self {
            ShardSource::Live { conn, .. } => conn.absorb_ok(payload),
            ShardSource::Read(a) => OkPacket::parse(payload, a.caps),
        }
    }

    /// A connection whose command was sent: its answer streams.
    pub fn live(conn: &'a mut BackendConn) -> Self {
        ShardSource::Live {
            conn,
            finished: false,
        }
    }

    fn finish(&mut self) {
        if let ShardSource::Live { finished, .. } = self {
            *finished = true;
        }
    }

    /// The merge stopped before this source's answer ended (LIMIT reached,
    /// or another shard failed): its rows are read later, before the
    /// connection is reused (`BackendConn::settle`), rather than the
    /// connection being thrown away.
    fn leave_unread(&mut self) {
        if let ShardSource::Live {
            conn,
            finished: false,
        } = self
        {
            conn.unread_rows = true;
        }
    }
}

/// The shard side of a merge: reads column definitions and rows.
struct ShardStream<'s, 'a> {
    conn: &'s mut ShardSource<'a>,
    columns: usize,
    done: bool,
    warnings: u16,
    /// Binary-protocol rows (a prepared statement): their columns, to
    /// decode them into canonical text rows.
    binary: Option<Vec<ColumnInfo>>,
}

impl ShardStream<'_, '_> {
    /// Reads the result header; returns the column definitions.
    async fn header(&mut self) -> Result<Vec<Bytes>> {
        let payload = self.conn.read_packet().await?;
        if is_err(&payload) {
            self.done = true;
            self.conn.finish();
            return Err(backend_err(&payload));
        }
        if payload.first() == Some(&0x00) {
            self.done = true;
            self.conn.finish();
            return Err(ProxyError::Internal(
                "a shard answered a SELECT with OK".into(),
            ));
        }
        let n = Reader::new(&payload)
            .lenenc_int()
            .ok_or_else(|| ProxyError::MalformedPacket("bad column count".into()))?
            as usize;
        self.columns = n;
        let mut defs = Vec::with_capacity(n);
        for _ in 0..n {
            defs.push(self.conn.read_packet().await?);
        }
        Ok(defs)
    }

    async fn next(&mut self) -> Result<Option<TextRow>> {
        if self.done {
            return Ok(None);
        }
        let payload = self.conn.read_packet().await?;
        if is_terminator(&payload) {
            self.done = true;
            self.conn.finish();
            if let Some(ok) = self.conn.absorb_ok(&payload) {
                self.warnings = ok.warnings;
            }
            return Ok(None);
        }
        if is_err(&payload) {
            self.done = true;
            self.conn.finish();
            return Err(backend_err(&payload));
        }
        if let Some(columns) = &self.binary {
            return crate::merge::binary::decode_row(&payload, columns)
                .map(Some)
                .map_err(|e| ProxyError::MalformedPacket(format!("bad row from shard: {e}")));
        }
        TextRow::decode(payload, self.columns)
            .map(Some)
            .ok_or_else(|| ProxyError::MalformedPacket("bad row from shard".into()))
    }
}

/// Accumulated state of one group.
struct Group {
    /// The first row seen for the group (non-aggregate columns come from it).
    row: TextRow,
    values: Vec<Option<Vec<u8>>>,
    counts: Vec<Option<Num>>,
    /// Per aggregate (same order as the plan's): the distinct values seen
    /// by a DISTINCT aggregate.
    distinct: Vec<DistinctSet>,
    /// Per GROUP_CONCAT of the plan: the values gathered.
    concats: Vec<ConcatState>,
}

/// The values a DISTINCT aggregate has seen in one group, and their sum.
#[derive(Default)]
struct DistinctSet {
    seen: std::collections::HashSet<Vec<Vec<u8>>>,
    sum: Option<Num>,
}

/// Adds the row's arguments of DISTINCT aggregates to the group's sets;
/// returns how many new values were stored (for the memory budget).
fn gather_distinct(
    g: &mut Group,
    row: &TextRow,
    plan: &AggregateMerge,
    orders: &[ValueOrder],
) -> usize {
    let mut added = 0;
    for (spec, state) in plan.concats.iter().zip(g.concats.iter_mut()) {
        added += state.add(spec, row, orders);
    }
    for ((column, kind), set) in aggregates(plan).zip(g.distinct.iter_mut()) {
        let Some(args) = distinct_args(kind) else {
            continue;
        };
        // NULL arguments are not counted (COUNT(DISTINCT a, b) skips a
        // tuple with any NULL).
        let key: Option<Vec<Vec<u8>>> = args
            .map(|c| equality_key(orders.get(c)?, row.value(c)))
            .collect();
        let Some(key) = key else { continue };
        if set.seen.insert(key) {
            added += 1;
            if !matches!(kind, Combine::CountDistinct { .. }) {
                let v = row.value(column).and_then(|v| Num::parse(v, false));
                set.sum = add_opt(set.sum.take(), v);
            }
        }
    }
    added
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
    let mut out = Outcome::default();
    let ran = run_select(
        sources, protocol, client, caps, seq, plan, budget, status, &mut out,
    )
    .await;
    for s in sources.iter_mut() {
        s.leave_unread();
    }
    finish_select(ran, client, seq, out).await
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
    out: &mut Outcome,
) -> Result<()> {
    let mut streams: Vec<ShardStream<'_, '_>> = shards
        .iter_mut()
        .map(|c| ShardStream {
            conn: c,
            columns: 0,
            done: false,
            warnings: 0,
            binary: None,
        })
        .collect();
    let mut defs = Vec::new();
    let mut first_err = None;
    for s in streams.iter_mut() {
        match s.header().await {
            Ok(d) if defs.is_empty() => defs = d,
            Ok(_) => {}
            Err(e) => {
                first_err.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    let columns = parse_columns(&defs)?;
    if protocol == Protocol::Binary {
        for s in streams.iter_mut() {
            s.binary = Some(columns.clone());
        }
    }
    let orders: Vec<ValueOrder> = columns.iter().map(ValueOrder::for_column).collect();
    if let Some(g) = &plan.aggregate {
        // Every column the plan names must exist in the shards' rows (a
        // plan/result mismatch must not index out of range).
        let n = columns.len();
        let named = g
            .group_by
            .iter()
            .copied()
            .chain(aggregates(g).flat_map(|(column, kind)| {
                let mut v = vec![column];
                match kind {
                    Combine::Avg { count } => v.extend([column, count]),
                    k => v.extend(distinct_args(k).into_iter().flatten()),
                }
                v
            }))
            .chain(g.concats.iter().flat_map(|c| {
                let mut v = vec![c.value, c.count, c.max_len];
                v.extend(c.order.iter().map(|o| o.0));
                v
            }));
        if named.into_iter().any(|c| c >= n) {
            return Err(ProxyError::Internal(
                "the shards answered fewer columns than the merge plan needs".into(),
            ));
        }
        for (column, kind) in aggregates(g) {
            let exact = matches!(
                orders.get(column),
                Some(ValueOrder::Decimal | ValueOrder::Integer)
            );
            if matches!(
                kind,
                Combine::SumDistinct { .. } | Combine::AvgDistinct { .. }
            ) && !exact
            {
                // The server adds floating-point values in an order the
                // proxy cannot reproduce.
                return Err(ProxyError::Routing(
                    "SUM/AVG(DISTINCT …) of a floating-point or string value cannot be merged across shards exactly".into(),
                ));
            }
        }
    }
    if let Some(g) = &plan.aggregate {
        for (column, kind) in aggregates(g) {
            if let Combine::Computed { index } = kind {
                let (Some(e), Some(c)) = (g.computed.get(index), columns.get(column)) else {
                    return Err(ProxyError::Internal("bad computed column".into()));
                };
                e.check_output(&columns, c).map_err(|why| {
                    ProxyError::Routing(format!(
                        "an expression on aggregates cannot be merged across shards: {why}"
                    ))
                })?;
            }
        }
    }
    if let Some(h) = &plan.having {
        // Before anything reaches the client: a refusal is a clean error.
        h.check(&columns).map_err(|e| {
            ProxyError::Routing(format!("HAVING cannot be merged across shards: {e}"))
        })?;
    }
    let visible = columns.len().saturating_sub(plan.hidden_columns);
    let order_by: Vec<SortKey> = plan
        .order_by
        .iter()
        .map(|k| SortKey {
            column: match k.column {
                ColumnRef::Index(i) => i,
                ColumnRef::Hidden(i) => visible + i,
            },
            descending: k.descending,
        })
        .collect();
    let defs = client_defs(defs, &columns, plan);

    // Header to the client: visible columns only.
    let mut buf = Vec::new();
    put_lenenc_int(&mut buf, visible as u64);
    client.send(seq, &buf).await.map_err(client_gone)?;
    out.sent_anything = true;
    for d in defs.iter() {
        client.send(seq, d).await.map_err(client_gone)?;
    }
    let deprecate_eof = caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF);
    if !deprecate_eof {
        let mut eof = Vec::new();
        encode_eof(&mut eof, 0, status);
        client.send(seq, &eof).await.map_err(client_gone)?;
    }
    out.result_sets = 1;
    let mut emit = Emitter {
        binary: (protocol == Protocol::Binary).then(|| columns.clone()),
        visible,
        offset: plan.offset,
        limit: plan.limit.unwrap_or(u64::MAX),
        skipped: 0,
        emitted: 0,
        buf: Vec::new(),
    };

    if plan.aggregate.is_some() || plan.distinct {
        let group_plan = plan.aggregate.clone().unwrap_or_else(|| AggregateMerge {
            group_by: (0..visible).collect(),
            columns: Vec::new(),
            concats: Vec::new(),
            computed: Vec::new(),
        });
        let mut groups: HashMap<Vec<Option<Vec<u8>>>, Group> = HashMap::new();
        let mut order_of_arrival: Vec<Vec<Option<Vec<u8>>>> = Vec::new();
        // Groups plus the distinct values gathered for DISTINCT aggregates:
        // what the merge holds in memory.
        let mut held = 0usize;
        for s in streams.iter_mut() {
            while let Some(row) = s.next().await? {
                let key: Vec<Option<Vec<u8>>> = group_plan
                    .group_by
                    .iter()
                    .map(|&c| equality_key(&orders[c], row.value(c)))
                    .collect();
                let added = match groups.get_mut(&key) {
                    Some(g) => {
                        accumulate(g, &row, &group_plan, &orders);
                        gather_distinct(g, &row, &group_plan, &orders)
                    }
                    None => {
                        let mut g = new_group(row.clone(), &group_plan, &orders);
                        let added = 1 + gather_distinct(&mut g, &row, &group_plan, &orders);
                        order_of_arrival.push(key.clone());
                        groups.insert(key, g);
                        added
                    }
                };
                held += added;
                if held > budget.max_groups {
                    return Err(ProxyError::Routing(format!(
                        "cross-shard GROUP BY/DISTINCT exceeded the merge budget of {} groups and distinct values; add a sharding-key filter or raise [routing] merge_max_groups",
                        budget.max_groups
                    )));
                }
            }
        }
        if groups.is_empty() && group_plan.group_by.is_empty() && plan.aggregate.is_some() {
            // Aggregates without GROUP BY always give one row (COUNT 0,
            // the rest NULL). Shards answer one row each, unless a
            // DISTINCT aggregate made them group by its arguments.
            let n = columns.len();
            let mut values: Vec<Option<Vec<u8>>> = vec![None; n];
            for (column, kind) in aggregates(&group_plan) {
                if matches!(kind, Combine::Count | Combine::CountDistinct { .. }) {
                    if let Some(v) = values.get_mut(column) {
                        *v = Some(b"0".to_vec());
                    }
                }
            }
            let mut p = Vec::new();
            crate::merge::row::encode_values(&values, &mut p);
            if let Some(row) = TextRow::decode(Bytes::from(p), n) {
                let mut g = new_group(row, &group_plan, &orders);
                g.distinct.clear();
                g.concats.clear();
                order_of_arrival.push(Vec::new());
                groups.insert(Vec::new(), g);
            }
        }
        let mut rows: Vec<TextRow> = Vec::with_capacity(order_of_arrival.len());
        for k in order_of_arrival {
            let Some(g) = groups.remove(&k) else { continue };
            let row = finish_group(g, &group_plan, &columns, &orders)?;
            if let Some(h) = &plan.having {
                // Only out-of-range arithmetic fails here, as on the server.
                let keep = h
                    .accepts(&row, &columns, &orders)
                    .map_err(|m| ProxyError::Backend(ErrPacket::new(1690, "22003", &m)))?;
                if !keep {
                    continue;
                }
            }
            rows.push(row);
        }
        if plan.distinct && plan.aggregate.is_some() {
            // SELECT DISTINCT over combined groups: equal visible rows
            // (under the columns' collations) are one row.
            let mut seen = std::collections::HashSet::new();
            rows.retain(|r| {
                let key: Vec<Option<Vec<u8>>> = (0..visible)
                    .map(|c| orders.get(c).and_then(|o| equality_key(o, r.value(c))))
                    .collect();
                seen.insert(key)
            });
        }
        if !order_by.is_empty() {
            rows.sort_by(|a, b| compare_rows(a, b, &order_by, &orders));
        }
        for row in &rows {
            emit.row(row, client, seq).await?;
        }
    } else if order_by.is_empty() {
        for s in streams.iter_mut() {
            while let Some(row) = s.next().await? {
                emit.row(&row, client, seq).await?;
                if emit.full() {
                    break;
                }
            }
            if emit.full() {
                break;
            }
        }
    } else {
        // Streaming k-way merge: one row per shard in memory.
        let mut heads: Vec<Option<TextRow>> = Vec::with_capacity(streams.len());
        for s in streams.iter_mut() {
            heads.push(s.next().await?);
        }
        loop {
            let mut best: Option<usize> = None;
            for (i, h) in heads.iter().enumerate() {
                let Some(row) = h else { continue };
                best = match best {
                    None => Some(i),
                    Some(b) => {
                        let current = heads[b].as_ref();
                        match current {
                            Some(cur)
                                if compare_rows(row, cur, &order_by, &orders) == Ordering::Less =>
                            {
                                Some(i)
                            }
                            _ => Some(b),
                        }
                    }
                };
            }
            let Some(i) = best else { break };
            let row = heads[i].take();
            if let Some(row) = row {
                emit.row(&row, client, seq).await?;
            }
            if emit.full() {
                break;
            }
            heads[i] = streams[i].next().await?;
        }
    }
    let warnings: u16 = streams
        .iter()
        .map(|s| s.warnings)
        .fold(0, u16::saturating_add);
    drop(streams);
    let mut term = Vec::new();
    let status = status & !StatusFlags::SERVER_MORE_RESULTS_EXISTS.bits();
    if deprecate_eof {
        OkPacket {
            status,
            warnings,
            ..OkPacket::default()
        }
        .encode(caps, 0xFE, &mut term);
    } else {
        encode_eof(&mut term, warnings, status);
    }
    client.send(seq, &term).await.map_err(client_gone)?;
    out.status = status;
    out.warnings = warnings;
    Ok(())
}

fn parse_columns(defs: &[Bytes]) -> Result<Vec<ColumnInfo>> {
    defs.iter()
        .map(|d| ColumnInfo::parse(d.clone()))
        .collect::<Option<_>>()
        .ok_or_else(|| ProxyError::MalformedPacket("bad column definition from shard".into()))
}

/// The column definitions the client sees for shard columns `defs`: the
/// visible ones, AVG columns that carry partial sums shown with AVG's
/// scale (the argument's plus div_precision_increment = 4).
fn client_defs(mut defs: Vec<Bytes>, columns: &[ColumnInfo], plan: &MergeSpec) -> Vec<Bytes> {
    if let Some(g) = &plan.aggregate {
        for (sum, kind) in aggregates(g) {
            if let Combine::Avg { .. } = kind {
                let decimal = matches!(
                    columns.get(sum).map(ValueOrder::for_column),
                    Some(ValueOrder::Decimal | ValueOrder::Integer)
                );
                // The AVG column carries the partial sums. A DOUBLE average
                // keeps the sum's scale (31, "not fixed") and only takes
                // AVG's flags.
                let extra = if decimal { AVG_EXTRA_SCALE } else { 0 };
                if let Some(d) = defs.get_mut(sum) {
                    *d = widen_scale(d, extra);
                }
            }
        }
    }
    let visible = defs.len().saturating_sub(plan.hidden_columns);
    defs.truncate(visible);
    defs
}

/// What [`scatter_select`] presents as the result columns for shard
/// column definitions `defs` (a prepared statement's metadata).
pub fn merged_column_defs(defs: Vec<Bytes>, plan: &MergeSpec) -> Result<Vec<Bytes>> {
    let columns = parse_columns(&defs)?;
    Ok(client_defs(defs, &columns, plan))
}

/// MySQL's `div_precision_increment` default: AVG and `/` add 4 digits.
const AVG_EXTRA_SCALE: u8 = 4;

/// A column definition with `extra` more decimals (and display length) and
/// the flags of an AVG column,
/// patched in place: the fixed part follows six length-encoded strings.
fn widen_scale(def: &Bytes, extra: u8) -> Bytes {
    let mut r = crate::wire::packets::Reader::new(def);
    for _ in 0..6 {
        if r.lenenc_bytes().is_none() {
            return def.clone();
        }
    }
    // 0x0c, charset (2), length (4), type (1), flags (2), decimals (1).
    let fixed = def.len() - r.remaining();
    if def.len() < fixed + 13 {
        return def.clone();
    }
    let mut out = def.to_vec();
    let len_at = fixed + 3;
    let length = u32::from_le_bytes([
        out[len_at],
        out[len_at + 1],
        out[len_at + 2],
        out[len_at + 3],
    ]);
    out[len_at..len_at + 4].copy_from_slice(&length.saturating_add(extra as u32).to_le_bytes());
    let dec_at = fixed + 10;
    out[dec_at] = out[dec_at].saturating_add(extra);
    // AVG is reported with BINARY_FLAG (SUM, whose definition this was,
    // without).
    out[fixed + 8] |= 0x80;
    Bytes::from(out)
}

/// Applies OFFSET/LIMIT while writing merged rows to the client.
struct Emitter {
    /// Binary-protocol output: the shard columns to encode with.
    binary: Option<Vec<ColumnInfo>>,
    visible: usize,
    offset: u64,
    limit: u64,
    skipped: u64,
    emitted: u64,
    buf: Vec<u8>,
}

impl Emitter {
    async fn row(&mut self, row: &TextRow, client: &mut ClientStream, seq: &mut u8) -> Result<()> {
        if self.skipped < self.offset {
            self.skipped += 1;
            return Ok(());
        }
        if self.full() {
            return Ok(());
        }
        self.emitted += 1;
        self.buf.clear();
        match &self.binary {
            Some(columns) => {
                crate::merge::binary::encode_row(row, columns, self.visible, &mut self.buf)
                    .map_err(|e| ProxyError::Internal(e.to_string()))?
            }
            None => row.encode_prefix(self.visible, &mut self.buf),
        }
        client.send(seq, &self.buf).await.map_err(client_gone)
    }

    fn full(&self) -> bool {
        self.emitted >= self.limit
    }
}

/// A partial aggregate: exact for integers and decimals, binary floating
/// point for FLOAT/DOUBLE columns (as MySQL computes them).
#[derive(Debug, Clone)]
enum Num {
    Exact(Decimal),
    Float(f64),
}

impl Num {
    fn parse(v: &[u8], float: bool) -> Option<Num> {
        if float {
            std::str::from_utf8(v)
                .ok()?
                .parse::<f64>()
                .ok()
                .map(Num::Float)
        } else {
            Decimal::parse(v).map(Num::Exact)
        }
    }

    fn add(self, other: Num) -> Num {
        match (self, other) {
            (Num::Exact(a), Num::Exact(b)) => Num::Exact(a.add(&b)),
            (a, b) => Num::Float(a.as_f64() + b.as_f64()),
        }
    }

    fn as_f64(&self) -> f64 {
        match self {
            Num::Exact(d) => d.to_text().parse().unwrap_or(0.0),
            Num::Float(f) => *f,
        }
    }

    fn text(&self) -> Vec<u8> {
        match self {
            Num::Exact(d) => d.to_text().into_bytes(),
            Num::Float(f) => format_double(*f).into_bytes(),
        }
    }
}

/// Formats a DOUBLE the way MySQL prints one: shortest round-trip digits,
/// scientific notation for very large or very small magnitudes.
fn format_double(f: f64) -> String {
    let a = f.abs();
    if a != 0.0 && !(1e-4..1e15).contains(&a) {
        format!("{f:e}")
    } else {
        format!("{f}")
    }
}

fn add_opt(a: Option<Num>, b: Option<Num>) -> Option<Num> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.add(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

fn is_float(orders: &[ValueOrder], c: usize) -> bool {
    matches!(orders.get(c), Some(ValueOrder::Float))
}

fn new_group(row: TextRow, plan: &AggregateMerge, orders: &[ValueOrder]) -> Group {
    let n = row.values.len();
    let mut values: Vec<Option<Vec<u8>>> =
        (0..n).map(|i| row.value(i).map(<[u8]>::to_vec)).collect();
    let mut counts = vec![None; n];
    let mut distinct = Vec::new();
    for (sum, kind) in aggregates(plan) {
        distinct.push(DistinctSet::default());
        match kind {
            Combine::Avg { count } => {
                counts[sum] = row
                    .value(sum)
                    .and_then(|v| Num::parse(v, is_float(orders, sum)));
                counts[count] = row.value(count).and_then(|v| Num::parse(v, false));
            }
            // Normalise sums so later additions are exact.
            Combine::Sum | Combine::Count => {
                if let Some(v) = &values[sum] {
                    if let Some(d) = Num::parse(v, is_float(orders, sum)) {
                        values[sum] = Some(d.text());
                    }
                }
            }
            _ => {}
        }
    }
    let concats = plan
        .concats
        .iter()
        .map(|_| ConcatState::default())
        .collect();
    Group {
        row,
        values,
        counts,
        distinct,
        concats,
    }
}

fn accumulate(g: &mut Group, row: &TextRow, plan: &AggregateMerge, orders: &[ValueOrder]) {
    for (c, kind) in aggregates(plan) {
        match kind {
            Combine::Count | Combine::Sum => {
                let float = is_float(orders, c);
                let add = row.value(c).and_then(|v| Num::parse(v, float));
                let cur = g.values[c].as_deref().and_then(|v| Num::parse(v, float));
                g.values[c] = add_opt(cur, add).map(|n| n.text());
            }
            Combine::Min | Combine::Max => {
                let new = row.value(c);
                let replace = match (&g.values[c], new) {
                    (_, None) => false,
                    (None, Some(_)) => true,
                    (Some(cur), Some(v)) => {
                        let o = orders[c].compare(v, cur);
                        (kind == Combine::Min && o == Ordering::Less)
                            || (kind == Combine::Max && o == Ordering::Greater)
                    }
                };
                if replace {
                    g.values[c] = new.map(<[u8]>::to_vec);
                }
            }
            Combine::Avg { count } => {
                for h in [c, count] {
                    let float = h == c && is_float(orders, c);
                    let add = row.value(h).and_then(|v| Num::parse(v, float));
                    g.counts[h] = add_opt(g.counts[h].take(), add);
                }
            }
            _ => {}
        }
    }
}

fn finish_group(
    mut g: Group,
    plan: &AggregateMerge,
    columns: &[ColumnInfo],
    orders: &[ValueOrder],
) -> Result<TextRow> {
    let ncols = columns.len();
    let concats: Vec<Option<Vec<u8>>> = std::mem::take(&mut g.concats)
        .into_iter()
        .zip(&plan.concats)
        .map(|(state, spec)| state.finish(spec, orders))
        .collect();
    for (column, kind) in aggregates(plan) {
        if let Combine::GroupConcat { index } = kind {
            g.values[column] = concats.get(index).cloned().flatten();
        }
    }
    let sets = std::mem::take(&mut g.distinct);
    for ((column, kind), set) in aggregates(plan).zip(sets) {
        let n = set.seen.len() as u64;
        match kind {
            Combine::CountDistinct { .. } => {
                g.values[column] = Some(n.to_string().into_bytes());
            }
            Combine::SumDistinct { .. } => {
                g.values[column] = set.sum.map(|s| s.text());
            }
            Combine::AvgDistinct { .. } => {
                // The column is the shards' AVG(DISTINCT x): its scale is
                // already AVG's.
                let scale = columns.get(column).map_or(0, |c| c.decimals as usize);
                g.values[column] = match (set.sum, n) {
                    (Some(Num::Exact(s)), n) if n > 0 => {
                        s.div_u64(n, scale).map(|d| d.to_text().into_bytes())
                    }
                    _ => None,
                };
            }
            _ => {}
        }
    }
    for (sum, kind) in aggregates(plan) {
        if let Combine::Avg { count } = kind {
            // MySQL's scale for AVG: the argument's plus 4. The AVG column
            // carried the partial sums: its definition shows the sum's
            // scale.
            let decimals = columns.get(sum).map_or(0, |c| c.decimals as usize);
            let scale = decimals + AVG_EXTRA_SCALE as usize;
            let n = g.counts[count]
                .as_ref()
                .map(|d| d.as_f64() as u64)
                .filter(|n| *n > 0);
            g.values[sum] = match (&g.counts[sum], n) {
                (Some(Num::Exact(s)), Some(n)) => {
                    s.div_u64(n, scale).map(|d| d.to_text().into_bytes())
                }
                (Some(Num::Float(f)), Some(n)) => Some(format_double(f / n as f64).into_bytes()),
                _ => None,
            };
        }
    }
    let n = ncols.min(g.values.len());
    let encode = |values: &[Option<Vec<u8>>]| {
        let mut p = Vec::new();
        crate::merge::row::encode_values(values, &mut p);
        TextRow::decode(Bytes::from(p), n)
    };
    let Some(row) = encode(&g.values[..n]) else {
        return Ok(g.row);
    };
    let mut changed = false;
    for (column, kind) in aggregates(plan) {
        if let Combine::Computed { index } = kind {
            let (Some(e), Some(c)) = (plan.computed.get(index), columns.get(column)) else {
                continue;
            };
            // Only out-of-range arithmetic fails here, as on the server.
            g.values[column] = e
                .output(&row, columns, orders, c)
                .map_err(|m| ProxyError::Backend(ErrPacket::new(1690, "22003", &m)))?;
            changed = true;
        }
    }
    if !changed {
        return Ok(row);
    }
    Ok(encode(&g.values[..n]).unwrap_or(row))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::concat::ConcatSpec;
    use mysql_common::constants::{ColumnFlags, ColumnType};

    fn col(t: ColumnType, charset: u16, decimals: u8) -> ColumnInfo {
        ColumnInfo {
            column_type: t,
            flags: ColumnFlags::empty(),
            charset,
            decimals,
            raw: Bytes::new(),
        }
    }

    fn row(values: &[Option<&str>]) -> TextRow {
        let owned: Vec<Option<Vec<u8>>> = values
            .iter()
            .map(|v| v.map(|s| s.as_bytes().to_vec()))
            .collect();
        let mut p = Vec::new();
        crate::merge::row::encode_values(&owned, &mut p);
        TextRow::decode(Bytes::from(p), values.len()).unwrap()
    }

    fn text(r: &TextRow) -> Vec<Option<String>> {
        (0..r.values.len())
            .map(|i| r.value(i).map(|v| String::from_utf8_lossy(v).into_owned()))
            .collect()
    }

    /// Rows of `SELECT COUNT(DISTINCT name), SUM(DISTINCT amount),
    /// AVG(DISTINCT amount), COUNT(*)` from shards that grouped by name and
    /// amount (hidden columns 4 = name, 5 = amount).
    #[test]
    fn distinct_aggregates_from_finer_groups() {
        let columns = vec![
            col(ColumnType::MYSQL_TYPE_LONGLONG, 63, 0),
            col(ColumnType::MYSQL_TYPE_NEWDECIMAL, 63, 2),
            col(ColumnType::MYSQL_TYPE_NEWDECIMAL, 63, 6),
            col(ColumnType::MYSQL_TYPE_LONGLONG, 63, 0),
            col(ColumnType::MYSQL_TYPE_VAR_STRING, 45, 0),
            col(ColumnType::MYSQL_TYPE_NEWDECIMAL, 63, 2),
        ];
        let orders: Vec<ValueOrder> = columns.iter().map(ValueOrder::for_column).collect();
        let plan = AggregateMerge {
            group_by: vec![],
            columns: vec![
                Combine::CountDistinct { first: 4, n: 1 },
                Combine::SumDistinct { arg: 5 },
                Combine::AvgDistinct { arg: 5 },
                Combine::Count,
            ],
            concats: vec![],
            computed: vec![],
        };
        let rows = [
            // (shard 1) 'Paris', 1.50 twice; 'paris' (same under _ci), 2.00.
            row(&[
                Some("1"),
                Some("1.50"),
                Some("1.500000"),
                Some("2"),
                Some("Paris"),
                Some("1.50"),
            ]),
            row(&[
                Some("1"),
                Some("2.00"),
                Some("2.000000"),
                Some("1"),
                Some("paris"),
                Some("2.00"),
            ]),
            // (shard 2) 1.50 again, a NULL name, a NULL amount.
            row(&[
                Some("0"),
                Some("1.50"),
                Some("1.500000"),
                Some("3"),
                None,
                Some("1.50"),
            ]),
            row(&[Some("1"), None, None, Some("1"), Some("Lyon"), None]),
        ];
        let mut g = new_group(rows[0].clone(), &plan, &orders);
        let mut held = gather_distinct(&mut g, &rows[0], &plan, &orders);
        for r in &rows[1..] {
            accumulate(&mut g, r, &plan, &orders);
            held += gather_distinct(&mut g, r, &plan, &orders);
        }
        // Distinct names {paris, lyon}; amounts {1.50, 2.00} for SUM and
        // again for AVG: what the budget counts.
        assert_eq!(held, 6);
        let out = finish_group(g, &plan, &columns, &orders).unwrap();
        assert_eq!(
            text(&out)[..4],
            [
                Some("2".to_owned()),
                Some("3.50".to_owned()),
                Some("1.750000".to_owned()),
                Some("7".to_owned())
            ]
        );
    }

    /// `SELECT g, GROUP_CONCAT(v ORDER BY k DESC), SUM(x) / COUNT(*)`:
    /// hidden 3 = COUNT(*), 4 = max_len, 5 = v, 6 = k, 7 = SUM(x),
    /// 8 = COUNT(*).
    #[test]
    fn group_concat_and_expressions_on_aggregates() {
        use crate::merge::eval::{BinOp, MergeExpr};
        let columns = vec![
            col(ColumnType::MYSQL_TYPE_VAR_STRING, 45, 0),
            col(ColumnType::MYSQL_TYPE_BLOB, 45, 0),
            col(ColumnType::MYSQL_TYPE_NEWDECIMAL, 63, 4),
            col(ColumnType::MYSQL_TYPE_LONGLONG, 63, 0),
            col(ColumnType::MYSQL_TYPE_LONGLONG, 63, 0),
            col(ColumnType::MYSQL_TYPE_VAR_STRING, 45, 0),
            col(ColumnType::MYSQL_TYPE_LONGLONG, 63, 0),
            col(ColumnType::MYSQL_TYPE_NEWDECIMAL, 63, 0),
            col(ColumnType::MYSQL_TYPE_LONGLONG, 63, 0),
        ];
        let orders: Vec<ValueOrder> = columns.iter().map(ValueOrder::for_column).collect();
        let plan = AggregateMerge {
            group_by: vec![0],
            columns: vec![
                Combine::Group,
                Combine::GroupConcat { index: 0 },
                Combine::Computed { index: 0 },
                Combine::Any,
                Combine::Any,
                Combine::Any,
                Combine::Any,
                Combine::Sum,
                Combine::Count,
            ],
            concats: vec![ConcatSpec {
                value: 5,
                order: vec![(6, true)],
                separator: b"-".to_vec(),
                distinct: false,
                count: 3,
                max_len: 4,
            }],
            computed: vec![MergeExpr::Binary(
                BinOp::Div,
                Box::new(MergeExpr::Column(7)),
                Box::new(MergeExpr::Column(8)),
            )],
        };
        let r = |v: &str, k: &str, n: &str, sum: &str| {
            row(&[
                Some("g"),
                Some("partial"),
                Some("0.0000"),
                Some(n),
                Some("1024"),
                Some(v),
                Some(k),
                Some(sum),
                Some(n),
            ])
        };
        let rows = [
            r("a", "1", "2", "10"),
            r("b", "3", "1", "5"),
            r("c", "2", "1", "0"),
        ];
        let mut g = new_group(rows[0].clone(), &plan, &orders);
        gather_distinct(&mut g, &rows[0], &plan, &orders);
        for x in &rows[1..] {
            accumulate(&mut g, x, &plan, &orders);
            gather_distinct(&mut g, x, &plan, &orders);
        }
        let out = text(&finish_group(g, &plan, &columns, &orders).unwrap());
        // Ordered by k descending: b (3), c (2), a a (1, twice); 15 / 4.
        assert_eq!(out[1].as_deref(), Some("b-c-a-a"));
        assert_eq!(out[2].as_deref(), Some("3.7500"));
    }
}
