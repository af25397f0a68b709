//! Binary prepared statements as the client sees them.
//!
//! Client statement ids are the session's own (distinct for every PREPARE,
//! even of identical SQL). Backend statements are prepared lazily on
//! whichever pooled connection runs an execute and cached there, so a
//! statement survives connection multiplexing. Parameter types are
//! remembered per statement so an execute with `new_params_bound = 0` can
//! go to a connection that never saw the types; long data is buffered and
//! sent right before the execute.
//!
//! Statements on sharded tables are prepared here too: their execute is
//! split into parameters ([`ExecuteRequest::bound_params`]) so the shard
//! router can plan with the values, and rebuilt per target with the
//! parameters that target's SQL keeps ([`ExecuteRequest::remapped_packets`]).
//!
//! Owns: statement registry and execute-packet surgery. Must not route.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use mysql_common::constants::CapabilityFlags;

use crate::backend::connection::BackendStatement;
use crate::backend::BackendConn;
use crate::error::ProxyError;
use crate::execute::ClientStream;
use crate::placement::ParamValue;
use crate::sql::Classified;
use crate::wire::command;
use crate::wire::packets::{encode_eof, is_err, ErrPacket, Reader};

pub struct ClientStatement {
    pub sql: Arc<str>,
    pub classified: Classified,
    pub params: u16,
    pub columns: u16,
    /// Two bytes per parameter, from the last execute that bound types
    /// (shared with every execute's request: no copy per execute).
    param_types: Option<Bytes>,
    pub long_data: Vec<(u16, Vec<u8>)>,
    /// Bytes in `long_data`.
    long_data_bytes: usize,
    /// More long data arrived than the proxy holds for one statement, or a
    /// parameter was longer than the servers take: it was dropped, and
    /// every execute fails as the server's would until COM_STMT_RESET.
    pub long_data_overflow: bool,
    /// The node its tables live on, when the sharding rules place them
    /// (single-node tables); `None`: the session's node.
    pub node: Option<usize>,
    /// It names sharded or broadcast tables: every execute is planned by
    /// the shard router with its parameter values.
    pub sharded: bool,
    /// What planning keeps between executes (its analysis; see
    /// [`ShardRouter::plan_prepared`](crate::router::shard::ShardRouter::plan_prepared)).
    pub shard_shape: crate::router::shard::PreparedShape,
    /// `digest_hash(sql)`, computed at the first execute's digest.
    digest: std::sync::OnceLock<u64>,
}

/// One parameter of an execute: its type and where its value is.
#[derive(Debug, Clone)]
pub struct BoundParam {
    type_code: u8,
    unsigned: bool,
    null: bool,
    /// Its bytes in the execute's value block (empty for NULL and long
    /// data).
    value: Range<usize>,
    /// Index into the statement's long data, when sent that way.
    long: Option<usize>,
}

/// An execute request with the parameter block split out (views of the
/// client's packet and of the statement's bound types: no copies).
pub struct ExecuteRequest {
    flags: u8,
    null_bitmap: Bytes,
    types: Bytes,
    values: Bytes,
    params: u16,
}

pub struct PreparedMeta {
    pub params: u16,
    pub columns: u16,
}

impl ClientStatement {
    pub fn new(sql: Arc<str>, classified: Classified, params: u16, columns: u16) -> Self {
        ClientStatement {
            sql,
            classified,
            params,
            columns,
            param_types: None,
            long_data: Vec::new(),
            long_data_bytes: 0,
            long_data_overflow: false,
            node: None,
            sharded: false,
            shard_shape: Default::default(),
            digest: std::sync::OnceLock::new(),
        }
    }

    /// The query digest's hash of the statement's text (computed once).
    pub fn digest_hash(&self) -> u64 {
        *self
            .digest
            .get_or_init(|| crate::sql::classify::digest_hash(&self.sql))
    }

    /// Adds a COM_STMT_SEND_LONG_DATA chunk. The statement holds at most
    /// `limit` bytes (the proxy's `max_allowed_packet`) of long data: past
    /// that everything is dropped at once and executes fail with
    /// [`ProxyError::LongDataTooLong`] until a reset, as MariaDB does past
    /// its own limit.
    pub fn append_long_data(&mut self, param: u16, data: &[u8], limit: usize) {
        if param >= self.params || self.long_data_overflow {
            return;
        }
        if self.long_data_bytes.saturating_add(data.len()) > limit {
            self.long_data_overflow = true;
            self.take_long_data();
            return;
        }
        self.long_data_bytes += data.len();
        match self.long_data.iter_mut().find(|(p, _)| *p == param) {
            Some((_, buf)) => buf.extend_from_slice(data),
            None => self.long_data.push((param, data.to_vec())),
        }
    }

    /// The long data sent since the last execute or reset (the statement
    /// keeps none, and its memory is freed).
    pub fn take_long_data(&mut self) -> Vec<(u16, Vec<u8>)> {
        self.long_data_bytes = 0;
        std::mem::take(&mut self.long_data)
    }

    /// Splits a COM_STMT_EXECUTE payload; remembers bound types.
    pub fn parse_execute(&mut self, payload: &Bytes) -> Result<ExecuteRequest, ProxyError> {
        let bad = || ProxyError::WrongArguments("mysqld_stmt_execute");
        let mut r = Reader::new(payload.get(5..).ok_or_else(bad)?);
        let flags = r.u8().ok_or_else(bad)?;
        let _iterations = r.u32().ok_or_else(bad)?;
        let n = self.params as usize;
        if n == 0 {
            return Ok(ExecuteRequest {
                flags,
                null_bitmap: Bytes::new(),
                types: Bytes::new(),
                values: Bytes::new(),
                params: 0,
            });
        }
        // Offsets in `payload` of what the reader takes.
        let at = |part: &[u8]| part.as_ptr() as usize - payload.as_ptr() as usize;
        let bitmap = r.take(n.div_ceil(8)).ok_or_else(bad)?;
        let null_bitmap = payload.slice(at(bitmap)..at(bitmap) + bitmap.len());
        let bound = r.u8().ok_or_else(bad)?;
        if bound == 1 {
            // Copied: kept past this packet (which may be large).
            let types = r.take(2 * n).ok_or_else(bad)?;
            self.param_types = Some(Bytes::copy_from_slice(types));
        }
        let types = self.param_types.clone().ok_or_else(bad)?;
        let rest = r.rest();
        Ok(ExecuteRequest {
            flags,
            null_bitmap,
            types,
            values: payload.slice(at(rest)..at(rest) + rest.len()),
            params: self.params,
        })
    }
}

impl ExecuteRequest {
    /// The client asked for a server-side cursor (`CURSOR_TYPE_READ_ONLY`,
    /// `FOR_UPDATE` or `SCROLLABLE`).
    pub fn wants_cursor(&self) -> bool {
        self.flags & 0x07 != 0
    }

    /// A request the proxy builds itself: `types` (two bytes per
    /// parameter), one NULL flag per parameter, the non-NULL values in
    /// order.
    pub fn from_params(types: Vec<u8>, nulls: &[bool], values: Vec<u8>) -> ExecuteRequest {
        let mut null_bitmap = vec![0u8; nulls.len().div_ceil(8)];
        for (i, _) in nulls.iter().enumerate().filter(|(_, &n)| n) {
            null_bitmap[i / 8] |= 1 << (i % 8);
        }
        ExecuteRequest {
            flags: 0,
            null_bitmap: null_bitmap.into(),
            types: types.into(),
            values: values.into(),
            params: nulls.len() as u16,
        }
    }

    /// The packets to send to a backend where the statement has
    /// `backend_id`: long data first (no replies), then the execute with
    /// types always bound.
    pub fn backend_packets(&self, backend_id: u32, long_data: &[(u16, Vec<u8>)]) -> Vec<Vec<u8>> {
        let mut out = Vec::with_capacity(long_data.len() + 1);
        for (param, data) in long_data {
            push_long_data(&mut out, backend_id, *param, data);
        }
        out.push(self.backend_execute(backend_id));
        out
    }

    /// The COM_STMT_EXECUTE packet alone (types always bound).
    pub fn backend_execute(&self, backend_id: u32) -> Vec<u8> {
        let mut p =
            Vec::with_capacity(16 + self.null_bitmap.len() + self.types.len() + self.values.len());
        p.push(command::STMT_EXECUTE);
        p.extend_from_slice(&backend_id.to_le_bytes());
        p.push(self.flags);
        p.extend_from_slice(&1u32.to_le_bytes());
        if self.params > 0 {
            p.extend_from_slice(&self.null_bitmap);
            p.push(1);
            p.extend_from_slice(&self.types);
            p.extend_from_slice(&self.values);
        }
        p
    }
}

/// Bytes of a binary-protocol value of `type_code` at the start of `rest`.
pub(crate) fn value_len(type_code: u8, rest: &[u8]) -> Option<usize> {
    use mysql_common::constants::ColumnType as T;
    let t = T::try_from(type_code).ok()?;
    Some(match t {
        T::MYSQL_TYPE_NULL => 0,
        T::MYSQL_TYPE_TINY => 1,
        T::MYSQL_TYPE_SHORT | T::MYSQL_TYPE_YEAR => 2,
        T::MYSQL_TYPE_LONG | T::MYSQL_TYPE_INT24 | T::MYSQL_TYPE_FLOAT => 4,
        T::MYSQL_TYPE_LONGLONG | T::MYSQL_TYPE_DOUBLE => 8,
        T::MYSQL_TYPE_DATE
        | T::MYSQL_TYPE_DATETIME
        | T::MYSQL_TYPE_TIMESTAMP
        | T::MYSQL_TYPE_TIME => 1 + *rest.first()? as usize,
        _ => {
            let mut r = Reader::new(rest);
            let len = usize::try_from(r.lenenc_int()?).ok()?;
            (rest.len() - r.remaining()).checked_add(len)?
        }
    })
}

impl ExecuteRequest {
    /// Where each parameter's value is. Parameters sent as long data have
    /// no bytes in the value block (as the client library sends them).
    pub fn bound_params(
        &self,
        long_data: &[(u16, Vec<u8>)],
    ) -> Result<Vec<BoundParam>, ProxyError> {
        let bad = || ProxyError::WrongArguments("mysqld_stmt_execute");
        let mut out = Vec::with_capacity(self.params as usize);
        let mut at = 0usize;
        for i in 0..self.params as usize {
            let type_code = *self.types.get(2 * i).ok_or_else(bad)?;
            let unsigned = self.types.get(2 * i + 1).ok_or_else(bad)? & 0x80 != 0;
            let null = self.null_bitmap.get(i / 8).ok_or_else(bad)? & (1 << (i % 8)) != 0;
            let long = long_data.iter().position(|(p, _)| *p as usize == i);
            let len = if null || long.is_some() {
                0
            } else {
                value_len(type_code, self.values.get(at..).ok_or_else(bad)?).ok_or_else(bad)?
            };
            let end = at.checked_add(len).ok_or_else(bad)?;
            if end > self.values.len() {
                return Err(bad());
            }
            out.push(BoundParam {
                type_code,
                unsigned,
                null: null && long.is_none(),
                value: at..end,
                long,
            });
            at = end;
        }
        Ok(out)
    }

    /// The parameters as values the shard router plans with.
    pub fn param_values<'a>(
        &'a self,
        bound: &[BoundParam],
        long_data: &'a [(u16, Vec<u8>)],
    ) -> Vec<ParamValue<'a>> {
        bound
            .iter()
            .map(|p| {
                if let Some(l) = p.long {
                    return long_data
                        .get(l)
                        .map_or(ParamValue::Null, |(_, d)| ParamValue::Bytes(d));
                }
                if p.null {
                    return ParamValue::Null;
                }
                decode_value(p, &self.values[p.value.clone()])
            })
            .collect()
    }

    /// [`ExecuteRequest::remapped_packets`] without long data: the one
    /// execute packet, built in one buffer.
    pub fn remapped_execute(
        &self,
        bound: &[BoundParam],
        map: &[usize],
        backend_id: u32,
    ) -> Result<Vec<u8>, ProxyError> {
        let bad = || {
            ProxyError::Internal("a shard target binds a parameter the client did not send".into())
        };
        let mut length = 10;
        if !map.is_empty() {
            length += map.len().div_ceil(8) + 1 + 2 * map.len();
            for &i in map {
                let p = bound.get(i).ok_or_else(bad)?;
                if p.long.is_none() && !p.null {
                    length += p.value.len();
                }
            }
        }
        let mut e = Vec::with_capacity(length);
        e.push(command::STMT_EXECUTE);
        e.extend_from_slice(&backend_id.to_le_bytes());
        e.push(0); // CURSOR_TYPE_NO_CURSOR
        e.extend_from_slice(&1u32.to_le_bytes());
        if map.is_empty() {
            return Ok(e);
        }
        let bitmap = e.len();
        e.resize(bitmap + map.len().div_ceil(8), 0);
        e.push(1);
        for (j, &i) in map.iter().enumerate() {
            let p = bound.get(i).ok_or_else(bad)?;
            if p.long.is_some() {
                return Err(ProxyError::Internal(
                    "long data in a single execute packet".into(),
                ));
            }
            if p.null {
                e[bitmap + j / 8] |= 1 << (j % 8);
            }
            e.push(p.type_code);
            e.push(if p.unsigned { 0x80 } else { 0 });
        }
        for &i in map {
            let p = bound.get(i).ok_or_else(bad)?;
            if !p.null {
                e.extend_from_slice(&self.values[p.value.clone()]);
            }
        }
        Ok(e)
    }

    /// The packets that run a target's SQL, prepared as `backend_id`, whose
    /// `?` take the client's parameters `map` (one client parameter may
    /// feed several placeholders, or none): long data first, then the
    /// execute with types always bound. No cursor is asked for: the
    /// answer is relayed or merged at once.
    pub fn remapped_packets(
        &self,
        bound: &[BoundParam],
        map: &[usize],
        backend_id: u32,
        long_data: &[(u16, Vec<u8>)],
    ) -> Result<Vec<Vec<u8>>, ProxyError> {
        let bad = || {
            ProxyError::Internal("a shard target binds a parameter the client did not send".into())
        };
        let mut out = Vec::new();
        let mut bitmap = vec![0u8; map.len().div_ceil(8)];
        let mut types = Vec::with_capacity(2 * map.len());
        let mut values = Vec::new();
        for (j, &i) in map.iter().enumerate() {
            let p = bound.get(i).ok_or_else(bad)?;
            types.push(p.type_code);
            types.push(if p.unsigned { 0x80 } else { 0 });
            if let Some(l) = p.long {
                let (_, data) = long_data.get(l).ok_or_else(bad)?;
                push_long_data(&mut out, backend_id, j as u16, data);
            } else if p.null {
                bitmap[j / 8] |= 1 << (j % 8);
            } else {
                values.extend_from_slice(&self.values[p.value.clone()]);
            }
        }
        let mut e = Vec::with_capacity(16 + bitmap.len() + types.len() + values.len());
        e.push(command::STMT_EXECUTE);
        e.extend_from_slice(&backend_id.to_le_bytes());
        e.push(0); // CURSOR_TYPE_NO_CURSOR
        e.extend_from_slice(&1u32.to_le_bytes());
        if !map.is_empty() {
            e.extend_from_slice(&bitmap);
            e.push(1);
            e.extend_from_slice(&types);
            e.extend_from_slice(&values);
        }
        out.push(e);
        Ok(out)
    }
}

/// A non-NULL binary parameter value as the router sees it.
fn decode_value<'a>(p: &BoundParam, v: &'a [u8]) -> ParamValue<'a> {
    use mysql_common::constants::ColumnType as T;
    let le = |n: usize| {
        let mut raw = [0u8; 8];
        raw[..n.min(v.len())].copy_from_slice(&v[..n.min(v.len())]);
        u64::from_le_bytes(raw)
    };
    let int = |n: usize| {
        let u = le(n);
        if p.unsigned {
            ParamValue::UInt(u)
        } else {
            let shift = 64 - 8 * n as u32;
            ParamValue::Int(((u << shift) as i64) >> shift)
        }
    };
    match T::try_from(p.type_code) {
        Ok(T::MYSQL_TYPE_NULL) => ParamValue::Null,
        Ok(T::MYSQL_TYPE_TINY) => int(1),
        Ok(T::MYSQL_TYPE_SHORT | T::MYSQL_TYPE_YEAR) => int(2),
        Ok(T::MYSQL_TYPE_LONG | T::MYSQL_TYPE_INT24) => int(4),
        Ok(T::MYSQL_TYPE_LONGLONG) => int(8),
        Ok(T::MYSQL_TYPE_FLOAT) => ParamValue::Float(f32::from_bits(le(4) as u32)),
        Ok(T::MYSQL_TYPE_DOUBLE) => ParamValue::Double(f64::from_bits(le(8))),
        Ok(T::MYSQL_TYPE_DATE | T::MYSQL_TYPE_DATETIME | T::MYSQL_TYPE_TIMESTAMP) => {
            let f = v.get(1..).unwrap_or_default();
            let at = |i: usize| f.get(i).copied().unwrap_or(0);
            ParamValue::DateTime {
                year: u16::from_le_bytes([at(0), at(1)]),
                month: at(2),
                day: at(3),
                hour: at(4),
                minute: at(5),
                second: at(6),
                micros: u32::from_le_bytes([at(7), at(8), at(9), at(10)]),
            }
        }
        Ok(T::MYSQL_TYPE_TIME) => ParamValue::Time,
        _ => {
            let mut r = Reader::new(v);
            ParamValue::Bytes(r.lenenc_bytes().unwrap_or_default())
        }
    }
}

/// Parses a COM_STMT_PREPARE OK: (statement id, columns, params).
fn parse_prepare_ok(p: &[u8]) -> Option<(u32, u16, u16)> {
    let mut r = Reader::new(p);
    if r.u8()? != 0 {
        return None;
    }
    let id = r.u32()?;
    let columns = r.u16()?;
    let params = r.u16()?;
    Some((id, columns, params))
}

/// Prepares on `conn` and forwards the answer to the client under
/// `client_id`. `Ok(None)`: the server refused and its error was forwarded.
/// `Err((e, sent))`: the connection failed; `sent` says whether the client
/// already got something.
pub async fn prepare_and_forward(
    conn: &mut BackendConn,
    client: &mut ClientStream,
    caps: CapabilityFlags,
    seq: &mut u8,
    sql: &Arc<str>,
    client_id: u32,
    first_byte: &crate::execute::relay::FirstByte,
) -> Result<Option<PreparedMeta>, (ProxyError, bool)> {
    let mut payload = Vec::with_capacity(sql.len() + 1);
    payload.push(command::STMT_PREPARE);
    payload.extend_from_slice(sql.as_bytes());
    conn.send_command(&payload).await.map_err(|e| (e, false))?;
    let first = conn.read_packet().await.map_err(|e| (e, false))?.payload;
    first_byte.arrive();
    if is_err(&first) {
        client
            .send(seq, &first)
            .await
            .map_err(|e| (crate::execute::relay::client_gone(e), true))?;
        return Ok(None);
    }
    let (backend_id, columns, params) = parse_prepare_ok(&first).ok_or_else(|| {
        (
            ProxyError::MalformedPacket("bad COM_STMT_PREPARE answer".into()),
            false,
        )
    })?;
    let mut ok = first.to_vec();
    ok[1..5].copy_from_slice(&client_id.to_le_bytes());
    let gone = |e| (crate::execute::relay::client_gone(e), true);
    client.send(seq, &ok).await.map_err(gone)?;
    let deprecate_eof = caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF);
    for count in [params, columns] {
        for _ in 0..count {
            let p = conn.read_packet().await.map_err(|e| (e, true))?;
            client.send(seq, &p.payload).await.map_err(gone)?;
        }
        if count > 0 && !deprecate_eof {
            let mut eof = Vec::with_capacity(5);
            encode_eof(&mut eof, 0, conn.status);
            client.send(seq, &eof).await.map_err(gone)?;
        }
    }
    conn.remember_statement(
        sql.clone(),
        BackendStatement {
            id: backend_id,
            params,
            columns,
        },
    );
    Ok(Some(PreparedMeta { params, columns }))
}

/// What a backend answered to COM_STMT_PREPARE, kept whole.
pub struct PreparedDefs {
    pub param_defs: Vec<bytes::Bytes>,
    pub column_defs: Vec<bytes::Bytes>,
}

/// Prepares `sql` on `conn` (remembering it there) and returns its
/// parameter and column definitions. The inner `Err` is the server
/// refusing to prepare.
pub async fn prepare_metadata(
    conn: &mut BackendConn,
    sql: &Arc<str>,
) -> Result<Result<PreparedDefs, ErrPacket>, ProxyError> {
    let mut payload = Vec::with_capacity(sql.len() + 1);
    payload.push(command::STMT_PREPARE);
    payload.extend_from_slice(sql.as_bytes());
    conn.send_command(&payload).await?;
    let first = conn.read_packet().await?.payload;
    if is_err(&first) {
        return Ok(Err(ErrPacket::parse(&first).unwrap_or_else(|| {
            ErrPacket::new(1105, "HY000", "prepare failed")
        })));
    }
    let (id, columns, params) = parse_prepare_ok(&first)
        .ok_or_else(|| ProxyError::MalformedPacket("bad COM_STMT_PREPARE answer".into()))?;
    let mut param_defs = Vec::with_capacity(params as usize);
    for _ in 0..params {
        param_defs.push(conn.read_packet().await?.payload);
    }
    let mut column_defs = Vec::with_capacity(columns as usize);
    for _ in 0..columns {
        column_defs.push(conn.read_packet().await?.payload);
    }
    conn.remember_statement(
        sql.clone(),
        BackendStatement {
            id,
            params,
            columns,
        },
    );
    Ok(Ok(PreparedDefs {
        param_defs,
        column_defs,
    }))
}

/// The parameter definition MariaDB sends for a `?` (name `?`, binary
/// VAR_STRING), for statements whose representative shard SQL kept none.
pub fn placeholder_param_def() -> Vec<u8> {
    let mut p = Vec::with_capacity(24);
    for s in [&b"def"[..], b"", b"", b"", b"?", b""] {
        crate::wire::packets::put_lenenc_bytes(&mut p, s);
    }
    p.push(0x0c);
    p.extend_from_slice(&63u16.to_le_bytes());
    p.extend_from_slice(&0u32.to_le_bytes());
    p.push(0xFD);
    p.extend_from_slice(&0x0080u16.to_le_bytes());
    p.push(0);
    p.extend_from_slice(&[0, 0]);
    p
}

/// Answers COM_STMT_PREPARE with metadata the proxy assembled: the OK
/// under `client_id`, then the parameter and column definitions, each list
/// closed by an EOF for clients without CLIENT_DEPRECATE_EOF.
pub async fn send_prepare_ok(
    client: &mut ClientStream,
    caps: CapabilityFlags,
    seq: &mut u8,
    client_id: u32,
    param_defs: &[Vec<u8>],
    column_defs: &[bytes::Bytes],
    status: u16,
) -> std::io::Result<()> {
    let (Ok(columns), Ok(params)) = (
        u16::try_from(column_defs.len()),
        u16::try_from(param_defs.len()),
    ) else {
        return Err(std::io::Error::other("too many columns or parameters"));
    };
    let mut ok = Vec::with_capacity(12);
    ok.push(0x00);
    ok.extend_from_slice(&client_id.to_le_bytes());
    ok.extend_from_slice(&columns.to_le_bytes());
    ok.extend_from_slice(&params.to_le_bytes());
    ok.push(0x00);
    ok.extend_from_slice(&0u16.to_le_bytes());
    client.send(seq, &ok).await?;
    let deprecate_eof = caps.contains(CapabilityFlags::CLIENT_DEPRECATE_EOF);
    for p in param_defs {
        client.send(seq, p).await?;
    }
    if params > 0 && !deprecate_eof {
        let mut eof = Vec::with_capacity(5);
        encode_eof(&mut eof, 0, status);
        client.send(seq, &eof).await?;
    }
    for c in column_defs {
        client.send(seq, c).await?;
    }
    if columns > 0 && !deprecate_eof {
        let mut eof = Vec::with_capacity(5);
        encode_eof(&mut eof, 0, status);
        client.send(seq, &eof).await?;
    }
    Ok(())
}

/// How an execute reaches a backend statement.
pub enum ExecutePackets<'a> {
    /// The client's statement as it is (its own parameters).
    Client {
        request: &'a ExecuteRequest,
        long_data: &'a [(u16, Vec<u8>)],
    },
    /// A shard target's SQL binding the client's parameters `map`.
    Target {
        request: &'a ExecuteRequest,
        bound: &'a [BoundParam],
        map: &'a [usize],
        long_data: &'a [(u16, Vec<u8>)],
    },
}

impl ExecutePackets<'_> {
    /// The length of the longest parameter sent as long data.
    pub fn longest_long_data(&self) -> usize {
        let (ExecutePackets::Client { long_data, .. } | ExecutePackets::Target { long_data, .. }) =
            self;
        long_data.iter().map(|(_, d)| d.len()).max().unwrap_or(0)
    }

    /// The client's own execute when it sends no long data: its one
    /// packet (no list of packets to build).
    pub fn single(&self, backend_id: u32) -> Option<Result<Vec<u8>, ProxyError>> {
        match self {
            ExecutePackets::Client {
                request,
                long_data: [],
            } => Some(Ok(request.backend_execute(backend_id))),
            // A target binding no long data: its one execute packet.
            ExecutePackets::Target {
                request,
                bound,
                map,
                ..
            } if !map
                .iter()
                .any(|&i| bound.get(i).is_some_and(|p| p.long.is_some())) =>
            {
                Some(request.remapped_execute(bound, map, backend_id))
            }
            _ => None,
        }
    }

    pub fn build(&self, backend_id: u32) -> Result<Vec<Vec<u8>>, ProxyError> {
        match self {
            ExecutePackets::Client { request, long_data } => {
                Ok(request.backend_packets(backend_id, long_data))
            }
            ExecutePackets::Target {
                request,
                bound,
                map,
                long_data,
            } => request.remapped_packets(bound, map, backend_id, long_data),
        }
    }
}

/// The backend id of `sql` on `conn`, preparing it there first if needed.
/// The inner `Err` is the server refusing to prepare.
pub async fn ensure_prepared(
    conn: &mut BackendConn,
    sql: &crate::execute::command::StmtText<'_>,
) -> Result<Result<u32, ErrPacket>, ProxyError> {
    if let Some(s) = conn.cached_statement(sql.as_str()) {
        return Ok(Ok(s.id));
    }
    let mut payload = Vec::with_capacity(sql.as_str().len() + 1);
    payload.push(command::STMT_PREPARE);
    payload.extend_from_slice(sql.as_str().as_bytes());
    conn.send_command(&payload).await?;
    let first = conn.read_packet().await?.payload;
    if is_err(&first) {
        return Ok(Err(ErrPacket::parse(&first).unwrap_or_else(|| {
            ErrPacket::new(1105, "HY000", "prepare failed")
        })));
    }
    let (id, columns, params) = parse_prepare_ok(&first)
        .ok_or_else(|| ProxyError::MalformedPacket("bad COM_STMT_PREPARE answer".into()))?;
    for _ in 0..(params as usize + columns as usize) {
        conn.read_packet().await?;
    }
    conn.remember_statement(
        sql.to_shared(),
        BackendStatement {
            id,
            params,
            columns,
        },
    );
    Ok(Ok(id))
}

/// Largest COM_STMT_SEND_LONG_DATA payload sent to a server: a parameter
/// is forwarded in chunks, so that only the server's limit on the whole
/// parameter applies (MariaDB: 1105 past `max_allowed_packet`, at execute),
/// never its packet limit on one chunk.
pub const LONG_DATA_CHUNK: usize = 256 * 1024;

/// Appends the SEND_LONG_DATA packets carrying `data` for `param`.
fn push_long_data(out: &mut Vec<Vec<u8>>, backend_id: u32, param: u16, data: &[u8]) {
    for chunk in data.chunks(LONG_DATA_CHUNK) {
        let mut p = Vec::with_capacity(7 + chunk.len());
        p.push(command::STMT_SEND_LONG_DATA);
        p.extend_from_slice(&backend_id.to_le_bytes());
        p.extend_from_slice(&param.to_le_bytes());
        p.extend_from_slice(chunk);
        out.push(p);
    }
}

#[cfg(test)]
#[path = "prepared_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "prepared_long_data_tests.rs"]
mod long_data_tests;
